/* echo.c: the echo workload (RFC 862) in the poll engine.
 *
 * Per connection: read, write all of it back, repeat until end of stream.
 * In the poll model that is one loop in one asynchronous function; here it
 * is written out as the state machine a compiler would make of it:
 *
 *     async fn conn(stream) {
 *         loop {
 *             let n = select(stream.read(buf), idle).await;   // CONN_READ
 *             if n <= 0 { return; }
 *             select(stream.write_all(&buf[..n]), idle).await; // CONN_WRITE
 *         }
 *     }
 *
 * Each connection is one task.  Its future holds, by value, the stream
 * registration, the idle timer and the one I/O future being awaited (a union:
 * a read and a write are never awaited at once, so they share their bytes,
 * as rustc lays out an async fn's locals).  The idle timeout is a sleep
 * restarted when data arrives and polled whenever the I/O is pending.
 *
 * Cancellation is not threaded through anything (claim C3): the shutdown
 * aborts each connection task, which drops its future; the drop function
 * releases the registration, the timer and the buffer, and counts the
 * connection as cancelled if it had not ended by itself.
 *
 * Memory, per connection: the task (one block: header and the whole
 * future) plus its read buffer (opts->bufsize): two allocations for its
 * whole life, none per round trip.  With poll_config.static_tasks the
 * tasks and buffers are slots allocated at start-up: none at all.
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) a connection owns no
 * buffer.  It awaits readiness, not a read (tokio's readable(), then
 * try_read()):
 *
 *     loop {
 *         select(stream.readable(), idle).await;              // CONN_READABLE
 *         let n = stream.try_read(server.buf)?;  // borrowed for this poll
 *         let w = stream.try_write(&server.buf[..n])?;
 *         if w < n {                        // keep only what did not go
 *             let rest = server.buf[w..n].to_vec();
 *             select(stream.write_all(&rest), idle).await;     // CONN_WRITE
 *         }
 *     }
 *
 * The one buffer of the server is lent to whichever connection is being
 * polled, for the read and the write back in the same poll: no await lies
 * between them, so no other connection can see it in use.  An idle
 * connection is then its task alone; a slow reader, its task and a block
 * the size of its unsent bytes.
 *
 * On the multi-threaded executor (poll_echo_serve_workers()) the same
 * futures run unchanged; what the server shares with connections polled by
 * other workers is guarded where it is touched: the list of connections by
 * a lock, every statistic by an atomic add (stat_add()).  A connection is
 * spawned movable: its detach and attach take its stream and idle timer
 * from one worker's reactor to another's (poll.h, W6).
 *
 * The same functions, in the same order, as push/echo.c: the server, the
 * connection start, the read/echo step, close, accept, shutdown, the entry
 * point.
 */
#include "poll_impl.h"
#include "container_of.h"
#include "mem.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define ECHO_BACKLOG 0      /* the most the system allows: SOMAXCONN */

/* ---- the server ---------------------------------------------------------- */

/* doc:begin echo-conn-struct */
/* A connection task's states (the switch in conn_poll):
 *   CONN_START    spawned, never polled: holds the raw handle, may be moved
 *   CONN_READABLE buffers on readiness: awaiting io.readable (and the idle
 *                 sleep), holding no buffer
 *   CONN_READ     awaiting io.read (and the idle sleep)
 *   CONN_WRITE    awaiting io.write of what was read (and the idle sleep)
 *   CONN_DONE     ended by itself; `end` says how; returns READY
 *   CONN_DROPPED  conn_close ran: holds nothing */
enum conn_state {
	CONN_START,
	CONN_READABLE,
	CONN_READ,
	CONN_WRITE,
	CONN_DONE,
	CONN_DROPPED,
};

/* How a connection ended; CONN_END_NONE when it is dropped while running,
 * which is a cancellation. */
enum conn_end {
	CONN_END_NONE,
	CONN_END_EOF,
	CONN_END_IDLE,
	CONN_END_ERROR,
};

struct echo_server;

