/* completion_sim.c: the completion mode of the simulator (completion.h).
 *
 * A simulated kernel that performs operations on the world of a simulated
 * reactor (sim.h): its stream ends, listeners, scripted peers and files.
 * It is built on that reactor's public calls and its scheduled calls, so
 * every thing the kernel does is one of the reactor's numbered steps, drawn
 * by the same seeded scheduler, in the same trace and hash, stoppable with
 * sim_at_step() as any other step.  The steps of an operation:
 *
 *   submit    nothing happens yet: the kernel's first look at the op is
 *             scheduled, a step "call <kind> h<handle>" a seeded while later.
 *   attempt   that step: the op is tried on the world (a read of the end, an
 *             accept...).  If it can complete, its completion is queued;
 *             if it would block, the op waits on its handle.
 *   edge      an edge of the handle (the kernel's own watcher on it, a step
 *             "io <handle> ..."): every op waiting there is tried again.
 *   timer     a timeout's expiry (a step "timer").
 *   cancel    completion_cancel() schedules a step of its own, "call cancel
 *             <kind> h<handle>".  If the op is still pending when it runs,
 *             the op completes with -ECANCELED; if the op completed first
 *             (its attempt or edge came before, as the scheduler chose), the
 *             cancel has lost the race and does nothing.
 *
 * Completions wait in a queue until completion_poll() hands them out, which
 * it does before it delivers any step; a poll that finds none delivers one
 * step (one reactor_poll()).
 *
 * The strict kernel.  Every op in flight has a record (struct shadow) in a
 * registry, kept from submission until its final completion is handed out.
 * At submission a recv buffer is filled with poison (its contents are
 * undefined until the completion), and the checksum of every owned buffer
 * is kept; when the kernel writes into it, the checksum is taken again.
 * Before every step, and when each completion is handed out, every owned
 * buffer is checked against its checksum.  The breaches it counts: a buffer
 * changed while owned (touched by the caller, or freed and reused by the
 * allocator, whose free lists write into it; under AddressSanitizer a freed
 * buffer is reported as freed, without reading it), a buffer submitted while
 * part of it is owned by an op that writes into it, an op submitted while in
 * flight, a provided buffer returned while the kernel owns it, a handle
 * closed under an op, the queue freed with ops in flight.  Each is one line
 * on stderr and in the trace, and one count of completion_sim_violations().
 * The cost is a pass over every owned byte per step: a test world's cost.
 *
 * A handle used here must not also have a reactor watcher of the caller's:
 * the kernel keeps one on every stream handle it has waited on, until
 * completion_close().
 */
#include "config.h"

#include "completion_impl.h"
#include "container_of.h"
#include "sim_impl.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define region_freed(p, n) (__asan_region_is_poisoned((void *)(p), (n)) != NULL)
#else
#define region_freed(p, n) false
#endif

enum { POISON = 0xA5 };

struct csim;

/* The kernel's record of one op in flight. */
struct shadow {
	struct completion_op *op;
	struct csim *q;
	struct sim_call call;         /* the attempt step */
	struct sim_call cancel_call;  /* the cancel step */
	struct reactor_timer timer;   /* a timeout's expiry */
	struct shadow *prev, *next;   /* the registry, in submission order */
	struct shadow *next_wait;     /* its handle's waiting list */
	bool waiting;
	bool done;                    /* its final completion is queued */
	bool writes;                  /* the kernel writes into buf */
	bool broken;                  /* its buffer was changed or freed while
				       * owned: counted once, then neither read
				       * nor written again (the op ends with
				       * -EFAULT at its next step) */
	uint64_t sum;                 /* of buf, while owned */
	char what[48], cancel_what[56];
};

/* The kernel's side of a handle. */
struct chandle {
	struct reactor_io io;         /* started on the first wait */
	struct csim *q;
	int handle;
	struct shadow *first, *last;  /* ops waiting for an edge, FIFO */
};

/* A completion queued and not yet handed out. */
struct cqe {
	struct shadow *s;
	ssize_t result;
	unsigned flags, buf_id;
};

/* The kernel's side of a provided buffer group: a ring of buffer ids, as
 * io_uring's, and whether the kernel owns each buffer. */
struct cgroup {
	unsigned *ring;
	unsigned head, len;
	bool *kernel;
	uint64_t *sum;
};

