/* c3_cancel.c: claim C3, what cancellation takes in each model.
 *
 * "Cancelling a callback graph needs tokens threaded through every
 * operation; cancelling a task is dropping it."
 *
 * Two measurements:
 *
 *   the code   how many lines of each engine's two workloads (echo.c and
 *              fanout.c) mention cancellation: a token, a cancel or an
 *              abort (c3_count_lines() says exactly what it counts).  A crude
 *              measure, the same for both engines: it counts the lines a
 *              reader has to get right for cancellation to work.
 *   the safety the torture harness (torture.h), cancel family: every
 *              scenario cancelled at every step of its simulated run, with
 *              the cancel points explored and the violations found.
 *
 * The sources are read at run time from the tree the binary was built from
 * (CLAIMS_SRCDIR, set by the build); without them, only the safety half is
 * measured.
 */
#include "claims.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "torture/torture.h"

#ifndef CLAIMS_SRCDIR
#define CLAIMS_SRCDIR "."
#endif

/* A cancellation burden at least this many times poll's is "needs tokens
 * threaded through every operation". */
#define C3_BURDEN 1.5

/* The rule.  The burden half holds when push's workloads have at least
 * C3_BURDEN times as many cancellation lines as poll's, and a larger share
 * of their code.  The safety half holds when the harness explored cancel
 * points in both engines and found no violation.  Both: holds.  Burden
 * without safety: holds only in part (the reason names the violations).  No
 * burden: does not hold.  Without the sources, the verdict cannot be
 * computed: not measured. */
void c3_verdict(const struct c3_figures *f, struct claim_verdict *v)
{
	double share[CLAIMS_NMODELS], ratio;
	bool burden, safe;
	char safety[160];

	if (!f->lines_counted || f->code_lines[CLAIMS_PUSH] == 0 ||
	    f->code_lines[CLAIMS_POLL] == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "the workload sources were not found");
		return;
	}
	for (int m = 0; m < CLAIMS_NMODELS; m++)
		share[m] = (double)f->cancel_lines[m] / f->code_lines[m];
	ratio = f->cancel_lines[CLAIMS_POLL] > 0
		? (double)f->cancel_lines[CLAIMS_PUSH] /
		  f->cancel_lines[CLAIMS_POLL]
		: (f->cancel_lines[CLAIMS_PUSH] > 0 ? 1e9 : 0);
	burden = ratio >= C3_BURDEN && share[CLAIMS_PUSH] > share[CLAIMS_POLL];
	safe = f->harness_ran && f->violations[CLAIMS_PUSH] == 0 &&
	       f->violations[CLAIMS_POLL] == 0 &&
	       f->cancel_points[CLAIMS_PUSH] > 0 &&
	       f->cancel_points[CLAIMS_POLL] > 0;
	if (f->harness_ran)
		snprintf(safety, sizeof(safety),
			 "%llu / %llu cancel points, %llu / %llu violations "
			 "(push / poll)",
			 (unsigned long long)f->cancel_points[CLAIMS_PUSH],
			 (unsigned long long)f->cancel_points[CLAIMS_POLL],
			 (unsigned long long)f->violations[CLAIMS_PUSH],
			 (unsigned long long)f->violations[CLAIMS_POLL]);
	else
		snprintf(safety, sizeof(safety), "the harness did not run");
	if (!burden)
		claim_verdict_set(v, CLAIM_FAILS,
			"push's workloads have %u cancellation lines (%.1f%%), "
			"poll's %u (%.1f%%): no heavier burden; %s",
			f->cancel_lines[CLAIMS_PUSH], 100 * share[CLAIMS_PUSH],
			f->cancel_lines[CLAIMS_POLL], 100 * share[CLAIMS_POLL],
			safety);
	else if (!safe)
		claim_verdict_set(v, CLAIM_PARTLY,
			"the burden holds (%u against %u cancellation lines) "
			"but safety was not shown: %s",
			f->cancel_lines[CLAIMS_PUSH],
			f->cancel_lines[CLAIMS_POLL], safety);
	else
		claim_verdict_set(v, CLAIM_HOLDS,
			"cancellation lines: push %u of %u (%.1f%%), poll %u of "
			"%u (%.1f%%), x%.1f; both safe: %s",
			f->cancel_lines[CLAIMS_PUSH], f->code_lines[CLAIMS_PUSH],
			100 * share[CLAIMS_PUSH], f->cancel_lines[CLAIMS_POLL],
			f->code_lines[CLAIMS_POLL], 100 * share[CLAIMS_POLL],
			ratio, safety);
}

/* ---- counting lines -------------------------------------------------------- */

static bool is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Whether the code of one line (comments removed) mentions cancellation. */
static bool mentions_cancel(const char *s)
{
	char low[1024];
	size_t n = 0;

	for (; s[n] != '\0' && n < sizeof(low) - 1; n++)
		low[n] = (char)tolower((unsigned char)s[n]);
	low[n] = '\0';
	if (strstr(low, "cancel") || strstr(low, "token") ||
	    strstr(low, "abort"))
		return true;
	for (const char *p = low; (p = strstr(p, "tok")) != NULL; p += 3)
		if ((p == low || !is_ident(p[-1])) && !is_ident(p[3]))
			return true;
	return false;
}

