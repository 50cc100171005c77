/* test_offload.c: the blocking pool, over epoll (real worker threads) and
 * over sim (jobs at scheduled steps).
 *
 * A test job is one mem_alloc() block holding the offload_job and the buffer
 * its work writes into, freed by discard() or after done(): the sanitizer
 * build then proves that a cancelled running job's buffer stays valid until
 * its work returns, and that nothing is used after discard().
 *
 * Workers are held at a gate the test controls (a semaphore), so "running",
 * "queued" and "finished" are states the test puts a job in, not timing.
 */
#include "config.h"      /* first: _GNU_SOURCE */

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"
#include "offload.h"
#include "reactor.h"
#include "sim.h"

#define MS CLOCK_NS_PER_MS
#define BUF_LEN 4096

/* ---- the test job ---------------------------------------------------------- */

struct tjob {
	struct offload_job job;
	int id;
	bool gated;             /* work waits at the gate */
	bool wrote;             /* work filled buf to the end */
	pthread_t work_on, done_on;
	const char *path;       /* when set, work reads this file into buf */
	ssize_t got;
	struct reactor *r;
	unsigned char buf[BUF_LEN];
};

/* What happened, counted outside the jobs (discard frees them).  Workers
 * update work_calls; done and discard run on the loop thread. */
static struct {
	sem_t started;          /* posted when a work() begins */
	sem_t gate;             /* a gated work() waits here */
	int work_calls;         /* atomic */
	int done_calls;
	int discard_calls;
	int done_per_id[1000];
	int discard_per_id[1000];
	bool done_off_loop;     /* done() ran on another thread */
	bool last_discard_wrote;   /* the discarded job's work had returned */
	pthread_t loop;
} ev;

static void ev_reset(void)
{
	memset(&ev, 0, sizeof(ev));
	sem_init(&ev.started, 0, 0);
	sem_init(&ev.gate, 0, 0);
	ev.loop = pthread_self();
}

static void tjob_work(struct offload_job *job)
{
	struct tjob *t = (struct tjob *)job;

	t->work_on = pthread_self();
	__atomic_add_fetch(&ev.work_calls, 1, __ATOMIC_SEQ_CST);
	sem_post(&ev.started);
	if (t->gated)
		sem_wait(&ev.gate);
	if (t->path != NULL) {
		int fd = reactor_file_open(t->r, t->path, O_RDONLY, 0);
		t->got = fd < 0 ? fd : reactor_file_pread(t->r, fd, t->buf,
							 sizeof(t->buf), 0);
		if (fd >= 0)
			reactor_file_close(t->r, fd);
	} else {
		/* Write into the job's own buffer after the gate: if the job
		 * had been freed by a cancel, this is a use after free. */
		memset(t->buf, t->id & 0xff, sizeof(t->buf));
	}
	t->wrote = true;
}

static void tjob_done(struct offload_job *job)
{
	struct tjob *t = (struct tjob *)job;

	t->done_on = pthread_self();
	if (!pthread_equal(t->done_on, ev.loop))
		ev.done_off_loop = true;
	ev.done_calls++;
	ev.done_per_id[t->id]++;
	/* The job is the caller's again: this test frees it here. */
	mem_free(t);
}

static void tjob_discard(struct offload_job *job)
{
	struct tjob *t = (struct tjob *)job;

	if (!pthread_equal(pthread_self(), ev.loop))
		ev.done_off_loop = true;
	ev.last_discard_wrote = t->wrote;
	ev.discard_calls++;
	ev.discard_per_id[t->id]++;
	mem_free(t);
}

static struct tjob *tjob_new(int id, bool gated)
{
	struct tjob *t = mem_calloc(1, sizeof(*t));

	ck_assert_ptr_nonnull(t);
	t->id = id;
	t->gated = gated;
	t->job.work = tjob_work;
	t->job.done = tjob_done;
	t->job.discard = tjob_discard;
	return t;
}

/* Poll until *count reaches want.  The bound is a generous deadline, not a
 * number of polls: on a loaded machine the workers may finish one job per
 * poll, and 1000 jobs then take 1000 polls. */
static void poll_until_count(struct reactor *r, const int *count, int want)
{
	uint64_t deadline = clock_now_ns() + 20 * CLOCK_NS_PER_S;

	while (*count < want && clock_now_ns() < deadline)
		ck_assert_int_ge(reactor_poll(r, 50 * MS), 0);
}

