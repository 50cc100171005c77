/* bench_report.c: what `pushpoll bench` prints and saves: the tables, the
 * targets with their verdicts, and every figure as JSON and as CSV.
 *
 * Every verdict is computed here from the medians of the run, never
 * written by hand; a target whose engines were not measured is left out.
 */
#include "bench.h"
#include "syscount.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* ---- names and units --------------------------------------------------------- */

/* The JSON and CSV names of the figures, in enum order. */
static const char *const echo_keys[BENCH_F_COUNT] = {
	"msgs_per_s", "mb_per_s", "p50_us", "p90_us", "p99_us", "p999_us",
	"max_us", "cpu_us_per_kmsg", "allocs_per_msg", "bytes_per_msg",
	"peak_heap_kib", "rss_kib",
};

static const char *const fanout_keys[BENCH_FF_COUNT] = {
	"mb_per_s", "elapsed_ms", "ttfb_p50_ms", "ttfb_max_ms", "cpu_ms",
	"allocs", "peak_heap_kib", "peak_chunks", "max_rss_kib", "user_ms",
	"sys_ms",
};

static const char *kind_name(unsigned kind)
{
	return kind == BENCH_SINK_TCP ? "tcp" : "file";
}

/* "8 MiB", "512 KiB", "100 B" */
static const char *size_text(uint64_t n, char *buf, size_t len)
{
	if (n >= (1 << 20) && n % (1 << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", n >> 20);
	else if (n >= 1024 && n % 1024 == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", n >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " B", n);
	return buf;
}

/* Where the servers ran, for the headings. */
static const char *placement(const struct bench_opts *o)
{
	static char text[96];
	int cpu = bench__pin_cpu(o);

	if (cpu < 0)
		return "servers and load generator placed by the scheduler";
	snprintf(text, sizeof(text), "servers pinned to CPU %d, the load "
		 "generator to the other CPUs", cpu);
	return text;
}

static const struct bench_summary *find(const struct bench_summary *s,
					int n, const char *engine)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s[i].engine, engine) == 0 && s[i].rounds_ok > 0)
			return &s[i];
	return NULL;
}

/* ---- echo and churn tables ------------------------------------------------------ */

/* v with prec decimals into buf, or "-" for a figure not measured (NAN). */
static const char *cell(char *buf, double v, int prec)
{
	if (isnan(v) || isinf(v))
		snprintf(buf, 24, "-");
	else
		snprintf(buf, 24, "%.*f", prec, v);
	return buf;
}

/* "read 1.00, write 1.00, epoll_wait 0.04": the most frequent calls of e. */
static const char *sys_top_text(const struct bench_summary *e, char *buf,
				size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < e->nsys && n < len; k++) {
		char name[32];
		n += (size_t)snprintf(buf + n, len - n, "%s%s %.2f",
				      k ? ", " : "",
				      syscount_label(e->sys_nr[k], name,
						     sizeof(name)),
				      e->sys_per_msg[k]);
	}
	return buf;
}

/* The system calls per message of a traced section, or the one line that
 * says why they were not counted. */
static void print_syscalls(FILE *f, const struct bench_report *rep,
			   const struct bench_section *sec)
{
	const struct bench_summary *s = sec->sum;
	const struct bench_summary *floor = NULL;
	const char *why = bench__syscalls_why();
	bool any = false, some_not = false;
	char top[160], c[4][24];

	for (int i = 0; i < sec->n; i++) {
		if (s[i].rounds_ok == 0)
			continue;
		if (isnan(s[i].syscalls)) {
			some_not = true;
			continue;
		}
		any = true;
		if (floor == NULL && i == 0)
			floor = &s[i];
	}
	if (!any) {
		fprintf(f, "\nsystem calls per message: not counted: %s\n",
			why != NULL ? why : "no server completed its traced "
			"round");
		return;
	}
	fprintf(f, "\nsystem calls per message, the server's, all threads, "
		"counted (ptrace) between its two marks in one more round of "
		"%.1f s;\nexact counts, but tracing slows a server by its "
		"calls (\"slowed\": untraced msgs/s over traced), and a loop "
		"slowed\nfinds more connections ready per wait than untraced, "
		"so its waits per message are fewer:\n",
		(double)bench__traced_ns(rep->opts) / 1e9);
	fprintf(f, "%-12s %9s %7s %9s %7s  %s\n", "engine", "calls/msg",
		"x floor", "msgs", "slowed", "most frequent (per message)");
	for (int i = 0; i < sec->n; i++) {
		const struct bench_summary *e = &s[i];
		if (e->rounds_ok == 0)
			continue;
		fprintf(f, "%-12s %9s %7s %9s %7s  %s\n", e->engine,
			cell(c[0], e->syscalls, 3),
			floor != NULL ? cell(c[1], e->syscalls /
					     floor->syscalls, 2) : "-",
			isnan(e->syscalls) ? "-" : cell(c[2], e->sys_msgs, 0),
			isnan(e->syscalls) ? "-"
			: cell(c[3], e->med[BENCH_F_MSGS] / e->sys_msgs_per_s,
			       1),
			isnan(e->syscalls) ? "" : sys_top_text(e, top,
								sizeof(top)));
	}
	if (why != NULL)
		fprintf(f, "(not counted: %s)\n", why);
	else if (some_not)
		fprintf(f, "(-: not counted: a server the bench did not start "
			"as `pushpoll serve`, or its traced round failed)\n");
}

