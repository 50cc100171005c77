/* bench.c: `pushpoll bench`: the command, and the echo and churn
 * comparisons.
 *
 * For each round, for each engine (interleaved, so that a noisy neighbour
 * hurts every engine alike; the order turns by one each round, so that no
 * engine always runs first or last), the bench starts `pushpoll serve echo` as a
 * child process, drives it with the load generator from this process, and
 * reads the server's own counters: the server snapshots its allocation
 * counters and CPU time on CLI_MARK_SIGNAL (sent when measuring starts and
 * when it ends) and prints both snapshots when it exits.  So every figure covers the
 * measured window only, never start-up or shutdown.
 *
 * Medians over the rounds are reported with their min and max.  Ratios are to
 * the first engine in the list: the hand-written epoll floor, unless
 * --engines leaves it out.  Servers run alone on the last CPU and the load
 * generator on the others (see "CPU placement" below), unless --no-pin.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"
#include "loadgen.h"
#include "syscount.h"

static void parse_sweep(const char *list, struct bench_opts *o);

/* One measured run of one engine. */
struct sample {
	double v[BENCH_F_COUNT];
	double msgs;            /* messages the server echoed between its two
				 * marks, where it says (else those the load
				 * generator counted) */
	int ok;
};

/* The server's two snapshots, parsed from its output. */
struct mark {
	uint64_t allocs, bytes, cpu_ns;
	int64_t peak;
	uint64_t echoed;        /* bytes echoed, where the server says */
	bool has_echoed;
};

struct server {
	pid_t pid;
	FILE *out;
	uint16_t port;
	double rss_kib;
	/* A traced round: the counter from the first mark to the second. */
	bool trace;
	struct syscount *sc;
	struct syscount_result *calls;  /* filled at the second mark */
	bool counted;
};

/* Why ptrace was refused, the first time it was: every later traced round
 * is then left out (the refusal is the machine's, not the engine's). */
static char syscalls_why[SYSCOUNT_REASON_MAX];

/* ---- the server child -------------------------------------------------------- */

/* Start `pushpoll serve echo` for v on a free port and read the port it
 * got.  Its stdout comes back through a pipe; its stderr goes to
 * /dev/null.  Returns 0 or -errno (the child is reaped on failure). */
static int server_start(struct server *s, const struct bench_variant *v,
			const struct bench_opts *o, const struct bench_pin *pin,
			unsigned workers)
{
	const char *argv[16] = { "pushpoll", "serve", "echo", "--engine",
				 v->engine, "--port", "0", "--buffers",
				 o->buffers };
	char nw[16];
	int n = 9;

	for (int i = 0; v->flags[i] != NULL; i++)
		argv[n++] = v->flags[i];
	if (workers > 1) {
		snprintf(nw, sizeof(nw), "%u", workers);
		argv[n++] = "--workers";
		argv[n++] = nw;
	}
	argv[n] = NULL;
	return bench__serve_spawn(argv, pin, &s->pid, &s->out, &s->port);
}

/* The load generator calls these from its thread as it starts and stops
 * counting, and sends nothing while they run.  In a traced round each
 * waits, before it sends the mark, for the server to go quiet: then every
 * message in flight has been read and written back, none is half done at
 * the edge of the window, and the calls between the two marks are those
 * of the messages echoed between them, whatever the connection count (an
 * engine that reads now and writes later would otherwise be charged for
 * the reads of one window and the writes of another). */
#define TRACE_QUIET_MS 20
#define TRACE_QUIET_MAX_MS 10000
static void mark_start(void *arg)
{
	struct server *s = arg;
	char why[SYSCOUNT_REASON_MAX];
	int rc = 0;

	/* Traced: the counter counts from the delivery of this mark to that
	 * of the next, the stretch the server's snapshots cover. */
	if (s->trace)
		rc = syscount_start(s->pid, CLI_MARK_SIGNAL, &s->sc, why,
				    sizeof(why));
	/* Refused (the machine's doing): said once, and no more traced
	 * rounds; anything else is this round's. */
	if (rc == -EPERM || rc == -ENOSYS) {
		if (syscalls_why[0] == '\0')
			snprintf(syscalls_why, sizeof(syscalls_why), "%s",
				 why);
	} else if (rc < 0) {
		fprintf(stderr, "\npushpoll: bench: system calls not counted: "
			"%s\n", why);
	}
	if (s->sc != NULL)
		syscount_wait_quiet(s->sc, TRACE_QUIET_MS, TRACE_QUIET_MAX_MS);
	kill(s->pid, CLI_MARK_SIGNAL);
}

