/* nonblock.c: O_NONBLOCK, and the EAGAIN that comes with it.
 *
 * A descriptor opened normally blocks: read() waits for data, write() waits
 * for room.  With O_NONBLOCK set (fcntl), the same calls never wait: when
 * they cannot make progress now they fail with errno EAGAIN (the same value
 * as EWOULDBLOCK on Linux) and the caller does something else.  That is
 * the first half of every event loop; the second half is being told when
 * trying again is worth it (level_edge.c).
 *
 * The program takes a connected pair of stream sockets, makes one end
 * non-blocking, and shows the three cases: a read with nothing to read, a
 * write into a full buffer, and both again once the other end has acted.
 * Exit 0 when every call behaved as described.  Build: cc nonblock.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fails;

static void expect(int ok, const char *what)
{
	printf("%s %s\n", ok ? "  yes:" : "  NO: ", what);
	if (!ok)
		fails++;
}

int main(void)
{
	int sv[2];
	char buf[4096];
	ssize_t n;
	long total = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("nonblock: socketpair");
		return 1;
	}
/* doc:begin nonblock-read */
	/* sv[0] is ours, made non-blocking; sv[1] is the peer, left blocking. */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);

	printf("read() with nothing to read:\n");
	n = read(sv[0], buf, sizeof(buf));
	expect(n == -1 && errno == EAGAIN, "returns -1 at once, errno EAGAIN");

/* doc:end nonblock-read */
	printf("the peer writes 5 bytes, read() again:\n");
	if (write(sv[1], "hello", 5) != 5)
		return 1;
	n = read(sv[0], buf, sizeof(buf));
	expect(n == 5, "returns 5: fewer than asked, and that is normal");
	n = read(sv[0], buf, sizeof(buf));
	expect(n == -1 && errno == EAGAIN, "the next read: EAGAIN, drained");

	printf("write() until the buffer is full (the peer reads nothing):\n");
	memset(buf, 'x', sizeof(buf));
	while ((n = write(sv[0], buf, sizeof(buf))) > 0)
		total += n;
	expect(n == -1 && errno == EAGAIN, "a write finally returns -1, errno EAGAIN");
	printf("  the kernel took %ld bytes first (its socket buffers; "
	       "the figure depends on the system)\n", total);

	printf("the peer reads 4096 bytes, write() again:\n");
	if (read(sv[1], buf, sizeof(buf)) <= 0)
		return 1;
	n = write(sv[0], buf, 1);
	expect(n == 1, "room again: the write takes its byte");

	printf("the peer reads everything and closes, read() until the end:\n");
	while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	close(sv[1]);
	while ((n = read(sv[0], buf, sizeof(buf))) > 0)
		;
	expect(n == 0, "end of stream is 0, as for a blocking descriptor");
	close(sv[0]);
	return fails ? 1 : 0;
}
