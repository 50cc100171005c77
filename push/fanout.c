/* fanout.c: the fanout workload in the push engine.
 *
 * One input file delivered, chunk by chunk and in order, to N sinks (files
 * written through offload, or TCP subscribers).  The pieces:
 *
 *   the reader   reads the next chunk through offload whenever fewer than
 *                `window` chunks are in memory; one read at a time.
 *   a chunk      one push_buf, read once and hashed once (the checksum
 *                every sink's own is folded from, workload.h), shared by
 *                every sink: each sink's write takes a reference for as
 *                long as the offload pool has its job, never a copy.  A chunk is "taken" by a
 *                sink once the sink's write of it completed; when every live
 *                sink has taken it, it is freed and the window moves on.
 *   a sink       writes chunk after chunk, each write under push_timeout()
 *                when sink_timeout_ns is set: a sink that does not take a
 *                chunk in time is cancelled (-ETIMEDOUT) and releases its
 *                hold on every chunk, so the others go on.
 *
 * Chunks are taken in order by every sink, so they are freed in order: the
 * chunks in memory are always the ring slots first .. next_read-1 (plus the
 * one being read).  A cancelled write's job may still hold its chunk's
 * buffer after the fanout let go of it (the job owns its buffer until it
 * returns, claim C6); peak_chunks counts the chunks the fanout holds.
 *
 * Cancellation: every operation runs under the fanout's token (a sink's
 * writes under the sink's own child of it, so that one sink can be
 * cancelled alone), so a stop request (or an input error) is one
 * push_token_cancel(): the pending
 * read, the writes and the accept call back with -ECANCELED, each sink ends
 * with the reason recorded in f->error, and the loop runs until the pool
 * has given every cancelled job back.
 *
 * Memory: one block for the sinks and the ring; per chunk a buffer and a
 * read request; per chunk and sink a write request, and with a timeout a
 * timeout request and its state.
 *
 * The same functions, in the same order, as poll/fanout.c: the fanout, a
 * sink starts, the read step, the write step, close, accept, shutdown, the
 * entry point.
 */
#include "push_impl.h"
#include "mem.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define FANOUT_BACKLOG 128

/* ---- the fanout -------------------------------------------------------------- */

struct fanout_chunk {
	struct push_buf *buf;     /* NULL: the slot is free */
	uint64_t offset;          /* in the input, and in every output */
	size_t len;               /* bytes read */
	uint64_t checksum;        /* of those bytes, computed once when read */
	unsigned takers;          /* live sinks that have not taken it */
};

struct fanout;

struct fanout_sink {
	struct fanout *f;
	struct fanout_sink_stats *st;
	int file;                 /* FANOUT_SINK_FILE: the output's handle */
	struct push_stream stream; /* FANOUT_SINK_TCP: the subscriber */
	unsigned next;            /* the next chunk to take */
	bool busy;                /* a write is pending */
	bool done;                /* finished or cancelled: st->error says */
	struct push_token token;  /* its writes; a child of the fanout's */
};

struct fanout {
	struct push_loop *loop;
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	int input;
	uint64_t size;            /* of the input */
	uint64_t read_offset;     /* where the next read starts */
	bool reading;             /* a read is pending */
	bool read_done;           /* the whole input has been read */
	/* Chunk i lives in ring[i % window]; chunks first..next_read-1 are
	 * read, next_read is being read when `reading`. */
	struct fanout_chunk *ring;
	unsigned first, next_read;
	unsigned live;            /* chunks in memory, the one being read included */
	struct fanout_sink *sink; /* opts->sinks of them */
	unsigned sinks_live;      /* not done */
	struct push_stream listener;  /* FANOUT_SINK_TCP */
	unsigned subscribers;     /* TCP sinks connected so far */
	struct push_token token;  /* every operation of the fanout */
	int error;                /* why it was aborted, 0 if it was not */
};

static void fanout_read_next(struct fanout *f);
static void sink_write(struct fanout_sink *s);
static void sink_finish(struct fanout_sink *s, int error);
static void fanout_abort(struct fanout *f, int error);

