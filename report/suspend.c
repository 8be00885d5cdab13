/*
 * suspend - portmilter-report suspend, unsuspend and suspended: the
 * suspension list of sql/006_suspensions.sql, which every milter pulls
 * (milter/suspsync.h). See report.h.
 *
 * suspend and unsuspend call the SECURITY DEFINER functions
 * portmilter.suspend() and portmilter.unsuspend(), which only the role
 * portmilter_admin may run; who did it is recorded twice: created_by /
 * lifted_by as this program says it ("portmilter-report (role R, OS
 * user U)") and created_role / lifted_role as the database knows it.
 * Every query is constant SQL with parameters.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "report.h"
#include "util.h"

#define SUSPEND_SCHEMA		6
#define SUBJECT_MAX		REPORT_NAME_MAX	/* as milter/suspend.h */
#define REASON_MAX		1000

/* The columns of suspended, and of the row suspend prints. */
#define SQL_STATUS \
	"CASE WHEN s.lifted_at IS NOT NULL THEN 'lifted'" \
	" WHEN s.until IS NOT NULL AND s.until <= pg_catalog.now() THEN 'expired'" \
	" ELSE 'in force' END"
#define SQL_COLUMNS \
	"s.suspension_id, s.kind, s.subject, " SQL_STATUS " AS status," \
	" s.reason, s.created_by, s.created_role, s.created_at, s.until," \
	" s.lifted_at, s.lifted_by"

static const char sql_suspended[] =
	"SELECT " SQL_COLUMNS " FROM portmilter.suspensions AS s"
	" WHERE $1::boolean OR (s.lifted_at IS NULL AND"
	" (s.until IS NULL OR s.until > pg_catalog.now()))"
	" ORDER BY s.suspension_id";

static const char sql_suspend[] =
	"SELECT portmilter.suspend($1::text, $2::text, $3::text, $4::text,"
	" $5::timestamptz)";
/* In the transaction of the call: created_at = now() for a new one. */
static const char sql_suspend_row[] =
	"SELECT CASE WHEN s.created_at = pg_catalog.now() THEN 'suspended'"
	" ELSE 'already suspended' END AS result, " SQL_COLUMNS
	" FROM portmilter.suspensions AS s WHERE s.suspension_id = $1::bigint";

static const char sql_unsuspend[] =
	"SELECT portmilter.unsuspend($1::text, $2::text) AS lifted";

bool suspend_subject_parse(const char *text, struct suspend_subject *out,
			   const char **why)
{
	struct pm_cidr net;
	char addr[64];

	memset(out, 0, sizeof(*out));
	if (text == NULL || text[0] == '\0')
		return *why = "empty", false;
	if (strlen(text) > SUBJECT_MAX)
		*why = "longer than 1024 bytes";	/* an address meant? */
	else if (cidr_parse(text, &net, why)) {
		out->address = true;
		snprintf(out->text, sizeof(out->text), "%s/%u",
			 addr_to_text(&net.net, addr, sizeof(addr)), net.prefix);
		return true;
	}
	/* A '/', digits with dots, or hex digits with colons: an address
	 * or network meant, and mistyped (a login of digits alone is a
	 * login: customer numbers are). */
	if (strchr(text, '/') != NULL ||
	    (strspn(text, "0123456789.") == strlen(text) &&
	     strchr(text, '.') != NULL) ||
	    (strchr(text, ':') != NULL &&
	     strspn(text, "0123456789abcdefABCDEF:.[]") == strlen(text)))
		return false;	/* *why from cidr_parse, or too long */
	if (!utf8_valid(text))
		return *why = "not UTF-8", false;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return *why = "a control character in a login", false;
	/* A longer login: the name its events hold (report.h). */
	snprintf(out->text, sizeof(out->text), "%.*s",
		 (int)utf8_prefix(text, SUBJECT_MAX), text);
	return true;
}

bool suspend_until_parse(const char *text, int64_t now, int64_t *out,
			 char **err)
{
	size_t n = strspn(text, "0123456789");
	int64_t t;

	if (!tp_parse(text, now, &t, err))
		return false;
	/* "12h": twelve hours from now (tp_parse counts back from now) */
	if (n > 0 && text[n] != '\0' && text[n + 1] == '\0')
		t = now + (now - t);
	if (t <= now) {
		*err = xstrdup("not in the future");
		return false;
	}
	*out = t;
	return true;
}

