/* test_completion.c: the completion interface (shared/completion.h), on both
 * backends: the simulated kernel always, io_uring where a ring can be made
 * (a test that needs one says why it is skipped, in one line, and passes).
 *
 * Every test counts the completions of every op it submitted, and the
 * world's close asserts one final completion each: rule 2 is checked
 * everywhere, not only in its own test.
 */
#include "config.h"

#include "completion.h"
#include "reactor.h"
#include "sim.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum backend { SIM, URING };

enum { LOG_MAX = 8192 };

struct world {
	enum backend kind;
	struct reactor *r;            /* sim only */
	struct completion *q;
	uint64_t next_ud;             /* user_data of the last op tracked */
	struct completion_event log[LOG_MAX];
	size_t nlog;
};

/* Open a world on backend kind.  false (and one line saying why) if kind is
 * uring and no ring can be made here: the caller skips the test. */
static bool world_open(struct world *w, enum backend kind, uint64_t seed,
		       bool faulty)
{
	char why[COMPLETION_REASON_MAX];
	struct sim_config cfg;
	int err;

	memset(w, 0, sizeof *w);
	w->kind = kind;
	if (kind == SIM) {
		if (faulty)
			sim_config_faulty(&cfg, seed);
		else
			sim_config_default(&cfg, seed);
		w->r = reactor_new_sim(&cfg);
		ck_assert_ptr_nonnull(w->r);
		w->q = completion_new_sim(w->r);
		ck_assert_ptr_nonnull(w->q);
		return true;
	}
	err = completion_new_uring(64, &w->q, why, sizeof why);
	if (err < 0) {
		printf("skipped on uring: %s\n", why);
		return false;
	}
	return true;
}

/* Give op a fresh user_data; its completions are counted from now on. */
static struct completion_op *track(struct world *w, struct completion_op *op)
{
	memset(op, 0, sizeof *op);
	op->user_data = ++w->next_ud;
	return op;
}

static unsigned finals(const struct world *w, uint64_t ud)
{
	unsigned n = 0;

	for (size_t i = 0; i < w->nlog; i++)
		if (w->log[i].user_data == ud &&
		    !(w->log[i].flags & COMPLETION_MORE))
			n++;
	return n;
}

/* One poll, its completions logged.  Returns how many, or -EDEADLK (sim,
 * nothing can happen any more). */
static int world_poll(struct world *w, int64_t timeout_ns)
{
	struct completion_event ev[32];
	int n = completion_poll(w->q, timeout_ns, ev, 32);

	if (n == -EDEADLK)
		return n;
	ck_assert_msg(n >= 0, "completion_poll: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		ck_assert_uint_lt(w->nlog, LOG_MAX);
		w->log[w->nlog++] = ev[i];
	}
	return n;
}

/* Poll until op's final completion is logged; return it. */
static struct completion_event wait_final(struct world *w,
					  const struct completion_op *op)
{
	uint64_t ud = op->user_data;

	int limit = w->kind == SIM ? 200000 : 10; /* uring: 2 s each */

	for (int tries = 0; tries < limit; tries++) {
		for (size_t i = 0; i < w->nlog; i++)
			if (w->log[i].user_data == ud &&
			    !(w->log[i].flags & COMPLETION_MORE))
				return w->log[i];
		if (world_poll(w, w->kind == SIM ? -1 : 2000000000) ==
		    -EDEADLK)
			ck_abort_msg("the world went quiet before op %llu "
				     "completed", (unsigned long long)ud);
	}
	ck_abort_msg("op %llu never completed", (unsigned long long)ud);
	return w->log[0];
}

/* Close the world; every tracked op completed exactly once, and nothing
 * after its final completion. */
static void world_close(struct world *w)
{
	for (uint64_t ud = 1; ud <= w->next_ud; ud++) {
		bool final_seen = false;

		for (size_t i = 0; i < w->nlog; i++) {
			if (w->log[i].user_data != ud)
				continue;
			ck_assert_msg(!final_seen, "op %llu completed after "
				      "its final completion",
				      (unsigned long long)ud);
			final_seen = !(w->log[i].flags & COMPLETION_MORE);
		}
		ck_assert_msg(final_seen, "op %llu never completed finally",
			      (unsigned long long)ud);
	}
	completion_free(w->q);
	if (w->r != NULL)
		reactor_free(w->r);
}

/* Two connected stream handles, made through listen, accept and connect. */
static void connect_pair(struct world *w, int *client, int *server)
{
	struct completion_op acc, con;
	struct sockaddr_in to;
	struct completion_event ev;
	int l, port;

	l = completion_listen(w->q, "127.0.0.1", 0, 16);
	ck_assert_int_ge(l, 0);
	port = completion_local_port(w->q, l);
	ck_assert_int_gt(port, 0);
	memset(&to, 0, sizeof to);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(completion_accept(w->q, track(w, &acc), l), 0);
	ck_assert_int_eq(completion_connect(w->q, track(w, &con), &to), 0);
	ev = wait_final(w, &con);
	ck_assert_int_ge(ev.result, 0);
	*client = (int)ev.result;
	ev = wait_final(w, &acc);
	ck_assert_int_ge(ev.result, 0);
	*server = (int)ev.result;
	ck_assert_int_eq(completion_close(w->q, l), 0);
}

static void send_all(struct world *w, int h, const void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		struct completion_op op;
		struct completion_event ev;

		ck_assert_int_eq(completion_send(w->q, track(w, &op), h,
						 (const char *)buf + off,
						 len - off), 0);
		ev = wait_final(w, &op);
		ck_assert_int_gt(ev.result, 0);
		off += (size_t)ev.result;
	}
}

static void recv_exact(struct world *w, int h, void *buf, size_t len)
{
	for (size_t off = 0; off < len;) {
		struct completion_op op;
		struct completion_event ev;

		ck_assert_int_eq(completion_recv(w->q, track(w, &op), h,
						 (char *)buf + off,
						 len - off), 0);
		ev = wait_final(w, &op);
		ck_assert_int_gt(ev.result, 0);
		off += (size_t)ev.result;
	}
}

static void fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 31 + seed);
}

/* ---- echo through accept, recv and send ---------------------------------- */

