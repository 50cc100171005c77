/* workload.h: the two workloads' options and statistics.
 *
 * Every engine (push, poll, and the libuv, libevent and epoll baselines)
 * implements echo and fanout with exactly these options and fills exactly
 * these statistics, so `--engine` is interchangeable everywhere and the
 * figures printed for one engine mean the same for another.
 *
 * echo   A TCP echo server (RFC 862): per connection, read, write all of it
 *        back, repeat until end of stream.  A connection with no input for
 *        idle_timeout_ns is closed.  Past max_conns, a new connection is
 *        accepted and closed at once.  When a stop is requested
 *        (reactor_request_stop) the server stops accepting, cancels every
 *        connection, frees everything and returns.  Under the simulated
 *        reactor, quiescence (reactor_poll() == -EDEADLK) counts as a stop.
 *
 * fanout One input file delivered, chunk by chunk and in order, to N sinks.
 *        The file is read through offload; each chunk is read once and
 *        shared by every sink, never copied per sink; at most `window`
 *        chunks are in memory at once.  A sink that does not take a chunk
 *        within sink_timeout_ns is cancelled and the others go on.  A stop
 *        request cancels the whole fanout.
 */
#ifndef PUSHPOLL_WORKLOAD_H
#define PUSHPOLL_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "offload.h"
#include "reactor.h"

/* Who owns a read buffer, and when (`--buffers`). */
enum echo_buffers {
	ECHO_BUFFERS_CONN,   /* each connection owns a read buffer of bufsize bytes */
	ECHO_BUFFERS_READY,  /* a buffer is taken only when the connection is readable */
};

struct echo_opts {
	const char *host;            /* "127.0.0.1" */
	uint16_t port;               /* 0: any free port */
	size_t bufsize;              /* read buffer per connection, 16 KiB */
	/* ECHO_BUFFERS_CONN (the default): every connection owns its read
	 * buffer for its whole life, idle or not.  ECHO_BUFFERS_READY: a
	 * connection that waits holds no buffer; one of bufsize bytes is
	 * taken when it is readable (each engine in its own idiom), and a
	 * write back that cannot complete at once keeps only its unsent
	 * bytes, in a block of their size, until they are sent. */
	enum echo_buffers buffers;
	uint64_t idle_timeout_ns;    /* 0: none */
	unsigned max_conns;          /* 0: no limit */
	bool reuse_port;             /* listen with SO_REUSEPORT, beside other
				      * loops on the same port (push and poll;
				      * see reactor_listen_reuseport()) */
	/* Called once the server listens, with the port it got. */
	void (*on_listening)(void *arg, uint16_t port);
	void *arg;
};

struct echo_stats {
	uint64_t accepted;       /* connections served */
	uint64_t refused;        /* closed at once: over max_conns */
	uint64_t accept_errors;  /* accept failures (EMFILE...); the server goes on */
	bool accept_errors_unseen; /* the engine cannot count them all (libuv
				  * sheds connections itself, out of
				  * descriptors, and says nothing): printed
				  * as unknown rather than as a false 0 */
	uint64_t closed;         /* connections ended by end of stream */
	uint64_t timed_out;      /* connections closed by the idle timeout */
	uint64_t failed;         /* connections ended by an error (reset, ENOMEM) */
	uint64_t cancelled;      /* connections cancelled by the shutdown */
	uint64_t bytes;          /* bytes echoed */
	uint64_t peak_conns;     /* most connections open at once */
};

enum fanout_sink_kind {
	FANOUT_SINK_FILE,  /* sink i writes output_dir/sink-i */
	FANOUT_SINK_TCP,   /* listen on host:port, wait for `sinks` subscribers */
};

struct fanout_opts {
	const char *input;           /* the file to deliver */
	unsigned sinks;              /* N */
	enum fanout_sink_kind kind;
	const char *output_dir;      /* FANOUT_SINK_FILE */
	const char *host;            /* FANOUT_SINK_TCP */
	uint16_t port;
	size_t chunk_size;           /* 64 KiB */
	unsigned window;             /* W: chunks in memory at most, 4 */
	uint64_t sink_timeout_ns;    /* 0: none */
	void (*on_listening)(void *arg, uint16_t port);
	void *arg;
};

struct fanout_sink_stats {
	uint64_t bytes;          /* delivered to this sink */
	uint64_t checksum;       /* of the chunks delivered (see
				  * workload_checksum_add below) */
	int error;               /* 0, -ETIMEDOUT (cancelled), -ECANCELED, -errno */
};

struct fanout_stats {
	uint64_t bytes_read;     /* from the input */
	uint64_t checksum;       /* of the chunks read, in order: the input
				  * file's once bytes_read is all of it, and
				  * what a sink that took every chunk reports */
	uint64_t chunks_read;
	unsigned peak_chunks;    /* most chunks in memory at once (<= window) */
	int error;               /* 0, or why the whole fanout was aborted while
				  * it ran (-errno): the input could not be
				  * read, or memory ran out */
	unsigned sinks;          /* entries in sink[] */
	struct fanout_sink_stats *sink; /* caller's array of opts->sinks entries */
};

