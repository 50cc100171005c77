/* claims.h: `pushpoll claims`: an experiment and a computed verdict for
 * every claim of docs/claims.md.
 *
 * Each claim has its own file in compare/claims/, holding three things side
 * by side:
 *
 *   struct cN_figures   what the experiment measures (declared below);
 *   cN_measure()        the experiment: both engines on the same substrate,
 *                       and the baselines where the claim is about them;
 *   cN_verdict()        the rule that turns the figures into a verdict.
 *
 * A rule reads nothing but the figures it is given: a verdict is always the
 * consequence of the figures of that run, never typed in, and
 * tests/test_claims.c feeds every rule synthetic figures for each outcome, so
 * a rule that can only say "holds" is caught.  cN_run() chains the three for
 * the runner (claims.c): measure, judge, fill the row of the table, and hand
 * the figures to the JSON file and the plots when they are asked for.
 *
 * Memory: the experiments measure the engines' allocations through the mem
 * counters, as differences between two snapshots around the measured part.
 * The harness's own bookkeeping (figures, histograms, a chain's prototype)
 * uses plain malloc, so it never shows in those differences.
 *
 * Threads: the runner and every experiment run on the calling thread; some
 * experiments start helper threads (a load generator, a thread hand-off
 * partner) and join them before they return; C2 (valgrind), C3, C6 and
 * C13 (the torture harness), C8 (one server per child), C11 (the bench's servers)
 * and C15 (valgrind) start child processes and wait for them; C14 (the
 * bench's servers) also traces them from a thread of its own (syscount.h).
 */
#ifndef PUSHPOLL_CLAIMS_H
#define PUSHPOLL_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "reactor.h"
#include "workload.h"

/* ---- verdicts ------------------------------------------------------------- */

enum claim_outcome {
	CLAIM_HOLDS,          /* the figures say what the claim says */
	CLAIM_FAILS,          /* "does not hold": the figures contradict it */
	CLAIM_PARTLY,         /* "holds only when ...": true in part; why says which */
	CLAIM_NOT_MEASURED,   /* no figures (no experiment yet, or it could not run) */
};

struct claim_verdict {
	enum claim_outcome outcome;
	char why[512];        /* the figures the rule looked at, in one line */
};

/* "holds", "does not hold", "holds only when", "not measured". */
const char *claim_outcome_name(enum claim_outcome o);

