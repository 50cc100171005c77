/* test_poll.c: the poll engine's core (poll/poll.h): futures, tasks and
 * wakers, the executor and its budget, the leaf futures and the
 * combinators.  The workloads are in test_workloads.c.
 *
 * Every test ends by checking that the engine's allocations are all freed
 * (mem live blocks back to the baseline taken at its start).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "hist.h"
#include "mem.h"
#include "offload.h"
#include "poll.h"
#include "poll_impl.h"
#include "reactor.h"
#include "sim.h"

/* ---- fixtures ---------------------------------------------------------------- */

static struct mem_stats baseline;

static void leak_check_begin(void)
{
	mem_stats_get(&baseline);
}

static void leak_check_end(void)
{
	struct mem_stats now;

	mem_stats_get(&now);
	ck_assert_int_eq(now.live_blocks, baseline.live_blocks);
	ck_assert_int_eq(now.live_bytes, baseline.live_bytes);
}

static struct reactor *new_sim(uint64_t seed)
{
	struct sim_config c;
	struct reactor *r;

	sim_config_default(&c, seed);
	r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(r);
	return r;
}

static struct reactor *new_epoll(void)
{
	struct reactor *r = reactor_new_epoll();

	ck_assert_ptr_nonnull(r);
	return r;
}

/* A connected pair of non-blocking stream handles for the epoll reactor. */
static void stream_pair(int fds[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				    SOCK_CLOEXEC, 0, fds), 0);
}

static struct poll_loop_stats loop_stats(const struct poll_loop *l)
{
	struct poll_loop_stats st;

	poll_loop_stats_get(l, &st);
	return st;
}

static void set_budget(unsigned budget)
{
	struct poll_config c = poll_config_get();

	c.budget = budget;
	poll_config_set(&c);
}

/* ---- futures written for the tests -------------------------------------------- */

/* READY at once with a value; counts its polls and drops in the caller's
 * counters (the future itself moves into the task). */
struct value_fut {
	struct poll_future base;
	ssize_t value;
	int *polls, *drops;
	int *order, *next_order;   /* optional: records when it ran */
};

static enum poll_status value_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct value_fut *v = (struct value_fut *)f;

	(void)cx;
	if (v->polls)
		(*v->polls)++;
	if (v->order)
		*v->order = (*v->next_order)++;
	f->out = v->value;
	return POLL_READY;
}

static void value_drop(struct poll_future *f)
{
	struct value_fut *v = (struct value_fut *)f;

	if (v->drops)
		(*v->drops)++;
	v->drops = NULL;
}

static const struct poll_future_vt value_vt = { "value", value_poll, value_drop };

static struct value_fut value_fut(ssize_t value, int *polls, int *drops)
{
	struct value_fut v = { { &value_vt, 0 }, value, polls, drops, NULL, NULL };

	return v;
}

/* A gate: something outside any task that a future can wait on. */
struct gate {
	bool open;
	struct poll_waker waker;
	int polls, drops;
	struct poll_waker *extra;   /* if set: a second slot the future fills
				     * and never empties (a waker held
				     * elsewhere, as a source may) */
};

struct gate_fut {
	struct poll_future base;
	struct gate *g;
};

static enum poll_status gate_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct gate_fut *gf = (struct gate_fut *)f;
	struct gate *g = gf->g;

	g->polls++;
	if (g->extra)
		poll_waker_set(g->extra, cx);
	if (!g->open) {
		poll_waker_set(&g->waker, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&g->waker);
	f->out = 1;
	return POLL_READY;
}

static void gate_drop(struct poll_future *f)
{
	struct gate_fut *gf = (struct gate_fut *)f;

	if (gf->g == NULL)
		return;
	gf->g->drops++;
	poll_waker_drop(&gf->g->waker);
	gf->g = NULL;
}

static const struct poll_future_vt gate_vt = { "gate", gate_poll, gate_drop };

static struct gate_fut gate_fut(struct gate *g)
{
	struct gate_fut f = { { &gate_vt, 0 }, g };

	return f;
}

static void gate_open(struct gate *g)
{
	g->open = true;
	poll_waker_wake(&g->waker);
}

/* ---- tasks: spawning, results, memory ----------------------------------------------- */

START_TEST(test_spawned_task_runs_once_and_reports_its_output)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct poll_task *t;
	struct value_fut v;
	int polls = 0, drops = 0;
	ssize_t out = 0;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	v = value_fut(42, &polls, &drops);
	ck_assert_int_eq(poll_spawn(&l, &v.base, sizeof(v), &t), 0);
	ck_assert_int_eq(poll_task_result(t, &out), -EAGAIN);
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_QUEUED);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(polls, 1);
	ck_assert_int_eq(drops, 1);        /* dropped when it completed */
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 42);
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_DONE);
	ck_assert_uint_eq(poll_task_refs(t), 1);   /* the handle only */
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_spawn_makes_one_allocation_holding_the_whole_future)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct mem_stats before, after;
	struct value_fut v = value_fut(1, NULL, NULL);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	mem_stats_get(&before);
	ck_assert_int_eq(poll_spawn(&l, &v.base, sizeof(v), NULL), 0);
	mem_stats_get(&after);
	ck_assert_uint_eq(after.allocs - before.allocs, 1);
	ck_assert_uint_eq(after.bytes - before.bytes, POLL_TASK_SIZE(sizeof(v)));
	ck_assert_int_eq(poll_loop_run(&l), 0);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_spawn_reports_enomem_and_leaves_the_future_to_the_caller)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct poll_task *t = NULL;
	int drops = 0;
	struct value_fut v = value_fut(1, NULL, &drops);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	mem_fail_nth(1);
	ck_assert_int_eq(poll_spawn(&l, &v.base, sizeof(v), &t), -ENOMEM);
	ck_assert_ptr_null(t);
	ck_assert_uint_eq(l.nlive, 0);
	ck_assert_int_eq(drops, 0);
	poll_future_drop(&v.base);          /* still the caller's */
	ck_assert_int_eq(drops, 1);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

struct slot_storage {
	_Alignas(16) unsigned char bytes[POLL_TASK_SIZE(sizeof(struct value_fut))];
	int released;
};

static void slot_release(struct poll_task *t, void *arg)
{
	struct slot_storage *s = arg;

	ck_assert_ptr_eq((void *)t, (void *)s->bytes);
	s->released++;
}

START_TEST(test_spawn_into_caller_storage_allocates_nothing_and_releases_once)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct slot_storage slot = { .released = 0 };
	struct mem_stats before, after;
	struct poll_task *t;
	int polls = 0;
	struct value_fut v = value_fut(7, &polls, NULL);
	ssize_t out;

	poll_loop_init(&l, r, NULL, NULL);
	mem_stats_get(&before);
	poll_spawn_into(&l, (struct poll_task *)slot.bytes, &v.base, sizeof(v),
			slot_release, &slot, &t);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(polls, 1);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 7);
	ck_assert_int_eq(slot.released, 0);   /* the handle still holds it */
	poll_task_detach(t);
	ck_assert_int_eq(slot.released, 1);
	poll_loop_fini(&l);
	mem_stats_get(&after);
	ck_assert_uint_eq(after.allocs, before.allocs);
	reactor_free(r);
}
END_TEST

START_TEST(test_run_queue_is_first_in_first_out)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	int order[5], next = 0;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	for (int i = 0; i < 5; i++) {
		struct value_fut v = value_fut(i, NULL, NULL);
		v.order = &order[i];
		v.next_order = &next;
		ck_assert_int_eq(poll_spawn(&l, &v.base, sizeof(v), NULL), 0);
	}
	ck_assert_int_eq(poll_loop_run(&l), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(order[i], i);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- wakers ------------------------------------------------------------------ */

START_TEST(test_waking_a_queued_task_does_nothing_more)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct poll_waker extra = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;
	uint64_t wakes;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	g.extra = &extra;
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);  /* waits on the gate */
	ck_assert_int_eq(g.polls, 1);
	ck_assert_uint_eq(poll_task_state(t), 0);        /* WAITING */

	wakes = loop_stats(&l).wakes;
	poll_waker_wake(&extra);                         /* WAITING -> QUEUED */
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_QUEUED);
	gate_open(&g);                                   /* queued: nothing */
	ck_assert_uint_eq(loop_stats(&l).wakes - wakes, 1);
	ck_assert_ptr_eq(l.ready_head, t);
	ck_assert_ptr_eq(l.ready_tail, t);               /* in it once */
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(g.polls, 2);                    /* one more poll */
	poll_waker_drop(&extra);                         /* the 2nd poll's */
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Wakes itself `yields` times, recording its turns. */
struct yield_fut {
	struct poll_future base;
	int yields;
	int *trace, *len;
	int id;
};

static enum poll_status yield_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct yield_fut *y = (struct yield_fut *)f;

	y->trace[(*y->len)++] = y->id;
	if (y->yields-- > 0) {
		poll_cx_wake(cx);
		/* woken during its poll: QUEUED with RUNNING, not queued */
		ck_assert_uint_eq(poll_task_state(cx->task),
				  POLL_TASK_RUNNING | POLL_TASK_QUEUED);
		ck_assert(cx->loop->ready_tail != cx->task);  /* not queued yet */
		return POLL_PENDING;
	}
	f->out = 0;
	return POLL_READY;
}

static void nothing_drop(struct poll_future *f)
{
	(void)f;
}

static const struct poll_future_vt yield_vt = { "yield", yield_poll, nothing_drop };

