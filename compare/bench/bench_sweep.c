/* bench_sweep.c: the target line of `pushpoll bench --workers-sweep`: no
 * regression of the single-threaded echo.
 *
 * What "today's figures" are, inside one run.  The multi-threaded executor
 * and the loops per thread must leave the single-threaded engines as fast
 * as they were.  A build with the threaded code compiled out would be a
 * second binary, which one run of the command does not have; what one run
 * does have is the hand-written epoll floor, which the threads work did not
 * touch.  So the single-threaded figures (--workers 1) are read as ratios
 * to the floor measured in the same rounds, and held to the bounds the
 * headline already holds poll to (throughput >= 0.95 x epoll, CPU per
 * message <= 1.10 x epoll); push has no bound of its own in the headline,
 * so it is held to the same.  A regression of the executor shows as a
 * lower ratio: the floor's own noise cancels in it.
 *
 * The spread: each ratio is printed with the range it can take over the
 * rounds, [min/max .. max/min] of the two engines' figures.  Met when the
 * ratio of the medians is within the bound; "even" when the medians miss
 * it but the range reaches it (the rounds vary more than the miss); missed
 * otherwise.
 */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SWEEP_MSGS_MIN 0.95     /* x epoll, throughput, at least */
#define SWEEP_CPU_MAX 1.10      /* x epoll, CPU per message, at most */

static const struct bench_summary *sweep_find(const struct bench_summary *s,
					      int n, const char *engine)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s[i].engine, engine) == 0)
			return &s[i];
	return NULL;
}

/* One target: a's field k over b's, against bound (a lower bound when
 * up). */
static void sweep_line(FILE *f, const char *what,
		       const struct bench_summary *a,
		       const struct bench_summary *b, int k, bool up,
		       double bound)
{
	double r = a->med[k] / b->med[k];
	double lo = a->min[k] / b->max[k], hi = a->max[k] / b->min[k];
	const char *v;
	char fig[64];

	if (up ? r >= bound : r <= bound)
		v = "met";
	else if (up ? hi >= bound : lo <= bound)
		v = "even (ranges overlap)";
	else
		v = "MISSED";
	snprintf(fig, sizeof(fig), "%.2f [%.2f..%.2f]", r, lo, hi);
	fprintf(f, "  %-52s %-22s %s\n", what, fig, v);
}

void bench__print_sweep_targets(FILE *f, const struct bench_summary *s,
				int n)
{
	const struct bench_summary *ep = sweep_find(s, n, "epoll");
	const char *mine[2] = { "push", "poll" };
	char what[96];

	if (ep == NULL || isnan(ep->med[BENCH_F_MSGS]) ||
	    isnan(ep->med[BENCH_F_CPU])) {
		fprintf(f, "targets: no epoll floor at --workers 1 in this "
			"run: the no-regression target needs it\n");
		return;
	}
	fprintf(f, "\ntargets: no regression of the single-threaded echo "
		"(--workers 1 as a multiple of the epoll floor of the same "
		"rounds; medians [range over the rounds]):\n");
	for (int m = 0; m < 2; m++) {
		const struct bench_summary *p = sweep_find(s, n, mine[m]);

		if (p == NULL || isnan(p->med[BENCH_F_MSGS]))
			continue;
		snprintf(what, sizeof(what), "%s --workers 1 echo throughput "
			 ">= %.2f x epoll", mine[m], SWEEP_MSGS_MIN);
		sweep_line(f, what, p, ep, BENCH_F_MSGS, true, SWEEP_MSGS_MIN);
		snprintf(what, sizeof(what), "%s --workers 1 CPU per message "
			 "<= %.2f x epoll", mine[m], SWEEP_CPU_MAX);
		sweep_line(f, what, p, ep, BENCH_F_CPU, false, SWEEP_CPU_MAX);
	}
}
