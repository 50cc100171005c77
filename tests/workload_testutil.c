/* workload_testutil.c: the helpers tests/test_push_workloads.c and
 * tests/test_poll_workloads.c share (see workload_testutil.h).  Failures
 * are reported with Check's ck_assert, so these run inside a test only.
 */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "netclient.h"
#include "workload_testutil.h"

int64_t live_blocks(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.live_blocks;
}

uint64_t allocs(void)
{
	struct mem_stats s;

	mem_stats_get(&s);
	return s.allocs;
}

/* Every accepted connection ends exactly one way. */
void check_echo_accounts(const struct echo_stats *st)
{
	ck_assert_uint_eq(st->accepted, st->closed + st->timed_out +
			  st->failed + st->cancelled);
}

/* Read from fd until end of stream (or an error); true if it came. */
bool wait_for_close(int fd)
{
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < 100; i++) {
		ssize_t n;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return true;
	}
	return false;
}

/* Nothing arrives on fd for ms milliseconds: no data, no end of stream. */
bool stays_quiet(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 0;
}

/* One exchange on a blocking socket: send text, read it all back. */
void ping(int fd, const char *text)
{
	size_t len = strlen(text), got = 0;
	char buf[256];

	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	while (got < len) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert_mem_eq(buf, text, len);
}

void make_pattern_file(const char *path, size_t len, unsigned seed)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < len; i++)
		fputc((int)netclient_pattern(seed, i), f);
	fclose(f);
}

bool files_equal(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	bool same = fa != NULL && fb != NULL;
	int ca, cb;

	while (same) {
		ca = fgetc(fa);
		cb = fgetc(fb);
		same = ca == cb;
		if (ca == EOF)
			break;
	}
	if (fa != NULL)
		fclose(fa);
	if (fb != NULL)
		fclose(fb);
	return same;
}

/* on_listening: the peers connect once the server listens. */
void sim_connect_peers(void *arg, uint16_t port)
{
	struct sim_world *w = arg;

	for (unsigned i = 0; i < w->npeers; i++) {
		w->peer[i] = sim_peer_connect(w->r, port, w->script[i],
					      w->len[i], w->flags[i]);
		ck_assert_ptr_nonnull(w->peer[i]);
	}
	if (w->fail_nth > 0)
		mem_fail_nth(w->fail_nth);
}

void sim_world_init(struct sim_world *w, const struct sim_config *c,
		    unsigned npeers, size_t len, unsigned flags)
{
	memset(w, 0, sizeof(*w));
	w->r = reactor_new_sim(c);
	ck_assert_ptr_nonnull(w->r);
	w->npeers = npeers;
	for (unsigned i = 0; i < npeers; i++) {
		w->len[i] = len + i * 1000;
		w->script[i] = malloc(w->len[i] + 1);
		for (size_t k = 0; k < w->len[i]; k++)
			w->script[i][k] = netclient_pattern(i, k);
		w->flags[i] = flags;
	}
}

void sim_world_free(struct sim_world *w)
{
	reactor_free(w->r);
	for (unsigned i = 0; i < w->npeers; i++)
		free(w->script[i]);
}

/* Each peer got back exactly a prefix of what it sent, and all of it when
 * its connection ended cleanly.  Returns how many got everything.  The
 * server has returned; the world first runs on until the peers have seen
 * their connections close (bounded: each step is one peer action). */
unsigned check_sim_peers(struct sim_world *w)
{
	unsigned whole = 0;

	for (int i = 0; i < 1000000 && reactor_poll(w->r, -1) >= 0; i++)
		;

	for (unsigned i = 0; i < w->npeers; i++) {
		size_t got, sent = sim_peer_sent(w->peer[i]);
		const unsigned char *back = sim_peer_received(w->peer[i], &got);

		ck_assert(sim_peer_finished(w->peer[i]));
		ck_assert_uint_le(got, sent);
		ck_assert_int_eq(memcmp(back, w->script[i], got), 0);
		if (sim_peer_error(w->peer[i]) == 0 && got == sent)
			whole++;
	}
	return whole;
}

void request_stop(void *arg)
{
	reactor_request_stop(arg);
}

void fanout_input(struct fanout_world *w, size_t len)
{
	w->len = len;
	w->input = malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		w->input[i] = netclient_pattern(99, i);
}

/* A world on epoll, with the input in a fresh temporary directory made
 * from dir_template (mkdtemp's XXXXXX form, at most 63 bytes). */
void fanout_world_epoll_at(struct fanout_world *w, const char *dir_template,
			   size_t len, unsigned sinks)
{
	FILE *f;

	memset(w, 0, sizeof(*w));
	fanout_input(w, len);
	strcpy(w->dir, dir_template);
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	snprintf(w->path, sizeof(w->path), "%s/input", w->dir);
	f = fopen(w->path, "wb");
	ck_assert_uint_eq(fwrite(w->input, 1, len, f), len);
	fclose(f);
	w->r = reactor_new_epoll();
	w->o = offload_new(w->r, 2);
	fanout_opts_default(&w->opts);
	w->opts.input = w->path;
	w->opts.output_dir = w->dir;
	w->opts.sinks = sinks;
	w->st.sink = w->sink;
}

/* A world in the simulation: the input is the in-memory file /input. */
void fanout_world_sim(struct fanout_world *w, const struct sim_config *c,
		      size_t len, unsigned sinks)
{
	memset(w, 0, sizeof(*w));
	fanout_input(w, len);
	w->r = reactor_new_sim(c);
	ck_assert_int_eq(sim_file_create(w->r, "/input", w->input, len), 0);
	w->o = offload_new(w->r, 1);
	fanout_opts_default(&w->opts);
	w->opts.input = "/input";
	w->opts.output_dir = "/out";
	w->opts.sinks = sinks;
	w->st.sink = w->sink;
}

