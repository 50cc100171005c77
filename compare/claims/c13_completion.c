/* c13_completion.c: claim C13, what cancellation takes under completion I/O.
 *
 * "Completion-based I/O fits callbacks; a future must give up its buffer
 * to the kernel, so dropping it no longer cancels safely by itself."
 *
 * On readiness a pending future holds a waker and nothing else, so
 * dropping it is cancelling it (C3).  On a completion queue the kernel
 * owns the operation and its buffer from submission to completion: a
 * future dropped meanwhile must hand both to someone who outlives it (the
 * loop's orphans, poll/io_completion.c), or the kernel writes into freed
 * memory.  A push request already lives until its callback, and its
 * callback is the completion: its buffer dies there, as before.  This
 * mirrors C3, with three measurements:
 *
 *   safety     the torture harness (torture.h), cancel family, over the
 *              scenarios that run on the simulated completion queue (named
 *              "-cq"), quick, with the rules on: cancel points and
 *              violations per engine; then the same scenarios run by the
 *              planted bug poll-cq-drop-frees-buffer (poll's ownership rule
 *              switched off: a dropped leaf frees the buffer the kernel
 *              still owns), and for contrast push-cq-callback-twice (what
 *              push must get right: one callback, not two);
 *   the code   the lines that mention cancellation (c3_count_lines()) in
 *              each engine's completion files beside its readiness files,
 *              and the lines of poll's functions that exist only for
 *              cancellation under completion (c13_orphan_funcs below);
 *   the bytes  each engine's echo over the simulated completion queue with
 *              C13_CONNS connections open, each with a receive in flight,
 *              stopped: the bytes poll's orphaned operations held after
 *              their futures were dropped (poll_cq_last_run_stats()), and
 *              the bytes of push's requests the kernel owned at the stop
 *              (completion_sim_owned()), which their callbacks release.
 *
 * The sources are read at run time from the tree the binary was built from
 * (CLAIMS_SRCDIR); the planted bug's program is found as `pushpoll torture
 * --mutant` finds it (torture_mutant_program(): PUSHPOLL_MUTANTS, else
 * beside the program).  What is missing is not measured.
 */
#include "claims.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "completion.h"
#include "poll.h"
#include "push.h"
#include "sim.h"
#include "torture/torture.h"
#include "torture/torture_impl.h"

#ifndef CLAIMS_SRCDIR
#define CLAIMS_SRCDIR "."
#endif

#define C13_SEEDS 2          /* seeds per scenario (the --quick default) */
#define C13_CONNS 8          /* connections open at the stop */
#define C13_BUFSIZE 16384    /* each one's receive buffer */
#define C13_STOP_STEP 400    /* the stop comes before this step */
#define C13_SEED 9

static const char *const c13_cq_files[CLAIMS_NMODELS][4] = {
	[CLAIMS_PUSH] = { "push/io_completion.c",
			  "push/workloads_completion.c", NULL },
	[CLAIMS_POLL] = { "poll/io_completion.c", "poll/echo_completion.c",
			  "poll/fanout_completion.c", NULL },
};
static const char *const c13_rd_files[CLAIMS_NMODELS][4] = {
	[CLAIMS_PUSH] = { "push/io.c", "push/echo.c", "push/fanout.c", NULL },
	[CLAIMS_POLL] = { "poll/io.c", "poll/echo.c", "poll/fanout.c", NULL },
};

/* poll's functions in poll/io_completion.c that exist only because a
 * dropped future may leave an operation in the kernel's hands (that file
 * names them at its top): giving the operation to the loop, absorbing its
 * late completion, closing a handle only once its orphans are done, asking
 * the kernel to cancel, waiting for the orphans at the end, and the leaf's
 * drop. */
static const char *const c13_orphan_funcs[] = {
	"op_orphan", "op_orphan_complete", "cq_close", "poll_cq_close",
	"poll_cq_io_cancel", "poll__loop_cq_drain", "cq_io_drop",
};
#define C13_NORPHAN_FUNCS \
	(sizeof(c13_orphan_funcs) / sizeof(c13_orphan_funcs[0]))

