/* reactor.c: what both backends share: timers, asyncs, the stop flag, and the
 * public entry points (each one call through the backend's table).
 *
 * Timers live in a pairing heap: intrusive (the nodes are the timers
 * themselves, so starting a timer never allocates), O(1) insert, O(log n)
 * amortised removal of the minimum and of any node.  An echo server restarts
 * one idle timer per message, so both operations matter.
 */
#include "reactor_impl.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

void reactor__init(struct reactor *r, const struct reactor_ops *ops)
{
	r->ops = ops;
	r->timers = NULL;
	r->timer_seq = 0;
	r->timer_links = 0;
	r->active_timers = 0;
	r->active_ios = 0;
	r->asyncs = NULL;
	r->stop = 0;
}

void reactor_free(struct reactor *r)
{
	if (r == NULL)
		return;
	assert(r->active_timers == 0 && "reactor_free with an active timer");
	assert(r->active_ios == 0 && "reactor_free with an active io watcher");
	assert(r->asyncs == NULL && "reactor_free with a started async");
	r->ops->destroy(r);
}

const char *reactor_backend(const struct reactor *r)
{
	return r->ops->name;
}

bool reactor_is_sim(const struct reactor *r)
{
	return r->ops->name[0] == 's';
}

uint64_t reactor_now(const struct reactor *r)
{
	return r->ops->now(r);
}

int reactor_poll(struct reactor *r, int64_t timeout_ns)
{
	return r->ops->poll(r, timeout_ns);
}

/* The flag is written by other threads and by signal handlers: atomic
 * (lock-free on an int, so async-signal-safe too); volatile alone is a data
 * race between threads. */
void reactor_request_stop(struct reactor *r)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	r->ops->wakeup(r);
}

bool reactor_stop_requested(const struct reactor *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) != 0;
}

/* ---- io watchers -------------------------------------------------------- */

int reactor_io_start(struct reactor *r, struct reactor_io *io, int handle,
		     reactor_io_cb cb)
{
	int err;

	if (io->active)
		return -EBUSY;
	io->handle = handle;
	io->cb = cb;
	io->drained = false;
	io->peer_closed = false;
	err = r->ops->io_start(r, io);
	if (err == 0) {
		io->active = true;
		r->active_ios++;
	}
	return err;
}

void reactor_io_stop(struct reactor *r, struct reactor_io *io)
{
	if (!io->active)
		return;
	r->ops->io_stop(r, io);
	io->active = false;
	r->active_ios--;
}

/* ---- timers: a pairing heap ordered by (deadline, seq) ------------------- */

static bool timer_before(const struct reactor_timer *a,
			 const struct reactor_timer *b)
{
	if (a->deadline != b->deadline)
		return a->deadline < b->deadline;
	return a->seq < b->seq;
}

/* Make the later root the first child of the earlier one. */
static struct reactor_timer *heap_meld(struct reactor *r,
				       struct reactor_timer *a,
				       struct reactor_timer *b)
{
	if (a == NULL)
		return b;
	if (b == NULL)
		return a;
	r->timer_links++;
	if (timer_before(b, a)) {
		struct reactor_timer *t = a;
		a = b;
		b = t;
	}
	b->prev = a;
	b->sibling = a->child;
	if (a->child != NULL)
		a->child->prev = b;
	a->child = b;
	a->sibling = NULL;
	a->prev = NULL;
	return a;
}

/* Meld a list of siblings pairwise left to right, then right to left: the
 * two-pass rule that gives the heap its amortised bound. */
static struct reactor_timer *heap_merge_pairs(struct reactor *r,
					      struct reactor_timer *first)
{
	struct reactor_timer *pairs = NULL; /* melded pairs, in reverse order */
	struct reactor_timer *result = NULL;

	while (first != NULL) {
		struct reactor_timer *a = first, *b = first->sibling;
		first = b != NULL ? b->sibling : NULL;
		a->sibling = a->prev = NULL;
		if (b != NULL)
			b->sibling = b->prev = NULL;
		a = heap_meld(r, a, b);
		a->sibling = pairs;
		pairs = a;
	}
	while (pairs != NULL) {
		struct reactor_timer *next = pairs->sibling;
		pairs->sibling = NULL;
		result = heap_meld(r, result, pairs);
		pairs = next;
	}
	return result;
}

static void heap_remove(struct reactor *r, struct reactor_timer *t)
{
	struct reactor_timer *sub = heap_merge_pairs(r, t->child);

	if (t == r->timers) {
		r->timers = sub;
	} else {
		/* Unlink t from its parent's child list (prev is either the
		 * parent or the previous sibling). */
		if (t->prev->child == t)
			t->prev->child = t->sibling;
		else
			t->prev->sibling = t->sibling;
		if (t->sibling != NULL)
			t->sibling->prev = t->prev;
		r->timers = heap_meld(r, r->timers, sub);
	}
	t->child = t->sibling = t->prev = NULL;
}

/* now + delay_ns, saturated: a delay too long to fit is a deadline that
 * never comes (UINT64_MAX), not one that wrapped round into the past. */
static uint64_t deadline_after(uint64_t now, uint64_t delay_ns)
{
	return delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
}

void reactor_timer_start(struct reactor *r, struct reactor_timer *t,
			 uint64_t delay_ns, reactor_timer_cb cb)
{
	reactor_timer_stop(r, t);
	t->deadline = deadline_after(r->ops->now(r), delay_ns);
	t->seq = r->timer_seq++;
	t->cb = cb;
	t->child = t->sibling = t->prev = NULL;
	t->active = true;
	r->timers = heap_meld(r, r->timers, t);
	r->active_timers++;
}