static struct fanout_chunk *chunk_at(struct fanout *f, unsigned i)
{
	return &f->ring[i % f->opts->window];
}

/* One live sink fewer needs chunk i (it took it, or it is gone).  Chunks
 * are released in order, so the last release of the oldest chunk frees a
 * ring slot and the reader may go on. */
static void chunk_release(struct fanout *f, unsigned i)
{
	struct fanout_chunk *ch = chunk_at(f, i);

	if (--ch->takers > 0)
		return;
	push_buf_unref(ch->buf);
	ch->buf = NULL;
	f->first++;
	f->live--;
	fanout_read_next(f);
}

/* ---- a sink starts ----------------------------------------------------------- */

/* FANOUT_SINK_FILE: create output_dir/sink-<i>.  Opening is one blocking
 * call per sink, made once before the loop starts. */
static int sink_open_file(struct fanout *f, struct fanout_sink *s, unsigned i)
{
	struct reactor *r = f->loop->r;
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/sink-%u", f->opts->output_dir,
			 i);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	s->file = reactor_file_open(r, path, O_WRONLY | O_CREAT | O_TRUNC,
				    0644);
	return s->file < 0 ? s->file : 0;
}

/* A sink is ready for the chunk after the one it took: write it if it has
 * been read, finish if there is none, else wait for the reader. */
static void sink_continue(struct fanout_sink *s)
{
	struct fanout *f = s->f;

	/* Letting go of its chunk may have let the reader start the next one
	 * and fail (out of memory): that abort ended s already. */
	if (s->done)
		return;
	/* Aborted while the write that just completed was queued (its
	 * completion won over the cancel, R5): no chunk will come. */
	if (f->error != 0)
		sink_finish(s, f->error);
	else if (s->next < f->next_read)
		sink_write(s);
	else if (f->read_done)
		sink_finish(s, 0);
}

/* ---- the read step ------------------------------------------------------------- */

static void fanout_on_read(void *data, ssize_t n);

/* doc:begin fanout-read */
/* Read the next chunk if there is room in the window and someone to take
 * it. */
static void fanout_read_next(struct fanout *f)
{
	const struct fanout_opts *o = f->opts;
	struct fanout_chunk *ch;
	int rc;

	if (f->reading || f->read_done || f->error != 0 || f->sinks_live == 0)
		return;
	if (f->live == o->window)
		return;
	ch = chunk_at(f, f->next_read);
	ch->buf = push_buf_new(o->chunk_size);
	if (ch->buf == NULL) {
		fanout_abort(f, -ENOMEM);
		return;
	}
	ch->offset = f->read_offset;
	ch->len = 0;
	ch->takers = 0;
	f->live++;
	if (f->live > f->stats->peak_chunks)
		f->stats->peak_chunks = f->live;
	f->reading = true;
	rc = push_file_read(f->loop, f->input, ch->buf, ch->offset, &f->token,
			    fanout_on_read, f, NULL);
	if (rc < 0) {
		f->reading = false;
		f->live--;
		push_buf_unref(ch->buf);
		ch->buf = NULL;
		fanout_abort(f, rc);
	}
}

/* The end of the input: every sink that has taken every chunk is done. */
static void fanout_read_end(struct fanout *f)
{
	f->read_done = true;
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct fanout_sink *s = &f->sink[i];
		if (!s->done && !s->busy && s->next == f->next_read)
			sink_finish(s, 0);
	}
}

/* A chunk was read (n > 0), or the input ended early (0), or the read
 * failed or was cancelled (< 0).  The read's own reference on the buffer
 * stays with the offload job until the pool gives it back. */
