/* completion_uring.c: the io_uring backend of completion.h, through liburing.
 *
 * One ring, made as the io_uring floor's (uring_setup.h: one issuer,
 * completion work kept until the thread enters to wait), and otherwise
 * used the plain way: no submission polling thread, no registered files,
 * no fixed buffers, so that the figures measure the interface and not its
 * tuning options.
 *
 * Batching.  A submit call only fills a submission queue entry (SQE); the
 * entries go to the kernel together, in the next completion_poll(), in the
 * same io_uring_enter(2) that waits for completions
 * (io_uring_submit_and_wait_timeout(), one system call where the kernel
 * has IORING_FEAT_EXT_ARG, 5.11, which creation requires).  A poll enters
 * only when it has something to submit or must wait; with completions
 * ready and nothing queued it reads them from the shared ring and makes no
 * system call at all.  Only a full submission queue costs an extra enter,
 * in the submit call that found it full.  A poll that may not wait enters
 * too when the kernel holds completion work that only an enter runs
 * (uring_has_pending_work(): a ring whose work is deferred posts no CQE
 * by itself), so that polling with timeout 0 still sees every completion.
 *
 * user_data.  Every SQE of an op carries the op's address, and its
 * completion queue entry (CQE) brings it back; the op's own user_data is
 * copied from it.  The backend's own SQEs (a cancel, a timeout removal)
 * carry 0, and their CQEs are consumed here: a cancel posts nothing
 * (completion.h, rule 3), the cancelled op's own CQE says how it ended.
 *
 * Multishot.  Probed at creation: multishot accept came with 5.19 (with
 * IORING_OP_SOCKET, which the probe can see), multishot recv and provided
 * buffer rings with 6.0 (with IORING_OP_SEND_ZC), and a buffer ring is
 * registered once to be sure.  Without multishot accept, the backend
 * re-arms a single accept after each connection (op->emulated), and a
 * cancel that finds the op between two accepts is sent again with the
 * re-armed one, so that the final completion still comes.  Setting
 * PUSHPOLL_URING_NO_MULTISHOT=1 in the environment makes the probe find
 * neither, so the fallbacks can be tested on a kernel that has both.
 */
#include "config.h"

#include "completion_impl.h"
#include "reactor.h"        /* reactor_resolve() */
#include "uring_setup.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct uring {
	struct completion base;   /* first: a completion * is a uring * */
	struct io_uring ring;
	bool multishot_accept, multishot_recv;
	struct io_uring_buf_ring *rings[COMPLETION_GROUPS];
};

static const struct completion_ops uring_ops;

static struct uring *to_uring(struct completion *q)
{
	assert(q->ops == &uring_ops);
	return (struct uring *)q;
}

/* ---- life ---------------------------------------------------------------- */

/* uring_setup.h says why these flags, best first, and what each asks of
 * the reaper.  The last is the plain ring. */
static const unsigned setup_flags[] = {
	IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,                      /* 6.1 */
	IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,  /* 5.19 */
	0,
};
#define NSETUP_FLAGS (sizeof setup_flags / sizeof setup_flags[0])

int uring_setup(unsigned entries, struct io_uring *ring,
		struct io_uring_params *params)
{
	const char *plain = getenv("PUSHPOLL_URING_PLAIN");
	unsigned i = plain != NULL && strcmp(plain, "1") == 0
		     ? NSETUP_FLAGS - 1 : 0;
	int err;

	for (;; i++) {
		memset(params, 0, sizeof *params);
		params->flags = setup_flags[i];
		err = io_uring_queue_init_params(entries, ring, params);
		if (err != -EINVAL || i == NSETUP_FLAGS - 1)
			return err;
	}
}

/* Register a one-buffer ring as group `COMPLETION_GROUPS - 1` and take it
 * away again: whether provided buffer rings work. */
static bool buf_ring_works(struct uring *u)
{
	struct io_uring_buf_reg reg;
	void *mem;
	bool ok;

	if (posix_memalign(&mem, 4096, 4096) != 0)
		return false;
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (uintptr_t)mem;
	reg.ring_entries = 1;
	reg.bgid = COMPLETION_GROUPS - 1;
	ok = io_uring_register_buf_ring(&u->ring, &reg, 0) == 0;
	if (ok)
		io_uring_unregister_buf_ring(&u->ring, COMPLETION_GROUPS - 1);
	free(mem);
	return ok;
}

