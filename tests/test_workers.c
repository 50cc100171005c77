/* test_workers.c: the multi-threaded executors: poll's workers (poll.h,
 * rules W1-W7) and push's loops per thread (push.h, rules T1-T3).  One test
 * per rule, a task that moves between workers with its stream and timer,
 * the echo and fanout workloads on the workers (case "workloads"), loops
 * per thread sharing a port for both engines' echo, and a stress test that
 * wakes, aborts and drops tasks from several threads at once.
 *
 * Threads other than the test's own never call ck_assert (a failure there
 * would not reach Check): they record what they saw, and the test thread
 * asserts it after joining them.  The ThreadSanitizer build
 * (configure --enable-tsan) runs this suite.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "completion.h"
#include "mem.h"
#include "netclient.h"
#include "poll.h"
#include "push.h"

/* ---- helpers ------------------------------------------------------------- */

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

static struct poll_workers *workers_new(unsigned n)
{
	struct poll_workers *w = NULL;

	ck_assert_int_eq(poll_workers_new(n, NULL, &w), 0);
	return w;
}

/* Runs the workers on a thread of its own, so that the test thread can act
 * on the tasks meanwhile. */
struct runner {
	pthread_t thread;
	struct poll_workers *w;
	int rc;
};

static void *runner_main(void *arg)
{
	struct runner *rn = arg;

	rn->rc = poll_workers_run(rn->w);
	return NULL;
}

static void runner_start(struct runner *rn, struct poll_workers *w)
{
	rn->w = w;
	rn->rc = -1;
	ck_assert_int_eq(pthread_create(&rn->thread, NULL, runner_main, rn), 0);
}

static void runner_join(struct runner *rn)
{
	pthread_join(rn->thread, NULL);
	ck_assert_int_eq(rn->rc, 0);
}

/* ---- a task that yields n times, noting the threads it ran on -------------- */

struct hopper {
	struct poll_future base;
	unsigned left;
	pthread_t first;
	atomic_int moved;               /* polled by another thread */
	atomic_int *finished;
};

static enum poll_status hopper_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct hopper *h = (struct hopper *)f;

	if (h->left-- > 0) {
		if (h->first == 0)
			h->first = pthread_self();
		else if (!pthread_equal(h->first, pthread_self()))
			atomic_store(&h->moved, 1);
		poll_cx_wake(cx);
		return POLL_PENDING;
	}
	if (!pthread_equal(h->first, pthread_self()))
		atomic_store(&h->moved, 1);
	atomic_fetch_add(h->finished, 1);
	f->out = 7;
	return POLL_READY;
}

static void nothing_drop(struct poll_future *f)
{
	(void)f;
}

static const struct poll_future_vt hopper_vt = { "hopper", hopper_poll,
						 nothing_drop };

/* W2 and W5: every task runs to the end, each on one thread only, and the
 * run returns when the last is DONE. */
START_TEST(test_workers_run_every_task_to_the_end_each_on_one_thread)
{
	enum { NTASKS = 64 };
	struct poll_workers *w;
	struct poll_task *t[NTASKS];
	struct hopper h = { .base = { &hopper_vt, 0 }, .left = 20 };
	atomic_int finished = 0;
	struct poll_workers_stats st;
	ssize_t out;

	leak_check_begin();
	w = workers_new(2);
	h.finished = &finished;
	for (int i = 0; i < NTASKS; i++)
		ck_assert_int_eq(poll_workers_spawn(w, &h.base, sizeof(h), &t[i]), 0);
	ck_assert_int_eq(poll_workers_run(w), 0);
	ck_assert_int_eq(atomic_load(&finished), NTASKS);
	for (int i = 0; i < NTASKS; i++) {
		struct hopper *mine = (struct hopper *)poll_task_future(t[i]);

		ck_assert_int_eq(poll_task_result(t[i], &out), 0);
		ck_assert_int_eq(out, 7);
		ck_assert_int_eq(atomic_load(&mine->moved), 0);
		ck_assert_uint_eq(poll_task_state(t[i]), POLL_TASK_DONE);
		poll_task_detach(t[i]);
	}
	poll_workers_stats_get(w, &st);
	ck_assert_uint_eq(st.spawned, NTASKS);
	ck_assert_uint_eq(st.placed, NTASKS);
	ck_assert_uint_eq(st.yields, NTASKS * 20);
	ck_assert_uint_eq(st.polls, NTASKS * 21);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* A spawn from inside a task (poll_spawn on cx->loop) spawns on the
 * workers, and the run waits for it too. */
struct spawner {
	struct poll_future base;
	struct hopper child;
	int spawned;
};

static enum poll_status spawner_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct spawner *s = (struct spawner *)f;

	s->spawned = poll_spawn(cx->loop, &s->child.base, sizeof(s->child),
				NULL) == 0;
	f->out = s->spawned;
	return POLL_READY;
}

static const struct poll_future_vt spawner_vt = { "spawner", spawner_poll,
						  nothing_drop };

START_TEST(test_poll_spawn_inside_a_task_of_the_workers_spawns_on_the_workers)
{
	struct poll_workers *w;
	atomic_int finished = 0;
	struct spawner s = { .base = { &spawner_vt, 0 },
			     .child = { .base = { &hopper_vt, 0 }, .left = 3,
					.finished = &finished } };
	struct poll_task *t;
	ssize_t out;

	leak_check_begin();
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_spawn(w, &s.base, sizeof(s), &t), 0);
	ck_assert_int_eq(poll_workers_run(w), 0);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 1);
	ck_assert_int_eq(atomic_load(&finished), 1);
	poll_task_detach(t);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* ---- a task that waits for a waker another thread fires -------------------- */

struct remote {
	pthread_mutex_t lock;
	struct poll_waker slot;         /* under lock */
	atomic_int parked;              /* the slot has been set */
	atomic_int polls;
	atomic_int polls_after_abort;
	atomic_int aborted;             /* poll_task_abort() has returned */
	atomic_int drops;
	pthread_t poll_thread, drop_thread;
	unsigned want;                  /* READY at this poll */
	atomic_int spin_until_aborted;  /* spin in the poll until aborted */
	bool keep_extra;                /* also park a waker in extra, which
					 * the drop leaves alone */
	struct poll_waker extra;        /* under lock */
};