static void fanout_on_read(void *data, ssize_t n)
{
	struct fanout *f = data;
	struct fanout_chunk *ch = chunk_at(f, f->next_read);

	push__callback_begins();        /* R2, counted */
	f->reading = false;
	if (n <= 0) {
		push_buf_unref(ch->buf);
		ch->buf = NULL;
		f->live--;
		if (n == 0)
			fanout_read_end(f);     /* the file shrank */
		else if (f->error == 0)
			fanout_abort(f, (int)n);
		return;
	}
	if (f->sinks_live == 0) {
		/* Every sink ended while it was read (the completion won
		 * against the cancel): nobody takes it. */
		push_buf_unref(ch->buf);
		ch->buf = NULL;
		f->live--;
		return;
	}
	ch->len = (size_t)n;
	ch->checksum = workload_chunk_checksum(ch->buf->data, ch->len);
	ch->takers = f->sinks_live;
	f->read_offset += (uint64_t)n;
	f->stats->bytes_read += (uint64_t)n;
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   ch->checksum);
	f->stats->chunks_read++;
	f->next_read++;
	/* Hand it to every sink that was waiting for it.  A write that cannot
	 * start ends its sink, which releases the chunk: the loop must not
	 * touch ch afterwards. */
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct fanout_sink *s = &f->sink[i];
		if (!s->done && !s->busy && s->next == f->next_read - 1)
			sink_write(s);
	}
	if (f->read_offset >= f->size)
		fanout_read_end(f);
	else
		fanout_read_next(f);
}
/* doc:end fanout-read */

/* ---- the write step -------------------------------------------------------------- */

static void sink_on_written(void *data, ssize_t n);

/* doc:begin fanout-write */
/* Start the write of s's next chunk: a push_start_fn, so that push_timeout
 * can start it. */
static int sink_start_write(struct push_loop *l, void *arg,
			    struct push_token *tok, push_cb cb, void *data)
{
	struct fanout_sink *s = arg;
	struct fanout_chunk *ch = chunk_at(s->f, s->next);

	if (s->f->opts->kind == FANOUT_SINK_FILE)
		return push_file_write(l, s->file, ch->buf, ch->offset, tok,
				       cb, data, NULL);
	return push_write(l, &s->stream, ch->buf->data, ch->len, tok, cb, data,
			  NULL, NULL);
}

static void sink_write(struct fanout_sink *s)
{
	struct fanout *f = s->f;
	uint64_t ns = f->opts->sink_timeout_ns;
	int rc;

	s->busy = true;
	if (ns > 0)
		rc = push_timeout(f->loop, ns, sink_start_write, s, &s->token,
				  sink_on_written, s, NULL);
	else
		rc = sink_start_write(f->loop, s, &s->token, sink_on_written, s);
	if (rc < 0) {
		s->busy = false;
		sink_finish(s, f->error != 0 ? f->error : rc);
	}
}

/* The write of chunk s->next completed (n = its length), or timed out
 * (-ETIMEDOUT), or was cancelled by an abort, or failed. */
static void sink_on_written(void *data, ssize_t n)
{
	struct fanout_sink *s = data;
	struct fanout *f = s->f;
	struct fanout_chunk *ch = chunk_at(f, s->next);

	push__callback_begins();        /* R2, counted */
	s->busy = false;
	if (n < 0) {
		sink_finish(s, f->error != 0 && n == -ECANCELED ? f->error
								 : (int)n);
		return;
	}
	s->st->bytes += ch->len;
	s->st->checksum = workload_checksum_add(s->st->checksum, ch->checksum);
	s->next++;
	chunk_release(f, s->next - 1);
	sink_continue(s);
}
/* doc:end fanout-write */

/* ---- close ------------------------------------------------------------------------- */

/* doc:begin fanout-close */
/* s ends: error 0 when it took every chunk.  Called with no write of s
 * pending.  It lets go of every chunk it had not taken; a TCP subscriber's
 * connection closes (a file sink is closed by the entry point). */
