/* workers.c: the multi-threaded executor.  N worker threads, each with its
 * own reactor and loop, sharing one injection queue of spawned tasks; a
 * task moves between workers by re-registration (poll.h, "workers", says
 * why this design and lists rules W1-W7).
 *
 * One iteration of a worker, one helper per step, the same steps as the
 * single-threaded loop (loop.c) with one added in front:
 *
 *   0. worker_collect   move the inbox (tasks woken from other threads,
 *                       spawned here by another worker, and moved here)
 *                       to the local FIFO; take one
 *                       task from the injection queue if the FIFO is
 *                       empty; hand one task to an idle worker if a
 *                       backlog is queued here (W6, WORKER_SHED_AT)
 *   1. worker_run_ready pop and poll tasks, at most WORKER_RUN_BATCH, never
 *                       a task that yielded in this same step (the fence)
 *   2. worker_done      stop when no task of the workers is live
 *   3. worker_check_stop  the first worker to see a stop request runs the
 *                       stop handler, once for all the workers (W7)
 *   4. worker_wait      reactor_poll() of this worker's reactor; do not
 *                       wait if anything is queued
 *
 * A move (W6), one function each side: task_move() on the old home takes
 * the task's registrations off its reactor (the future's detach), clears
 * PLACED and links the task, still SCHEDULED, into the new worker's inbox;
 * task_run() on the new worker sees PLACED clear, makes itself home and
 * makes the registrations again on its reactor (attach) before the poll.
 * Between the two the task is SCHEDULED: wakes do nothing, an abort only
 * sets ABORT, and the new home drops it.
 *
 * The task's state word (a union with the single-threaded state and refs in
 * struct poll_task) holds the state bits, which have the values of
 * POLL_TASK_* so that poll_task_state() reads the same on either executor,
 * and the reference count above them:
 *
 *   bit 0  SCHEDULED (= POLL_TASK_QUEUED).  In exactly one queue (the
 *          injection queue, a worker's FIFO or a worker's inbox), which
 *          holds a reference; or, with RUNNING, woken during its poll and in
 *          no queue yet: the worker requeues it when the poll returns
 *          PENDING.  While it is set a wake does nothing.  Set by a wake
 *          (any thread), cleared by the worker that pops the task.
 *   bit 1  RUNNING (= POLL_TASK_RUNNING).  Its home worker is polling the
 *          future now; only that thread touches the future.  Set and
 *          cleared by the home worker only.
 *   bit 2  DONE (= POLL_TASK_DONE).  The future has been dropped and result
 *          is final; never cleared.  Set by the one thread that owns the
 *          future at that moment (W2), before the drop, so wakes made by
 *          the drop do nothing.
 *   bit 3  ABORT (= POLL_TASK_ABORT).  An abort was asked for; never
 *          cleared.  Once it is set the future is never polled again: the
 *          worker that next holds the future (its poll returning, or the
 *          task popped from a queue) drops it.  The worker's transition to
 *          RUNNING and the aborter's setting of ABORT are made on the same
 *          word, so one of them sees the other (W3).
 *   bit 4  PLACED.  t->home is set: the worker that polls the task.  Set,
 *          with the first RUNNING on a worker, by that worker, which wrote
 *          home just before (so a thread that sees the bit sees home);
 *          cleared by the home when it hands the task to another worker
 *          (W6), after it set home to NULL.  A thread reads t->home only
 *          after seeing the bit, and only while the task cannot move: it
 *          is WAITING or RUNNING (a move takes a SCHEDULED task), or the
 *          reader is the home itself.
 *   bit 5  MOVE.  poll_cx_move() was called during this poll: if the poll
 *          returns PENDING woken, the home hands the task on (W6).  Set by
 *          the running task, cleared by its worker when the poll returns.
 *   bits 8-63  the reference count, in units of WORD_REF_ONE: the task's
 *          own from spawn until DONE (the single-threaded loop's live list
 *          holds that one), the queue's while SCHEDULED and in a queue,
 *          each waker slot, and the spawner's handle.  The header is freed
 *          by whoever drops the last one, on any thread.
 *
 * Every atomic read-modify-write of a word goes through word_rmw_*(), which
 * count it for claim C9 in the calling thread's worker statistics.
 */
