/* test_push.c: the push engine's core (push/push.h): the loop, requests,
 * tokens, the leaf operations, the two allocation policies, the fast path
 * and composition.  One test per promise of the header.
 *
 * Streams are socketpairs and loopback TCP on the epoll reactor; files are
 * temporary files.  Every test checks that the engine freed everything it
 * allocated (mem's live blocks back to where they were at the start).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem.h"
#include "offload.h"
#include "push.h"
#include "reactor.h"
#include "sim.h"

/* ---- fixture ------------------------------------------------------------ */

static struct reactor *r;
static struct offload *off;
static struct push_loop loop_storage, *loop = &loop_storage;
static int64_t live_at_start;

static int64_t live_blocks(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.live_blocks;
}

static uint64_t allocs(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.allocs;
}

static void start_with(const struct push_config *p, bool with_offload)
{
	live_at_start = live_blocks();
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	off = NULL;
	if (with_offload) {
		off = offload_new(r, 2);
		ck_assert_ptr_nonnull(off);
	}
	ck_assert_int_eq(push_loop_init(loop, r, off, p), 0);
}

static void start(void)
{
	struct push_config idiomatic = { .pooled = false, .fast_path = false };

	start_with(&idiomatic, false);
}

/* Free everything and check that nothing the engine allocated is left. */
static void finish(void)
{
	push_loop_fini(loop);
	offload_free(off);
	reactor_free(r);
	ck_assert_int_eq(live_blocks(), live_at_start);
}

/* A connected pair of non-blocking stream handles (epoll handles are fds). */
static void socket_pair(int fd[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				    SOCK_CLOEXEC, 0, fd), 0);
}

/* A stream open in the loop, and the raw other end of it. */
static void open_pair(struct push_stream *s, int *peer)
{
	int fd[2];

	socket_pair(fd);
	ck_assert_int_eq(push_stream_open(loop, s, fd[0]), 0);
	*peer = fd[1];
}

static void peer_send(int fd, const char *text)
{
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* What a callback saw: how often, with what, and in which global order. */
struct rec {
	int calls;
	ssize_t result;
	int order;
};

static int order_counter;

static void rec_cb(void *data, ssize_t result)
{
	struct rec *rc = data;

	rc->calls++;
	rc->result = result;
	rc->order = ++order_counter;
}

/* ---- the loop -------------------------------------------------------------- */

START_TEST(test_run_returns_at_once_when_nothing_is_pending)
{
	struct push_loop_stats st;

	start();
	ck_assert_int_eq(push_loop_run(loop), 0);
	push_loop_stats_get(loop, &st);
	ck_assert_uint_eq(st.iterations, 0);
	ck_assert_uint_eq(st.pending, 0);
	finish();
}
END_TEST

START_TEST(test_callbacks_run_in_completion_order)
{
	struct rec a = { 0 }, b = { 0 }, c = { 0 };

	start();
	ck_assert_int_eq(push_sleep(loop, 3000000, NULL, rec_cb, &a, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_sleep(loop, 1000000, NULL, rec_cb, &b, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_sleep(loop, 2000000, NULL, rec_cb, &c, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(b.order, 1);
	ck_assert_int_eq(c.order, 2);
	ck_assert_int_eq(a.order, 3);
	ck_assert_int_eq(a.result, 0);
	finish();
}
END_TEST

/* Two reads complete at once (data waiting); the first one's callback
 * starts a third read that also completes at once.  Step 1 is a FIFO pass:
 * the second callback (queued before) runs before the third, and the third
 * runs in the same iteration, with no reactor poll in between. */
struct chain {
	struct push_stream *s;
	char buf[16];
	struct rec first, child;
	uint64_t first_iter, child_iter;
};

static uint64_t iterations_now(void)
{
	struct push_loop_stats st;

	push_loop_stats_get(loop, &st);
	return st.iterations;
}

static void chain_child_cb(void *data, ssize_t result)
{
	struct chain *ch = data;

	rec_cb(&ch->child, result);
	ch->child_iter = iterations_now();
}

static void chain_first_cb(void *data, ssize_t result)
{
	struct chain *ch = data;

	rec_cb(&ch->first, result);
	ch->first_iter = iterations_now();
	ck_assert_int_eq(push_read(loop, ch->s, ch->buf, 1, NULL,
				   chain_child_cb, ch, NULL, NULL),
			 PUSH_STARTED);
}

START_TEST(test_completion_queued_by_a_callback_runs_in_the_same_iteration_after_earlier_ones)
{
	struct push_stream s1, s2;
	int p1, p2;
	struct chain ch = { 0 };
	struct rec second = { 0 };
	char buf2[16];

	start();
	open_pair(&s1, &p1);
	open_pair(&s2, &p2);
	peer_send(p1, "ab");
	peer_send(p2, "x");
	ch.s = &s1;
	ck_assert_int_eq(push_read(loop, &s1, ch.buf, 1, NULL, chain_first_cb, &ch, NULL, NULL), 0);
	ck_assert_int_eq(push_read(loop, &s2, buf2, sizeof(buf2), NULL, rec_cb, &second, NULL, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(ch.first.order, 1);
	ck_assert_int_eq(second.order, 2);
	ck_assert_int_eq(ch.child.order, 3);
	ck_assert_int_eq(ch.child.result, 1);
	ck_assert_uint_eq(ch.child_iter, ch.first_iter);
	push_stream_close(&s1);
	push_stream_close(&s2);
	close(p1);
	close(p2);
	finish();
}
END_TEST

/* A chain of callbacks, each of which completes the next operation at once
 * (it starts a long sleep and cancels it), runs in passes of at most 64
 * callbacks, each followed by a poll of the reactor: the chain cannot keep
 * the loop from looking at I/O. */
struct relay {
	unsigned left, runs;
	uint64_t iter[300];
	struct push_req *req;
};

static void relay_cb(void *data, ssize_t result)
{
	struct relay *rl = data;

	(void)result;
	push_req_unref(rl->req);
	rl->req = NULL;
	rl->iter[rl->runs++] = iterations_now();
	if (rl->left-- == 0)
		return;
	ck_assert_int_eq(push_sleep(loop, 3600 * 1000000000ull, NULL, relay_cb,
				    rl, &rl->req), PUSH_STARTED);
	push_cancel(rl->req);
}

START_TEST(test_a_chain_of_immediate_completions_yields_to_io_every_64_callbacks)
{
	static struct relay rl = { .left = 199 };

	start();
	ck_assert_int_eq(push_sleep(loop, 0, NULL, relay_cb, &rl, &rl.req),
			 PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_uint_eq(rl.runs, 200);
	/* 64 in a row in one iteration, then the next iteration. */
	for (unsigned i = 1; i < rl.runs; i++)
		ck_assert_uint_eq(rl.iter[i] - rl.iter[0], i / 64);
	finish();
}
END_TEST

/* A callback that yields (a sleep of 0) runs again only after a poll of the
 * reactor: each of its runs is in a later iteration than the one before. */
struct yielder {
	unsigned runs;
	uint64_t iter[10];
};

static void yielder_cb(void *data, ssize_t result)
{
	struct yielder *y = data;

	(void)result;
	y->iter[y->runs++] = iterations_now();
	if (y->runs < 10)
		ck_assert_int_eq(push_sleep(loop, 0, NULL, yielder_cb, y, NULL),
				 PUSH_STARTED);
}

START_TEST(test_a_callback_that_yields_runs_again_only_after_a_reactor_poll)
{
	struct yielder y = { 0 };

	start();
	ck_assert_int_eq(push_sleep(loop, 0, NULL, yielder_cb, &y, NULL),
			 PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_uint_eq(y.runs, 10);
	for (unsigned i = 1; i < y.runs; i++)
		ck_assert_uint_gt(y.iter[i], y.iter[i - 1]);
	finish();
}
END_TEST

struct stopper {
	int calls;
	struct push_token *tok;
};

static void stop_handler(void *arg)
{
	struct stopper *st = arg;

	st->calls++;
	push_token_cancel(st->tok);
}

START_TEST(test_stop_request_runs_the_stop_handler_once_then_drains)
{
	struct push_token tok;
	struct stopper st = { 0, &tok };
	struct rec a = { 0 };

	start();
	push_token_init(&tok, NULL);
	push_loop_on_stop(loop, stop_handler, &st);
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, &tok, rec_cb, &a, NULL), 0);
	reactor_request_stop(r);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(st.calls, 1);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	push_token_destroy(&tok);
	finish();
}
END_TEST

START_TEST(test_stop_without_handler_returns_eintr_once)
{
	struct push_req *req;
	struct rec a = { 0 };

	start();
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, NULL, rec_cb, &a, &req), 0);
	reactor_request_stop(r);
	ck_assert_int_eq(push_loop_run(loop), -EINTR);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	/* The stop was seen; the next run goes on and drains. */
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, -ECANCELED);
	push_req_unref(req);
	finish();
}
END_TEST

START_TEST(test_run_until_waits_for_one_request_only)
{
	struct push_req *quick, *slow;

	start();
	ck_assert_int_eq(push_sleep(loop, 1000000, NULL, NULL, NULL, &quick), 0);
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, NULL, NULL, NULL, &slow), 0);
	ck_assert_int_eq(push_run_until(loop, quick), 0);
	ck_assert_int_eq(push_req_state(quick), PUSH_REQ_DONE);
	ck_assert_int_eq(push_req_result(quick), 0);
	ck_assert_int_eq(push_req_state(slow), PUSH_REQ_PENDING);
	/* Already done: returns at once. */
	ck_assert_int_eq(push_run_until(loop, quick), 0);
	ck_assert_int_eq(push_cancel(slow), 0);
	ck_assert_int_eq(push_run_until(loop, slow), 0);
	ck_assert_int_eq(push_req_result(slow), -ECANCELED);
	push_req_unref(quick);
	push_req_unref(slow);
	finish();
}
END_TEST

/* Under sim, a world where nothing can happen any more is a stop: the
 * handler runs once; if requests are still pending after it, nothing can
 * ever complete them and the run says so. */
static void count_stop(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_quiescent_sim_world_is_a_stop_then_edeadlk)
{
	struct sim_config c;
	struct push_stream s;
	struct push_req *req;
	int h[2], stops = 0;
	char buf[8];

	live_at_start = live_blocks();
	sim_config_default(&c, 1);
	r = reactor_new_sim(&c);
	off = NULL;
	ck_assert_int_eq(push_loop_init(loop, r, NULL, NULL), 0);
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	ck_assert_int_eq(push_stream_open(loop, &s, h[0]), 0);
	push_loop_on_stop(loop, count_stop, &stops);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, NULL, NULL, &req, NULL), 0);
	/* Nobody writes to h[1]: the read can never complete. */
	ck_assert_int_eq(push_run_until(loop, req), -EDEADLK);
	ck_assert_int_eq(stops, 1);
	ck_assert_int_eq(push_loop_run(loop), -EDEADLK);
	ck_assert_int_eq(stops, 1);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	push_stream_close(&s);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(push_req_result(req), -ECANCELED);
	push_req_unref(req);
	reactor_close(r, h[1]);
	finish();
}
END_TEST

