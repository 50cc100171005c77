/* poll_impl.h: what the files of the poll engine share and callers never
 * see: the task transitions (task.c) that the executor calls.
 *
 * The files depend one way, each only on those below it:
 *
 *   echo.c, fanout.c   the workloads
 *   compose.c          combinators, over the leaves
 *   io.c               leaf futures: streams, timers, files
 *   io_completion.c    leaf futures over a completion queue, and the
 *                      loop's operations and orphans (step 4 over it)
 *   loop.c             the executor: the iteration, block_on
 *   workers.c          the multi-threaded executor, beside loop.c
 *   task.c             tasks, wakers, the run queue and live list, the budget
 *
 * (io.c needs only task.c: a leaf parks wakers and charges the budget, and
 * never calls the executor.)  No circle: a wake queues a task, and only the
 * executor polls it.
 */
#ifndef PUSHPOLL_POLL_IMPL_H
#define PUSHPOLL_POLL_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include "poll.h"


/* ---- task.c: the transitions of a task --------------------------------- */

/* Pop the task at the head of the run queue, or NULL; the queue's reference
 * goes to the caller (who hands it to poll__task_run()).  O(1). */
struct poll_task *poll__task_dequeue(struct poll_loop *l);
/* Take t out of the run queue wherever it is and drop the queue's
 * reference.  O(queue length): used only when poll_block_on() gives up. */
void poll__task_unqueue(struct poll_loop *l, struct poll_task *t);
/* Set up t (a header in any storage) to run fut, link it live and queue it.
 * refs = 2 on return: the live list's and the run queue's. */
void poll__task_start(struct poll_loop *l, struct poll_task *t,
		 struct poll_future *fut, poll_release_fn release, void *arg);
/* WAITING -> QUEUED, RUNNING -> RUNNING|QUEUED; otherwise nothing. */
void poll__task_wake(struct poll_task *t);
/* Poll t once; t was just popped from the run queue, whose reference the
 * call consumes.  Makes every transition out of RUNNING. */
void poll__task_run(struct poll_task *t);
/* Drop one reference; the last one gives the storage back. */
void poll__task_unref(struct poll_task *t);

/* ---- workers.c: the same transitions for a task of poll_workers ----------- */

/* A task of the workers (its word is atomic), or of a single-threaded loop.
 * t->loop never changes, so any thread may ask. */
static inline bool poll__task_shared(const struct poll_task *t)
{
	return t->loop->workers != NULL;
}
void poll__workers_ref(struct poll_task *t);
void poll__workers_unref(struct poll_task *t);
void poll__workers_wake(struct poll_task *t);
/* The same, consuming one reference the caller holds (a waker slot's): it
 * becomes the queue's if the wake queues the task, else it is dropped. */
void poll__workers_wake_consume(struct poll_task *t);
void poll__workers_abort(struct poll_task *t);
int poll__workers_result(const struct poll_task *t, ssize_t *out);
unsigned poll__workers_state(const struct poll_task *t);
unsigned poll__workers_refs(const struct poll_task *t);

/* ---- io_completion.c: the loop over a completion queue ----------------- */

/* Step 4 over l->cq: submit, wait up to timeout (bounded on a ring), wake
 * the task of every completion, absorb the orphans'.  Returns the number
 * of completions, or completion_poll()'s -errno. */
int poll__loop_cq_wait(struct poll_cq_loop *l, int64_t timeout);
/* poll_loop_fini() of a loop over a completion queue, once every task is
 * gone: wait for every orphan's completion, free the idle operations. */
void poll__loop_cq_drain(struct poll_cq_loop *l);
/* Keep l's statistics as the last run's (poll_cq_last_run_stats()). */
void poll__cq_stats_publish(const struct poll_cq_loop *l);
/* Forget the last run's (at the start of a run). */
void poll__cq_stats_reset(void);

/* ---- echo.c ------------------------------------------------------------- */

/* Print the layout of an echo connection task (sizes and offsets from
 * sizeof and offsetof), for docs/poll.md. */
void poll__echo_print_layout(FILE *f);

#endif