static void echo_on(enum backend kind, uint64_t seed, bool faulty)
{
	struct world w;
	unsigned char msg[20000], back[20000], srv[20000];
	int c, s;

	if (!world_open(&w, kind, seed, faulty))
		return;
	connect_pair(&w, &c, &s);
	fill(msg, sizeof msg, (unsigned)seed);
	send_all(&w, c, msg, sizeof msg);
	recv_exact(&w, s, srv, sizeof srv);
	send_all(&w, s, srv, sizeof srv);
	recv_exact(&w, c, back, sizeof back);
	ck_assert_mem_eq(back, msg, sizeof msg);
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
}

START_TEST(test_echo_through_accept_recv_send_sim)
{
	for (uint64_t seed = 1; seed <= 8; seed++)
		echo_on(SIM, seed, seed > 4);
}
END_TEST

START_TEST(test_echo_through_accept_recv_send_uring)
{
	echo_on(URING, 0, false);
}
END_TEST

/* ---- files ---------------------------------------------------------------- */

static void file_on(enum backend kind)
{
	struct world w;
	struct completion_op op;
	struct completion_event ev;
	struct completion_stats st;
	unsigned char data[10000], got[10000];
	char path[64] = "/sim/file";
	int h;

	if (!world_open(&w, kind, 3, false))
		return;
	if (kind == SIM) {
		ck_assert_int_eq(sim_file_create(w.r, path, "", 0), 0);
	} else {
		int fd;

		strcpy(path, "/tmp/test_completion.XXXXXX");
		fd = mkstemp(path);
		ck_assert_int_ge(fd, 0);
		close(fd);
	}
	h = completion_file_open(w.q, path, O_RDWR, 0600);
	ck_assert_int_ge(h, 0);
	fill(data, sizeof data, 7);
	ck_assert_int_eq(completion_file_write(w.q, track(&w, &op), h, data,
					       sizeof data, 0), 0);
	ev = wait_final(&w, &op);
	ck_assert_int_eq(ev.result, sizeof data);
	ck_assert_int_eq(completion_file_read(w.q, track(&w, &op), h, got,
					      sizeof got, 100), 0);
	ev = wait_final(&w, &op);
	ck_assert_int_eq(ev.result, sizeof data - 100);
	ck_assert_mem_eq(got, data + 100, sizeof data - 100);
	/* at the end of the file a read says 0 */
	ck_assert_int_eq(completion_file_read(w.q, track(&w, &op), h, got,
					      sizeof got, sizeof data), 0);
	ck_assert_int_eq(wait_final(&w, &op).result, 0);
	/* the reads' bytes are counted, the write's are not */
	completion_get_stats(w.q, &st);
	ck_assert_uint_eq(st.file_read_bytes, sizeof data - 100);
	ck_assert_int_eq(completion_close(w.q, h), 0);
	if (kind == URING)
		unlink(path);
	world_close(&w);
}

START_TEST(test_file_write_then_read_back_sim)
{
	file_on(SIM);
}
END_TEST

START_TEST(test_file_write_then_read_back_uring)
{
	file_on(URING);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------- */

static void timeout_on(enum backend kind)
{
	struct world w;
	struct completion_op shortt, longt;
	struct completion_event ev;

	if (!world_open(&w, kind, 5, false))
		return;
	ck_assert_int_eq(completion_timeout(w.q, track(&w, &longt),
					    60ull * 1000000000u), 0);
	ck_assert_int_eq(completion_timeout(w.q, track(&w, &shortt), 1000000),
			 0);
	ev = wait_final(&w, &shortt);
	ck_assert_int_eq(ev.result, 0);
	ck_assert_uint_eq(finals(&w, longt.user_data), 0);
	if (kind == SIM)
		ck_assert_uint_ge(reactor_now(w.r), 1000000);
	ck_assert_int_eq(completion_cancel(w.q, &longt), 0);
	ck_assert_int_eq(completion_cancel(w.q, &longt), -EALREADY);
	ev = wait_final(&w, &longt);
	ck_assert_int_eq(ev.result, -ECANCELED);
	ck_assert_int_eq(completion_cancel(w.q, &longt), -ENOENT);
	if (kind == SIM)
		ck_assert_uint_lt(reactor_now(w.r), 60ull * 1000000000u);
	world_close(&w);
}

START_TEST(test_timeout_expires_or_is_cancelled_sim)
{
	timeout_on(SIM);
}
END_TEST

START_TEST(test_timeout_expires_or_is_cancelled_uring)
{
	timeout_on(URING);
}
END_TEST

/* ---- cancel ---------------------------------------------------------------- */

/* A recv with nothing to read, cancelled: one completion, -ECANCELED, and
 * nothing after it. */
static void cancel_pending_on(enum backend kind)
{
	struct world w;
	struct completion_op op;
	unsigned char buf[64];
	int c, s;

	if (!world_open(&w, kind, 11, false))
		return;
	connect_pair(&w, &c, &s);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), s, buf,
					 sizeof buf), 0);
	/* it stays pending: nothing was sent */
	for (int i = 0; i < 3; i++)
		world_poll(&w, kind == SIM ? 0 : 10000000);
	ck_assert_uint_eq(finals(&w, op.user_data), 0);
	ck_assert(op.in_flight);
	ck_assert_int_eq(completion_cancel(w.q, &op), 0);
	ck_assert_int_eq(wait_final(&w, &op).result, -ECANCELED);
	ck_assert(!op.in_flight);
	for (int i = 0; i < 3; i++)
		world_poll(&w, kind == SIM ? 0 : 10000000);
	ck_assert_uint_eq(finals(&w, op.user_data), 1);
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
}

START_TEST(test_cancel_of_pending_recv_completes_once_with_ECANCELED_sim)
{
	cancel_pending_on(SIM);
}
END_TEST

START_TEST(test_cancel_of_pending_recv_completes_once_with_ECANCELED_uring)
{
	cancel_pending_on(URING);
}
END_TEST

/* The bytes are there before the recv is submitted, and the cancel goes in
 * right behind it.  Under io_uring the recv is done inside the same enter,
 * before the cancel is looked at: the cancel loses, always.  Under sim the
 * scheduler picks the order, seed by seed: both must be seen, and each
 * outcome must be whole (the bytes, or -ECANCELED and the bytes still in
 * the stream). */
