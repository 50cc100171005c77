/* poll.h: the poll engine, Rust-style futures in C.
 *
 * The model in five sentences.  An asynchronous function is a state machine:
 * a struct whose poll function advances it as far as it can and returns
 * READY (with its output) or PENDING.  An outer future holds the futures it
 * awaits *by value*, so a whole chain of awaits is one object.  A task is one
 * allocation holding one such tree; the executor polls a task when its waker
 * fires.  A leaf future that returns PENDING has first handed the task's
 * waker to whatever will make progress (a stream's registration, a timer, an
 * offload job).  Cancelling is dropping: a future's drop function releases
 * everything it holds, its children included.
 *
 * The rules every future here keeps, and every future you write must keep
 * (the contract of this engine):
 *
 *   R1  Movable until polled.  Initialising a future only stores its
 *       arguments.  Anything that hands out a pointer to the future (a
 *       reactor registration, a timer, a waker slot, a list link) happens at
 *       its first poll.  Until then the future may be copied byte for byte
 *       (poll_spawn() does exactly that); from its first poll it is pinned.
 *       (Rust's Pin, with the compiler's help removed.)
 *   R2  PENDING means "someone holds my waker".  A leaf stores a waker before
 *       it returns PENDING; a parent returns PENDING only when a child did.
 *       A leaf gives its waker back when it completes or is dropped.
 *   R3  Drop is total.  A drop function may be called in every state: never
 *       polled, pending, ready, or already dropped (then it does nothing).
 *       It releases every registration, timer, job, buffer and child the
 *       future holds.  Nothing the future did survives it except what it
 *       handed to its caller as output, and drop leaves `out` as it is.
 *   R4  Never poll a future again after it returned READY.
 *   R5  One thread.  Tasks, wakers and futures belong to the thread that runs
 *       the loop.  Nothing here is atomic, and nothing needs to be: completions
 *       from other threads (offload) arrive on the loop thread first.  The
 *       one exception is a task of the multi-threaded executor (struct
 *       poll_workers, at the end of this file): its waker may be fired and
 *       the task aborted from any thread, at the price of atomic operations
 *       on its state word; its future still runs on one thread at a time.
 *
 * Errors are negative errno values, as everywhere in pushpoll.  Every
 * allocation goes through mem_alloc(); which calls allocate is said beside
 * each of them.
 *
 * Fields marked private are here only so that futures can be held by value;
 * read-only fields may be read.
 */
#ifndef PUSHPOLL_POLL_H
#define PUSHPOLL_POLL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "offload.h"
#include "reactor.h"
#include "workload.h"

struct completion;
struct poll_future;
struct poll_task;
struct poll__op;
struct poll_cq_loop;

/* ---- settings ------------------------------------------------------------ */

#define POLL_BUDGET_DEFAULT 128

/* How a loop schedules, chosen at run time.  The workload entry points
 * (poll_echo_serve(), poll_fanout_run()) use the process-wide default. */
struct poll_config {
	/* Leaf completions a task may make in one poll before it is made to
	 * yield (see the budget, below).  0: off, a task runs until it waits. */
	unsigned budget;
	/* > 0: the echo server preallocates that many connection task slots,
	 * with their buffers, at start-up, and allocates nothing per
	 * connection; past them, connections are refused.  0: one allocation
	 * per connection task plus one for its buffer. */
	unsigned static_tasks;
};

/* The process-wide default (initially { POLL_BUDGET_DEFAULT, 0 }).
 * poll_loop_init() copies it, so a change applies to loops initialised
 * afterwards.  Not thread-safe: set it before starting loops. */
void poll_config_set(const struct poll_config *c);
struct poll_config poll_config_get(void);

/* ---- the loop ------------------------------------------------------------ */

struct poll_loop_stats {
	uint64_t polls;       /* task polls */
	uint64_t wakes;       /* wakes that queued a waiting task (another
			       * task's, or from I/O): no system call */
	uint64_t yields;      /* wakes of a task during its own poll (it
			       * yielded, or its budget was spent): each
			       * waits for a look at I/O (the yield fence) */
	uint64_t budget_spent; /* leaves that found the budget spent */
	uint64_t iterations;  /* loop iterations: each ends with one
			       * reactor_poll() */
	uint64_t spawned;
	uint64_t aborted;     /* tasks that ended by abort */
};

/* What a loop over a completion queue counts about its operations
 * (struct poll_cq_loop, below). */
struct poll_cq_stats {
	uint64_t ops_allocated;    /* operations made (mem_alloc): each is
				    * reused by later submissions, so this
				    * grows with the operations in flight at
				    * once, not with the operations made */
	uint64_t submitted;        /* operations handed to the kernel */
	uint64_t orphaned;         /* dropped while in flight: given to the
				    * loop until their completion */
	uint64_t orphan_bytes;     /* bytes of buffer those orphans held
				    * when they were dropped, in all */
	uint64_t orphans_now;      /* orphans in flight now ... */
	uint64_t orphan_bytes_now; /* ... and the bytes they hold */
	uint64_t orphan_bytes_peak; /* the most held at once */
	uint64_t late_completions; /* orphans' completions absorbed */
	uint64_t cancel_lost;      /* a cancel asked, and the operation
				    * completed with its result anyway */
	uint64_t ring_late_returned; /* ring buffers an orphan's late
				    * completion brought, given back (C7) */
	uint64_t ring_starved;     /* recv-selects that found the ring
				    * empty and waited for a buffer (C7) */
	uint64_t ring_out_at_end;  /* ring buffers not back in the ring once
				    * the loop was finished (the kernel's
				    * count under sim) */
	uint64_t sim_violations;   /* under sim, breaches of the kernel's
				    * ownership the queue saw ... */
	uint64_t kernel_ops_at_end; /* ... and operations it still owned
				    * once the loop was finished (both set
				    * for poll_cq_last_run_stats() only) */
	uint64_t kernel_file_read_bytes; /* the queue's file_read_bytes
					  * (completion_stats): what the
					  * kernel read, consumed or not
					  * (poll_cq_last_run_stats() only) */
};

/* The loop: the executor, a run queue on top of the reactor.  Memory: the
 * caller's, as libuv's uv_loop_t; the layout is here only so that it can
 * be.  Owned by the loop thread. */
struct poll_loop {
	/* read-only */
	struct reactor *r;
	struct offload *o;             /* may be NULL: no file futures */
	struct poll_config config;     /* copied at init */
	/* private */
	struct poll_task *ready_head, *ready_tail;  /* the run queue, FIFO */
	struct poll_task *live;        /* every task not yet DONE */
	unsigned nlive;
	struct poll_task *current;     /* the task being polled, or NULL */
	struct poll_task *yield_fence; /* the first task that yielded during
					* this step 1, or NULL: it and every
					* task queued after it wait for step 4 */
	unsigned budget_left;          /* of the current poll */
	/* The stop handler, run once at the first stop. */
	void (*on_stop)(void *arg);
	void *stop_arg;
	bool stop_seen;      /* a stop (request or quiescence) was acted on */
	bool over_cq;        /* the loop of a struct poll_cq_loop: step 4
			      * polls its completion queue, not the reactor */
	struct poll_loop_stats stats;
	/* NULL for a single-threaded loop.  Else the loop is one worker's of
	 * a struct poll_workers (or the shared one its tasks name), and
	 * poll_spawn() on it spawns a task of the workers. */
	struct poll_workers *workers;
};

/* Initialise a loop on reactor r, with offload pool o for file futures (o
 * may be NULL if none are used), under config c (NULL: the process-wide
 * default), in caller storage.  Allocates nothing.  Returns 0 (the
 * signature leaves room for -errno). */
