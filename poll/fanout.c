/* fanout.c: the fanout workload in the poll engine.
 *
 * One input file delivered, chunk by chunk and in order, to N sinks (files
 * written through offload, or TCP subscribers).  The whole fanout is ONE
 * future, run by poll_block_on(), and therefore one task:
 *
 *   struct fanout                 the future: accept, then stream
 *     read   poll_file_read       the reader's one read in flight
 *     join   poll_join            of the N sink futures:
 *       sink[i]                   a state machine: wait for a chunk, write it
 *         write  file or stream   the write of the chunk it is taking,
 *         timeout poll_timeout    under a timeout when sink_timeout_ns is set
 *
 * The pieces:
 *   the reader   reads the next chunk through offload whenever fewer than
 *                `window` chunks are in memory; one read at a time.
 *   a chunk      one poll_buf, read once and hashed once (the checksum
 *                every sink's own is folded from, workload.h), shared by
 *                every sink: a file sink's write job takes a reference
 *                for as long as the offload pool has it, a stream sink
 *                writes from it; never a copy.  A chunk is "taken" by a sink once the sink's write
 *                of it completed; when every live sink has taken it, it is
 *                freed and the window moves on.
 *   a sink       writes chunk after chunk, each write under a timeout: a
 *                sink that does not take a chunk in time ends (-ETIMEDOUT)
 *                and lets go of every chunk, so the others go on.
 *
 * The reader and the sinks are siblings in one task.  They still wait for
 * each other the way any futures do, through waker slots: a sink with
 * nothing to write parks the task's waker in `chunk_ready`, the reader with
 * no room in `room`; publishing a chunk or freeing one wakes the task, and
 * the task's next poll goes down the tree again.  The price is the join's:
 * every wake re-polls every unfinished sink, O(N) per wake (claim C2).
 *
 * Cancellation: none of the code above checks for it.  A stop request makes
 * poll_block_on() drop the fanout; the drop drops the read (cancelling its
 * offload job: the job keeps its own reference to the chunk, claim C6) and
 * the join, which drops every sink; each sink records -ECANCELED, drops its
 * write and lets go of its chunks.
 *
 * Memory: one block for the sinks, the ring and the join's child array; per
 * chunk a buffer and a read job; per chunk and file sink a write job.  The
 * futures themselves are in that block or in the fanout: no allocation per
 * await, timeout included.
 *
 * On the multi-threaded executor (poll_fanout_run_workers()) the same
 * future is one task of the workers, polled by one worker, which it does
 * not leave (it is spawned with poll_workers_spawn(), not movable: its
 * chunks' reference counts and waker slots are one thread's); its file
 * jobs go to that worker's offload pool.  `loop` is the loop of the poll
 * in progress, so every leaf it starts is on its worker's reactor.
 *
 * The same functions, in the same order, as push/fanout.c: the fanout, a
 * sink starts, the read step, the write step, close, accept, shutdown, the
 * entry point.
 */
#include "poll_impl.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define FANOUT_BACKLOG 128

/* ---- the fanout -------------------------------------------------------------- */

struct fanout_chunk {
	struct poll_buf *buf;     /* NULL: the slot is free */
	uint64_t offset;          /* in the input, and in every output */
	uint64_t checksum;        /* of its bytes, computed once when read */
	unsigned takers;          /* live sinks that have not taken it */
};

struct fanout;

/* A sink's states (sink_poll):
 *   SINK_WAIT   the chunk it needs next is not read yet
 *   SINK_WRITE  awaiting `writing`: the write of chunk `next`
 *   SINK_DONE   finished or failed; st->error says which; READY */
enum sink_state {
	SINK_WAIT,
	SINK_WRITE,
	SINK_DONE,
};

struct fanout_sink {
	struct poll_future base;
	enum sink_state state;
	struct fanout *f;
	struct fanout_sink_stats *st;
	int file;                 /* FANOUT_SINK_FILE: the output's handle */
	struct poll_stream stream; /* FANOUT_SINK_TCP: the subscriber */
	unsigned next;            /* the next chunk to take */
	union {                   /* the write of chunk `next` */
		struct poll_file_write file;
		struct poll_write stream;
	} write;
	struct poll_timeout timeout;  /* around `write`, if sink_timeout_ns */
	struct poll_future *writing;  /* what SINK_WRITE polls */
	bool cancel;              /* cancel it alone at its next poll */
};

