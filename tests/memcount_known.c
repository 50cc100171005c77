/* memcount_known.c: a program whose allocations are known, for the test of
 * the preload library pushpoll-memcount.so (compare/preload/memcount.h).
 *
 *   PUSHPOLL_MEMCOUNT=FILE LD_PRELOAD=.../pushpoll-memcount.so tests/memcount_known
 *
 * It maps the counter file itself, reads the counters, makes exactly the
 * calls listed in KNOWN below, reads them again and prints the difference
 * on one line:
 *   "loaded=1 allocs=A frees=F reallocs=R bytes=B live=L"
 * (loaded=0 when the library did not map the file: not preloaded).  Between
 * the two reads it calls nothing that allocates but the calls it counts.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "preload/memcount.h"

/* The blocks are kept here, so that no call can be optimised away. */
static void *volatile keep[1200];

static void snap(const struct memcount *m, struct memcount *out)
{
	const uint64_t *src = (const uint64_t *)m;
	uint64_t *dst = (uint64_t *)out;

	for (size_t k = 0; k < sizeof(*m) / 8; k++)
		dst[k] = __atomic_load_n(&src[k], __ATOMIC_ACQUIRE);
}

/* KNOWN: 1116 allocations, 1116 frees, 3 reallocs and 133984 bytes:
 *   1000 malloc(100)                       1000 allocs, 100000 bytes
 *    100 calloc(10, 10)                     100 allocs,  10000 bytes
 *      1 realloc(NULL, 50)                    1 alloc,      50 bytes
 *        realloc of it to 200                 1 realloc,   150 bytes more
 *        realloc of it to 20                  1 realloc,     0 bytes more
 *     10 posix_memalign(64, 256)             10 allocs,   2560 bytes
 *      5 aligned_alloc(4096, 4096)            5 allocs,  20480 bytes
 *        realloc of one posix_memalign block
 *        to 1000                              1 realloc,   744 bytes more
 *   free of all of them but one, and realloc(p, 0) of that one: 1116 frees */
static void known(void)
{
	int k = 0;
	void *p;

	for (int i = 0; i < 1000; i++) {
		keep[k] = malloc(100);
		memset(keep[k++], 1, 100);
	}
	for (int i = 0; i < 100; i++)
		keep[k++] = calloc(10, 10);
	p = realloc(NULL, 50);
	p = realloc(p, 200);
	p = realloc(p, 20);
	keep[k++] = p;
	for (int i = 0; i < 10; i++) {
		if (posix_memalign(&p, 64, 256) != 0)
			abort();
		keep[k++] = p;
	}
	for (int i = 0; i < 5; i++)
		keep[k++] = aligned_alloc(4096, 4096);
	keep[k - 6] = realloc(keep[k - 6], 1000);
	for (int i = 0; i < k - 1; i++)
		free(keep[i]);
	if (realloc(keep[k - 1], 0) != NULL)
		abort();
}

int main(void)
{
	const char *path = getenv(MEMCOUNT_ENV);
	struct memcount zero = { 0 }, a, b;
	struct memcount *m = &zero;
	char line[256];
	int fd, n;

	if (path != NULL) {
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			void *map = mmap(NULL, sizeof(*m), PROT_READ,
					 MAP_SHARED, fd, 0);
			if (map != MAP_FAILED)
				m = map;
			close(fd);
		}
	}
	snap(m, &a);
	known();
	snap(m, &b);
	n = snprintf(line, sizeof(line), "loaded=%d allocs=%llu frees=%llu "
		     "reallocs=%llu bytes=%llu live=%lld\n",
		     b.magic == MEMCOUNT_MAGIC,
		     (unsigned long long)(b.allocs - a.allocs),
		     (unsigned long long)(b.frees - a.frees),
		     (unsigned long long)(b.reallocs - a.reallocs),
		     (unsigned long long)(b.bytes - a.bytes),
		     (long long)(b.live_bytes - a.live_bytes));
	return write(STDOUT_FILENO, line, (size_t)n) == n ? 0 : 1;
}
