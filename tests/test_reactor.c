/* test_reactor.c: the epoll reactor over real pipes and loopback sockets.
 *
 * Every wait in these tests is bounded: poll_until() gives up after a fixed
 * number of bounded reactor_poll() calls, so a lost edge fails a test
 * instead of hanging it.  Nothing here asserts how long anything took.
 */
#include "config.h"      /* first: _GNU_SOURCE, for pipe2() */

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/poll.h>    /* not <poll.h>: -I poll/ holds the engine's poll.h */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"
#include "reactor.h"
#include "sim.h"

#define MS CLOCK_NS_PER_MS

/* ---- helpers --------------------------------------------------------------- */

/* What an io callback saw: a watcher embedded in a record. */
struct seen {
	struct reactor_io io;
	int calls;
	unsigned events;        /* union of all events delivered */
	unsigned last;
};

static void seen_cb(struct reactor_io *io, unsigned events)
{
	struct seen *s = (struct seen *)io;

	s->calls++;
	s->events |= events;
	s->last = events;
}

/* Poll (at most 100 ms a call, at most `rounds` calls) until *flag != 0. */
static void poll_until(struct reactor *r, const int *flag, int rounds)
{
	while (*flag == 0 && rounds-- > 0)
		ck_assert_int_ge(reactor_poll(r, 100 * MS), 0);
}

/* Poll without waiting until nothing more is delivered: consumes the edges
 * a fresh registration reports (a new socket is writable at once). */
static void poll_drain(struct reactor *r)
{
	for (int i = 0; i < 100 && reactor_poll(r, 0) > 0; i++)
		;
}

static void make_pipe(int fds[2])
{
	ck_assert_int_eq(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}

/* A connected loopback TCP pair made with the reactor's own calls:
 * *client from reactor_connect(), *server from reactor_accept(). */
static void tcp_pair(struct reactor *r, int *client, int *server)
{
	struct pollfd p;
	int l, port;

	l = reactor_listen(r, "127.0.0.1", 0, 16);
	ck_assert_int_ge(l, 0);
	port = reactor_local_port(r, l);
	ck_assert_int_gt(port, 0);
	*client = reactor_connect(r, "127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(*client, 0);
	p = (struct pollfd){ .fd = l, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	*server = reactor_accept(r, l);
	ck_assert_int_ge(*server, 0);
	p = (struct pollfd){ .fd = *client, .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_eq(reactor_connect_result(r, *client), 0);
	ck_assert_int_eq(reactor_close(r, l), 0);
}

/* A port nothing listens on: bound once, then released. */
static uint16_t unused_port(struct reactor *r)
{
	int l = reactor_listen(r, "127.0.0.1", 0, 1);
	int port;

	ck_assert_int_ge(l, 0);
	port = reactor_local_port(r, l);
	ck_assert_int_gt(port, 0);
	reactor_close(r, l);
	return (uint16_t)port;
}

/* ---- the basics ------------------------------------------------------------ */

START_TEST(test_backend_is_epoll_with_monotonic_clock)
{
	struct reactor *r = reactor_new_epoll();
	uint64_t a, b;

	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(reactor_backend(r), "epoll");
	ck_assert(!reactor_is_sim(r));
	a = reactor_now(r);
	b = reactor_now(r);
	ck_assert_uint_ge(b, a);
	ck_assert(!reactor_stop_requested(r));
	reactor_free(r);
}
END_TEST

START_TEST(test_poll_with_nothing_ready_times_out_with_zero)
{
	struct reactor *r = reactor_new_epoll();

	ck_assert_int_eq(reactor_poll(r, 0), 0);
	ck_assert_int_eq(reactor_poll(r, 1 * MS), 0);
	reactor_free(r);
}
END_TEST

/* ---- readiness edges ------------------------------------------------------- */

/* A broken listener is fatal to accepting; a shortage or one failed
 * connection is not: a server goes on accepting after those. */
START_TEST(test_accept_errors_that_break_the_listener_are_fatal)
{
	static const int fatal[] = { EBADF, EINVAL, ENOTSOCK, EOPNOTSUPP };
	static const int passing[] = { EMFILE, ENFILE, ENOBUFS, ENOMEM,
				       ECONNABORTED, EAGAIN, EPERM, EPROTO };

	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		ck_assert_msg(reactor_accept_error_is_fatal(-fatal[i]),
			      "%s", strerror(fatal[i]));
	for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
		ck_assert_msg(!reactor_accept_error_is_fatal(-passing[i]),
			      "%s", strerror(passing[i]));
}
END_TEST

START_TEST(test_pipe_reports_one_readable_edge_per_write)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int fds[2];
	char buf[8];

	make_pipe(fds);
	ck_assert_int_eq(reactor_io_start(r, &s.io, fds[0], seen_cb), 0);
	ck_assert_int_eq(s.calls, 0);  /* never inside io_start */
	ck_assert_int_eq(reactor_poll(r, 0), 0);

	ck_assert_int_eq(write(fds[1], "a", 1), 1);
	poll_until(r, &s.calls, 20);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(s.last, REACTOR_READABLE);

	/* Edge-triggered: unread data does not report again... */
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(s.calls, 1);
	/* ...but new data is a new edge. */
	ck_assert_int_eq(write(fds[1], "b", 1), 1);
	ck_assert_int_eq(reactor_poll(r, 1000 * MS), 1);
	ck_assert_int_eq(s.calls, 2);
	ck_assert_int_eq(read(fds[0], buf, sizeof(buf)), 2);

	reactor_io_stop(r, &s.io);
	close(fds[0]);
	close(fds[1]);
	reactor_free(r);
}
END_TEST

START_TEST(test_socket_reports_readable_edge_and_read_takes_the_data)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[16];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);                      /* the initial writable edge */
	ck_assert_uint_eq(s.events & REACTOR_READABLE, 0);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), -EAGAIN);

	s.calls = 0;
	ck_assert_int_eq(reactor_write(r, c, "hello", 5), 5);
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.last & REACTOR_READABLE, 0);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), 5);
	ck_assert_mem_eq(buf, "hello", 5);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), -EAGAIN);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_writable_edge_after_full_socket_buffer_drains)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	static char chunk[64 * 1024];
	static char sink[256 * 1024];
	int c, sv, small = 4096, rounds;
	ssize_t n;

	tcp_pair(r, &c, &sv);
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	ck_assert_int_eq(reactor_io_start(r, &s.io, c, seen_cb), 0);
	poll_drain(r);

	/* Fill: write until the kernel refuses. */
	for (rounds = 0; rounds < 10000; rounds++) {
		n = reactor_write(r, c, chunk, sizeof(chunk));
		if (n < 0)
			break;
	}
	ck_assert_int_eq(n, -EAGAIN);
	poll_drain(r);

	/* Drain the peer until the writer gets a writable edge. */
	s.calls = 0;
	s.events = 0;
	for (rounds = 0; rounds < 200 && !(s.events & REACTOR_WRITABLE);
	     rounds++) {
		while (reactor_read(r, sv, sink, sizeof(sink)) > 0)
			;
		ck_assert_int_ge(reactor_poll(r, 10 * MS), 0);
	}
	ck_assert_uint_ne(s.events & REACTOR_WRITABLE, 0);
	ck_assert_int_gt(reactor_write(r, c, chunk, 1), 0);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_pipe_writer_close_reports_hangup)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int fds[2];
	char buf[4];

	make_pipe(fds);
	ck_assert_int_eq(reactor_io_start(r, &s.io, fds[0], seen_cb), 0);
	close(fds[1]);
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.last & REACTOR_HANGUP, 0);
	ck_assert_uint_ne(s.last & REACTOR_READABLE, 0);
	ck_assert_int_eq(read(fds[0], buf, sizeof(buf)), 0);

	reactor_io_stop(r, &s.io);
	close(fds[0]);
	reactor_free(r);
}
END_TEST