static void mark_end(void *arg)
{
	struct server *s = arg;
	char why[SYSCOUNT_REASON_MAX];

	if (s->sc != NULL)
		syscount_wait_quiet(s->sc, TRACE_QUIET_MS, TRACE_QUIET_MAX_MS);
	kill(s->pid, CLI_MARK_SIGNAL);
	if (s->sc != NULL) {
		int rc = syscount_stop(s->sc, s->calls, why, sizeof(why));

		s->counted = rc == 0;
		/* A refusal is the machine's; a window that did not close is
		 * this round's, and only fails it. */
		if (rc == -ENOSYS && syscalls_why[0] == '\0')
			snprintf(syscalls_why, sizeof(syscalls_why), "%s", why);
		else if (rc < 0)
			fprintf(stderr, "\npushpoll: bench: system calls not "
				"counted: %s\n", why);
		s->sc = NULL;
	}
	s->rss_kib = bench__rss_kib(s->pid, 0);
}

const char *bench__syscalls_why(void)
{
	return syscalls_why[0] != '\0' ? syscalls_why : NULL;
}

/* Stop the server and read its snapshots.  Returns 0 when it exited with 0
 * and printed both. */
static int server_stop(struct server *s, struct mark m[2])
{
	char line[512];
	int status, seen = 0;

	kill(s->pid, SIGTERM);
	while (fgets(line, sizeof(line), s->out) != NULL) {
		unsigned i;
		struct mark x;
		const char *echoed = strstr(line, " echoed_bytes=");

		if (sscanf(line, "mark %u allocs=%" SCNu64 " bytes=%" SCNu64
			   " peak_live_bytes=%" SCNd64 " cpu_ns=%" SCNu64,
			   &i, &x.allocs, &x.bytes, &x.peak, &x.cpu_ns) == 5 &&
		    i < 2) {
			x.has_echoed = echoed != NULL &&
				       sscanf(echoed, " echoed_bytes=%" SCNu64,
					      &x.echoed) == 1;
			m[i] = x;
			seen |= 1 << i;
		}
	}
	fclose(s->out);
	waitpid(s->pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || seen != 3)
		return -1;
	return 0;
}

/* One round of one engine: start its server, load it, stop it, compute the
 * figures.  The latency of the run is merged into hist.  With calls, the
 * server is traced over the measured window, and out->ok says whether
 * calls was filled. */
static void run_one(const struct bench_variant *v, const struct bench_opts *o,
		    const struct bench_pin *pin, enum bench_mode mode,
		    struct sample *out, struct hist *hist,
		    struct syscount_result *calls)
{
	struct server s = { .trace = calls != NULL, .calls = calls };
	struct loadgen_opts lo = {
		.host = "127.0.0.1", .conns = o->conns, .depth = o->depth,
		.msg_size = o->msg_size, .rate = o->rate,
		.warmup_ns = o->warmup_ns, .duration_ns = o->duration_ns,
		.on_measure = mark_start, .on_end = mark_end, .arg = &s,
	};
	struct loadgen_result *res = malloc(sizeof(*res));
	struct mark m[2] = { { 0 } };
	int load_rc, stop_rc;

	memset(out, 0, sizeof(*out));
	if (v->engine == NULL) {        /* an external server */
		free(res);
		out->ok = bench__target_run(v, o, pin, mode, out->v,
					    hist) == 0;
		return;
	}
	if (res == NULL || server_start(&s, v, o, pin, o->workers) != 0) {
		fprintf(stderr, "\npushpoll: bench: %s did not start\n",
			v->label);
		free(res);
		return;
	}
	lo.port = s.port;
	load_rc = mode == BENCH_CHURN ? loadgen_churn(&lo, res)
				      : loadgen_echo(&lo, res);
	if (s.sc != NULL) {        /* the load ended before its window did */
		syscount_stop(s.sc, calls, NULL, 0);
		s.counted = false;
		s.sc = NULL;
	}
	stop_rc = server_stop(&s, m);
	if (stop_rc != 0 || load_rc != 0 || res->msgs == 0) {
		fprintf(stderr, "\npushpoll: bench: %s failed (%s; %u "
			"connections failed; bytes: %" PRIu64 " wrong, %"
			PRIu64 " missing, %" PRIu64 " extra)\n", v->label,
			stop_rc != 0 ? "the server did not exit cleanly"
				     : "the load generator saw errors",
			res->conns_failed, res->corrupt, res->missing,
			res->extra);
		free(res);
		return;
	}
	double msgs = (double)res->msgs;
	bench__load_figures(res, out->v);
	out->msgs = m[0].has_echoed && m[1].has_echoed
		    ? (double)(m[1].echoed - m[0].echoed) / (double)o->msg_size
		    : (double)res->msgs;
	out->v[BENCH_F_CPU] = (double)(m[1].cpu_ns - m[0].cpu_ns) / msgs;
	out->v[BENCH_F_ALLOCS] = (double)(m[1].allocs - m[0].allocs) / msgs;
	out->v[BENCH_F_BYTES] = (double)(m[1].bytes - m[0].bytes) / msgs;
	out->v[BENCH_F_PEAK] = (double)m[1].peak / 1024.0;
	out->v[BENCH_F_RSS] = s.rss_kib;
	out->ok = calls == NULL || s.counted;
	if (hist != NULL)
		hist_merge(hist, &res->latency);
	free(res);
}