/* The fanout's states (fanout_poll):
 *   FANOUT_ACCEPT  TCP only: accepting the subscribers
 *   FANOUT_STREAM  reading and writing until every sink is done
 *   FANOUT_DONE    every sink is done; READY */
enum fanout_state {
	FANOUT_ACCEPT,
	FANOUT_STREAM,
	FANOUT_DONE,
};

struct fanout {
	struct poll_future base;
	enum fanout_state state;
	struct poll_loop *loop;
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	int input;
	uint64_t size;            /* of the input */
	uint64_t read_offset;     /* where the next read starts */
	bool reading;             /* `read` is in flight */
	bool read_done;           /* the whole input has been read */
	struct poll_file_read read;
	/* Chunk i lives in ring[i % window]; chunks first..next_read-1 are
	 * read, next_read is being read when `reading`. */
	struct fanout_chunk *ring;
	unsigned first, next_read;
	unsigned live;            /* chunks in memory, the one being read included */
	struct fanout_sink *sink; /* opts->sinks of them */
	unsigned sinks_live;      /* not done */
	struct poll_future **sink_child;  /* the join's array */
	struct poll_join join;
	struct poll_waker chunk_ready;    /* sinks waiting for a chunk */
	struct poll_waker room;           /* the reader waiting for room */
	struct poll_stream *listener;     /* FANOUT_SINK_TCP; borrowed */
	int listen_fd;            /* on the workers: the listener's handle,
				   * registered at the first poll; else -1 */
	struct poll_accept accept;
	unsigned subscribers;     /* TCP sinks connected so far */
	int error;                /* why it was aborted, 0 if it was not */
	struct poll_task *task;   /* the task polling it; not counted: set by
				   * each poll, valid while the fanout runs */
};

static void fanout_abort(struct fanout *f, int error);

static struct fanout_chunk *chunk_at(struct fanout *f, unsigned i)
{
	return &f->ring[i % f->opts->window];
}

/* One live sink fewer needs chunk i (it took it, or it is gone).  Chunks
 * are released in order, so the last release of the oldest chunk frees a
 * ring slot, and the reader may go on. */
static void chunk_release(struct fanout *f, unsigned i)
{
	struct fanout_chunk *ch = chunk_at(f, i);

	if (--ch->takers > 0)
		return;
	poll_buf_unref(ch->buf);
	ch->buf = NULL;
	f->first++;
	f->live--;
	poll_waker_wake(&f->room);
}

/* ---- a sink starts ----------------------------------------------------------- */

/* FANOUT_SINK_FILE: create output_dir/sink-<i>.  Opening is one blocking
 * call per sink, made once before the loop starts. */
static int sink_open_file(struct fanout *f, struct fanout_sink *s, unsigned i)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/sink-%u", f->opts->output_dir,
			 i);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	s->file = reactor_file_open(f->loop->r, path,
				    O_WRONLY | O_CREAT | O_TRUNC, 0644);
	return s->file < 0 ? s->file : 0;
}

static const struct poll_future_vt sink_vt;

static void sink_init(struct fanout_sink *s, struct fanout *f,
		      struct fanout_sink_stats *st)
{
	memset(s, 0, sizeof(*s));
	s->base.vt = &sink_vt;
	s->state = SINK_WAIT;
	s->f = f;
	s->st = st;
	s->file = -1;
	s->stream.handle = -1;
}

/* ---- the read step ------------------------------------------------------------- */

/* doc:begin fanout-read */
/* The end of the input: sinks that have taken everything will finish. */
static void fanout_read_end(struct fanout *f)
{
	f->read_done = true;
	poll_waker_wake(&f->chunk_ready);
}

/* The read in flight completed with n: a chunk (n > 0), the input ended
 * early (0), or an error. */
static void fanout_on_read(struct fanout *f, ssize_t n)
{
	struct fanout_chunk *ch = chunk_at(f, f->next_read);

	if (n <= 0 || f->sinks_live == 0) {
		/* Nobody will take it: every sink ended while it was read. */
		poll_buf_unref(ch->buf);
		ch->buf = NULL;
		f->live--;
		if (n == 0)
			fanout_read_end(f);     /* the file shrank */
		else if (n < 0)
			fanout_abort(f, (int)n);
		return;
	}
	ch->checksum = workload_chunk_checksum(ch->buf->data, (size_t)n);
	ch->takers = f->sinks_live;
	f->read_offset += (uint64_t)n;
	f->stats->bytes_read += (uint64_t)n;
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   ch->checksum);
	f->stats->chunks_read++;
	f->next_read++;
	poll_waker_wake(&f->chunk_ready);       /* hand it to the sinks */
	if (f->read_offset >= f->size)
		fanout_read_end(f);
}

