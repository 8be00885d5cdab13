/*
 * report - internal interfaces of portmilter-report, the abuse-team client.
 *
 * Modules:
 *   portmilter-report.c  options, commands, exit codes
 *   timeparse.c  tp_*   --since/--until text to a UTC instant
 *   output.c     out_*  a PGresult as an aligned table, CSV or JSON
 *   db.c         db_*   connect, run parameterized queries, schema check
 *   migrate.c    migrate_run: apply sql/NNN_*.sql in order
 *   tls.c        tls_*  TLS versions in use, a min_tls_version preview
 *   limits.c     limits_report: who is near or over a sending budget
 *   privacy.c    privacy_*  maintain (retention, address reduction),
 *                       forget and export one user
 *   dashboard.c  dashboard_write: the HTML dashboard page
 *   chart.c      chart_*  its SVG charts and data tables
 *   suspend.c    suspend, unsuspend, suspended: the suspension list
 *
 * Failures are reported on stderr with report_error() by the module that
 * sees them; callers only propagate a bool (or NULL) and choose the exit
 * code: REPORT_EXIT_RUNTIME for database and environment trouble,
 * REPORT_EXIT_USAGE for a bad command line.
 */
#ifndef PM_REPORT_H
#define PM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "msg.h"

enum {
	REPORT_EXIT_OK = 0,
	REPORT_EXIT_RUNTIME = 1,
	REPORT_EXIT_USAGE = 2,
};

/* The schema version (sql/NNN) whose objects the queries use. */
#define REPORT_SCHEMA_NEEDED 5

/* The longest user name the events store (EVENT_TEXT_MAX, milter/event.h):
 * a longer one given to user, auth --user, forget, export, suspend or
 * unsuspend is taken as its first bytes, cut at a character boundary
 * (utf8_prefix), the name its events and suspensions hold. */
#define REPORT_NAME_MAX 1024

/* "portmilter-report: " + message + newline, on stderr. */
void report_error(const char *fmt, ...) PM_PRINTF(1, 2);

/* ---- timeparse.c ------------------------------------------------------ */

/*
 * Parse a --since/--until value into seconds since the epoch (UTC):
 *   relative  N followed by m, h, d or w: N minutes/hours/days/weeks
 *             before now (N decimal, at most 100 years in all);
 *   absolute  YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], the same with "T"
 *             instead of the space, each time form optionally followed by
 *             "Z" or an offset +HH, +HHMM, +HH:MM (or -). Without a zone
 *             the time is UTC. Years 1900..9999; every field range-checked
 *             (no 31 April, no 29 February 2023, no 24:00).
 * On failure returns false and *err (malloc'd: free it) says what is
 * wrong.
 */
bool tp_parse(const char *text, int64_t now, int64_t *out, char **err);

/* "YYYY-MM-DD HH:MM:SS+00" (PostgreSQL timestamptz input); buf >= 32. */
void tp_format(int64_t t, char *buf, size_t len);

/* ---- output.c --------------------------------------------------------- */

enum out_format {
	OUT_TABLE,	/* aligned for a terminal, control characters escaped */
	OUT_CSV,	/* RFC 4180, CRLF line ends, header line */
	OUT_JSON,	/* RFC 8259: an array of objects, one per row */
};

/* "table", "csv", "json". */
bool out_format_parse(const char *text, enum out_format *out);

/*
 * Print every row of res (PGRES_TUPLES_OK) in the format. Column types
 * come from PQftype: integers, numeric and floats are JSON numbers and
 * right-aligned; bool is true/false; json/jsonb are emitted as JSON
 * values (their text in table and CSV); text[] is a JSON array, in a
 * table its elements joined by ", ", in CSV its JSON text; NULL is JSON
 * null and an empty field elsewhere. A table cell is cut to
 * OUT_CELL_MAX characters (ending "..."); CSV and JSON are never cut.
 * Returns false (after report_error) if writing failed.
 */
#define OUT_CELL_MAX 60
bool out_result(FILE *fp, const PGresult *res, enum out_format format);

/* ---- db.c ------------------------------------------------------------- */

/*
 * Connect with PQconnectdbParams (application_name portmilter-report,
 * connect_timeout 5; settings in conninfo win), then empty search_path,
 * TimeZone UTC, DateStyle ISO and client encoding UTF8. NULL on failure,
 * reported with the database, host, port and user (never the password).
 */
PGconn *db_connect(const char *conninfo);

/*
 * Another connection to where conn is connected (the same server,
 * database, role and password, as PQconninfo(conn) resolved them), with
 * the same session settings; its session mode (db_session_mode) is the
 * caller's to set. NULL on failure, not reported: for a caller that can
 * do without (the dashboard's extra connections).
 */
