/* bench_fanout.c: the fanout comparison.
 *
 * The inputs are generated at the requested sizes in a private temporary
 * directory (pseudo-random bytes, so that no layer can compress or dedupe
 * them) and removed at the end.  Each run starts `pushpoll fanout` as a
 * child process and watches it from outside:
 *
 *   tcp sinks   the load generator connects the subscribers and reads each
 *               to end of stream, comparing every byte with the input.
 *               Time zero is the first connect.
 *   file sinks  the sink files are made empty before the run and watched
 *               with inotify: time zero is the engine's first open of a sink
 *               file, a sink's first byte is the first write that gives it a
 *               size, its end is its close.  Afterwards every file is
 *               compared with the input, byte for byte.
 *
 * Time to first byte is per sink, from time zero; throughput is every byte
 * delivered (file size x sinks) over time zero to the last sink's end.  The
 * server's CPU time (user space and kernel apart) and peak resident set
 * come from wait4(); its allocations and peak live heap from the mem line
 * it prints at exit; peak_chunks from its statistics.  Rounds are outermost
 * and configurations interleaved inside each, as for echo.
 *
 * Beside the engines run the tools a user would reach for instead, started,
 * watched and checked the same way, as whole processes:
 *
 *   tee         file sinks: `tee sink-0 ... sink-(N-2) > sink-(N-1) < input`
 *   socat       tcp sinks: `socat -U TCP-LISTEN:0,fork OPEN:input`, a
 *               plain relay that forks a child per subscriber, each reading
 *               the input itself; stopped with SIGTERM once every subscriber
 *               has the input, its children (reaped by it) counted in its
 *               CPU.
 *
 * They print no figures of their own: allocations, peak heap and chunks
 * are left blank in their rows.  A tool that is not installed gets one line
 * on stderr, and its rows are left out.
 */
#include "config.h"      /* first: _GNU_SOURCE, for pipe2() */

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clock.h"
#include "loadgen.h"

#define FANOUT_TIMEOUT_NS (60 * CLOCK_NS_PER_S)  /* a run that hangs */
#define OUTPUT_MAX 65536                         /* the child's output */

/* An input file and its bytes, mapped for the comparisons. */
struct input {
	char path[320];
	uint64_t size;
	const unsigned char *bytes;
};

struct child {
	pid_t pid;
	int out;                  /* its stdout and stderr, together */
	char text[OUTPUT_MAX];    /* what it printed */
	size_t len;
	struct rusage ru;
	int status;
};

/* What the child's output says about the run. */
struct reported {
	uint64_t allocs, peak_bytes;
	int64_t live_blocks;
	unsigned peak_chunks, sinks_ok;
	bool mem_seen, stats_seen;
};

/* One run's figures. */
struct fsample {
	double v[BENCH_FF_COUNT];
	int ok;
};

/* ---- inputs ------------------------------------------------------------------ */

/* Write size pseudo-random bytes (xorshift64) to path and map them. */
static int input_make(struct input *in, const char *dir, int i,
		      uint64_t size)
{
	static uint64_t block[1 << 17];             /* 1 MiB */
	uint64_t x = 0x9e3779b97f4a7c15ull ^ size;
	int fd, err = 0;
	void *map;

	snprintf(in->path, sizeof(in->path), "%s/input-%d", dir, i);
	in->size = size;
	in->bytes = NULL;
	fd = open(in->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (uint64_t off = 0; off < size && err == 0;) {
		size_t n = size - off < sizeof(block) ? (size_t)(size - off)
						      : sizeof(block);
		for (size_t k = 0; k < sizeof(block) / 8; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			block[k] = x;
		}
		ssize_t w = write(fd, block, n);
		if (w <= 0)
			err = w < 0 ? -errno : -EIO;
		else
			off += (uint64_t)w;
	}
	map = err == 0 ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0)
		       : MAP_FAILED;
	if (err == 0 && map == MAP_FAILED)
		err = -errno;
	close(fd);
	if (err < 0) {
		unlink(in->path);
		return err;
	}
	in->bytes = map;
	return 0;
}

