/* test_workloads.c: the two workloads (echo_serve, fanout_run of
 * shared/workload.h) of both engines, push and poll, over real loopback
 * sockets and over the simulated backend with seeded fault schedules.
 *
 * The engines promise the same behaviour, so every test of it is one test
 * run over a table: each engine under each of its settings (the variants
 * below), or each engine once at its defaults.  Where the models differ,
 * in what they allocate and where their state lives, the figures are
 * tests of one engine each (the push_figures and poll_figures cases), as
 * are poll's static task slots (claim C8).
 *
 * Every test checks that the engine freed everything it allocated: mem's
 * live blocks are back where they were before the test built its world.
 * The figures (allocations per echo round trip and per connection, bytes
 * per idle connection, the layout of a poll connection task, allocations
 * per fanout chunk) are printed by the tests named *_figure_*, which also
 * assert what can be asserted (counts, never times).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "engines.h"
#include "mem.h"
#include "netclient.h"
#include "offload.h"
#include "poll.h"
#include "poll_impl.h"
#include "reactor.h"
#include "sim.h"
#include "workload.h"
#include "workload_testutil.h"

/* Each engine under each of its settings.  push: a request per operation or
 * free lists, with and without the synchronous fast path.  poll: budget on
 * and off, tasks on the heap and in static slots. */
static const struct variant {
	const char *engine;
	struct engine_settings settings;
} variants[] = {
	{ "push", { .pooled = false, .fast_path = false } },
	{ "push", { .pooled = true, .fast_path = false } },
	{ "push", { .pooled = false, .fast_path = true } },
	{ "push", { .pooled = true, .fast_path = true } },
	{ "poll", { .budget = POLL_BUDGET_DEFAULT, .budget_set = true } },
	{ "poll", { .budget = 0, .budget_set = true } },
	{ "poll", { .budget = POLL_BUDGET_DEFAULT, .budget_set = true,
		    .static_tasks = 1024 } },
	{ "poll", { .budget = 0, .budget_set = true, .static_tasks = 1024 } },
};
#define NVARIANTS ((int)(sizeof(variants) / sizeof(variants[0])))
#define PER_ENGINE 4            /* variants per engine, the default first */
#define NENGINES (NVARIANTS / PER_ENGINE)

/* The buffer mode of the echo test running (see use_echo_variant()). */
static enum echo_buffers test_buffers;

/* Apply variant i's settings; its engine. */
static const struct engine *use_variant(int i)
{
	const struct engine *e = engine_find(variants[i].engine);

	ck_assert_ptr_nonnull(e);
	engines_configure(&variants[i].settings);
	test_buffers = ECHO_BUFFERS_CONN;
	return e;
}

/* Engine i (0 push, 1 poll) at its default settings. */
static const struct engine *use_engine(int i)
{
	return use_variant(i * PER_ENGINE);
}

/* The echo tests run in both buffer modes (struct echo_opts.buffers): loop
 * index i is variant (or engine) i % N with buffers per connection, then
 * on readiness, for i / N = 0, 1; echo_opts_test() gives the options of
 * that mode.  Every other test runs with buffers per connection. */
static const struct engine *use_echo_variant(int i)
{
	const struct engine *e = use_variant(i % NVARIANTS);

	test_buffers = i / NVARIANTS ? ECHO_BUFFERS_READY : ECHO_BUFFERS_CONN;
	return e;
}

static const struct engine *use_echo_engine(int i)
{
	const struct engine *e = use_engine(i % NENGINES);

	test_buffers = i / NENGINES ? ECHO_BUFFERS_READY : ECHO_BUFFERS_CONN;
	return e;
}

static void echo_opts_test(struct echo_opts *o)
{
	echo_opts_default(o);
	o->buffers = test_buffers;
}

/* poll with n static task slots (claim C8), budget at its default. */
static void use_slots(unsigned n)
{
	struct engine_settings s = variants[PER_ENGINE].settings;

	s.static_tasks = n;
	engines_configure(&s);
}

/* ---- echo over loopback --------------------------------------------------- */

static void echo_thread_start(struct server_thread *st,
			      const struct engine *e,
			      const struct echo_opts *opts)
{
	ck_assert_int_eq(server_thread_start(st, e->echo, opts), 0);
	ck_assert_uint_gt(st->port, 0);
}

START_TEST(test_echo_round_trips_16_mib_exactly)
{
	const size_t len = 16u << 20;
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();

	const struct engine *e = use_echo_variant(_i);
	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	if (access("/usr/bin/socat", X_OK) == 0) {
		char in[] = "/tmp/test_workloads_echo_in_XXXXXX";
		char out[] = "/tmp/test_workloads_echo_out_XXXXXX";
		char cmd[256];
		int fd;

		fd = mkstemp(in);
		close(fd);
		fd = mkstemp(out);
		close(fd);
		make_pattern_file(in, len, 7);
		snprintf(cmd, sizeof(cmd),
			 "/usr/bin/socat -t 30 -T 30 - TCP:127.0.0.1:%u < %s > %s",
			 (unsigned)st.port, in, out);
		ck_assert_int_eq(system(cmd), 0);
		ck_assert(files_equal(in, out));
		unlink(in);
		unlink(out);
	} else {
		struct netclient_result res;
		ck_assert_int_eq(netclient_echo(st.port, 1, len, 65536, 30000, &res), 0);
		ck_assert_uint_eq(res.bytes_received, len);
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.bytes, len);
	ck_assert_uint_eq(st.stats.accepted, 1);
	ck_assert_uint_eq(st.stats.closed, 1);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_serves_1000_concurrent_connections)
{
	struct rlimit rl;
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_result res;
	int64_t live = live_blocks();

	/* Two descriptors per connection in this one process, and some. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2200) {
		rl.rlim_cur = rl.rlim_max < 2200 ? rl.rlim_max : 2200;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	ck_assert_uint_ge(rl.rlim_cur, 2100);
	const struct engine *e = use_echo_variant(_i);
	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	ck_assert_int_eq(netclient_echo(st.port, 1000, 4096, 1024, 30000, &res), 0);
	ck_assert_uint_eq(res.conns_ok, 1000);
	ck_assert_uint_eq(res.mismatches, 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.accepted, 1000);
	ck_assert_uint_eq(st.stats.closed, 1000);
	ck_assert_uint_eq(st.stats.bytes, 1000 * 4096);
	ck_assert_uint_le(st.stats.peak_conns, 1000);
	ck_assert_uint_gt(st.stats.peak_conns, 0);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* The most connections the kernel queues on the TCP listener of port
 * (its listen(2) backlog, as `ss -lt` shows it), read through sock_diag;
 * -1 if it cannot be read. */
static long listen_backlog(uint16_t port)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = { 0 };
	static char buf[32768];
	long backlog = -1;
	bool done = false;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
			NETLINK_SOCK_DIAG);

	if (fd < 0)
		return -1;
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = AF_INET;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = 1u << 10;          /* TCP_LISTEN */
	if (send(fd, &req, sizeof(req), 0) < 0) {
		close(fd);
		return -1;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf;
		     NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE ||
			    h->nlmsg_type == NLMSG_ERROR) {
				done = true;
				break;
			}
			struct inet_diag_msg *m = NLMSG_DATA(h);
			if (ntohs(m->id.idiag_sport) == port)
				backlog = (long)m->idiag_wqueue;
		}
	}
	close(fd);
	return backlog;
}

