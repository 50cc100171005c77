/* torture_common.c: what every scenario file of the harness calls
 * (torture_impl.h): the record of a violation, and where the simulation's
 * trace goes.  torture_world.c, torture_push.c, torture_poll.c and
 * torture_faults.c use these; these use none of them, nor the driver.
 */
#include "torture_impl.h"

#include <stdarg.h>
#include <stdio.h>

FILE *torture__trace;

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