/* The connection's future: everything it needs, by value. */
struct echo_conn {
	struct poll_future base;
	enum conn_state state;
	enum conn_end end;
	struct echo_server *srv;
	struct poll_task *task;          /* its own task; not counted: valid
					  * while linked in srv->conns */
	struct echo_conn *prev, *next;   /* srv->conns */
	int handle;                      /* CONN_START only, else -1 */
	bool own_buf;                    /* buf came from mem_alloc */
	unsigned char *buf;              /* opts->bufsize bytes.  With buffers
					  * on readiness: in CONN_WRITE only
					  * (else NULL), the bytes the write
					  * back could not send at once, in a
					  * block of their size, own_buf set */
	struct poll_stream stream;
	union {                          /* the I/O being awaited */
		struct poll_readable readable; /* CONN_READABLE */
		struct poll_read read;   /* CONN_READ */
		struct poll_write write; /* CONN_WRITE */
	} io;
	struct poll_sleep idle;          /* restarted when data arrives */
};
/* doc:end echo-conn-struct */

/* A preallocated task slot: the header, then the future, laid out as
 * POLL_TASK_SIZE() says, plus the free-list link. */
struct echo_slot {
	struct echo_slot *next_free;
	struct poll_task task;
	struct echo_conn conn;
};
_Static_assert(offsetof(struct echo_slot, conn) ==
	       offsetof(struct echo_slot, task) + sizeof(struct poll_task),
	       "the future must follow the task header");

/* The server's states (server_poll):
 *   SERVER_ACCEPT  awaiting `accept`, admitting connections as they come
 *   SERVER_CLOSED  the listener failed for good: accepts nothing more and
 *                  waits, holding no waker, for the shutdown to drop it */
enum server_state {
	SERVER_ACCEPT,
	SERVER_CLOSED,
};

/* The server's future: the accept loop.  It runs under poll_block_on() in
 * poll_echo_serve(), which owns the listener it borrows. */
struct echo_server {
	struct poll_future base;
	enum server_state state;
	struct poll_loop *loop;
	const struct echo_opts *opts;
	struct echo_stats *stats;
	struct poll_stream *listener;    /* borrowed */
	struct poll_accept accept;
	struct echo_conn *conns;         /* every connection not yet dropped */
	unsigned nconns;
	/* With static task slots (else NULL): */
	struct echo_slot *slots, *free_slots;
	unsigned nslots;
	unsigned char *slot_bufs;        /* nslots * opts->bufsize */
	/* With buffers on readiness: the one read buffer, lent to the
	 * connection being polled for its read and write back (opts->bufsize
	 * bytes, allocated at start-up), else NULL. */
	unsigned char *rbuf;
	/* On poll_workers (shared): connections run on other threads. */
	bool shared;
	pthread_mutex_t lock;            /* shared: conns, nconns, peak_conns;
					  * recursive, since an abort made
					  * under it may drop a connection of
					  * this thread, which unlinks itself */
	int listen_fd;                   /* shared: registered at the first
					  * poll, on the server's worker */
	struct poll_stream own_listener; /* shared: the listener's stream */
	struct reactor *raw_r;           /* shared: closes the raw handle of
					  * a connection never polled, from
					  * any thread (one close(2)) */
};

/* The server's list and counters, shared with other workers' connections or
 * not: a lock and atomic adds only when they are. */
static void srv_lock(struct echo_server *srv)
{
	if (srv->shared)
		pthread_mutex_lock(&srv->lock);
}

static void srv_unlock(struct echo_server *srv)
{
	if (srv->shared)
		pthread_mutex_unlock(&srv->lock);
}

static void stat_add(const struct echo_server *srv, uint64_t *field,
		     uint64_t n)
{
	if (srv->shared)
		__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
	else
		*field += n;
}

/* Close a connection's handle that no stream owns (refused, or never
 * polled), from whatever thread drops it. */
static void srv_close_raw(struct echo_server *srv, int h)
{
	reactor_close(srv->shared ? srv->raw_r : srv->loop->r, h);
}

/* ---- a connection starts ---------------------------------------------------- */

