/* reactor_epoll.c: the reactor over Linux epoll, eventfd and sockets.
 *
 * One reactor_poll() (ep_poll()) is five steps, one call each:
 *
 *   1. poll_timeout()         the wait, cut to the earliest timer deadline;
 *   2. epoll_wait()           into a batch array allocated at creation;
 *   3. dispatch_batch()       io callbacks, in the order the kernel gave them;
 *   4. run_wakeups()          if the eventfd fired: drain it, run sent asyncs;
 *   5. reactor__timers_run()  every timer whose deadline has passed.
 *
 * An interrupted wait (EINTR: a signal arrived) ends the call at step 2 and
 * returns 0, so the caller sees a stop request its signal handler made.
 *
 * Every watched handle is registered once, edge-triggered, for both
 * directions (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET), so starting a
 * watcher costs one epoll_ctl() and an engine never pays an epoll_ctl() to
 * switch between waiting for reads and waiting for writes.  The price is the
 * edge-triggered rule of reactor.h: an engine must try an operation until it
 * says -EAGAIN before it waits.
 *
 * Memory: the reactor, its batch array and nothing else are allocated, both in
 * reactor_new_epoll() through mem_alloc().  Polling, watching, timers, asyncs
 * and the I/O calls never allocate (getaddrinfo() for a host name is the one
 * exception: it is libc's, for a name that is not a numeric address).
 *
 * The I/O calls are thin: one system call each, unless noted.
 */
#include "config.h"      /* first: _GNU_SOURCE, for accept4() */

#include "reactor_impl.h"
#include "clock.h"
#include "mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Events taken from the kernel per epoll_wait().  More ready handles than
 * this simply stay on the kernel's ready list for the next call. */
#define EPOLL_BATCH 256

struct reactor_epoll {
	struct reactor base;          /* first: a reactor * is a reactor_epoll * */
	int epfd;
	int wakefd;                   /* eventfd: wakeup() writes, poll drains */
	int reserve_fd;               /* /dev/null, closed to shed a connection on EMFILE; -1 if lost */
	struct epoll_event *batch;    /* EPOLL_BATCH entries, from mem_alloc() */
	/* The batch being dispatched: entries pos+1 .. len-1 are still to come.
	 * len is 0 outside dispatch_batch(). */
	int batch_len;
	int batch_pos;
};

static struct reactor_epoll *to_ep(const struct reactor *r)
{
	return (struct reactor_epoll *)r;
}

/* The eventfd's registration carries this pointer instead of a watcher's. */
static void *wake_tag(struct reactor_epoll *ep)
{
	return &ep->wakefd;
}

/* ---- life ---------------------------------------------------------------- */

static void ep_destroy(struct reactor *r)
{
	struct reactor_epoll *ep = to_ep(r);

	close(ep->epfd);
	close(ep->wakefd);
	if (ep->reserve_fd >= 0)
		close(ep->reserve_fd);
	mem_free(ep->batch);
	mem_free(ep);
}

static uint64_t ep_now(const struct reactor *r)
{
	return clock_now_ns();
}

/* Async-signal-safe and thread-safe: one write(2) to the eventfd, which adds
 * to its counter.  errno is preserved for the interrupted code of a signal
 * handler.  The write cannot fail in practice (-EAGAIN only if the counter
 * reached 2^64 - 2), and a lost wake-up there would still leave the counter
 * readable. */
static void ep_wakeup(struct reactor *r)
{
	struct reactor_epoll *ep = to_ep(r);
	int saved = errno;
	uint64_t one = 1;
	ssize_t n;

	n = write(ep->wakefd, &one, sizeof(one));
	(void)n;
	errno = saved;
}

/* ---- the loop ------------------------------------------------------------ */

/* Step 1: how long epoll_wait() may block, in ms: the caller's limit, cut to
 * the earliest timer deadline, rounded up (rounding down would wake before
 * the deadline and spin).  Timers therefore have 1 ms resolution; -1 means
 * no limit. */
