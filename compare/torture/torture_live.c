/* torture_live.c: both workloads over real loopback sockets and real
 * files, cancelled at random times (epoll backend, offload's real
 * threads).
 *
 * The simulator reaches every step of a small world, but some code only
 * real I/O reaches: the epoll backend's batches of events (a fanout abort
 * that closes several ready subscribers in one batch, a callback that
 * stops another watcher of the same batch), reads that fill the buffer
 * (messages larger than it), and the offload pool's threads (a job
 * cancelled just as it finishes, its completion already posted).  Each
 * scenario runs the engine's own workload on the epoll reactor, with its
 * peers on the same loop (non-blocking loopback connections watched by the
 * same reactor), for several rounds, each with its own seed: a timer
 * armed at random times of a few hundred microseconds cancels one part
 * (workload_cancel_part(): an echo connection, a fanout sink), and in some
 * rounds the whole workload (a stop request, the path of SIGTERM).
 *
 *   live-echo         six peers, each sending 48 to 80 KiB through a
 *                     512-byte server buffer, then half-closing
 *   live-tcp-sinks    four TCP subscribers of a real file of 200 to 400
 *                     KiB, in 16 KiB chunks, two offload threads
 *   live-file-sinks   the same file to three real files
 *
 * What is checked after each round, as for the simulated workloads: the
 * engine returned 0; every peer saw its connection end; what each peer,
 * subscriber or file got is a prefix of what was sent (the input), and
 * holds at least what the engine counts as delivered; a sink that reports
 * success got everything, with the input's checksum; with no whole stop,
 * every connection or sink not cancelled alone was served in full; the
 * connection accounts add up; the pool has every job back; and the
 * engine's live allocations are back to where they were.  The case's
 * `faults` counts the cancels that took effect.
 */
#include "torture_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "container_of.h"
#include "poll.h"
#include "push.h"

#define LIVE_ROUNDS 6
#define LIVE_MAX_PEERS 6
#define LIVE_DRAIN_NS (5 * CLOCK_NS_PER_S)

/* ---- the world ------------------------------------------------------------------ */

struct live_world;

/* A peer on the loop: connects, sends its script (echo) and half-closes,
 * and reads everything until end of stream. */
struct live_peer {
	struct live_world *w;
	struct reactor_io io;
	int h;
	bool connected, shut, done;
	int error;
	const unsigned char *out;
	size_t len, sent;
	unsigned char *in;
	size_t cap, got;
	bool overflow;            /* received more than cap */
};

struct live_world {
	struct torture_case *c;
	struct reactor *r;
	struct offload *o;
	struct mem_stats base;
	uint64_t rng;
	bool echo;                /* echo: stop once every peer is done */
	unsigned parts;           /* parts the timer may cancel */
	unsigned npeers, live;
	struct live_peer peer[LIVE_MAX_PEERS];
	struct reactor_timer timer;
	unsigned cancels_left;    /* part cancels the timer may still make */
	bool stop_at_random;      /* this round, a whole stop at a random time */
	unsigned cancelled_parts; /* part cancels that took effect */
	bool stopped_early;       /* the whole stop came at a random time */
};

static uint64_t live_rand(struct live_world *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void live_peer_finish(struct live_peer *p, int error)
{
	struct live_world *w = p->w;

	reactor_io_stop(w->r, &p->io);
	reactor_close(w->r, p->h);
	p->done = true;
	p->error = error;
	if (--w->live == 0 && w->echo)
		reactor_request_stop(w->r);
}

static void live_peer_cb(struct reactor_io *io, unsigned events)
{
	struct live_peer *p = container_of(io, struct live_peer, io);
	struct reactor *r = p->w->r;
	unsigned char scratch[16384];

	if (p->done)
		return;
	if (!p->connected) {
		int rc;

		if (!(events & (REACTOR_WRITABLE | REACTOR_HANGUP)))
			return;
		rc = reactor_connect_result(r, p->h);
		if (rc == -EINPROGRESS || rc == -EAGAIN)
			return;
		if (rc < 0) {
			live_peer_finish(p, rc);
			return;
		}
		p->connected = true;
	}
	while (p->sent < p->len) {
		size_t m = p->len - p->sent < sizeof(scratch)
			   ? p->len - p->sent : sizeof(scratch);
		ssize_t n = reactor_write(r, p->h, p->out + p->sent, m);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			live_peer_finish(p, (int)n);
			return;
		}
		p->sent += (size_t)n;
	}
	if (p->len > 0 && p->sent == p->len && !p->shut) {
		reactor_shutdown_write(r, p->h);
		p->shut = true;
	}
	for (;;) {
		ssize_t n = reactor_io_read(r, &p->io, scratch, sizeof(scratch));

		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			live_peer_finish(p, (int)n);
			return;
		}
		if (p->got + (size_t)n > p->cap) {
			p->overflow = true;
			n = (ssize_t)(p->cap - p->got);
		}
		memcpy(p->in + p->got, scratch, (size_t)n);
		p->got += (size_t)n;
	}
}