void bench__print_section(FILE *f, const struct bench_report *rep,
			  const struct bench_section *sec)
{
	const struct bench_opts *o = rep->opts;
	const struct bench_summary *s = sec->sum;
	const struct bench_summary *floor = sec->n > 0 && s[0].rounds_ok > 0
					    ? &s[0] : NULL;
	bool churn = sec->mode == BENCH_CHURN;
	char range[48];

	if (churn)
		fprintf(f, "\nchurn: %u exchanges at once, each on a new "
			"connection (connect, one %zu-byte message, "
			"half-close, echo, close);\n", o->conns, o->msg_size);
	else if (sec->rate)
		fprintf(f, "\necho, open loop: %" PRIu64 " messages/s in all "
			"over %u connections, %zu bytes each, for every "
			"engine alike;\nlatency from the intended send time;\n",
			sec->rate, o->conns, o->msg_size);
	else
		fprintf(f, "\necho, closed loop: %u connections, %u message%s "
			"of %zu bytes in flight on each;\n", o->conns,
			o->depth, o->depth == 1 ? "" : "s", o->msg_size);
	fprintf(f, "%.1f s measured x %d rounds, engines interleaved; medians "
		"[min..max]; ratios to %s;\n%s\n\n",
		(double)sec->duration_ns / 1e9, sec->rounds,
		floor ? floor->engine : "(none)", placement(o));

	fprintf(f, "%-12s %11s %7s  %-19s %6s %8s %8s %8s %9s %8s\n",
		"engine", churn ? "conns/s" : "msgs/s", "x floor",
		"[min..max]", "MB/s", "p50 us", "p90 us", "p99 us",
		"p99.9 us", "max us");
	for (int i = 0; i < sec->n; i++) {
		const struct bench_summary *e = &s[i];
		if (e->rounds_ok == 0) {
			fprintf(f, "%-12s failed in every round\n", e->engine);
			continue;
		}
		snprintf(range, sizeof(range), "[%.0f..%.0f]",
			 e->min[BENCH_F_MSGS], e->max[BENCH_F_MSGS]);
		fprintf(f, "%-12s %11.0f %7.2f  %-19s %6.1f %8.1f %8.1f %8.1f "
			"%9.1f %8.0f%s\n", e->engine, e->med[BENCH_F_MSGS],
			floor ? e->med[BENCH_F_MSGS] / floor->med[BENCH_F_MSGS]
			      : 0, range, e->med[BENCH_F_MB],
			e->med[BENCH_F_P50], e->med[BENCH_F_P90],
			e->med[BENCH_F_P99], e->med[BENCH_F_P999],
			e->med[BENCH_F_MAX],
			e->rounds_ok < sec->rounds ? "  (some rounds failed)"
						   : "");
	}
	fprintf(f, "\n%-12s %11s %7s  %-17s %12s %11s %13s %8s\n", "engine",
		churn ? "cpu us/conn" : "cpu ns/msg", "x floor", "[min..max]",
		churn ? "allocs/conn" : "allocs/msg",
		churn ? "bytes/conn" : "bytes/msg", "peak heap KiB",
		"RSS KiB");
	for (int i = 0; i < sec->n; i++) {
		const struct bench_summary *e = &s[i];
		double scale = churn ? 1000.0 : 1.0;
		int prec = churn ? 1 : 0;
		char c[6][24];
		if (e->rounds_ok == 0)
			continue;
		if (isnan(e->med[BENCH_F_CPU]))
			snprintf(range, sizeof(range), "-");
		else
			snprintf(range, sizeof(range), "[%.*f..%.*f]",
				 prec, e->min[BENCH_F_CPU] / scale,
				 prec, e->max[BENCH_F_CPU] / scale);
		fprintf(f, "%-12s %11s %7s  %-17s %12s %11s %13s %8s\n",
			e->engine,
			cell(c[0], e->med[BENCH_F_CPU] / scale, prec),
			floor ? cell(c[1], e->med[BENCH_F_CPU] /
					   floor->med[BENCH_F_CPU], 2) : "-",
			range, cell(c[2], e->med[BENCH_F_ALLOCS], 3),
			cell(c[3], e->med[BENCH_F_BYTES], 1),
			cell(c[4], e->med[BENCH_F_PEAK], 0),
			cell(c[5], e->med[BENCH_F_RSS], 0));
	}
	for (int i = 0; i < sec->n; i++)
		if (s[i].rounds_ok > 0 && (isnan(s[i].med[BENCH_F_CPU]) ||
					   isnan(s[i].med[BENCH_F_ALLOCS]))) {
			fprintf(f, "(-: not measured: the CPU and heap of a "
				"server the bench did not start, the heap of "
				"one that did not load pushpoll-memcount.so)\n");
			break;
		}
	if (sec->traced)
		print_syscalls(f, rep, sec);
}

/* ---- the fanout table ------------------------------------------------------------ */

double bench__fanout_bound_kib(const struct bench_opts *o)
{
	return (double)o->window * (double)o->chunk_size / 1024.0 + 64.0 +
	       4.0 * o->sinks;
}

/* The summary of (engine, kind, size), or NULL. */
static const struct bench_fanout_summary *
fanout_find(const struct bench_report *rep, const char *engine,
	    unsigned kind, uint64_t size)
{
	for (int i = 0; i < rep->nfanout; i++) {
		const struct bench_fanout_summary *s = &rep->fanout[i];
		if (s->sink_kind == kind && s->file_size == size &&
		    strcmp(s->engine, engine) == 0)
			return s;
	}
	return NULL;
}

/* Is the engine's peak heap within the bound at every size, for kind? */
static bool fanout_bounded(const struct bench_report *rep,
			   const char *engine, unsigned kind)
{
	const struct bench_opts *o = rep->opts;

	for (int z = 0; z < o->nsizes; z++) {
		const struct bench_fanout_summary *s =
			fanout_find(rep, engine, kind, o->file_size[z]);
		if (s == NULL || s->rounds_ok == 0 ||
		    s->max[BENCH_FF_PEAK] > bench__fanout_bound_kib(o))
			return false;
	}
	return true;
}