struct remote_fut {
	struct poll_future base;
	struct remote *rm;
};

static enum poll_status remote_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct remote *rm = ((struct remote_fut *)f)->rm;
	int n = atomic_fetch_add(&rm->polls, 1) + 1;

	if (atomic_load(&rm->aborted))
		atomic_fetch_add(&rm->polls_after_abort, 1);
	rm->poll_thread = pthread_self();
	if (rm->want != 0 && (unsigned)n >= rm->want) {
		f->out = n;
		return POLL_READY;
	}
	pthread_mutex_lock(&rm->lock);
	poll_waker_set(&rm->slot, cx);
	if (rm->keep_extra)
		poll_waker_set(&rm->extra, cx);
	pthread_mutex_unlock(&rm->lock);
	atomic_store(&rm->parked, n);
	while (atomic_load(&rm->spin_until_aborted) &&
	       !atomic_load(&rm->aborted))
		sched_yield();
	return POLL_PENDING;
}

static void remote_drop(struct poll_future *f)
{
	struct remote *rm = ((struct remote_fut *)f)->rm;

	pthread_mutex_lock(&rm->lock);
	poll_waker_drop(&rm->slot);
	pthread_mutex_unlock(&rm->lock);
	rm->drop_thread = pthread_self();
	atomic_fetch_add(&rm->drops, 1);
}

static const struct poll_future_vt remote_vt = { "remote", remote_poll,
						 remote_drop };

static void remote_init(struct remote *rm, unsigned want)
{
	memset(rm, 0, sizeof(*rm));
	pthread_mutex_init(&rm->lock, NULL);
	rm->want = want;
}

static void wait_parked(struct remote *rm, int n)
{
	while (atomic_load(&rm->parked) < n)
		sched_yield();
}

static void remote_wake(struct remote *rm)
{
	pthread_mutex_lock(&rm->lock);
	poll_waker_wake(&rm->slot);
	pthread_mutex_unlock(&rm->lock);
}

/* W1: a waker fired from a thread that is no worker wakes the task, through
 * its home's inbox. */
START_TEST(test_a_waker_fired_from_another_thread_wakes_the_task)
{
	struct poll_workers *w;
	struct remote rm;
	struct remote_fut rf = { { &remote_vt, 0 }, &rm };
	struct poll_task *t;
	struct runner rn;
	struct poll_workers_stats st;
	ssize_t out;

	leak_check_begin();
	remote_init(&rm, 3);
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_spawn(w, &rf.base, sizeof(rf), &t), 0);
	runner_start(&rn, w);
	wait_parked(&rm, 1);
	remote_wake(&rm);
	wait_parked(&rm, 2);
	remote_wake(&rm);
	runner_join(&rn);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, 3);
	poll_workers_stats_get(w, &st);
	ck_assert_uint_eq(st.remote_wakes, 2);
	poll_task_detach(t);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* W3: aborted from another thread while it waits, the task is never polled
 * again, and its future is dropped by the thread that polled it. */
START_TEST(test_abort_from_another_thread_means_the_task_is_never_polled_again)
{
	struct poll_workers *w;
	struct remote rm;
	struct remote_fut rf = { { &remote_vt, 0 }, &rm };
	struct poll_task *t;
	struct runner rn;
	ssize_t out;

	leak_check_begin();
	remote_init(&rm, 0);                 /* never READY by itself */
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_spawn(w, &rf.base, sizeof(rf), &t), 0);
	runner_start(&rn, w);
	wait_parked(&rm, 1);
	poll_task_abort(t);
	atomic_store(&rm.aborted, 1);
	remote_wake(&rm);                    /* a late wake: nothing */
	runner_join(&rn);
	ck_assert_int_eq(atomic_load(&rm.polls), 1);
	ck_assert_int_eq(atomic_load(&rm.polls_after_abort), 0);
	ck_assert_int_eq(atomic_load(&rm.drops), 1);
	ck_assert(pthread_equal(rm.drop_thread, rm.poll_thread));
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(t);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* W3: aborted from another thread during its poll, the task is dropped as
 * soon as that poll returns, and not polled again, though it was woken. */
START_TEST(test_abort_of_a_running_task_from_another_thread_drops_it_after_its_poll)
{
	struct poll_workers *w;
	struct remote rm;
	struct remote_fut rf = { { &remote_vt, 0 }, &rm };
	struct poll_task *t;
	struct runner rn;
	ssize_t out;

	leak_check_begin();
	remote_init(&rm, 0);
	atomic_store(&rm.spin_until_aborted, 1);
	w = workers_new(1);
	ck_assert_int_eq(poll_workers_spawn(w, &rf.base, sizeof(rf), &t), 0);
	runner_start(&rn, w);
	wait_parked(&rm, 1);                 /* inside its first poll */
	ck_assert_uint_eq(poll_task_state(t) & POLL_TASK_RUNNING,
			  POLL_TASK_RUNNING);
	remote_wake(&rm);                    /* RUNNING -> RUNNING|QUEUED */
	poll_task_abort(t);
	atomic_store(&rm.aborted, 1);
	runner_join(&rn);
	ck_assert_int_eq(atomic_load(&rm.polls), 1);
	ck_assert_int_eq(atomic_load(&rm.polls_after_abort), 0);
	ck_assert_int_eq(atomic_load(&rm.drops), 1);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, -ECANCELED);
	poll_task_detach(t);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* W4: a waker held by another thread outlives the task: waking it after
 * the task is DONE does nothing, and, as the last reference, frees the
 * header. */
START_TEST(test_waking_a_done_task_from_another_thread_is_safe_and_frees_it_last)
{
	struct poll_workers *w;
	struct remote rm;
	struct remote_fut rf = { { &remote_vt, 0 }, &rm };
	struct poll_task *t;
	struct runner rn;
	struct mem_stats before, now;

	leak_check_begin();
	remote_init(&rm, 2);
	rm.keep_extra = true;
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_spawn(w, &rf.base, sizeof(rf), &t), 0);
	runner_start(&rn, w);
	wait_parked(&rm, 1);
	remote_wake(&rm);                    /* poll 2: READY, DONE */
	runner_join(&rn);
	ck_assert_uint_eq(poll_task_state(t), POLL_TASK_DONE);
	poll_task_detach(t);                 /* rm.extra is the last */
	mem_stats_get(&before);
	ck_assert(poll_waker_is_set(&rm.extra));
	poll_waker_wake(&rm.extra);          /* nothing runs; freed */
	mem_stats_get(&now);
	ck_assert_int_eq(before.live_blocks - now.live_blocks, 1);
	ck_assert_int_eq(atomic_load(&rm.polls), 2);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* ---- I/O futures on the workers ------------------------------------------------ */

