/* c11_bench.c: claim C11, the echo comparison.
 *
 * "Callbacks were the cheaper model at the raw I/O level; the poll model
 * pays nothing in throughput or latency for its structure."
 *
 * The experiment is `pushpoll bench echo` (bench_echo_collect()): each
 * engine as a server in its own process, the load generator in this one,
 * closed loop, the engines interleaved over several rounds; medians of
 * throughput, server CPU per message, p99 latency and allocations per
 * message, for the push and poll engines and the libuv, libevent and
 * hand-written epoll baselines.
 */
#include "claims.h"

#include <errno.h>
#include <string.h>

#include "bench/bench.h"
#include "clock.h"

/* "Pays nothing": within these ratios of the push engine, which stands on
 * the same substrate, so that the structure is the only difference.  The
 * margins are the noise of this kind of run on a shared machine. */
#define C11_THROUGHPUT 0.95
#define C11_LATENCY 1.10
#define C11_CPU 1.10

static int c11_find(const struct c11_figures *f, const char *name)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->e[i].name, name) == 0 && f->e[i].rounds_ok > 0)
			return (int)i;
	return -1;
}

/* Whether a is worse than b beyond the noise: past the ratio limit on the
 * medians, and with no overlap between the two engines' rounds. */
static bool c11_worse_lower(double a, const double ra[2], double b,
			    const double rb[2], double limit)
{
	return a < limit * b && ra[1] < rb[0];
}

static bool c11_worse_higher(double a, const double ra[2], double b,
			     const double rb[2], double limit)
{
	return a > limit * b && ra[0] > rb[1];
}

/* The rule.  C11 holds when the poll engine pays nothing against the push
 * engine on echo: its throughput is not below C11_THROUGHPUT of push's, its
 * p99 latency and CPU per message not above C11_LATENCY and C11_CPU of
 * push's, where "below" and "above" count only when the medians are past
 * those ratios *and* the rounds of the two engines do not overlap (a
 * difference inside the round-to-round spread of this machine is noise,
 * not a price).  Otherwise it does not hold, and the reason names each
 * figure that missed.  The epoll floor's throughput is quoted for scale. */
void c11_verdict(const struct c11_figures *f, struct claim_verdict *v)
{
	int push = c11_find(f, "push"), poll = c11_find(f, "poll");
	int floor = c11_find(f, "epoll");
	double tput, lat, cpu;
	char missed[160] = "";
	size_t n = 0;

	if (push < 0 || poll < 0 || f->e[push].msgs <= 0 ||
	    f->e[push].p99 <= 0 || f->e[push].cpu <= 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "push and poll did not both complete a round");
		return;
	}
	tput = f->e[poll].msgs / f->e[push].msgs;
	lat = f->e[poll].p99 / f->e[push].p99;
	cpu = f->e[poll].cpu / f->e[push].cpu;
	if (c11_worse_lower(f->e[poll].msgs, f->e[poll].msgs_range,
			    f->e[push].msgs, f->e[push].msgs_range,
			    C11_THROUGHPUT))
		n += (size_t)snprintf(missed + n, sizeof(missed) - n,
				      "throughput x%.2f; ", tput);
	if (c11_worse_higher(f->e[poll].p99, f->e[poll].p99_range,
			     f->e[push].p99, f->e[push].p99_range,
			     C11_LATENCY) && n < sizeof(missed))
		n += (size_t)snprintf(missed + n, sizeof(missed) - n,
				      "p99 x%.2f; ", lat);
	if (c11_worse_higher(f->e[poll].cpu, f->e[poll].cpu_range,
			     f->e[push].cpu, f->e[push].cpu_range, C11_CPU) &&
	    n < sizeof(missed))
		n += (size_t)snprintf(missed + n, sizeof(missed) - n,
				      "CPU per message x%.2f; ", cpu);
	if (n == 0)
		claim_verdict_set(v, CLAIM_HOLDS,
			"poll against push: throughput x%.2f, p99 x%.2f, CPU "
			"per message x%.2f (medians; no difference beyond the "
			"rounds' spread and the margins); poll at %.2f of the "
			"epoll floor's throughput", tput, lat, cpu,
			floor >= 0 && f->e[floor].msgs > 0
				? f->e[poll].msgs / f->e[floor].msgs : 0);
	else
		claim_verdict_set(v, CLAIM_FAILS,
			"poll pays for its structure against push: %s(throughput "
			"x%.2f, p99 x%.2f, CPU x%.2f)", missed, tput, lat, cpu);
}