/* Without a stop handler a quiescent world ends the run with -EDEADLK at
 * once (poll's rule too): there is nothing to run at the stop. */
START_TEST(test_quiescent_sim_world_without_handler_is_edeadlk)
{
	struct sim_config c;
	struct push_stream s;
	struct push_req *req;
	int h[2];
	char buf[8];

	live_at_start = live_blocks();
	sim_config_default(&c, 1);
	r = reactor_new_sim(&c);
	off = NULL;
	ck_assert_int_eq(push_loop_init(loop, r, NULL, NULL), 0);
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	ck_assert_int_eq(push_stream_open(loop, &s, h[0]), 0);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, NULL, NULL, &req, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), -EDEADLK);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	push_stream_close(&s);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(push_req_result(req), -ECANCELED);
	push_req_unref(req);
	reactor_close(r, h[1]);
	finish();
}
END_TEST


START_TEST(test_stats_count_iterations_callbacks_and_requests)
{
	struct push_loop_stats st;

	start();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(push_sleep(loop, 0, NULL, NULL, NULL, NULL), 0);
	push_loop_stats_get(loop, &st);
	ck_assert_uint_eq(st.pending, 3);
	ck_assert_uint_eq(st.reqs_allocated, 3);
	ck_assert_int_eq(push_loop_run(loop), 0);
	push_loop_stats_get(loop, &st);
	ck_assert_uint_eq(st.callbacks, 3);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_ge(st.iterations, 2);
	finish();
}
END_TEST

/* ---- requests ---------------------------------------------------------------- */

START_TEST(test_callback_never_runs_inside_the_start_call)
{
	struct push_stream s;
	struct push_req *req;
	struct rec a = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	peer_send(peer, "hello");
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, &req, NULL), PUSH_STARTED);
	/* The read happened at once, but the callback waits for the loop. */
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_QUEUED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 5);
	ck_assert_mem_eq(buf, "hello", 5);
	push_req_unref(req);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_callback_runs_exactly_once)
{
	struct push_stream s;
	struct rec a = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, NULL, NULL), 0);
	peer_send(peer, "x");
	ck_assert_int_eq(push_loop_run(loop), 0);
	peer_send(peer, "y");
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 1);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_failed_start_returns_errno_and_never_calls_back)
{
	struct push_stream s, closed = { 0 };
	struct push_token tok;
	struct push_req *req = (struct push_req *)&s;
	struct rec first = { 0 }, busy = { 0 }, cancelled = { 0 }, bad = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	push_token_init(&tok, NULL);
	push_token_cancel(&tok);
	ck_assert_int_eq(push_read(loop, &s, buf, 1, NULL, rec_cb, &first, NULL, NULL), 0);
	ck_assert_int_eq(push_read(loop, &s, buf, 1, NULL, rec_cb, &busy, &req, NULL), -EBUSY);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(push_sleep(loop, 0, &tok, rec_cb, &cancelled, NULL), -ECANCELED);
	ck_assert_int_eq(push_read(loop, &closed, buf, 1, NULL, rec_cb, &bad, NULL, NULL), -EBADF);
	ck_assert_int_eq(push_connect(loop, &s, "127.0.0.1", 9, NULL, rec_cb, &bad, NULL), -EISCONN);
	push_stream_close(&s);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(first.calls, 1);
	ck_assert_int_eq(busy.calls, 0);
	ck_assert_int_eq(cancelled.calls, 0);
	ck_assert_int_eq(bad.calls, 0);
	push_token_destroy(&tok);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_request_goes_pending_queued_done)
{
	struct push_stream s;
	struct push_req *req;
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, NULL, NULL, &req, NULL), 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_QUEUED);
	ck_assert_int_eq(push_req_result(req), -ECANCELED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_DONE);
	push_req_unref(req);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_request_memory_goes_with_the_last_reference)
{
	struct push_req *req;
	int64_t before;

	start();
	before = live_blocks();
	ck_assert_int_eq(push_sleep(loop, 0, NULL, NULL, NULL, &req), 0);
	ck_assert_int_eq(live_blocks(), before + 1);
	ck_assert_int_eq(push_loop_run(loop), 0);
	/* The loop dropped its reference; the handle keeps the request. */
	ck_assert_int_eq(live_blocks(), before + 1);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_DONE);
	push_req_unref(req);
	ck_assert_int_eq(live_blocks(), before);
	/* Without a handle the loop's reference is the last one. */
	ck_assert_int_eq(push_sleep(loop, 0, NULL, NULL, NULL, NULL), 0);
	ck_assert_int_eq(live_blocks(), before + 1);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(live_blocks(), before);
	finish();
}
END_TEST

