/* request.c: the unit of pending work, its references and its states.
 *
 * A request is PENDING, then QUEUED, then DONE (push.h draws the diagram).
 * Its memory is governed by a plain reference count (one thread: no atomic
 * operations), and the holders are named:
 *
 *   the loop     from the start until the callback has returned;
 *   the token    while the request is registered on one (PENDING only);
 *   the handle   if the caller asked for one, until push_req_unref();
 *   the pool     a file operation's job, from offload_submit() until the
 *                pool gives the job back through done() or discard().
 *
 * Memory comes from mem_alloc() (idiomatic policy) or from the loop's free
 * list (pooled policy); the last reference sends it back to the same place.
 */
#include "push_impl.h"
#include "mem.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

/* ---- allocation: the two policies ---------------------------------------- */

/* Idiomatic: one mem_alloc() per request.  Pooled: pop the free list, or
 * mem_alloc() when it is empty; so the list grows to the most requests ever
 * live at once and allocates nothing more in a steady state. */
static struct push_req *req_alloc(struct push_loop *l)
{
	struct push_req *req = l->free_reqs;

	if (req != NULL) {
		l->free_reqs = req->next;
		l->stats.reqs_reused++;
	} else {
		req = mem_alloc(sizeof(*req));
		if (req == NULL)
			return NULL;
		l->stats.reqs_allocated++;
	}
	l->live_reqs++;
	return req;
}

static void req_free(struct push_req *req)
{
	struct push_loop *l = req->loop;

	l->live_reqs--;
	if (l->config.pooled) {
		req->next = l->free_reqs;
		l->free_reqs = req;
	} else {
		mem_free(req);
	}
}

void push__req_pool_free(struct push_loop *l)
{
	while (l->free_reqs != NULL) {
		struct push_req *req = l->free_reqs;
		l->free_reqs = req->next;
		mem_free(req);
	}
}

/* ---- references -------------------------------------------------------------- */

void push__req_ref(struct push_req *req)
{
	req->refs++;
}

void push__req_unref(struct push_req *req)
{
	assert(req->refs > 0);
	if (--req->refs == 0)
		req_free(req);
}

void push_req_unref(struct push_req *req)
{
	push__req_unref(req);
}

/* ---- the states -------------------------------------------------------------- */

/* -> PENDING.  The caller has checked that tok is not cancelled. */
struct push_req *push__req_new(struct push_loop *l, struct push_token *tok,
			       push_cb cb, void *data, struct push_req **reqp,
			       void (*cancel)(struct push_req *req))
{
	struct push_req *req = req_alloc(l);

	if (req == NULL)
		return NULL;
	memset(req, 0, sizeof(*req));
	req->cb = cb;
	req->data = data;
	req->state = PUSH_REQ_PENDING;
	req->loop = l;
	req->cancel = cancel;
	req->refs = 1;                  /* the loop's */
	l->pending++;
	if (tok != NULL) {
		req->refs++;            /* the token's */
		push__token_add(tok, req);
	}
	if (reqp != NULL) {
		req->refs++;            /* the caller's handle */
		*reqp = req;
	}
	return req;
}

/* A start that failed after push__req_new(): the request never existed for
 * the caller, so no callback, and every reference goes at once. */
void push__req_abort(struct push_req *req, struct push_req **reqp)
{
	push__token_remove(req);
	if (reqp != NULL) {
		*reqp = NULL;
		push__req_unref(req);
	}
	req->loop->pending--;
	push__req_unref(req);           /* the loop's: the last */
}

/* Append a QUEUED request to the loop's completion queue, which step 1 of
 * the loop takes whole.  O(1): the queue keeps a tail pointer.  The queue
 * lives in the loop, but only this file appends to it, so the loop calls
 * requests and requests never call the loop. */
static void req_enqueue(struct push_loop *l, struct push_req *req)
{
	req->next = NULL;
	if (l->queue_tail != NULL)
		l->queue_tail->next = req;
	else
		l->queue_head = req;
	l->queue_tail = req;
}

/* PENDING -> QUEUED. */
void push__req_complete(struct push_req *req, ssize_t result)
{
	assert(req->state == PUSH_REQ_PENDING);
	req->state = PUSH_REQ_QUEUED;
	req->result = result;
	push__token_remove(req);
	req_enqueue(req->loop, req);
}

/* doc:begin req-once */
/* QUEUED -> DONE, from step 1 of the loop.  The loop's reference is dropped
 * after the callback, which may therefore still read the request through a
 * handle. */
void push__req_dispatch(struct push_req *req)
{
	assert(req->state == PUSH_REQ_QUEUED);
	req->state = PUSH_REQ_DONE;
	req->loop->pending--;
	push__callback_begins();
	if (req->cb != NULL)
		req->cb(req->data, req->result);
	push__req_unref(req);
}

/* PENDING -> QUEUED with -ECANCELED (leaves), or PENDING until the inner
 * operations have called back (compositions): the kind's cancel decides.
 * Neither runs a callback. */
int push_cancel(struct push_req *req)
{
	if (req->cancelled)
		return -EALREADY;
	if (req->state != PUSH_REQ_PENDING)
		return -EBUSY;
	req->cancelled = true;
	push__token_remove(req);
	push__cancel_depth++;
	req->cancel(req);
	push__cancel_depth--;
	return 0;
}
/* doc:end req-once */

/* ---- rule R2, counted ------------------------------------------------------- */

_Thread_local unsigned push__cancel_depth;
_Thread_local uint64_t push__callbacks_in_cancel;

bool push_in_cancel(void)
{
	return push__cancel_depth != 0;
}

uint64_t push_callbacks_in_cancel(void)
{
	return push__callbacks_in_cancel;
}

enum push_req_state push_req_state(const struct push_req *req)
{
	return req->state;
}

ssize_t push_req_result(const struct push_req *req)
{
	return req->result;
}