START_TEST(test_waking_a_running_task_queues_it_behind_the_others)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	int trace[8], len = 0;
	struct yield_fut a = { { &yield_vt, 0 }, 1, trace, &len, 'a' };
	struct yield_fut b = { { &yield_vt, 0 }, 0, trace, &len, 'b' };

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &a.base, sizeof(a), NULL), 0);
	ck_assert_int_eq(poll_spawn(&l, &b.base, sizeof(b), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(len, 3);
	ck_assert_int_eq(trace[0], 'a');
	ck_assert_int_eq(trace[1], 'b');
	ck_assert_int_eq(trace[2], 'a');
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* The loop's statistics tell a yield (a task woken during its own poll,
 * which waits for a look at I/O) from a wake (a waiting task woken from
 * outside, which runs in the same step). */
START_TEST(test_stats_count_a_yield_apart_from_a_wake)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct poll_waker extra = { 0 };
	struct gate_fut gf = gate_fut(&g);
	int trace[8], len = 0;
	struct yield_fut a = { { &yield_vt, 0 }, 3, trace, &len, 'a' };
	struct poll_task *t;
	struct poll_loop_stats st0, st;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	g.extra = &extra;
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_spawn(&l, &a.base, sizeof(a), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);  /* the gate waits */
	st0 = loop_stats(&l);
	ck_assert_uint_eq(st0.yields, 3);
	ck_assert_uint_eq(st0.wakes, 0);
	poll_waker_wake(&extra);                        /* from outside */
	st = loop_stats(&l);
	ck_assert_uint_eq(st.wakes, 1);
	ck_assert_uint_eq(st.yields, 3);
	gate_open(&g);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	poll_waker_drop(&extra);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_waking_a_finished_task_is_safe_and_does_nothing)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { .open = true };
	struct poll_waker extra = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;
	uint64_t polls;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	g.extra = &extra;                  /* a waker kept past the end */
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_DONE);
	ck_assert_uint_eq(poll_task_refs(t), 2);   /* handle + waker */
	poll_task_detach(t);
	ck_assert_uint_eq(poll_task_refs(t), 1);   /* the waker keeps it */

	polls = loop_stats(&l).polls;
	poll_waker_wake(&extra);           /* last reference: wakes nothing, frees */
	ck_assert(!poll_waker_is_set(&extra));
	ck_assert_ptr_null(l.ready_head);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(loop_stats(&l).polls, polls);
	ck_assert_int_eq(g.polls, 1);
	poll_loop_fini(&l);
	leak_check_end();                  /* the header went with the waker */
	reactor_free(r);
}
END_TEST

START_TEST(test_waking_an_aborted_task_is_safe_and_does_nothing)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct poll_waker extra = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;
	ssize_t out = 0;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	g.extra = &extra;
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	poll_task_abort(t);
	ck_assert_int_eq(g.drops, 1);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(t);               /* only `extra` holds it now */
	ck_assert_uint_eq(poll_task_refs(t), 1);
	poll_waker_wake(&extra);
	ck_assert_ptr_null(l.ready_head);
	ck_assert_int_eq(g.polls, 1);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_each_stored_waker_holds_one_reference_to_its_task)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct poll_waker extra = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	/* live list + run queue + handle */
	ck_assert_uint_eq(poll_task_refs(t), 3);
	g.extra = &extra;
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	/* live list + handle + gate's slot + extra slot */
	ck_assert_uint_eq(poll_task_refs(t), 4);
	gate_open(&g);                 /* slot emptied, queued: -1 +1 */
	ck_assert_uint_eq(poll_task_refs(t), 4);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	/* handle + extra slot (set again, R2 broken on purpose) */
	ck_assert_uint_eq(poll_task_refs(t), 2);
	poll_waker_drop(&extra);
	ck_assert_uint_eq(poll_task_refs(t), 1);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_setting_a_slot_twice_with_the_same_task_keeps_one_reference)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	g.extra = &g.waker;           /* each poll sets the gate's slot twice */
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	ck_assert_uint_eq(poll_task_refs(t), 3);   /* live, handle, gate */
	poll_waker_wake(&g.waker);                 /* spurious wake */
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	ck_assert_int_eq(g.polls, 2);
	ck_assert_uint_eq(poll_task_refs(t), 3);
	poll_task_abort(t);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- abort ------------------------------------------------------------------------- */

START_TEST(test_abort_of_a_waiting_task_drops_its_future_at_once)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	ck_assert_int_eq(g.drops, 0);
	poll_task_abort(t);
	ck_assert_int_eq(g.drops, 1);                 /* inside the call */
	ck_assert(!poll_waker_is_set(&g.waker));      /* its waker is gone */
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	ck_assert_uint_eq(l.nlive, 0);
	poll_task_abort(t);                           /* DONE: nothing */
	ck_assert_int_eq(g.drops, 1);
	ck_assert_uint_eq(loop_stats(&l).aborted, 1);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_abort_of_a_queued_task_means_it_is_never_polled)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	int polls = 0, drops = 0;
	struct value_fut v = value_fut(1, &polls, &drops);
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &v.base, sizeof(v), &t), 0);
	poll_task_abort(t);
	ck_assert_int_eq(drops, 1);
	ck_assert_uint_eq(poll_task_state(t),
			  POLL_TASK_DONE | POLL_TASK_QUEUED);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(polls, 0);
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_DONE);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Aborts another task from inside its own poll and checks the victim's
 * future was dropped before poll_task_abort() returned. */
struct aborter_fut {
	struct poll_future base;
	struct poll_task *victim;
	struct gate *victim_gate;
	int drops_seen;
};

static enum poll_status aborter_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct aborter_fut *a = (struct aborter_fut *)f;

	(void)cx;
	poll_task_abort(a->victim);
	a->drops_seen = a->victim_gate->drops;
	f->out = a->drops_seen;
	return POLL_READY;
}

static const struct poll_future_vt aborter_vt = { "aborter", aborter_poll, nothing_drop };

START_TEST(test_abort_from_inside_another_task_drops_the_victim_at_once)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct aborter_fut a = { { &aborter_vt, 0 }, NULL, &g, -1 };
	struct poll_task *victim, *killer;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &victim), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	a.victim = victim;
	ck_assert_int_eq(poll_spawn(&l, &a.base, sizeof(a), &killer), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(killer, &out), 0);
	ck_assert_int_eq(out, 1);          /* seen dropped inside its poll */
	ck_assert_int_eq(poll_task_result(victim, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	ck_assert_int_eq(g.polls, 1);
	poll_task_detach(victim);
	poll_task_detach(killer);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Aborts itself, then goes on with its poll: the abort must wait for the
 * poll to return, and nothing of the task may run after that. */
struct self_abort_fut {
	struct poll_future base;
	struct poll_task **self;
	int *polls, *drops;
	int *ran_after_abort;      /* set during the poll, after the abort */
	int *drop_saw_ran_after;   /* what drop found */
};

static enum poll_status self_abort_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct self_abort_fut *s = (struct self_abort_fut *)f;

	(*s->polls)++;
	ck_assert_ptr_eq(*s->self, cx->task);
	poll_task_abort(cx->task);
	ck_assert_int_eq(*s->drops, 0);     /* not dropped under our feet */
	ck_assert_uint_eq(poll_task_state(cx->task),
			  POLL_TASK_RUNNING | POLL_TASK_ABORT);
	*s->ran_after_abort = 1;
	poll_cx_wake(cx);                   /* asks for more: must not happen */
	return POLL_PENDING;
}

static void self_abort_drop(struct poll_future *f)
{
	struct self_abort_fut *s = (struct self_abort_fut *)f;

	(*s->drops)++;
	*s->drop_saw_ran_after = *s->ran_after_abort;
}

static const struct poll_future_vt self_abort_vt = {
	"self_abort", self_abort_poll, self_abort_drop
};

START_TEST(test_a_task_aborting_itself_is_dropped_when_its_poll_returns)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct poll_task *t = NULL;
	int polls = 0, drops = 0, ran_after = 0, drop_saw = 0;
	struct self_abort_fut s = { { &self_abort_vt, 0 }, &t, &polls, &drops,
				    &ran_after, &drop_saw };
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &s.base, sizeof(s), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(polls, 1);        /* its self-wake was not honoured */
	ck_assert_int_eq(drops, 1);
	ck_assert_int_eq(drop_saw, 1);     /* dropped after the poll returned */
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	ck_assert_ptr_null(l.ready_head);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Aborts itself, then completes in the same poll. */
static enum poll_status abort_then_ready_poll(struct poll_future *f,
					      struct poll_cx *cx)
{
	poll_task_abort(cx->task);
	f->out = 5;
	return POLL_READY;
}

static const struct poll_future_vt abort_then_ready_vt = {
	"abort_then_ready", abort_then_ready_poll, nothing_drop
};

START_TEST(test_an_abort_during_a_poll_that_completes_keeps_the_output)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct poll_future f = { &abort_then_ready_vt, 0 };
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &f, sizeof(f), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 5);
	ck_assert_uint_eq(loop_stats(&l).aborted, 0);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Awaits another task through poll_task_join. */
struct waiter_fut {
	struct poll_future base;
	bool started;
	struct poll_task *target;
	struct poll_task_join join;
};

static enum poll_status waiter_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct waiter_fut *w = (struct waiter_fut *)f;

	if (!w->started) {
		poll_task_join_init(&w->join, w->target);
		w->started = true;
	}
	if (poll_future_poll(&w->join.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = w->join.base.out;
	return POLL_READY;
}

static void waiter_drop(struct poll_future *f)
{
	struct waiter_fut *w = (struct waiter_fut *)f;

	if (w->started)
		poll_future_drop(&w->join.base);
}

static const struct poll_future_vt waiter_vt = { "waiter", waiter_poll, waiter_drop };

START_TEST(test_a_task_awaiting_an_aborted_task_sees_ecanceled)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct waiter_fut w = { .base = { &waiter_vt, 0 } };
	struct poll_task *target, *waiter;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &target), 0);
	w.target = target;
	ck_assert_int_eq(poll_spawn(&l, &w.base, sizeof(w), &waiter), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	ck_assert_int_eq(poll_task_result(waiter, &out), -EAGAIN);
	poll_task_abort(target);           /* wakes the waiter */
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(waiter, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(target);
	poll_task_detach(waiter);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_a_task_awaiting_a_finished_task_gets_its_output)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);
	struct waiter_fut w = { .base = { &waiter_vt, 0 } };
	struct poll_task *target, *waiter;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &target), 0);
	w.target = target;
	ck_assert_int_eq(poll_spawn(&l, &w.base, sizeof(w), &waiter), 0);
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	gate_open(&g);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(waiter, &out), 0);
	ck_assert_int_eq(out, 1);
	poll_task_detach(target);
	poll_task_detach(waiter);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- the executor: how it stops --------------------------------------------------- */

