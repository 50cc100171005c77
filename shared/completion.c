/* completion.c: what every completion backend shares (completion.h).
 *
 * The op's two states live here: a submit call that the backend accepts
 * makes the op in flight, and completion__post() makes it idle again when
 * it posts the final completion.  So "exactly once" is enforced in one
 * place: a backend that posted a second final completion for an op would
 * find it idle, and the assertion there says so.
 */
#include "config.h"

#include "completion_impl.h"
#include "reactor.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void completion__post(struct completion *q, struct completion_op *op,
		      ssize_t result, unsigned flags, unsigned buf_id,
		      struct completion_event *ev)
{
	assert(op->in_flight); /* rule 2: nothing completes twice */
	ev->op = op;
	ev->user_data = op->user_data;
	ev->result = result;
	ev->flags = flags;
	ev->buf_id = buf_id;
	q->stats.completed++;
	if (op->kind == COMPLETION_FILE_READ && result > 0)
		q->stats.file_read_bytes += (uint64_t)result;
	if (!(flags & COMPLETION_MORE)) {
		op->in_flight = false;
		op->cancel_requested = false;
	}
}

/* ---- life ---------------------------------------------------------------- */

void completion_uring_why(int err, char *why, size_t why_len)
{
	int disabled = -1;
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");

	if (f != NULL) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = -1;
		fclose(f);
	}
	if (err == -EPERM && disabled == 2)
		snprintf(why, why_len, "io_uring is disabled on this system "
			 "(sysctl kernel.io_uring_disabled=2)");
	else if (err == -EPERM && disabled == 1)
		snprintf(why, why_len, "io_uring is limited to the group "
			 "kernel.io_uring_group (sysctl "
			 "kernel.io_uring_disabled=1)");
	else if (err == -EPERM)
		snprintf(why, why_len, "io_uring_setup was refused (EPERM): a "
			 "seccomp profile or container policy blocks io_uring");
	else if (err == -ENOSYS)
		snprintf(why, why_len, "io_uring_setup is not available "
			 "(ENOSYS): a kernel without io_uring, or a seccomp "
			 "profile hiding it");
	else
		snprintf(why, why_len, "io_uring_setup failed: %s",
			 strerror(-err));
}

#ifndef HAVE_LIBURING
int completion_new_uring(unsigned entries, struct completion **out,
			 char *why, size_t why_len)
{
	*out = NULL;
	snprintf(why, why_len, "built without liburing (install the Debian "
		 "package liburing-dev and run configure again)");
	return -ENOSYS;
}
#endif

int completion_uring_usable(char *why, size_t why_len)
{
	struct completion *q;
	int err = completion_new_uring(8, &q, why, why_len);

	if (err == 0)
		completion_free(q);
	return err;
}

int completion_new_beside(struct reactor *r, unsigned entries,
			  struct completion **out, char *why, size_t why_len)
{
	if (!reactor_is_sim(r))
		return completion_new_uring(entries, out, why, why_len);
	*out = completion_new_sim(r);
	if (*out != NULL)
		return 0;
	snprintf(why, why_len, "cannot create the simulated completion queue");
	return -ENOMEM;
}

void completion_free(struct completion *q)
{
	if (q != NULL)
		q->ops->free(q);
}

const char *completion_backend(const struct completion *q)
{
	return q->ops->name;
}

bool completion_supports(const struct completion *q,
			 enum completion_feature f)
{
	return q->ops->supports(q, f);
}

void completion_get_stats(const struct completion *q,
			  struct completion_stats *st)
{
	*st = q->stats;
}

/* ---- the loop ------------------------------------------------------------ */

int completion_poll(struct completion *q, int64_t timeout_ns,
		    struct completion_event *out, unsigned max)
{
	q->stats.polls++;
	if (max == 0)
		return -EINVAL;
	return q->ops->poll(q, timeout_ns, out, max);
}

/* ---- submitting ---------------------------------------------------------- */

static int submit(struct completion *q, struct completion_op *op,
		  enum completion_kind kind, int handle, void *buf,
		  size_t len, uint64_t offset, const struct sockaddr_in *to)
{
	int err;

	if (op->in_flight)
		err = -EBUSY;
	else if (handle < 0 && kind != COMPLETION_TIMEOUT &&
		 kind != COMPLETION_CONNECT)
		err = -EBADF;
	else if (len > INT32_MAX) /* a completion's result is 32 bits */
		err = -EINVAL;
	else {
		op->kind = kind;
		op->handle = handle;
		op->buf = buf;
		op->len = len;
		op->offset = offset;
		op->cancel_requested = false;
		op->emulated = false;
		err = q->ops->submit(q, op, to);
	}
	if (err < 0)
		return err;
	op->in_flight = true;
	q->stats.submitted++;
	return 0;
}

int completion_accept(struct completion *q, struct completion_op *op,
		      int listener)
{
	return submit(q, op, COMPLETION_ACCEPT, listener, NULL, 0, 0, NULL);
}

int completion_accept_multishot(struct completion *q,
				struct completion_op *op, int listener)
{
	return submit(q, op, COMPLETION_ACCEPT_MULTISHOT, listener, NULL, 0, 0,
		      NULL);
}