/* One more short poll after the last expected delivery.  A worker sends
 * the pool's async after it unlocks, so the loop may already have delivered
 * a job (found on the finished list) whose own wake is still on its way:
 * that late wake may make this poll return 1.  What it must not do is
 * deliver anything, which the caller checks on the counters. */
static void poll_once_more(struct reactor *r)
{
	ck_assert_int_ge(reactor_poll(r, 10 * MS), 0);
}

static int job_state(struct tjob *t)
{
	return __atomic_load_n(&t->job.state, __ATOMIC_ACQUIRE);
}

/* Wait (bounded, generously: a loaded machine may leave a worker
 * unscheduled for a while) until a worker has moved t to want. */
static void wait_state(struct tjob *t, int want)
{
	for (int i = 0; i < 10000 && job_state(t) != want; i++)
		usleep(1000);
	ck_assert_int_eq(job_state(t), want);
}

static void started_wait(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	ck_assert_int_eq(sem_timedwait(&ev.started, &ts), 0);
}

/* ---- epoll: real threads --------------------------------------------------- */

START_TEST(test_done_runs_on_loop_thread_after_work_on_a_worker)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 2);
	struct tjob *t;

	ev_reset();
	ck_assert_ptr_nonnull(o);
	t = tjob_new(1, false);
	offload_submit(o, &t->job);
	ck_assert_int_eq(ev.done_calls, 0);   /* never inside submit */
	ck_assert_uint_eq(offload_outstanding(o), 1);
	started_wait();
	poll_until_count(r, &ev.done_calls, 1);
	ck_assert_int_eq(ev.done_calls, 1);
	ck_assert(!ev.done_off_loop);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

/* work() ran on a thread that is not the loop's; checked apart from done()
 * so the job is still alive to look at. */
struct thread_probe {
	struct offload_job job;
	pthread_t work_on;
	int done;
};

static void probe_work(struct offload_job *job)
{
	((struct thread_probe *)job)->work_on = pthread_self();
}

static void probe_done(struct offload_job *job)
{
	((struct thread_probe *)job)->done++;
}