START_TEST(test_loop_run_returns_eintr_when_a_stop_is_requested)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), NULL), 0);
	reactor_request_stop(r);
	ck_assert_int_eq(poll_loop_run(&l), -EINTR);
	ck_assert_int_eq(g.polls, 1);       /* ran once, then the check */
	ck_assert_uint_eq(l.nlive, 1);      /* left as it was */
	poll_loop_fini(&l);
	ck_assert_int_eq(g.drops, 1);       /* fini aborted it */
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* A stop is acted on once: the run it ended is over, and a later run goes
 * on as if there had been none (push's rule too). */
START_TEST(test_stop_without_handler_returns_eintr_once)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_task *t;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &t), 0);
	reactor_request_stop(r);
	ck_assert_int_eq(poll_loop_run(&l), -EINTR);
	ck_assert_uint_eq(l.nlive, 1);
	/* The stop was seen; the next run goes on and drains. */
	poll_task_abort(t);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(l.nlive, 0);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

struct stop_probe {
	int stops;
	struct poll_task *t;      /* aborted by the handler */
};

static void abort_on_stop(void *arg)
{
	struct stop_probe *p = arg;

	p->stops++;
	poll_task_abort(p->t);
}

/* With a stop handler the run does not end at the stop: the handler runs
 * once, from the loop, aborts what it wants, and the run goes on until no
 * task is left. */
START_TEST(test_stop_handler_runs_once_and_the_run_goes_on)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct stop_probe p = { 0 };
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &p.t), 0);
	poll_loop_on_stop(&l, abort_on_stop, &p);
	reactor_request_stop(r);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(p.stops, 1);
	ck_assert_int_eq(g.drops, 1);
	ck_assert_uint_eq(l.nlive, 0);
	poll_task_detach(p.t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Under sim a world where nothing can happen any more is a stop too: the
 * handler runs once; without one the run says -EDEADLK. */
START_TEST(test_quiescent_sim_world_runs_the_stop_handler)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct stop_probe p = { 0 };
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), &p.t), 0);
	poll_loop_on_stop(&l, abort_on_stop, &p);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(p.stops, 1);
	ck_assert_int_eq(g.drops, 1);
	poll_task_detach(p.t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_loop_fini_aborts_every_live_task)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g[4] = { { 0 } };

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	for (int i = 0; i < 4; i++) {
		struct gate_fut gf = gate_fut(&g[i]);
		ck_assert_int_eq(poll_spawn(&l, &gf.base, sizeof(gf), NULL), 0);
	}
	ck_assert_int_eq(poll_loop_run(&l), -EDEADLK);
	poll_loop_fini(&l);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(g[i].drops, 1);
	ck_assert_uint_eq(l.nlive, 0);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_block_on_returns_the_output_and_allocates_nothing)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct poll_sleep s;
	struct mem_stats before, after;
	uint64_t t0;

	poll_loop_init(&l, r, NULL, NULL);
	mem_stats_get(&before);
	t0 = reactor_now(r);
	poll_sleep_init(&s, &l, 3 * CLOCK_NS_PER_MS);
	ck_assert_int_eq(poll_block_on(&l, &s.base), 0);
	ck_assert_int_eq(s.base.out, 0);
	ck_assert_uint_ge(reactor_now(r) - t0, 3 * CLOCK_NS_PER_MS);
	mem_stats_get(&after);
	ck_assert_uint_eq(after.allocs, before.allocs);
	poll_loop_fini(&l);
	reactor_free(r);
}
END_TEST

START_TEST(test_block_on_drops_the_future_when_a_stop_is_requested)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	reactor_request_stop(r);
	ck_assert_int_eq(poll_block_on(&l, &gf.base), -EINTR);
	ck_assert_int_eq(g.drops, 1);
	ck_assert(!poll_waker_is_set(&g.waker));
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_block_on_drops_the_future_when_the_simulation_is_quiescent)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	struct gate g = { 0 };
	struct gate_fut gf = gate_fut(&g);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &gf.base), -EDEADLK);
	ck_assert_int_eq(g.polls, 1);
	ck_assert_int_eq(g.drops, 1);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- the cooperative budget ----------------------------------------------------- */

/* A leaf that is always ready: it only consults the budget. */
struct tick_fut {
	struct poll_future base;
};

static enum poll_status tick_poll(struct poll_future *f, struct poll_cx *cx)
{
	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	poll_budget_charge(cx);
	f->out = 0;
	return POLL_READY;
}

static const struct poll_future_vt tick_vt = { "tick", tick_poll, nothing_drop };

/* Never waits: n ticks in a row. */
struct spin_fut {
	struct poll_future base;
	unsigned n, done;
	unsigned *progress;
	struct tick_fut tick;
};

static enum poll_status spin_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct spin_fut *s = (struct spin_fut *)f;

	while (s->done < s->n) {
		s->tick.base.vt = &tick_vt;
		if (poll_future_poll(&s->tick.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		*s->progress = ++s->done;
	}
	f->out = s->done;
	return POLL_READY;
}

static const struct poll_future_vt spin_vt = { "spin", spin_poll, nothing_drop };

/* Records how far the spinner had got when it was first polled. */
struct observer_fut {
	struct poll_future base;
	unsigned *progress;
	unsigned *seen;
};

static enum poll_status observer_poll(struct poll_future *f,
				      struct poll_cx *cx)
{
	struct observer_fut *o = (struct observer_fut *)f;

	(void)cx;
	*o->seen = *o->progress;
	f->out = 0;
	return POLL_READY;
}

static const struct poll_future_vt observer_vt = { "observer", observer_poll, nothing_drop };

static void run_spinner_and_observer(unsigned budget, unsigned n,
				     unsigned *seen, uint64_t *spin_polls)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	unsigned progress = 0;
	struct spin_fut s = { { &spin_vt, 0 }, n, 0, &progress, { { 0 } } };
	struct observer_fut o = { { &observer_vt, 0 }, &progress, seen };
	struct poll_task *ts;

	leak_check_begin();
	set_budget(budget);
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &s.base, sizeof(s), &ts), 0);
	ck_assert_int_eq(poll_spawn(&l, &o.base, sizeof(o), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(progress, n);
	*spin_polls = poll_task_polls(ts);
	poll_task_detach(ts);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
	set_budget(POLL_BUDGET_DEFAULT);
}

START_TEST(test_budget_makes_a_task_that_never_waits_let_others_run)
{
	unsigned seen = 0;
	uint64_t polls = 0;

	run_spinner_and_observer(16, 1000, &seen, &polls);
	ck_assert_uint_eq(seen, 16);           /* observed after one budget */
	ck_assert_uint_eq(polls, (1000 + 15) / 16);   /* 16 ticks a poll */
}
END_TEST

START_TEST(test_without_budget_a_task_that_never_waits_starves_the_others)
{
	unsigned seen = 0;
	uint64_t polls = 0;

	run_spinner_and_observer(0, 1000, &seen, &polls);
	ck_assert_uint_eq(seen, 1000);         /* ran only after the spinner */
	ck_assert_uint_eq(polls, 1);           /* one poll did everything */
}
END_TEST

/* A task whose budget is spent wakes itself and yields; step 1 must not poll
 * it again before the reactor has been polled, or yielding would not let the
 * tasks waiting for I/O run at all. */
START_TEST(test_a_task_that_yields_is_not_polled_again_in_the_same_step)
{
	struct reactor *r = new_sim(1);
	struct poll_loop l;
	unsigned progress = 0;
	struct spin_fut s = { { &spin_vt, 0 }, 1000, 0, &progress, { { 0 } } };
	struct poll_task *ts;

	leak_check_begin();
	set_budget(16);
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &s.base, sizeof(s), &ts), 0);
	ck_assert_uint_eq(poll_loop_run_ready(&l), 1);
	ck_assert_uint_eq(progress, 16);
	ck_assert_uint_eq(poll_loop_run_ready(&l), 1);   /* the next step */
	ck_assert_uint_eq(progress, 32);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(progress, 1000);
	poll_task_detach(ts);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
	set_budget(POLL_BUDGET_DEFAULT);
}
END_TEST

/* The same with a real leaf: 4000 one-byte reads from a socket that always
 * has data. */
struct byte_reader_fut {
	struct poll_future base;
	struct poll_stream *s;
	unsigned n, done;
	unsigned *progress;
	char c;
	struct poll_read rd;
	bool reading;
};

static enum poll_status byte_reader_poll(struct poll_future *f,
					 struct poll_cx *cx)
{
	struct byte_reader_fut *b = (struct byte_reader_fut *)f;

