/* c5_hog.c: claim C5, echo latency while one step computes without yielding.
 *
 * "Scheduling is cooperative: one step that computes for long without
 * yielding starves every other task on its thread; the remedies are a
 * blocking pool, yielding in chunks, or a budget."
 *
 * The experiment: a small echo server in each engine, and beside it, on the
 * same loop and the same thread, a hog that computes for 50 ms, pauses for
 * 50 ms, and again, for as long as the load runs.  The load generator
 * (loadgen.h) runs in a second thread, in open loop (a fixed rate, latency
 * from the intended send time, so a stall cannot hide), and gives the echo
 * latency percentiles.  The configurations (enum c5_config):
 *
 *   none          no hog: the reference.
 *   hog           the 50 ms in one callback (push) or one poll (poll).
 *   offload       the 50 ms as a job of the offload pool; the loop only
 *                 waits for its completion.
 *   chunks        50 chunks of 1 ms.  push yields the only way a callback
 *                 can: it starts a 0 ns sleep and goes on in its callback.
 *                 poll yields the way futures do: it wakes its own waker and
 *                 returns PENDING (poll_cx_wake()).
 *   chunks-sleep  poll: the same with a 0 ns poll_sleep between chunks.
 *   steps         poll: 50 ms as 5000 leaf futures of 10 us, each ready at
 *                 once, with the executor's budget off.
 *   budget        poll: the same with the budget on (POLL_BUDGET_DEFAULT):
 *                 a leaf that finds it spent makes the task yield.
 *
 * The servers (c5_push.c, c5_poll.c, mirrored) are small on purpose: the
 * claim is about the thread, not about the echo workload, and the hog has
 * to live in the same loop as the connections, which the workload entry
 * points keep to themselves.  The harness's memory (connections, jobs)
 * comes from calloc.
 */
#include "c5_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"
#include "bench/loadgen.h"


const char *const c5_config_name[C5_NCONFIGS] = {
	"none", "hog", "offload", "chunks", "chunks-sleep", "steps", "budget",
};

bool c5_applies(int m, enum c5_config c)
{
	if (m == CLAIMS_PUSH)
		return c <= C5_CHUNKS;
	return true;
}

/* A remedy works when it brings p99 to at most this share of the hog's. */
#define C5_REMEDY_SHARE 0.25
/* The hog starves the thread when p99 reaches this share of its 50 ms. */
#define C5_STARVED_SHARE 0.8

/* The remedies tried in each model, in the order they are reported. */
static const enum c5_config remedies[] = {
	C5_OFFLOAD, C5_CHUNKS, C5_CHUNKS_SLEEP, C5_BUDGET,
};
#define NREMEDIES (sizeof(remedies) / sizeof(remedies[0]))

/* The rule.  The first half of C5 (starvation) holds in a model when the
 * hog's echo p99 reaches C5_STARVED_SHARE of its 50 ms.  A remedy works in
 * a model when its p99 is at most C5_REMEDY_SHARE of that model's hog p99.
 * C5 holds when the hog starves both models and every remedy tried works;
 * it holds only in part when the hog starves both but some remedy did not
 * help (the reason lists which worked and which did not); it does not hold
 * when the hog starves neither model. */