/* The reader, as far as it can go in this poll: finish the read in flight,
 * then start the next one if there is room in the window and someone to
 * take it.  A part of fanout_poll, not a future of its own: it shares the
 * fanout's state with the sinks. */
static void fanout_read_step(struct fanout *f, struct poll_cx *cx)
{
	const struct fanout_opts *o = f->opts;
	struct fanout_chunk *ch;

	for (;;) {
		if (f->reading) {
			if (poll_future_poll(&f->read.base, cx) == POLL_PENDING)
				return;
			poll_future_drop(&f->read.base);
			f->reading = false;
			fanout_on_read(f, f->read.base.out);
			continue;
		}
		if (f->read_done || f->error != 0 || f->sinks_live == 0)
			return;
		if (f->live == o->window) {
			poll_waker_set(&f->room, cx);
			return;
		}
		ch = chunk_at(f, f->next_read);
		ch->buf = poll_buf_new(o->chunk_size);
		if (ch->buf == NULL) {
			fanout_abort(f, -ENOMEM);
			return;
		}
		ch->offset = f->read_offset;
		ch->takers = 0;
		f->live++;
		if (f->live > f->stats->peak_chunks)
			f->stats->peak_chunks = f->live;
		poll_file_read_init(&f->read, f->loop, f->input, ch->buf,
				    ch->offset);
		f->reading = true;
	}
}
/* doc:end fanout-read */

/* ---- the write step -------------------------------------------------------------- */

static enum poll_status sink_finish(struct fanout_sink *s, int error);

/* doc:begin fanout-write */
/* Begin SINK_WRITE: the write of chunk s->next, under the timeout if there
 * is one.  The futures are initialised here, inside the poll, because the
 * timeout keeps a pointer to the write (R1 of poll.h). */
static void sink_write(struct fanout_sink *s)
{
	struct fanout *f = s->f;
	struct fanout_chunk *ch = chunk_at(f, s->next);
	uint64_t ns = f->opts->sink_timeout_ns;

	if (f->opts->kind == FANOUT_SINK_FILE) {
		poll_file_write_init(&s->write.file, f->loop, s->file, ch->buf,
				     ch->offset);
		s->writing = &s->write.file.base;
	} else {
		poll_write_init(&s->write.stream, &s->stream, ch->buf->data,
				ch->buf->len);
		s->writing = &s->write.stream.base;
	}
	if (ns > 0) {
		poll_timeout_init(&s->timeout, f->loop, s->writing, ns);
		s->writing = &s->timeout.base;
	}
	s->state = SINK_WRITE;
}

/* The write of chunk s->next completed: the sink has taken it. */
static void sink_on_written(struct fanout_sink *s)
{
	struct fanout *f = s->f;
	struct fanout_chunk *ch = chunk_at(f, s->next);

	s->st->bytes += ch->buf->len;
	s->st->checksum = workload_checksum_add(s->st->checksum, ch->checksum);
	s->next++;
	chunk_release(f, s->next - 1);
	s->state = SINK_WAIT;
}

/* The sink's poll: wait for the next chunk, write it, repeat. */
static enum poll_status sink_poll(struct poll_future *fut, struct poll_cx *cx)
{
	struct fanout_sink *s = (struct fanout_sink *)fut;
	struct fanout *f = s->f;
	ssize_t n;

	for (;;) {
		if (s->state != SINK_DONE && f->error != 0)
			return sink_finish(s, f->error);
		if (s->state != SINK_DONE && s->cancel)
			return sink_finish(s, -ECANCELED);
		switch (s->state) {
		case SINK_WAIT:
			if (s->next < f->next_read) {
				sink_write(s);
				continue;
			}
			if (f->read_done)
				return sink_finish(s, 0);
			poll_waker_set(&f->chunk_ready, cx);
			return POLL_PENDING;

		case SINK_WRITE:
			if (poll_future_poll(s->writing, cx) == POLL_PENDING)
				return POLL_PENDING;
			poll_future_drop(s->writing);
			n = s->writing->out;
			if (n < 0)
				return sink_finish(s, (int)n);
			sink_on_written(s);
			continue;

		case SINK_DONE:
			return POLL_READY;
		}
	}
}
/* doc:end fanout-write */

