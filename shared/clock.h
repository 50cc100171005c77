/* clock.h: monotonic time in nanoseconds.
 *
 * The one clock the benchmarks, the load generator and the epoll reactor
 * read.  Under the simulated reactor engines read reactor_now() instead,
 * which is virtual time; nothing in an engine calls clock_now_ns() directly.
 */
#ifndef PUSHPOLL_CLOCK_H
#define PUSHPOLL_CLOCK_H

#include <stdint.h>

#define CLOCK_NS_PER_US 1000ull
#define CLOCK_NS_PER_MS 1000000ull
#define CLOCK_NS_PER_S  1000000000ull

/* Nanoseconds since an arbitrary fixed point (CLOCK_MONOTONIC).  Never goes
 * backwards.  Safe from any thread and from a signal handler. */
uint64_t clock_now_ns(void);

/* CPU time (user + system) this process has used so far, in nanoseconds. */
uint64_t clock_cpu_ns(void);

#endif
