/* test_loadgen.c: the load generator (compare/bench/loadgen.h).
 *
 * The load generator is what every comparison trusts to tell a correct
 * server from a broken one, so it is tested against servers written here,
 * outside every engine: a plain poll(2) echo server that can be told to
 * corrupt, drop or duplicate one byte, or to stall once; and a plain
 * fanout server that can corrupt or cut short one subscriber's stream.
 * The latency it reports is checked against an exact computation on the
 * samples it recorded.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hist.h"
#include "bench/loadgen.h"

#define MS CLOCK_NS_PER_MS

/* ---- a plain echo server, breakable on purpose ------------------------------ */

enum fault {
	FAULT_NONE,
	FAULT_CORRUPT,     /* flip the byte at `at` */
	FAULT_DROP,        /* leave out the byte at `at` */
	FAULT_DUP,         /* send the byte at `at` twice */
	FAULT_STALL,       /* once `at` bytes have come in, stop for stall_ms */
};

#define MAX_CONNS 64
#define BUF 16384

struct tconn {
	int fd;
	unsigned index;            /* in accept order */
	uint64_t in;               /* bytes read so far */
	unsigned char buf[BUF + 1];
	size_t len, off;           /* pending write: buf[off..len) */
	bool eof;
};

struct tserver {
	int lfd;
	uint16_t port;
	enum fault fault;
	unsigned fault_conn;       /* the connection (accept order) */
	uint64_t at;               /* stream offset of the faulty byte */
	unsigned stall_ms;
	bool fault_done;
	atomic_bool stop;
	unsigned accepted, closed; /* read after the join */
	pthread_t tid;
	struct tconn conns[MAX_CONNS];
};

static void tconn_close(struct tserver *s, struct tconn *c)
{
	close(c->fd);
	c->fd = -1;
	s->closed++;
}

/* Apply the fault to the n bytes just read into c->buf (stream offsets
 * c->in .. c->in + n - 1).  Returns the new length. */
static size_t apply_fault(struct tserver *s, struct tconn *c, size_t n)
{
	size_t k;

	if (s->fault_done || c->index != s->fault_conn ||
	    s->at < c->in || s->at >= c->in + n)
		return n;
	k = (size_t)(s->at - c->in);
	s->fault_done = true;
	switch (s->fault) {
	case FAULT_CORRUPT:
		c->buf[k] ^= 0x5a;
		return n;
	case FAULT_DROP:
		memmove(c->buf + k, c->buf + k + 1, n - k - 1);
		return n - 1;
	case FAULT_DUP:
		memmove(c->buf + k + 1, c->buf + k, n - k);
		return n + 1;
	case FAULT_STALL: {
		struct timespec ts = { .tv_sec = s->stall_ms / 1000,
				       .tv_nsec = (long)(s->stall_ms % 1000) *
						  1000000L };
		nanosleep(&ts, NULL);
		return n;
	}
	default:
		return n;
	}
}

/* Read once (if nothing is pending), then write what is pending. */
static void tconn_serve(struct tserver *s, struct tconn *c, short rev)
{
	if (c->len == c->off && !c->eof && (rev & (POLLIN | POLLHUP))) {
		ssize_t n = recv(c->fd, c->buf, BUF, 0);
		if (n < 0 && errno != EAGAIN) {
			tconn_close(s, c);
			return;
		}
		if (n == 0)
			c->eof = true;
		if (n > 0) {
			c->len = apply_fault(s, c, (size_t)n);
			c->off = 0;
			c->in += (uint64_t)n;
		}
	}
	while (c->off < c->len) {
		ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN)
				tconn_close(s, c);
			return;
		}
		c->off += (size_t)w;
	}
	if (c->eof)
		tconn_close(s, c);
}