static int race_once(enum backend kind, uint64_t seed)
{
	struct world w;
	struct completion_op op;
	struct completion_event ev;
	unsigned char buf[16], rest[5];
	int c, s, outcome;

	if (!world_open(&w, kind, seed, false))
		return 0;
	connect_pair(&w, &c, &s);
	send_all(&w, c, "hello", 5);
	if (kind == URING)
		usleep(10000); /* loopback delivers at once; be sure */
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), s, buf,
					 sizeof buf), 0);
	ck_assert_int_eq(completion_cancel(w.q, &op), 0);
	ev = wait_final(&w, &op);
	if (ev.result == -ECANCELED) {
		recv_exact(&w, s, rest, 5);
		ck_assert_mem_eq(rest, "hello", 5);
		outcome = -1;
	} else {
		ck_assert_int_eq(ev.result, 5);
		ck_assert_mem_eq(buf, "hello", 5);
		outcome = 1;
	}
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
	return outcome;
}

START_TEST(test_cancel_that_loses_the_race_completes_once_with_data_sim)
{
	unsigned won = 0, lost = 0;

	for (uint64_t seed = 1; seed <= 64; seed++) {
		int o = race_once(SIM, seed);

		ck_assert_int_eq(race_once(SIM, seed), o); /* replayable */
		if (o > 0)
			lost++;
		else
			won++;
	}
	ck_assert_uint_gt(lost, 0);
	ck_assert_uint_gt(won, 0);
}
END_TEST

START_TEST(test_cancel_that_loses_the_race_completes_once_with_data_uring)
{
	int o = race_once(URING, 0);

	ck_assert_int_ne(o, -1);
}
END_TEST

/* A file read with its cancel right behind it: the scheduler picks which
 * goes first, seed by seed.  A read that won the race read its bytes, and
 * the queue's file_read_bytes counts them; one cancelled in time counts
 * none. */
static bool file_read_race_once(uint64_t seed)
{
	struct world w;
	struct completion_op op;
	struct completion_event ev;
	struct completion_stats st;
	unsigned char data[3000], got[4096];
	int h;

	world_open(&w, SIM, seed, false);
	fill(data, sizeof data, (unsigned)seed);
	ck_assert_int_eq(sim_file_create(w.r, "/sim/in", data, sizeof data), 0);
	h = completion_file_open(w.q, "/sim/in", O_RDONLY, 0);
	ck_assert_int_ge(h, 0);
	ck_assert_int_eq(completion_file_read(w.q, track(&w, &op), h, got,
					      sizeof got, 0), 0);
	ck_assert_int_eq(completion_cancel(w.q, &op), 0);
	ev = wait_final(&w, &op);
	completion_get_stats(w.q, &st);
	if (ev.result == -ECANCELED) {
		ck_assert_uint_eq(st.file_read_bytes, 0);
	} else {
		ck_assert_int_eq(ev.result, sizeof data);
		ck_assert_mem_eq(got, data, sizeof data);
		ck_assert_uint_eq(st.file_read_bytes, sizeof data);
	}
	ck_assert_int_eq(completion_close(w.q, h), 0);
	world_close(&w);
	return ev.result > 0;
}

START_TEST(test_file_read_that_wins_the_race_against_its_cancel_counts_its_bytes_sim)
{
	unsigned won = 0, lost = 0;

	for (uint64_t seed = 1; seed <= 64; seed++) {
		if (file_read_race_once(seed))
			won++;
		else
			lost++;
	}
	ck_assert_uint_gt(won, 0);
	ck_assert_uint_gt(lost, 0);
}
END_TEST

/* ---- cancel at every step (sim) -------------------------------------------- */

struct at_step {
	struct completion *q;
	struct completion_op *op;
	int cancel_rc;
};

static void cancel_hook(void *arg)
{
	struct at_step *a = arg;

	a->cancel_rc = completion_cancel(a->q, a->op);
}

/* A stream pair, a send on one end and a recv on the other; with k > 0 the
 * recv is cancelled just before step k.  Returns the steps the run took;
 * *result is the recv's result. */
static uint64_t send_recv_cancelled_at(uint64_t seed, uint64_t k,
				       ssize_t *result, uint64_t *hash)
{
	struct world w;
	struct completion_op snd, rcv;
	struct at_step a;
	unsigned char buf[64];
	int h[2];
	uint64_t steps;

	world_open(&w, SIM, seed, true);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &rcv), h[1], buf,
					 sizeof buf), 0);
	ck_assert_int_eq(completion_send(w.q, track(&w, &snd), h[0], "ping",
					 4), 0);
	a.q = w.q;
	a.op = &rcv;
	a.cancel_rc = 1;
	if (k > 0)
		sim_at_step(w.r, k, cancel_hook, &a);
	*result = wait_final(&w, &rcv).result;
	wait_final(&w, &snd);
	if (*result > 0)
		ck_assert_mem_eq(buf, "ping", (size_t)*result);
	else
		ck_assert_int_eq(*result, -ECANCELED);
	if (a.cancel_rc != 1)
		ck_assert(a.cancel_rc == 0 || a.cancel_rc == -ENOENT);
	steps = sim_steps(w.r);
	*hash = sim_trace_hash(w.r);
	sim_at_step(w.r, 0, NULL, NULL);
	ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
	return steps;
}

START_TEST(test_cancel_at_every_step_completes_once_sim)
{
	unsigned cancelled = 0, data = 0;

	for (uint64_t seed = 1; seed <= 16; seed++) {
		ssize_t r, r2;
		uint64_t hash, hash2;
		uint64_t steps = send_recv_cancelled_at(seed, 0, &r, &hash);

		ck_assert_uint_eq(send_recv_cancelled_at(seed, 0, &r2, &hash2),
				  steps);
		ck_assert_uint_eq(hash2, hash);   /* the same trace */
		for (uint64_t k = 1; k <= steps + 1; k++) {
			send_recv_cancelled_at(seed, k, &r, &hash);
			if (r == -ECANCELED)
				cancelled++;
			else
				data++;
		}
	}
	ck_assert_uint_gt(cancelled, 0);
	ck_assert_uint_gt(data, 0);
}
END_TEST

/* ---- the strict kernel: ownership violations (sim) ------------------------- */