START_TEST(test_work_runs_on_a_worker_thread_not_the_loop)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct thread_probe p = { .job = { .work = probe_work,
					   .done = probe_done } };

	offload_submit(o, &p.job);
	poll_until_count(r, &p.done, 1);
	ck_assert_int_eq(p.done, 1);
	ck_assert(!pthread_equal(p.work_on, pthread_self()));
	ck_assert_int_eq(p.job.state, OFFLOAD_IDLE);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_many_jobs_each_complete_exactly_once)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 4);
	struct offload_stats st;
	enum { N = 1000 };

	ev_reset();
	for (int i = 0; i < N; i++)
		offload_submit(o, &tjob_new(i, false)->job);
	ck_assert_uint_eq(offload_outstanding(o), N);
	poll_until_count(r, &ev.done_calls, N);
	ck_assert_int_eq(ev.done_calls, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ev.done_per_id[i], 1);
	ck_assert_int_eq(ev.discard_calls, 0);
	ck_assert(!ev.done_off_loop);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.submitted, N);
	ck_assert_uint_eq(st.completed, N);
	ck_assert_uint_eq(st.cancelled_queued + st.cancelled_running +
			  st.cancelled_finished, 0);
	/* Nothing more arrives. */
	poll_once_more(r);
	ck_assert_int_eq(ev.done_calls, N);
	ck_assert_int_eq(ev.discard_calls, 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_jobs_on_one_worker_run_in_submission_order)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct tjob *t[4];

	ev_reset();
	/* The first job holds the only worker while the rest queue up. */
	t[0] = tjob_new(0, true);
	offload_submit(o, &t[0]->job);
	started_wait();
	for (int i = 1; i < 4; i++) {
		t[i] = tjob_new(i, true);
		offload_submit(o, &t[i]->job);
		ck_assert_int_eq(t[i]->job.state, OFFLOAD_QUEUED);
	}
	for (int i = 1; i < 4; i++) {
		/* Release one job; the next one to start must be job i. */
		sem_post(&ev.gate);
		started_wait();
		wait_state(t[i], OFFLOAD_RUNNING);
		for (int j = i + 1; j < 4; j++)
			ck_assert_int_eq(job_state(t[j]), OFFLOAD_QUEUED);
	}
	sem_post(&ev.gate);
	poll_until_count(r, &ev.done_calls, 4);
	ck_assert_int_eq(ev.done_calls, 4);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_cancel_queued_job_discards_at_once_and_never_runs_it)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *blocker, *queued;

	ev_reset();
	blocker = tjob_new(1, true);
	offload_submit(o, &blocker->job);
	started_wait();                 /* the only worker is busy */
	queued = tjob_new(2, false);
	offload_submit(o, &queued->job);
	ck_assert_int_eq(queued->job.state, OFFLOAD_QUEUED);
	ck_assert_uint_eq(offload_outstanding(o), 2);

	offload_cancel(o, &queued->job);
	ck_assert_int_eq(ev.discard_calls, 1);   /* at once, inside cancel */
	ck_assert_int_eq(ev.discard_per_id[2], 1);
	ck_assert_uint_eq(offload_outstanding(o), 1);

	sem_post(&ev.gate);
	poll_until_count(r, &ev.done_calls, 1);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(ev.done_calls, 1);
	ck_assert_int_eq(ev.done_per_id[1], 1);
	ck_assert_int_eq(ev.done_per_id[2], 0);
	ck_assert_int_eq(ev.work_calls, 1);      /* the cancelled one never ran */
	ck_assert_int_eq(ev.discard_calls, 1);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_queued, 1);
	ck_assert_uint_eq(st.completed, 1);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_cancel_running_job_keeps_buffer_until_work_returns)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t;

	ev_reset();
	t = tjob_new(7, true);
	offload_submit(o, &t->job);
	started_wait();
	wait_state(t, OFFLOAD_RUNNING);

	offload_cancel(o, &t->job);
	/* Running: not discarded yet; the work still owns the buffer. */
	ck_assert_int_eq(ev.discard_calls, 0);
	ck_assert_int_eq(t->job.state, OFFLOAD_CANCELLED);
	offload_cancel(o, &t->job);          /* again: nothing */
	ck_assert_int_eq(ev.discard_calls, 0);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(ev.discard_calls, 0);

	/* Let the work write its buffer and return; then discard, once. */
	sem_post(&ev.gate);
	poll_until_count(r, &ev.discard_calls, 1);
	ck_assert_int_eq(ev.discard_calls, 1);
	ck_assert(ev.last_discard_wrote);
	ck_assert(!ev.done_off_loop);
	ck_assert_int_eq(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(ev.discard_calls, 1);
	ck_assert_int_eq(ev.done_calls, 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_running, 1);
	ck_assert_uint_eq(st.completed, 0);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_cancel_finished_job_before_delivery_discards_at_once)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t;

	ev_reset();
	t = tjob_new(3, false);
	offload_submit(o, &t->job);
	/* The loop is not polled, so the finished job cannot be delivered. */
	wait_state(t, OFFLOAD_FINISHED);
	ck_assert_int_eq(ev.done_calls, 0);

	offload_cancel(o, &t->job);
	ck_assert_int_eq(ev.discard_calls, 1);   /* at once */
	ck_assert_uint_eq(offload_outstanding(o), 0);
	/* The async the worker sent still fires; it delivers nothing. */
	for (int i = 0; i < 5; i++)
		ck_assert_int_ge(reactor_poll(r, 10 * MS), 0);
	ck_assert_int_eq(ev.done_calls, 0);
	ck_assert_int_eq(ev.discard_calls, 1);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_finished, 1);
	offload_free(o);
	reactor_free(r);
}
END_TEST

/* offload_finished() counts a job from the end of its work to its
 * delivery: what a harness waits for to cancel a job at that moment. */
START_TEST(test_finished_counts_jobs_whose_completion_waits_for_the_loop)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct tjob *t;

	ev_reset();
	ck_assert_uint_eq(offload_finished(o), 0);
	t = tjob_new(4, true);
	offload_submit(o, &t->job);
	started_wait();
	ck_assert_uint_eq(offload_finished(o), 0);      /* running */
	sem_post(&ev.gate);
	wait_state(t, OFFLOAD_FINISHED);
	ck_assert_uint_eq(offload_finished(o), 1);
	ck_assert_uint_eq(offload_outstanding(o), 1);
	poll_until_count(r, &ev.done_calls, 1);
	ck_assert_uint_eq(offload_finished(o), 0);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_cancel_of_an_idle_job_does_nothing)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t;

	ev_reset();
	t = tjob_new(4, false);
	offload_cancel(o, &t->job);               /* never submitted */
	ck_assert_int_eq(ev.discard_calls, 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_queued + st.cancelled_running +
			  st.cancelled_finished, 0);
	mem_free(t);
	offload_free(o);
	reactor_free(r);
}
END_TEST

