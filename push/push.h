/* push.h: the callback engine.
 *
 * The push model, done the way libuv, libevent and Node (before promises) do
 * it: every pending operation is a heap object, a *request*, that holds a
 * callback and its user data; the loop runs the callback when the operation
 * completes.  Composed operations are requests whose callbacks start more
 * requests.  Lifetimes are reference counts; cancellation is a *token* that
 * every operation takes.
 *
 * Everything here runs on one thread, the loop thread (the thread that calls
 * push_loop_run()).  Errors are negative errno values, as in libuv.
 *
 * The rules every operation keeps (the contract of this engine):
 *
 *   R1  A started operation's callback runs exactly once: with its result,
 *       with -ECANCELED, or with another -errno.
 *   R2  The callback never runs inside the call that started the operation,
 *       never inside push_cancel() or push_token_cancel(); always from the
 *       loop (step 1 of an iteration, see push_loop_run()).
 *   R3  If starting fails, the call returns -errno and the callback never
 *       runs (libuv's rule).
 *   R4  A request's memory goes when its last reference is dropped.  The
 *       loop holds one from the start until the callback has returned; the
 *       token registration holds one while the request is registered; the
 *       caller holds one if it asked for a handle (reqp), dropped with
 *       push_req_unref().
 *   R5  Cancelling when the completion is already queued changes nothing:
 *       the completion wins, the callback gets the real result.  (A result
 *       that exists, bytes read or a connection accepted, is never thrown
 *       away: an accepted handle dropped here would leak.)  The same holds
 *       for a composition: cancelled after the inner operation that decides
 *       its result has completed, it calls back with that result.
 *
 * The one exception to "a callback per operation" is the synchronous fast
 * path (struct push_config.fast_path, off by default): see PUSH_SYNC.
 */
#ifndef PUSHPOLL_PUSH_H
#define PUSHPOLL_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "completion.h"
#include "offload.h"
#include "reactor.h"
#include "workload.h"

struct push_req;
struct push_token;

/* ---- settings ------------------------------------------------------------ */

/* How a loop allocates, chosen at run time.  The workload entry points
 * (push_echo_serve(), push_fanout_run()) use the process-wide default. */
struct push_config {
	/* false (idiomatic): a heap request per operation, freed when its last
	 * reference goes, as libuv's own echo server does.
	 * true (pooled): freed requests go to a per-loop free list and are
	 * reused, as libuv's pump benchmark does; the list is freed with the
	 * loop.  It grows to the most requests ever live at once. */
	bool pooled;
	/* true: an accept, read or write that can complete at once, and whose
	 * caller passed `sync`, completes without a request: see PUSH_SYNC. */
	bool fast_path;
};

/* The process-wide default (initially { false, false }).  push_loop_init()
 * copies it, so a change applies to loops initialised afterwards.  Not
 * thread-safe: set it before starting loops. */
void push_config_set(const struct push_config *c);
struct push_config push_config_get(void);

/* ---- the loop ------------------------------------------------------------ */

struct push_loop_stats {
	uint64_t iterations;     /* loop iterations */
	uint64_t callbacks;      /* callbacks run (completions dispatched) */
	uint64_t reqs_allocated; /* requests taken from the heap */
	uint64_t reqs_reused;    /* requests taken from the free list (pooled) */
	uint64_t sync_completions; /* operations completed by the fast path */
	unsigned pending;        /* requests and offload jobs now pending */
};

/* The loop: the completion queue on top of the reactor.  Memory: the
 * caller's, as libuv's uv_loop_t; the layout is here only so that it can
 * be.  Owned by the loop thread. */