static void probe(struct uring *u)
{
	struct io_uring_probe *p = io_uring_get_probe_ring(&u->ring);
	const char *off = getenv("PUSHPOLL_URING_NO_MULTISHOT");

	if (p == NULL || (off != NULL && strcmp(off, "1") == 0)) {
		io_uring_free_probe(p);
		return;
	}
	u->multishot_accept = io_uring_opcode_supported(p, IORING_OP_SOCKET);
	u->multishot_recv = io_uring_opcode_supported(p, IORING_OP_SEND_ZC) &&
			    buf_ring_works(u);
	io_uring_free_probe(p);
}

int completion_new_uring(unsigned entries, struct completion **out,
			 char *why, size_t why_len)
{
	struct io_uring_params params;
	struct uring *u;
	int err;

	*out = NULL;
	u = calloc(1, sizeof *u);
	if (u == NULL) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	u->base.ops = &uring_ops;
	/* A queue belongs to one thread (completion.h), which waits in
	 * every poll that finds nothing ready: what uring_setup() asks. */
	err = uring_setup(entries ? entries : 256, &u->ring, &params);
	if (err < 0) {
		completion_uring_why(err, why, why_len);
		free(u);
		return err;
	}
	if (!(params.features & IORING_FEAT_EXT_ARG) ||
	    !(params.features & IORING_FEAT_NODROP)) {
		snprintf(why, why_len, "this kernel's io_uring is too old "
			 "(waiting with a time-out in one system call needs "
			 "Linux 5.11)");
		io_uring_queue_exit(&u->ring);
		free(u);
		return -EOPNOTSUPP;
	}
	probe(u);
	*out = &u->base;
	return 0;
}

static void uring_free(struct completion *q)
{
	struct uring *u = to_uring(q);

	for (unsigned g = 0; g < COMPLETION_GROUPS; g++) {
		if (u->rings[g] == NULL)
			continue;
		io_uring_unregister_buf_ring(&u->ring, (int)g);
		free(u->rings[g]);
	}
	io_uring_queue_exit(&u->ring);
	free(u);
}

static bool uring_supports(const struct completion *q,
			   enum completion_feature f)
{
	const struct uring *u = (const struct uring *)q;

	switch (f) {
	case COMPLETION_FEATURE_MULTISHOT_ACCEPT:
		return u->multishot_accept;
	case COMPLETION_FEATURE_MULTISHOT_RECV:
		return u->multishot_recv;
	}
	return false;
}

/* ---- submitting ---------------------------------------------------------- */

/* A free SQE.  A full queue is handed to the kernel first: the one case in
 * which a submit call enters.  NULL if even that fails. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (sqe == NULL) {
		u->base.stats.enters++;
		if (io_uring_submit(&u->ring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

/* Fill an SQE for op; the connect's socket is op->handle already. */
static void prep(struct uring *u, struct io_uring_sqe *sqe,
		 struct completion_op *op)
{
	struct __kernel_timespec *ts = (struct __kernel_timespec *)op->space;

