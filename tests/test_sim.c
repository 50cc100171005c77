/* test_sim.c: the simulated reactor (shared/sim.h, shared/reactor_sim.c).
 *
 * The simulation never blocks and never reads the real clock, so every test
 * here is a bounded loop over reactor_poll(): a world either runs to
 * quiescence (-EDEADLK) within a fixed number of steps or the test fails.
 * Many tests drive a small echo server written below over the reactor API,
 * the way the engines use it, against scripted peers.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor.h"
#include "sim.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* Steps after which a world that has not gone quiet counts as stuck. */
#define MAX_STEPS 2000000

/* ---- common pieces ------------------------------------------------------- */

/* What an io callback saw: a watcher embedded in a record. */
struct seen {
	struct reactor_io io;
	struct reactor *r;
	int calls;
	unsigned events;        /* union of all events delivered */
	unsigned last;
	uint64_t at;            /* reactor_now() at the last call */
};

static void seen_cb(struct reactor_io *io, unsigned events)
{
	struct seen *s = (struct seen *)io;

	s->calls++;
	s->events |= events;
	s->last = events;
	s->at = reactor_now(s->r);
}

static void seen_start(struct reactor *r, struct seen *s, int handle)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	ck_assert_int_eq(reactor_io_start(r, &s->io, handle, seen_cb), 0);
}

static void seen_reset(struct seen *s)
{
	s->calls = 0;
	s->events = s->last = 0;
}

/* Deliver steps until the world is quiet; returns how many were delivered.
 * A world that is still busy after MAX_STEPS fails the test. */
static uint64_t run_quiet(struct reactor *r)
{
	uint64_t before = sim_steps(r);
	int n = 0;

	for (long i = 0; i < MAX_STEPS; i++) {
		n = reactor_poll(r, -1);
		if (n < 0)
			break;
	}
	ck_assert_int_eq(n, -EDEADLK);
	return sim_steps(r) - before;
}

static struct reactor *new_sim(const struct sim_config *c)
{
	struct reactor *r = reactor_new_sim(c);

	ck_assert_ptr_nonnull(r);
	return r;
}

static struct reactor *new_default(uint64_t seed)
{
	struct sim_config c;

	sim_config_default(&c, seed);
	return new_sim(&c);
}

/* Bytes that differ from one position and one salt to the next. */
static void make_script(unsigned char *buf, size_t len, unsigned salt)
{
	uint32_t x = salt * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
}

static int listen_any(struct reactor *r, uint16_t *port)
{
	int l = reactor_listen(r, "127.0.0.1", 0, 16);
	int p;

	ck_assert_int_ge(l, 0);
	p = reactor_local_port(r, l);
	ck_assert_int_gt(p, 0);
	*port = (uint16_t)p;
	return l;
}

/* ---- a small echo server over the reactor API ---------------------------- */

#define ECHO_MAX_CONNS 16

struct echo;

struct econn {
	struct reactor_io io;
	struct echo *e;
	int handle;
	unsigned char buf[512];
	size_t len, off;        /* buf[off..len) still to write back */
	bool eof;
};

struct echo {
	struct reactor *r;
	struct reactor_io lio;
	int listener;
	uint16_t port;
	struct econn *conns[ECHO_MAX_CONNS];
	unsigned accepted, accept_errors, closed, failed;
	uint64_t bytes;
};

static void econn_close(struct econn *c, int err)
{
	struct echo *e = c->e;

	reactor_io_stop(e->r, &c->io);
	ck_assert_int_eq(reactor_close(e->r, c->handle), 0);
	for (int i = 0; i < ECHO_MAX_CONNS; i++)
		if (e->conns[i] == c)
			e->conns[i] = NULL;
	if (err == 0)
		e->closed++;
	else
		e->failed++;
	free(c);
}

/* The edge-triggered rule: try, and stop only at -EAGAIN.  Echo what is
 * read; at end of stream, close. */
static void econn_run(struct econn *c)
{
	struct reactor *r = c->e->r;
	ssize_t n;

	for (;;) {
		if (c->off < c->len) {
			n = reactor_write(r, c->handle, c->buf + c->off,
					  c->len - c->off);
			if (n == -EAGAIN)
				return;
			if (n < 0) {
				econn_close(c, (int)n);
				return;
			}
			ck_assert_int_gt(n, 0);
			c->off += (size_t)n;
			c->e->bytes += (uint64_t)n;
			continue;
		}
		if (c->eof) {
			econn_close(c, 0);
			return;
		}
		n = reactor_read(r, c->handle, c->buf, sizeof(c->buf));
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			econn_close(c, (int)n);
			return;
		}
		if (n == 0)
			c->eof = true;
		c->len = (size_t)n;
		c->off = 0;
	}
}

static void econn_cb(struct reactor_io *io, unsigned events)
{
	econn_run((struct econn *)io);
}

static void echo_listener_cb(struct reactor_io *io, unsigned events)
{
	struct echo *e = (struct echo *)((char *)io -
					 offsetof(struct echo, lio));
	int h, slot;

	for (;;) {
		h = reactor_accept(e->r, e->listener);
		if (h == -EAGAIN)
			return;
		if (h < 0) {
			e->accept_errors++;
			continue;
		}
		for (slot = 0; slot < ECHO_MAX_CONNS; slot++)
			if (e->conns[slot] == NULL)
				break;
		ck_assert_int_lt(slot, ECHO_MAX_CONNS);
		struct econn *c = calloc(1, sizeof(*c));
		ck_assert_ptr_nonnull(c);
		c->e = e;
		c->handle = h;
		e->conns[slot] = c;
		e->accepted++;
		ck_assert_int_eq(reactor_io_start(e->r, &c->io, h, econn_cb),
				 0);
		econn_run(c); /* try first: data may be there already */
	}
}

static void echo_start(struct echo *e, struct reactor *r)
{
	memset(e, 0, sizeof(*e));
	e->r = r;
	e->listener = listen_any(r, &e->port);
	ck_assert_int_eq(reactor_io_start(r, &e->lio, e->listener,
					  echo_listener_cb), 0);
}

/* Stop and close everything the server still holds. */
static void echo_stop(struct echo *e)
{
	for (int i = 0; i < ECHO_MAX_CONNS; i++) {
		struct econn *c = e->conns[i];
		if (c == NULL)
			continue;
		reactor_io_stop(e->r, &c->io);
		ck_assert_int_eq(reactor_close(e->r, c->handle), 0);
		free(c);
		e->conns[i] = NULL;
	}
	reactor_io_stop(e->r, &e->lio);
	ck_assert_int_eq(reactor_close(e->r, e->listener), 0);
}

/* ---- a world: the echo server and a few scripted peers ------------------- */

#define NPEERS 4
static const size_t script_len[NPEERS] = { 0, 700, 3000, 20000 };

struct world {
	struct reactor *r;
	struct echo e;
	struct sim_peer *peers[NPEERS];
	unsigned char *scripts[NPEERS];
};

static void world_start(struct world *w, const struct sim_config *c)
{
	w->r = new_sim(c);
	echo_start(&w->e, w->r);
	for (int i = 0; i < NPEERS; i++) {
		w->scripts[i] = malloc(script_len[i] + 1);
		ck_assert_ptr_nonnull(w->scripts[i]);
		make_script(w->scripts[i], script_len[i], (unsigned)i);
		w->peers[i] = sim_peer_connect(w->r, w->e.port, w->scripts[i],
					       script_len[i],
					       SIM_PEER_HALF_CLOSE);
		ck_assert_ptr_nonnull(w->peers[i]);
	}
}

static void world_end(struct world *w)
{
	echo_stop(&w->e);
	reactor_free(w->r);
	for (int i = 0; i < NPEERS; i++)
		free(w->scripts[i]);
}

/* Every peer finished; what it received is the start of its script: all of
 * what it sent when its connection ended cleanly.  With `exact`, no peer
 * fault was possible, so that is the whole script.  Returns the bytes
 * compared. */
static size_t world_check(struct world *w, bool exact)
{
	size_t total = 0;

	for (int i = 0; i < NPEERS; i++) {
		struct sim_peer *p = w->peers[i];
		size_t len;
		const unsigned char *got = sim_peer_received(p, &len);

		ck_assert_msg(sim_peer_finished(p), "peer %d not finished", i);
		ck_assert_uint_le(len, script_len[i]);
		ck_assert_int_eq(memcmp(got, w->scripts[i], len), 0);
		if (sim_peer_error(p) == 0)
			ck_assert_uint_eq(len, sim_peer_sent(p));
		else
			ck_assert_int_eq(sim_peer_error(p), -ECONNRESET);
		if (exact) {
			ck_assert_int_eq(sim_peer_error(p), 0);
			ck_assert_uint_eq(len, script_len[i]);
		}
		total += len;
	}
	return total;
}

