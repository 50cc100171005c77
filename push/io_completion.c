/* io_completion.c: the leaf operations in the completion mode: accept,
 * read, write, file read, file write, over completion.h.
 *
 * The push model fits completions directly: a request is submitted with its
 * buffer, and the completion that comes back is the moment its callback is
 * due.  So the completion mode is not a second engine: the loop, requests,
 * tokens, compositions and the two workloads are the readiness mode's, and
 * only the leaves differ.  io.c's start calls come here when the loop has a
 * completion queue (l->cq), after the same checks (a busy direction, a
 * cancelled token: R3); step 4 of the loop polls the queue instead of the
 * reactor, and hands each completion to push__cq_complete().  This file is
 * io.c's twin rather than a mode inside each of its functions, so that
 * either can be read alone: io.c is "try at once, wait for an edge, try
 * again", this one is "submit, and finish when the kernel says done".
 *
 * A request embeds its struct completion_op (push__cq.op), whose user_data
 * is unused: the op is found from the completion's op pointer, and the
 * request from the op (container_of).  Between the start call and the
 * completion the kernel owns both the op and the buffer (K1 in push.h), and
 * the loop's reference keeps the request alive: a pending request is an op
 * in flight, always, but for a read from the ring waiting on the starved
 * list for a buffer (K4), which holds nothing.  Cancelling asks the queue
 * to cancel (K2); the completion still comes, once, and decides the
 * result (a starved read, with no op, completes at the cancel).  Closing a stream
 * cancels its operations and leaves the handle open until the last of them
 * has completed (K3).
 */
#include "push_impl.h"
#include "container_of.h"
#include "mem.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the completion, and the end of a request ------------------------------- */

/* From step 4 of the loop: one final completion of a request's op. */
void push__cq_complete(const struct completion_event *ev)
{
	struct push_req *req = container_of(ev->op, struct push_req, u.cq.op);

	req->u.cq.complete(req, ev);
}

/* The op is over for good: leave the stream, or if the stream was closed
 * under the op, close the handle once its other op (if any) is over too
 * (K3); then queue the result (R1: the callback runs from step 1). */
static void cq_finish(struct push_req *req, ssize_t result)
{
	struct push__cq *q = &req->u.cq;

	if (q->s != NULL) {
		if (q->s->reader == req)
			q->s->reader = NULL;
		if (q->s->writer == req)
			q->s->writer = NULL;
		q->s = NULL;
	} else if (q->close_handle) {
		if (q->partner != NULL)
			q->partner->u.cq.partner = NULL; /* it closes */
		else
			completion_close(req->loop->cq, q->handle);
	}
	push__req_complete(req, result);
}

/* A result that is not one: the ring says -EAGAIN for a non-blocking
 * handle it could not wait on, -EINTR if interrupted.  Submit op again (it
 * was resubmitted: true) unless the request was cancelled meanwhile. */
static bool cq_again(struct push_req *req, ssize_t res,
		     int (*resubmit)(struct push_req *req))
{
	if ((res != -EAGAIN && res != -EINTR) || req->cancelled)
		return false;
	return resubmit(req) == 0;
}

/* doc:begin cq-cancel */
/* The cancel of every completion-mode request: ask, and nothing more.  The
 * request stays PENDING and the kernel keeps the buffer until the op's
 * completion, which finishes the request with -ECANCELED, or with its
 * result if the kernel was done first (completion.h, rule 3). */
static void cq_cancel(struct push_req *req)
{
	completion_cancel(req->loop->cq, &req->u.cq.op);
}
/* doc:end cq-cancel */

/* A new request for an op on handle (of stream s, or NULL for a file),
 * finished by complete.  NULL when out of memory. */
static struct push_req *cq_new(struct push_loop *l, struct push_stream *s,
			       int handle,
			       void (*complete)(struct push_req *req,
						const struct completion_event *ev),
			       struct push_token *tok, push_cb cb, void *data,
			       struct push_req **reqp)
{
	struct push_req *req = push__req_new(l, tok, cb, data, reqp,
					     cq_cancel);

	if (req == NULL)
		return NULL;
	req->u.cq.complete = complete;
	req->u.cq.s = s;
	req->u.cq.handle = handle;
	return req;
}

/* After the submit call: rc 0, the op is in flight and the request waits
 * in *slot (the stream's reader or writer; NULL for files); else the start
 * fails and the request never existed (R3). */
