/* bench_scale.c: `pushpoll bench scale`: how an engine's costs grow with
 * the connections it holds, most of them idle.
 *
 * A real server holds many connections and hears from few of them at a
 * time.  So for each C of the sweep each engine serves C connections of
 * which a fixed number are active (the open loop of loadgen.h at a fixed
 * total rate: the same work at every C) and the others idle, with the idle
 * timeout armed on every one.  Per engine and C:
 *
 *   heap, RSS    the server's live heap and resident set once the C
 *                connections are open, and per idle connection: the
 *                difference from the smallest C of the sweep divided by the
 *                difference in connections (measured, not estimated);
 *   CPU          server CPU (user + system) per message echoed;
 *   latency      p50, p99, p99.9 of the active connections' messages;
 *   establish    the time to open the C connections (non-blocking
 *                connects, up to STORM_WINDOW at once, each proven served
 *                by a one-byte echo);
 *   exit         the time from SIGTERM, with the C connections open, to the
 *                server's exit: it stops accepting and cancels every one;
 *   live at end  the heap the server still holds after its engine returned:
 *                0 unless something leaked.
 *
 * The engines are bench__select()'s rows (bench_common.c), those over
 * completion I/O among them: the io_uring floor in both buffer modes (with
 * buffers per connection a receive in flight commits a buffer to every
 * connection; on readiness a multishot receive on a provided buffer ring
 * commits none), and push and poll over io_uring as rows of that table
 * (poll's on readiness a receive from its loop's ring, one at a time).
 *
 * The run at C = active (all connections active, none idle) is always
 * made: it is the reference of the CPU target.  Engines are interleaved
 * within each C, and the order turns with the rounds as in bench.c.
 *
 * Descriptors.  The load generator and the server each need C of them, and
 * a few more.  The soft limit is raised to the hard one first (the server,
 * a child, inherits it); a C that still does not fit is skipped with one
 * line saying so, not counted as a failure.
 *
 * --backend sim runs the same sweep inside this process on the simulated
 * reactor (sim.h), for push and poll, to a million connections: there the
 * figures are counted, not timed (bench_scale_sim.c).
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"
#include "loadgen.h"

static const char *const scale_keys[BENCH_SC_COUNT] = {
	"heap_kib", "rss_kib", "cpu_ns_per_msg", "p50_us", "p99_us",
	"p999_us", "establish_ms", "exit_ms", "live_end_bytes", "msgs_per_s",
};

const char *bench_buffers_name(enum echo_buffers b)
{
	return b == ECHO_BUFFERS_READY ? "ready" : "conn";
}

/* ---- options ------------------------------------------------------------------------ */

void bench_scale_opts_default(struct bench_scale_opts *o)
{
	static const unsigned sweep[] = { 1, 10, 100, 1000, 10000 };

	memset(o, 0, sizeof(*o));
	bench_opts_default(&o->base);
	o->base.rounds = 1;
	o->base.rate = 10000;
	o->base.warmup_ns = 250 * CLOCK_NS_PER_MS;
	o->base.duration_ns = 1 * CLOCK_NS_PER_S;
	memcpy(o->sweep, sweep, sizeof(sweep));
	o->nsweep = (int)(sizeof(sweep) / sizeof(sweep[0]));
	o->active = 50;
	o->idle_timeout_ns = 60 * CLOCK_NS_PER_S;
	o->buffers = ECHO_BUFFERS_CONN;
	o->backend = BENCH_BACKEND_EPOLL;
	o->sim_msgs = 20;
}

