/* push_impl.h: the layout of the request, and what the files
 * of push/ call in each other.  Not for users: they see push.h only.
 *
 * The files depend one way, each only on those below it, but for one pair:
 *
 *   echo.c, fanout.c   the workloads
 *   compose.c          compositions, over requests and tokens
 *   io.c               leaf operations: streams, timers, files
 *   workers.c          loops per thread, and the mailbox between them
 *   loop.c             the loop: the iteration, run until
 *   request.c <-> token.c
 *
 * The one circle is the model's: a request registers on its token and
 * unregisters when it completes (request.c calls token.c), and cancelling a
 * token cancels the requests registered on it (token.c calls request.c).
 * In the poll model cancelling is dropping, so it has no such pair.
 */
#ifndef PUSHPOLL_PUSH_IMPL_H
#define PUSHPOLL_PUSH_IMPL_H

#include "push.h"

/* A request: one per pending operation.  Every kind has the same size, so
 * the pooled policy keeps one free list.  Cost: about 200 bytes, the file
 * operations' embedded offload job being the largest member. */
struct push_req {
	/* The completion. */
	push_cb cb;
	void *data;
	ssize_t result;              /* valid once QUEUED */
	enum push_req_state state;
	bool cancelled;              /* push_cancel() got it while PENDING */
	unsigned refs;               /* loop + token registration + handle + job */
	struct push_loop *loop;
	/* The kind's own cancel: detach from whatever would complete the
	 * request, then push__req_complete(req, -ECANCELED) (leaves) or make
	 * the inner operations call back (compositions).  Runs once, PENDING. */
	void (*cancel)(struct push_req *req);
	/* The completion queue (QUEUED) or the pooled free list (freed). */
	struct push_req *next;
	/* The token registration (PENDING, until queued or cancelled). */
	struct push_token *token;
	struct push_req *tok_prev, *tok_next;
	/* The operation. */
	union {
		struct push__io {               /* accept, read, write, connect */
			struct push_stream *s;  /* NULL once detached */
			/* Try the operation once more: complete the request
			 * and return true, or return false on -EAGAIN. */
			bool (*attempt)(struct push_req *req);
			void *buf;
			size_t n;
			size_t done;            /* write: bytes written so far */
			const struct push_alloc *alloc; /* push_read_alloc */
		} io;
		struct reactor_timer timer;     /* sleep */
		struct push__file {             /* file read, file write */
			struct offload_job job; /* first: job -> request */
			struct reactor *r;
			int fh;
			bool write;
			struct push_buf *buf;   /* a reference while the pool has the job */
			size_t len;
			uint64_t offset;
			ssize_t result;         /* written by work() */
		} file;
		struct push__comp *comp;        /* compositions */
		struct push__cq {               /* completion mode: accept,
						 * read, write, file read and
						 * write (io_completion.c); no
						 * larger than file, so that
						 * it costs the readiness
						 * mode nothing */
			struct completion_op op; /* the kernel's while in flight */
			/* The completion of op: go on (a short write) or
			 * complete the request. */
			void (*complete)(struct push_req *req,
					 const struct completion_event *ev);
			struct push_stream *s;  /* NULL: a file, or closed */
			union {
				void *buf;              /* read, write */
				struct push_buf *pbuf;  /* files: a reference
							 * until the completion */
				const struct push_alloc *alloc; /* read from
							 * the ring (K4) */
			};
			union {
				size_t n;               /* read, write */
				uint64_t offset;        /* files */
			};
			size_t done;            /* writes: bytes written so far */
			/* K3: the stream was closed under op; close the
			 * handle at its completion, unless `partner` (the
			 * stream's other operation) is still in flight. */
			struct push_req *partner;
			int handle;
			bool file_write;
			bool close_handle;
			bool starved;           /* on the loop's starved
						 * list: no op in flight */
		} cq;
	} u;
};

