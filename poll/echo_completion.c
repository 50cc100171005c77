/* echo_completion.c: the echo workload in the poll engine, over a
 * completion queue (io_uring, or the simulation's completion mode).
 *
 * The same async function as echo.c:
 *
 *     async fn conn(h, buf) {
 *         loop {
 *             let (n, buf) = select(recv(h, buf), idle).await;  // CONN_RECV
 *             if n <= 0 { return; }
 *             let (_, buf) = select(send(h, buf), idle).await;  // CONN_SEND
 *         }
 *     }
 *
 * but the buffer is owned, not borrowed (rule C1 of poll.h): the
 * connection's one poll_buf is moved into the recv, comes back with the
 * bytes, is moved into the send, comes back again.  While an operation is
 * in flight the kernel has the buffer, so the connection cannot be cancelled
 * by dropping its future alone: a dropped leaf hands its operation and the
 * buffer to the loop (C3), which frees them at the kernel's completion, and
 * the handle is closed after that (C4).
 *
 * The idle timeout is a timeout operation per idle period, not per
 * message: the connection notes when input last came (last_input), and a
 * timeout that expires before the connection has been idle for the whole
 * period is submitted again for the rest.  At expiry a recv in flight is
 * cancelled and awaited (CONN_CANCEL, rule C5): if its data won the race,
 * the data is echoed and the connection goes on; nothing is lost.
 *
 * Memory, per connection: the task (header and future, one block) and the
 * buffer (one block), plus the loop's operations it has in flight (at most
 * two: recv or send, and the timeout), which the loop reuses: after the
 * first connections, none.  Per round trip: nothing.
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) a connection owns no
 * buffer: the server gives the loop one provided buffer ring (C7 of
 * poll.h; RING_BUFFERS buffers of bufsize, one block for the run), and
 *
 *     async fn conn(h) {
 *         loop {
 *             let (n, rb) = select(recv_select(h), idle).await; // CONN_RECV
 *             if n <= 0 { return; }
 *             let (_, rb) = select(send(h, rb), idle).await;     // CONN_SEND
 *             ring.give_back(rb);
 *         }
 *     }
 *
 * The recv holds no buffer while it waits: the kernel picks one from the
 * ring when bytes arrive, and the connection has it until the send of it
 * has completed.  An idle connection is its task and its operations alone;
 * a dropped one (a stop) leaves an orphan that holds no buffer.  The cost:
 * a peer that does not read holds a ring buffer in the send until its idle
 * timeout ends the connection (rather than a copy of the unsent bytes, as
 * the readiness echo makes: here the kernel already holds the buffer for
 * the send, and a copy would be an allocation per slow send).  A ring run
 * dry is waited for inside the recv (C7), never spun on.
 *
 * The same functions, in the same order, as echo.c.
 */
#include "poll_impl.h"
#include "completion.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the server ---------------------------------------------------------- */

/* A connection task's states (conn_poll):
 *   CONN_START    spawned, never polled: holds the handle and the buffer
 *   CONN_RECV     awaiting io, a recv holding the buffer (and the idle)
 *   CONN_SEND     awaiting io, a send of what came (and the idle)
 *   CONN_CANCEL   idle for too long: the recv's cancel is asked; awaiting
 *                 its completion (-ECANCELED, or data that won the race)
 *   CONN_DONE     ended by itself; `end` says how
 *   CONN_DROPPED  conn_close ran: holds nothing */
enum conn_state {
	CONN_START,
	CONN_RECV,
	CONN_SEND,
	CONN_CANCEL,
	CONN_DONE,
	CONN_DROPPED,
};

enum conn_end {
	CONN_END_NONE,
	CONN_END_EOF,
	CONN_END_IDLE,
	CONN_END_ERROR,
};

struct echo_server;

struct echo_conn {
	struct poll_future base;
	enum conn_state state;
	enum conn_end end;
	struct echo_server *srv;
	struct poll_task *task;          /* its own; valid while linked */
	struct echo_conn *prev, *next;   /* srv->conns */
	int handle;                      /* closed by conn_close (C4) */
	struct poll_buf *buf;            /* the connection's, when no
					  * operation holds it (C1) */
	uint64_t last_input;             /* reactor_now() at the last input */
	bool idle_armed;                 /* idle has been initialised */
	struct poll_cq_io io;            /* the recv or the send */
	struct poll_cq_io idle;          /* the timeout */
};