/* The rule.  Holds when
 *   - safe: the harness explored cancel points of both engines over the
 *     completion queue with their rules on and found no violation;
 *   - needed: with poll's ownership rule switched off, the same scenarios
 *     found violations (dropping a future is then not a safe cancel);
 *   - held: poll's orphaned operations held bytes after the cancel (the
 *     buffer outlived its future).
 * Push holds its buffers too, until its callback (owned_bytes), but needs
 * no new rule: its callback already is the end of the buffer's life; its
 * planted bug is quoted for contrast, not judged.  Violations with the
 * rules on, or the rule off caught nothing, or no bytes held: holds only
 * in part when the rest was shown, else does not hold.  Not measured: the
 * harness did not run, or neither the planted bug nor the stop did. */
void c13_verdict(const struct c13_figures *f, struct claim_verdict *v)
{
	bool safe, needed, held;
	char fig[240];

	if (!f->harness_ran ||
	    (!f->mutant_ran[CLAIMS_POLL] && !f->stop_measured[CLAIMS_POLL])) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED, "%s",
				  !f->harness_ran
				  ? "the torture harness did not run"
				  : "neither the planted bug nor the stop ran");
		return;
	}
	safe = f->violations[CLAIMS_PUSH] == 0 &&
	       f->violations[CLAIMS_POLL] == 0 &&
	       f->cancel_points[CLAIMS_PUSH] > 0 &&
	       f->cancel_points[CLAIMS_POLL] > 0;
	needed = f->mutant_ran[CLAIMS_POLL] &&
		 f->mutant_violations[CLAIMS_POLL] > 0;
	held = f->stop_measured[CLAIMS_POLL] && f->orphan_bytes > 0;
	snprintf(fig, sizeof(fig),
		 "rules on: %llu / %llu cancel points, %llu / %llu violations "
		 "(push / poll); poll's rule off: %llu violations; %llu "
		 "orphans held %llu B after the cancel",
		 (unsigned long long)f->cancel_points[CLAIMS_PUSH],
		 (unsigned long long)f->cancel_points[CLAIMS_POLL],
		 (unsigned long long)f->violations[CLAIMS_PUSH],
		 (unsigned long long)f->violations[CLAIMS_POLL],
		 (unsigned long long)f->mutant_violations[CLAIMS_POLL],
		 (unsigned long long)f->orphaned,
		 (unsigned long long)f->orphan_bytes);
	if (safe && needed && held) {
		claim_verdict_set(v, CLAIM_HOLDS, "%s", fig);
	} else if (safe || needed || held) {
		char miss[120] = "";
		size_t n = 0;

		if (!safe)
			n += (size_t)snprintf(miss + n, sizeof(miss) - n,
					      "not safe with the rules on");
		if (!needed && n < sizeof(miss))
			n += (size_t)snprintf(miss + n, sizeof(miss) - n,
				"%s%s", n ? ", " : "",
				f->mutant_ran[CLAIMS_POLL]
				? "the rule off found nothing"
				: "the rule off not run");
		if (!held && n < sizeof(miss))
			snprintf(miss + n, sizeof(miss) - n, "%sno bytes held",
				 n ? ", " : "");
		claim_verdict_set(v, CLAIM_PARTLY, "%s: %s", miss, fig);
	} else {
		claim_verdict_set(v, CLAIM_FAILS, "%s", fig);
	}
}

/* ---- the code ------------------------------------------------------------------ */

static char *slurp(const char *rel)
{
	char path[4096];
	FILE *fp;
	char *buf = NULL;
	long len;

	snprintf(path, sizeof(path), "%s/%s", CLAIMS_SRCDIR, rel);
	fp = fopen(path, "r");
	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1)))
		buf[fread(buf, 1, (size_t)len, fp)] = '\0';
	fclose(fp);
	return buf;
}

static bool count_files(const char *const *files, unsigned *code,
			unsigned *cancel)
{
	for (; *files != NULL; files++) {
		char *text = slurp(*files);

		if (text == NULL)
			return false;
		c3_count_lines(text, code, cancel);
		free(text);
	}
	return true;
}

