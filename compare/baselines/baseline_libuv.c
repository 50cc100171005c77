/* baseline_libuv.c: the two workloads written on libuv 1.44.
 *
 * Written the way libuv's own documentation and tests write a server: a
 * private loop (uv_loop_init), uv_tcp_t handles, uv_read_start() with an
 * alloc callback, uv_write() with a request per write, one uv_timer_t per
 * connection for the idle timeout, uv_fs_read()/uv_fs_write() on libuv's
 * thread pool for files.  Each handle's memory is freed in its close
 * callback, never before (libuv's rule), and the functions return only once
 * uv_loop_close() has found the loop empty.
 *
 * Where libuv offers a cheaper idiom that its users rely on, it is used,
 * since a baseline is meant to show the library at its best:
 * - the alloc callback hands out the connection's own buffer (one
 *   allocation per connection, the buffer included, instead of one per
 *   read);
 * - a write back first tries uv_try_write(), which completes most writes
 *   at once; only the rest goes through uv_write(), with the request
 *   embedded in the connection (at most one write is ever outstanding);
 * - an idle timer is not restarted on every read: the read records the
 *   time, and the timer, when it fires, starts again for what is left
 *   (node.js keeps its socket timeouts the same way).
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) the alloc callback hands
 * out the loop's one buffer instead: libuv calls alloc_cb only when the
 * socket is readable and read_cb at once after the read, so no two
 * connections can hold it at the same time, and a connection that waits
 * holds none.  What uv_try_write() does not send is copied into a block of
 * its own size for uv_write(), freed in the write callback.
 *
 * The reactor is consulted for its stop flag only, by a 50 ms repeating
 * timer.  All allocations of libuv go through mem (baseline__route_libuv(),
 * once per process, before the first loop exists).
 */
#include "config.h"

#include "baselines.h"

#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "container_of.h"
#include "mem.h"

enum {
	STOP_CHECK_MS = 50,     /* how often the stop flag is looked at */
};

/* ---- set-up shared by both workloads ---------------------------------------- */

static pthread_once_t route_once = PTHREAD_ONCE_INIT;
static int route_err;

static void route_allocations(void)
{
	route_err = baseline__route_libuv();
}

static pthread_mutex_t first_loop_mu = PTHREAD_MUTEX_INITIALIZER;
static bool first_loop_made;

/* libuv's first uv_loop_init() makes its epoll descriptor, then a pipe for
 * the whole process's signal handling inside uv_once(), and abort()s if
 * the pipe cannot be made.  So the first loop is made here, once the three
 * descriptors it needs have been seen to be free, and a lack of them is an
 * error like any other. */
static int first_loop(void)
{
	uv_loop_t loop;
	int fds[3], err = 0;

	pthread_mutex_lock(&first_loop_mu);
	if (!first_loop_made) {
		if (pipe(fds) != 0) {
			err = -errno;
		} else {
			fds[2] = dup(fds[0]);
			if (fds[2] < 0)
				err = -errno;
			else
				close(fds[2]);
			close(fds[0]);
			close(fds[1]);
		}
		if (err == 0)
			err = uv_loop_init(&loop);
		if (err == 0)
			uv_loop_close(&loop);
		first_loop_made = err == 0;
	}
	pthread_mutex_unlock(&first_loop_mu);
	return err;
}

/* Route libuv's allocations to mem: once per process, whoever calls first.
 * libuv may not be used before this (it would free memory it got from
 * malloc with mem_free).  Then make the process's first loop. */
static int libuv_setup(void)
{
	pthread_once(&route_once, route_allocations);
	return route_err < 0 ? route_err : first_loop();
}

/* ---- libuv's thread pool ------------------------------------------------------ */

/* libuv's threadpool.c: UV_THREADPOOL_SIZE threads (default 4, at most 1024),
 * each with an 8 MiB stack. */
enum { POOL_DEFAULT_THREADS = 4, POOL_MAX_THREADS = 1024 };
#define POOL_STACK_SIZE (8u << 20)

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static bool pool_started;