int poll_loop_init(struct poll_loop *l, struct reactor *r, struct offload *o,
		   const struct poll_config *c);

/* Abort every task not yet DONE (dropping their futures) and empty the run
 * queue.  Handles the caller still holds stay valid until detached.  After
 * it returns l's memory may be freed (once those handles are detached). */
void poll_loop_fini(struct poll_loop *l);

/* Run until no task is left: 0.  One iteration is four steps, one helper
 * each in loop.c:
 *
 *   1. run: poll the tasks queued now, in order (and those they wake, up
 *      to a batch of 64 polls), never a task that yielded in this same
 *      step (poll_loop_run_ready());
 *   2. done: stop if what we run for is done: the future of
 *      poll_block_on(), or (poll_loop_run) every task;
 *   3. stop: a stop request (reactor_stop_requested()) is acted on once;
 *   4. wait: poll the reactor, whose edges, timers and offload completions
 *      fire wakers, which queue tasks; do not wait if tasks are queued.
 *
 * A stop, and under sim a quiescent world (reactor_poll() said -EDEADLK
 * with no task queued), run the stop handler once, from the loop; the
 * handler aborts what it wants and the loop goes on until done.  Without a
 * handler, a stop request ends the run with -EINTR (tasks are left as they
 * are; a later call goes on) and a quiescent world with -EDEADLK.
 *
 * Returns 0 when done; -EINTR at a stop request without a stop handler;
 * -EDEADLK (sim) when tasks remain that nothing can ever wake (after the
 * stop handler, if any, has run); or the -errno reactor_poll() failed
 * with.  Must not be called from a task. */
int poll_loop_run(struct poll_loop *l);

/* Run the loop until f is READY: 0, and f->out holds its output.  f is
 * polled in place, from a task header on this function's stack (no
 * allocation), so f may live on the caller's stack.  Other tasks run too.
 * If the run ends first, as poll_loop_run() (-EINTR, -EDEADLK): f is
 * dropped.  f must be a never-polled future; on return it has been polled
 * to READY or dropped, and (R2) holds no waker.  Must not be called from a
 * task. */
int poll_block_on(struct poll_loop *l, struct poll_future *f);

/* The stop handler: fn(arg) runs once, from the loop, at the first stop
 * (see poll_loop_run()).  NULL removes it. */
void poll_loop_on_stop(struct poll_loop *l, void (*fn)(void *arg), void *arg);

void poll_loop_stats_get(const struct poll_loop *l, struct poll_loop_stats *out);

/* Step 1 of the loop alone: poll the tasks queued now, in order (and those
 * they wake, up to a batch of 64 polls), without looking at the reactor.
 * A task that wakes itself (a yield, or a spent budget) is not polled again
 * in the same step: the reactor is polled first, so that the tasks waiting
 * for I/O get their turn.
 * Returns how many polls it made.  For callers that drive the reactor
 * themselves, and for tests that need a task polled exactly once. */
unsigned poll_loop_run_ready(struct poll_loop *l);

/* ---- futures ------------------------------------------------------------- */

enum poll_status {
	POLL_PENDING = 0,   /* not done; the task's waker has been handed on */
	POLL_READY = 1,     /* done; the output is in future->out */
};

/* What the executor passes down a poll: the loop and the task being polled.
 * cx->task is the current task's waker, borrowed for the duration of the
 * poll: to keep it, store it with poll_waker_set(). */
struct poll_cx {
	struct poll_loop *loop;
	struct poll_task *task;
};

/* The table of a kind of future: Rust's Future::poll and Drop::drop.  A
 * future that is awaited only by its own parent is called directly (static
 * dispatch, as rustc generates); the table is what lets a task or a
 * combinator hold a future of any kind. */
struct poll_future_vt {
	const char *name;
	enum poll_status (*poll)(struct poll_future *f, struct poll_cx *cx);
	void (*drop)(struct poll_future *f);
};

/* The first member of every future. */
struct poll_future {
	const struct poll_future_vt *vt;
	/* read-only: the output, valid once poll returned POLL_READY:
	 * a byte count, a handle, an index, 0, or -errno. */
	ssize_t out;
};

static inline enum poll_status poll_future_poll(struct poll_future *f,
						struct poll_cx *cx)
{
	return f->vt->poll(f, cx);
}

static inline void poll_future_drop(struct poll_future *f)
{
	f->vt->drop(f);
}

/* ---- wakers -------------------------------------------------------------- */

/* A slot that may hold one waker: a counted reference to a task.  Empty when
 * task is NULL.  Zero-initialise before first use.  Slots live in what makes
 * progress (a stream, a timer future, an offload job, a task awaited by
 * another), never in the executor. */
struct poll_waker {
	struct poll_task *task;   /* private */
};

/* Store the current task's waker in slot (one reference).  If the slot
 * already holds this task it does nothing (Rust's will_wake); if it holds
 * another, that one is dropped first.  Never allocates. */
void poll_waker_set(struct poll_waker *slot, const struct poll_cx *cx);

/* Wake the task in slot and empty the slot (the reference goes with it).
 * Waking a task that is queued, or running and already woken, does nothing
 * more; waking a finished or aborted task does nothing at all and is safe,
 * because the reference kept its header alive.  An empty slot: nothing.
 * O(1), never allocates, never polls inside the call: the task runs later,
 * from the loop. */
void poll_waker_wake(struct poll_waker *slot);

/* Empty slot without waking (a leaf that completed or was dropped). */
void poll_waker_drop(struct poll_waker *slot);

static inline bool poll_waker_is_set(const struct poll_waker *slot)
{
	return slot->task != NULL;
}

/* Wake the current task without storing anything: it will be polled again
 * after it returns PENDING (a yield). */
void poll_cx_wake(const struct poll_cx *cx);

/* A yield that asks to be polled next by another worker (W6): on a task of
 * struct poll_workers with more than one worker, spawned movable, the
 * task moves to the next worker when this poll returns
 * PENDING; anywhere else it is poll_cx_wake().  For tests and for a task
 * that knows it has hogged its worker. */
void poll_cx_move(const struct poll_cx *cx);

/* ---- the cooperative budget ---------------------------------------------- */
/* A task that never has to wait (its socket always has data) would never
 * return to the executor and would starve every other task.  As in tokio,
 * each poll of a task starts with loop->config.budget units; every leaf charges one
 * unit when it completes, and a leaf that finds the budget spent re-wakes
 * its task and returns PENDING before doing anything.  The task thus yields
 * after at most `budget` completions per poll and goes to the back of the
 * run queue.  With budget 0 the check always passes. */

/* Call first in a leaf's poll.  true: the budget is spent, the task has been
 * re-woken; return POLL_PENDING at once (holding no waker). */
bool poll_budget_exhausted(const struct poll_cx *cx);
/* Call when the leaf returns POLL_READY. */
void poll_budget_charge(const struct poll_cx *cx);

