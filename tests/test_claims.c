/* test_claims.c: `pushpoll claims` (compare/claims/).
 *
 * Every verdict rule is fed synthetic figures for each of its outcomes, so
 * that a rule that can only say "holds" (or only "does not hold") fails
 * here.  The figures are made up to sit clearly on one side of the rule's
 * thresholds; none is measured.  Then the pieces the rules stand on: the
 * chain of chain.c (allocation counts that do not depend on timing), the
 * line counter of C3, C15's split of a callgrind file and its echo
 * exchange (a few round trips, natively), the median, and the runner on the
 * quickest claim (C9).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claims/claims.h"
#include "engines.h"
#include "reactor.h"

/* ---- C1 ------------------------------------------------------------------- */

/* Synthetic C1 figures: push allocates per_level per level plus 2, poll
 * poll_at(D). */
static void c1_fill(struct c1_figures *f, double per_level, double poll_d1,
		    double poll_d64)
{
	memset(f, 0, sizeof(*f));
	f->ndepths = CLAIMS_NDEPTHS;
	for (unsigned i = 0; i < CLAIMS_NDEPTHS; i++) {
		f->depth[i] = claims_depths[i];
		f->allocs[CLAIMS_PUSH][i] = 2 + per_level * claims_depths[i];
		f->allocs[CLAIMS_POLL][i] = i + 1 == CLAIMS_NDEPTHS ? poll_d64
								    : poll_d1;
	}
}

START_TEST(test_c1_holds_when_push_grows_and_poll_is_flat)
{
	struct c1_figures f;
	struct claim_verdict v;

	c1_fill(&f, 3, 1, 1);
	c1_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "+3.00 per level"));
}
END_TEST

START_TEST(test_c1_fails_when_push_does_not_grow_per_level)
{
	struct c1_figures f;
	struct claim_verdict v;

	c1_fill(&f, 0.5, 1, 1);
	c1_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	ck_assert_ptr_nonnull(strstr(v.why, "push"));
}
END_TEST

START_TEST(test_c1_fails_when_poll_allocations_change_with_depth)
{
	struct c1_figures f;
	struct claim_verdict v;

	c1_fill(&f, 3, 1, 2);
	c1_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	ck_assert_ptr_nonnull(strstr(v.why, "poll's allocations change"));
}
END_TEST

/* ---- C2 ------------------------------------------------------------------- */

/* Costs per wake: push push0 * (1 + push_slope * i), poll poll0 + poll_per
 * level * D, in instructions or in units. */
static void c2_fill(struct c2_figures *f, bool instr, double push0,
		    double push_growth, double poll0, double poll_per_level)
{
	memset(f, 0, sizeof(*f));
	f->ndepths = CLAIMS_NDEPTHS;
	f->have_instr = instr;
	for (unsigned i = 0; i < CLAIMS_NDEPTHS; i++) {
		double d = claims_depths[i];
		double push = push0 * (1 + (push_growth - 1) * (d - 1) / 63);
		double poll = poll0 + poll_per_level * (d - 1);

		f->depth[i] = claims_depths[i];
		if (instr) {
			f->instr[CLAIMS_PUSH][i] = push;
			f->instr[CLAIMS_POLL][i] = poll;
		} else {
			f->units[CLAIMS_PUSH][i] = push;
			f->units[CLAIMS_POLL][i] = poll;
		}
		f->ns[CLAIMS_PUSH][i] = 1000;
		f->ns[CLAIMS_POLL][i] = 1000;
	}
}

START_TEST(test_c2_holds_when_poll_grows_and_push_is_flat)
{
	struct c2_figures f;
	struct claim_verdict v;

	c2_fill(&f, true, 2000, 1.0, 1500, 20);
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "instructions"));
	/* 1500 + 20 * (D - 1) passes 2000 first at D = 32. */
	ck_assert_ptr_nonnull(strstr(v.why, "from D=32"));
}
END_TEST

START_TEST(test_c2_says_when_poll_stays_cheaper)
{
	struct c2_figures f;
	struct claim_verdict v;

	c2_fill(&f, true, 10000, 1.0, 1000, 20);
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "stays cheaper"));
}
END_TEST

START_TEST(test_c2_fails_when_poll_does_not_grow)
{
	struct c2_figures f;
	struct claim_verdict v;

	c2_fill(&f, true, 2000, 1.0, 1500, 0.1);
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c2_holds_only_in_part_when_push_grows_too)
{
	struct c2_figures f;
	struct claim_verdict v;

	c2_fill(&f, true, 2000, 2.0, 1500, 20);
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
}
END_TEST

START_TEST(test_c2_uses_work_units_without_callgrind)
{
	struct c2_figures f;
	struct claim_verdict v;

	c2_fill(&f, false, 1, 1.0, 2, 1);
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "work units"));
	/* The same figures put in the instruction slots would be ignored. */
	c2_fill(&f, false, 1, 1.0, 2, 0);
	f.instr[CLAIMS_POLL][CLAIMS_NDEPTHS - 1] = 1e9;
	c2_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

/* ---- C3 ------------------------------------------------------------------- */

static void c3_fill(struct c3_figures *f, unsigned push_lines,
		    unsigned poll_lines, uint64_t push_violations)
{
	memset(f, 0, sizeof(*f));
	f->harness_ran = true;
	f->lines_counted = true;
	f->cancel_points[CLAIMS_PUSH] = 1000;
	f->cancel_points[CLAIMS_POLL] = 900;
	f->violations[CLAIMS_PUSH] = push_violations;
	f->cancel_lines[CLAIMS_PUSH] = push_lines;
	f->cancel_lines[CLAIMS_POLL] = poll_lines;
	f->code_lines[CLAIMS_PUSH] = 500;
	f->code_lines[CLAIMS_POLL] = 500;
}

START_TEST(test_c3_holds_with_a_heavier_burden_and_no_violation)
{
	struct c3_figures f;
	struct claim_verdict v;

	c3_fill(&f, 60, 20, 0);
	c3_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c3_fails_without_a_heavier_burden)
{
	struct c3_figures f;
	struct claim_verdict v;

	c3_fill(&f, 22, 20, 0);
	c3_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c3_holds_only_in_part_with_violations)
{
	struct c3_figures f;
	struct claim_verdict v;

	c3_fill(&f, 60, 20, 3);
	c3_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "3 / 0 violations"));
	c3_fill(&f, 60, 20, 0);
	f.harness_ran = false;
	c3_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
}
END_TEST

START_TEST(test_c3_is_not_measured_without_sources)
{
	struct c3_figures f;
	struct claim_verdict v;

	c3_fill(&f, 60, 20, 0);
	f.lines_counted = false;
	c3_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

START_TEST(test_c3_counts_code_lines_that_mention_cancellation)
{
	const char *text =
		"/* cancel: a comment\n"
		" * over two lines, token */\n"
		"int a;  // cancel in a line comment\n"
		"\n"
		"push_token_init(&t, NULL);\n"
		"rc = f(tok);\n"
		"rc = g(stoke, tokx);\n"
		"poll_task_abort(t); /* abort */\n"
		"if (n == -ECANCELED) /* x */ n = 0;\n"
		"int b; /* a comment that\n"
		"   ends here */ int c;\n";
	unsigned code = 0, cancel = 0;

	c3_count_lines(text, &code, &cancel);
	/* Code lines: int a; push_token_init; f(tok); g(...); abort; if;
	 * int b; int c. */
	ck_assert_uint_eq(code, 8);
	/* token, tok, abort, ECANCELED; not stoke or tokx. */
	ck_assert_uint_eq(cancel, 4);
}
END_TEST

/* ---- C4 ------------------------------------------------------------------- */

static void c4_fill(struct c4_figures *f, double poll, double push,
		    double thread, double sig)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < C4_NMECH; i++)
		f->samples[i] = 100;
	f->p50[C4_POLL_WAKE] = poll;
	f->p50[C4_PUSH_DISPATCH] = push;
	f->p50[C4_THREAD_HANDOFF] = thread;
	f->p50[C4_SIGNAL] = sig;
}

