/* c5_common.c: what both servers of claim C5 call (c5_impl.h): the hog's
 * computation, run in place or as a job of the offload pool.  c5_push.c and
 * c5_poll.c use it; it uses neither, nor c5_hog.c.
 */
#include "c5_impl.h"

#include <stdlib.h>

/* ---- what the hog does ------------------------------------------------------ */

void c5__compute_ns(uint64_t ns)
{
	uint64_t end = clock_now_ns() + ns;
	volatile uint64_t x = 0;

	while (clock_now_ns() < end)
		for (int i = 0; i < 64; i++)
			x += (uint64_t)i;
}

static void hog_job_work(struct offload_job *j)
{
	(void)j;
	c5__compute_ns(HOG_NS);
}

static void hog_job_done(struct offload_job *j)
{
	struct c5__job *h = (struct c5__job *)j;
	void (*finished)(void *) = h->finished;
	void *arg = h->arg;

	free(h);
	finished(arg);
}

static void hog_job_discard(struct offload_job *j)
{
	free(j);
}

struct c5__job *c5__job_submit(struct offload *o, void (*finished)(void *),
			       void *arg)
{
	struct c5__job *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->job.work = hog_job_work;
	h->job.done = hog_job_done;
	h->job.discard = hog_job_discard;
	h->finished = finished;
	h->arg = arg;
	offload_submit(o, &h->job);
	return h;
}
