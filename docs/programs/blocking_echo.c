/* blocking_echo.c: an echo server that serves one connection at a time.
 *
 * The server is the obvious program: accept(), then read() and write()
 * back until the client closes, then accept() the next one.  Every call
 * blocks: read() does not return until the client sends something.
 *
 * The program runs that server in a thread and plays two clients against
 * it.  Client A connects and sends nothing.  Client B connects and sends
 * "hello".  B gets no answer for as long as A stays silent, because the
 * server is blocked in read() on A; B is answered only after A leaves.
 * That is the whole problem asynchronous I/O solves.
 *
 * Exit 0 when the server behaved that way, 1 (with one line saying what
 * happened instead) otherwise.  Build: cc -pthread blocking_echo.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "blocking_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A listening socket on 127.0.0.1 and a free port; the port in *port. */
static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 16) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die("listen");
	*port = ntohs(sa.sin_port);
	return fd;
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	return fd;
}

/* doc:begin blocking-serve */
/* The server: one connection at a time, `count` of them, then return. */
static int listener;

static void *serve(void *count)
{
	char buf[512];

	for (long i = 0; i < (long)count; i++) {
		int c = accept(listener, NULL, NULL);   /* blocks */
		ssize_t n;

		if (c < 0)
			die("accept");
		while ((n = read(c, buf, sizeof(buf))) > 0)   /* blocks */
			if (write(c, buf, (size_t)n) != n)    /* may block */
				break;
		close(c);
	}
	return NULL;
}
/* doc:end blocking-serve */

/* Wait at most ms for fd to have data; 1 if it has, 0 if not. */
static int readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

int main(void)
{
	uint16_t port;
	pthread_t server;
	char buf[16] = { 0 };
	int a, b;

	listener = listen_any(&port);
	pthread_create(&server, NULL, serve, (void *)2L);

	a = connect_to(port);           /* A: connects, says nothing */
	b = connect_to(port);           /* B: the kernel queues it for accept() */
	if (write(b, "hello", 5) != 5)
		die("write");

	if (readable_within(b, 300)) {
		printf("B was answered while A was connected: not a blocking server\n");
		return 1;
	}
	printf("B: no answer in 300 ms; the server is blocked in read() on A\n");

	close(a);                       /* A leaves: read() returns 0 */
	if (!readable_within(b, 5000) || read(b, buf, sizeof(buf)) != 5) {
		printf("B was never answered after A left\n");
		return 1;
	}
	printf("B: \"%s\" once A closed; one slow client stalls every other\n",
	       buf);
	close(b);
	pthread_join(server, NULL);
	close(listener);
	return 0;
}