START_TEST(test_dropping_the_handle_early_still_calls_back)
{
	struct push_req *req;
	struct rec a = { 0 };
	int64_t before;

	start();
	before = live_blocks();
	ck_assert_int_eq(push_sleep(loop, 1000000, NULL, rec_cb, &a, &req), 0);
	push_req_unref(req);
	ck_assert_int_eq(live_blocks(), before + 1);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 0);
	ck_assert_int_eq(live_blocks(), before);
	finish();
}
END_TEST

START_TEST(test_cancel_calls_back_with_ecanceled_from_the_loop)
{
	struct push_stream s;
	struct push_req *req;
	struct rec a = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, &req, NULL), 0);
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(a.calls, 0);
	/* Data arriving now is not consumed by the cancelled read. */
	peer_send(peer, "z");
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	ck_assert_int_eq(read(s.handle, buf, sizeof(buf)), 1);
	push_req_unref(req);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_cancel_after_the_completion_is_queued_keeps_the_result)
{
	struct push_stream s;
	struct push_req *req;
	struct rec a = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	peer_send(peer, "abc");
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, &req, NULL), 0);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_QUEUED);
	ck_assert_int_eq(push_cancel(req), -EBUSY);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 3);
	push_req_unref(req);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_cancel_twice_and_after_done_are_defined)
{
	struct push_req *req;
	struct rec a = { 0 };

	start();
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, NULL, rec_cb, &a, &req), 0);
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_cancel(req), -EALREADY);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(push_cancel(req), -EALREADY);
	ck_assert_int_eq(a.calls, 1);
	push_req_unref(req);

	ck_assert_int_eq(push_sleep(loop, 0, NULL, rec_cb, &a, &req), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(push_cancel(req), -EBUSY);
	ck_assert_int_eq(a.calls, 2);
	ck_assert_int_eq(a.result, 0);
	push_req_unref(req);
	finish();
}
END_TEST

/* A callback that cancels another request: the other's callback does not
 * run inside push_cancel, so not inside this callback either. */
struct canceller {
	struct push_req *victim;
	struct rec *victim_rec;
	int victim_calls_seen;
	int cancel_rc;
};

static void canceller_cb(void *data, ssize_t result)
{
	struct canceller *c = data;

	c->cancel_rc = push_cancel(c->victim);
	c->victim_calls_seen = c->victim_rec->calls;
}

START_TEST(test_cancel_from_inside_a_callback)
{
	struct canceller c = { 0 };
	struct rec victim = { 0 };

	start();
	c.victim_rec = &victim;
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, NULL, rec_cb, &victim, &c.victim), 0);
	ck_assert_int_eq(push_sleep(loop, 0, NULL, canceller_cb, &c, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(c.cancel_rc, 0);
	ck_assert_int_eq(c.victim_calls_seen, 0);
	ck_assert_int_eq(victim.calls, 1);
	ck_assert_int_eq(victim.result, -ECANCELED);
	push_req_unref(c.victim);
	finish();
}
END_TEST

/* ---- tokens -------------------------------------------------------------------- */

START_TEST(test_token_cancel_cancels_every_registered_request)
{
	struct push_token tok;
	struct rec a[3] = { { 0 } };

	start();
	push_token_init(&tok, NULL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, &tok, rec_cb, &a[i], NULL), 0);
	ck_assert_int_eq(push_token_cancel(&tok), 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(a[i].calls, 0);
	ck_assert(push_token_cancelled(&tok));
	ck_assert_int_eq(push_loop_run(loop), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(a[i].calls, 1);
		ck_assert_int_eq(a[i].result, -ECANCELED);
	}
	push_token_destroy(&tok);
	finish();
}
END_TEST

START_TEST(test_cancelling_a_parent_cancels_its_children)
{
	struct push_token parent, child, grandchild, other;
	struct rec p = { 0 }, c = { 0 }, g = { 0 }, o = { 0 };
	uint64_t forever = 10 * 1000000000ull;

	start();
	push_token_init(&parent, NULL);
	push_token_init(&child, &parent);
	push_token_init(&grandchild, &child);
	push_token_init(&other, NULL);
	ck_assert_int_eq(push_sleep(loop, forever, &parent, rec_cb, &p, NULL), 0);
	ck_assert_int_eq(push_sleep(loop, forever, &child, rec_cb, &c, NULL), 0);
	ck_assert_int_eq(push_sleep(loop, forever, &grandchild, rec_cb, &g, NULL), 0);
	ck_assert_int_eq(push_sleep(loop, 0, &other, rec_cb, &o, NULL), 0);
	ck_assert_int_eq(push_token_cancel(&parent), 3);
	ck_assert(push_token_cancelled(&child));
	ck_assert(push_token_cancelled(&grandchild));
	ck_assert(!push_token_cancelled(&other));
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(p.result, -ECANCELED);
	ck_assert_int_eq(c.result, -ECANCELED);
	ck_assert_int_eq(g.result, -ECANCELED);
	ck_assert_int_eq(o.result, 0);
	push_token_destroy(&grandchild);
	push_token_destroy(&child);
	push_token_destroy(&parent);
	push_token_destroy(&other);
	finish();
}
END_TEST

START_TEST(test_child_of_a_cancelled_token_starts_cancelled)
{
	struct push_token parent, child;
	struct rec a = { 0 };

	start();
	push_token_init(&parent, NULL);
	push_token_cancel(&parent);
	push_token_init(&child, &parent);
	ck_assert(push_token_cancelled(&child));
	ck_assert_int_eq(push_sleep(loop, 0, &child, rec_cb, &a, NULL), -ECANCELED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 0);
	push_token_destroy(&child);
	push_token_destroy(&parent);
	finish();
}
END_TEST

START_TEST(test_token_cancel_twice_cancels_nothing_more)
{
	struct push_token tok;
	struct rec a = { 0 };

	start();
	push_token_init(&tok, NULL);
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, &tok, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_token_cancel(&tok), 1);
	ck_assert_int_eq(push_token_cancel(&tok), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(push_token_cancel(&tok), 0);
	push_token_destroy(&tok);
	finish();
}
END_TEST

START_TEST(test_token_cancel_lets_a_queued_completion_win)
{
	struct push_stream s;
	struct push_token tok;
	struct rec ready = { 0 }, waiting = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	push_token_init(&tok, NULL);
	peer_send(peer, "ok");
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), &tok, rec_cb, &ready, NULL, NULL), 0);
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, &tok, rec_cb, &waiting, NULL), 0);
	ck_assert_int_eq(push_token_cancel(&tok), 1);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(ready.result, 2);
	ck_assert_int_eq(waiting.result, -ECANCELED);
	push_token_destroy(&tok);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_token_destroy_detaches_requests_and_children)
{
	struct push_token parent, tok, child;
	struct push_req *req;
	struct rec a = { 0 }, c = { 0 };

	start();
	push_token_init(&parent, NULL);
	push_token_init(&tok, &parent);
	push_token_init(&child, &tok);
	ck_assert_int_eq(push_sleep(loop, 10 * 1000000000ull, &tok, rec_cb, &a, &req), 0);
	ck_assert_int_eq(push_sleep(loop, 1000000, &child, rec_cb, &c, NULL), 0);
	push_token_destroy(&tok);
	/* Neither the request nor the former child is reachable any more. */
	ck_assert_int_eq(push_token_cancel(&parent), 0);
	ck_assert(!push_token_cancelled(&child));
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	/* The handle still reaches it. */
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(c.result, 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	push_req_unref(req);
	push_token_destroy(&child);
	push_token_destroy(&parent);
	finish();
}
END_TEST

/* ---- leaf operations ------------------------------------------------------------- */

START_TEST(test_read_reports_end_of_stream_as_zero)
{
	struct push_stream s;
	struct rec a = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, NULL, NULL), 0);
	close(peer);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, 0);
	push_stream_close(&s);
	finish();
}
END_TEST