/* The server's states (server_poll):
 *   SERVER_ACCEPT   awaiting `accept`, admitting connections as they come
 *   SERVER_BACKOFF  out of descriptors with no reserve to shed with:
 *                   awaiting `backoff` before accepting again
 *   SERVER_CLOSED   the listener failed for good: waits for the shutdown */
enum server_state {
	SERVER_ACCEPT,
	SERVER_BACKOFF,
	SERVER_CLOSED,
};

/* How long the server waits to accept again when it is out of descriptors
 * and has no reserve to shed a connection with. */
#define SERVER_BACKOFF_NS (10 * 1000000ull)

struct echo_server {
	struct poll_future base;
	enum server_state state;
	struct poll_loop *loop;
	const struct echo_opts *opts;
	struct echo_stats *stats;
	int listener;                    /* closed by the entry point */
	struct poll_cq_io accept;
	/* Out of descriptors the kernel keeps the pending connection, so an
	 * accept submitted again fails again at once.  As the epoll floor
	 * does, the server keeps a spare descriptor (on a ring; none under
	 * sim, whose reactor sheds the connection itself): it closes it, the
	 * next accept takes the pending connection into that slot, and the
	 * connection is closed (shed) and the spare opened again. */
	int reserve;                     /* the spare, or -1 */
	bool shedding;                   /* the next accepted one is shed */
	struct poll_cq_io backoff;       /* SERVER_BACKOFF */
	struct echo_conn *conns;
	unsigned nconns;
	bool ready;                      /* ECHO_BUFFERS_READY: the ring */
};

/* The ring's size with buffers on readiness, the uring floor's (so that
 * their rows compare); PUSHPOLL_URING_RING_BUFFERS=N (a power of two up to
 * 32768) sets it for both, so that a test can run it dry. */
#define RING_BUFFERS 128u
#define RING_GROUP 0u

/* ---- a connection starts ---------------------------------------------------- */

static const struct poll_future_vt conn_vt;

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

/* A new connection on handle h: its buffer and its task, two allocations
 * for its whole life.  Out of memory, it is closed and counted failed. */
static void conn_start(struct echo_server *srv, int h)
{
	struct echo_stats *st = srv->stats;
	struct echo_conn c;
	struct poll_task *t;
	struct poll_buf *buf;

	st->accepted++;
	buf = NULL;
	if (!srv->ready) {
		buf = poll_buf_new(srv->opts->bufsize);
		if (buf == NULL)
			goto out_close_handle;
	}
	memset(&c, 0, sizeof(c));
	c.base.vt = &conn_vt;
	c.state = CONN_START;
	c.srv = srv;
	c.handle = h;
	c.buf = buf;
	if (poll_spawn(srv->loop, &c.base, sizeof(c), &t) < 0)
		goto out_free_buf;
	conn_link(srv, (struct echo_conn *)poll_task_future(t), t);
	poll_task_detach(t);
	return;

out_free_buf:
	poll_buf_unref(buf);
out_close_handle:
	completion_close(poll_cq_loop_of(srv->loop)->cq, h);
	st->failed++;
}

/* ---- the recv/echo step ------------------------------------------------------ */

/* Begin CONN_RECV: the buffer moves into a fresh recv (C1), or, with
 * buffers on readiness, a recv from the ring that holds none (C7). */
static void conn_recv(struct echo_conn *c)
{
	if (c->srv->ready)
		poll_cq_recv_select_init(&c->io, c->srv->loop, c->handle);
	else
		poll_cq_recv_init(&c->io, c->srv->loop, c->handle, c->buf);
	c->buf = NULL;
	c->state = CONN_RECV;
}

/* Begin CONN_SEND of what the recv in c->io brought: its buffer moves into
 * the send, the connection's (C1) or the ring's (C7). */
static void conn_send(struct echo_conn *c)
{
	struct poll_loop *l = c->srv->loop;
	struct poll_ring_buf rb;

	if (c->srv->ready) {
		rb = poll_cq_io_take_ring(&c->io);     /* lent (C7) */
		poll_cq_send_ring_init(&c->io, l, c->handle, rb);
	} else {
		c->buf = poll_cq_io_take(&c->io);      /* back (C1) */
		poll_cq_send_init(&c->io, l, c->handle, c->buf);
		c->buf = NULL;
	}
	c->state = CONN_SEND;
}

