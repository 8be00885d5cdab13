/*
 * test_recent - unit tests of milter/recent.c, the memory between an
 * accepted transaction and qmgr's line with its exact size (issue 17).
 * cmocka, TAP output. Expected values come from the contract in
 * milter/recent.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit.h"

#include "recent.h"

static void qid(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "4Vx%08XQ", i);
}

/* Before recent_enable(): nothing is remembered. */
static void test_disabled(void **state)
{
	char id[RECENT_ID_LEN], when[RECENT_ID_LEN];

	(void)state;
	recent_put("ABCDEF123", "id-1", "2026-12-06 10:00:00.000001+00");
	recent_enable();
	assert_false(recent_take("ABCDEF123", id, when));
}

static void test_put_take(void **state)
{
	char id[RECENT_ID_LEN], when[RECENT_ID_LEN];

	(void)state;
	recent_put("ABCDEF123", "id-1", "t-1");
	assert_false(recent_take("ABCDEF124", id, when));
	assert_true(recent_take("ABCDEF123", id, when));
	assert_string_equal(id, "id-1");
	assert_string_equal(when, "t-1");
	/* taken: a deferred message's second qmgr line finds nothing */
	assert_false(recent_take("ABCDEF123", id, when));
	/* put again: the newer transaction wins, once */
	recent_put("ABCDEF123", "id-2", "t-2");
	recent_put("ABCDEF123", "id-3", "t-3");
	assert_true(recent_take("ABCDEF123", id, when));
	assert_string_equal(id, "id-3");
	assert_false(recent_take("ABCDEF123", id, when));
}

/* Empty, NULL and too long strings are ignored, never cut. */
static void test_bad_input(void **state)
{
	char id[RECENT_ID_LEN], when[RECENT_ID_LEN], big[64];

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	recent_put("", "id", "t");
	recent_put(NULL, "id", "t");
	recent_put("QID1234", NULL, "t");
	recent_put("QID1234", "id", "");
	recent_put(big, "id", "t");
	recent_put("QID1235", big, "t");
	assert_false(recent_take("", id, when));
	assert_false(recent_take(NULL, id, when));
	assert_false(recent_take("QID1234", id, when));
	assert_false(recent_take("QID1235", id, when));
	big[31] = '\0';		/* 31 characters: the longest that fits */
	recent_put(big, "id-big", "t");
	assert_true(recent_take(big, id, when));
	assert_string_equal(id, "id-big");
}

/* A backlog of 2,000 messages waiting for their qmgr line (a log
 * reader far behind): every one is still there. */
static void test_backlog(void **state)
{
	char q[32], id[RECENT_ID_LEN], when[RECENT_ID_LEN], want[RECENT_ID_LEN];
	unsigned found = 0;

	(void)state;
	for (unsigned i = 0; i < 2000; i++) {
		qid(q, sizeof(q), i);
		snprintf(want, sizeof(want), "id-%u", i);
		recent_put(q, want, "t");
	}
	for (unsigned i = 0; i < 2000; i++) {
		qid(q, sizeof(q), i);
		snprintf(want, sizeof(want), "id-%u", i);
		if (recent_take(q, id, when) && strcmp(id, want) == 0)
			found++;
	}
	assert_int_equal(found, 2000);
}

/* Entries never claimed (cleanup refused the message after the milter)
 * are pushed out by newer ones: the table keeps the newest. */
static void test_overflow(void **state)
{
	char q[32], id[RECENT_ID_LEN], when[RECENT_ID_LEN];
	unsigned n = 4 * RECENT_SLOTS, found = 0;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		qid(q, sizeof(q), 100000 + i);
		recent_put(q, "id", "t");
	}
	/* the last 500 put are all there */
	for (unsigned i = n - 500; i < n; i++) {
		qid(q, sizeof(q), 100000 + i);
		found += recent_take(q, id, when);
	}
	assert_int_equal(found, 500);
	/* the first ones are gone */
	qid(q, sizeof(q), 100000);
	assert_false(recent_take(q, id, when));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_put_take),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_backlog),
		cmocka_unit_test(test_overflow),
	};

	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
