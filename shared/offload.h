/* offload.h: the blocking pool, for work that has no readiness.
 *
 * Regular files are always "ready" to epoll, so reading one would block the
 * loop.  Such work runs as a job on a worker thread; its completion comes
 * back to the loop thread through a reactor async.  Under the simulated
 * reactor there are no threads: a job starts and finishes at scheduled steps.
 *
 * A job's states:
 *
 *   QUEUED --(a worker takes it)--> RUNNING --(work returns)--> FINISHED
 *     |                               |                            |
 *     | offload_cancel                | offload_cancel             | on the loop thread
 *     v                               v                            v
 *   discard() at once            CANCELLED: work goes on;      done(job)
 *                                discard() when it returns     (unless cancelled first:
 *                                                               then discard() at once)
 *
 * Ownership, the rule this module exists to keep: from offload_submit() the
 * job, and every buffer its work() writes into, belong to the pool.  They come
 * back to the caller in exactly one way: done(job) on the loop thread.  After
 * offload_cancel() the caller must forget the job: the pool calls discard(job)
 * exactly once, when no thread touches it any more (at once for a queued or
 * finished job, when work() returns for a running one), and discard() frees it.
 * A running job cannot be interrupted; its buffer therefore has to outlive the
 * cancellation, which is why it belongs to the job and not to the canceller.
 *
 * The pool itself never allocates after offload_new(): jobs are embedded in
 * memory the caller allocated (typically together with their buffer).
 */
#ifndef PUSHPOLL_OFFLOAD_H
#define PUSHPOLL_OFFLOAD_H

#include <stdint.h>

#include "reactor.h"
#include "sim.h"

struct offload;
struct offload_job;

enum offload_state {
	OFFLOAD_IDLE,       /* not submitted, or given back by done() */
	OFFLOAD_QUEUED,
	OFFLOAD_RUNNING,
	OFFLOAD_FINISHED,   /* work returned; done() not yet delivered */
	OFFLOAD_CANCELLED,  /* cancelled while running; discard() pending */
};

struct offload_job {
	/* public: set before offload_submit() */
	/* Runs on a worker thread (sim: on the loop thread at a step).  May
	 * touch only the job's own memory and call reactor_file_*(). */
	void (*work)(struct offload_job *job);
	/* Runs on the loop thread after work(); the job is the caller's again. */
	void (*done)(struct offload_job *job);
	/* Runs after offload_cancel(), once nothing uses the job: free it. */
	void (*discard)(struct offload_job *job);
	/* read-only */
	int state;          /* enum offload_state; written under the pool's lock */
	/* private */
	struct offload_job *next;
	struct offload *pool;
	struct sim_call sim;   /* under sim: the job's next scheduled step */
};

struct offload_stats {
	uint64_t submitted;
	uint64_t completed;          /* done() delivered */
	uint64_t cancelled_queued;   /* discarded before any work */
	uint64_t cancelled_running;  /* work ran (or runs) to the end for nothing */
	uint64_t cancelled_finished; /* work finished, result thrown away */
};

/* A pool of `threads` workers (at least 1) delivering to r.  Under sim no
 * thread is started.  Returns NULL on failure. */
struct offload *offload_new(struct reactor *r, unsigned threads);
/* Stop the workers and free the pool.  No job may be queued, running or
 * awaiting delivery: every job must have had its done() or discard().  Not
 * to be called from inside a done() or discard(). */
void offload_free(struct offload *o);

/* Hand a job to the pool.  done() (or, after a cancel, discard()) runs later
 * on the loop thread, never inside this call. */
void offload_submit(struct offload *o, struct offload_job *job);
/* Cancel a submitted job: see the ownership rule above.  Cancelling a job
 * that is not submitted (IDLE) or already cancelled does nothing. */
void offload_cancel(struct offload *o, struct offload_job *job);

/* Jobs submitted and not yet given back through done() or discard(). */
unsigned offload_outstanding(const struct offload *o);
/* Of those, the jobs whose work has returned and whose completion waits
 * for the loop: a cancel now finds them finished (cancelled_finished).
 * Takes the lock; always 0 under sim, where no job waits so.  For tests
 * that must cancel a job at that moment, not only hope to. */
unsigned offload_finished(struct offload *o);
void offload_stats_get(const struct offload *o, struct offload_stats *out);

#endif
