/*
 * db - the libpq side of portmilter-report. See report.h.
 *
 * As PostgreSQL's own client code does it: PQconnectdbParams with
 * application_name and connect_timeout, search_path emptied (every name
 * in our SQL is schema-qualified), only PQexecParams with parameters,
 * success statuses listed and everything else an error, PQclear on every
 * path.
 */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "schema.h"
#include "util.h"

/*
 * Session settings the queries and the output rely on. jit off: a report
 * is one query over indexes and rollups, where compiling it costs more
 * than it saves (0.2 s of `ip` on a /24 over a year at 10 M events,
 * bench/report-bench.sh); the rollup functions already set it.
 */
static const char *const db_setup[][2] = {
	{"search_path", ""},
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"jit", "off"},
};

/* Trailing newlines of a libpq message, gone. */
static void db_chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

bool db_conninfo_ok(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts;

	if (strchr(conninfo, '=') == NULL && strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strncmp(conninfo, "postgres://", 11) != 0)
		return true;	/* a plain database name */
	opts = PQconninfoParse(conninfo, &err);
	if (opts == NULL) {
		if (err != NULL)
			db_chomp(err);
		report_error("bad connection string: %s", err ? err : "out of memory");
		PQfreemem(err);
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

/* Where we tried to connect, for messages (never the password). */
static void db_where(PGconn *conn, char *buf, size_t len)
{
	const char *host = PQhost(conn), *port = PQport(conn);
	const char *db = PQdb(conn), *user = PQuser(conn);

	snprintf(buf, len, "database \"%s\" on %s%s%s%s as \"%s\"",
		 db ? db : "?", host && *host ? host : "the default host",
		 port && *port ? " (port " : "", port && *port ? port : "",
		 port && *port ? ")" : "", user ? user : "?");
}

/*
 * What to do about a failed connection, from libpq's message (English
 * only: libpq gives no SQLSTATE before a session exists; a translated
 * message gets no hint). NULL when there is nothing useful to add.
 */
static const char *db_hint(const char *msg)
{
	static const struct {
		const char *needle;
		const char *hint;
	} hints[] = {
		{"Peer authentication failed",
		 "peer authentication logs an OS user in as the role of the same "
		 "name only: run the command as that OS user (sudo -u ROLE "
		 "portmilter-report ...), or use a password over TCP: "
		 "-d 'host=localhost dbname=portmilter user=ROLE' with the "
		 "password in ~/.pgpass (mode 0600; README.Debian, \"A reader "
		 "for the abuse team\")"},
		{"password authentication failed",
		 "wrong password for that role: check ~/.pgpass (host:port:"
		 "database:role:password, mode 0600) or PGPASSWORD"},
		{"no password supplied",
		 "the server wants a password: put it in ~/.pgpass (host:port:"
		 "database:role:password, mode 0600)"},
		{"Is the server running",
		 "no PostgreSQL server there: is it running (pg_lsclusters)? A "
		 "cluster on another port: PGPORT=PORT, or port=PORT in -d "
		 "CONNINFO or in the configuration's \"database =\" (libpq does "
		 "not read Debian's PGCLUSTER)"},
	};

	if (strstr(msg, "\" does not exist") != NULL) {
		if (strstr(msg, "FATAL:  role \"") != NULL)
			return "the role does not exist: create it as the PostgreSQL "
			       "superuser, for a reader \"sudo -u postgres createuser "
			       "ROLE\" then \"sudo -u postgres psql portmilter -c "
			       "'GRANT portmilter_reader TO ROLE'\" (the role is the OS "
			       "user's name unless user= says otherwise; README.Debian, "
			       "\"A reader for the abuse team\")";
		if (strstr(msg, "FATAL:  database \"") != NULL)
			return "no such database: create it (README.Debian, step 1) "
			       "or name another one: -d 'dbname=NAME'";
	}
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strstr(msg, hints[i].needle) != NULL)
			return hints[i].hint;
	return NULL;
}

/* Connect with these parameters, then the session settings (db_setup);
 * a failure reported unless quiet. */
static PGconn *db_open(const char *const *keys, const char *const *vals,
		       int expand, bool quiet)
{
	char where[512];
	PGconn *conn = PQconnectdbParams(keys, vals, expand);

	if (conn == NULL) {
		if (!quiet)
			report_error("cannot connect to the database: out of memory");
		return NULL;
	}
	db_where(conn, where, sizeof(where));
	if (PQstatus(conn) != CONNECTION_OK && quiet) {
		PQfinish(conn);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		char *msg = xstrdup(PQerrorMessage(conn));
		const char *hint;

		db_chomp(msg);
		hint = db_hint(msg);
		report_error("cannot connect to %s: %s%s%s", where, msg,
			     hint ? "\nhint: " : "", hint ? hint : "");
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	if (PQsetClientEncoding(conn, "UTF8") != 0) {
		if (!quiet)
			report_error("%s: cannot set client encoding UTF8", where);
		PQfinish(conn);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(db_setup) / sizeof(db_setup[0]); i++) {
		char state[6], msg[512];
		PGresult *r = quiet ?
			db_query_quiet(conn, "SELECT pg_catalog.set_config($1, $2, false)",
				       2, db_setup[i], state, msg, sizeof(msg)) :
			db_query(conn, "SELECT pg_catalog.set_config($1, $2, false)",
				 2, db_setup[i]);

		if (r == NULL) {
			PQfinish(conn);
			return NULL;
		}
		PQclear(r);
	}
	return conn;
}

PGconn *db_connect(const char *conninfo)
{
	/* dbname last: what conninfo says overrides these defaults. */
	const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *vals[] = {"portmilter-report", "5", conninfo, NULL};

	return db_open(keys, vals, 1, false);
}

PGconn *db_connect_like(PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn);
	const char **keys, **vals;
	size_t n = 0, i = 0;
	PGconn *c;

	if (opts == NULL)
		return NULL;
	while (opts[n].keyword != NULL)
		n++;
	keys = xcalloc(n + 1, sizeof(*keys));
	vals = xcalloc(n + 1, sizeof(*vals));
	/* What the first connection used, every option resolved: the same
	 * server, database, role and password, whatever gave them. */
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		keys[i] = o->keyword;
		vals[i++] = o->val;
	}
	c = db_open(keys, vals, 0, true);
	free(keys);
	free(vals);
	PQconninfoFree(opts);
	return c;
}