void c5_verdict(const struct c5_figures *f, struct claim_verdict *v)
{
	char worked[160] = "", failed[160] = "";
	bool starved[CLAIMS_NMODELS];
	size_t wl = 0, fl = 0;

	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		if (!f->ran[m][C5_HOG] || !f->ran[m][C5_NONE]) {
			claim_verdict_set(v, CLAIM_NOT_MEASURED,
					  "the %s hog did not run",
					  claims_model_name[m]);
			return;
		}
		starved[m] = f->p99[m][C5_HOG] >=
			     C5_STARVED_SHARE * HOG_NS / 1e3;
	}
	if (!starved[CLAIMS_PUSH] && !starved[CLAIMS_POLL]) {
		claim_verdict_set(v, CLAIM_FAILS,
			"a 50 ms hog left echo p99 at %.1f ms (push) and %.1f "
			"ms (poll): no starvation",
			f->p99[CLAIMS_PUSH][C5_HOG] / 1e3,
			f->p99[CLAIMS_POLL][C5_HOG] / 1e3);
		return;
	}
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		for (size_t i = 0; i < NREMEDIES; i++) {
			enum c5_config c = remedies[i];
			bool ok;

			if (!f->ran[m][c])
				continue;
			ok = f->p99[m][c] <= C5_REMEDY_SHARE * f->p99[m][C5_HOG];
			if (ok)
				wl += (size_t)snprintf(worked + wl,
					sizeof(worked) - wl, "%s%s %s",
					wl ? ", " : "", claims_model_name[m],
					c5_config_name[c]);
			else
				fl += (size_t)snprintf(failed + fl,
					sizeof(failed) - fl, "%s%s %s (%.1f ms)",
					fl ? ", " : "", claims_model_name[m],
					c5_config_name[c], f->p99[m][c] / 1e3);
			wl = wl < sizeof(worked) ? wl : sizeof(worked) - 1;
			fl = fl < sizeof(failed) ? fl : sizeof(failed) - 1;
		}
	}
	if (starved[CLAIMS_PUSH] && starved[CLAIMS_POLL] && fl == 0)
		claim_verdict_set(v, CLAIM_HOLDS,
			"hog p99 %.1f ms (push), %.1f ms (poll), against %.2f "
			"and %.2f ms without; every remedy brought it under "
			"%.0f%%: %s", f->p99[CLAIMS_PUSH][C5_HOG] / 1e3,
			f->p99[CLAIMS_POLL][C5_HOG] / 1e3,
			f->p99[CLAIMS_PUSH][C5_NONE] / 1e3,
			f->p99[CLAIMS_POLL][C5_NONE] / 1e3,
			100 * C5_REMEDY_SHARE, worked);
	else
		claim_verdict_set(v, CLAIM_PARTLY,
			"hog p99 %.1f ms (push), %.1f ms (poll); remedies that "
			"worked: %s; that did not: %s",
			f->p99[CLAIMS_PUSH][C5_HOG] / 1e3,
			f->p99[CLAIMS_POLL][C5_HOG] / 1e3,
			wl ? worked : "none", fl ? failed : "none");
}

/* ---- one configuration: a server, the load, the percentiles --------------------- */

struct c5_load {
	struct loadgen_opts lo;
	struct loadgen_result *res;
	struct reactor *r;
	int rc;
};

static void *c5_load_run(void *arg)
{
	struct c5_load *ld = arg;

	ld->rc = loadgen_echo(&ld->lo, ld->res);
	reactor_request_stop(ld->r);
	return NULL;
}

/* One run's figures. */
struct c5_sample {
	double p50, p99, max;      /* us */
	uint64_t msgs, hog_runs;
};

static int c5_one(const struct claims_ctx *cx, int m, enum c5_config cfg,
		  struct c5_sample *out)
{
	struct c5_load ld = { .rc = -1 };
	struct reactor *r;
	struct offload *o;
	uint64_t runs = 0;
	pthread_t load;
	int lh, port, rc;

