/* test_baselines.c: the epoll, libuv and libevent baselines
 * (compare/baselines/baselines.h).
 *
 * One conformance suite, run against each baseline in turn: every test is
 * a loop test whose index picks the engine.  The servers run in a thread
 * (tests/netclient.h) and are driven by real sockets from the test's
 * thread; nothing here trusts an engine to check itself.  Every test also
 * checks that the engine gave back every block it allocated, libuv's and
 * libevent's own allocations included.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>
#include <uv.h>

#include "baselines/baselines.h"
#include "clock.h"
#include "completion.h"
#include "mem.h"
#include "netclient.h"
#include "sim.h"

/* libuv sheds a connection itself when out of descriptors and tells the
 * server nothing, so its accept_errors cannot count those. */
static const struct baseline {
	const char *name;
	echo_serve_fn echo;
	fanout_run_fn fanout;
	bool counts_shed_connections;
	bool unsent_in_ring;    /* on readiness, bytes a peer has not taken
				 * may wait in the buffers of a provided ring
				 * (not in the heap) while a send is stuck */
} baselines[] = {
	{ "epoll", epoll_echo_serve, epoll_fanout_run, true, false },
	{ "libuv", libuv_echo_serve, libuv_fanout_run, false, false },
	{ "libevent", libevent_echo_serve, libevent_fanout_run, true, false },
#ifdef HAVE_LIBURING
	/* last: left out where no ring can be set up (make_suite()) */
	{ "uring", uring_echo_serve, uring_fanout_run, true, true },
#endif
};
/* The baselines tested: all of them, or all but the io_uring floor where
 * no ring can be set up here (make_suite() says why). */
static int nbaselines = (int)(sizeof(baselines) / sizeof(baselines[0]));
#define NBASELINES nbaselines

#define MiB (1024u * 1024u)

/* The echo tests run in both buffer modes: loop index i is baseline
 * i % NBASELINES, with buffers per connection for i < NBASELINES, then on
 * readiness. */
static void echo_opts_mode(struct echo_opts *o, int i)
{
	echo_opts_default(o);
	o->buffers = i < NBASELINES ? ECHO_BUFFERS_CONN : ECHO_BUFFERS_READY;
}

static int64_t live_blocks(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.live_blocks;
}

/* Wait up to 10 s for fd to be readable, then read once: the byte count,
 * 0 at end of stream, or -errno (a reset counts as a close too). */
static ssize_t read_within(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t got;

	if (poll(&p, 1, 10000) != 1)
		return -ETIMEDOUT;
	got = recv(fd, buf, n, 0);
	return got < 0 ? -errno : got;
}

/* True when the peer closed fd (end of stream or reset) within 10 s. */
static bool closed_by_peer(int fd)
{
	char c;
	ssize_t got = read_within(fd, &c, 1);

	return got == 0 || got == -ECONNRESET;
}

/* True when the peer closed fd within 10 s, whatever it sent before. */
static bool closed_by_peer_after_data(int fd)
{
	static char buf[1 << 16];
	ssize_t got;

	while ((got = read_within(fd, buf, sizeof(buf))) > 0)
		;
	return got == 0 || got == -ECONNRESET;
}

/* Send one byte and read it back. */
static bool echoes_one_byte(int fd, char byte)
{
	char back = 0;

	if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1)
		return false;
	return read_within(fd, &back, 1) == 1 && back == byte;
}

static void start_server(struct server_thread *st, int i,
			 const struct echo_opts *opts)
{
	int rc = server_thread_start(st, baselines[i].echo, opts);

	ck_assert_msg(rc == 0, "%s: server_thread_start: %s",
		      baselines[i].name, strerror(-rc));
}

/* ==== echo ================================================================= */

