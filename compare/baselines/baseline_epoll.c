/* baseline_epoll.c: the two workloads written straight on Linux epoll.
 *
 * No event library, no reactor, no callbacks: one loop, one epoll set, and a
 * struct per connection whose buffer lives in the same allocation.  This is
 * the floor of the comparison: the fewest system calls and allocations a
 * single-threaded server can make, so every other engine's cost can be read
 * as a difference from it.
 *
 * The reactor is used for its stop flag only (see baselines.h).  The loop
 * never sleeps longer than STOP_CHECK_MS, and a signal ends epoll_wait()
 * early with EINTR (epoll_wait() is never restarted, SA_RESTART or not), so
 * a stop is seen within 100 ms from another thread and at once from a
 * signal handler on this thread.
 *
 * Readiness is edge-triggered (EPOLLET).  The usual rule for edges is "read
 * until EAGAIN"; this file uses the sharper rule nginx uses: a read that
 * returns less than was asked for has emptied the socket (the kernel hands
 * over everything it holds), so the next read would only say EAGAIN and is
 * skipped.  Any later arrival raises a new edge, since Linux signals an edge
 * for every arrival.  The one exception is end of stream: a FIN that came
 * with the data is reported once (EPOLLRDHUP) and never again, so after
 * EPOLLRDHUP reads go on until they return 0.  That saves one recv() per
 * message, a third of the system calls of a small echo.
 *
 * With buffers on readiness (ECHO_BUFFERS_READY) a connection has no
 * buffer of its own: every read goes into the loop's one buffer and is
 * written back at once, in the same step; only what the peer would not
 * take yet is copied, into a block of its size that the connection keeps
 * until it has gone.  An idle connection is its struct alone.
 */
#include "config.h"      /* first: _GNU_SOURCE, for accept4() */

#include "baselines.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

enum {
	STOP_CHECK_MS = 100,   /* longest sleep: how late a stop may be seen */
	EVENT_BATCH = 256,     /* events taken per epoll_wait() */
};

/* ---- small helpers -------------------------------------------------------- */

/* A non-blocking listening socket on host:port, or -errno.  *port_out gets
 * the port bound (port 0 picks one). */
static int listen_on(const char *host, uint16_t port, uint16_t *port_out)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1, fd, err;

	err = reactor_resolve(host, port, &sa);
	if (err < 0)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port_out = ntohs(sa.sin_port);
	return fd;
}

/* Milliseconds for epoll_wait() until the deadline, rounded up (a wake a
 * little early would only go round the loop for nothing), capped at
 * STOP_CHECK_MS. */
static int wait_ms(uint64_t now, uint64_t deadline)
{
	uint64_t ms;

	if (deadline <= now)
		return 0;
	ms = (deadline - now + CLOCK_NS_PER_MS - 1) / CLOCK_NS_PER_MS;
	return ms < STOP_CHECK_MS ? (int)ms : STOP_CHECK_MS;
}

/* now + ns, saturated: a time-out too long to fit never comes, rather than
 * wrapping round into the past. */
