/* c14_completion.c: claim C14, what completion I/O saves per message.
 *
 * "Completion-based I/O removes the readiness round trip: fewer system
 * calls and less CPU per message."
 *
 * A readiness loop asks the kernel which connections are ready, then reads
 * and writes each one: at least two system calls per message, plus the
 * waits.  A completion loop hands the kernel its receives and sends in a
 * ring and collects what finished, many at a time, in one call.
 *
 * The experiment is the bench's closed-loop echo (bench_echo_collect()),
 * at 50 and at 1,000 connections, with its traced round: for every
 * engine's readiness row (epoll, libuv, libevent, push, poll), every
 * engine that has an entry point over the completion interface
 * (engines.h echo_completion: its row is "NAME/uring"), and the
 * hand-written io_uring floor ("uring"), the server's CPU per message
 * (median and range of the untraced rounds) and its system calls per
 * message (counted with ptrace over the measured window, syscount.h).
 */
#include "config.h"

#include "claims.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/syscount.h"
#include "cli/cli.h"
#include "clock.h"
#include "engines.h"

const unsigned c14_conns[C14_NCONNS] = { 50, 1000 };

int c14_find(const struct c14_figures *f, const char *name)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->e[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* ---- the rule ------------------------------------------------------------------ */

/* Whether a's CPU per message is higher than b's beyond the noise: its
 * median higher and its best round worse than b's worst. */
static bool cpu_higher(const struct c14_row *a, const struct c14_row *b,
		       int c)
{
	return a->cpu[c] > b->cpu[c] && a->cpu_range[c][0] > b->cpu_range[c][1];
}

static const char *conns_text(int c)
{
	return c == C14_AT_50 ? "50" : "1k";
}

/* The rule.  The claim is about the interface, so the two floors decide it:
 * the hand-written epoll loop and the hand-written io_uring loop are the
 * best a program can do on each interface, with no model in between
 * (the engines' rows show how much of it each model keeps, and are quoted,
 * not judged).  At each connection count where both floors ran:
 *   fewer     the io_uring floor makes fewer system calls per message than
 *             the epoll floor (counted: exact);
 *   not dearer  its CPU per message is not higher beyond the rounds'
 *             spread (median higher *and* its best round above the epoll
 *             floor's worst): on a shared machine a median difference
 *             inside the spread is noise, not a price.
 * Holds: both, at 50 and at 1k.  Holds only when: fewer calls at some
 * count but not everywhere, or fewer calls but dearer CPU, or one count
 * not measured.  Does not hold: no fewer calls at any count.  Not
 * measured: a floor did not run, or the calls could not be counted. */
void c14_verdict(const struct c14_figures *f, struct claim_verdict *v)
{
	int ep = c14_find(f, "epoll"), ur = c14_find(f, "uring");
	bool fewer[C14_NCONNS] = { false }, dearer[C14_NCONNS] = { false };
	unsigned nmeasured = 0, nfewer = 0, nholds = 0;
	char fig[240] = "";
	size_t n = 0;

	if (ep < 0 || ur < 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED, "the %s floor did "
				  "not run", ep < 0 ? "epoll" : "io_uring");
		return;
	}
	for (int c = 0; c < C14_NCONNS; c++) {
		const struct c14_row *e = &f->e[ep], *u = &f->e[ur];

		if (!e->ran[c] || !u->ran[c] || isnan(e->syscalls[c]) ||
		    isnan(u->syscalls[c]) || e->cpu[c] <= 0)
			continue;
		nmeasured++;
		fewer[c] = u->syscalls[c] < e->syscalls[c];
		dearer[c] = cpu_higher(u, e, c);
		nfewer += fewer[c];
		nholds += fewer[c] && !dearer[c];
		if (n < sizeof(fig))
			n += (size_t)snprintf(fig + n, sizeof(fig) - n,
				"%s%s: %.3f vs %.3f calls/msg, CPU x%.2f%s",
				n ? "; " : "", conns_text(c), u->syscalls[c],
				e->syscalls[c], u->cpu[c] / e->cpu[c],
				dearer[c] ? " (higher beyond the spread)" : "");
	}
	if (nmeasured == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED, "system calls not "
				  "counted: %s", f->not_counted[0]
				  ? f->not_counted : "no floor completed a "
				  "traced round");
		return;
	}
	if (nfewer == 0)
		claim_verdict_set(v, CLAIM_FAILS, "the io_uring floor makes no "
				  "fewer system calls per message than the "
				  "epoll floor (uring vs epoll, %s)", fig);
	else if (nholds == C14_NCONNS)
		claim_verdict_set(v, CLAIM_HOLDS, "uring vs epoll floor, %s",
				  fig);
	else if (nfewer == nholds)
		claim_verdict_set(v, CLAIM_PARTLY, "at %s connections only%s: "
				  "uring vs epoll floor, %s",
				  fewer[C14_AT_50] ? "50" : "1k",
				  nmeasured < C14_NCONNS ? " (the other count "
				  "not measured)" : "", fig);
	else
		claim_verdict_set(v, CLAIM_PARTLY, "fewer calls, but not less "
				  "CPU everywhere: uring vs epoll floor, %s",
				  fig);
}