START_TEST(test_echo_round_trips_16_mib_exactly)
{
	int64_t before = live_blocks();
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;
	int rc;

	echo_opts_mode(&opts, _i);
	start_server(&st, _i % NBASELINES, &opts);
	rc = netclient_echo(st.port, 1, 16 * MiB, 64 * 1024, 60000, &res);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(res.conns_ok, 1);
	ck_assert_uint_eq(res.bytes_received, 16 * MiB);
	ck_assert_uint_eq(res.mismatches, 0);
	ck_assert_uint_eq(st.stats.accepted, 1);
	ck_assert_uint_eq(st.stats.closed, 1);
	ck_assert_uint_eq(st.stats.failed, 0);
	ck_assert_uint_eq(st.stats.cancelled, 0);
	ck_assert_uint_eq(st.stats.bytes, 16 * MiB);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

START_TEST(test_echo_serves_200_concurrent_connections)
{
	int64_t before = live_blocks();
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;
	int rc;

	echo_opts_mode(&opts, _i);
	start_server(&st, _i % NBASELINES, &opts);
	rc = netclient_echo(st.port, 200, 64 * 1024, 16 * 1024, 60000, &res);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(res.conns_ok, 200);
	ck_assert_uint_eq(res.mismatches, 0);
	ck_assert_uint_eq(st.stats.accepted, 200);
	ck_assert_uint_eq(st.stats.closed, 200);
	ck_assert_uint_eq(st.stats.refused, 0);
	ck_assert_uint_eq(st.stats.bytes, 200ull * 64 * 1024);
	ck_assert_uint_ge(st.stats.peak_conns, 1);
	ck_assert_uint_le(st.stats.peak_conns, 200);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

START_TEST(test_idle_timeout_closes_an_idle_connection)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int fd;

	echo_opts_mode(&opts, _i);
	opts.idle_timeout_ns = 100 * CLOCK_NS_PER_MS;
	start_server(&st, _i % NBASELINES, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert(echoes_one_byte(fd, 'x'));   /* served, then left idle */
	ck_assert(closed_by_peer(fd));
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_uint_eq(st.stats.accepted, 1);
	ck_assert_uint_eq(st.stats.timed_out, 1);
	ck_assert_uint_eq(st.stats.closed, 0);
	ck_assert_uint_eq(st.stats.cancelled, 0);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* An idle timeout too long to fit in the clock (2^64 - 1 ns) never comes:
 * the connection is served and stays open until the shutdown. */
START_TEST(test_idle_timeout_too_long_to_fit_never_closes)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	struct pollfd p;
	int fd;

	echo_opts_mode(&opts, _i);
	opts.idle_timeout_ns = UINT64_MAX;
	start_server(&st, _i % NBASELINES, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert(echoes_one_byte(fd, 'x'));
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 200), 0);     /* still open, quiet */
	ck_assert(echoes_one_byte(fd, 'y'));
	ck_assert_int_eq(server_thread_stop(&st), 0);
	close(fd);

	ck_assert_uint_eq(st.stats.accepted, 1);
	ck_assert_uint_eq(st.stats.timed_out, 0);
	ck_assert_uint_eq(st.stats.cancelled, 1);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* Input every 100 ms keeps a connection with a 400 ms idle timeout open for
 * a second, far past the timeout. */
START_TEST(test_idle_timeout_spares_a_connection_that_keeps_sending)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	struct server_thread st;
	struct echo_opts opts;
	int fd;

	echo_opts_mode(&opts, _i);
	opts.idle_timeout_ns = 400 * CLOCK_NS_PER_MS;
	start_server(&st, _i % NBASELINES, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 10; i++) {
		ck_assert(echoes_one_byte(fd, (char)('a' + i)));
		nanosleep(&pause, NULL);
	}
	shutdown(fd, SHUT_WR);
	ck_assert(closed_by_peer(fd));
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_uint_eq(st.stats.timed_out, 0);
	ck_assert_uint_eq(st.stats.closed, 1);
	ck_assert_uint_eq(st.stats.bytes, 10);
}
END_TEST

/* A client that keeps sending but never reads: once the kernel buffers
 * are full the server is stuck writing back and reads nothing more, so no
 * input arrives however hard the client tries, and the idle timeout closes
 * the connection.  (A server that stopped its idle clock while writing
 * would keep it forever.)  The client learns of the close when a send
 * fails. */
START_TEST(test_idle_timeout_closes_a_connection_whose_peer_does_not_read)
{
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	static char buf[256 * 1024];
	uint64_t deadline;
	struct server_thread st;
	struct echo_opts opts;
	int fd, err = 0;

	echo_opts_mode(&opts, _i);
	opts.idle_timeout_ns = 250 * CLOCK_NS_PER_MS;
	start_server(&st, _i % NBASELINES, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	memset(buf, 'e', sizeof(buf));
	deadline = clock_now_ns() + 10 * CLOCK_NS_PER_S;
	while (err == 0 && clock_now_ns() < deadline) {
		if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0 &&
		    errno != EAGAIN)
			err = errno;
		else
			nanosleep(&pause, NULL);
	}
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_msg(err == ECONNRESET || err == EPIPE, "send: %s",
		      strerror(err));
	ck_assert_uint_eq(st.stats.timed_out, 1);
	ck_assert_uint_eq(st.stats.closed, 0);
	ck_assert_uint_eq(st.stats.failed, 0);
}
END_TEST

START_TEST(test_max_conns_refuses_the_extra_connection)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int a, b, c;

	echo_opts_mode(&opts, _i);
	opts.max_conns = 2;
	start_server(&st, _i % NBASELINES, &opts);
	a = netclient_connect(st.port);
	b = netclient_connect(st.port);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(b, 0);
	ck_assert(echoes_one_byte(a, 'a'));
	ck_assert(echoes_one_byte(b, 'b'));
	c = netclient_connect(st.port);
	ck_assert_int_ge(c, 0);
	ck_assert(closed_by_peer(c));
	ck_assert(echoes_one_byte(a, 'A'));   /* the others are served on */
	ck_assert(echoes_one_byte(b, 'B'));
	close(a);
	close(b);
	close(c);
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert_uint_eq(st.stats.accepted, 2);
	ck_assert_uint_eq(st.stats.refused, 1);
	ck_assert_uint_eq(st.stats.peak_conns, 2);
	ck_assert_uint_eq(st.stats.bytes, 4);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

START_TEST(test_stop_with_live_connections_returns_and_frees_everything)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int fd[5];

	echo_opts_mode(&opts, _i);
	start_server(&st, _i % NBASELINES, &opts);
	for (int k = 0; k < 5; k++) {
		fd[k] = netclient_connect(st.port);
		ck_assert_int_ge(fd[k], 0);
		ck_assert(echoes_one_byte(fd[k], (char)('0' + k)));
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	for (int k = 0; k < 5; k++) {
		ck_assert(closed_by_peer(fd[k]));
		close(fd[k]);
	}

	ck_assert_uint_eq(st.stats.accepted, 5);
	ck_assert_uint_eq(st.stats.cancelled, 5);
	ck_assert_uint_eq(st.stats.peak_conns, 5);
	ck_assert_uint_eq(st.stats.closed, 0);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

START_TEST(test_port_in_use_gives_eaddrinuse)
{
	int64_t before = live_blocks();
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct server_thread st;
	struct echo_opts opts;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	echo_opts_mode(&opts, _i);
	opts.port = ntohs(sa.sin_port);
	ck_assert_int_eq(server_thread_start(&st, baselines[_i % NBASELINES].echo, &opts),
			 -EADDRINUSE);
	close(fd);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* The highest descriptor open in this process. */
static int highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int top = 2;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (atoi(e->d_name) > top)
			top = atoi(e->d_name);
	closedir(d);
	return top;
}

/* Wait, at most about 2 s, until every other thread of this process is
 * asleep: the server is then idle in its wait, not in the middle of
 * shedding connections.  libuv sheds by accepting and closing connections
 * until none is pending, so a client that reconnects the moment it sees
 * its connection close can be shed again and again, for as long as it
 * keeps winning that race. */
static void wait_until_the_other_threads_sleep(void)
{
	pid_t self = (pid_t)syscall(SYS_gettid);

	for (int round = 0; round < 2000; round++) {
		DIR *d = opendir("/proc/self/task");
		struct dirent *e;
		bool busy = false;

		ck_assert_ptr_nonnull(d);
		while (!busy && (e = readdir(d)) != NULL) {
			char path[300], line[512], *close_paren;
			FILE *f;

			if (e->d_name[0] == '.' || atoi(e->d_name) == self)
				continue;
			snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
				 e->d_name);
			f = fopen(path, "r");
			if (f == NULL)
				continue;       /* the thread has just ended */
			if (fgets(line, sizeof(line), f) != NULL) {
				close_paren = strrchr(line, ')');
				busy = close_paren == NULL ||
				       close_paren[1] != ' ' ||
				       close_paren[2] != 'S';
			}
			fclose(f);
		}
		closedir(d);
		if (!busy)
			return;
		usleep(1000);
	}
}

/* The state files (/proc/self/task/TID/stat) of every other thread, opened
 * now, so that they can be read when no descriptor is left: how many (at
 * most max) in fds. */
static int open_other_threads_states(int *fds, int max)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (n < max && (e = readdir(d)) != NULL) {
		char path[300];

		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		if ((fds[n] = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
			n++;
	}
	closedir(d);
	return n;
}

/* True when, within about 2 s, every thread of fds is asleep at once (a
 * thread that has ended counts as asleep); needs no new descriptor. */
static bool threads_fall_asleep(const int *fds, int n)
{
	for (int round = 0; round < 2000; round++) {
		bool busy = false;

		for (int i = 0; i < n && !busy; i++) {
			char line[512], *close_paren;
			ssize_t got = pread(fds[i], line, sizeof(line) - 1, 0);

			if (got <= 0)
				continue;
			line[got] = '\0';
			close_paren = strrchr(line, ')');
			busy = close_paren == NULL || close_paren[1] != ' ' ||
			       close_paren[2] != 'S';
		}
		if (!busy)
			return true;
		usleep(1000);
	}
	return false;
}

/* The statistics line gives accept_errors as counted, or as unknown where
 * the engine cannot count them: never a false 0. */
static void check_accept_errors_printed(const struct echo_stats *st)
{
	char line[512], want[64];
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	echo_stats_print(f, "e", st);
	rewind(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	fclose(f);
	if (st->accept_errors_unseen)
		snprintf(want, sizeof(want), " accept_errors=unknown ");
	else
		snprintf(want, sizeof(want), " accept_errors=%llu ",
			 (unsigned long long)st->accept_errors);
	ck_assert_msg(strstr(line, want) != NULL, "%s", line);
}

/* With the descriptor table full, the server cannot take a connection: it
 * must count the failure, close the connection (not leave the peer
 * hanging), sleep while the table stays full (not spin on an accept that
 * fails at once) and go on serving once descriptors are free again.  The
 * limit is lowered before the server starts: an io_uring accept keeps the
 * limit of the moment it was armed. */
START_TEST(test_out_of_descriptors_sheds_the_connection_and_serves_on)
{
	struct rlimit old, low;
	struct server_thread st;
	struct echo_opts opts;
	static int fillers[4096];
	int nfill = 0, fd, states[32], nstates;
	bool served = false;

	echo_opts_mode(&opts, _i);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)highest_fd() + 64;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	start_server(&st, _i % NBASELINES, &opts);
	nstates = open_other_threads_states(states, 32);
	ck_assert_int_gt(nstates, 0);
	while (nfill < 4096 && (fillers[nfill] = open("/dev/null", O_RDONLY)) >= 0)
		nfill++;
	ck_assert_int_eq(errno, EMFILE);
	close(fillers[--nfill]);        /* room for the client's socket only */
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert(closed_by_peer(fd));
	ck_assert_msg(threads_fall_asleep(states, nstates),
		      "%s: the server never slept while out of descriptors",
		      baselines[_i % NBASELINES].name);
	close(fd);
	while (nfill > 0)
		close(fillers[--nfill]);
	while (nstates > 0)
		close(states[--nstates]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* The server may still be shedding when the table empties, and then
	 * sheds the next connection too: each try waits until the server is
	 * idle, so that it cannot be shed by a shedding loop still running. */
	for (int tries = 0; tries < 5 && !served; tries++) {
		wait_until_the_other_threads_sleep();
		fd = netclient_connect(st.port);
		ck_assert_int_ge(fd, 0);
		served = echoes_one_byte(fd, 'z');
		close(fd);
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);

	ck_assert(served);
	ck_assert_uint_ge(st.stats.accepted, 1);
	if (baselines[_i % NBASELINES].counts_shed_connections)
		ck_assert_uint_ge(st.stats.accept_errors, 1);
	else
		ck_assert(st.stats.accept_errors_unseen);
	check_accept_errors_printed(&st.stats);
}
END_TEST

/* Buffers on readiness: an idle connection holds no read buffer, only its
 * state, measured as the difference of the live heap between 10 and 110
 * connections that have each echoed one message (printed: the figure of
 * each baseline, beside the engines'). */
START_TEST(test_echo_on_readiness_an_idle_connection_holds_no_buffer)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_idle idle;

	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	start_server(&st, _i, &opts);
	ck_assert_int_eq(netclient_idle_heap(st.port, 10, 110, &idle), 0);
	printf("%s echo figure, buffers on readiness: %.0f bytes per idle "
	       "connection in %.2f blocks (read buffer %zu)\n",
	       baselines[_i].name, idle.bytes, idle.blocks, opts.bufsize);
	ck_assert(idle.bytes < (double)opts.bufsize / 4);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* A peer that stops reading gets every byte once it reads again; with
 * buffers on readiness the server keeps only the unsent bytes meanwhile,
 * one block of at most a buffer's size. */
START_TEST(test_echo_slow_reader_keeps_only_unsent_bytes_and_loses_none)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_slow slow;

	echo_opts_mode(&opts, _i);
	start_server(&st, _i % NBASELINES, &opts);
	ck_assert_int_eq(netclient_slow_reader(st.port, &slow), 0);
	ck_assert_uint_gt(slow.sent, opts.bufsize);
	ck_assert_uint_eq(slow.received, slow.sent);
	if (opts.buffers == ECHO_BUFFERS_READY &&
	    baselines[_i % NBASELINES].unsent_in_ring) {
		/* a send stuck from a ring buffer: the rest is copied into a
		 * block only once a send comes back short */
		ck_assert_int_le(slow.waiting_blocks, 1);
		ck_assert_int_le(slow.waiting_bytes, (int64_t)opts.bufsize);
	} else if (opts.buffers == ECHO_BUFFERS_READY) {
		ck_assert_int_eq(slow.waiting_blocks, 1);
		ck_assert_int_gt(slow.waiting_bytes, 0);
		ck_assert_int_le(slow.waiting_bytes, (int64_t)opts.bufsize);
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.bytes, slow.sent + 1);
	ck_assert_uint_eq(st.stats.closed, 1);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* Sizes around the read buffer's: one byte, a buffer less one, a buffer,
 * a buffer and one, several buffers and a bit. */
static size_t edge_size(size_t bufsize, int k)
{
	const size_t sizes[] = { 1, bufsize - 1, bufsize, bufsize + 1,
				 4 * bufsize + 3 };

	return sizes[k];
}
#define NSIZES 5

/* A peer that sends and half-closes gets every byte back, then the end of
 * the stream, at every size around the buffer's, in both buffer modes; a
 * peer that sends and resets is closed (or counted failed) and the server
 * serves on and frees everything. */
START_TEST(test_echo_half_close_and_reset_at_every_size)
{
	int64_t before = live_blocks();
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;
	static uint8_t out[4 * 16384 + 3];
	struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	int fd;

	echo_opts_mode(&opts, _i);
	ck_assert_uint_le(edge_size(opts.bufsize, NSIZES - 1), sizeof(out));
	start_server(&st, _i % NBASELINES, &opts);
	for (int k = 0; k < NSIZES; k++) {
		size_t n = edge_size(opts.bufsize, k);

		ck_assert_int_eq(netclient_echo(st.port, 1, n, 4096, 20000,
						&res), 0);
		ck_assert_uint_eq(res.bytes_received, n);
		ck_assert_uint_eq(res.mismatches, 0);
		fd = netclient_connect(st.port);
		ck_assert_int_ge(fd, 0);
		for (size_t i = 0; i < n; i++)
			out[i] = netclient_pattern(0, i);
		ck_assert_int_eq(send(fd, out, n, MSG_NOSIGNAL), (ssize_t)n);
		ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst,
					    sizeof rst), 0);
		close(fd);
	}
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert(echoes_one_byte(fd, 'x'));
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.accepted, 2 * NSIZES + 1);
	ck_assert_uint_eq(st.stats.closed + st.stats.failed +
			  st.stats.cancelled, 2 * NSIZES + 1);
	ck_assert_uint_ge(st.stats.closed, NSIZES);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

#ifdef HAVE_LIBURING
/* The io_uring floor on readiness: an idle connection holds no buffer of
 * the ring either, not only no heap.  With a ring of two buffers, forty
 * connections that have each echoed a message stay open, idle, and then
 * each echoes another, one after the other: were an idle one holding a
 * ring buffer, the ring would be dry and the next echo would never come. */
START_TEST(test_uring_on_readiness_idle_connections_hold_no_ring_buffer)
{
	int64_t before = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int fd[40];

	setenv("PUSHPOLL_URING_RING_BUFFERS", "2", 1);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	ck_assert_int_eq(server_thread_start(&st, uring_echo_serve, &opts), 0);
	for (int i = 0; i < 40; i++) {
		fd[i] = netclient_connect(st.port);
		ck_assert_int_ge(fd[i], 0);
		ck_assert(echoes_one_byte(fd[i], (char)('a' + i % 26)));
	}
	for (int i = 0; i < 40; i++)
		ck_assert_msg(echoes_one_byte(fd[i], (char)('A' + i % 26)),
			      "connection %d got no echo: the ring is dry", i);
	for (int i = 0; i < 40; i++)
		close(fd[i]);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(st.stats.bytes, 80);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* A ring run dry loses no byte: with one buffer of 1 KiB for eight
 * connections that each send 1 MiB at once, recvs end with -ENOBUFS again
 * and again, the bytes wait in the socket, and each connection is re-armed
 * when the buffer comes back. */
START_TEST(test_uring_on_readiness_a_ring_run_dry_loses_no_byte)
{
	int64_t before = live_blocks();
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;

	setenv("PUSHPOLL_URING_RING_BUFFERS", "1", 1);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	opts.bufsize = 1024;
	ck_assert_int_eq(server_thread_start(&st, uring_echo_serve, &opts), 0);
	ck_assert_int_eq(netclient_echo(st.port, 8, MiB, 64 * 1024, 60000,
					&res), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(res.conns_ok, 8);
	ck_assert_uint_eq(res.mismatches, 0);
	ck_assert_uint_eq(st.stats.bytes, 8ull * MiB);
	ck_assert_uint_eq(st.stats.failed, 0);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* Where the kernel lacks multishot recv (the probe told so), the floor
 * has no ready mode: it says so and returns -EOPNOTSUPP, serving nothing. */
START_TEST(test_uring_on_readiness_without_multishot_recv_is_refused)
{
	struct reactor *r = reactor_new_epoll();
	struct echo_opts opts;
	struct echo_stats stats;

	ck_assert_ptr_nonnull(r);
	setenv("PUSHPOLL_URING_NO_MULTISHOT", "1", 1);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	opts.port = 0;
	ck_assert_int_eq(uring_echo_serve(r, NULL, &opts, &stats),
			 -EOPNOTSUPP);
	unsetenv("PUSHPOLL_URING_NO_MULTISHOT");
	reactor_free(r);
}
END_TEST
#endif

START_TEST(test_simulated_reactor_is_refused)
{
	struct sim_config cfg;
	struct reactor *r;
	struct echo_opts eo;
	struct echo_stats es;
	struct fanout_opts fo;
	struct fanout_sink_stats sink[1];
	struct fanout_stats fs = { .sink = sink };

	sim_config_default(&cfg, 1);
	r = reactor_new_sim(&cfg);
	ck_assert_ptr_nonnull(r);
	echo_opts_default(&eo);
	fanout_opts_default(&fo);
	fo.input = "/dev/null";
	ck_assert_int_eq(baselines[_i].echo(r, NULL, &eo, &es), -ENOTSUP);
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &fo, &fs), -ENOTSUP);
	reactor_free(r);
}
END_TEST

/* ==== fanout =============================================================== */

/* A scratch directory holding an input file of `size` bytes of a pattern
 * that differs along the file, so a lost, repeated or swapped chunk
 * changes the checksum. */
struct scratch {
	char dir[64];
	char input[128];
	uint8_t *data;
	size_t size;
};

static void scratch_make(struct scratch *sc, size_t size)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	FILE *f;

	strcpy(sc->dir, "/tmp/test_baselines-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sc->dir));
	snprintf(sc->input, sizeof(sc->input), "%s/input", sc->dir);
	sc->size = size;
	sc->data = malloc(size ? size : 1);
	ck_assert_ptr_nonnull(sc->data);
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		sc->data[i] = (uint8_t)x;
	}
	f = fopen(sc->input, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(sc->data, 1, size, f), size);
	fclose(f);
}

/* Remove the directory and everything in it (one level). */
static void scratch_remove(struct scratch *sc)
{
	DIR *d = opendir(sc->dir);
	struct dirent *e;
	char path[512];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", sc->dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(sc->dir);
	free(sc->data);
}

/* Whether the file at path holds exactly the input. */
static bool file_matches(const struct scratch *sc, const char *path)
{
	static uint8_t buf[1 << 16];
	size_t at = 0, n;
	bool same = true;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	while (same && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		same = at + n <= sc->size && memcmp(buf, sc->data + at, n) == 0;
		at += n;
	}
	fclose(f);
	return same && at == sc->size;
}

#define MAX_SINKS FANOUT_THREAD_MAX_SINKS

static void start_fanout(struct fanout_thread *ft, int i,
			 const struct fanout_opts *opts)
{
	int rc = fanout_thread_start(ft, baselines[i].fanout, opts);

	ck_assert_msg(rc == 0, "%s: the fanout did not start: %s",
		      baselines[i].name, strerror(-rc));
}

/* Subscribers: read each socket to end of stream (or reset), summing bytes
 * and checksums, for at most timeout_ms. */
struct subscriber {
	int fd;
	uint64_t bytes;
	uint64_t checksum;
	bool done;
};

static void subscribers_read(struct subscriber *sub, unsigned n,
			     int timeout_ms, size_t chunk_size)
{
	struct workload_checksum_stream cs[MAX_SINKS];
	static uint8_t buf[1 << 16];
	uint64_t deadline = clock_now_ns() +
			    (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	unsigned left = n;

	for (unsigned i = 0; i < n; i++) {
		ck_assert_int_eq(workload_checksum_stream_init(&cs[i],
							       chunk_size), 0);
		if (sub[i].done)
			left--;
	}
	while (left > 0 && clock_now_ns() < deadline) {
		struct pollfd p[MAX_SINKS];

		for (unsigned i = 0; i < n; i++) {
			p[i].fd = sub[i].done ? -1 : sub[i].fd;
			p[i].events = POLLIN;
		}
		if (poll(p, n, 100) <= 0)
			continue;
		for (unsigned i = 0; i < n; i++) {
			ssize_t got;

			if (sub[i].done || p[i].revents == 0)
				continue;
			got = recv(sub[i].fd, buf, sizeof(buf), 0);
			if (got > 0) {
				sub[i].bytes += (uint64_t)got;
				workload_checksum_stream_feed(&cs[i], buf,
							      (size_t)got);
			} else if (got == 0 || errno != EAGAIN) {
				sub[i].done = true;
				left--;
			}
		}
	}
	for (unsigned i = 0; i < n; i++)
		sub[i].checksum = workload_checksum_stream_end(&cs[i]);
}

static void fanout_file_opts(struct fanout_opts *opts,
			     const struct scratch *sc, unsigned sinks)
{
	fanout_opts_default(opts);
	opts->input = sc->input;
	opts->output_dir = sc->dir;
	opts->sinks = sinks;
}

START_TEST(test_fanout_to_three_file_sinks_reproduces_the_input)
{
	struct fanout_sink_stats sink[3];
	struct fanout_stats stats = { .sink = sink };
	struct fanout_opts opts;
	struct scratch sc;
	struct reactor *r;
	struct offload *o;
	uint64_t expect;
	int64_t before;
	char path[256];

	scratch_make(&sc, 5 * 64 * 1024 + 12345);    /* a short last chunk */
	r = reactor_new_epoll();
	o = offload_new(r, 2);
	ck_assert_ptr_nonnull(o);
	fanout_file_opts(&opts, &sc, 3);
	expect = workload_checksum(sc.data, sc.size, opts.chunk_size);
	before = live_blocks();
	ck_assert_int_eq(baselines[_i].fanout(r, o, &opts, &stats), 0);
	ck_assert_int_eq(live_blocks(), before);
	offload_free(o);
	reactor_free(r);

	ck_assert_uint_eq(stats.bytes_read, sc.size);
	ck_assert_uint_eq(stats.checksum, expect);
	ck_assert_uint_eq(stats.chunks_read, 6);
	ck_assert_uint_ge(stats.peak_chunks, 1);
	ck_assert_uint_le(stats.peak_chunks, opts.window);
	ck_assert_uint_eq(stats.sinks, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(sink[i].error, 0);
		ck_assert_uint_eq(sink[i].bytes, sc.size);
		ck_assert_uint_eq(sink[i].checksum, expect);
		snprintf(path, sizeof(path), "%s/sink-%u", sc.dir, i);
		ck_assert_msg(file_matches(&sc, path), "%s differs", path);
	}
	scratch_remove(&sc);
}
END_TEST

#if !defined(__SANITIZE_ADDRESS__)
/* The address space this process has mapped now, in bytes. */
static rlim_t mapped_bytes(void)
{
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* libuv makes its thread pool (4 threads of 8 MiB stacks) at the first
 * file request, and abort()s if it cannot.  With 16 MiB of address space
 * left, the libuv fanout must fail to start like any other engine that
 * runs out: an error, no sink file created, every block given back.  (Not
 * under ASan, whose own allocator cannot live under such a limit.) */
START_TEST(test_libuv_fanout_without_room_for_its_pool_fails_to_start)
{
	struct fanout_sink_stats sink[2];
	struct fanout_stats stats = { .sink = sink };
	struct fanout_opts opts;
	struct rlimit old, low;
	struct scratch sc;
	struct reactor *r;
	struct offload *o;
	int64_t before;
	char path[256];
	int rc;

	scratch_make(&sc, 3 * 64 * 1024);
	r = reactor_new_epoll();
	o = offload_new(r, 2);
	ck_assert_ptr_nonnull(o);
	fanout_file_opts(&opts, &sc, 2);
	before = live_blocks();
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = mapped_bytes() + 16 * MiB;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &low), 0);
	rc = libuv_fanout_run(r, o, &opts, &stats);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	ck_assert_msg(rc == -EAGAIN || rc == -ENOMEM, "rc %d", rc);
	ck_assert_int_eq(live_blocks(), before);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/sink-%u", sc.dir, i);
		ck_assert_int_ne(access(path, F_OK), 0);
	}
	offload_free(o);
	reactor_free(r);
	scratch_remove(&sc);
}
END_TEST
#endif

