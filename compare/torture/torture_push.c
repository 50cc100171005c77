/* torture_push.c: the combinator scenarios, written with the push engine.
 *
 * Each scenario composes leaf operations on a simulated stream pair and a
 * simulated file with push_join, push_race, push_timeout and push_seq, and
 * is cancelled at every step: as a whole (push_cancel on its handle), or
 * one branch alone, through a token of the branch's own, a child of the
 * token the composition hands the branch: the way callback code makes one
 * part of a graph cancellable (claim C3).
 *
 *   join     join(read N bytes, read a file, sleep); a writer, apart, sends
 *            the N bytes after a pause
 *   race     race(read N bytes, sleep, read a file); the same writer
 *   timeout  timeout(read N bytes); the writer is the part cancelled alone
 *   chain    seq(write N, timeout(join(read N, read a file)), sleep)
 *   inner-cancel  join(read N, read a file, sleep) beside the
 *            writer, where the cancel comes from inside a callback: one
 *            of the join's operations cancels the join (its own
 *            composition) or the writer, or one of the writer's cancels
 *            the join
 *   join-race and the fifteen other nestings: every combinator in every
 *            other, three deep, outer(middle(inner(read N, read a file),
 *            sleep), sleep), the outer and middle ones named, the inner
 *            one from the seed (torture_impl.h); each of the middle node,
 *            the inner node and the read is a part cancelled alone, and so
 *            is the writer
 *
 * Every callback the scenario receives goes through one counting shim
 * (struct px_op), which is how "each callback exactly once" is checked:
 * after the run every operation that started has called back once, and
 * every operation inside the composition before the composition itself.
 * The shim also checks that no callback runs inside a cancel (R2): every
 * push_cancel and push_token_cancel the harness makes counts its depth,
 * and a callback that finds the depth above 0 runs inside one; so does
 * one that finds the engine's own count of cancels above 0
 * (push_in_cancel()), whoever made the cancel.
 * Then: what the reader got, plus what is left in the stream, is a prefix
 * of what the writer sent, and all of it if the writer's callback said
 * so; a file read that succeeded holds the file's bytes; nothing is left
 * pending, nothing leaked.  In the nestings, each combinator's result
 * follows from its children's, and a result decided before a cancel is
 * kept (R5).
 */
#include "torture_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "completion.h"
#include "push.h"

/* Operations one case may start: a chain whose every read and write is
 * short (a fuzzed world) takes about a hundred; the table is on the stack
 * of the case, 88 bytes an entry. */
#define PX_OPS 1024

struct px;

/* One operation the scenario started, and its callback's record. */
struct px_op {
	struct px *x;
	const char *name;
	bool started;
	bool inner;                  /* inside the composition */
	unsigned calls;
	ssize_t result;
	uint64_t seq;                /* when its callback ran */
	void (*then)(struct px_op *op);  /* what the scenario does next */
	void *owner;
	push_cb fwd_cb;              /* for a forwarding op: the callback */
	void *fwd_data;              /* it stands in front of */
};

enum px_kind { PX_READ, PX_FILE_READ, PX_SLEEP };

/* A branch of a join or race, cancellable alone through its token. */
struct px_branch {
	struct px *x;
	enum px_kind kind;
	struct push_token tok;
	bool live;                   /* started and not finished */
	unsigned finishes;           /* times it called back: must be 1 */
	push_cb cb;                  /* the composition's, for this branch */
	void *data;
	ssize_t result;
};

struct px {
	struct tt_sim w;
	struct torture_case *c;
	struct push_loop loop, *l;
	struct push_stream wr, rd;   /* the two ends of a stream pair */
	int fh;
	struct push_buf *fbuf;
	unsigned char src[TT_DATA], dst[TT_DATA], rest[TT_DATA];
	unsigned char file[TT_FILE];
	size_t got;                  /* bytes the reader read */
	size_t next_piece;           /* the writer's progress */
	size_t written;              /* bytes writes said were written */
	bool stalled;                /* the loop's stop handler ran */
	int loop_rc;                 /* push_loop_run's */
	struct px_op ops[PX_OPS];
	unsigned nops;
	uint64_t seq;
	struct px_op *top;
	struct push_req *top_req;
	struct push_req *writer_req;
	struct push_branch pb[TT_BRANCHES];
	struct px_branch br[TT_BRANCHES];
	unsigned nbr;
	bool part_is_writer;         /* part 0 is the writer, not a branch */
	struct px_op *write_op;      /* chain: the step that writes */
	uint64_t writer_delay_ns;
	unsigned cancel_depth;       /* inside a cancel the harness made */
	unsigned cancel_ask;         /* inner-cancel: the part the hook
				      * asked for, made by the next callback
				      * of the side that acts */
};

static void px_cancel_in_callback(struct px_op *op);

/* ---- the counting shim --------------------------------------------------------- */

static struct px_op *op_new(struct px *x, const char *name, bool inner)
{
	struct px_op *op;

	if (x->nops == PX_OPS) {
		torture__fail(x->c, "harness: more than %d operations", PX_OPS);
		return NULL;
	}
	op = &x->ops[x->nops++];
	memset(op, 0, sizeof(*op));
	op->x = x;
	op->name = name;
	op->inner = inner;
	op->started = true;     /* until its start call says otherwise */
	return op;
}

static void op_cb(void *data, ssize_t result)
{
	struct px_op *op = data;

	op->calls++;
	TT_CHECK(op->x->c, op->started, "push: %s: callback after its start "
		 "failed (R3)", op->name);
	TT_CHECK(op->x->c, op->calls == 1, "push: %s: callback ran %u times "
		 "(R1)", op->name, op->calls);
	TT_CHECK(op->x->c, op->x->cancel_depth == 0 && !push_in_cancel(),
		 "push: %s: callback ran inside push_cancel or "
		 "push_token_cancel (R2)", op->name);
	if (op->calls > 1)
		return;
	op->result = result;
	op->seq = ++op->x->seq;
	px_cancel_in_callback(op);
	if (op->then != NULL)
		op->then(op);
}

