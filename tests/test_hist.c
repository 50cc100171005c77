/* test_hist.c: the log-linear histogram (shared/hist.h). */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* A fixed-seed generator (xorshift64*), so every run sees the same samples. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1). */
static double rng_unit(void)
{
	return (double)(rng_next() >> 11) / 9007199254740992.0;
}

/* 1 ns .. 100 s, uniform on a log scale: every decade equally likely. */
static uint64_t sample_log_uniform(void)
{
	return (uint64_t)llround(exp(rng_unit() * log(1e11)));
}

/* A narrow peak: 50 us give or take 1 us. */
static uint64_t sample_narrow(void)
{
	return 49000 + rng_next() % 2001;
}

/* Small values, all in the exact range and just above it. */
static uint64_t sample_small(void)
{
	return rng_next() % 300;
}

/* True when got is within 1/128 of want (the bound hist.h promises), which
 * is inside the 1% the design asks for.  Exact integer arithmetic. */
static int within_bound(uint64_t got, uint64_t want)
{
	unsigned __int128 diff = got > want ? got - want : want - got;

	return diff * 128 <= want;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

#define SAMPLES 1000000

static uint64_t samples[SAMPLES];
static struct hist big;	/* 30 KiB: kept off the stack */

/* Record SAMPLES samples and compare every percentile with the exact one
 * from a sort: the sample of rank ceil(p% of n), counting from 1. */
static void check_against_sort(uint64_t (*draw)(void), uint64_t seed)
{
	static const double ps[] = { 0, 1, 10, 50, 90, 99, 99.9, 99.99, 100 };
	size_t i;

	rng_state = seed;
	hist_init(&big);
	for (i = 0; i < SAMPLES; i++) {
		samples[i] = draw();
		hist_record(&big, samples[i]);
	}
	qsort(samples, SAMPLES, sizeof(samples[0]), cmp_u64);
	ck_assert_uint_eq(big.count, SAMPLES);
	ck_assert_uint_eq(big.min, samples[0]);
	ck_assert_uint_eq(big.max, samples[SAMPLES - 1]);

	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
		uint64_t rank = (uint64_t)ceil(ps[i] * SAMPLES / 100.0);
		uint64_t want = samples[rank ? rank - 1 : 0];
		uint64_t got = hist_percentile(&big, ps[i]);

		if (ps[i] == 0 || ps[i] == 100)
			ck_assert_uint_eq(got, want);	/* min and max are exact */
		ck_assert_msg(within_bound(got, want), "p%g: got %llu, exact %llu",
			      ps[i], (unsigned long long)got, (unsigned long long)want);
	}
}

START_TEST(test_percentiles_match_exact_sort_log_uniform)
{
	check_against_sort(sample_log_uniform, 0x9e3779b97f4a7c15ull);
}
END_TEST

START_TEST(test_percentiles_match_exact_sort_narrow)
{
	check_against_sort(sample_narrow, 12345);
}
END_TEST

START_TEST(test_percentiles_match_exact_sort_small_values)
{
	check_against_sort(sample_small, 777);
}
END_TEST

/* Below HIST_EXACT a percentile is exactly the sample of its rank. */
START_TEST(test_percentile_is_exact_below_128)
{
	static const double ps[] = { 1, 25, 50, 75, 99, 99.5 };
	struct hist h;
	uint64_t v;
	size_t i;

	hist_init(&h);
	for (v = 1; v <= 100; v++)
		hist_record(&h, v);
	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)	/* value v has rank v */
		ck_assert_uint_eq(hist_percentile(&h, ps[i]), (uint64_t)ceil(ps[i]));
}
END_TEST

/* A bucket's midpoint can lie outside what was recorded; the percentile is
 * clamped to [min, max]. */
