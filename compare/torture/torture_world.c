/* torture_world.c: the simulated world of the harness, and the two
 * workloads of workload.h run in it, for either engine, with their checks.
 *
 * A world is a simulated reactor with an offload pool, a memory baseline
 * taken before either exists, and a step hook that cancels the case's
 * target just before its step.  The workloads are the engines' own entry
 * points (push_echo_serve, poll_fanout_run...), unchanged: the harness
 * reaches inside them only through the workload probe (workload.h), to
 * cancel one connection or one sink.
 *
 * What is checked after each run, beyond what the driver sees (a crash, a
 * sanitizer report, an abort from mem_free or an engine assertion):
 *
 *   echo    every peer saw its connection end (nothing left registered or
 *           open); what each received is a prefix of what it sent; the
 *           peers received at least every byte the server counts as echoed;
 *           the connection accounts add up; and the connections that were
 *           not cancelled, and did not lose the allocation that failed,
 *           were served in full.
 *   fanout  every sink's output (a peer's stream, or a file) is a prefix of
 *           the input and holds at least the bytes the sink counts as
 *           delivered, with the right checksum; a sink that reports success
 *           got everything; cancelling one sink fails no other; at most
 *           `window` chunks were in memory.
 *   both    the pool has every job back, and live blocks and bytes are
 *           back to the baseline once the world is freed.
 */
#include "torture_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "poll.h"
#include "push.h"

/* ---- data ---------------------------------------------------------------------- */

/* A cheap hash of (seed, id, k): streams differ from each other and from
 * shifted copies of themselves, so a lost, duplicated or reordered byte
 * shows in a comparison. */
unsigned char tt_pattern(uint64_t seed, unsigned id, size_t k)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + id * 0xbf58476d1ce4e5b9ull +
		     (uint64_t)k * 0x94d049bb133111ebull;

	x ^= x >> 31;
	x *= 0xd6e8feb86659fd93ull;
	return (unsigned char)(x >> 56);
}

void tt_fill(unsigned char *p, size_t n, uint64_t seed, unsigned id)
{
	for (size_t k = 0; k < n; k++)
		p[k] = tt_pattern(seed, id, k);
}

/* ---- the world ------------------------------------------------------------------ */

/* Run at the case's step: cancel the target, then watch for a runaway. */
static void tt_guard(void *arg);

static void tt_hook(void *arg)
{
	struct tt_sim *w = arg;

	w->c->cancelled = w->cancel != NULL &&
			  w->cancel(w->cancel_arg, w->c->target);
	reactor_async_send(&w->wake);
	if (w->c->step_limit > sim_steps(w->r))
		sim_at_step(w->r, w->c->step_limit, tt_guard, w);
}

/* More steps than the limit: the run would go on for ever (an engine
 * that keeps waking itself, a connection that never ends).  Report it and
 * ask for a stop; the driver's alarm ends what a stop cannot. */
static void tt_guard(void *arg)
{
	struct tt_sim *w = arg;

	torture__fail(w->c, "runaway: more than %llu steps",
		      (unsigned long long)w->c->step_limit);
	reactor_request_stop(w->r);
}

/* The wake's callback: the poll it ended was the point. */
static void tt_woken(struct reactor_async *a)
{
	(void)a;
}

void tt_sim_open(struct tt_sim *w, struct torture_case *c,
		 const struct sim_config *cfg)
{
	struct sim_config def, fuzzed;

	memset(w, 0, sizeof(*w));
	w->c = c;
	mem_fail_nth(0);
	mem_stats_get(&w->base);
	if (cfg == NULL) {
		sim_config_default(&def, c->seed);
		def.short_io = 200;
		def.eagain = 100;
		def.delay = 100;
		/* Even seeds deliver events in batches, as epoll does: an edge
		 * and an expired timer in one poll, a completion queued when
		 * the deadline fires. */
		def.batch = c->seed % 2 == 0 ? 500 : 0;
		cfg = &def;
	} else if (cfg->batch == 0 && c->seed % 2 == 0) {
		/* A scenario's own world batches on even seeds too. */
		def = *cfg;
		def.batch = 500;
		cfg = &def;
	}
	if (torture__fuzz != NULL) {
		const struct tt_fuzz *f = torture__fuzz;

		fuzzed = *cfg;
		fuzzed.short_io = f->short_io;
		fuzzed.eagain = f->eagain;
		fuzzed.delay = f->delay;
		fuzzed.batch = f->batch;
		if (cfg->reset > 0)
			fuzzed.reset = f->reset;
		if (cfg->early_eof > 0)
			fuzzed.early_eof = f->early_eof;
		fuzzed.max_delay_ns = f->max_delay_ns;
		fuzzed.choices = f->choices;
		fuzzed.nchoices = f->nchoices;
		cfg = &fuzzed;
	}
	w->r = reactor_new_sim(cfg);
	if (w->r == NULL)
		abort();                 /* the test world itself: not a finding */
	if (torture__trace != NULL)
		sim_trace_to(w->r, torture__trace);
	w->o = offload_new(w->r, 1);
	if (w->o == NULL)
		abort();
	reactor_async_start(w->r, &w->wake, tt_woken);
}

