/* bench_common.c: what the files of `pushpoll bench` share (bench.h,
 * "internal"): the engines it starts and how it starts them, where their
 * processes run, the medians and the progress line.  bench.c, bench_fanout.c,
 * bench_report.c and bench_plot.c call these; these call none of them.
 */
#include "config.h"      /* first: _GNU_SOURCE, for sched_setaffinity() */

#include "bench.h"
#include "completion.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loadgen.h"

/* ---- the engines ------------------------------------------------------------------ */

/* The floor first: every ratio is to it. */
static const struct bench_variant variants[] = {
	{ .label = "epoll", .engine = "epoll" },
	{ .label = "libuv", .engine = "libuv" },
	{ .label = "libevent", .engine = "libevent" },
	{ .label = "push", .engine = "push" },
	{ .label = "push-pooled", .engine = "push",
	  .flags = { "--alloc", "pooled", NULL } },
	{ .label = "poll", .engine = "poll" },
#ifdef HAVE_LIBURING
	{ .label = "uring", .engine = "uring", .needs_uring = true },
	{ .label = "push/uring", .engine = "push",
	  .flags = { "--backend", "uring", NULL }, .needs_uring = true,
	  .completion = true },
	{ .label = "poll/uring", .engine = "poll",
	  .flags = { "--backend", "uring", NULL }, .needs_uring = true,
	  .completion = true },
#endif
};

bool (*bench_engine_completion)(const char *engine, bool fanout);
#define NVARIANTS (int)(sizeof(variants) / sizeof(variants[0]))

