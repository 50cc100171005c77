/* sim_peer.c: scripted peers, the clients that live inside the simulation
 * (the contract is sim.h; the world is sim_impl.h).
 *
 * A peer owns one stream end, like the engine's but with owner set, and
 * acts through the network's stream calls.  Its actions are steps like any
 * other event, and which action it takes, and how much it writes, is drawn
 * from the core's random source.
 */
#include "sim_impl.h"

#include <errno.h>
#include <string.h>

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
 * when it can act (sim__peer_kick()), so it never takes an idle step. */
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
	if (!p->shut && p->sent < peer_stop_at(p) && sim__end_room(e) > 0)
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

void sim__peer_kick(struct sim *s, struct sim_peer *p)
{
	enum peer_action opts[ACT_COUNT];

	if (!p->act.scheduled && peer_options(p, opts) > 0)
		sim__sched_start(&s->core, &p->act, SIM_EV_PEER, p,
				 sim__fault_delay(&s->core));
}

static void peer_finish(struct sim_peer *p, int error)
{
	p->end = NULL;
	p->state = PEER_DONE;
	p->error = error;
}

static void peer_connect_now(struct sim *s, struct sim_peer *p)
{
	struct sim_listener *l = sim__find_listener(s, p->port);
	struct sim_end *server;

	if (l == NULL) {
		sim__step_record(&s->core, "peer %u refused %u", p->id,
				 (unsigned)p->port);
		peer_finish(p, -ECONNREFUSED);
		return;
	}
	sim__end_pair(s, &p->end, &server);
	p->end->owner = p;
	p->end->port = sim__ephemeral_port(s);
	server->port = p->port;
	p->state = PEER_OPEN;
	sim__listener_enqueue(l, server);
	sim__step_record(&s->core, "peer %u connect %u", p->id,
			 (unsigned)p->port);
	sim__obj_edge(s, &l->obj, REACTOR_READABLE);
}

static void peer_read(struct sim *s, struct sim_peer *p)
{
	size_t k = sim__fault_short(&s->core, p->end->in.len);

	if (p->recv_cap - p->recv_len < k) {
		size_t cap = p->recv_cap ? p->recv_cap : 256;
		while (cap - p->recv_len < k)
			cap *= 2;
		p->recv = xrealloc(p->recv, cap);
		p->recv_cap = cap;
	}
	sim__pipe_recv(s, p->end, p->recv + p->recv_len, k);
	p->recv_len += k;
	sim__step_record(&s->core, "peer %u read %zu", p->id, k);
}

/* One step of peer p: one of the things it can do, chosen by the PRNG. */
void sim__peer_act(struct sim *s, struct sim_peer *p)
{
	enum peer_action opts[ACT_COUNT];
	unsigned n;
	size_t k;

	p->act.scheduled = false;
	n = peer_options(p, opts);
	if (n == 0) { /* cannot happen: kicked only when it can act */
		sim__step_record(&s->core, "peer %u idle", p->id);
		return;
	}
	switch (opts[sim__rng_below(&s->core, n)]) {
	case ACT_CONNECT:
		peer_connect_now(s, p);
		break;
	case ACT_WRITE:
		k = min_size(peer_stop_at(p) - p->sent, sim__end_room(p->end));
		k = 1 + (size_t)sim__rng_below(&s->core, k);
		sim__pipe_send(s, p->end, p->script + p->sent, k);
		p->sent += k;
		sim__step_record(&s->core, "peer %u write %zu", p->id, k);
		break;
	case ACT_READ:
		peer_read(s, p);
		break;
	case ACT_SHUT:
		p->shut = true;
		if (p->end->peer != NULL) {
			p->end->peer->in_eof = true;
			sim__end_notify(s, p->end->peer, REACTOR_READABLE);
		}
		sim__step_record(&s->core, "peer %u shut", p->id);
		break;
	case ACT_RESET:
		sim__end_reset(s, p->end);
		peer_finish(p, -ECONNRESET);
		sim__step_record(&s->core, "peer %u reset", p->id);
		break;
	case ACT_EOF:
		sim__end_close(s, p->end);
		peer_finish(p, 0);
		sim__step_record(&s->core, "peer %u eof", p->id);
		break;
	case ACT_COUNT:
		abort();
	}
	if (p->state != PEER_DONE)
		sim__peer_kick(s, p);
}

void sim__peers_free(struct sim *s)
{
	while (s->peers != NULL) {
		struct sim_peer *p = s->peers;
		s->peers = p->next;
		if (p->end != NULL)
			sim__end_free(s, p->end);
		free(p->script);
		free(p->recv);
		free(p);
	}
}

/* ---- public ---------------------------------------------------------------- */

/* The peer's faults are planned here, with the PRNG: early_eof cuts its
 * script at a random point (it half-closes there), reset makes it reset
 * after a random part of what it sends.  Each is one chance per peer. */
struct sim_peer *sim_peer_connect(struct reactor *r, uint16_t port,
				  const void *data, size_t len,
				  unsigned flags)
{
	struct sim *s = sim__of(r);
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
	if (len > 0 && sim__rng_chance(&s->core, s->core.cfg.early_eof))
		p->limit = (size_t)sim__rng_below(&s->core, len);
	p->reset_at = SIZE_MAX;
	if (sim__rng_chance(&s->core, s->core.cfg.reset))
		p->reset_at = (size_t)sim__rng_below(&s->core, p->limit + 1);
	else if (flags & SIM_PEER_RESET_AT_END)
		p->reset_at = p->limit;
	if (s->last_peer != NULL)
		s->last_peer->next = p;
	else
		s->peers = p;
	s->last_peer = p;
	sim__peer_kick(s, p); /* its connect step */
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
