/*
 * test_report - table tests of portmilter-report's pure parts (cmocka,
 * TAP output), one case a row: --since/--until parsing and formatting
 * (report/timeparse.c), and the JSON and CSV output of report/output.c
 * driven through out_result() on results built in memory with libpq's
 * PQmakeEmptyPGresult (no server). CSV cells that a spreadsheet would
 * read as formulas are left to their own tests. Every expected value
 * was worked out by hand from report.h and RFC 8259 / RFC 4180.
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

#include "report.h"

/* portmilter-report.c's, which is not linked here. */
void report_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- timeparse ---------------------------------------------------------- */

#define NOW 1700000000LL	/* 2023-11-14 22:13:20 UTC */

struct tp_row {
	const char *text;
	bool ok;
	int64_t want;		/* ok: the instant */
	const char *why;	/* !ok: what *err says (a substring) */
};

static const struct tp_row tp_rows[] = {
	/* relative */
	{ "30m", true, NOW - 1800, NULL },
	{ "24h", true, NOW - 86400, NULL },
	{ "7d", true, NOW - 604800, NULL },
	{ "2w", true, NOW - 1209600, NULL },
	{ "0h", true, NOW, NULL },
	{ "36600d", true, NOW - 36600LL * 86400, NULL },
	{ "36601d", false, 0, "too far back" },
	{ "99999999999999999999999w", false, 0, "too far back" },
	{ "5y", false, 0, "unknown unit" },
	{ "5H", false, 0, "unknown unit" },
	{ "1h ", false, 0, "not a time" },
	{ " 1h", false, 0, "not a time" },
	{ "h", false, 0, "not a time" },
	{ "-1h", false, 0, "not a time" },
	{ "", false, 0, "empty" },
	/* absolute: dates */
	{ "1970-01-01", true, 0, NULL },
	{ "2024-01-01", true, 1704067200, NULL },
	{ "2024-02-29", true, 1709164800, NULL },
	{ "2023-02-29", false, 0, "no such date" },
	{ "2024-04-31", false, 0, "no such date" },
	{ "2024-13-01", false, 0, "no such date" },
	{ "2024-00-10", false, 0, "no such date" },
	{ "1899-12-31", false, 0, "year out of range" },
	{ "2024-1-01", false, 0, "not a time" },
	{ "2024/01/01", false, 0, "not a time" },
	{ "2024-01-01x", false, 0, "unexpected text after the date" },
	/* absolute: times and zones */
	{ "2024-01-01 12:30", true, 1704112200, NULL },
	{ "2024-01-01T12:30", true, 1704112200, NULL },
	{ "2024-01-01t12:30", true, 1704112200, NULL },
	{ "2024-01-01 12:30:15", true, 1704112215, NULL },
	{ "2024-01-01 12:30:15Z", true, 1704112215, NULL },
	{ "2024-01-01 12:30+02", true, 1704105000, NULL },
	{ "2024-01-01 12:30+0200", true, 1704105000, NULL },
	{ "2024-01-01 12:30+02:00", true, 1704105000, NULL },
	{ "2024-01-01 12:30-01:30", true, 1704117600, NULL },
	{ "2024-01-01 24:00", false, 0, "no such time of day" },
	{ "2024-01-01 12:60", false, 0, "no such time of day" },
	{ "2024-01-01 12:30:60", false, 0, "no such time of day" },
	{ "2024-01-01 12", false, 0, "malformed time of day" },
	{ "2024-01-01 12:3", false, 0, "malformed time of day" },
	{ "2024-01-01 12:30 UTC", false, 0, "unexpected text after the time" },
	{ "2024-01-01 12:30+24", false, 0, "zone offset out of range" },
	{ "2024-01-01 12:30+02:60", false, 0, "zone offset out of range" },
	{ "2024-01-01 12:30+2", false, 0, "malformed zone offset" },
	{ "2024-01-01 12:30+02:0", false, 0, "malformed zone offset" },
	{ "2024-01-01 12:30+02:00x", false, 0, "malformed zone offset" },
};