static void pool_probe_main(void *arg)
{
	uv_sem_wait(arg);
}

static void pool_nothing(uv_work_t *req)
{
	(void)req;
}

static unsigned pool_threads(void)
{
	const char *v = getenv("UV_THREADPOOL_SIZE");
	unsigned n = v != NULL ? (unsigned)atoi(v) : POOL_DEFAULT_THREADS;

	return n == 0 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : n;
}

/* libuv starts its pool at the first request that needs it, inside
 * uv_once(), and abort()s if a thread cannot be made (under a low
 * RLIMIT_AS, say).  So the fanout starts it first, where a failure can be
 * returned: the same threads, as many and with the same stack, are made
 * here and let go (glibc keeps their stacks for the next threads), then an
 * empty job on a loop of its own makes libuv start the pool at once.  Once
 * per process, as libuv's pool is.  Returns 0 or -errno (-EAGAIN). */
static int pool_start(void)
{
	uv_thread_options_t opt = { .flags = UV_THREAD_HAS_STACK_SIZE,
				    .stack_size = POOL_STACK_SIZE };
	unsigned n = pool_threads(), made = 0;
	uv_thread_t *tid;
	uv_loop_t loop;
	uv_work_t req;
	uv_sem_t go;
	int err = 0;

	pthread_mutex_lock(&pool_mu);
	if (pool_started)
		goto out_unlock;
	tid = mem_calloc(n, sizeof(*tid));
	if (tid == NULL || uv_sem_init(&go, 0) != 0) {
		mem_free(tid);
		err = -ENOMEM;
		goto out_unlock;
	}
	while (made < n && err == 0) {
		err = uv_thread_create_ex(&tid[made], &opt, pool_probe_main, &go);
		if (err == 0)
			made++;
	}
	for (unsigned i = 0; i < made; i++)
		uv_sem_post(&go);
	for (unsigned i = 0; i < made; i++)
		uv_thread_join(&tid[i]);
	uv_sem_destroy(&go);
	mem_free(tid);
	if (err == 0)
		err = uv_loop_init(&loop);
	if (err == 0) {
		err = uv_queue_work(&loop, &req, pool_nothing, NULL);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
	}
	pool_started = err == 0;
out_unlock:
	pthread_mutex_unlock(&pool_mu);
	return err;
}

/* Nanoseconds to libuv's milliseconds, rounded up so that a time-out never
 * fires early; 0 stays 0 (none). */
static uint64_t to_ms(uint64_t ns)
{
	return ns / CLOCK_NS_PER_MS + (ns % CLOCK_NS_PER_MS != 0); /* no overflow */
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Tear down a loop that failed to start: close what is open (handles not
 * yet given a close callback have nothing to free), let the closes run,
 * close the loop. */
static void loop_abandon(uv_loop_t *loop)
{
	uv_walk(loop, close_walk_cb, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(loop);
}

/* ==== echo ================================================================= */

struct echo_server;

/* A connection: the TCP handle, its idle timer, its write request and its
 * buffer, in one allocation.  It is freed when the close callbacks of both
 * handles have run (`handles` counts those still open). */
struct conn {
	uv_tcp_t tcp;
	uv_timer_t idle;            /* only when idle_timeout_ns != 0 */
	uv_write_t wreq;            /* the one write that may be outstanding */
	struct echo_server *s;
	struct conn *prev, *next; /* the server's list of open connections */
	uint64_t last_input;        /* uv_now() when input last arrived */
	size_t queued;              /* bytes of the read being written back */
	int handles;
	bool writing;               /* reading stopped until the write is done */
	char *unsent;               /* buffers on readiness: the copy uv_write()
				     * sends, until write_cb; else NULL */
	char buf[];                 /* opts->bufsize bytes; ECHO_BUFFERS_CONN
				     * only */
};

struct echo_server {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t stop_check;
	/* Refusals (over max_conns, or no memory for the connection) accept
	 * into this handle and close it.  While it is closing, a refusal
	 * waits: libuv holds the pending connection and stops watching the
	 * listener until the close callback takes it. */
	uv_tcp_t spare;
	bool spare_busy;
	uint64_t *spare_waiting;    /* counter of the refusal that waits, or NULL */
	struct reactor *r;
	const struct echo_opts *opts;
	struct echo_stats *stats;
	uint64_t idle_ms;
	unsigned conns;
	struct conn *list;
	bool stopping;
	char *rbuf;                 /* buffers on readiness: the loop's one
				     * read buffer, else NULL */
};

static void conn_closed_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles == 0) {
		mem_free(c->unsent);
		mem_free(c);
	}
}

