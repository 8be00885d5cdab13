/*
 * Unit tests: lib/util.c (escaping, number parsing) and lib/addr.c
 * (addresses and CIDR matching). Table-driven; TAP output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "util.h"

static void test_escape_table(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} rows[] = {
		{"plain text", "plain text"},
		{"", ""},
		{"quo\"te", "quo\\\"te"},
		{"back\\slash", "back\\\\slash"},
		{"cr\rlf\n", "cr\\x0dlf\\x0a"},
		{"tab\tbel\a", "tab\\x09bel\\x07"},
		{"caf\xc3\xa9", "caf\\xc3\\xa9"},
		{"\x7f\x80\xff", "\\x7f\\x80\\xff"},
		{"%s%n", "%s%n"},
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(str_escape(buf, sizeof(buf), rows[i].in), rows[i].out);
	assert_string_equal(str_escape(buf, sizeof(buf), NULL), "");
}

static void test_escape_truncates(void **state)
{
	char big[10000];
	char out[16];

	(void)state;
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	str_escape(out, sizeof(out), big);
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(out + strlen(out) - 3, "...");
	/* An escape sequence is never cut in half. */
	str_escape(out, 8, "\x01\x02\x03");
	assert_string_equal(out, "\\x01...");
	str_escape(out, 2, "abc");
	assert_string_equal(out, "a");
	str_escape(out, 1, "abc");
	assert_string_equal(out, "");
}

static void test_str_to_long(void **state)
{
	static const struct {
		const char *in;
		long min, max;
		bool ok;
		long value;
	} rows[] = {
		{"25", 1, 65535, true, 25},
		{"65535", 1, 65535, true, 65535},
		{"65536", 1, 65535, false, 0},
		{"0", 1, 65535, false, 0},
		{"", 1, 65535, false, 0},
		{" 25", 1, 65535, false, 0},
		{"25 ", 1, 65535, false, 0},
		{"+25", 1, 65535, false, 0},
		{"25x", 1, 65535, false, 0},
		{"0x19", 1, 65535, false, 0},
		{"-1", -5, 5, true, -1},
		{"-", -5, 5, false, 0},
		{"99999999999999999999999", 0, 100, false, 0},
		{"010", 0, 100, true, 10},	/* base 10, never octal */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		long v = -12345;
		bool ok = str_to_long(rows[i].in, rows[i].min, rows[i].max, &v);

		assert_int_equal(ok, rows[i].ok);
		if (ok)
			assert_int_equal(v, rows[i].value);
	}
	assert_false(str_to_long(NULL, 0, 1, &(long){0}));
}

static void test_domain_helpers(void **state)
{
	char *d;

	(void)state;
	assert_true(str_eq_nocase("Example.COM", "example.com"));
	assert_false(str_eq_nocase("example.com", "example.co"));
	d = str_domain_norm("Example.COM.");
	assert_string_equal(d, "example.com");
	free(d);
}

/* The events' text form: invalid bytes as U+FFFD, cut at a character
 * boundary; every expected value written by hand. */
static void test_utf8_text(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		const char *out;
		bool differs;
	} rows[] = {
		{ "", 8, "", false },
		{ "alice", 8, "alice", false },
		{ "alice", 5, "alice", false },		/* exactly max */
		{ "alice", 4, "alic", true },		/* ASCII cut */
		{ "a\xc3\xa9", 3, "a\xc3\xa9", false },	/* a + é, 3 bytes */
		{ "a\xc3\xa9", 2, "a", true },	/* é not split */
		{ "\xf0\x9f\x98\x80x", 3, "", true },	/* 4-byte char, never half */
		{ "\xf0\x9f\x98\x80x", 4, "\xf0\x9f\x98\x80", true },
		{ "a\xff" "b", 8, "a\xef\xbf\xbd" "b", true },	/* lone 0xff */
		{ "a\xff" "b", 3, "a", true },		/* U+FFFD does not fit */
		{ "a\xff" "b", 4, "a\xef\xbf\xbd", true },
		{ "u\xe2\x82", 16, "u\xef\xbf\xbd\xef\xbf\xbd", true },	/* cut sequence */
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool differs = !rows[i].differs;

		memset(buf, 'X', sizeof(buf));
		assert_int_equal(utf8_text(buf, rows[i].in, rows[i].max, &differs),
				 strlen(rows[i].out));
		assert_string_equal(buf, rows[i].out);
		assert_int_equal(differs, rows[i].differs);
		assert_true(utf8_valid(buf));
	}
	/* differs may be NULL */
	assert_int_equal(utf8_text(buf, "abc", 2, NULL), 2);
	assert_string_equal(buf, "ab");
	/* utf8_prefix: the same cut, for valid UTF-8 */
	assert_int_equal(utf8_prefix("", 0), 0);
	assert_int_equal(utf8_prefix("alice", 8), 5);
	assert_int_equal(utf8_prefix("alice", 5), 5);
	assert_int_equal(utf8_prefix("alice", 4), 4);
	assert_int_equal(utf8_prefix("a\xc3\xa9", 2), 1);
	assert_int_equal(utf8_prefix("a\xc3\xa9", 3), 3);
	assert_int_equal(utf8_prefix("\xf0\x9f\x98\x80x", 3), 0);
	assert_int_equal(utf8_prefix("\xf0\x9f\x98\x80x", 4), 4);
	assert_int_equal(utf8_prefix("ab\xe6\x97\xa5", 4), 2);
}

