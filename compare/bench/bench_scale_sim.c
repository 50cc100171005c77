/* bench_scale_sim.c: `pushpoll bench scale --backend sim`: the scale sweep
 * on the simulated reactor, to a million connections, counted, not timed.
 *
 * Loopback stops at the descriptor limit; the simulator has none but the
 * one it is given.  For push and poll, and each C of the sweep, this runs
 * the engine's echo server in this process on reactor_new_sim() with the
 * idle timeout armed, and drives it with scripted peers (sim.h) from a step
 * hook:
 *
 *   establish  C - active idle peers, at most SIM_WINDOW connecting at a
 *              time (the agenda stays small, so the simulator's own cost
 *              does not grow with C), each sending one byte and staying
 *              open once its echo came back;
 *   active     then `active` peers, each sending sim_msgs messages and
 *              half-closing; the engine echoes them with C - active idle
 *              connections open;
 *   shutdown   then a stop request: the engine cancels every idle
 *              connection and returns.
 *
 * Every figure is a count, exact and the same at every run of the same
 * build: the engine's heap (mem counters; the simulator allocates with
 * plain malloc and is not in them) per idle connection, allocations, and
 * the timer heap's links (reactor_timer_links()) and simulation steps
 * (events delivered) per connection established, per message echoed, and
 * per connection cancelled.  With --callgrind, also the user-space
 * instructions per event of the active phase (engine, reactor and
 * simulator together), each run again in a child under valgrind's
 * callgrind with instrumentation on for that phase alone.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mem.h"
#include "poll.h"
#include "push.h"
#include "sim.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define SCALE_HAVE_CALLGRIND 1
#endif
#endif

#define SIM_WINDOW 64     /* idle peers connecting at once */

/* The engines the sweep runs, in row order.  An engine's completion entry
 * point runs here as it is: beside a simulated reactor it gets the
 * simulation's completion mode (completion_new_beside()), its buffers
 * counted by mem as the readiness engines' are, its ring (if it provides
 * one) allocated before it listens and so not in B/idle.  So push and
 * poll over completion I/O are one line each.  On readiness both receive
 * from the loop's provided buffer ring (push.h, K4; poll.h, C7), one
 * receive at a time, beside the floor's multishot.
 * They run only when --engines names them (named_only): the simulated
 * kernel checks every buffer it owns at every step, which is what makes it
 * strict and what makes a step cost O(C), so the default sweep, to 10,000
 * and beyond, would take many minutes.  The io_uring floor is plain liburing, with no simulated mode: it has no
 * row here. */
static const struct sim_engine {
	const char *name;
	echo_serve_fn echo;
	bool conn_only;
	bool named_only;
} sim_engines[] = {
	{ "push", push_echo_serve, false, false },
	{ "poll", poll_echo_serve, false, false },
	{ "push/uring", push_echo_serve_completion, false, true },
	{ "poll/uring", poll_echo_serve_completion, false, true },
};
#define NSIM_ENGINES (int)(sizeof(sim_engines) / sizeof(sim_engines[0]))

bool bench__is_sim_engine(const char *name)
{
	for (int e = 0; e < NSIM_ENGINES; e++)
		if (strcmp(sim_engines[e].name, name) == 0)
			return true;
	return false;
}

enum sim_phase { PH_ESTABLISH, PH_ACTIVE, PH_SHUTDOWN };

/* Counters at one moment. */
struct sim_snap {
	struct mem_stats mem;
	uint64_t steps, links;
};

struct sim_run {
	struct reactor *r;
	const struct bench_scale_opts *o;
	unsigned idle, active;
	uint16_t port;
	enum sim_phase phase;
	struct sim_peer *window[SIM_WINDOW];  /* connecting, oldest first */
	unsigned head, inflight, launched, established;
	struct sim_peer **act;
	unsigned act_done;
	unsigned char *script;
	size_t script_len;
	struct sim_snap at_listen, at_established, at_active_end;
	int error;
};

static void snap(const struct sim_run *s, struct sim_snap *out)
{
	mem_stats_get(&out->mem);
	out->steps = sim_steps(s->r);
	out->links = reactor_timer_links(s->r);
}