#include "poll_impl.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "offload.h"

#define WORD_SCHEDULED ((uint64_t)POLL_TASK_QUEUED)
#define WORD_RUNNING   ((uint64_t)POLL_TASK_RUNNING)
#define WORD_DONE      ((uint64_t)POLL_TASK_DONE)
#define WORD_ABORT     ((uint64_t)POLL_TASK_ABORT)
#define WORD_PLACED    ((uint64_t)1 << 4)
#define WORD_MOVE      ((uint64_t)1 << 5)
#define WORD_FLAGS     ((uint64_t)0xff)
#define WORD_REF_ONE   ((uint64_t)1 << 8)

/* Polls of step 1 before the worker looks at I/O (loop.c: POLL_RUN_BATCH). */
#define WORKER_RUN_BATCH 64

/* A worker hands a task to an idle one (W6) only with at least this many
 * queued: a move costs two epoll_ctl() per stream, as much as a round trip
 * of echo, so a queue of two, which the next step clears in microseconds,
 * is not worth one; a queue of eight is a backlog. */
#define WORKER_SHED_AT 8

struct poll__worker {
	struct poll_workers *w;
	pthread_t thread;
	struct reactor *r;
	struct poll_loop loop;          /* its FIFO, fence and budget */
	unsigned queued;                /* tasks in the FIFO */
	/* The inbox: tasks woken from other threads, a LIFO stack under
	 * inbox_lock, moved to the FIFO by step 0 (in wake order). */
	pthread_mutex_t inbox_lock;
	struct poll_task *inbox;
	atomic_bool inbox_full;         /* inbox != NULL, read without lock */
	struct reactor_async async;     /* wakes this worker's reactor_poll() */
	struct offload *o;              /* poll_workers_offload(), or NULL */
	atomic_bool idle;               /* blocked in reactor_poll() with
					 * nothing queued: may be given a task */
	struct poll_workers_stats stats;
};

struct poll_workers {
	unsigned n;
	struct poll_config config;
	struct poll_loop anchor;        /* the loop every task names (t->loop):
					 * never run; anchor.workers = this */
	/* The injection queue: spawned, never-polled tasks, FIFO. */
	pthread_mutex_t inject_lock;
	struct poll_task *inject_head, *inject_tail;
	atomic_uint injected;           /* its length, read without lock */
	atomic_uint nlive;              /* tasks not DONE */
	atomic_uint next_kick;          /* round robin of spawn wake-ups */
	atomic_bool running;
	/* W7: the stop handler, run once by the first worker to see a stop. */
	void (*on_stop)(void *arg);
	void *stop_arg;
	atomic_bool stop_ran;
	struct poll_workers_stats outside; /* counted by non-worker threads */
	pthread_mutex_t outside_lock;
	struct poll__worker worker[];
};

/* The worker this thread is, or NULL. */
static _Thread_local struct poll__worker *self;

/* ---- the word ------------------------------------------------------------ */

static void count_atomic(struct poll_workers *w)
{
	if (self != NULL) {
		self->stats.atomics++;
	} else {
		pthread_mutex_lock(&w->outside_lock);
		w->outside.atomics++;
		pthread_mutex_unlock(&w->outside_lock);
	}
}

static struct poll_workers *task_workers(const struct poll_task *t)
{
	return t->loop->workers;
}

static uint64_t word_load(struct poll_task *t)
{
	return atomic_load_explicit(&t->word, memory_order_acquire);
}

/* Compare-and-swap: true when *expected was there and new is now; else
 * *expected holds what was there. */
static bool word_cas(struct poll_task *t, uint64_t *expected, uint64_t new)
{
	count_atomic(task_workers(t));
	return atomic_compare_exchange_strong_explicit(
		&t->word, expected, new, memory_order_acq_rel,
		memory_order_acquire);
}

void poll__workers_ref(struct poll_task *t)
{
	count_atomic(task_workers(t));
	atomic_fetch_add_explicit(&t->word, WORD_REF_ONE, memory_order_relaxed);
}

static void task_free(struct poll_task *t)
{
	mem_free(t);
}

