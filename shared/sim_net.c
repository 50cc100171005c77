/* sim_net.c: the simulated network: the handle table, stream ends and their
 * queues, listeners and edges (the world is sim_impl.h).
 *
 * Streams, where reactor.h leaves a choice.  Closing never resets: the
 * other end reads what was queued, then end of stream, and its writes say
 * -EPIPE.  Resets come only from peers (the reset fault, or
 * SIM_PEER_RESET_AT_END); they discard what the engine had not read.  A
 * connecting end says -EAGAIN to reads and writes and -EINPROGRESS to
 * reactor_connect_result() until its connect step.  The host of listen and
 * connect is ignored (one address), and so is the backlog (no limit).
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
 * Costs.  A new handle takes the lowest free slot, found by a scan, as POSIX
 * does for descriptors.  Ports are found by scanning the table.  Both
 * linear, both small in the worlds tests and the harness build.
 */
#include "sim_impl.h"

#include <errno.h>
#include <string.h>

/* ---- the handle table ---------------------------------------------------- */

struct sim_obj *sim__table_get(const struct sim *s, int h)
{
	if (h < 0 || (unsigned)h >= s->table_len)
		return NULL;
	return s->table[h];
}

/* The free handles below table_used, as a binary min-heap; each level a
 * handle moves is one probe. */
static void free_push(struct sim *s, unsigned h)
{
	unsigned i;

	if (s->nfree == s->free_cap) {
		s->free_cap = s->free_cap ? 2 * s->free_cap : 16;
		s->free_heap = xrealloc(s->free_heap,
					s->free_cap * sizeof(*s->free_heap));
	}
	for (i = s->nfree++; i > 0; i = (i - 1) / 2) {
		unsigned up = (i - 1) / 2;
		s->table_probes++;
		if (s->free_heap[up] <= h)
			break;
		s->free_heap[i] = s->free_heap[up];
	}
	s->free_heap[i] = h;
}

static unsigned free_pop(struct sim *s)
{
	unsigned min = s->free_heap[0], last = s->free_heap[--s->nfree];
	unsigned i = 0;

	for (;;) {
		unsigned c = 2 * i + 1;
		s->table_probes++;
		if (c >= s->nfree)
			break;
		if (c + 1 < s->nfree && s->free_heap[c + 1] < s->free_heap[c])
			c++;
		if (last <= s->free_heap[c])
			break;
		s->free_heap[i] = s->free_heap[c];
		i = c;
	}
	if (s->nfree > 0)
		s->free_heap[i] = last;
	return min;
}

/* The lowest free handle, as open(2) gives: the least of the freed ones
 * if there is one (all of them lie below table_used), else table_used. */
int sim__table_alloc(struct sim *s)
{
	unsigned len;

	if (s->open_handles >= s->core.cfg.max_handles)
		return -EMFILE;
	if (s->nfree > 0)
		return (int)free_pop(s);
	s->table_probes++;
	if (s->table_used == s->table_len) {
		len = s->table_len ? 2 * s->table_len : 16;
		if (len > s->core.cfg.max_handles)
			len = s->core.cfg.max_handles;
		s->table = xrealloc(s->table, len * sizeof(*s->table));
		memset(&s->table[s->table_len], 0,
		       (len - s->table_len) * sizeof(*s->table));
		s->table_len = len;
	}
	return (int)s->table_used++;
}

uint64_t sim_handle_probes(const struct reactor *r)
{
	return ((const struct sim *)r)->table_probes;
}

void sim__table_set(struct sim *s, int h, struct sim_obj *o)
{
	s->table[h] = o;
	o->handle = h;
	s->open_handles++;
}

void sim__table_clear(struct sim *s, struct sim_obj *o)
{
	s->table[o->handle] = NULL;
	free_push(s, (unsigned)o->handle);
	o->handle = -1;
	s->open_handles--;
}

struct sim_end *sim__table_end(const struct sim *s, int h)
{
	struct sim_obj *o = sim__table_get(s, h);

	return o != NULL && o->kind == SIM_END ? (struct sim_end *)o : NULL;
}

struct sim_listener *sim__find_listener(const struct sim *s, uint16_t port)
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

/* No watcher, no edge: reactor_io_start() looks at the level instead. */
void sim__obj_edge(struct sim *s, struct sim_obj *o, unsigned bits)
{
	if (o->io == NULL)
		return;
	o->edge_bits |= bits;
	if (!o->edge.scheduled)
		sim__sched_start(&s->core, &o->edge, SIM_EV_EDGE, o,
				 sim__fault_delay(&s->core));
}