/* ---- tasks --------------------------------------------------------------- */
/*
 * A task is a header followed by the future it runs, in one block: either
 * one mem_alloc() (poll_spawn) or storage the caller provides
 * (poll_spawn_into, for a task that allocates nothing).
 *
 * The states, as flags in task->state, and where the task is in each:
 *
 *   (no flag)          WAITING.  On no list of the executor.  Reachable only
 *                      through the wakers its leaves handed out and through
 *                      handles.  Invariant: some waker holds it, or nothing
 *                      can ever wake it (a bug, or a task meant to be
 *                      aborted).
 *   QUEUED             QUEUED.  In the run queue, exactly once; the queue
 *                      holds a reference.  A wake does nothing.
 *   RUNNING            RUNNING.  Popped from the queue; its future is being
 *                      polled now (loop->current == task).  On no list.
 *   RUNNING|QUEUED     Woken during its own poll (a yield, or a leaf whose
 *                      event already happened).  Invariant: not yet in the
 *                      queue; it is queued when the poll returns PENDING.
 *   RUNNING|ABORT      poll_task_abort() was called during the poll (by the
 *                      task itself or by code it called).  The future is
 *                      dropped as soon as the poll returns, and never
 *                      polled again.  If that poll returned READY, the task
 *                      completed after all (its output may own something,
 *                      a handle, only its receiver can release).
 *   DONE               DONE.  The future has been dropped (it returned READY,
 *                      or it was aborted); it is never polled again and
 *                      result is final.  Off the loop's list of live tasks.
 *                      It may still sit in the run queue (aborted while
 *                      queued, with QUEUED still set): the run step then
 *                      takes it out without polling it.  The header stays
 *                      until the last reference is gone.
 *
 * The transitions (the function that makes each):
 *
 *   spawn ----------------------------------> QUEUED       poll_spawn[_into]
 *   QUEUED  -- popped by the run step ------> RUNNING      poll__task_run
 *   RUNNING -- PENDING, not woken ----------> WAITING      poll__task_run
 *   RUNNING -- PENDING, woken meanwhile ----> QUEUED       poll__task_run
 *   RUNNING -- READY, or ABORT set ---------> DONE         poll__task_run -> task_close
 *   WAITING -- a waker fires ---------------> QUEUED       poll_waker_wake
 *   RUNNING -- a waker fires ---------------> RUNNING|QUEUED  poll_waker_wake
 *   RUNNING -- aborted ---------------------> RUNNING|ABORT      poll_task_abort
 *   WAITING, QUEUED -- aborted -------------> DONE         poll_task_abort -> task_close
 *   DONE    -- last reference dropped ------> freed        poll__task_unref
 *
 * References (task->refs), one for each of these handles and no other:
 *   - the loop's list of live tasks, from spawn until DONE;
 *   - the run queue, while the task is in it;
 *   - each waker stored in a slot (poll_waker_set), until it is woken or
 *     dropped;
 *   - the handle poll_spawn gives back, until poll_task_detach();
 *   - poll_block_on's own, for the task it builds on its stack.
 * Not counted: cx->task during a poll (the live list's reference covers it)
 * and pointers that are valid only while the task's future is alive.
 * When the count reaches zero the block is given back: mem_free() for
 * poll_spawn, the release callback for poll_spawn_into.
 */

/* The bits of task->state.  Each names the state it marks; the comment
 * gives the bit's invariant. */
enum {
	/* In the run queue exactly once, holding the queue's reference; or,
	 * together with RUNNING, woken during its poll and not in the queue
	 * yet (poll__task_run queues it when the poll returns PENDING).  While it
	 * is set a wake does nothing. */
	POLL_TASK_QUEUED  = 1u << 0,
	/* Its future is being polled now: loop->current is the task, and it
	 * is on no list of the executor. */
	POLL_TASK_RUNNING = 1u << 1,
	/* The future has been dropped and result is final; never cleared.
	 * Off the live list; it may still be in the run queue (QUEUED kept),
	 * to be taken out unpolled. */
	POLL_TASK_DONE    = 1u << 2,
	/* Set only with RUNNING: aborted during its own poll; the future is
	 * dropped as soon as the poll returns. */
	POLL_TASK_ABORT   = 1u << 3,
};

typedef void (*poll_release_fn)(struct poll_task *t, void *arg);

struct poll_task {
	/* private; see above for every field's invariant */
	_Alignas(16) union {
		struct {
			unsigned state;
			unsigned refs;
		};
		/* A task of poll_workers: the state bits and the count in
		 * one atomic word (POLL_WORD_* in poll/workers.c). */
		_Atomic uint64_t word;
	};
	struct poll_loop *loop;               /* a task of poll_workers:
					       * the workers' shared loop */
	struct poll_task *next_ready;         /* run queue link */
	union {
		struct {                      /* loop's live list */
			struct poll_task *prev_live, *next_live;
		};
		struct {                      /* a task of poll_workers */
			/* polls it; NULL until its first poll and while
			 * it moves (W6) */
			struct poll__worker *_Atomic home;
			struct poll_task *next_inbox;
		};
	};
	struct poll_future *future;           /* just after the header, or
					       * the caller's (block_on) */
	ssize_t result;                       /* the future's output, or
					       * -ECANCELED; valid when DONE */
	struct poll_waker joiner;             /* a task awaiting this one */
	poll_release_fn release;
	union {
		void *release_arg;
		/* A task of poll_workers (which has no release): how its
		 * future moves between workers, or NULL (W6). */
		const struct poll_move_vt *move;
	};
	uint64_t polls;                       /* times its future was polled */
};

/* Bytes a task needs for a future of future_size bytes: the header, then the
 * future.  The sizeof of the header is a multiple of 16, so the future is as
 * aligned as the block (mem_alloc gives 16). */
#define POLL_TASK_SIZE(future_size) (sizeof(struct poll_task) + (future_size))

/* Spawn a task running f: one mem_alloc() of POLL_TASK_SIZE(size), into which
 * the never-polled future f (size bytes) is moved by copying, and the task is
 * queued.  Returns 0, or -ENOMEM: then nothing was moved and the caller still
 * owns f (and must drop it).  On success f's bytes must be forgotten: the
 * task owns the future now.
 * handle: NULL for a detached task; else *handle receives a counted
 * reference that the caller gives back with poll_task_detach(). */
int poll_spawn(struct poll_loop *l, const struct poll_future *f, size_t size,
	       struct poll_task **handle);

/* How a kind of future moves between the workers of struct poll_workers
 * (W6, at the end of this file): the counterpart of Rust's Send.  detach
 * takes every reactor registration the future holds (watchers, timers)
 * off the reactor it was made on, on that reactor's thread, between two
 * polls; attach makes them again on l's reactor, on l's thread, before the
 * next poll, and returns 0 or -errno (then the task is aborted).  A future
 * forwards both to the children it holds, as it does drop; a future that
 * has not been polled yet holds nothing and is not asked. */
struct poll_move_vt {
	void (*detach)(struct poll_future *f);
	int (*attach)(struct poll_future *f, struct poll_loop *l);
};

/* poll_spawn() of a future that may move between workers: on a worker's
 * loop the task is free to move (tokio::spawn, where poll_spawn() there is
 * like spawn_local: the task stays on the worker that first polls it); on a
 * single-threaded loop it is poll_spawn(), and mv is not used. */
int poll_spawn_movable(struct poll_loop *l, const struct poll_future *f,
		       size_t size, const struct poll_move_vt *mv,
		       struct poll_task **handle);

/* The same in storage the caller provides: POLL_TASK_SIZE(size) bytes,
 * 16-byte aligned.  Never fails and never allocates.  The storage belongs to
 * the task until release(t, arg) is called, once, when the last reference is
 * gone (on the loop thread, possibly inside a poll_waker_* or poll_task_*
 * call); release may reuse the storage at once. */
void poll_spawn_into(struct poll_loop *l, struct poll_task *storage,
		     const struct poll_future *f, size_t size,
		     poll_release_fn release, void *arg,
		     struct poll_task **handle);

/* The future a task runs, pinned in the task.  The spawner may use it to
 * link the task into its own structures before the first poll.  The memory
 * lasts as long as the task's header; once the task is DONE it holds a
 * dropped future. */