/* Set v to outcome o, with a printf-style reason. */
void claim_verdict_set(struct claim_verdict *v, enum claim_outcome o,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the runner's context and the table ----------------------------------- */

/* A JSON writer that knows only where commas go: one flag per open level.
 * The runner opens f and sets first[0]; the claims_json_*() functions
 * below write through it. */
#define JSON_MAX_DEPTH 16
struct claims_json {
	FILE *f;
	int depth;
	bool first[JSON_MAX_DEPTH];
};

struct claims_ctx {
	bool quick;               /* smaller runs: for tests and a first look */
	FILE *progress;           /* a line per experiment, or NULL */
	struct claims_json *json; /* where figures go, or NULL */
	const char *plot_dir;     /* where plot data and script go, or NULL */
	FILE *plot;               /* the gnuplot script in plot_dir, or NULL */
};

/* One row of the printed table. */
struct claim_row {
	const char *id;           /* "C1" */
	const char *text;         /* the claim, in a few words */
	char push[256];           /* the push engine's figure */
	char poll[256];           /* the poll engine's figure */
	char baselines[320];      /* libuv, libevent, epoll, threads...: or "" */
	struct claim_verdict verdict;
	double seconds;           /* wall time of the experiment */
};

/* `pushpoll claims [C1 ...] [--json FILE] [--plot DIR] [--quick]`.  Returns
 * the exit status: 0 when every experiment ran (whatever its verdict), 1
 * when one could not run, 2 on a usage error. */
int claims_main(int argc, char **argv);

/* ---- output helpers (claims_common.c) -------------------------------------- */
/* Every function accepts a NULL writer and then does nothing, so that an
 * experiment writes its figures without checking whether JSON was asked
 * for.  key is NULL inside an array. */

void claims_json_begin(struct claims_json *j, const char *key);   /* { */
void claims_json_end(struct claims_json *j);                      /* } */
void claims_json_array(struct claims_json *j, const char *key);   /* [ */
void claims_json_array_end(struct claims_json *j);                /* ] */
void claims_json_num(struct claims_json *j, const char *key, double v);
void claims_json_str(struct claims_json *j, const char *key, const char *s);
void claims_json_bool(struct claims_json *j, const char *key, bool b);
/* An array of n numbers. */
void claims_json_nums(struct claims_json *j, const char *key,
		      const double *v, unsigned n);

/* Open plot_dir/name for writing plot data, or NULL when no plot was asked
 * for (or the file cannot be made: said on progress).  The caller closes
 * it, then writes the gnuplot commands that use it to cx->plot. */
FILE *claims_plot_data(const struct claims_ctx *cx, const char *name);

/* Progress: one line on cx->progress, if any. */
void claims_say(const struct claims_ctx *cx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The median of n values (n > 0); sorts v in place. */
double claims_median(double *v, unsigned n);

/* The instructions a callgrind dump file gives on its line starting with
 * key ("summary:" for a whole single-threaded part; "totals:" where
 * threads make "summary:" the run so far), the last such line; -1 if the
 * file cannot be read or has none. */
double claims_callgrind_count(const char *path, const char *key);

/* ---- the two models, named alike in every figure ----------------------------- */

enum { CLAIMS_PUSH, CLAIMS_POLL, CLAIMS_NMODELS };
extern const char *const claims_model_name[CLAIMS_NMODELS];  /* "push", "poll" */

/* ---- chains of depth D (chain.c): the operation C1, C2 and C10 measure ------ */
/*
 * An operation of depth D is D nested sequences: level 1 is a sequence whose
 * one step is level 2, and so on; level D is a sequence of `waits` steps,
 * each a sleep of 0 ns, so each step is one wake (a timer that is due at
 * once fires on the next poll of the reactor).
 *
 *   push: D push_seq requests, each with its state and a continuation per
 *         step, and a push_sleep request per wait.
 *   poll: one task holding D poll_seq futures by value, each level's slot
 *         being the next level, and one poll_sleep slot at the bottom.
 *
 * Each operation is started and then run to completion with the engine's
 * own run call (push_loop_run(), or poll_spawn() then poll_loop_run()), so
 * the two are driven alike.
 */

#define CLAIMS_NDEPTHS 7                 /* D = 1, 2, 4 ... 64 */
#define CLAIMS_MAX_DEPTH 64
#define CLAIMS_MAX_WAITS 64
extern const unsigned claims_depths[CLAIMS_NDEPTHS];

struct chain_figures {
	uint64_t ops;            /* operations completed, measured part */
	uint64_t wakes;          /* ops * waits */
	uint64_t ns;             /* wall time of the measured part */
	uint64_t allocs, bytes;  /* mem counter differences over it */
	/* With count_units: the engine's work counted in its own unit.
	 * push: callbacks dispatched (push_loop_stats.callbacks);
	 * poll: future polls (every poll of a sequence or of a sleep). */
	uint64_t units;
};

/* Run `warmup` operations, then `ops` measured ones, of depth depth (1 to
 * CLAIMS_MAX_DEPTH) with `waits` wakes each (1 to CLAIMS_MAX_WAITS), in
 * model m on reactor r (a fresh loop of the model is made and freed here).
 * Returns 0, -EINVAL for a bad depth or waits, -ENOMEM, -EIO when an
 * operation completed with an unexpected result, or the error the engine's
 * start or run call returned.  *out is filled in every case. */
int chain_run(int m, struct reactor *r, unsigned depth, unsigned waits,
	      unsigned warmup, unsigned ops, bool count_units,
	      struct chain_figures *out);

/* ---- C1: allocations per operation against depth --------------------------------- */

struct c1_figures {
	unsigned ndepths;
	unsigned depth[CLAIMS_NDEPTHS];
	double allocs[CLAIMS_NMODELS][CLAIMS_NDEPTHS];  /* per completed operation */
	double bytes[CLAIMS_NMODELS][CLAIMS_NDEPTHS];
};
int c1_measure(const struct claims_ctx *cx, struct c1_figures *f);
void c1_verdict(const struct c1_figures *f, struct claim_verdict *v);
int c1_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C2: the cost of a wake against depth ------------------------------------------ */

#define C2_WAITS_HI CLAIMS_MAX_WAITS  /* a wake's cost: (cost(64 waits) - cost(1)) / 63 */

struct c2_figures {
	unsigned ndepths;
	unsigned depth[CLAIMS_NDEPTHS];
	/* Per wake, marginal: the cost of 63 more wakes in the same
	 * operation, divided by 63, so that starting and finishing the
	 * operation (and push's completion travelling up the levels) are not
	 * counted in it. */
	double ns[CLAIMS_NMODELS][CLAIMS_NDEPTHS];     /* median of runs */
	double instr[CLAIMS_NMODELS][CLAIMS_NDEPTHS];  /* callgrind; 0 if not */
	double units[CLAIMS_NMODELS][CLAIMS_NDEPTHS];  /* chain_figures.units */
	bool have_instr;         /* valgrind ran: the verdict uses instructions */
	/* Per operation of 1 wake, whole: ns, for the reader. */
	double op_ns[CLAIMS_NMODELS][CLAIMS_NDEPTHS];
};
int c2_measure(const struct claims_ctx *cx, struct c2_figures *f);
void c2_verdict(const struct c2_figures *f, struct claim_verdict *v);
int c2_run(struct claims_ctx *cx, struct claim_row *row);

/* The mode c2_measure() runs under callgrind, hidden from the usage text:
 * `pushpoll claims --callgrind-chain MODEL DEPTH OPS`.  It runs warm-up
 * operations, then zeroes callgrind's counters, runs OPS operations of 1
 * wake (dump 1) and OPS of C2_WAITS_HI wakes (dump 2).  argv[0] is the
 * flag.  Returns an exit status (2 when built without callgrind.h). */
int c2_callgrind_child(int argc, char **argv);

/* ---- C3: what cancellation takes ---------------------------------------------------- */

struct c3_figures {
	bool harness_ran;        /* the torture harness ran (cancel family) */
	uint64_t cancel_points[CLAIMS_NMODELS];
	uint64_t violations[CLAIMS_NMODELS];
	bool lines_counted;      /* the workload sources were found */
	unsigned cancel_lines[CLAIMS_NMODELS];  /* see c3_count_lines() */
	unsigned code_lines[CLAIMS_NMODELS];
};
/* Count, in the C source text, the lines of code (comments and blank lines
 * left out) and those of them that mention cancellation: a token
 * ("token", "tok" as a word), a cancel ("cancel", "ECANCELED") or an abort
 * ("abort").  Adds to *code and *cancel. */
void c3_count_lines(const char *text, unsigned *code, unsigned *cancel);
int c3_measure(const struct claims_ctx *cx, struct c3_figures *f);
void c3_verdict(const struct c3_figures *f, struct claim_verdict *v);
int c3_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C4: wake-to-run latency by mechanism -------------------------------------------- */

enum c4_mech {
	C4_POLL_WAKE,            /* a task wakes another task: executor run queue */
	C4_PUSH_DISPATCH,        /* a callback completes a request: completion queue */
	C4_THREAD_HANDOFF,       /* a condition variable signalled to a waiting thread */
	C4_SIGNAL,               /* pthread_kill() to a thread waiting in sigsuspend() */
	C4_NMECH,
};
#define C4_NPCT 7
extern const double c4_percentiles[C4_NPCT];  /* 10, 25, 50, 75, 90, 99, 99.9 */
extern const char *const c4_mech_name[C4_NMECH];

struct c4_figures {
	uint64_t samples[C4_NMECH];
	double pct[C4_NMECH][C4_NPCT];   /* ns, at c4_percentiles */
	double p50[C4_NMECH], p99[C4_NMECH];
	double io_looks[C4_NMECH];       /* reactor polls per hand-off (in-thread) */
};
int c4_measure(const struct claims_ctx *cx, struct c4_figures *f);
void c4_verdict(const struct c4_figures *f, struct claim_verdict *v);
int c4_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C5: echo latency under a CPU hog, and the remedies -------------------------------- */

enum c5_config {
	C5_NONE,         /* no hog: the reference */
	C5_HOG,          /* 50 ms of computation in one callback / one poll */
	C5_OFFLOAD,      /* the 50 ms run in the offload pool */
	C5_CHUNKS,       /* 50 chunks of 1 ms; push: a 0 ns sleep between
			  * chunks; poll: a yield (poll_cx_wake) between */
	C5_CHUNKS_SLEEP, /* poll: 50 chunks of 1 ms, a 0 ns poll_sleep between */
	C5_STEPS,        /* poll: 50 ms as 5000 leaf futures of 10 us that are
			  * ready at once, budget off */
	C5_BUDGET,       /* poll: the same, with the executor's budget on */
	C5_NCONFIGS,
};
extern const char *const c5_config_name[C5_NCONFIGS];

/* Medians over the rounds (3, or 1 with --quick) of each figure; counts
 * are summed over them. */
struct c5_figures {
	bool ran[CLAIMS_NMODELS][C5_NCONFIGS];  /* configurations that apply and ran */
	double p50[CLAIMS_NMODELS][C5_NCONFIGS];  /* echo latency, us */
	double p99[CLAIMS_NMODELS][C5_NCONFIGS];
	double max[CLAIMS_NMODELS][C5_NCONFIGS];
	uint64_t msgs[CLAIMS_NMODELS][C5_NCONFIGS];      /* echoed, measured */
	uint64_t hog_runs[CLAIMS_NMODELS][C5_NCONFIGS];  /* hog computations completed */
};
/* Whether configuration c applies to model m (push has no budget, and its
 * one way to yield is an operation: C5_CHUNKS). */
bool c5_applies(int m, enum c5_config c);
int c5_measure(const struct claims_ctx *cx, struct c5_figures *f);
void c5_verdict(const struct c5_figures *f, struct claim_verdict *v);
int c5_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C6: cancelling while blocking jobs run --------------------------------------------- */

struct c6_figures {
	bool ran;
	uint64_t runs[CLAIMS_NMODELS];                   /* cancelled fanouts */
	uint64_t cancels_while_running[CLAIMS_NMODELS];  /* a read was in the pool */
	uint64_t jobs_cancelled_running[CLAIMS_NMODELS];
	uint64_t bytes_wasted[CLAIMS_NMODELS];           /* read for nothing */
	uint64_t bytes_read[CLAIMS_NMODELS];             /* read and delivered */
	uint64_t violations[CLAIMS_NMODELS];
	/* The same fanout over a completion queue, on the simulated kernel
	 * (torture_fanout_waste_cq()): the kernel reads, no pool. */
	bool cq_ran;
	uint64_t cq_runs[CLAIMS_NMODELS];            /* cancelled fanouts */
	uint64_t cq_reads_ran_on[CLAIMS_NMODELS];    /* cancels whose read
						      * completed with its
						      * bytes, thrown away */
	uint64_t cq_bytes_read[CLAIMS_NMODELS];      /* by the kernel */
	uint64_t cq_bytes_wasted[CLAIMS_NMODELS];    /* of those, not consumed */
	uint64_t cq_buffer_breaches[CLAIMS_NMODELS]; /* a buffer freed, touched
						      * or reused while the
						      * kernel owned it */
	uint64_t cq_violations[CLAIMS_NMODELS];      /* every check's */
	/* The threads of a real fanout's process while its bytes flow
	 * (/proc/PID/task): over epoll with the pool of `pushpoll fanout`
	 * (C6_POOL_THREADS), and over io_uring.  0: not counted. */
	unsigned threads_epoll[CLAIMS_NMODELS];
	unsigned threads_uring[CLAIMS_NMODELS];
};
#define C6_POOL_THREADS 2   /* `pushpoll fanout --threads`'s default */
int c6_measure(const struct claims_ctx *cx, struct c6_figures *f);
/* The completion rows of *f alone (cq_*, threads_*), the rest untouched. */
int c6_measure_completion(const struct claims_ctx *cx, struct c6_figures *f);
/* The figures object of C6's JSON: per engine the pool's, "completion"
 * (with cq_ran) and "threads" (those counted). */
void c6_json(struct claims_json *j, const struct c6_figures *f);
void c6_verdict(const struct c6_figures *f, struct claim_verdict *v);
int c6_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C7: allocating only when an operation has to wait ----------------------------------- */

/* The two echo loads: the bench's (one message in flight per connection)
 * and a pipelined one (C7_PIPELINED messages in flight). */
enum { C7_ONE_IN_FLIGHT, C7_PIPELINED_LOAD, C7_NLOADS };
#define C7_PIPELINED 16

struct c7_figures {
	/* Allocations per read: [0] fast path off, [1] on. */
	double push_now[2];      /* data already there: completes at once */
	double push_wait[2];     /* no data yet: the read has to wait */
	double poll_now, poll_wait;
	/* The push echo server under each load: allocations per message,
	 * fast path off and on, and the messages they were counted over. */
	double echo_allocs[C7_NLOADS][2];
	uint64_t echo_msgs[C7_NLOADS][2];
	double poll_echo_allocs;         /* the poll server, bench load */
};
int c7_measure(const struct claims_ctx *cx, struct c7_figures *f);
void c7_verdict(const struct c7_figures *f, struct claim_verdict *v);
int c7_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C8: serving with no heap ---------------------------------------------------------------- */

enum c8_server {
	C8_PUSH, C8_POLL, C8_POLL_STATIC, C8_LIBUV, C8_LIBEVENT, C8_EPOLL,
	C8_NSERVERS,
};
extern const char *const c8_server_name[C8_NSERVERS];

struct c8_figures {
	bool ran[C8_NSERVERS];
	unsigned conns_tried[C8_NSERVERS];
	unsigned conns_served[C8_NSERVERS];  /* every round trip echoed right */
	uint64_t allocs_refused[C8_NSERVERS]; /* allocations tried after start-up */
	int exit_signal[C8_NSERVERS];         /* the server died of it (SIGALRM:
					       * it hung and was killed), or 0 */
};
int c8_measure(const struct claims_ctx *cx, struct c8_figures *f);
void c8_verdict(const struct c8_figures *f, struct claim_verdict *v);
int c8_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C9: single-threaded and multi-threaded executors ------------------------------------ */

enum { C9_ST, C9_MT, C9_NEXECS };   /* poll_loop; poll_workers, one worker */
extern const char *const c9_exec_name[C9_NEXECS];

struct c9_figures {
	double ns[C9_NEXECS];        /* per wake, median of runs */
	double instr[C9_NEXECS];     /* per wake, callgrind; 0 if not run */
	double atomics[C9_NEXECS];   /* atomic RMW on task words per wake */
	double remote_ns;            /* p50, a wake from another thread */
	bool have_instr;
	/* echo with 1 and 2 loops per thread ([0], [1]), push and poll
	 * (CLAIMS_PUSH, CLAIMS_POLL): messages/s and server CPU ns/message;
	 * not run under --quick (echo_ran false). */
	bool echo_ran;
	double echo_msgs[CLAIMS_NMODELS][2], echo_cpu[CLAIMS_NMODELS][2];
};
int c9_measure(const struct claims_ctx *cx, struct c9_figures *f);
void c9_verdict(const struct c9_figures *f, struct claim_verdict *v);
int c9_run(struct claims_ctx *cx, struct claim_row *row);
/* `pushpoll claims --callgrind-wakes st|mt WAKES`, hidden: a warm-up run,
 * callgrind's counters zeroed, WAKES wakes (dump 1), 2 x WAKES (dump 2). */
int c9_callgrind_child(int argc, char **argv);

/* ---- C10: blocking on an asynchronous result ------------------------------------------------ */

struct c10_figures {
	bool ok[CLAIMS_NMODELS];             /* every call returned the right result */
	double ns_call[CLAIMS_NMODELS];      /* per blocking call, median of runs */
	double ns_inloop[CLAIMS_NMODELS];    /* the same operation awaited inside a running loop */
	double allocs_call[CLAIMS_NMODELS];
	double allocs_inloop[CLAIMS_NMODELS];
};
int c10_measure(const struct claims_ctx *cx, struct c10_figures *f);
void c10_verdict(const struct c10_figures *f, struct claim_verdict *v);
int c10_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C11: the echo comparison ------------------------------------------------------------------ */

#define C11_MAX_ENGINES 8

/* Per engine, the median of the rounds, and the range of the rounds for
 * the three figures the rule compares ([0] min, [1] max). */
struct c11_figures {
	unsigned n;
	struct {
		char name[24];
		int rounds_ok;
		double msgs;     /* messages per second */
		double cpu;      /* server CPU us per 1000 messages */
		double p99;      /* us */
		double allocs;   /* per message */
		double msgs_range[2], cpu_range[2], p99_range[2];
	} e[C11_MAX_ENGINES];
};
int c11_measure(const struct claims_ctx *cx, struct c11_figures *f);
void c11_verdict(const struct c11_figures *f, struct claim_verdict *v);
int c11_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C12: what an idle connection costs ---------------------------------------------------- */

/* Every engine, in both buffer modes (struct echo_opts.buffers). */
enum c12_engine { C12_PUSH, C12_POLL, C12_LIBUV, C12_LIBEVENT, C12_EPOLL,
		  C12_NENGINES };
extern const char *const c12_engine_name[C12_NENGINES];
enum { C12_CONN, C12_READY, C12_NMODES };     /* ECHO_BUFFERS_* order */
extern const char *const c12_mode_name[C12_NMODES];

/* The engines over completion I/O, measured after the readiness ones: with
 * buffers per connection a receive is in flight on every connection, its
 * buffer with it; on readiness a multishot receive names a provided buffer
 * ring and no buffer, and the kernel picks one only when bytes arrive.  One
 * entry each in c12_completion[] (c12_idle.c): an engine with an
 * echo_completion entry point (compare/engines.h) is one line there. */
#define C12_MAX_COMPLETION 4
struct c12_completion_engine {
	const char *name;
	echo_serve_fn echo;
	size_t (*once_bytes)(size_t bufsize); /* allocated once per loop on
					       * readiness; NULL: nothing */
};
extern const struct c12_completion_engine c12_completion[];
extern const int c12_ncompletion;

struct c12_figures {
	size_t bufsize;                 /* the read buffer of every run */
	/* Real loopback: the server in a child process, the connections in
	 * this one, so each process holds one descriptor per connection. */
	unsigned real_conns;            /* connections at the measured point */
	unsigned real_base;             /* ... and at the small point */
	unsigned fd_limit;              /* the hard limit, the soft one raised to it */
	bool real_ran[C12_NENGINES][C12_NMODES];
	double real_bytes[C12_NENGINES][C12_NMODES];  /* live heap per idle conn */
	double real_blocks[C12_NENGINES][C12_NMODES];
	/* The simulator (push and poll only): deterministic, so exact. */
	unsigned sim_conns[C12_NMODES]; /* connections at the measured point */
	unsigned sim_base;
	bool sim_ran[CLAIMS_NMODELS][C12_NMODES];
	double sim_bytes[CLAIMS_NMODELS][C12_NMODES];
	/* The engines over completion I/O (c12_completion[]), over real
	 * loopback like the others; once_bytes: what one of them allocates
	 * once per loop on readiness (the provided buffer ring), in the heap
	 * at both points of the difference and so not in the figure. */
	int ncompletion;
	bool comp_ran[C12_MAX_COMPLETION][C12_NMODES];
	double comp_bytes[C12_MAX_COMPLETION][C12_NMODES];
	double comp_blocks[C12_MAX_COMPLETION][C12_NMODES];
	double comp_once_bytes[C12_MAX_COMPLETION];
};
/* Heap per idle connection of engine e in mode m over real loopback:
 * the live heap with n1 idle connections minus that with n0, over
 * n1 - n0.  Returns 0 or -errno. */
int c12_real(int e, int m, unsigned n0, unsigned n1, double *bytes,
	     double *blocks);
/* The same for the server fn (a completion engine). */
int c12_real_fn(echo_serve_fn fn, int m, unsigned n0, unsigned n1,
		double *bytes, double *blocks);
/* The same over the simulator, for model k (CLAIMS_PUSH or _POLL), from
 * the peak of the live heap of two runs.  Returns 0 or -errno. */
int c12_sim(int k, int m, unsigned n0, unsigned n1, double *bytes);
int c12_measure(const struct claims_ctx *cx, struct c12_figures *f);
void c12_verdict(const struct c12_figures *f, struct claim_verdict *v);
int c12_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C13: what cancellation takes under completion I/O ------------------------------------- */

struct c13_figures {
	/* Safety: the torture harness's cancel family over the scenarios
	 * that run on the simulated completion queue (names ending "-cq"). */
	bool harness_ran;
	unsigned scenarios[CLAIMS_NMODELS];
	uint64_t cancel_points[CLAIMS_NMODELS];
	uint64_t violations[CLAIMS_NMODELS];
	/* The same scenarios with a planted bug: poll with its ownership
	 * rule off (poll-cq-drop-frees-buffer), push with a cancel that calls
	 * back twice (push-cq-callback-twice). */
	bool mutant_ran[CLAIMS_NMODELS];
	uint64_t mutant_points[CLAIMS_NMODELS];
	uint64_t mutant_violations[CLAIMS_NMODELS];
	unsigned seeds;                   /* seeds per scenario, both runs */
	/* The code (c3_count_lines()): each engine's completion files and
	 * its readiness files, and poll's functions that exist only for
	 * cancellation under completion (listed in c13_completion.c). */
	bool lines_counted;
	unsigned cq_code[CLAIMS_NMODELS], cq_cancel[CLAIMS_NMODELS];
	unsigned rd_code[CLAIMS_NMODELS], rd_cancel[CLAIMS_NMODELS];
	unsigned orphan_funcs, orphan_lines;  /* poll only */
	/* Bytes at a stop with conns connections open, each in a receive
	 * (simulated completion queue): poll's orphans, and what the kernel
	 * owned of push's at the stop. */
	bool stop_measured[CLAIMS_NMODELS];
	unsigned conns;
	size_t bufsize;
	uint64_t orphaned, orphan_bytes, orphan_bytes_peak, late_completions;
	uint64_t owned_ops[CLAIMS_NMODELS], owned_bytes[CLAIMS_NMODELS];
};
int c13_measure(const struct claims_ctx *cx, struct c13_figures *f);
void c13_verdict(const struct c13_figures *f, struct claim_verdict *v);
void c13_json(struct claims_json *j, const struct c13_figures *f);
int c13_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C14: what completion I/O saves per message ------------------------------------------- */

/* The rows: every engine's readiness row, the io_uring floor ("uring"),
 * and "NAME/uring" for every engine with a completion entry point, at 50
 * and at 1,000 connections (the bench's closed-loop echo). */
#define C14_MAX_ROWS 12
enum { C14_AT_50, C14_AT_1K, C14_NCONNS };
extern const unsigned c14_conns[C14_NCONNS];       /* 50, 1000 */

struct c14_row {
	char name[24];                /* the bench row: "epoll", "push/uring" */
	bool completion;              /* over io_uring */
	bool ran[C14_NCONNS];         /* some untraced round completed */
	double cpu[C14_NCONNS];       /* server CPU ns per message, median */
	double cpu_range[C14_NCONNS][2];   /* its min and max over the rounds */
	double msgs[C14_NCONNS];      /* messages per second, median */
	double syscalls[C14_NCONNS];  /* per message, counted in the traced
				       * round; NAN: not counted */
	char top[C14_NCONNS][120];    /* its three most frequent calls */
};

struct c14_figures {
	unsigned n;
	struct c14_row e[C14_MAX_ROWS];
	char not_counted[200];        /* why no call was counted, or "" */
};
/* The row called name, or -1. */
int c14_find(const struct c14_figures *f, const char *name);
int c14_measure(const struct claims_ctx *cx, struct c14_figures *f);
void c14_verdict(const struct c14_figures *f, struct claim_verdict *v);
/* The figures as the "figures" member of the claim's JSON object. */
void c14_json(struct claims_json *j, const struct c14_figures *f);
int c14_run(struct claims_ctx *cx, struct claim_row *row);

/* ---- C15: what an allocation weighs when I/O is cheap ----------------------------------------- */

/* The engines C15 serves echo with: push as it comes (a heap request per
 * operation), push with its free lists, push with its synchronous fast
 * path, and poll. */
enum c15_engine { C15_PUSH, C15_PUSH_POOLED, C15_PUSH_FAST, C15_POLL,
		  C15_NENGINES };
extern const char *const c15_engine_name[C15_NENGINES];

/* The two worlds a round trip runs in: the simulated reactor, whose reads
 * and writes are function calls (a user-space network stack in all but
 * name), and real TCP over loopback through the kernel. */
enum c15_backend { C15_SIM, C15_LOOPBACK, C15_NBACKENDS };
extern const char *const c15_backend_name[C15_NBACKENDS];

/* Where the instructions of a round trip go, by the source file of the
 * function that executes them (c15_split()):
 *   C15_ENGINE    push/ or poll/: the model's own code;
 *   C15_COUNTING  shared/mem.c: the counting layer's bookkeeping (header,
 *                 magic word, atomic counters), malloc and free excluded;
 *   C15_MALLOC    the C library's malloc/free (and calloc's memset) called
 *                 from mem.c;
 *   C15_IO        shared/reactor*.c and sim*.c: the reactor and, under
 *                 sim, the simulated network (under epoll: the user-space
 *                 side of the system calls, whose kernel time is apart);
 *   C15_OTHER     any other code of the program, and what the split could
 *                 not place;
 *   C15_CLIENT    the experiment's own client, and the reactor calls it
 *                 makes: the other end of the wire, not the server's cost;
 *   C15_TRACE     the simulator's trace of its steps (step_record(): each
 *                 step described with snprintf and hashed, so that a run
 *                 can be replayed): a test world's bookkeeping that no
 *                 network stack keeps, not the server's cost either.
 * A call into a shared library counts in the part of its caller. */
enum c15_part { C15_ENGINE, C15_COUNTING, C15_MALLOC, C15_IO, C15_OTHER,
		C15_CLIENT, C15_TRACE, C15_NPARTS };
extern const char *const c15_part_name[C15_NPARTS];

/* Whether the instructions were counted. */
enum c15_instr_status {
	C15_COUNTED,          /* callgrind ran for every engine and backend */
	C15_NO_VALGRIND,      /* no valgrind on $PATH */
	C15_NO_CALLGRIND,     /* it exists but did not run (built without
			       * valgrind/callgrind.h, or a sanitizer build) */
};

struct c15_figures {
	enum c15_instr_status instr_status;
	/* Instructions per round trip, by part (callgrind). */
	double instr[C15_NBACKENDS][C15_NENGINES][C15_NPARTS];
	/* Natively, with no valgrind: under sim, wall ns per round trip of
	 * the whole exchange (server, client and simulated network, one
	 * thread; median of runs) and heap allocations per round trip; over
	 * loopback under the bench's load (its load generator in another
	 * thread), the server thread's user and system CPU ns per message
	 * (getrusage(RUSAGE_THREAD): the sum is exact, the split between the
	 * two is sampled at the timer tick, so the experiment prices the
	 * user-space instructions itself and calls the rest the kernel's). */
	double sim_ns[C15_NENGINES];
	double allocs[C15_NENGINES];
	double user_ns[C15_NENGINES], sys_ns[C15_NENGINES];
};

/* Split one callgrind output file (written with --compress-strings=no
 * --compress-pos=no, one event: Ir) into part[] (added to), by the rules
 * above; *total gets its "summary:" line, or -1.  What the rules could not
 * place (total minus the parts) goes to C15_OTHER.  Returns 0, or -EINVAL
 * for a file that is not callgrind's. */
int c15_split(FILE *f, double part[C15_NPARTS], double *total);

/* The server's instructions per round trip: every part but C15_CLIENT and
 * C15_TRACE. */
double c15_server_instr(const struct c15_figures *f, int b, int e);

/* One echo exchange through engine e's server on backend b, the client in
 * the server's own loop: warmup round trips of C15_MSG bytes (at least
 * 1), then trips measured ones (at least 1).  Fills heap allocations and
 * wall ns per measured round trip.  Returns 0, -EINVAL for a bad argument,
 * -EIO when a round trip did not come back right, or the server's error. */
#define C15_MSG 64
struct c15_trips {
	double allocs, ns;
};
int c15_echo(int e, int b, unsigned warmup, unsigned trips,
	     struct c15_trips *out);

int c15_measure(const struct claims_ctx *cx, struct c15_figures *f);
void c15_verdict(const struct c15_figures *f, struct claim_verdict *v);
int c15_run(struct claims_ctx *cx, struct claim_row *row);

/* The mode c15_measure() runs under callgrind, hidden from the usage text:
 * `pushpoll claims --callgrind-echo ENGINE BACKEND TRIPS`: warm-up round
 * trips, then callgrind's counters zeroed, TRIPS round trips, one dump.
 * argv[0] is the flag.  Returns an exit status (2 when built without
 * callgrind.h). */
int c15_callgrind_child(int argc, char **argv);

#endif