void tt_sim_arm(struct tt_sim *w)
{
	struct mem_stats m;

	if (w->c->cancel_step > 0)
		sim_at_step(w->r, w->c->cancel_step, tt_hook, w);
	else if (w->c->step_limit > 0)
		sim_at_step(w->r, w->c->step_limit, tt_guard, w);
	mem_stats_get(&m);
	w->allocs0 = m.allocs;
	if (w->c->fail_nth > 0)
		mem_fail_nth(w->c->fail_nth);
}

/* A world that still runs past the case's step limit after the engine is
 * done never ends: a hang, reported at once rather than after the drain's
 * bound of polls or the driver's alarm. */
static bool tt_sim_hung(struct tt_sim *w, const char *where)
{
	if (w->c->step_limit == 0 || sim_steps(w->r) <= w->c->step_limit)
		return false;
	torture__fail(w->c, "hang: the world still runs after %llu steps "
		      "(%s)", (unsigned long long)w->c->step_limit, where);
	return true;
}

void tt_sim_drain(struct tt_sim *w)
{
	w->cancel = NULL;       /* the run is over: nothing left to cancel */
	for (int i = 0; i < 1000000; i++)
		if (reactor_poll(w->r, -1) < 0 || tt_sim_hung(w, "the drain"))
			break;
}

void tt_sim_close(struct tt_sim *w)
{
	struct torture_case *c = w->c;
	struct mem_stats m;
	unsigned left = offload_outstanding(w->o);

	mem_fail_nth(0);
	mem_stats_get(&m);
	c->allocs = m.allocs - w->allocs0;
	c->steps = sim_steps(w->r);
	offload_stats_get(w->o, &c->off);
	TT_CHECK(c, left == 0, "%u offload jobs never given back", left);
	if (left == 0)
		offload_free(w->o);      /* else it would assert: leak it */
	reactor_async_stop(w->r, &w->wake);
	reactor_free(w->r);
	mem_stats_get(&m);
	TT_CHECK(c, m.live_blocks == w->base.live_blocks &&
		    m.live_bytes == w->base.live_bytes,
		 "leak: %lld blocks, %lld bytes still live after the run",
		 (long long)(m.live_blocks - w->base.live_blocks),
		 (long long)(m.live_bytes - w->base.live_bytes));
}

ssize_t tt_sim_read_all(struct tt_sim *w, int h, unsigned char *buf,
			size_t cap)
{
	size_t len = 0;

	w->cancel = NULL;       /* the run is over: nothing left to cancel */
	for (int i = 0; i < 100000; i++) {
		unsigned char scratch[1];
		ssize_t n = reactor_read(w->r, h, len < cap ? buf + len : scratch,
					 len < cap ? cap - len : 1);
		if (n == 0)
			return (ssize_t)len;
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n != -EAGAIN || reactor_poll(w->r, -1) < 0)
			return n == -EAGAIN ? -EDEADLK : n;
		if (tt_sim_hung(w, "reading what is left"))
			return -ELOOP;
	}
	return -ELOOP;
}

/* Did the case's injected allocation failure fire? */
static bool tt_failure_fired(const struct tt_sim *w)
{
	struct mem_stats m;

	mem_stats_get(&m);
	return m.failed > w->base.failed;
}

/* The cancel of a workload: the whole of it is a stop request (the same
 * path as SIGTERM for the command), a part goes through the probe. */
static bool workload_cancel(void *arg, unsigned t)
{
	struct tt_sim *w = arg;

	if (t == 0) {
		reactor_request_stop(w->r);
		return true;
	}
	return workload_cancel_part(t - 1) == 0;
}

