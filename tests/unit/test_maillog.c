/*
 * Unit tests: lib/maillog.c, the Postfix log line parser.
 *  - a table of real lines (captured from Postfix 3.7 on Debian 12, see
 *    tests/unit/maillog-3.7.txt) and of the other two time formats, each
 *    with the kind and fields it must give;
 *  - the whole captured log: every line gets the kind the table of
 *    counts says (so a pattern that stops matching shows);
 *  - hostile input: cut lines, random bytes, NULs, huge lines: no
 *    crash, no overrun (run under ASan/UBSan by tools/check-all).
 * Needs top_srcdir for the captured log. TAP output.
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

#include "maillog.h"

struct row {
	const char *line;
	enum maillog_kind kind;
	const char *syslog_name;
	const char *client_addr;
	const char *sasl_method;
	const char *sasl_user;
	const char *stage;
	const char *reply;	/* "code enh text" as rebuilt */
	const char *detail;
};

#define PFX "Dec 06 15:13:11 mail "

static const struct row rows[] = {
	{PFX "postfix/26587/smtpd[29814]: connect from localhost[127.0.0.1]",
	 ML_CONNECT, "postfix/26587", "127.0.0.1", "", "", "", "", ""},
	{PFX "postfix/31870/smtpd[29837]: warning: localhost[127.0.0.1]: SASL "
	 "PLAIN authentication failed: authentication failure, "
	 "sasl_username=testuser@example.test",
	 ML_SASL_FAILED, "postfix/31870", "127.0.0.1", "PLAIN",
	 "testuser@example.test", "", "", "authentication failure"},
	{PFX "postfix/31870/smtpd[29837]: warning: localhost[127.0.0.1]: SASL "
	 "LOGIN authentication failed: authentication failure, "
	 "sasl_username=testuser@example.test",
	 ML_SASL_FAILED, "postfix/31870", "127.0.0.1", "LOGIN",
	 "testuser@example.test", "", "", "authentication failure"},
	/* no user name logged (client gave up at the prompt) */
	{PFX "postfix/smtpd[7]: warning: unknown[2001:db8::1]: SASL LOGIN "
	 "authentication failed: UGFzc3dvcmQ6",
	 ML_SASL_FAILED, "postfix", "2001:db8::1", "LOGIN", "", "", "",
	 "UGFzc3dvcmQ6"},
	/* a user name that itself looks like the separator */
	{PFX "postfix/smtpd[7]: warning: unknown[10.0.0.1]:4242: SASL PLAIN "
	 "authentication failed: x, sasl_username=a, sasl_username=b",
	 ML_SASL_FAILED, "postfix", "10.0.0.1", "PLAIN", "b", "", "",
	 "x, sasl_username=a"},
	{PFX "postfix/31870/smtpd[29837]: warning: SASL authentication "
	 "failure: Password verification failed",
	 ML_IGNORED, "postfix/31870", "", "", "", "", "", ""},
	{PFX "postfix/26025/smtpd[30411]: NOQUEUE: reject: RCPT from "
	 "localhost[127.0.0.1]: 554 5.7.1 <bob@remote.example>: Relay access "
	 "denied; from=<root@vm> to=<bob@remote.example> proto=ESMTP "
	 "helo=<client.example>",
	 ML_REJECT, "postfix/26025", "127.0.0.1", "", "", "RCPT",
	 "554 5.7.1 <bob@remote.example>: Relay access denied", ""},
	{PFX "postfix/smtpd[1]: NOQUEUE: reject: CONNECT from "
	 "unknown[192.0.2.7]: 554 5.7.1 <unknown[192.0.2.7]>: Client host "
	 "rejected: Access denied; proto=SMTP",
	 ML_REJECT, "postfix", "192.0.2.7", "", "", "CONNECT",
	 "554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: Access denied",
	 ""},
	{PFX "postfix/smtpd[1]: 42438A74163: reject: RCPT from "
	 "h[192.0.2.7]: 450 4.1.1 <x@y>: Recipient address rejected; "
	 "from=<a@b> to=<x@y> proto=ESMTP helo=<h>",
	 ML_REJECT, "postfix", "192.0.2.7", "", "", "RCPT",
	 "450 4.1.1 <x@y>: Recipient address rejected", ""},
	{PFX "postfix/26587/smtpd[29814]: NOQUEUE: milter-reject: MAIL from "
	 "localhost[127.0.0.1]: 530 5.7.0 Authentication required; "
	 "from=<root@vm> proto=ESMTP helo=<client.example>",
	 ML_MILTER_REJECT, "postfix/26587", "127.0.0.1", "", "", "MAIL",
	 "530 5.7.0 Authentication required", ""},
	{PFX "postfix/26465/smtpd[29959]: SSL_accept error from "
	 "localhost[127.0.0.1]: -1",
	 ML_TLS_FAILED, "postfix/26465", "127.0.0.1", "", "", "", "", "-1"},
	{PFX "postfix/26587/smtpd[1894]: SSL_accept error from "
	 "localhost[127.0.0.1]: lost connection",
	 ML_TLS_FAILED, "postfix/26587", "127.0.0.1", "", "", "", "",
	 "lost connection"},
	{PFX "postfix/26465/smtpd[29959]: lost connection after CONNECT from "
	 "localhost[127.0.0.1]",
	 ML_LOST, "postfix/26465", "127.0.0.1", "", "", "CONNECT", "",
	 "lost connection"},
	{PFX "postfix/smtpd[1]: timeout after END-OF-MESSAGE from "
	 "h[192.0.2.7]",
	 ML_LOST, "postfix", "192.0.2.7", "", "", "END-OF-MESSAGE", "",
	 "timeout"},
	{PFX "postfix/26587/smtpd[1894]: disconnect from localhost[127.0.0.1] "
	 "ehlo=1 auth=0/1 quit=1 commands=2/3",
	 ML_DISCONNECT, "postfix/26587", "127.0.0.1", "", "", "", "", ""},
	{PFX "postfix/26587/smtpd[29814]: 42438A74163: client=localhost"
	 "[127.0.0.1], sasl_method=PLAIN, sasl_username=testuser@example.test",
	 ML_IGNORED, "postfix/26587", "", "", "", "", "", ""},
	{PFX "postfix/qmgr[29686]: 42438A74163: removed",
	 ML_OTHER, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/qmgr[29694]: 42438A74163: from=<root@vm>, size=464, "
	 "nrcpt=1 (queue active)",
	 ML_SIZE, "postfix", "", "", "", "", "", ""},
	/* not qmgr's size line: other text after it, no number, NOQUEUE */
	{PFX "postfix/qmgr[29694]: 42438A74163: from=<a@b>, size=464, "
	 "nrcpt=1 (queue active) x",
	 ML_OTHER, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/qmgr[29694]: 42438A74163: from=<a@b>, size=, nrcpt=1 "
	 "(queue active)",
	 ML_OTHER, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/qmgr[29694]: NOQUEUE: from=<a@b>, size=1, nrcpt=1 "
	 "(queue active)",
	 ML_OTHER, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[29694]: 42438A74163: from=<a@b>, size=1, nrcpt=1 "
	 "(queue active)",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
	/* rsyslog's traditional format (space-padded day) */
	{"Dec  6 15:13:11 mx1 postfix/submission/smtpd[29837]: warning: "
	 "unknown[203.0.113.9]: SASL PLAIN authentication failed: "
	 "authentication failure, sasl_username=bob",
	 ML_SASL_FAILED, "postfix/submission", "203.0.113.9", "PLAIN", "bob",
	 "", "", "authentication failure"},
	/* RFC 3339 (rsyslog's high-precision format) */
	{"2026-12-06T15:13:11.123456+01:00 mx1 postfix/smtpd[1]: connect from "
	 "unknown[::1]",
	 ML_CONNECT, "postfix", "::1", "", "", "", "", ""},
	/* not syslog, or broken */
	{"", ML_MALFORMED, "", "", "", "", "", "", ""},
	{"Dec 06 15:13:11", ML_MALFORMED, "", "", "", "", "", "", ""},
	{"Foo 06 15:13:11 mail postfix/smtpd[1]: connect from a[1.2.3.4]",
	 ML_MALFORMED, "", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[x]: connect from a[1.2.3.4]",
	 ML_MALFORMED, "", "", "", "", "", "", ""},
	/* smtpd lines that match no pattern, or a pattern's prefix only */
	{PFX "postfix/smtpd[1]: connect from nowhere",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[1]: connect from a[not-an-address]",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[1]: disconnect from a[1.2.3.4] auth=2/1",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[1.2.3.4]: 250 ok",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
	{PFX "postfix/smtpd[1]: something new in Postfix 3.12",
	 ML_UNKNOWN, "postfix", "", "", "", "", "", ""},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *w = &rows[i];
		struct maillog_rec r;
		char reply[700] = "";

		maillog_parse(w->line, strlen(w->line), &r);
		if (r.kind != w->kind)
			fail_msg("row %zu: kind %s, want %s: %s", i,
				 maillog_kind_name(r.kind), maillog_kind_name(w->kind),
				 w->line);
		if (w->kind == ML_MALFORMED)
			continue;
		assert_string_equal(r.syslog_name, w->syslog_name);
		if (w->kind == ML_UNKNOWN || w->kind == ML_OTHER)
			continue;
		assert_string_equal(r.client_addr, w->client_addr);
		assert_string_equal(r.sasl_method, w->sasl_method);
		assert_string_equal(r.sasl_user, w->sasl_user);
		assert_string_equal(r.stage, w->stage);
		if (r.reply_code[0])
			snprintf(reply, sizeof(reply), "%s%s%s %s", r.reply_code,
				 r.reply_enh[0] ? " " : "", r.reply_enh,
				 r.reply_text);
		assert_string_equal(reply, w->reply);
		assert_string_equal(r.detail, w->detail);
		assert_false(r.truncated);
	}
}

static void test_fields(void **state)
{
	struct maillog_rec r;
	const char *l;

	(void)state;
	l = PFX "postfix/qmgr[29694]: 42438A74163: from=<root@vm>, size=464, "
	    "nrcpt=1 (queue active)";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_SIZE);
	assert_string_equal(r.program, "qmgr");
	assert_string_equal(r.queue_id, "42438A74163");
	assert_string_equal(r.sender, "root@vm");
	assert_true(r.sender_logged);
	assert_int_equal(r.size, 464);
	/* a sender holding the separator; a size over 32 bits; <> */
	l = PFX "postfix/qmgr[1]: 4XyZ0123abcd: from=<x>, size=1, nrcpt=1 "
	    "(queue active)>, size=123456789012345, nrcpt=2 (queue active)";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_SIZE);
	assert_string_equal(r.sender, "x>, size=1, nrcpt=1 (queue active)");
	assert_true(r.size == 123456789012345ULL);
	l = PFX "postfix/qmgr[1]: 42438A74163: from=<>, size=0, nrcpt=1 "
	    "(queue active)";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_SIZE);
	assert_string_equal(r.sender, "");
	assert_int_equal(r.size, 0);
	l = PFX "postfix/qmgr[1]: 42438A74163: from=<a>, size=1234567890123456, "
	    "nrcpt=1 (queue active)";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_OTHER);
	assert_string_equal(r.queue_id, "");
	l = PFX "postfix/26587/smtpd[29814]: disconnect from localhost"
	    "[127.0.0.1] ehlo=2 starttls=1 auth=0/1 mail=0/2 quit=1 "
	    "commands=4/6";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_DISCONNECT);
	assert_int_equal(r.pid, 29814);
	assert_int_equal(r.mon, 12);
	assert_int_equal(r.mday, 6);
	assert_int_equal(r.hour, 15);
	assert_int_equal(r.year, 0);
	assert_false(r.tz_known);
	assert_string_equal(r.host, "mail");
	assert_string_equal(r.program, "smtpd");
	assert_string_equal(r.client_name, "localhost");
	assert_true(r.starttls.seen && r.starttls.ok == 1 && r.starttls.total == 1);
	assert_true(r.auth.seen && r.auth.ok == 0 && r.auth.total == 1);
	assert_true(r.mail.seen && r.mail.ok == 0 && r.mail.total == 2);
	assert_true(r.ehlo.seen && r.ehlo.ok == 2);
	assert_false(r.rcpt.seen);
	assert_true(r.commands.ok == 4 && r.commands.total == 6);

	l = "2026-12-06T15:13:11.5-02:30 h postfix/smtpd[1]: connect from "
	    "x[192.0.2.1]:2525\n";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_CONNECT);
	assert_int_equal(r.year, 2026);
	assert_int_equal(r.usec, 500000);
	assert_true(r.tz_known);
	assert_int_equal(r.tz_offset, -(2 * 3600 + 30 * 60));
	assert_int_equal(r.client_port, 2525);

	l = PFX "postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[1.2.3.4]: "
	    "554 5.7.1 <x@y>: no; x; from=<s@d> to=<x@y> proto=ESMTP helo=<h>";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_REJECT);
	assert_string_equal(r.reply_text, "<x@y>: no; x");
	assert_string_equal(r.sender, "s@d");
	assert_true(r.sender_logged);
	assert_string_equal(r.queue_id, "");
	l = PFX "postfix/smtpd[1]: NOQUEUE: reject: CONNECT from a[1.2.3.4]: "
	    "554 5.7.1 <a[1.2.3.4]>: Client host rejected; proto=SMTP";
	assert_int_equal(maillog_parse(l, strlen(l), &r), ML_REJECT);
	assert_false(r.sender_logged);
	assert_string_equal(r.reply_text, "<a[1.2.3.4]>: Client host rejected");
}

