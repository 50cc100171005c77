/* test_labs.c: the grader of the two build-your-own labs (docs/labs.md).
 *
 * One source, two programs: tests/test_labs links the instructor's
 * solutions (instructor/labs/), so that `make check` keeps them correct;
 * `make check-lab` links the student's files (labs/) into
 * labs/test_labs_student and runs it.  Each test checks one rule of
 * labs/lab_loop.h (case "loop") or labs/lab_exec.h (case "exec"); the last
 * test of each case serves echo with the student's code to scripted peers
 * over the simulation with every fault injected (short reads and writes,
 * spurious EAGAIN, delays, resets, early ends of stream), one seed after
 * another: a lost wake-up leaves a peer unanswered, which the simulation
 * shows as a run that can never go on.
 */
#include "lab_exec.h"
#include "lab_loop.h"
#include "reactor.h"
#include "sim.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { SEEDS = 100, PEERS = 4, MSG = 3000, SLOTS = 8, BUF = 256 };

static struct reactor *sim_quiet(uint64_t seed)
{
	struct sim_config c;
	struct reactor *r;

	sim_config_default(&c, seed);
	r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The peers' scripts: distinct bytes per peer, so a mix-up shows. */
static void fill_script(char *buf, size_t n, unsigned peer)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)('a' + (i * 7 + peer) % 26);
}

/* Every peer got back exactly the bytes the server accepted from it:
 * all of them unless a fault ended the connection early. */
static void check_peers(struct sim_peer **p, const char scripts[][MSG],
			uint64_t seed)
{
	for (unsigned i = 0; i < PEERS; i++) {
		size_t got, sent = sim_peer_sent(p[i]);
		const char *back = sim_peer_received(p[i], &got);

		ck_assert_msg(sim_peer_finished(p[i]),
			      "seed %llu: peer %u never finished: a lost wake-up "
			      "(replay: the seed, with sim_trace_to())",
			      (unsigned long long)seed, i);
		ck_assert_msg(got <= sent && memcmp(back, scripts[i], got) == 0,
			      "seed %llu: peer %u got bytes it never sent",
			      (unsigned long long)seed, i);
		if (sim_peer_error(p[i]) == 0)
			ck_assert_msg(got == sent,
				      "seed %llu: peer %u sent %zu bytes, got %zu back",
				      (unsigned long long)seed, i, sent, got);
	}
}

/* ==== lab 1: the callback loop ========================================== */

/* What the callbacks saw. */
struct seen {
	int calls;
	ssize_t result;
	bool inside_start;      /* a callback ran while a start call was running */
};
static bool in_start;

static void record(struct lab_op *op, ssize_t result)
{
	struct seen *s = op->data;

	s->calls++;
	s->result = result;
	if (in_start)
		s->inside_start = true;
}

START_TEST(test_lab_loop_callback_runs_once_from_the_loop_never_in_the_start_call)
{
	struct reactor *r = sim_quiet(1);
	struct lab_loop l;
	struct lab_stream s;
	struct lab_op op = { 0 };
	struct seen seen = { 0 };
	int h[2];
	char buf[16];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	ck_assert_int_eq(reactor_write(r, h[1], "hello", 5), 5);
	lab_loop_init(&l, r);
	ck_assert_int_eq(lab_stream_open(&l, &s, h[0]), 0);
	op.data = &seen;
	in_start = true;
	ck_assert_int_eq(lab_read(&s, &op, buf, sizeof(buf), record), 0);
	in_start = false;
	ck_assert_int_eq(seen.calls, 0);        /* L2: the data was there */
	ck_assert_int_eq(lab_loop_run(&l), 0);
	ck_assert_int_eq(seen.calls, 1);        /* L1 */
	ck_assert_int_eq(seen.result, 5);
	ck_assert(!seen.inside_start);
	lab_stream_close(&s);
	reactor_close(r, h[1]);
	reactor_free(r);
}
END_TEST

/* The peer writes only later, from a timer: the read must wait for the
 * edge (L4), and get the bytes. */
static int late_handle;
static void late_write(struct lab_op *op, ssize_t result)
{
	struct seen *s = op->data;

	s->calls++;
	ck_assert_int_eq(reactor_write(op->loop->r, late_handle, "abc", 3), 3);
}

