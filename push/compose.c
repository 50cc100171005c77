/* compose.c: composition in the callback style: sequence, join, race,
 * timeout.
 *
 * A composition is a request of its own (so it has a callback, a handle,
 * and can be cancelled and composed like a leaf) plus a state block on the
 * heap that its inner callbacks share.  The inner operations run under the
 * composition's own token, `inner`: cancelling the composition cancels that
 * token, and the composition calls back only when every inner operation has
 * called back, so the state block is freed exactly when the composition
 * completes and no inner callback can find it gone.
 *
 * What it costs, counted by the allocations of a composition of D leaf
 * operations (claim C1):
 *
 *   push_seq      1 request + 1 state + D continuations + D leaf requests
 *   push_join     1 request + 1 state + N leaf requests (branches are the
 *   push_race     caller's: each branch is its own continuation)
 *   push_timeout  1 request + 1 state (with its timer) + 1 leaf request
 *
 * A continuation per step is what callback code allocates when it chains:
 * each step's callback needs the context of "the rest of the chain", and
 * that context has to live on the heap until the step calls back.
 */
#include "push_impl.h"
#include "container_of.h"
#include "mem.h"

#include <errno.h>
#include <stddef.h>

/* ---- what every composition shares ---------------------------------------------- */

/* The composition's cancel: cancel the inner operations.  The request stays
 * PENDING; comp_finish() queues -ECANCELED once they have called back. */
static void comp_cancel(struct push_req *req)
{
	push_token_cancel(&req->u.comp->inner);
}

/* The composition's request, linked to its state c.  Returns 0 or -errno
 * (nothing to undo). */
static int comp_start(struct push_loop *l, struct push__comp *c,
		      struct push_token *tok, push_cb cb, void *data,
		      struct push_req **reqp)
{
	struct push_req *req;

	if (tok != NULL && tok->cancelled)
		return -ECANCELED;
	req = push__req_new(l, tok, cb, data, reqp, comp_cancel);
	if (req == NULL)
		return -ENOMEM;
	req->u.comp = c;
	c->req = req;
	push_token_init(&c->inner, NULL);
	return 0;
}

/* Undo comp_start() for a composition that could not start: no callback. */
static void comp_abort(struct push__comp *c, struct push_req **reqp)
{
	push_token_destroy(&c->inner);
	push__req_abort(c->req, reqp);
	c->req = NULL;
}

/* Every inner operation has called back: queue the result and unlink the
 * state (the caller frees it).  The result is the one the inner operations
 * decided, even if the composition was cancelled meanwhile: a cancel that
 * came after the last inner operation completed is too late, as for a leaf
 * whose completion is queued (R5), and its bytes must not be lost.  The
 * callers turn a composition cut short by the cancel into -ECANCELED. */
static void comp_finish(struct push__comp *c, ssize_t result)
{
	struct push_req *req = c->req;

	req->u.comp = NULL;
	c->req = NULL;
	push_token_destroy(&c->inner);
	push__req_complete(req, result);
}

/* ---- sequence: a continuation per step ------------------------------------------- */

struct seq {
	struct push__comp c;            /* first */
	struct push_loop *l;
	const push_step_fn *steps;
	unsigned n;
	void *arg;
};

/* The continuation of one step: allocated when the step starts, freed when
 * it calls back.  Small, but one heap object per level of the chain. */
struct seq_cont {
	struct seq *seq;
	unsigned step;
};

static void seq_step_done(void *data, ssize_t result);

/* Start step i.  Returns PUSH_STARTED or -errno (continuation freed). */
static int seq_start_step(struct seq *sq, unsigned i, ssize_t prev)
{
	struct seq_cont *k = mem_alloc(sizeof(*k));
	int rc;

	if (k == NULL)
		return -ENOMEM;
	k->seq = sq;
	k->step = i;
	rc = sq->steps[i](sq->l, sq->arg, prev, &sq->c.inner, seq_step_done, k);
	if (rc < 0)
		mem_free(k);
	return rc;
}

static void seq_finish(struct seq *sq, ssize_t result)
{
	comp_finish(&sq->c, result);
	mem_free(sq);
}

/* Step k called back: free its continuation, then finish, or start the
 * next step with the result. */
static void seq_step_done(void *data, ssize_t result)
{
	struct seq_cont *k = data;
	struct seq *sq = k->seq;
	unsigned next = k->step + 1;
	int rc;

	push__callback_begins();        /* R2, counted */
	mem_free(k);
	if (result < 0 || next == sq->n) {
		seq_finish(sq, result);         /* the last step's result wins */
		return;
	}
	if (sq->c.req->cancelled) {
		seq_finish(sq, -ECANCELED);     /* cut short: steps left */
		return;
	}
	rc = seq_start_step(sq, next, result);
	if (rc < 0)
		seq_finish(sq, rc);
}

int push_seq(struct push_loop *l, const push_step_fn *steps, unsigned n,
	     void *arg, struct push_token *tok, push_cb cb, void *data,
	     struct push_req **reqp)
{
	struct seq *sq;
	int rc;