/* CPU per MiB delivered (file size x sinks), ms. */
static double per_mib(const struct bench_opts *o,
		      const struct bench_fanout_summary *s, int k)
{
	return s->med[k] / ((double)s->file_size * o->sinks / (1 << 20));
}

/* The user-space CPU of each engine beside the kernel's, per MiB
 * delivered, per chunk read and per chunk delivered to one sink, for the
 * largest file: what the model itself costs, now that the checksum no
 * longer hides it. */
static void print_fanout_cpu(FILE *f, const struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	uint64_t big = o->file_size[o->nsizes - 1];
	uint64_t chunks = (big + o->chunk_size - 1) / o->chunk_size;
	const unsigned kinds[2] = { BENCH_SINK_TCP, BENCH_SINK_FILE };
	char a[32];

	fprintf(f, "\nfanout CPU, user space beside the kernel, %s file "
		"(%" PRIu64 " chunks, %u sinks); medians:\n",
		size_text(big, a, sizeof(a)), chunks, o->sinks);
	for (int k = 0; k < 2; k++) {
		if (!(o->sink_kinds & kinds[k]))
			continue;
		fprintf(f, "%-4s sinks    %8s %8s %9s %9s %9s %9s %10s %10s\n",
			kind_name(kinds[k]), "user ms", "sys ms", "user/MiB",
			"sys/MiB", "user/chk", "sys/chk", "user/s-chk",
			"sys/s-chk");
		for (int i = 0; i < rep->nfanout; i++) {
			const struct bench_fanout_summary *s = &rep->fanout[i];
			double u, y;
			if (s->sink_kind != kinds[k] || s->file_size != big ||
			    s->rounds_ok == 0)
				continue;
			u = s->med[BENCH_FF_USER];
			y = s->med[BENCH_FF_SYS];
			fprintf(f, "%-14s %8.1f %8.1f %6.3f ms %6.3f ms", s->engine,
				u, y, per_mib(o, s, BENCH_FF_USER),
				per_mib(o, s, BENCH_FF_SYS));
			if (s->tool) {
				/* Its own buffer size, not our chunks. */
				fprintf(f, " %9s %9s %10s %10s\n", "-", "-", "-",
					"-");
				continue;
			}
			fprintf(f, " %6.2f us %6.2f us %7.2f us %7.2f us\n",
				u * 1e3 / (double)chunks,
				y * 1e3 / (double)chunks,
				u * 1e3 / (double)(chunks * o->sinks),
				y * 1e3 / (double)(chunks * o->sinks));
		}
	}
	fprintf(f, "(/MiB: per MiB delivered, all sinks together; /chk: per "
		"chunk read; /s-chk: per chunk delivered to one sink; user and "
		"sys as wait4() gives them: the kernel splits the run time by "
		"where its clock ticks fell, so a few ms either way are "
		"noise)\n");
}

void bench__print_fanout(FILE *f, const struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	uint64_t big = o->file_size[o->nsizes - 1];
	char a[32], b[32], range[48];
	const unsigned kinds[2] = { BENCH_SINK_TCP, BENCH_SINK_FILE };

	fprintf(f, "\nfanout: %u sinks, %s chunks, window %u (%s); input "
		"files of", o->sinks, size_text(o->chunk_size, a, sizeof(a)),
		o->window, size_text((uint64_t)o->window * o->chunk_size, b,
				     sizeof(b)));
	for (int z = 0; z < o->nsizes; z++)
		fprintf(f, "%s %s", z ? "," : "",
			size_text(o->file_size[z], a, sizeof(a)));
	fprintf(f, ";\n%d rounds, engines interleaved; medians; throughput "
		"and times for the %s file;\n%s;\nbounded: peak heap at every "
		"size <= window + 64 KiB + 4 KiB per sink = %.0f KiB\n",
		o->rounds, size_text(big, a, sizeof(a)), placement(o),
		bench__fanout_bound_kib(o));
	for (int k = 0; k < 2; k++) {
		if (!(o->sink_kinds & kinds[k]))
			continue;
		fprintf(f, "\n%-4s sinks    %7s  %-13s %9s %9s %7s %7s %6s",
			kind_name(kinds[k]), "MB/s", "[min..max]",
			"ttfb p50", "ttfb max", "cpu ms", "allocs", "chunks");
		for (int z = 0; z < o->nsizes; z++) {
			char h[40];
			snprintf(h, sizeof(h), "heap KiB@%s",
				 size_text(o->file_size[z], a, sizeof(a)));
			fprintf(f, " %15s", h);
		}
		fprintf(f, " %8s  %s\n", "RSS KiB", "bounded");
		for (int i = 0; i < rep->nfanout; i++) {
			const struct bench_fanout_summary *s = &rep->fanout[i];
			if (s->sink_kind != kinds[k] || s->file_size != big)
				continue;
			fprintf(f, "%-14s", s->engine);
			if (s->rounds_ok == 0) {
				fprintf(f, " failed in every round\n");
				continue;
			}
			snprintf(range, sizeof(range), "[%.0f..%.0f]",
				 s->min[BENCH_FF_MB], s->max[BENCH_FF_MB]);
			fprintf(f, " %7.0f  %-13s %6.2f ms %6.2f ms %7.1f",
				s->med[BENCH_FF_MB], range,
				s->med[BENCH_FF_TTFB_P50],
				s->med[BENCH_FF_TTFB_MAX],
				s->med[BENCH_FF_CPU]);
			if (s->tool) {
				/* No figures of its own: the process only. */
				fprintf(f, " %7s %6s", "-", "-");
				for (int z = 0; z < o->nsizes; z++)
					fprintf(f, " %15s", "-");
				fprintf(f, " %8.0f  %s\n", s->med[BENCH_FF_RSS],
					"-");
				continue;
			}
			fprintf(f, " %7.0f %6.0f", s->med[BENCH_FF_ALLOCS],
				s->max[BENCH_FF_CHUNKS]);
			for (int z = 0; z < o->nsizes; z++) {
				const struct bench_fanout_summary *t =
					fanout_find(rep, s->engine, kinds[k],
						    o->file_size[z]);
				if (t == NULL || t->rounds_ok == 0)
					fprintf(f, " %15s", "-");
				else
					fprintf(f, " %15.0f",
						t->max[BENCH_FF_PEAK]);
			}
			fprintf(f, " %8.0f  %s%s\n", s->med[BENCH_FF_RSS],
				fanout_bounded(rep, s->engine, kinds[k])
				? "yes" : "NO",
				s->rounds_ok < o->rounds
				? "  (some rounds failed)" : "");
		}
	}
	fprintf(f, "(ttfb: time to first byte at a sink, ms, median and "
		"slowest of the sinks; heap: the highest peak of the rounds; "
		"chunks: the most in memory at once; tee and socat are the "
		"tools, timed as whole processes the same way)\n");
	print_fanout_cpu(f, rep);
}

