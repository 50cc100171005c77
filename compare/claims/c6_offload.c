/* c6_offload.c: claim C6, cancelling while blocking jobs run.
 *
 * "Work with no readiness (regular files) goes to a blocking pool; a
 * running blocking job cannot be cancelled, so its buffer must outlive the
 * cancellation."
 *
 * The experiment is the torture harness's (torture_fanout_waste()): a
 * fanout over the simulated reactor, whose every offload job is a read of
 * the input, cancelled as a whole at every step of its run, for several
 * seeds.  It counts the cancels that landed while a read was in the pool,
 * the jobs that ran to their end anyway, the bytes they read for nothing,
 * and the violations (a leak, a crash, a job never given back; the
 * sanitizer build turns a write into freed memory into a crash).
 *
 * Beside it, the same fanout over a completion queue (the harness's
 * fanout-cq, on the simulated kernel of completion_sim.c): the input is
 * read by the kernel, not by a pool.  A cancel only asks, and a read that
 * won the race completes with its bytes, which nobody consumes: the
 * kernel's count of the bytes it read (completion_stats.file_read_bytes),
 * less those the fanout consumed, is the work wasted; the kernel's own
 * check says whether a buffer was freed or touched while it owned it.  And
 * the threads a real fanout takes (a child process, counted from
 * /proc/PID/task while its subscribers read): its loop and the pool's
 * threads over epoll, its loop alone over io_uring.
 */
#include "claims.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "completion.h"
#include "offload.h"
#include "poll.h"
#include "push.h"
#include "torture/torture.h"

/* The rule.  The claim has two halves that the figures can show.  "Cannot
 * be cancelled": cancels landed while reads ran, and those reads still read
 * their bytes (bytes_wasted > 0: the work went on).  "Its buffer must
 * outlive the cancellation": with the buffer owned by the job, no violation
 * in either engine.  Both, in both engines: holds.  Work wasted but some
 * violation: holds only in part (an engine broke the rule the claim
 * states).  No cancel ever landed on a running read: not measured.  Cancels
 * landed on running reads and no byte was wasted (the job was stopped after
 * all): does not hold.  The completion rows do not change the outcome; the
 * verdict says what they show after it (c6_ring_append()). */
static void c6_pool_verdict(const struct c6_figures *f,
			    struct claim_verdict *v)
{
	const int P = CLAIMS_PUSH, Q = CLAIMS_POLL;

	if (!f->ran) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
				  "the harness did not run");
		return;
	}
	if (f->cancels_while_running[P] == 0 ||
	    f->cancels_while_running[Q] == 0) {
		claim_verdict_set(v, CLAIM_NOT_MEASURED,
			"no cancel landed while a read ran (%llu push, %llu "
			"poll)", (unsigned long long)f->cancels_while_running[P],
			(unsigned long long)f->cancels_while_running[Q]);
		return;
	}
	if (f->bytes_wasted[P] == 0 || f->bytes_wasted[Q] == 0) {
		claim_verdict_set(v, CLAIM_FAILS,
			"reads cancelled while running read no byte for "
			"nothing (%llu push, %llu poll): they were stopped",
			(unsigned long long)f->bytes_wasted[P],
			(unsigned long long)f->bytes_wasted[Q]);
		return;
	}
	if (f->violations[P] > 0 || f->violations[Q] > 0) {
		claim_verdict_set(v, CLAIM_PARTLY,
			"running reads could not be stopped (%llu / %llu bytes "
			"wasted), but the buffer did not always outlive them: "
			"%llu push, %llu poll violations",
			(unsigned long long)f->bytes_wasted[P],
			(unsigned long long)f->bytes_wasted[Q],
			(unsigned long long)f->violations[P],
			(unsigned long long)f->violations[Q]);
		return;
	}
	claim_verdict_set(v, CLAIM_HOLDS,
		"%llu / %llu cancels landed on a running read (push / poll); "
		"the reads ran on and read %llu / %llu bytes for nothing "
		"(%.2f%% / %.2f%% of those delivered), into buffers the jobs "
		"owned: 0 violations",
		(unsigned long long)f->cancels_while_running[P],
		(unsigned long long)f->cancels_while_running[Q],
		(unsigned long long)f->bytes_wasted[P],
		(unsigned long long)f->bytes_wasted[Q],
		f->bytes_read[P] ? 100.0 * f->bytes_wasted[P] / f->bytes_read[P] : 0,
		f->bytes_read[Q] ? 100.0 * f->bytes_wasted[Q] / f->bytes_read[Q] : 0);
}