START_TEST(test_c4_holds_with_ns_switches_and_us_handoffs)
{
	struct c4_figures f;
	struct claim_verdict v;

	c4_fill(&f, 80, 400, 15000, 4000);
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c4_holds_only_in_part_when_one_side_crosses)
{
	struct c4_figures f;
	struct claim_verdict v;

	c4_fill(&f, 80, 1500, 15000, 4000);
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "push dispatch"));
	c4_fill(&f, 80, 400, 15000, 600);
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "signal"));
}
END_TEST

START_TEST(test_c4_fails_when_everything_costs_the_same)
{
	struct c4_figures f;
	struct claim_verdict v;

	c4_fill(&f, 3000, 3000, 3000, 3000);
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	c4_fill(&f, 100, 100, 200, 300);
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	f.samples[C4_SIGNAL] = 0;
	c4_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

/* ---- C5 ------------------------------------------------------------------- */

/* p99 in us: none, hog, and every remedy at `remedy`. */
static void c5_fill(struct c5_figures *f, double hog, double remedy)
{
	memset(f, 0, sizeof(*f));
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		for (int c = 0; c < C5_NCONFIGS; c++) {
			if (!c5_applies(m, (enum c5_config)c))
				continue;
			f->ran[m][c] = true;
			f->p99[m][c] = remedy;
		}
		f->p99[m][C5_NONE] = 200;
		f->p99[m][C5_HOG] = hog;
		f->p99[m][C5_STEPS] = hog;
	}
}

START_TEST(test_c5_holds_when_the_hog_starves_and_remedies_work)
{
	struct c5_figures f;
	struct claim_verdict v;

	c5_fill(&f, 49000, 1200);
	c5_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c5_holds_only_in_part_when_a_remedy_fails)
{
	struct c5_figures f;
	struct claim_verdict v;

	c5_fill(&f, 49000, 1200);
	f.p99[CLAIMS_POLL][C5_BUDGET] = 48000;
	c5_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "poll budget (48.0 ms)"));
}
END_TEST

START_TEST(test_c5_fails_without_starvation)
{
	struct c5_figures f;
	struct claim_verdict v;

	c5_fill(&f, 900, 800);
	c5_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	f.ran[CLAIMS_PUSH][C5_HOG] = false;
	c5_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

START_TEST(test_c5_budget_and_yield_variants_apply_to_poll_only)
{
	ck_assert(c5_applies(CLAIMS_PUSH, C5_HOG));
	ck_assert(c5_applies(CLAIMS_PUSH, C5_CHUNKS));
	ck_assert(!c5_applies(CLAIMS_PUSH, C5_BUDGET));
	ck_assert(!c5_applies(CLAIMS_PUSH, C5_CHUNKS_SLEEP));
	ck_assert(c5_applies(CLAIMS_POLL, C5_BUDGET));
	ck_assert(c5_applies(CLAIMS_POLL, C5_STEPS));
}
END_TEST

/* ---- C6 ------------------------------------------------------------------- */

static void c6_fill(struct c6_figures *f, uint64_t wasted,
		    uint64_t violations)
{
	memset(f, 0, sizeof(*f));
	f->ran = true;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		f->runs[m] = 800;
		f->cancels_while_running[m] = 70;
		f->jobs_cancelled_running[m] = 70;
		f->bytes_wasted[m] = wasted;
		f->bytes_read[m] = 1 << 20;
		f->violations[m] = violations;
	}
}

START_TEST(test_c6_holds_when_running_jobs_waste_work_safely)
{
	struct c6_figures f;
	struct claim_verdict v;

	c6_fill(&f, 16384, 0);
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c6_fails_when_running_jobs_were_stopped)
{
	struct c6_figures f;
	struct claim_verdict v;

	c6_fill(&f, 0, 0);
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c6_holds_only_in_part_with_violations)
{
	struct c6_figures f;
	struct claim_verdict v;

	c6_fill(&f, 16384, 2);
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	c6_fill(&f, 16384, 0);
	f.cancels_while_running[CLAIMS_POLL] = 0;
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

/* The completion rows add to the verdict's text, never to its outcome. */
START_TEST(test_c6_verdict_says_what_the_completion_rows_show_and_keeps_the_pool_rule)
{
	struct c6_figures f;
	struct claim_verdict v;

	c6_fill(&f, 16384, 0);
	c6_verdict(&f, &v);
	ck_assert_ptr_null(strstr(v.why, "io_uring"));
	f.cq_ran = true;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		f.cq_bytes_wasted[m] = 32768;
		f.cq_buffer_breaches[m] = 3;
		f.threads_epoll[m] = 1 + C6_POOL_THREADS;
	}
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "over io_uring the read is the "
				     "kernel's: 32768 / 32768 bytes wasted"));
	ck_assert_ptr_nonnull(strstr(v.why, "io_uring's not counted"));
	ck_assert_ptr_nonnull(strstr(v.why, "3 / 3 breaches"));
	c6_fill(&f, 0, 0);
	f.cq_ran = true;
	c6_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

/* The completion rows of a real measurement: fanouts over the simulated
 * kernel cancelled at every step, so some mid-read; what the kernel read
 * bounds what was wasted, no buffer was breached, and a real fanout takes
 * its loop and the pool's threads over epoll, fewer over io_uring (where a
 * ring can be made). */
START_TEST(test_c6_completion_rows_count_what_the_kernel_read_and_wasted)
{
	struct claims_ctx cx = { .quick = true };
	struct c6_figures f;

	memset(&f, 0, sizeof(f));
	ck_assert_int_eq(c6_measure_completion(&cx, &f), 0);
	ck_assert(f.cq_ran);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		ck_assert_uint_gt(f.cq_runs[m], 0);
		ck_assert_uint_gt(f.cq_reads_ran_on[m], 0);
		ck_assert_uint_le(f.cq_reads_ran_on[m], f.cq_runs[m]);
		ck_assert_uint_gt(f.cq_bytes_wasted[m], 0);
		ck_assert_uint_le(f.cq_bytes_wasted[m], f.cq_bytes_read[m]);
		ck_assert_uint_eq(f.cq_buffer_breaches[m], 0);
		ck_assert_uint_eq(f.cq_violations[m], 0);
		ck_assert_uint_ge(f.threads_epoll[m], 1 + C6_POOL_THREADS);
		if (f.threads_uring[m] > 0)
			ck_assert_uint_lt(f.threads_uring[m],
					  f.threads_epoll[m]);
	}
}
END_TEST

/* The JSON of C6's figures: per engine the pool's, the completion rows
 * and the threads counted. */
