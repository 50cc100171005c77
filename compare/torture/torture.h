/* torture.h: `pushpoll torture`, the cancellation-safety harness.
 *
 * The promise both engines make (claim C3): wherever a cancellation or a
 * fault lands, no byte is lost or duplicated, nothing leaks, no callback,
 * poll or drop runs after an operation is finished, and no memory is used
 * after it is freed.  This harness looks for a counter-example, as
 * exhaustively as it can afford.  The scenarios, each written for both
 * engines:
 *
 *   echo         the engine's own echo server (push_echo_serve...), with
 *                several simulated peers
 *   fanout-tcp   the engine's own fanout, to simulated subscribers
 *   fanout-file  the same, to simulated files (offload writes)
 *   join, race, timeout, chain   the engine's combinators over a stream
 *                pair and a file: join(read, file read, sleep),
 *                race(read, sleep, file read), timeout(read), and
 *                seq(write, timeout(join(read, file read)), sleep)
 *   inner-cancel the join beside the writer, cancelled from inside: a
 *                callback (push) or a poll (poll) of one side cancels
 *                its own composition or task, or the other side
 *   join-race... every combinator (seq, join, race, timeout) nested in
 *                every other, three deep: sixteen scenarios named by the
 *                outer and middle combinators, the inner one chosen by the
 *                seed, so that a full run meets all 64 shapes
 *   reset, halfclose, noread, vanish, burst   faults on real sockets
 *   live-echo, live-tcp-sinks, live-file-sinks   both workloads over
 *                real loopback sockets and real files (epoll, offload's
 *                threads), cancelled at random times: a part, and in some
 *                rounds the whole, with messages larger than the buffer
 *   live-batch-abort, live-job-cancel   two moments of real I/O forced,
 *                not left to timing: a fanout aborted from inside an
 *                epoll batch that holds every sink, writable again,
 *                behind the abort; and an abort that meets an offload job
 *                whose completion is posted and not yet delivered
 *
 * The families, each a way to perturb a run:
 *
 *   cancel   Over the simulated reactor.  A scenario runs once under a seed
 *            (the reference run) to count its steps K; then for every k in
 *            1..K it is replayed with the same seed and cancelled just
 *            before step k (sim_at_step()): as a whole (a stop request for
 *            a workload, push_cancel() or poll_task_abort() for a
 *            combinator), and one part alone (an echo connection or a
 *            fanout sink through workload_cancel_part(); a branch of a
 *            join or race through its own token (push) or a select on a
 *            signal (poll); a node of a nesting the same ways; the
 *            writer of the timeout and nesting scenarios).  A cancel
 *            point is one (scenario, seed, k, target) where the cancel
 *            found something to cancel.
 *   alloc    The reference run counts the allocations A the engine makes;
 *            then for every N in 1..A the run is replayed with the Nth one
 *            failing (mem_fail_nth()).
 *   faults   The engine's echo server on the epoll reactor and loopback
 *            sockets, in a process of its own: peers that reset in the
 *            middle of a write, half-close, stop reading, connect and
 *            vanish, and a burst beyond a lowered RLIMIT_NOFILE, each
 *            beside a healthy connection.  And the live scenarios: echo
 *            and fanout on the epoll reactor with their peers on the same
 *            loop, several rounds each, cancelled by a timer at random
 *            times (torture_live.c).
 *
 * Cases run in forked children (a batch of cases per child, one fork more
 * after each crash), so a crash, an abort or a sanitizer report is a caught
 * violation, not the end of the harness.  What is checked in every case:
 *
 *   - once:    push: every callback of the scenario ran exactly once, never
 *              after its start failed, never inside a push_cancel or
 *              push_token_cancel the harness made (R2), the inner ones
 *              before their composition's; poll: no future polled after it returned
 *              READY or was dropped, every future dropped, no waker left
 *              in a slot, nothing but the harness's handle holding a
 *              finished task (R2 to R4 of poll.h).  Inside the
 *              workloads these show as crashes, double frees and leaks;
 *   - leak:    live blocks and bytes back to the baseline once the world is
 *              freed (a double free aborts inside mem_free: a crash);
 *   - bytes:   what each peer, subscriber, file or reader received is a
 *              prefix of what was sent, and holds at least every byte the
 *              engine reported as delivered; what was not cancelled, and
 *              did not lose the failed allocation, was served in full;
 *   - offload: every job was given back (offload_outstanding() is 0); a
 *              job running at the cancel wrote into memory it owned (the
 *              sanitizer build proves "owned"; a file read that succeeded
 *              holds the file's bytes);
 *   - ends:    every peer saw its connection end (nothing left open or
 *              registered), the run ended (no runaway, no lost wake-up);
 *              after a whole stop of echo, every connection open at the
 *              stop ended as cancelled (but one whose peer's end or reset
 *              was already on its way);
 *   - crash:   the child died of a signal, an assertion, mem_free's check
 *              or a sanitizer report; hang: it outlived its alarm (the
 *              case timeout), or a drain after the run went on past the
 *              case's step limit.  A hang ends its batch: the cases after
 *              it are counted as not run, not each waited for.
 *
 * Planted bugs.  A few known cancellation bugs are kept as patches to the
 * engines' source (compare/torture/mutants/NAME.patch), never in it.  The
 * build applies each to a copy of the file it changes and links the copy
 * into a program of its own, mutants/NAME, that runs the harness's cases and
 * nothing else.  With o->mutant set, every case runs in that program
 * instead of a plain fork of this one; `pushpoll torture --mutants` does
 * so for each bug in turn and reports whether it was caught: a harness
 * that cannot fail proves nothing.
 *
 * Reproducing.  A violation is reported with its seed, step (or allocation
 * number) and target; `pushpoll torture --engine E --only SCENARIO
 * --first-seed SEED --step K --target T` (or --alloc N; add --quick if the
 * run was quick) replays that one case with the simulation's trace.
 *
 * Thread use: torture_run() forks; call it from a single-threaded process
 * (no offload pool or reactor running).  It writes nothing to stdout unless
 * opts->out is set.
 */
