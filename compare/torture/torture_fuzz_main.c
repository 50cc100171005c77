/* torture_fuzz_main.c: the fuzzer's program, torture-fuzz.
 *
 * Makefile.am builds it with clang, libFuzzer (-fsanitize=fuzzer) and
 * AddressSanitizer, from the sources of the harness, the engines and the
 * substrate, where configure finds them.  `pushpoll torture --fuzz` runs
 * it (torture_fuzz.c); by hand:
 *
 *   torture-fuzz --engine push|poll [libFuzzer's options] [CORPUS...]
 *
 * Each input is one case of torture (torture__fuzz_decode()), run in this
 * process with every check.  A violation is printed on stderr and ends
 * the process with abort(), so that libFuzzer writes the input out as a
 * case; a crash or a sanitizer report ends it the same way.
 */
#include "torture_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's driver, for a program that has its own main. */
int LLVMFuzzerRunDriver(int *argc, char ***argv,
			int (*cb)(const unsigned char *data, size_t size));
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static enum torture_engine fuzz_engine;

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct torture_case c;
	struct tt_fuzz f;
	char what[512];

	if (torture__fuzz_decode(fuzz_engine, data, size, &c, &f) != 0)
		abort();
	torture__fuzz_run(&c, &f);
	if (c.what[0] != '\0') {
		torture__fuzz_describe(&c, &f, what, sizeof(what));
		fprintf(stderr, "pushpoll torture: violation: %s: %s\n", what,
			c.what);
		abort();
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = 1;

	if (argc >= 3 && strcmp(argv[1], "--engine") == 0 &&
	    (strcmp(argv[2], "push") == 0 || strcmp(argv[2], "poll") == 0)) {
		fuzz_engine = strcmp(argv[2], "push") == 0 ? TORTURE_PUSH
							   : TORTURE_POLL;
		n = 3;
	} else {
		fprintf(stderr, "usage: torture-fuzz --engine push|poll "
			"[libFuzzer's options] [CORPUS...]\n");
		return 2;
	}
	/* libFuzzer reads argv[0] and what follows our own option. */
	argv[n - 1] = argv[0];
	argc -= n - 1;
	argv += n - 1;
	return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}
