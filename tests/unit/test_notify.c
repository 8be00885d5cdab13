/*
 * Unit tests: watch/notify_fmt.c (the webhook's JSON, its signature,
 * the e-mail message, the secret file) and notify_check(). Expected
 * values written by hand from notify_int.h, doc/watch-alerts.md and
 * RFC 4231; TAP output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "notify_int.h"

/* ---- notify_json_str: hostile strings ----------------------------------- */

static const struct json_row {
	const char *name, *in, *out;
} json_rows[] = {
	{"plain", "bob@example.test", "\"bob@example.test\""},
	{"empty", "", "\"\""},
	{"quote and backslash", "a\"b\\c", "\"a\\\"b\\\\c\""},
	{"short escapes", "\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\""},
	{"other controls and DEL", "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\""},
	{"a JSON document inside", "\"},\"admin\":true,{\"",
	 "\"\\\"},\\\"admin\\\":true,{\\\"\""},
	{"UTF-8 kept", "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
	 "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\""},
	{"U+2028 and U+2029", "a\xe2\x80\xa8" "b\xe2\x80\xa9",
	 "\"a\\u2028b\\u2029\""},
	{"stray bytes", "\xff\xfe", "\"\\ufffd\\ufffd\""},
	{"cut sequence at the end", "ab\xc3", "\"ab\\ufffd\""},
	{"overlong slash", "\xc0\xaf", "\"\\ufffd\\ufffd\""},
	{"surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
	{"above U+10FFFF", "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	{"HTML is not JSON's business", "</script>", "\"</script>\""},
};

static void test_json_row(void **state)
{
	const struct json_row *r = *state;
	struct strbuf b = {0};
	char *got;

	notify_json_str(&b, r->in);
	got = strbuf_take(&b);
	assert_string_equal(got, r->out);
	free(got);
}

static void test_json_null(void **state)
{
	struct strbuf b = {0};
	char *got;

	(void)state;
	notify_json_str(&b, NULL);
	got = strbuf_take(&b);
	assert_string_equal(got, "null");
	free(got);
}

/* ---- the documents ------------------------------------------------------ */

static const struct notify_alert alert42 = {
	.id = 42, .channel = "webhook", .attempt = 2,
	.fired_at = "2026-12-06T18:00:00.000000Z",
	.detector = "many_places", .subject_kind = "user",
	.subject = "bob@example.test", .state = "fired",
	.summary = "bob@example.test used 5 countries and 40 addresses in 20 min",
	.evidence = "{\"addresses\": 40}",
	.evidence_pretty = "{\n    \"addresses\": 40\n}",
	.suspended = true, .node = "w1",
};

static void test_json_document(void **state)
{
	char *got;

	(void)state;
	got = notify_json(&alert42, "w2");
	assert_string_equal(got,
		"{\"delivery_id\":\"alert-42\",\"alert_id\":42,"
		"\"fired_at\":\"2026-12-06T18:00:00.000000Z\","
		"\"detector\":\"many_places\",\"subject_kind\":\"user\","
		"\"subject\":\"bob@example.test\",\"state\":\"fired\","
		"\"summary\":\"bob@example.test used 5 countries and 40 addresses in 20 min\","
		"\"evidence\":{\"addresses\": 40},\"suspended\":true,"
		"\"node\":\"w1\",\"sent_by\":\"w2\"}");
	free(got);
}

static void test_hmac(void **state)
{
	char hex[65];

	(void)state;
	/* RFC 4231, test case 2 */
	assert_true(notify_hmac_hex("Jefe", 4, "what do ya want for nothing?", 28, hex));
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static const struct notify_cfg mail_cfg = {
	.mail_to = "abuse@example.test", .mail_from = "watch@example.test",
};

static void test_mail_text(void **state)
{
	char *got;

	(void)state;
	got = notify_mail_text(&alert42, &mail_cfg, "w2", 0);
	assert_string_equal(got,
		"From: watch@example.test\n"
		"To: abuse@example.test\n"
		"Subject: [portmilter] many_places: user bob@example.test\n"
		"Date: Thu, 01 Jan 1970 00:00:00 +0000\n"
		"Message-ID: <alert-42.2.0@w2>\n"
		"Auto-Submitted: auto-generated\n"
		"X-Portmilter-Delivery: alert-42\n"
		"MIME-Version: 1.0\n"
		"Content-Type: text/plain; charset=utf-8\n"
		"Content-Transfer-Encoding: 8bit\n"
		"\n"
		"portmilter-watch alert 42\n"
		"\n"
		"Summary:    bob@example.test used 5 countries and 40 addresses in 20 min\n"
		"State:      fired\n"
		"Detector:   many_places\n"
		"Subject:    user bob@example.test\n"
		"Fired at:   2026-12-06T18:00:00.000000Z\n"
		"Suspended:  yes\n"
		"Fired by:   w1\n"
		"Sent by:    w2\n"
		"Delivery:   alert-42\n"
		"\n"
		"Evidence:\n"
		"{\n"
		"    \"addresses\": 40\n"
		"}\n");
	free(got);
}

/* A user name and a summary that try to add headers and body lines. */
static void test_mail_injection(void **state)
{
	struct notify_alert a = alert42;
	struct notify_cfg cfg = {.mail_to = "abuse@example.test"};
	static const char *const want[] = {
		"To", "Subject", "Date", "Message-ID", "Auto-Submitted",
		"X-Portmilter-Delivery", "MIME-Version", "Content-Type",
		"Content-Transfer-Encoding",
	};
	char *got, *line, *save = NULL;
	size_t i = 0;

	(void)state;
	a.subject = "bob\r\nBcc: victim@example.org\r\n\r\nforged body";
	a.summary = "one\nBcc: victim@example.org";
	a.detector = "x\nCc: victim@example.org";
	a.state = "resolved";
	got = notify_mail_text(&a, &cfg, "node\r\nBcc: x", 0);
	assert_non_null(strstr(got, "\nSubject: [portmilter] x\\x0aCc: victim@example.org: user bob\\x0d\\x0aBcc: victim@example.org\\x0d\\x0a\\x0d\\x0aforged body (resolved)\n"));
	assert_non_null(strstr(got, "\nSummary:    one\\x0aBcc: victim@example.org\n"));
	assert_non_null(strstr(got, "@nodexxBccxxx>\n"));
	/* the header block: exactly the headers above, one line each */
	for (line = strtok_r(got, "\n", &save); line != NULL && *line != '\0';
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "portmilter-watch alert") == line)
			break;		/* strtok_r skipped the blank line */
		assert_true(i < UNIT_N(want));
		assert_true(strncmp(line, want[i], strlen(want[i])) == 0 &&
			    line[strlen(want[i])] == ':');
		for (const char *p = line; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		i++;
	}
	assert_int_equal(i, UNIT_N(want));
	free(got);
}

static void test_hdr_value_cap(void **state)
{
	char *got;

	(void)state;
	got = notify_hdr_value("abcdefghijklmnop", 10);
	assert_string_equal(got, "abcdefg...");
	free(got);
	got = notify_hdr_value("\x80\r\n", 40);
	assert_string_equal(got, "\\x80\\x0d\\x0a");
	free(got);
}

/* ---- the secret file ---------------------------------------------------- */

static const struct secret_row {
	const char *name;
	mode_t mode;
	const char *content;	/* NULL: 5000 bytes; "" with size 4096: */
	size_t big;		/* that many 'k' bytes and a newline */
	const char *want;	/* the secret, or NULL: refused with */
	const char *why;
} secret_rows[] = {
	{"0600 with a newline", 0600, "s3cret\n", 0, "s3cret", NULL},
	{"0640 with CRLF", 0640, "s3cret\r\n", 0, "s3cret", NULL},
	{"0400 no newline", 0400, "s3cret", 0, "s3cret", NULL},
	{"4096 bytes and a newline", 0600, NULL, 4096, "", NULL},
	{"0644 is readable by others", 0644, "s3cret\n", 0, NULL, "it is readable by others (mode 0644): chmod o-rwx it"},
	{"0602 is writable by others", 0602, "s3cret\n", 0, NULL, "it is writable by others (mode 0602)"},
	{"empty", 0600, "\n", 0, NULL, "is empty"},
	{"4097 bytes", 0600, NULL, 4097, NULL, "is over 4096 bytes"},
	{"5000 bytes", 0600, NULL, 5000, NULL, "is over 4096 bytes"},
};

static void test_secret_row(void **state)
{
	const struct secret_row *r = *state;
	char path[] = "/tmp/notify-secret.XXXXXX";
	char *secret = NULL, *err = NULL;
	size_t len = 0;
	int fd = mkstemp(path);
	bool ok;

	assert_true(fd >= 0);
	if (r->content != NULL) {
		assert_int_equal(write(fd, r->content, strlen(r->content)), (ssize_t)strlen(r->content));
	} else {
		char *big = malloc(r->big + 1);

		memset(big, 'k', r->big);
		big[r->big] = '\n';
		assert_int_equal(write(fd, big, r->big + 1), (ssize_t)r->big + 1);
		free(big);
	}
	close(fd);
	assert_int_equal(chmod(path, r->mode), 0);
	ok = notify_secret_read(path, &secret, &len, &err);
	unlink(path);
	if (r->want != NULL) {
		if (!ok)
			fail_msg("refused: %s", err);
		if (r->content == NULL) {
			assert_int_equal(len, r->big);
			assert_int_equal(strspn(secret, "k"), r->big);
		} else {
			assert_string_equal(secret, r->want);
			assert_int_equal(len, strlen(r->want));
		}
		free(secret);
	} else {
		assert_false(ok);
		assert_non_null(err);
		if (strstr(err, r->why) == NULL || strstr(err, path) == NULL)
			fail_msg("message \"%s\" lacks \"%s\" or the file name", err, r->why);
		free(err);
	}
}

static void test_secret_not_file(void **state)
{
	char *secret = NULL, *err = NULL;
	size_t len;

	(void)state;
	assert_false(notify_secret_read("/nonexistent/secret", &secret, &len, &err));
	assert_non_null(strstr(err, "cannot open the webhook secret file \"/nonexistent/secret\""));
	free(err);
	err = NULL;
	assert_false(notify_secret_read("/", &secret, &len, &err));
	assert_non_null(strstr(err, "is not a regular file"));
	free(err);
}

/* ---- notify_check ------------------------------------------------------- */

static const struct check_row {
	const char *name;
	struct notify_cfg cfg;	/* webhook_secret_file "S": a good one */
	const char *why;	/* NULL: accepted */
} check_rows[] = {
	{"nothing configured", {.syslog = false}, NULL},
	{"https", {.webhook_url = "https://hooks.example.test/pm", .webhook_secret_file = "S"}, NULL},
	{"http to 127.0.0.1", {.webhook_url = "http://127.0.0.1:8080/pm", .webhook_secret_file = "S"}, NULL},
	{"http to [::1]", {.webhook_url = "http://[::1]:8080/pm", .webhook_secret_file = "S"}, NULL},
	{"http to another host", {.webhook_url = "http://hooks.example.test/pm", .webhook_secret_file = "S"}, "http:// only to 127.0.0.1"},
	{"ftp", {.webhook_url = "ftp://hooks.example.test/pm", .webhook_secret_file = "S"}, "bad webhook_url"},
	{"not a URL", {.webhook_url = "hooks example", .webhook_secret_file = "S"}, "bad webhook_url"},
	{"no secret file", {.webhook_url = "https://hooks.example.test/pm"}, "webhook_secret_file is not set"},
	{"timeout out of range", {.webhook_url = "https://h.example.test/", .webhook_secret_file = "S", .webhook_timeout_s = 601}, "bad webhook_timeout_s 601"},
	{"unreadable CA file", {.webhook_url = "https://h.example.test/", .webhook_secret_file = "S", .webhook_ca_file = "/nonexistent/ca.pem"}, "cannot read webhook_ca_file"},
	{"mail", {.mail_to = "abuse@example.test, noc@example.test", .mail_from = "watch@example.test", .sendmail_path = "/bin/true"}, NULL},
	{"mail_to with a line break", {.mail_to = "abuse@example.test\nBcc: x@example.org"}, "bad mail_to"},
	{"mail_from with a line break", {.mail_to = "a@example.test", .mail_from = "w@example.test\r\nX: y"}, "bad mail_from"},
	{"mail_to empty", {.mail_to = ""}, "bad mail_to"},
	{"relative sendmail_path", {.mail_to = "a@example.test", .sendmail_path = "sendmail"}, "bad sendmail_path"},
	{"retry longest below first", {.retry_min_s = 60, .retry_max_s = 10}, "the longest backoff (10 s) is below the first (60 s)"},
	{"negative retry", {.retry_attempts = -1}, "bad retry setting"},
};

static void test_check_row(void **state)
{
	const struct check_row *r = *state;
	struct notify_cfg cfg = r->cfg;
	char path[] = "/tmp/notify-check.XXXXXX";
	char *err = NULL;
	int fd = mkstemp(path);
	bool ok;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "k\n", 2), 2);
	close(fd);
	if (cfg.webhook_secret_file != NULL)
		cfg.webhook_secret_file = path;
	ok = notify_check(&cfg, &err);
	unlink(path);
	if (r->why == NULL) {
		if (!ok)
			fail_msg("refused: %s", err);
	} else {
		assert_false(ok);
		if (strstr(err, r->why) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", err, r->why);
		free(err);
	}
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest named[] = {
		cmocka_unit_test(test_json_null),
		cmocka_unit_test(test_json_document),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_mail_text),
		cmocka_unit_test(test_mail_injection),
		cmocka_unit_test(test_hdr_value_cap),
		cmocka_unit_test(test_secret_not_file),
	};
	static char names[UNIT_N(json_rows) + UNIT_N(secret_rows) +
			  UNIT_N(check_rows)][96];
	static struct CMUnitTest tests[UNIT_N(named) + UNIT_N(names)];
	size_t i, n = 0, k = 0;

	for (i = 0; i < UNIT_N(named); i++)
		tests[n++] = named[i];
	for (i = 0; i < UNIT_N(json_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "json_str: %s", json_rows[i].name);
		tests[n++] = unit_row(names[k], test_json_row, &json_rows[i]);
	}
	for (i = 0; i < UNIT_N(secret_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "secret: %s", secret_rows[i].name);
		tests[n++] = unit_row(names[k], test_secret_row, &secret_rows[i]);
	}
	for (i = 0; i < UNIT_N(check_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "check: %s", check_rows[i].name);
		tests[n++] = unit_row(names[k], test_check_row, &check_rows[i]);
	}
	if (n != UNIT_N(tests)) {
		printf("Bail out! %zu of %zu cases set up\n", n, UNIT_N(tests));
		return 99;
	}
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