struct push_loop {
	/* read-only */
	struct reactor *r;
	struct offload *o;             /* may be NULL: no file operations */
	struct completion *cq;         /* NULL: readiness, I/O through the
					* reactor; else the completion mode
					* (push_loop_init_completion()) */
	struct push_config config;     /* copied at init */
	/* private */
	/* The completion queue: QUEUED requests, oldest first, linked through
	 * req->next.  Step 1 takes the whole list and runs it. */
	struct push_req *queue_head, *queue_tail;
	/* Requests started and not yet called back, plus offload jobs
	 * submitted and not yet given back.  The loop runs while > 0. */
	unsigned pending;
	/* Requests allocated and not yet freed (any state, handles included):
	 * must be 0 at push_loop_fini(). */
	unsigned live_reqs;
	/* Pooled: freed requests, linked through req->next. */
	struct push_req *free_reqs;
	/* The stop handler, run once at the first stop. */
	void (*on_stop)(void *arg);
	void *stop_arg;
	/* The completion mode's provided buffer ring (push_loop_ring(), K4):
	 * count buffers of size at mem (NULL: none), `free` of them in the
	 * ring as far as the loop has seen; and the reads that found it dry,
	 * waiting for a buffer, oldest first, linked through req->next. */
	struct push_ring {
		unsigned char *mem;
		size_t size;
		unsigned count, free;
	} ring;
	struct push_req *starved_head, *starved_tail;
	bool stop_seen;      /* a stop (request or quiescence) was acted on */
	bool running;        /* inside push_loop_run()/push_run_until() */
	struct push_loop_stats stats;
};

/* Initialise a loop on reactor r, with offload pool o for file operations
 * (o may be NULL if none are used), under config c (NULL: the process-wide
 * default), in caller storage.  Allocates nothing.  Returns 0 (the
 * signature leaves room for -errno). */
int push_loop_init(struct push_loop *l, struct reactor *r, struct offload *o,
		   const struct push_config *c);

/* The completion mode (completion.h): the same loop, the same requests,
 * tokens and callbacks, but the I/O is handed to the completion queue cq
 * (io_uring, or the simulation's completion mode under a simulated r)
 * instead of waiting for readiness on r.  r stays the place stop requests
 * arrive and timers (push_sleep(), the workloads' idle timers) live.  cq
 * is the caller's and must outlive the loop; free it after
 * push_loop_fini(), when nothing is in flight any more.  Every stream and
 * file operation of the loop goes through cq (see "completion mode" below);
 * the offload pool is not used for files.  Allocates nothing; returns 0. */
int push_loop_init_completion(struct push_loop *l, struct reactor *r,
			      struct completion *cq,
			      const struct push_config *c);

/* Nothing may be pending and every handle (reqp) must have been dropped
 * first; the pooled free list is freed here.  After it returns l's memory
 * may be freed.  In the completion mode nothing is in flight in cq then:
 * an operation in flight is a pending request. */
void push_loop_fini(struct push_loop *l);

/* Run until nothing is pending: 0.  One iteration is four steps, one helper
 * each in loop.c:
 *
 *   1. run: the callbacks of queued completions, oldest first, those
 *      queued by these callbacks included (they run in this same step,
 *      after every completion queued before them, without a poll of the
 *      reactor), up to a batch of 64 callbacks; past it the rest wait for
 *      the next iteration, so no chain of callbacks starves the I/O.  A
 *      callback that yields (push_sleep() with delay 0) runs again only
 *      after a poll of the reactor: timers fire there, after I/O;
 *   2. done: stop if what we run for is done: the request of
 *      push_run_until(), or (push_loop_run) nothing pending;
 *   3. stop: a stop request (reactor_stop_requested()) is acted on once;
 *   4. wait: poll the reactor, whose io, timer and offload callbacks
 *      complete requests by queueing them; do not wait if completions are
 *      queued.  (In the completion mode: poll the completion queue, each
 *      final completion finishing its request, then run the reactor's
 *      due timers; on a ring the wait ends at the next timer deadline,
 *      and after 100 ms at most, so that a stop request is seen.)
 *
 * "Pending" counts requests not yet called back and offload jobs this loop
 * submitted that the pool has not given back (a cancelled running job keeps
 * the loop alive until it returns: its memory is the loop's to free).
 *
 * A stop, and under sim a quiescent world (reactor_poll() said -EDEADLK),
 * run the stop handler once, from the loop; the handler cancels what it
 * wants and the loop goes on until done.  Without a handler, a stop request
 * ends the run with -EINTR (requests stay pending; a later call goes on)
 * and a quiescent world with -EDEADLK.
 *
 * Returns 0 when done; -EINTR at a stop request without a stop handler;
 * -EDEADLK (sim) when requests are pending that nothing can ever complete
 * (after the stop handler, if any, has run); or the -errno reactor_poll()
 * failed with.  Must not be called from a callback. */
int push_loop_run(struct push_loop *l);

/* Run the loop until req's callback has run (state PUSH_REQ_DONE), so that
 * plain synchronous code can wait for one operation.  The caller must hold
 * a handle on req.  Returns 0, or as push_loop_run(): -EINTR, -EDEADLK, or
 * a reactor error, with req still pending.  Must not be called from a
 * callback.  The result is push_req_result(req). */