/* "portmilter-report (role R, OS user U)" into buf. */
static void who(PGconn *conn, char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *role = PQuser(conn);

	snprintf(buf, len, "portmilter-report (role %s, OS user %s)",
		 role && *role ? role : "?", pw && pw->pw_name ? pw->pw_name : "?");
}

/* A failed call of suspend()/unsuspend(), with what to do about it. */
static void call_error(const char *what, const char *state, const char *msg)
{
	report_error("%s failed%s%s%s: %s%s", what, state[0] ? " (SQLSTATE " : "",
		     state, state[0] ? ")" : "", msg,
		     strcmp(state, "42501") == 0 ?
		     " (suspend and unsuspend need the role portmilter_admin: "
		     "GRANT portmilter_admin TO ROLE; sql/README.md, \"Roles\")" : "");
}

static bool exec_simple(PGconn *conn, const char *sql)
{
	PGresult *r = db_query(conn, sql, 0, NULL);

	PQclear(r);
	return r != NULL;
}

int suspend_run(PGconn *conn, const struct suspend_request *q)
{
	char by[512], until[32], state[6], msg[2048], id[32];
	const char *params[5];
	PGresult *r;
	bool ok;

	if (!db_schema_ok(conn, SUSPEND_SCHEMA))
		return REPORT_EXIT_RUNTIME;
	who(conn, by, sizeof(by));
	if (q->until != 0)
		tp_format(q->until, until, sizeof(until));
	params[0] = q->subject.address ? "address" : "user";
	params[1] = q->subject.text;
	params[2] = q->reason ? q->reason : "";
	params[3] = by;
	params[4] = q->until != 0 ? until : NULL;
	if (!exec_simple(conn, "BEGIN"))
		return REPORT_EXIT_RUNTIME;
	r = db_query_quiet(conn, sql_suspend, 5, params, state, msg, sizeof(msg));
	if (r == NULL) {
		call_error("suspend", state, msg);
		(void)exec_simple(conn, "ROLLBACK");
		return REPORT_EXIT_RUNTIME;
	}
	snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	params[0] = id;
	if ((r = db_query(conn, sql_suspend_row, 1, params)) == NULL) {
		(void)exec_simple(conn, "ROLLBACK");
		return REPORT_EXIT_RUNTIME;
	}
	if (!exec_simple(conn, "COMMIT")) {
		PQclear(r);
		return REPORT_EXIT_RUNTIME;
	}
	ok = out_result(stdout, r, q->format);
	PQclear(r);
	return ok ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

int unsuspend_run(PGconn *conn, const struct suspend_request *q)
{
	char by[512], state[6], msg[2048];
	const char *params[2];
	PGresult *r;
	bool ok;

	if (!db_schema_ok(conn, SUSPEND_SCHEMA))
		return REPORT_EXIT_RUNTIME;
	who(conn, by, sizeof(by));
	params[0] = q->subject.text;
	params[1] = by;
	r = db_query_quiet(conn, sql_unsuspend, 2, params, state, msg, sizeof(msg));
	if (r == NULL) {
		call_error("unsuspend", state, msg);
		return REPORT_EXIT_RUNTIME;
	}
	if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") == 0) {
		char shown[120];

		fprintf(stderr, "portmilter-report: %s \"%s\" was not suspended\n",
			q->subject.address ? "address" : "user",
			str_escape(shown, sizeof(shown), q->subject.text));
	}
	ok = out_result(stdout, r, q->format);
	PQclear(r);
	return ok ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

int suspended_run(PGconn *conn, const struct suspend_request *q)
{
	const char *params[] = {q->all ? "true" : "false"};
	PGresult *r;
	bool ok;

	if (!db_schema_ok(conn, SUSPEND_SCHEMA))
		return REPORT_EXIT_RUNTIME;
	if ((r = db_query(conn, sql_suspended, 1, params)) == NULL)
		return REPORT_EXIT_RUNTIME;
	ok = out_result(stdout, r, q->format);
	PQclear(r);
	return ok ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}