START_TEST(test_c6_json_has_the_completion_rows_per_engine)
{
	struct claims_json j = { 0 };
	struct c6_figures f;
	char buf[8192], want[32];
	const char *poll_at;
	size_t n;

	c6_fill(&f, 16384, 0);
	f.cq_ran = true;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		f.cq_bytes_read[m] = 1 << 20;
		f.cq_bytes_wasted[m] = 49152;
		f.threads_epoll[m] = 1 + C6_POOL_THREADS;
	}
	f.threads_uring[CLAIMS_POLL] = 1;
	j.f = tmpfile();
	ck_assert_ptr_nonnull(j.f);
	j.first[0] = true;
	claims_json_begin(&j, NULL);
	c6_json(&j, &f);
	claims_json_end(&j);
	rewind(j.f);
	n = fread(buf, 1, sizeof(buf) - 1, j.f);
	buf[n] = '\0';
	fclose(j.f);
	poll_at = strstr(buf, "\"poll\": {");
	ck_assert_ptr_nonnull(poll_at);
	ck_assert_ptr_nonnull(strstr(buf, "\"completion\": {"));
	ck_assert_ptr_nonnull(strstr(poll_at, "\"completion\": {"));
	ck_assert_ptr_nonnull(strstr(poll_at, "\"bytes_wasted\": 49152"));
	ck_assert_ptr_nonnull(strstr(poll_at, "\"buffer_breaches\": 0"));
	ck_assert_ptr_nonnull(strstr(poll_at, "\"uring\": 1"));
	/* push's io_uring threads were not counted: no figure */
	ck_assert(strstr(buf, "\"uring\"") == strstr(poll_at, "\"uring\""));
	snprintf(want, sizeof(want), "\"epoll\": %u", 1 + C6_POOL_THREADS);
	ck_assert_ptr_nonnull(strstr(buf, want));
}
END_TEST

/* ---- C7 ------------------------------------------------------------------- */

/* Echo allocations per message: 2 without the fast path under both
 * loads; with it, echo_fast (one in flight) and piped_fast (pipelined). */
static void c7_fill(struct c7_figures *f, double now_fast, double echo_fast,
		    double piped_fast)
{
	memset(f, 0, sizeof(*f));
	f->push_now[0] = 1;
	f->push_now[1] = now_fast;
	f->push_wait[0] = 1;
	f->push_wait[1] = 1;
	for (int l = 0; l < C7_NLOADS; l++) {
		f->echo_allocs[l][0] = 2;
		f->echo_msgs[l][0] = f->echo_msgs[l][1] = 1000;
	}
	f->echo_allocs[C7_ONE_IN_FLIGHT][1] = echo_fast;
	f->echo_allocs[C7_PIPELINED_LOAD][1] = piped_fast;
}

START_TEST(test_c7_holds_when_the_fast_path_removes_most)
{
	struct c7_figures f;
	struct claim_verdict v;

	c7_fill(&f, 0, 0.4, 0.2);
	c7_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "removed 80%"));
}
END_TEST

START_TEST(test_c7_holds_only_in_part_when_most_operations_wait)
{
	struct c7_figures f;
	struct claim_verdict v;

	c7_fill(&f, 0, 1.0, 0.2);
	c7_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "clients pipeline"));
	ck_assert_ptr_nonnull(strstr(v.why, "only 50%"));
	c7_fill(&f, 0, 0.9, 0.9);       /* 55%: more than half, not most */
	c7_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "removed only 55%"));
}
END_TEST

START_TEST(test_c7_fails_when_the_fast_path_still_allocates)
{
	struct c7_figures f;
	struct claim_verdict v;

	c7_fill(&f, 1, 0.4, 0.2);
	c7_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	c7_fill(&f, 0, 0.4, 0.2);
	f.push_wait[1] = 0;      /* waiting reads that allocate nothing */
	c7_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

/* ---- C8 ------------------------------------------------------------------- */

static void c8_fill(struct c8_figures *f, unsigned served, uint64_t refused)
{
	memset(f, 0, sizeof(*f));
	for (int k = 0; k < C8_NSERVERS; k++) {
		f->ran[k] = true;
		f->conns_tried[k] = 8;
	}
	f->conns_served[C8_POLL_STATIC] = served;
	f->allocs_refused[C8_POLL_STATIC] = refused;
	f->allocs_refused[C8_PUSH] = 2;
}

START_TEST(test_c8_holds_when_static_tasks_serve_without_heap)
{
	struct c8_figures f;
	struct claim_verdict v;

	c8_fill(&f, 8, 0);
	c8_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "push 0/8"));
}
END_TEST

START_TEST(test_c8_holds_only_in_part_when_it_still_asks)
{
	struct c8_figures f;
	struct claim_verdict v;

	c8_fill(&f, 8, 5);
	c8_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
}
END_TEST

START_TEST(test_c8_fails_when_static_tasks_do_not_serve)
{
	struct c8_figures f;
	struct claim_verdict v;

	c8_fill(&f, 3, 0);
	c8_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

/* ---- C9, C10, C11 ------------------------------------------------------------ */

static void c9_fill(struct c9_figures *f, double st, double mt,
		    double atomics)
{
	memset(f, 0, sizeof(*f));
	f->have_instr = true;
	f->instr[C9_ST] = st;
	f->instr[C9_MT] = mt;
	f->ns[C9_ST] = st / 4;
	f->ns[C9_MT] = mt / 4;
	f->atomics[C9_MT] = atomics;
	f->remote_ns = 5000;
}

START_TEST(test_c9_holds_when_the_shared_wake_makes_atomics_and_costs_more)
{
	struct c9_figures f;
	struct claim_verdict v;

	c9_fill(&f, 100, 250, 4);
	c9_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	c9_fill(&f, 100, 90, 4);          /* atomics, but no dearer */
	c9_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	c9_fill(&f, 100, 250, 0);         /* no atomics at all */
	c9_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	c9_fill(&f, 0, 0, 0);
	c9_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

static void c10_fill(struct c10_figures *f, double push_call,
		     double poll_call)
{
	memset(f, 0, sizeof(*f));
	f->ok[CLAIMS_PUSH] = f->ok[CLAIMS_POLL] = true;
	f->ns_inloop[CLAIMS_PUSH] = 1000;
	f->ns_inloop[CLAIMS_POLL] = 800;
	f->ns_call[CLAIMS_PUSH] = push_call;
	f->ns_call[CLAIMS_POLL] = poll_call;
	f->allocs_call[CLAIMS_PUSH] = f->allocs_inloop[CLAIMS_PUSH] = 1;
}

START_TEST(test_c10_holds_when_blocking_is_cheap_in_both)
{
	struct c10_figures f;
	struct claim_verdict v;

	c10_fill(&f, 1300, 900);
	c10_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c10_holds_only_in_part_for_one_engine)
{
	struct c10_figures f;
	struct claim_verdict v;

	c10_fill(&f, 5000, 900);
	c10_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "poll's block_on"));
	c10_fill(&f, 1300, 900);
	f.allocs_call[CLAIMS_POLL] = 1;  /* blocking allocates more */
	c10_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "push's run-until"));
}
END_TEST