int push_run_until(struct push_loop *l, struct push_req *req);

/* The stop handler: fn(arg) runs once, from the loop, at the first stop
 * (see push_loop_run()).  NULL removes it. */
void push_loop_on_stop(struct push_loop *l, void (*fn)(void *arg), void *arg);

void push_loop_stats_get(const struct push_loop *l, struct push_loop_stats *out);

/* ---- requests ------------------------------------------------------------ */

/* The callback of every operation: data is the pointer given when it was
 * started, result its outcome (>= 0, or -errno; -ECANCELED when cancelled).
 * It may start and cancel operations, and drop handles. */
typedef void (*push_cb)(void *data, ssize_t result);

/* The states of a request, with the function that makes each transition:
 *
 *   (start call) --> PENDING --(source completes: push__req_complete)--> QUEUED
 *                       |                                                  |
 *                       +--(push_cancel / token / stream close)-> QUEUED   |
 *                                        result -ECANCELED                 |
 *                                                       (loop step 1) -->  DONE
 *
 *   PENDING  started; waiting on the reactor, a timer, the offload pool or
 *            inner operations.  On its stream, its timer or the pool, and
 *            registered on its token.  Cancellable.
 *   QUEUED   the result is decided and the request is on the loop's
 *            completion queue; no longer on its token.  Not cancellable
 *            (rule R5).
 *   DONE     the callback has run (or is running).  Only handles remain.
 *
 * A composed request (push_seq and friends) stays PENDING after a cancel
 * until its inner operations have all called back, then goes QUEUED with
 * -ECANCELED, or with its real result if the inner operations had decided
 * it before the cancel reached them (R5). */
enum push_req_state {
	PUSH_REQ_PENDING,
	PUSH_REQ_QUEUED,
	PUSH_REQ_DONE,
};

/* Every start call below returns one of:
 *   PUSH_STARTED  the operation is pending; its callback will run (R1, R2).
 *   PUSH_SYNC     (fast path only) it completed inside the call: *sync holds
 *                 the result, no request exists, *reqp is NULL, and the
 *                 callback will NOT run.  The caller handles the result
 *                 inline, as C# code handles a ValueTask that is already
 *                 complete.  Only when the loop's config has fast_path on and
 *                 the caller passed sync != NULL; so a caller that passes
 *                 sync must handle both returns.
 *   < 0           it could not start (-errno); the callback never runs (R3).
 *
 * Common parameters:
 *   tok   the cancellation token, or NULL (the operation cannot be
 *         cancelled except by push_cancel() on a handle, or by closing its
 *         stream).  A token that is already cancelled makes the start fail
 *         with -ECANCELED.
 *   cb    the callback; NULL is allowed (the result is then read with
 *         push_req_result(), what push_run_until() users do).
 *   data  passed to cb.
 *   reqp  if not NULL, receives a handle: one more reference, which the
 *         caller drops with push_req_unref().  Set to NULL on failure. */
#define PUSH_STARTED 0
#define PUSH_SYNC    1

enum push_req_state push_req_state(const struct push_req *req);

/* The result given (or to be given) to the callback; meaningful once the
 * request is QUEUED or DONE. */
ssize_t push_req_result(const struct push_req *req);

/* Drop the caller's handle.  The request is freed if it was the last
 * reference; the callback still runs if the request is pending. */
void push_req_unref(struct push_req *req);

/* Cancel one request through its handle.  A pending leaf request goes
 * QUEUED with -ECANCELED at once (its callback runs in the next step 1,
 * never inside this call; in the completion mode it stays PENDING until
 * the kernel's completion, K2); a composed one cancels its inner operations and
 * calls back with -ECANCELED once they have all called back.  Returns 0 if
 * this call cancelled it, -EBUSY if its completion was already queued or
 * its callback has run (R5: the completion wins), -EALREADY if it was
 * already cancelled.  Safe from inside a callback, and twice. */
int push_cancel(struct push_req *req);

/* Rule R2, counted.  push_cancel() and push_token_cancel() count how deep
 * this thread is inside them; every callback checks that depth as it
 * begins: the loop's dispatch does, and so does the first line of every
 * callback in push/ (the compositions' inner ones, the workloads'), so a
 * callback called directly, not through the loop, is seen too.
 * push_in_cancel() says whether this thread is inside a cancel now (a
 * callback of the caller's own can check it the same way);
 * push_callbacks_in_cancel() says how many callbacks began inside one on
 * this thread since it started: 0, or the engine broke R2.  Always on: a
 * thread-local compare per callback. */
