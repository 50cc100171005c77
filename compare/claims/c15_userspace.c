/* c15_userspace.c: claim C15, what an allocation weighs when I/O is cheap.
 *
 * "With a user-space network stack an I/O operation costs hundreds of
 * nanoseconds, and an allocation is a good chunk of that."
 *
 * Over loopback through the kernel an echo round trip costs microseconds of
 * system time, and push's two allocations per message vanish in it (C11).
 * The simulated reactor is a user-space stack in all but name: its reads and
 * writes are function calls that copy bytes between in-memory streams, with
 * no system call.  So the experiment is the same echo exchange on both:
 *
 *   - a client of its own (below), which sends C15_MSG bytes, waits for
 *     them to come back, and sends the next, on one connection, through
 *     the echo server of each engine: push as it comes, push-pooled,
 *     push with its fast path, and poll;
 *   - instructions per round trip, on sim and over loopback, counted by
 *     valgrind's callgrind in a child process running this binary's
 *     hidden --callgrind-echo mode, and split by where they execute
 *     (c15_split(), the parts in claims.h): the engine, mem's counting,
 *     the C library's malloc and free beneath it, the reactor and the
 *     simulated network; the client and the simulator's trace are left
 *     out of the server's cost;
 *   - natively: wall ns per round trip on sim (server, client and network
 *     in one thread: the price of an instruction there), allocations per
 *     round trip, and over loopback the server thread's user and system
 *     time per message under the bench's load (loadgen.h) in another
 *     thread.
 *
 * Splitting mem_alloc() and mem_free() into their own instructions and the
 * malloc() and free() they call says how much of the allocation cost is the
 * measuring itself, so that the share the rule decides on is the C
 * library's allocation alone, as an engine without the counting layer
 * would pay it.
 *
 * Run time: 8 callgrind children of 550 round trips each (under a second
 * each), 5 x 4 native runs of 100000 simulated round trips (tens of ms
 * each), and 4 loopback runs of 0.6 s: about ten seconds; --quick runs
 * fewer round trips and shorter loads.
 */
#include "config.h"      /* first: _GNU_SOURCE, for RUSAGE_THREAD */

#include "claims.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"
#include "bench/loadgen.h"
#include "mem.h"
#include "poll.h"
#include "push.h"
#include "sim.h"
#include "sim_core.h"      /* C15_TRACE_FN */

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define C15_HAVE_CALLGRIND 1
#endif
#endif

/* "A good chunk": a tenth of the server's cost of a round trip or more. */
#define C15_CHUNK 0.10
/* "Hundreds of nanoseconds": an I/O operation (half a round trip: the
 * server's read and its write) under a microsecond. */
#define C15_OP_NS 1000.0

const char *const c15_engine_name[C15_NENGINES] = {
	"push", "push-pooled", "push-fast", "poll",
};
const char *const c15_backend_name[C15_NBACKENDS] = { "sim", "loopback" };
const char *const c15_part_name[C15_NPARTS] = {
	"engine", "counting", "malloc", "io", "other", "client", "trace",
};

double c15_server_instr(const struct c15_figures *f, int b, int e)
{
	double s = 0;

	for (int p = 0; p < C15_NPARTS; p++)
		if (p != C15_CLIENT && p != C15_TRACE)
			s += f->instr[b][e][p];
	return s;
}

/* Every instruction of the measured round trips, per round trip. */
static double c15_all_instr(const struct c15_figures *f, int b, int e)
{
	double s = 0;

	for (int p = 0; p < C15_NPARTS; p++)
		s += f->instr[b][e][p];
	return s;
}

/* The share of the server's round trip spent in malloc and free, with
 * mem's counting taken out of both sides: what it would be without the
 * measuring. */
static double c15_malloc_share(const struct c15_figures *f, int b, int e)
{
	double rest = c15_server_instr(f, b, e) - f->instr[b][e][C15_COUNTING];

	return rest > 0 ? f->instr[b][e][C15_MALLOC] / rest : 0;
}

/* The same share with the counting counted, as the engines run here. */
static double c15_alloc_share(const struct c15_figures *f, int b, int e)
{
	double all = c15_server_instr(f, b, e);

	return all > 0 ? (f->instr[b][e][C15_MALLOC] +
			  f->instr[b][e][C15_COUNTING]) / all : 0;
}

/* ns per instruction, read on the simulator: the exchanges' wall time
 * over all their instructions (server, client and trace), every engine
 * together, so that one price holds for every bar of the plot.  The same
 * code runs over loopback, so its user-space instructions are priced at
 * this rate there too (getrusage's split between user and system time is
 * sampled at the timer tick, too coarse for a user share of a few per
 * cent). */