/* ---- echo -------------------------------------------------------------------------- */

#define ECHO_MAX_PEERS 8

/* The echo variants: the engine's defaults; its tuned settings (push:
 * pooled requests and the synchronous fast path; poll: static task slots
 * and a small cooperative budget); or a faulty world whose peers reset
 * and half-close early by themselves. */
enum echo_variant { ECHO_PLAIN, ECHO_TUNED, ECHO_FAULTY };

struct echo_world {
	struct tt_sim w;
	enum echo_variant variant;
	const struct echo_stats *st;  /* the server's, counted as it runs */
	bool stopped;                 /* the case's cancel was a whole stop */
	uint64_t ended_at_stop;       /* closed, timed out or failed by then */
	uint64_t done_at_stop;        /* peers that had sent all or reset */
	unsigned npeers;
	struct sim_peer *peer[ECHO_MAX_PEERS];
	unsigned char *script[ECHO_MAX_PEERS];
	size_t len[ECHO_MAX_PEERS];
};

static void echo_connect_peers(void *arg, uint16_t port)
{
	struct echo_world *ew = arg;

	for (unsigned i = 0; i < ew->npeers; i++)
		ew->peer[i] = sim_peer_connect(ew->w.r, port, ew->script[i],
					       ew->len[i], SIM_PEER_HALF_CLOSE);
}

/* The echo cancel.  A whole stop also takes note of the connections that
 * had ended by then, and of the peers that had sent all they had (or
 * reset): every connection open at the stop must end as cancelled, but
 * for one whose end was already on its way (its peer's end of stream or
 * reset, which a completion queued before the stop keeps).  A stop that
 * does not reach a connection lets it finish by itself. */
static bool echo_cancel(void *arg, unsigned t)
{
	struct echo_world *ew = arg;
	const struct echo_stats *st = ew->st;

	if (t == 0) {
		ew->stopped = true;
		ew->ended_at_stop = st->closed + st->timed_out + st->failed;
		for (unsigned i = 0; i < ew->npeers; i++)
			ew->done_at_stop += ew->peer[i] != NULL &&
				(sim_peer_sent(ew->peer[i]) == ew->len[i] ||
				 sim_peer_error(ew->peer[i]) != 0);
	}
	return workload_cancel(&ew->w, t);
}

