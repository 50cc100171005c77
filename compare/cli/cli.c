/* cli.c: strict parsing of command-line values. */
#include "cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

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

const char *cli_host(const char *flag, const char *text)
{
	struct addrinfo hints = { .ai_family = AF_INET };
	struct addrinfo *res;
	struct in_addr a;

	if (inet_pton(AF_INET, text, &a) == 1)
		return text;
	if (getaddrinfo(text, NULL, &hints, &res) != 0)
		cli_usage_error("%s wants an IPv4 address or a name that "
				"resolves to one, not '%s'", flag, text);
	freeaddrinfo(res);
	return text;
}

void cli_output_file(const char *flag, const char *path)
{
	int fd;

	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) != 0)
			cli_usage_error("%s %s: %s", flag, path,
					strerror(errno));
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		cli_usage_error("%s %s: %s", flag, path, strerror(errno));
	close(fd);
	unlink(path);
}

void cli_output_dir(const char *flag, const char *path)
{
	if ((mkdir(path, 0777) != 0 && errno != EEXIST) ||
	    access(path, W_OK) != 0)
		cli_usage_error("%s %s: %s", flag, path, strerror(errno));
}

bool cli_have_program(const char *name)
{
	const char *path = getenv("PATH");
	char file[4096];

	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");

		snprintf(file, sizeof(file), "%.*s/%s", (int)(n ? n : 1),
			 n ? path : ".", name);
		if (access(file, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

unsigned long cli_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { .rlim_cur = rl.rlim_max,
				       .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	return rl.rlim_cur == RLIM_INFINITY ? (unsigned long)-1
					    : (unsigned long)rl.rlim_cur;
}
