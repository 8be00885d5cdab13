/*
 * test_suspend - unit tests of the suspension set and its file
 * (milter/suspend.c, issue 11): user lookup (ASCII case), address and
 * network lookup (longest prefix, IPv4-mapped, IPv6), until, duplicates,
 * the file's round trip and every way a file can be refused, and the
 * reply of the rule (policy.c). cmocka, TAP output. Expected values are
 * worked out from the contract in milter/suspend.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"
#include "addr.h"
#include "crc32c.h"
#include "policy.h"
#include "suspend.h"

#define NOW 1800000000		/* 2027-01-15 */

/* The set the lookup rows use. */
static struct suspend_set *sample(void)
{
	static const struct {
		enum suspend_kind kind;
		const char *subject;
		int64_t until;
	} adds[] = {
		{ SUSPEND_USER, "Alice@Example.TEST", 0 },
		{ SUSPEND_USER, "temp@example.test", NOW + 60 },
		{ SUSPEND_USER, "gone@example.test", NOW },	/* expired */
		{ SUSPEND_USER, "sp ace\\tab\t@example.test", 0 },
		{ SUSPEND_ADDRESS, "192.0.2.7", 0 },
		{ SUSPEND_ADDRESS, "198.51.100.0/24", 0 },
		{ SUSPEND_ADDRESS, "198.51.100.128/25", NOW - 1 },	/* expired */
		{ SUSPEND_ADDRESS, "10.0.0.0/8", 0 },
		{ SUSPEND_ADDRESS, "2001:db8:1::/48", 0 },
		{ SUSPEND_ADDRESS, "::ffff:203.0.113.0/120", 0 },
	};
	struct suspend_set *s = suspend_set_new();
	const char *why;

	for (size_t i = 0; i < UNIT_N(adds); i++)
		assert_true(suspend_set_add(s, adds[i].kind, adds[i].subject,
					    adds[i].until, &why));
	suspend_set_set_generation(s, 42);
	return s;
}

struct look_row {
	const char *name;
	const char *login;	/* NULL: not authenticated */
	const char *addr;	/* NULL: unknown address */
	bool hit;
	enum suspend_kind kind;
	const char *subject;	/* what matched */
};

static const struct look_row look_rows[] = {
	{ "user: exact case", "Alice@Example.TEST", NULL, true, SUSPEND_USER,
	  "Alice@Example.TEST" },
	{ "user: other ASCII case", "alice@example.test", "192.0.2.1", true,
	  SUSPEND_USER, "Alice@Example.TEST" },
	{ "user: another user", "bob@example.test", "192.0.2.1", false, 0, NULL },
	{ "user: a prefix of a suspended login", "alice@example.tes", NULL,
	  false, 0, NULL },
	{ "user: longer than a suspended login", "alice@example.test.",
	  NULL, false, 0, NULL },
	{ "user: until in the future", "temp@example.test", NULL, true,
	  SUSPEND_USER, "temp@example.test" },
	{ "user: until reached", "gone@example.test", NULL, false, 0, NULL },
	{ "user: blanks and backslash", "sp ace\\tab\t@example.test", NULL,
	  true, SUSPEND_USER, "sp ace\\tab\t@example.test" },
	{ "user: empty login", "", "192.0.2.1", false, 0, NULL },
	{ "address: suspended host", NULL, "192.0.2.7", true, SUSPEND_ADDRESS,
	  "192.0.2.7/32" },
	{ "address: its neighbour", NULL, "192.0.2.8", false, 0, NULL },
	{ "address: inside a /24", NULL, "198.51.100.5", true, SUSPEND_ADDRESS,
	  "198.51.100.0/24" },
	{ "address: the expired /25 leaves the /24", NULL, "198.51.100.200",
	  true, SUSPEND_ADDRESS, "198.51.100.0/24" },
	{ "address: inside a /8", NULL, "10.255.1.2", true, SUSPEND_ADDRESS,
	  "10.0.0.0/8" },
	{ "address: outside every network", NULL, "11.0.0.1", false, 0, NULL },
	{ "address: IPv6 inside the /48", NULL, "2001:db8:1:ffff::1", true,
	  SUSPEND_ADDRESS, "2001:db8:1::/48" },
	{ "address: IPv6 outside", NULL, "2001:db8:2::1", false, 0, NULL },
	{ "address: IPv4-mapped client in a /24", NULL, "::ffff:198.51.100.9",
	  true, SUSPEND_ADDRESS, "198.51.100.0/24" },
	{ "address: mapped network matches IPv4", NULL, "203.0.113.77", true,
	  SUSPEND_ADDRESS, "203.0.113.0/24" },
	{ "address: unknown address", NULL, NULL, false, 0, NULL },
	{ "both: the user is found first", "alice@example.test", "192.0.2.7",
	  true, SUSPEND_USER, "Alice@Example.TEST" },
	{ "both: a good user from a suspended address", "bob@example.test",
	  "10.1.2.3", true, SUSPEND_ADDRESS, "10.0.0.0/8" },
};

