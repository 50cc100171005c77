/* syscount.c: the system-call counter of syscount.h.
 *
 * Every ptrace request on a tracee must come from the thread that attached
 * to it, and the caller (the bench's load generator) must go on driving
 * load while the server is traced, so the tracing is done by a thread of
 * its own:
 *
 *   1. attach: PTRACE_SEIZE every thread listed in /proc/PID/task, then
 *      PTRACE_INTERRUPT it; at its first stop, resume it with PTRACE_SYSCALL.
 *      List the threads again until no new one turns up (one may have been
 *      started by a thread that was not yet seized).  Then tell the caller.
 *   2. count: wait for any tracee's stop (__WNOTHREAD: only this thread's
 *      tracees, never the caller's own children) and handle it: count a
 *      system-call entry, follow a new thread, pass a signal on; resume.
 *      With a window signal, its first delivery turns counting on and its
 *      second turns it off and detaches that thread with the signal.
 *   3. detach: when told to stop (and the window, if any, is closed or
 *      waited for long enough), PTRACE_INTERRUPT every tracee and, at its
 *      next stop, PTRACE_DETACH it, handing over the signal of a
 *      signal-delivery stop.
 *
 * The caller tells the tracer to stop with a flag and wakes it from
 * waitpid() with a signal (SYSCOUNT_WAKE, whose handler does nothing),
 * sent again every millisecond until the tracer is done, so a signal that
 * lands just before waitpid() is entered cannot be lost.
 *
 * The tracer's own bookkeeping uses plain malloc: it is not the traced
 * process's and never shows in the mem counters of the caller's figures.
 */
#include "config.h"

#include "syscount.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYSCOUNT_WAKE (SIGRTMIN + 1)
#define SYSCOUNT_OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE)

/* A thread of the traced process. */
struct tracee {
	pid_t tid;
	bool started;       /* resumed with PTRACE_SYSCALL at least once */
	bool waiting;       /* its last stop was the entry of a wait
			     * (epoll_wait, io_uring_enter, futex...): it
			     * may be asleep there with nothing to do */
};

enum phase {
	PHASE_ATTACHING,    /* the tracer seizes the threads */
	PHASE_COUNTING,     /* syscount_start() returned 0 */
	PHASE_FAILED,       /* attach failed: err and why say why */
	PHASE_DONE,         /* detached from every thread */
};

struct syscount {
	pid_t pid;
	int window_sig;                /* 0: count from the attach */
	pthread_t thread;
	pthread_mutex_t lock;          /* phase, err, why */
	pthread_cond_t changed;
	enum phase phase;
	int err;
	char why[SYSCOUNT_REASON_MAX];
	atomic_bool stop;              /* syscount_stop() was called */
	atomic_uint_fast64_t stops;    /* system-call stops, counted or not */
	atomic_int running;            /* tracees not .waiting */
	/* Owned by the tracer thread until it is done: */
	struct tracee *t;
	unsigned nt, cap;
	bool counting;
	bool no_info;                  /* PTRACE_GET_SYSCALL_INFO refused */
	struct syscount_result res;
};

/* ---- the tracees --------------------------------------------------------------- */

static struct tracee *tracee_find(struct syscount *s, pid_t tid)
{
	for (unsigned i = 0; i < s->nt; i++)
		if (s->t[i].tid == tid)
			return &s->t[i];
	return NULL;
}

static struct tracee *tracee_add(struct syscount *s, pid_t tid)
{
	if (s->nt == s->cap) {
		unsigned cap = s->cap ? 2 * s->cap : 16;
		struct tracee *t = realloc(s->t, cap * sizeof(*t));
		if (t == NULL)
			return NULL;
		s->t = t;
		s->cap = cap;
	}
	s->t[s->nt] = (struct tracee){ .tid = tid };
	s->res.threads++;
	atomic_fetch_add(&s->running, 1);
	return &s->t[s->nt++];
}

static void tracee_set_waiting(struct syscount *s, struct tracee *t,
			       bool waiting)
{
	if (t->waiting != waiting)
		atomic_fetch_add(&s->running, waiting ? -1 : 1);
	t->waiting = waiting;
}

static void tracee_remove(struct syscount *s, pid_t tid)
{
	struct tracee *t = tracee_find(s, tid);

	if (t != NULL) {
		if (!t->waiting)
			atomic_fetch_sub(&s->running, 1);
		*t = s->t[--s->nt];
	}
}