#ifndef PUSHPOLL_TORTURE_H
#define PUSHPOLL_TORTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The engines the harness knows: the two models.  (The baselines have no
 * cancellation API to torture.) */
enum torture_engine {
	TORTURE_PUSH,
	TORTURE_POLL,
	TORTURE_NENGINES,
};

/* The scenario families, as bits of torture_opts.families. */
enum {
	TORTURE_CANCEL = 1u << 0,  /* exhaustive cancel points (sim) */
	TORTURE_ALLOC  = 1u << 1,  /* every allocation failure point (sim) */
	TORTURE_FAULTS = 1u << 2,  /* faults on real loopback sockets */
	TORTURE_ALL    = TORTURE_CANCEL | TORTURE_ALLOC | TORTURE_FAULTS,
};

/* The planted bugs (0: none), each a patch in compare/torture/mutants/
 * named as torture_mutant_name() says, with the file it changes in
 * brackets. */
enum torture_mutant {
	TORTURE_MUTANT_NONE = 0,
	/* push: a request cancelled by its token keeps the token's reference
	 * (a missed deref: the request leaks).  [push/request.c] */
	TORTURE_MUTANT_PUSH_MISSED_UNREF,
	/* push: a cancelled request's callback runs twice.  [push/request.c] */
	TORTURE_MUTANT_PUSH_DOUBLE_CALLBACK,
	/* push: a cancelled file operation lets go of its buffer while the
	 * offload job still runs (the job then writes through a stale
	 * pointer).  [push/io.c] */
	TORTURE_MUTANT_PUSH_EARLY_BUF_FREE,
	/* poll: dropping a pending read gives back the waker's reference but
	 * leaves the stream's slot pointing at the task (a waker that
	 * outlives its task).  [poll/io.c] */
	TORTURE_MUTANT_POLL_WAKER_OUTLIVES,
	/* poll: a sleep dropped while pending forgets to deregister its timer
	 * from the reactor (it then fires into freed memory).  [poll/io.c] */
	TORTURE_MUTANT_POLL_NO_DEREGISTER,
	/* poll: a dropped file future lets go of the job's buffer while the
	 * offload job still runs.  [poll/io.c] */
	TORTURE_MUTANT_POLL_EARLY_BUF_FREE,
	/* poll: a select forgets its losers without dropping them (their
	 * registrations outlive them).  [poll/compose.c] */
	TORTURE_MUTANT_POLL_SKIP_DROP,
	/* push: push_cancel() runs a leaf's callback inside the call (R2).
	 * [push/request.c] */
	TORTURE_MUTANT_PUSH_CALLBACK_IN_CANCEL,
	/* push: an echo connection's token is not a child of the server's,
	 * so a stop lets open connections finish by themselves.
	 * [push/echo.c] */
	TORTURE_MUTANT_PUSH_STOP_MISSES_CONNS,
	/* push: push_cancel() leaves the request on its token's list, and a
	 * token cancel spins on it for ever (a hang).  [push/request.c] */
	TORTURE_MUTANT_PUSH_CANCEL_SPINS,
	/* poll: poll_task_abort() on the running task drops its future at
	 * once, under its own poll.  [poll/task.c] */
	TORTURE_MUTANT_POLL_ABORT_DROPS_RUNNING,
	/* push: a fanout sink whose write completed goes on without asking
	 * whether it ended meanwhile, and is finished twice (the bug batches
	 * found first).  [push/fanout.c] */
	TORTURE_MUTANT_PUSH_SINK_ENDS_TWICE,
	/* push: a race names the branch that called back last, not first.
	 * [push/compose.c] */
	TORTURE_MUTANT_PUSH_RACE_NAMES_LAST,
	/* poll: a task aborted inside its own poll is polled again, its code
	 * running after the abort.  [poll/task.c] */
	TORTURE_MUTANT_POLL_ABORT_RUNS_ON,
	/* poll: a completion leaf dropped with its operation in flight frees
	 * the buffer the kernel still owns.  [poll/io_completion.c] */
	TORTURE_MUTANT_POLL_CQ_DROP_FREES_BUFFER,
	/* poll: the loop keeps no record of an orphaned operation, neither
	 * freeing it at its completion nor waiting for it at the end.
	 * [poll/io_completion.c] */
	TORTURE_MUTANT_POLL_CQ_FORGETS_ORPHAN,
	/* push: a deadline that finds nothing registered on the timeout's
	 * token reports the timeout at once, and the completion queued in
	 * the same poll finishes it again; reachable only when several
	 * events come in one poll (batches).  [push/compose.c] */
	TORTURE_MUTANT_PUSH_TIMEOUT_FINISHES_TWICE,
	/* push: a stream write cancelled after part of it went out calls
	 * back at once, inside the cancel (R2), which only the workloads'
	 * own cancels and the compositions' inner callbacks reach.
	 * [push/io.c] */
	TORTURE_MUTANT_PUSH_WRITE_CANCEL_REPORTS,
	/* push, completion mode: a cancel calls back at once, and the op's
	 * late completion calls back again.  [push/io_completion.c] */
	TORTURE_MUTANT_PUSH_CQ_CALLBACK_TWICE,
	/* push, completion mode, buffers on readiness: the ring buffer of a
	 * receive that won the race against its cancel is never given back
	 * to the ring.  [push/echo.c] */
	TORTURE_MUTANT_PUSH_CQ_READY_KEEPS_BUFFER,
	/* poll, buffers on readiness over completions: the loop keeps the
	 * ring buffer an orphaned recv's late completion brought instead of
	 * giving it back to the ring (C7).  [poll/io_completion.c] */
	TORTURE_MUTANT_POLL_CQ_ORPHAN_KEEPS_BUFFER,
	TORTURE_NMUTANTS,
};