static void op_forward(struct px_op *op)
{
	op->fwd_cb(op->fwd_data, op->result);
}

/* A step that hands its result on to the composition's own callback (the
 * usual shape of a sequence or combinator step). */
static struct px_op *op_new_forward(struct px *x, const char *name,
				    bool inner, push_cb cb, void *data)
{
	struct px_op *op = op_new(x, name, inner);

	if (op != NULL) {
		op->then = op_forward;
		op->fwd_cb = cb;
		op->fwd_data = data;
	}
	return op;
}

/* Record a start call's return: a failed start has no callback. */
static int op_started(struct px_op *op, int rc)
{
	if (rc < 0)
		op->started = false;
	return rc;
}

/* ---- branches ----------------------------------------------------------------------- */

static int br_begin_read(struct px_branch *b);

static void br_finish(struct px_branch *b, ssize_t result)
{
	b->live = false;
	b->finishes++;
	b->result = result;
	push_token_destroy(&b->tok);
	b->cb(b->data, result);
}

static void br_leaf_done(struct px_op *op)
{
	struct px_branch *b = op->owner;
	struct px *x = b->x;
	ssize_t n = op->result;
	int rc;

	if (b->kind == PX_READ && n > 0) {
		x->got += (size_t)n;
		if (x->got < TT_DATA) {
			rc = br_begin_read(b);
			if (rc >= 0)
				return;
			n = rc;
		} else {
			n = (ssize_t)x->got;
		}
	} else if (b->kind == PX_READ && n == 0) {
		n = (ssize_t)x->got;         /* end of stream: what came */
	}
	br_finish(b, n);
}

static int br_begin_read(struct px_branch *b)
{
	struct px *x = b->x;
	struct px_op *op = op_new(x, "read", true);

	if (op == NULL)
		return -ENOSPC;
	op->then = br_leaf_done;
	op->owner = b;
	return op_started(op, push_read(x->l, &x->rd, x->dst + x->got,
					TT_DATA - x->got < TT_READ_MAX ?
					TT_DATA - x->got : TT_READ_MAX,
					&b->tok, op_cb, op, NULL, NULL));
}

static int br_begin(struct px_branch *b)
{
	struct px *x = b->x;
	struct px_op *op;

	if (b->kind == PX_READ)
		return br_begin_read(b);
	op = op_new(x, b->kind == PX_SLEEP ? "sleep" : "file read", true);
	if (op == NULL)
		return -ENOSPC;
	op->then = br_leaf_done;
	op->owner = b;
	if (b->kind == PX_SLEEP)
		return op_started(op, push_sleep(x->l, 200 * CLOCK_NS_PER_US,
						 &b->tok, op_cb, op, NULL));
	return op_started(op, push_file_read(x->l, x->fh, x->fbuf, 0, &b->tok,
					     op_cb, op, NULL));
}

/* A push_start_fn: the branch's token is a child of the composition's, so
 * cancelling the composition reaches it, and cancelling it reaches only
 * this branch. */
static int br_start(struct push_loop *l, void *arg, struct push_token *tok,
		    push_cb cb, void *data)
{
	struct px_branch *b = arg;
	int rc;

	(void)l;
	push_token_init(&b->tok, tok);
	b->cb = cb;
	b->data = data;
	rc = br_begin(b);
	if (rc < 0) {
		push_token_destroy(&b->tok);
		return rc;
	}
	b->live = true;
	return PUSH_STARTED;
}

static void branches_init(struct px *x, const enum px_kind *kinds,
			  unsigned n)
{
	x->nbr = n;
	for (unsigned i = 0; i < n; i++) {
		x->br[i] = (struct px_branch){ .x = x, .kind = kinds[i] };
		x->pb[i] = (struct push_branch){ .start = br_start,
						 .arg = &x->br[i] };
	}
}

/* ---- the writer: a pause and a piece, three times, then end of stream ------------- */

static int w_sleep(struct push_loop *l, void *arg, ssize_t prev,
		   struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "writer sleep", false, cb, data);

	(void)prev;
	if (op == NULL)
		return -ENOSPC;
	return op_started(op, push_sleep(l, x->writer_delay_ns, tok, op_cb,
					 op, NULL));
}

static int w_write(struct push_loop *l, void *arg, ssize_t prev,
		   struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "writer write", false, cb, data);
	size_t piece = TT_DATA / TT_PIECES;

	(void)prev;
	if (op == NULL)
		return -ENOSPC;
	return op_started(op, push_write(l, &x->wr, x->src + x->next_piece,
					 piece, tok, op_cb, op, NULL, NULL));
}

static void w_piece_done(struct px_op *op)
{
	struct px *x = op->x;

	if (op->result > 0)
		x->next_piece += (size_t)op->result;
	op_forward(op);
}

static int w_write_piece(struct push_loop *l, void *arg, ssize_t prev,
			 struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	int rc = w_write(l, arg, prev, tok, cb, data);

	if (rc >= 0)
		x->ops[x->nops - 1].then = w_piece_done;
	return rc;
}

static const push_step_fn writer_steps[] = {
	w_sleep, w_write_piece, w_sleep, w_write_piece, w_sleep, w_write_piece,
};

/* The writer ended: the reader sees end of stream after the data.  What
 * the writes said was written is what must arrive. */
static void writer_done(struct px_op *op)
{
	struct px *x = op->x;

	x->written = x->next_piece;
	push_stream_close(&x->wr);
}

