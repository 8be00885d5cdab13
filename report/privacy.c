/*
 * privacy - data that expires: maintain, forget, export. See report.h.
 *
 * The work is done by the SQL functions of sql/010_privacy.sql; this
 * module orders them in transactions and prints what changed. maintain
 * runs each step in its own short transaction (a partition dropped holds
 * a lock on events only until its step commits, and a partition reduced
 * is one transaction of its own), under a session advisory lock, so that
 * two runs at once queue and the second finds nothing to do.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "util.h"

/* The schema version that holds the functions used here. */
#define PRIVACY_SCHEMA_NEEDED 10

/* One maintain at a time (sessions of any host): pg_advisory_lock key. */
#define PRIVACY_LOCK_KEY "1886220405"

/* db_query, with advice for the privilege these commands need. */
static PGresult *priv_query(PGconn *conn, const char *what, const char *sql,
			    int nparams, const char *const *params)
{
	char state[6], msg[2048];
	PGresult *r = db_query_quiet(conn, sql, nparams, params, state, msg,
				     sizeof(msg));

	if (r != NULL)
		return r;
	if (strcmp(state, "42501") == 0)
		report_error("%s: %s (run it as the owner of the portmilter schema, "
			     "or GRANT EXECUTE on the functions of sql/010_privacy.sql "
			     "to a maintenance role: sql/README.md, \"Personal data\")",
			     what, msg);
	else
		report_error("%s: database error%s%s%s: %s", what,
			     state[0] ? " (SQLSTATE " : "", state, state[0] ? ")" : "",
			     msg);
	return NULL;
}

/* "N days" or the word for NULL, into buf. */
static const char *days_text(const PGresult *r, int col, const char *never,
			     char *buf, size_t len)
{
	if (PQgetisnull(r, 0, col))
		return never;
	snprintf(buf, len, "%s days", PQgetvalue(r, 0, col));
	return buf;
}

/* The settings maintain applies, printed; false (reported) on failure. */
static bool maintain_settings(PGconn *conn)
{
	PGresult *r = priv_query(conn, "maintain",
		"SELECT s.raw_days, s.reduce_days FROM portmilter.privacy_settings AS s",
		0, NULL);
	char raw[32], reduce[32];

	if (r == NULL)
		return false;
	if (PQntuples(r) != 1) {
		report_error("maintain: portmilter.privacy_settings must hold one row, "
			     "it holds %d (see sql/README.md, \"Personal data\")",
			     PQntuples(r));
		PQclear(r);
		return false;
	}
	printf("settings: events kept %s, client addresses reduced after %s\n",
	       days_text(r, 0, "forever", raw, sizeof(raw)),
	       days_text(r, 1, "never", reduce, sizeof(reduce)));
	PQclear(r);
	return true;
}

/* Partitions ahead and retention; *changes counts what changed. */
static bool maintain_partitions(PGconn *conn, long *changes)
{
	PGresult *r = priv_query(conn, "maintain",
		"SELECT m.action, m.object, m.nrows FROM portmilter.maintain_partitions() AS m",
		0, NULL);

	if (r == NULL)
		return false;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *action = PQgetvalue(r, i, 0), *object = PQgetvalue(r, i, 1);
		const char *n = PQgetvalue(r, i, 2);

		if (strcmp(action, "created") == 0)
			printf("created partition %s\n", object);
		else if (strcmp(action, "dropped") == 0)
			printf("dropped partition %s (%s events)\n", object, n);
		else
			printf("deleted %s events past retention from %s\n", n, object);
		(*changes)++;
	}
	PQclear(r);
	return true;
}

/* The budgets' usage rows older than cutoff reduced too (013 on: before,
 * the schema has no reduce_usage()); one transaction. */
static bool maintain_reduce_usage(PGconn *conn, const char *cutoff,
				  long *changes)
{
	const char *params[] = {cutoff};
	PGresult *r = priv_query(conn, "maintain",
		"SELECT pg_catalog.to_regprocedure("
		"'portmilter.reduce_usage(timestamp with time zone)') IS NOT NULL",
		0, NULL);
	bool have;

	if (r == NULL)
		return false;
	have = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!have)
		return true;
	r = priv_query(conn, "maintain",
		       "SELECT portmilter.reduce_usage($1::timestamptz)", 1, params);
	if (r == NULL)
		return false;
	if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
		printf("reduced %s client addresses before %s in portmilter.usage\n",
		       PQgetvalue(r, 0, 0), cutoff);
		(*changes)++;
	}
	PQclear(r);
	return true;
}

