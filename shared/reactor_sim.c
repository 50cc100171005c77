/* reactor_sim.c: the simulated reactor backend (the contract is sim.h).
 *
 * The world.  One struct sim holds everything: a virtual clock, a table of
 * handles (stream ends, listeners, open files), the scripted peers, the
 * in-memory files, and the agenda: every event that is going to happen,
 * sorted by (due time, sequence number).  No thread is ever started and
 * nothing ever blocks: the world moves only when reactor_poll() delivers a
 * step, and between two steps it changes only through calls the engine makes.
 *
 * One step, as sim_poll() takes it:
 *
 *   0. A wakeup since the last poll (reactor_request_stop(), an async send)
 *      makes the timeout 0, as a real wait interrupted at once would.
 *   1. Find t, the earliest due time among the agenda, the timer heap
 *      (reactor.c) and the asyncs (a sent async is due now).
 *   2. Nothing pending anywhere: -EDEADLK if the caller would wait for ever,
 *      else let the timeout pass.  t beyond the timeout: move the clock to
 *      the end of the timeout and return 0.
 *   3. If step k is hooked (sim_at_step), run the hook and go back to 1: it
 *      may have cancelled the event that would have been step k.  It runs
 *      before the clock moves, so it sees the world exactly as step k - 1
 *      left it, as a replay stopped after k - 1 steps does.  If it asked for
 *      a stop, return 0 instead: step k waits for the next poll.
 *   4. Move the clock to t.
 *   5. The candidates are the agenda entries due at t (in sequence order),
 *      then the earliest timer if it is due, then the asyncs if one was
 *      sent.  The PRNG picks ONE of them.
 *   6. Count the step, fold its trace line into the hash, deliver it, and
 *      return the callbacks it ran: 1 for an edge, a timer, an async or a
 *      sim_call; 0 for a peer's action or a connect, which run no engine
 *      code (an engine that polls again simply gets the next step).
 *
 * What is an event.  An io edge for an engine's watcher (at most one pending
 * per watcher: later edges OR their bits into it), an engine connect that
 * completes, a scripted peer's next action, a sim_call.  Timers and asyncs
 * stay where reactor.c keeps them and join the candidates in step 5.
 *
 * The trace: one line per step, "<step> <virtual ns> <what>", where what is
 *   io <handle> <r|-><w|-><h|->     an edge delivered to a watcher
 *   timer | async | call <what>     a timer, an async, a sim_call
 *   connect <handle> <port>|refused an engine's connect step
 *   peer <id> connect <port> | refused <port> | write <n> | read <n> |
 *        shut | reset | eof         a scripted peer's action (ids from 1)
 *
 * Streams, where reactor.h leaves a choice.  Closing never resets: the
 * other end reads what was queued, then end of stream, and its writes say
 * -EPIPE.  Resets come only from peers (the reset fault, or
 * SIM_PEER_RESET_AT_END); they discard what the engine had not read.  A
 * connecting end says -EAGAIN to reads and writes and -EINPROGRESS to
 * reactor_connect_result() until its connect step.  The host of listen and
 * connect is ignored (one address), and so is the backlog (no limit).
 *
 * Determinism.  The PRNG (splitmix64) is seeded from sim_config.seed and
 * nothing else, and is drawn only on the loop thread, at points fixed by the
 * engine's calls and the events delivered.  Nothing iterates over anything
 * ordered by address: the handle table is indexed by handle, peers and files
 * are lists in creation order, accept queues are FIFO, and sequence numbers
 * order events due at the same time before the PRNG picks among them.  The
 * real clock and rand() are never used.
 *
 * Edges follow reactor.h's edge-triggered contract, minimally: a stream end
 * gets READABLE when data arrives in its empty queue or end of stream
 * arrives, WRITABLE when room appears in the full queue it writes to,
 * READABLE|WRITABLE|HANGUP when its peer closes or resets; a listener gets
 * READABLE for each connection queued on it; and reactor_io_start()
 * reports a handle that is ready already, as epoll does on EPOLL_CTL_ADD.
 * So an engine that waits before it has seen -EAGAIN waits for ever (the
 * run ends in -EDEADLK): the simulation is strict where epoll is lenient.
 *
 * Memory.  Plain malloc: the simulation is the test world and must neither
 * show in the mem counters nor fail when the engine's allocations are made
 * to fail.  If malloc itself fails the simulation aborts: a lost event
 * would make the run silently wrong.  File contents, whose size the caller
 * chooses, fail with -ENOMEM instead.
 *
 * Costs.  The agenda is a sorted array: insertion is a binary search and a
 * memmove (events usually go to the end: they are due now and get the
 * largest sequence number), removal a memmove.  A heap would make removal
 * O(log n), but picking among all the events due at t wants them in order.
 * A new handle takes the lowest free slot, found by a scan, as POSIX does for
 * descriptors.  Ports are found by scanning the table.  All linear, all
 * small in the worlds tests and the harness build.
 */
#include "reactor_impl.h"
#include "sim.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	SIM_LISTEN_PORT_BASE = 40000,    /* listen(port 0): lowest free from */
	SIM_EPHEMERAL_PORT_BASE = 50000, /* connecting ends get 50000... */
	SIM_PORT_MAX = 65535,
};

/* When a sim_call is due, drawn by the PRNG: half the time now, among the
 * io events due now, else 1..SIM_CALL_SPREAD_NS later, after all of them.
 * So from one seed to the next an offload step comes before, among or after
 * the io steps around it. */
#define SIM_CALL_SPREAD_NS 1000u

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

/* ---- the objects of the world -------------------------------------------- */

/* A place on the agenda, embedded in the object the event concerns.  Two
 * states: idle (scheduled false), or on the agenda under (due, seq). */
struct sim_sched {
	bool scheduled;
	uint64_t due;
	uint64_t seq;
};

enum sim_event_kind {
	EV_EDGE,    /* an edge for an engine watcher; target: struct sim_obj */
	EV_CONNECT, /* an engine's connect completes; target: struct sim_end */
	EV_PEER,    /* a scripted peer acts; target: struct sim_peer */
	EV_CALL,    /* a sim_call runs; target: struct sim_call */
};

struct sim_event {
	uint64_t due;
	uint64_t seq;             /* unique: (due, seq) names the entry */
	enum sim_event_kind kind;
	void *target;
};

/* A ring buffer of at most cap bytes: one direction of a stream.  Its
 * storage (size bytes) grows as data comes, so an idle stream costs
 * nothing. */
struct sim_queue {
	unsigned char *buf;
	size_t size, cap, head, len;
};

enum sim_kind { SIM_END, SIM_LISTENER, SIM_FILE };

/* What every handle is.  Stream ends and listeners may have one engine
 * watcher; its pending edge, if any, is `edge`, with the bits collected
 * since it was scheduled in edge_bits. */