/* ---- the experiment ------------------------------------------------------------- */

/* The bench rows C14 runs: every engine's readiness row, the io_uring
 * floor, and NAME/uring for every engine with a completion entry point. */
static void c14_rows(struct c14_figures *f, char *list, size_t len)
{
	size_t n = 0;

	list[0] = '\0';
	for (const struct engine *e = engines; e->name != NULL; e++) {
		if (e->echo == NULL)
			continue;
		if (f->n < C14_MAX_ROWS) {
			struct c14_row *r = &f->e[f->n++];
			snprintf(r->name, sizeof(r->name), "%s", e->name);
			/* The io_uring floor is the one readiness-less row. */
			r->completion = strcmp(e->name, "uring") == 0;
		}
		n += (size_t)snprintf(list + n, len - n, "%s%s", n ? "," : "",
				      e->name);
	}
	for (const struct engine *e = engines; e->name != NULL; e++) {
		if (e->echo_completion == NULL || f->n >= C14_MAX_ROWS)
			continue;
		struct c14_row *r = &f->e[f->n++];
		snprintf(r->name, sizeof(r->name), "%s/uring", e->name);
		r->completion = true;
		n += (size_t)snprintf(list + n, len - n, ",%s", r->name);
	}
}

static void c14_take(struct c14_row *r, int c, const struct bench_summary *s)
{
	size_t n = 0;

	r->ran[c] = s->rounds_ok > 0;
	r->cpu[c] = s->med[BENCH_F_CPU];
	r->cpu_range[c][0] = s->min[BENCH_F_CPU];
	r->cpu_range[c][1] = s->max[BENCH_F_CPU];
	r->msgs[c] = s->med[BENCH_F_MSGS];
	r->syscalls[c] = s->syscalls;
	r->top[c][0] = '\0';
	for (unsigned k = 0; k < s->nsys && k < 3; k++) {
		char name[32];
		n += (size_t)snprintf(r->top[c] + n, sizeof(r->top[c]) - n,
				      "%s%s %.2f", k ? ", " : "",
				      syscount_label(s->sys_nr[k], name,
						     sizeof(name)),
				      s->sys_per_msg[k]);
	}
}

int c14_measure(const struct claims_ctx *cx, struct c14_figures *f)
{
	struct bench_summary sum[BENCH_MAX_ENGINES];
	struct bench_opts bo;
	char list[256];
	const char *why;

	memset(f, 0, sizeof(*f));
	c14_rows(f, list, sizeof(list));
	for (unsigned i = 0; i < f->n; i++)
		for (int c = 0; c < C14_NCONNS; c++)
			f->e[i].syscalls[c] = NAN;
	cli_raise_nofile();
	bench_opts_default(&bo);
	bo.engines = list;
	bo.syscalls = true;
	bo.progress = false;
	bo.warmup_ns = (cx->quick ? 100 : 300) * CLOCK_NS_PER_MS;
	bo.duration_ns = (cx->quick ? 300 : 1000) * CLOCK_NS_PER_MS;
	bo.rounds = cx->quick ? 1 : 3;
	for (int c = 0; c < C14_NCONNS; c++) {
		int n;

		bo.conns = c14_conns[c];
		claims_say(cx, "C14: echo at %u connections: %s", bo.conns,
			   list);
		n = bench_echo_collect(&bo, sum, BENCH_MAX_ENGINES);
		for (int k = 0; k < n; k++) {
			int i = c14_find(f, sum[k].engine);
			if (i >= 0)
				c14_take(&f->e[i], c, &sum[k]);
		}
	}
	why = bench__syscalls_why();
	if (why != NULL)
		snprintf(f->not_counted, sizeof(f->not_counted), "%s", why);
	return 0;
}

