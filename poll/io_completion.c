/* io_completion.c: leaf futures over a completion queue, and the loop's
 * side of them: the operations it owns, the orphans it keeps, step 4.
 *
 * The rules are C1 to C7 of poll.h.  The one idea: on readiness a future
 * holds only a waker, so dropping it is cancelling; here the kernel holds
 * the operation and its buffer from submission to completion, so what a
 * dropped future started must be given to someone who outlives it.  That
 * someone is the loop: an operation (struct poll__op) is the loop's memory,
 * lent to a leaf while it is in flight, and kept by the loop on its orphan
 * list when the leaf is dropped first.  tokio-uring does the same with its
 * slab of operation lifecycles ("Ignored" is our orphan).
 *
 * An operation's states, and where it is in each:
 *
 *   free       on l->free_ops, for the next submission
 *   in flight  owned by the kernel; f->op of the leaf that submitted it,
 *              which parked its task's waker in it
 *   done       the completion came: result set, the task woken; still
 *              f->op until the leaf's next poll takes the result and gives
 *              the operation back to the free list
 *   orphan     in flight, its leaf dropped: on l->orphans with the buffer
 *              it owns, until the final completion (op_orphan_complete())
 *   starved    a recv-select's, which found the loop's ring empty: on
 *              l->starved, the task's waker in it, until a buffer comes
 *              back to the ring (ring_return()); not in flight (C7)
 *
 * With a provided ring (C7) the buffer an operation works with is the
 * ring's, named by ring_id: the one a recv-select's completion brought, or
 * the one a send-ring sends.  Every ring buffer goes back through
 * ring_return(), from a task (poll_ring_buf_release()), a leaf's drop, or
 * an orphan's completion.
 *
 * Lines here that exist only for cancellation under completion (claim C13
 * counts them): op_orphan(), op_orphan_complete(), poll_cq_close(),
 * poll_cq_io_cancel(), loop_cq_drain() and the drop function.
 */
#include "poll_impl.h"
#include "completion.h"
#include "container_of.h"
#include "mem.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* Completions copied per step 4. */
#define CQ_BATCH 64

struct poll__op {
	struct completion_op op;       /* the kernel's while in flight */
	struct poll_cq_loop *loop;
	enum poll_cq_kind kind;
	int handle;                    /* the handle it works on, or -1 */
	struct poll_buf *buf;          /* owned while in flight (C1) */
	struct poll_waker waker;       /* the leaf's task, until done */
	ssize_t result;                /* valid when done */
	bool done;
	bool cancel_asked;             /* completion_cancel() was called */
	bool orphan;                   /* its leaf was dropped (C3) */
	bool close_after;              /* orphan: close handle at the end (C4) */
	bool starved;                  /* on l->starved (C7) */
	uint16_t ring_id;              /* a ring buffer it holds, or
					* POLL_RING_NONE (C7) */
	struct poll__op *prev, *next;  /* free list (next only) or orphans */
};

/* ---- the loop's operations ------------------------------------------------ */

/* The loop statistics of the last completion run of a workload. */
static struct poll_cq_stats last_run;

void poll__cq_stats_publish(const struct poll_cq_loop *l)
{
	struct completion_stats cs;
	uint64_t ops, bytes;

	last_run = l->stats;
	completion_get_stats(l->cq, &cs);
	last_run.kernel_file_read_bytes = cs.file_read_bytes;
	if (reactor_is_sim(l->loop.r)) {
		last_run.sim_violations = completion_sim_violations(l->cq);
		completion_sim_owned(l->cq, &ops, &bytes);
		last_run.kernel_ops_at_end = ops;
	}
}

void poll__cq_stats_reset(void)
{
	memset(&last_run, 0, sizeof(last_run));
}

void poll_cq_last_run_stats(struct poll_cq_stats *out)
{
	*out = last_run;
}

/* An idle operation: from the free list, else one mem_alloc().  Only the
 * first operations of a loop allocate; later ones reuse them. */
static struct poll__op *op_get(struct poll_cq_loop *l)
{
	struct poll__op *op = l->free_ops;

	if (op != NULL) {
		l->free_ops = op->next;
	} else {
		op = mem_alloc(sizeof(*op));
		if (op == NULL)
			return NULL;
		l->stats.ops_allocated++;
	}
	memset(op, 0, sizeof(*op));
	op->loop = l;
	op->handle = -1;
	op->ring_id = POLL_RING_NONE;
	return op;
}

