/* loop.c: the executor.  Single-threaded, one FIFO run queue, no allocation.
 *
 * One iteration of poll_loop_run() / poll_block_on(), one helper per step:
 *
 *   1. poll_loop_run_ready  pop tasks from the head of the run queue and
 *                           poll each once, at most POLL_RUN_BATCH of them,
 *                           never a task that yielded in this same step
 *   2. loop_done            stop if what we run for is done: the future of
 *                           poll_block_on, or (poll_loop_run) every task
 *   3. loop_check_stop      a stop request is acted on once
 *   4. loop_wait            reactor_poll(): wait for edges, timers and
 *                           offload completions, which fire wakers, which
 *                           queue tasks; do not wait if tasks are queued.
 *                           Over a completion queue, completion_poll()
 *                           instead (poll__loop_cq_wait, io_completion.c)
 *
 * Step 1 is bounded so that a set of tasks that keep waking one another
 * cannot keep the loop from looking at I/O (tokio checks I/O every 61 polls
 * for the same reason).  Inside one task, the cooperative budget plays the
 * same role: it bounds the work of one poll.
 *
 * What a production executor would do differently: a LIFO slot for the task
 * just woken (better cache locality for request/response), and timers kept
 * by the executor rather than by the reactor.  Many threads, with atomic
 * task states, are the other executor's (workers.c; claim C9).
 */
#include "poll_impl.h"
#include "container_of.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Tasks polled by step 1 before the loop looks at I/O again. */
#define POLL_RUN_BATCH 64

/* ---- settings ------------------------------------------------------------ */

static struct poll_config config = {
	.budget = POLL_BUDGET_DEFAULT,
	.static_tasks = 0,
};

void poll_config_set(const struct poll_config *c)
{
	config = *c;
}

struct poll_config poll_config_get(void)
{
	return config;
}

/* ---- life ---------------------------------------------------------------- */

int poll_loop_init(struct poll_loop *l, struct reactor *r, struct offload *o,
		   const struct poll_config *c)
{
	memset(l, 0, sizeof(*l));
	l->r = r;
	l->o = o;
	l->config = c != NULL ? *c : config;
	return 0;
}

int poll_loop_init_completion(struct poll_cq_loop *cl, struct reactor *r,
			      struct completion *cq,
			      const struct poll_config *c)
{
	int rc = poll_loop_init(&cl->loop, r, NULL, c);

	cl->loop.over_cq = true;
	cl->cq = cq;
	memset(&cl->stats, 0, sizeof(cl->stats));
	cl->free_ops = NULL;
	cl->orphans = NULL;
	cl->ring_group = 0;
	cl->ring_count = 0;
	cl->ring_size = 0;
	cl->ring_lent = 0;
	cl->starved = cl->starved_tail = NULL;
	return rc;
}

struct poll_cq_loop *poll_cq_loop_of(struct poll_loop *l)
{
	return container_of(l, struct poll_cq_loop, loop);
}

void poll_loop_fini(struct poll_loop *l)
{
	struct poll_task *t;

	assert(l->current == NULL && "poll_loop_fini inside a task");
	/* Abort every live task (a drop may abort or even spawn others:
	 * loop until the list stays empty), then empty the queue of the
	 * DONE tasks still in it, which gives their references back. */
	while (l->live != NULL)
		poll_task_abort(l->live);
	while ((t = poll__task_dequeue(l)) != NULL)
		poll__task_run(t);
	if (l->over_cq)                 /* the kernel's last word (C6) */
		poll__loop_cq_drain(poll_cq_loop_of(l));
}

void poll_loop_on_stop(struct poll_loop *l, void (*fn)(void *arg), void *arg)
{
	l->on_stop = fn;
	l->stop_arg = arg;
}

void poll_loop_stats_get(const struct poll_loop *l,
			 struct poll_loop_stats *out)
{
	*out = l->stats;
}

/* ---- the iteration, one helper per step ------------------------------------ */

/* Step 1.  A task woken by another task during this step is polled in this
 * same step if the batch is not used up, after those queued before it
 * (FIFO).  A task that woke itself (it yielded, or its budget was spent)
 * sets the yield fence: the step ends when the fence reaches the head of the
 * queue, so the reactor is polled before the yielding task runs again, as
 * tokio defers yield_now().  Without the fence a task that yields would be
 * polled again at once, up to the whole batch, and yielding would not let
 * the connections waiting for I/O run (claim C5). */
unsigned poll_loop_run_ready(struct poll_loop *l)
{
	struct poll_task *t;
	unsigned i;

	assert(l->current == NULL && "poll_loop_run_ready inside a task");
	l->yield_fence = NULL;
	for (i = 0; i < POLL_RUN_BATCH; i++) {
		if (l->ready_head == NULL || l->ready_head == l->yield_fence)
			break;
		t = poll__task_dequeue(l);
		poll__task_run(t);
	}
	l->yield_fence = NULL;
	return i;
}

