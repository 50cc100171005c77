/* clock.c: monotonic and CPU time in nanoseconds (see clock.h).
 *
 * Both are one clock_gettime() call: on Linux x86-64 CLOCK_MONOTONIC is
 * served by the vDSO (tens of nanoseconds, no system call); the process CPU
 * clock is a real system call (a few hundred nanoseconds), so read it per
 * run, not per operation.  clock_gettime() is async-signal-safe.
 */
#include "clock.h"

#include <time.h>

static uint64_t timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * CLOCK_NS_PER_S + (uint64_t)ts->tv_nsec;
}

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	/* Cannot fail for a valid clock id and a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_ns(&ts);
}

/* CLOCK_PROCESS_CPUTIME_ID is user + system time of every thread of the
 * process, at nanosecond resolution (getrusage() would give microseconds). */
uint64_t clock_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return timespec_ns(&ts);
}
