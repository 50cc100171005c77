/* lab_exec.h: lab 2, a minimal executor and its leaf futures.
 *
 * You write lab_exec.c: the core of the poll engine (poll/loop.c,
 * poll/task.c and poll/io.c) in about 150 lines, without drop,
 * cancellation, reference counts or allocation.  This header is the
 * contract; tests/test_labs.c checks it against your file
 * (`make check-lab`, docs/labs.md).
 *
 * A future is a struct that starts with struct lab_future; its poll
 * function advances it as far as it can without blocking and returns
 * LAB_READY (its result is then in the future's struct) or LAB_PENDING.
 * The rules:
 *
 *   E1  PENDING means "someone holds my waker": a leaf that returns
 *       LAB_PENDING has first stored the task's waker (lab_waker_set())
 *       where the event it waits for will fire it.
 *   E2  lab_spawn() only queues the task: no poll runs inside it.  A task
 *       is polled only from lab_exec_run(), when it is queued.
 *   E3  Waking a task that is already queued does nothing: it is polled
 *       once however many wakes arrived.  Waking a finished task does
 *       nothing.  A task woken during its own poll is queued again.
 *   E4  A future is never polled again after it returned LAB_READY.
 *   E5  Readiness is edge-triggered (reactor.h): a leaf tries its call
 *       first, and stores its waker only after the call said -EAGAIN.
 *
 * Tasks, futures and streams are caller-owned and must outlive
 * lab_exec_run(); nothing here allocates.  One thread.
 */
#ifndef PUSHPOLL_LAB_EXEC_H
#define PUSHPOLL_LAB_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor.h"

enum lab_poll { LAB_READY, LAB_PENDING };

struct lab_cx;
struct lab_future {
	enum lab_poll (*poll)(struct lab_future *f, struct lab_cx *cx);
};

struct lab_exec;
struct lab_task {
	/* read-only */
	struct lab_future *future;
	unsigned polls;         /* how many times it was polled */
	/* private */
	struct lab_exec *ex;
	struct lab_task *next;  /* the run queue */
	bool queued, done;
};

struct lab_exec {
	struct reactor *r;
	/* private */
	struct lab_task *head, *tail;   /* the run queue, FIFO */
	unsigned live;                  /* spawned, not yet READY */
};

/* What a poll function is given: the executor, and the task being polled. */
struct lab_cx {
	struct lab_exec *ex;
	struct lab_task *task;
};

/* A waker slot: empty (NULL) or the task to wake. */
struct lab_waker {
	struct lab_task *task;
};

void lab_exec_init(struct lab_exec *ex, struct reactor *r);
/* Make f the task t's future and queue t (E2). */
void lab_spawn(struct lab_exec *ex, struct lab_task *t, struct lab_future *f);
/* Store the task being polled in the slot. */
void lab_waker_set(struct lab_waker *w, const struct lab_cx *cx);
/* Empty the slot, and queue the task it held unless it is queued or done
 * (E3).  An empty slot: nothing. */
void lab_waker_wake(struct lab_waker *w);
/* Poll queued tasks, oldest first; when none is queued, wait in
 * reactor_poll().  Returns 0 when every spawned task is done, or the -errno
 * of reactor_poll() (under the simulation -EDEADLK: a task waits for an
 * event that can never come, such as a lost wake-up). */
int lab_exec_run(struct lab_exec *ex);

/* ---- leaves ---------------------------------------------------------- */

/* A socket or listener and its two waker slots. */
struct lab_fstream {
	/* read-only */
	struct lab_exec *ex;
	int handle;
	/* private */
	struct reactor_io io;
	struct lab_waker reader, writer;
};

/* Watch handle; its callback wakes both slots.  Returns 0 or -errno. */
int lab_fstream_open(struct lab_exec *ex, struct lab_fstream *s, int handle);
/* Stop watching and close the handle. */
void lab_fstream_close(struct lab_fstream *s);

/* READY when up to n bytes were read: result > 0 bytes, 0 at end of
 * stream, or -errno. */
struct lab_read {
	struct lab_future base;
	struct lab_fstream *s;
	void *buf;
	size_t n;
	ssize_t result;
};
void lab_read_init(struct lab_read *rd, struct lab_fstream *s, void *buf,
		   size_t n);

/* READY when all n bytes were written (result n) or a write failed
 * (-errno). */
struct lab_write {
	struct lab_future base;
	struct lab_fstream *s;
	const char *buf;
	size_t n, done;
	ssize_t result;
};
void lab_write_init(struct lab_write *wr, struct lab_fstream *s,
		    const void *buf, size_t n);

/* READY with a new handle, or -errno, accepted on a listener stream. */
struct lab_accept {
	struct lab_future base;
	struct lab_fstream *s;
	ssize_t result;
};
void lab_accept_init(struct lab_accept *ac, struct lab_fstream *s);

/* READY ns nanoseconds after its first poll.  The timer starts at the
 * first poll, not at init: until then the future may be copied. */
struct lab_sleep {
	struct lab_future base;
	struct lab_exec *ex;
	uint64_t ns;
	struct reactor_timer timer;
	struct lab_waker waker;
	bool started, fired;
};
void lab_sleep_init(struct lab_sleep *sl, struct lab_exec *ex, uint64_t ns);

#endif
