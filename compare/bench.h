/* bench.h: `pushpoll bench`, the side-by-side comparison. */
#ifndef PUSHPOLL_BENCH_H
#define PUSHPOLL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_opts {
	const char *engines;    /* comma-separated labels; NULL: all */
	unsigned conns;
	unsigned depth;
	size_t msg_size;
	uint64_t rate;          /* 0: closed loop */
	uint64_t warmup_ns;
	uint64_t duration_ns;
	int rounds;
	const char *json;       /* save every figure here, or NULL */
	const char *csv;
};

void bench_opts_default(struct bench_opts *o);
/* Run the echo comparison and print the table.  Returns an exit status:
 * 0, or 1 when some engine failed a round (a lost byte, a crash). */
int bench_echo(const struct bench_opts *o);
/* Whether name is one of the comma-separated list. */
bool bench_listed(const char *list, const char *name);

#endif
