/* c5_poll.c: claim C5's echo server and hog in the poll engine.
 *
 * One task accepts and spawns a task per connection, whose future holds its
 * read and write by value.  Beside them, on the same executor, the hog: a
 * task that sleeps HOG_PAUSE_NS, computes HOG_NS in the configuration's way
 * (c5_hog.c lists them), and again.  A stop ends poll_loop_run(), and
 * poll_loop_fini() drops every task: that is the whole shutdown.  Mirrors
 * c5_push.c.
 */
#include "c5_impl.h"

#include <errno.h>
#include <stdlib.h>

#include "poll.h"

/* ---- poll: the echo server and the hog as tasks --------------------------------- */

struct poll5 {
	struct poll_loop loop;
	struct offload *o;
	struct poll_stream listener;
	enum c5_config cfg;
	uint64_t hog_runs;
};

/* A connection: read, write back, again; the futures by value. */
struct poll5_conn {
	struct poll_future base;
	struct reactor *r;
	int fd;                      /* until opened */
	bool opened, writing;
	struct poll_stream s;
	union {
		struct poll_read rd;
		struct poll_write wr;
	} io;
	unsigned char buf[C5_BUFSIZE];
};

static enum poll_status poll5_conn_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	struct poll5_conn *c = (struct poll5_conn *)f;
	ssize_t n;

	if (!c->opened) {
		int fd = c->fd;

		c->fd = -1;
		if (poll_stream_open(cx->loop, &c->s, fd) < 0) {
			reactor_close(cx->loop->r, fd);
			f->out = -1;
			return POLL_READY;
		}
		c->opened = true;
		poll_read_init(&c->io.rd, &c->s, c->buf, sizeof(c->buf));
	}
	for (;;) {
		if (!c->writing) {
			if (poll_future_poll(&c->io.rd.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			n = c->io.rd.base.out;
			poll_future_drop(&c->io.rd.base);
			if (n <= 0)
				break;
			poll_write_init(&c->io.wr, &c->s, c->buf, (size_t)n);
			c->writing = true;
		} else {
			if (poll_future_poll(&c->io.wr.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			n = c->io.wr.base.out;
			poll_future_drop(&c->io.wr.base);
			if (n < 0)
				break;
			poll_read_init(&c->io.rd, &c->s, c->buf,
				       sizeof(c->buf));
			c->writing = false;
		}
	}
	f->out = n;
	return POLL_READY;
}

/* Drops are idempotent (poll.h, R3), so the I/O future is dropped
 * whether or not the poll already did. */
static void poll5_conn_drop(struct poll_future *f)
{
	struct poll5_conn *c = (struct poll5_conn *)f;

	if (c->opened) {
		if (c->writing)
			poll_future_drop(&c->io.wr.base);
		else
			poll_future_drop(&c->io.rd.base);
		poll_stream_close(&c->s);
		c->opened = false;
	} else if (c->fd >= 0) {
		reactor_close(c->r, c->fd);
		c->fd = -1;
	}
}

static const struct poll_future_vt poll5_conn_vt = {
	.name = "c5 conn",
	.poll = poll5_conn_poll,
	.drop = poll5_conn_drop,
};

/* The accept loop: a task of its own, spawning one task per connection. */
struct poll5_server {
	struct poll_future base;
	struct poll5 *srv;
	bool accepting;
	struct poll_accept acc;
};

static enum poll_status poll5_server_poll(struct poll_future *f,
					  struct poll_cx *cx)
{
	struct poll5_server *s = (struct poll5_server *)f;
	struct poll5_conn *proto;
	ssize_t h;

	for (;;) {
		if (!s->accepting) {
			poll_accept_init(&s->acc, &s->srv->listener);
			s->accepting = true;
		}
		if (poll_future_poll(&s->acc.base, cx) == POLL_PENDING)
			return POLL_PENDING;
		h = s->acc.base.out;
		poll_future_drop(&s->acc.base);
		s->accepting = false;
		if (h == -EMFILE || h == -ENFILE)
			continue;
		if (h < 0) {
			f->out = h;
			return POLL_READY;
		}
		proto = calloc(1, sizeof(*proto));
		if (proto == NULL) {
			reactor_close(cx->loop->r, (int)h);
			continue;
		}
		proto->base.vt = &poll5_conn_vt;
		proto->r = cx->loop->r;
		proto->fd = (int)h;
		if (poll_spawn(cx->loop, &proto->base, sizeof(*proto), NULL) < 0)
			reactor_close(cx->loop->r, (int)h);
		free(proto);
	}
}

static void poll5_server_drop(struct poll_future *f)
{
	struct poll5_server *s = (struct poll5_server *)f;

	if (s->accepting)
		poll_future_drop(&s->acc.base);
	s->accepting = false;
}

static const struct poll_future_vt poll5_server_vt = {
	.name = "c5 server",
	.poll = poll5_server_poll,
	.drop = poll5_server_drop,
};

/* One step of the steps and budget configurations: a leaf that computes 10
 * us and is ready at once.  As every leaf, it checks the budget first and
 * charges it when it completes. */
struct poll5_step {
	struct poll_future base;
};

static enum poll_status poll5_step_poll(struct poll_future *f,
					struct poll_cx *cx)
{
	if (poll_budget_exhausted(cx))
		return POLL_PENDING;
	c5__compute_ns(STEP_NS);
	poll_budget_charge(cx);
	f->out = 0;
	return POLL_READY;
}

static void poll5_step_drop(struct poll_future *f)
{
	(void)f;
}

static const struct poll_future_vt poll5_step_vt = {
	.name = "c5 step",
	.poll = poll5_step_poll,
	.drop = poll5_step_drop,
};

/* The hog: pause 50 ms, compute 50 ms in the configuration's way, again. */
struct poll5_hog {
	struct poll_future base;
	struct poll5 *srv;
	bool working;                /* else pausing */
	bool sleeping;               /* sleep below is live */
	struct poll_sleep sleep;     /* the pause, or a 0 ns yield */
	unsigned done;               /* chunks or steps of this computation */
	bool stepping;
	struct poll5_step step;
	bool submitted;
	struct c5__job *job;         /* in the pool, until finished */
	struct poll_waker waker;     /* the job's completion wakes it */
};

static void poll5_on_job(void *arg)
{
	struct poll5_hog *h = arg;

	h->job = NULL;
	poll_waker_wake(&h->waker);
}

/* Await a sleep of ns (the pause, or a 0 ns yield).  POLL_READY once slept. */
static enum poll_status poll5_hog_sleep(struct poll5_hog *h, uint64_t ns,
					struct poll_cx *cx)
{
	if (!h->sleeping) {
		poll_sleep_init(&h->sleep, cx->loop, ns);
		h->sleeping = true;
	}
	if (poll_future_poll(&h->sleep.base, cx) == POLL_PENDING)
		return POLL_PENDING;
	poll_future_drop(&h->sleep.base);
	h->sleeping = false;
	return POLL_READY;
}

/* One computation of 50 ms, in the configuration's way. */
static enum poll_status poll5_hog_work(struct poll5_hog *h,
				       struct poll_cx *cx)
{
	switch (h->srv->cfg) {
	case C5_HOG:
		c5__compute_ns(HOG_NS);
		return POLL_READY;
	case C5_OFFLOAD:
		if (!h->submitted) {
			h->job = c5__job_submit(h->srv->o, poll5_on_job, h);
			h->submitted = h->job != NULL;
		}
		if (h->job != NULL) {
			poll_waker_set(&h->waker, cx);
			return POLL_PENDING;
		}
		h->submitted = false;
		return POLL_READY;
	case C5_CHUNKS:
		c5__compute_ns(CHUNK_NS);
		if (++h->done < NCHUNKS) {
			poll_cx_wake(cx);            /* yield */
			return POLL_PENDING;
		}
		return POLL_READY;
	case C5_CHUNKS_SLEEP:
		for (;;) {
			/* Woken from the yield below: finish it first. */
			if (h->sleeping &&
			    poll5_hog_sleep(h, 0, cx) == POLL_PENDING)
				return POLL_PENDING;
			c5__compute_ns(CHUNK_NS);
			if (++h->done == NCHUNKS)
				return POLL_READY;
			/* Yield through the reactor: a timer due at once
			 * fires only at the next poll of the reactor. */
			if (poll5_hog_sleep(h, 0, cx) == POLL_PENDING)
				return POLL_PENDING;
		}
	case C5_STEPS:
	case C5_BUDGET:
		for (;;) {
			if (!h->stepping) {
				h->step.base.vt = &poll5_step_vt;
				h->stepping = true;
			}
			if (poll_future_poll(&h->step.base, cx) == POLL_PENDING)
				return POLL_PENDING;
			poll_future_drop(&h->step.base);
			h->stepping = false;
			if (++h->done == NSTEPS)
				return POLL_READY;
		}
	default:
		return POLL_READY;
	}
}

static enum poll_status poll5_hog_poll(struct poll_future *f,
				       struct poll_cx *cx)
{
	struct poll5_hog *h = (struct poll5_hog *)f;

	for (;;) {
		if (!h->working) {
			if (poll5_hog_sleep(h, HOG_PAUSE_NS, cx) == POLL_PENDING)
				return POLL_PENDING;
			h->working = true;
			h->done = 0;
		}
		if (poll5_hog_work(h, cx) == POLL_PENDING)
			return POLL_PENDING;
		h->working = false;
		h->srv->hog_runs++;
	}
}

static void poll5_hog_drop(struct poll_future *f)
{
	struct poll5_hog *h = (struct poll5_hog *)f;

	if (h->sleeping)
		poll_future_drop(&h->sleep.base);
	h->sleeping = false;
	if (h->job != NULL) {
		offload_cancel(h->srv->o, &h->job->job);  /* discard frees it */
		h->job = NULL;
	}
	poll_waker_drop(&h->waker);
}

static const struct poll_future_vt poll5_hog_vt = {
	.name = "c5 hog",
	.poll = poll5_hog_poll,
	.drop = poll5_hog_drop,
};

int c5__poll_serve(struct reactor *r, struct offload *o, int lh,
		   enum c5_config cfg, uint64_t *hog_runs)
{
	struct poll_config saved = poll_config_get(), pc = saved;
	struct poll5 *srv = calloc(1, sizeof(*srv));
	struct poll5_server server;
	struct poll5_hog hog;
	int rc;

	if (srv == NULL) {
		reactor_close(r, lh);
		return -ENOMEM;
	}
	srv->o = o;
	srv->cfg = cfg;
	pc.budget = cfg == C5_STEPS ? 0 : POLL_BUDGET_DEFAULT;
	poll_config_set(&pc);
	poll_loop_init(&srv->loop, r, o, NULL);
	poll_config_set(&saved);
	rc = poll_stream_open(&srv->loop, &srv->listener, lh);
	if (rc < 0) {
		reactor_close(r, lh);
		goto out_free;
	}
	server = (struct poll5_server){ .base = { .vt = &poll5_server_vt },
					.srv = srv };
	rc = poll_spawn(&srv->loop, &server.base, sizeof(server), NULL);
	if (rc == 0 && cfg != C5_NONE) {
		hog = (struct poll5_hog){ .base = { .vt = &poll5_hog_vt },
					  .srv = srv };
		rc = poll_spawn(&srv->loop, &hog.base, sizeof(hog), NULL);
	}
	if (rc == 0) {
		rc = poll_loop_run(&srv->loop);
		if (rc == -EINTR)               /* the stop we asked for */
			rc = 0;
	}
	poll_loop_fini(&srv->loop);             /* drops every task */
	poll_stream_close(&srv->listener);
	*hog_runs = srv->hog_runs;
out_free:
	free(srv);
	return rc;
}