START_TEST(test_buffer_touched_while_owned_is_a_violation_sim)
{
	struct world w;
	struct completion_op op;
	unsigned char buf[32];
	int h[2];

	world_open(&w, SIM, 1, false);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), h[1], buf,
					 sizeof buf), 0);
	world_poll(&w, 0);
	ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	buf[3] = 1; /* the breach: the kernel owns it */
	ck_assert_uint_eq(completion_sim_check(w.q), 1);
	ck_assert_ptr_nonnull(strstr(completion_sim_last_violation(w.q),
				     "changed"));
	ck_assert_uint_eq(completion_sim_check(w.q), 0); /* counted once */
	ck_assert_int_eq(completion_cancel(w.q, &op), 0);
	wait_final(&w, &op);
	ck_assert_uint_eq(completion_sim_violations(w.q), 1);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
}
END_TEST

START_TEST(test_send_buffer_changed_while_owned_is_a_violation_sim)
{
	struct world w;
	struct completion_op op;
	char msg[8] = "abcdefg";
	int h[2];

	world_open(&w, SIM, 1, false);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_send(w.q, track(&w, &op), h[0], msg, 7),
			 0);
	msg[0] = 'X'; /* before the kernel took it */
	wait_final(&w, &op);
	ck_assert_uint_eq(completion_sim_violations(w.q), 1);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
}
END_TEST

START_TEST(test_buffer_freed_while_owned_is_a_violation_sim)
{
	struct world w;
	struct completion_op op;
	unsigned char *buf = malloc(256);
	int h[2];

	ck_assert_ptr_nonnull(buf);
	world_open(&w, SIM, 1, false);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), h[1], buf, 256),
			 0);
	free(buf); /* the breach: the kernel still owns it */
	ck_assert_uint_eq(completion_sim_check(w.q), 1);
	/* the simulated kernel never writes into it: the op fails */
	send_all(&w, h[0], "x", 1);
	ck_assert_int_eq(wait_final(&w, &op).result, -EFAULT);
	ck_assert_uint_eq(completion_sim_violations(w.q), 1);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
}
END_TEST

START_TEST(test_buffer_resubmitted_while_owned_is_a_violation_sim)
{
	struct world w;
	struct completion_op first, again;
	unsigned char buf[64];
	int h[2];

	world_open(&w, SIM, 1, false);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &first), h[1], buf,
					 sizeof buf), 0);
	memset(&again, 0, sizeof again);
	/* an overlapping recv, and a send from bytes being received into */
	ck_assert_int_eq(completion_recv(w.q, &again, h[1], buf + 10, 8),
			 -EBUSY);
	ck_assert_int_eq(completion_send(w.q, &again, h[0], buf + 60, 8),
			 -EBUSY);
	ck_assert_uint_eq(completion_sim_violations(w.q), 2);
	ck_assert(!again.in_flight);
	/* the same op again, while in flight: refused */
	ck_assert_int_eq(completion_recv(w.q, &first, h[1], buf, 1), -EBUSY);
	/* a handle closed under an op */
	ck_assert_int_eq(completion_close(w.q, h[1]), -EBUSY);
	ck_assert_uint_eq(completion_sim_violations(w.q), 3);
	ck_assert_int_eq(completion_cancel(w.q, &first), 0);
	wait_final(&w, &first);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
}
END_TEST

START_TEST(test_correct_use_owns_and_releases_every_byte_sim)
{
	struct world w;
	struct completion_op op;
	unsigned char buf[100];
	uint64_t ops, bytes;
	int h[2];

	world_open(&w, SIM, 2, false);
	ck_assert_int_eq(sim_stream_pair(w.r, h), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), h[1], buf,
					 sizeof buf), 0);
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 1);
	ck_assert_uint_eq(bytes, sizeof buf);
	send_all(&w, h[0], "abc", 3);
	ck_assert_int_eq(wait_final(&w, &op).result, 3);
	completion_sim_owned(w.q, &ops, &bytes);
	ck_assert_uint_eq(ops, 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	ck_assert_int_eq(completion_close(w.q, h[0]), 0);
	ck_assert_int_eq(completion_close(w.q, h[1]), 0);
	world_close(&w);
}
END_TEST

/* ---- refusals both backends share ---------------------------------------- */

static void refusals_on(enum backend kind)
{
	struct world w;
	struct completion_op op, other;
	unsigned char buf[8];
	int c, s;

	if (!world_open(&w, kind, 4, false))
		return;
	connect_pair(&w, &c, &s);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), s, buf,
					 sizeof buf), 0);
	ck_assert_int_eq(completion_recv(w.q, &op, s, buf, sizeof buf),
			 -EBUSY);
	memset(&other, 0, sizeof other);
	ck_assert_int_eq(completion_cancel(w.q, &other), -ENOENT);
	ck_assert_int_eq(completion_recv(w.q, &other, s, NULL, 8), -EINVAL);
	ck_assert_int_eq(completion_recv(w.q, &other, -1, buf, 8), -EBADF);
	ck_assert(!other.in_flight);
	ck_assert_int_eq(completion_cancel(w.q, &op), 0);
	wait_final(&w, &op);
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
}

START_TEST(test_bad_submissions_are_refused_and_post_nothing_sim)
{
	refusals_on(SIM);
}
END_TEST

START_TEST(test_bad_submissions_are_refused_and_post_nothing_uring)
{
	refusals_on(URING);
}
END_TEST

/* ---- multishot ------------------------------------------------------------- */