START_TEST(test_percentile_never_outside_min_max)
{
	const uint64_t v = 1000003;	/* not the midpoint of its bucket */
	struct hist h;
	double p;

	ck_assert_uint_ne(hist_bucket_value(hist_bucket_of(v)), v);
	hist_init(&h);
	hist_record_n(&h, v, 3);
	for (p = 0; p <= 100; p += 0.5)
		ck_assert_uint_eq(hist_percentile(&h, p), v);

	hist_record(&h, v + 1);	/* same bucket: every answer in [v, v + 1] */
	for (p = 0; p <= 100; p += 0.5) {
		ck_assert_uint_ge(hist_percentile(&h, p), v);
		ck_assert_uint_le(hist_percentile(&h, p), v + 1);
	}
}
END_TEST

/* Binary search: the smallest value whose bucket is >= b (bucket_of is
 * non-decreasing, checked separately). */
static uint64_t lowest_in_bucket(size_t b)
{
	uint64_t lo = 0, hi = UINT64_MAX;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (hist_bucket_of(mid) >= b)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Over one bucket [lo, hi] the relative error of its fixed value m is
 * largest at an end (|m - v| / v falls then rises as v goes from lo to hi),
 * so checking both ends of every bucket checks every uint64_t value. */
START_TEST(test_every_value_within_bound_of_its_bucket_value)
{
	uint64_t lo, hi, m;
	size_t b;

	ck_assert_uint_eq(lowest_in_bucket(0), 0);
	ck_assert_uint_eq(hist_bucket_of(UINT64_MAX), HIST_BUCKETS - 1);
	for (b = 0; b < HIST_BUCKETS; b++) {
		lo = lowest_in_bucket(b);
		hi = b + 1 < HIST_BUCKETS ? lowest_in_bucket(b + 1) - 1 : UINT64_MAX;
		m = hist_bucket_value(b);
		ck_assert_uint_le(lo, hi);	/* no bucket is empty */
		ck_assert_uint_eq(hist_bucket_of(lo), b);
		ck_assert_uint_eq(hist_bucket_of(hi), b);
		ck_assert_uint_ge(m, lo);
		ck_assert_uint_le(m, hi);
		ck_assert_msg(within_bound(m, lo) && within_bound(m, hi),
			      "bucket %zu [%llu, %llu] reports %llu", b,
			      (unsigned long long)lo, (unsigned long long)hi,
			      (unsigned long long)m);
		if (lo < HIST_EXACT)
			ck_assert_uint_eq(lo, hi);	/* exact range: one value each */
	}
}
END_TEST

/* bucket_of never decreases, over 1 ns .. 1e11 and on to UINT64_MAX. */
START_TEST(test_bucket_of_is_non_decreasing)
{
	size_t prev = 0, b;
	uint64_t v;
	double x;

	for (x = 1; x < 1.8e19; x *= 1.001) {
		v = (uint64_t)x;
		b = hist_bucket_of(v);
		ck_assert_uint_ge(b, prev);
		ck_assert_uint_lt(b, HIST_BUCKETS);
		prev = b;
	}
	ck_assert_uint_ge(hist_bucket_of(UINT64_MAX), prev);
}
END_TEST

START_TEST(test_merge_equals_recording_everything_in_one)
{
	static struct hist a, b, all;
	uint64_t v;
	int i;

	hist_init(&a);
	hist_init(&b);
	hist_init(&all);
	rng_state = 42;
	for (i = 0; i < 100000; i++) {
		v = i % 3 ? sample_log_uniform() : sample_narrow();
		hist_record(i % 2 ? &a : &b, v);
		hist_record(&all, v);
	}
	hist_merge(&a, &b);
	ck_assert_uint_eq(a.count, all.count);
	ck_assert_uint_eq(a.min, all.min);
	ck_assert_uint_eq(a.max, all.max);
	ck_assert_mem_eq(a.buckets, all.buckets, sizeof(a.buckets));
	/* sums added in another order may differ in the last bits */
	ck_assert_double_eq_tol(a.sum, all.sum, all.sum * 1e-12);
}
END_TEST

START_TEST(test_merge_of_empty_changes_nothing)
{
	static struct hist h, copy, empty;

	hist_init(&h);
	hist_init(&empty);
	hist_record(&h, 500);
	copy = h;
	hist_merge(&h, &empty);
	ck_assert_mem_eq(&h, &copy, sizeof(h));
	hist_merge(&empty, &h);		/* into an empty one: a copy */
	ck_assert_mem_eq(&empty, &h, sizeof(h));
}
END_TEST

START_TEST(test_encode_decode_round_trip_is_exact)
{
	static struct hist h, back;
	size_t need, got;
	char *text;
	int i;

	hist_init(&h);
	rng_state = 99;
	for (i = 0; i < 200000; i++)
		hist_record(&h, i % 2 ? sample_log_uniform() : sample_narrow());
	need = hist_encode(&h, NULL, 0);
	text = malloc(need + 1);
	ck_assert_ptr_nonnull(text);
	got = hist_encode(&h, text, need + 1);
	ck_assert_uint_eq(got, need);
	ck_assert_uint_eq(strlen(text), need);
	ck_assert_int_eq(hist_decode(&back, text), 0);
	ck_assert_mem_eq(&back, &h, sizeof(h));	/* sum included, bit for bit */
	free(text);
}
END_TEST

START_TEST(test_encode_reports_needed_length_when_cut)
{
	static struct hist h;
	char full[256], cut[16];
	size_t need;

	hist_init(&h);
	hist_record(&h, 3);
	hist_record(&h, 1000000);
	need = hist_encode(&h, full, sizeof(full));
	ck_assert_uint_lt(need, sizeof(full));
	ck_assert_uint_eq(hist_encode(&h, cut, sizeof(cut)), need);
	ck_assert_uint_eq(strlen(cut), sizeof(cut) - 1);	/* cut, terminated */
	ck_assert_int_eq(strncmp(cut, full, sizeof(cut) - 1), 0);
}
END_TEST

START_TEST(test_decode_rejects_malformed_text)
{
	static const char *bad[] = {
		"",
		"garbage",
		"1 5 5",			/* header cut short */
		"1 5 5 5",			/* no '|' */
		"1 5 5 5|",			/* count says 1, no bucket */
		"1 5 5 5|5:2",			/* bucket counts do not add up */
		"1 5 5 5|5",			/* pair without a count */
		"1 5 5 5|5:1,",			/* trailing comma */
		"1 5 5 5|5:1x",			/* trailing junk */
		"1 5 5 5|5:1 junk",
		"1 5 5 5|99999:1",		/* bucket out of range */
		"2 5 6 11|6:1,5:1",		/* buckets out of order */
		"2 5 5 10|5:1,5:1",		/* repeated bucket */
		"1 5 5 5|5:0,6:1",		/* empty bucket written */
		"2 7 9 16|5:1,9:1",		/* min not in the first bucket */
		"2 5 7 12|5:1,9:1",		/* max not in the last bucket */
		"-1 5 5 5|5:1",			/* negative count */
		"1 5 5 -5|5:1",			/* negative sum */
		"1 5 5 nan|5:1",
		"0 5 0 0|",			/* empty, but a min */
		"99999999999999999999 5 5 5|5:1",	/* count overflows */
	};
	static struct hist h;
	size_t i;

	hist_init(&h);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hist_record(&h, 1);	/* dirty it: a failed decode leaves it empty */
		ck_assert_msg(hist_decode(&h, bad[i]) == -EINVAL, "accepted \"%s\"", bad[i]);
		ck_assert_uint_eq(h.count, 0);
	}
}
END_TEST

