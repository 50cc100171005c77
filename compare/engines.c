/* engines.c: the engines pushpoll can run, and their settings. */
#include "config.h"

#include "engines.h"

#include <stdio.h>
#include <string.h>

#include "completion.h"

#include "baselines/baselines.h"
#include "poll.h"
#include "push.h"

/* A row without completion entry points leaves them out: zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct engine engines[] = {
	{ "push", "callbacks: a refcounted request per operation, tokens to cancel",
	  push_echo_serve, push_fanout_run, false },
	{ "poll", "futures: one task of nested state machines, cancelled by drop",
	  poll_echo_serve, poll_fanout_run, false,
	  poll_echo_serve_completion, poll_fanout_run_completion },
	{ "libuv", "baseline: libuv as its own examples write it",
	  libuv_echo_serve, libuv_fanout_run, false },
	{ "libevent", "baseline: libevent bufferevents",
	  libevent_echo_serve, libevent_fanout_run, false },
	{ "epoll", "baseline: a hand-written epoll state machine, the floor",
	  epoll_echo_serve, epoll_fanout_run, false },
#ifdef HAVE_LIBURING
	{ "uring", "baseline: a hand-written io_uring loop, the completion floor",
	  uring_echo_serve, uring_fanout_run, false },
#endif
	{ NULL, NULL, NULL, NULL, false },
};
#pragma GCC diagnostic pop

const struct engine *engine_find(const char *name)
{
	for (const struct engine *e = engines; e->name != NULL; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

const char *engine_names(void)
{
	static char names[128];

	if (names[0] == '\0') {
		for (const struct engine *e = engines; e->name != NULL; e++) {
			if (names[0] != '\0')
				strcat(names, ", ");
			strcat(names, e->name);
		}
		if (names[0] == '\0')
			strcpy(names, "(none built)");
	}
	return names;
}

bool engine_has_ready_mode(const struct engine *e, char *why, size_t len)
{
	if (e->conn_buffers_only) {
		snprintf(why, len, "%s keeps a receive, and its buffer, in "
			 "flight on every connection: only --buffers conn",
			 e->name);
		return false;
	}
#ifdef HAVE_LIBURING
	if (strcmp(e->name, "uring") == 0) {
		char reason[COMPLETION_REASON_MAX];
		struct completion *q;
		bool yes;

		if (completion_new_uring(8, &q, reason, sizeof reason) != 0) {
			snprintf(why, len, "%s: %s", e->name, reason);
			return false;
		}
		yes = completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV);
		completion_free(q);
		if (!yes) {
			snprintf(why, len, "%s needs multishot recv into a "
				 "provided buffer ring (Linux 6.0), which this "
				 "kernel's io_uring lacks: only --buffers conn",
				 e->name);
			return false;
		}
	}
#endif
	return true;
}

void engines_configure(const struct engine_settings *s)
{
	struct push_config pp = push_config_get();
	struct poll_config pc = poll_config_get();

	pp.pooled = s->pooled;
	pp.fast_path = s->fast_path;
	push_config_set(&pp);
	if (s->budget_set)
		pc.budget = s->budget;
	pc.static_tasks = s->static_tasks;
	poll_config_set(&pc);
}
