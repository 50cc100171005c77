/* c4_latency.c: claim C4, wake-to-run latency by mechanism.
 *
 * "Switching between tasks costs nanoseconds; interrupt-style delivery
 * (signals) and thread hand-offs cost microseconds."
 *
 * Four mechanisms, each a ping-pong between two parties; a sample is the
 * time from the moment one party makes the other runnable to the moment
 * the other's code runs (clock_now_ns() on both sides, about 20 ns each):
 *
 *   poll wake       two tasks; one stores nothing, wakes the other's waker
 *                   and returns PENDING; the executor pops the other from
 *                   its run queue and polls it.
 *   push dispatch   two pending requests (long sleeps) with handles; a
 *                   callback cancels the other's request, which queues its
 *                   completion; the loop runs the callback in the same
 *                   step 1, without a poll of the reactor (push.h: step 1
 *                   is a FIFO pass of up to 64 callbacks).
 *   thread hand-off two threads, a mutex and a condition variable.
 *   signal          pthread_kill() to a thread waiting in sigsuspend(), its
 *                   handler taking the time: the user-space analogue of an
 *                   interrupt.
 */
#include "claims.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hist.h"
#include "poll.h"
#include "push.h"

const double c4_percentiles[C4_NPCT] = { 10, 25, 50, 75, 90, 99, 99.9 };
const char *const c4_mech_name[C4_NMECH] = {
	"poll task wake", "push callback dispatch", "thread hand-off (condvar)",
	"signal (pthread_kill)",
};

/* The line between the two orders of magnitude of the claim. */
#define C4_US 1000.0

/* The targets the two in-thread mechanisms are held to, on medians: a task
 * woken by another task, and a callback queued during dispatch, run that
 * soon after, with no system call on the way (reactor polls per hand-off
 * are printed beside: one per batch of 64 is the loop's look at I/O). */
#define C4_POLL_TARGET_NS 50.0
#define C4_PUSH_TARGET_NS 100.0

/* The rule, on medians.  C4 holds when both in-thread mechanisms (a poll
 * task wake, a push callback dispatch) take under a microsecond and both
 * cross-boundary ones (a thread hand-off, a signal) take a microsecond or
 * more.  If some in-thread mechanism is fast and some cross-boundary one
 * slow, it holds only for those, and the reason names the others.  If no
 * in-thread mechanism is under a microsecond, or no cross-boundary one
 * reaches it, it does not hold. */
void c4_verdict(const struct c4_figures *f, struct claim_verdict *v)
{
	bool fast_poll = f->p50[C4_POLL_WAKE] < C4_US;
	bool fast_push = f->p50[C4_PUSH_DISPATCH] < C4_US;
	bool slow_thread = f->p50[C4_THREAD_HANDOFF] >= C4_US;
	bool slow_signal = f->p50[C4_SIGNAL] >= C4_US;
	char figs[200];

	for (int i = 0; i < C4_NMECH; i++) {
		if (f->samples[i] == 0) {
			claim_verdict_set(v, CLAIM_NOT_MEASURED,
					  "no samples for %s", c4_mech_name[i]);
			return;
		}
	}
	snprintf(figs, sizeof(figs),
		 "medians: poll wake %.0f ns, push dispatch %.0f ns, thread "
		 "hand-off %.0f ns, signal %.0f ns",
		 f->p50[C4_POLL_WAKE], f->p50[C4_PUSH_DISPATCH],
		 f->p50[C4_THREAD_HANDOFF], f->p50[C4_SIGNAL]);
	if (fast_poll && fast_push && slow_thread && slow_signal)
		claim_verdict_set(v, CLAIM_HOLDS, "%s", figs);
	else if ((fast_poll || fast_push) && (slow_thread || slow_signal))
		claim_verdict_set(v, CLAIM_PARTLY,
			"for %s%s%s%s%s only; %s",
			fast_poll ? "the poll wake" : "",
			fast_poll && fast_push ? " and " : "",
			fast_push ? "the push dispatch" : "",
			slow_thread ? " against the thread hand-off" : "",
			slow_signal ? (slow_thread ? " and the signal"
						   : " against the signal") : "",
			figs);
	else
		claim_verdict_set(v, CLAIM_FAILS, "%s", figs);
}

/* Reactor polls per hand-off of the last in-thread measurement. */
static double c4_io_looks;

/* ---- poll: two tasks waking each other ------------------------------------ */

struct poll_pingpong {
	struct poll_waker slot[2];   /* each task's own waker, while it waits */
	unsigned turn;               /* the task that is to run next */
	uint64_t t0;                 /* when the other was woken; 0: not yet */
	uint64_t want;
	struct hist *h;
	bool done;
};