/* ---- close ------------------------------------------------------------------------- */

/* doc:begin fanout-close */
/* s ends: error 0 when it took every chunk.  It drops the write in flight,
 * lets go of every chunk it had not taken, and a TCP subscriber's
 * connection closes (a file sink is closed by the entry point). */
static enum poll_status sink_finish(struct fanout_sink *s, int error)
{
	struct fanout *f = s->f;

	if (s->state == SINK_WRITE)
		poll_future_drop(s->writing);
	s->state = SINK_DONE;
	s->st->error = error;
	f->sinks_live--;
	poll_stream_close(&s->stream);
	for (unsigned i = s->next; i < f->next_read; i++)
		chunk_release(f, i);
	s->base.out = error;
	return POLL_READY;
}

/* The sink's drop: when the join is done with it, or when the fanout is
 * dropped.  A sink that had not finished is cancelled. */
static void sink_drop(struct poll_future *fut)
{
	struct fanout_sink *s = (struct fanout_sink *)fut;

	if (s->state != SINK_DONE)
		sink_finish(s, s->f->error != 0 ? s->f->error : -ECANCELED);
}
/* doc:end fanout-close */

static const struct poll_future_vt sink_vt = {
	.name = "fanout_sink",
	.poll = sink_poll,
	.drop = sink_drop,
};

/* ---- accept (FANOUT_SINK_TCP) ------------------------------------------------------ */

/* A subscriber connected (h >= 0), or accepting failed.  Once all `sinks`
 * have connected, the streaming starts. */
static void fanout_on_accept(struct fanout *f, ssize_t h)
{
	struct fanout_sink *s;

	if (h < 0) {
		/* -EMFILE...: the next one may do. */
		if (reactor_accept_error_is_fatal(h))
			fanout_abort(f, (int)h);
		return;
	}
	s = &f->sink[f->subscribers];
	if (poll_stream_open(f->loop, &s->stream, (int)h) < 0) {
		reactor_close(f->loop->r, (int)h);
		return;                         /* wait for another */
	}
	if (++f->subscribers == f->opts->sinks)
		f->state = FANOUT_STREAM;
}

/* doc:begin fanout-poll */
/* The fanout's poll: accept the subscribers, then run the reader and the
 * sinks until every sink is done. */
static enum poll_status fanout_poll(struct poll_future *fut,
				    struct poll_cx *cx)
{
	struct fanout *f = (struct fanout *)fut;
	int rc;

