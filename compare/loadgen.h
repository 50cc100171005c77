/* loadgen.h: the echo load generator, engine-neutral.
 *
 * It talks to any echo server over real sockets and never trusts it: every
 * byte that comes back is checked against what was sent.
 *
 * Closed loop (rate == 0): each of `conns` connections keeps `depth` messages
 * of `msg_size` bytes in flight; a message's latency runs from the moment it
 * was queued to the moment its last byte came back.
 *
 * Open loop (rate > 0): messages are scheduled at a fixed aggregate rate,
 * spread evenly over the connections, whatever the server does.  Latency runs
 * from the *intended* send time, so a server that stalls cannot hide its
 * stall by slowing the client down (no coordinated omission).
 *
 * Messages sent during the warm-up are echoed and checked but not counted;
 * on_measure() is called when counting starts and on_end() when it stops,
 * so a caller can take the server's counters at both points.
 */
#ifndef PUSHPOLL_LOADGEN_H
#define PUSHPOLL_LOADGEN_H

#include <stdint.h>
#include <stddef.h>

#include "hist.h"

struct loadgen_opts {
	const char *host;
	uint16_t port;
	unsigned conns;         /* concurrent connections */
	unsigned depth;         /* closed loop: messages in flight per connection */
	size_t msg_size;        /* bytes per message */
	uint64_t rate;          /* open loop: messages per second in all; 0: closed loop */
	uint64_t warmup_ns;
	uint64_t duration_ns;   /* measured time, after the warm-up */
	void (*on_measure)(void *arg);
	void (*on_end)(void *arg);
	void *arg;
};

struct loadgen_result {
	uint64_t msgs;          /* messages echoed in the measured time */
	uint64_t bytes;         /* their bytes */
	uint64_t elapsed_ns;    /* the measured time, really */
	uint64_t corrupt;       /* bytes that came back different */
	unsigned conns_ok;      /* connections that worked to the end */
	unsigned conns_failed;  /* refused, reset or closed early */
	struct hist latency;    /* per message, ns */
};

/* Run the load.  Returns 0 when every connection worked and no byte was
 * wrong, -1 otherwise (the result says what went wrong). */
int loadgen_echo(const struct loadgen_opts *o, struct loadgen_result *res);

#endif