static void writer_start(struct px *x)
{
	struct px_op *op = op_new(x, "writer", false);

	if (op == NULL)
		return;
	op->then = writer_done;
	if (op_started(op, push_seq(x->l, writer_steps, 2 * TT_PIECES, x, NULL,
				    op_cb, op, &x->writer_req)) < 0)
		push_stream_close(&x->wr);
}

/* ---- the world --------------------------------------------------------------------- */

/* Every cancel the harness makes goes through these two, which count the
 * depth op_cb() checks. */
static int px_req_cancel(struct px *x, struct push_req *req)
{
	int rc;

	x->cancel_depth++;
	rc = push_cancel(req);
	x->cancel_depth--;
	return rc;
}

static void px_tok_cancel(struct px *x, struct push_token *tok)
{
	x->cancel_depth++;
	push_token_cancel(tok);
	x->cancel_depth--;
}

static void px_on_stop(void *arg)
{
	struct px *x = arg;

	/* Only quiescence stops these scenarios: with operations pending
	 * and nothing that can ever complete them, a wake-up was lost. */
	x->stalled = true;
	if (x->top_req != NULL)
		px_req_cancel(x, x->top_req);
	if (x->writer_req != NULL)
		px_req_cancel(x, x->writer_req);
}

/* The hook's cancel: the whole composition, or branch t - 1 alone (for
 * the timeout scenario, which has no branches, part 0 is the writer). */
static bool px_cancel(void *arg, unsigned t)
{
	struct px *x = arg;

	if (t == 0)
		return x->top_req != NULL && px_req_cancel(x, x->top_req) == 0;
	if (x->part_is_writer)
		return t == 1 && x->writer_req != NULL &&
		       px_req_cancel(x, x->writer_req) == 0;
	if (t - 1 >= x->nbr || !x->br[t - 1].live)
		return false;
	px_tok_cancel(x, &x->br[t - 1].tok);
	return true;
}

/* The world: a stream pair, a file, a loop.  It is built before the
 * case's allocation failure is armed: the scenario's own operations are
 * what is tortured. */
static void px_open(struct px *x, struct torture_case *c)
{
	int pair[2];

	memset(x, 0, sizeof(*x));
	x->c = c;
	tt_sim_open(&x->w, c, NULL);
	tt_fill(x->src, TT_DATA, c->seed, 1);
	tt_fill(x->file, TT_FILE, c->seed, 2);
	x->writer_delay_ns = (100 + c->seed % 5 * 60) * CLOCK_NS_PER_US;
	if (sim_file_create(x->w.r, "/data", x->file, TT_FILE) < 0 ||
	    sim_stream_pair(x->w.r, pair) < 0)
		abort();
	x->fh = reactor_file_open(x->w.r, "/data", O_RDONLY, 0);
	x->l = &x->loop;
	push_loop_init(x->l, x->w.r, x->w.o, NULL);
	x->fbuf = push_buf_new(TT_FILE_BUF);
	if (x->fh < 0 || x->fbuf == NULL ||
	    push_stream_open(x->l, &x->wr, pair[0]) < 0 ||
	    push_stream_open(x->l, &x->rd, pair[1]) < 0)
		abort();
	push_loop_on_stop(x->l, px_on_stop, x);
	x->w.cancel = px_cancel;
	x->w.cancel_arg = x;
}

/* Run the loop to the end and make the checks every scenario shares. */
static void px_run(struct px *x)
{
	struct torture_case *c = x->c;
	ssize_t rest;

	x->loop_rc = push_loop_run(x->l);
	TT_CHECK(c, x->loop_rc == 0, "push: the loop ended with %d, "
		 "operations pending", x->loop_rc);
	TT_CHECK(c, !x->stalled, "push: the world went quiet with "
		 "operations pending (a lost wake-up)");

	/* Each callback exactly once, the inner ones before the
	 * composition's. */
	for (unsigned i = 0; i < x->nops; i++) {
		const struct px_op *op = &x->ops[i];
		if (!op->started)
			continue;
		TT_CHECK(c, op->calls == 1, "push: %s: callback ran %u times "
			 "(R1)", op->name, op->calls);
		if (op->inner && x->top != NULL && x->top->started)
			TT_CHECK(c, op->seq < x->top->seq, "push: %s called back "
				 "after its composition", op->name);
	}
	for (unsigned i = 0; i < x->nbr; i++)
		TT_CHECK(c, x->br[i].finishes <= 1 && !x->br[i].live,
			 "push: branch %u finished %u times", i,
			 x->br[i].finishes);

	/* The bytes: what the reader got and what is left form a prefix of
	 * what was sent, all of it if the write said it was all written. */
	if (push_stream_is_open(&x->wr))
		push_stream_close(&x->wr);
	rest = tt_sim_read_all(&x->w, x->rd.handle, x->rest, TT_DATA);
	TT_CHECK(c, rest >= 0, "push: reading the rest of the stream: %zd",
		 rest);
	if (rest >= 0) {
		TT_CHECK(c, x->got + (size_t)rest <= TT_DATA &&
			 memcmp(x->dst, x->src, x->got) == 0 &&
			 memcmp(x->rest, x->src + x->got, (size_t)rest) == 0,
			 "push: the reader got %zu bytes and %zd were left: "
			 "not a prefix of what was sent", x->got, rest);
		TT_CHECK(c, x->got + (size_t)rest >= x->written,
			 "push: the writes said %zu bytes, %zu arrived (a lost "
			 "byte)", x->written, x->got + (size_t)rest);
	}
	for (unsigned i = 0; i < x->nbr; i++)
		if (x->br[i].kind == PX_FILE_READ && x->br[i].finishes == 1 &&
		    x->br[i].result > 0)
			TT_CHECK(c, x->br[i].result == TT_FILE_BUF &&
				 memcmp(x->fbuf->data, x->file, TT_FILE_BUF)
				 == 0, "push: the file read returned %zd "
				 "bytes that are not the file's",
				 x->br[i].result);
}