struct torture_opts {
	unsigned engines;          /* bits 1 << TORTURE_PUSH...; 0: both */
	unsigned families;         /* TORTURE_* bits; 0: TORTURE_ALL */
	unsigned seeds;            /* seeds per scenario; 0: 64 (quick: 2) */
	uint64_t first_seed;       /* seeds are first_seed, first_seed+1, ... */
	bool quick;                /* smaller worlds; every k still explored */
	const char *only;          /* run only the scenario of that name, or NULL */
	int mutant;                /* enum torture_mutant: run every case in
				    * that bug's program (0: none) */
	unsigned case_timeout_s;   /* per forked case; 0: 3 s (a case takes
				    * milliseconds: longer is a hang) */
	FILE *out;                 /* progress and tables, or NULL: silent */
	bool verbose;              /* one line per seed and family on out */
	bool stop_at_first;        /* leave a scenario at its first violation
				    * (mutants: a caught bug needs no more) */
	bool fail_fast;            /* end the whole run at its first
				    * violation (implies stop_at_first) */
	uint64_t time_limit_ns;    /* start no batch of cases after this long
				    * (0: no limit); what was left is counted
				    * in the report */
};

/* The figures for one (engine, scenario) pair. */
struct torture_row {
	enum torture_engine engine;
	const char *scenario;      /* static name: "echo", "fanout", "join"... */
	unsigned family;           /* TORTURE_CANCEL, _ALLOC or _FAULTS */
	unsigned seeds;
	uint64_t steps;            /* K summed over the seeds (sim), 0 for faults */
	uint64_t cancel_points;    /* distinct (seed, k, target) explored */
	uint64_t alloc_points;     /* allocation failures injected */
	uint64_t faults;           /* faults injected on real sockets */
	uint64_t runs;             /* forked cases run */
	uint64_t violations;
	/* The first violation, to reproduce it (`pushpoll torture --engine E
	 * --only S --first-seed SEED --step K --target T`, or --alloc N):
	 * its family (0: the reference run, with no cancel and no failure),
	 * seed, step (or allocation number N for the alloc family), target,
	 * and what was seen. */
	unsigned first_family;
	uint64_t first_seed, first_step;
	unsigned first_target;
	char first_what[160];
};