/* One end of a socketpair, opened at the task's first poll on its home
 * worker's reactor (R1, W2).  The client writes a message and reads it
 * back `rounds` times, then closes; the server echoes until end of
 * stream.  Output: the rounds that came back intact (client), or the bytes
 * echoed (server). */
/* The client sends, then receives its message back; the server reads,
 * then writes back what it read. */
enum pipe_state {
	PIPE_START, PIPE_SEND, PIPE_RECV, PIPE_ECHO_READ, PIPE_ECHO_WRITE,
	PIPE_DONE,
};

struct pipe_fut {
	struct poll_future base;
	int fd, round, rounds;
	enum pipe_state state;
	bool server, open;
	size_t want, got;
	ssize_t total;
	char buf[16];
	struct poll_stream s;
	union {                         /* one leaf awaited at a time */
		struct poll_read rd;
		struct poll_write wr;
	} io;
};

/* Client: send message `round` (8 bytes). */
static void pipe_send(struct pipe_fut *p)
{
	snprintf(p->buf, sizeof(p->buf), "msg %4d", p->round);
	p->want = 8;
	poll_write_init(&p->io.wr, &p->s, p->buf, p->want);
	p->state = PIPE_SEND;
}

static void pipe_read(struct pipe_fut *p, enum pipe_state next, size_t at,
		      size_t n)
{
	poll_read_init(&p->io.rd, &p->s, p->buf + at, n);
	p->state = next;
}