struct poll_player {
	struct poll_future base;
	struct poll_pingpong *pp;
	unsigned me;
};

static enum poll_status player_poll(struct poll_future *f, struct poll_cx *cx)
{
	uint64_t now = clock_now_ns();
	struct poll_player *p = (struct poll_player *)f;
	struct poll_pingpong *pp = p->pp;

	if (pp->turn == p->me && !pp->done) {
		if (pp->t0 != 0)
			hist_record(pp->h, now - pp->t0);
		if (pp->h->count >= pp->want)
			pp->done = true;
		pp->turn = 1 - p->me;
		poll_waker_set(&pp->slot[p->me], cx);
		pp->t0 = clock_now_ns();
		poll_waker_wake(&pp->slot[1 - p->me]);
	}
	if (pp->done) {
		/* R2: a READY future holds no waker; and the other
		 * player must see the end too. */
		poll_waker_drop(&pp->slot[p->me]);
		poll_waker_wake(&pp->slot[1 - p->me]);
		f->out = 0;
		return POLL_READY;
	}
	poll_waker_set(&pp->slot[p->me], cx);
	return POLL_PENDING;
}

static void player_drop(struct poll_future *f)
{
	struct poll_player *p = (struct poll_player *)f;

	poll_waker_drop(&p->pp->slot[p->me]);
}

static const struct poll_future_vt player_vt = {
	.name = "player",
	.poll = player_poll,
	.drop = player_drop,
};

static int measure_poll(struct hist *h, uint64_t want)
{
	struct poll_pingpong pp = { .h = h, .want = want };
	struct poll_player p[2];
	struct poll_loop loop;
	struct reactor *r;
	int rc = 0;

	r = reactor_new_epoll();
	if (r == NULL)
		return -errno;
	poll_loop_init(&loop, r, NULL, NULL);
	for (unsigned i = 0; i < 2 && rc == 0; i++) {
		p[i] = (struct poll_player){ .base = { .vt = &player_vt },
					     .pp = &pp, .me = i };
		rc = poll_spawn(&loop, &p[i].base, sizeof(p[i]), NULL);
	}
	if (rc == 0)
		rc = poll_loop_run(&loop);
	if (rc == 0) {
		struct poll_loop_stats st;

		poll_loop_stats_get(&loop, &st);
		c4_io_looks = st.wakes > 0 ? (double)st.iterations / st.wakes : 0;
	}
	poll_loop_fini(&loop);
	reactor_free(r);
	return rc;
}

/* ---- push: two callbacks completing each other's request -------------------- */

#define PUSH_LONG_NS (3600 * CLOCK_NS_PER_S)

struct push_pingpong {
	struct push_loop loop, *l;
	struct push_req *req[2];     /* each player's pending sleep (a handle) */
	uint64_t t0;
	uint64_t want;
	struct hist *h;
	bool done;
	int err;
};

struct push_player {
	struct push_pingpong *pp;
	unsigned me;
};

static void push_player_cb(void *data, ssize_t result);

/* A long sleep that only the other player's cancel ends. */
static int push_player_wait(struct push_player *p)
{
	return push_sleep(p->pp->l, PUSH_LONG_NS, NULL, push_player_cb, p,
			  &p->pp->req[p->me]);
}

static void push_player_cb(void *data, ssize_t result)
{
	uint64_t now = clock_now_ns();
	struct push_player *p = data;
	struct push_pingpong *pp = p->pp;
	int rc;

	(void)result;
	push_req_unref(pp->req[p->me]);
	pp->req[p->me] = NULL;
	if (pp->t0 != 0)
		hist_record(pp->h, now - pp->t0);
	if (pp->h->count >= pp->want || pp->err != 0)
		pp->done = true;
	if (!pp->done) {
		rc = push_player_wait(p);
		if (rc < 0)
			pp->err = rc;
	}
	pp->t0 = clock_now_ns();
	if (pp->req[1 - p->me] != NULL)
		push_cancel(pp->req[1 - p->me]);
}

static int measure_push(struct hist *h, uint64_t want)
{
	const struct push_config idiomatic = { 0 };
	struct push_pingpong pp = { .h = h, .want = want };
	struct push_player p[2] = { { &pp, 0 }, { &pp, 1 } };
	struct reactor *r;
	int rc = 0;

	r = reactor_new_epoll();
	if (r == NULL)
		return -errno;
	pp.l = &pp.loop;
	push_loop_init(pp.l, r, NULL, &idiomatic);
	for (unsigned i = 0; i < 2 && rc == 0; i++)
		rc = push_player_wait(&p[i]);
	if (rc == 0 && pp.req[0] != NULL)
		push_cancel(pp.req[0]);        /* the first serve */
	if (rc == 0)
		rc = push_loop_run(pp.l);
	if (rc == 0) {
		struct push_loop_stats st;

		push_loop_stats_get(pp.l, &st);
		c4_io_looks = st.callbacks > 0 ?
			      (double)st.iterations / st.callbacks : 0;
	}
	for (unsigned i = 0; i < 2; i++) {
		if (pp.req[i] == NULL)
			continue;
		push_cancel(pp.req[i]);
		push_loop_run(pp.l);
	}
	push_loop_fini(pp.l);
	reactor_free(r);
	return rc < 0 ? rc : pp.err;
}