static void parse_sweep(const char *text, struct bench_scale_opts *o)
{
	char buf[256], *save = NULL;

	if (strlen(text) >= sizeof(buf))
		cli_usage_error("--conns-sweep: '%s' is too long", text);
	strcpy(buf, text);
	o->nsweep = 0;
	for (char *p = strtok_r(buf, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (o->nsweep == BENCH_SCALE_MAX_SWEEP)
			cli_usage_error("--conns-sweep takes at most %d counts",
					BENCH_SCALE_MAX_SWEEP);
		o->sweep[o->nsweep++] = (unsigned)cli_uint("--conns-sweep", p,
							  1, 10000000);
	}
	if (o->nsweep == 0)
		cli_usage_error("--conns-sweep needs a count");
	for (int i = 1; i < o->nsweep; i++)
		if (o->sweep[i] <= o->sweep[i - 1])
			cli_usage_error("--conns-sweep: give the counts in "
					"ascending order, not '%s'", text);
}

enum echo_buffers bench_parse_buffers(const char *text)
{
	if (strcmp(text, "conn") == 0)
		return ECHO_BUFFERS_CONN;
	if (strcmp(text, "ready") == 0)
		return ECHO_BUFFERS_READY;
	cli_usage_error("--buffers wants conn or ready, not '%s'", text);
}

void bench_scale_usage(FILE *f)
{
	fprintf(f,
"scale (pushpoll bench scale [OPTIONS]):\n"
"  --conns-sweep LIST  connections held, ascending (default 1,10,100,1000,10000;\n"
"                      sim: 1000,10000,100000,1000000)\n"
"  --active N          of them active, the rest idle (default 50)\n"
"  --rate MSGS/S       the active ones' open loop, in all (default 10000)\n"
"  --idle-timeout DURATION  armed on every connection (default 60s)\n"
"  --buffers conn|ready  read buffer per connection, or taken on readiness\n"
"  --bufsize SIZE      the servers' read buffers (default theirs, 16K)\n"
"  --backend epoll|sim real loopback, or the simulator (push and poll,\n"
"                      on readiness and on its completion queue as\n"
"                      push/uring and poll/uring; counted figures)\n"
"  --sim-msgs N        sim: messages per active connection (default 20)\n"
"  --callgrind         sim: user-space instructions per event too, counted\n"
"                      by valgrind's callgrind (slow: minutes at 1M)\n"
"  also --engines --rounds (default 1) --size --duration (default 1s)\n"
"  --warmup --json --csv --plot --quiet --no-pin, as above\n");
}

void bench_scale_parse(int argc, char **argv, struct bench_scale_opts *o)
{
	enum { O_ENGINES = 256, O_SWEEP, O_ACTIVE, O_RATE, O_SIZE,
	       O_DURATION, O_WARMUP, O_ROUNDS, O_IDLE, O_BUFFERS, O_BUFSIZE,
	       O_BACKEND,
	       O_SIM_MSGS, O_CALLGRIND, O_CALLGRIND_CHILD, O_JSON, O_CSV,
	       O_PLOT, O_QUIET, O_NO_PIN, O_HELP };
	static const struct option opts[] = {
		{ "engines", required_argument, NULL, O_ENGINES },
		{ "conns-sweep", required_argument, NULL, O_SWEEP },
		{ "active", required_argument, NULL, O_ACTIVE },
		{ "rate", required_argument, NULL, O_RATE },
		{ "size", required_argument, NULL, O_SIZE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "rounds", required_argument, NULL, O_ROUNDS },
		{ "idle-timeout", required_argument, NULL, O_IDLE },
		{ "buffers", required_argument, NULL, O_BUFFERS },
		{ "bufsize", required_argument, NULL, O_BUFSIZE },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "sim-msgs", required_argument, NULL, O_SIM_MSGS },
		{ "callgrind", no_argument, NULL, O_CALLGRIND },
		/* hidden: the child the parent runs under callgrind */
		{ "sim-callgrind-child", no_argument, NULL, O_CALLGRIND_CHILD },
		{ "json", required_argument, NULL, O_JSON },
		{ "csv", required_argument, NULL, O_CSV },
		{ "plot", required_argument, NULL, O_PLOT },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "no-pin", no_argument, NULL, O_NO_PIN },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	bool sweep_set = false;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_ENGINES:
			if (optarg[0] == '\0')
				cli_usage_error("--engines: '' names no engine");
			o->base.engines = optarg;
			break;
		case O_SWEEP:
			parse_sweep(optarg, o);
			sweep_set = true;
			break;
		case O_ACTIVE:
			o->active = (unsigned)cli_uint("--active", optarg, 1,
						       10000);
			break;
		case O_RATE:
			o->base.rate = cli_uint("--rate", optarg, 1, 10000000);
			break;
		case O_SIZE:
			o->base.msg_size = cli_size("--size", optarg, 1,
						    1 << 20);
			break;
		case O_DURATION:
			o->base.duration_ns = cli_duration_ns("--duration",
							      optarg);
			break;
		case O_WARMUP:
			o->base.warmup_ns = cli_duration_ns("--warmup", optarg);
			break;
		case O_ROUNDS:
			o->base.rounds = (int)cli_uint("--rounds", optarg, 1,
						       BENCH_MAX_ROUNDS);
			break;
		case O_IDLE:
			o->idle_timeout_ns = cli_duration_ns("--idle-timeout",
							     optarg);
			break;
		case O_BUFFERS:
			o->buffers = bench_parse_buffers(optarg);
			/* bench__select() leaves out the engines that
			 * cannot wait for readiness without a buffer. */
			o->base.buffers = bench_buffers_name(o->buffers);
			break;
		case O_BUFSIZE:
			o->bufsize = cli_size("--bufsize", optarg, 1, 64 << 20);
			break;
		case O_BACKEND:
			if (strcmp(optarg, "epoll") == 0)
				o->backend = BENCH_BACKEND_EPOLL;
			else if (strcmp(optarg, "sim") == 0)
				o->backend = BENCH_BACKEND_SIM;
			else
				cli_usage_error("--backend wants epoll or sim, "
						"not '%s'", optarg);
			break;
		case O_SIM_MSGS:
			o->sim_msgs = (unsigned)cli_uint("--sim-msgs", optarg,
							 1, 100000);
			break;
		case O_CALLGRIND: o->callgrind = true; break;
		case O_CALLGRIND_CHILD: o->callgrind_child = true; break;
		case O_JSON: o->base.json = optarg; break;
		case O_CSV: o->base.csv = optarg; break;
		case O_PLOT: o->base.plot_dir = optarg; break;
		case O_QUIET: o->base.progress = false; break;
		case O_NO_PIN: o->base.pin = false; break;
		case O_HELP:
			bench_scale_usage(stdout);
			exit(0);
		case ':':
			cli_usage_error("%s needs a value", argv[optind - 1]);
		default:
			cli_usage_error("bench scale: unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		cli_usage_error("bench scale: unexpected argument '%s'",
				argv[optind]);
	if (o->base.duration_ns == 0)
		cli_usage_error("--duration must be more than 0");
	if (o->idle_timeout_ns == 0)
		cli_usage_error("--idle-timeout must be more than 0: the idle "
				"connections hold an armed timer");
	if (o->callgrind && o->backend != BENCH_BACKEND_SIM)
		cli_usage_error("--callgrind counts the simulator's runs: it "
				"needs --backend sim");
	if (o->backend == BENCH_BACKEND_SIM && !sweep_set) {
		static const unsigned sim[] = { 1000, 10000, 100000, 1000000 };
		memcpy(o->sweep, sim, sizeof(sim));
		o->nsweep = 4;
	}
	if (o->backend == BENCH_BACKEND_EPOLL && o->base.engines != NULL) {
		char buf[256], *save = NULL;
		if (strlen(o->base.engines) >= sizeof(buf))
			cli_usage_error("--engines: too long");
		strcpy(buf, o->base.engines);
		for (char *p = strtok_r(buf, ",", &save); p != NULL;
		     p = strtok_r(NULL, ",", &save))
			if (!bench__is_variant(p))
				cli_usage_error("--engines: unknown engine '%s' "
						"(engines: epoll, libuv, "
						"libevent, push, push-pooled, "
						"poll)", p);
	}
	if (o->backend == BENCH_BACKEND_SIM && o->base.engines != NULL) {
		char buf[256], *save = NULL;
		if (strlen(o->base.engines) >= sizeof(buf))
			cli_usage_error("--engines: too long");
		strcpy(buf, o->base.engines);
		for (char *p = strtok_r(buf, ",", &save); p != NULL;
		     p = strtok_r(NULL, ",", &save))
			if (!bench__is_sim_engine(p))
				cli_usage_error("--backend sim runs push and "
						"poll only, not '%s'", p);
	}
}