void poll__workers_unref(struct poll_task *t)
{
	uint64_t old;

	count_atomic(task_workers(t));
	old = atomic_fetch_sub_explicit(&t->word, WORD_REF_ONE,
					memory_order_acq_rel);
	assert(old >= WORD_REF_ONE);
	if (old >> 8 != 1)
		return;
	/* The task's own reference goes only at DONE. */
	assert(old & WORD_DONE);
	task_free(t);
}

/* ---- queues ----------------------------------------------------------------- */

/* The local FIFO: the worker's own thread only. */
static void fifo_push(struct poll__worker *wk, struct poll_task *t)
{
	struct poll_loop *l = &wk->loop;

	t->next_ready = NULL;
	if (l->ready_tail != NULL)
		l->ready_tail->next_ready = t;
	else
		l->ready_head = t;
	l->ready_tail = t;
	wk->queued++;
}

static struct poll_task *fifo_pop(struct poll__worker *wk)
{
	struct poll_loop *l = &wk->loop;
	struct poll_task *t = l->ready_head;

	if (t == NULL)
		return NULL;
	wk->queued--;
	l->ready_head = t->next_ready;
	if (l->ready_head == NULL)
		l->ready_tail = NULL;
	t->next_ready = NULL;
	return t;
}

static void inbox_push(struct poll__worker *wk, struct poll_task *t)
{
	pthread_mutex_lock(&wk->inbox_lock);
	t->next_inbox = wk->inbox;
	wk->inbox = t;
	atomic_store(&wk->inbox_full, true);
	pthread_mutex_unlock(&wk->inbox_lock);
	reactor_async_send(&wk->async);
}

/* A woken task, SCHEDULED with the queue's reference taken: to the FIFO if
 * this thread is its home, else to the home's inbox. */
static void task_schedule(struct poll_task *t)
{
	struct poll__worker *home = atomic_load_explicit(&t->home,
							 memory_order_acquire);

	if (home == self) {
		fifo_push(home, t);
		home->stats.wakes++;
		return;
	}
	inbox_push(home, t);
	if (self != NULL) {
		self->stats.remote_wakes++;
	} else {
		struct poll_workers *w = task_workers(t);

		pthread_mutex_lock(&w->outside_lock);
		w->outside.remote_wakes++;
		pthread_mutex_unlock(&w->outside_lock);
	}
}

static void inject_push(struct poll_workers *w, struct poll_task *t)
{
	unsigned k;

	pthread_mutex_lock(&w->inject_lock);
	t->next_ready = NULL;
	if (w->inject_tail != NULL)
		w->inject_tail->next_ready = t;
	else
		w->inject_head = t;
	w->inject_tail = t;
	atomic_fetch_add(&w->injected, 1);
	pthread_mutex_unlock(&w->inject_lock);
	/* Wake one worker, round robin, unless this thread is one: it will
	 * look at the queue itself at its next step 0. */
	k = atomic_fetch_add(&w->next_kick, 1) % w->n;
	if (atomic_load(&w->running) && &w->worker[k] != self)
		reactor_async_send(&w->worker[k].async);
}

static struct poll_task *inject_pop(struct poll_workers *w)
{
	struct poll_task *t;

	if (atomic_load(&w->injected) == 0)
		return NULL;
	pthread_mutex_lock(&w->inject_lock);
	t = w->inject_head;
	if (t != NULL) {
		w->inject_head = t->next_ready;
		if (w->inject_head == NULL)
			w->inject_tail = NULL;
		t->next_ready = NULL;
		atomic_fetch_sub(&w->injected, 1);
	}
	pthread_mutex_unlock(&w->inject_lock);
	return t;
}

/* ---- wakers (W1, W4) ------------------------------------------------------------ */

void poll__workers_wake(struct poll_task *t)
{
	uint64_t s = word_load(t);

	for (;;) {
		if (s & (WORD_SCHEDULED | WORD_DONE | WORD_ABORT))
			return;        /* queued, done, or to be dropped */
		if (s & WORD_RUNNING) {
			/* Woken during its poll: the home requeues it. */
			if (word_cas(t, &s, s | WORD_SCHEDULED)) {
				if (self != NULL && self == atomic_load(&t->home))
					self->stats.yields++;
				return;
			}
			continue;
		}
		if (word_cas(t, &s, (s | WORD_SCHEDULED) + WORD_REF_ONE))
			break;
	}
	task_schedule(t);
}