struct csim {
	struct completion base;       /* first */
	struct reactor *r;
	struct shadow *first, *last;  /* the registry */
	uint64_t owned_ops;
	struct chandle **handles;
	unsigned nhandles;
	struct cqe *cq;
	size_t cq_head, cq_len, cq_cap;
	struct cgroup groups[COMPLETION_GROUPS];
	uint64_t violations;
	char last_violation[200];
};

static const struct completion_ops sim_ops;

static struct csim *to_csim(struct completion *q)
{
	assert(q->ops == &sim_ops);
	return (struct csim *)q;
}

static const char *kind_name(enum completion_kind k)
{
	switch (k) {
	case COMPLETION_ACCEPT: return "accept";
	case COMPLETION_ACCEPT_MULTISHOT: return "accept-multishot";
	case COMPLETION_CONNECT: return "connect";
	case COMPLETION_RECV: return "recv";
	case COMPLETION_RECV_MULTISHOT: return "recv-multishot";
	case COMPLETION_RECV_SELECT: return "recv-select";
	case COMPLETION_SEND: return "send";
	case COMPLETION_FILE_READ: return "file-read";
	case COMPLETION_FILE_WRITE: return "file-write";
	case COMPLETION_TIMEOUT: return "timeout";
	}
	return "?";
}

/* ---- the strict kernel's checks ------------------------------------------ */

static void violation(struct csim *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(struct csim *q, const char *fmt, ...)
{
	struct sim_core *core = &sim__of(q->r)->core;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->last_violation, sizeof q->last_violation, fmt, ap);
	va_end(ap);
	q->violations++;
	fprintf(stderr, "completion sim: violation at step %llu: %s\n",
		(unsigned long long)core->steps, q->last_violation);
	if (core->trace != NULL)
		fprintf(core->trace, "- %llu violation %s\n",
			(unsigned long long)core->now, q->last_violation);
}

/* XXH3 (libxxhash, as the fanout's checksum): every owned byte is hashed
 * before every step, so this is most of a simulated step's cost; a byte at
 * a time (FNV-1a) made the torture scenarios over this queue ten times
 * slower than their readiness twins. */
static uint64_t checksum(const void *p, size_t n)
{
	return XXH3_64bits(p, n);
}

/* Whether a buffer the kernel owns is as the kernel left it; one violation
 * if not. */
static bool check_owned(struct csim *q, const void *buf, size_t len,
			uint64_t sum, const char *whose)
{
	if (region_freed(buf, len)) {
		violation(q, "%s: buffer freed while the kernel owns it",
			  whose);
		return false;
	}
	if (checksum(buf, len) != sum) {
		violation(q, "%s: buffer changed while the kernel owns it",
			  whose);
		return false;
	}
	return true;
}

/* check_owned() on an op's buffer, which counts one breach once. */
static bool check_shadow(struct csim *q, struct shadow *s)
{
	if (s->op->buf == NULL || s->broken)
		return true;
	if (check_owned(q, s->op->buf, s->op->len, s->sum, s->what))
		return true;
	s->broken = true;
	return false;
}

static bool overlaps(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;

	return x < y + blen && y < x + alen;
}

/* Whether [buf, buf + len) may be given to the kernel by an op that writes
 * into it (writes) or only reads it. */
static bool may_own(struct csim *q, const void *buf, size_t len, bool writes,
		    const char *what)
{
	for (struct shadow *s = q->first; s != NULL; s = s->next) {
		if (s->done || s->op->buf == NULL || (!writes && !s->writes))
			continue;
		if (overlaps(buf, len, s->op->buf, s->op->len)) {
			violation(q, "%s: buffer submitted while the kernel "
				  "owns it (%s)", what, s->what);
			return false;
		}
	}
	for (unsigned g = 0; g < COMPLETION_GROUPS; g++) {
		const struct completion_group *cg = &q->base.groups[g];

		for (unsigned i = 0; i < cg->count; i++) {
			if (q->groups[g].kernel[i] &&
			    overlaps(buf, len, cg->base + i * cg->size,
				     cg->size)) {
				violation(q, "%s: buffer submitted while the "
					  "kernel owns it (provided buffer "
					  "%u of group %u)", what, i, g);
				return false;
			}
		}
	}
	return true;
}