/* The composition's own result, once it called back (0 if it did not). */
static bool top_result(const struct px *x, ssize_t *r)
{
	if (x->top == NULL || !x->top->started || x->top->calls != 1)
		return false;
	*r = x->top->result;
	return true;
}

static void px_close(struct px *x)
{
	push_stream_close(&x->rd);
	if (x->top_req != NULL)
		push_req_unref(x->top_req);
	if (x->writer_req != NULL)
		push_req_unref(x->writer_req);
	if (x->loop_rc == 0)
		push_loop_fini(x->l);   /* else it would assert: leak it */
	push_buf_unref(x->fbuf);
	reactor_file_close(x->w.r, x->fh);
	tt_sim_drain(&x->w);
	tt_sim_close(&x->w);
}

/* ---- inner-cancel --------------------------------------------------------------- */

/* Parts 1 to 3: whose callback cancels (the writer's for part 3, else
 * the join's operations') and what (the writer for part 2, else the
 * join). */
static bool ask_by_writer(unsigned part)
{
	return part == 3;
}

static struct push_req *ask_victim(const struct px *x, unsigned part)
{
	return part == 2 ? x->writer_req : x->top_req;
}

static bool op_is_writer(const struct px_op *op)
{
	return strncmp(op->name, "writer", 6) == 0;
}

/* Run first in every callback (op_cb): make the cancel the hook asked of
 * this callback's side, if any, from inside the callback, through the
 * counting cancel (no callback may run inside it, R2). */
static void px_cancel_in_callback(struct px_op *op)
{
	struct px *x = op->x;
	struct push_req *victim;

	if (x->cancel_ask == 0 || op == x->top ||
	    op_is_writer(op) != ask_by_writer(x->cancel_ask))
		return;
	victim = ask_victim(x, x->cancel_ask);
	x->cancel_ask = 0;
	if (victim != NULL && push_req_state(victim) == PUSH_REQ_PENDING)
		px_req_cancel(x, victim);
}

/* The hook's cancel: the whole join from outside, or part t, which the
 * next callback of the acting side makes.  Something of that side is
 * pending, so a callback of it is sure to come (R1). */
static bool px_ask_cancel(void *arg, unsigned t)
{
	struct px *x = arg;
	struct push_req *actor;

	if (t == 0)
		return px_cancel(arg, t);
	actor = ask_by_writer(t) ? x->writer_req : x->top_req;
	if (t > 3 || x->cancel_ask != 0 || actor == NULL ||
	    push_req_state(actor) != PUSH_REQ_PENDING ||
	    ask_victim(x, t) == NULL ||
	    push_req_state(ask_victim(x, t)) != PUSH_REQ_PENDING)
		return false;
	x->cancel_ask = t;
	return true;
}

/* ---- the scenarios --------------------------------------------------------------- */

/* join(read N, read a file, sleep): 0 when every branch succeeded, else the
 * first negative result in branch order, or -ECANCELED.  With `cancel`, the
 * world's cancels go through it instead of cancelling at once (inner-cancel
 * asks a callback to make them). */
static void join_run(struct torture_case *c,
		     bool (*cancel)(void *arg, unsigned t))
{
	static const enum px_kind kinds[] = { PX_READ, PX_FILE_READ, PX_SLEEP };
	struct px x;
	ssize_t r, want = 0;

	px_open(&x, c);
	if (cancel != NULL)
		x.w.cancel = cancel;
	branches_init(&x, kinds, 3);
	tt_sim_arm(&x.w);
	writer_start(&x);
	x.top = op_new(&x, "join", false);
	op_started(x.top, push_join(x.l, x.pb, 3, NULL, op_cb, x.top,
				    &x.top_req));
	px_run(&x);
	for (unsigned i = 0; i < 3 && want == 0; i++)
		if (x.pb[i].result < 0)
			want = x.pb[i].result;
	if (top_result(&x, &r) && r != -ECANCELED)
		TT_CHECK(c, r == want, "push: join said %zd, its branches "
			 "%zd %zd %zd", r, x.pb[0].result, x.pb[1].result,
			 x.pb[2].result);
	px_close(&x);
}

static void scen_join(struct torture_case *c)
{
	join_run(c, NULL);
}

/* race(read N, sleep, read a file): the index of the first branch to
 * complete, the others cancelled, or -ECANCELED. */
static void scen_race(struct torture_case *c)
{
	static const enum px_kind kinds[] = { PX_READ, PX_SLEEP, PX_FILE_READ };
	struct px x;
	ssize_t r;

	px_open(&x, c);
	branches_init(&x, kinds, 3);
	tt_sim_arm(&x.w);
	writer_start(&x);
	x.top = op_new(&x, "race", false);
	op_started(x.top, push_race(x.l, x.pb, 3, NULL, op_cb, x.top,
				    &x.top_req));
	px_run(&x);
	if (top_result(&x, &r))
		TT_CHECK(c, r == -ECANCELED || (r >= 0 && r < 3),
			 "push: race said %zd", r);
	px_close(&x);
}

/* timeout(read N, 400 us): N (or what came before end of stream),
 * -ETIMEDOUT, or -ECANCELED.  Its part is the writer. */
static int tmo_read_start(struct push_loop *l, void *arg,
			  struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;

	return br_start(l, &x->br[0], tok, cb, data);
}