static void sim_hook(void *arg);

static void rearm(struct sim_run *s)
{
	/* The hook runs before step steps + 1; the next one before the step
	 * after that. */
	sim_at_step(s->r, sim_steps(s->r) + 2, sim_hook, s);
}

/* Under callgrind (the child of --callgrind), count the active phase
 * alone. */
static void instrument(const struct sim_run *s, bool on)
{
#ifdef SCALE_HAVE_CALLGRIND
	if (s->o->callgrind_child) {
		if (on)
			CALLGRIND_START_INSTRUMENTATION;
		else
			CALLGRIND_STOP_INSTRUMENTATION;
	}
#else
	(void)s;
	(void)on;
#endif
}

static void start_active(struct sim_run *s)
{
	snap(s, &s->at_established);
	instrument(s, true);
	s->phase = PH_ACTIVE;
	for (unsigned i = 0; i < s->active; i++) {
		s->act[i] = sim_peer_connect(s->r, s->port, s->script,
					     s->script_len,
					     SIM_PEER_HALF_CLOSE);
		if (s->act[i] == NULL)
			s->error = -ENOMEM;
	}
}

static void sim_hook(void *arg)
{
	struct sim_run *s = arg;

	if (s->error != 0) {
		reactor_request_stop(s->r);
		return;
	}
	if (s->phase == PH_ESTABLISH) {
		/* Retire the peers whose byte came back, oldest first. */
		while (s->inflight > 0) {
			size_t len;
			struct sim_peer *p = s->window[s->head];
			sim_peer_received(p, &len);
			if (len == 0 && !sim_peer_finished(p))
				break;
			if (len != 1 || sim_peer_finished(p)) {
				s->error = -EIO;     /* refused, or closed */
				reactor_request_stop(s->r);
				return;
			}
			s->head = (s->head + 1) % SIM_WINDOW;
			s->inflight--;
			s->established++;
		}
		while (s->launched < s->idle && s->inflight < SIM_WINDOW) {
			struct sim_peer *p = sim_peer_connect(s->r, s->port,
							      "x", 1, 0);
			if (p == NULL) {
				s->error = -ENOMEM;
				reactor_request_stop(s->r);
				return;
			}
			s->window[(s->head + s->inflight) % SIM_WINDOW] = p;
			s->inflight++;
			s->launched++;
		}
		if (s->established == s->idle)
			start_active(s);
	} else if (s->phase == PH_ACTIVE) {
		while (s->act_done < s->active &&
		       sim_peer_finished(s->act[s->act_done]))
			s->act_done++;
		if (s->act_done == s->active) {
			instrument(s, false);
			snap(s, &s->at_active_end);
			s->phase = PH_SHUTDOWN;
			reactor_request_stop(s->r);
			return;
		}
	}
	rearm(s);
}

static void sim_on_listening(void *arg, uint16_t port)
{
	struct sim_run *s = arg;

	s->port = port;
	snap(s, &s->at_listen);
	/* The first peers now: with nothing pending the engine's next poll
	 * would find the world quiescent, before any hook could run. */
	sim_hook(s);
}

/* The figures of one run. */
enum {
	SF_HEAP_PER_IDLE,     /* engine heap bytes per idle connection */
	SF_ALLOCS_PER_CONN,   /* allocations per connection established */
	SF_STEPS_PER_CONN,    /* simulation steps per connection established */
	SF_LINKS_PER_CONN,    /* timer links per connection established */
	SF_STEPS_PER_MSG,     /* steps (events) per message echoed */
	SF_LINKS_PER_MSG,     /* timer links per message */
	SF_LINKS_PER_STEP,    /* timer links per event, while active */
	SF_ALLOCS_PER_MSG,    /* allocations per message */
	SF_LINKS_PER_CANCEL,  /* timer links per idle connection cancelled */
	SF_LIVE_END,          /* engine heap bytes held after it returned */
	SF_INSTR_PER_EVENT,   /* --callgrind: instructions per event, active */
	SF_COUNT
};