/* Connect peer i to port, sending out[0..len) (len 0: only read), and
 * keeping at most cap bytes of what comes back. */
static void live_peer_connect(struct live_world *w, unsigned i, uint16_t port,
			      const unsigned char *out, size_t len, size_t cap)
{
	struct live_peer *p = &w->peer[i];
	int h;

	memset(p, 0, sizeof(*p));
	p->w = w;
	p->out = out;
	p->len = len;
	p->cap = cap;
	p->in = malloc(cap > 0 ? cap : 1);
	if (p->in == NULL)
		abort();             /* the test world itself: not a finding */
	w->npeers++;
	h = reactor_connect(w->r, "127.0.0.1", port);
	if (h < 0) {
		p->done = true;
		p->error = h;
		return;
	}
	p->h = h;
	if (reactor_io_start(w->r, &p->io, h, live_peer_cb) < 0) {
		reactor_close(w->r, h);
		p->done = true;
		p->error = -EIO;
		return;
	}
	w->live++;
}

/* The cancel timer: a part now and then, and in some rounds the whole
 * workload once the parts are spent. */
static void live_timer_cb(struct reactor_timer *t)
{
	struct live_world *w = container_of(t, struct live_world, timer);

	if (w->cancels_left > 0) {
		w->cancels_left--;
		if (workload_cancel_part((unsigned)(live_rand(w) % w->parts))
		    == 0)
			w->cancelled_parts++;
	} else if (w->stop_at_random) {
		w->stop_at_random = false;
		w->stopped_early = true;
		reactor_request_stop(w->r);
		return;
	} else {
		return;
	}
	reactor_timer_start(w->r, &w->timer,
			    100 * CLOCK_NS_PER_US +
			    live_rand(w) % (1500 * CLOCK_NS_PER_US),
			    live_timer_cb);
}

static void live_open(struct live_world *w, struct torture_case *c,
		      unsigned round, bool offload)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->rng = c->seed * 1000003ull + round;
	mem_fail_nth(0);
	mem_stats_get(&w->base);
	w->r = reactor_new_epoll();
	if (w->r == NULL)
		abort();
	if (offload) {
		w->o = offload_new(w->r, 2);
		if (w->o == NULL)
			abort();
	}
	w->cancels_left = 1 + (unsigned)(live_rand(w) % 3);
	w->stop_at_random = live_rand(w) % 3 == 0;
}

/* After the workload returned: run the loop until every peer has seen its
 * connection end (bounded), check what the pool and the allocator say,
 * and free the world. */
static void live_close(struct live_world *w)
{
	struct torture_case *c = w->c;
	uint64_t deadline = clock_now_ns() + LIVE_DRAIN_NS;
	struct mem_stats m;

	reactor_timer_stop(w->r, &w->timer);
	while (w->live > 0 && clock_now_ns() < deadline)
		if (reactor_poll(w->r, 10 * CLOCK_NS_PER_MS) < 0)
			break;
	for (unsigned i = 0; i < w->npeers; i++) {
		struct live_peer *p = &w->peer[i];

		TT_CHECK(c, p->done, "live: peer %u never saw its connection "
			 "end", i);
		if (!p->done) {
			reactor_io_stop(w->r, &p->io);
			reactor_close(w->r, p->h);
		}
	}
	if (w->o != NULL) {
		unsigned left;

		/* Cancelled jobs may still be running on the pool's threads:
		 * their completions come through the loop. */
		deadline = clock_now_ns() + LIVE_DRAIN_NS;
		while ((left = offload_outstanding(w->o)) > 0 &&
		       clock_now_ns() < deadline)
			reactor_poll(w->r, CLOCK_NS_PER_MS);
		TT_CHECK(c, left == 0, "live: %u offload jobs never given back",
			 left);
		offload_stats_get(w->o, &c->off);
		if (left == 0)
			offload_free(w->o);
	}
	reactor_free(w->r);
	mem_stats_get(&m);
	TT_CHECK(c, m.live_blocks == w->base.live_blocks &&
		    m.live_bytes == w->base.live_bytes,
		 "live: leak: %lld blocks, %lld bytes still live after the run",
		 (long long)(m.live_blocks - w->base.live_blocks),
		 (long long)(m.live_bytes - w->base.live_bytes));
	c->faults += w->cancelled_parts + w->stopped_early;
}

