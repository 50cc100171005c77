/* test_poll_completion.c: the poll engine over a completion queue (rules C1
 * to C7 of poll/poll.h, and the echo and fanout over them), on the
 * simulation's completion mode always, and on a real io_uring where one can
 * be set up (a test that needs one prints why it is skipped and passes).
 */
#include "config.h"
#include "completion.h"
#include "mem.h"
#include "netclient.h"
#include "poll.h"
#include "reactor.h"
#include "sim.h"
#include "workload.h"
#include "workload_testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int64_t live_bytes(void)
{
	struct mem_stats m;

	mem_stats_get(&m);
	return m.live_bytes;
}

/* ---- a loop over the simulation's completion queue ------------------------- */

struct cq_world {
	struct reactor *r;
	struct completion *q;
	struct poll_cq_loop cl;
	int h[2];                  /* a stream pair */
};

static void cq_world_open(struct cq_world *w, uint64_t seed)
{
	struct sim_config c;

	sim_config_default(&c, seed);
	w->r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(w->r);
	w->q = completion_new_sim(w->r);
	ck_assert_ptr_nonnull(w->q);
	ck_assert_int_eq(sim_stream_pair(w->r, w->h), 0);
	poll_loop_init_completion(&w->cl, w->r, w->q, NULL);
}

static void cq_world_close(struct cq_world *w)
{
	poll_loop_fini(&w->cl.loop);
	ck_assert_uint_eq(completion_sim_violations(w->q), 0);
	poll_cq_close(&w->cl.loop, w->h[0]);
	poll_cq_close(&w->cl.loop, w->h[1]);
	completion_free(w->q);
	reactor_free(w->r);
}

/* A task that sends "hello" on h[0], half-closes it, then receives on h[1]
 * (and, with cancel_after_submit, asks to cancel that recv at once), then
 * receives on until end of stream: everything h[1] got, in got[]. */
struct pingfut {
	struct poll_future base;
	struct cq_world *w;
	int step;
	bool cancel_after_submit;
	struct poll_cq_io io;
	ssize_t first;             /* the first recv's output */
	unsigned char got[64];
	size_t ngot;
};

