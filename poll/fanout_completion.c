/* fanout_completion.c: the fanout workload in the poll engine, over a
 * completion queue (io_uring, or the simulation's completion mode).
 *
 * The same tree of futures as fanout.c, in one task:
 *
 *   struct fanout                 the future: accept, then stream
 *     read   poll_cq_io           the reader's file read, with the ring
 *     join   poll_join            of the N sink futures:
 *       sink[i]                   wait for a chunk, write it
 *         write  poll_cq_io       a send, or a file write, of the chunk
 *         timer  poll_cq_io       the sink timeout (a timeout operation)
 *
 * What completion changes (rules C1 to C6 of poll.h):
 *   - The input is read with the ring, not through the offload pool: no
 *     thread, and a read in flight when the fanout is cancelled is not
 *     wasted work in a pool but an operation of the loop, whose buffer the
 *     loop keeps until the kernel is done with it (C3), then frees.
 *   - A chunk is one poll_buf shared by reference.  The reader's read owns
 *     the chunk's one reference while it is in flight (C1) and hands it
 *     back to the ring with the bytes.  Each sink's write owns a reference
 *     of its own while it is in flight, so a sink that is cancelled or
 *     times out during its write leaves that reference to the loop: the
 *     chunk lives until the kernel's completion, whoever else let go.
 *   - The sink timeout is one timeout operation per sink, submitted again
 *     only when it expires early (the write in progress started less than
 *     sink_timeout_ns ago), as the echo's idle timeout.
 *
 * Memory: one block for the sinks, the ring and the join's child array;
 * per chunk a buffer; the loop's operations (one read, and per sink a write
 * and a timeout), reused from chunk to chunk.
 *
 * The same functions, in the same order, as fanout.c.
 */
#include "poll_impl.h"
#include "completion.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define FANOUT_BACKLOG 128

/* ---- the fanout -------------------------------------------------------------- */

struct fanout_chunk {
	struct poll_buf *buf;     /* NULL: the slot is free, or the read in
				   * flight owns the chunk (C1) */
	uint64_t offset;          /* in the input, and in every output */
	uint64_t checksum;        /* of its bytes, computed once when read */
	unsigned takers;          /* live sinks that have not taken it */
};

struct fanout;

/* A sink's states (sink_poll):
 *   SINK_WAIT   the chunk it needs next is not read yet
 *   SINK_WRITE  awaiting `write` of chunk `next` (and the timer)
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
	int handle;               /* the output file, or the subscriber */
	unsigned next;            /* the next chunk to take */
	struct poll_cq_io write;  /* of chunk `next`: a reference of its own */
	struct poll_cq_io timer;  /* sink_timeout_ns, when timer_armed */
	bool timer_armed;
	uint64_t write_start;     /* reactor_now() when `write` began */
	bool cancel;              /* cancel it alone at its next poll */
};

enum fanout_state {
	FANOUT_ACCEPT,
	FANOUT_STREAM,
	FANOUT_DONE,
};

struct fanout {
	struct poll_future base;
	enum fanout_state state;
	struct poll_loop *loop;
	struct completion *cq;
	const struct fanout_opts *opts;
	struct fanout_stats *stats;
	int input;
	uint64_t size;            /* of the input */
	uint64_t read_offset;     /* where the next read starts */
	bool reading;             /* `read` is in flight */
	bool read_done;           /* the whole input has been read */
	struct poll_cq_io read;
	struct fanout_chunk *ring;
	unsigned first, next_read;
	unsigned live;            /* chunks in memory, the one being read included */
	struct fanout_sink *sink; /* opts->sinks of them */
	unsigned sinks_live;      /* not done */
	struct poll_future **sink_child;  /* the join's array */
	struct poll_join join;
	struct poll_waker chunk_ready;    /* sinks waiting for a chunk */
	struct poll_waker room;           /* the reader waiting for room */
	int listener;             /* FANOUT_SINK_TCP, else -1 */
	struct poll_cq_io accept;
	unsigned subscribers;     /* TCP sinks connected so far */
	int error;                /* why it was aborted, 0 if it was not */
	struct poll_task *task;   /* the task polling it; set by each poll */
};

