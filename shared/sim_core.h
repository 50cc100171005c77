/* sim_core.h: the event core of the simulation.  Not for engines: they see
 * sim.h only.
 *
 * What every simulated backend is built on, whatever it simulates: a virtual
 * clock, the agenda of events that are going to happen, the seeded random
 * source that makes every choice, the trace hash that fingerprints the run,
 * the step hook, and the wakeup flag.  The core knows no handle, stream or
 * peer: an event is (due, seq, kind, target), and kind and target mean
 * something only to the backend that scheduled it, which takes the event
 * back off the agenda and delivers it.  reactor_sim.c is one such backend.
 *
 * Determinism.  The random source (splitmix64) is seeded from
 * sim_config.seed and nothing else (or reads sim_config.choices first, a
 * fuzzer's bytes), and is drawn only on the loop thread, at
 * points fixed by the engine's calls and the events delivered.  Sequence
 * numbers order events due at the same time before the random source picks
 * among them.  The real clock and rand() are never used.
 *
 * Memory.  Plain malloc: the simulation is the test world and must neither
 * show in the mem counters nor fail when the engine's allocations are made
 * to fail.  If malloc itself fails the simulation aborts (sim__must()): a
 * lost event would make the run silently wrong.  Sizes the caller chooses
 * (file contents) fail with -ENOMEM instead.
 *
 * Costs.  The agenda is a sorted array: insertion is a binary search and a
 * memmove (events usually go to the end: they are due now and get the
 * largest sequence number), removal a memmove.  A heap would make removal
 * O(log n), but picking among all the events due at t wants them in order.
 */
#ifndef PUSHPOLL_SIM_CORE_H
#define PUSHPOLL_SIM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

/* One entry of the agenda. */
struct sim_event {
	uint64_t due;
	uint64_t seq;             /* unique: (due, seq) names the entry */
	int kind;                 /* the backend's; the core never looks */
	void *target;
};

/* A place on the agenda, embedded in the object the event concerns.  Two
 * states: idle (scheduled false), or on the agenda under (due, seq). */
struct sim_sched {
	bool scheduled;
	uint64_t due;
	uint64_t seq;
};

struct sim_core {
	struct sim_config cfg;
	uint64_t now;             /* virtual time, ns */
	uint64_t rng;             /* splitmix64 state */
	size_t choice;            /* next byte of cfg.choices to read */
	uint64_t steps;
	uint64_t hash;            /* FNV-1a over every trace line */
	FILE *trace;
	int woken;                /* sim__wakeup(): atomic, any thread, signals */

	struct sim_event *agenda; /* sorted by (due, seq) */
	size_t nagenda, agenda_cap;
	uint64_t next_seq;

	uint64_t hook_step;       /* 0: no hook */
	void (*hook)(void *arg);
	void *hook_arg;
};

/* Set up c for configuration cfg: time 0, no step, nothing on the agenda. */
void sim__core_init(struct sim_core *c, const struct sim_config *cfg);
/* Free what the core allocated (not c itself). */
void sim__core_fini(struct sim_core *c);

/* ---- memory ---------------------------------------------------------------- */

/* p, or abort if it is NULL (see Memory above). */
void *sim__must(void *p);

#define xmalloc(n) sim__must(malloc(n))
#define xcalloc(n, size) sim__must(calloc((n), (size)))
#define xrealloc(old, n) sim__must(realloc((old), (n)))

/* ---- the seeded choices ---------------------------------------------------- */

/* 0..n-1.  A choice of one draws nothing. */
uint64_t sim__rng_below(struct sim_core *c, uint64_t n);
/* true with a chance of permille/1000.  Rates of 0 and 1000 draw nothing. */
bool sim__rng_chance(struct sim_core *c, unsigned permille);
/* The delay fault: how much later than due an event is scheduled. */
uint64_t sim__fault_delay(struct sim_core *c);
/* The short_io fault: of the k bytes an operation could move, move 1..k-1. */
size_t sim__fault_short(struct sim_core *c, size_t k);

/* ---- the agenda ------------------------------------------------------------ */

/* Put an event on the agenda; returns its sequence number. */
uint64_t sim__agenda_insert(struct sim_core *c, int kind, void *target,
			    uint64_t due);
/* Index of the first entry not before (due, seq). */
size_t sim__agenda_lower_bound(const struct sim_core *c, uint64_t due,
			       uint64_t seq);
/* Remove entry i. */
void sim__agenda_delete_at(struct sim_core *c, size_t i);
/* How many entries are due at or before t (they come first). */
size_t sim__agenda_due(const struct sim_core *c, uint64_t t);
/* Remove entry i and return it. */
struct sim_event sim__agenda_take(struct sim_core *c, size_t i);

/* Schedule kind/target delay ns from now, recording its place in sc, which
 * must be idle. */
void sim__sched_start(struct sim_core *c, struct sim_sched *sc, int kind,
		      void *target, uint64_t delay);
/* Take sc off the agenda.  No-op if it is idle. */
void sim__sched_stop(struct sim_core *c, struct sim_sched *sc);

/* ---- steps: the trace, the hook, the wakeup -------------------------------- */

/* Count a step and record "<step> <time> <what...>": into the hash, and
 * into the trace file if one is set. */
void sim__step_record(struct sim_core *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* If a hook is set for the next step, clear it, run it and return true.
 * The hook is itself not a step. */
bool sim__hook_run(struct sim_core *c);

/* Async-signal-safe and thread-safe: one atomic store, which the next
 * sim__woken_take() sees. */
void sim__wakeup(struct sim_core *c);
/* Whether sim__wakeup() was called since the last take; clears it. */
bool sim__woken_take(struct sim_core *c);

#endif