static void scen_timeout(struct torture_case *c)
{
	static const enum px_kind kinds[] = { PX_READ };
	struct px x;
	ssize_t r;

	px_open(&x, c);
	branches_init(&x, kinds, 1);
	x.part_is_writer = true;
	tt_sim_arm(&x.w);
	writer_start(&x);
	x.top = op_new(&x, "timeout", false);
	op_started(x.top, push_timeout(x.l, 400 * CLOCK_NS_PER_US,
				       tmo_read_start, &x, NULL, op_cb, x.top,
				       &x.top_req));
	px_run(&x);
	if (top_result(&x, &r)) {
		TT_CHECK(c, r == -ECANCELED || r == -ETIMEDOUT || r == -ENOMEM ||
			 r == (ssize_t)x.got, "push: timeout said %zd, the "
			 "read got %zu", r, x.got);
		/* A read that called back with its bytes decided the result,
		 * whatever came after it: the timeout must pass them on. */
		TT_CHECK(c, x.br[0].finishes == 0 || x.br[0].result < 0 ||
			 r == x.br[0].result, "push: the read completed with "
			 "%zd, and the timeout said %zd (bytes lost)",
			 x.br[0].result, r);
	}
	px_close(&x);
}

/* chain: seq(write N, timeout(join(read N, read a file), 2 ms), sleep). */
static int ch_join_start(struct push_loop *l, void *arg,
			 struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "inner join", true, cb, data);

	if (op == NULL)
		return -ENOSPC;
	return op_started(op, push_join(l, x->pb, 2, tok, op_cb, op, NULL));
}

static int ch_write(struct push_loop *l, void *arg, ssize_t prev,
		    struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "step write", true, cb, data);

	(void)prev;
	if (op == NULL)
		return -ENOSPC;
	x->write_op = op;
	return op_started(op, push_write(l, &x->wr, x->src, TT_DATA, tok,
					 op_cb, op, NULL, NULL));
}

static int ch_timed_join(struct push_loop *l, void *arg, ssize_t prev,
			 struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "step timeout", true, cb, data);

	(void)prev;
	if (op == NULL)
		return -ENOSPC;
	return op_started(op, push_timeout(l, 2 * CLOCK_NS_PER_MS,
					   ch_join_start, x, tok, op_cb, op,
					   NULL));
}

static int ch_sleep(struct push_loop *l, void *arg, ssize_t prev,
		    struct push_token *tok, push_cb cb, void *data)
{
	struct px *x = arg;
	struct px_op *op = op_new_forward(x, "step sleep", true, cb, data);

	(void)prev;
	if (op == NULL)
		return -ENOSPC;
	return op_started(op, push_sleep(l, 100 * CLOCK_NS_PER_US, tok, op_cb,
					 op, NULL));
}

static const push_step_fn chain_steps[] = { ch_write, ch_timed_join,
					    ch_sleep };

static void scen_chain(struct torture_case *c)
{
	static const enum px_kind kinds[] = { PX_READ, PX_FILE_READ };
	struct px x;
	ssize_t r;

	px_open(&x, c);
	branches_init(&x, kinds, 2);
	tt_sim_arm(&x.w);
	x.top = op_new(&x, "seq", false);
	op_started(x.top, push_seq(x.l, chain_steps, 3, &x, NULL, op_cb, x.top,
				   &x.top_req));
	px_run(&x);
	/* The step write's result is the writer's, for the byte check. */
	if (x.write_op != NULL && x.write_op->started &&
	    x.write_op->calls == 1 && x.write_op->result > 0)
		x.written = (size_t)x.write_op->result;
	if (top_result(&x, &r))
		TT_CHECK(c, r <= 0, "push: the chain said %zd", r);
	px_close(&x);
}

/* join(read N, read a file, sleep), cancelled from inside callbacks: 0, the
 * first negative result in branch order, or -ECANCELED. */
static void scen_cancel_in_callback(struct torture_case *c)
{
	join_run(c, px_ask_cancel);
}

/* ---- nestings: every combinator in every other, to depth 3 ---------------------- */

/* One node of the tree torture_impl.h describes: a combinator or a leaf.
 * Each runs under a token of its own, a child of the one its parent hands
 * it, so that it can be cancelled alone; what it called back with is kept
 * here, in the harness's memory, for the checks. */
struct px_node {
	struct px *x;
	unsigned i;                  /* its index in the tree */
	unsigned kind;               /* enum tt_nest_kind */
	struct px_node *kid[2];
	unsigned nkids;
	uint64_t ns;                 /* a timeout's deadline, a sleep's length */
	struct push_branch pb[2];    /* a join's or a race's */
	struct push_token tok;
	push_cb cb;                  /* the parent's; NULL for the outermost */
	void *data;
	struct px_op *op;            /* a combinator's own callback record */
	bool begun;                  /* its start was called */
	int start_rc;                /* what the start returned */
	bool live;                   /* started and not finished */
	unsigned finishes;
	ssize_t result;
	uint64_t seq;                /* when it finished */
};

struct px_nest {
	struct px *x;
	unsigned comb[3];
	struct px_node node[TT_NEST_NODES];
};

static int node_start(struct push_loop *l, void *arg, struct push_token *tok,
		      push_cb cb, void *data);

static void node_finish(struct px_node *n, ssize_t result)
{
	n->live = false;
	n->finishes++;
	n->result = result;
	n->seq = ++n->x->seq;
	push_token_destroy(&n->tok);
	if (n->cb != NULL)
		n->cb(n->data, result);
}

static void node_op_done(struct px_op *op)
{
	node_finish(op->owner, op->result);
}

static int node_read(struct px_node *n);

/* A read called back: go on until TT_DATA bytes or end of stream, as the
 * branches above do. */