static double c15_ns_per_instr(const struct c15_figures *f)
{
	double ns = 0, instr = 0;

	for (int e = 0; e < C15_NENGINES; e++) {
		ns += f->sim_ns[e];
		instr += c15_all_instr(f, C15_SIM, e);
	}
	return instr > 0 ? ns / instr : 0;
}

/* The server's ns per I/O operation on sim: its instructions per round
 * trip at that price, halved (a read and a write). */
static double c15_op_ns(const struct c15_figures *f, int e)
{
	return c15_server_instr(f, C15_SIM, e) * c15_ns_per_instr(f) / 2;
}

/* Over loopback, the server's user-space ns per message (its instructions
 * at the simulator's rate) and the rest of its CPU time: the kernel's. */
static double c15_user_est_ns(const struct c15_figures *f, int e)
{
	return c15_server_instr(f, C15_LOOPBACK, e) * c15_ns_per_instr(f);
}

static double c15_kernel_ns(const struct c15_figures *f, int e)
{
	double k = f->user_ns[e] + f->sys_ns[e] - c15_user_est_ns(f, e);

	return k > 0 ? k : 0;
}

/* Over loopback, malloc and free's share of the server's CPU time per
 * message (user and system). */
static double c15_loopback_share(const struct c15_figures *f, int e)
{
	double cpu = f->user_ns[e] + f->sys_ns[e];

	if (cpu <= 0)
		return 0;
	return f->instr[C15_LOOPBACK][e][C15_MALLOC] *
	       c15_ns_per_instr(f) / cpu;
}

/* The rule, on push as it comes (the engine that allocates per operation),
 * under sim.  Without instructions it is not measured.  The allocation's
 * share is malloc and free's instructions over the server's, mem's counting
 * taken out of both (c15_malloc_share()).  Under C15_CHUNK it does not
 * hold: the allocation is not a good chunk even with no system call.  At
 * or over it, it holds when an I/O operation on the simulator costs under
 * C15_OP_NS, and holds only in part when it costs more (the allocation
 * weighs, but the operation is not one of hundreds of nanoseconds here).
 * The reason gives the counted share, the share over loopback for
 * contrast, and what pooling saves. */
void c15_verdict(const struct c15_figures *f, struct claim_verdict *v)
{
	double share, counted, loop, op;

	if (f->instr_status == C15_NO_VALGRIND) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "valgrind missing (apt-get install valgrind)");
		return;
	}
	if (f->instr_status != C15_COUNTED ||
	    c15_server_instr(f, C15_SIM, C15_PUSH) <= 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "callgrind did not run (a sanitizer build "
				  "cannot run under valgrind)");
		return;
	}
	share = c15_malloc_share(f, C15_SIM, C15_PUSH);
	counted = c15_alloc_share(f, C15_SIM, C15_PUSH);
	loop = c15_loopback_share(f, C15_PUSH);
	op = c15_op_ns(f, C15_PUSH);
	if (share < C15_CHUNK)
		claim_verdict_set(v, CLAIM_FAILS,
			"on the simulator malloc and free are %.1f%% of push's "
			"%.0f instructions per round trip (%.1f%% with mem's "
			"counting), under the %.0f%% of a good chunk",
			100 * share, c15_server_instr(f, C15_SIM, C15_PUSH),
			100 * counted, 100 * C15_CHUNK);
	else if (op >= C15_OP_NS)
		claim_verdict_set(v, CLAIM_PARTLY,
			"the allocation weighs: malloc and free are %.1f%% of "
			"push's round trip on the simulator (%.1f%% over "
			"loopback); but an I/O operation there costs %.0f ns, "
			"not hundreds", 100 * share, 100 * loop, op);
	else
		claim_verdict_set(v, CLAIM_HOLDS,
			"on the simulator an I/O operation costs push %.0f ns "
			"and malloc and free are %.1f%% of its %.0f "
			"instructions per round trip (%.1f%% with mem's "
			"counting, whose bookkeeping is %.0f of them); over "
			"loopback %.1f%% of %.1f us; pooled requests save "
			"%.0f instructions", op, 100 * share,
			c15_server_instr(f, C15_SIM, C15_PUSH), 100 * counted,
			f->instr[C15_SIM][C15_PUSH][C15_COUNTING], 100 * loop,
			(f->user_ns[C15_PUSH] + f->sys_ns[C15_PUSH]) / 1000,
			c15_server_instr(f, C15_SIM, C15_PUSH) -
				c15_server_instr(f, C15_SIM, C15_PUSH_POOLED));
}