static void multishot_accept_on(enum backend kind)
{
	struct world w;
	struct completion_op acc, con[3];
	struct sockaddr_in to;
	int l, port, accepted = 0;

	if (!world_open(&w, kind, 6, false))
		return;
	l = completion_listen(w.q, "127.0.0.1", 0, 16);
	ck_assert_int_ge(l, 0);
	port = completion_local_port(w.q, l);
	memset(&to, 0, sizeof to);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(completion_accept_multishot(w.q, track(&w, &acc), l),
			 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(completion_connect(w.q, track(&w, &con[i]),
						    &to), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_ge(wait_final(&w, &con[i]).result, 0);
	for (int tries = 0; accepted < 3 && tries < 1000; tries++) {
		accepted = 0;
		for (size_t i = 0; i < w.nlog; i++)
			if (w.log[i].user_data == acc.user_data &&
			    (w.log[i].flags & COMPLETION_MORE)) {
				ck_assert_int_ge(w.log[i].result, 0);
				accepted++;
			}
		if (accepted < 3)
			world_poll(&w, kind == SIM ? -1 : 100000000);
	}
	ck_assert_int_eq(accepted, 3);
	ck_assert(acc.in_flight);           /* still accepting */
	ck_assert_int_eq(completion_cancel(w.q, &acc), 0);
	ck_assert_int_eq(wait_final(&w, &acc).result, -ECANCELED);
	for (size_t i = 0; i < w.nlog; i++)
		if (w.log[i].result >= 0 &&
		    (w.log[i].op == &acc || w.log[i].op == &con[0] ||
		     w.log[i].op == &con[1] || w.log[i].op == &con[2]))
			completion_close(w.q, (int)w.log[i].result);
	ck_assert_int_eq(completion_close(w.q, l), 0);
	world_close(&w);
}

START_TEST(test_multishot_accept_takes_every_connection_sim)
{
	multishot_accept_on(SIM);
}
END_TEST

START_TEST(test_multishot_accept_takes_every_connection_uring)
{
	multishot_accept_on(URING);
}
END_TEST

START_TEST(test_multishot_accept_is_emulated_without_kernel_support_uring)
{
	struct world w;

	setenv("PUSHPOLL_URING_NO_MULTISHOT", "1", 1);
	if (!world_open(&w, URING, 0, false))
		return;
	ck_assert(!completion_supports(w.q,
				       COMPLETION_FEATURE_MULTISHOT_ACCEPT));
	ck_assert(!completion_supports(w.q, COMPLETION_FEATURE_MULTISHOT_RECV));
	world_close(&w);
	multishot_accept_on(URING);
	/* without multishot recv, it says so and posts nothing */
	world_open(&w, URING, 0, false);
	{
		struct completion_op op;
		unsigned char bufs[64];

		memset(&op, 0, sizeof op);
		ck_assert_int_eq(completion_buffers_provide(w.q, 1, bufs, 16,
							    4), -EOPNOTSUPP);
		ck_assert_int_eq(completion_recv_multishot(w.q, &op, 0, 1),
				 -EOPNOTSUPP);
		ck_assert(!op.in_flight);
	}
	world_close(&w);
	unsetenv("PUSHPOLL_URING_NO_MULTISHOT");
}
END_TEST

/* Without multishot accept the backend re-arms one accept at a time.  A
 * cancel asked while a connection's accept has completed (its completion
 * waits in the ring) and before the re-arm finds nothing to cancel: the
 * backend must ask again for the re-armed accept, or the op never ends. */
START_TEST(test_cancel_between_two_emulated_accepts_still_ends_the_op_uring)
{
	struct world w;
	struct completion_op acc;
	struct sockaddr_in to;
	int l, fd;

	setenv("PUSHPOLL_URING_NO_MULTISHOT", "1", 1);
	if (!world_open(&w, URING, 0, false))
		return;
	l = completion_listen(w.q, "127.0.0.1", 0, 16);
	ck_assert_int_ge(l, 0);
	memset(&to, 0, sizeof to);
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)completion_local_port(w.q, l));
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(completion_accept_multishot(w.q, track(&w, &acc), l),
			 0);
	ck_assert_int_eq(world_poll(&w, 0), 0);   /* the accept is armed */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
	usleep(10000);     /* the accept completes into the ring meanwhile */
	ck_assert_int_eq(completion_cancel(w.q, &acc), 0);
	ck_assert_int_eq(wait_final(&w, &acc).result, -ECANCELED);
	for (size_t i = 0; i < w.nlog; i++)
		if (w.log[i].result >= 0)
			completion_close(w.q, (int)w.log[i].result);
	close(fd);
	ck_assert_int_eq(completion_close(w.q, l), 0);
	world_close(&w);
	unsetenv("PUSHPOLL_URING_NO_MULTISHOT");
}
END_TEST

/* Three messages through four 16-byte provided buffers, each buffer given
 * back after use; then end of stream ends the op. */
static void multishot_recv_on(enum backend kind)
{
	struct world w;
	struct completion_op op;
	unsigned char bufs[4 * 16], got[48], msg[48];
	size_t have = 0, scanned = 0;
	int c, s;

	if (!world_open(&w, kind, 8, false))
		return;
	if (!completion_supports(w.q, COMPLETION_FEATURE_MULTISHOT_RECV)) {
		printf("skipped on %s: no multishot recv in this kernel\n",
		       completion_backend(w.q));
		world_close(&w);
		return;
	}
	ck_assert_int_eq(completion_buffers_provide(w.q, 1, bufs, 16, 4), 0);
	connect_pair(&w, &c, &s);
	ck_assert_int_eq(completion_recv_multishot(w.q, track(&w, &op), s, 1),
			 0);
	fill(msg, sizeof msg, 9);
	for (int m = 0; m < 3; m++) {
		send_all(&w, c, msg + 16 * m, 16);
		/* its completions may have come while the send was awaited */
		for (int tries = 0; have < 16u * (m + 1); tries++) {
			ck_assert_int_lt(tries, 10000);
			if (scanned == w.nlog)
				world_poll(&w, kind == SIM ? -1 : 1000000000);
			for (size_t i = scanned; i < w.nlog; i++, scanned++) {
				struct completion_event *e = &w.log[i];

				if (e->user_data != op.user_data)
					continue;
				ck_assert(e->flags & COMPLETION_MORE);
				ck_assert(e->flags & COMPLETION_BUFFER);
				ck_assert_int_gt(e->result, 0);
				ck_assert_uint_le(have + (size_t)e->result,
						  sizeof got);
				memcpy(got + have,
				       completion_buffer(w.q, 1, e->buf_id),
				       (size_t)e->result);
				have += (size_t)e->result;
				completion_buffer_return(w.q, 1, e->buf_id);
			}
		}
	}
	ck_assert_mem_eq(got, msg, sizeof msg);
	ck_assert_int_eq(completion_shutdown_write(w.q, c), 0);
	ck_assert_int_eq(wait_final(&w, &op).result, 0);
	if (kind == SIM)
		ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
}

START_TEST(test_multishot_recv_fills_provided_buffers_sim)
{
	multishot_recv_on(SIM);
}
END_TEST