START_TEST(test_c10_fails_when_blocking_is_dear_in_both)
{
	struct c10_figures f;
	struct claim_verdict v;

	c10_fill(&f, 5000, 5000);
	c10_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

static void c11_fill(struct c11_figures *f, double poll_msgs, double poll_p99)
{
	static const char *const names[] = { "epoll", "libuv", "push", "poll" };

	memset(f, 0, sizeof(*f));
	f->n = 4;
	for (unsigned i = 0; i < 4; i++) {
		snprintf(f->e[i].name, sizeof(f->e[i].name), "%s", names[i]);
		f->e[i].rounds_ok = 3;
		f->e[i].msgs = 100000;
		f->e[i].p99 = 500;
		f->e[i].cpu = 9000;
	}
	f->e[3].msgs = poll_msgs;
	f->e[3].p99 = poll_p99;
	for (unsigned i = 0; i < 4; i++) {   /* one round: no spread */
		f->e[i].msgs_range[0] = f->e[i].msgs_range[1] = f->e[i].msgs;
		f->e[i].p99_range[0] = f->e[i].p99_range[1] = f->e[i].p99;
		f->e[i].cpu_range[0] = f->e[i].cpu_range[1] = f->e[i].cpu;
	}
}

START_TEST(test_c11_holds_when_poll_matches_push)
{
	struct c11_figures f;
	struct claim_verdict v;

	c11_fill(&f, 99000, 520);
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c11_ignores_a_difference_inside_the_rounds_spread)
{
	struct c11_figures f;
	struct claim_verdict v;

	c11_fill(&f, 100000, 600);           /* p99 x1.2 on the medians */
	f.e[2].p99_range[0] = 400;           /* push's rounds: 400..700 us */
	f.e[2].p99_range[1] = 700;
	f.e[3].p99_range[0] = 550;           /* poll's: 550..650 */
	f.e[3].p99_range[1] = 650;
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	f.e[2].p99_range[1] = 520;           /* now apart */
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c11_fails_when_poll_pays)
{
	struct c11_figures f;
	struct claim_verdict v;

	c11_fill(&f, 80000, 520);
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	ck_assert_ptr_nonnull(strstr(v.why, "throughput x0.80"));
	c11_fill(&f, 100000, 900);
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	ck_assert_ptr_nonnull(strstr(v.why, "p99 x1.80"));
	f.e[3].rounds_ok = 0;
	c11_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

/* ---- C12 ------------------------------------------------------------------ */

/* Synthetic C12 figures with 16 KiB buffers: every engine holds `ready`
 * bytes per idle connection on readiness and `conn` with buffers per
 * connection (libevent 1 KiB: its bufferevent reads on readiness), real
 * and simulated alike. */
static void c12_fill(struct c12_figures *f, double ready, double conn)
{
	memset(f, 0, sizeof(*f));
	f->bufsize = 16384;
	f->real_conns = 10000;
	f->sim_conns[C12_CONN] = 100000;
	f->sim_conns[C12_READY] = 1000000;
	for (int e = 0; e < C12_NENGINES; e++) {
		f->real_ran[e][C12_READY] = f->real_ran[e][C12_CONN] = true;
		f->real_bytes[e][C12_READY] = ready;
		f->real_bytes[e][C12_CONN] = e == C12_LIBEVENT ? 1024 : conn;
	}
	for (int k = 0; k < CLAIMS_NMODELS; k++) {
		f->sim_ran[k][C12_READY] = f->sim_ran[k][C12_CONN] = true;
		f->sim_bytes[k][C12_READY] = ready;
		f->sim_bytes[k][C12_CONN] = conn;
	}
}

START_TEST(test_c12_holds_when_waiting_holds_no_buffer_and_a_pending_read_does)
{
	struct c12_figures f;
	struct claim_verdict v;

	c12_fill(&f, 400, 16800);
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "most: epoll, 400"));
}
END_TEST

START_TEST(test_c12_holds_only_in_part_when_one_engine_keeps_a_buffer)
{
	struct c12_figures f;
	struct claim_verdict v;

	c12_fill(&f, 400, 16800);
	f.real_bytes[C12_LIBUV][C12_READY] = 16900;
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "6 of 7 runs"));
	ck_assert_ptr_nonnull(strstr(v.why, "libuv, 16900"));
}
END_TEST

#ifdef HAVE_LIBURING
/* An engine over completion I/O counts like the others: its receive in
 * flight must commit a buffer, its multishot receive on a provided ring
 * must not; one that holds a buffer on readiness makes the claim partial,
 * and is named. */
START_TEST(test_c12_counts_a_completion_engine_on_both_sides_of_the_claim)
{
	struct c12_figures f;
	struct claim_verdict v;

	c12_fill(&f, 400, 16800);
	f.ncompletion = 1;
	f.comp_ran[0][C12_READY] = f.comp_ran[0][C12_CONN] = true;
	f.comp_bytes[0][C12_READY] = 96;
	f.comp_bytes[0][C12_CONN] = 16480;
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	f.comp_bytes[0][C12_READY] = 16500;
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "7 of 8 runs"));
	ck_assert_ptr_nonnull(strstr(v.why, "uring, 16500"));
	f.comp_bytes[0][C12_READY] = 96;
	f.comp_bytes[0][C12_CONN] = 200;
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "uring, 200"));
}
END_TEST

/* Every engine with an entry point over completion I/O is a line of the
 * completion table, under its bench row's name, so that push and poll
 * over io_uring show their pending receive's buffer beside the floor's. */
START_TEST(test_c12_lists_every_engine_over_completion_io)
{
	int listed = 0;

	for (const struct engine *e = engines; e->name != NULL; e++) {
		char name[64];
		bool found = false;

		if (e->echo_completion == NULL)
			continue;
		snprintf(name, sizeof(name), "%s/uring", e->name);
		for (int i = 0; i < c12_ncompletion; i++)
			if (c12_completion[i].echo == e->echo_completion) {
				ck_assert_str_eq(c12_completion[i].name, name);
				found = true;
			}
		ck_assert_msg(found, "%s is not in C12's completion table",
			      name);
		listed++;
	}
	ck_assert_int_ge(listed, 2);
	ck_assert_int_le(c12_ncompletion, C12_MAX_COMPLETION);
}
END_TEST
#endif

START_TEST(test_c12_fails_when_readiness_saves_nothing)
{
	struct c12_figures f;
	struct claim_verdict v;

	c12_fill(&f, 16800, 900);
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c12_is_not_measured_without_runs)
{
	struct c12_figures f;
	struct claim_verdict v;

	memset(&f, 0, sizeof(f));
	f.bufsize = 16384;
	c12_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
}
END_TEST

/* The simulated run counts the engine's heap alone, exactly: poll with
 * buffers on readiness holds its task per connection, nothing more, and
 * the same figure at every run. */
START_TEST(test_c12_sim_counts_one_task_per_idle_poll_connection)
{
	double a, b;

	ck_assert_int_eq(c12_sim(CLAIMS_POLL, C12_READY, 10, 200, &a), 0);
	ck_assert_int_eq(c12_sim(CLAIMS_POLL, C12_READY, 10, 200, &b), 0);
	ck_assert(a == b);
	ck_assert(a > 0 && a < 1024);
	ck_assert_int_eq(c12_sim(CLAIMS_PUSH, C12_CONN, 10, 200, &a), 0);
	ck_assert(a > 16384);
}
END_TEST

/* ---- C15 ------------------------------------------------------------------ */

/* Synthetic C15 figures, per round trip: a server of 700 engine and 700 I/O
 * instructions plus push's malloc and counting, beside 500 of the client's
 * and 4000 of the simulator's trace, at sim_ns for the whole exchange.
 * Pooled push has no malloc and no counting; over loopback 6.5 us. */