static void test_lookup(void **state)
{
	const struct look_row *r = *state;
	struct suspend_set *s = sample();
	struct pm_addr a = { 0 };
	struct suspend_hit hit;

	if (r->addr != NULL)
		assert_true(addr_parse(r->addr, &a));
	memset(&hit, 0, sizeof(hit));
	assert_int_equal(suspend_set_lookup(s, r->login, &a, NOW, &hit), r->hit);
	if (r->hit) {
		assert_int_equal(hit.kind, r->kind);
		assert_string_equal(hit.subject, r->subject);
	}
	suspend_set_free(s);
}

static void test_empty_and_null(void **state)
{
	struct suspend_set *s = suspend_set_new();
	struct pm_addr a;

	(void)state;
	assert_true(addr_parse("192.0.2.7", &a));
	assert_false(suspend_set_lookup(NULL, "alice", &a, NOW, NULL));
	assert_false(suspend_set_lookup(s, "alice", &a, NOW, NULL));
	assert_int_equal(suspend_set_count(s), 0);
	assert_int_equal(suspend_set_generation(s), 0);
	suspend_set_free(s);
	suspend_set_free(NULL);
}

/*
 * A login longer than SUSPEND_SUBJECT_MAX, or not valid UTF-8, matches
 * the suspension of its name as the events store it (milter/event.h):
 * the first 1024 bytes cut at a character boundary, invalid bytes as
 * U+FFFD. Built here byte by byte, not by utf8_text.
 */
static void test_long_and_invalid_logins(void **state)
{
	struct suspend_set *s = suspend_set_new();
	static char login[3002], name[SUSPEND_SUBJECT_MAX + 1], other[3002];
	struct suspend_hit hit;
	const char *why = NULL;

	(void)state;
	/* "Q" then 1500 two-byte characters (U+00E9): 3001 bytes. The
	 * 1024th byte would be the first half of a character: the stored
	 * name is "Q" and 511 characters, 1023 bytes. */
	login[0] = 'Q';
	for (size_t i = 1; i < 3001; i += 2)
		login[i] = '\xc3', login[i + 1] = '\xa9';
	login[3001] = '\0';
	assert_int_equal(strlen(login), 3001);
	memcpy(name, login, 1023);
	name[1023] = '\0';
	assert_true(suspend_set_add(s, SUSPEND_USER, name, 0, &why));
	/* too long to be a subject itself */
	assert_false(suspend_set_add(s, SUSPEND_USER, login, 0, &why));

	memset(&hit, 0, sizeof(hit));
	assert_true(suspend_set_lookup(s, login, NULL, NOW, &hit));
	assert_int_equal(hit.kind, SUSPEND_USER);
	assert_string_equal(hit.subject, name);
	/* in another ASCII case too */
	login[0] = 'q';
	assert_true(suspend_set_lookup(s, login, NULL, NOW, NULL));
	/* the stored name itself, as a login */
	assert_true(suspend_set_lookup(s, name, NULL, NOW, NULL));
	/* a long login that differs within the first 1023 bytes */
	memcpy(other, login, sizeof(other));
	other[500] = 'x';
	assert_false(suspend_set_lookup(s, other, NULL, NOW, NULL));
	/* a short prefix of the name is another user */
	name[1021] = '\0';
	assert_false(suspend_set_lookup(s, name, NULL, NOW, NULL));

	/* invalid UTF-8: "a" 0xff "b" is stored as "a" U+FFFD "b" */
	assert_true(suspend_set_add(s, SUSPEND_USER, "a\xef\xbf\xbd" "b", 0,
				    &why));
	memset(&hit, 0, sizeof(hit));
	assert_true(suspend_set_lookup(s, "a\xff" "b", NULL, NOW, &hit));
	assert_string_equal(hit.subject, "a\xef\xbf\xbd" "b");
	assert_false(suspend_set_lookup(s, "a\xff" "c", NULL, NOW, NULL));
	suspend_set_free(s);
}

