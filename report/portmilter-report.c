/*
 * portmilter-report - what the abuse team asks of the recorded events.
 *
 * usage: portmilter-report [-c CONFIG] [-d CONNINFO] [--since T] [--until T]
 *                          [--format table|csv|json] COMMAND [ARGS]
 *
 * Commands (all in the window [since, until), default the last 24 hours):
 *   ports                   per-port summary
 *   user NAME               one SASL user, per port and client address
 *   ip ADDR|CIDR            one address or network, per address and port
 *   top --port N --by user|ip [--limit K]
 *                           the busiest users or addresses on one port
 *   adoption                per UTC day and port: authenticated submissions
 *   tls [--port N] [--below V]  TLS versions in use per user and network
 *   tls-preview --port N --min-tls-version V
 *                           who min_tls_version = V would have refused
 *   dashboard -o FILE.html  one self-contained HTML page of charts
 *   auth [--user U] [--ip ADDR|CIDR] [--port N]
 *                           failed logins (from Postfix's log) per user,
 *                           client address and port
 *   limits [--port N] [--near PCT]
 *                           who has used PCT % (default 80) or more of a
 *                           sending budget of the config file, per port
 *                           (the budgets' own windows, not --since)
 *   alerts                  what portmilter-watch fired (and resolved) in
 *                           the window, with the evidence and deliveries
 *   migrate [--sql-dir DIR] apply the sql/NNN_*.sql not yet applied
 *   suspend USER|ADDRESS|CIDR [--reason TEXT] [--until TIME]
 *                           refuse at MAIL on every node (role
 *                           portmilter_admin); --until: a time, or a
 *                           duration from now (12h, 7d)
 *   unsuspend USER|ADDRESS|CIDR
 *                           lift the suspensions in force of it
 *   suspended [--all]       the suspensions in force (--all: every one
 *                           ever made, lifted and expired too)
 *   maintain                partitions ahead, retention, address reduction
 *                           (portmilter.privacy_settings); for a timer
 *   forget USER             pseudonymise one SASL user everywhere
 *   export USER             everything held about one user, as JSON
 *
 * The database: -d CONNINFO, else the "database" key of the config file
 * (-c, default CFG_DEFAULT_PATH). Exit: 0 ok, 1 database or runtime
 * error, 2 bad command line. Options may come before or after COMMAND.
 * Every query is a constant SQL text with parameters (PQexecParams);
 * times are UTC.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "cfg.h"
#include "msg.h"
#include "report.h"
#include "util.h"

#ifndef SQLDIR
#define SQLDIR "/usr/share/portmilter/sql"
#endif

#define DEFAULT_WINDOW	(24 * 3600)
#define TOP_DEFAULT	10
#define TOP_MAX		10000

/* Command-specific options, as bits. */
enum {
	OPT_WINDOW = 1 << 0,	/* --since, --until, --format */
	OPT_TOP = 1 << 1,	/* --port, --by, --limit */
	OPT_MIGRATE = 1 << 2,	/* --sql-dir */
	OPT_PORT = 1 << 3,	/* --port */
	OPT_TLS = 1 << 4,	/* --below, --min-tls-version */
	OPT_OUTPUT = 1 << 5,	/* -o */
	OPT_AUTH = 1 << 6,	/* --user, --ip */
	OPT_FORMAT = 1 << 7,	/* --format (with OPT_WINDOW, or alone) */
	OPT_NEAR = 1 << 8,	/* --near */
	OPT_UNTIL = 1 << 9,	/* --until (with OPT_WINDOW; suspend: its end) */
	OPT_REASON = 1 << 10,	/* --reason */
	OPT_ALL = 1 << 11,	/* --all */
};

struct opts {
	const char *config;
	const char *conninfo;
	const char *since_text, *until_text;
	enum out_format format;
	const char *port_text, *by, *limit_text, *sql_dir;
	const char *below, *min_tls, *output;
	char *user_text;			/* auth */
	const char *ip_text;
	const char *near_text;		/* limits */
	const char *reason;			/* suspend */
	bool all;				/* suspended */
	struct suspend_request suspend;		/* derived: suspend & co */
	unsigned given;			/* OPT_* bits of the options seen */
	char **args;			/* COMMAND and its arguments */
	int nargs;
	/* derived */
	char since[32], until[32];	/* timestamptz text */
	int64_t since_t, until_t;	/* the same, seconds since the epoch */
	char target[64];		/* ip: the network, "addr/len" */
	char port[8], limit[8];
	bool by_user;
	bool port_given;		/* o->port holds a port */
	int tls_rank;			/* --below or --min-tls-version */
	int near;			/* limits: percentage */
};