static void test_tp_row(void **state)
{
	const struct tp_row *r = *state;
	int64_t got = -1;
	char *err = NULL;
	bool ok = tp_parse(r->text, NOW, &got, &err);

	assert_int_equal(ok, r->ok);
	if (r->ok) {
		assert_int_equal(got, r->want);
		assert_null(err);	/* left alone on success */
	} else {
		assert_non_null(err);
		if (strstr(err, r->why) == NULL)
			fail_msg("err \"%s\", wanted \"%s\"", err, r->why);
		free(err);
	}
}

struct tpf_row {
	int64_t t;
	const char *want;
};

static const struct tpf_row tpf_rows[] = {
	{ 0, "1970-01-01 00:00:00+00" },
	{ 1709164800, "2024-02-29 00:00:00+00" },
	{ 1704112215, "2024-01-01 12:30:15+00" },
	{ NOW, "2023-11-14 22:13:20+00" },
};

static void test_tp_format_row(void **state)
{
	const struct tpf_row *r = *state;
	char buf[32];

	tp_format(r->t, buf, sizeof(buf));
	assert_string_equal(buf, r->want);
}

/* ---- JSON and CSV ------------------------------------------------------- */

#define OID_BOOL_	16
#define OID_INT4_	23
#define OID_TEXT_	25
#define OID_TEXTARRAY_	1009

/* One value (NULL = SQL NULL) of a type, in a column named "v". */
struct out_row {
	const char *name;
	unsigned type;
	const char *value;
	const char *want;	/* the line of the value, as printed */
};

static PGresult *one_value(unsigned type, const char *value)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc col;

	assert_non_null(res);
	memset(&col, 0, sizeof(col));
	col.name = (char *)"v";
	col.typid = type;
	col.typlen = -1;
	col.atttypmod = -1;
	assert_true(PQsetResultAttrs(res, 1, &col));
	assert_true(PQsetvalue(res, 0, 0, (char *)value,
			       value ? (int)strlen(value) : -1));
	return res;
}

/* out_result(res, format) as a string (malloc'd). */
static char *render(PGresult *res, enum out_format format)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	assert_non_null(fp);
	assert_true(out_result(fp, res, format));
	fclose(fp);
	return text;
}