	f->task = cx->task;
	f->loop = cx->loop;
	if (f->listen_fd >= 0) {
		/* On the workers: the listener goes to this worker's reactor,
		 * at the first poll. */
		rc = poll_stream_open(cx->loop, f->listener, f->listen_fd);
		if (rc < 0) {
			reactor_close(cx->loop->r, f->listen_fd);
			fanout_abort(f, rc);
		}
		f->listen_fd = -1;
	}
	for (;;) {
		switch (f->state) {
		case FANOUT_ACCEPT:
			if (f->error != 0) {
				f->state = FANOUT_STREAM;
				continue;
			}
			if (poll_future_poll(&f->accept.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			poll_future_drop(&f->accept.base);
			fanout_on_accept(f, f->accept.base.out);
			poll_accept_init(&f->accept, f->listener);
			continue;

		case FANOUT_STREAM:
			fanout_read_step(f, cx);
			if (poll_future_poll(&f->join.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			f->state = FANOUT_DONE;
			f->base.out = 0;
			return POLL_READY;

		case FANOUT_DONE:
			return POLL_READY;
		}
	}
}
/* doc:end fanout-poll */

/* ---- shutdown ---------------------------------------------------------------------- */

/* doc:begin fanout-shutdown */
/* Abort the whole fanout: every sink ends with `error` at its next poll,
 * dropping its write; the reader starts nothing more. */
static void fanout_abort(struct fanout *f, int error)
{
	if (f->error != 0)
		return;
	f->error = error;
	f->stats->error = error;
	poll_waker_wake(&f->chunk_ready);
}

/* The fanout's drop: when it completed, or when poll_block_on() gives up
 * on it (a stop was requested, or under sim the world is quiescent with the
 * fanout still waiting, e.g. for subscribers).  Dropping the join drops
 * every sink (cancelled if not done), which frees every chunk a sink held;
 * dropping the read cancels its job, which keeps its own reference to the
 * chunk being read until the pool discards it. */
static void fanout_shutdown(struct poll_future *fut)
{
	struct fanout *f = (struct fanout *)fut;

	if (f->listener != NULL)
		poll_future_drop(&f->accept.base);
	poll_future_drop(&f->join.base);
	if (f->reading) {
		poll_future_drop(&f->read.base);
		f->reading = false;
		fanout_on_read(f, 0);           /* the fanout's reference goes */
	}
	poll_waker_drop(&f->chunk_ready);
	poll_waker_drop(&f->room);
}
/* doc:end fanout-shutdown */

static const struct poll_future_vt fanout_vt = {
	.name = "fanout",
	.poll = fanout_poll,
	.drop = fanout_shutdown,
};

/* workload_cancel_part(): cancel sink i alone.  Its branch of the join is
 * told to end and the task is woken: at its next poll the sink drops the
 * write in flight and lets go of its chunks, as a race on a cancellation
 * signal does in Rust.  A TCP sink whose subscriber has not connected yet
 * is not there to cancel. */
static int fanout_cancel_sink(void *arg, unsigned i)
{
	struct fanout *f = arg;
	struct fanout_sink *s;

	if (i >= f->opts->sinks || f->task == NULL)
		return -ENOENT;
	s = &f->sink[i];
	if (s->state == SINK_DONE || s->cancel ||
	    (f->opts->kind == FANOUT_SINK_TCP && i >= f->subscribers))
		return -ENOENT;
	s->cancel = true;
	poll__task_wake(f->task);
	return 0;
}

/* ---- the entry point ------------------------------------------------------------- */

static int fanout_open_sinks(struct fanout *f, struct poll_stream *listener,
			     bool later)
{
	const struct fanout_opts *o = f->opts;
	int h, rc;

	if (o->kind == FANOUT_SINK_FILE) {
		for (unsigned i = 0; i < o->sinks; i++) {
			rc = sink_open_file(f, &f->sink[i], i);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	rc = reactor_listen(f->loop->r, o->host, o->port, FANOUT_BACKLOG);
	if (rc < 0)
		return rc;
	h = rc;
	f->listener = listener;
	if (later) {
		f->listen_fd = h;       /* the first poll registers it */
		poll_accept_init(&f->accept, listener);
		return 0;
	}
	rc = poll_stream_open(f->loop, listener, h);
	if (rc < 0) {
		f->listener = NULL;
		reactor_close(f->loop->r, h);
		return rc;
	}
	poll_accept_init(&f->accept, listener);
	return 0;
}

static void fanout_close_sinks(struct fanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++)
		if (f->sink[i].file >= 0)
			reactor_file_close(f->loop->r, f->sink[i].file);
	if (f->listen_fd >= 0)
		reactor_close(f->loop->r, f->listen_fd);   /* never polled */
	else if (f->listener != NULL)
		poll_stream_close(f->listener);
}

/* The fanout task on the workers: the fanout lives in the entry point's
 * frame, as under poll_block_on(), and the task holds a pointer to it. */
struct fanout_task {
	struct poll_future base;
	struct fanout *f;
};

static enum poll_status fanout_task_poll(struct poll_future *fut,
					 struct poll_cx *cx)
{
	return fanout_poll(&((struct fanout_task *)fut)->f->base, cx);
}

static void fanout_task_drop(struct poll_future *fut)
{
	struct fanout_task *ft = (struct fanout_task *)fut;

	if (ft->f != NULL)
		fanout_shutdown(&ft->f->base);
	ft->f = NULL;
}

static const struct poll_future_vt fanout_task_vt = {
	.name = "fanout_task",
	.poll = fanout_task_poll,
	.drop = fanout_task_drop,
};

/* W7: a stop aborts the fanout task, which drops the fanout. */
static void fanout_task_on_stop(void *arg)
{
	poll_task_abort(arg);
}

/* Run f, set up, to its end as a task of the workers (W5: each worker
 * waits for its own pool's jobs before it leaves). */
static void fanout_run_on_workers(struct fanout *f, struct poll_workers *w)
{
	struct fanout_task ft = { .base = { .vt = &fanout_task_vt }, .f = f };
	struct poll_task *t;

	if (poll_workers_spawn(w, &ft.base, sizeof(ft), &t) < 0) {
		fanout_abort(f, -ENOMEM);
		fanout_shutdown(&f->base);
		return;
	}
	poll_workers_on_stop(w, fanout_task_on_stop, t);
	(void)poll_workers_run(w);
	poll_workers_on_stop(w, NULL, NULL);
	poll_task_detach(t);
	f->task = NULL;
}

static int fanout_run_on(struct reactor *r, struct offload *o,
			 struct poll_workers *w,
			 const struct fanout_opts *opts,
			 struct fanout_stats *stats)
{
	struct fanout f = {
		.base = { .vt = &fanout_vt },
		.opts = opts,
		.stats = stats,
		.listen_fd = -1,
	};
	struct fanout_sink_stats *sink_stats = stats->sink;
	struct poll_stream listener = { .handle = -1 };
	struct poll_loop loop;
	int64_t size;
	size_t sinks_bytes, ring_bytes;
	int rc;

	memset(stats, 0, sizeof(*stats));
	stats->sink = sink_stats;
	stats->checksum = WORKLOAD_CHECKSUM_INIT;
	stats->sinks = opts->sinks;
	if ((w == NULL && o == NULL) ||
	    (w != NULL && !poll__workers_offloaded(w)) ||
	    opts->chunk_size == 0 || opts->window == 0 ||
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
	f.read_done = f.size == 0;
	/* On the workers this loop only opens the sinks: the first poll sets
	 * f.loop to its worker's. */
	poll_loop_init(&loop, r, o, NULL);
	f.loop = &loop;
	/* One block: the sinks, the ring, the join's child array. */
	sinks_bytes = opts->sinks * sizeof(*f.sink);
	ring_bytes = opts->window * sizeof(*f.ring);
	f.sink = mem_calloc(1, sinks_bytes + ring_bytes +
			       opts->sinks * sizeof(*f.sink_child));
	if (f.sink == NULL) {
		rc = -ENOMEM;
		goto out_close_input;
	}
	f.ring = (struct fanout_chunk *)((char *)f.sink + sinks_bytes);
	f.sink_child = (struct poll_future **)((char *)f.ring + ring_bytes);
	for (unsigned i = 0; i < opts->sinks; i++) {
		sink_init(&f.sink[i], &f, &sink_stats[i]);
		f.sink_child[i] = &f.sink[i].base;
	}
	poll_join_init(&f.join, f.sink_child, opts->sinks);
	f.sinks_live = opts->sinks;
	f.state = opts->kind == FANOUT_SINK_TCP && opts->sinks > 0
			  ? FANOUT_ACCEPT : FANOUT_STREAM;
	rc = fanout_open_sinks(&f, &listener, w != NULL);
	if (rc < 0)
		goto out_close_sinks;
	if (opts->kind == FANOUT_SINK_TCP && opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)reactor_local_port(
					   r, f.listen_fd >= 0 ? f.listen_fd :
					   listener.handle));
	if (w != NULL) {
		fanout_run_on_workers(&f, w);
		rc = 0;
		goto out_close_sinks;
	}

	/* 0: done.  -EINTR (a stop) or -EDEADLK (sim, quiescent): the
	 * fanout was dropped, its sinks cancelled.  Either way it is over. */
	workload_probe_publish(fanout_cancel_sink, &f);
	(void)poll_block_on(&loop, &f.base);
	workload_probe_clear(&f);
	f.task = NULL;
	rc = 0;
	poll_loop_fini(&loop);
	/* Jobs cancelled while running still hold their buffers: wait until
	 * the pool has given every one back, so that all is freed at return. */
	while (offload_outstanding(o) > 0 && reactor_poll(r, -1) >= 0)
		;

out_close_sinks:
	fanout_close_sinks(&f);
	mem_free(f.sink);
out_close_input:
	reactor_file_close(r, f.input);
	return rc;
}

int poll_fanout_run(struct reactor *r, struct offload *o,
		    const struct fanout_opts *opts, struct fanout_stats *stats)
{
	return fanout_run_on(r, o, NULL, opts, stats);
}

int poll_fanout_run_workers(struct poll_workers *w, struct reactor *r,
			    const struct fanout_opts *opts,
			    struct fanout_stats *stats)
{
	return fanout_run_on(r, NULL, w, opts, stats);
}
