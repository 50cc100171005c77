/* torture.c: the driver of the cancellation-safety harness (torture.h).
 *
 * For each engine, scenario and seed:
 *
 *   1. the reference run: no cancel, no failure.  It must pass its own
 *      checks; it gives K, the steps the run takes, and A, the allocations
 *      the engine makes;
 *   2. the cancel family: for every step k in 1..K and every target (the
 *      whole scenario, then each of its parts), the same seed replayed and
 *      cancelled just before step k;
 *   3. the allocation family: for every N in 1..A, the same seed replayed
 *      with the Nth allocation failing.
 *
 * Cases run in batches in a forked child, one after the other; each
 * result goes back through a pipe as soon as the case ends.  If the child
 * dies (a signal, a sanitizer report, an abort in mem_free or an engine
 * assertion, the alarm of a hung case), the case it was running is the
 * violation, its stderr says why, and a fresh child goes on with the next
 * case.  So one bad case costs one fork, and a clean batch costs one fork
 * for thousands of cases.
 *
 * Costs: a case is one run of a small simulated world, tens to hundreds of
 * microseconds; the reference runs and the forks are noise beside them.
 */
#include "torture_impl.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"

/* Where `make install` puts the programs of the planted bugs. */
#ifndef TORTURE_MUTANTS_DIR
#define TORTURE_MUTANTS_DIR "/usr/local/libexec/pushpoll"
#endif

static const char *const engine_name[TORTURE_NENGINES] = { "push", "poll" };

/* ---- the planted bugs ---------------------------------------------------------- */

static const struct {
	const char *name;
	enum torture_engine engine;
	const char *what;
} mutants[TORTURE_NMUTANTS] = {
	[TORTURE_MUTANT_PUSH_MISSED_UNREF] = { "push-missed-unref",
		TORTURE_PUSH, "a cancelled request keeps its token's "
		"reference (leaks)" },
	[TORTURE_MUTANT_PUSH_DOUBLE_CALLBACK] = { "push-double-callback",
		TORTURE_PUSH, "a cancelled request's callback runs twice" },
	[TORTURE_MUTANT_PUSH_EARLY_BUF_FREE] = { "push-early-buf-free",
		TORTURE_PUSH, "a cancelled file operation lets go of its "
		"buffer while the job still runs" },
	[TORTURE_MUTANT_POLL_WAKER_OUTLIVES] = { "poll-waker-outlives",
		TORTURE_POLL, "a dropped read leaves the stream's slot "
		"pointing at a task it no longer counts" },
	[TORTURE_MUTANT_POLL_NO_DEREGISTER] = { "poll-no-deregister",
		TORTURE_POLL, "a sleep dropped while pending leaves its timer "
		"in the reactor" },
	[TORTURE_MUTANT_POLL_EARLY_BUF_FREE] = { "poll-early-buf-free",
		TORTURE_POLL, "a dropped file future lets go of the job's "
		"buffer while the job still runs" },
	[TORTURE_MUTANT_POLL_SKIP_DROP] = { "poll-skip-drop", TORTURE_POLL,
		"a race forgets its losers without dropping them" },
	[TORTURE_MUTANT_PUSH_CALLBACK_IN_CANCEL] = { "push-callback-in-cancel",
		TORTURE_PUSH, "push_cancel runs a leaf's callback inside the "
		"call" },
	[TORTURE_MUTANT_PUSH_STOP_MISSES_CONNS] = { "push-stop-misses-conns",
		TORTURE_PUSH, "a stop lets open echo connections finish by "
		"themselves" },
	[TORTURE_MUTANT_PUSH_CANCEL_SPINS] = { "push-cancel-spins",
		TORTURE_PUSH, "a token cancel spins for ever on a cancelled "
		"composition (a hang)" },
	[TORTURE_MUTANT_POLL_ABORT_DROPS_RUNNING] = { "poll-abort-drops-running",
		TORTURE_POLL, "an abort from inside a poll drops the future "
		"under its own poll" },
	[TORTURE_MUTANT_PUSH_SINK_ENDS_TWICE] = { "push-sink-ends-twice",
		TORTURE_PUSH, "a fanout sink is finished twice when its write "
		"completes as a failed read aborts the fanout" },
	[TORTURE_MUTANT_PUSH_RACE_NAMES_LAST] = { "push-race-names-last",
		TORTURE_PUSH, "a race names its last finisher instead of its "
		"first" },
	[TORTURE_MUTANT_POLL_ABORT_RUNS_ON] = { "poll-abort-runs-on",
		TORTURE_POLL, "a task aborted inside its own poll is polled "
		"again and runs on" },
	[TORTURE_MUTANT_POLL_CQ_DROP_FREES_BUFFER] = {
		"poll-cq-drop-frees-buffer", TORTURE_POLL, "a future frees "
		"its buffer on drop while the kernel's read is in flight" },
	[TORTURE_MUTANT_POLL_CQ_FORGETS_ORPHAN] = { "poll-cq-forgets-orphan",
		TORTURE_POLL, "the loop forgets an orphaned operation instead "
		"of keeping it until its completion" },
	[TORTURE_MUTANT_PUSH_TIMEOUT_FINISHES_TWICE] = {
		"push-timeout-finishes-twice", TORTURE_PUSH, "a timeout "
		"finishes twice when its operation's completion and the "
		"deadline come in one poll (batches only)" },
	[TORTURE_MUTANT_PUSH_WRITE_CANCEL_REPORTS] = {
		"push-write-cancel-reports", TORTURE_PUSH, "a write cut short "
		"by a cancel calls back inside the cancel, on the workloads' "
		"own cancels" },
	[TORTURE_MUTANT_PUSH_CQ_CALLBACK_TWICE] = {
		"push-cq-callback-twice", TORTURE_PUSH, "a cancel over the "
		"completion queue runs the callback, then the late completion "
		"runs it again" },
	[TORTURE_MUTANT_PUSH_CQ_READY_KEEPS_BUFFER] = {
		"push-cq-ready-keeps-buffer", TORTURE_PUSH, "the ring buffer of "
		"a receive that won the race against its cancel is never "
		"given back" },
	[TORTURE_MUTANT_POLL_CQ_ORPHAN_KEEPS_BUFFER] = {
		"poll-cq-orphan-keeps-buffer", TORTURE_POLL, "the ring buffer "
		"a dropped recv's late completion brought is never given back "
		"to the ring" },
};

enum torture_engine torture_mutant_engine(int m)
{
	return m > 0 && m < TORTURE_NMUTANTS ? mutants[m].engine : TORTURE_PUSH;
}

const char *torture_mutant_name(int m)
{
	return m > 0 && m < TORTURE_NMUTANTS ? mutants[m].name : "none";
}

const char *torture_mutant_what(int m)
{
	return m > 0 && m < TORTURE_NMUTANTS ? mutants[m].what : "";
}

