/* hist.c: the log-linear latency histogram (see hist.h for the contract).
 *
 * Bucket layout, for a value v:
 *
 *     v < 128            bucket v                          (exact)
 *     2^e <= v < 2^(e+1) bucket 128 + (e - 7) * 64 + sub,  e = 7 .. 63
 *                        sub = the 6 bits of v just below its top bit
 *
 * So the power of two [2^e, 2^(e+1)) is cut into 64 buckets of width
 * w = 2^(e-6), and a bucket [lo, lo + w) reports lo + w/2.  The worst error
 * is w/2 at v = lo >= 64 * w, that is at most 1/128 of the value.  The last
 * bucket (e = 63, sub = 63) ends at UINT64_MAX, so every value has a bucket.
 *
 * Costs: hist_record() is a count-leading-zeros and a few shifts;
 * hist_percentile() and hist_merge() walk all HIST_BUCKETS counters.
 */
#include "hist.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_COUNT (1u << HIST_SUB_BITS)
#define FIRST_EXP 7  /* log2(HIST_EXACT): the first power of two cut into sub-buckets */

_Static_assert(HIST_EXACT == 1u << FIRST_EXP, "HIST_EXACT must be 2^FIRST_EXP");
_Static_assert(HIST_EXACT == 2 * SUB_COUNT, "exact range must end where buckets are 2 wide");

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

size_t hist_bucket_of(uint64_t value)
{
	unsigned e, sub;

	if (value < HIST_EXACT)
		return (size_t)value;
	e = 63 - (unsigned)__builtin_clzll(value);
	sub = (unsigned)(value >> (e - HIST_SUB_BITS)) & (SUB_COUNT - 1);
	return HIST_EXACT + (size_t)(e - FIRST_EXP) * SUB_COUNT + sub;
}

/* The midpoint of the bucket.  A bucket past the last one has no value;
 * it reports UINT64_MAX rather than wrapping round to a small number. */
uint64_t hist_bucket_value(size_t bucket)
{
	unsigned e, sub, shift;

	if (bucket < HIST_EXACT)
		return bucket;
	if (bucket >= HIST_BUCKETS)
		return UINT64_MAX;
	e = FIRST_EXP + (unsigned)((bucket - HIST_EXACT) / SUB_COUNT);
	sub = (unsigned)((bucket - HIST_EXACT) % SUB_COUNT);
	shift = e - HIST_SUB_BITS;	/* the bucket is 2^shift wide */
	return ((uint64_t)(SUB_COUNT + sub) << shift) + ((uint64_t)1 << (shift - 1));
}

void hist_record_n(struct hist *h, uint64_t value, uint64_t n)
{
	if (n == 0)
		return;
	h->buckets[hist_bucket_of(value)] += n;
	h->count += n;
	h->sum += (double)value * (double)n;
	if (value < h->min)
		h->min = value;
	if (value > h->max)
		h->max = value;
}

void hist_record(struct hist *h, uint64_t value)
{
	hist_record_n(h, value, 1);
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	size_t i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* The sample of rank ceil(p% of count) (ranks from 1) lies in the first
 * bucket where the running count reaches that rank; report that bucket's
 * midpoint, clamped to [min, max] so that no percentile lies outside what
 * was recorded.  The clamp only narrows the error. */
uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	size_t i;

	if (h->count == 0)
		return 0;
	if (!(p > 0))		/* p <= 0, and NaN */
		return h->min;
	if (p >= 100)
		return h->max;
	rank = (uint64_t)ceil(p * (double)h->count / 100.0);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			break;
	}
	v = hist_bucket_value(i);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}

/* An snprintf that appends: out->need counts every byte asked for, so the
 * caller learns the size it needed even when buf was too small. */
struct appender {
	char *buf;
	size_t len;
	size_t need;
};

static void __attribute__((format(printf, 2, 3)))
append(struct appender *out, const char *fmt, ...)
{
	size_t room = out->need < out->len ? out->len - out->need : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? out->buf + out->need : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		out->need += (size_t)n;
}

