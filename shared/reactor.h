/* reactor.h: readiness of handles, timers, and a wake from other threads.
 *
 * The substrate both engines stand on.  It knows nothing of callbacks-as-a-
 * model or of futures: it tells its owner that a handle *became* ready, that
 * a timer expired, or that another thread asked for attention, and it
 * performs the I/O calls an engine needs.  Engines never call read(2) or
 * write(2) themselves, so the same engine code runs on either backend:
 *
 *   epoll  real sockets, pipes and files (reactor_new_epoll()).
 *   sim    a deterministic simulation with a virtual clock, in-memory
 *          streams and files and a seeded scheduler (reactor_new_sim(), in
 *          sim.h).  Every event it delivers is one numbered step.
 *
 * Handles.  A handle is a small non-negative int naming a socket, listener
 * or file of the reactor's backend (a file descriptor under epoll, an index
 * into the simulation's table under sim).  Errors are negative errno values,
 * everywhere, as in libuv.
 *
 * Readiness is edge-triggered.  reactor_io_start() registers a handle once,
 * for both directions; from then on the callback runs each time the handle
 * becomes readable or writable, or is hung up.  An edge is reported only on a
 * change, so the rule for the user is the usual one for edge-triggered
 * readiness:  try the operation first; wait for an edge only after it
 * returned -EAGAIN.  Followed, this rule never loses a wake-up.  Reading
 * through the watcher (reactor_io_read()) keeps the rule and lets the
 * reactor answer the -EAGAIN it can prove without a system call.
 *
 * Threads.  A reactor belongs to the thread that calls reactor_poll() (the
 * loop thread).  The only calls allowed from other threads are
 * reactor_async_send(), reactor_request_stop() and the reactor_file_*()
 * calls; reactor_request_stop() is also safe in a signal handler.
 *
 * Memory.  The reactor allocates only in reactor_new_*(); watchers, timers
 * and asyncs are embedded in their owner's memory (intrusive), so an engine
 * that wants to allocate nothing after start-up can.  Zero-initialise a
 * watcher or timer before its first use (memset or `= {0}`).
 */
#ifndef PUSHPOLL_REACTOR_H
#define PUSHPOLL_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct reactor;

/* Readiness bits passed to an io callback. */
enum {
	REACTOR_READABLE = 1 << 0,  /* data, EOF, or a pending connection */
	REACTOR_WRITABLE = 1 << 1,  /* room to write, or a connect finished */
	REACTOR_HANGUP   = 1 << 2,  /* the peer closed or reset: reads will say which */
};

/* ---- life ---------------------------------------------------------------- */

/* A reactor over epoll.  Returns NULL (errno set) on failure. */
struct reactor *reactor_new_epoll(void);

/* Free a reactor.  Every io watcher, timer and async must have been stopped
 * and every handle closed first; the simulation frees its own peers and
 * files here. */
void reactor_free(struct reactor *r);

/* "epoll" or "sim". */
const char *reactor_backend(const struct reactor *r);
bool reactor_is_sim(const struct reactor *r);

/* Now, in nanoseconds: the monotonic clock under epoll, virtual time under
 * sim.  Engines take all their time stamps here. */
uint64_t reactor_now(const struct reactor *r);

/* ---- the loop ------------------------------------------------------------ */

/* Wait for events for at most timeout_ns (0: do not wait, -1: no limit) and
 * dispatch them: io edges in the order the backend reports them (asyncs
 * among them), then expired timers in deadline order.  Callbacks run inside
 * this call, on the loop thread.  A stop request or a signal ends the wait
 * early.
 *
 * Returns the number of callbacks run (0 on a time-out or an interrupted
 * wait), or -EDEADLK (sim only) when nothing is pending anywhere and
 * timeout_ns is -1: no event can ever arrive, the simulated world is
 * quiescent.  Under sim one call delivers at most one event: one step. */
int reactor_poll(struct reactor *r, int64_t timeout_ns);

/* Ask the loop to stop: sets a flag that stays set and wakes reactor_poll()
 * if it is blocked.  Async-signal-safe and thread-safe.  The reactor itself
 * does nothing else; engines check reactor_stop_requested() once per loop
 * iteration and then shut their workload down. */
void reactor_request_stop(struct reactor *r);
bool reactor_stop_requested(const struct reactor *r);

/* ---- io watchers --------------------------------------------------------- */

struct reactor_io;
typedef void (*reactor_io_cb)(struct reactor_io *io, unsigned events);

struct reactor_io {
	/* read-only after reactor_io_start() */
	int handle;
	reactor_io_cb cb;
	/* private */
	bool active;
	bool drained;       /* reactor_io_read(): a short read emptied the
			     * handle and no readable edge came since */
	bool peer_closed;   /* an edge said the peer closed or failed: short
			     * reads prove nothing any more */
};