START_TEST(test_lab_loop_read_waits_for_the_edge_then_completes)
{
	struct reactor *r = sim_quiet(2);
	struct lab_loop l;
	struct lab_stream s;
	struct lab_op rd = { 0 }, sl = { 0 };
	struct seen seen_rd = { 0 }, seen_sl = { 0 };
	int h[2];
	char buf[16];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	late_handle = h[1];
	lab_loop_init(&l, r);
	ck_assert_int_eq(lab_stream_open(&l, &s, h[0]), 0);
	rd.data = &seen_rd;
	sl.data = &seen_sl;
	ck_assert_int_eq(lab_read(&s, &rd, buf, sizeof(buf), record), 0);
	lab_sleep(&l, &sl, 1000000, late_write);
	ck_assert_int_eq(lab_loop_run(&l), 0);
	ck_assert_int_eq(seen_sl.calls, 1);
	ck_assert_int_eq(seen_rd.calls, 1);
	ck_assert_int_eq(seen_rd.result, 3);
	ck_assert_mem_eq(buf, "abc", 3);
	lab_stream_close(&s);
	reactor_close(r, h[1]);
	reactor_free(r);
}
END_TEST

START_TEST(test_lab_loop_a_second_read_is_refused_without_a_callback)
{
	struct reactor *r = sim_quiet(3);
	struct lab_loop l;
	struct lab_stream s;
	struct lab_op a = { 0 }, b = { 0 };
	struct seen sa = { 0 }, sb = { 0 };
	int h[2];
	char buf[16];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	lab_loop_init(&l, r);
	ck_assert_int_eq(lab_stream_open(&l, &s, h[0]), 0);
	a.data = &sa;
	b.data = &sb;
	ck_assert_int_eq(lab_read(&s, &a, buf, sizeof(buf), record), 0);
	ck_assert_int_eq(lab_read(&s, &b, buf, sizeof(buf), record), -EBUSY);
	reactor_close(r, h[1]);                 /* end of stream for a */
	ck_assert_int_eq(lab_loop_run(&l), 0);
	ck_assert_int_eq(sa.calls, 1);
	ck_assert_int_eq(sa.result, 0);
	ck_assert_int_eq(sb.calls, 0);          /* L3 */
	lab_stream_close(&s);
	reactor_free(r);
}
END_TEST

/* Sleeps call back in deadline order, and the loop returns when nothing
 * is pending any more. */
static int order[3], norder;
static void note(struct lab_op *op, ssize_t result)
{
	order[norder++] = (int)(long)op->data;
}

START_TEST(test_lab_loop_sleeps_call_back_in_deadline_order_then_the_run_ends)
{
	struct reactor *r = sim_quiet(4);
	struct lab_loop l;
	struct lab_op op[3] = { { 0 } };

	lab_loop_init(&l, r);
	norder = 0;
	for (int i = 0; i < 3; i++) {
		op[i].data = (void *)(long)i;
		lab_sleep(&l, &op[i], (uint64_t)(3 - i) * 1000000, note);
	}
	ck_assert_int_eq(lab_loop_run(&l), 0);
	ck_assert_int_eq(norder, 3);
	ck_assert_int_eq(order[0], 2);
	ck_assert_int_eq(order[1], 1);
	ck_assert_int_eq(order[2], 0);
	ck_assert_uint_ge(reactor_now(r), 3000000);
	reactor_free(r);
}
END_TEST

/* An echo server on the student's loop: one connection per slot; the
 * read's callback starts the write, the write's callback the next read. */
struct cconn {
	struct lab_stream s;
	struct lab_op op;
	char buf[BUF];
	bool used;
};
struct cserver {
	struct lab_stream listener;
	struct lab_op accept;
	struct cconn conns[SLOTS];
	int closed;
	bool inside_start;
};
static struct cserver csrv;

static void cconn_on_read(struct lab_op *op, ssize_t n);

static void cconn_close(struct cconn *c)
{
	lab_stream_close(&c->s);
	c->used = false;
	csrv.closed++;
}

static void cconn_read(struct cconn *c)
{
	in_start = true;
	if (lab_read(&c->s, &c->op, c->buf, sizeof(c->buf), cconn_on_read) < 0)
		cconn_close(c);
	in_start = false;
}

static void cconn_on_written(struct lab_op *op, ssize_t n)
{
	struct cconn *c = op->data;

	if (in_start)
		csrv.inside_start = true;
	if (n < 0)
		cconn_close(c);
	else
		cconn_read(c);
}

static void cconn_on_read(struct lab_op *op, ssize_t n)
{
	struct cconn *c = op->data;

	if (in_start)
		csrv.inside_start = true;
	if (n <= 0) {
		cconn_close(c);
		return;
	}
	in_start = true;
	if (lab_write(&c->s, &c->op, c->buf, (size_t)n, cconn_on_written) < 0)
		cconn_close(c);
	in_start = false;
}

