/* baseline_uring.c: the echo workload written straight on io_uring.
 *
 * The completion floor, beside the epoll one (baseline_epoll.c): plain
 * liburing, no event library, no reactor, no completion interface of the
 * tree's own.  One ring, one loop, a struct per connection whose buffer
 * lives in the same allocation.  Where epoll says "you may read now" and
 * the program then calls recv(), here the program hands the kernel the
 * receive and its buffer in advance, and the kernel says "done, n bytes".
 *
 * Per connection exactly one operation is in flight at any time: a recv
 * into its buffer, or a send of what that recv brought (sent again from
 * where it stopped, if short), and only then the next recv.  So the echo's
 * behaviour is the epoll baseline's, word for word (baselines.h): a peer
 * that does not read stops being read from.
 *
 * That pending recv commits a buffer to every connection, idle or not.
 * With buffers on readiness (ECHO_BUFFERS_READY) a connection has none:
 * the loop registers one provided buffer ring (RING_BUFFERS buffers of
 * bufsize, allocated once per loop) and each connection keeps a multishot
 * recv on it, so the kernel picks a buffer only when bytes arrive.  The
 * echo sends from the buffer it picked and gives the buffer back to the
 * ring once all of it is sent; what a short send left is copied into a
 * block of its size and the buffer goes back at once, as the epoll
 * baseline keeps its unsent bytes.  One send is in flight per connection;
 * what arrives meanwhile waits in its ring buffer, and after a short send,
 * or RECV_QUEUE_MAX buffers waiting, the recv is cancelled and re-armed
 * once everything has gone: a peer that does not read stops being read
 * from here too.  The cost the epoll baseline does not have: the kernel
 * may have filled more buffers before the cancel reached it (a burst of a
 * multishot recv), and a peer that does not read holds those until it
 * reads or times out.  A ring run dry ends a
 * recv with -ENOBUFS, the bytes still in the socket: the connection waits
 * in the `starved` list and is re-armed when a buffer comes back.  This
 * needs multishot recv and provided buffer rings (Linux 6.0); without
 * them the server says so and returns -EOPNOTSUPP.
 *
 * One system call per loop iteration: io_uring_submit_and_wait_timeout()
 * hands the kernel every SQE prepared since the last iteration and waits
 * for the next completion, in one io_uring_enter(2) (the kernel has had
 * IORING_FEAT_EXT_ARG since 5.11).  The wait is bounded by the oldest idle
 * deadline and STOP_CHECK_MS, and a signal ends it early (-EINTR), so a
 * stop is seen as in the epoll baseline.
 *
 * The kernel owns a connection's buffer while its op is in flight, so a
 * connection is never freed under it: closing one that has an op in flight
 * (idle time-out, shutdown) asks the kernel to cancel the op and frees the
 * connection when that op's completion comes (`closing`, counted in
 * `zombies`).  The shutdown waits for every such completion before it
 * frees the ring.
 *
 * Accepting: multishot accept where the kernel has it (5.19: probed with
 * IORING_OP_SOCKET, which came with it), else one accept re-armed after
 * each connection; either is re-armed when the kernel ends it (an error).
 * Out of descriptors a connection is shed, as in the epoll baseline, on a
 * reserve descriptor, but over the ring: the kernel takes the accept's
 * descriptor before it looks for a connection, so an accept armed again
 * with the table full fails again at once, connection or none.  Instead
 * the reserve is closed and the accept armed again: it waits, and the
 * connection it brings into the reserve's slot is closed (shed) and the
 * reserve opened again.  With no reserve to give up, the accept is armed
 * again only after BACKOFF_MS.  Never a spin.
 *
 * user_data: UD_ACCEPT for the listener's accept, 0 for a cancel (its own
 * completion says nothing the cancelled op's does not), else the
 * connection's address with OP_RECV or OP_SEND in its low bits.
 *
 * PUSHPOLL_URING_RING_BUFFERS=N in the environment (a power of two up to
 * 32768) sets the ring's size, so a test can run it dry; with
 * PUSHPOLL_URING_NO_MULTISHOT=1 the probe finds no multishot recv, as the
 * completion interface's does (shared/completion_uring.c).
 */
#include "config.h"      /* first: _GNU_SOURCE, for accept4() */

#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "completion.h"   /* completion_uring_why() */
#include "uring_setup.h"
#include "mem.h"

enum {
	STOP_CHECK_MS = 100,   /* longest sleep: how late a stop may be seen */
	BACKOFF_MS = 10,       /* out of descriptors with no reserve: the wait
				* before the accept is armed again */
	RING_ENTRIES = 1024,   /* SQEs per iteration before an early submit */
	OP_RECV = 1,
	OP_SEND = 2,
	OP_MASK = 3,
	RING_BUFFERS = 128,    /* buffers on readiness: the ring's size */
	RING_GROUP = 0,        /* its buffer group id */
	RECV_QUEUE_MAX = 4,    /* ring buffers waiting to be sent before the
				* connection stops reading */
	NO_BUFFER = -1,
};
#define UD_ACCEPT ((uint64_t)4)   /* no connection lives at address 4 */

/* ---- small helpers -------------------------------------------------------- */

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