struct poll_future *poll_task_future(struct poll_task *t);

/* Abort: if the task is not running, its future is dropped now, inside this
 * call; if it is running (it aborts itself, or something it called does), it
 * is dropped as soon as its current poll returns.  Either way no code of the
 * task runs after that, its result is -ECANCELED (unless that last poll
 * returned READY: then the output stands) and a task awaiting it is woken.
 * Aborting a DONE task does nothing.  t must be a handle or a pointer known
 * to be valid (the header is alive while the future is). */
void poll_task_abort(struct poll_task *t);

/* Give back the handle from poll_spawn.  A running task goes on, detached;
 * a DONE task may be freed inside this call.  t is invalid afterwards. */
void poll_task_detach(struct poll_task *t);

/* 0 and *out = the result (the future's output, or -ECANCELED if aborted)
 * when the task is DONE; -EAGAIN while it is not. */
int poll_task_result(const struct poll_task *t, ssize_t *out);

/* Read-only views, for tests and statistics. */
unsigned poll_task_state(const struct poll_task *t);
unsigned poll_task_refs(const struct poll_task *t);
uint64_t poll_task_polls(const struct poll_task *t);

/* A future that awaits a task (Rust's JoinHandle as a future).  Output: the
 * task's result, or -ECANCELED if it was aborted.  It borrows the handle t,
 * which must stay valid until the future is dropped.  One awaiter per task. */
struct poll_task_join {
	struct poll_future base;
	struct poll_task *task;        /* private */
};
void poll_task_join_init(struct poll_task_join *j, struct poll_task *t);

/* ---- streams ------------------------------------------------------------- */

/* One handle, registered once for edges in both directions; a leaf waiting
 * to read parks its waker in `reader`, one waiting to write in `writer`.  At
 * most one reading and one writing future use a stream at a time.  Leaves
 * borrow the stream: it must outlive them (close it after dropping them). */
struct poll_stream {
	/* read-only */
	int handle;                 /* -1 when closed */
	unsigned ready;             /* REACTOR_* edges seen and not used up:
				     * set at an edge, cleared when a read or
				     * write meets -EAGAIN (or a connect has
				     * used its writable edge) */
	/* private */
	struct poll_loop *loop;
	struct reactor_io io;
	struct poll_waker reader, writer;
};

/* Open s on a handle (from reactor_listen(), reactor_accept(), an accept's
 * output) and register it (s need not be initialised); the stream owns the
 * handle from now on, and s is pinned.  Returns 0, or -errno and the handle
 * is still the caller's (a call that fails changes nothing). */
int poll_stream_open(struct poll_loop *l, struct poll_stream *s, int handle);
/* Deregister, drop any parked waker and close the handle.  Closing a closed
 * (or zeroed, never opened) stream does nothing. */
void poll_stream_close(struct poll_stream *s);
/* A move between workers (W6), for a future's detach and attach: take the
 * stream's watcher off its reactor (on that reactor's thread), and start
 * it again on l's (on l's thread; 0 or -errno).  The readiness seen so far
 * and the parked wakers stay: the new registration reports the handle's
 * current state at once, so no edge is lost.  A closed stream: nothing. */
void poll_stream_detach(struct poll_stream *s);
int poll_stream_attach(struct poll_stream *s, struct poll_loop *l);
static inline bool poll_stream_is_open(const struct poll_stream *s)
{
	return s->loop != NULL;
}

/* ---- leaf futures (io.c) ------------------------------------------------- */
/* Each leaf: tries its operation first and waits for an edge only after
 * -EAGAIN (the edge-triggered rule); checks the budget first and charges it
 * on READY; holds a waker only while PENDING. */

/* Accept one connection on a listening stream.  Output: the new handle,
 * owned by the caller; or -EMFILE/-ENFILE (the reactor dropped the pending
 * connection: not fatal), or another -errno.  Never -EAGAIN. */
struct poll_accept {
	struct poll_future base;
	struct poll_stream *listener;  /* private: borrowed */
};
void poll_accept_init(struct poll_accept *f, struct poll_stream *listener);

/* Read up to n bytes.  Output: > 0 bytes read, 0 at end of stream, -errno. */
struct poll_read {
	struct poll_future base;
	/* private */
	struct poll_stream *s;
	void *buf;
	size_t n;
};
void poll_read_init(struct poll_read *f, struct poll_stream *s, void *buf,
		    size_t n);

/* Wait until s may be readable, holding no buffer (tokio's readable()):
 * READY with 0 once an edge has said readable (or hung up) and no read has
 * met -EAGAIN since.  Then read with poll_try_read(), into a buffer
 * borrowed for the read: on -EAGAIN wait again.  Readiness is a hint, not a
 * promise (another reader, an injected fault), which is why the read may
 * still say -EAGAIN. */
struct poll_readable {
	struct poll_future base;
	struct poll_stream *s;         /* private */
};
void poll_readable_init(struct poll_readable *f, struct poll_stream *s);

/* Read up to n bytes now, without waiting (tokio's try_read): > 0 bytes
 * read, 0 at end of stream, -EAGAIN (the stream's readable edge is used
 * up: wait with poll_readable), or -errno.  Not a future: buf is borrowed
 * for this call only. */
ssize_t poll_try_read(struct poll_stream *s, void *buf, size_t n);

/* Write what s takes now, without waiting (tokio's try_write): bytes
 * written (0 <= result <= n; below n when the stream is full), or -errno.
 * buf is borrowed for this call only: what is left, the caller writes with
 * a poll_write of its own, from memory that lives until it is READY. */
ssize_t poll_try_write(struct poll_stream *s, const void *buf, size_t n);

/* Write all n bytes, in as many writes as it takes.  Output: n, or -errno
 * (done then says how many bytes went out before the error). */
struct poll_write {
	struct poll_future base;
	size_t done;                   /* read-only: bytes written so far */
	/* private */
	struct poll_stream *s;
	const void *buf;
	size_t n;
};
void poll_write_init(struct poll_write *f, struct poll_stream *s,
		     const void *buf, size_t n);

/* Connect a closed stream s to host:port.  Once the first poll has started
 * the connect, s is open on the connecting handle whatever comes of it:
 * READY with 0 (connected) or -errno (-ECONNREFUSED...), or dropped while
 * connecting, the caller closes s afterwards, as after push_connect().  If
 * the connect cannot even start, the output is its -errno and s stays
 * closed.  s is the caller's, as every stream is: a drop lets go of the
 * waker the future set on it, not of s.  host is borrowed until READY or
 * drop. */
struct poll_connect {
	struct poll_future base;
	/* private */
	struct poll_stream *s;
	const char *host;
	uint16_t port;
	bool started;
};
void poll_connect_init(struct poll_connect *f, struct poll_stream *s,
		       const char *host, uint16_t port);

/* Sleep for delay_ns, counted from the first poll.  Output: 0.  The timer is
 * embedded: starting, firing and dropping it never allocate. */
struct poll_sleep {
	struct poll_future base;
	/* private */
	struct poll_loop *loop;
	uint64_t delay_ns;
	bool started, fired;
	struct reactor_timer timer;
	struct poll_waker waker;
};
void poll_sleep_init(struct poll_sleep *f, struct poll_loop *l,
		     uint64_t delay_ns);
/* A move between workers (W6): the timer, if it runs, is stopped on its
 * reactor and started again on l's with the time it had left (its deadline
 * stays: every reactor over epoll reads the same monotonic clock).  The
 * timer is started on the loop of the first poll (cx->loop), which is the
 * l of init on a single-threaded loop. */