bool push_in_cancel(void);
uint64_t push_callbacks_in_cancel(void);

/* ---- cancellation tokens ------------------------------------------------- */

/* A token is the one thing an operation has to be given to be cancellable:
 * it has to be threaded through every call.  Tokens form a tree: cancelling
 * one cancels every request registered on it and every token below it.
 *
 * States: LIVE (requests may register) and CANCELLED (final: registering
 * fails, so starting with it fails with -ECANCELED).
 *
 * Memory: embedded in the caller's memory (no allocation).  A request
 * registered on a token holds the token's reference on it (R4) and is
 * unregistered when its completion is queued.  The token must outlive its
 * registrations or be destroyed, which detaches them. */
struct push_token {
	/* private */
	struct push_token *parent;
	struct push_token *children;       /* first child */
	struct push_token *prev, *next;    /* siblings under parent */
	struct push_req *reqs;             /* registered requests */
	bool cancelled;
};

/* Make t a LIVE token under parent (NULL: a root).  Under a parent that is
 * already cancelled, t starts CANCELLED. */
void push_token_init(struct push_token *t, struct push_token *parent);

/* Cancel t: every request registered on t or on a token below it is
 * cancelled as by push_cancel(), and every token below it becomes
 * CANCELLED.  No callback runs inside this call (R2).  Returns how many
 * requests it cancelled.  Cancelling a cancelled token cancels nothing more
 * and returns 0; safe from inside a callback. */
int push_token_cancel(struct push_token *t);

bool push_token_cancelled(const struct push_token *t);

/* Unlink t from its parent, make its children roots, and unregister the
 * requests still registered on it: they stay pending, now uncancellable by
 * any token (destroying is not cancelling).  After it returns t's memory may
 * be freed. */
void push_token_destroy(struct push_token *t);

/* ---- streams ------------------------------------------------------------- */

/* A stream handle (socket or listener) open in a loop: the reactor watcher
 * and the at most one read (or accept) and one write (or connect) pending
 * on it.  libuv's uv_stream_t, reduced.
 *
 * States: CLOSED (zeroed, or after push_stream_close()) and OPEN.
 * Memory: embedded in the caller's memory; may be freed once closed. */
struct push_stream {
	/* read-only */
	int handle;
	/* private */
	struct reactor_io io;
	struct push_loop *loop;
	struct push_req *reader;   /* the pending accept or read */
	struct push_req *writer;   /* the pending write or connect */
	bool open;
};

/* Open s on a handle (from reactor_listen(), reactor_accept(), an accept's
 * result); the stream owns the handle from now on.  Returns 0, or -errno
 * and the handle is still the caller's (a call that fails changes
 * nothing). */
int push_stream_open(struct push_loop *l, struct push_stream *s, int handle);

/* Close s: its pending requests are cancelled (they call back with
 * -ECANCELED from the loop, and never touch their buffers again), the
 * watcher stops and the handle is closed.  After it returns s's memory may
 * be freed.  Closing a closed stream does nothing. */
void push_stream_close(struct push_stream *s);
static inline bool push_stream_is_open(const struct push_stream *s)
{
	return s->open;
}

/* Close a handle that no stream owns (an accepted connection turned away),
 * through whatever the loop does I/O with: reactor_close(), or
 * completion_close() in the completion mode. */
void push_handle_close(struct push_loop *l, int handle);

