/* test_syscount.c: the system-call counter (compare/bench/syscount.h).
 *
 * "System calls per message" is only worth printing if the counter counts
 * what a process really does, so it is tested on processes whose system
 * calls are known exactly: a child that makes N getppid() calls between
 * two pipe operations, one whose threads (started before and after the
 * attach) make known numbers of calls, one that is sent a signal while
 * traced.  Each is counted within a small, bounded overhead: the pipe
 * operations that start and end the counted stretch.  A refused attach
 * (ptrace blocked by a seccomp filter, as a container profile may block
 * it) gives an error and one line, and leaves nothing attached.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/syscount.h"

/* The calls around the counted stretch: the blocked read that is
 * restarted when the child is seized, the write that says "done", the read
 * that waits to be let go, the signal handler's return, and so on. */
#define OVERHEAD 8

/* ---- a child that makes known calls ------------------------------------------- */

struct child {
	pid_t pid;
	int go;       /* write end: one byte per step to run */
	int done;     /* read end: one byte per step finished */
};

static void calls(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		syscall(SYS_getppid);     /* glibc caches nothing: one call each */
}

static unsigned thread_calls;
static int thread_go;

static void *thread_main(void *arg)
{
	char c;

	(void)arg;
	if (read(thread_go, &c, 1) == 1)
		calls(thread_calls);
	return NULL;
}

static volatile sig_atomic_t got_signal;

static void on_usr1(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* In the child: at each byte on go, run one step and answer on done.
 * Step 1: n getppid calls, in the main thread and (threads) in one thread
 * started before the attach and one started after it, each making n.
 * Step 2: exit 0 if a SIGUSR1 arrived (check_signal), else 0 anyway. */
static void child_main(int go, int done, unsigned n, bool threads,
		       bool check_signal)
{
	int tgo[2];
	pthread_t before, after;
	sigset_t usr1, old;
	char c = 'x';

	/* Blocked until sigsuspend(), so that it cannot slip in between the
	 * test of got_signal and the wait. */
	signal(SIGUSR1, on_usr1);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &old);
	if (threads) {
		if (pipe(tgo) != 0)
			_exit(3);
		thread_calls = n;
		thread_go = tgo[0];
		if (pthread_create(&before, NULL, thread_main, NULL) != 0)
			_exit(3);
	}
	if (write(done, &c, 1) != 1 || read(go, &c, 1) != 1)   /* ready */
		_exit(3);
	calls(n);
	if (threads) {
		/* Started while traced: followed through the clone. */
		if (pthread_create(&after, NULL, thread_main, NULL) != 0 ||
		    write(tgo[1], "ab", 2) != 2)
			_exit(3);
		pthread_join(before, NULL);
		pthread_join(after, NULL);
	}
	if (check_signal)
		while (!got_signal)
			sigsuspend(&old);
	if (write(done, &c, 1) != 1)
		_exit(3);
	if (read(go, &c, 1) != 1)       /* wait to be let go */
		_exit(3);
	_exit(check_signal && !got_signal ? 4 : 0);
}

static void child_step(struct child *ch)
{
	ck_assert_int_eq(write(ch->go, "g", 1), 1);
}

static void child_wait_done(struct child *ch)
{
	char c;

	ck_assert_int_eq(read(ch->done, &c, 1), 1);
}

static void child_start(struct child *ch, unsigned n, bool threads,
			bool check_signal)
{
	int go[2], done[2];

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	fflush(stdout);
	ch->pid = fork();
	ck_assert_int_ge(ch->pid, 0);
	if (ch->pid == 0) {
		close(go[1]);
		close(done[0]);
		child_main(go[0], done[1], n, threads, check_signal);
	}
	close(go[0]);
	close(done[1]);
	ch->go = go[1];
	ch->done = done[0];
	child_wait_done(ch);    /* its handler is in place: it may be traced */
}