static void input_free(struct input *in)
{
	if (in->bytes != NULL)
		munmap((void *)in->bytes, in->size);
	unlink(in->path);
}

/* ---- the child ---------------------------------------------------------------- */

static int child_start(struct child *c, const struct bench_variant *v,
		       const struct bench_opts *o, const struct bench_pin *pin,
		       const struct input *in, unsigned kind,
		       const char *outdir)
{
	char sinks[16], chunk[32], window[16];
	const char *argv[32] = {
		"pushpoll", "fanout", "--engine", v->engine,
		"--input", in->path, "--sinks", sinks,
		"--chunk-size", chunk, "--window", window,
		"--sink-timeout", "30s",
	};
	int n = 14;

	snprintf(sinks, sizeof(sinks), "%u", o->sinks);
	snprintf(chunk, sizeof(chunk), "%zu", o->chunk_size);
	snprintf(window, sizeof(window), "%u", o->window);
	c->len = 0;
	c->text[0] = '\0';
	if (kind == BENCH_SINK_TCP) {
		argv[n++] = "--sink";
		argv[n++] = "tcp";
		argv[n++] = "--host";
		argv[n++] = "127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = "0";
	} else {
		argv[n++] = "--sink";
		argv[n++] = "file";
		argv[n++] = "--output-dir";
		argv[n++] = outdir;
	}
	for (int i = 0; v->flags[i] != NULL; i++)
		argv[n++] = v->flags[i];
	argv[n] = NULL;
	c->out = bench__spawn(argv, pin, true, &c->pid);
	return c->out < 0 ? c->out : 0;
}

/* Read what the child printed so far (blocking for one read).  Returns
 * the bytes read, 0 at end of file, -errno. */
static ssize_t child_read(struct child *c)
{
	ssize_t n;

	if (c->len + 1 >= sizeof(c->text)) {    /* full: read and drop */
		char sink[4096];
		n = read(c->out, sink, sizeof(sink));
	} else {
		n = read(c->out, c->text + c->len, sizeof(c->text) - 1 - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			c->text[c->len] = '\0';
		}
	}
	return n < 0 ? -errno : n;
}

/* Read until the line "listening HOST:PORT"; returns the port or -EIO. */
static int child_port(struct child *c)
{
	for (;;) {
		const char *l = strstr(c->text, "listening ");
		unsigned port;
		if (l != NULL && strchr(l, '\n') != NULL &&
		    sscanf(l, "listening %*[^:]:%u", &port) == 1)
			return (int)port;
		if (child_read(c) <= 0)
			return -EIO;
	}
}

/* Read the rest of the output and reap the child. */
static void child_finish(struct child *c)
{
	while (child_read(c) > 0)
		;
	close(c->out);
	if (wait4(c->pid, &c->status, 0, &c->ru) < 0)
		c->status = -1;
}

static void child_kill(struct child *c)
{
	kill(c->pid, SIGKILL);
	child_finish(c);
}

static bool child_ok(const struct child *c)
{
	return c->status >= 0 && WIFEXITED(c->status) &&
	       WEXITSTATUS(c->status) == 0;
}

