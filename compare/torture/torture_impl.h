/* torture_impl.h: what the files of the harness share.
 *
 *   torture.c         the driver: cases, forked batches, the report, the
 *                     mutants, claim C6, `pushpoll torture`
 *   torture_mutant.c  the main of a planted bug's program
 *   torture_common.c  what every scenario file calls: torture__fail(),
 *                     torture__trace
 *   torture_world.c   the simulated world and the two workloads (echo,
 *                     fanout) for either engine, with their checks
 *   torture_push.c    the combinator scenarios written with push
 *   torture_poll.c    the same scenarios written with poll
 *   torture_faults.c  faults on real loopback sockets (epoll)
 *   torture_live.c    both workloads over real sockets and files,
 *                     cancelled at random times (epoll, offload threads)
 *   torture_fuzz.c    a case made of a fuzzer's bytes, `torture --fuzz`
 *                     and `--replay`
 *   torture_fuzz_main.c  the main of the fuzzer's program (libFuzzer)
 *
 * A scenario is one function that runs one case from start to finish
 * inside a forked child, checks every invariant it can, and records the
 * first violation in the case.  It never exits and never prints: the
 * driver does both.
 */
#ifndef PUSHPOLL_TORTURE_IMPL_H
#define PUSHPOLL_TORTURE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "offload.h"
#include "reactor.h"
#include "sim.h"
#include "torture.h"
#include "workload.h"

struct torture_scenario;

/* One run of one scenario.  The driver fills the inputs, the scenario the
 * outputs; the whole struct travels back to the driver through a pipe, so
 * it holds no pointer the driver follows (scen is followed only in the
 * process that runs the case). */
struct torture_case {
	/* in */
	const struct torture_scenario *scen;
	uint64_t seed;
	uint64_t cancel_step;     /* cancel just before this step; 0: never */
	unsigned target;          /* 0: the whole scenario; i > 0: part i - 1 */
	uint64_t fail_nth;        /* make this allocation fail; 0: none */
	uint64_t step_limit;      /* more steps than this is a runaway */
	bool quick;
	uint64_t input_size;      /* fanout: 0 for the scenario's default */
	size_t chunk_size;        /* fanout: 0 for the scenario's default */
	/* out */
	uint64_t steps;           /* sim steps, the final drain included */
	uint64_t allocs;          /* allocations the engine made */
	bool cancelled;           /* the cancel took effect (something was
				   * there to cancel) */
	uint64_t faults;          /* faults injected (real sockets) */
	struct offload_stats off; /* the pool's counters at the end */
	uint64_t bytes_read;      /* fanout: read and delivered */
	uint64_t bytes_wasted;    /* fanout: read by discarded jobs, or over
				   * a completion queue read by the kernel
				   * and not consumed */
	uint64_t kernel_violations; /* over a completion queue: breaches of
				     * the simulated kernel's ownership */
	char what[160];           /* the first violation, "" if none */
};

struct torture_scenario {
	const char *name;
	enum torture_engine engine;
	unsigned family;          /* TORTURE_CANCEL|TORTURE_ALLOC (sim), or
				   * TORTURE_FAULTS (real sockets) */
	unsigned parts;           /* part targets cancelled at each step */
	void (*run)(struct torture_case *c);
};

/* The scenario tables, each ending with a zeroed entry. */
extern const struct torture_scenario torture__world_scenarios[];
extern const struct torture_scenario torture__push_scenarios[];
extern const struct torture_scenario torture__poll_scenarios[];
extern const struct torture_scenario torture__fault_scenarios[];
extern const struct torture_scenario torture__live_scenarios[];

/* Where tt_sim_open() sends the simulation's trace (NULL: nowhere); set
 * by `pushpoll torture --step` to reproduce one case. */
extern FILE *torture__trace;

/* ---- fuzzing: the simulator's choices from a fuzzer's bytes ---------------- */

/* What a fuzzer's input sets in the world of a case, over the
 * configuration its scenario chose: the rates of the faults that every
 * scenario's checks allow (short reads and writes, spurious EAGAIN,
 * delays, batches), the rates of resets and early ends where the
 * scenario has them already (its checks allow for them only there), the
 * longest delay, and the bytes the simulator reads its choices from
 * (sim_config.choices).  The swarm: each fault is on or off by a bit of
 * the input, so that a run meets worlds with a few faults as well as
 * worlds with all of them. */
struct tt_fuzz {
	unsigned short_io, eagain, delay, batch, reset, early_eof;
	uint64_t max_delay_ns;
	const unsigned char *choices;
	size_t nchoices;
};

/* The overlay tt_sim_open() applies (NULL: none, as in every run but a
 * fuzzed or replayed one).  Loop thread of the case only. */
extern const struct tt_fuzz *torture__fuzz;

