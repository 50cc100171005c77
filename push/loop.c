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
 *   1. loop_run_completions()  run the callbacks queued before this step
 *   2. loop_check_stop()       a stop request is seen once
 *   3. loop_wait_time()        0 if completions are queued, else no limit
 *   4. loop_poll()             the reactor's callbacks queue completions
 */
#include "push_impl.h"
#include "mem.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* ---- settings ------------------------------------------------------------ */

static struct push_policy default_policy; /* idiomatic, no fast path */

void push_policy_set(const struct push_policy *p)
{
	default_policy = *p;
}

struct push_policy push_policy_get(void)
{
	return default_policy;
}

/* ---- life ---------------------------------------------------------------- */

struct push_loop *push_loop_new(struct reactor *r, struct offload *o,
				const struct push_policy *p)
{
	struct push_loop *l = mem_alloc(sizeof(*l));

	if (l == NULL)
		return NULL;
	memset(l, 0, sizeof(*l));
	l->r = r;
	l->o = o;
	l->policy = p != NULL ? *p : default_policy;
	return l;
}

void push_loop_free(struct push_loop *l)
{
	if (l == NULL)
		return;
	assert(l->pending == 0 && "push_loop_free with requests pending");
	assert(l->live_reqs == 0 && "push_loop_free with handles not dropped");
	push__req_pool_free(l);
	mem_free(l);
}

struct reactor *push_loop_reactor(const struct push_loop *l)
{
	return l->r;
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

/* ---- the steps ------------------------------------------------------------ */

/* Step 1.  Detach the whole queue first and run only that batch:
 * completions queued by these callbacks (a write that finished at once, a
 * cancel) go to the fresh queue and wait for the next iteration, after a
 * poll of the reactor.  So a connection whose operations keep completing at
 * once cannot starve the others.  A request in the batch cannot leave it:
 * QUEUED requests are not cancellable (R5). */
static void loop_run_completions(struct push_loop *l)
{
	struct push_req *req = l->queue_head;

	l->queue_head = l->queue_tail = NULL;
	while (req != NULL) {
		struct push_req *next = req->next;
		l->stats.callbacks++;
		push__req_dispatch(req);   /* may free req */
		req = next;
	}
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

/* Step 2.  The stop flag stays set once requested; it is acted on once. */
static int loop_check_stop(struct push_loop *l)
{
	if (l->stop_seen || !reactor_stop_requested(l->r))
		return 0;
	return loop_stop(l);
}

/* Step 3.  Queued completions must not wait for I/O; otherwise block until
 * the reactor has something (a timer deadline shortens the wait inside the
 * reactor itself). */
static int64_t loop_wait_time(const struct push_loop *l)
{
	return l->queue_head != NULL ? 0 : -1;
}

/* Step 4.  The reactor runs the engine's io, timer and offload callbacks,
 * which queue completions.  Under sim, -EDEADLK says nothing can ever
 * happen again: the first time, that is a stop; after the stop handler has
 * run, the requests still pending are stuck and the loop gives up. */
static int loop_poll(struct push_loop *l, int64_t timeout_ns)
{
	int rc = reactor_poll(l->r, timeout_ns);

	if (rc == -EDEADLK) {
		if (l->stop_seen)
			return -EDEADLK;
		return loop_stop(l);
	}
	return rc < 0 ? rc : 0;
}

/* doc:begin loop-iterate */
/* One iteration.  Returns 0 to go on, 1 when the run is over (done() says
 * the caller's goal is reached, or nothing is pending or queued any more),
 * or the -errno that ends the run.  done() is checked after step 1, the
 * only step that runs callbacks. */
static int loop_iterate(struct push_loop *l, bool (*done)(void *), void *arg)
{
	int rc;

	l->stats.iterations++;
	loop_run_completions(l);                        /* 1 */
	if (done(arg))
		return 1;
	rc = loop_check_stop(l);                        /* 2 */
	if (rc < 0)
		return rc;
	if (l->pending == 0 && l->queue_head == NULL)
		return 1;       /* the stop handler may have finished it all */
	return loop_poll(l, loop_wait_time(l));         /* 3, 4 */
}
/* doc:end loop-iterate */

static int loop_run_while(struct push_loop *l, bool (*done)(void *),
			  void *arg)
{
	int rc = 0;

	assert(!l->running && "the loop is not reentrant");
	l->running = true;
	while (rc == 0)
		rc = loop_iterate(l, done, arg);
	l->running = false;
	return rc < 0 ? rc : 0;
}

static bool nothing_pending(void *arg)
{
	struct push_loop *l = arg;

	return l->pending == 0 && l->queue_head == NULL;
}

int push_loop_run(struct push_loop *l)
{
	if (nothing_pending(l))
		return 0;
	return loop_run_while(l, nothing_pending, l);
}

static bool req_done(void *arg)
{
	return push_req_state(arg) == PUSH_REQ_DONE;
}

int push_run_until(struct push_loop *l, struct push_req *req)
{
	if (req_done(req))
		return 0;
	return loop_run_while(l, req_done, req);
}