static void parse_output(const char *text, unsigned sinks,
			 struct reported *rep)
{
	memset(rep, 0, sizeof(*rep));
	for (const char *l = text; l != NULL && *l != '\0';) {
		uint64_t a, b, p;
		int64_t live;
		unsigned i, pc;
		int err;

		if (sscanf(l, "%*[^:=\n]: allocs=%" SCNu64 " frees=%*u "
			   "reallocs=%*u bytes=%" SCNu64 " failed=%*u "
			   "live_blocks=%" SCNd64 " live_bytes=%*d "
			   "peak_live_bytes=%" SCNu64, &a, &b, &live, &p) == 4) {
			rep->allocs = a;
			rep->live_blocks = live;
			rep->peak_bytes = p;
			rep->mem_seen = true;
		} else if (sscanf(l, "engine=%*s bytes_read=%*u "
				  "chunks_read=%*u peak_chunks=%u", &pc) == 1) {
			rep->peak_chunks = pc;
			rep->stats_seen = true;
		} else if (sscanf(l, "sink=%u bytes=%*u checksum=%*x "
				  "error=%d", &i, &err) == 2 && i < sinks &&
			   err == 0) {
			rep->sinks_ok++;
		}
		l = strchr(l, '\n');
		if (l != NULL)
			l++;
	}
}

/* ---- the tools --------------------------------------------------------------- */

/* Start the program argv[0] (found on PATH) in a child on the server's
 * CPU, its stdin read from `in`, its stdout written to `out` (created or
 * emptied; NULL: /dev/null), its stderr into a pipe (socat says there where
 * it listens).  Returns the pipe's read end, or -errno; *pid is the
 * child's. */
