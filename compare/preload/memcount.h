/* memcount.h: the counters of the allocation-counting preload library
 * (memcount.c, built as pushpoll-memcount.so), and the file through which
 * another process reads them.
 *
 * `pushpoll bench` counts the heap of a server it did not build the way
 * shared/mem counts the engines: it creates a counter file, maps it, and
 * starts the server with
 *
 *     LD_PRELOAD=.../pushpoll-memcount.so  PUSHPOLL_MEMCOUNT=FILE
 *
 * The library takes over malloc, calloc, realloc, reallocarray, free,
 * posix_memalign, aligned_alloc, memalign, valloc and pvalloc, maps FILE,
 * and keeps its counters there, so the bench reads them at the instant it
 * starts and stops measuring, with no signal and no help from the server.
 *
 * What is counted is what mem counts (mem.h): an allocation is malloc,
 * calloc, realloc of NULL and each of the aligned ones; a free is free of a
 * block or realloc to size 0; a realloc of a live block counts one
 * `reallocs` and the growth in `bytes`, no allocation; `bytes` sums the
 * sizes asked for, not what the C library rounds them to.
 *
 * Limits, where the figures do not mean what they say:
 *   - a program with its own allocator (jemalloc or mimalloc linked in, a
 *     pool carved from one big block, Rust with a #[global_allocator]) is
 *     counted only where that allocator calls malloc: its figures are the
 *     allocator's refills, not the program's allocations.  A Rust program
 *     without one uses the system allocator, malloc, so it is counted.
 *   - a static binary, a setuid one, or one that clears LD_PRELOAD never
 *     loads the library: `magic` stays 0 and the bench prints no heap
 *     figures for it ("-").
 *   - the library needs glibc (it calls __libc_malloc and its kin).
 *   - a block from an allocator that was in use before the library loaded
 *     is freed by the C library uncounted.
 */
#ifndef PUSHPOLL_MEMCOUNT_H
#define PUSHPOLL_MEMCOUNT_H

#include <stdint.h>

#define MEMCOUNT_ENV "PUSHPOLL_MEMCOUNT"
#define MEMCOUNT_MAGIC 0x746e756f636d656dull   /* "memcount" */

/* The layout of FILE: one page, zeroed by whoever creates it.  Every field
 * is updated with relaxed atomic operations (as in mem.c), so a reader in
 * another process loads each with __atomic_load_n. */
struct memcount {
	uint64_t magic;           /* MEMCOUNT_MAGIC once a process mapped it */
	uint64_t allocs;          /* as mem_stats (mem.h) */
	uint64_t frees;
	uint64_t reallocs;
	uint64_t bytes;
	uint64_t failed;          /* refused by the C library */
	int64_t live_bytes;
	int64_t peak_live_bytes;
};

#endif