static enum poll_status pingfut_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct pingfut *p = (struct pingfut *)f;
	struct poll_buf *b;

	for (;;) {
		switch (p->step) {
		case 0:
			b = poll_buf_new(16);
			ck_assert_ptr_nonnull(b);
			memcpy(b->data, "hello", 5);
			b->len = 5;
			poll_cq_send_init(&p->io, cx->loop, p->w->h[0], b);
			p->step = 1;
			continue;
		case 1:
			if (poll_future_poll(&p->io.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			ck_assert_int_eq(p->io.base.out, 5);
			b = poll_cq_io_take(&p->io);
			ck_assert_ptr_nonnull(b);
			poll_future_drop(&p->io.base);
			ck_assert_int_eq(completion_shutdown_write(p->w->q,
								   p->w->h[0]),
					 0);
			poll_cq_recv_init(&p->io, cx->loop, p->w->h[1], b);
			p->step = 2;
			continue;
		case 2:
		case 3:
			if (poll_future_poll(&p->io.base, cx) == POLL_PENDING) {
				if (p->step == 2 && p->cancel_after_submit)
					ck_assert_int_eq(
						poll_cq_io_cancel(&p->io), 0);
				p->step = 3;
				return POLL_PENDING;
			}
			/* fall through */
		case 4:
			if (p->step != 4)
				p->first = p->io.base.out;
			b = poll_cq_io_take(&p->io);
			ck_assert_ptr_nonnull(b);
			poll_future_drop(&p->io.base);
			if (p->io.base.out > 0) {
				ck_assert_uint_le(p->ngot + b->len,
						  sizeof(p->got));
				memcpy(p->got + p->ngot, b->data, b->len);
				p->ngot += b->len;
			}
			if (p->io.base.out == 0) {
				poll_buf_unref(b);
				p->base.out = 0;
				return POLL_READY;
			}
			poll_cq_recv_init(&p->io, cx->loop, p->w->h[1], b);
			p->step = 5;
			continue;
		case 5:
			if (poll_future_poll(&p->io.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			p->step = 4;
			continue;
		}
	}
}

static void pingfut_drop(struct poll_future *f)
{
	struct pingfut *p = (struct pingfut *)f;

	if (p->step >= 1)
		poll_future_drop(&p->io.base);
	p->step = 6;
}

static const struct poll_future_vt pingfut_vt = {
	"pingfut", pingfut_poll, pingfut_drop,
};

START_TEST(test_owned_buffers_carry_bytes_through_send_and_recv)
{
	struct cq_world w;
	struct pingfut p = { .base = { .vt = &pingfut_vt } };
	int64_t live = live_blocks();

	cq_world_open(&w, 1);
	p.w = &w;
	ck_assert_int_eq(poll_block_on(&w.cl.loop, &p.base), 0);
	ck_assert_uint_eq(p.ngot, 5);
	ck_assert_mem_eq(p.got, "hello", 5);
	cq_world_close(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* C5: a cancel asked right after the recv went in, with the bytes already
 * there.  The scheduler decides, seed by seed, whether the cancel wins
 * (-ECANCELED; the bytes are still in the stream, and the next recv gets
 * them) or loses (the recv brings them): either way "hello" arrives exactly
 * once, and both outcomes occur. */
START_TEST(test_cancel_that_loses_the_race_neither_loses_nor_repeats_bytes)
{
	unsigned won = 0, lost = 0;

	for (uint64_t seed = 1; seed <= 48; seed++) {
		struct cq_world w;
		struct pingfut p = { .base = { .vt = &pingfut_vt } };
		struct poll_cq_stats st;

		cq_world_open(&w, seed);
		p.w = &w;
		p.cancel_after_submit = true;
		ck_assert_int_eq(poll_block_on(&w.cl.loop, &p.base), 0);
		ck_assert_uint_eq(p.ngot, 5);
		ck_assert_mem_eq(p.got, "hello", 5);
		st = w.cl.stats;
		if (p.first == -ECANCELED) {
			won++;
		} else {
			ck_assert_int_eq(p.first, 5);
			ck_assert_uint_eq(st.cancel_lost, 1);
			lost++;
		}
		cq_world_close(&w);
	}
	ck_assert_uint_gt(won, 0);
	ck_assert_uint_gt(lost, 0);
}
END_TEST

/* A task that receives on h[1], where nothing ever comes. */
struct waitfut {
	struct poll_future base;
	struct poll_cq_io io;
	bool started;
};

static enum poll_status waitfut_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct waitfut *p = (struct waitfut *)f;

	(void)cx;
	p->started = true;
	return poll_future_poll(&p->io.base, cx);
}

static void waitfut_drop(struct poll_future *f)
{
	struct waitfut *p = (struct waitfut *)f;

	poll_future_drop(&p->io.base);
}

static const struct poll_future_vt waitfut_vt = {
	"waitfut", waitfut_poll, waitfut_drop,
};

/* C3: the task is aborted while its recv is in flight.  The kernel still
 * owns the buffer (completion_sim_owned() says so, and it is still on the
 * heap); the loop keeps operation and buffer as an orphan until the
 * kernel's final completion, then frees the buffer; the heap comes back to
 * where it was, and the simulated kernel saw no breach. */
START_TEST(test_dropping_a_task_with_a_recv_in_flight_leaves_the_buffer_to_the_loop)
{
	enum { CAP = 4096 };
	struct cq_world w;
	struct waitfut f = { .base = { .vt = &waitfut_vt } };
	struct poll_task *t;
	struct poll_buf *b;
	struct poll_cq_stats st;
	uint64_t ops, bytes;
	int64_t live = live_blocks(), lbytes;

	cq_world_open(&w, 3);
	b = poll_buf_new(CAP);
	ck_assert_ptr_nonnull(b);
	poll_cq_recv_init(&f.io, &w.cl.loop, w.h[1], b);
	ck_assert_int_eq(poll_spawn(&w.cl.loop, &f.base, sizeof(f), &t), 0);
	ck_assert_uint_eq(poll_loop_run_ready(&w.cl.loop), 1);   /* submitted */
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 1);
	ck_assert_uint_eq(bytes, CAP);
	lbytes = live_bytes();

	poll_task_abort(t);                    /* drop: C3 */
	poll_task_detach(t);
	st = w.cl.stats;
	ck_assert_uint_eq(st.orphaned, 1);
	ck_assert_uint_eq(st.orphans_now, 1);
	ck_assert_uint_eq(st.orphan_bytes_now, CAP);
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 1);             /* still the kernel's */
	ck_assert_uint_eq(bytes, CAP);
	ck_assert_int_ge(live_bytes(), lbytes - (int64_t)POLL_TASK_SIZE(
				 sizeof(f)) - 64);     /* the buffer is alive */
	ck_assert_uint_eq(completion_sim_violations(w.q), 0);

	/* The kernel's cancel completes at a later step, which the
	 * loop waits for. */
	poll_loop_fini(&w.cl.loop);               /* waits for the orphan: C6 */
	st = w.cl.stats;
	ck_assert_uint_eq(st.orphans_now, 0);
	ck_assert_uint_eq(st.orphan_bytes_now, 0);
	ck_assert_uint_eq(st.late_completions, 1);
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	ck_assert_int_eq(live_blocks(), live);  /* buffer and op freed */
	poll_cq_close(&w.cl.loop, w.h[0]);
	poll_cq_close(&w.cl.loop, w.h[1]);
	completion_free(w.q);
	reactor_free(w.r);
}
END_TEST

/* C7: a task with a recv-select in flight on a loop with a ring.  While it
 * waits it holds no buffer: the kernel owns every ring buffer and the op
 * none of its own.  Dropped, its orphan holds no buffer either; when the
 * late completion brings one (the data came before the cancel: the race
 * lost, on some seeds), the loop gives it back to the ring.  Either way
 * every ring buffer is the kernel's again and the heap is where it was. */
START_TEST(test_dropping_a_recv_select_in_flight_leaves_no_buffer_to_the_loop)
{
	enum { CAP = 512, COUNT = 4 };
	static unsigned char ring[COUNT * CAP];
	unsigned lost = 0, won = 0;

	for (uint64_t seed = 1; seed <= 16; seed++) {
		struct cq_world w;
		struct waitfut f = { .base = { .vt = &waitfut_vt } };
		struct poll_task *t;
		struct poll_cq_stats st;
		uint64_t ops, bytes;
		int64_t live = live_blocks();

		cq_world_open(&w, seed);
		ck_assert_int_eq(poll_cq_ring_provide(&w.cl.loop, 0, ring, CAP,
						      COUNT), 0);
		ck_assert_int_eq(reactor_write(w.r, w.h[0], "hello", 5), 5);
		poll_cq_recv_select_init(&f.io, &w.cl.loop, w.h[1]);
		ck_assert_int_eq(poll_spawn(&w.cl.loop, &f.base, sizeof(f),
					    &t), 0);
		ck_assert_uint_eq(poll_loop_run_ready(&w.cl.loop), 1);
		completion_sim_owned(w.q, &ops, &bytes);
		ck_assert_uint_eq(ops, 1);
		ck_assert_uint_eq(bytes, COUNT * CAP);  /* the ring's only */

		poll_task_abort(t);                     /* drop: C3, C7 */
		poll_task_detach(t);
		st = w.cl.stats;
		ck_assert_uint_eq(st.orphans_now, 1);
		ck_assert_uint_eq(st.orphan_bytes_now, 0);

		poll_loop_fini(&w.cl.loop);             /* C6 */
		st = w.cl.stats;
		ck_assert_uint_eq(st.late_completions, 1);
		ck_assert_uint_eq(st.orphan_bytes, 0);
		if (st.ring_late_returned == 1)
			lost++;
		else
			won++;
		ck_assert_uint_eq(w.cl.ring_lent, 0);
		completion_sim_owned(w.q, &ops, &bytes);
		ck_assert_uint_eq(ops, 0);
		ck_assert_uint_eq(bytes, COUNT * CAP);  /* every one back */
		ck_assert_uint_eq(completion_sim_violations(w.q), 0);
		ck_assert_int_eq(live_blocks(), live);
		poll_cq_close(&w.cl.loop, w.h[0]);
		poll_cq_close(&w.cl.loop, w.h[1]);
		completion_free(w.q);
		reactor_free(w.r);
	}
	ck_assert_uint_gt(lost, 0);
	ck_assert_uint_gt(won, 0);
}
END_TEST

/* Two recv-selects on a ring of one buffer, bytes already sent to both: one
 * takes the buffer, the other finds the ring empty and waits (C7).  Then
 * either the first gives its buffer back, and the second is submitted
 * again and gets its bytes; or (cancel_starved) the second is cancelled
 * while it waits, and is READY with -ECANCELED at once. */
struct ringfut {
	struct poll_future base;
	struct cq_world *w;
	int g[2];                  /* the second stream pair */
	bool cancel_starved;
	int step;
	struct poll_cq_io io[2];
	ssize_t out[2];
	bool ready[2];
	int first;                 /* the one that got the buffer */
	struct poll_ring_buf held[2];
	unsigned char got[2][8];
};

/* io[i] is READY: its output, and the ring buffer it lent, kept in
 * held[i] (taken once: a second take finds none). */
static void ringfut_take(struct ringfut *p, int i, struct poll_cx *cx)
{
	struct poll_ring_buf rb = poll_cq_io_take_ring(&p->io[i]);

	p->ready[i] = true;
	p->out[i] = p->io[i].base.out;
	p->held[i] = rb;
	if (p->out[i] <= 0) {
		ck_assert_uint_eq(rb.id, POLL_RING_NONE);
		return;
	}
	ck_assert_uint_ne(rb.id, POLL_RING_NONE);
	ck_assert_uint_eq(rb.len, (uint32_t)p->out[i]);
	memcpy(p->got[i], poll_ring_buf_data(cx->loop, rb), rb.len);
	ck_assert_uint_eq(poll_cq_io_take_ring(&p->io[i]).id,
			  POLL_RING_NONE);
	if (p->first < 0)
		p->first = i;
}

static void ringfut_release(struct ringfut *p, int i, struct poll_cx *cx)
{
	poll_ring_buf_release(cx->loop, &p->held[i]);
	ck_assert_uint_eq(p->held[i].id, POLL_RING_NONE);
	poll_ring_buf_release(cx->loop, &p->held[i]);   /* none: nothing */
}

static enum poll_status ringfut_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct ringfut *p = (struct ringfut *)f;

	if (p->step == 0) {
		poll_cq_recv_select_init(&p->io[0], cx->loop, p->w->h[1]);
		poll_cq_recv_select_init(&p->io[1], cx->loop, p->g[1]);
		p->step = 1;
	}
	for (int i = 0; i < 2; i++)
		if (!p->ready[i] &&
		    poll_future_poll(&p->io[i].base, cx) == POLL_READY)
			ringfut_take(p, i, cx);
	if (p->step == 1 && p->first >= 0 &&
	    p->io[0].loop->stats.ring_starved == 1) {
		p->step = 2;                      /* the other one waits */
		ck_assert(!p->ready[1 - p->first]);
		if (p->cancel_starved)
			ck_assert_int_eq(poll_cq_io_cancel(
					&p->io[1 - p->first]), 0);
		else
			ringfut_release(p, p->first, cx);
	}
	if (!p->ready[0] || !p->ready[1])
		return POLL_PENDING;
	ringfut_release(p, 0, cx);
	ringfut_release(p, 1, cx);
	return POLL_READY;
}

static void ringfut_drop(struct poll_future *f)
{
	struct ringfut *p = (struct ringfut *)f;

	for (int i = 0; i < 2 && p->step > 0; i++)
		poll_future_drop(&p->io[i].base);
}

static const struct poll_future_vt ringfut_vt = {
	"ringfut", ringfut_poll, ringfut_drop,
};

static void ring_of_one(bool cancel_starved)
{
	static unsigned char ring[64];
	struct cq_world w;
	struct ringfut p = { .base = { .vt = &ringfut_vt }, .first = -1,
			     .cancel_starved = cancel_starved };
	uint64_t ops, bytes;

	cq_world_open(&w, 5);
	p.w = &w;
	ck_assert_int_eq(sim_stream_pair(w.r, p.g), 0);
	ck_assert_int_eq(poll_cq_ring_provide(&w.cl.loop, 0, ring,
					      sizeof ring, 1), 0);
	ck_assert_int_eq(reactor_write(w.r, w.h[0], "one", 3), 3);
	ck_assert_int_eq(reactor_write(w.r, p.g[0], "two", 3), 3);
	ck_assert_int_eq(poll_block_on(&w.cl.loop, &p.base), 0);
	ck_assert_uint_eq(w.cl.stats.ring_starved, 1);
	ck_assert_int_ge(p.first, 0);
	ck_assert_int_eq(p.out[p.first], 3);
	ck_assert_mem_eq(p.got[p.first], p.first == 0 ? "one" : "two", 3);
	if (cancel_starved) {
		ck_assert_int_eq(p.out[1 - p.first], -ECANCELED);
	} else {
		ck_assert_int_eq(p.out[1 - p.first], 3);
		ck_assert_mem_eq(p.got[1 - p.first],
				 p.first == 0 ? "two" : "one", 3);
	}
	ck_assert_uint_eq(w.cl.ring_lent, 0);
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 0);
	ck_assert_uint_eq(bytes, sizeof ring);       /* back in the ring */
	poll_cq_close(&w.cl.loop, p.g[0]);
	poll_cq_close(&w.cl.loop, p.g[1]);
	cq_world_close(&w);
}