static void test_utf8(void **state)
{
	static const struct {
		const char *in;
		size_t len;		/* of the first sequence; 0 = invalid */
		unsigned cp;
	} rows[] = {
		{"A", 1, 0x41},
		{"\xc3\xa9", 2, 0xe9},			/* e acute */
		{"\xe2\x82\xac", 3, 0x20ac},		/* euro sign */
		{"\xf0\x9f\x98\x80", 4, 0x1f600},
		{"\xf4\x8f\xbf\xbf", 4, 0x10ffff},	/* the last code point */
		{"\xc0\x80", 0, 0},			/* overlong NUL */
		{"\xe0\x80\xaf", 0, 0},		/* overlong '/' */
		{"\xed\xa0\x80", 0, 0},		/* surrogate D800 */
		{"\xf4\x90\x80\x80", 0, 0},		/* above U+10FFFF */
		{"\xc3\x28", 0, 0},			/* bad continuation */
		{"\xe2\x82", 0, 0},			/* cut by the NUL */
		{"\xff", 0, 0},
		{"\x80", 0, 0},				/* lone continuation */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		unsigned cp = 0xdeadu;
		size_t n = utf8_decode((const unsigned char *)rows[i].in, &cp);

		if (n != rows[i].len || (n && cp != rows[i].cp))
			fail_msg("row %zu: got length %zu cp %x", i, n, cp);
		assert_int_equal(utf8_valid(rows[i].in), rows[i].len == strlen(rows[i].in));
	}
	assert_true(utf8_valid(""));
	assert_true(utf8_valid("caf\xc3\xa9 \xe2\x82\xac"));
	assert_false(utf8_valid("ok\xff"));
}

static void test_addr_parse(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		int family;
		const char *text;
	} rows[] = {
		{"192.0.2.1", true, AF_INET, "192.0.2.1"},
		{"[192.0.2.1]", true, AF_INET, "192.0.2.1"},
		{"2001:db8::1", true, AF_INET6, "2001:db8::1"},
		{"ipv6:2001:db8::1", true, AF_INET6, "2001:db8::1"},
		{"::ffff:192.0.2.7", true, AF_INET, "192.0.2.7"},
		{"::1", true, AF_INET6, "::1"},
		{"192.0.2.1x", false, 0, NULL},
		{"192.0.2", false, 0, NULL},
		{"", false, 0, NULL},
		{"[]", false, 0, NULL},
		{"host.example", false, 0, NULL},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pm_addr a;

		assert_int_equal(addr_parse(rows[i].in, &a), rows[i].ok);
		if (!rows[i].ok)
			continue;
		assert_int_equal(a.family, rows[i].family);
		assert_string_equal(addr_to_text(&a, buf, sizeof(buf)), rows[i].text);
	}
	assert_false(addr_parse(NULL, &(struct pm_addr){0}));
	assert_string_equal(addr_to_text(&(struct pm_addr){0}, buf, sizeof(buf)), "unknown");
}

static void test_addr_from_sockaddr(void **state)
{
	struct sockaddr_in sin = {0};
	struct sockaddr_in6 sin6 = {0};
	struct sockaddr sun = {0};
	struct pm_addr a;
	char buf[64];

	(void)state;
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "198.51.100.9", &sin.sin_addr);
	assert_true(addr_from_sockaddr((struct sockaddr *)&sin, &a));
	assert_string_equal(addr_to_text(&a, buf, sizeof(buf)), "198.51.100.9");
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:198.51.100.10", &sin6.sin6_addr);
	assert_true(addr_from_sockaddr((struct sockaddr *)&sin6, &a));
	assert_int_equal(a.family, AF_INET);
	assert_string_equal(addr_to_text(&a, buf, sizeof(buf)), "198.51.100.10");
	sun.sa_family = AF_UNIX;
	assert_false(addr_from_sockaddr(&sun, &a));
	assert_false(addr_from_sockaddr(NULL, &a));
}

