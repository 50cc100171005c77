/* c2_wake.c: claim C2, the cost of one wake against the depth of a chain.
 *
 * "The price of the poll model: a wake re-polls the chain from the top to
 * reach the innermost future, so a wake costs more as the chain deepens; a
 * callback resumes the innermost step directly."
 *
 * The experiment: the operations of chain.c at depth D = 1 ... 64, with 1
 * wake and with C2_WAITS_HI (64) wakes.  The cost of a wake is the
 * difference divided by 63: what 63 more wakes of the same operation cost,
 * so that starting and finishing the operation (and, in push, its
 * completion travelling up through D callbacks) is not counted in it.
 * Many wakes per operation also dilute what the heap's state adds to each
 * operation: push allocates per level, and past a few blocks of one size
 * glibc's malloc leaves its fast path, which shows as noise of a few
 * hundred instructions per operation.
 * Three counters, in decreasing order of noise:
 *
 *   ns            the clock, median of several runs (this machine is shared:
 *                 read it as an order of magnitude);
 *   instructions  counted by valgrind's callgrind in a child process running
 *                 this binary's hidden --callgrind-chain mode: reproducible
 *                 to the instruction, when /usr/bin/valgrind exists and the
 *                 build found valgrind/callgrind.h;
 *   units         the engine's own work, counted on the simulated reactor:
 *                 push, callbacks dispatched; poll, future polls (each level
 *                 of sequence, and the sleep).  Always counted.
 *
 * The verdict uses instructions when callgrind ran, and units otherwise.
 */
#include "claims.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sim.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define C2_HAVE_CALLGRIND 1
#endif
#endif


/* Growth that counts as "costs more as the chain deepens" (poll) and as
 * "stays the same" (push), from the shallowest to the deepest chain. */
#define C2_GROWS 1.5
#define C2_FLAT 1.2

/* The growth of a cost from the shallowest chain to the deepest, read on
 * the least-squares line through every depth, so that one odd point (the
 * heap, above) cannot decide it alone.  Falls back to the two end points if
 * the line does not stay positive. */
static double c2_growth(const struct c2_figures *f, const double *c)
{
	unsigned n = f->ndepths, last = n - 1;
	double sx = 0, sy = 0, sxx = 0, sxy = 0, a, b, lo, hi;

	for (unsigned i = 0; i < n; i++) {
		sx += f->depth[i];
		sy += c[i];
		sxx += (double)f->depth[i] * f->depth[i];
		sxy += f->depth[i] * c[i];
	}
	b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	a = (sy - b * sx) / n;
	lo = a + b * f->depth[0];
	hi = a + b * f->depth[last];
	if (lo <= 0 || hi <= 0)
		return c[last] / c[0];
	return hi / lo;
}

/* The rule.  On instructions (or units) per wake: C2 holds when poll's cost
 * grows from D=1 to the deepest chain by at least C2_GROWS times and push's
 * by at most C2_FLAT times (growths read on the fitted line, c2_growth()).
 * Then the reason gives the depth from which poll's wake costs more than
 * push's, if it does at all.  If poll's grows and push's grows as well, it
 * holds only in part: the callback does not resume the innermost step for
 * free either.  If poll's does not grow, it does not hold. */
