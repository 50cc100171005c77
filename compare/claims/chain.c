/* chain.c: one operation of depth D, written in each engine (claims C1, C2).
 *
 * The same shape in both models (see claims.h): D sequences nested one in
 * the other, the innermost awaiting `waits` sleeps of 0 ns in turn.  Each
 * sleep is one wake: its timer is due at once and fires on the next poll of
 * the reactor, which completes the push request or wakes the poll task.
 *
 *   push  level d is push_seq() with one step, which starts level d+1;
 *         level D is push_seq() over `waits` steps, each a push_sleep().
 *         A level costs its request, its state and one continuation.
 *   poll  one task whose future holds D poll_seq by value, level d's slot
 *         being level d+1, and level D's slot a poll_sleep.  The levels are
 *         initialised at the first poll, when the task is pinned (R1 of
 *         poll.h: they point into it).
 *
 * The harness's own memory (the push chain's step tables, the poll chain's
 * prototype) comes from calloc, outside the mem counters.
 */
#include "claims.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "poll.h"
#include "push.h"

const unsigned claims_depths[CLAIMS_NDEPTHS] = { 1, 2, 4, 8, 16, 32, 64 };

/* ---- push: D requests, one inside the other --------------------------------- */

struct push_chain;

/* What level d's one step needs to start level d + 1. */
struct push_level {
	struct push_chain *ch;
	unsigned d;
};

struct push_chain {
	unsigned depth, waits;
	push_step_fn level_step[1];                 /* levels 1 .. depth-1 */
	push_step_fn sleep_steps[CLAIMS_MAX_WAITS]; /* level depth */
	struct push_level level[CLAIMS_MAX_DEPTH + 1];
	ssize_t result;
	bool done;
};

static int push_level_start(struct push_loop *l, struct push_chain *ch,
			    unsigned d, struct push_token *tok, push_cb cb,
			    void *data)
{
	if (d == ch->depth)
		return push_seq(l, ch->sleep_steps, ch->waits, ch, tok, cb,
				data, NULL);
	return push_seq(l, ch->level_step, 1, &ch->level[d], tok, cb, data,
			NULL);
}

static int push_level_step(struct push_loop *l, void *arg, ssize_t prev,
			   struct push_token *tok, push_cb cb, void *data)
{
	struct push_level *lv = arg;

	(void)prev;
	return push_level_start(l, lv->ch, lv->d + 1, tok, cb, data);
}

static int push_sleep_step(struct push_loop *l, void *arg, ssize_t prev,
			   struct push_token *tok, push_cb cb, void *data)
{
	(void)arg;
	(void)prev;
	return push_sleep(l, 0, tok, cb, data, NULL);
}

static void push_op_done(void *data, ssize_t result)
{
	struct push_chain *ch = data;

	ch->result = result;
	ch->done = true;
}

/* One operation, from start to callback.  0, or -errno. */
static int push_chain_once(struct push_loop *l, struct push_chain *ch)
{
	int rc;

	ch->done = false;
	rc = push_level_start(l, ch, 1, NULL, push_op_done, ch);
	if (rc < 0)
		return rc;
	rc = push_loop_run(l);
	if (rc < 0)
		return rc;
	return ch->done && ch->result == 0 ? 0 : -EIO;
}

