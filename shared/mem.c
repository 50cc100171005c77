/* mem.c: the counting allocator (see mem.h for the contract).
 *
 * Layout of a block:
 *
 *     malloc'd pointer -> +----------------------+
 *                         | size  (8 bytes)      |  struct mem_hdr: 16 bytes,
 *                         | magic (8 bytes)      |  so the user pointer keeps
 *     user pointer     -> +----------------------+  malloc's 16-byte alignment
 *                         | n bytes for the user |
 *                         +----------------------+
 *
 * Every counter is a plain 64-bit integer updated with relaxed __atomic
 * operations: totals are exact whatever thread allocates, but a snapshot
 * taken while other threads allocate is not one instant (each counter is
 * read separately).  Relaxed order is enough because nothing else is
 * published through these counters (the one exception, `frees`, is
 * explained in mem_stats_get()).
 *
 * On x86-64 each update is one locked instruction, about 5 ns uncontended:
 * an alloc/free pair costs five of them.
 *
 * What a realloc of a live block counts: one `reallocs`, the change in
 * live_bytes, and the growth (if any) in `bytes`, since only the growth is
 * newly handed out.  It counts no alloc and no free.
 */
#include "mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_ASAN 1
#endif
#endif
#ifdef MEM_ASAN
#include <sanitizer/asan_interface.h>
#endif

#define MEM_MAGIC_LIVE 0x6d656d2d6c697665ull /* "mem-live" */
#define MEM_MAGIC_DEAD 0x6d656d2d64656164ull /* "mem-dead" */

struct mem_hdr {
	uint64_t size;   /* bytes the user asked for */
	uint64_t magic;  /* MEM_MAGIC_LIVE while the block is live */
};

_Static_assert(sizeof(struct mem_hdr) == 16, "mem_hdr must keep 16-byte alignment");

/* The counters (process-wide; see the comment at the top).  live_blocks is
 * not kept: it is allocs - frees, which saves an atomic add per call. */
static uint64_t n_allocs, n_frees, n_reallocs, n_bytes, n_failed;
static int64_t n_live_bytes, n_peak_live_bytes;

/* Failure injection.  fail_countdown: 0 = disarmed, else the number of
 * allocations left until (and including) the one that fails. */
static uint64_t fail_countdown;
static bool fail_every;

#define ADD(var, v) __atomic_add_fetch(&(var), (v), __ATOMIC_RELAXED)
#define LOAD(var) __atomic_load_n(&(var), __ATOMIC_RELAXED)
#define STORE(var, v) __atomic_store_n(&(var), (v), __ATOMIC_RELAXED)

/* Add delta to live_bytes and raise the peak if it was passed.  The CAS
 * loop only retries when another thread raised the peak meanwhile. */