static uint64_t deadline_after(uint64_t now, uint64_t ns)
{
	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

/* ==== echo ================================================================= */

/* Open connections are in one list ordered by the time their input last
 * arrived, oldest first, as in the epoll baseline.  A closing connection is
 * in the list of those waiting for their op's completion. */
struct list {
	struct list *prev, *next;
};

struct conn {
	struct list node;           /* first member */
	struct list starve_node;    /* in `starved` while waiting for a
				     * ring buffer (buffers on readiness) */
	int fd;
	bool recv_in_flight;        /* the kernel owns buf (conn mode), or a
				     * multishot recv may post (ready) */
	bool send_in_flight;        /* the kernel owns the bytes being sent */
	bool closing;               /* freed when the ops in flight complete */
	uint64_t since;             /* when input last arrived */
	size_t len, off;            /* bytes in buf (or the send's source);
				     * bytes of them sent */
	/* Buffers on readiness: the send's source is ring buffer `held`, or
	 * else `block` (unsent bytes in a block of their size); the ring
	 * buffers that arrived behind it wait in a queue, first to last,
	 * linked through the loop's rbufs[]. */
	int held;                   /* a ring buffer id, or NO_BUFFER */
	char *block;
	int queue_head, queue_tail; /* ring buffer ids, or NO_BUFFER */
	unsigned queued;
	bool stopped;               /* the recv was cancelled until all is sent */
	bool starved;               /* in `starved`: a recv ended -ENOBUFS */
	bool eof;                   /* the peer sent its last byte */
	char buf[];                 /* bufsize bytes, same allocation;
				     * ECHO_BUFFERS_CONN only */
};

/* A ring buffer the kernel has filled: how many bytes, and which waits
 * after it in its connection's queue. */
struct rbuf {
	unsigned len;
	int next;
};

struct echo_server {
	const struct echo_opts *opts;
	struct echo_stats *stats;
	struct io_uring ring;
	int lfd;
	int reserve_fd;             /* /dev/null, given up to shed, or -1 */
	bool shedding;              /* the reserve is given up: the next
				     * connection accepted is shed */
	uint64_t backoff_until;     /* out of descriptors, no reserve: the
				     * accept waits until then; 0: none */
	bool multishot;             /* the kernel has multishot accept */
	bool accepting;             /* an accept is in flight */
	bool stopping;
	bool ready;                 /* ECHO_BUFFERS_READY: the provided ring */
	uint64_t now;
	unsigned conns;             /* open (in the list) */
	unsigned zombies;           /* closing, waiting for a completion */
	struct list conns_by_input;
	struct list closing;        /* the zombies */
	/* The provided buffer ring (buffers on readiness), allocated once
	 * per loop: nbufs buffers of bufsize in ring_mem, the ring the
	 * kernel picks them from (br, in br_mem), and what each holds. */
	struct io_uring_buf_ring *br;
	void *br_mem;
	char *ring_mem;
	struct rbuf *rbufs;
	unsigned nbufs;
	unsigned ring_free;         /* buffers in the ring, as far as the
				     * completions seen so far tell */
	struct list starved;        /* connections waiting for a buffer */
};

static void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static bool list_empty(const struct list *l)
{
	return l->next == l;
}

static struct conn *list_first(const struct list *l)
{
	return (struct conn *)l->next;
}

static void list_unlink(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
}

static void list_link_tail(struct list *l, struct list *n)
{
	n->prev = l->prev;
	n->next = l;
	l->prev->next = n;
	l->prev = n;
}

static void list_remove(struct conn *c)
{
	list_unlink(&c->node);
}

static void list_append(struct list *l, struct conn *c)
{
	list_link_tail(l, &c->node);
}

/* An SQE; a full submission queue is handed to the kernel first. */
static struct io_uring_sqe *get_sqe(struct echo_server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (sqe == NULL) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	return sqe;
}

static void arm_accept(struct echo_server *s)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (sqe == NULL)
		return;        /* tried again at the next iteration */
	if (s->multishot)
		io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL,
					       SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, s->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
	s->accepting = true;
}

/* Queue c's next op: the send of what is left, or else a recv.  false if
 * no SQE could be had (the connection then fails). */
static bool conn_arm(struct echo_server *s, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (sqe == NULL)
		return false;
	if (c->off < c->len) {
		io_uring_prep_send(sqe, c->fd, c->buf + c->off,
				   c->len - c->off, MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_SEND);
		c->send_in_flight = true;
	} else {
		io_uring_prep_recv(sqe, c->fd, c->buf, s->opts->bufsize, 0);
		io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_RECV);
		c->recv_in_flight = true;
	}
	return true;
}

/* ---- the provided buffer ring (buffers on readiness) ---------------------- */

static char *ring_buf(const struct echo_server *s, int id)
{
	return s->ring_mem + (size_t)id * s->opts->bufsize;
}

/* Give ring buffer id back to the kernel (the starved connections are
 * re-armed at the end of the loop iteration: ring_wake_starved()). */
static void ring_return(struct echo_server *s, int id)
{
	io_uring_buf_ring_add(s->br, ring_buf(s, id),
			      (unsigned)s->opts->bufsize, (unsigned short)id,
			      io_uring_buf_ring_mask(s->nbufs), 0);
	io_uring_buf_ring_advance(s->br, 1);
	s->ring_free++;
}

/* c's recv: multishot, into a buffer the kernel picks from the ring. */
static bool ready_arm_recv(struct echo_server *s, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (sqe == NULL)
		return false;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RING_GROUP;
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_RECV);
	c->recv_in_flight = true;
	return true;
}

static void conn_close(struct echo_server *s, struct conn *c,
		       uint64_t *counter);

/* c reads again if it may: its recv ended, it is not waiting for a
 * buffer, the peer has more to send, fewer than RECV_QUEUE_MAX buffers
 * wait to be sent, and it has stopped reading only until what it had has
 * gone.  With the ring empty it waits in `starved` (ring_wake_starved()
 * re-arms it): re-armed now it would only end -ENOBUFS. */
static void ready_read_on(struct echo_server *s, struct conn *c)
{
	bool drained = !c->send_in_flight && c->queued == 0;

	if (c->recv_in_flight || c->starved || c->eof ||
	    (c->stopped && !drained) || c->queued >= RECV_QUEUE_MAX)
		return;
	c->stopped = false;
	if (s->ring_free == 0) {
		c->starved = true;
		list_link_tail(&s->starved, &c->starve_node);
		return;
	}
	if (!ready_arm_recv(s, c))
		conn_close(s, c, &s->stats->failed);
}

/* Once per loop iteration, after its completions: as many starved
 * connections read on as there are buffers in the ring, first starved
 * first.  Not at each ring_return(): a connection re-armed then may end
 * its recv without taking the buffer (its peer's end of stream), and the
 * next one must not wait for a return that never comes. */