	while (b->done < b->n) {
		if (!b->reading) {
			poll_read_init(&b->rd, b->s, &b->c, 1);
			b->reading = true;
		}
		if (poll_future_poll(&b->rd.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		b->reading = false;
		ck_assert_int_eq(b->rd.base.out, 1);
		*b->progress = ++b->done;
	}
	f->out = b->done;
	return POLL_READY;
}

static void byte_reader_drop(struct poll_future *f)
{
	struct byte_reader_fut *b = (struct byte_reader_fut *)f;

	if (b->reading)
		poll_future_drop(&b->rd.base);
	b->reading = false;
}

static const struct poll_future_vt byte_reader_vt = {
	"byte_reader", byte_reader_poll, byte_reader_drop
};

static void run_reader_and_observer(unsigned budget, unsigned *seen,
				    uint64_t *reader_polls)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream s;
	int fds[2];
	static char data[4000];
	unsigned progress = 0;
	struct byte_reader_fut b = { .base = { &byte_reader_vt, 0 }, .s = &s,
				     .n = sizeof(data), .progress = &progress };
	struct observer_fut o = { { &observer_vt, 0 }, &progress, seen };
	struct poll_task *tr;

	leak_check_begin();
	set_budget(budget);
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(write(fds[1], data, sizeof(data)), (ssize_t)sizeof(data));
	ck_assert_int_eq(poll_stream_open(&l, &s, fds[0]), 0);
	ck_assert_int_eq(poll_spawn(&l, &b.base, sizeof(b), &tr), 0);
	ck_assert_int_eq(poll_spawn(&l, &o.base, sizeof(o), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(progress, sizeof(data));
	*reader_polls = poll_task_polls(tr);
	poll_task_detach(tr);
	poll_stream_close(&s);
	close(fds[1]);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
	set_budget(POLL_BUDGET_DEFAULT);
}

START_TEST(test_budget_applies_to_real_reads_from_a_socket_with_data)
{
	unsigned seen_on = 0, seen_off = 0;
	uint64_t polls_on = 0, polls_off = 0;

	run_reader_and_observer(128, &seen_on, &polls_on);
	run_reader_and_observer(0, &seen_off, &polls_off);
	ck_assert_uint_eq(seen_on, 128);
	ck_assert_uint_ge(polls_on, (4000 + 127) / 128);
	ck_assert_uint_eq(seen_off, 4000);
	ck_assert_uint_eq(polls_off, 1);
}
END_TEST

/* ---- leaves: read, write, accept, connect ------------------------------------------ */

/* Sleeps, then writes a message: the other side of a read test. */
struct later_write_fut {
	struct poll_future base;
	int state;
	struct poll_loop *l;
	struct poll_stream *s;
	const void *msg;
	size_t len;
	uint64_t delay;
	struct poll_sleep sleep;
	struct poll_write wr;
};

static enum poll_status later_write_poll(struct poll_future *f,
					 struct poll_cx *cx)
{
	struct later_write_fut *w = (struct later_write_fut *)f;

	for (;;) {
		switch (w->state) {
		case 0:
			poll_sleep_init(&w->sleep, w->l, w->delay);
			w->state = 1;
			continue;
		case 1:
			if (poll_future_poll(&w->sleep.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			poll_write_init(&w->wr, w->s, w->msg, w->len);
			w->state = 2;
			continue;
		case 2:
			if (poll_future_poll(&w->wr.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			f->out = w->wr.base.out;
			w->state = 3;
			return POLL_READY;
		default:
			return POLL_READY;
		}
	}
}

static void later_write_drop(struct poll_future *f)
{
	struct later_write_fut *w = (struct later_write_fut *)f;

	if (w->state == 1)
		poll_future_drop(&w->sleep.base);
	if (w->state == 2)
		poll_future_drop(&w->wr.base);
	w->state = 3;
}

static const struct poll_future_vt later_write_vt = {
	"later_write", later_write_poll, later_write_drop
};

START_TEST(test_read_waits_for_data_and_returns_what_arrived)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream a, b;
	int fds[2];
	char buf[16] = { 0 };
	struct poll_read rd;
	struct later_write_fut w = { .base = { &later_write_vt, 0 }, .l = &l,
				     .s = &b, .msg = "hello", .len = 5,
				     .delay = CLOCK_NS_PER_MS };
	struct poll_task *tr;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &a, fds[0]), 0);
	ck_assert_int_eq(poll_stream_open(&l, &b, fds[1]), 0);
	poll_read_init(&rd, &a, buf, sizeof(buf));
	ck_assert_int_eq(poll_spawn(&l, &rd.base, sizeof(rd), &tr), 0);
	ck_assert_int_eq(poll_spawn(&l, &w.base, sizeof(w), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(tr, &out), 0);
	ck_assert_int_eq(out, 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_uint_eq(poll_task_polls(tr), 2);  /* -EAGAIN, then the data */
	ck_assert(!poll_waker_is_set(&a.reader));
	poll_task_detach(tr);
	poll_stream_close(&a);
	poll_stream_close(&b);
	ck_assert(!poll_stream_is_open(&a));
	poll_stream_close(&a);              /* closing twice does nothing */
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_read_returns_zero_at_end_of_stream)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream a;
	int fds[2];
	char buf[8];
	struct poll_read rd;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &a, fds[0]), 0);
	close(fds[1]);
	poll_read_init(&rd, &a, buf, sizeof(buf));
	ck_assert_int_eq(poll_block_on(&l, &rd.base), 0);
	ck_assert_int_eq(rd.base.out, 0);
	poll_stream_close(&a);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Reads until end of stream, counting and checking a byte pattern. */
struct drain_fut {
	struct poll_future base;
	struct poll_stream *s;
	uint64_t got;
	bool *bad;
	unsigned char buf[4096];
	struct poll_read rd;
	bool reading;
};

static enum poll_status drain_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct drain_fut *d = (struct drain_fut *)f;

	for (;;) {
		if (!d->reading) {
			poll_read_init(&d->rd, d->s, d->buf, sizeof(d->buf));
			d->reading = true;
		}
		if (poll_future_poll(&d->rd.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		d->reading = false;
		if (d->rd.base.out <= 0)
			break;
		for (ssize_t i = 0; i < d->rd.base.out; i++)
			if (d->buf[i] != (unsigned char)((d->got + i) * 7))
				*d->bad = true;
		d->got += (uint64_t)d->rd.base.out;
	}
	f->out = (ssize_t)d->got;
	return POLL_READY;
}

static void drain_drop(struct poll_future *f)
{
	struct drain_fut *d = (struct drain_fut *)f;

	if (d->reading)
		poll_future_drop(&d->rd.base);
	d->reading = false;
}

static const struct poll_future_vt drain_vt = { "drain", drain_poll, drain_drop };

/* Writes all, then half-closes. */
struct send_all_fut {
	struct poll_future base;
	struct poll_stream *s;
	struct poll_write wr;
	bool started;
	const void *buf;
	size_t n;
};

static enum poll_status send_all_poll(struct poll_future *f,
				      struct poll_cx *cx)
{
	struct send_all_fut *w = (struct send_all_fut *)f;

	if (!w->started) {
		poll_write_init(&w->wr, w->s, w->buf, w->n);
		w->started = true;
	}
	if (poll_future_poll(&w->wr.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	reactor_shutdown_write(cx->loop->r, w->s->handle);
	f->out = w->wr.base.out;
	return POLL_READY;
}

static void send_all_drop(struct poll_future *f)
{
	struct send_all_fut *w = (struct send_all_fut *)f;

	if (w->started)
		poll_future_drop(&w->wr.base);
}

static const struct poll_future_vt send_all_vt = {
	"send_all", send_all_poll, send_all_drop
};

START_TEST(test_write_writes_everything_across_full_socket_buffers)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream a, b;
	int fds[2];
	size_t n = 4 << 20;
	unsigned char *data = malloc(n);
	static struct drain_fut d;
	struct send_all_fut w = { .base = { &send_all_vt, 0 }, .s = &a };
	struct poll_task *tw, *td;
	ssize_t out;
	bool bad = false;

	leak_check_begin();
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7);
	w.buf = data;
	w.n = n;
	memset(&d, 0, sizeof(d));
	d.base.vt = &drain_vt;
	d.s = &b;
	d.bad = &bad;
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &a, fds[0]), 0);
	ck_assert_int_eq(poll_stream_open(&l, &b, fds[1]), 0);
	ck_assert_int_eq(poll_spawn(&l, &w.base, sizeof(w), &tw), 0);
	ck_assert_int_eq(poll_spawn(&l, &d.base, sizeof(d), &td), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(tw, &out), 0);
	ck_assert_int_eq(out, (ssize_t)n);
	ck_assert_uint_gt(poll_task_polls(tw), 1);   /* it did have to wait */
	ck_assert_int_eq(poll_task_result(td, &out), 0);
	ck_assert_int_eq(out, (ssize_t)n);
	ck_assert(!bad);
	poll_task_detach(tw);
	poll_task_detach(td);
	poll_stream_close(&a);
	poll_stream_close(&b);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
	free(data);
}
END_TEST

START_TEST(test_write_reports_the_error_of_a_closed_peer)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream a;
	int fds[2];
	struct poll_write wr;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &a, fds[0]), 0);
	close(fds[1]);
	poll_write_init(&wr, &a, "x", 1);
	ck_assert_int_eq(poll_block_on(&l, &wr.base), 0);
	ck_assert_int_eq(wr.base.out, -EPIPE);
	poll_stream_close(&a);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_accept_and_connect_meet_over_loopback)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream ls, cs;
	struct poll_accept acc;
	struct poll_connect con;
	struct poll_task *ta, *tc;
	int h, port;
	ssize_t out;
	char c = 0;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	h = reactor_listen(r, "127.0.0.1", 0, 16);
	ck_assert_int_ge(h, 0);
	port = reactor_local_port(r, h);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(poll_stream_open(&l, &ls, h), 0);
	poll_accept_init(&acc, &ls);
	poll_connect_init(&con, &cs, "127.0.0.1", (uint16_t)port);
	ck_assert_int_eq(poll_spawn(&l, &acc.base, sizeof(acc), &ta), 0);
	ck_assert_int_eq(poll_spawn(&l, &con.base, sizeof(con), &tc), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(tc, &out), 0);
	ck_assert_int_eq(out, 0);
	ck_assert(poll_stream_is_open(&cs));
	ck_assert_int_eq(poll_task_result(ta, &out), 0);
	ck_assert_int_ge(out, 0);
	/* The two ends are one connection. */
	ck_assert_int_eq(reactor_write(r, cs.handle, "z", 1), 1);
	for (int i = 0; i < 1000 && reactor_read(r, (int)out, &c, 1) != 1; i++)
		usleep(1000);
	ck_assert_int_eq(c, 'z');
	reactor_close(r, (int)out);
	poll_task_detach(ta);
	poll_task_detach(tc);
	poll_stream_close(&cs);
	poll_stream_close(&ls);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_connect_to_a_port_nobody_listens_on_is_refused)
{
	struct reactor *r = new_sim(3);
	struct poll_loop l;
	struct poll_stream cs;
	struct poll_connect con;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_connect_init(&con, &cs, "127.0.0.1", 9);
	ck_assert_int_eq(poll_block_on(&l, &con.base), 0);
	ck_assert_int_eq(con.base.out, -ECONNREFUSED);
	ck_assert(poll_stream_is_open(&cs));    /* the caller's to close */
	poll_stream_close(&cs);
	ck_assert(!poll_stream_is_open(&cs));
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_connect_dropped_while_connecting_leaves_its_stream_to_the_caller)
{
	struct reactor *r = new_sim(3);
	struct poll_loop l;
	struct poll_stream ls, cs;
	struct poll_connect con;
	struct poll_task *tc;
	int h;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	h = reactor_listen(r, "127.0.0.1", 4000, 16);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(poll_stream_open(&l, &ls, h), 0);
	poll_connect_init(&con, &cs, "127.0.0.1", 4000);
	ck_assert_int_eq(poll_spawn(&l, &con.base, sizeof(con), &tc), 0);
	/* One poll: the connection is started, not finished. */
	ck_assert_uint_eq(poll_loop_run_ready(&l), 1);
	ck_assert(poll_stream_is_open(&cs));
	poll_task_abort(tc);
	ck_assert(poll_stream_is_open(&cs));     /* the caller's to close */
	ck_assert_uint_eq(poll_task_refs(tc), 1); /* the waker let go of it */
	poll_stream_close(&cs);
	poll_task_detach(tc);
	poll_stream_close(&ls);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- sleep ---------------------------------------------------------------------- */

START_TEST(test_sleep_completes_after_its_delay_in_virtual_time)
{
	struct reactor *r = new_sim(5);
	struct poll_loop l;
	struct poll_sleep s;
	uint64_t t0 = reactor_now(r);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_sleep_init(&s, &l, 250 * CLOCK_NS_PER_MS);
	ck_assert_int_eq(poll_block_on(&l, &s.base), 0);
	ck_assert_uint_ge(reactor_now(r) - t0, 250 * CLOCK_NS_PER_MS);
	ck_assert(!reactor_timer_active(&s.timer));
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_sleep_dropped_before_it_fires_stops_its_timer)
{
	struct reactor *r = new_sim(5);
	struct poll_loop l;
	struct poll_sleep s;
	struct poll_task *t;
	struct poll_sleep *pinned;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_sleep_init(&s, &l, CLOCK_NS_PER_S);
	ck_assert_int_eq(poll_spawn(&l, &s.base, sizeof(s), &t), 0);
	pinned = (struct poll_sleep *)poll_task_future(t);
	ck_assert_uint_eq(poll_loop_run_ready(&l), 1);   /* one poll */
	ck_assert(reactor_timer_active(&pinned->timer));
	ck_assert_uint_eq(poll_task_refs(t), 3);   /* live, handle, timer */
	poll_task_abort(t);
	ck_assert(!reactor_timer_active(&pinned->timer));
	ck_assert_uint_eq(poll_task_refs(t), 1);
	ck_assert_int_eq(poll_loop_run(&l), 0);    /* nothing left to fire */
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- files through offload ------------------------------------------------------------ */

START_TEST(test_file_write_then_read_round_trips_through_offload)
{
	struct reactor *r = new_epoll();
	struct offload *o;
	struct poll_loop l;
	char path[] = "/tmp/test_poll_fileXXXXXX";
	int fd, h;
	struct poll_buf *out, *in;
	struct poll_file_write fw;
	struct poll_file_read fr;

	leak_check_begin();
	o = offload_new(r, 2);
	ck_assert_ptr_nonnull(o);
	poll_loop_init(&l, r, o, NULL);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	h = reactor_file_open(r, path, O_RDWR, 0);
	ck_assert_int_ge(h, 0);

	out = poll_buf_new(10000);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < out->cap; i++)
		out->data[i] = (unsigned char)(i * 13);
	out->len = out->cap;
	poll_file_write_init(&fw, &l, h, out, 100);
	ck_assert_int_eq(poll_block_on(&l, &fw.base), 0);
	ck_assert_int_eq(fw.base.out, 10000);

	in = poll_buf_new(20000);
	poll_file_read_init(&fr, &l, h, in, 100);
	ck_assert_int_eq(poll_block_on(&l, &fr.base), 0);
	ck_assert_int_eq(fr.base.out, 10000);
	ck_assert_uint_eq(in->len, 10000);
	ck_assert_int_eq(memcmp(in->data, out->data, 10000), 0);

	poll_file_read_init(&fr, &l, h, in, 10100);   /* past the end */
	ck_assert_int_eq(poll_block_on(&l, &fr.base), 0);
	ck_assert_int_eq(fr.base.out, 0);
	ck_assert_uint_eq(in->len, 0);

	poll_buf_unref(out);
	poll_buf_unref(in);
	reactor_file_close(r, h);
	unlink(path);
	poll_loop_fini(&l);
	offload_free(o);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* A write the file cannot take whole: with the file size limit at 500
 * bytes, a write of 1000 at offset 10 writes 490, short, and the next
 * pwrite fails with EFBIG, as a full disk fails with ENOSPC.  The output is
 * the error, never the 490 (poll.h: buf->len or -errno). */
START_TEST(test_a_file_write_that_stops_part_way_is_an_error)
{
	struct reactor *r = new_epoll();
	struct offload *o;
	struct poll_loop l;
	char path[] = "/tmp/test_poll_fileXXXXXX";
	struct poll_file_write fw;
	struct poll_buf *out;
	struct rlimit old, lim;
	ssize_t result;
	int fd, h;

	leak_check_begin();
	o = offload_new(r, 2);
	ck_assert_ptr_nonnull(o);
	poll_loop_init(&l, r, o, NULL);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	h = reactor_file_open(r, path, O_RDWR, 0);
	ck_assert_int_ge(h, 0);
	out = poll_buf_new(1000);
	ck_assert_ptr_nonnull(out);
	memset(out->data, 'x', out->cap);
	out->len = out->cap;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 500;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	poll_file_write_init(&fw, &l, h, out, 10);
	ck_assert_int_eq(poll_block_on(&l, &fw.base), 0);
	result = fw.base.out;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);   /* before any report */
	ck_assert_int_eq(result, -EFBIG);
	ck_assert_int_eq(reactor_file_size(r, h), 500);
	poll_buf_unref(out);
	reactor_file_close(r, h);
	unlink(path);
	poll_loop_fini(&l);
	offload_free(o);
	leak_check_end();
	reactor_free(r);
}
END_TEST

struct abort_at_step {
	struct poll_task *t;
	struct offload *o;
	int job_state;
};

static void abort_hook(void *arg)
{
	struct abort_at_step *a = arg;
	struct poll_file_read *fr =
		(struct poll_file_read *)poll_task_future(a->t);

	a->job_state = ((struct offload_job *)fr->job)->state;
	poll_task_abort(a->t);
}

/* Under sim a job starts at one step and finishes at the next: dropping the
 * future just before the finish step drops it while the job runs. */
START_TEST(test_file_read_dropped_while_its_job_runs_is_safe_and_frees_all)
{
	struct reactor *r = new_sim(9);
	struct offload *o;
	struct poll_loop l;
	static char data[5000];
	struct poll_buf *buf;
	struct poll_file_read fr;
	struct abort_at_step a = { 0 };
	struct offload_stats st;
	int h;
	ssize_t res;

	leak_check_begin();
	ck_assert_int_eq(sim_file_create(r, "/in", data, sizeof(data)), 0);
	o = offload_new(r, 1);
	poll_loop_init(&l, r, o, NULL);
	h = reactor_file_open(r, "/in", O_RDONLY, 0);
	ck_assert_int_ge(h, 0);
	buf = poll_buf_new(4096);
	poll_file_read_init(&fr, &l, h, buf, 0);
	ck_assert_int_eq(poll_spawn(&l, &fr.base, sizeof(fr), &a.t), 0);
	sim_at_step(r, sim_steps(r) + 2, abort_hook, &a);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(a.job_state, OFFLOAD_RUNNING);
	ck_assert_int_eq(poll_task_result(a.t, &res), 0);
	ck_assert_int_eq(res, -ECANCELED);
	/* The job still owns a reference until offload discards it. */
	while (offload_outstanding(o) > 0)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_running, 1);
	ck_assert_uint_eq(buf->refs, 1);
	poll_task_detach(a.t);
	poll_buf_unref(buf);
	reactor_file_close(r, h);
	poll_loop_fini(&l);
	offload_free(o);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_file_futures_without_an_offload_pool_say_enosys)
{
	struct reactor *r = new_sim(9);
	struct poll_loop l;
	struct poll_buf *buf;
	struct poll_file_read fr;
	struct poll_file_write fw;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	buf = poll_buf_new(16);
	poll_file_read_init(&fr, &l, 0, buf, 0);
	ck_assert_int_eq(poll_block_on(&l, &fr.base), 0);
	ck_assert_int_eq(fr.base.out, -ENOSYS);
	poll_file_write_init(&fw, &l, 0, buf, 0);
	ck_assert_int_eq(poll_block_on(&l, &fw.base), 0);
	ck_assert_int_eq(fw.base.out, -ENOSYS);
	poll_buf_unref(buf);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* epoll refuses regular files: the open fails, and the handle is still the
 * caller's, open (push's rule too: a call that fails changes nothing). */
