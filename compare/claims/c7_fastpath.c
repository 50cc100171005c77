/* c7_fastpath.c: claim C7, allocating only when an operation has to wait.
 *
 * "Allocating only when an operation really has to wait (C#'s ValueTask,
 * Kotlin's continuations) removes most of the cost, because most operations
 * complete at once."
 *
 * Two experiments:
 *
 *   reads     on a socket pair (epoll reactor), reads of 64 bytes that
 *             complete at once (the bytes are there before the read starts)
 *             and reads that have to wait (the bytes come from a timer after
 *             the read started); push with its synchronous fast path off and
 *             on (struct push_config.fast_path, PUSH_SYNC), poll as it is
 *             (a read future held by value, awaited by poll_block_on()).
 *             Allocations per read, from the mem counters.
 *   echo      the push echo server under the closed-loop load of `pushpoll
 *             bench` (50 connections, one 64-byte message in flight each),
 *             and under the same load pipelined (C7_PIPELINED messages in
 *             flight per connection), fast path off and on: allocations
 *             per message.  Without the fast path every read and write
 *             allocates its request, so the share of operations that
 *             completed at once is one minus the ratio of the two.
 */
#include "claims.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "bench/loadgen.h"
#include "mem.h"
#include "offload.h"
#include "poll.h"
#include "push.h"

#define C7_MSG 64

/* "Most of the cost": a clear majority, two thirds.  A bare half is what an
 * echo server gets when its writes complete at once and its reads wait, and
 * a threshold at one half would make the verdict flip with the noise. */
#define C7_MOST (2.0 / 3.0)

/* The share of push's echo allocations per message that the fast path
 * removed under load l, or -1 if that load did not run. */
static double c7_removed(const struct c7_figures *f, int l)
{
	if (f->echo_allocs[l][0] <= 0 || f->echo_msgs[l][0] == 0 ||
	    f->echo_msgs[l][1] == 0)
		return -1;
	return 1 - f->echo_allocs[l][1] / f->echo_allocs[l][0];
}

/* The rule.  The mechanism holds when, in push, a read that completes at
 * once costs at least 0.95 allocations without the fast path and at most
 * 0.05 with it, while a read that waits still costs at least 0.95 with it
 * (the allocation is only moved to the operations that wait).  "Removes
 * most of the cost" holds when, under the bench's echo load, the fast path
 * removes at least C7_MOST of push's allocations per message.  Mechanism and
 * "most" under the bench's load: holds.  The mechanism alone: holds only
 * when operations complete at once, and the reason says whether the
 * pipelined load (where more reads may find their data already there) gets
 * to C7_MOST.  No mechanism: does not hold. */
void c7_verdict(const struct c7_figures *f, struct claim_verdict *v)
{
	bool mechanism = f->push_now[0] >= 0.95 && f->push_now[1] <= 0.05 &&
			 f->push_wait[1] >= 0.95;
	double one = c7_removed(f, C7_ONE_IN_FLIGHT);
	double piped = c7_removed(f, C7_PIPELINED_LOAD);

	if (one < 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "the echo load did not run");
		return;
	}
	if (!mechanism)
		claim_verdict_set(v, CLAIM_FAILS,
			"push allocations per read with the fast path off / "
			"on: %.2f / %.2f at once, %.2f / %.2f waiting",
			f->push_now[0], f->push_now[1], f->push_wait[0],
			f->push_wait[1]);
	else if (one >= C7_MOST)
		claim_verdict_set(v, CLAIM_HOLDS,
			"a read that completes at once costs %.2f allocations "
			"with the fast path (%.2f without), one that waits "
			"%.2f; under echo load the fast path removed %.0f%% "
			"(%.2f -> %.2f per message)",
			f->push_now[1], f->push_now[0], f->push_wait[1],
			100 * one, f->echo_allocs[C7_ONE_IN_FLIGHT][0],
			f->echo_allocs[C7_ONE_IN_FLIGHT][1]);
	else if (piped >= C7_MOST)
		claim_verdict_set(v, CLAIM_PARTLY,
			"clients pipeline: the fast path makes a read that "
			"completes at once free (%.2f -> %.2f allocations), and "
			"removed %.0f%% with %d messages in flight per "
			"connection, but only %.0f%% with one (%.2f -> %.2f "
			"per message), where every read waits",
			f->push_now[0], f->push_now[1], 100 * piped,
			C7_PIPELINED, 100 * one,
			f->echo_allocs[C7_ONE_IN_FLIGHT][0],
			f->echo_allocs[C7_ONE_IN_FLIGHT][1]);
	else
		claim_verdict_set(v, CLAIM_PARTLY,
			"operations complete at once: the fast path makes those "
			"free (%.2f -> %.2f allocations per read), but under "
			"echo load it removed only %.0f%% (one in flight) and "
			"%.0f%% (%d in flight): most operations there wait",
			f->push_now[0], f->push_now[1], 100 * one,
			100 * (piped < 0 ? 0 : piped), C7_PIPELINED);
}

