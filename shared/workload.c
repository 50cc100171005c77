/* workload.c: defaults, checksum and printing shared by every engine. */
#include "workload.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <xxhash.h>


void echo_opts_default(struct echo_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->bufsize = 16 * 1024;
	o->buffers = ECHO_BUFFERS_CONN;
}

void fanout_opts_default(struct fanout_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->sinks = 1;
	o->kind = FANOUT_SINK_FILE;
	o->output_dir = ".";
	o->host = "127.0.0.1";
	o->chunk_size = 64 * 1024;
	o->window = 4;
}

uint64_t workload_chunk_checksum(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

uint64_t workload_checksum_add(uint64_t sum, uint64_t chunk_checksum)
{
	unsigned char le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(chunk_checksum >> (8 * i));
	return XXH3_64bits_withSeed(le, sizeof(le), sum);
}

uint64_t workload_checksum(const void *data, size_t len, size_t chunk_size)
{
	const unsigned char *p = data;
	uint64_t sum = WORKLOAD_CHECKSUM_INIT;

	if (chunk_size == 0)            /* no chunking: one chunk */
		chunk_size = len > 0 ? len : 1;
	for (size_t off = 0; off < len; off += chunk_size) {
		size_t n = len - off < chunk_size ? len - off : chunk_size;
		sum = workload_checksum_add(sum,
					    workload_chunk_checksum(p + off, n));
	}
	return sum;
}

int workload_checksum_stream_init(struct workload_checksum_stream *s,
				  size_t chunk_size)
{
	s->sum = WORKLOAD_CHECKSUM_INIT;
	s->chunk_size = chunk_size;
	s->fill = 0;
	s->chunk = XXH3_createState();
	if (s->chunk == NULL)
		return -ENOMEM;
	XXH3_64bits_reset(s->chunk);
	return 0;
}

void workload_checksum_stream_feed(struct workload_checksum_stream *s,
				   const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n = s->chunk_size - s->fill;
		if (n > len)
			n = len;
		XXH3_64bits_update(s->chunk, p, n);
		s->fill += n;
		p += n;
		len -= n;
		if (s->fill == s->chunk_size) {
			s->sum = workload_checksum_add(
				s->sum, XXH3_64bits_digest(s->chunk));
			XXH3_64bits_reset(s->chunk);
			s->fill = 0;
		}
	}
}

uint64_t workload_checksum_stream_end(struct workload_checksum_stream *s)
{
	if (s->fill > 0)
		s->sum = workload_checksum_add(s->sum,
					       XXH3_64bits_digest(s->chunk));
	s->fill = 0;
	XXH3_freeState(s->chunk);
	s->chunk = NULL;
	return s->sum;
}

void echo_stats_print(FILE *f, const char *engine, const struct echo_stats *s)
{
	char errors[24];

	if (s->accept_errors_unseen)
		snprintf(errors, sizeof(errors), "unknown");
	else
		snprintf(errors, sizeof(errors), "%" PRIu64, s->accept_errors);
	fprintf(f,
		"engine=%s accepted=%" PRIu64 " refused=%" PRIu64
		" accept_errors=%s closed=%" PRIu64
		" timed_out=%" PRIu64 " failed=%" PRIu64
		" cancelled=%" PRIu64 " bytes=%" PRIu64
		" peak_conns=%" PRIu64 "\n",
		engine, s->accepted, s->refused, errors, s->closed,
		s->timed_out, s->failed, s->cancelled, s->bytes,
		s->peak_conns);
}

void fanout_stats_print(FILE *f, const char *engine,
			const struct fanout_stats *s)
{
	fprintf(f,
		"engine=%s bytes_read=%" PRIu64 " chunks_read=%" PRIu64
		" peak_chunks=%u sinks=%u checksum=%016" PRIx64 "\n",
		engine, s->bytes_read, s->chunks_read, s->peak_chunks,
		s->sinks, s->checksum);
	for (unsigned i = 0; i < s->sinks; i++)
		fprintf(f, "sink=%u bytes=%" PRIu64 " checksum=%016" PRIx64
			" error=%d\n",
			i, s->sink[i].bytes, s->sink[i].checksum,
			s->sink[i].error);
}

/* ---- for the cancellation harness ----------------------------------------- */

static _Thread_local struct {
	int (*cancel_part)(void *self, unsigned i);
	void *self;
} probe;

void workload_probe_publish(int (*cancel_part)(void *self, unsigned i),
			    void *self)
{
	probe.cancel_part = cancel_part;
	probe.self = self;
}

/* Only the workload that published clears: a nested or earlier one's
 * clear does not remove a later one's probe. */
void workload_probe_clear(void *self)
{
	if (probe.self == self) {
		probe.cancel_part = NULL;
		probe.self = NULL;
	}
}

int workload_cancel_part(unsigned i)
{
	if (probe.cancel_part == NULL)
		return -ENOENT;
	return probe.cancel_part(probe.self, i);
}