void fanout_world_free(struct fanout_world *w)
{
	ck_assert_uint_eq(offload_outstanding(w->o), 0);
	offload_free(w->o);
	reactor_free(w->r);
	if (w->dir[0] != '\0') {
		char p[128];
		for (unsigned i = 0; i < w->opts.sinks; i++) {
			snprintf(p, sizeof(p), "%s/sink-%u", w->dir, i);
			unlink(p);
		}
		unlink(w->path);
		rmdir(w->dir);
	}
	free(w->input);
}

/* The contents of sink i's output file, malloc'ed (epoll) or the
 * simulation's own (sim). */
unsigned char *sink_output(struct fanout_world *w, unsigned i, size_t *len)
{
	char p[128];

	if (w->dir[0] == '\0') {
		const void *data;
		snprintf(p, sizeof(p), "/out/sink-%u", i);
		data = sim_file_contents(w->r, p, len);
		ck_assert_ptr_nonnull(data);
		return (unsigned char *)data;
	} else {
		FILE *f;
		struct stat sb;
		unsigned char *data;
		snprintf(p, sizeof(p), "%s/sink-%u", w->dir, i);
		ck_assert_int_eq(stat(p, &sb), 0);
		data = malloc((size_t)sb.st_size + 1);
		f = fopen(p, "rb");
		*len = fread(data, 1, (size_t)sb.st_size, f);
		fclose(f);
		return data;
	}
}

/* Sink i: complete and exact when error is 0, else a prefix of the input
 * of sink bytes (what a cancelled running write added after is allowed). */
void check_file_sink(struct fanout_world *w, unsigned i)
{
	struct fanout_sink_stats *s = &w->sink[i];
	size_t got;
	unsigned char *out = sink_output(w, i, &got);

	if (s->error == 0) {
		ck_assert_uint_eq(s->bytes, w->len);
		ck_assert_uint_eq(got, w->len);
		ck_assert_uint_eq(s->checksum, workload_checksum(
					  w->input, w->len, w->opts.chunk_size));
	} else {
		ck_assert_uint_le(s->bytes, w->len);
		ck_assert_uint_ge(got, s->bytes);
		ck_assert_uint_eq(s->checksum, workload_checksum(
					  w->input, s->bytes, w->opts.chunk_size));
	}
	ck_assert_int_eq(memcmp(out, w->input, s->bytes), 0);
	if (w->dir[0] != '\0')
		free(out);
}

void *subscriber_main(void *arg)
{
	struct subscriber *sub = arg;
	unsigned char buf[65536];
	struct workload_checksum_stream cs;
	int fd = netclient_connect(sub->port);
	ssize_t n;

	sub->checksum = WORKLOAD_CHECKSUM_INIT;
	if (fd < 0 || workload_checksum_stream_init(&cs, sub->chunk_size) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		sub->bytes += (uint64_t)n;
		workload_checksum_stream_feed(&cs, buf, (size_t)n);
	}
	sub->checksum = workload_checksum_stream_end(&cs);
	close(fd);
	return NULL;
}

struct subscriber subs[MAX_SINKS];

void start_subscribers(void *arg, uint16_t port)
{
	struct fanout_world *w = arg;

	for (unsigned i = 0; i < w->opts.sinks; i++) {
		subs[i].port = port;
		subs[i].chunk_size = w->opts.chunk_size;
		ck_assert_int_eq(pthread_create(&subs[i].tid, NULL,
						subscriber_main, &subs[i]), 0);
	}
}

void connect_sim_subscribers(void *arg, uint16_t port)
{
	struct fanout_world *w = arg;

	for (unsigned i = 0; i < w->opts.sinks; i++)
		w->peer[i] = sim_peer_connect(w->r, port, NULL, 0,
					      w->peer_flags[i]);
}

/* Run the world on until every peer has seen its connection end. */
void sim_run_out(struct reactor *r)
{
	for (int i = 0; i < 1000000 && reactor_poll(r, -1) >= 0; i++)
		;
}

/* Sinks are numbered in the order the subscribers connected, which the
 * simulation chooses, so sinks and peers are checked separately: every
 * sink that ended cleanly delivered the whole input; every peer received a
 * prefix of it, and the whole input if it neither reset nor refused to
 * read.  Returns how many sinks ended cleanly. */
unsigned check_tcp_sinks(struct fanout_world *w)
{
	uint64_t sum = workload_checksum(w->input, w->len, w->opts.chunk_size);
	unsigned clean = 0, whole = 0;

	for (unsigned i = 0; i < w->opts.sinks; i++) {
		size_t got;
		const unsigned char *back = sim_peer_received(w->peer[i], &got);

		ck_assert(sim_peer_finished(w->peer[i]));
		ck_assert_uint_le(got, w->len);
		ck_assert_int_eq(memcmp(back, w->input, got), 0);
		if (!(w->peer_flags[i] & SIM_PEER_NO_READ) &&
		    sim_peer_error(w->peer[i]) == 0) {
			ck_assert_uint_eq(got, w->len);
			whole++;
		}
		if (w->sink[i].error == 0) {
			ck_assert_uint_eq(w->sink[i].bytes, w->len);
			ck_assert_uint_eq(w->sink[i].checksum, sum);
			clean++;
		}
	}
	ck_assert_uint_ge(clean, whole);
	return clean;
}
