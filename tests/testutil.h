/* testutil.h: the one main() every Check suite shares.
 *
 * A suite file defines `static Suite *make_suite(void)` and includes this
 * header last.  Tests run forked (Check's default), so a crash in one test
 * is reported as that test's error and the others still run.  CK_VERBOSITY
 * and CK_RUN_CASE work as Check documents them.
 */
#ifndef PUSHPOLL_TESTUTIL_H
#define PUSHPOLL_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

static Suite *make_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