/* Start watching handle for edges in both directions.  The callback runs on
 * the loop thread, inside reactor_poll(), never inside this call.  A handle
 * has at most one watcher.  Returns 0 or -errno. */
int reactor_io_start(struct reactor *r, struct reactor_io *io, int handle,
		     reactor_io_cb cb);

/* Read up to n bytes from io's handle: what reactor_read(r, io->handle, ...)
 * returns, with one system call saved where the backend can prove it
 * useless.  Under epoll a read from a stream socket that returns fewer bytes
 * than asked has taken everything the socket held, and every later arrival
 * raises a new readable edge; so after such a short read this returns
 * -EAGAIN at once, without calling recv(), until io's next readable edge.
 * The edge-triggered rule holds word for word: on -EAGAIN, wait for the
 * edge, which will come.  End of stream is never missed: once an edge has
 * said the peer closed (a FIN can sit behind the last data, and is
 * reported only once), every call reads.  Under sim, whose short reads are
 * injected faults that leave data behind, it is reactor_read() exactly.
 *
 * The saving is the read that would say -EAGAIN after each message of a
 * request/response exchange: a third of an echo's system calls.  io must be
 * started, on a socket; the state it keeps is reset by reactor_io_start(). */
ssize_t reactor_io_read(struct reactor *r, struct reactor_io *io, void *buf,
			size_t n);

/* True when reactor_io_read() on io would answer -EAGAIN at once, without
 * a system call: a short read emptied the handle and no readable edge came
 * since.  A reader that takes a buffer only when the handle is readable asks
 * this first, and waits for the edge without taking one. */
static inline bool reactor_io_drained(const struct reactor_io *io)
{
	return io->drained;
}

/* Stop watching.  After it returns the callback is never run again, even for
 * an edge already collected in the current batch: io's memory may be freed
 * at once.  Stopping a stopped watcher does nothing. */
void reactor_io_stop(struct reactor *r, struct reactor_io *io);

/* ---- timers -------------------------------------------------------------- */

struct reactor_timer;
typedef void (*reactor_timer_cb)(struct reactor_timer *t);

struct reactor_timer {
	/* read-only */
	uint64_t deadline;     /* reactor_now() at which it fires */
	reactor_timer_cb cb;
	/* private: a node of the reactor's pairing heap */
	uint64_t seq;          /* start order: breaks ties between equal deadlines */
	struct reactor_timer *child, *sibling, *prev;
	bool active;
};

/* Start (or restart) a one-shot timer delay_ns from now.  Timers fire in
 * deadline order, ties in the order they were started; a timer whose delay
 * is 0 fires on the next reactor_poll(), never inside this call.  A delay
 * too long for the clock to reach (now + delay_ns past 2^64 - 1 ns) never
 * fires. */
void reactor_timer_start(struct reactor *r, struct reactor_timer *t,
			 uint64_t delay_ns, reactor_timer_cb cb);

/* Stop a timer.  After it returns the callback never runs; t may be freed.
 * Stopping an inactive timer does nothing. */
void reactor_timer_stop(struct reactor *r, struct reactor_timer *t);

/* The timer heap's work so far: the links it has made (one tree made the
 * child of another), the unit that every start, stop and expiry is paid
 * in.  Starting a timer costs at most one; stopping one, or letting the
 * earliest expire, costs about one per child it had, which the heap keeps
 * at O(log n) amortised over n timers.  Counted so that tests and `bench
 * scale` can say how timer work grows with the number of timers. */
uint64_t reactor_timer_links(const struct reactor *r);

static inline bool reactor_timer_active(const struct reactor_timer *t)
{
	return t->active;
}

/* For a loop that waits somewhere else (a completion queue over io_uring,
 * completion.h) but keeps its timers here: run, on the loop thread, every
 * timer whose deadline has passed, as reactor_poll() would after its I/O,
 * and return the nanoseconds until the next deadline (0: one is due now,
 * a callback started it), or -1 when no timer is active.  Polls no I/O and
 * makes no system call but the clock's.  Not under sim, whose timers are
 * steps of reactor_poll() (and of completion_poll() over it): -ENOTSUP. */
int64_t reactor_timers_run_due(struct reactor *r);

/* ---- wake from another thread -------------------------------------------- */

struct reactor_async;
typedef void (*reactor_async_cb)(struct reactor_async *a);

struct reactor_async {
	/* read-only */
	struct reactor *r;
	reactor_async_cb cb;
	/* private */
	int pending;                 /* set by senders (atomic exchange) */
	struct reactor_async *next;  /* the reactor's list of asyncs */
};