static long somaxconn(void)
{
	long n = SOMAXCONN;
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");

	if (f != NULL) {
		long sys;
		if (fscanf(f, "%ld", &sys) == 1 && sys < n)
			n = sys;
		fclose(f);
	}
	return n;
}

/* A storm of connects (bench scale opens thousands at once) is queued by
 * the kernel up to the listener's backlog; past it, connects are dropped and
 * retried a second later.  Every engine listens with the most the system
 * allows, so that none is slowed by a shorter queue than the others. */
static const char *const every_engine[] = {
	"push", "poll", "epoll", "libuv", "libevent",
};

START_TEST(test_echo_listens_with_the_largest_backlog_the_system_allows)
{
	const struct engine *e = engine_find(every_engine[_i]);
	struct server_thread st;
	struct echo_opts opts;
	long got;

	ck_assert_ptr_nonnull(e);
	if (e->echo == NULL)
		return;                     /* a baseline not built */
	if (e == engine_find("push") || e == engine_find("poll"))
		use_engine(e == engine_find("push") ? 0 : 1);
	echo_opts_default(&opts);
	echo_thread_start(&st, e, &opts);
	got = listen_backlog(st.port);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	if (got < 0)
		return;                     /* no sock_diag here: nothing to read */
	ck_assert_msg(got == somaxconn(), "%s listens with a backlog of %ld, "
		      "the system allows %ld", e->name, got, somaxconn());
}
END_TEST

