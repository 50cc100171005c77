/* cli.c: strict parsing of command-line values. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("pushpoll: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try 'pushpoll help')\n", stderr);
	exit(EXIT_USAGE);
}

/* Parse a decimal number followed by a suffix from the table; the suffix
 * multiplies.  Returns false on anything else. */
static bool parse_scaled(const char *text, const char *const suffix[],
			 const uint64_t scale[], uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (text == NULL || *text < '0' || *text > '9')
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return false;
	for (int i = 0; suffix[i] != NULL; i++) {
		if (strcmp(end, suffix[i]) == 0) {
			if (scale[i] != 0 && v > UINT64_MAX / scale[i])
				return false;
			*out = (uint64_t)v * scale[i];
			return true;
		}
	}
	return false;
}

uint64_t cli_uint(const char *flag, const char *text, uint64_t min,
		  uint64_t max)
{
	static const char *const suffix[] = { "", NULL };
	static const uint64_t scale[] = { 1 };
	uint64_t v;

	if (!parse_scaled(text, suffix, scale, &v) || v < min || v > max)
		cli_usage_error("%s wants a whole number from %llu to %llu, "
				"not '%s'", flag, (unsigned long long)min,
				(unsigned long long)max, text ? text : "");
	return v;
}

uint64_t cli_size(const char *flag, const char *text, uint64_t min,
		  uint64_t max)
{
	static const char *const suffix[] = { "", "K", "k", "M", "G", NULL };
	static const uint64_t scale[] = { 1, 1024, 1024, 1024 * 1024,
					  1024 * 1024 * 1024 };
	uint64_t v;

	if (!parse_scaled(text, suffix, scale, &v) || v < min || v > max)
		cli_usage_error("%s wants a size from %llu to %llu bytes "
				"(K, M, G suffixes allowed), not '%s'", flag,
				(unsigned long long)min,
				(unsigned long long)max, text ? text : "");
	return v;
}

uint64_t cli_duration_ns(const char *flag, const char *text)
{
	static const char *const suffix[] = { "", "ns", "us", "ms", "s",
					      NULL };
	static const uint64_t scale[] = { 1000000, 1, 1000, 1000000,
					  1000000000 };
	uint64_t v;

	if (!parse_scaled(text, suffix, scale, &v))
		cli_usage_error("%s wants a duration such as 500ms or 2s, "
				"not '%s'", flag, text ? text : "");
	return v;
}
