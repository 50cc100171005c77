/* torture_fuzz.c: swarm fuzzing of the simulated world (torture.h,
 * "fuzzing").
 *
 * The cancel family tries every step of a few seeded schedules; a fuzzer
 * tries schedules no seed gives.  A fuzzer's input is read as a case: a
 * scenario, which faults are on and how often (the swarm), where to cancel
 * and what, which allocation fails, a seed, and then the bytes the
 * simulator reads its choices from (delivery order, read and write sizes,
 * delays, spurious EAGAIN, batches, resets: sim_config.choices), so that
 * the fuzzer steers the schedule one decision at a time and keeps the
 * inputs that reach new code.  The case runs with every check of torture,
 * in the fuzzer's process; a violation aborts it, so the fuzzer writes the
 * input out, and `pushpoll torture --replay FILE` runs that file again as
 * any torture case is replayed, in a forked child, then with the trace.
 *
 * The fuzzer is libFuzzer, in a program of its own (torture_fuzz_main.c),
 * built with clang's coverage instrumentation and AddressSanitizer where
 * configure finds them (--enable-fuzz).  `pushpoll torture --fuzz DURATION`
 * runs it for DURATION per engine, keeps its corpus and output in a folder,
 * and sums each run up in one line: executions, executions per second,
 * libFuzzer's coverage figures (cov: edges, ft: features), and the replay
 * command of what it found.
 */
#include "torture_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Where `make install` puts the fuzzer's program. */
#ifndef TORTURE_MUTANTS_DIR
#define TORTURE_MUTANTS_DIR "/usr/local/libexec/pushpoll"
#endif

static const char *const engine_name[TORTURE_NENGINES] = { "push", "poll" };

/* ---- a case from bytes ------------------------------------------------------------ */

/* The simulated scenarios of engine e, in table order, into out (up to
 * max); returns how many there are. */
static unsigned sim_scenarios(enum torture_engine e,
			      const struct torture_scenario **out,
			      unsigned max)
{
	static const struct torture_scenario *const tables[] = {
		torture__world_scenarios, torture__push_scenarios,
		torture__poll_scenarios,
	};
	unsigned n = 0;

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct torture_scenario *s = tables[t];
		     s->name != NULL; s++)
			if (s->engine == e && (s->family & TORTURE_CANCEL)) {
				if (n < max)
					out[n] = s;
				n++;
			}
	return n;
}

/* Byte i of the input, 0 past its end. */
static unsigned byte_at(const unsigned char *d, size_t n, size_t i)
{
	return i < n ? d[i] : 0;
}

/* A fault's rate in per mille, 1 to max, when its bit of the swarm is on.
 * Spurious EAGAIN stops at one in two: a world where every read and write
 * says EAGAIN never moves, whatever the engine does. */
static unsigned rate_at(const unsigned char *d, size_t n, unsigned swarm,
			unsigned bit, size_t i, unsigned max)
{
	return swarm & (1u << bit) ? 1 + byte_at(d, n, i) * (max - 1) / 255
				   : 0;
}

int torture__fuzz_decode(enum torture_engine e, const unsigned char *d,
			 size_t n, struct torture_case *c, struct tt_fuzz *f)
{
	const struct torture_scenario *scen[TORTURE_MAX_ROWS];
	unsigned count = sim_scenarios(e, scen, TORTURE_MAX_ROWS);
	unsigned swarm = byte_at(d, n, 1);
	uint64_t seed = 0;

	if (count == 0)
		return -ENOENT;
	if (count > TORTURE_MAX_ROWS)
		count = TORTURE_MAX_ROWS;
	memset(c, 0, sizeof(*c));
	memset(f, 0, sizeof(*f));
	c->scen = scen[byte_at(d, n, 0) % count];
	f->short_io = rate_at(d, n, swarm, 0, 2, 1000);
	f->eagain = rate_at(d, n, swarm, 1, 3, 500);
	f->delay = rate_at(d, n, swarm, 2, 4, 1000);
	f->batch = rate_at(d, n, swarm, 3, 5, 1000);
	f->reset = rate_at(d, n, swarm, 4, 6, 1000);
	f->early_eof = rate_at(d, n, swarm, 4, 7, 1000);
	if (swarm & (1u << 5)) {
		c->cancel_step = 1 + (byte_at(d, n, 8) << 8 |
				      byte_at(d, n, 9)) % 4096;
		c->target = byte_at(d, n, 10) % (c->scen->parts + 1);
	}
	if (swarm & (1u << 6))
		c->fail_nth = 1 + (byte_at(d, n, 11) << 8 |
				   byte_at(d, n, 12)) % 4096;
	c->quick = (swarm & (1u << 7)) != 0;
	for (int i = 7; i >= 0; i--)
		seed = seed << 8 | byte_at(d, n, 13 + (size_t)i);
	c->seed = seed;
	f->max_delay_ns = (uint64_t)(byte_at(d, n, 21) + 1) * 10000;
	/* A case takes thousands of steps; past this it runs away. */
	c->step_limit = 200000;
	if (n > TT_FUZZ_HEADER) {
		f->choices = d + TT_FUZZ_HEADER;
		f->nchoices = n - TT_FUZZ_HEADER;
	}
	return 0;
}