static void echo_check(struct echo_world *ew, int rc,
		       const struct echo_stats *st)
{
	struct torture_case *c = ew->w.c;
	bool failed = tt_failure_fired(&ew->w);
	uint64_t sum = 0;
	unsigned complete = 0, clean = 0, clean_whole = 0;

	TT_CHECK(c, rc == 0 || (failed && rc == -ENOMEM),
		 "echo: the server returned %d", rc);
	for (unsigned i = 0; i < ew->npeers; i++) {
		struct sim_peer *p = ew->peer[i];
		size_t got, sent;
		const unsigned char *back;

		if (p == NULL)
			continue;
		sent = sim_peer_sent(p);
		back = sim_peer_received(p, &got);
		TT_CHECK(c, sim_peer_finished(p),
			 "echo: peer %u never saw its connection end (left "
			 "open or registered)", i);
		TT_CHECK(c, got <= sent,
			 "echo: peer %u received %zu bytes, more than the %zu "
			 "it sent (a duplicated byte)", i, got, sent);
		TT_CHECK(c, memcmp(back, ew->script[i], got < sent ? got : sent)
			 == 0, "echo: peer %u received bytes that are not a "
			 "prefix of what it sent", i);
		sum += got;
		if (got == ew->len[i] && sim_peer_error(p) == 0)
			complete++;
		if (sim_peer_error(p) == 0) {
			clean++;
			clean_whole += got == sent;
		}
	}
	/* A peer that resets throws away what the server wrote and it had not
	 * read yet (as TCP does), so with faulty peers the server's count is
	 * checked peer by peer: every peer that did not reset got back all
	 * the server took from it (but one cancelled connection and one
	 * that lost the failed allocation: a fuzzed case can have both). */
	if (ew->variant == ECHO_FAULTY) {
		if (rc == 0 && (!c->cancelled || c->target > 0))
			TT_CHECK(c, clean_whole + c->cancelled + failed >= clean,
				 "echo: %u of the %u peers that did not reset "
				 "got back all they sent", clean_whole, clean);
		sum = st->bytes;
	}
	TT_CHECK(c, sum >= st->bytes,
		 "echo: the server counts %llu bytes echoed, the peers "
		 "received %llu (a lost byte)", (unsigned long long)st->bytes,
		 (unsigned long long)sum);
	TT_CHECK(c, st->accepted == st->closed + st->timed_out + st->failed +
		 st->cancelled, "echo: %llu accepted but %llu accounted for",
		 (unsigned long long)st->accepted,
		 (unsigned long long)(st->closed + st->timed_out + st->failed +
				      st->cancelled));
	/* Faulty peers half-close early, unseen from here: the rule is
	 * checked where a peer's end comes only after all it sends. */
	if (ew->stopped && rc == 0 && !failed && ew->variant != ECHO_FAULTY) {
		uint64_t after = st->closed + st->timed_out + st->failed -
				 ew->ended_at_stop;
		uint64_t may = ew->done_at_stop > ew->ended_at_stop ?
			       ew->done_at_stop - ew->ended_at_stop : 0;

		TT_CHECK(c, after <= may, "echo: %llu connections open at "
			 "the stop ended otherwise than cancelled (%llu had "
			 "their end on its way)", (unsigned long long)after,
			 (unsigned long long)may);
	}
	if (rc < 0 || ew->variant == ECHO_FAULTY)
		return;           /* faulty peers end early by themselves */
	/* Who had to be served in full: everyone, but for one connection
	 * cancelled alone or one that lost the failed allocation. */
	if (!c->cancelled && !failed)
		TT_CHECK(c, complete == ew->npeers && st->closed == ew->npeers,
			 "echo: %u of %u peers served in full with nothing "
			 "cancelled", complete, ew->npeers);
	else if ((c->cancelled && c->target > 0 && !failed) ||
		 (!c->cancelled && failed))
		TT_CHECK(c, complete + 1 >= ew->npeers,
			 "echo: %u of %u peers served in full: the server "
			 "did not keep serving the others", complete,
			 ew->npeers);
}

static void echo_run_buffers(struct torture_case *c, echo_serve_fn serve,
			     enum echo_variant v, enum echo_buffers buffers)
{
	struct push_config push_saved = push_config_get();
	struct poll_config poll_saved = poll_config_get();
	struct echo_world ew;
	struct echo_opts opts;
	struct echo_stats st;
	struct sim_config cfg;
	int rc;

	memset(&ew, 0, sizeof(ew));
	ew.variant = v;
	sim_config_faulty(&cfg, c->seed);
	tt_sim_open(&ew.w, c, v == ECHO_FAULTY ? &cfg : NULL);
	if (v == ECHO_TUNED) {
		struct push_config pp = { .pooled = true, .fast_path = true };
		struct poll_config pc = { .budget = 4, .static_tasks = 8 };
		push_config_set(&pp);
		poll_config_set(&pc);
	}
	ew.npeers = c->quick ? 3 : 4;
	for (unsigned i = 0; i < ew.npeers; i++) {
		ew.len[i] = (c->quick ? 700 : 1500) + 211 * i;
		ew.script[i] = malloc(ew.len[i]);
		if (ew.script[i] == NULL)
			abort();
		tt_fill(ew.script[i], ew.len[i], c->seed, i);
	}
	echo_opts_default(&opts);
	opts.bufsize = 512;                     /* several reads a peer */
	opts.buffers = buffers;
	opts.idle_timeout_ns = 10 * CLOCK_NS_PER_S; /* armed, never fires */
	opts.on_listening = echo_connect_peers;
	opts.arg = &ew;
	ew.w.cancel = echo_cancel;
	ew.w.cancel_arg = &ew;
	memset(&st, 0, sizeof(st));
	ew.st = &st;

	tt_sim_arm(&ew.w);
	rc = serve(ew.w.r, ew.w.o, &opts, &st);
	tt_sim_drain(&ew.w);
	echo_check(&ew, rc, &st);

	tt_sim_close(&ew.w);
	for (unsigned i = 0; i < ew.npeers; i++)
		free(ew.script[i]);
	push_config_set(&push_saved);
	poll_config_set(&poll_saved);
}

