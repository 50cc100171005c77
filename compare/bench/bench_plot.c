/* bench_plot.c: `pushpoll bench --plot DIR`: the figures as PNGs.
 *
 * For each plot this writes its data (NAME.dat) and a gnuplot script
 * (NAME.gp) into DIR, then runs gnuplot there; the scripts stay, so a
 * reader can restyle a plot without running the bench again.
 *
 *   echo-latency.png    latency against percentile, one curve per engine,
 *                       on the usual "nines" axis (50%, 90%, 99%, 99.9%...),
 *                       from every round's samples merged (closed loop)
 *   echo-open-latency.png  the same in the open loop: every engine under
 *                       the same load
 *   echo-throughput.png messages per second, and server CPU per message,
 *                       one bar per engine with its min..max
 *   allocs.png          heap allocations per echo message, and per churn
 *                       connection
 *   churn-latency.png   as echo-latency, per exchange
 *   fanout.png          delivered MB/s, and peak heap against the window
 *                       bound, per engine and sink kind
 */
#include "bench.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TERMINAL "set terminal pngcairo size 1100,650 font 'DejaVu Sans,11'\n"

/* Run `gnuplot NAME.gp` in dir; 0 or -errno.  Without gnuplot, 0: the
 * script and its data stay in dir, to be drawn later (bench_main has said
 * so). */
int bench__gnuplot(const char *dir, const char *name)
{
	char script[64];
	int status;
	pid_t pid;

	if (!cli_have_program("gnuplot"))
		return 0;
	snprintf(script, sizeof(script), "%s.gp", name);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pushpoll: --plot: gnuplot failed on %s/%s\n",
			dir, script);
		return -EIO;
	}
	return 0;
}

FILE *bench__plot_file(const char *dir, const char *name,
			const char *ext)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	f = fopen(path, "w");
	if (f == NULL)
		fprintf(stderr, "pushpoll: --plot: %s: %s\n", path,
			strerror(errno));
	return f;
}

/* ---- latency curves ---------------------------------------------------------------- */

/* One block per engine: "x latency_us", where x = -log10(1 - p/100), so that
 * 90% is at 1, 99% at 2, 99.9% at 3; the maximum is drawn at x = 5 (the
 * "100%" end of the axis). */
static int plot_latency(const char *dir, const char *name, const char *title,
			const struct bench_summary *s, const struct hist *h,
			int n)
{
	FILE *d = bench__plot_file(dir, name, "dat"), *g;
	int drawn = 0;

	if (d == NULL)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (s[i].rounds_ok == 0 || h[i].count == 0)
			continue;
		fprintf(d, "# %s\n", s[i].engine);
		/* tail = 10^-x, x from 0 to 4.5 in steps of 1/20. */
		double tail = 1.0;
		for (int k = 0; k <= 90; k++) {
			double p = 100.0 * (1.0 - tail);
			fprintf(d, "%.3f %.3f\n", k / 20.0,
				(double)hist_percentile(&h[i], p) / 1e3);
			tail *= 0.89125093813374556;    /* 10^(-1/20) */
		}
		fprintf(d, "5 %.3f\n\n\n",
			(double)hist_percentile(&h[i], 100) / 1e3);
		drawn++;
	}
	fclose(d);
	if (drawn == 0)
		return 0;
	g = bench__plot_file(dir, name, "gp");
	if (g == NULL)
		return -errno;
	fprintf(g, TERMINAL "set output '%s.png'\n"
		"set title \"%s\"\n"
		"set xlabel 'percentile'\nset ylabel 'latency (us)'\n"
		"set logscale y\nset grid xtics ytics mytics\n"
		/* A tic label is a format: '%%' in the script prints '%'. */
		"set xtics ('0%%%%' 0, '50%%%%' 0.301, '90%%%%' 1, '99%%%%' 2, "
		"'99.9%%%%' 3, '99.99%%%%' 4, 'max' 5)\n"
		"set xrange [0:5.1]\nset key top left\n"
		"plot ", name, title);
	for (int i = 0, b = 0; i < n; i++) {
		if (s[i].rounds_ok == 0 || h[i].count == 0)
			continue;
		fprintf(g, "%s'%s.dat' index %d using 1:2 with linespoints "
			"pointsize 0.4 lw 2 title '%s'", b ? ", \\\n     " : "",
			name, b, s[i].engine);
		b++;
	}
	fprintf(g, "\n");
	fclose(g);
	return bench__gnuplot(dir, name);
}

/* ---- bars ---------------------------------------------------------------------------- */

/* A data file of "engine median min max" rows for field f of s, scaled. */
static int bars_data(FILE *d, const struct bench_summary *s, int n, int f,
		     double scale)
{
	int rows = 0;

	for (int i = 0; i < n; i++) {
		if (s[i].rounds_ok == 0)
			continue;
		fprintf(d, "%s %.4f %.4f %.4f\n", s[i].engine,
			s[i].med[f] * scale, s[i].min[f] * scale,
			s[i].max[f] * scale);
		rows++;
	}
	return rows;
}