void poll_sleep_detach(struct poll_sleep *f);
int poll_sleep_attach(struct poll_sleep *f, struct poll_loop *l);

/* A reference-counted byte buffer: one mem_alloc() holding the header and
 * cap bytes of data.  It is how data is shared (a fanout chunk, read once
 * and written by every sink) and how an offload job owns the memory it works
 * on: a job holds a reference, so a cancelled job that is still running
 * writes into memory that is still alive. */
struct poll_buf {
	/* read-only */
	size_t cap;
	unsigned refs;
	/* public */
	size_t len;                    /* bytes in use: a file read sets it,
					* a file write writes that many */
	/* data: cap bytes, 16-byte aligned */
	_Alignas(16) unsigned char data[];
};
/* A buffer with one reference and len 0, or NULL (out of memory). */
struct poll_buf *poll_buf_new(size_t cap);
struct poll_buf *poll_buf_ref(struct poll_buf *b);
/* Drop one reference; the last frees the buffer.  NULL: nothing. */
void poll_buf_unref(struct poll_buf *b);

struct poll__file_job;

/* Read up to buf->cap bytes of a regular file at offset, into buf, through
 * the loop's offload pool.  Output: bytes read (buf->len is set; 0 at end of
 * file), or -errno (-ENOMEM: no memory for the job; -ENOSYS: the loop has
 * no offload pool).  The first poll makes
 * one mem_alloc() for the job, which takes a reference to buf: dropped while
 * the job runs, the future cancels the job and forgets it; the job keeps buf
 * alive until it is discarded.  The future borrows the caller's reference. */
struct poll_file_read {
	struct poll_future base;
	/* private */
	struct poll_loop *loop;
	int handle;
	uint64_t offset;
	struct poll_buf *buf;
	struct poll__file_job *job;
};
void poll_file_read_init(struct poll_file_read *f, struct poll_loop *l,
			 int handle, struct poll_buf *buf, uint64_t offset);

/* Write all buf->len bytes of buf to a regular file at offset, through
 * offload.  Output: buf->len, or -errno: a short write is continued, and a
 * write that stops part way (a full disk) is an error, never a smaller
 * count.  Allocation and ownership as for poll_file_read. */
struct poll_file_write {
	struct poll_future base;
	/* private */
	struct poll_loop *loop;
	int handle;
	uint64_t offset;
	struct poll_buf *buf;
	struct poll__file_job *job;
};
void poll_file_write_init(struct poll_file_write *f, struct poll_loop *l,
			  int handle, struct poll_buf *buf, uint64_t offset);

/* ---- composition (compose.c) --------------------------------------------- */
/* Combinators: sequence, join of N, race of N, timeout.  Rust's
 * combinators are generic over their children's types and hold them by
 * value.  C has no generics, so here the children live by value in the
 * caller's own future, next to the combinator, and the combinator holds
 * pointers to them: the memory is still one block, the task's.  From init
 * on, the combinator owns the children: only it polls and drops them, and
 * dropping it drops every child it has not dropped yet.  Children must not
 * have been polled before, and the combinator is initialised inside the
 * caller's poll (R1: it stores pointers to pinned memory). */

/* Sequence of n steps, each awaited in turn (the counterpart of push_seq).
 * step(arg, i, prev, slot) initialises step i's future in slot, given the
 * previous step's output (0 for the first), and returns it.  slot is the
 * caller's storage, by value next to the sequence and as large as the
 * largest step's future: one slot serves every step, as rustc lays out the
 * locals of an async fn, so a chain of any length allocates nothing.
 * Stops at the first negative output.  Output: the last step's output, or
 * that first error (0 when n == 0).  Dropping the sequence drops the step
 * in flight. */
typedef struct poll_future *(*poll_step_fn)(void *arg, unsigned i,
					    ssize_t prev, void *slot);

struct poll_seq {
	struct poll_future base;
	/* private */
	poll_step_fn step;
	void *arg;
	void *slot;
	struct poll_future *cur;       /* the step in flight, or NULL */
	unsigned n, i;
};
void poll_seq_init(struct poll_seq *s, poll_step_fn step, unsigned n,
		   void *arg, void *slot);

/* Join of N: poll every unfinished child each time; READY when all are.
 * Output: 0 if every child's output is >= 0, else the first negative one in
 * child order (as push_join()); each child's output stays in its own out.
 * child[] is the caller's array of n pointers, which the join takes over: it
 * sets child[i] to NULL when child i is done, so it never polls it twice.  A
 * wake re-polls every unfinished child: O(n) per wake. */
struct poll_join {
	struct poll_future base;
	/* private */
	struct poll_future **child;
	unsigned n, left;
	unsigned err_at;               /* the child whose error is the output,
					* or n */
};
void poll_join_init(struct poll_join *j, struct poll_future **child,
		    unsigned n);

/* Race of N: poll the children in order; the first READY one wins.
 * Output: the winner's index (its output in child[index]->out).  Every other
 * child is dropped at once, before the race returns READY: their drop
 * functions have run and their registrations are gone.  child[] is taken
 * over as for join: dropped children's entries are set to NULL. */
struct poll_race {
	struct poll_future base;
	/* private */
	struct poll_future **child;
	unsigned n;
};
void poll_race_init(struct poll_race *s, struct poll_future **child,
		      unsigned n);

/* Timeout: inner, or -ETIMEDOUT if it is not READY within ns (counted from
 * the first poll).  Output: inner's output, or -ETIMEDOUT, the inner future
 * then dropped.  Once the deadline has passed the inner is not polled again,
 * so an inner that could have finished but had not been woken loses.  The
 * timer is a poll_sleep held by value. */
struct poll_timeout {
	struct poll_future base;
	/* private */
	struct poll_future *inner;
	struct poll_sleep sleep;
	bool done;                     /* both children dropped */
};
void poll_timeout_init(struct poll_timeout *t, struct poll_loop *l,
		       struct poll_future *inner, uint64_t ns);