void c3_count_lines(const char *text, unsigned *code, unsigned *cancel)
{
	bool in_comment = false;
	char line[1024];

	while (*text != '\0') {
		size_t n = 0;
		bool has_code = false;

		/* Copy one line without its comments. */
		for (; *text != '\0' && *text != '\n'; text++) {
			if (in_comment) {
				if (text[0] == '*' && text[1] == '/') {
					in_comment = false;
					text++;
				}
				continue;
			}
			if (text[0] == '/' && text[1] == '*') {
				in_comment = true;
				text++;
				continue;
			}
			if (text[0] == '/' && text[1] == '/') {
				while (text[1] != '\0' && text[1] != '\n')
					text++;
				continue;
			}
			if (n < sizeof(line) - 1)
				line[n++] = *text;
			if (!isspace((unsigned char)*text))
				has_code = true;
		}
		if (*text == '\n')
			text++;
		line[n] = '\0';
		if (!has_code)
			continue;
		(*code)++;
		if (mentions_cancel(line))
			(*cancel)++;
	}
}

/* Read a whole file into a NUL-terminated buffer (free it), or NULL. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf != NULL) {
			size_t got = fread(buf, 1, (size_t)len, f);

			buf[got] = '\0';
		}
	}
	fclose(f);
	return buf;
}

static bool count_model(const char *dir, unsigned *code, unsigned *cancel)
{
	static const char *const files[] = { "echo.c", "fanout.c" };
	char path[4096];

	for (size_t i = 0; i < 2; i++) {
		char *text;

		snprintf(path, sizeof(path), "%s/%s/%s", CLAIMS_SRCDIR, dir,
			 files[i]);
		text = read_file(path);
		if (text == NULL)
			return false;
		c3_count_lines(text, code, cancel);
		free(text);
	}
	return true;
}

/* ---- the experiment ----------------------------------------------------------- */

int c3_measure(const struct claims_ctx *cx, struct c3_figures *f)
{
	struct torture_report *rep;
	struct torture_opts o;
	int rc;

	memset(f, 0, sizeof(*f));
	f->lines_counted =
		count_model("push", &f->code_lines[CLAIMS_PUSH],
			    &f->cancel_lines[CLAIMS_PUSH]) &&
		count_model("poll", &f->code_lines[CLAIMS_POLL],
			    &f->cancel_lines[CLAIMS_POLL]);
	if (!f->lines_counted)
		claims_say(cx, "C3: sources not found under %s", CLAIMS_SRCDIR);

	rep = calloc(1, sizeof(*rep));
	if (rep == NULL)
		return -ENOMEM;
	torture_opts_default(&o);
	o.families = TORTURE_CANCEL;
	o.quick = cx->quick;
	rc = torture_run(&o, rep);
	if (rc == 0) {
		f->harness_ran = true;
		f->cancel_points[CLAIMS_PUSH] =
			rep->engine[TORTURE_PUSH].cancel_points;
		f->cancel_points[CLAIMS_POLL] =
			rep->engine[TORTURE_POLL].cancel_points;
		f->violations[CLAIMS_PUSH] = rep->engine[TORTURE_PUSH].violations;
		f->violations[CLAIMS_POLL] = rep->engine[TORTURE_POLL].violations;
	} else {
		claims_say(cx, "C3: the torture harness could not run: %s",
			   strerror(-rc));
	}
	free(rep);
	return 0;
}

int c3_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c3_figures f;
	int rc;

	rc = c3_measure(cx, &f);
	if (rc < 0)
		return rc;
	c3_verdict(&f, &row->verdict);
	for (int m = 0; m < CLAIMS_NMODELS; m++)
		snprintf(m == CLAIMS_PUSH ? row->push : row->poll,
			 sizeof(row->push),
			 "%u of %u workload lines for cancellation; %llu cancel "
			 "points, %llu violations",
			 f.cancel_lines[m], f.code_lines[m],
			 (unsigned long long)f.cancel_points[m],
			 (unsigned long long)f.violations[m]);

	claims_json_begin(cx->json, "figures");
	claims_json_bool(cx->json, "harness_ran", f.harness_ran);
	claims_json_bool(cx->json, "lines_counted", f.lines_counted);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(cx->json, claims_model_name[m]);
		claims_json_num(cx->json, "cancel_lines", f.cancel_lines[m]);
		claims_json_num(cx->json, "code_lines", f.code_lines[m]);
		claims_json_num(cx->json, "cancel_points",
				(double)f.cancel_points[m]);
		claims_json_num(cx->json, "violations",
				(double)f.violations[m]);
		claims_json_end(cx->json);
	}
	claims_json_end(cx->json);
	return 0;
}
