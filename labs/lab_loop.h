/* lab_loop.h: lab 1, a minimal callback loop on shared/reactor.h.
 *
 * You write lab_loop.c: the core of the push engine (push/loop.c,
 * push/request.c and push/io.c) in about 150 lines, without cancellation,
 * reference counts or allocation.  This header is the contract; the tests
 * in tests/test_labs.c check every rule below against your file
 * (`make check-lab`, docs/labs.md).
 *
 * An operation is a struct lab_op that the caller owns and keeps alive
 * until its callback has run (nothing here allocates).  The rules:
 *
 *   L1  A started operation's callback runs exactly once, with its result.
 *   L2  It never runs inside the call that started it: a start call only
 *       tries the operation and, if it completed, queues the completion.
 *       Callbacks run from lab_loop_run(), oldest completion first.
 *   L3  A start call that fails returns -errno, and that callback never
 *       runs.
 *   L4  Readiness is edge-triggered (reactor.h): try first, and wait for
 *       the stream's callback only after the call said -EAGAIN.
 *
 * Everything runs on the thread that calls lab_loop_run().
 */
#ifndef PUSHPOLL_LAB_LOOP_H
#define PUSHPOLL_LAB_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor.h"

struct lab_op;
typedef void (*lab_cb)(struct lab_op *op, ssize_t result);

struct lab_loop {
	struct reactor *r;
	/* private */
	struct lab_op *done_head, *done_tail;   /* the completion queue (L2) */
	unsigned pending;       /* started, callback not yet run */
};

/* A socket or listener, watched by the loop.  At most one read (or
 * accept) and one write pending at a time. */
struct lab_stream {
	/* read-only */
	struct lab_loop *loop;
	int handle;
	/* private */
	struct reactor_io io;
	struct lab_op *reader;  /* the read or accept waiting for an edge */
	struct lab_op *writer;  /* the write waiting for an edge */
};

/* One operation.  Caller-owned; set nothing but `data`. */
struct lab_op {
	void *data;             /* the caller's: the callback finds its state here */
	/* private */
	lab_cb cb;
	struct lab_loop *loop;
	struct lab_stream *stream;
	int kind;               /* what this op is: read, accept, write, sleep */
	char *buf;
	size_t len, done;       /* for a write: bytes to write, bytes written */
	ssize_t result;         /* decided, when on the completion queue */
	struct reactor_timer timer;
	struct lab_op *next;    /* the completion queue */
};

/* A loop over r.  Returns 0. */
int lab_loop_init(struct lab_loop *l, struct reactor *r);

/* Watch handle (a socket or a listener) for edges.  Returns 0 or -errno. */
int lab_stream_open(struct lab_loop *l, struct lab_stream *s, int handle);
/* Stop watching and close the handle.  No operation may be pending on s. */
void lab_stream_close(struct lab_stream *s);

/* Read up to n bytes into buf.  Result: > 0 bytes read, 0 at end of
 * stream, or -errno.  Returns 0 (started), or -EBUSY if a read or accept is
 * already pending on s (L3: no callback). */
int lab_read(struct lab_stream *s, struct lab_op *op, void *buf, size_t n,
	     lab_cb cb);
/* Write all n bytes of buf, across as many edges as it takes.  Result: n,
 * or -errno.  Returns 0, or -EBUSY if a write is already pending on s. */
int lab_write(struct lab_stream *s, struct lab_op *op, const void *buf,
	      size_t n, lab_cb cb);
/* Accept one connection on a listener stream.  Result: the new handle, or
 * -errno.  Returns 0, or -EBUSY as lab_read. */
int lab_accept(struct lab_stream *s, struct lab_op *op, lab_cb cb);
/* Call back (result 0) after ns nanoseconds of the reactor's clock. */
void lab_sleep(struct lab_loop *l, struct lab_op *op, uint64_t ns, lab_cb cb);

/* Run until no operation is pending: run the queued callbacks, then wait
 * in reactor_poll() (without waiting when completions are queued), and
 * repeat.  Returns 0 when nothing is pending, or the -errno of
 * reactor_poll() (under the simulation, -EDEADLK: something is pending
 * that nothing can ever complete). */
int lab_loop_run(struct lab_loop *l);

#endif
