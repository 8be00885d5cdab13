/*
 * dashboard - portmilter-report dashboard -o FILE.html: one
 * self-contained HTML page of charts on the window. See report.h.
 *
 * The page fetches nothing: no script at all, the charts are inline SVG,
 * the style is inline, and a Content-Security-Policy of default-src
 * 'none' makes a browser refuse any fetch a future edit might add.
 * Printable (@media print: no page break inside a chart) and readable
 * without colours: every chart has a table of the same numbers under it.
 *
 * The sections and what their numbers equal (tests/report/dashboard.sh
 * checks each against the other commands on the same window):
 *   ports     per port: the columns of `ports`
 *   traffic   transactions per bucket (UTC hour when the window is at
 *             most 3 days, day up to 190 days, else week from Monday)
 *             and port;
 *             summed per port = `ports` transactions
 *   adoption  per UTC day and port: `adoption` share
 *   rules     rejected events per rule = `ports` rejects_by_rule, summed
 *   tls       transactions per port and TLS version ("none": no TLS);
 *             summed per port = `ports` transactions, per version = the
 *             transactions of `tls`
 *   users     the 10 users with the most transactions (`user NAME`)
 *   networks  the 10 client networks (/24, /64) with the most
 *             connections (`ip NET`)
 *   exposures the 10 users with the most credential exposures (`user
 *             NAME` exposures); every one: `tls --below TLSv1`
 * Every query is constant SQL with the window as parameters; they run
 * side by side on up to DASH_CONNS connections reading one snapshot
 * (dash_run).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report.h"
#include "util.h"

/*
 * Every query gives (x, series, series order, value); $3 = bucket unit.
 * Each reads the rollups for the clean days of the window and the events
 * for the rest (sql/015_rollups_keys.sql): the same numbers as its
 * GROUP BY over the events, at the cost of the rollups' size.
 */
static const char sql_traffic[] =
	"WITH b AS (SELECT g AS bucket FROM pg_catalog.generate_series("
	" pg_catalog.date_trunc($3::text, $1::timestamptz, 'UTC'),"
	" $2::timestamptz - interval '1 microsecond',"
	" ('1 ' || $3::text)::interval) AS g)"
	" SELECT pg_catalog.to_char(b.bucket AT TIME ZONE 'UTC',"
	" CASE $3::text WHEN 'hour' THEN 'YYYY-MM-DD HH24:00'"
	" ELSE 'YYYY-MM-DD' END),"
	" CASE WHEN t.port = 0 THEN 'unknown' ELSE t.port::text END, t.port,"
	" t.transactions"
	" FROM b LEFT JOIN portmilter.port_transactions_between($1::timestamptz,"
	" $2::timestamptz, $3::text) AS t ON t.bucket = b.bucket"
	" ORDER BY b.bucket, t.port";
static const char sql_adoption[] =
	"SELECT a.day::text, CASE WHEN a.port = 0 THEN 'unknown'"
	" ELSE a.port::text END, a.port, a.share"
	" FROM portmilter.port_adoption_between($1::timestamptz,"
	" $2::timestamptz) AS a ORDER BY a.day, a.port";
static const char sql_rules[] =
	"SELECT d.rule, NULL, NULL, d.n"
	" FROM portmilter.dashboard_rules($1::timestamptz, $2::timestamptz) AS d"
	" ORDER BY d.n DESC, d.rule COLLATE pg_catalog.\"C\"";
#define DB_TV "d.tls_version"
static const char sql_tls[] =
	"SELECT CASE WHEN d.port = 0 THEN 'unknown' ELSE d.port::text END,"
	" COALESCE(" DB_TV ", 'none'),"
	" CASE WHEN " DB_TV " IS NULL THEN 0"
	" WHEN " DB_TV " ~ '^(TLSv|tlsv)1$' THEN 10"
	" WHEN " DB_TV " ~ '^(TLSv|tlsv)[1-9]\\.[0-9]$'"
	" THEN pg_catalog.substr(" DB_TV ", 5, 1)::integer * 10"
	" + pg_catalog.substr(" DB_TV ", 7, 1)::integer ELSE -1 END,"
	" d.n"
	" FROM portmilter.dashboard_tls($1::timestamptz, $2::timestamptz) AS d"
	" ORDER BY d.port, 3";