static const char *const BARS =
	"set style data histograms\n"
	"set style histogram errorbars gap 1 lw 1.5\n"
	"set style fill solid 0.6 border -1\n"
	"set boxwidth 0.8\nset grid ytics\nset yrange [0:*]\n"
	"set offsets 0, 0, graph 0.08, 0\n"
	"set xtics rotate by -30\nunset key\n";

static int plot_throughput(const char *dir, const struct bench_report *rep,
			   const struct bench_section *sec)
{
	const char *name = "echo-throughput";
	FILE *d = bench__plot_file(dir, name, "dat"), *g;
	int rows;

	if (d == NULL)
		return -errno;
	fprintf(d, "# engine msgs/s min max\n");
	rows = bars_data(d, sec->sum, sec->n, BENCH_F_MSGS, 1.0);
	fprintf(d, "\n\n# engine cpu-ns/msg min max\n");
	bars_data(d, sec->sum, sec->n, BENCH_F_CPU, 1.0);
	fclose(d);
	if (rows == 0)
		return 0;
	g = bench__plot_file(dir, name, "gp");
	if (g == NULL)
		return -errno;
	fprintf(g, TERMINAL "set output '%s.png'\n%s"
		"set multiplot layout 1,2 title \"echo, %s loop: %u connections, "
		"%zu-byte messages (median of %d rounds; bars: min..max)\"\n"
		"set title 'throughput (messages/s, higher is better)'\n"
		"plot '%s.dat' index 0 using 2:3:4:xtic(1) lc rgb '#4477aa', "
		"'' index 0 using 0:2:(sprintf('%%.0f', $2)) with labels "
		"offset 0,0.8\n"
		"set title 'server CPU per message (ns, lower is better)'\n"
		"plot '%s.dat' index 1 using 2:3:4:xtic(1) lc rgb '#cc6677', "
		"'' index 1 using 0:2:(sprintf('%%.0f', $2)) with labels "
		"offset 0,0.8\n"
		"unset multiplot\n", name, BARS, sec->rate ? "open" : "closed",
		rep->opts->conns, rep->opts->msg_size, rep->opts->rounds, name,
		name);
	fclose(g);
	return bench__gnuplot(dir, name);
}

static int plot_allocs(const char *dir, const struct bench_report *rep,
		       const struct bench_section *echo,
		       const struct bench_section *chn)
{
	const char *name = "allocs";
	FILE *d = bench__plot_file(dir, name, "dat"), *g;
	int rows = 0, churn = 0;

	if (d == NULL)
		return -errno;
	fprintf(d, "# engine allocs/msg min max\n");
	if (echo != NULL)
		rows = bars_data(d, echo->sum, echo->n, BENCH_F_ALLOCS, 1.0);
	fprintf(d, "\n\n# engine allocs/connection min max\n");
	if (chn != NULL)
		churn = bars_data(d, chn->sum, chn->n, BENCH_F_ALLOCS, 1.0);
	fclose(d);
	if (rows == 0 && churn == 0)
		return 0;
	g = bench__plot_file(dir, name, "gp");
	if (g == NULL)
		return -errno;
	fprintf(g, TERMINAL "set output '%s.png'\n%s"
		"set multiplot layout 1,%d title \"server heap allocations "
		"(median of %d rounds; bars: min..max)\"\n", name, BARS,
		(rows > 0) + (churn > 0), rep->opts->rounds);
	if (rows > 0)
		fprintf(g, "set title 'per echo round trip'\n"
			"plot '%s.dat' index 0 using 2:3:4:xtic(1) "
			"lc rgb '#228833', '' index 0 using "
			"0:2:(sprintf('%%.2f', $2)) with labels "
			"offset 0,0.8\n", name);
	if (churn > 0)
		fprintf(g, "set title 'per connection (churn: connect, one "
			"exchange, close)'\n"
			"plot '%s.dat' index 1 using 2:3:4:xtic(1) "
			"lc rgb '#ccbb44', '' index 1 using "
			"0:2:(sprintf('%%.2f', $2)) with labels "
			"offset 0,0.8\n", name);
	fprintf(g, "unset multiplot\n");
	fclose(g);
	return bench__gnuplot(dir, name);
}

/* ---- fanout ----------------------------------------------------------------------------- */

