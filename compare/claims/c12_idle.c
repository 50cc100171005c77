/* c12_idle.c: claim C12, what an idle connection costs.
 *
 * "An idle connection costs a readiness-based server only its state; a
 * server that keeps a read pending must commit a buffer to it."
 *
 * A read that is pending holds its buffer: the kernel (or the engine, at
 * the next edge) writes into it whenever data comes, so the buffer must be
 * there while the connection waits, however long.  A server that waits for
 * readiness instead, and takes a buffer only once the connection is
 * readable, holds nothing but its state for a connection that says nothing.
 * Every engine of the tree can be run both ways (`--buffers conn|ready`):
 *
 *   - conn: every connection owns a read buffer of bufsize bytes, the
 *     pending read's (push, poll, libuv's alloc_cb handing out the
 *     connection's own buffer, the epoll floor); libevent's bufferevent
 *     reads into its evbuffers on readiness even here;
 *   - ready: push reads through push_read_alloc() (libuv's alloc_cb), poll
 *     awaits a readiness future and reads into the server's one buffer,
 *     libuv hands out one loop-wide buffer from alloc_cb, libevent and
 *     epoll read into one loop-wide buffer.
 *
 * The engines over completion I/O (c12_completion[], one line each: the
 * io_uring floor, and push and poll over io_uring where built) turn the
 * claim's second half into its test.  With buffers per connection each
 * keeps a receive in flight, and the kernel owns its buffer until bytes
 * come: a buffer per idle connection.  On readiness the floor keeps a
 * multishot receive, and push a one-shot one (completion_recv_select()),
 * that names a provided buffer ring and no buffer, and the kernel picks a
 * buffer from the ring only when bytes arrive: an idle connection commits
 * none.  The ring itself (128 buffers of bufsize, for both) is
 * allocated once per loop, before the first connection; it is in the heap
 * at both points of the difference, so it is not in the per-connection
 * figure, and the row gives its size beside it (amortised over 10,000
 * connections, 2 MiB is some 210 bytes each).
 *
 * The figure is the live heap per idle connection, counted by mem, measured
 * as a difference: the heap with n1 idle connections minus that with n0,
 * over n1 - n0, every connection having echoed one message first.
 *
 *   - Real loopback, at 10,000 connections: the server runs in a child
 *     process and the connections are made from this one, so that each
 *     process holds one descriptor per connection.  The hard limit of
 *     descriptors per process (20,000 on the machine this was written on,
 *     and it cannot be raised there) bounds that: the soft limit is raised
 *     to the hard one, and a run asks for at most hard - 64 connections.
 *     (Load generator and server in one process, two descriptors each,
 *     would fit (hard - 64) / 2: 9,968.)  The child takes the heap when
 *     asked, once it has stopped changing.
 *   - The simulator, at 1,000,000 connections for push and poll: peers
 *     inside the simulation each send one byte, get it back and stay; the
 *     heap is the peak of the run (the engines allocate as connections
 *     come and free at the shutdown, which quiescence starts), taken for
 *     n0 and n1 connections.  The simulator allocates with malloc, so mem
 *     counts the engine alone, and the runs are deterministic: the figure
 *     is exact and the same at every run.  With buffers per connection the
 *     simulated runs stop at 100,000 connections: a million would hold 16
 *     GiB of buffers, which is the claim, but not what a shared machine
 *     should be asked for.
 *
 * The rule: the claim holds when every engine with buffers on readiness
 * holds less than a quarter of a buffer per idle connection (no buffer:
 * its state only), and the engines that keep a read pending (push, poll,
 * libuv, epoll with buffers per connection, and every completion engine's
 * receive in flight) hold at least a buffer each.
 *
 * Run time: 10 real runs of 10,000 connections (a few seconds each) and 4
 * simulated runs of up to a million (tens of seconds each); --quick: 500
 * real and 20,000 simulated.
 */
#include "config.h"

#include "claims.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines/baselines.h"
#include "container_of.h"
#include "mem.h"
#include "offload.h"
#include "poll.h"
#include "push.h"
#include "sim.h"
#include "workload.h"

