/* reactor_sim.c: the simulated reactor backend (the contract is sim.h).
 *
 * The reactor's operations on the simulated world (sim_impl.h): each looks
 * up the handle it is given and hands the call to the part of the world it
 * concerns, the network (sim_net.c) or the files (sim_file.c).  What is
 * left here is the one thing that is the backend's own: the step, which
 * picks among the events of the core's agenda (sim_core.c) and the timers
 * and asyncs of reactor.c, and delivers one.
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
 *   7. Batches (sim_config.batch): with that chance, if the next event is
 *      due within max_delay_ns and the poll's timeout, and step k + 1 is not
 *      hooked (the hook must see the world between polls), go back to 4 and
 *      deliver it in the same poll.  The callbacks of every step add up.
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
 */
#include "sim_impl.h"

#include <assert.h>
#include <errno.h>

/* When a sim_call is due, drawn by the PRNG: half the time now, among the
 * io events due now, else 1..SIM_CALL_SPREAD_NS later, after all of them.
 * So from one seed to the next an offload step comes before, among or after
 * the io steps around it. */
#define SIM_CALL_SPREAD_NS 1000u

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

struct sim *sim__of(struct reactor *r)
{
	return to_sim(r);
}

/* ---- the reactor_ops: life and the loop ---------------------------------- */

static void sim_destroy(struct reactor *r)
{
	struct sim *s = to_sim(r);

	sim__peers_free(s);
	sim__table_free(s);
	sim__files_free(s);
	sim__core_fini(&s->core);
	free(s);
}

static uint64_t sim_now(const struct reactor *r)
{
	return ((const struct sim *)r)->core.now;
}

/* Async-signal-safe and thread-safe: one atomic store.  The next poll then
 * behaves as if its timeout were 0: it delivers what is due now and never
 * moves the clock, as a real wait interrupted at once would. */
static void sim_wakeup(struct reactor *r)
{
	sim__wakeup(&((struct sim *)r)->core);
}

/* Step 1: the earliest due time, UINT64_MAX when nothing is pending. */
static uint64_t next_due(const struct sim *s)
{
	uint64_t t = reactor__timer_next(&s->base);

	if (s->core.nagenda > 0 && s->core.agenda[0].due < t)
		t = s->core.agenda[0].due;
	if (reactor__asyncs_pending(&s->base) && s->core.now < t)
		t = s->core.now;
	return t;
}

static const char *bits_name(unsigned bits)
{
	static const char *const names[8] = {
		"---", "r--", "-w-", "rw-", "--h", "r-h", "-wh", "rwh",
	};
	return names[bits & 7];
}

/* Deliver one agenda event (already taken off the agenda). */
static int deliver_event(struct sim *s, const struct sim_event *ev)
{
	switch ((enum sim_event_kind)ev->kind) {
	case SIM_EV_EDGE: {
		struct sim_obj *o = ev->target;
		struct reactor_io *io = o->io;
		unsigned bits = o->edge_bits;

		o->edge.scheduled = false;
		o->edge_bits = 0;
		sim__step_record(&s->core, "io %d %s", o->handle,
				 bits_name(bits));
		io->cb(io, bits); /* may stop io, close the handle, free both */
		return 1;
	}
	case SIM_EV_CONNECT:
		sim__connect_complete(s, ev->target);
		return 0;
	case SIM_EV_PEER:
		sim__peer_act(s, ev->target);
		return 0;
	case SIM_EV_CALL: {
		struct sim_call *c = ev->target;

		c->scheduled = false;
		sim__step_record(&s->core, "call %s",
				 c->what != NULL ? c->what : "-");
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
			sim__step_record(&s->core, "async");
			a->cb(a);
			return 1;
		}
	}
	return 0;
}

/* Steps 5 and 6: pick one candidate due at t and deliver it. */
static int deliver_one(struct sim *s, uint64_t t)
{
	size_t nev, n, i;
	bool timer, async;

	nev = sim__agenda_due(&s->core, t);
	timer = reactor__timer_next(&s->base) <= t;
	async = reactor__asyncs_pending(&s->base) != 0;
	n = nev + (timer ? 1 : 0) + (async ? 1 : 0);
	i = (size_t)sim__rng_below(&s->core, n);
	if (i < nev) {
		struct sim_event ev = sim__agenda_take(&s->core, i);
		return deliver_event(s, &ev);
	}
	if (timer && i == nev) {
		sim__step_record(&s->core, "timer");
		return reactor__timers_run(&s->base, s->core.now, 1);
	}
	return deliver_async(s);
}