/* Defaults as documented above. */
void echo_opts_default(struct echo_opts *o);
void fanout_opts_default(struct fanout_opts *o);

/* An engine's two entry points.  Each runs on r until done (fanout) or until
 * a stop is requested (echo), frees everything it allocated, fills *stats,
 * and returns 0, or -errno if it could not start (port in use, no input...). */
typedef int (*echo_serve_fn)(struct reactor *r, struct offload *o,
			     const struct echo_opts *opts,
			     struct echo_stats *stats);
typedef int (*fanout_run_fn)(struct reactor *r, struct offload *o,
			     const struct fanout_opts *opts,
			     struct fanout_stats *stats);

/* doc:begin workload-checksum */
/* The checksum of fanout sinks, computed once per chunk, not once per byte
 * and sink.
 *
 * The input is read in chunks of chunk_size bytes (the last one may be
 * shorter; pread of a regular file returns whole chunks).  Each chunk is
 * hashed once, when it is read, with XXH3 (64 bits, libxxhash):
 *
 *     c[k] = XXH3_64bits(chunk k)                  workload_chunk_checksum
 *
 * and a sink's checksum is a hash of the chunk checksums it delivered, in
 * order, each as 8 little-endian bytes seeded with the sum so far:
 *
 *     S = WORKLOAD_CHECKSUM_INIT                   no chunk delivered
 *     S = XXH3_64bits_withSeed(le64(c[k]), 8, S)   workload_checksum_add
 *
 * So a sink costs 8 bytes of hashing per chunk, and the bytes of a chunk
 * are hashed once whatever the number of sinks.  A sink that delivered
 * every chunk reports the checksum of the whole file; a sink that ended
 * early (cancelled, timed out) reports the checksum of the chunks it
 * delivered, that is of the prefix of `bytes` bytes of the file.  Both are
 * workload_checksum(bytes, len, chunk_size) of those bytes.  The value
 * depends on the chunk size: compare checksums of runs with the same
 * --chunk-size.  (Until this definition it was a byte-at-a-time 64-bit
 * FNV-1a over every byte each sink wrote: the same input hashed N times,
 * most of the user-space CPU of a fanout.) */
#define WORKLOAD_CHECKSUM_INIT 0x70757368706f6c6cull   /* "pushpoll" */
uint64_t workload_chunk_checksum(const void *data, size_t len);
uint64_t workload_checksum_add(uint64_t sum, uint64_t chunk_checksum);
/* doc:end workload-checksum */
/* The checksum a sink reports after delivering these len bytes: they are
 * cut into chunk_size pieces (the last one may be shorter) and folded as
 * above.  For tests and checks, not for the hot path. */
uint64_t workload_checksum(const void *data, size_t len, size_t chunk_size);

/* The same for a receiver that gets the bytes in pieces of any size (a TCP
 * subscriber): feed it what arrives, end it for the checksum.  _init
 * returns 0 or -ENOMEM; _end frees what _init allocated and may be called
 * once. */
struct workload_checksum_stream {
	uint64_t sum;              /* over the whole chunks so far */
	size_t chunk_size;
	size_t fill;               /* bytes of the chunk in progress */
	struct XXH3_state_s *chunk; /* its hash so far */
};
int workload_checksum_stream_init(struct workload_checksum_stream *s,
				  size_t chunk_size);
void workload_checksum_stream_feed(struct workload_checksum_stream *s,
				   const void *data, size_t len);
uint64_t workload_checksum_stream_end(struct workload_checksum_stream *s);

/* The statistics as "key=value" lines, the same for every engine. */
void echo_stats_print(FILE *f, const char *engine, const struct echo_stats *s);
void fanout_stats_print(FILE *f, const char *engine,
			const struct fanout_stats *s);

/* ---- for the cancellation harness (compare/torture/torture.c) --------------- */

/* A handle on the workload running on this thread, so that the harness can
 * cancel ONE part of it from a simulation step hook: echo connection i (in
 * the order of the server's own list of open connections), or fanout sink i.
 * The cancelled part ends as it would on its own error path (push: its
 * token is cancelled; poll: its task or future is dropped); the rest of the
 * workload goes on.  An engine publishes the probe when its workload starts
 * and clears it before the workload returns.  Thread-local: servers running
 * on other threads are not seen.  Costs nothing when no harness calls it. */
void workload_probe_publish(int (*cancel_part)(void *self, unsigned i),
			    void *self);
void workload_probe_clear(void *self);
/* Cancel part i of the workload running on this thread (loop thread only,
 * outside any callback or poll: from a sim_at_step() hook).  Returns 0, or
 * -ENOENT when no workload runs or it has no live part i now. */
int workload_cancel_part(unsigned i);

#endif
