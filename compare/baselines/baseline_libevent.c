/* baseline_libevent.c: the two workloads written on libevent 2.1.
 *
 * Written the way libevent's book and samples write a server: an
 * evconnlistener accepts, a bufferevent per connection does the buffering,
 * an echo is evbuffer_add_buffer() from input to output (chains move, no
 * byte is copied).  The idioms a libevent expert adds for speed are used:
 * - the base is made with EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, so the
 *   event changes of one iteration reach epoll as at most one epoll_ctl()
 *   per descriptor (safe here: no descriptor is dup()ed), and with
 *   EVENT_BASE_FLAG_NOLOCK, since one thread owns it;
 * - bufferevent_set_max_single_read() makes one read at most bufsize;
 * - every connection's idle timeout is the same duration, so it is made a
 *   common timeout (event_base_init_common_timeout()): libevent then keeps
 *   those timeouts in a FIFO queue, O(1) per restart, instead of its heap.
 *
 * The idle timeout is a timer event of the connection's own, restarted at
 * every read, not the bufferevent's read timeout
 * (bufferevent_set_timeouts()): that one runs only while reading is
 * enabled and starts over each time it is enabled again, whereas the
 * workload's clock runs from the last input, through the write back too.
 *
 * The workload says "read, write all of it back, and only then read
 * again": reading is disabled while the output holds anything and enabled
 * again by the write callback (output empty), the back-pressure pattern of
 * libevent's samples/le-proxy.c with a threshold of one byte.  With the
 * changelist this costs nothing: read off and write on fold into the one
 * epoll_ctl() the write needed anyway, and the same on the way back.
 *
 * The cost libevent cannot avoid: a bufferevent writes only when epoll says
 * the socket is writable, so the reply leaves one loop iteration after the
 * request came, and every echo changes the epoll set twice.
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) a connection is a plain
 * event instead of a bufferevent (whose two evbuffers and their chains are
 * what it holds): on EV_READ it reads into the base's one buffer and sends
 * at once, in the same callback; what the peer does not take is copied
 * into a block of its size, and the event waits for EV_WRITE until that
 * has gone.  An idle connection is its struct, its event and its timer.
 *
 * The reactor is consulted for its stop flag only, by a 50 ms persistent
 * timer.  All of libevent's allocations go through mem
 * (baseline__route_libevent(), once per process, before the first base
 * exists).
 */
#include "config.h"

#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "container_of.h"
#include "mem.h"

static const struct timeval stop_check_tv = { 0, 50 * 1000 }; /* 50 ms */

/* ---- set-up shared by both workloads ---------------------------------------- */

static pthread_once_t route_once = PTHREAD_ONCE_INIT;
static int route_err;

/* libevent writes its warnings to stderr, and a few of its failures end
 * the process (event_base_new() with no descriptor left for its signal
 * socketpair).  Its messages are kept instead of printed; a fatal one
 * becomes the run's one line on stderr, with status 1 like any other
 * engine that ran out of descriptors. */
static char last_message[256];

static void keep_message(int severity, const char *msg)
{
	(void)severity;
	snprintf(last_message, sizeof(last_message), "%s", msg);
}

static void fatal_error(int err)
{
	(void)err;
	fprintf(stderr, "pushpoll: libevent: %s\n",
		last_message[0] != '\0' ? last_message : "fatal error");
	exit(EXIT_FAILURE);
}

static void route_allocations(void)
{
	route_err = baseline__route_libevent();
	event_set_log_callback(keep_message);
	event_set_fatal_callback(fatal_error);
}

/* Route libevent's allocations to mem: once per process, whoever calls
 * first, before libevent allocates anything. */
static int libevent_setup(void)
{
	pthread_once(&route_once, route_allocations);
	return route_err;
}

static struct timeval to_timeval(uint64_t ns)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ns / CLOCK_NS_PER_S),
		.tv_usec = (suseconds_t)((ns % CLOCK_NS_PER_S +
					  CLOCK_NS_PER_US - 1) /
					 CLOCK_NS_PER_US),
	};

	if (tv.tv_usec == 1000000) {
		tv.tv_sec++;
		tv.tv_usec = 0;
	}
	return tv;
}

