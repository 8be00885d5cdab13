/*
 * test_senderlogin - unit tests of sender_login (issue 11): the
 * sender_login and sender_login_map keys, the map file
 * (lib/cfg_senders.c), each form of the check (milter/senderlogin.c)
 * and its reply (policy_sender_login). cmocka, TAP output. Expected
 * values come from the contracts in milter/senderlogin.h and lib/cfg.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "cfg.h"
#include "policy.h"
#include "senderlogin.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char map_path[64];

static void write_map(const char *text)
{
	FILE *fp = fopen(map_path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct cfg *parse_map(char **errors)
{
	char conf[256];

	snprintf(conf, sizeof(conf), "sender_login_map = %s\n[port 587]\n"
		 "sender_login = map\n", map_path);
	*errors = NULL;
	return cfg_parse("t.conf", conf, errors);
}

static void test_forms(void **state)
{
	static const struct {
		enum cfg_sender_login mode;
		const char *login, *sender;
		bool owned;
	} rows[] = {
		{ CFG_SL_NONE, "alice", "<bob@example.com>", true },
		{ CFG_SL_EXACT, "alice@example.com", "<alice@example.com>", true },
		{ CFG_SL_EXACT, "alice@example.com", "alice@example.com", true },
		{ CFG_SL_EXACT, "Alice@Example.com", "< ALICE@example.COM. >", true },
		{ CFG_SL_EXACT, "alice@example.com", "<>", true },
		{ CFG_SL_EXACT, "alice@example.com", "", true },
		{ CFG_SL_EXACT, "alice@example.com", "<bob@example.com>", false },
		{ CFG_SL_EXACT, "alice@example.com", "<alice@example.co>", false },
		{ CFG_SL_EXACT, "alice", "<alice@example.com>", false },
		{ CFG_SL_EXACT, "alice@example.com",
		  "<@relay.example:alice@example.com>", false },
		{ CFG_SL_EXACT, "alice%x@example.com", "<alice%x@example.com>", false },
		{ CFG_SL_EXACT, NULL, "<alice@example.com>", false },
		{ CFG_SL_EXACT, "", "<alice@example.com>", false },
		{ CFG_SL_DOMAIN, "alice@example.com", "<bob@example.com>", true },
		{ CFG_SL_DOMAIN, "alice@example.com", "<bob@EXAMPLE.com.>", true },
		{ CFG_SL_DOMAIN, "alice@example.com", "<bob@sub.example.com>", false },
		{ CFG_SL_DOMAIN, "alice@example.com", "<bob@example.org>", false },
		{ CFG_SL_DOMAIN, "alice@example.com", "<bob>", false },
		{ CFG_SL_DOMAIN, "alice", "<alice@example.com>", false },
		{ CFG_SL_DOMAIN, "alice@", "<bob@>", false },
	};
	char big[700];

	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		if (senderlogin_owned(NULL, rows[i].mode, rows[i].login,
				      rows[i].sender) != rows[i].owned)
			fail_msg("row %zu: %s as %s: expected %s", i,
				 rows[i].login ? rows[i].login : "(null)",
				 rows[i].sender, rows[i].owned ? "owned" : "not");
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 13, "@example.com", 13);
	assert_false(senderlogin_owned(NULL, CFG_SL_EXACT, big, big));
}

static void test_map(void **state)
{
	struct cfg *cfg;
	char *errors;

	(void)state;
	write_map("# owners\n"
		  "Info@Example.com   alice, BOB\n"
		  "@example.org carol dave\n"
		  "@example.com  carol\n"
		  "\n");
	cfg = parse_map(&errors);
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_int_equal(cfg->sender_map.n, 3);
	assert_true(senderlogin_owned(cfg, CFG_SL_MAP, "alice", "<info@example.com>"));
	assert_true(senderlogin_owned(cfg, CFG_SL_MAP, "Bob", "<INFO@example.com>"));
	/* the address is listed: its domain's owners do not apply */
	assert_false(senderlogin_owned(cfg, CFG_SL_MAP, "carol", "<info@example.com>"));
	assert_true(senderlogin_owned(cfg, CFG_SL_MAP, "carol", "<x@example.com>"));
	assert_true(senderlogin_owned(cfg, CFG_SL_MAP, "dave", "<y@example.org>"));
	assert_false(senderlogin_owned(cfg, CFG_SL_MAP, "alice", "<y@example.org>"));
	/* listed nowhere: owned by nobody */
	assert_false(senderlogin_owned(cfg, CFG_SL_MAP, "alice", "<a@example.net>"));
	assert_false(senderlogin_owned(cfg, CFG_SL_MAP, "alice", "<alice>"));
	assert_true(senderlogin_owned(cfg, CFG_SL_MAP, "alice", "<>"));
	cfg_unref(cfg);
}

