/* test_conformance.c: every engine behind `--engine` keeps the same
 * promises (shared/workload.h).
 *
 * One suite, run against each engine of the table (compare/engines.h:
 * push, poll, libuv, libevent, epoll): every test is a loop test whose
 * index picks the engine, so an engine that breaks a promise the others
 * keep fails by name.  The clients are the comparison's own load generator
 * (compare/bench/loadgen.h) and the plain client of tests/netclient.h, never
 * the engine under test; the servers run in a thread on a real epoll reactor.
 * Each test also checks that the engine gave back every heap block it took.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "engines.h"
#include "bench/loadgen.h"
#include "mem.h"
#include "netclient.h"
#include "verify.h"

#define MS CLOCK_NS_PER_MS
#define KiB 1024u
#define MiB (1024u * 1024u)

static int nengines(void)
{
	int n = 0;

	while (engines[n].name != NULL)
		n++;
	return n;
}

static int64_t live_blocks(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.live_blocks;
}

static const struct engine *engine_at(int i)
{
	ck_assert_ptr_nonnull(engines[i].echo);
	ck_assert_ptr_nonnull(engines[i].fanout);
	return &engines[i];
}

/* The echo tests run in both buffer modes: loop index i is engine
 * i % nengines(), with buffers per connection for the first round, then on
 * readiness. */
static const struct engine *echo_engine_at(int i)
{
	return engine_at(i % nengines());
}

static void echo_opts_mode(struct echo_opts *o, int i)
{
	echo_opts_default(o);
	o->buffers = i < nengines() ? ECHO_BUFFERS_CONN : ECHO_BUFFERS_READY;
}

static void start_echo(struct server_thread *st, const struct engine *e,
		       const struct echo_opts *opts)
{
	int rc = server_thread_start(st, e->echo, opts);

	ck_assert_msg(rc == 0, "%s: the echo server did not start: %s",
		      e->name, strerror(-rc));
}

static void loadgen_defaults(struct loadgen_opts *o, uint16_t port)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = port;
	o->conns = 16;
	o->depth = 4;
	o->msg_size = 100;
	o->warmup_ns = 20 * MS;
	o->duration_ns = 150 * MS;
	o->drain_ns = 2000 * MS;
}

/* Wait up to 5 s for fd to be readable, then read once: the byte count,
 * 0 at end of stream, or -errno. */
static ssize_t read_within(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t got;

	if (poll(&p, 1, 5000) != 1)
		return -ETIMEDOUT;
	got = recv(fd, buf, n, 0);
	return got < 0 ? -errno : got;
}

static bool closed_by_peer(int fd)
{
	char c;
	ssize_t got = read_within(fd, &c, 1);

	return got == 0 || got == -ECONNRESET;
}

static bool echoes_one_byte(int fd, char byte)
{
	char back = 0;

	return send(fd, &byte, 1, MSG_NOSIGNAL) == 1 &&
	       read_within(fd, &back, 1) == 1 && back == byte;
}

/* ==== echo ==================================================================== */

START_TEST(test_echo_passes_the_closed_loop_load)
{
	const struct engine *e = echo_engine_at(_i);
	struct loadgen_result *r = calloc(1, sizeof(*r));
	struct server_thread st;
	struct echo_opts opts;
	struct loadgen_opts lo;
	int64_t before = live_blocks();

	echo_opts_mode(&opts, _i);
	start_echo(&st, e, &opts);
	loadgen_defaults(&lo, st.port);
	ck_assert_msg(loadgen_echo(&lo, r) == 0, "%s: %u connections failed, "
		      "%llu bytes wrong, %llu missing", e->name,
		      r->conns_failed, (unsigned long long)r->corrupt,
		      (unsigned long long)r->missing);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_gt(r->msgs, 0);
	ck_assert_uint_eq(st.stats.accepted, lo.conns);
	ck_assert_uint_eq(st.stats.closed + st.stats.cancelled, lo.conns);
	ck_assert_uint_eq(st.stats.failed, 0);
	ck_assert_uint_ge(st.stats.bytes, r->bytes);
	ck_assert_uint_eq(st.stats.peak_conns, lo.conns);
	ck_assert_int_eq(live_blocks(), before);
	free(r);
}
END_TEST

