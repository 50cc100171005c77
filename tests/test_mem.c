/* test_mem.c: the counting allocator (shared/mem.h).
 *
 * The counters are process-wide, so every test works on the difference
 * between two snapshots and disarms any failure injection it armed: the
 * tests pass whether Check forks a process per test or not (except the
 * abort tests, which need the fork).
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"

/* after - before, counter by counter. */
static struct mem_stats delta(const struct mem_stats *before)
{
	struct mem_stats now, d;

	mem_stats_get(&now);
	d.allocs = now.allocs - before->allocs;
	d.frees = now.frees - before->frees;
	d.reallocs = now.reallocs - before->reallocs;
	d.bytes = now.bytes - before->bytes;
	d.failed = now.failed - before->failed;
	d.live_blocks = now.live_blocks - before->live_blocks;
	d.live_bytes = now.live_bytes - before->live_bytes;
	d.peak_live_bytes = now.peak_live_bytes - before->peak_live_bytes;
	return d;
}

#if defined(__SANITIZE_ADDRESS__)
/* One test asks malloc for more than any machine has: under ASan, as
 * without it, the answer must be NULL, not a report that ends the run. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
#endif

START_TEST(test_alloc_and_free_are_counted)
{
	struct mem_stats s0, d;
	char *a, *b;

	mem_stats_get(&s0);
	a = mem_alloc(100);
	b = mem_alloc(28);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	memset(a, 0xaa, 100);	/* the whole block is usable */
	memset(b, 0xbb, 28);
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 2);
	ck_assert_uint_eq(d.frees, 0);
	ck_assert_uint_eq(d.bytes, 128);
	ck_assert_int_eq(d.live_blocks, 2);
	ck_assert_int_eq(d.live_bytes, 128);

	mem_free(a);
	d = delta(&s0);
	ck_assert_uint_eq(d.frees, 1);
	ck_assert_int_eq(d.live_blocks, 1);
	ck_assert_int_eq(d.live_bytes, 28);
	ck_assert_uint_eq(d.bytes, 128);	/* bytes is a running total */

	mem_free(b);
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 2);
	ck_assert_uint_eq(d.frees, 2);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
	ck_assert_uint_eq(d.failed, 0);
}
END_TEST

START_TEST(test_blocks_are_16_byte_aligned)
{
	void *p[8];
	size_t i;

	for (i = 0; i < 8; i++) {
		p[i] = mem_alloc(i * 7 + 1);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
	}
	for (i = 0; i < 8; i++)
		mem_free(p[i]);
}
END_TEST

START_TEST(test_free_null_is_ignored)
{
	struct mem_stats s0, d;

	mem_stats_get(&s0);
	mem_free(NULL);
	d = delta(&s0);
	ck_assert_uint_eq(d.frees, 0);
	ck_assert_int_eq(d.live_blocks, 0);
}
END_TEST

START_TEST(test_zero_size_alloc_gives_a_unique_counted_pointer)
{
	struct mem_stats s0, d;
	void *a, *b;

	mem_stats_get(&s0);
	a = mem_alloc(0);
	b = mem_alloc(0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 2);
	ck_assert_uint_eq(d.bytes, 0);
	ck_assert_int_eq(d.live_blocks, 2);
	mem_free(a);
	mem_free(b);
	d = delta(&s0);
	ck_assert_int_eq(d.live_blocks, 0);
}
END_TEST

START_TEST(test_calloc_zeroes_and_counts_count_times_size)
{
	struct mem_stats s0, d;
	unsigned char *p;
	size_t i;

	mem_stats_get(&s0);
	p = mem_calloc(10, 12);
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 120; i++)
		ck_assert_uint_eq(p[i], 0);
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 1);
	ck_assert_uint_eq(d.bytes, 120);
	ck_assert_int_eq(d.live_bytes, 120);
	mem_free(p);
}
END_TEST

START_TEST(test_calloc_overflow_gives_null)
{
	struct mem_stats s0, d;

	mem_stats_get(&s0);
	ck_assert_ptr_null(mem_calloc(SIZE_MAX / 2, 3));
	ck_assert_ptr_null(mem_calloc(2, SIZE_MAX));
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 0);
	ck_assert_uint_eq(d.bytes, 0);
	ck_assert_int_eq(d.live_blocks, 0);
}
END_TEST