/* The send in c->io is done: its buffer back to the connection (C1), or
 * back to the ring (C7). */
static void conn_sent(struct echo_conn *c)
{
	struct poll_ring_buf rb;

	if (c->srv->ready) {
		rb = poll_cq_io_take_ring(&c->io);
		poll_ring_buf_release(c->srv->loop, &rb);
	} else {
		c->buf = poll_cq_io_take(&c->io);
	}
}

/* The connection ends by itself: drop the I/O (if one is in flight it
 * becomes the loop's orphan, C3) and record why. */
static enum poll_status conn_end(struct echo_conn *c, enum conn_end why)
{
	if (c->state == CONN_RECV || c->state == CONN_SEND ||
	    c->state == CONN_CANCEL)
		poll_future_drop(&c->io.base);
	c->end = why;
	c->state = CONN_DONE;
	c->base.out = 0;
	return POLL_READY;
}

/* The I/O is pending: has the connection been idle for the whole period?
 * The timeout runs from last_input; one that expires early is submitted
 * again for the rest, so a busy connection costs one timeout operation per
 * period, not one per message. */
static enum poll_status conn_idle_poll(struct echo_conn *c,
				       struct poll_cx *cx)
{
	uint64_t limit = c->srv->opts->idle_timeout_ns;
	uint64_t idle;