static void node_read_done(struct px_op *op)
{
	struct px_node *n = op->owner;
	struct px *x = n->x;
	ssize_t r = op->result;
	int rc;

	if (r > 0) {
		x->got += (size_t)r;
		if (x->got < TT_DATA) {
			rc = node_read(n);
			if (rc >= 0)
				return;
			r = rc;
		} else {
			r = (ssize_t)x->got;
		}
	} else if (r == 0) {
		r = (ssize_t)x->got;
	}
	node_finish(n, r);
}

static int node_read(struct px_node *n)
{
	struct px *x = n->x;
	struct px_op *op = op_new(x, "read", true);
	size_t left = TT_DATA - x->got;

	if (op == NULL)
		return -ENOSPC;
	op->then = node_read_done;
	op->owner = n;
	return op_started(op, push_read(x->l, &x->rd, x->dst + x->got,
					left < TT_READ_MAX ? left : TT_READ_MAX,
					&n->tok, op_cb, op, NULL, NULL));
}

/* A sequence's steps: its children, in order. */
static int nest_step0(struct push_loop *l, void *arg, ssize_t prev,
		      struct push_token *tok, push_cb cb, void *data)
{
	struct px_node *n = arg;

	(void)prev;
	return node_start(l, n->kid[0], tok, cb, data);
}

static int nest_step1(struct push_loop *l, void *arg, ssize_t prev,
		      struct push_token *tok, push_cb cb, void *data)
{
	struct px_node *n = arg;

	(void)prev;
	return node_start(l, n->kid[1], tok, cb, data);
}

static const push_step_fn nest_steps[] = { nest_step0, nest_step1 };

/* Start node n's operation under n->tok; reqp: a handle on it (the
 * outermost node's, for the whole-scenario cancel). */
static int node_begin(struct px_node *n, struct push_req **reqp)
{
	struct px *x = n->x;
	struct px_op *op;

	if (n->kind == TT_LEAF_READ)
		return node_read(n);
	op = op_new(x, tt_nest_name(n->kind), n->cb != NULL);
	if (op == NULL)
		return -ENOSPC;
	op->then = node_op_done;
	op->owner = n;
	n->op = op;
	switch (n->kind) {
	case TT_LEAF_FILE:
		return op_started(op, push_file_read(x->l, x->fh, x->fbuf, 0,
						     &n->tok, op_cb, op, NULL));
	case TT_LEAF_SLEEP:
		return op_started(op, push_sleep(x->l, n->ns, &n->tok, op_cb,
						 op, NULL));
	case TT_SEQ:
		return op_started(op, push_seq(x->l, nest_steps, n->nkids, n,
					       &n->tok, op_cb, op, reqp));
	case TT_JOIN:
		return op_started(op, push_join(x->l, n->pb, n->nkids, &n->tok,
						op_cb, op, reqp));
	case TT_RACE:
		return op_started(op, push_race(x->l, n->pb, n->nkids, &n->tok,
						op_cb, op, reqp));
	default:
		return op_started(op, push_timeout(x->l, n->ns, node_start,
						   n->kid[0], &n->tok, op_cb,
						   op, reqp));
	}
}

/* A push_start_fn: a node as the branch, step or inner operation of its
 * parent. */
static int node_start(struct push_loop *l, void *arg, struct push_token *tok,
		      push_cb cb, void *data)
{
	struct px_node *n = arg;
	int rc;

	(void)l;
	n->begun = true;
	push_token_init(&n->tok, tok);
	n->cb = cb;
	n->data = data;
	rc = node_begin(n, NULL);
	n->start_rc = rc;
	if (rc < 0) {
		push_token_destroy(&n->tok);
		return rc;
	}
	n->live = true;
	return PUSH_STARTED;
}

/* The hook's cancel: the whole tree, node t alone (t = 1..3: the middle
 * combinator, the inner one, the read), or the writer. */
static bool nest_cancel(void *arg, unsigned t)
{
	struct px_nest *s = arg;
	struct px *x = s->x;

	if (t == 0)
		return x->top_req != NULL && push_cancel(x->top_req) == 0;
	if (t == TT_NEST_PARTS)
		return x->writer_req != NULL && push_cancel(x->writer_req) == 0;
	if (t > TT_NEST_PARTS || !s->node[t].live)
		return false;
	push_token_cancel(&s->node[t].tok);
	return true;
}

static void nest_build(struct px_nest *s, struct px *x)
{
	unsigned kid[2];

	s->x = x;
	for (unsigned i = 0; i < TT_NEST_NODES; i++) {
		struct px_node *n = &s->node[i];

		*n = (struct px_node){ .x = x, .i = i,
				       .kind = tt_nest_kind(s->comb, i),
				       .ns = tt_nest_ns(s->comb, i) };
		n->nkids = tt_nest_kids(s->comb, i, kid);
		for (unsigned k = 0; k < n->nkids; k++) {
			n->kid[k] = &s->node[kid[k]];
			n->pb[k] = (struct push_branch){ .start = node_start,
							 .arg = n->kid[k] };
		}
	}
}

/* What child k told its parent: its callback's result, or the error its
 * start failed with.  False if it has neither (never started, or never
 * called back: a violation of its own). */
static bool kid_outcome(const struct px_node *k, ssize_t *r)
{
	if (!k->begun)
		return false;
	if (k->start_rc < 0) {
		*r = k->start_rc;
		return true;
	}
	if (k->finishes != 1)
		return false;
	*r = k->result;
	return true;
}

/* What each combinator that called back answered must follow from what
 * its children did (push.h): a join the first error or 0, a race its
 * first child to finish, a timeout its operation's result unless that
 * was cut short, a sequence its last step's; a result decided before a
 * cancel is kept (R5).  And every child called back before its parent. */
