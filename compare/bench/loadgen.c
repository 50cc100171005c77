/* loadgen.c: the load generator: echo (closed and open loop), connection
 * churn, and fanout subscribers, on plain epoll.
 *
 * One thread, one epoll set, no allocation per message: simple on purpose,
 * so that its own cost is the same whichever engine it measures.  The echo
 * connections are connected with blocking connects before the clock starts;
 * churn connects without blocking, since connecting is what it measures.
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
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"

#define IO_CHUNK 16384     /* bytes per send() or recv() */
#define EVENTS 256         /* events taken per epoll_wait() */

/* ---- sockets ----------------------------------------------------------------- */

static int resolve(const char *host, uint16_t port, struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		return -EHOSTUNREACH;
	sa->sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
	freeaddrinfo(ai);
	return 0;
}

/* A TCP socket with TCP_NODELAY, connected to sa: blocking unless
 * nonblock, in which case the connect may still be in progress.  rcvbuf > 0
 * sets SO_RCVBUF first (it must precede the connect to shape the window).
 * Returns the fd or -errno. */
static int connect_to(const struct sockaddr_in *sa, bool nonblock,
		      int rcvbuf)
{
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
		    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (!nonblock) {
		/* Linux gives up a blocking connect after the send timeout. */
		struct timeval tv = { .tv_sec = LOADGEN_CONNECT_S };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
	    !(nonblock && errno == EINPROGRESS)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Fill buf with n bytes of stream id from offset off. */
static void fill_pattern(uint8_t *buf, size_t n, unsigned id, uint64_t off)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = loadgen_pattern(id, off + i);
}

/* Check n received bytes of stream id that start at offset off, of which
 * only those below `sent` were ever sent.  Adds to *corrupt and *extra;
 * returns the number of bad bytes. */
static uint64_t check_pattern(const uint8_t *buf, size_t n, unsigned id,
			      uint64_t off, uint64_t sent, uint64_t *corrupt,
			      uint64_t *extra)
{
	uint64_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (off + i >= sent) {
			bad += n - i;
			*extra += n - i;
			break;
		}
		if (buf[i] != loadgen_pattern(id, off + i)) {
			bad++;
			(*corrupt)++;
		}
	}
	return bad;
}

static void record(const struct loadgen_opts *o, struct loadgen_result *res,
		   uint64_t latency)
{
	hist_record(&res->latency, latency);
	if (o->samples != NULL && res->nsamples < o->max_samples)
		o->samples[res->nsamples++] = latency;
	res->msgs++;
	res->bytes += o->msg_size;
}

/* The three phases every echo and churn run goes through. */
enum phase {
	WARMUP,      /* sending; what completes is checked, not counted */
	MEASURE,     /* sending and counting */
	DRAIN,       /* sending nothing new; waiting for what is in flight */
};

/* Move to the phase the clock says, calling the hooks at the edges.  The
 * measured time starts when on_measure() returns, so a hook that takes
 * time (the bench's traced round waits there for its server to go quiet)
 * takes none of it: *end_at is set then. */
static enum phase phase_at(enum phase p, uint64_t now, uint64_t measure_at,
			   uint64_t *end_at, const struct loadgen_opts *o,
			   struct loadgen_result *res)
{
	if (p == WARMUP && now >= measure_at) {
		p = MEASURE;
		if (o->on_measure != NULL)
			o->on_measure(o->arg);
		now = clock_now_ns();
		res->elapsed_ns = now;
		*end_at = now + o->duration_ns;
	}
	if (p == MEASURE && now >= *end_at) {
		p = DRAIN;
		res->elapsed_ns = now - res->elapsed_ns;
		if (o->on_end != NULL)
			o->on_end(o->arg);
	}
	return p;
}

static uint64_t drain_limit(const struct loadgen_opts *o)
{
	return o->drain_ns != 0 ? o->drain_ns : LOADGEN_DRAIN_NS;
}

/* ==== echo: closed and open loop ============================================ */

