/* bench_target.c: servers the bench did not build, as rows of its echo and
 * churn tables.
 *
 *   --target NAME=HOST:PORT        a server already running, anywhere: the
 *                                  bench loads it and measures what a
 *                                  client sees (throughput, latency); its
 *                                  CPU and heap are not the bench's to see.
 *   --target 'NAME=cmd:COMMAND'    a server the bench starts for each round,
 *                                  as it starts its own: "{port}" in
 *                                  COMMAND becomes a free port on 127.0.0.1,
 *                                  the server is pinned to the servers' CPU,
 *                                  and stopped (SIGTERM to its process
 *                                  group, SIGKILL a second later) after the
 *                                  round.  Its CPU time is read through its
 *                                  CPU-time clock, its RSS from /proc, and
 *                                  its heap through the preload library
 *                                  pushpoll-memcount.so (compare/preload/
 *                                  memcount.h, and its limits there).
 *   tokio, tokio-mt                two such commands: the tokio echo servers
 *                                  of compare/tokio/, where they were built.
 *
 * COMMAND is run as `sh -c "exec COMMAND"`, so that a simple command
 * becomes the server process itself (its CPU clock is the server's).
 *
 * What can go wrong is the target's, not the bench's: it cannot be
 * reached, refuses, fails to start or to listen, closes connections early,
 * echoes wrong bytes, or stalls.  The first such problem is one line on
 * stderr naming the target, and the target's later rounds are skipped; the
 * other rows are measured as usual and the bench exits with 1.
 */
#include "config.h"      /* first: _GNU_SOURCE */

#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"
#include "loadgen.h"
#include "preload/memcount.h"

#ifndef BENCH_LIBEXEC_DIR
#define BENCH_LIBEXEC_DIR "/usr/local/libexec/pushpoll"
#endif

/* How long a started server has to start listening, and to exit once it
 * is asked to. */
#define LISTEN_WAIT_NS (5 * CLOCK_NS_PER_S)
#define STOP_WAIT_NS (1 * CLOCK_NS_PER_S)

/* ---- --target ---------------------------------------------------------------------- */

/* The text of every --target parsed, which the variants point into. */
static char stored[BENCH_MAX_TARGETS][1024];
static int nstored;

void bench__parse_target(const char *spec, struct bench_variant *v)
{
	const char *eq = strchr(spec, '=');
	size_t nlen = eq ? (size_t)(eq - spec) : 0;
	char *name, *rest;

	memset(v, 0, sizeof(*v));
	if (eq == NULL || nlen == 0 || nlen > 16)
		cli_usage_error("--target wants NAME=HOST:PORT or "
				"NAME=cmd:COMMAND (NAME of 1 to 16 "
				"characters), not '%s'", spec);
	if (nstored == BENCH_MAX_TARGETS)
		cli_usage_error("--target: at most %d targets",
				BENCH_MAX_TARGETS);
	if (strlen(spec) >= sizeof(stored[0]))
		cli_usage_error("--target: '%.40s...' is too long", spec);
	/* "NAME\0REST": v points into it, for the life of the process. */
	name = stored[nstored++];
	strcpy(name, spec);
	name[nlen] = '\0';
	rest = name + nlen + 1;
	for (const char *p = name; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			cli_usage_error("--target: name '%s' may hold only "
					"letters, digits, '-', '_' and '.'",
					name);
	if (bench__is_variant(name))
		cli_usage_error("--target: '%s' is the name of a row the "
				"bench has already", name);
	v->label = name;
	if (strncmp(rest, "cmd:", 4) == 0) {
		v->command = rest + 4;
		if (strstr(v->command, "{port}") == NULL)
			cli_usage_error("--target %s: the command must say "
					"where to listen with {port}: '%s'",
					name, v->command);
		return;
	}
	char *colon = strrchr(rest, ':');
	if (colon == NULL || colon == rest)
		cli_usage_error("--target %s: '%s' is neither HOST:PORT nor "
				"cmd:COMMAND", name, rest);
	*colon = '\0';
	v->port = (uint16_t)cli_uint("--target PORT", colon + 1, 1, 65535);
	v->host = cli_host("--target HOST", rest);
}

/* ---- the tokio rows ------------------------------------------------------------------ */

/* The path of a program installed beside this one's helpers: in the build
 * tree beside the pushpoll binary, once installed in pkglibexecdir. */
static bool helper_path(const char *name, char *buf, size_t len)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(buf, len, "%s/%s", exe, name) <
				    len && access(buf, R_OK) == 0)
				return true;
		}
	}
	snprintf(buf, len, "%s/%s", BENCH_LIBEXEC_DIR, name);
	return access(buf, R_OK) == 0;
}