static const struct poll_future_vt conn_vt;
static const struct poll_move_vt conn_move_vt;

static void conn_init(struct echo_conn *c, struct echo_server *srv, int h,
		      unsigned char *buf, bool own_buf)
{
	memset(c, 0, sizeof(*c));
	c->base.vt = &conn_vt;
	c->state = CONN_START;
	c->end = CONN_END_NONE;
	c->srv = srv;
	c->handle = h;
	c->buf = buf;
	c->own_buf = own_buf;
	c->stream.handle = -1;           /* not open: closing it does nothing */
	poll_sleep_init(&c->idle, srv->loop, srv->opts->idle_timeout_ns);
}

static void slot_release(struct poll_task *t, void *arg)
{
	struct echo_server *srv = arg;
	struct echo_slot *slot = container_of(t, struct echo_slot, task);

	slot->next_free = srv->free_slots;
	srv->free_slots = slot;
}

/* Link a spawned connection into the server's list, so that the shutdown
 * can abort it.  The future is pinned in its task from the spawn on. */
static void conn_link(struct echo_server *srv, struct echo_conn *c,
		      struct poll_task *t)
{
	struct echo_stats *st = srv->stats;

	c->task = t;
	c->prev = NULL;
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (srv->nconns > st->peak_conns)
		st->peak_conns = srv->nconns;
}

static void conn_unlink(struct echo_server *srv, struct echo_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->task = NULL;
	srv->nconns--;
}

/* doc:begin echo-start */
/* A new connection on handle h: a task of its own, in a slot or in one
 * allocation plus one for its buffer.  The future is built on the stack and
 * moved into the task by the spawn (it has never been polled).  Out of
 * memory, the connection is closed and counted as failed. */
static void conn_start(struct echo_server *srv, int h)
{
	struct echo_stats *st = srv->stats;
	struct echo_conn c;
	struct echo_slot *slot;
	struct poll_task *t;
	unsigned char *buf;

	stat_add(srv, &st->accepted, 1);
	srv_lock(srv);      /* linked before another worker can drop it */
	if (srv->slots != NULL) {
		slot = srv->free_slots;          /* server_accept checked */
		srv->free_slots = slot->next_free;
		buf = srv->slot_bufs == NULL ? NULL : srv->slot_bufs +
		      (size_t)(slot - srv->slots) * srv->opts->bufsize;
		conn_init(&c, srv, h, buf, false);
		poll_spawn_into(srv->loop, &slot->task, &c.base, sizeof(c),
				slot_release, srv, &t);
	} else if (srv->rbuf != NULL) {          /* buffers on readiness */
		conn_init(&c, srv, h, NULL, false);
		if (poll_spawn(srv->loop, &c.base, sizeof(c), &t) < 0)
			goto out_close_handle;
	} else {
		buf = mem_alloc(srv->opts->bufsize);
		if (buf == NULL)
			goto out_close_handle;
		conn_init(&c, srv, h, buf, true);
		if (poll_spawn_movable(srv->loop, &c.base, sizeof(c),
				       &conn_move_vt, &t) < 0)
			goto out_free_buf;
	}
	conn_link(srv, (struct echo_conn *)poll_task_future(t), t);
	srv_unlock(srv);
	poll_task_detach(t);
	return;

out_free_buf:
	mem_free(buf);
out_close_handle:
	srv_unlock(srv);
	reactor_close(srv->loop->r, h);
	stat_add(srv, &st->failed, 1);
}
/* doc:end echo-start */

/* ---- the read/echo step ------------------------------------------------------ */

/* doc:begin echo-steps */
/* Begin CONN_READ: a fresh read future in the union; with buffers on
 * readiness CONN_READABLE, a readiness future, which holds no buffer. */
static void conn_read(struct echo_conn *c)
{
	if (c->srv->rbuf != NULL) {
		poll_readable_init(&c->io.readable, &c->stream);
		c->state = CONN_READABLE;
		return;
	}
	poll_read_init(&c->io.read, &c->stream, c->buf, c->srv->opts->bufsize);
	c->state = CONN_READ;
}