struct lconn {
	int fd;
	unsigned id;
	bool failed, writing;
	uint64_t bad;        /* corrupt or extra bytes seen on it */
	uint64_t queued;     /* bytes queued for sending */
	uint64_t sent;       /* bytes written */
	uint64_t recvd;      /* bytes received and checked */
	uint64_t next_msg;   /* index of the next message to queue */
	uint64_t done_msgs;  /* messages fully echoed */
	uint64_t stamp[LOADGEN_MAX_DEPTH]; /* closed loop: when message
					    * i % LOADGEN_MAX_DEPTH was queued */
};

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
	uint8_t buf[IO_CHUNK];

	while (!c->failed && c->sent < c->queued) {
		size_t n = c->queued - c->sent;
		ssize_t w;

		if (n > sizeof(buf))
			n = sizeof(buf);
		fill_pattern(buf, n, c->id, c->sent);
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN) {
				want_write(c, ep, true);
				return;
			}
			res->conns_closed++;     /* reset by the server */
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
	c->stamp[c->next_msg % LOADGEN_MAX_DEPTH] = now;
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
		      uint64_t t0, enum phase phase,
		      struct loadgen_result *res)
{
	uint8_t buf[IO_CHUNK];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		uint64_t now;

		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			if (!c->failed)
				res->conns_closed++;
			conn_fail(c, ep, res);       /* reset, or closed early */
			return;
		}
		c->bad += check_pattern(buf, (size_t)n, c->id, c->recvd,
					c->sent, &res->corrupt, &res->extra);
		c->recvd += (uint64_t)n;
		now = clock_now_ns();
		while (c->done_msgs < c->next_msg &&
		       c->recvd >= (c->done_msgs + 1) * o->msg_size) {
			uint64_t start = o->rate == 0
				? c->stamp[c->done_msgs % LOADGEN_MAX_DEPTH]
				: intended(o, t0, c, c->done_msgs);
			c->done_msgs++;
			if (phase == MEASURE)
				record(o, res, now > start ? now - start : 0);
			if (o->rate == 0 && phase != DRAIN)
				queue_msg(c, o, now);
		}
		if (o->rate == 0 && phase != DRAIN)
			conn_flush(c, ep, res);
	}
}

/* Open loop: queue every message whose time has come.  Returns when the
 * next one is due (UINT64_MAX when every connection failed). */
static uint64_t open_loop_send(struct lconn *conns, int ep,
			       const struct loadgen_opts *o, uint64_t t0,
			       uint64_t now, struct loadgen_result *res)
{
	uint64_t next = UINT64_MAX;

	for (unsigned i = 0; i < o->conns; i++) {
		struct lconn *c = &conns[i];
		bool more = false;

		while (!c->failed && intended(o, t0, c, c->next_msg) <= now) {
			queue_msg(c, o, now);
			more = true;
		}
		if (more)
			conn_flush(c, ep, res);
		if (!c->failed && intended(o, t0, c, c->next_msg) < next)
			next = intended(o, t0, c, c->next_msg);
	}
	return next;
}

/* Open loop: wake at `when` exactly.  epoll_wait() counts in milliseconds
 * (and its timer slack adds more), which would send messages up to a
 * millisecond late in bursts and charge the lateness to the server; a
 * timerfd fires at the nanosecond deadline. */
static void timer_arm(int tfd, uint64_t when)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(when / CLOCK_NS_PER_S),
			      .tv_nsec = (long)(when % CLOCK_NS_PER_S) },
	};

	if (when == UINT64_MAX)
		its.it_value.tv_sec = its.it_value.tv_nsec = 0;   /* disarm */
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static bool all_drained(const struct lconn *conns, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!conns[i].failed && conns[i].recvd < conns[i].sent)
			return false;
	return true;
}

/* Connect every connection (blocking) and register it. */
static void echo_connect_all(struct lconn *conns, int ep,
			     const struct loadgen_opts *o,
			     struct loadgen_result *res)
{
	struct sockaddr_in sa;
	bool resolved = resolve(o->host, o->port, &sa) == 0;

	for (unsigned i = 0; i < o->conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &conns[i] };
		conns[i].id = i;
		if (o->fds != NULL)
			conns[i].fd = o->fds[i];
		else
			conns[i].fd = resolved ? connect_to(&sa, false, 0)
					       : -EHOSTUNREACH;
		if (conns[i].fd < 0 || set_nonblock(conns[i].fd) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) {
			conns[i].failed = true;
			res->conns_failed++;
		}
	}
}

/* Count the connections that worked and the bytes that never came back;
 * close them all. */
static void echo_finish(struct lconn *conns, const struct loadgen_opts *o,
			struct loadgen_result *res)
{
	for (unsigned i = 0; i < o->conns; i++) {
		struct lconn *c = &conns[i];

		if (c->fd >= 0 && o->fds == NULL)
			close(c->fd);   /* the caller's stay open */
		if (c->recvd < c->sent)
			res->missing += c->sent - c->recvd;
		if (c->failed)
			continue;
		if (c->recvd == c->sent && c->bad == 0)
			res->conns_ok++;
		else
			res->conns_failed++;
	}
}