/* ---- the client ------------------------------------------------------------------ */
/*
 * One connection, one message in flight: write C15_MSG bytes, read them
 * back, check them, again.  It is written on the bare reactor, the same for
 * every engine, and lives in the server's loop: its callback runs inside
 * the engine's reactor_poll().  At the end it closes and asks the reactor
 * to stop.
 */

struct c15_client {
	struct reactor_io io;        /* first: the callback's argument */
	struct reactor *r;           /* the server's, and so the client's */
	int fd;
	bool connected, finished;
	bool callgrind;              /* zero and dump callgrind's counters */
	size_t sent, got;            /* of the message in flight */
	unsigned done, warmup, trips;
	int error;
	uint64_t t0, t1;             /* the measured round trips, ns */
	struct mem_stats m0, m1;
	unsigned char msg[C15_MSG], buf[C15_MSG];
};

static void client_finish(struct c15_client *c, int error)
{
	if (c->finished)
		return;
	c->finished = true;
	c->error = error;
	reactor_io_stop(c->r, &c->io);
	reactor_close(c->r, c->fd);
	reactor_request_stop(c->r);
}

/* A round trip came back: start measuring, or stop. */
static bool client_trip_done(struct c15_client *c)
{
	c->done++;
	if (c->done == c->warmup) {
#ifdef C15_HAVE_CALLGRIND
		if (c->callgrind)
			CALLGRIND_ZERO_STATS;
#endif
		mem_stats_get(&c->m0);
		c->t0 = clock_now_ns();
	}
	if (c->done < c->warmup + c->trips)
		return false;
#ifdef C15_HAVE_CALLGRIND
	if (c->callgrind)
		CALLGRIND_DUMP_STATS_AT("echo");
#endif
	c->t1 = clock_now_ns();
	mem_stats_get(&c->m1);
	client_finish(c, 0);
	return true;
}

/* Move the exchange on until it has to wait. */
static void client_step(struct c15_client *c)
{
	while (!c->finished) {
		ssize_t n;

		if (c->sent < C15_MSG) {
			c->msg[0] = (unsigned char)c->done;
			n = reactor_write(c->r, c->fd, c->msg + c->sent,
					  C15_MSG - c->sent);
			if (n == -EAGAIN)
				return;
			if (n < 0)
				client_finish(c, (int)n);
			else
				c->sent += (size_t)n;
			continue;
		}
		n = reactor_io_read(c->r, &c->io, c->buf + c->got,
				    C15_MSG - c->got);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			client_finish(c, n == 0 ? -EPIPE : (int)n);
			return;
		}
		c->got += (size_t)n;
		if (c->got < C15_MSG)
			continue;
		if (memcmp(c->buf, c->msg, C15_MSG) != 0) {
			client_finish(c, -EIO);
			return;
		}
		c->sent = c->got = 0;
		if (client_trip_done(c))
			return;
	}
}

static void client_on_io(struct reactor_io *io, unsigned events)
{
	struct c15_client *c = (struct c15_client *)io;   /* io is first */

	(void)events;
	if (!c->connected) {
		int rc = reactor_connect_result(c->r, c->fd);

		if (rc == -EINPROGRESS || rc == -EAGAIN)
			return;
		if (rc < 0) {
			client_finish(c, rc);
			return;
		}
		c->connected = true;
	}
	client_step(c);
}

static int client_start(struct c15_client *c, uint16_t port)
{
	int rc;

	c->fd = reactor_connect(c->r, "127.0.0.1", port);
	if (c->fd < 0)
		return c->fd;
	rc = reactor_io_start(c->r, &c->io, c->fd, client_on_io);
	if (rc < 0)
		reactor_close(c->r, c->fd);
	return rc;
}

/* ---- one exchange ------------------------------------------------------------------ */

/* The server listens: start the client in its loop. */
static void c15_on_listening(void *arg, uint16_t port)
{
	struct c15_client *c = arg;

	c->error = client_start(c, port);
	if (c->error < 0) {
		c->finished = true;
		reactor_request_stop(c->r);
	}
}

static const echo_serve_fn c15_serve[C15_NENGINES] = {
	push_echo_serve, push_echo_serve, push_echo_serve, poll_echo_serve,
};

/* Set the push policy of engine e; returns the one it replaces. */
static struct push_config c15_policy(int e)
{
	struct push_config saved = push_config_get(), p = saved;

	p.pooled = e == C15_PUSH_POOLED;
	p.fast_path = e == C15_PUSH_FAST;
	push_config_set(&p);
	return saved;
}