/* ---- over a completion queue (io_completion.c) ----------------------------- */
/*
 * On readiness a leaf borrows its buffer: it reads only once the reactor
 * says the data is there, inside its own poll, so dropping the future
 * between polls leaves nothing behind.  On a completion queue
 * (shared/completion.h) the kernel is handed the buffer when the operation
 * is submitted and keeps it until the completion; a cancel only asks, and
 * may lose the race.  So a future can no longer cancel by being dropped
 * alone: what it started outlives it.  The rules of this section, beside
 * R1 to R5:
 *
 *   C1  Owned buffers.  A leaf's buffer is moved in at init (the caller
 *       gives its reference up), moved from the future to the operation at
 *       submission, and handed back with the result: after READY,
 *       poll_cq_io_take() gives it to the caller.  While the operation is
 *       in flight neither the caller nor the future may touch the buffer
 *       (tokio-uring's owned-buffer API: `let (res, buf) = read(buf).await`).
 *   C2  Submit on first poll, woken by the completion.  The first poll
 *       takes an operation from the loop (the loop keeps idle ones for
 *       reuse, so in steady state this allocates nothing), submits it and
 *       parks the task's waker in it.  The loop's step 4 polls the queue and
 *       wakes the task that owns each completion.
 *   C3  Drop in flight orphans.  Dropping a leaf whose operation is in
 *       flight asks the kernel to cancel it and hands the operation and its
 *       buffer to the loop (its orphan list), which keeps both until the
 *       kernel's final completion, then frees the buffer (drops the
 *       reference it holds) and keeps the operation for reuse.  A late
 *       result is absorbed there: a connection an orphaned accept brought is
 *       closed, bytes an orphaned recv brought are dropped.  Drop is still
 *       total (R3) for the future; the memory it gave the kernel is the
 *       loop's, counted in poll_cq_stats.
 *   C4  Handles close after their orphans.  A handle may not be closed
 *       while an operation on it is in flight: poll_cq_close() closes it
 *       now, or when the last orphaned operation on it completes.
 *   C5  A cancel that keeps the future.  poll_cq_io_cancel() asks the
 *       kernel to cancel and leaves the future waiting: it becomes READY
 *       with -ECANCELED, or with its result if the operation won the race,
 *       and then the caller has the bytes (nothing is lost or seen twice).
 *   C6  The loop is freed after its orphans.  poll_loop_fini() on a loop
 *       over a completion queue aborts every task, then polls the queue
 *       until every orphan has completed; only then may the queue be freed.
 *   C7  Buffers on readiness: a ring lent, not owned.  With a provided
 *       buffer ring on the loop (poll_cq_ring_provide()), a recv-select
 *       leaf submits holding no buffer: the kernel picks one from the ring
 *       only when bytes arrive (completion_recv_select()), and the leaf's
 *       output lends it to the task (a struct poll_ring_buf, taken with
 *       poll_cq_io_take_ring()).  The task gives it back to the ring
 *       (poll_ring_buf_release()), or moves it into a send-ring leaf, which
 *       hands it back with the result as C1 says.  So dropping a recv-select
 *       in flight is cheap again: its orphan holds no buffer of its own
 *       while it waits (C3 with nothing to keep); if its late completion
 *       brings one anyway (the cancel lost the race), the loop gives it
 *       back to the ring at once.  An orphaned send-ring keeps its ring
 *       buffer until its completion, then the loop gives it back.  Every
 *       path that drops a leaf holding a ring buffer gives it back.  A
 *       recv-select that finds the ring empty (-ENOBUFS) never spins: it
 *       waits on the loop, holding nothing but its operation, and is
 *       submitted again when a buffer comes back to the ring, one waiter
 *       per buffer back, first come first served; a waiter woken that
 *       ends without taking the buffer (end of stream, a cancel, a drop)
 *       passes it on to the next.
 */

/* Initialise a loop over the completion queue cq (on reactor r, which
 * stays the place stop requests arrive: reactor_stop_requested()), in
 * caller storage.  The leaves of this section run on it; the readiness
 * leaves (streams, poll_sleep, file futures) do not.  Step 4 polls cq
 * instead of the reactor: without a limit under sim (where -EDEADLK says
 * the world is quiescent), else at most POLL_CQ_STOP_CHECK_NS, so that a
 * stop request is seen.  Allocates nothing.  Returns 0. */
#define POLL_CQ_STOP_CHECK_NS (100 * 1000000ll)

/* A loop over a completion queue: a loop (tasks run on &cl->loop, and
 * cx->loop in their polls is it), the queue, and the operations the loop
 * owns.  Caller's memory, as struct poll_loop. */
struct poll_cq_loop {
	struct poll_loop loop;
	/* read-only */
	struct completion *cq;
	struct poll_cq_stats stats;
	/* private */
	struct poll__op *free_ops;     /* idle operations, kept for reuse */
	struct poll__op *orphans;      /* in flight, their future dropped:
					* kept, with their buffers, until
					* the kernel's final completion (C3) */
	/* the provided buffer ring (C7), if poll_cq_ring_provide() made one */
	unsigned ring_group;
	unsigned ring_count;           /* 0: no ring */
	size_t ring_size;              /* bytes per buffer */
	unsigned ring_lent;            /* buffers out of the ring now */
	struct poll__op *starved;      /* recv-selects that found the ring
					* empty, first to wait first ... */
	struct poll__op *starved_tail; /* ... and last */
};

int poll_loop_init_completion(struct poll_cq_loop *cl, struct reactor *r,
			      struct completion *cq,
			      const struct poll_config *c);

/* The loop over a completion queue that l is the loop of (l->over_cq). */
struct poll_cq_loop *poll_cq_loop_of(struct poll_loop *l);

/* What a leaf over the completion queue does. */
enum poll_cq_kind {
	POLL_CQ_ACCEPT,        /* output: a new handle, the caller's */
	POLL_CQ_RECV,          /* into buf: output bytes (buf->len), 0 at end */
	POLL_CQ_SEND,          /* all buf->len bytes of buf: output buf->len */
	POLL_CQ_FILE_READ,     /* up to buf->cap bytes at offset: output bytes
				* (buf->len), 0 at the end of the file */
	POLL_CQ_FILE_WRITE,    /* all buf->len bytes of buf at offset */
	POLL_CQ_TIMEOUT,       /* after delay_ns: output 0 */
	POLL_CQ_RECV_SELECT,   /* into a buffer of the loop's ring (C7):
				* output bytes (the ring buffer lent),
				* 0 at end */
	POLL_CQ_SEND_RING,     /* all ring.len bytes of a ring buffer (C7):
				* output ring.len */
};

/* A buffer of the loop's provided ring, lent to a task (C7): which one and
 * how many bytes it holds.  A value: whoever holds it gives it back once
 * (poll_ring_buf_release()), or moves it into a send-ring leaf. */
struct poll_ring_buf {
	uint16_t group;
	uint16_t id;                   /* POLL_RING_NONE: no buffer */
	uint32_t len;
};
#define POLL_RING_NONE 0xffffu

/* One leaf over the completion queue, of any kind.  States:
 *   unsubmitted  after init: holds its buffer (if any); may be moved (R1)
 *   in flight    op set: the kernel owns op and the buffer (C1)
 *   ready        READY returned: holds its buffer until poll_cq_io_take()
 *   dropped      holds nothing (its op, if it was in flight, is an orphan)
 * Output: as its kind says, or -errno (-ENOMEM: no operation could be made;
 * -ECANCELED after poll_cq_io_cancel()).  A send or file write that the
 * kernel takes in part is submitted again for the rest, with the same
 * operation. */
struct poll_cq_io {
	struct poll_future base;
	/* read-only */
	size_t done;                   /* send, file write: bytes so far */
	/* private */
	struct poll_cq_loop *loop;
	enum poll_cq_kind kind;
	int handle;
	union {
		uint64_t arg;          /* files: the offset; timeout: ns */
		struct poll_ring_buf ring; /* the ring kinds: the future's
					    * (C7), none in flight */
	};
	struct poll_buf *buf;          /* the future's (C1), NULL in flight */
	struct poll__op *op;           /* in flight, else NULL */
	bool cancel_asked;
};

/* Each init only stores its arguments (R1).  buf: one reference moved in
 * (C1), never NULL for the kinds that take a buffer. */
void poll_cq_accept_init(struct poll_cq_io *f, struct poll_loop *l,
			 int listener);
void poll_cq_recv_init(struct poll_cq_io *f, struct poll_loop *l, int handle,
		       struct poll_buf *buf);
void poll_cq_send_init(struct poll_cq_io *f, struct poll_loop *l, int handle,
		       struct poll_buf *buf);
void poll_cq_file_read_init(struct poll_cq_io *f, struct poll_loop *l,
			    int handle, struct poll_buf *buf, uint64_t offset);
void poll_cq_file_write_init(struct poll_cq_io *f, struct poll_loop *l,
			     int handle, struct poll_buf *buf,
			     uint64_t offset);
void poll_cq_timeout_init(struct poll_cq_io *f, struct poll_loop *l,
			  uint64_t delay_ns);