/* ---- medians ------------------------------------------------------------------- */

static void summarise(const struct sample *s, int rounds,
		      struct bench_summary *out)
{
	double v[BENCH_MAX_ROUNDS];

	memset(out, 0, sizeof(*out));
	out->rounds = rounds;
	for (int r = 0; r < rounds; r++) {
		out->cpu_round[r] = s[r].ok ? s[r].v[BENCH_F_CPU] : NAN;
		out->msgs_round[r] = s[r].ok ? s[r].v[BENCH_F_MSGS] : NAN;
	}
	for (int f = 0; f < BENCH_F_COUNT; f++) {
		int n = 0;
		for (int r = 0; r < rounds; r++)
			if (s[r].ok)
				v[n++] = s[r].v[f];
		out->rounds_ok = n;
		if (n > 0)
			bench__stats(v, n, &out->med[f], &out->min[f],
				     &out->max[f]);
	}
}

/* ---- echo and churn ---------------------------------------------------------------- */

bool bench__traces(const struct bench_opts *o, enum bench_mode mode)
{
	return o->syscalls && mode == BENCH_ECHO && o->rate == 0;
}

uint64_t bench__traced_ns(const struct bench_opts *o)
{
	uint64_t most = CLOCK_NS_PER_S;

	return o->duration_ns < most ? o->duration_ns : most;
}

/* The system calls of res over the messages of the traced round into e. */
static void syscalls_summarise(const struct syscount_result *res,
			       const struct sample *one, struct bench_summary *e)
{
	double msgs = one->msgs;

	e->syscalls = (double)res->total / msgs;
	e->sys_msgs = msgs;
	e->sys_msgs_per_s = one->v[BENCH_F_MSGS];
	e->nsys = syscount_top(res, BENCH_SYS_TOP, e->sys_nr);
	for (unsigned k = 0; k < e->nsys; k++)
		e->sys_per_msg[k] = (double)res->by_nr[e->sys_nr[k]] / msgs;
}

/* One traced round of every engine of this tree (an external server is
 * not the bench's to trace): the system calls per message.  The first
 * refusal (no ptrace here) ends them all; bench__syscalls_why() says why. */
static void traced_rounds(const struct bench_opts *o,
			  const struct bench_pin *pin,
			  const struct bench_variant *const *v,
			  struct bench_summary *out, int nv)
{
	struct bench_opts to = *o;
	struct syscount_result *res = malloc(sizeof(*res));
	struct sample one;

	if (res == NULL)
		return;
	to.duration_ns = bench__traced_ns(o);
	to.rounds = 1;
	for (int i = 0; i < nv && bench__syscalls_why() == NULL; i++) {
		if (v[i]->engine == NULL)
			continue;
		bench__progress(&to, "syscalls", 1, v[i]->label, i + 1, nv);
		memset(res, 0, sizeof(*res));
		run_one(v[i], &to, pin, BENCH_ECHO, &one, NULL, res);
		if (one.ok && one.msgs > 0)
			syscalls_summarise(res, &one, &out[i]);
		else if (one.ok)
			fprintf(stderr, "\npushpoll: bench: %s: system calls "
				"not counted: no message was echoed between "
				"the traced round's marks\n", v[i]->label);
	}
	free(res);
}

int bench__echo_run(const struct bench_opts *o, enum bench_mode mode,
		    struct bench_summary *out, struct hist *hists, int max)
{
	static struct sample samples[BENCH_MAX_ENGINES][BENCH_MAX_ROUNDS];
	const struct bench_variant *v[BENCH_MAX_ENGINES];
	struct bench_pin pin;
	const char *name = mode == BENCH_CHURN ? "churn" :
			   o->rate ? "open" : "echo";
	int nv = 0, rounds = o->rounds;