/* What the peers received, once it has been checked. */
static void live_free_peers(struct live_world *w)
{
	for (unsigned i = 0; i < w->npeers; i++)
		free(w->peer[i].in);
}

static void live_arm(struct live_world *w)
{
	reactor_timer_start(w->r, &w->timer,
			    200 * CLOCK_NS_PER_US +
			    live_rand(w) % (3000 * CLOCK_NS_PER_US),
			    live_timer_cb);
}

/* ---- echo ----------------------------------------------------------------------- */

struct live_echo {
	struct live_world w;
	unsigned char *script[LIVE_MAX_PEERS];
	size_t len[LIVE_MAX_PEERS];
};

static void live_echo_listening(void *arg, uint16_t port)
{
	struct live_echo *le = arg;

	for (unsigned i = 0; i < LIVE_MAX_PEERS; i++)
		live_peer_connect(&le->w, i, port, le->script[i], le->len[i],
				  le->len[i]);
	live_arm(&le->w);
}

static void live_echo_round(struct torture_case *c, echo_serve_fn serve,
			    unsigned round)
{
	struct live_echo le;
	struct echo_opts opts;
	struct echo_stats st;
	unsigned full = 0;
	int rc;

	live_open(&le.w, c, round, false);
	le.w.echo = true;
	le.w.parts = LIVE_MAX_PEERS;
	for (unsigned i = 0; i < LIVE_MAX_PEERS; i++) {
		le.len[i] = 48 * 1024 + (size_t)(live_rand(&le.w) % (32 * 1024));
		le.script[i] = malloc(le.len[i]);
		if (le.script[i] == NULL)
			abort();
		tt_fill(le.script[i], le.len[i], c->seed + round, i);
	}
	echo_opts_default(&opts);
	opts.port = 0;
	opts.bufsize = 512;                 /* every message larger */
	opts.idle_timeout_ns = 10 * CLOCK_NS_PER_S;
	opts.on_listening = live_echo_listening;
	opts.arg = &le;
	memset(&st, 0, sizeof(st));

	rc = serve(le.w.r, NULL, &opts, &st);
	live_close(&le.w);      /* the peers see their ends first */
	TT_CHECK(c, rc == 0, "live-echo: the server returned %d", rc);
	for (unsigned i = 0; i < le.w.npeers; i++) {
		struct live_peer *p = &le.w.peer[i];

		TT_CHECK(c, !p->overflow && memcmp(p->in, le.script[i], p->got)
			 == 0, "live-echo: peer %u got back bytes that are not "
			 "a prefix of what it sent", i);
		full += p->error == 0 && p->got == le.len[i];
	}
	TT_CHECK(c, st.accepted == st.closed + st.timed_out + st.failed +
		 st.cancelled, "live-echo: %llu accepted but %llu accounted for",
		 (unsigned long long)st.accepted,
		 (unsigned long long)(st.closed + st.timed_out + st.failed +
				      st.cancelled));
	if (rc == 0 && !le.w.stopped_early)
		TT_CHECK(c, full + le.w.cancelled_parts >= le.w.npeers,
			 "live-echo: %u of %u peers served in full, %u "
			 "cancelled alone", full, le.w.npeers,
			 le.w.cancelled_parts);
	live_free_peers(&le.w);
	for (unsigned i = 0; i < LIVE_MAX_PEERS; i++)
		free(le.script[i]);
}

static void live_echo(struct torture_case *c, echo_serve_fn serve)
{
	for (unsigned round = 0; round < LIVE_ROUNDS && c->what[0] == '\0';
	     round++)
		live_echo_round(c, serve, round);
}