static unsigned unstarted(const struct syscount *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->nt; i++)
		n += !s->t[i].started;
	return n;
}

/* ---- why an attach was refused ------------------------------------------------- */

static int yama_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
	int scope = -1;

	if (f != NULL) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = -1;
		fclose(f);
	}
	return scope;
}

static void refusal(struct syscount *s, int err)
{
	int scope = yama_scope();

	if (err == EPERM && scope == 3)
		snprintf(s->why, sizeof(s->why), "ptrace is disabled here "
			 "(kernel.yama.ptrace_scope = 3)");
	else if (err == EPERM && scope == 2)
		snprintf(s->why, sizeof(s->why), "ptrace needs CAP_SYS_PTRACE "
			 "here (kernel.yama.ptrace_scope = 2)");
	else if (err == EPERM)
		snprintf(s->why, sizeof(s->why), "ptrace was refused (EPERM): "
			 "no CAP_SYS_PTRACE, or a seccomp profile or container "
			 "policy blocks ptrace");
	else if (err == ENOSYS)
		snprintf(s->why, sizeof(s->why), "ptrace is not available "
			 "(ENOSYS): a seccomp profile refuses it, or the "
			 "kernel lacks it");
	else if (err == ESRCH)
		snprintf(s->why, sizeof(s->why), "process %d is gone",
			 (int)s->pid);
	else
		snprintf(s->why, sizeof(s->why), "ptrace attach to process %d "
			 "failed: %s", (int)s->pid, strerror(err));
}

/* ---- one stop ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void resume(pid_t tid, int sig)
{
	ptrace(PTRACE_SYSCALL, tid, NULL, (void *)(long)sig);
}

/* Whether nr is a call a loop or a worker thread sleeps in when it has
 * nothing to do (restart_syscall: a timed wait that a stop interrupted,
 * resumed). */
static bool is_wait(uint64_t nr)
{
	static const long waits[] = {
		SYS_epoll_pwait, SYS_io_uring_enter, SYS_futex, SYS_ppoll,
		SYS_pselect6, SYS_nanosleep, SYS_clock_nanosleep,
		SYS_rt_sigsuspend, SYS_wait4, SYS_restart_syscall,
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait2
		SYS_epoll_pwait2,
#endif
#ifdef SYS_poll
		SYS_poll,
#endif
#ifdef SYS_select
		SYS_select,
#endif
#ifdef SYS_pause
		SYS_pause,
#endif
	};

	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++)
		if ((uint64_t)waits[i] == nr)
			return true;
	return false;
}

/* A system-call stop of t: note whether it entered a wait, and count an
 * entry while counting. */
static void on_syscall_stop(struct syscount *s, struct tracee *t)
{
	struct __ptrace_syscall_info info;
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof(info),
			&info);

	atomic_fetch_add(&s->stops, 1);
	if (n <= 0) {
		s->no_info = s->no_info || s->counting;
		return;
	}
	tracee_set_waiting(s, t, info.op == PTRACE_SYSCALL_INFO_ENTRY &&
			   is_wait(info.entry.nr));
	if (info.op != PTRACE_SYSCALL_INFO_ENTRY || !s->counting)
		return;                 /* the exit of the same call */
	s->res.total++;
	if (info.entry.nr < SYSCOUNT_NR_MAX)
		s->res.by_nr[info.entry.nr]++;
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

/* Handle tid's wait status st while attached: count, follow, pass on, and
 * resume it.  Returns -ENOMEM when a new thread cannot be recorded. */
static int on_stop(struct syscount *s, pid_t tid, int st)
{
	struct tracee *t = tracee_find(s, tid);
	int sig, event;

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		tracee_remove(s, tid);
		return 0;
	}
	if (!WIFSTOPPED(st))
		return 0;
	if (t == NULL && (t = tracee_add(s, tid)) == NULL)
		return -ENOMEM;         /* a new thread, seen before its parent's
					 * clone event */
	sig = WSTOPSIG(st);
	event = (unsigned)st >> 16;
	if (sig != (SIGTRAP | 0x80))
		tracee_set_waiting(s, t, false);
	if (sig == (SIGTRAP | 0x80)) {
		on_syscall_stop(s, t);
		resume(tid, 0);
	} else if (event == PTRACE_EVENT_STOP) {
		t->started = true;
		if (is_stop_signal(sig))
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);  /* group stop */
		else
			resume(tid, 0);  /* the interrupt, or a new thread */
	} else if (event == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;
		ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child);
		if (child != 0 && tracee_find(s, (pid_t)child) == NULL &&
		    tracee_add(s, (pid_t)child) == NULL)
			return -ENOMEM;
		resume(tid, 0);
	} else if (event != 0) {
		resume(tid, 0);
	} else if (s->window_sig != 0 && sig == s->window_sig &&
		   s->res.window_marks < 2) {
		/* The window's edge: the handler that takes the process's
		 * snapshot runs as soon as the signal is delivered. */
		if (++s->res.window_marks == 1) {
			s->counting = true;
			resume(tid, sig);
		} else {
			s->counting = false;
			ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
			tracee_remove(s, tid);
		}
	} else {
		resume(tid, sig);        /* a signal-delivery stop: deliver it */
	}
	return 0;
}