static const char *const sim_keys[SF_COUNT] = {
	"heap_bytes_per_idle", "allocs_per_conn", "steps_per_conn",
	"timer_links_per_conn", "steps_per_msg", "timer_links_per_msg",
	"timer_links_per_step", "allocs_per_msg", "timer_links_per_cancel",
	"live_end_bytes", "instructions_per_event",
};

struct sim_row {
	const char *engine;
	unsigned conns;
	bool ok, has_instr;
	uint64_t active_steps;
	double v[SF_COUNT];
};

static int sim_run_one(const struct bench_scale_opts *o,
		       const struct sim_engine *se, unsigned conns,
		       struct sim_row *row)
{
	const char *engine = se->name;
	struct sim_run s = { 0 };
	struct sim_config sc;
	struct echo_opts eo;
	struct echo_stats st = { 0 };
	struct mem_stats before, after;
	struct sim_snap end;
	int rc;

	memset(row, 0, sizeof(*row));
	row->engine = engine;
	row->conns = conns;
	s.o = o;
	s.active = conns < o->active ? conns : o->active;
	s.idle = conns - s.active;
	s.script_len = (size_t)o->sim_msgs * o->base.msg_size;
	s.script = malloc(s.script_len);
	s.act = calloc(s.active, sizeof(*s.act));
	sim_config_default(&sc, 1);
	sc.max_handles = conns + BENCH_SCALE_FD_RESERVE;
	s.r = s.script != NULL && s.act != NULL ? reactor_new_sim(&sc) : NULL;
	if (s.r == NULL) {
		free(s.script);
		free(s.act);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s.script_len; i++)
		s.script[i] = (unsigned char)('a' + i % 26);
	echo_opts_default(&eo);
	eo.idle_timeout_ns = o->idle_timeout_ns;
	eo.buffers = o->buffers;
	if (o->bufsize != 0)
		eo.bufsize = o->bufsize;
	eo.on_listening = sim_on_listening;
	eo.arg = &s;
	mem_stats_get(&before);
	rc = se->echo(s.r, NULL, &eo, &st);
	mem_stats_get(&after);
	snap(&s, &end);
	for (unsigned i = 0; rc == 0 && s.error == 0 && i < s.active; i++) {
		size_t len;
		const void *got = sim_peer_received(s.act[i], &len);
		if (len != s.script_len || memcmp(got, s.script, len) != 0)
			s.error = -EIO;
	}
	reactor_free(s.r);
	free(s.script);
	free(s.act);
	if (rc < 0)
		return rc;
	if (s.error != 0 || s.phase != PH_SHUTDOWN || st.timed_out != 0)
		return s.error != 0 ? s.error : -EIO;
	double msgs = (double)s.active * o->sim_msgs;
	double idle = s.idle > 0 ? (double)s.idle : 1;
	const struct sim_snap *l = &s.at_listen, *e = &s.at_established,
			      *a = &s.at_active_end;
	row->v[SF_HEAP_PER_IDLE] = s.idle == 0 ? 0 :
		(double)(e->mem.live_bytes - l->mem.live_bytes) / idle;
	row->v[SF_ALLOCS_PER_CONN] = (double)(e->mem.allocs - l->mem.allocs) /
				     idle;
	row->v[SF_STEPS_PER_CONN] = (double)(e->steps - l->steps) / idle;
	row->v[SF_LINKS_PER_CONN] = (double)(e->links - l->links) / idle;
	row->v[SF_STEPS_PER_MSG] = (double)(a->steps - e->steps) / msgs;
	row->v[SF_LINKS_PER_MSG] = (double)(a->links - e->links) / msgs;
	row->v[SF_LINKS_PER_STEP] = a->steps > e->steps
		? (double)(a->links - e->links) / (double)(a->steps - e->steps)
		: 0;
	row->v[SF_ALLOCS_PER_MSG] = (double)(a->mem.allocs - e->mem.allocs) /
				    msgs;
	row->v[SF_LINKS_PER_CANCEL] = (double)(end.links - a->links) / idle;
	row->v[SF_LIVE_END] = (double)(after.live_bytes - before.live_bytes);
	row->active_steps = a->steps - e->steps;
	row->ok = true;
	return 0;
}