/* A waker slot's wake: the slot's reference is handed to the queue, so the
 * common case (a waiting task) is one compare-and-swap in all. */
void poll__workers_wake_consume(struct poll_task *t)
{
	uint64_t s = word_load(t);

	for (;;) {
		if (s & (WORD_SCHEDULED | WORD_DONE | WORD_ABORT))
			break;                  /* nothing to queue */
		if (s & WORD_RUNNING) {
			if (!word_cas(t, &s, s | WORD_SCHEDULED))
				continue;
			if (self != NULL && self == atomic_load(&t->home))
				self->stats.yields++;
			break;
		}
		if (word_cas(t, &s, s | WORD_SCHEDULED)) {
			task_schedule(t);       /* with the slot's reference */
			return;
		}
	}
	poll__workers_unref(t);                 /* the slot's; may free */
}

/* ---- closing ---------------------------------------------------------------------- */

/* The owner of the future (W2) ends the task: DONE, drop, and the task's own
 * reference.  *s is the word the caller last saw; SCHEDULED is kept if the
 * task is in a queue (the queue takes it out unpolled). */
static void task_close(struct poll_task *t, uint64_t s, bool in_queue,
		       ssize_t result)
{
	struct poll_workers *w = task_workers(t);
	uint64_t keep;

	/* result first: a thread that sees DONE reads it. */
	t->result = result;
	for (;;) {
		keep = in_queue ? (s & WORD_SCHEDULED) : 0;
		if (word_cas(t, &s, (s & ~(WORD_FLAGS & ~WORD_PLACED)) | keep |
				       WORD_DONE | (s & WORD_ABORT)))
			break;
	}
	poll_future_drop(t->future);
	if (atomic_fetch_sub(&w->nlive, 1) == 1) {
		/* The last task: every worker's step 2 sees it. */
		for (unsigned i = 0; i < w->n; i++)
			if (&w->worker[i] != self)
				reactor_async_send(&w->worker[i].async);
	}
	poll__workers_unref(t);                  /* the task's own */
}

/* W3. */
void poll__workers_abort(struct poll_task *t)
{
	uint64_t s = word_load(t);

	for (;;) {
		if (s & (WORD_DONE | WORD_ABORT))
			return;
		if (self != NULL && (s & WORD_PLACED) &&
		    self == atomic_load(&t->home) && !(s & WORD_RUNNING)) {
			/* The home, outside the task's poll: drop it now.  No
			 * other thread can start a poll of it (only the home
			 * polls it), so the word only gains SCHEDULED. */
			if (!word_cas(t, &s, s | WORD_ABORT))
				continue;
			self->stats.aborted++;
			task_close(t, s | WORD_ABORT, s & WORD_SCHEDULED,
				   -ECANCELED);
			return;
		}
		if (s & (WORD_RUNNING | WORD_SCHEDULED)) {
			/* Its poll returns, or it is popped: then dropped. */
			if (word_cas(t, &s, s | WORD_ABORT))
				return;
			continue;
		}
		/* Waiting, another thread's: send it home to be dropped. */
		if (word_cas(t, &s, (s | WORD_ABORT | WORD_SCHEDULED) +
				       WORD_REF_ONE))
			break;
	}
	task_schedule(t);
}

/* ---- spawning ------------------------------------------------------------------------ */

int poll_workers_spawn(struct poll_workers *w, const struct poll_future *f,
		       size_t size, struct poll_task **handle)
{
	return poll_workers_spawn_movable(w, f, size, NULL, handle);
}

int poll_workers_spawn_movable(struct poll_workers *w,
			       const struct poll_future *f, size_t size,
			       const struct poll_move_vt *mv,
			       struct poll_task **handle)
{
	struct poll_task *t = mem_alloc(POLL_TASK_SIZE(size));