START_TEST(test_realloc_resizes_and_keeps_contents)
{
	struct mem_stats s0, d;
	char *p, *q;
	int i;

	mem_stats_get(&s0);
	p = mem_realloc(NULL, 16);	/* NULL p: an allocation */
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 16; i++)
		p[i] = (char)i;
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 1);
	ck_assert_uint_eq(d.reallocs, 0);
	ck_assert_int_eq(d.live_bytes, 16);

	q = mem_realloc(p, 4096);	/* grow: a realloc, not an alloc */
	ck_assert_ptr_nonnull(q);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(q[i], i);
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, 1);
	ck_assert_uint_eq(d.frees, 0);
	ck_assert_uint_eq(d.reallocs, 1);
	ck_assert_uint_eq(d.bytes, 4096);	/* 16 handed out, then 4080 more */
	ck_assert_int_eq(d.live_blocks, 1);
	ck_assert_int_eq(d.live_bytes, 4096);

	q = mem_realloc(q, 8);		/* shrink */
	ck_assert_ptr_nonnull(q);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(q[i], i);
	d = delta(&s0);
	ck_assert_uint_eq(d.reallocs, 2);
	ck_assert_uint_eq(d.bytes, 4096);
	ck_assert_int_eq(d.live_bytes, 8);

	ck_assert_ptr_null(mem_realloc(q, 0));	/* size 0: a free */
	d = delta(&s0);
	ck_assert_uint_eq(d.frees, 1);
	ck_assert_uint_eq(d.reallocs, 2);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
}
END_TEST

START_TEST(test_realloc_failure_leaves_the_old_block_intact)
{
	struct mem_stats s0, d;
	char *p;
	int i;

	p = mem_alloc(32);
	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 32; i++)
		p[i] = (char)(i + 1);
	mem_stats_get(&s0);
	mem_fail_nth(1);
	ck_assert_ptr_null(mem_realloc(p, 1 << 20));
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 1);
	ck_assert_uint_eq(d.reallocs, 0);
	ck_assert_int_eq(d.live_bytes, 0);
	for (i = 0; i < 32; i++)	/* still ours, still intact */
		ck_assert_int_eq(p[i], i + 1);
	mem_free(p);
	d = delta(&s0);
	ck_assert_int_eq(d.live_bytes, -32);
}
END_TEST

/* An allocation the system refuses (more than any machine has) is counted
 * in `failed` like an injected one: the allocation line must not say
 * failed=0 after real out-of-memory errors. */
START_TEST(test_a_refusal_by_malloc_is_counted_as_failed)
{
	const size_t huge = SIZE_MAX / 2;
	struct mem_stats s0, d;
	char *p;

	mem_stats_get(&s0);
	ck_assert_ptr_null(mem_alloc(huge));
	p = mem_alloc(32);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_null(mem_realloc(p, huge));
	mem_free(p);
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 2);
	ck_assert_uint_eq(d.allocs, 1);
	ck_assert_uint_eq(d.reallocs, 0);
	ck_assert_int_eq(d.live_bytes, 0);
}
END_TEST

START_TEST(test_peak_tracks_highest_live_bytes_until_reset)
{
	struct mem_stats s;
	int64_t base;
	void *a, *b, *c;

	mem_reset_peak();
	mem_stats_get(&s);
	ck_assert_int_eq(s.peak_live_bytes, s.live_bytes);
	base = s.live_bytes;

	a = mem_alloc(1000);
	b = mem_alloc(500);
	mem_free(a);
	c = mem_alloc(200);
	mem_stats_get(&s);
	ck_assert_int_eq(s.live_bytes, base + 700);
	ck_assert_int_eq(s.peak_live_bytes, base + 1500);	/* a and b at once */

	mem_reset_peak();	/* the peak restarts from what is live now */
	mem_stats_get(&s);
	ck_assert_int_eq(s.peak_live_bytes, base + 700);
	mem_free(b);
	mem_stats_get(&s);
	ck_assert_int_eq(s.peak_live_bytes, base + 700);	/* frees never raise it */
	mem_free(c);
}
END_TEST