static void c15_fill(struct c15_figures *f, double malloc_instr,
		     double counting, double sim_ns)
{
	memset(f, 0, sizeof(*f));
	f->instr_status = C15_COUNTED;
	for (int b = 0; b < C15_NBACKENDS; b++)
		for (int e = 0; e < C15_NENGINES; e++) {
			double *p = f->instr[b][e];

			p[C15_ENGINE] = 700;
			p[C15_IO] = 700;
			p[C15_CLIENT] = 500;
			p[C15_TRACE] = b == C15_SIM ? 4000 : 0;
			if (e == C15_PUSH) {
				p[C15_MALLOC] = malloc_instr;
				p[C15_COUNTING] = counting;
			}
		}
	for (int e = 0; e < C15_NENGINES; e++) {
		f->sim_ns[e] = sim_ns;
		f->user_ns[e] = 500;
		f->sys_ns[e] = 6000;
	}
}

START_TEST(test_c15_holds_when_allocation_is_a_good_chunk_of_cheap_io)
{
	struct c15_figures f;
	struct claim_verdict v;

	/* malloc 300 and counting 100 in a server of 1800: 300 / 1700. */
	c15_fill(&f, 300, 100, 600);
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "17.6%"));
	/* 4 x 600 ns over 6300 + 3 x 5900 instructions: 0.1 ns each; 1800
	 * of them per round trip, halved. */
	ck_assert_ptr_nonnull(strstr(v.why, "costs push 90 ns"));
	ck_assert_ptr_nonnull(strstr(v.why, "save 400 instructions"));
}
END_TEST

START_TEST(test_c15_fails_when_allocation_is_a_small_share)
{
	struct c15_figures f;
	struct claim_verdict v;

	c15_fill(&f, 50, 20, 600);
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

/* The counting layer's bookkeeping is taken out before the rule decides:
 * 400 of 1800 instructions with it (22%), 100 of 1500 without (6.7%). */
START_TEST(test_c15_does_not_count_mem_bookkeeping_as_allocation)
{
	struct c15_figures f;
	struct claim_verdict v;

	c15_fill(&f, 100, 300, 600);
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
	ck_assert_ptr_nonnull(strstr(v.why, "6.7%"));
	ck_assert_ptr_nonnull(strstr(v.why, "22.2% with mem's counting"));
}
END_TEST

START_TEST(test_c15_holds_only_in_part_when_io_costs_a_microsecond)
{
	struct c15_figures f;
	struct claim_verdict v;

	c15_fill(&f, 300, 100, 20000);   /* 3000 ns per operation */
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "not hundreds"));
}
END_TEST

START_TEST(test_c15_is_not_measured_without_valgrind)
{
	struct c15_figures f;
	struct claim_verdict v;

	c15_fill(&f, 300, 100, 600);
	f.instr_status = C15_NO_VALGRIND;
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	ck_assert_str_eq(v.why, "valgrind missing (apt-get install valgrind)");
	f.instr_status = C15_NO_CALLGRIND;
	c15_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	ck_assert_ptr_nonnull(strstr(v.why, "callgrind did not run"));
}
END_TEST

/* ---- what the rules stand on ------------------------------------------------- */

/* ---- C14 ------------------------------------------------------------------ */

/* Synthetic C14 figures: the epoll floor at 2.05 calls and 7000 ns per
 * message, the io_uring floor at `calls` and `cpu` (the same at both
 * counts), push over both backends; every range +-200 ns. */
static void c14_fill(struct c14_figures *f, double calls, double cpu)
{
	static const char *const names[] = { "epoll", "push", "uring",
					     "push/uring" };
	const double sys[] = { 2.05, 2.1, calls, 0.3 };
	const double ns[] = { 7000, 7300, cpu, 6900 };

	memset(f, 0, sizeof(*f));
	f->n = 4;
	for (unsigned i = 0; i < 4; i++) {
		struct c14_row *r = &f->e[i];
		snprintf(r->name, sizeof(r->name), "%s", names[i]);
		r->completion = i >= 2;
		for (int c = 0; c < C14_NCONNS; c++) {
			r->ran[c] = true;
			r->syscalls[c] = sys[i];
			r->cpu[c] = ns[i];
			r->cpu_range[c][0] = ns[i] - 200;
			r->cpu_range[c][1] = ns[i] + 200;
			r->msgs[c] = 100000;
		}
	}
}

START_TEST(test_c14_holds_with_fewer_calls_and_no_dearer_cpu)
{
	struct c14_figures f;
	struct claim_verdict v;

	c14_fill(&f, 0.12, 6400);
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "0.120 vs 2.050"));
	c14_fill(&f, 0.12, 7150);       /* dearer, but inside the spread */
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
}
END_TEST

START_TEST(test_c14_fails_without_fewer_calls)
{
	struct c14_figures f;
	struct claim_verdict v;

	c14_fill(&f, 2.2, 6400);
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c14_holds_only_in_part_when_cpu_is_dearer_or_one_count_misses)
{
	struct c14_figures f;
	struct claim_verdict v;

	c14_fill(&f, 0.12, 8000);       /* dearer beyond the spread */
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "higher beyond the spread"));
	c14_fill(&f, 0.12, 6400);
	f.e[2].syscalls[C14_AT_1K] = 2.5;   /* more calls at 1k */
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "at 50 connections only"));
	c14_fill(&f, 0.12, 6400);
	f.e[0].ran[C14_AT_50] = false;      /* 50 not measured */
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "at 1k connections only"));
}
END_TEST

START_TEST(test_c14_is_not_measured_without_a_floor_or_a_count)
{
	struct c14_figures f;
	struct claim_verdict v;

	c14_fill(&f, 0.12, 6400);
	snprintf(f.e[2].name, sizeof(f.e[2].name), "libuv");  /* no uring */
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	ck_assert_ptr_nonnull(strstr(v.why, "io_uring floor"));
	c14_fill(&f, 0.12, 6400);
	for (int c = 0; c < C14_NCONNS; c++)
		f.e[0].syscalls[c] = NAN;
	snprintf(f.not_counted, sizeof(f.not_counted), "ptrace was refused");
	c14_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	ck_assert_ptr_nonnull(strstr(v.why, "ptrace was refused"));
}
END_TEST

/* The JSON of C14's figures: every row at both counts, a system-call
 * figure that was not counted as null, and the reason. */
START_TEST(test_c14_json_has_every_row_at_both_counts)
{
	struct claims_json j = { 0 };
	struct c14_figures f;
	char buf[8192];
	size_t n;
	const char *p;
	int at = 0;

	c14_fill(&f, 0.12, 6400);
	f.e[3].syscalls[C14_AT_1K] = NAN;
	snprintf(f.e[0].top[C14_AT_50], sizeof(f.e[0].top[0]),
		 "recvfrom 1.00, sendto 1.00, epoll_wait 0.05");
	j.f = tmpfile();
	ck_assert_ptr_nonnull(j.f);
	j.first[0] = true;
	claims_json_begin(&j, NULL);
	c14_json(&j, &f);
	claims_json_end(&j);
	rewind(j.f);
	n = fread(buf, 1, sizeof(buf) - 1, j.f);
	buf[n] = '\0';
	fclose(j.f);
	ck_assert_ptr_nonnull(strstr(buf, "\"figures\": {"));
	ck_assert_ptr_nonnull(strstr(buf, "\"conns\": [50, 1000]"));
	ck_assert_ptr_nonnull(strstr(buf, "\"system_calls_not_counted\": \"\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"engine\": \"push/uring\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"backend\": \"uring\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"backend\": \"epoll\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"most_frequent\": \"recvfrom 1.00"));
	ck_assert_ptr_nonnull(strstr(buf, "\"syscalls_per_msg\": null"));
	ck_assert_ptr_nonnull(strstr(buf, "\"syscalls_per_msg\": 0.12"));
	for (p = buf; (p = strstr(p, "\"cpu_ns_per_msg\"")) != NULL; p++)
		at++;
	ck_assert_int_eq(at, 4 * C14_NCONNS);
	ck_assert_ptr_null(strstr(buf, "nan"));
}
END_TEST