/* Every line of the captured log, by kind. */
static void test_captured(void **state)
{
	const char *top = getenv("top_srcdir");
	char path[4096], line[MAILLOG_LINE_MAX + 2];
	unsigned count[ML_NKINDS] = {0};
	/* counted by hand from the file (grep), not from the parser */
	static const unsigned want[ML_NKINDS] = {
		[ML_MALFORMED] = 1,	/* the "# captured" comment */
		[ML_OTHER] = 10,
		[ML_UNKNOWN] = 0,
		[ML_IGNORED] = 6,
		[ML_CONNECT] = 17,
		[ML_DISCONNECT] = 17,
		[ML_SASL_FAILED] = 3,
		[ML_REJECT] = 3,
		[ML_MILTER_REJECT] = 1,
		[ML_TLS_FAILED] = 3,
		[ML_LOST] = 4,
		[ML_SIZE] = 2,		/* qmgr's "(queue active)" lines */
	};
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/unit/maillog-3.7.txt",
		 top ? top : ".");
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct maillog_rec r;

		count[maillog_parse(line, strlen(line), &r)]++;
	}
	fclose(fp);
	for (int k = 0; k < ML_NKINDS; k++)
		if (count[k] != want[k])
			fail_msg("%s: %u lines, want %u", maillog_kind_name(k),
				 count[k], want[k]);
}

