/* io.c: the leaf futures, over the shared substrate, in this order: accept,
 * read, write, connect, sleep, file read, file write.
 *
 * A leaf is where the model touches the world.  Each one follows the same
 * three rules (poll.h has the full list):
 *   - check the cooperative budget first; charge it on READY;
 *   - try the operation first, and wait for an edge only after -EAGAIN
 *     (readiness is edge-triggered: an edge is reported only on a change);
 *   - hold a waker only while returning PENDING: store it just before,
 *     give it back on READY and in drop.
 * Streams park wakers in two slots (reader, writer) filled by the leaves and
 * emptied by the reactor's callback; a sleep and an offload job carry their
 * own slot.
 */
#include "poll_impl.h"

#include <errno.h>
#include <string.h>

#include "container_of.h"
#include "mem.h"

/* ---- streams ------------------------------------------------------------------ */

/* doc:begin io-edge */
/* The reactor's callback: an edge on s.  Wakes the parked leaf of each
 * direction that became ready (a hang-up wakes both: their next try will
 * say what happened). */
static void stream_on_edge(struct reactor_io *io, unsigned events)
{
	struct poll_stream *s = container_of(io, struct poll_stream, io);

	s->ready |= events;
	if (events & (REACTOR_READABLE | REACTOR_HANGUP))
		poll_waker_wake(&s->reader);
	if (events & (REACTOR_WRITABLE | REACTOR_HANGUP))
		poll_waker_wake(&s->writer);
}
/* doc:end io-edge */

int poll_stream_open(struct poll_loop *l, struct poll_stream *s, int handle)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->handle = handle;
	err = reactor_io_start(l->r, &s->io, handle, stream_on_edge);
	if (err < 0) {
		s->handle = -1;
		return err;             /* the handle is still the caller's */
	}
	s->loop = l;
	return 0;
}

void poll_stream_detach(struct poll_stream *s)
{
	if (s->loop != NULL)
		reactor_io_stop(s->loop->r, &s->io);
}

int poll_stream_attach(struct poll_stream *s, struct poll_loop *l)
{
	int err;

	if (s->loop == NULL)
		return 0;
	s->loop = l;
	err = reactor_io_start(l->r, &s->io, s->handle, stream_on_edge);
	return err < 0 ? err : 0;
}

void poll_stream_close(struct poll_stream *s)
{
	if (s->loop == NULL)
		return;
	reactor_io_stop(s->loop->r, &s->io);
	poll_waker_drop(&s->reader);
	poll_waker_drop(&s->writer);
	reactor_close(s->loop->r, s->handle);
	s->handle = -1;
	s->loop = NULL;
}

/* ---- accept --------------------------------------------------------------------- */

static enum poll_status accept_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_accept *a = (struct poll_accept *)f;
	struct poll_stream *ls = a->listener;
	int h;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	h = reactor_accept(cx->loop->r, ls->handle);
	if (h == -EAGAIN) {
		poll_waker_set(&ls->reader, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&ls->reader);
	a->listener = NULL;             /* done: drop has nothing to give back */
	f->out = h;
	poll_budget_charge(cx);
	return POLL_READY;
}

static void accept_drop(struct poll_future *f)
{
	struct poll_accept *a = (struct poll_accept *)f;

	if (a->listener != NULL)
		poll_waker_drop(&a->listener->reader);
	a->listener = NULL;
}

static const struct poll_future_vt accept_vt = {
	.name = "accept",
	.poll = accept_poll,
	.drop = accept_drop,
};

void poll_accept_init(struct poll_accept *f, struct poll_stream *listener)
{
	f->base.vt = &accept_vt;
	f->base.out = 0;
	f->listener = listener;
}

/* ---- read -------------------------------------------------------------------------- */

