/* test_external.c: servers the tree did not build: `pushpoll load` against
 * any echo server, `pushpoll bench --target`, the tokio rows, and the heap
 * counter pushpoll-memcount.so (compare/preload/memcount.h).
 *
 * The servers are tests/badserver, which misbehaves on request, and the
 * heap counter is checked against tests/memcount_known, a program whose
 * every allocation is known.  Both run as separate programs, as a user's
 * server would, and so does pushpoll.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PUSHPOLL_BIN
#define PUSHPOLL_BIN "./pushpoll"
#endif
#ifndef BUILD_DIR
#define BUILD_DIR "."
#endif
#define BADSERVER BUILD_DIR "/tests/badserver"
#define KNOWN BUILD_DIR "/tests/memcount_known"
#define PRELOAD BUILD_DIR "/pushpoll-memcount.so"

/* ---- running programs ------------------------------------------------------ */

struct outcome {
	int status;               /* exit status, or -1 if it did not exit */
	char out[16384], err[4096];
	int err_lines;
};

static void slurp(FILE *f, char *buf, size_t len)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Run argv[0] with argv, with the environment variables env ("NAME=VALUE",
 * NULL last; NULL: none added), and collect what it said. */
static void run_env(char *const argv[], char *const env[], struct outcome *o)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int status;
	pid_t pid;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(err);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fileno(out), STDOUT_FILENO);
		dup2(fileno(err), STDERR_FILENO);
		for (int i = 0; env != NULL && env[i] != NULL; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	slurp(out, o->out, sizeof(o->out));
	slurp(err, o->err, sizeof(o->err));
	o->err_lines = 0;
	for (const char *p = o->err; *p != '\0'; p++)
		o->err_lines += *p == '\n';
}

static void run(char *const argv[], struct outcome *o)
{
	run_env(argv, NULL, o);
}

/* Start tests/badserver MODE on a port of its choice; returns its pid and
 * the port in *port. */
static pid_t badserver_start(const char *mode, unsigned *port)
{
	int fds[2];
	pid_t pid;
	FILE *f;
	char line[128];

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		execl(BADSERVER, BADSERVER, mode, "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_int_eq(sscanf(line, "listening 127.0.0.1:%u", port), 1);
	fclose(f);
	return pid;
}

static void server_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A loopback port nothing listens on (none did when looked at). */
static unsigned closed_port(void)
{
	unsigned port;
	pid_t pid = badserver_start("echo", &port);

	server_stop(pid);
	return port;
}

/* The median of figure `key` of row `engine` in a bench JSON file, or -1
 * where it is null; the test fails if the row is missing. */
static double json_figure(const char *json, const char *engine,
			  const char *key)
{
	char pat[96];
	const char *row, *fig, *next;

	snprintf(pat, sizeof(pat), "{\"engine\":\"%s\"", engine);
	row = strstr(json, pat);
	ck_assert_msg(row != NULL, "no row %s in the JSON", engine);
	next = strstr(row + 1, "{\"engine\":");
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	fig = strstr(row, pat);
	ck_assert_msg(fig != NULL && (next == NULL || fig < next),
		      "row %s has no %s", engine, key);
	fig += strlen(pat);
	if (strncmp(fig, "null", 4) == 0)
		return -1;
	ck_assert(strncmp(fig, "{\"median\":", 10) == 0);
	return strtod(fig + 10, NULL);
}

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	slurp(f, buf, len);
}

/* The one stderr line that names target `name`; the test fails unless
 * there is exactly one and it says `problem`. */
static void check_one_line(const struct outcome *o, const char *name,
			   const char *problem)
{
	char pat[64];
	const char *line, *again;

	snprintf(pat, sizeof(pat), "target %s (", name);
	line = strstr(o->err, pat);
	ck_assert_msg(line != NULL, "no line names %s:\n%s", name, o->err);
	again = strstr(line + 1, pat);
	ck_assert_msg(again == NULL, "%s named twice:\n%s", name, o->err);
	const char *end = strchr(line, '\n');
	ck_assert_ptr_nonnull(end);
	const char *found = strstr(line, problem);
	ck_assert_msg(found != NULL && found < end,
		      "the line naming %s does not say '%s':\n%s", name,
		      problem, o->err);
}

