/* test_push_completion.c: the push engine in the completion mode
 * (push_loop_init_completion(), push/io_completion.c), and its two
 * workloads over completion_new_beside().
 *
 * On the simulated completion queue (a sim reactor) every test also checks
 * what the strict simulated kernel counts: no buffer touched, freed or
 * reused while the kernel owns it (completion_sim_violations() == 0), and
 * that nothing is left allocated (mem's live blocks back where they were).
 * On a real ring the tests that need one say why they are skipped, in one
 * line, where io_uring cannot be set up here.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "completion.h"
#include "mem.h"
#include "netclient.h"
#include "push.h"
#include "reactor.h"
#include "sim.h"
#include "workload.h"
#include "workload_testutil.h"

/* ---- leaves: a loop in the completion mode on a simulated stream pair ------- */

struct leaf_world {
	struct reactor *r;
	struct completion *q;
	struct push_loop loop;
	struct push_stream a, b;       /* the two ends of a stream pair */
};

/* A loop in the completion mode with a connected stream pair: on the
 * simulated kernel (ring false), or on io_uring beside an epoll reactor
 * with a socket pair (ring true; false, and the reason in one line, where
 * no ring can be set up: the test is skipped). */
static bool leaf_open_on(struct leaf_world *w, uint64_t seed, bool ring)
{
	char why[COMPLETION_REASON_MAX];
	struct sim_config c;
	int h[2];

	memset(w, 0, sizeof(*w));
	if (ring) {
		w->r = reactor_new_epoll();
		ck_assert_ptr_nonnull(w->r);
		if (completion_new_beside(w->r, 0, &w->q, why,
					  sizeof(why)) < 0) {
			printf("skipped on uring: %s\n", why);
			reactor_free(w->r);
			return false;
		}
		ck_assert_str_eq(completion_backend(w->q), "uring");
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, h), 0);
	} else {
		sim_config_default(&c, seed);
		w->r = reactor_new_sim(&c);
		ck_assert_ptr_nonnull(w->r);
		ck_assert_int_eq(completion_new_beside(w->r, 0, &w->q, NULL,
						       0), 0);
		ck_assert_str_eq(completion_backend(w->q), "sim");
		ck_assert_int_eq(sim_stream_pair(w->r, h), 0);
	}
	push_loop_init_completion(&w->loop, w->r, w->q, NULL);
	ck_assert_int_eq(push_stream_open(&w->loop, &w->a, h[0]), 0);
	ck_assert_int_eq(push_stream_open(&w->loop, &w->b, h[1]), 0);
	return true;
}

static void leaf_open(struct leaf_world *w, uint64_t seed)
{
	leaf_open_on(w, seed, false);
}

static void leaf_close(struct leaf_world *w)
{
	push_stream_close(&w->a);
	push_stream_close(&w->b);
	ck_assert_int_eq(push_loop_run(&w->loop), 0);
	push_loop_fini(&w->loop);
	if (reactor_is_sim(w->r))
		ck_assert_uint_eq(completion_sim_violations(w->q), 0);
	completion_free(w->q);
	reactor_free(w->r);
}

/* What a callback saw. */
struct seen {
	unsigned calls;
	ssize_t result;
};

static void on_done(void *data, ssize_t result)
{
	struct seen *s = data;

	s->calls++;
	s->result = result;
}