static void ring_wake_starved(struct echo_server *s)
{
	unsigned armed = 0;

	while (armed < s->ring_free && !list_empty(&s->starved)) {
		struct conn *c = (struct conn *)((char *)s->starved.next -
				 offsetof(struct conn, starve_node));

		list_unlink(&c->starve_node);
		c->starved = false;
		ready_read_on(s, c);
		armed++;
	}
}

/* Stop reading c until what it has is sent: cancel its recv. */
static void ready_stop_reading(struct echo_server *s, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->stopped)
		return;
	c->stopped = true;
	if (!c->recv_in_flight)
		return;
	sqe = get_sqe(s);
	if (sqe == NULL)
		return;         /* reads on; the queue bound is then loose */
	io_uring_prep_cancel64(sqe, (uintptr_t)c | OP_RECV, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static void ready_send(struct echo_server *s, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	const char *from = c->held != NO_BUFFER ? ring_buf(s, c->held) :
			   c->block;

	if (sqe == NULL) {
		conn_close(s, c, &s->stats->failed);
		return;
	}
	io_uring_prep_send(sqe, c->fd, from + c->off, c->len - c->off,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uintptr_t)c | OP_SEND);
	c->send_in_flight = true;
}

/* Nothing is being sent: send the first buffer waiting, or else read on
 * (or, after the peer's last byte, close). */
static void ready_next(struct echo_server *s, struct conn *c)
{
	int id = c->queue_head;

	if (id != NO_BUFFER) {
		c->queue_head = s->rbufs[id].next;
		if (c->queue_head == NO_BUFFER)
			c->queue_tail = NO_BUFFER;
		c->queued--;
		c->held = id;
		c->len = s->rbufs[id].len;
		c->off = 0;
		ready_send(s, c);
		return;
	}
	if (c->eof) {
		conn_close(s, c, &s->stats->closed);
		return;
	}
	ready_read_on(s, c);
}

/* A short send from ring buffer `held`: the peer is slow to read.  Copy
 * what is left into a block of its size and give the buffer back at once,
 * so that the ring does not wait on the peer.  (The buffers queued behind
 * it stay queued: at most RECV_QUEUE_MAX, and what the kernel had read
 * ahead before the recv's cancel reached it.) */
static bool ready_keep_unsent(struct echo_server *s, struct conn *c)
{
	size_t n = c->len - c->off;
	char *block = mem_alloc(n);

	if (block == NULL)
		return false;
	memcpy(block, ring_buf(s, c->held) + c->off, n);
	s->stats->bytes += c->off;
	ring_return(s, c->held);
	c->held = NO_BUFFER;
	c->block = block;
	c->len = n;
	c->off = 0;
	return true;
}

/* Let go of the send's source: its ring buffer back, or its block. */
static void ready_release_source(struct echo_server *s, struct conn *c)
{
	if (c->held != NO_BUFFER)
		ring_return(s, c->held);
	mem_free(c->block);
	c->held = NO_BUFFER;
	c->block = NULL;
	c->len = c->off = 0;
}

/* A recv's completion: bytes in a ring buffer, the end of the stream, the
 * ring run dry, or an error.  Without IORING_CQE_F_MORE the recv has
 * ended. */
static void ready_recv_complete(struct echo_server *s, struct conn *c,
				int res, unsigned flags)
{
	int id = NO_BUFFER;

	if (flags & IORING_CQE_F_BUFFER) {
		id = (int)(flags >> IORING_CQE_BUFFER_SHIFT);
		s->ring_free--;
	}
	if (res <= 0 && id != NO_BUFFER) {   /* not expected; never lost */
		ring_return(s, id);
		id = NO_BUFFER;
	}
	if (res > 0 && id == NO_BUFFER)
		res = -EIO;
	if (res > 0) {
		s->rbufs[id].len = (unsigned)res;
		s->rbufs[id].next = NO_BUFFER;
		if (c->queue_tail != NO_BUFFER)
			s->rbufs[c->queue_tail].next = id;
		else
			c->queue_head = id;
		c->queue_tail = id;
		c->queued++;
		c->since = s->now;
		list_remove(c);       /* to the tail: newest input */
		list_append(&s->conns_by_input, c);
		if (!c->send_in_flight && c->block == NULL)
			ready_next(s, c);
		else if (c->queued >= RECV_QUEUE_MAX)
			ready_stop_reading(s, c);
		else
			ready_read_on(s, c);
		return;
	}
	if (res == 0) {
		c->eof = true;
		if (!c->send_in_flight && c->queued == 0)
			conn_close(s, c, &s->stats->closed);
		return;
	}
	if (res == -ENOBUFS || res == -ECANCELED || res == -EINTR ||
	    res == -EAGAIN) {
		ready_read_on(s, c);
		return;
	}
	conn_close(s, c, &s->stats->failed);
}

static void ready_send_complete(struct echo_server *s, struct conn *c,
				int res)
{
	if (res <= 0 && res != -EINTR && res != -EAGAIN) {
		conn_close(s, c, &s->stats->failed);
		return;
	}
	if (res > 0)
		c->off += (size_t)res;
	if (c->off < c->len) {
		if (res > 0 && c->held != NO_BUFFER) {
			if (!ready_keep_unsent(s, c)) {
				conn_close(s, c, &s->stats->failed);
				return;
			}
			ready_stop_reading(s, c);
		}
		ready_send(s, c);
		return;
	}
	s->stats->bytes += c->len;
	ready_release_source(s, c);
	ready_next(s, c);
}

/* ---- connections ----------------------------------------------------------- */

static void conn_free(struct echo_server *s, struct conn *c)
{
	if (c->closing) {
		list_remove(c);
		s->zombies--;
	}
	if (s->ready) {
		int id;

		ready_release_source(s, c);
		while ((id = c->queue_head) != NO_BUFFER) {
			c->queue_head = s->rbufs[id].next;
			ring_return(s, id);
		}
	}
	close(c->fd);
	mem_free(c);
}