const char *const c12_engine_name[C12_NENGINES] = {
	"push", "poll", "libuv", "libevent", "epoll",
};
const char *const c12_mode_name[C12_NMODES] = { "conn", "ready" };

/* "No buffer": less than a quarter of one per idle connection. */
#define C12_NO_BUFFER 0.25

#define C12_REAL_CONNS 10000
#define C12_REAL_BASE 100
#define C12_SIM_CONNS 1000000
#define C12_SIM_CONNS_CONN 100000   /* buffers per connection: see above */
#define C12_SIM_BASE 1000
#define C12_FD_SPARE 64             /* descriptors a process needs besides */
#define C12_CHILD_LIMIT_S 300       /* a server child that hangs is killed */

/* The engines over completion I/O, one line each (claims.h). */
const struct c12_completion_engine c12_completion[] = {
#ifdef HAVE_LIBURING
	{ "uring", uring_echo_serve, uring_echo_ring_bytes },
	/* Over io_uring both engines have both modes: conn, a receive and
	 * its buffer in flight on every connection, as the floor's conn
	 * mode; on readiness a receive from the loop's provided ring, the
	 * floor's size (push.h, K4; poll.h, C7). */
	{ "push/uring", push_echo_serve_completion,
	  push_echo_completion_ring_bytes },
	{ "poll/uring", poll_echo_serve_completion,
	  poll_echo_completion_ring_bytes },
#endif
	{ NULL, NULL, NULL },
};
const int c12_ncompletion = (int)(sizeof(c12_completion) /
				  sizeof(c12_completion[0])) - 1;

static echo_serve_fn c12_serve_fn(int e)
{
	static const echo_serve_fn fn[C12_NENGINES] = {
		push_echo_serve, poll_echo_serve, libuv_echo_serve,
		libevent_echo_serve, epoll_echo_serve,
	};

	return fn[e];
}

/* ---- real loopback ----------------------------------------------------------------- */

/* The live heap once it has stopped changing for 20 ms (at most 2 s): a
 * server re-arms a connection's read just after its echo went out. */
static void c12_settled(int64_t out[2])
{
	struct mem_stats m, prev;
	int still = 0;

	mem_stats_get(&prev);
	for (int i = 0; i < 400 && still < 4; i++) {
		usleep(5000);
		mem_stats_get(&m);
		still = m.live_bytes == prev.live_bytes &&
			m.live_blocks == prev.live_blocks ? still + 1 : 0;
		prev = m;
	}
	out[0] = prev.live_bytes;
	out[1] = prev.live_blocks;
}

/* The raised soft limit of descriptors: the hard one. */
static unsigned c12_raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_max > 1u << 30 ? 1u << 30 : (unsigned)rl.rlim_max;
}

/* The server child: the engine on an epoll reactor; this thread answers
 * the parent.  'm': the settled heap (two int64); 'q': stop and leave. */
struct c12_child {
	struct reactor *r;
	int in, out;
	pthread_t meter;
	bool started;
};

static bool c12_read_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, (char *)buf + got, n - got);
		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

static void *c12_meter(void *arg)
{
	struct c12_child *c = arg;
	int64_t heap[2];
	char cmd;
	ssize_t n;

	while (read(c->in, &cmd, 1) == 1 && cmd == 'm') {
		c12_settled(heap);
		n = write(c->out, heap, sizeof(heap));
		(void)n;                /* a short write reads as a failure */
	}
	reactor_request_stop(c->r);
	return NULL;
}

static void c12_on_listening(void *arg, uint16_t port)
{
	struct c12_child *c = arg;
	ssize_t n = write(c->out, &port, sizeof(port));

	(void)n;
	c->started = pthread_create(&c->meter, NULL, c12_meter, c) == 0;
	if (!c->started)
		reactor_request_stop(c->r);
}

