/* loop.c: the push loop: a completion queue on top of the reactor.
 *
 * The reactor runs the engine's io, timer and offload callbacks; those never
 * run user code: they only decide a request's result and append it to the
 * completion queue (push__req_complete()).  The loop then runs the user's
 * callbacks from the queue, at one well-defined point of each iteration.
 * That one indirection is what lets the engine promise that a callback never
 * runs inside the call that started its operation or inside a cancel (rules
 * R1-R2 of push.h): a start or a cancel only ever queues.
 *
 * One iteration, one helper per step (the same numbering as push.h and
 * docs/push.md):
 *
 *   1. loop_run_completions()  run queued callbacks in FIFO order, those
 *                              they queue included, at most PUSH_RUN_BATCH
 *   2. loop_done()             stop if what we run for is done: the
 *                              request of push_run_until(), or
 *                              (push_loop_run) nothing pending
 *   3. loop_check_stop()       a stop request is acted on once
 *   4. loop_wait()             reactor_poll(): the reactor's callbacks
 *                              queue completions; do not wait if
 *                              completions are queued
 *
 * In the completion mode (push_loop_init_completion()) step 4 is
 * loop_wait_completions(): completion_poll() instead of reactor_poll(), and
 * each final completion finishes its request (io_completion.c), which
 * queues it for step 1 like any other.  Steps 1 to 3 are the same code.
 */
#include "push_impl.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Callbacks run by step 1 before the loop looks at I/O again. */
#define PUSH_RUN_BATCH 64

/* Completion mode: completions taken per completion_poll(), and the
 * longest wait on a ring, so that a stop request (a flag set by a signal
 * handler, which the ring's wait does not watch) is seen that late at
 * most, as in the io_uring floor. */
#define PUSH_CQ_BATCH 64
#define PUSH_CQ_STOP_CHECK_NS (100 * 1000 * 1000)

/* ---- settings ------------------------------------------------------------ */

static struct push_config config; /* idiomatic, no fast path */

void push_config_set(const struct push_config *c)
{
	config = *c;
}

struct push_config push_config_get(void)
{
	return config;
}

/* ---- life ---------------------------------------------------------------- */

int push_loop_init(struct push_loop *l, struct reactor *r, struct offload *o,
		   const struct push_config *c)
{
	memset(l, 0, sizeof(*l));
	l->r = r;
	l->o = o;
	l->config = c != NULL ? *c : config;
	return 0;
}

int push_loop_init_completion(struct push_loop *l, struct reactor *r,
			      struct completion *cq,
			      const struct push_config *c)
{
	push_loop_init(l, r, NULL, c);
	l->cq = cq;
	l->config.fast_path = false;    /* K4: nothing completes at once */
	return 0;
}

void push_loop_fini(struct push_loop *l)
{
	assert(!l->running && "push_loop_fini inside the loop");
	assert(l->pending == 0 && "push_loop_fini with requests pending");
	assert(l->live_reqs == 0 && "push_loop_fini with handles not dropped");
	push__req_pool_free(l);
	if (l->ring.mem != NULL)
		push__cq_ring_free(l);
}

void push_loop_on_stop(struct push_loop *l, void (*fn)(void *arg), void *arg)
{
	l->on_stop = fn;
	l->stop_arg = arg;
}

void push_loop_stats_get(const struct push_loop *l,
			 struct push_loop_stats *out)
{
	*out = l->stats;
	out->pending = l->pending;
}

/* ---- the iteration, one helper per step ------------------------------------ */

/* Step 1.  A bounded FIFO pass: pop callbacks from the head of the queue
 * and run them, at most PUSH_RUN_BATCH of them.  A completion queued by one
 * of these callbacks (a write that finished at once, a cancel) joins the
 * tail and runs in this same pass, after every completion queued before it,
 * without waiting for a poll of the reactor: a hand-off from one callback
 * to another costs a queue link, not a system call.  The bound is what
 * keeps a chain of completions that keep completing at once from starving
 * the I/O: after PUSH_RUN_BATCH callbacks the loop looks at the reactor
 * (as poll's step 1 does after POLL_RUN_BATCH polls).  A callback that
 * yields (push_sleep() with delay 0) waits for a timer, and timers fire
 * only inside reactor_poll(), after its I/O edges: a yield never runs again
 * before I/O is looked at.  A request in the queue cannot leave it: QUEUED
 * requests are not cancellable (R5). */
static void loop_run_completions(struct push_loop *l)
{
	for (unsigned i = 0; i < PUSH_RUN_BATCH && l->queue_head != NULL; i++) {
		struct push_req *req = l->queue_head;

		l->queue_head = req->next;
		if (l->queue_head == NULL)
			l->queue_tail = NULL;
		req->next = NULL;
		l->stats.callbacks++;
		push__req_dispatch(req);   /* may free req */
	}
}