void c2_verdict(const struct c2_figures *f, struct claim_verdict *v)
{
	const double (*c)[CLAIMS_NDEPTHS] = f->have_instr ? f->instr : f->units;
	const char *unit = f->have_instr ? "instructions" : "work units";
	unsigned last = f->ndepths - 1, cross = 0;
	double push_growth, poll_growth;

	if (f->ndepths < 2 || c[CLAIMS_PUSH][0] <= 0 ||
	    c[CLAIMS_POLL][0] <= 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "no cost per wake was measured");
		return;
	}
	push_growth = c2_growth(f, c[CLAIMS_PUSH]);
	poll_growth = c2_growth(f, c[CLAIMS_POLL]);
	for (unsigned i = 0; i < f->ndepths && cross == 0; i++)
		if (c[CLAIMS_POLL][i] > c[CLAIMS_PUSH][i])
			cross = f->depth[i];
	if (poll_growth < C2_GROWS) {
		claim_verdict_set(v, CLAIM_FAILS,
			"poll's wake costs %.0f %s at D=%u and %.0f at D=%u "
			"(x%.2f): it does not grow with depth",
			c[CLAIMS_POLL][0], unit, f->depth[0],
			c[CLAIMS_POLL][last], f->depth[last], poll_growth);
	} else if (push_growth > C2_FLAT) {
		claim_verdict_set(v, CLAIM_PARTLY,
			"poll's wake grows x%.2f from D=%u to D=%u, but push's "
			"grows too (x%.2f, %.0f to %.0f %s)", poll_growth,
			f->depth[0], f->depth[last], push_growth,
			c[CLAIMS_PUSH][0], c[CLAIMS_PUSH][last], unit);
	} else {
		char where[96];

		if (cross != 0)
			snprintf(where, sizeof(where),
				 "poll's wake costs more than push's from D=%u",
				 cross);
		else
			snprintf(where, sizeof(where),
				 "poll's wake stays cheaper than push's up to "
				 "D=%u", f->depth[last]);
		claim_verdict_set(v, CLAIM_HOLDS,
			"%s per wake, D=%u -> D=%u: poll %.0f -> %.0f (x%.2f), "
			"push %.0f -> %.0f (x%.2f); %s", unit, f->depth[0],
			f->depth[last], c[CLAIMS_POLL][0],
			c[CLAIMS_POLL][last], poll_growth, c[CLAIMS_PUSH][0],
			c[CLAIMS_PUSH][last], push_growth, where);
	}
}

/* ---- the clock and the units ------------------------------------------------ */

/* The marginal cost of a wake, and the whole cost of a 1-wake operation. */
static int wake_cost(int m, struct reactor *r, unsigned depth, unsigned ops,
		     bool units, double *per_wake, double *per_op)
{
	const unsigned extra = C2_WAITS_HI - 1;
	struct chain_figures lo, hi;
	int rc;

	rc = chain_run(m, r, depth, 1, 10, ops, units, &lo);
	if (rc == 0)
		rc = chain_run(m, r, depth, C2_WAITS_HI, 10, ops, units, &hi);
	if (rc < 0)
		return rc;
	if (units) {
		*per_wake = ((double)hi.units - (double)lo.units) /
			    ((double)ops * extra);
	} else {
		*per_wake = ((double)hi.ns - (double)lo.ns) /
			    ((double)ops * extra);
		*per_op = (double)lo.ns / ops;
	}
	return 0;
}

static int measure_clock(const struct claims_ctx *cx, struct c2_figures *f)
{
	unsigned runs = cx->quick ? 3 : 7, ops = cx->quick ? 20 : 100;
	struct reactor *r = reactor_new_epoll();
	int rc = 0;

	if (r == NULL)
		return -errno;
	for (unsigned i = 0; i < f->ndepths && rc == 0; i++) {
		double w[CLAIMS_NMODELS][9], o[CLAIMS_NMODELS][9];

		/* The two models alternate, so a noisy moment hurts both. */
		for (unsigned k = 0; k < runs && rc == 0; k++)
			for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++)
				rc = wake_cost(m, r, f->depth[i], ops, false,
					       &w[m][k], &o[m][k]);
		for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++) {
			f->ns[m][i] = claims_median(w[m], runs);
			f->op_ns[m][i] = claims_median(o[m], runs);
		}
	}
	reactor_free(r);
	return rc;
}

static int measure_units(struct c2_figures *f)
{
	struct sim_config sc;
	struct reactor *r;
	int rc = 0;

	sim_config_default(&sc, 1);
	r = reactor_new_sim(&sc);
	if (r == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < f->ndepths && rc == 0; i++)
		for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++) {
			double unused;

			rc = wake_cost(m, r, f->depth[i], 20, true,
				       &f->units[m][i], &unused);
		}
	reactor_free(r);
	return rc;
}

/* ---- callgrind ------------------------------------------------------------------ */