START_TEST(test_fail_nth_fails_exactly_the_nth_and_only_once)
{
	struct mem_stats s0, d;
	void *p[6];
	int i;

	mem_stats_get(&s0);
	mem_fail_nth(3);
	for (i = 0; i < 6; i++)
		p[i] = mem_alloc(10);
	ck_assert_ptr_nonnull(p[0]);
	ck_assert_ptr_nonnull(p[1]);
	ck_assert_ptr_null(p[2]);
	ck_assert_ptr_nonnull(p[3]);
	ck_assert_ptr_nonnull(p[4]);
	ck_assert_ptr_nonnull(p[5]);
	/* The failure is counted in `failed` and nowhere else. */
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 1);
	ck_assert_uint_eq(d.allocs, 5);
	ck_assert_uint_eq(d.bytes, 50);
	ck_assert_int_eq(d.live_blocks, 5);
	for (i = 0; i < 6; i++)
		mem_free(p[i]);
}
END_TEST

/* calloc and realloc count as allocations for the countdown too. */
START_TEST(test_fail_nth_counts_calloc_and_realloc)
{
	void *a, *b;

	mem_fail_nth(2);
	a = mem_calloc(1, 8);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(mem_realloc(a, 64));
	b = mem_realloc(a, 64);
	ck_assert_ptr_nonnull(b);
	mem_free(b);
}
END_TEST

START_TEST(test_fail_nth_zero_disarms)
{
	struct mem_stats s0, d;
	void *p[3];
	int i;

	mem_stats_get(&s0);
	mem_fail_nth(2);
	mem_fail_nth(0);
	for (i = 0; i < 3; i++) {
		p[i] = mem_alloc(1);
		ck_assert_ptr_nonnull(p[i]);
	}
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 0);
	for (i = 0; i < 3; i++)
		mem_free(p[i]);
}
END_TEST

START_TEST(test_fail_all_refuses_until_switched_off)
{
	struct mem_stats s0, d;
	void *kept, *p;

	kept = mem_alloc(64);
	ck_assert_ptr_nonnull(kept);
	mem_stats_get(&s0);
	mem_fail_all(true);
	ck_assert_ptr_null(mem_alloc(1));
	ck_assert_ptr_null(mem_calloc(2, 2));
	ck_assert_ptr_null(mem_realloc(NULL, 3));
	ck_assert_ptr_null(mem_realloc(kept, 128));
	mem_free(kept);			/* frees keep working */
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 4);
	ck_assert_uint_eq(d.allocs, 0);
	ck_assert_uint_eq(d.frees, 1);
	ck_assert_int_eq(d.live_blocks, -1);

	mem_fail_all(false);
	p = mem_alloc(1);
	ck_assert_ptr_nonnull(p);
	mem_free(p);
	d = delta(&s0);
	ck_assert_uint_eq(d.failed, 4);
	ck_assert_uint_eq(d.allocs, 1);
}
END_TEST

START_TEST(test_double_free_aborts)
{
	void *p = mem_alloc(24);

	mem_free(p);
	mem_free(p);	/* must abort here */
}
END_TEST

START_TEST(test_free_of_a_foreign_pointer_aborts)
{
	void *p = malloc(64);

	mem_free(p);	/* must abort here */
}
END_TEST

/* The abort message is one line on stderr naming the problem; this runs the
 * double free in a child and reads what it wrote. */
START_TEST(test_bad_free_prints_one_line_naming_it)
{
	char buf[512];
	int fds[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		void *p = mem_alloc(8);

		dup2(fds[1], 2);
		mem_free(p);
		mem_free(p);
		_exit(0);
	}
	close(fds[1]);
	while ((n = read(fds[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	close(fds[0]);
	buf[got] = '\0';
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGABRT);
	ck_assert_ptr_nonnull(strstr(buf, "mem_free("));
	ck_assert_ptr_nonnull(strchr(buf, '\n'));
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + got - 1);	/* one line */
}
END_TEST

#define THREADS 4
#define PER_THREAD 20000

/* Each thread allocates sizes 1..64 in turn, holds a few blocks at a time,
 * and frees everything it allocated.  It counts refused allocations in *arg
 * (Check's asserts belong to the test's own thread). */
static void *churn(void *arg)
{
	void *held[8] = { 0 };
	int *refused = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		mem_free(held[i % 8]);
		held[i % 8] = mem_alloc((size_t)(i % 64) + 1);
		if (!held[i % 8])
			(*refused)++;
	}
	for (i = 0; i < 8; i++)
		mem_free(held[i]);
	return NULL;
}

START_TEST(test_counts_are_exact_across_threads)
{
	struct mem_stats s0, d;
	pthread_t t[THREADS];
	int refused[THREADS] = { 0 }, i;
	uint64_t bytes = 0;

	for (i = 0; i < PER_THREAD; i++)
		bytes += (uint64_t)(i % 64) + 1;
	mem_stats_get(&s0);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &refused[i]), 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		ck_assert_int_eq(refused[i], 0);
	}
	d = delta(&s0);
	ck_assert_uint_eq(d.allocs, (uint64_t)THREADS * PER_THREAD);
	ck_assert_uint_eq(d.frees, (uint64_t)THREADS * PER_THREAD);
	ck_assert_uint_eq(d.bytes, THREADS * bytes);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
	ck_assert_uint_eq(d.failed, 0);
}
END_TEST