/* Steps 4 to 7 of sim_poll(): deliver the event due at t, then, in batch
 * mode, the ones after it that the same poll would have seen. */
static int deliver_batch(struct sim *s, uint64_t t, uint64_t limit)
{
	struct sim_core *c = &s->core;
	int ran = 0, n;

	for (;;) {
		if (t > c->now)                             /* 4 */
			c->now = t;
		n = deliver_one(s, t);                      /* 5, 6 */
		if (n < 0)
			return n;
		ran += n;
		if (c->cfg.batch == 0)                      /* 7 */
			return ran;
		t = next_due(s);
		if (t > limit || t - c->now > c->cfg.max_delay_ns ||
		    (c->hook != NULL && c->steps + 1 == c->hook_step) ||
		    !sim__rng_chance(c, c->cfg.batch))
			return ran;
	}
}

static int sim_poll(struct reactor *r, int64_t timeout_ns)
{
	struct sim *s = to_sim(r);
	struct sim_core *c = &s->core;
	uint64_t limit, t;

	if (sim__woken_take(c))
		timeout_ns = 0;
	if (timeout_ns < 0)
		limit = UINT64_MAX;
	else if ((uint64_t)timeout_ns > UINT64_MAX - c->now)
		limit = UINT64_MAX - 1;
	else
		limit = c->now + (uint64_t)timeout_ns;
again:
	t = next_due(s);                                    /* 1 */
	if (t == UINT64_MAX && timeout_ns < 0)              /* 2 */
		return -EDEADLK;
	if (t > limit) {
		c->now = limit;
		return 0;
	}
	if (sim__hook_run(c)) {                             /* 3 */
		if (sim__woken_take(c)) /* a stop was asked: return before step k */
			return 0;
		goto again;
	}
	return deliver_batch(s, t, limit);                  /* 4 to 7 */
}

/* ---- io watchers --------------------------------------------------------- */

static int sim_io_start(struct reactor *r, struct reactor_io *io)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = sim__table_get(s, io->handle);
	unsigned bits = 0;

	if (o == NULL)
		return -EBADF;
	if (o->kind == SIM_FILE)
		return -EPERM; /* as epoll says for a regular file */
	if (o->io != NULL)
		return -EEXIST;
	o->io = io;
	if (o->kind == SIM_END)
		bits = sim__end_level((struct sim_end *)o);
	else if (((struct sim_listener *)o)->first != NULL)
		bits = REACTOR_READABLE;
	if (bits != 0)
		sim__obj_edge(s, o, bits);
	return 0;
}

static void sim_io_stop(struct reactor *r, struct reactor_io *io)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = sim__table_get(s, io->handle);

	if (o == NULL || o->io != io)
		return;
	sim__sched_stop(&s->core, &o->edge);
	o->edge_bits = 0;
	o->io = NULL;
}

/* ---- streams: listen, accept, connect ------------------------------------ */

/* The host is not looked at: the simulation has one address.  The backlog
 * is not enforced: the accept queue has no limit. */
static int sim_listen(struct reactor *r, const char *host, uint16_t port,
		      int backlog)
{
	return sim__listener_open(to_sim(r), port);
}

static int sim_local_port(struct reactor *r, int handle)
{
	struct sim_obj *o = sim__table_get(to_sim(r), handle);

	if (o == NULL)
		return -EBADF;
	if (o->kind == SIM_LISTENER)
		return ((struct sim_listener *)o)->port;
	if (o->kind == SIM_END && ((struct sim_end *)o)->port != 0)
		return ((struct sim_end *)o)->port;
	return -EINVAL;
}

static int sim_accept(struct reactor *r, int listener)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = sim__table_get(s, listener);

	if (o == NULL)
		return -EBADF;
	if (o->kind != SIM_LISTENER)
		return -EINVAL;
	return sim__listener_accept(s, (struct sim_listener *)o);
}

static int sim_connect(struct reactor *r, const char *host, uint16_t port)
{
	return sim__end_connect(to_sim(r), port);
}