int c11_measure(const struct claims_ctx *cx, struct c11_figures *f)
{
	struct bench_summary sum[C11_MAX_ENGINES];
	struct bench_opts bo;
	int n;

	memset(f, 0, sizeof(*f));
	bench_opts_default(&bo);
	bo.engines = "epoll,libuv,libevent,push,poll";
	bo.warmup_ns = (cx->quick ? 100 : 300) * CLOCK_NS_PER_MS;
	bo.duration_ns = (cx->quick ? 300 : 1000) * CLOCK_NS_PER_MS;
	bo.rounds = cx->quick ? 1 : 3;
	n = bench_echo_collect(&bo, sum, C11_MAX_ENGINES);
	if (n <= 0)
		return -EIO;
	for (int i = 0; i < n; i++) {
		snprintf(f->e[i].name, sizeof(f->e[i].name), "%s",
			 sum[i].engine);
		f->e[i].rounds_ok = sum[i].rounds_ok;
		f->e[i].msgs = sum[i].med[BENCH_F_MSGS];
		f->e[i].cpu = sum[i].med[BENCH_F_CPU];
		f->e[i].p99 = sum[i].med[BENCH_F_P99];
		f->e[i].allocs = sum[i].med[BENCH_F_ALLOCS];
		f->e[i].msgs_range[0] = sum[i].min[BENCH_F_MSGS];
		f->e[i].msgs_range[1] = sum[i].max[BENCH_F_MSGS];
		f->e[i].cpu_range[0] = sum[i].min[BENCH_F_CPU];
		f->e[i].cpu_range[1] = sum[i].max[BENCH_F_CPU];
		f->e[i].p99_range[0] = sum[i].min[BENCH_F_P99];
		f->e[i].p99_range[1] = sum[i].max[BENCH_F_P99];
	}
	f->n = (unsigned)n;
	return 0;
}

static void c11_cell(char *buf, size_t len, const struct c11_figures *f,
		     int i)
{
	if (i < 0) {
		snprintf(buf, len, "did not run");
		return;
	}
	snprintf(buf, len, "%.0f msg/s, %.1f us CPU per 1k msg, p99 %.0f us, "
		 "%.2f allocs/msg", f->e[i].msgs, f->e[i].cpu, f->e[i].p99,
		 f->e[i].allocs);
}

int c11_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c11_figures f;
	size_t n = 0;
	int rc;

	rc = c11_measure(cx, &f);
	if (rc < 0)
		return rc;
	c11_verdict(&f, &row->verdict);
	c11_cell(row->push, sizeof(row->push), &f, c11_find(&f, "push"));
	c11_cell(row->poll, sizeof(row->poll), &f, c11_find(&f, "poll"));
	for (unsigned i = 0; i < f.n && n < sizeof(row->baselines); i++) {
		if (strcmp(f.e[i].name, "push") == 0 ||
		    strcmp(f.e[i].name, "poll") == 0)
			continue;
		n += (size_t)snprintf(row->baselines + n,
				      sizeof(row->baselines) - n,
				      "%s%s %.0f msg/s, p99 %.0f us", n ? "; " : "",
				      f.e[i].name, f.e[i].msgs, f.e[i].p99);
	}

	claims_json_begin(cx->json, "figures");
	for (unsigned i = 0; i < f.n; i++) {
		claims_json_begin(cx->json, f.e[i].name);
		claims_json_num(cx->json, "rounds_ok", f.e[i].rounds_ok);
		claims_json_num(cx->json, "msgs_per_s", f.e[i].msgs);
		claims_json_num(cx->json, "cpu_us_per_kmsg", f.e[i].cpu);
		claims_json_num(cx->json, "p99_us", f.e[i].p99);
		claims_json_num(cx->json, "allocs_per_msg", f.e[i].allocs);
		claims_json_nums(cx->json, "msgs_per_s_min_max",
				 f.e[i].msgs_range, 2);
		claims_json_nums(cx->json, "p99_us_min_max", f.e[i].p99_range, 2);
		claims_json_nums(cx->json, "cpu_min_max", f.e[i].cpu_range, 2);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
