/* pushpoll.c: the command.  One binary; the engine is a flag wherever one
 * applies.
 *
 *   pushpoll serve echo --engine E [--port P] ...   run an echo server
 *   pushpoll fanout --engine E --input F ...        run one fanout
 *   pushpoll load echo --connect HOST:PORT ...      load any echo server
 *
 * Exit status: 0 success, 1 a measured failure, 2 a usage error (one line on
 * stderr naming the bad argument).  A workload that cannot start is one rule
 * (start_failure_status): 1 when the system ran out of something, 2 when
 * the command line named something unusable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "claims/claims.h"
#include "cli/cli.h"
#include "clock.h"
#include "completion.h"
#include "engines.h"
#include "mem.h"
#include "offload.h"
#include "poll.h"
#include "reactor.h"
#include "torture/torture.h"
#include "verify.h"
#include "version.h"
#include "workload.h"

/* "push, poll": the engines with completion entry points, for usage(). */
static const char *completion_engine_names(void)
{
	static char names[128];

	if (names[0] == '\0') {
		for (const struct engine *e = engines; e->name != NULL; e++) {
			if (e->echo_completion == NULL &&
			    e->fanout_completion == NULL)
				continue;
			if (names[0] != '\0')
				strcat(names, ", ");
			strcat(names, e->name);
		}
		if (names[0] == '\0')
			strcpy(names, "none");
	}
	return names;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: pushpoll COMMAND [OPTIONS]\n"
"\n"
"commands:\n"
"  serve echo   run a TCP echo server until SIGINT or SIGTERM\n"
"  fanout       deliver one file to N sinks\n"
"  bench [all|echo|churn|fanout]  every engine under the same load, side by side\n"
"  load echo|churn --connect HOST:PORT  the bench's load generator alone,\n"
"               against any echo server, every byte checked\n"
"  torture      the cancellation-safety harness (--quick, --mutants, --help)\n"
"  claims [C1..C15]    the experiment behind each claim, with its computed verdict\n"
"  help         this text\n"
"  version      the version of this build (also --version)\n"
"\n"
"common options:\n"
"  --engine E         one of: %s\n"
"  --threads N        offload worker threads (default 2)\n"
"  --alloc idiomatic|pooled   push: a heap request per operation, or free lists\n"
"  --fast-path        push: complete ready operations without allocating\n"
"  --budget N         poll: polls in a row before a task must yield (0: off)\n"
"  --static-tasks N   poll: N preallocated connection tasks, no allocation after start\n"
"  --backend epoll|uring  serve echo, fanout, bench: readiness (default), or\n"
"                     the engine's completion entry points over io_uring\n"
"                     (engines that have them: %s)\n"
"\n"
"serve echo options:\n"
"  --host H  --port P (0: any)  --bufsize SIZE  --idle-timeout DURATION  --max-conns N\n"
"  --buffers conn|ready  a read buffer per connection (default), or one taken\n"
"                       only when a connection is readable\n"
"  --workers N        push: N loops, one per thread, on one port (SO_REUSEPORT);\n"
"                     poll: the multi-threaded executor, N workers, tasks free to move\n"
"\n"
"fanout options:\n"
"  --input FILE  --sinks N  --sink file|tcp  --output-dir DIR  --host H  --port P\n"
"  --chunk-size SIZE  --window W\n"
"  --workers N   poll: the fanout task on the multi-threaded executor, N workers\n"
"  --sink-timeout DURATION  a sink that takes no chunk for this long is\n"
"                           cancelled, the others go on (default 10s; 0: never)\n"
"  --verify  read every sink file back and compare it with the input, byte\n"
"            for byte (file sinks; status 1 if one differs)\n"
"\n"
"bench options (no workload: every workload, about a minute):\n"
"  --engines LIST (epoll,libuv,libevent,push,push-pooled,poll,tokio,tokio-mt)\n"
"  --rounds N\n"
"  --target NAME=HOST:PORT  a running echo server as one more row\n"
"  --target 'NAME=cmd:COMMAND'  a server the bench starts ({port}: where it\n"
"           listens); its heap counted through LD_PRELOAD of pushpoll-memcount.so\n"
"           (malloc and its kin only: not a static binary's, not a program's\n"
"           own allocator's; a Rust program's default allocator is malloc)\n"
"  echo, churn: --conns N  --depth N  --size SIZE  --rate MSGS/S (open loop)\n"
"               --duration DURATION  --warmup DURATION\n"
"  fanout: --file-size SIZE[,SIZE...]  --sinks N  --sink tcp|file|both\n"
"          --chunk-size SIZE  --window W\n"
"  --json FILE  --csv FILE  --plot DIR (PNGs, with gnuplot)  --quiet (no progress line)\n"
"  --no-pin (servers and load generator not pinned to separate CPUs)\n"
"\n"
"load options (echo, churn):\n"
"  --connect HOST:PORT (required)  --name NAME  --rounds N  --conns N  --depth N\n"
"  --size SIZE  --rate MSGS/S  --duration DURATION  --warmup DURATION\n"
"  --json FILE  --csv FILE  --quiet\n"
"\n"
"exit status: 0 success, 1 a measured failure or out of memory, descriptors\n"
"  or threads, 2 a usage error\n",
		engine_names(), completion_engine_names());
}

