/* c1_alloc.c: claim C1, heap allocations against the depth of a chain.
 *
 * "A callback chain allocates at every level of composition; a polled task
 * allocates once, however deep the chain."
 *
 * The experiment: operations of depth D = 1, 2, 4 ... 64 with one wake each
 * (chain.c), in both engines on the epoll reactor; the mem counters'
 * allocations and bytes over the measured operations, divided by their
 * number.  The counts do not depend on timing, so one run per depth is
 * enough.
 */
#include "claims.h"

#include <errno.h>
#include <string.h>

/* The rule.  C1 holds when push's allocations per operation grow by at
 * least one per level of depth (from the shallowest depth measured to the
 * deepest), and poll's are the same at every depth (within 0.01: the
 * counts are exact, so any difference is real).  Either part failing makes
 * it not hold, and the reason says which. */
void c1_verdict(const struct c1_figures *f, struct claim_verdict *v)
{
	unsigned last = f->ndepths - 1;
	double span, push_slope, poll_min, poll_max;
	bool push_grows, poll_flat;

	if (f->ndepths < 2 || f->depth[last] <= f->depth[0]) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "fewer than two depths measured");
		return;
	}
	span = f->depth[last] - f->depth[0];
	push_slope = (f->allocs[CLAIMS_PUSH][last] -
		      f->allocs[CLAIMS_PUSH][0]) / span;
	poll_min = poll_max = f->allocs[CLAIMS_POLL][0];
	for (unsigned i = 1; i < f->ndepths; i++) {
		double a = f->allocs[CLAIMS_POLL][i];

		poll_min = a < poll_min ? a : poll_min;
		poll_max = a > poll_max ? a : poll_max;
	}
	push_grows = push_slope >= 1.0 - 1e-9;
	poll_flat = poll_max - poll_min <= 0.01;
	if (push_grows && poll_flat)
		claim_verdict_set(v, CLAIM_HOLDS,
			"push: %.2f allocations per operation at D=%u, %.2f "
			"at D=%u (+%.2f per level); poll: %.2f at every depth",
			f->allocs[CLAIMS_PUSH][0], f->depth[0],
			f->allocs[CLAIMS_PUSH][last], f->depth[last],
			push_slope, poll_min);
	else if (poll_flat)
		claim_verdict_set(v, CLAIM_FAILS,
			"push's allocations do not grow with every level: "
			"%.2f at D=%u, %.2f at D=%u (+%.2f per level)",
			f->allocs[CLAIMS_PUSH][0], f->depth[0],
			f->allocs[CLAIMS_PUSH][last], f->depth[last],
			push_slope);
	else
		claim_verdict_set(v, CLAIM_FAILS,
			"poll's allocations change with depth: from %.2f to "
			"%.2f per operation (push: +%.2f per level)",
			poll_min, poll_max, push_slope);
}

int c1_measure(const struct claims_ctx *cx, struct c1_figures *f)
{
	unsigned ops = cx->quick ? 20 : 200;
	struct reactor *r;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	r = reactor_new_epoll();
	if (r == NULL)
		return -errno;
	for (unsigned i = 0; i < CLAIMS_NDEPTHS && rc == 0; i++) {
		f->depth[i] = claims_depths[i];
		for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++) {
			struct chain_figures c;

			rc = chain_run(m, r, f->depth[i], 1, 5, ops, false, &c);
			f->allocs[m][i] = (double)c.allocs / (double)c.ops;
			f->bytes[m][i] = (double)c.bytes / (double)c.ops;
		}
		f->ndepths = i + 1;
	}
	reactor_free(r);
	return rc;
}

static void c1_plot(const struct claims_ctx *cx, const struct c1_figures *f)
{
	FILE *d = claims_plot_data(cx, "c1.dat");

	if (d == NULL)
		return;
	fprintf(d, "# depth push_allocs poll_allocs push_bytes poll_bytes\n");
	for (unsigned i = 0; i < f->ndepths; i++)
		fprintf(d, "%u %.3f %.3f %.1f %.1f\n", f->depth[i],
			f->allocs[CLAIMS_PUSH][i], f->allocs[CLAIMS_POLL][i],
			f->bytes[CLAIMS_PUSH][i], f->bytes[CLAIMS_POLL][i]);
	fclose(d);
	fputs("set output 'c1_allocs.png'\n"
	      "set title 'C1: heap allocations per operation against chain depth'\n"
	      "set xlabel 'depth D (nested sequences)'\n"
	      "set logscale x 2\n"
	      "set ylabel 'allocations per operation'\n"
	      "set y2label 'bytes per operation'\n"
	      "set ytics nomirror\n"
	      "set y2tics\n"
	      "plot 'c1.dat' using 1:2 with linespoints lw 2 title 'push: allocations', \\\n"
	      "     'c1.dat' using 1:3 with linespoints lw 2 title 'poll: allocations', \\\n"
	      "     'c1.dat' using 1:4 axes x1y2 with linespoints dt 2 title 'push: bytes', \\\n"
	      "     'c1.dat' using 1:5 axes x1y2 with linespoints dt 2 title 'poll: bytes'\n"
	      "unset logscale x\n"
	      "unset y2tics\n"
	      "unset y2label\n"
	      "set ytics mirror\n",
	      cx->plot);
}

int c1_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c1_figures f;
	unsigned last;
	int rc;

	rc = c1_measure(cx, &f);
	if (rc < 0)
		return rc;
	last = f.ndepths - 1;
	c1_verdict(&f, &row->verdict);
	for (int m = 0; m < CLAIMS_NMODELS; m++)
		snprintf(m == CLAIMS_PUSH ? row->push : row->poll,
			 sizeof(row->push),
			 "%.1f / %.1f allocs per op at D=%u / D=%u "
			 "(%.0f / %.0f bytes)",
			 f.allocs[m][0], f.allocs[m][last], f.depth[0],
			 f.depth[last], f.bytes[m][0], f.bytes[m][last]);

	claims_json_begin(cx->json, "figures");
	{
		double d[CLAIMS_NDEPTHS];

		for (unsigned i = 0; i < f.ndepths; i++)
			d[i] = f.depth[i];
		claims_json_nums(cx->json, "depth", d, f.ndepths);
	}
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_nums(cx->json, "allocs_per_op", f.allocs[m],
				 f.ndepths);
		claims_json_nums(cx->json, "bytes_per_op", f.bytes[m],
				 f.ndepths);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	c1_plot(cx, &f);
	return 0;
}
