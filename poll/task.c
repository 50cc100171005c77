/* task.c: tasks and wakers: the unit of pending work and the only thing an
 * I/O source holds.
 *
 * A task is a header and a future in one block.  Its states, the
 * transitions between them and the handles that hold a reference are drawn
 * in poll.h; every transition is made by one function of this file, named
 * there.  Cancellation lives here too: in this model it is not a separate
 * mechanism (push has tokens, push/token.c), it is dropping the future.
 *
 * Costs: a wake is a few flag tests and, at most, a link at the tail of the
 * run queue: O(1), no allocation.  A spawn is one mem_alloc() and a copy of
 * the future.  Everything is single-threaded (R5 of poll.h): reference
 * counts are plain integers, not atomics.  A task of the multi-threaded
 * executor takes one branch here, on the loop it names, to workers.c.
 */
#include "poll_impl.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "mem.h"

/* ---- references ------------------------------------------------------------- */

void poll__task_unref(struct poll_task *t)
{
	if (poll__task_shared(t)) {
		poll__workers_unref(t);
		return;
	}
	assert(t->refs > 0);
	if (--t->refs > 0)
		return;
	/* Only the live list holds a task before it is DONE, so the count
	 * cannot reach zero earlier. */
	assert(t->state & POLL_TASK_DONE);
	if (t->release != NULL)
		t->release(t, t->release_arg);
}

/* The release of a task from poll_spawn: its block came from mem_alloc. */
static void task_free(struct poll_task *t, void *arg)
{
	(void)arg;
	mem_free(t);
}

/* ---- the run queue and the live list ------------------------------------ */
/* Both lists live in the loop, but only the transitions of this file link
 * and unlink tasks, so the executor (loop.c) calls tasks and tasks never
 * call the executor. */

static void task_enqueue(struct poll_loop *l, struct poll_task *t)
{
	t->refs++;
	t->next_ready = NULL;
	if (l->ready_tail != NULL)
		l->ready_tail->next_ready = t;
	else
		l->ready_head = t;
	l->ready_tail = t;
}

struct poll_task *poll__task_dequeue(struct poll_loop *l)
{
	struct poll_task *t = l->ready_head;

	if (t == NULL)
		return NULL;
	l->ready_head = t->next_ready;
	if (l->ready_head == NULL)
		l->ready_tail = NULL;
	t->next_ready = NULL;
	return t;   /* the queue's reference goes to the caller */
}

void poll__task_unqueue(struct poll_loop *l, struct poll_task *t)
{
	struct poll_task *prev = NULL;

	if (!(t->state & POLL_TASK_QUEUED))
		return;
	for (struct poll_task *q = l->ready_head; q != NULL;
	     prev = q, q = q->next_ready) {
		if (q != t)
			continue;
		if (l->yield_fence == t)
			l->yield_fence = t->next_ready;
		if (prev != NULL)
			prev->next_ready = t->next_ready;
		else
			l->ready_head = t->next_ready;
		if (l->ready_tail == t)
			l->ready_tail = prev;
		t->next_ready = NULL;
		t->state &= ~POLL_TASK_QUEUED;
		poll__task_unref(t);
		return;
	}
}

static void task_live_add(struct poll_loop *l, struct poll_task *t)
{
	t->prev_live = NULL;
	t->next_live = l->live;
	if (l->live != NULL)
		l->live->prev_live = t;
	l->live = t;
	l->nlive++;
}

static void task_live_remove(struct poll_loop *l, struct poll_task *t)
{
	if (t->prev_live != NULL)
		t->prev_live->next_live = t->next_live;
	else
		l->live = t->next_live;
	if (t->next_live != NULL)
		t->next_live->prev_live = t->prev_live;
	t->prev_live = t->next_live = NULL;
	l->nlive--;
}

/* ---- the cooperative budget ------------------------------------------------ */
/* Here rather than in the executor: a budget is spent within one poll of a
 * task, and poll__task_run() refills it. */

bool poll_budget_exhausted(const struct poll_cx *cx)
{
	struct poll_loop *l = cx->loop;

	if (l->config.budget == 0 || l->budget_left > 0)
		return false;
	l->stats.budget_spent++;
	poll_cx_wake(cx);                  /* counted as a yield */
	return true;
}

void poll_budget_charge(const struct poll_cx *cx)
{
	struct poll_loop *l = cx->loop;

	if (l->budget_left > 0)
		l->budget_left--;
}

/* ---- wakers -------------------------------------------------------------------- */