/* doc:begin io-read */
static enum poll_status read_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_read *rd = (struct poll_read *)f;
	struct poll_stream *s = rd->s;
	ssize_t n;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	/* Through the watcher: after a short read the reactor answers
	 * -EAGAIN itself until the next edge (reactor.h). */
	n = reactor_io_read(cx->loop->r, &s->io, rd->buf, rd->n);
	if (n == -EAGAIN) {
		s->ready &= ~REACTOR_READABLE;
		poll_waker_set(&s->reader, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&s->reader);
	rd->s = NULL;
	f->out = n;
	poll_budget_charge(cx);
	return POLL_READY;
}

static void read_drop(struct poll_future *f)
{
	struct poll_read *rd = (struct poll_read *)f;

	if (rd->s != NULL)
		poll_waker_drop(&rd->s->reader);
	rd->s = NULL;
}
/* doc:end io-read */

static const struct poll_future_vt read_vt = {
	.name = "read",
	.poll = read_poll,
	.drop = read_drop,
};

void poll_read_init(struct poll_read *f, struct poll_stream *s, void *buf,
		    size_t n)
{
	f->base.vt = &read_vt;
	f->base.out = 0;
	f->s = s;
	f->buf = buf;
	f->n = n;
}

/* ---- readiness, and reads and writes that do not wait --------------------------------- */