static void test_cidr_parse_errors(void **state)
{
	static const char *bad[] = {
		"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x",
		"::1/129", "10.0.0/8", "/8", "::ffff:10.0.0.0/95", "example/8",
		"10.0.0.0/ 8",
		/* issue 9, item 6: signs, leading zeros, junk, host bits */
		"192.0.2.7/-0", "10.0.0.0/+8", "::/-0", "10.0.0.0/08",
		"10.0.0.0/00", "10.0.0.0/0032", "10.0.0.0/8 ", "10.0.0.0/8/8",
		"10.0.0.0/0x8", "10.0.0.1/8", "192.0.2.77/24", "2001:db8::1/32",
		"::ffff:10.0.0.1/104", "0.0.0.1/0", "::1/0",
		"10.0.0.0/99999999999999999999",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pm_cidr c;
		const char *why = NULL;

		assert_false(cidr_parse(bad[i], &c, &why));
		assert_non_null(why);
	}
}

/* A refused host-bits network names the network instead. */
static void test_cidr_hint(void **state)
{
	static const struct {
		const char *in, *why;
	} rows[] = {
		{"10.0.0.1/8", "host bits set after the prefix (did you mean 10.0.0.0/8?)"},
		{"192.0.2.77/24", "host bits set after the prefix (did you mean 192.0.2.0/24?)"},
		{"192.0.2.7/0", "host bits set after the prefix (did you mean 0.0.0.0/0?)"},
		{"2001:db8::1/32", "host bits set after the prefix (did you mean 2001:db8::/32?)"},
		{"::ffff:10.0.0.1/104", "host bits set after the prefix (did you mean ::ffff:10.0.0.0/104?)"},
		{"192.0.2.7/-0", "prefix length must be 0..32 in decimal, without sign or leading zero"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pm_cidr c;
		const char *why = NULL;

		assert_false(cidr_parse(rows[i].in, &c, &why));
		assert_string_equal(why, rows[i].why);
	}
}

/* Whatever parses prints to a text that parses back to the same network
 * and prints the same again. */
static void test_cidr_round_trip(void **state)
{
	static const struct {
		const char *in, *text;
	} rows[] = {
		{"0.0.0.0/0", "0.0.0.0/0"}, {"::/0", "::/0"},
		{"10.0.0.0/8", "10.0.0.0/8"}, {"192.0.2.1", "192.0.2.1/32"},
		{"[192.0.2.1]/32", "192.0.2.1/32"}, {"2001:db8::/32", "2001:db8::/32"},
		{"::1", "::1/128"}, {"ipv6:::1/128", "::1/128"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"}, {"::ffff:192.0.2.7", "192.0.2.7/32"},
		{"10.128.0.0/9", "10.128.0.0/9"}, {"255.255.255.255/32", "255.255.255.255/32"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pm_cidr a, b;
		char t1[64], t2[64];

		assert_true(cidr_parse(rows[i].in, &a, NULL));
		assert_string_equal(cidr_to_text(&a, t1, sizeof(t1)), rows[i].text);
		assert_true(cidr_parse(t1, &b, NULL));
		assert_int_equal(a.prefix, b.prefix);
		assert_int_equal(a.net.family, b.net.family);
		assert_memory_equal(a.net.bytes, b.net.bytes, sizeof(a.net.bytes));
		assert_string_equal(cidr_to_text(&b, t2, sizeof(t2)), t1);
	}
}

static void test_cidr_match(void **state)
{
	static const struct {
		const char *net;
		const char *addr;
		bool match;
	} rows[] = {
		{"192.0.2.0/24", "192.0.2.77", true},
		{"192.0.2.0/24", "192.0.3.1", false},
		{"192.0.2.0/24", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"0.0.0.0/0", "203.0.113.5", true},
		{"0.0.0.0/0", "2001:db8::1", false},
		{"::/0", "2001:db8::1", true},
		{"::/0", "203.0.113.5", false},
		{"2001:db8::/32", "2001:db8:ffff::1", true},
		{"2001:db8::/32", "2001:db9::1", false},
		{"10.0.0.0/9", "10.127.255.255", true},
		{"10.0.0.0/9", "10.128.0.0", false},
		{"192.0.2.0/24", "::ffff:192.0.2.3", true},
		{"::ffff:192.0.2.0/120", "192.0.2.200", true},
		{"::ffff:192.0.2.0/120", "192.0.3.200", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pm_cidr c;
		struct pm_addr a;

		assert_true(cidr_parse(rows[i].net, &c, NULL));
		assert_true(addr_parse(rows[i].addr, &a));
		if (cidr_match(&c, &a) != rows[i].match)
			fail_msg("%s vs %s: expected %s", rows[i].net, rows[i].addr,
				 rows[i].match ? "match" : "no match");
	}
	{
		struct pm_cidr c;

		assert_true(cidr_parse("0.0.0.0/0", &c, NULL));
		assert_false(cidr_match(&c, &(struct pm_addr){0}));
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_truncates),
		cmocka_unit_test(test_str_to_long),
		cmocka_unit_test(test_domain_helpers),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_text),
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_from_sockaddr),
		cmocka_unit_test(test_cidr_parse_errors),
		cmocka_unit_test(test_cidr_hint),
		cmocka_unit_test(test_cidr_round_trip),
		cmocka_unit_test(test_cidr_match),
	};

	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