/* A base for one thread, with the changelist (see the top of the file). */
static struct event_base *base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK |
				   EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL && errno != EMFILE && errno != ENFILE)
		errno = ENOMEM;
	return base;
}

/* ==== echo ================================================================= */

struct echo_server;

/* A connection: its bufferevent owns the socket (BEV_OPT_CLOSE_ON_FREE) and
 * the buffers; its idle timer is an event of its own; this struct is what
 * the callbacks get.  All three are freed by conn_free(), from a callback
 * of the connection or from the stop. */
struct conn {
	struct bufferevent *bev;    /* ECHO_BUFFERS_CONN */
	struct event *idle;         /* NULL without an idle timeout */
	struct echo_server *s;
	struct conn *prev, *next;   /* the server's list of connections */
	size_t echoing;             /* bytes in the output, not yet gone */
	/* ECHO_BUFFERS_READY: the socket, its one event (EV_READ, or
	 * EV_WRITE while unsent holds the len - off bytes a write back left,
	 * in their own block; else NULL). */
	evutil_socket_t fd;
	struct event *io;
	char *unsent;
	size_t len, off;
};

struct echo_server {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *stop_check;
	struct reactor *r;
	const struct echo_opts *opts;
	struct echo_stats *stats;
	const struct timeval *idle_tv;  /* a common timeout, or NULL */
	int reserve_fd;             /* /dev/null, given up to shed a connection */
	unsigned conns;
	struct conn *list;
	char *rbuf;                 /* buffers on readiness: the base's one
				     * read buffer, else NULL */
};

/* Free c, its timer and its bufferevent (which closes the socket),
 * counting why. */
static void conn_free(struct conn *c, uint64_t *counter)
{
	struct echo_server *s = c->s;

	(*counter)++;
	s->conns--;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->idle != NULL)
		event_free(c->idle);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
	} else {
		event_free(c->io);
		evutil_closesocket(c->fd);
		mem_free(c->unsent);
	}
	mem_free(c);
}

/* Buffers on readiness: wait for `what` (EV_READ or EV_WRITE) next. */
static int conn_wait(struct conn *c, short what)
{
	event_del(c->io);
	event_assign(c->io, c->s->base, c->fd, what | EV_PERSIST,
		     event_get_callback(c->io), c);
	return event_add(c->io, NULL);
}

/* Buffers on readiness: the rest of a write back, then EV_READ again. */
static void conn_send_rest(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->unsent + c->off, c->len - c->off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			conn_free(c, &c->s->stats->failed);
			return;
		}
		c->off += (size_t)n;
	}
	c->s->stats->bytes += c->echoing;
	mem_free(c->unsent);
	c->unsent = NULL;
	c->len = c->off = 0;
	if (conn_wait(c, EV_READ) < 0)
		conn_free(c, &c->s->stats->failed);
}

/* Buffers on readiness: the socket is readable (or, with unsent bytes,
 * writable).  The base's buffer is used and free again before this
 * returns. */
static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct echo_server *s = c->s;
	ssize_t n;
	size_t sent = 0;

	if (c->unsent != NULL) {
		conn_send_rest(c);
		return;
	}
	n = recv(fd, s->rbuf, s->opts->bufsize, 0);
	if (n == 0) {
		conn_free(c, &s->stats->closed);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_free(c, &s->stats->failed);
		return;
	}
	if (c->idle != NULL)
		event_add(c->idle, s->idle_tv);
	while (sent < (size_t)n) {
		ssize_t w = send(fd, s->rbuf + sent, (size_t)n - sent,
				 MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			conn_free(c, &s->stats->failed);
			return;
		}
		sent += (size_t)w;
	}
	if (sent == (size_t)n) {                /* the common case */
		s->stats->bytes += (uint64_t)n;
		return;
	}
	c->len = (size_t)n - sent;
	c->off = 0;
	c->echoing = (size_t)n;
	c->unsent = mem_alloc(c->len);
	if (c->unsent == NULL) {
		conn_free(c, &s->stats->failed);
		return;
	}
	memcpy(c->unsent, s->rbuf + sent, c->len);
	if (conn_wait(c, EV_WRITE) < 0)
		conn_free(c, &s->stats->failed);
}

/* Input arrived: the idle clock starts over (an O(1) move to the tail of
 * the common-timeout queue), all of the input moves to the output (no
 * copy), and reading stops until it has gone. */
