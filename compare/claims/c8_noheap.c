/* c8_noheap.c: claim C8, serving with no heap.
 *
 * "The poll model needs no heap at all: tasks can live in static storage,
 * as on a microcontroller."
 *
 * The experiment: each echo server (push; poll as it is; poll with
 * poll_config.static_tasks = 16 preallocated connection slots; the libuv,
 * libevent and epoll baselines) starts normally; the moment it listens, the
 * allocator is told to fail every allocation (mem_fail_all(true)).  A client
 * thread then opens 8 connections and makes 20 round trips of 64 bytes on
 * each, with a 300 ms limit per round trip.  A connection is served when all
 * its round trips came back right.  The mem counters say how many
 * allocations the server tried meanwhile.
 *
 * Each server runs in a forked child, so one that crashes for lack of
 * memory is a result (the signal is reported), not the end of the run; one
 * that does not stop within C8_CHILD_LIMIT_S of starting is killed by an
 * alarm and reported as hung (a server that lost its way of seeing the stop
 * request when an allocation failed).  The
 * client uses plain sockets and the stack: it allocates nothing.
 */
#include "claims.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "baselines/baselines.h"
#include "clock.h"
#include "mem.h"
#include "offload.h"
#include "poll.h"
#include "push.h"

#define C8_CONNS 8
#define C8_ROUNDS 20
#define C8_MSG 64
#define C8_STATIC_SLOTS 16
#define C8_RTT_LIMIT_MS 300
#define C8_CHILD_LIMIT_S 10      /* the client needs at most 8 * 0.3 s */

const char *const c8_server_name[C8_NSERVERS] = {
	"push", "poll", "poll (static tasks)", "libuv", "libevent", "epoll",
};

/* The rule.  C8 holds when the poll engine with static task slots served
 * every connection and tried no allocation at all after start-up.  It holds
 * only in part when it served every connection but did try to allocate
 * (and coped with the refusal).  It does not hold when it failed to serve
 * some connection.  The other servers are reported beside it: the claim is
 * about what the poll model makes possible, not about the others. */
void c8_verdict(const struct c8_figures *f, struct claim_verdict *v)
{
	const int s = C8_POLL_STATIC;
	char others[200];
	size_t n = 0;

	if (!f->ran[s] || f->conns_tried[s] == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "the static-task poll server did not run");
		return;
	}
	others[0] = '\0';
	for (int i = 0; i < C8_NSERVERS && n < sizeof(others); i++) {
		if (i == s || !f->ran[i])
			continue;
		n += (size_t)snprintf(others + n, sizeof(others) - n,
				      "%s%s %u/%u", n ? ", " : "",
				      c8_server_name[i], f->conns_served[i],
				      f->conns_tried[i]);
	}
	if (f->conns_served[s] < f->conns_tried[s])
		claim_verdict_set(v, CLAIM_FAILS,
			"with every allocation failing, poll with static tasks "
			"served %u of %u connections (others: %s)",
			f->conns_served[s], f->conns_tried[s], others);
	else if (f->allocs_refused[s] > 0)
		claim_verdict_set(v, CLAIM_PARTLY,
			"poll with static tasks served %u of %u connections but "
			"still tried %llu allocations (others: %s)",
			f->conns_served[s], f->conns_tried[s],
			(unsigned long long)f->allocs_refused[s], others);
	else
		claim_verdict_set(v, CLAIM_HOLDS,
			"with every allocation failing after start-up, poll "
			"with static tasks served %u of %u connections and "
			"tried no allocation; served by the others: %s",
			f->conns_served[s], f->conns_tried[s], others);
}

/* ---- the child: a server, the allocator off, a client -------------------------- */

struct c8_result {
	unsigned tried, served;
	uint64_t refused;
};

struct c8_child {
	struct reactor *r;
	int out;                     /* the pipe to the parent */
	uint16_t port;
	pthread_t client;
	bool started;
	struct mem_stats m0;
};