/* Echo with a read buffer per connection, the default. */
static void echo_run(struct torture_case *c, echo_serve_fn serve,
		     enum echo_variant v)
{
	echo_run_buffers(c, serve, v, ECHO_BUFFERS_CONN);
}

/* The same for the faulty world's echo and the slow subscriber's fanout
 * (torture_impl.h). */
void tt_echo_run_faulty(struct torture_case *c, echo_serve_fn serve)
{
	echo_run(c, serve, ECHO_FAULTY);
}

/* And both with buffers on readiness (the completion entry points' ready
 * mode: a provided ring per loop). */
void tt_echo_run_ready(struct torture_case *c, echo_serve_fn serve)
{
	echo_run_buffers(c, serve, ECHO_PLAIN, ECHO_BUFFERS_READY);
}

void tt_echo_run_ready_faulty(struct torture_case *c, echo_serve_fn serve)
{
	echo_run_buffers(c, serve, ECHO_FAULTY, ECHO_BUFFERS_READY);
}

/* ---- fanout ---------------------------------------------------------------------- */

#define FANOUT_MAX_SINKS 4

/* The fanout variants: TCP subscribers, file sinks, or TCP subscribers of
 * which the first never reads, in streams too small to hold a chunk, so
 * that its sink timeout fires and cancels it while the others go on. */
enum fanout_variant { FANOUT_TCP, FANOUT_FILE, FANOUT_SLOW };

struct fanout_world {
	struct tt_sim w;
	enum fanout_variant variant;
	bool tcp;
	unsigned char *input;
	size_t size;
	struct fanout_opts opts;
	struct fanout_stats st;
	struct fanout_sink_stats sink[FANOUT_MAX_SINKS];
	struct sim_peer *peer[FANOUT_MAX_SINKS];
};