static void test_add_errors(void **state)
{
	static const struct {
		enum suspend_kind kind;
		const char *subject;
		int64_t until;
	} bad[] = {
		{ SUSPEND_USER, "", 0 },
		{ SUSPEND_USER, NULL, 0 },
		{ SUSPEND_USER, "alice", -1 },
		{ SUSPEND_ADDRESS, "192.0.2.7/24", 0 },	/* host bits */
		{ SUSPEND_ADDRESS, "192.0.2.0/33", 0 },
		{ SUSPEND_ADDRESS, "alice", 0 },
		{ (enum suspend_kind)7, "alice", 0 },
	};
	struct suspend_set *s = suspend_set_new();
	char longer[SUSPEND_SUBJECT_MAX + 2];
	const char *why;

	(void)state;
	for (size_t i = 0; i < UNIT_N(bad); i++) {
		why = NULL;
		assert_false(suspend_set_add(s, bad[i].kind, bad[i].subject,
					     bad[i].until, &why));
		assert_non_null(why);
	}
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_false(suspend_set_add(s, SUSPEND_USER, longer, 0, &why));
	longer[SUSPEND_SUBJECT_MAX] = '\0';
	assert_true(suspend_set_add(s, SUSPEND_USER, longer, 0, &why));
	assert_int_equal(suspend_set_count(s), 1);
	suspend_set_free(s);
}

/* The same subject twice: one entry, the later until wins. */
static void test_duplicates(void **state)
{
	struct suspend_set *s = suspend_set_new();
	struct suspend_hit hit;
	struct pm_addr a;
	const char *why;

	(void)state;
	assert_true(suspend_set_add(s, SUSPEND_USER, "bob", NOW + 10, &why));
	assert_true(suspend_set_add(s, SUSPEND_USER, "BOB", NOW + 20, &why));
	assert_true(suspend_set_add(s, SUSPEND_USER, "Bob", NOW + 5, &why));
	assert_int_equal(suspend_set_count(s), 1);
	assert_true(suspend_set_lookup(s, "bob", NULL, NOW + 19, &hit));
	assert_int_equal(hit.until, NOW + 20);
	assert_true(suspend_set_add(s, SUSPEND_USER, "bob", 0, &why));
	assert_true(suspend_set_lookup(s, "bob", NULL, NOW + 1000, &hit));
	assert_int_equal(hit.until, 0);
	assert_true(suspend_set_add(s, SUSPEND_USER, "bob", NOW + 1, &why));
	assert_int_equal(hit.until, 0);
	/* 192.0.2.7 and 192.0.2.7/32 are one network; a /31 another */
	assert_true(suspend_set_add(s, SUSPEND_ADDRESS, "192.0.2.7", 0, &why));
	assert_true(suspend_set_add(s, SUSPEND_ADDRESS, "192.0.2.7/32", 0, &why));
	assert_true(suspend_set_add(s, SUSPEND_ADDRESS, "192.0.2.6/31", 0, &why));
	assert_int_equal(suspend_set_count(s), 3);
	assert_int_equal(suspend_set_count_kind(s, SUSPEND_USER), 1);
	assert_int_equal(suspend_set_count_kind(s, SUSPEND_ADDRESS), 2);
	assert_true(addr_parse("192.0.2.6", &a));
	assert_true(suspend_set_lookup(s, NULL, &a, NOW, &hit));
	assert_string_equal(hit.subject, "192.0.2.6/31");
	suspend_set_free(s);
}