/* Is r (of conn) a success? If not, its SQLSTATE ("" if none) and message. */
static bool db_result_check(PGconn *conn, const PGresult *r, char state[6],
			    char *msg, size_t msglen)
{
	const char *st;

	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		state[0] = '\0';
		return true;
	default:
		break;
	}
	st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	snprintf(state, 6, "%s", st ? st : "");
	snprintf(msg, msglen, "%s", r && *PQresultErrorMessage(r) ?
		 PQresultErrorMessage(r) : PQerrorMessage(conn));
	db_chomp(msg);
	return false;
}

PGresult *db_query_quiet(PGconn *conn, const char *sql, int nparams,
			 const char *const *params, char state[6], char *msg,
			 size_t msglen)
{
	PGresult *r = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (db_result_check(conn, r, state, msg, msglen))
		return r;
	PQclear(r);
	return NULL;
}

static void db_report(const char *state, const char *msg)
{
	report_error("database error%s%s%s: %s%s", state[0] ? " (SQLSTATE " : "",
		     state, state[0] ? ")" : "", msg,
		     strcmp(state, "42501") == 0 ?
		     " (grant the role portmilter_reader)" : "");
}

PGresult *db_query(PGconn *conn, const char *sql, int nparams,
		   const char *const *params)
{
	char state[6], msg[2048];
	PGresult *r = db_query_quiet(conn, sql, nparams, params, state, msg, sizeof(msg));

	if (r == NULL)
		db_report(state, msg);
	return r;
}

bool db_result_ok(PGconn *conn, const PGresult *r)
{
	char state[6], msg[2048];

	if (db_result_check(conn, r, state, msg, sizeof(msg)))
		return true;
	db_report(state, msg);
	return false;
}

bool db_session_mode(PGconn *conn, const char *command, bool writes)
{
	static const char *const ro[] = {"default_transaction_read_only", "on"};
	PGresult *r;
	bool ok;

	if (!writes) {
		r = db_query(conn, "SELECT pg_catalog.set_config($1, $2, false)", 2, ro);
		PQclear(r);
		return r != NULL;
	}
	if ((r = db_query(conn, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL)) == NULL)
		return false;
	ok = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "f") == 0;
	PQclear(r);
	if (!ok)
		report_error("%s writes, and this server is a hot standby (read "
			     "only): run it against the primary", command);
	return ok;
}

bool db_schema_ok(PGconn *conn, int needed)
{
	char state[6], msg[2048], where[512];
	PGresult *r = db_query_quiet(conn,
		"SELECT COALESCE(pg_catalog.max(version), 0) FROM portmilter.schema_version",
		0, NULL, state, msg, sizeof(msg));
	long version;

	db_where(conn, where, sizeof(where));
	if (r == NULL) {
		if (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0)
			report_error("the portmilter schema is missing in %s: "
				     "run portmilter-report migrate", where);
		else if (strcmp(state, "42501") == 0)
			report_error("%s: %s (grant the role portmilter_reader)", where, msg);
		else
			report_error("%s: cannot read the schema version: %s", where, msg);
		return false;
	}
	if (PQntuples(r) != 1 || !str_to_long(PQgetvalue(r, 0, 0), 0, 1000000, &version)) {
		report_error("%s: unexpected answer reading the schema version", where);
		PQclear(r);
		return false;
	}
	PQclear(r);
	if (version < needed) {
		report_error("the portmilter schema in %s is at version %ld, this "
			     "portmilter-report needs %d: run portmilter-report migrate",
			     where, version, needed);
		return false;
	}
	if (version > PM_SCHEMA_VERSION) {
		report_error("database schema %ld is newer than this "
			     "portmilter-report (%d): upgrade portmilter (%s)",
			     version, PM_SCHEMA_VERSION, where);
		return false;
	}
	return true;
}