/* Totals per engine. */
struct torture_engine_totals {
	unsigned scenarios;
	uint64_t steps, cancel_points, alloc_points, faults, runs, violations;
};

#define TORTURE_MAX_ROWS 96

struct torture_report {
	unsigned nrows;
	struct torture_row row[TORTURE_MAX_ROWS];
	struct torture_engine_totals engine[TORTURE_NENGINES];
	uint64_t violations;       /* over everything */
	double seconds;            /* wall time of the run */
	/* What was not run: the run ended early (fail_fast, or the time
	 * limit ran out), or a hung case ended its batch (the cases after a
	 * hang would hang too, each for the case timeout). */
	bool out_of_time;          /* the time limit ran out */
	bool failed_fast;          /* fail_fast ended the run */
	unsigned scenarios_not_run;  /* not started at all */
	uint64_t seeds_not_run;    /* of the scenarios started */
	uint64_t cases_not_run;    /* after a hang, in its batch */
};

/* Defaults: both engines, every family, 64 seeds from seed 1 (the even
 * ones deliver events in batches: sim_config.batch), full size. */
void torture_opts_default(struct torture_opts *o);

/* Run the harness as o says and fill *out (zeroed first).  Returns 0 when
 * it ran (whatever it found: read out->violations), or -errno if it could
 * not run (-EINVAL: an unknown scenario in o->only; -ENOMEM...). */
int torture_run(const struct torture_opts *o, struct torture_report *out);

/* Print the per-engine table of a report. */
void torture_report_print(FILE *f, const struct torture_report *rep);

/* ---- planted bugs ---------------------------------------------------------- */

/* The engine a mutant lives in, its name ("push-missed-unref"...) and one
 * line saying what it breaks. */
enum torture_engine torture_mutant_engine(int mutant);
const char *torture_mutant_name(int mutant);
const char *torture_mutant_what(int mutant);

/* The path of the program built with mutant m, into buf: the folder named
 * by the environment variable PUSHPOLL_MUTANTS if it is set, else the
 * folder mutants/ beside the running program (the build tree), else the
 * one `make install` puts them in.  Returns 0, or -ENOENT when there is no
 * such program (buf then holds the last path tried), -EINVAL for m out of
 * range. */
int torture_mutant_program(int m, char *buf, size_t size);

/* Run the harness once per mutant (on the mutant's engine, the sim
 * families, quick or not as o says, each scenario stopping at its first
 * violation) and record whether it found one.  caught[m] is set for m in
 * 1..TORTURE_NMUTANTS-1 (mutants of an engine that o->engines leaves out
 * are skipped and count as caught: set o->engines to 0 for all).  Returns
 * how many mutants escaped (0: every one caught), or -errno. */
int torture_mutants(const struct torture_opts *o,
		    bool caught[TORTURE_NMUTANTS]);

/* ---- claim C6: cancelling a fanout while offload reads run --------------- */

/* A fanout over the simulated reactor (input in a sim file, TCP sinks that
 * are sim peers, so every offload job is a read of the input), cancelled at
 * every step k of its run.  The reads are sequential, so the job cancelled
 * while it ran read exactly the chunk at offset bytes_read: its size is the
 * bytes read for nothing. */