/* Hostile input: every prefix of every table line, random bytes, NULs,
 * lines far over the limit. Nothing may crash or overrun. */
static void test_hostile(void **state)
{
	static char big[3 * MAILLOG_LINE_MAX];
	struct maillog_rec r;
	uint32_t seed = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = strlen(rows[i].line);

		for (size_t cut = 0; cut <= n; cut++) {
			char *copy = malloc(cut ? cut : 1);	/* exact size: ASan sees overruns */

			memcpy(copy, rows[i].line, cut);
			maillog_parse(copy, cut, &r);
			free(copy);
		}
	}
	for (int i = 0; i < 20000; i++) {
		char buf[200];
		size_t n;

		memcpy(buf, rows[i % 8].line, 40);
		for (size_t k = 40; k < sizeof(buf); k++) {
			seed = seed * 1103515245u + 12345u;
			buf[k] = (char)(seed >> 16);
			if ((seed >> 8) % 7 == 0)
				buf[k] = "[]:/ =,<>;0123456789."[(seed >> 20) % 21];
		}
		n = 40 + (seed >> 24) % 160;
		maillog_parse(buf, n, &r);
	}
	maillog_parse(NULL, 10, &r);
	assert_int_equal(r.kind, ML_MALFORMED);
	/* a SASL failure whose user name is far longer than the field */
	memset(big, 'A', sizeof(big));
	{
		const char *h = PFX "postfix/smtpd[1]: warning: a[1.2.3.4]: SASL "
				"PLAIN authentication failed: x, sasl_username=";

		memcpy(big, h, strlen(h));
	}
	assert_int_equal(maillog_parse(big, sizeof(big), &r), ML_SASL_FAILED);
	assert_true(r.truncated);
	assert_int_equal(strlen(r.sasl_user), sizeof(r.sasl_user) - 1);
	/* a NUL ends the line */
	assert_int_equal(maillog_parse(PFX "postfix/smtpd[1]: connect from "
				       "a[1.2.3.4]\0junk", strlen(PFX) + 48, &r),
			 ML_CONNECT);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_captured),
		cmocka_unit_test(test_hostile),
	};

	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
