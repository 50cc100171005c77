/* completion.h: completion-based I/O, beside the readiness reactor.
 *
 * The reactor (reactor.h) says "you may read now"; this interface says
 * "your read is done, here are the bytes".  The caller submits an
 * operation (accept, connect, recv, send, a file read or write, a timeout)
 * together with its buffer; the kernel performs it; later, one call of
 * completion_poll() hands back a completion carrying the operation's user
 * data and its result.  It knows nothing of callbacks-as-a-model or of
 * futures: the push engine can run a callback from a completion and the poll
 * engine can wake a task from it.  Two backends:
 *
 *   uring  Linux io_uring through liburing (completion_new_uring()): real
 *          sockets and files, batched submission, multishot accept and
 *          multishot recv into a provided buffer ring where the kernel has
 *          them.  Left out of builds that configure found no liburing for.
 *   sim    a completion mode of the deterministic simulator
 *          (completion_new_sim()), on the world of a simulated reactor: its
 *          streams, listeners, peers and files, its seeded scheduler, its
 *          numbered, replayable, stoppable steps.  It also plays the strict
 *          kernel: it checks that no buffer is touched, freed or submitted
 *          again while the kernel owns it, and counts each breach.
 *
 * The three rules, on which everything else here rests:
 *
 *   1. Ownership.  From submission until its completion is posted, the
 *      kernel owns the operation's buffer and the struct completion_op
 *      itself: the caller must not read, write, free or reuse either.  A
 *      recv buffer's contents are undefined until the completion; a send
 *      buffer must stay unchanged.  (Under sim a breach is a counted
 *      violation, completion_sim_violations().)
 *   2. Exactly once.  Every operation whose submit call returned 0
 *      completes exactly once: one completion without COMPLETION_MORE.  A
 *      multishot operation first posts any number of completions with
 *      COMPLETION_MORE, then that final one.  A submit call that fails
 *      posts nothing.
 *   3. Cancellation is asynchronous and may lose the race.
 *      completion_cancel() only asks; the operation still completes once,
 *      either with -ECANCELED or, if the kernel finished it first, with its
 *      ordinary result (bytes received, a new connection...), which the
 *      caller must then take care of (close the handle, consume the bytes).
 *      Until that completion, rule 1 holds: cancelling gives no buffer back.
 *
 * Handles are what reactor.h calls handles: file descriptors under uring,
 * indexes into the simulation's table under sim.  Open and close them here
 * (completion_listen(), completion_file_open(), completion_close()), so the
 * same code runs on either backend.  Errors are negative errno values.
 *
 * Threads.  A completion queue belongs to one thread: every call here is
 * made on it.  Memory.  The queue allocates in completion_new_*() and in
 * completion_buffers_provide(); an operation is embedded in its owner's
 * memory, so submitting allocates nothing under uring (the simulation, the
 * test world, allocates with plain malloc, outside the mem counters).
 */
#ifndef PUSHPOLL_COMPLETION_H
#define PUSHPOLL_COMPLETION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct completion;
struct reactor;
struct sockaddr_in;

/* The operations. */
enum completion_kind {
	COMPLETION_ACCEPT = 1,
	COMPLETION_ACCEPT_MULTISHOT,
	COMPLETION_CONNECT,
	COMPLETION_RECV,
	COMPLETION_RECV_MULTISHOT,
	COMPLETION_RECV_SELECT,
	COMPLETION_SEND,
	COMPLETION_FILE_READ,
	COMPLETION_FILE_WRITE,
	COMPLETION_TIMEOUT,
};

/* One submitted operation, embedded in its owner's memory.  Zero it before
 * its first use.  Its states:
 *
 *   idle       never submitted, or its final completion was posted: the
 *              owner may change, free or submit it again.
 *   in flight  from a submit call that returned 0 until its final
 *              completion is posted: owned by the queue (rule 1).
 *
 * user_data is the caller's, copied into every completion of the op. */
struct completion_op {
	/* public: set before submitting, read-only while in flight */
	uint64_t user_data;
	/* read-only */
	enum completion_kind kind;
	bool in_flight;
	bool cancel_requested;
	/* private */
	int handle;
	void *buf;
	size_t len;
	uint64_t offset;          /* files: where; timeouts: the delay, ns */
	uint64_t space[2];        /* uring: a timeout's kernel timespec, or a
				   * connect's address: the kernel reads them
				   * while the op is in flight */
	unsigned group;           /* recv from provided buffers: the group */
	bool emulated;            /* uring: multishot accept re-armed by hand */
	void *shadow;             /* sim: the simulated kernel's record */
};