static int cq_started(struct push_req *req, struct push_req **slot, int rc,
		      struct push_req **reqp)
{
	if (rc < 0) {
		push__req_abort(req, reqp);
		return rc;
	}
	if (slot != NULL)
		*slot = req;
	return PUSH_STARTED;
}

/* ---- streams ----------------------------------------------------------------- */

int push__cq_stream_open(struct push_loop *l, struct push_stream *s,
			 int handle)
{
	s->handle = handle;
	s->loop = l;
	s->reader = s->writer = NULL;
	s->io = (struct reactor_io){ 0 };
	s->open = true;
	return 0;
}

/* K3.  The requests still in flight forget the stream (its memory may go
 * now) and the last of them to complete closes the handle. */
void push__cq_stream_close(struct push_stream *s)
{
	struct push_req *r = s->reader, *w = s->writer;

	s->reader = s->writer = NULL;
	s->open = false;
	if (r == NULL && w == NULL) {
		completion_close(s->loop->cq, s->handle);
		s->handle = -1;
		return;
	}
	/* Both linked before either is cancelled: a starved read's cancel
	 * finishes it at once (K4), and must see its partner. */
	if (r != NULL) {
		r->u.cq.s = NULL;
		r->u.cq.close_handle = true;
		r->u.cq.partner = w;
	}
	if (w != NULL) {
		w->u.cq.s = NULL;
		w->u.cq.close_handle = true;
		w->u.cq.partner = r;
	}
	if (r != NULL)
		push_cancel(r);
	if (w != NULL)
		push_cancel(w);
	s->handle = -1;
}

/* ---- accept ---------------------------------------------------------------- */

static int accept_submit(struct push_req *req)
{
	return completion_accept(req->loop->cq, &req->u.cq.op,
				 req->u.cq.handle);
}

/* Out of descriptors the kernel's accept says -EMFILE at once, and leaves
 * the connection pending: the reactor's accept sheds it (reactor_accept()),
 * or takes it if a descriptor came free meanwhile.  Under sim the simulated
 * kernel has shed it already. */
static void accept_complete(struct push_req *req,
			    const struct completion_event *ev)
{
	ssize_t h = ev->result;
	struct reactor *r = req->loop->r;

	if (cq_again(req, h, accept_submit))
		return;
	if ((h == -EMFILE || h == -ENFILE) && !reactor_is_sim(r)) {
		int again = reactor_accept(r, req->u.cq.handle);

		if (again >= 0)
			h = again;
	}
	cq_finish(req, h);
}

int push__cq_accept(struct push_loop *l, struct push_stream *listener,
		    struct push_token *tok, push_cb cb, void *data,
		    struct push_req **reqp)
{
	struct push_req *req = cq_new(l, listener, listener->handle,
				      accept_complete, tok, cb, data, reqp);

	if (req == NULL)
		return -ENOMEM;
	return cq_started(req, &listener->reader, accept_submit(req), reqp);
}

/* ---- read -------------------------------------------------------------------- */

/* doc:begin cq-read */
static int read_submit(struct push_req *req)
{
	return completion_recv(req->loop->cq, &req->u.cq.op, req->u.cq.handle,
			       req->u.cq.buf, req->u.cq.n);
}

static void read_complete(struct push_req *req,
			  const struct completion_event *ev)
{
	if (!cq_again(req, ev->result, read_submit))
		cq_finish(req, ev->result); /* bytes, 0 at the end, -ECANCELED... */
}

int push__cq_read(struct push_loop *l, struct push_stream *s, void *buf,
		  size_t n, struct push_token *tok, push_cb cb, void *data,
		  struct push_req **reqp)
{
	struct push_req *req = cq_new(l, s, s->handle, read_complete, tok, cb,
				      data, reqp);

	if (req == NULL)
		return -ENOMEM;
	req->u.cq.buf = buf;
	req->u.cq.n = n;
	return cq_started(req, &s->reader, read_submit(req), reqp);
}
/* doc:end cq-read */

/* ---- the ring, and the read from it (K4) ------------------------------------ */

/* The ring's one buffer group on the loop's queue. */
#define PUSH_RING_GROUP 0

/* The ring's memory is counted (mem) and allocated once per loop: an idle
 * connection's read holds none of it (K4). */
