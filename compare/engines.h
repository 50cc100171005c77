/* engines.h: the table of engines the pushpoll command can run.
 *
 * Each entry implements the two workloads of shared/workload.h with the same
 * options and statistics, so `--engine` is interchangeable everywhere.
 */
#ifndef PUSHPOLL_ENGINES_H
#define PUSHPOLL_ENGINES_H

#include <stdbool.h>
#include <stddef.h>

#include "workload.h"

struct engine {
	const char *name;
	const char *what;        /* one line for `pushpoll help` */
	echo_serve_fn echo;      /* NULL: not available */
	fanout_run_fn fanout;    /* NULL: not available */
	bool conn_buffers_only;  /* echo keeps a receive, and its buffer, in
				  * flight on every connection: no
				  * --buffers ready (see below) */
	echo_serve_fn echo_completion;   /* over shared/completion.h (io_uring, or
					  * sim under a simulated reactor); NULL:
					  * no `--backend uring` */
	fanout_run_fn fanout_completion;
};

/* Buffers on readiness over completion I/O.  A readiness engine takes a
 * buffer when a connection is readable, so every one has a ready mode.  An
 * engine over completion I/O hands the kernel a receive in advance, and a
 * plain receive takes its buffer with it: an idle connection commits one.
 * It gets a ready mode from a provided buffer ring instead: one ring of
 * buffers per loop, and a receive that names the ring and no buffer, so
 * the kernel picks a buffer only when bytes arrive.  The io_uring floor
 * keeps a multishot receive on each connection
 * (compare/baselines/baseline_uring.c, completion_recv_multishot()); push
 * and poll over completions receive once at a time, an await or a callback
 * per message (completion_recv_select(); push.h K4, poll.h C7).  That
 * needs the kernel's provided buffer rings (Linux 6.0), so it is known
 * only at run time: engine_has_ready_mode() for the floor, -EOPNOTSUPP
 * from the engines' completion entry points.
 * conn_buffers_only marks an engine that cannot have one at all. */


/* Engine-specific settings from the command line, applied by
 * engines_configure() before a workload starts. */
struct engine_settings {
	bool pooled;            /* push: per-loop free lists of requests */
	bool fast_path;         /* push: complete at once without allocating */
	unsigned budget;        /* poll: polls in a row before a forced yield */
	bool budget_set;
	unsigned static_tasks;  /* poll: preallocated connection task slots */
};

/* The engines, ending with a zeroed entry. */
extern const struct engine engines[];

/* The engine called name, or NULL. */
const struct engine *engine_find(const char *name);
/* "push, poll, ..." for messages. */
const char *engine_names(void);
/* Whether e's echo can run with --buffers ready here: false, with one
 * line in why (no newline) saying why not, for an engine marked
 * conn_buffers_only, or for the io_uring floor where the kernel has no
 * multishot receive into a provided buffer ring. */
bool engine_has_ready_mode(const struct engine *e, char *why, size_t len);
/* Hand the engine-specific settings to the engines. */
void engines_configure(const struct engine_settings *s);

#endif