/* ---- leaf operations (io.c) ---------------------------------------------- */
/* Each starts one request.  At most one accept or read, and one write or
 * connect, may be pending on a stream at once: another fails with -EBUSY.
 * Buffers must stay valid until the callback; once a request is cancelled
 * or completed the engine never touches its buffer again.
 *
 * In the completion mode (push_loop_init_completion(), io_completion.c)
 * the same calls submit the operation to the completion queue, and the
 * callback runs from its completion.  What changes, and why:
 *
 *   K1  Ownership.  From the start call until the callback, the kernel owns
 *       the operation's buffer (completion.h, rule 1): the caller must not
 *       touch, free or reuse it, even after push_cancel(); the buffer is
 *       the caller's again inside the callback, whatever the result.  (A
 *       file operation holds a reference on its push_buf until then.)
 *   K2  Cancelling only asks (completion.h, rule 3).  push_cancel() and a
 *       token's cancel submit a cancel and return; the request stays
 *       PENDING until the kernel's completion, and its callback then runs
 *       once, from the loop, with -ECANCELED, or with the real result if
 *       the kernel had finished first (R5: bytes read are delivered, an
 *       accepted handle is the callback's).  R1 to R4 hold unchanged.
 *   K3  Closing a stream with an operation in flight cancels it (K2); the
 *       handle is closed when the last such operation has completed, so
 *       the kernel never works on a closed or reused handle.  The stream's
 *       memory may be freed at once, as in the readiness mode.
 *   K4  Nothing completes inside a start call: there is no fast path
 *       (PUSH_SYNC is never returned), no push_try_write() (-EOPNOTSUPP: a
 *       completion has no "writable now" moment to try at), and no
 *       push_connect() yet (-EOPNOTSUPP).  push_read_alloc() is the read
 *       from the loop's provided buffer ring (push_loop_ring()): the
 *       receive is submitted naming the ring, not a buffer, and the
 *       kernel picks one only when bytes arrive (completion_recv_select),
 *       so a read that waits holds no buffer, as on readiness.  alloc and
 *       release are not called; a->picked(data, buf) is, once, with the
 *       ring buffer the bytes are in, just before a callback with result
 *       > 0, which owns that buffer until push_ring_return().  Every other
 *       result (0, -errno, -ECANCELED) comes with no buffer.  A cancel
 *       that loses the race (R5) still delivers bytes and their buffer:
 *       the callback must give it back even though it was cancelled.  The
 *       ring run dry (-ENOBUFS from the kernel), the read waits on the
 *       loop's starved list, holding nothing, until a buffer is given
 *       back; it is never resubmitted into a ring known to be empty, and
 *       cancelling it there completes it at once (-ECANCELED).  Without
 *       provided buffer rings in the kernel push_loop_ring() says
 *       -EOPNOTSUPP, and push_read_alloc() without a ring -EINVAL. */

/* The completion mode's provided buffer ring (K4): count buffers (a power
 * of two, up to 32768) of size bytes, in one mem_alloc() of count * size,
 * given to the loop's queue as one buffer group.  One per loop, made before
 * the first push_read_alloc(); freed by push_loop_fini(), after which the
 * queue may only be freed (its group names that memory).  Returns 0,
 * -EINVAL in the readiness mode, -EEXIST (already has one, or the queue's
 * group is taken), -EOPNOTSUPP (no provided buffer rings in this kernel),
 * -ENOMEM. */
int push_loop_ring(struct push_loop *l, size_t size, unsigned count);

/* Give ring buffer buf (from a->picked) back to the loop's ring; the
 * oldest starved read, if any, is submitted again.  buf is the kernel's
 * from now on (completion.h, rule 1). */
void push_ring_return(struct push_loop *l, void *buf);

/* Accept one connection on a listening stream.  Result: the new handle
 * (open a stream on it, or reactor_close() it), or -errno.  -EMFILE and
 * -ENFILE mean a pending connection was shed for lack of descriptors (see
 * reactor_accept()); accepting again is safe and does not spin. */
int push_accept(struct push_loop *l, struct push_stream *listener,
		struct push_token *tok, push_cb cb, void *data,
		struct push_req **reqp, ssize_t *sync);

/* Read up to n bytes.  Result: bytes read (> 0), 0 at end of stream, or
 * -errno (-ECONNRESET...). */
int push_read(struct push_loop *l, struct push_stream *s, void *buf,
	      size_t n, struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp, ssize_t *sync);

/* Read on readiness, with the buffer asked for only then: libuv's alloc_cb.
 * A read that waits holds no buffer; when the stream is readable (or at
 * once, if it may be) the operation calls alloc, reads into what it
 * returned, and completes.  A buffer that received nothing (the read found
 * nothing after all and waits again, or saw the end or an error) is given
 * back through release before anything else happens, so:
 *
 *   - the callback with result > 0 owns the buffer alloc handed out last
 *     (alloc's data is the operation's `data`: record the buffer there);
 *   - with result <= 0, or cancelled, or never called back (R3), no buffer
 *     of the operation is alive; alloc may never have been called.
 *
 * alloc returns a buffer and sets *n to its size, or returns NULL: the read
 * then completes with -ENOBUFS.  Both are called from inside the loop (an
 * edge) or inside this call, never after the operation completed.  *a must
 * stay valid until the callback. */