static void fanout_abort(struct fanout *f, int error);

static struct fanout_chunk *chunk_at(struct fanout *f, unsigned i)
{
	return &f->ring[i % f->opts->window];
}

/* One live sink fewer needs chunk i.  The ring's reference goes with the
 * last; a write still in flight keeps its own (C1). */
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

static int sink_open_file(struct fanout *f, struct fanout_sink *s, unsigned i)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/sink-%u", f->opts->output_dir,
			 i);

	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	s->handle = completion_file_open(f->cq, path,
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	return s->handle < 0 ? s->handle : 0;
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
	s->handle = -1;
}

/* ---- the read step ------------------------------------------------------------- */

static void fanout_read_end(struct fanout *f)
{
	f->read_done = true;
	poll_waker_wake(&f->chunk_ready);
}

/* The read completed with n, and gave the chunk back as b (NULL if the
 * read was dropped: the loop has it). */
static void fanout_on_read(struct fanout *f, ssize_t n, struct poll_buf *b)
{
	struct fanout_chunk *ch = chunk_at(f, f->next_read);

	if (n <= 0 || f->sinks_live == 0) {
		poll_buf_unref(b);
		f->live--;
		if (n == 0)
			fanout_read_end(f);
		else if (n < 0)
			fanout_abort(f, (int)n);
		return;
	}
	ch->buf = b;
	ch->checksum = workload_chunk_checksum(b->data, (size_t)n);
	ch->takers = f->sinks_live;
	f->read_offset += (uint64_t)n;
	f->stats->bytes_read += (uint64_t)n;
	f->stats->checksum = workload_checksum_add(f->stats->checksum,
						   ch->checksum);
	f->stats->chunks_read++;
	f->next_read++;
	poll_waker_wake(&f->chunk_ready);
	if (f->read_offset >= f->size)
		fanout_read_end(f);
}

/* The reader: finish the read in flight, then start the next one if there
 * is room in the window and someone to take it.  The new chunk's buffer
 * goes into the read (C1) and comes back with its bytes. */
static void fanout_read_step(struct fanout *f, struct poll_cx *cx)
{
	const struct fanout_opts *o = f->opts;
	struct fanout_chunk *ch;
	struct poll_buf *b;

	for (;;) {
		if (f->reading) {
			if (poll_future_poll(&f->read.base, cx) == POLL_PENDING)
				return;
			b = poll_cq_io_take(&f->read);
			poll_future_drop(&f->read.base);
			f->reading = false;
			fanout_on_read(f, f->read.base.out, b);
			continue;
		}
		if (f->read_done || f->error != 0 || f->sinks_live == 0)
			return;
		if (f->live == o->window) {
			poll_waker_set(&f->room, cx);
			return;
		}
		b = poll_buf_new(o->chunk_size);
		if (b == NULL) {
			fanout_abort(f, -ENOMEM);
			return;
		}
		ch = chunk_at(f, f->next_read);
		ch->buf = NULL;
		ch->offset = f->read_offset;
		ch->takers = 0;
		f->live++;
		if (f->live > f->stats->peak_chunks)
			f->stats->peak_chunks = f->live;
		poll_cq_file_read_init(&f->read, f->loop, f->input, b,
				       ch->offset);
		f->reading = true;
	}
}

/* ---- the write step -------------------------------------------------------------- */

static enum poll_status sink_finish(struct fanout_sink *s, int error);

/* Begin SINK_WRITE: the write of chunk s->next, with a reference of its
 * own to the chunk (C1). */
static void sink_write(struct fanout_sink *s)
{
	struct fanout *f = s->f;
	struct fanout_chunk *ch = chunk_at(f, s->next);
	struct poll_buf *b = poll_buf_ref(ch->buf);

	if (f->opts->kind == FANOUT_SINK_FILE)
		poll_cq_file_write_init(&s->write, f->loop, s->handle, b,
					ch->offset);
	else
		poll_cq_send_init(&s->write, f->loop, s->handle, b);
	s->write_start = reactor_now(f->loop->r);
	s->state = SINK_WRITE;
}