static int poll_timeout(struct reactor *r, int64_t timeout_ns)
{
	uint64_t next = reactor__timer_next(r);
	uint64_t wait_ns = timeout_ns < 0 ? UINT64_MAX : (uint64_t)timeout_ns;
	uint64_t ms;

	if (next != UINT64_MAX) {
		uint64_t now = clock_now_ns();
		uint64_t until = next > now ? next - now : 0;
		if (until < wait_ns)
			wait_ns = until;
	}
	if (wait_ns == UINT64_MAX)
		return -1;
	ms = wait_ns / CLOCK_NS_PER_MS + (wait_ns % CLOCK_NS_PER_MS != 0);
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static unsigned map_events(uint32_t e)
{
	unsigned ev = 0;

	if (e & (EPOLLIN | EPOLLRDHUP))
		ev |= REACTOR_READABLE;
	if (e & EPOLLOUT)
		ev |= REACTOR_WRITABLE;
	if (e & (EPOLLHUP | EPOLLERR))
		ev |= REACTOR_HANGUP | REACTOR_READABLE | REACTOR_WRITABLE;
	return ev;
}

/* Step 3: run the io callbacks of the batch in kernel order.  An entry whose
 * watcher was stopped by an earlier callback of the same batch has had its
 * pointer cleared by ep_io_stop() and is skipped; that is what lets a
 * callback stop and free any watcher.  Before each callback the watcher's
 * reactor_io_read() state is updated: a readable edge means the socket may
 * hold data again; a close or error means short reads prove nothing more.
 * Returns the callbacks run; *woken says whether the eventfd was among the
 * events. */
static int dispatch_batch(struct reactor_epoll *ep, int n, bool *woken)
{
	int ran = 0;

	ep->batch_len = n;
	for (ep->batch_pos = 0; ep->batch_pos < n; ep->batch_pos++) {
		struct epoll_event *e = &ep->batch[ep->batch_pos];
		struct reactor_io *io;
		unsigned ev;

		if (e->data.ptr == NULL)        /* stopped earlier in this batch */
			continue;
		if (e->data.ptr == wake_tag(ep)) {
			*woken = true;
			continue;
		}
		io = e->data.ptr;
		ev = map_events(e->events);
		if (ev & REACTOR_READABLE)      /* reactor_io_read() may read */
			io->drained = false;
		if (e->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			io->peer_closed = true;
		io->cb(io, ev);
		ran++;
	}
	ep->batch_len = 0;
	ep->batch_pos = 0;
	return ran;
}

/* Step 4: drain the eventfd (one read resets its counter to 0), then run the
 * asyncs that were sent.  Draining first means a send that lands while the
 * asyncs run writes the eventfd again and is seen by the next poll. */
static int run_wakeups(struct reactor_epoll *ep)
{
	uint64_t count;
	ssize_t n;

	n = read(ep->wakefd, &count, sizeof(count));
	(void)n; /* -EAGAIN: a previous poll drained it already */
	return reactor__asyncs_run(&ep->base);
}

/* Cost per call: one epoll_wait(), one clock read per step that needs it, one
 * read() of the eventfd when it fired.  No allocation. */
static int ep_poll(struct reactor *r, int64_t timeout_ns)
{
	struct reactor_epoll *ep = to_ep(r);
	bool woken = false;
	int n, ran;

	n = epoll_wait(ep->epfd, ep->batch, EPOLL_BATCH,
		       poll_timeout(r, timeout_ns));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	ran = dispatch_batch(ep, n, &woken);
	if (woken)
		ran += run_wakeups(ep);
	if (reactor__timer_next(r) != UINT64_MAX)    /* step 5 */
		ran += reactor__timers_run(r, clock_now_ns(), -1);
	return ran;
}

/* ---- io watchers --------------------------------------------------------- */

/* One epoll_ctl(ADD).  The kernel reports the handle's current state at once
 * if it is already readable or writable, so no edge that happened before the
 * start is lost. */
static int ep_io_start(struct reactor *r, struct reactor_io *io)
{
	struct reactor_epoll *ep = to_ep(r);
	struct epoll_event e = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = io,
	};

	if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, io->handle, &e) < 0)
		return -errno;
	return 0;
}

/* One epoll_ctl(DEL), plus, inside a dispatch, a scan of the rest of the
 * batch (at most EPOLL_BATCH entries) that clears entries for io, so that
 * its callback is not run even for an edge already collected. */
static void ep_io_stop(struct reactor *r, struct reactor_io *io)
{
	struct reactor_epoll *ep = to_ep(r);

	/* Fails only if the handle was closed first, which already removed it
	 * from the epoll set: nothing to do then. */
	(void)epoll_ctl(ep->epfd, EPOLL_CTL_DEL, io->handle, NULL);
	for (int i = ep->batch_pos + 1; i < ep->batch_len; i++)
		if (ep->batch[i].data.ptr == io)
			ep->batch[i].data.ptr = NULL;
}