static int c15_exchange(int e, int b, bool callgrind, unsigned warmup,
			unsigned trips, struct c15_trips *out)
{
	struct c15_client c = { .fd = -1 };
	struct push_config saved;
	struct echo_stats stats;
	struct echo_opts eo;
	struct sim_config sc;
	struct reactor *r;
	int rc;

	memset(out, 0, sizeof(*out));
	if (e < 0 || e >= C15_NENGINES || b < 0 || b >= C15_NBACKENDS ||
	    warmup == 0 || trips == 0)
		return -EINVAL;
	sim_config_default(&sc, 1);
	r = b == C15_SIM ? reactor_new_sim(&sc) : reactor_new_epoll();
	if (r == NULL)
		return -ENOMEM;
	c.r = r;
	c.callgrind = callgrind;
	c.warmup = warmup;
	c.trips = trips;
	c.error = -EIO;           /* until the client has finished */
	memset(c.msg, 'x', sizeof(c.msg));
	echo_opts_default(&eo);
	eo.on_listening = c15_on_listening;
	eo.arg = &c;
	saved = c15_policy(e);
	rc = c15_serve[e](r, NULL, &eo, &stats);
	push_config_set(&saved);
	reactor_free(r);
	if (rc == 0 && (!c.finished || c.error != 0 ||
			c.done != warmup + trips))
		rc = c.error < 0 ? c.error : -EIO;
	if (rc < 0)
		return rc;
	out->allocs = (double)(c.m1.allocs - c.m0.allocs) / trips;
	out->ns = (double)(c.t1 - c.t0) / trips;
	return 0;
}

int c15_echo(int e, int b, unsigned warmup, unsigned trips,
	     struct c15_trips *out)
{
	return c15_exchange(e, b, false, warmup, trips, out);
}

/* ---- loopback under the bench's load ------------------------------------------------ */
/*
 * The server in this thread, the load generator of `pushpoll bench` in
 * another (closed loop, C15_MSG-byte messages), and the server thread's own
 * user and system time (getrusage(RUSAGE_THREAD)) over the whole serve,
 * divided by every message it echoed: the load generator's time is not in
 * it, and an idle server costs none.
 */

struct c15_load {
	struct loadgen_opts lo;
	struct loadgen_result *res;
	struct reactor *r;
	pthread_t thread;
	bool started;
	int rc;
};

static void *c15_load_run(void *arg)
{
	struct c15_load *ld = arg;

	ld->rc = loadgen_echo(&ld->lo, ld->res);
	reactor_request_stop(ld->r);
	return NULL;
}

static void c15_load_on_listening(void *arg, uint16_t port)
{
	struct c15_load *ld = arg;

	ld->lo.port = port;
	ld->started = pthread_create(&ld->thread, NULL, c15_load_run, ld) == 0;
	if (!ld->started)
		reactor_request_stop(ld->r);
}

static double rusage_ns(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e9 + (double)tv->tv_usec * 1e3;
}

static int c15_loopback_cpu(const struct claims_ctx *cx, int e,
			    double *user_ns, double *sys_ns)
{
	struct c15_load ld = { .rc = -1 };
	struct push_config saved;
	struct rusage ru0, ru1;
	struct echo_stats stats;
	struct echo_opts eo;
	double msgs;
	int rc = -ENOMEM;

	ld.res = calloc(1, sizeof(*ld.res));
	if (ld.res == NULL)
		return -ENOMEM;
	ld.r = reactor_new_epoll();
	if (ld.r == NULL)
		goto out_free_result;
	ld.lo = (struct loadgen_opts){
		.host = "127.0.0.1",
		.conns = cx->quick ? 10 : 50,
		.depth = 1,
		.msg_size = C15_MSG,
		.warmup_ns = 100 * CLOCK_NS_PER_MS,
		.duration_ns = (cx->quick ? 200 : 500) * CLOCK_NS_PER_MS,
	};
	echo_opts_default(&eo);
	eo.on_listening = c15_load_on_listening;
	eo.arg = &ld;
	saved = c15_policy(e);
	getrusage(RUSAGE_THREAD, &ru0);
	rc = c15_serve[e](ld.r, NULL, &eo, &stats);
	getrusage(RUSAGE_THREAD, &ru1);
	push_config_set(&saved);
	if (ld.started)
		pthread_join(ld.thread, NULL);
	msgs = (double)stats.bytes / C15_MSG;
	if (rc == 0 && (ld.rc != 0 || msgs < 1))
		rc = -EIO;
	if (rc == 0) {
		*user_ns = (rusage_ns(&ru1.ru_utime) -
			    rusage_ns(&ru0.ru_utime)) / msgs;
		*sys_ns = (rusage_ns(&ru1.ru_stime) -
			   rusage_ns(&ru0.ru_stime)) / msgs;
	}
	reactor_free(ld.r);
out_free_result:
	free(ld.res);
	return rc;
}

/* ---- callgrind ------------------------------------------------------------------------ */