uint64_t completion_sim_check(struct completion *cq)
{
	struct csim *q = to_csim(cq);
	uint64_t before = q->violations;

	for (struct shadow *s = q->first; s != NULL; s = s->next)
		check_shadow(q, s);
	for (unsigned g = 0; g < COMPLETION_GROUPS; g++) {
		const struct completion_group *cg = &q->base.groups[g];
		char whose[48];

		for (unsigned i = 0; i < cg->count; i++) {
			unsigned char *b = cg->base + i * cg->size;

			if (!q->groups[g].kernel[i])
				continue;
			snprintf(whose, sizeof whose,
				 "provided buffer %u of group %u", i, g);
			if (!check_owned(q, b, cg->size, q->groups[g].sum[i],
					 whose))
				q->groups[g].sum[i] = checksum(b, cg->size);
		}
	}
	return q->violations - before;
}

uint64_t completion_sim_violations(const struct completion *cq)
{
	assert(cq->ops == &sim_ops);
	return ((const struct csim *)cq)->violations;
}

const char *completion_sim_last_violation(const struct completion *cq)
{
	const struct csim *q = (const struct csim *)cq;

	assert(cq->ops == &sim_ops);
	return q->violations ? q->last_violation : NULL;
}

void completion_sim_owned(const struct completion *cq, uint64_t *ops,
			  uint64_t *bytes)
{
	const struct csim *q = (const struct csim *)cq;
	uint64_t b = 0;

	assert(cq->ops == &sim_ops);
	for (const struct shadow *s = q->first; s != NULL; s = s->next)
		b += s->op->buf != NULL ? s->op->len : 0;
	for (unsigned g = 0; g < COMPLETION_GROUPS; g++)
		for (unsigned i = 0; i < q->base.groups[g].count; i++)
			if (q->groups[g].kernel[i])
				b += q->base.groups[g].size;
	*ops = q->owned_ops;
	*bytes = b;
}

/* ---- handles: the kernel's watcher and waiting list ---------------------- */

static struct chandle *chandle_get(struct csim *q, int h, bool make)
{
	struct chandle *c;

	if (h < 0)
		return NULL;
	if ((unsigned)h >= q->nhandles) {
		unsigned n = q->nhandles ? q->nhandles : 16;

		if (!make)
			return NULL;
		while (n <= (unsigned)h)
			n *= 2;
		q->handles = xrealloc(q->handles, n * sizeof *q->handles);
		memset(q->handles + q->nhandles, 0,
		       (n - q->nhandles) * sizeof *q->handles);
		q->nhandles = n;
	}
	c = q->handles[h];
	if (c == NULL && make) {
		c = xcalloc(1, sizeof *c);
		c->q = q;
		c->handle = h;
		q->handles[h] = c;
	}
	return c;
}

static void attempt(struct shadow *s);

/* An edge of a handle the kernel waits on: try every waiting op again. */
static void on_edge(struct reactor_io *io, unsigned events)
{
	struct chandle *c = container_of(io, struct chandle, io);
	struct shadow *s = c->first, *next;

	c->first = c->last = NULL;
	for (; s != NULL; s = next) {
		next = s->next_wait;
		s->next_wait = NULL;
		s->waiting = false;
		attempt(s);
	}
}

/* s would block: wait on its handle for an edge. */
static void wait_edge(struct shadow *s)
{
	struct csim *q = s->q;
	struct chandle *c = chandle_get(q, s->op->handle, true);

	s->waiting = true;
	s->next_wait = NULL;
	if (c->last != NULL)
		c->last->next_wait = s;
	else
		c->first = s;
	c->last = s;
	if (!c->io.active) {
		memset(&c->io, 0, sizeof c->io);
		if (reactor_io_start(q->r, &c->io, c->handle, on_edge) < 0)
			abort(); /* the sim refuses only a bad handle */
	}
}

static void unwait(struct shadow *s)
{
	struct chandle *c = chandle_get(s->q, s->op->handle, false);
	struct shadow **pp;

	if (!s->waiting || c == NULL)
		return;
	for (pp = &c->first; *pp != NULL; pp = &(*pp)->next_wait) {
		if (*pp == s) {
			*pp = s->next_wait;
			break;
		}
	}
	c->last = NULL;
	for (struct shadow *t = c->first; t != NULL; t = t->next_wait)
		c->last = t;
	s->waiting = false;
	s->next_wait = NULL;
}

/* ---- completions --------------------------------------------------------- */