static void sink_finish(struct fanout_sink *s, int error)
{
	struct fanout *f = s->f;

	assert(!s->done && "a sink ends once: its chunks are let go of once");
	s->done = true;
	s->st->error = error;
	f->sinks_live--;
	push_stream_close(&s->stream);
	for (unsigned i = s->next; i < f->next_read; i++)
		chunk_release(f, i);
	/* Nobody left: a read still pending is for nothing. */
	if (f->sinks_live == 0 && f->reading)
		push_token_cancel(&f->token);
}
/* doc:end fanout-close */

/* ---- accept (FANOUT_SINK_TCP) ------------------------------------------------------ */

static void fanout_on_accept(void *data, ssize_t h);

static void fanout_accept(struct fanout *f)
{
	int rc = push_accept(f->loop, &f->listener, &f->token,
			     fanout_on_accept, f, NULL, NULL);

	if (rc < 0) {
		push_stream_close(&f->listener);
		fanout_abort(f, rc);
	}
}

/* Subscriber number f->subscribers connected.  Once all have, the listener
 * closes and the streaming starts. */
static void fanout_on_accept(void *data, ssize_t h)
{
	struct fanout *f = data;
	struct fanout_sink *s;

	push__callback_begins();        /* R2, counted */
	if (h < 0) {
		if (h == -ECANCELED || f->error != 0) {
			push_stream_close(&f->listener);
			return;
		}
		if (reactor_accept_error_is_fatal(h)) {
			push_stream_close(&f->listener);
			fanout_abort(f, (int)h);
			return;
		}
		fanout_accept(f);       /* -EMFILE...: the next one may do */
		return;
	}
	s = &f->sink[f->subscribers];
	if (f->error != 0 || push_stream_open(f->loop, &s->stream, (int)h) < 0) {
		reactor_close(f->loop->r, (int)h);
		if (f->error == 0)
			fanout_accept(f);
		else
			push_stream_close(&f->listener);
		return;
	}
	if (++f->subscribers < f->opts->sinks) {
		fanout_accept(f);
		return;
	}
	push_stream_close(&f->listener);
	fanout_read_next(f);
}

/* ---- shutdown ---------------------------------------------------------------------- */

/* doc:begin fanout-shutdown */
/* Abort the whole fanout: idle sinks end now with `error`, everything
 * pending is cancelled and ends with it from its callback. */
static void fanout_abort(struct fanout *f, int error)
{
	if (f->error != 0)
		return;
	f->error = error;
	f->stats->error = error;
	for (unsigned i = 0; i < f->opts->sinks; i++) {
		struct fanout_sink *s = &f->sink[i];
		if (!s->done && !s->busy)
			sink_finish(s, error);
	}
	push_token_cancel(&f->token);
}

/* workload_cancel_part(): cancel sink i alone.  A pending write is
 * cancelled through the sink's token and its callback ends the sink; an
 * idle sink ends now.  A TCP sink whose subscriber has not connected yet
 * is not there to cancel. */
static int fanout_cancel_sink(void *arg, unsigned i)
{
	struct fanout *f = arg;
	struct fanout_sink *s;

	if (i >= f->opts->sinks)
		return -ENOENT;
	s = &f->sink[i];
	if (s->done || push_token_cancelled(&s->token) ||
	    (f->opts->kind == FANOUT_SINK_TCP && i >= f->subscribers))
		return -ENOENT;
	push_token_cancel(&s->token);
	if (!s->busy)
		sink_finish(s, -ECANCELED);
	return 0;
}

/* The loop's stop handler: a stop was requested (or, under sim, the world
 * is quiescent with the fanout still waiting, e.g. for subscribers). */
static void fanout_shutdown(void *arg)
{
	fanout_abort(arg, -ECANCELED);
}
/* doc:end fanout-shutdown */

/* ---- the entry point ------------------------------------------------------------- */

