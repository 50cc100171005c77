/* bench.h: `pushpoll bench`, the side-by-side comparison.
 *
 * Every engine is measured the same way in one run: the servers run as
 * child processes of the bench (`pushpoll serve echo`, `pushpoll fanout`),
 * the load comes from the load generator (loadgen.h) in the bench process,
 * and the server's own counters (allocations, CPU time) are read from the
 * server.  Engines are interleaved within each round and the rounds are
 * repeated, so a noisy neighbour hurts every engine alike; medians are
 * reported with their min and max, beside the ratio to the hand-written
 * epoll floor.
 *
 * Three workloads:
 *   echo    closed loop (or open loop with a rate) over long-lived
 *           connections: throughput, latency, CPU and allocations per
 *           message;
 *   churn   a new connection per exchange: the same figures per
 *           connection;
 *   fanout  one generated input file to N sinks (files, and TCP
 *           subscribers drained by the load generator): throughput, time to
 *           first byte at every sink, peak heap against the window.
 *
 * The headline (`pushpoll bench`, no workload) runs echo in the closed
 * loop (throughput, CPU), echo in the open loop at one rate for every
 * engine (latency under the same load), churn and fanout: about a minute.
 *
 * Files: bench.c (echo, churn, the command), bench_fanout.c (fanout),
 * bench_report.c (tables, JSON, CSV), bench_plot.c (gnuplot), and
 * bench_common.c, the helpers the others share.  loadgen.c is the load
 * generator (loadgen.h).
 */
#ifndef PUSHPOLL_BENCH_H
#define PUSHPOLL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hist.h"
#include "workload.h"

#define BENCH_MAX_ENGINES 16
#define BENCH_MAX_TARGETS 8
#define BENCH_MAX_ROUNDS 15
#define BENCH_MAX_SIZES 4

/* Which sinks the fanout bench runs (bits). */
enum {
	BENCH_SINK_TCP = 1 << 0,
	BENCH_SINK_FILE = 1 << 1,
};

/* What one row of the echo and churn tables is started as.  An engine of
 * this tree: a label, its --engine and its flags for `pushpoll serve echo`
 * or `pushpoll fanout`.  An external server (engine NULL; --target, and
 * the tokio rows): either a running one at host:port, or a command the
 * bench starts, with "{port}" in it replaced by the port it must listen
 * on (bench_target.c). */
struct bench_variant {
	const char *label;
	const char *engine;
	const char *flags[4];
	const char *host;       /* external, running: where it listens */
	uint16_t port;
	const char *command;    /* external, started: "... {port} ..." */
	bool needs_uring;       /* left out, with a line saying why, where
				 * no io_uring ring can be set up */
	bool conn_buffers_only; /* keeps a receive, and its buffer, in flight
				 * on every connection (completion I/O): left
				 * out of --buffers ready, with a line */
	bool completion;        /* engine's completion entry points
				 * (--backend uring): left out where the
				 * engine has none (bench_engine_completion) */
};

/* Whether engine has a completion entry point for echo (fanout false) or
 * for fanout: set by the pushpoll command from its engine table before
 * bench_main(); NULL (a program without the table): no completion rows. */
extern bool (*bench_engine_completion)(const char *engine, bool fanout);

#define BENCH_MAX_SWEEP 8