START_TEST(test_fanout_of_an_empty_input_creates_empty_sinks)
{
	struct fanout_sink_stats sink[2];
	struct fanout_stats stats = { .sink = sink };
	struct fanout_opts opts;
	struct scratch sc;
	struct reactor *r = reactor_new_epoll();
	char path[256];

	ck_assert_ptr_nonnull(r);
	scratch_make(&sc, 0);
	fanout_file_opts(&opts, &sc, 2);
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats), 0);
	reactor_free(r);
	ck_assert_uint_eq(stats.bytes_read, 0);
	ck_assert_uint_eq(stats.chunks_read, 0);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(sink[i].error, 0);
		ck_assert_uint_eq(sink[i].bytes, 0);
		ck_assert_uint_eq(sink[i].checksum, WORKLOAD_CHECKSUM_INIT);
		snprintf(path, sizeof(path), "%s/sink-%u", sc.dir, i);
		ck_assert(file_matches(&sc, path));
	}
	scratch_remove(&sc);
}
END_TEST

static void count_listening(void *arg, uint16_t port)
{
	(*(int *)arg)++;
}

START_TEST(test_fanout_with_a_missing_input_gives_enoent)
{
	struct fanout_sink_stats sink[2];
	struct fanout_stats stats = { .sink = sink };
	struct fanout_opts opts;
	struct scratch sc;
	struct reactor *r = reactor_new_epoll();
	int64_t before = live_blocks();
	int listened = 0;

	ck_assert_ptr_nonnull(r);
	scratch_make(&sc, 100);
	fanout_file_opts(&opts, &sc, 2);
	opts.input = "/nonexistent/input";
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats),
			 -ENOENT);
	opts.kind = FANOUT_SINK_TCP;            /* fails before listening */
	opts.on_listening = count_listening;
	opts.arg = &listened;
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats),
			 -ENOENT);
	ck_assert_int_eq(listened, 0);
	ck_assert_uint_eq(stats.bytes_read, 0);
	ck_assert_int_eq(live_blocks(), before);
	reactor_free(r);
	scratch_remove(&sc);
}
END_TEST