START_TEST(test_echo_passes_the_open_loop_load)
{
	const struct engine *e = echo_engine_at(_i);
	struct loadgen_result *r = calloc(1, sizeof(*r));
	struct server_thread st;
	struct echo_opts opts;
	struct loadgen_opts lo;

	echo_opts_mode(&opts, _i);
	start_echo(&st, e, &opts);
	loadgen_defaults(&lo, st.port);
	lo.conns = 4;
	lo.rate = 4000;
	ck_assert_msg(loadgen_echo(&lo, r) == 0, "%s: the open loop failed",
		      e->name);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_gt(r->msgs, 0);
	ck_assert_uint_eq(r->latency.count, r->msgs);
	free(r);
}
END_TEST

START_TEST(test_echo_serves_a_new_connection_per_exchange)
{
	const struct engine *e = echo_engine_at(_i);
	struct loadgen_result *r = calloc(1, sizeof(*r));
	struct server_thread st;
	struct echo_opts opts;
	struct loadgen_opts lo;
	int64_t before = live_blocks();

	echo_opts_mode(&opts, _i);
	start_echo(&st, e, &opts);
	loadgen_defaults(&lo, st.port);
	lo.conns = 8;
	ck_assert_msg(loadgen_churn(&lo, r) == 0, "%s: churn: %u failed",
		      e->name, r->conns_failed);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	/* Each exchange ended with the server's close after the client's
	 * half-close: every connection is counted closed, none cancelled. */
	ck_assert_uint_eq(st.stats.accepted, r->conns_ok);
	ck_assert_uint_eq(st.stats.closed, r->conns_ok);
	ck_assert_uint_eq(st.stats.cancelled + st.stats.failed +
			  st.stats.refused, 0);
	ck_assert_uint_eq(st.stats.bytes, r->conns_ok * lo.msg_size);
	ck_assert_int_eq(live_blocks(), before);
	free(r);
}
END_TEST

START_TEST(test_echo_returns_large_streams_under_back_pressure)
{
	const struct engine *e = echo_engine_at(_i);
	struct netclient_result res;
	struct server_thread st;
	struct echo_opts opts;

	echo_opts_mode(&opts, _i);
	start_echo(&st, e, &opts);
	ck_assert_msg(netclient_echo(st.port, 4, 4 * MiB, 64 * KiB, 20000,
				     &res) == 0,
		      "%s: %u of 4 connections failed, %llu bytes differ",
		      e->name, res.conns_failed,
		      (unsigned long long)res.mismatches);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.bytes, 16ull * MiB);
	ck_assert_uint_eq(st.stats.closed, 4);
}
END_TEST

START_TEST(test_echo_closes_an_idle_connection)
{
	const struct engine *e = echo_engine_at(_i);
	struct server_thread st;
	struct echo_opts opts;
	int fd;

	echo_opts_mode(&opts, _i);
	opts.idle_timeout_ns = 100 * MS;
	start_echo(&st, e, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert(echoes_one_byte(fd, 'x'));
	ck_assert_msg(closed_by_peer(fd), "%s kept an idle connection",
		      e->name);
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.timed_out, 1);
	ck_assert_uint_eq(st.stats.bytes, 1);
}
END_TEST

START_TEST(test_echo_refuses_connections_past_the_limit)
{
	const struct engine *e = echo_engine_at(_i);
	struct server_thread st;
	struct echo_opts opts;
	int fd[3];

	echo_opts_mode(&opts, _i);
	opts.max_conns = 2;
	start_echo(&st, e, &opts);
	for (int i = 0; i < 2; i++) {
		fd[i] = netclient_connect(st.port);
		ck_assert_int_ge(fd[i], 0);
		ck_assert(echoes_one_byte(fd[i], (char)('a' + i)));
	}
	fd[2] = netclient_connect(st.port);
	ck_assert_int_ge(fd[2], 0);
	ck_assert_msg(closed_by_peer(fd[2]), "%s served a third connection",
		      e->name);
	for (int i = 0; i < 2; i++)
		ck_assert(echoes_one_byte(fd[i], (char)('c' + i)));
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.refused, 1);
	ck_assert_uint_eq(st.stats.peak_conns, 2);
}
END_TEST