START_TEST(test_multishot_recv_fills_provided_buffers_uring)
{
	multishot_recv_on(URING);
}
END_TEST

/* Two buffers never given back, 48 bytes sent: -ENOBUFS ends the op. */
static void multishot_enobufs_on(enum backend kind)
{
	struct world w;
	struct completion_op op;
	unsigned char bufs[2 * 16], msg[48];
	struct completion_event ev;
	int c, s;

	if (!world_open(&w, kind, 8, false))
		return;
	if (!completion_supports(w.q, COMPLETION_FEATURE_MULTISHOT_RECV)) {
		printf("skipped on %s: no multishot recv in this kernel\n",
		       completion_backend(w.q));
		world_close(&w);
		return;
	}
	ck_assert_int_eq(completion_buffers_provide(w.q, 2, bufs, 16, 2), 0);
	connect_pair(&w, &c, &s);
	fill(msg, sizeof msg, 1);
	send_all(&w, c, msg, sizeof msg);
	ck_assert_int_eq(completion_recv_multishot(w.q, track(&w, &op), s, 2),
			 0);
	ev = wait_final(&w, &op);
	ck_assert_int_eq(ev.result, -ENOBUFS);
	if (kind == SIM) {
		/* a buffer the caller holds is the caller's: no violation to
		 * write into it; returning it twice is one */
		ck_assert_uint_eq(completion_sim_violations(w.q), 0);
		completion_buffer_return(w.q, 2, 0);
		completion_buffer_return(w.q, 2, 0);
		ck_assert_uint_eq(completion_sim_violations(w.q), 1);
	}
	ck_assert_int_eq(completion_close(w.q, c), 0);
	ck_assert_int_eq(completion_close(w.q, s), 0);
	world_close(&w);
}

START_TEST(test_multishot_recv_ends_with_ENOBUFS_when_buffers_run_out_sim)
{
	multishot_enobufs_on(SIM);
}
END_TEST

START_TEST(test_multishot_recv_ends_with_ENOBUFS_when_buffers_run_out_uring)
{
	multishot_enobufs_on(URING);
}
END_TEST

/* A receive that selects its buffer: two waiting on a group of one buffer,
 * the one whose bytes come first gets it (the other held none while it
 * waited); the other then finds the group empty (-ENOBUFS, its bytes still
 * in the stream), and once the buffer is back a second receive gets them;
 * end of stream completes with 0 and no buffer. */
static void recv_select_on(enum backend kind)
{
	struct world w;
	struct completion_op a, b, again, end;
	struct completion_event ev;
	unsigned char buf[16], msg1[16], msg2[16];
	int c1, s1, c2, s2;

	if (!world_open(&w, kind, 5, false))
		return;
	if (!completion_supports(w.q, COMPLETION_FEATURE_MULTISHOT_RECV)) {
		printf("skipped on %s: no provided buffer rings in this "
		       "kernel\n", completion_backend(w.q));
		world_close(&w);
		return;
	}
	ck_assert_int_eq(completion_buffers_provide(w.q, 3, buf, 16, 1), 0);
	connect_pair(&w, &c1, &s1);
	connect_pair(&w, &c2, &s2);
	ck_assert_int_eq(completion_recv_select(w.q, track(&w, &a), s1, 3), 0);
	ck_assert_int_eq(completion_recv_select(w.q, track(&w, &b), s2, 3), 0);
	fill(msg2, sizeof msg2, 2);
	send_all(&w, c2, msg2, sizeof msg2);
	ev = wait_final(&w, &b);
	ck_assert_int_eq(ev.result, 16);
	ck_assert(ev.flags & COMPLETION_BUFFER);
	ck_assert_uint_eq(ev.buf_id, 0);
	ck_assert_mem_eq(completion_buffer(w.q, 3, 0), msg2, 16);
	fill(msg1, sizeof msg1, 1);
	send_all(&w, c1, msg1, sizeof msg1);
	ev = wait_final(&w, &a);
	ck_assert_int_eq(ev.result, -ENOBUFS);
	ck_assert(!(ev.flags & COMPLETION_BUFFER));
	completion_buffer_return(w.q, 3, 0);
	ck_assert_int_eq(completion_recv_select(w.q, track(&w, &again), s1, 3),
			 0);
	ev = wait_final(&w, &again);
	ck_assert_int_eq(ev.result, 16);
	ck_assert(ev.flags & COMPLETION_BUFFER);
	ck_assert_mem_eq(completion_buffer(w.q, 3, ev.buf_id), msg1, 16);
	completion_buffer_return(w.q, 3, ev.buf_id);
	ck_assert_int_eq(completion_shutdown_write(w.q, c1), 0);
	ck_assert_int_eq(completion_recv_select(w.q, track(&w, &end), s1, 3),
			 0);
	ev = wait_final(&w, &end);
	ck_assert_int_eq(ev.result, 0);
	ck_assert(!(ev.flags & COMPLETION_BUFFER));
	if (kind == SIM)
		ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	for (int h = 0; h < 4; h++)
		ck_assert_int_eq(completion_close(w.q, (int[]){ c1, s1, c2,
							       s2 }[h]), 0);
	world_close(&w);
}

START_TEST(test_recv_select_takes_a_buffer_only_when_bytes_arrive_sim)
{
	recv_select_on(SIM);
}
END_TEST

START_TEST(test_recv_select_takes_a_buffer_only_when_bytes_arrive_uring)
{
	recv_select_on(URING);
}
END_TEST

/* ---- exactly once under many ops ------------------------------------------ */

enum { PAIRS = 8, TIMERS = 64 };

