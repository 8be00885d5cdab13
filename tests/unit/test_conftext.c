/*
 * test_conftext - table tests of portmilter-conf's text parsing
 * (postfix-conf/text.c: postconf's "key = value" output, Postfix lists,
 * shell quoting for messages), one case a row (cmocka, TAP output).
 * Until these, they were reached only through tests/conf/ with a real
 * postconf. Every expected value was worked out by hand from text.h
 * and postconf(1)'s output formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

/* A list written as its elements joined by '|'. */
static void assert_words(const struct cfg_strlist *l, const char *want)
{
	char got[512] = "";

	for (size_t i = 0; i < l->n; i++) {
		if (i > 0)
			strcat(got, "|");
		strcat(got, l->v[i]);
	}
	assert_string_equal(got, want);
}

/* ---- "key = value" ------------------------------------------------------ */

struct kv_row {
	const char *name;
	const char *text;	/* postconf's output */
	const char *want;	/* "key=value|key=value", in order */
};

static const struct kv_row kv_rows[] = {
	{ "main.cf parameter", "smtpd_milters = unix:/run/pm.sock\n",
	  "smtpd_milters=unix:/run/pm.sock" },
	{ "empty value", "smtpd_milters =\n", "smtpd_milters=" },
	{ "empty value, one blank", "smtpd_milters = \n", "smtpd_milters=" },
	{ "no final newline", "a = b", "a=b" },
	{ "value keeps its blanks and '='", "a = b = c  d \n", "a=b = c  d " },
	{ "master.cf field (-F)", "submission/inet/command = smtpd\n",
	  "submission/inet/command=smtpd" },
	{ "master.cf override (-P)",
	  "5870/inet/syslog_name = postfix/5870\n",
	  "5870/inet/syslog_name=postfix/5870" },
	{ "several lines, order kept", "a = 1\nb = 2\n\nc =\n", "a=1|b=2|c=" },
	{ "no blank before '=': ignored", "a= b\n", "" },
	{ "no blank after '=': ignored", "a =b\n", "" },
	{ "blank in the key: ignored", "a b = c\n", "" },
	{ "leading blank: ignored", " a = b\n", "" },
	{ "two blanks before '=': ignored", "a  = b\n", "" },
	{ "no key: ignored", " = b\n", "" },
	{ "warnings: ignored",
	  "postconf: warning: /etc/postfix/main.cf: unused parameter: x=y\na = b\n",
	  "a=b" },
	{ "empty text", "", "" },
};

static void test_kv_row(void **state)
{
	const struct kv_row *r = *state;
	struct pc_kvlist l;
	char got[512] = "";

	memset(&l, 0, sizeof(l));
	pc_kv_parse(&l, r->text);
	for (size_t i = 0; i < l.n; i++) {
		if (i > 0)
			strcat(got, "|");
		strcat(got, l.v[i].key);
		strcat(got, "=");
		strcat(got, l.v[i].value);
	}
	assert_string_equal(got, r->want);
	pc_kv_free(&l);
}

static void test_kv_get_last(void **state)
{
	struct pc_kvlist l;

	(void)state;
	memset(&l, 0, sizeof(l));
	pc_kv_parse(&l, "a = 1\nb = 2\na = 3\n");
	assert_string_equal(pc_kv_get(&l, "a"), "3");
	assert_string_equal(pc_kv_get(&l, "b"), "2");
	assert_null(pc_kv_get(&l, "c"));
	assert_null(pc_kv_get(&l, "a "));
	pc_kv_free(&l);
	assert_int_equal(l.n, 0);
}

/* ---- Postfix lists ------------------------------------------------------ */

struct words_row {
	const char *name;
	bool groups;
	const char *value;
	const char *want;	/* words joined by '|' */
};

static const struct words_row words_rows[] = {
	{ "milters, comma and blank", true,
	  "inet:127.0.0.1:8891, unix:/run/pm.sock", "inet:127.0.0.1:8891|unix:/run/pm.sock" },
	{ "milters, blanks only", true, "a  b\tc\nd", "a|b|c|d" },
	{ "milter group: its first word", true,
	  "{ inet:host:1, default_action=accept }, unix:/a", "inet:host:1|unix:/a" },
	{ "milter group without blanks", true, "{inet:host:1}", "inet:host:1" },
	{ "milter group, comma first", true, "{ , inet:h:1 }", "inet:h:1" },
	{ "empty group", true, "{ }, a", "a" },
	{ "unclosed group", true, "{ inet:a", "inet:a" },
	{ "empty", true, "", "" },
	{ "separators only", true, " ,, \t", "" },
	{ "macros: braces are part of a word", false,
	  "{daemon_port} {client_addr}, j", "{daemon_port}|{client_addr}|j" },
	{ "macros over lines", false, "i\t{auth_type}\n{auth_authen}",
	  "i|{auth_type}|{auth_authen}" },
	{ "macros: a '{' alone is a word", false, "{ x }", "{|x|}" },
	{ "nested group: one element", true,
	  "{ inet:a:1 { x } }, unix:/b", "inet:a:1|unix:/b" },
	{ "braces inside a word: one element, as Postfix splits", true,
	  "a{b, c}, d", "a{b, c}|d" },
	{ "a stray '}' is a word", true, "a } b", "a|}|b" },
	/* An element left open runs to the end: what follows it (our
	 * milter, appended at every run) is not a name of the list. */
	{ "an unclosed group swallows the rest", true,
	  "inet:localhost:8891 {x, unix:/portmilter/portmilter.sock",
	  "inet:localhost:8891|x" },
};