#define C15_CG_WARMUP 50

static int c15_find(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

int c15_callgrind_child(int argc, char **argv)
{
#ifdef C15_HAVE_CALLGRIND
	struct c15_trips t;
	int e, b;

	if (argc != 4)
		cli_usage_error("--callgrind-echo wants ENGINE BACKEND TRIPS");
	e = c15_find(c15_engine_name, C15_NENGINES, argv[1]);
	b = c15_find(c15_backend_name, C15_NBACKENDS, argv[2]);
	if (e < 0 || b < 0)
		cli_usage_error("--callgrind-echo: unknown engine '%s' or "
				"backend '%s'", argv[1], argv[2]);
	return c15_exchange(e, b, true, C15_CG_WARMUP,
			    (unsigned)cli_uint("TRIPS", argv[3], 1, 1000000),
			    &t) == 0 ? 0 : EXIT_MEASURED_FAILURE;
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "pushpoll: built without valgrind/callgrind.h\n");
	return EXIT_USAGE;
#endif
}

/* Which part a function belongs to, from its object, its source file and
 * its name; -1 for a shared library's.  Of this file, only the client's
 * functions (client_*) are the client: the rest runs the server. */
static int part_of(const char *ob, const char *file, const char *fn)
{
	const char *base = strrchr(file, '/');

	if (strstr(ob, ".so") != NULL)
		return -1;
	base = base != NULL ? base + 1 : file;
	if (strcmp(base, "mem.c") == 0)
		return C15_COUNTING;
	if (strncmp(base, "reactor", 7) == 0 || strncmp(base, "sim", 3) == 0)
		return C15_IO;
	if (strstr(file, "push/") != NULL || strstr(file, "poll/") != NULL)
		return C15_ENGINE;
	if (strncmp(base, "c15_", 4) == 0 && strncmp(fn, "client_", 7) == 0)
		return C15_CLIENT;
	return C15_OTHER;
}

/* The function of the simulator's event core that formats and hashes each
 * step's trace line (shared/sim_core.c), by name, as callgrind names it.
 * The pointer below ties the name to the function: renamed, it no longer
 * builds, where a string alone would silently count the trace as I/O. */
#define C15_TRACE_FN "sim__step_record"
static void (*const c15_trace_fn)(struct sim_core *, const char *, ...)
	__attribute__((unused)) = sim__step_record;

/* Whether a function is the simulator's trace: C15_TRACE_FN, or a copy of
 * it the compiler made (.part.0, .isra.0...). */
static bool is_trace(const char *fn)
{
	size_t n = strlen(C15_TRACE_FN);

	return strncmp(fn, C15_TRACE_FN, n) == 0 &&
	       (fn[n] == '\0' || fn[n] == '.');
}

/* The cost on a cost line ("LINE COST"), or -1. */
static double cost_of(const char *line)
{
	char *end;
	double v;

	strtod(line, &end);        /* the position */
	if (end == line)
		return -1;
	v = strtod(end, &end);
	return v;
}

/* A key's value: "key=value\n" -> a copy of value into buf. */
static void value_of(const char *line, size_t keylen, char *buf, size_t len)
{
	snprintf(buf, len, "%s", line + keylen);
	buf[strcspn(buf, "\n")] = '\0';
}

/* Callgrind's format: "ob=", "fl=" and "fn=" name the object, file and
 * function the cost lines after them belong to ("fi="/"fe=": code inlined
 * from another file, still the same function); "cob=", "cfi=" (or "cfl=")
 * and "cfn=" name a callee, "calls=" says a call follows, and the cost
 * line after it is the callee's inclusive cost.  A callee's object and
 * file default to the current ones.  A call's whole cost is moved to the
 * client's part when the client made it, to the trace's when it is a call
 * of the trace (C15_TRACE_FN); the simulator makes those only while it delivers a step,
 * never inside a call of the client's.  The calls in progress when the
 * counters were zeroed leave a fixed few hundred instructions unmatched
 * (about 900 here), so C15_OTHER can come out slightly negative: about 2
 * per round trip over the 500 that c15_measure() counts. */