static void cq_push(struct csim *q, struct shadow *s, ssize_t result,
		    unsigned flags, unsigned buf_id)
{
	struct cqe *e;

	if (q->cq_len == q->cq_cap) {
		size_t cap = q->cq_cap ? 2 * q->cq_cap : 64;
		struct cqe *n = xmalloc(cap * sizeof *n);

		for (size_t i = 0; i < q->cq_len; i++)
			n[i] = q->cq[(q->cq_head + i) % q->cq_cap];
		free(q->cq);
		q->cq = n;
		q->cq_cap = cap;
		q->cq_head = 0;
	}
	e = &q->cq[(q->cq_head + q->cq_len++) % q->cq_cap];
	e->s = s;
	e->result = result;
	e->flags = flags;
	e->buf_id = buf_id;
}

/* The kernel is done with s: queue its final completion.  What it wrote
 * into the buffer is the owned contents from now until the hand-out. */
static void finish(struct shadow *s, ssize_t result, unsigned flags,
		   unsigned buf_id)
{
	assert(!s->done);
	s->done = true;
	sim_call_cancel(s->q->r, &s->call);
	reactor_timer_stop(s->q->r, &s->timer);
	unwait(s);
	if (s->op->buf != NULL && s->writes && !s->broken)
		s->sum = checksum(s->op->buf, s->op->len);
	cq_push(s->q, s, result, flags & ~COMPLETION_MORE, buf_id);
}

/* ---- the attempt: one op tried on the world ------------------------------ */

/* Read op's stream into the buffer at the head of its group's ring, which
 * is taken from the ring (*id) only if bytes came, as io_uring's ring
 * buffers are.  Returns what reactor_read() returned, or -ENOBUFS with the
 * ring empty. */
static ssize_t read_provided(struct shadow *s, unsigned *id)
{
	struct csim *q = s->q;
	struct completion_op *op = s->op;
	struct cgroup *g = &q->groups[op->group];
	const struct completion_group *cg = &q->base.groups[op->group];
	unsigned char *b;
	ssize_t n;
	char whose[48];

	if (g->len == 0)
		return -ENOBUFS;
	*id = g->ring[g->head];
	b = cg->base + (size_t)*id * cg->size;
	snprintf(whose, sizeof whose, "provided buffer %u of group %u", *id,
		 op->group);
	check_owned(q, b, cg->size, g->sum[*id], whose);
	n = reactor_read(q->r, op->handle, b, cg->size);
	if (n > 0) {
		g->head = (g->head + 1) % cg->count;
		g->len--;
		g->kernel[*id] = false;
	}
	return n;
}

/* A recv from provided buffers: once (select), or until it ends
 * (multishot), each arrival in the buffer read_provided() took. */
static void attempt_recv_provided(struct shadow *s)
{
	bool once = s->op->kind == COMPLETION_RECV_SELECT;

	for (;;) {
		unsigned id = 0;
		ssize_t n = read_provided(s, &id);

		if (n == -EAGAIN) {
			wait_edge(s);
			return;
		}
		if (n <= 0) {
			finish(s, n, 0, 0);
			return;
		}
		if (once) {
			finish(s, n, COMPLETION_BUFFER, id);
			return;
		}
		cq_push(s->q, s, n, COMPLETION_MORE | COMPLETION_BUFFER, id);
	}
}

static void attempt(struct shadow *s)
{
	struct csim *q = s->q;
	struct completion_op *op = s->op;
	ssize_t n;

	if (s->broken) {
		finish(s, -EFAULT, 0, 0);
		return;
	}
	switch (op->kind) {
	case COMPLETION_ACCEPT:
	case COMPLETION_ACCEPT_MULTISHOT:
		for (;;) {
			n = reactor_accept(q->r, op->handle);
			if (n == -EAGAIN) {
				wait_edge(s);
				return;
			}
			if (n < 0 || op->kind == COMPLETION_ACCEPT) {
				finish(s, n, 0, 0);
				return;
			}
			cq_push(q, s, n, COMPLETION_MORE, 0);
		}
	case COMPLETION_CONNECT:
		n = reactor_connect_result(q->r, op->handle);
		if (n == -EINPROGRESS) {
			wait_edge(s);
			return;
		}
		if (n < 0) {
			reactor_close(q->r, op->handle);
			finish(s, n, 0, 0);
		} else {
			finish(s, op->handle, 0, 0);
		}
		return;
	case COMPLETION_RECV:
		n = reactor_read(q->r, op->handle, op->buf, op->len);
		break;
	case COMPLETION_RECV_MULTISHOT:
	case COMPLETION_RECV_SELECT:
		attempt_recv_provided(s);
		return;
	case COMPLETION_SEND:
		n = reactor_write(q->r, op->handle, op->buf, op->len);
		break;
	case COMPLETION_FILE_READ:
		n = reactor_file_pread(q->r, op->handle, op->buf, op->len,
				       op->offset);
		break;
	case COMPLETION_FILE_WRITE:
		n = reactor_file_pwrite(q->r, op->handle, op->buf, op->len,
					op->offset);
		break;
	case COMPLETION_TIMEOUT:
	default:
		abort(); /* a timeout is never attempted: its timer fires */
	}
	if (n == -EAGAIN)
		wait_edge(s);
	else
		finish(s, n, 0, 0);
}