void torture__fuzz_run(struct torture_case *c, const struct tt_fuzz *f)
{
	torture__fuzz = f;
	torture__run_case(c);
	torture__fuzz = NULL;
}

void torture__fuzz_describe(const struct torture_case *c,
			    const struct tt_fuzz *f, char *buf, size_t size)
{
	char cancel[64] = "no cancel", fail[48] = "no allocation failing";

	if (c->cancel_step > 0)
		snprintf(cancel, sizeof(cancel), "cancel before step %llu "
			 "target %u", (unsigned long long)c->cancel_step,
			 c->target);
	if (c->fail_nth > 0)
		snprintf(fail, sizeof(fail), "allocation %llu failing",
			 (unsigned long long)c->fail_nth);
	snprintf(buf, size, "%s %s%s seed %llu, %s, %s; per mille: short io "
		 "%u, eagain %u, delay %u (to %llu us), batch %u, reset %u, "
		 "early eof %u; %zu choice bytes", engine_name[c->scen->engine],
		 c->scen->name, c->quick ? " (quick)" : "",
		 (unsigned long long)c->seed, cancel, fail, f->short_io,
		 f->eagain, f->delay,
		 (unsigned long long)(f->max_delay_ns / 1000), f->batch,
		 f->reset, f->early_eof, f->nchoices);
}

/* ---- `pushpoll torture --fuzz` ------------------------------------------------------ */

int torture_fuzz_program(char *buf, size_t size)
{
	const char *path = getenv("PUSHPOLL_FUZZER");
	char self[PATH_MAX];
	ssize_t n;

	if (path != NULL && path[0] != '\0') {
		snprintf(buf, size, "%s", path);
		return access(buf, X_OK) == 0 ? 0 : -ENOENT;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, size, "%s/torture-fuzz", dirname(self));
		if (access(buf, X_OK) == 0)
			return 0;
	}
	snprintf(buf, size, "%s/torture-fuzz", TORTURE_MUTANTS_DIR);
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