int push_loop_ring(struct push_loop *l, size_t size, unsigned count)
{
	unsigned char *mem;
	int rc;

	if (l->cq == NULL)
		return -EINVAL;
	if (l->ring.mem != NULL)
		return -EEXIST;
	if (!completion_supports(l->cq, COMPLETION_FEATURE_MULTISHOT_RECV))
		return -EOPNOTSUPP;
	if (size == 0 || count == 0 || size > SIZE_MAX / count)
		return -EINVAL;
	mem = mem_alloc(size * count);
	if (mem == NULL)
		return -ENOMEM;
	rc = completion_buffers_provide(l->cq, PUSH_RING_GROUP, mem, size,
					count);
	if (rc < 0) {
		mem_free(mem);
		return rc;
	}
	l->ring = (struct push_ring){ mem, size, count, count };
	return 0;
}

/* push_loop_fini(): nothing is pending, so no read is starved and every
 * buffer a callback got has been given back (or leaked: the caller's). */
void push__cq_ring_free(struct push_loop *l)
{
	mem_free(l->ring.mem);
	l->ring = (struct push_ring){ 0 };
}

static int read_select_submit(struct push_req *req)
{
	return completion_recv_select(req->loop->cq, &req->u.cq.op,
				      req->u.cq.handle, PUSH_RING_GROUP);
}

/* The ring was dry: wait at the tail of the starved list, no op in
 * flight, until push_ring_return() submits the read again. */
static void ring_starve(struct push_req *req)
{
	struct push_loop *l = req->loop;

	req->u.cq.starved = true;
	req->next = NULL;
	if (l->starved_tail != NULL)
		l->starved_tail->next = req;
	else
		l->starved_head = req;
	l->starved_tail = req;
}

/* Take req off the starved list.  O(starved): only a cancel does it for
 * any but the head. */
static void ring_unstarve(struct push_req *req)
{
	struct push_loop *l = req->loop;
	struct push_req **p = &l->starved_head, *prev = NULL;

	while (*p != req) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = req->next;
	if (l->starved_tail == req)
		l->starved_tail = prev;
	req->next = NULL;
	req->u.cq.starved = false;
}

/* The oldest starved read is submitted again if the ring has a buffer.
 * One at a time: a buffer wakes one read, and a woken read that completes
 * without taking a buffer (the end, an error, a cancel) passes it on to
 * the next (read_select_complete()), so that no read starves beside a
 * free buffer and a dry ring is not asked by every waiting read at once. */
static void ring_wake(struct push_loop *l)
{
	struct push_req *req = l->starved_head;
	int rc;

	if (req == NULL || l->ring.free == 0)
		return;
	ring_unstarve(req);
	rc = read_select_submit(req);
	if (rc < 0)
		cq_finish(req, rc);
}

void push_ring_return(struct push_loop *l, void *buf)
{
	size_t off = (size_t)((unsigned char *)buf - l->ring.mem);

	completion_buffer_return(l->cq, PUSH_RING_GROUP,
				 (unsigned)(off / l->ring.size));
	l->ring.free++;
	ring_wake(l);
}

/* Bytes come with the ring buffer they are in: the caller's from here
 * (a->picked, then the callback).  -ENOBUFS: resubmit if a buffer came
 * back since the kernel looked, else starve. */
static void read_select_complete(struct push_req *req,
				 const struct completion_event *ev)
{
	struct push_loop *l = req->loop;

	if (ev->flags & COMPLETION_BUFFER) {
		l->ring.free--;
		req->u.cq.alloc->picked(req->data,
					completion_buffer(l->cq,
							  PUSH_RING_GROUP,
							  ev->buf_id));
		cq_finish(req, ev->result);
		return;
	}
	if (ev->result == -ENOBUFS && !req->cancelled && l->ring.free == 0) {
		ring_starve(req);
		return;
	}
	if (ev->result == -ENOBUFS && !req->cancelled &&
	    read_select_submit(req) == 0)
		return;
	if (cq_again(req, ev->result, read_select_submit))
		return;
	/* 0 at the end, -ECANCELED (a cancelled read that found the ring
	 * dry read nothing), or the error */
	cq_finish(req, ev->result == -ENOBUFS && req->cancelled ?
		   -ECANCELED : ev->result);
	ring_wake(l);
}

/* A starved read has no op to cancel: it completes now (-ECANCELED). */
static void read_select_cancel(struct push_req *req)
{
	if (!req->u.cq.starved) {
		cq_cancel(req);
		return;
	}
	ring_unstarve(req);
	cq_finish(req, -ECANCELED);
}

