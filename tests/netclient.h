/* netclient.h: real-socket helpers for the engine tests.
 *
 * netclient_echo() is an echo client written with plain poll(2), outside any
 * engine, so a test of an engine never trusts the engine to check itself.
 * server_thread_*() runs an engine's echo server on its own epoll reactor in
 * a thread, so a test can talk to it from the test's thread;
 * fanout_thread_*() does the same for a fanout.
 *
 * Neither allocates through mem: the engine's allocation counters in a test
 * are the engine's alone.
 */
#ifndef PUSHPOLL_NETCLIENT_H
#define PUSHPOLL_NETCLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offload.h"
#include "reactor.h"
#include "workload.h"

struct netclient_result {
	unsigned conns_ok;        /* got back exactly what they sent, then EOF */
	unsigned conns_failed;    /* refused, reset, short or wrong echo, time-out */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t mismatches;      /* received bytes that differ from those sent */
};

/* The byte a connection sends at offset i: a pattern that differs between
 * connections and along the stream, so a lost, duplicated or swapped byte
 * shows. */
uint8_t netclient_pattern(unsigned conn, uint64_t i);

/* Open `conns` concurrent connections to 127.0.0.1:port.  Each sends `bytes`
 * bytes of its pattern in writes of at most `chunk`, half-closes, and reads
 * until end of stream, checking every byte.  Gives up after timeout_ms in
 * all.  Returns 0 when every connection got back exactly what it sent, -1
 * otherwise; *res says what happened. */
int netclient_echo(uint16_t port, unsigned conns, uint64_t bytes, size_t chunk,
		   int timeout_ms, struct netclient_result *res);

/* Connect one blocking socket to 127.0.0.1:port; returns the fd or -errno. */
int netclient_connect(uint16_t port);

/* ---- what an echo server keeps per connection ---------------------------- */

/* mem's counters (the whole process: in a test, the server's alone) once
 * they have stopped changing for 20 ms, waiting at most 2 s: a server
 * re-arms a connection's read just after its echo has reached the client. */
void netclient_settled_heap(int64_t *live_bytes, int64_t *live_blocks);

/* Live heap per idle connection of the echo server on port, measured as a
 * difference, not estimated: n0 connections are opened and each sends one
 * message and gets it back, the heap is taken once settled; then n1 - n0
 * more, the same; the per-connection figures are the differences divided
 * by n1 - n0.  Every connection is closed before it returns.  Returns 0,
 * or -errno if a connection failed. */
struct netclient_idle {
	double bytes;             /* live heap bytes per idle connection */
	double blocks;            /* live blocks per idle connection */
};
int netclient_idle_heap(uint16_t port, unsigned n0, unsigned n1,
			struct netclient_idle *out);

/* A slow reader: one connection sends one message and gets it back (the
 * heap is taken then, settled), then sends its pattern without reading
 * until its socket takes no more, because the server has stopped reading
 * while it waits to write back; the heap is taken again, and then
 * everything is read back and checked.  Returns 0 when every byte sent
 * came back, in order, and the connection is closed; -1 otherwise. */
struct netclient_slow {
	uint64_t sent;            /* bytes of the pattern sent */
	uint64_t received;        /* of them, echoed back correctly */
	int64_t waiting_bytes;    /* live heap while the server waits to
				   * write, minus that of the idle connection */
	int64_t waiting_blocks;   /* the same in blocks */
};
int netclient_slow_reader(uint16_t port, struct netclient_slow *out);

/* An engine's echo server on an epoll reactor in its own thread. */
struct server_thread {
	/* read-only once started */
	uint16_t port;               /* where it listens */
	struct echo_stats stats;     /* filled when the server returned */
	int rc;                      /* what the serve function returned */
	struct reactor *r;
	struct offload *o;
	/* private */
	echo_serve_fn fn;
	struct echo_opts opts;
	void (*on_listening)(void *arg, uint16_t port);  /* the caller's */
	void *arg;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool listening, returned;
};

/* Start fn with opts (port 0 is usual) and wait until it listens.  The
 * caller's opts->on_listening, if any, runs first, on the server's thread,
 * before this returns.  Returns 0, or the -errno the server failed with. */
int server_thread_start(struct server_thread *st, echo_serve_fn fn,
			const struct echo_opts *opts);
/* Ask it to stop (reactor_request_stop), wait for it, free the reactor and
 * the pool.  Returns what the serve function returned. */
int server_thread_stop(struct server_thread *st);

#define FANOUT_THREAD_MAX_SINKS 16

/* An engine's fanout on an epoll reactor in its own thread, so a test can
 * play its TCP subscribers (or wait for its file sinks) from the test's
 * thread. */
struct fanout_thread {
	/* read-only once started */
	uint16_t port;               /* TCP sinks: where it listens */
	struct fanout_opts opts;     /* what it runs with */
	struct fanout_stats stats;   /* filled when it returned; .sink = sink */
	struct fanout_sink_stats sink[FANOUT_THREAD_MAX_SINKS];
	int rc;                      /* what the fanout returned */
	struct reactor *r;
	struct offload *o;
	/* private */
	fanout_run_fn fn;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool listening, returned;
};

/* Start fn with opts (at most FANOUT_THREAD_MAX_SINKS sinks; on_listening
 * is taken over) and, for TCP sinks, wait until it listens.  Returns 0 (then
 * fanout_thread_join() it), or -errno with nothing left to join: the
 * fanout's own error if it returned before it listened. */
int fanout_thread_start(struct fanout_thread *ft, fanout_run_fn fn,
			const struct fanout_opts *opts);
/* Wait for it to return (asking it to stop first if stop), free the
 * reactor and the pool.  Returns what the fanout returned. */
int fanout_thread_join(struct fanout_thread *ft, bool stop);

#endif