int completion_connect(struct completion *q, struct completion_op *op,
		       const struct sockaddr_in *to)
{
	if (to == NULL)
		return -EINVAL;
	return submit(q, op, COMPLETION_CONNECT, -1, NULL, 0, 0, to);
}

int completion_recv(struct completion *q, struct completion_op *op,
		    int handle, void *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return -EINVAL;
	return submit(q, op, COMPLETION_RECV, handle, buf, len, 0, NULL);
}

/* The checks both receives from provided buffers share; fills op->group. */
static int provided_recv(struct completion *q, struct completion_op *op,
			 enum completion_kind kind, int handle, unsigned group)
{
	if (!completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV))
		return -EOPNOTSUPP;
	if (group >= COMPLETION_GROUPS || q->groups[group].count == 0)
		return -EINVAL;
	if (op->in_flight)
		return -EBUSY;      /* before its group is touched */
	op->group = group;
	return submit(q, op, kind, handle, NULL, 0, 0, NULL);
}

int completion_recv_multishot(struct completion *q, struct completion_op *op,
			      int handle, unsigned group)
{
	return provided_recv(q, op, COMPLETION_RECV_MULTISHOT, handle, group);
}

int completion_recv_select(struct completion *q, struct completion_op *op,
			   int handle, unsigned group)
{
	return provided_recv(q, op, COMPLETION_RECV_SELECT, handle, group);
}

int completion_send(struct completion *q, struct completion_op *op,
		    int handle, const void *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return -EINVAL;
	return submit(q, op, COMPLETION_SEND, handle, (void *)buf, len, 0,
		      NULL);
}

int completion_file_read(struct completion *q, struct completion_op *op,
			 int handle, void *buf, size_t len, uint64_t offset)
{
	if (buf == NULL || len == 0)
		return -EINVAL;
	return submit(q, op, COMPLETION_FILE_READ, handle, buf, len, offset,
		      NULL);
}

int completion_file_write(struct completion *q, struct completion_op *op,
			  int handle, const void *buf, size_t len,
			  uint64_t offset)
{
	if (buf == NULL || len == 0)
		return -EINVAL;
	return submit(q, op, COMPLETION_FILE_WRITE, handle, (void *)buf, len,
		      offset, NULL);
}

int completion_timeout(struct completion *q, struct completion_op *op,
		       uint64_t delay_ns)
{
	return submit(q, op, COMPLETION_TIMEOUT, -1, NULL, 0, delay_ns, NULL);
}

int completion_cancel(struct completion *q, struct completion_op *op)
{
	int err;

	if (!op->in_flight)
		return -ENOENT;
	if (op->cancel_requested)
		return -EALREADY;
	err = q->ops->cancel(q, op);
	if (err == 0)
		op->cancel_requested = true;
	return err;
}

/* ---- provided buffers ---------------------------------------------------- */

int completion_buffers_provide(struct completion *q, unsigned group,
			       void *base, size_t size, unsigned count)
{
	int err;

	if (!completion_supports(q, COMPLETION_FEATURE_MULTISHOT_RECV))
		return -EOPNOTSUPP;
	if (group >= COMPLETION_GROUPS || base == NULL || size == 0 ||
	    size > INT32_MAX || count == 0 || count > 32768 ||
	    (count & (count - 1)) != 0)
		return -EINVAL;
	if (q->groups[group].count != 0)
		return -EEXIST;
	err = q->ops->buffers_provide(q, group, base, size, count);
	if (err < 0)
		return err;
	q->groups[group].base = base;
	q->groups[group].size = size;
	q->groups[group].count = count;
	return 0;
}

unsigned completion_ring_buffers(unsigned dflt)
{
	const char *v = getenv("PUSHPOLL_URING_RING_BUFFERS");
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n == 0 || n > 32768 || (n & (n - 1)) != 0)
		return dflt;
	return (unsigned)n;
}

void *completion_buffer(struct completion *q, unsigned group, unsigned id)
{
	const struct completion_group *g = &q->groups[group];

	assert(group < COMPLETION_GROUPS && id < g->count);
	return g->base + (size_t)id * g->size;
}

void completion_buffer_return(struct completion *q, unsigned group,
			      unsigned id)
{
	assert(group < COMPLETION_GROUPS && id < q->groups[group].count);
	q->ops->buffer_return(q, group, id);
}

/* ---- handles ------------------------------------------------------------- */

int completion_listen(struct completion *q, const char *host, uint16_t port,
		      int backlog)
{
	return q->ops->listen(q, host, port, backlog);
}

int completion_local_port(struct completion *q, int handle)
{
	return q->ops->local_port(q, handle);
}

int completion_file_open(struct completion *q, const char *path, int flags,
			 int mode)
{
	return q->ops->file_open(q, path, flags, mode);
}

int completion_shutdown_write(struct completion *q, int handle)
{
	return q->ops->shutdown_write(q, handle);
}

int completion_close(struct completion *q, int handle)
{
	return q->ops->close(q, handle);
}
