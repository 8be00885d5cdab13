/*
 * output - a query result as an aligned table, CSV or JSON. See report.h.
 *
 * Every string from the database is untrusted: it came from an SMTP
 * client (HELO, user name, sender). The table format therefore escapes
 * every control character (C0, DEL, C1), the Unicode bidirectional
 * overrides and the backslash itself, so that a HELO can neither move the
 * terminal's cursor nor make one value look like another; JSON escapes
 * per RFC 8259; CSV quotes per RFC 4180 and passes the bytes through (a
 * spreadsheet is not a terminal), except that a text cell starting like
 * a formula (= + - @ tab CR) is neutralised with a leading "'" (see
 * csv_field). Bytes that are not UTF-8 (PostgreSQL
 * never sends them with client_encoding UTF8, but the code does not
 * depend on it) are shown as \xNN in a table and U+FFFD in JSON.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report.h"
#include "util.h"

/* Type OIDs from pg_type.h (server headers are not needed for these). */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_OID		26
#define OID_JSON	114
#define OID_FLOAT4	700
#define OID_FLOAT8	701
#define OID_TEXTARRAY	1009
#define OID_NUMERIC	1700
#define OID_JSONB	3802

enum out_kind { KIND_TEXT, KIND_NUMBER, KIND_BOOL, KIND_JSON, KIND_LIST };

/* The elements of a text[] value; NULL elements are NULL pointers. */
struct olist {
	size_t n;
	char **v;
};

bool out_format_parse(const char *text, enum out_format *out)
{
	static const char *const names[] = {"table", "csv", "json"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = (enum out_format)i;
			return true;
		}
	}
	return false;
}

static enum out_kind out_kind_of(Oid type)
{
	switch (type) {
	case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
	case OID_NUMERIC: case OID_FLOAT4: case OID_FLOAT8:
		return KIND_NUMBER;
	case OID_BOOL:
		return KIND_BOOL;
	case OID_JSON: case OID_JSONB:
		return KIND_JSON;
	case OID_TEXTARRAY:
		return KIND_LIST;
	default:
		return KIND_TEXT;
	}
}

/* ---- UTF-8 -------------------------------------------------------------- */

/* Would this code point let a value act on, or mislead, a terminal? */
static bool cp_dangerous(unsigned cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0x2028 || cp == 0x2029;
}

/* ---- table -------------------------------------------------------------- */

/*
 * The terminal-safe form of the character at p: into tmp (>= 16 bytes);
 * returns the bytes consumed and sets *width (display characters, each
 * code point counting one).
 */
static size_t table_char(const unsigned char *p, char *tmp, size_t *width)
{
	unsigned cp;
	size_t len = utf8_decode(p, &cp);

	if (len == 0) {
		snprintf(tmp, 16, "\\x%02x", *p);
		len = 1;
	} else if (cp == '\\') {
		strcpy(tmp, "\\\\");
	} else if (cp_dangerous(cp)) {
		snprintf(tmp, 16, cp < 0x80 ? "\\x%02x" : "\\u%04x", cp);
	} else {
		memcpy(tmp, p, len);
		tmp[len] = '\0';
		*width = 1;
		return len;
	}
	*width = strlen(tmp);
	return len;
}

/*
 * The length of the run at p that table_char() would copy as it is, one
 * display character a byte: printable ASCII but the backslash.
 */
static size_t table_plain(const unsigned char *p)
{
	const unsigned char *q = p;

	while (*q >= 0x20 && *q < 0x7f && *q != '\\')
		q++;
	return (size_t)(q - p);
}

/*
 * Append s to b for a terminal, escaped (table_char), in at most *room
 * display characters: if it does not fit, as much as fits before a
 * final "...". Decrements *room by the width used.
 */