static int fanout_open_sinks(struct fanout *f)
{
	const struct fanout_opts *o = f->opts;
	struct reactor *r = f->loop->r;
	int rc;

	if (o->kind == FANOUT_SINK_FILE) {
		for (unsigned i = 0; i < o->sinks; i++) {
			rc = sink_open_file(f, &f->sink[i], i);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	rc = reactor_listen(r, o->host, o->port, FANOUT_BACKLOG);
	if (rc < 0)
		return rc;
	if (push_stream_open(f->loop, &f->listener, rc) < 0) {
		reactor_close(r, rc);
		return -ENOMEM;
	}
	return 0;
}

static void fanout_close_sinks(struct fanout *f)
{
	struct reactor *r = f->loop->r;

	for (unsigned i = 0; i < f->opts->sinks; i++)
		if (f->sink[i].file >= 0)
			reactor_file_close(r, f->sink[i].file);
	push_stream_close(&f->listener);
}

int push_fanout_run(struct reactor *r, struct offload *o,
		    const struct fanout_opts *opts, struct fanout_stats *stats)
{
	struct fanout f = { .opts = opts, .stats = stats };
	struct push_loop loop;
	struct fanout_sink_stats *sink_stats = stats->sink;
	int64_t size;
	int rc;

	memset(stats, 0, sizeof(*stats));
	stats->sink = sink_stats;
	stats->checksum = WORKLOAD_CHECKSUM_INIT;
	stats->sinks = opts->sinks;
	if (o == NULL || opts->chunk_size == 0 || opts->window == 0 ||
	    (opts->sinks > 0 && sink_stats == NULL))
		return -EINVAL;
	for (unsigned i = 0; i < opts->sinks; i++)
		sink_stats[i] = (struct fanout_sink_stats){
			.checksum = WORKLOAD_CHECKSUM_INIT };

	f.input = reactor_file_open(r, opts->input, O_RDONLY, 0);
	if (f.input < 0)
		return f.input;
	size = reactor_file_size(r, f.input);
	if (size < 0) {
		rc = (int)size;
		goto out_close_input;
	}
	f.size = (uint64_t)size;
	push_loop_init(&loop, r, o, NULL);
	f.loop = &loop;
	/* One block: the sinks, then the ring. */
	f.sink = mem_calloc(1, opts->sinks * sizeof(*f.sink) +
			       opts->window * sizeof(*f.ring));
	if (f.sink == NULL) {
		rc = -ENOMEM;
		goto out_fini_loop;
	}
	f.ring = (struct fanout_chunk *)(f.sink + opts->sinks);
	for (unsigned i = 0; i < opts->sinks; i++) {
		f.sink[i].f = &f;
		f.sink[i].st = &sink_stats[i];
		f.sink[i].file = -1;
	}
	f.sinks_live = opts->sinks;
	push_token_init(&f.token, NULL);
	for (unsigned i = 0; i < opts->sinks; i++)
		push_token_init(&f.sink[i].token, &f.token);
	rc = fanout_open_sinks(&f);
	if (rc < 0)
		goto out_close_sinks;
	push_loop_on_stop(f.loop, fanout_shutdown, &f);
	workload_probe_publish(fanout_cancel_sink, &f);

	if (opts->kind == FANOUT_SINK_TCP) {
		if (opts->on_listening != NULL)
			opts->on_listening(opts->arg, (uint16_t)reactor_local_port(
						   r, f.listener.handle));
		if (opts->sinks > 0)
			fanout_accept(&f);
	} else if (f.size == 0) {
		fanout_read_end(&f);
	} else {
		fanout_read_next(&f);
	}
	rc = push_loop_run(f.loop);
	if (rc < 0 && f.error == 0) {
		/* The reactor failed: abort, and free what we can. */
		fanout_abort(&f, rc);
		push_loop_run(f.loop);
	}
	rc = rc < 0 ? rc : 0;

out_close_sinks:
	workload_probe_clear(&f);
	fanout_close_sinks(&f);
	for (unsigned i = 0; i < opts->sinks; i++)
		push_token_destroy(&f.sink[i].token);
	push_token_destroy(&f.token);
	mem_free(f.sink);
out_fini_loop:
	push_loop_fini(f.loop);
out_close_input:
	reactor_file_close(r, f.input);
	return rc;
}