/* Many entries: the table grows and every one is still found. */
static void test_many(void **state)
{
	struct suspend_set *s = suspend_set_new();
	struct pm_addr a;
	const char *why;
	char name[64];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "user%d@example.test", i);
		assert_true(suspend_set_add(s, SUSPEND_USER, name, 0, &why));
		snprintf(name, sizeof(name), "10.%d.%d.0/24", i / 256, i % 256);
		assert_true(suspend_set_add(s, SUSPEND_ADDRESS, name, 0, &why));
	}
	assert_int_equal(suspend_set_count(s), 40000);
	for (int i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "USER%d@EXAMPLE.test", i);
		assert_true(suspend_set_lookup(s, name, NULL, NOW, NULL));
		snprintf(name, sizeof(name), "10.%d.%d.99", i / 256, i % 256);
		assert_true(addr_parse(name, &a));
		assert_true(suspend_set_lookup(s, NULL, &a, NOW, NULL));
	}
	assert_false(suspend_set_lookup(s, "user20000@example.test", NULL, NOW,
					NULL));
	assert_true(addr_parse("10.200.0.1", &a));	/* 200 * 256 > 20000 */
	assert_false(suspend_set_lookup(s, NULL, &a, NOW, NULL));
	suspend_set_free(s);
}

/* Every entry of a set found the same way in another. */
static void assert_same_lookups(struct suspend_set *a, struct suspend_set *b)
{
	for (size_t i = 0; i < UNIT_N(look_rows); i++) {
		const struct look_row *r = &look_rows[i];
		struct pm_addr ad = { 0 };
		struct suspend_hit h1, h2;

		if (r->addr != NULL)
			assert_true(addr_parse(r->addr, &ad));
		memset(&h1, 0, sizeof(h1));
		memset(&h2, 0, sizeof(h2));
		assert_int_equal(suspend_set_lookup(a, r->login, &ad, NOW, &h1),
				 suspend_set_lookup(b, r->login, &ad, NOW, &h2));
		assert_int_equal(h1.kind, h2.kind);
		assert_int_equal(h1.until, h2.until);
		assert_string_equal(h1.subject, h2.subject);
	}
}