/* Wait for the next stop of one of this thread's tracees; -errno (-ECHILD
 * when there is none) or its tid.  EINTR is returned as -EINTR. */
static pid_t wait_tracee(int *st)
{
	pid_t tid = waitpid(-1, st, __WALL | __WNOTHREAD);

	return tid < 0 ? -errno : tid;
}

/* ---- the three steps ------------------------------------------------------------ */

/* Seize the threads of the process that are not traced yet and interrupt
 * them.  Returns how many were seized, or -errno (the reason in s->why)
 * when the process cannot be traced at all. */
static int seize_new_threads(struct syscount *s)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int added = 0, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	d = opendir(path);
	if (d == NULL) {
		err = errno == ENOENT ? ESRCH : errno;
		refusal(s, err);
		return -err;
	}
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);

		if (tid <= 0 || tracee_find(s, tid) != NULL)
			continue;
		if (ptrace(PTRACE_SEIZE, tid, NULL,
			   (void *)(long)SYSCOUNT_OPTIONS) != 0) {
			if (errno == ESRCH)
				continue;        /* the thread just ended */
			err = errno;
			break;
		}
		if (tracee_add(s, tid) == NULL) {
			ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
			err = ENOMEM;            /* detached when the tracer ends */
			break;
		}
		ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
		added++;
	}
	closedir(d);
	if (err != 0) {
		refusal(s, err);
		return -err;
	}
	return added;
}

static int attach(struct syscount *s)
{
	int n;

	do {
		n = seize_new_threads(s);
		if (n < 0)
			return n;
		while (unstarted(s) > 0) {
			int st, rc;
			pid_t tid = wait_tracee(&st);

			if (tid == -EINTR)
				continue;
			if (tid < 0)
				break;                  /* every tracee ended */
			rc = on_stop(s, tid, st);
			if (rc < 0) {
				refusal(s, -rc);
				return rc;
			}
		}
	} while (n > 0);
	if (s->nt == 0) {
		refusal(s, ESRCH);
		return -ESRCH;
	}
	return 0;
}

/* Whether the tracer is done counting: stopped, and the window (if any)
 * closed or waited for long enough since the stop. */
static bool done_counting(struct syscount *s, uint64_t *stop_at)
{
	uint64_t now;

	if (!atomic_load(&s->stop))
		return false;
	if (s->window_sig == 0 || s->res.window_marks >= 2)
		return true;
	now = now_ms();
	if (*stop_at == 0)
		*stop_at = now;
	return now - *stop_at >= SYSCOUNT_WINDOW_WAIT_MS;
}

static void count(struct syscount *s)
{
	uint64_t stop_at = 0;

	s->counting = s->window_sig == 0;
	while (!done_counting(s, &stop_at) && s->nt > 0) {
		int st;
		pid_t tid = wait_tracee(&st);

		if (tid == -EINTR)
			continue;
		if (tid < 0 || on_stop(s, tid, st) < 0)
			break;
	}
	s->counting = false;
}

/* Interrupt every tracee and detach it at its next stop.  A thread started
 * meanwhile is detached at its first stop; what cannot be detached this way
 * (the bookkeeping failed) is detached when the tracer thread ends. */
