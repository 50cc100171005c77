/* echo.c: the echo workload (RFC 862) in the push engine.
 *
 * Per connection: read, write all of it back, repeat until end of stream.
 * In callback style that is two callbacks that start each other: the read's
 * callback starts the write, the write's callback starts the next read.
 * Exactly one operation of a connection is pending at any time (or none,
 * inside a callback), so the callback that sees the end of the connection
 * can free it: no other callback can still be coming for it.
 *
 * Cancellation is threaded through by hand (claim C3): the server has a
 * token, each connection a child token, and every operation is started with
 * one.  The idle timeout and the shutdown cancel tokens; the cancelled
 * operation's callback then closes the connection, and a flag says why.
 *
 * Memory, per connection: one block holding the connection and its read
 * buffer (opts->bufsize), plus the request of its one pending operation.
 * The idle timer and the token are embedded: they cost no allocation.
 * Under the idiomatic policy an echo round trip allocates two requests (a
 * read and a write); pooled, none in a steady state; with the fast path, a
 * request only for an operation that has to wait.
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) the block holds the
 * connection only, and the read is push_read_alloc(), libuv's alloc_cb: a
 * connection that waits for input holds no buffer.  When it is readable
 * the read asks conn_alloc() for one, from the server's few spare buffers
 * (or the heap); the write back tries at once (push_try_write()) and the
 * buffer goes back to the spares; only bytes the peer would not take yet
 * are kept, copied into a block of their size, until they are written.
 *
 * In the completion mode (push_echo_serve_completion()) the same code runs
 * on a loop over a completion queue: every read and write is submitted
 * with the connection's buffer, which the kernel owns until the callback
 * (push.h, K1); a cancel (the idle timer, the shutdown) only asks, and the
 * callback that closes the connection, and frees its buffer, runs from the
 * op's completion.  With buffers on readiness there (K4) the loop has one
 * provided buffer ring (push_loop_ring(), made here at the start, freed
 * with the loop) and the same push_read_alloc() receives into a buffer the
 * kernel picks from it when bytes arrive (conn_picked()); the write back
 * is submitted from that ring buffer, which goes back to the ring
 * (conn_buf_put()) in the write's callback, whatever its result.  The
 * cost, chosen over copying: a peer that does not read holds a ring
 * buffer until the write completes or its idle timeout closes it; a copy
 * of the unsent tail, as on readiness, would cost an allocation and a copy
 * for every write, since a submitted send has no "taken at once" part to
 * split off.  A dry ring makes reads wait (the loop's starved list), not
 * fail.
 *
 * The same functions, in the same order, as poll/echo.c: the server, the
 * connection start, the read/echo step, close, accept, shutdown, the entry
 * point.
 */
#include "push_impl.h"
#include "container_of.h"
#include "mem.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Buffers on readiness: spare read buffers the server keeps for the next
 * readable connection, instead of giving them back to the heap.  A buffer
 * is in use from a readable edge to the end of the callback that writes it
 * back, so as many are in use at once as one loop iteration finds
 * connections readable: under a busy load, tens.  Past this many spares
 * (1 MiB of 16 KiB buffers) a buffer goes back to the heap. */
#define ECHO_SPARE_BUFS 64

/* With the fast path, operations completed at once in a row by one
 * connection before it is made to wait for the loop like everyone else. */
#define ECHO_SYNC_BUDGET 16

#define ECHO_BACKLOG 0      /* the most the system allows: SOMAXCONN */

/* ---- the server ---------------------------------------------------------- */

struct echo_server {
	struct push_loop *loop;
	const struct echo_opts *opts;
	struct echo_stats *stats;
	struct push_stream listener;
	struct push_token token;        /* parent of every connection's token */
	unsigned conns;                 /* open now */
	struct echo_conn *conn_list;    /* the open ones, newest first */
	bool stopping;                  /* the shutdown has begun */
	/* ECHO_BUFFERS_READY: read buffers not in use, linked through their
	 * first bytes; at most ECHO_SPARE_BUFS, freed at the end. */
	void *spare;
	unsigned nspare;
};