/* The bytes of a fuzzer's input, in order (a short input reads as if
 * zeros followed; the choices are what is left after the header):
 *
 *   0       the scenario, an index into the engine's simulated ones
 *   1       the swarm: bit 0 short reads and writes, 1 EAGAIN, 2 delays,
 *           3 batches, 4 resets and early ends, 5 a cancel, 6 a failed
 *           allocation, 7 the quick world
 *   2..7    the rates of short io, EAGAIN, delays, batches, resets and
 *           early ends, when their bit is on: per mille, 1 + byte *
 *           999 / 255 (EAGAIN: 1 + byte * 499 / 255, since a world where
 *           every call says EAGAIN never moves)
 *   8..9    the step to cancel before (1 to 4096), when bit 5 is on
 *   10      the target (modulo the scenario's parts + 1)
 *   11..12  the allocation to fail (1 to 4096), when bit 6 is on
 *   13..20  the seed (little-endian): the data, the nesting's inner
 *           combinator, and the choices once the bytes run out
 *   21      the longest delay, (byte + 1) * 10 us
 *   22...   the simulator's choices
 */
#define TT_FUZZ_HEADER 22

/* Decode data (n bytes) for engine e into the case *c and the overlay *f
 * (f->choices points into data).  Returns 0, or -ENOENT if the engine
 * has no simulated scenario (a harness bug). */
int torture__fuzz_decode(enum torture_engine e, const unsigned char *data,
			 size_t n, struct torture_case *c, struct tt_fuzz *f);
/* Run that case in this process, with every check of torture; c->what
 * says the violation, "" if none. */
void torture__fuzz_run(struct torture_case *c, const struct tt_fuzz *f);
/* One line saying what the case is: "push echo (quick) seed 7, cancel
 * before step 12 target 1, short io 500, batches 120 ..." */
void torture__fuzz_describe(const struct torture_case *c,
			    const struct tt_fuzz *f, char *buf, size_t size);

/* The main of a planted bug's program (torture_mutant.c): run the batch of
 * cases its command line describes, as the forked child of a batch does.
 * Never returns but on a bad command line (EXIT_USAGE). */
int torture__mutant_main(int argc, char **argv);

/* Run case c's scenario (in the process that runs the case), and make a
 * callback that the engine saw begin inside a cancel a violation of the
 * case, whatever the scenario: rule R2 of push.h, counted by the engine
 * itself (push_callbacks_in_cancel()). */
void torture__run_case(struct torture_case *c);