struct sim_obj {
	enum sim_kind kind;
	int handle;               /* index in the table, or -1 when not in it */
	struct reactor_io *io;    /* the engine's watcher, or NULL */
	unsigned edge_bits;
	struct sim_sched edge;
};

/* One end of a stream.  Its states, and who owns it in each:
 *
 *   connecting   an engine's reactor_connect() before its connect step:
 *                in the table, connected false, peer is the server end,
 *                which it alone owns until then.
 *   pending      the server end of a connection, queued on a listener,
 *                not yet accepted: owned by the listener, handle -1.
 *   open         in the table (the engine's), or owned by a scripted peer
 *                (owner set, handle -1).
 *
 * `in` holds the bytes written by the peer end and not yet read.  When the
 * peer end shuts down writing or closes, in_eof is set: end of stream after
 * the data.  When it closes, peer becomes NULL and writes fail with -EPIPE.
 * A reset sets error (-ECONNRESET), empties `in` and clears peer; a refused
 * connect sets error to -ECONNREFUSED.  Every read and write then returns
 * error (a write after one's own shutdown says -EPIPE first). */
struct sim_end {
	struct sim_obj obj;
	struct sim_end *peer;
	struct sim_peer *owner;   /* the scripted peer that owns it, or NULL */
	struct sim_queue in;
	bool in_eof;
	bool shut_wr;             /* this end shut down writing */
	bool connected;           /* false only while connecting */
	int connect_result;       /* 0 or -ECONNREFUSED, once connected */
	int error;
	uint16_t port;            /* local port; 0 for sim_stream_pair() ends */
	uint16_t remote_port;     /* where a connecting end connects to */
	struct sim_sched connect; /* the connect step, while connecting */
	struct sim_end *next;     /* the accept queue, while pending */
};

struct sim_listener {
	struct sim_obj obj;
	uint16_t port;
	struct sim_end *first, *last;  /* pending connections, oldest first */
};

/* An in-memory file: lives until reactor_free(). */
struct sim_file {
	struct sim_file *next;    /* sim.files, in creation order */
	char *path;
	unsigned char *data;
	size_t len;
};

struct sim_open_file {
	struct sim_obj obj;
	struct sim_file *file;
	int accmode;              /* O_RDONLY, O_WRONLY or O_RDWR */
};

/* A scripted peer.  Its states:
 *
 *   CONNECTING  until its first action (the connect step), end NULL.
 *   OPEN        it owns `end`, whose peer is the server end on the listener
 *               (later the engine's accepted handle).
 *   DONE        refused, reset, or it read end of stream (one that never
 *               reads: saw the engine close): end freed, NULL.
 *
 * While OPEN it acts, one action per step, whenever it can: write a piece
 * of its script, read what arrived, shut down writing or reset after the
 * script, notice end of stream.  Its action event is on the agenda exactly
 * when it can act (peer_kick()), so it never takes an idle step. */
enum peer_state { PEER_CONNECTING, PEER_OPEN, PEER_DONE };

struct sim_peer {
	struct sim_peer *next;    /* sim.peers, in creation order */
	unsigned id;              /* creation number, for the trace */
	uint16_t port;
	unsigned flags;           /* SIM_PEER_* */
	enum peer_state state;
	unsigned char *script;
	size_t len;
	size_t limit;             /* bytes it sends: len, or less (early_eof) */
	size_t reset_at;          /* resets after sending it; SIZE_MAX: never */
	size_t sent;              /* bytes the engine's side accepted */
	bool shut;                /* it shut down writing */
	unsigned char *recv;
	size_t recv_len, recv_cap;
	struct sim_end *end;
	int error;
	struct sim_sched act;     /* its next action */
};

struct sim {
	struct reactor base;      /* first: a reactor * is a sim * */
	struct sim_config cfg;
	uint64_t now;             /* virtual time, ns */
	uint64_t rng;             /* splitmix64 state */
	uint64_t steps;
	uint64_t hash;            /* FNV-1a over every trace line */
	FILE *trace;
	int woken;                /* wakeup(): atomic, any thread, signals */

	struct sim_event *agenda; /* sorted by (due, seq) */
	size_t nagenda, agenda_cap;
	uint64_t next_seq;

	uint64_t hook_step;       /* 0: no hook */
	void (*hook)(void *arg);
	void *hook_arg;

	struct sim_obj **table;   /* handle -> object, NULL when free */
	unsigned table_len, open_handles;
	uint16_t next_ephemeral_port;

	struct sim_peer *peers, *last_peer;
	unsigned npeers;
	struct sim_file *files, *last_file;
};

static const struct reactor_ops sim_ops;

static struct sim *to_sim(struct reactor *r)
{
	assert(r->ops == &sim_ops && "not a simulated reactor");
	return (struct sim *)r;
}

static const struct sim *to_csim(const struct reactor *r)
{
	assert(r->ops == &sim_ops && "not a simulated reactor");
	return (const struct sim *)r;
}

/* Out of memory the simulation aborts (see Memory above). */
static void *must(void *p)
{
	if (p == NULL) {
		fputs("reactor_sim: out of memory\n", stderr);
		abort();
	}
	return p;
}

#define xmalloc(n) must(malloc(n))
#define xcalloc(n, size) must(calloc((n), (size)))
#define xrealloc(old, n) must(realloc((old), (n)))

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- the seeded choices -------------------------------------------------- */