/* ---- fanout ---------------------------------------------------------------------- */

#define LIVE_TCP_SINKS 4
#define LIVE_FILE_SINKS 3

struct live_fanout {
	struct live_world w;
	bool tcp;
	unsigned char *input;
	size_t size;
	char dir[64], path[96];
};

static void live_fanout_listening(void *arg, uint16_t port)
{
	struct live_fanout *lf = arg;

	for (unsigned i = 0; i < LIVE_TCP_SINKS; i++)
		live_peer_connect(&lf->w, i, port, NULL, 0, lf->size + 1);
	live_arm(&lf->w);
}

/* What file sink i holds, read back into a new buffer (NULL if none). */
static unsigned char *live_file(const struct live_fanout *lf, unsigned i,
				size_t *len)
{
	char path[128];
	unsigned char *buf = malloc(lf->size + 1);
	FILE *f;

	*len = 0;
	snprintf(path, sizeof(path), "%s/out/sink-%u", lf->dir, i);
	if (buf == NULL || (f = fopen(path, "rb")) == NULL) {
		free(buf);
		return NULL;
	}
	*len = fread(buf, 1, lf->size + 1, f);
	fclose(f);
	return buf;
}

static void live_fanout_check(struct live_fanout *lf, int rc,
			      const struct fanout_opts *opts,
			      const struct fanout_sink_stats *sink)
{
	struct torture_case *c = lf->w.c;
	uint64_t sum = workload_checksum(lf->input, lf->size,
					 opts->chunk_size);
	unsigned ok = 0;

	TT_CHECK(c, rc == 0, "live fanout: returned %d", rc);
	if (rc != 0)
		return;
	for (unsigned i = 0; i < opts->sinks; i++) {
		const struct fanout_sink_stats *s = &sink[i];

		TT_CHECK(c, s->bytes <= lf->size && s->checksum ==
			 workload_checksum(lf->input, s->bytes,
					   opts->chunk_size),
			 "live fanout: sink %u counts %llu bytes with a "
			 "checksum that is not the input's", i,
			 (unsigned long long)s->bytes);
		TT_CHECK(c, s->error != 0 || (s->bytes == lf->size &&
					      s->checksum == sum),
			 "live fanout: sink %u reports success with %llu of "
			 "%zu bytes", i, (unsigned long long)s->bytes, lf->size);
		ok += s->error == 0;
		if (!lf->tcp) {
			size_t len;
			unsigned char *out = live_file(lf, i, &len);

			TT_CHECK(c, out != NULL && len <= lf->size &&
				 len >= s->bytes &&
				 memcmp(out, lf->input, len) == 0,
				 "live fanout: file %u holds %zu bytes, not a "
				 "prefix of the input of at least the %llu "
				 "delivered", i, len,
				 (unsigned long long)s->bytes);
			free(out);
		}
	}
	if (lf->tcp) {
		uint64_t delivered = 0, received = 0;

		for (unsigned i = 0; i < opts->sinks; i++)
			delivered += sink[i].bytes;
		for (unsigned i = 0; i < lf->w.npeers; i++) {
			const struct live_peer *p = &lf->w.peer[i];

			TT_CHECK(c, !p->overflow && p->got <= lf->size &&
				 memcmp(p->in, lf->input, p->got) == 0,
				 "live fanout: subscriber %u got %zu bytes, not "
				 "a prefix of the input", i, p->got);
			received += p->got;
		}
		TT_CHECK(c, received >= delivered, "live fanout: the sinks "
			 "count %llu bytes delivered, the subscribers got %llu "
			 "(a lost byte)", (unsigned long long)delivered,
			 (unsigned long long)received);
	}
	if (!lf->w.stopped_early)
		TT_CHECK(c, ok + lf->w.cancelled_parts >= opts->sinks,
			 "live fanout: %u of %u sinks served, %u cancelled "
			 "alone", ok, opts->sinks, lf->w.cancelled_parts);
}