/* Bits of struct completion_event.flags. */
enum {
	COMPLETION_MORE   = 1 << 0, /* a multishot op posts more: still in flight */
	COMPLETION_BUFFER = 1 << 1, /* the bytes are in provided buffer buf_id */
};

/* One completion.  result: what the system call would have returned, as a
 * negative errno on failure (-ECANCELED for a cancelled op); for accept and
 * connect the new connected handle, which is the caller's from now on; for
 * a timeout 0 when it expired. */
struct completion_event {
	struct completion_op *op;
	uint64_t user_data;
	ssize_t result;
	unsigned flags;
	unsigned buf_id;           /* with COMPLETION_BUFFER */
};

/* Counters, for syscall and batching figures. */
struct completion_stats {
	uint64_t submitted;        /* submit calls that returned 0 */
	uint64_t completed;        /* completions posted, MORE ones included */
	uint64_t enters;           /* io_uring_enter(2) calls (uring); steps (sim) */
	uint64_t polls;            /* completion_poll() calls */
	uint64_t file_read_bytes;  /* bytes the final completions of file reads
				    * carried (results > 0): what the kernel
				    * read, consumed or not.  A read whose
				    * cancel lost the race (rule 3) counts:
				    * its bytes were read. */
};

/* ---- life ---------------------------------------------------------------- */

/* The longest reason completion_new_uring() writes, with its NUL. */
#define COMPLETION_REASON_MAX 160

/* A queue over io_uring with room for `entries` submissions per loop
 * iteration (a power of two is used; 0 means 256).  Returns 0 and sets *out,
 * or returns -errno and writes one line into why (no newline) saying why
 * io_uring cannot be used here:
 *
 *   -ENOSYS   built without liburing, or a kernel without io_uring
 *   -EPERM    kernel.io_uring_disabled, or a seccomp profile refusing
 *             io_uring_setup(2)
 *   -EOPNOTSUPP  a kernel too old for what this backend needs (5.11:
 *             waiting with a timeout in one system call, and the probe)
 *   -ENOMEM, -EMFILE...  as io_uring_setup(2) says
 *
 * Multishot accept and multishot recv with provided buffers are probed
 * here; completion_supports() reports what was found. */
int completion_new_uring(unsigned entries, struct completion **out,
			 char *why, size_t why_len);

/* Whether a queue over io_uring can be made here: 0, or the -errno and the
 * one line in why that completion_new_uring() gives (it makes a small
 * queue and frees it).  For a command that checks before it starts
 * anything: `pushpoll serve`, fanout and bench. */
int completion_uring_usable(char *why, size_t why_len);

/* The one line completion_new_uring() writes when io_uring_setup(2)
 * failed with err: names the sysctl, the seccomp refusal or the missing
 * system call.  For other programs on io_uring (the uring baseline). */
void completion_uring_why(int err, char *why, size_t why_len);

/* A queue on the world of the simulated reactor sim (sim.h), which must
 * outlive it.  Its operations are steps of that reactor: completion_poll()
 * drives reactor_poll(), and sim_at_step(), the trace and the hash see them
 * as every other step.  Returns NULL if sim is not simulated or on failure. */
struct completion *completion_new_sim(struct reactor *sim);

/* The queue an engine's completion entry point runs on, beside the reactor
 * r it was given (which it keeps for stop requests, as the readiness entry
 * points do): the simulation's completion mode when r is simulated
 * (completion_new_sim()), else io_uring (completion_new_uring() with
 * entries).  So the same entry point runs under the tests and the torture
 * harness on sim and under `--backend uring` on a ring.  Returns 0 and sets
 * *out, or -errno with one line in why. */
int completion_new_beside(struct reactor *r, unsigned entries,
			  struct completion **out, char *why, size_t why_len);

/* Free the queue.  No operation may be in flight (cancel them and poll
 * until each has completed); under sim, an operation still in flight is a
 * violation reported on stderr.  Provided buffers are given back. */
void completion_free(struct completion *q);

/* "uring" or "sim". */
const char *completion_backend(const struct completion *q);