static void csrv_on_accept(struct lab_op *op, ssize_t h)
{
	struct lab_loop *l = op->loop;
	struct cconn *c = NULL;

	if (h >= 0) {
		for (int i = 0; i < SLOTS && c == NULL; i++)
			if (!csrv.conns[i].used)
				c = &csrv.conns[i];
		if (c == NULL || lab_stream_open(l, &c->s, (int)h) < 0) {
			reactor_close(l->r, (int)h);
		} else {
			c->used = true;
			c->op.data = c;
			cconn_read(c);
		}
	}
	if (h >= 0 || !reactor_accept_error_is_fatal(h))
		lab_accept(&csrv.listener, &csrv.accept, csrv_on_accept);
}

START_TEST(test_lab_loop_echo_over_the_faulty_simulation_loses_no_wake_up)
{
	static char scripts[PEERS][MSG];

	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		struct sim_config cfg;
		struct reactor *r;
		struct lab_loop l;
		struct sim_peer *p[PEERS];
		int lh, port, rc;

		sim_config_faulty(&cfg, seed);
		r = reactor_new_sim(&cfg);
		ck_assert_ptr_nonnull(r);
		memset(&csrv, 0, sizeof(csrv));
		lab_loop_init(&l, r);
		lh = reactor_listen(r, NULL, 0, 16);
		ck_assert_int_ge(lh, 0);
		port = reactor_local_port(r, lh);
		ck_assert_int_gt(port, 0);
		ck_assert_int_eq(lab_stream_open(&l, &csrv.listener, lh), 0);
		ck_assert_int_eq(lab_accept(&csrv.listener, &csrv.accept,
					    csrv_on_accept), 0);
		for (unsigned i = 0; i < PEERS; i++) {
			fill_script(scripts[i], MSG, i);
			p[i] = sim_peer_connect(r, (uint16_t)port, scripts[i], MSG,
						SIM_PEER_HALF_CLOSE);
			ck_assert_ptr_nonnull(p[i]);
		}
		/* The accept stays pending for ever: once every peer is done,
		 * nothing can happen again, and the run ends in -EDEADLK. */
		rc = lab_loop_run(&l);
		ck_assert_msg(rc == -EDEADLK, "seed %llu: the run returned %d",
			      (unsigned long long)seed, rc);
		check_peers(p, (const char (*)[MSG])scripts, seed);
		ck_assert_msg(!csrv.inside_start,
			      "seed %llu: a callback ran inside its start call",
			      (unsigned long long)seed);
		for (int i = 0; i < SLOTS; i++)
			ck_assert_msg(!csrv.conns[i].used,
				      "seed %llu: a connection was never closed",
				      (unsigned long long)seed);
		lab_stream_close(&csrv.listener);
		reactor_free(r);
	}
}
END_TEST

/* ==== lab 2: the executor =============================================== */

/* A future that counts its polls and is READY at its third, waking itself
 * at each of the first two (a yield). */
struct yielder {
	struct lab_future base;
	struct lab_waker self;
	int polls;
};

static enum lab_poll yielder_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct yielder *y = (struct yielder *)f;

	if (++y->polls == 3)
		return LAB_READY;
	lab_waker_set(&y->self, cx);
	lab_waker_wake(&y->self);       /* woken during its own poll */
	return LAB_PENDING;
}

START_TEST(test_lab_exec_spawn_does_not_poll_and_a_self_wake_polls_again)
{
	struct reactor *r = sim_quiet(5);
	struct lab_exec ex;
	struct lab_task t;
	struct yielder y = { .base.poll = yielder_poll };

	lab_exec_init(&ex, r);
	lab_spawn(&ex, &t, &y.base);
	ck_assert_int_eq(y.polls, 0);           /* E2 */
	ck_assert_int_eq(lab_exec_run(&ex), 0);
	ck_assert_int_eq(y.polls, 3);           /* E3: queued again, E4 */
	ck_assert_uint_eq(t.polls, 3);
	reactor_free(r);
}
END_TEST

/* A future that waits on a slot that others fire. */
struct waiter {
	struct lab_future base;
	struct lab_waker *slot;
	bool *go;
	int polls;
};

static enum lab_poll waiter_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct waiter *w = (struct waiter *)f;

	w->polls++;
	if (*w->go)
		return LAB_READY;
	lab_waker_set(w->slot, cx);
	return LAB_PENDING;
}

/* The other task: wakes the waiter three times in one poll. */
struct waker3 {
	struct lab_future base;
	struct lab_waker *slot;
	bool *go;
};