static void on_call(struct sim_call *c)
{
	struct shadow *s = container_of(c, struct shadow, call);

	/* the check runs before the attempt: the buffer as the caller left it */
	check_shadow(s->q, s);
	attempt(s);
}

static void on_timer(struct reactor_timer *t)
{
	finish(container_of(t, struct shadow, timer), 0, 0, 0);
}

/* The cancel step: the op completes with -ECANCELED unless it won. */
static void on_cancel(struct sim_call *c)
{
	struct shadow *s = container_of(c, struct shadow, cancel_call);

	if (s->done)
		return;                /* lost the race */
	if (s->op->kind == COMPLETION_CONNECT)
		reactor_close(s->q->r, s->op->handle);
	finish(s, -ECANCELED, 0, 0);
}

/* ---- submitting ---------------------------------------------------------- */

static int csim_submit(struct completion *cq, struct completion_op *op,
		       const struct sockaddr_in *to)
{
	struct csim *q = to_csim(cq);
	struct shadow *s;
	bool writes = op->kind == COMPLETION_RECV ||
		      op->kind == COMPLETION_FILE_READ;
	char what[48];
	int h;

	snprintf(what, sizeof what, "%s h%d", kind_name(op->kind), op->handle);
	if (op->buf != NULL && !may_own(q, op->buf, op->len, writes, what))
		return -EBUSY;
	if (op->kind == COMPLETION_CONNECT) {
		h = reactor_connect(q->r, "127.0.0.1", ntohs(to->sin_port));
		if (h < 0)
			return h;
		op->handle = h;
		snprintf(what, sizeof what, "connect h%d", h);
	}
	s = xcalloc(1, sizeof *s);
	s->op = op;
	s->q = q;
	s->writes = writes;
	memcpy(s->what, what, sizeof what);
	snprintf(s->cancel_what, sizeof s->cancel_what, "cancel %s", what);
	if (writes)
		memset(op->buf, POISON, op->len);
	if (op->buf != NULL)
		s->sum = checksum(op->buf, op->len);
	s->prev = q->last;
	if (q->last != NULL)
		q->last->next = s;
	else
		q->first = s;
	q->last = s;
	q->owned_ops++;
	op->shadow = s;
	if (op->kind == COMPLETION_TIMEOUT)
		reactor_timer_start(q->r, &s->timer, op->offset, on_timer);
	else
		sim_call_schedule(q->r, &s->call, on_call, s->what);
	return 0;
}

