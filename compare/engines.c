/* engines.c: the engines pushpoll can run, and their settings. */
#include "engines.h"

#include <string.h>

const struct engine engines[] = {
	{ NULL, NULL, NULL, NULL },
};

const struct engine *engine_find(const char *name)
{
	for (const struct engine *e = engines; e->name != NULL; e++)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

const char *engine_names(void)
{
	static char names[128];

	if (names[0] == '\0') {
		for (const struct engine *e = engines; e->name != NULL; e++) {
			if (names[0] != '\0')
				strcat(names, ", ");
			strcat(names, e->name);
		}
		if (names[0] == '\0')
			strcpy(names, "(none built)");
	}
	return names;
}

void engines_configure(const struct engine_settings *s)
{
	(void)s;
}