static void many_on(enum backend kind, uint64_t seed)
{
	struct world w;
	struct completion_op rcv[PAIRS], snd[PAIRS], tmo[TIMERS];
	unsigned char rbuf[PAIRS][32];
	int c[PAIRS], s[PAIRS];
	unsigned rng = (unsigned)seed * 2654435761u;

	if (!world_open(&w, kind, seed, kind == SIM))
		return;
	for (int i = 0; i < PAIRS; i++)
		connect_pair(&w, &c[i], &s[i]);
	for (int i = 0; i < TIMERS; i++)
		ck_assert_int_eq(completion_timeout(w.q, track(&w, &tmo[i]),
						    (uint64_t)(i % 8) * 1000000),
				 0);
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(completion_recv(w.q, track(&w, &rcv[i]), s[i],
						 rbuf[i], sizeof rbuf[i]), 0);
		if (i % 2 == 0)
			ck_assert_int_eq(completion_send(w.q,
							 track(&w, &snd[i]),
							 c[i], "data", 4), 0);
		else
			memset(&snd[i], 0, sizeof snd[i]); /* not sent */
	}
	/* cancel about half of everything, at once and after a few polls */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < TIMERS; i++) {
			rng = rng * 1103515245u + 12345u;
			if ((rng >> 16) % 4 == 0 && tmo[i].in_flight)
				completion_cancel(w.q, &tmo[i]);
		}
		for (int i = 0; i < PAIRS; i++) {
			rng = rng * 1103515245u + 12345u;
			if ((rng >> 16) % 2 == 0 && rcv[i].in_flight)
				completion_cancel(w.q, &rcv[i]);
		}
		for (int p = 0; p < 4; p++)
			world_poll(&w, kind == SIM ? 0 : 1000000);
	}
	/* whatever is left: the odd pairs' recvs never get data */
	for (int i = 0; i < PAIRS; i++)
		if (rcv[i].in_flight && i % 2 == 1)
			completion_cancel(w.q, &rcv[i]);
	for (int i = 0; i < TIMERS; i++)
		wait_final(&w, &tmo[i]);
	for (int i = 0; i < PAIRS; i++) {
		struct completion_event ev = wait_final(&w, &rcv[i]);

		if (i % 2 == 0) {
			wait_final(&w, &snd[i]);
			ck_assert(ev.result == -ECANCELED || ev.result > 0);
		} else {
			ck_assert_int_eq(ev.result, -ECANCELED);
		}
	}
	if (kind == SIM)
		ck_assert_uint_eq(completion_sim_violations(w.q), 0);
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(completion_close(w.q, c[i]), 0);
		ck_assert_int_eq(completion_close(w.q, s[i]), 0);
	}
	world_close(&w);
}

START_TEST(test_every_op_completes_exactly_once_under_many_ops_sim)
{
	for (uint64_t seed = 1; seed <= 20; seed++)
		many_on(SIM, seed);
}
END_TEST

START_TEST(test_every_op_completes_exactly_once_under_many_ops_uring)
{
	many_on(URING, 1);
}
END_TEST

/* ---- batching (uring) ------------------------------------------------------ */

START_TEST(test_submissions_are_batched_into_one_enter_per_poll_uring)
{
	struct world w;
	struct completion_op tmo[32];
	struct completion_stats st;

	if (!world_open(&w, URING, 0, false))
		return;
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(completion_timeout(w.q, track(&w, &tmo[i]),
						    1000), 0);
	completion_get_stats(w.q, &st);
	ck_assert_uint_eq(st.submitted, 32);
	ck_assert_uint_eq(st.enters, 0);       /* nothing entered yet */
	while (w.nlog < 32)
		world_poll(&w, 1000000000);
	completion_get_stats(w.q, &st);
	ck_assert_uint_le(st.enters, st.polls);
	ck_assert_uint_ge(st.enters, 1);
	/* a poll with nothing to submit and nothing to wait for enters not */
	world_poll(&w, 0);
	completion_get_stats(w.q, &st);
	ck_assert_uint_lt(st.enters, st.polls);
	world_close(&w);
}
END_TEST

/* ---- polling without waiting (uring) -------------------------------------- */

/* A recv that the peer's write finishes while nobody waits: polls with
 * timeout 0 alone must bring its completion, whether the ring keeps
 * completion work until an enter (uring_setup.h) or, plain, runs it at
 * once. */
static void poll_zero_sees_a_finished_recv(bool plain)
{
	struct world w;
	struct completion_op op;
	char buf[8];
	int sv[2];

	if (plain)
		setenv("PUSHPOLL_URING_PLAIN", "1", 1);
	if (!world_open(&w, URING, 0, false)) {
		unsetenv("PUSHPOLL_URING_PLAIN");
		return;
	}
	unsetenv("PUSHPOLL_URING_PLAIN");
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	ck_assert_int_eq(completion_recv(w.q, track(&w, &op), sv[0], buf,
					 sizeof buf), 0);
	ck_assert_int_eq(world_poll(&w, 0), 0);   /* submitted; no bytes */
	ck_assert_int_eq(write(sv[1], "ping", 4), 4);
	for (int tries = 0; tries < 1000 && w.nlog == 0; tries++)
		if (world_poll(&w, 0) == 0)
			sched_yield();
	ck_assert_uint_eq(finals(&w, op.user_data), 1);
	ck_assert_int_eq(w.log[0].result, 4);
	ck_assert_mem_eq(buf, "ping", 4);
	close(sv[0]);
	close(sv[1]);
	world_close(&w);
}

START_TEST(test_poll_without_waiting_does_deliver_a_finished_recv_uring)
{
	poll_zero_sees_a_finished_recv(false);
}
END_TEST

START_TEST(test_poll_without_waiting_does_deliver_on_a_plain_ring_uring)
{
	poll_zero_sees_a_finished_recv(true);
}
END_TEST

/* ---- where io_uring is unavailable ---------------------------------------- */

#ifdef HAVE_LIBURING
/* In a child: refuse io_uring_setup with errno err through seccomp, and
 * exit 0 if completion_new_uring() says -err with a reason naming it, and
 * completion_uring_usable() says the same. */
static int refused_child(int err, const char *expect)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filter };
	struct completion *q;
	char why[COMPLETION_REASON_MAX] = "", also[COMPLETION_REASON_MAX] = "";
	int rc;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return 3;
	rc = completion_new_uring(8, &q, why, sizeof why);
	printf("io_uring_setup refused with errno %d: %d, \"%s\"\n", err, rc,
	       why);
	if (completion_uring_usable(also, sizeof also) != rc ||
	    strcmp(also, why) != 0)
		return 1;   /* the check says otherwise than the queue */
	return rc == -err && q == NULL && strstr(why, expect) != NULL &&
	       strchr(why, '\n') == NULL ? 0 : 1;
}

static void expect_refused(int err, const char *expect)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(refused_child(err, expect));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3) {
		printf("skipped: seccomp filters cannot be installed here\n");
		return;
	}
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
#endif