static void cancel_op(struct echo_server *s, struct conn *c, int op)
{
	struct io_uring_sqe *sqe = get_sqe(s);

	if (sqe != NULL) {
		io_uring_prep_cancel64(sqe, (uintptr_t)c | (unsigned)op, 0);
		io_uring_sqe_set_data64(sqe, 0);
	} else {
		shutdown(c->fd, SHUT_RDWR);  /* ends the op just as well */
	}
}

/* Close c, counting why in *counter.  With an op in flight the kernel owns
 * c's buffer (or the bytes it sends): ask it to cancel the ops, and free c
 * when the last of them completes. */
static void conn_close(struct echo_server *s, struct conn *c,
		       uint64_t *counter)
{
	list_remove(c);
	s->conns--;
	(*counter)++;
	if (c->starved) {
		list_unlink(&c->starve_node);
		c->starved = false;
	}
	if (!c->recv_in_flight && !c->send_in_flight) {
		conn_free(s, c);
		return;
	}
	c->closing = true;
	s->zombies++;
	list_append(&s->closing, c);
	if (c->recv_in_flight)
		cancel_op(s, c, OP_RECV);
	if (c->send_in_flight)
		cancel_op(s, c, OP_SEND);
}

/* The completion of c's op (flags: the CQE's). */
static void conn_complete(struct echo_server *s, struct conn *c, int op,
			  int res, unsigned flags)
{
	if (op == OP_SEND)
		c->send_in_flight = false;
	else if (!(flags & IORING_CQE_F_MORE))
		c->recv_in_flight = false;
	if (c->closing) {
		if (flags & IORING_CQE_F_BUFFER) {
			s->ring_free--;
			ring_return(s, (int)(flags >> IORING_CQE_BUFFER_SHIFT));
		}
		if (!c->recv_in_flight && !c->send_in_flight)
			conn_free(s, c);
		return;
	}
	if (s->ready) {
		if (op == OP_RECV)
			ready_recv_complete(s, c, res, flags);
		else
			ready_send_complete(s, c, res);
		return;
	}
	if (op == OP_RECV) {
		if (res == 0) {
			conn_close(s, c, &s->stats->closed);
			return;
		}
		if (res > 0) {
			c->len = (size_t)res;
			c->off = 0;
			c->since = s->now;
			list_remove(c);       /* to the tail: newest input */
			list_append(&s->conns_by_input, c);
		} else if (res != -EINTR && res != -EAGAIN) {
			conn_close(s, c, &s->stats->failed);
			return;
		}
	} else {
		if (res <= 0 && res != -EINTR && res != -EAGAIN) {
			conn_close(s, c, &s->stats->failed);
			return;
		}
		if (res > 0)
			c->off += (size_t)res;
		if (c->off == c->len) {      /* all of it went back */
			s->stats->bytes += c->len;
			c->len = c->off = 0;
		}
	}
	if (!conn_arm(s, c))
		conn_close(s, c, &s->stats->failed);
}

/* The reserve, opened again after a shed or a back-off (it may fail while
 * the table is still full: then the next shortage backs off). */
static void reserve_open(struct echo_server *s)
{
	if (s->reserve_fd < 0)
		s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s->reserve_fd >= 0)
		s->shedding = false;
}

/* Out of descriptors: give up the reserve, so that the accept armed again
 * waits and takes the next connection into its slot, to be shed; with no
 * reserve, back off instead of arming an accept that fails at once. */
static void out_of_descriptors(struct echo_server *s)
{
	s->stats->accept_errors++;
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
		s->shedding = true;
	} else {
		s->backoff_until = s->now + BACKOFF_MS * CLOCK_NS_PER_MS;
	}
}

static void conn_open(struct echo_server *s, int fd)
{
	struct conn *c;
	int one = 1;

	if (s->opts->max_conns != 0 && s->conns >= s->opts->max_conns) {
		close(fd);
		s->stats->refused++;
		return;
	}
	s->stats->accepted++;
	c = mem_alloc(sizeof(*c) + (s->ready ? 0 : s->opts->bufsize));
	if (c == NULL) {
		close(fd);
		s->stats->failed++;
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->since = s->now;
	c->held = c->queue_head = c->queue_tail = NO_BUFFER;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	list_append(&s->conns_by_input, c);
	if (++s->conns > s->stats->peak_conns)
		s->stats->peak_conns = s->conns;
	if (s->ready)
		ready_read_on(s, c);
	else if (!conn_arm(s, c))
		conn_close(s, c, &s->stats->failed);
}

static void accept_complete(struct echo_server *s, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE))
		s->accepting = false;
	if (res >= 0) {
		if (s->stopping || s->shedding) {
			close(res);
			if (s->shedding)
				reserve_open(s);
		} else {
			conn_open(s, res);
		}
	} else if (res == -EMFILE || res == -ENFILE) {
		out_of_descriptors(s);
	} else if (res != -ECANCELED && res != -EINTR && res != -EAGAIN &&
		   res != -ECONNABORTED) {
		s->stats->accept_errors++;
	}
	if (!s->accepting && !s->stopping && s->backoff_until == 0)
		arm_accept(s);
}

/* The back-off over: the reserve again if it can be had, and the accept. */
static void backoff_expire(struct echo_server *s)
{
	if (s->backoff_until == 0 || s->now < s->backoff_until)
		return;
	s->backoff_until = 0;
	reserve_open(s);
	if (!s->accepting && !s->stopping)
		arm_accept(s);
}

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

/* How long the loop may sleep: until the oldest connection times out or
 * the accept's back-off ends, at most STOP_CHECK_MS. */
static uint64_t next_wait_ns(const struct echo_server *s)
{
	uint64_t cap = STOP_CHECK_MS * CLOCK_NS_PER_MS, d;

	if (s->backoff_until != 0) {
		if (s->backoff_until <= s->now)
			return 0;
		if (s->backoff_until - s->now < cap)
			cap = s->backoff_until - s->now;
	}
	if (s->opts->idle_timeout_ns == 0 || list_empty(&s->conns_by_input))
		return cap;
	d = deadline_after(list_first(&s->conns_by_input)->since,
			   s->opts->idle_timeout_ns);
	if (d <= s->now)
		return 0;
	return d - s->now < cap ? d - s->now : cap;
}

