/* completion_impl.h: what a completion backend supplies.  Not for engines:
 * they see completion.h only.
 *
 * completion.c keeps what every backend shares (the op's states, the
 * counters, the arguments' checks) and hands each call to the backend's
 * function of the same name.  A backend is this struct of functions; each
 * member has the contract of the public function it implements, with the
 * arguments already checked: a submit gets an idle op whose kind, handle,
 * buf, len, offset and group are filled in, and marks nothing (completion.c
 * sets in_flight when it returns 0, and clears it through
 * completion__post() when the final completion is posted).
 */
#ifndef PUSHPOLL_COMPLETION_IMPL_H
#define PUSHPOLL_COMPLETION_IMPL_H

#include "completion.h"

struct completion_ops {
	const char *name;
	void (*free)(struct completion *q);
	bool (*supports)(const struct completion *q, enum completion_feature f);
	int (*poll)(struct completion *q, int64_t timeout_ns,
		    struct completion_event *out, unsigned max);
	/* op->kind says which operation; to is set for a connect only */
	int (*submit)(struct completion *q, struct completion_op *op,
		      const struct sockaddr_in *to);
	int (*cancel)(struct completion *q, struct completion_op *op);
	int (*buffers_provide)(struct completion *q, unsigned group,
			       void *base, size_t size, unsigned count);
	void (*buffer_return)(struct completion *q, unsigned group,
			      unsigned id);
	int (*listen)(struct completion *q, const char *host, uint16_t port,
		      int backlog);
	int (*local_port)(struct completion *q, int handle);
	int (*file_open)(struct completion *q, const char *path, int flags,
			 int mode);
	int (*shutdown_write)(struct completion *q, int handle);
	int (*close)(struct completion *q, int handle);
};

enum { COMPLETION_GROUPS = 16 };

/* A provided buffer group, as the caller gave it. */
struct completion_group {
	unsigned char *base;
	size_t size;
	unsigned count;           /* 0: no such group */
};

struct completion {
	const struct completion_ops *ops;
	struct completion_stats stats;
	struct completion_group groups[COMPLETION_GROUPS];
};

/* Fill in ev for a completion of op, count it, and if it is final (no
 * COMPLETION_MORE) make op idle again.  Backends call it for every
 * completion they hand out. */
void completion__post(struct completion *q, struct completion_op *op,
		      ssize_t result, unsigned flags, unsigned buf_id,
		      struct completion_event *ev);

#endif