/* doc:begin task-wake */
void poll__task_wake(struct poll_task *t)
{
	if (poll__task_shared(t)) {          /* another executor's task */
		poll__workers_wake(t);
		return;
	}
	/* Queued already, or woken during its poll, or DONE: nothing to do.
	 * This test is why waking a finished task is safe and cheap. */
	if (t->state & (POLL_TASK_QUEUED | POLL_TASK_DONE))
		return;
	t->state |= POLL_TASK_QUEUED;
	/* A running task woken during its own poll yields: it is not in the
	 * queue, and poll__task_run() queues it behind the yield fence when
	 * its poll returns PENDING. */
	if (t->state & POLL_TASK_RUNNING) {
		t->loop->stats.yields++;
		return;
	}
	/* Any other wake (another task's, a reactor callback's) links it at
	 * the tail: it runs in this same step 1 if the batch allows, with no
	 * system call between the wake and its poll. */
	t->loop->stats.wakes++;
	task_enqueue(t->loop, t);
}
/* doc:end task-wake */

void poll_waker_set(struct poll_waker *slot, const struct poll_cx *cx)
{
	struct poll_task *t = cx->task;

	if (slot->task == t)
		return;
	poll_waker_drop(slot);
	if (poll__task_shared(t))
		poll__workers_ref(t);
	else
		t->refs++;
	slot->task = t;
}

void poll_waker_wake(struct poll_waker *slot)
{
	struct poll_task *t = slot->task;

	if (t == NULL)
		return;
	slot->task = NULL;
	if (poll__task_shared(t)) {
		/* The slot's reference becomes the queue's: one atomic. */
		poll__workers_wake_consume(t);
		return;
	}
	poll__task_wake(t);
	poll__task_unref(t);   /* the slot's reference; may free a DONE task */
}

void poll_waker_drop(struct poll_waker *slot)
{
	struct poll_task *t = slot->task;

	if (t == NULL)
		return;
	slot->task = NULL;
	poll__task_unref(t);
}

void poll_cx_wake(const struct poll_cx *cx)
{
	poll__task_wake(cx->task);
}

void poll_cx_move(const struct poll_cx *cx)
{
	if (poll__task_shared(cx->task))
		poll__workers_move(cx->task);
	poll__task_wake(cx->task);
}

/* ---- spawning ----------------------------------------------------------------- */

void poll__task_start(struct poll_loop *l, struct poll_task *t,
		 struct poll_future *fut, poll_release_fn release, void *arg)
{
	memset(t, 0, sizeof(*t));
	t->loop = l;
	t->future = fut;
	t->release = release;
	t->release_arg = arg;
	t->refs = 1;                    /* the live list's */
	task_live_add(l, t);
	l->stats.spawned++;
	t->state = POLL_TASK_QUEUED;
	task_enqueue(l, t);            /* +1: the run queue's */
}

int poll_spawn(struct poll_loop *l, const struct poll_future *f, size_t size,
	       struct poll_task **handle)
{
	struct poll_task *t;

	if (l->workers != NULL)          /* a worker's loop: the workers' */
		return poll_workers_spawn(l->workers, f, size, handle);
	t = mem_alloc(POLL_TASK_SIZE(size));
	if (t == NULL)
		return -ENOMEM;
	/* The move: legal because f has never been polled (R1). */
	memcpy(t + 1, f, size);
	poll__task_start(l, t, (struct poll_future *)(t + 1), task_free, NULL);
	if (handle != NULL) {
		t->refs++;
		*handle = t;
	}
	return 0;
}

int poll_spawn_movable(struct poll_loop *l, const struct poll_future *f,
		       size_t size, const struct poll_move_vt *mv,
		       struct poll_task **handle)
{
	if (l->workers != NULL)
		return poll_workers_spawn_movable(l->workers, f, size, mv,
						  handle);
	return poll_spawn(l, f, size, handle);
}

void poll_spawn_into(struct poll_loop *l, struct poll_task *storage,
		     const struct poll_future *f, size_t size,
		     poll_release_fn release, void *arg,
		     struct poll_task **handle)
{
	assert(l->workers == NULL && "poll_spawn_into on workers");
	memcpy(storage + 1, f, size);
	poll__task_start(l, storage, (struct poll_future *)(storage + 1), release,
		    arg);
	if (handle != NULL) {
		storage->refs++;
		*handle = storage;
	}
}

struct poll_future *poll_task_future(struct poll_task *t)
{
	return t->future;
}

/* ---- running and finishing ------------------------------------------------------- */

/* doc:begin task-close */
/* Any state but DONE -> DONE: record the result, drop the future, wake the
 * awaiter, leave the live list.  DONE is set before the drop, so wakes
 * made by the drop itself (a leaf handing back its waker) do nothing.  A
 * task aborted while queued keeps QUEUED: it is still in the queue. */