/* ---- the targets ------------------------------------------------------------------- */

/* A comparison's outcome: clearly met, clearly missed, or even: the
 * medians fall the wrong way but the two engines' [min..max] over the
 * rounds overlap, so this run cannot tell them apart. */
enum verdict { MET, EVEN, MISSED };

static const char *verdict_name(enum verdict v)
{
	return v == MET ? "met" : v == EVEN ? "even (ranges overlap)"
			: "MISSED";
}

static void target_line(FILE *f, const char *what, const char *figures,
			enum verdict v)
{
	fprintf(f, "  %-52s %-28s %s\n", what, figures, verdict_name(v));
}

/* a at least as good as b on field k (higher is better when up). */
static enum verdict compare(const struct bench_summary *a,
			    const struct bench_summary *b, int k, bool up)
{
	if (b == NULL)
		return MET;
	if (up ? a->med[k] >= b->med[k] : a->med[k] <= b->med[k])
		return MET;
	if (up ? a->max[k] >= b->min[k] : a->min[k] <= b->max[k])
		return EVEN;
	return MISSED;
}

/* "x1.02, x0.97", with "-" for a ratio to an engine not measured. */
static void ratios(char *buf, size_t len, double a, double b)
{
	char x[16] = "-", y[16] = "-";

	if (!isnan(a))
		snprintf(x, sizeof(x), "x%.2f", a);
	if (!isnan(b))
		snprintf(y, sizeof(y), "x%.2f", b);
	snprintf(buf, len, "%s, %s", x, y);
}

static enum verdict worst(enum verdict x, enum verdict y)
{
	return x > y ? x : y;
}

/* poll beside tokio's current_thread runtime, the runtime whose model it
 * imitates: the four figures side by side and the target on CPU and
 * allocations per message.  Where tokio was wanted but is not built, the
 * one line that says how to get it.  Returns whether it printed a line. */
static bool print_tokio(FILE *f, const struct bench_report *rep,
			const struct bench_section *thr,
			const struct bench_section *lat)
{
	const struct bench_summary *p = find(thr->sum, thr->n, "poll");
	const struct bench_summary *t = find(thr->sum, thr->n, "tokio");
	const struct bench_summary *pl = find(lat->sum, lat->n, "poll");
	const struct bench_summary *tl = find(lat->sum, lat->n, "tokio");
	const struct bench_variant *rows[2];
	const char *why = NULL;
	char fig[96];

	if (bench__tokio_rows(rows, 2, &why) == 0) {
		if (why != NULL && (rep->opts->engines == NULL ||
				    bench_listed(rep->opts->engines, "tokio")))
			fprintf(f, "  %s\n", why);
		return why != NULL;
	}
	if (p == NULL || t == NULL)
		return false;
	fprintf(f, "  poll beside tokio (current_thread): msgs/s %.0f vs %.0f"
		", CPU ns/msg %.0f vs %.0f,\n    p99 us %.1f vs %.1f (%s loop),"
		" allocs/msg %.3f vs %.3f\n", p->med[BENCH_F_MSGS],
		t->med[BENCH_F_MSGS], p->med[BENCH_F_CPU], t->med[BENCH_F_CPU],
		pl ? pl->med[BENCH_F_P99] : NAN, tl ? tl->med[BENCH_F_P99] : NAN,
		lat->rate ? "open" : "closed", p->med[BENCH_F_ALLOCS],
		t->med[BENCH_F_ALLOCS]);
	if (isnan(t->med[BENCH_F_CPU]) || isnan(t->med[BENCH_F_ALLOCS])) {
		fprintf(f, "  %-52s %-28s %s\n", "poll at or below tokio's "
			"CPU and allocations per message",
			"tokio's side not measured", "MISSED");
		return true;
	}
	snprintf(fig, sizeof(fig), "CPU x%.2f, allocs %.3f vs %.3f",
		 p->med[BENCH_F_CPU] / t->med[BENCH_F_CPU],
		 p->med[BENCH_F_ALLOCS], t->med[BENCH_F_ALLOCS]);
	target_line(f, "poll at or below tokio's CPU and allocs per message",
		    fig, worst(compare(p, t, BENCH_F_CPU, false),
			       compare(p, t, BENCH_F_ALLOCS, false)));
	return true;
}

/* The fanout's CPU against tee's, in the same run: an engine delivering a
 * file to N file sinks should cost no more than the tool a user would type
 * instead. */