START_TEST(test_refused_io_uring_setup_gives_errno_and_one_line_reason)
{
#ifdef HAVE_LIBURING
	expect_refused(EPERM, "io_uring");
	expect_refused(ENOSYS, "ENOSYS");
#else
	struct completion *q;
	char why[COMPLETION_REASON_MAX];

	ck_assert_int_eq(completion_new_uring(8, &q, why, sizeof why),
			 -ENOSYS);
	ck_assert_ptr_nonnull(strstr(why, "liburing-dev"));
#endif
}
END_TEST

/* Where a queue can be made the check says 0; where not, the queue's own
 * error and line (refused above, or built without liburing). */
START_TEST(test_uring_usable_says_what_making_a_queue_says)
{
	char why[COMPLETION_REASON_MAX] = "", also[COMPLETION_REASON_MAX] = "";
	struct completion *q;
	int err = completion_new_uring(8, &q, why, sizeof why);

	if (err == 0)
		completion_free(q);
	ck_assert_int_eq(completion_uring_usable(also, sizeof also), err);
	if (err != 0)
		ck_assert_str_eq(also, why);
}
END_TEST

START_TEST(test_sim_queue_needs_a_simulated_reactor)
{
	ck_assert_ptr_null(completion_new_sim(NULL));
}
END_TEST

START_TEST(test_queue_beside_a_reactor_follows_its_backend)
{
	char why[COMPLETION_REASON_MAX];
	struct sim_config cfg;
	struct completion *q;
	struct reactor *r;
	int err;

	sim_config_default(&cfg, 1);
	r = reactor_new_sim(&cfg);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(completion_new_beside(r, 8, &q, why, sizeof why), 0);
	ck_assert_str_eq(completion_backend(q), "sim");
	completion_free(q);
	reactor_free(r);

	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	err = completion_new_beside(r, 8, &q, why, sizeof why);
	if (err == 0) {
		ck_assert_str_eq(completion_backend(q), "uring");
		completion_free(q);
	} else {
		/* no ring here: the reason is one line */
		ck_assert_ptr_null(strchr(why, '\n'));
		ck_assert_int_gt(strlen(why), 0);
		printf("skipped on uring: %s\n", why);
	}
	reactor_free(r);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("completion");
	TCase *sim = tcase_create("sim");
	TCase *uring = tcase_create("uring");
	TCase *life = tcase_create("life");

	tcase_set_timeout(sim, 120);
	tcase_add_test(sim, test_echo_through_accept_recv_send_sim);
	tcase_add_test(sim, test_file_write_then_read_back_sim);
	tcase_add_test(sim, test_timeout_expires_or_is_cancelled_sim);
	tcase_add_test(sim,
		test_cancel_of_pending_recv_completes_once_with_ECANCELED_sim);
	tcase_add_test(sim,
		test_cancel_that_loses_the_race_completes_once_with_data_sim);
	tcase_add_test(sim,
		test_file_read_that_wins_the_race_against_its_cancel_counts_its_bytes_sim);
	tcase_add_test(sim, test_cancel_at_every_step_completes_once_sim);
	tcase_add_test(sim, test_buffer_touched_while_owned_is_a_violation_sim);
	tcase_add_test(sim,
		test_send_buffer_changed_while_owned_is_a_violation_sim);
	tcase_add_test(sim, test_buffer_freed_while_owned_is_a_violation_sim);
	tcase_add_test(sim,
		test_buffer_resubmitted_while_owned_is_a_violation_sim);
	tcase_add_test(sim, test_correct_use_owns_and_releases_every_byte_sim);
	tcase_add_test(sim, test_bad_submissions_are_refused_and_post_nothing_sim);
	tcase_add_test(sim, test_multishot_accept_takes_every_connection_sim);
	tcase_add_test(sim, test_multishot_recv_fills_provided_buffers_sim);
	tcase_add_test(sim,
		       test_recv_select_takes_a_buffer_only_when_bytes_arrive_sim);
	tcase_add_test(sim,
		test_multishot_recv_ends_with_ENOBUFS_when_buffers_run_out_sim);
	tcase_add_test(sim,
		test_every_op_completes_exactly_once_under_many_ops_sim);
	suite_add_tcase(s, sim);

	tcase_add_test(uring, test_echo_through_accept_recv_send_uring);
	tcase_add_test(uring, test_file_write_then_read_back_uring);
	tcase_add_test(uring, test_timeout_expires_or_is_cancelled_uring);
	tcase_add_test(uring,
		test_cancel_of_pending_recv_completes_once_with_ECANCELED_uring);
	tcase_add_test(uring,
		test_cancel_that_loses_the_race_completes_once_with_data_uring);
	tcase_add_test(uring,
		test_bad_submissions_are_refused_and_post_nothing_uring);
	tcase_add_test(uring, test_multishot_accept_takes_every_connection_uring);
	tcase_add_test(uring,
		test_multishot_accept_is_emulated_without_kernel_support_uring);
	tcase_add_test(uring,
		test_cancel_between_two_emulated_accepts_still_ends_the_op_uring);
	tcase_add_test(uring, test_multishot_recv_fills_provided_buffers_uring);
	tcase_add_test(uring,
		       test_recv_select_takes_a_buffer_only_when_bytes_arrive_uring);
	tcase_add_test(uring,
		test_multishot_recv_ends_with_ENOBUFS_when_buffers_run_out_uring);
	tcase_add_test(uring,
		test_every_op_completes_exactly_once_under_many_ops_uring);
	tcase_add_test(uring,
		test_submissions_are_batched_into_one_enter_per_poll_uring);
	tcase_add_test(uring,
		test_poll_without_waiting_does_deliver_a_finished_recv_uring);
	tcase_add_test(uring,
		test_poll_without_waiting_does_deliver_on_a_plain_ring_uring);
	suite_add_tcase(s, uring);

	tcase_add_test(life,
		test_refused_io_uring_setup_gives_errno_and_one_line_reason);
	tcase_add_test(life, test_sim_queue_needs_a_simulated_reactor);
	tcase_add_test(life, test_uring_usable_says_what_making_a_queue_says);
	tcase_add_test(life, test_queue_beside_a_reactor_follows_its_backend);
	suite_add_tcase(s, life);
	return s;
}

#include "testutil.h"
