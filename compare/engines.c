/* engines.c: the engines pushpoll can run, and their settings. */
#include "config.h"

#include "engines.h"

#include <string.h>

#include "baselines/baselines.h"
#include "poll.h"
#include "push.h"

/* A row leaves out the fields after the last one it sets: zero, "not
 * available" (the completion entry points of engines without one). */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

const struct engine engines[] = {
	{ "push", "callbacks: a refcounted request per operation, tokens to cancel",
	  push_echo_serve, push_fanout_run, false },
	{ "poll", "futures: one task of nested state machines, cancelled by drop",
	  poll_echo_serve, poll_fanout_run, false },
	{ "libuv", "baseline: libuv as its own examples write it",
	  libuv_echo_serve, libuv_fanout_run, false },
	{ "libevent", "baseline: libevent bufferevents",
	  libevent_echo_serve, libevent_fanout_run, false },
	{ "epoll", "baseline: a hand-written epoll state machine, the floor",
	  epoll_echo_serve, epoll_fanout_run, false },
#ifdef HAVE_LIBURING
	{ "uring", "baseline: a hand-written io_uring loop, the completion floor",
	  uring_echo_serve, uring_fanout_run, true },
#endif
	{ NULL, NULL, NULL, NULL, false },
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