static uint64_t rng_next(struct sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* 0..n-1.  A choice of one draws nothing.  (The modulo bias is below 2^-40
 * for the n used here, and it is the same for every replay.) */
static uint64_t rng_below(struct sim *s, uint64_t n)
{
	return n <= 1 ? 0 : rng_next(s) % n;
}

/* true with a chance of permille/1000.  Rates of 0 and 1000 draw nothing. */
static bool rng_chance(struct sim *s, unsigned permille)
{
	if (permille == 0)
		return false;
	if (permille >= 1000)
		return true;
	return rng_next(s) % 1000 < permille;
}

/* The delay fault: how much later than due an event is scheduled. */
static uint64_t fault_delay(struct sim *s)
{
	if (s->cfg.max_delay_ns == 0 || !rng_chance(s, s->cfg.delay))
		return 0;
	return 1 + rng_below(s, s->cfg.max_delay_ns);
}

/* The short_io fault: of the k bytes an operation could move, move 1..k-1. */
static size_t fault_short(struct sim *s, size_t k)
{
	if (k < 2 || !rng_chance(s, s->cfg.short_io))
		return k;
	return 1 + (size_t)rng_below(s, k - 1);
}

/* ---- the agenda ---------------------------------------------------------- */

static bool event_before(uint64_t due_a, uint64_t seq_a, uint64_t due_b,
			 uint64_t seq_b)
{
	return due_a != due_b ? due_a < due_b : seq_a < seq_b;
}

/* Index of the first entry not before (due, seq). */
static size_t agenda_lower_bound(const struct sim *s, uint64_t due,
				 uint64_t seq)
{
	size_t lo = 0, hi = s->nagenda;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (event_before(s->agenda[mid].due, s->agenda[mid].seq, due,
				 seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Put an event on the agenda; returns its sequence number. */
static uint64_t agenda_insert(struct sim *s, enum sim_event_kind kind,
			      void *target, uint64_t due)
{
	uint64_t seq = s->next_seq++;
	size_t i;

	if (s->nagenda == s->agenda_cap) {
		s->agenda_cap = s->agenda_cap ? 2 * s->agenda_cap : 64;
		s->agenda = xrealloc(s->agenda,
				     s->agenda_cap * sizeof(*s->agenda));
	}
	i = agenda_lower_bound(s, due, seq);
	memmove(&s->agenda[i + 1], &s->agenda[i],
		(s->nagenda - i) * sizeof(*s->agenda));
	s->agenda[i] = (struct sim_event){
		.due = due, .seq = seq, .kind = kind, .target = target,
	};
	s->nagenda++;
	return seq;
}

static void agenda_delete_at(struct sim *s, size_t i)
{
	memmove(&s->agenda[i], &s->agenda[i + 1],
		(s->nagenda - i - 1) * sizeof(*s->agenda));
	s->nagenda--;
}

static void agenda_remove(struct sim *s, uint64_t due, uint64_t seq)
{
	size_t i = agenda_lower_bound(s, due, seq);

	assert(i < s->nagenda && s->agenda[i].seq == seq);
	agenda_delete_at(s, i);
}

/* Schedule kind/target delay ns from now, recording its place in sc. */
static void sched_start(struct sim *s, struct sim_sched *sc,
			enum sim_event_kind kind, void *target,
			uint64_t delay)
{
	assert(!sc->scheduled);
	sc->due = delay > UINT64_MAX - s->now ? UINT64_MAX : s->now + delay;
	sc->seq = agenda_insert(s, kind, target, sc->due);
	sc->scheduled = true;
}

static void sched_stop(struct sim *s, struct sim_sched *sc)
{
	if (!sc->scheduled)
		return;
	agenda_remove(s, sc->due, sc->seq);
	sc->scheduled = false;
}

/* ---- the trace ----------------------------------------------------------- */

/* Count a step and record "<step> <time> <what...>": into the hash, and
 * into the trace file if one is set. */
static void step_record(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void step_record(struct sim *s, const char *fmt, ...)
{
	char line[256];
	int n;
	va_list ap;

	s->steps++;
	n = snprintf(line, sizeof(line), "%llu %llu ",
		     (unsigned long long)s->steps, (unsigned long long)s->now);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		s->hash ^= *p;
		s->hash *= FNV_PRIME;
	}
	if (s->trace != NULL)
		fputs(line, s->trace);
}

static const char *bits_name(unsigned bits)
{
	static const char *const names[8] = {
		"---", "r--", "-w-", "rw-", "--h", "r-h", "-wh", "rwh",
	};
	return names[bits & 7];
}

/* ---- the handle table ---------------------------------------------------- */

static struct sim_obj *table_get(const struct sim *s, int h)
{
	if (h < 0 || (unsigned)h >= s->table_len)
		return NULL;
	return s->table[h];
}

/* The lowest free handle, or -EMFILE.  O(open handles). */
static int table_alloc(struct sim *s)
{
	unsigned h, len;

	if (s->open_handles >= s->cfg.max_handles)
		return -EMFILE;
	for (h = 0; h < s->table_len; h++)
		if (s->table[h] == NULL)
			return (int)h;
	len = s->table_len ? 2 * s->table_len : 16;
	if (len > s->cfg.max_handles)
		len = s->cfg.max_handles;
	s->table = xrealloc(s->table, len * sizeof(*s->table));
	memset(&s->table[s->table_len], 0,
	       (len - s->table_len) * sizeof(*s->table));
	h = s->table_len;
	s->table_len = len;
	return (int)h;
}

static void table_set(struct sim *s, int h, struct sim_obj *o)
{
	s->table[h] = o;
	o->handle = h;
	s->open_handles++;
}

static void table_clear(struct sim *s, struct sim_obj *o)
{
	s->table[o->handle] = NULL;
	o->handle = -1;
	s->open_handles--;
}

static struct sim_end *table_end(const struct sim *s, int h)
{
	struct sim_obj *o = table_get(s, h);

	return o != NULL && o->kind == SIM_END ? (struct sim_end *)o : NULL;
}

static struct sim_listener *find_listener(const struct sim *s, uint16_t port)
{
	for (unsigned h = 0; h < s->table_len; h++) {
		struct sim_obj *o = s->table[h];
		if (o != NULL && o->kind == SIM_LISTENER &&
		    ((struct sim_listener *)o)->port == port)
			return (struct sim_listener *)o;
	}
	return NULL;
}

/* ---- edges --------------------------------------------------------------- */

/* o became ready in the directions of bits: give its watcher an edge.  No
 * watcher, no edge: reactor_io_start() looks at the level instead. */
static void obj_edge(struct sim *s, struct sim_obj *o, unsigned bits)
{
	if (o->io == NULL)
		return;
	o->edge_bits |= bits;
	if (!o->edge.scheduled)
		sched_start(s, &o->edge, EV_EDGE, o, fault_delay(s));
}

static void peer_kick(struct sim *s, struct sim_peer *p);

/* Tell whoever uses end e that it became ready. */
static void end_notify(struct sim *s, struct sim_end *e, unsigned bits)
{
	if (e->owner != NULL)
		peer_kick(s, e->owner);
	else
		obj_edge(s, &e->obj, bits);
}

/* ---- streams ------------------------------------------------------------- */

static size_t queue_pop(struct sim_queue *q, void *out, size_t n)
{
	unsigned char *p = out;
	size_t done = 0;

	n = min_size(n, q->len);
	while (done < n) {
		size_t k = min_size(n - done, q->size - q->head);
		memcpy(p + done, q->buf + q->head, k);
		q->head = (q->head + k) % q->size;
		q->len -= k;
		done += k;
	}
	return done;
}

/* Make room for `need` bytes in all: double the storage (at most cap), and
 * lay the queued bytes out from the start of the new one. */
static void queue_grow(struct sim_queue *q, size_t need)
{
	size_t size = q->size ? q->size : 256;
	unsigned char *buf;
	size_t len = q->len;

	while (size < need)
		size *= 2;
	size = min_size(size, q->cap);
	buf = xmalloc(size);
	queue_pop(q, buf, len);
	free(q->buf);
	q->buf = buf;
	q->size = size;
	q->head = 0;
	q->len = len;
}

static size_t queue_push(struct sim_queue *q, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t done = 0;

	n = min_size(n, q->cap - q->len);
	if (q->len + n > q->size)
		queue_grow(q, q->len + n);
	while (done < n) {
		size_t tail = (q->head + q->len) % q->size;
		size_t k = min_size(n - done, q->size - tail);
		memcpy(q->buf + tail, p + done, k);
		q->len += k;
		done += k;
	}
	return done;
}

static struct sim_end *end_new(struct sim *s)
{
	struct sim_end *e = xcalloc(1, sizeof(*e));

	e->obj.kind = SIM_END;
	e->obj.handle = -1;
	e->connected = true;
	e->in.cap = s->cfg.stream_capacity;
	return e;
}

/* Two connected ends, not yet anywhere. */
static void end_pair(struct sim *s, struct sim_end **a, struct sim_end **b)
{
	*a = end_new(s);
	*b = end_new(s);
	(*a)->peer = *b;
	(*b)->peer = *a;
}

/* Room in the queue e writes to (0 once the peer end is gone). */
static size_t end_room(const struct sim_end *e)
{
	return e->peer != NULL ? e->peer->in.cap - e->peer->in.len : 0;
}

/* Move k bytes (k <= room) from `from` into its peer's queue. */
static void pipe_send(struct sim *s, struct sim_end *from, const void *buf,
		      size_t k)
{
	struct sim_end *to = from->peer;
	bool was_empty = to->in.len == 0;

	queue_push(&to->in, buf, k);
	if (was_empty)
		end_notify(s, to, REACTOR_READABLE);
}

/* Take k bytes (k <= queued) out of e's queue. */
static void pipe_recv(struct sim *s, struct sim_end *e, void *buf, size_t k)
{
	bool was_full = e->in.len == e->in.cap;

	queue_pop(&e->in, buf, k);
	if (was_full && e->peer != NULL)
		end_notify(s, e->peer, REACTOR_WRITABLE);
}

/* Free an end that nothing refers to any more. */
static void end_free(struct sim *s, struct sim_end *e)
{
	sched_stop(s, &e->obj.edge);
	sched_stop(s, &e->connect);
	free(e->in.buf);
	free(e);
}

/* Close e: its peer end reads end of stream after what is queued, and its
 * writes fail with -EPIPE.  A connecting end takes its server end, which
 * nobody else knows yet, with it. */
static void end_close(struct sim *s, struct sim_end *e)
{
	struct sim_end *p = e->peer;

	if (p != NULL && !e->connected) {
		end_free(s, p);
	} else if (p != NULL) {
		p->peer = NULL;
		p->in_eof = true;
		end_notify(s, p, REACTOR_READABLE | REACTOR_WRITABLE |
			   REACTOR_HANGUP);
	}
	end_free(s, e);
}

/* Reset e's connection from e's side: the peer end loses what it had not
 * read, and its reads and writes say -ECONNRESET.  Frees e. */
static void end_reset(struct sim *s, struct sim_end *e)
{
	struct sim_end *p = e->peer;

	if (p != NULL) {
		p->peer = NULL;
		p->error = -ECONNRESET;
		p->in.len = 0;
		end_notify(s, p, REACTOR_READABLE | REACTOR_WRITABLE |
			   REACTOR_HANGUP);
	}
	end_free(s, e);
}

/* The bits an end is ready for now, as epoll reports on EPOLL_CTL_ADD. */
static unsigned end_level(const struct sim_end *e)
{
	unsigned bits = 0;

	if (!e->connected)
		return 0;
	if (e->error != 0)
		return REACTOR_READABLE | REACTOR_WRITABLE | REACTOR_HANGUP;
	if (e->in.len > 0 || e->in_eof)
		bits |= REACTOR_READABLE;
	if (e->peer == NULL)
		bits |= REACTOR_WRITABLE | REACTOR_HANGUP;
	else if (e->shut_wr || end_room(e) > 0)
		bits |= REACTOR_WRITABLE;
	return bits;
}

static void listener_enqueue(struct sim_listener *l, struct sim_end *e)
{
	e->next = NULL;
	if (l->last != NULL)
		l->last->next = e;
	else
		l->first = e;
	l->last = e;
}

static struct sim_end *listener_dequeue(struct sim_listener *l)
{
	struct sim_end *e = l->first;

	if (e != NULL) {
		l->first = e->next;
		if (l->first == NULL)
			l->last = NULL;
		e->next = NULL;
	}
	return e;
}

static bool port_taken(const struct sim *s, uint16_t port)
{
	return find_listener(s, port) != NULL;
}

static uint16_t ephemeral_port(struct sim *s)
{
	uint16_t p = s->next_ephemeral_port;

	s->next_ephemeral_port = p == SIM_PORT_MAX ? SIM_EPHEMERAL_PORT_BASE
						   : p + 1;
	return p;
}

/* ---- the reactor_ops: life and the loop ---------------------------------- */

static void sim_destroy(struct reactor *r)
{
	struct sim *s = to_sim(r);

	while (s->peers != NULL) {
		struct sim_peer *p = s->peers;
		s->peers = p->next;
		if (p->end != NULL)
			end_free(s, p->end);
		free(p->script);
		free(p->recv);
		free(p);
	}
	for (unsigned h = 0; h < s->table_len; h++) {
		struct sim_obj *o = s->table[h];
		if (o == NULL)
			continue;
		if (o->kind == SIM_END) {
			struct sim_end *e = (struct sim_end *)o;
			if (!e->connected && e->peer != NULL)
				end_free(s, e->peer);
			end_free(s, e);
		} else if (o->kind == SIM_LISTENER) {
			struct sim_listener *l = (struct sim_listener *)o;
			struct sim_end *e;
			while ((e = listener_dequeue(l)) != NULL)
				end_free(s, e);
			free(l);
		} else {
			free(o);
		}
	}
	while (s->files != NULL) {
		struct sim_file *f = s->files;
		s->files = f->next;
		free(f->path);
		free(f->data);
		free(f);
	}
	free(s->table);
	free(s->agenda);
	free(s);
}

static uint64_t sim_now(const struct reactor *r)
{
	return ((const struct sim *)r)->now;
}

/* Async-signal-safe and thread-safe: one atomic store.  The next poll then
 * behaves as if its timeout were 0: it delivers what is due now and never
 * moves the clock, as a real wait interrupted at once would. */
static void sim_wakeup(struct reactor *r)
{
	__atomic_store_n(&((struct sim *)r)->woken, 1, __ATOMIC_RELEASE);
}

static bool woken_take(struct sim *s)
{
	return __atomic_exchange_n(&s->woken, 0, __ATOMIC_ACQ_REL) != 0;
}

/* Step 1: the earliest due time, UINT64_MAX when nothing is pending. */
static uint64_t next_due(const struct sim *s)
{
	uint64_t t = reactor__timer_next(&s->base);

	if (s->nagenda > 0 && s->agenda[0].due < t)
		t = s->agenda[0].due;
	if (reactor__asyncs_pending(&s->base) && s->now < t)
		t = s->now;
	return t;
}

static void peer_act(struct sim *s, struct sim_peer *p);
static void connect_complete(struct sim *s, struct sim_end *e);

/* Deliver one agenda event (already taken off the agenda). */
static int deliver_event(struct sim *s, const struct sim_event *ev)
{
	switch (ev->kind) {
	case EV_EDGE: {
		struct sim_obj *o = ev->target;
		struct reactor_io *io = o->io;
		unsigned bits = o->edge_bits;

		o->edge.scheduled = false;
		o->edge_bits = 0;
		step_record(s, "io %d %s", o->handle, bits_name(bits));
		io->cb(io, bits); /* may stop io, close the handle, free both */
		return 1;
	}
	case EV_CONNECT: {
		struct sim_end *e = ev->target;

		e->connect.scheduled = false;
		connect_complete(s, e);
		return 0;
	}
	case EV_PEER: {
		struct sim_peer *p = ev->target;

		p->act.scheduled = false;
		peer_act(s, p);
		return 0;
	}
	case EV_CALL: {
		struct sim_call *c = ev->target;

		c->scheduled = false;
		step_record(s, "call %s", c->what != NULL ? c->what : "-");
		c->fn(c); /* may free c, or schedule it again */
		return 1;
	}
	}
	abort();
}

/* One async per step: the first sent one in the reactor's list. */
static int deliver_async(struct sim *s)
{
	for (struct reactor_async *a = s->base.asyncs; a != NULL; a = a->next) {
		if (__atomic_exchange_n(&a->pending, 0, __ATOMIC_ACQ_REL)) {
			step_record(s, "async");
			a->cb(a);
			return 1;
		}
	}
	return 0;
}

/* Steps 5 and 6: pick one candidate due at t and deliver it. */
static int deliver_one(struct sim *s, uint64_t t)
{
	size_t nev = 0, n, i;
	bool timer, async;

	while (nev < s->nagenda && s->agenda[nev].due <= t)
		nev++;
	timer = reactor__timer_next(&s->base) <= t;
	async = reactor__asyncs_pending(&s->base) != 0;
	n = nev + (timer ? 1 : 0) + (async ? 1 : 0);
	i = (size_t)rng_below(s, n);
	if (i < nev) {
		struct sim_event ev = s->agenda[i];
		agenda_delete_at(s, i);
		return deliver_event(s, &ev);
	}
	if (timer && i == nev) {
		step_record(s, "timer");
		return reactor__timers_run(&s->base, s->now, 1);
	}
	return deliver_async(s);
}

static int sim_poll(struct reactor *r, int64_t timeout_ns)
{
	struct sim *s = to_sim(r);
	uint64_t limit, t;

	if (woken_take(s))
		timeout_ns = 0;
	if (timeout_ns < 0)
		limit = UINT64_MAX;
	else if ((uint64_t)timeout_ns > UINT64_MAX - s->now)
		limit = UINT64_MAX - 1;
	else
		limit = s->now + (uint64_t)timeout_ns;
again:
	t = next_due(s);                                    /* 1 */
	if (t == UINT64_MAX && timeout_ns < 0)              /* 2 */
		return -EDEADLK;
	if (t > limit) {
		s->now = limit;
		return 0;
	}
	if (s->hook != NULL && s->steps + 1 == s->hook_step) { /* 3 */
		void (*hook)(void *) = s->hook;
		s->hook = NULL;
		s->hook_step = 0;
		hook(s->hook_arg);
		if (woken_take(s)) /* a stop was asked: return before step k */
			return 0;
		goto again;
	}
	if (t > s->now)                                     /* 4 */
		s->now = t;
	return deliver_one(s, t);                           /* 5, 6 */
}

/* ---- io watchers --------------------------------------------------------- */

static int sim_io_start(struct reactor *r, struct reactor_io *io)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = table_get(s, io->handle);
	unsigned bits = 0;

	if (o == NULL)
		return -EBADF;
	if (o->kind == SIM_FILE)
		return -EPERM; /* as epoll says for a regular file */
	if (o->io != NULL)
		return -EEXIST;
	o->io = io;
	if (o->kind == SIM_END)
		bits = end_level((struct sim_end *)o);
	else if (((struct sim_listener *)o)->first != NULL)
		bits = REACTOR_READABLE;
	if (bits != 0)
		obj_edge(s, o, bits);
	return 0;
}

static void sim_io_stop(struct reactor *r, struct reactor_io *io)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = table_get(s, io->handle);

	if (o == NULL || o->io != io)
		return;
	sched_stop(s, &o->edge);
	o->edge_bits = 0;
	o->io = NULL;
}

/* ---- streams: listen, accept, connect ------------------------------------ */

/* The host is not looked at: the simulation has one address.  The backlog
 * is not enforced: the accept queue has no limit. */
static int sim_listen(struct reactor *r, const char *host, uint16_t port,
		      int backlog)
{
	struct sim *s = to_sim(r);
	struct sim_listener *l;
	int h;

	if (port == 0) { /* the lowest free one from the base up */
		unsigned p = SIM_LISTEN_PORT_BASE;
		while (p <= SIM_PORT_MAX && port_taken(s, (uint16_t)p))
			p++;
		if (p > SIM_PORT_MAX)
			return -EADDRINUSE;
		port = (uint16_t)p;
	} else if (port_taken(s, port)) {
		return -EADDRINUSE;
	}
	h = table_alloc(s);
	if (h < 0)
		return h;
	l = xcalloc(1, sizeof(*l));
	l->obj.kind = SIM_LISTENER;
	l->port = port;
	table_set(s, h, &l->obj);
	return h;
}

static int sim_local_port(struct reactor *r, int handle)
{
	struct sim_obj *o = table_get(to_sim(r), handle);

	if (o == NULL)
		return -EBADF;
	if (o->kind == SIM_LISTENER)
		return ((struct sim_listener *)o)->port;
	if (o->kind == SIM_END && ((struct sim_end *)o)->port != 0)
		return ((struct sim_end *)o)->port;
	return -EINVAL;
}

/* Out of handles, the pending connection is closed at once: its peer reads
 * end of stream, and the listener does not stay readable because of it. */
static int sim_accept(struct reactor *r, int listener)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = table_get(s, listener);
	struct sim_listener *l = (struct sim_listener *)o;
	struct sim_end *e;
	int h;

	if (o == NULL)
		return -EBADF;
	if (o->kind != SIM_LISTENER)
		return -EINVAL;
	if (l->first == NULL)
		return -EAGAIN;
	h = table_alloc(s);
	e = listener_dequeue(l);
	if (h < 0) {
		end_close(s, e);
		return h;
	}
	table_set(s, h, &e->obj);
	return h;
}

/* The connection is made at the connect step, not here: whether a listener
 * exists is decided then. */
static int sim_connect(struct reactor *r, const char *host, uint16_t port)
{
	struct sim *s = to_sim(r);
	struct sim_end *e, *server;
	int h = table_alloc(s);

	if (h < 0)
		return h;
	end_pair(s, &e, &server);
	e->connected = false;
	e->port = ephemeral_port(s);
	e->remote_port = port;
	server->port = port;
	table_set(s, h, &e->obj);
	sched_start(s, &e->connect, EV_CONNECT, e, fault_delay(s));
	return h;
}

/* The connect step of an engine's connecting end e. */
static void connect_complete(struct sim *s, struct sim_end *e)
{
	struct sim_listener *l = find_listener(s, e->remote_port);

	e->connected = true;
	if (l == NULL) {
		end_free(s, e->peer);
		e->peer = NULL;
		e->connect_result = e->error = -ECONNREFUSED;
		step_record(s, "connect %d refused", e->obj.handle);
		obj_edge(s, &e->obj, REACTOR_READABLE | REACTOR_WRITABLE |
			 REACTOR_HANGUP);
		return;
	}
	listener_enqueue(l, e->peer);
	step_record(s, "connect %d %u", e->obj.handle, (unsigned)l->port);
	obj_edge(s, &l->obj, REACTOR_READABLE);
	obj_edge(s, &e->obj, REACTOR_WRITABLE);
}

static int sim_connect_result(struct reactor *r, int handle)
{
	struct sim_end *e = table_end(to_sim(r), handle);

	if (e == NULL)
		return -EBADF;
	return e->connected ? e->connect_result : -EINPROGRESS;
}

/* ---- streams: read, write, shutdown, close ------------------------------- */

static ssize_t sim_read(struct reactor *r, int handle, void *buf, size_t n)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = table_end(s, handle);
	size_t k;

	if (e == NULL)
		return table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	if (!e->connected)
		return -EAGAIN;
	if (e->error != 0)
		return e->error;
	if (n == 0)
		return 0;
	if (e->in.len == 0)
		return e->in_eof ? 0 : -EAGAIN;
	if (rng_chance(s, s->cfg.eagain)) {
		obj_edge(s, &e->obj, REACTOR_READABLE); /* no wake-up lost */
		return -EAGAIN;
	}
	k = fault_short(s, min_size(n, e->in.len));
	pipe_recv(s, e, buf, k);
	return (ssize_t)k;
}