static int push_chain_run(struct reactor *r, unsigned depth, unsigned waits,
			  unsigned warmup, unsigned ops,
			  struct chain_figures *out)
{
	const struct push_config idiomatic = { .pooled = false,
					       .fast_path = false };
	struct push_loop_stats s0, s1;
	struct mem_stats m0, m1;
	struct push_chain *ch;
	struct push_loop loop, *l = &loop;
	uint64_t t0, t1;
	int rc = 0;

	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	ch->depth = depth;
	ch->waits = waits;
	ch->level_step[0] = push_level_step;
	for (unsigned i = 0; i < waits; i++)
		ch->sleep_steps[i] = push_sleep_step;
	for (unsigned d = 0; d <= depth; d++)
		ch->level[d] = (struct push_level){ .ch = ch, .d = d };
	push_loop_init(l, r, NULL, &idiomatic);
	for (unsigned i = 0; i < warmup && rc == 0; i++)
		rc = push_chain_once(l, ch);
	push_loop_stats_get(l, &s0);
	mem_stats_get(&m0);
	t0 = clock_now_ns();
	for (unsigned i = 0; i < ops && rc == 0; i++)
		rc = push_chain_once(l, ch);
	t1 = clock_now_ns();
	mem_stats_get(&m1);
	push_loop_stats_get(l, &s1);
	out->ops = ops;
	out->wakes = (uint64_t)ops * waits;
	out->ns = t1 - t0;
	out->allocs = m1.allocs - m0.allocs;
	out->bytes = m1.bytes - m0.bytes;
	out->units = s1.callbacks - s0.callbacks;
	push_loop_fini(l);
	free(ch);
	return rc;
}

/* ---- poll: one task holding D sequences by value ------------------------------ */

struct poll_chain {
	struct poll_future base;
	struct poll_loop *loop;
	unsigned depth, waits;
	bool started;
	bool count;                  /* count every future poll (units) */
	struct poll_seq level[];     /* depth of them, then the sleep */
};

/* The task's future: the header, the levels, the sleep at the bottom.  The
 * levels are pointer-aligned, as the sleep needs. */
static size_t poll_chain_size(unsigned depth)
{
	return sizeof(struct poll_chain) + depth * sizeof(struct poll_seq) +
	       sizeof(struct poll_sleep);
}

static struct poll_sleep *poll_chain_leaf(struct poll_chain *ch)
{
	return (struct poll_sleep *)&ch->level[ch->depth];
}

/* Counting, for the work units: the engine's own poll functions, called
 * through a table that counts.  Used only in runs that are not timed. */
static uint64_t counted_polls;
static const struct poll_future_vt *engine_seq_vt, *engine_sleep_vt;

static enum poll_status counted_seq_poll(struct poll_future *f,
					 struct poll_cx *cx)
{
	counted_polls++;
	return engine_seq_vt->poll(f, cx);
}

static void counted_seq_drop(struct poll_future *f)
{
	engine_seq_vt->drop(f);
}

static enum poll_status counted_sleep_poll(struct poll_future *f,
					   struct poll_cx *cx)
{
	counted_polls++;
	return engine_sleep_vt->poll(f, cx);
}

static void counted_sleep_drop(struct poll_future *f)
{
	engine_sleep_vt->drop(f);
}

static const struct poll_future_vt counted_seq_vt = {
	.name = "seq (counted)",
	.poll = counted_seq_poll,
	.drop = counted_seq_drop,
};

static const struct poll_future_vt counted_sleep_vt = {
	.name = "sleep (counted)",
	.poll = counted_sleep_poll,
	.drop = counted_sleep_drop,
};

static struct poll_future *poll_chain_level(struct poll_chain *ch,
					    unsigned k);

/* Level k's one step: level k + 1, in level k's slot. */
static struct poll_future *poll_level_step(void *arg, unsigned i,
					   ssize_t prev, void *slot)
{
	struct poll_chain *ch = arg;

	(void)i;
	(void)prev;
	return poll_chain_level(ch, (unsigned)((struct poll_seq *)slot -
					       ch->level));
}

/* The innermost level's steps: a sleep of 0 ns, in the one leaf slot. */
static struct poll_future *poll_sleep_step(void *arg, unsigned i,
					   ssize_t prev, void *slot)
{
	struct poll_chain *ch = arg;
	struct poll_sleep *s = slot;

	(void)i;
	(void)prev;
	poll_sleep_init(s, ch->loop, 0);
	if (ch->count) {
		engine_sleep_vt = s->base.vt;
		s->base.vt = &counted_sleep_vt;
	}
	return &s->base;
}

/* Initialise level k (0: the top) as a sequence: the innermost of `waits`
 * sleeps, the others of one step, the next level. */