START_TEST(test_echo_closes_idle_connections)
{
	const struct engine *e = use_echo_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();
	int fd;

	echo_opts_test(&opts);
	opts.idle_timeout_ns = 50 * 1000000ull;
	echo_thread_start(&st, e, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ping(fd, "still here");
	ck_assert(wait_for_close(fd));  /* then nothing: the server closes */
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.timed_out, 1);
	ck_assert_uint_eq(st.stats.bytes, 10);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* An idle timeout too long to fit in the clock (2^64 - 1 ns) never comes:
 * the connection is served and stays open until the shutdown. */
START_TEST(test_echo_idle_timeout_too_long_to_fit_never_closes)
{
	const struct engine *e = use_echo_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();
	int fd;

	echo_opts_test(&opts);
	opts.idle_timeout_ns = UINT64_MAX;
	echo_thread_start(&st, e, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ping(fd, "first");
	ck_assert(stays_quiet(fd, 100));
	ping(fd, "second");
	ck_assert(stays_quiet(fd, 100));
	ck_assert_int_eq(server_thread_stop(&st), 0);
	close(fd);
	ck_assert_uint_eq(st.stats.timed_out, 0);
	ck_assert_uint_eq(st.stats.cancelled, 1);
	ck_assert_uint_eq(st.stats.bytes, 11);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_refuses_connections_past_max_conns)
{
	const struct engine *e = use_echo_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();
	int a, b, c;

	echo_opts_test(&opts);
	opts.max_conns = 2;
	echo_thread_start(&st, e, &opts);
	a = netclient_connect(st.port);
	b = netclient_connect(st.port);
	ping(a, "a");
	ping(b, "b");
	c = netclient_connect(st.port);
	ck_assert_int_ge(c, 0);
	ck_assert(wait_for_close(c));   /* accepted and closed at once */
	close(c);
	ping(a, "a still served");
	close(a);
	close(b);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.refused, 1);
	ck_assert_uint_eq(st.stats.accepted, 2);
	ck_assert_uint_eq(st.stats.peak_conns, 2);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A reset ends that connection as failed; the next ones are served.  The
 * reset reaches the server before the next connection does (loopback
 * delivers the RST inside close(), and epoll reports edges in order). */
START_TEST(test_echo_peer_reset_fails_only_that_connection)
{
	const struct engine *e = use_echo_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_result res;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int64_t live = live_blocks();
	int fd;

	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	fd = netclient_connect(st.port);
	ping(fd, "about to reset");
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(fd);
	ck_assert_int_eq(netclient_echo(st.port, 4, 100000, 4096, 10000, &res), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.failed, 1);
	ck_assert_uint_eq(st.stats.closed, 4);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_shutdown_cancels_live_connections)
{
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();
	int fd[3];

	const struct engine *e = use_echo_variant(_i);
	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	for (int i = 0; i < 3; i++) {
		fd[i] = netclient_connect(st.port);
		ping(fd[i], "live");
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	for (int i = 0; i < 3; i++) {
		ck_assert(wait_for_close(fd[i]));
		close(fd[i]);
	}
	ck_assert_uint_eq(st.stats.cancelled, 3);
	ck_assert_uint_eq(st.stats.accepted, 3);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Out of descriptors: fill the table, then let one client connect while the
 * server has no descriptor left for it.  The server counts an accept error,
 * sheds that connection (the client sees it closed), and goes on serving
 * once descriptors are free again. */
START_TEST(test_echo_out_of_descriptors_on_accept_keeps_serving)
{
	const struct engine *e = use_echo_engine(_i);
	struct rlimit rl;
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_result res;
	int64_t live = live_blocks();
	int fill[256], nfill = 0, shed;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = 256;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	while (nfill < 256 &&
	       (fill[nfill] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		nfill++;
	ck_assert_int_lt(nfill, 256);   /* the table is full */
	close(fill[--nfill]);           /* one for the client's socket */
	shed = netclient_connect(st.port);
	ck_assert_int_ge(shed, 0);
	ck_assert(wait_for_close(shed));
	close(shed);
	while (nfill > 0)
		close(fill[--nfill]);
	ck_assert_int_eq(netclient_echo(st.port, 2, 1000, 1000, 10000, &res), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_ge(st.stats.accept_errors, 1);
	ck_assert_uint_eq(st.stats.closed, 2);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Claim C8: with static task slots, nothing is allocated after start-up,
 * so the server goes on serving while every allocation fails. */
START_TEST(test_echo_static_slots_serve_while_every_allocation_fails)
{
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_result res;
	struct mem_stats before, after;
	int64_t live = live_blocks();

	use_slots(8);
	echo_opts_test(&opts);
	echo_thread_start(&st, engine_find("poll"), &opts);
	mem_stats_get(&before);
	mem_fail_all(true);
	ck_assert_int_eq(netclient_echo(st.port, 8, 256 * 1024, 4096, 20000, &res), 0);
	ck_assert_uint_eq(res.conns_ok, 8);
	ck_assert_int_eq(netclient_echo(st.port, 8, 1000, 100, 20000, &res), 0);
	ck_assert_int_eq(server_thread_stop(&st), 0);   /* frees, allocates nothing */
	mem_stats_get(&after);
	mem_fail_all(false);
	ck_assert_uint_eq(after.allocs, before.allocs);
	ck_assert_uint_eq(after.failed, before.failed); /* none was even tried */
	ck_assert_uint_eq(st.stats.accepted, 16);
	ck_assert_uint_eq(st.stats.closed, 16);
	ck_assert_uint_eq(st.stats.bytes, 8 * 256 * 1024 + 8 * 1000);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* Past the last slot a connection is refused (accepted and closed). */
START_TEST(test_echo_static_slots_refuse_connections_past_the_last_slot)
{
	struct server_thread st;
	struct echo_opts opts;
	int64_t live = live_blocks();
	int a, b, c;

	use_slots(2);
	echo_opts_test(&opts);
	echo_thread_start(&st, engine_find("poll"), &opts);
	a = netclient_connect(st.port);
	b = netclient_connect(st.port);
	ping(a, "a");
	ping(b, "b");
	c = netclient_connect(st.port);
	ck_assert(wait_for_close(c));
	close(c);
	close(a);                       /* its slot comes back... */
	for (int i = 0; i < 100; i++) { /* ...once the server saw the close */
		c = netclient_connect(st.port);
		if (write(c, "c", 1) == 1) {
			struct pollfd p = { .fd = c, .events = POLLIN };
			char x;
			if (poll(&p, 1, 1000) == 1 && read(c, &x, 1) == 1)
				break;
		}
		close(c);
		c = -1;
		usleep(10000);
	}
	ck_assert_int_ge(c, 0);
	close(c);
	close(b);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_ge(st.stats.refused, 1);
	ck_assert_uint_le(st.stats.peak_conns, 2);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- echo over the simulation ------------------------------------------------ */

static int sim_echo(const struct engine *e, struct sim_world *w,
		    struct echo_stats *st, uint64_t idle_ns)
{
	struct echo_opts opts;

	echo_opts_test(&opts);
	opts.bufsize = 4096;
	opts.idle_timeout_ns = idle_ns;
	opts.on_listening = sim_connect_peers;
	opts.arg = w;
	return e->echo(w->r, NULL, &opts, st);
}

START_TEST(test_echo_over_sim_returns_every_peer_what_it_sent)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	const struct engine *e = use_echo_variant(_i);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		sim_config_default(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 50000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
		ck_assert_uint_eq(check_sim_peers(&w), SIM_PEERS);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		ck_assert_uint_eq(st.closed, SIM_PEERS);
		check_echo_accounts(&st);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_echo_over_sim_with_faults_returns_each_peer_a_prefix)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();
	unsigned whole = 0;

	const struct engine *e = use_echo_variant(_i);
	for (uint64_t seed = 1; seed <= 12; seed++) {
		sim_config_faulty(&c, seed);
		sim_world_init(&w, &c, SIM_PEERS, 20000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
		whole += check_sim_peers(&w);
		ck_assert_uint_eq(st.accepted, SIM_PEERS);
		check_echo_accounts(&st);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(whole, 0);    /* faults did not stop everything */
}
END_TEST

START_TEST(test_echo_over_sim_same_seed_same_trace)
{
	const struct engine *e = use_echo_engine(_i);
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	uint64_t hash[2];

	for (int run = 0; run < 2; run++) {
		sim_config_faulty(&c, 42);
		sim_world_init(&w, &c, 4, 10000, SIM_PEER_HALF_CLOSE);
		ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
		hash[run] = sim_trace_hash(w.r);
		sim_world_free(&w);
	}
	ck_assert_uint_eq(hash[0], hash[1]);
}
END_TEST

START_TEST(test_echo_over_sim_peer_reset_fails_only_that_connection)
{
	const struct engine *e = use_echo_engine(_i);
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	sim_config_default(&c, 3);
	sim_world_init(&w, &c, 4, 30000, SIM_PEER_HALF_CLOSE);
	w.flags[2] = SIM_PEER_RESET_AT_END;
	ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
	ck_assert_uint_eq(check_sim_peers(&w), 3);
	ck_assert_int_eq(sim_peer_error(w.peer[2]), -ECONNRESET);
	ck_assert_uint_eq(st.failed, 1);
	ck_assert_uint_eq(st.closed, 3);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_over_sim_idle_peer_times_out)
{
	const struct engine *e = use_echo_engine(_i);
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	sim_config_default(&c, 5);
	sim_world_init(&w, &c, 2, 1000, SIM_PEER_HALF_CLOSE);
	w.flags[1] = 0;         /* sends, then neither closes nor sends more */
	ck_assert_int_eq(sim_echo(e, &w, &st, 100 * 1000000ull), 0);
	ck_assert_uint_eq(st.timed_out, 1);
	ck_assert_uint_eq(st.closed, 1);
	ck_assert_uint_eq(check_sim_peers(&w), 2);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_over_sim_stop_cancels_live_connections)
{
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	const struct engine *e = use_echo_variant(_i);
	sim_config_default(&c, 9);
	sim_world_init(&w, &c, SIM_PEERS, 200000, 0);   /* never close */
	sim_at_step(w.r, 400, request_stop, w.r);
	ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
	ck_assert_uint_eq(st.accepted, SIM_PEERS);
	ck_assert_uint_eq(st.cancelled, SIM_PEERS);
	ck_assert_uint_gt(st.bytes, 0);
	check_sim_peers(&w);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_echo_over_sim_out_of_handles_counts_accept_errors)
{
	const struct engine *e = use_echo_engine(_i);
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	sim_config_default(&c, 11);
	c.max_handles = 3;      /* the listener and two connections */
	sim_world_init(&w, &c, 6, 5000, SIM_PEER_HALF_CLOSE);
	ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
	ck_assert_uint_gt(st.accept_errors, 0);
	ck_assert_uint_le(st.peak_conns, 2);
	ck_assert_uint_eq(st.accepted + st.accept_errors, 6);
	ck_assert_uint_ge(check_sim_peers(&w), st.closed);
	check_echo_accounts(&st);
	sim_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* The first connection's first allocation (its buffer) fails; then, in a
 * second run, its task's: each time that connection alone fails. */
START_TEST(test_echo_over_sim_out_of_memory_fails_one_connection)
{
	const struct engine *e = use_echo_engine(_i);
	struct sim_config c;
	struct sim_world w;
	struct echo_stats st;
	int64_t live = live_blocks();

	for (uint64_t nth = 1; nth <= 2; nth++) {
		sim_config_default(&c, 13);
		sim_world_init(&w, &c, 4, 5000, SIM_PEER_HALF_CLOSE);
		w.fail_nth = nth;
		ck_assert_int_eq(sim_echo(e, &w, &st, 0), 0);
		mem_fail_nth(0);
		ck_assert_uint_eq(st.failed, 1);
		ck_assert_uint_eq(st.closed, 3);
		ck_assert_uint_ge(check_sim_peers(&w), 3);
		check_echo_accounts(&st);
		sim_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* ---- fanout ---------------------------------------------------------------------- */

/* A world on epoll, with the input in a fresh temporary directory. */
static void fanout_world_epoll(struct fanout_world *w, size_t len,
			       unsigned sinks)
{
	fanout_world_epoll_at(w, "/tmp/test_workloads_fanout_XXXXXX", len, sinks);
}

START_TEST(test_fanout_to_file_sinks_copies_the_input)
{
	struct fanout_world w;
	int64_t live = live_blocks();

	const struct engine *e = use_variant(_i);
	fanout_world_epoll(&w, (1u << 20) + 12345, 3);
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	ck_assert_uint_eq(w.st.bytes_read, w.len);
	ck_assert_uint_eq(w.st.chunks_read, (w.len + w.opts.chunk_size - 1) / w.opts.chunk_size);
	ck_assert_uint_eq(w.st.sinks, 3);
	ck_assert_uint_le(w.st.peak_chunks, w.opts.window);
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(w.sink[i].error, 0);
		check_file_sink(&w, i);
	}
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A file 100 times larger than the window: the fanout never holds more
 * than `window` chunks, and its memory stays near window * chunk_size. */
START_TEST(test_fanout_keeps_at_most_window_chunks_of_a_large_file)
{
	const struct engine *e = use_engine(_i);
	struct fanout_world w;
	struct mem_stats m0, m1;
	int64_t live = live_blocks();

	fanout_world_epoll(&w, 100 * 2 * 4096, 4);
	w.opts.window = 2;
	w.opts.chunk_size = 4096;
	mem_reset_peak();
	mem_stats_get(&m0);
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	mem_stats_get(&m1);
	ck_assert_uint_eq(w.st.chunks_read, 200);
	ck_assert_uint_le(w.st.peak_chunks, 2);
	ck_assert_uint_ge(w.st.peak_chunks, 1);
	ck_assert_int_le(m1.peak_live_bytes - m0.live_bytes,
			 2 * (4096 + 64) + 16 * 1024);
	for (unsigned i = 0; i < 4; i++)
		check_file_sink(&w, i);
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_fanout_of_an_empty_file_creates_empty_outputs)
{
	const struct engine *e = use_engine(_i);
	struct fanout_world w;
	int64_t live = live_blocks();

	fanout_world_epoll(&w, 0, 2);
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	ck_assert_uint_eq(w.st.chunks_read, 0);
	for (unsigned i = 0; i < 2; i++)
		check_file_sink(&w, i);
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_fanout_of_a_missing_input_fails_to_start)
{
	const struct engine *e = use_engine(_i);
	struct fanout_world w;
	int64_t live = live_blocks();

	fanout_world_epoll(&w, 10, 1);
	w.opts.input = "/nonexistent/input";
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), -ENOENT);
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A stop requested before the fanout starts: its first read is already
 * with a worker thread when the loop sees the stop.  Every sink ends
 * cancelled, and the run returns only once the pool gave the job back. */
START_TEST(test_fanout_stop_cancels_a_read_in_flight_on_a_worker)
{
	const struct engine *e = use_engine(_i);
	struct fanout_world w;
	struct offload_stats os;
	int64_t live = live_blocks();

	fanout_world_epoll(&w, 1u << 20, 2);
	reactor_request_stop(w.r);
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	offload_stats_get(w.o, &os);
	ck_assert_uint_eq(os.submitted, 1);
	ck_assert_uint_eq(os.completed, 0);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(w.sink[i].error, -ECANCELED);
		ck_assert_uint_eq(w.sink[i].bytes, 0);
	}
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

START_TEST(test_fanout_streams_to_tcp_subscribers_over_loopback)
{
	struct fanout_world w;
	uint64_t sum;
	int64_t live = live_blocks();

	const struct engine *e = use_variant(_i);
	fanout_world_epoll(&w, (3u << 20) + 7, 4);
	w.opts.kind = FANOUT_SINK_TCP;
	w.opts.on_listening = start_subscribers;
	w.opts.arg = &w;
	memset(subs, 0, sizeof(subs));
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	sum = workload_checksum(w.input, w.len, w.opts.chunk_size);
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(subs[i].tid, NULL);
		ck_assert_int_eq(w.sink[i].error, 0);
		ck_assert_uint_eq(w.sink[i].bytes, w.len);
		ck_assert_uint_eq(w.sink[i].checksum, sum);
		ck_assert_uint_eq(subs[i].bytes, w.len);
		ck_assert_uint_eq(subs[i].checksum, sum);
	}
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- fanout over the simulation ----------------------------------------------------- */

/* ---- fanout over the simulation ----------------------------------------------------- */

START_TEST(test_fanout_over_sim_delivers_every_byte_to_every_file_sink)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();

	const struct engine *e = use_variant(_i);
	for (uint64_t seed = 1; seed <= 6; seed++) {
		sim_config_faulty(&c, seed);
		fanout_world_sim(&w, &c, 300000 + seed * 777, 5);
		w.opts.chunk_size = 16384;
		w.opts.window = 3;
		ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
		ck_assert_uint_le(w.st.peak_chunks, 3);
		for (unsigned i = 0; i < 5; i++) {
			ck_assert_int_eq(w.sink[i].error, 0);
			check_file_sink(&w, i);
		}
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

START_TEST(test_fanout_over_sim_streams_to_tcp_subscribers_with_faults)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();
	unsigned complete = 0;

	const struct engine *e = use_variant(_i);
	for (uint64_t seed = 1; seed <= 6; seed++) {
		sim_config_faulty(&c, seed);
		fanout_world_sim(&w, &c, 200000, 4);
		w.opts.kind = FANOUT_SINK_TCP;
		w.opts.chunk_size = 8192;
		w.opts.on_listening = connect_sim_subscribers;
		w.opts.arg = &w;
		ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
		sim_run_out(w.r);
		complete += check_tcp_sinks(&w);
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(complete, 0);
}
END_TEST

/* One subscriber never reads: its writes back up, it misses the sink
 * timeout and is cancelled, and the three others get everything. */
START_TEST(test_fanout_slow_sink_is_cancelled_while_the_others_complete)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();

	const struct engine *e = use_variant(_i);
	sim_config_default(&c, 21);
	fanout_world_sim(&w, &c, 1u << 20, 4);
	w.opts.kind = FANOUT_SINK_TCP;
	w.opts.chunk_size = 16384;
	w.opts.sink_timeout_ns = 10 * 1000000ull;
	w.opts.on_listening = connect_sim_subscribers;
	w.opts.arg = &w;
	w.peer_flags[2] = SIM_PEER_NO_READ;
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	sim_run_out(w.r);
	ck_assert_uint_eq(check_tcp_sinks(&w), 3);
	for (unsigned i = 0; i < 4; i++) {
		if (w.sink[i].error != 0) {
			ck_assert_int_eq(w.sink[i].error, -ETIMEDOUT);
			ck_assert_uint_lt(w.sink[i].bytes, w.len);
		}
	}
	ck_assert_uint_le(w.st.peak_chunks, w.opts.window);
	fanout_world_free(&w);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A subscriber that stops reading stalls its sink: the sink is cancelled
 * at the end of the timeout of the chunk it could not take, not given a
 * fresh timeout for another one.  Under the default world everything but
 * the timers happens within a microsecond or so of virtual time, so the
 * fanout ends one timeout after it started, well before two. */
START_TEST(test_fanout_over_sim_stalled_sink_is_cancelled_within_its_timeout)
{
	const uint64_t timeout = 10 * 1000000ull;
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();

	const struct engine *e = use_variant(_i);
	for (uint64_t seed = 1; seed <= 4; seed++) {
		sim_config_default(&c, seed);
		fanout_world_sim(&w, &c, 1u << 20, 3);
		w.opts.kind = FANOUT_SINK_TCP;
		w.opts.chunk_size = 16384;
		w.opts.sink_timeout_ns = timeout;
		w.opts.on_listening = connect_sim_subscribers;
		w.opts.arg = &w;
		w.peer_flags[1] = SIM_PEER_NO_READ;
		ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
		ck_assert_uint_ge(reactor_now(w.r), timeout);
		ck_assert_uint_lt(reactor_now(w.r), 2 * timeout);
		sim_run_out(w.r);
		ck_assert_uint_eq(check_tcp_sinks(&w), 2);
		for (unsigned i = 0; i < 3; i++)
			ck_assert(w.sink[i].error == 0 ||
				  w.sink[i].error == -ETIMEDOUT);
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
}
END_TEST

/* Stop the fanout just before step k, for k spread over a whole run: with
 * reads and writes queued, running and finished in the pool.  Each time it
 * returns 0, frees everything, has the pool give back every job, and each
 * sink is either complete and exact or cancelled with a correct prefix. */
START_TEST(test_fanout_over_sim_stop_at_any_step_cancels_cleanly)
{
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();
	uint64_t steps, k, running = 0;
	unsigned cancelled = 0, complete = 0;
	struct offload_stats os;

	const struct engine *e = use_variant(_i);
	sim_config_default(&c, 5);
	fanout_world_sim(&w, &c, 100000, 3);
	w.opts.chunk_size = 8192;
	w.opts.window = 2;
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	steps = sim_steps(w.r);
	fanout_world_free(&w);
	ck_assert_uint_gt(steps, 20);

	for (k = 1; k <= steps; k += 1 + steps / 60) {
		fanout_world_sim(&w, &c, 100000, 3);
		w.opts.chunk_size = 8192;
		w.opts.window = 2;
		sim_at_step(w.r, k, request_stop, w.r);
		ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
		for (unsigned i = 0; i < 3; i++) {
			ck_assert(w.sink[i].error == 0 ||
				  w.sink[i].error == -ECANCELED);
			cancelled += w.sink[i].error == -ECANCELED;
			complete += w.sink[i].error == 0;
			check_file_sink(&w, i);
		}
		offload_stats_get(w.o, &os);
		running += os.cancelled_running;
		fanout_world_free(&w);
		ck_assert_int_eq(live_blocks(), live);
	}
	ck_assert_uint_gt(cancelled, 0);
	/* Some stops found a job running: its buffer outlived the drop. */
	ck_assert_uint_gt(running, 0);
}
END_TEST

/* Events in batches (an offload job's completion and the next one in the
 * same poll), and every allocation of the run made to fail in turn: the
 * run ends with every sink either complete or failed, each let go of its
 * chunks once (a sink finished twice would free a chunk another sink is
 * still writing), and everything is freed. */
START_TEST(test_fanout_over_sim_in_batches_survives_every_allocation_failure)
{
	const struct engine *e = use_variant(_i);
	struct sim_config c;
	struct fanout_world w;
	int64_t live = live_blocks();
	unsigned failed = 0;

	for (uint64_t seed = 2; seed <= 4; seed += 2) {
		for (uint64_t nth = 1; nth <= 120; nth++) {
			int rc;

			sim_config_default(&c, seed);
			c.short_io = 200;
			c.eagain = 100;
			c.delay = 100;
			c.batch = 500;
			fanout_world_sim(&w, &c, 16000 + (seed % 7) * 123, 2);
			w.opts.chunk_size = 2048;
			w.opts.window = 3;
			w.opts.sink_timeout_ns = 1000000000ull;
			mem_fail_nth(nth);
			rc = e->fanout(w.r, w.o, &w.opts, &w.st);
			mem_fail_nth(0);
			sim_run_out(w.r);
			ck_assert(rc == 0 || rc == -ENOMEM);
			for (unsigned i = 0; rc == 0 && i < 2; i++) {
				ck_assert(w.sink[i].error == 0 ||
					  w.sink[i].error == -ENOMEM);
				failed += w.sink[i].error != 0;
				check_file_sink(&w, i);
			}
			fanout_world_free(&w);
			ck_assert_int_eq(live_blocks(), live);
		}
	}
	ck_assert_uint_gt(failed, 0);
}
END_TEST

/* ---- figures of both engines ---------------------------------------------------- */

/* Bytes of engine state per idle connection, engine _i: push, the
 * connection block (with its read buffer) and the pending read's request;
 * poll, the task block (header and the whole future tree) and the read
 * buffer.  Two blocks either way, nothing else allocated while it waits.
 * The server thread re-arms a connection's read just after its echo
 * reached the client, so the count is taken once it has settled (bounded
 * wait). */
START_TEST(test_echo_figure_bytes_per_idle_connection)
{
	const struct engine *e = use_engine(_i);
	const int n = 100;
	struct server_thread st;
	struct echo_opts opts;
	struct mem_stats m0, m1;
	int fd[100];
	int64_t per;

	echo_opts_default(&opts);
	echo_thread_start(&st, e, &opts);
	mem_stats_get(&m0);     /* the loop and its pending accept */
	for (int i = 0; i < n; i++) {
		fd[i] = netclient_connect(st.port);
		ping(fd[i], "w");
	}
	for (int i = 0; i < 1000; i++) {
		mem_stats_get(&m1);
		if (m1.live_blocks - m0.live_blocks == 2 * n)
			break;
		usleep(1000);
	}
	per = (m1.live_bytes - m0.live_bytes) / n;
	printf("%s echo figure: %" PRId64 " bytes per idle connection "
	       "(%zu of them the read buffer) in %" PRId64 " blocks\n",
	       e->name, per, opts.bufsize, (m1.live_blocks - m0.live_blocks) / n);
	ck_assert_int_eq(m1.live_blocks - m0.live_blocks, 2 * n);
	ck_assert_int_gt(per, (int64_t)opts.bufsize);
	for (int i = 0; i < n; i++)
		close(fd[i]);
	ck_assert_int_eq(server_thread_stop(&st), 0);
}
END_TEST

/* Buffers on readiness: an idle connection holds no buffer, only its
 * state: push, its connection block and its pending read's request (the
 * read asks for a buffer only when the connection is readable); poll, its
 * task (it awaits readiness, not a read).  Measured as the difference of
 * the live heap between 10 and 110 connections that have each echoed one
 * message.  Printed with the targets: at most 1 KiB for push, 512 bytes
 * for poll. */
START_TEST(test_echo_on_readiness_an_idle_connection_holds_no_buffer)
{
	static const double blocks[NENGINES] = { 2, 1 };
	static const double target[NENGINES] = { 1024, 512 };
	const struct engine *e = use_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_idle idle;
	int64_t live = live_blocks();

	echo_opts_default(&opts);
	opts.buffers = ECHO_BUFFERS_READY;
	echo_thread_start(&st, e, &opts);
	ck_assert_int_eq(netclient_idle_heap(st.port, 10, 110, &idle), 0);
	printf("%s echo figure, buffers on readiness: %.0f bytes per idle "
	       "connection in %.2f blocks (target %.0f: %s; read buffer %zu)\n",
	       e->name, idle.bytes, idle.blocks, target[_i],
	       idle.bytes <= target[_i] ? "met" : "missed", opts.bufsize);
	ck_assert(idle.blocks == blocks[_i]);
	ck_assert(idle.bytes < (double)opts.bufsize / 4);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* A peer that stops reading: the server's write back waits, and its reads
 * stop (one message at a time).  Every byte comes back once the peer reads
 * again.  With buffers on readiness what waits is only the unsent bytes,
 * in one block of their size (at most a buffer's worth): the read buffer
 * itself went back as soon as the write was tried. */
START_TEST(test_echo_slow_reader_keeps_only_unsent_bytes_and_loses_none)
{
	const struct engine *e = use_echo_engine(_i);
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_slow slow;
	int64_t live = live_blocks();

	echo_opts_test(&opts);
	echo_thread_start(&st, e, &opts);
	ck_assert_int_eq(netclient_slow_reader(st.port, &slow), 0);
	ck_assert_uint_gt(slow.sent, opts.bufsize);
	ck_assert_uint_eq(slow.received, slow.sent);
	if (opts.buffers == ECHO_BUFFERS_READY) {
		ck_assert_int_eq(slow.waiting_blocks, 1);
		ck_assert_int_gt(slow.waiting_bytes, 0);
		ck_assert_int_le(slow.waiting_bytes, (int64_t)opts.bufsize);
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.bytes, slow.sent + 1);
	ck_assert_uint_eq(st.stats.closed, 1);
	check_echo_accounts(&st.stats);
	ck_assert_int_eq(live_blocks(), live);
}
END_TEST

/* ---- push's figures ------------------------------------------------------------ */

/* Heap allocations per echo round trip in a steady state, under each
 * policy: one connection, 64-byte messages, strictly one at a time, so a
 * round trip is exactly one read and one write.  Idiomatic: a request per
 * operation, 2.  Pooled: 0.  Fast path: the write completes at once, and
 * the read allocates only when the next message has not arrived yet when
 * it is tried: at most 1, fewer when the client is quick.  Both: 0. */
START_TEST(test_push_echo_figure_allocations_per_round_trip)
{
	static const uint64_t most[4] = { 2, 0, 1, 0 };
	static const uint64_t least[4] = { 2, 0, 0, 0 };
	const struct engine *e = use_variant(_i);
	const struct engine_settings *set = &variants[_i].settings;
	const unsigned trips = 2000;
	struct server_thread st;
	struct echo_opts opts;
	char msg[65];
	uint64_t before, used;
	int fd;

	echo_opts_default(&opts);
	echo_thread_start(&st, e, &opts);
	fd = netclient_connect(st.port);
	memset(msg, 'm', 64);
	msg[64] = '\0';
	for (int i = 0; i < 10; i++)
		ping(fd, msg);          /* warm up: the pool fills */
	before = allocs();
	for (unsigned i = 0; i < trips; i++)
		ping(fd, msg);
	used = allocs() - before;
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	printf("push echo figure: policy pooled=%d fast_path=%d: "
	       "%.3f allocations per round trip (%" PRIu64 " in %u)\n",
	       set->pooled, set->fast_path, (double)used / trips, used, trips);
	/* The window's two ends may each catch or miss one re-armed read,
	 * and a read may rarely split a message: allow a few either way. */
	ck_assert_uint_ge(used + 2, least[_i] * trips);
	ck_assert_uint_le(used, most[_i] * trips + 2 + trips / 100);
}
END_TEST

/* Heap allocations per chunk, N = 4 file sinks, 100 chunks, over the
 * simulation (deterministic).  Idiomatic: a buffer and a read request, and
 * a write request per sink: N + 2; with a sink timeout each write also
 * costs the timeout's request and state: 3N + 2.  Pooled: the requests come
 * from the free list: 1 (the buffer), or N + 1 with a timeout (its state
 * is the composition's own block, not a request).  Past that, a fixed
 * count per run (the loop, the sink block, the pool's growth). */
START_TEST(test_push_fanout_figure_allocations_per_chunk)
{
	const unsigned n = 4, chunks = 100;
	const bool pooled = _i & 1, timeout = _i & 2;
	const uint64_t per_chunk = pooled ? (timeout ? n + 1 : 1)
					  : (timeout ? 3 * n + 2 : n + 2);
	const struct engine *e = use_variant(pooled ? 1 : 0);
	struct sim_config c;
	struct fanout_world w;
	uint64_t before, used;

	sim_config_default(&c, 1);
	fanout_world_sim(&w, &c, chunks * 4096, n);
	w.opts.chunk_size = 4096;
	if (timeout)
		w.opts.sink_timeout_ns = 1000000000ull;
	before = allocs();
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	used = allocs() - before;
	ck_assert_uint_eq(w.st.chunks_read, chunks);
	printf("push fanout figure: pooled=%d sink_timeout=%d sinks=%u: "
	       "%.2f allocations per chunk (%" PRIu64 " for %u chunks)\n",
	       pooled, timeout, n, (double)used / chunks, used, chunks);
	ck_assert_uint_ge(used, per_chunk * chunks);
	ck_assert_uint_le(used, per_chunk * chunks + 32);
	fanout_world_free(&w);
}
END_TEST

/* ---- poll's figures ------------------------------------------------------------ */

/* Heap allocations per echo round trip in a steady state: one connection,
 * 64-byte messages, strictly one at a time.  The connection's task and
 * buffer were allocated when it was accepted; a round trip re-initialises
 * futures inside that block and allocates nothing, with tasks on the heap
 * or in slots, budget on or off. */
START_TEST(test_poll_echo_figure_allocations_per_round_trip)
{
	const struct engine *e = use_variant(PER_ENGINE + _i);
	const struct engine_settings *set = &variants[PER_ENGINE + _i].settings;
	const unsigned trips = 2000;
	struct server_thread st;
	struct echo_opts opts;
	char msg[65];
	uint64_t before, used;
	int fd;

	echo_opts_default(&opts);
	opts.idle_timeout_ns = 10 * 1000000000ull;   /* its timer, too */
	echo_thread_start(&st, e, &opts);
	fd = netclient_connect(st.port);
	memset(msg, 'm', 64);
	msg[64] = '\0';
	ping(fd, msg);                  /* the connection exists */
	before = allocs();
	for (unsigned i = 0; i < trips; i++)
		ping(fd, msg);
	used = allocs() - before;
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	printf("poll echo figure: budget=%u static_tasks=%u: "
	       "%.3f allocations per round trip (%" PRIu64 " in %u)\n",
	       set->budget, set->static_tasks, (double)used / trips, used,
	       trips);
	ck_assert_uint_eq(used, 0);
}
END_TEST

/* Allocations per connection over its whole life: the task and its buffer
 * (heap), or nothing (slots). */
START_TEST(test_poll_echo_figure_allocations_per_connection)
{
	const struct engine *e = use_variant(PER_ENGINE + _i);
	const struct engine_settings *set = &variants[PER_ENGINE + _i].settings;
	const unsigned conns = 50;
	struct server_thread st;
	struct echo_opts opts;
	struct netclient_result res;
	uint64_t before, used;

	echo_opts_default(&opts);
	echo_thread_start(&st, e, &opts);
	before = allocs();
	ck_assert_int_eq(netclient_echo(st.port, conns, 200000, 1000, 20000, &res), 0);
	used = allocs() - before;
	ck_assert_int_eq(server_thread_stop(&st), 0);
	printf("poll echo figure: budget=%u static_tasks=%u: %u connections of "
	       "200 round trips each: %" PRIu64 " allocations, %.2f per "
	       "connection\n", set->budget, set->static_tasks, conns, used,
	       (double)used / conns);
	ck_assert_uint_eq(used, set->static_tasks > 0 ? 0 : 2 * conns);
	ck_assert_uint_eq(st.stats.closed, conns);
}
END_TEST

START_TEST(test_poll_echo_figure_connection_task_layout)
{
	poll__echo_print_layout(stdout);
}
END_TEST

/* Heap allocations per chunk, N = 4 file sinks, 100 chunks, over the
 * simulation (deterministic): the chunk's buffer, its read job, and a write
 * job per file sink: N + 2, with or without a sink timeout (the timeout is
 * a future held by value in the sink: it allocates nothing).  Past that, a
 * fixed count per run: the one block of sinks, ring and join array. */
START_TEST(test_poll_fanout_figure_allocations_per_chunk)
{
	const unsigned n = 4, chunks = 100;
	const bool timeout = _i & 1;
	const uint64_t per_chunk = n + 2;
	const struct engine *e = use_variant(PER_ENGINE + (_i & 2 ? 1 : 0));
	struct sim_config c;
	struct fanout_world w;
	uint64_t before, used;

	sim_config_default(&c, 1);
	fanout_world_sim(&w, &c, chunks * 4096, n);
	w.opts.chunk_size = 4096;
	if (timeout)
		w.opts.sink_timeout_ns = 1000000000ull;
	before = allocs();
	ck_assert_int_eq(e->fanout(w.r, w.o, &w.opts, &w.st), 0);
	used = allocs() - before;
	ck_assert_uint_eq(w.st.chunks_read, chunks);
	printf("poll fanout figure: budget=%u sink_timeout=%d sinks=%u: "
	       "%.2f allocations per chunk (%" PRIu64 " for %u chunks)\n",
	       variants[PER_ENGINE + (_i & 2 ? 1 : 0)].settings.budget,
	       timeout, n, (double)used / chunks, used, chunks);
	ck_assert_uint_eq(used, per_chunk * chunks + 1);
	fanout_world_free(&w);
}
END_TEST

/* ==== the fanout checksum (workload.h) ========================================= */

/* The definition, written out here with libxxhash itself: XXH3 of each
 * chunk, folded in order, each chunk sum as 8 little-endian bytes seeded
 * with the sum so far. */
START_TEST(test_checksum_folds_the_xxh3_of_each_chunk_in_order)
{
	unsigned char data[10000];
	const size_t chunk = 4096;
	uint64_t sum = WORKLOAD_CHECKSUM_INIT, swapped = WORKLOAD_CHECKSUM_INIT;
	uint64_t c[3];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + (i >> 8));
	for (int k = 0; k < 3; k++) {
		size_t off = (size_t)k * chunk;
		size_t n = sizeof(data) - off < chunk ? sizeof(data) - off
						      : chunk;
		c[k] = XXH3_64bits(data + off, n);
		ck_assert_uint_eq(workload_chunk_checksum(data + off, n), c[k]);
	}
	for (int k = 0; k < 3; k++) {
		size_t prefix = (size_t)(k + 1) * chunk;
		unsigned char le[8];
		for (int b = 0; b < 8; b++)
			le[b] = (unsigned char)(c[k] >> (8 * b));
		sum = XXH3_64bits_withSeed(le, 8, sum);
		if (prefix > sizeof(data))
			prefix = sizeof(data);
		/* The sum of the first k + 1 chunks is that prefix's. */
		ck_assert_uint_eq(workload_checksum(data, prefix, chunk), sum);
	}
	/* Nothing delivered: the initial value. */
	ck_assert_uint_eq(workload_checksum(data, 0, chunk),
			  WORKLOAD_CHECKSUM_INIT);
	/* Order matters: the same chunks the other way round differ. */
	for (int k = 2; k >= 0; k--)
		swapped = workload_checksum_add(swapped, c[k]);
	ck_assert_uint_ne(swapped, sum);
}
END_TEST

/* A receiver that gets the bytes in pieces of any size (a TCP subscriber)
 * computes the same checksum as the sender's chunks give. */
START_TEST(test_checksum_stream_matches_however_the_bytes_arrive)
{
	static unsigned char data[200000];
	const size_t pieces[] = { 1, 7, 4095, 4096, 4097, 65536, 100000 };
	const size_t chunk = 4096;
	uint64_t whole;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + 17);
	whole = workload_checksum(data, sizeof(data), chunk);
	for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
		struct workload_checksum_stream cs;
		ck_assert_int_eq(workload_checksum_stream_init(&cs, chunk), 0);
		for (size_t off = 0; off < sizeof(data); off += pieces[p]) {
			size_t n = sizeof(data) - off < pieces[p]
				   ? sizeof(data) - off : pieces[p];
			workload_checksum_stream_feed(&cs, data + off, n);
		}
		ck_assert_uint_eq(workload_checksum_stream_end(&cs), whole);
	}
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("workloads");
	TCase *tc;

	tc = tcase_create("echo_loopback");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_echo_round_trips_16_mib_exactly, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_serves_1000_concurrent_connections, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_closes_idle_connections, 0, 2 * NENGINES);
	tcase_add_loop_test(tc,
		test_echo_listens_with_the_largest_backlog_the_system_allows, 0,
		(int)(sizeof(every_engine) / sizeof(every_engine[0])));
	tcase_add_loop_test(tc, test_echo_idle_timeout_too_long_to_fit_never_closes, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_refuses_connections_past_max_conns, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_peer_reset_fails_only_that_connection, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_shutdown_cancels_live_connections, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_out_of_descriptors_on_accept_keeps_serving, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_on_readiness_an_idle_connection_holds_no_buffer, 0, NENGINES);
	tcase_add_loop_test(tc, test_echo_slow_reader_keeps_only_unsent_bytes_and_loses_none, 0, 2 * NENGINES);
	suite_add_tcase(s, tc);

	tc = tcase_create("poll_slots");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_echo_static_slots_serve_while_every_allocation_fails);
	tcase_add_test(tc, test_echo_static_slots_refuse_connections_past_the_last_slot);
	suite_add_tcase(s, tc);

	tc = tcase_create("echo_sim");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_echo_over_sim_returns_every_peer_what_it_sent, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_over_sim_with_faults_returns_each_peer_a_prefix, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_over_sim_same_seed_same_trace, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_over_sim_peer_reset_fails_only_that_connection, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_over_sim_idle_peer_times_out, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_over_sim_stop_cancels_live_connections, 0, 2 * NVARIANTS);
	tcase_add_loop_test(tc, test_echo_over_sim_out_of_handles_counts_accept_errors, 0, 2 * NENGINES);
	tcase_add_loop_test(tc, test_echo_over_sim_out_of_memory_fails_one_connection, 0, 2 * NENGINES);
	suite_add_tcase(s, tc);

	tc = tcase_create("checksum");
	tcase_add_test(tc, test_checksum_folds_the_xxh3_of_each_chunk_in_order);
	tcase_add_test(tc, test_checksum_stream_matches_however_the_bytes_arrive);
	suite_add_tcase(s, tc);

	tc = tcase_create("fanout");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_fanout_to_file_sinks_copies_the_input, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_keeps_at_most_window_chunks_of_a_large_file, 0, NENGINES);
	tcase_add_loop_test(tc, test_fanout_of_an_empty_file_creates_empty_outputs, 0, NENGINES);
	tcase_add_loop_test(tc, test_fanout_of_a_missing_input_fails_to_start, 0, NENGINES);
	tcase_add_loop_test(tc, test_fanout_stop_cancels_a_read_in_flight_on_a_worker, 0, NENGINES);
	tcase_add_loop_test(tc, test_fanout_streams_to_tcp_subscribers_over_loopback, 0, NVARIANTS);
	suite_add_tcase(s, tc);

	tc = tcase_create("fanout_sim");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_fanout_over_sim_delivers_every_byte_to_every_file_sink, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_over_sim_streams_to_tcp_subscribers_with_faults, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_slow_sink_is_cancelled_while_the_others_complete, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_over_sim_stalled_sink_is_cancelled_within_its_timeout, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_over_sim_stop_at_any_step_cancels_cleanly, 0, NVARIANTS);
	tcase_add_loop_test(tc, test_fanout_over_sim_in_batches_survives_every_allocation_failure, 0, NVARIANTS);
	suite_add_tcase(s, tc);

	tc = tcase_create("push_figures");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_push_echo_figure_allocations_per_round_trip, 0, PER_ENGINE);
	tcase_add_loop_test(tc, test_echo_figure_bytes_per_idle_connection, 0, 1);
	tcase_add_loop_test(tc, test_push_fanout_figure_allocations_per_chunk, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("poll_figures");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_poll_echo_figure_allocations_per_round_trip, 0, PER_ENGINE);
	tcase_add_loop_test(tc, test_poll_echo_figure_allocations_per_connection, 0, PER_ENGINE);
	tcase_add_loop_test(tc, test_echo_figure_bytes_per_idle_connection, 1, 2);
	tcase_add_test(tc, test_poll_echo_figure_connection_task_layout);
	tcase_add_loop_test(tc, test_poll_fanout_figure_allocations_per_chunk, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
