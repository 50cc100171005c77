/* uring_setup.h: how every io_uring ring of the tree is made.
 *
 * The completion queue's ring (completion_uring.c) and the io_uring
 * floor's (compare/baselines/baseline_uring.c) are made by the same call,
 * so that push/uring, poll/uring and the floor measure the same interface
 * with the same settings.  Both run one thread that submits, reaps and
 * waits on its ring, and nothing else touches it.  The flags, best first,
 * each tried only where the kernel refused the one before (-EINVAL):
 *
 *   6.1   SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG: the kernel keeps
 *         completion work (the step that turns a socket's readiness into
 *         a CQE) on the ring until the thread enters with GETEVENTS,
 *         instead of interrupting it for each; it then runs that work in a
 *         batch, in the enter it makes anyway to wait.  A CQE appears only
 *         in such an enter: a reaper that does not wait must look at
 *         uring_has_pending_work() and enter (io_uring_get_events()) when
 *         it says so, or it never sees the completion.
 *   5.19  COOP_TASKRUN | TASKRUN_FLAG: the work is not signalled with an
 *         interrupt; it runs at the thread's next system call, and the
 *         same flag says when one is needed.
 *   plain no flags: the work interrupts the thread as it comes.
 *
 * PUSHPOLL_URING_PLAIN=1 in the environment takes the plain ring at once,
 * as on a kernel before 5.19: for tests of that path, and for measuring
 * what the flags save on one machine (`pushpoll bench` with and without).
 *
 * Only with liburing (HAVE_LIBURING); the definition is in
 * completion_uring.c. */
#ifndef PUSHPOLL_URING_SETUP_H
#define PUSHPOLL_URING_SETUP_H

#include <liburing.h>
#include <stdbool.h>

/* Headers older than the kernel features (liburing before 2.3): the
 * values are the kernel's ABI. */
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_TASKRUN_FLAG
#define IORING_SETUP_TASKRUN_FLAG (1U << 9)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif
#ifndef IORING_SQ_TASKRUN
#define IORING_SQ_TASKRUN (1U << 2)
#endif

/* Make ring, with room for entries SQEs, with the best flags above that
 * the kernel takes; *params gets what the kernel says (features, and the
 * flags it took in params->flags).  Returns 0, or -errno as
 * io_uring_queue_init_params() (the last refusal).  Call it on the thread
 * that will use the ring: with SINGLE_ISSUER no other thread may submit. */
int uring_setup(unsigned entries, struct io_uring *ring,
		struct io_uring_params *params);

/* Whether the kernel holds completion work for ring that only an enter
 * with GETEVENTS runs (TASKRUN_FLAG): a non-waiting reaper that finds no
 * CQE must enter when this says so. */
static inline bool uring_has_pending_work(const struct io_uring *ring)
{
	return IO_URING_READ_ONCE(*ring->sq.kflags) & IORING_SQ_TASKRUN;
}

#endif