static int csim_cancel(struct completion *cq, struct completion_op *op)
{
	struct csim *q = to_csim(cq);
	struct shadow *s = op->shadow;

	sim_call_schedule(q->r, &s->cancel_call, on_cancel, s->cancel_what);
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static void shadow_free(struct csim *q, struct shadow *s)
{
	sim_call_cancel(q->r, &s->call);
	sim_call_cancel(q->r, &s->cancel_call);
	reactor_timer_stop(q->r, &s->timer);
	unwait(s);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		q->first = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	else
		q->last = s->prev;
	q->owned_ops--;
	s->op->shadow = NULL;
	free(s);
}

static int csim_poll(struct completion *cq, int64_t timeout_ns,
		     struct completion_event *out, unsigned max)
{
	struct csim *q = to_csim(cq);
	unsigned n = 0;
	int rc;

	completion_sim_check(cq);
	if (q->cq_len == 0) {
		q->base.stats.enters++;
		rc = reactor_poll(q->r, timeout_ns);
		if (rc < 0 && q->cq_len == 0)
			return rc;
	}
	while (n < max && q->cq_len > 0) {
		struct cqe e = q->cq[q->cq_head];
		struct completion_op *op = e.s->op;

		q->cq_head = (q->cq_head + 1) % q->cq_cap;
		q->cq_len--;
		if (!(e.flags & COMPLETION_MORE)) {
			check_shadow(q, e.s);
			shadow_free(q, e.s);
		}
		completion__post(cq, op, e.result, e.flags, e.buf_id,
				 &out[n++]);
	}
	return (int)n;
}

/* ---- provided buffers ---------------------------------------------------- */

static int csim_buffers_provide(struct completion *cq, unsigned group,
				void *base, size_t size, unsigned count)
{
	struct csim *q = to_csim(cq);
	struct cgroup *g = &q->groups[group];
	unsigned char *b = base;

	g->ring = xcalloc(count, sizeof *g->ring);
	g->kernel = xcalloc(count, sizeof *g->kernel);
	g->sum = xcalloc(count, sizeof *g->sum);
	for (unsigned i = 0; i < count; i++) {
		memset(b + i * size, POISON, size);
		g->ring[i] = i;
		g->kernel[i] = true;
		g->sum[i] = checksum(b + i * size, size);
	}
	g->head = 0;
	g->len = count;
	return 0;
}

static void csim_buffer_return(struct completion *cq, unsigned group,
			       unsigned id)
{
	struct csim *q = to_csim(cq);
	struct cgroup *g = &q->groups[group];
	const struct completion_group *cg = &cq->groups[group];
	unsigned char *b = cg->base + (size_t)id * cg->size;

	if (g->kernel[id]) {
		violation(q, "provided buffer %u of group %u returned while "
			  "the kernel owns it", id, group);
		return;
	}
	memset(b, POISON, cg->size);
	g->sum[id] = checksum(b, cg->size);
	g->kernel[id] = true;
	g->ring[(g->head + g->len++) % cg->count] = id;
}

/* ---- handles ------------------------------------------------------------- */

static int csim_listen(struct completion *cq, const char *host,
		       uint16_t port, int backlog)
{
	return reactor_listen(to_csim(cq)->r, host, port, backlog);
}

static int csim_local_port(struct completion *cq, int handle)
{
	return reactor_local_port(to_csim(cq)->r, handle);
}

static int csim_file_open(struct completion *cq, const char *path, int flags,
			  int mode)
{
	return reactor_file_open(to_csim(cq)->r, path, flags, mode);
}

static int csim_shutdown_write(struct completion *cq, int handle)
{
	return reactor_shutdown_write(to_csim(cq)->r, handle);
}

static int csim_close(struct completion *cq, int handle)
{
	struct csim *q = to_csim(cq);
	struct chandle *c = chandle_get(q, handle, false);

	for (struct shadow *s = q->first; s != NULL; s = s->next) {
		if (!s->done && s->op->handle == handle &&
		    s->op->kind != COMPLETION_TIMEOUT) {
			violation(q, "handle %d closed while %s is in flight",
				  handle, s->what);
			return -EBUSY;
		}
	}
	if (c != NULL) {
		reactor_io_stop(q->r, &c->io);
		q->handles[handle] = NULL;
		free(c);
	}
	return reactor_close(q->r, handle);
}

/* ---- life ---------------------------------------------------------------- */

struct completion *completion_new_sim(struct reactor *r)
{
	struct csim *q;

	if (r == NULL || !reactor_is_sim(r))
		return NULL;
	q = xcalloc(1, sizeof *q);
	q->base.ops = &sim_ops;
	q->r = r;
	return &q->base;
}

static void csim_free(struct completion *cq)
{
	struct csim *q = to_csim(cq);

	while (q->first != NULL) {
		violation(q, "queue freed while %s is in flight",
			  q->first->what);
		q->first->op->in_flight = false;
		shadow_free(q, q->first);
	}
	for (unsigned h = 0; h < q->nhandles; h++) {
		if (q->handles[h] == NULL)
			continue;
		reactor_io_stop(q->r, &q->handles[h]->io);
		free(q->handles[h]);
	}
	for (unsigned g = 0; g < COMPLETION_GROUPS; g++) {
		free(q->groups[g].ring);
		free(q->groups[g].kernel);
		free(q->groups[g].sum);
	}
	free(q->handles);
	free(q->cq);
	free(q);
}

static bool csim_supports(const struct completion *q,
			  enum completion_feature f)
{
	return true;
}

static const struct completion_ops sim_ops = {
	.name = "sim",
	.free = csim_free,
	.supports = csim_supports,
	.poll = csim_poll,
	.submit = csim_submit,
	.cancel = csim_cancel,
	.buffers_provide = csim_buffers_provide,
	.buffer_return = csim_buffer_return,
	.listen = csim_listen,
	.local_port = csim_local_port,
	.file_open = csim_file_open,
	.shutdown_write = csim_shutdown_write,
	.close = csim_close,
};