/* doc:begin echo-conn-struct */
struct echo_conn {
	struct echo_server *srv;
	struct push_stream stream;
	struct push_token token;        /* child of the server's */
	struct reactor_timer idle;      /* restarted at every read */
	bool timed_out;                 /* the idle timer cancelled the token */
	bool cancelled;                 /* cancelled alone (workload_cancel_part) */
	struct echo_conn *prev, *next;  /* srv->conn_list */
	/* ECHO_BUFFERS_READY: the buffer conn_alloc() handed out, from the
	 * edge to the write back (NULL while waiting for input), and the
	 * copy of what the write back could not send at once, with its size
	 * (NULL unless a write is pending).  In the completion mode rbuf is
	 * the ring buffer the kernel picked, held until the write back's
	 * callback. */
	unsigned char *rbuf;
	unsigned char *unsent;
	size_t echoing;                 /* bytes read, counted once all are sent */
	unsigned char buf[];            /* opts->bufsize; ECHO_BUFFERS_CONN only */
};
/* doc:end echo-conn-struct */

static void conn_read(struct echo_conn *c);
static void conn_idle_restart(struct echo_conn *c);
static void conn_close(struct echo_conn *c, ssize_t why);
static void server_accept(struct echo_server *srv);

/* ---- a connection starts ----------------------------------------------------- */

/* doc:begin echo-start */
/* A new connection on handle h: one allocation, then the first read.  Out
 * of memory, the connection is closed and counted as failed. */
static void conn_start(struct echo_server *srv, int h)
{
	struct echo_stats *st = srv->stats;
	struct echo_conn *c;

	st->accepted++;
	c = mem_alloc(sizeof(*c) + (srv->opts->buffers == ECHO_BUFFERS_CONN ?
				    srv->opts->bufsize : 0));
	if (c == NULL)
		goto out_close_handle;
	memset(c, 0, sizeof(*c));
	c->srv = srv;
	if (push_stream_open(srv->loop, &c->stream, h) < 0)
		goto out_free_conn;
	push_token_init(&c->token, &srv->token);
	c->next = srv->conn_list;
	if (srv->conn_list != NULL)
		srv->conn_list->prev = c;
	srv->conn_list = c;
	srv->conns++;
	if (srv->conns > st->peak_conns)
		st->peak_conns = srv->conns;
	conn_idle_restart(c);
	conn_read(c);
	return;

out_free_conn:
	mem_free(c);
out_close_handle:
	reactor_close(srv->loop->r, h);
	st->failed++;
}
/* doc:end echo-start */

/* ---- the read/echo step -------------------------------------------------------- */

static void conn_on_read(void *data, ssize_t n);
static void conn_on_written(void *data, ssize_t n);
static void conn_on_ring_written(void *data, ssize_t n);
static bool conn_echo(struct echo_conn *c, ssize_t n, ssize_t *sync);
static const struct push_alloc conn_allocator;

/* doc:begin echo-read */
/* Start a read.  With the fast path the read and the write back may both
 * complete inside their start calls: go round at once, at most
 * ECHO_SYNC_BUDGET times, then wait for the loop (passing no `sync`) so
 * that one busy connection cannot hold the loop. */
static void conn_read(struct echo_conn *c)
{
	struct echo_server *srv = c->srv;

	for (unsigned budget = ECHO_SYNC_BUDGET;; budget--) {
		ssize_t n, *sync = budget > 0 ? &n : NULL;
		int rc = srv->opts->buffers == ECHO_BUFFERS_READY ?
			push_read_alloc(srv->loop, &c->stream,
					&conn_allocator, &c->token,
					conn_on_read, c, NULL, sync) :
			push_read(srv->loop, &c->stream, c->buf,
				  srv->opts->bufsize, &c->token, conn_on_read,
				  c, NULL, sync);
		if (rc == PUSH_STARTED)
			return;
		if (rc < 0) {
			conn_close(c, rc);
			return;
		}
		if (!conn_echo(c, n, sync))
			return;
	}
}