static void fanout_connect_peers(void *arg, uint16_t port)
{
	struct fanout_world *fw = arg;

	for (unsigned i = 0; i < fw->opts.sinks; i++)
		fw->peer[i] = sim_peer_connect(fw->w.r, port, "", 0,
					       fw->variant == FANOUT_SLOW &&
					       i == 0 ? SIM_PEER_NO_READ : 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The output of sink i (file sinks) or of the i-th peer (TCP), as bytes. */
static const unsigned char *fanout_output(struct fanout_world *fw,
					  unsigned i, size_t *len)
{
	char path[32];

	if (fw->tcp) {
		if (fw->peer[i] == NULL)
			return NULL;
		return sim_peer_received(fw->peer[i], len);
	}
	snprintf(path, sizeof(path), "/out/sink-%u", i);
	return sim_file_contents(fw->w.r, path, len);
}

static void fanout_check(struct fanout_world *fw, int rc)
{
	struct torture_case *c = fw->w.c;
	bool failed = tt_failure_fired(&fw->w);
	unsigned n = fw->opts.sinks;
	uint64_t sink_bytes[FANOUT_MAX_SINKS], out_len[FANOUT_MAX_SINKS];
	unsigned timed_out = 0;

	TT_CHECK(c, rc == 0 || (failed && rc == -ENOMEM),
		 "fanout: returned %d", rc);
	if (rc < 0)
		return;
	TT_CHECK(c, fw->st.peak_chunks <= fw->opts.window,
		 "fanout: %u chunks in memory, the window is %u",
		 fw->st.peak_chunks, fw->opts.window);
	TT_CHECK(c, fw->st.bytes_read <= fw->size,
		 "fanout: read %llu bytes of a %zu-byte input",
		 (unsigned long long)fw->st.bytes_read, fw->size);
	TT_CHECK(c, fw->st.bytes_read > fw->size ||
		 fw->st.checksum == workload_checksum(fw->input,
						      fw->st.bytes_read,
						      fw->opts.chunk_size),
		 "fanout: the checksum of the %llu bytes read is not the "
		 "input's", (unsigned long long)fw->st.bytes_read);
	for (unsigned i = 0; i < n; i++) {
		const struct fanout_sink_stats *s = &fw->sink[i];
		const unsigned char *out;
		size_t len = 0;

		sink_bytes[i] = s->bytes;
		TT_CHECK(c, s->bytes <= fw->size &&
			 s->checksum == workload_checksum(
				 fw->input, s->bytes, fw->opts.chunk_size),
			 "fanout: sink %u counts %llu bytes with a checksum "
			 "that is not the input's", i,
			 (unsigned long long)s->bytes);
		TT_CHECK(c, s->error != 0 || s->bytes == fw->size,
			 "fanout: sink %u reports success with %llu of %zu "
			 "bytes", i, (unsigned long long)s->bytes, fw->size);
		if (s->error == -ETIMEDOUT)
			timed_out++;
		if (fw->tcp && fw->peer[i] != NULL)
			TT_CHECK(c, sim_peer_finished(fw->peer[i]),
				 "fanout: subscriber %u never saw its "
				 "connection end", i);
		out = fanout_output(fw, i, &len);
		out_len[i] = out != NULL ? len : 0;
		if (out == NULL)
			continue;
		TT_CHECK(c, len <= fw->size && memcmp(out, fw->input, len) == 0,
			 "fanout: output %u (%zu bytes) is not a prefix of "
			 "the input", i, len);
		if (!fw->tcp)
			TT_CHECK(c, len >= s->bytes,
				 "fanout: sink %u counts %llu bytes delivered, "
				 "its file holds %zu (a lost byte)", i,
				 (unsigned long long)s->bytes, len);
	}
	/* TCP: which peer is which sink is the accept order, which the
	 * harness does not see; the k-th smallest delivery must still fit in
	 * the k-th smallest reception. */
	if (fw->tcp) {
		qsort(sink_bytes, n, sizeof(sink_bytes[0]), cmp_u64);
		qsort(out_len, n, sizeof(out_len[0]), cmp_u64);
		for (unsigned i = 0; i < n; i++)
			TT_CHECK(c, sink_bytes[i] <= out_len[i],
				 "fanout: sinks count more bytes delivered "
				 "than the subscribers received (a lost byte)");
	}
	/* The slow subscriber's sink, and it alone, times out; which sink
	 * it is is the accept order's business.  "Alone" is a rule of time,
	 * and holds in the world the scenario chose; in a fuzzed one
	 * (torture__fuzz) delays and EAGAIN can make a healthy subscriber
	 * slower than the sink timeout too, and then it may time out. */
	if (fw->variant == FANOUT_SLOW)
		TT_CHECK(c, (timed_out <= 1 || torture__fuzz != NULL) &&
			 (c->cancelled || failed || timed_out >= 1),
			 "fanout: %u sinks timed out, the slow one alone "
			 "should", timed_out);
	if (!c->cancelled && !failed) {
		for (unsigned i = 0; i < n; i++)
			TT_CHECK(c, fw->sink[i].error == 0 ||
				 (fw->variant == FANOUT_SLOW &&
				  fw->sink[i].error == -ETIMEDOUT),
				 "fanout: sink %u failed (%d) with nothing "
				 "cancelled", i, fw->sink[i].error);
	} else if (c->cancelled && c->target > 0 && !failed) {
		for (unsigned i = 0; i < n; i++)
			TT_CHECK(c, i == c->target - 1 || fw->sink[i].error == 0 ||
				 (fw->variant == FANOUT_SLOW &&
				  fw->sink[i].error == -ETIMEDOUT),
				 "fanout: cancelling sink %u failed sink %u "
				 "(%d)", c->target - 1, i, fw->sink[i].error);
	}
}

/* Claim C6 over a completion queue: the kernel counted the bytes its file
 * reads read, a read whose cancel lost the race included; what the fanout
 * did not consume of them was read for nothing. */
static void fanout_waste_cq(struct fanout_world *fw,
			    const struct tt_kernel_counts *k)
{
	struct torture_case *c = fw->w.c;

	TT_CHECK(c, k->file_read_bytes >= fw->st.bytes_read,
		 "fanout: consumed %llu bytes of the input, the kernel read "
		 "%llu", (unsigned long long)fw->st.bytes_read,
		 (unsigned long long)k->file_read_bytes);
	c->bytes_read = fw->st.bytes_read;
	if (k->file_read_bytes > fw->st.bytes_read)
		c->bytes_wasted = k->file_read_bytes - fw->st.bytes_read;
}

/* Claim C6: the reads are sequential (one in flight), so a read job whose
 * result was thrown away read the chunk at offset bytes_read: that chunk's
 * size is the work done for nothing.  (TCP sinks only: there every job is
 * a read of the input.)  Over a completion queue (k: the kernel's counts)
 * the kernel counted them. */
static void fanout_waste(struct fanout_world *fw,
			 const struct tt_kernel_counts *k)
{
	struct torture_case *c = fw->w.c;
	struct offload_stats os;
	uint64_t left = fw->size - fw->st.bytes_read, n;

	if (k != NULL) {
		fanout_waste_cq(fw, k);
		return;
	}
	offload_stats_get(fw->w.o, &os);
	n = os.cancelled_running + os.cancelled_finished;
	c->bytes_read = fw->st.bytes_read;
	if (n > 0)
		c->bytes_wasted = n * (left < fw->opts.chunk_size ?
				       left : fw->opts.chunk_size);
}

static void fanout_run(struct torture_case *c, fanout_run_fn run,
		       enum fanout_variant v, tt_kernel_fn kernel)
{
	struct fanout_world fw;
	struct sim_config cfg;
	struct tt_kernel_counts k;
	bool tcp = v != FANOUT_FILE;
	int rc;

	memset(&fw, 0, sizeof(fw));
	sim_config_default(&cfg, c->seed);
	cfg.short_io = 200;
	cfg.eagain = 100;
	cfg.delay = 100;
	cfg.stream_capacity = 700;        /* FANOUT_SLOW: less than a chunk */
	tt_sim_open(&fw.w, c, v == FANOUT_SLOW ? &cfg : NULL);
	fw.variant = v;
	fw.tcp = tcp;
	fw.size = c->input_size > 0 ? c->input_size
		: (c->quick ? 5000 : 16000) + (size_t)(c->seed % 7) * 123;
	fw.input = malloc(fw.size + 1);
	if (fw.input == NULL)
		abort();
	tt_fill(fw.input, fw.size, c->seed, 99);
	if (sim_file_create(fw.w.r, "/input", fw.input, fw.size) < 0)
		abort();
	fanout_opts_default(&fw.opts);
	fw.opts.input = "/input";
	fw.opts.sinks = tcp ? 3 : 2;
	fw.opts.kind = tcp ? FANOUT_SINK_TCP : FANOUT_SINK_FILE;
	fw.opts.output_dir = "/out";
	fw.opts.chunk_size = c->chunk_size > 0 ? c->chunk_size
			     : (c->quick ? 1024 : 2048);
	fw.opts.window = c->quick ? 2 : 3;
	/* Armed and never firing, but for the slow subscriber's. */
	fw.opts.sink_timeout_ns = v == FANOUT_SLOW ? 5 * CLOCK_NS_PER_MS
						   : CLOCK_NS_PER_S;
	fw.opts.on_listening = fanout_connect_peers;
	fw.opts.arg = &fw;
	fw.st.sink = fw.sink;
	fw.w.cancel = workload_cancel;
	fw.w.cancel_arg = &fw.w;

	tt_sim_arm(&fw.w);
	rc = run(fw.w.r, fw.w.o, &fw.opts, &fw.st);
	tt_sim_drain(&fw.w);
	fanout_check(&fw, rc);
	if (kernel != NULL) {
		kernel(&k);
		c->kernel_violations = k.violations;
	}
	if (v == FANOUT_TCP && rc == 0)
		fanout_waste(&fw, kernel != NULL ? &k : NULL);

	tt_sim_close(&fw.w);
	free(fw.input);
}

/* For the scenario files that run these workloads on other entry points
 * (torture_impl.h): echo with a buffer per connection, or with buffers on
 * readiness, in the plain world; fanout to TCP subscribers or to files. */
void tt_echo_run(struct torture_case *c, echo_serve_fn serve)
{
	echo_run(c, serve, ECHO_PLAIN);
}

void tt_fanout_run(struct torture_case *c, fanout_run_fn run, bool tcp,
		   tt_kernel_fn kernel)
{
	fanout_run(c, run, tcp ? FANOUT_TCP : FANOUT_FILE, kernel);
}

/* ---- the table ---------------------------------------------------------------------- */

static void echo_push(struct torture_case *c)
{
	echo_run(c, push_echo_serve, ECHO_PLAIN);
}
static void echo_poll(struct torture_case *c)
{
	echo_run(c, poll_echo_serve, ECHO_PLAIN);
}
static void echo_tuned_push(struct torture_case *c)
{
	echo_run(c, push_echo_serve, ECHO_TUNED);
}
static void echo_tuned_poll(struct torture_case *c)
{
	echo_run(c, poll_echo_serve, ECHO_TUNED);
}
static void echo_faulty_push(struct torture_case *c)
{
	echo_run(c, push_echo_serve, ECHO_FAULTY);
}
static void echo_faulty_poll(struct torture_case *c)
{
	echo_run(c, poll_echo_serve, ECHO_FAULTY);
}
/* Buffers on readiness: the buffer is taken at the edge and given back
 * in the same step or at the write back, so every cancel point between
 * finds the connection holding none, or only its unsent bytes. */
static void echo_ready_push(struct torture_case *c)
{
	echo_run_buffers(c, push_echo_serve, ECHO_PLAIN, ECHO_BUFFERS_READY);
}
static void echo_ready_poll(struct torture_case *c)
{
	echo_run_buffers(c, poll_echo_serve, ECHO_PLAIN, ECHO_BUFFERS_READY);
}
static void echo_ready_faulty_push(struct torture_case *c)
{
	echo_run_buffers(c, push_echo_serve, ECHO_FAULTY, ECHO_BUFFERS_READY);
}
static void echo_ready_faulty_poll(struct torture_case *c)
{
	echo_run_buffers(c, poll_echo_serve, ECHO_FAULTY, ECHO_BUFFERS_READY);
}
static void fanout_tcp_push(struct torture_case *c)
{
	fanout_run(c, push_fanout_run, FANOUT_TCP, NULL);
}
static void fanout_tcp_poll(struct torture_case *c)
{
	fanout_run(c, poll_fanout_run, FANOUT_TCP, NULL);
}
static void fanout_file_push(struct torture_case *c)
{
	fanout_run(c, push_fanout_run, FANOUT_FILE, NULL);
}
static void fanout_file_poll(struct torture_case *c)
{
	fanout_run(c, poll_fanout_run, FANOUT_FILE, NULL);
}
static void fanout_slow_push(struct torture_case *c)
{
	fanout_run(c, push_fanout_run, FANOUT_SLOW, NULL);
}
static void fanout_slow_poll(struct torture_case *c)
{
	fanout_run(c, poll_fanout_run, FANOUT_SLOW, NULL);
}

#define SIM_FAMILIES (TORTURE_CANCEL | TORTURE_ALLOC)

const struct torture_scenario torture__world_scenarios[] = {
	{ "echo", TORTURE_PUSH, SIM_FAMILIES, 2, echo_push },
	{ "echo", TORTURE_POLL, SIM_FAMILIES, 2, echo_poll },
	{ "echo-tuned", TORTURE_PUSH, SIM_FAMILIES, 2, echo_tuned_push },
	{ "echo-tuned", TORTURE_POLL, SIM_FAMILIES, 2, echo_tuned_poll },
	{ "echo-faulty", TORTURE_PUSH, SIM_FAMILIES, 2, echo_faulty_push },
	{ "echo-faulty", TORTURE_POLL, SIM_FAMILIES, 2, echo_faulty_poll },
	{ "echo-ready", TORTURE_PUSH, SIM_FAMILIES, 2, echo_ready_push },
	{ "echo-ready", TORTURE_POLL, SIM_FAMILIES, 2, echo_ready_poll },
	{ "echo-faulty-rdy", TORTURE_PUSH, SIM_FAMILIES, 2,
	  echo_ready_faulty_push },
	{ "echo-faulty-rdy", TORTURE_POLL, SIM_FAMILIES, 2,
	  echo_ready_faulty_poll },
	{ "fanout-tcp", TORTURE_PUSH, SIM_FAMILIES, 2, fanout_tcp_push },
	{ "fanout-tcp", TORTURE_POLL, SIM_FAMILIES, 2, fanout_tcp_poll },
	{ "fanout-file", TORTURE_PUSH, SIM_FAMILIES, 2, fanout_file_push },
	{ "fanout-file", TORTURE_POLL, SIM_FAMILIES, 2, fanout_file_poll },
	{ "fanout-slow", TORTURE_PUSH, SIM_FAMILIES, 2, fanout_slow_push },
	{ "fanout-slow", TORTURE_POLL, SIM_FAMILIES, 2, fanout_slow_poll },
	{ NULL, 0, 0, 0, NULL },
};

/* The slow subscriber's fanout, for the same files (torture_impl.h). */
void tt_fanout_run_slow(struct torture_case *c, fanout_run_fn run)
{
	fanout_run(c, run, FANOUT_SLOW, NULL);
}