/* "%.17g" prints a double so that strtod() gives back the same bits, which
 * is what makes encode/decode an exact round trip. */
size_t hist_encode(const struct hist *h, char *buf, size_t len)
{
	struct appender out = { .buf = buf, .len = len, .need = 0 };
	const char *sep = "";
	size_t i;

	if (len > 0)
		buf[0] = '\0';
	append(&out, "%llu %llu %llu %.17g|", (unsigned long long)h->count,
	       (unsigned long long)h->min, (unsigned long long)h->max, h->sum);
	for (i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		append(&out, "%s%zu:%llu", sep, i, (unsigned long long)h->buckets[i]);
		sep = ",";
	}
	return out.need;
}

/* Parse an unsigned decimal at *s, which must start with a digit (strtoull
 * alone would take leading spaces and a minus sign). */
static bool parse_u64(const char **s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)**s))
		return false;
	errno = 0;
	v = strtoull(*s, &end, 10);
	if (errno == ERANGE)
		return false;
	*out = v;
	*s = end;
	return true;
}

static bool expect(const char **s, char c)
{
	if (**s != c)
		return false;
	(*s)++;
	return true;
}

/* Accepts exactly what hist_encode writes (trailing white space allowed),
 * and checks that it describes a histogram hist_encode could have written:
 * buckets in increasing order, none empty, counts adding up to count, and
 * min and max falling in the first and last bucket. */
int hist_decode(struct hist *h, const char *text)
{
	const char *s = text;
	uint64_t count, idx, n, total = 0;
	size_t first = HIST_BUCKETS, last = 0;
	bool any = false;
	char *end;
	double sum;

	hist_init(h);
	if (!parse_u64(&s, &count) || !expect(&s, ' ') ||
	    !parse_u64(&s, &h->min) || !expect(&s, ' ') ||
	    !parse_u64(&s, &h->max) || !expect(&s, ' '))
		goto malformed;
	if (!isdigit((unsigned char)*s))
		goto malformed;
	sum = strtod(s, &end);
	if (!isfinite(sum) || sum < 0)
		goto malformed;
	s = end;
	if (!expect(&s, '|'))
		goto malformed;

	/* The pairs, if any: "index:count" separated by single commas. */
	while (*s != '\0' && !isspace((unsigned char)*s)) {
		if (!parse_u64(&s, &idx) || !expect(&s, ':') || !parse_u64(&s, &n))
			goto malformed;
		if (idx >= HIST_BUCKETS || n == 0 || (any && idx <= last) ||
		    total + n < total)
			goto malformed;
		if (!any)
			first = (size_t)idx;
		last = (size_t)idx;
		any = true;
		h->buckets[idx] = n;
		total += n;
		if (*s != ',')
			break;
		if (!isdigit((unsigned char)*++s))
			goto malformed;	/* a comma must lead to another pair */
	}
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '\0' || total != count)
		goto malformed;
	if (count == 0 ? (h->min != UINT64_MAX || h->max != 0 || sum != 0)
		       : (hist_bucket_of(h->min) != first ||
			  hist_bucket_of(h->max) != last))
		goto malformed;
	h->count = count;
	h->sum = sum;
	return 0;

malformed:
	hist_init(h);
	return -EINVAL;
}

/* Scale a nanosecond value to the largest unit that keeps it >= 1. */
static void fmt_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.2fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", (double)ns / 1e9);
}

int hist_summary(const struct hist *h, char *buf, size_t len)
{
	static const double ps[] = { 0, 50, 90, 99, 99.9, 100 };
	char v[sizeof(ps) / sizeof(ps[0])][32];
	size_t i;

	for (i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
		fmt_ns(v[i], sizeof(v[i]), hist_percentile(h, ps[i]));
	return snprintf(buf, len, "n=%llu min=%s p50=%s p90=%s p99=%s p99.9=%s max=%s",
			(unsigned long long)h->count, v[0], v[1], v[2], v[3], v[4], v[5]);
}