START_TEST(test_recv_select_that_finds_the_ring_empty_waits_for_a_buffer_back)
{
	int64_t live = live_blocks();

	ring_of_one(false);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_recv_select_waiting_for_a_buffer_is_cancelled_at_once)
{
	int64_t live = live_blocks();

	ring_of_one(true);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Without a ring on the loop a recv-select ends -EOPNOTSUPP. */
START_TEST(test_recv_select_without_a_ring_is_refused)
{
	struct cq_world w;
	struct waitfut f = { .base = { .vt = &waitfut_vt } };

	cq_world_open(&w, 2);
	poll_cq_recv_select_init(&f.io, &w.cl.loop, w.h[1]);
	ck_assert_int_eq(poll_block_on(&w.cl.loop, &f.base), 0);
	ck_assert_int_eq(f.io.base.out, -EOPNOTSUPP);
	ck_assert_uint_eq(poll_cq_io_take_ring(&f.io).id, POLL_RING_NONE);
	poll_future_drop(&f.io.base);
	cq_world_close(&w);
}
END_TEST

/* ---- the echo over the simulation ------------------------------------------- */

/* The echo over the simulation with buffers per connection or on
 * readiness (C7). */
static int sim_echo_cq_with(struct sim_world *w, struct echo_stats *st,
			    uint64_t idle_ns, size_t bufsize,
			    enum echo_buffers buffers)
{
	struct echo_opts opts;

	echo_opts_default(&opts);
	opts.buffers = buffers;
	opts.idle_timeout_ns = idle_ns;
	if (bufsize > 0)
		opts.bufsize = bufsize;
	opts.on_listening = sim_connect_peers;
	opts.arg = w;
	return poll_echo_serve_completion(w->r, NULL, &opts, st);
}

static int sim_echo_cq(struct sim_world *w, struct echo_stats *st,
		       uint64_t idle_ns, size_t bufsize)
{
	return sim_echo_cq_with(w, st, idle_ns, bufsize, ECHO_BUFFERS_CONN);
}

static void check_cq_clean(void)
{
	struct poll_cq_stats cs;

	poll_cq_last_run_stats(&cs);
	ck_assert_uint_eq(cs.sim_violations, 0);
	ck_assert_uint_eq(cs.orphans_now, 0);
	ck_assert_uint_eq(cs.late_completions, cs.orphaned);
	ck_assert_uint_eq(cs.ring_out_at_end, 0);
}

static int sim_echo_cq_ready(struct sim_world *w, struct echo_stats *st,
			     uint64_t idle_ns, size_t bufsize)
{
	return sim_echo_cq_with(w, st, idle_ns, bufsize, ECHO_BUFFERS_READY);
}

START_TEST(test_echo_over_sim_completion_returns_every_peer_its_bytes)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 50000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq(&w, &st, 0, 0), 0);
		ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		ck_assert_uint_eq(st.closed, SIM_PEERS);
		check_echo_accounts(&st);
		check_cq_clean();
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_echo_over_sim_completion_with_faults_returns_each_peer_a_prefix)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();
	unsigned whole = 0;

	for (uint64_t seed = 1; seed <= 8; seed++) {
		sim_config_faulty(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 20000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq(&w, &st, 0, 0), 0);
		whole += check_sim_peers(&w);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		check_echo_accounts(&st);
		check_cq_clean();
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(whole, 0);
}
END_TEST