int torture_mutant_program(int m, char *buf, size_t size)
{
	const char *dir = getenv("PUSHPOLL_MUTANTS");
	char self[PATH_MAX];
	ssize_t n;

	if (m <= 0 || m >= TORTURE_NMUTANTS)
		return -EINVAL;
	if (dir != NULL && dir[0] != '\0') {
		snprintf(buf, size, "%s/%s", dir, mutants[m].name);
		return access(buf, X_OK) == 0 ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, size, "%s/mutants/%s", dirname(self),
			 mutants[m].name);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	snprintf(buf, size, "%s/%s", TORTURE_MUTANTS_DIR, mutants[m].name);
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

/* ---- options --------------------------------------------------------------------- */

void torture_opts_default(struct torture_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->first_seed = 1;
}

/* ---- batches of cases in a forked child ----------------------------------------- */

/* A batch: n cases of one scenario and seed, case i being step i / (parts
 * + 1) + 1 and target i % (parts + 1) (cancel family), or allocation i + 1
 * (allocation family), or the reference run (n == 1). */
struct batch {
	const struct torture_scenario *scen;
	unsigned family;          /* 0 for the reference run */
	uint64_t seed;
	bool quick;
	uint64_t step_limit;
	unsigned case_timeout_s;
	uint64_t n;
	uint64_t input_size;
	size_t chunk_size;
	bool stop_at_first;
	bool whole_only;          /* cancel family: the whole scenario only */
	/* A replay: this one case (cancel_step, target, fail_nth); with
	 * trace, the simulation's trace is written to stderr. */
	bool replay, trace;
	uint64_t cancel_step, fail_nth;
	unsigned target;
	int mutant;               /* run the cases in this bug's program */
	/* A fuzzer's case (--replay FILE): its file, which the world of the
	 * case is decoded from (torture__fuzz); a bug's program reads it
	 * again, since an overlay in memory does not survive exec. */
	const char *fuzz_case;
};

static void case_of(const struct batch *b, uint64_t i, struct torture_case *c)
{
	memset(c, 0, sizeof(*c));
	c->scen = b->scen;
	c->seed = b->seed;
	c->quick = b->quick;
	c->step_limit = b->step_limit;
	c->input_size = b->input_size;
	c->chunk_size = b->chunk_size;
	if (b->replay) {
		c->cancel_step = b->cancel_step;
		c->target = b->target;
		c->fail_nth = b->fail_nth;
	} else if (b->family == TORTURE_CANCEL) {
		unsigned targets = b->whole_only ? 1 : b->scen->parts + 1;
		c->cancel_step = i / targets + 1;
		c->target = (unsigned)(i % targets);
	} else if (b->family == TORTURE_ALLOC) {
		c->fail_nth = i + 1;
	}
}

/* The child: run cases first..n-1, sending each result as it ends. */
static _Noreturn void batch_child(const struct batch *b, uint64_t first,
				  int fd)
{
	struct torture_case c;

	setvbuf(stderr, NULL, _IONBF, 0);       /* a crash loses nothing */
	if (b->trace)
		torture__trace = stderr;
	for (uint64_t i = first; i < b->n; i++) {
		case_of(b, i, &c);
		alarm(b->case_timeout_s);
		torture__run_case(&c);
		alarm(0);
		if (write(fd, &c, sizeof(c)) != (ssize_t)sizeof(c))
			_exit(3);
	}
	_exit(0);
}

/* ---- a batch in a planted bug's program ---------------------------------------- */

/* A batch with a planted bug runs in that bug's program
 * (torture_mutant_program()), which the forked child becomes: the same
 * harness, linked with one engine file patched.  The batch travels on the
 * command line, the results come back through the same pipe, and the
 * program's stderr is the child's:
 *
 *   mutants/NAME ENGINE SCENARIO FIRST FD FAMILY SEED QUICK STEP_LIMIT
 *                TIMEOUT N INPUT_SIZE CHUNK_SIZE WHOLE_ONLY REPLAY TRACE
 *                CANCEL_STEP FAIL_NTH TARGET [FUZZ_CASE]
 *
 * every number in decimal; FUZZ_CASE, a fuzzer's case file, lays its world
 * over the scenario's, as --replay does in this program.  Both programs are linked from the same objects
 * of the harness, so a struct torture_case reads the same at both ends. */
enum { BATCH_NUMBERS = 16, MUTANT_NOT_RUN = 127 };

static const struct torture_scenario *const *scenario_tables(void);
static int fuzz_case_load(const char *path, enum torture_engine e,
			  struct torture_case *c, struct tt_fuzz *f);

static void batch_to_numbers(const struct batch *b, uint64_t first, int fd,
			     uint64_t v[BATCH_NUMBERS])
{
	const uint64_t w[BATCH_NUMBERS] = {
		first, (uint64_t)fd, b->family, b->seed, b->quick,
		b->step_limit, b->case_timeout_s, b->n, b->input_size,
		b->chunk_size, b->whole_only, b->replay, b->trace,
		b->cancel_step, b->fail_nth, b->target,
	};

	memcpy(v, w, sizeof(w));
}

static void batch_from_numbers(struct batch *b, uint64_t *first, int *fd,
			       const uint64_t v[BATCH_NUMBERS])
{
	*first = v[0];
	*fd = (int)v[1];
	b->family = (unsigned)v[2];
	b->seed = v[3];
	b->quick = v[4] != 0;
	b->step_limit = v[5];
	b->case_timeout_s = (unsigned)v[6];
	b->n = v[7];
	b->input_size = v[8];
	b->chunk_size = (size_t)v[9];
	b->whole_only = v[10] != 0;
	b->replay = v[11] != 0;
	b->trace = v[12] != 0;
	b->cancel_step = v[13];
	b->fail_nth = v[14];
	b->target = (unsigned)v[15];
}

/* In the forked child: become the bug's program, running cases first..n-1
 * of b and sending their results to fd. */
static _Noreturn void mutant_exec(const struct batch *b, uint64_t first,
				  int fd)
{
	char path[PATH_MAX], num[BATCH_NUMBERS][24];
	char *argv[3 + BATCH_NUMBERS + 2];
	uint64_t v[BATCH_NUMBERS];
	int err = torture_mutant_program(b->mutant, path, sizeof(path));

	if (err == 0) {
		batch_to_numbers(b, first, fd, v);
		argv[0] = path;
		argv[1] = (char *)engine_name[b->scen->engine];
		argv[2] = (char *)b->scen->name;
		for (int i = 0; i < BATCH_NUMBERS; i++) {
			snprintf(num[i], sizeof(num[i]), "%llu",
				 (unsigned long long)v[i]);
			argv[3 + i] = num[i];
		}
		argv[3 + BATCH_NUMBERS] = (char *)b->fuzz_case;  /* or NULL */
		argv[4 + BATCH_NUMBERS] = NULL;
		execv(path, argv);
		err = -errno;
	}
	fprintf(stderr, "pushpoll: torture: cannot run %s: %s\n", path,
		strerror(-err));
	_exit(MUTANT_NOT_RUN);
}

/* Whether a child that was to become a bug's program ran no case: it could
 * not start it, or the program refused its command line (EXIT_USAGE).  A
 * case never exits by itself, so neither can be a case's crash, and
 * counting it as one would report a bug caught that never ran. */
static bool mutant_not_run(int status)
{
	return WIFEXITED(status) && (WEXITSTATUS(status) == MUTANT_NOT_RUN ||
				     WEXITSTATUS(status) == EXIT_USAGE);
}

int torture__mutant_main(int argc, char **argv)
{
	const struct torture_scenario *s = NULL;
	uint64_t v[BATCH_NUMBERS], first;
	struct batch b;
	int fd;

	if (argc != 3 + BATCH_NUMBERS && argc != 4 + BATCH_NUMBERS) {
		fprintf(stderr, "usage: %s ENGINE SCENARIO FIRST FD ... "
			"[FUZZ_CASE] (run by pushpoll torture, not by hand)\n",
			argv[0]);
		return EXIT_USAGE;
	}
	for (const struct torture_scenario *const *t = scenario_tables();
	     *t != NULL; t++)
		for (const struct torture_scenario *x = *t; x->name != NULL; x++)
			if (strcmp(engine_name[x->engine], argv[1]) == 0 &&
			    strcmp(x->name, argv[2]) == 0)
				s = x;
	if (s == NULL) {
		fprintf(stderr, "%s: no scenario '%s %s'\n", argv[0], argv[1],
			argv[2]);
		return EXIT_USAGE;
	}
	for (int i = 0; i < BATCH_NUMBERS; i++) {
		char *end;

		errno = 0;
		v[i] = strtoull(argv[3 + i], &end, 10);
		if (errno != 0 || end == argv[3 + i] || *end != '\0') {
			fprintf(stderr, "%s: not a number: '%s'\n", argv[0],
				argv[3 + i]);
			return EXIT_USAGE;
		}
	}
	memset(&b, 0, sizeof(b));
	batch_from_numbers(&b, &first, &fd, v);
	b.scen = s;
	if (argc == 4 + BATCH_NUMBERS) {
		static struct tt_fuzz f;
		struct torture_case c;

		if (fuzz_case_load(argv[3 + BATCH_NUMBERS], s->engine, &c,
				   &f) != 0 || c.scen != s) {
			fprintf(stderr, "%s: %s is not a case of %s %s\n",
				argv[0], argv[3 + BATCH_NUMBERS], argv[1],
				argv[2]);
			return EXIT_USAGE;
		}
		torture__fuzz = &f;
	}
	batch_child(&b, first, fd);
}

/* Why the child died, from its status and the end of its stderr: the
 * first line a sanitizer, mem_free or an assertion printed, if any. */
static void death_reason(int status, FILE *err, char *out, size_t size)
{
	char line[512];
	const char *keys[] = { "AddressSanitizer", "runtime error",
			       "LeakSanitizer", "mem_free", "Assertion",
			       "double free", "free(): ", NULL };

	if (WIFSIGNALED(status))
		snprintf(out, size, "crashed: %s",
			 WTERMSIG(status) == SIGALRM
				 ? "hung (case timeout)"
				 : strsignal(WTERMSIG(status)));
	else
		snprintf(out, size, "crashed: exit status %d",
			 WEXITSTATUS(status));
	if (err == NULL)
		return;
	rewind(err);
	while (fgets(line, sizeof(line), err) != NULL) {
		for (int k = 0; keys[k] != NULL; k++) {
			char *p = strstr(line, keys[k]);
			if (p == NULL)
				continue;
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, size, "crashed: %.140s", p);
			return;
		}
	}
}