	if (reqp != NULL)
		*reqp = NULL;
	if (n == 0)
		return -EINVAL;
	sq = mem_alloc(sizeof(*sq));
	if (sq == NULL)
		return -ENOMEM;
	sq->l = l;
	sq->steps = steps;
	sq->n = n;
	sq->arg = arg;
	rc = comp_start(l, &sq->c, tok, cb, data, reqp);
	if (rc < 0)
		goto out_free_state;
	rc = seq_start_step(sq, 0, 0);
	if (rc < 0)
		goto out_abort;
	return PUSH_STARTED;

out_abort:
	comp_abort(&sq->c, reqp);
out_free_state:
	mem_free(sq);
	return rc;
}

/* ---- join and race: N branches at once --------------------------------------------- */

struct push__nary {
	struct push__comp c;            /* first */
	struct push_branch *b;
	unsigned n;
	unsigned left;       /* branches not called back, +1 while starting */
	int winner;          /* race: the first branch to call back, or -1 */
	bool race;
};

static void nary_finish(struct push__nary *nr)
{
	ssize_t result = 0;

	if (nr->race) {
		/* The first branch to call back wins; if it called back with
		 * -ECANCELED, the race was cancelled before anything won. */
		result = nr->b[nr->winner].result == -ECANCELED &&
			 nr->c.req->cancelled ? -ECANCELED : nr->winner;
	} else {
		for (unsigned i = 0; i < nr->n; i++) {
			if (nr->b[i].result < 0) {
				result = nr->b[i].result;
				break;
			}
		}
	}
	comp_finish(&nr->c, result);
	mem_free(nr);
}

/* A branch called back (or failed to start).  In a race the first one
 * wins and cancels the rest; the race still waits for their callbacks. */
static void nary_branch_done(void *data, ssize_t result)
{
	struct push_branch *b = data;
	struct push__nary *nr = b->owner;

	push__callback_begins();        /* R2, counted */
	b->result = result;
	if (nr->race && nr->winner < 0) {
		nr->winner = (int)(b - nr->b);
		push_token_cancel(&nr->c.inner);
	}
	if (--nr->left == 0)
		nary_finish(nr);
}

static int nary_start(struct push_loop *l, struct push_branch *b, unsigned n,
		      bool race, struct push_token *tok, push_cb cb,
		      void *data, struct push_req **reqp)
{
	struct push__nary *nr;
	int rc;

	if (reqp != NULL)
		*reqp = NULL;
	if (n == 0)
		return -EINVAL;
	nr = mem_alloc(sizeof(*nr));
	if (nr == NULL)
		return -ENOMEM;
	nr->b = b;
	nr->n = n;
	nr->left = n + 1;    /* the +1 keeps nr alive through the loop below */
	nr->winner = -1;
	nr->race = race;
	rc = comp_start(l, &nr->c, tok, cb, data, reqp);
	if (rc < 0) {
		mem_free(nr);
		return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		b[i].owner = nr;
		b[i].result = 0;
	}
	/* A branch that cannot start completes at once with its error (and,
	 * in a race, wins: the rest then fail to start with -ECANCELED).
	 * Either way the composition's own callback waits for the loop. */
	for (unsigned i = 0; i < n; i++) {
		rc = b[i].start(l, b[i].arg, &nr->c.inner, nary_branch_done,
				&b[i]);
		if (rc < 0)
			nary_branch_done(&b[i], rc);
	}
	if (--nr->left == 0)
		nary_finish(nr);
	return PUSH_STARTED;
}

int push_join(struct push_loop *l, struct push_branch *b, unsigned n,
	      struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp)
{
	return nary_start(l, b, n, false, tok, cb, data, reqp);
}

int push_race(struct push_loop *l, struct push_branch *b, unsigned n,
	      struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp)
{
	return nary_start(l, b, n, true, tok, cb, data, reqp);
}

/* ---- timeout: an operation and a timer ---------------------------------------------- */

struct tmo {
	struct push__comp c;            /* first */
	struct push_loop *l;
	struct reactor_timer timer;     /* embedded: no sleep request */
	bool expired;
};

/* The deadline passed: cancel the operation; its callback reports. */
static void tmo_expired(struct reactor_timer *t)
{
	struct tmo *tm = container_of(t, struct tmo, timer);

	tm->expired = true;
	push_token_cancel(&tm->c.inner);
}

static void tmo_op_done(void *data, ssize_t result)
{
	struct tmo *tm = data;

	push__callback_begins();        /* R2, counted */
	reactor_timer_stop(tm->l->r, &tm->timer);
	if (tm->expired && result == -ECANCELED)
		result = -ETIMEDOUT;
	comp_finish(&tm->c, result);
	mem_free(tm);
}

int push_timeout(struct push_loop *l, uint64_t ns, push_start_fn start,
		 void *arg, struct push_token *tok, push_cb cb, void *data,
		 struct push_req **reqp)
{
	struct tmo *tm;
	int rc;

	if (reqp != NULL)
		*reqp = NULL;
	tm = mem_alloc(sizeof(*tm));
	if (tm == NULL)
		return -ENOMEM;
	tm->l = l;
	tm->timer = (struct reactor_timer){ 0 };
	tm->expired = false;
	rc = comp_start(l, &tm->c, tok, cb, data, reqp);
	if (rc < 0)
		goto out_free_state;
	rc = start(l, arg, &tm->c.inner, tmo_op_done, tm);
	if (rc < 0)
		goto out_abort;
	reactor_timer_start(l->r, &tm->timer, ns, tmo_expired);
	return PUSH_STARTED;

out_abort:
	comp_abort(&tm->c, reqp);
out_free_state:
	mem_free(tm);
	return rc;
}