/* What the completion rows show, after the verdict's own figures. */
static void c6_ring_append(const struct c6_figures *f, struct claim_verdict *v)
{
	const int P = CLAIMS_PUSH, Q = CLAIMS_POLL;
	size_t n = strlen(v->why);
	char threads[96];

	if (!f->cq_ran || n >= sizeof(v->why))
		return;
	if (f->threads_uring[P] > 0 && f->threads_uring[Q] > 0)
		snprintf(threads, sizeof(threads), "%u / %u threads over epoll, "
			 "%u / %u over io_uring", f->threads_epoll[P],
			 f->threads_epoll[Q], f->threads_uring[P],
			 f->threads_uring[Q]);
	else
		snprintf(threads, sizeof(threads), "%u / %u threads over epoll, "
			 "io_uring's not counted", f->threads_epoll[P],
			 f->threads_epoll[Q]);
	snprintf(v->why + n, sizeof(v->why) - n, "; over io_uring the read is "
		 "the kernel's: %llu / %llu bytes wasted, no pool thread (%s), "
		 "the buffer held by the op until its completion: %llu / %llu "
		 "breaches", (unsigned long long)f->cq_bytes_wasted[P],
		 (unsigned long long)f->cq_bytes_wasted[Q], threads,
		 (unsigned long long)f->cq_buffer_breaches[P],
		 (unsigned long long)f->cq_buffer_breaches[Q]);
}

void c6_verdict(const struct c6_figures *f, struct claim_verdict *v)
{
	c6_pool_verdict(f, v);
	c6_ring_append(f, v);
}

/* ---- the threads of a real fanout ------------------------------------------- */

#define C6_SINKS 2
#define C6_INPUT (1u << 20)
#define C6_WAIT_MS 10000     /* a child silent this long is killed */

static void c6_tell_port(void *arg, uint16_t port)
{
	if (write(*(int *)arg, &port, sizeof(port)) != sizeof(port))
		_exit(2);
}

/* The child: input to C6_SINKS TCP subscribers with run, on an epoll
 * reactor, with the pool if pool (else run is a completion entry point,
 * which reads through its ring).  Tells its port on fd; never returns. */
static void c6_fanout_child(fanout_run_fn run, bool pool, const char *input,
			    int fd)
{
	struct fanout_sink_stats sink[C6_SINKS];
	struct fanout_stats st = { .sinks = C6_SINKS, .sink = sink };
	struct fanout_opts opts;
	struct reactor *r = reactor_new_epoll();
	struct offload *o = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (r != NULL && pool)
		o = offload_new(r, C6_POOL_THREADS);
	if (r == NULL || (pool && o == NULL))
		_exit(2);
	fanout_opts_default(&opts);
	opts.input = input;
	opts.sinks = C6_SINKS;
	opts.kind = FANOUT_SINK_TCP;
	opts.on_listening = c6_tell_port;
	opts.arg = &fd;
	_exit(run(r, o, &opts, &st) == 0 && st.bytes_read == C6_INPUT ? 0 : 1);
}