struct torture_waste {
	uint64_t runs;             /* cancelled fanouts (cancel points) */
	uint64_t cancels_while_running;  /* runs with a read job running or
					  * finished-undelivered at the cancel */
	uint64_t jobs_cancelled_queued;   /* offload_stats, summed */
	uint64_t jobs_cancelled_running;
	uint64_t jobs_cancelled_finished;
	uint64_t bytes_wasted;     /* read by jobs whose result was discarded */
	uint64_t bytes_read;       /* read and delivered to the fanout */
	uint64_t violations;       /* leaks, crashes, jobs not given back */
	uint64_t kernel_violations; /* _cq: breaches of the simulated kernel's
				     * ownership (a buffer freed, touched or
				     * reused while it owned it), of those */
};

/* Measure the above for one engine over `seeds` seeds (0: 3), with an input
 * of input_size bytes (0: 256 KiB) in chunks of chunk_size (0: 16 KiB).
 * Returns 0 or -errno. */
int torture_fanout_waste(enum torture_engine e, unsigned seeds,
			 uint64_t input_size, size_t chunk_size,
			 struct torture_waste *out);

/* The same over a completion queue (the fanout-cq scenario, on the
 * simulated kernel of completion_sim.c): the input is read by the kernel,
 * no pool.  A read in flight at the cancel is asked to stop and may lose
 * (completion.h, rule 3), so the kernel's count of the bytes its file
 * reads read (completion_stats.file_read_bytes), less the bytes the fanout
 * consumed, is bytes_wasted; cancels_while_running counts the runs where
 * some were.  The jobs_cancelled_* stay 0 (no pool). */
int torture_fanout_waste_cq(enum torture_engine e, unsigned seeds,
			    uint64_t input_size, size_t chunk_size,
			    struct torture_waste *out);

/* ---- fuzzing ----------------------------------------------------------------- */

/* Swarm fuzzing of the simulated world: a fuzzer's input is a case (the
 * scenario, the faults that are on and their rates, a cancel point, a
 * failed allocation, a seed) followed by the bytes the simulator makes its
 * choices from (delivery order, read and write sizes, delays, EAGAIN,
 * batches, resets: sim_config.choices); the case runs with every check of
 * torture, over the simulated scenarios of each engine.  The fuzzer is
 * libFuzzer, in a program of its own, torture-fuzz, built where configure
 * finds clang and libFuzzer (--enable-fuzz; Debian's clang and
 * libclang-rt-14-dev).  A violation or a crash is written as a file, the
 * case, that `pushpoll torture --engine E --replay FILE` runs again. */

/* What one engine's fuzzing run found and did, from libFuzzer's output. */
struct torture_fuzz_result {
	enum torture_engine engine;
	bool ran;                  /* this engine was fuzzed */
	bool violation;            /* a case was written: artifact */
	uint64_t seconds;          /* asked for */
	uint64_t runs;             /* inputs executed */
	uint64_t execs_per_s;      /* libFuzzer's average */
	uint64_t cov, ft;          /* its coverage: edges (cov:) and
				    * features (ft:) at the end */
	uint64_t corpus;           /* inputs kept */
	char artifact[4096];       /* the case's file, "" if none */
	char what[512];            /* what was seen, "" if none */
};

/* The path of the fuzzer's program, into buf: the one the environment
 * variable PUSHPOLL_FUZZER names, else torture-fuzz beside the running
 * program (the build tree), else the one `make install` puts beside the
 * planted bugs.  Returns 0, or -ENOENT when the build has none. */
int torture_fuzz_program(char *buf, size_t size);

/* Fuzz each engine of o->engines (0: both) for duration_ns (rounded up to
 * whole seconds), one after the other, with the corpus and the output in
 * folder dir (made if missing): dir/corpus-E, dir/fuzz-E.log, and the
 * cases found.  o->verbose copies the fuzzer's output to stderr;
 * o->fail_fast skips the engines after one that found something;
 * o->case_timeout_s (0: 10 s) is the time after which a case is a hang.
 * Returns 0 when it ran (read r[e].violation), -ENOENT when the build has
 * no fuzzer, or another -errno. */
int torture_fuzz(const struct torture_opts *o, uint64_t duration_ns,
		 const char *dir, struct torture_fuzz_result r[TORTURE_NENGINES]);

/* `pushpoll torture [options]`: returns the exit status (0, 1 if a
 * violation was found or a mutant escaped, 2 on a usage error). */
int torture_main(int argc, char **argv);

#endif