	if (limit == 0 || c->state == CONN_CANCEL)
		return POLL_PENDING;
	for (;;) {
		if (!c->idle_armed) {
			idle = reactor_now(c->srv->loop->r) - c->last_input;
			poll_cq_timeout_init(&c->idle, c->srv->loop,
					     idle < limit ? limit - idle : 0);
			c->idle_armed = true;
		}
		if (poll_future_poll(&c->idle.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		poll_future_drop(&c->idle.base);
		c->idle_armed = false;
		idle = reactor_now(c->srv->loop->r) - c->last_input;
		if (c->idle.base.out < 0)
			return conn_end(c, CONN_END_ERROR);
		if (idle >= limit)
			break;
	}
	if (c->state == CONN_SEND)       /* no input to wait for: end now */
		return conn_end(c, CONN_END_IDLE);
	poll_cq_io_cancel(&c->io);       /* C5: the recv may still win */
	c->state = CONN_CANCEL;
	return POLL_PENDING;
}

static enum poll_status conn_poll(struct poll_future *f, struct poll_cx *cx)
{
	struct echo_conn *c = (struct echo_conn *)f;
	ssize_t n;

	for (;;) {
		switch (c->state) {
		case CONN_START:
			c->last_input = reactor_now(cx->loop->r);
			conn_recv(c);
			continue;

		case CONN_RECV:
		case CONN_CANCEL:
			if (poll_future_poll(&c->io.base, cx) == POLL_PENDING)
				return conn_idle_poll(c, cx);
			n = c->io.base.out;
			if (n <= 0 && !c->srv->ready)
				c->buf = poll_cq_io_take(&c->io); /* (C1) */
			if (n == -ECANCELED && c->state == CONN_CANCEL)
				return conn_end(c, CONN_END_IDLE);
			if (n == 0)
				return conn_end(c, CONN_END_EOF);
			if (n < 0)
				return conn_end(c, CONN_END_ERROR);
			c->last_input = reactor_now(cx->loop->r);
			conn_send(c);
			continue;

		case CONN_SEND:
			if (poll_future_poll(&c->io.base, cx) == POLL_PENDING)
				return conn_idle_poll(c, cx);
			n = c->io.base.out;
			conn_sent(c);
			if (n < 0)
				return conn_end(c, CONN_END_ERROR);
			c->srv->stats->bytes += (uint64_t)n;
			conn_recv(c);
			continue;

		case CONN_DONE:
		case CONN_DROPPED:
			return POLL_READY;
		}
	}
}

/* ---- close ------------------------------------------------------------------- */

/* The connection's drop.  Its I/O and idle leaves are dropped: one in
 * flight becomes the loop's orphan with the buffer it holds (C3), and the
 * handle is closed once no orphan works on it (C4). */
static void conn_close(struct poll_future *f)
{
	struct echo_conn *c = (struct echo_conn *)f;
	struct echo_server *srv = c->srv;
	struct echo_stats *st = srv->stats;

	switch (c->state) {
	case CONN_DROPPED:
		return;
	case CONN_RECV:
	case CONN_SEND:
	case CONN_CANCEL:
		conn_end(c, CONN_END_NONE);
		break;
	default:
		break;
	}
	switch (c->end) {
	case CONN_END_NONE:
		st->cancelled++;
		break;
	case CONN_END_EOF:
		st->closed++;
		break;
	case CONN_END_IDLE:
		st->timed_out++;
		break;
	case CONN_END_ERROR:
		st->failed++;
		break;
	}
	if (c->idle_armed)
		poll_future_drop(&c->idle.base);
	poll_cq_close(srv->loop, c->handle);
	poll_buf_unref(c->buf);
	c->buf = NULL;
	conn_unlink(srv, c);
	c->state = CONN_DROPPED;
}

static const struct poll_future_vt conn_vt = {
	.name = "echo_cq_conn",
	.poll = conn_poll,
	.drop = conn_close,
};

/* ---- accept ------------------------------------------------------------------ */

/* The spare descriptor, opened again after a shed (on a ring only). */
static void server_reserve_open(struct echo_server *srv)
{
	int h;

	if (reactor_is_sim(srv->loop->r) || srv->reserve >= 0)
		return;
	h = completion_file_open(poll_cq_loop_of(srv->loop)->cq, "/dev/null",
				 O_RDONLY, 0);
	srv->reserve = h >= 0 ? h : -1;
}

static void server_on_accept(struct echo_server *srv, ssize_t h)
{
	struct echo_stats *st = srv->stats;
	unsigned max = srv->opts->max_conns;

	if (h >= 0 && srv->shedding) {
		completion_close(poll_cq_loop_of(srv->loop)->cq, (int)h);
		srv->shedding = false;
		server_reserve_open(srv);
		return;
	}
	if (h >= 0) {
		if (max > 0 && srv->nconns >= max) {
			st->refused++;
			completion_close(poll_cq_loop_of(srv->loop)->cq, (int)h);
		} else {
			conn_start(srv, (int)h);
		}
		return;
	}
	st->accept_errors++;
	if (reactor_accept_error_is_fatal(h)) {
		srv->state = SERVER_CLOSED;
	} else if ((h == -EMFILE || h == -ENFILE) &&
		   !reactor_is_sim(srv->loop->r)) {
		if (srv->reserve >= 0) {           /* shed the next one */
			completion_close(poll_cq_loop_of(srv->loop)->cq,
					 srv->reserve);
			srv->reserve = -1;
			srv->shedding = true;
		} else {                           /* wait, do not spin */
			poll_cq_timeout_init(&srv->backoff, srv->loop,
					     SERVER_BACKOFF_NS);
			srv->state = SERVER_BACKOFF;
		}
	}
}

static enum poll_status server_poll(struct poll_future *f,
				    struct poll_cx *cx)
{
	struct echo_server *srv = (struct echo_server *)f;

	for (;;) {
		switch (srv->state) {
		case SERVER_ACCEPT:
			if (poll_future_poll(&srv->accept.base, cx) ==
			    POLL_PENDING)
				return POLL_PENDING;
			poll_future_drop(&srv->accept.base);
			server_on_accept(srv, srv->accept.base.out);
			poll_cq_accept_init(&srv->accept, srv->loop,
					    srv->listener);
			continue;
		case SERVER_BACKOFF:
			if (poll_future_poll(&srv->backoff.base, cx) ==
			    POLL_PENDING)
				return POLL_PENDING;
			poll_future_drop(&srv->backoff.base);
			server_reserve_open(srv);
			srv->state = SERVER_ACCEPT;
			continue;
		case SERVER_CLOSED:
			return POLL_PENDING;
		}
	}
}

/* ---- shutdown ------------------------------------------------------------------ */

/* The server's drop: stop accepting (the accept in flight becomes an
 * orphan; a connection it still brings is closed by the loop), then abort
 * every connection. */
static void server_shutdown(struct poll_future *f)
{
	struct echo_server *srv = (struct echo_server *)f;

	poll_future_drop(&srv->accept.base);
	if (srv->state == SERVER_BACKOFF)
		poll_future_drop(&srv->backoff.base);
	while (srv->conns != NULL)
		poll_task_abort(srv->conns->task);
}

static const struct poll_future_vt server_vt = {
	.name = "echo_cq_server",
	.poll = server_poll,
	.drop = server_shutdown,
};

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


size_t poll_echo_completion_ring_bytes(size_t bufsize)
{
	return (size_t)completion_ring_buffers(RING_BUFFERS) * bufsize;
}

/* Buffers on readiness: the loop's ring, one block of mem for the run, in
 * *mem (freed by the caller after the queue).  -EOPNOTSUPP where the queue
 * has no provided buffer rings. */
static int server_ring_open(struct echo_server *srv, struct completion *cq,
			    unsigned char **mem)
{
	unsigned count = completion_ring_buffers(RING_BUFFERS);
	size_t size = srv->opts->bufsize;
	int rc;

	if (!completion_supports(cq, COMPLETION_FEATURE_MULTISHOT_RECV))
		return -EOPNOTSUPP;
	*mem = mem_alloc((size_t)count * size);
	if (*mem == NULL)
		return -ENOMEM;
	rc = poll_cq_ring_provide(srv->loop, RING_GROUP, *mem, size, count);
	if (rc < 0)
		return rc;
	srv->ready = true;
	return 0;
}

/* The ring buffers not back in the ring at the end (C7): as the simulated
 * kernel counts them (every op is done now, so the bytes it owns are the
 * ring's), else as the loop does. */
static uint64_t server_ring_out(const struct echo_server *srv,
				struct poll_cq_loop *cl)
{
	uint64_t ops, bytes;

	if (!srv->ready)
		return 0;
	if (!reactor_is_sim(cl->loop.r))
		return cl->ring_lent;
	completion_sim_owned(cl->cq, &ops, &bytes);
	return cl->ring_count - bytes / cl->ring_size;
}

int poll_echo_serve_completion(struct reactor *r, struct offload *o,
			       const struct echo_opts *opts,
			       struct echo_stats *stats)
{
	struct echo_server srv = {
		.base = { .vt = &server_vt },
		.state = SERVER_ACCEPT,
		.opts = opts,
		.stats = stats,
	};
	char why[COMPLETION_REASON_MAX];
	struct completion *cq;
	struct poll_cq_loop cl;
	unsigned char *ring_mem = NULL;
	int lh, port, rc;

	(void)o;
	memset(stats, 0, sizeof(*stats));
	poll__cq_stats_reset();
	if (opts->bufsize == 0)
		return -EINVAL;
	if (opts->buffers == ECHO_BUFFERS_READY && opts->bufsize > UINT32_MAX)
		return -EINVAL;          /* a ring buffer's length is 32 bits */
	if (opts->reuse_port)
		return -EOPNOTSUPP;
	rc = completion_new_beside(r, 0, &cq, why, sizeof(why));
	if (rc < 0)
		return rc;
	lh = completion_listen(cq, opts->host, opts->port, SOMAXCONN);
	if (lh < 0) {
		rc = lh;
		goto out_free_queue;
	}
	port = completion_local_port(cq, lh);
	if (port < 0) {
		rc = port;
		goto out_close_listener;
	}
	poll_loop_init_completion(&cl, r, cq, NULL);
	srv.loop = &cl.loop;
	if (opts->buffers == ECHO_BUFFERS_READY) {
		rc = server_ring_open(&srv, cq, &ring_mem);
		if (rc < 0)
			goto out_close_listener;
	}
	srv.listener = lh;
	srv.reserve = -1;
	server_reserve_open(&srv);
	poll_cq_accept_init(&srv.accept, &cl.loop, lh);
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)port);

	workload_probe_publish(server_cancel_conn, &srv);
	rc = poll_block_on(&cl.loop, &srv.base);
	workload_probe_clear(&srv);
	if (rc == -EINTR || rc == -EDEADLK)
		rc = 0;
	poll_loop_fini(&cl.loop);        /* waits for every orphan (C6) */
	cl.stats.ring_out_at_end = server_ring_out(&srv, &cl);
	poll__cq_stats_publish(&cl);
	if (srv.reserve >= 0)
		completion_close(cq, srv.reserve);
out_close_listener:
	completion_close(cq, lh);
out_free_queue:
	completion_free(cq);
	mem_free(ring_mem);              /* after the queue (C7) */
	return rc;
}
