/* verify.c: `pushpoll fanout --verify` (verify.h). */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERIFY_BLOCK (64 * 1024)

/* Read up to n bytes, as many as there are: the count, or -errno. */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* Sink file `path` against the first `len` bytes of the input (read from
 * in, which is at offset 0): 0 if it is exactly those bytes and `sum` is
 * their checksum, 1 with why[] filled if not, -errno if the input cannot
 * be read. */
static int verify_one(int in, const char *path, uint64_t len, uint64_t sum,
		      size_t chunk_size, unsigned char *a, unsigned char *b,
		      char *why, size_t whylen)
{
	struct workload_checksum_stream cs;
	uint64_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0) {
		snprintf(why, whylen, "cannot be read: %s", strerror(errno));
		return 1;
	}
	if (workload_checksum_stream_init(&cs, chunk_size) < 0) {
		close(fd);
		return -ENOMEM;
	}
	while (off < len && rc == 0) {
		size_t want = len - off < VERIFY_BLOCK ? (size_t)(len - off)
						       : VERIFY_BLOCK;
		ssize_t x = read_full(in, a, want), y;

		if (x < (ssize_t)want) {
			rc = x < 0 ? (int)x : -EIO;     /* the input shrank */
			break;
		}
		y = read_full(fd, b, want);
		if (y < 0) {
			snprintf(why, whylen, "cannot be read: %s",
				 strerror((int)-y));
			rc = 1;
			break;
		}
		for (size_t i = 0; i < (size_t)y && rc == 0; i++)
			if (a[i] != b[i]) {
				snprintf(why, whylen, "differs from the input "
					 "at byte %" PRIu64, off + i);
				rc = 1;
			}
		if (rc == 0 && y < (ssize_t)want) {
			snprintf(why, whylen, "has %" PRIu64 " bytes, %" PRIu64
				 " expected", off + (uint64_t)y, len);
			rc = 1;
		}
		workload_checksum_stream_feed(&cs, b, (size_t)y);
		off += (uint64_t)y;
	}
	if (rc == 0 && read_full(fd, b, 1) > 0) {
		snprintf(why, whylen, "is longer than the %" PRIu64 " bytes "
			 "expected", len);
		rc = 1;
	}
	if (workload_checksum_stream_end(&cs) != sum && rc == 0) {
		snprintf(why, whylen, "holds the right bytes, but its "
			 "reported checksum is not theirs");
		rc = 1;
	}
	close(fd);
	return rc;
}

int fanout_verify(const struct fanout_opts *opts,
		  const struct fanout_stats *st,
		  struct fanout_verify_result *res)
{
	unsigned char *a = malloc(VERIFY_BLOCK), *b = malloc(VERIFY_BLOCK);
	int in = open(opts->input, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (in < 0 || fstat(in, &sb) < 0 || a == NULL || b == NULL) {
		rc = in < 0 || a != NULL ? -errno : -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < st->sinks; i++) {
		const struct fanout_sink_stats *s = &st->sink[i];
		char path[4096], why[sizeof(res->why)];
		uint64_t len = s->error == 0 ? (uint64_t)sb.st_size : s->bytes;
		int r;

		snprintf(path, sizeof(path), "%s/sink-%u", opts->output_dir,
			 i);
		if (lseek(in, 0, SEEK_SET) < 0) {
			rc = -errno;
			goto out;
		}
		r = verify_one(in, path, len, s->checksum, opts->chunk_size, a,
			       b, why, sizeof(why));
		if (r < 0) {
			rc = r;
			goto out;
		}
		res->checked++;
		if (r > 0 && res->bad++ == 0) {
			res->first_bad = i;
			memcpy(res->why, why, sizeof(why));
		}
	}
	rc = res->bad > 0;
out:
	if (in >= 0)
		close(in);
	free(a);
	free(b);
	return rc;
}