/* ---- C13 ------------------------------------------------------------------ */

/* Synthetic C13 figures: both engines explored, push with push_violations
 * and poll clean with its rules on; poll's rule off found rule_off
 * violations; poll's orphans held orphan_bytes at the stop. */
static void c13_fill(struct c13_figures *f, uint64_t push_violations,
		     uint64_t rule_off, uint64_t orphan_bytes)
{
	memset(f, 0, sizeof(*f));
	f->harness_ran = true;
	f->lines_counted = true;
	f->seeds = 2;
	f->conns = 8;
	f->bufsize = 16384;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		f->scenarios[m] = 3;
		f->cancel_points[m] = 5000;
		f->mutant_ran[m] = true;
		f->mutant_points[m] = 40;
		f->mutant_violations[m] = 3;
		f->stop_measured[m] = true;
		f->owned_ops[m] = 8;
		f->owned_bytes[m] = 8 * 16384;
	}
	f->violations[CLAIMS_PUSH] = push_violations;
	f->mutant_violations[CLAIMS_POLL] = rule_off;
	f->orphaned = orphan_bytes > 0 ? 8 : 0;
	f->orphan_bytes = orphan_bytes;
	f->orphan_bytes_peak = orphan_bytes;
	f->late_completions = f->orphaned;
	f->owned_bytes[CLAIMS_POLL] = orphan_bytes;
}

START_TEST(test_c13_holds_when_safe_the_rule_is_needed_and_orphans_hold_bytes)
{
	struct c13_figures f;
	struct claim_verdict v;

	c13_fill(&f, 0, 12, 8 * 16384);
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_HOLDS);
	ck_assert_ptr_nonnull(strstr(v.why, "rule off: 12 violations"));
	ck_assert_ptr_nonnull(strstr(v.why, "held 131072 B"));
}
END_TEST

START_TEST(test_c13_holds_only_in_part_with_violations_or_a_harmless_rule_off)
{
	struct c13_figures f;
	struct claim_verdict v;

	c13_fill(&f, 2, 12, 8 * 16384);          /* push not safe */
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "not safe"));
	c13_fill(&f, 0, 0, 8 * 16384);           /* the rule off found nothing */
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "found nothing"));
	c13_fill(&f, 0, 12, 0);                  /* no bytes outlived a drop */
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "no bytes held"));
}
END_TEST

START_TEST(test_c13_fails_when_nothing_of_it_is_shown)
{
	struct c13_figures f;
	struct claim_verdict v;

	c13_fill(&f, 2, 0, 0);
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_FAILS);
}
END_TEST

START_TEST(test_c13_is_not_measured_without_the_harness_or_the_rule_off)
{
	struct c13_figures f;
	struct claim_verdict v;

	c13_fill(&f, 0, 12, 8 * 16384);
	f.harness_ran = false;
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	c13_fill(&f, 0, 12, 8 * 16384);
	f.mutant_ran[CLAIMS_POLL] = false;
	f.stop_measured[CLAIMS_POLL] = false;
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_NOT_MEASURED);
	c13_fill(&f, 0, 0, 8 * 16384);           /* rule off not run: in part */
	f.mutant_ran[CLAIMS_POLL] = false;
	c13_verdict(&f, &v);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_ptr_nonnull(strstr(v.why, "not run"));
}
END_TEST

/* The JSON of C13's figures: one object per engine with the safety, the
 * code and the bytes, poll's orphans in poll's. */
START_TEST(test_c13_json_has_both_engines_and_poll_orphans)
{
	struct claims_json j = { 0 };
	struct c13_figures f;
	char buf[8192];
	const char *poll_at;
	size_t n;

	c13_fill(&f, 0, 12, 8 * 16384);
	f.orphan_funcs = 7;
	f.orphan_lines = 90;
	j.f = tmpfile();
	ck_assert_ptr_nonnull(j.f);
	j.first[0] = true;
	claims_json_begin(&j, NULL);
	c13_json(&j, &f);
	claims_json_end(&j);
	rewind(j.f);
	n = fread(buf, 1, sizeof(buf) - 1, j.f);
	buf[n] = '\0';
	fclose(j.f);
	ck_assert_ptr_nonnull(strstr(buf, "\"figures\": {"));
	ck_assert_ptr_nonnull(strstr(buf, "\"harness_ran\": true"));
	ck_assert_ptr_nonnull(strstr(buf, "\"orphan_funcs\": 7"));
	ck_assert_ptr_nonnull(strstr(buf, "\"orphan_lines\": 90"));
	ck_assert_ptr_nonnull(strstr(buf, "\"push\": {"));
	poll_at = strstr(buf, "\"poll\": {");
	ck_assert_ptr_nonnull(poll_at);
	ck_assert_ptr_nonnull(strstr(buf, "\"mutant_violations\": 12"));
	ck_assert_ptr_nonnull(strstr(buf, "\"completion_cancel_lines\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"readiness_code_lines\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"held_bytes\": 131072"));
	ck_assert_ptr_nonnull(strstr(poll_at, "\"orphan_bytes\": 131072"));
	ck_assert(strstr(buf, "\"orphan_bytes\"") > poll_at);
}
END_TEST

START_TEST(test_outcomes_have_the_names_claims_md_uses)
{
	struct claim_verdict v;

	ck_assert_str_eq(claim_outcome_name(CLAIM_HOLDS), "holds");
	ck_assert_str_eq(claim_outcome_name(CLAIM_FAILS), "does not hold");
	ck_assert_str_eq(claim_outcome_name(CLAIM_PARTLY), "holds only when");
	ck_assert_str_eq(claim_outcome_name(CLAIM_NOT_MEASURED), "not measured");
	claim_verdict_set(&v, CLAIM_PARTLY, "x=%d", 42);
	ck_assert_int_eq(v.outcome, CLAIM_PARTLY);
	ck_assert_str_eq(v.why, "x=42");
}
END_TEST

START_TEST(test_median_of_odd_and_even_counts)
{
	double odd[] = { 9, 1, 5 }, even[] = { 4, 1, 3, 2 };

	ck_assert(claims_median(odd, 3) == 5);
	ck_assert(claims_median(even, 4) == 2.5);
}
END_TEST

START_TEST(test_output_helpers_do_nothing_without_a_writer)
{
	struct claims_ctx cx = { 0 };

	claims_json_begin(NULL, "x");
	claims_json_num(NULL, "y", 1);
	claims_json_end(NULL);
	ck_assert_ptr_null(claims_plot_data(&cx, "c1.dat"));
	claims_say(&cx, "nothing is printed");
}
END_TEST

/* The allocation counts of a chain do not depend on timing: exact. */
START_TEST(test_chain_push_allocates_per_level_poll_once)
{
	struct reactor *r = reactor_new_epoll();
	struct chain_figures a, b;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, 1, 1, 2, 10, false, &a), 0);
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, 8, 1, 2, 10, false, &b), 0);
	ck_assert_uint_eq(a.ops, 10);
	ck_assert_uint_eq(a.wakes, 10);
	ck_assert_uint_gt(b.allocs, a.allocs + 7 * 10);
	ck_assert_int_eq(chain_run(CLAIMS_POLL, r, 1, 1, 2, 10, false, &a), 0);
	ck_assert_int_eq(chain_run(CLAIMS_POLL, r, 64, 3, 2, 10, false, &b), 0);
	ck_assert_uint_eq(a.allocs, 10);     /* one task per operation */
	ck_assert_uint_eq(b.allocs, 10);
	ck_assert_uint_gt(b.bytes, a.bytes); /* a bigger task, still one */
	ck_assert_uint_eq(b.wakes, 30);
	reactor_free(r);
}
END_TEST