/* Let the child go and check it exits 0, untraced. */
static void child_finish(struct child *ch)
{
	int status;

	child_step(ch);
	ck_assert_int_eq(waitpid(ch->pid, &status, 0), ch->pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(ch->go);
	close(ch->done);
}

/* Count the child's first step.  Returns 0, or -errno with why printed
 * (the test is then skipped where ptrace is refused here). */
static int count_step(struct child *ch, struct syscount_result *res,
		      bool signal_it)
{
	struct syscount *s;
	char why[SYSCOUNT_REASON_MAX];
	int rc = syscount_start(ch->pid, 0, &s, why, sizeof(why));

	if (rc < 0) {
		printf("skipped: %s\n", why);
		kill(ch->pid, SIGKILL);
		waitpid(ch->pid, NULL, 0);
		return rc;
	}
	child_step(ch);
	if (signal_it)
		kill(ch->pid, SIGUSR1);
	child_wait_done(ch);
	ck_assert_int_eq(syscount_stop(s, res, why, sizeof(why)), 0);
	return 0;
}

/* ---- counting ----------------------------------------------------------------- */

START_TEST(test_counts_every_getppid_of_a_child_exactly)
{
	static struct syscount_result res;
	struct child ch;
	const unsigned n = 1000;

	child_start(&ch, n, false, false);
	if (count_step(&ch, &res, false) < 0)
		return;
	printf("%u getppid: counted %llu of them, %llu calls in all\n", n,
	       (unsigned long long)res.by_nr[SYS_getppid],
	       (unsigned long long)res.total);
	ck_assert_uint_eq(res.by_nr[SYS_getppid], n);
	ck_assert_uint_ge(res.total, n);
	ck_assert_uint_le(res.total, n + OVERHEAD);
	ck_assert_uint_eq(res.threads, 1);
	child_finish(&ch);
}
END_TEST

START_TEST(test_counts_the_threads_before_and_after_the_attach)
{
	static struct syscount_result res;
	struct child ch;
	const unsigned n = 300;

	child_start(&ch, n, true, false);
	usleep(20000);          /* let the first thread start and block */
	if (count_step(&ch, &res, false) < 0)
		return;
	printf("3 threads x %u getppid: counted %llu, %llu calls in all, %u "
	       "threads\n", n, (unsigned long long)res.by_nr[SYS_getppid],
	       (unsigned long long)res.total, res.threads);
	ck_assert_uint_eq(res.by_nr[SYS_getppid], 3 * n);
	ck_assert_uint_eq(res.threads, 3);
	/* clone, the threads' start-up and exit, the joins: bounded, not
	 * exact (a sanitizer's thread start-up adds some forty calls) */
	ck_assert_uint_le(res.total, 3 * n + 100);
	child_finish(&ch);
}
END_TEST

START_TEST(test_a_signal_sent_while_traced_is_delivered)
{
	static struct syscount_result res;
	struct child ch;

	child_start(&ch, 10, false, true);
	if (count_step(&ch, &res, true) < 0)
		return;
	ck_assert_uint_eq(res.by_nr[SYS_getppid], 10);
	ck_assert_uint_ge(res.by_nr[SYS_rt_sigreturn], 1);
	child_finish(&ch);              /* exit 4 if the signal was lost */
}
END_TEST

/* ---- a window marked by a signal ----------------------------------------------- */

static volatile sig_atomic_t marks_seen;

static void on_mark(int sig)
{
	(void)sig;
	marks_seen++;
}

/* In the child: 100 calls before the first mark, `inside` between the two
 * marks, 100 after the second; a byte on done after each stretch. */
static void window_child(int go, int done, unsigned inside)
{
	sigset_t usr2, old;
	char c = 'x';

	signal(SIGUSR2, on_mark);
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigprocmask(SIG_BLOCK, &usr2, &old);
	if (read(go, &c, 1) != 1)
		_exit(3);
	calls(100);
	if (write(done, &c, 1) != 1)
		_exit(3);
	while (marks_seen < 1)
		sigsuspend(&old);
	calls(inside);
	if (write(done, &c, 1) != 1)
		_exit(3);
	while (marks_seen < 2)
		sigsuspend(&old);
	calls(100);
	if (write(done, &c, 1) != 1 || read(go, &c, 1) != 1)
		_exit(3);
	_exit(0);
}

START_TEST(test_counts_only_between_two_deliveries_of_the_window_signal)
{
	static struct syscount_result res;
	char why[SYSCOUNT_REASON_MAX];
	int go[2], done[2];
	struct syscount *s;
	struct child ch;
	const unsigned inside = 500;

	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	fflush(stdout);
	ch.pid = fork();
	ck_assert_int_ge(ch.pid, 0);
	if (ch.pid == 0) {
		close(go[1]);
		close(done[0]);
		window_child(go[0], done[1], inside);
	}
	close(go[0]);
	close(done[1]);
	ch.go = go[1];
	ch.done = done[0];
	if (syscount_start(ch.pid, SIGUSR2, &s, why, sizeof(why)) < 0) {
		printf("skipped: %s\n", why);
		kill(ch.pid, SIGKILL);
		waitpid(ch.pid, NULL, 0);
		return;
	}
	child_step(&ch);
	child_wait_done(&ch);                   /* 100 calls, not counted */
	kill(ch.pid, SIGUSR2);
	child_wait_done(&ch);                   /* inside, counted */
	kill(ch.pid, SIGUSR2);
	ck_assert_int_eq(syscount_stop(s, &res, why, sizeof(why)), 0);
	child_wait_done(&ch);                   /* 100 more, untraced */
	printf("window: %llu getppid counted of %u inside, %llu calls in all\n",
	       (unsigned long long)res.by_nr[SYS_getppid], inside,
	       (unsigned long long)res.total);
	ck_assert_uint_eq(res.window_marks, 2);
	ck_assert_uint_eq(res.by_nr[SYS_getppid], inside);
	ck_assert_uint_le(res.total, inside + OVERHEAD);
	child_finish(&ch);
}
END_TEST

START_TEST(test_a_window_that_never_closes_is_said_in_one_line)
{
	static struct syscount_result res;
	char why[SYSCOUNT_REASON_MAX];
	struct syscount *s;
	struct child ch;

	child_start(&ch, 10, false, false);
	if (syscount_start(ch.pid, SIGUSR2, &s, why, sizeof(why)) < 0) {
		printf("skipped: %s\n", why);
		kill(ch.pid, SIGKILL);
		waitpid(ch.pid, NULL, 0);
		return;
	}
	child_step(&ch);
	child_wait_done(&ch);
	ck_assert_int_eq(syscount_stop(s, &res, why, sizeof(why)), -ETIMEDOUT);
	ck_assert_ptr_nonnull(strstr(why, "first"));
	ck_assert_ptr_null(strchr(why, '\n'));
	ck_assert_uint_eq(res.total, 0);        /* never opened: none counted */
	child_finish(&ch);
}
END_TEST

/* ---- quiet ------------------------------------------------------------------ */

START_TEST(test_a_process_asleep_in_a_call_is_quiet_and_a_busy_one_is_not)
{
	static struct syscount_result res;
	char why[SYSCOUNT_REASON_MAX];
	struct syscount *s;
	struct child ch;
	pid_t busy;
	int status;

	fflush(stdout);
	ch.pid = fork();                         /* asleep in pause() */
	ck_assert_int_ge(ch.pid, 0);
	if (ch.pid == 0)
		for (;;)
			pause();
	if (syscount_start(ch.pid, 0, &s, why, sizeof(why)) < 0) {
		printf("skipped: %s\n", why);
		kill(ch.pid, SIGKILL);
		waitpid(ch.pid, NULL, 0);
		return;
	}
	ck_assert(syscount_wait_quiet(s, 10, 2000));
	ck_assert_int_eq(syscount_stop(s, &res, why, sizeof(why)), 0);
	kill(ch.pid, SIGKILL);
	ck_assert_int_eq(waitpid(ch.pid, &status, 0), ch.pid);

	busy = fork();                           /* never sleeps */
	ck_assert_int_ge(busy, 0);
	if (busy == 0)
		for (;;)
			calls(1);
	ck_assert_int_eq(syscount_start(busy, 0, &s, why, sizeof(why)), 0);
	ck_assert(!syscount_wait_quiet(s, 10, 200));
	ck_assert_int_eq(syscount_stop(s, &res, why, sizeof(why)), 0);
	ck_assert_uint_gt(res.by_nr[SYS_getppid], 0);
	kill(busy, SIGKILL);
	ck_assert_int_eq(waitpid(busy, &status, 0), busy);
	ck_assert(WIFSIGNALED(status));
}
END_TEST

START_TEST(test_a_gone_process_is_refused_with_one_line)
{
	struct syscount *s = (struct syscount *)&s;
	char why[SYSCOUNT_REASON_MAX];
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(syscount_start(pid, 0, &s, why, sizeof(why)), -ESRCH);
	ck_assert_ptr_null(s);
	ck_assert_ptr_nonnull(strstr(why, "gone"));
	ck_assert_ptr_null(strchr(why, '\n'));
}
END_TEST

/* In a child: refuse ptrace with errno err through seccomp, and exit 0 if
 * syscount_start() on a process of its own gives -err and one line that
 * contains expect; 3 if the filter cannot be installed. */
static int refused_child(int err, const char *expect)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = 4, .filter = filter };
	char why[SYSCOUNT_REASON_MAX] = "";
	struct syscount *s;
	int go[2], rc, status;
	pid_t pid;
	char c;

	if (pipe(go) != 0)
		return 5;
	pid = fork();
	if (pid < 0)
		return 5;
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 6);
	}
	close(go[0]);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		return 3;
	rc = syscount_start(pid, 0, &s, why, sizeof(why));
	printf("ptrace refused with errno %d: %d, \"%s\"\n", err, rc, why);
	fflush(stdout);
	close(go[1]);                    /* the child runs on and exits */
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 7;
	return rc == -err && s == NULL && strstr(why, expect) != NULL &&
	       why[0] != '\0' && strchr(why, '\n') == NULL ? 0 : 1;
}