struct bench_opts {
	const char *engines;    /* comma-separated labels; NULL: all */
	/* --target: external servers, rows after the engines' */
	struct bench_variant targets[BENCH_MAX_TARGETS];
	int ntargets;
	unsigned conns;
	unsigned depth;
	size_t msg_size;
	const char *buffers;    /* "conn" or "ready": the servers' --buffers */
	const char *backend;    /* --backend: "epoll" (readiness rows and
				 * the floor), "uring" (completion rows, and
				 * the epoll floor every ratio is to), or
				 * NULL: both */
	uint64_t rate;          /* 0: closed loop */
	uint64_t warmup_ns;
	uint64_t duration_ns;
	int rounds;
	const char *json;       /* save every figure here, or NULL */
	const char *csv;
	/* fanout */
	uint64_t file_size[BENCH_MAX_SIZES]; /* input sizes, ascending */
	int nsizes;
	unsigned sinks;
	unsigned sink_kinds;    /* BENCH_SINK_* */
	size_t chunk_size;
	unsigned window;
	/* output */
	const char *plot_dir;   /* draw PNGs here with gnuplot, or NULL */
	bool progress;          /* the progress line on stderr */
	bool pin;               /* servers on the last CPU, the load generator
				 * on the others (when there are two or more) */
	/* push and poll servers: loops, one per thread (serve --workers) */
	unsigned workers;       /* 0 or 1: one loop */
	/* Closed-loop echo: one more round of every engine, its server traced
	 * (syscount.h), for the system calls per message; false: none (off in
	 * bench_opts_default(), on in `pushpoll bench` unless --no-syscalls). */
	bool syscalls;
	unsigned sweep[BENCH_MAX_SWEEP]; /* --workers-sweep LIST */
	int nsweep;
};

/* The figures measured for each engine, echo and churn, in this order.
 * For churn a "message" is one whole exchange on a new connection. */
enum bench_field {
	BENCH_F_MSGS,     /* messages per second */
	BENCH_F_MB,       /* MB per second */
	BENCH_F_P50, BENCH_F_P90, BENCH_F_P99, BENCH_F_P999, BENCH_F_MAX, /* latency, us */
	BENCH_F_CPU,      /* server CPU (user+sys) us per 1000 messages
			   * (= ns per message = ms per million) */
	BENCH_F_ALLOCS,   /* server heap allocations per message */
	BENCH_F_BYTES,    /* server heap bytes allocated per message */
	BENCH_F_PEAK,     /* server peak live heap, KiB */
	BENCH_F_RSS,      /* server resident set at the end, KiB */
	BENCH_F_COUNT
};

#define BENCH_SYS_TOP 5

/* One engine's figures over the rounds: median, min and max of each. */
struct bench_summary {
	const char *engine;
	int rounds_ok;          /* rounds that ran without a failure */
	double med[BENCH_F_COUNT], min[BENCH_F_COUNT], max[BENCH_F_COUNT];
	/* CPU per message of each round, in the order the rounds ran (NAN
	 * where that round failed): the rows of one table ran interleaved in
	 * each round, so round r of two rows saw the same machine, and a
	 * ratio is read round by round (bench__paired_ratio()). */
	int rounds;
	double cpu_round[BENCH_MAX_ROUNDS];
	double msgs_round[BENCH_MAX_ROUNDS];    /* messages per second, the same */
	/* System calls of the server, all its threads, counted in one traced
	 * round of its own (bench_opts.syscalls): per message in all, and the
	 * most frequent calls by number, per message.  syscalls is NAN where
	 * they were not counted (an external server, ptrace refused, a failed
	 * round).  The traced round's other figures are not used: tracing
	 * slows the server several times. */
	double syscalls;
	double sys_msgs;        /* messages of the traced round */
	double sys_msgs_per_s;  /* its throughput: beside the untraced
				 * rounds', how much tracing slowed it */
	unsigned nsys;
	unsigned sys_nr[BENCH_SYS_TOP];
	double sys_per_msg[BENCH_SYS_TOP];
};

/* The figures of one fanout configuration (engine, sink kind, size). */
enum bench_fanout_field {
	BENCH_FF_MB,          /* MB per second delivered, all sinks together */
	BENCH_FF_ELAPSED,     /* ms from the start to the last sink's end */
	BENCH_FF_TTFB_P50,    /* ms to first byte: median over the sinks */
	BENCH_FF_TTFB_MAX,    /* ms to first byte: the slowest sink */
	BENCH_FF_CPU,         /* server CPU (user+sys), ms, whole run */
	BENCH_FF_ALLOCS,      /* server heap allocations, whole run */
	BENCH_FF_PEAK,        /* server peak live heap, KiB */
	BENCH_FF_CHUNKS,      /* most chunks in memory at once (the engine's count) */
	BENCH_FF_RSS,         /* server peak resident set, KiB */
	BENCH_FF_USER,        /* server CPU in user space, ms, whole run */
	BENCH_FF_SYS,         /* server CPU in the kernel, ms, whole run */
	BENCH_FF_COUNT
};

