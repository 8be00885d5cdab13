/*
 * Unit tests: postfix-conf/restrict.c, restriction lists judged as
 * properties and merged without dropping the admin's elements.
 * Table-driven; TAP output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "restrict.h"

#define PSA "permit_sasl_authenticated"
#define POL "check_policy_service inet:127.0.0.1:10040"
#define POLC "check_policy_service,inet:127.0.0.1:10040"

struct row {
	const char *name;
	enum pc_guard guard;
	const char *in;
	bool ok;		/* pc_restr_ok */
	bool force;
	const char *out;	/* merged, NULL: merge refused */
	const char *added;
	const char *dropped;
	const char *why;	/* a refused merge: *why holds it, or NULL */
};

static const struct row rows[] = {
	{ "auth: empty list", PC_GUARD_AUTH, "", false, false,
	  PSA ",reject", PSA ",reject", "", NULL },
	{ "auth: the admin's policy first, kept", PC_GUARD_AUTH,
	  POL ", " PSA ", reject", true, false,
	  POLC "," PSA ",reject", "", "", NULL },
	{ "auth: psa before the first reject", PC_GUARD_AUTH,
	  POL ", reject_unauth_destination", false, false,
	  POLC "," PSA ",reject_unauth_destination,reject", PSA ",reject", "", NULL },
	{ "auth: Postfix's default relay list", PC_GUARD_AUTH,
	  "permit_mynetworks, " PSA ", defer_unauth_destination", false, false,
	  "permit_mynetworks," PSA ",defer_unauth_destination,reject",
	  "reject", "", NULL },
	{ "auth: $mua_* kept in front", PC_GUARD_AUTH,
	  "$mua_client_restrictions", false, false,
	  "$mua_client_restrictions," PSA ",reject", PSA ",reject", "", NULL },
	{ "auth: bare permit refused", PC_GUARD_AUTH, "permit", false, false,
	  NULL, NULL, NULL, NULL },
	{ "auth: bare permit dropped with force", PC_GUARD_AUTH,
	  POL ", permit", false, true, POLC "," PSA ",reject",
	  PSA ",reject", "permit", NULL },
	{ "auth: blanks in a group cannot be written", PC_GUARD_AUTH,
	  "check_policy_service { inet:127.0.0.1:1, timeout=10s }", false,
	  false, NULL, NULL, NULL, NULL },
	{ "mx: reject_unauth_destination holds", PC_GUARD_MX,
	  "permit_mynetworks " PSA " reject_unauth_destination " POL, true,
	  false, "permit_mynetworks," PSA ",reject_unauth_destination," POLC,
	  "", "", NULL },
	{ "mx: defer becomes reject", PC_GUARD_MX,
	  POL ", permit_mynetworks, " PSA ", defer_unauth_destination", false,
	  false, POLC ",permit_mynetworks," PSA ",reject_unauth_destination",
	  "defer_unauth_destination -> reject_unauth_destination", "", NULL },
	{ "mx: appended", PC_GUARD_MX, "permit_mynetworks", false, false,
	  "permit_mynetworks,reject_unauth_destination",
	  "reject_unauth_destination", "", NULL },
	{ "mx: permit after the guard is the admin's", PC_GUARD_MX,
	  "reject_unauth_destination, permit", true, false,
	  "reject_unauth_destination,permit", "", "", NULL },
	{ "mx: permit before the guard refused", PC_GUARD_MX,
	  "permit, reject_unauth_destination", false, false, NULL, NULL, NULL, NULL },
	/* Braces Postfix cannot parse: an element left open would swallow
	 * whatever a merge appends (",reject" once more at every apply). */
	{ "auth: an unclosed '{' refused", PC_GUARD_AUTH,
	  PSA ",{reject", false, false, NULL, NULL, NULL,
	  "its element {reject has an unbalanced '{'" },
	{ "auth: an unclosed '{' after a blank refused", PC_GUARD_AUTH,
	  POL ", " PSA " {reject", false, false, NULL, NULL, NULL,
	  "its element {reject has an unbalanced '{'" },
	{ "auth: a '{' left open inside a word refused", PC_GUARD_AUTH,
	  "check_x{y, " PSA ", reject", false, false, NULL, NULL, NULL,
	  "unbalanced '{'" },
	{ "auth: text after a group's '}' refused", PC_GUARD_AUTH,
	  "{a}b, " PSA ", reject", false, false, NULL, NULL, NULL,
	  "its element {a}b has text after its '}'" },
	{ "mx: the guard before an unclosed '{' does not hold", PC_GUARD_MX,
	  "reject_unauth_destination, {x", false, false, NULL, NULL, NULL,
	  "unbalanced '{'" },
	{ "auth: nested braces are one element", PC_GUARD_AUTH,
	  "check_policy_service,{inet:127.0.0.1:1,{timeout=10s}}," PSA
	  ",reject", true, false, "check_policy_service,{inet:127.0.0.1:1,"
	  "{timeout=10s}}," PSA ",reject", "", "", NULL },
	{ "auth: a stray '}' is a word, as in Postfix", PC_GUARD_AUTH,
	  "x}, " PSA, false, false, "x}," PSA ",reject", "reject", "", NULL },
};

/* One row: pc_restr_ok() on its list, then pc_restr_merge(). */
static void test_row(void **state)
{
	const struct row *r = *state;
	char *out = NULL, *added = NULL, *dropped = NULL, *why = NULL;
	bool merged;

	assert_int_equal(pc_restr_ok(r->guard, r->in), r->ok);
	merged = pc_restr_merge(r->guard, r->in, r->force, &out, &added,
				&dropped, &why);
	if (r->out == NULL) {
		assert_false(merged);
		assert_non_null(why);
		if (r->why != NULL && strstr(why, r->why) == NULL)
			fail_msg("why: \"%s\" lacks \"%s\"", why, r->why);
		free(why);
		return;
	}
	assert_true(merged);
	/* A merged list holds the guard, and merging it again is a
	 * no-op: apply is idempotent. */
	assert_true(pc_restr_ok(r->guard, out));
	assert_string_equal(out, r->out);
	assert_string_equal(added, r->added);
	assert_string_equal(dropped, r->dropped);
	free(out);
	free(added);
	free(dropped);
}

int main(int argc, char **argv)
{
	/* one case a row, named by the row: a filter selects rows */
	static struct CMUnitTest tests[UNIT_N(rows)];

	for (size_t i = 0; i < UNIT_N(rows); i++)
		tests[i] = unit_row(rows[i].name, test_row, &rows[i]);
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("restrict", tests, NULL, NULL);
}