/* ---- reads on a socket pair --------------------------------------------------- */

/* Bytes for the engine's end, written by a timer: they arrive while a read
 * waits. */
struct c7_writer {
	struct reactor_timer tm;
	int fd;
};

static void c7_send(int fd)
{
	static const char msg[C7_MSG];
	ssize_t n = write(fd, msg, sizeof(msg));

	(void)n;    /* a short write shows as a wrong result */
}

static void c7_on_timer(struct reactor_timer *t)
{
	struct c7_writer *w = (struct c7_writer *)t;   /* tm is first */

	c7_send(w->fd);
}

/* A fresh epoll reactor and a socket pair: sv[0] for the engine. */
static struct reactor *c7_world(int sv[2])
{
	struct reactor *r = reactor_new_epoll();

	if (r == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       sv) != 0) {
		reactor_free(r);
		return NULL;
	}
	return r;
}

/* One push read, at once or waiting.  Returns bytes read, or -errno. */
static ssize_t push_one_read(struct push_loop *l, struct push_stream *s,
			     struct c7_writer *w, bool wait, void *buf)
{
	struct push_req *req;
	ssize_t n = -EIO;
	int rc;

	if (!wait)
		c7_send(w->fd);
	rc = push_read(l, s, buf, C7_MSG, NULL, NULL, NULL, &req, &n);
	if (rc == PUSH_SYNC)
		return n;
	if (rc < 0)
		return rc;
	if (wait)
		reactor_timer_start(l->r, &w->tm, 0,
				    c7_on_timer);
	rc = push_run_until(l, req);
	n = rc < 0 ? rc : push_req_result(req);
	push_req_unref(req);
	return n;
}

static int push_reads(bool fast, bool wait, unsigned ops, double *allocs)
{
	const struct push_config pol = { .fast_path = fast };
	struct c7_writer w = { .fd = -1 };
	unsigned char buf[C7_MSG];
	struct push_stream s = { 0 };
	struct mem_stats m0 = { 0 }, m1;
	struct push_loop loop, *l = &loop;
	struct reactor *r;
	int sv[2], rc = 0;

	r = c7_world(sv);
	if (r == NULL)
		return -errno;
	w.fd = sv[1];
	push_loop_init(l, r, NULL, &pol);
	if (push_stream_open(l, &s, sv[0]) < 0) {
		rc = -ENOMEM;
		close(sv[0]);
		goto out_free;
	}
	for (unsigned i = 0; i < 10 + ops && rc == 0; i++) {
		if (i == 10)
			mem_stats_get(&m0);
		if (push_one_read(l, &s, &w, wait, buf) != C7_MSG)
			rc = -EIO;
	}
	mem_stats_get(&m1);
	*allocs = (double)(m1.allocs - m0.allocs) / ops;
	push_stream_close(&s);
	push_loop_run(l);
out_free:
	push_loop_fini(l);
	close(sv[1]);
	reactor_free(r);
	return rc;
}