	switch (op->kind) {
	case COMPLETION_ACCEPT:
		io_uring_prep_accept(sqe, op->handle, NULL, NULL, SOCK_CLOEXEC);
		break;
	case COMPLETION_ACCEPT_MULTISHOT:
		if (op->emulated)
			io_uring_prep_accept(sqe, op->handle, NULL, NULL,
					     SOCK_CLOEXEC);
		else
			io_uring_prep_multishot_accept(sqe, op->handle, NULL,
						       NULL, SOCK_CLOEXEC);
		break;
	case COMPLETION_CONNECT:
		io_uring_prep_connect(sqe, op->handle,
				      (struct sockaddr *)op->space,
				      sizeof(struct sockaddr_in));
		break;
	case COMPLETION_RECV:
		io_uring_prep_recv(sqe, op->handle, op->buf, op->len, 0);
		break;
	case COMPLETION_RECV_MULTISHOT:
		io_uring_prep_recv_multishot(sqe, op->handle, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = (__u16)op->group;
		break;
	case COMPLETION_RECV_SELECT:
		io_uring_prep_recv(sqe, op->handle, NULL,
				   u->base.groups[op->group].size, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = (__u16)op->group;
		break;
	case COMPLETION_SEND:
		io_uring_prep_send(sqe, op->handle, op->buf, op->len,
				   MSG_NOSIGNAL);
		break;
	case COMPLETION_FILE_READ:
		io_uring_prep_read(sqe, op->handle, op->buf, (unsigned)op->len,
				   op->offset);
		break;
	case COMPLETION_FILE_WRITE:
		io_uring_prep_write(sqe, op->handle, op->buf,
				    (unsigned)op->len, op->offset);
		break;
	case COMPLETION_TIMEOUT:
		ts->tv_sec = (long long)(op->offset / 1000000000u);
		ts->tv_nsec = (long long)(op->offset % 1000000000u);
		io_uring_prep_timeout(sqe, ts, 0, 0);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
}

/* Queue a request that op be cancelled; its CQE carries 0. */
static int prep_cancel(struct uring *u, struct completion_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (sqe == NULL)
		return -EBUSY;
	if (op->kind == COMPLETION_TIMEOUT)
		io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)op, 0);
	else
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
	io_uring_sqe_set_data64(sqe, 0);
	return 0;
}

static int uring_submit(struct completion *q, struct completion_op *op,
			const struct sockaddr_in *to)
{
	struct uring *u = to_uring(q);
	struct io_uring_sqe *sqe = get_sqe(u);
	int fd;

	if (sqe == NULL)
		return -EBUSY;
	if (op->kind == COMPLETION_ACCEPT_MULTISHOT)
		op->emulated = !u->multishot_accept;
	if (op->kind == COMPLETION_CONNECT) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			/* an SQE taken and not filled would go out as
			 * garbage: make it a no-op that reports to nobody */
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_data64(sqe, 0);
			return -errno;
		}
		op->handle = fd;
		memcpy(op->space, to, sizeof *to);
	}
	prep(u, sqe, op);
	return 0;
}

static int uring_cancel(struct completion *q, struct completion_op *op)
{
	return prep_cancel(to_uring(q), op);
}

/* ---- the loop ------------------------------------------------------------ */

static void uring_buffer_return(struct completion *q, unsigned group,
			       unsigned id);

/* What a CQE of op says, and whether it is final; re-arms an emulated
 * multishot accept and gives back a buffer a receive picked
 * without bytes. */
static void translate(struct uring *u, struct completion_op *op,
		      const struct io_uring_cqe *cqe,
		      struct completion_event *ev)
{
	ssize_t res = cqe->res;
	unsigned flags = 0, buf_id = 0;
	struct io_uring_sqe *sqe;

	if (cqe->flags & IORING_CQE_F_MORE)
		flags |= COMPLETION_MORE;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		flags |= COMPLETION_BUFFER;
		buf_id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	}
	switch (op->kind) {
	case COMPLETION_TIMEOUT:
		if (res == -ETIME)
			res = 0;
		break;
	case COMPLETION_CONNECT:
		if (res == 0) {
			res = op->handle;
		} else {
			close(op->handle);
		}
		break;
	case COMPLETION_ACCEPT_MULTISHOT:
		if (!op->emulated || res < 0)
			break;
		sqe = get_sqe(u);
		if (sqe == NULL)
			break;            /* final, with this connection */
		prep(u, sqe, op);
		flags |= COMPLETION_MORE;
		/* a cancel that came between two accepts found nothing to
		 * cancel: ask again, for the accept just re-armed */
		if (op->cancel_requested)
			prep_cancel(u, op);
		break;
	case COMPLETION_RECV_SELECT:
		/* the contract: a buffer only with bytes in it */
		if (res <= 0 && (flags & COMPLETION_BUFFER)) {
			uring_buffer_return(&u->base, op->group, buf_id);
			flags &= ~(unsigned)COMPLETION_BUFFER;
		}
		break;
	default:
		break;
	}
	completion__post(&u->base, op, res, flags, buf_id, ev);
}

static int uring_poll(struct completion *q, int64_t timeout_ns,
		      struct completion_event *out, unsigned max)
{
	struct uring *u = to_uring(q);
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;
	int err = 0;

