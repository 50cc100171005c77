/* torture_faults.c: faults on real sockets (epoll backend, loopback only).
 *
 * Each scenario starts the engine's echo server in a process of its own
 * (as `pushpoll serve echo` runs), opens a healthy connection, injects one
 * kind of fault with other connections, then checks that the healthy
 * connection still gets back exactly what it sends, stops the server as
 * SIGTERM does, and checks what the server reports about itself: it
 * returned 0, its connection accounts add up, and its live allocations
 * went back to where they were before it started.
 *
 *   reset     peers that fill the server's send path (they never read) and
 *             then reset, while the server is in the middle of a write
 *   halfclose peers that send, shut down writing, and must still get every
 *             byte back before the server closes
 *   noread    peers that send megabytes and never read: the server's
 *             writes back up; it must go on serving others and cancel them
 *             cleanly at the shutdown
 *   vanish    peers that connect and close at once, half of them by reset
 *   burst     more connections at once than the server has descriptors
 *             (its RLIMIT_NOFILE lowered): it must shed them, not stop
 *             accepting and not spin, and serve again once they are gone
 *
 * Every socket call is bounded: blocking sockets with 5 s timeouts, and
 * the driver's alarm around the whole case.
 */
#include "torture_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "poll.h"
#include "push.h"

enum fault {
	FAULT_RESET,
	FAULT_HALFCLOSE,
	FAULT_NOREAD,
	FAULT_VANISH,
	FAULT_BURST,
};

/* What the server process reports when it ends. */
struct server_report {
	int rc;
	struct echo_stats st;
	int64_t leaked_blocks, leaked_bytes;
};

/* ---- the server process --------------------------------------------------------- */

static struct reactor *server_reactor;

static void server_on_term(int sig)
{
	(void)sig;
	if (server_reactor != NULL)
		reactor_request_stop(server_reactor);
}

struct server_arg {
	int fd;                  /* the pipe back to the client side */
	bool burst;
};

/* Listening: tell the client side the port, and for the burst lower the
 * descriptor limit to a few above what is open now. */
