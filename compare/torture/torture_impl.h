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
	uint64_t bytes_wasted;    /* fanout: read by discarded jobs */
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

/* Where tt_sim_open() sends the simulation's trace (NULL: nowhere); set
 * by `pushpoll torture --step` to reproduce one case. */
extern FILE *torture__trace;

/* The main of a planted bug's program (torture_mutant.c): run the batch of
 * cases its command line describes, as the forked child of a batch does.
 * Never returns but on a bad command line (EXIT_USAGE). */
int torture__mutant_main(int argc, char **argv);

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

/* Deterministic test data: byte k of stream `id` under `seed`. */
unsigned char tt_pattern(uint64_t seed, unsigned id, size_t k);
void tt_fill(unsigned char *p, size_t n, uint64_t seed, unsigned id);

#endif
