/* cli.h: argument parsing shared by the pushpoll subcommands.
 *
 * Every parse error is one line on stderr naming the bad argument, and exit
 * status 2 (usage).  Numbers are parsed strictly: "12x", "-1" or an overflow
 * is an error, never a silent 0.
 */
#ifndef PUSHPOLL_CLI_H
#define PUSHPOLL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define EXIT_MEASURED_FAILURE 1
#define EXIT_USAGE 2

/* Print "pushpoll: <message>" and exit with EXIT_USAGE. */
void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* An unsigned integer in [min, max]; the flag names it in the error. */
uint64_t cli_uint(const char *flag, const char *text, uint64_t min,
		  uint64_t max);
/* A size with an optional K, M or G suffix (powers of 1024). */
uint64_t cli_size(const char *flag, const char *text, uint64_t min,
		  uint64_t max);
/* A duration: a number with ns, us, ms or s (no unit: ms). */
uint64_t cli_duration_ns(const char *flag, const char *text);
/* An IPv4 address or a name that resolves to one; returns text. */
const char *cli_host(const char *flag, const char *text);

/* Checked before anything is measured, so a run of minutes cannot end in
 * "No such file or directory": the file can be written (it is left as it
 * was), the directory exists or was just made and can be written. */
void cli_output_file(const char *flag, const char *path);
void cli_output_dir(const char *flag, const char *path);

/* True if name is an executable file in a directory of $PATH.  A tool the
 * command can do without (gnuplot, valgrind) is looked up with this before
 * it is run; where it is missing the command says so in one line, with the
 * Debian package that brings it (CLI_INSTALL_HINT), and goes on with what
 * it can measure. */
bool cli_have_program(const char *name);
/* Raise the soft limit on open descriptors (RLIMIT_NOFILE) to the hard one,
 * which an unprivileged process may always do, and return the soft limit
 * now in force (0 if it cannot be read).  A server of many connections and
 * the bench that opens them call it first. */
unsigned long cli_raise_nofile(void);

#define CLI_INSTALL_HINT(prog, pkg) prog " missing (apt-get install " pkg ")"

#endif
