/* c9_threads.c: claim C9, single-threaded and multi-threaded executors.
 *
 * "A single-threaded executor can run tasks that are not thread-safe;
 * sharing tasks across threads costs atomic operations on every wake."
 *
 * The experiment: the same two tasks waking each other, on the
 * single-threaded loop (poll/loop.c) and on the multi-threaded executor
 * with one worker (poll/workers.c, where both tasks live on one worker, so
 * every wake is the cheap, local kind), and a wake from another thread (a
 * plain thread fires the waker of a task that waits on a worker).  Figures:
 *
 *   ns per wake        clock over C9_WAKES wakes, median of runs (the
 *                      machine is shared: an order of magnitude);
 *   instructions       per wake, counted by callgrind in a child running the
 *                      hidden --callgrind-wakes mode: (2n wakes - n wakes) / n,
 *                      so that setting up the executor is not counted
 *                      (not under --quick: the verdict then reads ns);
 *   atomic RMW         per wake: the workers count every read-modify-write
 *                      of a task's word where it is made (poll/workers.c);
 *                      the single-threaded loop has none to count (task.c
 *                      and loop.c hold no atomic operation: R5);
 *   remote wake        ns from a wake on another thread to the task's poll.
 *
 * And echo with 1 and 2 threads for both engines (`pushpoll bench
 * --workers-sweep 1,2`; not under --quick): push with a loop per thread,
 * each its own server on one port with SO_REUSEPORT; poll with the echo
 * workload on the multi-threaded executor, its connection tasks free to
 * move between the workers.  A scaling figure would need more cores than this machine's two, one of
 * which the load generator takes; the output says so.
 */
#include "claims.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli/cli.h"
#include "clock.h"
#include "hist.h"
#include "poll.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define C9_HAVE_CALLGRIND 1
#endif
#endif

/* The target: the multi-threaded executor's wake within this many times
 * the single-threaded one's. */
#define C9_TARGET_RATIO 3.0

/* ---- the rule ---------------------------------------------------------------- */

/* C9 holds when the single-threaded executor's wake makes no atomic
 * operation, the multi-threaded one's makes at least one, and that makes it
 * dearer (instructions when callgrind ran, else nanoseconds).  If the
 * multi-threaded wake uses atomics but costs no more, it holds only in part
 * (the atomics are there, their price is not visible); without atomics on
 * the multi-threaded side it does not hold. */
void c9_verdict(const struct c9_figures *f, struct claim_verdict *v)
{
	const double *c = f->have_instr ? f->instr : f->ns;
	const char *unit = f->have_instr ? "instructions" : "ns";

	if (f->ns[C9_ST] <= 0 || f->ns[C9_MT] <= 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED, "no wake was measured");
		return;
	}
	if (f->atomics[C9_MT] <= 0)
		claim_verdict_set(v, CLAIM_FAILS,
			"the multi-threaded wake made no atomic operation");
	else if (f->atomics[C9_ST] == 0 && c[C9_MT] > c[C9_ST])
		claim_verdict_set(v, CLAIM_HOLDS,
			"per wake: single-threaded %.0f %s and 0 atomics, "
			"multi-threaded %.0f %s and %.1f atomic RMW (x%.2f); "
			"a wake from another thread %.0f ns",
			c[C9_ST], unit, c[C9_MT], unit, f->atomics[C9_MT],
			c[C9_MT] / c[C9_ST], f->remote_ns);
	else
		claim_verdict_set(v, CLAIM_PARTLY,
			"the multi-threaded wake makes %.1f atomic RMW but "
			"costs %.0f %s against %.0f", f->atomics[C9_MT],
			c[C9_MT], unit, c[C9_ST]);
}

/* ---- two tasks waking each other -------------------------------------------------- */

struct relay {
	struct poll_waker slot[2];
	uint64_t left;
};

struct relay_fut {
	struct poll_future base;
	struct relay *rl;
	unsigned me;
};

static enum poll_status relay_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct relay_fut *rf = (struct relay_fut *)f;
	struct relay *rl = rf->rl;

	if (rl->left == 0) {
		poll_waker_drop(&rl->slot[rf->me]);
		poll_waker_wake(&rl->slot[1 - rf->me]);
		f->out = 0;
		return POLL_READY;
	}
	rl->left--;
	poll_waker_set(&rl->slot[rf->me], cx);
	poll_waker_wake(&rl->slot[1 - rf->me]);
	return POLL_PENDING;
}

static void relay_drop(struct poll_future *f)
{
	struct relay_fut *rf = (struct relay_fut *)f;

	poll_waker_drop(&rf->rl->slot[rf->me]);
}

static const struct poll_future_vt relay_vt = { "relay", relay_poll,
						relay_drop };