/* C7, on a loop with a ring.  A recv-select holds no buffer until bytes
 * arrive; its output is bytes with a ring buffer lent (take it with
 * poll_cq_io_take_ring()), 0 at end of stream, or -errno; never -ENOBUFS:
 * with the ring empty it waits for a buffer to come back (-EOPNOTSUPP: the
 * loop has no ring).  A send-ring takes the ring buffer rb (moved in) and
 * hands it back with the result. */
void poll_cq_recv_select_init(struct poll_cq_io *f, struct poll_loop *l,
			      int handle);
void poll_cq_send_ring_init(struct poll_cq_io *f, struct poll_loop *l,
			    int handle, struct poll_ring_buf rb);

/* After READY: the buffer back, the caller's reference (C1); NULL for
 * kinds without one, or if taken already. */
struct poll_buf *poll_cq_io_take(struct poll_cq_io *f);
/* After READY of a ring kind: the ring buffer, the caller's now (C7); its
 * id is POLL_RING_NONE if there is none (no bytes, or taken already). */
struct poll_ring_buf poll_cq_io_take_ring(struct poll_cq_io *f);

/* C7: give l a provided buffer ring of count buffers of size bytes at mem
 * (the caller's, count * size bytes, which must outlive the queue: free it
 * after completion_free()), as group `group` of its queue.  count: a power
 * of two.  Returns 0, or completion_buffers_provide()'s -errno
 * (-EOPNOTSUPP: the kernel has no provided buffer rings). */
int poll_cq_ring_provide(struct poll_loop *l, unsigned group, void *mem,
			 size_t size, unsigned count);
/* The bytes of ring buffer rb (valid while it is lent). */
unsigned char *poll_ring_buf_data(struct poll_loop *l,
				  struct poll_ring_buf rb);
/* Give *rb back to the ring and mark it none; a recv-select waiting for a
 * buffer (C7) is submitted again.  None: nothing. */
void poll_ring_buf_release(struct poll_loop *l, struct poll_ring_buf *rb);

/* C5: ask the kernel to cancel f's operation, keeping f.  Returns 0 (f
 * stays PENDING until the completion), -EALREADY if asked already, -ENOENT
 * if nothing is in flight (never polled, or READY). */
int poll_cq_io_cancel(struct poll_cq_io *f);

/* Whether f's operation is in flight now. */
static inline bool poll_cq_io_in_flight(const struct poll_cq_io *f)
{
	return f->op != NULL;
}

/* C4: close handle h of l's queue now, or, if an orphaned operation on it
 * is still in flight, when the last such one completes. */
void poll_cq_close(struct poll_loop *l, int h);

/* ---- the workloads (echo.c, fanout.c) ------------------------------------ */

/* The echo server and the fanout of shared/workload.h, written in this
 * engine; they run under the process-wide config (poll_config_get()).
 *
 * The echo server.  One task per connection: an explicit state machine
 * holding its read, write and idle timer futures by value, plus its buffer.
 * With poll_config.static_tasks > 0 the tasks and buffers live in slots
 * allocated at start-up and nothing is allocated per connection. */
int poll_echo_serve(struct reactor *r, struct offload *o,
		    const struct echo_opts *opts, struct echo_stats *stats);

/* The fanout.  One task: a reader and the N sinks joined by value. */
int poll_fanout_run(struct reactor *r, struct offload *o,
		    const struct fanout_opts *opts, struct fanout_stats *stats);

/* The same two over a completion queue (echo_completion.c,
 * fanout_completion.c), beside r: completion_new_beside() gives the
 * simulation's completion mode when r is simulated, else io_uring; r stays
 * the place stop requests arrive.  Same options, statistics and output as
 * the readiness entry points, with these differences, each the model's:
 *
 * The echo server.  A connection task holds its recv/send leaf and its idle
 * timeout leaf by value, and owns one buffer (a poll_buf), moved into each
 * recv, back with its bytes, into the send, back again (C1): per
 * connection one task, one buffer and the loop's operations it needs at
 * once (two, reused across connections), none per round trip.  The idle
 * timeout is one timeout operation per idle period, not per message: when
 * it expires early (input came meanwhile) it is submitted again for what
 * is left.  At expiry the recv in flight is cancelled with
 * poll_cq_io_cancel() (C5): if the data wins the race it is echoed and
 * the connection goes on.  A stop drops every connection: their operations
 * become orphans (C3), which poll_loop_fini() waits for (C6).  With
 * ECHO_BUFFERS_READY a connection owns no buffer: the server gives the loop
 * one provided buffer ring for the run (C7: 128 buffers of bufsize, as the
 * uring floor's), each recv takes a ring buffer only when bytes arrive, and
 * the buffer goes back to the ring when the send of it has completed; a
 * stop leaves orphans that hold none.  Returns -EOPNOTSUPP for reuse_port,
 * and for ECHO_BUFFERS_READY on a queue without provided buffer rings
 * (COMPLETION_FEATURE_MULTISHOT_RECV), and the queue's -errno (no io_uring
 * here) as completion_new_beside() says.
 *
 * The fanout.  The input is read with the ring (file reads, no offload: o
 * is unused), each chunk once into a poll_buf shared by reference by the
 * sinks' sends or file writes. */
int poll_echo_serve_completion(struct reactor *r, struct offload *o,
			       const struct echo_opts *opts,
			       struct echo_stats *stats);
/* The bytes of the provided ring the echo over completions allocates once
 * per loop with ECHO_BUFFERS_READY and buffers of bufsize (claim C12). */
size_t poll_echo_completion_ring_bytes(size_t bufsize);
int poll_fanout_run_completion(struct reactor *r, struct offload *o,
			       const struct fanout_opts *opts,
			       struct fanout_stats *stats);
/* The loop statistics of the last run of either, once it has returned
 * (zero if it failed before its loop ran): operations made, orphans and
 * the bytes they held (claim C13).  Not thread-safe: one run at a time. */
void poll_cq_last_run_stats(struct poll_cq_stats *out);