#define FANOUT_CPU_PER_TEE 1.10
/* User-space CPU per MiB delivered, ms, of every engine while each sink
 * hashed every byte it wrote (a byte-at-a-time FNV-1a): 0.17 s of user
 * time for a 32 MiB file to 4 file sinks, 128 MiB delivered, median of 5
 * runs of each engine (epoll 0.17, push 0.18, poll 0.16, libuv 0.18,
 * libevent 0.17 s).  The target is a tenth of it. */
#define FANOUT_USER_MS_PER_MIB_BEFORE 1.33

/* For the largest file, file sinks: each engine's CPU within
 * FANOUT_CPU_PER_TEE x tee's (when tee ran), and its user-space CPU per
 * MiB within a tenth of FANOUT_USER_MS_PER_MIB_BEFORE. */
static void fanout_cpu_targets(FILE *f, const struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	uint64_t big = o->file_size[o->nsizes - 1];
	const struct bench_fanout_summary *tee =
		fanout_find(rep, "tee", BENCH_SINK_FILE, big);
	const double user_max = FANOUT_USER_MS_PER_MIB_BEFORE / 10;
	char what[96], fig[96];

	if (tee != NULL && tee->rounds_ok == 0)
		tee = NULL;
	for (int i = 0; i < rep->nfanout; i++) {
		const struct bench_fanout_summary *s = &rep->fanout[i];
		double x, u;
		enum verdict v;
		if (s->tool || s->sink_kind != BENCH_SINK_FILE ||
		    s->file_size != big || s->rounds_ok == 0)
			continue;
		if (tee != NULL) {
			x = s->med[BENCH_FF_CPU] / tee->med[BENCH_FF_CPU];
			v = x <= FANOUT_CPU_PER_TEE ? MET
			    : s->min[BENCH_FF_CPU] <= FANOUT_CPU_PER_TEE *
						      tee->max[BENCH_FF_CPU]
			    ? EVEN : MISSED;
			snprintf(what, sizeof(what), "%s fanout CPU, %u file "
				 "sinks <= %.2f x tee", s->engine, o->sinks,
				 FANOUT_CPU_PER_TEE);
			snprintf(fig, sizeof(fig), "x%.2f (%.1f / %.1f ms)", x,
				 s->med[BENCH_FF_CPU], tee->med[BENCH_FF_CPU]);
			target_line(f, what, fig, v);
		}
		u = per_mib(o, s, BENCH_FF_USER);
		snprintf(what, sizeof(what), "%s fanout user CPU/MiB <= 1/10 "
			 "of %.2f ms", s->engine, FANOUT_USER_MS_PER_MIB_BEFORE);
		snprintf(fig, sizeof(fig), "%.3f ms (<= %.3f)", u, user_max);
		target_line(f, what, fig, u <= user_max ? MET : MISSED);
	}
	if (tee == NULL && (o->sink_kinds & BENCH_SINK_FILE))
		fprintf(f, "  (fanout CPU against tee: not measured, tee did "
			"not run)\n");
}

/* The io_uring targets.  The floor against the epoll floor: completion I/O
 * should save a fifth of the server's CPU per message (a liburing echo
 * server is reported at 1.3 to 1.4 times an epoll one's throughput on a
 * dedicated CPU).  Each engine over io_uring against that floor, within
 * what an abstraction may cost.  And fewer than one system call per
 * message for every io_uring row: the ring batches what readiness does one
 * call at a time.  The CPU ones are read round by round (cpu_within()):
 * the rows run interleaved, so a round's two figures saw the same load on
 * the machine, and the medians of two rows can fall either side of a
 * bound from one run to the next where each round's ratio swings across
 * it; such a target reads "even", not met or missed. */
#define URING_CPU_PER_EPOLL 0.80
#define COMPLETION_CPU_PER_FLOOR 1.05
#define COMPLETION_SYSCALLS_MAX 1.0

/* The engines over io_uring, by the rows' names: the floor, then each
 * engine's completion backend. */
static const char *const uring_rows[] = { "uring", "push/uring",
					  "poll/uring" };
#define NURING_ROWS 3

static void target_unmeasured(FILE *f, const char *what, const char *why)
{
	fprintf(f, "  %-52s not measured: %s\n", what, why);
}

/* A target on a's figure against limit x b's, from the ratios of the two
 * rows round by round: CPU per message at most (cpu: bench__at_most()),
 * else messages per second at least (bench__at_least()).  fig gets the
 * median ratio, its [min..max] and the rounds it comes from. */
static enum bench_verdict paired_target(const struct bench_summary *a,
					const struct bench_summary *b,
					bool cpu, double limit, char *fig,
					size_t len)
{
	struct bench_ratio r;
	int rounds = a->rounds < b->rounds ? a->rounds : b->rounds;

	if (bench__paired_ratio(cpu ? a->cpu_round : a->msgs_round,
				cpu ? b->cpu_round : b->msgs_round, rounds,
				&r) == 0)
		snprintf(fig, len, "no round of both");
	else
		snprintf(fig, len, "x%.2f [%.2f..%.2f], %d rounds", r.med,
			 r.min, r.max, r.n);
	return cpu ? bench__at_most(&r, limit) : bench__at_least(&r, limit);
}

/* "a's CPU per message within limit x b's". */
static enum bench_verdict cpu_within(const struct bench_summary *a,
				     const struct bench_summary *b,
				     double limit, char *fig, size_t len)
{
	return paired_target(a, b, true, limit, fig, len);
}

/* "a's throughput at least limit x b's". */
static enum bench_verdict msgs_at_least(const struct bench_summary *a,
					const struct bench_summary *b,
					double limit, char *fig, size_t len)
{
	return paired_target(a, b, false, limit, fig, len);
}