/* Record a violation (the first one is kept). */
void torture__fail(struct torture_case *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define TT_CHECK(c, cond, ...) \
	do { if (!(cond)) torture__fail((c), __VA_ARGS__); } while (0)

/* ---- the simulated world every sim scenario runs in (torture_world.c) ----- */

/* The world both engines' scenarios run in is the same, so that a scenario
 * of one engine and its twin of the other meet the same bytes, pauses and
 * files. */
#define TT_DATA 6000             /* bytes the writer peer sends */
#define TT_PIECES 3              /* in that many writes, after a pause each */
#define TT_READ_MAX 1024         /* bytes one read asks for at most */
#define TT_FILE 2500             /* bytes in /data */
#define TT_FILE_BUF 2048         /* bytes a file read asks for */
#define TT_BRANCHES 3            /* children of a join or a race */

/* ---- nestings: every combinator in every other, to depth 3 ----------------- */

/* The nesting scenarios compose the four combinators three deep:
 * outer(middle(inner(read, file read), sleep), sleep), where a timeout
 * has no second child.  The scenario's name gives the outer and middle
 * combinators ("join-race"); the seed gives the inner one, so that a full
 * run meets all 64 shapes.  Both engines build the same tree from the
 * same description, given here; only the checks of what each combinator
 * may answer differ, as the models do.
 *
 * The nodes, by index:
 *   0  the outer combinator, children 1 and 4
 *   1  the middle one, children 2 and 5
 *   2  the inner one, children 3 and 6
 *   3  the read of TT_DATA bytes (the only reader of the stream)
 *   4  a sleep of 900 us; 5: a sleep of 500 us
 *   6  the read of the file (the only user of its buffer)
 * Parts 1 to 3 (the targets cancelled alone) are nodes 1 to 3; part 4 is
 * the writer. */
enum tt_nest_kind {
	TT_SEQ, TT_JOIN, TT_RACE, TT_TIMEOUT,     /* the combinators */
	TT_NCOMB,
	TT_LEAF_READ = TT_NCOMB, TT_LEAF_FILE, TT_LEAF_SLEEP,
};
#define TT_NEST_NODES 7
#define TT_NEST_PARTS 4

/* The shape of scenario `name` under `seed`: comb[0..2], the outer,
 * middle and inner combinators.  Returns 0, or -1 if the name is not a
 * nesting's (a harness bug). */
int tt_nest_shape(const char *name, uint64_t seed, unsigned comb[3]);
/* What node i is (an enum tt_nest_kind), its children (into kid[], the
 * count returned: 0 for a leaf), and its time: a timeout's deadline or a
 * sleep's length (0 for the others). */
unsigned tt_nest_kind(const unsigned comb[3], unsigned i);
unsigned tt_nest_kids(const unsigned comb[3], unsigned i, unsigned kid[2]);
uint64_t tt_nest_ns(const unsigned comb[3], unsigned i);
/* "seq", "join"..., "read", "file read", "sleep". */
const char *tt_nest_name(unsigned kind);
/* Put the shape in front of the case's violation, if it has one:
 * "join(race(timeout)): ...". */
void tt_nest_label(struct torture_case *c, const unsigned comb[3]);

struct tt_sim {
	struct torture_case *c;
	struct reactor *r;
	struct offload *o;
	struct mem_stats base;    /* before anything was allocated */
	uint64_t allocs0;         /* mem allocs when the engine started */
	/* What the step hook calls: cancel target t (0: the whole scenario;
	 * i > 0: part i - 1).  Returns true when it cancelled something. */
	bool (*cancel)(void *arg, unsigned t);
	void *cancel_arg;
	/* Sent after the cancel, as any canceller outside the loop must:
	 * the engine's loop is inside reactor_poll() and may have nothing
	 * else to wake it for the work the cancel queued. */
	struct reactor_async wake;
};

/* The world for case c: a reactor and an offload pool, the memory
 * baseline taken first.  cfg NULL: the configuration most scenarios use
 * (order, short reads and writes, spurious EAGAIN and delays, all from
 * the seed; no resets, which would end connections by themselves). */
void tt_sim_open(struct tt_sim *w, struct torture_case *c,
		 const struct sim_config *cfg);
/* Arm the cancel hook and the allocation failure of the case, and start
 * counting the engine's allocations.  Call just before the engine runs. */
void tt_sim_arm(struct tt_sim *w);
/* Run the world on after the engine is done, until nothing can happen:
 * peers see their connections end, cancelled jobs finish.  Bounded.  From
 * here on the step hook cancels nothing (a step reached only now is not
 * a cancel point of the run). */
void tt_sim_drain(struct tt_sim *w);
/* Check that the pool has every job back, free the world, check that the
 * memory is back to the baseline, and fill c->steps, allocs and off. */
void tt_sim_close(struct tt_sim *w);

/* Read handle h of the world until end of stream (bounded), appending to
 * buf (cap bytes); run the world when it says -EAGAIN.  Returns the bytes
 * read, or -errno.  Like tt_sim_drain(), it ends the cancel points. */
ssize_t tt_sim_read_all(struct tt_sim *w, int h, unsigned char *buf,
			size_t cap);

/* What the simulated kernel of a run over a completion queue counted, read
 * once the run has returned: the bytes its file reads' completions carried
 * (completion_stats.file_read_bytes) and its breaches of ownership
 * (completion_sim_violations()). */
struct tt_kernel_counts {
	uint64_t file_read_bytes;
	uint64_t violations;
};
typedef void (*tt_kernel_fn)(struct tt_kernel_counts *out);

/* The echo and fanout scenarios' runs and checks (torture_world.c), on an
 * engine's other entry points: echo with a read buffer per connection in
 * the scenarios' plain world; fanout
 * to TCP subscribers (tcp) or files.  kernel, for an entry point over a
 * completion queue (NULL: none), gives the kernel's counts after the run:
 * c->kernel_violations, and for TCP subscribers (every file read is of the
 * input) c->bytes_wasted, the bytes the kernel read that the fanout did not
 * consume (claim C6). */
void tt_echo_run(struct torture_case *c, echo_serve_fn serve);
void tt_fanout_run(struct torture_case *c, fanout_run_fn run, bool tcp,
		   tt_kernel_fn kernel);

/* Deterministic test data: byte k of stream `id` under `seed`. */
unsigned char tt_pattern(uint64_t seed, unsigned id, size_t k);
void tt_fill(unsigned char *p, size_t n, uint64_t seed, unsigned id);

/* The same in the faulty world (peers that reset and end early), and for
 * the fanout whose first subscriber never reads (its sink times out). */
void tt_echo_run_faulty(struct torture_case *c, echo_serve_fn serve);
/* The plain and the faulty echo with buffers on readiness. */
void tt_echo_run_ready(struct torture_case *c, echo_serve_fn serve);
void tt_echo_run_ready_faulty(struct torture_case *c, echo_serve_fn serve);
void tt_fanout_run_slow(struct torture_case *c, fanout_run_fn run);

#endif