START_TEST(test_echo_stop_cancels_open_connections_and_frees_everything)
{
	const struct engine *e = echo_engine_at(_i);
	struct server_thread st;
	struct echo_opts opts;
	int64_t before = live_blocks();
	int fd[3];

	echo_opts_mode(&opts, _i);
	start_echo(&st, e, &opts);
	for (int i = 0; i < 3; i++) {
		fd[i] = netclient_connect(st.port);
		ck_assert_int_ge(fd[i], 0);
		ck_assert(echoes_one_byte(fd[i], 'z'));
	}
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_uint_eq(st.stats.cancelled, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(closed_by_peer(fd[i]));
		close(fd[i]);
	}
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* From the moment it listens, every allocation fails (the server's start-up
 * is over: what it needs to see a stop request is in place). */
static void heap_off(void *arg, uint16_t port)
{
	mem_fail_all(true);
}

/* Out of memory after start-up is bad input too: a connection the engine
 * cannot serve is closed or served, never left hanging, and the server
 * still stops on request and gives back what it took. */
START_TEST(test_echo_out_of_memory_closes_or_serves_and_still_stops)
{
	const struct engine *e = echo_engine_at(_i);
	struct server_thread st;
	struct echo_opts opts;
	int64_t before = live_blocks();
	char back = 0;
	ssize_t got;
	int fd;

	echo_opts_mode(&opts, _i);
	opts.on_listening = heap_off;
	start_echo(&st, e, &opts);
	fd = netclient_connect(st.port);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(send(fd, "m", 1, MSG_NOSIGNAL), 1);
	got = read_within(fd, &back, 1);
	mem_fail_all(false);
	ck_assert_msg(got == 0 || got == -ECONNRESET || (got == 1 && back == 'm'),
		      "%s: the connection was neither closed nor served: %s",
		      e->name, got < 0 ? strerror((int)-got) : "a wrong byte");
	close(fd);
	ck_assert_int_eq(server_thread_stop(&st), 0);
	ck_assert_int_eq(live_blocks(), before);
}
END_TEST

/* ==== fanout ===================================================================== */

/* A scratch directory with an input of pseudo-random bytes. */
struct scratch {
	char dir[64];
	char input[96];
	unsigned char *bytes;
	size_t size;
};

static void scratch_make(struct scratch *sc, size_t size)
{
	uint32_t x = 2463534242u ^ (uint32_t)size;
	int fd;

	strcpy(sc->dir, "/tmp/pushpoll-conf-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sc->dir));
	snprintf(sc->input, sizeof(sc->input), "%s/input", sc->dir);
	sc->size = size;
	sc->bytes = malloc(size ? size : 1);
	ck_assert_ptr_nonnull(sc->bytes);
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		sc->bytes[i] = (unsigned char)x;
	}
	fd = open(sc->input, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, sc->bytes, size), (ssize_t)size);
	close(fd);
}

static void sink_path(const struct scratch *sc, unsigned i, char *buf,
		      size_t len)
{
	snprintf(buf, len, "%s/sink-%u", sc->dir, i);
}

