/* claims.c: `pushpoll claims`: the runner.
 *
 *   pushpoll claims [C1 C4 ... C15] [--json FILE] [--plot DIR] [--quick]
 *
 * Runs the experiment of every claim named (all of them by default), in
 * order, and prints one table: the claim, the push engine's figure, the poll
 * engine's, the baselines' where the claim is about them, and the verdict
 * its rule computed; then, per claim, the one line of figures the rule
 * decided on.  The table is Markdown, so that docs/claims.md can show it as
 * printed.  --json saves every figure, --plot draws the curves with gnuplot.
 *
 * The runner itself decides nothing: each verdict comes from cN_verdict(),
 * beside its experiment.
 */
#include "claims.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"

/* ---- plots ----------------------------------------------------------------------- */

/* Run gnuplot on the script, in the plot directory, so the script names
 * its data files and images relative to it.  Returns 0 or -errno. */
static int plot_draw(const char *dir)
{
	pid_t pid;
	int status;

	if (!cli_have_program("gnuplot"))
		return -ENOENT;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(127);
		execlp("gnuplot", "gnuplot", "claims.gp", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- the claims ------------------------------------------------------------------- */

static const struct claim_def {
	const char *id;
	const char *text;
	int (*run)(struct claims_ctx *cx, struct claim_row *row);
} claims[] = {
	{ "C1", "A callback chain allocates at every level of composition; "
		"a polled task allocates once, however deep the chain.",
	  c1_run },
	{ "C2", "A wake re-polls the chain from the top, so it costs more as "
		"the chain deepens; a callback resumes the innermost step "
		"directly.", c2_run },
	{ "C3", "Cancelling a callback graph needs tokens threaded through "
		"every operation; cancelling a task is dropping it.", c3_run },
	{ "C4", "Switching between tasks costs nanoseconds; signals and "
		"thread hand-offs cost microseconds.", c4_run },
	{ "C5", "One step that computes for long without yielding starves "
		"its thread; a blocking pool, chunks or a budget fix it.",
	  c5_run },
	{ "C6", "A running blocking job cannot be cancelled, so its buffer "
		"must outlive the cancellation.", c6_run },
	{ "C7", "Allocating only when an operation has to wait removes most "
		"of the cost: most operations complete at once.", c7_run },
	{ "C8", "The poll model needs no heap at all: tasks can live in "
		"static storage.", c8_run },
	{ "C9", "A single-threaded executor needs no atomics; sharing tasks "
		"across threads costs atomics on every wake.", c9_run },
	{ "C10", "Blocking on an async result is trivial: a small executor "
		 "runs until one future is done.", c10_run },
	{ "C11", "Callbacks were cheaper at the raw I/O level; the poll "
		 "model pays nothing in throughput or latency.", c11_run },
	{ "C12", "An idle connection costs a readiness-based server only its "
		 "state; a server that keeps a read pending must commit a "
		 "buffer to it.", c12_run },
	{ "C13", "Completion-based I/O fits callbacks; a future must give "
		 "up its buffer to the kernel, so dropping it no longer "
		 "cancels safely by itself.", c13_run },
	{ "C14", "Completion-based I/O removes the readiness round trip: "
		 "fewer system calls and less CPU per message.", c14_run },
	{ "C15", "With a user-space network stack an I/O operation costs "
		 "hundreds of nanoseconds, and an allocation is a good chunk "
		 "of that.", c15_run },
};

#define NCLAIMS (sizeof(claims) / sizeof(claims[0]))

static const struct claim_def *claim_find(const char *id)
{
	for (size_t i = 0; i < NCLAIMS; i++)
		if (strcasecmp(claims[i].id, id) == 0)
			return &claims[i];
	return NULL;
}

/* ---- the machine ------------------------------------------------------------------ */

struct machine {
	char cpu[128];
	long cpus;
	char kernel[3 * 65 + 3];     /* three utsname fields */
};

static void machine_get(struct machine *m)
{
	struct utsname u;
	char line[256];
	FILE *f;

	snprintf(m->cpu, sizeof(m->cpu), "unknown");
	f = fopen("/proc/cpuinfo", "r");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) != 0 ||
			    colon == NULL)
				continue;
			snprintf(m->cpu, sizeof(m->cpu), "%s", colon + 2);
			m->cpu[strcspn(m->cpu, "\n")] = '\0';
			break;
		}
		fclose(f);
	}
	m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname,
			 u.release, u.machine);
	else
		snprintf(m->kernel, sizeof(m->kernel), "unknown");
}