/* Data arrived (or the connection starts): the idle sleep starts over.  The
 * new sleep starts its timer only if it is polled, that is only when the
 * connection has to wait: a read that finds its data already there does not
 * touch the timer heap.  In request/response echo every read waits, so
 * each message starts the timer once, and the next restart stops it. */
static void conn_idle_restart(struct echo_conn *c)
{
	poll_future_drop(&c->idle.base);
	poll_sleep_init(&c->idle, c->srv->loop, c->srv->opts->idle_timeout_ns);
}

/* The connection ends by itself: drop the I/O in flight, record why.  The
 * rest (stream, timer, buffer) goes in conn_close, when the task drops us. */
static enum poll_status conn_end(struct echo_conn *c, enum conn_end why)
{
	if (c->state == CONN_READABLE)
		poll_future_drop(&c->io.readable.base);
	else if (c->state == CONN_READ)
		poll_future_drop(&c->io.read.base);
	else if (c->state == CONN_WRITE)
		poll_future_drop(&c->io.write.base);
	c->end = why;
	c->state = CONN_DONE;
	c->base.out = 0;
	return POLL_READY;
}

/* The I/O is pending: is the connection idle for too long? */
static enum poll_status conn_idle_poll(struct echo_conn *c,
				       struct poll_cx *cx)
{
	if (c->srv->opts->idle_timeout_ns == 0 ||
	    poll_future_poll(&c->idle.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	return conn_end(c, CONN_END_IDLE);
}

/* Buffers on readiness: c is readable.  Read into the server's buffer,
 * write back what the peer takes now, and keep the rest (if any) in a
 * block of its size for CONN_WRITE.  The buffer is the server's again when
 * this returns.  Returns POLL_READY when c ended, else POLL_PENDING and c
 * is in its next state (CONN_READABLE or CONN_WRITE), not yet polled. */
static enum poll_status conn_echo_ready(struct echo_conn *c)
{
	unsigned char *buf = c->srv->rbuf;
	ssize_t n = poll_try_read(&c->stream, buf, c->srv->opts->bufsize);
	ssize_t w;
	size_t rest;

	if (n == -EAGAIN) {             /* readiness was a hint: wait again */
		conn_read(c);
		return POLL_PENDING;
	}
	if (n == 0)
		return conn_end(c, CONN_END_EOF);
	if (n < 0)
		return conn_end(c, CONN_END_ERROR);
	conn_idle_restart(c);
	w = poll_try_write(&c->stream, buf, (size_t)n);
	if (w < 0)
		return conn_end(c, CONN_END_ERROR);
	stat_add(c->srv, &c->srv->stats->bytes, (uint64_t)w); /* echoed */
	if (w == n) {                   /* the common case */
		conn_read(c);
		return POLL_PENDING;
	}
	rest = (size_t)(n - w);
	c->buf = mem_alloc(rest);
	if (c->buf == NULL)
		return conn_end(c, CONN_END_ERROR);
	c->own_buf = true;
	memcpy(c->buf, buf + w, rest);
	poll_write_init(&c->io.write, &c->stream, c->buf, rest);
	c->state = CONN_WRITE;
	return POLL_PENDING;
}
/* doc:end echo-steps */

/* doc:begin echo-poll */
/* The connection's poll: each case resumes at one await point. */
static enum poll_status conn_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct echo_conn *c = (struct echo_conn *)f;
	ssize_t n;

	for (;;) {
		switch (c->state) {
		case CONN_START:
			/* First poll: pinned now, so the stream may be
			 * registered (R1 of poll.h). */
			n = poll_stream_open(cx->loop, &c->stream, c->handle);
			if (n < 0)      /* conn_close() closes c->handle */
				return conn_end(c, CONN_END_ERROR);
			c->handle = -1;
			conn_idle_restart(c);
			conn_read(c);
			continue;

		case CONN_READABLE:
			if (poll_future_poll(&c->io.readable.base, cx) ==
			    POLL_PENDING)
				return conn_idle_poll(c, cx);
			if (conn_echo_ready(c) == POLL_READY)
				return POLL_READY;
			continue;

		case CONN_READ:
			if (poll_future_poll(&c->io.read.base, cx) == POLL_PENDING)
				return conn_idle_poll(c, cx);
			n = c->io.read.base.out;
			if (n == 0)
				return conn_end(c, CONN_END_EOF);
			if (n < 0)
				return conn_end(c, CONN_END_ERROR);
			conn_idle_restart(c);
			poll_write_init(&c->io.write, &c->stream, c->buf,
					(size_t)n);
			c->state = CONN_WRITE;
			continue;

		case CONN_WRITE:
			if (poll_future_poll(&c->io.write.base, cx) == POLL_PENDING)
				return conn_idle_poll(c, cx);
			n = c->io.write.base.out;
			if (c->srv->rbuf != NULL) {  /* the rest went, or failed */
				mem_free(c->buf);
				c->buf = NULL;
				c->own_buf = false;
			}
			if (n < 0)
				return conn_end(c, CONN_END_ERROR);
			stat_add(c->srv, &c->srv->stats->bytes, (uint64_t)n);
			conn_read(c);
			continue;

		case CONN_DONE:
		case CONN_DROPPED:
			return POLL_READY;
		}
	}
}
/* doc:end echo-poll */

/* ---- close ------------------------------------------------------------------- */

/* doc:begin echo-close */
/* The connection's drop: when its task completes, or when the shutdown
 * aborts it.  Counts how it ended and releases everything it holds. */
static void conn_close(struct poll_future *f)
{
	struct echo_conn *c = (struct echo_conn *)f;
	struct echo_server *srv = c->srv;
	struct echo_stats *st = srv->stats;

	switch (c->state) {
	case CONN_DROPPED:
		return;
	case CONN_READABLE:
	case CONN_READ:
	case CONN_WRITE:
		conn_end(c, CONN_END_NONE);      /* drops the I/O in flight */
		break;
	default:
		break;
	}
	switch (c->end) {
	case CONN_END_NONE:
		stat_add(srv, &st->cancelled, 1);
		break;
	case CONN_END_EOF:
		stat_add(srv, &st->closed, 1);
		break;
	case CONN_END_IDLE:
		stat_add(srv, &st->timed_out, 1);
		break;
	case CONN_END_ERROR:
		stat_add(srv, &st->failed, 1);
		break;
	}
	poll_future_drop(&c->idle.base);
	if (c->handle >= 0)
		srv_close_raw(srv, c->handle);   /* never polled */
	poll_stream_close(&c->stream);
	if (c->own_buf)
		mem_free(c->buf);
	srv_lock(srv);
	conn_unlink(srv, c);
	srv_unlock(srv);
	c->state = CONN_DROPPED;
}

static const struct poll_future_vt conn_vt = {
	.name = "echo_conn",
	.poll = conn_poll,
	.drop = conn_close,
};

/* A move between workers (poll.h, W6): what the connection has registered,
 * its stream and its idle timer, goes to the new worker's reactor.  The I/O
 * future in flight holds only a pointer to the stream, and the buffer is
 * the connection's: nothing else is tied to a thread. */
static void conn_detach(struct poll_future *f)
{
	struct echo_conn *c = (struct echo_conn *)f;

	if (c->state == CONN_DONE || c->state == CONN_DROPPED)
		return;
	poll_stream_detach(&c->stream);
	poll_sleep_detach(&c->idle);
}

static int conn_attach(struct poll_future *f, struct poll_loop *l)
{
	struct echo_conn *c = (struct echo_conn *)f;

	if (c->state == CONN_DONE || c->state == CONN_DROPPED)
		return 0;
	poll_sleep_attach(&c->idle, l);
	return poll_stream_attach(&c->stream, l);
}

static const struct poll_move_vt conn_move_vt = {
	.detach = conn_detach,
	.attach = conn_attach,
};
/* doc:end echo-close */

/* ---- accept ------------------------------------------------------------------ */

/* A connection was accepted (h >= 0) or accepting failed. */
static void server_on_accept(struct echo_server *srv, ssize_t h)
{
	struct echo_stats *st = srv->stats;
	unsigned max = srv->opts->max_conns;

	if (h >= 0) {
		bool full;

		srv_lock(srv);
		full = (max > 0 && srv->nconns >= max) ||
		       (srv->slots != NULL && srv->free_slots == NULL);
		srv_unlock(srv);
		if (full) {
			stat_add(srv, &st->refused, 1);
			reactor_close(srv->loop->r, (int)h);
		} else {
			conn_start(srv, (int)h);
		}
		return;
	}
	/* -EMFILE, -ENFILE: the reactor shed one pending connection, so
	 * accepting again makes progress and never spins. */
	stat_add(srv, &st->accept_errors, 1);
	if (reactor_accept_error_is_fatal(h))
		srv->state = SERVER_CLOSED;
}

/* The server's poll: accept until the listener has nothing pending (the
 * budget makes it yield after POLL_BUDGET_DEFAULT accepts in a row). */
static enum poll_status server_poll(struct poll_future *f,
				    struct poll_cx *cx)
{
	struct echo_server *srv = (struct echo_server *)f;