/* A writer and a reader in the same loop: a 4 MiB write-all goes through
 * many short writes while the other end reads, callback after callback. */
struct drain {
	struct push_stream *s;
	unsigned char buf[65536];
	size_t total;
	uint64_t sum;
};

static void drain_cb(void *data, ssize_t result)
{
	struct drain *d = data;

	if (result <= 0)
		return;
	for (ssize_t i = 0; i < result; i++)
		d->sum += d->buf[i];
	d->total += (size_t)result;
	ck_assert_int_eq(push_read(loop, d->s, d->buf, sizeof(d->buf), NULL,
				   drain_cb, d, NULL, NULL), 0);
}

START_TEST(test_write_all_completes_after_short_writes)
{
	const size_t n = 4u << 20;
	unsigned char *data = malloc(n);
	struct push_stream w, rd;
	struct drain d = { .s = &rd };
	struct push_req *wr;
	uint64_t sum = 0;
	int fd[2];

	start();
	for (size_t i = 0; i < n; i++) {
		data[i] = (unsigned char)(i * 7 + (i >> 12));
		sum += data[i];
	}
	socket_pair(fd);
	ck_assert_int_eq(push_stream_open(loop, &w, fd[0]), 0);
	ck_assert_int_eq(push_stream_open(loop, &rd, fd[1]), 0);
	ck_assert_int_eq(push_write(loop, &w, data, n, NULL, NULL, NULL, &wr, NULL), 0);
	ck_assert_int_eq(push_read(loop, &rd, d.buf, sizeof(d.buf), NULL, drain_cb, &d, NULL, NULL), 0);
	ck_assert_int_eq(push_run_until(loop, wr), 0);
	ck_assert_int_eq(push_req_result(wr), (ssize_t)n);
	push_req_unref(wr);
	push_stream_close(&w);      /* the reader then sees end of stream */
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_uint_eq(d.total, n);
	ck_assert_uint_eq(d.sum, sum);
	push_stream_close(&rd);
	free(data);
	finish();
}
END_TEST

START_TEST(test_second_write_on_a_stream_fails_ebusy)
{
	static unsigned char big[8u << 20];
	struct push_stream s;
	struct rec a = { 0 }, b = { 0 };
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_write(loop, &s, big, sizeof(big), NULL, rec_cb, &a, NULL, NULL), 0);
	ck_assert_int_eq(push_write(loop, &s, big, 1, NULL, rec_cb, &b, NULL, NULL), -EBUSY);
	push_stream_close(&s);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, -ECANCELED);
	ck_assert_int_eq(b.calls, 0);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_stream_close_cancels_its_pending_requests)
{
	static unsigned char big[8u << 20];
	struct push_stream s;
	struct rec rd = { 0 }, wr = { 0 };
	char buf[8];
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &rd, NULL, NULL), 0);
	ck_assert_int_eq(push_write(loop, &s, big, sizeof(big), NULL, rec_cb, &wr, NULL, NULL), 0);
	push_stream_close(&s);
	push_stream_close(&s);    /* twice: nothing */
	ck_assert_int_eq(rd.calls + wr.calls, 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(rd.result, -ECANCELED);
	ck_assert_int_eq(wr.result, -ECANCELED);
	close(peer);
	finish();
}
END_TEST

/* Accept and connect over loopback, then one message each way. */
START_TEST(test_accept_and_connect_over_loopback)
{
	struct push_stream listener, client, server;
	struct push_req *acc, *con, *rd;
	char buf[8];
	int lh, port;

	start();
	lh = reactor_listen(r, "127.0.0.1", 0, 16);
	ck_assert_int_ge(lh, 0);
	port = reactor_local_port(r, lh);
	ck_assert_int_gt(port, 0);
	ck_assert_int_eq(push_stream_open(loop, &listener, lh), 0);
	memset(&client, 0, sizeof(client));
	ck_assert_int_eq(push_accept(loop, &listener, NULL, NULL, NULL, &acc, NULL), 0);
	ck_assert_int_eq(push_connect(loop, &client, "127.0.0.1", (uint16_t)port, NULL, NULL, NULL, &con), 0);
	ck_assert_int_eq(push_run_until(loop, acc), 0);
	ck_assert_int_ge(push_req_result(acc), 0);
	ck_assert_int_eq(push_run_until(loop, con), 0);
	ck_assert_int_eq(push_req_result(con), 0);
	ck_assert_int_eq(push_stream_open(loop, &server, (int)push_req_result(acc)), 0);
	ck_assert_int_eq(push_write(loop, &client, "ping", 4, NULL, NULL, NULL, NULL, NULL), 0);
	ck_assert_int_eq(push_read(loop, &server, buf, sizeof(buf), NULL, NULL, NULL, &rd, NULL), 0);
	ck_assert_int_eq(push_run_until(loop, rd), 0);
	ck_assert_int_eq(push_req_result(rd), 4);
	ck_assert_mem_eq(buf, "ping", 4);
	push_req_unref(acc);
	push_req_unref(con);
	push_req_unref(rd);
	push_stream_close(&server);
	push_stream_close(&client);
	push_stream_close(&listener);
	ck_assert_int_eq(push_loop_run(loop), 0);
	finish();
}
END_TEST

START_TEST(test_connect_to_a_closed_port_reports_econnrefused)
{
	struct push_stream client = { 0 };
	struct push_req *con;
	int lh, port, rc;

	start();
	lh = reactor_listen(r, "127.0.0.1", 0, 1);
	port = reactor_local_port(r, lh);
	reactor_close(r, lh);           /* nothing listens there now */
	rc = push_connect(loop, &client, "127.0.0.1", (uint16_t)port, NULL, NULL, NULL, &con);
	if (rc == PUSH_STARTED) {
		ck_assert_int_eq(push_run_until(loop, con), 0);
		ck_assert_int_eq(push_req_result(con), -ECONNREFUSED);
		push_req_unref(con);
		push_stream_close(&client);
	} else {
		/* Refused inside connect(2): a failed start, no stream. */
		ck_assert_int_eq(rc, -ECONNREFUSED);
		ck_assert_ptr_null(con);
		ck_assert(!push_stream_is_open(&client));
	}
	finish();
}
END_TEST

START_TEST(test_sleep_completes_with_zero_no_earlier_than_asked)
{
	struct push_req *req;
	uint64_t t0;

	start();
	t0 = reactor_now(r);
	ck_assert_int_eq(push_sleep(loop, 2000000, NULL, NULL, NULL, &req), 0);
	ck_assert_int_eq(push_run_until(loop, req), 0);
	ck_assert_int_eq(push_req_result(req), 0);
	ck_assert_uint_ge(reactor_now(r) - t0, 2000000);
	push_req_unref(req);
	finish();
}
END_TEST

