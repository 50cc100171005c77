/* verify.h: `pushpoll fanout --verify`, every file sink compared with the
 * input byte for byte after a run.
 *
 * The checksums a fanout reports are folded from one hash per chunk
 * (workload.h): they show that every sink was handed the right chunks in
 * the right order, not what reached the disk.  The verification reads the
 * sink files back and compares them with the input itself.
 */
#ifndef PUSHPOLL_VERIFY_H
#define PUSHPOLL_VERIFY_H

#include <stdint.h>

#include "workload.h"

/* What the verification found: the first sink that is not right, and
 * why, in words ("differs from the input at byte 4096"). */
struct fanout_verify_result {
	unsigned checked;        /* sink files read back */
	unsigned bad;            /* of them, not what they should be */
	unsigned first_bad;      /* the first of those */
	char why[160];           /* what is wrong with it */
};

/* Compare every file sink of a finished run (opts->kind must be
 * FANOUT_SINK_FILE) with opts->input: a sink that ended with error 0 must
 * be the whole input, a sink that ended early exactly the prefix of
 * st->sink[i].bytes bytes (pushpoll fanout cuts such a file back to that
 * length first); in both cases the sink's reported checksum must be the
 * checksum of those bytes.  Returns 0 when every sink is right, 1 when one
 * or more is not (res says which), -errno when the input cannot be read. */
int fanout_verify(const struct fanout_opts *opts,
		  const struct fanout_stats *st,
		  struct fanout_verify_result *res);

#endif