/* What the driver keeps of a batch. */
struct batch_result {
	uint64_t runs, cancels, violations;
	bool died;                /* a case crashed or hung: no figures */
	uint64_t steps, allocs;   /* of the last case (the reference run's) */
	struct offload_stats off; /* summed */
	uint64_t bytes_read, bytes_wasted, faults;
	uint64_t cancels_while_running;
	uint64_t kernel_violations;
	struct torture_case first;   /* the first violating case */
	bool hung;                /* a case outlived its alarm: the batch
				   * ended there */
	uint64_t not_run;         /* the cases after the hang */
};

static void account(struct batch_result *br, const struct torture_case *c)
{
	br->runs++;
	if (c->cancelled)
		br->cancels++;
	br->steps = c->steps;
	br->allocs = c->allocs;
	br->off.submitted += c->off.submitted;
	br->off.completed += c->off.completed;
	br->off.cancelled_queued += c->off.cancelled_queued;
	br->off.cancelled_running += c->off.cancelled_running;
	br->off.cancelled_finished += c->off.cancelled_finished;
	br->bytes_read += c->bytes_read;
	br->bytes_wasted += c->bytes_wasted;
	br->kernel_violations += c->kernel_violations;
	br->faults += c->faults;
	/* a pool's job ran on; over a completion queue, a read's cancel lost
	 * and its bytes were thrown away */
	if (c->cancelled &&
	    (c->off.cancelled_running + c->off.cancelled_finished > 0 ||
	     c->bytes_wasted > 0))
		br->cancels_while_running++;
	if (c->what[0] != '\0') {
		if (br->violations == 0)
			br->first = *c;
		br->violations++;
	}
}

/* Copy a replay's trace to out: all of it when it is short, else its first
 * and last TRACE_KEEP lines.  A case that runs away (a timer firing forever
 * on freed memory) writes millions of steps; the end is where it went
 * wrong. */
#define TRACE_KEEP 200

static void trace_copy(FILE *trace, FILE *out)
{
	static char tail[TRACE_KEEP][256];
	char line[256];
	uint64_t n = 0;

	rewind(trace);
	while (fgets(line, sizeof(line), trace) != NULL) {
		if (n < TRACE_KEEP)
			fputs(line, out);
		else
			memcpy(tail[n % TRACE_KEEP], line, sizeof(line));
		n++;
	}
	if (n > 2 * TRACE_KEEP)
		fprintf(out, "... %llu lines left out ...\n",
			(unsigned long long)(n - 2 * TRACE_KEEP));
	for (uint64_t i = n > 2 * TRACE_KEEP ? n - TRACE_KEEP : TRACE_KEEP;
	     i < n; i++)
		fputs(tail[i % TRACE_KEEP], out);
}

/* Run a batch.  Returns 0, or -errno if a child could not be started. */
static int batch_run(const struct batch *b, struct batch_result *br)
{
	uint64_t next = 0;

	memset(br, 0, sizeof(*br));
	while (next < b->n) {
		struct torture_case c;
		FILE *err = tmpfile();
		int fds[2], status;
		pid_t pid;
		bool stopped = false;

		if (pipe(fds) != 0) {
			if (err != NULL)
				fclose(err);
			return -errno;
		}
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			close(fds[0]);
			close(fds[1]);
			if (err != NULL)
				fclose(err);
			return -errno;
		}
		if (pid == 0) {
			close(fds[0]);
			if (err != NULL)
				dup2(fileno(err), STDERR_FILENO);
			if (b->mutant != 0)
				mutant_exec(b, next, fds[1]);
			batch_child(b, next, fds[1]);
		}
		close(fds[1]);
		while (read(fds[0], &c, sizeof(c)) == (ssize_t)sizeof(c)) {
			account(br, &c);
			next++;
			if (b->stop_at_first && br->violations > 0) {
				kill(pid, SIGKILL);
				stopped = true;
				break;
			}
		}
		close(fds[0]);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (b->mutant != 0 && mutant_not_run(status)) {
			if (err != NULL) {
				trace_copy(err, stderr);  /* it says why */
				fclose(err);
			}
			return -ENOEXEC;
		}
		if (stopped) {
			if (err != NULL)
				fclose(err);
			break;
		}
		if (next < b->n) {
			/* The child died in case `next`. */
			case_of(b, next, &c);
			death_reason(status, err, c.what, sizeof(c.what));
			account(br, &c);
			br->died = true;
			next++;
			/* A hang ends the batch: the cases after it would most
			 * likely hang too, each for the whole alarm. */
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
				br->hung = true;
				br->not_run = b->n - next;
				next = b->n;
			}
			if (b->stop_at_first)
				next = b->n;
		}
		if (err != NULL && b->trace)
			trace_copy(err, stderr);
		if (err != NULL)
			fclose(err);
	}
	return 0;
}

/* ---- the report -------------------------------------------------------------------- */

