/* c9_threads.c: claim C9, single-threaded and multi-threaded executors.
 *
 * "A single-threaded executor can run tasks that are not thread-safe;
 * sharing tasks across threads costs atomic operations on every wake."
 *
 * Not measured yet.  The experiment this claim needs is the same workload
 * on a single-threaded and a multi-threaded executor, with the cost per
 * wake of each.  Both engines here are single-threaded by design (poll.h,
 * R5: nothing is atomic, and completions from the offload pool reach
 * the loop thread before they touch a task), and there is no
 * multi-threaded executor to put beside them.  The verdict says so, rather
 * than borrowing a figure from elsewhere.
 */
#include "claims.h"

/* The rule, for as long as there is no experiment: not measured, with the
 * reason. */
void c9_verdict(struct claim_verdict *v)
{
	claim_verdict_set(v, CLAIM_NOT_MEASURED,
		"not measured yet: both executors are single-threaded by "
		"design (no atomics, poll.h R5), and no multi-threaded "
		"executor exists here to compare the cost per wake against");
}

int c9_run(struct claims_ctx *cx, struct claim_row *row)
{
	c9_verdict(&row->verdict);
	snprintf(row->push, sizeof(row->push), "single-threaded loop only");
	snprintf(row->poll, sizeof(row->poll), "single-threaded executor only");
	claims_json_begin(cx->json, "figures");
	claims_json_str(cx->json, "reason", row->verdict.why);
	claims_json_end(cx->json);
	return 0;
}
