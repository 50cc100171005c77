/* engines.h: the table of engines the pushpoll command can run.
 *
 * Each entry implements the two workloads of shared/workload.h with the same
 * options and statistics, so `--engine` is interchangeable everywhere.
 */
#ifndef PUSHPOLL_ENGINES_H
#define PUSHPOLL_ENGINES_H

#include <stdbool.h>

#include "workload.h"

struct engine {
	const char *name;
	const char *what;        /* one line for `pushpoll help` */
	echo_serve_fn echo;      /* NULL: not available */
	fanout_run_fn fanout;    /* NULL: not available */
	bool conn_buffers_only;  /* echo keeps a receive, and its buffer, in
				  * flight on every connection (completion
				  * I/O): no --buffers ready */
	echo_serve_fn echo_completion;   /* over shared/completion.h (io_uring, or
					  * sim under a simulated reactor); NULL:
					  * no `--backend uring` */
	fanout_run_fn fanout_completion;
};

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
/* Hand the engine-specific settings to the engines. */
void engines_configure(const struct engine_settings *s);

#endif