struct brace_row {
	const char *name;
	const char *value;
	const char *why;	/* the start of the reason, NULL: none */
	const char *elem;
};

static const struct brace_row brace_rows[] = {
	{ "none", "inet:a:1, unix:/b", NULL, NULL },
	{ "empty", "", NULL, NULL },
	{ "a milter group", "{ inet:a:1, default_action=accept }, unix:/b",
	  NULL, NULL },
	{ "nested groups", "{ a { b } }, c", NULL, NULL },
	{ "macros", "j {daemon_name} {daemon_port}", NULL, NULL },
	{ "a stray '}' (Postfix reads it as a word)", "a } b", NULL, NULL },
	{ "an unclosed group", "inet:localhost:8891 {x", "an unbalanced '{'",
	  "{x" },
	{ "an unclosed group swallowing ours", "inet:localhost:8891 {x, "
	  "unix:/portmilter/portmilter.sock", "an unbalanced '{'",
	  "{x, unix:/portmilter/portmilter.sock" },
	{ "a restriction list", "permit_sasl_authenticated,{reject",
	  "an unbalanced '{'", "{reject" },
	{ "a '{' left open inside a word", "a{b, c", "an unbalanced '{'",
	  "a{b, c" },
	{ "a nested group left open", "{ a { b }, c", "an unbalanced '{'",
	  "{ a { b }, c" },
	{ "text after a group's '}'", "{a}b, c", "text after its '}'",
	  "{a}b" },
	{ "the first of two", "{a}b {c", "text after its '}'", "{a}b" },
};

static void test_brace_row(void **state)
{
	const struct brace_row *r = *state;
	char *elem = NULL;
	const char *why = pc_list_brace_error(r->value, &elem);

	if (r->why == NULL) {
		assert_null(why);
		assert_null(elem);
		assert_null(pc_list_brace_error(r->value, NULL));
		return;
	}
	assert_non_null(why);
	assert_true(strncmp(why, r->why, strlen(r->why)) == 0);
	assert_string_equal(elem, r->elem);
	assert_ptr_equal(pc_list_brace_error(r->value, NULL), why);
	free(elem);
}

static void test_words_row(void **state)
{
	const struct words_row *r = *state;
	struct cfg_strlist l;

	memset(&l, 0, sizeof(l));
	pc_list_words(r->value, r->groups, &l);
	assert_words(&l, r->want);
	pc_strlist_free(&l);
}

/* ---- shell quoting ------------------------------------------------------ */

struct quote_row {
	const char *text;
	const char *want;
};

static const struct quote_row quote_rows[] = {
	{ "postconf", "postconf" },
	{ "/etc/postfix", "/etc/postfix" },
	{ "smtpd_milters=unix:/run/pm.sock,inet:a:1", "smtpd_milters=unix:/run/pm.sock,inet:a:1" },
	{ "", "''" },
	{ "a b", "'a b'" },
	{ "it's", "'it'\\''s'" },
	{ "'", "''\\'''" },
	{ "$HOME", "'$HOME'" },
	{ "a;rm -rf /", "'a;rm -rf /'" },
	{ "`id`", "'`id`'" },
	{ "a\nb", "'a\nb'" },
	{ "{daemon_port}", "'{daemon_port}'" },
};

static void test_quote_row(void **state)
{
	const struct quote_row *r = *state;
	char *got = pc_shell_quote(r->text);

	assert_string_equal(got, r->want);
	free(got);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest named[] = {
		cmocka_unit_test(test_kv_get_last),
	};
	static char names[UNIT_N(kv_rows) + UNIT_N(words_rows) +
			  UNIT_N(brace_rows) + UNIT_N(quote_rows)][96];
	static struct CMUnitTest tests[UNIT_N(named) + UNIT_N(names)];
	size_t i, n = 0, k = 0;

	for (i = 0; i < UNIT_N(named); i++)
		tests[n++] = named[i];
	for (i = 0; i < UNIT_N(kv_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "kv: %s", kv_rows[i].name);
		tests[n++] = unit_row(names[k], test_kv_row, &kv_rows[i]);
	}
	for (i = 0; i < UNIT_N(words_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "list: %s",
			 words_rows[i].name);
		tests[n++] = unit_row(names[k], test_words_row, &words_rows[i]);
	}
	for (i = 0; i < UNIT_N(brace_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "braces: %s",
			 brace_rows[i].name);
		tests[n++] = unit_row(names[k], test_brace_row, &brace_rows[i]);
	}
	for (i = 0; i < UNIT_N(quote_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "quote: %.60s",
			 quote_rows[i].text);
		for (char *p = names[k]; *p != '\0'; p++)
			if (*p == '\n' || *p == '#')
				*p = '?';
		tests[n++] = unit_row(names[k], test_quote_row, &quote_rows[i]);
	}
	if (n != UNIT_N(tests)) {
		printf("Bail out! %zu of %zu cases set up\n", n, UNIT_N(tests));
		return 99;
	}
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("conftext", tests, NULL, NULL);
}