/* Back to the free list: the kernel is done with it and nobody holds it. */
static void op_put(struct poll_cq_loop *l, struct poll__op *op)
{
	assert(!op->op.in_flight);
	op->next = l->free_ops;
	l->free_ops = op;
}

static void cq_close(struct poll_cq_loop *l, int h);

/* ---- the provided ring (C7) ------------------------------------------------ */

static void starved_unlink(struct poll_cq_loop *l, struct poll__op *op)
{
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		l->starved = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	else
		l->starved_tail = op->prev;
	op->prev = op->next = NULL;
	op->starved = false;
}

/* A recv-select found the ring empty: wait, last in line, for a buffer to
 * come back; the task's waker stays in op. */
static void starve(struct poll_cq_loop *l, struct poll__op *op,
		   struct poll_cx *cx)
{
	op->starved = true;
	op->done = false;
	op->next = NULL;
	op->prev = l->starved_tail;
	if (l->starved_tail != NULL)
		l->starved_tail->next = op;
	else
		l->starved = op;
	l->starved_tail = op;
	l->stats.ring_starved++;
	poll_waker_set(&op->waker, cx);
}

static bool ring_has_free(const struct poll_cq_loop *l)
{
	return l->ring_lent < l->ring_count;
}

/* The first starved recv-select is woken to submit again (it finds
 * -ENOBUFS as its result, and a buffer free), one per free buffer: the
 * others wait on, so a buffer back costs one submission, not one per
 * waiter. */
static void ring_wake_one(struct poll_cq_loop *l)
{
	struct poll__op *op = l->starved;

	if (op == NULL)
		return;
	starved_unlink(l, op);
	op->done = true;
	poll_waker_wake(&op->waker);
}

/* Buffer id back to the ring, for a waiter. */
static void ring_return(struct poll_cq_loop *l, unsigned id)
{
	completion_buffer_return(l->cq, l->ring_group, id);
	l->ring_lent--;
	ring_wake_one(l);
}

/* A recv-select ends without taking the buffer it may have been woken
 * for (end of stream, an error, a cancel, a drop): the next waiter has
 * it, so that no buffer stays free while recvs wait. */
static void ring_pass_on(struct poll_cq_loop *l)
{
	if (ring_has_free(l))
		ring_wake_one(l);
}

int poll_cq_ring_provide(struct poll_loop *loop, unsigned group, void *mem,
			 size_t size, unsigned count)
{
	struct poll_cq_loop *l = poll_cq_loop_of(loop);
	int rc = completion_buffers_provide(l->cq, group, mem, size, count);

	if (rc < 0)
		return rc;
	l->ring_group = group;
	l->ring_count = count;
	l->ring_size = size;
	l->ring_lent = 0;
	return 0;
}

unsigned char *poll_ring_buf_data(struct poll_loop *l,
				  struct poll_ring_buf rb)
{
	return completion_buffer(poll_cq_loop_of(l)->cq, rb.group, rb.id);
}

void poll_ring_buf_release(struct poll_loop *l, struct poll_ring_buf *rb)
{
	if (rb->id == POLL_RING_NONE)
		return;
	ring_return(poll_cq_loop_of(l), rb->id);
	rb->id = POLL_RING_NONE;
	rb->len = 0;
}

/* doc:begin cq-orphan */
/* C3: the leaf of op is being dropped while op is in flight.  Ask for the
 * cancel (unless the leaf asked already), and keep op and its buffer on
 * the orphan list until the final completion.  A recv-select's orphan
 * holds no buffer (C7); a send-ring's holds its ring buffer. */
static size_t op_bytes(const struct poll_cq_loop *l, const struct poll__op *op)
{
	if (op->buf != NULL)
		return op->buf->cap;
	return op->ring_id != POLL_RING_NONE ? l->ring_size : 0;
}