struct command {
	const char *name;
	int nargs;			/* arguments after the name */
	unsigned opts;			/* OPT_* bits allowed */
	int (*run)(PGconn *conn, const struct opts *o);
	bool writes;			/* else every transaction is READ ONLY */
};

void report_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_cli_verror(fmt, ap);
	va_end(ap);
}

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: portmilter-report [-c CONFIG] [-d CONNINFO] [--since T] [--until T]\n"
		"                         [--format table|csv|json] COMMAND [ARGS]\n"
		"commands:\n"
		"  ports                     per-port summary of the window\n"
		"  user NAME                 one SASL user: per port and client address\n"
		"  ip ADDR|CIDR              one address or network: per address and port\n"
		"  top --port N --by user|ip [--limit K]\n"
		"                            busiest users or addresses on a port (default 10)\n"
		"  adoption                  authenticated submissions per UTC day and port\n"
		"  tls [--port N] [--below TLSv1.2]\n"
		"                            TLS versions (none = AUTH without TLS) per port,\n"
		"                            user and network (/24, /64): volume, last seen\n"
		"  tls-preview --port N --min-tls-version TLSv1.2\n"
		"                            who that min_tls_version would have refused\n"
		"  dashboard -o FILE.html     one self-contained HTML page of charts and tables\n"
		"  auth [--user U] [--ip ADDR|CIDR] [--port N]\n"
		"                            failed logins per user, address and port\n"
		"  limits [--port N] [--near PCT]\n"
		"                            who used PCT %% (default 80) or more of a sending\n"
		"                            budget of CONFIG, per port, in its own window\n"
		"  alerts                    what portmilter-watch fired or resolved, with\n"
		"                            the evidence and the deliveries\n"
		"  migrate [--sql-dir DIR]   apply the schema migrations (default %s)\n"
		"  suspend USER|ADDRESS|CIDR [--reason TEXT] [--until TIME]\n"
		"                            refuse it at MAIL on every node (within seconds);\n"
		"                            --until: a time, or a duration from now (12h, 7d)\n"
		"  unsuspend USER|ADDRESS|CIDR\n"
		"                            lift its suspensions\n"
		"  suspended [--all]         suspensions in force (--all: lifted, expired too)\n"
		"  maintain                  partitions ahead, retention, client addresses\n"
		"                            reduced (portmilter.privacy_settings)\n"
		"  forget USER               pseudonymise one SASL user everywhere\n"
		"  export USER               everything held about one user (JSON)\n"
		"times (UTC unless a zone is given): YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]',\n"
		"  ISO 8601 (2024-03-10T08:00:00Z, ...+02:00), or relative 30m, 24h, 7d, 2w;\n"
		"  the window is [since, until), by default the last 24 hours.\n"
		"database: -d CONNINFO, else \"database\" in CONFIG (default %s).\n"
		"exit: 0 ok, 1 database or runtime error, 2 bad usage.\n",
		SQLDIR, CFG_DEFAULT_PATH);
}

/* A command-line problem: message, hint, exit 2. */
static noreturn void usage_error(const char *fmt, ...) PM_PRINTF(1, 2);

static noreturn void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_cli_verror(fmt, ap);
	va_end(ap);
	fputs("Try 'portmilter-report --help'.\n", stderr);
	exit(REPORT_EXIT_USAGE);
}

/* ---- the queries -------------------------------------------------------- */

/* Counts shared by user, ip and top; e = portmilter.events. As in
 * sql/005_logreader.sql: connections and aborted count the milter's rows
 * only, rejected and tempfailed also Postfix's refusals before MAIL (those
 * at RCPT and later the milter records itself: not counted twice). */
#define SQL_MILTER_ROW "e.kind IN ('transaction', 'connection')"
#define SQL_REFUSAL "(" SQL_MILTER_ROW " OR (e.kind = 'refused' AND e.rule NOT IN" \
	" ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))"
#define SQL_COUNTS \
	"count(DISTINCT e.conn_id) FILTER (WHERE " SQL_MILTER_ROW ") AS connections," \
	" count(*) FILTER (WHERE e.kind = 'transaction') AS transactions," \
	" count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted," \
	" count(*) FILTER (WHERE e.verdict = 'rejected' AND " SQL_REFUSAL ") AS rejected," \
	" count(*) FILTER (WHERE e.verdict = 'tempfailed' AND " SQL_REFUSAL ") AS tempfailed," \
	" count(*) FILTER (WHERE e.verdict = 'aborted' AND " SQL_MILTER_ROW ") AS aborted," \
	" COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0)" \
	" AS recipients," \
	" count(*) FILTER (WHERE e.credential_exposure) AS exposures,"
