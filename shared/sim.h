/* sim.h: the simulated reactor backend.
 *
 * A deterministic world for tests and the cancellation harness: a virtual
 * clock, in-memory streams, listeners and files, scripted peers, and a
 * seeded scheduler that decides everything a real network decides: in which
 * order pending events are delivered, how many bytes each read and write
 * moves, delays, spurious EAGAIN, resets and early end of stream.
 *
 * Steps.  Everything that happens is an event on the scheduler's agenda: an
 * io edge, a timer expiry, a peer's action, an offload job starting or
 * finishing, an async.  Each reactor_poll() delivers at most one event; that
 * delivery is one numbered step (the first is step 1).  The scheduler picks
 * the next event among those due at the earliest virtual time, with a
 * pseudo-random generator seeded from sim_config.seed and nothing else, so
 * the same seed and the same engine code give the same trace, step for step
 * and byte for byte; sim_trace_hash() fingerprints it.
 *
 * Stopping at step k.  sim_at_step() runs a hook on the loop thread just
 * before step k is delivered; the cancellation harness cancels there, replays
 * the same seed for every k, and checks the invariants each time.
 *
 * Rules worth knowing when an engine runs on it:
 *  - The step hook runs before the clock moves: it sees the world exactly as
 *    step k-1 left it.  If it requests a stop, that poll returns 0 and step
 *    k is not delivered.
 *  - A stop request or an async send makes the next poll act as timeout 0.
 *  - Edges are reported only on change (and by io_start for a handle that
 *    is already ready): stricter than epoll, so an engine that waits without
 *    having seen -EAGAIN ends in -EDEADLK instead of hiding the bug.
 *  - Closing never resets: the other end reads what was queued, then end of
 *    stream, and its writes get -EPIPE.  Resets come from peers only.
 *  - Until its connect step, a connecting end says -EAGAIN to reads and
 *    writes and -EINPROGRESS from reactor_connect_result().
 *  - reset and early_eof are one chance per peer, at a seeded point.
 *
 * Memory.  The simulation is the test world, not an engine: it allocates with
 * plain malloc, so it neither shows in the mem counters nor fails when
 * allocation failures are injected.
 */
#ifndef PUSHPOLL_SIM_H
#define PUSHPOLL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "reactor.h"

/* Fault rates are per mille (0..1000) chances at each opportunity. */
struct sim_config {
	uint64_t seed;
	unsigned short_io;    /* a read or write moves fewer bytes than it could */
	unsigned eagain;      /* a read or write that could proceed says -EAGAIN
			       * (an edge is then scheduled, so no wake-up is lost) */
	unsigned delay;       /* an event is delivered later than due */
	unsigned reset;       /* a peer resets its connection at one of its actions */
	unsigned early_eof;   /* a peer half-closes before it has sent everything */
	unsigned batch;       /* after a step, the same poll delivers the next
			       * event too, if it is due within max_delay_ns:
			       * several steps in one poll, as epoll_wait hands
			       * over the events of a busy moment together (an
			       * edge and an expired timer, say).  0: one step
			       * per poll, and no draw, so traces stay as they
			       * were */
	uint64_t max_delay_ns;      /* upper bound of an injected delay */
	size_t stream_capacity;     /* bytes buffered per stream direction */
	unsigned max_handles;       /* handles open at once; past it -EMFILE */
};

/* The fault-free configuration for a seed: no faults, 64 KiB streams, 1 ms
 * maximum delay, 4096 handles.  Order is still chosen by the seed. */
void sim_config_default(struct sim_config *c, uint64_t seed);
/* The same with every fault at a moderate rate, for fault schedules. */
void sim_config_faulty(struct sim_config *c, uint64_t seed);

/* A simulated reactor.  Returns NULL on failure. */
struct reactor *reactor_new_sim(const struct sim_config *c);

/* Steps delivered so far. */
uint64_t sim_steps(const struct reactor *r);
/* A 64-bit fingerprint of every step delivered so far (FNV-1a over each
 * step's description). */
uint64_t sim_trace_hash(const struct reactor *r);
/* Also write one line per step to f (NULL: stop). */
void sim_trace_to(struct reactor *r, FILE *f);

/* Run hook(arg) on the loop thread, inside reactor_poll(), just before step
 * k is delivered (k >= 1).  One hook at a time; k == 0 clears it.  The hook
 * may cancel, stop or request a stop; it is itself not a step. */
void sim_at_step(struct reactor *r, uint64_t k, void (*hook)(void *arg),
		 void *arg);

/* Handle-table slots looked at so far to find free handles: the cost of
 * opening a handle, counted so that a test can say it does not grow with
 * the handles already open.  A handle is always the lowest one free, as a
 * file descriptor is. */
uint64_t sim_handle_probes(const struct reactor *r);

/* ---- in-memory streams and files ----------------------------------------- */

/* Two connected stream handles, both owned by the caller, as with
 * socketpair(2). Returns 0 or -errno. */
int sim_stream_pair(struct reactor *r, int handles[2]);

/* Create (or replace) an in-memory file with the given contents; the data is
 * copied.  reactor_file_open() finds it by path.  Returns 0 or -errno. */
int sim_file_create(struct reactor *r, const char *path, const void *data,
		    size_t len);
/* The current contents of a file, or NULL if there is none. */
const void *sim_file_contents(struct reactor *r, const char *path,
			      size_t *len);

/* ---- scripted peers -------------------------------------------------------- */
/* A peer is a client that lives inside the simulation: it connects to a
 * listener on the simulated port, writes its script in scheduler-chosen
 * pieces, reads everything the engine sends, and records it.  Its actions are
 * steps like any other event.  Peers are freed by reactor_free(). */

enum {
	SIM_PEER_HALF_CLOSE   = 1 << 0, /* shut down writing after the script */
	SIM_PEER_NO_READ      = 1 << 1, /* never read: the engine's writes back up */
	SIM_PEER_RESET_AT_END = 1 << 2, /* reset instead of closing after the script */
};

struct sim_peer;

/* A peer that connects to port and sends len bytes of data (copied).  With
 * SIM_PEER_HALF_CLOSE it then half-closes and reads until end of stream.
 * Returns NULL on failure. */
struct sim_peer *sim_peer_connect(struct reactor *r, uint16_t port,
				  const void *data, size_t len,
				  unsigned flags);
/* What the peer has received so far. */
const void *sim_peer_received(const struct sim_peer *p, size_t *len);
/* How many bytes of its script the engine's side has accepted. */
size_t sim_peer_sent(const struct sim_peer *p);
/* true once the peer saw end of stream or an error, or was refused. */
bool sim_peer_finished(const struct sim_peer *p);
/* 0, or the -errno the peer's connection ended with (-ECONNREFUSED,
 * -ECONNRESET). */
int sim_peer_error(const struct sim_peer *p);

/* ---- scheduled calls (for the substrate's own modules) -------------------- */
/* offload uses these to run jobs at scheduled steps.  A call is embedded in
 * its owner; it is delivered as one step, after a seeded delay. */

struct sim_call {
	void (*fn)(struct sim_call *c);
	const char *what;          /* printed in the trace */
	/* private */
	bool scheduled;
	uint64_t due;
	uint64_t seq;
};

/* Schedule c to run fn as one future step.  Loop thread only. */
void sim_call_schedule(struct reactor *r, struct sim_call *c,
		       void (*fn)(struct sim_call *c), const char *what);
/* Unschedule; after it returns fn does not run.  No-op if not scheduled. */
void sim_call_cancel(struct reactor *r, struct sim_call *c);

#endif