struct push_alloc {
	void *(*alloc)(void *data, size_t *n);
	void (*release)(void *data, void *buf);
	/* The completion mode only (K4): the kernel put the bytes in ring
	 * buffer buf; called instead of alloc, just before the callback. */
	void (*picked)(void *data, void *buf);
};
int push_read_alloc(struct push_loop *l, struct push_stream *s,
		    const struct push_alloc *a, struct push_token *tok,
		    push_cb cb, void *data, struct push_req **reqp,
		    ssize_t *sync);

/* Write all n bytes (through as many short writes as it takes).  Result: n,
 * or -errno.  After an error or a cancel, some prefix of buf may have been
 * written. */
int push_write(struct push_loop *l, struct push_stream *s, const void *buf,
	       size_t n, struct push_token *tok, push_cb cb, void *data,
	       struct push_req **reqp, ssize_t *sync);

/* Write what the stream takes now, without waiting and without a request
 * (libuv's uv_try_write): bytes written (0 <= result <= n; 0 when the
 * stream is full), or -errno.  -EBUSY while a write is pending on s, whose
 * bytes must go first.  The rest, if any, is the caller's to write with
 * push_write(): from a copy of its own size, if the buffer is to be reused
 * at once. */
ssize_t push_try_write(struct push_loop *l, struct push_stream *s,
		       const void *buf, size_t n);

/* Connect a CLOSED stream s to host:port.  On PUSH_STARTED s is OPEN, on
 * the connecting handle, whatever the result: close it after the callback.
 * Result: 0 when connected, or -errno (-ECONNREFUSED...). */
int push_connect(struct push_loop *l, struct push_stream *s, const char *host,
		 uint16_t port, struct push_token *tok, push_cb cb, void *data,
		 struct push_req **reqp);

/* Complete after ns nanoseconds of reactor time (virtual under sim).
 * Result: 0. */
int push_sleep(struct push_loop *l, uint64_t ns, struct push_token *tok,
	       push_cb cb, void *data, struct push_req **reqp);

/* A reference-counted byte buffer: one mem_alloc() holding the header and
 * cap bytes of data.  It is how data is shared (a fanout chunk, read once
 * and written by every sink) and how an offload job owns the memory it works
 * on: a file operation holds a reference for as long as the pool has its
 * job, so a cancelled read that is still running (a running job cannot be
 * interrupted) writes into memory that is still alive, after its callback
 * said -ECANCELED.  Reuse a buffer only when you hold the only reference.
 * Loop thread only (the count is not atomic: the pool gives jobs back on
 * the loop thread). */
struct push_buf {
	/* read-only */
	size_t cap;
	unsigned refs;
	/* public */
	size_t len;                    /* bytes in use: a file read sets it,
					* a file write writes that many */
	/* data: cap bytes, 16-byte aligned */
	_Alignas(16) unsigned char data[];
};

/* A buffer with one reference and len 0, or NULL (out of memory). */
struct push_buf *push_buf_new(size_t cap);
struct push_buf *push_buf_ref(struct push_buf *b);
/* Drop one reference; the last frees the buffer.  NULL: nothing. */
void push_buf_unref(struct push_buf *b);

/* Read up to buf->cap bytes of file handle (from reactor_file_open()) at
 * offset, into buf, through the loop's offload pool.  Result: bytes read
 * (buf->len is set; 0 at end of file), or -errno (-ENOSYS: the loop has no
 * offload pool). */
int push_file_read(struct push_loop *l, int handle, struct push_buf *buf,
		   uint64_t offset, struct push_token *tok, push_cb cb,
		   void *data, struct push_req **reqp);

/* Write all buf->len bytes of buf to handle at offset, through the pool.
 * Result: buf->len, or -errno: a short write is continued, and a write that
 * stops part way (a full disk) is an error, never a smaller count. */
int push_file_write(struct push_loop *l, int handle, struct push_buf *buf,
		    uint64_t offset, struct push_token *tok, push_cb cb,
		    void *data, struct push_req **reqp);

/* ---- composition (compose.c) --------------------------------------------- */
/* Composed operations are requests too: same rules, same handles, and they
 * compose with each other.  Their inner operations run under a token of the
 * composition's own, so cancelling the composition cancels them.  Each
 * composition allocates its request and a state block; push_seq allocates
 * a continuation per step on top, as callback code does. */