static ssize_t sim_write(struct reactor *r, int handle, const void *buf,
			 size_t n)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = table_end(s, handle);
	size_t k;

	if (e == NULL)
		return table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	if (!e->connected)
		return -EAGAIN;
	if (e->shut_wr)
		return -EPIPE;
	if (e->error != 0)
		return e->error;
	if (e->peer == NULL)
		return -EPIPE;
	if (n == 0)
		return 0;
	if (end_room(e) == 0)
		return -EAGAIN;
	if (rng_chance(s, s->cfg.eagain)) {
		obj_edge(s, &e->obj, REACTOR_WRITABLE); /* no wake-up lost */
		return -EAGAIN;
	}
	k = fault_short(s, min_size(n, end_room(e)));
	pipe_send(s, e, buf, k);
	return (ssize_t)k;
}

static int sim_shutdown_write(struct reactor *r, int handle)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = table_end(s, handle);

	if (e == NULL)
		return table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	if (!e->connected)
		return -ENOTCONN;
	if (e->shut_wr)
		return 0;
	e->shut_wr = true;
	if (e->peer != NULL) {
		e->peer->in_eof = true;
		end_notify(s, e->peer, REACTOR_READABLE);
	}
	return 0;
}

/* Closes any handle, stream, listener or file, as close(2) does.  A watched
 * handle is refused (-EBUSY): its watcher must be stopped first. */