/* A socket whose peer closed is readable and reads end of stream; it is hung
 * up once both directions are closed (the peer's and, here, ours). */
START_TEST(test_socket_peer_close_reads_eof_then_hangup_when_both_closed)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[4];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	s.calls = 0;
	s.events = 0;

	reactor_close(r, c);
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.events & REACTOR_READABLE, 0);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), 0);

	s.calls = 0;
	ck_assert_int_eq(reactor_shutdown_write(r, sv), 0);
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.events & REACTOR_HANGUP, 0);

	reactor_io_stop(r, &s.io);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_socket_peer_reset_reports_hangup_and_read_says_reset)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c, sv;
	char buf[4];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	s.calls = 0;
	s.events = 0;

	/* Linger 0: close sends a reset instead of a FIN. */
	ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)),
			 0);
	reactor_close(r, c);
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.events & REACTOR_HANGUP, 0);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), -ECONNRESET);

	reactor_io_stop(r, &s.io);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_shutdown_write_gives_peer_end_of_stream)
{
	struct reactor *r = reactor_new_epoll();
	int c, sv;
	char buf[8];
	struct pollfd p;

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_write(r, c, "bye", 3), 3);
	ck_assert_int_eq(reactor_shutdown_write(r, c), 0);
	p = (struct pollfd){ .fd = sv, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), 3);
	ck_assert_int_eq(reactor_read(r, sv, buf, sizeof(buf)), 0);
	/* The other direction still works. */
	ck_assert_int_eq(reactor_write(r, sv, "ok", 2), 2);
	p = (struct pollfd){ .fd = c, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_eq(reactor_read(r, c, buf, sizeof(buf)), 2);

	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_second_watcher_on_a_handle_is_refused)
{
	struct reactor *r = reactor_new_epoll();
	struct seen a = { 0 }, b = { 0 };
	int fds[2];

	make_pipe(fds);
	ck_assert_int_eq(reactor_io_start(r, &a.io, fds[0], seen_cb), 0);
	ck_assert_int_eq(reactor_io_start(r, &b.io, fds[0], seen_cb), -EEXIST);
	reactor_io_stop(r, &a.io);
	reactor_io_stop(r, &a.io);   /* stopping a stopped watcher: nothing */
	close(fds[0]);
	close(fds[1]);
	reactor_free(r);
}
END_TEST

/* ---- streams: listen, accept, connect ------------------------------------- */

struct acceptor {
	struct reactor_io io;
	struct reactor *r;
	int conn;
};

static void accept_cb(struct reactor_io *io, unsigned events)
{
	struct acceptor *a = (struct acceptor *)io;
	int fd = reactor_accept(a->r, io->handle);

	if (fd >= 0)
		a->conn = fd;
}

START_TEST(test_listen_accept_connect_round_trip_on_loopback)
{
	struct reactor *r = reactor_new_epoll();
	struct acceptor acc = { .r = r, .conn = -1 };
	struct seen cs = { 0 };
	int l, port, c, accepted = 0, connected = 0;
	char buf[16];

	l = reactor_listen(r, "127.0.0.1", 0, 16);
	ck_assert_int_ge(l, 0);
	port = reactor_local_port(r, l);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(reactor_accept(r, l), -EAGAIN);
	ck_assert_int_eq(reactor_io_start(r, &acc.io, l, accept_cb), 0);

	c = reactor_connect(r, "127.0.0.1", (uint16_t)port);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(reactor_io_start(r, &cs.io, c, seen_cb), 0);
	for (int i = 0; i < 50 && !(accepted && connected); i++) {
		ck_assert_int_ge(reactor_poll(r, 100 * MS), 0);
		accepted = acc.conn >= 0;
		connected = (cs.events & REACTOR_WRITABLE) != 0;
	}
	ck_assert(accepted);
	ck_assert(connected);
	ck_assert_int_eq(reactor_connect_result(r, c), 0);
	ck_assert_int_eq(reactor_local_port(r, c) > 0, 1);

	/* Bytes go both ways. */
	cs.calls = 0;
	ck_assert_int_eq(reactor_write(r, acc.conn, "ping", 4), 4);
	for (int i = 0; i < 20 && !(cs.events & REACTOR_READABLE); i++)
		reactor_poll(r, 100 * MS);
	ck_assert_int_eq(reactor_read(r, c, buf, sizeof(buf)), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	ck_assert_int_eq(reactor_write(r, c, "pong", 4), 4);
	{
		struct pollfd p = { .fd = acc.conn, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 2000), 1);
	}
	ck_assert_int_eq(reactor_read(r, acc.conn, buf, sizeof(buf)), 4);
	ck_assert_mem_eq(buf, "pong", 4);

	reactor_io_stop(r, &cs.io);
	reactor_io_stop(r, &acc.io);
	reactor_close(r, c);
	reactor_close(r, acc.conn);
	reactor_close(r, l);
	reactor_free(r);
}
END_TEST

/* Every server resolves --host with reactor_resolve(): any address for
 * NULL, "" and "*", a numeric address as it is, a name through the
 * resolver, and one line's worth of error for a name that does not
 * resolve. */
