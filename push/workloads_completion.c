/* workloads_completion.c: the entry points of push's two workloads in the
 * completion mode (push.h): the queue made beside the reactor, the same
 * echo and fanout code (echo.c, fanout.c) run on a loop over it, the queue
 * freed once nothing is in flight.  Apart from echo.c and fanout.c so that
 * those stay the workloads themselves, the code claim C3 counts.
 */
#include "push_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- echo --------------------------------------------------------------------- */

/* Over completion_new_beside(r).  The queue is freed after the loop, once
 * nothing is in flight (push_loop_fini()). */
int push_echo_serve_completion(struct reactor *r, struct offload *o,
			       const struct echo_opts *opts,
			       struct echo_stats *stats)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *cq;
	int rc;

	memset(stats, 0, sizeof(*stats));
	rc = completion_new_beside(r, 0, &cq, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "push/uring: %s\n", why);
		return rc;
	}
	rc = push__echo_serve(r, o, cq, opts, stats);
	completion_free(cq);
	return rc;
}

int push_echo_serve_cq(struct reactor *r, struct completion *cq,
		       const struct echo_opts *opts, struct echo_stats *stats)
{
	return push__echo_serve(r, NULL, cq, opts, stats);
}

/* ---- fanout ------------------------------------------------------------------- */

/* Over completion_new_beside(r); the queue is freed once nothing is in
 * flight (after push_loop_fini()). */
int push_fanout_run_completion(struct reactor *r, struct offload *o,
			       const struct fanout_opts *opts,
			       struct fanout_stats *stats)
{
	char why[COMPLETION_REASON_MAX];
	struct completion *cq;
	int rc;

	(void)o;
	rc = completion_new_beside(r, 0, &cq, why, sizeof(why));
	if (rc < 0) {
		struct fanout_sink_stats *sink_stats = stats->sink;

		memset(stats, 0, sizeof(*stats));
		stats->sink = sink_stats;
		fprintf(stderr, "push/uring: %s\n", why);
		return rc;
	}
	rc = push__fanout_run(r, NULL, cq, opts, stats);
	completion_free(cq);
	return rc;
}

int push_fanout_run_cq(struct reactor *r, struct completion *cq,
		       const struct fanout_opts *opts,
		       struct fanout_stats *stats)
{
	return push__fanout_run(r, NULL, cq, opts, stats);
}