static const char sql_users[] =
	"SELECT d.sasl_user, NULL, NULL, d.n"
	" FROM portmilter.dashboard_users($1::timestamptz, $2::timestamptz) AS d"
	" ORDER BY d.n DESC, d.sasl_user COLLATE pg_catalog.\"C\"";
static const char sql_networks[] =
	"SELECT d.network, NULL, NULL, d.n"
	" FROM portmilter.dashboard_networks($1::timestamptz, $2::timestamptz) AS d"
	" ORDER BY d.n DESC, 1";
static const char sql_exposures[] =
	"SELECT d.sasl_user, NULL, NULL, d.n"
	" FROM portmilter.dashboard_exposures($1::timestamptz, $2::timestamptz) AS d"
	" ORDER BY d.n DESC, d.sasl_user COLLATE pg_catalog.\"C\"";
static const char sql_ports[] =
	"SELECT CASE WHEN t.port = 0 THEN 'unknown' ELSE t.port::text END"
	" AS port, connections, transactions, accepted, rejected, tempfailed,"
	" aborted, users, ips, exposures"
	" FROM portmilter.port_traffic_between($1::timestamptz,"
	" $2::timestamptz, NULL) AS t ORDER BY t.port";

static const char dash_style[] =
	"body{font:15px/1.4 system-ui,sans-serif;color:#222;background:#fff;"
	"max-width:820px;margin:1em auto;padding:0 1em}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;"
	"border-bottom:1px solid #bbb}"
	"section{break-inside:avoid;page-break-inside:avoid}"
	"svg{display:block;margin:.5em 0}svg text{font:11px sans-serif;"
	"fill:#222}svg .grid{stroke:#ddd}svg .value{fill:#222}"
	"table.data{border-collapse:collapse;margin:.5em 0 1em;"
	"font-size:13px}table.data caption{text-align:left;color:#444;"
	"padding:.2em 0}table.data th,table.data td{border:1px solid #bbb;"
	"padding:2px 6px}table.data td{text-align:right;"
	"font-variant-numeric:tabular-nums}table.data th{text-align:left;"
	"background:#f2f2f2}p.note{color:#444}"
	"@media print{body{max-width:none;font-size:11pt}"
	"*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
	"table.data{page-break-inside:auto}}";

/* The page's queries: the ports table, then each chart of dash_charts[]. */
#define DASH_NQ		8
#define DASH_CONNS	3	/* connections running them, at most */

struct dash_ctx {
	PGconn *conn;
	const char *since, *until;
	const char *bucket;	/* hour, day or week */
	FILE *fp;
	char **ports;		/* the ports of the window, as shown */
	size_t nports;
	PGresult *res[DASH_NQ];	/* each query's rows (dash_run) */
};

/* A query's rows as a grid. */
static bool dash_grid(const PGresult *r, struct chart_grid *g)
{
	if (chart_grid_load(g, r))
		return true;
	report_error("dashboard: a query gave an unexpected result");
	return false;
}

static void dash_section_open(FILE *fp, const char *id, const char *title,
			      const char *note)
{
	fprintf(fp, "<section id=\"%s\">\n<h2>%s</h2>\n", id, title);
	if (note)
		fprintf(fp, "<p class=\"note\">%s</p>\n", note);
}

enum dash_kind { DASH_STACKED, DASH_SHARE, DASH_BARS };

struct dash_chart {
	const char *id, *title, *note;
	const char *sql;
	enum dash_kind kind;
	const char *x_name, *series_name, *value_name;
	bool port_series;	/* series are ports: one colour per port */
};