/* Close c, counting why.  Its outstanding write, if any, ends with
 * UV_ECANCELED before the close callbacks run. */
static void conn_close(struct conn *c, uint64_t *counter)
{
	struct echo_server *s = c->s;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	(*counter)++;
	s->conns--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
	if (s->idle_ms != 0)
		uv_close((uv_handle_t *)&c->idle, conn_closed_cb);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	*buf = uv_buf_init(c->s->rbuf != NULL ? c->s->rbuf : c->buf,
			   (unsigned)c->s->opts->bufsize);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *rbuf);

/* The rest of a write back has gone out: read again. */
static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = container_of(req, struct conn, wreq);

	mem_free(c->unsent);        /* buffers on readiness: the copy went */
	c->unsent = NULL;
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;             /* UV_ECANCELED: closed meanwhile */
	if (status < 0) {
		conn_close(c, &c->s->stats->failed);
		return;
	}
	c->s->stats->bytes += c->queued;
	c->writing = false;
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		conn_close(c, &c->s->stats->failed);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *rbuf)
{
	struct conn *c = st->data;
	struct echo_stats *stats = c->s->stats;
	uv_buf_t b;
	int n;

	if (nread <= 0) {
		if (nread == UV_EOF)
			conn_close(c, &stats->closed);
		else if (nread < 0)
			conn_close(c, &stats->failed);
		return;             /* 0: EAGAIN, nothing read */
	}
	c->last_input = uv_now(&c->s->loop);
	b = uv_buf_init(rbuf->base, (unsigned)nread);
	n = uv_try_write(st, &b, 1);
	if (n == nread) {           /* the common case: all gone at once */
		stats->bytes += (uint64_t)n;
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		conn_close(c, &stats->failed);
		return;
	}
	if (n > 0) {
		b.base += n;
		b.len -= (size_t)n;
	}
	if (c->s->rbuf != NULL) {
		/* The loop's buffer is the next reader's: keep the rest. */
		c->unsent = mem_alloc(b.len);
		if (c->unsent == NULL) {
			conn_close(c, &stats->failed);
			return;
		}
		memcpy(c->unsent, b.base, b.len);
		b.base = c->unsent;
	}
	/* The buffer is busy until write_cb: stop reading into it. */
	uv_read_stop(st);
	c->writing = true;
	c->queued = (size_t)nread;
	if (uv_write(&c->wreq, st, &b, 1, write_cb) < 0)
		conn_close(c, &stats->failed);
}

/* The idle timer is started once and restarted only here: a read just
 * records the time, which costs nothing.  The clock runs from the last
 * input, whether the connection waits to read or to write back. */
static void idle_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	uint64_t now = uv_now(&c->s->loop);
	uint64_t idle_ms = c->s->idle_ms;

	if (now - c->last_input >= idle_ms) {
		conn_close(c, &c->s->stats->timed_out);
		return;
	}
	uv_timer_start(t, idle_cb, c->last_input + idle_ms - now, 0);
}

static void refuse(struct echo_server *s, uint64_t *counter);

static void spare_closed_cb(uv_handle_t *h)
{
	struct echo_server *s = container_of(h, struct echo_server, spare);
	uint64_t *waiting = s->spare_waiting;

	s->spare_busy = false;
	s->spare_waiting = NULL;
	if (waiting != NULL && !s->stopping)
		refuse(s, waiting);
}

/* Accept the pending connection into the spare handle and close it at once:
 * the peer sees a close.  Counted in *counter. */