static void *tserver_main(void *arg)
{
	struct tserver *s = arg;
	struct pollfd p[MAX_CONNS + 1];
	struct tconn *which[MAX_CONNS + 1];

	while (!atomic_load(&s->stop)) {
		int n = 0;

		p[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		which[n++] = NULL;
		for (int i = 0; i < MAX_CONNS; i++) {
			struct tconn *c = &s->conns[i];
			if (c->fd < 0)
				continue;
			p[n] = (struct pollfd){ .fd = c->fd,
				.events = c->off < c->len ? POLLOUT : POLLIN };
			which[n++] = c;
		}
		if (poll(p, (nfds_t)n, 20) <= 0)
			continue;
		for (int i = 1; i < n; i++)
			if (p[i].revents)
				tconn_serve(s, which[i], p[i].revents);
		if (p[0].revents & POLLIN) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK);
			int slot = -1;
			for (int i = 0; i < MAX_CONNS && fd >= 0; i++)
				if (s->conns[i].fd < 0) {
					slot = i;
					break;
				}
			if (fd >= 0 && slot < 0)
				close(fd);
			if (slot >= 0) {
				struct tconn *c = &s->conns[slot];
				c->fd = fd;
				c->index = s->accepted++;
				c->in = c->len = c->off = 0;
				c->eof = false;
			}
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].fd >= 0)
			tconn_close(s, &s->conns[i]);
	return NULL;
}

/* Listen on 127.0.0.1, any port. */
static int listen_any(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 512), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static struct tserver *tserver_start(enum fault fault, unsigned conn,
				     uint64_t at)
{
	struct tserver *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	s->fault = fault;
	s->fault_conn = conn;
	s->at = at;
	s->stall_ms = 100;
	for (int i = 0; i < MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->lfd = listen_any(&s->port);
	ck_assert_int_eq(pthread_create(&s->tid, NULL, tserver_main, s), 0);
	return s;
}

static void tserver_stop(struct tserver *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->tid, NULL);
	close(s->lfd);
}

/* A short closed-loop run: 4 connections, one 64-byte message each. */
static void echo_opts(struct loadgen_opts *o, uint16_t port)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = port;
	o->conns = 4;
	o->depth = 1;
	o->msg_size = 64;
	o->warmup_ns = 20 * MS;
	o->duration_ns = 150 * MS;
	o->drain_ns = 300 * MS;
}

static struct loadgen_result *result_new(void)
{
	struct loadgen_result *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	return r;
}

/* ==== echo: a correct server passes =========================================== */

START_TEST(test_echo_against_a_correct_server_reports_no_fault)
{
	struct tserver *s = tserver_start(FAULT_NONE, 0, 0);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	o.depth = 3;
	ck_assert_int_eq(loadgen_echo(&o, r), 0);
	tserver_stop(s);
	ck_assert_uint_gt(r->msgs, 0);
	ck_assert_uint_eq(r->bytes, r->msgs * o.msg_size);
	ck_assert_uint_eq(r->latency.count, r->msgs);
	ck_assert_uint_eq(r->corrupt, 0);
	ck_assert_uint_eq(r->missing, 0);
	ck_assert_uint_eq(r->extra, 0);
	ck_assert_uint_eq(r->conns_ok, o.conns);
	ck_assert_uint_eq(r->conns_failed, 0);
	/* The measured time runs between the loop turns that saw the two
	 * deadlines pass: close to the duration, never nothing. */
	ck_assert_uint_gt(r->elapsed_ns, 0);
	free(r);
	free(s);
}
END_TEST

/* Connections the caller made are used and left open, with nothing unread
 * on them: bench scale keeps them open for the server's exit. */