static void live_fanout_round(struct torture_case *c, fanout_run_fn run,
			      bool tcp, unsigned round)
{
	struct live_fanout lf;
	struct fanout_opts opts;
	struct fanout_stats st;
	struct fanout_sink_stats sink[LIVE_TCP_SINKS];
	char out[128];
	FILE *f;
	int rc;

	live_open(&lf.w, c, round, true);
	lf.tcp = tcp;
	lf.w.parts = tcp ? LIVE_TCP_SINKS : LIVE_FILE_SINKS;
	lf.size = 200 * 1024 + (size_t)(live_rand(&lf.w) % (200 * 1024));
	lf.input = malloc(lf.size);
	snprintf(lf.dir, sizeof(lf.dir), "/tmp/pushpoll-live-XXXXXX");
	if (lf.input == NULL || mkdtemp(lf.dir) == NULL)
		abort();
	tt_fill(lf.input, lf.size, c->seed + round, 77);
	snprintf(lf.path, sizeof(lf.path), "%s/input", lf.dir);
	f = fopen(lf.path, "wb");
	if (f == NULL || fwrite(lf.input, 1, lf.size, f) != lf.size ||
	    fclose(f) != 0)
		abort();
	snprintf(out, sizeof(out), "%s/out", lf.dir);
	if (!tcp && mkdir(out, 0777) != 0)
		abort();
	fanout_opts_default(&opts);
	opts.input = lf.path;
	opts.sinks = lf.w.parts;
	opts.kind = tcp ? FANOUT_SINK_TCP : FANOUT_SINK_FILE;
	opts.output_dir = out;
	opts.host = "127.0.0.1";
	opts.port = 0;
	opts.chunk_size = 16 * 1024;
	opts.window = 3;
	opts.sink_timeout_ns = 10 * CLOCK_NS_PER_S;   /* armed, never fires */
	if (tcp) {
		opts.on_listening = live_fanout_listening;
		opts.arg = &lf;
	}
	memset(&st, 0, sizeof(st));
	memset(sink, 0, sizeof(sink));
	st.sink = sink;
	if (!tcp)
		live_arm(&lf.w);

	rc = run(lf.w.r, lf.w.o, &opts, &st);
	reactor_timer_stop(lf.w.r, &lf.w.timer);
	live_close(&lf.w);      /* the subscribers see their ends first */
	live_fanout_check(&lf, rc, &opts, sink);
	live_free_peers(&lf.w);
	for (unsigned i = 0; i < opts.sinks; i++) {
		char path[160];

		snprintf(path, sizeof(path), "%s/sink-%u", out, i);
		unlink(path);
	}
	rmdir(out);
	unlink(lf.path);
	rmdir(lf.dir);
	free(lf.input);
}

static void live_fanout(struct torture_case *c, fanout_run_fn run, bool tcp)
{
	for (unsigned round = 0; round < LIVE_ROUNDS && c->what[0] == '\0';
	     round++)
		live_fanout_round(c, run, tcp, round);
}

/* ---- the table ------------------------------------------------------------------- */

static void echo_live_push(struct torture_case *c)
{
	live_echo(c, push_echo_serve);
}
static void echo_live_poll(struct torture_case *c)
{
	live_echo(c, poll_echo_serve);
}
static void fanout_tcp_live_push(struct torture_case *c)
{
	live_fanout(c, push_fanout_run, true);
}
static void fanout_tcp_live_poll(struct torture_case *c)
{
	live_fanout(c, poll_fanout_run, true);
}
static void fanout_file_live_push(struct torture_case *c)
{
	live_fanout(c, push_fanout_run, false);
}
static void fanout_file_live_poll(struct torture_case *c)
{
	live_fanout(c, poll_fanout_run, false);
}

const struct torture_scenario torture__live_scenarios[] = {
	{ "live-echo", TORTURE_PUSH, TORTURE_FAULTS, 0, echo_live_push },
	{ "live-echo", TORTURE_POLL, TORTURE_FAULTS, 0, echo_live_poll },
	{ "live-tcp-sinks", TORTURE_PUSH, TORTURE_FAULTS, 0,
	  fanout_tcp_live_push },
	{ "live-tcp-sinks", TORTURE_POLL, TORTURE_FAULTS, 0,
	  fanout_tcp_live_poll },
	{ "live-file-sinks", TORTURE_PUSH, TORTURE_FAULTS, 0,
	  fanout_file_live_push },
	{ "live-file-sinks", TORTURE_POLL, TORTURE_FAULTS, 0,
	  fanout_file_live_poll },
	{ NULL, 0, 0, 0, NULL },
};
