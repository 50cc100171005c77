/* c5_push.c: claim C5's echo server and hog in the push engine.
 *
 * Per connection, a read whose callback starts the write back, whose
 * callback starts the next read.  Beside the connections, on the same loop,
 * the hog: a sleep of HOG_PAUSE_NS whose callback computes HOG_NS in the
 * configuration's way (c5_hog.c lists them), then sleeps again.  Every
 * operation runs under the server's one token, so the stop handler cancels
 * them all with one call; the offloaded computation is not a push operation
 * and is cancelled by hand.  Mirrors c5_poll.c.
 */
#include "c5_impl.h"

#include <errno.h>
#include <stdlib.h>

#include "push.h"

/* ---- push: the echo server and the hog as callbacks ------------------------------ */

struct push5 {
	struct push_loop loop, *l;
	struct reactor *r;
	struct offload *o;
	struct push_stream listener;
	struct push_token token;     /* every operation: the stop cancels it */
	enum c5_config cfg;
	unsigned chunk;
	uint64_t hog_runs;
	struct c5__job *job;         /* the offloaded computation in flight */
	bool stopping;
};

struct push5_conn {
	struct push5 *srv;
	struct push_stream s;
	unsigned char buf[C5_BUFSIZE];
};

static void push5_on_read(void *data, ssize_t n);
static void push5_on_written(void *data, ssize_t n);
static void push5_accept(struct push5 *srv);

static void push5_close(struct push5_conn *c)
{
	push_stream_close(&c->s);
	free(c);
}

static void push5_read(struct push5_conn *c)
{
	if (push_read(c->srv->l, &c->s, c->buf, sizeof(c->buf),
		      &c->srv->token, push5_on_read, c, NULL, NULL) < 0)
		push5_close(c);
}

static void push5_on_read(void *data, ssize_t n)
{
	struct push5_conn *c = data;

	if (n <= 0 || push_write(c->srv->l, &c->s, c->buf, (size_t)n,
				 &c->srv->token, push5_on_written, c, NULL,
				 NULL) < 0)
		push5_close(c);
}

static void push5_on_written(void *data, ssize_t n)
{
	struct push5_conn *c = data;

	if (n < 0)
		push5_close(c);
	else
		push5_read(c);
}

static void push5_on_accept(void *data, ssize_t h)
{
	struct push5 *srv = data;
	struct push5_conn *c;

	if (h == -ECANCELED || srv->stopping) {
		if (h >= 0)
			reactor_close(srv->r, (int)h);
		push_stream_close(&srv->listener);
		return;
	}
	if (h >= 0) {
		c = calloc(1, sizeof(*c));
		if (c == NULL || push_stream_open(srv->l, &c->s, (int)h) < 0) {
			free(c);
			reactor_close(srv->r, (int)h);
		} else {
			c->srv = srv;
			push5_read(c);
		}
	}
	push5_accept(srv);
}

static void push5_accept(struct push5 *srv)
{
	if (push_accept(srv->l, &srv->listener, &srv->token, push5_on_accept,
			srv, NULL, NULL) < 0)
		push_stream_close(&srv->listener);
}

static void push5_hog_start(struct push5 *srv);

static void push5_on_pause(void *data, ssize_t result)
{
	if (result == 0)
		push5_hog_start(data);
}

static void push5_hog_pause(struct push5 *srv)
{
	srv->hog_runs++;
	push_sleep(srv->l, HOG_PAUSE_NS, &srv->token, push5_on_pause, srv,
		   NULL);
}

static void push5_on_chunk(void *data, ssize_t result)
{
	struct push5 *srv = data;

	if (result != 0)
		return;                      /* cancelled: the hog stops */
	c5__compute_ns(CHUNK_NS);
	if (++srv->chunk == NCHUNKS)
		push5_hog_pause(srv);
	else
		push_sleep(srv->l, 0, &srv->token, push5_on_chunk, srv, NULL);
}

static void push5_on_job(void *arg)
{
	struct push5 *srv = arg;

	srv->job = NULL;
	if (!srv->stopping)
		push5_hog_pause(srv);
}

/* One computation of 50 ms, in the configuration's way. */
static void push5_hog_start(struct push5 *srv)
{
	switch (srv->cfg) {
	case C5_HOG:
		c5__compute_ns(HOG_NS);
		push5_hog_pause(srv);
		break;
	case C5_OFFLOAD:
		srv->job = c5__job_submit(srv->o, push5_on_job, srv);
		break;
	case C5_CHUNKS:
		srv->chunk = 0;
		push5_on_chunk(srv, 0);
		break;
	default:
		break;
	}
}

static void push5_stop(void *arg)
{
	struct push5 *srv = arg;

	srv->stopping = true;
	push_token_cancel(&srv->token);
	if (srv->job != NULL) {
		offload_cancel(srv->o, &srv->job->job);  /* discard frees it */
		srv->job = NULL;
	}
}

int c5__push_serve(struct reactor *r, struct offload *o, int lh,
		   enum c5_config cfg, uint64_t *hog_runs)
{
	const struct push_config idiomatic = { 0 };
	struct push5 srv = { .r = r, .o = o, .cfg = cfg };
	int rc;

	srv.l = &srv.loop;
	push_loop_init(srv.l, r, o, &idiomatic);
	rc = push_stream_open(srv.l, &srv.listener, lh);
	if (rc < 0) {
		reactor_close(r, lh);
		push_loop_fini(srv.l);
		return rc;
	}
	push_token_init(&srv.token, NULL);
	push_loop_on_stop(srv.l, push5_stop, &srv);
	push5_accept(&srv);
	if (cfg != C5_NONE)
		push_sleep(srv.l, HOG_PAUSE_NS, &srv.token, push5_on_pause,
			   &srv, NULL);
	rc = push_loop_run(srv.l);
	push_stream_close(&srv.listener);
	push_token_destroy(&srv.token);
	push_loop_fini(srv.l);
	*hog_runs = srv.hog_runs;
	return rc;
}