static void read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->idle != NULL)
		event_add(c->idle, c->s->idle_tv);
	c->echoing = evbuffer_get_length(in);
	evbuffer_add_buffer(bufferevent_get_output(bev), in);
	bufferevent_disable(bev, EV_READ);
}

/* The output is empty (the write low watermark is 0): read again. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	c->s->stats->bytes += c->echoing;
	c->echoing = 0;
	bufferevent_enable(bev, EV_READ);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct echo_stats *stats = c->s->stats;

	/* Reading is enabled only with an empty output, so at the end of
	 * the stream everything has been written back. */
	if (what & BEV_EVENT_EOF)
		conn_free(c, &stats->closed);
	else if (what & BEV_EVENT_ERROR)
		conn_free(c, &stats->failed);
}

/* No input for idle_timeout_ns, whether the connection waited to read or
 * to write back. */
static void idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	conn_free(c, &c->s->stats->timed_out);
}

/* Link a new connection into the server's list. */
static void conn_link(struct echo_server *s, struct conn *c)
{
	c->next = s->list;
	if (s->list != NULL)
		s->list->prev = c;
	s->list = c;
	if (++s->conns > s->stats->peak_conns)
		s->stats->peak_conns = s->conns;
}

/* Buffers on readiness: a connection is its event and its timer. */
static void accept_ready(struct echo_server *s, struct conn *c,
			 evutil_socket_t fd)
{
	int one = 1;

	c->fd = fd;
	c->io = event_new(s->base, fd, EV_READ | EV_PERSIST, ready_cb, c);
	if (c->io == NULL)
		goto out_free_conn;
	if (s->idle_tv != NULL) {
		c->idle = evtimer_new(s->base, idle_cb, c);
		if (c->idle == NULL)
			goto out_free_io;
		event_add(c->idle, s->idle_tv);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_link(s, c);
	if (event_add(c->io, NULL) < 0)
		conn_free(c, &s->stats->failed);
	return;

out_free_io:
	event_free(c->io);
out_free_conn:
	mem_free(c);
	evutil_closesocket(fd);
	s->stats->failed++;
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct echo_server *s = arg;
	struct conn *c;
	int one = 1;

	if (s->opts->max_conns != 0 && s->conns >= s->opts->max_conns) {
		evutil_closesocket(fd);
		s->stats->refused++;
		return;
	}
	s->stats->accepted++;
	c = mem_alloc(sizeof(*c));
	if (c == NULL)
		goto out_close_fd;
	memset(c, 0, sizeof(*c));
	c->s = s;
	if (s->rbuf != NULL) {
		accept_ready(s, c, fd);
		return;
	}
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		goto out_free_conn;
	if (s->idle_tv != NULL) {
		c->idle = evtimer_new(s->base, idle_cb, c);
		if (c->idle == NULL)
			goto out_free_bev;
		event_add(c->idle, s->idle_tv);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_max_single_read(c->bev, s->opts->bufsize);
	conn_link(s, c);
	if (bufferevent_enable(c->bev, EV_READ) < 0)
		conn_free(c, &s->stats->failed);
	return;

out_free_bev:
	bufferevent_free(c->bev);       /* closes fd */
	mem_free(c);
	s->stats->failed++;
	return;
out_free_conn:
	mem_free(c);
out_close_fd:
	evutil_closesocket(fd);
	s->stats->failed++;
}

/* accept() failed with something other than EAGAIN/EINTR.  Out of
 * descriptors the pending connection would keep the (level-triggered)
 * listener readable and the loop would spin, so it is shed: the reserve
 * descriptor is given up, the connection accepted on it and closed, and
 * the reserve taken again.  One connection per call: the listener stays
 * readable while more are pending, so the next iteration sheds the next. */
static void accept_error_cb(struct evconnlistener *listener, void *arg)
{
	struct echo_server *s = arg;
	int err = EVUTIL_SOCKET_ERROR();
	int fd;

	s->stats->accept_errors++;
	if (err != EMFILE && err != ENFILE)
		return;
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	fd = accept(evconnlistener_get_fd(listener), NULL, NULL);
	if (fd >= 0)
		close(fd);
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Every 50 ms: on a stop request free the listener and every connection,
 * and delete this timer; the loop then has nothing left and returns. */
static void echo_stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct echo_server *s = arg;

	if (!reactor_stop_requested(s->r))
		return;
	evconnlistener_free(s->listener);
	s->listener = NULL;
	event_del(s->stop_check);
	while (s->list != NULL)
		conn_free(s->list, &s->stats->cancelled);
}

int libevent_echo_serve(struct reactor *r, struct offload *o,
			const struct echo_opts *opts,
			struct echo_stats *stats)
{
	struct echo_server s = { .r = r, .opts = opts, .stats = stats,
				 .reserve_fd = -1 };
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct timeval idle;
	int err;

	memset(stats, 0, sizeof(*stats));
	if (reactor_is_sim(r))
		return -ENOTSUP;
	if (opts->bufsize == 0)
		return -EINVAL;
	err = libevent_setup();
	if (err < 0)
		return err;
	err = reactor_resolve(opts->host, opts->port, &sa);
	if (err < 0)
		return err;
	s.base = base_new();
	if (s.base == NULL)
		return -errno;
	if (opts->buffers == ECHO_BUFFERS_READY) {
		s.rbuf = mem_alloc(opts->bufsize);
		if (s.rbuf == NULL) {
			err = -ENOMEM;
			goto out_free_base;
		}
	}
	if (opts->idle_timeout_ns != 0) {
		idle = to_timeval(opts->idle_timeout_ns);
		s.idle_tv = event_base_init_common_timeout(s.base, &idle);
	}
	s.stop_check = event_new(s.base, -1, EV_PERSIST, echo_stop_check_cb,
				 &s);
	if (s.stop_check == NULL) {
		err = -ENOMEM;
		goto out_free_base;
	}
	/* bind() failing closes the socket, which leaves errno alone. */
	errno = 0;
	s.listener = evconnlistener_new_bind(s.base, accept_cb, &s,
					     LEV_OPT_CLOSE_ON_FREE |
					     LEV_OPT_CLOSE_ON_EXEC |
					     LEV_OPT_REUSEABLE,
					     SOMAXCONN,
					     (struct sockaddr *)&sa,
					     sizeof(sa));
	if (s.listener == NULL) {
		err = errno != 0 ? -errno : -EIO;
		goto out_free_stop_check;
	}
	evconnlistener_set_error_cb(s.listener, accept_error_cb);
	s.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (getsockname(evconnlistener_get_fd(s.listener),
			(struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		goto out_free_listener;
	}
	/* Armed before on_listening, which ends start-up: the first
	 * event_add() of a timer grows libevent's timer heap, an allocation,
	 * and a server that cannot see the stop request never returns. */
	if (event_add(s.stop_check, &stop_check_tv) < 0) {
		err = -ENOMEM;
		goto out_free_listener;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, ntohs(sa.sin_port));
	event_base_dispatch(s.base);
	while (s.list != NULL)          /* only if dispatch failed */
		conn_free(s.list, &stats->cancelled);
	err = 0;

out_free_listener:
	if (s.listener != NULL)
		evconnlistener_free(s.listener);
	if (s.reserve_fd >= 0)
		close(s.reserve_fd);
out_free_stop_check:
	event_free(s.stop_check);
out_free_base:
	event_base_free(s.base);
	mem_free(s.rbuf);
	return err;
}

/* ==== fanout =============================================================== */

/* How chunks are shared: a chunk read once is added to every TCP sink's
 * output with evbuffer_add_reference(), which puts the chunk's own memory
 * in the buffer, no copy; libevent calls chunk_cleanup() once per sink
 * when that sink's buffer has written the chunk or is freed.  That call is
 * where the sink is known to have taken the chunk.
 *
 * evbuffer_add_file_segment() would be the other libevent idiom for
 * sending a file, but it does not fit this workload: with sendfile() the
 * kernel reads the file once per sink and the bytes never reach the
 * program, so neither "read once, shared" nor a per-sink checksum could be
 * kept.  File sinks are written with pwrite() in the loop. */

struct fanout;

/* A chunk of the input.  `refs`: one per sink output holding it, plus one
 * for the pump while it hands the chunk out.  The last reference frees it. */
struct chunk {
	struct fanout *f;
	unsigned refs;
	size_t len;
	uint64_t checksum;          /* of data, computed once when read */
	char data[];
};

/* A sink runs until it has taken the whole input or ends (error,
 * time-out, stop).  A TCP sink's output holds the chunks given to it and
 * not yet written; `queued` counts the bytes added to it, `released` the
 * bytes of the chunks its buffer is done with.  Only chunks written whole
 * while the sink runs count in its statistics, as in the engines. */
struct sink {
	struct fanout *f;
	struct bufferevent *bev;    /* TCP sinks */
	int fd;                     /* file sinks */
	struct event *timer;        /* the sink timeout, when there is one */
	struct fanout_sink_stats *stats;
	uint64_t queued, released;
	bool running;
};

struct fanout {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *stop_check;
	struct event *pump;         /* reads a chunk and hands it out */
	struct reactor *r;
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	const struct timeval *sink_tv;  /* a common timeout, or NULL */
	int in_fd;
	uint64_t size, next_offset;
	bool eof;
	unsigned in_memory, running, subscribed;
	struct sink *sink;
};

/* Run the pump in the next loop iteration, after epoll has been asked
 * about the sockets: a zero-delay timer.  (event_active() would run it
 * again within the same pass over active events, so a run of file sinks
 * would read the whole input without the loop ever looking at the stop
 * timer or the sockets.) */
static void pump_schedule(struct fanout *f)
{
	static const struct timeval now = { 0, 0 };

	event_add(f->pump, &now);
}

static void chunk_put(struct chunk *c)
{
	struct fanout *f = c->f;

	if (--c->refs > 0)
		return;
	mem_free(c);
	f->in_memory--;
	if (f->running > 0)
		pump_schedule(f);               /* room to read */
}

/* End a running sink with err (0: it took everything).  Freeing a TCP
 * sink's bufferevent releases the chunks still in its output (their
 * cleanups run, now or when libevent finalizes the bufferevent). */
static void sink_end(struct sink *s, int err)
{
	struct fanout *f = s->f;

	if (!s->running)
		return;
	s->running = false;
	s->stats->error = err;
	f->running--;
	if (s->timer != NULL)
		event_del(s->timer);
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	} else {
		close(s->fd);
		s->fd = -1;
	}
	if (f->running == 0)
		event_del(f->stop_check);   /* the loop may end */
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

/* A sink's buffer is done with a chunk: written whole (the sink took it)
 * or freed with the buffer (the sink ended). */
static void chunk_cleanup(const void *data, size_t len, void *arg)
{
	struct chunk *c = container_of(data, struct chunk, data);
	struct sink *s = arg;

	s->released += len;
	if (s->running) {
		s->stats->checksum = workload_checksum_add(s->stats->checksum,
							   c->checksum);
		s->stats->bytes += len;
		/* The next chunk's clock starts now, if there is a next
		 * chunk.  (Not evbuffer_get_length(): inside a drain it may
		 * still count this chunk.) */
		if (s->timer != NULL) {
			if (s->queued > s->released)
				event_add(s->timer, s->f->sink_tv);
			else
				event_del(s->timer);
		}
	}
	chunk_put(c);
}

/* The output is empty (write low watermark 0): at the end of the input
 * the sink has taken everything. */
static void sink_write_cb(struct bufferevent *bev, void *arg)
{
	struct sink *s = arg;

	if (s->f->eof)
		sink_end(s, 0);
}

static void sink_event_cb(struct bufferevent *bev, short what, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	sink_end(arg, err > 0 ? -err : -EPIPE);
}

static void sink_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	sink_end(arg, -ETIMEDOUT);
}

/* Hand c to sink s: a file sink writes it at once, a TCP sink queues a
 * reference; an idle TCP sink starts its clock. */
static void sink_give(struct sink *s, struct chunk *c,
		      uint64_t offset)
{
	if (s->bev != NULL) {
		struct evbuffer *out = bufferevent_get_output(s->bev);
		bool idle = evbuffer_get_length(out) == 0;

		c->refs++;
		if (evbuffer_add_reference(out, c->data, c->len, chunk_cleanup,
					   s) < 0) {
			c->refs--;
			sink_end(s, -ENOMEM);
			return;
		}
		s->queued += c->len;
		if (idle && s->timer != NULL)
			event_add(s->timer, s->f->sink_tv);
		return;
	}
	for (size_t off = 0; off < c->len;) {
		ssize_t n = pwrite(s->fd, c->data + off, c->len - off,
				   (off_t)(offset + off));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sink_end(s, n < 0 ? -errno : -EIO);
			return;
		}
		off += (size_t)n;
	}
	s->stats->checksum = workload_checksum_add(s->stats->checksum,
						   c->checksum);
	s->stats->bytes += c->len;
}

/* The pump: read one chunk with pread() (in the loop: see baselines.h),
 * hand it to every running sink, and come back through the loop for the
 * next, so sockets make progress in between.  At the end of the input,
 * end the sinks that have written everything. */
static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;
	size_t want = f->opts->chunk_size;
	uint64_t offset = f->next_offset;
	struct chunk *c;
	ssize_t n;

	if (f->running == 0 || f->in_memory >= f->opts->window)
		return;
	if (!f->eof) {
		if (f->size - offset < want)
			want = (size_t)(f->size - offset);
		c = mem_alloc(sizeof(*c) + want);
		if (c == NULL) {
			fanout_abort(f, -ENOMEM);
			return;
		}
		do
			n = pread(f->in_fd, c->data, want, (off_t)offset);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			mem_free(c);
			if (n < 0) {
				fanout_abort(f, -errno);
				return;
			}
			f->eof = true;  /* the file shrank */
		} else {
			c->f = f;
			c->refs = 1;    /* the pump's, until handed out */
			c->len = (size_t)n;
			c->checksum = workload_chunk_checksum(c->data,
							      c->len);
			f->stats->checksum = workload_checksum_add(
				f->stats->checksum, c->checksum);
			f->next_offset += (uint64_t)n;
			f->eof = f->next_offset >= f->size;
			f->stats->bytes_read += (uint64_t)n;
			f->stats->chunks_read++;
			if (++f->in_memory > f->stats->peak_chunks)
				f->stats->peak_chunks = f->in_memory;
			for (unsigned i = 0; i < f->opts->sinks; i++)
				if (f->sink[i].running)
					sink_give(&f->sink[i], c, offset);
			chunk_put(c);   /* the pump's reference */
		}
	}
	if (!f->eof) {
		/* More to read: come back after the loop has served the
		 * sockets, now if the window has room, else when a chunk is
		 * freed (chunk_put()). */
		if (f->running > 0 && f->in_memory < f->opts->window)
			pump_schedule(f);
		return;
	}
	/* The end: sinks with nothing left to write are done; the others
	 * finish in sink_write_cb. */
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		if (s->running && (s->bev == NULL ||
				   evbuffer_get_length(
					   bufferevent_get_output(s->bev)) == 0))
			sink_end(s, 0);
	}
}

