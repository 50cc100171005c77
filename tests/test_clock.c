/* test_clock.c: clock_now_ns() and clock_cpu_ns() (shared/clock.h). */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "clock.h"

START_TEST(test_now_never_goes_backwards)
{
	uint64_t prev = clock_now_ns(), now;
	int i;

	for (i = 0; i < 100000; i++) {
		now = clock_now_ns();
		ck_assert_uint_ge(now, prev);
		prev = now;
	}
}
END_TEST

/* nanosleep sleeps at least as long as asked, measured on the monotonic
 * clock, so the clock must advance by at least that much. */
START_TEST(test_now_advances_across_a_sleep)
{
	struct timespec ms = { .tv_sec = 0, .tv_nsec = 1000000 };
	uint64_t before, after;

	before = clock_now_ns();
	ck_assert_int_eq(nanosleep(&ms, NULL), 0);
	after = clock_now_ns();
	ck_assert_uint_ge(after - before, CLOCK_NS_PER_MS);
}
END_TEST

static void *read_clock(void *arg)
{
	*(uint64_t *)arg = clock_now_ns();
	return NULL;
}

/* One clock for every thread: a reading taken in another thread falls
 * between readings taken before its creation and after its join. */
START_TEST(test_now_is_one_clock_across_threads)
{
	uint64_t before, inside = 0, after;
	pthread_t t;

	before = clock_now_ns();
	ck_assert_int_eq(pthread_create(&t, NULL, read_clock, &inside), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	after = clock_now_ns();
	ck_assert_uint_ge(inside, before);
	ck_assert_uint_le(inside, after);
}
END_TEST

static volatile uint64_t in_handler;

static void on_signal(int sig)
{
	(void)sig;
	in_handler = clock_now_ns();
}

START_TEST(test_now_works_in_a_signal_handler)
{
	struct sigaction sa;
	uint64_t before, after;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	before = clock_now_ns();
	ck_assert_int_eq(raise(SIGUSR1), 0);	/* delivered before raise returns */
	after = clock_now_ns();
	ck_assert_uint_ge(in_handler, before);
	ck_assert_uint_le(in_handler, after);
}
END_TEST

/* Spin until the CPU clock moves (it must, since spinning uses CPU), with a
 * generous bound on wall time so a broken clock fails instead of hanging. */
START_TEST(test_cpu_time_advances_while_spinning)
{
	uint64_t start = clock_cpu_ns(), give_up = clock_now_ns() + 5 * CLOCK_NS_PER_S;
	uint64_t cpu = start, prev;
	volatile uint64_t sink = 0;

	while (cpu == start && clock_now_ns() < give_up) {
		for (int i = 0; i < 100000; i++)
			sink += (uint64_t)i;
		prev = cpu;
		cpu = clock_cpu_ns();
		ck_assert_uint_ge(cpu, prev);
	}
	ck_assert_uint_gt(cpu, start);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("clock");

	tcase_add_test(tc, test_now_never_goes_backwards);
	tcase_add_test(tc, test_now_advances_across_a_sleep);
	tcase_add_test(tc, test_now_is_one_clock_across_threads);
	tcase_add_test(tc, test_now_works_in_a_signal_handler);
	tcase_add_test(tc, test_cpu_time_advances_while_spinning);
	suite_add_tcase(s, tc);
	return s;
}

#include "testutil.h"