/* A target read from ratios round by round: "even" there means the
 * rounds' ratios straddle the bound. */
static void ratio_line(FILE *f, const char *what, const char *figures,
		       enum bench_verdict v)
{
	fprintf(f, "  %-52s %-28s %s\n", what, figures,
		v == BENCH_MET ? "met" : v == BENCH_EVEN
		? "even (rounds straddle the bound)" : "MISSED");
}

/* Whether the run asked for any io_uring row (all engines, or named). */
static bool uring_wanted(const struct bench_opts *o)
{
	if (o->engines == NULL)
		return true;
	for (int i = 0; i < NURING_ROWS; i++)
		if (bench_listed(o->engines, uring_rows[i]))
			return true;
	return false;
}

static void print_uring_targets(FILE *f, const struct bench_report *rep,
				const struct bench_section *thr)
{
	const struct bench_opts *o = rep->opts;
	const struct bench_summary *ep = find(thr->sum, thr->n, "epoll");
	const struct bench_summary *ur = find(thr->sum, thr->n, "uring");
	const char *why = bench__syscalls_why();
	char what[96], fig[96], no[64];

	snprintf(what, sizeof(what), "uring CPU/msg <= %.2f x epoll (%u conns)",
		 URING_CPU_PER_EPOLL, o->conns);
	if (ep == NULL || ur == NULL) {
		target_unmeasured(f, what, ur == NULL ? "no uring row (no ring "
				  "here, or built without liburing)"
				  : "no epoll row");
	} else {
		enum bench_verdict v = cpu_within(ur, ep, URING_CPU_PER_EPOLL,
						  fig, sizeof(fig));
		ratio_line(f, what, fig, v);
	}
	for (int i = 1; i < NURING_ROWS; i++) {
		const struct bench_summary *e = find(thr->sum, thr->n,
						     uring_rows[i]);
		snprintf(what, sizeof(what), "%s CPU/msg <= %.2f x uring",
			 uring_rows[i], COMPLETION_CPU_PER_FLOOR);
		snprintf(no, sizeof(no), "no %s row", uring_rows[i]);
		if (e == NULL || ur == NULL) {
			target_unmeasured(f, what, e == NULL ? no
					  : "no uring row");
			continue;
		}
		ratio_line(f, what, fig, cpu_within(e, ur,
				COMPLETION_CPU_PER_FLOOR, fig, sizeof(fig)));
	}
	for (int i = 0; i < NURING_ROWS; i++) {
		const struct bench_summary *e = find(thr->sum, thr->n,
						     uring_rows[i]);
		snprintf(what, sizeof(what), "%s system calls/msg < %.0f (%u "
			 "conns, counted)", uring_rows[i],
			 COMPLETION_SYSCALLS_MAX, o->conns);
		snprintf(no, sizeof(no), "no %s row", uring_rows[i]);
		if (e == NULL)
			target_unmeasured(f, what, no);
		else if (!thr->traced)
			target_unmeasured(f, what, "no traced round "
					  "(--no-syscalls)");
		else if (isnan(e->syscalls))
			target_unmeasured(f, what, why != NULL ? why
					  : "its traced round failed");
		else {
			snprintf(fig, sizeof(fig), "%.3f", e->syscalls);
			target_line(f, what, fig,
				    e->syscalls < COMPLETION_SYSCALLS_MAX
				    ? MET : MISSED);
		}
	}
}

