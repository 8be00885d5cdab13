/*
 * tls - the TLS-deprecation campaign: who still uses an old TLS version
 * (portmilter-report tls), and who a proposed min_tls_version would
 * have refused (portmilter-report tls-preview). See report.h.
 *
 * A TLS version's rank is that of lib/cfg's cfg_tls_version_parse(), in
 * SQL: NULL or "" is none (0, no TLS), "TLSv1" 10, "TLSv1.N" 10 + N (also
 * "tlsv"), anything else (SSLv3, garbage) unknown (-1). The milter's
 * min_tls_version rule (milter/policy.c) refuses, at MAIL, a session in
 * TLS whose rank is unknown or below the minimum; a session without TLS
 * is the business of require_tls and tls_before_auth, which come first.
 * tls-preview applies exactly that rule to the recorded transactions of
 * the port: a transaction already refused by an earlier rule has no TLS
 * (tls_before_auth, require_tls) or never reached MAIL (connect rules),
 * so it is not counted.
 *
 * A client network is the client address's /24 (IPv4) or /64 (IPv6), or
 * the /48 an IPv6 address was reduced to (sql/010_privacy.sql).
 * Every query is constant SQL with parameters.
 */
#include <string.h>

#include "cfg.h"
#include "report.h"

/* The rank of the text column c (see above). */
#define SQL_TLS_RANK(c) \
	"CASE WHEN NULLIF(" c ", '') IS NULL THEN 0" \
	" WHEN " c " ~ '^(TLSv|tlsv)1$' THEN 10" \
	" WHEN " c " ~ '^(TLSv|tlsv)[1-9]\\.[0-9]$'" \
	" THEN pg_catalog.substr(" c ", 5, 1)::integer * 10" \
	" + pg_catalog.substr(" c ", 7, 1)::integer" \
	" ELSE -1 END"
#define SQL_TV "NULLIF(e.tls_version, '')"
#define SQL_RANK SQL_TLS_RANK(SQL_TV)
/*
 * The rows below TLSv1.3 (the highest minimum there is): in TLS below it,
 * or AUTH without TLS (rank 0) seen by the milter. A log reader's
 * auth_failure row has the mechanism but never the TLS version: it says
 * nothing about TLS and is left out. This is the predicate of the
 * partial index events_old_tls_idx (sql/017_report_indexes.sql), whose
 * key is SQL_RANK: the queries below AND it in literally, though the
 * rank condition already implies it, because the planner uses a partial
 * index only when it can prove the WHERE implies the index's predicate,
 * and it cannot see through the rank's CASE. Change one, change the
 * other (tests/sql/tls.sh checks the plans of tls --below; tls-preview
 * reads its rollups, sql/024_rollups_preview.sql, whose tls_preview()
 * writes the same predicate for the events of a window's ragged edges).
 */
#define SQL_OLD_TLS \
	"((" SQL_TV " IS NOT NULL AND e.tls_version <> 'TLSv1.3')" \
	" OR (" SQL_TV " IS NULL AND e.sasl_method IS NOT NULL" \
	" AND e.kind <> 'auth_failure'))"
#define SQL_NET \
	"pg_catalog.network(pg_catalog.set_masklen(e.client_addr," \
	" LEAST(pg_catalog.masklen(e.client_addr)," \
	" CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END)))"
#define SQL_IN_WINDOW \
	" e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz"
/* As in portmilter-report.c: port 0 is "unknown" (table, CSV), null (JSON). */
#define SQL_PORT_SHOWN "CASE WHEN e.port = 0 THEN 'unknown' ELSE e.port::text END"
#define SQL_PORT_JSON "NULLIF(e.port, 0)"

/*
 * $3: port or NULL (every port), $4: rank or NULL (every version); with
 * $4 NULL it is the definition of portmilter.tls_usage() below (and its
 * oracle in tests/sql/rollups-keys.sh).
 */
#define SQL_TLS(P) \
	"SELECT " P " AS port," \
	" COALESCE(" SQL_TV ", 'none') AS tls_version," \
	" e.sasl_user AS \"user\", " SQL_NET " AS network," \
	" count(DISTINCT e.conn_id) AS connections," \
	" count(*) FILTER (WHERE e.kind = 'transaction') AS transactions," \
	" count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted," \
	" count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected," \
	" min(e.event_time) AS first_seen, max(e.event_time) AS last_seen" \
	" FROM portmilter.events AS e" \
	" WHERE" SQL_IN_WINDOW \
	" AND ($3::integer IS NULL OR e.port = $3::integer)" \
	" AND (" SQL_TV " IS NOT NULL" \
	" OR (e.sasl_method IS NOT NULL AND e.kind <> 'auth_failure'))" \
	" AND ($4::integer IS NULL" \
	" OR (" SQL_OLD_TLS " AND " SQL_RANK " < $4::integer))" \
	" GROUP BY e.port, " SQL_TV ", e.sasl_user, " SQL_NET \
	" ORDER BY e.port, " SQL_RANK ", 2," \
	" e.sasl_user COLLATE pg_catalog.\"C\" NULLS LAST, 4 NULLS LAST"