	if (t == NULL)
		return -ENOMEM;
	memset(t, 0, sizeof(*t));
	memcpy(t + 1, f, size);          /* the move (R1) */
	t->future = (struct poll_future *)(t + 1);
	t->loop = &w->anchor;
	t->move = mv;
	/* The task's own, the injection queue's, and the handle's. */
	atomic_init(&t->word, WORD_SCHEDULED +
			      (handle != NULL ? 3 : 2) * WORD_REF_ONE);
	atomic_fetch_add(&w->nlive, 1);
	if (self != NULL) {
		self->stats.spawned++;
	} else {
		pthread_mutex_lock(&w->outside_lock);
		w->outside.spawned++;
		pthread_mutex_unlock(&w->outside_lock);
	}
	if (handle != NULL)
		*handle = t;
	if (self != NULL && self->w == w) {
		/* From a task of the workers (a server's accept): round
		 * robin over the workers, so that the tasks of a burst are
		 * spread at once, whatever the threads' scheduling. */
		struct poll__worker *to = &w->worker[
			atomic_fetch_add(&w->next_kick, 1) % w->n];

		if (to == self)
			fifo_push(self, t);
		else
			inbox_push(to, t);
		return 0;
	}
	inject_push(w, t);
	return 0;
}

/* ---- moving a task (W6) ------------------------------------------------------------------ */

/* Whether wk, t's home, may hand t on: t's future can move, there is
 * another worker, and no offload job of wk's is out (its completion would
 * come back here, to a task that left). */
static bool task_may_move(const struct poll__worker *wk,
			  const struct poll_task *t)
{
	return wk->w->n > 1 && t->move != NULL &&
	       (wk->o == NULL || offload_outstanding(wk->o) == 0);
}

/* On the old home, t SCHEDULED and in no queue, its queue reference held:
 * take its registrations off this reactor, give up home, and link it into
 * to's inbox with that reference.  No other thread polls or drops t
 * meanwhile (W2): a wake finds SCHEDULED, an abort sets ABORT only. */
static void task_move(struct poll__worker *from, struct poll_task *t,
		      struct poll__worker *to)
{
	uint64_t s;

	t->move->detach(t->future);
	atomic_store_explicit(&t->home, NULL, memory_order_release);
	s = word_load(t);
	while (!word_cas(t, &s, s & ~(WORD_PLACED | WORD_MOVE)))
		;
	from->stats.moved++;
	inbox_push(to, t);
}

/* On the new home, before anything else is done with t: become its home
 * and make its registrations again here.  An attach that fails aborts it:
 * nothing could wake it otherwise. */
static uint64_t task_adopt(struct poll__worker *wk, struct poll_task *t,
			   uint64_t s)
{
	atomic_store_explicit(&t->home, wk, memory_order_release);
	if (t->polls == 0) {
		wk->stats.placed++;     /* never polled: nothing registered */
		return s;
	}
	if (s & WORD_DONE)
		return s;
	wk->stats.moved_in++;
	if (t->move->attach(t->future, &wk->loop) < 0) {
		count_atomic(wk->w);
		s = atomic_fetch_or_explicit(&t->word, WORD_ABORT,
					     memory_order_acq_rel) | WORD_ABORT;
	}
	return s;
}

/* ---- running one task -------------------------------------------------------------------- */

/* t was popped from a queue of this worker (or the injection queue), with
 * the queue's reference, which this call consumes, hands back to the FIFO
 * or hands on with the task (a move). */