/* ---- streams ------------------------------------------------------------- */

/* reactor.h: resolved here, where the epoll backend's sockets are made;
 * the hand-written baselines use it too, so that every server binds the
 * same address for the same --host. */
int reactor_resolve(const char *host, uint16_t port, struct sockaddr_in *sa)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int err;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	if (host == NULL || host[0] == '\0' || strcmp(host, "*") == 0) {
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	err = getaddrinfo(host, NULL, &hints, &res);
	if (err == EAI_SYSTEM)
		return -errno;
	if (err == EAI_MEMORY)
		return -ENOMEM;
	if (err != 0)
		return -EHOSTUNREACH;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

/* Small writes leave at once: echo-style request/response traffic must not
 * wait for Nagle's algorithm. */
static void set_nodelay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* socket, SO_REUSEADDR (a restarted server can bind while old connections
 * sit in TIME_WAIT), bind, listen: four system calls.  backlog <= 0 means
 * SOMAXCONN. */
static int ep_listen(struct reactor *r, const char *host, uint16_t port,
		     int backlog)
{
	struct sockaddr_in sa;
	int fd, err, one = 1;

	err = reactor_resolve(host, port, &sa);
	if (err < 0)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
		err = -errno;
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return err;
}

static int ep_local_port(struct reactor *r, int handle)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (getsockname(handle, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (sa.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	return ntohs(sa.sin_port);
}

/* Out of descriptors, a pending connection can be neither taken nor left
 * (left, it keeps the listener readable and a level-triggered loop spins;
 * an edge-triggered one forgets it and the peer hangs).  So give back the
 * reserve descriptor, accept the connection on it, close it (the peer sees a
 * close), and take the reserve again: three more system calls.
 *
 * The kernel takes a descriptor before it looks at the queue, so with the
 * table full accept4() says EMFILE whether or not a connection is pending;
 * the accept on the reserve tells which.  Hence the return: err when a
 * connection was shed, -EAGAIN when none was pending, so that "accept until
 * -EAGAIN" ends even while the table stays full.
 *
 * Another thread may win the freed descriptor in between; the reserve is
 * then lost (-1) until a later call can reopen it, and meanwhile err is
 * returned with nothing shed. */
static int shed_connection(struct reactor_epoll *ep, int listener, int err)
{
	int fd;

	if (ep->reserve_fd < 0)
		ep->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ep->reserve_fd < 0)
		return err;
	close(ep->reserve_fd);
	fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	else if (errno == EAGAIN)
		err = -EAGAIN;
	ep->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return err;
}

/* One accept4() (plus one setsockopt() for TCP_NODELAY).  Each call that
 * returns -EMFILE or -ENFILE has shed one pending connection: an engine that
 * keeps calling until -EAGAIN drains the backlog and never spins. */
static int ep_accept(struct reactor *r, int listener)
{
	int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		int err = -errno;
		if (err == -EMFILE || err == -ENFILE)
			return shed_connection(to_ep(r), listener, err);
		return err;
	}
	set_nodelay(fd);
	return fd;
}

/* Non-blocking connect: the handshake goes on in the kernel, and the handle
 * becomes writable when it is over.  A failure the kernel knows at once
 * (no route, or a refusal already received on loopback) is returned here as
 * -errno instead of a handle. */
static int ep_connect(struct reactor *r, const char *host, uint16_t port)
{
	struct sockaddr_in sa;
	int fd, err;

	err = reactor_resolve(host, port, &sa);
	if (err < 0)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* SO_ERROR: the outcome of the handshake, read once the handle is writable.
 * The kernel clears the error as it reports it: a second call says 0. */
static int ep_connect_result(struct reactor *r, int handle)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(handle, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		return -errno;
	return -soerr;
}

/* recv(2): the handle must be a socket.
 *
 * Why a short read drains (short_read_drains, for reactor_io_read()): a
 * stream socket's recv() copies from its receive queue, and from the
 * backlog of packets that arrived while it held the socket, until the
 * buffer is full or both are empty; so fewer bytes than asked means both
 * were empty.  A packet that arrives after that wakes the socket's epoll
 * entry and puts it back on the ready list, edge-triggered or not: the next
 * epoll_wait() reports it.  This is the rule nginx and the epoll baseline
 * read by.  The one thing it does not cover is a FIN that came before the
 * read, together with the data: it is reported (EPOLLRDHUP) once, hence
 * peer_closed. */
static ssize_t ep_read(struct reactor *r, int handle, void *buf, size_t n)
{
	ssize_t got = recv(handle, buf, n, 0);

	return got < 0 ? -errno : got;
}

/* send(2) with MSG_NOSIGNAL: writing to a closed connection returns -EPIPE
 * instead of killing the process with SIGPIPE, without touching the
 * process's signal dispositions. */
static ssize_t ep_write(struct reactor *r, int handle, const void *buf,
			size_t n)
{
	ssize_t put = send(handle, buf, n, MSG_NOSIGNAL);

	return put < 0 ? -errno : put;
}

static int ep_shutdown_write(struct reactor *r, int handle)
{
	return shutdown(handle, SHUT_WR) < 0 ? -errno : 0;
}

/* close(2) releases the descriptor even when it reports an error, so the
 * handle is gone whatever this returns. */
static int ep_close(struct reactor *r, int handle)
{
	return close(handle) < 0 ? -errno : 0;
}

/* ---- regular files: plain blocking calls, one system call each ----------- */

static int ep_file_open(struct reactor *r, const char *path, int flags,
			int mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	return fd < 0 ? -errno : fd;
}

static ssize_t ep_file_pread(struct reactor *r, int handle, void *buf,
			     size_t n, uint64_t offset)
{
	ssize_t got = pread(handle, buf, n, (off_t)offset);

	return got < 0 ? -errno : got;
}

static ssize_t ep_file_pwrite(struct reactor *r, int handle, const void *buf,
			      size_t n, uint64_t offset)
{
	ssize_t put = pwrite(handle, buf, n, (off_t)offset);

	return put < 0 ? -errno : put;
}

static int64_t ep_file_size(struct reactor *r, int handle)
{
	struct stat st;

	if (fstat(handle, &st) < 0)
		return -errno;
	return st.st_size;
}

static int ep_file_close(struct reactor *r, int handle)
{
	return close(handle) < 0 ? -errno : 0;
}

/* ---- the table and the constructor --------------------------------------- */

static const struct reactor_ops epoll_ops = {
	.name = "epoll",
	.destroy = ep_destroy,
	.now = ep_now,
	.poll = ep_poll,
	.wakeup = ep_wakeup,
	.io_start = ep_io_start,
	.io_stop = ep_io_stop,
	.listen = ep_listen,
	.local_port = ep_local_port,
	.accept = ep_accept,
	.connect = ep_connect,
	.connect_result = ep_connect_result,
	.read = ep_read,
	.short_read_drains = true,
	.write = ep_write,
	.shutdown_write = ep_shutdown_write,
	.close = ep_close,
	.file_open = ep_file_open,
	.file_pread = ep_file_pread,
	.file_pwrite = ep_file_pwrite,
	.file_size = ep_file_size,
	.file_close = ep_file_close,
};

/* The only allocations the epoll reactor makes: itself and its batch. */
struct reactor *reactor_new_epoll(void)
{
	struct reactor_epoll *ep;
	struct epoll_event e = { .events = EPOLLIN };
	int err;

	ep = mem_alloc(sizeof(*ep));
	if (ep == NULL)
		goto out_nomem;
	reactor__init(&ep->base, &epoll_ops);
	ep->batch_len = 0;
	ep->batch_pos = 0;
	ep->epfd = ep->wakefd = ep->reserve_fd = -1;
	ep->batch = mem_alloc(EPOLL_BATCH * sizeof(*ep->batch));
	if (ep->batch == NULL)
		goto out_free_reactor;

	ep->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ep->epfd < 0)
		goto out_close_fds;
	ep->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ep->wakefd < 0)
		goto out_close_fds;
	ep->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (ep->reserve_fd < 0)
		goto out_close_fds;
	/* Level-triggered: the eventfd stays readable until run_wakeups()
	 * drains it, so a wake-up cannot be missed. */
	e.data.ptr = wake_tag(ep);
	if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->wakefd, &e) < 0)
		goto out_close_fds;
	return &ep->base;

out_close_fds:
	err = errno;
	if (ep->reserve_fd >= 0)
		close(ep->reserve_fd);
	if (ep->wakefd >= 0)
		close(ep->wakefd);
	if (ep->epfd >= 0)
		close(ep->epfd);
	mem_free(ep->batch);
	mem_free(ep);
	errno = err;
	return NULL;
out_free_reactor:
	mem_free(ep);
out_nomem:
	errno = ENOMEM;
	return NULL;
}
