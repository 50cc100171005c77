/* lab_loop.c: lab 1, a minimal callback loop.  Write the bodies marked
 * TODO, following the contract in lab_loop.h; read docs/labs.md first.
 *
 *   make check-lab               (from the build directory) grades it
 *
 * Read push/loop.c (the four steps), push/request.c (push__req_complete()
 * and the completion queue) and push/io.c (try_read(), stream_io_cb()) for
 * the same ideas at full size.  Until you fill them in, the start calls
 * and the loop say -ENOSYS, and the tests fail rather than hang.
 */
#include "lab_loop.h"
#include "container_of.h"

#include <errno.h>
#include <string.h>

/* The kinds of operation (lab_op.kind). */
enum { OP_READ, OP_ACCEPT, OP_WRITE, OP_SLEEP };

int lab_loop_init(struct lab_loop *l, struct reactor *r)
{
	memset(l, 0, sizeof(*l));
	l->r = r;
	return 0;
}

/* The result is decided: store it in op and append op to the loop's
 * completion queue (done_head, done_tail, linked by op->next).  Never call
 * the callback here (L2). */
static void complete(struct lab_op *op, ssize_t result)
{
	/* TODO */
}

/* Try the read (reactor_read()) or accept (reactor_accept()) waiting on s:
 * on -EAGAIN leave it waiting for the next edge (L4); otherwise take it off
 * the stream and complete it with what the call returned. */
static void try_reader(struct lab_stream *s)
{
	/* TODO */
}

/* Write (reactor_write()) the rest of the write waiting on s, op->done
 * bytes of op->len written so far: a short write is normal.  On -EAGAIN
 * leave it waiting; on another error, or when all is written, take it off
 * the stream and complete it (with the error, or with op->len). */
static void try_writer(struct lab_stream *s)
{
	/* TODO */
}

/* An edge on the stream: retry whatever waits on it. */
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

/* The three start calls: -EBUSY if the direction is taken (L3); else fill
 * in op (loop, kind, cb, stream, buf, len, done), count it pending, make
 * it the stream's reader or writer, and try it at once (L4).  A try that
 * completes only queues: the callback still runs from the loop (L2). */
int lab_read(struct lab_stream *s, struct lab_op *op, void *buf, size_t n,
	     lab_cb cb)
{
	/* TODO */
	return -ENOSYS;
}

int lab_accept(struct lab_stream *s, struct lab_op *op, lab_cb cb)
{
	/* TODO */
	return -ENOSYS;
}

int lab_write(struct lab_stream *s, struct lab_op *op, const void *buf,
	      size_t n, lab_cb cb)
{
	/* TODO */
	return -ENOSYS;
}

/* Start op->timer (zeroed first) with reactor_timer_start(); its callback
 * finds op with container_of() and completes it with 0. */
void lab_sleep(struct lab_loop *l, struct lab_op *op, uint64_t ns, lab_cb cb)
{
	/* TODO */
}

/* Repeat: run the callbacks of the completions queued so far (take the
 * whole queue off the loop first: a callback may start an operation that
 * completes at once, and may reuse its own op); return 0 if nothing is
 * pending; reactor_poll() (timeout 0 if completions are queued, else -1),
 * returning its error if it fails. */
int lab_loop_run(struct lab_loop *l)
{
	/* TODO */
	(void)complete;
	return -ENOSYS;
}