static void server_listening(void *arg, uint16_t port)
{
	struct server_arg *sa = arg;

	if (sa->burst) {
		int probe = dup(0);
		struct rlimit rl;

		if (probe >= 0) {
			close(probe);
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = (rlim_t)probe + 6;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (write(sa->fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
		_exit(4);
}

static _Noreturn void server_main(echo_serve_fn serve, int fd, bool burst)
{
	struct server_arg sa = { .fd = fd, .burst = burst };
	struct server_report rep = { 0 };
	struct echo_opts opts;
	struct mem_stats before, after;
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	act.sa_handler = server_on_term;
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	mem_stats_get(&before);
	server_reactor = reactor_new_epoll();
	if (server_reactor == NULL)
		_exit(5);
	echo_opts_default(&opts);
	opts.on_listening = server_listening;
	opts.arg = &sa;
	rep.rc = serve(server_reactor, NULL, &opts, &rep.st);
	reactor_free(server_reactor);
	server_reactor = NULL;
	mem_stats_get(&after);
	rep.leaked_blocks = after.live_blocks - before.live_blocks;
	rep.leaked_bytes = after.live_bytes - before.live_bytes;
	if (write(fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(6);
	_exit(0);
}

/* ---- the client side ---------------------------------------------------------------- */

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000,
			      .tv_usec = (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A blocking connection to the server, or -errno.  rcvbuf > 0 shrinks the
 * receive buffer first, so that the server's writes back up sooner. */
static int client_connect(uint16_t port, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	set_timeouts(fd, 5000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void close_with_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static bool read_exact(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
	}
	return true;
}

static bool write_all(int fd, const unsigned char *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = send(fd, buf + done, n - done, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		done += (size_t)w;
	}
	return true;
}

/* Send n bytes of stream `id` in 8 KiB messages, each read back before
 * the next is sent; true if every byte came back, in order. */
static bool roundtrip(int fd, uint64_t seed, unsigned id, size_t n)
{
	unsigned char out[8192], in[8192];

	for (size_t off = 0; off < n; off += sizeof(out)) {
		size_t m = n - off < sizeof(out) ? n - off : sizeof(out);
		for (size_t k = 0; k < m; k++)
			out[k] = tt_pattern(seed, id, off + k);
		if (!write_all(fd, out, m) || !read_exact(fd, in, m) ||
		    memcmp(in, out, m) != 0)
			return false;
	}
	return true;
}

/* Fill the connection without reading: send until the kernel refuses
 * more (non-blocking), so that the server's writes back are stuck. */
static size_t flood(int fd, size_t max)
{
	unsigned char buf[65536];
	size_t sent = 0;
	int fl = fcntl(fd, F_GETFL);

	memset(buf, 'x', sizeof(buf));
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	for (int idle = 0; sent < max && idle < 50;) {
		ssize_t w = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			idle = 0;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		poll(NULL, 0, 2);        /* let the server echo some */
		idle++;
	}
	fcntl(fd, F_SETFL, fl);
	return sent;
}

/* The fault itself, beside the healthy connection; returns how many
 * faults it injected.  The peers that must still be open when the server
 * shuts down are left in keep[] (the caller closes them). */
static uint64_t inject(struct torture_case *c, enum fault f, uint16_t port,
		       int healthy, int keep[], unsigned *nkeep)
{
	unsigned char buf[65536];
	uint64_t n = 0;
	int fds[64];
	unsigned nfds = 0;

	switch (f) {
	case FAULT_RESET:
		for (int i = 0; i < 4; i++) {
			int fd = client_connect(port, 4096);
			if (fd < 0)
				continue;
			flood(fd, 8 << 20);
			TT_CHECK(c, roundtrip(healthy, c->seed, 100 + i, 20000),
				 "faults: the healthy connection failed while a "
				 "peer was flooding");
			close_with_reset(fd);
			n++;
		}
		break;
	case FAULT_HALFCLOSE:
		for (unsigned i = 0; i < 4; i++) {
			size_t len = 30000 + 7000 * i, got = 0;
			unsigned char *out = malloc(len), *in = malloc(len + 1);
			int fd = client_connect(port, 0);
			ssize_t r;

			if (out == NULL || in == NULL || fd < 0) {
				free(out);
				free(in);
				if (fd >= 0)
					close(fd);
				continue;
			}
			tt_fill(out, len, c->seed, 200 + i);
			TT_CHECK(c, write_all(fd, out, len), "faults: sending "
				 "before the half-close failed");
			shutdown(fd, SHUT_WR);
			while (got <= len &&
			       (r = read(fd, in + got, len + 1 - got)) > 0)
				got += (size_t)r;
			TT_CHECK(c, got == len && memcmp(in, out, len) == 0,
				 "faults: a half-closed peer got %zu of its %zu "
				 "bytes back before the close", got, len);
			close(fd);
			free(out);
			free(in);
			n++;
		}
		break;
	case FAULT_NOREAD:
		for (int i = 0; i < 2; i++) {
			int fd = client_connect(port, 4096);
			if (fd < 0)
				continue;
			flood(fd, 4 << 20);
			keep[(*nkeep)++] = fd;
			n++;
		}
		TT_CHECK(c, roundtrip(healthy, c->seed, 300, 100000),
			 "faults: the healthy connection failed beside peers "
			 "that stopped reading");
		break;                   /* left open: the shutdown cancels them */
	case FAULT_VANISH:
		for (int i = 0; i < 24; i++) {
			int fd = client_connect(port, 0);
			if (fd < 0)
				continue;
			if (i % 3 == 2) {
				memset(buf, 'v', 100);
				(void)!write(fd, buf, 100);
			}
			if (i % 2)
				close_with_reset(fd);
			else
				close(fd);
			n++;
		}
		break;
	case FAULT_BURST:
		for (int i = 0; i < 40; i++) {
			int fd = client_connect(port, 0);
			if (fd >= 0)
				fds[nfds++] = fd;
		}
		/* Each says one byte; the ones the server shed see a close. */
		for (unsigned i = 0; i < nfds; i++) {
			(void)!send(fds[i], "b", 1, MSG_NOSIGNAL);
			set_timeouts(fds[i], 300);
			(void)!read(fds[i], buf, 1);
		}
		n = nfds;
		break;
	}
	while (nfds > 0)
		close(fds[--nfds]);
	TT_CHECK(c, roundtrip(healthy, c->seed, 400, 50000),
		 "faults: the healthy connection failed after the fault");
	if (f == FAULT_BURST) {
		/* Once they are gone, new connections are served again. */
		int fd = client_connect(port, 0);
		TT_CHECK(c, fd >= 0 && roundtrip(fd, c->seed, 401, 20000),
			 "faults: a new connection after the burst was not "
			 "served");
		if (fd >= 0)
			close(fd);
	}
	return n;
}

static void fault_run(struct torture_case *c, echo_serve_fn serve,
		      enum fault f)
{
	int to_client[2];
	struct server_report rep;
	uint16_t port;
	pid_t pid;
	int healthy, status, keep[4];
	unsigned nkeep = 0;

	if (pipe(to_client) != 0) {
		torture__fail(c, "faults: pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		torture__fail(c, "faults: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(to_client[0]);
		server_main(serve, to_client[1], f == FAULT_BURST);
	}
	close(to_client[1]);
	if (!read_exact(to_client[0], (unsigned char *)&port, sizeof(port))) {
		torture__fail(c, "faults: the server did not start");
		goto out_reap;
	}
	healthy = client_connect(port, 0);
	TT_CHECK(c, healthy >= 0 && roundtrip(healthy, c->seed, 1, 30000),
		 "faults: the healthy connection failed before the fault");
	if (healthy >= 0) {
		c->faults = inject(c, f, port, healthy, keep, &nkeep);
		close(healthy);
	}
	kill(pid, SIGTERM);
	if (!read_exact(to_client[0], (unsigned char *)&rep, sizeof(rep))) {
		torture__fail(c, "faults: the server died or hung after the "
			      "fault");
		goto out_reap;
	}
	TT_CHECK(c, rep.rc == 0, "faults: the server returned %d", rep.rc);
	TT_CHECK(c, rep.leaked_blocks == 0 && rep.leaked_bytes == 0,
		 "faults: the server leaked %lld blocks, %lld bytes",
		 (long long)rep.leaked_blocks, (long long)rep.leaked_bytes);
	TT_CHECK(c, rep.st.accepted == rep.st.closed + rep.st.timed_out +
		 rep.st.failed + rep.st.cancelled,
		 "faults: %llu accepted but %llu accounted for",
		 (unsigned long long)rep.st.accepted,
		 (unsigned long long)(rep.st.closed + rep.st.timed_out +
				      rep.st.failed + rep.st.cancelled));
	if (f == FAULT_BURST)
		TT_CHECK(c, rep.st.accept_errors > 0, "faults: the burst never "
			 "ran the server out of descriptors");
	if (f == FAULT_RESET)
		TT_CHECK(c, rep.st.failed >= 1, "faults: no reset peer was "
			 "counted as failed");
	if (f == FAULT_NOREAD)
		TT_CHECK(c, rep.st.cancelled >= 1, "faults: the peers that "
			 "stopped reading were not cancelled by the shutdown");

out_reap:
	while (nkeep > 0)
		close(keep[--nkeep]);
	kill(pid, SIGKILL);
	close(to_client[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* One function per (engine, fault), for the table. */
#define FAULT_SCENARIO(name, serve, f)                                      \
	static void name(struct torture_case *c) { fault_run(c, serve, f); }

FAULT_SCENARIO(reset_push, push_echo_serve, FAULT_RESET)
FAULT_SCENARIO(reset_poll, poll_echo_serve, FAULT_RESET)
FAULT_SCENARIO(halfclose_push, push_echo_serve, FAULT_HALFCLOSE)
FAULT_SCENARIO(halfclose_poll, poll_echo_serve, FAULT_HALFCLOSE)
FAULT_SCENARIO(noread_push, push_echo_serve, FAULT_NOREAD)
FAULT_SCENARIO(noread_poll, poll_echo_serve, FAULT_NOREAD)
FAULT_SCENARIO(vanish_push, push_echo_serve, FAULT_VANISH)
FAULT_SCENARIO(vanish_poll, poll_echo_serve, FAULT_VANISH)
FAULT_SCENARIO(burst_push, push_echo_serve, FAULT_BURST)
FAULT_SCENARIO(burst_poll, poll_echo_serve, FAULT_BURST)

const struct torture_scenario torture__fault_scenarios[] = {
	{ "reset", TORTURE_PUSH, TORTURE_FAULTS, 0, reset_push },
	{ "reset", TORTURE_POLL, TORTURE_FAULTS, 0, reset_poll },
	{ "halfclose", TORTURE_PUSH, TORTURE_FAULTS, 0, halfclose_push },
	{ "halfclose", TORTURE_POLL, TORTURE_FAULTS, 0, halfclose_poll },
	{ "noread", TORTURE_PUSH, TORTURE_FAULTS, 0, noread_push },
	{ "noread", TORTURE_POLL, TORTURE_FAULTS, 0, noread_poll },
	{ "vanish", TORTURE_PUSH, TORTURE_FAULTS, 0, vanish_push },
	{ "vanish", TORTURE_POLL, TORTURE_FAULTS, 0, vanish_poll },
	{ "burst", TORTURE_PUSH, TORTURE_FAULTS, 0, burst_push },
	{ "burst", TORTURE_POLL, TORTURE_FAULTS, 0, burst_poll },
	{ NULL, 0, 0, 0, NULL },
};