static void refuse(struct echo_server *s, uint64_t *counter)
{
	if (s->spare_busy) {
		s->spare_waiting = counter;
		return;
	}
	uv_tcp_init(&s->loop, &s->spare);
	if (uv_accept((uv_stream_t *)&s->listener,
		      (uv_stream_t *)&s->spare) == 0)
		(*counter)++;
	s->spare_busy = true;
	uv_close((uv_handle_t *)&s->spare, spare_closed_cb);
}

static void connection_cb(uv_stream_t *listener, int status)
{
	struct echo_server *s = listener->data;
	const struct echo_opts *opts = s->opts;
	struct conn *c;

	if (status < 0) {           /* what libuv could not shed itself */
		s->stats->accept_errors++;
		return;
	}
	if (opts->max_conns != 0 && s->conns >= opts->max_conns) {
		refuse(s, &s->stats->refused);
		return;
	}
	s->stats->accepted++;
	c = mem_alloc(sizeof(*c) + (s->rbuf != NULL ? 0 : opts->bufsize));
	if (c == NULL) {
		refuse(s, &s->stats->failed);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->handles = 1;
	uv_tcp_init(&s->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
		s->stats->failed++;
		uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
		return;
	}
	c->next = s->list;
	if (s->list != NULL)
		s->list->prev = c;
	s->list = c;
	if (++s->conns > s->stats->peak_conns)
		s->stats->peak_conns = s->conns;
	c->last_input = uv_now(&s->loop);
	if (s->idle_ms != 0) {
		uv_timer_init(&s->loop, &c->idle);
		c->idle.data = c;
		c->handles++;
		uv_timer_start(&c->idle, idle_cb, s->idle_ms, 0);
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) < 0)
		conn_close(c, &s->stats->failed);
}

/* Every STOP_CHECK_MS: on a stop request close the listener, this timer
 * and every connection; uv_run() then returns, the loop being empty. */
static void echo_stop_check_cb(uv_timer_t *t)
{
	struct echo_server *s = t->data;

	if (!reactor_stop_requested(s->r))
		return;
	s->stopping = true;
	uv_close((uv_handle_t *)&s->listener, NULL);
	uv_close((uv_handle_t *)&s->stop_check, NULL);
	while (s->list != NULL)
		conn_close(s->list, &s->stats->cancelled);
}

int libuv_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats)
{
	struct echo_server s;
	struct sockaddr_in sa;
	int len = sizeof(sa);
	int err;

	memset(stats, 0, sizeof(*stats));
	stats->accept_errors_unseen = true;     /* see baselines.h */
	if (reactor_is_sim(r))
		return -ENOTSUP;
	if (opts->bufsize == 0 || opts->bufsize > UINT32_MAX)
		return -EINVAL;
	err = libuv_setup();
	if (err < 0)
		return err;
	memset(&s, 0, sizeof(s));
	s.r = r;
	s.opts = opts;
	s.stats = stats;
	s.idle_ms = to_ms(opts->idle_timeout_ns);
	if (opts->buffers == ECHO_BUFFERS_READY) {
		s.rbuf = mem_alloc(opts->bufsize);
		if (s.rbuf == NULL)
			return -ENOMEM;
	}
	err = uv_loop_init(&s.loop);
	if (err < 0) {
		mem_free(s.rbuf);
		return err;
	}
	uv_tcp_init(&s.loop, &s.listener);
	uv_timer_init(&s.loop, &s.stop_check);
	s.listener.data = &s;
	s.stop_check.data = &s;
	/* uv_tcp_bind() keeps EADDRINUSE for uv_listen() to report. */
	err = reactor_resolve(opts->host, opts->port, &sa);
	if (err == 0)
		err = uv_tcp_bind(&s.listener, (struct sockaddr *)&sa, 0);
	if (err == 0)
		err = uv_listen((uv_stream_t *)&s.listener, SOMAXCONN,
				connection_cb);
	if (err == 0)
		err = uv_tcp_getsockname(&s.listener, (struct sockaddr *)&sa,
					 &len);
	if (err < 0) {
		loop_abandon(&s.loop);
		mem_free(s.rbuf);
		return err;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, ntohs(sa.sin_port));
	uv_timer_start(&s.stop_check, echo_stop_check_cb, STOP_CHECK_MS,
		       STOP_CHECK_MS);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	err = uv_loop_close(&s.loop);
	mem_free(s.rbuf);
	return err;
}