/* Write text on b and run until it is written. */
static void leaf_send(struct leaf_world *w, const char *text)
{
	struct seen s = { 0 };

	ck_assert_int_eq(push_write(&w->loop, &w->b, text, strlen(text), NULL,
				    on_done, &s, NULL, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(&w->loop), 0);
	ck_assert_uint_eq(s.calls, 1);
	ck_assert_int_eq(s.result, (ssize_t)strlen(text));
}

/* Loop index 0..7: the simulated kernel under seed 1 + i; 8: a ring. */
#define ON_RING(i) ((i) == 8)

START_TEST(test_read_then_write_back_delivers_the_bytes_once_each)
{
	int64_t live = live_blocks();
	struct leaf_world w;
	struct seen rd = { 0 }, wr = { 0 };
	char buf[64], back[64];

	if (!leaf_open_on(&w, 1 + (uint64_t)_i, ON_RING(_i)))
		return;
	leaf_send(&w, "hello, completion");
	ck_assert_int_eq(push_read(&w.loop, &w.a, buf, sizeof(buf), NULL,
				   on_done, &rd, NULL, NULL), PUSH_STARTED);
	ck_assert_uint_eq(rd.calls, 0);          /* R2: never inside the start */
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(rd.calls, 1);
	ck_assert_int_gt(rd.result, 0);
	ck_assert_int_eq(push_write(&w.loop, &w.a, buf, (size_t)rd.result,
				    NULL, on_done, &wr, NULL, NULL),
			 PUSH_STARTED);
	memset(&rd, 0, sizeof(rd));
	ck_assert_int_eq(push_read(&w.loop, &w.b, back, sizeof(back), NULL,
				   on_done, &rd, NULL, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(wr.calls, 1);
	ck_assert_uint_eq(rd.calls, 1);
	ck_assert_int_eq(rd.result, wr.result);
	ck_assert_mem_eq(back, "hello, completion", (size_t)rd.result);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Nothing to read: the cancel always wins, and the callback runs once, with
 * -ECANCELED, from the loop, after the kernel gave the buffer back. */
START_TEST(test_cancel_of_a_pending_read_runs_the_callback_once)
{
	int64_t live = live_blocks();
	struct leaf_world w;
	struct push_token tok;
	struct push_req *req;
	struct seen rd = { 0 };
	char buf[64];

	if (!leaf_open_on(&w, 7 + (uint64_t)_i, ON_RING(_i)))
		return;
	push_token_init(&tok, NULL);
	ck_assert_int_eq(push_read(&w.loop, &w.a, buf, sizeof(buf), &tok,
				   on_done, &rd, &req, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_token_cancel(&tok), 1);
	ck_assert_uint_eq(rd.calls, 0);          /* R2 */
	/* K2: still pending until the kernel's completion */
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	ck_assert_int_eq(push_cancel(req), -EALREADY);
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(rd.calls, 1);
	ck_assert_int_eq(rd.result, -ECANCELED);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_DONE);
	push_req_unref(req);
	push_token_destroy(&tok);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* The bytes are there before the read is started and the cancel follows at
 * once: seed by seed the simulated kernel lets either win.  Either way the
 * callback runs once and the bytes are delivered exactly once: by the
 * cancelled read itself (the cancel lost, R5), or by the next read. */
static int race_once(uint64_t seed, bool ring)
{
	struct leaf_world w;
	struct push_req *req;
	struct seen rd = { 0 }, again = { 0 };
	char buf[16], rest[16];
	int outcome;

	if (!leaf_open_on(&w, seed, ring))
		return 0;
	leaf_send(&w, "hello");
	ck_assert_int_eq(push_read(&w.loop, &w.a, buf, sizeof(buf), NULL,
				   on_done, &rd, &req, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_cancel(req), 0);
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(rd.calls, 1);
	if (rd.result == -ECANCELED) {
		ck_assert_int_eq(push_read(&w.loop, &w.a, rest, sizeof(rest),
					   NULL, on_done, &again, NULL, NULL),
				 PUSH_STARTED);
		ck_assert_int_eq(push_loop_run(&w.loop), 0);
		ck_assert_uint_eq(again.calls, 1);
		ck_assert_int_eq(again.result, 5);
		ck_assert_mem_eq(rest, "hello", 5);
		outcome = -1;
	} else {
		ck_assert_int_eq(rd.result, 5);
		ck_assert_mem_eq(buf, "hello", 5);
		outcome = 1;
	}
	push_req_unref(req);
	leaf_close(&w);
	return outcome;
}

START_TEST(test_a_cancel_that_loses_the_race_delivers_the_data_once)
{
	int64_t live = live_blocks();
	unsigned won = 0, lost = 0;

	for (uint64_t seed = 1; seed <= 64; seed++) {
		if (race_once(seed, false) > 0)
			lost++;
		else
			won++;
	}
	printf("push completion race: the cancel won %u, lost %u of 64\n",
	       won, lost);
	ck_assert_uint_gt(lost, 0);
	ck_assert_uint_gt(won, 0);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* On a ring the bytes are there when the read is submitted, and the
 * kernel does it in the same enter as the cancel, before it: the cancel
 * loses, and the data comes once, to the cancelled read's callback. */
START_TEST(test_a_cancel_that_loses_the_race_on_a_ring_delivers_the_data_once)
{
	int64_t live = live_blocks();

	ck_assert_int_ne(race_once(0, true), -1);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* K3: closing a stream under a read in flight cancels it; the handle stays
 * open (no violation: the kernel never sees it closed under the op) until
 * the completion, and the stream's memory may go at once. */
START_TEST(test_closing_a_stream_under_a_read_waits_for_its_completion)
{
	int64_t live = live_blocks();
	struct leaf_world w;
	struct seen rd = { 0 };
	char buf[64];

	if (!leaf_open_on(&w, 3 + (uint64_t)_i, ON_RING(_i)))
		return;
	ck_assert_int_eq(push_read(&w.loop, &w.a, buf, sizeof(buf), NULL,
				   on_done, &rd, NULL, NULL), PUSH_STARTED);
	push_stream_close(&w.a);
	ck_assert(!push_stream_is_open(&w.a));
	ck_assert_uint_eq(rd.calls, 0);
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(rd.calls, 1);
	ck_assert_int_eq(rd.result, -ECANCELED);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* K4: what needs a "readable" moment is refused, with no callback (R3). */
START_TEST(test_readiness_only_calls_are_refused_in_the_completion_mode)
{
	struct leaf_world w;
	struct seen s = { 0 };
	struct push_stream c = { 0 };

	leaf_open(&w, 2);
	ck_assert_int_eq(push_try_write(&w.loop, &w.a, "x", 1), -EOPNOTSUPP);
	ck_assert_int_eq(push_connect(&w.loop, &c, "127.0.0.1", 1, NULL,
				      on_done, &s, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(push_loop_run(&w.loop), 0);
	ck_assert_uint_eq(s.calls, 0);
	leaf_close(&w);
}
END_TEST

/* ---- the read from the loop's ring (K4) ------------------------------------ */

#define LEAF_RING_SIZE 64

/* What push_read_alloc()'s hooks saw: picked only, in the completion
 * mode. */
struct ring_seen {
	struct seen done;
	void *buf;
	unsigned picked, allocs;
};

static void *ring_alloc(void *data, size_t *n)
{
	struct ring_seen *s = data;

	s->allocs++;
	*n = 0;
	return NULL;
}

static void ring_release(void *data, void *buf)
{
	(void)buf;
	((struct ring_seen *)data)->allocs++;
}

static void ring_picked(void *data, void *buf)
{
	struct ring_seen *s = data;

	s->picked++;
	s->buf = buf;
}

static void ring_done(void *data, ssize_t result)
{
	on_done(&((struct ring_seen *)data)->done, result);
}

static const struct push_alloc ring_allocator = {
	.alloc = ring_alloc, .release = ring_release, .picked = ring_picked,
};

/* The ring bytes the simulated kernel owns, and its ops in flight. */
static uint64_t sim_owned(struct leaf_world *w, uint64_t *ops)
{
	uint64_t bytes;

	completion_sim_owned(w->q, ops, &bytes);
	return bytes;
}

START_TEST(test_read_alloc_takes_a_ring_buffer_only_when_bytes_arrive)
{
	int64_t live = live_blocks();
	struct leaf_world w;
	struct ring_seen rd = { 0 };
	uint64_t ops;

	if (!leaf_open_on(&w, 1 + (uint64_t)_i, ON_RING(_i)))
		return;
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &rd, NULL, NULL), -EINVAL);
	ck_assert_int_eq(push_loop_ring(&w.loop, LEAF_RING_SIZE, 2), 0);
	ck_assert_int_eq(push_loop_ring(&w.loop, LEAF_RING_SIZE, 2), -EEXIST);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &rd, NULL, NULL),
			 PUSH_STARTED);
	if (!ON_RING(_i)) {     /* waiting: the kernel has the whole ring */
		ck_assert_uint_eq(sim_owned(&w, &ops), 2 * LEAF_RING_SIZE);
		ck_assert_uint_eq(ops, 1);
	}
	leaf_send(&w, "picked by the kernel");
	ck_assert_uint_eq(rd.done.calls, 1);
	ck_assert_int_eq(rd.done.result, (ssize_t)strlen("picked by the kernel"));
	ck_assert_uint_eq(rd.picked, 1);
	ck_assert_uint_eq(rd.allocs, 0);
	ck_assert_mem_eq(rd.buf, "picked by the kernel", (size_t)rd.done.result);
	if (!ON_RING(_i))       /* the callback holds one */
		ck_assert_uint_eq(sim_owned(&w, &ops), LEAF_RING_SIZE);
	push_ring_return(&w.loop, rd.buf);
	if (!ON_RING(_i))
		ck_assert_uint_eq(sim_owned(&w, &ops), 2 * LEAF_RING_SIZE);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Run until the loop's timers say 10 ms have passed: everything the world
 * had to do before then (the second read finding the ring dry) is done. */
static void leaf_wait(struct leaf_world *w)
{
	struct push_req *req;

	ck_assert_int_eq(push_sleep(&w->loop, 10 * 1000000ull, NULL, NULL,
				    NULL, &req), PUSH_STARTED);
	ck_assert_int_eq(push_run_until(&w->loop, req), 0);
	push_req_unref(req);
}

/* A ring of one buffer, held by the first read's callback: the second
 * read finds the ring dry and waits, holding nothing and with no op in
 * flight; when the buffer comes back it is submitted again and gets the
 * bytes (or, loop index 9..16, it is cancelled while it waits, and calls
 * back at once with -ECANCELED, from the loop). */
START_TEST(test_a_read_on_a_dry_ring_waits_for_a_buffer_or_cancels_at_once)
{
	int64_t live = live_blocks();
	bool cancel = _i >= 9;
	unsigned i = (unsigned)_i % 9;
	struct leaf_world w;
	struct ring_seen first = { 0 }, second = { 0 };
	struct push_req *req;
	uint64_t ops;

	if (!leaf_open_on(&w, 1 + i, ON_RING(i)))
		return;
	ck_assert_int_eq(push_loop_ring(&w.loop, LEAF_RING_SIZE, 1), 0);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &first, NULL, NULL),
			 PUSH_STARTED);
	leaf_send(&w, "one");
	ck_assert_uint_eq(first.done.calls, 1);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &second, &req, NULL),
			 PUSH_STARTED);
	ck_assert_int_eq(push_write(&w.loop, &w.b, "two", 3, NULL, NULL, NULL,
				    NULL, NULL), PUSH_STARTED);
	leaf_wait(&w);
	ck_assert_int_eq(push_req_state(req), PUSH_REQ_PENDING);
	if (!ON_RING(i)) {      /* starved: no op in flight, no buffer */
		ck_assert_uint_eq(sim_owned(&w, &ops), 0);
		ck_assert_uint_eq(ops, 0);
	}
	if (cancel) {
		ck_assert_int_eq(push_cancel(req), 0);
		ck_assert_uint_eq(second.done.calls, 0);        /* R2 */
	}
	push_ring_return(&w.loop, first.buf);
	ck_assert_int_eq(push_run_until(&w.loop, req), 0);
	ck_assert_uint_eq(second.done.calls, 1);
	if (cancel) {
		ck_assert_int_eq(second.done.result, -ECANCELED);
		ck_assert_uint_eq(second.picked, 0);
	} else {
		ck_assert_int_eq(second.done.result, 3);
		ck_assert_mem_eq(second.buf, "two", 3);
		push_ring_return(&w.loop, second.buf);
	}
	push_req_unref(req);
	if (!ON_RING(i))
		ck_assert_uint_eq(sim_owned(&w, &ops), LEAF_RING_SIZE);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A ring of one buffer, held; a read on a (whose peer has half-closed)
 * and then one on b (with bytes waiting) both find it dry and wait.  The
 * buffer back wakes the oldest, which reads the end and takes no buffer:
 * it passes the wake on, and the read on b gets its bytes. */
START_TEST(test_a_woken_read_that_takes_no_buffer_wakes_the_next_one)
{
	int64_t live = live_blocks();
	struct leaf_world w;
	struct ring_seen first = { 0 }, at_end = { 0 }, on_b = { 0 };
	struct push_req *req;
	uint64_t ops;

	leaf_open(&w, 1 + (uint64_t)_i);
	ck_assert_int_eq(push_loop_ring(&w.loop, LEAF_RING_SIZE, 1), 0);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &first, NULL, NULL),
			 PUSH_STARTED);
	leaf_send(&w, "held");
	ck_assert_uint_eq(first.picked, 1);
	ck_assert_int_eq(completion_shutdown_write(w.q, w.b.handle), 0);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.a, &ring_allocator, NULL,
					 ring_done, &at_end, NULL, NULL),
			 PUSH_STARTED);
	leaf_wait(&w);
	ck_assert_int_eq(push_write(&w.loop, &w.a, "to b", 4, NULL, NULL, NULL,
				    NULL, NULL), PUSH_STARTED);
	ck_assert_int_eq(push_read_alloc(&w.loop, &w.b, &ring_allocator, NULL,
					 ring_done, &on_b, &req, NULL),
			 PUSH_STARTED);
	leaf_wait(&w);
	ck_assert_uint_eq(sim_owned(&w, &ops), 0);      /* both starved */
	ck_assert_uint_eq(ops, 0);
	push_ring_return(&w.loop, first.buf);
	ck_assert_int_eq(push_run_until(&w.loop, req), 0);
	ck_assert_uint_eq(at_end.done.calls, 1);
	ck_assert_int_eq(at_end.done.result, 0);
	ck_assert_uint_eq(at_end.picked, 0);
	ck_assert_int_eq(on_b.done.result, 4);
	ck_assert_mem_eq(on_b.buf, "to b", 4);
	push_ring_return(&w.loop, on_b.buf);
	push_req_unref(req);
	leaf_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_a_ring_is_refused_in_the_readiness_mode)
{
	struct push_loop l;
	struct reactor *r = reactor_new_epoll();

	ck_assert_ptr_nonnull(r);
	push_loop_init(&l, r, NULL, NULL);
	ck_assert_int_eq(push_loop_ring(&l, LEAF_RING_SIZE, 2), -EINVAL);
	push_loop_fini(&l);
	reactor_free(r);
}
END_TEST

/* ---- echo over the simulated completion queue ------------------------------ */

#define SIM_BUFSIZE 4096

static int sim_echo_with(struct sim_world *w, struct completion *q,
			 struct echo_stats *st, uint64_t idle_ns, unsigned max,
			 enum echo_buffers buffers)
{
	struct echo_opts opts;

	echo_opts_default(&opts);
	opts.bufsize = SIM_BUFSIZE;
	opts.buffers = buffers;
	opts.idle_timeout_ns = idle_ns;
	opts.max_conns = max;
	opts.on_listening = sim_connect_peers;
	opts.arg = w;
	return push_echo_serve_cq(w->r, q, &opts, st);
}

static int sim_echo(struct sim_world *w, struct completion *q,
		    struct echo_stats *st, uint64_t idle_ns, unsigned max)
{
	return sim_echo_with(w, q, st, idle_ns, max, ECHO_BUFFERS_CONN);
}

static struct completion *sim_queue(struct sim_world *w)
{
	struct completion *q;

	ck_assert_int_eq(completion_new_beside(w->r, 0, &q, NULL, 0), 0);
	return q;
}

static void sim_queue_free(struct completion *q)
{
	ck_assert_uint_eq(completion_sim_violations(q), 0);
	completion_free(q);
}

START_TEST(test_echo_returns_every_peer_what_it_sent_byte_for_byte)
{
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct sim_config c;
		struct sim_world w;
		struct echo_stats st;
		struct completion *q;

		if (_i)
			sim_config_faulty(&c, seed);
		else
			sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 30000, SIM_PEER_HALF_CLOSE);
		q = sim_queue(&w);
		ck_assert_int_eq(sim_echo(&w, q, &st, 0, 0), 0);
		if (_i) {
			ck_assert_uint_gt(check_sim_peers(&w) + 1, 0);
		} else {
			ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
			ck_assert_uint_eq(st.closed, SIM_PEERS);
		}
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		check_echo_accounts(&st);
		sim_queue_free(q);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_echo_closes_an_idle_connection)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	sim_config_default(&c, 5);
	sim_world_init(&w, &c, 2, 1000, SIM_PEER_HALF_CLOSE);
	w.flags[1] = 0;         /* sends, then neither closes nor sends more */
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo(&w, q, &st, 100 * 1000000ull, 0), 0);
	ck_assert_uint_eq(st.timed_out, 1);
	ck_assert_uint_eq(st.closed, 1);
	ck_assert_uint_eq(check_sim_peers(&w), 2);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_stop_with_connections_open_cancels_them_all)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	sim_config_default(&c, 9 + (uint64_t)_i);
	sim_world_init(&w, &c, SIM_PEERS, 200000, 0);   /* never close */
	sim_at_step(w.r, 400 + 97 * (uint64_t)_i, request_stop, w.r);
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo(&w, q, &st, 0, 0), 0);
	ck_assert_uint_eq(st.accepted, SIM_PEERS);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	ck_assert_uint_gt(st.bytes, 0);
	check_sim_peers(&w);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_refuses_connections_past_max_conns)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	sim_config_default(&c, 4);
	sim_world_init(&w, &c, 6, 2000, SIM_PEER_HALF_CLOSE);
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo(&w, q, &st, 0, 2), 0);
	ck_assert_uint_le(st.peak_conns, 2);
	ck_assert_uint_eq(st.accepted + st.refused, 6);
	check_echo_accounts(&st);
	check_sim_peers(&w);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_out_of_handles_counts_accept_errors_and_goes_on)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	sim_config_default(&c, 11);
	c.max_handles = 3;      /* the listener and two connections */
	sim_world_init(&w, &c, 6, 5000, SIM_PEER_HALF_CLOSE);
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo(&w, q, &st, 0, 0), 0);
	ck_assert_uint_gt(st.accept_errors, 0);
	ck_assert_uint_le(st.peak_conns, 2);
	check_echo_accounts(&st);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- echo with buffers on readiness: the loop's ring (K4) ------------------ */