struct bench_fanout_summary {
	const char *engine;     /* an engine's label, or a tool's name */
	bool tool;              /* a tool run beside the engines (tee, socat):
				 * timed the same way, as a whole process,
				 * but it prints no figures of its own */
	unsigned sink_kind;     /* BENCH_SINK_TCP or BENCH_SINK_FILE */
	uint64_t file_size;
	int rounds_ok;
	double med[BENCH_FF_COUNT], min[BENCH_FF_COUNT], max[BENCH_FF_COUNT];
};

/* The echo-style workloads the server children are driven with. */
enum bench_mode {
	BENCH_ECHO,      /* loadgen_echo(): closed loop, or open with a rate */
	BENCH_CHURN,     /* loadgen_churn() */
};

/* One echo-style measurement of every engine: a table of the report. */
struct bench_section {
	const char *key;        /* "echo", "echo_open", "churn": JSON, CSV,
				 * plot names */
	enum bench_mode mode;
	uint64_t rate;          /* open loop: messages/s in all; 0: closed */
	uint64_t duration_ns;
	int rounds;             /* rounds of every engine in this table */
	int n;                  /* engines measured */
	bool traced;            /* the servers' system calls were to be
				 * counted (a traced round each) */
	struct bench_summary sum[BENCH_MAX_ENGINES];
	/* Latency over every round, merged, per engine (for the curves). */
	struct hist hist[BENCH_MAX_ENGINES];
};

/* Everything one invocation measured, for the tables, files and plots. */
struct bench_report {
	const struct bench_opts *opts;
	struct bench_section sec[3];
	int nsec;
	bool has_fanout;
	int nfanout;
	struct bench_fanout_summary fanout[BENCH_MAX_ENGINES * 2 *
					   BENCH_MAX_SIZES];
};

/* The section with that key, or NULL. */
const struct bench_section *bench__section(const struct bench_report *rep,
					   const char *key);

void bench_opts_default(struct bench_opts *o);

/* Measure every engine o->engines names (all if NULL), interleaved over
 * o->rounds, into out (at most max entries), in the order of the table
 * (the epoll floor first).  Returns how many engines. */
int bench_echo_collect(const struct bench_opts *o, struct bench_summary *out,
		       int max);
/* --workers-sweep: the no-regression target of the single-threaded echo,
 * from the --workers 1 summaries (the epoll floor among them), with its
 * met/missed line (bench_sweep.c says why it is read against the floor). */
void bench__print_sweep_targets(FILE *f, const struct bench_summary *s,
				int n);
/* Run the echo comparison (open loop when o->rate is set), print its tables
 * and targets, and save what o->json, o->csv and o->plot_dir ask for.
 * Returns an exit status: 0, or 1 when some engine failed a round (a lost
 * byte, a crash) or a file could not be written. */
int bench_echo(const struct bench_opts *o);
/* Whether name is one of the comma-separated list. */
bool bench_listed(const char *list, const char *name);

/* `pushpoll bench [all|echo|churn|fanout] [options]`: parse, measure,
 * print, save.  Returns the exit status (2 for a usage error, which is
 * reported on stderr in one line). */
int bench_main(int argc, char **argv);

/* ---- scale (bench_scale.c, bench_scale_sim.c) ------------------------------ */

#define BENCH_SCALE_MAX_SWEEP 12
/* Descriptors a side needs beyond its C connections: listener, epoll sets,
 * timerfd, pipes, stdio, the offload pool's wake-ups, with room to spare. */
#define BENCH_SCALE_FD_RESERVE 64

enum bench_backend { BENCH_BACKEND_EPOLL, BENCH_BACKEND_SIM };

struct bench_scale_opts {
	struct bench_opts base;   /* engines, rounds, msg_size, rate, warmup,
				   * duration, json, csv, plot_dir, progress,
				   * pin */
	unsigned sweep[BENCH_SCALE_MAX_SWEEP];  /* C, ascending */
	int nsweep;
	unsigned active;          /* active connections among the C */
	uint64_t idle_timeout_ns; /* armed on every connection */
	enum echo_buffers buffers;
	size_t bufsize;           /* the servers' --bufsize; 0: their default */
	enum bench_backend backend;
	unsigned sim_msgs;        /* sim: messages per active connection */
	bool callgrind;           /* sim: count instructions per event too */
	bool callgrind_child;     /* sim: this process runs under callgrind
				   * and counts the active phase alone */
};