START_TEST(test_fanout_with_no_sinks_returns_at_once)
{
	struct fanout_stats stats = { .sink = NULL };
	struct fanout_opts opts;
	struct scratch sc;
	struct reactor *r = reactor_new_epoll();
	int listened = 0;

	ck_assert_ptr_nonnull(r);
	scratch_make(&sc, 1000);
	fanout_file_opts(&opts, &sc, 0);
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats), 0);
	ck_assert_uint_eq(stats.bytes_read, 0);
	ck_assert_uint_eq(stats.sinks, 0);
	opts.kind = FANOUT_SINK_TCP;
	opts.on_listening = count_listening;
	opts.arg = &listened;
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats), 0);
	ck_assert_int_eq(listened, 0);
	opts.input = "/nonexistent/input";      /* the input is still checked */
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats),
			 -ENOENT);
	reactor_free(r);
	scratch_remove(&sc);
}
END_TEST

START_TEST(test_fanout_to_a_missing_directory_gives_enoent)
{
	struct fanout_sink_stats sink[2];
	struct fanout_stats stats = { .sink = sink };
	struct fanout_opts opts;
	struct scratch sc;
	struct reactor *r = reactor_new_epoll();
	int64_t before = live_blocks();

	ck_assert_ptr_nonnull(r);
	scratch_make(&sc, 100);
	fanout_file_opts(&opts, &sc, 2);
	opts.output_dir = "/nonexistent/dir";
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &opts, &stats),
			 -ENOENT);
	ck_assert_int_eq(live_blocks(), before);
	reactor_free(r);
	scratch_remove(&sc);
}
END_TEST

