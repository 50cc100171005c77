/* lab_exec.c: lab 2, a minimal executor and its leaf futures.  Write the
 * bodies marked TODO, following the contract in lab_exec.h; read
 * docs/labs.md first.
 *
 *   make check-lab               (from the build directory) grades it
 *
 * Read poll/loop.c (poll_loop_run_ready()), poll/task.c (poll__task_wake(),
 * poll_waker_set()) and poll/io.c (the read future) for the same ideas at
 * full size.  Until you fill them in, lab_exec_run() says -ENOSYS and the
 * leaves say READY with -ENOSYS, so the tests fail rather than hang.
 */
#include "lab_exec.h"
#include "container_of.h"

#include <errno.h>
#include <string.h>

void lab_exec_init(struct lab_exec *ex, struct reactor *r)
{
	memset(ex, 0, sizeof(*ex));
	ex->r = r;
}

/* Zero t, set its future and executor, count it live, and put it at the
 * back of the run queue (queued = true).  Never poll here (E2). */
void lab_spawn(struct lab_exec *ex, struct lab_task *t, struct lab_future *f)
{
	/* TODO */
}

void lab_waker_set(struct lab_waker *w, const struct lab_cx *cx)
{
	/* TODO */
}

/* Empty the slot; queue its task unless there is none, or it is queued,
 * or done (E3). */
void lab_waker_wake(struct lab_waker *w)
{
	/* TODO */
}

/* Repeat: pop and poll every queued task (clear `queued` before its poll,
 * so that a wake during the poll queues it again; count t->polls; a READY
 * task is done and no longer live); return 0 when no task is live;
 * reactor_poll(ex->r, -1), returning its error if it fails. */
int lab_exec_run(struct lab_exec *ex)
{
	/* TODO */
	return -ENOSYS;
}

/* ---- leaves ---------------------------------------------------------- */

/* An edge on the stream: wake both slots. */
static void fstream_cb(struct reactor_io *io, unsigned events)
{
	/* TODO */
}

int lab_fstream_open(struct lab_exec *ex, struct lab_fstream *s, int handle)
{
	memset(s, 0, sizeof(*s));
	s->ex = ex;
	s->handle = handle;
	return reactor_io_start(ex->r, &s->io, handle, fstream_cb);
}

void lab_fstream_close(struct lab_fstream *s)
{
	reactor_io_stop(s->ex->r, &s->io);
	reactor_close(s->ex->r, s->handle);
}

/* Try reactor_read(): on -EAGAIN store the task's waker in the stream's
 * reader slot and say PENDING (E1, E5); else keep the result, READY. */
static enum lab_poll read_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_read *rd = container_of(f, struct lab_read, base);

	/* TODO */
	rd->result = -ENOSYS;
	return LAB_READY;
}

void lab_read_init(struct lab_read *rd, struct lab_fstream *s, void *buf,
		   size_t n)
{
	*rd = (struct lab_read){ .base.poll = read_poll, .s = s, .buf = buf,
				 .n = n };
}

/* Write until all n bytes are written (READY, result n), a write fails
 * (READY, the error) or says -EAGAIN (waker in the writer slot, PENDING). */
static enum lab_poll write_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_write *wr = container_of(f, struct lab_write, base);

	/* TODO */
	wr->result = -ENOSYS;
	return LAB_READY;
}

void lab_write_init(struct lab_write *wr, struct lab_fstream *s,
		    const void *buf, size_t n)
{
	*wr = (struct lab_write){ .base.poll = write_poll, .s = s, .buf = buf,
				  .n = n };
}

/* As read_poll(), with reactor_accept(). */
static enum lab_poll accept_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_accept *ac = container_of(f, struct lab_accept, base);

	/* TODO */
	ac->result = -ENOSYS;
	return LAB_READY;
}

void lab_accept_init(struct lab_accept *ac, struct lab_fstream *s)
{
	*ac = (struct lab_accept){ .base.poll = accept_poll, .s = s };
}

/* The timer fired: mark the sleep fired and wake its slot. */
static void sleep_fired(struct reactor_timer *t)
{
	/* TODO */
}

/* READY once fired.  At the first poll start the timer
 * (reactor_timer_start(), with sleep_fired); every PENDING stores the
 * waker first. */
static enum lab_poll sleep_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_sleep *sl = container_of(f, struct lab_sleep, base);

	/* TODO */
	(void)sleep_fired;
	sl->fired = true;
	return LAB_READY;
}

void lab_sleep_init(struct lab_sleep *sl, struct lab_exec *ex, uint64_t ns)
{
	*sl = (struct lab_sleep){ .base.poll = sleep_poll, .ex = ex, .ns = ns };
}