static void test_text_round_trip(void **state)
{
	struct suspend_set *s = sample(), *t;
	char err[200], *text, *again;
	size_t len, len2;

	(void)state;
	text = suspend_set_encode(s, &len);
	/* the blank, tab and backslash of a login are escaped */
	assert_non_null(strstr(text, "\nuser 0 sp\\x20ace\\x5ctab\\x09@example.test\n"));
	assert_non_null(strstr(text, "\naddress 0 198.51.100.0/24\n"));
	assert_non_null(strstr(text, "\naddress 0 203.0.113.0/24\n"));
	assert_int_equal(strncmp(text, "portmilter-suspensions 1\ngeneration 42\n", 39), 0);
	t = suspend_set_decode(text, len, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(suspend_set_count(t), suspend_set_count(s));
	assert_int_equal(suspend_set_generation(t), 42);
	assert_same_lookups(s, t);
	again = suspend_set_encode(t, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(text, again, len);
	free(text);
	free(again);
	suspend_set_free(s);
	suspend_set_free(t);
}

/* A text with the right end line for its body. */
static char *with_end(const char *body, size_t count)
{
	size_t n = strlen(body);
	char *out = malloc(n + 64);

	assert_non_null(out);
	memcpy(out, body, n);
	snprintf(out + n, 64, "end %zu %08x\n", count, crc32c(0, body, n));
	return out;
}

struct bad_row {
	const char *name;
	const char *body;	/* before the end line (added with its CRC) */
	size_t count;
	const char *raw;	/* instead: the whole text as is */
	const char *err;	/* the start of the message */
};

#define HDR "portmilter-suspensions 1\ngeneration 3\n"

static const struct bad_row bad_rows[] = {
	{ "empty file", NULL, 0, "", "line 1: not a portmilter" },
	{ "another file", NULL, 0, "hello\n", "line 1: not a portmilter" },
	{ "version 2", NULL, 0, "portmilter-suspensions 2\n", "line 1:" },
	{ "no generation", "portmilter-suspensions 1\nuser 0 a\n", 1, NULL,
	  "line 2: bad generation" },
	{ "generation with a sign", "portmilter-suspensions 1\ngeneration +3\n", 0,
	  NULL, "line 2: bad generation" },
	{ "cut after the header", NULL, 0, HDR, "line 3: cut short" },
	{ "cut in a line", NULL, 0, HDR "user 0 alice", "line 3: cut short" },
	{ "cut before the end line", NULL, 0, HDR "user 0 alice\n",
	  "line 4: cut short" },
	{ "unknown kind", HDR "group 0 staff\n", 1, NULL, "line 3: expected" },
	{ "until not a number", HDR "user x alice\n", 1, NULL, "line 3: bad until" },
	{ "until negative", HDR "user -5 alice\n", 1, NULL, "line 3: bad until" },
	{ "until with leading zero", HDR "user 05 alice\n", 1, NULL,
	  "line 3: bad until" },
	{ "until past INT64_MAX", HDR "user 9830000018300000000 alice\n", 1,
	  NULL, "line 3: bad until" },
	{ "until INT64_MAX + 1", HDR "user 9223372036854775808 alice\n", 1,
	  NULL, "line 3: bad until" },
	{ "generation past INT64_MAX",
	  "portmilter-suspensions 1\ngeneration 9999999999999999999\n", 0, NULL,
	  "line 2: bad generation" },
	{ "empty subject", HDR "user 0 \n", 1, NULL, "line 3: bad subject" },
	{ "raw blank in a subject", HDR "user 0 a b\n", 1, NULL,
	  "line 3: bad subject" },
	{ "bad escape", HDR "user 0 a\\x4\n", 1, NULL, "line 3: bad subject" },
	{ "escape of a plain byte", HDR "user 0 \\x41lice\n", 1, NULL,
	  "line 3: bad subject" },
	{ "escaped NUL", HDR "user 0 a\\x00b\n", 1, NULL, "line 3: bad subject" },
	{ "network with host bits", HDR "address 0 192.0.2.1/24\n", 1, NULL,
	  "line 3: " },
	{ "not a network", HDR "address 0 example.test\n", 1, NULL, "line 3: " },
	{ "count too high", HDR "user 0 alice\n", 2, NULL,
	  "line 4: entry count mismatch" },
	{ "checksum wrong", NULL, 0, HDR "user 0 alice\nend 1 00000000\n",
	  "line 4: checksum mismatch" },
	{ "end line without a checksum", NULL, 0, HDR "user 0 alice\nend 1\n",
	  "line 4: bad end line" },
	{ "end line with a short checksum", NULL, 0, HDR "end 0 1234567\n",
	  "line 3: bad end line" },
};

static void test_decode_bad(void **state)
{
	const struct bad_row *r = *state;
	char *text = r->raw ? strdup(r->raw) : with_end(r->body, r->count);
	char err[200] = "";
	struct suspend_set *s;

	assert_non_null(text);
	s = suspend_set_decode(text, strlen(text), err, sizeof(err));
	if (s != NULL)
		fail_msg("accepted: %s", text);
	if (strncmp(err, r->err, strlen(r->err)) != 0)
		fail_msg("message \"%s\", wanted \"%s...\"", err, r->err);
	free(text);
}

/* A good text altered anywhere (one bit) or cut anywhere is refused. */
static void test_decode_any_damage(void **state)
{
	struct suspend_set *s = sample(), *t;
	char err[200];
	size_t len;
	char *text = suspend_set_encode(s, &len), *copy = malloc(len);

	(void)state;
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(copy, text, len);
			copy[i] ^= (char)(1 << bit);
			t = suspend_set_decode(copy, len, err, sizeof(err));
			if (t != NULL)
				fail_msg("byte %zu bit %d flipped: accepted", i, bit);
		}
		t = suspend_set_decode(text, i, err, sizeof(err));
		if (t != NULL)
			fail_msg("cut at %zu of %zu: accepted", i, len);
	}
	/* and something after the end line */
	copy = realloc(copy, len + 2);
	assert_non_null(copy);
	memcpy(copy, text, len);
	memcpy(copy + len, "x\n", 2);
	assert_null(suspend_set_decode(copy, len + 2, err, sizeof(err)));
	assert_non_null(strstr(err, "data after the end line"));
	free(copy);
	free(text);
	suspend_set_free(s);
}

static char tmpdir[64];