/* ---- buffers on readiness ---- */

/* The read is readable: a buffer for it, a spare one if there is one.
 * Lifetime: c->rbuf from here until conn_buf_put(), which the read calls
 * (conn_release) if nothing came, else the write back once it has tried. */
static void *conn_alloc(void *data, size_t *n)
{
	struct echo_conn *c = data;
	struct echo_server *srv = c->srv;
	void *buf = srv->spare;

	if (buf != NULL) {
		memcpy(&srv->spare, buf, sizeof(void *));
		srv->nspare--;
	} else {
		buf = mem_alloc(srv->opts->bufsize);
	}
	c->rbuf = buf;
	*n = srv->opts->bufsize;
	return buf;
}

/* c's buffer goes back to the spares, or to the heap if they are full. */
static void conn_buf_put(struct echo_conn *c)
{
	struct echo_server *srv = c->srv;
	void *buf = c->rbuf;

	if (buf == NULL)
		return;
	c->rbuf = NULL;
	if (srv->loop->cq != NULL) {
		push_ring_return(srv->loop, buf);
		return;
	}
	if (srv->nspare >= ECHO_SPARE_BUFS ||
	    srv->opts->bufsize < sizeof(void *)) {  /* too small to link */
		mem_free(buf);
		return;
	}
	memcpy(buf, &srv->spare, sizeof(void *));
	srv->spare = buf;
	srv->nspare++;
}

static void conn_release(void *data, void *buf)
{
	(void)buf;              /* it is c->rbuf */
	conn_buf_put(data);
}

/* The completion mode: the bytes are in ring buffer buf, c's until
 * conn_buf_put() (K4). */
static void conn_picked(void *data, void *buf)
{
	struct echo_conn *c = data;

	c->rbuf = buf;
}

static const struct push_alloc conn_allocator = {
	.alloc = conn_alloc,
	.release = conn_release,
	.picked = conn_picked,
};

/* The completion mode: n bytes are in ring buffer c->rbuf; submit the
 * write back from it.  The buffer goes back in conn_on_ring_written(), or
 * here if the write cannot start (the token cancelled by a cancel that lost
 * the race to the read, or no memory).  Returns false: a callback goes on,
 * or the connection is closed. */
static bool conn_echo_ring(struct echo_conn *c, size_t n)
{
	int rc = push_write(c->srv->loop, &c->stream, c->rbuf, n, &c->token,
			    conn_on_ring_written, c, NULL, NULL);

	if (rc == PUSH_STARTED)
		return false;
	conn_buf_put(c);
	conn_close(c, rc);
	return false;
}

/* n bytes are in c->rbuf: write what the peer takes now, give the buffer
 * back, and keep only the rest, in a copy of its size, for a write that
 * waits.  Returns as conn_echo(). */
static bool conn_echo_ready(struct echo_conn *c, size_t n, ssize_t *sync)
{
	ssize_t w;
	size_t rest;
	int rc;

	if (c->srv->loop->cq != NULL)
		return conn_echo_ring(c, n);
	w = push_try_write(c->srv->loop, &c->stream, c->rbuf, n);
	if (w >= 0 && (size_t)w == n) {         /* the common case */
		conn_buf_put(c);
		c->srv->stats->bytes += n;
		return true;
	}
	if (w < 0)
		goto out_close;
	rest = n - (size_t)w;
	c->unsent = mem_alloc(rest);
	if (c->unsent == NULL) {
		w = -ENOMEM;
		goto out_close;
	}
	memcpy(c->unsent, c->rbuf + w, rest);
	conn_buf_put(c);
	c->echoing = n;
	rc = push_write(c->srv->loop, &c->stream, c->unsent, rest, &c->token,
			conn_on_written, c, NULL, sync);
	if (rc == PUSH_STARTED)
		return false;
	mem_free(c->unsent);
	c->unsent = NULL;
	w = rc == PUSH_SYNC ? *sync : rc;
	if (w < 0) {
		conn_close(c, w);
		return false;
	}
	c->srv->stats->bytes += n;
	return true;

out_close:
	conn_buf_put(c);
	conn_close(c, w);
	return false;
}