int bench__tokio_rows(const struct bench_variant **out, int max,
		      const char **why)
{
#ifdef HAVE_TOKIO
	static struct bench_variant rows[2];
	static char cmd[2][4200];
	static int n = -1;
	static const char *missing;
	static const char *const bins[2] = { "tokio-echo", "tokio-echo-mt" };
	static const char *const labels[2] = { "tokio", "tokio-mt" };

	if (n < 0) {
		n = 0;
		for (int i = 0; i < 2; i++) {
			char path[4096];
			if (!helper_path(bins[i], path, sizeof(path))) {
				missing = "tokio rows left out: tokio-echo is "
					  "not built beside pushpoll nor "
					  "installed (make builds it)";
				n = 0;
				break;
			}
			snprintf(cmd[i], sizeof(cmd[i]),
				 "'%s' 127.0.0.1:{port}", path);
			rows[n].label = labels[i];
			rows[n].command = cmd[i];
			n++;
		}
	}
	*why = missing;
	for (int i = 0; i < n && i < max; i++)
		out[i] = &rows[i];
	return n < max ? n : max;
#else
	(void)out;
	(void)max;
	*why = "tokio rows left out: this build found no Rust toolchain with "
	       "Debian's tokio crate (scripts/install-deps tokio, then "
	       "configure again)";
	return 0;
#endif
}

/* ---- problems --------------------------------------------------------------------- */

void bench__load_problem(const struct loadgen_result *res, char *buf,
			 size_t len)
{
	unsigned conns = res->conns_ok + res->conns_failed;

	if (res->corrupt > 0)
		snprintf(buf, len, "echoed wrong bytes (%" PRIu64 " bytes "
			 "differ from those sent)", res->corrupt);
	else if (res->conns_closed > 0)
		snprintf(buf, len, "closed or reset %u of %u connections "
			 "early", res->conns_closed, conns);
	else if (res->missing > 0)
		snprintf(buf, len, "stalled: %" PRIu64 " bytes sent never "
			 "came back", res->missing);
	else if (res->extra > 0)
		snprintf(buf, len, "sent back %" PRIu64 " bytes it was never "
			 "sent", res->extra);
	else if (res->conns_failed > 0)
		snprintf(buf, len, "%u of %u connections failed to connect",
			 res->conns_failed, conns);
	else
		snprintf(buf, len, "completed no message in the measured "
			 "time");
}

int bench__probe(const char *host, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		struct addrinfo hints = { .ai_family = AF_INET,
					  .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai;
		if (getaddrinfo(host, NULL, &hints, &ai) != 0)
			return -EHOSTUNREACH;
		sa.sin_addr = ((struct sockaddr_in *)ai->ai_addr)->sin_addr;
		freeaddrinfo(ai);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, LOADGEN_CONNECT_S * 1000) <= 0)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
out:
	close(fd);
	return -err;
}

/* ---- a server the bench starts -------------------------------------------------- */

struct ext {
	pid_t pid;
	uint16_t port;
	struct memcount *mc;          /* the counter file, mapped */
	char mc_path[64];
	char err_path[64];            /* its stderr */
	clockid_t cpu;
	bool have_cpu;
	struct memcount snap[2];      /* at the start and end of measuring */
	uint64_t cpu_ns[2];
	double rss_kib;
	int marks;
};