/* The threads of process pid now, or 0 if it is gone. */
static unsigned c6_tasks(pid_t pid)
{
	char path[32];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Subscribe to the fanout of child pid, whose port comes on fd, read
 * every sink to its end, and count the child's threads before the first
 * subscriber and after each read: the most seen, 0 if some sink did not reach its end (then the child is
 * stuck or gone: the caller kills it). */
static unsigned c6_subscribe_and_count(pid_t pid, int fd)
{
	struct pollfd pfd[C6_SINKS] = { { .fd = fd, .events = POLLIN } };
	struct sockaddr_in to = { .sin_family = AF_INET };
	unsigned most = 0, open = 0, ended = 0;
	uint16_t port;
	char buf[65536];

	if (poll(pfd, 1, C6_WAIT_MS) != 1 ||
	    read(fd, &port, sizeof(port)) != sizeof(port))
		return 0;
	/* Once first while the fanout waits for its subscribers: its pool
	 * is up, and nothing has been read yet (a loaded machine could let
	 * the child send the whole input into the sockets' buffers, and end
	 * its pool, before this process reads at all). */
	most = c6_tasks(pid);
	to.sin_port = htons(port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (unsigned i = 0; i < C6_SINKS; i++) {
		pfd[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		pfd[i].events = POLLIN;
		if (pfd[i].fd >= 0 &&
		    connect(pfd[i].fd, (struct sockaddr *)&to, sizeof(to)) == 0)
			open++;
	}
	while (open == C6_SINKS && ended < C6_SINKS &&
	       poll(pfd, C6_SINKS, C6_WAIT_MS) > 0) {
		unsigned now = c6_tasks(pid);

		most = now > most ? now : most;
		for (unsigned i = 0; i < C6_SINKS; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0 ||
			    read(pfd[i].fd, buf, sizeof(buf)) > 0)
				continue;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			ended++;
		}
	}
	for (unsigned i = 0; i < C6_SINKS; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return ended == C6_SINKS ? most : 0;
}

/* An input file of C6_INPUT bytes, its path in path (a mkstemp template).
 * Returns 0 or -errno. */
static int c6_make_input(char *path)
{
	static char block[65536];
	int fd = mkstemp(path);

	if (fd < 0)
		return -errno;
	memset(block, 'c', sizeof(block));
	for (unsigned n = 0; n < C6_INPUT; n += sizeof(block))
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block)) {
			close(fd);
			unlink(path);
			return -EIO;
		}
	close(fd);
	return 0;
}

/* The most threads the process running run (with the pool, or over its
 * ring) had while its subscribers read: *out, 0 if the fanout failed. */
static int c6_count_threads(fanout_run_fn run, bool pool, unsigned *out)
{
	char input[] = "/tmp/pushpoll-c6-XXXXXX";
	int fds[2], status = 0, rc = c6_make_input(input);
	pid_t pid;

	*out = 0;
	if (rc < 0)
		return rc;
	if (pipe(fds) < 0) {
		unlink(input);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		c6_fanout_child(run, pool, input, fds[1]);
	}
	close(fds[1]);
	if (pid > 0) {
		*out = c6_subscribe_and_count(pid, fds[0]);
		if (*out == 0)
			kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			*out = 0;
	}
	close(fds[0]);
	unlink(input);
	return pid < 0 ? -EAGAIN : 0;
}

/* The threads of each engine's fanout over epoll, and over io_uring where
 * a ring can be made here (else one line saying why not). */
static void c6_threads(const struct claims_ctx *cx, struct c6_figures *f)
{
	static const fanout_run_fn ready[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = push_fanout_run, [CLAIMS_POLL] = poll_fanout_run,
	};
	static const fanout_run_fn ring[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = push_fanout_run_completion,
		[CLAIMS_POLL] = poll_fanout_run_completion,
	};
	char why[COMPLETION_REASON_MAX];
	bool uring = completion_uring_usable(why, sizeof(why)) == 0;

	if (!uring)
		claims_say(cx, "C6: threads over io_uring not counted: %s", why);
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		c6_count_threads(ready[m], true, &f->threads_epoll[m]);
		if (uring)
			c6_count_threads(ring[m], false, &f->threads_uring[m]);
		if (f->threads_epoll[m] == 0 || (uring && !f->threads_uring[m]))
			claims_say(cx, "C6: a real fanout of %s did not run to "
				   "its end: its threads not counted",
				   claims_model_name[m]);
	}
}

int c6_measure_completion(const struct claims_ctx *cx, struct c6_figures *f)
{
	static const enum torture_engine engine[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = TORTURE_PUSH, [CLAIMS_POLL] = TORTURE_POLL,
	};

	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		struct torture_waste w;
		int rc = torture_fanout_waste_cq(engine[m], cx->quick ? 1 : 3,
						 0, 0, &w);

		if (rc < 0)
			return rc;
		f->cq_runs[m] = w.runs;
		f->cq_reads_ran_on[m] = w.cancels_while_running;
		f->cq_bytes_read[m] = w.bytes_read + w.bytes_wasted;
		f->cq_bytes_wasted[m] = w.bytes_wasted;
		f->cq_buffer_breaches[m] = w.kernel_violations;
		f->cq_violations[m] = w.violations;
	}
	f->cq_ran = true;
	c6_threads(cx, f);
	return 0;
}