/* Hand the kernel what is queued, wait up to wait_ns for a completion (one
 * io_uring_enter), and handle every completion that is there. */
static int echo_iteration(struct echo_server *s, struct reactor *r,
			  uint64_t wait_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(wait_ns / 1000000000u),
		.tv_nsec = (long long)(wait_ns % 1000000000u),
	};
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int err;

	if (wait_ns == 0)    /* and run the completion work held back */
		err = io_uring_submit_and_get_events(&s->ring);
	else
		err = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts,
						       NULL);
	if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN &&
	    err != -EBUSY)
		return err;
	s->now = reactor_now(r);
	io_uring_for_each_cqe(&s->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		seen++;
		if (ud == UD_ACCEPT)
			accept_complete(s, cqe->res, cqe->flags);
		else if (ud != 0 && ud != LIBURING_UDATA_TIMEOUT)
			conn_complete(s, (struct conn *)(uintptr_t)
				      (ud & ~(uint64_t)OP_MASK),
				      (int)(ud & OP_MASK), cqe->res,
				      cqe->flags);
	}
	io_uring_cq_advance(&s->ring, seen);
	if (s->ready)
		ring_wake_starved(s);
	return 0;
}

/* The loop, one iteration:
 *   1. submit and wait, at most until the oldest idle deadline or 100 ms
 *      (one io_uring_enter);
 *   2. read the clock once;
 *   3. handle each completion: an accept opens a connection and queues its
 *      recv, a recv queues the send, a send the next recv (on readiness:
 *      a recv's buffer is sent, or queued behind the send in flight, and a
 *      send gives its buffer back; then the connections a dry ring left
 *      waiting are re-armed, as many as there are buffers back);
 *   4. if a stop was requested, leave;
 *   5. close the connections idle for too long;
 *   6. out of descriptors, once the back-off is over, accept again. */
static int echo_loop(struct reactor *r, struct echo_server *s)
{
	for (;;) {
		int err = echo_iteration(s, r, next_wait_ns(s));

		if (err < 0)
			return err;
		if (reactor_stop_requested(r))
			return 0;
		if (s->opts->idle_timeout_ns != 0)
			expire_idle(s);
		backoff_expire(s);
	}
}

/* Cancel the accept and every connection, and wait for the kernel to give
 * back every buffer it owns.  Bounded: a kernel that never answered would
 * otherwise hang the shutdown (2 s; then the ring's exit cancels the rest,
 * and the connections are freed only after it). */
static void close_all(struct reactor *r, struct echo_server *s)
{
	struct io_uring_sqe *sqe;

	s->stopping = true;
	if (s->accepting && (sqe = get_sqe(s)) != NULL) {
		io_uring_prep_cancel64(sqe, UD_ACCEPT, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
	while (!list_empty(&s->conns_by_input))
		conn_close(s, list_first(&s->conns_by_input),
			   &s->stats->cancelled);
	for (int i = 0; i < 20 && (s->zombies > 0 || s->accepting); i++)
		if (echo_iteration(s, r, 100 * CLOCK_NS_PER_MS) < 0)
			break;
}

static bool has_multishot_accept(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	bool yes = p != NULL && io_uring_opcode_supported(p, IORING_OP_SOCKET);

	io_uring_free_probe(p);
	return yes;
}

/* Multishot recv into provided buffer rings came with 6.0, as did
 * IORING_OP_SEND_ZC, which the probe can see (the completion interface
 * probes the same way, and the same variable switches it off). */
static bool has_multishot_recv(struct io_uring *ring)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(ring);
	const char *off = getenv("PUSHPOLL_URING_NO_MULTISHOT");
	bool yes = p != NULL && io_uring_opcode_supported(p, IORING_OP_SEND_ZC)
		   && !(off != NULL && strcmp(off, "1") == 0);

	io_uring_free_probe(p);
	return yes;
}


/* Buffers on readiness: allocate the ring's buffers and register the ring
 * they are picked from, once for the loop (every byte through mem, the
 * ring itself aligned to a page as the kernel wants it). */
static int ring_setup(struct echo_server *s)
{
	struct io_uring_buf_reg reg;
	size_t bufsize = s->opts->bufsize, entries;
	int err;

	if (!has_multishot_recv(&s->ring)) {
		fprintf(stderr, "uring: --buffers ready needs multishot recv "
			"into a provided buffer ring (Linux 6.0), which this "
			"kernel's io_uring lacks\n");
		return -EOPNOTSUPP;
	}
	s->nbufs = completion_ring_buffers(RING_BUFFERS);
	if (bufsize > UINT32_MAX || bufsize > SIZE_MAX / s->nbufs)
		return -EINVAL;
	entries = (size_t)s->nbufs * sizeof(struct io_uring_buf);
	s->br_mem = mem_alloc(entries + 4095);
	s->ring_mem = mem_alloc(bufsize * s->nbufs);
	s->rbufs = mem_calloc(s->nbufs, sizeof(*s->rbufs));
	if (s->br_mem == NULL || s->ring_mem == NULL || s->rbufs == NULL)
		return -ENOMEM;
	s->br = (struct io_uring_buf_ring *)(((uintptr_t)s->br_mem + 4095) &
					     ~(uintptr_t)4095);
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (uintptr_t)s->br;
	reg.ring_entries = s->nbufs;
	reg.bgid = RING_GROUP;
	err = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (err < 0) {
		fprintf(stderr, "uring: --buffers ready: the provided buffer "
			"ring could not be registered: %s\n", strerror(-err));
		s->br = NULL;
		return err;
	}
	io_uring_buf_ring_init(s->br);
	for (unsigned i = 0; i < s->nbufs; i++)
		io_uring_buf_ring_add(s->br, ring_buf(s, (int)i),
				      (unsigned)bufsize, (unsigned short)i,
				      io_uring_buf_ring_mask(s->nbufs),
				      (int)i);
	io_uring_buf_ring_advance(s->br, (int)s->nbufs);
	s->ring_free = s->nbufs;
	return 0;
}

size_t uring_echo_ring_bytes(size_t bufsize)
{
	size_t n = completion_ring_buffers(RING_BUFFERS);

	return n * sizeof(struct io_uring_buf) + 4095 + n * bufsize +
	       n * sizeof(struct rbuf);
}

/* After the ring is gone (io_uring_queue_exit()). */
static void ring_free_memory(struct echo_server *s)
{
	mem_free(s->rbufs);
	mem_free(s->ring_mem);
	mem_free(s->br_mem);
}

int uring_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats)
{
	struct echo_server s = { .opts = opts, .stats = stats, .lfd = -1,
				 .reserve_fd = -1,
				 .ready = opts->buffers == ECHO_BUFFERS_READY };
	struct io_uring_params params;
	uint16_t port = 0;
	int err;

	memset(stats, 0, sizeof(*stats));
	if (reactor_is_sim(r))
		return -ENOTSUP;
	if (opts->bufsize == 0)
		return -EINVAL;
	list_init(&s.conns_by_input);
	list_init(&s.closing);
	list_init(&s.starved);
	/* One thread submits, reaps and waits: the ring is made as the
	 * completion queue's (uring_setup.h), so the engines over io_uring
	 * compare with this floor on the same settings. */
	err = uring_setup(RING_ENTRIES, &s.ring, &params);
	if (err < 0) {
		char why[COMPLETION_REASON_MAX];

		completion_uring_why(err, why, sizeof why);
		fprintf(stderr, "uring: %s\n", why);
		return err;
	}
	if (!(params.features & IORING_FEAT_EXT_ARG)) {
		fprintf(stderr, "uring: this kernel's io_uring is too old "
			"(needs Linux 5.11)\n");
		err = -EOPNOTSUPP;
		goto out_ring;
	}
	s.multishot = has_multishot_accept(&s.ring);
	if (s.ready && (err = ring_setup(&s)) < 0)
		goto out_ring;
	io_uring_register_ring_fd(&s.ring); /* 5.18: no fd lookup per enter */
	s.lfd = listen_on(opts->host, opts->port, &port);
	if (s.lfd < 0) {
		err = s.lfd;
		goto out_ring;
	}
	s.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (s.reserve_fd < 0) {
		err = -errno;
		goto out_close;
	}
	arm_accept(&s);
	if (opts->on_listening != NULL)
		opts->on_listening(opts->arg, port);
	s.now = reactor_now(r);
	err = echo_loop(r, &s);
	close_all(r, &s);
out_close:
	if (s.reserve_fd >= 0)
		close(s.reserve_fd);
	close(s.lfd);
out_ring:
	io_uring_queue_exit(&s.ring);
	/* connections the kernel never answered for: freed only now that
	 * the ring, and with it every op, is gone */
	while (!list_empty(&s.closing))
		conn_free(&s, list_first(&s.closing));
	ring_free_memory(&s);
	return err;
}