static bool result_clean(const struct loadgen_result *res)
{
	return res->conns_failed == 0 && res->corrupt == 0 &&
	       res->missing == 0 && res->extra == 0;
}

int loadgen_echo(const struct loadgen_opts *o, struct loadgen_result *res)
{
	struct lconn *conns = calloc(o->conns ? o->conns : 1, sizeof(*conns));
	struct epoll_event events[EVENTS];
	int ep = epoll_create1(EPOLL_CLOEXEC), tfd = -1;
	uint64_t t0, measure_at, end_at, drain_until = 0;
	enum phase phase = WARMUP;
	unsigned depth = o->depth < 1 ? 1 :
			 o->depth > LOADGEN_MAX_DEPTH ? LOADGEN_MAX_DEPTH :
			 o->depth;

	memset(res, 0, sizeof(*res));
	hist_init(&res->latency);
	if (conns == NULL || ep < 0 || o->msg_size == 0) {
		res->conns_failed = o->conns;
		goto out;
	}
	if (o->rate != 0) {             /* the open loop's clock */
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		tfd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
		if (tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) {
			res->conns_failed = o->conns;
			goto out;
		}
	}
	echo_connect_all(conns, ep, o, res);
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
		enum phase was = phase;

		phase = phase_at(phase, now, measure_at, &end_at, o, res);
		if (phase == DRAIN) {
			if (was != DRAIN)       /* after on_end(), however long */
				drain_until = clock_now_ns() + drain_limit(o);
			if (all_drained(conns, o->conns) || now >= drain_until)
				break;
		} else if (o->rate != 0) {
			timer_arm(tfd, open_loop_send(conns, ep, o, t0, now,
						      res));
		}
		n = epoll_wait(ep, events, EVENTS, timeout_ms);
		for (int i = 0; i < n; i++) {
			struct lconn *c = events[i].data.ptr;
			if (c == NULL) {                /* the timerfd */
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					(void)0;        /* not due after all */
				continue;
			}
			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				conn_read(c, ep, o, t0, phase, res);
			if (!c->failed && (events[i].events & EPOLLOUT))
				conn_flush(c, ep, res);
		}
	}
	echo_finish(conns, o, res);
out:
	if (tfd >= 0)
		close(tfd);
	if (ep >= 0)
		close(ep);
	free(conns);
	return result_clean(res) ? 0 : -1;
}

/* ==== churn: a new connection per exchange ================================== */

/* One exchange slot: the states of the exchange it is running. */
enum churn_state {
	CH_IDLE,        /* no exchange (after the measured time) */
	CH_CONNECTING,  /* connect in progress: waiting for EPOLLOUT */
	CH_READING,     /* message sent and half-closed: reading to EOF */
};

struct churn_slot {
	int fd;
	enum churn_state state;
	unsigned id;            /* the exchange's number: its pattern */
	uint64_t started;       /* when the connect began */
	uint64_t recvd;
};

/* Start a new exchange in s: a non-blocking connect. */
static void churn_start(struct churn_slot *s, int ep,
			const struct sockaddr_in *sa, unsigned *next_id,
			struct loadgen_result *res)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET,
				  .data.ptr = s };

	s->state = CH_IDLE;
	s->id = (*next_id)++;
	s->recvd = 0;
	s->started = clock_now_ns();
	s->fd = connect_to(sa, true, 0);
	if (s->fd < 0) {
		res->conns_failed++;
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		close(s->fd);
		s->fd = -1;
		res->conns_failed++;
		return;
	}
	s->state = CH_CONNECTING;
}

/* End the exchange in s: closed, counted ok or failed. */
static void churn_end(struct churn_slot *s, bool ok,
		      struct loadgen_result *res)
{
	close(s->fd);           /* also leaves the epoll set */
	s->fd = -1;
	s->state = CH_IDLE;
	if (ok)
		res->conns_ok++;
	else
		res->conns_failed++;
}

/* The connect finished: send the message and half-close.  A message of up
 * to the socket buffer goes in one send() on a fresh connection; a short
 * send is a failure here, not a case to wait for. */