/* ==== fanout =============================================================== */

struct fanout;

/* A chunk of the input, shared by every sink: the uv_fs_t that reads it,
 * then its data, in one allocation.  Chained in file order; `refs` counts
 * the sinks that still have to take it (the running sinks when it was
 * read); the last reference frees it. */
struct chunk {
	uv_fs_t req;
	struct fanout *f;
	struct chunk *next;
	unsigned refs;
	uint64_t offset;
	size_t len;
	uint64_t checksum;          /* of data, computed once when read */
	char data[];
};

/* A sink runs until it has taken the whole input or ends (error, time-out,
 * stop).  It writes one chunk at a time: `cur`, with `busy` while the
 * write is in libuv's hands (uv_write() for TCP, uv_fs_write() on the pool
 * for files).  A sink that ends while busy keeps its reference to cur
 * until the write's callback: the pool may still be writing from it. */
struct sink {
	uv_tcp_t tcp;               /* TCP sinks */
	uv_timer_t timer;           /* the sink timeout, when there is one */
	uv_write_t wreq;
	uv_fs_t fsreq;
	uv_file file;               /* file sinks; -1 once closed */
	struct fanout *f;
	struct fanout_sink_stats *stats;
	struct chunk *cur;
	size_t off;                 /* bytes of cur written (files) */
	bool running;
	bool busy;
};

struct fanout {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t stop_check;
	struct reactor *r;
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	uv_file in;
	uint64_t size, next_offset;
	uint64_t timeout_ms;
	bool eof;                   /* every chunk has been read */
	bool reading;               /* a read is on the pool */
	bool listening;             /* the listener is open */
	bool closed;                /* the timers have been closed */
	struct chunk *tail;         /* the newest chunk alive, or NULL */
	unsigned in_memory;
	unsigned running, subscribed;
	struct sink *sink;
};

static void chunk_put(struct fanout *f, struct chunk *c)
{
	if (--c->refs > 0)
		return;
	if (f->tail == c)
		f->tail = NULL;
	mem_free(c);
	f->in_memory--;
}

static void file_close(uv_loop_t *loop, uv_file fd)
{
	uv_fs_t req;

	uv_fs_close(loop, &req, fd, NULL);
	uv_fs_req_cleanup(&req);
}

/* Once no sink runs, close the timers; uv_run() returns when the writes
 * and the read still on the pool have called back. */
static void fanout_wind_down(struct fanout *f)
{
	if (f->running > 0 || f->closed || f->listening)
		return;
	f->closed = true;
	uv_close((uv_handle_t *)&f->stop_check, NULL);
	if (f->timeout_ms != 0)
		for (unsigned i = 0; i < f->opts->sinks; i++)
			uv_close((uv_handle_t *)&f->sink[i].timer, NULL);
}

/* End a running sink with err (0: it took everything).  Its references
 * go, but that of a chunk being written, which the write's callback drops
 * (a chunk cut short is not counted as taken). */
static void sink_end(struct sink *s, int err)
{
	struct fanout *f = s->f;
	struct chunk *c, *next;

	if (!s->running)
		return;
	s->running = false;
	s->stats->error = err;
	f->running--;
	if (f->timeout_ms != 0)
		uv_timer_stop(&s->timer);
	if (s->cur != NULL) {
		for (c = s->cur->next; c != NULL; c = next) {
			next = c->next;
			chunk_put(f, c);
		}
		if (!s->busy) {
			chunk_put(f, s->cur);
			s->cur = NULL;
		}
	}
	if (f->opts->kind == FANOUT_SINK_TCP) {
		uv_close((uv_handle_t *)&s->tcp, NULL);
	} else if (s->busy) {
		/* Still queued: cancelled, the callback gets UV_ECANCELED.
		 * Running: it finishes, and the callback closes the file. */
		uv_cancel((uv_req_t *)&s->fsreq);
	} else {
		file_close(&f->loop, s->file);
		s->file = -1;
	}
	fanout_wind_down(f);
}