/* Subscribers connect one by one; each reads to the end. */
static void connect_subscribers(struct subscriber *sub, unsigned n,
				uint16_t port)
{
	for (unsigned i = 0; i < n; i++) {
		memset(&sub[i], 0, sizeof(sub[i]));
		sub[i].fd = netclient_connect(port);
		ck_assert_int_ge(sub[i].fd, 0);
	}
}

START_TEST(test_fanout_to_tcp_subscribers_reproduces_the_input)
{
	struct subscriber sub[3];
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	uint64_t expect;
	int64_t before = live_blocks();

	scratch_make(&sc, 4 * MiB + 777);
	fanout_file_opts(&opts, &sc, 3);
	expect = workload_checksum(sc.data, sc.size, opts.chunk_size);
	opts.kind = FANOUT_SINK_TCP;
	opts.window = 3;
	start_fanout(&ft, _i, &opts);
	connect_subscribers(sub, 3, ft.port);
	subscribers_read(sub, 3, 30000, opts.chunk_size);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	/* Exactly three subscribers: the listener has been closed. */
	ck_assert_int_eq(netclient_connect(ft.port), -ECONNREFUSED);

	ck_assert_uint_eq(ft.stats.bytes_read, sc.size);
	ck_assert_uint_le(ft.stats.peak_chunks, 3);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert(sub[i].done);
		ck_assert_uint_eq(sub[i].bytes, sc.size);
		ck_assert_uint_eq(sub[i].checksum, expect);
		ck_assert_int_eq(ft.sink[i].error, 0);
		ck_assert_uint_eq(ft.sink[i].bytes, sc.size);
		ck_assert_uint_eq(ft.sink[i].checksum, expect);
		close(sub[i].fd);
	}
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc);
}
END_TEST

