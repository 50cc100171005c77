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
 *   live-batch-abort  forced, not left to timing: four TCP subscribers
 *                     stop reading until every sink's socket is full and
 *                     the fanout stalls; then, in one callback, a trigger
 *                     socket is made readable and every subscriber
 *                     drained, so that the next epoll_wait() returns the
 *                     trigger first and the sinks, writable again, after
 *                     it in the same batch; the trigger's callback aborts
 *                     the fanout (every sink cancelled, and a stop) before
 *                     the sinks' events are dispatched
 *   live-job-cancel   forced too: file sinks, whose reads and writes are
 *                     offload jobs; a timer waits, on the loop thread,
 *                     until a job's work has returned and its completion
 *                     is posted (offload_finished()), then aborts the
 *                     fanout in the same loop iteration, so the cancel
 *                     meets a finished job; each job must be delivered or
 *                     discarded exactly once
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
	/* The forced scenarios (live-batch-abort, live-job-cancel). */
	bool hold;                /* subscribers read nothing for now */
	const struct fanout_stats *st;  /* the fanout's, as it runs */
	uint64_t last_read;       /* st->bytes_read at the last look */
	unsigned still;           /* looks since it last moved */
	unsigned drained;         /* subscribers that had unread bytes */
	int trig_in, trig_out;    /* the trigger pair: write out, read in */
	struct reactor_io trig_io;
	bool forced;              /* the moment was reached, not hoped for */
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

/* Read everything p's socket holds, until -EAGAIN (which re-arms its
 * edge) or its end.  Returns the bytes read. */