START_TEST(test_chain_counts_units_per_wake)
{
	struct reactor *r = reactor_new_epoll();
	struct chain_figures a, b;

	ck_assert_ptr_nonnull(r);
	/* poll: every extra wake re-polls the chain from its top (4
	 * sequences and the sleep), then polls the next sleep once. */
	ck_assert_int_eq(chain_run(CLAIMS_POLL, r, 4, 1, 1, 5, true, &a), 0);
	ck_assert_int_eq(chain_run(CLAIMS_POLL, r, 4, 2, 1, 5, true, &b), 0);
	ck_assert_uint_eq((b.units - a.units) / 5, 4 + 2);
	/* push: every extra wake is one more callback. */
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, 4, 1, 1, 5, true, &a), 0);
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, 4, 2, 1, 5, true, &b), 0);
	ck_assert_uint_eq((b.units - a.units) / 5, 1);
	reactor_free(r);
}
END_TEST

START_TEST(test_chain_refuses_bad_shapes)
{
	struct reactor *r = reactor_new_epoll();
	struct chain_figures c;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(chain_run(CLAIMS_POLL, r, 0, 1, 0, 1, false, &c),
			 -EINVAL);
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, CLAIMS_MAX_DEPTH + 1, 1, 0,
				   1, false, &c), -EINVAL);
	ck_assert_int_eq(chain_run(CLAIMS_PUSH, r, 1, 0, 0, 1, false, &c),
			 -EINVAL);
	reactor_free(r);
}
END_TEST

/* A callgrind file made up to hold one cost of every kind c15_split()
 * places: a part's own cost, a call into a library (in its caller's part;
 * from mem.c, in malloc's), a call of the simulator's trace and a call by
 * the client (moved out of the I/O part), a call between the program's
 * parts (already counted in the callee's own cost) and a library's own
 * cost (already counted in its caller's). */
static const char c15_callgrind_text[] =
	"# callgrind format\n"
	"version: 1\n"
	"events: Ir\n"
	"summary: 660\n"
	"\n"
	"ob=/b/pushpoll\n"
	"fl=/b/../../push/loop.c\n"
	"fn=push_loop_run\n"
	"10 100\n"
	"cob=/usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"cfi=memmove.S\n"
	"cfn=memcpy\n"
	"calls=1 1\n"
	"11 5\n"
	"cfi=/b/../../shared/reactor.c\n"
	"cfn=reactor_poll\n"
	"calls=1 5\n"
	"12 800\n"
	"fl=/b/../../shared/reactor_sim.c\n"
	"fn=sim_poll\n"
	"20 50\n"
	"cfn=sim__step_record\n"
	"calls=1 7\n"
	"21 300\n"
	"cfi=/b/../../compare/claims/c15_userspace.c\n"
	"cfn=client_on_io\n"
	"calls=1 9\n"
	"22 100\n"
	"fn=sim__step_record\n"
	"30 100\n"
	"cob=/usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"cfi=vsnprintf.c\n"
	"cfn=vsnprintf\n"
	"calls=1 1\n"
	"31 200\n"
	"fl=/b/../../shared/mem.c\n"
	"fn=mem_alloc\n"
	"40 30\n"
	"cob=/usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"cfi=malloc.c\n"
	"cfn=malloc\n"
	"calls=1 1\n"
	"41 70\n"
	"fl=/b/../../compare/claims/c15_userspace.c\n"
	"fn=client_on_io\n"
	"50 40\n"
	"cfi=/b/../../shared/reactor.c\n"
	"cfn=reactor_write\n"
	"calls=1 3\n"
	"51 60\n"
	"fn=c15_exchange\n"
	"60 5\n"
	"fl=/b/../../shared/reactor.c\n"
	"fn=reactor_write\n"
	"70 60\n"
	"ob=/usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"fl=malloc.c\n"
	"fn=malloc\n"
	"1 70\n";

START_TEST(test_c15_split_places_each_cost_in_its_part)
{
	double part[C15_NPARTS] = { 0 }, total;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	fputs(c15_callgrind_text, f);
	rewind(f);
	ck_assert_int_eq(c15_split(f, part, &total), 0);
	fclose(f);
	ck_assert(total == 660);
	ck_assert(part[C15_ENGINE] == 105);
	ck_assert(part[C15_COUNTING] == 30);
	ck_assert(part[C15_MALLOC] == 70);
	ck_assert(part[C15_IO] == 50);        /* sim_poll's own */
	ck_assert(part[C15_CLIENT] == 100);   /* 40 + its write */
	ck_assert(part[C15_TRACE] == 300);
	ck_assert(part[C15_OTHER] == 5);      /* nothing left over */
}
END_TEST

START_TEST(test_c15_split_refuses_a_file_that_is_not_callgrinds)
{
	double part[C15_NPARTS] = { 0 }, total;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	fputs("hello\n10 20\n", f);
	rewind(f);
	ck_assert_int_eq(c15_split(f, part, &total), -EINVAL);
	fclose(f);
}
END_TEST

/* The experiment's echo exchange, natively and with few round trips: on the
 * simulator the allocation counts are exact, and each engine's are the ones
 * it promises (a request per read and per write, none from the free list
 * once warm, none for a write that completes at once, none in poll). */
START_TEST(test_c15_echo_allocates_as_each_engine_promises)
{
	static const double want[C15_NENGINES] = { 2, 0, 1, 0 };
	struct c15_trips t;

	for (int e = 0; e < C15_NENGINES; e++) {
		ck_assert_int_eq(c15_echo(e, C15_SIM, 5, 20, &t), 0);
		ck_assert_msg(t.allocs == want[e], "%s: %.2f allocations",
			      c15_engine_name[e], t.allocs);
		ck_assert(t.ns > 0);
	}
	/* The same client over real loopback. */
	ck_assert_int_eq(c15_echo(C15_PUSH, C15_LOOPBACK, 5, 20, &t), 0);
	ck_assert(t.allocs == 2);
}
END_TEST

START_TEST(test_c15_echo_refuses_bad_arguments)
{
	struct c15_trips t;

	ck_assert_int_eq(c15_echo(C15_NENGINES, C15_SIM, 5, 20, &t), -EINVAL);
	ck_assert_int_eq(c15_echo(C15_PUSH, C15_NBACKENDS, 5, 20, &t), -EINVAL);
	ck_assert_int_eq(c15_echo(C15_PUSH, C15_SIM, 0, 20, &t), -EINVAL);
	ck_assert_int_eq(c15_echo(C15_PUSH, C15_SIM, 5, 0, &t), -EINVAL);
}
END_TEST

/* The runner, on the quickest claim (C9, --quick): a table on stdout and
 * the JSON file. */