/* The heap is allocated per connection, never per round trip: with 512-byte
 * buffers, 1 KB and 200 KB echoed (about 2 and 400 round trips) cost the
 * same allocations. */
START_TEST(test_echo_over_sim_completion_allocates_nothing_per_round_trip)
{
	uint64_t cost[2];
	size_t len[2] = { 1000, 200000 };

	for (int i = 0; i < 2; i++) {
		struct sim_config c;
		struct sim_world w;
		struct echo_stats st;
		uint64_t before = allocs();

		sim_config_default(&c, 7);
		sim_world_init(&w, &c, 1, len[i], SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq(&w, &st, 1000000000ull, 512), 0);
		cost[i] = allocs() - before;
		ck_assert_uint_eq(check_sim_peers(&w), 1);
		ck_assert_uint_eq(st.bytes, len[i]);
		sim_world_free(&w);
	}
	ck_assert_uint_gt(cost[0], 0);
	ck_assert_uint_eq(cost[1], cost[0]);
}
END_TEST

START_TEST(test_echo_over_sim_completion_idle_peer_times_out)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	sim_config_default(&c, 5);
	sim_world_init(&w, &c, 2, 1000, SIM_PEER_HALF_CLOSE);
	w.flags[1] = 0;         /* sends, then neither closes nor sends more */
	ck_assert_int_eq(sim_echo_cq(&w, &st, 100 * 1000000ull, 0), 0);
	ck_assert_uint_eq(st.timed_out, 1);
	ck_assert_uint_eq(st.closed, 1);
	ck_assert_uint_eq(check_sim_peers(&w), 2);
	check_cq_clean();
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A stop with every connection open: each is dropped with a recv or a send
 * in flight, whose buffer the loop keeps until the kernel's completion. */
START_TEST(test_echo_over_sim_completion_stop_with_connections_open_frees_all)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();

	sim_config_default(&c, 9);
	sim_world_init(&w, &c, SIM_PEERS, 200000, 0);   /* never close */
	sim_at_step(w.r, 400, request_stop, w.r);
	ck_assert_int_eq(sim_echo_cq(&w, &st, 0, 0), 0);
	ck_assert_uint_eq(st.accepted, SIM_PEERS);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	ck_assert_uint_gt(st.bytes, 0);
	check_cq_clean();
	poll_cq_last_run_stats(&cs);
	ck_assert_uint_ge(cs.orphaned, SIM_PEERS);      /* and the accept */
	ck_assert_uint_ge(cs.orphan_bytes, 1);
	check_sim_peers(&w);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_over_sim_completion_over_max_conns_refuses)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct echo_opts opts;
	int64_t live = live_blocks();

	sim_config_default(&c, 4);
	sim_world_init(&w, &c, 4, 3000, 0);            /* never close */
	sim_at_step(w.r, 300, request_stop, w.r);
	echo_opts_default(&opts);
	opts.max_conns = 2;
	opts.on_listening = sim_connect_peers;
	opts.arg = &w;
	ck_assert_int_eq(poll_echo_serve_completion(w.r, NULL, &opts, &st), 0);
	ck_assert_uint_eq(st.accepted, 2);
	ck_assert_uint_eq(st.refused, 2);
	ck_assert_uint_le(st.peak_conns, 2);
	check_echo_accounts(&st);
	check_cq_clean();
	check_sim_peers(&w);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_ready_over_sim_completion_returns_every_peer_its_bytes)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 4; seed++) {
		sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 50000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq_ready(&w, &st, 0, 0), 0);
		ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		ck_assert_uint_eq(st.closed, SIM_PEERS);
		check_echo_accounts(&st);
		check_cq_clean();
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_echo_ready_over_sim_completion_with_faults_returns_each_peer_a_prefix)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();
	unsigned whole = 0;

	for (uint64_t seed = 1; seed <= 8; seed++) {
		sim_config_faulty(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 20000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq_ready(&w, &st, 0, 0), 0);
		whole += check_sim_peers(&w);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		check_echo_accounts(&st);
		check_cq_clean();
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(whole, 0);
}
END_TEST

/* A ring of one or two buffers for eight busy connections: recvs find it
 * empty (-ENOBUFS), wait for a buffer to come back, and every byte still
 * comes back to every peer, also when the recv woken for a buffer finds
 * its peer's end instead (the buffer goes on to the next waiter). */
START_TEST(test_echo_ready_over_sim_completion_with_a_ring_run_dry_echoes_every_byte)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();
	uint64_t starved = 0;

	for (uint64_t seed = 1; seed <= 12; seed++) {
		setenv("PUSHPOLL_URING_RING_BUFFERS", seed % 2 ? "1" : "2", 1);
		sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 3000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq_ready(&w, &st, 0, 512), 0);
		ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
		ck_assert_uint_eq(st.closed, SIM_PEERS);
		check_echo_accounts(&st);
		check_cq_clean();
		poll_cq_last_run_stats(&cs);
		starved += cs.ring_starved;
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_gt(starved, 0);
}
END_TEST

