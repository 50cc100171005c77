/* syscount.h: counting the system calls a running process makes, for the
 * bench's "system calls per message".
 *
 * A tracer thread in the calling process attaches to every thread of the
 * process with ptrace(2) (PTRACE_SEIZE, then PTRACE_INTERRUPT and
 * PTRACE_SYSCALL; PTRACE_O_TRACECLONE follows the threads it starts, and
 * PTRACE_O_TRACESYSGOOD tells a system-call stop from a signal), counts
 * every system-call entry by its number (PTRACE_GET_SYSCALL_INFO, Linux
 * 5.3), and detaches when told to stop.  Between syscount_start() and
 * syscount_stop() each entry is counted once, whichever thread makes it;
 * calls made through the vDSO (clock_gettime, gettimeofday) are not system
 * calls and are not counted.
 *
 * A window signal narrows that to a window the process itself marks: the
 * bench sends the server CLI_MARK_SIGNAL at the start and at the end of the
 * measured window, and the server snapshots its counters (bytes echoed
 * among them) in the handler.  With window_signal set, counting starts when
 * that signal is delivered the first time and stops when it is delivered
 * the second time, so the calls are counted over the very stretch of the
 * server's run that its own snapshots cover: calls per message is then
 * exact, whatever was in flight at either end.  (The handler's own calls,
 * a clock_gettime and an rt_sigreturn of the first mark, are counted.)  Signals that arrive while tracing are passed
 * on to the process, and one pending at the stop is handed over with the
 * detach, so the traced process sees every signal it was sent.
 *
 * Why ptrace and not a seccomp filter returning SECCOMP_RET_TRACE: a filter
 * has to be installed in the server before it starts, stays for its whole
 * life, and fails every system call with ENOSYS while no tracer is
 * attached, so it cannot be confined to a measured window.  ptrace attaches
 * to a running process at the start of the window and leaves it at the
 * end; the rounds that are not traced pay nothing.  The price: two stops
 * per system call (entry and exit), each a round trip to the tracer, so a
 * traced server runs several times slower.  The counts are exact, but the
 * behaviour they count is that of a slowed server: a readiness loop finds
 * more connections ready per wait than it would at full speed.  Measure
 * time in rounds that are not traced.
 *
 * Permission: the caller must be allowed to trace the process: it is its
 * child (kernel.yama.ptrace_scope 0 or 1), or the caller has
 * CAP_SYS_PTRACE (scope 2); scope 3 refuses every attach, and so may a
 * container's seccomp profile.  Then syscount_start() fails with one line
 * in why saying which, and nothing is left attached.
 *
 * Threads: one counter traces one process; its calls may come from any one
 * thread of the caller at a time.  The caller must not wait for the traced
 * process (waitpid) while it is traced.
 */
#ifndef PUSHPOLL_SYSCOUNT_H
#define PUSHPOLL_SYSCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SYSCOUNT_NR_MAX 1024      /* system call numbers counted apart */
#define SYSCOUNT_REASON_MAX 200

struct syscount_result {
	uint64_t total;                    /* every entry, all threads */
	uint64_t by_nr[SYSCOUNT_NR_MAX];   /* entries by system call number */
	unsigned threads;                  /* threads traced, all told */
	unsigned window_marks;             /* deliveries of the window signal
					    * seen (2: a whole window) */
};

struct syscount;

/* Attach to every thread of process pid and start counting (window_signal
 * 0), or wait to count until window_signal is delivered.  Returns once
 * every thread is traced: 0 with *out, or -errno with one line (no newline)
 * in why: -EPERM (not allowed: the line names yama's ptrace_scope where it
 * is the cause, else a missing CAP_SYS_PTRACE or a seccomp profile),
 * -ENOSYS (ptrace refused by seccomp, or not in this kernel), -ESRCH (no
 * such process), -ENOMEM, or a thread-creation error. */
int syscount_start(pid_t pid, int window_signal, struct syscount **out,
		   char *why, size_t len);

/* Stop counting, detach from every thread (which runs on as before), fill
 * *res, free s.  With a window signal, first wait (at most
 * SYSCOUNT_WINDOW_WAIT_MS) for its second delivery, which ends the count.
 * Returns 0; -ETIMEDOUT with why filled when the window did not close in
 * time (res holds the counts so far); -ENOSYS with why filled when the
 * kernel would not say which system call a stop was
 * (PTRACE_GET_SYSCALL_INFO, before Linux 5.3): then res holds no counts. */
#define SYSCOUNT_WINDOW_WAIT_MS 5000
int syscount_stop(struct syscount *s, struct syscount_result *res, char *why,
		  size_t len);

/* Wait until every thread of the traced process has been inside a wait
 * (epoll_wait, io_uring_enter, futex, poll...), with no call entered or
 * left, for quiet_ms: it sleeps there with nothing left to do (a thread
 * kept off the CPU in the middle of its work, or stopped at another call,
 * does not count as quiet).  At most max_ms.  Returns
 * whether it went quiet.  The bench calls it, its load generator holding
 * back, before each mark of a traced round, so that no message is half
 * done (read, not yet written back) at either edge of the window. */
bool syscount_wait_quiet(struct syscount *s, unsigned quiet_ms,
			 unsigned max_ms);

/* The name of system call nr on this architecture ("epoll_wait",
 * "io_uring_enter"), or NULL for a number the table does not know. */
const char *syscount_name(unsigned nr);
/* The name, or "syscall NR", into buf; returns buf. */
const char *syscount_label(unsigned nr, char *buf, size_t len);

/* The numbers of the (at most) n most frequent system calls in res into
 * nr[], most frequent first, ties by number; returns how many it gave
 * (fewer than n when fewer different calls were made). */
unsigned syscount_top(const struct syscount_result *res, unsigned n,
		      unsigned nr[]);

#endif