START_TEST(test_runner_writes_the_verdict_to_json)
{
	char path[] = "/tmp/test_claims_XXXXXX";
	char *argv[] = { "claims", "C9", "--quick", "--json", path, NULL };
	char buf[4096];
	size_t n;
	FILE *f;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(claims_main(5, argv), 0);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
	ck_assert_ptr_nonnull(strstr(buf, "\"id\": \"C9\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"verdict\": "));
	ck_assert_ptr_nonnull(strstr(buf, "atomic_rmw_per_wake"));
	ck_assert_ptr_null(strstr(buf, "\"id\": \"C1\""));
}
END_TEST

START_TEST(test_runner_rejects_an_unknown_claim)
{
	char *argv[] = { "claims", "C99", NULL };

	claims_main(2, argv);        /* exits with status 2 */
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("claims");
	TCase *rules = tcase_create("rules");
	TCase *parts = tcase_create("parts");

	tcase_add_test(rules, test_c1_holds_when_push_grows_and_poll_is_flat);
	tcase_add_test(rules, test_c1_fails_when_push_does_not_grow_per_level);
	tcase_add_test(rules, test_c1_fails_when_poll_allocations_change_with_depth);
	tcase_add_test(rules, test_c2_holds_when_poll_grows_and_push_is_flat);
	tcase_add_test(rules, test_c2_says_when_poll_stays_cheaper);
	tcase_add_test(rules, test_c2_fails_when_poll_does_not_grow);
	tcase_add_test(rules, test_c2_holds_only_in_part_when_push_grows_too);
	tcase_add_test(rules, test_c2_uses_work_units_without_callgrind);
	tcase_add_test(rules, test_c3_holds_with_a_heavier_burden_and_no_violation);
	tcase_add_test(rules, test_c3_fails_without_a_heavier_burden);
	tcase_add_test(rules, test_c3_holds_only_in_part_with_violations);
	tcase_add_test(rules, test_c3_is_not_measured_without_sources);
	tcase_add_test(rules, test_c4_holds_with_ns_switches_and_us_handoffs);
	tcase_add_test(rules, test_c4_holds_only_in_part_when_one_side_crosses);
	tcase_add_test(rules, test_c4_fails_when_everything_costs_the_same);
	tcase_add_test(rules, test_c5_holds_when_the_hog_starves_and_remedies_work);
	tcase_add_test(rules, test_c5_holds_only_in_part_when_a_remedy_fails);
	tcase_add_test(rules, test_c5_fails_without_starvation);
	tcase_add_test(rules, test_c6_holds_when_running_jobs_waste_work_safely);
	tcase_add_test(rules, test_c6_fails_when_running_jobs_were_stopped);
	tcase_add_test(rules, test_c6_holds_only_in_part_with_violations);
	tcase_add_test(rules,
		test_c6_verdict_says_what_the_completion_rows_show_and_keeps_the_pool_rule);
	tcase_add_test(parts,
		test_c6_completion_rows_count_what_the_kernel_read_and_wasted);
	tcase_add_test(parts, test_c6_json_has_the_completion_rows_per_engine);
	tcase_add_test(rules, test_c7_holds_when_the_fast_path_removes_most);
	tcase_add_test(rules, test_c7_holds_only_in_part_when_most_operations_wait);
	tcase_add_test(rules, test_c7_fails_when_the_fast_path_still_allocates);
	tcase_add_test(rules, test_c8_holds_when_static_tasks_serve_without_heap);
	tcase_add_test(rules, test_c8_holds_only_in_part_when_it_still_asks);
	tcase_add_test(rules, test_c8_fails_when_static_tasks_do_not_serve);
	tcase_add_test(rules, test_c9_holds_when_the_shared_wake_makes_atomics_and_costs_more);
	tcase_add_test(rules, test_c10_holds_when_blocking_is_cheap_in_both);
	tcase_add_test(rules, test_c10_holds_only_in_part_for_one_engine);
	tcase_add_test(rules, test_c10_fails_when_blocking_is_dear_in_both);
	tcase_add_test(rules, test_c11_holds_when_poll_matches_push);
	tcase_add_test(rules, test_c11_fails_when_poll_pays);
	tcase_add_test(rules, test_c11_ignores_a_difference_inside_the_rounds_spread);
	tcase_add_test(rules, test_c12_holds_when_waiting_holds_no_buffer_and_a_pending_read_does);
	tcase_add_test(rules, test_c12_holds_only_in_part_when_one_engine_keeps_a_buffer);
#ifdef HAVE_LIBURING
	tcase_add_test(rules,
		test_c12_counts_a_completion_engine_on_both_sides_of_the_claim);
	tcase_add_test(rules, test_c12_lists_every_engine_over_completion_io);
#endif
	tcase_add_test(rules, test_c12_fails_when_readiness_saves_nothing);
	tcase_add_test(rules, test_c12_is_not_measured_without_runs);
	tcase_add_test(rules, test_c13_holds_when_safe_the_rule_is_needed_and_orphans_hold_bytes);
	tcase_add_test(rules, test_c13_holds_only_in_part_with_violations_or_a_harmless_rule_off);
	tcase_add_test(rules, test_c13_fails_when_nothing_of_it_is_shown);
	tcase_add_test(rules, test_c13_is_not_measured_without_the_harness_or_the_rule_off);
	tcase_add_test(parts, test_c13_json_has_both_engines_and_poll_orphans);
	tcase_add_test(rules, test_c14_holds_with_fewer_calls_and_no_dearer_cpu);
	tcase_add_test(rules, test_c14_fails_without_fewer_calls);
	tcase_add_test(rules, test_c14_holds_only_in_part_when_cpu_is_dearer_or_one_count_misses);
	tcase_add_test(rules, test_c14_is_not_measured_without_a_floor_or_a_count);
	tcase_add_test(parts, test_c14_json_has_every_row_at_both_counts);
	tcase_add_test(rules, test_c15_holds_when_allocation_is_a_good_chunk_of_cheap_io);
	tcase_add_test(rules, test_c15_fails_when_allocation_is_a_small_share);
	tcase_add_test(rules, test_c15_does_not_count_mem_bookkeeping_as_allocation);
	tcase_add_test(rules, test_c15_holds_only_in_part_when_io_costs_a_microsecond);
	tcase_add_test(rules, test_c15_is_not_measured_without_valgrind);
	suite_add_tcase(s, rules);

	tcase_add_test(parts, test_outcomes_have_the_names_claims_md_uses);
	tcase_add_test(parts, test_median_of_odd_and_even_counts);
	tcase_add_test(parts, test_output_helpers_do_nothing_without_a_writer);
	tcase_add_test(parts, test_c3_counts_code_lines_that_mention_cancellation);
	tcase_add_test(parts, test_c5_budget_and_yield_variants_apply_to_poll_only);
	tcase_add_test(parts, test_chain_push_allocates_per_level_poll_once);
	tcase_add_test(parts, test_chain_counts_units_per_wake);
	tcase_add_test(parts, test_chain_refuses_bad_shapes);
	tcase_add_test(parts, test_c12_sim_counts_one_task_per_idle_poll_connection);
	tcase_add_test(parts, test_c15_split_places_each_cost_in_its_part);
	tcase_add_test(parts, test_c15_split_refuses_a_file_that_is_not_callgrinds);
	tcase_add_test(parts, test_c15_echo_allocates_as_each_engine_promises);
	tcase_add_test(parts, test_c15_echo_refuses_bad_arguments);
	tcase_add_test(parts, test_runner_writes_the_verdict_to_json);
	tcase_add_exit_test(parts, test_runner_rejects_an_unknown_claim, 2);
	suite_add_tcase(s, parts);
	return s;
}

#include "testutil.h"