/* doc:begin io-readable */
static enum poll_status readable_poll(struct poll_future *f,
				      struct poll_cx *cx)
{
	struct poll_readable *rd = (struct poll_readable *)f;
	struct poll_stream *s = rd->s;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	if (!(s->ready & (REACTOR_READABLE | REACTOR_HANGUP))) {
		poll_waker_set(&s->reader, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&s->reader);
	rd->s = NULL;
	f->out = 0;
	poll_budget_charge(cx);
	return POLL_READY;
}

static void readable_drop(struct poll_future *f)
{
	struct poll_readable *rd = (struct poll_readable *)f;

	if (rd->s != NULL)
		poll_waker_drop(&rd->s->reader);
	rd->s = NULL;
}

static const struct poll_future_vt readable_vt = {
	.name = "readable",
	.poll = readable_poll,
	.drop = readable_drop,
};

void poll_readable_init(struct poll_readable *f, struct poll_stream *s)
{
	f->base.vt = &readable_vt;
	f->base.out = 0;
	f->s = s;
}

/* -EAGAIN uses the edge up, hang-up included: the next readable future
 * waits for a new one, so a stream that keeps saying -EAGAIN never spins. */
ssize_t poll_try_read(struct poll_stream *s, void *buf, size_t n)
{
	ssize_t got = reactor_io_read(s->loop->r, &s->io, buf, n);

	if (got == -EAGAIN)
		s->ready &= ~(unsigned)(REACTOR_READABLE | REACTOR_HANGUP);
	return got;
}
/* doc:end io-readable */

ssize_t poll_try_write(struct poll_stream *s, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t w = reactor_write(s->loop->r, s->handle,
					  (const char *)buf + done, n - done);
		if (w == -EAGAIN) {
			s->ready &= ~REACTOR_WRITABLE;
			break;
		}
		if (w < 0)
			return w;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

/* ---- write (all of it) -------------------------------------------------------------- */

static enum poll_status write_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_write *wr = (struct poll_write *)f;
	struct poll_stream *s = wr->s;
	ssize_t n = 0;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	while (wr->done < wr->n) {
		n = reactor_write(cx->loop->r, s->handle,
				  (const char *)wr->buf + wr->done,
				  wr->n - wr->done);
		if (n == -EAGAIN) {
			s->ready &= ~REACTOR_WRITABLE;
			poll_waker_set(&s->writer, cx);
			return POLL_PENDING;
		}
		if (n < 0)
			break;
		wr->done += (size_t)n;
	}
	poll_waker_drop(&s->writer);
	wr->s = NULL;
	f->out = n < 0 ? n : (ssize_t)wr->n;
	poll_budget_charge(cx);
	return POLL_READY;
}

static void write_drop(struct poll_future *f)
{
	struct poll_write *wr = (struct poll_write *)f;

	if (wr->s != NULL)
		poll_waker_drop(&wr->s->writer);
	wr->s = NULL;
}

static const struct poll_future_vt write_vt = {
	.name = "write",
	.poll = write_poll,
	.drop = write_drop,
};

void poll_write_init(struct poll_write *f, struct poll_stream *s,
		     const void *buf, size_t n)
{
	f->base.vt = &write_vt;
	f->base.out = 0;
	f->done = 0;
	f->s = s;
	f->buf = buf;
	f->n = n;
}

/* ---- connect --------------------------------------------------------------------- */

/* The connection is complete when the handle first becomes writable (or is
 * hung up); only then does reactor_connect_result() say how it went.  So,
 * unlike the other leaves, connect cannot "try first": it waits for the
 * edge that registering the new handle produces. */
static enum poll_status connect_poll(struct poll_future *f,
				     struct poll_cx *cx)
{
	struct poll_connect *c = (struct poll_connect *)f;
	struct poll_stream *s = c->s;
	int h, err;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	if (!c->started) {
		h = reactor_connect(cx->loop->r, c->host, c->port);
		if (h < 0) {
			err = h;
			goto out_ready;
		}
		err = poll_stream_open(cx->loop, s, h);
		if (err < 0) {
			reactor_close(cx->loop->r, h);
			goto out_ready;
		}
		c->started = true;
	}
	if (!(s->ready & (REACTOR_WRITABLE | REACTOR_HANGUP))) {
		poll_waker_set(&s->writer, cx);
		return POLL_PENDING;
	}
	err = reactor_connect_result(cx->loop->r, s->handle);
	if (err == -EINPROGRESS || err == -EAGAIN) {
		s->ready &= ~REACTOR_WRITABLE;
		poll_waker_set(&s->writer, cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&s->writer);
out_ready:
	c->s = NULL;                    /* the caller closes s (poll.h) */
	f->out = err;
	poll_budget_charge(cx);
	return POLL_READY;
}

/* Dropped while connecting: let go of the waker; s, open on the
 * connecting handle, is the caller's to close (poll.h). */
static void connect_drop(struct poll_future *f)
{
	struct poll_connect *c = (struct poll_connect *)f;

	if (c->s != NULL && c->started)
		poll_waker_drop(&c->s->writer);
	c->s = NULL;
}

static const struct poll_future_vt connect_vt = {
	.name = "connect",
	.poll = connect_poll,
	.drop = connect_drop,
};

void poll_connect_init(struct poll_connect *f, struct poll_stream *s,
		       const char *host, uint16_t port)
{
	f->base.vt = &connect_vt;
	f->base.out = 0;
	f->s = s;
	f->host = host;
	f->port = port;
	f->started = false;
	s->loop = NULL;                 /* closed until the first poll */
	s->handle = -1;
}

/* ---- sleep ----------------------------------------------------------------------------- */

static void sleep_on_timer(struct reactor_timer *t)
{
	struct poll_sleep *s = container_of(t, struct poll_sleep, timer);

	s->fired = true;
	poll_waker_wake(&s->waker);
}

static enum poll_status sleep_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct poll_sleep *s = (struct poll_sleep *)f;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	if (!s->started) {
		/* First poll: the future is pinned, the timer may point at it,
		 * on the reactor of the loop polling it. */
		s->started = true;
		s->loop = cx->loop;
		reactor_timer_start(s->loop->r, &s->timer, s->delay_ns,
				    sleep_on_timer);
	}
	if (!s->fired) {
		poll_waker_set(&s->waker, cx);
		return POLL_PENDING;
	}
	f->out = 0;
	poll_budget_charge(cx);
	return POLL_READY;
}

static void sleep_drop(struct poll_future *f)
{
	struct poll_sleep *s = (struct poll_sleep *)f;

	if (s->started && !s->fired)
		reactor_timer_stop(s->loop->r, &s->timer);
	s->fired = true;                /* a second drop does nothing */
	poll_waker_drop(&s->waker);
}

void poll_sleep_detach(struct poll_sleep *s)
{
	if (s->started && !s->fired)
		reactor_timer_stop(s->loop->r, &s->timer);
}

int poll_sleep_attach(struct poll_sleep *s, struct poll_loop *l)
{
	uint64_t now, deadline = s->timer.deadline;

	if (!s->started || s->fired)
		return 0;
	s->loop = l;
	now = reactor_now(l->r);
	reactor_timer_start(l->r, &s->timer, deadline > now ? deadline - now : 0,
			    sleep_on_timer);
	return 0;
}

static const struct poll_future_vt sleep_vt = {
	.name = "sleep",
	.poll = sleep_poll,
	.drop = sleep_drop,
};

void poll_sleep_init(struct poll_sleep *f, struct poll_loop *l,
		     uint64_t delay_ns)
{
	memset(f, 0, sizeof(*f));
	f->base.vt = &sleep_vt;
	f->loop = l;
	f->delay_ns = delay_ns;
}

/* ---- reference-counted buffers --------------------------------------------------- */

struct poll_buf *poll_buf_new(size_t cap)
{
	struct poll_buf *b = mem_alloc(sizeof(*b) + cap);