/* ==== fanout =============================================================== */

/* The fanout of baseline_epoll.c with every I/O handed to the kernel: the
 * input is read with IORING_OP_READ (one read in flight, in file order, no
 * thread pool and no blocking pread() in the loop), TCP sinks take chunks
 * with IORING_OP_SEND and file sinks with IORING_OP_WRITE, one op in
 * flight per sink.  The chunks and their reference counts are the epoll
 * baseline's; what is new is that the kernel owns a chunk's bytes while a
 * read into it or a send or write from it is in flight, so a sink that
 * ends then (its time-out, the stop) keeps its reference to that chunk
 * until the op's completion says the kernel is done with it. */

struct uchunk {
	struct uchunk *next;
	unsigned refs;
	uint64_t offset;
	size_t len;
	uint64_t checksum;          /* of data, computed once when read */
	char data[];
};

struct usink {
	int fd;
	bool tcp;
	bool running;
	bool in_flight;             /* a send or write from cur */
	struct uchunk *cur;
	size_t off;
	uint64_t deadline;
	struct fanout_sink_stats *stats;
};

struct ufanout {
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	struct io_uring ring;
	int in_fd;
	uint64_t size, next_offset;
	bool eof;
	struct uchunk *reading;     /* the chunk a read is in flight into */
	struct uchunk *tail;
	unsigned in_memory, running, busy; /* busy: ops in flight */
	struct usink *sink;
	uint64_t now;
};

#define UD_READ ((uint64_t)8)

static struct io_uring_sqe *fan_sqe(struct ufanout *f)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);

	if (sqe == NULL) {
		io_uring_submit(&f->ring);
		sqe = io_uring_get_sqe(&f->ring);
	}
	return sqe;
}

static void uchunk_put(struct ufanout *f, struct uchunk *c)
{
	if (--c->refs > 0)
		return;
	if (f->tail == c)
		f->tail = NULL;
	mem_free(c);
	f->in_memory--;
}

static void usink_close_fd(struct usink *s)
{
	if (s->fd < 0)
		return;
	if (s->tcp)
		shutdown(s->fd, SHUT_WR);
	close(s->fd);
	s->fd = -1;
}

/* End a running sink with err.  Its references to the chunks after the
 * current one go at once; the current one's, and the descriptor, when the
 * op in flight from it has completed (a cancel is asked for it). */