START_TEST(test_stream_open_failure_leaves_the_handle_with_the_caller)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream s;
	int fd;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_lt(poll_stream_open(&l, &s, fd), 0);
	ck_assert(!poll_stream_is_open(&s));
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);   /* still open */
	close(fd);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* The counting allocator says when the block goes: the frees counted since
 * the buffer was made. */
static uint64_t frees_since(const struct mem_stats *before)
{
	struct mem_stats now;

	mem_stats_get(&now);
	return now.frees - before->frees;
}

START_TEST(test_buffer_is_freed_at_its_last_release)
{
	struct mem_stats before;
	struct poll_buf *b;

	leak_check_begin();
	b = poll_buf_new(64);
	ck_assert_ptr_nonnull(b);
	mem_stats_get(&before);
	ck_assert_uint_eq(b->len, 0);
	ck_assert_ptr_eq(poll_buf_ref(b), b);
	poll_buf_unref(b);
	ck_assert_uint_eq(frees_since(&before), 0);
	poll_buf_unref(b);
	ck_assert_uint_eq(frees_since(&before), 1);
	poll_buf_unref(NULL);
	ck_assert_uint_eq(frees_since(&before), 1);
	leak_check_end();
}
END_TEST

/* ---- combinators --------------------------------------------------------------------- */

/* A step of a sequence: sleeps 1 ms, then outputs a value. */
struct add_fut {
	struct poll_future base;
	struct poll_sleep sl;
	ssize_t value;
};