static void end_all(struct fanout *f, int err)
{
	for (unsigned i = 0; i < f->opts->sinks; i++)
		sink_end(&f->sink[i], err);
}

/* The input cannot be read, or memory ran out: the fanout's own error, and
 * every sink ends with it. */
static void fanout_abort(struct fanout *f, int err)
{
	if (f->stats->error == 0)
		f->stats->error = err;
	end_all(f, err);
}

static void sink_write_cb(uv_write_t *req, int status);
static void sink_fs_cb(uv_fs_t *req);
static void sink_timeout_cb(uv_timer_t *t);
static void read_next(struct fanout *f);

/* Start writing the rest of cur; the timer runs from the chunk's start. */
static void sink_start(struct sink *s)
{
	struct fanout *f = s->f;
	struct chunk *c = s->cur;
	uv_buf_t buf = uv_buf_init(c->data + s->off,
				   (unsigned)(c->len - s->off));
	int err;

	if (f->opts->kind == FANOUT_SINK_TCP)
		err = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &buf, 1,
			       sink_write_cb);
	else
		err = uv_fs_write(&f->loop, &s->fsreq, s->file, &buf, 1,
				  (int64_t)(c->offset + s->off), sink_fs_cb);
	if (err < 0) {
		sink_end(s, err);
		return;
	}
	s->busy = true;
	if (f->timeout_ms != 0 && s->off == 0)
		uv_timer_start(&s->timer, sink_timeout_cb, f->timeout_ms, 0);
}

/* cur is taken: count it (whole chunks only, as in the engines), drop
 * it, go on with the next chunk, or wait for it to be read, or end if
 * there is none. */
static void sink_next(struct sink *s)
{
	struct fanout *f = s->f;
	struct chunk *c = s->cur;

	if (f->timeout_ms != 0)
		uv_timer_stop(&s->timer);
	s->stats->checksum = workload_checksum_add(s->stats->checksum,
						   c->checksum);
	s->stats->bytes += c->len;
	s->cur = c->next;
	s->off = 0;
	chunk_put(f, c);
	if (s->cur != NULL)
		sink_start(s);
	else if (f->eof)
		sink_end(s, 0);
}

/* The write callbacks and the timer release chunks: each ends by reading
 * on if that made room in the window. */
static void sink_write_cb(uv_write_t *req, int status)
{
	struct sink *s = container_of(req, struct sink, wreq);

	s->busy = false;
	if (!s->running) {          /* ended meanwhile: UV_ECANCELED */
		chunk_put(s->f, s->cur);
		s->cur = NULL;
	} else if (status < 0) {
		sink_end(s, status);
	} else {
		sink_next(s);
	}
	read_next(s->f);
}

static void sink_fs_cb(uv_fs_t *req)
{
	struct sink *s = container_of(req, struct sink, fsreq);
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	s->busy = false;
	if (n > 0)
		s->off += (size_t)n;
	if (!s->running) {
		chunk_put(s->f, s->cur);
		s->cur = NULL;
		file_close(&s->f->loop, s->file);
		s->file = -1;
	} else if (n <= 0) {
		sink_end(s, n < 0 ? (int)n : -EIO);
	} else if (s->off < s->cur->len) {
		sink_start(s);          /* a short write: the rest */
	} else {
		sink_next(s);
	}
	read_next(s->f);
}

static void sink_timeout_cb(uv_timer_t *t)
{
	struct sink *s = container_of(t, struct sink, timer);

	sink_end(s, -ETIMEDOUT);
	read_next(s->f);
}