static void usink_end(struct ufanout *f, struct usink *s, int err)
{
	struct uchunk *c, *next;
	struct io_uring_sqe *sqe;

	s->running = false;
	s->stats->error = err;
	f->running--;
	if (s->cur == NULL) {
		usink_close_fd(s);
		return;
	}
	for (c = s->cur->next; c != NULL; c = next) {
		next = c->next;
		uchunk_put(f, c);
	}
	if (!s->in_flight) {
		uchunk_put(f, s->cur);
		s->cur = NULL;
		usink_close_fd(s);
		return;
	}
	sqe = fan_sqe(f);
	if (sqe != NULL) {
		io_uring_prep_cancel64(sqe, (uintptr_t)s | 1, 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
}

/* Queue the sink's send or write of the rest of its chunk. */
static void usink_arm(struct ufanout *f, struct usink *s)
{
	struct io_uring_sqe *sqe = fan_sqe(f);
	struct uchunk *c = s->cur;

	if (sqe == NULL) {
		usink_end(f, s, -EBUSY);
		return;
	}
	if (s->tcp)
		io_uring_prep_send(sqe, s->fd, c->data + s->off,
				   c->len - s->off, MSG_NOSIGNAL);
	else
		io_uring_prep_write(sqe, s->fd, c->data + s->off,
				    (unsigned)(c->len - s->off),
				    c->offset + s->off);
	io_uring_sqe_set_data64(sqe, (uintptr_t)s | 1);
	s->in_flight = true;
	f->busy++;
}

/* Start s on chunk c, with a fresh deadline. */
static void usink_start(struct ufanout *f, struct usink *s, struct uchunk *c)
{
	s->cur = c;
	s->off = 0;
	s->deadline = c != NULL && f->opts->sink_timeout_ns != 0 ?
		      deadline_after(f->now, f->opts->sink_timeout_ns) : 0;
	if (c != NULL)
		usink_arm(f, s);
	else if (f->eof)
		usink_end(f, s, 0);
}

static void usink_complete(struct ufanout *f, struct usink *s, int res)
{
	struct uchunk *c = s->cur;

	s->in_flight = false;
	f->busy--;
	if (!s->running) {          /* ended while the kernel had the chunk */
		uchunk_put(f, c);
		s->cur = NULL;
		usink_close_fd(s);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		usink_arm(f, s);
		return;
	}
	if (res <= 0) {
		usink_end(f, s, res == 0 ? -EIO : res);
		return;
	}
	s->off += (size_t)res;
	if (s->off < c->len) {
		usink_arm(f, s);
		return;
	}
	s->stats->checksum = workload_checksum_add(s->stats->checksum,
						   c->checksum);
	s->stats->bytes += c->len;
	s->cur = c->next;
	uchunk_put(f, c);
	usink_start(f, s, s->cur);
}

static void ufanout_end_all(struct ufanout *f, int err)
{
	for (unsigned i = 0; i < f->opts->sinks; i++)
		if (f->sink[i].running)
			usink_end(f, &f->sink[i], err);
}

static void ufanout_abort(struct ufanout *f, int err)
{
	if (f->stats->error == 0)
		f->stats->error = err;
	ufanout_end_all(f, err);
}

/* Queue the read of the next chunk, if the window has room. */
static void ufill(struct reactor *r, struct ufanout *f)
{
	size_t want = f->opts->chunk_size;
	struct io_uring_sqe *sqe;
	struct uchunk *c;

	if (f->running == 0 || f->eof || f->reading != NULL ||
	    f->in_memory >= f->opts->window || reactor_stop_requested(r))
		return;
	if (f->size - f->next_offset < want)
		want = (size_t)(f->size - f->next_offset);
	c = mem_alloc(sizeof(*c) + want);
	if (c == NULL) {
		ufanout_abort(f, -ENOMEM);
		return;
	}
	sqe = fan_sqe(f);
	if (sqe == NULL) {
		mem_free(c);
		ufanout_abort(f, -EBUSY);
		return;
	}
	c->next = NULL;
	c->refs = 0;
	c->offset = f->next_offset;
	c->len = want;
	io_uring_prep_read(sqe, f->in_fd, c->data, (unsigned)want,
			   f->next_offset);
	io_uring_sqe_set_data64(sqe, UD_READ);
	f->reading = c;
	f->busy++;
	if (++f->in_memory > f->stats->peak_chunks)
		f->stats->peak_chunks = f->in_memory;
}

static void uread_complete(struct ufanout *f, int res)
{
	struct uchunk *c = f->reading;

	f->reading = NULL;
	f->busy--;
	if (res <= 0 || f->running == 0) {  /* an error, the file shrank, or
					     * nobody is left to take it */
		mem_free(c);
		f->in_memory--;
		if (res < 0)
			ufanout_abort(f, res);
		else if (res == 0)
			f->eof = true;
		if (f->eof)
			for (unsigned i = 0; i < f->opts->sinks; i++)
				if (f->sink[i].running &&
				    f->sink[i].cur == NULL)
					usink_end(f, &f->sink[i], 0);
		return;
	}
	c->len = (size_t)res;
	c->refs = f->running;
	c->checksum = workload_chunk_checksum(c->data, c->len);
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   c->checksum);
	f->next_offset += (uint64_t)res;
	f->eof = f->next_offset >= f->size;
	f->stats->bytes_read += (uint64_t)res;
	f->stats->chunks_read++;
	if (f->tail != NULL)
		f->tail->next = c;
	f->tail = c;
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct usink *s = &f->sink[i];

		if (s->running && s->cur == NULL)
			usink_start(f, s, c);
	}
}

static void uexpire_sinks(struct ufanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct usink *s = &f->sink[i];

		if (s->running && s->deadline != 0 && s->deadline <= f->now)
			usink_end(f, s, -ETIMEDOUT);
	}
}

static uint64_t ufanout_wait_ns(const struct ufanout *f)
{
	uint64_t first = UINT64_MAX, cap = STOP_CHECK_MS * CLOCK_NS_PER_MS;

	for (unsigned i = 0; i < f->opts->sinks; i++) {
		const struct usink *s = &f->sink[i];

		if (s->running && s->deadline != 0 && s->deadline < first)
			first = s->deadline;
	}
	if (first == UINT64_MAX)
		return cap;
	if (first <= f->now)
		return 0;
	return first - f->now < cap ? first - f->now : cap;
}