void bench__print_targets(FILE *f, const struct bench_report *rep)
{
	const struct bench_section *closed = bench__section(rep, "echo");
	const struct bench_section *open = bench__section(rep, "echo_open");
	/* Throughput and CPU from the closed loop, where each engine runs as
	 * fast as it can; latency under the same load for all: the open loop
	 * when it ran. */
	const struct bench_section *thr = closed;
	const struct bench_section *lat = open ? open : closed;
	const char *mine[2] = { "push", "poll" };
	char fig[96], what[96];
	bool any = false;

	fprintf(f, "\ntargets (from the medians above; \"even\": the medians "
		"differ less than the rounds vary;\npoll against epoll and the "
		"io_uring CPU targets from each round's ratio of the two rows, "
		"median [min..max]):\n");
	if (thr != NULL) {
		const struct bench_summary *ep = find(thr->sum, thr->n, "epoll");
		const struct bench_summary *p = find(thr->sum, thr->n, "poll");
		if (ep != NULL && p != NULL) {
			enum bench_verdict v;

			v = msgs_at_least(p, ep, 0.95, fig, sizeof(fig));
			ratio_line(f, "poll echo throughput >= 0.95 x epoll",
				   fig, v);
			v = cpu_within(p, ep, 1.10, fig, sizeof(fig));
			ratio_line(f, "poll echo CPU per message <= 1.10 x "
				   "epoll", fig, v);
			any = true;
		}
	}
	for (int m = 0; m < 2 && thr != NULL; m++) {
		const struct bench_summary *p = find(thr->sum, thr->n, mine[m]);
		const struct bench_summary *uv = find(thr->sum, thr->n, "libuv");
		const struct bench_summary *ev = find(thr->sum, thr->n,
						      "libevent");
		if (p == NULL || (uv == NULL && ev == NULL))
			continue;
		double tu = uv ? p->med[BENCH_F_MSGS] / uv->med[BENCH_F_MSGS]
			       : NAN;
		double te = ev ? p->med[BENCH_F_MSGS] / ev->med[BENCH_F_MSGS]
			       : NAN;
		snprintf(what, sizeof(what), "%s echo throughput >= libuv, "
			 "libevent", mine[m]);
		ratios(fig, sizeof(fig), tu, te);
		target_line(f, what, fig,
			    worst(compare(p, uv, BENCH_F_MSGS, true),
				  compare(p, ev, BENCH_F_MSGS, true)));
		any = true;
	}
	for (int m = 0; m < 2 && lat != NULL; m++) {
		const struct bench_summary *p = find(lat->sum, lat->n, mine[m]);
		const struct bench_summary *uv = find(lat->sum, lat->n, "libuv");
		const struct bench_summary *ev = find(lat->sum, lat->n,
						      "libevent");
		if (p == NULL || (uv == NULL && ev == NULL))
			continue;
		double lu = uv ? p->med[BENCH_F_P99] / uv->med[BENCH_F_P99]
			       : NAN;
		double le = ev ? p->med[BENCH_F_P99] / ev->med[BENCH_F_P99]
			       : NAN;
		snprintf(what, sizeof(what), "%s echo p99 <= libuv, libevent "
			 "(%s loop)", mine[m], lat->rate ? "open" : "closed");
		ratios(fig, sizeof(fig), lu, le);
		target_line(f, what, fig,
			    worst(compare(p, uv, BENCH_F_P99, false),
				  compare(p, ev, BENCH_F_P99, false)));
		any = true;
	}
	if (lat != NULL && lat->n > 0) {
		const struct bench_section *al = thr ? thr : lat;
		const struct bench_summary *p = find(al->sum, al->n, "poll");
		int k = 0;
		fprintf(f, "  allocations per echo round trip:");
		for (int i = 0; i < al->n; i++)
			if (al->sum[i].rounds_ok > 0)
				fprintf(f, "%s %s %.3f", k++ ? "," : "",
					al->sum[i].engine,
					al->sum[i].med[BENCH_F_ALLOCS]);
		if (p != NULL)
			fprintf(f, "\n  %-52s %-28s %s", "poll allocates "
				"nothing per round trip", "",
				p->med[BENCH_F_ALLOCS] == 0 ? "met" : "MISSED");
		fputc('\n', f);
		any = true;
	}
	if (thr != NULL && print_tokio(f, rep, thr, lat))
		any = true;
	if (thr != NULL && uring_wanted(rep->opts)) {
		print_uring_targets(f, rep, thr);
		any = true;
	}
	if (rep->has_fanout && rep->nfanout > 0) {
		const unsigned kinds[2] = { BENCH_SINK_TCP, BENCH_SINK_FILE };
		char bad[160] = "";
		bool all = true;
		for (int i = 0; i < rep->nfanout; i++) {
			const struct bench_fanout_summary *s = &rep->fanout[i];
			if (s->file_size != rep->opts->file_size[0] || s->tool)
				continue;
			for (int k = 0; k < 2; k++) {
				if (s->sink_kind != kinds[k] ||
				    fanout_bounded(rep, s->engine, kinds[k]))
					continue;
				all = false;
				size_t len = strlen(bad);
				snprintf(bad + len, sizeof(bad) - len, "%s%s/%s",
					 len ? ", " : "", s->engine,
					 kind_name(kinds[k]));
			}
		}
		snprintf(fig, sizeof(fig), "bound %.0f KiB%s%s",
			 bench__fanout_bound_kib(rep->opts),
			 all ? "" : "; over: ", bad);
		target_line(f, "fanout heap bounded by the window, all sizes",
			    fig, all ? MET : MISSED);
		fanout_cpu_targets(f, rep);
		any = true;
	}
	if (!any)
		fprintf(f, "  (none: the engines they compare were not "
			"measured)\n");
}

/* ---- JSON --------------------------------------------------------------------------- */

void bench__json_machine(FILE *f, const struct bench_opts *o)
{
	struct utsname u;
	char cpu[128] = "";
	FILE *ci = fopen("/proc/cpuinfo", "r");
	char line[256];

	if (ci != NULL) {
		while (fgets(line, sizeof(line), ci) != NULL)
			if (sscanf(line, "model name : %127[^\n]", cpu) == 1)
				break;
		fclose(ci);
	}
	for (char *p = cpu; *p; p++)
		if (*p == '"' || *p == '\\')
			*p = ' ';
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	fprintf(f, "\"machine\":{\"cpu\":\"%s\",\"cpus\":%ld,\"kernel\":"
		"\"%s %s\",\"server_cpu\":%d}", cpu,
		sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
		bench__pin_cpu(o));
}

/* {"median":m,"min":a,"max":b} */
static void json_figure(FILE *f, const char *key, double med, double min,
			double max)
{
	if (isnan(med)) {
		fprintf(f, ",\"%s\":null", key);
		return;
	}
	fprintf(f, ",\"%s\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f}",
		key, med, min, max);
}

/* "syscalls_per_msg":x,"syscalls_msgs":n,"syscalls_top":[{"name":..,
 * "per_msg":..}...], or nulls where they were not counted. */
static void json_syscalls(FILE *f, const struct bench_summary *e)
{
	char name[32];

	if (isnan(e->syscalls)) {
		fprintf(f, ",\"syscalls_per_msg\":null,\"syscalls_top\":[]");
		return;
	}
	fprintf(f, ",\"syscalls_per_msg\":%.4f,\"syscalls_msgs\":%.0f,"
		"\"syscalls_traced_msgs_per_s\":%.1f,\"syscalls_top\":[",
		e->syscalls, e->sys_msgs, e->sys_msgs_per_s);
	for (unsigned k = 0; k < e->nsys; k++)
		fprintf(f, "%s{\"name\":\"%s\",\"per_msg\":%.4f}", k ? "," : "",
			syscount_label(e->sys_nr[k], name, sizeof(name)),
			e->sys_per_msg[k]);
	fputc(']', f);
}

/* The latency curve: value at each percentile of the merged histogram. */
static const double curve_pcts[] = { 0, 50, 75, 90, 95, 99, 99.5, 99.9,
				     99.95, 99.99, 100 };

