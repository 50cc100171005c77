/* level_edge.c: level-triggered against edge-triggered readiness.
 *
 * epoll_wait() tells a program which of its non-blocking descriptors are
 * worth trying.  It can say it in two ways:
 *
 *   level-triggered (the default, as poll() and select()): "there is data
 *     now".  Asked again, it says so again, for as long as data is left.
 *   edge-triggered (EPOLLET): "data arrived".  It says so once per arrival;
 *     data left unread is not reported again until more arrives.
 *
 * Edge-triggered saves the repeated reports, at a price: a reader that
 * stops before EAGAIN may wait for ever for data that is already there.
 * Hence the rule of shared/reactor.h: try first; wait for an edge only
 * after the operation said EAGAIN.
 *
 * The program writes 10 bytes, reads 4, and asks each kind of epoll again.
 * Exit 0 when both behaved as described.  Build: cc level_edge.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int fails;

static void expect(int ok, const char *what)
{
	printf("%s %s\n", ok ? "  yes:" : "  NO: ", what);
	if (!ok)
		fails++;
}

/* How many descriptors epoll reports ready right now (never waits). */
static int ready(int ep)
{
	struct epoll_event ev;

	return epoll_wait(ep, &ev, 1, 0);
}

/* A non-blocking socket pair, sv[0] watched for input by a new epoll. */
static int setup(int sv[2], unsigned flags)
{
	struct epoll_event ev = { .events = EPOLLIN | flags };
	int ep = epoll_create1(0);

	if (ep < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("level_edge");
		return -1;
	}
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	ev.data.fd = sv[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev);
	return ep;
}

int main(void)
{
	int sv[2], ep;
	char buf[64];
	ssize_t n, total;

	printf("level-triggered: 10 bytes arrive, we read 4\n");
	if ((ep = setup(sv, 0)) < 0)
		return 1;
	expect(ready(ep) == 0, "nothing written yet: not ready");
	if (write(sv[1], "0123456789", 10) != 10)
		return 1;
	expect(ready(ep) == 1, "10 bytes arrived: ready");
	expect(ready(ep) == 1, "asked again without reading: ready again");
	n = read(sv[0], buf, 4);
	expect(n == 4 && ready(ep) == 1, "4 read, 6 left: still ready");
	n = read(sv[0], buf, sizeof(buf));
	expect(n == 6 && ready(ep) == 0, "the other 6 read: not ready");
	close(sv[0]), close(sv[1]), close(ep);

/* doc:begin level-edge-et */
	printf("edge-triggered (EPOLLET): the same\n");
	if ((ep = setup(sv, EPOLLET)) < 0)
		return 1;
	if (write(sv[1], "0123456789", 10) != 10)
		return 1;
	expect(ready(ep) == 1, "10 bytes arrived: ready (the edge)");
	expect(ready(ep) == 0, "asked again: NOT ready, the edge was reported");
	n = read(sv[0], buf, 4);
	expect(n == 4 && ready(ep) == 0,
	       "4 read, 6 left: still not ready; a loop that waits now waits for ever");
	if (write(sv[1], "A", 1) != 1)
		return 1;
	expect(ready(ep) == 1, "1 more byte arrives: a new edge, ready");
	total = 0;
	while ((n = read(sv[0], buf, sizeof(buf))) > 0)
		total += n;
	expect(total == 7 && n == -1 && errno == EAGAIN,
	       "read until EAGAIN: the 6 old bytes and the new one, then EAGAIN");
	expect(ready(ep) == 0, "drained: not ready, and nothing is lost by waiting now");
	close(sv[0]), close(sv[1]), close(ep);
/* doc:end level-edge-et */
	return fails ? 1 : 0;
}