/* Submit, wait up to wait_ns (one io_uring_enter), handle completions;
 * *accepted (may be NULL) gets a connection an accept brought. */
static int ufanout_iteration(struct reactor *r, struct ufanout *f,
			     uint64_t wait_ns, int *accepted)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(wait_ns / 1000000000u),
		.tv_nsec = (long long)(wait_ns % 1000000000u),
	};
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int err;

	if (wait_ns == 0)    /* and run the completion work held back */
		err = io_uring_submit_and_get_events(&f->ring);
	else
		err = io_uring_submit_and_wait_timeout(&f->ring, &cqe, 1, &ts,
						       NULL);
	if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN &&
	    err != -EBUSY)
		return err;
	f->now = reactor_now(r);
	io_uring_for_each_cqe(&f->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		seen++;
		if (ud == UD_READ)
			uread_complete(f, cqe->res);
		else if (ud == UD_ACCEPT && accepted != NULL)
			*accepted = cqe->res;
		else if (ud == UD_ACCEPT && cqe->res >= 0)
			close(cqe->res);   /* came after the last sink */
		else if (ud != 0 && ud != LIBURING_UDATA_TIMEOUT)
			usink_complete(f, (struct usink *)(uintptr_t)
				       (ud & ~(uint64_t)1), cqe->res);
	}
	io_uring_cq_advance(&f->ring, seen);
	return 0;
}

/* The loop, one iteration:
 *   1. queue the next read if the window has room;
 *   2. on a stop request cancel every sink and leave;
 *   3. leave when no sink runs any more;
 *   4. submit and wait (one io_uring_enter) until the first deadline;
 *      each completion moves its read or its sink on;
 *   5. cancel the late sinks. */
static int ufanout_loop(struct reactor *r, struct ufanout *f)
{
	for (;;) {
		int err;

		ufill(r, f);
		if (reactor_stop_requested(r)) {
			ufanout_end_all(f, -ECANCELED);
			return 0;
		}
		if (f->running == 0)
			return 0;
		err = ufanout_iteration(r, f, ufanout_wait_ns(f), NULL);
		if (err < 0)
			return err;
		uexpire_sinks(f);
	}
}

/* TCP sinks: listen, accept exactly opts->sinks subscribers, one accept in
 * flight at a time, the stop looked at every STOP_CHECK_MS. */
static int uaccept_subscribers(struct reactor *r, struct ufanout *f,
			       bool *stopped)
{
	struct io_uring_sqe *sqe;
	unsigned got = 0;
	uint16_t port = 0;
	bool armed = false;
	int lfd, err = 0;

	lfd = listen_on(f->opts->host, f->opts->port, &port);
	if (lfd < 0)
		return lfd;
	if (f->opts->on_listening != NULL)
		f->opts->on_listening(f->opts->arg, port);
	while (got < f->opts->sinks) {
		int fd = -EAGAIN;

		if (!armed && (sqe = fan_sqe(f)) != NULL) {
			io_uring_prep_accept(sqe, lfd, NULL, NULL,
					     SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe, UD_ACCEPT);
			armed = true;
		}
		err = ufanout_iteration(r, f, STOP_CHECK_MS * CLOCK_NS_PER_MS,
					&fd);
		if (err < 0)
			break;
		if (fd != -EAGAIN)
			armed = false;
		if (fd >= 0) {
			struct usink *s = &f->sink[got++];
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
			s->fd = fd;
			s->running = true;
			f->running++;
		}
		if (reactor_stop_requested(r) && got < f->opts->sinks) {
			*stopped = true;
			for (unsigned i = got; i < f->opts->sinks; i++)
				f->sink[i].stats->error = -ECANCELED;
			break;
		}
	}
	if (armed && (sqe = fan_sqe(f)) != NULL) {
		int fd = -EAGAIN;

		io_uring_prep_cancel64(sqe, UD_ACCEPT, 0);
		io_uring_sqe_set_data64(sqe, 0);
		for (int i = 0; i < 20 && fd == -EAGAIN; i++)
			ufanout_iteration(r, f, 100 * CLOCK_NS_PER_MS, &fd);
		if (fd >= 0)
			close(fd);
	}
	close(lfd);
	return err;
}

static int uopen_file_sinks(struct ufanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct usink *s = &f->sink[i];

		s->fd = baseline__open_sink_file(f->opts, i);
		if (s->fd < 0)
			return s->fd;
		s->running = true;
		f->running++;
	}
	return 0;
}

int uring_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats)
{
	struct ufanout f = { .opts = opts, .stats = stats, .in_fd = -1 };
	struct io_uring_params params;
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
		goto out_close_input;
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
	err = uring_setup(64, &f.ring, &params);   /* as the echo's */
	if (err < 0) {
		char why[COMPLETION_REASON_MAX];

		completion_uring_why(err, why, sizeof why);
		fprintf(stderr, "uring: %s\n", why);
		goto out_free_sinks;
	}
	f.now = reactor_now(r);
	if (opts->kind == FANOUT_SINK_TCP)
		err = uaccept_subscribers(r, &f, &stopped);
	else
		err = uopen_file_sinks(&f);
	if (err == 0 && !stopped) {
		if (f.eof)                 /* an empty input */
			for (unsigned i = 0; i < opts->sinks; i++)
				if (f.sink[i].running)
					usink_end(&f, &f.sink[i], 0);
		err = ufanout_loop(r, &f);
	}
	ufanout_end_all(&f, stopped ? -ECANCELED : err);
	/* the kernel gives back what it owns: the read's chunk, the chunks
	 * sinks were sending from */
	for (int i = 0; i < 50 && f.busy > 0; i++)
		if (ufanout_iteration(r, &f, 100 * CLOCK_NS_PER_MS, NULL) < 0)
			break;
	io_uring_queue_exit(&f.ring);
out_free_sinks:
	for (unsigned i = 0; i < opts->sinks; i++)
		usink_close_fd(&f.sink[i]);
	mem_free(f.sink);
out_close_input:
	close(f.in_fd);
	(void)o;
	return err;
}