/* The definition of function name in text: from the line that starts
 * with its return type and holds "name(" (not a declaration: it does not
 * end in ';') to the first "}" at the start of a line.  Its code lines are
 * added to *lines; returns whether it was found.  Enough for this file,
 * whose prototypes fit on one line; not a C parser. */
static bool count_function(const char *text, const char *name,
			   unsigned *lines)
{
	size_t n = strlen(name);

	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n'), *p;

		if (end == NULL)
			end = line + strlen(line);
		p = line;
		while (p + n < end && (p = strstr(p, name)) != NULL &&
		       p + n < end) {
			bool word = (p == line || !(p[-1] == '_' ||
				     (p[-1] >= 'a' && p[-1] <= 'z') ||
				     (p[-1] >= '0' && p[-1] <= '9')));

			if (word && p[n] == '(' && line[0] != ' ' &&
			    line[0] != '\t' && end[-1] != ';') {
				const char *close = strstr(line, "\n}");
				unsigned code = 0, cancel = 0;
				char *body;

				if (close == NULL)
					return false;
				body = strndup(line, (size_t)(close - line) + 2);
				if (body == NULL)
					return false;
				c3_count_lines(body, &code, &cancel);
				free(body);
				*lines += code;
				return true;
			}
			p += n;
		}
		line = *end != '\0' ? end + 1 : end;
	}
	return false;
}

static void count_code(const struct claims_ctx *cx, struct c13_figures *f)
{
	char *text;

	f->lines_counted = true;
	for (int m = 0; m < CLAIMS_NMODELS; m++)
		f->lines_counted &=
			count_files(c13_cq_files[m], &f->cq_code[m],
				    &f->cq_cancel[m]) &&
			count_files(c13_rd_files[m], &f->rd_code[m],
				    &f->rd_cancel[m]);
	text = slurp("poll/io_completion.c");
	for (size_t i = 0; text != NULL && i < C13_NORPHAN_FUNCS; i++)
		f->orphan_funcs += count_function(text, c13_orphan_funcs[i],
						  &f->orphan_lines);
	free(text);
	if (!f->lines_counted)
		claims_say(cx, "C13: sources not found under %s",
			   CLAIMS_SRCDIR);
}

/* ---- the safety ---------------------------------------------------------------- */

static bool is_cq(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && strcmp(name + n - 3, "-cq") == 0;
}

/* Run the cancel family over every "-cq" scenario of engine m, with the
 * planted bug mutant (0: none).  Returns 0 or -errno. */
static int run_cq(int m, int mutant, unsigned *scenarios, uint64_t *points,
		  uint64_t *violations)
{
	const struct torture_scenario *table =
		m == CLAIMS_PUSH ? torture__push_scenarios
				 : torture__poll_scenarios;
	enum torture_engine e = m == CLAIMS_PUSH ? TORTURE_PUSH : TORTURE_POLL;
	struct torture_report *rep = malloc(sizeof(*rep));
	int rc = 0;

	if (rep == NULL)
		return -ENOMEM;
	for (const struct torture_scenario *s = table; s->name != NULL; s++) {
		struct torture_opts o;

		if (!is_cq(s->name) || !(s->family & TORTURE_CANCEL))
			continue;
		torture_opts_default(&o);
		o.engines = 1u << e;
		o.families = TORTURE_CANCEL;
		o.quick = true;
		o.seeds = C13_SEEDS;
		o.only = s->name;
		o.mutant = mutant;
		if (mutant != 0)
			o.case_timeout_s = 1;     /* a planted hang: 1 s, not 3 */
		rc = torture_run(&o, rep);
		if (rc < 0)
			break;
		if (scenarios != NULL)
			(*scenarios)++;
		*points += rep->engine[e].cancel_points;
		*violations += rep->engine[e].violations;
	}
	free(rep);
	return rc;
}