static const char *const sql_tls[] = {SQL_TLS(SQL_PORT_SHOWN),
				      SQL_TLS(SQL_PORT_JSON)};

/*
 * Every version ($4 NULL): the same rows in the same order from the
 * rollups, portmilter.tls_usage() (sql/020_rollups_tls.sql, restated by
 * sql/021_tls_faster.sql and sql/023_tls_year.sql; $3: port or NULL),
 * which reads the events only where no rollup is ready.
 */
#define SQL_TLS_ROLLUP(P) \
	"SELECT " P " AS port, e.tls_version, e.\"user\", e.network," \
	" e.connections, e.transactions, e.accepted, e.rejected," \
	" e.first_seen, e.last_seen" \
	" FROM portmilter.tls_usage($1::timestamptz, $2::timestamptz," \
	" $3::integer) WITH ORDINALITY AS e ORDER BY e.ordinality"

static const char *const sql_tls_rollup[] = {SQL_TLS_ROLLUP(SQL_PORT_SHOWN),
					     SQL_TLS_ROLLUP(SQL_PORT_JSON)};

/*
 * $3: the port, $4: the proposed minimum's rank. The definition of
 * portmilter.tls_preview() below (and its oracle in
 * tests/sql/rollups-keys.sh, verbatim): the report runs that function,
 * not this query, which is kept as the reference.
 */
#define SQL_PREVIEW \
	"SELECT e.sasl_user AS \"user\", " SQL_NET " AS network," \
	" pg_catalog.array_agg(DISTINCT e.tls_version COLLATE pg_catalog.\"C\"" \
	" ORDER BY e.tls_version COLLATE pg_catalog.\"C\") AS tls_versions," \
	" count(*) AS refused_transactions," \
	" count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted_now," \
	" count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected_now," \
	" count(DISTINCT e.conn_id) AS connections," \
	" min(e.event_time) AS first_seen, max(e.event_time) AS last_seen" \
	" FROM portmilter.events AS e" \
	" WHERE" SQL_IN_WINDOW \
	" AND e.port = $3::integer AND e.kind = 'transaction'" \
	" AND " SQL_TV " IS NOT NULL" \
	" AND " SQL_OLD_TLS " AND " SQL_RANK " < $4::integer" \
	" GROUP BY e.sasl_user, " SQL_NET \
	" ORDER BY refused_transactions DESC," \
	" e.sasl_user COLLATE pg_catalog.\"C\" NULLS LAST, 2 NULLS LAST"

/*
 * The same rows in the same order from the rollups,
 * portmilter.tls_preview() (sql/024_rollups_preview.sql), which reads the
 * events only where no rollup is ready.
 */
static const char sql_preview_rollup[] =
	"SELECT e.\"user\", e.network, e.tls_versions, e.refused_transactions,"
	" e.accepted_now, e.rejected_now, e.connections, e.first_seen,"
	" e.last_seen"
	" FROM portmilter.tls_preview($1::timestamptz, $2::timestamptz,"
	" $3::integer, $4::integer) WITH ORDINALITY AS e ORDER BY e.ordinality";

bool tls_min_parse(const char *text, int *rank)
{
	int v;

	if (text == NULL || strcmp(text, "none") == 0)
		return false;
	v = cfg_tls_version_parse(text);
	if (v < PM_TLS_1_0 || v > PM_TLS_1_3)
		return false;
	*rank = v;
	return true;
}

static bool tls_show(PGconn *conn, const char *sql, int nparams,
		     const char *const *params, enum out_format format)
{
	PGresult *r = db_query(conn, sql, nparams, params);
	bool ok;

	if (r == NULL)
		return false;
	ok = out_result(stdout, r, format);
	PQclear(r);
	return ok;
}

bool tls_usage(PGconn *conn, const struct tls_request *q)
{
	char rank[8];
	const char *params[4] = {q->since, q->until, q->port, NULL};

	if (q->rank == 0)
		return tls_show(conn, sql_tls_rollup[q->format == OUT_JSON], 3,
				params, q->format);
	snprintf(rank, sizeof(rank), "%d", q->rank);
	params[3] = rank;
	return tls_show(conn, sql_tls[q->format == OUT_JSON], 4, params,
			q->format);
}

bool tls_preview(PGconn *conn, const struct tls_request *q)
{
	char rank[8];
	const char *params[4] = {q->since, q->until, q->port, rank};

	snprintf(rank, sizeof(rank), "%d", q->rank);
	return tls_show(conn, sql_preview_rollup, 4, params, q->format);
}