/* Is the file exactly the input? */
static bool file_matches(const struct scratch *sc, const char *path)
{
	unsigned char *got = malloc(sc->size + 1);
	int fd = open(path, O_RDONLY);
	size_t n = 0;
	ssize_t r = 1;
	bool same;

	ck_assert_ptr_nonnull(got);
	if (fd < 0) {
		free(got);
		return false;
	}
	while (n < sc->size + 1 && (r = read(fd, got + n, sc->size + 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	same = n == sc->size && memcmp(got, sc->bytes, sc->size) == 0;
	free(got);
	return same;
}

static void scratch_remove(struct scratch *sc, unsigned sinks)
{
	char path[128];

	for (unsigned i = 0; i < sinks; i++) {
		sink_path(sc, i, path, sizeof(path));
		unlink(path);
	}
	unlink(sc->input);
	rmdir(sc->dir);
	free(sc->bytes);
}

static void start_fanout(struct fanout_thread *ft, const struct engine *e,
			 const struct fanout_opts *opts)
{
	int rc = fanout_thread_start(ft, e->fanout, opts);

	ck_assert_msg(rc == 0, "%s: the fanout did not start: %s", e->name,
		      strerror(-rc));
}

static void fanout_opts_for(struct fanout_opts *o, const struct scratch *sc,
			    unsigned sinks, enum fanout_sink_kind kind)
{
	fanout_opts_default(o);
	o->input = sc->input;
	o->sinks = sinks;
	o->kind = kind;
	o->output_dir = sc->dir;
	o->port = 0;
}

/* What every sink of a complete fanout must report. */
static void check_complete(const struct engine *e,
			   const struct fanout_thread *ft,
			   const struct scratch *sc)
{
	const struct fanout_opts *o = &ft->opts;
	uint64_t sum = workload_checksum(sc->bytes, sc->size, o->chunk_size);

	ck_assert_uint_eq(ft->stats.bytes_read, sc->size);
	ck_assert_uint_eq(ft->stats.checksum, sum);
	ck_assert_uint_eq(ft->stats.chunks_read,
			  (sc->size + o->chunk_size - 1) / o->chunk_size);
	ck_assert_uint_le(ft->stats.peak_chunks, o->window);
	for (unsigned i = 0; i < o->sinks; i++) {
		ck_assert_msg(ft->stats.sink[i].error == 0, "%s: sink %u: %s",
			      e->name, i, strerror(-ft->stats.sink[i].error));
		ck_assert_uint_eq(ft->stats.sink[i].bytes, sc->size);
		ck_assert_uint_eq(ft->stats.sink[i].checksum, sum);
	}
}

START_TEST(test_fanout_writes_the_input_to_every_file_sink)
{
	const struct engine *e = engine_at(_i);
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	char path[128];
	int64_t before = live_blocks();

	scratch_make(&sc, 1 * MiB + 777);
	fanout_opts_for(&opts, &sc, 3, FANOUT_SINK_FILE);
	opts.window = 3;
	start_fanout(&ft, e, &opts);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	check_complete(e, &ft, &sc);
	ck_assert_uint_ge(ft.stats.peak_chunks, 1);
	for (unsigned i = 0; i < 3; i++) {
		sink_path(&sc, i, path, sizeof(path));
		ck_assert_msg(file_matches(&sc, path), "%s: %s differs",
			      e->name, path);
	}
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc, 3);
}
END_TEST

/* fanout_verify() (pushpoll fanout --verify) reads every sink file back:
 * it passes each engine's sinks as written, and catches one byte changed
 * in one sink afterwards, naming the sink and the byte. */
START_TEST(test_fanout_verify_finds_one_byte_changed_in_a_sink_file)
{
	const struct engine *e = engine_at(_i);
	const uint64_t at = 200 * KiB + 17;
	struct fanout_verify_result res;
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	char path[128], why[64];
	unsigned char byte;
	int fd;

	scratch_make(&sc, 512 * KiB + 9);
	fanout_opts_for(&opts, &sc, 3, FANOUT_SINK_FILE);
	start_fanout(&ft, e, &opts);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	check_complete(e, &ft, &sc);
	ck_assert_int_eq(fanout_verify(&ft.opts, &ft.stats, &res), 0);
	ck_assert_uint_eq(res.checked, 3);
	ck_assert_uint_eq(res.bad, 0);

	sink_path(&sc, 2, path, sizeof(path));
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &byte, 1, (off_t)at), 1);
	byte ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &byte, 1, (off_t)at), 1);
	close(fd);
	ck_assert_int_eq(fanout_verify(&ft.opts, &ft.stats, &res), 1);
	ck_assert_uint_eq(res.bad, 1);
	ck_assert_uint_eq(res.first_bad, 2);
	snprintf(why, sizeof(why), "at byte %llu", (unsigned long long)at);
	ck_assert_msg(strstr(res.why, why) != NULL, "%s: %s", e->name,
		      res.why);
	scratch_remove(&sc, 3);
}
END_TEST

START_TEST(test_fanout_sends_the_input_to_every_tcp_subscriber)
{
	const struct engine *e = engine_at(_i);
	struct loadgen_sink sink[4];
	struct loadgen_fanout_result res = { .sink = sink };
	struct loadgen_fanout_opts lo = {
		.host = "127.0.0.1", .sinks = 4, .stall = 4,
		.timeout_ns = 20 * CLOCK_NS_PER_S,
	};
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	int64_t before = live_blocks();

	scratch_make(&sc, 2 * MiB + 5);
	fanout_opts_for(&opts, &sc, 4, FANOUT_SINK_TCP);
	start_fanout(&ft, e, &opts);
	ck_assert(ft.listening);
	lo.port = ft.port;
	lo.input = sc.bytes;
	lo.size = sc.size;
	ck_assert_msg(loadgen_fanout(&lo, &res) == 0, "%s: %u sinks failed",
		      e->name, res.sinks_failed);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	check_complete(e, &ft, &sc);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_le(sink[i].first_ns, sink[i].end_ns);
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc, 0);
}
END_TEST

/* The peak of live heap during one file fanout, above what was live
 * before it. */