/* A stop at many steps with every connection busy: recvs and sends in
 * flight are dropped; every ring buffer is back at the end, and the
 * simulated kernel saw no breach.  A recv's orphan holds no buffer, so the
 * bytes the orphans held are at most a ring buffer per orphaned send. */
START_TEST(test_echo_ready_over_sim_completion_stop_with_recvs_in_flight_returns_every_ring_buffer)
{
	int64_t live = live_blocks();

	for (uint64_t step = 50; step <= 1250; step += 100) {
		struct sim_config c;
		struct sim_world w;
		struct echo_stats st;
		struct poll_cq_stats cs;

		sim_config_default(&c, step);
		sim_world_init(&w, &c, SIM_PEERS, 200000, 0);  /* never close */
		sim_at_step(w.r, step, request_stop, w.r);
		ck_assert_int_eq(sim_echo_cq_ready(&w, &st, 0, 0), 0);
		check_echo_accounts(&st);
		check_cq_clean();
		poll_cq_last_run_stats(&cs);
		ck_assert_uint_ge(cs.orphaned, 1);            /* the accept */
		ck_assert_uint_le(cs.orphan_bytes,
				  (cs.orphaned - 1) * 16384ull);
		check_sim_peers(&w);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* Bytes on the heap per idle connection: n peers connect, send, get it
 * all back and stay (they never close) until the world is quiet, which
 * stops the server; the heap's peak is then that of n idle connections
 * (as claim C12 takes it over the simulation).  The difference between 8
 * and 2 peers, over 6. */
static int64_t idle_bytes_with(unsigned npeers, bool ready)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct mem_stats m;
	int64_t before = live_bytes();

	sim_config_default(&c, 3);
	sim_world_init(&w, &c, npeers, 100, 0);    /* send, then stay */
	mem_reset_peak();
	if (ready)
		ck_assert_int_eq(sim_echo_cq_ready(&w, &st, 0, 16384), 0);
	else
		ck_assert_int_eq(sim_echo_cq(&w, &st, 0, 16384), 0);
	mem_stats_get(&m);
	ck_assert_uint_eq(st.accepted, npeers);
	ck_assert_uint_eq(st.bytes, 100 * npeers + 1000 * npeers *
			  (npeers - 1) / 2);           /* all echoed first */
	check_cq_clean();
	check_sim_peers(&w);
	sim_world_free(&w);
	return m.peak_live_bytes - before;
}

START_TEST(test_echo_ready_over_sim_completion_idle_connection_holds_no_buffer)
{
	int64_t ready = (idle_bytes_with(8, true) -
			 idle_bytes_with(2, true)) / 6;
	int64_t conn = (idle_bytes_with(8, false) -
			idle_bytes_with(2, false)) / 6;

	printf("bytes per idle connection (sim, poll over completion, 16 KiB "
	       "buffers): %lld ready, %lld conn\n", (long long)ready,
	       (long long)conn);
	ck_assert_int_gt(ready, 0);
	ck_assert_int_lt(ready, 16384 / 4);
	ck_assert_int_gt(conn, 16384);
}
END_TEST

/* ---- on a real ring ------------------------------------------------------------- */

static bool ring_usable(void)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;

	if (completion_new_uring(8, &q, why, sizeof(why)) < 0) {
		printf("skipped: no io_uring here: %s\n", why);
		return false;
	}
	completion_free(q);
	return true;
}

/* A ring with provided buffer rings, or why not. */
static bool ring_with_buffers_usable(void)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;
	bool ok;

	if (completion_new_uring(8, &q, why, sizeof(why)) < 0) {
		printf("skipped: no io_uring here: %s\n", why);
		return false;
	}
	ok = completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV);
	completion_free(q);
	if (!ok)
		printf("skipped: this kernel has no provided buffer rings\n");
	return ok;
}

/* Buffers on readiness over a ring: every byte back over loopback, no
 * allocation per round trip, and every ring buffer back at the end. */
START_TEST(test_echo_ready_over_uring_echoes_and_allocates_nothing_per_round_trip)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct netclient_result res;
	struct poll_cq_stats cs;
	uint64_t before;
	int64_t live = live_blocks();
	int fd;

	if (!ring_with_buffers_usable())
		return;
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	opts.idle_timeout_ns = 5000000000ull;
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(netclient_echo(srv.port, 4, 300000, 7000, 10000,
					&res), 0);
	fd = netclient_connect(srv.port);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 20; i++)
		ping(fd, "warm up the operations");
	before = allocs();
	for (int i = 0; i < 200; i++)
		ping(fd, "a round trip");
	ck_assert_uint_eq(allocs() - before, 0);
	close(fd);
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_eq(srv.stats.accepted, 5);
	check_echo_accounts(&srv.stats);
	poll_cq_last_run_stats(&cs);
	ck_assert_uint_eq(cs.ring_out_at_end, 0);
	ck_assert_uint_eq(cs.orphans_now, 0);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A ring of two buffers for eight busy connections over loopback: recvs
 * the kernel finds the ring empty for (how many depends on the kernel's
 * timing: printed) wait for a buffer back, and every byte still comes back
 * to every connection. */
START_TEST(test_echo_ready_over_uring_with_a_ring_run_dry_echoes_every_byte)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct netclient_result res;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();

	if (!ring_with_buffers_usable())
		return;
	setenv("PUSHPOLL_URING_RING_BUFFERS", "2", 1);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	opts.bufsize = 1024;
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(netclient_echo(srv.port, 8, 4000000, 65536, 30000,
					&res), 0);
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	ck_assert_uint_eq(srv.stats.closed, 8);
	check_echo_accounts(&srv.stats);
	poll_cq_last_run_stats(&cs);
	printf("a ring of 2 buffers for 8 connections (io_uring): %llu recvs "
	       "found it empty and waited\n",
	       (unsigned long long)cs.ring_starved);
	ck_assert_uint_eq(cs.ring_out_at_end, 0);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* On a kernel without provided buffer rings (the probe told so) ready mode
 * is refused with -EOPNOTSUPP, before it listens, and holds nothing. */