int c6_measure(const struct claims_ctx *cx, struct c6_figures *f)
{
	static const enum torture_engine engine[CLAIMS_NMODELS] = {
		[CLAIMS_PUSH] = TORTURE_PUSH, [CLAIMS_POLL] = TORTURE_POLL,
	};

	memset(f, 0, sizeof(*f));
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		struct torture_waste w;
		int rc = torture_fanout_waste(engine[m], cx->quick ? 1 : 3, 0,
					      0, &w);

		if (rc < 0)
			return rc;
		f->runs[m] = w.runs;
		f->cancels_while_running[m] = w.cancels_while_running;
		f->jobs_cancelled_running[m] = w.jobs_cancelled_running;
		f->bytes_wasted[m] = w.bytes_wasted;
		f->bytes_read[m] = w.bytes_read;
		f->violations[m] = w.violations;
	}
	f->ran = true;
	return c6_measure_completion(cx, f);
}

/* A model's cell: the pool's figures, the ring's, the threads. */
static void c6_row(const struct c6_figures *f, int m, char *out, size_t len)
{
	int n = snprintf(out, len, "pool: %llu of %llu cancels hit a running "
			 "read; %llu bytes read for nothing; %llu violations",
			 (unsigned long long)f->cancels_while_running[m],
			 (unsigned long long)f->runs[m],
			 (unsigned long long)f->bytes_wasted[m],
			 (unsigned long long)f->violations[m]);

	if (!f->cq_ran || n < 0 || (size_t)n >= len)
		return;
	n += snprintf(out + n, len - (size_t)n, ". ring: %llu of %llu cancels' "
		      "reads ran on; %llu of %llu bytes read for nothing; %llu "
		      "buffer breaches. threads: %u epoll, ",
		      (unsigned long long)f->cq_reads_ran_on[m],
		      (unsigned long long)f->cq_runs[m],
		      (unsigned long long)f->cq_bytes_wasted[m],
		      (unsigned long long)f->cq_bytes_read[m],
		      (unsigned long long)f->cq_buffer_breaches[m],
		      f->threads_epoll[m]);
	if ((size_t)n >= len)
		return;
	if (f->threads_uring[m] > 0)
		snprintf(out + n, len - (size_t)n, "%u uring",
			 f->threads_uring[m]);
	else
		snprintf(out + n, len - (size_t)n, "uring not counted");
}

void c6_json(struct claims_json *j, const struct c6_figures *f)
{
	claims_json_begin(j, "figures");
	for (int m = 0; m < CLAIMS_NMODELS; m++) {
		claims_json_begin(j, claims_model_name[m]);
		claims_json_num(j, "cancelled_fanouts", (double)f->runs[m]);
		claims_json_num(j, "cancels_while_running",
				(double)f->cancels_while_running[m]);
		claims_json_num(j, "jobs_cancelled_running",
				(double)f->jobs_cancelled_running[m]);
		claims_json_num(j, "bytes_wasted", (double)f->bytes_wasted[m]);
		claims_json_num(j, "bytes_read", (double)f->bytes_read[m]);
		claims_json_num(j, "violations", (double)f->violations[m]);
		if (f->cq_ran) {
			claims_json_begin(j, "completion");
			claims_json_num(j, "cancelled_fanouts",
					(double)f->cq_runs[m]);
			claims_json_num(j, "reads_ran_on",
					(double)f->cq_reads_ran_on[m]);
			claims_json_num(j, "bytes_read",
					(double)f->cq_bytes_read[m]);
			claims_json_num(j, "bytes_wasted",
					(double)f->cq_bytes_wasted[m]);
			claims_json_num(j, "buffer_breaches",
					(double)f->cq_buffer_breaches[m]);
			claims_json_num(j, "violations",
					(double)f->cq_violations[m]);
			claims_json_end(j);
		}
		claims_json_begin(j, "threads");
		if (f->threads_epoll[m] > 0)
			claims_json_num(j, "epoll", f->threads_epoll[m]);
		if (f->threads_uring[m] > 0)
			claims_json_num(j, "uring", f->threads_uring[m]);
		claims_json_end(j);
		claims_json_end(j);
	}
	claims_json_end(j);
}

int c6_run(struct claims_ctx *cx, struct claim_row *row)
{
	struct c6_figures f;
	int rc;

	rc = c6_measure(cx, &f);
	if (rc < 0)
		return rc;
	c6_verdict(&f, &row->verdict);
	c6_row(&f, CLAIMS_PUSH, row->push, sizeof(row->push));
	c6_row(&f, CLAIMS_POLL, row->poll, sizeof(row->poll));
	c6_json(cx->json, &f);
	return 0;
}