	ld.res = calloc(1, sizeof(*ld.res));
	if (ld.res == NULL)
		return -ENOMEM;
	rc = -ENOMEM;
	r = reactor_new_epoll();
	if (r == NULL)
		goto out_free_result;
	o = offload_new(r, 1);
	if (o == NULL)
		goto out_free_reactor;
	lh = reactor_listen(r, "127.0.0.1", 0, 128);
	port = lh < 0 ? lh : reactor_local_port(r, lh);
	if (port < 0) {
		rc = port;
		if (lh >= 0)
			reactor_close(r, lh);
		goto out_free_offload;
	}
	ld.r = r;
	ld.lo = (struct loadgen_opts){
		.host = "127.0.0.1",
		.port = (uint16_t)port,
		.conns = 4,
		.depth = 1,
		.msg_size = 64,
		.rate = cx->quick ? 1000 : 2000,
		.warmup_ns = 200 * CLOCK_NS_PER_MS,
		.duration_ns = (cx->quick ? 400 : 1000) * CLOCK_NS_PER_MS,
	};
	rc = -pthread_create(&load, NULL, c5_load_run, &ld);
	if (rc < 0) {
		reactor_close(r, lh);
		goto out_free_offload;
	}
	if (m == CLAIMS_PUSH)
		rc = c5__push_serve(r, o, lh, cfg, &runs);
	else
		rc = c5__poll_serve(r, o, lh, cfg, &runs);
	if (rc < 0)
		reactor_request_stop(r);   /* the load gives up on its own */
	pthread_join(load, NULL);
	/* A cancelled job still running holds the pool until it returns. */
	while (offload_outstanding(o) > 0)
		reactor_poll(r, 10 * CLOCK_NS_PER_MS);
	if (rc == 0 && ld.rc != 0)
		rc = -EIO;
	if (rc == 0) {
		out->p50 = (double)hist_percentile(&ld.res->latency, 50) / 1e3;
		out->p99 = (double)hist_percentile(&ld.res->latency, 99) / 1e3;
		out->max = (double)ld.res->latency.max / 1e3;
		out->msgs = ld.res->msgs;
		out->hog_runs = runs;
	}
out_free_offload:
	offload_free(o);
out_free_reactor:
	reactor_free(r);
out_free_result:
	free(ld.res);
	return rc;
}

#define C5_MAX_ROUNDS 3

/* Every configuration once per round, the rounds one after the other, so
 * that a busy moment of the machine hurts one run of each and the median
 * of the rounds leaves it out. */
int c5_measure(const struct claims_ctx *cx, struct c5_figures *f)
{
	static struct c5_sample
		sample[C5_MAX_ROUNDS][CLAIMS_NMODELS][C5_NCONFIGS];
	unsigned rounds = cx->quick ? 1 : C5_MAX_ROUNDS;
	int rc = 0;

	memset(f, 0, sizeof(*f));
	for (unsigned k = 0; k < rounds && rc == 0; k++) {
		for (int c = 0; c < C5_NCONFIGS && rc == 0; c++) {
			for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++) {
				struct c5_sample *sm = &sample[k][m][c];

				if (!c5_applies(m, (enum c5_config)c))
					continue;
				rc = c5_one(cx, m, (enum c5_config)c, sm);
				claims_say(cx, "C5: round %u/%u %s %-12s p50 "
					   "%8.1f us  p99 %8.1f us", k + 1,
					   rounds, claims_model_name[m],
					   c5_config_name[c], sm->p50, sm->p99);
			}
		}
	}
	if (rc < 0)
		return rc;
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		for (int c = 0; c < C5_NCONFIGS; c++) {
			double p50[C5_MAX_ROUNDS], p99[C5_MAX_ROUNDS],
			       max[C5_MAX_ROUNDS];

			if (!c5_applies(m, (enum c5_config)c))
				continue;
			for (unsigned k = 0; k < rounds; k++) {
				p50[k] = sample[k][m][c].p50;
				p99[k] = sample[k][m][c].p99;
				max[k] = sample[k][m][c].max;
				f->msgs[m][c] += sample[k][m][c].msgs;
				f->hog_runs[m][c] += sample[k][m][c].hog_runs;
			}
			f->ran[m][c] = true;
			f->p50[m][c] = claims_median(p50, rounds);
			f->p99[m][c] = claims_median(p99, rounds);
			f->max[m][c] = claims_median(max, rounds);
		}
	}
	return 0;
}