static enum poll_status pipe_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct pipe_fut *p = (struct pipe_fut *)f;
	ssize_t n;

	for (;;) {
		switch (p->state) {
		case PIPE_START:
			if (poll_stream_open(cx->loop, &p->s, p->fd) < 0) {
				close(p->fd);
				p->state = PIPE_DONE;
				break;
			}
			p->open = true;
			if (p->server)
				pipe_read(p, PIPE_ECHO_READ, 0, sizeof(p->buf));
			else
				pipe_send(p);
			break;
		case PIPE_SEND:
			if (poll_future_poll(&p->io.wr.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			p->got = 0;
			pipe_read(p, PIPE_RECV, 0, p->want);
			break;
		case PIPE_RECV:
			if (poll_future_poll(&p->io.rd.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			n = p->io.rd.base.out;
			if (n <= 0) {
				p->state = PIPE_DONE;
				break;
			}
			p->got += (size_t)n;
			if (p->got < p->want) {
				pipe_read(p, PIPE_RECV, p->got, p->want - p->got);
				break;
			}
			p->total++;
			if (++p->round == p->rounds)
				p->state = PIPE_DONE;
			else
				pipe_send(p);
			break;
		case PIPE_ECHO_READ:
			if (poll_future_poll(&p->io.rd.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			n = p->io.rd.base.out;
			if (n <= 0) {
				p->state = PIPE_DONE;
				break;
			}
			p->total += n;
			poll_write_init(&p->io.wr, &p->s, p->buf, (size_t)n);
			p->state = PIPE_ECHO_WRITE;
			break;
		case PIPE_ECHO_WRITE:
			if (poll_future_poll(&p->io.wr.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			pipe_read(p, PIPE_ECHO_READ, 0, sizeof(p->buf));
			break;
		case PIPE_DONE:
			if (p->open)
				poll_stream_close(&p->s);  /* the peer's EOF */
			p->open = false;
			f->out = p->total;
			return POLL_READY;
		}
	}
}

static void pipe_drop(struct poll_future *f)
{
	struct pipe_fut *p = (struct pipe_fut *)f;

	if (p->state == PIPE_SEND || p->state == PIPE_ECHO_WRITE)
		poll_future_drop(&p->io.wr.base);
	else if (p->state == PIPE_RECV || p->state == PIPE_ECHO_READ)
		poll_future_drop(&p->io.rd.base);
	if (p->open)
		poll_stream_close(&p->s);
	else if (p->state == PIPE_START)
		close(p->fd);
	p->open = false;
	p->state = PIPE_DONE;
}

static const struct poll_future_vt pipe_vt = { "pipe", pipe_poll, pipe_drop };

/* Leaves on the workers: eight echo pairs over socketpairs, each end a
 * task that opens its stream at its first poll, on its own worker. */
START_TEST(test_io_futures_run_on_the_workers_with_each_stream_on_its_home_reactor)
{
	enum { PAIRS = 8, ROUNDS = 50 };
	struct poll_workers *w;
	struct poll_task *cl[PAIRS], *sv[PAIRS];
	ssize_t out;

	leak_check_begin();
	w = workers_new(2);
	for (int i = 0; i < PAIRS; i++) {
		int fd[2];
		struct pipe_fut c = { .base = { &pipe_vt, 0 }, .rounds = ROUNDS };
		struct pipe_fut v = { .base = { &pipe_vt, 0 }, .server = true };

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
					    SOCK_CLOEXEC, 0, fd), 0);
		c.fd = fd[0];
		v.fd = fd[1];
		ck_assert_int_eq(poll_workers_spawn(w, &c.base, sizeof(c), &cl[i]), 0);
		ck_assert_int_eq(poll_workers_spawn(w, &v.base, sizeof(v), &sv[i]), 0);
	}
	ck_assert_int_eq(poll_workers_run(w), 0);
	for (int i = 0; i < PAIRS; i++) {
		ck_assert_int_eq(poll_task_result(cl[i], &out), 0);
		ck_assert_int_eq(out, ROUNDS);
		ck_assert_int_eq(poll_task_result(sv[i], &out), 0);
		ck_assert_int_eq(out, ROUNDS * 8);
		poll_task_detach(cl[i]);
		poll_task_detach(sv[i]);
	}
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* ---- a task that moves between workers, keeping its I/O (W6) ------------------ */

/* Echoes ROUNDS messages of 8 bytes on a socket, and after each one asks to
 * move (poll_cx_move) while its idle sleep is running; it notes the threads
 * it was polled on.  Its detach and attach move the stream and the timer. */
enum { MOVER_ROUNDS = 12, MOVER_MSG = 8 };

enum mover_state { MOVER_START, MOVER_READ, MOVER_WRITE, MOVER_NAP,
		   MOVER_DONE };

struct mover {
	struct poll_future base;
	enum mover_state state;
	int fd;
	unsigned rounds, threads;
	bool asked;                     /* the move of this nap is asked */
	pthread_t seen[4];
	struct poll_stream s;
	unsigned char buf[MOVER_MSG];
	union {
		struct poll_read rd;
		struct poll_write wr;
	} io;
	struct poll_sleep nap;
	uint64_t nap_ns;
};

static void mover_note_thread(struct mover *m)
{
	pthread_t me = pthread_self();

	for (unsigned i = 0; i < m->threads; i++)
		if (pthread_equal(m->seen[i], me))
			return;
	if (m->threads < 4)
		m->seen[m->threads++] = me;
}

static enum poll_status mover_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct mover *m = (struct mover *)f;

	mover_note_thread(m);
	for (;;) {
		switch (m->state) {
		case MOVER_START:
			if (poll_stream_open(cx->loop, &m->s, m->fd) < 0) {
				f->out = -1;
				m->state = MOVER_DONE;
				return POLL_READY;
			}
			poll_read_init(&m->io.rd, &m->s, m->buf, MOVER_MSG);
			m->state = MOVER_READ;
			continue;
		case MOVER_READ:
			if (poll_future_poll(&m->io.rd.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			if (m->io.rd.base.out != MOVER_MSG) {
				f->out = -2;
				m->state = MOVER_DONE;
				return POLL_READY;
			}
			poll_write_init(&m->io.wr, &m->s, m->buf, MOVER_MSG);
			m->state = MOVER_WRITE;
			continue;
		case MOVER_WRITE:
			if (poll_future_poll(&m->io.wr.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			if (++m->rounds == MOVER_ROUNDS) {
				f->out = m->rounds;
				m->state = MOVER_DONE;
				return POLL_READY;
			}
			poll_sleep_init(&m->nap, cx->loop, m->nap_ns);
			m->asked = false;
			m->state = MOVER_NAP;
			continue;
		case MOVER_NAP:
			if (poll_future_poll(&m->nap.base, cx) == POLL_PENDING) {
				/* The timer runs: move with it. */
				if (!m->asked) {
					m->asked = true;
					poll_cx_move(cx);
				}
				return POLL_PENDING;
			}
			poll_future_drop(&m->nap.base);
			poll_read_init(&m->io.rd, &m->s, m->buf, MOVER_MSG);
			m->state = MOVER_READ;
			continue;
		case MOVER_DONE:
			return POLL_READY;
		}
	}
}

static void mover_drop(struct poll_future *f)
{
	struct mover *m = (struct mover *)f;

	if (m->state == MOVER_NAP)
		poll_future_drop(&m->nap.base);
	if (m->state == MOVER_START)
		close(m->fd);
	poll_stream_close(&m->s);
	m->state = MOVER_DONE;
}

static void mover_detach(struct poll_future *f)
{
	struct mover *m = (struct mover *)f;

	poll_stream_detach(&m->s);
	if (m->state == MOVER_NAP)
		poll_sleep_detach(&m->nap);
}

static int mover_attach(struct poll_future *f, struct poll_loop *l)
{
	struct mover *m = (struct mover *)f;

	if (m->state == MOVER_NAP)
		poll_sleep_attach(&m->nap, l);
	return poll_stream_attach(&m->s, l);
}

static const struct poll_future_vt mover_vt = { .name = "mover",
	.poll = mover_poll, .drop = mover_drop };
static const struct poll_move_vt mover_move_vt = { .detach = mover_detach,
	.attach = mover_attach };

struct mover_peer {
	pthread_t thread;
	int fd;
	int ok;                          /* rounds echoed back right */
};

/* The other end, blocking: a message, its echo, and so on. */
static void *mover_peer_main(void *arg)
{
	struct mover_peer *p = arg;

	for (int i = 0; i < MOVER_ROUNDS; i++) {
		unsigned char out[MOVER_MSG], in[MOVER_MSG];
		size_t got = 0;

		memset(out, 'a' + i, sizeof(out));
		if (write(p->fd, out, sizeof(out)) != (ssize_t)sizeof(out))
			break;
		while (got < sizeof(in)) {
			ssize_t n = read(p->fd, in + got, sizeof(in) - got);

			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got != sizeof(in) || memcmp(in, out, sizeof(in)) != 0)
			break;
		p->ok++;
	}
	return NULL;
}

/* W6: a task moved between workers while its stream is registered and its
 * timer runs goes on reading, writing and sleeping on the new worker. */
START_TEST(test_a_task_moved_between_workers_keeps_its_stream_and_its_timer)
{
	struct poll_workers *w;
	struct poll_workers_stats st;
	struct mover m = { .base = { &mover_vt, 0 },
			   .nap_ns = 2 * 1000 * 1000 };
	struct mover_peer peer = { 0 };
	struct poll_task *t;
	struct mover *mine;
	int fd[2];
	ssize_t out;

	leak_check_begin();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    fd), 0);
	ck_assert_int_eq(fcntl(fd[0], F_SETFL, O_NONBLOCK), 0);
	m.fd = fd[0];
	peer.fd = fd[1];
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_spawn_movable(w, &m.base, sizeof(m),
						    &mover_move_vt, &t), 0);
	ck_assert_int_eq(pthread_create(&peer.thread, NULL, mover_peer_main,
					&peer), 0);
	ck_assert_int_eq(poll_workers_run(w), 0);
	pthread_join(peer.thread, NULL);
	close(fd[1]);
	ck_assert_int_eq(poll_task_result(t, &out), 0);
	ck_assert_int_eq(out, MOVER_ROUNDS);
	ck_assert_int_eq(peer.ok, MOVER_ROUNDS);
	mine = (struct mover *)poll_task_future(t);
	ck_assert_uint_eq(mine->threads, 2);          /* it did move */
	poll_workers_stats_get(w, &st);
	ck_assert_uint_eq(st.moved, MOVER_ROUNDS - 1);
	poll_task_detach(t);
	poll_workers_free(w);
	leak_check_end();
}
END_TEST

/* ---- the echo and the fanout on the workers ------------------------------------ */

struct workers_echo {
	pthread_t thread;
	struct poll_workers *w;
	struct reactor *r;
	struct echo_opts opts;
	struct echo_stats stats;
	atomic_uint port;
	int rc;
};

static void workers_echo_listening(void *arg, uint16_t port)
{
	struct workers_echo *we = arg;

	atomic_store(&we->port, port);
}

static void *workers_echo_main(void *arg)
{
	struct workers_echo *we = arg;

	we->rc = poll_echo_serve_workers(we->w, we->r, &we->opts, &we->stats);
	atomic_store(&we->port, 1);      /* it returned: stop waiting */
	return NULL;
}

static void workers_echo_start(struct workers_echo *we, unsigned n)
{
	memset(we, 0, sizeof(*we));
	we->w = workers_new(n);
	we->r = reactor_new_epoll();
	ck_assert_ptr_nonnull(we->r);
	echo_opts_default(&we->opts);
	we->opts.on_listening = workers_echo_listening;
	we->opts.arg = we;
	ck_assert_int_eq(pthread_create(&we->thread, NULL, workers_echo_main,
					we), 0);
	while (atomic_load(&we->port) == 0)
		sched_yield();
	ck_assert_uint_gt(atomic_load(&we->port), 1);
}

static void workers_echo_stop(struct workers_echo *we)
{
	poll_workers_request_stop(we->w);
	pthread_join(we->thread, NULL);
	ck_assert_int_eq(we->rc, 0);
}

static void workers_echo_free(struct workers_echo *we)
{
	poll_workers_free(we->w);
	reactor_free(we->r);
}

/* The echo workload on n workers: every byte of every connection comes
 * back, the statistics count every connection and byte exactly, the
 * connections are spread over more than one worker, and the heap is back
 * where it was. */
static void echo_on_workers(unsigned n)
{
	enum { CONNS = 48, BYTES = 32 * 1024 };
	struct workers_echo we;
	struct netclient_result res;
	unsigned busy = 0;
	uint64_t placed = 0, moved = 0;

	leak_check_begin();
	workers_echo_start(&we, n);
	ck_assert_int_eq(netclient_echo((uint16_t)atomic_load(&we.port), CONNS,
					BYTES, 1024, 30000, &res), 0);
	ck_assert_uint_eq(res.conns_ok, CONNS);
	ck_assert_uint_eq(res.mismatches, 0);
	workers_echo_stop(&we);
	ck_assert_uint_eq(we.stats.accepted, CONNS);
	ck_assert_uint_eq(we.stats.closed, CONNS);
	ck_assert_uint_eq(we.stats.cancelled, 0);
	ck_assert_uint_eq(we.stats.failed, 0);
	ck_assert_uint_eq(we.stats.bytes, (uint64_t)CONNS * BYTES);
	for (unsigned i = 0; i < n; i++) {
		struct poll_workers_stats st;

		poll_workers_worker_stats_get(we.w, i, &st);
		placed += st.placed;
		moved += st.moved;
		/* The server's task is one placement: a worker that took
		 * two or more tasks, from the queue or from another
		 * worker, served at least one connection. */
		if (st.placed + st.moved_in >= 2)
			busy++;
		printf("echo on %u workers: worker %u placed %llu tasks, "
		       "moved %llu out, %llu in\n", n, i,
		       (unsigned long long)st.placed,
		       (unsigned long long)st.moved,
		       (unsigned long long)st.moved_in);
	}
	ck_assert_uint_eq(placed, CONNS + 1);
	ck_assert_uint_ge(busy, 2);
	workers_echo_free(&we);
	leak_check_end();
}

START_TEST(test_echo_on_two_workers_returns_every_byte_and_spreads_connections)
{
	echo_on_workers(2);
}
END_TEST

START_TEST(test_echo_on_four_workers_returns_every_byte_and_spreads_connections)
{
	echo_on_workers(4);
}
END_TEST

/* W7: a stop with connections open reaches every worker: the server and
 * every connection task end (cancelled), and the heap is back to 0. */
START_TEST(test_stop_with_connections_open_ends_every_task_on_the_workers)
{
	enum { CONNS = 8 };
	struct workers_echo we;
	int fd[CONNS];

	leak_check_begin();
	workers_echo_start(&we, 2);
	for (int i = 0; i < CONNS; i++) {
		char c = 'x';

		fd[i] = netclient_connect((uint16_t)atomic_load(&we.port));
		ck_assert_int_ge(fd[i], 0);
		ck_assert_int_eq(write(fd[i], &c, 1), 1);
		ck_assert_int_eq(read(fd[i], &c, 1), 1);   /* it is served */
		ck_assert_int_eq(c, 'x');
	}
	workers_echo_stop(&we);
	for (int i = 0; i < CONNS; i++)
		close(fd[i]);
	ck_assert_uint_eq(we.stats.accepted, CONNS);
	ck_assert_uint_eq(we.stats.cancelled, CONNS);
	ck_assert_uint_eq(we.stats.bytes, CONNS);
	workers_echo_free(&we);
	leak_check_end();
}
END_TEST

/* W7: a stop requested before the run ends the server before its first
 * poll: nothing is served, nothing leaks. */
START_TEST(test_a_stop_before_the_run_ends_the_echo_on_the_workers_at_once)
{
	struct poll_workers *w;
	struct reactor *r;
	struct echo_opts o;
	struct echo_stats st;

	leak_check_begin();
	w = workers_new(2);
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	echo_opts_default(&o);
	poll_workers_request_stop(w);
	ck_assert_int_eq(poll_echo_serve_workers(w, r, &o, &st), 0);
	ck_assert_uint_eq(st.accepted, 0);
	poll_workers_free(w);
	reactor_free(r);
	leak_check_end();
}
END_TEST

/* The fanout workload on two workers, file sinks through the workers'
 * offload pools: every sink gets every byte, with the input's checksum. */
START_TEST(test_fanout_on_two_workers_delivers_every_byte_to_every_sink)
{
	enum { SINKS = 4, SIZE = 700 * 1000 };
	char dir[] = "/tmp/pushpoll-workers-XXXXXX", input[64], path[96];
	struct fanout_sink_stats sink[SINKS];
	struct fanout_stats stats = { .sinks = SINKS, .sink = sink };
	struct fanout_opts o;
	struct poll_workers *w;
	struct reactor *r;
	unsigned char *data = malloc(SIZE);
	int fd;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(input, sizeof(input), "%s/input", dir);
	for (int i = 0; i < SIZE; i++)
		data[i] = (unsigned char)(i * 131 + (i >> 9));
	fd = open(input, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, SIZE), SIZE);
	close(fd);
	free(data);

	leak_check_begin();
	fanout_opts_default(&o);
	o.input = input;
	o.sinks = SINKS;
	o.kind = FANOUT_SINK_FILE;
	o.output_dir = dir;
	o.chunk_size = 64 * 1024;
	o.window = 3;
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	w = workers_new(2);
	ck_assert_int_eq(poll_workers_offload(w, 2), 0);
	ck_assert_int_eq(poll_fanout_run_workers(w, r, &o, &stats), 0);
	ck_assert_int_eq(stats.error, 0);
	ck_assert_uint_eq(stats.bytes_read, SIZE);
	ck_assert_uint_le(stats.peak_chunks, 3);
	for (int i = 0; i < SINKS; i++) {
		ck_assert_int_eq(sink[i].error, 0);
		ck_assert_uint_eq(sink[i].bytes, SIZE);
		ck_assert_uint_eq(sink[i].checksum, stats.checksum);
	}
	poll_workers_free(w);
	reactor_free(r);
	leak_check_end();
	for (int i = 0; i < SINKS; i++) {
		snprintf(path, sizeof(path), "%s/sink-%d", dir, i);
		unlink(path);
	}
	unlink(input);
	rmdir(dir);
}
END_TEST

/* ---- the stress test ---------------------------------------------------------- */

enum { STRESS_TASKS = 24, STRESS_THREADS = 3, STRESS_ROUNDS = 20,
       STRESS_SLOTS = 2 };

struct stress_cell {
	pthread_mutex_t lock;
	struct poll_waker slot[STRESS_SLOTS];
	struct poll_task *handle;       /* under lock; NULL once detached */
	atomic_int polls_after_abort;
	atomic_int aborted;
};

struct stress {
	struct stress_cell cell[STRESS_TASKS];
	atomic_int done;                /* tasks whose future is dropped */
	atomic_int violations;
};

struct stress_fut {
	struct poll_future base;
	struct stress *st;
	unsigned i, polls, want;
};

static enum poll_status stress_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct stress_fut *sf = (struct stress_fut *)f;
	struct stress_cell *c = &sf->st->cell[sf->i];

	if (atomic_load(&c->aborted))
		atomic_fetch_add(&c->polls_after_abort, 1);
	if (++sf->polls >= sf->want) {
		f->out = sf->polls;
		return POLL_READY;       /* the drop gives the slots back */
	}
	pthread_mutex_lock(&c->lock);
	for (unsigned k = 0; k < STRESS_SLOTS; k++)
		poll_waker_set(&c->slot[k], cx);
	pthread_mutex_unlock(&c->lock);
	if (sf->polls % 5 == 0)
		poll_cx_wake(cx);        /* a yield now and then */
	return POLL_PENDING;
}

static void stress_drop(struct poll_future *f)
{
	struct stress_fut *sf = (struct stress_fut *)f;
	struct stress_cell *c = &sf->st->cell[sf->i];

	pthread_mutex_lock(&c->lock);
	for (unsigned k = 0; k < STRESS_SLOTS; k++)
		poll_waker_drop(&c->slot[k]);
	pthread_mutex_unlock(&c->lock);
	atomic_fetch_add(&sf->st->done, 1);
}

static const struct poll_future_vt stress_vt = { "stress", stress_poll,
						 stress_drop };

struct stress_thread {
	pthread_t thread;
	struct stress *st;
	unsigned seed;
};

/* Wakes, drops slots, aborts and detaches at random until every task's
 * future is dropped; past a bound of steps it aborts every task left, so
 * that the round ends whatever the scheduling. */
static void *stress_main(void *arg)
{
	struct stress_thread *th = arg;
	struct stress *st = th->st;
	unsigned steps = 0;

	while (atomic_load(&st->done) < STRESS_TASKS) {
		unsigned r = rand_r(&th->seed);
		struct stress_cell *c = &st->cell[r % STRESS_TASKS];
		unsigned what = (r >> 8) % 16;

		pthread_mutex_lock(&c->lock);
		if (what < 10)
			poll_waker_wake(&c->slot[(r >> 4) % STRESS_SLOTS]);
		else if (what < 13)
			poll_waker_drop(&c->slot[(r >> 4) % STRESS_SLOTS]);
		else if ((what == 13 || ++steps > 20000) && c->handle != NULL) {
			poll_task_abort(c->handle);
			atomic_store(&c->aborted, 1);
		} else if (what == 14 && c->handle != NULL &&
			   atomic_load(&c->aborted)) {
			poll_task_detach(c->handle);
			c->handle = NULL;
		}
		pthread_mutex_unlock(&c->lock);
		if (steps > 20000)
			sched_yield();
	}
	return NULL;
}

static void stress_round(unsigned round)
{
	static struct stress st;
	struct stress_thread th[STRESS_THREADS];
	struct poll_workers *w = workers_new(2);
	struct runner rn;

	memset(&st, 0, sizeof(st));
	for (unsigned i = 0; i < STRESS_TASKS; i++) {
		struct stress_fut sf = { { &stress_vt, 0 }, &st, i, 0,
					 5 + (i * 7 + round) % 40 };

		pthread_mutex_init(&st.cell[i].lock, NULL);
		ck_assert_int_eq(poll_workers_spawn(w, &sf.base, sizeof(sf),
						    &st.cell[i].handle), 0);
	}
	runner_start(&rn, w);
	for (unsigned k = 0; k < STRESS_THREADS; k++) {
		th[k] = (struct stress_thread){ .st = &st,
						.seed = round * 31 + k };
		ck_assert_int_eq(pthread_create(&th[k].thread, NULL,
						stress_main, &th[k]), 0);
	}
	for (unsigned k = 0; k < STRESS_THREADS; k++)
		pthread_join(th[k].thread, NULL);
	runner_join(&rn);
	for (unsigned i = 0; i < STRESS_TASKS; i++) {
		struct stress_cell *c = &st.cell[i];
		ssize_t out;

		ck_assert_int_eq(atomic_load(&c->polls_after_abort), 0);
		for (unsigned k = 0; k < STRESS_SLOTS; k++)
			poll_waker_drop(&c->slot[k]);
		if (c->handle != NULL) {
			ck_assert_int_eq(poll_task_result(c->handle, &out), 0);
			poll_task_detach(c->handle);
		}
		pthread_mutex_destroy(&c->lock);
	}
	poll_workers_free(w);
}

/* Three threads wake, drop wakers of, abort and detach 24 tasks on two
 * workers, 20 rounds; no task is polled after an abort returned, every
 * round ends, and the heap is back where it was. */
START_TEST(test_stress_waking_aborting_and_dropping_from_several_threads_leaks_nothing)
{
	leak_check_begin();
	for (unsigned round = 0; round < STRESS_ROUNDS; round++)
		stress_round(round);
	leak_check_end();
}
END_TEST

/* ---- push: one loop per thread ------------------------------------------------ */

struct push_probe {
	pthread_t loop_thread[2];
	pthread_t cb_thread[2];
	pthread_t msg_thread;
	struct push_req *req;           /* loop 0's long sleep, a handle */
	atomic_int ready;
	ssize_t result[2];
	int calls[2];
	int order[3], norder;
	struct push_msg msg[3];
	struct push_workers *w;
	int run_rc, cancel_rc;
};

static void *push_runner_main(void *arg);

/* Loop 1's sleep. */
static void probe_cb(void *data, ssize_t result)
{
	struct push_probe *p = data;

	p->cb_thread[1] = pthread_self();
	p->result[1] = result;
	p->calls[1]++;
}

static void probe_long_cb(void *data, ssize_t result)
{
	struct push_probe *p = data;

	p->cb_thread[0] = pthread_self();
	p->result[0] = result;
	p->calls[0]++;
	push_req_unref(p->req);
	p->req = NULL;
}

/* Loop 0 waits for an hour, until a message cancels it; loop 1 sleeps 1 ms. */
static void probe_start(struct push_loop *l, unsigned i, void *arg)
{
	struct push_probe *p = arg;

	p->loop_thread[i] = pthread_self();
	if (i == 0) {
		push_sleep(l, 3600ull * 1000000000ull, NULL, probe_long_cb, p,
			   &p->req);
		atomic_store(&p->ready, 1);
	} else {
		push_sleep(l, 1000000, NULL, probe_cb, p, NULL);
	}
}

static void probe_note(struct push_loop *l, void *arg)
{
	struct push_probe *p = arg;

	(void)l;
	p->msg_thread = pthread_self();
	p->order[p->norder] = p->norder;
	p->norder++;
}

static void probe_cancel(struct push_loop *l, void *arg)
{
	struct push_probe *p = arg;

	probe_note(l, arg);
	p->cancel_rc = push_cancel(p->req);
}

static void *push_runner_main(void *arg)
{
	struct push_probe *p = arg;

	p->run_rc = push_workers_run(p->w, probe_start, p);
	return NULL;
}

/* T1 and T2: each loop runs its callbacks on its own thread; a cancel from
 * another thread is a message, run by the target loop's thread, in post
 * order, and the callback it causes runs there too, with -ECANCELED. */
START_TEST(test_a_cancel_from_another_thread_goes_through_the_target_loop)
{
	static struct push_probe p;
	struct push_workers *w = NULL;
	pthread_t runner;

	leak_check_begin();
	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(push_workers_new(2, NULL, &w), 0);
	p.w = w;
	ck_assert_int_eq(pthread_create(&runner, NULL, push_runner_main, &p), 0);
	while (!atomic_load(&p.ready))
		sched_yield();
	push_workers_post(w, 0, &p.msg[0], probe_note, &p);
	push_workers_post(w, 0, &p.msg[1], probe_note, &p);
	push_workers_post(w, 0, &p.msg[2], probe_cancel, &p);
	pthread_join(runner, NULL);
	ck_assert_int_eq(p.run_rc, 0);
	ck_assert_int_eq(p.cancel_rc, 0);
	ck_assert_int_eq(p.norder, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(p.order[i], i);
	ck_assert(pthread_equal(p.msg_thread, p.loop_thread[0]));
	ck_assert_int_eq(p.calls[0], 1);
	ck_assert_int_eq(p.result[0], -ECANCELED);
	ck_assert(pthread_equal(p.cb_thread[0], p.loop_thread[0]));
	ck_assert_int_eq(p.calls[1], 1);
	ck_assert_int_eq(p.result[1], 0);
	ck_assert(pthread_equal(p.cb_thread[1], p.loop_thread[1]));
	ck_assert(!pthread_equal(p.loop_thread[0], p.loop_thread[1]));
	push_workers_free(w);
	leak_check_end();
}
END_TEST

/* T3: a message is the poster's memory and may be reused by its own fn at
 * once; a mailbox does not keep its loop running, so a message posted to
 * an idle loop runs at the loop's next run. */
struct relay_msgs {
	struct push_msg msg;
	struct push_mailbox *mb;
	struct push_req *req;
	int runs;
};

static void relay_msg_fn(struct push_loop *l, void *arg)
{
	struct relay_msgs *rm = arg;

	(void)l;
	if (++rm->runs < 3) {
		push_mailbox_post(rm->mb, &rm->msg, relay_msg_fn, rm); /* reuse */
		return;
	}
	push_cancel(rm->req);
}

static void relay_sleep_cb(void *data, ssize_t result)
{
	struct relay_msgs *rm = data;

	ck_assert_int_eq(result, -ECANCELED);
	push_req_unref(rm->req);
	rm->req = NULL;
}

START_TEST(test_a_message_posted_to_an_idle_loop_runs_at_its_next_run)
{
	struct reactor *r;
	struct push_loop l;
	struct push_mailbox mb;
	struct relay_msgs rm = { .mb = &mb };

	leak_check_begin();
	r = reactor_new_epoll();
	ck_assert_ptr_nonnull(r);
	push_loop_init(&l, r, NULL, NULL);
	push_mailbox_start(&mb, &l);
	push_mailbox_post(&mb, &rm.msg, relay_msg_fn, &rm);
	ck_assert_int_eq(push_loop_run(&l), 0);      /* nothing pending */
	ck_assert_int_eq(rm.runs, 0);
	ck_assert_int_eq(push_sleep(&l, 3600ull * 1000000000ull, NULL,
				    relay_sleep_cb, &rm, &rm.req), PUSH_STARTED);
	ck_assert_int_eq(push_loop_run(&l), 0);
	ck_assert_int_eq(rm.runs, 3);
	ck_assert_uint_eq(mb.delivered, 3);
	ck_assert_ptr_null(rm.req);
	push_mailbox_stop(&mb);
	push_loop_fini(&l);
	reactor_free(r);
	leak_check_end();
}
END_TEST

/* Loops per thread share a port with SO_REUSEPORT: every connection is
 * served, by one loop or the other, for both engines. */
static void serve_on_two_loops_with(echo_serve_fn fn,
				    enum echo_buffers buffers)
{
	struct server_thread st[2];
	struct echo_opts o;
	struct netclient_result res;
	uint64_t accepted = 0, bytes = 0;

	memset(st, 0, sizeof(st));
	echo_opts_default(&o);
	o.reuse_port = true;
	o.buffers = buffers;
	ck_assert_int_eq(server_thread_start(&st[0], fn, &o), 0);
	o.port = st[0].port;
	ck_assert_int_eq(server_thread_start(&st[1], fn, &o), 0);
	ck_assert_uint_eq(st[1].port, st[0].port);
	ck_assert_int_eq(netclient_echo(o.port, 16, 4096, 512, 10000, &res), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(server_thread_stop(&st[i]), 0);
		accepted += st[i].stats.accepted;
		bytes += st[i].stats.bytes;
	}
	ck_assert_uint_eq(accepted, 16);
	ck_assert_uint_eq(bytes, 16 * 4096);
	printf("two loops on one port: %llu and %llu connections\n",
	       (unsigned long long)st[0].stats.accepted,
	       (unsigned long long)st[1].stats.accepted);
}

static void serve_on_two_loops(echo_serve_fn fn)
{
	serve_on_two_loops_with(fn, ECHO_BUFFERS_CONN);
}

START_TEST(test_two_push_loops_share_a_port_and_serve_every_connection)
{
	serve_on_two_loops(push_echo_serve);
}
END_TEST

START_TEST(test_two_poll_loops_share_a_port_and_serve_every_connection)
{
	serve_on_two_loops(poll_echo_serve);
}
END_TEST

/* push over io_uring: each loop has its own ring beside its own reactor
 * (completion_new_beside()), made on its own thread, and shares the port
 * as on epoll; with buffers per connection (loop 0) and on readiness
 * (loop 1: a provided buffer ring per loop).  Skipped, with the reason,
 * where no ring (or no provided buffer ring) can be had here. */
START_TEST(test_two_push_loops_over_io_uring_share_a_port_and_serve_every_connection)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;
	bool rings;

	if (completion_new_uring(8, &q, why, sizeof(why)) < 0) {
		printf("skipped on uring: %s\n", why);
		return;
	}
	rings = completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV);
	completion_free(q);
	if (_i == 1 && !rings) {
		printf("skipped on uring: no provided buffer rings here\n");
		return;
	}
	serve_on_two_loops_with(push_echo_serve_completion,
				_i ? ECHO_BUFFERS_READY : ECHO_BUFFERS_CONN);
}
END_TEST

/* Without reuse_port a second server on the port is refused, as before. */
START_TEST(test_without_reuse_port_a_second_listener_is_refused)
{
	struct server_thread st[2];
	struct echo_opts o;

	memset(st, 0, sizeof(st));
	echo_opts_default(&o);
	ck_assert_int_eq(server_thread_start(&st[0], push_echo_serve, &o), 0);
	o.port = st[0].port;
	ck_assert_int_eq(server_thread_start(&st[1], push_echo_serve, &o),
			 -EADDRINUSE);
	ck_assert_int_eq(server_thread_stop(&st[0]), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("workers");
	TCase *tc;

	tc = tcase_create("poll");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_workers_run_every_task_to_the_end_each_on_one_thread);
	tcase_add_test(tc, test_poll_spawn_inside_a_task_of_the_workers_spawns_on_the_workers);
	tcase_add_test(tc, test_a_waker_fired_from_another_thread_wakes_the_task);
	tcase_add_test(tc, test_abort_from_another_thread_means_the_task_is_never_polled_again);
	tcase_add_test(tc, test_abort_of_a_running_task_from_another_thread_drops_it_after_its_poll);
	tcase_add_test(tc, test_waking_a_done_task_from_another_thread_is_safe_and_frees_it_last);
	tcase_add_test(tc, test_io_futures_run_on_the_workers_with_each_stream_on_its_home_reactor);
	tcase_add_test(tc, test_a_task_moved_between_workers_keeps_its_stream_and_its_timer);
	suite_add_tcase(s, tc);

	tc = tcase_create("workloads");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_echo_on_two_workers_returns_every_byte_and_spreads_connections);
	tcase_add_test(tc, test_echo_on_four_workers_returns_every_byte_and_spreads_connections);
	tcase_add_test(tc, test_stop_with_connections_open_ends_every_task_on_the_workers);
	tcase_add_test(tc, test_a_stop_before_the_run_ends_the_echo_on_the_workers_at_once);
	tcase_add_test(tc, test_fanout_on_two_workers_delivers_every_byte_to_every_sink);
	suite_add_tcase(s, tc);

	tc = tcase_create("push");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_cancel_from_another_thread_goes_through_the_target_loop);
	tcase_add_test(tc, test_a_message_posted_to_an_idle_loop_runs_at_its_next_run);
	tcase_add_test(tc, test_two_push_loops_share_a_port_and_serve_every_connection);
	tcase_add_loop_test(tc, test_two_push_loops_over_io_uring_share_a_port_and_serve_every_connection, 0, 2);
	tcase_add_test(tc, test_two_poll_loops_share_a_port_and_serve_every_connection);
	tcase_add_test(tc, test_without_reuse_port_a_second_listener_is_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_stress_waking_aborting_and_dropping_from_several_threads_leaks_nothing);
	suite_add_tcase(s, tc);

	return s;
}

#include "testutil.h"