static void op_orphan(struct poll_cq_loop *l, struct poll__op *op)
{
	size_t bytes = op_bytes(l, op);

	if (!op->cancel_asked)
		completion_cancel(l->cq, &op->op);
	op->cancel_asked = true;
	poll_waker_drop(&op->waker);
	op->orphan = true;
	op->prev = NULL;
	op->next = l->orphans;
	if (l->orphans != NULL)
		l->orphans->prev = op;
	l->orphans = op;
	l->stats.orphaned++;
	l->stats.orphans_now++;
	l->stats.orphan_bytes += bytes;
	l->stats.orphan_bytes_now += bytes;
	if (l->stats.orphan_bytes_now > l->stats.orphan_bytes_peak)
		l->stats.orphan_bytes_peak = l->stats.orphan_bytes_now;
}
/* doc:end cq-orphan */

/* The final completion of an orphan: absorb what it brought (a ring
 * buffer, `brought`, goes back to the ring: C7), free its buffer or give
 * back the ring buffer it sent, close its handle if that waited for it
 * (C4), reuse it. */
static void op_orphan_complete(struct poll_cq_loop *l, struct poll__op *op,
			       ssize_t result, unsigned brought)
{
	l->stats.orphan_bytes_now -= op_bytes(l, op);
	if (brought != POLL_RING_NONE) {
		l->stats.ring_late_returned++;
		ring_return(l, brought);
	}
	if (op->ring_id != POLL_RING_NONE) {
		ring_return(l, op->ring_id);
		op->ring_id = POLL_RING_NONE;
	}
	if (op->prev != NULL)
		op->prev->next = op->next;
	else
		l->orphans = op->next;
	if (op->next != NULL)
		op->next->prev = op->prev;
	l->stats.late_completions++;
	l->stats.orphans_now--;
	if (op->kind == POLL_CQ_ACCEPT && result >= 0)
		completion_close(l->cq, (int)result);    /* nobody wants it */
	if (op->close_after)
		cq_close(l, op->handle);  /* the last orphan on it, or
						* another one waits */
	poll_buf_unref(op->buf);
	op->buf = NULL;
	op_put(l, op);
}

static void cq_close(struct poll_cq_loop *l, int h)
{
	struct poll__op *op, *last = NULL;

	if (h < 0)
		return;
	for (op = l->orphans; op != NULL; op = op->next)
		if (op->handle == h) {
			op->close_after = false;
			last = op;
		}
	if (last != NULL)
		last->close_after = true;     /* whichever completes, the close
					       * moves to the next one left */
	else
		completion_close(l->cq, h);
}

void poll_cq_close(struct poll_loop *l, int h)
{
	cq_close(poll_cq_loop_of(l), h);
}

/* One completion: wake the leaf's task, or absorb an orphan's result.
 * brought: the ring buffer it brought (C7), or POLL_RING_NONE. */
static void op_complete(struct poll_cq_loop *l, struct poll__op *op,
			ssize_t result, unsigned brought)
{
	if (brought != POLL_RING_NONE)
		l->ring_lent++;
	else if (op->kind == POLL_CQ_RECV_SELECT &&
		 (op->orphan || result != -ENOBUFS))
		ring_pass_on(l);
	if (op->orphan) {
		op_orphan_complete(l, op, result, brought);
		return;
	}
	if (brought != POLL_RING_NONE)
		op->ring_id = (uint16_t)brought;
	if (op->cancel_asked && result != -ECANCELED)
		l->stats.cancel_lost++;
	op->result = result;
	op->done = true;
	poll_waker_wake(&op->waker);
}

/* Step 4 over a completion queue: submit what the leaves prepared, wait
 * (bounded on a ring, so that a stop is seen), wake the owner of every
 * completion.  Returns what completion_poll() returned. */
int poll__loop_cq_wait(struct poll_cq_loop *l, int64_t timeout)
{
	struct completion_event ev[CQ_BATCH];
	int n;

	if (timeout < 0 && !reactor_is_sim(l->loop.r))
		timeout = POLL_CQ_STOP_CHECK_NS;
	n = completion_poll(l->cq, timeout, ev, CQ_BATCH);
	for (int i = 0; i < n; i++) {
		struct poll__op *op = container_of(ev[i].op, struct poll__op,
						   op);

		if (ev[i].flags & COMPLETION_MORE)
			continue;             /* no multishot operation here */
		op_complete(l, op, ev[i].result,
			    ev[i].flags & COMPLETION_BUFFER ? ev[i].buf_id :
			    POLL_RING_NONE);
	}
	return n;
}

