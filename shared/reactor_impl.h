/* reactor_impl.h: what a reactor backend supplies, and what reactor.c gives
 * it in return.  Not for engines: they see reactor.h only.
 *
 * A backend embeds `struct reactor` as the first member of its own struct and
 * fills a `struct reactor_ops`.  reactor.c owns what both backends share: the
 * timer heap, the list of asyncs, the stop flag, and the public entry points,
 * each of which is one call through the table below.
 */
#ifndef PUSHPOLL_REACTOR_IMPL_H
#define PUSHPOLL_REACTOR_IMPL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "reactor.h"

struct reactor_ops {
	const char *name;
	/* Free the backend (reactor_free() checked that nothing is active). */
	void (*destroy)(struct reactor *r);
	/* Current time in ns.  Must be callable from a signal handler. */
	uint64_t (*now)(const struct reactor *r);
	/* Wait at most timeout_ns (-1: no limit), shortened to the next timer
	 * deadline by the backend itself (reactor__timer_next()); dispatch io
	 * edges, run asyncs (reactor__asyncs_run()) when woken, then expired
	 * timers (reactor__timers_run()).  Return the callbacks run, or
	 * -EDEADLK (sim, nothing pending, no limit). */
	int (*poll)(struct reactor *r, int64_t timeout_ns);
	/* Make a blocked or future poll() return promptly and run asyncs.
	 * Async-signal-safe and thread-safe. */
	void (*wakeup)(struct reactor *r);
	/* Register io->handle for edges in both directions / deregister.  After
	 * io_stop no edge collected earlier may be delivered to io. */
	int (*io_start)(struct reactor *r, struct reactor_io *io);
	void (*io_stop)(struct reactor *r, struct reactor_io *io);
	/* The I/O calls of reactor.h, same contracts. */
	int (*listen)(struct reactor *r, const char *host, uint16_t port,
		      int backlog);
	int (*local_port)(struct reactor *r, int handle);
	int (*accept)(struct reactor *r, int listener);
	int (*connect)(struct reactor *r, const char *host, uint16_t port);
	int (*connect_result)(struct reactor *r, int handle);
	ssize_t (*read)(struct reactor *r, int handle, void *buf, size_t n);
	/* True when a read that returns fewer bytes than asked has emptied
	 * the stream and every later arrival raises a readable edge; the
	 * backend then clears io->drained on every readable edge and sets
	 * io->peer_closed on every edge that reports a close or an error,
	 * before running the callback (reactor_io_read()). */
	bool short_read_drains;
	ssize_t (*write)(struct reactor *r, int handle, const void *buf,
			 size_t n);
	int (*shutdown_write)(struct reactor *r, int handle);
	int (*close)(struct reactor *r, int handle);
	int (*file_open)(struct reactor *r, const char *path, int flags,
			 int mode);
	ssize_t (*file_pread)(struct reactor *r, int handle, void *buf,
			      size_t n, uint64_t offset);
	ssize_t (*file_pwrite)(struct reactor *r, int handle, const void *buf,
			       size_t n, uint64_t offset);
	int64_t (*file_size)(struct reactor *r, int handle);
	int (*file_close)(struct reactor *r, int handle);
};

struct reactor {
	const struct reactor_ops *ops;
	struct reactor_timer *timers;   /* root of the pairing heap */
	uint64_t timer_seq;             /* next reactor_timer.seq */
	unsigned active_timers;
	uint64_t timer_links;           /* reactor_timer_links() */
	unsigned active_ios;
	struct reactor_async *asyncs;   /* every started async */
	volatile sig_atomic_t stop;     /* reactor_request_stop() */
};

/* Set up the shared part.  Called by reactor_new_<backend>(). */
void reactor__init(struct reactor *r, const struct reactor_ops *ops);

/* Deadline of the earliest timer, or UINT64_MAX when none is active. */
uint64_t reactor__timer_next(const struct reactor *r);
/* Run timers whose deadline is <= now, earliest first, at most max of them
 * (max < 0: no limit).  Returns how many ran. */
int reactor__timers_run(struct reactor *r, uint64_t now, int max);
/* Run the callback of every async that was sent since its last run.
 * Returns how many ran. */
int reactor__asyncs_run(struct reactor *r);
/* Whether some async has been sent and not yet run. */
int reactor__asyncs_pending(const struct reactor *r);

#endif