static const struct dash_chart dash_charts[] = {
	{"traffic", "Traffic per port over time",
	 "Transactions (messages attempted) per port in each UTC bucket.",
	 sql_traffic, DASH_STACKED, "bucket (UTC)", "port", "transactions",
	 true},
	{"adoption", "Adoption of the ports",
	 "Each port's share of the day's authenticated submissions.",
	 sql_adoption, DASH_SHARE, "day (UTC)", "port", "share", true},
	{"rules", "Refusals by rule",
	 "Rejected events by the rule that decided.",
	 sql_rules, DASH_BARS, "rule", "", "rejected", false},
	{"tls", "TLS versions per port",
	 "Transactions per port by TLS version (none: no TLS).",
	 sql_tls, DASH_STACKED, "port", "", "transactions", false},
	{"users", "Top users",
	 "The ten SASL users with the most transactions.",
	 sql_users, DASH_BARS, "user", "", "transactions", false},
	{"networks", "Top client networks",
	 "The ten client networks (IPv4 /24, IPv6 /64) with the most "
	 "connections.",
	 sql_networks, DASH_BARS, "network", "", "connections", false},
	{"exposures", "Credential exposures",
	 "The ten users with the most passwords sent without TLS (AUTH "
	 "before STARTTLS): change those passwords. Every one of them: "
	 "portmilter-report tls --below TLSv1.",
	 sql_exposures, DASH_BARS, "user", "", "exposures", false},
};

static bool dash_chart(struct dash_ctx *d, const struct dash_chart *c,
		       const PGresult *r)
{
	struct chart_grid g;

	if (!dash_grid(r, &g))
		return false;
	for (size_t s = 0; c->port_series && s < g.ns; s++)
		for (size_t i = 0; i < d->nports; i++)
			if (strcmp(g.s[s], d->ports[i]) == 0)
				g.colour[s] = i;
	dash_section_open(d->fp, c->id, c->title, c->note);
	if (g.nx == 0)
		fputs("<p>Nothing in the window.</p>\n", d->fp);
	else if (c->kind == DASH_BARS)
		chart_bars(d->fp, c->id, c->title, &g);
	else
		chart_stacked(d->fp, c->id, c->title, &g, c->series_name,
			      c->kind == DASH_SHARE);
	chart_table(d->fp, c->id, c->title, &g, c->x_name, c->series_name,
		    c->value_name);
	fputs("</section>\n", d->fp);
	chart_grid_free(&g);
	return true;
}

/* The per-port summary: the `ports` command as a table. */
static void dash_ports(struct dash_ctx *d, const PGresult *r)
{
	int rows, cols;

	rows = PQntuples(r);
	cols = PQnfields(r);
	dash_section_open(d->fp, "ports", "Ports", NULL);
	fputs("<table class=\"data\" id=\"ports-data\" data-table=\"ports\">\n"
	      "<caption>Per port, the whole window</caption>\n<thead><tr>",
	      d->fp);
	for (int c = 0; c < cols; c++)
		fprintf(d->fp, "<th scope=\"col\">%s</th>", PQfname(r, c));
	fputs("</tr></thead>\n<tbody>\n", d->fp);
	d->ports = xcalloc((size_t) rows + 1, sizeof(*d->ports));
	for (int i = 0; i < rows; i++) {
		d->ports[d->nports++] = xstrdup(PQgetvalue(r, i, 0));
		fputs("<tr>", d->fp);
		for (int c = 0; c < cols; c++) {
			fprintf(d->fp, c ? "<td data-col=\"%s\">" :
				"<th scope=\"row\" data-col=\"%s\">",
				PQfname(r, c));
			chart_put_text(d->fp, PQgetvalue(r, i, c));
			fputs(c ? "</td>" : "</th>", d->fp);
		}
		fputs("</tr>\n", d->fp);
	}
	if (rows == 0)
		fprintf(d->fp, "<tr><td colspan=\"%d\">nothing in the window"
			"</td></tr>\n", cols);
	fputs("</tbody>\n</table>\n</section>\n", d->fp);
}

_Static_assert(DASH_NQ == 1 + sizeof(dash_charts) / sizeof(*dash_charts),
	       "one query for the ports table, one per chart");

/* Query q's SQL: 0 the ports table, then the charts in dash_charts[]. */
static const char *dash_sql(size_t q)
{
	return q == 0 ? sql_ports : dash_charts[q - 1].sql;
}