static struct poll_future *poll_chain_level(struct poll_chain *ch, unsigned k)
{
	struct poll_seq *s = &ch->level[k];

	if (k + 1 == ch->depth)
		poll_seq_init(s, poll_sleep_step, ch->waits, ch,
			      poll_chain_leaf(ch));
	else
		poll_seq_init(s, poll_level_step, 1, ch, &ch->level[k + 1]);
	if (ch->count) {
		engine_seq_vt = s->base.vt;
		s->base.vt = &counted_seq_vt;
	}
	return &s->base;
}

static enum poll_status poll_chain_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct poll_chain *ch = (struct poll_chain *)f;

	if (!ch->started) {
		ch->started = true;
		poll_chain_level(ch, 0);
	}
	if (poll_future_poll(&ch->level[0].base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = ch->level[0].base.out;
	return POLL_READY;
}

/* Dropping the top sequence drops the level in flight, which drops its
 * own, down to the sleep: one call, whatever the depth. */
static void poll_chain_drop(struct poll_future *f)
{
	struct poll_chain *ch = (struct poll_chain *)f;

	if (ch->started)
		poll_future_drop(&ch->level[0].base);
	ch->started = false;
}

static const struct poll_future_vt poll_chain_vt = {
	.name = "chain",
	.poll = poll_chain_poll,
	.drop = poll_chain_drop,
};

/* One operation: spawn the task (its one allocation), run the loop until
 * it is done.  0, or -errno. */
static int poll_chain_once(struct poll_loop *l, const struct poll_chain *proto,
			   size_t size)
{
	struct poll_task *t;
	ssize_t out = -1;
	int rc;

	rc = poll_spawn(l, &proto->base, size, &t);
	if (rc < 0)
		return rc;
	rc = poll_loop_run(l);
	if (rc == 0 && (poll_task_result(t, &out) != 0 || out != 0))
		rc = -EIO;
	poll_task_detach(t);
	return rc;
}

static int poll_chain_run(struct reactor *r, unsigned depth, unsigned waits,
			  unsigned warmup, unsigned ops, bool count_units,
			  struct chain_figures *out)
{
	size_t size = poll_chain_size(depth);
	struct poll_chain *proto;
	struct mem_stats m0, m1;
	struct poll_loop loop;
	uint64_t t0, t1, c0;
	int rc = 0;

	proto = calloc(1, size);
	if (proto == NULL)
		return -ENOMEM;
	proto->base.vt = &poll_chain_vt;
	proto->loop = &loop;
	proto->depth = depth;
	proto->waits = waits;
	proto->count = count_units;
	poll_loop_init(&loop, r, NULL, NULL);
	for (unsigned i = 0; i < warmup && rc == 0; i++)
		rc = poll_chain_once(&loop, proto, size);
	c0 = counted_polls;
	mem_stats_get(&m0);
	t0 = clock_now_ns();
	for (unsigned i = 0; i < ops && rc == 0; i++)
		rc = poll_chain_once(&loop, proto, size);
	t1 = clock_now_ns();
	mem_stats_get(&m1);
	out->ops = ops;
	out->wakes = (uint64_t)ops * waits;
	out->ns = t1 - t0;
	out->allocs = m1.allocs - m0.allocs;
	out->bytes = m1.bytes - m0.bytes;
	out->units = counted_polls - c0;
	poll_loop_fini(&loop);
	free(proto);
	return rc;
}

/* ---- both ---------------------------------------------------------------------- */

int chain_run(int m, struct reactor *r, unsigned depth, unsigned waits,
	      unsigned warmup, unsigned ops, bool count_units,
	      struct chain_figures *out)
{
	memset(out, 0, sizeof(*out));
	if (depth < 1 || depth > CLAIMS_MAX_DEPTH || waits < 1 ||
	    waits > CLAIMS_MAX_WAITS)
		return -EINVAL;
	if (m == CLAIMS_PUSH)
		return push_chain_run(r, depth, waits, warmup, ops, out);
	return poll_chain_run(r, depth, waits, warmup, ops, count_units, out);
}