START_TEST(test_echo_on_the_callers_sockets_leaves_them_open)
{
	struct tserver *s = tserver_start(FAULT_NONE, 0, 0);
	struct loadgen_result *r = result_new();
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(s->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct loadgen_opts o;
	int fds[4];
	char b;

	echo_opts(&o, s->port);
	for (int i = 0; i < 4; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(fds[i], 0);
		ck_assert_int_eq(connect(fds[i], (struct sockaddr *)&sa,
					 sizeof(sa)), 0);
	}
	o.fds = fds;
	ck_assert_int_eq(loadgen_echo(&o, r), 0);
	ck_assert_uint_gt(r->msgs, 0);
	ck_assert_uint_eq(r->conns_ok, 4);
	for (int i = 0; i < 4; i++) {
		/* Still open and empty: the echo of a new byte comes back. */
		ck_assert_int_eq(fcntl(fds[i], F_SETFL, 0), 0);
		ck_assert_int_eq(send(fds[i], "z", 1, MSG_NOSIGNAL), 1);
		ck_assert_int_eq(recv(fds[i], &b, 1, 0), 1);
		ck_assert_int_eq(b, 'z');
		close(fds[i]);
	}
	tserver_stop(s);
	free(r);
	free(s);
}
END_TEST

/* ==== echo: every kind of broken server is caught ================================== */

START_TEST(test_echo_detects_a_corrupted_byte)
{
	struct tserver *s = tserver_start(FAULT_CORRUPT, 2, 1000);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_echo(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	ck_assert_uint_eq(r->corrupt, 1);        /* exactly the one byte */
	ck_assert_uint_eq(r->missing, 0);
	ck_assert_uint_eq(r->extra, 0);
	ck_assert_uint_eq(r->conns_failed, 1);   /* that connection only */
	ck_assert_uint_eq(r->conns_ok, o.conns - 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_echo_detects_a_dropped_byte)
{
	struct tserver *s = tserver_start(FAULT_DROP, 1, 1000);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_echo(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	/* The stream is one byte short: the last byte never comes, and every
	 * byte after the hole arrives one place early. */
	ck_assert_uint_eq(r->missing, 1);
	ck_assert_uint_gt(r->corrupt, 0);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_echo_detects_a_duplicated_byte)
{
	struct tserver *s = tserver_start(FAULT_DUP, 3, 1000);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_echo(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	/* Every byte after the repeat arrives one place late. */
	ck_assert_uint_gt(r->corrupt + r->extra, 0);
	ck_assert_uint_gt(r->corrupt, 0);
	ck_assert_uint_eq(r->missing, 0);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_echo_detects_a_duplicated_last_byte)
{
	/* A repeat of the very last byte sent shifts nothing: only the extra
	 * byte tells.  One connection, one message in flight: the last byte
	 * of the first message is repeated and then the load stops. */
	struct tserver *s = tserver_start(FAULT_DUP, 0, 63);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	o.conns = 1;
	ck_assert_int_eq(loadgen_echo(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	ck_assert_uint_gt(r->corrupt + r->extra, 0);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_echo_to_a_closed_port_fails_every_connection)
{
	uint16_t port;
	int fd = listen_any(&port);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	close(fd);                       /* nothing listens there now */
	echo_opts(&o, port);
	o.duration_ns = 30 * MS;
	ck_assert_int_eq(loadgen_echo(&o, r), -1);
	ck_assert_uint_eq(r->conns_failed, o.conns);
	ck_assert_uint_eq(r->conns_ok, 0);
	ck_assert_uint_eq(r->msgs, 0);
	free(r);
}
END_TEST

/* ==== latency: the histogram matches the samples ====================================== */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The exact percentile of sorted samples: the smallest value with at least
 * p% of the samples at or below it. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);

	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void check_histogram(const struct loadgen_result *r, uint64_t *v)
{
	const double pcts[] = { 1, 10, 50, 75, 90, 99, 99.9 };

	ck_assert_uint_gt(r->nsamples, 100);
	ck_assert_uint_eq(r->nsamples, r->msgs);
	ck_assert_uint_eq(r->latency.count, r->nsamples);
	qsort(v, r->nsamples, sizeof(v[0]), cmp_u64);
	ck_assert_uint_eq(hist_percentile(&r->latency, 0), v[0]);
	ck_assert_uint_eq(hist_percentile(&r->latency, 100),
			  v[r->nsamples - 1]);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		uint64_t want = exact_percentile(v, r->nsamples, pcts[i]);
		uint64_t got = hist_percentile(&r->latency, pcts[i]);
		uint64_t diff = got > want ? got - want : want - got;
		/* hist.h: within 1/128 of the value (its bucket's half
		 * width), exact below 128 ns. */
		ck_assert_msg(diff <= want / 128 + 1,
			      "p%g: histogram %llu, exact %llu", pcts[i],
			      (unsigned long long)got,
			      (unsigned long long)want);
	}
}

START_TEST(test_echo_histogram_matches_the_recorded_samples)
{
	struct tserver *s = tserver_start(FAULT_NONE, 0, 0);
	struct loadgen_result *r = result_new();
	uint64_t *v = calloc(1 << 20, sizeof(*v));
	struct loadgen_opts o;

	ck_assert_ptr_nonnull(v);
	echo_opts(&o, s->port);
	o.depth = 2;
	o.samples = v;
	o.max_samples = 1 << 20;
	ck_assert_int_eq(loadgen_echo(&o, r), 0);
	tserver_stop(s);
	check_histogram(r, v);
	free(v);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_churn_histogram_matches_the_recorded_samples)
{
	struct tserver *s = tserver_start(FAULT_NONE, 0, 0);
	struct loadgen_result *r = result_new();
	uint64_t *v = calloc(1 << 20, sizeof(*v));
	struct loadgen_opts o;

	ck_assert_ptr_nonnull(v);
	echo_opts(&o, s->port);
	o.samples = v;
	o.max_samples = 1 << 20;
	ck_assert_int_eq(loadgen_churn(&o, r), 0);
	tserver_stop(s);
	check_histogram(r, v);
	free(v);
	free(r);
	free(s);
}
END_TEST

/* ==== open loop: a stall cannot hide ===================================================== */

START_TEST(test_open_loop_counts_latency_from_the_intended_send_time)
{
	/* The server stops for 100 ms once.  A closed loop would just send
	 * less during the stall; the open loop keeps its schedule, so every
	 * message meant to go out during the stall shows the wait. */
	struct tserver *s = tserver_start(FAULT_STALL, 0, 64 * 60);
	struct loadgen_result *r = result_new();
	uint64_t *v = calloc(1 << 16, sizeof(*v));
	struct loadgen_opts o;
	size_t slow = 0;

	ck_assert_ptr_nonnull(v);
	echo_opts(&o, s->port);
	o.conns = 1;
	o.rate = 1000;                   /* one message a millisecond */
	o.warmup_ns = 0;
	o.duration_ns = 300 * MS;
	o.samples = v;
	o.max_samples = 1 << 16;
	ck_assert_int_eq(loadgen_echo(&o, r), 0);
	tserver_stop(s);
	ck_assert(s->fault_done);
	for (size_t i = 0; i < r->nsamples; i++)
		slow += v[i] >= 50 * MS;
	/* About 100 messages were due during the stall, half of them more
	 * than 50 ms before it ended. */
	ck_assert_uint_ge(hist_percentile(&r->latency, 100), 90 * MS);
	ck_assert_uint_ge(slow, 20);
	free(v);
	free(r);
	free(s);
}
END_TEST

/* ==== churn ================================================================================= */

START_TEST(test_churn_makes_one_connection_per_exchange)
{
	struct tserver *s = tserver_start(FAULT_NONE, 0, 0);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	o.conns = 8;
	ck_assert_int_eq(loadgen_churn(&o, r), 0);
	tserver_stop(s);
	ck_assert_uint_gt(r->msgs, 0);
	ck_assert_uint_eq(r->conns_failed, 0);
	/* Every connection the server saw completed one exchange: those of
	 * the warm-up and those measured alike. */
	ck_assert_uint_ge(r->conns_ok, r->msgs);
	ck_assert_uint_eq(s->accepted, r->conns_ok);
	ck_assert_uint_eq(s->closed, s->accepted);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_churn_detects_a_corrupted_byte)
{
	struct tserver *s = tserver_start(FAULT_CORRUPT, 5, 10);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_churn(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	ck_assert_uint_eq(r->corrupt, 1);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_churn_detects_a_dropped_byte)
{
	struct tserver *s = tserver_start(FAULT_DROP, 5, 63);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_churn(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	ck_assert_uint_eq(r->missing, 1);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

START_TEST(test_churn_detects_a_duplicated_byte)
{
	struct tserver *s = tserver_start(FAULT_DUP, 5, 63);
	struct loadgen_result *r = result_new();
	struct loadgen_opts o;

	echo_opts(&o, s->port);
	ck_assert_int_eq(loadgen_churn(&o, r), -1);
	tserver_stop(s);
	ck_assert(s->fault_done);
	ck_assert_uint_eq(r->extra, 1);
	ck_assert_uint_eq(r->conns_failed, 1);
	free(r);
	free(s);
}
END_TEST

/* ==== fanout subscribers ======================================================================= */

enum ffault {
	FF_NONE,
	FF_CORRUPT,       /* one byte of one subscriber's stream flipped */
	FF_SHORT,         /* one subscriber's stream ends one byte early */
	FF_LONG,          /* one subscriber gets one byte too many */
};

struct fserver {
	int lfd;
	uint16_t port;
	unsigned sinks, victim;
	enum ffault fault;
	const unsigned char *input;
	size_t size;
	pthread_t tid;
};

static void send_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* Accept every subscriber, then send each the input (blocking), then
 * close: the load generator reads them all at once. */
static void *fserver_main(void *arg)
{
	struct fserver *s = arg;
	int fds[16];
	int fl = fcntl(s->lfd, F_GETFL);

	fcntl(s->lfd, F_SETFL, fl & ~O_NONBLOCK);
	for (unsigned i = 0; i < s->sinks; i++)
		fds[i] = accept(s->lfd, NULL, NULL);
	for (unsigned i = 0; i < s->sinks; i++) {
		size_t n = s->size;
		if (fds[i] < 0)
			continue;
		if (i == s->victim && s->fault == FF_CORRUPT) {
			unsigned char *copy = malloc(n);
			memcpy(copy, s->input, n);
			copy[n / 2] ^= 1;
			send_all(fds[i], copy, n);
			free(copy);
		} else {
			if (i == s->victim && s->fault == FF_SHORT)
				n--;
			send_all(fds[i], s->input, n);
			if (i == s->victim && s->fault == FF_LONG)
				send_all(fds[i], s->input, 1);
		}
		close(fds[i]);
	}
	return NULL;
}

static unsigned char *random_input(size_t n)
{
	unsigned char *p = malloc(n);
	uint32_t x = 12345;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	return p;
}

/* Run a fanout server with the fault against the load generator. */
static int run_fanout(enum ffault fault, unsigned victim,
		      struct loadgen_fanout_result *res)
{
	const size_t size = 3 * 1024 * 1024 + 7;
	struct fserver s = { .sinks = 4, .victim = victim, .fault = fault,
			     .size = size };
	struct loadgen_fanout_opts o = {
		.host = "127.0.0.1", .sinks = 4, .size = size,
		.timeout_ns = 10 * CLOCK_NS_PER_S, .stall = 4,
	};
	unsigned char *input = random_input(size);
	int rc;

	s.input = o.input = input;
	s.lfd = listen_any(&s.port);
	o.port = s.port;
	ck_assert_int_eq(pthread_create(&s.tid, NULL, fserver_main, &s), 0);
	rc = loadgen_fanout(&o, res);
	pthread_join(s.tid, NULL);
	close(s.lfd);
	free(input);
	return rc;
}

START_TEST(test_fanout_accepts_subscribers_that_got_the_whole_input)
{
	struct loadgen_sink sink[4];
	struct loadgen_fanout_result r = { .sink = sink };

	ck_assert_int_eq(run_fanout(FF_NONE, 0, &r), 0);
	ck_assert_uint_eq(r.sinks_ok, 4);
	ck_assert_uint_eq(r.sinks_failed, 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(sink[i].bytes, 3 * 1024 * 1024 + 7);
		ck_assert_uint_eq(sink[i].corrupt, 0);
		ck_assert_int_eq(sink[i].error, 0);
		ck_assert_uint_gt(sink[i].end_ns, 0);
		ck_assert_uint_le(sink[i].first_ns, sink[i].end_ns);
		ck_assert_uint_le(sink[i].end_ns, r.elapsed_ns);
	}
}
END_TEST

START_TEST(test_fanout_detects_a_corrupted_byte_at_one_sink)
{
	struct loadgen_sink sink[4];
	struct loadgen_fanout_result r = { .sink = sink };

	ck_assert_int_eq(run_fanout(FF_CORRUPT, 2, &r), -1);
	ck_assert_uint_eq(r.sinks_ok, 3);
	ck_assert_uint_eq(r.sinks_failed, 1);
	ck_assert_uint_eq(sink[2].corrupt, 1);
}
END_TEST

START_TEST(test_fanout_detects_a_short_stream)
{
	struct loadgen_sink sink[4];
	struct loadgen_fanout_result r = { .sink = sink };

	ck_assert_int_eq(run_fanout(FF_SHORT, 1, &r), -1);
	ck_assert_uint_eq(r.sinks_failed, 1);
	ck_assert_uint_eq(sink[1].bytes, 3 * 1024 * 1024 + 6);
	ck_assert_uint_eq(sink[1].corrupt, 0);
}
END_TEST

START_TEST(test_fanout_detects_a_byte_too_many)
{
	struct loadgen_sink sink[4];
	struct loadgen_fanout_result r = { .sink = sink };

	ck_assert_int_eq(run_fanout(FF_LONG, 3, &r), -1);
	ck_assert_uint_eq(r.sinks_failed, 1);
	ck_assert_uint_eq(sink[3].corrupt, 1);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("loadgen");
	TCase *echo = tcase_create("echo");
	TCase *lat = tcase_create("latency");
	TCase *churn = tcase_create("churn");
	TCase *fan = tcase_create("fanout");

	tcase_set_timeout(echo, 20);
	tcase_add_test(echo, test_echo_against_a_correct_server_reports_no_fault);
	tcase_add_test(echo, test_echo_on_the_callers_sockets_leaves_them_open);
	tcase_add_test(echo, test_echo_detects_a_corrupted_byte);
	tcase_add_test(echo, test_echo_detects_a_dropped_byte);
	tcase_add_test(echo, test_echo_detects_a_duplicated_byte);
	tcase_add_test(echo, test_echo_detects_a_duplicated_last_byte);
	tcase_add_test(echo, test_echo_to_a_closed_port_fails_every_connection);
	suite_add_tcase(s, echo);
	tcase_set_timeout(lat, 20);
	tcase_add_test(lat, test_echo_histogram_matches_the_recorded_samples);
	tcase_add_test(lat, test_churn_histogram_matches_the_recorded_samples);
	tcase_add_test(lat,
		       test_open_loop_counts_latency_from_the_intended_send_time);
	suite_add_tcase(s, lat);
	tcase_set_timeout(churn, 20);
	tcase_add_test(churn, test_churn_makes_one_connection_per_exchange);
	tcase_add_test(churn, test_churn_detects_a_corrupted_byte);
	tcase_add_test(churn, test_churn_detects_a_dropped_byte);
	tcase_add_test(churn, test_churn_detects_a_duplicated_byte);
	suite_add_tcase(s, churn);
	tcase_set_timeout(fan, 20);
	tcase_add_test(fan,
		       test_fanout_accepts_subscribers_that_got_the_whole_input);
	tcase_add_test(fan, test_fanout_detects_a_corrupted_byte_at_one_sink);
	tcase_add_test(fan, test_fanout_detects_a_short_stream);
	tcase_add_test(fan, test_fanout_detects_a_byte_too_many);
	suite_add_tcase(s, fan);
	return s;
}

#include "testutil.h"