/* ---- descriptors ---------------------------------------------------------------------- */

unsigned long bench_scale_fds_needed(unsigned conns)
{
	return (unsigned long)conns + BENCH_SCALE_FD_RESERVE;
}

bool bench_scale_fits(unsigned conns, unsigned long limit)
{
	return bench_scale_fds_needed(conns) <= limit;
}

void bench_scale_print_unfit(FILE *f, unsigned conns, unsigned long limit)
{
	fprintf(f, "scale: C=%u skipped: it needs %lu descriptors in the load "
		"generator and as many in the server, and the limit is %lu "
		"per process (the soft limit, raised to the hard one; raise "
		"the hard limit to go further, or see --backend sim)\n", conns,
		bench_scale_fds_needed(conns), limit);
}

/* ---- the server child ------------------------------------------------------------------ */

struct scale_server {
	pid_t pid;
	FILE *out;
	uint16_t port;
	double rss_kib;
};

struct scale_mark {
	uint64_t allocs, bytes, cpu_ns;
	int64_t peak, live;
};

static int scale_server_start(struct scale_server *s,
			      const struct bench_variant *v,
			      const struct bench_scale_opts *o,
			      const struct bench_pin *pin)
{
	char idle[32], bufsize[32];
	const char *argv[20] = { "pushpoll", "serve", "echo", "--engine",
				 v->engine, "--port", "0", "--idle-timeout",
				 idle };
	int n = 9;

	snprintf(idle, sizeof(idle), "%" PRIu64 "ns", o->idle_timeout_ns);
	/* conn is every engine's default, so only ready is passed (an
	 * engine without it, such as the io_uring floor where the kernel
	 * has no multishot recv, is not selected then: bench__select()). */
	if (o->buffers == ECHO_BUFFERS_READY) {
		argv[n++] = "--buffers";
		argv[n++] = "ready";
	}
	if (o->bufsize != 0) {
		snprintf(bufsize, sizeof(bufsize), "%zu", o->bufsize);
		argv[n++] = "--bufsize";
		argv[n++] = bufsize;
	}
	for (int i = 0; v->flags[i] != NULL; i++)
		argv[n++] = v->flags[i];
	argv[n] = NULL;
	return bench__serve_spawn(argv, pin, &s->pid, &s->out, &s->port);
}

static void scale_mark_start(void *arg)
{
	struct scale_server *s = arg;

	kill(s->pid, CLI_MARK_SIGNAL);
	s->rss_kib = bench__rss_kib(s->pid, 0);
}

static void scale_mark_end(void *arg)
{
	struct scale_server *s = arg;

	kill(s->pid, CLI_MARK_SIGNAL);
}

/* SIGTERM with every connection still open; wait for the exit and read the
 * marks and what the server held at the end.  *exit_ns: SIGTERM to exit.
 * Returns 0 when it exited with 0 and printed everything. */
static int scale_server_stop(struct scale_server *s, struct scale_mark m[2],
			     int64_t *live_end, uint64_t *exit_ns)
{
	char line[512];
	uint64_t t0 = clock_now_ns();
	int status, seen = 0;

	kill(s->pid, SIGTERM);
	while (fgets(line, sizeof(line), s->out) != NULL) {
		unsigned i;
		struct scale_mark x;
		long long live, blocks;
		if (sscanf(line, "mark %u allocs=%" SCNu64 " bytes=%" SCNu64
			   " peak_live_bytes=%" SCNd64 " cpu_ns=%" SCNu64
			   " live_bytes=%" SCNd64, &i, &x.allocs, &x.bytes,
			   &x.peak, &x.cpu_ns, &x.live) == 6 && i < 2) {
			m[i] = x;
			seen |= 1 << i;
		} else if (sscanf(line, "exit live_bytes=%lld live_blocks=%lld",
				  &live, &blocks) == 2) {
			*live_end = live;
			seen |= 4;
		}
	}
	fclose(s->out);
	waitpid(s->pid, &status, 0);
	*exit_ns = clock_now_ns() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || seen != 7)
		return -1;
	return 0;
}

/* ---- the storm: C connections at once ----------------------------------------------------- */

enum { ST_CONNECTING, ST_WAITING, ST_DONE, ST_FAILED };

