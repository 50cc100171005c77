/* test_cli.c: the command line (compare/cli/cli.h, compare/pushpoll.c), and
 * the order in which `pushpoll bench` runs the engines
 * (compare/bench/bench.h).
 *
 * Bad input is part of the interface: every parse error, missing file,
 * unwritable output or port in use is one line on stderr naming what was
 * wrong, nothing on stdout, and exit status 2, before anything is measured.
 * The value parsers are tested directly (an error exits, so those are exit
 * tests); the whole command is run as a reader would run it, from the
 * pushpoll binary the build made.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cli/cli.h"

#ifndef PUSHPOLL_BIN
#define PUSHPOLL_BIN "./pushpoll"
#endif

/* ==== the value parsers ==================================================== */

START_TEST(test_numbers_sizes_and_durations_parse_strictly)
{
	ck_assert_uint_eq(cli_uint("--n", "0", 0, 10), 0);
	ck_assert_uint_eq(cli_uint("--n", "10", 0, 10), 10);
	ck_assert_uint_eq(cli_size("--s", "4K", 1, UINT64_MAX), 4096);
	ck_assert_uint_eq(cli_size("--s", "3M", 1, UINT64_MAX), 3u << 20);
	ck_assert_uint_eq(cli_size("--s", "2G", 1, UINT64_MAX), 2ull << 30);
	ck_assert_uint_eq(cli_duration_ns("--d", "500ms"), 500000000ull);
	ck_assert_uint_eq(cli_duration_ns("--d", "2s"), 2000000000ull);
	ck_assert_uint_eq(cli_duration_ns("--d", "7us"), 7000ull);
	ck_assert_uint_eq(cli_duration_ns("--d", "10"), 10000000ull);
}
END_TEST

/* Each of these exits with status 2 (exit tests). */
START_TEST(test_a_number_with_trailing_junk_is_refused)
{
	cli_uint("--n", "12x", 0, 100);
}
END_TEST

START_TEST(test_a_negative_number_is_refused)
{
	cli_uint("--n", "-1", 0, 100);
}
END_TEST

START_TEST(test_a_number_out_of_range_is_refused)
{
	cli_uint("--n", "101", 0, 100);
}
END_TEST

START_TEST(test_a_size_that_overflows_is_refused)
{
	cli_size("--s", "99999999999999999G", 1, UINT64_MAX);
}
END_TEST

START_TEST(test_a_duration_without_a_known_unit_is_refused)
{
	cli_duration_ns("--d", "5min");
}
END_TEST

START_TEST(test_an_address_and_a_local_name_are_hosts)
{
	ck_assert_str_eq(cli_host("--host", "127.0.0.1"), "127.0.0.1");
	ck_assert_str_eq(cli_host("--host", "localhost"), "localhost");
}
END_TEST

START_TEST(test_an_address_out_of_range_is_not_a_host)
{
	cli_host("--host", "999.1.1.1");
}
END_TEST

/* A scratch directory, removed by the caller. */
static void scratch_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/pushpoll-cli-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

START_TEST(test_an_output_file_is_checked_and_left_as_it_was)
{
	char dir[64], path[96];
	struct stat st;
	int fd;

	scratch_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/figures.json", dir);
	cli_output_file("--json", path);            /* new: not left behind */
	ck_assert_int_eq(stat(path, &st), -1);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "old", 3), 3);
	close(fd);
	cli_output_file("--json", path);            /* existing: untouched */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 3);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_an_output_file_in_a_missing_directory_is_refused)
{
	cli_output_file("--json", "/nonexistent-pushpoll/figures.json");
}
END_TEST