/*
 * The distinct non-NULL values of a text column in a group, sorted
 * bytewise; NULL when there are none. What array_agg(DISTINCT col ORDER
 * BY col) FILTER (WHERE col IS NOT NULL) gives, but PostgreSQL 15 sorts
 * each group apart for that: on a year of auth failures (165,000 groups,
 * nearly all of one value) a fifth of the query. A group of one value
 * (min = max) takes no sort here; only the others sort their values.
 */
#define SQL_DISTINCT(col) \
	" CASE WHEN min(" col " COLLATE pg_catalog.\"C\") =" \
	" max(" col " COLLATE pg_catalog.\"C\")" \
	" THEN ARRAY[min(" col " COLLATE pg_catalog.\"C\")]" \
	" WHEN min(" col " COLLATE pg_catalog.\"C\") IS NOT NULL" \
	" THEN ARRAY(SELECT DISTINCT" \
	" pm_d.v COLLATE pg_catalog.\"C\"" \
	" FROM pg_catalog.unnest(array_agg(" col ")) AS pm_d(v)" \
	" WHERE pm_d.v IS NOT NULL ORDER BY 1)" \
	" END"
/* The distinct non-NULL values of a text column, sorted bytewise; '{}'
 * when there are none. (Left as it was: user and ip groups are few, and
 * SQL_IP is the definition tests/sql/rollups-keys.sh copies.) */
#define SQL_LIST(col, name) \
	" COALESCE(array_agg(DISTINCT " col " COLLATE pg_catalog.\"C\"" \
	" ORDER BY " col " COLLATE pg_catalog.\"C\")" \
	" FILTER (WHERE " col " IS NOT NULL), '{}') AS " name ","
#define SQL_SEEN \
	" min(e.event_time) AS first_seen, max(e.event_time) AS last_seen" \
	" FROM portmilter.events AS e"
#define SQL_WINDOW(a, b) \
	" e.event_time >= $" a "::timestamptz AND e.event_time < $" b "::timestamptz"

/*
 * The rows of an address or network N (a cidr parameter): those inside
 * it, and the rows whose address was reduced (sql/010_privacy.sql: IPv4
 * to its /24, IPv6 to its /48) to the network that holds N, so that an
 * address asked for after its rows were reduced finds them, shown as
 * that network. Both are equality or range conditions on the address
 * index.
 */
#define SQL_IN_NET(n) \
	"(e.client_addr <<= " n "::cidr OR e.client_addr = pg_catalog.network(" \
	"pg_catalog.set_masklen(" n "::cidr::inet, CASE pg_catalog.family(" n "::cidr)" \
	" WHEN 4 THEN 24 ELSE 48 END))::inet)"

/*
 * The port column. 0 is a connection whose port nobody could tell (not
 * {daemon_port}, not a generated {daemon_name}: doc/events.md): "unknown"
 * in a table or CSV (so the column is text there), null in JSON (where
 * the other ports stay numbers). Sorting stays numeric: unknown first.
 */
#define SQL_PORT_SHOWN(c) "CASE WHEN " c " = 0 THEN 'unknown' ELSE " c "::text END"
#define SQL_PORT_JSON(c) "NULLIF(" c ", 0)"

/* Each query with the port as a table or CSV shows it, and for JSON. */
#define SQL_PORTS(P) \
	"SELECT " P("t.port") " AS port, connections, transactions, accepted," \
	" rejected, tempfailed, aborted, rejects_by_rule, users, ips, exposures," \
	" auth_failures, refused_before_mail, tls_failures" \
	" FROM portmilter.port_traffic_between($1::timestamptz, $2::timestamptz, NULL)" \
	" AS t ORDER BY t.port"
#define SQL_USER(P) \
	"SELECT " P("e.port") " AS port, e.client_addr, " SQL_COUNTS \
	SQL_LIST("e.rule", "rules") SQL_SEEN \
	" WHERE e.sasl_user = $1::text AND" SQL_WINDOW("2", "3") \
	" GROUP BY e.port, e.client_addr" \
	" ORDER BY e.port, e.client_addr NULLS LAST"
#define SQL_IP(P) \
	"SELECT e.client_addr, " P("e.port") " AS port, " SQL_COUNTS \
	SQL_LIST("e.rule", "rules") SQL_LIST("e.sasl_user", "users") \
	SQL_LIST("e.helo", "helos") SQL_SEEN \
	" WHERE " SQL_IN_NET("$1") " AND" SQL_WINDOW("2", "3") \
	" GROUP BY e.client_addr, e.port" \
	" ORDER BY e.client_addr, e.port"
#define SQL_ADOPTION(P) \
	"SELECT a.day, " P("a.port") " AS port, a.submissions, a.users, a.share" \
	" FROM portmilter.port_adoption_between($1::timestamptz, $2::timestamptz)" \
	" AS a ORDER BY a.day, a.port"