static int c8_connect(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One round trip: send C8_MSG bytes, get the same back within the limit. */
static bool c8_round_trip(int fd, unsigned seq)
{
	unsigned char out[C8_MSG], in[C8_MSG];
	uint64_t deadline = clock_now_ns() + C8_RTT_LIMIT_MS * CLOCK_NS_PER_MS;
	size_t got = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (unsigned char)(seq * 31 + i);
	if (send(fd, out, sizeof(out), MSG_NOSIGNAL) != (ssize_t)sizeof(out))
		return false;
	while (got < sizeof(in)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = clock_now_ns();
		ssize_t n;

		if (now >= deadline ||
		    poll(&p, 1, (int)((deadline - now) / CLOCK_NS_PER_MS) + 1) <= 0)
			return false;
		n = recv(fd, in + got, sizeof(in) - got, 0);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return memcmp(in, out, sizeof(in)) == 0;
}

/* The client: it reports the figures itself, before it asks the server to
 * stop, so that a server that then fails to stop still has its figures. */
static void *c8_client(void *arg)
{
	struct c8_child *c = arg;
	struct c8_result res = { .tried = C8_CONNS };
	struct mem_stats m1;
	int fd[C8_CONNS];
	bool ok[C8_CONNS];
	ssize_t n;

	for (int i = 0; i < C8_CONNS; i++) {
		fd[i] = c8_connect(c->port);
		ok[i] = fd[i] >= 0;
	}
	for (unsigned round = 0; round < C8_ROUNDS; round++)
		for (int i = 0; i < C8_CONNS; i++)
			if (ok[i])
				ok[i] = c8_round_trip(fd[i], round * C8_CONNS +
						      (unsigned)i);
	mem_stats_get(&m1);
	mem_fail_all(false);
	res.refused = m1.failed - c->m0.failed;
	for (int i = 0; i < C8_CONNS; i++) {
		res.served += ok[i];
		if (fd[i] >= 0)
			close(fd[i]);
	}
	n = write(c->out, &res, sizeof(res));
	(void)n;                     /* a short write reads as no figures */
	reactor_request_stop(c->r);
	return NULL;
}

/* The server listens and has done its start-up: from now on, no heap. */
static void c8_on_listening(void *arg, uint16_t port)
{
	struct c8_child *c = arg;

	c->port = port;
	mem_stats_get(&c->m0);
	mem_fail_all(true);
	c->started = pthread_create(&c->client, NULL, c8_client, c) == 0;
	if (!c->started) {
		mem_fail_all(false);
		reactor_request_stop(c->r);
	}
}

static echo_serve_fn c8_serve_fn(enum c8_server k)
{
	switch (k) {
	case C8_PUSH:
		return push_echo_serve;
	case C8_POLL:
	case C8_POLL_STATIC:
		return poll_echo_serve;
	case C8_LIBUV:
		return libuv_echo_serve;
	case C8_LIBEVENT:
		return libevent_echo_serve;
	case C8_EPOLL:
		return epoll_echo_serve;
	default:
		return NULL;
	}
}

static void c8_child_run(enum c8_server k, int out)
{
	struct poll_config pc = poll_config_get();
	struct c8_child c = { .out = out };
	struct echo_stats stats;
	struct echo_opts eo;
	struct offload *o = NULL;
	int rc = -ENOMEM;

	pc.static_tasks = k == C8_POLL_STATIC ? C8_STATIC_SLOTS : 0;
	poll_config_set(&pc);
	c.r = reactor_new_epoll();
	if (c.r != NULL)
		o = offload_new(c.r, 1);
	if (o != NULL) {
		echo_opts_default(&eo);
		eo.on_listening = c8_on_listening;
		eo.arg = &c;
		rc = c8_serve_fn(k)(c.r, o, &eo, &stats);
		mem_fail_all(false);
		if (c.started)
			pthread_join(c.client, NULL);
	}
	_exit(rc == 0 ? 0 : 1);
}

/* Run server k in a child; its result, or -errno. */
static int c8_one(enum c8_server k, struct c8_figures *f)
{
	struct c8_result res;
	int p[2], status, null;
	size_t got = 0;
	pid_t pid;

	if (pipe(p) != 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		alarm(C8_CHILD_LIMIT_S);
		c8_child_run(k, p[1]);
	}
	close(p[1]);
	while (got < sizeof(res)) {
		ssize_t n = read(p[0], (char *)&res + got, sizeof(res) - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	waitpid(pid, &status, 0);
	f->ran[k] = true;
	f->conns_tried[k] = C8_CONNS;
	if (WIFSIGNALED(status))
		f->exit_signal[k] = WTERMSIG(status);
	if (got == sizeof(res)) {
		f->conns_served[k] = res.served;
		f->allocs_refused[k] = res.refused;
	}
	return 0;
}

int c8_measure(const struct claims_ctx *cx, struct c8_figures *f)
{
	int rc = 0;

	memset(f, 0, sizeof(*f));
	for (int k = 0; k < C8_NSERVERS && rc == 0; k++) {
		rc = c8_one((enum c8_server)k, f);
		claims_say(cx, "C8: %-20s served %u of %u, %llu allocations "
			   "refused%s%s", c8_server_name[k], f->conns_served[k],
			   f->conns_tried[k],
			   (unsigned long long)f->allocs_refused[k],
			   f->exit_signal[k] == SIGALRM ? ", hung: killed" :
			   f->exit_signal[k] ? ", died of " : "",
			   f->exit_signal[k] && f->exit_signal[k] != SIGALRM
				? strsignal(f->exit_signal[k]) : "");
	}
	return rc;
}

/* "served/tried (N refused)", and the signal if it died. */
static int c8_cell(char *buf, size_t len, const struct c8_figures *f, int k)
{
	return snprintf(buf, len, "%s %u/%u served, %llu allocs refused%s",
			c8_server_name[k], f->conns_served[k], f->conns_tried[k],
			(unsigned long long)f->allocs_refused[k],
			f->exit_signal[k] == SIGALRM ? ", then hung"
			: f->exit_signal[k] ? ", then died" : "");
}

int c8_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c8_figures f;
	size_t n;
	int rc;

	rc = c8_measure(cx, &f);
	if (rc < 0)
		return rc;
	c8_verdict(&f, &row->verdict);
	c8_cell(row->push, sizeof(row->push), &f, C8_PUSH);
	n = (size_t)c8_cell(row->poll, sizeof(row->poll), &f, C8_POLL_STATIC);
	if (n < sizeof(row->poll))
		n += (size_t)snprintf(row->poll + n, sizeof(row->poll) - n,
				      "; ");
	if (n < sizeof(row->poll))
		c8_cell(row->poll + n, sizeof(row->poll) - n, &f, C8_POLL);
	n = 0;
	for (int k = C8_LIBUV; k <= C8_EPOLL && n < sizeof(row->baselines);
	     k++) {
		if (n > 0)
			n += (size_t)snprintf(row->baselines + n,
					      sizeof(row->baselines) - n, "; ");
		if (n < sizeof(row->baselines))
			n += (size_t)c8_cell(row->baselines + n,
					     sizeof(row->baselines) - n, &f, k);
	}

	claims_json_begin(cx->json, "figures");
	for (int k = 0; k < C8_NSERVERS; k++) {
		claims_json_begin(cx->json, c8_server_name[k]);
		claims_json_num(cx->json, "connections", f.conns_tried[k]);
		claims_json_num(cx->json, "served", f.conns_served[k]);
		claims_json_num(cx->json, "allocations_refused",
				(double)f.allocs_refused[k]);
		claims_json_bool(cx->json, "hung", f.exit_signal[k] == SIGALRM);
		claims_json_num(cx->json, "died_of_signal",
				f.exit_signal[k] == SIGALRM ? 0 : f.exit_signal[k]);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