struct fingerprint {
	uint64_t hash, steps;
};

static struct fingerprint echo_fingerprint(uint64_t seed, FILE *trace)
{
	struct sim_config c;
	struct world w;
	struct fingerprint f;

	sim_config_default(&c, seed);
	world_start(&w, &c);
	sim_trace_to(w.r, trace);
	run_quiet(w.r);
	world_check(&w, true);
	f.hash = sim_trace_hash(w.r);
	f.steps = sim_steps(w.r);
	world_end(&w);
	return f;
}

/* ---- determinism --------------------------------------------------------- */

START_TEST(test_same_seed_gives_same_trace_hash_and_step_count)
{
	struct fingerprint a = echo_fingerprint(42, NULL);
	struct fingerprint b = echo_fingerprint(42, NULL);

	ck_assert_uint_gt(a.steps, 0);
	ck_assert_uint_eq(a.steps, b.steps);
	ck_assert_uint_eq(a.hash, b.hash);
}
END_TEST

static char *slurp(FILE *f, long *len)
{
	char *buf;

	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	*len = ftell(f);
	ck_assert_int_gt(*len, 0);
	rewind(f);
	buf = malloc((size_t)*len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)*len, f), (size_t)*len);
	return buf;
}

START_TEST(test_same_seed_writes_identical_trace_files)
{
	FILE *fa = tmpfile(), *fb = tmpfile();
	struct fingerprint a, b;
	long la, lb;
	char *ta, *tb;
	unsigned long long first_step;

	ck_assert_ptr_nonnull(fa);
	ck_assert_ptr_nonnull(fb);
	a = echo_fingerprint(7, fa);
	b = echo_fingerprint(7, fb);
	ta = slurp(fa, &la);
	tb = slurp(fb, &lb);
	ck_assert_int_eq(la, lb);
	ck_assert_int_eq(memcmp(ta, tb, (size_t)la), 0);
	/* One line per step, numbered from 1, starting "<step> <time> ". */
	long lines = 0;
	for (long i = 0; i < la; i++)
		lines += ta[i] == '\n';
	ck_assert_int_eq(lines, (long)a.steps);
	ck_assert_int_eq(sscanf(ta, "%llu ", &first_step), 1);
	ck_assert_uint_eq(first_step, 1);
	ck_assert_uint_eq(a.hash, b.hash);
	free(ta);
	free(tb);
	fclose(fa);
	fclose(fb);
}
END_TEST

START_TEST(test_different_seeds_give_different_traces)
{
	struct fingerprint a = echo_fingerprint(1, NULL);
	struct fingerprint b = echo_fingerprint(2, NULL);
	struct fingerprint c = echo_fingerprint(3, NULL);

	ck_assert_uint_ne(a.hash, b.hash);
	ck_assert_uint_ne(a.hash, c.hash);
	ck_assert_uint_ne(b.hash, c.hash);
}
END_TEST

START_TEST(test_trace_to_null_stops_the_trace_file_not_the_hash)
{
	struct sim_config c;
	struct world w;
	FILE *f = tmpfile();
	uint64_t at_stop, hash_at_stop;
	long len, lines = 0;
	char *text;

	ck_assert_ptr_nonnull(f);
	sim_config_default(&c, 31);
	world_start(&w, &c);
	sim_trace_to(w.r, f);
	for (int i = 0; i < 10; i++)
		ck_assert_int_ge(reactor_poll(w.r, -1), 0);
	sim_trace_to(w.r, NULL);
	at_stop = sim_steps(w.r);
	hash_at_stop = sim_trace_hash(w.r);
	run_quiet(w.r);
	ck_assert_uint_gt(sim_steps(w.r), at_stop);
	ck_assert_uint_ne(sim_trace_hash(w.r), hash_at_stop);
	text = slurp(f, &len);
	for (long i = 0; i < len; i++)
		lines += text[i] == '\n';
	ck_assert_int_eq(lines, (long)at_stop);
	free(text);
	fclose(f);
	world_end(&w);
}
END_TEST

/* What a run looks like at a point: enough to tell two runs apart. */
struct state {
	uint64_t steps, hash, now, bytes;
	size_t sent[NPEERS], received[NPEERS];
	unsigned accepted;
};

static void state_take(struct world *w, struct state *st)
{
	st->steps = sim_steps(w->r);
	st->hash = sim_trace_hash(w->r);
	st->now = reactor_now(w->r);
	st->bytes = w->e.bytes;
	st->accepted = w->e.accepted;
	for (int i = 0; i < NPEERS; i++) {
		st->sent[i] = sim_peer_sent(w->peers[i]);
		sim_peer_received(w->peers[i], &st->received[i]);
	}
}

struct stop_at {
	struct world *w;
	struct state st;
	int ran;
};

static void stop_hook(void *arg)
{
	struct stop_at *sa = arg;

	sa->ran++;
	state_take(sa->w, &sa->st);
	reactor_request_stop(sa->w->r);
}

/* The harness's use: stop a run at step k with the hook, then replay the
 * same seed without a hook up to step k - 1: both are in the same state. */
START_TEST(test_run_stopped_at_step_k_replays_to_the_same_state)
{
	struct sim_config c;
	struct world w1, w2;
	struct stop_at sa = { 0 };
	struct state st2;
	uint64_t total, k;

	sim_config_faulty(&c, 99);
	world_start(&w1, &c);
	total = run_quiet(w1.r);
	world_end(&w1);
	ck_assert_uint_gt(total, 10);

	for (k = 1; k <= total; k += total / 7 + 1) {
		world_start(&w1, &c);
		sa.w = &w1;
		sa.ran = 0;
		sim_at_step(w1.r, k, stop_hook, &sa);
		for (long i = 0; i < MAX_STEPS && !reactor_stop_requested(w1.r);
		     i++)
			ck_assert_int_ge(reactor_poll(w1.r, -1), 0);
		ck_assert_int_eq(sa.ran, 1);
		/* The stop came before step k: it was not delivered. */
		ck_assert_uint_eq(sim_steps(w1.r), k - 1);
		ck_assert_uint_eq(sa.st.steps, k - 1);

		world_start(&w2, &c);
		while (sim_steps(w2.r) < k - 1)
			ck_assert_int_ge(reactor_poll(w2.r, -1), 0);
		state_take(&w2, &st2);
		ck_assert_uint_eq(st2.steps, sa.st.steps);
		ck_assert_uint_eq(st2.hash, sa.st.hash);
		ck_assert_uint_eq(st2.now, sa.st.now);
		ck_assert_uint_eq(st2.bytes, sa.st.bytes);
		ck_assert_uint_eq(st2.accepted, sa.st.accepted);
		for (int i = 0; i < NPEERS; i++) {
			ck_assert_uint_eq(st2.sent[i], sa.st.sent[i]);
			ck_assert_uint_eq(st2.received[i], sa.st.received[i]);
		}
		world_end(&w1);
		world_end(&w2);
	}
}
END_TEST

/* A hook that changes nothing changes nothing: the run goes on, step for
 * step, as it would have without one. */
static void noop_hook(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_hook_that_does_nothing_leaves_the_trace_unchanged)
{
	struct sim_config c;
	struct world w;
	uint64_t plain_hash, plain_steps;
	int ran = 0;

	sim_config_faulty(&c, 5);
	world_start(&w, &c);
	run_quiet(w.r);
	plain_hash = sim_trace_hash(w.r);
	plain_steps = sim_steps(w.r);
	world_end(&w);

	world_start(&w, &c);
	sim_at_step(w.r, plain_steps / 2, noop_hook, &ran);
	run_quiet(w.r);
	ck_assert_int_eq(ran, 1);
	ck_assert_uint_eq(sim_steps(w.r), plain_steps);
	ck_assert_uint_eq(sim_trace_hash(w.r), plain_hash);
	world_end(&w);
}
END_TEST

/* ---- sim_call and the hook ----------------------------------------------- */

struct counted_call {
	struct sim_call call;
	int runs;
	uint64_t step;          /* sim_steps() while it ran */
	struct reactor *r;
};

static void counted_fn(struct sim_call *c)
{
	struct counted_call *cc = (struct counted_call *)c;

	cc->runs++;
	cc->step = sim_steps(cc->r);
}

START_TEST(test_sim_call_runs_at_a_later_step_never_inside_schedule)
{
	struct reactor *r = new_default(3);
	struct counted_call a = { .r = r };

	sim_call_schedule(r, &a.call, counted_fn, "a");
	ck_assert_int_eq(a.runs, 0);
	ck_assert_uint_eq(sim_steps(r), 0);
	ck_assert_int_eq(reactor_poll(r, -1), 1);
	ck_assert_int_eq(a.runs, 1);
	ck_assert_uint_eq(a.step, 1);
	ck_assert_uint_le(reactor_now(r), 1000); /* a small seeded delay */
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	reactor_free(r);
}
END_TEST