/* A file write is all of it or an error: with the file size limit at 500
 * bytes, a write of 1000 at offset 10 writes 490 and the next pwrite fails
 * with EFBIG (as a full disk fails with ENOSPC); the call says -EFBIG,
 * never 490. */
START_TEST(test_a_file_write_that_stops_part_way_is_an_error)
{
	struct reactor *r = reactor_new_epoll();
	char path[] = "/tmp/test_reactor_fileXXXXXX", data[1000];
	struct rlimit old, lim;
	ssize_t put;
	int fd, h;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	h = reactor_file_open(r, path, O_RDWR, 0);
	ck_assert_int_ge(h, 0);
	memset(data, 'x', sizeof(data));
	ck_assert_int_eq(reactor_file_pwrite(r, h, data, 100, 0), 100);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 500;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	put = reactor_file_pwrite(r, h, data, sizeof(data), 10);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);   /* before any report */
	ck_assert_int_eq(put, -EFBIG);
	ck_assert_int_eq(reactor_file_size(r, h), 500);
	reactor_file_close(r, h);
	unlink(path);
	reactor_free(r);
}
END_TEST

START_TEST(test_resolve_gives_the_address_every_server_binds)
{
	const char *any[] = { NULL, "", "*" };
	struct sockaddr_in sa;

	for (size_t i = 0; i < 3; i++) {
		memset(&sa, 0xff, sizeof(sa));
		ck_assert_int_eq(reactor_resolve(any[i], 7000, &sa), 0);
		ck_assert_int_eq(sa.sin_family, AF_INET);
		ck_assert_uint_eq(sa.sin_addr.s_addr, htonl(INADDR_ANY));
		ck_assert_uint_eq(sa.sin_port, htons(7000));
	}
	ck_assert_int_eq(reactor_resolve("127.0.0.2", 80, &sa), 0);
	ck_assert_uint_eq(sa.sin_addr.s_addr, htonl(0x7f000002));
	ck_assert_uint_eq(sa.sin_port, htons(80));
	ck_assert_int_eq(reactor_resolve("localhost", 1, &sa), 0);
	ck_assert_uint_eq(sa.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	ck_assert_int_eq(reactor_resolve("999.1.1.1", 1, &sa),
			 -EHOSTUNREACH);
}
END_TEST

START_TEST(test_listen_and_connect_resolve_host_names)
{
	struct reactor *r = reactor_new_epoll();
	int l, port, c;
	struct pollfd p;

	l = reactor_listen(r, "localhost", 0, 4);
	ck_assert_int_ge(l, 0);
	port = reactor_local_port(r, l);
	ck_assert_int_gt(port, 0);
	c = reactor_connect(r, "localhost", (uint16_t)port);
	ck_assert_int_ge(c, 0);
	p = (struct pollfd){ .fd = c, .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_int_eq(reactor_connect_result(r, c), 0);
	reactor_close(r, c);
	reactor_close(r, l);
	reactor_free(r);
}
END_TEST

static bool fd_has(int fd, int getcmd, int flag)
{
	int v = fcntl(fd, getcmd);

	return v >= 0 && (v & flag) != 0;
}

static bool fd_nodelay(int fd)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 &&
	       v != 0;
}

START_TEST(test_stream_handles_are_nonblocking_cloexec_and_nodelay)
{
	struct reactor *r = reactor_new_epoll();
	int l, c, sv;

	l = reactor_listen(r, "127.0.0.1", 0, 4);
	ck_assert(fd_has(l, F_GETFL, O_NONBLOCK));
	ck_assert(fd_has(l, F_GETFD, FD_CLOEXEC));
	reactor_close(r, l);

	tcp_pair(r, &c, &sv);
	ck_assert(fd_has(c, F_GETFL, O_NONBLOCK));
	ck_assert(fd_has(sv, F_GETFL, O_NONBLOCK));
	ck_assert(fd_has(c, F_GETFD, FD_CLOEXEC));
	ck_assert(fd_has(sv, F_GETFD, FD_CLOEXEC));
	ck_assert(fd_nodelay(c));
	ck_assert(fd_nodelay(sv));
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_connect_refused_reported_by_connect_result)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	uint16_t port = unused_port(r);
	int c = reactor_connect(r, "127.0.0.1", port);

	/* The kernel may know at once (then there is no handle) or, as
	 * usual, report it when the handle becomes writable. */
	if (c < 0) {
		ck_assert_int_eq(c, -ECONNREFUSED);
	} else {
		ck_assert_int_eq(reactor_io_start(r, &s.io, c, seen_cb), 0);
		poll_until(r, &s.calls, 20);
		ck_assert_uint_ne(s.events & REACTOR_WRITABLE, 0);
		ck_assert_int_eq(reactor_connect_result(r, c), -ECONNREFUSED);
		reactor_io_stop(r, &s.io);
		reactor_close(r, c);
	}
	reactor_free(r);
}
END_TEST

START_TEST(test_listen_on_port_in_use_says_addrinuse)
{
	struct reactor *r = reactor_new_epoll();
	int l, port;

	l = reactor_listen(r, "127.0.0.1", 0, 4);
	ck_assert_int_ge(l, 0);
	port = reactor_local_port(r, l);
	ck_assert_int_eq(reactor_listen(r, "127.0.0.1", (uint16_t)port, 4),
			 -EADDRINUSE);
	reactor_close(r, l);
	reactor_free(r);
}
END_TEST

