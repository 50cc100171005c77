/* io.c: the leaf operations, over the substrate: accept, read, write,
 * connect, sleep, file read, file write.
 *
 * Streams.  A push_stream owns one reactor watcher, registered once for
 * both directions, and holds at most one request per direction: the
 * `reader` (accept or read) and the `writer` (write or connect).  The
 * reactor is edge-triggered, so every operation follows its rule: try at
 * once; only after -EAGAIN become the stream's reader or writer and wait for
 * an edge; at each edge try again.  An edge with no request waiting is
 * simply dropped: the next operation tries before it waits.
 *
 * Trying at once means the I/O happens inside the start call.  The callback
 * still does not (rule R2): a result obtained at once is queued like any
 * other.  With the fast path the result is instead returned to the caller
 * (PUSH_SYNC) and no request is allocated at all.
 *
 * Timers and files.  A sleep embeds a reactor timer in its request.  A file
 * operation embeds an offload job in its request; the pool holds a
 * reference on the request and the request a reference on the buffer until
 * the pool gives the job back, so a job still running after a cancel writes
 * into memory that is still alive (claim C6).
 *
 * In the completion mode (l->cq set) each start call makes the same checks
 * and hands the operation to io_completion.c, which submits it to the
 * completion queue instead of trying it here.
 */
#include "push_impl.h"
#include "container_of.h"
#include "mem.h"

#include <errno.h>
#include <stddef.h>

/* ---- streams -------------------------------------------------------------- */

/* doc:begin io-edge */
/* The watcher's callback, inside reactor_poll() (step 4).  Readable, or a
 * hang-up (the read then says end of stream or the error): try the reader.
 * Writable, or a hang-up (the write then fails): try the writer.  An attempt
 * that completes detaches the request from the stream. */
static void stream_io_cb(struct reactor_io *io, unsigned events)
{
	struct push_stream *s = container_of(io, struct push_stream, io);

	if ((events & (REACTOR_READABLE | REACTOR_HANGUP)) && s->reader != NULL &&
	    s->reader->u.io.attempt(s->reader))
		s->reader = NULL;
	if ((events & (REACTOR_WRITABLE | REACTOR_HANGUP)) && s->writer != NULL &&
	    s->writer->u.io.attempt(s->writer))
		s->writer = NULL;
}
/* doc:end io-edge */

int push_stream_open(struct push_loop *l, struct push_stream *s, int handle)
{
	int err;

	if (l->cq != NULL)
		return push__cq_stream_open(l, s, handle);
	s->handle = handle;
	s->loop = l;
	s->reader = s->writer = NULL;
	s->io = (struct reactor_io){ 0 };
	err = reactor_io_start(l->r, &s->io, handle, stream_io_cb);
	if (err < 0)
		return err;
	s->open = true;
	return 0;
}

/* doc:begin io-cancel */
/* The cancel of every stream request: leave the stream, then queue
 * -ECANCELED.  The buffer is never touched again. */
static void io_cancel(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;

	if (s != NULL) {
		if (s->reader == req)
			s->reader = NULL;
		if (s->writer == req)
			s->writer = NULL;
		req->u.io.s = NULL;
	}
	push__req_complete(req, -ECANCELED);
}
/* doc:end io-cancel */

void push_stream_close(struct push_stream *s)
{
	if (!s->open)
		return;
	if (s->loop->cq != NULL) {
		push__cq_stream_close(s);
		return;
	}
	if (s->reader != NULL)
		push_cancel(s->reader);
	if (s->writer != NULL)
		push_cancel(s->writer);
	reactor_io_stop(s->loop->r, &s->io);
	reactor_close(s->loop->r, s->handle);
	s->open = false;
	s->handle = -1;
}

void push_handle_close(struct push_loop *l, int handle)
{
	if (l->cq != NULL)
		completion_close(l->cq, handle);
	else
		reactor_close(l->r, handle);
}