static void nest_check_node(struct px_nest *s, const struct px_node *n)
{
	struct torture_case *c = s->x->c;
	const char *name = tt_nest_name(n->kind);
	ssize_t o[2] = { 0, 0 }, r = n->result, want;
	bool has[2] = { false, false };
	unsigned first = 0;

	for (unsigned k = 0; k < n->nkids; k++) {
		const struct px_node *kn = n->kid[k];
		has[k] = kid_outcome(kn, &o[k]);
		if (kn->begun && kn->start_rc >= 0)
			TT_CHECK(c, kn->finishes == 1 && !kn->live &&
				 kn->seq < n->seq, "push: %s (node %u) "
				 "finished %u times, or after its parent %s",
				 tt_nest_name(kn->kind), kn->i, kn->finishes,
				 name);
		if (has[k] && (n->kind == TT_JOIN || n->kind == TT_RACE))
			TT_CHECK(c, n->pb[k].result == o[k], "push: %s: "
				 "branch %u has result %zd, its callback said "
				 "%zd", name, k, n->pb[k].result, o[k]);
	}
	switch (n->kind) {
	case TT_JOIN:
		TT_CHECK(c, has[0] && has[1], "push: join called back before "
			 "its branches");
		want = o[0] < 0 ? o[0] : o[1] < 0 ? o[1] : 0;
		TT_CHECK(c, r == want, "push: join said %zd, its branches "
			 "%zd %zd", r, o[0], o[1]);
		break;
	case TT_RACE:
		TT_CHECK(c, has[0] && has[1], "push: race called back before "
			 "its branches");
		/* A branch that failed to start finished first; else the
		 * one whose callback ran first. */
		if (n->kid[0]->start_rc < 0)
			first = 0;
		else if (n->kid[1]->start_rc < 0 ||
			 n->kid[1]->seq < n->kid[0]->seq)
			first = 1;
		TT_CHECK(c, r == (ssize_t)first ||
			 (r == -ECANCELED && o[first] == -ECANCELED),
			 "push: race said %zd; branch %u finished first, with "
			 "%zd", r, first, o[first]);
		break;
	case TT_TIMEOUT:
		TT_CHECK(c, has[0], "push: timeout called back before its "
			 "operation");
		TT_CHECK(c, r == o[0] || (o[0] == -ECANCELED &&
					  r == -ETIMEDOUT),
			 "push: the operation completed with %zd, and the "
			 "timeout said %zd", o[0], r);
		break;
	default:
		if (n->kid[1]->begun) {
			TT_CHECK(c, has[1] && r == o[1], "push: seq said %zd, "
				 "its last step %zd", r, o[1]);
		} else {
			TT_CHECK(c, has[0] && (o[0] < 0 ? r == o[0] :
				 r == -ECANCELED || r == -ENOMEM),
				 "push: seq said %zd after its first step's %zd",
				 r, o[0]);
		}
		break;
	}
}

static void nest_check(struct px_nest *s)
{
	struct torture_case *c = s->x->c;
	const struct px_node *f = &s->node[6];

	for (unsigned i = 0; i < 3; i++)
		if (s->node[i].finishes == 1)
			nest_check_node(s, &s->node[i]);
	if (f->finishes == 1 && f->result > 0)
		TT_CHECK(c, f->result == TT_FILE_BUF &&
			 memcmp(s->x->fbuf->data, s->x->file, TT_FILE_BUF) == 0,
			 "push: the file read returned %zd bytes that are not "
			 "the file's", f->result);
}

/* outer(middle(inner(read, file read), sleep), sleep), the combinators
 * from the scenario's name and the seed; the writer as for join. */
static void scen_nest(struct torture_case *c)
{
	struct px x;
	struct px_nest s;
	struct px_node *root;

	px_open(&x, c);
	if (tt_nest_shape(c->scen->name, c->seed, s.comb) < 0) {
		torture__fail(c, "harness: %s is not a nesting", c->scen->name);
		px_close(&x);
		return;
	}
	nest_build(&s, &x);
	x.w.cancel = nest_cancel;
	x.w.cancel_arg = &s;
	tt_sim_arm(&x.w);
	writer_start(&x);
	root = &s.node[0];
	root->begun = true;
	push_token_init(&root->tok, NULL);
	root->start_rc = node_begin(root, &x.top_req);
	if (root->start_rc < 0)
		push_token_destroy(&root->tok);
	else
		root->live = true;
	x.top = root->op;
	px_run(&x);
	nest_check(&s);
	tt_nest_label(c, s.comb);
	px_close(&x);
}

/* ---- the workloads over the simulated completion queue ------------------------ */

/* echo-cq, fanout-cq and fanout-file-cq: the echo and fanout scenarios of
 * torture_world.c, with the same checks, on push's completion entry points
 * (push_echo_serve_cq(), push_fanout_run_cq()), so on the simulated kernel
 * of completion_sim.c.  The kernel owns every buffer from submission to
 * completion and checks it before every step; a cancel at any step (the
 * whole workload, or one connection or sink) only asks, and may lose.
 * Beyond the world's checks, after each run:
 *
 *   - completion_sim_violations() is 0: no buffer touched, freed or reused,
 *     no handle closed, no op submitted again, while the kernel owned it;
 *   - nothing is in flight when the workload has returned: every late
 *     completion of a cancelled op was absorbed before the loop ended;
 *   - no callback ran twice: the engine asserts it (push__req_complete()
 *     and push__req_dispatch() each see a request once), an abort the
 *     driver reports, and a second callback frees what the first freed.
 *
 * The queue is the simulation's own (plain malloc, outside the mem
 * counters), so the failed allocation of a case is always the engine's. */
/* echo-ready-cq's ring: fewer buffers than the world's peers. */
#define TT_CQ_RING_BUFFERS 2

static struct cq_outcome {
	uint64_t violations;
	uint64_t owned_ops;
	uint64_t file_read_bytes;
	uint64_t owned_bytes, ring_bytes;
	char last[160];
} cq_last;