/* A done() that cancels another job which finished before the delivery
 * round began: that job is discarded at once and never delivered. */
static struct offload *victim_pool;
static struct tjob *victim;

static void cancel_victim_done(struct offload_job *job)
{
	offload_cancel(victim_pool, &victim->job);
	tjob_done(job);
}

START_TEST(test_done_may_cancel_another_finished_job)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *a;

	ev_reset();
	/* One worker: a finishes before b, so a is delivered first. */
	a = tjob_new(1, false);
	victim = tjob_new(2, false);
	victim_pool = o;
	a->job.done = cancel_victim_done;
	offload_submit(o, &a->job);
	offload_submit(o, &victim->job);
	wait_state(victim, OFFLOAD_FINISHED);

	poll_until_count(r, &ev.done_calls, 1);
	poll_once_more(r);        /* b's own wake may arrive late */
	ck_assert_int_eq(ev.done_calls, 1);
	ck_assert_int_eq(ev.done_per_id[1], 1);
	ck_assert_int_eq(ev.discard_per_id[2], 1);
	ck_assert_int_eq(ev.done_per_id[2], 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_finished, 1);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_outstanding_counts_jobs_not_yet_given_back)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t[3];

	ev_reset();
	ck_assert_uint_eq(offload_outstanding(o), 0);
	for (int i = 0; i < 3; i++) {
		t[i] = tjob_new(i, true);
		offload_submit(o, &t[i]->job);
		ck_assert_uint_eq(offload_outstanding(o), (unsigned)i + 1);
	}
	started_wait();                      /* t[0] runs, t[1], t[2] queued */
	offload_cancel(o, &t[2]->job);       /* queued: given back now */
	ck_assert_uint_eq(offload_outstanding(o), 2);
	offload_cancel(o, &t[0]->job);       /* running: given back later */
	ck_assert_uint_eq(offload_outstanding(o), 2);
	sem_post(&ev.gate);                  /* t[0] returns */
	started_wait();                      /* t[1] starts */
	sem_post(&ev.gate);
	poll_until_count(r, &ev.done_calls, 1);
	poll_until_count(r, &ev.discard_calls, 2);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.submitted, 3);
	ck_assert_uint_eq(st.completed, 1);
	ck_assert_uint_eq(st.cancelled_queued, 1);
	ck_assert_uint_eq(st.cancelled_running, 1);
	ck_assert_uint_eq(st.cancelled_finished, 0);
	ck_assert_int_eq(ev.done_per_id[1], 1);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_job_reads_a_real_file_with_reactor_file_pread)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o = offload_new(r, 2);
	char path[] = "/tmp/pushpoll-offload-XXXXXX";
	unsigned char data[1000];
	struct tjob *t;
	int fd;

	ev_reset();
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 1);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, sizeof(data)), sizeof(data));
	close(fd);

	t = tjob_new(5, false);
	t->r = r;
	t->path = path;
	t->job.done = probe_done;     /* keep the job to look at it */
	offload_submit(o, &t->job);
	for (int i = 0; i < 100 && t->job.state != OFFLOAD_IDLE; i++)
		ck_assert_int_ge(reactor_poll(r, 50 * MS), 0);
	ck_assert_int_eq(t->job.state, OFFLOAD_IDLE);
	ck_assert_int_eq(t->got, sizeof(data));
	ck_assert_mem_eq(t->buf, data, sizeof(data));
	mem_free(t);
	unlink(path);
	offload_free(o);
	reactor_free(r);
}
END_TEST

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The threads of this process once their count has come down to want, or
 * after about two seconds.  pthread_join returns when the kernel clears the
 * thread's id, a moment before the thread leaves /proc/self/task: a joined
 * thread can still be listed there, briefly. */
static int count_threads_settled(int want)
{
	int n = count_threads();

	for (int i = 0; i < 200 && n > want; i++) {
		usleep(10 * 1000);
		n = count_threads();
	}
	return n;
}