/* Every ring buffer is back in the ring once the server has returned, and
 * nothing is in flight: the kernel owns exactly the whole ring. */
static void check_ring_all_back(struct completion *q, unsigned count)
{
	uint64_t ops, bytes;

	completion_sim_owned(q, &ops, &bytes);
	ck_assert_uint_eq(ops, 0);
	ck_assert_uint_eq(bytes, (uint64_t)count * SIM_BUFSIZE);
}

START_TEST(test_echo_with_buffers_on_readiness_returns_every_byte_from_the_ring)
{
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct sim_config c;
		struct sim_world w;
		struct echo_stats st;
		struct completion *q;

		if (_i)
			sim_config_faulty(&c, seed);
		else
			sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 30000, SIM_PEER_HALF_CLOSE);
		q = sim_queue(&w);
		ck_assert_int_eq(sim_echo_with(&w, q, &st, 0, 0,
					       ECHO_BUFFERS_READY), 0);
		if (!_i) {
			ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
			ck_assert_uint_eq(st.closed, SIM_PEERS);
		}
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		check_echo_accounts(&st);
		check_ring_all_back(q, PUSH_ECHO_RING_BUFFERS);
		sim_queue_free(q);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* The heap's peak per connection, less the ring (once per loop), with
 * every peer sending a few bytes and then staying idle until quiescence
 * stops the server. */