START_TEST(test_empty_histogram)
{
	static struct hist h, back;
	char text[128], line[256];

	hist_init(&h);
	ck_assert_uint_eq(h.count, 0);
	ck_assert_uint_eq(h.min, UINT64_MAX);
	ck_assert_uint_eq(h.max, 0);
	ck_assert_uint_eq(hist_percentile(&h, 0), 0);
	ck_assert_uint_eq(hist_percentile(&h, 50), 0);
	ck_assert_uint_eq(hist_percentile(&h, 100), 0);
	ck_assert_double_eq(hist_mean(&h), 0);

	ck_assert_uint_lt(hist_encode(&h, text, sizeof(text)), sizeof(text));
	ck_assert_int_eq(hist_decode(&back, text), 0);
	ck_assert_mem_eq(&back, &h, sizeof(h));

	hist_summary(&h, line, sizeof(line));
	ck_assert_int_eq(strncmp(line, "n=0 ", 4), 0);
}
END_TEST

START_TEST(test_record_n_equals_n_records)
{
	static struct hist once, many;
	int i;

	hist_init(&once);
	hist_init(&many);
	hist_record_n(&once, 12345, 7);
	hist_record_n(&once, 3, 2);
	for (i = 0; i < 7; i++)
		hist_record(&many, 12345);
	for (i = 0; i < 2; i++)
		hist_record(&many, 3);
	ck_assert_mem_eq(&once, &many, sizeof(once));

	hist_record_n(&once, 999999, 0);	/* n == 0 records nothing */
	ck_assert_mem_eq(&once, &many, sizeof(once));
}
END_TEST