static int64_t fanout_peak(const struct engine *e, size_t size,
			   unsigned sinks, size_t chunk, unsigned window)
{
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	struct mem_stats a, b;

	scratch_make(&sc, size);
	fanout_opts_for(&opts, &sc, sinks, FANOUT_SINK_FILE);
	opts.chunk_size = chunk;
	opts.window = window;
	mem_stats_get(&a);
	mem_reset_peak();
	start_fanout(&ft, e, &opts);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	mem_stats_get(&b);
	check_complete(e, &ft, &sc);
	scratch_remove(&sc, sinks);
	return b.peak_live_bytes - a.live_bytes;
}

START_TEST(test_fanout_heap_is_bounded_by_the_window_whatever_the_size)
{
	const struct engine *e = engine_at(_i);
	const size_t chunk = 16 * KiB;
	const unsigned window = 2, sinks = 2;
	/* The window, plus the engine's own state (its loop, its sinks, its
	 * requests): the allowance `pushpoll bench` uses too. */
	const int64_t bound = window * chunk + 64 * KiB + 4 * KiB * sinks;
	int64_t small = fanout_peak(e, 256 * KiB, sinks, chunk, window);
	int64_t big = fanout_peak(e, 8 * MiB, sinks, chunk, window);

	ck_assert_msg(small <= bound && big <= bound,
		      "%s: peak heap %lld (256 KiB input) and %lld (8 MiB), "
		      "bound %lld", e->name, (long long)small, (long long)big,
		      (long long)bound);
	/* 32 times the input, not one chunk more. */
	ck_assert_msg(big <= small + (int64_t)chunk,
		      "%s: peak heap grows with the input: %lld -> %lld",
		      e->name, (long long)small, (long long)big);
}
END_TEST

START_TEST(test_fanout_cuts_off_a_subscriber_that_stops_reading)
{
	const struct engine *e = engine_at(_i);
	struct loadgen_sink sink[3];
	struct loadgen_fanout_result res = { .sink = sink };
	struct loadgen_fanout_opts lo = {
		.host = "127.0.0.1", .sinks = 3, .stall = 1,
		.timeout_ns = 20 * CLOCK_NS_PER_S,
	};
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;

	/* Far more than the socket buffers of the stalled subscriber hold. */
	scratch_make(&sc, 24 * MiB);
	fanout_opts_for(&opts, &sc, 3, FANOUT_SINK_TCP);
	opts.sink_timeout_ns = 200 * MS;
	start_fanout(&ft, e, &opts);
	lo.port = ft.port;
	lo.input = sc.bytes;
	lo.size = sc.size;
	ck_assert_msg(loadgen_fanout(&lo, &res) == 0,
		      "%s: the subscribers that read did not get the input",
		      e->name);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	ck_assert_int_eq(ft.stats.sink[1].error, -ETIMEDOUT);
	ck_assert_uint_lt(ft.stats.sink[1].bytes, sc.size);
	for (int i = 0; i < 3; i += 2) {
		ck_assert_int_eq(ft.stats.sink[i].error, 0);
		ck_assert_uint_eq(ft.stats.sink[i].bytes, sc.size);
	}
	scratch_remove(&sc, 0);
}
END_TEST

/* The checksum rule of workload.h, in every engine: a sink that took every
 * chunk reports the checksum of the whole file; a sink cut off part way
 * reports the checksum of the whole chunks it took, the prefix of the file
 * its byte count says. */