/* ==== the heap counter ========================================================= */

/* A zeroed counter file, as the bench makes one. */
static void counter_file(char *path, size_t len)
{
	int fd;

	snprintf(path, len, "/tmp/pushpoll-test-mc-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	close(fd);
}

START_TEST(test_memcount_counts_every_call_of_a_known_program)
{
	char path[64], env_file[128];
	char *const argv[] = { KNOWN, NULL };
	char *env[] = { "LD_PRELOAD=" PRELOAD, env_file, NULL };
	struct outcome o;

	counter_file(path, sizeof(path));
	snprintf(env_file, sizeof(env_file), "PUSHPOLL_MEMCOUNT=%s", path);
	run_env(argv, env, &o);
	unlink(path);
	ck_assert_int_eq(o.status, 0);
	/* memcount_known.c, KNOWN: the exact calls it makes. */
	ck_assert_str_eq(o.out, "loaded=1 allocs=1116 frees=1116 reallocs=3 "
			 "bytes=133984 live=0\n");
}
END_TEST

START_TEST(test_memcount_sees_nothing_of_a_program_not_preloaded)
{
	char path[64], env_file[128];
	char *const argv[] = { KNOWN, NULL };
	char *env[] = { env_file, NULL };
	struct outcome o;

	counter_file(path, sizeof(path));
	snprintf(env_file, sizeof(env_file), "PUSHPOLL_MEMCOUNT=%s", path);
	run_env(argv, env, &o);
	unlink(path);
	ck_assert_int_eq(o.status, 0);
	ck_assert_str_eq(o.out, "loaded=0 allocs=0 frees=0 reallocs=0 "
			 "bytes=0 live=0\n");
}
END_TEST

/* ==== pushpoll load ================================================================ */

/* pushpoll load echo against port, short: the outcome. */
static void load(unsigned port, const char *json, struct outcome *o)
{
	char connect[32];
	char *argv[24] = { PUSHPOLL_BIN, "load", "echo", "--connect", connect,
			   "--rounds", "2", "--conns", "4", "--warmup", "50ms",
			   "--duration", "200ms", "--quiet", NULL };

	snprintf(connect, sizeof(connect), "127.0.0.1:%u", port);
	if (json != NULL) {
		argv[14] = "--json";
		argv[15] = (char *)json;
		argv[16] = NULL;
	}
	run(argv, o);
}

START_TEST(test_load_measures_a_correct_server_with_the_bench_schema)
{
	unsigned port;
	pid_t pid = badserver_start("echo", &port);
	char json[64] = "/tmp/pushpoll-test-load-XXXXXX", text[8192];
	char row[32];
	struct outcome o;
	int fd = mkstemp(json);

	ck_assert_int_ge(fd, 0);
	close(fd);
	load(port, json, &o);
	server_stop(pid);
	ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
	ck_assert_int_eq(o.err_lines, 0);
	snprintf(row, sizeof(row), "127.0.0.1:%u", port);
	ck_assert_ptr_nonnull(strstr(o.out, row));
	read_file(json, text, sizeof(text));
	unlink(json);
	ck_assert_double_gt(json_figure(text, row, "msgs_per_s"), 0);
	ck_assert_double_gt(json_figure(text, row, "p99_us"), 0);
	/* The server's side is not the client's to see. */
	ck_assert_double_eq(json_figure(text, row, "cpu_us_per_kmsg"), -1);
	ck_assert_double_eq(json_figure(text, row, "allocs_per_msg"), -1);
}
END_TEST

/* Each way a server can fail the load, and what the one line says. */
static const struct bad_server {
	const char *mode;       /* badserver's; NULL: nothing listens */
	const char *problem;
} bad_servers[] = {
	{ "corrupt", "echoed wrong bytes" },
	{ "close", "closed or reset" },
	{ "stall", "stalled" },
	{ NULL, "refused the connection" },
	{ "deaf", "unreachable" },
};

START_TEST(test_load_fails_on_a_server_that_breaks_the_echo)
{
	const struct bad_server *b = &bad_servers[_i];
	unsigned port;
	pid_t pid = b->mode ? badserver_start(b->mode, &port) : 0;
	int filler = -1;
	struct outcome o;

	if (b->mode == NULL)
		port = closed_port();
	if (b->mode != NULL && strcmp(b->mode, "deaf") == 0) {
		/* Fill the backlog of 0: every later connect gets no
		 * answer, as from an address that drops packets. */
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		filler = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_eq(connect(filler, (struct sockaddr *)&sa,
					 sizeof(sa)), 0);
	}
	load(port, NULL, &o);
	if (pid != 0)
		server_stop(pid);
	if (filler >= 0)
		close(filler);
	ck_assert_msg(o.status == 1, "%s: status %d", b->problem, o.status);
	ck_assert_msg(o.err_lines == 1, "%s: %d lines:\n%s", b->problem,
		      o.err_lines, o.err);
	ck_assert_msg(strstr(o.err, b->problem) != NULL, "wanted '%s': %s",
		      b->problem, o.err);
}
END_TEST

/* ==== pushpoll bench --target ======================================================= */

START_TEST(test_bench_names_each_bad_target_and_measures_the_rest)
{
	char refused[64], json[64] = "/tmp/pushpoll-test-bench-XXXXXX";
	char text[32768];
	struct outcome o;
	int fd = mkstemp(json);

	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(refused, sizeof(refused), "refuser=127.0.0.1:%u",
		 closed_port());
	char *argv[] = {
		PUSHPOLL_BIN, "bench", "echo", "--engines", "epoll",
		"--rounds", "2", "--conns", "2", "--warmup", "50ms",
		"--duration", "200ms", "--quiet", "--json", json,
		"--target", "good=cmd:" BADSERVER " allocs {port}",
		"--target", refused,
		"--target", "closer=cmd:" BADSERVER " close {port}",
		"--target", "liar=cmd:" BADSERVER " corrupt {port}",
		"--target", "stuck=cmd:" BADSERVER " stall {port}",
		"--target", "nostart=cmd:/nonexistent/server {port}",
		"--target", "quitter=cmd:true {port}",
		"--target", "deaf=cmd:sleep 30 # {port}",
		NULL,
	};

	run(argv, &o);
	ck_assert_msg(o.status == 1, "status %d", o.status);
	check_one_line(&o, "refuser", "refused the connection");
	check_one_line(&o, "closer", "closed or reset");
	check_one_line(&o, "liar", "echoed wrong bytes");
	check_one_line(&o, "stuck", "stalled");
	check_one_line(&o, "nostart", "exited with status 127 before it "
		       "listened");
	check_one_line(&o, "quitter", "exited with status 0 before it "
		       "listened");
	check_one_line(&o, "deaf", "did not listen on port");
	/* One line per bad target, and none for the good one. */
	int named = 0;
	for (const char *p = o.err; (p = strstr(p, "pushpoll: bench: target "))
	     != NULL; p++)
		named++;
	ck_assert_msg(named == 7, "%d targets named:\n%s", named, o.err);
	read_file(json, text, sizeof(text));
	unlink(json);
	/* The others are measured, the engine and the good target alike. */
	ck_assert_double_gt(json_figure(text, "epoll", "msgs_per_s"), 0);
	ck_assert_double_gt(json_figure(text, "good", "msgs_per_s"), 0);
	ck_assert_double_gt(json_figure(text, "good", "cpu_us_per_kmsg"), 0);
	ck_assert_double_gt(json_figure(text, "good", "rss_kib"), 0);
	/* One malloc per 64 bytes echoed, 64-byte messages: one per message,
	 * give or take the messages in flight at either edge of the
	 * measured window (two connections' worth). */
	double allocs = json_figure(text, "good", "allocs_per_msg");
	ck_assert_msg(allocs > 0.98 && allocs < 1.02, "allocs/msg %.4f",
		      allocs);
	ck_assert_double_eq_tol(json_figure(text, "good", "bytes_per_msg"),
				64.0, 64.0 * 0.02);
}
END_TEST

START_TEST(test_bench_target_usage_errors_exit_2)
{
	static const char *const bad[] = {
		"noequals", "=127.0.0.1:1", "x=127.0.0.1", "x=127.0.0.1:0",
		"x=cmd:server without a port", "poll=127.0.0.1:7",
		"a name with spaces=127.0.0.1:7",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { PUSHPOLL_BIN, "bench", "echo", "--target",
				 (char *)bad[i], NULL };
		struct outcome o;

		run(argv, &o);
		ck_assert_msg(o.status == 2, "'%s': status %d", bad[i],
			      o.status);
		ck_assert_msg(o.err_lines == 1 && strstr(o.err, "--target"),
			      "'%s': %s", bad[i], o.err);
		ck_assert_str_eq(o.out, "");
	}
}
END_TEST

/* ==== the tokio rows ================================================================= */

#ifdef HAVE_TOKIO
START_TEST(test_bench_shows_tokio_rows_with_their_heap_counted)
{
	char json[64] = "/tmp/pushpoll-test-tokio-XXXXXX", text[32768];
	char *argv[] = {
		PUSHPOLL_BIN, "bench", "echo", "--engines", "poll,tokio,tokio-mt",
		"--rounds", "1", "--conns", "4", "--warmup", "50ms",
		"--duration", "300ms", "--quiet", "--json", json, NULL,
	};
	struct outcome o;
	int fd = mkstemp(json);

	ck_assert_int_ge(fd, 0);
	close(fd);
	run(argv, &o);
	ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
	read_file(json, text, sizeof(text));
	unlink(json);
	for (int i = 0; i < 2; i++) {
		const char *row = i ? "tokio-mt" : "tokio";
		ck_assert_double_gt(json_figure(text, row, "msgs_per_s"), 0);
		ck_assert_double_gt(json_figure(text, row, "cpu_us_per_kmsg"),
				    0);
		/* Counted (not null): tokio allocates with the system
		 * allocator, so the preload library sees it. */
		ck_assert_double_ge(json_figure(text, row, "allocs_per_msg"),
				    0);
		ck_assert_double_gt(json_figure(text, row, "peak_heap_kib"),
				    0);
	}
	ck_assert_ptr_nonnull(strstr(o.out, "poll beside tokio"));
	ck_assert_ptr_nonnull(strstr(o.out, "poll at or below tokio's CPU"));
}
END_TEST
#else
START_TEST(test_bench_says_how_to_get_the_tokio_rows)
{
	char *argv[] = {
		PUSHPOLL_BIN, "bench", "echo", "--engines", "epoll,tokio",
		"--rounds", "1", "--conns", "2", "--warmup", "20ms",
		"--duration", "100ms", "--quiet", NULL,
	};
	struct outcome o;

	run(argv, &o);
	ck_assert_msg(o.status == 0, "status %d: %s", o.status, o.err);
	ck_assert_ptr_nonnull(strstr(o.out, "tokio rows left out"));
	ck_assert_ptr_nonnull(strstr(o.out, "scripts/install-deps tokio"));
}
END_TEST
#endif

static Suite *make_suite(void)
{
	Suite *s = suite_create("external");
	TCase *mc = tcase_create("memcount");
	TCase *ld = tcase_create("load");
	TCase *bt = tcase_create("bench-target");
	TCase *tk = tcase_create("tokio");
	int nbad = (int)(sizeof(bad_servers) / sizeof(bad_servers[0]));

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(mc, test_memcount_counts_every_call_of_a_known_program);
	tcase_add_test(mc, test_memcount_sees_nothing_of_a_program_not_preloaded);
	suite_add_tcase(s, mc);
	tcase_set_timeout(ld, 60);
	tcase_add_test(ld, test_load_measures_a_correct_server_with_the_bench_schema);
	tcase_add_loop_test(ld, test_load_fails_on_a_server_that_breaks_the_echo,
			    0, nbad);
	suite_add_tcase(s, ld);
	tcase_set_timeout(bt, 120);
	tcase_add_test(bt, test_bench_names_each_bad_target_and_measures_the_rest);
	tcase_add_test(bt, test_bench_target_usage_errors_exit_2);
	suite_add_tcase(s, bt);
	tcase_set_timeout(tk, 120);
#ifdef HAVE_TOKIO
	tcase_add_test(tk, test_bench_shows_tokio_rows_with_their_heap_counted);
#else
	fprintf(stderr, "test_external: the tokio rows are not built here; "
		"their test checks the line that says how to get them "
		"(scripts/install-deps tokio, then configure again)\n");
	tcase_add_test(tk, test_bench_says_how_to_get_the_tokio_rows);
#endif
	suite_add_tcase(s, tk);
	return s;
}

#include "testutil.h"