/* Armed once while several threads allocate: exactly one allocation fails. */
START_TEST(test_fail_nth_fires_once_across_threads)
{
	struct mem_stats s0, d;
	pthread_t t[THREADS];
	int refused[THREADS] = { 0 }, total = 0, i;

	mem_stats_get(&s0);
	mem_fail_nth(PER_THREAD);	/* well inside the THREADS * PER_THREAD calls */
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, &refused[i]), 0);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		total += refused[i];
	}
	d = delta(&s0);
	ck_assert_int_eq(total, 1);
	ck_assert_uint_eq(d.failed, 1);
	ck_assert_uint_eq(d.allocs, (uint64_t)THREADS * PER_THREAD - 1);
	ck_assert_int_eq(d.live_blocks, 0);
	ck_assert_int_eq(d.live_bytes, 0);
}
END_TEST

/* mem_print writes one line, starting with the label, to stderr. */
START_TEST(test_print_writes_one_labelled_line_to_stderr)
{
	char buf[512];
	FILE *tmp = tmpfile();
	int saved;
	size_t n;

	ck_assert_ptr_nonnull(tmp);
	fflush(stderr);
	saved = dup(2);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fileno(tmp), 2), 0);
	mem_print("label-x");
	fflush(stderr);
	ck_assert_int_ge(dup2(saved, 2), 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	fclose(tmp);
	buf[n] = '\0';
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(strncmp(buf, "label-x", 7), 0);
	ck_assert_ptr_nonnull(strstr(buf, "allocs="));
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + n - 1);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("mem");
	TCase *counts = tcase_create("counts");
	TCase *fail = tcase_create("fail");
	TCase *bad = tcase_create("bad_free");
	TCase *threads = tcase_create("threads");

	tcase_add_test(counts, test_alloc_and_free_are_counted);
	tcase_add_test(counts, test_blocks_are_16_byte_aligned);
	tcase_add_test(counts, test_free_null_is_ignored);
	tcase_add_test(counts, test_zero_size_alloc_gives_a_unique_counted_pointer);
	tcase_add_test(counts, test_calloc_zeroes_and_counts_count_times_size);
	tcase_add_test(counts, test_calloc_overflow_gives_null);
	tcase_add_test(counts, test_realloc_resizes_and_keeps_contents);
	tcase_add_test(counts, test_peak_tracks_highest_live_bytes_until_reset);
	tcase_add_test(counts, test_print_writes_one_labelled_line_to_stderr);
	suite_add_tcase(s, counts);

	tcase_add_test(fail, test_fail_nth_fails_exactly_the_nth_and_only_once);
	tcase_add_test(fail, test_fail_nth_counts_calloc_and_realloc);
	tcase_add_test(fail, test_fail_nth_zero_disarms);
	tcase_add_test(fail, test_fail_all_refuses_until_switched_off);
	tcase_add_test(fail, test_realloc_failure_leaves_the_old_block_intact);
	tcase_add_test(fail, test_a_refusal_by_malloc_is_counted_as_failed);
	suite_add_tcase(s, fail);

	tcase_add_test_raise_signal(bad, test_double_free_aborts, SIGABRT);
	tcase_add_test_raise_signal(bad, test_free_of_a_foreign_pointer_aborts, SIGABRT);
	tcase_add_test(bad, test_bad_free_prints_one_line_naming_it);
	suite_add_tcase(s, bad);

	tcase_add_test(threads, test_counts_are_exact_across_threads);
	tcase_add_test(threads, test_fail_nth_fires_once_across_threads);
	suite_add_tcase(s, threads);

	return s;
}

#include "testutil.h"
