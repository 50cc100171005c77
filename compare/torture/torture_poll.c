/* torture_poll.c: the combinator scenarios, written with the poll engine.
 *
 * The same scenarios as torture_push.c, with the same leaves, data and
 * timings, written the poll way: each is one task whose future holds the
 * whole tree by value, and cancelling is dropping.
 *
 *   join     join(read N bytes, read a file, sleep); a writer task, apart,
 *            sends the N bytes in three pieces after a pause each
 *   race     race(read N bytes, sleep, read a file); the same writer
 *   timeout  timeout(read N bytes); the writer is the part cancelled alone
 *   chain    seq(write N, timeout(join(read N, read a file)), sleep)
 *   inner-cancel  join(read N, read a file, sleep) beside the writer,
 *            where the abort comes from inside a poll: the scenario task
 *            aborts itself, or the writer, during its own poll, or the
 *            writer aborts the scenario task during its poll
 *   join-race and the fifteen other nestings: every combinator in every
 *            other, three deep, outer(middle(inner(read N, read a file),
 *            sleep), sleep), the outer and middle ones named, the inner
 *            one from the seed (torture_impl.h); each of the middle node,
 *            the inner node and the read is a part cancelled alone, and so
 *            is the writer
 *   echo-cq, echo-faulty-cq, fanout-cq, fanout-file-cq, fanout-slow-cq
 *            the world's echo and fanout (torture_world.c) run by the
 *            completion entry points on the simulation's completion mode,
 *            with the simulated kernel's checks of buffer ownership
 *   echo-ready-cq, echo-faulty-ready-cq, echo-ready-dry-cq
 *            the same echo with buffers on readiness (C7 of poll.h): every
 *            buffer of the provided ring back in it at the end; the last
 *            on a ring of one buffer, which the connections wait for
 *
 * The whole scenario is cancelled with poll_task_abort().  One branch alone
 * is cancelled the way Rust code does it: each branch is race(branch,
 * signal), and firing the signal makes the race drop the branch.
 *
 * Every future the harness builds is wrapped in a probe (struct qprobe)
 * that records, outside the task's memory, whether it was polled after
 * it returned READY or after it was dropped, and whether it was dropped at
 * all: R3 and R4 of poll.h, checked on every combinator.  After the
 * run: every probe dropped, no waker left in any slot (R2), nothing
 * holding the finished tasks but the harness's handles, the bytes a prefix
 * of what was sent and all of what the writes said was written, a file
 * read that succeeded holding the file's bytes, nothing leaked.  In the
 * nestings, each combinator's output follows from its children's.
 */
#include "torture_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "poll.h"

#define QX_RECS 64

struct qx;

/* What a probe records, in the harness's memory, which outlives the task. */
struct qrec {
	const char *name;
	bool ready;              /* its poll returned READY */
	bool dropped;
	ssize_t out;             /* the output, once READY */
};

struct qx {
	struct tt_sim w;
	struct torture_case *c;
	struct poll_loop loop;
	struct poll_stream wr, rd;
	int fh;
	struct poll_buf *fbuf;
	unsigned char src[TT_DATA], dst[TT_DATA], rest[TT_DATA];
	unsigned char file[TT_FILE];
	size_t got;              /* bytes the reader read */
	size_t next_piece;       /* the writer's progress */
	size_t written;          /* bytes the writes said were written */
	struct qrec rec[QX_RECS];
	unsigned nrec;
	/* The cancellation signals, one per branch: the slot lives here, in
	 * what makes progress (the harness), as poll.h asks. */
	struct poll_waker sig[TT_BRANCHES];
	bool fired[TT_BRANCHES];
	struct qrec *branch[TT_BRANCHES];   /* each branch's own probe */
	unsigned nbr;
	bool part_is_writer;
	struct qrec *write_rec;             /* chain: the step that writes */
	struct poll_task *top, *writer;     /* handles */
	uint64_t writer_delay_ns;
	/* inner-cancel: each task keeps its waker in its poke slot (0: the
	 * scenario task, 1: the writer) at every poll, so that the step hook
	 * can have it polled; abort_ask is the part the hook asked for, which
	 * the task it names carries out at the start of its next poll. */
	bool pokes;
	struct poll_waker poke[2];
	unsigned abort_ask;
	/* The scenario task aborted itself inside its poll: whatever that
	 * poll returned, the task is done, and a later poll of it is its
	 * code running after its abort (R1 of poll.h). */
	bool top_aborted_itself;
};

/* ---- the probe ---------------------------------------------------------------- */

struct qprobe {
	struct poll_future base;
	struct qx *x;
	struct qrec *rec;
	struct poll_future *inner;
};

static enum poll_status probe_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qprobe *p = (struct qprobe *)f;
	struct qrec *r = p->rec;

	if (r->dropped || r->ready) {
		torture__fail(p->x->c, "poll: %s polled after it %s", r->name,
			      r->dropped ? "was dropped" : "returned READY");
		return POLL_READY;
	}
	if (poll_future_poll(p->inner, cx) == POLL_PENDING)
		return POLL_PENDING;
	r->ready = true;
	r->out = f->out = p->inner->out;
	return POLL_READY;
}

static void probe_drop(struct poll_future *f)
{
	struct qprobe *p = (struct qprobe *)f;

	if (p->rec->dropped)
		return;           /* a second drop does nothing (R3) */
	p->rec->dropped = true;
	poll_future_drop(p->inner);
}

static const struct poll_future_vt probe_vt = {
	.name = "probe",
	.poll = probe_poll,
	.drop = probe_drop,
};

/* Wrap inner; called inside a poll, where everything is pinned. */
static struct poll_future *probe_init(struct qprobe *p, struct qx *x,
				      const char *name,
				      struct poll_future *inner)
{
	static struct qrec spare;