/* [0]: table and CSV, [1]: JSON. */
static const char *const sql_ports[] = {SQL_PORTS(SQL_PORT_SHOWN),
					SQL_PORTS(SQL_PORT_JSON)};
static const char *const sql_user[] = {SQL_USER(SQL_PORT_SHOWN),
				       SQL_USER(SQL_PORT_JSON)};
/*
 * ip: SQL_IP above is the definition (tests/sql/rollups-keys.sh compares
 * with it, its port column e.port); the report reads the same rows, in
 * the same order, from portmilter.ip_usage() (sql/022_rollups_addr.sql:
 * the address rollups for the clean days of the window, the events for
 * the rest), its port column shown as SQL_IP shows it.
 */
#define SQL_IP_USAGE(P) \
	"SELECT u.client_addr, " P("u.port") " AS port, u.connections," \
	" u.transactions, u.accepted, u.rejected, u.tempfailed, u.aborted," \
	" u.recipients, u.exposures, u.rules, u.users, u.helos, u.first_seen," \
	" u.last_seen" \
	" FROM portmilter.ip_usage($1::cidr, $2::timestamptz, $3::timestamptz) AS u" \
	" ORDER BY u.client_addr, u.port"
static const char *const sql_ip[] = {SQL_IP_USAGE(SQL_PORT_SHOWN),
				     SQL_IP_USAGE(SQL_PORT_JSON)};
static const char *const sql_adoption[] = {SQL_ADOPTION(SQL_PORT_SHOWN),
					   SQL_ADOPTION(SQL_PORT_JSON)};

/*
 * top: the keys ranked from the rollups (sql/015_rollups_keys.sql), then
 * the winners' rows from their events: what the same GROUP BY over the
 * events of the window gives, in the same order.
 */
static const char sql_top_user[] =
	"SELECT t.* FROM portmilter.top_users($1::integer, $2::timestamptz,"
	" $3::timestamptz, $4::integer) AS t"
	" ORDER BY t.transactions DESC, t.connections DESC,"
	" t.\"user\" COLLATE pg_catalog.\"C\"";

static const char sql_top_ip[] =
	"SELECT t.* FROM portmilter.top_ips($1::integer, $2::timestamptz,"
	" $3::timestamptz, $4::integer) AS t"
	" ORDER BY t.transactions DESC, t.connections DESC, t.client_addr";

/* $3 user, $4 network, $5 port: NULL = any. */
#define SQL_AUTH(P) \
	"SELECT e.sasl_user AS \"user\", e.client_addr, " P("e.port") " AS port," \
	" count(*) AS failures," SQL_DISTINCT("e.sasl_method") " AS mechanisms," \
	" min(e.event_time) AS first_seen, max(e.event_time) AS last_seen" \
	" FROM portmilter.events AS e" \
	" WHERE e.kind = 'auth_failure' AND" SQL_WINDOW("1", "2") \
	" AND ($3::text IS NULL OR e.sasl_user = $3::text)" \
	" AND ($4::cidr IS NULL OR " SQL_IN_NET("$4") ")" \
	" AND ($5::integer IS NULL OR e.port = $5::integer)" \
	" GROUP BY e.sasl_user, e.client_addr, e.port" \
	" ORDER BY failures DESC, e.sasl_user COLLATE pg_catalog.\"C\" NULLS LAST," \
	" e.client_addr NULLS LAST, e.port"
static const char *const sql_auth[] = {SQL_AUTH(SQL_PORT_SHOWN),
				       SQL_AUTH(SQL_PORT_JSON)};

static int show(PGconn *conn, const struct opts *o, const char *sql, int nparams,
		const char *const *params)
{
	PGresult *r = db_query(conn, sql, nparams, params);
	bool ok;

	if (r == NULL)
		return REPORT_EXIT_RUNTIME;
	ok = out_result(stdout, r, o->format);
	PQclear(r);
	return ok ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_ports(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->since, o->until};

	return show(conn, o, sql_ports[o->format == OUT_JSON], 2, params);
}

static int cmd_user(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->args[1], o->since, o->until};

	return show(conn, o, sql_user[o->format == OUT_JSON], 3, params);
}

static int cmd_ip(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->target, o->since, o->until};

	return show(conn, o, sql_ip[o->format == OUT_JSON], 3, params);
}

static int cmd_top(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->port, o->since, o->until, o->limit};

	return show(conn, o, o->by_user ? sql_top_user : sql_top_ip, 4, params);
}

static int cmd_adoption(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->since, o->until};

	return show(conn, o, sql_adoption[o->format == OUT_JSON], 2, params);
}