START_TEST(test_cancelled_sim_call_never_runs)
{
	struct reactor *r = new_default(3);
	struct counted_call a = { .r = r }, b = { .r = r };

	sim_call_schedule(r, &a.call, counted_fn, "a");
	sim_call_schedule(r, &b.call, counted_fn, "b");
	sim_call_cancel(r, &a.call);
	sim_call_cancel(r, &a.call); /* twice: a no-op */
	ck_assert_uint_eq(run_quiet(r), 1);
	ck_assert_int_eq(a.runs, 0);
	ck_assert_int_eq(b.runs, 1);
	reactor_free(r);
}
END_TEST

struct cancel_ctx {
	struct reactor *r;
	struct counted_call *calls;
	int n;
	int ran;
};

static void cancel_all_hook(void *arg)
{
	struct cancel_ctx *x = arg;

	x->ran++;
	ck_assert_uint_eq(sim_steps(x->r), 1); /* before step 2 */
	for (int i = 0; i < x->n; i++)
		sim_call_cancel(x->r, &x->calls[i].call);
}

/* The hook runs just before step k, is not a step itself, and whatever it
 * cancels is not delivered as step k or later. */
START_TEST(test_hook_runs_before_step_k_and_what_it_cancels_never_runs)
{
	struct reactor *r = new_default(11);
	struct counted_call calls[3];
	struct cancel_ctx x = { .r = r, .calls = calls, .n = 3 };
	int total = 0;

	for (int i = 0; i < 3; i++) {
		calls[i] = (struct counted_call){ .r = r };
		sim_call_schedule(r, &calls[i].call, counted_fn, "c");
	}
	sim_at_step(r, 2, cancel_all_hook, &x);
	ck_assert_uint_eq(run_quiet(r), 1);
	ck_assert_int_eq(x.ran, 1);
	for (int i = 0; i < 3; i++)
		total += calls[i].runs;
	ck_assert_int_eq(total, 1);
	reactor_free(r);
}
END_TEST

START_TEST(test_second_hook_replaces_the_first)
{
	struct reactor *r = new_default(11);
	struct counted_call a = { .r = r };
	int first = 0, second = 0;

	sim_call_schedule(r, &a.call, counted_fn, "a");
	sim_at_step(r, 1, noop_hook, &first);
	sim_at_step(r, 1, noop_hook, &second);
	run_quiet(r);
	ck_assert_int_eq(first, 0);
	ck_assert_int_eq(second, 1);
	reactor_free(r);
}
END_TEST

START_TEST(test_hook_cleared_with_step_zero_never_runs)
{
	struct reactor *r = new_default(11);
	struct counted_call a = { .r = r };
	int ran = 0;

	sim_call_schedule(r, &a.call, counted_fn, "a");
	sim_at_step(r, 1, noop_hook, &ran);
	sim_at_step(r, 0, NULL, NULL);
	run_quiet(r);
	ck_assert_int_eq(ran, 0);
	ck_assert_int_eq(a.runs, 1);
	reactor_free(r);
}
END_TEST

/* ---- virtual time, timers, quiescence ------------------------------------ */

struct stamped_timer {
	struct reactor_timer t;
	struct reactor *r;
	uint64_t fired_at;
	int fired;
};

static void stamped_cb(struct reactor_timer *t)
{
	struct stamped_timer *st = (struct stamped_timer *)t;

	st->fired++;
	st->fired_at = reactor_now(st->r);
}

START_TEST(test_ten_second_timer_fires_at_virtual_ten_seconds)
{
	struct reactor *r = new_default(1);
	struct stamped_timer st = { .r = r };

	ck_assert(reactor_is_sim(r));
	ck_assert_str_eq(reactor_backend(r), "sim");
	ck_assert_uint_eq(reactor_now(r), 0);
	reactor_timer_start(r, &st.t, 10 * SEC, stamped_cb);
	ck_assert_int_eq(reactor_poll(r, -1), 1);
	ck_assert_int_eq(st.fired, 1);
	ck_assert_uint_eq(st.fired_at, 10 * SEC);
	ck_assert_uint_eq(reactor_now(r), 10 * SEC);
	ck_assert_uint_eq(sim_steps(r), 1);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	reactor_free(r);
}
END_TEST

/* Once virtual time has moved, the longest delay there is would wrap round
 * to a deadline in the past if it were added without care: it must instead
 * never fire, and the world with nothing else to do is quiescent. */
START_TEST(test_timer_with_the_longest_delay_never_fires)
{
	struct reactor *r = new_default(1);
	struct stamped_timer st = { .r = r };

	ck_assert_int_eq(reactor_poll(r, 5 * SEC), 0);
	ck_assert_uint_eq(reactor_now(r), 5 * SEC);
	reactor_timer_start(r, &st.t, UINT64_MAX, stamped_cb);
	ck_assert_int_eq(reactor_poll(r, 10 * SEC), 0);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	ck_assert_int_eq(st.fired, 0);
	reactor_timer_stop(r, &st.t);
	reactor_free(r);
}
END_TEST

/* The order in which things happened, with their virtual times. */
struct log {
	char what[16][8];
	uint64_t at[16];
	int n;
};

static struct log the_log;
static struct reactor *log_r;
static int log_writer = -1;

static void log_add(const char *what)
{
	ck_assert_int_lt(the_log.n, 16);
	snprintf(the_log.what[the_log.n], sizeof(the_log.what[0]), "%s", what);
	the_log.at[the_log.n++] = reactor_now(log_r);
}

static void log_t1(struct reactor_timer *t) { log_add("t1"); }
static void log_t3(struct reactor_timer *t) { log_add("t3"); }

static void log_t2(struct reactor_timer *t)
{
	log_add("t2");
	ck_assert_int_eq(reactor_write(log_r, log_writer, "x", 1), 1);
}

static void log_io(struct reactor_io *io, unsigned events)
{
	log_add("io");
}

static void log_call(struct sim_call *c)
{
	log_add("call");
}

/* Every event is due at a time; a timer is due at its deadline.  Whatever
 * the seed, they come in order of due time. */
START_TEST(test_timers_and_events_interleave_by_due_time)
{
	static const char *const order[] = { "call", "t1", "t2", "io", "t3" };
	static const uint64_t at[] = { 0, 1 * MS, 2 * MS, 2 * MS, 3 * MS };

	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct reactor *r = new_default(seed);
		struct reactor_timer t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
		struct reactor_io io = { 0 };
		struct sim_call call = { 0 };
		int h[2];

		memset(&the_log, 0, sizeof(the_log));
		log_r = r;
		ck_assert_int_eq(sim_stream_pair(r, h), 0);
		log_writer = h[0];
		ck_assert_int_eq(reactor_io_start(r, &io, h[1], log_io), 0);
		run_quiet(r); /* its first edge: the end is writable at once */
		the_log.n = 0;
		reactor_timer_start(r, &t3, 3 * MS, log_t3);
		reactor_timer_start(r, &t2, 2 * MS, log_t2);
		reactor_timer_start(r, &t1, 1 * MS, log_t1);
		sim_call_schedule(r, &call, log_call, "log");
		run_quiet(r);
		ck_assert_int_eq(the_log.n, 5);
		for (int i = 0; i < 5; i++) {
			ck_assert_str_eq(the_log.what[i], order[i]);
			if (i == 0)
				ck_assert_uint_le(the_log.at[i], 1000);
			else
				ck_assert_uint_eq(the_log.at[i], at[i]);
		}
		reactor_io_stop(r, &io);
		reactor_free(r);
	}
}
END_TEST

static void log_b1(struct reactor_timer *t) { log_add("b1"); }
static void log_b2(struct reactor_timer *t) { log_add("b2"); }
static void log_b3(struct reactor_timer *t) { log_add("b3"); }

/* Batches: three timers 100 us apart.  One step per poll without batches;
 * with every batch taken, one poll delivers all three (each still a
 * numbered step, in due order, the clock at each one's time); a timer past
 * max_delay_ns from the last is left for the next poll, and the poll's
 * timeout bounds a batch as it bounds a step. */