/* Step 2.  until: the request of push_run_until(), or NULL for "nothing
 * pending". */
static bool loop_done(const struct push_loop *l, const struct push_req *until)
{
	if (until != NULL)
		return push_req_state(until) == PUSH_REQ_DONE;
	return l->pending == 0 && l->queue_head == NULL;
}

/* The first stop, from a stop request or from quiescence (sim): run the
 * stop handler.  Returns 0, or -EINTR when there is no handler. */
static int loop_stop(struct push_loop *l)
{
	l->stop_seen = true;
	if (l->on_stop == NULL)
		return -EINTR;
	l->on_stop(l->stop_arg);
	return 0;
}

/* Step 3.  The stop flag stays set once requested; it is acted on once. */
static int loop_check_stop(struct push_loop *l)
{
	if (l->stop_seen || !reactor_stop_requested(l->r))
		return 0;
	return loop_stop(l);
}

/* Step 4.  Queued completions must not wait for I/O; otherwise block until
 * the reactor has something (a timer deadline shortens the wait inside the
 * reactor itself).  The reactor runs the engine's io, timer and offload
 * callbacks, which queue completions.  Returns 0 to go on, 1 when nothing is
 * pending or queued any more (the stop handler may have finished it all),
 * or -errno.  Under sim, -EDEADLK says nothing can ever happen again: the
 * first time, with a stop handler, that is a stop; otherwise the requests
 * still pending are stuck and the loop gives up. */
static int loop_wait_completions(struct push_loop *l);

static int loop_wait(struct push_loop *l)
{
	int64_t timeout = l->queue_head != NULL ? 0 : -1;
	int rc;

	if (l->cq != NULL)
		return loop_wait_completions(l);
	if (l->pending == 0 && l->queue_head == NULL)
		return 1;
	rc = reactor_poll(l->r, timeout);
	if (rc == -EDEADLK) {
		if (l->stop_seen || l->on_stop == NULL)
			return -EDEADLK;
		return loop_stop(l);
	}
	return rc < 0 ? rc : 0;
}

/* Step 4 in the completion mode.  Under sim completion_poll() delivers
 * the world's next step (timers included) and says -EDEADLK as
 * reactor_poll() does.  On a ring the wait is cut to the reactor's next
 * timer deadline and to PUSH_CQ_STOP_CHECK_NS, and the timers that are due
 * run after the completions (reactor_timers_run_due(): no system call).
 * Returns as loop_wait(). */
static int loop_wait_completions(struct push_loop *l)
{
	struct completion_event ev[PUSH_CQ_BATCH];
	bool sim = reactor_is_sim(l->r);
	int64_t timeout = l->queue_head != NULL ? 0 : -1;
	int n;

	if (l->pending == 0 && l->queue_head == NULL)
		return 1;
	if (!sim && timeout != 0) {
		int64_t next = reactor_timers_run_due(l->r);

		timeout = PUSH_CQ_STOP_CHECK_NS;
		if (next >= 0 && next < timeout)
			timeout = next;
	}
	n = completion_poll(l->cq, timeout, ev, PUSH_CQ_BATCH);
	if (n == -EDEADLK) {
		if (l->stop_seen || l->on_stop == NULL)
			return -EDEADLK;
		return loop_stop(l);
	}
	if (n == -EINTR)
		n = 0;
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (!(ev[i].flags & COMPLETION_MORE))
			push__cq_complete(&ev[i]);
	if (!sim)
		reactor_timers_run_due(l->r);
	return 0;
}

/* doc:begin loop-iterate */
/* One iteration.  Returns 0 to go on, 1 when the run is over (what we run
 * for is done, or nothing is pending or queued any more), or the -errno
 * that ends the run. */
static int loop_iterate(struct push_loop *l, const struct push_req *until)
{
	int rc;

	l->stats.iterations++;
	loop_run_completions(l);                        /* 1 */
	if (loop_done(l, until))                        /* 2 */
		return 1;
	rc = loop_check_stop(l);                        /* 3 */
	if (rc < 0)
		return rc;
	return loop_wait(l);                            /* 4 */
}
/* doc:end loop-iterate */

static int loop_run_until(struct push_loop *l, const struct push_req *until)
{
	int rc = 0;

	if (loop_done(l, until))
		return 0;
	assert(!l->running && "the loop is not reentrant");
	l->running = true;
	while (rc == 0)
		rc = loop_iterate(l, until);
	l->running = false;
	return rc < 0 ? rc : 0;
}

int push_loop_run(struct push_loop *l)
{
	return loop_run_until(l, NULL);
}

int push_run_until(struct push_loop *l, struct push_req *req)
{
	return loop_run_until(l, req);
}