static void temp_file(char *path)
{
	int fd;

	strcpy(path, "/tmp/test_push_XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

START_TEST(test_file_write_then_read_through_offload)
{
	struct push_config p = { 0 };
	struct push_buf *out, *in;
	struct push_req *wr, *rd;
	char path[64];
	int fh;

	start_with(&p, true);
	temp_file(path);
	fh = reactor_file_open(r, path, O_RDWR, 0600);
	ck_assert_int_ge(fh, 0);
	out = push_buf_new(1000);
	in = push_buf_new(4096);
	for (int i = 0; i < 1000; i++)
		out->data[i] = (unsigned char)(i * 31);
	out->len = 1000;
	ck_assert_int_eq(push_file_write(loop, fh, out, 10, NULL, NULL, NULL, &wr), 0);
	ck_assert_int_eq(push_run_until(loop, wr), 0);
	ck_assert_int_eq(push_req_result(wr), 1000);
	ck_assert_int_eq(push_file_read(loop, fh, in, 10, NULL, NULL, NULL, &rd), 0);
	ck_assert_int_eq(push_run_until(loop, rd), 0);
	ck_assert_int_eq(push_req_result(rd), 1000);
	ck_assert_uint_eq(in->len, 1000);
	ck_assert_mem_eq(in->data, out->data, 1000);
	push_req_unref(wr);
	push_req_unref(rd);
	ck_assert_int_eq(push_loop_run(loop), 0);
	push_buf_unref(out);
	push_buf_unref(in);
	reactor_file_close(r, fh);
	unlink(path);
	finish();
}
END_TEST

/* A write the file cannot take whole: with the file size limit at 500
 * bytes, a write of 1000 at offset 10 writes 490, short, and the next
 * pwrite fails with EFBIG, as a full disk fails with ENOSPC.  The result is
 * the error, never the 490 (push.h: buf->len or -errno). */
START_TEST(test_a_file_write_that_stops_part_way_is_an_error)
{
	struct push_config p = { 0 };
	struct push_buf *out;
	struct push_req *wr;
	struct rlimit old, lim;
	char path[64];
	ssize_t result;
	int fh;

	start_with(&p, true);
	temp_file(path);
	fh = reactor_file_open(r, path, O_RDWR, 0600);
	ck_assert_int_ge(fh, 0);
	out = push_buf_new(1000);
	memset(out->data, 'x', 1000);
	out->len = 1000;
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 500;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(push_file_write(loop, fh, out, 10, NULL, NULL, NULL, &wr), 0);
	ck_assert_int_eq(push_run_until(loop, wr), 0);
	result = push_req_result(wr);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);   /* before any report */
	ck_assert_int_eq(result, -EFBIG);
	ck_assert_int_eq(reactor_file_size(r, fh), 500);
	push_req_unref(wr);
	ck_assert_int_eq(push_loop_run(loop), 0);
	push_buf_unref(out);
	reactor_file_close(r, fh);
	unlink(path);
	finish();
}
END_TEST

/* Cancel file reads at once and drop the buffer: each read calls back with
 * -ECANCELED, the job may still be queued, running or finished, and the
 * buffer lives until the pool gives the job back.  The loop waits for that,
 * so at the end nothing is left (and the sanitizer build sees no write to
 * freed memory). */
START_TEST(test_cancelled_file_read_keeps_its_buffer_until_the_job_returns)
{
	struct push_config p = { 0 };
	struct rec a[8] = { { 0 } };
	struct push_token tok;
	char path[64];
	static unsigned char content[256 * 1024];
	int fh, fd;

	start_with(&p, true);
	temp_file(path);
	fd = open(path, O_WRONLY);
	ck_assert_int_eq(write(fd, content, sizeof(content)), (ssize_t)sizeof(content));
	close(fd);
	fh = reactor_file_open(r, path, O_RDONLY, 0);
	push_token_init(&tok, NULL);
	for (int i = 0; i < 8; i++) {
		struct push_buf *b = push_buf_new(sizeof(content));
		ck_assert_int_eq(push_file_read(loop, fh, b, 0, &tok, rec_cb, &a[i], NULL), 0);
		ck_assert_uint_eq(b->refs, 2);
		push_buf_unref(b);      /* the job's reference remains */
	}
	ck_assert_int_eq(push_token_cancel(&tok), 8);
	ck_assert_int_eq(push_loop_run(loop), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(a[i].result, -ECANCELED);
	ck_assert_uint_eq(offload_outstanding(off), 0);
	push_token_destroy(&tok);
	reactor_file_close(r, fh);
	unlink(path);
	finish();
}
END_TEST

/* epoll refuses regular files: the open fails, and the handle is still the
 * caller's, open (poll's rule too: a call that fails changes nothing). */
START_TEST(test_stream_open_failure_leaves_the_handle_with_the_caller)
{
	struct push_stream s = { 0 };
	int fd;

	start();
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_lt(push_stream_open(loop, &s, fd), 0);
	ck_assert(!push_stream_is_open(&s));
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);   /* still open */
	close(fd);
	finish();
}
END_TEST

START_TEST(test_file_operations_without_a_pool_fail_to_start)
{
	struct push_buf *b;
	struct rec a = { 0 };

	start();
	b = push_buf_new(16);
	ck_assert_int_eq(push_file_read(loop, 0, b, 0, NULL, rec_cb, &a, NULL), -ENOSYS);
	ck_assert_int_eq(push_file_write(loop, 0, b, 0, NULL, rec_cb, &a, NULL), -ENOSYS);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 0);
	push_buf_unref(b);
	finish();
}
END_TEST

/* ---- policies and the fast path ------------------------------------------------------ */

START_TEST(test_default_policy_is_idiomatic_without_fast_path)
{
	struct push_config p = push_config_get();

	ck_assert(!p.pooled);
	ck_assert(!p.fast_path);
	p.pooled = true;
	push_config_set(&p);
	ck_assert(push_config_get().pooled);
}
END_TEST

/* Read n messages one at a time, each already waiting: the number of heap
 * allocations the requests cost. */
static uint64_t allocations_for_reads(int n)
{
	struct push_stream s;
	char buf[1];
	int peer;
	uint64_t before;

	open_pair(&s, &peer);
	before = allocs();
	for (int i = 0; i < n; i++) {
		struct push_req *req;
		peer_send(peer, "x");
		ck_assert_int_eq(push_read(loop, &s, buf, 1, NULL, NULL, NULL, &req, NULL), 0);
		ck_assert_int_eq(push_run_until(loop, req), 0);
		ck_assert_int_eq(push_req_result(req), 1);
		push_req_unref(req);
	}
	before = allocs() - before;
	push_stream_close(&s);
	close(peer);
	return before;
}

START_TEST(test_idiomatic_policy_allocates_a_request_per_operation)
{
	start();
	ck_assert_uint_eq(allocations_for_reads(100), 100);
	finish();
}
END_TEST

START_TEST(test_pooled_policy_reuses_requests)
{
	struct push_config p = { .pooled = true };
	struct push_loop_stats st;

	start_with(&p, false);
	ck_assert_uint_eq(allocations_for_reads(100), 1);
	push_loop_stats_get(loop, &st);
	ck_assert_uint_eq(st.reqs_allocated, 1);
	ck_assert_uint_eq(st.reqs_reused, 99);
	finish();       /* the free list goes with the loop */
}
END_TEST