START_TEST(test_free_joins_every_worker)
{
	struct reactor *r = reactor_new_epoll();
	int before = count_threads();
	struct offload *o = offload_new(r, 3);

	ck_assert_int_eq(count_threads(), before + 3);
	offload_free(o);
	ck_assert_int_eq(count_threads_settled(before), before);
	reactor_free(r);
}
END_TEST

START_TEST(test_pool_allocates_only_in_offload_new)
{
	struct reactor *r = reactor_new_epoll();
	struct offload *o;
	struct mem_stats a, b, c;
	struct thread_probe p = { .job = { .work = probe_work,
					   .done = probe_done } };

	mem_stats_get(&a);
	o = offload_new(r, 2);
	mem_stats_get(&b);
	for (int i = 0; i < 50; i++) {
		offload_submit(o, &p.job);
		poll_until_count(r, &p.done, i + 1);
	}
	ck_assert_int_eq(p.done, 50);
	mem_stats_get(&c);
	ck_assert_uint_eq(c.allocs, b.allocs);
	offload_free(o);
	mem_stats_get(&c);
	ck_assert_int_eq(c.live_blocks, a.live_blocks);
	reactor_free(r);
}
END_TEST

/* ---- sim: jobs at scheduled steps ------------------------------------------ */

static struct reactor *sim_new(uint64_t seed)
{
	struct sim_config c;
	struct reactor *r;