static uint64_t deadline_after(uint64_t now, uint64_t ns)
{
	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* ==== echo ================================================================= */

/* Every connection is in one list, ordered by the time its input last
 * arrived (or it was accepted), oldest first: the idle timeout looks at the
 * head only, and every read moves the connection to the tail, O(1), no
 * timer heap.  The clock runs whether the connection waits for input or for
 * its write back to go out, as in the engines: no input for that long, and
 * it is closed.
 *
 * `writing` says a write back returned EAGAIN: the connection reads nothing
 * until EPOLLOUT lets it finish.  `readable` is the input edge remembered:
 * set by EPOLLIN, cleared by a short read or EAGAIN.  A connection is freed
 * by conn_close(), which closes its descriptor (removing it from the epoll
 * set) in the same step. */
struct list {
	struct list *prev, *next;
};

struct conn {
	struct list node;           /* in the server's list; first member */
	int fd;
	bool writing;               /* blocked on a write back */
	bool readable;              /* input may be pending */
	bool eof_seen;              /* EPOLLRDHUP: read on to 0 */
	uint64_t since;             /* when input last arrived */
	size_t len, off;            /* bytes in buf; bytes of them written */
	/* Buffers on readiness: the bytes a write back left, len of them,
	 * in their own block (NULL when none), and the size of that read. */
	char *unsent;
	size_t echoing;
	char buf[];                 /* bufsize bytes, same allocation;
				     * ECHO_BUFFERS_CONN only */
};

struct echo_server {
	const struct echo_opts *opts;
	struct echo_stats *stats;
	int epfd, lfd;
	int reserve_fd;             /* /dev/null, given up to shed a connection */
	uint64_t now;               /* the loop's clock, read once per wake */
	unsigned conns;
	struct list conns_by_input;     /* sentinel: empty when next == self */
	char *rbuf;                 /* buffers on readiness: the loop's one
				     * read buffer, else NULL */
};

static void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static bool list_empty(const struct list *l)
{
	return l->next == l;
}

/* The connection at the head of a non-empty list (node is its first
 * member). */
static struct conn *list_first(const struct list *l)
{
	return (struct conn *)l->next;
}

static void list_remove(struct conn *c)
{
	c->node.prev->next = c->node.next;
	c->node.next->prev = c->node.prev;
}

static void list_append(struct list *l, struct conn *c)
{
	c->node.prev = l->prev;
	c->node.next = l;
	l->prev->next = &c->node;
	l->prev = &c->node;
}

/* Close and free c, counting why in *counter.  close() also drops the
 * descriptor from the epoll set, so no event for c can come later; an
 * event already collected for it in this batch is not a problem either,
 * because a connection is closed only from its own event's handling or
 * after the batch (idle sweep, shutdown). */
static void conn_close(struct echo_server *s, struct conn *c,
		       uint64_t *counter)
{
	list_remove(c);
	close(c->fd);
	mem_free(c->unsent);
	mem_free(c);
	s->conns--;
	(*counter)++;
}

/* Write back, then read, until the socket says EAGAIN one way or the other.
 * Each round is one send() and one recv(): the minimum for an echo.  A
 * connection is served until its socket runs dry or fills, which the
 * kernel's buffers bound; libuv instead stops after 32 reads, fairer to
 * the other connections at the cost of another trip round the loop. */
static void conn_drive(struct echo_server *s, struct conn *c)
{
	for (;;) {
		while (c->off < c->len) {
			ssize_t n = send(c->fd, c->buf + c->off,
					 c->len - c->off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					conn_close(s, c, &s->stats->failed);
					return;
				}
				c->writing = true;      /* wait for EPOLLOUT */
				return;
			}
			c->off += (size_t)n;
		}
		if (c->len > 0) {               /* all of it went back */
			s->stats->bytes += c->len;
			c->len = c->off = 0;
			c->writing = false;
		}
		if (!c->readable)
			return;

		ssize_t n = recv(c->fd, c->buf, s->opts->bufsize, 0);
		if (n > 0) {
			c->len = (size_t)n;
			c->since = s->now;
			list_remove(c);         /* to the tail: newest input */
			list_append(&s->conns_by_input, c);
			if ((size_t)n < s->opts->bufsize && !c->eof_seen)
				c->readable = false;    /* emptied */
			continue;
		}
		if (n == 0) {
			conn_close(s, c, &s->stats->closed);
			return;
		}
		if (errno == EAGAIN) {
			c->readable = false;
			return;
		}
		if (errno != EINTR) {
			conn_close(s, c, &s->stats->failed);
			return;
		}
	}
}

/* The same with buffers on readiness: the rest of a write back first, from
 * its own block; then each read into the loop's buffer is written back at
 * once, and what does not go is copied out before the next connection
 * gets the buffer. */
static void conn_drive_ready(struct echo_server *s, struct conn *c)
{
	for (;;) {
		while (c->off < c->len) {
			ssize_t n = send(c->fd, c->unsent + c->off,
					 c->len - c->off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					conn_close(s, c, &s->stats->failed);
					return;
				}
				c->writing = true;      /* wait for EPOLLOUT */
				return;
			}
			c->off += (size_t)n;
		}
		if (c->unsent != NULL) {        /* the rest went back */
			s->stats->bytes += c->echoing;
			mem_free(c->unsent);
			c->unsent = NULL;
			c->len = c->off = 0;
			c->writing = false;
		}
		if (!c->readable)
			return;

		ssize_t n = recv(c->fd, s->rbuf, s->opts->bufsize, 0);
		if (n > 0) {
			size_t sent = 0;

			c->since = s->now;
			list_remove(c);
			list_append(&s->conns_by_input, c);
			if ((size_t)n < s->opts->bufsize && !c->eof_seen)
				c->readable = false;
			while (sent < (size_t)n) {
				ssize_t w = send(c->fd, s->rbuf + sent,
						 (size_t)n - sent,
						 MSG_NOSIGNAL);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0 && errno == EAGAIN)
					break;
				if (w < 0) {
					conn_close(s, c, &s->stats->failed);
					return;
				}
				sent += (size_t)w;
			}
			if (sent == (size_t)n) {        /* the common case */
				s->stats->bytes += (uint64_t)n;
				continue;
			}
			c->unsent = mem_alloc((size_t)n - sent);
			if (c->unsent == NULL) {
				conn_close(s, c, &s->stats->failed);
				return;
			}
			memcpy(c->unsent, s->rbuf + sent, (size_t)n - sent);
			c->len = (size_t)n - sent;
			c->off = 0;
			c->echoing = (size_t)n;
			c->writing = true;              /* wait for EPOLLOUT */
			return;
		}
		if (n == 0) {
			conn_close(s, c, &s->stats->closed);
			return;
		}
		if (errno == EAGAIN) {
			c->readable = false;
			return;
		}
		if (errno != EINTR) {
			conn_close(s, c, &s->stats->failed);
			return;
		}
	}
}