/* C6: after every task was aborted, every orphan is in flight with its
 * cancel asked; poll until the last one has completed.  Under sim a
 * cancelled operation always completes at a later step; on a ring the
 * kernel answers a cancel at once. */
void poll__loop_cq_drain(struct poll_cq_loop *l)
{
	struct poll__op *op;

	while (l->orphans != NULL) {
		int n = poll__loop_cq_wait(l, -1);

		if (n < 0 && n != -EINTR && n != -EAGAIN)
			break;          /* the queue is broken: leak, loudly */
	}
	assert(l->orphans == NULL && "an orphan outlived its loop");
	while ((op = l->free_ops) != NULL) {
		l->free_ops = op->next;
		mem_free(op);
	}
}

/* ---- the leaves ------------------------------------------------------------ */

static const struct poll_future_vt cq_io_vt;

static void cq_io_init(struct poll_cq_io *f, struct poll_loop *l,
		       enum poll_cq_kind kind, int handle,
		       struct poll_buf *buf, uint64_t arg)
{
	memset(f, 0, sizeof(*f));
	f->base.vt = &cq_io_vt;
	assert(l->over_cq && "a completion leaf on a readiness loop");
	f->loop = poll_cq_loop_of(l);
	f->kind = kind;
	f->handle = handle;
	f->buf = buf;
	f->arg = arg;
}

void poll_cq_accept_init(struct poll_cq_io *f, struct poll_loop *l,
			 int listener)
{
	cq_io_init(f, l, POLL_CQ_ACCEPT, listener, NULL, 0);
}

void poll_cq_recv_init(struct poll_cq_io *f, struct poll_loop *l, int handle,
		       struct poll_buf *buf)
{
	cq_io_init(f, l, POLL_CQ_RECV, handle, buf, 0);
}

void poll_cq_send_init(struct poll_cq_io *f, struct poll_loop *l, int handle,
		       struct poll_buf *buf)
{
	cq_io_init(f, l, POLL_CQ_SEND, handle, buf, 0);
}

void poll_cq_file_read_init(struct poll_cq_io *f, struct poll_loop *l,
			    int handle, struct poll_buf *buf, uint64_t offset)
{
	cq_io_init(f, l, POLL_CQ_FILE_READ, handle, buf, offset);
}

void poll_cq_file_write_init(struct poll_cq_io *f, struct poll_loop *l,
			     int handle, struct poll_buf *buf,
			     uint64_t offset)
{
	cq_io_init(f, l, POLL_CQ_FILE_WRITE, handle, buf, offset);
}

void poll_cq_timeout_init(struct poll_cq_io *f, struct poll_loop *l,
			  uint64_t delay_ns)
{
	cq_io_init(f, l, POLL_CQ_TIMEOUT, -1, NULL, delay_ns);
}

void poll_cq_recv_select_init(struct poll_cq_io *f, struct poll_loop *l,
			      int handle)
{
	cq_io_init(f, l, POLL_CQ_RECV_SELECT, handle, NULL, 0);
	f->ring.group = (uint16_t)f->loop->ring_group;
	f->ring.id = POLL_RING_NONE;
}

void poll_cq_send_ring_init(struct poll_cq_io *f, struct poll_loop *l,
			    int handle, struct poll_ring_buf rb)
{
	cq_io_init(f, l, POLL_CQ_SEND_RING, handle, NULL, 0);
	f->ring = rb;
}

static bool kind_is_ring(enum poll_cq_kind k)
{
	return k == POLL_CQ_RECV_SELECT || k == POLL_CQ_SEND_RING;
}

/* Hand op to the kernel for what is left of f's work.  Returns 0 or the
 * submit call's -errno. */