void sim__end_notify(struct sim *s, struct sim_end *e, unsigned bits)
{
	if (e->owner != NULL)
		sim__peer_kick(s, e->owner);
	else
		sim__obj_edge(s, &e->obj, bits);
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
	e->in.cap = s->core.cfg.stream_capacity;
	return e;
}

void sim__end_pair(struct sim *s, struct sim_end **a, struct sim_end **b)
{
	*a = end_new(s);
	*b = end_new(s);
	(*a)->peer = *b;
	(*b)->peer = *a;
}

size_t sim__end_room(const struct sim_end *e)
{
	return e->peer != NULL ? e->peer->in.cap - e->peer->in.len : 0;
}

void sim__pipe_send(struct sim *s, struct sim_end *from, const void *buf,
		    size_t k)
{
	struct sim_end *to = from->peer;
	bool was_empty = to->in.len == 0;

	queue_push(&to->in, buf, k);
	if (was_empty)
		sim__end_notify(s, to, REACTOR_READABLE);
}

void sim__pipe_recv(struct sim *s, struct sim_end *e, void *buf, size_t k)
{
	bool was_full = e->in.len == e->in.cap;

	queue_pop(&e->in, buf, k);
	if (was_full && e->peer != NULL)
		sim__end_notify(s, e->peer, REACTOR_WRITABLE);
}

void sim__end_free(struct sim *s, struct sim_end *e)
{
	sim__sched_stop(&s->core, &e->obj.edge);
	sim__sched_stop(&s->core, &e->connect);
	free(e->in.buf);
	free(e);
}

/* Its peer end's writes fail with -EPIPE.  A connecting end takes its server
 * end, which nobody else knows yet, with it. */
void sim__end_close(struct sim *s, struct sim_end *e)
{
	struct sim_end *p = e->peer;

	if (p != NULL && !e->connected) {
		sim__end_free(s, p);
	} else if (p != NULL) {
		p->peer = NULL;
		p->in_eof = true;
		sim__end_notify(s, p, REACTOR_READABLE | REACTOR_WRITABLE |
				REACTOR_HANGUP);
	}
	sim__end_free(s, e);
}

/* The peer end loses what it had not read, and its reads and writes say
 * -ECONNRESET. */
void sim__end_reset(struct sim *s, struct sim_end *e)
{
	struct sim_end *p = e->peer;

	if (p != NULL) {
		p->peer = NULL;
		p->error = -ECONNRESET;
		p->in.len = 0;
		sim__end_notify(s, p, REACTOR_READABLE | REACTOR_WRITABLE |
				REACTOR_HANGUP);
	}
	sim__end_free(s, e);
}

unsigned sim__end_level(const struct sim_end *e)
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
	else if (e->shut_wr || sim__end_room(e) > 0)
		bits |= REACTOR_WRITABLE;
	return bits;
}

ssize_t sim__end_read(struct sim *s, struct sim_end *e, void *buf, size_t n)
{
	size_t k;

	if (!e->connected)
		return -EAGAIN;
	if (e->error != 0)
		return e->error;
	if (n == 0)
		return 0;
	if (e->in.len == 0)
		return e->in_eof ? 0 : -EAGAIN;
	if (sim__rng_chance(&s->core, s->core.cfg.eagain)) {
		sim__obj_edge(s, &e->obj, REACTOR_READABLE); /* no wake-up lost */
		return -EAGAIN;
	}
	k = sim__fault_short(&s->core, min_size(n, e->in.len));
	sim__pipe_recv(s, e, buf, k);
	return (ssize_t)k;
}

ssize_t sim__end_write(struct sim *s, struct sim_end *e, const void *buf,
		       size_t n)
{
	size_t k;

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
	if (sim__end_room(e) == 0)
		return -EAGAIN;
	if (sim__rng_chance(&s->core, s->core.cfg.eagain)) {
		sim__obj_edge(s, &e->obj, REACTOR_WRITABLE); /* no wake-up lost */
		return -EAGAIN;
	}
	k = sim__fault_short(&s->core, min_size(n, sim__end_room(e)));
	sim__pipe_send(s, e, buf, k);
	return (ssize_t)k;
}

int sim__end_shutdown_write(struct sim *s, struct sim_end *e)
{
	if (!e->connected)
		return -ENOTCONN;
	if (e->shut_wr)
		return 0;
	e->shut_wr = true;
	if (e->peer != NULL) {
		e->peer->in_eof = true;
		sim__end_notify(s, e->peer, REACTOR_READABLE);
	}
	return 0;
}

/* ---- listeners and connections ------------------------------------------- */

void sim__listener_enqueue(struct sim_listener *l, struct sim_end *e)
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
	return sim__find_listener(s, port) != NULL;
}