static void json_section(FILE *f, const struct bench_report *rep,
			 const struct bench_section *sec)
{
	const struct bench_opts *o = rep->opts;

	fprintf(f, ",\"%s\":{\"conns\":%u,\"depth\":%u,\"msg_size\":%zu,"
		"\"rate\":%" PRIu64 ",\"duration_s\":%.3f,\"rounds\":%d,"
		"\"engines\":[", sec->key, o->conns,
		sec->mode == BENCH_CHURN ? 1 : o->depth, o->msg_size, sec->rate,
		(double)sec->duration_ns / 1e9, sec->rounds);
	for (int i = 0; i < sec->n; i++) {
		const struct bench_summary *s = &sec->sum[i];
		fprintf(f, "%s{\"engine\":\"%s\",\"rounds_ok\":%d", i ? "," : "",
			s->engine, s->rounds_ok);
		for (int k = 0; k < BENCH_F_COUNT; k++)
			json_figure(f, echo_keys[k], s->med[k], s->min[k],
				    s->max[k]);
		fprintf(f, ",\"latency_us_at_percentile\":[");
		for (size_t p = 0; p < sizeof(curve_pcts) / sizeof(curve_pcts[0]);
		     p++)
			fprintf(f, "%s[%g,%.3f]", p ? "," : "", curve_pcts[p],
				(double)hist_percentile(&sec->hist[i],
							curve_pcts[p]) / 1e3);
		fprintf(f, "]");
		if (sec->traced)
			json_syscalls(f, s);
		fprintf(f, "}");
	}
	fprintf(f, "]");
	if (sec->traced) {
		const char *why = bench__syscalls_why();
		fprintf(f, ",\"syscalls_traced_s\":%.3f,\"syscalls_not_counted\":",
			(double)bench__traced_ns(o) / 1e9);
		if (why != NULL) {
			fputc('"', f);
			for (const char *c = why; *c != '\0'; c++)
				if (*c != '"' && *c != '\\')
					fputc(*c, f);
			fputc('"', f);
		} else {
			fputs("null", f);
		}
	}
	fprintf(f, "}");
}

static void json_fanout(FILE *f, const struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;

	fprintf(f, ",\"fanout\":{\"sinks\":%u,\"chunk_size\":%zu,\"window\":%u,"
		"\"bound_kib\":%.1f,\"rounds\":%d,\"runs\":[", o->sinks,
		o->chunk_size, o->window, bench__fanout_bound_kib(o),
		o->rounds);
	for (int i = 0; i < rep->nfanout; i++) {
		const struct bench_fanout_summary *s = &rep->fanout[i];
		fprintf(f, "%s{\"engine\":\"%s\",\"tool\":%s,\"sink\":\"%s\","
			"\"file_size\":%" PRIu64 ",\"rounds_ok\":%d",
			i ? "," : "", s->engine, s->tool ? "true" : "false",
			kind_name(s->sink_kind), s->file_size, s->rounds_ok);
		for (int k = 0; k < BENCH_FF_COUNT; k++)
			json_figure(f, fanout_keys[k], s->med[k], s->min[k],
				    s->max[k]);
		fputc('}', f);
	}
	fprintf(f, "]}");
}

int bench__save_json(const char *path, const struct bench_report *rep)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --json %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	fputc('{', f);
	bench__json_machine(f, rep->opts);
	for (int i = 0; i < rep->nsec; i++)
		json_section(f, rep, &rep->sec[i]);
	if (rep->has_fanout)
		json_fanout(f, rep);
	fprintf(f, "}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "pushpoll: --json %s: %s\n", path,
			strerror(errno));
		return -EIO;
	}
	return 0;
}

/* ---- CSV: one row per figure ---------------------------------------------------------- */

int bench__save_csv(const char *path, const struct bench_report *rep)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "pushpoll: --csv %s: %s\n", path,
			strerror(errno));
		return -errno;
	}
	fprintf(f, "workload,engine,sink,file_size,figure,median,min,max,"
		"rounds_ok\n");
	for (int j = 0; j < rep->nsec; j++) {
		const struct bench_section *sec = &rep->sec[j];
		for (int i = 0; i < sec->n; i++) {
			const struct bench_summary *e = &sec->sum[i];
			for (int k = 0; k < BENCH_F_COUNT; k++) {
				fprintf(f, "%s,%s,,,%s,", sec->key, e->engine,
					echo_keys[k]);
				if (isnan(e->med[k]))   /* not measured */
					fprintf(f, ",,");
				else
					fprintf(f, "%.4f,%.4f,%.4f", e->med[k],
						e->min[k], e->max[k]);
				fprintf(f, ",%d\n", e->rounds_ok);
			}
			/* Counted once, in the traced round. */
			if (sec->traced && !isnan(e->syscalls))
				fprintf(f, "%s,%s,,,syscalls_per_msg,%.4f,%.4f,"
					"%.4f,1\n", sec->key, e->engine,
					e->syscalls, e->syscalls, e->syscalls);
		}
	}
	for (int i = 0; rep->has_fanout && i < rep->nfanout; i++) {
		const struct bench_fanout_summary *s = &rep->fanout[i];
		for (int k = 0; k < BENCH_FF_COUNT; k++)
			fprintf(f, "fanout,%s,%s,%" PRIu64 ",%s,%.4f,%.4f,%.4f,"
				"%d\n", s->engine, kind_name(s->sink_kind),
				s->file_size, fanout_keys[k], s->med[k],
				s->min[k], s->max[k], s->rounds_ok);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "pushpoll: --csv %s: %s\n", path,
			strerror(errno));
		return -EIO;
	}
	return 0;
}