int c2_callgrind_child(int argc, char **argv)
{
#ifdef C2_HAVE_CALLGRIND
	struct chain_figures c;
	struct reactor *r;
	unsigned depth, ops;
	int m, rc;

	if (argc != 4)
		cli_usage_error("--callgrind-chain wants MODEL DEPTH OPS");
	m = strcmp(argv[1], "push") == 0 ? CLAIMS_PUSH : CLAIMS_POLL;
	depth = (unsigned)cli_uint("DEPTH", argv[2], 1, CLAIMS_MAX_DEPTH);
	ops = (unsigned)cli_uint("OPS", argv[3], 1, 100000);
	r = reactor_new_epoll();
	if (r == NULL)
		return EXIT_MEASURED_FAILURE;
	/* Warm-up: the first calls resolve symbols and fill the heap. */
	rc = chain_run(m, r, depth, C2_WAITS_HI, 5, 0, false, &c);
	CALLGRIND_ZERO_STATS;
	if (rc == 0)
		rc = chain_run(m, r, depth, 1, 0, ops, false, &c);
	CALLGRIND_DUMP_STATS_AT("waits=1");
	if (rc == 0)
		rc = chain_run(m, r, depth, C2_WAITS_HI, 0, ops, false, &c);
	CALLGRIND_DUMP_STATS_AT("waits=hi");
	reactor_free(r);
	return rc == 0 ? 0 : EXIT_MEASURED_FAILURE;
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "pushpoll: built without valgrind/callgrind.h\n");
	return EXIT_USAGE;
#endif
}

/* Run this binary's --callgrind-chain mode under callgrind; the
 * instructions per wake.  Returns 0, or -errno (valgrind missing or
 * failed: a sanitizer build cannot run under it). */
static int callgrind_wake(const char *self, const char *dir, int m,
			  unsigned depth, unsigned ops, double *per_wake)
{
	char out[512], f1[540], f2[540], ds[16], os[16];
	double lo, hi;
	pid_t pid;
	int status;

	snprintf(out, sizeof(out), "%s/cg.%s.%u", dir, claims_model_name[m],
		 depth);
	snprintf(f1, sizeof(f1), "%s.1", out);
	snprintf(f2, sizeof(f2), "%s.2", out);
	snprintf(ds, sizeof(ds), "%u", depth);
	snprintf(os, sizeof(os), "%u", ops);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char outflag[540];
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		snprintf(outflag, sizeof(outflag), "--callgrind-out-file=%s",
			 out);
		execlp("valgrind", "valgrind", "--tool=callgrind", outflag,
		      self, "claims", "--callgrind-chain",
		      claims_model_name[m], ds, os, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	lo = claims_callgrind_count(f1, "summary:");
	hi = claims_callgrind_count(f2, "summary:");
	unlink(out);
	unlink(f1);
	unlink(f2);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || lo < 0 ||
	    hi < 0)
		return -EIO;
	*per_wake = (hi - lo) / ((double)ops * (C2_WAITS_HI - 1));
	return 0;
}

static void measure_instructions(const struct claims_ctx *cx,
				 struct c2_figures *f)
{
	unsigned ops = cx->quick ? 5 : 20;
	char self[4096], dir[] = "/tmp/pushpoll-claims-XXXXXX";
	ssize_t n;

	f->have_instr = false;
#ifndef C2_HAVE_CALLGRIND
	claims_say(cx, "C2: instructions not measured: built without "
		   "valgrind/callgrind.h (apt-get install valgrind, then "
		   "rebuild); the verdict uses work units");
	return;
#endif
	if (!cli_have_program("valgrind")) {
		claims_say(cx, "C2: instructions not measured: "
			   CLI_INSTALL_HINT("valgrind", "valgrind")
			   "; the verdict uses work units");
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0 || mkdtemp(dir) == NULL)
		return;
	self[n] = '\0';
	for (unsigned i = 0; i < f->ndepths; i++) {
		for (int m = 0; m < CLAIMS_NMODELS; m++) {
			if (callgrind_wake(self, dir, m, f->depth[i], ops,
					   &f->instr[m][i]) < 0) {
				claims_say(cx, "C2: callgrind did not run "
					   "(a sanitizer build cannot run under "
					   "valgrind): the verdict uses work "
					   "units");
				rmdir(dir);
				return;
			}
		}
	}
	rmdir(dir);
	f->have_instr = true;
}

/* ---- the experiment --------------------------------------------------------------- */