/* The figures of one real run, in this order. */
enum bench_scale_field {
	BENCH_SC_HEAP,        /* server live heap with the C open, KiB */
	BENCH_SC_RSS,         /* server resident set then, KiB */
	BENCH_SC_CPU,         /* server CPU ns per message */
	BENCH_SC_P50, BENCH_SC_P99, BENCH_SC_P999,   /* us */
	BENCH_SC_ESTABLISH,   /* ms to open and serve the C connections */
	BENCH_SC_EXIT,        /* ms from SIGTERM to exit, C open */
	BENCH_SC_LIVE_END,    /* heap bytes held after the engine returned */
	BENCH_SC_MSGS,        /* messages per second achieved */
	BENCH_SC_COUNT
};

struct bench_scale_row {
	const char *engine;
	unsigned conns;
	bool reference;           /* C = active, added to the sweep */
	int rounds_ok;
	double med[BENCH_SC_COUNT], min[BENCH_SC_COUNT], max[BENCH_SC_COUNT];
};

struct bench_scale_report {
	const struct bench_scale_opts *opts;
	unsigned long fd_limit;
	const char *engines[BENCH_MAX_ENGINES];
	int nengines;
	unsigned skipped[BENCH_SCALE_MAX_SWEEP + 1];   /* C that did not fit */
	int nskipped;
	struct bench_scale_row row[(BENCH_SCALE_MAX_SWEEP + 1) *
				   BENCH_MAX_ENGINES];
	int nrows;
};

void bench_scale_opts_default(struct bench_scale_opts *o);
/* Parse `bench scale`'s options (argv[0] is the word "scale") into o, which
 * holds the defaults; a usage error exits with status 2. */
void bench_scale_parse(int argc, char **argv, struct bench_scale_opts *o);
void bench_scale_usage(FILE *f);
/* "conn" or "ready" */
const char *bench_buffers_name(enum echo_buffers b);
enum echo_buffers bench_parse_buffers(const char *text);
/* Descriptors one side (load generator or server) needs for conns
 * connections, and whether that fits under limit. */
unsigned long bench_scale_fds_needed(unsigned conns);
bool bench_scale_fits(unsigned conns, unsigned long limit);
/* The line printed for a C that does not fit. */
void bench_scale_print_unfit(FILE *f, unsigned conns, unsigned long limit);
/* A figure of r per idle connection (field BENCH_SC_HEAP or BENCH_SC_RSS,
 * in bytes): the difference from the smallest C measured for the same
 * engine, divided by the difference in connections.  false for that
 * smallest C itself. */
bool bench_scale_per_idle(const struct bench_scale_report *rep,
			  const struct bench_scale_row *r, int field,
			  double *bytes);
/* `pushpoll bench scale ...`: parse, measure, print, save; the exit
 * status. */
int bench_scale_main(int argc, char **argv);
/* --backend sim (bench_scale_sim.c); the exit status. */
int bench_scale_sim(const struct bench_scale_opts *o);
/* Whether `--backend sim` runs the engine called name. */
bool bench__is_sim_engine(const char *name);

/* ---- internal, shared by the bench_*.c files ----------------------------- */

/* The engines o->engines names (all if NULL), the epoll floor first, into
 * out.  Returns how many.  Engines of this tree only: what fanout runs. */
int bench__select(const struct bench_opts *o,
		  const struct bench_variant **out, int max);
/* The rows of the echo and churn tables: bench__select()'s, then the
 * tokio rows (where built, and o->engines names them or is NULL), then
 * o->targets.  Returns how many. */
int bench__select_echo(const struct bench_opts *o,
		       const struct bench_variant **out, int max);
