/* c5_impl.h: what the three files of claim C5 share.
 *
 * c5_hog.c runs the experiment and judges it; c5_push.c and c5_poll.c are
 * the two small echo servers with their hog, one per engine, written to be
 * read side by side; c5_common.c is the hog's computation both servers
 * call.  Not for other files.
 */
#ifndef PUSHPOLL_C5_IMPL_H
#define PUSHPOLL_C5_IMPL_H

#include <stdint.h>

#include "claims.h"
#include "clock.h"
#include "offload.h"
#include "reactor.h"

#define HOG_NS          (50 * CLOCK_NS_PER_MS)   /* one computation */
#define HOG_PAUSE_NS    (50 * CLOCK_NS_PER_MS)   /* between two */
#define CHUNK_NS        (1 * CLOCK_NS_PER_MS)    /* chunks configurations */
#define NCHUNKS         (HOG_NS / CHUNK_NS)
#define STEP_NS         (10 * CLOCK_NS_PER_US)   /* steps and budget */
#define NSTEPS          (HOG_NS / STEP_NS)
#define C5_BUFSIZE      4096                     /* a connection's buffer */

/* Compute for ns of wall time: the CPU is busy, nothing else on this
 * thread runs. */
void c5__compute_ns(uint64_t ns);

/* One computation of HOG_NS as an offload job.  calloc'd here; the pool
 * frees it: after work(), done() frees it and then calls finished(arg) on
 * the loop thread; after offload_cancel(), discard() frees it and
 * finished() is never called. */
struct c5__job {
	struct offload_job job;          /* first */
	void (*finished)(void *arg);
	void *arg;
};

/* Submit a job to o, or NULL when out of memory. */
struct c5__job *c5__job_submit(struct offload *o, void (*finished)(void *),
			       void *arg);

/* Serve echo on the listening handle lh (which they own from now on), with
 * the hog of configuration cfg beside the connections, on reactor r and
 * pool o, until a stop is requested.  Everything they made is freed or
 * closed when they return, except a cancelled offload job still running:
 * the pool keeps it until it returns (offload_outstanding()).  Return 0 or
 * -errno; *hog_runs receives the computations completed. */
int c5__push_serve(struct reactor *r, struct offload *o, int lh,
		   enum c5_config cfg, uint64_t *hog_runs);
int c5__poll_serve(struct reactor *r, struct offload *o, int lh,
		   enum c5_config cfg, uint64_t *hog_runs);

#endif