/*
 * The order the queries are sent in: the slowest first (ports, users,
 * networks: the rollups of keys), so that the small ones run beside
 * them rather than after.
 */
static const size_t dash_order[DASH_NQ] = {0, 5, 6, 1, 2, 3, 4, 7};

/* A snapshot id from pg_export_snapshot(), e.g. 00000003-0000001B-1. */
static bool dash_snapshot_ok(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n < 64 && strspn(id, "0123456789ABCDEFabcdef-") == n;
}

/* End the transaction of each connection, close the extra ones. */
static void dash_close(PGconn **conns, size_t nconns)
{
	for (size_t i = 0; i < nconns; i++) {
		/* Read only: nothing to keep, and fine after an error. */
		PQclear(PQexec(conns[i], "ROLLBACK"));
		if (i > 0)
			PQfinish(conns[i]);
	}
}

/*
 * Run every query into d->res, on up to DASH_CONNS connections at once:
 * d->conn and others like it (db_connect_like), each query on the next
 * free one. All of them read one snapshot: d->conn's REPEATABLE READ
 * transaction exports it (pg_export_snapshot(); a hot standby can, from
 * PostgreSQL 10), the others import it, so the sections agree with each
 * other even while rows land. An extra connection that cannot be made
 * (max_connections reached) or cannot take the snapshot is done
 * without: the queries then take turns on fewer, at worst d->conn alone.
 * false (reported) when a query fails.
 */
static bool dash_run(struct dash_ctx *d)
{
	static const char begin[] =
		"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
	const char *params[] = {d->since, d->until, d->bucket};
	PGconn *conns[DASH_CONNS] = {d->conn};
	int running[DASH_CONNS];	/* query on each, -1 none */
	size_t nconns = 1, next = 0, busy = 0;
	PGresult *r;
	char snap[64] = "";
	bool ok = true;

	if ((r = db_query(d->conn, begin, 0, NULL)) == NULL)
		return false;
	PQclear(r);
	r = PQexec(d->conn, "SELECT pg_catalog.pg_export_snapshot()");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    dash_snapshot_ok(PQgetvalue(r, 0, 0)))
		snprintf(snap, sizeof(snap), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	if (snap[0] == '\0') {
		/* Not exported, that transaction aborted: a new one, where
		 * every query runs in turn. */
		PQclear(PQexec(d->conn, "ROLLBACK"));
		if ((r = db_query(d->conn, begin, 0, NULL)) == NULL)
			return false;
		PQclear(r);
	}
	while (snap[0] != '\0' && nconns < DASH_CONNS) {
		PGconn *c = db_connect_like(d->conn);
		char set[128];
		bool joined;

		if (c == NULL)
			break;
		snprintf(set, sizeof(set), "SET TRANSACTION SNAPSHOT '%s'", snap);
		r = PQexec(c, begin);
		joined = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		r = PQexec(c, set);
		joined = joined && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!joined) {
			PQfinish(c);
			break;
		}
		conns[nconns++] = c;
	}

	for (size_t i = 0; i < nconns; i++)
		running[i] = -1;
	for (;;) {
		struct pollfd pfd[DASH_CONNS];
		size_t map[DASH_CONNS], np = 0;

		/* Every free connection takes the next query. */
		for (size_t i = 0; ok && i < nconns && next < DASH_NQ; i++) {
			size_t q = dash_order[next];

			if (running[i] >= 0)
				continue;
			if (!PQsendQueryParams(conns[i], dash_sql(q), dash_sql(q) ==
					       sql_traffic ? 3 : 2, NULL, params,
					       NULL, NULL, 0)) {
				ok = db_result_ok(conns[i], NULL);
				break;
			}
			running[i] = (int)q;
			next++;
			busy++;
		}
		if (busy == 0)
			break;
		for (size_t i = 0; i < nconns; i++)
			if (running[i] >= 0) {
				pfd[np].fd = PQsocket(conns[i]);
				pfd[np].events = POLLIN;
				map[np++] = i;
			}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			report_error("dashboard: poll: %s", strerror(errno));
			ok = false;
			break;	/* the connections are closed below */
		}
		for (size_t k = 0; k < np; k++) {
			size_t i = map[k];
			PGconn *c = conns[i];

			if (pfd[k].revents == 0)
				continue;
			if (!PQconsumeInput(c)) {
				if (ok)
					(void)db_result_ok(c, NULL);
				ok = false;
				running[i] = -1;
				busy--;
				continue;
			}
			while (running[i] >= 0 && !PQisBusy(c)) {
				if ((r = PQgetResult(c)) == NULL) {
					running[i] = -1;	/* free again */
					busy--;
				} else if (!db_result_ok(c, r) ||
					   d->res[running[i]] != NULL) {
					ok = false;
					PQclear(r);
				} else {
					d->res[running[i]] = r;
				}
			}
		}
	}
	dash_close(conns, nconns);
	for (size_t q = 0; ok && q < DASH_NQ; q++)
		ok = d->res[q] != NULL;
	return ok;
}

