/* memcount.c: pushpoll-memcount.so, a preload library that counts a
 * program's heap the way shared/mem counts the engines (memcount.h says
 * what, how to use it, and where its figures stop meaning anything).
 *
 * Every block it hands out carries a 16-byte header just below the pointer,
 * as mem's blocks do: the size asked for (so a free knows how many live
 * bytes go, and a realloc how many are new) and how far below the pointer
 * the C library's block starts (16, or the alignment of an aligned one).
 * The real allocation is the C library's, through __libc_malloc and its
 * kin, so the library needs no dlsym() and no allocation of its own before
 * it can serve the first malloc.
 *
 * Until the constructor has mapped the counter file, and in a program
 * started without one, the counters live in this library's own memory.
 * Built without sanitizers: it must be loadable into any program.
 */
#include "config.h"      /* _GNU_SOURCE */

#include "memcount.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The C library's allocator (glibc exports these for exactly this). */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t count, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void __libc_free(void *p);

#define HDR 16
#define LIVE 0x6d63u            /* "mc": in the low half of `tag` */

struct hdr {
	uint64_t size;          /* bytes asked for */
	uint32_t offset;        /* from the C library's block to the pointer */
	uint32_t tag;           /* LIVE while the block is live */
};

_Static_assert(sizeof(struct hdr) == HDR, "the header keeps 16-byte alignment");

static struct memcount local;
static struct memcount *c = &local;

#define ADD(var, v) __atomic_add_fetch(&(var), (v), __ATOMIC_RELAXED)
#define LOAD(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)

/* As in mem.c: add delta, raise the peak if it was passed. */
static void live_bytes_add(int64_t delta)
{
	int64_t live = ADD(c->live_bytes, delta);
	int64_t peak = LOAD(c->peak_live_bytes);

	while (live > peak &&
	       !__atomic_compare_exchange_n(&c->peak_live_bytes, &peak, live,
					    true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* Map the counter file the environment names and move what was counted so
 * far into it.  Nothing here allocates. */
__attribute__((constructor)) static void memcount_attach(void)
{
	const char *path = getenv(MEMCOUNT_ENV);
	struct memcount *m;
	int fd;

	if (path == NULL || path[0] == '\0')
		return;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	ADD(m->allocs, local.allocs);
	ADD(m->frees, local.frees);
	ADD(m->reallocs, local.reallocs);
	ADD(m->bytes, local.bytes);
	ADD(m->failed, local.failed);
	ADD(m->live_bytes, local.live_bytes);
	if (LOAD(m->peak_live_bytes) < LOAD(m->live_bytes))
		__atomic_store_n(&m->peak_live_bytes, LOAD(m->live_bytes),
				 __ATOMIC_RELAXED);
	__atomic_store_n(&m->magic, MEMCOUNT_MAGIC, __ATOMIC_RELEASE);
	c = m;
}

static struct hdr *hdr_of(void *p)
{
	return (struct hdr *)((char *)p - HDR);
}

/* Whether p is one of ours (else it came from before the library was
 * loaded, or from someone's aligned block we never saw). */
static bool ours(void *p)
{
	return hdr_of(p)->tag == LIVE;
}

/* Put the header in front of a fresh C library block and count it. */
static void *count_new(char *block, size_t offset, size_t n)
{
	struct hdr *h;

	if (block == NULL) {
		ADD(c->failed, 1);
		errno = ENOMEM;
		return NULL;
	}
	h = (struct hdr *)(block + offset - HDR);
	h->size = n;
	h->offset = (uint32_t)offset;
	h->tag = LIVE;
	ADD(c->allocs, 1);
	ADD(c->bytes, n);
	live_bytes_add((int64_t)n);
	return block + offset;
}

void *malloc(size_t n)
{
	if (n > SIZE_MAX - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	return count_new(__libc_malloc(n + HDR), HDR, n);
}

void *calloc(size_t count, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(count, size, &n) || n > SIZE_MAX - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	return count_new(__libc_calloc(1, n + HDR), HDR, n);
}

/* An aligned block: the C library's block is aligned to align (at least
 * 16), and the pointer is align bytes into it, so the header fits below. */
static void *aligned(size_t align, size_t n)
{
	if (align < HDR)
		align = HDR;
	if (n > SIZE_MAX - align || align > UINT32_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return count_new(__libc_memalign(align, n + align), align, n);
}

static bool power_of_two(size_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

void free(void *p)
{
	struct hdr *h;

	if (p == NULL)
		return;
	if (!ours(p)) {
		__libc_free(p);
		return;
	}
	h = hdr_of(p);
	h->tag = 0;
	ADD(c->frees, 1);
	live_bytes_add(-(int64_t)h->size);
	__libc_free((char *)p - h->offset);
}

void *realloc(void *p, size_t n)
{
	struct hdr *h;
	char *moved;
	uint64_t old;

	if (p == NULL)
		return malloc(n);
	if (!ours(p))
		return __libc_realloc(p, n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	if (n > SIZE_MAX - HDR) {
		errno = ENOMEM;
		return NULL;
	}
	h = hdr_of(p);
	old = h->size;
	if (h->offset != HDR) {
		/* An aligned block: the C library's realloc would not keep
		 * the offset, so move it by hand. */
		moved = __libc_malloc(n + HDR);
		if (moved == NULL) {
			ADD(c->failed, 1);
			errno = ENOMEM;
			return NULL;
		}
		memcpy(moved + HDR, p, old < n ? old : n);
		h->tag = 0;
		__libc_free((char *)p - h->offset);
	} else {
		moved = __libc_realloc((char *)p - HDR, n + HDR);
		if (moved == NULL) {
			ADD(c->failed, 1);
			return NULL;  /* the old block is untouched, still live */
		}
	}
	h = (struct hdr *)moved;
	h->size = n;
	h->offset = HDR;
	h->tag = LIVE;
	ADD(c->reallocs, 1);
	if (n > old)
		ADD(c->bytes, n - old);
	live_bytes_add((int64_t)n - (int64_t)old);
	return moved + HDR;
}

void *reallocarray(void *p, size_t count, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(count, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (!power_of_two(align) || align % sizeof(void *) != 0)
		return EINVAL;
	p = aligned(align, n);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, n);
}

void *memalign(size_t align, size_t n)
{
	if (!power_of_two(align)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(align, n);
}

void *valloc(size_t n)
{
	return aligned((size_t)sysconf(_SC_PAGESIZE), n);
}

void *pvalloc(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (n > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned(page, (n + page - 1) / page * page);
}

/* What the program may use of a block is what it asked for. */
size_t malloc_usable_size(void *p)
{
	static size_t (*next)(void *);

	if (p == NULL)
		return 0;
	if (ours(p))
		return hdr_of(p)->size;
	if (next == NULL)
		next = (size_t (*)(void *))dlsym(RTLD_NEXT,
						 "malloc_usable_size");
	return next != NULL ? next(p) : 0;
}