	while (srv->state == SERVER_ACCEPT) {
		if (poll_future_poll(&srv->accept.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		poll_future_drop(&srv->accept.base);
		server_on_accept(srv, srv->accept.base.out);
		poll_accept_init(&srv->accept, srv->listener);
	}
	/* SERVER_CLOSED: pending for ever, like Rust's future::pending(). */
	return POLL_PENDING;
}

/* ---- shutdown ------------------------------------------------------------------ */

/* doc:begin echo-shutdown */
/* The server's drop: poll_block_on() drops it when a stop is requested or
 * (sim) the world is quiescent.  Stop accepting, then abort every
 * connection; none is running (the executor is not polling anything now),
 * so each is dropped inside poll_task_abort() and unlinks itself. */
static void server_shutdown(struct poll_future *f)
{
	struct echo_server *srv = (struct echo_server *)f;
	struct echo_conn *c, *next;

	poll_future_drop(&srv->accept.base);
	if (!srv->shared) {
		while (srv->conns != NULL)
			poll_task_abort(srv->conns->task);
		return;
	}
	/* On the workers a connection of another worker is dropped there,
	 * soon after the abort (W3), and unlinks itself then; one of this
	 * worker's is dropped inside the abort.  The server's memory stays
	 * until poll_echo_serve_workers() has seen every task DONE. */
	srv_lock(srv);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		poll_task_abort(c->task);
	}
	srv_unlock(srv);
	if (poll_stream_is_open(&srv->own_listener))
		poll_stream_close(&srv->own_listener);
	else if (srv->listen_fd >= 0)
		reactor_close(srv->raw_r, srv->listen_fd);  /* never polled */
	srv->listen_fd = -1;
}
/* doc:end echo-shutdown */

static const struct poll_future_vt server_vt = {
	.name = "echo_server",
	.poll = server_poll,
	.drop = server_shutdown,
};

/* workload_cancel_part(): cancel connection i of the list alone, which in
 * this model is aborting its task: the future is dropped at once (no task
 * is running when this is called) and counts itself cancelled.  O(i). */
static int server_cancel_conn(void *arg, unsigned i)
{
	struct echo_server *srv = arg;
	struct echo_conn *c = srv->conns;

	while (c != NULL && i-- > 0)
		c = c->next;
	if (c == NULL)
		return -ENOENT;
	poll_task_abort(c->task);
	return 0;
}

/* ---- the entry point ----------------------------------------------------------- */

/* The static task slots and their buffers: two allocations, at start-up. */
static int server_slots_alloc(struct echo_server *srv, unsigned n)
{
	srv->slots = mem_calloc(n, sizeof(*srv->slots));
	if (srv->slots == NULL)
		return -ENOMEM;
	if (srv->rbuf != NULL)                  /* buffers on readiness */
		goto link_slots;  /* and no buffers */
	srv->slot_bufs = mem_alloc((size_t)n * srv->opts->bufsize);
	if (srv->slot_bufs == NULL) {
		mem_free(srv->slots);
		srv->slots = NULL;
		return -ENOMEM;
	}
link_slots:
	srv->nslots = n;
	for (unsigned i = n; i-- > 0;)
		slot_release(&srv->slots[i].task, srv);
	return 0;
}

static void server_slots_free(struct echo_server *srv)
{
	mem_free(srv->slot_bufs);
	mem_free(srv->slots);
}

int poll_echo_serve(struct reactor *r, struct offload *o,
		    const struct echo_opts *opts, struct echo_stats *stats)
{
	struct poll_config cfg = poll_config_get();
	struct echo_server srv = {
		.base = { .vt = &server_vt },
		.state = SERVER_ACCEPT,
		.opts = opts,
		.stats = stats,
	};
	struct poll_loop loop;
	struct poll_stream listener;
	int lh, port, rc;

	memset(stats, 0, sizeof(*stats));
	if (opts->bufsize == 0)
		return -EINVAL;
	lh = opts->reuse_port ?
	     reactor_listen_reuseport(r, opts->host, opts->port, ECHO_BACKLOG) :
	     reactor_listen(r, opts->host, opts->port, ECHO_BACKLOG);
	if (lh < 0)
		return lh;
	port = reactor_local_port(r, lh);
	if (port < 0) {
		reactor_close(r, lh);
		return port;
	}
	poll_loop_init(&loop, r, o, NULL);
	rc = poll_stream_open(&loop, &listener, lh);
	if (rc < 0) {
		reactor_close(r, lh);
		return rc;
	}
	srv.loop = &loop;
	srv.listener = &listener;
	poll_accept_init(&srv.accept, &listener);
	if (opts->buffers == ECHO_BUFFERS_READY) {
		srv.rbuf = mem_alloc(opts->bufsize);
		if (srv.rbuf == NULL) {
			rc = -ENOMEM;
			goto out_close_listener;
		}
	}
	if (cfg.static_tasks > 0) {
		rc = server_slots_alloc(&srv, cfg.static_tasks);
		if (rc < 0)
			goto out_close_listener;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)port);

