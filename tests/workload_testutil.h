/* workload_testutil.h: the worlds of the workload suite of both engines
 * (tests/test_workloads.c).
 *
 * Worlds to run an engine's echo or fanout in, over epoll or the
 * simulation, and the checks made on what they leave behind.  Nothing here
 * names an engine: a suite passes its engine's functions itself.  Every
 * helper reports a failure with ck_assert, so it may be called only from
 * inside a Check test (the failure ends that test).
 */
#ifndef PUSHPOLL_WORKLOAD_TESTUTIL_H
#define PUSHPOLL_WORKLOAD_TESTUTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offload.h"
#include "reactor.h"
#include "sim.h"
#include "workload.h"

/* ---- accounting ------------------------------------------------------------ */

/* mem's live block count now; a test compares it before and after. */
int64_t live_blocks(void);

/* mem's count of allocations so far (the figures take differences). */
uint64_t allocs(void);

/* Asserts that every accepted connection ended exactly one way. */
void check_echo_accounts(const struct echo_stats *st);

/* ---- real sockets and files ------------------------------------------------- */

/* Reads fd until end of stream or an error, for at most about 10 s; true
 * if the end came. */
bool wait_for_close(int fd);

/* True when nothing (no data, no end of stream) arrives on fd for ms
 * milliseconds. */
bool stays_quiet(int fd, int ms);

/* One exchange on a blocking socket: sends text (under 256 bytes), reads
 * it all back and asserts it is the same. */
void ping(int fd, const char *text);

/* Writes len bytes of netclient_pattern(seed, .) to a new file at path. */
void make_pattern_file(const char *path, size_t len, unsigned seed);

/* True when both files can be opened and hold the same bytes. */
bool files_equal(const char *a, const char *b);

/* ---- echo over the simulation ------------------------------------------------ */

#define SIM_PEERS 8

/* A simulated reactor and the scripted peers that will talk to an echo
 * server on it.  The world owns r and the scripts; the peers belong to r. */
struct sim_world {
	struct reactor *r;
	struct sim_peer *peer[SIM_PEERS];
	unsigned char *script[SIM_PEERS];
	size_t len[SIM_PEERS];
	unsigned flags[SIM_PEERS];
	unsigned npeers;
	uint64_t fail_nth;        /* arm mem_fail_nth once listening */
};

/* on_listening for echo_opts (arg: the struct sim_world): connects every
 * peer, then arms mem_fail_nth(fail_nth) if fail_nth is set. */
void sim_connect_peers(void *arg, uint16_t port);

/* Makes a world on a new simulated reactor with npeers (at most
 * SIM_PEERS) peers; peer i sends len + i * 1000 pattern bytes, with flags.
 * Undo with sim_world_free(). */
void sim_world_init(struct sim_world *w, const struct sim_config *c,
		    unsigned npeers, size_t len, unsigned flags);

/* Frees the reactor (and so its peers) and the scripts. */
void sim_world_free(struct sim_world *w);

/* Once the server has returned: runs the world on (bounded), asserts each
 * peer finished and got back a prefix of what it sent; returns how many
 * got all of it on a clean connection. */
unsigned check_sim_peers(struct sim_world *w);

/* A sim_at_step() callback: reactor_request_stop(arg). */
void request_stop(void *arg);

/* ---- fanout ------------------------------------------------------------------ */

#define MAX_SINKS 8

/* A fanout's reactor, pool, options, results and input, over epoll (dir
 * and path name a temporary directory and the input in it) or the
 * simulation (dir is empty).  The world owns everything in it. */
struct fanout_world {
	struct reactor *r;
	struct offload *o;
	struct fanout_opts opts;
	struct fanout_stats st;
	struct fanout_sink_stats sink[MAX_SINKS];
	unsigned char *input;
	size_t len;
	char dir[64];             /* epoll: the temporary directory */
	char path[96];            /* the input's path */
	struct sim_peer *peer[MAX_SINKS];   /* sim TCP subscribers */
	unsigned peer_flags[MAX_SINKS];
};

/* Sets w's input to len bytes of pattern 99 (malloc'ed, the world's). */
void fanout_input(struct fanout_world *w, size_t len);

/* Makes a world on a new epoll reactor and a 2-thread pool, with the input
 * written to a new directory made by mkdtemp(dir_template) (at most 63
 * bytes).  Undo with fanout_world_free(). */
void fanout_world_epoll_at(struct fanout_world *w, const char *dir_template,
			   size_t len, unsigned sinks);

/* Makes a world on a new simulated reactor and a 1-thread pool; the input
 * is the in-memory file /input, the outputs go to /out. */
void fanout_world_sim(struct fanout_world *w, const struct sim_config *c,
		      size_t len, unsigned sinks);

/* Asserts the pool has no job left, frees everything, and removes the
 * epoll world's files and directory. */
void fanout_world_free(struct fanout_world *w);

/* Sink i's output file in *len bytes: malloc'ed (epoll; the caller frees
 * it) or the simulation's own (sim; valid while the reactor lives). */
unsigned char *sink_output(struct fanout_world *w, unsigned i, size_t *len);

/* Asserts sink i is complete and exact if its error is 0, else a prefix of
 * the input as long as its byte count. */
void check_file_sink(struct fanout_world *w, unsigned i);

/* Real TCP subscribers: threads that connect when the fanout listens and
 * read until end of stream. */
struct subscriber {
	pthread_t tid;
	uint16_t port;
	size_t chunk_size;       /* the fanout's, for the checksum */
	uint64_t bytes, checksum;
};

/* A subscriber thread's body (arg: its struct subscriber). */
void *subscriber_main(void *arg);

/* One per sink; a test clears it before a run and joins the threads after. */
extern struct subscriber subs[MAX_SINKS];

/* on_listening for fanout_opts (arg: the struct fanout_world): starts one
 * subs[] thread per sink. */
void start_subscribers(void *arg, uint16_t port);

/* on_listening for fanout_opts in the simulation (arg: the world):
 * connects one sim peer per sink, with peer_flags[i]. */
void connect_sim_subscribers(void *arg, uint16_t port);

/* Runs r on until every peer has seen its connection end (bounded). */
void sim_run_out(struct reactor *r);

/* Asserts each sim subscriber got a prefix of the input (all of it unless
 * it reset or never read) and each clean sink the whole input; returns how
 * many sinks ended cleanly. */
unsigned check_tcp_sinks(struct fanout_world *w);

#endif