START_TEST(test_write_to_closed_peer_never_raises_sigpipe)
{
	struct reactor *r = reactor_new_epoll();
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct pollfd p;
	ssize_t n = 0;
	int c, sv;

	signal(SIGPIPE, SIG_DFL);  /* a SIGPIPE would kill this test */
	tcp_pair(r, &c, &sv);
	setsockopt(sv, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	reactor_close(r, sv);
	p = (struct pollfd){ .fd = c, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	/* The first write after a reset may report the reset; later ones
	 * report a broken pipe. */
	for (int i = 0; i < 100; i++) {
		n = reactor_write(r, c, "x", 1);
		if (n == -EPIPE)
			break;
		ck_assert(n == 1 || n == -ECONNRESET);
	}
	ck_assert_int_eq(n, -EPIPE);
	reactor_close(r, c);
	reactor_free(r);
}
END_TEST

/* ---- running out of descriptors on accept ---------------------------------- */

/* The scenario runs in a child process of its own, since it lowers the
 * descriptor limit and fills the table.  It reports the first failed check
 * as a line on `report` and exits 1. */
static int child_report = -1;

static void child_check(bool ok, const char *what, ...)
{
	va_list ap;

	if (ok)
		return;
	va_start(ap, what);
	vdprintf(child_report, what, ap);
	va_end(ap);
	_exit(1);
}

static int blocking_client(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 2 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

struct accept_log {
	struct reactor_io io;
	struct reactor *r;
	int results[8];
	int n;
};

/* Accept until -EAGAIN, as an edge-triggered engine must. */
static void accept_all_cb(struct reactor_io *io, unsigned events)
{
	struct accept_log *log = (struct accept_log *)io;
	int fd;

	do {
		fd = reactor_accept(log->r, io->handle);
		if (log->n < 8)
			log->results[log->n++] = fd;
		if (fd >= 0)
			reactor_close(log->r, fd);
	} while (fd != -EAGAIN && log->n < 8);
}

#define MAX_FILL 128

static void emfile_scenario(void)
{
	struct reactor *r = reactor_new_epoll();
	struct accept_log log = { .r = r };
	struct rlimit rl = { .rlim_cur = 64, .rlim_max = 64 };
	struct pollfd p;
	int fill[MAX_FILL], nfill = 0, l, port, c1, c2, c3, fd;
	char b;

	child_check(r != NULL, "reactor_new_epoll failed\n");
	l = reactor_listen(r, "127.0.0.1", 0, 16);
	port = reactor_local_port(r, l);
	child_check(l >= 0 && port > 0, "listen: %d %d\n", l, port);
	child_check(reactor_io_start(r, &log.io, l, accept_all_cb) == 0,
		    "io_start\n");
	c1 = blocking_client((uint16_t)port);
	child_check(c1 >= 0, "client 1: %d\n", c1);

	/* Fill the descriptor table. */
	child_check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit\n");
	while (nfill < MAX_FILL && (fd = dup(0)) >= 0)
		fill[nfill++] = fd;
	child_check(fd < 0 && errno == EMFILE, "could not fill the table\n");

	/* The pending connection is shed: the accept says -EMFILE, the
	 * client sees a close, and the listener is quiet afterwards. */
	for (int i = 0; i < 20 && log.n == 0; i++)
		reactor_poll(r, 100 * MS);
	child_check(log.n == 2 && log.results[0] == -EMFILE &&
		    log.results[1] == -EAGAIN,
		    "accepts: n=%d first=%d second=%d\n", log.n,
		    log.results[0], log.results[1]);
	child_check(recv(c1, &b, 1, 0) == 0, "client 1 did not see a close\n");
	p = (struct pollfd){ .fd = l, .events = POLLIN };
	child_check(poll(&p, 1, 0) == 0, "listener still readable\n");
	child_check(reactor_poll(r, 10 * MS) == 0, "listener reported again\n");

	/* The reserve was taken back: a second overflow is shed too. */
	close(fill[--nfill]);
	c2 = blocking_client((uint16_t)port);
	child_check(c2 >= 0, "client 2: %d\n", c2);
	log.n = 0;
	for (int i = 0; i < 20 && log.n == 0; i++)
		reactor_poll(r, 100 * MS);
	child_check(log.n == 2 && log.results[0] == -EMFILE,
		    "second overflow: n=%d first=%d\n", log.n, log.results[0]);
	child_check(recv(c2, &b, 1, 0) == 0, "client 2 did not see a close\n");

	/* With room again, connections are accepted as usual. */
	while (nfill > 0)
		close(fill[--nfill]);
	c3 = blocking_client((uint16_t)port);
	child_check(c3 >= 0, "client 3: %d\n", c3);
	log.n = 0;
	for (int i = 0; i < 20 && log.n == 0; i++)
		reactor_poll(r, 100 * MS);
	child_check(log.n == 2 && log.results[0] >= 0 &&
		    log.results[1] == -EAGAIN,
		    "accept after room: n=%d first=%d\n", log.n,
		    log.results[0]);

	reactor_io_stop(r, &log.io);
	close(c1);
	close(c2);
	close(c3);
	reactor_close(r, l);
	reactor_free(r);
}

START_TEST(test_emfile_on_accept_sheds_the_connection_and_quiets_listener)
{
	int report[2], status;
	char msg[256] = "";
	pid_t pid;
	ssize_t n;

	ck_assert_int_eq(pipe2(report, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(report[0]);
		child_report = report[1];
		emfile_scenario();
		_exit(0);
	}
	close(report[1]);
	n = read(report[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(report[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "EMFILE scenario failed: %s", msg);
}
END_TEST

/* ---- timers ---------------------------------------------------------------- */

struct ttimer {
	struct reactor_timer t;
	struct reactor *r;
	int id;
	int fired;
	int *order;        /* ids appended here as they fire */
	int *norder;
	bool early;        /* fired before its deadline */
};

static void ttimer_cb(struct reactor_timer *t)
{
	struct ttimer *tt = (struct ttimer *)t;

	tt->fired++;
	if (reactor_now(tt->r) < t->deadline)
		tt->early = true;
	if (tt->order != NULL)
		tt->order[(*tt->norder)++] = tt->id;
}

START_TEST(test_timers_fire_in_deadline_order_equal_delays_in_start_order)
{
	struct reactor *r = reactor_new_epoll();
	int order[8], n = 0;
	struct ttimer t[5];
	/* ids 0..4; delays chosen so deadline order is 3, 1, 2, 4, 0. */
	uint64_t delay[5] = { 40 * MS, 10 * MS, 10 * MS, 0, 20 * MS };

	for (int i = 0; i < 5; i++) {
		t[i] = (struct ttimer){ .r = r, .id = i, .order = order,
					.norder = &n };
		reactor_timer_start(r, &t[i].t, delay[i], ttimer_cb);
		ck_assert(reactor_timer_active(&t[i].t));
	}
	ck_assert_int_eq(n, 0);  /* never inside timer_start */
	for (int i = 0; i < 100 && n < 5; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[1], 1);
	ck_assert_int_eq(order[2], 2);
	ck_assert_int_eq(order[3], 4);
	ck_assert_int_eq(order[4], 0);
	for (int i = 0; i < 5; i++) {
		ck_assert(!t[i].early);
		ck_assert(!reactor_timer_active(&t[i].t));
	}
	reactor_free(r);
}
END_TEST

START_TEST(test_zero_delay_timer_fires_on_next_poll_not_inside_start)
{
	struct reactor *r = reactor_new_epoll();
	struct ttimer t = { .r = r };

	reactor_timer_start(r, &t.t, 0, ttimer_cb);
	ck_assert_int_eq(t.fired, 0);
	ck_assert_int_eq(reactor_poll(r, 0), 1);
	ck_assert_int_eq(t.fired, 1);
	reactor_free(r);
}
END_TEST

START_TEST(test_poll_without_limit_returns_when_a_timer_is_due)
{
	struct reactor *r = reactor_new_epoll();
	struct ttimer t = { .r = r };

	reactor_timer_start(r, &t.t, 5 * MS, ttimer_cb);
	/* -1 would block forever; the timer cuts the wait short.  The kernel
	 * may wake early, so allow a few calls. */
	for (int i = 0; i < 10 && t.fired == 0; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(t.fired, 1);
	ck_assert(!t.early);
	reactor_free(r);
}
END_TEST

START_TEST(test_stopped_timer_never_fires)
{
	struct reactor *r = reactor_new_epoll();
	struct ttimer a = { .r = r }, b = { .r = r };

	reactor_timer_start(r, &a.t, 1 * MS, ttimer_cb);
	reactor_timer_start(r, &b.t, 5 * MS, ttimer_cb);
	reactor_timer_stop(r, &a.t);
	ck_assert(!reactor_timer_active(&a.t));
	reactor_timer_stop(r, &a.t);  /* stopping an inactive timer: nothing */
	poll_until(r, &b.fired, 50);
	ck_assert_int_eq(b.fired, 1);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(a.fired, 0);
	reactor_free(r);
}
END_TEST

/* The longest delay there is (2^64 - 1 ns, about 584 years) is a deadline
 * that never comes: now + delay must not wrap round into the past. */
START_TEST(test_timer_with_the_longest_delay_never_fires)
{
	struct reactor *r = reactor_new_epoll();
	struct ttimer t = { .r = r };

	reactor_timer_start(r, &t.t, UINT64_MAX, ttimer_cb);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(t.fired, 0);
	ck_assert(reactor_timer_active(&t.t));
	reactor_timer_stop(r, &t.t);
	reactor_free(r);
}
END_TEST

/* n idle timers armed with one timeout, as a server arms one per
 * connection, on a simulated clock. */
static struct reactor *idle_timers(struct reactor_timer *t, unsigned n)
{
	struct sim_config c;
	struct reactor *r;

	sim_config_default(&c, 1);
	r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(r);
	memset(t, 0, n * sizeof(*t));
	for (unsigned i = 0; i < n; i++)
		reactor_timer_start(r, &t[i], 60 * CLOCK_NS_PER_S, NULL);
	return r;
}

static void idle_timers_free(struct reactor *r, struct reactor_timer *t,
			     unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		reactor_timer_stop(r, &t[i]);
	reactor_free(r);
}

/* An echo server restarts a connection's idle timer at every message.  With
 * 50 busy connections among n, that costs the timer heap the same few links
 * whether n is a thousand or a quarter of a million: it does not grow with
 * the idle timers. */
START_TEST(test_restarting_busy_idle_timers_costs_the_same_however_many_are_idle)
{
	enum { BUSY = 50, MSGS = 20000 };
	static struct reactor_timer t[1 << 18];
	double per_msg[2];
	unsigned sizes[2] = { 1000, 1 << 18 };

	for (int k = 0; k < 2; k++) {
		struct reactor *r = idle_timers(t, sizes[k]);
		uint64_t links = reactor_timer_links(r);

		/* The first restart of t[0], the earliest, pairs up the
		 * other timers: about 2n links, once, which the n starts
		 * paid for (a pairing heap's amortised bound). */
		for (unsigned m = 0; m < BUSY; m++)
			reactor_timer_start(r, &t[m], 60 * CLOCK_NS_PER_S, NULL);
		ck_assert_uint_le(reactor_timer_links(r) - links,
				  2 * sizes[k] + 8 * BUSY);
		links = reactor_timer_links(r);
		for (unsigned m = 0; m < MSGS; m++)
			reactor_timer_start(r, &t[m % BUSY], 60 * CLOCK_NS_PER_S, NULL);
		per_msg[k] = (double)(reactor_timer_links(r) - links) / MSGS;
		idle_timers_free(r, t, sizes[k]);
	}
	ck_assert_msg(per_msg[0] <= 3 && per_msg[1] <= 3,
		      "links per restart: %.2f at %u timers, %.2f at %u",
		      per_msg[0], sizes[0], per_msg[1], sizes[1]);
}
END_TEST

/* The worst case for the heap: restarting, again and again, the timer that
 * is due first (the root).  Amortised over the restarts it costs
 * O(log n) links each, far below one per timer. */
START_TEST(test_restarting_the_earliest_timer_costs_log_n_amortised)
{
	enum { N = 1 << 16, RESTARTS = 20000 };
	static struct reactor_timer t[N];
	struct reactor *r = idle_timers(t, N);
	uint64_t links = reactor_timer_links(r);
	double per;

	for (unsigned m = 0; m < RESTARTS; m++)
		reactor_timer_start(r, &t[m % N], 60 * CLOCK_NS_PER_S, NULL);
	per = (double)(reactor_timer_links(r) - links) / RESTARTS;
	ck_assert_msg(per <= 4 * 16, "%.2f links per restart of the root, "
		      "%d timers", per, N);
	idle_timers_free(r, t, N);
}
END_TEST

START_TEST(test_restarting_a_timer_moves_its_deadline)
{
	struct reactor *r = reactor_new_epoll();
	int order[4], n = 0;
	struct ttimer a = { .r = r, .id = 1, .order = order, .norder = &n };
	struct ttimer b = { .r = r, .id = 2, .order = order, .norder = &n };

	reactor_timer_start(r, &a.t, 1 * MS, ttimer_cb);
	reactor_timer_start(r, &b.t, 10 * MS, ttimer_cb);
	reactor_timer_start(r, &a.t, 30 * MS, ttimer_cb);  /* moved past b */
	for (int i = 0; i < 100 && n < 2; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(order[0], 2);
	ck_assert_int_eq(order[1], 1);
	ck_assert_int_eq(a.fired, 1);      /* once: the first start is gone */
	ck_assert(!a.early);
	reactor_free(r);
}
END_TEST

struct rearm {
	struct reactor_timer t;
	struct reactor *r;
	int fired;
	int polls_at[4];   /* poll number at each firing */
	int *poll_no;
};

static void rearm_cb(struct reactor_timer *t)
{
	struct rearm *x = (struct rearm *)t;

	x->polls_at[x->fired++] = *x->poll_no;
	if (x->fired < 3)
		reactor_timer_start(x->r, t, 0, rearm_cb);
}

START_TEST(test_timer_restarted_from_its_own_callback_fires_on_a_later_poll)
{
	struct reactor *r = reactor_new_epoll();
	int poll_no = 0;
	struct rearm x = { .r = r, .poll_no = &poll_no };

	reactor_timer_start(r, &x.t, 0, rearm_cb);
	for (poll_no = 0; poll_no < 20 && x.fired < 3; poll_no++)
		ck_assert_int_ge(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(x.fired, 3);
	ck_assert(!reactor_timer_active(&x.t));
	/* Each firing happened in its own reactor_poll() call. */
	ck_assert_int_lt(x.polls_at[0], x.polls_at[1]);
	ck_assert_int_lt(x.polls_at[1], x.polls_at[2]);
	reactor_free(r);
}
END_TEST

/* ---- stopping a watcher whose edge is later in the same batch ------------ */

/* Two heap-allocated watchers on two ready pipes; whichever runs first stops
 * and frees the other.  The other's edge is already in the batch; running it
 * would touch freed memory (the sanitizer build reports that). */
struct pair_watch {
	struct reactor_io io;
	struct reactor *r;
	struct pair_watch **other;   /* where the other one's pointer lives */
	struct pair_watch **self;
	int *calls;
};

static void pair_cb(struct reactor_io *io, unsigned events)
{
	struct pair_watch *w = (struct pair_watch *)io;
	struct pair_watch *o = *w->other;

	(*w->calls)++;
	if (o != NULL) {
		reactor_io_stop(w->r, &o->io);
		*o->self = NULL;
		mem_free(o);
	}
}

START_TEST(test_io_stop_skips_an_edge_later_in_the_same_batch)
{
	struct reactor *r = reactor_new_epoll();
	struct pair_watch *w[2];
	int p[2][2], calls = 0;

	for (int i = 0; i < 2; i++) {
		make_pipe(p[i]);
		w[i] = mem_calloc(1, sizeof(*w[i]));
		ck_assert_ptr_nonnull(w[i]);
		w[i]->r = r;
		w[i]->calls = &calls;
		w[i]->self = &w[i];
		w[i]->other = &w[1 - i];
	}
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(write(p[i][1], "x", 1), 1);
		ck_assert_int_eq(reactor_io_start(r, &w[i]->io, p[i][0],
						  pair_cb), 0);
	}
	/* Both are ready before the poll: one batch holds both edges. */
	ck_assert_int_eq(reactor_poll(r, 1000 * MS), 1);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(calls, 1);

	for (int i = 0; i < 2; i++) {
		if (w[i] != NULL) {
			reactor_io_stop(r, &w[i]->io);
			mem_free(w[i]);
		}
		close(p[i][0]);
		close(p[i][1]);
	}
	reactor_free(r);
}
END_TEST

/* ---- waking from other threads --------------------------------------------- */

struct tasync {
	struct reactor_async a;
	int calls;
	pthread_t ran_on;
	int resend;       /* send again from the callback this many times */
};

static void tasync_cb(struct reactor_async *a)
{
	struct tasync *t = (struct tasync *)a;

	t->calls++;
	t->ran_on = pthread_self();
	if (t->resend > 0) {
		t->resend--;
		reactor_async_send(a);
	}
}

struct sender {
	struct reactor_async *a;
	struct reactor *r;      /* for a stop request instead of a send */
	int sends;
	useconds_t delay_us;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	usleep(s->delay_us);
	if (s->r != NULL)
		reactor_request_stop(s->r);
	for (int i = 0; i < s->sends; i++)
		reactor_async_send(s->a);
	return NULL;
}

START_TEST(test_async_send_from_thread_wakes_a_blocked_poll)
{
	struct reactor *r = reactor_new_epoll();
	struct tasync t = { 0 };
	struct sender s = { .a = &t.a, .sends = 1, .delay_us = 20000 };
	pthread_t tid;

	reactor_async_start(r, &t.a, tasync_cb);
	ck_assert_int_eq(pthread_create(&tid, NULL, sender_main, &s), 0);
	/* No limit: only the send can end this wait. */
	ck_assert_int_eq(reactor_poll(r, -1), 1);
	ck_assert_int_eq(t.calls, 1);
	ck_assert(pthread_equal(t.ran_on, pthread_self()));
	pthread_join(tid, NULL);
	reactor_async_stop(r, &t.a);
	reactor_free(r);
}
END_TEST

START_TEST(test_async_sends_before_the_run_coalesce_into_one_call)
{
	struct reactor *r = reactor_new_epoll();
	struct tasync t = { 0 };
	struct sender s = { .a = &t.a, .sends = 5 };
	pthread_t tid;

	reactor_async_start(r, &t.a, tasync_cb);
	ck_assert_int_eq(pthread_create(&tid, NULL, sender_main, &s), 0);
	pthread_join(tid, NULL);    /* all five sent before the loop runs */
	ck_assert_int_eq(reactor_poll(r, 1000 * MS), 1);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(t.calls, 1);
	reactor_async_stop(r, &t.a);
	reactor_free(r);
}
END_TEST

START_TEST(test_async_sent_from_its_own_callback_runs_again)
{
	struct reactor *r = reactor_new_epoll();
	struct tasync t = { .resend = 1 };

	reactor_async_start(r, &t.a, tasync_cb);
	reactor_async_send(&t.a);
	ck_assert_int_eq(reactor_poll(r, 1000 * MS), 1);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(reactor_poll(r, 1000 * MS), 1);
	ck_assert_int_eq(t.calls, 2);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	reactor_async_stop(r, &t.a);
	reactor_free(r);
}
END_TEST

START_TEST(test_stopped_async_never_runs)
{
	struct reactor *r = reactor_new_epoll();
	struct tasync t = { 0 };

	reactor_async_start(r, &t.a, tasync_cb);
	reactor_async_send(&t.a);
	reactor_async_stop(r, &t.a);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(t.calls, 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_request_stop_from_thread_wakes_poll_and_sets_flag)
{
	struct reactor *r = reactor_new_epoll();
	struct sender s = { .r = r, .delay_us = 20000 };
	pthread_t tid;

	ck_assert(!reactor_stop_requested(r));
	ck_assert_int_eq(pthread_create(&tid, NULL, sender_main, &s), 0);
	ck_assert_int_eq(reactor_poll(r, -1), 0);
	ck_assert(reactor_stop_requested(r));
	pthread_join(tid, NULL);
	/* The flag stays set. */
	ck_assert_int_eq(reactor_poll(r, 0), 0);
	ck_assert(reactor_stop_requested(r));
	reactor_free(r);
}
END_TEST

static struct reactor *signal_reactor;

static void on_alarm(int sig)
{
	reactor_request_stop(signal_reactor);
}

START_TEST(test_stop_requested_from_signal_handler_ends_the_wait)
{
	struct reactor *r = reactor_new_epoll();
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 20000 } };
	int rc = -1;

	signal_reactor = r;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* The signal either interrupts the wait (0) or lands just before it;
	 * then the eventfd written by the handler ends it (0 as well). */
	for (int i = 0; i < 10 && !reactor_stop_requested(r); i++)
		rc = reactor_poll(r, 1000 * MS);
	ck_assert_int_eq(rc, 0);
	ck_assert(reactor_stop_requested(r));
	signal(SIGALRM, SIG_DFL);
	reactor_free(r);
}
END_TEST

/* ---- regular files ----------------------------------------------------------- */

START_TEST(test_file_calls_write_read_size_and_close)
{
	struct reactor *r = reactor_new_epoll();
	char path[] = "/tmp/pushpoll-reactor-XXXXXX";
	char buf[16];
	int tmp, fd;

	tmp = mkstemp(path);
	ck_assert_int_ge(tmp, 0);
	close(tmp);
	fd = reactor_file_open(r, path, O_RDWR | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert(fd_has(fd, F_GETFD, FD_CLOEXEC));
	ck_assert_int_eq(reactor_file_pwrite(r, fd, "0123456789", 10, 0), 10);
	ck_assert_int_eq(reactor_file_pwrite(r, fd, "ab", 2, 12), 2);
	ck_assert_int_eq(reactor_file_size(r, fd), 14);
	ck_assert_int_eq(reactor_file_pread(r, fd, buf, 4, 3), 4);
	ck_assert_mem_eq(buf, "3456", 4);
	ck_assert_int_eq(reactor_file_pread(r, fd, buf, sizeof(buf), 14), 0);
	ck_assert_int_eq(reactor_file_close(r, fd), 0);
	ck_assert_int_eq(reactor_file_close(r, fd), -EBADF);
	ck_assert_int_eq(reactor_file_open(r, "/nonexistent/x", O_RDONLY, 0),
			 -ENOENT);
	unlink(path);
	reactor_free(r);
}
END_TEST

/* ---- no allocation after creation ---------------------------------------- */

struct echo_side {
	struct reactor_io io;
	struct reactor *r;
	struct reactor_timer idle;
	int bytes;
};

static void idle_cb(struct reactor_timer *t)
{
}

/* Echo whatever arrives, restarting an idle timer per read: the pattern of
 * an echo server's connection. */
static void echo_side_cb(struct reactor_io *io, unsigned events)
{
	struct echo_side *e = (struct echo_side *)io;
	char buf[256];
	ssize_t n;

	while ((n = reactor_read(e->r, io->handle, buf, sizeof(buf))) > 0) {
		e->bytes += (int)n;
		reactor_write(e->r, io->handle, buf, (size_t)n);
		reactor_timer_start(e->r, &e->idle, 1000 * MS, idle_cb);
	}
}

START_TEST(test_busy_loop_allocates_nothing_after_reactor_new)
{
	struct reactor *r = reactor_new_epoll();
	struct echo_side srv = { .r = r }, cli = { .r = r };
	struct tasync t = { 0 };
	struct mem_stats before, after;
	int c, sv;

	tcp_pair(r, &c, &sv);
	mem_stats_get(&before);
	reactor_async_start(r, &t.a, tasync_cb);
	ck_assert_int_eq(reactor_io_start(r, &srv.io, sv, echo_side_cb), 0);
	ck_assert_int_eq(reactor_io_start(r, &cli.io, c, seen_cb), 0);
	for (int round = 0; round < 200; round++) {
		char buf[64];
		int got = 0;

		ck_assert_int_eq(reactor_write(r, c, "0123456789", 10), 10);
		reactor_async_send(&t.a);
		for (int i = 0; i < 100 && got < 10; i++) {
			ssize_t n;
			ck_assert_int_ge(reactor_poll(r, 100 * MS), 0);
			while ((n = reactor_read(r, c, buf, sizeof(buf))) > 0)
				got += (int)n;
		}
		ck_assert_int_eq(got, 10);
	}
	ck_assert_int_eq(srv.bytes, 2000);
	ck_assert_int_gt(t.calls, 0);
	reactor_timer_stop(r, &srv.idle);
	reactor_io_stop(r, &srv.io);
	reactor_io_stop(r, &cli.io);
	reactor_async_stop(r, &t.a);
	mem_stats_get(&after);
	ck_assert_uint_eq(after.allocs, before.allocs);
	ck_assert_uint_eq(after.frees, before.frees);

	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_reactor_new_and_free_balance_the_mem_counters)
{
	struct mem_stats before, mid, after;
	struct reactor *r;

	mem_stats_get(&before);
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	mem_stats_get(&mid);
	ck_assert_uint_gt(mid.allocs, before.allocs);
	reactor_free(r);
	mem_stats_get(&after);
	ck_assert_int_eq(after.live_blocks, before.live_blocks);
	ck_assert_int_eq(after.live_bytes, before.live_bytes);
}
END_TEST

START_TEST(test_reactor_new_fails_cleanly_when_allocation_fails)
{
	struct mem_stats before, after;

	mem_stats_get(&before);
	for (uint64_t nth = 1; nth <= 2; nth++) {
		mem_fail_nth(nth);
		ck_assert_ptr_null(reactor_new_epoll());
		ck_assert_int_eq(errno, ENOMEM);
	}
	mem_fail_nth(0);
	mem_stats_get(&after);
	ck_assert_int_eq(after.live_blocks, before.live_blocks);
}
END_TEST

/* ---- reading through the watcher ------------------------------------------- */

START_TEST(test_io_read_after_a_short_read_waits_for_the_next_edge)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[16];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	s.calls = 0;
	ck_assert_int_eq(reactor_write(r, c, "hello", 5), 5);
	poll_until(r, &s.calls, 20);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 5);
	ck_assert_mem_eq(buf, "hello", 5);

	/* The short read emptied the socket.  New data arrives, but its
	 * edge has not been dispatched yet: the reactor answers -EAGAIN
	 * without reading, as the kernel would have a moment earlier... */
	ck_assert_int_eq(reactor_write(r, c, "world", 5), 5);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), -EAGAIN);
	/* ...and the edge the rule says to wait for comes, and brings it. */
	s.calls = 0;
	poll_until(r, &s.calls, 20);
	ck_assert_uint_ne(s.last & REACTOR_READABLE, 0);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 5);
	ck_assert_mem_eq(buf, "world", 5);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_io_read_that_fills_the_buffer_reads_again_at_once)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[8];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	s.calls = 0;
	ck_assert_int_eq(reactor_write(r, c, "12345678", 8), 8);
	poll_until(r, &s.calls, 20);
	/* A full buffer proves nothing about what is left: read on. */
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 8);
	ck_assert_int_eq(reactor_write(r, c, "abc", 3), 3);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 3);
	ck_assert_mem_eq(buf, "abc", 3);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_io_read_never_misses_end_of_stream_behind_data)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[16];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	/* The data and the end of stream arrive together: one edge. */
	ck_assert_int_eq(reactor_write(r, c, "bye", 3), 3);
	ck_assert_int_eq(reactor_shutdown_write(r, c), 0);
	s.calls = 0;
	poll_until(r, &s.calls, 20);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 3);
	/* Short, but the peer has closed: no edge will come for the end of
	 * stream, so the next call must read it. */
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 0);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