	/* Runs until a stop (-EINTR) or quiescence (-EDEADLK): the server
	 * never completes by itself.  Either way it has been dropped. */
	workload_probe_publish(server_cancel_conn, &srv);
	rc = poll_block_on(&loop, &srv.base);
	workload_probe_clear(&srv);
	if (rc == -EINTR || rc == -EDEADLK)
		rc = 0;
	poll_loop_fini(&loop);                   /* every slot comes back */
	if (srv.slots != NULL)
		server_slots_free(&srv);
out_close_listener:
	mem_free(srv.rbuf);
	poll_stream_close(&listener);
	return rc;
}

/* ---- the entry point on the workers ------------------------------------------- */

/* The server's task on the workers: the server future lives in
 * poll_echo_serve_workers()'s frame, where the connections can reach it
 * until every task is DONE, and the task holds a pointer to it (as
 * poll_block_on() polls a future in the caller's place).  Its first poll
 * registers the listener on the worker that took it, its home: the server
 * does not move. */
struct echo_server_task {
	struct poll_future base;
	struct echo_server *srv;
};

static enum poll_status server_task_poll(struct poll_future *f,
					 struct poll_cx *cx)
{
	struct echo_server *srv = ((struct echo_server_task *)f)->srv;

	if (srv->listener == NULL) {
		srv->loop = cx->loop;   /* before any connection exists */
		srv->listener = &srv->own_listener;
		if (poll_stream_open(cx->loop, &srv->own_listener,
				     srv->listen_fd) < 0) {
			srv->state = SERVER_CLOSED;   /* shutdown closes it */
			return POLL_PENDING;
		}
		srv->listen_fd = -1;
	}
	return server_poll(&srv->base, cx);
}

static void server_task_drop(struct poll_future *f)
{
	struct echo_server_task *st = (struct echo_server_task *)f;

	if (st->srv != NULL)
		server_shutdown(&st->srv->base);
	st->srv = NULL;
}

static const struct poll_future_vt server_task_vt = {
	.name = "echo_server_task",
	.poll = server_task_poll,
	.drop = server_task_drop,
};

/* W7: the stop aborts the server, whose drop aborts every connection. */
static void server_task_on_stop(void *arg)
{
	poll_task_abort(arg);
}

int poll_echo_serve_workers(struct poll_workers *w, struct reactor *r,
			    const struct echo_opts *opts,
			    struct echo_stats *stats)
{
	struct echo_server srv = {
		.base = { .vt = &server_vt },
		.state = SERVER_ACCEPT,
		.opts = opts,
		.stats = stats,
		.shared = true,
		.raw_r = r,
	};
	struct echo_server_task st = { .base = { .vt = &server_task_vt },
				       .srv = &srv };
	pthread_mutexattr_t attr;
	struct poll_task *t;
	int lh, port, rc;