static int poll_reads(bool wait, unsigned ops, double *allocs)
{
	struct c7_writer w = { .fd = -1 };
	unsigned char buf[C7_MSG];
	struct mem_stats m0 = { 0 }, m1;
	struct poll_stream ps;
	struct poll_loop loop;
	struct reactor *r;
	int sv[2], rc;

	r = c7_world(sv);
	if (r == NULL)
		return -errno;
	w.fd = sv[1];
	poll_loop_init(&loop, r, NULL, NULL);
	rc = poll_stream_open(&loop, &ps, sv[0]);
	if (rc < 0)
		close(sv[0]);
	for (unsigned i = 0; i < 10 + ops && rc == 0; i++) {
		struct poll_read rd;

		if (i == 10)
			mem_stats_get(&m0);
		if (wait)
			reactor_timer_start(r, &w.tm, 0, c7_on_timer);
		else
			c7_send(w.fd);
		poll_read_init(&rd, &ps, buf, sizeof(buf));
		rc = poll_block_on(&loop, &rd.base);
		if (rc == 0 && rd.base.out != C7_MSG)
			rc = -EIO;
	}
	mem_stats_get(&m1);
	*allocs = (double)(m1.allocs - m0.allocs) / ops;
	poll_stream_close(&ps);
	poll_loop_fini(&loop);
	close(sv[1]);
	reactor_free(r);
	return rc;
}

/* ---- the echo server under load ------------------------------------------------ */

struct c7_load {
	struct loadgen_opts lo;
	struct loadgen_result *res;
	struct reactor *r;
	pthread_t thread;
	bool started;
	struct mem_stats m0, m1;
	int rc;
};

static void c7_on_measure(void *arg)
{
	mem_stats_get(&((struct c7_load *)arg)->m0);
}

static void c7_on_end(void *arg)
{
	mem_stats_get(&((struct c7_load *)arg)->m1);
}

static void *c7_load_run(void *arg)
{
	struct c7_load *ld = arg;

	ld->rc = loadgen_echo(&ld->lo, ld->res);
	reactor_request_stop(ld->r);
	return NULL;
}

/* The server listens: start the load against it. */
static void c7_on_listening(void *arg, uint16_t port)
{
	struct c7_load *ld = arg;

	ld->lo.port = port;
	ld->started = pthread_create(&ld->thread, NULL, c7_load_run, ld) == 0;
	if (!ld->started)
		reactor_request_stop(ld->r);
}

static int echo_allocs(echo_serve_fn serve, const struct claims_ctx *cx,
		       unsigned depth, double *allocs, uint64_t *msgs)
{
	struct c7_load ld = { .rc = -1 };
	struct echo_stats stats;
	struct echo_opts eo;
	struct offload *o;
	int rc = -ENOMEM;

	ld.res = calloc(1, sizeof(*ld.res));
	if (ld.res == NULL)
		return -ENOMEM;
	ld.r = reactor_new_epoll();
	if (ld.r == NULL)
		goto out_free_result;
	o = offload_new(ld.r, 1);
	if (o == NULL)
		goto out_free_reactor;
	ld.lo = (struct loadgen_opts){
		.host = "127.0.0.1",
		.conns = cx->quick ? 10 : 50,
		.depth = depth,
		.msg_size = C7_MSG,
		.warmup_ns = 100 * CLOCK_NS_PER_MS,
		.duration_ns = (cx->quick ? 300 : 1000) * CLOCK_NS_PER_MS,
		.on_measure = c7_on_measure,
		.on_end = c7_on_end,
		.arg = &ld,
	};
	echo_opts_default(&eo);
	eo.on_listening = c7_on_listening;
	eo.arg = &ld;
	rc = serve(ld.r, o, &eo, &stats);
	if (ld.started)
		pthread_join(ld.thread, NULL);
	if (rc == 0 && (ld.rc != 0 || ld.res->msgs == 0))
		rc = -EIO;
	if (rc == 0) {
		*msgs = ld.res->msgs;
		*allocs = (double)(ld.m1.allocs - ld.m0.allocs) / ld.res->msgs;
	}
	offload_free(o);
out_free_reactor:
	reactor_free(ld.r);
out_free_result:
	free(ld.res);
	return rc;
}