static struct torture_row *row_for(struct torture_report *rep,
				   const struct torture_scenario *s)
{
	struct torture_row *row;

	for (unsigned i = 0; i < rep->nrows; i++)
		if (rep->row[i].engine == s->engine &&
		    strcmp(rep->row[i].scenario, s->name) == 0)
			return &rep->row[i];
	if (rep->nrows == TORTURE_MAX_ROWS)
		return NULL;
	row = &rep->row[rep->nrows++];
	memset(row, 0, sizeof(*row));
	row->engine = s->engine;
	row->scenario = s->name;
	return row;
}

static void row_add(struct torture_row *row, unsigned family,
		    const struct batch_result *br)
{
	row->family |= family;
	row->runs += br->runs;
	if (br->violations > 0 && row->violations == 0) {
		const struct torture_case *c = &br->first;
		row->first_family = family;
		row->first_seed = c->seed;
		row->first_step = family == TORTURE_ALLOC ? c->fail_nth
							  : c->cancel_step;
		row->first_target = c->target;
		snprintf(row->first_what, sizeof(row->first_what), "%s",
			 c->what);
	}
	row->violations += br->violations;
}

static void say(const struct torture_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(const struct torture_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->out == NULL)
		return;
	va_start(ap, fmt);
	vfprintf(o->out, fmt, ap);
	va_end(ap);
	fflush(o->out);
}

static const char *family_name(unsigned f)
{
	return f == TORTURE_CANCEL ? "cancel" : f == TORTURE_ALLOC ? "alloc"
	       : f == TORTURE_FAULTS ? "faults" : "reference";
}

/* "seed 3 step 41 target 1", the way to name a case for --step. */
static const char *where(unsigned family, uint64_t seed, uint64_t n,
			 unsigned target, char *buf, size_t size)
{
	if (family == TORTURE_ALLOC)
		snprintf(buf, size, "seed %llu allocation %llu",
			 (unsigned long long)seed, (unsigned long long)n);
	else if (family == TORTURE_CANCEL)
		snprintf(buf, size, "seed %llu step %llu target %u",
			 (unsigned long long)seed, (unsigned long long)n,
			 target);
	else if (family == TORTURE_FAULTS)
		snprintf(buf, size, "seed %llu", (unsigned long long)seed);
	else
		snprintf(buf, size, "seed %llu, reference run",
			 (unsigned long long)seed);
	return buf;
}

static void say_violation(const struct torture_opts *o,
			  const struct torture_scenario *s, unsigned family,
			  const struct batch_result *br)
{
	const struct torture_case *c = &br->first;
	char buf[96];

	if (br->violations == 0)
		return;
	say(o, "  VIOLATION %s %s %s: %llu case(s); first: %s: %s\n",
	    engine_name[s->engine], s->name, family_name(family),
	    (unsigned long long)br->violations,
	    where(family, c->seed, family == TORTURE_ALLOC ? c->fail_nth
			  : c->cancel_step, c->target, buf, sizeof(buf)),
	    c->what);
	/* The command that replays it, with the simulation's trace. */
	say(o, "    replay: pushpoll torture --engine %s --only %s "
	    "--first-seed %llu", engine_name[s->engine], s->name,
	    (unsigned long long)c->seed);
	if (family == TORTURE_ALLOC)
		say(o, " --alloc %llu", (unsigned long long)c->fail_nth);
	else if (family != TORTURE_FAULTS)
		say(o, " --step %llu --target %u",
		    (unsigned long long)c->cancel_step, c->target);
	say(o, "%s%s%s\n", o->quick ? " --quick" : "",
	    o->mutant != 0 ? " --mutant " : "",
	    o->mutant != 0 ? mutants[o->mutant].name : "");
	if (br->hung && br->not_run > 0)
		say(o, "    the hang ended its batch: %llu case(s) after it "
		    "not run\n", (unsigned long long)br->not_run);
}

/* The end of the run's time (0: none), set by torture_run(). */
static uint64_t run_deadline_ns;

static bool out_of_time(void)
{
	return run_deadline_ns != 0 && clock_now_ns() >= run_deadline_ns;
}

/* ---- one scenario ------------------------------------------------------------------- */

static int run_sim_scenario(const struct torture_opts *o,
			    const struct torture_scenario *s,
			    struct torture_report *rep)
{
	struct torture_row *row = row_for(rep, s);
	unsigned families = o->families;
	unsigned i;
	int rc;

	if (row == NULL)
		return -ENOSPC;
	for (i = 0; i < o->seeds; i++) {
		struct batch b = {
			.scen = s, .seed = o->first_seed + i,
			.quick = o->quick, .step_limit = 5000000,
			.case_timeout_s = o->case_timeout_s, .n = 1,
			.stop_at_first = o->stop_at_first,
			.mutant = o->mutant,
		};
		struct batch_result ref, br;
		uint64_t k;

		if (out_of_time()) {
			rep->out_of_time = true;
			rep->seeds_not_run += o->seeds - i;
			return 0;
		}
		rc = batch_run(&b, &ref);             /* 1: the reference */
		if (rc < 0)
			return rc;
		rep->cases_not_run += ref.not_run;
		row_add(row, 0, &ref);
		row->seeds++;
		say_violation(o, s, 0, &ref);
		if (ref.violations > 0) {
			if (o->stop_at_first)
				goto stop;
			continue;           /* nothing to replay against */
		}
		k = ref.steps;
		row->steps += k;
		b.step_limit = 4 * k + 100000;
		if (families & TORTURE_CANCEL) {      /* 2 */
			b.family = TORTURE_CANCEL;
			b.n = k * (s->parts + 1);
			rc = batch_run(&b, &br);
			if (rc < 0)
				return rc;
			rep->cases_not_run += br.not_run;
			row_add(row, TORTURE_CANCEL, &br);
			row->cancel_points += br.cancels;
			say_violation(o, s, TORTURE_CANCEL, &br);
			if (o->verbose)
				say(o, "  %s %-12s seed %llu: %llu steps, %llu "
				    "runs, %llu cancel points, %llu "
				    "violations\n", engine_name[s->engine],
				    s->name, (unsigned long long)b.seed,
				    (unsigned long long)k,
				    (unsigned long long)br.runs,
				    (unsigned long long)br.cancels,
				    (unsigned long long)br.violations);
			if (br.violations > 0 && o->stop_at_first)
				goto stop;
		}
		if (families & TORTURE_ALLOC) {       /* 3 */
			b.family = TORTURE_ALLOC;
			b.n = ref.allocs;
			rc = batch_run(&b, &br);
			if (rc < 0)
				return rc;
			rep->cases_not_run += br.not_run;
			row_add(row, TORTURE_ALLOC, &br);
			row->alloc_points += br.runs;
			say_violation(o, s, TORTURE_ALLOC, &br);
			if (o->verbose)
				say(o, "  %s %-12s seed %llu: %llu allocations "
				    "failed one at a time, %llu violations\n",
				    engine_name[s->engine], s->name,
				    (unsigned long long)b.seed,
				    (unsigned long long)br.runs,
				    (unsigned long long)br.violations);
			if (br.violations > 0 && o->stop_at_first)
				goto stop;
		}
	}
	return 0;
stop:	/* at the first violation: the seeds after it are not run */
	rep->seeds_not_run += o->seeds - i - 1;
	return 0;
}

/* Real-socket faults: one case per scenario (it injects its own faults). */
static int run_fault_scenario(const struct torture_opts *o,
			      const struct torture_scenario *s,
			      struct torture_report *rep)
{
	struct torture_row *row = row_for(rep, s);
	struct batch b = {
		.scen = s, .seed = o->first_seed, .quick = o->quick,
		.case_timeout_s = 60, .n = 1, .mutant = o->mutant,
	};
	struct batch_result br;
	int rc;