static void detach(struct syscount *s)
{
	for (unsigned i = 0; i < s->nt;) {
		if (ptrace(PTRACE_INTERRUPT, s->t[i].tid, NULL, NULL) != 0 &&
		    errno == ESRCH) {
			tracee_remove(s, s->t[i].tid);  /* gone, reaped */
			continue;
		}
		i++;
	}
	while (s->nt > 0) {
		int st, sig, event, deliver;
		pid_t tid = wait_tracee(&st);

		if (tid == -EINTR)
			continue;
		if (tid < 0)
			break;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			tracee_remove(s, tid);
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		event = (unsigned)st >> 16;
		if (event == PTRACE_EVENT_CLONE) {
			unsigned long child = 0;
			ptrace(PTRACE_GETEVENTMSG, tid, NULL, &child);
			if (child != 0 && tracee_find(s, (pid_t)child) == NULL)
				tracee_add(s, (pid_t)child);
		}
		deliver = event == 0 && sig != (SIGTRAP | 0x80) ? sig : 0;
		ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)deliver);
		tracee_remove(s, tid);
	}
}

static void set_phase(struct syscount *s, enum phase p, int err)
{
	pthread_mutex_lock(&s->lock);
	s->phase = p;
	s->err = err;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

static void *tracer_main(void *arg)
{
	struct syscount *s = arg;
	sigset_t wake;
	int rc;

	sigemptyset(&wake);
	sigaddset(&wake, SYSCOUNT_WAKE);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	rc = attach(s);
	if (rc < 0) {
		detach(s);
		set_phase(s, PHASE_FAILED, rc);
		return NULL;     /* ending this thread detaches what is left */
	}
	set_phase(s, PHASE_COUNTING, 0);
	count(s);
	detach(s);
	set_phase(s, PHASE_DONE, 0);
	return NULL;
}

/* ---- the caller's side ----------------------------------------------------------- */

static void on_wake(int sig)
{
	(void)sig;          /* only to interrupt the tracer's waitpid() */
}

static void install_wake(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;    /* no SA_RESTART: waitpid() must return EINTR */
	sigaction(SYSCOUNT_WAKE, &sa, NULL);
}

/* Wait until the phase is no longer p; while waiting for the end, wake the
 * tracer every millisecond. */
static enum phase wait_phase(struct syscount *s, enum phase p, bool wake)
{
	enum phase now;

	pthread_mutex_lock(&s->lock);
	while (s->phase == p || (wake && s->phase != PHASE_DONE &&
				 s->phase != PHASE_FAILED)) {
		struct timespec ts;

		if (wake) {
			pthread_mutex_unlock(&s->lock);
			pthread_kill(s->thread, SYSCOUNT_WAKE);
			pthread_mutex_lock(&s->lock);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->changed, &s->lock, &ts);
	}
	now = s->phase;
	pthread_mutex_unlock(&s->lock);
	return now;
}

int syscount_start(pid_t pid, int window_signal, struct syscount **out,
		   char *why, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct syscount *s;
	int rc;

	*out = NULL;
	if (len > 0)
		why[0] = '\0';
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	pthread_once(&once, install_wake);
	s->pid = pid;
	s->window_sig = window_signal;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	s->phase = PHASE_ATTACHING;
	rc = pthread_create(&s->thread, NULL, tracer_main, s);
	if (rc != 0) {
		snprintf(why, len, "cannot start the tracer thread: %s",
			 strerror(rc));
		pthread_cond_destroy(&s->changed);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -rc;
	}
	if (wait_phase(s, PHASE_ATTACHING, false) == PHASE_FAILED) {
		pthread_join(s->thread, NULL);
		rc = s->err;
		snprintf(why, len, "%s", s->why);
		free(s->t);
		pthread_cond_destroy(&s->changed);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

bool syscount_wait_quiet(struct syscount *s, unsigned quiet_ms,
			 unsigned max_ms)
{
	uint64_t start = now_ms(), last_change = start;
	uint64_t seen = atomic_load(&s->stops);

	for (;;) {
		const struct timespec ms = { 0, 1000000 };
		uint64_t now, v;

		nanosleep(&ms, NULL);
		now = now_ms();
		v = atomic_load(&s->stops);
		if (v != seen || atomic_load(&s->running) > 0) {
			seen = v;
			last_change = now;
		}
		if (now - last_change >= quiet_ms)
			return true;
		if (now - start >= max_ms)
			return false;
	}
}

int syscount_stop(struct syscount *s, struct syscount_result *res, char *why,
		  size_t len)
{
	int rc = 0;

	atomic_store(&s->stop, true);
	wait_phase(s, PHASE_COUNTING, true);
	pthread_join(s->thread, NULL);
	*res = s->res;
	if (len > 0)
		why[0] = '\0';
	if (s->no_info) {
		snprintf(why, len, "ptrace cannot say which system call a "
			 "stop is (PTRACE_GET_SYSCALL_INFO needs Linux 5.3)");
		memset(res, 0, sizeof(*res));
		rc = -ENOSYS;
	} else if (s->window_sig != 0 && res->window_marks < 2) {
		snprintf(why, len, "process %d was not delivered the window's "
			 "%s signal within %d ms", (int)s->pid,
			 res->window_marks == 0 ? "first" : "second",
			 SYSCOUNT_WINDOW_WAIT_MS);
		rc = -ETIMEDOUT;
	}
	free(s->t);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return rc;
}

/* ---- names ------------------------------------------------------------------------ */

/* The system calls an event loop, its start-up and its shutdown make; any
 * other is shown by number.  Calls this architecture lacks (arm64 has no
 * epoll_wait, only epoll_pwait) are left out by the #ifdefs. */
static const struct {
	long nr;
	const char *name;
} names[] = {
#define N(x) { SYS_##x, #x }
	N(read), N(write), N(readv), N(writev), N(pread64), N(pwrite64),
	N(recvfrom), N(sendto), N(recvmsg), N(sendmsg), N(recvmmsg),
	N(sendmmsg), N(epoll_ctl), N(epoll_pwait), N(epoll_create1),
	N(ppoll), N(pselect6), N(io_uring_setup), N(io_uring_enter),
	N(io_uring_register), N(accept4), N(accept), N(close), N(shutdown),
	N(socket), N(bind), N(listen), N(connect), N(setsockopt),
	N(getsockopt), N(getsockname), N(getpeername), N(fcntl), N(ioctl),
	N(openat), N(lseek), N(fstat), N(newfstatat), N(statx), N(futex),
	N(clock_gettime), N(clock_nanosleep), N(nanosleep), N(gettid),
	N(getpid), N(getppid), N(getrusage), N(rt_sigaction),
	N(rt_sigprocmask), N(rt_sigreturn), N(sigaltstack),
	N(timerfd_create), N(timerfd_settime), N(timerfd_gettime),
	N(eventfd2), N(mmap), N(munmap), N(mprotect), N(madvise), N(brk),
	N(mremap), N(sched_yield), N(sched_getaffinity),
	N(sched_setaffinity), N(clone), N(exit), N(exit_group), N(tgkill),
	N(kill), N(getrandom), N(splice), N(sendfile), N(prctl), N(wait4),
	N(set_robust_list), N(prlimit64), N(getdents64), N(pipe2), N(dup3),
	N(execve), N(uname), N(set_tid_address), N(membarrier),
#ifdef SYS_epoll_wait
	N(epoll_wait),
#endif
#ifdef SYS_epoll_pwait2
	N(epoll_pwait2),
#endif
#ifdef SYS_epoll_create
	N(epoll_create),
#endif
#ifdef SYS_poll
	N(poll),
#endif
#ifdef SYS_select
	N(select),
#endif
#ifdef SYS_eventfd
	N(eventfd),
#endif
#ifdef SYS_open
	N(open),
#endif
#ifdef SYS_pipe
	N(pipe),
#endif
#ifdef SYS_dup2
	N(dup2),
#endif
#ifdef SYS_arch_prctl
	N(arch_prctl),
#endif
#ifdef SYS_clone3
	N(clone3),
#endif
#ifdef SYS_rseq
	N(rseq),
#endif
#ifdef SYS_futex_waitv
	N(futex_waitv),
#endif
#undef N
};

const char *syscount_name(unsigned nr)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nr == (long)nr)
			return names[i].name;
	return NULL;
}

const char *syscount_label(unsigned nr, char *buf, size_t len)
{
	const char *name = syscount_name(nr);

	if (name != NULL)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "syscall %u", nr);
	return buf;
}

unsigned syscount_top(const struct syscount_result *res, unsigned n,
		      unsigned nr[])
{
	unsigned k = 0;

	for (unsigned i = 0; i < SYSCOUNT_NR_MAX; i++) {
		unsigned j;

		if (res->by_nr[i] == 0)
			continue;
		/* Insert i among the k kept, most frequent first. */
		for (j = k; j > 0 && res->by_nr[nr[j - 1]] < res->by_nr[i];
		     j--)
			if (j < n)
				nr[j] = nr[j - 1];
		if (j < n) {
			nr[j] = i;
			if (k < n)
				k++;
		}
	}
	return k;
}
