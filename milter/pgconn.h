/*
 * pgconn - the milter's sessions as the writer role, opened the same way
 * by each thread that writes (the shipper, the rollups' catch-up): one
 * PGconn per thread, owned by that thread only.
 *
 * pgconn_open() connects with PQconnectdbParams: the "database" conninfo
 * as dbname (so a whole conninfo string works), the application_name
 * given (pg_stat_activity tells the threads apart) and connect_timeout
 * 5 s. It then reads portmilter.schema_version: a schema newer than
 * this build knows (PM_SCHEMA_VERSION, schema.h) may have changed what
 * a column means, so nothing is written into it; a writer refused SELECT
 * on schema_version (42501) is looking at a schema from before
 * 004_writer_version.sql, which this build knows. Last it empties
 * search_path (every name the milter sends is schema-qualified) and
 * sets statement_timeout to PGCONN_STATEMENT_TIMEOUT. NULL on failure,
 * the reason in err on one line (the SQLSTATE first when there is one;
 * for a newer schema, followed by newer_hint).
 *
 * pgconn_exec() runs a statement whose rows are not wanted; false with
 * the reason in err. pgconn_setup() is pgconn_exec() for a statement
 * of the session's set-up: its error says "database setup failed" and
 * hints at `portmilter-report migrate` for a missing schema or function.
 * pgconn_error() is a failed result's SQLSTATE and message, on one line.
 */
#ifndef PM_PGCONN_H
#define PM_PGCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#define PGCONN_STATEMENT_TIMEOUT	"60s"

PGconn *pgconn_open(const char *conninfo, const char *app,
		    const char *newer_hint, char *err, size_t errlen);
bool pgconn_exec(PGconn *conn, const char *sql, char *err, size_t errlen);
bool pgconn_setup(PGconn *conn, const char *sql, char *err, size_t errlen);
void pgconn_error(const PGresult *r, char *err, size_t errlen);

#endif
