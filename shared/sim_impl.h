/* sim_impl.h: the simulated world behind reactor_sim.c.  Not for engines:
 * they see reactor.h and sim.h only.
 *
 * One struct sim holds everything: the event core (sim_core.h), a table of
 * handles (stream ends, listeners, open files), the scripted peers and the
 * in-memory files.  No thread is ever started and nothing ever blocks: the
 * world moves only when reactor_poll() delivers a step, and between two
 * steps it changes only through calls the engine makes.  Its parts, a file
 * each:
 *
 *   sim_core.c     clock, agenda, random source, trace hash, step hook
 *   sim_net.c      the handle table, stream ends and their queues,
 *                  listeners, edges
 *   sim_file.c     in-memory files
 *   sim_peer.c     scripted peers
 *   reactor_sim.c  the reactor's operations, each on the part it concerns,
 *                  and the step that sim_poll() takes
 *
 * The network and the peers call each other, and that circle is the model's:
 * a peer's end is a stream end like the engine's, so the network tells the
 * peer that owns an end when the end becomes ready (sim__peer_kick()), and
 * a peer acts through the network's stream calls.
 *
 * Determinism, beyond the core's: nothing iterates over anything ordered by
 * address.  The handle table is indexed by handle, peers and files are lists
 * in creation order, and accept queues are FIFO.
 */
#ifndef PUSHPOLL_SIM_IMPL_H
#define PUSHPOLL_SIM_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "reactor_impl.h"
#include "sim.h"
#include "sim_core.h"

enum {
	SIM_LISTEN_PORT_BASE = 40000,    /* listen(port 0): lowest free from */
	SIM_EPHEMERAL_PORT_BASE = 50000, /* connecting ends get 50000... */
	SIM_PORT_MAX = 65535,
};

/* What an event on the agenda is (struct sim_event.kind). */
enum sim_event_kind {
	SIM_EV_EDGE,    /* an edge for an engine watcher; target: struct sim_obj */
	SIM_EV_CONNECT, /* an engine's connect completes; target: struct sim_end */
	SIM_EV_PEER,    /* a scripted peer acts; target: struct sim_peer */
	SIM_EV_CALL,    /* a sim_call runs; target: struct sim_call */
};

/* A ring buffer of at most cap bytes: one direction of a stream.  Its
 * storage (size bytes) grows as data comes, so an idle stream costs
 * nothing. */
struct sim_queue {
	unsigned char *buf;
	size_t size, cap, head, len;
};

enum sim_kind { SIM_END, SIM_LISTENER, SIM_FILE };

/* What every handle is.  Stream ends and listeners may have one engine
 * watcher; its pending edge, if any, is `edge`, with the bits collected
 * since it was scheduled in edge_bits. */
struct sim_obj {
	enum sim_kind kind;
	int handle;               /* index in the table, or -1 when not in it */
	struct reactor_io *io;    /* the engine's watcher, or NULL */
	unsigned edge_bits;
	struct sim_sched edge;
};

/* One end of a stream.  Its states, and who owns it in each:
 *
 *   connecting   an engine's reactor_connect() before its connect step:
 *                in the table, connected false, peer is the server end,
 *                which it alone owns until then.
 *   pending      the server end of a connection, queued on a listener,
 *                not yet accepted: owned by the listener, handle -1.
 *   open         in the table (the engine's), or owned by a scripted peer
 *                (owner set, handle -1).
 *
 * `in` holds the bytes written by the peer end and not yet read.  When the
 * peer end shuts down writing or closes, in_eof is set: end of stream after
 * the data.  When it closes, peer becomes NULL and writes fail with -EPIPE.
 * A reset sets error (-ECONNRESET), empties `in` and clears peer; a refused
 * connect sets error to -ECONNREFUSED.  Every read and write then returns
 * error (a write after one's own shutdown says -EPIPE first). */
struct sim_end {
	struct sim_obj obj;
	struct sim_end *peer;
	struct sim_peer *owner;   /* the scripted peer that owns it, or NULL */
	struct sim_queue in;
	bool in_eof;
	bool shut_wr;             /* this end shut down writing */
	bool connected;           /* false only while connecting */
	int connect_result;       /* 0 or -ECONNREFUSED, once connected */
	int error;
	uint16_t port;            /* local port; 0 for sim_stream_pair() ends */
	uint16_t remote_port;     /* where a connecting end connects to */
	struct sim_sched connect; /* the connect step, while connecting */
	struct sim_end *next;     /* the accept queue, while pending */
};

struct sim_listener {
	struct sim_obj obj;
	uint16_t port;
	struct sim_end *first, *last;  /* pending connections, oldest first */
};

struct sim {
	struct reactor base;      /* first: a reactor * is a sim * */
	struct sim_core core;

	struct sim_obj **table;   /* handle -> object, NULL when free */
	unsigned table_len, open_handles;
	/* Free handles: every one at or above table_used, and those below it
	 * in free_heap, a binary min-heap, so the lowest free handle is found
	 * in O(log n), not by a look at every handle open. */
	unsigned table_used;
	unsigned *free_heap, nfree, free_cap;
	uint64_t table_probes;    /* sim_handle_probes() */
	uint16_t next_ephemeral_port;