static void expect_refused(int err, const char *expect)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(refused_child(err, expect));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3) {
		printf("skipped: seccomp filters cannot be installed here\n");
		return;
	}
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

START_TEST(test_a_refused_attach_gives_an_error_and_one_line)
{
	expect_refused(EPERM, "ptrace");
	expect_refused(ENOSYS, "ENOSYS");
}
END_TEST

/* ---- names and the most frequent ------------------------------------------------ */

START_TEST(test_names_the_calls_of_an_event_loop)
{
	char buf[32];

	ck_assert_str_eq(syscount_name(SYS_read), "read");
	ck_assert_str_eq(syscount_name(SYS_io_uring_enter), "io_uring_enter");
	ck_assert_str_eq(syscount_name(SYS_epoll_pwait), "epoll_pwait");
#ifdef SYS_epoll_wait
	ck_assert_str_eq(syscount_name(SYS_epoll_wait), "epoll_wait");
#endif
	ck_assert_ptr_null(syscount_name(SYSCOUNT_NR_MAX - 1));
	ck_assert_str_eq(syscount_label(SYSCOUNT_NR_MAX - 1, buf, sizeof(buf)),
			 "syscall 1023");
}
END_TEST

START_TEST(test_top_gives_the_most_frequent_first)
{
	static struct syscount_result res;
	unsigned nr[3];

	memset(&res, 0, sizeof(res));
	ck_assert_uint_eq(syscount_top(&res, 3, nr), 0);
	res.by_nr[5] = 10;
	res.by_nr[7] = 30;
	res.by_nr[2] = 10;
	res.by_nr[900] = 20;
	res.by_nr[1] = 1;
	ck_assert_uint_eq(syscount_top(&res, 3, nr), 3);
	ck_assert_uint_eq(nr[0], 7);
	ck_assert_uint_eq(nr[1], 900);
	ck_assert_uint_eq(nr[2], 2);    /* a tie: the lower number first */
	ck_assert_uint_eq(syscount_top(&res, 1, nr), 1);
	ck_assert_uint_eq(nr[0], 7);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("syscount");
	TCase *counting = tcase_create("counting");
	TCase *names = tcase_create("names");

	tcase_set_timeout(counting, 30);
	tcase_add_test(counting, test_counts_every_getppid_of_a_child_exactly);
	tcase_add_test(counting, test_counts_the_threads_before_and_after_the_attach);
	tcase_add_test(counting, test_a_signal_sent_while_traced_is_delivered);
	tcase_add_test(counting, test_counts_only_between_two_deliveries_of_the_window_signal);
	tcase_add_test(counting, test_a_window_that_never_closes_is_said_in_one_line);
	tcase_add_test(counting, test_a_process_asleep_in_a_call_is_quiet_and_a_busy_one_is_not);
	tcase_add_test(counting, test_a_gone_process_is_refused_with_one_line);
	tcase_add_test(counting, test_a_refused_attach_gives_an_error_and_one_line);
	suite_add_tcase(s, counting);
	tcase_add_test(names, test_names_the_calls_of_an_event_loop);
	tcase_add_test(names, test_top_gives_the_most_frequent_first);
	suite_add_tcase(s, names);
	return s;
}

#include "testutil.h"