/* A port free on 127.0.0.1 now (the kernel's choice for port 0). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* COMMAND with every {port} replaced, behind "exec ". */
static char *expand(const char *command, int port)
{
	size_t len = strlen(command) + 64;
	char *out, *o;

	for (const char *p = command; (p = strstr(p, "{port}")) != NULL; p++)
		len += 8;
	out = malloc(len);
	if (out == NULL)
		return NULL;
	o = out + sprintf(out, "exec ");
	for (const char *p = command; *p;) {
		if (strncmp(p, "{port}", 6) == 0) {
			o += sprintf(o, "%d", port);
			p += 6;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* The last line the server wrote on stderr, for the message. */
static void last_stderr_line(const struct ext *x, char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen(x->err_path, "r");

	buf[0] = '\0';
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0')
			snprintf(buf, len, ": %.150s", line);
	}
	fclose(f);
}

static const char *tmp_dir(void)
{
	const char *t = getenv("TMPDIR");

	return t != NULL && t[0] != '\0' ? t : "/tmp";
}

/* A zeroed page in a new temporary file, mapped shared: the counters the
 * preload library of the server writes. */
static int counters_create(struct ext *x)
{
	int fd;

	snprintf(x->mc_path, sizeof(x->mc_path), "%.40s/pushpoll-mc-XXXXXX",
		 tmp_dir());
	fd = mkstemp(x->mc_path);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, 4096) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	x->mc = mmap(NULL, sizeof(*x->mc), PROT_READ | PROT_WRITE,
		     MAP_SHARED, fd, 0);
	close(fd);
	if (x->mc == MAP_FAILED) {
		x->mc = NULL;
		return -errno;
	}
	return 0;
}

static void ext_cleanup(struct ext *x)
{
	if (x->mc != NULL)
		munmap(x->mc, sizeof(*x->mc));
	x->mc = NULL;
	if (x->mc_path[0] != '\0')
		unlink(x->mc_path);
	if (x->err_path[0] != '\0')
		unlink(x->err_path);
}

/* In the child: the preload library ahead of any the user set, the
 * counter file, the CPU, then the command. */
static _Noreturn void ext_exec(const struct ext *x, const char *cmdline,
			       const struct bench_pin *pin, int err_fd)
{
	char preload[4096], both[8192];
	const char *old = getenv("LD_PRELOAD");
	int null = open("/dev/null", O_RDWR);

	setpgid(0, 0);
	if (helper_path("pushpoll-memcount.so", preload, sizeof(preload))) {
		snprintf(both, sizeof(both), "%s%s%s", preload,
			 old != NULL && old[0] ? ":" : "", old ? old : "");
		setenv("LD_PRELOAD", both, 1);
		setenv(MEMCOUNT_ENV, x->mc_path, 1);
	}
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (err_fd >= 0)
		dup2(err_fd, STDERR_FILENO);
	bench__pin_server(pin);
	execl("/bin/sh", "sh", "-c", cmdline, (char *)NULL);
	_exit(127);
}

/* "exited with status 127" / "was killed by signal 11" */
static void exit_text(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(buf, len, "stopped");
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Start v's command and wait until it accepts a connection.  Returns 0, or
 * -1 with the problem in why. */
static int ext_start(struct ext *x, const struct bench_variant *v,
		     const struct bench_pin *pin, char *why, size_t len)
{
	char *cmdline;
	int port = free_port(), err_fd, status;
	uint64_t deadline;

	memset(x, 0, sizeof(*x));
	if (port < 0 || counters_create(x) < 0) {
		snprintf(why, len, "cannot be started: no free port or "
			 "temporary file (%s)", strerror(errno));
		ext_cleanup(x);
		return -1;
	}
	x->port = (uint16_t)port;
	snprintf(x->err_path, sizeof(x->err_path),
		 "%.40s/pushpoll-err-XXXXXX", tmp_dir());
	err_fd = mkstemp(x->err_path);
	if (err_fd < 0)
		x->err_path[0] = '\0';
	cmdline = expand(v->command, port);
	if (cmdline == NULL) {
		snprintf(why, len, "cannot be started: out of memory");
		if (err_fd >= 0)
			close(err_fd);
		ext_cleanup(x);
		return -1;
	}
	fflush(NULL);
	x->pid = fork();
	if (x->pid == 0)
		ext_exec(x, cmdline, pin, err_fd);
	free(cmdline);
	if (err_fd >= 0)
		close(err_fd);
	if (x->pid < 0) {
		snprintf(why, len, "cannot be started: %s", strerror(errno));
		ext_cleanup(x);
		return -1;
	}
	setpgid(x->pid, x->pid);    /* also here: no race with the kill */
	deadline = clock_now_ns() + LISTEN_WAIT_NS;
	for (;;) {
		char text[48], line[200];
		if (waitpid(x->pid, &status, WNOHANG) == x->pid) {
			exit_text(status, text, sizeof(text));
			last_stderr_line(x, line, sizeof(line));
			snprintf(why, len, "%s before it listened on port "
				 "%d%s", text, port, line);
			x->pid = 0;
			ext_cleanup(x);
			return -1;
		}
		if (bench__probe("127.0.0.1", x->port) == 0)
			break;
		if (clock_now_ns() >= deadline) {
			snprintf(why, len, "did not listen on port %d within "
				 "%.0f s", port, (double)LISTEN_WAIT_NS / 1e9);
			if (kill(-x->pid, SIGKILL) != 0)
				kill(x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
			x->pid = 0;
			ext_cleanup(x);
			return -1;
		}
		sleep_ms(20);
	}
	x->have_cpu = clock_getcpuclockid(x->pid, &x->cpu) == 0;
	return 0;
}

/* The loadgen hooks: snapshot the counters and the CPU clock. */
static void ext_mark(void *arg)
{
	struct ext *x = arg;
	struct timespec ts;
	int i = x->marks;

	if (i >= 2)
		return;
	if (x->mc != NULL) {
		const uint64_t *src = (const uint64_t *)x->mc;
		uint64_t *dst = (uint64_t *)&x->snap[i];
		for (size_t k = 0; k < sizeof(*x->mc) / 8; k++)
			dst[k] = __atomic_load_n(&src[k], __ATOMIC_ACQUIRE);
	}
	if (x->have_cpu && clock_gettime(x->cpu, &ts) == 0)
		x->cpu_ns[i] = (uint64_t)ts.tv_sec * CLOCK_NS_PER_S +
			       (uint64_t)ts.tv_nsec;
	else
		x->have_cpu = false;
	if (i == 1)
		x->rss_kib = bench__rss_kib(x->pid, NAN);
	x->marks++;
}

/* Stop the server.  Returns 0, or -1 with why set when it had exited on
 * its own during the run. */
static int ext_stop(struct ext *x, char *why, size_t len)
{
	int status, rc = 0;
	uint64_t deadline;

	if (waitpid(x->pid, &status, WNOHANG) == x->pid) {
		char text[48], line[200];
		exit_text(status, text, sizeof(text));
		last_stderr_line(x, line, sizeof(line));
		snprintf(why, len, "%s during the run%s", text, line);
		rc = -1;
	} else {
		/* Its process group, so that what it started goes too; the
		 * process alone if it left the group. */
		if (kill(-x->pid, SIGTERM) != 0)
			kill(x->pid, SIGTERM);
		deadline = clock_now_ns() + STOP_WAIT_NS;
		while (waitpid(x->pid, &status, WNOHANG) == 0) {
			if (clock_now_ns() >= deadline) {
				if (kill(-x->pid, SIGKILL) != 0)
					kill(x->pid, SIGKILL);
				waitpid(x->pid, &status, 0);
				break;
			}
			sleep_ms(5);
		}
	}
	x->pid = 0;
	ext_cleanup(x);
	return rc;
}

/* ---- one round ---------------------------------------------------------------------- */

/* The targets whose rounds a problem has ended. */
static const struct bench_variant *ended[BENCH_MAX_ENGINES];
static int nended;

static bool has_ended(const struct bench_variant *v)
{
	for (int i = 0; i < nended; i++)
		if (ended[i] == v)
			return true;
	return false;
}

static void end_with(const struct bench_opts *o, const struct bench_variant *v,
		     const char *problem)
{
	bench__progress_done(o);        /* off the progress line */
	if (v->command != NULL)
		fprintf(stderr, "pushpoll: bench: target %s (cmd: %s): %s\n",
			v->label, v->command, problem);
	else
		fprintf(stderr, "pushpoll: bench: target %s (%s:%u): %s\n",
			v->label, v->host, v->port, problem);
	if (nended < BENCH_MAX_ENGINES)
		ended[nended++] = v;
}

int bench__target_run(const struct bench_variant *v,
		      const struct bench_opts *o, const struct bench_pin *pin,
		      enum bench_mode mode, double fig[BENCH_F_COUNT],
		      struct hist *hist)
{
	struct loadgen_opts lo = {
		.conns = o->conns, .depth = o->depth, .msg_size = o->msg_size,
		.rate = mode == BENCH_CHURN ? 0 : o->rate,
		.warmup_ns = o->warmup_ns, .duration_ns = o->duration_ns,
	};
	struct loadgen_result *res;
	struct ext x = { 0 };
	char why[400];
	int load_rc, stop_rc = 0;

	for (int f = 0; f < BENCH_F_COUNT; f++)
		fig[f] = NAN;
	if (has_ended(v))
		return -1;
	res = malloc(sizeof(*res));
	if (res == NULL) {
		end_with(o, v, "out of memory in the bench");
		return -1;
	}
	if (v->command != NULL) {
		if (ext_start(&x, v, pin, why, sizeof(why)) != 0) {
			end_with(o, v, why);
			free(res);
			return -1;
		}
		lo.host = "127.0.0.1";
		lo.port = x.port;
		lo.on_measure = ext_mark;
		lo.on_end = ext_mark;
		lo.arg = &x;
	} else {
		int err = bench__probe(v->host, v->port);
		if (err != 0) {
			snprintf(why, sizeof(why), "%s",
				 err == -ECONNREFUSED ? "refused the connection"
				 : err == -ETIMEDOUT ? "unreachable: no answer "
						       "to a connect"
				 : strerror(-err));
			end_with(o, v, why);
			free(res);
			return -1;
		}
		lo.host = v->host;
		lo.port = v->port;
	}
	load_rc = mode == BENCH_CHURN ? loadgen_churn(&lo, res)
				      : loadgen_echo(&lo, res);
	if (v->command != NULL)
		stop_rc = ext_stop(&x, why, sizeof(why));
	if (load_rc != 0 || res->msgs == 0 || stop_rc != 0) {
		if (load_rc != 0 || res->msgs == 0)
			bench__load_problem(res, why, sizeof(why));
		end_with(o, v, why);
		free(res);
		return -1;
	}
	bench__load_figures(res, fig);
	if (v->command != NULL) {
		double msgs = (double)res->msgs;
		if (x.have_cpu && x.marks == 2)
			fig[BENCH_F_CPU] = (double)(x.cpu_ns[1] - x.cpu_ns[0]) /
					   msgs;
		if (x.snap[1].magic == MEMCOUNT_MAGIC) {
			fig[BENCH_F_ALLOCS] = (double)(x.snap[1].allocs -
						       x.snap[0].allocs) / msgs;
			fig[BENCH_F_BYTES] = (double)(x.snap[1].bytes -
						      x.snap[0].bytes) / msgs;
			fig[BENCH_F_PEAK] = (double)x.snap[1].peak_live_bytes /
					    1024.0;
		}
		fig[BENCH_F_RSS] = x.rss_kib;
	}
	if (hist != NULL)
		hist_merge(hist, &res->latency);
	free(res);
	return 0;
}