/* n bytes were read (or n <= 0: the end): write them back.  Returns true
 * when the write completed at once (fast path) and the caller should read
 * again; false when a callback will go on, or the connection is closed. */
static bool conn_echo(struct echo_conn *c, ssize_t n, ssize_t *sync)
{
	ssize_t w;
	int rc;

	if (n <= 0) {
		conn_close(c, n);
		return false;
	}
	conn_idle_restart(c);
	if (c->srv->opts->buffers == ECHO_BUFFERS_READY)
		return conn_echo_ready(c, (size_t)n, sync);
	rc = push_write(c->srv->loop, &c->stream, c->buf, (size_t)n, &c->token,
			conn_on_written, c, NULL, sync);
	if (rc == PUSH_STARTED)
		return false;
	w = rc == PUSH_SYNC ? *sync : rc;
	if (w < 0) {
		conn_close(c, w);
		return false;
	}
	c->srv->stats->bytes += (uint64_t)w;
	return true;
}

static void conn_on_read(void *data, ssize_t n)
{
	struct echo_conn *c = data;
	ssize_t w;

	push__callback_begins();        /* R2, counted */
	if (conn_echo(c, n, &w))
		conn_read(c);
}

static void conn_on_written(void *data, ssize_t n)
{
	struct echo_conn *c = data;

	push__callback_begins();        /* R2, counted */
	if (c->unsent != NULL) {        /* buffers on readiness: the rest */
		mem_free(c->unsent);
		c->unsent = NULL;
		if (n >= 0)
			n = (ssize_t)c->echoing;
	}
	if (n < 0) {
		conn_close(c, n);
		return;
	}
	c->srv->stats->bytes += (uint64_t)n;
	conn_read(c);
}

/* The completion mode's write back of a ring buffer is over, whatever
 * its result: the buffer goes back to the ring (K1: the kernel read it
 * until now), then as any write back. */
static void conn_on_ring_written(void *data, ssize_t n)
{
	struct echo_conn *c = data;

	push__callback_begins();        /* R2, counted */
	conn_buf_put(c);
	conn_on_written(data, n);
}
/* doc:end echo-read */

/* doc:begin echo-idle */
/* No input for idle_timeout_ns: cancel the connection's token; the
 * pending operation calls back with -ECANCELED and closes it. */
static void conn_idle_expired(struct reactor_timer *t)
{
	struct echo_conn *c = container_of(t, struct echo_conn, idle);

	c->timed_out = true;
	push_token_cancel(&c->token);   /* the pending operation calls back */
}

/* Input arrived (or the connection starts): the idle timer starts over.
 * O(log n) in the reactor's timer heap, no allocation. */
static void conn_idle_restart(struct echo_conn *c)
{
	uint64_t ns = c->srv->opts->idle_timeout_ns;

	if (ns > 0)
		reactor_timer_start(c->srv->loop->r, &c->idle,
				    ns, conn_idle_expired);
}
/* doc:end echo-idle */

/* ---- close ------------------------------------------------------------------- */

/* doc:begin echo-close */
/* The connection ends, for the reason `why`: 0 end of stream, -ECANCELED
 * the idle timer or the shutdown (the flags say which), else an error.
 * Called with no operation pending, so nothing can call back into c. */