START_TEST(test_echo_ready_over_uring_without_provided_buffer_rings_is_refused)
{
	struct echo_opts opts;
	struct echo_stats st;
	struct reactor *r;
	int64_t live = live_blocks();

	if (!ring_usable())
		return;
	setenv("PUSHPOLL_URING_NO_MULTISHOT", "1", 1);
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	opts.port = 0;
	ck_assert_int_eq(poll_echo_serve_completion(r, NULL, &opts, &st),
			 -EOPNOTSUPP);
	ck_assert_uint_eq(st.accepted, 0);
	reactor_free(r);
	unsetenv("PUSHPOLL_URING_NO_MULTISHOT");
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A stop with idle connections in ready mode over a ring: their recvs
 * are orphaned holding no buffer, and every ring buffer is back. */
START_TEST(test_echo_ready_over_uring_stop_with_connections_open_returns_every_ring_buffer)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();
	int fd[3];

	if (!ring_with_buffers_usable())
		return;
	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = netclient_connect(srv.port);
		ck_assert_int_ge(fd[i], 0);
		ping(fd[i], "then stay");
	}
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_eq(srv.stats.cancelled, 3);
	poll_cq_last_run_stats(&cs);
	ck_assert_uint_ge(cs.orphaned, 4);          /* recvs and accept */
	ck_assert_uint_eq(cs.orphan_bytes, 0);      /* none held a buffer */
	ck_assert_uint_eq(cs.orphans_now, 0);
	ck_assert_uint_eq(cs.ring_out_at_end, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert(wait_for_close(fd[i]));
		close(fd[i]);
	}
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Byte for byte over loopback, and no allocation per round trip: 200
 * exchanges on one connection after 20 to warm up allocate nothing. */
START_TEST(test_echo_over_uring_echoes_and_allocates_nothing_per_round_trip)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct netclient_result res;
	uint64_t before;
	int fd;

	if (!ring_usable())
		return;
	echo_opts_default(&opts);
	opts.idle_timeout_ns = 5000000000ull;
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(netclient_echo(srv.port, 4, 300000, 7000, 10000,
					&res), 0);
	fd = netclient_connect(srv.port);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 20; i++)
		ping(fd, "warm up the operations");
	before = allocs();
	for (int i = 0; i < 200; i++)
		ping(fd, "a round trip");
	ck_assert_uint_eq(allocs() - before, 0);
	close(fd);
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_eq(srv.stats.accepted, 5);
	check_echo_accounts(&srv.stats);
}
END_TEST

/* A stop while a connection is open and idle: its recv is in flight, and
 * the server still returns, with the connection cancelled and nothing left
 * on the heap. */
START_TEST(test_echo_over_uring_stop_with_a_connection_open)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();
	int fd;

	if (!ring_usable())
		return;
	echo_opts_default(&opts);
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	fd = netclient_connect(srv.port);
	ck_assert_int_ge(fd, 0);
	ping(fd, "then stay");
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_eq(srv.stats.cancelled, 1);
	poll_cq_last_run_stats(&cs);
	ck_assert_uint_ge(cs.orphaned, 2);          /* recv and accept */
	ck_assert_uint_eq(cs.orphans_now, 0);
	ck_assert(wait_for_close(fd));
	close(fd);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Whether fd hears back within 10 s: its byte echoed, its end, or an
 * error (a reset); false if nothing comes. */
static bool answered(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	if (poll(&p, 1, 10000) != 1)
		return false;
	return read(fd, &b, 1) >= 0 || errno != EAGAIN;
}

/* Out of descriptors the kernel keeps a pending connection, and an accept
 * submitted again fails again at once: the server sheds it on its spare
 * descriptor (counted as an accept error) instead of spinning, and serves
 * again once descriptors are back.  (When the kernel applies a new limit
 * to a ring's accept is its own business: a connection may still be served
 * in full, or the first one after the limit is raised may still be shed;
 * so each connection is checked to be served or shed, never left hanging,
 * and serving to resume within a few tries.) */
START_TEST(test_echo_over_uring_out_of_descriptors_sheds_and_goes_on)
{
	struct server_thread srv;
	struct echo_opts opts;
	struct rlimit saved, low;
	struct sockaddr_in to;
	int fd[3], lowest_free, served = 0;

	if (!ring_usable())
		return;
	echo_opts_default(&opts);
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	for (int i = 0; i < 3; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fd[i], 0);
	}
	/* The limit at the lowest free descriptor: none is free now but the
	 * server's spare, so its accepts fail with EMFILE. */
	lowest_free = dup(fd[0]);
	ck_assert_int_ge(lowest_free, 0);
	close(lowest_free);
	low = saved;
	low.rlim_cur = (rlim_t)lowest_free;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons(srv.port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(connect(fd[i], (struct sockaddr *)&to,
					 sizeof(to)), 0);
		ck_assert_msg(write(fd[i], "x", 1) < 0 || answered(fd[i]),
			      "connection %d neither served nor shed", i);
	}
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	for (int tries = 0; tries < 5 && served == 0; tries++) {
		struct netclient_result res;

		served = netclient_echo(srv.port, 1, 1000, 1000, 2000,
					&res) == 0;
	}
	ck_assert(served);
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_ge(srv.stats.accept_errors, 1);
	ck_assert_uint_ge(srv.stats.accepted, 1);
	check_echo_accounts(&srv.stats);
}
END_TEST

START_TEST(test_echo_over_uring_idle_connection_times_out)
{
	struct server_thread srv;
	struct echo_opts opts;
	int fd;

	if (!ring_usable())
		return;
	echo_opts_default(&opts);
	opts.idle_timeout_ns = 200 * 1000000ull;
	ck_assert_int_eq(server_thread_start(&srv, poll_echo_serve_completion,
					     &opts), 0);
	fd = netclient_connect(srv.port);
	ck_assert_int_ge(fd, 0);
	ping(fd, "and then silence");
	ck_assert(wait_for_close(fd));
	close(fd);
	ck_assert_int_eq(server_thread_stop(&srv), 0);
	ck_assert_uint_eq(srv.stats.timed_out, 1);
}
END_TEST

/* ---- the fanout ------------------------------------------------------------------ */

START_TEST(test_fanout_over_sim_completion_delivers_every_byte_to_every_file_sink)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();

	for (uint64_t seed = 1; seed <= 6; seed++) {
		sim_config_faulty(&c, seed);
		fanout_world_sim(&w, &c, 300000 + seed * 777, 5);
		w.opts.chunk_size = 16384;
		w.opts.window = 3;
		ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts,
							    &w.st), 0);
		ck_assert_uint_eq(w.st.bytes_read, w.len);
		ck_assert_uint_le(w.st.peak_chunks, 3);
		for (unsigned i = 0; i < 5; i++) {
			ck_assert_int_eq(w.sink[i].error, 0);
			check_file_sink(&w, i);
		}
		check_cq_clean();
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_fanout_over_sim_completion_streams_to_tcp_subscribers_with_faults)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();
	unsigned complete = 0;

	for (uint64_t seed = 1; seed <= 6; seed++) {
		sim_config_faulty(&c, seed);
		fanout_world_sim(&w, &c, 200000, 4);
		w.opts.kind = FANOUT_SINK_TCP;
		w.opts.chunk_size = 8192;
		w.opts.on_listening = connect_sim_subscribers;
		w.opts.arg = &w;
		ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts,
							    &w.st), 0);
		sim_run_out(w.r);
		complete += check_tcp_sinks(&w);
		check_cq_clean();
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(complete, 0);
}
END_TEST