	memset(stats, 0, sizeof(*stats));
	if (opts->bufsize == 0)
		return -EINVAL;
	if (poll_config_get().static_tasks > 0 ||
	    opts->buffers == ECHO_BUFFERS_READY)
		return -ENOTSUP;
	lh = opts->reuse_port ?
	     reactor_listen_reuseport(r, opts->host, opts->port, ECHO_BACKLOG) :
	     reactor_listen(r, opts->host, opts->port, ECHO_BACKLOG);
	if (lh < 0)
		return lh;
	port = reactor_local_port(r, lh);
	if (port < 0) {
		reactor_close(r, lh);
		return port;
	}
	srv.listen_fd = lh;
	srv.own_listener.handle = -1;
	/* A stop before the server's first poll drops it as it is. */
	poll_accept_init(&srv.accept, &srv.own_listener);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&srv.lock, &attr);
	pthread_mutexattr_destroy(&attr);
	rc = poll_workers_spawn(w, &st.base, sizeof(st), &t);
	if (rc < 0) {
		reactor_close(r, lh);
		goto out_destroy_lock;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)port);
	poll_workers_on_stop(w, server_task_on_stop, t);
	rc = poll_workers_run(w);
	poll_workers_on_stop(w, NULL, NULL);
	poll_task_detach(t);