	if (io_uring_cq_ready(&u->ring) == 0 && timeout_ns != 0) {
		u->base.stats.enters++;
		if (timeout_ns < 0) {
			err = io_uring_submit_and_wait(&u->ring, 1);
		} else {
			ts.tv_sec = timeout_ns / 1000000000;
			ts.tv_nsec = timeout_ns % 1000000000;
			err = io_uring_submit_and_wait_timeout(&u->ring, &cqe,
							       1, &ts, NULL);
		}
	} else if (io_uring_cq_ready(&u->ring) == 0 &&
		   (io_uring_sq_ready(&u->ring) > 0 ||
		    uring_has_pending_work(&u->ring))) {
		/* may not wait: submit, and run the work that posts CQEs */
		u->base.stats.enters++;
		err = io_uring_submit_and_get_events(&u->ring);
	} else if (io_uring_sq_ready(&u->ring) > 0) {
		u->base.stats.enters++;
		err = io_uring_submit(&u->ring);
	}
	if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN &&
	    err != -EBUSY)
		return err;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		uint64_t ud = cqe->user_data;

		if (n == max)
			break;
		seen++;
		if (ud == 0 || ud == LIBURING_UDATA_TIMEOUT)
			continue;   /* the backend's own: a cancel's answer */
		translate(u, (struct completion_op *)(uintptr_t)ud, cqe,
			  &out[n++]);
	}
	io_uring_cq_advance(&u->ring, seen);
	return (int)n;
}

/* ---- provided buffers ---------------------------------------------------- */

static int uring_buffers_provide(struct completion *q, unsigned group,
				 void *base, size_t size, unsigned count)
{
	struct uring *u = to_uring(q);
	struct io_uring_buf_reg reg;
	struct io_uring_buf_ring *br;
	void *mem;
	int err;

	if (posix_memalign(&mem, 4096, count * sizeof(struct io_uring_buf)))
		return -ENOMEM;
	br = mem;
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (uintptr_t)br;
	reg.ring_entries = count;
	reg.bgid = (__u16)group;
	err = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (err < 0) {
		free(mem);
		return err;
	}
	io_uring_buf_ring_init(br);
	for (unsigned i = 0; i < count; i++)
		io_uring_buf_ring_add(br, (unsigned char *)base + i * size,
				      (unsigned)size, (unsigned short)i,
				      io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(br, (int)count);
	u->rings[group] = br;
	return 0;
}

static void uring_buffer_return(struct completion *q, unsigned group,
				unsigned id)
{
	struct uring *u = to_uring(q);
	const struct completion_group *g = &q->groups[group];

	io_uring_buf_ring_add(u->rings[group], g->base + (size_t)id * g->size,
			      (unsigned)g->size, (unsigned short)id,
			      io_uring_buf_ring_mask(g->count), 0);
	io_uring_buf_ring_advance(u->rings[group], 1);
}

/* ---- handles ------------------------------------------------------------- */

static int uring_listen(struct completion *q, const char *host,
			uint16_t port, int backlog)
{
	struct sockaddr_in sa;
	int fd, one = 1, err;

	err = reactor_resolve(host, port, &sa);
	if (err < 0)
		return err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, backlog) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int uring_local_port(struct completion *q, int handle)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;

	if (getsockname(handle, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	return ntohs(sa.sin_port);
}

static int uring_file_open(struct completion *q, const char *path, int flags,
			   int mode)
{
	int fd = open(path, flags | O_CLOEXEC, mode);

	return fd < 0 ? -errno : fd;
}

static int uring_shutdown_write(struct completion *q, int handle)
{
	return shutdown(handle, SHUT_WR) < 0 ? -errno : 0;
}

static int uring_close(struct completion *q, int handle)
{
	return close(handle) < 0 ? -errno : 0;
}

static const struct completion_ops uring_ops = {
	.name = "uring",
	.free = uring_free,
	.supports = uring_supports,
	.poll = uring_poll,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.buffers_provide = uring_buffers_provide,
	.buffer_return = uring_buffer_return,
	.listen = uring_listen,
	.local_port = uring_local_port,
	.file_open = uring_file_open,
	.shutdown_write = uring_shutdown_write,
	.close = uring_close,
};