/* JSON (RFC 8259): the row is {"v":WANT}. */
static const struct out_row json_rows[] = {
	{ "plain", OID_TEXT_, "plain", "\"plain\"" },
	{ "empty", OID_TEXT_, "", "\"\"" },
	{ "NULL", OID_TEXT_, NULL, "null" },
	{ "quote", OID_TEXT_, "a\"b", "\"a\\\"b\"" },
	{ "backslash", OID_TEXT_, "a\\b", "\"a\\\\b\"" },
	{ "newline", OID_TEXT_, "a\nb", "\"a\\u000ab\"" },
	{ "CR and tab", OID_TEXT_, "\r\t", "\"\\u000d\\u0009\"" },
	{ "C0 controls", OID_TEXT_, "\x01\x1b[2J\x1f", "\"\\u0001\\u001b[2J\\u001f\"" },
	{ "DEL passes (legal JSON)", OID_TEXT_, "a\x7f", "\"a\x7f\"" },
	{ "UTF-8 passes", OID_TEXT_, "P\xc5\x99\xc3\xad" "bram", "\"P\xc5\x99\xc3\xad" "bram\"" },
	{ "U+2028 and U+2029", OID_TEXT_, "a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"" },
	{ "invalid UTF-8", OID_TEXT_, "a\xff" "b", "\"a\\ufffdb\"" },
	{ "truncated UTF-8", OID_TEXT_, "a\xc5", "\"a\\ufffd\"" },
	{ "overlong UTF-8 slash", OID_TEXT_, "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "number", OID_INT4_, "42", "42" },
	{ "negative number", OID_INT4_, "-7", "-7" },
	{ "number column, not a number", OID_INT4_, "NaN", "\"NaN\"" },
	{ "bool true", OID_BOOL_, "t", "true" },
	{ "bool false", OID_BOOL_, "f", "false" },
	{ "text[]", OID_TEXTARRAY_, "{a,\"b,c\",NULL}", "[\"a\",\"b,c\",null]" },
	{ "text[] empty", OID_TEXTARRAY_, "{}", "[]" },
};

static void test_json_row(void **state)
{
	const struct out_row *r = *state;
	PGresult *res = one_value(r->type, r->value);
	char *got = render(res, OUT_JSON);
	char want[256];

	snprintf(want, sizeof(want), "[\n{\"v\":%s}\n]\n", r->want);
	assert_string_equal(got, want);
	free(got);
	PQclear(res);
}

/*
 * The table for a terminal: the header "v", a line of dashes as wide as
 * the column, then WANT: escaped (backslash, controls, DEL, bidi
 * controls, invalid UTF-8), cut to OUT_CELL_MAX (60) characters with a
 * final "...". X60 and friends: runs of 'x'.
 */
#define X57 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X59 X57 "xx"
#define X60 X59 "x"
#define E10 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define E57 E10 E10 E10 E10 E10 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
static const struct out_row table_rows[] = {
	{ "plain", OID_TEXT_, "plain", "plain" },
	{ "empty", OID_TEXT_, "", "" },
	{ "NULL", OID_TEXT_, NULL, "" },
	{ "backslash doubled", OID_TEXT_, "a\\b", "a\\\\b" },
	{ "escape sequence", OID_TEXT_, "a\x1b[2J", "a\\x1b[2J" },
	{ "newline", OID_TEXT_, "a\nb", "a\\x0ab" },
	{ "DEL", OID_TEXT_, "a\x7f", "a\\x7f" },
	{ "UTF-8 passes", OID_TEXT_, "P\xc5\x99\xc3\xad" "bram", "P\xc5\x99\xc3\xad" "bram" },
	{ "bidi override", OID_TEXT_, "a\xe2\x80\xae" "b", "a\\u202eb" },
	{ "invalid UTF-8", OID_TEXT_, "a\xff" "b", "a\\xffb" },
	{ "60 characters: whole", OID_TEXT_, X60, X60 },
	{ "61 characters: cut", OID_TEXT_, X60 "y", X57 "..." },
	{ "59 and a backslash: cut", OID_TEXT_, X59 "\\", X57 "..." },
	{ "61 two-byte characters: cut", OID_TEXT_, E57 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
	  E57 "..." },
	{ "text[] joined", OID_TEXTARRAY_, "{a,\"b c\"}", "a, b c" },
};
/* Display characters of s: its UTF-8 code points. */
static size_t table_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void test_table_row(void **state)
{
	const struct out_row *r = *state;
	PGresult *res = one_value(r->type, r->value);
	char *got = render(res, OUT_TABLE);
	size_t w = table_width(r->want);
	char want[512], dashes[64];

	w = w > 0 ? w : 1;	/* the header "v" */
	assert_true(w < sizeof(dashes));
	memset(dashes, '-', w);
	dashes[w] = '\0';
	snprintf(want, sizeof(want), "v\n%s\n%s\n(1 row)\n", dashes, r->want);
	assert_string_equal(got, want);
	free(got);
	PQclear(res);
}

/* CSV (RFC 4180): the header line "v", then WANT, CRLF after each. */
static const struct out_row csv_rows[] = {
	{ "plain", OID_TEXT_, "plain", "plain" },
	{ "empty", OID_TEXT_, "", "" },
	{ "NULL", OID_TEXT_, NULL, "" },
	{ "comma", OID_TEXT_, "a,b", "\"a,b\"" },
	{ "quote", OID_TEXT_, "a\"b", "\"a\"\"b\"" },
	{ "only quotes", OID_TEXT_, "\"\"", "\"\"\"\"\"\"" },
	{ "newline", OID_TEXT_, "a\nb", "\"a\nb\"" },
	{ "CR", OID_TEXT_, "a\rb", "\"a\rb\"" },
	{ "semicolon and blanks pass", OID_TEXT_, "a; b c", "a; b c" },
	{ "UTF-8 passes", OID_TEXT_, "P\xc5\x99\xc3\xad" "bram", "P\xc5\x99\xc3\xad" "bram" },
	{ "bytes pass", OID_TEXT_, "a\x01\x7f\xff", "a\x01\x7f\xff" },
	{ "number", OID_INT4_, "42", "42" },
	{ "bool true", OID_BOOL_, "t", "true" },
	{ "bool false", OID_BOOL_, "f", "false" },
	{ "text[] as a JSON array, quoted", OID_TEXTARRAY_, "{a,\"b c\"}",
	  "\"[\"\"a\"\",\"\"b c\"\"]\"" },
};

static void test_csv_row(void **state)
{
	const struct out_row *r = *state;
	PGresult *res = one_value(r->type, r->value);
	char *got = render(res, OUT_CSV);
	char want[256];

	snprintf(want, sizeof(want), "v\r\n%s\r\n", r->want);
	assert_string_equal(got, want);
	free(got);
	PQclear(res);
}

static void test_empty_results(void **state)
{
	PGresult *res = one_value(OID_TEXT_, "x");
	PGresult *none = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc col;
	char *got;

	(void)state;
	PQclear(res);
	memset(&col, 0, sizeof(col));
	col.name = (char *)"a,b";
	col.typid = OID_TEXT_;
	col.typlen = -1;
	col.atttypmod = -1;
	assert_true(PQsetResultAttrs(none, 1, &col));
	got = render(none, OUT_JSON);
	assert_string_equal(got, "[]\n");
	free(got);
	got = render(none, OUT_CSV);
	assert_string_equal(got, "\"a,b\"\r\n");	/* the header is quoted too */
	free(got);
	PQclear(none);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest named[] = {
		cmocka_unit_test(test_empty_results),
	};
	static char names[UNIT_N(tp_rows) + UNIT_N(tpf_rows) +
			  UNIT_N(json_rows) + UNIT_N(csv_rows) +
			  UNIT_N(table_rows)][96];
	static struct CMUnitTest tests[UNIT_N(named) + UNIT_N(names)];
	size_t i, n = 0, k = 0;

	for (i = 0; i < UNIT_N(named); i++)
		tests[n++] = named[i];
	for (i = 0; i < UNIT_N(tp_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "tp_parse \"%s\"",
			 tp_rows[i].text);
		tests[n++] = unit_row(names[k], test_tp_row, &tp_rows[i]);
	}
	for (i = 0; i < UNIT_N(tpf_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "tp_format %lld",
			 (long long)tpf_rows[i].t);
		tests[n++] = unit_row(names[k], test_tp_format_row, &tpf_rows[i]);
	}
	for (i = 0; i < UNIT_N(json_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "json: %s", json_rows[i].name);
		tests[n++] = unit_row(names[k], test_json_row, &json_rows[i]);
	}
	for (i = 0; i < UNIT_N(table_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "table: %s", table_rows[i].name);
		tests[n++] = unit_row(names[k], test_table_row, &table_rows[i]);
	}
	for (i = 0; i < UNIT_N(csv_rows); i++, k++) {
		snprintf(names[k], sizeof(names[k]), "csv: %s", csv_rows[i].name);
		tests[n++] = unit_row(names[k], test_csv_row, &csv_rows[i]);
	}
	if (n != UNIT_N(tests)) {
		printf("Bail out! %zu of %zu cases set up\n", n, UNIT_N(tests));
		return 99;
	}
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
