/*
 * pgconn - the writer role's session set-up. See pgconn.h.
 *
 * libpq use follows PostgreSQL's own client code: PQconnectdbParams with
 * application_name and connect_timeout, search_path emptied and every
 * name schema-qualified, success statuses listed and everything else
 * treated as failure, PQclear on every path.
 */
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "pgconn.h"
#include "schema.h"
#include "util.h"

static const char *const session_sql[] = {
	"SELECT pg_catalog.set_config('search_path', '', false)",
	"SET statement_timeout = '" PGCONN_STATEMENT_TIMEOUT "'",
};

void pgconn_error(const PGresult *r, char *err, size_t errlen)
{
	const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

	snprintf(err, errlen, "%s%s%s", st ? st : "", st ? " " : "",
		 PQresultErrorMessage(r));
	err[strcspn(err, "\n")] = '\0';
}

bool pgconn_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		pgconn_error(r, err, errlen);
	PQclear(r);
	return ok;
}

bool pgconn_setup(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	char why[400];

	if (pgconn_exec(conn, sql, why, sizeof(why)))
		return true;
	snprintf(err, errlen, "database setup failed (%s)%s", why,
		 strncmp(why, "3F000", 5) == 0 || strncmp(why, "42883", 5) == 0 ?
		 ": schema missing, run portmilter-report migrate" : "");
	return false;
}

/* Is the schema one this build knows? false with the reason. */
static bool schema_known(PGconn *conn, const char *newer_hint, char *err,
			 size_t errlen)
{
	PGresult *r = PQexec(conn, "SELECT pg_catalog.max(version) "
			     "FROM portmilter.schema_version");
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	long version = 0;
	bool ok = true;

	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) &&
		    !str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &version)) {
			snprintf(err, errlen, "unexpected schema version in the "
				 "database");
			ok = false;
		} else if (version > PM_SCHEMA_VERSION) {
			snprintf(err, errlen, "database schema %ld is newer than "
				 "this portmilter (%d): upgrade portmilter%s",
				 version, PM_SCHEMA_VERSION, newer_hint);
			ok = false;
		}
	} else if (state == NULL || strcmp(state, "42501") != 0) {
		snprintf(err, errlen, "cannot read the schema version (%s%s%s)%s",
			 state ? state : "", state ? " " : "",
			 PQresultErrorMessage(r), state && (strcmp(state, "3F000")
			 == 0 || strcmp(state, "42P01") == 0) ? ": schema "
			 "missing, run portmilter-report migrate" : "");
		err[strcspn(err, "\n")] = '\0';
		ok = false;
	}
	PQclear(r);
	return ok;
}

PGconn *pgconn_open(const char *conninfo, const char *app,
		    const char *newer_hint, char *err, size_t errlen)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {conninfo, app, "5", NULL};
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "cannot connect to the database: %s",
			 PQerrorMessage(conn));
		err[strcspn(err, "\n")] = '\0';
		goto fail;
	}
	if (!schema_known(conn, newer_hint, err, errlen))
		goto fail;
	for (size_t i = 0; i < sizeof(session_sql) / sizeof(session_sql[0]); i++)
		if (!pgconn_setup(conn, session_sql[i], err, errlen))
			goto fail;
	return conn;
fail:
	PQfinish(conn);
	return NULL;
}