/* ring_bytes: the provided ring's size, all of which the kernel owns
 * again once the workload has returned (echo-ready-cq); CQ_RING_UNKNOWN
 * when the workload failed to start and may have made none. */
#define CQ_RING_UNKNOWN UINT64_MAX

static void cq_record(struct completion *q, uint64_t ring_bytes)
{
	const char *why = completion_sim_last_violation(q);
	struct completion_stats st;

	completion_get_stats(q, &st);
	cq_last.file_read_bytes = st.file_read_bytes;
	cq_last.violations = completion_sim_violations(q);
	cq_last.ring_bytes = ring_bytes;
	completion_sim_owned(q, &cq_last.owned_ops, &cq_last.owned_bytes);
	snprintf(cq_last.last, sizeof(cq_last.last), "%s",
		 why != NULL ? why : "");
}

static int echo_over_cq(struct reactor *r, struct offload *o,
			const struct echo_opts *opts, struct echo_stats *st)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;
	int rc;

	(void)o;
	rc = completion_new_beside(r, 0, &q, why, sizeof(why));
	if (rc < 0)
		return rc;
	rc = push_echo_serve_cq(r, q, opts, st);
	if (opts->buffers != ECHO_BUFFERS_READY)
		cq_record(q, 0);
	else if (rc == 0)
		cq_record(q, (uint64_t)TT_CQ_RING_BUFFERS * opts->bufsize);
	else    /* the ring may or may not have been made */
		cq_record(q, CQ_RING_UNKNOWN);
	completion_free(q);
	return rc;
}

static int fanout_over_cq(struct reactor *r, struct offload *o,
			  const struct fanout_opts *opts,
			  struct fanout_stats *st)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *q;
	int rc;

	(void)o;
	rc = completion_new_beside(r, 0, &q, why, sizeof(why));
	if (rc < 0)
		return rc;
	rc = push_fanout_run_cq(r, q, opts, st);
	cq_record(q, 0);
	completion_free(q);
	return rc;
}

/* The kernel's counts of the last run, for the world's checks and C6. */
static void cq_kernel_counts(struct tt_kernel_counts *out)
{
	out->file_read_bytes = cq_last.file_read_bytes;
	out->violations = cq_last.violations;
}

static void cq_check(struct torture_case *c)
{
	TT_CHECK(c, cq_last.violations == 0,
		 "completion: %llu breaches of the kernel's ownership: %s",
		 (unsigned long long)cq_last.violations, cq_last.last);
	TT_CHECK(c, cq_last.owned_ops == 0,
		 "completion: %llu ops still in flight when the workload "
		 "returned", (unsigned long long)cq_last.owned_ops);
	TT_CHECK(c, cq_last.ring_bytes == CQ_RING_UNKNOWN ||
		 cq_last.owned_bytes == cq_last.ring_bytes,
		 "completion: the kernel owns %llu bytes of buffer once the "
		 "workload returned, not %llu (its whole ring: every ring "
		 "buffer given back)", (unsigned long long)cq_last.owned_bytes,
		 (unsigned long long)cq_last.ring_bytes);
}

static void scen_echo_cq(struct torture_case *c)
{
	memset(&cq_last, 0, sizeof(cq_last));
	tt_echo_run(c, echo_over_cq);
	cq_check(c);
}

/* echo-ready-cq: buffers on readiness over the queue, from the loop's
 * provided ring (push.h, K4), made small so that reads find it dry and
 * wait on the starved list at some cancel points.  Beyond echo-cq's
 * checks: every ring buffer is back in the ring at the end, those of
 * receives a cancel lost the race to included. */
static void scen_echo_ready_cq(struct torture_case *c)
{
	char n[16];

	memset(&cq_last, 0, sizeof(cq_last));
	snprintf(n, sizeof(n), "%u", TT_CQ_RING_BUFFERS);
	setenv("PUSHPOLL_URING_RING_BUFFERS", n, 1);
	tt_echo_run_ready(c, echo_over_cq);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	cq_check(c);
}

static void scen_fanout_cq(struct torture_case *c)
{
	memset(&cq_last, 0, sizeof(cq_last));
	tt_fanout_run(c, fanout_over_cq, true, cq_kernel_counts);
	cq_check(c);
}

static void scen_fanout_file_cq(struct torture_case *c)
{
	memset(&cq_last, 0, sizeof(cq_last));
	tt_fanout_run(c, fanout_over_cq, false, cq_kernel_counts);
	cq_check(c);
}

const struct torture_scenario torture__push_scenarios[] = {
	{ "join", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 3, scen_join },
	{ "race", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 3, scen_race },
	{ "timeout", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 1,
	  scen_timeout },
	{ "chain", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 2, scen_chain },
	{ "inner-cancel", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 3,
	  scen_cancel_in_callback },
#define NEST(outer, middle) { #outer "-" #middle, TORTURE_PUSH,	\
	TORTURE_CANCEL | TORTURE_ALLOC, TT_NEST_PARTS, scen_nest }
	NEST(seq, seq), NEST(seq, join), NEST(seq, race), NEST(seq, timeout),
	NEST(join, seq), NEST(join, join), NEST(join, race),
	NEST(join, timeout),
	NEST(race, seq), NEST(race, join), NEST(race, race),
	NEST(race, timeout),
	NEST(timeout, seq), NEST(timeout, join), NEST(timeout, race),
	NEST(timeout, timeout),
#undef NEST
	{ "echo-cq", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_cq },
	{ "echo-ready-cq", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_ready_cq },
	{ "fanout-cq", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_fanout_cq },
	{ "fanout-file-cq", TORTURE_PUSH, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_fanout_file_cq },
	{ NULL, 0, 0, 0, NULL },
};