/* Start one operation under tok, calling cb(data, result) once.  Returns as
 * a start call (PUSH_STARTED or -errno; never PUSH_SYNC). */
typedef int (*push_start_fn)(struct push_loop *l, void *arg,
			     struct push_token *tok, push_cb cb, void *data);

/* Like push_start_fn, given the result of the previous step (0 for the
 * first). */
typedef int (*push_step_fn)(struct push_loop *l, void *arg, ssize_t prev,
			    struct push_token *tok, push_cb cb, void *data);

/* Run steps[0..n-1] one after another, each given the previous result.
 * Stops at the first negative result (a later step that fails to start
 * counts as completing with its error; if the first one cannot start,
 * push_seq fails with its error, R3).  Result: the last step's result, that
 * first error, or -ECANCELED if it was cancelled with steps left to run
 * (cancelled once the last step has completed, it keeps that step's result:
 * R5).  steps must stay valid until the callback. */
int push_seq(struct push_loop *l, const push_step_fn *steps, unsigned n,
	     void *arg, struct push_token *tok, push_cb cb, void *data,
	     struct push_req **reqp);

/* One operation of a join or a race: set start and arg; result is filled
 * when it completes (a branch that fails to start completes at once with
 * that error). */
struct push_branch {
	/* public */
	push_start_fn start;
	void *arg;
	/* read-only: valid once the composition has called back */
	ssize_t result;
	/* private */
	struct push__nary *owner;
};

/* Start every branch; call back once all have completed.  Result: 0 if every
 * branch's result is >= 0 (so a join cancelled after every branch had
 * completed still says 0: R5), else the first negative one in branch order
 * (-ECANCELED for a branch the cancel stopped).  b[] must stay valid until
 * the callback. */
int push_join(struct push_loop *l, struct push_branch *b, unsigned n,
	      struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp);

/* Start every branch; the first to complete wins and the others are
 * cancelled.  The race calls back once every loser has called back too, so
 * each b[i].result is final (a loser that completed before it could be
 * cancelled keeps its real result: look at it).  Result: the winner's
 * index (its outcome is b[index].result), or -ECANCELED if the race was
 * cancelled before any branch completed (a branch that had completed wins:
 * R5). */
int push_race(struct push_loop *l, struct push_branch *b, unsigned n,
	      struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp);

/* Run one operation with a deadline: if it has not completed ns from now it
 * is cancelled and the result is -ETIMEDOUT.  Otherwise the result is the
 * operation's (an operation that completed just as the time ran out keeps
 * its result: R5).  If the operation cannot start, neither can this. */
int push_timeout(struct push_loop *l, uint64_t ns, push_start_fn start,
		 void *arg, struct push_token *tok, push_cb cb, void *data,
		 struct push_req **reqp);

/* ---- the workloads (echo.c, fanout.c) ------------------------------------ */

/* The echo server and the fanout of workload.h, written in this engine;
 * they run under the process-wide config (push_config_get()). */
int push_echo_serve(struct reactor *r, struct offload *o,
		    const struct echo_opts *opts, struct echo_stats *stats);
int push_fanout_run(struct reactor *r, struct offload *o,
		    const struct fanout_opts *opts, struct fanout_stats *stats);

/* The ring of the completion mode's --buffers ready: the io_uring floor's
 * size (compare/baselines/baseline_uring.c), so that C12 compares them. */
#define PUSH_ECHO_RING_BUFFERS 128

/* The same two workloads, the same code, on a loop in the completion mode
 * over completion_new_beside(r): io_uring on a real reactor, the
 * simulation's completion queue on a simulated one.  The fanout reads its
 * input through the queue (completion_file_read), not through offload: o
 * is unused.  The same options and statistics; --buffers ready reads
 * from a ring of the loop's (K4: PUSH_ECHO_RING_BUFFERS buffers of
 * opts->bufsize, the io_uring floor's count, or PUSHPOLL_URING_RING_BUFFERS
 * as the floor reads it), and is -EOPNOTSUPP where the kernel has no
 * provided buffer rings.  A queue that cannot be had returns its -errno
 * and prints one line on stderr saying why. */
int push_echo_serve_completion(struct reactor *r, struct offload *o,
			       const struct echo_opts *opts,
			       struct echo_stats *stats);