START_TEST(test_mean_is_exact_sum_over_count)
{
	struct hist h;

	hist_init(&h);
	hist_record(&h, 100);
	hist_record(&h, 200);
	hist_record_n(&h, 600, 2);
	ck_assert_double_eq(hist_mean(&h), (100.0 + 200 + 600 + 600) / 4);
}
END_TEST

/* The summary of a histogram holding one value shows that value (every
 * percentile is clamped to it) in the unit that fits it. */
static void check_summary_of_one(uint64_t v, const char *shown)
{
	char line[256], want[256];
	struct hist h;
	int n;

	hist_init(&h);
	hist_record(&h, v);
	n = hist_summary(&h, line, sizeof(line));
	snprintf(want, sizeof(want), "n=1 min=%s p50=%s p90=%s p99=%s p99.9=%s max=%s",
		 shown, shown, shown, shown, shown, shown);
	ck_assert_str_eq(line, want);
	ck_assert_int_eq(n, (int)strlen(want));
}

START_TEST(test_summary_scales_units)
{
	check_summary_of_one(999, "999ns");
	check_summary_of_one(1500, "1.50us");
	check_summary_of_one(2500000, "2.50ms");
	check_summary_of_one(3000000000ull, "3.00s");
}
END_TEST

START_TEST(test_summary_returns_needed_length_when_cut)
{
	char full[256], cut[10];
	struct hist h;
	int n;

	hist_init(&h);
	hist_record(&h, 42);
	n = hist_summary(&h, full, sizeof(full));
	ck_assert_int_eq(hist_summary(&h, cut, sizeof(cut)), n);
	ck_assert_uint_eq(strlen(cut), sizeof(cut) - 1);
	ck_assert_int_eq(strncmp(cut, full, sizeof(cut) - 1), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *acc = tcase_create("accuracy");
	TCase *ops = tcase_create("operations");

	/* The million-sample cases sort a million values; allow slow
	 * sanitizer builds time to do it. */
	tcase_set_timeout(acc, 60);
	tcase_add_test(acc, test_percentiles_match_exact_sort_log_uniform);
	tcase_add_test(acc, test_percentiles_match_exact_sort_narrow);
	tcase_add_test(acc, test_percentiles_match_exact_sort_small_values);
	tcase_add_test(acc, test_percentile_is_exact_below_128);
	tcase_add_test(acc, test_percentile_never_outside_min_max);
	tcase_add_test(acc, test_every_value_within_bound_of_its_bucket_value);
	tcase_add_test(acc, test_bucket_of_is_non_decreasing);
	suite_add_tcase(s, acc);

	tcase_add_test(ops, test_merge_equals_recording_everything_in_one);
	tcase_add_test(ops, test_merge_of_empty_changes_nothing);
	tcase_add_test(ops, test_encode_decode_round_trip_is_exact);
	tcase_add_test(ops, test_encode_reports_needed_length_when_cut);
	tcase_add_test(ops, test_decode_rejects_malformed_text);
	tcase_add_test(ops, test_empty_histogram);
	tcase_add_test(ops, test_record_n_equals_n_records);
	tcase_add_test(ops, test_mean_is_exact_sum_over_count);
	tcase_add_test(ops, test_summary_scales_units);
	tcase_add_test(ops, test_summary_returns_needed_length_when_cut);
	suite_add_tcase(s, ops);
	return s;
}

#include "testutil.h"