static void conn_event(struct echo_server *s, struct conn *c, uint32_t ev)
{
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->readable = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->eof_seen = true;
	/* Blocked on a write, an input edge changes nothing until EPOLLOUT;
	 * an error or hang-up is seen by the send(). */
	if (c->writing && !(ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
		return;
	if (s->rbuf != NULL)
		conn_drive_ready(s, c);
	else
		conn_drive(s, c);
}

/* Out of descriptors: give up the reserve descriptor, accept the pending
 * connection on it and close it (the peer sees a close, not a hang), take
 * the reserve again.  Returns true when a connection was shed, false when
 * none was pending (or the reserve is gone). */
static bool shed_connection(struct echo_server *s)
{
	int fd;

	if (s->reserve_fd < 0)
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->reserve_fd < 0)
		return false;
	close(s->reserve_fd);
	fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0;
}

/* Take one accepted descriptor on: a connection, or a refusal. */
static void conn_open(struct echo_server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP |
					    EPOLLET };
	struct conn *c;
	int one = 1;

	if (s->opts->max_conns != 0 && s->conns >= s->opts->max_conns) {
		close(fd);
		s->stats->refused++;
		return;
	}
	s->stats->accepted++;
	c = mem_alloc(sizeof(*c) + (s->rbuf != NULL ? 0 : s->opts->bufsize));
	if (c == NULL) {
		close(fd);
		s->stats->failed++;
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->since = s->now;
	ev.data.ptr = c;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		mem_free(c);
		s->stats->failed++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	list_append(&s->conns_by_input, c);
	if (++s->conns > s->stats->peak_conns)
		s->stats->peak_conns = s->conns;
	/* No read now: registering a socket that holds data raises an edge,
	 * so the first input arrives through the loop like all the rest. */
}

/* The listener is edge-triggered too: accept until EAGAIN. */
static void accept_all(struct echo_server *s)
{
	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_open(s, fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			return;
		case EINTR:
		case ECONNABORTED:      /* the peer gave up while queued */
			continue;
		case EMFILE:
		case ENFILE:
			s->stats->accept_errors++;
			if (!shed_connection(s))
				return;
			continue;
		default:                /* ENOBUFS, ENOMEM...: try on the next edge */
			s->stats->accept_errors++;
			return;
		}
	}
}

/* Close every connection whose input last arrived idle_timeout_ns ago or
 * more: the head of the list, until one is younger.  O(closed). */
static void expire_idle(struct echo_server *s)
{
	uint64_t timeout = s->opts->idle_timeout_ns;

	while (!list_empty(&s->conns_by_input)) {
		struct conn *c = list_first(&s->conns_by_input);

		if (deadline_after(c->since, timeout) > s->now)
			break;
		conn_close(s, c, &s->stats->timed_out);
	}
}

/* How long the loop may sleep: until the oldest connection times out, at
 * most STOP_CHECK_MS. */
static int next_wait_ms(const struct echo_server *s)
{
	if (s->opts->idle_timeout_ns == 0 || list_empty(&s->conns_by_input))
		return STOP_CHECK_MS;
	return wait_ms(s->now,
		       deadline_after(list_first(&s->conns_by_input)->since,
				      s->opts->idle_timeout_ns));
}

static void close_all(struct echo_server *s)
{
	while (!list_empty(&s->conns_by_input))
		conn_close(s, list_first(&s->conns_by_input),
			   &s->stats->cancelled);
}