START_TEST(test_a_batch_delivers_the_events_due_close_together_in_one_poll)
{
	for (int batched = 0; batched <= 1; batched++) {
		struct sim_config c;
		struct reactor *r;
		struct reactor_timer t1 = { 0 }, t2 = { 0 }, t3 = { 0 }, t4 = { 0 };

		sim_config_default(&c, 7);
		c.batch = batched ? 1000 : 0;
		c.max_delay_ns = 200 * 1000;
		r = new_sim(&c);
		memset(&the_log, 0, sizeof(the_log));
		log_r = r;
		reactor_timer_start(r, &t1, 1 * MS, log_b1);
		reactor_timer_start(r, &t2, 1 * MS + 100 * 1000, log_b2);
		reactor_timer_start(r, &t3, 1 * MS + 200 * 1000, log_b3);
		reactor_timer_start(r, &t4, 2 * MS, log_b3);
		if (batched) {
			ck_assert_int_eq(reactor_poll(r, -1), 3);
			ck_assert_int_eq(the_log.n, 3);
			ck_assert_uint_eq(the_log.at[2], 1 * MS + 200 * 1000);
			ck_assert_str_eq(the_log.what[1], "b2");
			ck_assert_uint_eq(sim_steps(r), 3);
			/* 2 ms is 800 us after the last: the next poll's. */
			ck_assert_int_eq(reactor_poll(r, 0), 0);
			ck_assert_int_eq(reactor_poll(r, -1), 1);
		} else {
			for (int i = 0; i < 3; i++)
				ck_assert_int_eq(reactor_poll(r, -1), 1);
			ck_assert_int_eq(the_log.n, 3);
			ck_assert_uint_eq(sim_steps(r), 3);
			ck_assert_int_eq(reactor_poll(r, -1), 1);
		}
		ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
		reactor_free(r);
	}
}
END_TEST

/* A batch stops short of the step a hook waits for, so the hook still sees
 * the world as the step before it left it. */
static void count_hook(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_a_batch_stops_before_a_hooked_step)
{
	struct sim_config c;
	struct reactor *r;
	struct reactor_timer t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	int hooked = 0;

	sim_config_default(&c, 7);
	c.batch = 1000;
	r = new_sim(&c);
	memset(&the_log, 0, sizeof(the_log));
	log_r = r;
	reactor_timer_start(r, &t1, 1 * MS, log_b1);
	reactor_timer_start(r, &t2, 1 * MS + 10, log_b2);
	reactor_timer_start(r, &t3, 1 * MS + 20, log_b3);
	sim_at_step(r, 2, count_hook, &hooked);
	ck_assert_int_eq(reactor_poll(r, -1), 1);       /* step 1 only */
	ck_assert_int_eq(hooked, 0);
	ck_assert_int_eq(reactor_poll(r, -1), 2);       /* hook, steps 2, 3 */
	ck_assert_int_eq(hooked, 1);
	ck_assert_uint_eq(sim_steps(r), 3);
	reactor_free(r);
}
END_TEST

START_TEST(test_poll_on_a_quiescent_world_says_edeadlk)
{
	struct reactor *r = new_default(1);
	int h[2];

	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	/* Handles with nothing to deliver are no event. */
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	ck_assert_uint_eq(sim_steps(r), 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_poll_timeout_lets_virtual_time_pass_up_to_the_next_event)
{
	struct reactor *r = new_default(1);
	struct stamped_timer st = { .r = r };

	/* Nothing pending: a timeout passes, 0 does not move the clock. */
	ck_assert_int_eq(reactor_poll(r, 5 * MS), 0);
	ck_assert_uint_eq(reactor_now(r), 5 * MS);
	ck_assert_int_eq(reactor_poll(r, 0), 0);
	ck_assert_uint_eq(reactor_now(r), 5 * MS);
	/* A timer 10 ms away: a 3 ms wait stops short of it. */
	reactor_timer_start(r, &st.t, 10 * MS, stamped_cb);
	ck_assert_int_eq(reactor_poll(r, 3 * MS), 0);
	ck_assert_uint_eq(reactor_now(r), 8 * MS);
	ck_assert_int_eq(st.fired, 0);
	ck_assert_int_eq(reactor_poll(r, 7 * MS), 1);
	ck_assert_uint_eq(st.fired_at, 15 * MS);
	ck_assert_uint_eq(sim_steps(r), 1);
	reactor_free(r);
}
END_TEST

/* reactor_request_stop() makes the next poll return without moving time or
 * reporting quiescence; the one after goes on as before. */
START_TEST(test_stop_request_makes_the_next_poll_return_at_once)
{
	struct reactor *r = new_default(1);
	struct stamped_timer st = { .r = r };

	reactor_timer_start(r, &st.t, 1 * SEC, stamped_cb);
	reactor_request_stop(r);
	ck_assert(reactor_stop_requested(r));
	ck_assert_int_eq(reactor_poll(r, -1), 0);
	ck_assert_uint_eq(reactor_now(r), 0);
	ck_assert_int_eq(st.fired, 0);
	ck_assert_int_eq(reactor_poll(r, -1), 1);
	ck_assert_uint_eq(st.fired_at, 1 * SEC);
	reactor_request_stop(r);
	ck_assert_int_eq(reactor_poll(r, -1), 0); /* not -EDEADLK */
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	reactor_free(r);
}
END_TEST

struct counted_async {
	struct reactor_async a;
	int runs;
};

static void counted_async_cb(struct reactor_async *a)
{
	((struct counted_async *)a)->runs++;
}

START_TEST(test_async_sends_coalesce_into_one_step)
{
	struct reactor *r = new_default(1);
	struct counted_async ca = { 0 };

	reactor_async_start(r, &ca.a, counted_async_cb);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	reactor_async_send(&ca.a);
	reactor_async_send(&ca.a);
	ck_assert_int_eq(ca.runs, 0);
	ck_assert_int_eq(reactor_poll(r, -1), 1);
	ck_assert_int_eq(ca.runs, 1);
	ck_assert_uint_eq(sim_steps(r), 1);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	reactor_async_stop(r, &ca.a);
	reactor_free(r);
}
END_TEST

/* A peer's action is a step that runs no engine callback. */
START_TEST(test_peer_action_is_a_step_that_returns_zero)
{
	struct reactor *r = new_default(1);
	uint16_t port;
	int l = listen_any(r, &port);
	struct sim_peer *p = sim_peer_connect(r, port, "hi", 2, 0);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(sim_steps(r), 0);  /* not inside the call */
	ck_assert_int_eq(reactor_poll(r, -1), 0); /* its connect */
	ck_assert_uint_eq(sim_steps(r), 1);
	run_quiet(r);
	ck_assert_uint_eq(sim_peer_sent(p), 2);
	ck_assert(!sim_peer_finished(p));
	ck_assert_int_eq(reactor_close(r, l), 0);
	run_quiet(r);
	ck_assert(sim_peer_finished(p)); /* the pending connection closed */
	reactor_free(r);
}
END_TEST

/* ---- edges --------------------------------------------------------------- */

START_TEST(test_io_stop_removes_a_pending_edge)
{
	struct reactor *r = new_default(1);
	struct seen *s = malloc(sizeof(*s));
	int h[2];

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	seen_start(r, s, h[1]);
	ck_assert_int_eq(reactor_write(r, h[0], "abc", 3), 3);
	reactor_io_stop(r, &s->io);
	ck_assert_int_eq(s->calls, 0);
	free(s); /* allowed at once */
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	ck_assert_uint_eq(sim_steps(r), 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_io_start_reports_a_handle_that_is_already_ready)
{
	struct reactor *r = new_default(1);
	struct seen a = { 0 }, b;
	int h[2];
	char buf[8];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	ck_assert_int_eq(reactor_write(r, h[0], "abc", 3), 3);
	seen_start(r, &b, h[1]);
	ck_assert_int_eq(b.calls, 0); /* never inside io_start */
	run_quiet(r);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_uint_eq(b.last, REACTOR_READABLE | REACTOR_WRITABLE);
	/* A second watcher on the handle is refused. */
	ck_assert_int_eq(reactor_io_start(r, &a.io, h[1], seen_cb), -EEXIST);
	/* Nothing changes while the data sits there: no more edges. */
	run_quiet(r);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), 3);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), -EAGAIN);
	/* Data into the empty queue again: one edge. */
	ck_assert_int_eq(reactor_write(r, h[0], "d", 1), 1);
	ck_assert_int_eq(reactor_write(r, h[0], "e", 1), 1);
	run_quiet(r);
	ck_assert_int_eq(b.calls, 2);
	ck_assert_uint_eq(b.last, REACTOR_READABLE);
	reactor_io_stop(r, &b.io);
	reactor_free(r);
}
END_TEST

START_TEST(test_half_close_gives_end_of_stream_after_the_data)
{
	struct reactor *r = new_default(1);
	struct seen b;
	int h[2];
	char buf[8];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	seen_start(r, &b, h[1]);
	run_quiet(r);
	seen_reset(&b);
	ck_assert_int_eq(reactor_write(r, h[0], "abc", 3), 3);
	ck_assert_int_eq(reactor_shutdown_write(r, h[0]), 0);
	ck_assert_int_eq(reactor_write(r, h[0], "x", 1), -EPIPE);
	run_quiet(r);
	ck_assert_uint_ne(b.events & REACTOR_READABLE, 0);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), 0);
	/* The other direction still works. */
	ck_assert_int_eq(reactor_write(r, h[1], "yz", 2), 2);
	ck_assert_int_eq(reactor_read(r, h[0], buf, sizeof(buf)), 2);
	reactor_io_stop(r, &b.io);
	reactor_free(r);
}
END_TEST