static int tool_spawn(const char *const argv[], const struct bench_pin *pin,
		      const char *in, const char *out, pid_t *pid)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		int err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (*pid == 0) {
		int i = open(in, O_RDONLY | O_CLOEXEC);
		int o = out != NULL ? open(out, O_WRONLY | O_CREAT | O_TRUNC |
					   O_CLOEXEC, 0600)
				    : open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (i < 0 || o < 0)
			_exit(126);
		dup2(i, STDIN_FILENO);
		dup2(o, STDOUT_FILENO);
		dup2(fds[1], STDERR_FILENO);
		bench__pin_server(pin);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

/* tee to the file sinks: `tee sink-0 ... sink-(N-2) > sink-(N-1) < input`,
 * as one would type it. */
static int tee_start(struct child *c, const struct bench_opts *o,
		     const struct bench_pin *pin, const struct input *in,
		     const char *outdir)
{
	const char **argv = calloc(o->sinks + 1, sizeof(*argv));
	char (*path)[400] = calloc(o->sinks, sizeof(*path));
	int rc = -ENOMEM;

	c->len = 0;
	c->text[0] = '\0';
	if (argv != NULL && path != NULL) {
		argv[0] = "tee";
		for (unsigned i = 0; i < o->sinks; i++) {
			snprintf(path[i], sizeof(path[i]), "%s/sink-%u",
				 outdir, i);
			if (i + 1 < o->sinks)
				argv[i + 1] = path[i];
		}
		c->out = tool_spawn(argv, pin, in->path, path[o->sinks - 1],
				    &c->pid);
		rc = c->out < 0 ? c->out : 0;
	}
	free(path);
	free(argv);
	return rc;
}

/* socat as a relay for TCP subscribers: it listens on a port of its
 * choosing (it says which on stderr, with -d -d) and forks a child per
 * subscriber that sends it the input. */
static int socat_start(struct child *c, const struct bench_pin *pin,
		       const struct input *in)
{
	char file[sizeof(((struct input *)0)->path) + 16];
	const char *argv[] = {
		"socat", "-d", "-d", "-U",
		"TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork", file, NULL,
	};
	int n = snprintf(file, sizeof(file), "OPEN:%s,rdonly", in->path);

	if (n < 0 || (size_t)n >= sizeof(file))
		return -ENAMETOOLONG;
	c->len = 0;
	c->text[0] = '\0';
	c->out = tool_spawn(argv, pin, "/dev/null", NULL, &c->pid);
	return c->out < 0 ? c->out : 0;
}

/* ---- figures -------------------------------------------------------------------- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The figures common to both sink kinds, from the child and the times.
 * first[] is sorted in place. */
static void fill_sample(struct fsample *s, const struct bench_opts *o,
			const struct input *in, const struct child *c,
			const struct reported *rep, uint64_t *first,
			uint64_t elapsed_ns)
{
	unsigned n = o->sinks;

	qsort(first, n, sizeof(first[0]), cmp_u64);
	s->v[BENCH_FF_MB] = (double)in->size * n /
			    ((double)elapsed_ns / 1e9) / 1e6;
	s->v[BENCH_FF_ELAPSED] = ms(elapsed_ns);
	s->v[BENCH_FF_TTFB_P50] = n % 2 ? ms(first[n / 2])
				: (ms(first[n / 2 - 1]) + ms(first[n / 2])) / 2;
	s->v[BENCH_FF_TTFB_MAX] = ms(first[n - 1]);
	s->v[BENCH_FF_USER] = (double)c->ru.ru_utime.tv_sec * 1e3 +
			      (double)c->ru.ru_utime.tv_usec / 1e3;
	s->v[BENCH_FF_SYS] = (double)c->ru.ru_stime.tv_sec * 1e3 +
			     (double)c->ru.ru_stime.tv_usec / 1e3;
	s->v[BENCH_FF_CPU] = s->v[BENCH_FF_USER] + s->v[BENCH_FF_SYS];
	s->v[BENCH_FF_ALLOCS] = (double)rep->allocs;
	s->v[BENCH_FF_PEAK] = (double)rep->peak_bytes / 1024.0;
	s->v[BENCH_FF_CHUNKS] = rep->peak_chunks;
	s->v[BENCH_FF_RSS] = (double)c->ru.ru_maxrss;
}

/* Did the server say it delivered everything and freed everything? */
static const char *server_verdict(const struct child *c,
				  const struct reported *rep, unsigned sinks)
{
	if (!child_ok(c))
		return "the server did not exit with 0";
	if (!rep->mem_seen || !rep->stats_seen)
		return "the server's figures are missing";
	if (rep->sinks_ok != sinks)
		return "the server reports failed sinks";
	if (rep->live_blocks != 0)
		return "the server leaked heap blocks";
	return NULL;
}

static void report_failure(const char *label, unsigned kind,
			   const char *why)
{
	fprintf(stderr, "\npushpoll: bench: fanout %s to %s sinks failed: "
		"%s\n", label, kind == BENCH_SINK_TCP ? "tcp" : "file", why);
}

/* A tool has nothing to say but its exit status. */
static const char *tool_verdict(const struct child *c)
{
	return child_ok(c) ? NULL : "it did not exit with 0";
}

/* ---- tcp sinks ------------------------------------------------------------------ */

/* One run of engine v, or (v NULL) of the tool socat. */
static void run_tcp(const char *label, const struct bench_variant *v,
		    const struct bench_opts *o, const struct bench_pin *pin,
		    const struct input *in, struct fsample *s)
{
	struct child *c = malloc(sizeof(*c));
	struct loadgen_sink *sink = calloc(o->sinks, sizeof(*sink));
	uint64_t *first = calloc(o->sinks, sizeof(*first));
	struct loadgen_fanout_result res = { .sink = sink };
	struct loadgen_fanout_opts lo = {
		.host = "127.0.0.1", .sinks = o->sinks, .input = in->bytes,
		.size = in->size, .timeout_ns = FANOUT_TIMEOUT_NS,
		.stall = o->sinks,              /* none */
	};
	struct reported rep;
	const char *why;
	int port, rc;

	if (c == NULL || sink == NULL || first == NULL ||
	    (v != NULL ? child_start(c, v, o, pin, in, BENCH_SINK_TCP, NULL)
		       : socat_start(c, pin, in)) < 0) {
		report_failure(label, BENCH_SINK_TCP, "cannot start the server");
		goto out;
	}
	port = child_port(c);
	if (port < 0) {
		child_kill(c);
		report_failure(label, BENCH_SINK_TCP,
			       "the server did not listen");
		goto out;
	}
	lo.port = (uint16_t)port;
	rc = loadgen_fanout(&lo, &res);
	if (v == NULL) {
		/* socat listens on for good: stop it once its children have
		 * sent everything, after a moment for it to reap them (so
		 * that their CPU is counted in its own). */
		struct timespec reap = { 0, 50 * 1000 * 1000 };
		nanosleep(&reap, NULL);
	}
	if (rc != 0 || v == NULL)
		kill(c->pid, SIGTERM);          /* it may wait for a sink */
	child_finish(c);
	parse_output(c->text, o->sinks, &rep);
	why = rc != 0 ? "a subscriber did not get the input intact"
	      : v != NULL ? server_verdict(c, &rep, o->sinks) : NULL;
	if (why != NULL) {
		report_failure(label, BENCH_SINK_TCP, why);
		goto out;
	}
	for (unsigned i = 0; i < o->sinks; i++)
		first[i] = sink[i].first_ns;
	fill_sample(s, o, in, c, &rep, first, res.elapsed_ns);
	s->ok = 1;
out:
	free(first);
	free(sink);
	free(c);
}

/* ---- file sinks ------------------------------------------------------------------ */

struct watch {
	int wd;
	char path[400];
	uint64_t first, end;     /* clock_now_ns(); 0: not yet */
};

/* Empty sink files, each watched for open, write and close. */
static int watch_sinks(int ino, const char *outdir, struct watch *w,
		       unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int fd;

		snprintf(w[i].path, sizeof(w[i].path), "%s/sink-%u", outdir, i);
		fd = open(w[i].path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0600);
		if (fd < 0)
			return -errno;
		close(fd);
		w[i].first = w[i].end = 0;
		w[i].wd = inotify_add_watch(ino, w[i].path, IN_OPEN |
					    IN_MODIFY | IN_CLOSE_WRITE);
		if (w[i].wd < 0)
			return -errno;
	}
	return 0;
}