static enum lab_poll waker3_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct waker3 *k = (struct waker3 *)f;
	struct lab_task *target = k->slot->task;

	*k->go = true;
	lab_waker_wake(k->slot);
	k->slot->task = target;         /* as if three sources held it */
	lab_waker_wake(k->slot);
	k->slot->task = target;
	lab_waker_wake(k->slot);
	return LAB_READY;
}

START_TEST(test_lab_exec_waking_a_queued_task_does_nothing)
{
	struct reactor *r = sim_quiet(6);
	struct lab_exec ex;
	struct lab_task tw, tk;
	struct lab_waker slot = { 0 };
	bool go = false;
	struct waiter w = { .base.poll = waiter_poll, .slot = &slot, .go = &go };
	struct waker3 k = { .base.poll = waker3_poll, .slot = &slot, .go = &go };

	lab_exec_init(&ex, r);
	lab_spawn(&ex, &tw, &w.base);
	lab_spawn(&ex, &tk, &k.base);
	ck_assert_int_eq(lab_exec_run(&ex), 0);
	ck_assert_int_eq(w.polls, 2);           /* E3: once for three wakes */
	ck_assert_ptr_null(slot.task);
	reactor_free(r);
}
END_TEST

/* A task reads from a stream the peer writes to only after a sleep. */
struct reader_task {
	struct lab_future base;
	int state;
	struct lab_read rd;
	char buf[16];
};

static enum lab_poll reader_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct reader_task *t = (struct reader_task *)f;

	return t->rd.base.poll(&t->rd.base, cx);
}

struct late_writer {
	struct lab_future base;
	struct lab_sleep sl;
	struct reactor *r;
	int handle;
};

static enum lab_poll late_writer_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct late_writer *w = (struct late_writer *)f;

	if (w->sl.base.poll(&w->sl.base, cx) == LAB_PENDING)
		return LAB_PENDING;
	ck_assert_int_eq(reactor_write(w->r, w->handle, "xyz", 3), 3);
	return LAB_READY;
}

START_TEST(test_lab_exec_read_waits_for_the_edge_then_is_ready)
{
	struct reactor *r = sim_quiet(7);
	struct lab_exec ex;
	struct lab_fstream s;
	struct lab_task t1, t2;
	struct reader_task rt = { .base.poll = reader_poll };
	struct late_writer lw = { .base.poll = late_writer_poll, .r = r };
	int h[2];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	lab_exec_init(&ex, r);
	ck_assert_int_eq(lab_fstream_open(&ex, &s, h[0]), 0);
	lab_read_init(&rt.rd, &s, rt.buf, sizeof(rt.buf));
	lw.handle = h[1];
	lab_sleep_init(&lw.sl, &ex, 2000000);
	lab_spawn(&ex, &t1, &rt.base);
	lab_spawn(&ex, &t2, &lw.base);
	ck_assert_int_eq(lab_exec_run(&ex), 0);
	ck_assert_int_eq(rt.rd.result, 3);
	ck_assert_mem_eq(rt.buf, "xyz", 3);
	ck_assert_uint_ge(reactor_now(r), 2000000);
	/* PENDING at least once; an edge for the other direction may wake it
	 * for nothing, which costs a poll and is allowed. */
	ck_assert_uint_ge(t1.polls, 2);
	lab_fstream_close(&s);
	reactor_close(r, h[1]);
	reactor_free(r);
}
END_TEST

/* An echo server on the student's executor: a connection is a future with
 * a state field and a switch, the read and the write in a union (as
 * poll/echo.c), in one of SLOTS static tasks. */
enum { EC_START, EC_READ, EC_WRITE };
struct econn {
	struct lab_future base;
	int state, handle;
	bool used;
	struct lab_fstream s;
	union {
		struct lab_read rd;
		struct lab_write wr;
	} io;
	char buf[BUF];
	struct lab_task task;
};
struct eserver {
	struct lab_future base;
	struct lab_exec *ex;
	struct lab_fstream listener;
	struct lab_accept ac;
	struct econn conns[SLOTS];
	int closed;
};
static struct eserver esrv;

static enum lab_poll econn_end(struct econn *c)
{
	lab_fstream_close(&c->s);
	c->used = false;
	esrv.closed++;
	return LAB_READY;
}