	p->base.vt = &probe_vt;
	p->base.out = 0;
	p->x = x;
	p->inner = inner;
	if (x->nrec == QX_RECS) {
		torture__fail(x->c, "harness: more than %d futures", QX_RECS);
		spare = (struct qrec){ .name = name };
		p->rec = &spare;
	} else {
		p->rec = &x->rec[x->nrec++];
		*p->rec = (struct qrec){ .name = name };
	}
	return &p->base;
}

/* ---- leaves ---------------------------------------------------------------------- */

/* Read N bytes from x->rd, at most TT_READ_MAX a read.  Output: N, or what
 * came before end of stream, or the error. */
struct qrx {
	struct poll_future base;
	struct qx *x;
	bool reading;
	struct poll_read rd;
};

static enum poll_status qrx_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qrx *q = (struct qrx *)f;
	struct qx *x = q->x;
	ssize_t n;

	for (;;) {
		if (!q->reading) {
			size_t left = TT_DATA - x->got;
			poll_read_init(&q->rd, &x->rd, x->dst + x->got,
				       left < TT_READ_MAX ? left : TT_READ_MAX);
			q->reading = true;
		}
		if (poll_future_poll(&q->rd.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		n = q->rd.base.out;
		poll_future_drop(&q->rd.base);
		q->reading = false;
		if (n > 0) {
			x->got += (size_t)n;
			if (x->got < TT_DATA)
				continue;
		}
		f->out = n >= 0 ? (ssize_t)x->got : n;
		return POLL_READY;
	}
}

static void qrx_drop(struct poll_future *f)
{
	struct qrx *q = (struct qrx *)f;

	if (q->reading)
		poll_future_drop(&q->rd.base);
	q->reading = false;
}

static const struct poll_future_vt qrx_vt = {
	.name = "read_exact", .poll = qrx_poll, .drop = qrx_drop,
};

static void qrx_init(struct qrx *q, struct qx *x)
{
	q->base.vt = &qrx_vt;
	q->base.out = 0;
	q->x = x;
	q->reading = false;
}

/* The cancellation signal of branch i: READY (-ECANCELED) once fired. */
struct qsig {
	struct poll_future base;
	struct qx *x;
	unsigned i;
};

static enum poll_status qsig_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qsig *s = (struct qsig *)f;

	if (!s->x->fired[s->i]) {
		poll_waker_set(&s->x->sig[s->i], cx);
		return POLL_PENDING;
	}
	poll_waker_drop(&s->x->sig[s->i]);
	f->out = -ECANCELED;
	return POLL_READY;
}

static void qsig_drop(struct poll_future *f)
{
	struct qsig *s = (struct qsig *)f;

	poll_waker_drop(&s->x->sig[s->i]);
}

static const struct poll_future_vt qsig_vt = {
	.name = "signal", .poll = qsig_poll, .drop = qsig_drop,
};

/* ---- branches: race(probe(leaf), signal), probed --------------------------------- */

enum qkind { Q_READ, Q_FILE_READ, Q_SLEEP };

struct qbranch {
	struct qprobe outer;               /* what the join or race holds */
	struct poll_race sel;
	struct poll_future *sel_child[2];
	struct qprobe leafp;
	union {
		struct qrx rx;
		struct poll_file_read fr;
		struct poll_sleep sl;
	} leaf;
	struct qsig sig;
};

static struct poll_future *branch_init(struct qbranch *b, struct qx *x,
				       unsigned i, enum qkind kind)
{
	struct poll_future *leaf;

	switch (kind) {
	case Q_READ:
		qrx_init(&b->leaf.rx, x);
		leaf = &b->leaf.rx.base;
		break;
	case Q_FILE_READ:
		poll_file_read_init(&b->leaf.fr, &x->loop, x->fh, x->fbuf, 0);
		leaf = &b->leaf.fr.base;
		break;
	default:
		poll_sleep_init(&b->leaf.sl, &x->loop, 200 * CLOCK_NS_PER_US);
		leaf = &b->leaf.sl.base;
		break;
	}
	b->sig = (struct qsig){ .base = { .vt = &qsig_vt }, .x = x, .i = i };
	b->sel_child[0] = probe_init(&b->leafp, x, kind == Q_READ ? "read"
				     : kind == Q_SLEEP ? "sleep" : "file read",
				     leaf);
	b->sel_child[1] = &b->sig.base;
	poll_race_init(&b->sel, b->sel_child, 2);
	x->branch[i] = b->leafp.rec;
	return probe_init(&b->outer, x, "branch", &b->sel.base);
}

/* ---- the writer task: a pause and a piece, three times, then end of stream ---------- */

struct qwriter {
	struct poll_future base;
	struct qx *x;
	unsigned step;                     /* even: a pause; odd: a piece */
	bool busy;                         /* `p` holds the step's future */
	struct qprobe p;
	union {
		struct poll_sleep sl;
		struct poll_write w;
	} u;
};

/* The writer ends (done, failed or dropped): the reader sees end of
 * stream after the data, and what the writes said is what must arrive. */
static void writer_end(struct qwriter *q)
{
	q->x->written = q->x->next_piece;
	poll_stream_close(&q->x->wr);
	poll_waker_drop(&q->x->poke[1]);
}

static void qx_poll_point(struct qx *x, struct poll_cx *cx, unsigned who);

static enum poll_status qwriter_poll(struct poll_future *f,
				     struct poll_cx *cx)
{
	struct qwriter *q = (struct qwriter *)f;
	struct qx *x = q->x;
	size_t piece = TT_DATA / TT_PIECES;
	ssize_t out;