/* ---- the table ---------------------------------------------------------------------- */

static void print_table(FILE *f, struct claim_row *rows, unsigned n)
{
	fprintf(f, "| claim | push | poll | baselines | verdict |\n");
	fprintf(f, "|---|---|---|---|---|\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "| %s | %s | %s | %s | **%s** |\n", rows[i].id,
			rows[i].push[0] ? rows[i].push : "-",
			rows[i].poll[0] ? rows[i].poll : "-",
			rows[i].baselines[0] ? rows[i].baselines : "-",
			claim_outcome_name(rows[i].verdict.outcome));
	fprintf(f, "\n");
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "- **%s** %s *%s*: %s\n", rows[i].id, rows[i].text,
			claim_outcome_name(rows[i].verdict.outcome),
			rows[i].verdict.why);
}

static const char *const plot_preamble =
	"# Drawn by `pushpoll claims --plot`: one PNG per figure.\n"
	"set terminal pngcairo noenhanced size 900,560 font 'DejaVu Sans,11'\n"
	"set grid\n"
	"set key top left\n";

/* ---- the command ---------------------------------------------------------------------- */

static void usage_claims(void)
{
	printf("usage: pushpoll claims [C1 ... C15] [--json FILE] "
	       "[--plot DIR] [--quick]\n\n");
	for (size_t i = 0; i < NCLAIMS; i++)
		printf("  %-4s %s\n", claims[i].id, claims[i].text);
}