static void table_escape(struct strbuf *b, const char *s, size_t *room)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t total = 0, limit, plain = table_plain(p);
	char tmp[16];

	/* Nearly every value: nothing to escape, nothing to cut. */
	if (p[plain] == '\0' && plain <= *room) {
		strbuf_add(b, s, plain);
		*room -= plain;
		return;
	}

	for (const unsigned char *q = p; *q != '\0' && total <= *room;) {
		size_t w;

		q += table_char(q, tmp, &w);
		total += w;
	}
	limit = total <= *room ? *room : (*room >= 3 ? *room - 3 : 0);
	while (*p != '\0') {
		size_t w, len = table_char(p, tmp, &w);

		if (w > limit)
			break;
		strbuf_str(b, tmp);
		limit -= w;
		*room -= w;
		p += len;
	}
	if (*p != '\0') {
		size_t dots = *room < 3 ? *room : 3;

		strbuf_add(b, "...", dots);
		*room -= dots;
	}
}

/* Split a one-dimensional PostgreSQL array literal: {a,"b c",NULL}. */
static bool list_split(const char *s, struct olist *out)
{
	out->n = 0;
	out->v = NULL;
	if (*s++ != '{')
		return false;
	if (*s == '}')
		return s[1] == '\0';
	for (;;) {
		struct strbuf e = {0};
		bool quoted = *s == '"';

		if (quoted) {
			for (s++; *s != '\0' && *s != '"'; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				strbuf_add(&e, s, 1);
			}
			if (*s++ != '"')
				goto bad;
		} else {
			size_t n = strcspn(s, ",}\"\\");

			strbuf_add(&e, s, n);
			s += n;
		}
		out->v = xrealloc(out->v, (out->n + 1) * sizeof(char *));
		if (!quoted && e.p != NULL && strcasecmp(e.p, "NULL") == 0) {
			free(e.p);
			out->v[out->n++] = NULL;
		} else {
			out->v[out->n++] = strbuf_take(&e);
		}
		if (*s == ',' && s[1] != '}') {
			s++;
			continue;
		}
		if (*s == '}' && s[1] == '\0')
			return true;
		goto bad;
	}
bad:
	for (size_t i = 0; i < out->n; i++)
		free(out->v[i]);
	free(out->v);
	out->n = 0;
	out->v = NULL;
	return false;
}