/* n wakes on executor e; *wakes and *atomics as the executor counted them. */
static int relay_run(int e, uint64_t n, uint64_t *wakes, uint64_t *atomics)
{
	struct relay rl = { .left = n };
	struct relay_fut f[2] = { { { &relay_vt, 0 }, &rl, 0 },
				  { { &relay_vt, 0 }, &rl, 1 } };
	int rc = 0;

	if (e == C9_ST) {
		struct reactor *r = reactor_new_epoll();
		struct poll_loop loop;
		struct poll_loop_stats st;

		if (r == NULL)
			return -errno;
		poll_loop_init(&loop, r, NULL, NULL);
		for (unsigned i = 0; i < 2 && rc == 0; i++)
			rc = poll_spawn(&loop, &f[i].base, sizeof(f[i]), NULL);
		if (rc == 0)
			rc = poll_loop_run(&loop);
		poll_loop_stats_get(&loop, &st);
		*wakes = st.wakes;
		*atomics = 0;
		poll_loop_fini(&loop);
		reactor_free(r);
	} else {
		struct poll_workers *w;
		struct poll_workers_stats st;

		rc = poll_workers_new(1, NULL, &w);
		if (rc < 0)
			return rc;
		for (unsigned i = 0; i < 2 && rc == 0; i++)
			rc = poll_workers_spawn(w, &f[i].base, sizeof(f[i]),
						NULL);
		if (rc == 0)
			rc = poll_workers_run(w);
		poll_workers_stats_get(w, &st);
		*wakes = st.wakes + st.remote_wakes;
		*atomics = st.atomics;
		poll_workers_free(w);
	}
	return rc;
}

/* ---- a wake from another thread ------------------------------------------------------- */

struct remote {
	pthread_mutex_t lock;
	struct poll_waker slot;      /* under lock */
	atomic_uint parked;          /* polls that parked the waker */
	_Atomic uint64_t t0;
	unsigned want;
	struct hist *h;
};

struct remote_fut {
	struct poll_future base;
	struct remote *rm;
};

static enum poll_status remote_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct remote *rm = ((struct remote_fut *)f)->rm;
	uint64_t t0 = atomic_load(&rm->t0);
	unsigned n = atomic_load(&rm->parked);

	if (t0 != 0)
		hist_record(rm->h, clock_now_ns() - t0);
	if (n >= rm->want) {
		f->out = 0;
		return POLL_READY;
	}
	pthread_mutex_lock(&rm->lock);
	poll_waker_set(&rm->slot, cx);
	pthread_mutex_unlock(&rm->lock);
	atomic_store(&rm->parked, n + 1);
	return POLL_PENDING;
}

static void remote_drop(struct poll_future *f)
{
	struct remote *rm = ((struct remote_fut *)f)->rm;

	pthread_mutex_lock(&rm->lock);
	poll_waker_drop(&rm->slot);
	pthread_mutex_unlock(&rm->lock);
}

static const struct poll_future_vt remote_vt = { "remote", remote_poll,
						 remote_drop };

static void *remote_runner(void *arg)
{
	return (void *)(intptr_t)poll_workers_run(arg);
}

static int measure_remote(unsigned want, double *p50)
{
	struct remote rm = { .want = want };
	struct remote_fut rf = { { &remote_vt, 0 }, &rm };
	struct poll_workers *w;
	struct hist *h = malloc(sizeof(*h));
	pthread_t runner;
	int rc;

	if (h == NULL)
		return -ENOMEM;
	hist_init(h);
	rm.h = h;
	pthread_mutex_init(&rm.lock, NULL);
	rc = poll_workers_new(1, NULL, &w);
	if (rc == 0)
		rc = poll_workers_spawn(w, &rf.base, sizeof(rf), NULL);
	if (rc == 0)
		rc = -pthread_create(&runner, NULL, remote_runner, w);
	if (rc == 0) {
		for (unsigned k = 1; k <= want; k++) {
			while (atomic_load(&rm.parked) < k)
				sched_yield();
			pthread_mutex_lock(&rm.lock);
			atomic_store(&rm.t0, clock_now_ns());
			poll_waker_wake(&rm.slot);
			pthread_mutex_unlock(&rm.lock);
		}
		pthread_join(runner, NULL);
		*p50 = (double)hist_percentile(h, 50);
	}
	if (w != NULL)
		poll_workers_free(w);
	pthread_mutex_destroy(&rm.lock);
	free(h);
	return rc;
}

/* ---- callgrind --------------------------------------------------------------------------- */