	if (row == NULL)
		return -ENOSPC;
	rc = batch_run(&b, &br);
	if (rc < 0)
		return rc;
	row_add(row, TORTURE_FAULTS, &br);
	row->faults += br.faults;
	row->seeds = 1;
	say_violation(o, s, TORTURE_FAULTS, &br);
	return 0;
}

static const struct torture_scenario *const *scenario_tables(void)
{
	static const struct torture_scenario *const tables[] = {
		torture__world_scenarios, torture__push_scenarios,
		torture__poll_scenarios, torture__fault_scenarios,
		torture__live_scenarios, NULL,
	};
	return tables;
}

static bool scenario_exists(const char *name)
{
	for (const struct torture_scenario *const *t = scenario_tables();
	     *t != NULL; t++)
		for (const struct torture_scenario *s = *t; s->name != NULL; s++)
			if (strcmp(s->name, name) == 0)
				return true;
	return false;
}

/* ---- the run ---------------------------------------------------------------------------- */

int torture_run(const struct torture_opts *opts, struct torture_report *out)
{
	struct torture_opts o = *opts;
	uint64_t t0 = clock_now_ns();
	char path[PATH_MAX];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (o.engines == 0)
		o.engines = (1u << TORTURE_NENGINES) - 1;
	if (o.families == 0)
		o.families = TORTURE_ALL;
	if (o.seeds == 0)
		o.seeds = o.quick ? 2 : 64;
	if (o.case_timeout_s == 0)
		o.case_timeout_s = 3;
	if (o.fail_fast)
		o.stop_at_first = true;
	run_deadline_ns = o.time_limit_ns != 0 ? t0 + o.time_limit_ns : 0;
	if (o.only != NULL && !scenario_exists(o.only))
		return -EINVAL;
	if (o.mutant != 0 &&
	    torture_mutant_program(o.mutant, path, sizeof(path)) != 0)
		return -ENOENT;

	for (unsigned e = 0; e < TORTURE_NENGINES && rc == 0; e++) {
		if (!(o.engines & (1u << e)))
			continue;
		for (const struct torture_scenario *const *t = scenario_tables();
		     *t != NULL && rc == 0; t++) {
			for (const struct torture_scenario *s = *t;
			     s->name != NULL && rc == 0; s++) {
				if (s->engine != e || !(s->family & o.families) ||
				    (o.only != NULL &&
				     strcmp(o.only, s->name) != 0))
					continue;
				if (out->failed_fast || out_of_time()) {
					out->out_of_time |= !out->failed_fast;
					out->scenarios_not_run++;
					continue;
				}
				if (o.verbose)
					say(&o, "%s %s...\n", engine_name[e],
					    s->name);
				if (s->family & TORTURE_FAULTS)
					rc = run_fault_scenario(&o, s, out);
				else
					rc = run_sim_scenario(&o, s, out);
				if (rc == 0 && o.fail_fast &&
				    row_for(out, s) != NULL &&
				    row_for(out, s)->violations > 0)
					out->failed_fast = true;
			}
		}
	}
	for (unsigned i = 0; i < out->nrows; i++) {
		const struct torture_row *row = &out->row[i];
		struct torture_engine_totals *t = &out->engine[row->engine];
		t->scenarios++;
		t->steps += row->steps;
		t->cancel_points += row->cancel_points;
		t->alloc_points += row->alloc_points;
		t->faults += row->faults;
		t->runs += row->runs;
		t->violations += row->violations;
		out->violations += row->violations;
	}
	out->seconds = (double)(clock_now_ns() - t0) / 1e9;
	run_deadline_ns = 0;
	return rc;
}

void torture_report_print(FILE *f, const struct torture_report *rep)
{
	char buf[96];

	for (unsigned e = 0; e < TORTURE_NENGINES; e++) {
		const struct torture_engine_totals *t = &rep->engine[e];

		if (t->scenarios == 0)
			continue;
		fprintf(f, "\nengine %s\n", engine_name[e]);
		fprintf(f, "  %-15s %5s %9s %11s %11s %7s %9s %10s\n",
			"scenario", "seeds", "steps", "cancel-pts",
			"alloc-fails", "faults", "runs", "violations");
		for (unsigned i = 0; i < rep->nrows; i++) {
			const struct torture_row *r = &rep->row[i];
			if (r->engine != e)
				continue;
			fprintf(f, "  %-15s %5u %9llu %11llu %11llu %7llu %9llu "
				"%10llu\n", r->scenario, r->seeds,
				(unsigned long long)r->steps,
				(unsigned long long)r->cancel_points,
				(unsigned long long)r->alloc_points,
				(unsigned long long)r->faults,
				(unsigned long long)r->runs,
				(unsigned long long)r->violations);
			if (r->violations > 0)
				fprintf(f, "    first violation: %s: %s\n",
					where(r->first_family, r->first_seed,
					      r->first_step, r->first_target,
					      buf, sizeof(buf)),
					r->first_what);
		}
		fprintf(f, "  %-15s %5s %9llu %11llu %11llu %7llu %9llu "
			"%10llu\n", "total", "",
			(unsigned long long)t->steps,
			(unsigned long long)t->cancel_points,
			(unsigned long long)t->alloc_points,
			(unsigned long long)t->faults,
			(unsigned long long)t->runs,
			(unsigned long long)t->violations);
	}
	fprintf(f, "\n%llu violation(s) in %.1f s\n",
		(unsigned long long)rep->violations, rep->seconds);
	if (rep->failed_fast || rep->out_of_time)
		fprintf(f, "%s: not run: %u scenario(s), %llu seed(s) of the "
			"scenarios started\n", rep->failed_fast ?
			"stopped at the first violation (--fail-fast)" :
			"the time limit ran out (--time-limit)",
			rep->scenarios_not_run,
			(unsigned long long)rep->seeds_not_run);
	if (rep->cases_not_run > 0)
		fprintf(f, "not run after a hung case: %llu case(s)\n",
			(unsigned long long)rep->cases_not_run);
}

/* ---- the mutants ------------------------------------------------------------------------ */

int torture_mutants(const struct torture_opts *opts,
		    bool caught[TORTURE_NMUTANTS])
{
	int escaped = 0;

	for (int m = 1; m < TORTURE_NMUTANTS; m++) {
		struct torture_opts o = *opts;
		struct torture_report *rep;
		unsigned by = 0;
		int rc;

		caught[m] = true;
		if (opts->engines != 0 &&
		    !(opts->engines & (1u << mutants[m].engine)))
			continue;
		rep = malloc(sizeof(*rep));
		if (rep == NULL)
			return -ENOMEM;
		o.mutant = m;
		o.engines = 1u << mutants[m].engine;
		o.families = TORTURE_CANCEL | TORTURE_ALLOC;
		o.stop_at_first = true;
		o.verbose = false;
		o.out = NULL;
		/* A planted hang is expected here: waiting 1 s, not 3, for
		 * each scenario it hangs keeps the whole check short. */
		if (o.case_timeout_s == 0)
			o.case_timeout_s = 1;
		rc = torture_run(&o, rep);
		if (rc < 0) {
			free(rep);
			return rc;
		}
		caught[m] = rep->violations > 0;
		if (!caught[m])
			escaped++;
		for (unsigned i = 0; i < rep->nrows; i++)
			by += rep->row[i].violations > 0;
		say(opts, "mutant %-24s %s in %u of %u scenarios: %s\n",
		    mutants[m].name, caught[m] ? "CAUGHT " : "ESCAPED", by,
		    rep->nrows, mutants[m].what);
		for (unsigned i = 0; caught[m] && i < rep->nrows; i++) {
			const struct torture_row *r = &rep->row[i];
			char buf[96];
			if (r->violations > 0) {
				say(opts, "       by %s %s, %s: %s\n",
				    engine_name[r->engine], r->scenario,
				    where(r->first_family, r->first_seed,
					  r->first_step, r->first_target, buf,
					  sizeof(buf)), r->first_what);
				break;
			}
		}
		free(rep);
	}
	return escaped;
}

