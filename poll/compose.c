/* compose.c: combinators: sequence, join of N, race of N (losers dropped),
 * timeout.
 *
 * A combinator is a future whose children are futures.  It adds no
 * allocation: it lives by value in its parent, and so do its children
 * (poll.h says why it holds them through pointers).  Composition is
 * therefore free in memory, and costs one more level of function calls on
 * every poll: a wake re-polls from the top of the task down to the leaf
 * that can make progress (claim C2 measures that price).
 *
 * The one rule all three keep: a child is dropped exactly when the
 * combinator stops needing it (its output taken, or it lost), and the
 * combinator's own drop drops every child still held.  That is all that
 * cancellation takes in this model.
 */
#include "poll_impl.h"

#include <errno.h>

/* ---- sequence ----------------------------------------------------------------- */

/* What push_seq allocates per step (a continuation), the sequence keeps in
 * its one slot: the step in flight is the only one that exists. */
static enum poll_status seq_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_seq *s = (struct poll_seq *)f;
	ssize_t prev = 0;

	if (s->i == s->n) {             /* n == 0: nothing to await */
		f->out = 0;
		return POLL_READY;
	}
	for (;;) {
		if (s->cur == NULL)
			s->cur = s->step(s->arg, s->i, prev, s->slot);
		if (poll_future_poll(s->cur, cx) == POLL_PENDING)
			return POLL_PENDING;
		prev = s->cur->out;
		poll_future_drop(s->cur);
		s->cur = NULL;
		if (prev < 0 || ++s->i == s->n)
			break;
	}
	s->i = s->n;
	f->out = prev;
	return POLL_READY;
}

static void seq_drop(struct poll_future *f)
{
	struct poll_seq *s = (struct poll_seq *)f;

	if (s->cur != NULL)
		poll_future_drop(s->cur);
	s->cur = NULL;
	s->i = s->n;
}

static const struct poll_future_vt seq_vt = {
	.name = "seq",
	.poll = seq_poll,
	.drop = seq_drop,
};

void poll_seq_init(struct poll_seq *s, poll_step_fn step, unsigned n,
		   void *arg, void *slot)
{
	s->base.vt = &seq_vt;
	s->base.out = 0;
	s->step = step;
	s->arg = arg;
	s->slot = slot;
	s->cur = NULL;
	s->n = n;
	s->i = 0;
}

/* ---- join of N ------------------------------------------------------------- */

static enum poll_status join_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_join *j = (struct poll_join *)f;

	for (unsigned i = 0; i < j->n && j->left > 0; i++) {
		struct poll_future *c = j->child[i];

		if (c == NULL || poll_future_poll(c, cx) == POLL_PENDING)
			continue;
		/* Done: its output stays in c->out; what it still holds goes.
		 * The join's output is the first error in child order. */
		if (c->out < 0 && i < j->err_at) {
			j->err_at = i;
			f->out = c->out;
		}
		poll_future_drop(c);
		j->child[i] = NULL;
		j->left--;
	}
	if (j->left > 0)
		return POLL_PENDING;
	return POLL_READY;
}

static void join_drop(struct poll_future *f)
{
	struct poll_join *j = (struct poll_join *)f;

	for (unsigned i = 0; i < j->n; i++) {
		if (j->child[i] == NULL)
			continue;
		poll_future_drop(j->child[i]);
		j->child[i] = NULL;
	}
	j->left = 0;
}

static const struct poll_future_vt join_vt = {
	.name = "join",
	.poll = join_poll,
	.drop = join_drop,
};

void poll_join_init(struct poll_join *j, struct poll_future **child,
		    unsigned n)
{
	j->base.vt = &join_vt;
	j->base.out = 0;
	j->child = child;
	j->n = n;
	j->left = n;
	j->err_at = n;
}

/* ---- race of N --------------------------------------------------------------- */

/* Drop every child but `keep` (pass n to drop them all). */
static void race_drop_all_but(struct poll_race *s, unsigned keep)
{
	for (unsigned i = 0; i < s->n; i++) {
		if (i == keep || s->child[i] == NULL)
			continue;
		poll_future_drop(s->child[i]);
		s->child[i] = NULL;
	}
}

/* Children are polled in index order, so when several are ready at once
 * the lowest index wins: a bias towards child 0, as in tokio's `biased;`
 * race.  A fair race would start from a rotating index. */
static enum poll_status race_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_race *s = (struct poll_race *)f;

	for (unsigned i = 0; i < s->n; i++) {
		struct poll_future *c = s->child[i];

		if (c == NULL || poll_future_poll(c, cx) == POLL_PENDING)
			continue;
		/* i won: the losers are dropped now, before anyone can
		 * observe the race as done, then the winner itself. */
		race_drop_all_but(s, i);
		poll_future_drop(c);
		s->child[i] = NULL;
		f->out = (ssize_t)i;
		return POLL_READY;
	}
	return POLL_PENDING;
}

static void race_drop(struct poll_future *f)
{
	struct poll_race *s = (struct poll_race *)f;

	race_drop_all_but(s, s->n);
}

static const struct poll_future_vt race_vt = {
	.name = "race",
	.poll = race_poll,
	.drop = race_drop,
};

void poll_race_init(struct poll_race *s, struct poll_future **child,
		      unsigned n)
{
	s->base.vt = &race_vt;
	s->base.out = 0;
	s->child = child;
	s->n = n;
}

/* ---- timeout ------------------------------------------------------------------- */

/* A race of two with the timer held by value.  The timer is polled first:
 * a deadline that has passed wins.  Nothing is lost by it, because a future
 * acts only when polled: the inner has taken nothing since its last poll.
 * Polling the inner first would let the timer's own wake-up finish it late:
 * a write would squeeze into socket space that was never reported writable,
 * and a sink that stalled would be given a fresh timeout for its next chunk
 * instead of being cancelled. */
static enum poll_status timeout_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_timeout *t = (struct poll_timeout *)f;

	if (poll_future_poll(&t->sleep.base, cx) == POLL_READY) {
		f->out = -ETIMEDOUT;
		goto out_drop_both;
	}
	if (poll_future_poll(t->inner, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = t->inner->out;
out_drop_both:
	poll_future_drop(t->inner);
	poll_future_drop(&t->sleep.base);
	t->done = true;
	return POLL_READY;
}

static void timeout_drop(struct poll_future *f)
{
	struct poll_timeout *t = (struct poll_timeout *)f;

	if (t->done)
		return;
	poll_future_drop(t->inner);
	poll_future_drop(&t->sleep.base);
	t->done = true;
}

static const struct poll_future_vt timeout_vt = {
	.name = "timeout",
	.poll = timeout_poll,
	.drop = timeout_drop,
};

void poll_timeout_init(struct poll_timeout *t, struct poll_loop *l,
		       struct poll_future *inner, uint64_t ns)
{
	t->base.vt = &timeout_vt;
	t->base.out = 0;
	t->inner = inner;
	poll_sleep_init(&t->sleep, l, ns);
	t->done = false;
}