static int cq_io_submit(struct poll_cq_io *f, struct poll__op *op)
{
	struct completion *q = f->loop->cq;
	struct poll_buf *b = op->buf;

	op->done = false;
	op->op.user_data = (uint64_t)(uintptr_t)op;
	switch (f->kind) {
	case POLL_CQ_ACCEPT:
		return completion_accept(q, &op->op, f->handle);
	case POLL_CQ_RECV:
		return completion_recv(q, &op->op, f->handle, b->data, b->cap);
	case POLL_CQ_SEND:
		return completion_send(q, &op->op, f->handle,
				       b->data + f->done, b->len - f->done);
	case POLL_CQ_FILE_READ:
		return completion_file_read(q, &op->op, f->handle, b->data,
					    b->cap, f->arg);
	case POLL_CQ_FILE_WRITE:
		return completion_file_write(q, &op->op, f->handle,
					     b->data + f->done,
					     b->len - f->done,
					     f->arg + f->done);
	case POLL_CQ_TIMEOUT:
		return completion_timeout(q, &op->op, f->arg);
	case POLL_CQ_RECV_SELECT:
		if (f->loop->ring_count == 0)
			return -EOPNOTSUPP;
		return completion_recv_select(q, &op->op, f->handle,
					      f->loop->ring_group);
	case POLL_CQ_SEND_RING:
		return completion_send(q, &op->op, f->handle,
				       (unsigned char *)completion_buffer(
					       q, f->ring.group, op->ring_id) +
				       f->done, f->ring.len - f->done);
	}
	return -EINVAL;
}

/* Whether a send or file write has more to submit after result bytes. */
static bool cq_io_more(struct poll_cq_io *f, ssize_t result)
{
	if (f->kind != POLL_CQ_SEND && f->kind != POLL_CQ_FILE_WRITE &&
	    f->kind != POLL_CQ_SEND_RING)
		return false;
	if (result <= 0)
		return false;
	f->done += (size_t)result;
	if (f->kind == POLL_CQ_SEND_RING)
		return f->done < f->ring.len;
	return f->done < f->buf->len;
}

/* The buffer moves from the future into op for a submission (C1), or the
 * ring buffer (C7), and back with the result. */
static void cq_io_move_in(struct poll_cq_io *f, struct poll__op *op)
{
	op->buf = f->buf;
	f->buf = NULL;
	if (f->kind == POLL_CQ_SEND_RING) {
		op->ring_id = f->ring.id;
		f->ring.id = POLL_RING_NONE;
	}
}

static void cq_io_hand_back(struct poll_cq_io *f, struct poll__op *op)
{
	f->buf = op->buf;
	op->buf = NULL;
	if (kind_is_ring(f->kind)) {
		f->ring.id = op->ring_id;
		op->ring_id = POLL_RING_NONE;
	}
}

/* A recv-select's end: bytes name the ring buffer they came in; a buffer
 * with no bytes goes straight back (C7), and bytes with no buffer are an
 * error (neither is ever expected).  Returns the output. */
static ssize_t cq_io_select_ready(struct poll_cq_io *f, ssize_t out)
{
	if (out > 0 && f->ring.id != POLL_RING_NONE) {
		f->ring.len = (uint32_t)out;
		return out;
	}
	if (f->ring.id != POLL_RING_NONE)
		ring_return(f->loop, f->ring.id);
	f->ring.id = POLL_RING_NONE;
	f->ring.len = 0;
	return out > 0 ? -EIO : out;
}

/* Finish: the buffer comes back to the future (C1), the operation goes
 * back to the loop, and the output is set. */
static enum poll_status cq_io_ready(struct poll_cq_io *f, ssize_t out,
				    struct poll_cx *cx)
{
	f->op = NULL;
	if (out >= 0 && (f->kind == POLL_CQ_RECV ||
			 f->kind == POLL_CQ_FILE_READ))
		f->buf->len = (size_t)out;
	if (out > 0 && (f->kind == POLL_CQ_SEND ||
			f->kind == POLL_CQ_FILE_WRITE ||
			f->kind == POLL_CQ_SEND_RING))
		out = (ssize_t)f->done;
	if (f->kind == POLL_CQ_RECV_SELECT)
		out = cq_io_select_ready(f, out);
	f->base.out = out;
	poll_budget_charge(cx);
	return POLL_READY;
}

static enum poll_status cq_io_poll(struct poll_future *fut, struct poll_cx *cx)
{
	struct poll_cq_io *f = (struct poll_cq_io *)fut;
	struct poll__op *op = f->op;
	ssize_t res;
	int rc;