/* The loop, one iteration:
 *   1. epoll_wait(), at most until the oldest idle deadline or 100 ms;
 *   2. read the clock once (every time stamp of this iteration uses it);
 *   3. if a stop was requested, leave;
 *   4. handle each event: the listener accepts, a connection echoes;
 *   5. close the connections idle for too long. */
static int echo_loop(struct reactor *r, struct echo_server *s)
{
	struct epoll_event events[EVENT_BATCH];

	for (;;) {
		int n = epoll_wait(s->epfd, events, EVENT_BATCH,
				   next_wait_ms(s));

		if (n < 0 && errno != EINTR)
			return -errno;
		s->now = reactor_now(r);
		if (reactor_stop_requested(r))
			return 0;
		for (int i = 0; i < n; i++) {
			if (events[i].data.ptr == NULL)
				accept_all(s);
			else
				conn_event(s, events[i].data.ptr,
					   events[i].events);
		}
		if (s->opts->idle_timeout_ns != 0)
			expire_idle(s);
	}
}

int epoll_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET,
				  .data.ptr = NULL };
	struct echo_server s = { .opts = opts, .stats = stats,
				 .epfd = -1, .lfd = -1, .reserve_fd = -1 };
	uint16_t port = 0;
	int err;

	memset(stats, 0, sizeof(*stats));
	if (reactor_is_sim(r))
		return -ENOTSUP;
	if (opts->bufsize == 0)
		return -EINVAL;
	list_init(&s.conns_by_input);
	s.lfd = listen_on(opts->host, opts->port, &port);
	if (s.lfd < 0)
		return s.lfd;
	if (opts->buffers == ECHO_BUFFERS_READY) {
		s.rbuf = mem_alloc(opts->bufsize);
		if (s.rbuf == NULL) {
			err = -ENOMEM;
			goto out_close;
		}
	}
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	s.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s.epfd < 0 || s.reserve_fd < 0 ||
	    epoll_ctl(s.epfd, EPOLL_CTL_ADD, s.lfd, &ev) < 0) {
		err = -errno;
		goto out_close;
	}
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, port);
	s.now = reactor_now(r);
	err = echo_loop(r, &s);
	close_all(&s);
out_close:
	if (s.reserve_fd >= 0)
		close(s.reserve_fd);
	if (s.epfd >= 0)
		close(s.epfd);
	close(s.lfd);
	mem_free(s.rbuf);
	return err;
}


/* ==== fanout =============================================================== */

/* A chunk of the input, shared by every sink, its data in the same
 * allocation.  Chunks are chained in file order (`next`, set when the next
 * chunk is read).  `refs` counts the sinks that still have to take it: set
 * to the number of running sinks when it is read; a sink drops its
 * reference when it has written the chunk or when it ends.  The last
 * reference frees it. */
struct chunk {
	struct chunk *next;
	unsigned refs;
	uint64_t offset;            /* in the input */
	size_t len;
	uint64_t checksum;          /* of data, computed once when read */
	char data[];
};

/* A sink is running until it has taken the whole input (error 0) or ends
 * with an error, a time-out or the stop (stats->error says which); then its
 * descriptor is closed.  While running, `cur` is the chunk it is writing,
 * `off` how much of it is written, and `deadline` when it must have taken
 * the chunk (0: none); cur is NULL while it waits for the next chunk to be
 * read, and then it holds no reference. */
struct sink {
	int fd;
	bool tcp;
	bool running;
	struct chunk *cur;
	size_t off;
	uint64_t deadline;
	struct fanout_sink_stats *stats;
};

struct fanout {
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	int in_fd;
	uint64_t size;              /* of the input */
	uint64_t next_offset;       /* of the next read */
	bool eof;                   /* the whole input has been read */
	struct chunk *tail;         /* the newest chunk alive, or NULL */
	unsigned in_memory;         /* chunks alive */
	unsigned running;           /* sinks running */
	struct sink *sink;          /* opts->sinks of them */
	int epfd;
	uint64_t now;
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

static void sink_close_fd(struct sink *s)
{
	if (s->tcp)
		shutdown(s->fd, SHUT_WR);
	close(s->fd);
	s->fd = -1;
}

/* End a running sink: drop its references (the chunk it is on and every
 * chunk read after it), close it, record err (0: it took everything). */
static void sink_end(struct fanout *f, struct sink *s, int err)
{
	struct chunk *c = s->cur, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		chunk_put(f, c);
	}
	s->cur = NULL;
	s->running = false;
	s->stats->error = err;
	sink_close_fd(s);
	f->running--;
}