/* Whether label is the label of one of the engines or tokio rows. */
bool bench__is_variant(const char *label);
/* Whether name is one of the tools the fanout bench runs beside the
 * engines: "tee" (file sinks) and "socat" (TCP sinks). */
bool bench__is_fanout_tool(const char *name);

/* ---- external servers (bench_target.c) ------------------------------------ */

struct loadgen_result;
struct bench_pin;

/* Parse one --target: "NAME=HOST:PORT" or "NAME=cmd:COMMAND" (COMMAND
 * with "{port}" in it) into v.  A bad one is a usage error (exit 2). */
void bench__parse_target(const char *spec, struct bench_variant *v);
/* The tokio rows where they were built and their programs are found;
 * else 0, and *why says in one line how to get them. */
int bench__tokio_rows(const struct bench_variant **out, int max,
		      const char **why);
/* One round of external server v: start it if it is a command, load it,
 * read what can be read of its side, stop it.  Fills v[BENCH_F_*] (NAN
 * where a figure cannot be measured: CPU and heap of a server the bench
 * did not start, heap of one that did not load the counter).  The first
 * problem (unreachable, refused, failed to start or listen, closed early,
 * wrong bytes, stalled) is printed as one line naming the target and ends
 * its rounds: later calls return -1 at once.  Returns 0 or -1. */
int bench__target_run(const struct bench_variant *v,
		      const struct bench_opts *o, const struct bench_pin *pin,
		      enum bench_mode mode, double fig[BENCH_F_COUNT],
		      struct hist *hist);
/* What the load generator saw go wrong, in a few words ("echoed wrong
 * bytes (12 of 6400)"), for the one-line messages of bench and load. */
void bench__load_problem(const struct loadgen_result *res, char *buf,
			 size_t len);
/* Connect to host:port once, with a timeout of a few seconds: 0, or
 * -errno (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH...). */
int bench__probe(const char *host, uint16_t port);
/* The client-side figures of one run (throughput, latency) into fig; the
 * server-side ones are set to NAN. */
void bench__load_figures(const struct loadgen_result *res,
			 double fig[BENCH_F_COUNT]);

/* `pushpoll load echo|churn --connect HOST:PORT [options]` (load.c):
 * the load generator alone against any echo server.  Returns the exit
 * status: 0, 1 when the server failed (refused, closed, wrong or missing
 * bytes), 2 for a usage error. */
int load_main(int argc, char **argv);

/* Which of n engines (or configurations) runs k-th in round r: the order
 * turns by one each round, so no engine always runs first or last. */
static inline int bench__turn(int r, int k, int n)
{
	return (k + r) % n;
}

/* Measure echo or churn for every listed engine, interleaved over the
 * rounds, into out[] and (unless NULL) hists[], at most max engines; then,
 * for closed-loop echo with o->syscalls, one traced round of every engine
 * of this tree for its system calls (bench_summary.syscalls).
 * Returns how many engines. */
int bench__echo_run(const struct bench_opts *o, enum bench_mode mode,
		    struct bench_summary *out, struct hist *hists, int max);
/* Measure the fanout for every listed engine, sink kind and size.
 * Returns how many configurations, or -errno if the input files could not
 * be made. */
int bench__fanout_run(const struct bench_opts *o,
		      struct bench_fanout_summary *out, int max);

/* Whether bench__echo_run() counts system calls for o and mode. */
bool bench__traces(const struct bench_opts *o, enum bench_mode mode);
/* Why the servers' system calls could not be counted, in one line (ptrace
 * refused: syscount_start()'s reason), or NULL when nothing was refused. */
const char *bench__syscalls_why(void);
/* The duration of the traced round: the measured one, at most 1 s. */
uint64_t bench__traced_ns(const struct bench_opts *o);

/* The progress line: "bench WORKLOAD  round r/R  ENGINE  [k/K]". */
void bench__progress(const struct bench_opts *o, const char *workload,
		     int round, const char *engine, int step, int steps);
void bench__progress_done(const struct bench_opts *o);

/* CPU placement (o->pin).  bench__pin_begin() moves the calling process
 * off the server's CPU and saves its old mask in *saved; bench__pin_end()
 * restores it.  bench__pin_server() runs in a forked child before exec.
 * All do nothing when pinning is off or fewer than two CPUs are allowed. */