static enum poll_status add_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct add_fut *a = (struct add_fut *)f;

	if (poll_future_poll(&a->sl.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = a->value;
	return POLL_READY;
}

static void add_drop(struct poll_future *f)
{
	poll_future_drop(&((struct add_fut *)f)->sl.base);
}

static const struct poll_future_vt add_vt = { "add", add_poll, add_drop };

struct seq_test {
	struct poll_loop *l;
	unsigned calls;
	unsigned fail_at;         /* this step outputs -EIO (0: none) */
	struct gate *gate_at_2;   /* step 2 waits on this gate, if set */
};

/* Step i: prev + 1, after 1 ms; or -EIO; or a gate. */
static struct poll_future *seq_test_step(void *arg, unsigned i, ssize_t prev,
					 void *slot)
{
	struct seq_test *t = arg;
	struct add_fut *a = slot;

	t->calls++;
	if (t->gate_at_2 != NULL && i == 2) {
		struct gate_fut *g = slot;
		*g = gate_fut(t->gate_at_2);
		return &g->base;
	}
	a->base.vt = &add_vt;
	a->base.out = 0;
	poll_sleep_init(&a->sl, t->l, CLOCK_NS_PER_MS);
	a->value = t->fail_at != 0 && i == t->fail_at ? -EIO : prev + 1;
	return &a->base;
}

/* The slot: as large as the largest step's future. */
union seq_slot {
	struct add_fut add;
	struct gate_fut gate;
};

START_TEST(test_seq_runs_64_steps_in_one_slot_and_allocates_nothing)
{
	struct reactor *r = new_sim(6);
	struct poll_loop l;
	struct seq_test t = { .l = &l };
	union seq_slot slot;
	struct poll_seq seq;
	struct mem_stats before, after;
	uint64_t t0 = reactor_now(r);

	poll_loop_init(&l, r, NULL, NULL);
	mem_stats_get(&before);
	poll_seq_init(&seq, seq_test_step, 64, &t, &slot);
	ck_assert_int_eq(poll_block_on(&l, &seq.base), 0);
	mem_stats_get(&after);
	ck_assert_int_eq(seq.base.out, 64);     /* each step added one */
	ck_assert_uint_eq(t.calls, 64);
	ck_assert_uint_ge(reactor_now(r) - t0, 64 * CLOCK_NS_PER_MS);
	ck_assert_uint_eq(after.allocs, before.allocs);
	poll_loop_fini(&l);
	reactor_free(r);
}
END_TEST

START_TEST(test_seq_stops_at_the_first_error)
{
	struct reactor *r = new_sim(6);
	struct poll_loop l;
	struct seq_test t = { .l = &l, .fail_at = 3 };
	union seq_slot slot;
	struct poll_seq seq;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_seq_init(&seq, seq_test_step, 10, &t, &slot);
	ck_assert_int_eq(poll_block_on(&l, &seq.base), 0);
	ck_assert_int_eq(seq.base.out, -EIO);
	ck_assert_uint_eq(t.calls, 4);          /* steps 0..3, no more */
	poll_seq_init(&seq, seq_test_step, 0, &t, &slot);
	ck_assert_int_eq(poll_block_on(&l, &seq.base), 0);
	ck_assert_int_eq(seq.base.out, 0);
	ck_assert_uint_eq(t.calls, 4);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_seq_dropped_mid_way_drops_the_step_in_flight)
{
	struct reactor *r = new_sim(6);
	struct poll_loop l;
	struct gate g = { 0 };
	struct seq_test t = { .l = &l, .gate_at_2 = &g };
	union seq_slot slot;
	struct poll_seq seq;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_seq_init(&seq, seq_test_step, 5, &t, &slot);
	ck_assert_int_eq(poll_block_on(&l, &seq.base), -EDEADLK);
	ck_assert_uint_eq(t.calls, 3);          /* waiting in step 2 */
	ck_assert_int_eq(g.polls, 1);
	ck_assert_int_eq(g.drops, 1);           /* dropped with the seq */
	ck_assert(!poll_waker_is_set(&g.waker));
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* A parent that builds its combinator at its first poll (R1): children
 * and combinator all by value in it. */
struct three_sleeps_fut {
	struct poll_future base;
	struct poll_loop *l;
	bool started;
	int kind;                   /* 0: join, 1: race */
	uint64_t ms[3];
	struct poll_sleep s[3];
	struct poll_future *child[3];
	union {
		struct poll_join join;
		struct poll_race race;
	} c;
};

static enum poll_status three_sleeps_poll(struct poll_future *f,
					  struct poll_cx *cx)
{
	struct three_sleeps_fut *t = (struct three_sleeps_fut *)f;
	struct poll_future *comb = t->kind == 0 ? &t->c.join.base
						: &t->c.race.base;

	if (!t->started) {
		for (int i = 0; i < 3; i++) {
			poll_sleep_init(&t->s[i], t->l, t->ms[i] * CLOCK_NS_PER_MS);
			t->child[i] = &t->s[i].base;
		}
		if (t->kind == 0)
			poll_join_init(&t->c.join, t->child, 3);
		else
			poll_race_init(&t->c.race, t->child, 3);
		t->started = true;
	}
	if (poll_future_poll(comb, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = comb->out;
	return POLL_READY;
}

static void three_sleeps_drop(struct poll_future *f)
{
	struct three_sleeps_fut *t = (struct three_sleeps_fut *)f;

	if (t->started)
		poll_future_drop(t->kind == 0 ? &t->c.join.base
					      : &t->c.race.base);
}

static const struct poll_future_vt three_sleeps_vt = {
	"three_sleeps", three_sleeps_poll, three_sleeps_drop
};

/* A join whose children fail says the first error in child order, and
 * each child's output stays in the child (push_join's rule too). */
struct err_join_fut {
	struct poll_future base;
	bool started;
	struct poll_sleep s;          /* child 0: READY last, with 0 */
	struct value_fut v[2];        /* children 1 and 2: READY at once */
	struct poll_future *child[3];
	struct poll_join join;
};

static enum poll_status err_join_poll(struct poll_future *f,
				      struct poll_cx *cx)
{
	struct err_join_fut *e = (struct err_join_fut *)f;

	if (!e->started) {
		e->child[0] = &e->s.base;
		e->child[1] = &e->v[0].base;
		e->child[2] = &e->v[1].base;
		poll_join_init(&e->join, e->child, 3);
		e->started = true;
	}
	if (poll_future_poll(&e->join.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = e->join.base.out;
	return POLL_READY;
}

static void err_join_drop(struct poll_future *f)
{
	struct err_join_fut *e = (struct err_join_fut *)f;

	if (e->started)
		poll_future_drop(&e->join.base);
}

static const struct poll_future_vt err_join_vt = {
	"err_join", err_join_poll, err_join_drop
};

START_TEST(test_join_says_the_first_error_in_child_order)
{
	struct reactor *r = new_sim(2);
	struct poll_loop l;
	struct err_join_fut e = { .base = { &err_join_vt, 0 } };

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	poll_sleep_init(&e.s, &l, CLOCK_NS_PER_MS);
	e.v[0] = value_fut(-EPIPE, NULL, NULL);
	e.v[1] = value_fut(-EIO, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &e.base), 0);
	ck_assert_int_eq(e.base.out, -EPIPE);
	ck_assert_int_eq(e.s.base.out, 0);
	ck_assert_int_eq(e.v[1].base.out, -EIO);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_join_completes_when_every_child_has)
{
	struct reactor *r = new_sim(2);
	struct poll_loop l;
	struct three_sleeps_fut t = { .base = { &three_sleeps_vt, 0 }, .l = &l,
				      .kind = 0, .ms = { 30, 10, 20 } };
	uint64_t t0 = reactor_now(r);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &t.base), 0);
	ck_assert_int_eq(t.base.out, 0);
	ck_assert_uint_ge(reactor_now(r) - t0, 30 * CLOCK_NS_PER_MS);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_null(t.child[i]);     /* each done once */
		ck_assert(t.s[i].fired);
	}
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_race_returns_the_first_ready_child_and_drops_the_losers)
{
	struct reactor *r = new_sim(2);
	struct poll_loop l;
	struct three_sleeps_fut t = { .base = { &three_sleeps_vt, 0 }, .l = &l,
				      .kind = 1, .ms = { 30, 10, 20 } };
	uint64_t t0 = reactor_now(r);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &t.base), 0);
	ck_assert_int_eq(t.base.out, 1);
	ck_assert_uint_lt(reactor_now(r) - t0, 20 * CLOCK_NS_PER_MS);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_null(t.child[i]);
		/* losers' timers stopped, their wakers given back */
		ck_assert(!reactor_timer_active(&t.s[i].timer));
		ck_assert(!poll_waker_is_set(&t.s[i].waker));
	}
	ck_assert(t.s[1].fired);
	ck_assert_int_eq(poll_loop_run(&l), 0);  /* no timer left behind */
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* race(read on a silent stream, gate, sleep 5 ms): the sleep wins; the
 * read's registration and the gate's waker must be gone. */
struct race_mix_fut {
	struct poll_future base;
	bool started;
	struct poll_loop *l;
	struct poll_stream *s;
	struct gate *g;
	char buf[8];
	struct poll_read rd;
	struct gate_fut gf;
	struct poll_sleep sl;
	struct poll_future *child[3];
	struct poll_race sel;
};

static enum poll_status race_mix_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct race_mix_fut *m = (struct race_mix_fut *)f;

	if (!m->started) {
		poll_read_init(&m->rd, m->s, m->buf, sizeof(m->buf));
		m->gf = gate_fut(m->g);
		poll_sleep_init(&m->sl, m->l, 5 * CLOCK_NS_PER_MS);
		m->child[0] = &m->rd.base;
		m->child[1] = &m->gf.base;
		m->child[2] = &m->sl.base;
		poll_race_init(&m->sel, m->child, 3);
		m->started = true;
	}
	if (poll_future_poll(&m->sel.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = m->sel.base.out;
	return POLL_READY;
}

static void race_mix_drop(struct poll_future *f)
{
	struct race_mix_fut *m = (struct race_mix_fut *)f;

	if (m->started)
		poll_future_drop(&m->sel.base);
}

static const struct poll_future_vt race_mix_vt = {
	"race_mix", race_mix_poll, race_mix_drop
};

START_TEST(test_race_drops_losers_with_their_registrations)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream s;
	struct gate g = { 0 };
	int fds[2];
	struct race_mix_fut m = { .base = { &race_mix_vt, 0 }, .l = &l,
				    .g = &g };
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &s, fds[0]), 0);
	m.s = &s;
	ck_assert_int_eq(poll_spawn(&l, &m.base, sizeof(m), &t), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 2);
	ck_assert_int_eq(g.drops, 1);
	ck_assert(!poll_waker_is_set(&g.waker));
	ck_assert(!poll_waker_is_set(&s.reader));
	ck_assert_uint_eq(poll_task_refs(t), 1);   /* nothing else holds it */
	poll_task_detach(t);
	poll_stream_close(&s);
	close(fds[1]);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* timeout(inner, ms) with the inner a gate or a sleep. */
