/* badserver.c: a small echo server that misbehaves on purpose, for the
 * tests of `pushpoll load` and `pushpoll bench --target`.
 *
 *   tests/badserver MODE PORT      (PORT 0: any; prints "listening 127.0.0.1:P")
 *
 * MODE is one of:
 *   echo      a correct echo server (RFC 862)
 *   allocs    a correct one that makes one malloc() and free() for every
 *             64 bytes it echoes, so that its allocations per 64-byte
 *             message are 1
 *   close     closes each connection as soon as data arrives on it
 *   corrupt   echoes, but changes every 1000th byte of each connection
 *   stall     accepts connections and never reads from them
 *   deaf      listens with a backlog of 0 and never accepts
 *
 * It runs until it is killed.  One thread, poll(), at most MAX_CONNS
 * connections; simple on purpose.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 512

struct conn {
	uint64_t seen;          /* bytes received so far */
	uint64_t counted;       /* of those, in whole 64-byte blocks counted */
};

static void *volatile sink;

/* Write all of buf (blocking: the socket is). */
static int write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static struct pollfd pfd[MAX_CONNS + 1];
	static struct conn conn[MAX_CONNS + 1];
	socklen_t len = sizeof(sa);
	const char *mode;
	int lfd, one = 1, n = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: badserver echo|allocs|close|corrupt|"
			"stall|deaf PORT\n");
		return 2;
	}
	mode = argv[1];
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, strcmp(mode, "deaf") == 0 ? 0 : 1024) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) != 0) {
		perror("badserver: listen");
		return 1;
	}
	printf("listening 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	if (strcmp(mode, "deaf") == 0)
		for (;;)
			pause();
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if ((pfd[0].revents & POLLIN) && n <= MAX_CONNS) {
			int fd = accept(lfd, NULL, NULL);
			if (fd >= 0) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				pfd[n].fd = fd;
				/* stall: accepted, never read */
				pfd[n].events = strcmp(mode, "stall") == 0
						? 0 : POLLIN;
				memset(&conn[n], 0, sizeof(conn[n]));
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			unsigned char buf[16384];
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r > 0 && strcmp(mode, "corrupt") == 0) {
				for (ssize_t k = 0; k < r; k++)
					if ((conn[i].seen + (uint64_t)k) % 1000
					    == 999)
						buf[k] ^= 0x5a;
			}
			if (r > 0)
				conn[i].seen += (uint64_t)r;
			if (r > 0 && strcmp(mode, "allocs") == 0) {
				while (conn[i].counted + 64 <= conn[i].seen) {
					sink = malloc(64);
					free(sink);
					conn[i].counted += 64;
				}
			}
			if (r <= 0 || strcmp(mode, "close") == 0 ||
			    write_all(pfd[i].fd, buf, (size_t)r) != 0) {
				close(pfd[i].fd);
				pfd[i] = pfd[n - 1];
				conn[i] = conn[n - 1];
				n--;
				i--;
			}
		}
	}
}