/* Take the pending inotify events; *t0 is the first open seen. */
static void take_events(int ino, struct watch *w, unsigned n, uint64_t *t0)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;

	while ((len = read(ino, buf, sizeof(buf))) > 0) {
		uint64_t now = clock_now_ns();
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *e = (const void *)p;
			p += sizeof(*e) + e->len;
			for (unsigned i = 0; i < n; i++) {
				struct stat st;
				if (w[i].wd != e->wd)
					continue;
				if ((e->mask & IN_OPEN) && *t0 == 0)
					*t0 = now;
				if ((e->mask & IN_MODIFY) && w[i].first == 0 &&
				    stat(w[i].path, &st) == 0 &&
				    st.st_size > 0) {
					w[i].first = now;
					/* From now on only the close. */
					inotify_add_watch(ino, w[i].path,
							  IN_OPEN |
							  IN_CLOSE_WRITE);
				}
				if (e->mask & IN_CLOSE_WRITE)
					w[i].end = now;
			}
		}
	}
}

/* Is the file at path exactly the input? */
static bool same_as_input(const char *path, const struct input *in)
{
	struct stat st;
	bool same = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == in->size) {
		map = mmap(NULL, in->size, PROT_READ, MAP_SHARED, fd, 0);
		if (map != MAP_FAILED) {
			same = memcmp(map, in->bytes, in->size) == 0;
			munmap(map, in->size);
		}
	}
	close(fd);
	return same;
}

/* One run of engine v, or (v NULL) of the tool tee. */
static void run_file(const char *label, const struct bench_variant *v,
		     const struct bench_opts *o, const struct bench_pin *pin,
		     const struct input *in, const char *outdir,
		     struct fsample *s)
{
	struct child *c = malloc(sizeof(*c));
	struct watch *w = calloc(o->sinks, sizeof(*w));
	uint64_t *first = calloc(o->sinks, sizeof(*first));
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	uint64_t t0 = 0, started, last = 0;
	struct reported rep;
	const char *why = NULL;