static double idle_peak_per_conn(enum echo_buffers buffers)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;
	struct mem_stats before, after;
	double ring = buffers == ECHO_BUFFERS_READY ?
		      (double)PUSH_ECHO_RING_BUFFERS * SIM_BUFSIZE : 0;

	sim_config_default(&c, 3);
	sim_world_init(&w, &c, SIM_PEERS, 10, 0);       /* never close */
	q = sim_queue(&w);
	mem_stats_get(&before);
	mem_reset_peak();
	ck_assert_int_eq(sim_echo_with(&w, q, &st, 0, 0, buffers), 0);
	mem_stats_get(&after);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	if (buffers == ECHO_BUFFERS_READY)
		check_ring_all_back(q, PUSH_ECHO_RING_BUFFERS);
	sim_queue_free(q);
	sim_world_free(&w);
	return ((double)(after.peak_live_bytes - before.live_bytes) - ring) /
	       SIM_PEERS;
}

START_TEST(test_echo_with_buffers_on_readiness_an_idle_connection_holds_no_buffer)
{
	double ready = idle_peak_per_conn(ECHO_BUFFERS_READY);
	double conn = idle_peak_per_conn(ECHO_BUFFERS_CONN);

	printf("push/sim-cq idle peak per connection: ready %.0f B, conn "
	       "%.0f B (bufsize %d)\n", ready, conn, SIM_BUFSIZE);
	ck_assert_double_lt(ready, SIM_BUFSIZE / 4.0);
	ck_assert_double_ge(conn, SIM_BUFSIZE);
}
END_TEST