bool bench_listed(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; p != NULL && *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Whether an io_uring ring can be set up here; the first time it cannot,
 * one line on stderr says why the uring rows are left out. */
static bool uring_usable(void)
{
	static int usable = -1;
	char why[COMPLETION_REASON_MAX];

	if (usable < 0) {
		usable = completion_uring_usable(why, sizeof why) == 0;
		if (!usable)
			fprintf(stderr, "bench: the uring rows are left out: "
				"%s\n", why);
	}
	return usable;
}

/* Whether v runs with --buffers ready here: not an engine that keeps a
 * receive, and its buffer, in flight on every connection, nor one over
 * io_uring where the kernel has no multishot recv into a provided buffer
 * ring (compare/engines.h); the first time one cannot, one line on stderr
 * says why it is left out. */
static bool variant_has_ready_mode(const struct bench_variant *v)
{
	static bool said;
	const char *why = NULL;

	if (v->conn_buffers_only)
		why = "it keeps a receive, and its buffer, in flight on every "
		      "connection";
#ifdef HAVE_LIBURING
	else if (v->needs_uring) {
		static int yes = -1;
		char reason[COMPLETION_REASON_MAX];
		struct completion *q;

		if (yes < 0) {
			yes = completion_new_uring(8, &q, reason,
						   sizeof reason) == 0 &&
			      completion_supports(q,
					COMPLETION_FEATURE_MULTISHOT_RECV);
			if (q != NULL)
				completion_free(q);
		}
		if (!yes)
			why = "this kernel's io_uring has no multishot recv "
			      "into a provided buffer ring (Linux 6.0)";
	}
#endif
	if (why == NULL)
		return true;
	if (!said)
		fprintf(stderr, "bench: %s is left out of --buffers ready: "
			"%s\n", v->label, why);
	said = true;
	return false;
}

int bench__select(const struct bench_opts *o,
		  const struct bench_variant **out, int max)
{
	int n = 0;

	for (int i = 0; i < NVARIANTS; i++) {
		if (o->engines != NULL &&
		    !bench_listed(o->engines, variants[i].label))
			continue;
		if (o->backend != NULL && i > 0 &&
		    variants[i].needs_uring != (strcmp(o->backend, "uring") == 0))
			continue;       /* the other backend's row */
		if (variants[i].completion &&
		    (bench_engine_completion == NULL ||
		     !bench_engine_completion(variants[i].engine, false)))
			continue;       /* no completion entry point (yet) */
		if (variants[i].needs_uring && !uring_usable())
			continue;
		if (o->buffers != NULL && strcmp(o->buffers, "ready") == 0 &&
		    !variant_has_ready_mode(&variants[i]))
			continue;
		if (n < max && n < BENCH_MAX_ENGINES)
			out[n++] = &variants[i];
	}
	return n;
}

int bench__select_echo(const struct bench_opts *o,
		       const struct bench_variant **out, int max)
{
	const struct bench_variant *tokio[2];
	const char *why;
	int n = bench__select(o, out, max);
	int nt = bench__tokio_rows(tokio, 2, &why);

	if (max > BENCH_MAX_ENGINES)
		max = BENCH_MAX_ENGINES;
	for (int i = 0; i < nt; i++)
		if ((o->engines == NULL || bench_listed(o->engines,
							tokio[i]->label)) &&
		    n < max)
			out[n++] = tokio[i];
	for (int i = 0; i < o->ntargets && n < max; i++)
		out[n++] = &o->targets[i];
	return n;
}

bool bench__is_fanout_tool(const char *name)
{
	return strcmp(name, "tee") == 0 || strcmp(name, "socat") == 0;
}

bool bench__is_variant(const char *label)
{
	for (int i = 0; i < NVARIANTS; i++)
		if (strcmp(label, variants[i].label) == 0)
			return true;
	return strcmp(label, "tokio") == 0 || strcmp(label, "tokio-mt") == 0;
}

/* ---- figures ------------------------------------------------------------------- */

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

void bench__load_figures(const struct loadgen_result *res,
			 double fig[BENCH_F_COUNT])
{
	double secs = (double)res->elapsed_ns / 1e9;

	for (int f = 0; f < BENCH_F_COUNT; f++)
		fig[f] = NAN;
	fig[BENCH_F_MSGS] = (double)res->msgs / secs;
	fig[BENCH_F_MB] = (double)res->bytes / secs / 1e6;
	fig[BENCH_F_P50] = us(hist_percentile(&res->latency, 50));
	fig[BENCH_F_P90] = us(hist_percentile(&res->latency, 90));
	fig[BENCH_F_P99] = us(hist_percentile(&res->latency, 99));
	fig[BENCH_F_P999] = us(hist_percentile(&res->latency, 99.9));
	fig[BENCH_F_MAX] = us(hist_percentile(&res->latency, 100));
}

/* ---- the server child's process ------------------------------------------------- */

const char *bench__self(void)
{
	return "/proc/self/exe";
}

/* The child closes the pipe's ends through O_CLOEXEC when it execs. */
int bench__spawn(const char *const argv[], const struct bench_pin *pin,
		 bool stderr_too, pid_t *pid)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		int err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (*pid == 0) {
		int err_fd = stderr_too ? fds[1]
					    : open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(fds[1], STDOUT_FILENO);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		bench__pin_server(pin);
		execv(bench__self(), (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/* ---- CPU placement ---------------------------------------------------------------- */

/* On a small machine the load generator costs a server as much as the
 * server itself (on loopback each side's send() also runs the other side's
 * receive path), and where the scheduler puts the two changes every figure:
 * sharing a CPU, they take turns; on two, they pay for waking each other.
 * Pinning keeps that placement the same for every engine and every round:
 * the server alone on the last allowed CPU, the load generator on the
 * others. */
int bench__serve_spawn(const char *const argv[], const struct bench_pin *pin,
		       pid_t *pid, FILE **out, uint16_t *port)
{
	char line[256];
	int fd = bench__spawn(argv, pin, false, pid);

	if (fd < 0)
		return fd;
	*out = fdopen(fd, "r");
	while (*out != NULL && fgets(line, sizeof(line), *out) != NULL) {
		unsigned p;
		if (sscanf(line, "listening %*[^:]:%u", &p) == 1) {
			*port = (uint16_t)p;
			return 0;
		}
	}
	kill(*pid, SIGKILL);
	if (*out != NULL)
		fclose(*out);
	else
		close(fd);
	*out = NULL;
	waitpid(*pid, NULL, 0);
	return -EIO;
}

double bench__rss_kib(pid_t pid, double unknown)
{
	char path[64], line[256];
	double kib = unknown;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return unknown;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %lf", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

_Static_assert(sizeof(cpu_set_t) <= sizeof(((struct bench_pin *)0)->saved),
	       "bench_pin.saved holds a cpu_set_t");

int bench__pin_cpu(const struct bench_opts *o)
{
	cpu_set_t all;
	int last = -1;

	if (!o->pin || sched_getaffinity(0, sizeof(all), &all) != 0 ||
	    CPU_COUNT(&all) < 2)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			last = c;
	return last;
}

void bench__pin_begin(const struct bench_opts *o, struct bench_pin *p)
{
	cpu_set_t all, rest;
	int last = bench__pin_cpu(o);

	p->active = false;
	if (last < 0 || sched_getaffinity(0, sizeof(all), &all) != 0)
		return;
	rest = all;
	CPU_CLR(last, &rest);
	if (sched_setaffinity(0, sizeof(rest), &rest) != 0)
		return;
	memcpy(p->saved, &all, sizeof(all));
	p->server_cpu = last;
	p->active = true;
}

void bench__pin_server(const struct bench_pin *p)
{
	cpu_set_t one;

	if (!p->active)
		return;
	CPU_ZERO(&one);
	CPU_SET(p->server_cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
}

void bench__pin_end(struct bench_pin *p)
{
	cpu_set_t all;

	if (!p->active)
		return;
	memcpy(&all, p->saved, sizeof(all));
	sched_setaffinity(0, sizeof(all), &all);
	p->active = false;
}

/* ---- medians ------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void bench__stats(double *v, int n, double *med, double *min, double *max)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	*med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	*min = v[0];
	*max = v[n - 1];
}

int bench__paired_ratio(const double *a, const double *b, int rounds,
			struct bench_ratio *out)
{
	double v[BENCH_MAX_ROUNDS];
	int n = 0;

	for (int r = 0; r < rounds && r < BENCH_MAX_ROUNDS; r++)
		if (!isnan(a[r]) && !isnan(b[r]) && b[r] > 0)
			v[n++] = a[r] / b[r];
	out->n = n;
	out->med = out->min = out->max = NAN;
	if (n > 0)
		bench__stats(v, n, &out->med, &out->min, &out->max);
	return n;
}

enum bench_verdict bench__at_most(const struct bench_ratio *r, double limit)
{
	if (r->n == 0)
		return BENCH_EVEN;
	if (r->max <= limit)
		return BENCH_MET;
	if (r->min > limit)
		return BENCH_MISSED;
	return BENCH_EVEN;
}

enum bench_verdict bench__at_least(const struct bench_ratio *r, double limit)
{
	if (r->n == 0)
		return BENCH_EVEN;
	if (r->min >= limit)
		return BENCH_MET;
	if (r->max < limit)
		return BENCH_MISSED;
	return BENCH_EVEN;
}

/* ---- the progress line ----------------------------------------------------------- */

/* On a terminal, one line rewritten in place at every step; elsewhere (a
 * log, CI) one line per round, so that the log stays short. */
void bench__progress(const struct bench_opts *o, const char *workload,
		     int round, const char *engine, int step, int steps)
{
	static const char *last_workload;
	static int last_round;

	if (!o->progress)
		return;
	if (isatty(STDERR_FILENO)) {
		if (steps <= 0)
			fprintf(stderr, "\rbench %-7s preparing %-12s ",
				workload, engine);
		else
			fprintf(stderr, "\rbench %-7s round %d/%d  %-12s "
				"[%d/%d] ", workload, round, o->rounds,
				engine, step, steps);
	} else if (steps > 0 && (round != last_round ||
				 workload != last_workload)) {
		fprintf(stderr, "bench %s: round %d/%d\n", workload, round,
			o->rounds);
		last_round = round;
		last_workload = workload;
	}
	fflush(stderr);
}

void bench__progress_done(const struct bench_opts *o)
{
	if (o->progress && isatty(STDERR_FILENO))
		fprintf(stderr, "\r%60s\r", "");
}

const struct bench_section *bench__section(const struct bench_report *rep,
					   const char *key)
{
	for (int i = 0; i < rep->nsec; i++)
		if (strcmp(rep->sec[i].key, key) == 0)
			return &rep->sec[i];
	return NULL;
}