START_TEST(test_fanout_checksum_is_the_files_or_the_prefix_a_sink_took)
{
	const struct engine *e = engine_at(_i);
	struct loadgen_sink sink[3];
	struct loadgen_fanout_result res = { .sink = sink };
	struct loadgen_fanout_opts lo = {
		.host = "127.0.0.1", .sinks = 3, .stall = 1,
		.timeout_ns = 20 * CLOCK_NS_PER_S,
	};
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	const struct fanout_sink_stats *cut;
	uint64_t whole;

	scratch_make(&sc, 24 * MiB + 3);       /* a short last chunk */
	fanout_opts_for(&opts, &sc, 3, FANOUT_SINK_TCP);
	opts.chunk_size = 32 * KiB;
	opts.sink_timeout_ns = 200 * MS;
	start_fanout(&ft, e, &opts);
	lo.port = ft.port;
	lo.input = sc.bytes;
	lo.size = sc.size;
	ck_assert_int_eq(loadgen_fanout(&lo, &res), 0);
	ck_assert_int_eq(fanout_thread_join(&ft, false), 0);
	whole = workload_checksum(sc.bytes, sc.size, opts.chunk_size);
	/* The input's own, as the fanout read it. */
	ck_assert_uint_eq(ft.stats.checksum, whole);
	for (int i = 0; i < 3; i += 2) {
		ck_assert_int_eq(ft.stats.sink[i].error, 0);
		ck_assert_msg(ft.stats.sink[i].checksum == whole,
			      "%s: complete sink %d: checksum %#llx, the "
			      "file's is %#llx", e->name, i,
			      (unsigned long long)ft.stats.sink[i].checksum,
			      (unsigned long long)whole);
	}
	cut = &ft.stats.sink[1];
	ck_assert_int_eq(cut->error, -ETIMEDOUT);
	ck_assert_uint_lt(cut->bytes, sc.size);
	ck_assert_uint_eq(cut->bytes % opts.chunk_size, 0);
	ck_assert_msg(cut->checksum == workload_checksum(sc.bytes, cut->bytes,
							 opts.chunk_size),
		      "%s: a sink cut off after %llu bytes does not report "
		      "the checksum of that prefix", e->name,
		      (unsigned long long)cut->bytes);
	ck_assert_uint_ne(cut->checksum, whole);
	scratch_remove(&sc, 0);
}
END_TEST

START_TEST(test_fanout_stop_cancels_every_sink)
{
	const struct engine *e = engine_at(_i);
	struct fanout_thread ft;
	struct fanout_opts opts;
	struct scratch sc;
	int64_t before = live_blocks();

	scratch_make(&sc, 64 * KiB);
	fanout_opts_for(&opts, &sc, 2, FANOUT_SINK_TCP);
	start_fanout(&ft, e, &opts);   /* nobody subscribes */
	ck_assert(ft.listening);
	ck_assert_int_eq(fanout_thread_join(&ft, true), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(ft.stats.sink[i].error, -ECANCELED);
		ck_assert_uint_eq(ft.stats.sink[i].bytes, 0);
		ck_assert_uint_eq(ft.stats.sink[i].checksum,
				  workload_checksum(sc.bytes, 0,
						    opts.chunk_size));
	}
	ck_assert_int_eq(live_blocks(), before);
	scratch_remove(&sc, 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("conformance");
	TCase *echo = tcase_create("echo");
	TCase *fan = tcase_create("fanout");
	int n = nengines();

	tcase_set_timeout(echo, 30);
	tcase_add_loop_test(echo, test_echo_passes_the_closed_loop_load, 0, 2 * n);
	tcase_add_loop_test(echo, test_echo_passes_the_open_loop_load, 0, 2 * n);
	tcase_add_loop_test(echo,
			    test_echo_serves_a_new_connection_per_exchange,
			    0, 2 * n);
	tcase_add_loop_test(echo,
			    test_echo_returns_large_streams_under_back_pressure,
			    0, 2 * n);
	tcase_add_loop_test(echo, test_echo_closes_an_idle_connection, 0, 2 * n);
	tcase_add_loop_test(echo, test_echo_refuses_connections_past_the_limit,
			    0, 2 * n);
	tcase_add_loop_test(echo,
		test_echo_stop_cancels_open_connections_and_frees_everything,
		0, 2 * n);
	tcase_add_loop_test(echo,
		test_echo_out_of_memory_closes_or_serves_and_still_stops,
		0, 2 * n);
	suite_add_tcase(s, echo);
	tcase_set_timeout(fan, 30);
	tcase_add_loop_test(fan,
		test_fanout_verify_finds_one_byte_changed_in_a_sink_file, 0, n);
	tcase_add_loop_test(fan, test_fanout_writes_the_input_to_every_file_sink,
			    0, n);
	tcase_add_loop_test(fan,
			    test_fanout_sends_the_input_to_every_tcp_subscriber,
			    0, n);
	tcase_add_loop_test(fan,
		test_fanout_heap_is_bounded_by_the_window_whatever_the_size,
		0, n);
	tcase_add_loop_test(fan,
			    test_fanout_cuts_off_a_subscriber_that_stops_reading,
			    0, n);
	tcase_add_loop_test(fan,
		test_fanout_checksum_is_the_files_or_the_prefix_a_sink_took,
		0, n);
	tcase_add_loop_test(fan, test_fanout_stop_cancels_every_sink, 0, n);
	suite_add_tcase(s, fan);
	return s;
}

#include "testutil.h"