/* ---- the options every subcommand shares ---------------------------------- */

/* serve echo --workers N: at most this many loops. */
#define SERVE_MAX_WORKERS 64

enum {
	OPT_ENGINE = 256, OPT_THREADS, OPT_ALLOC, OPT_FAST_PATH, OPT_BUDGET,
	OPT_STATIC_TASKS, OPT_HOST, OPT_PORT, OPT_BUFSIZE, OPT_BUFFERS,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNS, OPT_INPUT, OPT_SINKS, OPT_SINK, OPT_OUTPUT_DIR,
	OPT_CHUNK_SIZE, OPT_WINDOW, OPT_SINK_TIMEOUT, OPT_VERIFY, OPT_WORKERS,
	OPT_BACKEND, OPT_HELP,
};

static const struct option long_options[] = {
	{ "engine", required_argument, NULL, OPT_ENGINE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "alloc", required_argument, NULL, OPT_ALLOC },
	{ "fast-path", no_argument, NULL, OPT_FAST_PATH },
	{ "budget", required_argument, NULL, OPT_BUDGET },
	{ "static-tasks", required_argument, NULL, OPT_STATIC_TASKS },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "bufsize", required_argument, NULL, OPT_BUFSIZE },
	{ "buffers", required_argument, NULL, OPT_BUFFERS },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "input", required_argument, NULL, OPT_INPUT },
	{ "sinks", required_argument, NULL, OPT_SINKS },
	{ "sink", required_argument, NULL, OPT_SINK },
	{ "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
	{ "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "sink-timeout", required_argument, NULL, OPT_SINK_TIMEOUT },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "backend", required_argument, NULL, OPT_BACKEND },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

struct run_opts {
	const struct engine *engine;
	unsigned threads;
	unsigned workers;           /* serve echo: loops, one per thread */
	struct engine_settings settings;
	struct echo_opts echo;
	struct fanout_opts fanout;
	bool verify;            /* fanout --verify */
	bool uring;             /* --backend uring: the engine's completion
				 * entry points, over io_uring */
};

static void parse_options(int argc, char **argv, struct run_opts *ro)
{
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", long_options, NULL)) != -1) {
		const char *flag = argv[optind - 1];
		switch (c) {
		case OPT_ENGINE:
			ro->engine = engine_find(optarg);
			if (ro->engine == NULL)
				cli_usage_error("--engine: unknown engine '%s' "
						"(engines: %s)", optarg,
						engine_names());
			break;
		case OPT_THREADS:
			ro->threads = (unsigned)cli_uint("--threads", optarg,
							 1, 64);
			break;
		case OPT_ALLOC:
			if (strcmp(optarg, "idiomatic") == 0)
				ro->settings.pooled = false;
			else if (strcmp(optarg, "pooled") == 0)
				ro->settings.pooled = true;
			else
				cli_usage_error("--alloc wants idiomatic or "
						"pooled, not '%s'", optarg);
			break;
		case OPT_FAST_PATH:
			ro->settings.fast_path = true;
			break;
		case OPT_BUDGET:
			ro->settings.budget = (unsigned)cli_uint(
				"--budget", optarg, 0, 1000000);
			ro->settings.budget_set = true;
			break;
		case OPT_STATIC_TASKS:
			ro->settings.static_tasks = (unsigned)cli_uint(
				"--static-tasks", optarg, 1, 100000);
			break;
		case OPT_HOST:
			ro->echo.host = ro->fanout.host =
				cli_host("--host", optarg);
			break;
		case OPT_PORT:
			ro->echo.port = ro->fanout.port =
				(uint16_t)cli_uint("--port", optarg, 0, 65535);
			break;
		case OPT_BUFSIZE:
			ro->echo.bufsize = cli_size("--bufsize", optarg, 1,
						    64 << 20);
			break;
		case OPT_BUFFERS:
			if (strcmp(optarg, "conn") == 0)
				ro->echo.buffers = ECHO_BUFFERS_CONN;
			else if (strcmp(optarg, "ready") == 0)
				ro->echo.buffers = ECHO_BUFFERS_READY;
			else
				cli_usage_error("--buffers wants conn or "
						"ready, not '%s'", optarg);
			break;
		case OPT_IDLE_TIMEOUT:
			ro->echo.idle_timeout_ns =
				cli_duration_ns("--idle-timeout", optarg);
			break;
		case OPT_MAX_CONNS:
			ro->echo.max_conns = (unsigned)cli_uint(
				"--max-conns", optarg, 1, 10000000);
			break;
		case OPT_INPUT:
			ro->fanout.input = optarg;
			break;
		case OPT_SINKS:
			ro->fanout.sinks = (unsigned)cli_uint("--sinks", optarg,
							      1, 10000);
			break;
		case OPT_SINK:
			if (strcmp(optarg, "file") == 0)
				ro->fanout.kind = FANOUT_SINK_FILE;
			else if (strcmp(optarg, "tcp") == 0)
				ro->fanout.kind = FANOUT_SINK_TCP;
			else
				cli_usage_error("--sink wants file or tcp, "
						"not '%s'", optarg);
			break;
		case OPT_OUTPUT_DIR:
			ro->fanout.output_dir = optarg;
			break;
		case OPT_CHUNK_SIZE:
			ro->fanout.chunk_size = cli_size("--chunk-size", optarg,
							 1, 64 << 20);
			break;
		case OPT_WINDOW:
			ro->fanout.window = (unsigned)cli_uint("--window",
							       optarg, 1, 4096);
			break;
		case OPT_SINK_TIMEOUT:
			ro->fanout.sink_timeout_ns =
				cli_duration_ns("--sink-timeout", optarg);
			break;
		case OPT_VERIFY:
			ro->verify = true;
			break;
		case OPT_BACKEND:
			if (strcmp(optarg, "epoll") == 0)
				ro->uring = false;
			else if (strcmp(optarg, "uring") == 0)
				ro->uring = true;
			else
				cli_usage_error("--backend wants epoll or "
						"uring, not '%s'", optarg);
			break;
		case OPT_WORKERS:
			ro->workers = (unsigned)cli_uint("--workers", optarg, 1,
							 SERVE_MAX_WORKERS);
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case ':':
			cli_usage_error("%s needs a value", flag);
		default:
			cli_usage_error("unknown option '%s'", flag);
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (ro->engine == NULL)
		cli_usage_error("--engine is required (engines: %s)",
				engine_names());
}

/* ---- running a workload on a real reactor --------------------------------- */

/* The bench sends CLI_MARK_SIGNAL when it starts measuring and when it stops; the
 * server snapshots its allocation counters and CPU time each time and prints
 * the snapshots at exit, so the bench's figures cover the measured window
 * only.  Everything the handler calls is async-signal-safe (atomic loads,
 * clock_gettime).  An echo server of one loop also snapshots the bytes it
 * has echoed (its statistics, written by the loop thread, which is the
 * thread the handler interrupts when there is no other): the bench counts
 * the system calls of a traced server between the two marks, and divides
 * by the messages echoed between them. */
static struct mark {
	struct mem_stats mem;
	uint64_t cpu_ns;
	uint64_t echoed;
} marks[2];
static volatile sig_atomic_t nmarks;
static const volatile struct echo_stats *mark_echo_stats;

static void on_mark(int sig)
{
	struct timespec ts;

	(void)sig;
	if (nmarks >= 2)
		return;
	mem_stats_get(&marks[nmarks].mem);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	marks[nmarks].cpu_ns = (uint64_t)ts.tv_sec * CLOCK_NS_PER_S +
			       (uint64_t)ts.tv_nsec;
	if (mark_echo_stats != NULL)
		marks[nmarks].echoed = mark_echo_stats->bytes;
	nmarks++;
}

static void print_marks(void)
{
	for (int i = 0; i < nmarks; i++) {
		printf("mark %d allocs=%llu bytes=%llu peak_live_bytes=%lld "
		       "cpu_ns=%llu live_bytes=%lld", i,
		       (unsigned long long)marks[i].mem.allocs,
		       (unsigned long long)marks[i].mem.bytes,
		       (long long)marks[i].mem.peak_live_bytes,
		       (unsigned long long)marks[i].cpu_ns,
		       (long long)marks[i].mem.live_bytes);
		if (mark_echo_stats != NULL)
			printf(" echoed_bytes=%llu",
			       (unsigned long long)marks[i].echoed);
		putchar('\n');
	}
}

/* One rule for a workload that cannot start: the system ran out of
 * something (memory, descriptors, threads) is a failure like any other
 * measured one, 1; anything else lies in the command line (a path, an
 * address), 2. */
static int start_failure_status(int err)
{
	switch (-err) {
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EAGAIN:
	case ENOBUFS:
		return EXIT_MEASURED_FAILURE;
	default:
		return EXIT_USAGE;
	}
}

static struct reactor *running;
/* --engine poll --workers N: the multi-threaded executor, stopped with
 * running (poll_workers_request_stop() is async-signal-safe). */
static struct poll_workers *volatile running_workers;
/* serve echo --workers: the other loops' reactors, stopped with running. */
static struct reactor *volatile others[SERVE_MAX_WORKERS];

static void on_signal(int sig)
{
	(void)sig;
	if (running != NULL)
		reactor_request_stop(running);
	if (running_workers != NULL)
		poll_workers_request_stop(running_workers);
	for (unsigned i = 0; i < SERVE_MAX_WORKERS; i++)
		if (others[i] != NULL)
			reactor_request_stop(others[i]);
}

/* A reactor and an offload pool of threads (none with 0: a completion
 * entry point reads its files through the ring), with SIGINT and SIGTERM
 * asking it to stop.  Exits with a one-line message if either cannot be
 * made. */
static struct offload *start_substrate(struct reactor **r, unsigned threads)
{
	struct sigaction sa;
	struct offload *o = NULL;

	*r = reactor_new_epoll();
	if (*r == NULL) {
		int err = errno;
		fprintf(stderr, "pushpoll: cannot create the reactor: %s\n",
			strerror(err));
		exit(start_failure_status(-err));
	}
	if (threads > 0)
		o = offload_new(*r, threads);
	if (threads > 0 && o == NULL) {
		fprintf(stderr, "pushpoll: cannot start %u offload threads\n",
			threads);
		exit(start_failure_status(-EAGAIN));
	}
	running = *r;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_mark;
	sa.sa_flags = SA_RESTART;
	sigaction(CLI_MARK_SIGNAL, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return o;
}

static void stop_substrate(struct reactor *r, struct offload *o)
{
	running = NULL;
	offload_free(o);
	reactor_free(r);
}

static void print_listening(void *arg, uint16_t port)
{
	const char *host = arg;

	printf("listening %s:%u\n", host, port);
	fflush(stdout);
}

/* ---- serve echo --workers N: one loop per thread, one port -------------------- */

/* Loop i > 0: its own reactor, the engine's echo server on the port loop 0
 * got, with SO_REUSEPORT; the kernel spreads the connections (push.h,
 * "workers").  Each connection stays on the loop that accepted it. */
struct serve_worker {
	pthread_t thread;
	echo_serve_fn echo;         /* the engine's, on the chosen backend */
	struct echo_opts opts;
	struct reactor *r;
	struct echo_stats stats;
	int rc;
};

static void *serve_worker_main(void *arg)
{
	struct serve_worker *sw = arg;

	sw->rc = sw->echo(sw->r, NULL, &sw->opts, &sw->stats);
	return NULL;
}

static void echo_stats_add(struct echo_stats *sum, const struct echo_stats *s)
{
	sum->accepted += s->accepted;
	sum->refused += s->refused;
	sum->accept_errors += s->accept_errors;
	sum->closed += s->closed;
	sum->timed_out += s->timed_out;
	sum->failed += s->failed;
	sum->cancelled += s->cancelled;
	sum->bytes += s->bytes;
	sum->peak_conns += s->peak_conns;     /* an upper bound */
}

/* The other loops, started once loop 0 listens (its on_listening). */
static struct serve_worker *serve_workers;
static unsigned serve_nworkers;
static int serve_workers_rc;

static void serve_workers_start(void *arg, uint16_t port)
{
	for (unsigned i = 1; i < serve_nworkers; i++) {
		struct serve_worker *sw = &serve_workers[i];

		sw->opts.port = port;
		sw->opts.on_listening = NULL;
		sw->r = reactor_new_epoll();
		if (sw->r == NULL) {
			serve_workers_rc = -errno;
			break;
		}
		others[i] = sw->r;
		if (pthread_create(&sw->thread, NULL, serve_worker_main, sw)) {
			others[i] = NULL;
			reactor_free(sw->r);
			sw->r = NULL;
			serve_workers_rc = -EAGAIN;
			break;
		}
	}
	print_listening(arg, port);
}

static int serve_workers_join(struct echo_stats *sum)
{
	int rc = serve_workers_rc;

	for (unsigned i = 1; i < serve_nworkers; i++) {
		struct serve_worker *sw = &serve_workers[i];

		if (sw->r == NULL)
			continue;
		reactor_request_stop(sw->r);
		pthread_join(sw->thread, NULL);
		others[i] = NULL;
		reactor_free(sw->r);
		if (sw->rc < 0 && rc == 0)
			rc = sw->rc;
		echo_stats_add(sum, &sw->stats);
	}
	return rc;
}

/* An engine over io_uring where no ring can be set up here (io_uring
 * disabled by sysctl or refused by seccomp, an old kernel, a build without
 * liburing): one line naming the reason, and status 2, before anything
 * starts.  The bench asks the same question (completion_uring_usable()). */
static void check_engine_usable(const struct run_opts *ro, const char *what)
{
	const struct engine *e = ro->engine;
	char why[COMPLETION_REASON_MAX];

	if (strcmp(e->name, "uring") != 0 && !ro->uring)
		return;
	if (completion_uring_usable(why, sizeof why) == 0)
		return;
	if (ro->uring)
		fprintf(stderr, "pushpoll: %s --engine %s --backend uring: %s\n",
			what, e->name, why);
	else
		fprintf(stderr, "pushpoll: %s --engine uring: %s\n", what, why);
	exit(EXIT_USAGE);
}

static bool poll_on_workers(const struct run_opts *ro)
{
	return ro->workers > 1 && strcmp(ro->engine->name, "poll") == 0;
}

/* --engine poll --workers N: N workers of the multi-threaded executor
 * (poll.h), made after the substrate, so that a signal can stop them.
 * Exits with a one-line message if they cannot be made. */
static struct poll_workers *start_workers(unsigned n, unsigned threads,
					  bool offload)
{
	struct poll_workers *w;
	int rc = poll_workers_new(n, NULL, &w);

	if (rc == 0 && offload && (rc = poll_workers_offload(w, threads)) < 0)
		poll_workers_free(w);
	if (rc < 0) {
		fprintf(stderr, "pushpoll: cannot start %u poll workers: %s\n",
			n, strerror(-rc));
		exit(start_failure_status(rc));
	}
	running_workers = w;
	return w;
}

/* One line per worker: where the tasks ran (placed: taken from the
 * injection queue; moved out and in: handed between workers, W6). */
static void stop_workers(struct poll_workers *w)
{
	running_workers = NULL;
	for (unsigned i = 0; i < poll_workers_count(w); i++) {
		struct poll_workers_stats st;

		poll_workers_worker_stats_get(w, i, &st);
		printf("poll workers: worker=%u placed=%llu moved_out=%llu "
		       "moved_in=%llu polls=%llu remote_wakes=%llu\n", i,
		       (unsigned long long)st.placed,
		       (unsigned long long)st.moved,
		       (unsigned long long)st.moved_in,
		       (unsigned long long)st.polls,
		       (unsigned long long)st.remote_wakes);
	}
	poll_workers_free(w);
}

/* What an engine over completions does not take, a usage error in one
 * line rather than a setting quietly dropped: push's fast path (nothing
 * completes inside a start call, K4 of push.h) and poll's static task
 * slots (its buffers move into the kernel's operations, C1 of poll.h). */
static void check_completion_settings(const struct run_opts *ro)
{
	const char *e = ro->engine->name;

	if (ro->settings.fast_path && strcmp(e, "push") == 0)
		cli_usage_error("--fast-path: push over io_uring has no fast "
				"path (nothing completes inside a start call)");
	if (ro->settings.static_tasks > 0 && strcmp(e, "poll") == 0)
		cli_usage_error("--static-tasks: poll over io_uring has no "
				"static task slots (its buffers move into the "
				"kernel's operations)");
}

/* The engine's echo server on the backend asked for: its readiness entry
 * point, or with --backend uring its completion one (a usage error where
 * it has none). */
static echo_serve_fn echo_entry(const struct run_opts *ro)
{
	const struct engine *e = ro->engine;

	if (!ro->uring) {
		if (e->echo == NULL)
			cli_usage_error("--engine %s has no echo server",
					e->name);
		return e->echo;
	}
	if (e->echo_completion == NULL)
		cli_usage_error("--backend uring: --engine %s has no echo "
				"server over completions", e->name);
	check_completion_settings(ro);
	return e->echo_completion;
}

static fanout_run_fn fanout_entry(const struct run_opts *ro)
{
	const struct engine *e = ro->engine;

	if (!ro->uring) {
		if (e->fanout == NULL)
			cli_usage_error("--engine %s has no fanout", e->name);
		return e->fanout;
	}
	if (e->fanout_completion == NULL)
		cli_usage_error("--backend uring: --engine %s has no fanout "
				"over completions", e->name);
	check_completion_settings(ro);
	return e->fanout_completion;
}

static int cmd_serve_echo(int argc, char **argv)
{
	struct run_opts ro = { .threads = 2, .workers = 1 };
	struct reactor *r;
	struct offload *o;
	struct echo_stats stats = { 0 };
	struct mem_stats before, after;
	char why[256];
	echo_serve_fn echo;
	int rc;

	echo_opts_default(&ro.echo);
	fanout_opts_default(&ro.fanout);
	parse_options(argc, argv, &ro);
	echo = echo_entry(&ro);
	if (ro.workers > 1 && strcmp(ro.engine->name, "push") != 0 &&
	    strcmp(ro.engine->name, "poll") != 0)
		cli_usage_error("--workers: only push and poll run a loop per "
				"thread, not %s", ro.engine->name);
	/* push's workers are independent loops, each with its own ring
	 * beside its own reactor (serve_workers_start()); poll's executor
	 * moves tasks between threads, and a ring is one thread's. */
	if (ro.uring && ro.workers > 1 && poll_on_workers(&ro))
		cli_usage_error("--workers %u: poll over io_uring runs one loop "
				"(its workers move tasks between threads, and a "
				"ring is one thread's)", ro.workers);
	if (poll_on_workers(&ro) && (ro.settings.static_tasks > 0 ||
				     ro.echo.buffers == ECHO_BUFFERS_READY))
		cli_usage_error("--workers %u: poll's workers take neither "
				"--static-tasks nor --buffers ready (their slots "
				"and buffer are one thread's)", ro.workers);
	check_engine_usable(&ro, "serve echo");
	/* Over io_uring the engine itself refuses a ready mode it lacks
	 * (-EOPNOTSUPP, below). */
	if (!ro.uring && ro.echo.buffers == ECHO_BUFFERS_READY &&
	    !engine_has_ready_mode(ro.engine, why, sizeof why))
		cli_usage_error("--buffers ready: %s", why);
	engines_configure(&ro.settings);
	ro.echo.on_listening = print_listening;
	ro.echo.arg = (void *)ro.echo.host;
	cli_raise_nofile();
	if (ro.workers > 1 && !poll_on_workers(&ro)) {
		serve_workers = calloc(ro.workers, sizeof(*serve_workers));
		if (serve_workers == NULL) {
			fprintf(stderr, "pushpoll: serve echo: no memory for "
				"%u workers\n", ro.workers);
			return EXIT_MEASURED_FAILURE;
		}
		serve_nworkers = ro.workers;
		ro.echo.reuse_port = true;
		for (unsigned i = 1; i < ro.workers; i++) {
			serve_workers[i].echo = echo;
			serve_workers[i].opts = ro.echo;
		}
		ro.echo.on_listening = serve_workers_start;
	}
	o = start_substrate(&r, ro.threads);
	if (ro.workers <= 1)
		mark_echo_stats = &stats;
	mem_stats_get(&before);
	if (poll_on_workers(&ro)) {
		struct poll_workers *w = start_workers(ro.workers, 0, false);

		rc = poll_echo_serve_workers(w, r, &ro.echo, &stats);
		stop_workers(w);
	} else {
		rc = echo(r, o, &ro.echo, &stats);
	}
	if (ro.workers > 1 && !poll_on_workers(&ro)) {
		int wrc = serve_workers_join(&stats);

		if (rc == 0)
			rc = wrc;
		free(serve_workers);
	}
	mem_stats_get(&after);
	stop_substrate(r, o);
	/* push over io_uring reads from a provided buffer ring (push.h, K4),
	 * which a kernel before 6.0 lacks; poll's completion mode has no
	 * ready mode. */
	if (rc == -EOPNOTSUPP && ro.uring &&
	    ro.echo.buffers == ECHO_BUFFERS_READY)
		cli_usage_error("--buffers ready: %s over io_uring needs "
				"provided buffer rings, which this kernel "
				"lacks (Linux 6.0 has them): only --buffers "
				"conn",
				ro.engine->name);
	if (rc < 0) {
		fprintf(stderr, "pushpoll: serve echo on %s:%u: %s\n",
			ro.echo.host, ro.echo.port, strerror(-rc));
		return start_failure_status(rc);
	}
	echo_stats_print(stdout, ro.engine->name, &stats);
	print_marks();
	/* What the server still holds once it has closed every connection:
	 * 0 unless something leaked (the bench's "live heap back to 0"). */
	printf("exit live_bytes=%lld live_blocks=%lld\n",
	       (long long)(after.live_bytes - before.live_bytes),
	       (long long)(after.live_blocks - before.live_blocks));
	mem_print(ro.engine->name);
	return 0;
}

/* Refuse, before anything starts, an input no engine can read: missing,
 * unreadable, a directory, or not a regular file (a FIFO would block every
 * engine's open() until a writer came; it is opened here without
 * blocking, to be looked at). */
static void check_input(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		cli_usage_error("--input %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		cli_usage_error("--input %s: %s", path, strerror(errno));
	close(fd);
	if (S_ISDIR(st.st_mode))
		cli_usage_error("--input %s: %s", path, strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		cli_usage_error("--input %s: not a regular file", path);
}

static void check_output_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		cli_usage_error("--output-dir %s: not a directory", dir);
	if (access(dir, W_OK) != 0)
		cli_usage_error("--output-dir %s: %s", dir, strerror(errno));
}

static void sink_path(char *buf, size_t len, const struct fanout_opts *o,
		      unsigned i)
{
	snprintf(buf, len, "%s/sink-%u", o->output_dir, i);
}

/* Which file sinks exist before the run, so that a failed start removes
 * only the files it created.  NULL for TCP sinks (or out of memory: then
 * nothing is removed). */
static bool *sinks_existing(const struct fanout_opts *o)
{
	char path[4096];
	bool *existed;

	if (o->kind != FANOUT_SINK_FILE)
		return NULL;
	existed = calloc(o->sinks, sizeof(*existed));
	for (unsigned i = 0; existed != NULL && i < o->sinks; i++) {
		sink_path(path, sizeof(path), o, i);
		existed[i] = access(path, F_OK) == 0;
	}
	return existed;
}

/* The fanout could not start (err): say what was at fault (the sink file
 * that could not be opened, the address, or the resources), and remove the
 * sink files the attempt created. */
static int fanout_start_failed(const struct fanout_opts *o, int err,
			       const bool *existed)
{
	char path[4096];
	unsigned missing = o->sinks;

	for (unsigned i = 0; existed != NULL && i < o->sinks; i++) {
		sink_path(path, sizeof(path), o, i);
		if (existed[i])
			continue;
		if (access(path, F_OK) == 0)
			unlink(path);
		else if (missing == o->sinks)
			missing = i;
	}
	if (err == -ENOMEM || err == -EAGAIN)
		fprintf(stderr, "pushpoll: fanout of %s: cannot start its "
			"threads or memory: %s\n", o->input, strerror(-err));
	else if (o->kind == FANOUT_SINK_TCP)
		fprintf(stderr, "pushpoll: fanout: cannot listen on %s:%u: "
			"%s\n", o->host, o->port, strerror(-err));
	else if (missing < o->sinks)
		fprintf(stderr, "pushpoll: fanout: cannot open sink %s/sink-%u "
			"(%u sinks in all): %s\n", o->output_dir, missing,
			o->sinks, strerror(-err));
	else
		fprintf(stderr, "pushpoll: fanout of %s to %u sinks in %s: "
			"cannot start: %s\n", o->input, o->sinks,
			o->output_dir, strerror(-err));
	return start_failure_status(err);
}

/* A file sink that failed may hold more than it is said to have taken: a
 * write that was in an offload thread when the sink ended (an abort, a
 * timeout) still reached the file, though its result was dropped.  The
 * file is cut back to the bytes reported, so that the file, its bytes= and
 * its checksum= agree. */
static void fanout_trim_failed_sinks(const struct fanout_opts *o,
				     const struct fanout_stats *st)
{
	char path[4096];
	struct stat sb;

	if (o->kind != FANOUT_SINK_FILE)
		return;
	for (unsigned i = 0; i < st->sinks; i++) {
		if (st->sink[i].error == 0)
			continue;
		sink_path(path, sizeof(path), o, i);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    (uint64_t)sb.st_size > st->sink[i].bytes)
			(void)truncate(path, (off_t)st->sink[i].bytes);
	}
}

/* The fanout ran: one line on stderr for what stopped it or a sink, if
 * anything did but a sink timeout or a stop.  Returns how many sinks
 * failed, timed out or were cancelled. */
static unsigned fanout_report(const struct fanout_opts *o,
			      const struct fanout_stats *st)
{
	unsigned failed = 0, broken = 0, first = 0;

	for (unsigned i = 0; i < st->sinks; i++) {
		int e = st->sink[i].error;
		if (e == 0)
			continue;
		failed++;
		if (e != -ETIMEDOUT && e != -ECANCELED && broken++ == 0)
			first = i;
	}
	if (st->error == -ENOMEM)
		fprintf(stderr, "pushpoll: fanout of %s: out of memory; every "
			"sink stopped\n", o->input);
	else if (st->error != 0)
		fprintf(stderr, "pushpoll: fanout: reading --input %s: %s\n",
			o->input, strerror(-st->error));
	else if (broken > 0 && o->kind == FANOUT_SINK_FILE)
		fprintf(stderr, "pushpoll: fanout: writing %s/sink-%u: %s"
			" (%u of %u sinks failed)\n", o->output_dir, first,
			strerror(-st->sink[first].error), broken, st->sinks);
	else if (broken > 0)
		fprintf(stderr, "pushpoll: fanout: TCP sink %u: %s"
			" (%u of %u sinks failed)\n", first,
			strerror(-st->sink[first].error), broken, st->sinks);
	return failed;
}

/* --verify: every sink file read back and compared with the input.  One
 * line on stdout when all are right, one on stderr naming the first that
 * is not.  Returns whether all are right. */
static bool fanout_verified(const struct fanout_opts *o,
			    const struct fanout_stats *st)
{
	struct fanout_verify_result res;
	int rc = fanout_verify(o, st, &res);

	if (rc < 0) {
		fprintf(stderr, "pushpoll: fanout --verify: reading --input %s: "
			"%s\n", o->input, strerror(-rc));
		return false;
	}
	if (rc > 0) {
		fprintf(stderr, "pushpoll: fanout --verify: %s/sink-%u %s (%u of "
			"%u sinks wrong)\n", o->output_dir, res.first_bad,
			res.why, res.bad, res.checked);
		return false;
	}
	printf("verify=ok sinks=%u (each the input, or the prefix its bytes= "
	       "says, byte for byte)\n", res.checked);
	return true;
}

/* What `pushpoll fanout` waits for a sink without --sink-timeout: long
 * enough for any healthy disk or subscriber to take a chunk, short enough
 * that one subscriber that stopped reading does not hold up the others for
 * good.  (The library's own default, in fanout_opts_default(), stays 0.) */
#define FANOUT_DEFAULT_SINK_TIMEOUT_NS (10 * CLOCK_NS_PER_S)

static int cmd_fanout(int argc, char **argv)
{
	struct run_opts ro = { .threads = 2 };
	struct reactor *r;
	struct offload *o;
	struct fanout_stats stats = { 0 };
	bool *existed;
	unsigned failed;
	fanout_run_fn fanout;
	int rc;

	echo_opts_default(&ro.echo);
	fanout_opts_default(&ro.fanout);
	ro.fanout.sink_timeout_ns = FANOUT_DEFAULT_SINK_TIMEOUT_NS;
	parse_options(argc, argv, &ro);
	fanout = fanout_entry(&ro);
	if (ro.workers > 1 && strcmp(ro.engine->name, "poll") != 0)
		cli_usage_error("fanout --workers: only poll runs its fanout "
				"on workers, not %s", ro.engine->name);
	if (ro.uring && ro.workers > 1)
		cli_usage_error("fanout --workers %u: the engines over io_uring "
				"run one loop (a ring is one thread's)",
				ro.workers);
	check_engine_usable(&ro, "fanout");
	if (ro.fanout.input == NULL)
		cli_usage_error("fanout needs --input FILE");
	if (ro.verify && ro.fanout.kind != FANOUT_SINK_FILE)
		cli_usage_error("--verify reads file sinks back: it needs "
				"--sink file");
	check_input(ro.fanout.input);
	if (ro.fanout.kind == FANOUT_SINK_FILE)
		check_output_dir(ro.fanout.output_dir);
	engines_configure(&ro.settings);
	ro.fanout.on_listening = print_listening;
	ro.fanout.arg = (void *)ro.fanout.host;
	stats.sinks = ro.fanout.sinks;
	stats.sink = calloc(ro.fanout.sinks, sizeof(*stats.sink));
	if (stats.sink == NULL) {
		fprintf(stderr, "pushpoll: out of memory\n");
		return EXIT_MEASURED_FAILURE;
	}
	existed = sinks_existing(&ro.fanout);
	o = start_substrate(&r, ro.uring ? 0 : ro.threads);
	if (poll_on_workers(&ro)) {
		struct poll_workers *w = start_workers(ro.workers, ro.threads,
						       true);

		rc = poll_fanout_run_workers(w, r, &ro.fanout, &stats);
		stop_workers(w);
	} else {
		rc = fanout(r, o, &ro.fanout, &stats);
	}
	stop_substrate(r, o);
	if (rc < 0) {
		rc = fanout_start_failed(&ro.fanout, rc, existed);
		free(existed);
		free(stats.sink);
		return rc;
	}
	free(existed);
	fanout_trim_failed_sinks(&ro.fanout, &stats);
	fanout_stats_print(stdout, ro.engine->name, &stats);
	mem_print(ro.engine->name);
	failed = fanout_report(&ro.fanout, &stats);
	if (ro.verify && !fanout_verified(&ro.fanout, &stats))
		failed++;
	free(stats.sink);
	return failed == 0 ? 0 : EXIT_MEASURED_FAILURE;
}

/* "pushpoll 0.1.0", and the git describe of the tree built when there was
 * one: "pushpoll 0.1.0 (git v0.1.0-3-g4d56204-dirty)". */
static int cmd_version(void)
{
	if (PUSHPOLL_GIT_DESCRIBE[0] != '\0')
		printf("pushpoll %s (git %s)\n", PUSHPOLL_VERSION,
		       PUSHPOLL_GIT_DESCRIBE);
	else
		printf("pushpoll %s\n", PUSHPOLL_VERSION);
	return 0;
}

/* For the bench (bench_engine_completion): whether engine has a
 * completion entry point for echo, or for fanout. */
static bool engine_has_completion(const char *name, bool fanout)
{
	const struct engine *e = engine_find(name);

	return e != NULL && (fanout ? e->fanout_completion != NULL :
				      e->echo_completion != NULL);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "help";

	bench_engine_completion = engine_has_completion;

	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return cmd_version();
	if (strcmp(cmd, "serve") == 0) {
		if (argc < 3 || strcmp(argv[2], "echo") != 0)
			cli_usage_error("serve wants a workload: 'serve echo'");
		return cmd_serve_echo(argc - 2, argv + 2);
	}
	if (strcmp(cmd, "fanout") == 0)
		return cmd_fanout(argc - 1, argv + 1);
	if (strcmp(cmd, "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	if (strcmp(cmd, "load") == 0)
		return load_main(argc - 1, argv + 1);
	if (strcmp(cmd, "claims") == 0)
		return claims_main(argc - 1, argv + 1);
	if (strcmp(cmd, "torture") == 0)
		return torture_main(argc - 1, argv + 1);
	cli_usage_error("unknown command '%s'", cmd);
}