static void list_free(struct olist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* One table cell: escaped, cut, lists joined. Sets *width. */
static char *table_cell(const PGresult *res, int row, int col, size_t *width)
{
	struct strbuf b = {0};
	size_t room = OUT_CELL_MAX;
	const char *v = PQgetvalue(res, row, col);
	struct olist l;

	if (PQgetisnull(res, row, col)) {
		v = "";
	} else if (out_kind_of(PQftype(res, col)) == KIND_LIST && list_split(v, &l)) {
		for (size_t i = 0; i < l.n && room > 0; i++) {
			if (i > 0)
				table_escape(&b, ", ", &room);
			table_escape(&b, l.v[i] ? l.v[i] : "NULL", &room);
		}
		list_free(&l);
		*width = OUT_CELL_MAX - room;
		return strbuf_take(&b);
	}
	table_escape(&b, v, &room);
	*width = OUT_CELL_MAX - room;
	return strbuf_take(&b);
}

static void table_pad(FILE *fp, size_t n)
{
	while (n-- > 0)
		putc(' ', fp);
}

/* One line: cells padded to the widths; number columns right-aligned. */
static void table_line(FILE *fp, const PGresult *res, char **cells,
		       const size_t *cw, const size_t *widths)
{
	int ncols = PQnfields(res);

	for (int c = 0; c < ncols; c++) {
		bool right = out_kind_of(PQftype(res, c)) == KIND_NUMBER;
		size_t pad = widths[c] - cw[c];

		if (c > 0)
			fputs("  ", fp);
		if (right)
			table_pad(fp, pad);
		fputs(cells[c], fp);
		if (!right && c + 1 < ncols)
			table_pad(fp, pad);
	}
	putc('\n', fp);
}

static void out_table(FILE *fp, const PGresult *res)
{
	int nrows = PQntuples(res), ncols = PQnfields(res);
	size_t ncells = (size_t)(nrows + 1) * (size_t)ncols;
	char **cells = xcalloc(ncells, sizeof(char *));
	size_t *cw = xcalloc(ncells, sizeof(size_t));
	size_t *widths = xcalloc((size_t)ncols, sizeof(size_t));

	for (int c = 0; c < ncols; c++) {
		struct strbuf b = {0};
		size_t room = OUT_CELL_MAX;

		table_escape(&b, PQfname(res, c), &room);
		cells[c] = strbuf_take(&b);
		cw[c] = widths[c] = OUT_CELL_MAX - room;
	}
	for (int r = 0; r < nrows; r++) {
		for (int c = 0; c < ncols; c++) {
			size_t i = (size_t)(r + 1) * (size_t)ncols + (size_t)c;

			cells[i] = table_cell(res, r, c, &cw[i]);
			if (cw[i] > widths[c])
				widths[c] = cw[i];
		}
	}
	table_line(fp, res, cells, cw, widths);
	for (int c = 0; c < ncols; c++) {
		if (c > 0)
			fputs("  ", fp);
		for (size_t k = 0; k < widths[c]; k++)
			putc('-', fp);
	}
	putc('\n', fp);
	for (int r = 0; r < nrows; r++) {
		size_t i = (size_t)(r + 1) * (size_t)ncols;

		table_line(fp, res, cells + i, cw + i, widths);
	}
	fprintf(fp, "(%d row%s)\n", nrows, nrows == 1 ? "" : "s");
	for (size_t i = 0; i < ncells; i++)
		free(cells[i]);
	free(cells);
	free(cw);
	free(widths);
}

/* ---- JSON --------------------------------------------------------------- */

/*
 * The length of the run at p that goes into a JSON string as it is:
 * ASCII from the space on (DEL included) but the quote and the
 * backslash.
 */
static size_t json_plain(const unsigned char *p)
{
	const unsigned char *q = p;

	while (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\')
		q++;
	return (size_t)(q - p);
}

/* A JSON string (RFC 8259), quotes included. */
static void json_string(struct strbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	strbuf_add(b, "\"", 1);
	while (*p != '\0') {
		char tmp[8];
		unsigned cp;
		size_t len = json_plain(p);

		if (len > 0) {
			strbuf_add(b, (const char *)p, len);
			p += len;
			continue;
		}
		len = utf8_decode(p, &cp);

		if (len == 0) {
			strbuf_str(b, "\\ufffd");
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)cp;
			strbuf_add(b, tmp, 2);
		} else if (cp < 0x20 || cp == 0x2028 || cp == 0x2029) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", cp);
			strbuf_str(b, tmp);
		} else {
			strbuf_add(b, (const char *)p, len);
		}
		p += len;
	}
	strbuf_add(b, "\"", 1);
}

/* Is s a JSON number (RFC 8259 grammar)? ("NaN", "Infinity" are not.) */
static bool json_is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (isdigit((unsigned char)*s))
		while (isdigit((unsigned char)*s))
			s++;
	else
		return false;
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return *s == '\0';
}

/* A text[] value as a JSON array; false if it is not an array literal. */
static bool json_list(struct strbuf *b, const char *v)
{
	struct olist l;

	if (!list_split(v, &l))
		return false;
	strbuf_add(b, "[", 1);
	for (size_t i = 0; i < l.n; i++) {
		if (i > 0)
			strbuf_add(b, ",", 1);
		if (l.v[i] == NULL)
			strbuf_str(b, "null");
		else
			json_string(b, l.v[i]);
	}
	strbuf_add(b, "]", 1);
	list_free(&l);
	return true;
}

