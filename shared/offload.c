/* offload.c: the blocking pool (see offload.h for the states and the
 * ownership rule this file keeps).
 *
 * Under epoll:
 *
 *   loop thread                      worker threads
 *   -----------                      --------------
 *   offload_submit  --> queue ------> take the head (QUEUED -> RUNNING)
 *                      (FIFO)         work(job), lock not held
 *                                     RUNNING -> FINISHED, or stays CANCELLED
 *   deliver()  <-- async <-- finished list <--+
 *   done(job) or discard(job)
 *
 * One mutex guards both lists and every job's state; one condition variable
 * wakes idle workers.  A job's `next` links it into whichever list it is on:
 * the queue while QUEUED, the finished list while FINISHED (or CANCELLED
 * after its work returned), none while RUNNING.  Both lists are singly
 * linked with a tail pointer: appending is O(1), cancelling a queued or
 * finished job walks its list, O(length); with the handful of jobs an engine
 * keeps in flight that is cheaper than a second link in every job.
 *
 * done() and discard() run only on the loop thread, in deliver() or inside
 * offload_cancel(), and never with the lock held, so they may submit and
 * cancel jobs themselves.  They may not call offload_free(): deliver() still
 * uses the pool after each of them returns.
 *
 * Under sim there are no threads, no lock and no lists: each job is a
 * scheduled call, "offload start" then "offload finish", and work() runs on
 * the loop thread at its finish step.
 */
#include "offload.h"
#include "container_of.h"
#include "mem.h"

#include <assert.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>

struct offload_list {
	struct offload_job *head, *tail;
	unsigned len;
};

struct offload {
	struct reactor *r;
	bool sim;                       /* reactor_is_sim(r): no threads */
	pthread_mutex_t lock;
	pthread_cond_t work_ready;      /* queue not empty, or stopping */
	struct offload_list queue;      /* QUEUED jobs, oldest first (lock) */
	struct offload_list finished;   /* work returned, not delivered (lock) */
	bool stopping;                  /* offload_free(): workers exit (lock) */
	struct reactor_async async;     /* workers send it when a job finishes */
	/* Loop thread only. */
	unsigned outstanding;
	struct offload_stats stats;
	unsigned nthreads;              /* started workers */
	pthread_t threads[];
};

/* ---- the two lists (lock held) --------------------------------------------- */

static void list_append(struct offload_list *l, struct offload_job *job)
{
	job->next = NULL;
	if (l->tail != NULL)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
	l->len++;
}

static struct offload_job *list_pop(struct offload_list *l)
{
	struct offload_job *job = l->head;

	if (job == NULL)
		return NULL;
	l->head = job->next;
	if (l->head == NULL)
		l->tail = NULL;
	job->next = NULL;
	l->len--;
	return job;
}

/* Unlink job from l, where it must be.  O(position of job). */
static void list_remove(struct offload_list *l, struct offload_job *job)
{
	struct offload_job *prev = NULL;

	for (struct offload_job *j = l->head; j != job; j = j->next) {
		assert(j != NULL && "job not on its list");
		prev = j;
	}
	if (prev != NULL)
		prev->next = job->next;
	else
		l->head = job->next;
	if (l->tail == job)
		l->tail = prev;
	job->next = NULL;
	l->len--;
}

/* ---- giving a job back (loop thread, lock not held) --------------------- */

/* The job leaves the pool: after these calls the pool never touches it. */
static void give_back_done(struct offload *o, struct offload_job *job)
{
	o->outstanding--;
	o->stats.completed++;
	job->done(job);
}

static void give_back_discard(struct offload *o, struct offload_job *job)
{
	o->outstanding--;
	job->discard(job);
}

/* ---- workers (epoll) ----------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct offload *o = arg;
	struct offload_job *job;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (o->queue.head == NULL && !o->stopping)
			pthread_cond_wait(&o->work_ready, &o->lock);
		if (o->queue.head == NULL)
			break;                  /* stopping, nothing left */
		job = list_pop(&o->queue);
		job->state = OFFLOAD_RUNNING;
		pthread_mutex_unlock(&o->lock);

		/* The job is this thread's alone now: a cancel only marks it. */
		job->work(job);

		pthread_mutex_lock(&o->lock);
		if (job->state == OFFLOAD_RUNNING)
			job->state = OFFLOAD_FINISHED;
		/* else CANCELLED: deliver() discards it on the loop thread. */
		list_append(&o->finished, job);
		pthread_mutex_unlock(&o->lock);
		/* After the unlock the loop may free the job: touch only o. */
		reactor_async_send(&o->async);
		pthread_mutex_lock(&o->lock);
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* The async's callback, on the loop thread: give back the jobs that were on
 * the finished list when it started, one at a time, so that a done() that
 * cancels another finished job finds it still on the list.  Jobs finishing
 * meanwhile sent the async again and wait for the next poll: a stream of
 * completions cannot hold the loop here. */
static void deliver(struct reactor_async *a)
{
	struct offload *o = container_of(a, struct offload, async);
	unsigned budget;

	pthread_mutex_lock(&o->lock);
	budget = o->finished.len;
	pthread_mutex_unlock(&o->lock);

	while (budget-- > 0) {
		struct offload_job *job;
		int state;

		pthread_mutex_lock(&o->lock);
		job = list_pop(&o->finished);
		if (job != NULL) {
			state = job->state;
			job->state = OFFLOAD_IDLE;
		}
		pthread_mutex_unlock(&o->lock);
		if (job == NULL)
			break;   /* the rest were cancelled by earlier callbacks */
		if (state == OFFLOAD_CANCELLED)
			give_back_discard(o, job);
		else
			give_back_done(o, job);
	}
}

/* ---- sim: two scheduled steps per job ------------------------------------ */

