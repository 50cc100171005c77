/* poll_impl.h: what the files of the poll engine share and callers never
 * see: the run queue and the live list (loop.c), and the task transitions
 * (task.c) that the executor calls.
 */
#ifndef PUSHPOLL_POLL_IMPL_H
#define PUSHPOLL_POLL_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include "poll.h"


/* ---- loop.c: the executor's lists ------------------------------------- */

/* Append t to the run queue and take the queue's reference.  The caller has
 * set POLL_TASK_QUEUED.  O(1). */
void loop__enqueue(struct poll_loop *l, struct poll_task *t);
/* Take t out of the run queue wherever it is and drop the queue's
 * reference.  O(queue length): used only when poll_block_on() gives up. */
void loop__unqueue(struct poll_loop *l, struct poll_task *t);
/* Link t into / out of the list of live tasks.  O(1). */
void loop__live_add(struct poll_loop *l, struct poll_task *t);
void loop__live_remove(struct poll_loop *l, struct poll_task *t);

/* ---- task.c: the transitions of a task --------------------------------- */

/* Set up t (a header in any storage) to run fut, link it live and queue it.
 * refs = 2 on return: the live list's and the run queue's. */
void task__start(struct poll_loop *l, struct poll_task *t,
		 struct poll_future *fut, poll_release_fn release, void *arg);
/* WAITING -> QUEUED, RUNNING -> RUNNING|QUEUED; otherwise nothing. */
void task__wake(struct poll_task *t);
/* Poll t once; t was just popped from the run queue, whose reference the
 * call consumes.  Makes every transition out of RUNNING. */
void task__run(struct poll_task *t);
/* Drop one reference; the last one gives the storage back. */
void task__unref(struct poll_task *t);

/* ---- echo.c ------------------------------------------------------------- */

/* Print the layout of an echo connection task (sizes and offsets from
 * sizeof and offsetof), for docs/poll.md. */
void echo__print_layout(FILE *f);

#endif