	if (op == NULL) {                       /* first poll: submit (C2) */
		if (poll_budget_exhausted(cx))
			return POLL_PENDING;
		op = op_get(f->loop);
		if (op == NULL)
			return cq_io_ready(f, -ENOMEM, cx);
		op->kind = f->kind;
		op->handle = f->handle;
		cq_io_move_in(f, op);           /* moved in (C1) */
		goto submit;
	}
	if (!op->done)                          /* woken, but not by us */
		return POLL_PENDING;
	res = op->result;
	if (res == -ENOBUFS && f->kind == POLL_CQ_RECV_SELECT) {
		if (f->cancel_asked) {
			res = -ECANCELED;       /* never performed */
			ring_pass_on(f->loop);
		} else if (ring_has_free(f->loop))
			goto submit;            /* a buffer came back (C7) */
		else {
			starve(f->loop, op, cx);
			return POLL_PENDING;
		}
	}
	cq_io_hand_back(f, op);                 /* handed back (C1) */
	if (cq_io_more(f, res) && !f->cancel_asked) {
		cq_io_move_in(f, op);           /* moved in again */
		goto submit;
	}
	op_put(f->loop, op);
	return cq_io_ready(f, res, cx);

submit:
	rc = cq_io_submit(f, op);
	if (rc < 0) {
		cq_io_hand_back(f, op);
		op_put(f->loop, op);
		return cq_io_ready(f, rc, cx);
	}
	f->op = op;
	f->loop->stats.submitted++;
	poll_waker_set(&op->waker, cx);
	return POLL_PENDING;
}

struct poll_buf *poll_cq_io_take(struct poll_cq_io *f)
{
	struct poll_buf *b;

	if (f->op != NULL)
		return NULL;                    /* the kernel's (C1) */
	b = f->buf;
	f->buf = NULL;
	return b;
}

struct poll_ring_buf poll_cq_io_take_ring(struct poll_cq_io *f)
{
	struct poll_ring_buf rb = f->ring;

	assert(kind_is_ring(f->kind) && "a ring buffer from another kind");
	if (f->op != NULL) {
		rb.id = POLL_RING_NONE;         /* the kernel's (C7) */
		return rb;
	}
	f->ring.id = POLL_RING_NONE;
	return rb;
}

int poll_cq_io_cancel(struct poll_cq_io *f)
{
	struct poll__op *op = f->op;

	if (op == NULL || op->done)
		return -ENOENT;
	if (f->cancel_asked)
		return -EALREADY;
	f->cancel_asked = true;
	op->cancel_asked = true;
	if (op->starved) {                /* nothing in flight: ends now */
		starved_unlink(f->loop, op);
		op->result = -ECANCELED;
		op->done = true;
		poll_waker_wake(&op->waker);
		return 0;
	}
	return completion_cancel(f->loop->cq, &op->op);
}

/* doc:begin cq-io-drop */
/* Drop (R3): in flight, the operation and its buffer go to the loop (C3);
 * starved (C7), or done but not yet polled, the operation is simply given
 * back; otherwise the future's own buffer is freed.  A ring buffer held
 * anywhere but in flight goes back to the ring (C7). */
static void cq_io_drop(struct poll_future *fut)
{
	struct poll_cq_io *f = (struct poll_cq_io *)fut;
	struct poll__op *op = f->op;

	f->op = NULL;
	if (op != NULL && op->starved) {
		starved_unlink(f->loop, op);
		poll_waker_drop(&op->waker);
		op_put(f->loop, op);
	} else if (op != NULL && !op->done) {
		op_orphan(f->loop, op);         /* keeps op->buf */
	} else if (op != NULL) {
		if (op->kind == POLL_CQ_ACCEPT && op->result >= 0)
			completion_close(f->loop->cq, (int)op->result);
		poll_buf_unref(op->buf);
		op->buf = NULL;
		if (op->ring_id != POLL_RING_NONE)
			ring_return(f->loop, op->ring_id);
		else if (op->kind == POLL_CQ_RECV_SELECT &&
			 op->result == -ENOBUFS)
			ring_pass_on(f->loop);  /* woken, gone before its
						 * turn */
		op_put(f->loop, op);
	}
	poll_buf_unref(f->buf);
	f->buf = NULL;
	if (kind_is_ring(f->kind) && f->ring.id != POLL_RING_NONE)
		ring_return(f->loop, f->ring.id);
}
/* doc:end cq-io-drop */

static const struct poll_future_vt cq_io_vt = {
	.name = "cq_io",
	.poll = cq_io_poll,
	.drop = cq_io_drop,
};