/* What the backend supports. */
enum completion_feature {
	COMPLETION_FEATURE_MULTISHOT_ACCEPT, /* in the kernel (else re-armed by
					      * the backend: same contract) */
	COMPLETION_FEATURE_MULTISHOT_RECV,   /* multishot recv and provided
					      * buffer rings */
};
bool completion_supports(const struct completion *q,
			 enum completion_feature f);

void completion_get_stats(const struct completion *q,
			  struct completion_stats *st);

/* ---- the loop ------------------------------------------------------------ */

/* One loop iteration: hand every operation submitted since the last call to
 * the kernel, wait up to timeout_ns (0: do not wait, -1: no limit) if no
 * completion is ready yet, and copy at most max ready completions into
 * out, oldest first.  Under uring that is at most one io_uring_enter(2)
 * (none when there is nothing to submit and a completion is ready, or the
 * timeout is 0, nothing was submitted and the kernel holds no completion
 * work for the ring); a timeout of 0 still sees every operation the kernel
 * has finished, as a wait would.  Only a burst of more than
 * `entries` submissions between two polls costs more, one enter per full
 * submission queue.  Under sim it delivers at most one step, and only if no
 * completion was ready.
 *
 * Returns the number of completions copied (0 on a time-out), or -EDEADLK
 * (sim) when nothing is ready, pending or scheduled and timeout_ns is -1, or
 * -errno.  When a final completion is copied its op is idle again: the
 * caller may free or resubmit it at once. */
int completion_poll(struct completion *q, int64_t timeout_ns,
		    struct completion_event *out, unsigned max);

/* ---- submitting ---------------------------------------------------------- */
/* Each returns 0 (the op is in flight; rules 1 to 3 apply) or -errno (the op
 * stays idle and nothing will be posted): -EBUSY if op is already in flight,
 * -EINVAL for a bad argument, -EOPNOTSUPP for what the backend lacks. */

/* Accept one connection on a listening handle.  Result: a new handle. */
int completion_accept(struct completion *q, struct completion_op *op,
		      int listener);
/* Accept connections until cancelled or an error: one completion with
 * COMPLETION_MORE per connection, then a final one (-ECANCELED, or the
 * error).  Where the kernel has no multishot accept the backend re-arms a
 * single accept after each completion, with the same contract. */
int completion_accept_multishot(struct completion *q,
				struct completion_op *op, int listener);
/* Open a stream handle and connect it to `to`.  Result: the connected
 * handle, or -errno (-ECONNREFUSED...), in which case the backend has
 * closed it.  Under sim the address is ignored but for its port. */
int completion_connect(struct completion *q, struct completion_op *op,
		       const struct sockaddr_in *to);
/* Receive up to len bytes into buf.  Result: bytes received, 0 at end of
 * stream, or -errno.  buf belongs to the kernel until the completion. */
int completion_recv(struct completion *q, struct completion_op *op,
		    int handle, void *buf, size_t len);
/* Receive until cancelled, end of stream or an error, each time into a
 * buffer the kernel picks from group (completion_buffers_provide()): one
 * completion with COMPLETION_MORE | COMPLETION_BUFFER per arrival, then a
 * final one: 0 at end of stream, -ECANCELED, -ENOBUFS when the group ran
 * empty, or the error.  -EOPNOTSUPP without COMPLETION_FEATURE_MULTISHOT_RECV
 * (then recv one buffer at a time). */
int completion_recv_multishot(struct completion *q, struct completion_op *op,
			      int handle, unsigned group);
/* Receive once, into a buffer the kernel picks from group
 * (completion_buffers_provide()) only when bytes arrive: while the op waits
 * it holds no buffer, so an idle connection commits none.  Result: bytes
 * received, with COMPLETION_BUFFER and buf_id naming the buffer, which is
 * the caller's until completion_buffer_return(); or, without a buffer, 0 at
 * end of stream, -ENOBUFS when the group was empty as the kernel tried
 * (the bytes, if any, still in the stream: submit again once a buffer is
 * back), -ECANCELED, or the error.  -EOPNOTSUPP without
 * COMPLETION_FEATURE_MULTISHOT_RECV (which also brings provided buffer
 * rings). */
int completion_recv_select(struct completion *q, struct completion_op *op,
			   int handle, unsigned group);
/* Send up to len bytes of buf.  Result: bytes taken (a short send is
 * possible, as with send(2); never raises SIGPIPE) or -errno.  buf must
 * stay unchanged until the completion. */