/* "2.02 calls, 6878 ns/msg" at count c, or "did not run". */
static size_t c14_figure(char *buf, size_t len, const struct c14_row *r,
			 int c)
{
	if (!r->ran[c])
		return (size_t)snprintf(buf, len, "did not run");
	if (isnan(r->syscalls[c]))
		return (size_t)snprintf(buf, len, "- calls, %.0f ns/msg",
					r->cpu[c]);
	return (size_t)snprintf(buf, len, "%.2f calls, %.0f ns/msg",
				r->syscalls[c], r->cpu[c]);
}

/* A model's cell: its readiness row and its io_uring row, at 50 and 1k. */
static void c14_cell(char *buf, size_t len, const struct c14_figures *f,
		     const char *model)
{
	char uring[32];
	int rd = c14_find(f, model), cq;
	size_t n = 0;

	snprintf(uring, sizeof(uring), "%s/uring", model);
	cq = c14_find(f, uring);
	for (int c = 0; c < C14_NCONNS && n < len; c++) {
		n += (size_t)snprintf(buf + n, len - n, "%s%s: epoll ",
				      c ? "; " : "", conns_text(c));
		if (rd >= 0 && n < len)
			n += c14_figure(buf + n, len - n, &f->e[rd], c);
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, ", uring ");
		if (n < len)
			n += cq >= 0 ? c14_figure(buf + n, len - n, &f->e[cq], c)
				     : (size_t)snprintf(buf + n, len - n,
							"no row");
	}
}

int c14_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c14_figures f;
	size_t n = 0;
	int rc;

	rc = c14_measure(cx, &f);
	if (rc < 0)
		return rc;
	c14_verdict(&f, &row->verdict);
	c14_cell(row->push, sizeof(row->push), &f, "push");
	c14_cell(row->poll, sizeof(row->poll), &f, "poll");
	for (unsigned i = 0; i < f.n && n < sizeof(row->baselines); i++) {
		const struct c14_row *r = &f.e[i];
		if (strcmp(r->name, "push") == 0 ||
		    strcmp(r->name, "poll") == 0 ||
		    strchr(r->name, '/') != NULL)
			continue;
		n += (size_t)snprintf(row->baselines + n,
				      sizeof(row->baselines) - n, "%s%s ",
				      n ? "; " : "", r->name);
		if (n < sizeof(row->baselines))
			n += c14_figure(row->baselines + n,
					sizeof(row->baselines) - n, r,
					C14_AT_50);
	}
	if (n > 0 && n < sizeof(row->baselines))
		snprintf(row->baselines + n, sizeof(row->baselines) - n,
			 " (50 conns)");
	c14_json(cx->json, &f);
	return 0;
}

void c14_json(struct claims_json *j, const struct c14_figures *f)
{
	double conns[C14_NCONNS];

	for (int c = 0; c < C14_NCONNS; c++)
		conns[c] = c14_conns[c];
	claims_json_begin(j, "figures");
	claims_json_nums(j, "conns", conns, C14_NCONNS);
	claims_json_str(j, "system_calls_not_counted", f->not_counted);
	claims_json_array(j, "engines");
	for (unsigned i = 0; i < f->n; i++) {
		const struct c14_row *r = &f->e[i];

		claims_json_begin(j, NULL);
		claims_json_str(j, "engine", r->name);
		claims_json_str(j, "backend", r->completion ? "uring" : "epoll");
		claims_json_array(j, "at");
		for (int c = 0; c < C14_NCONNS; c++) {
			claims_json_begin(j, NULL);
			claims_json_num(j, "conns", c14_conns[c]);
			claims_json_bool(j, "ran", r->ran[c]);
			claims_json_num(j, "syscalls_per_msg", r->syscalls[c]);
			claims_json_str(j, "most_frequent", r->top[c]);
			claims_json_num(j, "cpu_ns_per_msg",
					r->ran[c] ? r->cpu[c] : NAN);
			claims_json_nums(j, "cpu_min_max", r->cpu_range[c], 2);
			claims_json_num(j, "msgs_per_s",
					r->ran[c] ? r->msgs[c] : NAN);
			claims_json_end(j);
		}
		claims_json_array_end(j);
		claims_json_end(j);
	}
	claims_json_array_end(j);
	claims_json_end(j);
}
