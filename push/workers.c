/* workers.c: one loop per thread, and the mailbox that is the only way in
 * from another thread (push.h, "workers", rules T1-T3).
 *
 * The push model scales the way libuv and nginx do: N threads, each with
 * its own reactor and loop, sharing nothing.  A request, a token and a
 * callback stay on the loop that started them, so nothing in request.c,
 * token.c or loop.c is atomic, with any number of threads.  What crosses
 * threads is a message: a function and an argument posted to a loop's
 * mailbox, run by that loop's thread inside its reactor_poll() (step 4),
 * where it may start and cancel operations like any engine callback.
 *
 * Costs: a post is a mutex, a link and reactor_async_send() (one eventfd
 * write when the target sleeps); the target runs the messages in post
 * order.  No allocation: a message is the caller's memory.
 */
#include "push_impl.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "container_of.h"
#include "mem.h"

/* ---- the mailbox ------------------------------------------------------------ */

/* The async's callback, on the loop thread: take the whole list (messages
 * posted while these run come with the next send) and run it in order. */
static void mailbox_on_async(struct reactor_async *a)
{
	struct push_mailbox *mb = container_of(a, struct push_mailbox, async);
	struct push_msg *m;

	pthread_mutex_lock(&mb->lock);
	m = mb->head;
	mb->head = mb->tail = NULL;
	pthread_mutex_unlock(&mb->lock);
	while (m != NULL) {
		struct push_msg *next = m->next;

		m->next = NULL;
		mb->delivered++;
		m->fn(mb->loop, m->arg);     /* may reuse m at once */
		m = next;
	}
}

void push_mailbox_start(struct push_mailbox *mb, struct push_loop *l)
{
	memset(mb, 0, sizeof(*mb));
	mb->loop = l;
	pthread_mutex_init(&mb->lock, NULL);
	reactor_async_start(l->r, &mb->async, mailbox_on_async);
}

void push_mailbox_post(struct push_mailbox *mb, struct push_msg *m,
		       void (*fn)(struct push_loop *l, void *arg), void *arg)
{
	m->fn = fn;
	m->arg = arg;
	m->next = NULL;
	pthread_mutex_lock(&mb->lock);
	if (mb->tail != NULL)
		mb->tail->next = m;
	else
		mb->head = m;
	mb->tail = m;
	pthread_mutex_unlock(&mb->lock);
	reactor_async_send(&mb->async);
}

void push_mailbox_stop(struct push_mailbox *mb)
{
	reactor_async_stop(mb->loop->r, &mb->async);
	assert(mb->head == NULL && "push_mailbox_stop with messages posted");
	pthread_mutex_destroy(&mb->lock);
}

/* ---- loops per thread ---------------------------------------------------------- */

struct push__worker {
	struct push_workers *w;
	unsigned index;
	pthread_t thread;
	struct reactor *r;
	struct push_loop loop;
	struct push_mailbox mailbox;
	int rc;
};

struct push_workers {
	unsigned n;
	struct push_config config;
	void (*start)(struct push_loop *l, unsigned i, void *arg);
	void *arg;
	struct push__worker worker[];
};

int push_workers_new(unsigned n, const struct push_config *c,
		     struct push_workers **out)
{
	struct push_workers *w;

	if (n == 0 || n > PUSH_WORKERS_MAX)
		return -EINVAL;
	w = mem_alloc(sizeof(*w) + n * sizeof(w->worker[0]));
	if (w == NULL)
		return -ENOMEM;
	memset(w, 0, sizeof(*w) + n * sizeof(w->worker[0]));
	w->n = n;
	w->config = c != NULL ? *c : push_config_get();
	for (unsigned i = 0; i < n; i++) {
		struct push__worker *wk = &w->worker[i];

		wk->w = w;
		wk->index = i;
		wk->r = reactor_new_epoll();
		if (wk->r == NULL) {
			int err = -errno;

			w->n = i;
			push_workers_free(w);
			return err;
		}
		push_loop_init(&wk->loop, wk->r, NULL, &w->config);
		push_mailbox_start(&wk->mailbox, &wk->loop);
	}
	*out = w;
	return 0;
}

void push_workers_free(struct push_workers *w)
{
	if (w == NULL)
		return;
	for (unsigned i = 0; i < w->n; i++) {
		struct push__worker *wk = &w->worker[i];

		push_mailbox_stop(&wk->mailbox);
		push_loop_fini(&wk->loop);
		reactor_free(wk->r);
	}
	mem_free(w);
}

static void *worker_main(void *arg)
{
	struct push__worker *wk = arg;
	struct push_workers *w = wk->w;

	w->start(&wk->loop, wk->index, w->arg);
	wk->rc = push_loop_run(&wk->loop);
	return NULL;
}

int push_workers_run(struct push_workers *w,
		     void (*start)(struct push_loop *l, unsigned i, void *arg),
		     void *arg)
{
	unsigned started;
	int rc = 0;

	w->start = start;
	w->arg = arg;
	for (started = 0; started < w->n; started++) {
		rc = pthread_create(&w->worker[started].thread, NULL,
				    worker_main, &w->worker[started]);
		if (rc != 0)
			break;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(w->worker[i].thread, NULL);
	if (rc != 0)
		return -rc;
	for (unsigned i = 0; i < w->n; i++)
		if (w->worker[i].rc < 0)
			return w->worker[i].rc;
	return 0;
}

unsigned push_workers_count(const struct push_workers *w)
{
	return w->n;
}

struct push_loop *push_workers_loop(struct push_workers *w, unsigned i)
{
	return i < w->n ? &w->worker[i].loop : NULL;
}

void push_workers_post(struct push_workers *w, unsigned i, struct push_msg *m,
		       void (*fn)(struct push_loop *l, void *arg), void *arg)
{
	assert(i < w->n);
	push_mailbox_post(&w->worker[i].mailbox, m, fn, arg);
}