static int sim_close(struct reactor *r, int handle)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = table_get(s, handle);

	if (o == NULL)
		return -EBADF;
	if (o->io != NULL)
		return -EBUSY;
	table_clear(s, o);
	if (o->kind == SIM_END) {
		end_close(s, (struct sim_end *)o);
	} else if (o->kind == SIM_LISTENER) {
		struct sim_listener *l = (struct sim_listener *)o;
		struct sim_end *e;
		while ((e = listener_dequeue(l)) != NULL)
			end_close(s, e);
		free(l);
	} else {
		free(o);
	}
	return 0;
}

/* ---- in-memory files ----------------------------------------------------- */
/* Files are never shortened by faults: a regular file read is short only at
 * its end.  Every call is made on the loop thread (offload runs jobs there
 * under sim), so no lock is needed. */

static struct sim_file *file_find(const struct sim *s, const char *path)
{
	for (struct sim_file *f = s->files; f != NULL; f = f->next)
		if (strcmp(f->path, path) == 0)
			return f;
	return NULL;
}

static struct sim_file *file_new(struct sim *s, const char *path)
{
	struct sim_file *f = xcalloc(1, sizeof(*f));
	size_t n = strlen(path) + 1;

	f->path = xmalloc(n);
	memcpy(f->path, path, n);
	if (s->last_file != NULL)
		s->last_file->next = f;
	else
		s->files = f;
	s->last_file = f;
	return f;
}

