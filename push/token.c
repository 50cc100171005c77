/* token.c: cancellation tokens.
 *
 * A token is a node of a tree (parent, first child, doubly linked siblings)
 * holding a doubly linked list of the requests registered on it.  Every
 * link is intrusive: tokens and registrations never allocate.  Costs:
 * registering and unregistering are O(1); cancelling is O(requests and
 * tokens below), each request cancelled as by push_cancel(), which only
 * queues (so a cancel never runs a callback, rule R2).
 *
 * This is the price the push model pays for cancellation (claim C3 of the
 * project): the token has to be threaded through every start call, and
 * every kind of request needs its own way to detach from its source.
 *
 * token.c and request.c call each other, the one circle among push's files
 * (push_impl.h draws the rest): a request registers on its token and leaves
 * it when it completes, and cancelling a token cancels its requests.
 */
#include "push_impl.h"

#include <stddef.h>

/* ---- registration (request.c calls these) --------------------------------- */

/* O(1): push at the head.  The reference was taken by the caller. */
void push__token_add(struct push_token *t, struct push_req *req)
{
	req->token = t;
	req->tok_prev = NULL;
	req->tok_next = t->reqs;
	if (t->reqs != NULL)
		t->reqs->tok_prev = req;
	t->reqs = req;
}

/* O(1).  Drops the token's reference, never the last one: a registered
 * request is PENDING, so the loop still holds its own. */
void push__token_remove(struct push_req *req)
{
	struct push_token *t = req->token;

	if (t == NULL)
		return;
	if (req->tok_prev != NULL)
		req->tok_prev->tok_next = req->tok_next;
	else
		t->reqs = req->tok_next;
	if (req->tok_next != NULL)
		req->tok_next->tok_prev = req->tok_prev;
	req->token = NULL;
	req->tok_prev = req->tok_next = NULL;
	push__req_unref(req);
}

/* ---- the tree ---------------------------------------------------------------- */

void push_token_init(struct push_token *t, struct push_token *parent)
{
	t->parent = parent;
	t->children = NULL;
	t->prev = NULL;
	t->reqs = NULL;
	t->cancelled = parent != NULL && parent->cancelled;
	t->next = NULL;
	if (parent != NULL) {
		t->next = parent->children;
		if (parent->children != NULL)
			parent->children->prev = t;
		parent->children = t;
	}
}

bool push_token_cancelled(const struct push_token *t)
{
	return t->cancelled;
}

/* doc:begin token-cancel */
/* Mark t, cancel its requests, then recurse into its children.  Each
 * push_cancel() unregisters the request (t->reqs shrinks from the head) and
 * only queues, so the lists cannot change under us in any other way.  A
 * composition's cancel cancels its own inner token, which is a root: the
 * recursion is bounded by the depth of the tree. */
int push_token_cancel(struct push_token *t)
{
	int cancelled = 0;

	if (t->cancelled)
		return 0;
	t->cancelled = true;
	push__cancel_depth++;           /* R2, counted */
	while (t->reqs != NULL)
		if (push_cancel(t->reqs) == 0)
			cancelled++;
	for (struct push_token *c = t->children; c != NULL; c = c->next)
		cancelled += push_token_cancel(c);
	push__cancel_depth--;
	return cancelled;
}
/* doc:end token-cancel */

void push_token_destroy(struct push_token *t)
{
	/* Unregister what is left: pending, now uncancellable by tokens. */
	while (t->reqs != NULL)
		push__token_remove(t->reqs);
	/* The children become roots; they keep their own state. */
	while (t->children != NULL) {
		struct push_token *c = t->children;
		t->children = c->next;
		c->parent = NULL;
		c->prev = c->next = NULL;
	}
	/* Leave the parent's list. */
	if (t->parent != NULL) {
		if (t->prev != NULL)
			t->prev->next = t->next;
		else
			t->parent->children = t->next;
		if (t->next != NULL)
			t->next->prev = t->prev;
	}
	t->parent = NULL;
	t->prev = t->next = NULL;
}