static void c12_child_run(echo_serve_fn fn, int m, int in, int out)
{
	struct c12_child c = { .in = in, .out = out };
	struct echo_stats stats;
	struct echo_opts eo;
	struct offload *o = NULL;
	int rc = -ENOMEM;

	c12_raise_fd_limit();
	c.r = reactor_new_epoll();
	if (c.r != NULL)
		o = offload_new(c.r, 1);
	if (o != NULL) {
		echo_opts_default(&eo);
		eo.buffers = (enum echo_buffers)m;
		eo.on_listening = c12_on_listening;
		eo.arg = &c;
		rc = fn(c.r, o, &eo, &stats);
		if (c.started)
			pthread_join(c.meter, NULL);
	}
	_exit(rc == 0 ? 0 : 1);
}

/* One connection to the child, one message there and back. */
static int c12_connect_ping(uint16_t port)
{
	struct sockaddr_in sa;
	char out = 'i', in = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (reactor_resolve("127.0.0.1", port, &sa) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, &out, 1) != 1 || read(fd, &in, 1) != 1 || in != out) {
		int err = errno != 0 ? -errno : -EIO;
		close(fd);
		return err;
	}
	return fd;
}

/* Ask the child for its settled heap. */
static int c12_ask(int to, int from, int64_t heap[2])
{
	char cmd = 'm';

	if (write(to, &cmd, 1) != 1 || !c12_read_all(from, heap,
						     2 * sizeof(heap[0])))
		return -EIO;
	return 0;
}

int c12_real(int e, int m, unsigned n0, unsigned n1, double *bytes,
	     double *blocks)
{
	return c12_real_fn(c12_serve_fn(e), m, n0, n1, bytes, blocks);
}