START_TEST(test_io_start_forgets_what_an_earlier_short_read_proved)
{
	struct reactor *r = reactor_new_epoll();
	struct seen s = { 0 };
	int c, sv;
	char buf[16];

	tcp_pair(r, &c, &sv);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	poll_drain(r);
	s.calls = 0;
	ck_assert_int_eq(reactor_write(r, c, "one", 3), 3);
	poll_until(r, &s.calls, 20);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 3);
	ck_assert_int_eq(reactor_write(r, c, "two", 3), 3);
	reactor_io_stop(r, &s.io);
	ck_assert_int_eq(reactor_io_start(r, &s.io, sv, seen_cb), 0);
	ck_assert_int_eq(reactor_io_read(r, &s.io, buf, sizeof(buf)), 3);
	ck_assert_mem_eq(buf, "two", 3);

	reactor_io_stop(r, &s.io);
	reactor_close(r, c);
	reactor_close(r, sv);
	reactor_free(r);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("reactor");
	TCase *tc;

	tc = tcase_create("basics");
	tcase_add_test(tc, test_backend_is_epoll_with_monotonic_clock);
	tcase_add_test(tc, test_poll_with_nothing_ready_times_out_with_zero);
	tcase_add_test(tc, test_accept_errors_that_break_the_listener_are_fatal);
	tcase_add_test(tc, test_reactor_new_and_free_balance_the_mem_counters);
	tcase_add_test(tc, test_reactor_new_fails_cleanly_when_allocation_fails);
	tcase_add_test(tc, test_busy_loop_allocates_nothing_after_reactor_new);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_test(tc, test_pipe_reports_one_readable_edge_per_write);
	tcase_add_test(tc, test_socket_reports_readable_edge_and_read_takes_the_data);
	tcase_add_test(tc, test_writable_edge_after_full_socket_buffer_drains);
	tcase_add_test(tc, test_pipe_writer_close_reports_hangup);
	tcase_add_test(tc, test_socket_peer_close_reads_eof_then_hangup_when_both_closed);
	tcase_add_test(tc, test_socket_peer_reset_reports_hangup_and_read_says_reset);
	tcase_add_test(tc, test_second_watcher_on_a_handle_is_refused);
	tcase_add_test(tc, test_io_stop_skips_an_edge_later_in_the_same_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_add_test(tc, test_listen_accept_connect_round_trip_on_loopback);
	tcase_add_test(tc, test_resolve_gives_the_address_every_server_binds);
	tcase_add_test(tc, test_a_file_write_that_stops_part_way_is_an_error);
	tcase_add_test(tc, test_listen_and_connect_resolve_host_names);
	tcase_add_test(tc, test_stream_handles_are_nonblocking_cloexec_and_nodelay);
	tcase_add_test(tc, test_connect_refused_reported_by_connect_result);
	tcase_add_test(tc, test_listen_on_port_in_use_says_addrinuse);
	tcase_add_test(tc, test_shutdown_write_gives_peer_end_of_stream);
	tcase_add_test(tc, test_write_to_closed_peer_never_raises_sigpipe);
	tcase_add_test(tc, test_io_read_after_a_short_read_waits_for_the_next_edge);
	tcase_add_test(tc, test_io_read_that_fills_the_buffer_reads_again_at_once);
	tcase_add_test(tc, test_io_read_never_misses_end_of_stream_behind_data);
	tcase_add_test(tc, test_io_start_forgets_what_an_earlier_short_read_proved);
	tcase_add_test(tc, test_emfile_on_accept_sheds_the_connection_and_quiets_listener);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers");
	tcase_add_test(tc, test_timers_fire_in_deadline_order_equal_delays_in_start_order);
	tcase_add_test(tc, test_zero_delay_timer_fires_on_next_poll_not_inside_start);
	tcase_add_test(tc, test_poll_without_limit_returns_when_a_timer_is_due);
	tcase_add_test(tc, test_stopped_timer_never_fires);
	tcase_add_test(tc, test_timer_with_the_longest_delay_never_fires);
	tcase_add_test(tc, test_restarting_a_timer_moves_its_deadline);
	tcase_add_test(tc, test_restarting_busy_idle_timers_costs_the_same_however_many_are_idle);
	tcase_add_test(tc, test_restarting_the_earliest_timer_costs_log_n_amortised);
	tcase_add_test(tc, test_timer_restarted_from_its_own_callback_fires_on_a_later_poll);
	suite_add_tcase(s, tc);

	tc = tcase_create("wake");
	tcase_add_test(tc, test_async_send_from_thread_wakes_a_blocked_poll);
	tcase_add_test(tc, test_async_sends_before_the_run_coalesce_into_one_call);
	tcase_add_test(tc, test_async_sent_from_its_own_callback_runs_again);
	tcase_add_test(tc, test_stopped_async_never_runs);
	tcase_add_test(tc, test_request_stop_from_thread_wakes_poll_and_sets_flag);
	tcase_add_test(tc, test_stop_requested_from_signal_handler_ends_the_wait);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, test_file_calls_write_read_size_and_close);
	suite_add_tcase(s, tc);

	return s;
}

#include "testutil.h"