START_TEST(test_an_output_directory_is_made)
{
	char dir[64], sub[96];
	struct stat st;

	scratch_dir(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/plots", dir);
	cli_output_dir("--plot", sub);
	ck_assert_int_eq(stat(sub, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	cli_output_dir("--plot", sub);              /* already there: fine */
	rmdir(sub);
	rmdir(dir);
}
END_TEST

START_TEST(test_an_output_directory_under_a_missing_one_is_refused)
{
	cli_output_dir("--plot", "/nonexistent-pushpoll/plots");
}
END_TEST

/* ==== the command ========================================================== */

struct outcome {
	int status;               /* exit status, or -1 if it did not exit */
	char out[4096], err[4096];
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

/* Run pushpoll with argv (argv[0] included) and collect what it said; with
 * path non-NULL, with $PATH set to it, as on a machine without some tool. */
static void run_with_path(char *const argv[], const char *path,
			  struct outcome *o)
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
		if (path != NULL)
			setenv("PATH", path, 1);
		execv(PUSHPOLL_BIN, argv);
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
	run_with_path(argv, NULL, o);
}

/* A usage error: status 2, one line on stderr that names `names`, and
 * nothing on stdout. */
static void check_refused(char *const argv[], const char *names)
{
	struct outcome o;

	run(argv, &o);
	ck_assert_msg(o.status == 2, "%s %s: exit status %d, stderr: %s",
		      argv[1], names, o.status, o.err);
	ck_assert_msg(o.err_lines == 1, "%s: %d lines on stderr: %s", names,
		      o.err_lines, o.err);
	ck_assert_msg(strncmp(o.err, "pushpoll: ", 10) == 0, "%s", o.err);
	ck_assert_msg(strstr(o.err, names) != NULL,
		      "the error does not name '%s': %s", names, o.err);
	ck_assert_str_eq(o.out, "");
}

/* Bad command lines and what the error must name. */
static const struct bad_line {
	const char *names;
	char *argv[12];
} bad_lines[] = {
	{ "nosuch", { "pushpoll", "nosuch", NULL } },
	{ "--no-such-flag", { "pushpoll", "bench", "--no-such-flag", NULL } },
	{ "nosuch", { "pushpoll", "serve", "echo", "--engine", "nosuch",
		      NULL } },
	{ "--port", { "pushpoll", "serve", "echo", "--port", NULL } },
	{ "70000", { "pushpoll", "serve", "echo", "--engine", "poll",
		     "--port", "70000", NULL } },
	{ "999.1.1.1", { "pushpoll", "serve", "echo", "--engine", "push",
			 "--host", "999.1.1.1", NULL } },
	{ "--input", { "pushpoll", "fanout", "--engine", "poll", NULL } },
	{ "/nonexistent-pushpoll/in", { "pushpoll", "fanout", "--engine",
					"poll", "--input",
					"/nonexistent-pushpoll/in", NULL } },
	{ "--rounds", { "pushpoll", "bench", "--rounds", "0", NULL } },
	{ "xyz", { "pushpoll", "bench", "echo", "--duration", "xyz", NULL } },
	{ "/nonexistent-pushpoll/x.json", { "pushpoll", "bench", "--json",
					    "/nonexistent-pushpoll/x.json",
					    NULL } },
	{ "/nonexistent-pushpoll/x.csv", { "pushpoll", "bench", "echo",
					   "--csv",
					   "/nonexistent-pushpoll/x.csv",
					   NULL } },
	{ "--seeds", { "pushpoll", "torture", "--seeds", "-1", NULL } },
	{ "nosuch", { "pushpoll", "torture", "--only", "nosuch", NULL } },
	{ "C99", { "pushpoll", "claims", "C99", NULL } },
	{ "/nonexistent-pushpoll/c.json", { "pushpoll", "claims", "C10",
					    "--json",
					    "/nonexistent-pushpoll/c.json",
					    NULL } },
};
#define NBAD ((int)(sizeof(bad_lines) / sizeof(bad_lines[0])))

START_TEST(test_a_bad_command_line_gets_one_line_and_status_2)
{
	check_refused(bad_lines[_i].argv, bad_lines[_i].names);
}
END_TEST

static const char *const engine_names[] = {
	"push", "poll", "libuv", "libevent", "epoll",
};

/* A port already taken: each engine's echo server says which, and exits. */
START_TEST(test_a_port_in_use_gets_one_line_and_status_2)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char port[8];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	{
		char *argv[] = { "pushpoll", "serve", "echo", "--engine",
				 (char *)engine_names[_i], "--port", port,
				 NULL };
		check_refused(argv, port);
	}
	close(fd);
}
END_TEST

START_TEST(test_help_goes_to_stdout_with_status_0)
{
	char *argv[] = { "pushpoll", "help", NULL };
	struct outcome o;

	run(argv, &o);
	ck_assert_int_eq(o.status, 0);
	ck_assert_ptr_nonnull(strstr(o.out, "usage"));
	ck_assert_str_eq(o.err, "");
}
END_TEST

/* `pushpoll --version` and `pushpoll version`: one line, the package version
 * configure.ac gives, the same for both, status 0. */
START_TEST(test_version_names_the_package_version)
{
	char *argv1[] = { "pushpoll", "--version", NULL };
	char *argv2[] = { "pushpoll", "version", NULL };
	struct outcome a, b;

	run(argv1, &a);
	run(argv2, &b);
	ck_assert_int_eq(a.status, 0);
	ck_assert_int_eq(b.status, 0);
	ck_assert_msg(strncmp(a.out, "pushpoll " PACKAGE_VERSION,
			      strlen("pushpoll " PACKAGE_VERSION)) == 0,
		      "--version said: %s", a.out);
	ck_assert_ptr_nonnull(strchr(a.out, '\n'));
	ck_assert_str_eq(strchr(a.out, '\n') + 1, "");
	ck_assert_str_eq(a.out, b.out);
	ck_assert_str_eq(a.err, "");
}
END_TEST

/* ==== a tool that is missing =============================================== */

START_TEST(test_a_program_is_found_only_executable_on_path)
{
	char dir[] = "/tmp/pushpoll-path-XXXXXX", file[64], path[128];
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/tool", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "/nonexistent-pushpoll:%s", dir);
	setenv("PATH", path, 1);
	ck_assert(!cli_have_program("tool"));          /* not executable */
	ck_assert_int_eq(chmod(file, 0755), 0);
	ck_assert(cli_have_program("tool"));
	ck_assert(!cli_have_program("no-such-tool"));
	setenv("PATH", "/nonexistent-pushpoll", 1);
	ck_assert(!cli_have_program("tool"));
	unlink(file);
	rmdir(dir);
}
END_TEST

/* Each run below lacks a tool it would use; it must say so in one line that
 * names the Debian package, and go on: status 0, the figures printed, the
 * plots' scripts and data written for later. */
static const struct missing_tool {
	const char *says, *writes;
	char *argv[16];
} missing_tools[] = {
	{ "pushpoll: --plot: gnuplot missing (apt-get install gnuplot-nox)",
	  "echo-latency.gp",
	  { "pushpoll", "bench", "echo", "--engines", "epoll", "--rounds",
	    "1", "--duration", "50ms", "--warmup", "0", "--quiet", "--plot",
	    NULL, NULL } },
	{ "C2: instructions not measured: valgrind missing (apt-get install "
	  "valgrind)", "c2.dat",
	  { "pushpoll", "claims", "C2", "--quick", "--plot", NULL, NULL } },
	{ "pushpoll: --plot: gnuplot missing (apt-get install gnuplot-nox)",
	  "claims.gp",
	  { "pushpoll", "claims", "C2", "--quick", "--plot", NULL, NULL } },
	{ "C15: not measured: valgrind missing (apt-get install valgrind)",
	  "claims.gp",
	  { "pushpoll", "claims", "C15", "--quick", "--plot", NULL, NULL } },
};

START_TEST(test_a_missing_tool_is_named_with_its_package_and_the_run_goes_on)
{
	const struct missing_tool *t = &missing_tools[_i];
	char dir[] = "/tmp/pushpoll-plot-XXXXXX", file[96];
	char *argv[16];
	struct outcome o;
	int n = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	while (t->argv[n] != NULL) {
		argv[n] = t->argv[n];
		n++;
	}
	argv[n++] = dir;                       /* the value of --plot */
	argv[n] = NULL;
	run_with_path(argv, "/nonexistent-pushpoll", &o);
	ck_assert_msg(o.status == 0, "%s: status %d: %s", argv[1], o.status,
		      o.err);
	ck_assert_msg(strstr(o.err, t->says) != NULL, "%s said: %s", argv[1],
		      o.err);
	ck_assert_msg(strstr(o.out, "msgs/s") != NULL ||
		      strstr(o.out, "verdict") != NULL,
		      "%s printed no figures: %s", argv[1], o.out);
	snprintf(file, sizeof(file), "%s/%s", dir, t->writes);
	ck_assert_msg(access(file, R_OK) == 0, "%s not written", file);
	snprintf(file, sizeof(file), "rm -rf %s", dir);
	ck_assert_int_eq(system(file), 0);
}
END_TEST

/* ==== the order of a bench round =========================================== */

/* Each round runs every engine once, and over n rounds each engine runs in
 * each position once: no engine always runs first or last. */
START_TEST(test_bench_turns_the_engine_order_each_round)
{
	enum { N = 6 };
	int position_count[N][N] = { { 0 } };

	for (int r = 0; r < N; r++) {
		bool ran[N] = { false };

		for (int k = 0; k < N; k++) {
			int i = bench__turn(r, k, N);

			ck_assert_int_ge(i, 0);
			ck_assert_int_lt(i, N);
			ck_assert(!ran[i]);
			ran[i] = true;
			position_count[i][k]++;
		}
	}
	for (int i = 0; i < N; i++)
		for (int k = 0; k < N; k++)
			ck_assert_int_eq(position_count[i][k], 1);
	ck_assert_int_eq(bench__turn(0, 0, 1), 0);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *v = tcase_create("values");
	TCase *c = tcase_create("command");

	tcase_add_test(v, test_numbers_sizes_and_durations_parse_strictly);
	tcase_add_exit_test(v, test_a_number_with_trailing_junk_is_refused, 2);
	tcase_add_exit_test(v, test_a_negative_number_is_refused, 2);
	tcase_add_exit_test(v, test_a_number_out_of_range_is_refused, 2);
	tcase_add_exit_test(v, test_a_size_that_overflows_is_refused, 2);
	tcase_add_exit_test(v, test_a_duration_without_a_known_unit_is_refused,
			    2);
	tcase_add_test(v, test_an_address_and_a_local_name_are_hosts);
	tcase_add_exit_test(v, test_an_address_out_of_range_is_not_a_host, 2);
	tcase_add_test(v, test_an_output_file_is_checked_and_left_as_it_was);
	tcase_add_exit_test(v,
		test_an_output_file_in_a_missing_directory_is_refused, 2);
	tcase_add_test(v, test_an_output_directory_is_made);
	tcase_add_exit_test(v,
		test_an_output_directory_under_a_missing_one_is_refused, 2);
	suite_add_tcase(s, v);

	tcase_set_timeout(c, 30);
	tcase_add_loop_test(c, test_a_bad_command_line_gets_one_line_and_status_2,
			    0, NBAD);
	tcase_add_loop_test(c, test_a_port_in_use_gets_one_line_and_status_2, 0,
			    (int)(sizeof(engine_names) / sizeof(engine_names[0])));
	tcase_add_test(c, test_help_goes_to_stdout_with_status_0);
	tcase_add_test(c, test_version_names_the_package_version);
	tcase_add_test(c, test_a_program_is_found_only_executable_on_path);
	tcase_add_loop_test(c,
		test_a_missing_tool_is_named_with_its_package_and_the_run_goes_on,
		0, (int)(sizeof(missing_tools) / sizeof(missing_tools[0])));
	tcase_add_test(c, test_bench_turns_the_engine_order_each_round);
	suite_add_tcase(s, c);
	return s;
}

#include "testutil.h"
