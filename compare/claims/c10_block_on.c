/* c10_block_on.c: claim C10, blocking on an asynchronous result.
 *
 * "Once everything is async, blocking on an async result is trivial: a
 * small executor runs until one future is done."
 *
 * The experiment: plain synchronous code calls, again and again, the
 * engine's blocking wrapper around one asynchronous operation (a sleep of
 * 0 ns: one wake of the reactor):
 *
 *   poll  poll_sleep_init() on the stack, then poll_block_on(): the task
 *         header lives in block_on's frame, nothing is allocated;
 *   push  push_sleep() with a handle, then push_run_until(), then
 *         push_req_unref().
 *
 * Against it, the same operation awaited inside a loop that is already
 * running (a task that sleeps N times; a callback that starts the next
 * sleep N times): the price of the blocking wrapper is the difference.
 * Nanoseconds per call are medians of several runs; allocations come from
 * the mem counters.
 */
#include "claims.h"

#include <errno.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "poll.h"
#include "push.h"

/* "Trivial": the wrapper costs at most this many times the operation
 * awaited in a running loop. */
#define C10_FACTOR 2.0

/* The rule.  In an engine, blocking is trivial when every call returned
 * the operation's result, a call costs at most C10_FACTOR times the same
 * operation awaited inside a running loop, and it allocates nothing more
 * than that operation does (within 0.05 per call).  Both engines: holds.
 * One: holds only for that engine.  Neither: does not hold. */
void c10_verdict(const struct c10_figures *f, struct claim_verdict *v)
{
	bool ok[CLAIMS_NMODELS];
	char figs[220];

	for (int m = 0; m < CLAIMS_NMODELS; m++)
		ok[m] = f->ok[m] && f->ns_inloop[m] > 0 &&
			f->ns_call[m] <= C10_FACTOR * f->ns_inloop[m] &&
			f->allocs_call[m] <= f->allocs_inloop[m] + 0.05;
	snprintf(figs, sizeof(figs),
		 "per call: poll %.0f ns, %.2f allocs (in a running loop %.0f "
		 "ns, %.2f); push %.0f ns, %.2f allocs (in a loop %.0f ns, "
		 "%.2f)", f->ns_call[CLAIMS_POLL], f->allocs_call[CLAIMS_POLL],
		 f->ns_inloop[CLAIMS_POLL], f->allocs_inloop[CLAIMS_POLL],
		 f->ns_call[CLAIMS_PUSH], f->allocs_call[CLAIMS_PUSH],
		 f->ns_inloop[CLAIMS_PUSH], f->allocs_inloop[CLAIMS_PUSH]);
	if (ok[CLAIMS_PUSH] && ok[CLAIMS_POLL])
		claim_verdict_set(v, CLAIM_HOLDS, "%s", figs);
	else if (ok[CLAIMS_PUSH] || ok[CLAIMS_POLL])
		claim_verdict_set(v, CLAIM_PARTLY, "for %s only: %s",
				  ok[CLAIMS_POLL] ? "poll's block_on"
						  : "push's run-until", figs);
	else
		claim_verdict_set(v, CLAIM_FAILS, "%s", figs);
}

/* ---- push ---------------------------------------------------------------- */

static int push_call_once(struct push_loop *l)
{
	struct push_req *req;
	int rc = push_sleep(l, 0, NULL, NULL, NULL, &req);

	if (rc < 0)
		return rc;
	rc = push_run_until(l, req);
	if (rc == 0 && push_req_result(req) != 0)
		rc = -EIO;
	push_req_unref(req);
	return rc;
}

struct push_repeat {
	struct push_loop *l;
	unsigned left;
	int err;
};

static void push_repeat_cb(void *data, ssize_t result)
{
	struct push_repeat *pr = data;
	int rc;

	if (result != 0)
		pr->err = -EIO;
	if (pr->err != 0 || --pr->left == 0)
		return;
	rc = push_sleep(pr->l, 0, NULL, push_repeat_cb, pr, NULL);
	if (rc < 0)
		pr->err = rc;
}

/* ns and allocations per operation, n operations, either way. */
static int push_measure(struct reactor *r, bool blocking, unsigned n,
			double *ns, double *allocs)
{
	const struct push_config idiomatic = { 0 };
	struct push_loop loop, *l = &loop;
	struct push_repeat pr = { .l = l, .left = n };
	struct mem_stats m0, m1;
	uint64_t t0;
	int rc = push_loop_init(l, r, NULL, &idiomatic);

	if (l == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < 10 && rc == 0; i++)
		rc = push_call_once(l);
	mem_stats_get(&m0);
	t0 = clock_now_ns();
	if (!blocking) {
		rc = push_sleep(l, 0, NULL, push_repeat_cb, &pr, NULL);
		if (rc == 0)
			rc = push_loop_run(l);
		if (rc == 0)
			rc = pr.err;
	} else {
		for (unsigned i = 0; i < n && rc == 0; i++)
			rc = push_call_once(l);
	}
	*ns = (double)(clock_now_ns() - t0) / n;
	mem_stats_get(&m1);
	*allocs = (double)(m1.allocs - m0.allocs) / n;
	push_loop_fini(l);
	return rc;
}

/* ---- poll ---------------------------------------------------------------- */