int c2_measure(const struct claims_ctx *cx, struct c2_figures *f)
{
	int rc;

	memset(f, 0, sizeof(*f));
	f->ndepths = CLAIMS_NDEPTHS;
	memcpy(f->depth, claims_depths, sizeof(f->depth));
	rc = measure_units(f);
	if (rc == 0)
		rc = measure_clock(cx, f);
	if (rc == 0)
		measure_instructions(cx, f);
	return rc;
}

static void c2_plot(const struct claims_ctx *cx, const struct c2_figures *f)
{
	FILE *d = claims_plot_data(cx, "c2.dat");

	if (d == NULL)
		return;
	fprintf(d, "# depth push_instr poll_instr push_ns poll_ns "
		"push_units poll_units\n");
	for (unsigned i = 0; i < f->ndepths; i++)
		fprintf(d, "%u %.1f %.1f %.1f %.1f %.2f %.2f\n", f->depth[i],
			f->instr[CLAIMS_PUSH][i], f->instr[CLAIMS_POLL][i],
			f->ns[CLAIMS_PUSH][i], f->ns[CLAIMS_POLL][i],
			f->units[CLAIMS_PUSH][i], f->units[CLAIMS_POLL][i]);
	fclose(d);
	fprintf(cx->plot,
		"set output 'c2_wake.png'\n"
		"set title 'C2: the cost of one wake against chain depth'\n"
		"set xlabel 'depth D (nested sequences)'\n"
		"set logscale x 2\n"
		"set ylabel '%s per wake'\n"
		"set y2label 'ns per wake (median)'\n"
		"set ytics nomirror\n"
		"set y2tics\n"
		"set yrange [0:*]\n"
		"set y2range [0:*]\n"
		"set key bottom right\n"
		"plot 'c2.dat' using 1:%d with linespoints lw 2 title 'push: %s', \\\n"
		"     'c2.dat' using 1:%d with linespoints lw 2 title 'poll: %s', \\\n"
		"     'c2.dat' using 1:4 axes x1y2 with linespoints dt 2 title 'push: ns', \\\n"
		"     'c2.dat' using 1:5 axes x1y2 with linespoints dt 2 title 'poll: ns'\n"
		"unset logscale x\n"
		"unset y2tics\n"
		"unset y2label\n"
		"set ytics mirror\n"
		"set yrange [*:*]\n"
		"set y2range [*:*]\n"
		"set key top left\n",
		f->have_instr ? "instructions" : "work units",
		f->have_instr ? 2 : 6, f->have_instr ? "instructions" : "units",
		f->have_instr ? 3 : 7, f->have_instr ? "instructions" : "units");
}

int c2_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c2_figures f;
	unsigned last = CLAIMS_NDEPTHS - 1;
	int rc;

	rc = c2_measure(cx, &f);
	if (rc < 0)
		return rc;
	c2_verdict(&f, &row->verdict);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		const double *c = f.have_instr ? f.instr[m] : f.units[m];

		snprintf(m == CLAIMS_PUSH ? row->push : row->poll,
			 sizeof(row->push),
			 "%.0f / %.0f %s, %.0f / %.0f ns per wake at D=%u / D=%u",
			 c[0], c[last], f.have_instr ? "instr" : "units",
			 f.ns[m][0], f.ns[m][last], f.depth[0], f.depth[last]);
	}

	claims_json_begin(cx->json, "figures");
	{
		double d[CLAIMS_NDEPTHS];

		for (unsigned i = 0; i < f.ndepths; i++)
			d[i] = f.depth[i];
		claims_json_nums(cx->json, "depth", d, f.ndepths);
	}
	claims_json_bool(cx->json, "instructions_counted", f.have_instr);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_nums(cx->json, "ns_per_wake", f.ns[m], f.ndepths);
		claims_json_nums(cx->json, "instructions_per_wake", f.instr[m],
				 f.ndepths);
		claims_json_nums(cx->json, "units_per_wake", f.units[m],
				 f.ndepths);
		claims_json_nums(cx->json, "ns_per_op_1_wake", f.op_ns[m],
				 f.ndepths);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	c2_plot(cx, &f);
	return 0;
}