/* One subscriber does not read.  Once the kernel buffers are full it
 * stops taking chunks; it is cancelled after the sink timeout and the
 * others get everything.  Its statistics describe a prefix of the input. */
START_TEST(test_fanout_cancels_a_sink_that_does_not_take_its_chunk)
{
	struct subscriber sub[3];
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	uint64_t expect;
	int64_t before = live_blocks();
	int small = 4096, late = -1;

	scratch_make(&sc, 16 * MiB);
	fanout_file_opts(&opts, &sc, 3);
	expect = workload_checksum(sc.data, sc.size, opts.chunk_size);
	opts.kind = FANOUT_SINK_TCP;
	opts.sink_timeout_ns = 200 * CLOCK_NS_PER_MS;
	start_fanout(&ft, _i, &opts);
	connect_subscribers(sub, 3, ft.port);
	setsockopt(sub[2].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	sub[2].done = true;             /* not read for now */
	subscribers_read(sub, 3, 30000, opts.chunk_size);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	/* Now read some of what it was given: with so small a receive
	 * buffer the rest would trickle in for many seconds. */
	sub[2].done = false;
	subscribers_read(&sub[2], 1, 300, opts.chunk_size);

	/* Sinks are numbered in accept order; find the late one by its
	 * error and check every sink against its subscriber by bytes. */
	for (unsigned i = 0; i < 3; i++) {
		if (ft.sink[i].error == -ETIMEDOUT) {
			ck_assert_int_eq(late, -1);
			late = (int)i;
			/* Whole chunks, a prefix of the input; the
			 * subscriber may have got part of the next chunk. */
			ck_assert_uint_lt(ft.sink[i].bytes, sc.size);
			ck_assert_uint_eq(ft.sink[i].bytes % opts.chunk_size, 0);
			ck_assert_uint_eq(ft.sink[i].checksum,
					  workload_checksum(sc.data,
							    ft.sink[i].bytes,
							    opts.chunk_size));
			ck_assert_uint_eq(sub[2].checksum,
					  workload_checksum(sc.data,
							    sub[2].bytes,
							    opts.chunk_size));
		} else {
			ck_assert_int_eq(ft.sink[i].error, 0);
			ck_assert_uint_eq(ft.sink[i].bytes, sc.size);
			ck_assert_uint_eq(ft.sink[i].checksum, expect);
		}
	}
	ck_assert_int_ne(late, -1);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_uint_eq(sub[i].bytes, sc.size);
		ck_assert_uint_eq(sub[i].checksum, expect);
	}
	ck_assert_uint_eq(ft.stats.bytes_read, sc.size);
	ck_assert_uint_le(ft.stats.peak_chunks, opts.window);
	for (unsigned i = 0; i < 3; i++)
		close(sub[i].fd);
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc);
}
END_TEST