/* What every composition's state block begins with (compose.c). */
struct push__comp {
	struct push_req *req;        /* the composition's request; NULL once completed */
	struct push_token inner;     /* the token its inner operations run under */
};

/* request.c */
/* A new PENDING request of the loop: refs for the loop, the registration
 * on tok (if any) and the handle (if reqp).  Counts in l->pending.  Returns
 * NULL when out of memory (nothing registered, *reqp untouched). */
struct push_req *push__req_new(struct push_loop *l, struct push_token *tok,
			       push_cb cb, void *data, struct push_req **reqp,
			       void (*cancel)(struct push_req *req));
/* Undo push__req_new() for a start that failed after it: unregister, drop
 * every reference, no callback.  Sets *reqp back to NULL. */
void push__req_abort(struct push_req *req, struct push_req **reqp);
/* PENDING -> QUEUED with result; unregisters from the token. */
void push__req_complete(struct push_req *req, ssize_t result);
/* Take / drop a reference (the handle's, the token's, the pool's). */
void push__req_ref(struct push_req *req);
void push__req_unref(struct push_req *req);
/* Called by the loop: QUEUED -> DONE, run the callback, drop the loop's
 * reference. */
void push__req_dispatch(struct push_req *req);
/* Free the pooled free list (push_loop_fini). */
void push__req_pool_free(struct push_loop *l);

/* R2, counted (push_in_cancel() in push.h): the depth of push_cancel() and
 * push_token_cancel() on this thread, and the callbacks that began inside
 * one.  Every push_cb in push/ calls push__callback_begins() first. */
extern _Thread_local unsigned push__cancel_depth;
extern _Thread_local uint64_t push__callbacks_in_cancel;

static inline void push__callback_begins(void)
{
	if (push__cancel_depth != 0)
		push__callbacks_in_cancel++;
}
/* io_completion.c: the leaf operations of the completion mode, started
 * by io.c's calls when l->cq is set, and the loop's hand-off of one
 * completion (loop.c). */
int push__cq_stream_open(struct push_loop *l, struct push_stream *s,
			 int handle);
void push__cq_stream_close(struct push_stream *s);
int push__cq_accept(struct push_loop *l, struct push_stream *listener,
		    struct push_token *tok, push_cb cb, void *data,
		    struct push_req **reqp);
int push__cq_read(struct push_loop *l, struct push_stream *s, void *buf,
		  size_t n, struct push_token *tok, push_cb cb, void *data,
		  struct push_req **reqp);
int push__cq_read_alloc(struct push_loop *l, struct push_stream *s,
			const struct push_alloc *a, struct push_token *tok,
			push_cb cb, void *data, struct push_req **reqp);
void push__cq_ring_free(struct push_loop *l);
int push__cq_write(struct push_loop *l, struct push_stream *s,
		   const void *buf, size_t n, struct push_token *tok,
		   push_cb cb, void *data, struct push_req **reqp);
int push__cq_file(struct push_loop *l, int fh, bool write,
		  struct push_buf *buf, size_t len, uint64_t offset,
		  struct push_token *tok, push_cb cb, void *data,
		  struct push_req **reqp);
void push__cq_complete(const struct completion_event *ev);

/* echo.c, fanout.c: the workloads on r, in the readiness mode (cq NULL) or
 * in the completion mode over cq (workloads_completion.c); as the entry
 * points of push.h. */
int push__echo_serve(struct reactor *r, struct offload *o,
		     struct completion *cq, const struct echo_opts *opts,
		     struct echo_stats *stats);
int push__fanout_run(struct reactor *r, struct offload *o,
		     struct completion *cq, const struct fanout_opts *opts,
		     struct fanout_stats *stats);

/* token.c */
/* Register req on t (a reference, taken by the caller). */
void push__token_add(struct push_token *t, struct push_req *req);
/* Unregister req from its token, if any, and drop the token's reference. */
void push__token_remove(struct push_req *req);

#endif