out_destroy_lock:
	pthread_mutex_destroy(&srv.lock);
	return rc;
}

/* ---- for docs/poll.md: the layout of a connection task ------------------------ */

void poll__echo_print_layout(FILE *f)
{
	fprintf(f, "echo connection task: %zu bytes in one block "
		"(POLL_TASK_SIZE(sizeof(struct echo_conn))), "
		"plus its buffer (opts.bufsize)\n",
		POLL_TASK_SIZE(sizeof(struct echo_conn)));
	fprintf(f, "  %4zu  struct poll_task        task header\n",
		sizeof(struct poll_task));
	fprintf(f, "  %4zu  struct echo_conn        the future, by value:\n",
		sizeof(struct echo_conn));
#define FIELD(name, what) \
	fprintf(f, "  %4zu    @%-4zu %-22s %s\n", \
		sizeof(((struct echo_conn *)0)->name), \
		offsetof(struct echo_conn, name), #name, what)
	FIELD(base, "struct poll_future: vtable, output");
	FIELD(state, "enum conn_state");
	FIELD(end, "enum conn_end");
	FIELD(srv, "the server");
	FIELD(task, "its own task (not counted)");
	FIELD(prev, "server's list");
	FIELD(next, "server's list");
	FIELD(handle, "raw handle before the first poll");
	FIELD(own_buf, "buffer from mem_alloc?");
	FIELD(buf, "the read buffer (separate block)");
	FIELD(stream, "struct poll_stream: registration, 2 waker slots");
	FIELD(io, "union { poll_read; poll_write }");
	FIELD(io.read, "  struct poll_read");
	FIELD(io.write, "  struct poll_write");
	FIELD(idle, "struct poll_sleep: embedded timer, waker slot");
#undef FIELD
}