/* Subscribers that never read hold the fanout up; a stop cancels every
 * sink, and everything is freed. */
START_TEST(test_fanout_stop_cancels_every_sink)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	struct subscriber sub[2];
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	int64_t before = live_blocks();

	scratch_make(&sc, 16 * MiB);
	fanout_file_opts(&opts, &sc, 2);
	opts.kind = FANOUT_SINK_TCP;
	start_fanout(&ft, _i, &opts);
	connect_subscribers(sub, 2, ft.port);
	nanosleep(&pause, NULL);
	ck_assert_int_eq(fanout_thread_join(&ft, true), 0);

	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(ft.sink[i].error, -ECANCELED);
		ck_assert_uint_lt(ft.sink[i].bytes, sc.size);
		ck_assert_uint_eq(ft.sink[i].bytes % opts.chunk_size, 0);
		ck_assert_uint_eq(ft.sink[i].checksum,
				  workload_checksum(sc.data, ft.sink[i].bytes,
						    opts.chunk_size));
		ck_assert(closed_by_peer_after_data(sub[i].fd));
		close(sub[i].fd);
	}
	ck_assert_uint_le(ft.stats.peak_chunks, opts.window);
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc);
}
END_TEST

/* A stop while waiting for subscribers: every sink is cancelled. */
START_TEST(test_fanout_stop_before_subscribers_cancels_every_sink)
{
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	int64_t before = live_blocks();

	scratch_make(&sc, 1000);
	fanout_file_opts(&opts, &sc, 2);
	opts.kind = FANOUT_SINK_TCP;
	start_fanout(&ft, _i, &opts);
	ck_assert_int_eq(fanout_thread_join(&ft, true), 0);
	ck_assert_uint_eq(ft.stats.bytes_read, 0);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(ft.sink[i].error, -ECANCELED);
		ck_assert_uint_eq(ft.sink[i].bytes, 0);
	}
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc);
}
END_TEST

START_TEST(test_bad_options_give_einval)
{
	struct reactor *r = reactor_new_epoll();
	struct fanout_sink_stats sink[1];
	struct fanout_stats fs = { .sink = sink };
	struct fanout_opts fo;
	struct echo_opts eo;
	struct echo_stats es;
	int64_t before = live_blocks();

	ck_assert_ptr_nonnull(r);
	echo_opts_default(&eo);
	eo.bufsize = 0;
	ck_assert_int_eq(baselines[_i].echo(r, NULL, &eo, &es), -EINVAL);
	fanout_opts_default(&fo);
	fo.input = "/dev/null";
	fo.window = 0;
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &fo, &fs), -EINVAL);
	fo.window = 4;
	fo.chunk_size = 0;
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &fo, &fs), -EINVAL);
	fo.chunk_size = 4096;
	fs.sink = NULL;                 /* one sink, nowhere to report it */
	ck_assert_int_eq(baselines[_i].fanout(r, NULL, &fo, &fs), -EINVAL);
	ck_assert_int_eq(live_blocks(), before);
	reactor_free(r);
}
END_TEST