	qx_poll_point(x, cx, 1);
	while (q->step < 2 * TT_PIECES) {
		if (!q->busy) {
			if (q->step % 2 == 0) {
				poll_sleep_init(&q->u.sl, &x->loop,
						x->writer_delay_ns);
				probe_init(&q->p, x, "writer sleep", &q->u.sl.base);
			} else {
				poll_write_init(&q->u.w, &x->wr,
						x->src + x->next_piece, piece);
				probe_init(&q->p, x, "writer write", &q->u.w.base);
			}
			q->busy = true;
		}
		if (poll_future_poll(&q->p.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		out = q->p.base.out;
		poll_future_drop(&q->p.base);
		q->busy = false;
		if (q->step % 2 == 1) {
			if (out < 0)
				break;
			x->next_piece += (size_t)out;
		}
		q->step++;
	}
	q->step = 2 * TT_PIECES;
	writer_end(q);
	f->out = (ssize_t)x->next_piece;
	return POLL_READY;
}

static void qwriter_drop(struct poll_future *f)
{
	struct qwriter *q = (struct qwriter *)f;

	if (q->busy)
		poll_future_drop(&q->p.base);
	q->busy = false;
	writer_end(q);
}

static const struct poll_future_vt qwriter_vt = {
	.name = "writer", .poll = qwriter_poll, .drop = qwriter_drop,
};

static void writer_spawn(struct qx *x)
{
	struct qwriter q = {
		.base = { .vt = &qwriter_vt }, .x = x,
	};

	if (poll_spawn(&x->loop, &q.base, sizeof(q), &x->writer) < 0) {
		x->writer = NULL;
		poll_stream_close(&x->wr);     /* never starts: nothing comes */
	}
}

/* ---- the world ------------------------------------------------------------------------- */

static bool task_live(struct poll_task *t)
{
	return t != NULL && !(poll_task_state(t) & POLL_TASK_DONE);
}

static bool qx_cancel(void *arg, unsigned t)
{
	struct qx *x = arg;
	struct qrec *b;

	if (t == 0) {
		if (!task_live(x->top))
			return false;
		poll_task_abort(x->top);
		return true;
	}
	if (x->part_is_writer) {
		if (t != 1 || !task_live(x->writer))
			return false;
		poll_task_abort(x->writer);
		return true;
	}
	if (t - 1 >= x->nbr || !task_live(x->top))
		return false;
	b = x->branch[t - 1];
	if (b == NULL || b->ready || b->dropped || x->fired[t - 1])
		return false;
	x->fired[t - 1] = true;
	poll_waker_wake(&x->sig[t - 1]);
	return true;
}

static void qx_open(struct qx *x, struct torture_case *c)
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
	poll_loop_init(&x->loop, x->w.r, x->w.o, NULL);
	x->fbuf = poll_buf_new(TT_FILE_BUF);
	if (x->fh < 0 || x->fbuf == NULL ||
	    poll_stream_open(&x->loop, &x->wr, pair[0]) < 0 ||
	    poll_stream_open(&x->loop, &x->rd, pair[1]) < 0)
		abort();
	x->w.cancel = qx_cancel;
	x->w.cancel_arg = x;
}

static void qx_spawn_top(struct qx *x, const struct poll_future *f,
			 size_t size)
{
	if (poll_spawn(&x->loop, f, size, &x->top) < 0)
		x->top = NULL;            /* out of memory: the start failed */
}

/* A finished task: only the harness's handle may still hold it. */
static void check_task(struct qx *x, struct poll_task *t, const char *name)
{
	ssize_t out;

	if (t == NULL)
		return;
	TT_CHECK(x->c, poll_task_result(t, &out) == 0,
		 "poll: the %s task is not done", name);
	TT_CHECK(x->c, poll_task_refs(t) == 1, "poll: the finished %s task "
		 "still has %u references: a waker outlived its future",
		 name, poll_task_refs(t) - 1);
}

static void qx_run(struct qx *x)
{
	struct torture_case *c = x->c;
	ssize_t rest;
	int rc = poll_loop_run(&x->loop);

	TT_CHECK(c, rc == 0, "poll: the world went quiet with tasks waiting "
		 "(a lost wake-up): %d", rc);
	if (rc != 0) {
		if (x->top != NULL)
			poll_task_abort(x->top);
		if (x->writer != NULL)
			poll_task_abort(x->writer);
		poll_loop_run(&x->loop);
	}
	for (unsigned i = 0; i < x->nrec; i++)
		TT_CHECK(c, x->rec[i].dropped, "poll: %s was never dropped "
			 "(R3)", x->rec[i].name);
	check_task(x, x->top, "scenario");
	check_task(x, x->writer, "writer");
	TT_CHECK(c, !poll_waker_is_set(&x->rd.reader) &&
		 !poll_waker_is_set(&x->rd.writer) &&
		 !poll_waker_is_set(&x->wr.reader) &&
		 !poll_waker_is_set(&x->wr.writer),
		 "poll: a waker is still parked on a stream after every "
		 "future was done (R2)");
	for (unsigned i = 0; i < TT_BRANCHES; i++)
		TT_CHECK(c, !poll_waker_is_set(&x->sig[i]), "poll: a waker is "
			 "still parked in signal %u (R2)", i);
	for (unsigned i = 0; i < 2; i++)
		TT_CHECK(c, !poll_waker_is_set(&x->poke[i]), "poll: a waker is "
			 "still parked in poke slot %u (R2)", i);

	/* The chain's own write step says what it wrote. */
	if (x->write_rec != NULL && x->write_rec->ready &&
	    x->write_rec->out > 0)
		x->written = (size_t)x->write_rec->out;
	poll_stream_close(&x->wr);
	rest = tt_sim_read_all(&x->w, x->rd.handle, x->rest, TT_DATA);
	TT_CHECK(c, rest >= 0, "poll: reading the rest of the stream: %zd",
		 rest);
	if (rest >= 0) {
		TT_CHECK(c, x->got + (size_t)rest <= TT_DATA &&
			 memcmp(x->dst, x->src, x->got) == 0 &&
			 memcmp(x->rest, x->src + x->got, (size_t)rest) == 0,
			 "poll: the reader got %zu bytes and %zd were left: "
			 "not a prefix of what was sent", x->got, rest);
		TT_CHECK(c, x->got + (size_t)rest >= x->written,
			 "poll: the writes said %zu bytes, %zu arrived (a lost "
			 "byte)", x->written, x->got + (size_t)rest);
	}
	for (unsigned i = 0; i < x->nrec; i++)
		if (strcmp(x->rec[i].name, "file read") == 0 &&
		    x->rec[i].ready && x->rec[i].out > 0)
			TT_CHECK(c, x->rec[i].out == TT_FILE_BUF &&
				 x->fbuf->len == TT_FILE_BUF &&
				 memcmp(x->fbuf->data, x->file, TT_FILE_BUF)
				 == 0, "poll: the file read returned %zd "
				 "bytes that are not the file's",
				 x->rec[i].out);
}

static bool top_result(const struct qx *x, ssize_t *out)
{
	return x->top != NULL && poll_task_result(x->top, out) == 0;
}

static void qx_close(struct qx *x)
{
	if (x->top != NULL)
		poll_task_detach(x->top);
	if (x->writer != NULL)
		poll_task_detach(x->writer);
	poll_loop_fini(&x->loop);
	poll_stream_close(&x->rd);
	poll_stream_close(&x->wr);
	poll_buf_unref(x->fbuf);
	reactor_file_close(x->w.r, x->fh);
	tt_sim_drain(&x->w);
	tt_sim_close(&x->w);
}

/* ---- join and race ----------------------------------------------------------------- */

struct qnary {
	struct poll_future base;
	struct qx *x;
	bool init, race;
	enum qkind kind[TT_BRANCHES];
	struct qprobe p;
	union {
		struct poll_join join;
		struct poll_race sel;
	} u;
	struct poll_future *child[TT_BRANCHES];
	struct qbranch br[TT_BRANCHES];
};

static enum poll_status qnary_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qnary *q = (struct qnary *)f;