static void subscriber_cb(struct evconnlistener *listener, evutil_socket_t fd,
			  struct sockaddr *sa, int socklen, void *arg)
{
	struct fanout *f = arg;
	struct sink *s = &f->sink[f->subscribed++];
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bev = bufferevent_socket_new(f->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		evutil_closesocket(fd);
		s->stats->error = -ENOMEM;
	} else {
		bufferevent_setcb(s->bev, NULL, sink_write_cb, sink_event_cb,
				  s);
		s->running = true;
		f->running++;
	}
	if (f->subscribed < f->opts->sinks)
		return;
	/* Everyone is here: close the listener (libevent allows freeing it
	 * from its own callback) and start. */
	evconnlistener_free(listener);
	f->listener = NULL;
	if (f->running == 0)
		event_del(f->stop_check);
	else
		pump_schedule(f);
}

/* Every 50 ms: on a stop request cancel every sink (and those not
 * subscribed yet). */
static void fanout_stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fanout *f = arg;

	if (!reactor_stop_requested(f->r))
		return;
	if (f->listener != NULL) {
		evconnlistener_free(f->listener);
		f->listener = NULL;
		for (unsigned i = f->subscribed; i < f->opts->sinks; i++)
			f->sink[i].stats->error = -ECANCELED;
	}
	end_all(f, -ECANCELED);
	event_del(f->stop_check);
}