PGconn *db_connect_like(PGconn *conn);

/* Is conninfo well formed? If not, report it and return false. */
bool db_conninfo_ok(const char *conninfo);

/*
 * PQexecParams with text parameters whose types the SQL casts. Success is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK, anything else is reported (the
 * server's message and SQLSTATE) and gives NULL. The caller PQclear()s.
 */
PGresult *db_query(PGconn *conn, const char *sql, int nparams,
		   const char *const *params);

/*
 * Is r (from PQgetResult on conn) a success? If not, report it as
 * db_query does. r is not freed.
 */
bool db_result_ok(PGconn *conn, const PGresult *r);

/*
 * The same, but a failure is returned, not reported: NULL result and the
 * SQLSTATE (or "") copied into state[6], the message into msg.
 */
PGresult *db_query_quiet(PGconn *conn, const char *sql, int nparams,
			 const char *const *params, char state[6], char *msg,
			 size_t msglen);

/*
 * The session for one command. A command that only reads (every one but
 * migrate) runs with default_transaction_read_only on: all its
 * transactions are READ ONLY, on the primary as on a hot standby, so it
 * can be pointed at a standby and a statement that would write fails
 * (SQLSTATE 25006) even on the primary, where the tests see it. A
 * command that writes is refused, with a message naming it, on a server
 * in recovery (a standby). false (reported) on failure.
 */
bool db_session_mode(PGconn *conn, const char *command, bool writes);

/*
 * Check that the portmilter schema exists, is at least at version
 * `needed` and at most PM_SCHEMA_VERSION (schema.h); report "schema
 * missing", "too old" (run migrate) or "newer than this
 * portmilter-report" (upgrade portmilter) if not.
 */
bool db_schema_ok(PGconn *conn, int needed);

/* ---- migrate.c -------------------------------------------------------- */

/*
 * Apply every sql_dir/NNN_*.sql whose version NNN is not yet in
 * portmilter.schema_version, in order, each in its own transaction, and
 * check that each recorded its version; then ensure_partitions(). Prints
 * what it did on fp. false (reported) on the first failure.
 */
bool migrate_run(PGconn *conn, const char *sql_dir, FILE *fp);

/* ---- tls.c ------------------------------------------------------------ */

struct tls_request {
	const char *since, *until;	/* timestamptz text */
	const char *port;		/* decimal; NULL = every port (tls only) */
	int rank;			/* PM_TLS_1_0..PM_TLS_1_3; tls: 0 = no --below */
	enum out_format format;
};

/* "TLSv1", "TLSv1.0" .. "TLSv1.3" (as min_tls_version) into *rank. */
bool tls_min_parse(const char *text, int *rank);

/*
 * portmilter-report tls: per port, TLS version ("none" = AUTH without
 * TLS), SASL user and client network (/24, /64): connections,
 * transactions, accepted, rejected, first and last seen; only versions
 * below q->rank if given (none and unrecognised versions are below
 * all). Oldest version first.
 */
bool tls_usage(PGconn *conn, const struct tls_request *q);

/*
 * portmilter-report tls-preview: the transactions on q->port that
 * min_tls_version = q->rank would have refused (TLS unrecognised or
 * below it), per user and client network, with how many were accepted
 * and rejected as things were. false after report_error on failure.
 */
bool tls_preview(PGconn *conn, const struct tls_request *q);

/* ---- limits.c --------------------------------------------------------- */

/* The schema version of portmilter.usage (sql/008_usage.sql). */
#define LIMITS_SCHEMA_NEEDED 8

struct cfg;

/*
 * portmilter-report limits: per port (port: decimal, NULL = every port)
 * and budget key (login, else client address or /64) that used it
 * within the longest window, each limit of cfg that applies there (the
 * class's where the login's class sets that key, else the port's) whose
 * usage over every port and node in the last WINDOW seconds is at least
 * near % of it: port, user, class, limit, budget, used, percent, status
 * (near, spent: = N, over: > N). Fullest first. false after
 * report_error on failure.
 */
bool limits_report(PGconn *conn, const struct cfg *cfg, const char *port,
		   int near, enum out_format format);

/* ---- suspend.c -------------------------------------------------------- */

/* What suspend and unsuspend act on. */
struct suspend_subject {
	bool address;		/* a client address or network */
	char text[1100];	/* the login, or the network "addr/len" */
};