START_TEST(test_close_gives_the_other_end_hangup_eof_and_epipe)
{
	struct reactor *r = new_default(1);
	struct seen b;
	int h[2];
	char buf[8];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	seen_start(r, &b, h[1]);
	run_quiet(r);
	seen_reset(&b);
	ck_assert_int_eq(reactor_write(r, h[0], "ab", 2), 2);
	ck_assert_int_eq(reactor_close(r, h[0]), 0);
	ck_assert_int_eq(reactor_close(r, h[0]), -EBADF);
	run_quiet(r);
	ck_assert_uint_ne(b.events & REACTOR_HANGUP, 0);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), 2);
	ck_assert_int_eq(reactor_read(r, h[1], buf, sizeof(buf)), 0);
	ck_assert_int_eq(reactor_write(r, h[1], "x", 1), -EPIPE);
	/* A watched handle cannot be closed. */
	ck_assert_int_eq(reactor_close(r, h[1]), -EBUSY);
	reactor_io_stop(r, &b.io);
	ck_assert_int_eq(reactor_close(r, h[1]), 0);
	reactor_free(r);
}
END_TEST

/* ---- faults, each on its own --------------------------------------------- */

START_TEST(test_short_io_moves_fewer_bytes_than_it_could)
{
	struct sim_config c;
	struct reactor *r;
	unsigned char out[1000], in[1000];
	size_t queued = 0, got = 0;
	int h[2];
	ssize_t n;

	sim_config_default(&c, 8);
	c.short_io = 1000;
	r = new_sim(&c);
	make_script(out, sizeof(out), 1);
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	while (queued < sizeof(out)) {
		size_t want = sizeof(out) - queued;
		n = reactor_write(r, h[0], out + queued, want);
		ck_assert_int_gt(n, 0);
		if (want > 1)
			ck_assert_int_lt(n, (ssize_t)want);
		queued += (size_t)n;
	}
	while (got < queued) {
		size_t avail = queued - got;
		n = reactor_read(r, h[1], in + got, sizeof(in) - got);
		ck_assert_int_gt(n, 0);
		if (avail > 1)
			ck_assert_int_lt(n, (ssize_t)avail);
		got += (size_t)n;
	}
	ck_assert_int_eq(memcmp(in, out, sizeof(out)), 0);
	reactor_free(r);
}
END_TEST

/* reactor_io_read() under sim is reactor_read(): a short read here is a
 * fault that leaves data behind, so it must not stop the next read. */