static void test_file_round_trip(void **state)
{
	struct suspend_set *s = sample(), *t;
	char err[400], path[128];
	struct stat st;
	bool missing;

	(void)state;
	t = suspend_file_load(tmpdir, &missing, err, sizeof(err));
	assert_null(t);
	assert_true(missing);
	assert_true(suspend_file_save(tmpdir, s, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/suspensions", tmpdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	snprintf(path, sizeof(path), "%s/suspensions.tmp", tmpdir);
	assert_int_not_equal(stat(path, &st), 0);	/* renamed away */
	t = suspend_file_load(tmpdir, &missing, err, sizeof(err));
	assert_non_null(t);
	assert_false(missing);
	assert_same_lookups(s, t);
	assert_int_equal(suspend_set_generation(t), 42);
	suspend_set_free(t);
	/* an empty list is a list too */
	suspend_set_free(s);
	s = suspend_set_new();
	assert_true(suspend_file_save(tmpdir, s, err, sizeof(err)));
	t = suspend_file_load(tmpdir, &missing, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(suspend_set_count(t), 0);
	suspend_set_free(t);
	suspend_set_free(s);
}

static void test_file_corrupt(void **state)
{
	struct suspend_set *s = sample(), *t;
	char err[400], path[128], target[128];
	bool missing;
	FILE *fp;

	(void)state;
	assert_true(suspend_file_save(tmpdir, s, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/suspensions", tmpdir);
	/* cut: truncate to 50 bytes */
	assert_int_equal(truncate(path, 50), 0);
	t = suspend_file_load(tmpdir, &missing, err, sizeof(err));
	assert_null(t);
	assert_false(missing);
	assert_non_null(strstr(err, "cut short"));
	assert_non_null(strstr(err, path));
	/* garbage */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("\x7f" "ELF binary garbage\n", fp);
	fclose(fp);
	assert_null(suspend_file_load(tmpdir, &missing, err, sizeof(err)));
	assert_false(missing);
	/* a symlink is never followed, for reading or writing */
	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_null(suspend_file_load(tmpdir, &missing, err, sizeof(err)));
	snprintf(path, sizeof(path), "%s/suspensions.tmp", tmpdir);
	assert_int_equal(symlink(target, path), 0);
	assert_false(suspend_file_save(tmpdir, s, err, sizeof(err)));
	assert_int_not_equal(access(target, F_OK), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/suspensions", tmpdir);
	unlink(path);
	/* a directory that is not there */
	assert_false(suspend_file_save("/nonexistent/dir", s, err, sizeof(err)));
	suspend_set_free(s);
}

static void test_rule(void **state)
{
	struct policy_verdict v;

	(void)state;
	v = policy_rule_verdict(POLICY_RULE_SUSPENDED_USER, 0);
	assert_int_equal(v.action, POLICY_REJECT);
	assert_string_equal(v.rule, "suspended");
	assert_string_equal(v.rcode, "550");
	assert_string_equal(v.xcode, "5.7.1");
	assert_string_equal(v.text, "Account suspended, contact your provider");
	assert_false(v.monitor);
	v = policy_rule_verdict(POLICY_RULE_SUSPENDED_ADDRESS, 0);
	assert_int_equal(v.action, POLICY_REJECT);
	assert_string_equal(v.rule, "suspended");
	assert_string_equal(v.rcode, "550");
	assert_string_equal(v.text, "Client address suspended, contact your provider");
	assert_string_equal(policy_rule(POLICY_RULE_SUSPENDED_USER)->stage, "MAIL");
}

static int rm_tmpdir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[UNIT_N(look_rows) + UNIT_N(bad_rows) + 10];
	size_t n = 0;

	for (size_t i = 0; i < UNIT_N(look_rows); i++)
		tests[n++] = unit_row(look_rows[i].name, test_lookup, &look_rows[i]);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_empty_and_null);
	tests[n++] = (struct CMUnitTest)
		cmocka_unit_test(test_long_and_invalid_logins);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_add_errors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_duplicates);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_many);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_text_round_trip);
	for (size_t i = 0; i < UNIT_N(bad_rows); i++)
		tests[n++] = unit_row(bad_rows[i].name, test_decode_bad, &bad_rows[i]);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_decode_any_damage);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_file_round_trip);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_file_corrupt);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_rule);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_suspend.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	if (n != UNIT_N(tests))
		return 1;
	return cmocka_run_group_tests_name("suspend", tests, NULL, rm_tmpdir);
}