/* The write is pending: has it taken sink_timeout_ns?  The timer runs from
 * write_start; one that expires early is submitted again for the rest. */
static enum poll_status sink_timer_poll(struct fanout_sink *s,
					struct poll_cx *cx)
{
	uint64_t limit = s->f->opts->sink_timeout_ns;
	uint64_t took;

	if (limit == 0)
		return POLL_PENDING;
	for (;;) {
		if (!s->timer_armed) {
			took = reactor_now(s->f->loop->r) - s->write_start;
			poll_cq_timeout_init(&s->timer, s->f->loop,
					     took < limit ? limit - took : 0);
			s->timer_armed = true;
		}
		if (poll_future_poll(&s->timer.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		poll_future_drop(&s->timer.base);
		s->timer_armed = false;
		if (s->timer.base.out < 0)
			return sink_finish(s, (int)s->timer.base.out);
		took = reactor_now(s->f->loop->r) - s->write_start;
		if (took >= limit)
			return sink_finish(s, -ETIMEDOUT);
	}
}

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
			if (poll_future_poll(&s->write.base, cx) == POLL_PENDING)
				return sink_timer_poll(s, cx);
			poll_buf_unref(poll_cq_io_take(&s->write));
			poll_future_drop(&s->write.base);
			n = s->write.base.out;
			if (n < 0)
				return sink_finish(s, (int)n);
			sink_on_written(s);
			continue;

		case SINK_DONE:
			return POLL_READY;
		}
	}
}

/* ---- close ------------------------------------------------------------------------- */

/* s ends: error 0 when it took every chunk.  A write in flight becomes the
 * loop's orphan with its reference to the chunk (C3); a subscriber's
 * connection is closed once no orphan works on it (C4); a file sink is
 * closed by the entry point. */
static enum poll_status sink_finish(struct fanout_sink *s, int error)
{
	struct fanout *f = s->f;

	if (s->state == SINK_WRITE)
		poll_future_drop(&s->write.base);
	if (s->timer_armed) {
		poll_future_drop(&s->timer.base);
		s->timer_armed = false;
	}
	s->state = SINK_DONE;
	s->st->error = error;
	f->sinks_live--;
	if (f->opts->kind == FANOUT_SINK_TCP && s->handle >= 0) {
		poll_cq_close(f->loop, s->handle);
		s->handle = -1;
	}
	for (unsigned i = s->next; i < f->next_read; i++)
		chunk_release(f, i);
	s->base.out = error;
	return POLL_READY;
}

static void sink_drop(struct poll_future *fut)
{
	struct fanout_sink *s = (struct fanout_sink *)fut;

	if (s->state != SINK_DONE)
		sink_finish(s, s->f->error != 0 ? s->f->error : -ECANCELED);
}

static const struct poll_future_vt sink_vt = {
	.name = "fanout_cq_sink",
	.poll = sink_poll,
	.drop = sink_drop,
};

/* ---- accept (FANOUT_SINK_TCP) ------------------------------------------------------ */

static void fanout_on_accept(struct fanout *f, ssize_t h)
{
	if (h < 0) {
		if (reactor_accept_error_is_fatal(h))
			fanout_abort(f, (int)h);
		return;
	}
	f->sink[f->subscribers].handle = (int)h;
	if (++f->subscribers == f->opts->sinks)
		f->state = FANOUT_STREAM;
}

static enum poll_status fanout_poll(struct poll_future *fut,
				    struct poll_cx *cx)
{
	struct fanout *f = (struct fanout *)fut;

