/*
 * output - the probe's results as a table or JSON. See probe.h.
 * Every network-derived string in a struct probe_port is already
 * escaped to printable ASCII; JSON additionally escapes '"' and '\'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"
#include "util.h"

#define NCOLS 9

static const char *const heads[NCOLS] = {
	"PORT", "MODE", "CONNECT", "TLS", "VERSION", "CERT",
	"AUTH-BEFORE-TLS", "AUTH-AFTER-TLS", "VERDICT"};

static const char *conn_name(enum conn_result c)
{
	switch (c) {
	case CONN_OPEN: return "open";
	case CONN_REFUSED: return "refused";
	case CONN_TIMEOUT: return "timeout";
	default: return "error";
	}
}

static const char *tls_word(const struct probe_port *r)
{
	if (r->mode == CFG_MODE_SUBMISSIONS)
		return r->conn != CONN_OPEN ? "-" : r->tls.ok ? "implicit" : "failed";
	if (r->starttls_offered)
		return r->tls.ok ? "starttls" : "failed";
	return r->ehlo_ok ? "none" : "-";
}

static const char *verdict_word(const struct probe_port *r)
{
	return !r->pass ? "FAIL" : r->warn ? "warn" : "ok";
}

/* "PLAIN LOGIN" -> "PLAIN,LOGIN"; none -> "no"; unknown -> "-". */
static void mechs_cell(char *dst, size_t len, bool known, bool has,
		       const char *mechs)
{
	snprintf(dst, len, "%s", !known ? "-" : !has ? "no"
				 : mechs[0] ? mechs : "yes");
	for (char *p = dst; *p; p++)
		if (*p == ' ')
			*p = ',';
}

static void row_cells(const struct probe_port *r, char cell[NCOLS][PROBE_TEXT])
{
	const struct tls_info *t = &r->tls;

	snprintf(cell[0], PROBE_TEXT, "%u", r->port);
	snprintf(cell[1], PROBE_TEXT, "%s", cfg_mode_name(r->mode));
	snprintf(cell[2], PROBE_TEXT, "%s %ldms", conn_name(r->conn),
		 r->conn == CONN_OPEN ? r->connect_ms : r->elapsed_ms);
	snprintf(cell[3], PROBE_TEXT, "%s", tls_word(r));
	snprintf(cell[4], PROBE_TEXT, "%s", t->ok ? t->version : "-");
	if (!t->ok)
		snprintf(cell[5], PROBE_TEXT, "-");
	else if (!t->cert_present)
		snprintf(cell[5], PROBE_TEXT, "none");
	else
		snprintf(cell[5], PROBE_TEXT, "%s,%s,%ldd",
			 t->chain_valid ? "valid" : "untrusted",
			 t->name_match ? "name-ok" : "name-mismatch", t->days_left);
	if (r->mode == CFG_MODE_SUBMISSIONS)
		snprintf(cell[6], PROBE_TEXT, "n/a");
	else
		mechs_cell(cell[6], PROBE_TEXT, r->ehlo_ok, r->auth_before,
			   r->auth_before_mechs);
	mechs_cell(cell[7], PROBE_TEXT, r->auth_after_checked, r->auth_after,
		   r->auth_after_mechs);
	snprintf(cell[8], PROBE_TEXT, "%s", verdict_word(r));
}

void probe_table(const char *host, const struct probe_port *r, size_t n)
{
	char (*cells)[NCOLS][PROBE_TEXT] = xcalloc(n, sizeof(*cells));
	int w[NCOLS];
	char h[PROBE_TEXT];

	for (int j = 0; j < NCOLS; j++)
		w[j] = (int)strlen(heads[j]);
	for (size_t i = 0; i < n; i++) {
		row_cells(&r[i], cells[i]);
		for (int j = 0; j < NCOLS; j++)
			if ((int)strlen(cells[i][j]) > w[j])
				w[j] = (int)strlen(cells[i][j]);
	}
	printf("portmilter-probe %s\n", str_escape(h, sizeof(h), host));
	for (int j = 0; j < NCOLS; j++)
		printf("%-*s%s", j < NCOLS - 1 ? w[j] : 0, heads[j],
		       j < NCOLS - 1 ? "  " : "\n");
	for (size_t i = 0; i < n; i++)
		for (int j = 0; j < NCOLS; j++)
			printf("%-*s%s", j < NCOLS - 1 ? w[j] : 0, cells[i][j],
			       j < NCOLS - 1 ? "  " : "\n");
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		printf("%u: greeting \"%s\"", r[i].port, r[i].greeting);
		if (r[i].tls.ok)
			printf("; cipher %s", r[i].tls.cipher);
		if (r[i].reason[0])
			printf("; %s", r[i].reason);
		printf("\n");
	}
	free(cells);
}

/* A JSON string from an already escaped (printable ASCII) text. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f)
			putchar(*s);
	}
	putchar('"');
}

static void json_kv(const char *key, const char *val, const char *after)
{
	printf("\"%s\": ", key);
	json_str(val);
	fputs(after, stdout);
}

static void json_bool(const char *key, bool val, const char *after)
{
	printf("\"%s\": %s%s", key, val ? "true" : "false", after);
}

static void json_tls(const struct probe_port *r)
{
	const struct tls_info *t = &r->tls;

	json_kv("tls", tls_word(r), ", ");
	json_bool("starttls_offered", r->starttls_offered, ", ");
	json_bool("tls_ok", t->ok, ", ");
	json_kv("tls_error", t->ok ? "" : t->error, ", ");
	json_kv("tls_version", t->version, ", ");
	json_kv("cipher", t->cipher, ",\n      ");
	printf("\"cert\": {");
	json_bool("present", t->cert_present, ", ");
	json_bool("chain_valid", t->chain_valid, ", ");
	json_kv("verify_error", t->verify_error, ", ");
	json_bool("name_match", t->name_match, ", ");
	printf("\"days_to_expiry\": %ld},\n      ", t->days_left);
}

static void json_port(const struct probe_port *r)
{
	printf("    {\"port\": %u, ", r->port);
	json_kv("mode", cfg_mode_name(r->mode), ", ");
	json_kv("connect", conn_name(r->conn), ", ");
	printf("\"connect_ms\": %ld, \"elapsed_ms\": %ld,\n      ",
	       r->connect_ms, r->elapsed_ms);
	json_kv("connect_error", r->conn_error, ", ");
	json_kv("greeting", r->greeting, ", ");
	json_bool("ehlo", r->ehlo_ok, ",\n      ");
	json_tls(r);
	json_bool("auth_before_tls", r->auth_before, ", ");
	json_kv("auth_before_tls_mechs", r->auth_before_mechs, ",\n      ");
	json_bool("auth_after_tls", r->auth_after, ", ");
	json_kv("auth_after_tls_mechs", r->auth_after_mechs, ",\n      ");
	json_kv("timeout_step", r->timeout_step, ", ");
	json_kv("error", r->error, ",\n      ");
	json_kv("verdict", verdict_word(r), ", ");
	json_kv("reason", r->reason, "}");
}

void probe_json(const char *host, const struct probe_port *r, size_t n)
{
	char h[PROBE_TEXT];
	bool pass = true;

	for (size_t i = 0; i < n; i++)
		pass = pass && r[i].pass;
	printf("{");
	json_kv("host", str_escape(h, sizeof(h), host), ", ");
	json_bool("pass", pass, ",\n  \"ports\": [\n");
	for (size_t i = 0; i < n; i++) {
		json_port(&r[i]);
		printf("%s\n", i + 1 < n ? "," : "");
	}
	printf("  ]\n}\n");
}