START_TEST(test_io_read_reads_on_after_a_short_read)
{
	struct sim_config c;
	struct reactor *r;
	struct seen sn;
	unsigned char out[1000], in[1000];
	size_t queued = 0, got = 0;
	int h[2];
	ssize_t n;

	sim_config_default(&c, 9);
	c.short_io = 1000;
	r = new_sim(&c);
	make_script(out, sizeof(out), 2);
	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	seen_start(r, &sn, h[1]);
	while (queued < sizeof(out)) {
		n = reactor_write(r, h[0], out + queued, sizeof(out) - queued);
		ck_assert_int_gt(n, 0);
		queued += (size_t)n;
	}
	while (got < queued) {          /* no edge needed between reads */
		n = reactor_io_read(r, &sn.io, in + got, sizeof(in) - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_int_eq(memcmp(in, out, sizeof(out)), 0);
	ck_assert_int_eq(reactor_io_read(r, &sn.io, in, sizeof(in)), -EAGAIN);
	reactor_io_stop(r, &sn.io);
	reactor_close(r, h[0]);
	reactor_close(r, h[1]);
	reactor_free(r);
}
END_TEST

/* With every read and write failing at random, the handle still gets an
 * edge after each -EAGAIN: no wake-up is lost. */
START_TEST(test_eagain_fault_returns_eagain_and_an_edge_still_arrives)
{
	struct sim_config c;
	struct reactor *r;
	struct sim_peer *p;
	struct seen s;
	uint16_t port;
	int l, h;
	char buf[16];

	sim_config_default(&c, 4);
	c.eagain = 1000;
	r = new_sim(&c);
	l = listen_any(r, &port);
	p = sim_peer_connect(r, port, "hello", 5, 0);
	run_quiet(r);
	ck_assert_uint_eq(sim_peer_sent(p), 5);
	h = reactor_accept(r, l);
	ck_assert_int_ge(h, 0);
	seen_start(r, &s, h);
	run_quiet(r);
	for (int i = 0; i < 3; i++) {
		seen_reset(&s);
		ck_assert_int_eq(reactor_read(r, h, buf, sizeof(buf)), -EAGAIN);
		ck_assert_int_eq(reactor_poll(r, -1), 1);
		ck_assert_int_eq(s.calls, 1);
		ck_assert_uint_ne(s.last & REACTOR_READABLE, 0);

		seen_reset(&s);
		ck_assert_int_eq(reactor_write(r, h, "x", 1), -EAGAIN);
		ck_assert_int_eq(reactor_poll(r, -1), 1);
		ck_assert_int_eq(s.calls, 1);
		ck_assert_uint_ne(s.last & REACTOR_WRITABLE, 0);
	}
	reactor_io_stop(r, &s.io);
	reactor_free(r);
}
END_TEST

/* How long after a write its readable edge comes, in virtual time. */
static uint64_t edge_time_after_write(const struct sim_config *c)
{
	struct reactor *r = new_sim(c);
	struct seen s;
	uint64_t at, written;
	int h[2];

	ck_assert_int_eq(sim_stream_pair(r, h), 0);
	seen_start(r, &s, h[1]);
	run_quiet(r); /* its first edge: the end is writable at once */
	seen_reset(&s);
	written = reactor_now(r);
	ck_assert_int_eq(reactor_write(r, h[0], "x", 1), 1);
	run_quiet(r);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(s.last, REACTOR_READABLE);
	at = s.at - written;
	reactor_io_stop(r, &s.io);
	reactor_free(r);
	return at;
}

START_TEST(test_delay_fault_postpones_delivery_in_virtual_time)
{
	struct sim_config c;
	uint64_t at;

	sim_config_default(&c, 6);
	ck_assert_uint_eq(edge_time_after_write(&c), 0);
	c.delay = 1000;
	c.max_delay_ns = 1 * MS;
	at = edge_time_after_write(&c);
	ck_assert_uint_gt(at, 0);
	ck_assert_uint_le(at, 1 * MS);
}
END_TEST

/* A reader server for one connection: reads until end of stream or an
 * error, then closes; records what it saw. */
struct reader {
	struct reactor_io io;   /* the connection */
	struct reactor_io lio;  /* the listener */
	struct reactor *r;
	int listener, handle;
	unsigned events;
	size_t bytes;
	int result;             /* 0 at end of stream, or the read's error */
	bool done;
};

static void reader_cb(struct reactor_io *io, unsigned events)
{
	struct reader *rd = (struct reader *)io;
	char buf[64];
	ssize_t n;

	rd->events |= events;
	while ((n = reactor_read(rd->r, rd->handle, buf, sizeof(buf))) > 0)
		rd->bytes += (size_t)n;
	if (n == -EAGAIN)
		return;
	rd->result = (int)n;
	rd->done = true;
	reactor_io_stop(rd->r, &rd->io);
	ck_assert_int_eq(reactor_close(rd->r, rd->handle), 0);
}

static void reader_listener_cb(struct reactor_io *io, unsigned events)
{
	struct reader *rd = (struct reader *)((char *)io -
					      offsetof(struct reader, lio));
	int h = reactor_accept(rd->r, rd->listener);

	if (h < 0)
		return;
	ck_assert_int_eq(rd->handle, -1); /* one connection only */
	rd->handle = h;
	ck_assert_int_eq(reactor_io_start(rd->r, &rd->io, h, reader_cb), 0);
}

static void reader_start(struct reader *rd, struct reactor *r, uint16_t *port)
{
	memset(rd, 0, sizeof(*rd));
	rd->r = r;
	rd->handle = -1;
	rd->listener = listen_any(r, port);
	ck_assert_int_eq(reactor_io_start(r, &rd->lio, rd->listener,
					  reader_listener_cb), 0);
}

static void reader_stop(struct reader *rd)
{
	reactor_io_stop(rd->r, &rd->lio);
	ck_assert_int_eq(reactor_close(rd->r, rd->listener), 0);
}

START_TEST(test_reset_fault_gives_connreset_on_read_and_a_hangup_edge)
{
	struct sim_config c;
	unsigned char script[300];

	make_script(script, sizeof(script), 3);
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct reader rd;
		struct reactor *r;
		struct sim_peer *p;
		uint16_t port;

		sim_config_default(&c, seed);
		c.reset = 1000;
		r = new_sim(&c);
		reader_start(&rd, r, &port);
		p = sim_peer_connect(r, port, script, sizeof(script), 0);
		run_quiet(r);
		ck_assert(rd.done);
		ck_assert_int_eq(rd.result, -ECONNRESET);
		ck_assert_uint_ne(rd.events & REACTOR_HANGUP, 0);
		ck_assert_uint_le(rd.bytes, sim_peer_sent(p));
		ck_assert(sim_peer_finished(p));
		ck_assert_int_eq(sim_peer_error(p), -ECONNRESET);
		reader_stop(&rd);
		reactor_free(r);
	}
}
END_TEST

START_TEST(test_early_eof_ends_the_stream_before_the_full_script)
{
	struct sim_config c;
	unsigned char script[300];

	make_script(script, sizeof(script), 4);
	for (uint64_t seed = 1; seed <= 8; seed++) {
		struct reader rd;
		struct reactor *r;
		struct sim_peer *p;
		uint16_t port;

		sim_config_default(&c, seed);
		c.early_eof = 1000;
		r = new_sim(&c);
		reader_start(&rd, r, &port);
		p = sim_peer_connect(r, port, script, sizeof(script),
				     SIM_PEER_HALF_CLOSE);
		run_quiet(r);
		ck_assert(rd.done);
		ck_assert_int_eq(rd.result, 0);
		ck_assert_uint_lt(rd.bytes, sizeof(script));
		ck_assert_uint_eq(rd.bytes, sim_peer_sent(p));
		ck_assert(sim_peer_finished(p));
		ck_assert_int_eq(sim_peer_error(p), 0);
		reader_stop(&rd);
		reactor_free(r);
	}
}
END_TEST

/* Without faults, a half-closing peer's whole script reaches the reader. */
START_TEST(test_peer_sends_whole_script_then_half_closes)
{
	unsigned char script[5000];
	struct reader rd;
	struct reactor *r = new_default(12);
	struct sim_peer *p;
	uint16_t port;

	make_script(script, sizeof(script), 5);
	reader_start(&rd, r, &port);
	p = sim_peer_connect(r, port, script, sizeof(script),
			     SIM_PEER_HALF_CLOSE);
	memset(script, 0, sizeof(script)); /* the peer has its own copy */
	run_quiet(r);
	ck_assert(rd.done);
	ck_assert_int_eq(rd.result, 0);
	ck_assert_uint_eq(rd.bytes, sizeof(script));
	ck_assert_uint_eq(sim_peer_sent(p), sizeof(script));
	ck_assert(sim_peer_finished(p));
	ck_assert_int_eq(sim_peer_error(p), 0);
	reader_stop(&rd);
	reactor_free(r);
}
END_TEST

START_TEST(test_reset_at_end_resets_after_the_whole_script)
{
	unsigned char script[100];
	struct reader rd;
	struct reactor *r = new_default(13);
	struct sim_peer *p;
	uint16_t port;

	make_script(script, sizeof(script), 6);
	reader_start(&rd, r, &port);
	p = sim_peer_connect(r, port, script, sizeof(script),
			     SIM_PEER_RESET_AT_END);
	run_quiet(r);
	ck_assert_uint_eq(sim_peer_sent(p), sizeof(script));
	ck_assert(sim_peer_finished(p));
	ck_assert_int_eq(sim_peer_error(p), -ECONNRESET);
	ck_assert(rd.done);
	ck_assert_int_eq(rd.result, -ECONNRESET);
	reader_stop(&rd);
	reactor_free(r);
}
END_TEST

/* Accept a peer's connection on a fresh world and watch it. */
static int accept_one(struct reactor *r, int l, struct seen *s)
{
	int h;

	run_quiet(r);
	h = reactor_accept(r, l);
	ck_assert_int_ge(h, 0);
	seen_start(r, s, h);
	run_quiet(r); /* the edge io_start reports for a ready handle */
	seen_reset(s);
	return h;
}

START_TEST(test_full_stream_gives_eagain_then_writable_edge_once_peer_drains)
{
	struct sim_config c;
	struct reactor *r;
	struct sim_peer *p;
	struct seen s;
	unsigned char out[100];
	uint16_t port;
	size_t got;
	int l, h;

	sim_config_default(&c, 9);
	c.stream_capacity = 16;
	r = new_sim(&c);
	make_script(out, sizeof(out), 7);
	l = listen_any(r, &port);
	p = sim_peer_connect(r, port, NULL, 0, 0);
	h = accept_one(r, l, &s);
	ck_assert_int_eq(reactor_write(r, h, out, sizeof(out)), 16);
	ck_assert_int_eq(reactor_write(r, h, out + 16, sizeof(out) - 16),
			 -EAGAIN);
	run_quiet(r);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(s.last, REACTOR_WRITABLE);
	ck_assert_int_eq(memcmp(sim_peer_received(p, &got), out, 16), 0);
	ck_assert_uint_eq(got, 16);
	ck_assert_int_eq(reactor_write(r, h, out + 16, sizeof(out) - 16), 16);
	reactor_io_stop(r, &s.io);
	reactor_free(r);
}
END_TEST

START_TEST(test_peer_that_never_reads_backs_up_the_engine_writes)
{
	struct sim_config c;
	struct reactor *r;
	struct sim_peer *p;
	struct seen s;
	unsigned char out[100] = { 0 };
	uint16_t port;
	size_t got;
	int l, h;

	sim_config_default(&c, 9);
	c.stream_capacity = 16;
	r = new_sim(&c);
	l = listen_any(r, &port);
	p = sim_peer_connect(r, port, NULL, 0, SIM_PEER_NO_READ);
	h = accept_one(r, l, &s);
	ck_assert_int_eq(reactor_write(r, h, out, sizeof(out)), 16);
	ck_assert_int_eq(reactor_write(r, h, out, sizeof(out)), -EAGAIN);
	run_quiet(r);
	ck_assert_int_eq(s.calls, 0);
	sim_peer_received(p, &got);
	ck_assert_uint_eq(got, 0);
	/* It notices the close, though. */
	reactor_io_stop(r, &s.io);
	ck_assert_int_eq(reactor_close(r, h), 0);
	run_quiet(r);
	ck_assert(sim_peer_finished(p));
	reactor_free(r);
}
END_TEST

/* ---- the echo server under faults ---------------------------------------- */

START_TEST(test_echo_returns_every_byte_under_io_faults)
{
	for (uint64_t seed = 1; seed <= 10; seed++) {
		struct sim_config c;
		struct world w;

		sim_config_default(&c, seed);
		c.short_io = 300;
		c.eagain = 200;
		c.delay = 200;
		/* Small and odd: writes back up, the queues wrap around. */
		c.stream_capacity = 100 + 37 * seed;
		world_start(&w, &c);
		run_quiet(w.r);
		world_check(&w, true);
		ck_assert_uint_eq(w.e.accepted, NPEERS);
		ck_assert_uint_eq(w.e.closed, NPEERS);
		world_end(&w);
	}
}
END_TEST

START_TEST(test_echo_under_every_fault_returns_a_prefix_of_each_script)
{
	size_t compared = 0;
	unsigned resets = 0;

	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct sim_config c;
		struct world w;

		sim_config_faulty(&c, seed);
		world_start(&w, &c);
		run_quiet(w.r);
		compared += world_check(&w, false);
		for (int i = 0; i < NPEERS; i++)
			resets += sim_peer_error(w.peers[i]) != 0;
		world_end(&w);
	}
	ck_assert_uint_gt(compared, 0);
	ck_assert_uint_gt(resets, 0); /* the faults did happen */
}
END_TEST

/* ---- listen, accept, connect --------------------------------------------- */

START_TEST(test_connect_to_a_listener_completes_and_is_accepted)
{
	struct reactor *r = new_default(2);
	struct seen s;
	uint16_t port;
	int l = listen_any(r, &port), h, a;
	char buf[8];

	h = reactor_connect(r, "127.0.0.1", port);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(reactor_connect_result(r, h), -EINPROGRESS);
	ck_assert_int_eq(reactor_write(r, h, "x", 1), -EAGAIN);
	ck_assert_int_eq(reactor_accept(r, l), -EAGAIN); /* not yet */
	seen_start(r, &s, h);
	run_quiet(r);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_eq(s.last, REACTOR_WRITABLE);
	ck_assert_int_eq(reactor_connect_result(r, h), 0);
	a = reactor_accept(r, l);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(reactor_local_port(r, a), port);
	ck_assert_int_gt(reactor_local_port(r, h), 0);
	ck_assert_int_eq(reactor_write(r, h, "ping", 4), 4);
	ck_assert_int_eq(reactor_read(r, a, buf, sizeof(buf)), 4);
	ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
	reactor_io_stop(r, &s.io);
	reactor_free(r);
}
END_TEST

