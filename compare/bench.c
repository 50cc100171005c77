/* bench.c: `pushpoll bench`: every engine measured the same way in one run.
 *
 * For each round, for each engine (interleaved, so that a noisy neighbour
 * hurts every engine alike), the bench starts `pushpoll serve echo` as a
 * child process, drives it with the load generator from this process, and
 * reads the server's own counters: the server snapshots its allocation
 * counters and CPU time on SIGUSR1 (sent when measuring starts and when it
 * ends) and prints both snapshots when it exits.  So every figure covers the
 * measured window only, never start-up or shutdown.
 *
 * Medians over the rounds are reported with their min and max.  Ratios are to
 * the first engine in the list (the epoll floor once it is there).
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "hist.h"
#include "loadgen.h"

#define MAX_ENGINES 8
#define MAX_ROUNDS 15

/* What one engine is started as: a name for the table and its flags. */
struct variant {
	const char *label;
	const char *engine;
	const char *flags[4];
};

static const struct variant variants[] = {
	{ "push", "push", { NULL } },
	{ "push-pooled", "push", { "--alloc", "pooled", NULL } },
	{ "poll", "poll", { NULL } },
};

/* One measured run of one engine. */
struct sample {
	double msgs_per_s;
	double mb_per_s;
	double p50_us, p90_us, p99_us, p999_us, max_us;
	double cpu_us_per_kmsg;     /* server CPU (user+sys) per 1000 messages */
	double allocs_per_msg;
	double bytes_per_msg;
	double peak_heap_kib;       /* the server's peak live heap */
	double rss_kib;             /* the server's resident set at the end */
	int ok;
};

/* The server's two snapshots, parsed from its output. */
struct mark {
	uint64_t allocs, bytes, cpu_ns;
	int64_t peak;
};

struct server {
	pid_t pid;
	FILE *out;
	uint16_t port;
	double rss_kib;
};

static const char *self_exe;

static int server_start(struct server *s, const struct variant *v,
			const struct bench_opts *o)
{
	int fds[2];
	char line[256];

	if (pipe(fds) != 0)
		return -errno;
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		const char *argv[16] = { self_exe, "serve", "echo", "--engine",
					 v->engine, "--port", "0" };
		int n = 7;
		for (int i = 0; v->flags[i] != NULL; i++)
			argv[n++] = v->flags[i];
		argv[n] = NULL;
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execv(self_exe, (char **)argv);
		_exit(127);
	}
	close(fds[1]);
	s->out = fdopen(fds[0], "r");
	while (fgets(line, sizeof(line), s->out) != NULL) {
		unsigned port;
		if (sscanf(line, "listening %*[^:]:%u", &port) == 1) {
			s->port = (uint16_t)port;
			return 0;
		}
	}
	(void)o;
	return -EIO;
}