/* ---- the experiment ---------------------------------------------------------------- */

int c7_measure(const struct claims_ctx *cx, struct c7_figures *f)
{
	unsigned ops = cx->quick ? 200 : 2000;
	struct push_config saved = push_config_get();
	int rc = 0;

	memset(f, 0, sizeof(*f));
	for (int fast = 0; fast < 2 && rc == 0; fast++) {
		rc = push_reads(fast, false, ops, &f->push_now[fast]);
		if (rc == 0)
			rc = push_reads(fast, true, ops, &f->push_wait[fast]);
	}
	if (rc == 0)
		rc = poll_reads(false, ops, &f->poll_now);
	if (rc == 0)
		rc = poll_reads(true, ops, &f->poll_wait);
	for (int l = 0; l < C7_NLOADS && rc == 0; l++) {
		unsigned depth = l == C7_PIPELINED_LOAD ? C7_PIPELINED : 1;

		for (int fast = 0; fast < 2 && rc == 0; fast++) {
			struct push_config p = saved;

			p.fast_path = fast;
			push_config_set(&p);
			rc = echo_allocs(push_echo_serve, cx, depth,
					 &f->echo_allocs[l][fast],
					 &f->echo_msgs[l][fast]);
			push_config_set(&saved);
		}
	}
	if (rc == 0) {
		uint64_t msgs;

		rc = echo_allocs(poll_echo_serve, cx, 1, &f->poll_echo_allocs,
				 &msgs);
	}
	return rc;
}

int c7_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c7_figures f;
	int rc;

	rc = c7_measure(cx, &f);
	if (rc < 0)
		return rc;
	c7_verdict(&f, &row->verdict);
	snprintf(row->push, sizeof(row->push),
		 "allocs per read, fast path off / on: %.2f / %.2f at once, "
		 "%.2f / %.2f waiting; echo %.2f / %.2f per message (%.2f / "
		 "%.2f pipelined)",
		 f.push_now[0], f.push_now[1], f.push_wait[0], f.push_wait[1],
		 f.echo_allocs[C7_ONE_IN_FLIGHT][0],
		 f.echo_allocs[C7_ONE_IN_FLIGHT][1],
		 f.echo_allocs[C7_PIPELINED_LOAD][0],
		 f.echo_allocs[C7_PIPELINED_LOAD][1]);
	snprintf(row->poll, sizeof(row->poll),
		 "allocs per read: %.2f at once, %.2f waiting; echo %.2f per "
		 "message", f.poll_now, f.poll_wait, f.poll_echo_allocs);

	claims_json_begin(cx->json, "figures");
	claims_json_begin(cx->json, "push");
	claims_json_nums(cx->json, "allocs_per_read_at_once_fast_off_on",
			 f.push_now, 2);
	claims_json_nums(cx->json, "allocs_per_read_waiting_fast_off_on",
			 f.push_wait, 2);
	claims_json_nums(cx->json, "echo_allocs_per_msg_fast_off_on",
			 f.echo_allocs[C7_ONE_IN_FLIGHT], 2);
	claims_json_nums(cx->json, "echo_pipelined_allocs_per_msg_fast_off_on",
			 f.echo_allocs[C7_PIPELINED_LOAD], 2);
	claims_json_end(cx->json);
	claims_json_begin(cx->json, "poll");
	claims_json_num(cx->json, "allocs_per_read_at_once", f.poll_now);
	claims_json_num(cx->json, "allocs_per_read_waiting", f.poll_wait);
	claims_json_num(cx->json, "echo_allocs_per_msg", f.poll_echo_allocs);
	claims_json_end(cx->json);
	claims_json_end(cx->json);
	return 0;
}