/*
 * The argument of suspend / unsuspend: an address or network (as
 * cidr_parse: "192.0.2.7", "198.51.100.0/24", "2001:db8::/32"; host bits
 * set are refused), else a SASL login (non-empty UTF-8, no control
 * character; a longer one than REPORT_NAME_MAX is cut to the name its
 * events hold). Text that looks like an address but
 * does not parse ("192.0.2.1/24", "10.0.0.300") is refused, not taken
 * for a login; digits alone are a login. false with *why.
 */
bool suspend_subject_parse(const char *text, struct suspend_subject *out,
			   const char **why);

/*
 * suspend --until: as --since/--until (tp_parse), except that a
 * duration (30m, 12h, 7d, 2w) counts forward from now. The result must
 * be in the future. false with *err (malloc'd).
 */
bool suspend_until_parse(const char *text, int64_t now, int64_t *out,
			 char **err);

struct suspend_request {
	struct suspend_subject subject;
	const char *reason;		/* NULL = "" */
	int64_t until;			/* Unix seconds; 0 = until lifted */
	bool all;			/* suspended --all */
	enum out_format format;
};

/*
 * The commands; each checks that the schema has the suspensions
 * (version 6) and returns an exit code. suspend prints the suspension
 * (result "suspended", or "already suspended" with the one in force,
 * whose reason and until stay); unsuspend the number lifted (and says
 * on stderr when it was none); suspended the ones in force, or every
 * one with all. Failures are reported (with a hint when the role lacks
 * portmilter_admin).
 */
int suspend_run(PGconn *conn, const struct suspend_request *q);
int unsuspend_run(PGconn *conn, const struct suspend_request *q);
int suspended_run(PGconn *conn, const struct suspend_request *q);
/* ---- privacy.c -------------------------------------------------------- */

/*
 * portmilter-report maintain: under a session advisory lock, print the
 * settings (portmilter.privacy_settings), create the partitions ahead,
 * drop the partitions past retention, then reduce the client addresses
 * past reduce_days, one partition per transaction, then run the rollups'
 * catch-up (schema 14: "rolled up N days", one transaction a day); print
 * each change, or "nothing to do". Idempotent. Needs schema 10 and the privileges of
 * the schema's owner (or EXECUTE granted on the functions).
 */
bool privacy_maintain(PGconn *conn);

/*
 * portmilter-report forget USER: pseudonymise the user everywhere in one
 * transaction (portmilter.forget_user) and print the rows changed per
 * table (OUT_TABLE: one line per table that changed and a summary, or
 * "nothing held about ...: nothing changed"; CSV, JSON: every table with
 * its count, 0 included).
 */
bool privacy_forget(PGconn *conn, const char *user, enum out_format format);

/* portmilter-report export USER: portmilter.user_export as indented JSON. */
bool privacy_export(PGconn *conn, const char *user);

/* ---- dashboard.c, chart.c ------------------------------------------- */

/*
 * Write the dashboard of the window [since, until) (timestamptz text;
 * span = until - since in seconds picks the traffic bucket) to path,
 * through a temporary file in its directory renamed over it. false
 * (reported) on a database or file error; nothing is left behind.
 */
bool dashboard_write(PGconn *conn, const char *since, const char *until,
		     int64_t span, const char *path);

/*
 * Numbers by x (a time bucket, a port, a user...) and series (a port, a
 * TLS version; one unnamed series "" for a bar chart): text[x * ns + s]
 * as PostgreSQL printed it (NULL: no row), v[] its value.
 */
struct chart_grid {
	size_t nx, ns;
	char **x, **s;
	char **text;
	double *v;
	size_t *colour;		/* the palette index of each series (default: s) */
};

/* From rows (x, series or NULL, series order key, value or NULL): x in
 * row order, series by key. false if the result has not 4 columns. */
bool chart_grid_load(struct chart_grid *g, const PGresult *r);
void chart_grid_free(struct chart_grid *g);

/* Text for HTML and SVG: & < > " ' escaped, control bytes as \xNN. */
void chart_put_text(FILE *fp, const char *s);

/* An inline <svg id="ID-chart" data-chart="ID">: stacked columns (share:
 * values are fractions, the axis 0..100 %) or horizontal bars; each
 * shape has data-x, data-series and data-value (the text) and a title. */
void chart_stacked(FILE *fp, const char *id, const char *title,
		   const struct chart_grid *g, const char *series_name,
		   bool share);
void chart_bars(FILE *fp, const char *id, const char *title,
		const struct chart_grid *g);

/* <table id="ID-data" data-table="ID">: one row per x, one column per
 * series, each cell with data-x, data-series, data-value (0 if none). */
void chart_table(FILE *fp, const char *id, const char *caption,
		 const struct chart_grid *g, const char *x_name,
		 const char *series_name, const char *value_name);

#endif