	if (b == NULL)
		return NULL;
	b->cap = cap;
	b->len = 0;
	b->refs = 1;
	return b;
}

struct poll_buf *poll_buf_ref(struct poll_buf *b)
{
	b->refs++;
	return b;
}

void poll_buf_unref(struct poll_buf *b)
{
	if (b != NULL && --b->refs == 0)
		mem_free(b);
}

/* ---- file read and file write, through offload ------------------------------------ */

/* The job outlives the future that submitted it when the future is dropped
 * while the job runs: a running job cannot be stopped.  So it is a block of
 * its own, it holds its own reference to the buffer it works on, and it
 * keeps the waker slot (so the future holds nothing but a pointer to it).
 * Who frees it: the future, once done() has given it back; else offload,
 * through file_job_discard(), after the future cancelled it.  offload runs
 * done() and discard() on the loop thread, so both may touch wakers and
 * buffer counts. */
struct poll__file_job {
	struct offload_job job;         /* first: offload hands this back */
	struct poll_waker waker;
	struct reactor *r;
	int handle;
	bool write;
	bool finished;                  /* done() was delivered */
	uint64_t offset;
	struct poll_buf *buf;           /* one reference */
	ssize_t result;
};

/* On a worker thread: touches only the job and its buffer.  A write is all
 * of buf->len or an error, never a part (reactor.h). */
static void file_job_work(struct offload_job *job)
{
	struct poll__file_job *fj = (struct poll__file_job *)job;
	struct poll_buf *b = fj->buf;

	if (fj->write)
		fj->result = reactor_file_pwrite(fj->r, fj->handle, b->data,
						 b->len, fj->offset);
	else
		fj->result = reactor_file_pread(fj->r, fj->handle, b->data,
						b->cap, fj->offset);
}

/* Loop thread: the job is the future's again. */
static void file_job_done(struct offload_job *job)
{
	struct poll__file_job *fj = (struct poll__file_job *)job;

	fj->finished = true;
	poll_waker_wake(&fj->waker);
}

static void file_job_free(struct poll__file_job *fj)
{
	poll_waker_drop(&fj->waker);
	poll_buf_unref(fj->buf);
	mem_free(fj);
}

/* Loop thread, after a cancel: nobody uses the job any more. */
static void file_job_discard(struct offload_job *job)
{
	file_job_free((struct poll__file_job *)job);
}

/* The shared poll of both file futures; they differ only in the job's
 * direction.  Returns PENDING, or READY with *out set. */
static enum poll_status file_poll(struct poll_cx *cx, struct poll_loop *l,
				  struct poll__file_job **jobp, bool write,
				  int handle, struct poll_buf *buf,
				  uint64_t offset, ssize_t *out)
{
	struct poll__file_job *fj = *jobp;

	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	if (fj == NULL) {
		if (l->o == NULL) {
			*out = -ENOSYS;
			goto out_ready;
		}
		fj = mem_alloc(sizeof(*fj));
		if (fj == NULL) {
			*out = -ENOMEM;
			goto out_ready;
		}
		memset(fj, 0, sizeof(*fj));
		fj->job.work = file_job_work;
		fj->job.done = file_job_done;
		fj->job.discard = file_job_discard;
		fj->r = l->r;
		fj->handle = handle;
		fj->write = write;
		fj->offset = offset;
		fj->buf = poll_buf_ref(buf);
		poll_waker_set(&fj->waker, cx);
		*jobp = fj;
		offload_submit(l->o, &fj->job);
		return POLL_PENDING;
	}
	if (!fj->finished) {
		poll_waker_set(&fj->waker, cx);
		return POLL_PENDING;
	}
	*out = fj->result;
	if (!write)
		buf->len = fj->result > 0 ? (size_t)fj->result : 0;
	file_job_free(fj);
	*jobp = NULL;
out_ready:
	poll_budget_charge(cx);
	return POLL_READY;
}

/* doc:begin file-cancel */
/* Dropped while the job is out: cancel it and forget it (offload will
 * discard it, now or when its work returns).  Dropped after done(): the job
 * is ours, free it. */
static void file_drop(struct poll_loop *l, struct poll__file_job **jobp)
{
	struct poll__file_job *fj = *jobp;

	if (fj == NULL)
		return;
	*jobp = NULL;
	if (fj->finished) {
		file_job_free(fj);
		return;
	}
	poll_waker_drop(&fj->waker);
	offload_cancel(l->o, &fj->job);
}
/* doc:end file-cancel */

static enum poll_status file_read_poll(struct poll_future *f,
				       struct poll_cx *cx)
{
	struct poll_file_read *fr = (struct poll_file_read *)f;

