/* loadgen.c: the echo load generator (closed and open loop), on plain epoll.
 *
 * One thread, level-triggered epoll, blocking connects at start: simple on
 * purpose, so that its own cost is the same whichever engine it measures.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

#define RING 64            /* closed loop: most messages in flight per connection */
#define DRAIN_NS (2 * CLOCK_NS_PER_S)

struct lconn {
	int fd;
	unsigned id;
	bool failed, writing;
	uint64_t queued;     /* bytes queued for sending */
	uint64_t sent;       /* bytes written */
	uint64_t recvd;      /* bytes received and checked */
	uint64_t next_msg;   /* index of the next message to queue */
	uint64_t done_msgs;  /* messages fully echoed */
	uint64_t stamp[RING];/* closed loop: when message i % RING was queued */
};

/* The byte at offset off of connection id's stream. */
static inline uint8_t pattern(unsigned id, uint64_t off)
{
	return (uint8_t)((off * 131) ^ (id * 29) ^ (off >> 9));
}

static int connect_to(const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char service[8];
	int fd, one = 1;

	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int err = -errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return err;
	}
	freeaddrinfo(ai);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void conn_fail(struct lconn *c, int ep, struct loadgen_result *res)
{
	if (c->failed)
		return;
	c->failed = true;
	res->conns_failed++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

static void want_write(struct lconn *c, int ep, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = c };

	if (c->writing != on) {
		c->writing = on;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

/* Write what is queued; ask for EPOLLOUT only when the socket is full. */
static void conn_flush(struct lconn *c, int ep, struct loadgen_result *res)
{
	uint8_t buf[16384];

	while (!c->failed && c->sent < c->queued) {
		size_t n = c->queued - c->sent;
		ssize_t w;

		if (n > sizeof(buf))
			n = sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(c->id, c->sent + i);
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN) {
				want_write(c, ep, true);
				return;
			}
			conn_fail(c, ep, res);
			return;
		}
		c->sent += (uint64_t)w;
	}
	want_write(c, ep, false);
}

static void queue_msg(struct lconn *c, const struct loadgen_opts *o,
		      uint64_t now)
{
	c->stamp[c->next_msg % RING] = now;
	c->next_msg++;
	c->queued += o->msg_size;
}

/* When the open loop wants message k of connection c sent. */
static uint64_t intended(const struct loadgen_opts *o, uint64_t t0,
			 const struct lconn *c, uint64_t k)
{
	uint64_t interval = (uint64_t)o->conns * CLOCK_NS_PER_S / o->rate;

	return t0 + c->id * interval / o->conns + k * interval;
}

/* Read and check what came back; complete messages record their latency and,
 * in the closed loop, queue the next one. */
static void conn_read(struct lconn *c, int ep, const struct loadgen_opts *o,
		      uint64_t t0, bool counting, bool queueing,
		      struct loadgen_result *res)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		uint64_t now;

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			conn_fail(c, ep, res);
			return;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(c->id, c->recvd + (uint64_t)i))
				res->corrupt++;
		if (c->recvd + (uint64_t)n > c->sent)
			res->corrupt += c->recvd + (uint64_t)n - c->sent;
		c->recvd += (uint64_t)n;
		now = clock_now_ns();
		while (c->recvd >= (c->done_msgs + 1) * o->msg_size) {
			uint64_t start = o->rate == 0
				? c->stamp[c->done_msgs % RING]
				: intended(o, t0, c, c->done_msgs);
			c->done_msgs++;
			if (counting) {
				hist_record(&res->latency,
					    now > start ? now - start : 0);
				res->msgs++;
				res->bytes += o->msg_size;
			}
			if (o->rate == 0 && queueing)
				queue_msg(c, o, now);
		}
		if (o->rate == 0 && queueing)
			conn_flush(c, ep, res);
	}
}

int loadgen_echo(const struct loadgen_opts *o, struct loadgen_result *res)
{
	struct lconn *conns = calloc(o->conns, sizeof(*conns));
	struct epoll_event events[256];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t t0, measure_at, end_at, drain_until = 0;
	bool counting = false, queueing = true;
	unsigned depth = o->depth < 1 ? 1 : o->depth > RING ? RING : o->depth;

	memset(res, 0, sizeof(*res));
	hist_init(&res->latency);
	if (conns == NULL || ep < 0) {
		res->conns_failed = o->conns;
		goto out;
	}
	for (unsigned i = 0; i < o->conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &conns[i] };
		conns[i].id = i;
		conns[i].fd = connect_to(o->host, o->port);
		if (conns[i].fd < 0) {
			conns[i].failed = true;
			res->conns_failed++;
			continue;
		}
		if (fcntl(conns[i].fd, F_SETFL, O_NONBLOCK) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) {
			conns[i].failed = true;
			res->conns_failed++;
		}
	}
	t0 = clock_now_ns();
	measure_at = t0 + o->warmup_ns;
	end_at = measure_at + o->duration_ns;
	if (o->rate == 0) {
		for (unsigned i = 0; i < o->conns; i++) {
			if (conns[i].failed)
				continue;
			for (unsigned k = 0; k < depth; k++)
				queue_msg(&conns[i], o, t0);
			conn_flush(&conns[i], ep, res);
		}
	}
	for (;;) {
		uint64_t now = clock_now_ns();
		int timeout_ms = 10, n;

		if (!counting && queueing && now >= measure_at) {
			counting = true;
			res->elapsed_ns = now;
			if (o->on_measure)
				o->on_measure(o->arg);
		}
		if (queueing && now >= end_at) {
			counting = queueing = false;
			res->elapsed_ns = now - res->elapsed_ns;
			drain_until = now + DRAIN_NS;
			if (o->on_end)
				o->on_end(o->arg);
		}
		if (!queueing) {
			bool drained = true;
			for (unsigned i = 0; i < o->conns; i++)
				if (!conns[i].failed &&
				    conns[i].recvd < conns[i].sent)
					drained = false;
			if (drained || now >= drain_until)
				break;
		}
		if (o->rate != 0 && queueing) {
			/* Queue every message whose time has come. */
			for (unsigned i = 0; i < o->conns; i++) {
				struct lconn *c = &conns[i];
				bool more = false;
				while (!c->failed &&
				       intended(o, t0, c, c->next_msg) <= now) {
					queue_msg(c, o, now);
					more = true;
				}
				if (more)
					conn_flush(c, ep, res);
			}
			timeout_ms = 1;
		}
		n = epoll_wait(ep, events, 256, timeout_ms);
		for (int i = 0; i < n; i++) {
			struct lconn *c = events[i].data.ptr;
			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c, ep, o, t0, counting, queueing,
					  res);
			if (!c->failed && (events[i].events & EPOLLOUT))
				conn_flush(c, ep, res);
		}
	}
	for (unsigned i = 0; i < o->conns; i++) {
		if (conns[i].fd >= 0)
			close(conns[i].fd);
		if (!conns[i].failed) {
			if (conns[i].recvd == conns[i].sent)
				res->conns_ok++;
			else
				res->conns_failed++;
		}
	}
out:
	if (ep >= 0)
		close(ep);
	free(conns);
	return res->conns_failed == 0 && res->corrupt == 0 ? 0 : -1;
}