static void test_map_errors(void **state)
{
	static const struct {
		const char *text, *want;	/* want: after "FILE:" */
	} bad[] = {
		{ "alice alice\n", "1: bad key \"alice\"" },
		{ "a@b@c alice\n", "1: bad key" },
		{ "x@\n", "1: bad key" },
		{ "\n\nx@example.com\n", "3: no login after \"x@example.com\"" },
		{ "x@example.com a\nX@example.com b\n",
		  "0: key \"x@example.com\" listed twice" },
		{ "x@example.com a\x01\n", "1: control character" },
	};
	char *errors, want[200];
	struct cfg *cfg;

	(void)state;
	for (size_t i = 0; i < N(bad); i++) {
		write_map(bad[i].text);
		snprintf(want, sizeof(want), "%s:%s", map_path, bad[i].want);
		cfg = parse_map(&errors);
		if (cfg != NULL || errors == NULL || strstr(errors, want) == NULL)
			fail_msg("map:\n%s\nerrors:\n%s\nexpected \"%s\"",
				 bad[i].text, errors ? errors : "(none)", want);
		free(errors);
	}
	cfg = cfg_parse("t.conf", "[port 587]\nsender_login = map\n", &errors);
	assert_null(cfg);
	assert_non_null(strstr(errors, "t.conf:1: [port 587]: sender_login = "
			       "map needs sender_login_map = FILE"));
	free(errors);
	cfg = cfg_parse("t.conf", "[port 587]\nsender_login = loose\n", &errors);
	assert_null(cfg);
	assert_non_null(strstr(errors, "t.conf:2: bad value \"loose\" for "
			       "sender_login: expected none, exact, domain or map"));
	free(errors);
	unlink(map_path);
	cfg = parse_map(&errors);
	assert_null(cfg);
	assert_non_null(strstr(errors, "cannot open"));
	free(errors);
}

static void test_inherit_and_reply(void **state)
{
	char *errors = NULL;
	struct cfg *cfg = cfg_parse("t.conf", "[port 587]\nsender_login = exact\n"
				    "[port 5870]\nlike = 587\n"
				    "[port 5871]\nlike = 587\nlimits_enforce = no\n"
				    "[port 25]\nmode = mx\n", &errors);
	struct policy_verdict v;

	(void)state;
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_int_equal(cfg_port_find(cfg, 5870)->sender_login, CFG_SL_EXACT);
	assert_int_equal(cfg_port_find(cfg, 25)->sender_login, CFG_SL_NONE);
	v = policy_sender_login(cfg_port_find(cfg, 587));
	assert_int_equal(v.action, POLICY_REJECT);
	assert_string_equal(v.rule, "sender_login");
	assert_string_equal(v.rcode, "553");
	assert_string_equal(v.xcode, "5.7.1");
	assert_string_equal(v.text, "Sender address rejected: not owned by the "
			    "authenticated user");
	assert_false(v.monitor);
	v = policy_sender_login(cfg_port_find(cfg, 5871));
	assert_int_equal(v.action, POLICY_CONTINUE);
	assert_true(v.monitor);
	assert_string_equal(v.rcode, "553");
	cfg_unref(cfg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_map_errors),
		cmocka_unit_test(test_inherit_and_reply),
	};

	snprintf(map_path, sizeof(map_path), "/tmp/test_senderlogin.%ld",
		 (long)getpid());
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