/* The bytes of the provided ring the echo over completions allocates once
 * per loop with ECHO_BUFFERS_READY and buffers of bufsize (claim C12). */
size_t push_echo_completion_ring_bytes(size_t bufsize);
int push_fanout_run_completion(struct reactor *r, struct offload *o,
			       const struct fanout_opts *opts,
			       struct fanout_stats *stats);
/* The same on a queue the caller made beside r (completion_new_beside()),
 * so that a test or the torture harness can read the simulated kernel's
 * counts (completion_sim_violations()) once the workload has returned;
 * nothing is in flight in cq then. */
int push_echo_serve_cq(struct reactor *r, struct completion *cq,
		       const struct echo_opts *opts, struct echo_stats *stats);
int push_fanout_run_cq(struct reactor *r, struct completion *cq,
		       const struct fanout_opts *opts,
		       struct fanout_stats *stats);

/* ---- workers: one loop per thread ------------------------------------------ */
/*
 * The push model scales as libuv and nginx do: one loop per thread, sharing
 * nothing (push/workers.c).  The rules:
 *
 *   T1  A loop, its requests, its tokens and their callbacks belong to the
 *       thread that runs the loop.  Nothing in the engine is atomic, with
 *       any number of loops.  A connection's callbacks run on the loop that
 *       accepted it, always.
 *   T2  The one way in from another thread is a message posted to the
 *       loop's mailbox (push_mailbox_post()): fn(loop, arg) runs on the
 *       loop's thread, inside its reactor_poll() (step 4), in post order,
 *       and may start and cancel operations there like any engine callback.
 *       So cancelling from another thread goes through the target loop:
 *       post a message whose fn calls push_cancel() or push_token_cancel().
 *       The callbacks it causes run later, from that loop's step 1 (R2).
 *   T3  A message is the poster's memory, untouched until fn runs; fn may
 *       reuse it at once.  A mailbox does not keep its loop running: post
 *       only while the loop has something pending, or the message waits
 *       for the loop's next run.
 *
 * Connections are spread over the loops by the kernel: each loop listens
 * on the same port with SO_REUSEPORT (echo_opts.reuse_port), and the
 * kernel hashes each new connection to one listener.  One acceptor handing
 * descriptors to the others would cost a message per connection and make
 * one loop the bottleneck; SO_REUSEPORT costs nothing per connection.
 */

#include <pthread.h>

struct push_msg {
	/* private */
	void (*fn)(struct push_loop *l, void *arg);
	void *arg;
	struct push_msg *next;
};

struct push_mailbox {
	/* read-only */
	struct push_loop *loop;
	uint64_t delivered;           /* messages run (loop thread) */
	/* private */
	pthread_mutex_t lock;
	struct push_msg *head, *tail;  /* under lock */
	struct reactor_async async;
};

/* Register a mailbox on l (loop thread; no allocation). */
void push_mailbox_start(struct push_mailbox *mb, struct push_loop *l);
/* From any thread: run fn(mb->loop, arg) on the loop's thread (T2, T3). */
void push_mailbox_post(struct push_mailbox *mb, struct push_msg *m,
		       void (*fn)(struct push_loop *l, void *arg), void *arg);
/* Unregister (loop thread); no message may be waiting. */
void push_mailbox_stop(struct push_mailbox *mb);

/* N loops, each with its own reactor over epoll, thread and mailbox. */
#define PUSH_WORKERS_MAX 64
struct push_workers;
/* Allocates everything here; config c (NULL: the process-wide default). */
int push_workers_new(unsigned n, const struct push_config *c,
		     struct push_workers **out);
/* After push_workers_run() returned. */
void push_workers_free(struct push_workers *w);
/* Start n threads; thread i calls start(loop i, i, arg), then runs loop i
 * until nothing is pending on it; joins them all.  Returns 0, or the first
 * loop's -errno, or -errno if a thread could not start. */
int push_workers_run(struct push_workers *w,
		     void (*start)(struct push_loop *l, unsigned i, void *arg),
		     void *arg);
unsigned push_workers_count(const struct push_workers *w);
struct push_loop *push_workers_loop(struct push_workers *w, unsigned i);
/* push_mailbox_post() to loop i. */
void push_workers_post(struct push_workers *w, unsigned i, struct push_msg *m,
		       void (*fn)(struct push_loop *l, void *arg), void *arg);

#endif