int c12_real_fn(echo_serve_fn fn, int m, unsigned n0, unsigned n1,
		double *bytes, double *blocks)
{
	int64_t h0[2], h1[2];
	int to[2], from[2], status, null, err = 0;
	unsigned open_ = 0;
	uint16_t port;
	int *fd;
	pid_t pid;

	if (n1 <= n0)
		return -EINVAL;
	fd = malloc(n1 * sizeof(*fd));
	if (fd == NULL)
		return -ENOMEM;
	if (pipe(to) != 0) {
		free(fd);
		return -errno;
	}
	if (pipe(from) != 0) {
		err = -errno;
		goto out_close_to;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out_close_from;
	}
	if (pid == 0) {
		close(to[1]);
		close(from[0]);
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		alarm(C12_CHILD_LIMIT_S);
		c12_child_run(fn, m, to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	to[0] = from[1] = -1;
	if (!c12_read_all(from[0], &port, sizeof(port))) {
		err = -EIO;
		goto out_reap;
	}
	for (; open_ < n1; open_++) {
		if (open_ == n0 && (err = c12_ask(to[1], from[0], h0)) < 0)
			break;
		fd[open_] = c12_connect_ping(port);
		if (fd[open_] < 0) {
			err = fd[open_];
			break;
		}
	}
	if (err == 0)
		err = c12_ask(to[1], from[0], h1);
	if (err == 0) {
		*bytes = (double)(h1[0] - h0[0]) / (n1 - n0);
		*blocks = (double)(h1[1] - h0[1]) / (n1 - n0);
	}
out_reap:
	/* The server closes first (its stop cancels every connection), so
	 * the TIME_WAIT states are its own, not this process's ports. */
	close(to[1]);
	to[1] = -1;
	waitpid(pid, &status, 0);
	for (unsigned i = 0; i < open_; i++)
		close(fd[i]);
	if (err == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		err = -EIO;
out_close_from:
	if (from[0] >= 0)
		close(from[0]);
	if (from[1] >= 0)
		close(from[1]);
out_close_to:
	if (to[0] >= 0)
		close(to[0]);
	if (to[1] >= 0)
		close(to[1]);
	free(fd);
	return err;
}

/* ---- the simulator ----------------------------------------------------------------- */

/* Peers connect a window at a time: the simulator's agenda is a sorted
 * array, whose every insertion moves what follows it, so a million peers
 * connecting at once would cost a million moves per step.  A timer of
 * virtual time tops the window up every tick; while peers are left to
 * connect it keeps the world from going quiescent (which would shut the
 * server down), and it stops once every peer is in. */
#define C12_SIM_WINDOW 256
#define C12_SIM_TICK_NS 10000

struct c12_sim_world {
	struct reactor *r;
	uint16_t port;
	unsigned n;
	struct sim_peer **peer;         /* n of them, malloc'd */
	struct reactor_timer tick;
	unsigned connected;             /* peers made so far */
	unsigned done;                  /* peers before it have their echo */
	bool failed;                    /* a peer could not be made */
};

/* Every peer sends one byte, reads it back and stays, idle. */
static void c12_sim_top_up(struct reactor_timer *t)
{
	struct c12_sim_world *w = container_of(t, struct c12_sim_world, tick);
	size_t len;

	while (w->done < w->connected &&
	       (sim_peer_received(w->peer[w->done], &len), len == 1))
		w->done++;
	while (w->connected < w->n && w->connected - w->done < C12_SIM_WINDOW) {
		w->peer[w->connected] = sim_peer_connect(w->r, w->port, "i", 1,
							 0);
		if (w->peer[w->connected] == NULL) {
			w->failed = true;
			w->n = w->connected;
			break;
		}
		w->connected++;
	}
	if (w->connected < w->n)
		reactor_timer_start(w->r, &w->tick, C12_SIM_TICK_NS,
				    c12_sim_top_up);
}

static void c12_sim_connect(void *arg, uint16_t port)
{
	struct c12_sim_world *w = arg;

	w->port = port;
	c12_sim_top_up(&w->tick);
}

/* The peak of the live heap of one run with n peers, over the heap before
 * it.  Returns 0 or -errno (-EIO when a peer was not served). */
static int c12_sim_peak(int k, int m, unsigned n, int64_t *peak)
{
	struct c12_sim_world w = { .n = n };
	struct echo_stats st;
	struct echo_opts eo;
	struct sim_config sc;
	struct mem_stats m0, m1;
	int rc;

	sim_config_default(&sc, 1);
	sc.max_handles = 2 * n + C12_FD_SPARE;
	w.peer = malloc(n * sizeof(*w.peer));
	if (w.peer == NULL)
		return -ENOMEM;
	w.r = reactor_new_sim(&sc);
	if (w.r == NULL) {
		free(w.peer);
		return -ENOMEM;
	}
	echo_opts_default(&eo);
	eo.buffers = (enum echo_buffers)m;
	eo.on_listening = c12_sim_connect;
	eo.arg = &w;
	mem_reset_peak();
	mem_stats_get(&m0);
	rc = (k == CLAIMS_PUSH ? push_echo_serve : poll_echo_serve)(w.r, NULL,
								    &eo, &st);
	mem_stats_get(&m1);
	reactor_free(w.r);
	free(w.peer);
	if (rc == 0 && (w.failed || w.connected != n || st.accepted != n ||
			st.bytes != n || m1.live_bytes != m0.live_bytes))
		rc = -EIO;
	*peak = m1.peak_live_bytes - m0.live_bytes;
	return rc;
}

int c12_sim(int k, int m, unsigned n0, unsigned n1, double *bytes)
{
	int64_t p0, p1;
	int rc;

	if (n1 <= n0)
		return -EINVAL;
	rc = c12_sim_peak(k, m, n0, &p0);
	if (rc == 0)
		rc = c12_sim_peak(k, m, n1, &p1);
	if (rc == 0)
		*bytes = (double)(p1 - p0) / (n1 - n0);
	return rc;
}

/* ---- the experiment -------------------------------------------------------------------- */

int c12_measure(const struct claims_ctx *cx, struct c12_figures *f)
{
	struct echo_opts eo;
	unsigned want = cx->quick ? 500 : C12_REAL_CONNS;

	memset(f, 0, sizeof(*f));
	echo_opts_default(&eo);
	f->bufsize = eo.bufsize;
	f->fd_limit = c12_raise_fd_limit();
	f->real_base = cx->quick ? 10 : C12_REAL_BASE;
	f->real_conns = want;
	if (f->fd_limit < want + C12_FD_SPARE) {
		f->real_conns = f->fd_limit > C12_FD_SPARE + f->real_base ?
				f->fd_limit - C12_FD_SPARE : f->real_base + 1;
		claims_say(cx, "C12: %u real connections do not fit under the "
			   "hard limit of %u descriptors per process: %u "
			   "instead", want, f->fd_limit, f->real_conns);
	}
	for (int e = 0; e < C12_NENGINES; e++)
		for (int m = 0; m < C12_NMODES; m++) {
			int rc = c12_real(e, m, f->real_base, f->real_conns,
					  &f->real_bytes[e][m],
					  &f->real_blocks[e][m]);

			f->real_ran[e][m] = rc == 0;
			if (rc == 0)
				claims_say(cx, "C12: %-8s buffers %-5s %.0f "
					   "bytes per idle connection at %u "
					   "real", c12_engine_name[e],
					   c12_mode_name[m],
					   f->real_bytes[e][m], f->real_conns);
			else
				claims_say(cx, "C12: %-8s buffers %-5s did "
					   "not run: %s", c12_engine_name[e],
					   c12_mode_name[m], strerror(-rc));
		}
	f->ncompletion = c12_ncompletion < C12_MAX_COMPLETION ?
			 c12_ncompletion : C12_MAX_COMPLETION;
	for (int i = 0; i < f->ncompletion; i++) {
		const struct c12_completion_engine *ce = &c12_completion[i];

		if (ce->once_bytes != NULL)
			f->comp_once_bytes[i] = (double)ce->once_bytes(
							f->bufsize);
		for (int m = 0; m < C12_NMODES; m++) {
			int rc = c12_real_fn(ce->echo, m, f->real_base,
					     f->real_conns,
					     &f->comp_bytes[i][m],
					     &f->comp_blocks[i][m]);

			f->comp_ran[i][m] = rc == 0;
			if (rc == 0)
				claims_say(cx, "C12: %-8s buffers %-5s %.0f "
					   "bytes per idle connection at %u "
					   "real%s", ce->name, c12_mode_name[m],
					   f->comp_bytes[i][m], f->real_conns,
					   m == C12_READY ?
					   " (its ring: once per loop)" : "");
			else
				claims_say(cx, "C12: %-8s buffers %-5s did "
					   "not run: %s", ce->name,
					   c12_mode_name[m], strerror(-rc));
		}
	}
	f->sim_base = cx->quick ? 100 : C12_SIM_BASE;
	f->sim_conns[C12_CONN] = cx->quick ? 2000 : C12_SIM_CONNS_CONN;
	f->sim_conns[C12_READY] = cx->quick ? 20000 : C12_SIM_CONNS;
	for (int k = 0; k < CLAIMS_NMODELS; k++)
		for (int m = 0; m < C12_NMODES; m++) {
			int rc = c12_sim(k, m, f->sim_base, f->sim_conns[m],
					 &f->sim_bytes[k][m]);

			f->sim_ran[k][m] = rc == 0;
			if (rc == 0)
				claims_say(cx, "C12: %-8s buffers %-5s %.1f "
					   "bytes per idle connection at %u "
					   "simulated", claims_model_name[k],
					   c12_mode_name[m], f->sim_bytes[k][m],
					   f->sim_conns[m]);
			else
				claims_say(cx, "C12: %-8s buffers %-5s over "
					   "the simulator did not run: %s",
					   claims_model_name[k],
					   c12_mode_name[m], strerror(-rc));
		}
	return 0;
}

/* The engines that keep a read pending when each connection owns its
 * buffer: all but libevent, whose bufferevent reads on readiness. */
static bool c12_keeps_a_read_pending(int e)
{
	return e != C12_LIBEVENT;
}

void c12_verdict(const struct c12_figures *f, struct claim_verdict *v)
{
	double limit = C12_NO_BUFFER * (double)f->bufsize;
	unsigned ready = 0, ready_ok = 0, pending = 0, pending_commit = 0;
	double worst_ready = 0, least_pending = 0;
	const char *worst = "", *least = "";

	for (int e = 0; e < C12_NENGINES; e++) {
		if (f->real_ran[e][C12_READY]) {
			double b = f->real_bytes[e][C12_READY];
			ready++;
			ready_ok += b < limit;
			if (b >= worst_ready) {
				worst_ready = b;
				worst = c12_engine_name[e];
			}
		}
		if (f->real_ran[e][C12_CONN] && c12_keeps_a_read_pending(e)) {
			double b = f->real_bytes[e][C12_CONN];
			pending++;
			pending_commit += b >= (double)f->bufsize;
			if (pending == 1 || b < least_pending) {
				least_pending = b;
				least = c12_engine_name[e];
			}
		}
	}
	/* Over completion I/O: a receive in flight commits its buffer; a
	 * multishot receive on a provided ring commits none. */
	for (int i = 0; i < f->ncompletion; i++) {
		const char *name = c12_completion[i].name;

		if (f->comp_ran[i][C12_READY]) {
			double b = f->comp_bytes[i][C12_READY];
			ready++;
			ready_ok += b < limit;
			if (b >= worst_ready) {
				worst_ready = b;
				worst = name;
			}
		}
		if (f->comp_ran[i][C12_CONN]) {
			double b = f->comp_bytes[i][C12_CONN];
			pending++;
			pending_commit += b >= (double)f->bufsize;
			if (pending == 1 || b < least_pending) {
				least_pending = b;
				least = name;
			}
		}
	}
	for (int k = 0; k < CLAIMS_NMODELS; k++) {
		if (f->sim_ran[k][C12_READY]) {
			ready++;
			ready_ok += f->sim_bytes[k][C12_READY] < limit;
		}
		if (f->sim_ran[k][C12_CONN]) {
			pending++;
			pending_commit += f->sim_bytes[k][C12_CONN] >=
					  (double)f->bufsize;
		}
	}
	if (ready == 0 || pending == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED, "no run of %s",
				  ready == 0 ? "buffers on readiness"
					     : "buffers per connection");
		return;
	}
	if (ready_ok == ready && pending_commit == pending)
		claim_verdict_set(v, CLAIM_HOLDS, "on readiness every engine "
				  "holds under %.0f bytes per idle connection "
				  "(most: %s, %.0f); with a read pending at "
				  "least its %zu-byte buffer (least: %s, %.0f)",
				  limit, worst, worst_ready, f->bufsize, least,
				  least_pending);
	else if (ready_ok == 0 && pending_commit == 0)
		claim_verdict_set(v, CLAIM_FAILS, "on readiness %s holds %.0f "
				  "bytes per idle connection, a buffer's worth; "
				  "with a read pending %s holds only %.0f",
				  worst, worst_ready, least, least_pending);
	else
		claim_verdict_set(v, CLAIM_PARTLY, "%u of %u runs on readiness "
				  "hold no buffer (most: %s, %.0f bytes); %u of "
				  "%u with a read pending commit one (least: "
				  "%s, %.0f)", ready_ok, ready, worst,
				  worst_ready, pending_commit, pending, least,
				  least_pending);
}

/* ---- the row ------------------------------------------------------------------------ */

/* "ready R / conn C B per idle conn at N real" for engine e. */
static int c12_real_cell(char *buf, size_t len, const struct c12_figures *f,
			 int e, bool name)
{
	char r[32] = "-", c[32] = "-";

	if (f->real_ran[e][C12_READY])
		snprintf(r, sizeof(r), "%.0f", f->real_bytes[e][C12_READY]);
	if (f->real_ran[e][C12_CONN])
		snprintf(c, sizeof(c), "%.0f", f->real_bytes[e][C12_CONN]);
	return snprintf(buf, len, "%s%sready %s / conn %s B", name ?
			c12_engine_name[e] : "", name ? " " : "", r, c);
}

/* "; uring ready R (+ ring X KiB/loop) / conn C B". */
static int c12_comp_cell(char *buf, size_t len, const struct c12_figures *f,
			 int i)
{
	char r[32] = "-", c[32] = "-", once[64] = "";

	if (f->comp_ran[i][C12_READY])
		snprintf(r, sizeof(r), "%.0f", f->comp_bytes[i][C12_READY]);
	if (f->comp_ran[i][C12_CONN])
		snprintf(c, sizeof(c), "%.0f", f->comp_bytes[i][C12_CONN]);
	if (f->comp_once_bytes[i] > 0)
		snprintf(once, sizeof(once), " (+ ring %.0f KiB/loop)",
			 f->comp_once_bytes[i] / 1024);
	return snprintf(buf, len, "; %s ready %s%s / conn %s B",
			c12_completion[i].name, r, once, c);
}

static void c12_model_cell(char *buf, size_t len, const struct c12_figures *f,
			   int k)
{
	char r[32] = "-", c[32] = "-";
	int n = c12_real_cell(buf, len, f, k == CLAIMS_PUSH ? C12_PUSH
							    : C12_POLL, false);

	if (f->sim_ran[k][C12_READY])
		snprintf(r, sizeof(r), "%.1f", f->sim_bytes[k][C12_READY]);
	if (f->sim_ran[k][C12_CONN])
		snprintf(c, sizeof(c), "%.1f", f->sim_bytes[k][C12_CONN]);
	if (n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " per idle conn at %u real; "
			 "sim: ready %s B at %u, conn %s B at %u",
			 f->real_conns, r, f->sim_conns[C12_READY], c,
			 f->sim_conns[C12_CONN]);
}

int c12_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c12_figures f;
	size_t n = 0;
	int rc;

	rc = c12_measure(cx, &f);
	if (rc < 0)
		return rc;
	c12_verdict(&f, &row->verdict);
	c12_model_cell(row->push, sizeof(row->push), &f, CLAIMS_PUSH);
	c12_model_cell(row->poll, sizeof(row->poll), &f, CLAIMS_POLL);
	for (int e = C12_LIBUV; e < C12_NENGINES &&
	     n < sizeof(row->baselines); e++) {
		if (n > 0)
			n += (size_t)snprintf(row->baselines + n,
					      sizeof(row->baselines) - n, "; ");
		if (n < sizeof(row->baselines))
			n += (size_t)c12_real_cell(row->baselines + n,
						   sizeof(row->baselines) - n,
						   &f, e, true);
	}

	for (int i = 0; i < f.ncompletion && n < sizeof(row->baselines); i++)
		n += (size_t)c12_comp_cell(row->baselines + n,
					   sizeof(row->baselines) - n, &f, i);

	claims_json_begin(cx->json, "figures");
	claims_json_num(cx->json, "bufsize", (double)f.bufsize);
	claims_json_num(cx->json, "fd_hard_limit", f.fd_limit);
	claims_json_num(cx->json, "real_connections", f.real_conns);
	claims_json_num(cx->json, "real_base", f.real_base);
	claims_json_num(cx->json, "sim_base", f.sim_base);
	for (int e = 0; e < C12_NENGINES; e++) {
		claims_json_begin(cx->json, c12_engine_name[e]);
		for (int m = 0; m < C12_NMODES; m++) {
			claims_json_begin(cx->json, c12_mode_name[m]);
			claims_json_bool(cx->json, "real_ran", f.real_ran[e][m]);
			claims_json_num(cx->json, "real_bytes_per_idle_conn",
					f.real_bytes[e][m]);
			claims_json_num(cx->json, "real_blocks_per_idle_conn",
					f.real_blocks[e][m]);
			if (e <= C12_POLL) {
				claims_json_num(cx->json, "sim_connections",
						f.sim_conns[m]);
				claims_json_bool(cx->json, "sim_ran",
						 f.sim_ran[e][m]);
				claims_json_num(cx->json,
						"sim_bytes_per_idle_conn",
						f.sim_bytes[e][m]);
			}
			claims_json_end(cx->json);
		}
		claims_json_end(cx->json);
	}
	for (int i = 0; i < f.ncompletion; i++) {
		claims_json_begin(cx->json, c12_completion[i].name);
		claims_json_num(cx->json, "ready_once_per_loop_bytes",
				f.comp_once_bytes[i]);
		for (int m = 0; m < C12_NMODES; m++) {
			claims_json_begin(cx->json, c12_mode_name[m]);
			claims_json_bool(cx->json, "real_ran", f.comp_ran[i][m]);
			claims_json_num(cx->json, "real_bytes_per_idle_conn",
					f.comp_bytes[i][m]);
			claims_json_num(cx->json, "real_blocks_per_idle_conn",
					f.comp_blocks[i][m]);
			claims_json_end(cx->json);
		}
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