/* Write what the sink can take: a file sink all of its chunks, a TCP sink
 * until send() says EAGAIN (EPOLLOUT brings it back).  A chunk taken is
 * counted in the sink's statistics (whole chunks only, as in the engines),
 * dropped, and the next one started, with a fresh deadline. */
static void sink_push(struct fanout *f, struct sink *s)
{
	uint64_t timeout = f->opts->sink_timeout_ns;

	while (s->running && s->cur != NULL) {
		struct chunk *c = s->cur;
		ssize_t n;

		if (s->tcp)
			n = send(s->fd, c->data + s->off, c->len - s->off,
				 MSG_NOSIGNAL);
		else
			n = pwrite(s->fd, c->data + s->off, c->len - s->off,
				   (off_t)(c->offset + s->off));
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0 || errno != EAGAIN)
				sink_end(f, s, n == 0 ? -EIO : -errno);
			return;
		}
		s->off += (size_t)n;
		if (s->off < c->len)
			continue;
		s->stats->checksum = workload_checksum_add(s->stats->checksum,
							   c->checksum);
		s->stats->bytes += c->len;
		s->cur = c->next;
		s->off = 0;
		s->deadline = s->cur != NULL && timeout != 0 ?
			      deadline_after(f->now, timeout) : 0;
		chunk_put(f, c);
	}
	if (s->running && s->cur == NULL && f->eof)
		sink_end(f, s, 0);
}

/* Read the next chunk with pread() (in the loop: see baselines.h), chain
 * it, and start every sink that was waiting for it.  Returns 0 or -errno
 * (the input failed: every running sink ends with that error). */
static int read_chunk(struct fanout *f)
{
	size_t want = f->opts->chunk_size;
	struct chunk *c;
	ssize_t n;

	if (f->size - f->next_offset < want)
		want = (size_t)(f->size - f->next_offset);
	c = mem_alloc(sizeof(*c) + want);
	if (c == NULL)
		return -ENOMEM;
	do
		n = pread(f->in_fd, c->data, want, (off_t)f->next_offset);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {               /* an error, or the file shrank */
		mem_free(c);
		if (n < 0)
			return -errno;
		f->eof = true;
		return 0;
	}
	c->next = NULL;
	c->refs = f->running;
	c->offset = f->next_offset;
	c->len = (size_t)n;
	c->checksum = workload_chunk_checksum(c->data, c->len);
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   c->checksum);
	f->next_offset += (uint64_t)n;
	f->eof = f->next_offset >= f->size;
	f->stats->bytes_read += (uint64_t)n;
	f->stats->chunks_read++;
	if (++f->in_memory > f->stats->peak_chunks)
		f->stats->peak_chunks = f->in_memory;
	if (f->tail != NULL)
		f->tail->next = c;
	f->tail = c;
	/* Sinks that were waiting start on c at once; the others reach it
	 * through the chain, pushed by their own EPOLLOUT. */
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		if (!s->running || s->cur != NULL)
			continue;
		s->cur = c;
		s->off = 0;
		s->deadline = f->opts->sink_timeout_ns != 0 ?
			      deadline_after(f->now,
					     f->opts->sink_timeout_ns) : 0;
		sink_push(f, s);
	}
	return 0;
}

static void end_all(struct fanout *f, int err)
{
	for (unsigned i = 0; i < f->opts->sinks; i++)
		if (f->sink[i].running)
			sink_end(f, &f->sink[i], err);
}

/* The input cannot be read, or memory ran out: the fanout's own error, and
 * every sink ends with it. */
static void fanout_abort(struct fanout *f, int err)
{
	if (f->stats->error == 0)
		f->stats->error = err;
	end_all(f, err);
}

/* Read while the window has room and someone is running.  A stop request
 * is looked at between chunks, so a long run of file sinks stops too. */
static void fill(struct reactor *r, struct fanout *f)
{
	while (f->running > 0 && !f->eof &&
	       f->in_memory < f->opts->window && !reactor_stop_requested(r)) {
		int err = read_chunk(f);

		if (err < 0)
			fanout_abort(f, err);
	}
	if (f->eof && f->running > 0)   /* an empty input */
		for (unsigned i = 0; i < f->opts->sinks; i++)
			if (f->sink[i].running && f->sink[i].cur == NULL)
				sink_end(f, &f->sink[i], 0);
}