	struct sim_peer *peers, *last_peer;
	unsigned npeers;
	struct sim_file *files, *last_file;
};

/* The world behind a simulated reactor (asserts that it is one). */
struct sim *sim__of(struct reactor *r);

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- sim_net.c: the handle table ------------------------------------------ */

/* The object of handle h, or NULL. */
struct sim_obj *sim__table_get(const struct sim *s, int h);
/* The lowest free handle, or -EMFILE.  O(open handles). */
int sim__table_alloc(struct sim *s);
/* Put o in the table under h, from sim__table_alloc(). */
void sim__table_set(struct sim *s, int h, struct sim_obj *o);
/* Take o out of the table. */
void sim__table_clear(struct sim *s, struct sim_obj *o);
/* The stream end of handle h, or NULL (no handle, or not a stream). */
struct sim_end *sim__table_end(const struct sim *s, int h);
/* The listener on port, or NULL.  O(table). */
struct sim_listener *sim__find_listener(const struct sim *s, uint16_t port);
/* Take o out of the table and close it, whatever it is. */
void sim__handle_close(struct sim *s, struct sim_obj *o);
/* Free every object in the table (reactor_free()). */
void sim__table_free(struct sim *s);

/* ---- sim_net.c: edges ----------------------------------------------------- */

/* o became ready in the directions of bits: give its watcher an edge. */
void sim__obj_edge(struct sim *s, struct sim_obj *o, unsigned bits);
/* Tell whoever uses end e (its watcher, or its peer) that it became ready. */
void sim__end_notify(struct sim *s, struct sim_end *e, unsigned bits);
/* The bits an end is ready for now, as epoll reports on EPOLL_CTL_ADD. */
unsigned sim__end_level(const struct sim_end *e);

/* ---- sim_net.c: stream ends ----------------------------------------------- */

/* Two connected ends, not yet anywhere. */
void sim__end_pair(struct sim *s, struct sim_end **a, struct sim_end **b);
/* Room in the queue e writes to (0 once the peer end is gone). */
size_t sim__end_room(const struct sim_end *e);
/* Move k bytes (k <= room) from `from` into its peer's queue. */
void sim__pipe_send(struct sim *s, struct sim_end *from, const void *buf,
		    size_t k);
/* Take k bytes (k <= queued) out of e's queue. */
void sim__pipe_recv(struct sim *s, struct sim_end *e, void *buf, size_t k);
/* Free an end that nothing refers to any more. */
void sim__end_free(struct sim *s, struct sim_end *e);
/* Close e (its peer reads end of stream after what is queued); frees e. */
void sim__end_close(struct sim *s, struct sim_end *e);
/* Reset e's connection from e's side; frees e. */
void sim__end_reset(struct sim *s, struct sim_end *e);
/* The stream calls of reactor.h on an end in the table, same contracts. */
ssize_t sim__end_read(struct sim *s, struct sim_end *e, void *buf, size_t n);
ssize_t sim__end_write(struct sim *s, struct sim_end *e, const void *buf,
		       size_t n);
int sim__end_shutdown_write(struct sim *s, struct sim_end *e);

/* ---- sim_net.c: listeners and connections --------------------------------- */

/* A listener on port (0: the lowest free one); its handle or -errno. */
int sim__listener_open(struct sim *s, uint16_t port);
/* Queue the server end of a new connection on l. */
void sim__listener_enqueue(struct sim_listener *l, struct sim_end *e);
/* Accept the oldest connection queued on l: its handle or -errno. */
int sim__listener_accept(struct sim *s, struct sim_listener *l);
/* The next local port of a connecting end. */
uint16_t sim__ephemeral_port(struct sim *s);
/* An engine's connecting end to port: its handle or -errno.  The connect
 * step (SIM_EV_CONNECT) is scheduled; sim__connect_complete() takes it. */
int sim__end_connect(struct sim *s, uint16_t port);
void sim__connect_complete(struct sim *s, struct sim_end *e);

/* ---- sim_file.c: in-memory files ------------------------------------------ */

int sim__file_open(struct sim *s, const char *path, int flags);
/* The file calls of reactor.h on a handle, same contracts. */
ssize_t sim__file_pread(struct sim *s, int handle, void *buf, size_t n,
			uint64_t offset);
ssize_t sim__file_pwrite(struct sim *s, int handle, const void *buf,
			 size_t n, uint64_t offset);
int64_t sim__file_size(struct sim *s, int handle);
/* Free every file (reactor_free()). */
void sim__files_free(struct sim *s);

/* ---- sim_peer.c: scripted peers ------------------------------------------- */

/* Put p's next action on the agenda if it has something to do. */
void sim__peer_kick(struct sim *s, struct sim_peer *p);
/* Take p's action step (SIM_EV_PEER). */
void sim__peer_act(struct sim *s, struct sim_peer *p);
/* Free every peer and the end it owns (reactor_free()). */
void sim__peers_free(struct sim *s);

#endif
