/* sim_core.c: the event core of the simulation (the contract is
 * sim_core.h): clock, agenda, random source, trace hash, step hook. */
#include "sim_core.h"

#include <assert.h>
#include <stdarg.h>
#include <string.h>

#define FNV_OFFSET 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

void sim__core_init(struct sim_core *c, const struct sim_config *cfg)
{
	*c = (struct sim_core){
		.cfg = *cfg, .rng = cfg->seed, .hash = FNV_OFFSET,
	};
}

void sim__core_fini(struct sim_core *c)
{
	free(c->agenda);
}

void *sim__must(void *p)
{
	if (p == NULL) {
		fputs("reactor_sim: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* ---- configurations ------------------------------------------------------ */

void sim_config_default(struct sim_config *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->seed = seed;
	c->max_delay_ns = 1000000;
	c->stream_capacity = 64 * 1024;
	c->max_handles = 4096;
}

void sim_config_faulty(struct sim_config *c, uint64_t seed)
{
	sim_config_default(c, seed);
	c->short_io = 200;
	c->eagain = 100;
	c->delay = 100;
	c->reset = 100;
	c->early_eof = 100;
}

/* ---- the seeded choices -------------------------------------------------- */

static uint64_t rng_next(struct sim_core *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A choice among n >= 2 read from the given bytes: as many bytes as it
 * takes to name n - 1, or what is left of them. */
static uint64_t choice_next(struct sim_core *c, uint64_t n)
{
	uint64_t v = 0;

	for (uint64_t left = n - 1; left > 0 && c->choice < c->cfg.nchoices;
	     left >>= 8)
		v = v << 8 | c->cfg.choices[c->choice++];
	return v % n;
}

/* (The modulo bias is below 2^-40 for the n used here, and it is the same
 * for every replay.) */
uint64_t sim__rng_below(struct sim_core *c, uint64_t n)
{
	if (n <= 1)
		return 0;
	if (c->choice < c->cfg.nchoices)
		return choice_next(c, n);
	return rng_next(c) % n;
}

bool sim__rng_chance(struct sim_core *c, unsigned permille)
{
	if (permille == 0)
		return false;
	if (permille >= 1000)
		return true;
	return sim__rng_below(c, 1000) < permille;
}

uint64_t sim__fault_delay(struct sim_core *c)
{
	if (c->cfg.max_delay_ns == 0 || !sim__rng_chance(c, c->cfg.delay))
		return 0;
	return 1 + sim__rng_below(c, c->cfg.max_delay_ns);
}

size_t sim__fault_short(struct sim_core *c, size_t k)
{
	if (k < 2 || !sim__rng_chance(c, c->cfg.short_io))
		return k;
	return 1 + (size_t)sim__rng_below(c, k - 1);
}

/* ---- the agenda ---------------------------------------------------------- */

static bool event_before(uint64_t due_a, uint64_t seq_a, uint64_t due_b,
			 uint64_t seq_b)
{
	return due_a != due_b ? due_a < due_b : seq_a < seq_b;
}

size_t sim__agenda_lower_bound(const struct sim_core *c, uint64_t due,
			       uint64_t seq)
{
	size_t lo = 0, hi = c->nagenda;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (event_before(c->agenda[mid].due, c->agenda[mid].seq, due,
				 seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t sim__agenda_insert(struct sim_core *c, int kind, void *target,
			    uint64_t due)
{
	uint64_t seq = c->next_seq++;
	size_t i;

	if (c->nagenda == c->agenda_cap) {
		c->agenda_cap = c->agenda_cap ? 2 * c->agenda_cap : 64;
		c->agenda = xrealloc(c->agenda,
				     c->agenda_cap * sizeof(*c->agenda));
	}
	i = sim__agenda_lower_bound(c, due, seq);
	memmove(&c->agenda[i + 1], &c->agenda[i],
		(c->nagenda - i) * sizeof(*c->agenda));
	c->agenda[i] = (struct sim_event){
		.due = due, .seq = seq, .kind = kind, .target = target,
	};
	c->nagenda++;
	return seq;
}

void sim__agenda_delete_at(struct sim_core *c, size_t i)
{
	memmove(&c->agenda[i], &c->agenda[i + 1],
		(c->nagenda - i - 1) * sizeof(*c->agenda));
	c->nagenda--;
}

static void agenda_remove(struct sim_core *c, uint64_t due, uint64_t seq)
{
	size_t i = sim__agenda_lower_bound(c, due, seq);

	assert(i < c->nagenda && c->agenda[i].seq == seq);
	sim__agenda_delete_at(c, i);
}

size_t sim__agenda_due(const struct sim_core *c, uint64_t t)
{
	size_t n = 0;

	while (n < c->nagenda && c->agenda[n].due <= t)
		n++;
	return n;
}

struct sim_event sim__agenda_take(struct sim_core *c, size_t i)
{
	struct sim_event ev = c->agenda[i];

	sim__agenda_delete_at(c, i);
	return ev;
}

void sim__sched_start(struct sim_core *c, struct sim_sched *sc, int kind,
		      void *target, uint64_t delay)
{
	assert(!sc->scheduled);
	sc->due = delay > UINT64_MAX - c->now ? UINT64_MAX : c->now + delay;
	sc->seq = sim__agenda_insert(c, kind, target, sc->due);
	sc->scheduled = true;
}

void sim__sched_stop(struct sim_core *c, struct sim_sched *sc)
{
	if (!sc->scheduled)
		return;
	agenda_remove(c, sc->due, sc->seq);
	sc->scheduled = false;
}

/* ---- steps: the trace, the hook, the wakeup ------------------------------ */

void sim__step_record(struct sim_core *c, const char *fmt, ...)
{
	char line[256];
	int n;
	va_list ap;

	c->steps++;
	n = snprintf(line, sizeof(line), "%llu %llu ",
		     (unsigned long long)c->steps, (unsigned long long)c->now);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		c->hash ^= *p;
		c->hash *= FNV_PRIME;
	}
	if (c->trace != NULL)
		fputs(line, c->trace);
}

bool sim__hook_run(struct sim_core *c)
{
	void (*hook)(void *) = c->hook;

	if (hook == NULL || c->steps + 1 != c->hook_step)
		return false;
	c->hook = NULL;
	c->hook_step = 0;
	hook(c->hook_arg);
	return true;
}

void sim__wakeup(struct sim_core *c)
{
	__atomic_store_n(&c->woken, 1, __ATOMIC_RELEASE);
}

bool sim__woken_take(struct sim_core *c)
{
	return __atomic_exchange_n(&c->woken, 0, __ATOMIC_ACQ_REL) != 0;
}