int c15_split(FILE *f, double part[C15_NPARTS], double *total)
{
	/* Names as long as the longest line, so none is cut. */
	char line[4096], ob[4096] = "", fl[4096] = "", cur[4096] = "";
	char cob[4096] = "", cfi[4096] = "", cfn[4096] = "";
	double sum = 0, before = 0;
	int fn = -1;
	bool call = false, header = false;

	*total = -1;
	for (int p = 0; p < C15_NPARTS; p++)
		before += part[p];
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "events:", 7) == 0) {
			header = true;
		} else if (strncmp(line, "summary:", 8) == 0 ||
			   strncmp(line, "totals:", 7) == 0) {
			if (*total < 0)
				*total = strtod(strchr(line, ':') + 1, NULL);
		} else if (strncmp(line, "ob=", 3) == 0) {
			value_of(line, 3, ob, sizeof(ob));
		} else if (strncmp(line, "fl=", 3) == 0) {
			value_of(line, 3, fl, sizeof(fl));
			snprintf(cur, sizeof(cur), "%s", fl);
		} else if (strncmp(line, "fi=", 3) == 0 ||
			   strncmp(line, "fe=", 3) == 0) {
			value_of(line, 3, cur, sizeof(cur));
		} else if (strncmp(line, "fn=", 3) == 0) {
			fn = part_of(ob, fl, line + 3);
			snprintf(cur, sizeof(cur), "%s", fl);
		} else if (strncmp(line, "cob=", 4) == 0) {
			value_of(line, 4, cob, sizeof(cob));
		} else if (strncmp(line, "cfi=", 4) == 0 ||
			   strncmp(line, "cfl=", 4) == 0) {
			value_of(line, 4, cfi, sizeof(cfi));
		} else if (strncmp(line, "cfn=", 4) == 0) {
			value_of(line, 4, cfn, sizeof(cfn));
		} else if (strncmp(line, "calls=", 6) == 0) {
			call = true;
		} else if (isdigit((unsigned char)line[0]) ||
			   line[0] == '+' || line[0] == '-' || line[0] == '*') {
			double c = cost_of(line);
			int callee;

			if (c < 0 || fn < 0) {
				/* a library's own cost: in its caller's */
			} else if (!call) {
				part[fn] += c;
			} else {
				callee = part_of(cob[0] ? cob : ob,
						 cfi[0] ? cfi : cur, cfn);
				if (is_trace(cfn) && callee >= 0) {
					part[callee] -= c;
					part[C15_TRACE] += c;
				} else if (callee < 0) {
					part[fn == C15_COUNTING ? C15_MALLOC
								: fn] += c;
				} else if (fn == C15_CLIENT &&
					   callee != C15_CLIENT) {
					/* the reactor's work for the client */
					part[callee] -= c;
					part[C15_CLIENT] += c;
				}
			}
			if (call) {
				call = false;
				cob[0] = cfi[0] = cfn[0] = '\0';
			}
		}
	}
	if (!header)
		return -EINVAL;
	for (int p = 0; p < C15_NPARTS; p++)
		sum += part[p];
	if (*total >= 0)
		part[C15_OTHER] += *total - (sum - before);
	return 0;
}

/* Run this binary's --callgrind-echo mode under callgrind and split its
 * dump; the instructions per round trip.  Returns 0, or -errno. */
static int callgrind_echo(const char *self, const char *dir, int b, int e,
			  unsigned trips, double part[C15_NPARTS])
{
	char out[512], dump[540], outflag[540], ts[16];
	double total;
	pid_t pid;
	int status, rc;
	FILE *f;

	snprintf(out, sizeof(out), "%s/cg.%s.%s", dir, c15_engine_name[e],
		 c15_backend_name[b]);
	snprintf(dump, sizeof(dump), "%s.1", out);
	snprintf(outflag, sizeof(outflag), "--callgrind-out-file=%s", out);
	snprintf(ts, sizeof(ts), "%u", trips);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("valgrind", "valgrind", "--tool=callgrind",
		      "--compress-strings=no", "--compress-pos=no", outflag,
		      self, "claims", "--callgrind-echo", c15_engine_name[e],
		      c15_backend_name[b], ts, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	memset(part, 0, C15_NPARTS * sizeof(*part));
	f = fopen(dump, "r");
	rc = f == NULL ? -EIO : c15_split(f, part, &total);
	if (f != NULL)
		fclose(f);
	unlink(out);
	unlink(dump);
	if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
			total <= 0))
		rc = -EIO;
	for (int p = 0; p < C15_NPARTS; p++)
		part[p] /= trips;
	return rc;
}

static void measure_instructions(const struct claims_ctx *cx,
				 struct c15_figures *f)
{
	unsigned trips = cx->quick ? 50 : 500;
	char self[4096], dir[] = "/tmp/pushpoll-claims-XXXXXX";
	ssize_t n;

