/* loop_echo.c: the echo server as an event loop, one thread for everyone.
 *
 * Every descriptor is non-blocking (nonblock.c), and one epoll instance
 * says which are worth trying (level_edge.c).  The loop is:
 *
 *   1. epoll_wait(): block until some descriptor is ready;
 *   2. for each one, do what can be done now without blocking: accept,
 *      or read and write back, and stop at EAGAIN;
 *   3. go to 1.
 *
 * What a thread kept on its stack in thread_echo.c (where it was in its
 * loop, the bytes not yet written back) is now a struct per connection,
 * and "where it was" is which event it waits for: input, or room to write
 * the rest.  Writing that struct and that switch by hand for every
 * protocol is what the push and poll engines of pushpoll take off your
 * hands, each in its own way.  compare/baselines/baseline_epoll.c is this
 * program grown up: edge-triggered, with idle timeouts, and measured as
 * the floor that no engine can beat.
 *
 * The program runs the loop in one thread, then plays A (silent), B
 * (answered at once) and CONNS more connections against it.  Exit 0 when
 * every client was answered by the one loop thread.
 * Build: cc -pthread loop_echo.c
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CONNS = 100, BUFSIZE = 512 };

static void die(const char *what)
{
	fprintf(stderr, "loop_echo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void set_nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* One connection's state: what a thread would have kept on its stack. */
struct conn {
	int fd;
	char buf[BUFSIZE];
	size_t len, off;        /* buf[off..len) is still to be written back */
};

struct server {
	int ep, listener, stop;   /* stop: a pipe's read end, ends the loop */
	int served;               /* connections closed so far */
};

/* What data.ptr points at for the two descriptors that are not a conn. */
static char the_listener, the_stop;

/* Watch fd for `events`; data.ptr says what fd is. */
static void watch(struct server *s, int op, int fd, unsigned events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(s->ep, op, fd, &ev) < 0)
		die("epoll_ctl");
}

/* Step 2 for the listener: accept until EAGAIN. */
static void on_listener(struct server *s)
{
	int fd;

	while ((fd = accept(s->listener, NULL, NULL)) >= 0) {
		struct conn *c = calloc(1, sizeof(*c));

		if (!c)
			die("calloc");
		c->fd = fd;
		set_nonblocking(fd);
		watch(s, EPOLL_CTL_ADD, fd, EPOLLIN, c);
	}
	if (errno != EAGAIN)
		die("accept");
}

static void conn_close(struct server *s, struct conn *c)
{
	close(c->fd);           /* also takes it out of the epoll set */
	free(c);
	__atomic_add_fetch(&s->served, 1, __ATOMIC_RELAXED);
}

/* doc:begin loop-on-conn */
/* Step 2 for a connection: write back what is pending, then read, until a
 * call says EAGAIN (wait for that event) or the peer is gone (close). */
static void on_conn(struct server *s, struct conn *c)
{
	for (;;) {
		if (c->off < c->len) {
			ssize_t n = write(c->fd, c->buf + c->off, c->len - c->off);

			if (n < 0 && errno == EAGAIN) {
				/* The rest waits for room: watch for output. */
				watch(s, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
				return;
			}
			if (n < 0)
				break;
			c->off += (size_t)n;
			continue;
		}
		ssize_t n = read(c->fd, c->buf, sizeof(c->buf));

		if (n < 0 && errno == EAGAIN) {
			/* All written back, nothing to read: watch for input. */
			watch(s, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
			return;
		}
		if (n <= 0)
			break;          /* end of stream or an error */
		c->len = (size_t)n;
		c->off = 0;
	}
	conn_close(s, c);
}
/* doc:end loop-on-conn */

/* doc:begin loop-loop */
static void *loop(void *arg)
{
	struct server *s = arg;
	struct epoll_event events[64];

	for (;;) {
		int n = epoll_wait(s->ep, events, 64, -1);       /* 1 */

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {                     /* 2 */
			void *what = events[i].data.ptr;

			if (what == &the_stop)
				return NULL;    /* its write end was closed */
			if (what == &the_listener)
				on_listener(s);
			else
				on_conn(s, what);
		}
	}
}
/* doc:end loop-loop */

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

/* Send msg on fd and wait at most 5 s for it to come back. */
static int echoed(int fd, const char *msg)
{
	char buf[64] = { 0 };
	size_t len = strlen(msg);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (write(fd, msg, len) != (ssize_t)len)
		return 0;
	return poll(&p, 1, 5000) == 1 && read(fd, buf, sizeof(buf)) == (ssize_t)len &&
	       memcmp(buf, msg, len) == 0;
}

int main(void)
{
	struct server s = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int stop[2], fds[CONNS], a, b, answered = 0;
	pthread_t t;

	s.ep = epoll_create1(0);
	s.listener = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s.ep < 0 || s.listener < 0 || pipe(stop) < 0 ||
	    bind(s.listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(s.listener, CONNS + 8) < 0 ||
	    getsockname(s.listener, (struct sockaddr *)&sa, &salen) < 0)
		die("listen");
	set_nonblocking(s.listener);
	/* The stop pipe reports EPOLLHUP once its write end is closed (we
	 * never write to it): that is how main ends the loop. */
	s.stop = stop[0];
	watch(&s, EPOLL_CTL_ADD, s.listener, EPOLLIN, &the_listener);
	watch(&s, EPOLL_CTL_ADD, s.stop, 0, &the_stop);
	pthread_create(&t, NULL, loop, &s);

	a = connect_to(ntohs(sa.sin_port));          /* A: silent */
	b = connect_to(ntohs(sa.sin_port));
	if (!echoed(b, "hello")) {
		printf("B was not answered while A was silent\n");
		return 1;
	}
	printf("B: answered at once while A stays silent, by the one loop thread\n");
	for (int i = 0; i < CONNS; i++)
		fds[i] = connect_to(ntohs(sa.sin_port));
	for (int i = 0; i < CONNS; i++)
		answered += echoed(fds[i], "ping");
	printf("%d of %d more connections answered, all by the same thread\n",
	       answered, CONNS);
	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	close(a), close(b);

	/* Let the loop see every close, then stop it. */
	for (int tries = 0; tries < 500 && __atomic_load_n(&s.served, __ATOMIC_RELAXED) < CONNS + 2; tries++)
		usleep(10000);
	close(stop[1]);
	pthread_join(t, NULL);
	printf("%d connections served and closed, one thread\n", s.served);
	close(stop[0]), close(s.listener), close(s.ep);
	return answered == CONNS && s.served == CONNS + 2 ? 0 : 1;
}