/* ---- the libraries' allocators, routed to mem (baseline_common.c) -------- */

/* after - before, counter by counter. */
static struct mem_stats delta(const struct mem_stats *before)
{
	struct mem_stats now, d;

	mem_stats_get(&now);
	d.allocs = now.allocs - before->allocs;
	d.frees = now.frees - before->frees;
	d.reallocs = now.reallocs - before->reallocs;
	d.bytes = now.bytes - before->bytes;
	d.failed = now.failed - before->failed;
	d.live_blocks = now.live_blocks - before->live_blocks;
	d.live_bytes = now.live_bytes - before->live_bytes;
	d.peak_live_bytes = now.peak_live_bytes - before->peak_live_bytes;
	return d;
}

/* Runs in its own process (Check forks): routing must come before libuv
 * allocates anything. */
START_TEST(test_libuv_allocations_are_counted_when_routed)
{
	struct mem_stats s0, d;
	uv_loop_t *loop;

	ck_assert_int_eq(baseline__route_libuv(), 0);
	mem_stats_get(&s0);
	loop = uv_loop_new();
	ck_assert_ptr_nonnull(loop);
	d = delta(&s0);
	ck_assert_uint_gt(d.allocs, 0);
	ck_assert_int_gt(d.live_blocks, 0);
	ck_assert_int_ge(d.live_bytes, (int64_t)sizeof(uv_loop_t));
	uv_loop_delete(loop);	/* uv_loop_close + free */
	d = delta(&s0);
	ck_assert_uint_eq(d.frees, d.allocs);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
}
END_TEST

START_TEST(test_libevent_allocations_are_counted_when_routed)
{
	struct mem_stats s0, d;
	struct event_base *base;

	ck_assert_int_eq(baseline__route_libevent(), 0);
	mem_stats_get(&s0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	d = delta(&s0);
	ck_assert_uint_gt(d.allocs, 0);
	ck_assert_int_gt(d.live_blocks, 0);
	event_base_free(base);
	d = delta(&s0);
	ck_assert_uint_eq(d.frees, d.allocs);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
}
END_TEST

/* Leave the io_uring floor out where no ring can be set up, saying why. */
static void drop_uring_if_unusable(void)
{
#ifdef HAVE_LIBURING
	char why[COMPLETION_REASON_MAX];
	struct completion *q;

	if (completion_new_uring(8, &q, why, sizeof why) == 0) {
		completion_free(q);
		return;
	}
	printf("uring: skipped: %s\n", why);
	nbaselines--;
#endif
}

static Suite *make_suite(void)
{
	Suite *s = suite_create("baselines");
	TCase *echo = tcase_create("echo");
	TCase *fanout = tcase_create("fanout");
	TCase *route = tcase_create("route");

	drop_uring_if_unusable();

	tcase_set_timeout(echo, 60);
	tcase_add_loop_test(echo, test_echo_round_trips_16_mib_exactly, 0,
			    2 * NBASELINES);
	tcase_add_loop_test(echo, test_echo_serves_200_concurrent_connections,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo, test_idle_timeout_closes_an_idle_connection,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo, test_idle_timeout_too_long_to_fit_never_closes,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo,
			    test_idle_timeout_spares_a_connection_that_keeps_sending,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo,
			    test_idle_timeout_closes_a_connection_whose_peer_does_not_read,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo, test_max_conns_refuses_the_extra_connection,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo,
			    test_stop_with_live_connections_returns_and_frees_everything,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo, test_port_in_use_gives_eaddrinuse, 0,
			    2 * NBASELINES);
	tcase_add_loop_test(echo,
			    test_out_of_descriptors_sheds_the_connection_and_serves_on,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo,
			    test_echo_on_readiness_an_idle_connection_holds_no_buffer,
			    0, NBASELINES);
	tcase_add_loop_test(echo,
			    test_echo_slow_reader_keeps_only_unsent_bytes_and_loses_none,
			    0, 2 * NBASELINES);
	tcase_add_loop_test(echo, test_echo_half_close_and_reset_at_every_size,
			    0, 2 * NBASELINES);
#ifdef HAVE_LIBURING
	if (NBASELINES == (int)(sizeof(baselines) / sizeof(baselines[0]))) {
		tcase_add_test(echo,
			test_uring_on_readiness_idle_connections_hold_no_ring_buffer);
		tcase_add_test(echo,
			test_uring_on_readiness_a_ring_run_dry_loses_no_byte);
		tcase_add_test(echo,
			test_uring_on_readiness_without_multishot_recv_is_refused);
	}
#endif
	tcase_add_loop_test(echo, test_simulated_reactor_is_refused, 0,
			    NBASELINES);
	tcase_add_loop_test(echo, test_bad_options_give_einval, 0,
			    NBASELINES);
	suite_add_tcase(s, echo);

	tcase_set_timeout(fanout, 60);
	tcase_add_loop_test(fanout,
			    test_fanout_to_three_file_sinks_reproduces_the_input,
			    0, NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_of_an_empty_input_creates_empty_sinks,
			    0, NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_with_a_missing_input_gives_enoent,
			    0, NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_to_a_missing_directory_gives_enoent,
			    0, NBASELINES);
	tcase_add_loop_test(fanout, test_fanout_with_no_sinks_returns_at_once,
			    0, NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_to_tcp_subscribers_reproduces_the_input,
			    0, NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_cancels_a_sink_that_does_not_take_its_chunk,
			    0, NBASELINES);
	tcase_add_loop_test(fanout, test_fanout_stop_cancels_every_sink, 0,
			    NBASELINES);
	tcase_add_loop_test(fanout,
			    test_fanout_stop_before_subscribers_cancels_every_sink,
			    0, NBASELINES);
#if !defined(__SANITIZE_ADDRESS__)
	tcase_add_test(fanout,
		       test_libuv_fanout_without_room_for_its_pool_fails_to_start);
#endif
	suite_add_tcase(s, fanout);

	tcase_add_test(route, test_libuv_allocations_are_counted_when_routed);
	tcase_add_test(route, test_libevent_allocations_are_counted_when_routed);
	suite_add_tcase(s, route);
	return s;
}

#include "testutil.h"