static bool dash_page(struct dash_ctx *d)
{
	char now[32];

	tp_format((int64_t) time(NULL), now, sizeof(now));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" "
	      "content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width\">\n",
	      d->fp);
	fprintf(d->fp, "<title>portmilter: %s to %s</title>\n<style>%s</style>\n"
		"</head>\n<body>\n<h1>portmilter: how the ports are used</h1>\n"
		"<p>Window: from <time id=\"since\">%s</time> to "
		"<time id=\"until\">%s</time> (UTC, the end excluded); "
		"traffic in %s buckets. Made by portmilter-report dashboard "
		"at %s.</p>\n", d->since, d->until, dash_style, d->since,
		d->until, d->bucket, now);
	if (!dash_run(d))
		return false;
	dash_ports(d, d->res[0]);
	for (size_t i = 0; i < sizeof(dash_charts) / sizeof(*dash_charts); i++)
		if (!dash_chart(d, &dash_charts[i], d->res[1 + i]))
			return false;
	fputs("</body>\n</html>\n", d->fp);
	return true;
}

/* Write the page into a temporary file next to path, then rename. */
bool dashboard_write(PGconn *conn, const char *since, const char *until,
		     int64_t span, const char *path)
{
	const char *base = strrchr(path, '/');
	struct dash_ctx d = {conn, since, until, NULL, NULL, NULL, 0, {NULL}};
	char *tmp;
	mode_t mask;
	bool ok;
	int fd;

	d.bucket = span <= 3 * 86400 ? "hour" : span <= 190 * 86400 ?
		   "day" : "week";
	tmp = xmalloc(strlen(path) + 16);
	if (base)
		sprintf(tmp, "%.*s.%s.XXXXXX", (int) (base + 1 - path), path,
			base + 1);
	else
		sprintf(tmp, ".%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0 || (d.fp = fdopen(fd, "w")) == NULL) {
		report_error("dashboard: cannot create a temporary file for "
			     "%s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		free(tmp);
		return false;
	}
	mask = umask(0);
	umask(mask);
	ok = fchmod(fd, 0666 & ~mask) == 0 && dash_page(&d);
	if (fflush(d.fp) != 0 || ferror(d.fp) || fsync(fd) != 0) {
		if (ok)
			report_error("dashboard: cannot write %s: %s", tmp,
				     strerror(errno ? errno : EIO));
		ok = false;
	}
	if (fclose(d.fp) != 0 && ok) {
		report_error("dashboard: cannot write %s: %s", tmp,
			     strerror(errno));
		ok = false;
	}
	if (ok && rename(tmp, path) != 0) {
		report_error("dashboard: cannot rename %s to %s: %s", tmp,
			     path, strerror(errno));
		ok = false;
	}
	if (!ok)
		unlink(tmp);
	free(tmp);
	for (size_t i = 0; i < d.nports; i++)
		free(d.ports[i]);
	free(d.ports);
	for (size_t i = 0; i < DASH_NQ; i++)
		PQclear(d.res[i]);
	return ok;
}
