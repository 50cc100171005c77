/* mem.h: the counting allocator.
 *
 * Every allocation an engine makes goes through mem_alloc()/mem_free(), and
 * the libuv and libevent baselines route those libraries' allocators here
 * too (compare/baselines/baselines.h), so "allocations per message" means
 * the same thing for every engine in a comparison.  mem itself knows
 * nothing of either library.
 *
 * Counters are process-wide and updated with relaxed atomic operations, so
 * allocation from offload worker threads (libuv's thread pool does this) is
 * counted correctly.  The cost is one atomic add per counter per call, paid
 * equally by every engine.
 *
 * Each block carries a 16-byte header holding its size and a magic word; the
 * header keeps the 16-byte alignment malloc gives.  mem_free() of a pointer
 * that mem did not hand out, or of one already freed, prints a one-line
 * message and aborts: a double free is a bug that must be seen, not counted.
 *
 * Failure injection, for the allocation-failure experiments: mem_fail_nth()
 * makes one future allocation return NULL, mem_fail_all() makes every one
 * fail until turned off.  A failed allocation, injected or refused by the
 * system (malloc returned NULL), is counted in `failed` and changes no
 * other counter.
 */
#ifndef PUSHPOLL_MEM_H
#define PUSHPOLL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mem_stats {
	uint64_t allocs;          /* successful allocations (alloc, calloc, realloc of NULL) */
	uint64_t frees;           /* blocks freed (free, realloc to 0) */
	uint64_t reallocs;        /* realloc calls that moved or resized a live block */
	uint64_t bytes;           /* bytes handed out, summed over all allocations */
	uint64_t failed;          /* allocations refused: injected, or by malloc */
	int64_t live_blocks;      /* allocs - frees */
	int64_t live_bytes;       /* bytes now allocated */
	int64_t peak_live_bytes;  /* highest live_bytes since start or mem_reset_peak() */
};

/* Allocate n bytes (n may be 0: a unique pointer is returned).  Returns NULL
 * when the system is out of memory or an injected failure fires. */
void *mem_alloc(size_t n);
/* Like calloc: zeroed, with overflow of count * size reported as NULL. */
void *mem_calloc(size_t count, size_t size);
/* Like realloc: NULL p allocates, n == 0 frees and returns NULL.  On failure
 * the old block is untouched and still owned by the caller. */
void *mem_realloc(void *p, size_t n);
/* Release a block from mem_alloc/mem_calloc/mem_realloc.  NULL is ignored. */
void mem_free(void *p);

/* A snapshot of the counters. */
void mem_stats_get(struct mem_stats *out);
/* Restart peak tracking from the current live_bytes. */
void mem_reset_peak(void);

/* Make the nth allocation from now fail (n == 1: the very next one).  n == 0
 * disarms.  It fires once. */
void mem_fail_nth(uint64_t n);
/* While on, every allocation fails.  Frees keep working. */
void mem_fail_all(bool on);

/* Print the counters as one line, prefixed by label, to stderr. */
void mem_print(const char *label);

#endif