/* ---- claim C6 ----------------------------------------------------------------------- */

/* The fanout scenario called name of engine e in table, or NULL. */
static const struct torture_scenario *
scenario_named(const struct torture_scenario *table, enum torture_engine e,
	       const char *name)
{
	for (const struct torture_scenario *t = table; t->name != NULL; t++)
		if (t->engine == e && strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

static int fanout_waste_of(const struct torture_scenario *s, unsigned seeds,
			   uint64_t input_size, size_t chunk_size,
			   struct torture_waste *out)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return -EINVAL;
	if (seeds == 0)
		seeds = 3;
	for (unsigned i = 0; i < seeds; i++) {
		struct batch b = {
			.scen = s, .seed = 1 + i, .step_limit = 5000000,
			.case_timeout_s = 10, .n = 1,
			.input_size = input_size > 0 ? input_size : 256 * 1024,
			.chunk_size = chunk_size > 0 ? chunk_size : 16 * 1024,
		};
		struct batch_result ref, br;
		int rc = batch_run(&b, &ref);

		if (rc < 0)
			return rc;
		out->violations += ref.violations;
		if (ref.violations > 0)
			continue;
		/* The whole fanout cancelled at every step. */
		b.family = TORTURE_CANCEL;
		b.whole_only = true;
		b.step_limit = 4 * ref.steps + 100000;
		b.n = ref.steps;
		rc = batch_run(&b, &br);
		if (rc < 0)
			return rc;
		out->runs += br.cancels;
		out->cancels_while_running += br.cancels_while_running;
		out->jobs_cancelled_queued += br.off.cancelled_queued;
		out->jobs_cancelled_running += br.off.cancelled_running;
		out->jobs_cancelled_finished += br.off.cancelled_finished;
		out->bytes_wasted += br.bytes_wasted;
		out->bytes_read += br.bytes_read;
		out->kernel_violations += br.kernel_violations;
		out->violations += br.violations;
	}
	return 0;
}

int torture_fanout_waste(enum torture_engine e, unsigned seeds,
			 uint64_t input_size, size_t chunk_size,
			 struct torture_waste *out)
{
	return fanout_waste_of(scenario_named(torture__world_scenarios, e,
					      "fanout-tcp"),
			       seeds, input_size, chunk_size, out);
}

int torture_fanout_waste_cq(enum torture_engine e, unsigned seeds,
			    uint64_t input_size, size_t chunk_size,
			    struct torture_waste *out)
{
	return fanout_waste_of(scenario_named(e == TORTURE_PUSH ?
					      torture__push_scenarios :
					      torture__poll_scenarios,
					      e, "fanout-cq"),
			       seeds, input_size, chunk_size, out);
}

/* ---- `pushpoll torture` --------------------------------------------------------------- */

static void torture_usage(FILE *f)
{
	fprintf(f,
"usage: pushpoll torture [--quick] [--seeds N] [--first-seed S]\n"
"                        [--engine push|poll] [--only SCENARIO]\n"
"                        [--family cancel|alloc|faults] [--mutants]\n"
"                        [--waste] [--verbose] [--fail-fast]\n"
"                        [--time-limit DURATION] [--case-timeout DURATION]\n"
"       pushpoll torture --engine E --only SCENARIO --first-seed S\n"
"                        [--step K] [--target T] [--alloc N] [--mutant NAME]\n"
"       pushpoll torture --fuzz DURATION [--fuzz-dir DIR] [--engine E]\n"
"                        [--mutant NAME]\n"
"       pushpoll torture --engine E --replay FILE [--mutant NAME]\n"
"\n"
"Cancels every scenario at every step of its simulated run, fails every\n"
"allocation one at a time, injects faults on loopback sockets, and checks\n"
"after each run that nothing leaked, nothing ran twice or after its end,\n"
"and no byte was lost or duplicated.  --mutants plants each known bug in\n"
"turn and checks that it is caught.  --waste measures claim C6: bytes read\n"
"for nothing by offload jobs running when a fanout is cancelled.\n"
"--fail-fast ends the run at its first violation; --time-limit starts no\n"
"batch of cases after DURATION (a number with ns, us, ms or s) and says\n"
"what was not run.  A case that runs past --case-timeout (default 3 s; a\n"
"case takes milliseconds) is a hang: a violation, reported with the\n"
"command that replays it, and the cases after it in its batch are not run.\n"
"The second form replays one case in this process with the simulation's\n"
"trace on stderr: the seed, step and target a violation was reported with.\n"
"--fuzz runs libFuzzer for DURATION per engine over the simulated\n"
"scenarios, steering the simulator's choices (order, sizes, delays, EAGAIN,\n"
"batches, resets), the cancel point and the failed allocation, with the\n"
"same checks; it keeps its corpus and log in DIR (default torture-fuzz)\n"
"and writes a case it breaks there, which --replay runs again; with\n"
"--mutant NAME both run the build with that planted bug in place.\n"
"Exit status: 0 clean, 1 a violation (or an escaped mutant), 2 usage.\n");
}

static int torture_waste_main(FILE *f, unsigned seeds)
{
	int bad = 0;

	for (unsigned e = 0; e < TORTURE_NENGINES; e++) {
		struct torture_waste w;
		int rc = torture_fanout_waste(e, seeds, 0, 0, &w);

		if (rc < 0) {
			fprintf(stderr, "pushpoll: torture --waste: %s\n",
				strerror(-rc));
			return EXIT_MEASURED_FAILURE;
		}
		uint64_t jobs = w.jobs_cancelled_running +
				w.jobs_cancelled_finished;

		fprintf(f, "%s: %llu fanouts cancelled, one at each step (256 "
			"KiB input, 16 KiB chunks, 3 sinks); %llu with a read "
			"running; jobs cancelled: %llu queued, %llu running, "
			"%llu finished; %llu bytes read for nothing, %.0f per "
			"job that ran on; violations %llu\n", engine_name[e],
			(unsigned long long)w.runs,
			(unsigned long long)w.cancels_while_running,
			(unsigned long long)w.jobs_cancelled_queued,
			(unsigned long long)w.jobs_cancelled_running,
			(unsigned long long)w.jobs_cancelled_finished,
			(unsigned long long)w.bytes_wasted,
			jobs > 0 ? (double)w.bytes_wasted / (double)jobs : 0.0,
			(unsigned long long)w.violations);
		if (w.violations > 0)
			bad = 1;
	}
	return bad ? EXIT_MEASURED_FAILURE : 0;
}

/* Replay one case: how a violation the table reports is reproduced and
 * looked at.  It runs twice, each time in a forked child like every case,
 * so a crash is reported, not suffered: first exactly as the table ran it
 * (the verdict printed on stdout), then with the simulation's trace on
 * stderr and a longer time limit, since writing the trace slows a case
 * that runs away past the table's limit. */
static int repro_case(const struct torture_opts *o,
		      const struct torture_scenario *s, uint64_t seed,
		      bool quick, uint64_t step_limit, uint64_t step,
		      unsigned target, uint64_t fail_nth, const char *fuzz_case)
{
	struct batch_result br;
	struct batch b;
	int rc;

	b = (struct batch){
		.scen = s, .seed = seed, .quick = quick,
		.step_limit = step_limit, .n = 1,
		.case_timeout_s = o->case_timeout_s != 0 ? o->case_timeout_s : 3,
		.replay = true, .cancel_step = step, .target = target,
		.fail_nth = fail_nth, .mutant = o->mutant,
		.fuzz_case = fuzz_case,
	};
	rc = batch_run(&b, &br);
	if (rc == 0 && !br.hung) {    /* a hang's trace would never end */
		struct batch traced = b;
		struct batch_result ignored;

		traced.trace = true;
		traced.case_timeout_s = 120;
		rc = batch_run(&traced, &ignored);
	}
	if (rc < 0) {
		fprintf(stderr, "pushpoll: torture: %s\n", strerror(-rc));
		return EXIT_MEASURED_FAILURE;
	}
	printf("%s %s%s seed %llu step %llu target %u allocation %llu: ",
	       engine_name[s->engine], s->name, quick ? " (quick)" : "",
	       (unsigned long long)b.seed, (unsigned long long)step, target,
	       (unsigned long long)fail_nth);
	if (!br.died)
		printf("%llu steps, %llu allocations, cancel %s: ",
		       (unsigned long long)br.steps,
		       (unsigned long long)br.allocs,
		       br.cancels > 0 ? "took effect" : "found nothing");
	printf("%s\n", br.violations > 0 ? br.first.what : "no violation");
	return br.violations > 0 ? EXIT_MEASURED_FAILURE : 0;
}

static int torture_repro(const struct torture_opts *o, uint64_t step,
			 unsigned target, uint64_t fail_nth)
{
	unsigned e = o->engines == (1u << TORTURE_POLL) ? TORTURE_POLL
							: TORTURE_PUSH;
	const struct torture_scenario *s = NULL;

	if (o->only == NULL || (o->engines != (1u << TORTURE_PUSH) &&
				o->engines != (1u << TORTURE_POLL)))
		cli_usage_error("torture --step/--alloc: name one --engine and "
				"one --only SCENARIO");
	for (const struct torture_scenario *const *t = scenario_tables();
	     *t != NULL; t++)
		for (const struct torture_scenario *x = *t; x->name != NULL; x++)
			if (x->engine == e && strcmp(x->name, o->only) == 0)
				s = x;
	if (s == NULL)
		cli_usage_error("torture: %s has no scenario '%s'",
				engine_name[e], o->only);
	return repro_case(o, s, o->first_seed, o->quick, 5000000, step, target,
			  fail_nth, NULL);
}

/* A case the fuzzer wrote, decoded for engine e as the fuzzer's program
 * decoded it: into *c and the overlay *f, whose choices point into this
 * file's one buffer (so one case at a time).  Returns 0, -errno if the
 * file cannot be read, -ENOENT if e has no simulated scenario. */
#define FUZZ_CASE_MAX (1u << 20)

static int fuzz_case_load(const char *path, enum torture_engine e,
			  struct torture_case *c, struct tt_fuzz *f)
{
	static unsigned char data[FUZZ_CASE_MAX];
	size_t n;
	FILE *in = fopen(path, "rb");

	if (in == NULL)
		return -errno;
	n = fread(data, 1, sizeof(data), in);
	fclose(in);
	return torture__fuzz_decode(e, data, n, c, f);
}

/* Replay a case the fuzzer wrote, with its world laid over the scenario's
 * (torture__fuzz, which the forked child inherits; a planted bug's
 * program, which cannot inherit it, is given the file), then run as any
 * replay is. */
static int torture_fuzz_replay(const struct torture_opts *o, const char *path)
{
	struct torture_case c;
	struct tt_fuzz f;
	char what[512];
	int rc;

	if (o->engines != (1u << TORTURE_PUSH) &&
	    o->engines != (1u << TORTURE_POLL))
		cli_usage_error("torture --replay: name the --engine the case "
				"was found with");
	if (o->mutant != 0 &&
	    o->engines != 1u << torture_mutant_engine(o->mutant))
		cli_usage_error("torture --replay: planted bug %s is not in "
				"that engine", torture_mutant_name(o->mutant));
	rc = fuzz_case_load(path, o->engines == (1u << TORTURE_POLL) ?
			    TORTURE_POLL : TORTURE_PUSH, &c, &f);
	if (rc == -ENOENT && access(path, F_OK) == 0)
		return EXIT_MEASURED_FAILURE;
	if (rc < 0) {
		fprintf(stderr, "pushpoll: torture --replay: %s: %s\n", path,
			strerror(-rc));
		return EXIT_USAGE;
	}
	torture__fuzz_describe(&c, &f, what, sizeof(what));
	printf("case %s%s%s: %s\n", path, o->mutant != 0 ? " with " : "",
	       o->mutant != 0 ? torture_mutant_name(o->mutant) : "", what);
	torture__fuzz = &f;
	rc = repro_case(o, c.scen, c.seed, c.quick, c.step_limit,
			c.cancel_step, c.target, c.fail_nth, path);
	torture__fuzz = NULL;
	return rc;
}

/* `pushpoll torture --fuzz DURATION`: one line per engine. */
static int torture_fuzz_main(const struct torture_opts *o,
			     uint64_t duration_ns, const char *dir)
{
	struct torture_fuzz_result r[TORTURE_NENGINES];
	char prog[PATH_MAX];
	bool found = false;
	int rc;

	if (torture_fuzz_program(prog, sizeof(prog)) != 0) {
		fprintf(stderr, "pushpoll: torture --fuzz: this build has no "
			"fuzzer (it needs clang and libFuzzer: apt-get install "
			"clang libclang-rt-14-dev, then configure again)\n");
		return EXIT_MEASURED_FAILURE;
	}
	rc = torture_fuzz(o, duration_ns, dir, r);
	if (rc == -ENOENT && o->mutant != 0) {
		fprintf(stderr, "pushpoll: torture --fuzz: no fuzzer with "
			"planted bug %s in this build (make check builds "
			"mutants/%s-fuzz)\n", torture_mutant_name(o->mutant),
			torture_mutant_name(o->mutant));
		return EXIT_MEASURED_FAILURE;
	}
	if (rc < 0) {
		fprintf(stderr, "pushpoll: torture --fuzz: %s: %s\n", dir,
			strerror(-rc));
		return EXIT_MEASURED_FAILURE;
	}
	for (unsigned e = 0; e < TORTURE_NENGINES; e++) {
		if (!r[e].ran)
			continue;
		printf("fuzz %s: %llu s, %llu runs, %llu exec/s, cov: %llu ft: "
		       "%llu, corpus %llu, %s\n", engine_name[e],
		       (unsigned long long)r[e].seconds,
		       (unsigned long long)r[e].runs,
		       (unsigned long long)r[e].execs_per_s,
		       (unsigned long long)r[e].cov,
		       (unsigned long long)r[e].ft,
		       (unsigned long long)r[e].corpus,
		       r[e].violation ? "a violation" : "no violation");
		if (r[e].violation) {
			found = true;
			printf("  %s\n  replay: pushpoll torture --engine %s "
			       "--replay %s%s%s\n", r[e].what, engine_name[e],
			       r[e].artifact, o->mutant != 0 ? " --mutant " : "",
			       o->mutant != 0 ? torture_mutant_name(o->mutant)
					      : "");
		}
	}
	return found ? EXIT_MEASURED_FAILURE : 0;
}

/* Whether the program of every planted bug that o will run is there
 * (o->mutant alone, or each bug of o->engines); if one is not, say where
 * it was looked for. */
static bool mutant_programs_found(const struct torture_opts *o)
{
	char path[PATH_MAX];

	for (int m = 1; m < TORTURE_NMUTANTS; m++) {
		bool wanted = o->mutant != 0 ? m == o->mutant
			      : o->engines == 0 ||
				(o->engines & (1u << mutants[m].engine));

		if (!wanted)
			continue;
		if (torture_mutant_program(m, path, sizeof(path)) != 0) {
			fprintf(stderr, "pushpoll: torture: planted bug %s: no "
				"program %s (make builds it, make install "
				"puts it there)\n", mutants[m].name, path);
			return false;
		}
	}
	return true;
}

int torture_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "seeds", required_argument, NULL, 's' },
		{ "first-seed", required_argument, NULL, 'f' },
		{ "engine", required_argument, NULL, 'e' },
		{ "only", required_argument, NULL, 'o' },
		{ "family", required_argument, NULL, 'F' },
		{ "mutants", no_argument, NULL, 'm' },
		{ "waste", no_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "step", required_argument, NULL, 'k' },
		{ "target", required_argument, NULL, 't' },
		{ "alloc", required_argument, NULL, 'a' },
		{ "mutant", required_argument, NULL, 'M' },
		{ "fail-fast", no_argument, NULL, 'x' },
		{ "time-limit", required_argument, NULL, 'T' },
		{ "case-timeout", required_argument, NULL, 'C' },
		{ "fuzz", required_argument, NULL, 'z' },
		{ "fuzz-dir", required_argument, NULL, 'Z' },
		{ "replay", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct torture_opts o;
	struct torture_report *rep;
	bool do_mutants = false, do_waste = false, do_repro = false;
	uint64_t step = 0, fail_nth = 0, ns, fuzz_ns = 0;
	const char *fuzz_dir = "torture-fuzz", *replay = NULL;
	unsigned target = 0;
	int c, rc;

	torture_opts_default(&o);
	o.out = stdout;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o.quick = true;
			break;
		case 's':
			o.seeds = (unsigned)cli_uint("--seeds", optarg, 1, 1000);
			break;
		case 'f':
			o.first_seed = cli_uint("--first-seed", optarg, 0,
						UINT64_MAX / 2);
			break;
		case 'e':
			if (strcmp(optarg, "push") == 0)
				o.engines |= 1u << TORTURE_PUSH;
			else if (strcmp(optarg, "poll") == 0)
				o.engines |= 1u << TORTURE_POLL;
			else
				cli_usage_error("torture --engine: push or poll, "
						"not '%s'", optarg);
			break;
		case 'o':
			if (!scenario_exists(optarg))
				cli_usage_error("torture --only: no scenario "
						"'%s'", optarg);
			o.only = optarg;
			break;
		case 'F':
			if (strcmp(optarg, "cancel") == 0)
				o.families |= TORTURE_CANCEL;
			else if (strcmp(optarg, "alloc") == 0)
				o.families |= TORTURE_ALLOC;
			else if (strcmp(optarg, "faults") == 0)
				o.families |= TORTURE_FAULTS;
			else
				cli_usage_error("torture --family: cancel, alloc "
						"or faults, not '%s'", optarg);
			break;
		case 'm':
			do_mutants = true;
			break;
		case 'w':
			do_waste = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'k':
			step = cli_uint("--step", optarg, 0, UINT64_MAX / 2);
			do_repro = true;
			break;
		case 't':
			target = (unsigned)cli_uint("--target", optarg, 0, 64);
			do_repro = true;
			break;
		case 'a':
			fail_nth = cli_uint("--alloc", optarg, 0,
					    UINT64_MAX / 2);
			do_repro = true;
			break;
		case 'M':
			o.mutant = 0;
			for (int m = 1; m < TORTURE_NMUTANTS; m++)
				if (strcmp(optarg, mutants[m].name) == 0)
					o.mutant = m;
			if (o.mutant == 0)
				cli_usage_error("torture --mutant: no planted bug "
						"'%s'", optarg);
			break;
		case 'x':
			o.fail_fast = true;
			break;
		case 'T':
			o.time_limit_ns = cli_duration_ns("--time-limit", optarg);
			if (o.time_limit_ns == 0)
				cli_usage_error("torture --time-limit: more than "
						"0, not '%s'", optarg);
			break;
		case 'C':
			ns = cli_duration_ns("--case-timeout", optarg);
			if (ns < CLOCK_NS_PER_S || ns > 3600 * CLOCK_NS_PER_S)
				cli_usage_error("torture --case-timeout: 1 s to "
						"1 h, not '%s'", optarg);
			o.case_timeout_s = (unsigned)(ns / CLOCK_NS_PER_S);
			break;
		case 'z':
			fuzz_ns = cli_duration_ns("--fuzz", optarg);
			if (fuzz_ns == 0)
				cli_usage_error("torture --fuzz: more than 0, not "
						"'%s'", optarg);
			break;
		case 'Z':
			fuzz_dir = optarg;
			break;
		case 'r':
			replay = optarg;
			break;
		case 'h':
			torture_usage(stdout);
			return 0;
		case ':':
			cli_usage_error("%s needs a value", argv[optind - 1]);
		default:
			cli_usage_error("torture: unknown option '%s'",
					argv[optind - 1]);
		}
	}
	if (optind < argc)
		cli_usage_error("torture: unexpected argument '%s'",
				argv[optind]);
	signal(SIGPIPE, SIG_IGN);

	if ((do_mutants || o.mutant != 0) && !mutant_programs_found(&o))
		return EXIT_MEASURED_FAILURE;
	if (replay != NULL)
		return torture_fuzz_replay(&o, replay);
	if (fuzz_ns > 0)
		return torture_fuzz_main(&o, fuzz_ns, fuzz_dir);
	if (do_repro)
		return torture_repro(&o, step, target, fail_nth);
	if (do_waste)
		return torture_waste_main(stdout, o.seeds);
	if (do_mutants) {
		bool caught[TORTURE_NMUTANTS] = { false };
		rc = torture_mutants(&o, caught);
		if (rc < 0) {
			fprintf(stderr, "pushpoll: torture --mutants: %s\n",
				strerror(-rc));
			return EXIT_MEASURED_FAILURE;
		}
		printf("%d of %d planted bugs caught\n",
		       TORTURE_NMUTANTS - 1 - rc, TORTURE_NMUTANTS - 1);
		return rc == 0 ? 0 : EXIT_MEASURED_FAILURE;
	}
	rep = malloc(sizeof(*rep));
	if (rep == NULL)
		return EXIT_MEASURED_FAILURE;
	printf("pushpoll torture: %s, %u seed(s) from %llu%s\n",
	       o.quick ? "quick" : "full",
	       o.seeds != 0 ? o.seeds : (o.quick ? 2 : 64),
	       (unsigned long long)o.first_seed,
	       o.quick ? " (replay a case with --quick too)" : "");
	rc = torture_run(&o, rep);
	if (rc < 0) {
		fprintf(stderr, "pushpoll: torture: %s\n", strerror(-rc));
		free(rep);
		return EXIT_MEASURED_FAILURE;
	}
	torture_report_print(stdout, rep);
	rc = rep->violations > 0 ? EXIT_MEASURED_FAILURE : 0;
	free(rep);
	return rc;
}