static void task_run(struct poll__worker *wk, struct poll_task *t)
{
	struct poll_cx cx = { .loop = &wk->loop, .task = t };
	enum poll_status status;
	uint64_t s = word_load(t);

	if (!(s & WORD_PLACED))
		s = task_adopt(wk, t, s);  /* its first poll, or a move */
	for (;;) {
		if (s & WORD_DONE) {
			/* Dropped while it waited in the queue. */
			while (!word_cas(t, &s, s & ~WORD_SCHEDULED))
				;
			poll__workers_unref(t);
			return;
		}
		if (s & WORD_ABORT) {
			/* Never polled again: the popper owns the future. */
			wk->stats.aborted++;
			task_close(t, s, false, -ECANCELED);
			poll__workers_unref(t);  /* the queue's */
			return;
		}
		/* SCHEDULED -> RUNNING (and PLACED, the first time here) */
		if (word_cas(t, &s, (s & ~WORD_SCHEDULED) | WORD_RUNNING |
				       WORD_PLACED))
			break;
	}
	wk->loop.current = t;
	wk->loop.budget_left = wk->loop.config.budget;
	status = poll_future_poll(t->future, &cx);
	wk->loop.current = NULL;
	t->polls++;
	wk->stats.polls++;

	s = word_load(t);
	for (;;) {
		if (status == POLL_READY || (s & WORD_ABORT)) {
			/* RUNNING -> DONE; READY wins over an abort made
			 * during the same poll, as on a loop. */
			if (status != POLL_READY)
				wk->stats.aborted++;
			task_close(t, s, false, status == POLL_READY ?
				   t->future->out : -ECANCELED);
			break;
		}
		if (s & WORD_SCHEDULED) {
			/* Woken meanwhile: RUNNING|SCHEDULED -> SCHEDULED, to
			 * the back of the FIFO behind the fence, or to the
			 * next worker if it asked to move; the queue's
			 * reference stays with it. */
			bool move = (s & WORD_MOVE) && task_may_move(wk, t);

			if (!word_cas(t, &s, s & ~(WORD_RUNNING | WORD_MOVE)))
				continue;
			if (move) {
				task_move(wk, t, &wk->w->worker[
					(unsigned)(wk - wk->w->worker + 1) %
					wk->w->n]);
				return;
			}
			fifo_push(wk, t);
			if (wk->loop.yield_fence == NULL)
				wk->loop.yield_fence = t;
			return;
		}
		/* RUNNING -> WAITING, dropping the queue's reference in the
		 * same operation: the task's own keeps the count above 0. */
		if (word_cas(t, &s, (s & ~(WORD_RUNNING | WORD_MOVE)) -
				       WORD_REF_ONE))
			return;
	}
	poll__workers_unref(t);                 /* the queue's */
}

void poll__workers_move(struct poll_task *t)
{
	count_atomic(task_workers(t));
	atomic_fetch_or_explicit(&t->word, WORD_MOVE, memory_order_relaxed);
}

/* ---- one worker's iteration ---------------------------------------------------------------- */

/* Part of step 0 (W6): with WORKER_SHED_AT or more tasks queued here and a
 * worker idle, hand that worker the first one, if it can move.  One per
 * iteration: the idle worker is busy once it has it. */
static void worker_balance(struct poll__worker *wk)
{
	struct poll_workers *w = wk->w;
	struct poll_task *t = wk->loop.ready_head;
	struct poll__worker *to = NULL;
	uint64_t s;

	if (wk->queued < WORKER_SHED_AT)
		return;
	for (unsigned i = 0; i < w->n && to == NULL; i++)
		if (&w->worker[i] != wk && atomic_load(&w->worker[i].idle))
			to = &w->worker[i];
	if (to == NULL)
		return;
	s = word_load(t);
	if ((s & (WORD_DONE | WORD_ABORT)) || !(s & WORD_PLACED) ||
	    t->polls == 0 || !task_may_move(wk, t))
		return;
	atomic_store(&to->idle, false);         /* one task for it, no more */
	fifo_pop(wk);
	task_move(wk, t, to);
}

/* Step 0.  The inbox is a stack: reverse it so that tasks run in the order
 * they were woken. */
static void worker_collect(struct poll__worker *wk)
{
	struct poll_task *stack, *rev = NULL, *t;

	if (atomic_load(&wk->inbox_full)) {
		pthread_mutex_lock(&wk->inbox_lock);
		stack = wk->inbox;
		wk->inbox = NULL;
		atomic_store(&wk->inbox_full, false);
		pthread_mutex_unlock(&wk->inbox_lock);
		while (stack != NULL) {
			t = stack;
			stack = t->next_inbox;
			t->next_inbox = rev;
			rev = t;
		}
		while (rev != NULL) {
			t = rev;
			rev = t->next_inbox;
			t->next_inbox = NULL;
			fifo_push(wk, t);
		}
	}
	if (wk->loop.ready_head == NULL && (t = inject_pop(wk->w)) != NULL)
		fifo_push(wk, t);
	worker_balance(wk);
}