	f->instr_status = C15_NO_CALLGRIND;
	if (!cli_have_program("valgrind")) {
		f->instr_status = C15_NO_VALGRIND;
		claims_say(cx, "C15: not measured: "
			   CLI_INSTALL_HINT("valgrind", "valgrind"));
		return;
	}
#ifndef C15_HAVE_CALLGRIND
	claims_say(cx, "C15: not measured: built without "
		   "valgrind/callgrind.h (apt-get install valgrind, then "
		   "rebuild)");
	return;
#endif
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || mkdtemp(dir) == NULL)
		return;
	self[n] = '\0';
	for (int b = 0; b < C15_NBACKENDS; b++)
		for (int e = 0; e < C15_NENGINES; e++)
			if (callgrind_echo(self, dir, b, e, trips,
					   f->instr[b][e]) < 0) {
				claims_say(cx, "C15: callgrind did not run (a "
					   "sanitizer build cannot run under "
					   "valgrind)");
				rmdir(dir);
				memset(f->instr, 0, sizeof(f->instr));
				return;
			}
	rmdir(dir);
	f->instr_status = C15_COUNTED;
}

/* ---- the experiment --------------------------------------------------------------------- */

int c15_measure(const struct claims_ctx *cx, struct c15_figures *f)
{
	unsigned runs = cx->quick ? 1 : 5;
	unsigned sim_trips = cx->quick ? 10000 : 100000;
	double ns[C15_NENGINES][5];
	int rc = 0;

	memset(f, 0, sizeof(*f));
	/* The engines alternate, so a noisy moment hurts them all. */
	for (unsigned k = 0; k < runs && rc == 0; k++)
		for (int e = 0; e < C15_NENGINES && rc == 0; e++) {
			struct c15_trips t;

			rc = c15_echo(e, C15_SIM, 100, sim_trips, &t);
			ns[e][k] = t.ns;
			f->allocs[e] = t.allocs;
		}
	for (int e = 0; e < C15_NENGINES && rc == 0; e++)
		f->sim_ns[e] = claims_median(ns[e], runs);
	for (int e = 0; e < C15_NENGINES && rc == 0; e++)
		rc = c15_loopback_cpu(cx, e, &f->user_ns[e], &f->sys_ns[e]);
	if (rc == 0)
		measure_instructions(cx, f);
	return rc;
}

/* ns per round trip of the server, by part: its instructions at the price
 * read on the simulator (c15_ns_per_instr()), and over
 * loopback the rest of the server's CPU time per message beside them: the
 * kernel's.  Two blocks, one per world, drawn side by side: the kernel's
 * microseconds would flatten the simulator's bars on one axis. */
static void c15_plot(const struct claims_ctx *cx, const struct c15_figures *f)
{
	FILE *d = claims_plot_data(cx, "c15.dat");

	if (d == NULL)
		return;
	fprintf(d, "# ns per round trip, server side: engine counting malloc "
		"io other kernel; block 0 sim, block 1 loopback\n");
	for (int b = 0; b < C15_NBACKENDS; b++) {
		for (int e = 0; e < C15_NENGINES; e++) {
			double k = c15_ns_per_instr(f), v;

			fprintf(d, "%s", c15_engine_name[e]);
			for (int p = 0; p < C15_CLIENT; p++) {
				v = k * f->instr[b][e][p];
				fprintf(d, " %.1f", v > 0 ? v : 0);
			}
			fprintf(d, " %.1f\n",
				b == C15_SIM ? 0.0 : c15_kernel_ns(f, e));
		}
		fputs(b + 1 < C15_NBACKENDS ? "\n\n" : "", d);
	}
	fclose(d);
	fprintf(cx->plot,
		"set output 'c15_split.png'\n"
		"set multiplot layout 1,2 title 'C15: where the server "
		"spends an echo round trip'\n"
		"set style data histograms\n"
		"set style histogram rowstacked\n"
		"set style fill solid 0.8 border -1\n"
		"set boxwidth 0.7\n"
		"set ylabel 'ns per round trip'\n"
		"set yrange [0:*]\n"
		"set key outside bottom center horizontal maxrows 2\n"
		"set xtics font ',9'\n"
		"set title 'simulator: no system call'\n"
		"plot 'c15.dat' index 0 using 2:xtic(1) title 'engine', \\\n"
		"     '' index 0 using 3 title \"mem's counting\", \\\n"
		"     '' index 0 using 4 title 'malloc and free', \\\n"
		"     '' index 0 using 5 title 'reactor and network'\n"
		"set title 'loopback: through the kernel'\n"
		"plot 'c15.dat' index 1 using 2:xtic(1) title 'engine', \\\n"
		"     '' index 1 using 3 title \"mem's counting\", \\\n"
		"     '' index 1 using 4 title 'malloc and free', \\\n"
		"     '' index 1 using 5 title 'reactor (user space)', \\\n"
		"     '' index 1 using 7 title 'kernel'\n"
		"unset multiplot\n"
		"unset title\n"
		"set yrange [*:*]\n"
		"set key top left\n"
		"set xtics font ''\n"
		"set style data lines\n");
}