int c9_callgrind_child(int argc, char **argv)
{
#ifdef C9_HAVE_CALLGRIND
	uint64_t n, wakes, atomics;
	int e, rc;

	if (argc != 3)
		cli_usage_error("--callgrind-wakes wants st|mt WAKES");
	e = strcmp(argv[1], "st") == 0 ? C9_ST : C9_MT;
	n = cli_uint("WAKES", argv[2], 1, 10000000);
	rc = relay_run(e, n, &wakes, &atomics);        /* warm-up */
	CALLGRIND_ZERO_STATS;
	if (rc == 0)
		rc = relay_run(e, n, &wakes, &atomics);
	CALLGRIND_DUMP_STATS_AT("wakes=n");
	if (rc == 0)
		rc = relay_run(e, 2 * n, &wakes, &atomics);
	CALLGRIND_DUMP_STATS_AT("wakes=2n");
	return rc == 0 ? 0 : EXIT_MEASURED_FAILURE;
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "pushpoll: built without valgrind/callgrind.h\n");
	return EXIT_USAGE;
#endif
}

static int callgrind_wake(const char *self, const char *dir, int e,
			  uint64_t n, double *per_wake)
{
	char out[512], f1[540], f2[540], ns[24];
	double lo, hi;
	pid_t pid;
	int status;

	snprintf(out, sizeof(out), "%s/cg.%s", dir, c9_exec_name[e]);
	snprintf(f1, sizeof(f1), "%s.1", out);
	snprintf(f2, sizeof(f2), "%s.2", out);
	snprintf(ns, sizeof(ns), "%llu", (unsigned long long)n);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char outflag[540];
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		snprintf(outflag, sizeof(outflag), "--callgrind-out-file=%s",
			 out);
		execlp("valgrind", "valgrind", "--tool=callgrind", outflag,
		       self, "claims", "--callgrind-wakes",
		       e == C9_ST ? "st" : "mt", ns, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	lo = claims_callgrind_count(f1, "totals:");
	hi = claims_callgrind_count(f2, "totals:");
	unlink(out);
	unlink(f1);
	unlink(f2);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lo < 0 ||
	    hi < 0)
		return -EIO;
	*per_wake = (hi - lo) / (double)n;
	return 0;
}

static void measure_instructions(const struct claims_ctx *cx,
				 struct c9_figures *f)
{
	char self[4096], dir[] = "/tmp/pushpoll-claims-XXXXXX";
	ssize_t n;

	f->have_instr = false;
#ifndef C9_HAVE_CALLGRIND
	claims_say(cx, "C9: instructions not measured: built without "
		   "valgrind/callgrind.h");
	return;
#endif
	if (!cli_have_program("valgrind")) {
		claims_say(cx, "C9: instructions not measured: "
			   CLI_INSTALL_HINT("valgrind", "valgrind"));
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || mkdtemp(dir) == NULL)
		return;
	self[n] = '\0';
	f->have_instr = true;
	for (int e = 0; e < C9_NEXECS && f->have_instr; e++)
		if (callgrind_wake(self, dir, e, 20000, &f->instr[e]) < 0) {
			claims_say(cx, "C9: callgrind did not run (a "
				   "sanitizer build cannot run under it)");
			f->have_instr = false;
		}
	rmdir(dir);
}

/* ---- echo with loops per thread ------------------------------------------------------------ */

/* `pushpoll bench echo --engines push,poll` with --workers 1 and 2. */
static int measure_echo(struct c9_figures *f)
{
	struct bench_summary sum[4];
	struct bench_opts bo;

	for (unsigned k = 0; k < 2; k++) {
		int n;

		bench_opts_default(&bo);
		bo.engines = "push,poll";
		bo.warmup_ns = 300 * CLOCK_NS_PER_MS;
		bo.duration_ns = 1000 * CLOCK_NS_PER_MS;
		bo.rounds = 3;
		bo.progress = false;
		bo.workers = k + 1;
		n = bench_echo_collect(&bo, sum, 4);
		if (n != 2)
			return -EIO;
		for (int i = 0; i < n; i++) {
			int m = strcmp(sum[i].engine, "push") == 0 ?
				CLAIMS_PUSH : CLAIMS_POLL;

			f->echo_msgs[m][k] = sum[i].med[BENCH_F_MSGS];
			f->echo_cpu[m][k] = sum[i].med[BENCH_F_CPU];
		}
	}
	f->echo_ran = true;
	return 0;
}

/* ---- the experiment ------------------------------------------------------------------------ */

const char *const c9_exec_name[C9_NEXECS] = { "single-threaded",
					      "multi-threaded" };

