/* baselines.h: the engines the push and poll engines are measured
 * against.
 *
 *   epoll     a hand-written epoll state machine with no abstraction at all:
 *             the floor that no event library can beat.
 *   uring     the same by hand on io_uring (liburing), where configure found
 *             liburing: the completion floor.
 *   libuv     libuv 1.44 as its own documentation and examples use it.
 *   libevent  libevent 2.1 bufferevents and listeners.
 *
 * Each implements the two workloads of workload.h with exactly the options,
 * behaviour and statistics the push and poll engines have, so any of them
 * can stand wherever `--engine` is accepted.  The functions have the
 * echo_serve_fn and fanout_run_fn signatures.
 *
 * What they share with the engines, and what they do not:
 *
 * - The reactor `r` is used only for its stop flag: every baseline checks
 *   reactor_stop_requested(r) at least every 100 ms (the epoll baseline
 *   after every epoll_wait(), which a signal also interrupts; libuv and
 *   libevent from a 50 ms periodic timer), then stops accepting, closes
 *   everything and returns.  The I/O itself goes through the baseline's own
 *   loop, never through the reactor, which is the point of a baseline.  `r`
 *   must be an epoll reactor: under the simulated reactor each returns
 *   -ENOTSUP, since a library's real sockets cannot be simulated.
 * - The offload pool `o` is not used.  libuv reads and writes files on its
 *   own thread pool (uv_fs_*); the epoll and libevent baselines call pread()
 *   and pwrite() in the loop, as programs written on those bases do (a read
 *   from the page cache is a memory copy).  The cost: a slow disk stalls
 *   their loop, and a file sink can never time out.  The uring baseline
 *   hands its reads and writes to the ring, as every other operation.
 * - Memory: the baselines allocate through mem_alloc(), and libuv's and
 *   libevent's own allocations are routed to the same counters
 *   (baseline__route_libuv(), baseline__route_libevent(), done once per
 *   process by the first call of a libuv or libevent baseline).  Each function returns with
 *   mem's live blocks back where they were at entry.
 *
 * The behaviour, common to all three:
 *
 * echo  Per connection: read up to bufsize bytes, write all of them back,
 *       and only then read again, until end of stream (counted `closed`).
 *       While a write back is blocked the connection reads nothing, so a
 *       peer that does not read stops being read from (back pressure).  A
 *       connection whose input last arrived idle_timeout_ns ago is closed
 *       (`timed_out`), whether it was waiting for input or for its write
 *       back to go out; the clock starts at the accept and starts over at
 *       every read.  Over max_conns, a connection is accepted and closed
 *       at once (`refused`).  A failed accept (EMFILE...) is counted in
 *       `accept_errors`; out of descriptors, the pending connection is shed
 *       (accepted on a reserve descriptor and closed) so that the loop
 *       neither stops nor spins.  (libuv sheds such connections itself and
 *       does not tell its user, so under libuv they cannot be counted:
 *       its `accept_errors_unseen` is set.)  A
 *       read or write error, or no memory for the connection, ends it
 *       (`failed`).  On a stop request the listener is closed and every
 *       open connection is closed (`cancelled`).  `bytes` counts what was
 *       written back, a read's worth at a time once all of it has gone (a
 *       write back cut short by a close is not counted).
 *
 * fanout  The input is read in chunks of chunk_size, in order, each chunk
 *       once, into memory shared by every sink; at most `window` chunks are
 *       in memory at once (counting a chunk being read into); a chunk is
 *       freed as soon as every sink still running has taken it.  TCP sinks:
 *       listen, accept exactly `sinks` subscribers (the listener is then
 *       closed), send each the whole input, then close (the subscriber
 *       reads end of stream once it has everything).  File
 *       sinks: output_dir/sink-<i>, created or truncated.  A sink that does
 *       not take the chunk it is writing within sink_timeout_ns of starting
 *       it is cancelled with -ETIMEDOUT, the others go on.  A stop request
 *       cancels every sink still running with -ECANCELED, and so does a
 *       stop before every subscriber has come.  A sink's `bytes` and
 *       `checksum` cover the chunks it took whole, in order: a prefix of the
 *       input, all of it for a sink that finished (error 0), and for a
 *       cancelled sink without the chunk it was cut off in (part of which
 *       may have reached its file or subscriber).  No sinks: nothing is
 *       read or listened on, and the fanout returns 0 at once (once the
 *       input is found).
 *
 * Returns (all six): 0 once the workload ran (stopped, or finished, or
 * with some sinks failed: the statistics say which), or a negative errno
 * when it could not start: -EADDRINUSE (port in use), -ENOENT (no input
 * file, or no output directory), -ENOTSUP (simulated reactor), -EINVAL
 * (bufsize, window or chunk_size 0, or sinks but no stats->sink array),
 * -ENOMEM, or what socket(2), bind(2) or open(2) said.  Nothing is left
 * allocated or open in either case, and after a failure to start
 * on_listening has not been called.
 * The statistics are filled in every case (all zero when nothing ran;
 * fanout keeps the caller's stats->sink pointer).
 */
