/* claims_common.c: what every experiment of `pushpoll claims` calls
 * (claims.h): verdicts, progress lines, medians, the JSON writer and plot
 * data files.  The cN_*.c files and the runner (claims.c) use these; these
 * use none of them.
 */
#include "claims.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const claims_model_name[CLAIMS_NMODELS] = { "push", "poll" };

/* ---- verdicts ------------------------------------------------------------- */

const char *claim_outcome_name(enum claim_outcome o)
{
	switch (o) {
	case CLAIM_HOLDS:
		return "holds";
	case CLAIM_FAILS:
		return "does not hold";
	case CLAIM_PARTLY:
		return "holds only when";
	case CLAIM_NOT_MEASURED:
		break;
	}
	return "not measured";
}

void claim_verdict_set(struct claim_verdict *v, enum claim_outcome o,
		       const char *fmt, ...)
{
	va_list ap;

	v->outcome = o;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

/* ---- small helpers ---------------------------------------------------------- */

void claims_say(const struct claims_ctx *cx, const char *fmt, ...)
{
	va_list ap;

	if (cx->progress == NULL)
		return;
	fputs("claims: ", cx->progress);
	va_start(ap, fmt);
	vfprintf(cx->progress, fmt, ap);
	va_end(ap);
	fputc('\n', cx->progress);
	fflush(cx->progress);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double claims_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double claims_callgrind_count(const char *path, const char *key)
{
	char line[256];
	double total = -1;
	size_t len = strlen(key);
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, len) == 0)
			total = strtod(line + len, NULL);
	fclose(f);
	return total;
}

/* ---- JSON ------------------------------------------------------------------------ */
/* A writer that knows only where commas go (struct claims_json, claims.h). */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The comma, the indentation and the key of a new member. */
static void json_member(struct claims_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	fprintf(j->f, "\n%*s", 2 * j->depth, "");
	if (key != NULL) {
		json_string(j->f, key);
		fputs(": ", j->f);
	}
}

static void json_open(struct claims_json *j, const char *key, char c)
{
	if (j == NULL)
		return;
	json_member(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void json_close(struct claims_json *j, char c)
{
	if (j == NULL)
		return;
	j->depth--;
	fprintf(j->f, "\n%*s%c", 2 * j->depth, "", c);
}

void claims_json_begin(struct claims_json *j, const char *key)
{
	json_open(j, key, '{');
}

void claims_json_end(struct claims_json *j)
{
	json_close(j, '}');
}

void claims_json_array(struct claims_json *j, const char *key)
{
	json_open(j, key, '[');
}

void claims_json_array_end(struct claims_json *j)
{
	json_close(j, ']');
}

void claims_json_num(struct claims_json *j, const char *key, double v)
{
	if (j == NULL)
		return;
	json_member(j, key);
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", j->f);     /* NaN and infinities are not JSON */
	else
		fprintf(j->f, "%.10g", v);
}

void claims_json_str(struct claims_json *j, const char *key, const char *s)
{
	if (j == NULL)
		return;
	json_member(j, key);
	json_string(j->f, s);
}

void claims_json_bool(struct claims_json *j, const char *key, bool b)
{
	if (j == NULL)
		return;
	json_member(j, key);
	fputs(b ? "true" : "false", j->f);
}

void claims_json_nums(struct claims_json *j, const char *key,
		      const double *v, unsigned n)
{
	if (j == NULL)
		return;
	json_member(j, key);
	fputc('[', j->f);
	for (unsigned i = 0; i < n; i++)
		fprintf(j->f, "%s%.10g", i ? ", " : "", v[i]);
	fputc(']', j->f);
}

/* ---- plots ----------------------------------------------------------------------- */

FILE *claims_plot_data(const struct claims_ctx *cx, const char *name)
{
	char path[4096];
	FILE *f;

	if (cx->plot_dir == NULL || cx->plot == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", cx->plot_dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		claims_say(cx, "cannot write %s: %s", path, strerror(errno));
	return f;
}