	if (rounds > BENCH_MAX_ROUNDS)
		rounds = BENCH_MAX_ROUNDS;
	nv = bench__select_echo(o, v, max);
	if (nv == 0)
		return 0;
	for (int i = 0; i < nv && hists != NULL; i++)
		hist_init(&hists[i]);
	signal(SIGPIPE, SIG_IGN);
	bench__pin_begin(o, &pin);
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < nv; k++) {
			int i = bench__turn(r, k, nv);

			bench__progress(o, name, r + 1, v[i]->label,
					r * nv + k + 1, rounds * nv);
			run_one(v[i], o, &pin, mode, &samples[i][r],
				hists != NULL ? &hists[i] : NULL, NULL);
		}
	}
	for (int i = 0; i < nv; i++) {
		summarise(samples[i], rounds, &out[i]);
		out[i].engine = v[i]->label;
		out[i].syscalls = NAN;
	}
	if (bench__traces(o, mode))
		traced_rounds(o, &pin, v, out, nv);
	bench__pin_end(&pin);
	bench__progress_done(o);
	return nv;
}

int bench_echo_collect(const struct bench_opts *o, struct bench_summary *out,
		       int max)
{
	return bench__echo_run(o, BENCH_ECHO, out, NULL, max);
}

/* ---- the command ------------------------------------------------------------------- */

void bench_opts_default(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conns = 50;
	o->depth = 1;
	o->msg_size = 64;
	o->buffers = "conn";
	o->warmup_ns = 500 * CLOCK_NS_PER_MS;
	o->duration_ns = 2 * CLOCK_NS_PER_S;
	o->rounds = 3;
	o->file_size[0] = 32 << 20;
	o->nsizes = 1;
	o->sinks = 4;
	o->sink_kinds = BENCH_SINK_TCP | BENCH_SINK_FILE;
	o->chunk_size = 64 << 10;
	o->window = 4;
	o->progress = true;
	o->pin = true;
}

static bool rounds_all_ok(const struct bench_summary *s, int n, int rounds)
{
	for (int i = 0; i < n; i++)
		if (s[i].rounds_ok < rounds)
			return false;
	return true;
}

/* Run one echo-style section of the report with opts o. */
static void run_section(struct bench_report *rep, const char *key,
			enum bench_mode mode, const struct bench_opts *o)
{
	struct bench_section *sec = &rep->sec[rep->nsec++];

	sec->key = key;
	sec->mode = mode;
	sec->rate = mode == BENCH_ECHO ? o->rate : 0;
	sec->duration_ns = o->duration_ns;
	sec->rounds = o->rounds < BENCH_MAX_ROUNDS ? o->rounds
						   : BENCH_MAX_ROUNDS;
	sec->traced = bench__traces(o, mode);
	sec->n = bench__echo_run(o, mode, sec->sum, sec->hist,
				 BENCH_MAX_ENGINES);
}

/* Print every table and the targets, then save the files and plots.
 * Returns the exit status: 1 when some engine failed a round or a file
 * could not be written. */