/* A subscriber that stops reading: its send stays in flight, and the sink
 * is cancelled one timeout after that send began; the send becomes the
 * loop's orphan, holding its reference to the chunk. */
START_TEST(test_fanout_over_sim_completion_stalled_sink_is_cancelled_within_its_timeout)
{
	const uint64_t timeout = 10 * 1000000ull;
	struct sim_config c;
	struct fanout_world w;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();
	unsigned timed_out;

	for (uint64_t seed = 1; seed <= 4; seed++) {
		sim_config_default(&c, seed);
		fanout_world_sim(&w, &c, 1u << 20, 3);
		w.opts.kind = FANOUT_SINK_TCP;
		w.opts.chunk_size = 16384;
		w.opts.sink_timeout_ns = timeout;
		w.opts.on_listening = connect_sim_subscribers;
		w.opts.arg = &w;
		w.peer_flags[1] = SIM_PEER_NO_READ;
		ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts,
							    &w.st), 0);
		ck_assert_uint_ge(reactor_now(w.r), timeout);
		ck_assert_uint_lt(reactor_now(w.r), 2 * timeout);
		sim_run_out(w.r);
		ck_assert_uint_eq(check_tcp_sinks(&w), 2);
		timed_out = 0;
		for (unsigned i = 0; i < 3; i++) {
			ck_assert(w.sink[i].error == 0 ||
				  w.sink[i].error == -ETIMEDOUT);
			timed_out += w.sink[i].error == -ETIMEDOUT;
		}
		ck_assert_uint_eq(timed_out, 1);
		check_cq_clean();
		poll_cq_last_run_stats(&cs);
		ck_assert_uint_ge(cs.orphan_bytes, 16384);  /* the stalled send */
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* A stop before step k, for k over a whole run: each time every sink is
 * complete or cancelled with an exact prefix, the kernel saw no breach,
 * every orphan's completion was absorbed and the heap is back, and the
 * kernel read at least what the fanout consumed (all of it, once, when
 * nothing stops the run); and some stops found a file read in flight, whose
 * buffer the loop kept. */
START_TEST(test_fanout_over_sim_completion_stop_at_any_step_cancels_cleanly)
{
	struct sim_config c;
	struct fanout_world w;
	struct poll_cq_stats cs;
	int64_t live = live_blocks();
	uint64_t steps, k, held = 0;
	unsigned cancelled = 0;

	sim_config_default(&c, 5);
	fanout_world_sim(&w, &c, 100000, 3);
	w.opts.chunk_size = 8192;
	w.opts.window = 2;
	ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts, &w.st),
			 0);
	steps = sim_steps(w.r);
	poll_cq_last_run_stats(&cs);
	ck_assert_uint_eq(cs.kernel_file_read_bytes, 100000);
	fanout_world_free(&w);
	ck_assert_uint_gt(steps, 20);

	for (k = 1; k <= steps; k += 1 + steps / 60) {
		fanout_world_sim(&w, &c, 100000, 3);
		w.opts.chunk_size = 8192;
		w.opts.window = 2;
		sim_at_step(w.r, k, request_stop, w.r);
		ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts,
							    &w.st), 0);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert(w.sink[i].error == 0 ||
				  w.sink[i].error == -ECANCELED);
			cancelled += w.sink[i].error == -ECANCELED;
			check_file_sink(&w, i);
		}
		check_cq_clean();
		poll_cq_last_run_stats(&cs);
		held += cs.orphan_bytes;
		ck_assert_uint_ge(cs.kernel_file_read_bytes, w.st.bytes_read);
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(cancelled, 0);
	ck_assert_uint_gt(held, 0);
}
END_TEST

START_TEST(test_fanout_over_uring_copies_the_input_to_file_sinks)
{
	struct fanout_world w;
	int64_t live = live_blocks();

	if (!ring_usable())
		return;
	fanout_world_epoll_at(&w, "/tmp/test_poll_completion_XXXXXX",
			      (1u << 20) + 12345, 3);
	ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts, &w.st),
			 0);
	ck_assert_uint_eq(w.st.bytes_read, w.len);
	ck_assert_uint_le(w.st.peak_chunks, w.opts.window);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(w.sink[i].error, 0);
		check_file_sink(&w, i);
	}
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_fanout_over_uring_streams_to_tcp_subscribers)
{
	struct fanout_world w;
	uint64_t sum;
	int64_t live = live_blocks();

	if (!ring_usable())
		return;
	fanout_world_epoll_at(&w, "/tmp/test_poll_completion_XXXXXX",
			      (3u << 20) + 7, 4);
	w.opts.kind = FANOUT_SINK_TCP;
	w.opts.on_listening = start_subscribers;
	w.opts.arg = &w;
	memset(subs, 0, sizeof(subs));
	ck_assert_int_eq(poll_fanout_run_completion(w.r, NULL, &w.opts, &w.st),
			 0);
	sum = workload_checksum(w.input, w.len, w.opts.chunk_size);
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(subs[i].tid, NULL);
		ck_assert_int_eq(w.sink[i].error, 0);
		ck_assert_uint_eq(w.sink[i].checksum, sum);
		ck_assert_uint_eq(subs[i].bytes, w.len);
		ck_assert_uint_eq(subs[i].checksum, sum);
	}
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- figures (CK_RUN_CASE=figures) ------------------------------------------------ */

/* The figures claim C13 and the allocation target read, counted, printed
 * with what they are:
 *   - a stop with 8 connections open, each waiting in a recv with its
 *     16 KiB buffer (sim): the operations orphaned and the bytes of buffer
 *     they held until the kernel's completions;
 *   - heap allocations per round trip (sim: a peer echoing 1 KB and one
 *     echoing 200 KB in 512-byte reads, the difference over the added
 *     round trips; uring: 1000 pings on one connection, when a ring can
 *     be set up). */