static void conn_close(struct echo_conn *c, ssize_t why)
{
	struct echo_server *srv = c->srv;
	struct echo_stats *st = srv->stats;

	if (why == 0)
		st->closed++;
	else if (why == -ECANCELED && c->timed_out)
		st->timed_out++;
	else if (why == -ECANCELED && (srv->stopping || c->cancelled))
		st->cancelled++;
	else
		st->failed++;
	reactor_timer_stop(srv->loop->r, &c->idle);
	conn_buf_put(c);                /* none held here; in case */
	push_stream_close(&c->stream);
	push_token_destroy(&c->token);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conn_list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->conns--;
	mem_free(c);
}
/* doc:end echo-close */

/* ---- accept ------------------------------------------------------------------ */

static void server_accept_later(struct echo_server *srv);

static void server_on_accept(void *data, ssize_t h)
{
	struct echo_server *srv = data;
	struct echo_stats *st = srv->stats;
	unsigned max = srv->opts->max_conns;

	push__callback_begins();        /* R2, counted */
	if (h >= 0) {
		if (srv->stopping) {
			/* Accepted just before the shutdown (R5). */
			st->accepted++;
			st->cancelled++;
			reactor_close(srv->loop->r, (int)h);
		} else if (max > 0 && srv->conns >= max) {
			st->refused++;
			reactor_close(srv->loop->r, (int)h);
		} else {
			conn_start(srv, (int)h);
		}
	} else if (h != -ECANCELED) {
		/* -EMFILE, -ENFILE: the reactor shed one pending connection,
		 * so accepting again makes progress and never spins. */
		st->accept_errors++;
		if (reactor_accept_error_is_fatal(h)) {
			push_stream_close(&srv->listener);
			return;
		}
		/* In the completion mode the kernel's accept says -EMFILE at
		 * once whether a connection is pending or not: pause before
		 * accepting again, or the loop would spin. */
		if (srv->loop->cq != NULL) {
			server_accept_later(srv);
			return;
		}
	}
	server_accept(srv);
}

/* The pause before accepting again after the accept's request could not
 * be allocated. */
#define ECHO_ACCEPT_RETRY_NS (1000 * 1000)

static void server_on_retry(void *data, ssize_t rc)
{
	struct echo_server *srv = data;

	push__callback_begins();        /* R2, counted */
	if (rc == 0)
		server_accept(srv);
	else
		push_stream_close(&srv->listener);  /* shutdown */
}

/* Accept again after ECHO_ACCEPT_RETRY_NS, under the server's token. */
static void server_accept_later(struct echo_server *srv)
{
	if (push_sleep(srv->loop, ECHO_ACCEPT_RETRY_NS, &srv->token,
		       server_on_retry, srv, NULL) != PUSH_STARTED)
		push_stream_close(&srv->listener);
}

/* Wait for the next connection.  The accept is cancelled by the server's
 * token.  Out of memory for its request, the server tries again after a
 * pause (a sleep, under the same token) instead of refusing every later
 * connection; when neither can start (cancelled, or still out of memory)
 * the listener closes and the server only finishes what it has. */
static void server_accept(struct echo_server *srv)
{
	int rc;

	if (!push_stream_is_open(&srv->listener))
		return;
	rc = push_accept(srv->loop, &srv->listener, &srv->token,
			 server_on_accept, srv, NULL, NULL);
	if (rc == -ENOMEM) {
		srv->stats->accept_errors++;
		rc = push_sleep(srv->loop, ECHO_ACCEPT_RETRY_NS, &srv->token,
				server_on_retry, srv, NULL);
		if (rc == PUSH_STARTED)
			return;
	}
	if (rc < 0) {
		if (rc != -ECANCELED)
			srv->stats->accept_errors++;
		push_stream_close(&srv->listener);
	}
}

/* ---- shutdown ---------------------------------------------------------------- */

/* doc:begin echo-shutdown */
/* The loop's stop handler: a stop was requested, or (sim) the world is
 * quiescent.  One cancel reaches the accept and every connection; their
 * callbacks close them, and the loop runs until nothing is pending. */
static void server_shutdown(void *arg)
{
	struct echo_server *srv = arg;

	srv->stopping = true;
	push_token_cancel(&srv->token);
}
/* doc:end echo-shutdown */