/* ---- workers: the multi-threaded executor --------------------------------- */
/*
 * N worker threads, each with its own reactor, its own loop and (if asked)
 * its own offload pool, sharing one injection queue.  Chosen at run time
 * (`--workers N`); with one worker the single-threaded executor above is
 * what callers use, unchanged and without atomics.  The design, and why:
 *
 *   - One reactor per worker.  A reactor belongs to one thread (reactor.h),
 *     so a registration (a stream's watcher, a timer) lives in the reactor
 *     of the worker that polls the task now, its home.  Its edges and
 *     expiries fire the task's waker on that thread.
 *   - Tasks move by re-registration (W6): a task whose future can move
 *     (spawned with a struct poll_move_vt: detach and attach) is handed, between two polls, from
 *     its home to another worker: the old home takes every registration
 *     off its reactor (detach), the new one makes them again on its own
 *     (attach) before it polls the task.  The other rule (a watcher stays
 *     on the reactor it was made on, and the task is polled elsewhere)
 *     would have two threads touch one stream's readiness and waker
 *     slots, the reactor's thread at an edge and the task's at a read:
 *     each stream would need a lock or atomics, and a timer could not be
 *     stopped from the task's thread at all.  Re-registration keeps every
 *     leaf single-threaded, as R5 says, at the price of two epoll_ctl()
 *     per stream per move.
 *   - Where tasks go: a task spawned by a task of the workers (a server's
 *     accept) goes round robin to the workers' inboxes, so that a burst
 *     of connections is spread at once, whatever the threads'
 *     scheduling; one spawned from another thread goes to the shared
 *     injection queue (a mutex and a FIFO), and the first worker with
 *     nothing better to do takes it.  A worker with a backlog in its FIFO (eight
 *     tasks or more) while another worker waits idle in its reactor hands
 *     the first of them to that worker (W6): work is given, not stolen, because only the home's
 *     thread may take the registrations off its reactor.  (tokio steals,
 *     from a reactor shared by all workers; per-worker reactors make the
 *     home do the handing.)
 *   - A wake from the home worker links the task into that worker's local
 *     FIFO: no lock, one atomic read-modify-write on the task's word.  A
 *     wake from any other thread links it into the home's inbox (a mutex)
 *     and wakes the home's reactor (reactor_async_send()).
 *
 * Rules (each tested in tests/test_workers.c):
 *
 *   W1  poll_waker_wake(), poll_waker_drop() and poll_task_abort() on a task
 *       of the workers may be called from any thread.  poll_waker_set() is
 *       called by the task's own poll, as always.  A slot shared by tasks
 *       of several workers is its owner's to guard (a lock, as the stress
 *       test does); the slots inside one task's future need none.
 *   W2  A task's future is polled and dropped by one thread at a time: its
 *       home worker (or, before the first poll, the worker that takes it
 *       from the injection queue).  Leaves therefore run on the thread that
 *       owns their reactor, as R5 asks, and a move (W6) changes the home
 *       only between two polls.
 *   W3  Abort keeps poll_task_abort()'s rule: no code of the task runs after
 *       poll_task_abort() returns, or after its current poll returns if it
 *       is running.  From the home worker, outside the task's poll, the
 *       future is dropped inside the call, as on a single-threaded loop.
 *       From any other thread (or while the task is moving) it is dropped
 *       by its home worker soon after, there, where its registrations are;
 *       it is never polled again either way.
 *   W4  Waking a queued, running-and-woken, DONE or aborted task does
 *       nothing; a waker's reference keeps the header alive (as on a loop).
 *   W5  poll_workers_run() returns when every task is DONE; the workers'
 *       threads are joined before it returns (each first waits until the
 *       jobs its offload pool holds are given back).
 *   W6  A task moves only while it is in a queue, never during a poll, and
 *       only if it was spawned movable (a struct poll_move_vt), its home has no offload
 *       job outstanding (a job's completion is delivered to the pool's
 *       worker) and there is more than one worker.  The old home calls
 *       detach, the new home attach, then polls it: its streams and timers
 *       work as before the move, and a wake during the move (the task is
 *       SCHEDULED) does nothing more.  An attach that fails aborts the task.
 *   W7  poll_workers_request_stop() may be called from any thread and from
 *       a signal handler: it asks every worker's reactor to stop, which
 *       wakes each.  The first worker to see it runs the stop handler
 *       (poll_workers_on_stop()) once, outside any poll; the handler
 *       aborts what it wants (W3), and the workers go on until every task
 *       is DONE.  Without a handler a stop does nothing more.
 *   Not on workers: poll_spawn_into(), poll_block_on(), poll_task_join
 *   (their storage and slots are one thread's).  File futures need
 *   poll_workers_offload().
 */

struct poll_workers;
struct poll__worker;

struct poll_workers_stats {
	uint64_t polls;
	uint64_t wakes;         /* by the home worker: its local FIFO */
	uint64_t remote_wakes;  /* from another thread: the home's inbox */
	uint64_t yields;        /* woken during its own poll */
	uint64_t placed;        /* tasks first polled here (from the
				 * injection queue or spawned to it) */
	uint64_t moved;         /* tasks handed to another worker (W6) */
	uint64_t moved_in;      /* tasks taken over from another worker */
	uint64_t atomics;       /* atomic read-modify-writes on task words
				 * (each counted where it is made) */
	uint64_t spawned, aborted;
};

/* n worker threads (1 to POLL_WORKERS_MAX), each with a reactor over epoll
 * and a loop, config c (NULL: the process-wide default).  Allocates them
 * all here; nothing runs until poll_workers_run().  Returns 0 or -errno. */
#define POLL_WORKERS_MAX 64
int poll_workers_new(unsigned n, const struct poll_config *c,
		     struct poll_workers **out);
/* Every task must be DONE and every handle detached. */
void poll_workers_free(struct poll_workers *w);

/* Spawn a task of the workers: one mem_alloc(), the never-polled future
 * moved in (as poll_spawn()), linked into the injection queue (from a
 * worker's thread: into the next worker's inbox, round robin).  From any
 * thread before or during poll_workers_run(); poll_spawn() on a worker's
 * loop (cx->loop in a task's poll) calls this.  Returns 0 or -ENOMEM. */
int poll_workers_spawn(struct poll_workers *w, const struct poll_future *f,
		       size_t size, struct poll_task **handle);
/* The same for a task free to move between workers (W6), moved by mv;
 * poll_spawn_movable() on a worker's loop calls this. */
int poll_workers_spawn_movable(struct poll_workers *w,
			       const struct poll_future *f, size_t size,
			       const struct poll_move_vt *mv,
			       struct poll_task **handle);

/* Start the threads, run until every task is DONE (W5), join them.
 * Returns 0, or -errno if a thread could not start (then the tasks are
 * left as they are). */
int poll_workers_run(struct poll_workers *w);

/* One offload pool of `threads` threads per worker, on its reactor, for
 * the file futures of the tasks it polls (a job's completion comes back to
 * the worker that submitted it).  Before poll_workers_run(); 0 or -errno. */
int poll_workers_offload(struct poll_workers *w, unsigned threads);

/* W7.  The handler runs once, on the first worker that sees a stop. */
void poll_workers_on_stop(struct poll_workers *w, void (*fn)(void *arg),
			  void *arg);
void poll_workers_request_stop(struct poll_workers *w);

unsigned poll_workers_count(const struct poll_workers *w);
/* The sum over the workers; valid after poll_workers_run() returned. */
void poll_workers_stats_get(const struct poll_workers *w,
			    struct poll_workers_stats *out);
/* Worker i's own (work done by threads that are no worker is not in any);
 * valid after poll_workers_run() returned. */
void poll_workers_worker_stats_get(const struct poll_workers *w, unsigned i,
				   struct poll_workers_stats *out);

/* The workloads on the workers.  The echo server: one task accepting on
 * host:port (its listener made here, on r, an epoll reactor of the
 * caller's, whose only other use is closing a connection refused or never
 * polled, one close(2)), one task per connection, spawned to the injection
 * queue, each free to move (W6).  Statistics are exact across workers:
 * every count is one relaxed atomic add (the single-threaded server makes
 * plain adds).  A stop (poll_workers_request_stop()) aborts the server,
 * whose drop aborts every connection; it returns when every task is DONE.
 * Not with poll_config.static_tasks or ECHO_BUFFERS_READY (-ENOTSUP): their
 * slots and the one lent buffer are one thread's.
 *
 * The fanout: the same one task, spawned to the workers, polled by one
 * worker (its future does not move: its chunks' counts are one thread's),
 * its file reads and writes through that worker's offload pool
 * (poll_workers_offload() first: -EINVAL without it).  The input, file
 * sinks and listener are opened on r before the run, as poll_fanout_run()
 * does; the listener is registered at the task's first poll, on its home. */
int poll_echo_serve_workers(struct poll_workers *w, struct reactor *r,
			    const struct echo_opts *opts,
			    struct echo_stats *stats);
int poll_fanout_run_workers(struct poll_workers *w, struct reactor *r,
			    const struct fanout_opts *opts,
			    struct fanout_stats *stats);

#endif