static void task_close(struct poll_task *t, ssize_t result)
{
	t->state = (t->state & POLL_TASK_QUEUED) | POLL_TASK_DONE;
	t->result = result;
	poll_future_drop(t->future);
	poll_waker_wake(&t->joiner);
	task_live_remove(t->loop, t);
	poll__task_unref(t);                 /* the live list's */
}
/* doc:end task-close */

void poll__task_run(struct poll_task *t)
{
	struct poll_loop *l = t->loop;
	struct poll_cx cx = { .loop = l, .task = t };
	enum poll_status status;
	bool woken, aborted;

	if (t->state & POLL_TASK_DONE) {
		/* Aborted while it waited in the queue: never polled again. */
		t->state &= ~POLL_TASK_QUEUED;
		poll__task_unref(t);
		return;
	}

	/* QUEUED -> RUNNING */
	t->state = POLL_TASK_RUNNING;
	l->current = t;
	l->budget_left = l->config.budget;
	status = poll_future_poll(t->future, &cx);
	l->current = NULL;
	t->polls++;
	l->stats.polls++;

	woken = t->state & POLL_TASK_QUEUED;
	aborted = t->state & POLL_TASK_ABORT;
	t->state = 0;                   /* off the CPU and on no list */
	if (status == POLL_READY) {
		/* RUNNING -> DONE.  READY wins over an abort made during the
		 * same poll: the output was produced and may own something
		 * (a handle) that only its receiver can release. */
		task_close(t, t->future->out);
	} else if (aborted) {
		/* RUNNING|ABORT -> DONE: the deferred half of poll_task_abort. */
		l->stats.aborted++;
		task_close(t, -ECANCELED);
	} else if (woken) {
		/* RUNNING|QUEUED -> QUEUED, at the back: a yield.  The
		 * first yield of a step sets the fence: step 1 ends there,
		 * so the reactor is polled before this task runs again. */
		t->state = POLL_TASK_QUEUED;
		task_enqueue(l, t);
		if (l->yield_fence == NULL)
			l->yield_fence = t;
	}
	/* else RUNNING -> WAITING: some waker holds it. */
	poll__task_unref(t);                 /* the reference the queue had */
}

/* doc:begin task-abort */
void poll_task_abort(struct poll_task *t)
{
	if (poll__task_shared(t)) {
		poll__workers_abort(t);
		return;
	}
	if (t->state & POLL_TASK_DONE)
		return;
	if (t->state & POLL_TASK_RUNNING) {
		/* Its poll is on the stack below us: dropping the future now
		 * would pull the floor from under it.  poll__task_run() drops it
		 * as soon as the poll returns. */
		t->state |= POLL_TASK_ABORT;
		return;
	}
	t->loop->stats.aborted++;
	task_close(t, -ECANCELED);
}
/* doc:end task-abort */

void poll_task_detach(struct poll_task *t)
{
	poll__task_unref(t);
}

int poll_task_result(const struct poll_task *t, ssize_t *out)
{
	if (poll__task_shared(t))
		return poll__workers_result(t, out);
	if (!(t->state & POLL_TASK_DONE))
		return -EAGAIN;
	*out = t->result;
	return 0;
}

unsigned poll_task_state(const struct poll_task *t)
{
	if (poll__task_shared(t))
		return poll__workers_state(t);
	return t->state;
}

unsigned poll_task_refs(const struct poll_task *t)
{
	if (poll__task_shared(t))
		return poll__workers_refs(t);
	return t->refs;
}

uint64_t poll_task_polls(const struct poll_task *t)
{
	return t->polls;
}

/* ---- awaiting a task ---------------------------------------------------------- */

static enum poll_status task_join_poll(struct poll_future *f,
				       struct poll_cx *cx)
{
	struct poll_task_join *j = (struct poll_task_join *)f;
	struct poll_task *t = j->task;

	assert(!poll__task_shared(t) && "poll_task_join on workers");
	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	if (!(t->state & POLL_TASK_DONE)) {
		poll_waker_set(&t->joiner, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&t->joiner);
	f->out = t->result;
	j->task = NULL;                 /* the handle is no longer needed */
	poll_budget_charge(cx);
	return POLL_READY;
}

static void task_join_drop(struct poll_future *f)
{
	struct poll_task_join *j = (struct poll_task_join *)f;

	if (j->task != NULL)
		poll_waker_drop(&j->task->joiner);
	j->task = NULL;
}

static const struct poll_future_vt task_join_vt = {
	.name = "task_join",
	.poll = task_join_poll,
	.drop = task_join_drop,
};

void poll_task_join_init(struct poll_task_join *j, struct poll_task *t)
{
	j->base.vt = &task_join_vt;
	j->base.out = 0;
	j->task = t;
}