static double read_rss_kib(pid_t pid)
{
	char path[64], line[256];
	double kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %lf", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void mark_start(void *arg)
{
	struct server *s = arg;

	kill(s->pid, SIGUSR1);
}

static void mark_end(void *arg)
{
	struct server *s = arg;

	kill(s->pid, SIGUSR1);
	s->rss_kib = read_rss_kib(s->pid);
}

/* Stop the server and read its snapshots. */
static int server_stop(struct server *s, struct mark m[2])
{
	char line[512];
	int status, seen = 0;

	kill(s->pid, SIGTERM);
	while (fgets(line, sizeof(line), s->out) != NULL) {
		unsigned i;
		struct mark x;
		if (sscanf(line, "mark %u allocs=%" SCNu64 " bytes=%" SCNu64
			   " peak_live_bytes=%" SCNd64 " cpu_ns=%" SCNu64,
			   &i, &x.allocs, &x.bytes, &x.peak, &x.cpu_ns) == 5 &&
		    i < 2) {
			m[i] = x;
			seen |= 1 << i;
		}
	}
	fclose(s->out);
	waitpid(s->pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || seen != 3)
		return -1;
	return 0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void run_one(const struct variant *v, const struct bench_opts *o,
		    struct sample *out)
{
	struct server s = { 0 };
	struct loadgen_opts lo = {
		.host = "127.0.0.1", .conns = o->conns, .depth = o->depth,
		.msg_size = o->msg_size, .rate = o->rate,
		.warmup_ns = o->warmup_ns, .duration_ns = o->duration_ns,
		.on_measure = mark_start, .on_end = mark_end, .arg = &s,
	};
	struct loadgen_result *res = malloc(sizeof(*res));
	struct mark m[2] = { { 0 } };
	int load_rc;

	memset(out, 0, sizeof(*out));
	if (res == NULL || server_start(&s, v, o) != 0) {
		fprintf(stderr, "pushpoll: bench: %s did not start\n",
			v->label);
		free(res);
		return;
	}
	lo.port = s.port;
	load_rc = loadgen_echo(&lo, res);
	if (server_stop(&s, m) != 0 || load_rc != 0 || res->msgs == 0) {
		fprintf(stderr, "pushpoll: bench: %s failed (%u connections "
			"failed, %" PRIu64 " bytes wrong)\n", v->label,
			res->conns_failed, res->corrupt);
		free(res);
		return;
	}
	double secs = (double)res->elapsed_ns / 1e9;
	double msgs = (double)res->msgs;
	out->msgs_per_s = msgs / secs;
	out->mb_per_s = (double)res->bytes / secs / 1e6;
	out->p50_us = us(hist_percentile(&res->latency, 50));
	out->p90_us = us(hist_percentile(&res->latency, 90));
	out->p99_us = us(hist_percentile(&res->latency, 99));
	out->p999_us = us(hist_percentile(&res->latency, 99.9));
	out->max_us = us(hist_percentile(&res->latency, 100));
	out->cpu_us_per_kmsg = (double)(m[1].cpu_ns - m[0].cpu_ns) / msgs;
	out->allocs_per_msg = (double)(m[1].allocs - m[0].allocs) / msgs;
	out->bytes_per_msg = (double)(m[1].bytes - m[0].bytes) / msgs;
	out->peak_heap_kib = (double)m[1].peak / 1024.0;
	out->rss_kib = s.rss_kib;
	out->ok = 1;
	free(res);
}

/* ---- medians and the table -------------------------------------------- */

enum { F_MSGS, F_MB, F_P50, F_P90, F_P99, F_P999, F_MAX, F_CPU, F_ALLOCS,
       F_BYTES, F_PEAK, F_RSS, F_COUNT };

static const struct {
	const char *name;   /* json/csv key */
	const char *head;   /* table heading */
	const char *fmt;
} fields[F_COUNT] = {
	{ "msgs_per_s", "msgs/s", "%10.0f" },
	{ "mb_per_s", "MB/s", "%7.1f" },
	{ "p50_us", "p50us", "%7.1f" },
	{ "p90_us", "p90us", "%7.1f" },
	{ "p99_us", "p99us", "%7.1f" },
	{ "p999_us", "p99.9us", "%8.1f" },
	{ "max_us", "maxus", "%8.0f" },
	{ "cpu_us_per_kmsg", "cpu-us/kmsg", "%11.1f" },
	{ "allocs_per_msg", "allocs/msg", "%10.3f" },
	{ "bytes_per_msg", "bytes/msg", "%9.1f" },
	{ "peak_heap_kib", "peakKiB", "%8.0f" },
	{ "rss_kib", "rssKiB", "%7.0f" },
};

static double field(const struct sample *s, int f)
{
	const double v[F_COUNT] = {
		s->msgs_per_s, s->mb_per_s, s->p50_us, s->p90_us, s->p99_us,
		s->p999_us, s->max_us, s->cpu_us_per_kmsg, s->allocs_per_msg,
		s->bytes_per_msg, s->peak_heap_kib, s->rss_kib,
	};
	return v[f];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct summary {
	double med[F_COUNT], min[F_COUNT], max[F_COUNT];
	int n;
};

static void summarise(const struct sample *s, int rounds, struct summary *out)
{
	double v[MAX_ROUNDS];

	memset(out, 0, sizeof(*out));
	for (int f = 0; f < F_COUNT; f++) {
		int n = 0;
		for (int r = 0; r < rounds; r++)
			if (s[r].ok)
				v[n++] = field(&s[r], f);
		out->n = n;
		if (n == 0)
			continue;
		qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
		out->med[f] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
		out->min[f] = v[0];
		out->max[f] = v[n - 1];
	}
}

static void print_table(FILE *f, const struct variant *v[], int nv,
			const struct summary *sum, const struct bench_opts *o)
{
	fprintf(f, "\necho: %u connections, %u in flight each, %zu-byte "
		"messages, %s, %.1f s x %d rounds (medians; [min..max] of "
		"msgs/s)\n\n", o->conns, o->depth, o->msg_size,
		o->rate ? "open loop" : "closed loop",
		(double)o->duration_ns / 1e9, o->rounds);
	fprintf(f, "%-12s", "engine");
	for (int k = 0; k < F_COUNT; k++)
		fprintf(f, " %*s", (int)strlen(fields[k].head) > 7 ?
			(int)strlen(fields[k].head) : 7, fields[k].head);
	fprintf(f, "  %-8s %s\n", "x first", "msgs/s range");
	for (int i = 0; i < nv; i++) {
		fprintf(f, "%-12s", v[i]->label);
		if (sum[i].n == 0) {
			fprintf(f, " failed in every round\n");
			continue;
		}
		for (int k = 0; k < F_COUNT; k++) {
			fputc(' ', f);
			fprintf(f, fields[k].fmt, sum[i].med[k]);
		}
		fprintf(f, "  %-8.2f [%.0f..%.0f]\n",
			sum[0].n ? sum[i].med[F_MSGS] / sum[0].med[F_MSGS] : 0,
			sum[i].min[F_MSGS], sum[i].max[F_MSGS]);
	}
}

static void save_json(const char *path, const struct variant *v[], int nv,
		      const struct summary *sum, const struct bench_opts *o)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --json %s: %s\n", path,
			strerror(errno));
		return;
	}
	fprintf(f, "{\"workload\":\"echo\",\"conns\":%u,\"depth\":%u,"
		"\"msg_size\":%zu,\"rate\":%" PRIu64 ",\"duration_s\":%.3f,"
		"\"rounds\":%d,\"engines\":[", o->conns, o->depth, o->msg_size,
		o->rate, (double)o->duration_ns / 1e9, o->rounds);
	for (int i = 0; i < nv; i++) {
		fprintf(f, "%s{\"engine\":\"%s\",\"rounds_ok\":%d", i ? "," : "",
			v[i]->label, sum[i].n);
		for (int k = 0; k < F_COUNT; k++)
			fprintf(f, ",\"%s\":{\"median\":%.4f,\"min\":%.4f,"
				"\"max\":%.4f}", fields[k].name,
				sum[i].med[k], sum[i].min[k], sum[i].max[k]);
		fputc('}', f);
	}
	fprintf(f, "]}\n");
	fclose(f);
}