/* What every stream operation does before its first try: a busy direction
 * or a cancelled token means it cannot start (R3). */
static int io_check(struct push_stream *s, struct push_req *busy,
		    struct push_token *tok)
{
	if (!s->open)
		return -EBADF;
	if (busy != NULL)
		return -EBUSY;
	if (tok != NULL && tok->cancelled)
		return -ECANCELED;
	return 0;
}

/* The fast path: is the caller ready to take a result at once? */
static bool io_fast(struct push_loop *l, ssize_t *sync)
{
	return sync != NULL && l->config.fast_path;
}

/* A result obtained at once on the fast path: no request, no callback. */
static int io_sync(struct push_loop *l, ssize_t *sync, ssize_t result)
{
	l->stats.sync_completions++;
	*sync = result;
	return PUSH_SYNC;
}

/* doc:begin io-start */
/* A request for a stream operation.  Unless the fast path has just tried
 * it (`tried`, having written `done` bytes of a write), try it now; on
 * -EAGAIN wait on the stream in *slot (its reader or writer). */
static int io_start(struct push_loop *l, struct push_stream *s,
		    struct push_req **slot, bool tried, size_t done,
		    bool (*attempt)(struct push_req *), void *buf, size_t n,
		    struct push_token *tok, push_cb cb, void *data,
		    struct push_req **reqp)
{
	struct push_req *req = push__req_new(l, tok, cb, data, reqp, io_cancel);

	if (req == NULL)
		return -ENOMEM;
	req->u.io.s = s;
	req->u.io.attempt = attempt;
	req->u.io.buf = buf;
	req->u.io.n = n;
	req->u.io.done = done;
	if (tried || !attempt(req))
		*slot = req;
	return PUSH_STARTED;
}
/* doc:end io-start */

/* ---- accept ---------------------------------------------------------------- */

static bool try_accept(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;
	int h = reactor_accept(s->loop->r, s->handle);

	if (h == -EAGAIN)
		return false;
	req->u.io.s = NULL;
	push__req_complete(req, h);
	return true;
}

int push_accept(struct push_loop *l, struct push_stream *listener,
		struct push_token *tok, push_cb cb, void *data,
		struct push_req **reqp, ssize_t *sync)
{
	bool tried = false;
	int err;

	if (reqp != NULL)
		*reqp = NULL;
	err = io_check(listener, listener->reader, tok);
	if (err < 0)
		return err;
	if (l->cq != NULL)
		return push__cq_accept(l, listener, tok, cb, data, reqp);
	if (io_fast(l, sync)) {
		int h = reactor_accept(l->r, listener->handle);
		if (h != -EAGAIN)
			return io_sync(l, sync, h);
		tried = true;
	}
	return io_start(l, listener, &listener->reader, tried, 0, try_accept,
			NULL, 0, tok, cb, data, reqp);
}

/* ---- read -------------------------------------------------------------------- */

/* doc:begin io-read */
static bool try_read(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;
	/* Through the watcher: after a short read the reactor answers
	 * -EAGAIN itself until the next edge (reactor.h). */
	ssize_t n = reactor_io_read(s->loop->r, &s->io, req->u.io.buf,
				    req->u.io.n);

	if (n == -EAGAIN)
		return false;
	req->u.io.s = NULL;
	push__req_complete(req, n);
	return true;
}

int push_read(struct push_loop *l, struct push_stream *s, void *buf,
	      size_t n, struct push_token *tok, push_cb cb, void *data,
	      struct push_req **reqp, ssize_t *sync)
{
	bool tried = false;
	int err;

	if (reqp != NULL)
		*reqp = NULL;
	err = io_check(s, s->reader, tok);
	if (err < 0)
		return err;
	if (l->cq != NULL)
		return push__cq_read(l, s, buf, n, tok, cb, data, reqp);
	if (io_fast(l, sync)) {
		ssize_t got = reactor_io_read(l->r, &s->io, buf, n);
		if (got != -EAGAIN)
			return io_sync(l, sync, got);
		tried = true;
	}
	return io_start(l, s, &s->reader, tried, 0, try_read, buf, n, tok, cb,
			data, reqp);
}
/* doc:end io-read */

