/* torture_common.c: what every scenario file of the harness calls
 * (torture_impl.h): the record of a violation, the run of a case with
 * rule R2 counted, where the simulation's trace goes, and the shape of the
 * nesting scenarios.  torture_world.c, torture_push.c, torture_poll.c and
 * torture_faults.c use these; these use none of them, nor the driver.
 */
#include "torture_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "push.h"

FILE *torture__trace;
const struct tt_fuzz *torture__fuzz;

/* ---- violations ----------------------------------------------------------------- */

void torture__fail(struct torture_case *c, const char *fmt, ...)
{
	va_list ap;

	if (c->what[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->what, sizeof(c->what), fmt, ap);
	va_end(ap);
	if (c->what[0] == '\0')
		snprintf(c->what, sizeof(c->what), "violation");
}

/* ---- running a case --------------------------------------------------------------- */

/* Rule R2 over the whole case: the engine counts every callback that began
 * inside a push_cancel() or push_token_cancel(), whoever made the cancel
 * (the harness, an idle timer, a sink's deadline, a stop) and however the
 * callback was called.  Such a breach is what the case's other findings
 * follow from (a connection freed under the cancel that walks it), so it
 * leads the verdict. */
void torture__run_case(struct torture_case *c)
{
	uint64_t before = push_callbacks_in_cancel(), in_cancel;
	char later[sizeof(c->what)];
	size_t n, len;

	c->scen->run(c);
	in_cancel = push_callbacks_in_cancel() - before;
	if (in_cancel == 0)
		return;
	memcpy(later, c->what, sizeof(later));
	n = (size_t)snprintf(c->what, sizeof(c->what), "push: %llu callback(s) "
			     "ran inside push_cancel or push_token_cancel "
			     "(R2)%s", (unsigned long long)in_cancel,
			     later[0] != '\0' ? "; then: " : "");
	len = strnlen(later, sizeof(later) - 1);
	if (n >= sizeof(c->what) - 1)
		return;
	if (len > sizeof(c->what) - 1 - n)
		len = sizeof(c->what) - 1 - n;
	memcpy(c->what + n, later, len);
	c->what[n + len] = '\0';
}

/* ---- the nestings ---------------------------------------------------------------- */

static const char *const nest_names[] = {
	[TT_SEQ] = "seq", [TT_JOIN] = "join", [TT_RACE] = "race",
	[TT_TIMEOUT] = "timeout", [TT_LEAF_READ] = "read",
	[TT_LEAF_FILE] = "file read", [TT_LEAF_SLEEP] = "sleep",
};

const char *tt_nest_name(unsigned kind)
{
	return kind < sizeof(nest_names) / sizeof(nest_names[0])
	       ? nest_names[kind] : "?";
}

/* The combinator whose name begins *p (and is followed by `end`), with *p
 * moved past it; TT_NCOMB if none. */
static unsigned comb_at(const char **p, char end)
{
	for (unsigned k = 0; k < TT_NCOMB; k++) {
		size_t n = strlen(nest_names[k]);
		if (strncmp(*p, nest_names[k], n) == 0 && (*p)[n] == end) {
			*p += n;
			return k;
		}
	}
	return TT_NCOMB;
}

/* The seeds take the four inner combinators in turn, shifted by one every
 * four seeds, so that each inner one meets odd seeds and even ones (which
 * deliver events in batches). */
int tt_nest_shape(const char *name, uint64_t seed, unsigned comb[3])
{
	const char *p = name;
	uint64_t s = seed - 1;

	comb[0] = comb_at(&p, '-');
	if (comb[0] == TT_NCOMB)
		return -1;
	p++;
	comb[1] = comb_at(&p, '\0');
	if (comb[1] == TT_NCOMB)
		return -1;
	comb[2] = (unsigned)((s + s / TT_NCOMB) % TT_NCOMB);
	return 0;
}

unsigned tt_nest_kind(const unsigned comb[3], unsigned i)
{
	if (i < 3)
		return comb[i];
	return i == 3 ? TT_LEAF_READ : i == 6 ? TT_LEAF_FILE : TT_LEAF_SLEEP;
}

unsigned tt_nest_kids(const unsigned comb[3], unsigned i, unsigned kid[2])
{
	if (i >= 3)
		return 0;
	kid[0] = i + 1;
	kid[1] = i + 4;
	return comb[i] == TT_TIMEOUT ? 1 : 2;
}

/* The deadlines shrink inwards, so that each timeout can be the one that
 * fires; the sleeps race the subtree beside them, which the writer's
 * pauses (100 to 340 us, three of them) make sometimes quicker and
 * sometimes not. */
uint64_t tt_nest_ns(const unsigned comb[3], unsigned i)
{
	static const uint64_t deadline_us[3] = { 1500, 800, 400 };

	if (i < 3)
		return comb[i] == TT_TIMEOUT ? deadline_us[i] * CLOCK_NS_PER_US
					     : 0;
	if (i == 4)
		return 900 * CLOCK_NS_PER_US;
	if (i == 5)
		return 500 * CLOCK_NS_PER_US;
	return 0;
}

void tt_nest_label(struct torture_case *c, const unsigned comb[3])
{
	char head[48];
	size_t n, len = strlen(c->what);

	if (len == 0)
		return;
	snprintf(head, sizeof(head), "%s(%s(%s)): ", nest_names[comb[0]],
		 nest_names[comb[1]], nest_names[comb[2]]);
	n = strlen(head);
	if (len > sizeof(c->what) - 1 - n)
		len = sizeof(c->what) - 1 - n;
	memmove(c->what + n, c->what, len);
	memcpy(c->what, head, n);
	c->what[n + len] = '\0';
}