static void chunk_read_cb(uv_fs_t *req)
{
	struct chunk *c = container_of(req, struct chunk, req);
	struct fanout *f = c->f;
	ssize_t n = req->result;

	uv_fs_req_cleanup(req);
	f->reading = false;
	if (n <= 0 || f->running == 0) {
		mem_free(c);
		f->in_memory--;
		if (n < 0) {
			fanout_abort(f, (int)n);
		} else if (n == 0) {    /* the file shrank: that is the end */
			f->eof = true;
			for (unsigned i = 0; i < f->opts->sinks; i++)
				if (f->sink[i].cur == NULL)
					sink_end(&f->sink[i], 0);
		}
		return;
	}
	c->len = (size_t)n;
	c->checksum = workload_chunk_checksum(c->data, c->len);
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   c->checksum);
	c->refs = f->running;
	f->next_offset += (uint64_t)n;
	f->eof = f->next_offset >= f->size;
	f->stats->bytes_read += (uint64_t)n;
	f->stats->chunks_read++;
	if (f->tail != NULL)
		f->tail->next = c;
	f->tail = c;
	/* Sinks that were waiting start on c; the others reach it through
	 * the chain. */
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		if (s->running && s->cur == NULL) {
			s->cur = c;
			s->off = 0;
			sink_start(s);
		}
	}
	read_next(f);
}

/* Read the next chunk on libuv's pool, if the window has room. */
static void read_next(struct fanout *f)
{
	size_t want = f->opts->chunk_size;
	struct chunk *c;
	uv_buf_t buf;
	int err;

	if (f->reading || f->eof || f->running == 0 ||
	    f->in_memory >= f->opts->window)
		return;
	if (f->size - f->next_offset < want)
		want = (size_t)(f->size - f->next_offset);
	c = mem_alloc(sizeof(*c) + want);
	if (c == NULL) {
		fanout_abort(f, -ENOMEM);
		return;
	}
	c->f = f;
	c->next = NULL;
	c->offset = f->next_offset;
	buf = uv_buf_init(c->data, (unsigned)want);
	err = uv_fs_read(&f->loop, &c->req, f->in, &buf, 1,
			 (int64_t)c->offset, chunk_read_cb);
	if (err < 0) {
		mem_free(c);
		fanout_abort(f, err);
		return;
	}
	f->reading = true;
	if (++f->in_memory > f->stats->peak_chunks)
		f->stats->peak_chunks = f->in_memory;
}

/* Every sink is there: deliver (an empty input ends every sink at once). */
static void fanout_begin(struct fanout *f)
{
	if (f->eof)
		end_all(f, 0);
	else
		read_next(f);
	fanout_wind_down(f);        /* if no sink runs at all */
}

static void subscriber_cb(uv_stream_t *listener, int status)
{
	struct fanout *f = listener->data;
	struct sink *s;
	int err;

	if (status < 0 || f->subscribed == f->opts->sinks)
		return;
	s = &f->sink[f->subscribed++];
	uv_tcp_init(&f->loop, &s->tcp);
	err = uv_accept(listener, (uv_stream_t *)&s->tcp);
	if (err < 0) {              /* this sink fails; its handle is not reused */
		s->stats->error = err;
		uv_close((uv_handle_t *)&s->tcp, NULL);
	} else {
		uv_tcp_nodelay(&s->tcp, 1);
		s->running = true;
		f->running++;
	}
	if (f->subscribed < f->opts->sinks)
		return;
	uv_close((uv_handle_t *)listener, NULL);
	f->listening = false;
	fanout_begin(f);
}

/* Every STOP_CHECK_MS: on a stop request cancel every sink (and those not
 * subscribed yet). */
static void fanout_stop_check_cb(uv_timer_t *t)
{
	struct fanout *f = t->data;

	if (!reactor_stop_requested(f->r))
		return;
	if (f->listening) {
		uv_close((uv_handle_t *)&f->listener, NULL);
		f->listening = false;
		for (unsigned i = f->subscribed; i < f->opts->sinks; i++)
			f->sink[i].stats->error = -ECANCELED;
	}
	end_all(f, -ECANCELED);
	fanout_wind_down(f);
}