/* ---- threads: a condition variable ---------------------------------------------- */

struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned turn;
	uint64_t t0;
	uint64_t left;
	struct hist h[2];
};

struct handoff_player {
	struct handoff *ho;
	unsigned me;
};

static void *handoff_play(void *arg)
{
	struct handoff_player *p = arg;
	struct handoff *ho = p->ho;

	pthread_mutex_lock(&ho->lock);
	for (;;) {
		while (ho->turn != p->me && ho->left > 0)
			pthread_cond_wait(&ho->cond, &ho->lock);
		if (ho->left == 0)
			break;
		if (ho->t0 != 0)
			hist_record(&ho->h[p->me], clock_now_ns() - ho->t0);
		ho->left--;
		ho->turn = 1 - p->me;
		ho->t0 = clock_now_ns();
		pthread_cond_broadcast(&ho->cond);
	}
	pthread_cond_broadcast(&ho->cond);
	pthread_mutex_unlock(&ho->lock);
	return NULL;
}

static int measure_thread(struct hist *h, uint64_t want)
{
	struct handoff *ho = calloc(1, sizeof(*ho));
	struct handoff_player p[2];
	pthread_t other;
	int rc;

	if (ho == NULL)
		return -ENOMEM;
	pthread_mutex_init(&ho->lock, NULL);
	pthread_cond_init(&ho->cond, NULL);
	ho->left = want + 1;
	hist_init(&ho->h[0]);
	hist_init(&ho->h[1]);
	p[0] = (struct handoff_player){ ho, 0 };
	p[1] = (struct handoff_player){ ho, 1 };
	rc = pthread_create(&other, NULL, handoff_play, &p[1]);
	if (rc == 0) {
		handoff_play(&p[0]);
		pthread_join(other, NULL);
		hist_merge(h, &ho->h[0]);
		hist_merge(h, &ho->h[1]);
	}
	pthread_cond_destroy(&ho->cond);
	pthread_mutex_destroy(&ho->lock);
	free(ho);
	return -rc;
}

/* ---- signals --------------------------------------------------------------------- */

/* Written by the handler, read by the thread it interrupted. */
static volatile uint64_t sig_t1;
static _Atomic uint64_t sig_t0;

static void on_sigusr2(int sig)
{
	(void)sig;
	sig_t1 = clock_now_ns();
}

struct sig_target {
	sem_t ready;         /* the target goes back to waiting */
	uint64_t want;
	struct hist *h;
};

/* The target: SIGUSR2 is blocked except inside sigsuspend(), so it arrives
 * only while the thread waits there; the ack lets the sender send the next
 * one. */
static void *sig_target_run(void *arg)
{
	struct sig_target *t = arg;
	sigset_t waiting;

	pthread_sigmask(SIG_SETMASK, NULL, &waiting);
	sigdelset(&waiting, SIGUSR2);
	for (uint64_t i = 0; i < t->want; i++) {
		sem_post(&t->ready);
		sigsuspend(&waiting);
		hist_record(t->h, sig_t1 - atomic_load(&sig_t0));
	}
	return NULL;
}