static bool churn_send(struct churn_slot *s, const struct loadgen_opts *o)
{
	uint8_t buf[IO_CHUNK];
	uint64_t off = 0;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
	    soerr != 0)
		return false;
	while (off < o->msg_size) {
		size_t n = o->msg_size - off;
		ssize_t w;

		if (n > sizeof(buf))
			n = sizeof(buf);
		fill_pattern(buf, n, s->id, off);
		w = send(s->fd, buf, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		off += (uint64_t)w;
	}
	return shutdown(s->fd, SHUT_WR) == 0;
}

/* Read what came back; at end of stream the exchange is over.  Returns
 * true when it is (and has been ended). */
static bool churn_read(struct churn_slot *s, const struct loadgen_opts *o,
		       enum phase phase, struct loadgen_result *res)
{
	uint8_t buf[IO_CHUNK];

	for (;;) {
		ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
		uint64_t bad;

		if (n < 0 && errno == EAGAIN)
			return false;
		if (n < 0) {
			res->conns_closed++;
			churn_end(s, false, res);
			return true;
		}
		if (n == 0) {
			bool ok = s->recvd == o->msg_size;
			if (!ok)
				res->conns_closed++;
			uint64_t now = clock_now_ns();
			if (s->recvd < o->msg_size)
				res->missing += o->msg_size - s->recvd;
			if (ok && phase == MEASURE)
				record(o, res, now - s->started);
			churn_end(s, ok, res);
			return true;
		}
		bad = check_pattern(buf, (size_t)n, s->id, s->recvd,
				    o->msg_size, &res->corrupt, &res->extra);
		s->recvd += (uint64_t)n;
		if (bad != 0) {
			churn_end(s, false, res);
			return true;
		}
	}
}

static void churn_event(struct churn_slot *s, uint32_t events,
			const struct loadgen_opts *o, enum phase phase,
			struct loadgen_result *res)
{
	if (s->state == CH_CONNECTING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (!churn_send(s, o)) {
			churn_end(s, false, res);
			return;
		}
		s->state = CH_READING;
	}
	if (s->state == CH_READING)
		churn_read(s, o, phase, res);
}

int loadgen_churn(const struct loadgen_opts *o, struct loadgen_result *res)
{
	struct churn_slot *slots = calloc(o->conns ? o->conns : 1,
					  sizeof(*slots));
	struct epoll_event events[EVENTS];
	struct sockaddr_in sa;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t t0, measure_at, end_at, drain_until = 0;
	enum phase phase = WARMUP;
	unsigned next_id = 0, busy;

	memset(res, 0, sizeof(*res));
	hist_init(&res->latency);
	if (slots == NULL || ep < 0 || o->msg_size == 0 ||
	    resolve(o->host, o->port, &sa) < 0) {
		res->conns_failed = o->conns;
		goto out;
	}
	t0 = clock_now_ns();
	measure_at = t0 + o->warmup_ns;
	end_at = measure_at + o->duration_ns;
	for (unsigned i = 0; i < o->conns; i++)
		churn_start(&slots[i], ep, &sa, &next_id, res);
	for (;;) {
		uint64_t now = clock_now_ns();
		enum phase was = phase;
		int n;

		phase = phase_at(phase, now, measure_at, &end_at, o, res);
		if (phase == DRAIN) {
			if (was != DRAIN)       /* after on_end(), however long */
				drain_until = clock_now_ns() + drain_limit(o);
			busy = 0;
			for (unsigned i = 0; i < o->conns; i++)
				busy += slots[i].state != CH_IDLE;
			if (busy == 0 || now >= drain_until)
				break;
		}
		n = epoll_wait(ep, events, EVENTS, 10);
		for (int i = 0; i < n; i++) {
			struct churn_slot *s = events[i].data.ptr;
			churn_event(s, events[i].events, o, phase, res);
			/* A finished slot starts the next exchange at once,
			 * except when draining; a failed start is counted and
			 * the slot stays idle until the next event round. */
			if (s->state == CH_IDLE && phase != DRAIN)
				churn_start(s, ep, &sa, &next_id, res);
		}
		if (phase != DRAIN) {
			for (unsigned i = 0; i < o->conns; i++)
				if (slots[i].state == CH_IDLE)
					churn_start(&slots[i], ep, &sa,
						    &next_id, res);
		}
	}
	for (unsigned i = 0; i < o->conns; i++) {
		if (slots[i].state != CH_IDLE) {
			res->missing += o->msg_size - slots[i].recvd;
			churn_end(&slots[i], false, res);
		}
	}
out:
	if (ep >= 0)
		close(ep);
	free(slots);
	return result_clean(res) && res->msgs > 0 ? 0 : -1;
}