struct timeout_fut {
	struct poll_future base;
	bool started;
	struct poll_loop *l;
	struct gate *g;          /* inner: the gate if set, else a sleep */
	uint64_t inner_ms, limit_ms;
	struct gate_fut gf;
	struct poll_sleep sl;
	struct poll_timeout to;
};

static enum poll_status timeout_fut_poll(struct poll_future *f,
					 struct poll_cx *cx)
{
	struct timeout_fut *t = (struct timeout_fut *)f;

	if (!t->started) {
		struct poll_future *inner;

		if (t->g != NULL) {
			t->gf = gate_fut(t->g);
			inner = &t->gf.base;
		} else {
			poll_sleep_init(&t->sl, t->l, t->inner_ms * CLOCK_NS_PER_MS);
			inner = &t->sl.base;
		}
		poll_timeout_init(&t->to, t->l, inner,
				  t->limit_ms * CLOCK_NS_PER_MS);
		t->started = true;
	}
	if (poll_future_poll(&t->to.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = t->to.base.out;
	return POLL_READY;
}

static void timeout_fut_drop(struct poll_future *f)
{
	struct timeout_fut *t = (struct timeout_fut *)f;

	if (t->started)
		poll_future_drop(&t->to.base);
}

static const struct poll_future_vt timeout_fut_vt = {
	"timeout_fut", timeout_fut_poll, timeout_fut_drop
};

START_TEST(test_timeout_gives_etimedout_and_drops_the_late_inner_future)
{
	struct reactor *r = new_sim(4);
	struct poll_loop l;
	struct gate g = { 0 };
	struct timeout_fut t = { .base = { &timeout_fut_vt, 0 }, .l = &l,
				 .g = &g, .limit_ms = 7 };
	uint64_t t0 = reactor_now(r);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &t.base), 0);
	ck_assert_int_eq(t.base.out, -ETIMEDOUT);
	ck_assert_uint_ge(reactor_now(r) - t0, 7 * CLOCK_NS_PER_MS);
	ck_assert_int_eq(g.drops, 1);
	ck_assert(!poll_waker_is_set(&g.waker));
	ck_assert(!reactor_timer_active(&t.to.sleep.timer));
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

static struct gate *quiet_gate;

static void open_quietly(struct reactor_timer *t)
{
	(void)t;
	quiet_gate->open = true;        /* and no wake */
}

/* A deadline that has passed wins over an inner future that became ready
 * without waking anyone, as a socket's buffer drains without being reported
 * writable: at the deadline the inner is not polled, it ends -ETIMEDOUT. */
START_TEST(test_timeout_that_has_passed_wins_over_an_unannounced_ready_inner)
{
	struct reactor *r = new_sim(4);
	struct poll_loop l;
	struct gate g = { 0 };
	struct reactor_timer quiet = { 0 };
	struct timeout_fut t = { .base = { &timeout_fut_vt, 0 }, .l = &l,
				 .g = &g, .limit_ms = 7 };

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	quiet_gate = &g;
	reactor_timer_start(r, &quiet, 3 * CLOCK_NS_PER_MS, open_quietly);
	ck_assert_int_eq(poll_block_on(&l, &t.base), 0);
	ck_assert(g.open);
	ck_assert_int_eq(t.base.out, -ETIMEDOUT);
	ck_assert_int_eq(g.polls, 1);   /* only the first poll, before it */
	ck_assert_int_eq(g.drops, 1);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_timeout_gives_the_inner_output_when_in_time)
{
	struct reactor *r = new_sim(4);
	struct poll_loop l;
	struct timeout_fut t = { .base = { &timeout_fut_vt, 0 }, .l = &l,
				 .inner_ms = 2, .limit_ms = 50 };
	uint64_t t0 = reactor_now(r);

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_block_on(&l, &t.base), 0);
	ck_assert_int_eq(t.base.out, 0);
	ck_assert_uint_lt(reactor_now(r) - t0, 50 * CLOCK_NS_PER_MS);
	ck_assert(!reactor_timer_active(&t.to.sleep.timer));  /* stopped */
	ck_assert_int_eq(poll_loop_run(&l), 0);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* race( timeout(read, 1 s), join(sleep 1 s, gate) ): aborted while all
 * of it waits, every leaf must let go. */
struct nested_fut {
	struct poll_future base;
	bool started;
	struct poll_loop *l;
	struct poll_stream *s;
	struct gate *g;
	char buf[8];
	struct poll_read rd;
	struct poll_timeout to;
	struct poll_sleep sl;
	struct gate_fut gf;
	struct poll_future *join_child[2];
	struct poll_join join;
	struct poll_future *sel_child[2];
	struct poll_race sel;
};

static enum poll_status nested_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct nested_fut *n = (struct nested_fut *)f;

	if (!n->started) {
		poll_read_init(&n->rd, n->s, n->buf, sizeof(n->buf));
		poll_timeout_init(&n->to, n->l, &n->rd.base, CLOCK_NS_PER_S);
		poll_sleep_init(&n->sl, n->l, CLOCK_NS_PER_S);
		n->gf = gate_fut(n->g);
		n->join_child[0] = &n->sl.base;
		n->join_child[1] = &n->gf.base;
		poll_join_init(&n->join, n->join_child, 2);
		n->sel_child[0] = &n->to.base;
		n->sel_child[1] = &n->join.base;
		poll_race_init(&n->sel, n->sel_child, 2);
		n->started = true;
	}
	if (poll_future_poll(&n->sel.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = n->sel.base.out;
	return POLL_READY;
}

static void nested_drop(struct poll_future *f)
{
	struct nested_fut *n = (struct nested_fut *)f;

	if (n->started)
		poll_future_drop(&n->sel.base);
	n->started = false;
}

static const struct poll_future_vt nested_vt = { "nested", nested_poll, nested_drop };

START_TEST(test_abort_inside_nested_combinators_releases_every_leaf)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	struct poll_stream s;
	struct gate g = { 0 };
	int fds[2];
	struct nested_fut n = { .base = { &nested_vt, 0 }, .l = &l, .g = &g };
	struct nested_fut *pinned;
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	poll_loop_init(&l, r, NULL, NULL);
	stream_pair(fds);
	ck_assert_int_eq(poll_stream_open(&l, &s, fds[0]), 0);
	n.s = &s;
	ck_assert_int_eq(poll_spawn(&l, &n.base, sizeof(n), &t), 0);
	pinned = (struct nested_fut *)poll_task_future(t);
	ck_assert_uint_eq(poll_loop_run_ready(&l), 1);  /* all of it waits */
	ck_assert(poll_waker_is_set(&s.reader));
	ck_assert(poll_waker_is_set(&g.waker));
	ck_assert(reactor_timer_active(&pinned->to.sleep.timer));
	ck_assert(reactor_timer_active(&pinned->sl.timer));
	/* live, handle, reader slot, gate slot, two timers */
	ck_assert_uint_eq(poll_task_refs(t), 6);

	poll_task_abort(t);
	ck_assert(!poll_waker_is_set(&s.reader));
	ck_assert(!poll_waker_is_set(&g.waker));
	ck_assert_int_eq(g.drops, 1);
	ck_assert(!reactor_timer_active(&pinned->to.sleep.timer));
	ck_assert(!reactor_timer_active(&pinned->sl.timer));
	ck_assert_uint_eq(poll_task_refs(t), 1);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(t);
	poll_stream_close(&s);
	close(fds[1]);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* ---- figures ---------------------------------------------------------------------- */

/* Wakes itself n times; every `batch` polls it records the mean time of one
 * wake-to-poll round in a histogram. */
struct wake_bench_fut {
	struct poll_future base;
	uint64_t n, done, batch;
	uint64_t t0;
	struct hist *h;
};

static enum poll_status wake_bench_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct wake_bench_fut *w = (struct wake_bench_fut *)f;

	if (w->done % w->batch == 0) {
		uint64_t now = clock_now_ns();
		if (w->done > 0)
			hist_record(w->h, (now - w->t0) / w->batch);
		w->t0 = now;
	}
	if (w->done++ == w->n) {
		f->out = 0;
		return POLL_READY;
	}
	poll_cx_wake(cx);
	return POLL_PENDING;
}

static const struct poll_future_vt wake_bench_vt = {
	"wake_bench", wake_bench_poll, nothing_drop
};

/* The figure for docs/poll.md: what one yield costs, from a task's wake of
 * itself to its next poll, the look at I/O that the yield fence puts in
 * between included (one reactor_poll(0), a system call, per yield).
 * Printed, never asserted: a test checks behaviour, not speed.  POLL_WAKES
 * overrides the count (10 million). */
START_TEST(test_yield_to_poll_figure_is_printed_for_ten_million_yields)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	static struct hist h;
	const char *env = getenv("POLL_WAKES");
	uint64_t n = env ? strtoull(env, NULL, 10) : 10000000;
	struct wake_bench_fut w = { { &wake_bench_vt, 0 }, n, 0, 1000, 0, &h };
	struct poll_task *t;
	uint64_t polls0;

	leak_check_begin();
	hist_init(&h);
	poll_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(poll_spawn(&l, &w.base, sizeof(w), &t), 0);
	polls0 = loop_stats(&l).polls;
	ck_assert_int_eq(poll_loop_run(&l), 0);
	ck_assert_uint_eq(poll_task_polls(t), n + 1);
	ck_assert_uint_eq(loop_stats(&l).polls - polls0, n + 1);
	ck_assert_uint_eq(loop_stats(&l).yields, n);
	printf("poll yield-to-poll: %" PRIu64 " yields, median %" PRIu64
	       " ns, p99 %" PRIu64 " ns per yield (means of batches of 1000),"
	       " %.3f reactor polls per yield\n",
	       n, hist_percentile(&h, 50), hist_percentile(&h, 99),
	       (double)loop_stats(&l).iterations / (double)n);
	poll_task_detach(t);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

/* Two tasks that wake each other n times in all; every `batch` wakes the
 * mean time of one wake-to-poll hand-off goes into a histogram. */
struct relay_state {
	struct poll_waker slot[2];
	uint64_t n, done, batch, t0;
	struct hist *h;
};

struct relay_fut {
	struct poll_future base;
	struct relay_state *rs;
	unsigned me;
};

static enum poll_status relay_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct relay_fut *rf = (struct relay_fut *)f;
	struct relay_state *rs = rf->rs;

