/* torture_mutant.c: the program of one planted bug.
 *
 * Makefile.am links it with the harness and with one engine file patched
 * with the bug (compare/torture/mutants/NAME.patch), as mutants/NAME.
 * Only `pushpoll torture` runs it: a forked child that is to run a batch of
 * cases with the bug in place becomes this program (torture.c, "a batch
 * in a planted bug's program").
 */
#include "torture_impl.h"

int main(int argc, char **argv)
{
	return torture__mutant_main(argc, argv);
}