static void json_value(struct strbuf *b, const PGresult *res, int row, int col)
{
	const char *v = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col)) {
		strbuf_str(b, "null");
		return;
	}
	switch (out_kind_of(PQftype(res, col))) {
	case KIND_NUMBER:
		if (json_is_number(v)) {
			strbuf_str(b, v);
			return;
		}
		break;
	case KIND_BOOL:
		strbuf_str(b, strcmp(v, "t") == 0 ? "true" : "false");
		return;
	case KIND_JSON:
		strbuf_str(b, v);	/* PostgreSQL made it: valid JSON */
		return;
	case KIND_LIST:
		if (json_list(b, v))
			return;
		break;
	case KIND_TEXT:
		break;
	}
	json_string(b, v);
}

static void out_json(FILE *fp, const PGresult *res)
{
	int nrows = PQntuples(res), ncols = PQnfields(res);
	struct strbuf b = {0};

	fputs(nrows ? "[\n" : "[]\n", fp);
	for (int r = 0; r < nrows; r++) {
		strbuf_add(&b, "{", 1);
		for (int c = 0; c < ncols; c++) {
			if (c > 0)
				strbuf_add(&b, ",", 1);
			json_string(&b, PQfname(res, c));
			strbuf_add(&b, ":", 1);
			json_value(&b, res, r, c);
		}
		strbuf_str(&b, r + 1 < nrows ? "},\n" : "}\n");
		fwrite(b.p, 1, b.len, fp);
		b.len = 0;
	}
	if (nrows)
		fputs("]\n", fp);
	free(b.p);
}

/* ---- CSV ---------------------------------------------------------------- */

/*
 * A text cell that a spreadsheet would take for a formula (it begins
 * with '=', '+', '-' or '@', or with a tab or CR that some of them skip
 * before one) gets a single quote in front and is always quoted, as
 * OWASP recommends against CSV injection: the cell then shows the value
 * with a leading "'" and is never evaluated. Numbers are not text: a
 * negative count stays a number.
 */
#define CSV_FORMULA_START	"=+-@\t\r"

static void csv_field(FILE *fp, const char *s, bool text)
{
	bool formula = text && *s != '\0' && strchr(CSV_FORMULA_START, *s);

	if (!formula && strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, fp);
		return;
	}
	putc('"', fp);
	if (formula)
		putc('\'', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			putc('"', fp);
		putc(*s, fp);
	}
	putc('"', fp);
}

static void out_csv(FILE *fp, const PGresult *res)
{
	int nrows = PQntuples(res), ncols = PQnfields(res);

	for (int c = 0; c < ncols; c++) {
		if (c > 0)
			putc(',', fp);
		csv_field(fp, PQfname(res, c), true);
	}
	fputs("\r\n", fp);
	for (int r = 0; r < nrows; r++) {
		for (int c = 0; c < ncols; c++) {
			const char *v = PQgetvalue(res, r, c);
			enum out_kind kind = out_kind_of(PQftype(res, c));
			struct strbuf b = {0};

			if (c > 0)
				putc(',', fp);
			if (PQgetisnull(res, r, c))
				continue;
			if (kind == KIND_BOOL)
				v = strcmp(v, "t") == 0 ? "true" : "false";
			else if (kind == KIND_LIST && json_list(&b, v))
				v = b.p;
			csv_field(fp, v, kind != KIND_NUMBER && kind != KIND_BOOL);
			free(b.p);
		}
		fputs("\r\n", fp);
	}
}

bool out_result(FILE *fp, const PGresult *res, enum out_format format)
{
	switch (format) {
	case OUT_TABLE:
		out_table(fp, res);
		break;
	case OUT_CSV:
		out_csv(fp, res);
		break;
	case OUT_JSON:
		out_json(fp, res);
		break;
	}
	if (fflush(fp) != 0 || ferror(fp)) {
		report_error("cannot write the output: %s", strerror(errno));
		return false;
	}
	return true;
}