/* workload_cancel_part(): cancel connection i of the list alone, as the
 * idle timer does: its pending operation calls back with -ECANCELED and
 * closes it (the token stays cancelled, so a completion that won the race
 * closes it at its next start).  O(i). */
static int server_cancel_conn(void *arg, unsigned i)
{
	struct echo_server *srv = arg;
	struct echo_conn *c = srv->conn_list;

	while (c != NULL && i-- > 0)
		c = c->next;
	if (c == NULL || c->cancelled)
		return -ENOENT;
	c->cancelled = true;
	push_token_cancel(&c->token);
	return 0;
}

/* ---- the entry point ----------------------------------------------------------- */

/* The completion mode's ring: PUSH_ECHO_RING_BUFFERS, or
 * PUSHPOLL_URING_RING_BUFFERS (a power of two up to 32768) as the io_uring
 * floor reads it, so that a test can run it dry. */
static unsigned ring_buffers(void)
{
	const char *v = getenv("PUSHPOLL_URING_RING_BUFFERS");
	char *end;
	unsigned long n;

	if (v == NULL)
		return PUSH_ECHO_RING_BUFFERS;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n == 0 || n > 32768 || (n & (n - 1)) != 0)
		return PUSH_ECHO_RING_BUFFERS;
	return (unsigned)n;
}

size_t push_echo_completion_ring_bytes(size_t bufsize)
{
	return (size_t)ring_buffers() * bufsize;
}

static void server_spares_free(struct echo_server *srv)
{
	while (srv->spare != NULL) {
		void *buf = srv->spare;

		memcpy(&srv->spare, buf, sizeof(void *));
		mem_free(buf);
	}
	srv->nspare = 0;
}

/* The server on r, in the readiness mode (cq NULL) or in the completion
 * mode over cq: the same code, but for the loop's initialisation. */
int push__echo_serve(struct reactor *r, struct offload *o,
		      struct completion *cq, const struct echo_opts *opts,
		      struct echo_stats *stats)
{
	struct echo_server srv = { .opts = opts, .stats = stats };
	struct push_loop loop;
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
		rc = port;
		goto out_close_listener;
	}
	if (cq != NULL)
		push_loop_init_completion(&loop, r, cq, NULL);
	else
		push_loop_init(&loop, r, o, NULL);
	srv.loop = &loop;
	if (cq != NULL && opts->buffers == ECHO_BUFFERS_READY) {
		rc = push_loop_ring(srv.loop, opts->bufsize, ring_buffers());
		if (rc < 0)
			goto out_fini_loop;
	}
	rc = push_stream_open(srv.loop, &srv.listener, lh);
	if (rc < 0)
		goto out_fini_loop;
	push_token_init(&srv.token, NULL);
	push_loop_on_stop(srv.loop, server_shutdown, &srv);
	server_accept(&srv);
	if (!push_stream_is_open(&srv.listener)) {
		/* The first accept could not start; the stream closed lh. */
		push_token_destroy(&srv.token);
		push_loop_fini(srv.loop);
		return -ENOMEM;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)port);

	workload_probe_publish(server_cancel_conn, &srv);
	rc = push_loop_run(srv.loop);
	if (rc < 0 && !srv.stopping) {
		/* The reactor failed: shut down anyway, and free what we can. */
		server_shutdown(&srv);
		push_loop_run(srv.loop);
	}
	workload_probe_clear(&srv);
	push_token_destroy(&srv.token);
	push_loop_fini(srv.loop);
	server_spares_free(&srv);
	return rc < 0 ? rc : 0;

out_fini_loop:
	push_loop_fini(srv.loop);
out_close_listener:
	reactor_close(r, lh);
	return rc;
}

int push_echo_serve(struct reactor *r, struct offload *o,
		    const struct echo_opts *opts, struct echo_stats *stats)
{
	return push__echo_serve(r, o, NULL, opts, stats);
}