/* Register an async.  Loop thread only. */
void reactor_async_start(struct reactor *r, struct reactor_async *a,
			 reactor_async_cb cb);
/* From any thread: make the callback run once on the loop thread.  Sends
 * made before the callback starts coalesce into one call; a send made while
 * it runs causes another call. */
void reactor_async_send(struct reactor_async *a);
/* Unregister.  Loop thread only; after it returns the callback never runs. */
void reactor_async_stop(struct reactor *r, struct reactor_async *a);

/* ---- streams ------------------------------------------------------------- */

/* host:port as an IPv4 socket address.  NULL, "" and "*" mean any address.
 * A numeric address is parsed in place; a name goes through getaddrinfo(),
 * which may read /etc/hosts or ask DNS and block: resolve once, at start-up
 * (reactor_listen and reactor_connect of the epoll backend call it).
 * Returns 0, -EHOSTUNREACH when the name does not resolve, -ENOMEM, or the
 * -errno of a failed system call. */
struct sockaddr_in;
int reactor_resolve(const char *host, uint16_t port, struct sockaddr_in *sa);

/* Listen on host:port (port 0 picks a free one).  Returns a non-blocking
 * listening handle or -errno (-EADDRINUSE for a port in use). */
int reactor_listen(struct reactor *r, const char *host, uint16_t port,
		   int backlog);
/* The same with SO_REUSEPORT: several listeners, one per loop thread, may
 * share host:port, and the kernel spreads new connections over them
 * (shared/reactor_reuseport.c).  Epoll only: -ENOTSUP under sim. */
int reactor_listen_reuseport(struct reactor *r, const char *host,
			     uint16_t port, int backlog);
/* The port a listening or connected handle is bound to, or -errno. */
int reactor_local_port(struct reactor *r, int handle);

/* Accept one pending connection: a new non-blocking handle, or -EAGAIN when
 * none is pending, or -EMFILE/-ENFILE when out of descriptors.  Out of
 * descriptors, the reactor accepts the pending connection on a descriptor it
 * keeps in reserve and closes it at once, so the peer sees a close instead
 * of a hang and the listener does not stay readable (no busy loop). */
int reactor_accept(struct reactor *r, int listener);
/* Whether an error of reactor_accept() means the listener itself is broken
 * (-EBADF, -EINVAL, -ENOTSOCK, -EOPNOTSUPP), so that accepting again would
 * fail the same way at once: a server stops accepting on it.  Any other
 * error (-EMFILE, -ENFILE, -ENOBUFS, -ENOMEM, -ECONNABORTED...) concerns one
 * connection or a passing shortage, and the next accept may succeed. */
bool reactor_accept_error_is_fatal(ssize_t err);

/* Start connecting to host:port.  Returns a handle at once; the connection
 * is complete when the handle becomes writable, and reactor_connect_result()
 * then says 0 or -errno (-ECONNREFUSED...). */
int reactor_connect(struct reactor *r, const char *host, uint16_t port);
int reactor_connect_result(struct reactor *r, int handle);

/* Read up to n bytes: > 0 bytes read, 0 at end of stream, or -EAGAIN,
 * -ECONNRESET, ...  A short read is normal. */
ssize_t reactor_read(struct reactor *r, int handle, void *buf, size_t n);
/* Write up to n bytes: > 0 bytes taken (maybe fewer than n), or -EAGAIN,
 * -EPIPE, -ECONNRESET, ...  Never raises SIGPIPE. */
ssize_t reactor_write(struct reactor *r, int handle, const void *buf,
		      size_t n);
/* Half-close: the peer reads end of stream after what was written. */
int reactor_shutdown_write(struct reactor *r, int handle);
/* Close a stream or listener.  Its watcher must be stopped first. */
int reactor_close(struct reactor *r, int handle);

/* ---- regular files ------------------------------------------------------- */
/* Blocking calls with no readiness: meant to run in offload jobs (on a
 * worker thread under epoll, at a scheduled step under sim).  Thread-safe. */

int reactor_file_open(struct reactor *r, const char *path, int flags,
		      int mode);
ssize_t reactor_file_pread(struct reactor *r, int handle, void *buf,
			   size_t n, uint64_t offset);
/* Write all n bytes at offset: n, or -errno.  A short write is continued,
 * so a write that stops part way (a full disk writes what fits, then
 * fails) returns the error, never a smaller count. */
ssize_t reactor_file_pwrite(struct reactor *r, int handle, const void *buf,
			    size_t n, uint64_t offset);
int64_t reactor_file_size(struct reactor *r, int handle);
int reactor_file_close(struct reactor *r, int handle);

#endif