#ifndef PUSHPOLL_BASELINES_H
#define PUSHPOLL_BASELINES_H

#include "offload.h"
#include "reactor.h"
#include "workload.h"

/* The epoll baseline: epoll_wait(), accept4(), recv(), send(), one
 * allocation per connection (its buffer included), edge-triggered. */
int epoll_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats);
int epoll_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats);

/* The libuv baseline: uv_tcp_t, uv_read_start(), uv_try_write() then
 * uv_write(), uv_timer_t, uv_fs_read()/uv_fs_write() on libuv's pool. */
int libuv_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats);
int libuv_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats);

/* The libevent baseline: evconnlistener, bufferevents, evbuffer references
 * for zero-copy sharing of a chunk among TCP sinks. */
int libevent_echo_serve(struct reactor *r, struct offload *o,
			const struct echo_opts *opts,
			struct echo_stats *stats);
int libevent_fanout_run(struct reactor *r, struct offload *o,
			const struct fanout_opts *opts,
			struct fanout_stats *stats);

/* The io_uring baseline (built where configure found liburing): one ring,
 * one recv or send in flight per connection, multishot accept, one
 * io_uring_enter() per loop iteration; the fanout reads its input with the
 * ring too (IORING_OP_READ), not in the loop nor on a pool.  Where io_uring
 * cannot be set up it says why in one line on stderr and returns the
 * -errno (-EPERM, -ENOSYS...).  With buffers on readiness each connection
 * keeps a multishot recv on one provided buffer ring per loop instead
 * (-EOPNOTSUPP, with a line, where the kernel lacks it: Linux 6.0). */
int uring_echo_serve(struct reactor *r, struct offload *o,
		     const struct echo_opts *opts, struct echo_stats *stats);
/* The heap the echo's provided buffer ring takes, once per loop, with
 * buffers on readiness and read buffers of bufsize: the buffers, the ring
 * the kernel picks them from, and what the loop keeps of each. */
size_t uring_echo_ring_bytes(size_t bufsize);
int uring_fanout_run(struct reactor *r, struct offload *o,
		     const struct fanout_opts *opts, struct fanout_stats *stats);

/* Every baseline resolves host:port with reactor_resolve() (reactor.h),
 * once, before its loop starts: the address the engines bind. */

/* Internal, shared by the three fanouts (this and what follows are in
 * baseline_common.c): check opts (-ENOTSUP under sim,
 * -EINVAL for no window, no chunk size, no input, or sinks but no sink
 * array) and reset *stats, keeping stats->sink, whose opts->sinks entries
 * start at 0 bytes, WORKLOAD_CHECKSUM_INIT and no error. */
int baseline__fanout_start(struct reactor *r, const struct fanout_opts *opts,
			   struct fanout_stats *stats);

/* Internal: open (create or truncate) file sink i of opts, the file
 * output_dir/sink-<i>, for writing; returns its descriptor or -errno.  For
 * the baselines that write sinks with plain descriptors (epoll, libevent,
 * io_uring). */
int baseline__open_sink_file(const struct fanout_opts *opts, unsigned i);

/* Internal: send libuv's / libevent's allocations through mem's counters
 * (mem_alloc(), mem_realloc(), mem_calloc(), mem_free()), so that they are
 * counted as the engines' are.  Must be called before the library
 * allocates anything.  Return 0 or -errno (-ENOTSUP: a libevent built
 * without replaceable allocators). */
int baseline__route_libuv(void);
int baseline__route_libevent(void);

#endif