int c9_measure(const struct claims_ctx *cx, struct c9_figures *f)
{
	unsigned runs = cx->quick ? 3 : 7;
	uint64_t n = cx->quick ? 100000 : 1000000;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	for (int e = 0; e < C9_NEXECS && rc == 0; e++) {
		double ns[9];

		for (unsigned k = 0; k < runs && rc == 0; k++) {
			uint64_t wakes = 0, atomics = 0, t0 = clock_now_ns();

			rc = relay_run(e, n, &wakes, &atomics);
			ns[k] = wakes > 0 ? (double)(clock_now_ns() - t0) /
					    (double)wakes : 0;
			if (wakes > 0)
				f->atomics[e] = (double)atomics / (double)wakes;
		}
		if (rc == 0)
			f->ns[e] = claims_median(ns, runs);
	}
	if (rc == 0)
		rc = measure_remote(cx->quick ? 200 : 2000, &f->remote_ns);
	/* callgrind and echo take seconds: --quick reads the clock only. */
	if (rc == 0 && !cx->quick) {
		measure_instructions(cx, f);
		if (measure_echo(f) < 0)
			claims_say(cx, "C9: the echo runs with workers failed");
	}
	return rc;
}

int c9_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c9_figures f;
	const double *c;
	double ratio;
	int rc;

	rc = c9_measure(cx, &f);
	if (rc < 0)
		return rc;
	c9_verdict(&f, &row->verdict);
	c = f.have_instr ? f.instr : f.ns;
	ratio = c[C9_ST] > 0 ? c[C9_MT] / c[C9_ST] : 0;
	if (f.echo_ran)
		snprintf(row->push, sizeof(row->push),
			 "echo, 1 and 2 loops per thread: %.0f and %.0f "
			 "msgs/s, %.0f and %.0f CPU ns/msg",
			 f.echo_msgs[CLAIMS_PUSH][0], f.echo_msgs[CLAIMS_PUSH][1],
			 f.echo_cpu[CLAIMS_PUSH][0], f.echo_cpu[CLAIMS_PUSH][1]);
	else
		snprintf(row->push, sizeof(row->push),
			 "echo with 1 and 2 loops: not run under --quick");
	if (f.have_instr)
		snprintf(row->poll, sizeof(row->poll),
			 "wake: 1 thread %.0f ns, %.0f instr, 0 atomics; "
			 "workers %.0f ns, %.0f instr, %.1f atomics; target "
			 "x%.0f: %s", f.ns[C9_ST], f.instr[C9_ST], f.ns[C9_MT],
			 f.instr[C9_MT], f.atomics[C9_MT], C9_TARGET_RATIO,
			 ratio <= C9_TARGET_RATIO ? "met" : "missed");
	else
		snprintf(row->poll, sizeof(row->poll),
			 "wake: 1 thread %.0f ns, 0 atomics; workers %.0f ns, "
			 "%.1f atomics; target x%.0f: %s", f.ns[C9_ST],
			 f.ns[C9_MT], f.atomics[C9_MT], C9_TARGET_RATIO,
			 ratio <= C9_TARGET_RATIO ? "met" : "missed");
	if (f.echo_ran)
		snprintf(row->baselines, sizeof(row->baselines),
			 "wake from another thread p50 %.0f ns; poll echo, 1 "
			 "loop and 2 workers: %.0f and %.0f msgs/s, %.0f "
			 "and %.0f CPU ns/msg", f.remote_ns,
			 f.echo_msgs[CLAIMS_POLL][0], f.echo_msgs[CLAIMS_POLL][1],
			 f.echo_cpu[CLAIMS_POLL][0], f.echo_cpu[CLAIMS_POLL][1]);
	else
		snprintf(row->baselines, sizeof(row->baselines),
			 "wake from another thread p50 %.0f ns", f.remote_ns);
	claims_say(cx, "C9: a scaling figure needs more cores than this "
		   "machine's %ld (the load generator takes one): run "
		   "`pushpoll bench --workers-sweep 1,2,4,8` on one that has "
		   "them", sysconf(_SC_NPROCESSORS_ONLN));

	claims_json_begin(cx->json, "figures");
	for (int e = 0; e < C9_NEXECS; e++) {
		claims_json_begin(cx->json, c9_exec_name[e]);
		claims_json_num(cx->json, "ns_per_wake", f.ns[e]);
		claims_json_num(cx->json, "instructions_per_wake", f.instr[e]);
		claims_json_num(cx->json, "atomic_rmw_per_wake", f.atomics[e]);
		claims_json_end(cx->json);
	}
	claims_json_num(cx->json, "remote_wake_ns_p50", f.remote_ns);
	for (int m = 0; m < CLAIMS_NMODELS && f.echo_ran; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_nums(cx->json, "echo_msgs_per_s_1_2_loops",
				 f.echo_msgs[m], 2);
		claims_json_nums(cx->json, "echo_cpu_ns_per_msg_1_2_loops",
				 f.echo_cpu[m], 2);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
