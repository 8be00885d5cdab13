/*
 * unit - what every cmocka test program shares (include after
 * <cmocka.h>):
 *   UNIT_N(a)          the number of elements of array a (never count
 *                      test cases by hand)
 *   unit_filter()      select cases by name: the first argument, else
 *                      PM_TEST_FILTER from the environment (a cmocka glob,
 *                      '*' and '?'); every case when neither is set
 *   unit_row()         one test case for one row of a table: the test
 *                      function gets the row as *state
 * See doc/HACKING.md, "Running one test".
 */
#ifndef PM_TEST_UNIT_H
#define PM_TEST_UNIT_H

#include <stdlib.h>

#define UNIT_N(a) (sizeof(a) / sizeof((a)[0]))

static inline void unit_filter(int argc, char **argv)
{
	const char *f = argc > 1 ? argv[1] : getenv("PM_TEST_FILTER");

	if (f != NULL && f[0] != '\0')
		cmocka_set_test_filter(f);
}

static inline struct CMUnitTest unit_row(const char *name,
					 CMUnitTestFunction fn,
					 const void *row)
{
	struct CMUnitTest t = { name, fn, NULL, NULL, (void *)row };

	return t;
}

#endif
