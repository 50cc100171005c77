/* netclient.c: a poll(2) echo client and a server-in-a-thread, for tests. */
#include "netclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "mem.h"

uint8_t netclient_pattern(unsigned conn, uint64_t i)
{
	uint64_t x = (uint64_t)conn * 0x9e3779b97f4a7c15ull + i;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint8_t)(x >> 32);
}

static int connect_socket(uint16_t port, bool nonblocking)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
			(nonblocking ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		return -errno;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int netclient_connect(uint16_t port)
{
	return connect_socket(port, false);
}

struct conn {
	int fd;
	uint64_t sent, received;
	bool shut, done, failed;
};

static void conn_fail(struct conn *c, struct netclient_result *res)
{
	c->failed = c->done = true;
	res->conns_failed++;
	close(c->fd);
	c->fd = -1;
}

/* Send what the socket takes; half-close after the last byte. */
static void conn_send(struct conn *c, unsigned id, uint64_t bytes,
		      size_t chunk, uint8_t *buf, struct netclient_result *res)
{
	while (c->sent < bytes) {
		size_t n = bytes - c->sent < chunk ? bytes - c->sent : chunk;
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = netclient_pattern(id, c->sent + i);
		w = send(c->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN)
				conn_fail(c, res);
			return;
		}
		c->sent += (uint64_t)w;
		res->bytes_sent += (uint64_t)w;
	}
	if (!c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
}

/* Read what has arrived, checking each byte against what was sent. */
static void conn_recv(struct conn *c, unsigned id, uint64_t bytes,
		      uint8_t *buf, size_t len, struct netclient_result *res)
{
	for (;;) {
		ssize_t n = recv(c->fd, buf, len, 0);

		if (n < 0) {
			if (errno != EAGAIN)
				conn_fail(c, res);
			return;
		}
		if (n == 0) {
			bool ok = c->received == bytes;
			close(c->fd);
			c->fd = -1;
			c->done = true;
			if (ok) {
				res->conns_ok++;
			} else {
				c->failed = true;
				res->conns_failed++;
			}
			return;
		}
		for (ssize_t i = 0; i < n; i++)
			if (c->received + (uint64_t)i >= c->sent ||
			    buf[i] != netclient_pattern(id, c->received +
							     (uint64_t)i))
				res->mismatches++;
		c->received += (uint64_t)n;
		res->bytes_received += (uint64_t)n;
	}
}

int netclient_echo(uint16_t port, unsigned conns, uint64_t bytes, size_t chunk,
		   int timeout_ms, struct netclient_result *res)
{
	struct conn *c = calloc(conns, sizeof(*c));
	struct pollfd *pfd = calloc(conns, sizeof(*pfd));
	size_t buflen = chunk > 65536 ? chunk : 65536;
	uint8_t *buf = malloc(buflen);
	uint64_t deadline = clock_now_ns() +
			    (uint64_t)timeout_ms * CLOCK_NS_PER_MS;
	unsigned live = 0;

	memset(res, 0, sizeof(*res));
	if (c == NULL || pfd == NULL || buf == NULL) {
		res->conns_failed = conns;
		goto out_free;
	}
	for (unsigned i = 0; i < conns; i++) {
		c[i].fd = connect_socket(port, true);
		if (c[i].fd < 0) {
			c[i].done = c[i].failed = true;
			res->conns_failed++;
		} else {
			live++;
		}
	}
	while (live > 0 && clock_now_ns() < deadline) {
		unsigned n = 0;
		int ready;

		for (unsigned i = 0; i < conns; i++) {
			if (c[i].done)
				continue;
			pfd[n].fd = c[i].fd;
			pfd[n].events = POLLIN | (c[i].shut ? 0 : POLLOUT);
			pfd[n].revents = 0;
			n++;
		}
		ready = poll(pfd, n, 100);
		if (ready < 0 && errno != EINTR)
			break;
		n = 0;
		live = 0;
		for (unsigned i = 0; i < conns; i++) {
			if (c[i].done)
				continue;
			short rev = pfd[n++].revents;
			if (rev & POLLOUT)
				conn_send(&c[i], i, bytes, chunk, buf, res);
			if (!c[i].done && (rev & (POLLIN | POLLHUP | POLLERR)))
				conn_recv(&c[i], i, bytes, buf, buflen, res);
			if (!c[i].done)
				live++;
		}
	}
	for (unsigned i = 0; i < conns; i++) {
		if (!c[i].done) { /* timed out */
			close(c[i].fd);
			res->conns_failed++;
		}
	}
out_free:
	free(buf);
	free(pfd);
	free(c);
	return res->conns_ok == conns && res->mismatches == 0 ? 0 : -1;
}

/* ---- an echo server in a thread ------------------------------------------ */

static void server_listening(void *arg, uint16_t port)
{
	struct server_thread *st = arg;

	if (st->on_listening != NULL)
		st->on_listening(st->arg, port);
	pthread_mutex_lock(&st->mu);
	st->port = port;
	st->listening = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

static void *server_main(void *arg)
{
	struct server_thread *st = arg;
	int rc = st->fn(st->r, st->o, &st->opts, &st->stats);

	pthread_mutex_lock(&st->mu);
	st->rc = rc;
	st->returned = true;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

int server_thread_start(struct server_thread *st, echo_serve_fn fn,
			const struct echo_opts *opts)
{
	memset(st, 0, sizeof(*st));
	st->fn = fn;
	st->opts = *opts;
	st->on_listening = opts->on_listening;
	st->arg = opts->arg;
	st->opts.on_listening = server_listening;
	st->opts.arg = st;
	st->r = reactor_new_epoll();
	if (st->r == NULL)
		return -errno;
	st->o = offload_new(st->r, 2);
	if (st->o == NULL) {
		reactor_free(st->r);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	if (pthread_create(&st->tid, NULL, server_main, st) != 0)
		return -EAGAIN;
	pthread_mutex_lock(&st->mu);
	while (!st->listening && !st->returned)
		pthread_cond_wait(&st->cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	if (st->returned) {
		server_thread_stop(st);
		return st->rc < 0 ? st->rc : -EIO;
	}
	return 0;
}

int server_thread_stop(struct server_thread *st)
{
	reactor_request_stop(st->r);
	pthread_join(st->tid, NULL);
	offload_free(st->o);
	reactor_free(st->r);
	st->o = NULL;
	st->r = NULL;
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	return st->rc;
}

/* ---- a fanout in a thread ------------------------------------------------ */

static void fanout_listening(void *arg, uint16_t port)
{
	struct fanout_thread *ft = arg;

	pthread_mutex_lock(&ft->mu);
	ft->port = port;
	ft->listening = true;
	pthread_cond_broadcast(&ft->cv);
	pthread_mutex_unlock(&ft->mu);
}

static void *fanout_main(void *arg)
{
	struct fanout_thread *ft = arg;
	int rc = ft->fn(ft->r, ft->o, &ft->opts, &ft->stats);

	pthread_mutex_lock(&ft->mu);
	ft->rc = rc;
	ft->returned = true;
	pthread_cond_broadcast(&ft->cv);
	pthread_mutex_unlock(&ft->mu);
	return NULL;
}

int fanout_thread_start(struct fanout_thread *ft, fanout_run_fn fn,
			const struct fanout_opts *opts)
{
	memset(ft, 0, sizeof(*ft));
	if (opts->sinks > FANOUT_THREAD_MAX_SINKS)
		return -EINVAL;
	ft->fn = fn;
	ft->opts = *opts;
	ft->opts.on_listening = fanout_listening;
	ft->opts.arg = ft;
	ft->stats.sinks = opts->sinks;
	ft->stats.sink = ft->sink;
	ft->r = reactor_new_epoll();
	if (ft->r == NULL)
		return -errno;
	ft->o = offload_new(ft->r, 2);
	if (ft->o == NULL) {
		reactor_free(ft->r);
		return -ENOMEM;
	}
	pthread_mutex_init(&ft->mu, NULL);
	pthread_cond_init(&ft->cv, NULL);
	if (pthread_create(&ft->tid, NULL, fanout_main, ft) != 0)
		return -EAGAIN;
	pthread_mutex_lock(&ft->mu);
	while (opts->kind == FANOUT_SINK_TCP && !ft->listening &&
	       !ft->returned)
		pthread_cond_wait(&ft->cv, &ft->mu);
	pthread_mutex_unlock(&ft->mu);
	if (opts->kind == FANOUT_SINK_TCP && !ft->listening) {
		int rc = fanout_thread_join(ft, false);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

int fanout_thread_join(struct fanout_thread *ft, bool stop)
{
	if (stop)
		reactor_request_stop(ft->r);
	pthread_join(ft->tid, NULL);
	offload_free(ft->o);
	reactor_free(ft->r);
	ft->o = NULL;
	ft->r = NULL;
	pthread_cond_destroy(&ft->cv);
	pthread_mutex_destroy(&ft->mu);
	return ft->rc;
}

/* ---- what an echo server keeps per connection ------------------------------ */

void netclient_settled_heap(int64_t *live_bytes, int64_t *live_blocks)
{
	struct mem_stats m, prev;
	int still = 0;

	mem_stats_get(&prev);
	for (int i = 0; i < 400 && still < 4; i++) {
		usleep(5000);
		mem_stats_get(&m);
		if (m.live_bytes == prev.live_bytes &&
		    m.live_blocks == prev.live_blocks)
			still++;
		else
			still = 0;
		prev = m;
	}
	*live_bytes = prev.live_bytes;
	*live_blocks = prev.live_blocks;
}

/* One message there and back on a blocking socket. */
static int ping_once(int fd)
{
	char out = 'i', in;

	if (write(fd, &out, 1) != 1 || read(fd, &in, 1) != 1 || in != out)
		return -EIO;
	return 0;
}

int netclient_idle_heap(uint16_t port, unsigned n0, unsigned n1,
			struct netclient_idle *out)
{
	int64_t b0, k0, b1, k1;
	int *fd = calloc(n1, sizeof(*fd));
	unsigned open_ = 0;
	int err = 0;

	if (fd == NULL || n1 <= n0)
		return -EINVAL;
	for (; open_ < n1 && err == 0; open_++) {
		if (open_ == n0)
			netclient_settled_heap(&b0, &k0);
		fd[open_] = netclient_connect(port);
		if (fd[open_] < 0) {
			err = fd[open_];
			break;
		}
		err = ping_once(fd[open_]);
	}
	if (err == 0) {
		netclient_settled_heap(&b1, &k1);
		out->bytes = (double)(b1 - b0) / (n1 - n0);
		out->blocks = (double)(k1 - k0) / (n1 - n0);
	}
	for (unsigned i = 0; i < open_; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	free(fd);
	return err;
}

int netclient_slow_reader(uint16_t port, struct netclient_slow *out)
{
	static uint8_t buf[1 << 16];
	int64_t b0, k0, b1, k1;
	int fd = netclient_connect(port);
	uint64_t deadline;

	memset(out, 0, sizeof(*out));
	if (fd < 0 || ping_once(fd) < 0)
		goto out_fail;
	netclient_settled_heap(&b0, &k0);
	/* Send until the socket takes nothing for 200 ms: the server's
	 * reads stopped, its write back waits for us. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (int quiet = 0; quiet < 40;) {
		size_t n = sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = netclient_pattern(7, out->sent + i);
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w > 0) {
			out->sent += (uint64_t)w;
			quiet = 0;
		} else if (w < 0 && errno == EAGAIN) {
			usleep(5000);
			quiet++;
		} else {
			goto out_fail;
		}
	}
	netclient_settled_heap(&b1, &k1);
	out->waiting_bytes = b1 - b0;
	out->waiting_blocks = k1 - k0;
	shutdown(fd, SHUT_WR);
	deadline = clock_now_ns() + 30 * CLOCK_NS_PER_S;
	while (clock_now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) < 0)
			goto out_fail;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			break;
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0)
			goto out_fail;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != netclient_pattern(7, out->received + (uint64_t)i))
				goto out_fail;
		out->received += (uint64_t)n;
	}
	close(fd);
	return out->received == out->sent ? 0 : -1;

out_fail:
	if (fd >= 0)
		close(fd);
	return -1;
}