/* A ring of 2 buffers for SIM_PEERS busy connections: reads find it dry
 * and wait for a buffer to come back, and every byte is still echoed. */
START_TEST(test_echo_with_buffers_on_readiness_waits_out_a_dry_ring)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	setenv("PUSHPOLL_URING_RING_BUFFERS", "2", 1);
	sim_config_default(&c, 11 + (uint64_t)_i);
	sim_world_init(&w, &c, SIM_PEERS, 30000, SIM_PEER_HALF_CLOSE);
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo_with(&w, q, &st, 0, 0, ECHO_BUFFERS_READY),
			 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
	ck_assert_uint_eq(st.closed, SIM_PEERS);
	check_echo_accounts(&st);
	check_ring_all_back(q, 2);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A stop with receives in flight (and, on a ring of 2, reads starved):
 * every connection is cancelled, every ring buffer goes back. */
START_TEST(test_echo_with_buffers_on_readiness_stop_gives_every_ring_buffer_back)
{
	int64_t live = live_blocks();
	unsigned count = _i % 2 ? 2 : PUSH_ECHO_RING_BUFFERS;
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct completion *q;

	if (_i % 2)
		setenv("PUSHPOLL_URING_RING_BUFFERS", "2", 1);
	sim_config_default(&c, 9 + (uint64_t)_i);
	sim_world_init(&w, &c, SIM_PEERS, 200000, 0);   /* never close */
	sim_at_step(w.r, 400 + 97 * (uint64_t)_i, request_stop, w.r);
	q = sim_queue(&w);
	ck_assert_int_eq(sim_echo_with(&w, q, &st, 0, 0, ECHO_BUFFERS_READY),
			 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(st.accepted, SIM_PEERS);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	ck_assert_uint_gt(st.bytes, 0);
	check_sim_peers(&w);
	check_ring_all_back(q, count);
	sim_queue_free(q);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- fanout over the simulated completion queue ---------------------------- */

START_TEST(test_fanout_reads_with_the_queue_and_delivers_every_byte)
{
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct sim_config c;
		struct fanout_world w;
		struct completion *q;

		sim_config_faulty(&c, seed);
		fanout_world_sim(&w, &c, 200000 + seed * 777, 4);
		w.opts.chunk_size = 16384;
		w.opts.window = 3;
		ck_assert_int_eq(completion_new_beside(w.r, 0, &q, NULL, 0), 0);
		ck_assert_int_eq(push_fanout_run_cq(w.r, q, &w.opts, &w.st), 0);
		ck_assert_uint_le(w.st.peak_chunks, 3);
		ck_assert_uint_eq(w.st.bytes_read, w.len);
		for (unsigned i = 0; i < 4; i++) {
			ck_assert_int_eq(w.sink[i].error, 0);
			check_file_sink(&w, i);
		}
		sim_queue_free(q);
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_fanout_streams_to_tcp_subscribers)
{
	int64_t live = live_blocks();
	struct sim_config c;
	struct fanout_world w;
	struct completion *q;

	sim_config_default(&c, 3);
	fanout_world_sim(&w, &c, 100000, 3);
	w.opts.kind = FANOUT_SINK_TCP;
	w.opts.chunk_size = 8192;
	w.opts.on_listening = connect_sim_subscribers;
	w.opts.arg = &w;
	ck_assert_int_eq(completion_new_beside(w.r, 0, &q, NULL, 0), 0);
	ck_assert_int_eq(push_fanout_run_cq(w.r, q, &w.opts, &w.st), 0);
	sim_run_out(w.r);
	ck_assert_uint_eq(check_tcp_sinks(&w), 3);
	sim_queue_free(q);
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A subscriber that never reads: its send stays in flight with the chunk
 * the kernel owns; the sink timeout cancels it, and the chunk is let go only
 * at the send's completion, while the other sinks get every byte. */
START_TEST(test_fanout_cancels_a_stalled_sink_within_its_timeout)
{
	const uint64_t timeout = 10 * 1000000ull;
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct sim_config c;
		struct fanout_world w;
		struct completion *q;
		unsigned timed_out = 0;

		sim_config_default(&c, seed);
		fanout_world_sim(&w, &c, 1u << 20, 3);
		w.opts.kind = FANOUT_SINK_TCP;
		w.opts.chunk_size = 16384;
		w.opts.sink_timeout_ns = timeout;
		w.opts.on_listening = connect_sim_subscribers;
		w.opts.arg = &w;
		w.peer_flags[1] = SIM_PEER_NO_READ;
		ck_assert_int_eq(completion_new_beside(w.r, 0, &q, NULL, 0), 0);
		ck_assert_int_eq(push_fanout_run_cq(w.r, q, &w.opts, &w.st), 0);
		ck_assert_uint_ge(reactor_now(w.r), timeout);
		ck_assert_uint_lt(reactor_now(w.r), 2 * timeout);
		sim_run_out(w.r);
		ck_assert_uint_eq(check_tcp_sinks(&w), 2);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert(w.sink[i].error == 0 ||
				  w.sink[i].error == -ETIMEDOUT);
			timed_out += w.sink[i].error == -ETIMEDOUT;
		}
		ck_assert_uint_eq(timed_out, 1);
		sim_queue_free(q);
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* ---- on a real ring -------------------------------------------------------- */

/* false (and the reason, one line) where no ring can be made here. */
static bool ring_here(void)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;

	if (completion_new_uring(8, &q, why, sizeof(why)) < 0) {
		printf("skipped on uring: %s\n", why);
		return false;
	}
	completion_free(q);
	return true;
}

START_TEST(test_echo_on_a_ring_round_trips_exactly)
{
	int64_t live = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int fd[4];

	if (!ring_here())
		return;
	echo_opts_default(&opts);
	ck_assert_int_eq(server_thread_start(&st, push_echo_serve_completion,
					     &opts), 0);
	for (int i = 0; i < 4; i++) {
		fd[i] = netclient_connect(st.port);
		ck_assert_int_ge(fd[i], 0);
	}
	for (int k = 0; k < 50; k++)
		for (int i = 0; i < 4; i++)
			ping(fd[i], "a message through the ring");
	for (int i = 0; i < 3; i++) {
		shutdown(fd[i], SHUT_WR);
		ck_assert(wait_for_close(fd[i]));
		close(fd[i]);
	}
	/* fd[3] stays open: the stop cancels it */
	ck_assert_int_eq(server_thread_stop(&st), 0);
	close(fd[3]);
	ck_assert_uint_eq(st.stats.accepted, 4);
	ck_assert_uint_eq(st.stats.closed, 3);
	ck_assert_uint_eq(st.stats.cancelled, 1);
	ck_assert_uint_eq(st.stats.bytes, 200 * strlen("a message through the ring"));
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_on_a_ring_closes_an_idle_connection)
{
	int64_t live = live_blocks();
	struct server_thread st;
	struct echo_opts opts;
	int fd;

	if (!ring_here())
		return;
	echo_opts_default(&opts);
	opts.idle_timeout_ns = 50 * 1000000ull;
	ck_assert_int_eq(server_thread_start(&st, push_echo_serve_completion,
					     &opts), 0);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ping(fd, "then silence");
	ck_assert(wait_for_close(fd));
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.timed_out, 1);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Heap allocations per echo round trip on a ring, counted between two
 * marks around 2000 round trips of one connection: idiomatic, a read and a
 * write request (2); pooled, none once the free list holds both (0).  The
 * connection's block and its buffer are allocated once, at its start. */
START_TEST(test_echo_on_a_ring_figure_allocations_per_round_trip)
{
	static const uint64_t per_trip[2] = { 2, 0 };
	const struct push_config saved = push_config_get();
	const struct push_config c = { .pooled = _i == 1 };
	const unsigned trips = 2000;
	struct server_thread st;
	struct echo_opts opts;
	char msg[65];
	uint64_t before, used;
	int fd;

	if (!ring_here())
		return;
	push_config_set(&c);
	echo_opts_default(&opts);
	ck_assert_int_eq(server_thread_start(&st, push_echo_serve_completion,
					     &opts), 0);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	memset(msg, 'm', 64);
	msg[64] = '\0';
	for (int i = 0; i < 10; i++)
		ping(fd, msg);          /* warm up: the free list fills */
	before = allocs();
	for (unsigned i = 0; i < trips; i++)
		ping(fd, msg);
	used = allocs() - before;
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	push_config_set(&saved);
	printf("push/uring echo figure: pooled=%d: %.3f allocations per round "
	       "trip (%" PRIu64 " in %u)\n", c.pooled, (double)used / trips,
	       used, trips);
	/* The window's ends may catch or miss one read, and a read may
	 * rarely split a message: a few either way. */
	ck_assert_uint_ge(used + 2, per_trip[_i] * trips);
	ck_assert_uint_le(used, per_trip[_i] * trips + 2 + trips / 100);
}
END_TEST

/* ---- on a real ring, with buffers on readiness (K4) ------------------------- */

/* false (and the reason, one line) where the ring has no provided buffer
 * rings: the engine's ready mode then says -EOPNOTSUPP. */
static bool ready_ring_here(void)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;
	bool yes;

	if (completion_new_uring(8, &q, why, sizeof(why)) < 0) {
		printf("skipped on uring: %s\n", why);
		return false;
	}
	yes = completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV);
	completion_free(q);
	if (!yes)
		printf("skipped on uring: no provided buffer rings here\n");
	return yes;
}