static int plot_fanout(const char *dir, const struct bench_report *rep)
{
	const struct bench_opts *o = rep->opts;
	const char *name = "fanout";
	uint64_t big = o->file_size[o->nsizes - 1];
	FILE *d = bench__plot_file(dir, name, "dat"), *g;
	const char *engines[BENCH_MAX_ENGINES];
	int ne = 0;

	if (d == NULL)
		return -errno;
	/* One row per engine (and tool): tcp and file MB/s, tcp and file
	 * peak heap (the highest over sizes and rounds); "-" where not
	 * measured. */
	for (int i = 0; i < rep->nfanout; i++) {
		bool seen = false;
		for (int k = 0; k < ne; k++)
			seen |= strcmp(engines[k], rep->fanout[i].engine) == 0;
		if (!seen && ne < BENCH_MAX_ENGINES)
			engines[ne++] = rep->fanout[i].engine;
	}
	fprintf(d, "# engine tcp-MB/s file-MB/s tcp-peak-KiB file-peak-KiB\n");
	for (int k = 0; k < ne; k++) {
		double mb[2] = { NAN, NAN }, peak[2] = { NAN, NAN };
		for (int i = 0; i < rep->nfanout; i++) {
			const struct bench_fanout_summary *s = &rep->fanout[i];
			int j = s->sink_kind == BENCH_SINK_TCP ? 0 : 1;
			if (strcmp(s->engine, engines[k]) != 0 ||
			    s->rounds_ok == 0)
				continue;
			if (s->file_size == big)
				mb[j] = s->med[BENCH_FF_MB];
			/* A tool's heap is not counted: left blank. */
			if (!s->tool && (isnan(peak[j]) ||
					 s->max[BENCH_FF_PEAK] > peak[j]))
				peak[j] = s->max[BENCH_FF_PEAK];
		}
		fprintf(d, "%s", engines[k]);
		for (int j = 0; j < 2; j++)
			fprintf(d, isnan(mb[j]) ? " -" : " %.1f", mb[j]);
		for (int j = 0; j < 2; j++)
			fprintf(d, isnan(peak[j]) ? " -" : " %.1f", peak[j]);
		fputc('\n', d);
	}
	fclose(d);
	if (ne == 0)
		return 0;
	g = bench__plot_file(dir, name, "gp");
	if (g == NULL)
		return -errno;
	fprintf(g, TERMINAL "set output '%s.png'\n"
		"set datafile missing '-'\n"
		"set style data histograms\n"
		"set style histogram clustered gap 1\n"
		"set style fill solid 0.6 border -1\n"
		"set grid ytics\nset yrange [0:*]\nset xtics rotate by -30\n"
		"set key top right\n"
		"set multiplot layout 1,2 title \"fanout: %u sinks, %zu KiB "
		"chunks, window %u (median of %d rounds)\"\n"
		"set title 'delivered MB/s, %llu MiB file (higher is better)'\n"
		"plot '%s.dat' using 2:xtic(1) title 'tcp' lc rgb '#4477aa', "
		"'' using 3 title 'file' lc rgb '#66ccee'\n"
		"set key top left\nset yrange [0:%.0f]\n"
		"set title 'peak heap KiB, every size (bound: %.0f KiB)'\n"
		"plot '%s.dat' using 4:xtic(1) title 'tcp' lc rgb '#aa3377', "
		"'' using 5 title 'file' lc rgb '#ee6677', "
		"%.1f with lines lw 2 dt 2 lc rgb 'black' title 'bound'\n"
		"unset multiplot\n", name, o->sinks, o->chunk_size / 1024,
		o->window, o->rounds, (unsigned long long)(big >> 20), name,
		bench__fanout_bound_kib(o) * 1.3, bench__fanout_bound_kib(o),
		name, bench__fanout_bound_kib(o));
	fclose(g);
	return bench__gnuplot(dir, name);
}

int bench__plot(const char *dir, const struct bench_report *rep)
{
	const struct bench_section *closed = bench__section(rep, "echo");
	const struct bench_section *open = bench__section(rep, "echo_open");
	const struct bench_section *churn = bench__section(rep, "churn");
	int err = 0, e;

	if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "pushpoll: --plot %s: %s\n", dir,
			strerror(errno));
		return -errno;
	}
	if (closed != NULL) {
		e = plot_latency(dir, "echo-latency", "echo, closed loop: "
				 "latency by percentile, every round merged",
				 closed->sum, closed->hist, closed->n);
		err = err ? err : e;
	}
	if (open != NULL) {
		char title[160];
		snprintf(title, sizeof(title), "echo, open loop at %llu "
			 "messages/s for every engine: latency by percentile",
			 (unsigned long long)open->rate);
		e = plot_latency(dir, "echo-open-latency", title, open->sum,
				 open->hist, open->n);
		err = err ? err : e;
	}
	if (closed != NULL || open != NULL) {
		e = plot_throughput(dir, rep, closed ? closed : open);
		err = err ? err : e;
	}
	if (churn != NULL) {
		e = plot_latency(dir, "churn-latency", "churn: connect to "
				 "close, by percentile", churn->sum,
				 churn->hist, churn->n);
		err = err ? err : e;
	}
	if (closed != NULL || open != NULL || churn != NULL) {
		e = plot_allocs(dir, rep, closed ? closed : open, churn);
		err = err ? err : e;
	}
	if (rep->has_fanout) {
		e = plot_fanout(dir, rep);
		err = err ? err : e;
	}
	if (err == 0)
		fprintf(stderr, "pushpoll: %s written to %s/\n",
			cli_have_program("gnuplot") ? "plots" :
			"the plots' scripts and data", dir);
	return err;
}