/* Step 2.  until: the task of poll_block_on, or NULL for "every task". */
static bool loop_done(const struct poll_loop *l, const struct poll_task *until)
{
	if (until != NULL)
		return until->state & POLL_TASK_DONE;
	return l->nlive == 0;
}

/* The first stop, from a stop request or from quiescence (sim): run the
 * stop handler.  Returns 0, or -EINTR when there is no handler. */
static int loop_stop(struct poll_loop *l)
{
	l->stop_seen = true;
	if (l->on_stop == NULL)
		return -EINTR;
	l->on_stop(l->stop_arg);
	return 0;
}

/* Step 3.  The stop flag stays set once requested; it is acted on once. */
static int loop_check_stop(struct poll_loop *l)
{
	if (l->stop_seen || !reactor_stop_requested(l->r))
		return 0;
	return loop_stop(l);
}

/* Step 4.  Block only when no task is queued.  The reactor's callbacks
 * fire wakers, which queue tasks.  Returns 0 to go on, or -errno.  Under
 * sim, -EDEADLK with no task queued says nothing can ever happen again, so
 * no task can ever be woken: the first time, with a stop handler, that is a
 * stop; otherwise the tasks left are stuck and the loop gives up. */
static int loop_wait(struct poll_loop *l)
{
	int64_t timeout = l->ready_head != NULL ? 0 : -1;
	int n = reactor_poll(l->r, timeout);

	if (n == -EDEADLK && l->ready_head == NULL) {
		if (l->stop_seen || l->on_stop == NULL)
			return -EDEADLK;
		return loop_stop(l);
	}
	return n < 0 ? n : 0;
}

/* Step 4 over a completion queue (struct poll_cq_loop): the same, with
 * completion_poll() in place of reactor_poll() (poll__loop_cq_wait(),
 * io_completion.c). */
static int loop_wait_cq(struct poll_loop *l)
{
	int64_t timeout = l->ready_head != NULL ? 0 : -1;
	int n = poll__loop_cq_wait(poll_cq_loop_of(l), timeout);

	if (n == -EDEADLK && l->ready_head == NULL) {
		if (l->stop_seen || l->on_stop == NULL)
			return -EDEADLK;
		return loop_stop(l);
	}
	return n < 0 ? n : 0;
}

/* doc:begin loop-run */
/* Returns 0 when what we run for is done, or the -errno that ends the run. */
static int loop_run_until(struct poll_loop *l, const struct poll_task *until)
{
	int rc;

	for (;;) {
		l->stats.iterations++;
		poll_loop_run_ready(l);                 /* 1 */
		if (loop_done(l, until))                /* 2 */
			return 0;
		rc = loop_check_stop(l);                /* 3 */
		if (rc < 0)
			return rc;
		rc = loop_wait(l);                      /* 4 */
		if (rc < 0)
			return rc;
	}
}
/* doc:end loop-run */

/* The same four steps over a completion queue.  A loop of its own rather
 * than a test in step 4, so that the loop over readiness pays nothing per
 * iteration for the other one (claim C2 counts its instructions). */
static int loop_run_until_cq(struct poll_loop *l,
			     const struct poll_task *until)
{
	int rc;

	for (;;) {
		l->stats.iterations++;
		poll_loop_run_ready(l);                 /* 1 */
		if (loop_done(l, until))                /* 2 */
			return 0;
		rc = loop_check_stop(l);                /* 3 */
		if (rc < 0)
			return rc;
		rc = loop_wait_cq(l);                   /* 4 */
		if (rc < 0)
			return rc;
	}
}

int poll_loop_run(struct poll_loop *l)
{
	assert(l->current == NULL && "poll_loop_run inside a task");
	if (l->over_cq)
		return loop_run_until_cq(l, NULL);
	return loop_run_until(l, NULL);
}

/* The task header lives in this frame, and the future stays where the
 * caller put it: block_on allocates nothing.  The header must be gone from
 * every list and slot before the frame is: the future is READY or dropped
 * (R2: it holds no waker then), and the header is taken out of the run
 * queue if it was still in it. */
int poll_block_on(struct poll_loop *l, struct poll_future *f)
{
	struct poll_task t;
	int err;

	assert(l->current == NULL && "poll_block_on inside a task");
	poll__task_start(l, &t, f, NULL, NULL);
	t.refs++;                               /* block_on's own */
	err = l->over_cq ? loop_run_until_cq(l, &t) : loop_run_until(l, &t);
	if (err != 0) {
		poll_task_abort(&t);            /* not running: drops f now */
		poll__task_unqueue(l, &t);
	}
	assert(t.refs == 1 && "a waker outlived its future");
	return err;
}