/* Step 1, as poll_loop_run_ready(). */
static void worker_run_ready(struct poll__worker *wk)
{
	struct poll_loop *l = &wk->loop;

	l->yield_fence = NULL;
	for (unsigned i = 0; i < WORKER_RUN_BATCH; i++) {
		if (l->ready_head == NULL || l->ready_head == l->yield_fence)
			break;
		task_run(wk, fifo_pop(wk));
	}
	l->yield_fence = NULL;
}

/* Step 2. */
static bool worker_done(const struct poll__worker *wk)
{
	return atomic_load(&wk->w->nlive) == 0;
}

/* Step 3 (W7).  Each worker notes the stop once; the first runs the
 * handler.  Returns whether it did: its aborts may have dropped tasks of
 * this worker, the last one included, so the iteration starts over rather
 * than wait. */
static bool worker_check_stop(struct poll__worker *wk)
{
	struct poll_workers *w = wk->w;

	if (wk->loop.stop_seen || !reactor_stop_requested(wk->r))
		return false;
	wk->loop.stop_seen = true;
	if (w->on_stop == NULL || atomic_exchange(&w->stop_ran, true))
		return false;
	w->on_stop(w->stop_arg);
	return true;
}

/* Step 4.  Do not block with work queued here or waiting to be taken.
 * While it blocks the worker is idle: another may hand it a task (W6). */
static int worker_wait(struct poll__worker *wk)
{
	bool busy = wk->loop.ready_head != NULL ||
		    atomic_load(&wk->inbox_full) ||
		    atomic_load(&wk->w->injected) > 0;
	int n;

	if (busy)
		return reactor_poll(wk->r, 0) < 0 ? -1 : 0;
	atomic_store(&wk->idle, true);
	n = reactor_poll(wk->r, -1);
	atomic_store(&wk->idle, false);
	return n < 0 ? n : 0;
}

static void *worker_main(void *arg)
{
	struct poll__worker *wk = arg;

	self = wk;
	for (;;) {
		worker_collect(wk);             /* 0 */
		worker_run_ready(wk);           /* 1 */
		if (worker_done(wk))            /* 2 */
			break;
		if (worker_check_stop(wk))      /* 3 */
			continue;
		if (worker_wait(wk) < 0)        /* 4 */
			break;
	}
	/* W5: jobs cancelled while they ran still hold their buffers; they
	 * are given back here, on this worker's reactor. */
	while (wk->o != NULL && offload_outstanding(wk->o) > 0 &&
	       reactor_poll(wk->r, -1) >= 0)
		;
	self = NULL;
	return NULL;
}

/* Its callback does nothing: the wake is in the reactor_poll() it ends,
 * and step 0 looks at the inbox and the injection queue. */
static void worker_on_async(struct reactor_async *a)
{
	(void)a;
}

/* ---- life ------------------------------------------------------------------------------------ */

int poll_workers_new(unsigned n, const struct poll_config *c,
		     struct poll_workers **out)
{
	struct poll_workers *w;

	if (n == 0 || n > POLL_WORKERS_MAX)
		return -EINVAL;
	w = mem_alloc(sizeof(*w) + n * sizeof(w->worker[0]));
	if (w == NULL)
		return -ENOMEM;
	memset(w, 0, sizeof(*w) + n * sizeof(w->worker[0]));
	w->n = n;
	w->config = c != NULL ? *c : poll_config_get();
	poll_loop_init(&w->anchor, NULL, NULL, &w->config);
	w->anchor.workers = w;
	pthread_mutex_init(&w->inject_lock, NULL);
	pthread_mutex_init(&w->outside_lock, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct poll__worker *wk = &w->worker[i];

		wk->w = w;
		wk->r = reactor_new_epoll();
		if (wk->r == NULL) {
			int err = -errno;

			w->n = i;
			poll_workers_free(w);
			return err;
		}
		poll_loop_init(&wk->loop, wk->r, NULL, &w->config);
		wk->loop.workers = w;
		pthread_mutex_init(&wk->inbox_lock, NULL);
		reactor_async_start(wk->r, &wk->async, worker_on_async);
	}
	*out = w;
	return 0;
}