START_TEST(test_completion_figures_are_printed)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	struct poll_cq_stats cs;
	uint64_t a[2], trips[2];
	size_t len[2] = { 1000, 200000 };

	sim_config_default(&c, 9);
	sim_world_init(&w, &c, SIM_PEERS, 200000, 0);   /* never close */
	sim_at_step(w.r, 400, request_stop, w.r);
	ck_assert_int_eq(sim_echo_cq(&w, &st, 0, 16384), 0);
	poll_cq_last_run_stats(&cs);
	check_sim_peers(&w);
	sim_world_free(&w);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	printf("orphans at a stop with %u connections open (sim, 16 KiB "
	       "buffers): %llu operations orphaned, %llu bytes of buffer "
	       "held, at most %llu at once, %llu late completions absorbed; "
	       "%llu operations made for the whole run\n", SIM_PEERS,
	       (unsigned long long)cs.orphaned,
	       (unsigned long long)cs.orphan_bytes,
	       (unsigned long long)cs.orphan_bytes_peak,
	       (unsigned long long)cs.late_completions,
	       (unsigned long long)cs.ops_allocated);
	ck_assert_uint_ge(cs.orphan_bytes, SIM_PEERS * 16384ull);

	for (int i = 0; i < 2; i++) {
		uint64_t before = allocs();

		sim_config_default(&c, 7);
		sim_world_init(&w, &c, 1, len[i], SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo_cq(&w, &st, 1000000000ull, 512), 0);
		a[i] = allocs() - before;
		poll_cq_last_run_stats(&cs);
		trips[i] = cs.submitted;
		check_sim_peers(&w);
		sim_world_free(&w);
	}
	printf("allocations per round trip (sim, poll over completion): "
	       "%.3f (%llu allocations for 1 KB echoed, %llu for 200 KB; "
	       "%llu more operations submitted)\n",
	       (double)(a[1] - a[0]) / (double)(trips[1] - trips[0]) * 2.0,
	       (unsigned long long)a[0], (unsigned long long)a[1],
	       (unsigned long long)(trips[1] - trips[0]));
	ck_assert_uint_eq(a[1], a[0]);

	if (ring_usable()) {
		struct server_thread srv;
		struct echo_opts opts;
		uint64_t before;
		int fd;

		echo_opts_default(&opts);
		ck_assert_int_eq(server_thread_start(
				&srv, poll_echo_serve_completion, &opts), 0);
		fd = netclient_connect(srv.port);
		ck_assert_int_ge(fd, 0);
		for (int i = 0; i < 20; i++)
			ping(fd, "warm up");
		before = allocs();
		for (int i = 0; i < 1000; i++)
			ping(fd, "one round trip");
		a[0] = allocs() - before;
		close(fd);
		ck_assert_int_eq(server_thread_stop(&srv), 0);
		printf("allocations per round trip (io_uring, poll over "
		       "completion): %.3f (%llu in 1000 round trips)\n",
		       (double)a[0] / 1000.0, (unsigned long long)a[0]);
		ck_assert_uint_eq(a[0], 0);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("poll_completion");
	TCase *tc = tcase_create("leaves");

	tcase_add_test(tc, test_owned_buffers_carry_bytes_through_send_and_recv);
	tcase_add_test(tc, test_cancel_that_loses_the_race_neither_loses_nor_repeats_bytes);
	tcase_add_test(tc, test_dropping_a_task_with_a_recv_in_flight_leaves_the_buffer_to_the_loop);
	tcase_add_test(tc, test_dropping_a_recv_select_in_flight_leaves_no_buffer_to_the_loop);
	tcase_add_test(tc, test_recv_select_that_finds_the_ring_empty_waits_for_a_buffer_back);
	tcase_add_test(tc, test_recv_select_waiting_for_a_buffer_is_cancelled_at_once);
	tcase_add_test(tc, test_recv_select_without_a_ring_is_refused);
	suite_add_tcase(s, tc);
	tc = tcase_create("echo_sim");
	tcase_add_test(tc, test_echo_over_sim_completion_returns_every_peer_its_bytes);
	tcase_add_test(tc, test_echo_over_sim_completion_with_faults_returns_each_peer_a_prefix);
	tcase_add_test(tc, test_echo_over_sim_completion_allocates_nothing_per_round_trip);
	tcase_add_test(tc, test_echo_over_sim_completion_idle_peer_times_out);
	tcase_add_test(tc, test_echo_over_sim_completion_stop_with_connections_open_frees_all);
	tcase_add_test(tc, test_echo_over_sim_completion_over_max_conns_refuses);
	tcase_add_test(tc, test_echo_ready_over_sim_completion_returns_every_peer_its_bytes);
	tcase_add_test(tc, test_echo_ready_over_sim_completion_with_faults_returns_each_peer_a_prefix);
	tcase_add_test(tc, test_echo_ready_over_sim_completion_with_a_ring_run_dry_echoes_every_byte);
	tcase_add_test(tc, test_echo_ready_over_sim_completion_stop_with_recvs_in_flight_returns_every_ring_buffer);
	tcase_add_test(tc, test_echo_ready_over_sim_completion_idle_connection_holds_no_buffer);
	suite_add_tcase(s, tc);
	tc = tcase_create("uring");
	tcase_add_test(tc, test_echo_over_uring_echoes_and_allocates_nothing_per_round_trip);
	tcase_add_test(tc, test_echo_ready_over_uring_echoes_and_allocates_nothing_per_round_trip);
	tcase_add_test(tc, test_echo_ready_over_uring_stop_with_connections_open_returns_every_ring_buffer);
	tcase_add_test(tc, test_echo_ready_over_uring_with_a_ring_run_dry_echoes_every_byte);
	tcase_add_test(tc, test_echo_ready_over_uring_without_provided_buffer_rings_is_refused);
	tcase_add_test(tc, test_echo_over_uring_stop_with_a_connection_open);
	tcase_add_test(tc, test_echo_over_uring_idle_connection_times_out);
	tcase_add_test(tc, test_echo_over_uring_out_of_descriptors_sheds_and_goes_on);
	tcase_add_test(tc, test_fanout_over_uring_copies_the_input_to_file_sinks);
	tcase_add_test(tc, test_fanout_over_uring_streams_to_tcp_subscribers);
	suite_add_tcase(s, tc);
	tc = tcase_create("fanout_sim");
	tcase_add_test(tc, test_fanout_over_sim_completion_delivers_every_byte_to_every_file_sink);
	tcase_add_test(tc, test_fanout_over_sim_completion_streams_to_tcp_subscribers_with_faults);
	tcase_add_test(tc, test_fanout_over_sim_completion_stalled_sink_is_cancelled_within_its_timeout);
	tcase_add_test(tc, test_fanout_over_sim_completion_stop_at_any_step_cancels_cleanly);
	suite_add_tcase(s, tc);
	tc = tcase_create("figures");
	tcase_add_test(tc, test_completion_figures_are_printed);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