static int measure_signal(struct hist *h, uint64_t want)
{
	struct sig_target t = { .want = want, .h = h };
	struct sigaction sa, old;
	sigset_t block, saved;
	pthread_t target;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr2;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	/* Blocked here before the thread starts, so it inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	sigaction(SIGUSR2, &sa, &old);
	sem_init(&t.ready, 0, 0);
	rc = pthread_create(&target, NULL, sig_target_run, &t);
	if (rc == 0) {
		for (uint64_t i = 0; i < want; i++) {
			sem_wait(&t.ready);
			atomic_store(&sig_t0, clock_now_ns());
			pthread_kill(target, SIGUSR2);
		}
		pthread_join(target, NULL);
	}
	sem_destroy(&t.ready);
	sigaction(SIGUSR2, &old, NULL);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return -rc;
}

/* ---- the experiment ---------------------------------------------------------------- */

int c4_measure(const struct claims_ctx *cx, struct c4_figures *f)
{
	uint64_t fast = cx->quick ? 2000 : 50000, slow = cx->quick ? 500 : 5000;
	int (*const measure[C4_NMECH])(struct hist *, uint64_t) = {
		measure_poll, measure_push, measure_thread, measure_signal,
	};
	const uint64_t want[C4_NMECH] = { fast, fast, slow, slow };
	struct hist *h;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	h = malloc(sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	for (int i = 0; i < C4_NMECH && rc == 0; i++) {
		hist_init(h);
		c4_io_looks = 0;
		rc = measure[i](h, want[i]);
		f->io_looks[i] = c4_io_looks;
		f->samples[i] = h->count;
		for (int k = 0; k < C4_NPCT; k++)
			f->pct[i][k] = (double)hist_percentile(
				h, c4_percentiles[k]);
		f->p50[i] = (double)hist_percentile(h, 50);
		f->p99[i] = (double)hist_percentile(h, 99);
	}
	free(h);
	return rc;
}

static void c4_plot(const struct claims_ctx *cx, const struct c4_figures *f)
{
	FILE *d = claims_plot_data(cx, "c4.dat");

	if (d == NULL)
		return;
	fprintf(d, "# percentile");
	for (int i = 0; i < C4_NMECH; i++)
		fprintf(d, " \"%s\"", c4_mech_name[i]);
	fprintf(d, "\n");
	for (int k = 0; k < C4_NPCT; k++) {
		fprintf(d, "%g", c4_percentiles[k]);
		for (int i = 0; i < C4_NMECH; i++)
			fprintf(d, " %.0f", f->pct[i][k]);
		fprintf(d, "\n");
	}
	fclose(d);
	fputs("set output 'c4_wake_latency.png'\n"
	      "set title 'C4: wake-to-run latency by mechanism'\n"
	      "set xlabel 'percentile'\n"
	      "set ylabel 'latency, ns (log scale)'\n"
	      "set logscale y\n"
	      "set xtics ('10' 0, '25' 1, '50' 2, '75' 3, '90' 4, '99' 5, '99.9' 6)\n"
	      "plot 'c4.dat' using 0:2 with linespoints lw 2 title 'poll task wake', \\\n"
	      "     'c4.dat' using 0:3 with linespoints lw 2 title 'push callback dispatch', \\\n"
	      "     'c4.dat' using 0:4 with linespoints lw 2 title 'thread hand-off (condvar)', \\\n"
	      "     'c4.dat' using 0:5 with linespoints lw 2 title 'signal (pthread_kill)'\n"
	      "unset logscale y\n"
	      "set xtics auto\n",
	      cx->plot);
}

int c4_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c4_figures f;
	int rc;

	rc = c4_measure(cx, &f);
	if (rc < 0)
		return rc;
	c4_verdict(&f, &row->verdict);
	snprintf(row->push, sizeof(row->push),
		 "callback dispatch p50 %.0f ns, p99 %.0f ns, %.3f reactor "
		 "polls each; target <= %.0f ns: %s",
		 f.p50[C4_PUSH_DISPATCH], f.p99[C4_PUSH_DISPATCH],
		 f.io_looks[C4_PUSH_DISPATCH], C4_PUSH_TARGET_NS,
		 f.p50[C4_PUSH_DISPATCH] <= C4_PUSH_TARGET_NS ? "met" : "missed");
	snprintf(row->poll, sizeof(row->poll),
		 "task wake p50 %.0f ns, p99 %.0f ns, %.3f reactor polls "
		 "each; target <= %.0f ns: %s",
		 f.p50[C4_POLL_WAKE], f.p99[C4_POLL_WAKE],
		 f.io_looks[C4_POLL_WAKE], C4_POLL_TARGET_NS,
		 f.p50[C4_POLL_WAKE] <= C4_POLL_TARGET_NS ? "met" : "missed");
	snprintf(row->baselines, sizeof(row->baselines),
		 "thread hand-off p50 %.1f us, p99 %.1f us; signal p50 %.1f "
		 "us, p99 %.1f us", f.p50[C4_THREAD_HANDOFF] / 1e3,
		 f.p99[C4_THREAD_HANDOFF] / 1e3, f.p50[C4_SIGNAL] / 1e3,
		 f.p99[C4_SIGNAL] / 1e3);

	claims_json_begin(cx->json, "figures");
	claims_json_nums(cx->json, "percentiles", c4_percentiles, C4_NPCT);
	for (int i = 0; i < C4_NMECH; i++) {
		claims_json_begin(cx->json, c4_mech_name[i]);
		claims_json_num(cx->json, "samples", (double)f.samples[i]);
		claims_json_num(cx->json, "reactor_polls_per_handoff",
				f.io_looks[i]);
		claims_json_nums(cx->json, "ns", f.pct[i], C4_NPCT);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	c4_plot(cx, &f);
	return 0;
}