static void measure_safety(const struct claims_ctx *cx, struct c13_figures *f)
{
	static const int mutant[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = TORTURE_MUTANT_PUSH_CQ_CALLBACK_TWICE,
		[CLAIMS_POLL] = TORTURE_MUTANT_POLL_CQ_DROP_FREES_BUFFER,
	};
	char path[4096];
	int rc = 0;

	f->seeds = C13_SEEDS;
	for (int m = 0; m < CLAIMS_NMODELS && rc == 0; m++)
		rc = run_cq(m, 0, &f->scenarios[m], &f->cancel_points[m],
			    &f->violations[m]);
	f->harness_ran = rc == 0;
	if (rc < 0)
		claims_say(cx, "C13: the torture harness could not run: %s",
			   strerror(-rc));
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		if (torture_mutant_program(mutant[m], path, sizeof(path)) != 0) {
			claims_say(cx, "C13: no program for %s (%s)",
				   torture_mutant_name(mutant[m]), path);
			continue;
		}
		rc = run_cq(m, mutant[m], NULL, &f->mutant_points[m],
			    &f->mutant_violations[m]);
		f->mutant_ran[m] = rc == 0;
		if (rc < 0)
			claims_say(cx, "C13: %s could not run: %s",
				   torture_mutant_name(mutant[m]),
				   strerror(-rc));
	}
}

/* ---- the bytes at a stop --------------------------------------------------------- */

struct c13_world {
	struct reactor *r;
	struct completion *q;         /* push's; NULL for poll */
	unsigned char *script;
	uint64_t owned_ops, owned_bytes;
	bool peers_ok;
};

static void connect_peers(void *arg, uint16_t port)
{
	struct c13_world *w = arg;

	for (unsigned i = 0; i < C13_CONNS; i++)
		if (sim_peer_connect(w->r, port, w->script, 200000, 0) == NULL)
			w->peers_ok = false;
}

static void stop_now(void *arg)
{
	struct c13_world *w = arg;

	if (w->q != NULL)
		completion_sim_owned(w->q, &w->owned_ops, &w->owned_bytes);
	reactor_request_stop(w->r);
}

/* One engine's echo over the simulated completion queue, C13_CONNS peers
 * sending without end, stopped before step C13_STOP_STEP. */
static int stop_run(int m, struct c13_world *w, struct echo_stats *st)
{
	char why[COMPLETION_REASON_MAX];
	struct sim_config c;
	struct echo_opts opts;
	int rc;

	memset(w, 0, sizeof(*w));
	w->peers_ok = true;
	w->script = malloc(200000);
	if (w->script == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < 200000; k++)
		w->script[k] = (unsigned char)(k * 7 + 1);
	sim_config_default(&c, C13_SEED);
	w->r = reactor_new_sim(&c);
	if (w->r == NULL) {
		free(w->script);
		return -ENOMEM;
	}
	echo_opts_default(&opts);
	opts.idle_timeout_ns = 0;
	opts.bufsize = C13_BUFSIZE;
	opts.on_listening = connect_peers;
	opts.arg = w;
	sim_at_step(w->r, C13_STOP_STEP, stop_now, w);
	if (m == CLAIMS_PUSH) {
		rc = completion_new_beside(w->r, 0, &w->q, why, sizeof(why));
		if (rc == 0) {
			rc = push_echo_serve_cq(w->r, w->q, &opts, st);
			completion_free(w->q);
		}
	} else {
		rc = poll_echo_serve_completion(w->r, NULL, &opts, st);
	}
	reactor_free(w->r);
	free(w->script);
	if (rc == 0 && !w->peers_ok)
		rc = -ENOMEM;
	return rc;
}

static void measure_stop(const struct claims_ctx *cx, struct c13_figures *f)
{
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		struct c13_world w;
		struct echo_stats st;
		int rc = stop_run(m, &w, &st);

		if (rc < 0) {
			claims_say(cx, "C13: %s's echo over the simulated "
				   "queue failed: %s", claims_model_name[m],
				   strerror(-rc));
			continue;
		}
		f->stop_measured[m] = true;
		if (m == CLAIMS_PUSH) {
			f->owned_ops[m] = w.owned_ops;
			f->owned_bytes[m] = w.owned_bytes;
		} else {
			struct poll_cq_stats cs;

			poll_cq_last_run_stats(&cs);
			f->orphaned = cs.orphaned;
			f->orphan_bytes = cs.orphan_bytes;
			f->orphan_bytes_peak = cs.orphan_bytes_peak;
			f->late_completions = cs.late_completions;
			f->owned_ops[m] = cs.orphaned;
			f->owned_bytes[m] = cs.orphan_bytes;
		}
	}
}

