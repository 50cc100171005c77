/* loadgen.h: the load generator, engine-neutral.
 *
 * It talks to any server over real sockets and never trusts it: every byte
 * that comes back is checked against what was sent (echo) or against the
 * input file (fanout).  It runs in the calling thread on plain epoll, with
 * no allocation per message, so its own cost is the same whichever engine
 * it measures.
 *
 * Three ways to drive an echo server, one to drain a fanout:
 *
 *   closed loop  (loadgen_echo, rate == 0) each of `conns` connections keeps
 *                `depth` messages of `msg_size` bytes in flight; a message's
 *                latency runs from the moment it was queued to the moment
 *                its last byte came back.
 *   open loop    (loadgen_echo, rate > 0) messages are scheduled at a fixed
 *                aggregate rate, spread evenly over the connections,
 *                whatever the server does.  Latency runs from the *intended*
 *                send time, so a server that stalls cannot hide its stall by
 *                slowing the client down (no coordinated omission).
 *   churn        (loadgen_churn) `conns` exchanges at once, each on a new
 *                connection: connect, send one message, half-close, read the
 *                echo to end of stream, close; then the next.  Latency runs
 *                from the connect to the end of stream.
 *   fanout       (loadgen_fanout) connect `sinks` subscribers to a fanout
 *                server and read each to end of stream, comparing every
 *                byte with the input; time to first byte and to end of
 *                stream per sink.
 *
 * Warm-up and measuring (echo and churn): what completes during the warm-up
 * is checked but not counted; on_measure() is called when counting starts
 * and on_end() when it stops, so a caller can take the server's counters at
 * both points.  After the measured time nothing new is sent and what is in
 * flight is drained (for at most drain_ns) and checked.
 *
 * What "wrong" means.  The stream a connection sends is a pattern that
 * differs between connections and along the stream (loadgen_pattern), so a
 * server that changes, drops or repeats a byte is seen:
 *   corrupt  bytes that came back different from the byte sent at their
 *            offset (a dropped or repeated byte shifts every later one);
 *   missing  bytes sent that never came back before the drain ended;
 *   extra    bytes that came back beyond those sent.
 * A connection that is refused, reset or closed early is a failed one.
 * A connect that the server does not answer fails after LOADGEN_CONNECT_S
 * seconds (an address that drops packets would otherwise hold it for the
 * kernel's two minutes of retries).
 */
#ifndef PUSHPOLL_LOADGEN_H
#define PUSHPOLL_LOADGEN_H

#include <stdint.h>
#include <stddef.h>

#include "hist.h"

struct loadgen_opts {
	const char *host;       /* numeric IPv4 or a name */
	uint16_t port;
	unsigned conns;         /* concurrent connections (churn: exchanges) */
	unsigned depth;         /* closed loop: messages in flight per
				 * connection, 1..LOADGEN_MAX_DEPTH */
	size_t msg_size;        /* bytes per message, >= 1 */
	uint64_t rate;          /* open loop: messages per second in all;
				 * 0: closed loop.  Ignored by churn. */
	uint64_t warmup_ns;
	uint64_t duration_ns;   /* measured time, after the warm-up */
	uint64_t drain_ns;      /* longest wait for what is in flight at the
				 * end; 0: LOADGEN_DRAIN_NS */
	/* Optional: every latency counted is also stored here, in the order
	 * measured, until max_samples (for checking the histogram). */
	uint64_t *samples;
	size_t max_samples;
	/* Optional (echo): connected sockets to use for the `conns`
	 * connections instead of connecting new ones.  They stay the
	 * caller's: made non-blocking, used, and left open, with nothing left
	 * unread on them when the run was clean. */
	const int *fds;
	void (*on_measure)(void *arg);
	void (*on_end)(void *arg);
	void *arg;
};

#define LOADGEN_MAX_DEPTH 64
#define LOADGEN_DRAIN_NS (2 * 1000000000ull)
#define LOADGEN_CONNECT_S 3

struct loadgen_result {
	uint64_t msgs;          /* messages (churn: exchanges) completed in
				 * the measured time */
	uint64_t bytes;         /* their bytes, one way */
	uint64_t elapsed_ns;    /* the measured time, really */
	uint64_t corrupt;       /* bytes that came back different */
	uint64_t missing;       /* bytes sent that never came back */
	uint64_t extra;         /* bytes that came back but were never sent */
	unsigned conns_ok;      /* connections that worked to the end */
	unsigned conns_failed;  /* refused, reset or closed early */
	unsigned conns_closed;  /* of those: closed or reset by the server */
	size_t nsamples;        /* entries written to opts->samples */
	struct hist latency;    /* per message (churn: exchange), ns */
};

/* The byte at offset off of stream id: what the load generator sends, so a
 * test server can break it on purpose. */
static inline uint8_t loadgen_pattern(unsigned id, uint64_t off)
{
	return (uint8_t)((off * 131) ^ (id * 29) ^ (off >> 9));
}

/* Run the echo load, closed or open loop.  res is filled in every case.
 * Returns 0 when every connection worked to the end and every byte came
 * back once and intact, -1 otherwise (res says what went wrong).  Blocks
 * for about warmup + duration (+ the drain).  Allocates one array of
 * `conns` connection states, freed before it returns. */
int loadgen_echo(const struct loadgen_opts *o, struct loadgen_result *res);

/* Run the churn load (see above): res->msgs counts completed exchanges,
 * res->conns_ok the connections that completed one (warm-up included),
 * res->conns_failed those refused, reset, or ended with the wrong bytes.
 * Returns 0 when none failed and at least one exchange was counted, else
 * -1. */
int loadgen_churn(const struct loadgen_opts *o, struct loadgen_result *res);

/* ---- fanout ---------------------------------------------------------------- */

struct loadgen_fanout_opts {
	const char *host;
	uint16_t port;
	unsigned sinks;             /* subscribers to connect */
	const unsigned char *input; /* what each must receive: size bytes */
	uint64_t size;
	uint64_t timeout_ns;        /* give up on every sink after this long */
	/* Optional: subscriber `stall` (when < sinks) connects but never
	 * reads, to make the server's sink timeout fire. */
	unsigned stall;
};

struct loadgen_sink {
	uint64_t bytes;             /* received */
	uint64_t corrupt;           /* received bytes that differ from input */
	uint64_t first_ns;          /* first byte, since t0; 0: none came */
	uint64_t end_ns;            /* end of stream, since t0; 0: none */
	int error;                  /* 0, or -errno (-ETIMEDOUT: gave up) */
};

struct loadgen_fanout_result {
	uint64_t t0_ns;             /* clock_now_ns() before the first connect */
	uint64_t elapsed_ns;        /* t0 to the last end of stream */
	unsigned sinks_ok;          /* got the whole input, intact, then EOF */
	unsigned sinks_failed;
	struct loadgen_sink *sink;  /* the caller's array of opts->sinks */
};

/* Connect the subscribers (blocking connects, in order), then read them
 * all to end of stream.  A sink is ok when it received exactly the input,
 * byte for byte, then end of stream.  The stalled subscriber, if any, is
 * neither ok nor failed: it is expected to be cut off.  Returns 0 when
 * every other sink is ok, -1 otherwise. */
int loadgen_fanout(const struct loadgen_fanout_opts *o,
		   struct loadgen_fanout_result *res);

#endif
