/* lab_exec.c: the solution of lab 2, a minimal executor (lab_exec.h).
 *
 * Instructor's copy: keep it out of the students' hands (docs/labs.md).
 * `make check` builds and tests it; `make check-lab` runs the same tests on
 * labs/lab_exec.c.
 *
 * Three ideas: a waker is a pointer to a task in a slot, and waking queues
 * the task once (E3); the executor polls what is queued, then waits in the
 * reactor; a leaf tries its call and, on -EAGAIN, leaves its task's waker
 * where the stream's edge callback will fire it (E1, E5).
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

static void enqueue(struct lab_exec *ex, struct lab_task *t)
{
	t->queued = true;
	t->next = NULL;
	if (ex->tail)
		ex->tail->next = t;
	else
		ex->head = t;
	ex->tail = t;
}

void lab_spawn(struct lab_exec *ex, struct lab_task *t, struct lab_future *f)
{
	memset(t, 0, sizeof(*t));
	t->future = f;
	t->ex = ex;
	ex->live++;
	enqueue(ex, t);                 /* polled from the run, never here (E2) */
}

void lab_waker_set(struct lab_waker *w, const struct lab_cx *cx)
{
	w->task = cx->task;
}

void lab_waker_wake(struct lab_waker *w)
{
	struct lab_task *t = w->task;

	w->task = NULL;
	if (t == NULL || t->queued || t->done)
		return;                 /* E3: the flag test is the whole cost */
	enqueue(t->ex, t);
}

int lab_exec_run(struct lab_exec *ex)
{
	for (;;) {
		/* 1. Poll every queued task, oldest first. */
		while (ex->head) {
			struct lab_task *t = ex->head;
			struct lab_cx cx = { ex, t };

			ex->head = t->next;
			if (ex->head == NULL)
				ex->tail = NULL;
			t->queued = false;
			t->polls++;
			if (t->future->poll(t->future, &cx) == LAB_READY) {
				t->done = true;         /* E4: never again */
				ex->live--;
			}
		}
		/* 2. Done when every task is. */
		if (ex->live == 0)
			return 0;
		/* 3. Wait: the reactor's callbacks fire wakers. */
		int rc = reactor_poll(ex->r, -1);

		if (rc < 0)
			return rc;
	}
}

/* ---- leaves ---------------------------------------------------------- */

static void fstream_cb(struct reactor_io *io, unsigned events)
{
	struct lab_fstream *s = container_of(io, struct lab_fstream, io);

	lab_waker_wake(&s->reader);
	lab_waker_wake(&s->writer);
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

static enum lab_poll read_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_read *rd = container_of(f, struct lab_read, base);
	ssize_t n = reactor_read(cx->ex->r, rd->s->handle, rd->buf, rd->n);

	if (n == -EAGAIN) {
		lab_waker_set(&rd->s->reader, cx);      /* E1, E5 */
		return LAB_PENDING;
	}
	rd->result = n;
	return LAB_READY;
}

void lab_read_init(struct lab_read *rd, struct lab_fstream *s, void *buf,
		   size_t n)
{
	*rd = (struct lab_read){ .base.poll = read_poll, .s = s, .buf = buf,
				 .n = n };
}

static enum lab_poll write_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_write *wr = container_of(f, struct lab_write, base);

	while (wr->done < wr->n) {
		ssize_t n = reactor_write(cx->ex->r, wr->s->handle,
					  wr->buf + wr->done, wr->n - wr->done);
		if (n == -EAGAIN) {
			lab_waker_set(&wr->s->writer, cx);
			return LAB_PENDING;
		}
		if (n < 0) {
			wr->result = n;
			return LAB_READY;
		}
		wr->done += (size_t)n;
	}
	wr->result = (ssize_t)wr->n;
	return LAB_READY;
}

void lab_write_init(struct lab_write *wr, struct lab_fstream *s,
		    const void *buf, size_t n)
{
	*wr = (struct lab_write){ .base.poll = write_poll, .s = s, .buf = buf,
				  .n = n };
}

static enum lab_poll accept_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_accept *ac = container_of(f, struct lab_accept, base);
	int h = reactor_accept(cx->ex->r, ac->s->handle);

	if (h == -EAGAIN) {
		lab_waker_set(&ac->s->reader, cx);
		return LAB_PENDING;
	}
	ac->result = h;
	return LAB_READY;
}

void lab_accept_init(struct lab_accept *ac, struct lab_fstream *s)
{
	*ac = (struct lab_accept){ .base.poll = accept_poll, .s = s };
}

static void sleep_fired(struct reactor_timer *t)
{
	struct lab_sleep *sl = container_of(t, struct lab_sleep, timer);

	sl->fired = true;
	lab_waker_wake(&sl->waker);
}

static enum lab_poll sleep_poll(struct lab_future *f, struct lab_cx *cx)
{
	struct lab_sleep *sl = container_of(f, struct lab_sleep, base);

	if (sl->fired)
		return LAB_READY;
	if (!sl->started) {
		/* The first poll: from now on the reactor holds a pointer to
		 * sl->timer, so sl must not move any more. */
		sl->started = true;
		reactor_timer_start(sl->ex->r, &sl->timer, sl->ns, sleep_fired);
	}
	lab_waker_set(&sl->waker, cx);
	return LAB_PENDING;
}

void lab_sleep_init(struct lab_sleep *sl, struct lab_exec *ex, uint64_t ns)
{
	*sl = (struct lab_sleep){ .base.poll = sleep_poll, .ex = ex, .ns = ns };
}