/* Connections in their handshake or first echo at once: below every
 * engine's listen backlog (1024 at the least), so that what is timed is the
 * server accepting and serving, not the kernel dropping SYNs past a full
 * queue and the client retrying a second later, the same for every
 * engine. */
#define STORM_WINDOW 1024

/* A non-blocking connect of connection i, registered on ep. */
static bool storm_launch(int ep, const struct sockaddr_in *sa, unsigned i,
			 int *fds)
{
	struct epoll_event e = { .events = EPOLLOUT | EPOLLIN, .data.u32 = i };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
				 SOCK_CLOEXEC, 0);

	if (fd < 0)
		return false;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
	     errno != EINPROGRESS) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
		close(fd);
		return false;
	}
	fds[i] = fd;
	return true;
}

/* Open n connections to port with non-blocking connects, STORM_WINDOW at
 * a time, send one byte on each as soon as it is connected, and wait for
 * every byte to come back: then the server has accepted and served every
 * connection (and armed its idle timer).  fds[] gets the sockets (-1 where
 * one failed).  Returns the number that failed; *elapsed_ns the time it
 * took. */
static unsigned scale_storm(uint16_t port, unsigned n, int *fds,
			    uint64_t *elapsed_ns)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	unsigned char *state = calloc(n, 1);
	struct epoll_event ev[256];
	unsigned left = n, failed = 0, next = 0, inflight = 0;
	uint64_t t0 = clock_now_ns(), give_up = t0 + 60 * CLOCK_NS_PER_S;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (unsigned i = 0; i < n; i++)
		fds[i] = -1;
	if (state == NULL || ep < 0) {
		free(state);
		if (ep >= 0)
			close(ep);
		return n;
	}
	while (left > 0 && clock_now_ns() < give_up) {
		while (next < n && inflight < STORM_WINDOW) {
			if (storm_launch(ep, &sa, next, fds)) {
				inflight++;
			} else {
				state[next] = ST_FAILED;
				failed++;
				left--;
			}
			next++;
		}
		int k = epoll_wait(ep, ev, 256, 100);
		for (int j = 0; j < k; j++) {
			unsigned i = ev[j].data.u32;
			int fd = fds[i], err = 0;
			socklen_t len = sizeof(err);
			char b = 'x';

			if (state[i] == ST_CONNECTING &&
			    (ev[j].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					       &len) < 0 || err != 0 ||
				    send(fd, &b, 1, MSG_NOSIGNAL) != 1) {
					state[i] = ST_FAILED;
				} else {
					struct epoll_event e = {
						.events = EPOLLIN,
						.data.u32 = i };
					state[i] = ST_WAITING;
					epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
				}
			} else if (state[i] == ST_WAITING &&
				   (ev[j].events & (EPOLLIN | EPOLLERR |
						    EPOLLHUP))) {
				ssize_t got = recv(fd, &b, 1, 0);
				if (got == 1 && b == 'x')
					state[i] = ST_DONE;
				else if (!(got < 0 && errno == EAGAIN))
					state[i] = ST_FAILED;
			}
			if (state[i] == ST_DONE || state[i] == ST_FAILED) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				failed += state[i] == ST_FAILED;
				left--;
				inflight--;
			}
		}
	}
	*elapsed_ns = clock_now_ns() - t0;
	failed += left;                    /* never served: given up on */
	for (unsigned i = 0; i < n; i++) {
		if (state[i] != ST_DONE && fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	close(ep);
	free(state);
	return failed;
}

/* ---- one run ------------------------------------------------------------------------------ */

struct scale_sample {
	double v[BENCH_SC_COUNT];
	int ok;
};

static void scale_run_one(const struct bench_variant *v,
			  const struct bench_scale_opts *o, unsigned conns,
			  const struct bench_pin *pin, struct scale_sample *out)
{
	unsigned active = conns < o->active ? conns : o->active;
	struct scale_server s = { 0 };
	struct loadgen_opts lo = {
		.host = "127.0.0.1", .conns = active, .depth = 1,
		.msg_size = o->base.msg_size, .rate = o->base.rate,
		.warmup_ns = o->base.warmup_ns,
		.duration_ns = o->base.duration_ns,
		.on_measure = scale_mark_start, .on_end = scale_mark_end,
		.arg = &s,
	};
	struct loadgen_result *res = malloc(sizeof(*res));
	int *fds = malloc(conns * sizeof(*fds));
	struct scale_mark m[2] = { { 0 } };
	uint64_t est_ns = 0, exit_ns = 0;
	int64_t live_end = -1;
	unsigned failed;
	int load_rc = -1, stop_rc;

	memset(out, 0, sizeof(*out));
	if (res == NULL || fds == NULL || scale_server_start(&s, v, o, pin)) {
		fprintf(stderr, "\npushpoll: bench scale: %s did not start\n",
			v->label);
		free(res);
		free(fds);
		return;
	}
	lo.port = s.port;
	failed = scale_storm(s.port, conns, fds, &est_ns);
	if (failed == 0) {
		lo.fds = fds;   /* the first `active` of the C are the busy ones */
		load_rc = loadgen_echo(&lo, res);
	}
	stop_rc = scale_server_stop(&s, m, &live_end, &exit_ns);
	for (unsigned i = 0; i < conns; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	if (failed != 0 || stop_rc != 0 || load_rc != 0 || res->msgs == 0) {
		fprintf(stderr, "\npushpoll: bench scale: %s at C=%u failed "
			"(%s)\n", v->label, conns,
			failed != 0 ? "connections not served" :
			stop_rc != 0 ? "the server did not exit cleanly" :
				       "the load generator saw errors");
		free(res);
		return;
	}
	double msgs = (double)res->msgs;
	out->v[BENCH_SC_HEAP] = (double)m[0].live / 1024.0;
	out->v[BENCH_SC_RSS] = s.rss_kib;
	out->v[BENCH_SC_CPU] = (double)(m[1].cpu_ns - m[0].cpu_ns) / msgs;
	out->v[BENCH_SC_P50] = (double)hist_percentile(&res->latency, 50) / 1e3;
	out->v[BENCH_SC_P99] = (double)hist_percentile(&res->latency, 99) / 1e3;
	out->v[BENCH_SC_P999] =
		(double)hist_percentile(&res->latency, 99.9) / 1e3;
	out->v[BENCH_SC_ESTABLISH] = (double)est_ns / 1e6;
	out->v[BENCH_SC_EXIT] = (double)exit_ns / 1e6;
	out->v[BENCH_SC_LIVE_END] = (double)live_end;
	out->v[BENCH_SC_MSGS] = msgs / ((double)res->elapsed_ns / 1e9);
	out->ok = 1;
	free(res);
}

/* ---- the report --------------------------------------------------------------------------- */

/* The row of engine at C, or NULL. */
static const struct bench_scale_row *
scale_find(const struct bench_scale_report *rep, const char *engine,
	   unsigned conns)
{
	for (int i = 0; i < rep->nrows; i++)
		if (rep->row[i].conns == conns &&
		    strcmp(rep->row[i].engine, engine) == 0 &&
		    rep->row[i].rounds_ok > 0)
			return &rep->row[i];
	return NULL;
}

/* The base of r's per-idle figures: above the active count, the run at
 * C = active (the same load, no idle connections), so that the difference
 * is the idle connections' alone; otherwise (or without that run) the
 * smallest C measured for r's engine. */
static const struct bench_scale_row *
scale_base(const struct bench_scale_report *rep,
	   const struct bench_scale_row *r)
{
	const struct bench_scale_row *b = NULL;

	if (rep->opts != NULL && r->conns > rep->opts->active &&
	    (b = scale_find(rep, r->engine, rep->opts->active)) != NULL)
		return b;
	for (int i = 0; i < rep->nrows; i++)
		if (strcmp(rep->row[i].engine, r->engine) == 0 &&
		    rep->row[i].rounds_ok > 0 &&
		    (b == NULL || rep->row[i].conns < b->conns))
			b = &rep->row[i];
	return b;
}

bool bench_scale_per_idle(const struct bench_scale_report *rep,
			  const struct bench_scale_row *r, int field,
			  double *bytes)
{
	const struct bench_scale_row *b = scale_base(rep, r);
	double scale = field == BENCH_SC_HEAP || field == BENCH_SC_RSS
		       ? 1024.0 : 1.0;

	if (b == NULL || b->conns >= r->conns)
		return false;
	/* The resident set moves by whole pages and by what the allocator
	 * keeps: over fewer than 100 connections it says nothing. */
	if (field == BENCH_SC_RSS && r->conns - b->conns < 100)
		return false;
	*bytes = (r->med[field] - b->med[field]) * scale /
		 (double)(r->conns - b->conns);
	return true;
}

static void scale_print_table(FILE *f, const struct bench_scale_report *rep)
{
	const struct bench_scale_opts *o = rep->opts;
	char heap[16], rss[16];

	fprintf(f, "\nscale: C connections, %u of them active (open loop, %"
		PRIu64 " msgs/s in all, %zu-byte messages), the rest idle "
		"with a %.0f s idle timeout; %d round(s), medians\n",
		o->active, o->base.rate, o->base.msg_size,
		(double)o->idle_timeout_ns / 1e9, o->base.rounds);
	fprintf(f, "%-12s %-5s %8s %9s %8s %8s %8s %7s %8s %8s %8s %8s %8s "
		"%7s\n", "engine", "bufs", "C", "heap KiB", "B/idle",
		"RSS KiB", "RSS/idle", "ns/msg", "p50 us", "p99 us",
		"p99.9 us", "estab ms", "exit ms", "live@end");
	for (int i = 0; i < rep->nrows; i++) {
		const struct bench_scale_row *r = &rep->row[i];
		double h, s;

		if (r->rounds_ok == 0) {
			fprintf(f, "%-12s %-5s %8u  failed\n", r->engine,
				bench_buffers_name(o->buffers), r->conns);
			continue;
		}
		snprintf(heap, sizeof(heap), "-");
		snprintf(rss, sizeof(rss), "-");
		if (bench_scale_per_idle(rep, r, BENCH_SC_HEAP, &h))
			snprintf(heap, sizeof(heap), "%.0f", h);
		if (bench_scale_per_idle(rep, r, BENCH_SC_RSS, &s))
			snprintf(rss, sizeof(rss), "%.0f", s);
		fprintf(f, "%-12s %-5s %8u %9.1f %8s %8.0f %8s %7.0f %8.1f "
			"%8.1f %8.1f %8.1f %8.1f %7.0f%s\n", r->engine,
			bench_buffers_name(o->buffers), r->conns,
			r->med[BENCH_SC_HEAP], heap, r->med[BENCH_SC_RSS], rss,
			r->med[BENCH_SC_CPU], r->med[BENCH_SC_P50],
			r->med[BENCH_SC_P99], r->med[BENCH_SC_P999],
			r->med[BENCH_SC_ESTABLISH], r->med[BENCH_SC_EXIT],
			r->med[BENCH_SC_LIVE_END],
			r->reference ? "  (reference)" : "");
	}
	fprintf(f, "B/idle, RSS/idle: the difference from the run at C = "
		"active (below it: from the smallest C), per added "
		"connection (RSS over 100 or more).  ns/msg: server "
		"CPU.  estab: the C connections opened, %d at a time, each "
		"served once.  exit: SIGTERM "
		"to exit with the C open.  live@end: heap bytes the server "
		"still held after its engine returned.\n", STORM_WINDOW);
	if (o->buffers == ECHO_BUFFERS_READY)
		fprintf(f, "Over completion I/O on readiness: each "
			"connection keeps a receive on a provided buffer ring "
			"(uring: multishot; poll/uring: one at a time), from "
			"which the kernel picks a buffer only when bytes "
			"arrive; the ring is allocated once per loop, in the "
			"heap at every C, so it is in heap KiB and not in "
			"B/idle.\n");
}

static const char *verdict(bool met)
{
	return met ? "met" : "missed";
}

static void scale_print_targets(FILE *f, const struct bench_scale_report *rep)
{
	const struct bench_scale_opts *o = rep->opts;
	unsigned top = o->sweep[o->nsweep - 1];
	bool any_live = false, live_ok = true;

	fprintf(f, "\ntargets:\n");
	/* 1. heap per idle connection with buffers on readiness */
	for (int e = 0; e < rep->nengines; e++) {
		const char *name = rep->engines[e];
		double limit = strcmp(name, "poll") == 0 ? 512 :
			       strncmp(name, "push", 4) == 0 ? 1024 : 0;
		const struct bench_scale_row *r = scale_find(rep, name, top);
		double b;

		if (limit == 0)
			continue;
		if (o->buffers != ECHO_BUFFERS_READY) {
			fprintf(f, "  heap per idle connection, buffers on "
				"readiness, %s <= %.0f B: not measured (this "
				"run: --buffers conn)\n", name, limit);
			continue;
		}
		if (r == NULL || !bench_scale_per_idle(rep, r, BENCH_SC_HEAP,
						      &b)) {
			fprintf(f, "  heap per idle connection, %s <= %.0f B: "
				"not measured (no run at C=%u)\n", name, limit,
				top);
			continue;
		}
		fprintf(f, "  heap per idle connection, buffers on readiness, "
			"%s at C=%u: %.0f B <= %.0f B: %s\n", name, top, b,
			limit, verdict(b <= limit));
	}
	/* 2. CPU per message at the top of the sweep against C = active */
	for (int e = 0; e < rep->nengines; e++) {
		const char *name = rep->engines[e];
		const struct bench_scale_row *hi = scale_find(rep, name, top);
		const struct bench_scale_row *lo = scale_find(rep, name,
							      o->active);

		if (hi == NULL || lo == NULL || top <= o->active) {
			fprintf(f, "  server CPU per message, %s: not measured "
				"(needs runs at C=%u and at C > %u)\n", name,
				o->active, o->active);
			continue;
		}
		double ratio = hi->med[BENCH_SC_CPU] / lo->med[BENCH_SC_CPU];
		fprintf(f, "  server CPU per message, %s at C=%u <= 1.15 x at "
			"C=%u: %.0f / %.0f ns = %.2f: %s\n", name, top,
			o->active, hi->med[BENCH_SC_CPU],
			lo->med[BENCH_SC_CPU], ratio, verdict(ratio <= 1.15));
	}
	/* 3. live heap back to 0 after every run */
	for (int i = 0; i < rep->nrows; i++) {
		if (rep->row[i].rounds_ok == 0)
			continue;
		any_live = true;
		if (rep->row[i].max[BENCH_SC_LIVE_END] != 0 ||
		    rep->row[i].min[BENCH_SC_LIVE_END] != 0)
			live_ok = false;
	}
	if (any_live)
		fprintf(f, "  live heap back to 0 after every run: %s\n",
			verdict(live_ok));
	/* 4. exit on SIGTERM with 10k connections open */
	for (int e = 0; e < rep->nengines; e++) {
		const char *name = rep->engines[e];
		const struct bench_scale_row *r = scale_find(rep, name, top);

		if (r == NULL || top < 10000) {
			fprintf(f, "  exit on SIGTERM with 10000 connections "
				"< 1 s, %s: not measured (largest C run: %u)\n",
				name, r != NULL ? top : 0);
			continue;
		}
		fprintf(f, "  exit on SIGTERM with %u connections < 1 s, %s: "
			"%.1f ms: %s\n", top, name, r->med[BENCH_SC_EXIT],
			verdict(r->med[BENCH_SC_EXIT] < 1000));
	}
}

static int scale_save_json(const char *path,
			   const struct bench_scale_report *rep)
{
	const struct bench_scale_opts *o = rep->opts;
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --json %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	fputc('{', f);
	bench__json_machine(f, &o->base);
	fprintf(f, ",\"scale\":{\"backend\":\"epoll\",\"buffers\":\"%s\","
		"\"active\":%u,\"rate\":%" PRIu64 ",\"msg_size\":%zu,"
		"\"idle_timeout_s\":%.3f,\"duration_s\":%.3f,\"rounds\":%d,"
		"\"fd_limit\":%lu,\"skipped\":[", bench_buffers_name(o->buffers),
		o->active, o->base.rate, o->base.msg_size,
		(double)o->idle_timeout_ns / 1e9,
		(double)o->base.duration_ns / 1e9, o->base.rounds,
		rep->fd_limit);
	for (int i = 0; i < rep->nskipped; i++)
		fprintf(f, "%s%u", i ? "," : "", rep->skipped[i]);
	fprintf(f, "],\"runs\":[");
	for (int i = 0; i < rep->nrows; i++) {
		const struct bench_scale_row *r = &rep->row[i];
		double b;
		fprintf(f, "%s{\"engine\":\"%s\",\"conns\":%u,\"buffers\":\"%s\","
			"\"rounds_ok\":%d", i ? "," : "", r->engine, r->conns,
			bench_buffers_name(o->buffers), r->rounds_ok);
		for (int k = 0; k < BENCH_SC_COUNT; k++)
			fprintf(f, ",\"%s\":{\"median\":%.4f,\"min\":%.4f,"
				"\"max\":%.4f}", scale_keys[k], r->med[k],
				r->min[k], r->max[k]);
		if (bench_scale_per_idle(rep, r, BENCH_SC_HEAP, &b))
			fprintf(f, ",\"heap_bytes_per_idle\":%.1f", b);
		if (bench_scale_per_idle(rep, r, BENCH_SC_RSS, &b))
			fprintf(f, ",\"rss_bytes_per_idle\":%.1f", b);
		fputc('}', f);
	}
	fprintf(f, "]}}\n");
	if (fclose(f) != 0)
		return -EIO;
	return 0;
}

/* The bench's CSV, one row per figure, with the connections and the buffer
 * mode added at the end of each row. */
static int scale_save_csv(const char *path,
			  const struct bench_scale_report *rep)
{
	const struct bench_scale_opts *o = rep->opts;
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --csv %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "workload,engine,sink,file_size,figure,median,min,max,"
		"rounds_ok,conns,buffers\n");
	for (int i = 0; i < rep->nrows; i++) {
		const struct bench_scale_row *r = &rep->row[i];
		double b;
		for (int k = 0; k < BENCH_SC_COUNT; k++)
			fprintf(f, "scale,%s,,,%s,%.4f,%.4f,%.4f,%d,%u,%s\n",
				r->engine, scale_keys[k], r->med[k], r->min[k],
				r->max[k], r->rounds_ok, r->conns,
				bench_buffers_name(o->buffers));
		if (bench_scale_per_idle(rep, r, BENCH_SC_HEAP, &b))
			fprintf(f, "scale,%s,,,heap_bytes_per_idle,%.4f,%.4f,"
				"%.4f,%d,%u,%s\n", r->engine, b, b, b,
				r->rounds_ok, r->conns,
				bench_buffers_name(o->buffers));
	}
	if (fclose(f) != 0)
		return -EIO;
	return 0;
}

/* scale.png: each figure against C on a log axis, one line per engine. */
static int scale_plot(const char *dir, const struct bench_scale_report *rep)
{
	static const struct { const char *title; int col; } panel[] = {
		{ "heap per idle connection (B)", 3 },
		{ "RSS per idle connection (B)", 4 },
		{ "server CPU per message (ns)", 5 },
		{ "p99 latency (us)", 7 },
		{ "p99.9 latency (us)", 8 },
		{ "time to establish C (ms)", 9 },
		{ "exit on SIGTERM (ms)", 10 },
		{ "live heap at end (B)", 11 },
	};
	FILE *d = bench__plot_file(dir, "scale", "dat"), *g;

	if (d == NULL)
		return -errno;
	for (int e = 0; e < rep->nengines; e++) {
		fprintf(d, "# %s\n", rep->engines[e]);
		for (int i = 0; i < rep->nrows; i++) {
			const struct bench_scale_row *r = &rep->row[i];
			double h = NAN, s = NAN;
			if (strcmp(r->engine, rep->engines[e]) != 0 ||
			    r->rounds_ok == 0)
				continue;
			bench_scale_per_idle(rep, r, BENCH_SC_HEAP, &h);
			bench_scale_per_idle(rep, r, BENCH_SC_RSS, &s);
			fprintf(d, "%u %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.2f "
				"%.2f %.0f\n", r->conns, r->med[BENCH_SC_HEAP],
				h, s, r->med[BENCH_SC_CPU],
				r->med[BENCH_SC_P50], r->med[BENCH_SC_P99],
				r->med[BENCH_SC_P999],
				r->med[BENCH_SC_ESTABLISH],
				r->med[BENCH_SC_EXIT],
				r->med[BENCH_SC_LIVE_END]);
		}
		fprintf(d, "\n\n");
	}
	fclose(d);
	g = bench__plot_file(dir, "scale", "gp");
	if (g == NULL)
		return -errno;
	fprintf(g, "set terminal pngcairo size 1600,800 font 'DejaVu Sans,10'\n"
		"set output 'scale.png'\nset datafile missing 'nan'\n"
		"set logscale x\nset grid\nset key top left font ',9'\n"
		"set xlabel 'connections (C)'\n"
		"set multiplot layout 2,4 title \"pushpoll bench scale: %u "
		"active, buffers %s\"\n", rep->opts->active,
		bench_buffers_name(rep->opts->buffers));
	for (size_t p = 0; p < sizeof(panel) / sizeof(panel[0]); p++) {
		if (p == 1)
			fprintf(g, "unset key\n");
		if (panel[p].col == 11)      /* all 0 when nothing leaked */
			fprintf(g, "set yrange [-1:*]\n");
		fprintf(g, "set title '%s'\nplot ", panel[p].title);
		for (int e = 0; e < rep->nengines; e++)
			fprintf(g, "%s'scale.dat' index %d using 1:%d with "
				"linespoints lw 2 title '%s'",
				e ? ", \\\n     " : "", e, panel[p].col,
				rep->engines[e]);
		fprintf(g, "\n");
	}
	fprintf(g, "unset multiplot\n");
	fclose(g);
	return bench__gnuplot(dir, "scale");
}

/* ---- the command ---------------------------------------------------------------------------- */

static void scale_summarise(const struct scale_sample *s, int rounds,
			    struct bench_scale_row *r)
{
	double v[BENCH_MAX_ROUNDS];

	for (int f = 0; f < BENCH_SC_COUNT; f++) {
		int n = 0;
		for (int k = 0; k < rounds; k++)
			if (s[k].ok)
				v[n++] = s[k].v[f];
		r->rounds_ok = n;
		if (n > 0)
			bench__stats(v, n, &r->med[f], &r->min[f], &r->max[f]);
	}
}

/* The sweep with C = active added where it is missing. */
static int scale_counts(const struct bench_scale_opts *o, unsigned *out,
			bool *added)
{
	int n = 0;

	*added = true;
	for (int i = 0; i < o->nsweep; i++) {
		if (o->sweep[i] == o->active)
			*added = false;
		if (*added && o->sweep[i] > o->active &&
		    (n == 0 || out[n - 1] < o->active))
			out[n++] = o->active;
		out[n++] = o->sweep[i];
	}
	if (*added && (n == 0 || out[n - 1] < o->active))
		out[n++] = o->active;
	return n;
}

static int scale_real(const struct bench_scale_opts *o,
		      struct bench_scale_report *rep)
{
	static struct scale_sample samples[BENCH_MAX_ENGINES][BENCH_MAX_ROUNDS];
	const struct bench_variant *v[BENCH_MAX_ENGINES];
	unsigned counts[BENCH_SCALE_MAX_SWEEP + 1];
	bool added;
	int nv = bench__select(&o->base, v, BENCH_MAX_ENGINES);
	int nc = scale_counts(o, counts, &added);
	struct bench_pin pin;

	rep->fd_limit = cli_raise_nofile();
	for (int i = 0; i < nv; i++)
		rep->engines[rep->nengines++] = v[i]->label;
	signal(SIGPIPE, SIG_IGN);
	bench__pin_begin(&o->base, &pin);
	for (int c = 0; c < nc; c++) {
		if (!bench_scale_fits(counts[c], rep->fd_limit)) {
			bench__progress_done(&o->base);
			bench_scale_print_unfit(stdout, counts[c],
						rep->fd_limit);
			fflush(stdout);
			rep->skipped[rep->nskipped++] = counts[c];
			continue;
		}
		for (int r = 0; r < o->base.rounds; r++) {
			for (int k = 0; k < nv; k++) {
				int i = bench__turn(r, k, nv);
				char what[48];
				snprintf(what, sizeof(what), "%s C=%u",
					 v[i]->label, counts[c]);
				bench__progress(&o->base, "scale", r + 1, what,
						(c * o->base.rounds + r) * nv +
						k + 1,
						nc * o->base.rounds * nv);
				scale_run_one(v[i], o, counts[c], &pin,
					      &samples[i][r]);
			}
		}
		for (int i = 0; i < nv; i++) {
			struct bench_scale_row *row = &rep->row[rep->nrows++];
			memset(row, 0, sizeof(*row));
			row->engine = v[i]->label;
			row->conns = counts[c];
			row->reference = added && counts[c] == o->active;
			scale_summarise(samples[i], o->base.rounds, row);
		}
	}
	bench__pin_end(&pin);
	bench__progress_done(&o->base);
	return nv;
}

int bench_scale_main(int argc, char **argv)
{
	struct bench_scale_opts o;
	struct bench_scale_report *rep;
	int rc = 0;

	bench_scale_opts_default(&o);
	bench_scale_parse(argc, argv, &o);
	if (o.base.plot_dir != NULL && !cli_have_program("gnuplot"))
		fprintf(stderr, "pushpoll: --plot: "
			CLI_INSTALL_HINT("gnuplot", "gnuplot-nox")
			": the plots' scripts and data are written, no PNG\n");
	if (o.base.json != NULL)
		cli_output_file("--json", o.base.json);
	if (o.base.csv != NULL)
		cli_output_file("--csv", o.base.csv);
	if (o.base.plot_dir != NULL)
		cli_output_dir("--plot", o.base.plot_dir);
	if (o.backend == BENCH_BACKEND_SIM)
		return bench_scale_sim(&o);
	rep = calloc(1, sizeof(*rep));
	if (rep == NULL) {
		fprintf(stderr, "pushpoll: bench scale: out of memory\n");
		return EXIT_MEASURED_FAILURE;
	}
	rep->opts = &o;
	if (scale_real(&o, rep) == 0) {
		free(rep);
		cli_usage_error("--engines %s names no engine", o.base.engines);
	}
	for (int i = 0; i < rep->nrows; i++)
		if (rep->row[i].rounds_ok < o.base.rounds)
			rc = EXIT_MEASURED_FAILURE;
	if (rep->nrows > 0) {
		scale_print_table(stdout, rep);
		scale_print_targets(stdout, rep);
	}
	fflush(stdout);
	if (o.base.json != NULL && scale_save_json(o.base.json, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	if (o.base.csv != NULL && scale_save_csv(o.base.csv, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	if (o.base.plot_dir != NULL && rep->nrows > 0 &&
	    scale_plot(o.base.plot_dir, rep) < 0)
		rc = EXIT_MEASURED_FAILURE;
	free(rep);
	return rc;
}