/* ---- read, with the buffer asked for on readiness -------------------------- */

/* doc:begin io-read-alloc */
/* One try: no buffer while the handle is known to be empty; else ask for
 * one, read, and give it back unless bytes came.  Returns the result, or
 * -EAGAIN with no buffer held. */
static ssize_t read_alloc_once(struct reactor *r, struct reactor_io *io,
			       const struct push_alloc *a, void *data)
{
	size_t n = 0;
	void *buf;
	ssize_t got;

	if (reactor_io_drained(io))
		return -EAGAIN;
	buf = a->alloc(data, &n);
	if (buf == NULL)
		return -ENOBUFS;
	got = reactor_io_read(r, io, buf, n);
	if (got <= 0)
		a->release(data, buf);
	return got;
}

static bool try_read_alloc(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;
	ssize_t n = read_alloc_once(s->loop->r, &s->io, req->u.io.alloc,
				    req->data);

	if (n == -EAGAIN)
		return false;
	req->u.io.s = NULL;
	push__req_complete(req, n);
	return true;
}

int push_read_alloc(struct push_loop *l, struct push_stream *s,
		    const struct push_alloc *a, struct push_token *tok,
		    push_cb cb, void *data, struct push_req **reqp,
		    ssize_t *sync)
{
	struct push_req *req;
	bool tried = false;
	int err;

	if (reqp != NULL)
		*reqp = NULL;
	err = io_check(s, s->reader, tok);
	if (err < 0)
		return err;
	if (l->cq != NULL)
		return push__cq_read_alloc(l, s, a, tok, cb, data, reqp);
	if (io_fast(l, sync)) {
		ssize_t got = read_alloc_once(l->r, &s->io, a, data);
		if (got != -EAGAIN)
			return io_sync(l, sync, got);
		tried = true;
	}
	req = push__req_new(l, tok, cb, data, reqp, io_cancel);
	if (req == NULL)
		return -ENOMEM;
	req->u.io.s = s;
	req->u.io.attempt = try_read_alloc;
	req->u.io.alloc = a;
	if (tried || !try_read_alloc(req))
		s->reader = req;
	return PUSH_STARTED;
}
/* doc:end io-read-alloc */

/* ---- write (all of it) ------------------------------------------------------- */

/* Write until everything is out, -EAGAIN, or an error.  Returns the bytes
 * written so far, or the error; *again says it stopped on -EAGAIN. */