struct bench_pin {
	bool active;
	int server_cpu;
	unsigned char saved[128];   /* a cpu_set_t */
};
void bench__pin_begin(const struct bench_opts *o, struct bench_pin *p);
void bench__pin_server(const struct bench_pin *p);
void bench__pin_end(struct bench_pin *p);
/* The CPU the servers get, or -1 when they are not pinned. */
int bench__pin_cpu(const struct bench_opts *o);

/* Median, min and max of n values (n > 0; v is sorted in place). */
void bench__stats(double *v, int n, double *med, double *min, double *max);

/* A ratio between two rows, read round by round. */
struct bench_ratio {
	double med, min, max;
	int n;                  /* rounds that gave a ratio */
};
/* a[r] / b[r] for each of the rounds r where both are numbers: their
 * median and [min..max] into *out.  Returns out->n (0: no round gave one,
 * and the rest of *out is NAN). */
int bench__paired_ratio(const double *a, const double *b, int rounds,
			struct bench_ratio *out);

/* A target's outcome. */
enum bench_verdict { BENCH_MET, BENCH_EVEN, BENCH_MISSED };
/* "a at most limit x b", from its ratios round by round: met when every
 * round's ratio is at or below limit, missed when every round's is above
 * it, even when they straddle it (this run cannot tell which side the
 * ratio is on) or when no round gave a ratio. */
enum bench_verdict bench__at_most(const struct bench_ratio *r, double limit);
/* "a at least limit x b", the same way round: met when every round's ratio
 * is at or above limit, missed when every round's is below it, else even. */
enum bench_verdict bench__at_least(const struct bench_ratio *r, double limit);

/* The path of the running pushpoll binary, for starting servers. */
const char *bench__self(void);
/* Start this binary with argv (argv[0] first, NULL last) in a child placed
 * on the server's CPU (bench__pin_server), its stdout, and its stderr too
 * with stderr_too (else /dev/null), into a pipe.  Returns the pipe's read
 * end, or -errno; *pid is the child's. */
int bench__spawn(const char *const argv[], const struct bench_pin *pin,
		 bool stderr_too, pid_t *pid);
/* Start `pushpoll serve ...` (argv as for bench__spawn, stderr to
 * /dev/null) and read its "listening HOST:PORT" line: 0 with *pid, its
 * stdout in *out and *port filled; or -errno, the child killed and reaped
 * (-EIO: it ended or spoke without ever listening). */
int bench__serve_spawn(const char *const argv[], const struct bench_pin *pin,
		       pid_t *pid, FILE **out, uint16_t *port);
/* The resident set of process pid, KiB, from /proc; unknown where it
 * cannot be read. */
double bench__rss_kib(pid_t pid, double unknown);

/* bench_report.c */
void bench__print_section(FILE *f, const struct bench_report *rep,
			  const struct bench_section *sec);
void bench__print_fanout(FILE *f, const struct bench_report *rep);
/* The targets of the comparison, each with its figures and met/missed. */
void bench__print_targets(FILE *f, const struct bench_report *rep);
int bench__save_json(const char *path, const struct bench_report *rep);
int bench__save_csv(const char *path, const struct bench_report *rep);
/* "machine":{...}: the CPU, kernel and server CPU, for every JSON file. */
void bench__json_machine(FILE *f, const struct bench_opts *o);
/* The fanout memory bound: window x chunk plus a fixed allowance for the
 * engine's own state (64 KiB + 4 KiB per sink), in KiB. */
double bench__fanout_bound_kib(const struct bench_opts *o);

/* bench_plot.c: a gnuplot script and its data per plot in dir, and the PNGs
 * where gnuplot is installed; 0, or -errno. */
int bench__plot(const char *dir, const struct bench_report *rep);
/* NAME.EXT in dir, opened for writing (a message on stderr if not). */
FILE *bench__plot_file(const char *dir, const char *name, const char *ext);
/* Run `gnuplot NAME.gp` in dir; 0 or -errno (0 without gnuplot). */
int bench__gnuplot(const char *dir, const char *name);

#endif