void poll_workers_free(struct poll_workers *w)
{
	if (w == NULL)
		return;
	assert(atomic_load(&w->nlive) == 0 && "poll_workers_free with tasks");
	for (unsigned i = 0; i < w->n; i++) {
		struct poll__worker *wk = &w->worker[i];

		if (wk->o != NULL)
			offload_free(wk->o);
		reactor_async_stop(wk->r, &wk->async);
		reactor_free(wk->r);
		pthread_mutex_destroy(&wk->inbox_lock);
	}
	pthread_mutex_destroy(&w->inject_lock);
	pthread_mutex_destroy(&w->outside_lock);
	mem_free(w);
}

int poll_workers_run(struct poll_workers *w)
{
	unsigned started = 0;
	int rc = 0;

	if (atomic_load(&w->nlive) == 0)
		return 0;
	atomic_store(&w->running, true);
	for (; started < w->n; started++) {
		rc = pthread_create(&w->worker[started].thread, NULL,
				    worker_main, &w->worker[started]);
		if (rc != 0)
			break;
	}
	if (rc != 0 && started == 0) {
		atomic_store(&w->running, false);
		return -rc;
	}
	/* With fewer threads than asked the ones that started do the work. */
	for (unsigned i = 0; i < started; i++)
		pthread_join(w->worker[i].thread, NULL);
	atomic_store(&w->running, false);
	/* Every task is DONE, but a queue may still hold one (aborted while
	 * it waited there, its inbox link made after its worker left): give
	 * those references back.  No thread runs a worker any more. */
	for (unsigned i = 0; i < w->n; i++) {
		struct poll__worker *wk = &w->worker[i];
		struct poll_task *t;

		worker_collect(wk);
		while ((t = fifo_pop(wk)) != NULL)
			task_run(wk, t);         /* DONE: only the unref */
	}
	return 0;
}

int poll_workers_offload(struct poll_workers *w, unsigned threads)
{
	for (unsigned i = 0; i < w->n; i++) {
		struct poll__worker *wk = &w->worker[i];

		if (wk->o != NULL)
			continue;
		wk->o = offload_new(wk->r, threads);
		if (wk->o == NULL)
			return -EAGAIN;     /* those made are freed with w */
		wk->loop.o = wk->o;
	}
	return 0;
}

bool poll__workers_offloaded(const struct poll_workers *w)
{
	return w->n > 0 && w->worker[0].o != NULL;
}

void poll_workers_on_stop(struct poll_workers *w, void (*fn)(void *arg),
			  void *arg)
{
	w->on_stop = fn;
	w->stop_arg = arg;
}

/* Async-signal-safe: reactor_request_stop() is. */
void poll_workers_request_stop(struct poll_workers *w)
{
	for (unsigned i = 0; i < w->n; i++)
		reactor_request_stop(w->worker[i].r);
}

unsigned poll_workers_count(const struct poll_workers *w)
{
	return w->n;
}

void poll_workers_stats_get(const struct poll_workers *w,
			    struct poll_workers_stats *out)
{
	*out = w->outside;
	for (unsigned i = 0; i < w->n; i++) {
		const struct poll_workers_stats *s = &w->worker[i].stats;

		out->polls += s->polls;
		out->wakes += s->wakes;
		out->remote_wakes += s->remote_wakes;
		out->yields += s->yields;
		out->placed += s->placed;
		out->moved += s->moved;
		out->moved_in += s->moved_in;
		out->atomics += s->atomics;
		out->spawned += s->spawned;
		out->aborted += s->aborted;
	}
}

void poll_workers_worker_stats_get(const struct poll_workers *w, unsigned i,
				   struct poll_workers_stats *out)
{
	*out = w->worker[i].stats;
}

int poll__workers_result(const struct poll_task *t, ssize_t *out)
{
	if (!(atomic_load(&((struct poll_task *)t)->word) & WORD_DONE))
		return -EAGAIN;
	*out = t->result;
	return 0;
}

/* ---- read-only views ---------------------------------------------------------------------------- */

unsigned poll__workers_state(const struct poll_task *t)
{
	return (unsigned)(atomic_load(&((struct poll_task *)t)->word) &
			  (WORD_SCHEDULED | WORD_RUNNING | WORD_DONE |
			   WORD_ABORT));
}

unsigned poll__workers_refs(const struct poll_task *t)
{
	return (unsigned)(atomic_load(&((struct poll_task *)t)->word) >> 8);
}