	if (c == NULL || w == NULL || first == NULL || ino < 0 ||
	    watch_sinks(ino, outdir, w, o->sinks) < 0) {
		report_failure(label, BENCH_SINK_FILE,
			       "cannot watch the sinks");
		goto out;
	}
	started = clock_now_ns();
	if ((v != NULL ? child_start(c, v, o, pin, in, BENCH_SINK_FILE, outdir)
		       : tee_start(c, o, pin, in, outdir)) < 0) {
		report_failure(label, BENCH_SINK_FILE,
			       "cannot start the server");
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = ino, .events = POLLIN },
				       { .fd = c->out, .events = POLLIN } };
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		take_events(ino, w, o->sinks, &t0);
		if ((p[1].revents & (POLLIN | POLLHUP)) && child_read(c) <= 0)
			break;                  /* it closed its output: exited */
		if (clock_now_ns() - started > FANOUT_TIMEOUT_NS) {
			kill(c->pid, SIGKILL);
			why = "timed out";
		}
	}
	child_finish(c);
	take_events(ino, w, o->sinks, &t0);
	parse_output(c->text, o->sinks, &rep);
	if (why == NULL)
		why = v != NULL ? server_verdict(c, &rep, o->sinks)
				: tool_verdict(c);
	for (unsigned i = 0; i < o->sinks && why == NULL; i++) {
		if (!same_as_input(w[i].path, in))
			why = "a sink file differs from the input";
		else if (w[i].first == 0 || w[i].end == 0)
			why = "a sink's writes were not seen";
	}
	if (why != NULL) {
		report_failure(label, BENCH_SINK_FILE, why);
		goto out;
	}
	if (t0 == 0)
		t0 = started;
	for (unsigned i = 0; i < o->sinks; i++) {
		first[i] = w[i].first > t0 ? w[i].first - t0 : 0;
		if (w[i].end > last)
			last = w[i].end;
	}
	fill_sample(s, o, in, c, &rep, first, last > t0 ? last - t0 : 1);
	s->ok = 1;
out:
	for (unsigned i = 0; w != NULL && i < o->sinks; i++)
		if (w[i].path[0] != '\0')
			unlink(w[i].path);
	if (ino >= 0)
		close(ino);
	free(first);
	free(w);
	free(c);
}

/* ---- the comparison ------------------------------------------------------------------ */

/* The tool run beside the engines for sinks of `kind`, or NULL: none asked
 * for (--engines lists engines only), or not installed, which is said in
 * one line. */
static const char *fanout_tool(const struct bench_opts *o, unsigned kind)
{
	const char *name = kind == BENCH_SINK_TCP ? "socat" : "tee";
	const char *pkg = kind == BENCH_SINK_TCP ? "socat" : "coreutils";

	if (!(o->sink_kinds & kind) ||
	    (o->engines != NULL && !bench_listed(o->engines, name)))
		return NULL;
	if (!cli_have_program(name)) {
		fprintf(stderr, "pushpoll: bench: fanout: %s missing (apt-get "
			"install %s); its rows are left out\n", name, pkg);
		return NULL;
	}
	return name;
}

static void summarise(const struct fsample *s, int rounds,
		      struct bench_fanout_summary *out)
{
	double v[BENCH_MAX_ROUNDS];

	for (int f = 0; f < BENCH_FF_COUNT; f++) {
		int n = 0;
		for (int r = 0; r < rounds; r++)
			if (s[r].ok)
				v[n++] = s[r].v[f];
		out->rounds_ok = n;
		if (n > 0)
			bench__stats(v, n, &out->med[f], &out->min[f],
				     &out->max[f]);
	}
}

/* bench__select() looked at the completion rows' echo entry point: keep
 * those whose engine also has a fanout over completions.  Returns how
 * many rows are left in v. */
