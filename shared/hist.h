/* hist.h: a log-linear latency histogram (the HdrHistogram layout).
 *
 * Values are unsigned 64-bit (nanoseconds, by convention).  Values below 128
 * are counted exactly.  Above that, every power of two [2^e, 2^(e+1)) is cut
 * into 64 equal sub-buckets, so a bucket is 1/64 of its lower bound wide.
 * A percentile is reported as the midpoint of its bucket: the relative error
 * is at most 1/128 (0.8%) anywhere from 1 ns to past 100 s.
 *
 * Memory is constant: HIST_BUCKETS counters, about 30 KiB, whatever is
 * recorded.  No function allocates.  A histogram is not thread-safe; give
 * each thread its own and merge them.
 */
#ifndef PUSHPOLL_HIST_H
#define PUSHPOLL_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 6                 /* 64 sub-buckets per power of two */
#define HIST_EXACT 128                  /* values below this are exact */
#define HIST_BUCKETS (HIST_EXACT + (64 - HIST_SUB_BITS - 1) * (1 << HIST_SUB_BITS))

struct hist {
	uint64_t count;
	uint64_t min;      /* exact; UINT64_MAX while empty */
	uint64_t max;      /* exact; 0 while empty */
	double sum;        /* for the mean */
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value);
void hist_record_n(struct hist *h, uint64_t value, uint64_t n);
/* Add every sample of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at percentile p (0 <= p <= 100): the smallest recorded value v
 * such that at least p% of samples are <= v, within the stated error.
 * p == 0 gives min, p == 100 gives max (both exact).  0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* The bucket a value falls in, and the value a bucket reports (its
 * midpoint); exposed for the tests of the error bound. */
size_t hist_bucket_of(uint64_t value);
uint64_t hist_bucket_value(size_t bucket);

/* Compact text form, for passing a histogram between processes: the
 * non-empty buckets as "index:count" pairs separated by commas, behind
 * "count min max sum|".  Returns the length it needed (like snprintf); the
 * output is cut if len is too small. */
size_t hist_encode(const struct hist *h, char *buf, size_t len);
/* Parse hist_encode's output into h (which it initialises).  Returns 0 or
 * -EINVAL for malformed text. */
int hist_decode(struct hist *h, const char *text);

/* One human line: "n=... min=... p50=... p90=... p99=... p99.9=... max=..."
 * with values scaled to ns/us/ms/s.  Returns like snprintf. */
int hist_summary(const struct hist *h, char *buf, size_t len);

#endif
