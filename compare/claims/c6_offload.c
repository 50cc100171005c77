/* c6_offload.c: claim C6, cancelling while blocking jobs run.
 *
 * "Work with no readiness (regular files) goes to a blocking pool; a
 * running blocking job cannot be cancelled, so its buffer must outlive the
 * cancellation."
 *
 * The experiment is the torture harness's (torture_fanout_waste()): a
 * fanout over the simulated reactor, whose every offload job is a read of
 * the input, cancelled as a whole at every step of its run, for several
 * seeds.  It counts the cancels that landed while a read was in the pool,
 * the jobs that ran to their end anyway, the bytes they read for nothing,
 * and the violations (a leak, a crash, a job never given back; the
 * sanitizer build turns a write into freed memory into a crash).
 */
#include "claims.h"

#include <string.h>

#include "torture/torture.h"

/* The rule.  The claim has two halves that the figures can show.  "Cannot
 * be cancelled": cancels landed while reads ran, and those reads still read
 * their bytes (bytes_wasted > 0: the work went on).  "Its buffer must
 * outlive the cancellation": with the buffer owned by the job, no violation
 * in either engine.  Both, in both engines: holds.  Work wasted but some
 * violation: holds only in part (an engine broke the rule the claim
 * states).  No cancel ever landed on a running read: not measured.  Cancels
 * landed on running reads and no byte was wasted (the job was stopped after
 * all): does not hold. */
void c6_verdict(const struct c6_figures *f, struct claim_verdict *v)
{
	const int P = CLAIMS_PUSH, Q = CLAIMS_POLL;

	if (!f->ran) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "the harness did not run");
		return;
	}
	if (f->cancels_while_running[P] == 0 ||
	    f->cancels_while_running[Q] == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
			"no cancel landed while a read ran (%llu push, %llu "
			"poll)", (unsigned long long)f->cancels_while_running[P],
			(unsigned long long)f->cancels_while_running[Q]);
		return;
	}
	if (f->bytes_wasted[P] == 0 || f->bytes_wasted[Q] == 0) {
		claim_verdict_set(v, CLAIM_FAILS,
			"reads cancelled while running read no byte for "
			"nothing (%llu push, %llu poll): they were stopped",
			(unsigned long long)f->bytes_wasted[P],
			(unsigned long long)f->bytes_wasted[Q]);
		return;
	}
	if (f->violations[P] > 0 || f->violations[Q] > 0) {
		claim_verdict_set(v, CLAIM_PARTLY,
			"running reads could not be stopped (%llu / %llu bytes "
			"wasted), but the buffer did not always outlive them: "
			"%llu push, %llu poll violations",
			(unsigned long long)f->bytes_wasted[P],
			(unsigned long long)f->bytes_wasted[Q],
			(unsigned long long)f->violations[P],
			(unsigned long long)f->violations[Q]);
		return;
	}
	claim_verdict_set(v, CLAIM_HOLDS,
		"%llu / %llu cancels landed on a running read (push / poll); "
		"the reads ran on and read %llu / %llu bytes for nothing "
		"(%.2f%% / %.2f%% of those delivered), into buffers the jobs "
		"owned: 0 violations",
		(unsigned long long)f->cancels_while_running[P],
		(unsigned long long)f->cancels_while_running[Q],
		(unsigned long long)f->bytes_wasted[P],
		(unsigned long long)f->bytes_wasted[Q],
		f->bytes_read[P] ? 100.0 * f->bytes_wasted[P] / f->bytes_read[P] : 0,
		f->bytes_read[Q] ? 100.0 * f->bytes_wasted[Q] / f->bytes_read[Q] : 0);
}

int c6_measure(const struct claims_ctx *cx, struct c6_figures *f)
{
	static const enum torture_engine engine[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = TORTURE_PUSH, [CLAIMS_POLL] = TORTURE_POLL,
	};

	memset(f, 0, sizeof(*f));
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		struct torture_waste w;
		int rc = torture_fanout_waste(engine[m], cx->quick ? 1 : 3, 0,
					      0, &w);

		if (rc < 0)
			return rc;
		f->runs[m] = w.runs;
		f->cancels_while_running[m] = w.cancels_while_running;
		f->jobs_cancelled_running[m] = w.jobs_cancelled_running;
		f->bytes_wasted[m] = w.bytes_wasted;
		f->bytes_read[m] = w.bytes_read;
		f->violations[m] = w.violations;
	}
	f->ran = true;
	return 0;
}

int c6_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c6_figures f;
	int rc;

	rc = c6_measure(cx, &f);
	if (rc < 0)
		return rc;
	c6_verdict(&f, &row->verdict);
	for (int m = 0; m < CLAIMS_NMODELS; m++)
		snprintf(m == CLAIMS_PUSH ? row->push : row->poll,
			 sizeof(row->push),
			 "%llu of %llu cancels hit a running read; %llu bytes "
			 "read for nothing; %llu violations",
			 (unsigned long long)f.cancels_while_running[m],
			 (unsigned long long)f.runs[m],
			 (unsigned long long)f.bytes_wasted[m],
			 (unsigned long long)f.violations[m]);

	claims_json_begin(cx->json, "figures");
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_num(cx->json, "cancelled_fanouts", (double)f.runs[m]);
		claims_json_num(cx->json, "cancels_while_running",
				(double)f.cancels_while_running[m]);
		claims_json_num(cx->json, "jobs_cancelled_running",
				(double)f.jobs_cancelled_running[m]);
		claims_json_num(cx->json, "bytes_wasted",
				(double)f.bytes_wasted[m]);
		claims_json_num(cx->json, "bytes_read", (double)f.bytes_read[m]);
		claims_json_num(cx->json, "violations",
				(double)f.violations[m]);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