static int cmd_tls(PGconn *conn, const struct opts *o)
{
	struct tls_request q = {o->since, o->until,
				o->port_given ? o->port : NULL, o->tls_rank,
				o->format};

	return tls_usage(conn, &q) ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_tls_preview(PGconn *conn, const struct opts *o)
{
	struct tls_request q = {o->since, o->until, o->port, o->tls_rank,
				o->format};

	return tls_preview(conn, &q) ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_dashboard(PGconn *conn, const struct opts *o)
{
	return dashboard_write(conn, o->since, o->until, o->until_t - o->since_t,
			       o->output) ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_auth(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->since, o->until, o->user_text,
				o->ip_text ? o->target : NULL,
				o->port_text ? o->port : NULL};

	return show(conn, o, sql_auth[o->format == OUT_JSON], 5, params);
}

static int cmd_limits(PGconn *conn, const struct opts *o)
{
	const char *path = o->config ? o->config : CFG_DEFAULT_PATH;
	char *errors = NULL;
	struct cfg *cfg;
	bool ok;

	if (!db_schema_ok(conn, LIMITS_SCHEMA_NEEDED))
		return REPORT_EXIT_RUNTIME;
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		size_t n = errors ? strlen(errors) : 0;

		while (n > 0 && errors[n - 1] == '\n')
			errors[--n] = '\0';
		report_error("limits: cannot read the budgets:\n%s",
			     errors ? errors : path);
		free(errors);
		return REPORT_EXIT_RUNTIME;
	}
	ok = limits_report(conn, cfg, o->port_given ? o->port : NULL, o->near,
			   o->format);
	cfg_unref(cfg);
	return ok ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_suspend(PGconn *conn, const struct opts *o)
{
	return suspend_run(conn, &o->suspend);
}

static int cmd_unsuspend(PGconn *conn, const struct opts *o)
{
	return unsuspend_run(conn, &o->suspend);
}

static int cmd_suspended(PGconn *conn, const struct opts *o)
{
	return suspended_run(conn, &o->suspend);
}

/* sql/007_watch.sql: the alerts, in the window, oldest first; the
 * deliveries as "channel:state" (attempts when more than one). */
static const char sql_alerts[] =
	"SELECT a.alert_id, a.fired_at, a.detector, a.subject_kind, a.subject,"
	" a.state, a.suspended, a.summary, a.evidence, a.watch_node,"
	" (SELECT string_agg(d.channel || ':' || d.state ||"
	" CASE WHEN d.attempts > 1 THEN '(' || d.attempts || ')' ELSE '' END,"
	" ', ' ORDER BY d.channel) FROM portmilter.alert_deliveries AS d"
	" WHERE d.alert_id = a.alert_id) AS deliveries"
	" FROM portmilter.alerts AS a"
	" WHERE a.fired_at >= $1::timestamptz AND a.fired_at < $2::timestamptz"
	" ORDER BY a.alert_id";

static int cmd_alerts(PGconn *conn, const struct opts *o)
{
	const char *params[] = {o->since, o->until};

	if (!db_schema_ok(conn, 7))
		return REPORT_EXIT_RUNTIME;
	return show(conn, o, sql_alerts, 2, params);
}

static int cmd_migrate(PGconn *conn, const struct opts *o)
{
	return migrate_run(conn, o->sql_dir ? o->sql_dir : SQLDIR, stdout) ?
	       REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_maintain(PGconn *conn, const struct opts *o)
{
	(void)o;
	return privacy_maintain(conn) ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_forget(PGconn *conn, const struct opts *o)
{
	return privacy_forget(conn, o->args[1], o->format) ?
	       REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static int cmd_export(PGconn *conn, const struct opts *o)
{
	return privacy_export(conn, o->args[1]) ? REPORT_EXIT_OK : REPORT_EXIT_RUNTIME;
}

static const struct command commands[] = {
	{"ports", 0, OPT_WINDOW, cmd_ports, false},
	{"user", 1, OPT_WINDOW, cmd_user, false},
	{"ip", 1, OPT_WINDOW, cmd_ip, false},
	{"top", 0, OPT_WINDOW | OPT_TOP | OPT_PORT, cmd_top, false},
	{"adoption", 0, OPT_WINDOW, cmd_adoption, false},
	{"tls", 0, OPT_WINDOW | OPT_PORT | OPT_TLS, cmd_tls, false},
	{"tls-preview", 0, OPT_WINDOW | OPT_PORT | OPT_TLS, cmd_tls_preview, false},
	{"dashboard", 0, OPT_WINDOW | OPT_OUTPUT, cmd_dashboard, false},
	{"auth", 0, OPT_WINDOW | OPT_PORT | OPT_AUTH, cmd_auth, false},
	{"limits", 0, OPT_FORMAT | OPT_PORT | OPT_NEAR, cmd_limits, false},
	{"alerts", 0, OPT_WINDOW, cmd_alerts, false},
	{"migrate", 0, OPT_MIGRATE, cmd_migrate, true},
	{"suspend", 1, OPT_UNTIL | OPT_FORMAT | OPT_REASON, cmd_suspend, true},
	{"unsuspend", 1, OPT_FORMAT, cmd_unsuspend, true},
	{"suspended", 0, OPT_FORMAT | OPT_ALL, cmd_suspended, false},
	{"maintain", 0, 0, cmd_maintain, true},
	{"forget", 1, OPT_FORMAT, cmd_forget, true},
	{"export", 1, OPT_FORMAT, cmd_export, false},
};

/* ---- the command line --------------------------------------------------- */

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { O_SINCE = 256, O_UNTIL, O_FORMAT, O_PORT, O_BY, O_LIMIT, O_SQLDIR,
	       O_BELOW, O_MIN_TLS, O_USER, O_IP, O_NEAR, O_REASON, O_ALL };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"conninfo", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"since", required_argument, NULL, O_SINCE},
		{"until", required_argument, NULL, O_UNTIL},
		{"format", required_argument, NULL, O_FORMAT},
		{"port", required_argument, NULL, O_PORT},
		{"by", required_argument, NULL, O_BY},
		{"limit", required_argument, NULL, O_LIMIT},
		{"sql-dir", required_argument, NULL, O_SQLDIR},
		{"below", required_argument, NULL, O_BELOW},
		{"min-tls-version", required_argument, NULL, O_MIN_TLS},
		{"output", required_argument, NULL, 'o'},
		{"user", required_argument, NULL, O_USER},
		{"ip", required_argument, NULL, O_IP},
		{"near", required_argument, NULL, O_NEAR},
		{"reason", required_argument, NULL, O_REASON},
		{"all", no_argument, NULL, O_ALL},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:d:ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'd': o->conninfo = optarg; break;
		case 'o': o->output = optarg; o->given |= OPT_OUTPUT; break;
		case 'h': usage(stdout); exit(REPORT_EXIT_OK);
		case O_SINCE: o->since_text = optarg; o->given |= OPT_WINDOW; break;
		case O_UNTIL: o->until_text = optarg; o->given |= OPT_UNTIL; break;
		case O_FORMAT:
			if (!out_format_parse(optarg, &o->format))
				usage_error("--format must be table, csv or json");
			o->given |= OPT_FORMAT;
			break;
		case O_PORT: o->port_text = optarg; o->given |= OPT_PORT; break;
		case O_USER: o->user_text = optarg; o->given |= OPT_AUTH; break;
		case O_IP: o->ip_text = optarg; o->given |= OPT_AUTH; break;
		case O_NEAR: o->near_text = optarg; o->given |= OPT_NEAR; break;
		case O_BY: o->by = optarg; o->given |= OPT_TOP; break;
		case O_LIMIT: o->limit_text = optarg; o->given |= OPT_TOP; break;
		case O_SQLDIR: o->sql_dir = optarg; o->given |= OPT_MIGRATE; break;
		case O_REASON: o->reason = optarg; o->given |= OPT_REASON; break;
		case O_ALL: o->all = true; o->given |= OPT_ALL; break;
		case O_BELOW: o->below = optarg; o->given |= OPT_TLS; break;
		case O_MIN_TLS: o->min_tls = optarg; o->given |= OPT_TLS; break;
		case ':': usage_error("option %s needs a value", argv[optind - 1]);
		default: usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
}

/* --since/--until into o->since/o->until; the window must not be empty. */
static void parse_window(struct opts *o)
{
	int64_t now = (int64_t)time(NULL), since, until;
	char *why = NULL;
	char shown[80];

	/* time() truncates: end the default window after this second, so
	 * that an event of the current second (microseconds) is inside. */
	until = now + 1;
	if (o->until_text && !tp_parse(o->until_text, now, &until, &why))
		usage_error("bad --until \"%s\": %s",
			    str_escape(shown, sizeof(shown), o->until_text), why);
	since = until - DEFAULT_WINDOW;
	if (o->since_text && !tp_parse(o->since_text, now, &since, &why))
		usage_error("bad --since \"%s\": %s",
			    str_escape(shown, sizeof(shown), o->since_text), why);
	o->since_t = since;
	o->until_t = until;
	tp_format(since, o->since, sizeof(o->since));
	tp_format(until, o->until, sizeof(o->until));
	if (since >= until)
		usage_error("empty time window: --since (%s) is not before --until (%s)",
			    o->since, o->until);
}

/* The options of tls and tls-preview. */
static void parse_tls(const struct command *cmd, struct opts *o)
{
	bool preview = strcmp(cmd->name, "tls-preview") == 0;
	const char *version = preview ? o->min_tls : o->below;
	char shown[80];
	long v;

	if (preview ? o->below != NULL : o->min_tls != NULL)
		usage_error("%s: %s is an option of %s", cmd->name,
			    preview ? "--below" : "--min-tls-version",
			    preview ? "tls" : "tls-preview");
	if (o->port_text != NULL) {
		if (!preview && strcmp(o->port_text, "unknown") == 0)
			v = 0;
		else if (!str_to_long(o->port_text, preview ? 1 : 0, 65535, &v))
			usage_error("%s: --port must be a port number %s", cmd->name,
				    preview ? "1..65535" : "0..65535 or unknown");
		snprintf(o->port, sizeof(o->port), "%ld", v);
		o->port_given = true;
	} else if (preview) {
		usage_error("tls-preview needs --port N (the port whose min_tls_version would change)");
	}
	if (version == NULL) {
		if (preview)
			usage_error("tls-preview needs --min-tls-version (TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)");
		return;
	}
	if (!tls_min_parse(version, &o->tls_rank))
		usage_error("%s: bad %s \"%s\": expected TLSv1, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3",
			    cmd->name, preview ? "--min-tls-version" : "--below",
			    str_escape(shown, sizeof(shown), version));
}

/* The arguments of user, ip and top. */
static void parse_target(const struct command *cmd, struct opts *o)
{
	char shown[80];
	long v;

	if (strcmp(cmd->name, "user") == 0 || strcmp(cmd->name, "forget") == 0 ||
	    strcmp(cmd->name, "export") == 0) {
		if (o->args[1][0] == '\0' || !utf8_valid(o->args[1]))
			usage_error("%s: the name must be non-empty UTF-8", cmd->name);
		o->args[1][utf8_prefix(o->args[1], REPORT_NAME_MAX)] = '\0';
		if (strcmp(cmd->name, "export") == 0 && (o->given & OPT_FORMAT) &&
		    o->format != OUT_JSON)
			usage_error("export writes JSON only (--format json)");
	} else if (strcmp(cmd->name, "ip") == 0) {
		struct pm_cidr net;
		const char *why;
		char addr[64];

		if (!cidr_parse(o->args[1], &net, &why))
			usage_error("ip: bad address or network \"%s\": %s",
				    str_escape(shown, sizeof(shown), o->args[1]), why);
		snprintf(o->target, sizeof(o->target), "%s/%u",
			 addr_to_text(&net.net, addr, sizeof(addr)), net.prefix);
	} else if (strcmp(cmd->name, "tls") == 0 || strcmp(cmd->name, "tls-preview") == 0) {
		parse_tls(cmd, o);
	} else if (strcmp(cmd->name, "dashboard") == 0) {
		if (o->output == NULL || o->output[0] == '\0')
			usage_error("dashboard needs -o FILE.html (where to write the page)");
	} else if (strcmp(cmd->name, "top") == 0) {
		if (o->port_text && strcmp(o->port_text, "unknown") == 0)
			v = 0;
		else if (o->port_text == NULL || !str_to_long(o->port_text, 0, 65535, &v))
			usage_error("top: --port must be a port number 0..65535 or unknown");
		snprintf(o->port, sizeof(o->port), "%ld", v);
		if (o->by == NULL || (strcmp(o->by, "user") != 0 && strcmp(o->by, "ip") != 0))
			usage_error("top: --by must be user or ip");
		o->by_user = strcmp(o->by, "user") == 0;
		v = TOP_DEFAULT;
		if (o->limit_text && !str_to_long(o->limit_text, 1, TOP_MAX, &v))
			usage_error("top: --limit must be 1..%d", TOP_MAX);
		snprintf(o->limit, sizeof(o->limit), "%ld", v);
	} else if (strcmp(cmd->name, "limits") == 0) {
		if (o->port_text) {
			if (!str_to_long(o->port_text, 1, 65535, &v))
				usage_error("limits: --port must be a port number "
					    "1..65535");
			snprintf(o->port, sizeof(o->port), "%ld", v);
			o->port_given = true;
		}
		v = 80;
		if (o->near_text && !str_to_long(o->near_text, 0, 1000, &v))
			usage_error("limits: --near must be a percentage 0..1000");
		o->near = (int) v;
	} else if (strcmp(cmd->name, "auth") == 0) {
		struct pm_cidr net;
		const char *why;
		char addr[64];

		if (o->user_text && (o->user_text[0] == '\0' ||
				     !utf8_valid(o->user_text)))
			usage_error("auth: --user must be non-empty UTF-8");
		if (o->user_text)
			o->user_text[utf8_prefix(o->user_text,
						 REPORT_NAME_MAX)] = '\0';
		if (o->ip_text) {
			if (!cidr_parse(o->ip_text, &net, &why))
				usage_error("auth: bad --ip \"%s\": %s",
					    str_escape(shown, sizeof(shown), o->ip_text),
					    why);
			snprintf(o->target, sizeof(o->target), "%s/%u",
				 addr_to_text(&net.net, addr, sizeof(addr)),
				 net.prefix);
		}
		if (o->port_text) {
			if (strcmp(o->port_text, "unknown") == 0)
				v = 0;
			else if (!str_to_long(o->port_text, 0, 65535, &v))
				usage_error("auth: --port must be a port number "
					    "0..65535 or unknown");
			snprintf(o->port, sizeof(o->port), "%ld", v);
		}
	}
}

/* The arguments of suspend, unsuspend and suspended. */
static void parse_suspend(const struct command *cmd, struct opts *o)
{
	struct suspend_request *q = &o->suspend;
	char shown[80], *why = NULL;
	const char *cwhy = NULL;

	q->format = o->format;
	q->all = o->all;
	q->reason = o->reason;
	if (cmd->nargs == 1 &&
	    !suspend_subject_parse(o->args[1], &q->subject, &cwhy))
		usage_error("%s: bad user, address or network \"%s\": %s",
			    cmd->name, str_escape(shown, sizeof(shown), o->args[1]),
			    cwhy);
	if (o->reason != NULL && (!utf8_valid(o->reason) ||
				  strlen(o->reason) > 1000))
		usage_error("%s: --reason must be UTF-8 of at most 1000 bytes",
			    cmd->name);
	if (o->until_text != NULL &&
	    !suspend_until_parse(o->until_text, (int64_t)time(NULL), &q->until,
				 &why))
		usage_error("%s: bad --until \"%s\": %s", cmd->name,
			    str_escape(shown, sizeof(shown), o->until_text), why);
}

static const struct command *parse_command(struct opts *o)
{
	const struct command *cmd = NULL;

	if (o->nargs == 0)
		usage_error("no command given");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(o->args[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		usage_error("unknown command \"%.40s\"", o->args[0]);
	if (o->nargs - 1 != cmd->nargs)
		usage_error("%s takes %d argument%s", cmd->name, cmd->nargs,
			    cmd->nargs == 1 ? "" : "s");
	if (o->given & ~(cmd->opts | (cmd->opts & OPT_WINDOW ?
					OPT_FORMAT | OPT_UNTIL : 0)))
		usage_error("%s: option not valid for this command", cmd->name);
	parse_target(cmd, o);
	if (cmd->opts & OPT_WINDOW)
		parse_window(o);
	else if (cmd->run == cmd_suspend || cmd->run == cmd_unsuspend ||
		 cmd->run == cmd_suspended)
		parse_suspend(cmd, o);
	return cmd;
}

/* -d, else the config file's database key. NULL (reported) on failure. */
static char *find_conninfo(const struct opts *o)
{
	const char *path = o->config ? o->config : CFG_DEFAULT_PATH;
	char *errors = NULL, *conninfo;
	struct cfg *cfg;

	if (o->conninfo)
		return xstrdup(o->conninfo);
	if ((cfg = cfg_load(path, &errors)) == NULL) {
		size_t n = errors ? strlen(errors) : 0;

		while (n > 0 && errors[n - 1] == '\n')
			errors[--n] = '\0';
		report_error("cannot use the configuration (give -d CONNINFO instead):\n%s",
			     errors ? errors : path);
		free(errors);
		return NULL;
	}
	conninfo = xstrdup(cfg->database ? cfg->database : "");
	cfg_unref(cfg);
	return conninfo;
}

int main(int argc, char **argv)
{
	struct opts o = {.format = OUT_TABLE};
	const struct command *cmd;
	char *conninfo;
	PGconn *conn;
	int status;

	msg_init("portmilter-report", MSG_TO_STDERR);
	parse_options(argc, argv, &o);
	cmd = parse_command(&o);
	if ((conninfo = find_conninfo(&o)) == NULL)
		return REPORT_EXIT_RUNTIME;
	if (!db_conninfo_ok(conninfo)) {
		free(conninfo);
		return o.conninfo ? REPORT_EXIT_USAGE : REPORT_EXIT_RUNTIME;
	}
	conn = db_connect(conninfo);
	free(conninfo);
	if (conn == NULL)
		return REPORT_EXIT_RUNTIME;
	if (!db_session_mode(conn, cmd->name, cmd->writes))
		status = REPORT_EXIT_RUNTIME;
	else if (cmd->run != cmd_migrate && !db_schema_ok(conn, REPORT_SCHEMA_NEEDED))
		status = REPORT_EXIT_RUNTIME;
	else
		status = cmd->run(conn, &o);
	PQfinish(conn);
	return status;
}