uint16_t sim__ephemeral_port(struct sim *s)
{
	uint16_t p = s->next_ephemeral_port;

	s->next_ephemeral_port = p == SIM_PORT_MAX ? SIM_EPHEMERAL_PORT_BASE
						   : p + 1;
	return p;
}

int sim__listener_open(struct sim *s, uint16_t port)
{
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
	h = sim__table_alloc(s);
	if (h < 0)
		return h;
	l = xcalloc(1, sizeof(*l));
	l->obj.kind = SIM_LISTENER;
	l->port = port;
	sim__table_set(s, h, &l->obj);
	return h;
}

/* Out of handles, the pending connection is closed at once: its peer reads
 * end of stream, and the listener does not stay readable because of it. */
int sim__listener_accept(struct sim *s, struct sim_listener *l)
{
	struct sim_end *e;
	int h;

	if (l->first == NULL)
		return -EAGAIN;
	h = sim__table_alloc(s);
	e = listener_dequeue(l);
	if (h < 0) {
		sim__end_close(s, e);
		return h;
	}
	sim__table_set(s, h, &e->obj);
	return h;
}

/* The connection is made at the connect step, not here: whether a listener
 * exists is decided then. */
int sim__end_connect(struct sim *s, uint16_t port)
{
	struct sim_end *e, *server;
	int h = sim__table_alloc(s);

	if (h < 0)
		return h;
	sim__end_pair(s, &e, &server);
	e->connected = false;
	e->port = sim__ephemeral_port(s);
	e->remote_port = port;
	server->port = port;
	sim__table_set(s, h, &e->obj);
	sim__sched_start(&s->core, &e->connect, SIM_EV_CONNECT, e,
			 sim__fault_delay(&s->core));
	return h;
}

/* The connect step of an engine's connecting end e. */
void sim__connect_complete(struct sim *s, struct sim_end *e)
{
	struct sim_listener *l = sim__find_listener(s, e->remote_port);

	e->connect.scheduled = false;
	e->connected = true;
	if (l == NULL) {
		sim__end_free(s, e->peer);
		e->peer = NULL;
		e->connect_result = e->error = -ECONNREFUSED;
		sim__step_record(&s->core, "connect %d refused", e->obj.handle);
		sim__obj_edge(s, &e->obj, REACTOR_READABLE | REACTOR_WRITABLE |
			      REACTOR_HANGUP);
		return;
	}
	sim__listener_enqueue(l, e->peer);
	sim__step_record(&s->core, "connect %d %u", e->obj.handle,
			 (unsigned)l->port);
	sim__obj_edge(s, &l->obj, REACTOR_READABLE);
	sim__obj_edge(s, &e->obj, REACTOR_WRITABLE);
}

/* ---- closing and freeing ------------------------------------------------- */

/* An open file owns nothing but its struct: the file outlives it. */
void sim__handle_close(struct sim *s, struct sim_obj *o)
{
	sim__table_clear(s, o);
	if (o->kind == SIM_END) {
		sim__end_close(s, (struct sim_end *)o);
	} else if (o->kind == SIM_LISTENER) {
		struct sim_listener *l = (struct sim_listener *)o;
		struct sim_end *e;
		while ((e = listener_dequeue(l)) != NULL)
			sim__end_close(s, e);
		free(l);
	} else {
		free(o);
	}
}

void sim__table_free(struct sim *s)
{
	for (unsigned h = 0; h < s->table_len; h++) {
		struct sim_obj *o = s->table[h];
		if (o == NULL)
			continue;
		if (o->kind == SIM_END) {
			struct sim_end *e = (struct sim_end *)o;
			if (!e->connected && e->peer != NULL)
				sim__end_free(s, e->peer);
			sim__end_free(s, e);
		} else if (o->kind == SIM_LISTENER) {
			struct sim_listener *l = (struct sim_listener *)o;
			struct sim_end *e;
			while ((e = listener_dequeue(l)) != NULL)
				sim__end_free(s, e);
			free(l);
		} else {
			free(o);
		}
	}
	free(s->table);
	free(s->free_heap);
}

/* ---- public: stream pairs ------------------------------------------------ */

int sim_stream_pair(struct reactor *r, int handles[2])
{
	struct sim *s = sim__of(r);
	struct sim_end *a, *b;
	int h0, h1;

	if (s->open_handles + 2 > s->core.cfg.max_handles)
		return -EMFILE;
	sim__end_pair(s, &a, &b);
	h0 = sim__table_alloc(s);
	sim__table_set(s, h0, &a->obj);
	h1 = sim__table_alloc(s);
	sim__table_set(s, h1, &b->obj);
	handles[0] = h0;
	handles[1] = h1;
	return 0;
}