static int report(struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	int rc = 0;

	for (int i = 0; i < rep->nsec; i++) {
		bench__print_section(stdout, rep, &rep->sec[i]);
		if (!rounds_all_ok(rep->sec[i].sum, rep->sec[i].n,
				   rep->sec[i].rounds))
			rc = EXIT_MEASURED_FAILURE;
	}
	if (rep->has_fanout) {
		bench__print_fanout(stdout, rep);
		for (int i = 0; i < rep->nfanout; i++)
			if (rep->fanout[i].rounds_ok < o->rounds)
				rc = EXIT_MEASURED_FAILURE;
	}
	bench__print_targets(stdout, rep);
	fflush(stdout);
	if (o->json != NULL && bench__save_json(o->json, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	if (o->csv != NULL && bench__save_csv(o->csv, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	if (o->plot_dir != NULL && bench__plot(o->plot_dir, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	return rc;
}

int bench_echo(const struct bench_opts *o)
{
	struct bench_report *rep = calloc(1, sizeof(*rep));
	int rc;

	if (rep == NULL)
		return EXIT_MEASURED_FAILURE;
	rep->opts = o;
	run_section(rep, o->rate ? "echo_open" : "echo", BENCH_ECHO, o);
	if (rep->sec[0].n == 0) {
		free(rep);
		cli_usage_error("--engines %s names no engine", o->engines);
	}
	rc = report(rep);
	free(rep);
	return rc;
}

/* Parse "8M,32M" into o->file_size (ascending, at most BENCH_MAX_SIZES). */
static void parse_sizes(const char *text, struct bench_opts *o)
{
	char buf[256], *save = NULL;

	if (strlen(text) >= sizeof(buf))
		cli_usage_error("--file-size: '%s' is too long", text);
	strcpy(buf, text);
	o->nsizes = 0;
	for (char *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == BENCH_MAX_SIZES)
			cli_usage_error("--file-size takes at most %d sizes",
					BENCH_MAX_SIZES);
		o->file_size[o->nsizes++] = cli_size("--file-size", p, 1,
						     (uint64_t)16 << 30);
	}
	if (o->nsizes == 0)
		cli_usage_error("--file-size needs a size");
	for (int i = 1; i < o->nsizes; i++)
		if (o->file_size[i] <= o->file_size[i - 1])
			cli_usage_error("--file-size: give the sizes in "
					"ascending order, not '%s'", text);
}

static unsigned parse_sink_kinds(const char *text)
{
	if (strcmp(text, "tcp") == 0)
		return BENCH_SINK_TCP;
	if (strcmp(text, "file") == 0)
		return BENCH_SINK_FILE;
	if (strcmp(text, "both") == 0)
		return BENCH_SINK_TCP | BENCH_SINK_FILE;
	cli_usage_error("--sink wants tcp, file or both, not '%s'", text);
}

static void check_engines(const char *list)
{
	char buf[256], *save = NULL;

	if (strlen(list) >= sizeof(buf) || list[0] == '\0')
		cli_usage_error("--engines: '%s' names no engine", list);
	strcpy(buf, list);
	for (char *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (!bench__is_variant(p) && !bench__is_fanout_tool(p))
			cli_usage_error("--engines: unknown engine '%s' "
					"(engines: epoll, libuv, libevent, "
					"push, push-pooled, poll%s, tokio, "
					"tokio-mt; for fanout also the tools "
					"tee, socat)", p,
					bench__is_variant("uring") ?
					", uring, push/uring, poll/uring" :
					"");
	}
}

/* Rounds of the headline's closed-loop echo, where --rounds does not say:
 * its CPU ratios (the io_uring targets) are read round by round, and
 * three pairs are too few to show how far the ratio swings on a busy
 * machine; the other sections keep the default. */
#define HEADLINE_ECHO_ROUNDS 5

/* The open-loop rate of the headline: messages/s in all, well within what
 * every engine sustains on a small machine, so that latencies compare under
 * the same load. */
#define HEADLINE_RATE 20000

/* The workloads a bench runs (bits). */
enum { W_ECHO = 1, W_CHURN = 2, W_FANOUT = 4 };

static unsigned parse_workload(const char *w)
{
	if (strcmp(w, "all") == 0)
		return W_ECHO | W_CHURN | W_FANOUT;
	if (strcmp(w, "echo") == 0)
		return W_ECHO;
	if (strcmp(w, "churn") == 0)
		return W_CHURN;
	if (strcmp(w, "fanout") == 0)
		return W_FANOUT;
	cli_usage_error("bench: unknown workload '%s' (workloads: all, echo, "
			"churn, fanout, scale)", w);
}

static void bench_usage(FILE *f)
{
	fprintf(f,
"usage: pushpoll bench [all|echo|churn|fanout|scale] [OPTIONS]\n"
"\n"
"Every engine under the same load, interleaved and repeated; medians with\n"
"min..max, and ratios to the hand-written epoll floor.  With no workload:\n"
"all of them (echo closed and open loop, churn, fanout), about a minute.\n"
"\n"
"  --engines LIST      some of: epoll,libuv,libevent,push,push-pooled,poll,\n"
"                      uring, push/uring, poll/uring (where built with\n"
"                      liburing; an engine's /uring row where it has\n"
"                      completion entry points), tokio,tokio-mt\n"
"                      (where built: scripts/install-deps tokio, then\n"
"                      configure again) and, for fanout, the tools tee\n"
"                      (file sinks) and socat (TCP sinks), run beside them\n"
"                      (default: all)\n"
"  --target NAME=HOST:PORT      a running echo server as one more row (echo,\n"
"                      churn): what a client sees; its CPU and heap: \"-\"\n"
"  --target 'NAME=cmd:COMMAND'  a server the bench starts, pins and stops\n"
"                      each round; {port} in COMMAND is where it must listen.\n"
"                      Its CPU, RSS and heap are measured; the heap through\n"
"                      LD_PRELOAD of pushpoll-memcount.so, which sees only\n"
"                      malloc and its kin: nothing of a static binary, only\n"
"                      the refills of a program's own allocator (a Rust\n"
"                      program's default allocator is malloc: counted)\n"
"  --rounds N          rounds of every engine (default 3; the headline's\n"
"                      closed-loop echo: %d)\n"
"  --backend epoll|uring  only the readiness rows, or only the io_uring rows\n"
"                      (uring, push/uring, poll/uring), each with the epoll\n"
"                      floor (default: both)\n"
"echo and churn:\n"
"  --conns N           connections (churn: exchanges at once; default 50)\n"
"  --depth N           messages in flight per connection (default 1)\n"
"  --size SIZE         bytes per message (default 64)\n"
"  --buffers conn|ready  the servers' read buffers: one per connection\n"
"                      (default), or taken only when readable\n"
"  --rate MSGS/S       open loop at this rate in all (echo; default closed;\n"
"                      the headline's open loop: %d)\n"
"  --duration DURATION measured time per run (default 2s; headline 800ms)\n"
"  --warmup DURATION   unmeasured time before it (default 500ms)\n"
"fanout:\n"
"  --file-size SIZE[,SIZE...]  generated inputs (default 32M; headline 8M,32M)\n"
"  --sinks N           sinks per run (default 4)\n"
"  --sink tcp|file|both  sink kinds (default both)\n"
"  --chunk-size SIZE   (default 64K)    --window W   chunks in memory (default 4)\n"
"output:\n"
"  --json FILE  --csv FILE  every figure\n"
"  --plot DIR          PNG plots drawn with gnuplot\n"
"  --quiet             no progress line on stderr\n"
"  --no-pin            let the scheduler place servers and load generator\n"
"                      (default: servers on the last CPU, the load on the rest)\n"
"  --no-syscalls       no traced round (closed-loop echo runs one more round\n"
"                      of each engine, its server traced with ptrace, at most\n"
"                      1 s, to count its system calls per message)\n"
"  --workers-sweep LIST  echo of push and poll with each number of loops per\n"
"                      thread in LIST (1,2,4...): msgs/s and CPU per message\n"
"\n"
"exit status: 0 every row measured in every round; 1 an engine or target\n"
"  failed (one line on stderr names it and the problem: unreachable, refused,\n"
"  did not start or listen, closed early, wrong bytes, stalled; the other\n"
"  rows are still measured) or a file could not be written; 2 a usage error\n",
		HEADLINE_ECHO_ROUNDS, HEADLINE_RATE);
	bench_scale_usage(f);
}

static void parse_bench_options(int argc, char **argv, struct bench_opts *o,
				bool *duration_set, bool *warmup_set,
				bool *sizes_set, bool *rounds_set)
{
	enum { O_ENGINES = 256, O_TARGET, O_CONNS, O_DEPTH, O_SIZE, O_BUFFERS,
	       O_RATE, O_DURATION,
	       O_WARMUP, O_ROUNDS, O_JSON, O_CSV, O_PLOT, O_FILE_SIZE,
	       O_NO_SYSCALLS,
	       O_SINKS, O_SINK, O_CHUNK, O_WINDOW, O_QUIET, O_NO_PIN, O_SWEEP,
	       O_BACKEND, O_HELP };
	static const struct option opts[] = {
		{ "engines", required_argument, NULL, O_ENGINES },
		{ "target", required_argument, NULL, O_TARGET },
		{ "conns", required_argument, NULL, O_CONNS },
		{ "depth", required_argument, NULL, O_DEPTH },
		{ "size", required_argument, NULL, O_SIZE },
		{ "buffers", required_argument, NULL, O_BUFFERS },
		{ "rate", required_argument, NULL, O_RATE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{ "json", required_argument, NULL, O_JSON },
		{ "csv", required_argument, NULL, O_CSV },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "file-size", required_argument, NULL, O_FILE_SIZE },
		{ "sinks", required_argument, NULL, O_SINKS },
		{ "sink", required_argument, NULL, O_SINK },
		{ "chunk-size", required_argument, NULL, O_CHUNK },
		{ "window", required_argument, NULL, O_WINDOW },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "no-syscalls", no_argument, NULL, O_NO_SYSCALLS },
		{ "no-pin", no_argument, NULL, O_NO_PIN },
		{ "workers-sweep", required_argument, NULL, O_SWEEP },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_ENGINES:
			check_engines(optarg);
			o->engines = optarg;
			break;
		case O_TARGET:
			if (o->ntargets == BENCH_MAX_TARGETS)
				cli_usage_error("--target: at most %d targets",
						BENCH_MAX_TARGETS);
			bench__parse_target(optarg, &o->targets[o->ntargets]);
			for (int i = 0; i < o->ntargets; i++)
				if (strcmp(o->targets[i].label,
					   o->targets[o->ntargets].label) == 0)
					cli_usage_error("--target: two targets "
							"named '%s'",
							o->targets[i].label);
			o->ntargets++;
			break;
		case O_CONNS:
			o->conns = (unsigned)cli_uint("--conns", optarg, 1,
						      10000);
			break;
		case O_DEPTH:
			o->depth = (unsigned)cli_uint("--depth", optarg, 1,
						      LOADGEN_MAX_DEPTH);
			break;
		case O_SIZE:
			o->msg_size = cli_size("--size", optarg, 1, 1 << 20);
			break;
		case O_BUFFERS:
			if (strcmp(optarg, "conn") != 0 &&
			    strcmp(optarg, "ready") != 0)
				cli_usage_error("--buffers wants conn or "
						"ready, not '%s'", optarg);
			o->buffers = optarg;
			break;
		case O_BACKEND:
			if (strcmp(optarg, "epoll") != 0 &&
			    strcmp(optarg, "uring") != 0)
				cli_usage_error("--backend wants epoll or "
						"uring, not '%s'", optarg);
			o->backend = optarg;
			break;
		case O_RATE:
			o->rate = cli_uint("--rate", optarg, 0, 100000000);
			break;
		case O_DURATION:
			o->duration_ns = cli_duration_ns("--duration", optarg);
			*duration_set = true;
			break;
		case O_WARMUP:
			o->warmup_ns = cli_duration_ns("--warmup", optarg);
			*warmup_set = true;
			break;
		case O_ROUNDS:
			o->rounds = (int)cli_uint("--rounds", optarg, 1,
						  BENCH_MAX_ROUNDS);
			*rounds_set = true;
			break;
		case O_JSON: o->json = optarg; break;
		case O_CSV: o->csv = optarg; break;
		case O_PLOT: o->plot_dir = optarg; break;
		case O_FILE_SIZE:
			parse_sizes(optarg, o);
			*sizes_set = true;
			break;
		case O_SINKS:
			o->sinks = (unsigned)cli_uint("--sinks", optarg, 1,
						      1000);
			break;
		case O_SINK: o->sink_kinds = parse_sink_kinds(optarg); break;
		case O_CHUNK:
			o->chunk_size = cli_size("--chunk-size", optarg, 1,
						 64 << 20);
			break;
		case O_WINDOW:
			o->window = (unsigned)cli_uint("--window", optarg, 1,
						       4096);
			break;
		case O_QUIET: o->progress = false; break;
		case O_NO_PIN: o->pin = false; break;
		case O_SWEEP: parse_sweep(optarg, o); break;
		case O_NO_SYSCALLS: o->syscalls = false; break;
		case O_HELP:
			bench_usage(stdout);
			exit(0);
		case ':':
			cli_usage_error("%s needs a value", argv[optind - 1]);
		default:
			cli_usage_error("bench: unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		cli_usage_error("bench: unexpected argument '%s'",
				argv[optind]);
	if (o->duration_ns == 0)
		cli_usage_error("--duration must be more than 0");
}

/* --workers-sweep 1,2,4: echo of push and poll with each number of loops
 * per thread (serve echo --workers N). */
static void parse_sweep(const char *list, struct bench_opts *o)
{
	char buf[128], *save = NULL, *tok;

	if (strlen(list) >= sizeof(buf))
		cli_usage_error("--workers-sweep: list too long");
	strcpy(buf, list);
	o->nsweep = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (o->nsweep == BENCH_MAX_SWEEP)
			cli_usage_error("--workers-sweep: at most %d counts",
					BENCH_MAX_SWEEP);
		o->sweep[o->nsweep++] = (unsigned)cli_uint("--workers-sweep",
							   tok, 1, 64);
	}
	if (o->nsweep == 0)
		cli_usage_error("--workers-sweep wants a list of counts");
}

/* The sweep: one echo run per count, throughput and CPU per message, with
 * the range over the rounds.  At --workers 1 the epoll floor runs in the
 * same rounds, for the no-regression target (bench_sweep.c). */
static int run_sweep(struct bench_opts *o)
{
	struct bench_summary s[BENCH_MAX_ENGINES], one[BENCH_MAX_ENGINES];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *engines, *with_floor = NULL;
	char buf[256];
	int none = 0;

	if (o->engines == NULL)
		o->engines = "push,poll";
	engines = o->engines;
	if (strstr(engines, "epoll") == NULL) {
		snprintf(buf, sizeof(buf), "%s,epoll", engines);
		with_floor = buf;
	}
	printf("echo with loops per thread (serve echo --workers N: push, a "
	       "loop per thread; poll, the multi-threaded executor), %u "
	       "connections, %zu-byte messages\n", o->conns, o->msg_size);
	printf("| workers | engine | msgs/s [min..max] | server CPU ns/msg "
	       "[min..max] |\n|---|---|---|---|\n");
	for (int k = 0; k < o->nsweep; k++) {
		int n;

		o->workers = o->sweep[k];
		o->engines = o->workers == 1 && with_floor != NULL ? with_floor
								     : engines;
		n = bench_echo_collect(o, s, BENCH_MAX_ENGINES);
		for (int i = 0; i < n; i++)
			printf("| %u | %s | %.0f [%.0f..%.0f] | %.0f "
			       "[%.0f..%.0f] |\n", o->workers, s[i].engine,
			       s[i].med[BENCH_F_MSGS], s[i].min[BENCH_F_MSGS],
			       s[i].max[BENCH_F_MSGS], s[i].med[BENCH_F_CPU],
			       s[i].min[BENCH_F_CPU], s[i].max[BENCH_F_CPU]);
		if (o->workers == 1) {
			memcpy(one, s, (size_t)n * sizeof(s[0]));
			none = n;
		}
	}
	o->engines = engines;
	printf("note: this machine has %ld CPU(s); the load generator takes "
	       "one, so a scaling figure needs more cores than %ld\n", cpus,
	       cpus);
	if (none > 0)
		bench__print_sweep_targets(stdout, one, none);
	else
		printf("targets: the no-regression target needs 1 in "
		       "--workers-sweep\n");
	return 0;
}

int bench_main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_report *rep;
	unsigned work = W_ECHO | W_CHURN | W_FANOUT;
	bool all = true, duration_set = false, warmup_set = false;
	bool sizes_set = false, rounds_set = false;
	int rc;

	if (argc > 1 && strcmp(argv[1], "scale") == 0)
		return bench_scale_main(argc - 1, argv + 1);
	bench_opts_default(&o);
	o.syscalls = true;
	if (argc > 1 && argv[1][0] != '-') {
		work = parse_workload(argv[1]);
		all = strcmp(argv[1], "all") == 0;
		argc--;
		argv++;
	}
	parse_bench_options(argc, argv, &o, &duration_set, &warmup_set,
			    &sizes_set, &rounds_set);
	if (o.plot_dir != NULL && !cli_have_program("gnuplot"))
		fprintf(stderr, "pushpoll: --plot: "
			CLI_INSTALL_HINT("gnuplot", "gnuplot-nox")
			": the plots' scripts and data are written, no PNG\n");
	if (o.json != NULL)
		cli_output_file("--json", o.json);
	if (o.csv != NULL)
		cli_output_file("--csv", o.csv);
	if (o.plot_dir != NULL)
		cli_output_dir("--plot", o.plot_dir);
	if (all) {
		/* The headline: everything in about a minute. */
		if (!duration_set)
			o.duration_ns = 800 * CLOCK_NS_PER_MS;
		if (!warmup_set)
			o.warmup_ns = 250 * CLOCK_NS_PER_MS;
		if (!sizes_set) {
			o.file_size[0] = 8 << 20;
			o.file_size[1] = 32 << 20;
			o.nsizes = 2;
		}
	}
	if (o.nsweep > 0) {
		o.syscalls = false;     /* the sweep prints time figures only */
		return run_sweep(&o);
	}
	rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		fprintf(stderr, "pushpoll: bench: out of memory\n");
		return EXIT_MEASURED_FAILURE;
	}
	rep->opts = &o;
	if (work & W_ECHO) {
		struct bench_opts eo = o;
		if (all)
			eo.rate = 0;    /* throughput: the closed loop */
		if (all && !rounds_set)
			eo.rounds = HEADLINE_ECHO_ROUNDS;
		run_section(rep, eo.rate ? "echo_open" : "echo", BENCH_ECHO,
			    &eo);
	}
	if (all) {
		/* The same load for every engine, for the latencies. */
		struct bench_opts oo = o;
		if (oo.rate == 0)
			oo.rate = HEADLINE_RATE;
		run_section(rep, "echo_open", BENCH_ECHO, &oo);
	}
	if (work & W_CHURN) {
		struct bench_opts co = o;
		/* In the headline, churn gets half the time of echo. */
		if (all && !duration_set)
			co.duration_ns = o.duration_ns / 2;
		if (all && !warmup_set)
			co.warmup_ns = o.warmup_ns * 2 / 3;
		run_section(rep, "churn", BENCH_CHURN, &co);
	}
	if (work & W_FANOUT) {
		rep->has_fanout = true;
		rep->nfanout = bench__fanout_run(&o, rep->fanout,
						 (int)(sizeof(rep->fanout) /
						       sizeof(rep->fanout[0])));
		if (rep->nfanout < 0) {
			fprintf(stderr, "pushpoll: bench: cannot make the "
				"fanout input: %s\n", strerror(-rep->nfanout));
			free(rep);
			return EXIT_MEASURED_FAILURE;
		}
	}
	rc = report(rep);
	free(rep);
	return rc;
}