/* ==== fanout subscribers ======================================================== */

struct fsub {
	int fd;
	bool done;              /* end of stream, error, or stalled */
	struct loadgen_sink *st;
};

/* Read what sub has, comparing with the input. */
static void fsub_read(struct fsub *sub, const struct loadgen_fanout_opts *o,
		      uint64_t t0)
{
	uint8_t buf[4 * IO_CHUNK];
	struct loadgen_sink *st = sub->st;

	for (;;) {
		ssize_t n = recv(sub->fd, buf, sizeof(buf), 0);
		uint64_t now;

		if (n < 0 && errno == EAGAIN)
			return;
		now = clock_now_ns();
		if (n < 0) {
			st->error = -errno;
			sub->done = true;
			return;
		}
		if (n == 0) {
			st->end_ns = now - t0;
			sub->done = true;
			return;
		}
		if (st->bytes == 0)
			st->first_ns = now - t0;
		/* memcmp first: byte by byte only when something differs. */
		size_t m = st->bytes >= o->size ? 0 :
			   (uint64_t)n < o->size - st->bytes ? (size_t)n :
			   (size_t)(o->size - st->bytes);
		if (memcmp(buf, o->input + st->bytes, m) != 0)
			for (size_t i = 0; i < m; i++)
				st->corrupt += buf[i] != o->input[st->bytes + i];
		st->corrupt += (size_t)n - m;          /* beyond the input */
		st->bytes += (uint64_t)n;
	}
}

int loadgen_fanout(const struct loadgen_fanout_opts *o,
		   struct loadgen_fanout_result *res)
{
	struct fsub *subs = calloc(o->sinks ? o->sinks : 1, sizeof(*subs));
	struct epoll_event events[EVENTS];
	struct sockaddr_in sa;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint64_t last_end = 0;
	unsigned open = 0;

	res->elapsed_ns = 0;
	res->sinks_ok = res->sinks_failed = 0;
	memset(res->sink, 0, o->sinks * sizeof(*res->sink));
	res->t0_ns = clock_now_ns();
	if (subs == NULL || ep < 0 || resolve(o->host, o->port, &sa) < 0) {
		res->sinks_failed = o->sinks;
		goto out;
	}
	for (unsigned i = 0; i < o->sinks; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP,
					  .data.ptr = &subs[i] };
		bool stall = i == o->stall;

		subs[i].st = &res->sink[i];
		subs[i].fd = connect_to(&sa, false, stall ? 4096 : 0);
		if (subs[i].fd < 0) {
			res->sink[i].error = subs[i].fd;
			subs[i].done = true;
			continue;
		}
		if (stall) {            /* connected, never read */
			subs[i].done = true;
			continue;
		}
		if (set_nonblock(subs[i].fd) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].fd, &ev) < 0) {
			res->sink[i].error = -errno;
			subs[i].done = true;
			continue;
		}
		open++;
	}
	while (open > 0) {
		uint64_t now = clock_now_ns();
		int n;

		if (now - res->t0_ns >= o->timeout_ns)
			break;
		n = epoll_wait(ep, events, EVENTS, 10);
		for (int i = 0; i < n; i++) {
			struct fsub *sub = events[i].data.ptr;
			if (sub->done)
				continue;
			fsub_read(sub, o, res->t0_ns);
			if (sub->done) {
				epoll_ctl(ep, EPOLL_CTL_DEL, sub->fd, NULL);
				open--;
			}
		}
	}
	for (unsigned i = 0; i < o->sinks; i++) {
		struct loadgen_sink *st = &res->sink[i];

		if (subs[i].fd >= 0)
			close(subs[i].fd);
		if (i == o->stall)
			continue;
		if (!subs[i].done && st->error == 0)
			st->error = -ETIMEDOUT;
		if (st->end_ns > last_end)
			last_end = st->end_ns;
		if (st->error == 0 && st->end_ns != 0 &&
		    st->bytes == o->size && st->corrupt == 0)
			res->sinks_ok++;
		else
			res->sinks_failed++;
	}
	res->elapsed_ns = last_end;
out:
	if (ep >= 0)
		close(ep);
	free(subs);
	return res->sinks_failed == 0 ? 0 : -1;
}