/* Create dir if it is not there; true if it is a folder now. */
static bool make_dir(const char *dir, bool *created)
{
	struct stat st;

	*created = mkdir(dir, 0777) == 0;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A new corpus starts with two inputs per scenario, one with no fault and
 * one with every fault of the world on, so that each scenario is met in
 * the first second and the fuzzer mutates from there. */
static int corpus_seed(const char *dir, enum torture_engine e)
{
	const struct torture_scenario *scen[TORTURE_MAX_ROWS];
	unsigned count = sim_scenarios(e, scen, TORTURE_MAX_ROWS);

	for (unsigned i = 0; i < count && i < 256; i++)
		for (unsigned faulty = 0; faulty < 2; faulty++) {
			unsigned char in[TT_FUZZ_HEADER] = { 0 };
			char path[PATH_MAX + 64];
			FILE *f;

			in[0] = (unsigned char)i;
			in[1] = faulty ? 0x1f : 0;
			memset(in + 2, 0x40, 6);
			in[13] = (unsigned char)(1 + faulty);  /* the seed */
			in[21] = 99;                           /* 1 ms */
			snprintf(path, sizeof(path), "%s/start-%s-%u",
				 dir, scen[i]->name, faulty);
			f = fopen(path, "wb");
			if (f == NULL)
				return -errno;
			fwrite(in, 1, sizeof(in), f);
			if (fclose(f) != 0)
				return -EIO;
		}
	return 0;
}

/* What a run of the fuzzer said, read off its output as it goes. */
static void fuzz_parse_line(const char *line, struct torture_fuzz_result *r)
{
	const char *p;
	unsigned long long v;

	if ((p = strstr(line, " cov: ")) != NULL &&
	    sscanf(p, " cov: %llu", &v) == 1)
		r->cov = v;
	if ((p = strstr(line, " ft: ")) != NULL &&
	    sscanf(p, " ft: %llu", &v) == 1)
		r->ft = v;
	if ((p = strstr(line, " corp: ")) != NULL &&
	    sscanf(p, " corp: %llu", &v) == 1)
		r->corpus = v;
	if (line[0] == '#' && sscanf(line + 1, "%llu", &v) == 1)
		r->runs = v;
	if (sscanf(line, "stat::number_of_executed_units: %llu", &v) == 1)
		r->runs = v;
	if (sscanf(line, "stat::average_exec_per_sec: %llu", &v) == 1)
		r->execs_per_s = v;
	if ((p = strstr(line, "Test unit written to ")) != NULL) {
		snprintf(r->artifact, sizeof(r->artifact), "%s",
			 p + strlen("Test unit written to "));
		r->artifact[strcspn(r->artifact, "\n")] = '\0';
	}
	if ((p = strstr(line, "torture: violation: ")) != NULL &&
	    r->what[0] == '\0') {
		snprintf(r->what, sizeof(r->what), "%s",
			 p + strlen("torture: violation: "));
		r->what[strcspn(r->what, "\n")] = '\0';
	}
	if ((p = strstr(line, "ERROR: AddressSanitizer: ")) != NULL &&
	    r->what[0] == '\0') {
		snprintf(r->what, sizeof(r->what), "%s", p + 7);
		r->what[strcspn(r->what, "\n")] = '\0';
	}
	if ((p = strstr(line, "ERROR: libFuzzer: ")) != NULL &&
	    r->what[0] == '\0') {
		snprintf(r->what, sizeof(r->what), "%s", p + 7);
		r->what[strcspn(r->what, "\n")] = '\0';
	}
}

/* Run the fuzzer for engine e: its output goes to DIR/fuzz-E.log (and to
 * stderr when verbose), its corpus is DIR/corpus-E, what it finds is
 * written into DIR. */
static int fuzz_engine(const struct torture_opts *o, enum torture_engine e,
		       const char *prog, uint64_t seconds, const char *dir,
		       struct torture_fuzz_result *r)
{
	char corpus[PATH_MAX], logpath[PATH_MAX], a_time[32], a_timeout[32];
	char a_prefix[PATH_MAX + 32];
	int fds[2], status;
	bool created;
	FILE *log, *in;
	char line[1024];
	pid_t pid;
	int rc;

	memset(r, 0, sizeof(*r));
	r->engine = e;
	snprintf(corpus, sizeof(corpus), "%s/corpus-%s", dir, engine_name[e]);
	if (!make_dir(corpus, &created))
		return -errno;
	if (created && (rc = corpus_seed(corpus, e)) < 0)
		return rc;
	snprintf(logpath, sizeof(logpath), "%s/fuzz-%s.log", dir,
		 engine_name[e]);
	log = fopen(logpath, "w");
	if (log == NULL)
		return -errno;
	snprintf(a_time, sizeof(a_time), "-max_total_time=%llu",
		 (unsigned long long)seconds);
	snprintf(a_timeout, sizeof(a_timeout), "-timeout=%u",
		 o->case_timeout_s != 0 ? o->case_timeout_s : 10);
	snprintf(a_prefix, sizeof(a_prefix), "-artifact_prefix=%s/", dir);
	if (pipe(fds) != 0) {
		fclose(log);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		fclose(log);
		return rc;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl(prog, prog, "--engine", engine_name[e], a_time, a_timeout,
		      a_prefix, "-print_final_stats=1", "-rss_limit_mb=4096",
		      corpus, (char *)NULL);
		fprintf(stderr, "pushpoll: torture --fuzz: cannot run %s: %s\n",
			prog, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	in = fdopen(fds[0], "r");
	while (in != NULL && fgets(line, sizeof(line), in) != NULL) {
		fputs(line, log);
		if (o->verbose)
			fputs(line, stderr);
		fuzz_parse_line(line, r);
	}
	if (in != NULL)
		fclose(in);
	else
		close(fds[0]);
	fclose(log);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r->seconds = seconds;
	if (r->artifact[0] != '\0') {
		r->violation = true;
		if (r->what[0] == '\0')
			snprintf(r->what, sizeof(r->what), "the fuzzer's "
				 "program died (fuzz-%s.log says why)",
				 engine_name[e]);
		return 0;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pushpoll: torture --fuzz: the fuzzer ended "
			"with status %d and wrote no case (see %s)\n", status,
			logpath);
		return -EPROTO;
	}
	return 0;
}

int torture_fuzz(const struct torture_opts *o, uint64_t duration_ns,
		 const char *dir, struct torture_fuzz_result r[TORTURE_NENGINES])
{
	char prog[PATH_MAX];
	uint64_t seconds = (duration_ns + 999999999) / 1000000000;
	unsigned engines = o->engines != 0 ? o->engines
					   : (1u << TORTURE_NENGINES) - 1;
	bool created;

	memset(r, 0, sizeof(*r) * TORTURE_NENGINES);
	if (o->mutant != 0) {
		/* The fuzzer with the planted bug in place: mutants/NAME-fuzz,
		 * beside the bug's own program; its engine only. */
		size_t len;

		if (torture_mutant_program(o->mutant, prog, sizeof(prog)) != 0)
			return -ENOENT;
		len = strlen(prog);
		if (len + sizeof("-fuzz") > sizeof(prog))
			return -ENAMETOOLONG;
		memcpy(prog + len, "-fuzz", sizeof("-fuzz"));
		if (access(prog, X_OK) != 0)
			return -ENOENT;
		engines = 1u << torture_mutant_engine(o->mutant);
	} else if (torture_fuzz_program(prog, sizeof(prog)) != 0) {
		return -ENOENT;
	}
	if (!make_dir(dir, &created))
		return -errno;
	for (unsigned e = 0; e < TORTURE_NENGINES; e++) {
		int rc;

		if (!(engines & (1u << e)))
			continue;
		rc = fuzz_engine(o, e, prog, seconds, dir, &r[e]);
		if (rc < 0)
			return rc;
		r[e].ran = true;
		if (r[e].violation && o->fail_fast)
			break;
	}
	return 0;
}