int c15_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c15_figures f;
	int rc;

	rc = c15_measure(cx, &f);
	if (rc < 0)
		return rc;
	c15_verdict(&f, &row->verdict);
	if (f.instr_status == C15_COUNTED) {
		snprintf(row->push, sizeof(row->push),
			 "sim, instr per round trip (malloc+free share): "
			 "%.0f (%.1f%%), pooled %.0f (%.1f%%), fast path "
			 "%.0f (%.1f%%); %.0f ns per I/O op",
			 c15_server_instr(&f, C15_SIM, C15_PUSH),
			 100 * c15_malloc_share(&f, C15_SIM, C15_PUSH),
			 c15_server_instr(&f, C15_SIM, C15_PUSH_POOLED),
			 100 * c15_malloc_share(&f, C15_SIM, C15_PUSH_POOLED),
			 c15_server_instr(&f, C15_SIM, C15_PUSH_FAST),
			 100 * c15_malloc_share(&f, C15_SIM, C15_PUSH_FAST),
			 c15_op_ns(&f, C15_PUSH));
		snprintf(row->poll, sizeof(row->poll),
			 "sim: %.0f instr per round trip (%.1f%% malloc+free); "
			 "%.0f ns per I/O op",
			 c15_server_instr(&f, C15_SIM, C15_POLL),
			 100 * c15_malloc_share(&f, C15_SIM, C15_POLL),
			 c15_op_ns(&f, C15_POLL));
		snprintf(row->baselines, sizeof(row->baselines),
			 "loopback, push: %.1f us CPU per message, %.0f "
			 "user-space instr (%.2f us), the kernel the rest; "
			 "malloc+free %.1f%% of it; poll: %.1f us, %.0f instr",
			 (f.user_ns[C15_PUSH] + f.sys_ns[C15_PUSH]) / 1000,
			 c15_server_instr(&f, C15_LOOPBACK, C15_PUSH),
			 c15_user_est_ns(&f, C15_PUSH) / 1000,
			 100 * c15_loopback_share(&f, C15_PUSH),
			 (f.user_ns[C15_POLL] + f.sys_ns[C15_POLL]) / 1000,
			 c15_server_instr(&f, C15_LOOPBACK, C15_POLL));
	} else {
		snprintf(row->push, sizeof(row->push),
			 "sim: %.0f ns per round trip, %.2f allocs; pooled "
			 "%.0f ns, fast path %.0f ns",
			 f.sim_ns[C15_PUSH], f.allocs[C15_PUSH],
			 f.sim_ns[C15_PUSH_POOLED], f.sim_ns[C15_PUSH_FAST]);
		snprintf(row->poll, sizeof(row->poll),
			 "sim: %.0f ns per round trip, %.2f allocs",
			 f.sim_ns[C15_POLL], f.allocs[C15_POLL]);
		snprintf(row->baselines, sizeof(row->baselines),
			 "loopback, push: %.1f us CPU per message (%.1f of it "
			 "system time, as getrusage samples it); poll: %.1f us "
			 "(%.1f)",
			 (f.user_ns[C15_PUSH] + f.sys_ns[C15_PUSH]) / 1000,
			 f.sys_ns[C15_PUSH] / 1000,
			 (f.user_ns[C15_POLL] + f.sys_ns[C15_POLL]) / 1000,
			 f.sys_ns[C15_POLL] / 1000);
	}

	claims_json_begin(cx->json, "figures");
	claims_json_bool(cx->json, "instructions_counted",
			 f.instr_status == C15_COUNTED);
	claims_json_num(cx->json, "message_bytes", C15_MSG);
	for (int e = 0; e < C15_NENGINES; e++) {
		claims_json_begin(cx->json, c15_engine_name[e]);
		claims_json_num(cx->json, "sim_ns_per_round_trip", f.sim_ns[e]);
		claims_json_num(cx->json, "allocs_per_round_trip", f.allocs[e]);
		claims_json_num(cx->json, "loopback_user_ns_per_round_trip",
				f.user_ns[e]);
		claims_json_num(cx->json, "loopback_sys_ns_per_round_trip",
				f.sys_ns[e]);
		for (int b = 0; b < C15_NBACKENDS; b++) {
			char key[48];

			snprintf(key, sizeof(key), "%s_instr_per_round_trip",
				 c15_backend_name[b]);
			claims_json_begin(cx->json, key);
			for (int p = 0; p < C15_NPARTS; p++)
				claims_json_num(cx->json, c15_part_name[p],
						f.instr[b][e][p]);
			claims_json_end(cx->json);
		}
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	c15_plot(cx, &f);
	return 0;
}