START_TEST(test_connect_to_a_port_with_no_listener_is_refused)
{
	struct reactor *r = new_default(2);
	struct seen s;
	int h = reactor_connect(r, "127.0.0.1", 7);
	char buf[4];

	ck_assert_int_ge(h, 0);
	seen_start(r, &s, h);
	run_quiet(r);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_uint_ne(s.last & REACTOR_WRITABLE, 0);
	ck_assert_uint_ne(s.last & REACTOR_HANGUP, 0);
	ck_assert_int_eq(reactor_connect_result(r, h), -ECONNREFUSED);
	ck_assert_int_eq(reactor_read(r, h, buf, sizeof(buf)), -ECONNREFUSED);
	reactor_io_stop(r, &s.io);
	ck_assert_int_eq(reactor_close(r, h), 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_peer_connect_to_a_port_with_no_listener_is_refused)
{
	struct reactor *r = new_default(2);
	struct sim_peer *p = sim_peer_connect(r, 7, "x", 1, 0);

	ck_assert_ptr_nonnull(p);
	ck_assert(!sim_peer_finished(p));
	run_quiet(r);
	ck_assert(sim_peer_finished(p));
	ck_assert_int_eq(sim_peer_error(p), -ECONNREFUSED);
	ck_assert_uint_eq(sim_peer_sent(p), 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_listen_on_a_taken_port_says_eaddrinuse)
{
	struct reactor *r = new_default(2);
	int a, b, c;

	a = reactor_listen(r, "127.0.0.1", 8080, 16);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(reactor_local_port(r, a), 8080);
	ck_assert_int_eq(reactor_listen(r, "127.0.0.1", 8080, 16), -EADDRINUSE);
	b = reactor_listen(r, "127.0.0.1", 0, 16);
	c = reactor_listen(r, "127.0.0.1", 0, 16);
	ck_assert_int_ge(b, 0);
	ck_assert_int_ge(c, 0);
	ck_assert_int_gt(reactor_local_port(r, b), 0);
	ck_assert_int_ne(reactor_local_port(r, b), reactor_local_port(r, c));
	ck_assert_int_ne(reactor_local_port(r, b), 8080);
	/* Closed, the port is free again. */
	ck_assert_int_eq(reactor_close(r, a), 0);
	a = reactor_listen(r, "127.0.0.1", 8080, 16);
	ck_assert_int_ge(a, 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_max_handles_gives_emfile_on_accept_and_the_peer_sees_a_close)
{
	struct sim_config c;
	struct reactor *r;
	struct sim_peer *p[2];
	uint16_t port;
	int l, h, dropped = -1;
	size_t got;
	int pair[2];

	sim_config_default(&c, 10);
	c.max_handles = 2;
	r = new_sim(&c);
	l = listen_any(r, &port);
	p[0] = sim_peer_connect(r, port, "hi", 2, 0);
	p[1] = sim_peer_connect(r, port, "hi", 2, 0);
	run_quiet(r);
	h = reactor_accept(r, l);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(reactor_accept(r, l), -EMFILE);
	ck_assert_int_eq(reactor_accept(r, l), -EAGAIN); /* not readable now */
	ck_assert_int_eq(sim_stream_pair(r, pair), -EMFILE);
	ck_assert_int_eq(reactor_connect(r, "127.0.0.1", port), -EMFILE);
	run_quiet(r);
	for (int i = 0; i < 2; i++)
		if (sim_peer_finished(p[i]))
			dropped = i;
	ck_assert_int_ge(dropped, 0);
	ck_assert(!sim_peer_finished(p[1 - dropped]));
	ck_assert_int_eq(sim_peer_error(p[dropped]), 0);
	sim_peer_received(p[dropped], &got);
	ck_assert_uint_eq(got, 0);
	reactor_free(r);
}
END_TEST

/* ---- in-memory files ----------------------------------------------------- */

START_TEST(test_file_write_read_and_size)
{
	struct reactor *r = new_default(1);
	const void *data;
	char buf[16];
	size_t len;
	int f;

	char src[] = "hello world";

	ck_assert_int_eq(sim_file_create(r, "/in", src, 11), 0);
	src[0] = 'J'; /* the file has its own copy */
	f = reactor_file_open(r, "/in", O_RDWR, 0);
	ck_assert_int_ge(f, 0);
	ck_assert_int_eq(reactor_file_size(r, f), 11);
	ck_assert_int_eq(reactor_file_pread(r, f, buf, 5, 6), 5);
	ck_assert_int_eq(memcmp(buf, "world", 5), 0);
	ck_assert_int_eq(reactor_file_pread(r, f, buf, sizeof(buf), 8), 3);
	ck_assert_int_eq(reactor_file_pread(r, f, buf, sizeof(buf), 11), 0);
	ck_assert_int_eq(reactor_file_pwrite(r, f, "HELLO", 5, 0), 5);
	ck_assert_int_eq(reactor_file_pwrite(r, f, "!", 1, 13), 1);
	ck_assert_int_eq(reactor_file_size(r, f), 14);
	data = sim_file_contents(r, "/in", &len);
	ck_assert_uint_eq(len, 14);
	ck_assert_int_eq(memcmp(data, "HELLO world\0\0!", 14), 0);
	ck_assert_int_eq(reactor_file_close(r, f), 0);
	ck_assert_int_eq(reactor_file_size(r, f), -EBADF);
	reactor_free(r);
}
END_TEST

START_TEST(test_file_open_flags_missing_create_trunc_and_access)
{
	struct reactor *r = new_default(1);
	struct reactor_io io = { 0 };
	char buf[4];
	size_t len;
	int f;

	ck_assert_int_eq(reactor_file_open(r, "/none", O_RDONLY, 0), -ENOENT);
	ck_assert_ptr_null(sim_file_contents(r, "/none", &len));
	f = reactor_file_open(r, "/new", O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(f, 0);
	ck_assert_ptr_nonnull(sim_file_contents(r, "/new", &len));
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(reactor_file_pwrite(r, f, "abc", 3, 0), 3);
	ck_assert_int_eq(reactor_file_pread(r, f, buf, 3, 0), -EBADF);
	ck_assert_int_eq(reactor_io_start(r, &io, f, NULL), -EPERM);
	ck_assert_int_eq(reactor_file_close(r, f), 0);
	ck_assert_int_eq(reactor_file_open(r, "/new",
					   O_RDONLY | O_CREAT | O_EXCL, 0644),
			 -EEXIST);
	f = reactor_file_open(r, "/new", O_RDONLY, 0);
	ck_assert_int_eq(reactor_file_pwrite(r, f, "x", 1, 0), -EBADF);
	ck_assert_int_eq(reactor_file_size(r, f), 3);
	ck_assert_int_eq(reactor_file_close(r, f), 0);
	f = reactor_file_open(r, "/new", O_RDWR | O_TRUNC, 0);
	ck_assert_int_eq(reactor_file_size(r, f), 0);
	ck_assert_int_eq(reactor_file_close(r, f), 0);
	/* sim_file_create replaces the contents. */
	ck_assert_int_eq(sim_file_create(r, "/new", "xy", 2), 0);
	ck_assert_int_eq(memcmp(sim_file_contents(r, "/new", &len), "xy", 2),
			 0);
	ck_assert_uint_eq(len, 2);
	reactor_free(r);
}
END_TEST

/* ---- configurations and freeing ------------------------------------------ */

START_TEST(test_default_config_has_no_faults_and_faulty_has_them_all)
{
	struct sim_config d, f;

	sim_config_default(&d, 77);
	ck_assert_uint_eq(d.seed, 77);
	ck_assert_uint_eq(d.short_io + d.eagain + d.delay + d.reset +
			  d.early_eof, 0);
	ck_assert_uint_eq(d.stream_capacity, 64 * 1024);
	ck_assert_uint_eq(d.max_delay_ns, 1 * MS);
	ck_assert_uint_eq(d.max_handles, 4096);
	sim_config_faulty(&f, 77);
	ck_assert_uint_eq(f.seed, 77);
	ck_assert_uint_gt(f.short_io, 0);
	ck_assert_uint_gt(f.eagain, 0);
	ck_assert_uint_gt(f.delay, 0);
	ck_assert_uint_gt(f.reset, 0);
	ck_assert_uint_gt(f.early_eof, 0);
	ck_assert_uint_lt(f.short_io, 1000);
	ck_assert_uint_eq(f.stream_capacity, d.stream_capacity);
}
END_TEST

/* Left open at reactor_free(): connected and refused peers, accepted and
 * pending connections, a connect still in progress, a stream pair, a
 * listener, an open file.  The simulation frees all of it (the sanitizer
 * build's LeakSanitizer checks). */
START_TEST(test_free_with_peers_still_connected_frees_everything)
{
	struct sim_config c;
	struct reactor *r;
	unsigned char script[3000];
	uint16_t port;
	int l, h, pair[2], accepted = 0;
	ssize_t n;
	struct counted_call call = { 0 };

	sim_config_faulty(&c, 21);
	c.stream_capacity = 512;
	r = new_sim(&c);
	make_script(script, sizeof(script), 8);
	l = listen_any(r, &port);
	sim_peer_connect(r, port, script, sizeof(script), SIM_PEER_NO_READ);
	sim_peer_connect(r, port, script, sizeof(script), SIM_PEER_HALF_CLOSE);
	sim_peer_connect(r, port, script, 10, 0);
	sim_peer_connect(r, 9, script, 10, 0);
	run_quiet(r);
	while ((h = reactor_accept(r, l)) >= 0) {
		n = reactor_write(r, h, "abc", 3); /* for the peers to read */
		ck_assert(n > 0 || n == -EAGAIN);
		accepted++;
	}
	ck_assert_int_eq(h, -EAGAIN);
	ck_assert_int_gt(accepted, 0);
	run_quiet(r);
	sim_peer_connect(r, port, script, 100, 0);
	ck_assert_int_ge(reactor_connect(r, "127.0.0.1", port), 0);
	ck_assert_int_ge(reactor_connect(r, "127.0.0.1", 9), 0);
	ck_assert_int_eq(sim_stream_pair(r, pair), 0);
	n = reactor_write(r, pair[0], "x", 1);
	ck_assert(n == 1 || n == -EAGAIN);
	ck_assert_int_eq(sim_file_create(r, "/f", script, 100), 0);
	ck_assert_int_ge(reactor_file_open(r, "/f", O_RDONLY, 0), 0);
	call.r = r;
	sim_call_schedule(r, &call.call, counted_fn, "left");
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(reactor_poll(r, 0), 0);
	reactor_free(r);
}
END_TEST

START_TEST(test_new_sim_refuses_a_zero_stream_capacity)
{
	struct sim_config c;

	sim_config_default(&c, 1);
	c.stream_capacity = 0;
	ck_assert_ptr_null(reactor_new_sim(&c));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A handle is the lowest free one, as a file descriptor is; finding it
 * must not cost a look at every handle already open, or a simulation of a
 * million connections takes a million squared. */
START_TEST(test_opening_a_handle_costs_the_same_however_many_are_open)
{
	enum { PAIRS = 4000 };
	struct sim_config c;
	struct reactor *r;
	static int h[PAIRS][2];
	uint64_t probes;

	sim_config_default(&c, 1);
	c.max_handles = 2 * PAIRS + 2;
	r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(r);
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(sim_stream_pair(r, h[i]), 0);
		ck_assert_int_eq(h[i][0], 2 * i);       /* the lowest free */
		ck_assert_int_eq(h[i][1], 2 * i + 1);
	}
	probes = sim_handle_probes(r);
	ck_assert_msg(probes <= 4 * 2 * PAIRS, "%llu probes for %d handles",
		      (unsigned long long)probes, 2 * PAIRS);
	/* Freed handles are taken again, lowest first. */
	ck_assert_int_eq(reactor_close(r, h[10][1]), 0);
	ck_assert_int_eq(reactor_close(r, h[3][0]), 0);
	probes = sim_handle_probes(r);
	ck_assert_int_eq(sim_stream_pair(r, h[3]), 0);
	ck_assert_int_eq(h[3][0], 6);
	ck_assert_int_eq(h[3][1], 21);
	ck_assert_uint_le(sim_handle_probes(r) - probes, 64);
	for (int i = 0; i < PAIRS; i++) {
		if (i != 10)
			reactor_close(r, h[i][1]);
		reactor_close(r, h[i][0]);
	}
	reactor_free(r);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("sim");
	TCase *tc;

	tc = tcase_create("determinism");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_same_seed_gives_same_trace_hash_and_step_count);
	tcase_add_test(tc, test_same_seed_writes_identical_trace_files);
	tcase_add_test(tc, test_different_seeds_give_different_traces);
	tcase_add_test(tc, test_trace_to_null_stops_the_trace_file_not_the_hash);
	tcase_add_test(tc, test_run_stopped_at_step_k_replays_to_the_same_state);
	tcase_add_test(tc, test_hook_that_does_nothing_leaves_the_trace_unchanged);
	suite_add_tcase(s, tc);

	tc = tcase_create("steps");
	tcase_add_test(tc, test_sim_call_runs_at_a_later_step_never_inside_schedule);
	tcase_add_test(tc, test_cancelled_sim_call_never_runs);
	tcase_add_test(tc, test_hook_runs_before_step_k_and_what_it_cancels_never_runs);
	tcase_add_test(tc, test_second_hook_replaces_the_first);
	tcase_add_test(tc, test_hook_cleared_with_step_zero_never_runs);
	tcase_add_test(tc, test_ten_second_timer_fires_at_virtual_ten_seconds);
	tcase_add_test(tc, test_timer_with_the_longest_delay_never_fires);
	tcase_add_test(tc, test_timers_and_events_interleave_by_due_time);
	tcase_add_test(tc, test_a_batch_delivers_the_events_due_close_together_in_one_poll);
	tcase_add_test(tc, test_a_batch_stops_before_a_hooked_step);
	tcase_add_test(tc, test_poll_on_a_quiescent_world_says_edeadlk);
	tcase_add_test(tc, test_poll_timeout_lets_virtual_time_pass_up_to_the_next_event);
	tcase_add_test(tc, test_stop_request_makes_the_next_poll_return_at_once);
	tcase_add_test(tc, test_async_sends_coalesce_into_one_step);
	tcase_add_test(tc, test_peer_action_is_a_step_that_returns_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("edges");
	tcase_add_test(tc, test_io_stop_removes_a_pending_edge);
	tcase_add_test(tc, test_io_start_reports_a_handle_that_is_already_ready);
	tcase_add_test(tc, test_half_close_gives_end_of_stream_after_the_data);
	tcase_add_test(tc, test_close_gives_the_other_end_hangup_eof_and_epipe);
	suite_add_tcase(s, tc);

	tc = tcase_create("faults");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_short_io_moves_fewer_bytes_than_it_could);
	tcase_add_test(tc, test_io_read_reads_on_after_a_short_read);
	tcase_add_test(tc, test_eagain_fault_returns_eagain_and_an_edge_still_arrives);
	tcase_add_test(tc, test_delay_fault_postpones_delivery_in_virtual_time);
	tcase_add_test(tc, test_reset_fault_gives_connreset_on_read_and_a_hangup_edge);
	tcase_add_test(tc, test_early_eof_ends_the_stream_before_the_full_script);
	tcase_add_test(tc, test_peer_sends_whole_script_then_half_closes);
	tcase_add_test(tc, test_reset_at_end_resets_after_the_whole_script);
	tcase_add_test(tc, test_full_stream_gives_eagain_then_writable_edge_once_peer_drains);
	tcase_add_test(tc, test_peer_that_never_reads_backs_up_the_engine_writes);
	tcase_add_test(tc, test_echo_returns_every_byte_under_io_faults);
	tcase_add_test(tc, test_echo_under_every_fault_returns_a_prefix_of_each_script);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_add_test(tc, test_connect_to_a_listener_completes_and_is_accepted);
	tcase_add_test(tc, test_connect_to_a_port_with_no_listener_is_refused);
	tcase_add_test(tc, test_peer_connect_to_a_port_with_no_listener_is_refused);
	tcase_add_test(tc, test_listen_on_a_taken_port_says_eaddrinuse);
	tcase_add_test(tc, test_max_handles_gives_emfile_on_accept_and_the_peer_sees_a_close);
	suite_add_tcase(s, tc);

	tc = tcase_create("handles");
	tcase_add_test(tc, test_opening_a_handle_costs_the_same_however_many_are_open);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, test_file_write_read_and_size);
	tcase_add_test(tc, test_file_open_flags_missing_create_trunc_and_access);
	suite_add_tcase(s, tc);

	tc = tcase_create("life");
	tcase_add_test(tc, test_default_config_has_no_faults_and_faulty_has_them_all);
	tcase_add_test(tc, test_free_with_peers_still_connected_frees_everything);
	tcase_add_test(tc, test_new_sim_refuses_a_zero_stream_capacity);
	suite_add_tcase(s, tc);

	return s;
}

#include "testutil.h"