	sim_config_default(&c, seed);
	r = reactor_new_sim(&c);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* Deliver steps until *count reaches want, or nothing is left. */
static void sim_run_until(struct reactor *r, const int *count, int want)
{
	for (int i = 0; i < 10000 && *count < want; i++)
		if (reactor_poll(r, -1) < 0)
			break;
}

START_TEST(test_sim_job_starts_and_finishes_at_steps_on_the_loop)
{
	struct reactor *r = sim_new(1);
	struct offload *o = offload_new(r, 4);
	struct tjob *t;
	uint64_t s0;

	ev_reset();
	ck_assert_ptr_nonnull(o);
	t = tjob_new(1, false);
	offload_submit(o, &t->job);
	ck_assert_int_eq(t->job.state, OFFLOAD_QUEUED);
	ck_assert_int_eq(ev.work_calls, 0);
	s0 = sim_steps(r);

	/* Step "offload start": RUNNING, no work yet. */
	for (int i = 0; i < 100 && t->job.state == OFFLOAD_QUEUED; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(t->job.state, OFFLOAD_RUNNING);
	ck_assert_int_eq(ev.work_calls, 0);
	ck_assert_uint_gt(sim_steps(r), s0);

	/* Step "offload finish": work() then done(), both on this thread. */
	sim_run_until(r, &ev.done_calls, 1);
	ck_assert_int_eq(ev.work_calls, 1);
	ck_assert_int_eq(ev.done_calls, 1);
	ck_assert(!ev.done_off_loop);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	/* Nothing left: the simulated world is quiescent. */
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_sim_many_jobs_complete_exactly_once)
{
	struct reactor *r = sim_new(2);
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	enum { N = 100 };

	ev_reset();
	for (int i = 0; i < N; i++)
		offload_submit(o, &tjob_new(i, false)->job);
	sim_run_until(r, &ev.done_calls, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ev.done_per_id[i], 1);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.submitted, N);
	ck_assert_uint_eq(st.completed, N);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_sim_cancel_queued_job_discards_at_once)
{
	struct reactor *r = sim_new(3);
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t;

	ev_reset();
	t = tjob_new(1, false);
	offload_submit(o, &t->job);
	offload_cancel(o, &t->job);
	ck_assert_int_eq(ev.discard_calls, 1);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	/* Its start step was unscheduled: nothing is left to happen. */
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	ck_assert_int_eq(ev.work_calls, 0);
	ck_assert_int_eq(ev.done_calls, 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_queued, 1);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_sim_cancel_running_job_runs_work_at_finish_then_discards)
{
	struct reactor *r = sim_new(4);
	struct offload *o = offload_new(r, 1);
	struct offload_stats st;
	struct tjob *t;

	ev_reset();
	t = tjob_new(1, false);
	offload_submit(o, &t->job);
	for (int i = 0; i < 100 && t->job.state == OFFLOAD_QUEUED; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(t->job.state, OFFLOAD_RUNNING);

	offload_cancel(o, &t->job);
	ck_assert_int_eq(t->job.state, OFFLOAD_CANCELLED);
	ck_assert_int_eq(ev.discard_calls, 0);
	ck_assert_uint_eq(offload_outstanding(o), 1);

	sim_run_until(r, &ev.discard_calls, 1);
	ck_assert_int_eq(ev.work_calls, 1);    /* the work still ran */
	ck_assert_int_eq(ev.discard_calls, 1);
	ck_assert_int_eq(ev.done_calls, 0);
	ck_assert_uint_eq(offload_outstanding(o), 0);
	offload_stats_get(o, &st);
	ck_assert_uint_eq(st.cancelled_running, 1);
	ck_assert_int_eq(reactor_poll(r, -1), -EDEADLK);
	offload_free(o);
	reactor_free(r);
}
END_TEST

START_TEST(test_sim_job_reads_an_in_memory_file)
{
	struct reactor *r = sim_new(5);
	struct offload *o = offload_new(r, 1);
	static const char text[] = "the simulated file's contents";
	struct tjob *t;

	ev_reset();
	ck_assert_int_eq(sim_file_create(r, "/sim/in", text, sizeof(text)), 0);
	t = tjob_new(1, false);
	t->r = r;
	t->path = "/sim/in";
	t->job.done = probe_done;
	offload_submit(o, &t->job);
	for (int i = 0; i < 100 && t->job.state != OFFLOAD_IDLE; i++)
		ck_assert_int_ge(reactor_poll(r, -1), 0);
	ck_assert_int_eq(t->got, sizeof(text));
	ck_assert_mem_eq(t->buf, text, sizeof(text));
	mem_free(t);
	offload_free(o);
	reactor_free(r);
}
END_TEST

/* The same seed gives the same steps: offload is part of the replay. */
static uint64_t sim_trace_of(uint64_t seed)
{
	struct reactor *r = sim_new(seed);
	struct offload *o = offload_new(r, 1);
	uint64_t h;

	ev_reset();
	for (int i = 0; i < 10; i++)
		offload_submit(o, &tjob_new(i, false)->job);
	sim_run_until(r, &ev.done_calls, 10);
	ck_assert_int_eq(ev.done_calls, 10);
	h = sim_trace_hash(r);
	offload_free(o);
	reactor_free(r);
	return h;
}

START_TEST(test_sim_same_seed_gives_same_offload_trace)
{
	ck_assert_uint_eq(sim_trace_of(42), sim_trace_of(42));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("offload");
	TCase *tc;

	tc = tcase_create("epoll");
	/* Above the bounded waits' limits, so a stuck worker is reported by
	 * the assertion that waited for it, not by Check's 4 s default. */
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_done_runs_on_loop_thread_after_work_on_a_worker);
	tcase_add_test(tc, test_work_runs_on_a_worker_thread_not_the_loop);
	tcase_add_test(tc, test_many_jobs_each_complete_exactly_once);
	tcase_add_test(tc, test_jobs_on_one_worker_run_in_submission_order);
	tcase_add_test(tc, test_cancel_queued_job_discards_at_once_and_never_runs_it);
	tcase_add_test(tc, test_cancel_running_job_keeps_buffer_until_work_returns);
	tcase_add_test(tc, test_cancel_finished_job_before_delivery_discards_at_once);
	tcase_add_test(tc, test_finished_counts_jobs_whose_completion_waits_for_the_loop);
	tcase_add_test(tc, test_cancel_of_an_idle_job_does_nothing);
	tcase_add_test(tc, test_done_may_cancel_another_finished_job);
	tcase_add_test(tc, test_outstanding_counts_jobs_not_yet_given_back);
	tcase_add_test(tc, test_job_reads_a_real_file_with_reactor_file_pread);
	tcase_add_test(tc, test_free_joins_every_worker);
	tcase_add_test(tc, test_pool_allocates_only_in_offload_new);
	suite_add_tcase(s, tc);

	tc = tcase_create("sim");
	tcase_add_test(tc, test_sim_job_starts_and_finishes_at_steps_on_the_loop);
	tcase_add_test(tc, test_sim_many_jobs_complete_exactly_once);
	tcase_add_test(tc, test_sim_cancel_queued_job_discards_at_once);
	tcase_add_test(tc, test_sim_cancel_running_job_runs_work_at_finish_then_discards);
	tcase_add_test(tc, test_sim_job_reads_an_in_memory_file);
	tcase_add_test(tc, test_sim_same_seed_gives_same_offload_trace);
	suite_add_tcase(s, tc);

	return s;
}

#include "testutil.h"