/* Run row r again in a child under callgrind, instrumented for the active
 * phase alone, and set its instructions per event.  The child is this
 * binary (its path read before valgrind replaces /proc/self/exe) with the
 * same options for the one engine and count.  0 or -errno. */
static int sim_callgrind(const struct bench_scale_opts *o, const char *dir,
			 struct sim_row *r)
{
	char self[4096], out[512], outflag[560], conns[16], active[16];
	char msgs[16], size[24], idle[32], bufsize[24];
	const char *argv[40];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	double total = -1;
	char line[512];
	int n = 0, status;
	pid_t pid;
	FILE *f;

	if (len <= 0)
		return -errno;
	self[len] = '\0';
	if (access(self, X_OK) != 0)  /* rebuilt since it started: "(deleted)" */
		return -ENOENT;
	snprintf(out, sizeof(out), "%s/cg.%s.%u", dir, r->engine, r->conns);
	for (char *p = out + strlen(dir) + 1; *p != '\0'; p++)
		if (*p == '/')
			*p = '-';   /* "push/uring": one file name */
	snprintf(outflag, sizeof(outflag), "--callgrind-out-file=%s", out);
	snprintf(conns, sizeof(conns), "%u", r->conns);
	snprintf(active, sizeof(active), "%u", o->active);
	snprintf(msgs, sizeof(msgs), "%u", o->sim_msgs);
	snprintf(size, sizeof(size), "%zu", o->base.msg_size);
	snprintf(idle, sizeof(idle), "%" PRIu64 "ns", o->idle_timeout_ns);
	argv[n++] = "valgrind";
	argv[n++] = "--tool=callgrind";
	argv[n++] = "--instr-atstart=no";
	argv[n++] = outflag;
	argv[n++] = self;
	argv[n++] = "bench";
	argv[n++] = "scale";
	argv[n++] = "--backend";
	argv[n++] = "sim";
	argv[n++] = "--engines";
	argv[n++] = r->engine;
	argv[n++] = "--conns-sweep";
	argv[n++] = conns;
	argv[n++] = "--active";
	argv[n++] = active;
	argv[n++] = "--sim-msgs";
	argv[n++] = msgs;
	argv[n++] = "--size";
	argv[n++] = size;
	argv[n++] = "--idle-timeout";
	argv[n++] = idle;
	if (o->bufsize != 0) {
		snprintf(bufsize, sizeof(bufsize), "%zu", o->bufsize);
		argv[n++] = "--bufsize";
		argv[n++] = bufsize;
	}
	if (o->buffers == ECHO_BUFFERS_READY) {
		argv[n++] = "--buffers";
		argv[n++] = "ready";
	}
	argv[n++] = "--quiet";
	argv[n++] = "--sim-callgrind-child";
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execvp("valgrind", (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	f = fopen(out, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "summary:", 8) == 0 ||
		    strncmp(line, "totals:", 7) == 0)
			total = strtod(strchr(line, ':') + 1, NULL);
	if (f != NULL)
		fclose(f);
	unlink(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || total <= 0 ||
	    r->active_steps == 0)
		return -EIO;
	r->v[SF_INSTR_PER_EVENT] = total / (double)r->active_steps;
	r->has_instr = true;
	return 0;
}

/* The memory the engine's idle connections may take, against what the
 * machine has: a C whose buffers alone would not fit in half of it is
 * skipped with a line, like a C over the descriptor limit. */
static uint64_t mem_available(void)
{
	char line[256];
	unsigned long long kib = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (f == NULL)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu", &kib) == 1)
			break;
	fclose(f);
	return kib ? (uint64_t)kib * 1024 : UINT64_MAX;
}

int bench_scale_sim(const struct bench_scale_opts *o)
{
	struct sim_row *rows = calloc((size_t)o->nsweep * NSIM_ENGINES,
				      sizeof(*rows));
	uint64_t avail = mem_available();
	/* conn mode: the read buffer (16 KiB by default) and about 1 KiB of
	 * state per connection; ready mode: the state.  The simulator's own
	 * (its peers and streams) comes on top. */
	uint64_t per_conn = (o->buffers == ECHO_BUFFERS_CONN
			     ? (o->bufsize ? o->bufsize : 16384) : 0) + 1024;
	int n = 0, rc = 0;
	FILE *f;

	if (rows == NULL)
		return EXIT_MEASURED_FAILURE;
	for (int c = 0; c < o->nsweep; c++) {
		unsigned conns = o->sweep[c];
		if ((uint64_t)conns * per_conn > avail / 2) {
			printf("scale: sim C=%u skipped: its connections would "
			       "take about %" PRIu64 " MiB of heap (buffers "
			       "%s), more than half of the %" PRIu64 " MiB "
			       "available\n", conns,
			       (uint64_t)conns * per_conn >> 20,
			       bench_buffers_name(o->buffers), avail >> 20);
			continue;
		}
		for (int k = 0; k < NSIM_ENGINES; k++) {
			/* the order turns with C */
			const struct sim_engine *se =
				&sim_engines[(c + k) % NSIM_ENGINES];
			if (o->base.engines != NULL &&
			    !bench_listed(o->base.engines, se->name))
				continue;
			if (o->base.engines == NULL && se->named_only) {
				if (c == 0)
					printf("scale: sim %s left out: the "
					       "simulated kernel checks every "
					       "buffer it owns at each step, so "
					       "it runs only when --engines "
					       "names it\n", se->name);
				continue;
			}
			if (se->conn_only &&
			    o->buffers == ECHO_BUFFERS_READY) {
				if (c == 0)
					printf("scale: sim %s left out: it keeps "
					       "a receive and its buffer in "
					       "flight per connection (no "
					       "--buffers ready)\n", se->name);
				continue;
			}
			if (o->base.progress)
				fprintf(stderr, "bench scale (sim): %s C=%u\n",
					se->name, conns);
			int err = sim_run_one(o, se, conns, &rows[n]);
			if (err < 0) {
				fprintf(stderr, "pushpoll: bench scale: sim %s "
					"at C=%u failed: %s\n", se->name,
					conns, strerror(-err));
				rows[n].engine = se->name;
				rows[n].conns = conns;
				rc = EXIT_MEASURED_FAILURE;
			}
			n++;
		}
	}
	if (o->callgrind && !o->callgrind_child) {
		char dir[] = "/tmp/pushpoll-scale-XXXXXX";
#ifndef SCALE_HAVE_CALLGRIND
		printf("scale: --callgrind: built without valgrind/callgrind.h "
		       "(apt-get install valgrind, then configure again): no "
		       "instructions counted\n");
#else
		if (!cli_have_program("valgrind")) {
			printf("scale: --callgrind: "
			       CLI_INSTALL_HINT("valgrind", "valgrind")
			       ": no instructions counted\n");
		} else if (mkdtemp(dir) == NULL) {
			printf("scale: --callgrind: cannot make %s: %s\n", dir,
			       strerror(errno));
		} else {
			for (int i = 0; i < n; i++) {
				if (!rows[i].ok)
					continue;
				if (o->base.progress)
					fprintf(stderr, "bench scale (sim, "
						"callgrind): %s C=%u\n",
						rows[i].engine, rows[i].conns);
				int err = sim_callgrind(o, dir, &rows[i]);
				if (err < 0) {
					fprintf(stderr, "pushpoll: bench scale:"
						" callgrind of %s at C=%u "
						"failed: %s\n", rows[i].engine,
						rows[i].conns, strerror(-err));
					rc = EXIT_MEASURED_FAILURE;
				}
			}
			rmdir(dir);
		}
#endif
	}
	printf("\nscale (sim): C connections, %u of them active (%u messages "
	       "of %zu bytes each), the rest idle with a %.0f s idle timeout "
	       "armed; counted, not timed (seed 1)\n", o->active, o->sim_msgs,
	       o->base.msg_size, (double)o->idle_timeout_ns / 1e9);
	printf("%-10s %-5s %8s %9s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n",
	       "engine", "bufs", "C", "B/idle", "alloc/c", "steps/c",
	       "links/c", "steps/m", "links/m", "links/ev", "alloc/m",
	       "links/x", "live@end", "instr/ev");
	for (int i = 0; i < n; i++) {
		const struct sim_row *r = &rows[i];
		if (!r->ok) {
			printf("%-10s %-5s %8u  failed\n", r->engine,
			       bench_buffers_name(o->buffers), r->conns);
			continue;
		}
		char instr[24] = "-";
		if (r->has_instr)
			snprintf(instr, sizeof(instr), "%.0f",
				 r->v[SF_INSTR_PER_EVENT]);
		printf("%-10s %-5s %8u %9.1f %8.2f %8.2f %8.3f %8.2f %8.3f "
		       "%8.3f %8.3f %8.3f %8.0f %8s\n", r->engine,
		       bench_buffers_name(o->buffers), r->conns,
		       r->v[SF_HEAP_PER_IDLE], r->v[SF_ALLOCS_PER_CONN],
		       r->v[SF_STEPS_PER_CONN], r->v[SF_LINKS_PER_CONN],
		       r->v[SF_STEPS_PER_MSG], r->v[SF_LINKS_PER_MSG],
		       r->v[SF_LINKS_PER_STEP], r->v[SF_ALLOCS_PER_MSG],
		       r->v[SF_LINKS_PER_CANCEL], r->v[SF_LIVE_END], instr);
	}
	printf("B/idle: engine heap per idle connection.  /c: per connection "
	       "established; /m: per message echoed; /ev: per event while "
	       "active; /x: per idle connection cancelled at shutdown.  "
	       "links: the timer heap's unit of work "
	       "(reactor_timer_links()).  live@end: heap bytes held after the "
	       "engine returned.  instr/ev (--callgrind): user-space "
	       "instructions per event while active, engine, reactor and "
	       "simulator together.\n");
	if (o->base.json != NULL && (f = fopen(o->base.json, "w")) != NULL) {
		fputc('{', f);
		bench__json_machine(f, &o->base);
		fprintf(f, ",\"scale\":{\"backend\":\"sim\",\"buffers\":\"%s\","
			"\"active\":%u,\"sim_msgs\":%u,\"msg_size\":%zu,"
			"\"runs\":[", bench_buffers_name(o->buffers), o->active,
			o->sim_msgs, o->base.msg_size);
		for (int i = 0; i < n; i++) {
			fprintf(f, "%s{\"engine\":\"%s\",\"conns\":%u,"
				"\"buffers\":\"%s\",\"ok\":%s", i ? "," : "",
				rows[i].engine, rows[i].conns,
				bench_buffers_name(o->buffers),
				rows[i].ok ? "true" : "false");
			for (int k = 0; k < SF_COUNT && rows[i].ok; k++) {
				if (k == SF_INSTR_PER_EVENT &&
				    !rows[i].has_instr)
					continue;
				fprintf(f, ",\"%s\":%.4f", sim_keys[k],
					rows[i].v[k]);
			}
			fputc('}', f);
		}
		fprintf(f, "]}}\n");
		if (fclose(f) != 0)
			rc = EXIT_MEASURED_FAILURE;
	} else if (o->base.json != NULL) {
		rc = EXIT_MEASURED_FAILURE;
	}
	if (o->base.csv != NULL && (f = fopen(o->base.csv, "w")) != NULL) {
		fprintf(f, "workload,engine,sink,file_size,figure,median,min,"
			"max,rounds_ok,conns,buffers\n");
		for (int i = 0; i < n; i++) {
			const struct sim_row *r = &rows[i];
			for (int k = 0; k < SF_COUNT && r->ok; k++) {
				if (k == SF_INSTR_PER_EVENT && !r->has_instr)
					continue;
				fprintf(f, "scale_sim,%s,,,%s,%.4f,%.4f,%.4f,1,"
					"%u,%s\n", r->engine, sim_keys[k],
					r->v[k], r->v[k], r->v[k], r->conns,
					bench_buffers_name(o->buffers));
			}
		}
		if (fclose(f) != 0)
			rc = EXIT_MEASURED_FAILURE;
	} else if (o->base.csv != NULL) {
		rc = EXIT_MEASURED_FAILURE;
	}
	free(rows);
	return rc;
}
