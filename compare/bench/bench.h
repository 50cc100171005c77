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

#define BENCH_MAX_ENGINES 8
#define BENCH_MAX_ROUNDS 15
#define BENCH_MAX_SIZES 4

/* Which sinks the fanout bench runs (bits). */
enum {
	BENCH_SINK_TCP = 1 << 0,
	BENCH_SINK_FILE = 1 << 1,
};

struct bench_opts {
	const char *engines;    /* comma-separated labels; NULL: all */
	unsigned conns;
	unsigned depth;
	size_t msg_size;
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

/* One engine's figures over the rounds: median, min and max of each. */
struct bench_summary {
	const char *engine;
	int rounds_ok;          /* rounds that ran without a failure */
	double med[BENCH_F_COUNT], min[BENCH_F_COUNT], max[BENCH_F_COUNT];
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
	BENCH_FF_COUNT
};

struct bench_fanout_summary {
	const char *engine;
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
	int n;                  /* engines measured */
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

/* ---- internal, shared by the bench_*.c files ----------------------------- */

/* What one engine is started as: a name for the tables and its flags for
 * `pushpoll serve echo` or `pushpoll fanout`. */
struct bench_variant {
	const char *label;
	const char *engine;
	const char *flags[4];
	bool needs_uring;       /* left out, with a line saying why, where
				 * no io_uring ring can be set up */
};

/* The variants o->engines names (all if NULL), the epoll floor first, into
 * out.  Returns how many. */
int bench__select(const struct bench_opts *o,
		  const struct bench_variant **out, int max);
/* Whether label is the label of one of the variants. */
bool bench__is_variant(const char *label);

/* Which of n engines (or configurations) runs k-th in round r: the order
 * turns by one each round, so no engine always runs first or last. */
static inline int bench__turn(int r, int k, int n)
{
	return (k + r) % n;
}

/* Measure echo or churn for every listed engine, interleaved over the
 * rounds, into out[] and (unless NULL) hists[], at most max engines.
 * Returns how many engines. */
int bench__echo_run(const struct bench_opts *o, enum bench_mode mode,
		    struct bench_summary *out, struct hist *hists, int max);
/* Measure the fanout for every listed engine, sink kind and size.
 * Returns how many configurations, or -errno if the input files could not
 * be made. */
int bench__fanout_run(const struct bench_opts *o,
		      struct bench_fanout_summary *out, int max);

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

/* The path of the running pushpoll binary, for starting servers. */
const char *bench__self(void);
/* Start this binary with argv (argv[0] first, NULL last) in a child placed
 * on the server's CPU (bench__pin_server), its stdout, and its stderr too
 * with stderr_too (else /dev/null), into a pipe.  Returns the pipe's read
 * end, or -errno; *pid is the child's. */
int bench__spawn(const char *const argv[], const struct bench_pin *pin,
		 bool stderr_too, pid_t *pid);

/* bench_report.c */
void bench__print_section(FILE *f, const struct bench_report *rep,
			  const struct bench_section *sec);
void bench__print_fanout(FILE *f, const struct bench_report *rep);
/* The targets of the comparison, each with its figures and met/missed. */
void bench__print_targets(FILE *f, const struct bench_report *rep);
int bench__save_json(const char *path, const struct bench_report *rep);
int bench__save_csv(const char *path, const struct bench_report *rep);
/* The fanout memory bound: window x chunk plus a fixed allowance for the
 * engine's own state (64 KiB + 4 KiB per sink), in KiB. */
double bench__fanout_bound_kib(const struct bench_opts *o);

/* bench_plot.c: a gnuplot script and its data per plot in dir, and the PNGs
 * where gnuplot is installed; 0, or -errno. */
int bench__plot(const char *dir, const struct bench_report *rep);

#endif