static void c5_plot(const struct claims_ctx *cx, const struct c5_figures *f)
{
	FILE *d = claims_plot_data(cx, "c5.dat");

	if (d == NULL)
		return;
	fprintf(d, "# config push_p50 push_p99 poll_p50 poll_p99 (ms; "
		"-1: does not apply)\n");
	for (int c = 0; c < C5_NCONFIGS; c++) {
		fprintf(d, "%s", c5_config_name[c]);
		for (int m = 0; m < CLAIMS_NMODELS; m++) {
			if (f->ran[m][c])
				fprintf(d, " %.3f %.3f", f->p50[m][c] / 1e3,
					f->p99[m][c] / 1e3);
			else
				fprintf(d, " - -");
		}
		fprintf(d, "\n");
	}
	fclose(d);
	fputs("set output 'c5_hog.png'\n"
	      "set title 'C5: echo latency while a task computes 50 ms, and the remedies'\n"
	      "set style data histograms\n"
	      "set style histogram clustered gap 1\n"
	      "set style fill solid 0.8 border -1\n"
	      "set datafile missing '-'\n"
	      "set xlabel 'configuration'\n"
	      "set ylabel 'echo latency, ms (log scale)'\n"
	      "set logscale y\n"
	      "set yrange [0.01:1000]\n"
	      "set key top right\n"
	      "plot 'c5.dat' using 2:xtic(1) title 'push p50', \\\n"
	      "     '' using 3 title 'push p99', \\\n"
	      "     '' using 4 title 'poll p50', \\\n"
	      "     '' using 5 title 'poll p99'\n"
	      "unset logscale y\n"
	      "set yrange [*:*]\n"
	      "set key top left\n"
	      "set style data lines\n",
	      cx->plot);
}

int c5_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c5_figures f;
	int rc;

	rc = c5_measure(cx, &f);
	if (rc < 0)
		return rc;
	c5_verdict(&f, &row->verdict);
	snprintf(row->push, sizeof(row->push),
		 "p99 %.2f ms alone, %.1f ms hog; offload %.2f, chunks %.2f",
		 f.p99[CLAIMS_PUSH][C5_NONE] / 1e3,
		 f.p99[CLAIMS_PUSH][C5_HOG] / 1e3,
		 f.p99[CLAIMS_PUSH][C5_OFFLOAD] / 1e3,
		 f.p99[CLAIMS_PUSH][C5_CHUNKS] / 1e3);
	snprintf(row->poll, sizeof(row->poll),
		 "p99 %.2f ms alone, %.1f ms hog; offload %.2f, chunks %.2f, "
		 "chunks-sleep %.2f, steps %.1f, budget %.1f",
		 f.p99[CLAIMS_POLL][C5_NONE] / 1e3,
		 f.p99[CLAIMS_POLL][C5_HOG] / 1e3,
		 f.p99[CLAIMS_POLL][C5_OFFLOAD] / 1e3,
		 f.p99[CLAIMS_POLL][C5_CHUNKS] / 1e3,
		 f.p99[CLAIMS_POLL][C5_CHUNKS_SLEEP] / 1e3,
		 f.p99[CLAIMS_POLL][C5_STEPS] / 1e3,
		 f.p99[CLAIMS_POLL][C5_BUDGET] / 1e3);

	claims_json_begin(cx->json, "figures");
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		for (int c = 0; c < C5_NCONFIGS; c++) {
			if (!f.ran[m][c])
				continue;
			claims_json_begin(cx->json, c5_config_name[c]);
			claims_json_num(cx->json, "p50_us", f.p50[m][c]);
			claims_json_num(cx->json, "p99_us", f.p99[m][c]);
			claims_json_num(cx->json, "max_us", f.max[m][c]);
			claims_json_num(cx->json, "msgs", (double)f.msgs[m][c]);
			claims_json_num(cx->json, "hog_runs",
					(double)f.hog_runs[m][c]);
			claims_json_end(cx->json);
		}
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	c5_plot(cx, &f);
	return 0;
}
