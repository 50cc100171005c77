/* baseline_common.c: what the three baselines share (baselines.h,
 * "internal"): the start of a fanout, its file sinks, and the routing of libuv's and
 * libevent's allocations to the counting allocator.  The baselines use
 * these; these use none of them.
 */
#include "baselines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <uv.h>

#include "mem.h"

/* ---- a fanout's start -------------------------------------------------------- */

int baseline__fanout_start(struct reactor *r, const struct fanout_opts *opts,
			   struct fanout_stats *stats)
{
	struct fanout_sink_stats *sink = stats->sink;

	memset(stats, 0, sizeof(*stats));
	stats->sink = sink;
	stats->checksum = WORKLOAD_CHECKSUM_INIT;
	if (reactor_is_sim(r))
		return -ENOTSUP;
	if (opts->window == 0 || opts->chunk_size == 0 ||
	    (opts->sinks > 0 && sink == NULL) || opts->input == NULL)
		return -EINVAL;
	stats->sinks = opts->sinks;
	for (unsigned i = 0; i < opts->sinks; i++) {
		sink[i].bytes = 0;
		sink[i].checksum = WORKLOAD_CHECKSUM_INIT;
		sink[i].error = 0;
	}
	return 0;
}

int baseline__open_sink_file(const struct fanout_opts *opts, unsigned i)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/sink-%u", opts->output_dir, i);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	return fd < 0 ? -errno : fd;
}

/* ---- the libraries' allocators ------------------------------------------------ */

/* libuv 1.44: uv_replace_allocator(malloc, realloc, calloc, free) returns 0,
 * or UV_EINVAL (a negative errno) if a function is NULL.  libuv's rule: call
 * it before any other uv function, or after everything uv allocated has been
 * freed, else uv would free with one allocator what it got from the other. */
int baseline__route_libuv(void)
{
	return uv_replace_allocator(mem_alloc, mem_realloc, mem_calloc, mem_free);
}

/* libevent 2.1: event_set_mem_functions() returns nothing; it exists unless
 * libevent was built with EVENT__DISABLE_MM_REPLACEMENT.  libevent's rule
 * is the same as libuv's: before anything else from libevent. */
int baseline__route_libevent(void)
{
#ifdef EVENT__DISABLE_MM_REPLACEMENT
	return -ENOTSUP;
#else
	event_set_mem_functions(mem_alloc, mem_realloc, mem_free);
	return 0;
#endif
}