static ssize_t write_some(struct reactor *r, int handle, const char *buf,
			  size_t n, size_t done, bool *again)
{
	*again = false;
	while (done < n) {
		ssize_t w = reactor_write(r, handle, buf + done, n - done);
		if (w == -EAGAIN) {
			*again = true;
			break;
		}
		if (w < 0)
			return w;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

static bool try_write(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;
	bool again;
	ssize_t w = write_some(s->loop->r, s->handle, req->u.io.buf,
			       req->u.io.n, req->u.io.done, &again);

	if (again) {
		req->u.io.done = (size_t)w;
		return false;
	}
	req->u.io.s = NULL;
	push__req_complete(req, w);
	return true;
}

int push_write(struct push_loop *l, struct push_stream *s, const void *buf,
	       size_t n, struct push_token *tok, push_cb cb, void *data,
	       struct push_req **reqp, ssize_t *sync)
{
	bool tried = false;
	size_t done = 0;
	int err;

	if (reqp != NULL)
		*reqp = NULL;
	err = io_check(s, s->writer, tok);
	if (err < 0)
		return err;
	if (l->cq != NULL)
		return push__cq_write(l, s, buf, n, tok, cb, data, reqp);
	if (io_fast(l, sync)) {
		bool again;
		ssize_t w = write_some(l->r, s->handle, buf, n, 0, &again);
		if (!again)
			return io_sync(l, sync, w);
		tried = true;
		done = (size_t)w;       /* the rest waits for a writable edge */
	}
	/* The cast drops const: the request's buffer serves reads too; a
	 * write only reads it. */
	return io_start(l, s, &s->writer, tried, done, try_write, (void *)buf,
			n, tok, cb, data, reqp);
}

ssize_t push_try_write(struct push_loop *l, struct push_stream *s,
		       const void *buf, size_t n)
{
	bool again;
	int err = io_check(s, s->writer, NULL);

	if (err < 0)
		return err;
	if (l->cq != NULL)
		return -EOPNOTSUPP;     /* K4 */
	return write_some(l->r, s->handle, buf, n, 0, &again);
}

/* ---- connect ------------------------------------------------------------------ */

/* The connection is complete when the handle becomes writable; until then
 * reactor_connect_result() cannot tell (under epoll it reads SO_ERROR,
 * which is 0 while connecting), so connect never tries at once. */
static bool try_connect(struct push_req *req)
{
	struct push_stream *s = req->u.io.s;

	req->u.io.s = NULL;
	push__req_complete(req, reactor_connect_result(s->loop->r, s->handle));
	return true;
}

int push_connect(struct push_loop *l, struct push_stream *s, const char *host,
		 uint16_t port, struct push_token *tok, push_cb cb, void *data,
		 struct push_req **reqp)
{
	struct push_req *req;
	int h, err;

	if (reqp != NULL)
		*reqp = NULL;
	if (push_stream_is_open(s))
		return -EISCONN;
	if (l->cq != NULL)
		return -EOPNOTSUPP;     /* K4 */
	if (tok != NULL && tok->cancelled)
		return -ECANCELED;
	h = reactor_connect(l->r, host, port);
	if (h < 0)
		return h;
	req = push__req_new(l, tok, cb, data, reqp, io_cancel);
	if (req == NULL) {
		err = -ENOMEM;
		goto out_close_handle;
	}
	err = push_stream_open(l, s, h);
	if (err < 0)
		goto out_abort_request;
	req->u.io.s = s;
	req->u.io.attempt = try_connect;
	s->writer = req;
	return PUSH_STARTED;

out_abort_request:
	push__req_abort(req, reqp);
out_close_handle:
	reactor_close(l->r, h);
	return err;
}

/* ---- sleep ---------------------------------------------------------------------- */

static struct push_req *req_of_timer(struct reactor_timer *t)
{
	return container_of(t, struct push_req, u.timer);
}

static void sleep_fired(struct reactor_timer *t)
{
	push__req_complete(req_of_timer(t), 0);
}

static void sleep_cancel(struct push_req *req)
{
	reactor_timer_stop(req->loop->r, &req->u.timer);
	push__req_complete(req, -ECANCELED);
}

int push_sleep(struct push_loop *l, uint64_t ns, struct push_token *tok,
	       push_cb cb, void *data, struct push_req **reqp)
{
	struct push_req *req;

	if (reqp != NULL)
		*reqp = NULL;
	if (tok != NULL && tok->cancelled)
		return -ECANCELED;
	req = push__req_new(l, tok, cb, data, reqp, sleep_cancel);
	if (req == NULL)
		return -ENOMEM;
	reactor_timer_start(l->r, &req->u.timer, ns, sleep_fired);
	return PUSH_STARTED;
}

/* ---- reference-counted buffers --------------------------------------------------- */

struct push_buf *push_buf_new(size_t cap)
{
	struct push_buf *b = mem_alloc(sizeof(*b) + cap);

	if (b == NULL)
		return NULL;
	b->cap = cap;
	b->len = 0;
	b->refs = 1;
	return b;
}

struct push_buf *push_buf_ref(struct push_buf *b)
{
	b->refs++;
	return b;
}

void push_buf_unref(struct push_buf *b)
{
	if (b != NULL && --b->refs == 0)
		mem_free(b);
}

/* ---- files, through the offload pool ---------------------------------------------- */

static struct push_req *req_of_job(struct offload_job *job)
{
	return container_of(job, struct push_req, u.file.job);
}

/* On a worker thread (sim: the loop thread, at a step).  Touches only the
 * job's own fields and the buffer, which nobody else uses meanwhile.  A
 * write is all of buf->len or an error, never a part (reactor.h). */
static void file_work(struct offload_job *job)
{
	struct push__file *f = (struct push__file *)job;

	if (f->write)
		f->result = reactor_file_pwrite(f->r, f->fh, f->buf->data,
						f->len, f->offset);
	else
		f->result = reactor_file_pread(f->r, f->fh, f->buf->data,
					       f->len, f->offset);
}

/* doc:begin file-cancel */
/* The pool gives the job back: drop what it held. */
static void file_release(struct push_req *req)
{
	push_buf_unref(req->u.file.buf);
	req->u.file.buf = NULL;
	req->loop->pending--;
	push__req_unref(req);           /* the pool's */
}

/* Loop thread: the work is done and the request was not cancelled. */
static void file_done(struct offload_job *job)
{
	struct push_req *req = req_of_job(job);
	struct push__file *f = &req->u.file;

	if (!f->write)
		f->buf->len = f->result > 0 ? (size_t)f->result : 0;
	push__req_complete(req, f->result);
	file_release(req);
}

/* Loop thread: after a cancel, once no thread touches the job any more.
 * The request was called back with -ECANCELED already. */
static void file_discard(struct offload_job *job)
{
	file_release(req_of_job(job));
}

/* Queue -ECANCELED first, then cancel the job: the pool may discard it at
 * once, inside offload_cancel(), dropping its reference; the loop's keeps
 * the request alive. */
static void file_cancel(struct push_req *req)
{
	push__req_complete(req, -ECANCELED);
	offload_cancel(req->loop->o, &req->u.file.job);
}
/* doc:end file-cancel */

static int file_start(struct push_loop *l, int fh, bool write,
		      struct push_buf *buf, size_t len, uint64_t offset,
		      struct push_token *tok, push_cb cb, void *data,
		      struct push_req **reqp)
{
	struct push_req *req;

	if (reqp != NULL)
		*reqp = NULL;
	if (tok != NULL && tok->cancelled)
		return -ECANCELED;
	if (l->cq != NULL)
		return push__cq_file(l, fh, write, buf, len, offset, tok, cb,
				     data, reqp);
	if (l->o == NULL)
		return -ENOSYS;
	req = push__req_new(l, tok, cb, data, reqp, file_cancel);
	if (req == NULL)
		return -ENOMEM;
	req->u.file.job.work = file_work;
	req->u.file.job.done = file_done;
	req->u.file.job.discard = file_discard;
	req->u.file.r = l->r;
	req->u.file.fh = fh;
	req->u.file.write = write;
	req->u.file.buf = push_buf_ref(buf);    /* the job's */
	req->u.file.len = len;
	req->u.file.offset = offset;
	push__req_ref(req);                     /* the pool's */
	l->pending++;                           /* the job, until given back */
	offload_submit(l->o, &req->u.file.job);
	return PUSH_STARTED;
}

int push_file_read(struct push_loop *l, int fh, struct push_buf *buf,
		   uint64_t offset, struct push_token *tok, push_cb cb,
		   void *data, struct push_req **reqp)
{
	return file_start(l, fh, false, buf, buf->cap, offset, tok, cb, data,
			  reqp);
}

int push_file_write(struct push_loop *l, int fh, struct push_buf *buf,
		    uint64_t offset, struct push_token *tok, push_cb cb,
		    void *data, struct push_req **reqp)
{
	return file_start(l, fh, true, buf, buf->len, offset, tok, cb, data,
			  reqp);
}