	return file_poll(cx, fr->loop, &fr->job, false, fr->handle, fr->buf,
			 fr->offset, &f->out);
}

static void file_read_drop(struct poll_future *f)
{
	struct poll_file_read *fr = (struct poll_file_read *)f;

	file_drop(fr->loop, &fr->job);
}

static const struct poll_future_vt file_read_vt = {
	.name = "file_read",
	.poll = file_read_poll,
	.drop = file_read_drop,
};

void poll_file_read_init(struct poll_file_read *f, struct poll_loop *l,
			 int handle, struct poll_buf *buf, uint64_t offset)
{
	f->base.vt = &file_read_vt;
	f->base.out = 0;
	f->loop = l;
	f->handle = handle;
	f->offset = offset;
	f->buf = buf;
	f->job = NULL;
}

static enum poll_status file_write_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct poll_file_write *fw = (struct poll_file_write *)f;

	return file_poll(cx, fw->loop, &fw->job, true, fw->handle, fw->buf,
			 fw->offset, &f->out);
}

static void file_write_drop(struct poll_future *f)
{
	struct poll_file_write *fw = (struct poll_file_write *)f;

	file_drop(fw->loop, &fw->job);
}

static const struct poll_future_vt file_write_vt = {
	.name = "file_write",
	.poll = file_write_poll,
	.drop = file_write_drop,
};

void poll_file_write_init(struct poll_file_write *f, struct poll_loop *l,
			  int handle, struct poll_buf *buf, uint64_t offset)
{
	f->base.vt = &file_write_vt;
	f->base.out = 0;
	f->loop = l;
	f->handle = handle;
	f->offset = offset;
	f->buf = buf;
	f->job = NULL;
}