/* The earliest sink deadline, as a wait for epoll_wait(). */
static int fanout_wait_ms(const struct fanout *f)
{
	uint64_t first = UINT64_MAX;

	for (unsigned i = 0; i < f->opts->sinks; i++) {
		const struct sink *s = &f->sink[i];

		if (s->running && s->deadline != 0 && s->deadline < first)
			first = s->deadline;
	}
	return first == UINT64_MAX ? STOP_CHECK_MS : wait_ms(f->now, first);
}

/* Cancel every sink past its deadline.  O(sinks) per wake, which is what
 * a baseline with a handful of sinks should pay; a heap would be the fix
 * for thousands. */
static void expire_sinks(struct fanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct sink *s = &f->sink[i];

		if (s->running && s->deadline != 0 && s->deadline <= f->now)
			sink_end(f, s, -ETIMEDOUT);
	}
}

/* The loop, one iteration:
 *   1. read chunks while the window has room (file sinks write each at once);
 *   2. on a stop request cancel every sink and leave;
 *   3. leave when no sink runs any more;
 *   4. epoll_wait() for TCP sinks to take more, until the first deadline;
 *   5. push each sink that became writable, then cancel the late ones. */
static int fanout_loop(struct reactor *r, struct fanout *f)
{
	struct epoll_event events[EVENT_BATCH];

	for (;;) {
		fill(r, f);
		if (reactor_stop_requested(r)) {
			end_all(f, -ECANCELED);
			return 0;
		}
		if (f->running == 0)
			return 0;
		int n = epoll_wait(f->epfd, events, EVENT_BATCH,
				   fanout_wait_ms(f));
		if (n < 0 && errno != EINTR)
			return -errno;
		f->now = reactor_now(r);
		for (int i = 0; i < n; i++)
			sink_push(f, events[i].data.ptr);
		expire_sinks(f);
	}
}

/* TCP sinks: listen, call on_listening, accept exactly opts->sinks
 * subscribers (a stop request ends the wait), close the listener.  Returns
 * 0, or -errno if the listener cannot be made; *stopped says the wait was
 * ended by a stop. */
static int accept_subscribers(struct reactor *r, struct fanout *f,
			      bool *stopped)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	unsigned got = 0;
	uint16_t port = 0;
	int lfd, err = 0;

	lfd = listen_on(f->opts->host, f->opts->port, &port);
	if (lfd < 0)
		return lfd;
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		err = -errno;
		goto out_close;
	}
	if (f->opts->on_listening != NULL)
		f->opts->on_listening(f->opts->arg, port);
	while (got < f->opts->sinks) {
		int n = epoll_wait(f->epfd, &out, 1, STOP_CHECK_MS);

		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (reactor_stop_requested(r)) {
			*stopped = true;
			for (unsigned i = got; i < f->opts->sinks; i++)
				f->sink[i].stats->error = -ECANCELED;
			break;
		}
		while (got < f->opts->sinks) {
			struct sink *s = &f->sink[got];
			int one = 1;
			int fd = accept4(lfd, NULL, NULL,
					 SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd < 0)
				break;  /* EAGAIN, or an error: wait again */
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			s->fd = fd;
			s->running = true;
			f->running++;
			ev.events = EPOLLOUT | EPOLLET;
			ev.data.ptr = s;
			epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev);
			got++;
		}
	}
out_close:
	close(lfd);
	return err;
}

/* File sinks: output_dir/sink-<i>, created or truncated. */
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

int epoll_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats)
{
	struct fanout f = { .opts = opts, .stats = stats, .epfd = -1 };
	struct stat st;
	bool stopped = false;
	int err;

	err = baseline__fanout_start(r, opts, stats);
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
	if (f.sink == NULL) {
		err = -ENOMEM;
		goto out_close_input;
	}
	for (unsigned i = 0; i < opts->sinks; i++) {
		f.sink[i].fd = -1;
		f.sink[i].tcp = opts->kind == FANOUT_SINK_TCP;
		f.sink[i].stats = &stats->sink[i];
	}
	f.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f.epfd < 0) {
		err = -errno;
		goto out_free_sinks;
	}
	f.now = reactor_now(r);
	if (opts->kind == FANOUT_SINK_TCP)
		err = accept_subscribers(r, &f, &stopped);
	else
		err = open_file_sinks(&f);
	if (err == 0 && !stopped)
		err = fanout_loop(r, &f);
	end_all(&f, stopped ? -ECANCELED : err);
	close(f.epfd);
out_free_sinks:
	for (unsigned i = 0; i < opts->sinks; i++)
		if (f.sink[i].fd >= 0)
			close(f.sink[i].fd);
	mem_free(f.sink);
out_close_input:
	close(f.in_fd);
	return err;
}