	f->task = cx->task;
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
			poll_cq_accept_init(&f->accept, f->loop, f->listener);
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

/* ---- shutdown ---------------------------------------------------------------------- */

static void fanout_abort(struct fanout *f, int error)
{
	if (f->error != 0)
		return;
	f->error = error;
	f->stats->error = error;
	poll_waker_wake(&f->chunk_ready);
}

/* The fanout's drop.  Dropping the join drops every sink (a write in
 * flight becomes an orphan); dropping the read in flight leaves its chunk
 * to the loop (C3), which frees it once the kernel has finished the read:
 * no pool to wait for. */
static void fanout_shutdown(struct poll_future *fut)
{
	struct fanout *f = (struct fanout *)fut;

	if (f->listener >= 0)
		poll_future_drop(&f->accept.base);
	poll_future_drop(&f->join.base);
	if (f->reading) {
		poll_future_drop(&f->read.base);
		f->reading = false;
		fanout_on_read(f, 0, NULL);
	}
	poll_waker_drop(&f->chunk_ready);
	poll_waker_drop(&f->room);
}

static const struct poll_future_vt fanout_vt = {
	.name = "fanout_cq",
	.poll = fanout_poll,
	.drop = fanout_shutdown,
};

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

static int fanout_open_sinks(struct fanout *f)
{
	const struct fanout_opts *o = f->opts;
	int rc;

	if (o->kind == FANOUT_SINK_FILE) {
		for (unsigned i = 0; i < o->sinks; i++) {
			rc = sink_open_file(f, &f->sink[i], i);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	rc = completion_listen(f->cq, o->host, o->port, FANOUT_BACKLOG);
	if (rc < 0)
		return rc;
	f->listener = rc;
	poll_cq_accept_init(&f->accept, f->loop, f->listener);
	return 0;
}

/* After the loop is gone: no operation is in flight any more (C6). */
static void fanout_close_sinks(struct fanout *f)
{
	for (unsigned i = 0; i < f->opts->sinks; i++)
		if (f->sink[i].handle >= 0)
			completion_close(f->cq, f->sink[i].handle);
	if (f->listener >= 0)
		completion_close(f->cq, f->listener);
}

int poll_fanout_run_completion(struct reactor *r, struct offload *o,
			       const struct fanout_opts *opts,
			       struct fanout_stats *stats)
{
	struct fanout f = {
		.base = { .vt = &fanout_vt },
		.opts = opts,
		.stats = stats,
		.listener = -1,
	};
	struct fanout_sink_stats *sink_stats = stats->sink;
	char why[COMPLETION_REASON_MAX];
	struct poll_cq_loop cl;
	int64_t size;
	size_t sinks_bytes, ring_bytes;
	int rc;

	(void)o;                         /* files are read with the ring */
	memset(stats, 0, sizeof(*stats));
	poll__cq_stats_reset();
	stats->sink = sink_stats;
	stats->checksum = WORKLOAD_CHECKSUM_INIT;
	stats->sinks = opts->sinks;
	if (opts->chunk_size == 0 || opts->window == 0 ||
	    (opts->sinks > 0 && sink_stats == NULL))
		return -EINVAL;
	for (unsigned i = 0; i < opts->sinks; i++)
		sink_stats[i] = (struct fanout_sink_stats){
			.checksum = WORKLOAD_CHECKSUM_INIT };

	rc = completion_new_beside(r, 0, &f.cq, why, sizeof(why));
	if (rc < 0)
		return rc;
	f.input = completion_file_open(f.cq, opts->input, O_RDONLY, 0);
	if (f.input < 0) {
		rc = f.input;
		goto out_free_queue;
	}
	size = reactor_file_size(r, f.input);
	if (size < 0) {
		rc = (int)size;
		goto out_close_input;
	}
	f.size = (uint64_t)size;
	f.read_done = f.size == 0;
	poll_loop_init_completion(&cl, r, f.cq, NULL);
	f.loop = &cl.loop;
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
	rc = fanout_open_sinks(&f);
	if (rc < 0)
		goto out_close_sinks;
	if (opts->kind == FANOUT_SINK_TCP && opts->on_listening != NULL)
		opts->on_listening(opts->arg, (uint16_t)completion_local_port(
					   f.cq, f.listener));

	workload_probe_publish(fanout_cancel_sink, &f);
	(void)poll_block_on(&cl.loop, &f.base);
	workload_probe_clear(&f);
	f.task = NULL;
	rc = 0;
	poll_loop_fini(&cl.loop);        /* waits for every orphan (C6) */
	poll__cq_stats_publish(&cl);

out_close_sinks:
	fanout_close_sinks(&f);
	mem_free(f.sink);
out_close_input:
	completion_close(f.cq, f.input);
out_free_queue:
	completion_free(f.cq);
	return rc;
}