static struct offload_job *job_of_call(struct sim_call *c)
{
	return container_of(c, struct offload_job, sim);
}

static void sim_finish(struct sim_call *c)
{
	struct offload_job *job = job_of_call(c);
	struct offload *o = job->pool;
	int state;

	job->work(job);
	state = job->state;
	job->state = OFFLOAD_IDLE;
	if (state == OFFLOAD_CANCELLED)
		give_back_discard(o, job);
	else
		give_back_done(o, job);
}

static void sim_start(struct sim_call *c)
{
	struct offload_job *job = job_of_call(c);

	job->state = OFFLOAD_RUNNING;
	sim_call_schedule(job->pool->r, &job->sim, sim_finish,
			  "offload finish");
}

/* ---- the interface ------------------------------------------------------- */

/* One allocation: the pool with its thread ids.  Workers start with every
 * signal blocked, so a signal meant for the process (SIGINT, SIGTERM) is
 * handled on the loop thread, where it can interrupt epoll_wait(). */
struct offload *offload_new(struct reactor *r, unsigned threads)
{
	bool sim = reactor_is_sim(r);
	sigset_t all, old;
	struct offload *o;

	if (threads == 0)
		threads = 1;
	o = mem_alloc(sizeof(*o) + (sim ? 0 : threads) * sizeof(pthread_t));
	if (o == NULL)
		return NULL;
	memset(o, 0, sizeof(*o));
	o->r = r;
	o->sim = sim;
	if (sim)
		return o;

	if (pthread_mutex_init(&o->lock, NULL) != 0)
		goto out_free_pool;
	if (pthread_cond_init(&o->work_ready, NULL) != 0)
		goto out_destroy_lock;
	reactor_async_start(r, &o->async, deliver);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; o->nthreads < threads; o->nthreads++)
		if (pthread_create(&o->threads[o->nthreads], NULL, worker_main,
				   o) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (o->nthreads < threads)
		goto out_stop_workers;
	return o;

out_stop_workers:
	pthread_mutex_lock(&o->lock);
	o->stopping = true;
	pthread_cond_broadcast(&o->work_ready);
	pthread_mutex_unlock(&o->lock);
	for (unsigned i = 0; i < o->nthreads; i++)
		pthread_join(o->threads[i], NULL);
	reactor_async_stop(r, &o->async);
	pthread_cond_destroy(&o->work_ready);
out_destroy_lock:
	pthread_mutex_destroy(&o->lock);
out_free_pool:
	mem_free(o);
	return NULL;
}

void offload_free(struct offload *o)
{
	if (o == NULL)
		return;
	assert(o->outstanding == 0 && "offload_free with jobs outstanding");
	if (!o->sim) {
		pthread_mutex_lock(&o->lock);
		o->stopping = true;
		pthread_cond_broadcast(&o->work_ready);
		pthread_mutex_unlock(&o->lock);
		for (unsigned i = 0; i < o->nthreads; i++)
			pthread_join(o->threads[i], NULL);
		reactor_async_stop(o->r, &o->async);
		pthread_cond_destroy(&o->work_ready);
		pthread_mutex_destroy(&o->lock);
	}
	mem_free(o);
}

/* O(1): append, and wake one idle worker. */
void offload_submit(struct offload *o, struct offload_job *job)
{
	job->pool = o;
	job->next = NULL;
	o->outstanding++;
	o->stats.submitted++;
	if (o->sim) {
		job->state = OFFLOAD_QUEUED;
		sim_call_schedule(o->r, &job->sim, sim_start, "offload start");
		return;
	}
	pthread_mutex_lock(&o->lock);
	job->state = OFFLOAD_QUEUED;
	list_append(&o->queue, job);
	pthread_cond_signal(&o->work_ready);
	pthread_mutex_unlock(&o->lock);
}

/* The only transitions a cancel makes:
 *   QUEUED   -> off the queue, discard() now           (cancelled_queued)
 *   RUNNING  -> CANCELLED, discard() after work()      (cancelled_running)
 *   FINISHED -> off the finished list, discard() now   (cancelled_finished)
 *   IDLE, CANCELLED -> nothing. */
void offload_cancel(struct offload *o, struct offload_job *job)
{
	bool discard_now = false;

	if (o->sim) {
		if (job->state == OFFLOAD_QUEUED) {
			sim_call_cancel(o->r, &job->sim);
			job->state = OFFLOAD_IDLE;
			o->stats.cancelled_queued++;
			give_back_discard(o, job);
		} else if (job->state == OFFLOAD_RUNNING) {
			job->state = OFFLOAD_CANCELLED;
			o->stats.cancelled_running++;
		}
		return;
	}

	pthread_mutex_lock(&o->lock);
	switch (job->state) {
	case OFFLOAD_QUEUED:
		list_remove(&o->queue, job);
		job->state = OFFLOAD_IDLE;
		o->stats.cancelled_queued++;
		discard_now = true;
		break;
	case OFFLOAD_RUNNING:
		job->state = OFFLOAD_CANCELLED;
		o->stats.cancelled_running++;
		break;
	case OFFLOAD_FINISHED:
		list_remove(&o->finished, job);
		job->state = OFFLOAD_IDLE;
		o->stats.cancelled_finished++;
		discard_now = true;
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&o->lock);
	if (discard_now)
		give_back_discard(o, job);
}

unsigned offload_outstanding(const struct offload *o)
{
	return o->outstanding;
}

unsigned offload_finished(struct offload *o)
{
	unsigned n;

	if (o->sim)
		return 0;
	pthread_mutex_lock(&o->lock);
	n = o->finished.len;
	pthread_mutex_unlock(&o->lock);
	return n;
}

void offload_stats_get(const struct offload *o, struct offload_stats *out)
{
	*out = o->stats;
}
