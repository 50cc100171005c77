/* engines.c: the engines pushpoll can run, and their settings. */
#include "config.h"

#include "engines.h"

#include <stdio.h>
#include <string.h>

#include "completion.h"

#include "baselines/baselines.h"
#include "poll.h"
#include "push.h"

/* A row without completion entry points leaves them out: NULL. */
const struct engine engines[] = {
	{ .name = "push",
	  .what = "callbacks: a refcounted request per operation, tokens to "
		  "cancel",
	  .echo = push_echo_serve, .fanout = push_fanout_run,
	  .echo_completion = push_echo_serve_completion,
	  .fanout_completion = push_fanout_run_completion },
	{ .name = "poll",
	  .what = "futures: one task of nested state machines, cancelled by "
		  "drop",
	  .echo = poll_echo_serve, .fanout = poll_fanout_run,
	  .echo_completion = poll_echo_serve_completion,
	  .fanout_completion = poll_fanout_run_completion },
	{ .name = "libuv", .what = "baseline: libuv as its own examples write it",
	  .echo = libuv_echo_serve, .fanout = libuv_fanout_run },
	{ .name = "libevent", .what = "baseline: libevent bufferevents",
	  .echo = libevent_echo_serve, .fanout = libevent_fanout_run },
	{ .name = "epoll",
	  .what = "baseline: a hand-written epoll state machine, the floor",
	  .echo = epoll_echo_serve, .fanout = epoll_fanout_run },
#ifdef HAVE_LIBURING
	{ .name = "uring",
	  .what = "baseline: a hand-written io_uring loop, the completion "
		  "floor",
	  .echo = uring_echo_serve, .fanout = uring_fanout_run },
#endif
	{ .name = NULL },
};

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