/* The address reduction, one partition a transaction, then the usage. */
static bool maintain_reduce(PGconn *conn, long *changes)
{
	PGresult *c = priv_query(conn, "maintain",
		"SELECT portmilter.reduce_cutoff()", 0, NULL);
	PGresult *parts;
	char cutoff[64];
	const char *cparams[] = {cutoff};
	bool ok = true;

	if (c == NULL)
		return false;
	if (PQntuples(c) != 1 || PQgetisnull(c, 0, 0)) {
		PQclear(c);
		return true;	/* reduce_days NULL: never */
	}
	snprintf(cutoff, sizeof(cutoff), "%s", PQgetvalue(c, 0, 0));
	PQclear(c);
	parts = priv_query(conn, "maintain",
			   "SELECT p FROM portmilter.reduce_pending($1::timestamptz) AS p",
			   1, cparams);
	if (parts == NULL)
		return false;
	for (int i = 0; i < PQntuples(parts); i++) {
		const char *params[] = {PQgetvalue(parts, i, 0), cutoff};
		PGresult *r = priv_query(conn, "maintain",
			"SELECT portmilter.reduce_partition($1, $2::timestamptz)",
			2, params);

		if (r == NULL) {
			ok = false;
			break;
		}
		if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
			printf("reduced %s client addresses before %s in portmilter.%s\n",
			       PQgetvalue(r, 0, 0), cutoff, params[0]);
			fflush(stdout);	/* a long run shows its progress */
			(*changes)++;
		}
		PQclear(r);
	}
	PQclear(parts);
	return ok && maintain_reduce_usage(conn, cutoff, changes);
}

/*
 * The rollups' catch-up (sql/014_rollups.sql): every dirty day before
 * today recomputed, one transaction a day (the days the retention and
 * the reduction just changed among them). Skipped on a schema without
 * it. 0 days when another session (a milter's shipper) is at it.
 */
static bool maintain_rollups(PGconn *conn, long *changes)
{
	PGresult *r = priv_query(conn, "maintain",
		"SELECT pg_catalog.to_regprocedure("
		"'portmilter.rollup_catchup(integer)') IS NOT NULL", 0, NULL);
	long days = 0;
	bool has;

	if (r == NULL)
		return false;
	has = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	while (has) {
		long n;

		r = priv_query(conn, "maintain",
			       "SELECT portmilter.rollup_catchup(1)", 0, NULL);
		if (r == NULL)
			return false;
		n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		if (n <= 0)
			break;
		days += n;
	}
	if (days > 0) {
		printf("rolled up %ld day%s\n", days, days == 1 ? "" : "s");
		(*changes)++;
	}
	return true;
}

bool privacy_maintain(PGconn *conn)
{
	PGresult *r;
	long changes = 0;
	bool ok;

	if (!db_schema_ok(conn, PRIVACY_SCHEMA_NEEDED))
		return false;
	/* Session lock: released by the unlock below, or when we exit. */
	r = priv_query(conn, "maintain",
		       "SELECT pg_catalog.pg_advisory_lock(" PRIVACY_LOCK_KEY ")",
		       0, NULL);
	if (r == NULL)
		return false;
	PQclear(r);
	ok = maintain_settings(conn) && maintain_partitions(conn, &changes) &&
	     maintain_reduce(conn, &changes) && maintain_rollups(conn, &changes);
	if (ok && changes == 0)
		printf("nothing to do\n");
	PQclear(priv_query(conn, "maintain",
			   "SELECT pg_catalog.pg_advisory_unlock(" PRIVACY_LOCK_KEY ")",
			   0, NULL));
	return ok;
}

bool privacy_forget(PGconn *conn, const char *user, enum out_format format)
{
	const char *params[] = {user};
	char shown[160];
	PGresult *r;
	long total = 0, tables = 0;

	if (!db_schema_ok(conn, PRIVACY_SCHEMA_NEEDED))
		return false;
	r = priv_query(conn, "forget",
		       "SELECT f.relation, f.nrows FROM portmilter.forget_user($1) AS f",
		       1, params);
	if (r == NULL)
		return false;
	if (format != OUT_TABLE) {
		bool ok = out_result(stdout, r, format);

		PQclear(r);
		return ok;
	}
	str_escape(shown, sizeof(shown), user);
	for (int i = 0; i < PQntuples(r); i++) {
		long n;

		if (!str_to_long(PQgetvalue(r, i, 1), 0, (long)1 << 62, &n) || n == 0)
			continue;
		printf("%s: %ld row%s pseudonymised\n", PQgetvalue(r, i, 0), n,
		       n == 1 ? "" : "s");
		total += n;
		tables++;
	}
	if (total == 0)
		printf("nothing held about \"%s\": nothing changed\n", shown);
	else
		printf("forgot \"%s\": %ld row%s in %ld table%s\n", shown, total,
		       total == 1 ? "" : "s", tables, tables == 1 ? "" : "s");
	PQclear(r);
	return true;
}

bool privacy_export(PGconn *conn, const char *user)
{
	const char *params[] = {user};
	PGresult *r;
	bool ok;

	if (!db_schema_ok(conn, PRIVACY_SCHEMA_NEEDED))
		return false;
	r = priv_query(conn, "export",
		       "SELECT pg_catalog.jsonb_pretty(portmilter.user_export($1))",
		       1, params);
	if (r == NULL)
		return false;
	ok = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
	if (!ok)
		report_error("export: the database returned no document");
	else if (fputs(PQgetvalue(r, 0, 0), stdout) == EOF || putchar('\n') == EOF ||
		 fflush(stdout) == EOF) {
		report_error("export: cannot write the output");
		ok = false;
	}
	PQclear(r);
	return ok;
}