int push__cq_read_alloc(struct push_loop *l, struct push_stream *s,
			const struct push_alloc *a, struct push_token *tok,
			push_cb cb, void *data, struct push_req **reqp)
{
	struct push_req *req;

	if (l->ring.mem == NULL)
		return -EINVAL;
	req = cq_new(l, s, s->handle, read_select_complete, tok, cb, data,
		     reqp);
	if (req == NULL)
		return -ENOMEM;
	req->cancel = read_select_cancel;
	req->u.cq.alloc = a;
	return cq_started(req, &s->reader, read_select_submit(req), reqp);
}

/* ---- write (all of it) ------------------------------------------------------- */

/* A send took ev->result bytes: send the rest, unless that was all, or an
 * error, or the request was cancelled meanwhile (then -ECANCELED: the write
 * did not complete, though a prefix went out, as after a readiness cancel). */
static int write_submit(struct push_req *req)
{
	struct push__cq *q = &req->u.cq;

	return completion_send(req->loop->cq, &q->op, q->handle,
			       (const char *)q->buf + q->done, q->n - q->done);
}

static void write_complete(struct push_req *req,
			   const struct completion_event *ev)
{
	struct push__cq *q = &req->u.cq;
	int rc;

	if (cq_again(req, ev->result, write_submit))
		return;
	if (ev->result < 0) {
		cq_finish(req, ev->result);
		return;
	}
	if (ev->result == 0 && q->n > q->done) {
		cq_finish(req, -EPIPE);         /* took nothing: never again */
		return;
	}
	q->done += (size_t)ev->result;
	if (q->done == q->n) {
		cq_finish(req, (ssize_t)q->n);
		return;
	}
	if (req->cancelled) {
		cq_finish(req, -ECANCELED);
		return;
	}
	rc = write_submit(req);
	if (rc < 0)
		cq_finish(req, rc);
}

int push__cq_write(struct push_loop *l, struct push_stream *s,
		   const void *buf, size_t n, struct push_token *tok,
		   push_cb cb, void *data, struct push_req **reqp)
{
	struct push_req *req = cq_new(l, s, s->handle, write_complete, tok, cb,
				      data, reqp);

	if (req == NULL)
		return -ENOMEM;
	/* The cast drops const: the request's buffer serves reads too; a
	 * write only reads it. */
	req->u.cq.buf = (void *)buf;
	req->u.cq.n = n;
	return cq_started(req, &s->writer, write_submit(req), reqp);
}

/* ---- files, through the queue (no offload pool) ------------------------------ */

/* A file op is over (or a write goes on: all of buf->len, continued after
 * a short write, as io.c's file write promises).  The request's reference
 * on the buffer goes with the op (K1): the kernel wrote into it or read
 * from it until now. */
static void file_complete(struct push_req *req,
			  const struct completion_event *ev)
{
	struct push__cq *q = &req->u.cq;
	ssize_t res = ev->result;

	if (q->file_write && res > 0) {
		q->done += (size_t)res;
		if (q->done < q->pbuf->len && req->cancelled) {
			res = -ECANCELED;
		} else if (q->done < q->pbuf->len) {
			int rc = completion_file_write(
				req->loop->cq, &q->op, q->handle,
				q->pbuf->data + q->done,
				q->pbuf->len - q->done, q->offset + q->done);
			if (rc == 0)
				return;
			res = rc;
		} else {
			res = (ssize_t)q->pbuf->len;
		}
	} else if (q->file_write && res == 0 && q->pbuf->len > 0) {
		res = -EIO;                     /* wrote nothing: a full disk */
	} else if (!q->file_write) {                    /* a read */
		q->pbuf->len = res > 0 ? (size_t)res : 0;
	}
	push_buf_unref(q->pbuf);
	q->pbuf = NULL;
	cq_finish(req, res);
}

int push__cq_file(struct push_loop *l, int fh, bool write,
		  struct push_buf *buf, size_t len, uint64_t offset,
		  struct push_token *tok, push_cb cb, void *data,
		  struct push_req **reqp)
{
	struct push_req *req = cq_new(l, NULL, fh, file_complete, tok, cb,
				      data, reqp);
	int rc;

	if (req == NULL)
		return -ENOMEM;
	req->u.cq.pbuf = push_buf_ref(buf);     /* the kernel's, K1 */
	req->u.cq.offset = offset;
	req->u.cq.file_write = write;
	if (write)
		rc = completion_file_write(l->cq, &req->u.cq.op, fh, buf->data,
					   len, offset);
	else
		rc = completion_file_read(l->cq, &req->u.cq.op, fh, buf->data,
					  len, offset);
	if (rc < 0)
		push_buf_unref(buf);
	return cq_started(req, NULL, rc, reqp);
}