static int fanout_listen(struct fanout *f)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int err;

	err = reactor_resolve(f->opts->host, f->opts->port, &sa);
	if (err < 0)
		return err;
	errno = 0;
	f->listener = evconnlistener_new_bind(f->base, subscriber_cb, f,
					      LEV_OPT_CLOSE_ON_FREE |
					      LEV_OPT_CLOSE_ON_EXEC |
					      LEV_OPT_REUSEABLE,
					      SOMAXCONN,
					      (struct sockaddr *)&sa,
					      sizeof(sa));
	if (f->listener == NULL)
		return errno != 0 ? -errno : -EIO;
	if (getsockname(evconnlistener_get_fd(f->listener),
			(struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (f->opts->on_listening != NULL)
		f->opts->on_listening(f->opts->arg, ntohs(sa.sin_port));
	return 0;
}

static int open_file_sinks(struct fanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		s->fd = baseline__open_sink_file(f->opts, i);
		if (s->fd < 0)
			return s->fd;
		s->running = true;
		f->running++;
	}
	return 0;
}

int libevent_fanout_run(struct reactor *r, struct offload *o,
			const struct fanout_opts *opts,
			struct fanout_stats *stats)
{
	struct fanout f = { .r = r, .opts = opts, .stats = stats,
			    .in_fd = -1 };
	struct timeval tv;
	struct stat st;
	int err;

	err = baseline__fanout_start(r, opts, stats);
	if (err == 0)
		err = libevent_setup();
	if (err < 0)
		return err;
	f.in_fd = open(opts->input, O_RDONLY | O_CLOEXEC);
	if (f.in_fd < 0)
		return -errno;
	if (fstat(f.in_fd, &st) < 0) {
		err = -errno;
		goto out_close_input;
	}
	f.size = (uint64_t)st.st_size;
	f.eof = f.size == 0;
	if (opts->sinks == 0)
		goto out_close_input;   /* nothing to do: err is 0 */
	f.sink = mem_calloc(opts->sinks, sizeof(*f.sink));
	f.base = f.sink != NULL ? base_new() : NULL;
	if (f.sink == NULL || f.base == NULL) {
		err = f.sink == NULL ? -ENOMEM : -errno;
		goto out_free;
	}
	if (opts->sink_timeout_ns != 0) {
		tv = to_timeval(opts->sink_timeout_ns);
		f.sink_tv = event_base_init_common_timeout(f.base, &tv);
	}
	f.stop_check = event_new(f.base, -1, EV_PERSIST, fanout_stop_check_cb,
				 &f);
	f.pump = event_new(f.base, -1, 0, pump_cb, &f);
	if (f.stop_check == NULL || f.pump == NULL) {
		err = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < opts->sinks; i++) {
		struct sink *s = &f.sink[i];

		s->f = &f;
		s->fd = -1;
		s->stats = &stats->sink[i];
		if (f.sink_tv != NULL &&
		    (s->timer = evtimer_new(f.base, sink_timeout_cb, s)) ==
			    NULL) {
			err = -ENOMEM;
			goto out_free;
		}
	}
	/* Armed before start-up ends (on_listening), as in echo. */
	if (event_add(f.stop_check, &stop_check_tv) < 0) {
		err = -ENOMEM;
		goto out_free;
	}
	if (opts->kind == FANOUT_SINK_TCP)
		err = fanout_listen(&f);
	else
		err = open_file_sinks(&f);
	if (err < 0)
		goto out_free;
	if (opts->kind == FANOUT_SINK_FILE)
		pump_schedule(&f);
	event_base_dispatch(f.base);
	end_all(&f, -ECANCELED);        /* only if dispatch failed */

out_free:
	if (f.sink != NULL) {
		for (unsigned i = 0; i < opts->sinks; i++) {
			if (f.sink[i].fd >= 0)
				close(f.sink[i].fd);
			if (f.sink[i].timer != NULL)
				event_free(f.sink[i].timer);
		}
	}
	if (f.listener != NULL)
		evconnlistener_free(f.listener);
	if (f.pump != NULL)
		event_free(f.pump);
	if (f.stop_check != NULL)
		event_free(f.stop_check);
	/* Runs the finalizers of freed bufferevents, if any are left: their
	 * chunk cleanups still use f.sink, freed after. */
	if (f.base != NULL)
		event_base_free(f.base);
	mem_free(f.sink);
out_close_input:
	close(f.in_fd);
	return err;
}