static void save_csv(const char *path, const struct variant *v[], int nv,
		     const struct summary *sum)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --csv %s: %s\n", path,
			strerror(errno));
		return;
	}
	fprintf(f, "engine,stat");
	for (int k = 0; k < F_COUNT; k++)
		fprintf(f, ",%s", fields[k].name);
	fputc('\n', f);
	for (int i = 0; i < nv; i++) {
		const double *row[3] = { sum[i].med, sum[i].min, sum[i].max };
		const char *stat[3] = { "median", "min", "max" };
		for (int s = 0; s < 3; s++) {
			fprintf(f, "%s,%s", v[i]->label, stat[s]);
			for (int k = 0; k < F_COUNT; k++)
				fprintf(f, ",%.4f", row[s][k]);
			fputc('\n', f);
		}
	}
	fclose(f);
}

void bench_opts_default(struct bench_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->conns = 50;
	o->depth = 1;
	o->msg_size = 64;
	o->warmup_ns = 500 * CLOCK_NS_PER_MS;
	o->duration_ns = 2 * CLOCK_NS_PER_S;
	o->rounds = 3;
}

int bench_echo(const struct bench_opts *o)
{
	const struct variant *v[MAX_ENGINES];
	static struct sample samples[MAX_ENGINES][MAX_ROUNDS];
	struct summary sum[MAX_ENGINES];
	int nv = 0, failed = 0;

	self_exe = "/proc/self/exe";
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		if (o->engines != NULL && !bench_listed(o->engines,
							variants[i].label))
			continue;
		v[nv++] = &variants[i];
	}
	if (nv == 0)
		cli_usage_error("--engines %s names no engine", o->engines);
	signal(SIGPIPE, SIG_IGN);
	for (int r = 0; r < o->rounds; r++) {
		for (int i = 0; i < nv; i++) {
			fprintf(stderr, "\rbench echo: round %d/%d, %-12s",
				r + 1, o->rounds, v[i]->label);
			fflush(stderr);
			run_one(v[i], o, &samples[i][r]);
		}
	}
	fprintf(stderr, "\r%60s\r", "");
	for (int i = 0; i < nv; i++) {
		summarise(samples[i], o->rounds, &sum[i]);
		if (sum[i].n < o->rounds)
			failed = 1;
	}
	print_table(stdout, v, nv, sum, o);
	if (o->json != NULL)
		save_json(o->json, v, nv, sum, o);
	if (o->csv != NULL)
		save_csv(o->csv, v, nv, sum);
	return failed ? EXIT_MEASURED_FAILURE : 0;
}

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