int claims_main(int argc, char **argv)
{
	const struct claim_def *chosen[NCLAIMS];
	struct claims_ctx cx = { .progress = stderr };
	struct claims_json json = { 0 };
	const char *json_path = NULL;
	struct claim_row rows[NCLAIMS];
	struct machine mach;
	unsigned n = 0, failed = 0;
	char path[4096];
	uint64_t t_all;

	if (argc > 1 && strcmp(argv[1], "--callgrind-chain") == 0)
		return c2_callgrind_child(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "--callgrind-wakes") == 0)
		return c9_callgrind_child(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "--callgrind-echo") == 0)
		return c15_callgrind_child(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		const struct claim_def *c;

		if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
			json_path = argv[++i];
		} else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc) {
			cx.plot_dir = argv[++i];
		} else if (strcmp(argv[i], "--quick") == 0) {
			cx.quick = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage_claims();
			return 0;
		} else if (strcmp(argv[i], "--json") == 0 ||
			   strcmp(argv[i], "--plot") == 0) {
			cli_usage_error("%s needs a value", argv[i]);
		} else if (argv[i][0] == '-') {
			cli_usage_error("claims: unknown option '%s'", argv[i]);
		} else if ((c = claim_find(argv[i])) != NULL) {
			bool dup = false;

			for (unsigned k = 0; k < n; k++)
				dup |= chosen[k] == c;
			if (!dup)
				chosen[n++] = c;
		} else {
			char ids[128];
			size_t k = 0;

			for (size_t j = 0; j < NCLAIMS && k < sizeof(ids); j++)
				k += (size_t)snprintf(ids + k, sizeof(ids) - k,
						      "%s%s", j ? " " : "",
						      claims[j].id);
			cli_usage_error("claims: unknown claim '%s' (claims: "
					"%s)", argv[i], ids);
		}
	}
	if (n == 0)
		for (size_t i = 0; i < NCLAIMS; i++)
			chosen[n++] = &claims[i];

	if (json_path != NULL) {
		json.f = fopen(json_path, "w");
		if (json.f == NULL)
			cli_usage_error("--json %s: %s", json_path,
					strerror(errno));
		cx.json = &json;
	}
	if (cx.plot_dir != NULL) {
		cli_output_dir("--plot", cx.plot_dir);
		snprintf(path, sizeof(path), "%s/claims.gp", cx.plot_dir);
		cx.plot = fopen(path, "w");
		if (cx.plot == NULL)
			cli_usage_error("--plot %s: %s", path, strerror(errno));
		fputs(plot_preamble, cx.plot);
	}

	machine_get(&mach);
	json.first[0] = true;
	claims_json_begin(cx.json, NULL);
	claims_json_begin(cx.json, "machine");
	claims_json_str(cx.json, "cpu", mach.cpu);
	claims_json_num(cx.json, "cpus", (double)mach.cpus);
	claims_json_str(cx.json, "kernel", mach.kernel);
	claims_json_end(cx.json);
	claims_json_bool(cx.json, "quick", cx.quick);
	claims_json_array(cx.json, "claims");

	t_all = clock_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct claim_row *row = &rows[i];
		uint64_t t0 = clock_now_ns();
		int rc;

		memset(row, 0, sizeof(*row));
		row->id = chosen[i]->id;
		row->text = chosen[i]->text;
		claims_say(&cx, "%s: %s", row->id, row->text);
		claims_json_begin(cx.json, NULL);
		claims_json_str(cx.json, "id", row->id);
		claims_json_str(cx.json, "claim", row->text);
		rc = chosen[i]->run(&cx, row);
		row->seconds = (double)(clock_now_ns() - t0) / 1e9;
		if (rc < 0) {
			failed++;
			claim_verdict_set(&row->verdict, CLAIM_NOT_MEASURED,
					  "the experiment could not run: %s",
					  strerror(-rc));
		}
		claims_json_str(cx.json, "push", row->push);
		claims_json_str(cx.json, "poll", row->poll);
		claims_json_str(cx.json, "baselines", row->baselines);
		claims_json_str(cx.json, "verdict",
				claim_outcome_name(row->verdict.outcome));
		claims_json_str(cx.json, "why", row->verdict.why);
		claims_json_num(cx.json, "seconds", row->seconds);
		claims_json_end(cx.json);
		claims_say(&cx, "%s: %s (%.1f s)", row->id,
			   claim_outcome_name(row->verdict.outcome),
			   row->seconds);
	}
	claims_json_array_end(cx.json);
	claims_json_end(cx.json);

	printf("pushpoll claims on %s (%ld CPUs), %s; %.0f s%s\n\n",
	       mach.cpu, mach.cpus, mach.kernel,
	       (double)(clock_now_ns() - t_all) / 1e9,
	       cx.quick ? ", --quick" : "");
	print_table(stdout, rows, n);

	if (json.f != NULL) {
		fputc('\n', json.f);
		if (fclose(json.f) != 0)
			fprintf(stderr, "pushpoll: --json %s: %s\n",
				json_path, strerror(errno));
	}
	if (cx.plot != NULL) {
		int rc;

		fclose(cx.plot);
		rc = plot_draw(cx.plot_dir);
		if (rc == -ENOENT)
			fprintf(stderr, "pushpoll: --plot: "
				CLI_INSTALL_HINT("gnuplot", "gnuplot-nox")
				": %s/claims.gp and its data are written, "
				"no PNG\n", cx.plot_dir);
		else if (rc < 0)
			fprintf(stderr, "pushpoll: --plot: gnuplot failed in "
				"%s\n", cx.plot_dir);
		else
			printf("\nplots: %s/*.png\n", cx.plot_dir);
	}
	return failed == 0 ? 0 : EXIT_MEASURED_FAILURE;
}