static size_t live_peer_drain(struct live_peer *p)
{
	struct reactor *r = p->w->r;
	unsigned char scratch[16384];
	size_t total = 0;

	for (;;) {
		ssize_t n = reactor_io_read(r, &p->io, scratch, sizeof(scratch));

		if (n == -EAGAIN)
			return total;
		if (n <= 0) {
			live_peer_finish(p, (int)n);
			return total;
		}
		total += (size_t)n;
		if (p->got + (size_t)n > p->cap) {
			p->overflow = true;
			n = (ssize_t)(p->cap - p->got);
		}
		memcpy(p->in + p->got, scratch, (size_t)n);
		p->got += (size_t)n;
	}
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
	if (!p->w->hold)          /* live-batch-abort: drained all at once */
		live_peer_drain(p);
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
		/* Each job delivered (done) or discarded, once. */
		TT_CHECK(c, c->off.submitted == c->off.completed +
			 c->off.cancelled_queued + c->off.cancelled_running +
			 c->off.cancelled_finished, "live: %llu offload jobs "
			 "submitted, %llu given back", (unsigned long long)
			 c->off.submitted, (unsigned long long)(c->off.completed +
			 c->off.cancelled_queued + c->off.cancelled_running +
			 c->off.cancelled_finished));
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

/* How a fanout round is perturbed: by cancels at random times, or at one
 * of the two moments the forced scenarios arrange. */
enum live_mode { LIVE_RANDOM, LIVE_BATCH_ABORT, LIVE_JOB_CANCEL };

struct live_fanout {
	struct live_world w;
	enum live_mode mode;
	bool tcp;
	unsigned char *input;
	size_t size;
	char dir[64], path[96];
};

static void live_forced_arm(struct live_fanout *lf);

static void live_fanout_listening(void *arg, uint16_t port)
{
	struct live_fanout *lf = arg;

	for (unsigned i = 0; i < LIVE_TCP_SINKS; i++)
		live_peer_connect(&lf->w, i, port, NULL, 0, lf->size + 1);
	if (lf->mode == LIVE_RANDOM)
		live_arm(&lf->w);
	else
		live_forced_arm(lf);
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

/* ---- forced moments -------------------------------------------------------------- */

#define LIVE_LOOK_NS (2 * CLOCK_NS_PER_MS)

/* The whole fanout aborted from inside a batch: every sink cancelled (an
 * idle one ends at once, a busy one's write is cancelled) and a stop
 * requested, before the events after this one are dispatched. */
static void live_abort_all(struct live_world *w)
{
	for (unsigned i = 0; i < w->parts; i++)
		if (workload_cancel_part(i) == 0)
			w->cancelled_parts++;
	w->stopped_early = true;
	reactor_request_stop(w->r);
}

/* live-batch-abort: the trigger's byte arrived, first in its batch. */
static void live_trigger_cb(struct reactor_io *io, unsigned events)
{
	struct live_world *w = container_of(io, struct live_world, trig_io);
	unsigned char b;

	if (!(events & REACTOR_READABLE) ||
	    reactor_read(w->r, w->trig_in, &b, 1) != 1)
		return;
	live_abort_all(w);
}

/* The trigger pair: a loopback connection of the harness's own on the
 * same reactor.  Loopback completes the handshake inside connect(), so
 * the accept waits at most a moment. */
static void live_trigger_open(struct live_world *w)
{
	int lh = reactor_listen(w->r, "127.0.0.1", 0, 1);
	int port = lh >= 0 ? reactor_local_port(w->r, lh) : -1;

	if (port <= 0)
		abort();                 /* the test world itself */
	w->trig_out = reactor_connect(w->r, "127.0.0.1", (uint16_t)port);
	if (w->trig_out < 0)
		abort();
	for (int i = 0; i < 1000; i++) {
		w->trig_in = reactor_accept(w->r, lh);
		if (w->trig_in != -EAGAIN)
			break;
		usleep(1000);
	}
	reactor_close(w->r, lh);
	if (w->trig_in < 0 ||
	    reactor_io_start(w->r, &w->trig_io, w->trig_in, live_trigger_cb) < 0)
		abort();
}

/* live-batch-abort, every LIVE_LOOK_NS: once the fanout has read nothing
 * for ten looks, every sink's socket is full (its subscriber reads
 * nothing).  Then, in this one callback: the trigger's byte is sent, and
 * every subscriber drained, which makes every sink writable again after
 * the trigger is readable; so the next epoll_wait() gives the trigger
 * first and the sinks behind it, in one batch. */
static void live_batch_look(struct reactor_timer *t)
{
	struct live_world *w = container_of(t, struct live_world, timer);
	unsigned char one = 1;

	if (w->st->bytes_read == 0 || w->st->bytes_read != w->last_read) {
		w->last_read = w->st->bytes_read;
		w->still = 0;
	} else if (++w->still >= 10) {
		if (reactor_write(w->r, w->trig_out, &one, 1) != 1)
			return;          /* not forced: live_forced_check says */
		w->hold = false;
		for (unsigned i = 0; i < w->npeers; i++)
			if (!w->peer[i].done && live_peer_drain(&w->peer[i]) > 0)
				w->drained++;
		w->forced = w->drained == w->npeers;
		return;
	}
	reactor_timer_start(w->r, t, LIVE_LOOK_NS, live_batch_look);
}

/* live-job-cancel, at random times: when a job is out, wait here, on the
 * loop thread, until one's work has returned (its completion is posted
 * and cannot be delivered while this callback runs), then abort: the
 * cancels made now, and those the sinks' callbacks make in the next step
 * of the loop, come before the poll that would deliver it. */
static void live_job_look(struct reactor_timer *t)
{
	struct live_world *w = container_of(t, struct live_world, timer);
	uint64_t until = clock_now_ns() + CLOCK_NS_PER_S;

	if (offload_outstanding(w->o) > 0) {
		while (offload_finished(w->o) == 0 && clock_now_ns() < until)
			usleep(20);
		if (offload_finished(w->o) > 0) {
			w->forced = true;
			live_abort_all(w);
			return;
		}
	}
	reactor_timer_start(w->r, t, 20 * CLOCK_NS_PER_US +
			    live_rand(w) % (200 * CLOCK_NS_PER_US),
			    live_job_look);
}

static void live_forced_arm(struct live_fanout *lf)
{
	struct live_world *w = &lf->w;

	w->cancels_left = 0;
	w->stop_at_random = false;
	if (lf->mode == LIVE_BATCH_ABORT) {
		w->hold = true;
		live_trigger_open(w);
		reactor_timer_start(w->r, &w->timer, LIVE_LOOK_NS,
				    live_batch_look);
	} else {
		reactor_timer_start(w->r, &w->timer, 100 * CLOCK_NS_PER_US +
				    live_rand(w) % (2000 * CLOCK_NS_PER_US),
				    live_job_look);
	}
}

static void live_forced_close(struct live_fanout *lf)
{
	struct live_world *w = &lf->w;

	w->hold = false;
	if (w->trig_in >= 0) {
		reactor_io_stop(w->r, &w->trig_io);
		reactor_close(w->r, w->trig_in);
	}
	if (w->trig_out >= 0)
		reactor_close(w->r, w->trig_out);
	w->trig_in = w->trig_out = -1;
}

/* The moment was reached (else the scenario proves nothing: a violation
 * of the harness, named as such), and for a job cancel, met a finished
 * job.  The rest (each sink ended once, no byte lost, every job given
 * back once, the heap back) the round checks as for every live fanout,
 * and a use after free is the sanitizer build's to report. */
static void live_forced_check(struct live_fanout *lf)
{
	struct torture_case *c = lf->w.c;

	if (lf->mode == LIVE_BATCH_ABORT)
		TT_CHECK(c, lf->w.forced, "live-batch-abort: harness: %u of "
			 "%u subscribers had bytes waiting when the fanout "
			 "stalled (the batch was not forced)", lf->w.drained,
			 lf->w.npeers);
	if (lf->mode == LIVE_JOB_CANCEL) {
		TT_CHECK(c, lf->w.forced, "live-job-cancel: harness: no job "
			 "finished while one was out (not forced)");
		TT_CHECK(c, !lf->w.forced || c->off.cancelled_finished > 0,
			 "live-job-cancel: the abort met no finished job "
			 "(%llu delivered, %llu cancelled running)",
			 (unsigned long long)c->off.completed,
			 (unsigned long long)c->off.cancelled_running);
	}
}

static void live_fanout_round(struct torture_case *c, fanout_run_fn run,
			      bool tcp, enum live_mode mode, unsigned round)
{
	struct live_fanout lf;
	struct fanout_opts opts;
	struct fanout_stats st;
	struct fanout_sink_stats sink[LIVE_TCP_SINKS];
	char out[128];
	FILE *f;
	int rc;

	live_open(&lf.w, c, round, true);
	lf.mode = mode;
	lf.tcp = tcp;
	lf.w.parts = tcp ? LIVE_TCP_SINKS : LIVE_FILE_SINKS;
	lf.size = 200 * 1024 + (size_t)(live_rand(&lf.w) % (200 * 1024));
	if (mode == LIVE_BATCH_ABORT)   /* more than the sockets hold */
		lf.size += 8 * 1024 * 1024;
	if (mode == LIVE_JOB_CANCEL)    /* longer than the timer's wait */
		lf.size += 4 * 1024 * 1024;
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
	lf.w.st = &st;
	lf.w.trig_in = lf.w.trig_out = -1;
	if (!tcp && mode == LIVE_RANDOM)
		live_arm(&lf.w);
	else if (!tcp)
		live_forced_arm(&lf);

	rc = run(lf.w.r, lf.w.o, &opts, &st);
	reactor_timer_stop(lf.w.r, &lf.w.timer);
	live_forced_close(&lf);
	live_close(&lf.w);      /* the subscribers see their ends first */
	live_fanout_check(&lf, rc, &opts, sink);
	live_forced_check(&lf);
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
		live_fanout_round(c, run, tcp, LIVE_RANDOM, round);
}

/* The forced scenarios: fewer rounds, each reaching its moment. */
#define LIVE_FORCED_ROUNDS 3

static void live_forced(struct torture_case *c, fanout_run_fn run,
			enum live_mode mode)
{
	for (unsigned round = 0;
	     round < LIVE_FORCED_ROUNDS && c->what[0] == '\0'; round++)
		live_fanout_round(c, run, mode == LIVE_BATCH_ABORT, mode, round);
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
static void batch_abort_live_push(struct torture_case *c)
{
	live_forced(c, push_fanout_run, LIVE_BATCH_ABORT);
}
static void batch_abort_live_poll(struct torture_case *c)
{
	live_forced(c, poll_fanout_run, LIVE_BATCH_ABORT);
}
static void job_cancel_live_push(struct torture_case *c)
{
	live_forced(c, push_fanout_run, LIVE_JOB_CANCEL);
}
static void job_cancel_live_poll(struct torture_case *c)
{
	live_forced(c, poll_fanout_run, LIVE_JOB_CANCEL);
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
	{ "live-batch-abort", TORTURE_PUSH, TORTURE_FAULTS, 0,
	  batch_abort_live_push },
	{ "live-batch-abort", TORTURE_POLL, TORTURE_FAULTS, 0,
	  batch_abort_live_poll },
	{ "live-job-cancel", TORTURE_PUSH, TORTURE_FAULTS, 0,
	  job_cancel_live_push },
	{ "live-job-cancel", TORTURE_POLL, TORTURE_FAULTS, 0,
	  job_cancel_live_poll },
	{ NULL, 0, 0, 0, NULL },
};