void reactor_timer_stop(struct reactor *r, struct reactor_timer *t)
{
	if (!t->active)
		return;
	heap_remove(r, t);
	t->active = false;
	r->active_timers--;
}

uint64_t reactor_timer_links(const struct reactor *r)
{
	return r->timer_links;
}

uint64_t reactor__timer_next(const struct reactor *r)
{
	return r->timers != NULL ? r->timers->deadline : UINT64_MAX;
}

int reactor__timers_run(struct reactor *r, uint64_t now, int max)
{
	int ran = 0;

	while (r->timers != NULL && r->timers->deadline <= now &&
	       (max < 0 || ran < max)) {
		struct reactor_timer *t = r->timers;
		reactor_timer_stop(r, t);
		ran++;
		t->cb(t); /* may free t, or start it again */
	}
	return ran;
}

int64_t reactor_timers_run_due(struct reactor *r)
{
	uint64_t now, next;

	if (reactor_is_sim(r))
		return -ENOTSUP;
	now = reactor_now(r);
	if (reactor__timer_next(r) <= now)
		reactor__timers_run(r, now, -1);
	next = reactor__timer_next(r);
	if (next == UINT64_MAX)
		return -1;
	now = reactor_now(r);
	return next <= now ? 0 : (int64_t)(next - now);
}

/* ---- asyncs ------------------------------------------------------------- */

void reactor_async_start(struct reactor *r, struct reactor_async *a,
			 reactor_async_cb cb)
{
	a->r = r;
	a->cb = cb;
	__atomic_store_n(&a->pending, 0, __ATOMIC_RELAXED);
	a->next = r->asyncs;
	r->asyncs = a;
}

void reactor_async_send(struct reactor_async *a)
{
	/* Only the send that finds the flag clear needs to wake the loop: the
	 * others coalesce into the call that wake-up will cause. */
	if (__atomic_exchange_n(&a->pending, 1, __ATOMIC_ACQ_REL) == 0)
		a->r->ops->wakeup(a->r);
}

void reactor_async_stop(struct reactor *r, struct reactor_async *a)
{
	for (struct reactor_async **p = &r->asyncs; *p != NULL;
	     p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			a->next = NULL;
			return;
		}
	}
}

int reactor__asyncs_run(struct reactor *r)
{
	int ran = 0;
	struct reactor_async *a = r->asyncs;

	while (a != NULL) {
		/* Read next first: the callback may stop (and free) a. */
		struct reactor_async *next = a->next;
		if (__atomic_exchange_n(&a->pending, 0, __ATOMIC_ACQ_REL)) {
			ran++;
			a->cb(a);
		}
		a = next;
	}
	return ran;
}

int reactor__asyncs_pending(const struct reactor *r)
{
	for (const struct reactor_async *a = r->asyncs; a != NULL; a = a->next)
		if (__atomic_load_n(&a->pending, __ATOMIC_ACQUIRE))
			return 1;
	return 0;
}

/* ---- the I/O calls: one call through the backend each --------------------- */

int reactor_listen(struct reactor *r, const char *host, uint16_t port,
		   int backlog)
{
	return r->ops->listen(r, host, port, backlog);
}

int reactor_local_port(struct reactor *r, int handle)
{
	return r->ops->local_port(r, handle);
}

int reactor_accept(struct reactor *r, int listener)
{
	return r->ops->accept(r, listener);
}

bool reactor_accept_error_is_fatal(ssize_t err)
{
	return err == -EBADF || err == -EINVAL || err == -ENOTSOCK ||
	       err == -EOPNOTSUPP;
}

int reactor_connect(struct reactor *r, const char *host, uint16_t port)
{
	return r->ops->connect(r, host, port);
}

int reactor_connect_result(struct reactor *r, int handle)
{
	return r->ops->connect_result(r, handle);
}

ssize_t reactor_read(struct reactor *r, int handle, void *buf, size_t n)
{
	return r->ops->read(r, handle, buf, n);
}

/* The backend clears io->drained at each readable edge (reactor_impl.h). */
ssize_t reactor_io_read(struct reactor *r, struct reactor_io *io, void *buf,
			size_t n)
{
	ssize_t got;

	if (io->drained)
		return -EAGAIN;
	got = r->ops->read(r, io->handle, buf, n);
	if (got > 0 && (size_t)got < n && r->ops->short_read_drains &&
	    !io->peer_closed)
		io->drained = true;
	return got;
}

ssize_t reactor_write(struct reactor *r, int handle, const void *buf,
		      size_t n)
{
	return r->ops->write(r, handle, buf, n);
}

int reactor_shutdown_write(struct reactor *r, int handle)
{
	return r->ops->shutdown_write(r, handle);
}

int reactor_close(struct reactor *r, int handle)
{
	return r->ops->close(r, handle);
}

int reactor_file_open(struct reactor *r, const char *path, int flags,
		      int mode)
{
	return r->ops->file_open(r, path, flags, mode);
}

ssize_t reactor_file_pread(struct reactor *r, int handle, void *buf,
			   size_t n, uint64_t offset)
{
	return r->ops->file_pread(r, handle, buf, n, offset);
}

ssize_t reactor_file_pwrite(struct reactor *r, int handle, const void *buf,
			    size_t n, uint64_t offset)
{
	const char *p = buf;
	size_t done = 0;
	ssize_t put;

	while (done < n) {
		put = r->ops->file_pwrite(r, handle, p + done, n - done,
					  offset + done);
		if (put < 0)
			return put;
		if (put == 0)
			return -EIO;
		done += (size_t)put;
	}
	return (ssize_t)done;
}

int64_t reactor_file_size(struct reactor *r, int handle)
{
	return r->ops->file_size(r, handle);
}

int reactor_file_close(struct reactor *r, int handle)
{
	return r->ops->file_close(r, handle);
}
