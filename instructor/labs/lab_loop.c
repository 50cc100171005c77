/* lab_loop.c: the solution of lab 1, a minimal callback loop (lab_loop.h).
 *
 * Instructor's copy: keep it out of the students' hands (docs/labs.md).
 * `make check` builds and tests it, so that the lab stays solvable as the
 * substrate changes; `make check-lab` runs the same tests on labs/lab_loop.c.
 *
 * The whole engine is three ideas: a start call tries at once and only
 * queues what completed (L2); the stream's edge callback retries the one
 * read and the one write waiting on it (L4); the loop runs the queue, then
 * waits.
 */
#include "lab_loop.h"
#include "container_of.h"

#include <errno.h>
#include <string.h>

enum { OP_READ, OP_ACCEPT, OP_WRITE, OP_SLEEP };

int lab_loop_init(struct lab_loop *l, struct reactor *r)
{
	memset(l, 0, sizeof(*l));
	l->r = r;
	return 0;
}

/* The result is decided: append op to the completion queue.  Its callback
 * runs from lab_loop_run(), never from here (L2). */
static void complete(struct lab_op *op, ssize_t result)
{
	struct lab_loop *l = op->loop;

	op->result = result;
	op->next = NULL;
	if (l->done_tail)
		l->done_tail->next = op;
	else
		l->done_head = op;
	l->done_tail = op;
}

/* Try the read or accept waiting on s; leave it waiting on -EAGAIN. */
static void try_reader(struct lab_stream *s)
{
	struct lab_op *op = s->reader;
	struct reactor *r = s->loop->r;
	ssize_t n;

	if (op->kind == OP_ACCEPT)
		n = reactor_accept(r, s->handle);
	else
		n = reactor_read(r, s->handle, op->buf, op->len);
	if (n == -EAGAIN)
		return;                 /* the next edge retries (L4) */
	s->reader = NULL;
	complete(op, n);
}

/* Write what the kernel takes; leave the rest waiting on -EAGAIN. */
static void try_writer(struct lab_stream *s)
{
	struct lab_op *op = s->writer;

	while (op->done < op->len) {
		ssize_t n = reactor_write(s->loop->r, s->handle,
					  op->buf + op->done,
					  op->len - op->done);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			s->writer = NULL;
			complete(op, n);
			return;
		}
		op->done += (size_t)n;
	}
	s->writer = NULL;
	complete(op, (ssize_t)op->len);
}

/* An edge: retry whatever waits on the stream. */
static void stream_cb(struct reactor_io *io, unsigned events)
{
	struct lab_stream *s = container_of(io, struct lab_stream, io);

	if (s->reader)
		try_reader(s);
	if (s->writer)
		try_writer(s);
}

int lab_stream_open(struct lab_loop *l, struct lab_stream *s, int handle)
{
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->handle = handle;
	return reactor_io_start(l->r, &s->io, handle, stream_cb);
}

void lab_stream_close(struct lab_stream *s)
{
	reactor_io_stop(s->loop->r, &s->io);
	reactor_close(s->loop->r, s->handle);
}

static void op_start(struct lab_loop *l, struct lab_op *op, int kind,
		     lab_cb cb)
{
	op->loop = l;
	op->kind = kind;
	op->cb = cb;
	l->pending++;
}

static int reader_start(struct lab_stream *s, struct lab_op *op, int kind,
			void *buf, size_t n, lab_cb cb)
{
	if (s->reader)
		return -EBUSY;          /* L3: no callback */
	op_start(s->loop, op, kind, cb);
	op->stream = s;
	op->buf = buf;
	op->len = n;
	s->reader = op;
	try_reader(s);                  /* try first (L4) */
	return 0;
}

int lab_read(struct lab_stream *s, struct lab_op *op, void *buf, size_t n,
	     lab_cb cb)
{
	return reader_start(s, op, OP_READ, buf, n, cb);
}

int lab_accept(struct lab_stream *s, struct lab_op *op, lab_cb cb)
{
	return reader_start(s, op, OP_ACCEPT, NULL, 0, cb);
}

int lab_write(struct lab_stream *s, struct lab_op *op, const void *buf,
	      size_t n, lab_cb cb)
{
	if (s->writer)
		return -EBUSY;
	op_start(s->loop, op, OP_WRITE, cb);
	op->stream = s;
	op->buf = (char *)buf;
	op->len = n;
	op->done = 0;
	s->writer = op;
	try_writer(s);
	return 0;
}

static void sleep_fired(struct reactor_timer *t)
{
	complete(container_of(t, struct lab_op, timer), 0);
}

void lab_sleep(struct lab_loop *l, struct lab_op *op, uint64_t ns, lab_cb cb)
{
	op_start(l, op, OP_SLEEP, cb);
	memset(&op->timer, 0, sizeof(op->timer));
	reactor_timer_start(l->r, &op->timer, ns, sleep_fired);
}

int lab_loop_run(struct lab_loop *l)
{
	for (;;) {
		/* 1. The callbacks of what completed so far, oldest first.
		 * Take the batch off the queue first: a callback may start an
		 * operation that completes at once, and it must wait for the
		 * next round (and op may be reused by its own callback). */
		struct lab_op *op = l->done_head;

		l->done_head = l->done_tail = NULL;
		while (op) {
			struct lab_op *next = op->next;

			l->pending--;
			op->cb(op, op->result);
			op = next;
		}
		/* 2. Done when nothing is pending. */
		if (l->pending == 0)
			return 0;
		/* 3. Wait for events; not at all if completions are queued. */
		int rc = reactor_poll(l->r, l->done_head ? 0 : -1);

		if (rc < 0)
			return rc;
	}
}