/* ---- the experiment ----------------------------------------------------------- */

int c13_measure(const struct claims_ctx *cx, struct c13_figures *f)
{
	memset(f, 0, sizeof(*f));
	f->conns = C13_CONNS;
	f->bufsize = C13_BUFSIZE;
	count_code(cx, f);
	measure_safety(cx, f);
	measure_stop(cx, f);
	return 0;
}

void c13_json(struct claims_json *j, const struct c13_figures *f)
{
	claims_json_begin(j, "figures");
	claims_json_bool(j, "harness_ran", f->harness_ran);
	claims_json_bool(j, "lines_counted", f->lines_counted);
	claims_json_num(j, "seeds", f->seeds);
	claims_json_num(j, "conns", f->conns);
	claims_json_num(j, "bufsize", (double)f->bufsize);
	claims_json_num(j, "orphan_funcs", f->orphan_funcs);
	claims_json_num(j, "orphan_lines", f->orphan_lines);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(j, claims_model_name[m]);
		claims_json_num(j, "scenarios", f->scenarios[m]);
		claims_json_num(j, "cancel_points",
				(double)f->cancel_points[m]);
		claims_json_num(j, "violations", (double)f->violations[m]);
		claims_json_bool(j, "mutant_ran", f->mutant_ran[m]);
		claims_json_num(j, "mutant_cancel_points",
				(double)f->mutant_points[m]);
		claims_json_num(j, "mutant_violations",
				(double)f->mutant_violations[m]);
		claims_json_num(j, "completion_cancel_lines", f->cq_cancel[m]);
		claims_json_num(j, "completion_code_lines", f->cq_code[m]);
		claims_json_num(j, "readiness_cancel_lines", f->rd_cancel[m]);
		claims_json_num(j, "readiness_code_lines", f->rd_code[m]);
		claims_json_bool(j, "stop_measured", f->stop_measured[m]);
		claims_json_num(j, "held_ops", (double)f->owned_ops[m]);
		claims_json_num(j, "held_bytes", (double)f->owned_bytes[m]);
		if (m == CLAIMS_POLL) {
			claims_json_num(j, "orphaned", (double)f->orphaned);
			claims_json_num(j, "orphan_bytes",
					(double)f->orphan_bytes);
			claims_json_num(j, "orphan_bytes_peak",
					(double)f->orphan_bytes_peak);
			claims_json_num(j, "late_completions",
					(double)f->late_completions);
		}
		claims_json_end(j);
	}
	claims_json_end(j);
}

int c13_run(struct claims_ctx *cx, struct claim_row *row)
{
	static const char *const bug[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = "callback twice",
		[CLAIMS_POLL] = "rule off",
	};
	struct c13_figures f;
	int rc;

	rc = c13_measure(cx, &f);
	if (rc < 0)
		return rc;
	c13_verdict(&f, &row->verdict);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		char *out = m == CLAIMS_PUSH ? row->push : row->poll;
		size_t n;

		n = (size_t)snprintf(out, sizeof(row->push),
			"%llu points, %llu violations (%s: %llu); "
			"cancel lines %u/%u cq, %u/%u ready; ",
			(unsigned long long)f.cancel_points[m],
			(unsigned long long)f.violations[m], bug[m],
			(unsigned long long)f.mutant_violations[m],
			f.cq_cancel[m], f.cq_code[m], f.rd_cancel[m],
			f.rd_code[m]);
		if (n >= sizeof(row->push))
			continue;
		if (m == CLAIMS_PUSH)
			snprintf(out + n, sizeof(row->push) - n,
				 "%llu B the kernel's at the stop",
				 (unsigned long long)f.owned_bytes[m]);
		else
			snprintf(out + n, sizeof(row->push) - n,
				 "%llu B orphaned, %u lines in %u orphan "
				 "functions",
				 (unsigned long long)f.owned_bytes[m],
				 f.orphan_lines, f.orphan_funcs);
	}
	c13_json(cx->json, &f);
	return 0;
}