	if (!q->init) {
		for (unsigned i = 0; i < TT_BRANCHES; i++)
			q->child[i] = branch_init(&q->br[i], q->x, i, q->kind[i]);
		if (q->race) {
			poll_race_init(&q->u.sel, q->child, TT_BRANCHES);
			probe_init(&q->p, q->x, "race", &q->u.sel.base);
		} else {
			poll_join_init(&q->u.join, q->child, TT_BRANCHES);
			probe_init(&q->p, q->x, "join", &q->u.join.base);
		}
		q->init = true;
	}
	if (poll_future_poll(&q->p.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->p.base.out;
	poll_future_drop(&q->p.base);
	return POLL_READY;
}

static void qnary_drop(struct poll_future *f)
{
	struct qnary *q = (struct qnary *)f;

	if (q->init)
		poll_future_drop(&q->p.base);
}

static const struct poll_future_vt qnary_vt = {
	.name = "scenario", .poll = qnary_poll, .drop = qnary_drop,
};

static void scen_nary(struct torture_case *c, bool race)
{
	struct qx x;
	struct qnary q = {
		.base = { .vt = &qnary_vt }, .race = race,
		.kind = { Q_READ, race ? Q_SLEEP : Q_FILE_READ,
			  race ? Q_FILE_READ : Q_SLEEP },
	};
	ssize_t out;

	qx_open(&x, c);
	x.nbr = TT_BRANCHES;
	q.x = &x;
	tt_sim_arm(&x.w);
	writer_spawn(&x);
	qx_spawn_top(&x, &q.base, sizeof(q));
	qx_run(&x);
	if (top_result(&x, &out))
		TT_CHECK(c, out == -ECANCELED ||
			 (race ? out >= 0 && out < TT_BRANCHES : out == 0),
			 "poll: %s said %zd", race ? "race" : "join", out);
	qx_close(&x);
}

static void scen_join(struct torture_case *c) { scen_nary(c, false); }
static void scen_race(struct torture_case *c) { scen_nary(c, true); }

/* ---- timeout ----------------------------------------------------------------------- */

struct qtmo {
	struct poll_future base;
	struct qx *x;
	bool init;
	struct qprobe p, rp;
	struct poll_timeout tmo;
	struct qrx rx;
};

static enum poll_status qtmo_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qtmo *q = (struct qtmo *)f;

	if (!q->init) {
		qrx_init(&q->rx, q->x);
		probe_init(&q->rp, q->x, "read", &q->rx.base);
		poll_timeout_init(&q->tmo, &q->x->loop, &q->rp.base,
				  400 * CLOCK_NS_PER_US);
		probe_init(&q->p, q->x, "timeout", &q->tmo.base);
		q->init = true;
	}
	if (poll_future_poll(&q->p.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->p.base.out;
	poll_future_drop(&q->p.base);
	return POLL_READY;
}

static void qtmo_drop(struct poll_future *f)
{
	struct qtmo *q = (struct qtmo *)f;

	if (q->init)
		poll_future_drop(&q->p.base);
}

static const struct poll_future_vt qtmo_vt = {
	.name = "scenario", .poll = qtmo_poll, .drop = qtmo_drop,
};

static void scen_timeout(struct torture_case *c)
{
	struct qx x;
	struct qtmo q = { .base = { .vt = &qtmo_vt } };
	ssize_t out;

	qx_open(&x, c);
	x.part_is_writer = true;
	q.x = &x;
	tt_sim_arm(&x.w);
	writer_spawn(&x);
	qx_spawn_top(&x, &q.base, sizeof(q));
	qx_run(&x);
	if (top_result(&x, &out))
		TT_CHECK(c, out == -ECANCELED || out == -ETIMEDOUT ||
			 out == (ssize_t)x.got, "poll: timeout said %zd, the "
			 "read got %zu", out, x.got);
	qx_close(&x);
}

/* ---- chain ------------------------------------------------------------------------- */

/* The steps share one slot, as rustc lays out an async fn's locals. */
union qchain_slot {
	struct {
		struct qprobe p;
		struct poll_write w;
	} s0;
	struct {
		struct qprobe p, jp;
		struct poll_timeout tmo;
		struct poll_join join;
		struct poll_future *child[2];
		struct qbranch br[2];
	} s1;
	struct {
		struct qprobe p;
		struct poll_sleep sl;
	} s2;
};

struct qchain {
	struct poll_future base;
	struct qx *x;
	bool init;
	struct qprobe p;
	struct poll_seq seq;
	union qchain_slot slot;
};

static struct poll_future *chain_step(void *arg, unsigned i, ssize_t prev,
				      void *slot)
{
	struct qx *x = arg;
	union qchain_slot *s = slot;
	struct poll_future *f;

	(void)prev;
	switch (i) {
	case 0:
		poll_write_init(&s->s0.w, &x->wr, x->src, TT_DATA);
		f = probe_init(&s->s0.p, x, "step write", &s->s0.w.base);
		x->write_rec = s->s0.p.rec;
		return f;
	case 1:
		s->s1.child[0] = branch_init(&s->s1.br[0], x, 0, Q_READ);
		s->s1.child[1] = branch_init(&s->s1.br[1], x, 1, Q_FILE_READ);
		poll_join_init(&s->s1.join, s->s1.child, 2);
		probe_init(&s->s1.jp, x, "inner join", &s->s1.join.base);
		poll_timeout_init(&s->s1.tmo, &x->loop, &s->s1.jp.base,
				  2 * CLOCK_NS_PER_MS);
		return probe_init(&s->s1.p, x, "step timeout", &s->s1.tmo.base);
	default:
		poll_sleep_init(&s->s2.sl, &x->loop, 100 * CLOCK_NS_PER_US);
		return probe_init(&s->s2.p, x, "step sleep", &s->s2.sl.base);
	}
}

static enum poll_status qchain_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qchain *q = (struct qchain *)f;

	if (!q->init) {
		poll_seq_init(&q->seq, chain_step, 3, q->x, &q->slot);
		probe_init(&q->p, q->x, "seq", &q->seq.base);
		q->init = true;
	}
	if (poll_future_poll(&q->p.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->p.base.out;
	poll_future_drop(&q->p.base);
	return POLL_READY;
}

static void qchain_drop(struct poll_future *f)
{
	struct qchain *q = (struct qchain *)f;

	if (q->init)
		poll_future_drop(&q->p.base);
}

static const struct poll_future_vt qchain_vt = {
	.name = "scenario", .poll = qchain_poll, .drop = qchain_drop,
};

static void scen_chain(struct torture_case *c)
{
	struct qx x;
	struct qchain q = { .base = { .vt = &qchain_vt } };
	ssize_t out;

	qx_open(&x, c);
	x.nbr = 2;
	q.x = &x;
	tt_sim_arm(&x.w);
	qx_spawn_top(&x, &q.base, sizeof(q));
	qx_run(&x);
	if (top_result(&x, &out))
		TT_CHECK(c, out <= 0, "poll: the chain said %zd", out);
	qx_close(&x);
}

/* ---- inner-cancel ---------------------------------------------------------------- */

/* Parts 1 to 3 of inner-cancel: who aborts (0: the scenario task, 1: the
 * writer) and whom, from inside the aborter's poll. */
static unsigned abort_actor(unsigned part)
{
	return part == 3 ? 1 : 0;
}

static struct poll_task *abort_victim(const struct qx *x, unsigned part)
{
	return part == 2 ? x->writer : x->top;
}

/* Called at the start of every poll of task `who`: keep its waker in its
 * poke slot, and make the abort the hook asked of it, if any.  A task
 * that aborts itself goes on with its poll, as code that calls a helper
 * which aborts would: the executor drops its future when the poll
 * returns (poll.h, RUNNING|ABORT). */
static void qx_poll_point(struct qx *x, struct poll_cx *cx, unsigned who)
{
	struct poll_task *victim;

	if (!x->pokes)
		return;
	poll_waker_set(&x->poke[who], cx);
	if (x->abort_ask == 0 || abort_actor(x->abort_ask) != who)
		return;
	victim = abort_victim(x, x->abort_ask);
	x->abort_ask = 0;
	if (victim != NULL && victim == x->top && who == 0)
		x->top_aborted_itself = true;
	if (victim != NULL)
		poll_task_abort(victim);
}

/* The hook's cancel: the whole scenario from outside as everywhere, or
 * part t: an abort that the acting task makes inside its next poll, which
 * the hook brings about at once by waking it. */
static bool qx_abort_cancel(void *arg, unsigned t)
{
	struct qx *x = arg;
	struct poll_task *actor;

	if (t == 0)
		return qx_cancel(arg, t);
	actor = abort_actor(t) == 1 ? x->writer : x->top;
	if (t > 3 || x->abort_ask != 0 || !task_live(actor) ||
	    !task_live(abort_victim(x, t)))
		return false;
	x->abort_ask = t;
	poll_waker_wake(&x->poke[abort_actor(t)]);
	return true;
}

/* The scenario task's future: a join as in scen_join, with a poll point. */
struct qinpoll {
	struct poll_future base;
	struct qx *x;
	struct qnary join;
};

static enum poll_status qinpoll_poll(struct poll_future *f,
				     struct poll_cx *cx)
{
	struct qinpoll *q = (struct qinpoll *)f;

	TT_CHECK(q->x->w.c, !q->x->top_aborted_itself, "poll: the task was "
		 "polled again after it aborted itself inside its poll (its "
		 "code ran after the abort)");
	qx_poll_point(q->x, cx, 0);
	if (poll_future_poll(&q->join.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->join.base.out;
	poll_waker_drop(&q->x->poke[0]);
	return POLL_READY;
}

static void qinpoll_drop(struct poll_future *f)
{
	struct qinpoll *q = (struct qinpoll *)f;

	poll_waker_drop(&q->x->poke[0]);
	poll_future_drop(&q->join.base);
}

static const struct poll_future_vt qinpoll_vt = {
	.name = "scenario", .poll = qinpoll_poll, .drop = qinpoll_drop,
};

static void scen_abort_in_poll(struct torture_case *c)
{
	struct qx x;
	struct qinpoll q = {
		.base = { .vt = &qinpoll_vt },
		.join = { .base = { .vt = &qnary_vt },
			  .kind = { Q_READ, Q_FILE_READ, Q_SLEEP } },
	};
	ssize_t out;

	qx_open(&x, c);
	x.pokes = true;
	x.w.cancel = qx_abort_cancel;
	q.x = &x;
	q.join.x = &x;
	tt_sim_arm(&x.w);
	writer_spawn(&x);
	qx_spawn_top(&x, &q.base, sizeof(q));
	qx_run(&x);
	/* An abort made inside the task's own poll loses to a READY of that
	 * poll; else the task ends cancelled. */
	if (top_result(&x, &out))
		TT_CHECK(c, out == -ECANCELED || out == 0,
			 "poll: the aborted join said %zd", out);
	qx_close(&x);
}

/* ---- nestings: every combinator in every other, to depth 3 ---------------------- */

/* A part cancelled alone: race(part, signal), answering the part's own
 * output, or -ECANCELED when the signal won (the part then dropped). */
struct qcut {
	struct poll_future base;
	struct poll_race sel;
	struct poll_future *child[2];
	struct poll_future *inner;
	struct qsig sig;
};

static enum poll_status qcut_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qcut *q = (struct qcut *)f;

	if (poll_future_poll(&q->sel.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->sel.base.out == 0 ? q->inner->out : -ECANCELED;
	return POLL_READY;
}

static void qcut_drop(struct poll_future *f)
{
	struct qcut *q = (struct qcut *)f;

	poll_future_drop(&q->sel.base);
}

static const struct poll_future_vt qcut_vt = {
	.name = "part", .poll = qcut_poll, .drop = qcut_drop,
};

static struct poll_future *qcut_init(struct qcut *q, struct qx *x,
				     unsigned i, struct poll_future *inner)
{
	q->base.vt = &qcut_vt;
	q->base.out = 0;
	q->inner = inner;
	q->sig = (struct qsig){ .base = { .vt = &qsig_vt }, .x = x, .i = i };
	q->child[0] = inner;
	q->child[1] = &q->sig.base;
	poll_race_init(&q->sel, q->child, 2);
	return &q->base;
}

/* What the harness keeps of the tree, outside the task's memory: for each
 * node, the record of its own future and the one its parent sees (the
 * same but for a part, whose parent sees the cut). */
struct qnest_view {
	unsigned comb[3];
	struct qrec *self[TT_NEST_NODES];
	struct qrec *seen[TT_NEST_NODES];
};

/* One node of the tree torture_impl.h describes, by value in the task's
 * future: a combinator or a leaf, probed, and cut if it is a part. */
struct qnode {
	struct qx *x;
	struct qnest_view *v;
	unsigned i;                  /* its index in the tree */
	unsigned kind;               /* enum tt_nest_kind */
	struct qnode *kid[2];
	unsigned nkids;
	uint64_t ns;                 /* a timeout's deadline, a sleep's length */
	struct qprobe self, outer;
	struct qcut cut;
	union {
		struct poll_seq seq;
		struct poll_join join;
		struct poll_race sel;
		struct poll_timeout tmo;
		struct qrx rx;
		struct poll_file_read fr;
		struct poll_sleep sl;
	} u;
	struct poll_future *child[2];
};

static struct poll_future *node_init(struct qnode *n);

/* A sequence's steps: its children, each built when its turn comes. */
static struct poll_future *nest_step(void *arg, unsigned i, ssize_t prev,
				     void *slot)
{
	struct qnode *n = arg;

	(void)prev;
	(void)slot;
	return node_init(n->kid[i]);
}

/* Build node n (inside its parent's poll: pinned) and return what its
 * parent holds. */
static struct poll_future *node_init(struct qnode *n)
{
	struct qx *x = n->x;
	struct poll_future *f;

	switch (n->kind) {
	case TT_LEAF_READ:
		qrx_init(&n->u.rx, x);
		f = &n->u.rx.base;
		break;
	case TT_LEAF_FILE:
		poll_file_read_init(&n->u.fr, &x->loop, x->fh, x->fbuf, 0);
		f = &n->u.fr.base;
		break;
	case TT_LEAF_SLEEP:
		poll_sleep_init(&n->u.sl, &x->loop, n->ns);
		f = &n->u.sl.base;
		break;
	case TT_SEQ:
		poll_seq_init(&n->u.seq, nest_step, n->nkids, n, NULL);
		f = &n->u.seq.base;
		break;
	case TT_JOIN:
	case TT_RACE:
		for (unsigned k = 0; k < n->nkids; k++)
			n->child[k] = node_init(n->kid[k]);
		if (n->kind == TT_JOIN) {
			poll_join_init(&n->u.join, n->child, n->nkids);
			f = &n->u.join.base;
		} else {
			poll_race_init(&n->u.sel, n->child, n->nkids);
			f = &n->u.sel.base;
		}
		break;
	default:
		poll_timeout_init(&n->u.tmo, &x->loop, node_init(n->kid[0]),
				  n->ns);
		f = &n->u.tmo.base;
		break;
	}
	f = probe_init(&n->self, x, tt_nest_name(n->kind), f);
	n->v->self[n->i] = n->v->seen[n->i] = n->self.rec;
	if (n->i >= 1 && n->i < TT_NEST_PARTS) {
		/* Part n->i: cancelled alone by signal n->i - 1. */
		x->branch[n->i - 1] = n->self.rec;
		f = probe_init(&n->outer, x, "part",
			       qcut_init(&n->cut, x, n->i - 1, f));
		n->v->seen[n->i] = n->outer.rec;
	}
	return f;
}

/* The task's future: the whole tree by value. */
struct qnest {
	struct poll_future base;
	struct qx *x;
	struct qnest_view *v;
	bool init;
	struct poll_future *root;
	struct qnode node[TT_NEST_NODES];
};

static enum poll_status qnest_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct qnest *q = (struct qnest *)f;
	unsigned kid[2];

	if (!q->init) {
		for (unsigned i = 0; i < TT_NEST_NODES; i++) {
			struct qnode *n = &q->node[i];
			n->x = q->x;
			n->v = q->v;
			n->i = i;
			n->kind = tt_nest_kind(q->v->comb, i);
			n->ns = tt_nest_ns(q->v->comb, i);
			n->nkids = tt_nest_kids(q->v->comb, i, kid);
			for (unsigned k = 0; k < n->nkids; k++)
				n->kid[k] = &q->node[kid[k]];
		}
		q->root = node_init(&q->node[0]);
		q->init = true;
	}
	if (poll_future_poll(q->root, cx) == POLL_PENDING)
		return POLL_PENDING;
	f->out = q->root->out;
	poll_future_drop(q->root);
	return POLL_READY;
}

static void qnest_drop(struct poll_future *f)
{
	struct qnest *q = (struct qnest *)f;

	if (q->init)
		poll_future_drop(q->root);
}

static const struct poll_future_vt qnest_vt = {
	.name = "scenario", .poll = qnest_poll, .drop = qnest_drop,
};

/* The hook's cancel: the whole tree, part t alone (t = 1..3: the middle
 * combinator, the inner one, the read), or the writer. */
static bool nest_cancel(void *arg, unsigned t)
{
	struct qx *x = arg;
	struct qrec *b;

	if (t == 0 || t == TT_NEST_PARTS) {
		struct poll_task *task = t == 0 ? x->top : x->writer;
		if (!task_live(task))
			return false;
		poll_task_abort(task);
		return true;
	}
	if (t > TT_NEST_PARTS || !task_live(x->top))
		return false;
	b = x->branch[t - 1];
	if (b == NULL || b->ready || b->dropped || x->fired[t - 1])
		return false;
	x->fired[t - 1] = true;
	poll_waker_wake(&x->sig[t - 1]);
	return true;
}

/* What each combinator that returned READY answered must follow from what
 * its children did (poll.h): a join the first error or 0 once every child
 * is READY, a race the one child that was READY (the others dropped
 * unready), a timeout its inner's output if that was READY, else
 * -ETIMEDOUT, a sequence its last step's output or its first error.  A
 * part answers its own output, or -ECANCELED if its signal won. */
static void nest_check_node(struct qx *x, const struct qnest_view *v,
			    unsigned i)
{
	struct torture_case *c = x->c;
	const struct qrec *r = v->self[i];
	const struct qrec *k[2] = { NULL, NULL };
	unsigned kid[2], nk = tt_nest_kids(v->comb, i, kid);
	bool ready[2] = { false, false };
	ssize_t o[2] = { 0, 0 }, want;

	for (unsigned j = 0; j < nk; j++) {
		k[j] = v->seen[kid[j]];
		ready[j] = k[j] != NULL && k[j]->ready;
		o[j] = ready[j] ? k[j]->out : 0;
	}
	switch (v->comb[i]) {
	case TT_JOIN:
		TT_CHECK(c, ready[0] && ready[1], "poll: join READY before "
			 "its children");
		want = o[0] < 0 ? o[0] : o[1] < 0 ? o[1] : 0;
		TT_CHECK(c, r->out == want, "poll: join said %zd, its children "
			 "%zd %zd", r->out, o[0], o[1]);
		break;
	case TT_RACE:
		TT_CHECK(c, (r->out == 0 && ready[0] && !ready[1]) ||
			 (r->out == 1 && ready[1] && !ready[0]),
			 "poll: race said %zd, its children READY: %d %d",
			 r->out, ready[0], ready[1]);
		break;
	case TT_TIMEOUT:
		TT_CHECK(c, ready[0] ? r->out == o[0] : r->out == -ETIMEDOUT,
			 "poll: the inner future %s %zd, and the timeout said "
			 "%zd", ready[0] ? "was READY with" : "was not READY:",
			 o[0], r->out);
		break;
	default:
		if (k[1] != NULL)
			TT_CHECK(c, ready[1] && r->out == o[1], "poll: seq said "
				 "%zd, its last step %zd", r->out, o[1]);
		else
			TT_CHECK(c, ready[0] && o[0] < 0 && r->out == o[0],
				 "poll: seq said %zd after its first step's %zd",
				 r->out, o[0]);
		break;
	}
}

static void nest_check(struct qx *x, const struct qnest_view *v)
{
	struct torture_case *c = x->c;

	for (unsigned i = 0; i < 3; i++)
		if (v->self[i] != NULL && v->self[i]->ready)
			nest_check_node(x, v, i);
	for (unsigned i = 1; i < TT_NEST_PARTS; i++) {
		const struct qrec *in = v->self[i], *cut = v->seen[i];
		if (cut == NULL || !cut->ready)
			continue;
		TT_CHECK(c, in->ready ? cut->out == in->out :
			 cut->out == -ECANCELED && x->fired[i - 1],
			 "poll: part %u said %zd, its own future %s %zd", i,
			 cut->out, in->ready ? "READY with" : "not READY:",
			 in->out);
	}
}

/* outer(middle(inner(read, file read), sleep), sleep), the combinators
 * from the scenario's name and the seed; the writer as for join. */
static void scen_nest(struct torture_case *c)
{
	struct qx x;
	struct qnest_view v;
	struct qnest q = { .base = { .vt = &qnest_vt }, .v = &v };
	ssize_t out;

	memset(&v, 0, sizeof(v));
	qx_open(&x, c);
	if (tt_nest_shape(c->scen->name, c->seed, v.comb) < 0) {
		torture__fail(c, "harness: %s is not a nesting", c->scen->name);
		qx_close(&x);
		return;
	}
	x.w.cancel = nest_cancel;
	q.x = &x;
	tt_sim_arm(&x.w);
	writer_spawn(&x);
	qx_spawn_top(&x, &q.base, sizeof(q));
	qx_run(&x);
	nest_check(&x, &v);
	if (top_result(&x, &out) && out != -ECANCELED)
		TT_CHECK(c, v.self[0] != NULL && v.self[0]->ready &&
			 out == v.self[0]->out, "poll: the task said %zd, its "
			 "outer combinator %zd", out,
			 v.self[0] != NULL ? v.self[0]->out : 0);
	tt_nest_label(c, v.comb);
	qx_close(&x);
}

/* ---- over a completion queue: echo-cq, fanout-cq ------------------------------ */

/* The world's echo and fanout with the completion entry points, on the
 * simulation's completion mode (the world's reactor is simulated), and the
 * kernel's side checked too: no buffer freed, touched or submitted again
 * while the kernel owned it (rule C1), every orphan's late completion
 * absorbed (C3), nothing left in the kernel's hands once the loop was done
 * (C6).  The world's checks cover the rest: bytes, accounts, the heap. */
/* The kernel's counts of the last run, for the world's checks and C6. */
static void cq_kernel_counts(struct tt_kernel_counts *out)
{
	struct poll_cq_stats st;

	poll_cq_last_run_stats(&st);
	out->file_read_bytes = st.kernel_file_read_bytes;
	out->violations = st.sim_violations;
}

static void cq_check(struct torture_case *c)
{
	struct poll_cq_stats st;

	poll_cq_last_run_stats(&st);
	TT_CHECK(c, st.sim_violations == 0, "cq: the simulated kernel saw %llu "
		 "breaches of its buffers' ownership",
		 (unsigned long long)st.sim_violations);
	TT_CHECK(c, st.orphans_now == 0 && st.orphan_bytes_now == 0,
		 "cq: %llu orphans (%llu bytes) outlived their loop",
		 (unsigned long long)st.orphans_now,
		 (unsigned long long)st.orphan_bytes_now);
	TT_CHECK(c, st.late_completions == st.orphaned, "cq: %llu orphans, "
		 "%llu late completions absorbed",
		 (unsigned long long)st.orphaned,
		 (unsigned long long)st.late_completions);
	TT_CHECK(c, st.kernel_ops_at_end == 0, "cq: the kernel still owned "
		 "%llu operations once the loop was done",
		 (unsigned long long)st.kernel_ops_at_end);
	TT_CHECK(c, st.ring_out_at_end == 0, "cq: %llu buffers of the "
		 "provided ring were not back in it once the loop was done "
		 "(C7)", (unsigned long long)st.ring_out_at_end);
}

static void scen_echo_cq(struct torture_case *c)
{
	tt_echo_run(c, poll_echo_serve_completion);
	cq_check(c);
}

static void scen_echo_faulty_cq(struct torture_case *c)
{
	tt_echo_run_faulty(c, poll_echo_serve_completion);
	cq_check(c);
}

/* Buffers on readiness (C7): recvs from the loop's provided ring, which
 * every cancel point, failed allocation and dropped recv must leave with
 * all its buffers back (cq_check()). */
static void scen_echo_ready_cq(struct torture_case *c)
{
	tt_echo_run_ready(c, poll_echo_serve_completion);
	cq_check(c);
}

static void scen_echo_faulty_ready_cq(struct torture_case *c)
{
	tt_echo_run_ready_faulty(c, poll_echo_serve_completion);
	cq_check(c);
}

/* The same on a ring of one buffer, for the echo's connections to share:
 * recvs find it empty and wait for it (C7), and are cancelled, dropped or
 * refused memory while they wait.  (A case runs in a child process of its
 * own: the knob set here is that case's alone.) */
static void scen_echo_ready_dry_cq(struct torture_case *c)
{
	setenv("PUSHPOLL_URING_RING_BUFFERS", "1", 1);
	tt_echo_run_ready(c, poll_echo_serve_completion);
	unsetenv("PUSHPOLL_URING_RING_BUFFERS");
	cq_check(c);
}

static void scen_fanout_cq(struct torture_case *c)
{
	tt_fanout_run(c, poll_fanout_run_completion, true,
		      cq_kernel_counts);
	cq_check(c);
}

static void scen_fanout_file_cq(struct torture_case *c)
{
	tt_fanout_run(c, poll_fanout_run_completion, false,
		      cq_kernel_counts);
	cq_check(c);
}

static void scen_fanout_slow_cq(struct torture_case *c)
{
	tt_fanout_run_slow(c, poll_fanout_run_completion);
	cq_check(c);
}

const struct torture_scenario torture__poll_scenarios[] = {
	{ "join", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 3, scen_join },
	{ "race", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 3, scen_race },
	{ "timeout", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 1,
	  scen_timeout },
	{ "chain", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2, scen_chain },
	{ "inner-cancel", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 3,
	  scen_abort_in_poll },
#define NEST(outer, middle) { #outer "-" #middle, TORTURE_POLL,	\
	TORTURE_CANCEL | TORTURE_ALLOC, TT_NEST_PARTS, scen_nest }
	NEST(seq, seq), NEST(seq, join), NEST(seq, race), NEST(seq, timeout),
	NEST(join, seq), NEST(join, join), NEST(join, race),
	NEST(join, timeout),
	NEST(race, seq), NEST(race, join), NEST(race, race),
	NEST(race, timeout),
	NEST(timeout, seq), NEST(timeout, join), NEST(timeout, race),
	NEST(timeout, timeout),
#undef NEST
	{ "echo-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_cq },
	{ "echo-faulty-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_faulty_cq },
	{ "echo-ready-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_ready_cq },
	{ "echo-faulty-ready-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC,
	  2, scen_echo_faulty_ready_cq },
	{ "echo-ready-dry-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_echo_ready_dry_cq },
	{ "fanout-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_fanout_cq },
	{ "fanout-file-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_fanout_file_cq },
	{ "fanout-slow-cq", TORTURE_POLL, TORTURE_CANCEL | TORTURE_ALLOC, 2,
	  scen_fanout_slow_cq },
	{ NULL, 0, 0, 0, NULL },
};