static int open_sync(uv_loop_t *loop, const char *path, int flags, int mode)
{
	uv_fs_t req;
	int fd = uv_fs_open(loop, &req, path, flags, mode, NULL);

	uv_fs_req_cleanup(&req);
	return fd;
}

/* TCP sinks: listen and call on_listening; subscriber_cb does the rest. */
static int fanout_listen(struct fanout *f)
{
	struct sockaddr_in sa;
	int len = sizeof(sa);
	int err;

	uv_tcp_init(&f->loop, &f->listener);
	f->listener.data = f;
	f->listening = true;
	err = reactor_resolve(f->opts->host, f->opts->port, &sa);
	if (err == 0)
		err = uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0);
	if (err == 0)
		err = uv_listen((uv_stream_t *)&f->listener, SOMAXCONN,
				subscriber_cb);
	if (err == 0)
		err = uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa,
					 &len);
	if (err == 0 && f->opts->on_listening != NULL)
		f->opts->on_listening(f->opts->arg, ntohs(sa.sin_port));
	return err;
}

/* File sinks: output_dir/sink-<i>, created or truncated, opened at once
 * (start-up, before the loop runs). */
static int open_file_sinks(struct fanout *f)
{
	char path[4096];

	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		snprintf(path, sizeof(path), "%s/sink-%u", f->opts->output_dir,
			 i);
		s->file = open_sync(&f->loop, path,
				    O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (s->file < 0)
			return s->file;
		s->running = true;
		f->running++;
	}
	return 0;
}

int libuv_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats)
{
	struct fanout f;
	uv_fs_t req;
	int err;

	err = baseline__fanout_start(r, opts, stats);
	if (err == 0)
		err = libuv_setup();
	if (err == 0)
		err = pool_start();
	if (err < 0)
		return err;
	memset(&f, 0, sizeof(f));
	f.r = r;
	f.opts = opts;
	f.stats = stats;
	f.timeout_ms = to_ms(opts->sink_timeout_ns);
	err = uv_loop_init(&f.loop);
	if (err < 0)
		return err;
	f.in = open_sync(&f.loop, opts->input, O_RDONLY, 0);
	if (f.in < 0) {
		err = f.in;
		goto out_close_loop;
	}
	err = uv_fs_fstat(&f.loop, &req, f.in, NULL);
	f.size = req.statbuf.st_size;
	uv_fs_req_cleanup(&req);
	if (err < 0)
		goto out_close_input;
	f.eof = f.size == 0;
	if (opts->sinks == 0)
		goto out_close_input;   /* nothing to do: err is 0 */
	f.sink = mem_calloc(opts->sinks, sizeof(*f.sink));
	if (f.sink == NULL) {
		err = -ENOMEM;
		goto out_close_input;
	}
	uv_timer_init(&f.loop, &f.stop_check);
	f.stop_check.data = &f;
	for (unsigned i = 0; i < opts->sinks; i++) {
		f.sink[i].f = &f;
		f.sink[i].file = -1;
		f.sink[i].stats = &stats->sink[i];
		if (f.timeout_ms != 0)
			uv_timer_init(&f.loop, &f.sink[i].timer);
	}
	if (opts->kind == FANOUT_SINK_TCP)
		err = fanout_listen(&f);
	else
		err = open_file_sinks(&f);
	if (err < 0) {
		for (unsigned i = 0; i < opts->sinks; i++)
			if (f.sink[i].file >= 0)
				file_close(&f.loop, f.sink[i].file);
		goto out_free_sinks;
	}
	uv_timer_start(&f.stop_check, fanout_stop_check_cb, STOP_CHECK_MS,
		       STOP_CHECK_MS);
	if (opts->kind == FANOUT_SINK_FILE)
		fanout_begin(&f);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	err = 0;

out_free_sinks:
	/* Closes whatever the run left (nothing, after a full run). */
	uv_walk(&f.loop, close_walk_cb, NULL);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	mem_free(f.sink);
out_close_input:
	file_close(&f.loop, f.in);
out_close_loop:
	if (uv_loop_close(&f.loop) < 0 && err == 0)
		err = -EBUSY;
	return err;
}