/* 8 connections at once, 200,000 bytes each, on the default ring (loop 0)
 * and on a ring of 2 buffers (loop 1), which runs dry. */
START_TEST(test_echo_on_a_ring_with_buffers_on_readiness_returns_every_byte)
{
	int64_t live = live_blocks();
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;

	if (!ready_ring_here())
		return;
	if (_i)
		setenv("PUSHPOLL_URING_RING_BUFFERS", "2", 1);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	ck_assert_int_eq(server_thread_start(&st, push_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(netclient_echo(st.port, 8, 200000, 16384, 20000,
					&res), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(res.conns_ok, 8);
	ck_assert_uint_eq(res.mismatches, 0);
	ck_assert_uint_eq(st.stats.accepted, 8);
	ck_assert_uint_eq(st.stats.closed, 8);
	ck_assert_uint_eq(st.stats.bytes, 8 * 200000);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* The live heap per idle connection, 20 to 120 connections, on a ring. */
static double ring_idle_bytes(enum echo_buffers buffers)
{
	struct netclient_idle idle;
	struct server_thread st;
	struct echo_opts opts;

	echo_opts_default(&opts);
	opts.buffers = buffers;
	ck_assert_int_eq(server_thread_start(&st, push_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(netclient_idle_heap(st.port, 20, 120, &idle), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	return idle.bytes;
}

START_TEST(test_echo_on_a_ring_with_buffers_on_readiness_an_idle_connection_holds_no_buffer)
{
	struct echo_opts opts;
	double ready, conn;

	if (!ready_ring_here())
		return;
	echo_opts_default(&opts);
	ready = ring_idle_bytes(ECHO_BUFFERS_READY);
	conn = ring_idle_bytes(ECHO_BUFFERS_CONN);
	printf("push/uring idle per connection: ready %.0f B, conn %.0f B "
	       "(bufsize %zu)\n", ready, conn, opts.bufsize);
	ck_assert_double_lt(ready, (double)opts.bufsize / 4);
	ck_assert_double_ge(conn, (double)opts.bufsize);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("push_completion");
	TCase *tc = tcase_create("leaves");

	tcase_add_loop_test(tc, test_read_then_write_back_delivers_the_bytes_once_each, 0, 9);
	tcase_add_loop_test(tc, test_cancel_of_a_pending_read_runs_the_callback_once, 0, 9);
	tcase_add_test(tc, test_a_cancel_that_loses_the_race_delivers_the_data_once);
	tcase_add_test(tc, test_a_cancel_that_loses_the_race_on_a_ring_delivers_the_data_once);
	tcase_add_loop_test(tc, test_closing_a_stream_under_a_read_waits_for_its_completion, 0, 9);
	tcase_add_test(tc, test_readiness_only_calls_are_refused_in_the_completion_mode);
	tcase_add_loop_test(tc, test_read_alloc_takes_a_ring_buffer_only_when_bytes_arrive, 0, 9);
	tcase_add_loop_test(tc, test_a_read_on_a_dry_ring_waits_for_a_buffer_or_cancels_at_once, 0, 18);
	tcase_add_loop_test(tc, test_a_woken_read_that_takes_no_buffer_wakes_the_next_one, 0, 8);
	tcase_add_test(tc, test_a_ring_is_refused_in_the_readiness_mode);
	suite_add_tcase(s, tc);

	tc = tcase_create("workloads_sim");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_echo_returns_every_peer_what_it_sent_byte_for_byte, 0, 2);
	tcase_add_test(tc, test_echo_closes_an_idle_connection);
	tcase_add_loop_test(tc, test_echo_stop_with_connections_open_cancels_them_all, 0, 4);
	tcase_add_test(tc, test_echo_refuses_connections_past_max_conns);
	tcase_add_test(tc, test_echo_out_of_handles_counts_accept_errors_and_goes_on);
	tcase_add_loop_test(tc, test_echo_with_buffers_on_readiness_returns_every_byte_from_the_ring, 0, 2);
	tcase_add_test(tc, test_echo_with_buffers_on_readiness_an_idle_connection_holds_no_buffer);
	tcase_add_loop_test(tc, test_echo_with_buffers_on_readiness_waits_out_a_dry_ring, 0, 3);
	tcase_add_loop_test(tc, test_echo_with_buffers_on_readiness_stop_gives_every_ring_buffer_back, 0, 4);
	tcase_add_test(tc, test_fanout_reads_with_the_queue_and_delivers_every_byte);
	tcase_add_test(tc, test_fanout_streams_to_tcp_subscribers);
	tcase_add_test(tc, test_fanout_cancels_a_stalled_sink_within_its_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("ring");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_echo_on_a_ring_round_trips_exactly);
	tcase_add_test(tc, test_echo_on_a_ring_closes_an_idle_connection);
	tcase_add_loop_test(tc, test_echo_on_a_ring_figure_allocations_per_round_trip, 0, 2);
	tcase_add_loop_test(tc, test_echo_on_a_ring_with_buffers_on_readiness_returns_every_byte, 0, 2);
	tcase_add_test(tc, test_echo_on_a_ring_with_buffers_on_readiness_an_idle_connection_holds_no_buffer);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