START_TEST(test_fast_path_completes_a_ready_read_without_a_request)
{
	struct push_config p = { .fast_path = true };
	struct push_loop_stats st;
	struct push_stream s;
	struct push_req *req = (struct push_req *)&s;
	struct rec a = { 0 };
	ssize_t now = -1;
	char buf[8];
	uint64_t before;
	int peer;

	start_with(&p, false);
	open_pair(&s, &peer);
	peer_send(peer, "fast");
	before = allocs();
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, &req, &now), PUSH_SYNC);
	ck_assert_uint_eq(allocs(), before);
	ck_assert_int_eq(now, 4);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 0);  /* the result was the return value */
	/* Write completes at once too. */
	ck_assert_int_eq(push_write(loop, &s, "back", 4, NULL, rec_cb, &a, NULL, &now), PUSH_SYNC);
	ck_assert_int_eq(now, 4);
	ck_assert_int_eq(read(peer, buf, sizeof(buf)), 4);
	ck_assert_uint_eq(allocs(), before);
	push_loop_stats_get(loop, &st);
	ck_assert_uint_eq(st.sync_completions, 2);
	ck_assert_uint_eq(st.reqs_allocated, 0);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_fast_path_allocates_only_when_the_operation_must_wait)
{
	struct push_config p = { .fast_path = true };
	struct push_stream s;
	struct rec a = { 0 };
	ssize_t now = -1;
	char buf[8];
	uint64_t before;
	int peer;

	start_with(&p, false);
	open_pair(&s, &peer);
	before = allocs();
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, NULL, &now), PUSH_STARTED);
	ck_assert_uint_eq(allocs(), before + 1);
	ck_assert_int_eq(now, -1);
	peer_send(peer, "slow");
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 4);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_fast_path_needs_both_the_policy_and_the_caller)
{
	struct push_config on = { .fast_path = true };
	struct push_stream s;
	struct rec a = { 0 }, b = { 0 };
	ssize_t now = -1;
	char buf[8];
	int peer;

	/* Policy off: a caller passing sync still gets a callback. */
	start();
	open_pair(&s, &peer);
	peer_send(peer, "1");
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &a, NULL, &now), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	push_stream_close(&s);
	close(peer);
	finish();

	/* Policy on: a caller passing no sync still gets a callback. */
	start_with(&on, false);
	open_pair(&s, &peer);
	peer_send(peer, "2");
	ck_assert_int_eq(push_read(loop, &s, buf, sizeof(buf), NULL, rec_cb, &b, NULL, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(now, -1);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

/* ---- composition ------------------------------------------------------------------- */

static int start_sleep(struct push_loop *l, void *arg, struct push_token *tok,
		       push_cb cb, void *data)
{
	return push_sleep(l, *(uint64_t *)arg, tok, cb, data, NULL);
}

/* A step that sleeps 0 ns and passes prev + its arg on through the
 * result, or fails when prev says so. */
struct step_log {
	ssize_t seen[8];
	int steps;
};

static struct step_log slog;

static void step_add_cb(void *data, ssize_t result);

struct step_ctx {
	push_cb cb;
	void *data;
	ssize_t value;
};

static void step_add_cb(void *data, ssize_t result)
{
	struct step_ctx *k = data;
	push_cb cb = k->cb;
	void *d = k->data;
	ssize_t v = k->value;

	free(k);
	cb(d, result < 0 ? result : v);
}

static int step_add(struct push_loop *l, void *arg, ssize_t prev,
		    struct push_token *tok, push_cb cb, void *data)
{
	struct step_ctx *k;
	int rc;

	slog.seen[slog.steps++] = prev;
	if (prev < 0 || prev == 99)
		return -EIO;
	k = malloc(sizeof(*k));
	k->cb = cb;
	k->data = data;
	k->value = prev + *(int *)arg;
	rc = push_sleep(l, 0, tok, step_add_cb, k, NULL);
	if (rc < 0)
		free(k);
	return rc;
}

START_TEST(test_seq_runs_steps_in_order_passing_results)
{
	push_step_fn steps[4] = { step_add, step_add, step_add, step_add };
	int add = 10;
	struct rec a = { 0 };

	start();
	memset(&slog, 0, sizeof(slog));
	ck_assert_int_eq(push_seq(loop, steps, 4, &add, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(slog.steps, 4);
	ck_assert_int_eq(slog.seen[0], 0);
	ck_assert_int_eq(slog.seen[1], 10);
	ck_assert_int_eq(slog.seen[3], 30);
	ck_assert_int_eq(a.result, 40);
	finish();
}
END_TEST

START_TEST(test_seq_stops_at_the_first_error)
{
	push_step_fn steps[5] = { step_add, step_add, step_add, step_add, step_add };
	int add = 33;   /* 0, 33, 66, 99: the fourth step fails to start */
	struct rec a = { 0 };

	start();
	memset(&slog, 0, sizeof(slog));
	ck_assert_int_eq(push_seq(loop, steps, 5, &add, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(slog.steps, 4);
	ck_assert_int_eq(a.result, -EIO);
	finish();
}
END_TEST

static int start_sleep_step(struct push_loop *l, void *arg, ssize_t prev,
			    struct push_token *tok, push_cb cb, void *data)
{
	return push_sleep(l, 0, tok, cb, data, NULL);
}

/* The figure behind claim C1 for this engine: a chain of D sleeps costs
 * 2 + 2D allocations (request and state of the sequence, and per step a
 * continuation and a leaf request). */
START_TEST(test_seq_allocates_a_continuation_per_step)
{
	push_step_fn steps[16];
	struct push_req *req;
	uint64_t before;

	start();
	for (int i = 0; i < 16; i++)
		steps[i] = start_sleep_step;
	for (unsigned d = 1; d <= 16; d *= 2) {
		before = allocs();
		ck_assert_int_eq(push_seq(loop, steps, d, NULL, NULL, NULL, NULL, &req), 0);
		ck_assert_int_eq(push_run_until(loop, req), 0);
		ck_assert_int_eq(push_req_result(req), 0);
		push_req_unref(req);
		ck_assert_uint_eq(allocs() - before, 2 + 2 * d);
	}
	finish();
}
END_TEST

START_TEST(test_seq_cancelled_calls_back_ecanceled)
{
	push_step_fn steps[2] = { start_sleep_step, start_sleep_step };
	struct push_token tok;
	struct rec a = { 0 };

	start();
	push_token_init(&tok, NULL);
	ck_assert_int_eq(push_seq(loop, steps, 2, NULL, &tok, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_token_cancel(&tok), 1);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	push_token_destroy(&tok);
	finish();
}
END_TEST

START_TEST(test_join_waits_for_every_branch)
{
	uint64_t ns[3] = { 3000000, 1000000, 2000000 };
	struct push_branch b[3];
	struct push_req *req;

	start();
	for (int i = 0; i < 3; i++)
		b[i] = (struct push_branch){ .start = start_sleep, .arg = &ns[i] };
	ck_assert_int_eq(push_join(loop, b, 3, NULL, NULL, NULL, &req), 0);
	ck_assert_int_eq(push_run_until(loop, req), 0);
	ck_assert_int_eq(push_req_result(req), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(b[i].result, 0);
	push_req_unref(req);
	finish();
}
END_TEST

static int start_fail(struct push_loop *l, void *arg, struct push_token *tok,
		      push_cb cb, void *data)
{
	return *(int *)arg;
}

START_TEST(test_join_result_is_the_first_error_in_branch_order)
{
	uint64_t ns = 0;
	int e1 = -EIO, e2 = -EPERM;
	struct push_branch b[3] = {
		{ .start = start_sleep, .arg = &ns },
		{ .start = start_fail, .arg = &e1 },
		{ .start = start_fail, .arg = &e2 },
	};
	struct rec a = { 0 };

	start();
	ck_assert_int_eq(push_join(loop, b, 3, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, -EIO);
	ck_assert_int_eq(b[0].result, 0);
	ck_assert_int_eq(b[2].result, -EPERM);
	finish();
}
END_TEST

START_TEST(test_race_first_branch_wins_and_the_losers_are_cancelled)
{
	uint64_t ns[3] = { 10 * 1000000000ull, 1000000, 10 * 1000000000ull };
	struct push_branch b[3];
	struct rec a = { 0 };

	start();
	for (int i = 0; i < 3; i++)
		b[i] = (struct push_branch){ .start = start_sleep, .arg = &ns[i] };
	ck_assert_int_eq(push_race(loop, b, 3, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, 1);
	ck_assert_int_eq(b[1].result, 0);
	/* The race called back after the losers did: their results are in. */
	ck_assert_int_eq(b[0].result, -ECANCELED);
	ck_assert_int_eq(b[2].result, -ECANCELED);
	finish();
}
END_TEST

struct read_arg {
	struct push_stream *s;
	char buf[8];
};

static int start_read(struct push_loop *l, void *arg, struct push_token *tok,
		      push_cb cb, void *data)
{
	struct read_arg *ra = arg;

	return push_read(l, ra->s, ra->buf, sizeof(ra->buf), tok, cb, data,
			 NULL, NULL);
}

/* Both reads complete at once (data waiting): the first wins, and the
 * second, already queued, cannot be cancelled (R5): its result stays. */
START_TEST(test_race_loser_that_already_completed_keeps_its_result)
{
	struct push_stream s1, s2;
	struct read_arg ra[2] = { { .s = &s1 }, { .s = &s2 } };
	struct push_branch b[2] = {
		{ .start = start_read, .arg = &ra[0] },
		{ .start = start_read, .arg = &ra[1] },
	};
	struct rec a = { 0 };
	int p1, p2;

	start();
	open_pair(&s1, &p1);
	open_pair(&s2, &p2);
	peer_send(p1, "one");
	peer_send(p2, "second");
	ck_assert_int_eq(push_race(loop, b, 2, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, 0);
	ck_assert_int_eq(b[0].result, 3);
	ck_assert_int_eq(b[1].result, 6);
	push_stream_close(&s1);
	push_stream_close(&s2);
	close(p1);
	close(p2);
	finish();
}
END_TEST

/* When every branch fails to start the composition still calls back from
 * the loop, never inside its start call. */
START_TEST(test_composition_never_calls_back_inside_its_start)
{
	int e = -EIO;
	uint64_t ns = 0;
	struct push_branch b[2] = {
		{ .start = start_fail, .arg = &e },
		{ .start = start_fail, .arg = &e },
	};
	struct rec j = { 0 }, rc = { 0 };

	start();
	ck_assert_int_eq(push_join(loop, b, 2, NULL, rec_cb, &j, NULL), 0);
	ck_assert_int_eq(j.calls, 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(j.result, -EIO);
	/* In a race the failed branch wins at once, and the next branch then
	 * cannot start: its token is already cancelled. */
	b[1] = (struct push_branch){ .start = start_sleep, .arg = &ns };
	ck_assert_int_eq(push_race(loop, b, 2, NULL, rec_cb, &rc, NULL), 0);
	ck_assert_int_eq(rc.calls, 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(rc.result, 0);
	ck_assert_int_eq(b[0].result, -EIO);
	ck_assert_int_eq(b[1].result, -ECANCELED);
	finish();
}
END_TEST

START_TEST(test_timeout_expires_with_etimedout)
{
	struct push_stream s;
	struct read_arg ra = { .s = &s };
	struct rec a = { 0 };
	int peer;

	start();
	open_pair(&s, &peer);
	ck_assert_int_eq(push_timeout(loop, 1000000, start_read, &ra, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, -ETIMEDOUT);
	/* The read was cancelled: the stream is free for another. */
	peer_send(peer, "later");
	ck_assert_int_eq(push_read(loop, &s, ra.buf, sizeof(ra.buf), NULL, rec_cb, &a, NULL, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, 5);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

START_TEST(test_timeout_passes_on_the_result_of_an_operation_in_time)
{
	struct push_stream s;
	struct read_arg ra = { .s = &s };
	struct rec a = { 0 };
	int peer;

	start();
	open_pair(&s, &peer);
	peer_send(peer, "in time");
	ck_assert_int_eq(push_timeout(loop, 10 * 1000000000ull, start_read, &ra, NULL, rec_cb, &a, NULL), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.result, 7);
	push_stream_close(&s);
	close(peer);
	finish();
}
END_TEST

/* R5 at a composition: a read with data waiting completes as it starts,
 * and its completion is queued; the composition cancelled right after it
 * calls back with the read's bytes, not -ECANCELED, since they were taken
 * from the stream already and would be lost. */
static int start_read_step(struct push_loop *l, void *arg, ssize_t prev,
			   struct push_token *tok, push_cb cb, void *data)
{
	return start_read(l, arg, tok, cb, data);
}

/* Start a composition with start(), cancel it at once, run the loop: its
 * result.  Each stream is new, with its peer's bytes waiting, so that every
 * read completes as it starts (an earlier short read would have left the
 * stream drained until its next edge). */
struct decided {
	struct push_stream s[2];
	struct read_arg ra[2];
	int peer[2];
};

static void decided_open(struct decided *d, const char *t0, const char *t1)
{
	for (int i = 0; i < 2; i++) {
		open_pair(&d->s[i], &d->peer[i]);
		d->ra[i] = (struct read_arg){ .s = &d->s[i] };
	}
	if (t0 != NULL)
		peer_send(d->peer[0], t0);
	if (t1 != NULL)
		peer_send(d->peer[1], t1);
}

static ssize_t decided_cancel_and_run(struct push_req *req, int started)
{
	ssize_t result;

	ck_assert_int_eq(started, 0);
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_loop_run(loop), 0);
	result = push_req_result(req);
	push_req_unref(req);
	return result;
}

static void decided_close(struct decided *d)
{
	for (int i = 0; i < 2; i++) {
		push_stream_close(&d->s[i]);
		close(d->peer[i]);
	}
}

START_TEST(test_a_composition_cancelled_after_its_result_was_decided_keeps_it)
{
	static const push_step_fn steps[1] = { start_read_step };
	static const push_step_fn two_steps[2] = { start_read_step,
						   start_read_step };
	uint64_t forever = 30 * 1000000000ull;
	struct push_branch b[2];
	struct push_req *req;
	struct decided d;
	int rc;

	start();

	/* timeout(read) */
	decided_open(&d, "in time", NULL);
	rc = push_timeout(loop, forever, start_read, &d.ra[0], NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), 7);
	ck_assert_mem_eq(d.ra[0].buf, "in time", 7);
	decided_close(&d);

	/* seq(read): its last step completed */
	decided_open(&d, "last", NULL);
	rc = push_seq(loop, steps, 1, &d.ra[0], NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), 4);
	decided_close(&d);

	/* seq(read, read): cut short with a step left */
	decided_open(&d, "first", NULL);
	rc = push_seq(loop, two_steps, 2, &d.ra[0], NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), -ECANCELED);
	decided_close(&d);

	/* join(read, read): both completed */
	decided_open(&d, "one", "two");
	b[0] = (struct push_branch){ .start = start_read, .arg = &d.ra[0] };
	b[1] = (struct push_branch){ .start = start_read, .arg = &d.ra[1] };
	rc = push_join(loop, b, 2, NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), 0);
	ck_assert_int_eq(b[0].result, 3);
	ck_assert_int_eq(b[1].result, 3);
	decided_close(&d);

	/* race(sleep, read): the read had won */
	decided_open(&d, NULL, "winner");
	b[0] = (struct push_branch){ .start = start_sleep, .arg = &forever };
	b[1] = (struct push_branch){ .start = start_read, .arg = &d.ra[1] };
	rc = push_race(loop, b, 2, NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), 1);
	ck_assert_int_eq(b[1].result, 6);
	ck_assert_int_eq(b[0].result, -ECANCELED);
	decided_close(&d);

	/* race(sleep, sleep): cancelled before either completed */
	b[0] = (struct push_branch){ .start = start_sleep, .arg = &forever };
	b[1] = (struct push_branch){ .start = start_sleep, .arg = &forever };
	rc = push_race(loop, b, 2, NULL, NULL, NULL, &req);
	ck_assert_int_eq(decided_cancel_and_run(req, rc), -ECANCELED);

	finish();
}
END_TEST

START_TEST(test_timeout_fails_to_start_when_its_operation_does)
{
	int e = -EIO;
	struct rec a = { 0 };
	struct push_req *req = (struct push_req *)&e;

	start();
	ck_assert_int_eq(push_timeout(loop, 1000000, start_fail, &e, NULL, rec_cb, &a, &req), -EIO);
	ck_assert_ptr_null(req);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 0);
	finish();
}
END_TEST

/* A race inside a timeout, cancelled through a token: the cancel reaches
 * the innermost sleeps, and every level calls back once, -ECANCELED. */
static int start_race(struct push_loop *l, void *arg, struct push_token *tok,
		      push_cb cb, void *data)
{
	return push_race(l, arg, 2, tok, cb, data, NULL);
}

START_TEST(test_cancelling_nested_compositions_reaches_the_leaves)
{
	uint64_t ns[2] = { 10 * 1000000000ull, 20 * 1000000000ull };
	struct push_branch b[2] = {
		{ .start = start_sleep, .arg = &ns[0] },
		{ .start = start_sleep, .arg = &ns[1] },
	};
	struct push_token tok;
	struct push_req *req;
	struct rec a = { 0 };

	start();
	push_token_init(&tok, NULL);
	ck_assert_int_eq(push_timeout(loop, 30 * 1000000000ull, start_race, b, &tok, rec_cb, &a, &req), 0);
	ck_assert_int_eq(push_token_cancel(&tok), 1);
	ck_assert_int_eq(push_cancel(req), -EALREADY);
	ck_assert_int_eq(push_loop_run(loop), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.result, -ECANCELED);
	ck_assert_int_eq(b[0].result, -ECANCELED);
	ck_assert_int_eq(b[1].result, -ECANCELED);
	push_req_unref(req);
	push_token_destroy(&tok);
	finish();
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("push");
	TCase *tc;

	tc = tcase_create("loop");
	tcase_add_test(tc, test_run_returns_at_once_when_nothing_is_pending);
	tcase_add_test(tc, test_callbacks_run_in_completion_order);
	tcase_add_test(tc, test_completion_queued_by_a_callback_runs_in_the_same_iteration_after_earlier_ones);
	tcase_add_test(tc, test_a_chain_of_immediate_completions_yields_to_io_every_64_callbacks);
	tcase_add_test(tc, test_a_callback_that_yields_runs_again_only_after_a_reactor_poll);
	tcase_add_test(tc, test_stop_request_runs_the_stop_handler_once_then_drains);
	tcase_add_test(tc, test_stop_without_handler_returns_eintr_once);
	tcase_add_test(tc, test_run_until_waits_for_one_request_only);
	tcase_add_test(tc, test_quiescent_sim_world_is_a_stop_then_edeadlk);
	tcase_add_test(tc, test_quiescent_sim_world_without_handler_is_edeadlk);
	tcase_add_test(tc, test_stats_count_iterations_callbacks_and_requests);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_test(tc, test_callback_never_runs_inside_the_start_call);
	tcase_add_test(tc, test_callback_runs_exactly_once);
	tcase_add_test(tc, test_failed_start_returns_errno_and_never_calls_back);
	tcase_add_test(tc, test_request_goes_pending_queued_done);
	tcase_add_test(tc, test_request_memory_goes_with_the_last_reference);
	tcase_add_test(tc, test_dropping_the_handle_early_still_calls_back);
	tcase_add_test(tc, test_cancel_calls_back_with_ecanceled_from_the_loop);
	tcase_add_test(tc, test_cancel_after_the_completion_is_queued_keeps_the_result);
	tcase_add_test(tc, test_cancel_twice_and_after_done_are_defined);
	tcase_add_test(tc, test_cancel_from_inside_a_callback);
	suite_add_tcase(s, tc);

	tc = tcase_create("token");
	tcase_add_test(tc, test_token_cancel_cancels_every_registered_request);
	tcase_add_test(tc, test_cancelling_a_parent_cancels_its_children);
	tcase_add_test(tc, test_child_of_a_cancelled_token_starts_cancelled);
	tcase_add_test(tc, test_token_cancel_twice_cancels_nothing_more);
	tcase_add_test(tc, test_token_cancel_lets_a_queued_completion_win);
	tcase_add_test(tc, test_token_destroy_detaches_requests_and_children);
	suite_add_tcase(s, tc);

	tc = tcase_create("io");
	tcase_add_test(tc, test_read_reports_end_of_stream_as_zero);
	tcase_add_test(tc, test_write_all_completes_after_short_writes);
	tcase_add_test(tc, test_second_write_on_a_stream_fails_ebusy);
	tcase_add_test(tc, test_stream_close_cancels_its_pending_requests);
	tcase_add_test(tc, test_accept_and_connect_over_loopback);
	tcase_add_test(tc, test_connect_to_a_closed_port_reports_econnrefused);
	tcase_add_test(tc, test_sleep_completes_with_zero_no_earlier_than_asked);
	tcase_add_test(tc, test_file_write_then_read_through_offload);
	tcase_add_test(tc, test_a_file_write_that_stops_part_way_is_an_error);
	tcase_add_test(tc, test_cancelled_file_read_keeps_its_buffer_until_the_job_returns);
	tcase_add_test(tc, test_stream_open_failure_leaves_the_handle_with_the_caller);
	tcase_add_test(tc, test_file_operations_without_a_pool_fail_to_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_test(tc, test_default_policy_is_idiomatic_without_fast_path);
	tcase_add_test(tc, test_idiomatic_policy_allocates_a_request_per_operation);
	tcase_add_test(tc, test_pooled_policy_reuses_requests);
	tcase_add_test(tc, test_fast_path_completes_a_ready_read_without_a_request);
	tcase_add_test(tc, test_fast_path_allocates_only_when_the_operation_must_wait);
	tcase_add_test(tc, test_fast_path_needs_both_the_policy_and_the_caller);
	suite_add_tcase(s, tc);

	tc = tcase_create("compose");
	tcase_add_test(tc, test_seq_runs_steps_in_order_passing_results);
	tcase_add_test(tc, test_seq_stops_at_the_first_error);
	tcase_add_test(tc, test_seq_allocates_a_continuation_per_step);
	tcase_add_test(tc, test_seq_cancelled_calls_back_ecanceled);
	tcase_add_test(tc, test_join_waits_for_every_branch);
	tcase_add_test(tc, test_join_result_is_the_first_error_in_branch_order);
	tcase_add_test(tc, test_race_first_branch_wins_and_the_losers_are_cancelled);
	tcase_add_test(tc, test_race_loser_that_already_completed_keeps_its_result);
	tcase_add_test(tc, test_composition_never_calls_back_inside_its_start);
	tcase_add_test(tc, test_timeout_expires_with_etimedout);
	tcase_add_test(tc, test_timeout_passes_on_the_result_of_an_operation_in_time);
	tcase_add_test(tc, test_timeout_fails_to_start_when_its_operation_does);
	tcase_add_test(tc, test_a_composition_cancelled_after_its_result_was_decided_keeps_it);
	tcase_add_test(tc, test_cancelling_nested_compositions_reaches_the_leaves);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