static int keep_fanout_rows(const struct bench_variant **v, int n)
{
	int kept = 0;

	for (int i = 0; i < n; i++)
		if (!v[i]->completion ||
		    bench_engine_completion(v[i]->engine, true))
			v[kept++] = v[i];
	return kept;
}

int bench__fanout_run(const struct bench_opts *o,
		      struct bench_fanout_summary *out, int max)
{
	const struct bench_variant *v[BENCH_MAX_ENGINES];
	const unsigned kinds[2] = { BENCH_SINK_TCP, BENCH_SINK_FILE };
	struct input in[BENCH_MAX_SIZES];
	struct fsample (*samples)[BENCH_MAX_ROUNDS];
	struct bench_pin pin;
	char dir[256], outdir[300];
	const char *tmp = getenv("TMPDIR");
	const char *tool[2] = { fanout_tool(o, kinds[0]),
				fanout_tool(o, kinds[1]) };
	int nv = bench__select(o, v, BENCH_MAX_ENGINES), n = 0, err = 0;
	int rounds = o->rounds < BENCH_MAX_ROUNDS ? o->rounds
						  : BENCH_MAX_ROUNDS;

	nv = keep_fanout_rows(v, nv);
	memset(in, 0, sizeof(in));
	/* The configurations, in table order: size, sink kind, engine, and
	 * last the kind's tool. */
	for (int z = 0; z < o->nsizes; z++)
		for (int k = 0; k < 2; k++)
			for (int i = 0; i <= nv; i++) {
				if (!(o->sink_kinds & kinds[k]) || n >= max ||
				    (i == nv && tool[k] == NULL))
					continue;
				memset(&out[n], 0, sizeof(out[n]));
				out[n].engine = i < nv ? v[i]->label : tool[k];
				out[n].tool = i == nv;
				out[n].sink_kind = kinds[k];
				out[n].file_size = o->file_size[z];
				n++;
			}
	if (n == 0)
		return 0;
	samples = calloc((size_t)n, sizeof(*samples));
	snprintf(dir, sizeof(dir), "%s/pushpoll-bench-XXXXXX",
		 tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (samples == NULL || mkdtemp(dir) == NULL) {
		free(samples);
		return -errno;
	}
	snprintf(outdir, sizeof(outdir), "%s/out", dir);
	if (mkdir(outdir, 0700) < 0)
		err = -errno;
	for (int z = 0; z < o->nsizes && err == 0; z++) {
		bench__progress(o, "fanout", 0, "(input)", 0, 0);
		err = input_make(&in[z], dir, z, o->file_size[z]);
	}
	signal(SIGPIPE, SIG_IGN);
	bench__pin_begin(o, &pin);
	for (int r = 0; r < rounds && err == 0; r++) {
		for (int k = 0; k < n; k++) {
			int c = bench__turn(r, k, n), z = 0;
			while (o->file_size[z] != out[c].file_size)
				z++;
			bench__progress(o, "fanout", r + 1, out[c].engine,
					r * n + k + 1, rounds * n);
			const struct bench_variant *var = NULL;
			for (int i = 0; i < nv && !out[c].tool; i++)
				if (strcmp(v[i]->label, out[c].engine) == 0)
					var = v[i];
			if (out[c].sink_kind == BENCH_SINK_TCP)
				run_tcp(out[c].engine, var, o, &pin, &in[z],
					&samples[c][r]);
			else
				run_file(out[c].engine, var, o, &pin, &in[z],
					 outdir, &samples[c][r]);
		}
	}
	bench__pin_end(&pin);
	bench__progress_done(o);
	for (int c = 0; c < n && err == 0; c++)
		summarise(samples[c], rounds, &out[c]);
	for (int z = 0; z < o->nsizes; z++)
		if (in[z].path[0] != '\0')
			input_free(&in[z]);
	rmdir(outdir);
	rmdir(dir);
	free(samples);
	return err < 0 ? err : n;
}