/* Make f exactly len bytes long, zero-filling what grows. */
static int file_resize(struct sim_file *f, size_t len)
{
	if (len > f->len) {
		unsigned char *d = realloc(f->data, len);
		if (d == NULL)
			return -ENOMEM;
		memset(d + f->len, 0, len - f->len);
		f->data = d;
	}
	f->len = len;
	return 0;
}

static struct sim_open_file *table_file(const struct sim *s, int h)
{
	struct sim_obj *o = table_get(s, h);

	return o != NULL && o->kind == SIM_FILE ? (struct sim_open_file *)o
						: NULL;
}

/* O_CREAT creates a missing file (else -ENOENT), O_EXCL with it refuses an
 * existing one (-EEXIST), O_TRUNC empties it; the access mode is enforced
 * by pread and pwrite (-EBADF).  mode is not looked at. */
static int sim_file_open(struct reactor *r, const char *path, int flags,
			 int mode)
{
	struct sim *s = to_sim(r);
	struct sim_file *f = file_find(s, path);
	struct sim_open_file *of;
	int h;

	if (f == NULL && !(flags & O_CREAT))
		return -ENOENT;
	if (f != NULL && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	h = table_alloc(s); /* first, as open(2) does: no file on -EMFILE */
	if (h < 0)
		return h;
	if (f == NULL)
		f = file_new(s, path);
	if (flags & O_TRUNC)
		f->len = 0;
	of = xcalloc(1, sizeof(*of));
	of->obj.kind = SIM_FILE;
	of->file = f;
	of->accmode = flags & O_ACCMODE;
	table_set(s, h, &of->obj);
	return h;
}

static ssize_t sim_file_pread(struct reactor *r, int handle, void *buf,
			      size_t n, uint64_t offset)
{
	struct sim_open_file *of = table_file(to_sim(r), handle);
	struct sim_file *f;
	size_t k;

	if (of == NULL || of->accmode == O_WRONLY)
		return -EBADF;
	f = of->file;
	if (offset >= f->len)
		return 0;
	k = min_size(n, f->len - (size_t)offset);
	memcpy(buf, f->data + offset, k);
	return (ssize_t)k;
}

static ssize_t sim_file_pwrite(struct reactor *r, int handle, const void *buf,
			       size_t n, uint64_t offset)
{
	struct sim_open_file *of = table_file(to_sim(r), handle);
	struct sim_file *f;
	int err;

	if (of == NULL || of->accmode == O_RDONLY)
		return -EBADF;
	if (n == 0)
		return 0;
	f = of->file;
	if (offset > SIZE_MAX - n)
		return -EFBIG;
	if (offset + n > f->len) {
		err = file_resize(f, (size_t)offset + n);
		if (err < 0)
			return err;
	}
	memcpy(f->data + offset, buf, n);
	return (ssize_t)n;
}

static int64_t sim_file_size(struct reactor *r, int handle)
{
	struct sim_open_file *of = table_file(to_sim(r), handle);

	return of != NULL ? (int64_t)of->file->len : -EBADF;
}

static int sim_file_close(struct reactor *r, int handle)
{
	return sim_close(r, handle);
}

static const struct reactor_ops sim_ops = {
	.name = "sim",
	.destroy = sim_destroy,
	.now = sim_now,
	.poll = sim_poll,
	.wakeup = sim_wakeup,
	.io_start = sim_io_start,
	.io_stop = sim_io_stop,
	.listen = sim_listen,
	.local_port = sim_local_port,
	.accept = sim_accept,
	.connect = sim_connect,
	.connect_result = sim_connect_result,
	.read = sim_read,
	.write = sim_write,
	.shutdown_write = sim_shutdown_write,
	.close = sim_close,
	.file_open = sim_file_open,
	.file_pread = sim_file_pread,
	.file_pwrite = sim_file_pwrite,
	.file_size = sim_file_size,
	.file_close = sim_file_close,
};

/* ---- scripted peers ------------------------------------------------------ */

enum peer_action {
	ACT_CONNECT,  /* connect to the port (or be refused) */
	ACT_WRITE,    /* send a piece of the script */
	ACT_READ,     /* take what arrived */
	ACT_SHUT,     /* shut down writing after the script */
	ACT_RESET,    /* reset the connection */
	ACT_EOF,      /* notice end of stream: close and finish */
	ACT_COUNT,
};

/* Where it stops writing: at its limit, or earlier to reset. */
static size_t peer_stop_at(const struct sim_peer *p)
{
	return p->reset_at < p->limit ? p->reset_at : p->limit;
}

/* What p can do now, into opts; returns how many. */
static unsigned peer_options(const struct sim_peer *p,
			     enum peer_action opts[ACT_COUNT])
{
	const struct sim_end *e = p->end;
	unsigned n = 0;

	if (p->state == PEER_CONNECTING) {
		opts[n++] = ACT_CONNECT;
		return n;
	}
	if (p->state != PEER_OPEN)
		return 0;
	if (!p->shut && p->sent < peer_stop_at(p) && end_room(e) > 0)
		opts[n++] = ACT_WRITE;
	if (p->reset_at != SIZE_MAX && p->sent >= p->reset_at)
		opts[n++] = ACT_RESET;
	if (p->reset_at == SIZE_MAX && !p->shut && p->sent == p->limit &&
	    ((p->flags & SIM_PEER_HALF_CLOSE) || p->limit < p->len))
		opts[n++] = ACT_SHUT;
	if (!(p->flags & SIM_PEER_NO_READ)) {
		if (e->in.len > 0)
			opts[n++] = ACT_READ;
		else if (e->in_eof)
			opts[n++] = ACT_EOF;
	} else if (e->peer == NULL) {
		opts[n++] = ACT_EOF; /* it reads nothing, but sees the close */
	}
	return n;
}

/* Put p's next action on the agenda if it has something to do. */
static void peer_kick(struct sim *s, struct sim_peer *p)
{
	enum peer_action opts[ACT_COUNT];

	if (!p->act.scheduled && peer_options(p, opts) > 0)
		sched_start(s, &p->act, EV_PEER, p, fault_delay(s));
}

static void peer_finish(struct sim_peer *p, int error)
{
	p->end = NULL;
	p->state = PEER_DONE;
	p->error = error;
}

static void peer_connect_now(struct sim *s, struct sim_peer *p)
{
	struct sim_listener *l = find_listener(s, p->port);
	struct sim_end *server;

	if (l == NULL) {
		step_record(s, "peer %u refused %u", p->id, (unsigned)p->port);
		peer_finish(p, -ECONNREFUSED);
		return;
	}
	end_pair(s, &p->end, &server);
	p->end->owner = p;
	p->end->port = ephemeral_port(s);
	server->port = p->port;
	p->state = PEER_OPEN;
	listener_enqueue(l, server);
	step_record(s, "peer %u connect %u", p->id, (unsigned)p->port);
	obj_edge(s, &l->obj, REACTOR_READABLE);
}

static void peer_read(struct sim *s, struct sim_peer *p)
{
	size_t k = fault_short(s, p->end->in.len);

	if (p->recv_cap - p->recv_len < k) {
		size_t cap = p->recv_cap ? p->recv_cap : 256;
		while (cap - p->recv_len < k)
			cap *= 2;
		p->recv = xrealloc(p->recv, cap);
		p->recv_cap = cap;
	}
	pipe_recv(s, p->end, p->recv + p->recv_len, k);
	p->recv_len += k;
	step_record(s, "peer %u read %zu", p->id, k);
}

/* One step of peer p: one of the things it can do, chosen by the PRNG. */
static void peer_act(struct sim *s, struct sim_peer *p)
{
	enum peer_action opts[ACT_COUNT];
	unsigned n = peer_options(p, opts);
	size_t k;

	if (n == 0) { /* cannot happen: kicked only when it can act */
		step_record(s, "peer %u idle", p->id);
		return;
	}
	switch (opts[rng_below(s, n)]) {
	case ACT_CONNECT:
		peer_connect_now(s, p);
		break;
	case ACT_WRITE:
		k = min_size(peer_stop_at(p) - p->sent, end_room(p->end));
		k = 1 + (size_t)rng_below(s, k);
		pipe_send(s, p->end, p->script + p->sent, k);
		p->sent += k;
		step_record(s, "peer %u write %zu", p->id, k);
		break;
	case ACT_READ:
		peer_read(s, p);
		break;
	case ACT_SHUT:
		p->shut = true;
		if (p->end->peer != NULL) {
			p->end->peer->in_eof = true;
			end_notify(s, p->end->peer, REACTOR_READABLE);
		}
		step_record(s, "peer %u shut", p->id);
		break;
	case ACT_RESET:
		end_reset(s, p->end);
		peer_finish(p, -ECONNRESET);
		step_record(s, "peer %u reset", p->id);
		break;
	case ACT_EOF:
		end_close(s, p->end);
		peer_finish(p, 0);
		step_record(s, "peer %u eof", p->id);
		break;
	case ACT_COUNT:
		abort();
	}
	if (p->state != PEER_DONE)
		peer_kick(s, p);
}

/* The peer's faults are planned here, with the PRNG: early_eof cuts its
 * script at a random point (it half-closes there), reset makes it reset
 * after a random part of what it sends.  Each is one chance per peer. */
struct sim_peer *sim_peer_connect(struct reactor *r, uint16_t port,
				  const void *data, size_t len,
				  unsigned flags)
{
	struct sim *s = to_sim(r);
	struct sim_peer *p = xcalloc(1, sizeof(*p));

	p->id = ++s->npeers;
	p->port = port;
	p->flags = flags;
	p->state = PEER_CONNECTING;
	p->len = len;
	p->script = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(p->script, data, len);
	p->limit = len;
	if (len > 0 && rng_chance(s, s->cfg.early_eof))
		p->limit = (size_t)rng_below(s, len);
	p->reset_at = SIZE_MAX;
	if (rng_chance(s, s->cfg.reset))
		p->reset_at = (size_t)rng_below(s, p->limit + 1);
	else if (flags & SIM_PEER_RESET_AT_END)
		p->reset_at = p->limit;
	if (s->last_peer != NULL)
		s->last_peer->next = p;
	else
		s->peers = p;
	s->last_peer = p;
	peer_kick(s, p); /* its connect step */
	return p;
}

const void *sim_peer_received(const struct sim_peer *p, size_t *len)
{
	*len = p->recv_len;
	return p->recv != NULL ? (const void *)p->recv : (const void *)"";
}

size_t sim_peer_sent(const struct sim_peer *p)
{
	return p->sent;
}

bool sim_peer_finished(const struct sim_peer *p)
{
	return p->state == PEER_DONE;
}

int sim_peer_error(const struct sim_peer *p)
{
	return p->error;
}

/* ---- public: configuration, life, the trace ------------------------------ */

void sim_config_default(struct sim_config *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->max_delay_ns = 1000000;
	c->stream_capacity = 64 * 1024;
	c->max_handles = 4096;
}

void sim_config_faulty(struct sim_config *c, uint64_t seed)
{
	sim_config_default(c, seed);
	c->short_io = 200;
	c->eagain = 100;
	c->delay = 100;
	c->reset = 100;
	c->early_eof = 100;
}

struct reactor *reactor_new_sim(const struct sim_config *c)
{
	struct sim *s;

	if (c == NULL || c->stream_capacity == 0) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	reactor__init(&s->base, &sim_ops);
	s->cfg = *c;
	s->rng = c->seed;
	s->hash = FNV_OFFSET;
	s->next_ephemeral_port = SIM_EPHEMERAL_PORT_BASE;
	return &s->base;
}

uint64_t sim_steps(const struct reactor *r)
{
	return to_csim(r)->steps;
}

uint64_t sim_trace_hash(const struct reactor *r)
{
	return to_csim(r)->hash;
}

void sim_trace_to(struct reactor *r, FILE *f)
{
	to_sim(r)->trace = f;
}

void sim_at_step(struct reactor *r, uint64_t k, void (*hook)(void *arg),
		 void *arg)
{
	struct sim *s = to_sim(r);

	s->hook_step = hook != NULL ? k : 0;
	s->hook = k != 0 ? hook : NULL;
	s->hook_arg = arg;
}

/* ---- public: streams and files ------------------------------------------- */

int sim_stream_pair(struct reactor *r, int handles[2])
{
	struct sim *s = to_sim(r);
	struct sim_end *a, *b;
	int h0, h1;

	if (s->open_handles + 2 > s->cfg.max_handles)
		return -EMFILE;
	end_pair(s, &a, &b);
	h0 = table_alloc(s);
	table_set(s, h0, &a->obj);
	h1 = table_alloc(s);
	table_set(s, h1, &b->obj);
	handles[0] = h0;
	handles[1] = h1;
	return 0;
}

int sim_file_create(struct reactor *r, const char *path, const void *data,
		    size_t len)
{
	struct sim *s = to_sim(r);
	struct sim_file *f = file_find(s, path);
	int err;

	if (f == NULL)
		f = file_new(s, path);
	f->len = 0;
	err = file_resize(f, len);
	if (err < 0)
		return err;
	if (len > 0)
		memcpy(f->data, data, len);
	return 0;
}

const void *sim_file_contents(struct reactor *r, const char *path,
			      size_t *len)
{
	struct sim_file *f = file_find(to_sim(r), path);

	if (f == NULL)
		return NULL;
	*len = f->len;
	return f->data != NULL ? (const void *)f->data : (const void *)"";
}

/* ---- public: scheduled calls --------------------------------------------- */

void sim_call_schedule(struct reactor *r, struct sim_call *c,
		       void (*fn)(struct sim_call *c), const char *what)
{
	struct sim *s = to_sim(r);

	sim_call_cancel(r, c);
	c->fn = fn;
	c->what = what;
	c->due = s->now + fault_delay(s);
	if (rng_chance(s, 500))
		c->due += 1 + rng_below(s, SIM_CALL_SPREAD_NS);
	c->seq = agenda_insert(s, EV_CALL, c, c->due);
	c->scheduled = true;
}

/* The call's private fields are trusted only if the agenda agrees: a call
 * that was never scheduled and not zeroed cannot match an entry, because an
 * entry's target is the call itself. */
void sim_call_cancel(struct reactor *r, struct sim_call *c)
{
	struct sim *s = to_sim(r);
	size_t i;

	if (c->scheduled) {
		i = agenda_lower_bound(s, c->due, c->seq);
		if (i < s->nagenda && s->agenda[i].seq == c->seq &&
		    s->agenda[i].target == c)
			agenda_delete_at(s, i);
	}
	c->scheduled = false;
}