int completion_send(struct completion *q, struct completion_op *op,
		    int handle, const void *buf, size_t len);
/* Read up to len bytes of a file at offset.  Result: bytes read (0 at the
 * end of the file) or -errno. */
int completion_file_read(struct completion *q, struct completion_op *op,
			 int handle, void *buf, size_t len, uint64_t offset);
/* Write len bytes of buf to a file at offset.  Result: bytes written or
 * -errno. */
int completion_file_write(struct completion *q, struct completion_op *op,
			  int handle, const void *buf, size_t len,
			  uint64_t offset);
/* Complete after delay_ns.  Result: 0 when it expired, -ECANCELED. */
int completion_timeout(struct completion *q, struct completion_op *op,
		       uint64_t delay_ns);

/* Ask that op, which is in flight, be cancelled.  Returns 0 (asked: op
 * completes once, with -ECANCELED or with its result if it was done first;
 * rule 3), -EALREADY if a cancel was already asked, -ENOENT if op is not in
 * flight (nothing happens: its completion was posted already).  The cancel
 * itself posts nothing. */
int completion_cancel(struct completion *q, struct completion_op *op);

/* ---- provided buffers (multishot recv) ----------------------------------- */

/* Give the kernel count buffers of size bytes each, at base (count * size
 * bytes, caller's memory, which must outlive the queue), as group `group`
 * (0..15).  count is a power of two, at most 32768.  Buffer i is at
 * base + i * size.  Every buffer belongs to the kernel until a completion
 * names it (COMPLETION_BUFFER, buf_id); then it is the caller's until
 * completion_buffer_return() gives it back.  Returns 0 or -errno
 * (-EOPNOTSUPP without COMPLETION_FEATURE_MULTISHOT_RECV, -EEXIST). */
int completion_buffers_provide(struct completion *q, unsigned group,
			       void *base, size_t size, unsigned count);
/* How many buffers a provided ring is to have: dflt, or
 * PUSHPOLL_URING_RING_BUFFERS from the environment where it names a power
 * of two up to 32768 (so that a test can run a ring dry).  The io_uring
 * floor and both engines size their rings with it, so that they compare. */
unsigned completion_ring_buffers(unsigned dflt);
/* The start of buffer id of group. */
void *completion_buffer(struct completion *q, unsigned group, unsigned id);
/* Give buffer id of group back to the kernel (rule 1 applies again). */
void completion_buffer_return(struct completion *q, unsigned group,
			      unsigned id);

/* ---- handles ------------------------------------------------------------- */
/* Synchronous: nothing here waits on the network. */

/* A listening stream handle on host:port (port 0: a free one), or -errno. */
int completion_listen(struct completion *q, const char *host, uint16_t port,
		      int backlog);
/* The local port of a listening or connected handle, or -errno. */
int completion_local_port(struct completion *q, int handle);
/* Open a regular file (open(2) flags and mode), or -errno. */
int completion_file_open(struct completion *q, const char *path, int flags,
			 int mode);
/* Half-close a stream handle: the peer reads end of stream. */
int completion_shutdown_write(struct completion *q, int handle);
/* Close any handle.  No operation on it may be in flight (under sim that is
 * a violation, and -EBUSY). */
int completion_close(struct completion *q, int handle);

/* ---- the simulated kernel's checks (sim only) ---------------------------- */

/* Breaches of rule 1 seen so far: a kernel-owned buffer whose contents
 * changed (touched, or freed and reused; under AddressSanitizer a freed one
 * is seen as freed), a buffer submitted again while the kernel owns it, an
 * op submitted while in flight, a handle closed under an op, a queue freed
 * with ops in flight.  Each is also one line on stderr and in the trace.
 * An op whose buffer was breached is not performed: it ends with -EFAULT
 * at its next step (or -ECANCELED), so a test can go on safely. */
uint64_t completion_sim_violations(const struct completion *q);
/* The last violation's line, or NULL. */
const char *completion_sim_last_violation(const struct completion *q);
/* Check every kernel-owned buffer now (completion_poll() does it before
 * each step).  Returns the violations found by this call. */
uint64_t completion_sim_check(struct completion *q);
/* How many operations and bytes of buffer the kernel owns now. */
void completion_sim_owned(const struct completion *q, uint64_t *ops,
			  uint64_t *bytes);

#endif