static int poll_call_once(struct poll_loop *l)
{
	struct poll_sleep s;
	int rc;

	poll_sleep_init(&s, l, 0);
	rc = poll_block_on(l, &s.base);
	return rc == 0 && s.base.out != 0 ? -EIO : rc;
}

/* A task that sleeps `left` times: its sleep held by value. */
struct poll_repeat {
	struct poll_future base;
	struct poll_loop *loop;
	unsigned left;
	bool live;
	struct poll_sleep s;
};

static enum poll_status repeat_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_repeat *pr = (struct poll_repeat *)f;

	for (;;) {
		if (!pr->live) {
			poll_sleep_init(&pr->s, pr->loop, 0);
			pr->live = true;
		}
		if (poll_future_poll(&pr->s.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		poll_future_drop(&pr->s.base);
		pr->live = false;
		if (pr->s.base.out != 0 || --pr->left == 0) {
			f->out = pr->s.base.out;
			return POLL_READY;
		}
	}
}

static void repeat_drop(struct poll_future *f)
{
	struct poll_repeat *pr = (struct poll_repeat *)f;

	if (pr->live)
		poll_future_drop(&pr->s.base);
	pr->live = false;
}

static const struct poll_future_vt repeat_vt = {
	.name = "repeat",
	.poll = repeat_poll,
	.drop = repeat_drop,
};

static int poll_measure(struct reactor *r, bool blocking, unsigned n,
			double *ns, double *allocs)
{
	struct poll_repeat pr;
	struct mem_stats m0, m1;
	struct poll_loop loop;
	struct poll_task *t;
	ssize_t out = -1;
	uint64_t t0;
	int rc = 0;

	poll_loop_init(&loop, r, NULL, NULL);
	for (unsigned i = 0; i < 10 && rc == 0; i++)
		rc = poll_call_once(&loop);
	mem_stats_get(&m0);
	t0 = clock_now_ns();
	if (!blocking) {
		pr = (struct poll_repeat){ .base = { .vt = &repeat_vt },
					   .loop = &loop, .left = n };
		rc = poll_spawn(&loop, &pr.base, sizeof(pr), &t);
		if (rc == 0) {
			rc = poll_loop_run(&loop);
			if (rc == 0 && (poll_task_result(t, &out) != 0 ||
					out != 0))
				rc = -EIO;
			poll_task_detach(t);
		}
	} else {
		for (unsigned i = 0; i < n && rc == 0; i++)
			rc = poll_call_once(&loop);
	}
	*ns = (double)(clock_now_ns() - t0) / n;
	mem_stats_get(&m1);
	*allocs = (double)(m1.allocs - m0.allocs) / n;
	poll_loop_fini(&loop);
	return rc;
}

/* ---- the experiment ----------------------------------------------------------- */

#define C10_MAX_RUNS 7

int c10_measure(const struct claims_ctx *cx, struct c10_figures *f)
{
	int (*const measure[CLAIMS_NMODELS])(struct reactor *, bool, unsigned,
					     double *, double *) = {
		[CLAIMS_PUSH] = push_measure, [CLAIMS_POLL] = poll_measure,
	};
	unsigned runs = cx->quick ? 3 : C10_MAX_RUNS, n = cx->quick ? 300 : 3000;
	double call[CLAIMS_NMODELS][C10_MAX_RUNS], loop[CLAIMS_NMODELS][C10_MAX_RUNS];
	struct reactor *r;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	r = reactor_new_epoll();
	if (r == NULL)
		return -errno;
	for (unsigned k = 0; k < runs && rc == 0; k++) {
		for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++) {
			rc = measure[m](r, true, n, &call[m][k],
					&f->allocs_call[m]);
			if (rc == 0)
				rc = measure[m](r, false, n, &loop[m][k],
						&f->allocs_inloop[m]);
		}
	}
	reactor_free(r);
	if (rc < 0)
		return rc;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		f->ok[m] = true;
		f->ns_call[m] = claims_median(call[m], runs);
		f->ns_inloop[m] = claims_median(loop[m], runs);
	}
	return 0;
}

int c10_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c10_figures f;
	int rc;

	rc = c10_measure(cx, &f);
	if (rc < 0)
		return rc;
	c10_verdict(&f, &row->verdict);
	snprintf(row->push, sizeof(row->push),
		 "push_run_until %.0f ns and %.2f allocs per call (in a "
		 "running loop: %.0f ns, %.2f)", f.ns_call[CLAIMS_PUSH],
		 f.allocs_call[CLAIMS_PUSH], f.ns_inloop[CLAIMS_PUSH],
		 f.allocs_inloop[CLAIMS_PUSH]);
	snprintf(row->poll, sizeof(row->poll),
		 "poll_block_on %.0f ns and %.2f allocs per call (in a "
		 "running loop: %.0f ns, %.2f)", f.ns_call[CLAIMS_POLL],
		 f.allocs_call[CLAIMS_POLL], f.ns_inloop[CLAIMS_POLL],
		 f.allocs_inloop[CLAIMS_POLL]);

	claims_json_begin(cx->json, "figures");
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_num(cx->json, "ns_per_call", f.ns_call[m]);
		claims_json_num(cx->json, "allocs_per_call", f.allocs_call[m]);
		claims_json_num(cx->json, "ns_per_op_in_loop", f.ns_inloop[m]);
		claims_json_num(cx->json, "allocs_per_op_in_loop",
				f.allocs_inloop[m]);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