static enum lab_poll econn_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct econn *c = (struct econn *)f;

	for (;;) {
		switch (c->state) {
		case EC_START:          /* the first poll: the stream is pinned */
			if (lab_fstream_open(cx->ex, &c->s, c->handle) < 0) {
				reactor_close(cx->ex->r, c->handle);
				c->used = false;
				return LAB_READY;
			}
			lab_read_init(&c->io.rd, &c->s, c->buf, sizeof(c->buf));
			c->state = EC_READ;
			break;
		case EC_READ:
			if (c->io.rd.base.poll(&c->io.rd.base, cx) == LAB_PENDING)
				return LAB_PENDING;
			if (c->io.rd.result <= 0)
				return econn_end(c);
			lab_write_init(&c->io.wr, &c->s, c->buf,
				       (size_t)c->io.rd.result);
			c->state = EC_WRITE;
			break;
		case EC_WRITE:
			if (c->io.wr.base.poll(&c->io.wr.base, cx) == LAB_PENDING)
				return LAB_PENDING;
			if (c->io.wr.result < 0)
				return econn_end(c);
			lab_read_init(&c->io.rd, &c->s, c->buf, sizeof(c->buf));
			c->state = EC_READ;
			break;
		}
	}
}

static enum lab_poll eserver_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct eserver *s = (struct eserver *)f;

	for (;;) {
		struct econn *c = NULL;
		ssize_t h;

		if (s->ac.base.poll(&s->ac.base, cx) == LAB_PENDING)
			return LAB_PENDING;
		h = s->ac.result;
		lab_accept_init(&s->ac, &s->listener);
		if (h < 0) {
			if (reactor_accept_error_is_fatal(h))
				return LAB_READY;
			continue;
		}
		for (int i = 0; i < SLOTS && c == NULL; i++)
			if (!s->conns[i].used)
				c = &s->conns[i];
		if (c == NULL) {
			reactor_close(cx->ex->r, (int)h);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->base.poll = econn_poll;
		c->handle = (int)h;
		c->used = true;
		lab_spawn(s->ex, &c->task, &c->base);
	}
}

START_TEST(test_lab_exec_echo_over_the_faulty_simulation_loses_no_wake_up)
{
	static char scripts[PEERS][MSG];

	for (uint64_t seed = 1; seed <= SEEDS; seed++) {
		struct sim_config cfg;
		struct reactor *r;
		struct lab_exec ex;
		struct lab_task st;
		struct sim_peer *p[PEERS];
		int lh, port, rc;

		sim_config_faulty(&cfg, seed);
		r = reactor_new_sim(&cfg);
		ck_assert_ptr_nonnull(r);
		memset(&esrv, 0, sizeof(esrv));
		lab_exec_init(&ex, r);
		esrv.base.poll = eserver_poll;
		esrv.ex = &ex;
		lh = reactor_listen(r, NULL, 0, 16);
		ck_assert_int_ge(lh, 0);
		port = reactor_local_port(r, lh);
		ck_assert_int_gt(port, 0);
		ck_assert_int_eq(lab_fstream_open(&ex, &esrv.listener, lh), 0);
		lab_accept_init(&esrv.ac, &esrv.listener);
		for (unsigned i = 0; i < PEERS; i++) {
			fill_script(scripts[i], MSG, i);
			p[i] = sim_peer_connect(r, (uint16_t)port, scripts[i], MSG,
						SIM_PEER_HALF_CLOSE);
			ck_assert_ptr_nonnull(p[i]);
		}
		lab_spawn(&ex, &st, &esrv.base);
		rc = lab_exec_run(&ex);
		ck_assert_msg(rc == -EDEADLK, "seed %llu: the run returned %d",
			      (unsigned long long)seed, rc);
		check_peers(p, (const char (*)[MSG])scripts, seed);
		for (int i = 0; i < SLOTS; i++)
			ck_assert_msg(!esrv.conns[i].used,
				      "seed %llu: a connection was never closed",
				      (unsigned long long)seed);
		lab_fstream_close(&esrv.listener);
		reactor_free(r);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("labs");
	TCase *tc;

	tc = tcase_create("loop");
	tcase_add_test(tc, test_lab_loop_callback_runs_once_from_the_loop_never_in_the_start_call);
	tcase_add_test(tc, test_lab_loop_read_waits_for_the_edge_then_completes);
	tcase_add_test(tc, test_lab_loop_a_second_read_is_refused_without_a_callback);
	tcase_add_test(tc, test_lab_loop_sleeps_call_back_in_deadline_order_then_the_run_ends);
	tcase_add_test(tc, test_lab_loop_echo_over_the_faulty_simulation_loses_no_wake_up);
	suite_add_tcase(s, tc);

	tc = tcase_create("exec");
	tcase_add_test(tc, test_lab_exec_spawn_does_not_poll_and_a_self_wake_polls_again);
	tcase_add_test(tc, test_lab_exec_waking_a_queued_task_does_nothing);
	tcase_add_test(tc, test_lab_exec_read_waits_for_the_edge_then_is_ready);
	tcase_add_test(tc, test_lab_exec_echo_over_the_faulty_simulation_loses_no_wake_up);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