static void live_bytes_add(int64_t delta)
{
	int64_t live = ADD(n_live_bytes, delta);
	int64_t peak = LOAD(n_peak_live_bytes);

	while (live > peak &&
	       !__atomic_compare_exchange_n(&n_peak_live_bytes, &peak, live, true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Decide whether this allocation is refused by failure injection, and count
 * it in `failed` if so.  The common case (nothing armed) costs two relaxed
 * loads.  The countdown is a CAS loop so that exactly one allocation fails
 * even when several threads allocate at once. */
static bool injected_failure(void)
{
	uint64_t left;

	if (LOAD(fail_every))
		goto refuse;
	left = LOAD(fail_countdown);
	while (left != 0) {
		if (__atomic_compare_exchange_n(&fail_countdown, &left, left - 1, true,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			if (left == 1)
				goto refuse;
			return false;
		}
	}
	return false;

refuse:
	ADD(n_failed, 1);
	return true;
}

/* Print one line naming the problem and abort(): a bad free is a bug in the
 * caller, and carrying on would corrupt the counters and the heap. */
static _Noreturn void bad_free(const void *p, const char *why)
{
	fprintf(stderr, "mem_free(%p): %s\n", p, why);
	abort();
}

/* The header of a block the caller hands back, after checking it is one of
 * ours and is live.  The check is a magic word, so it catches a double free
 * or a foreign pointer in practice but cannot prove a pointer valid: reading
 * the header of a freed block is itself undefined (malloc may reuse those
 * bytes; a large freed block may be unmapped).  Under AddressSanitizer the
 * header is first checked for poisoning, so the check never reads freed
 * memory there. */
static struct mem_hdr *hdr_of(void *p)
{
	struct mem_hdr *h = (struct mem_hdr *)p - 1;

#ifdef MEM_ASAN
	if (__asan_region_is_poisoned(h, sizeof(*h)))
		bad_free(p, "not a live block from mem (already freed, or never allocated here)");
#endif
	if (h->magic == MEM_MAGIC_DEAD)
		bad_free(p, "double free");
	if (h->magic != MEM_MAGIC_LIVE)
		bad_free(p, "not a live block from mem (already freed, or never allocated here)");
	return h;
}

void *mem_alloc(size_t n)
{
	struct mem_hdr *h;

	if (n > SIZE_MAX - sizeof(*h) || injected_failure())
		return NULL;
	h = malloc(sizeof(*h) + n);
	if (!h) {
		ADD(n_failed, 1);       /* the system's refusal counts too */
		return NULL;
	}
	h->size = n;
	h->magic = MEM_MAGIC_LIVE;
	ADD(n_allocs, 1);
	ADD(n_bytes, n);
	live_bytes_add((int64_t)n);
	return h + 1;
}

void *mem_calloc(size_t count, size_t size)
{
	size_t n;
	void *p;

	/* An overflowing request is the caller's error, not an allocation:
	 * it neither consumes nor triggers an injected failure. */
	if (__builtin_mul_overflow(count, size, &n))
		return NULL;
	p = mem_alloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *mem_realloc(void *p, size_t n)
{
	struct mem_hdr *h, *moved;
	uint64_t old;

	if (!p)
		return mem_alloc(n);
	if (n == 0) {
		mem_free(p);
		return NULL;
	}
	h = hdr_of(p);
	if (n > SIZE_MAX - sizeof(*h) || injected_failure())
		return NULL;
	old = h->size;
	moved = realloc(h, sizeof(*h) + n);
	if (!moved) {
		ADD(n_failed, 1);
		return NULL;	/* the old block is untouched and still live */
	}
	moved->size = n;
	ADD(n_reallocs, 1);
	if (n > old)
		ADD(n_bytes, n - old);
	live_bytes_add((int64_t)n - (int64_t)old);
	return moved + 1;
}

void mem_free(void *p)
{
	struct mem_hdr *h;

	if (!p)
		return;
	h = hdr_of(p);
	/* Release, paired with the acquire in mem_stats_get(): see there. */
	__atomic_add_fetch(&n_frees, 1, __ATOMIC_RELEASE);
	ADD(n_live_bytes, -(int64_t)h->size);
	h->magic = MEM_MAGIC_DEAD;
	free(h);
}

void mem_stats_get(struct mem_stats *out)
{
	/* frees first, with acquire: every free seen here comes after its
	 * block's allocation was counted, so that count is seen too and
	 * live_blocks is never negative, even while other threads work. */
	out->frees = __atomic_load_n(&n_frees, __ATOMIC_ACQUIRE);
	out->allocs = LOAD(n_allocs);
	out->reallocs = LOAD(n_reallocs);
	out->bytes = LOAD(n_bytes);
	out->failed = LOAD(n_failed);
	out->live_blocks = (int64_t)(out->allocs - out->frees);
	out->live_bytes = LOAD(n_live_bytes);
	out->peak_live_bytes = LOAD(n_peak_live_bytes);
}

void mem_reset_peak(void)
{
	STORE(n_peak_live_bytes, LOAD(n_live_bytes));
}

void mem_fail_nth(uint64_t n)
{
	STORE(fail_countdown, n);
}

void mem_fail_all(bool on)
{
	STORE(fail_every, on);
}

void mem_print(const char *label)
{
	struct mem_stats s;

	mem_stats_get(&s);
	fprintf(stderr,
		"%s: allocs=%llu frees=%llu reallocs=%llu bytes=%llu failed=%llu "
		"live_blocks=%lld live_bytes=%lld peak_live_bytes=%lld\n",
		label ? label : "mem",
		(unsigned long long)s.allocs, (unsigned long long)s.frees,
		(unsigned long long)s.reallocs, (unsigned long long)s.bytes,
		(unsigned long long)s.failed, (long long)s.live_blocks,
		(long long)s.live_bytes, (long long)s.peak_live_bytes);
}