static int sim_connect_result(struct reactor *r, int handle)
{
	struct sim_end *e = sim__table_end(to_sim(r), handle);

	if (e == NULL)
		return -EBADF;
	return e->connected ? e->connect_result : -EINPROGRESS;
}

/* ---- streams: read, write, shutdown, close ------------------------------- */

static ssize_t sim_read(struct reactor *r, int handle, void *buf, size_t n)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = sim__table_end(s, handle);

	if (e == NULL)
		return sim__table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	return sim__end_read(s, e, buf, n);
}

static ssize_t sim_write(struct reactor *r, int handle, const void *buf,
			 size_t n)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = sim__table_end(s, handle);

	if (e == NULL)
		return sim__table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	return sim__end_write(s, e, buf, n);
}

static int sim_shutdown_write(struct reactor *r, int handle)
{
	struct sim *s = to_sim(r);
	struct sim_end *e = sim__table_end(s, handle);

	if (e == NULL)
		return sim__table_get(s, handle) != NULL ? -EINVAL : -EBADF;
	return sim__end_shutdown_write(s, e);
}

/* Closes any handle, stream, listener or file, as close(2) does.  A watched
 * handle is refused (-EBUSY): its watcher must be stopped first. */
static int sim_close(struct reactor *r, int handle)
{
	struct sim *s = to_sim(r);
	struct sim_obj *o = sim__table_get(s, handle);

	if (o == NULL)
		return -EBADF;
	if (o->io != NULL)
		return -EBUSY;
	sim__handle_close(s, o);
	return 0;
}

/* ---- files --------------------------------------------------------------- */

/* mode is not looked at. */
static int sim_file_open(struct reactor *r, const char *path, int flags,
			 int mode)
{
	return sim__file_open(to_sim(r), path, flags);
}

static ssize_t sim_file_pread(struct reactor *r, int handle, void *buf,
			      size_t n, uint64_t offset)
{
	return sim__file_pread(to_sim(r), handle, buf, n, offset);
}

static ssize_t sim_file_pwrite(struct reactor *r, int handle, const void *buf,
			       size_t n, uint64_t offset)
{
	return sim__file_pwrite(to_sim(r), handle, buf, n, offset);
}

static int64_t sim_file_size(struct reactor *r, int handle)
{
	return sim__file_size(to_sim(r), handle);
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

/* ---- public: life, the trace, the hook ----------------------------------- */

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
	sim__core_init(&s->core, c);
	s->next_ephemeral_port = SIM_EPHEMERAL_PORT_BASE;
	return &s->base;
}

uint64_t sim_steps(const struct reactor *r)
{
	return to_csim(r)->core.steps;
}

uint64_t sim_trace_hash(const struct reactor *r)
{
	return to_csim(r)->core.hash;
}

void sim_trace_to(struct reactor *r, FILE *f)
{
	to_sim(r)->core.trace = f;
}

void sim_at_step(struct reactor *r, uint64_t k, void (*hook)(void *arg),
		 void *arg)
{
	struct sim_core *c = &to_sim(r)->core;

	c->hook_step = hook != NULL ? k : 0;
	c->hook = k != 0 ? hook : NULL;
	c->hook_arg = arg;
}

/* ---- public: scheduled calls --------------------------------------------- */

void sim_call_schedule(struct reactor *r, struct sim_call *c,
		       void (*fn)(struct sim_call *c), const char *what)
{
	struct sim_core *core = &to_sim(r)->core;

	sim_call_cancel(r, c);
	c->fn = fn;
	c->what = what;
	c->due = core->now + sim__fault_delay(core);
	if (sim__rng_chance(core, 500))
		c->due += 1 + sim__rng_below(core, SIM_CALL_SPREAD_NS);
	c->seq = sim__agenda_insert(core, SIM_EV_CALL, c, c->due);
	c->scheduled = true;
}

/* The call's private fields are trusted only if the agenda agrees: a call
 * that was never scheduled and not zeroed cannot match an entry, because an
 * entry's target is the call itself. */
void sim_call_cancel(struct reactor *r, struct sim_call *c)
{
	struct sim_core *core = &to_sim(r)->core;
	size_t i;

	if (c->scheduled) {
		i = sim__agenda_lower_bound(core, c->due, c->seq);
		if (i < core->nagenda && core->agenda[i].seq == c->seq &&
		    core->agenda[i].target == c)
			sim__agenda_delete_at(core, i);
	}
	c->scheduled = false;
}