	if (rs->done % rs->batch == 0) {
		uint64_t now = clock_now_ns();
		if (rs->done > 0)
			hist_record(rs->h, (now - rs->t0) / rs->batch);
		rs->t0 = now;
	}
	if (rs->done++ >= rs->n) {
		poll_waker_drop(&rs->slot[rf->me]);
		poll_waker_wake(&rs->slot[1 - rf->me]);
		f->out = 0;
		return POLL_READY;
	}
	poll_waker_set(&rs->slot[rf->me], cx);
	poll_waker_wake(&rs->slot[1 - rf->me]);
	return POLL_PENDING;
}

static void relay_drop(struct poll_future *f)
{
	struct relay_fut *rf = (struct relay_fut *)f;

	poll_waker_drop(&rf->rs->slot[rf->me]);
}

static const struct poll_future_vt relay_vt = { "relay", relay_poll, relay_drop };

/* The figure for docs/poll.md and the target of a task-to-task wake: from
 * one task's wake of another to the other's poll.  No system call on the
 * way: the woken task runs in the same step 1; the loop looks at I/O once
 * per batch of 64 polls (the figure printed per wake).  Printed, never
 * asserted.  POLL_WAKES overrides the count (10 million). */
START_TEST(test_wake_to_poll_figure_is_printed_for_ten_million_wakes)
{
	struct reactor *r = new_epoll();
	struct poll_loop l;
	static struct hist h;
	const char *env = getenv("POLL_WAKES");
	uint64_t n = env ? strtoull(env, NULL, 10) : 10000000;
	struct relay_state rs = { .n = n, .batch = 1000, .h = &h };
	struct relay_fut f[2] = { { { &relay_vt, 0 }, &rs, 0 },
				  { { &relay_vt, 0 }, &rs, 1 } };
	struct poll_loop_stats st;

	leak_check_begin();
	hist_init(&h);
	poll_loop_init(&l, r, NULL, NULL);
	for (unsigned i = 0; i < 2; i++)
		ck_assert_int_eq(poll_spawn(&l, &f[i].base, sizeof(f[i]), NULL), 0);
	ck_assert_int_eq(poll_loop_run(&l), 0);
	st = loop_stats(&l);
	ck_assert_uint_ge(st.wakes, n - 1);
	ck_assert_uint_eq(st.yields, 0);
	printf("poll wake-to-poll (task to task): %" PRIu64 " wakes, median %"
	       PRIu64 " ns, p99 %" PRIu64 " ns per wake (means of batches of "
	       "1000), %.4f reactor polls per wake\n", st.wakes,
	       hist_percentile(&h, 50), hist_percentile(&h, 99),
	       (double)st.iterations / (double)st.wakes);
	poll_loop_fini(&l);
	leak_check_end();
	reactor_free(r);
}
END_TEST

START_TEST(test_future_sizes_are_printed)
{
	printf("sizeof: task header %zu, future base %zu, read %zu, write %zu, "
	       "accept %zu, connect %zu, sleep %zu, file_read %zu, "
	       "file_write %zu, seq %zu, join %zu, race %zu, timeout %zu, "
	       "stream %zu, loop %zu\n",
	       sizeof(struct poll_task), sizeof(struct poll_future),
	       sizeof(struct poll_read), sizeof(struct poll_write),
	       sizeof(struct poll_accept), sizeof(struct poll_connect),
	       sizeof(struct poll_sleep), sizeof(struct poll_file_read),
	       sizeof(struct poll_file_write), sizeof(struct poll_seq),
	       sizeof(struct poll_join),
	       sizeof(struct poll_race), sizeof(struct poll_timeout),
	       sizeof(struct poll_stream), sizeof(struct poll_loop));
	ck_assert_uint_eq(sizeof(struct poll_task) % 16, 0);
	ck_assert_uint_eq(POLL_TASK_SIZE(100), sizeof(struct poll_task) + 100);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("poll");
	TCase *tc;

	tc = tcase_create("tasks");
	tcase_add_test(tc, test_spawned_task_runs_once_and_reports_its_output);
	tcase_add_test(tc, test_spawn_makes_one_allocation_holding_the_whole_future);
	tcase_add_test(tc, test_spawn_reports_enomem_and_leaves_the_future_to_the_caller);
	tcase_add_test(tc, test_spawn_into_caller_storage_allocates_nothing_and_releases_once);
	tcase_add_test(tc, test_run_queue_is_first_in_first_out);
	suite_add_tcase(s, tc);

	tc = tcase_create("wakers");
	tcase_add_test(tc, test_waking_a_queued_task_does_nothing_more);
	tcase_add_test(tc, test_waking_a_running_task_queues_it_behind_the_others);
	tcase_add_test(tc, test_stats_count_a_yield_apart_from_a_wake);
	tcase_add_test(tc, test_waking_a_finished_task_is_safe_and_does_nothing);
	tcase_add_test(tc, test_waking_an_aborted_task_is_safe_and_does_nothing);
	tcase_add_test(tc, test_each_stored_waker_holds_one_reference_to_its_task);
	tcase_add_test(tc, test_setting_a_slot_twice_with_the_same_task_keeps_one_reference);
	suite_add_tcase(s, tc);

	tc = tcase_create("abort");
	tcase_add_test(tc, test_abort_of_a_waiting_task_drops_its_future_at_once);
	tcase_add_test(tc, test_abort_of_a_queued_task_means_it_is_never_polled);
	tcase_add_test(tc, test_abort_from_inside_another_task_drops_the_victim_at_once);
	tcase_add_test(tc, test_a_task_aborting_itself_is_dropped_when_its_poll_returns);
	tcase_add_test(tc, test_an_abort_during_a_poll_that_completes_keeps_the_output);
	tcase_add_test(tc, test_a_task_awaiting_an_aborted_task_sees_ecanceled);
	tcase_add_test(tc, test_a_task_awaiting_a_finished_task_gets_its_output);
	tcase_add_test(tc, test_abort_inside_nested_combinators_releases_every_leaf);
	suite_add_tcase(s, tc);

	tc = tcase_create("executor");
	tcase_add_test(tc, test_loop_run_returns_eintr_when_a_stop_is_requested);
	tcase_add_test(tc, test_stop_without_handler_returns_eintr_once);
	tcase_add_test(tc, test_stop_handler_runs_once_and_the_run_goes_on);
	tcase_add_test(tc, test_quiescent_sim_world_runs_the_stop_handler);
	tcase_add_test(tc, test_loop_fini_aborts_every_live_task);
	tcase_add_test(tc, test_block_on_returns_the_output_and_allocates_nothing);
	tcase_add_test(tc, test_block_on_drops_the_future_when_a_stop_is_requested);
	tcase_add_test(tc, test_block_on_drops_the_future_when_the_simulation_is_quiescent);
	suite_add_tcase(s, tc);

	tc = tcase_create("budget");
	tcase_add_test(tc, test_budget_makes_a_task_that_never_waits_let_others_run);
	tcase_add_test(tc, test_without_budget_a_task_that_never_waits_starves_the_others);
	tcase_add_test(tc, test_a_task_that_yields_is_not_polled_again_in_the_same_step);
	tcase_add_test(tc, test_budget_applies_to_real_reads_from_a_socket_with_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("leaves");
	tcase_add_test(tc, test_read_waits_for_data_and_returns_what_arrived);
	tcase_add_test(tc, test_read_returns_zero_at_end_of_stream);
	tcase_add_test(tc, test_write_writes_everything_across_full_socket_buffers);
	tcase_add_test(tc, test_write_reports_the_error_of_a_closed_peer);
	tcase_add_test(tc, test_accept_and_connect_meet_over_loopback);
	tcase_add_test(tc, test_connect_to_a_port_nobody_listens_on_is_refused);
	tcase_add_test(tc, test_connect_dropped_while_connecting_leaves_its_stream_to_the_caller);
	tcase_add_test(tc, test_sleep_completes_after_its_delay_in_virtual_time);
	tcase_add_test(tc, test_sleep_dropped_before_it_fires_stops_its_timer);
	tcase_add_test(tc, test_file_write_then_read_round_trips_through_offload);
	tcase_add_test(tc, test_a_file_write_that_stops_part_way_is_an_error);
	tcase_add_test(tc, test_file_read_dropped_while_its_job_runs_is_safe_and_frees_all);
	tcase_add_test(tc, test_buffer_is_freed_at_its_last_release);
	tcase_add_test(tc, test_file_futures_without_an_offload_pool_say_enosys);
	tcase_add_test(tc, test_stream_open_failure_leaves_the_handle_with_the_caller);
	suite_add_tcase(s, tc);

	tc = tcase_create("combinators");
	tcase_add_test(tc, test_seq_runs_64_steps_in_one_slot_and_allocates_nothing);
	tcase_add_test(tc, test_seq_stops_at_the_first_error);
	tcase_add_test(tc, test_seq_dropped_mid_way_drops_the_step_in_flight);
	tcase_add_test(tc, test_join_completes_when_every_child_has);
	tcase_add_test(tc, test_join_says_the_first_error_in_child_order);
	tcase_add_test(tc, test_race_returns_the_first_ready_child_and_drops_the_losers);
	tcase_add_test(tc, test_race_drops_losers_with_their_registrations);
	tcase_add_test(tc, test_timeout_gives_etimedout_and_drops_the_late_inner_future);
	tcase_add_test(tc, test_timeout_gives_the_inner_output_when_in_time);
	tcase_add_test(tc, test_timeout_that_has_passed_wins_over_an_unannounced_ready_inner);
	suite_add_tcase(s, tc);

	tc = tcase_create("figures");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_wake_to_poll_figure_is_printed_for_ten_million_wakes);
	tcase_add_test(tc, test_yield_to_poll_figure_is_printed_for_ten_million_yields);
	tcase_add_test(tc, test_future_sizes_are_printed);
	suite_add_tcase(s, tc);

	return s;
}

#include "testutil.h"
