#!/bin/sh
# shellcheck disable=SC2154 # seed, cols: set by tests/lib/rollgen.sh (sourced)
# rollups-keys.sh - the per-key report functions of sql/015_rollups_keys.sql,
# sql/020_rollups_tls.sql (tls_usage() restated by 021_tls_faster.sql and
# 023_tls_year.sql) and sql/024_rollups_preview.sql (tls_preview()) against
# the queries they replace (TAP).
#
# Each function must return exactly what its oracle returns on the
# events: the same rows, the same values, and for the top lists and
# `tls` the same order. The oracles are copies of the report's own
# queries before 015 (report/portmilter-report.c sql_top_user,
# sql_top_ip; report/dashboard.c sql_users, sql_networks, sql_exposures,
# sql_rules, the GROUP BY of sql_tls; port_traffic_raw(a, b, 'day')) and
# 020 (report/tls.c SQL_TLS with every version, for every port and for
# 587) and 024 (report/tls.c SQL_PREVIEW, verbatim: port 587 for each
# minimum, 25 and 4650 for some), kept here as the definition of right: if the C
# changes, these stay the reference.
#
# A throwaway cluster (tests/lib/pg.sh); random events over two calendar
# years and four months (tests/lib/rollgen.sh: connections crossing
# midnight with their user and address on both sides, several
# transactions per connection, NULL users and addresses, IPv4 and IPv6 in
# 21 networks), plus keys with no transaction (auth_failure, refused and
# connection rows only), empty TLS versions, other spellings of them
# ('tlsv1.2', 'TLSv1', and 'SSLv3', 'TLSv1.9.9' of no rank), a fixture on port 4650 of 12
# users and addresses whose transactions and connections tie (split over
# two months, across a midnight) so that the tie-breaks and the LIMIT's
# cut are exercised, four spellings of one name tied, and three days of
# it again the day before yesterday, yesterday and today (today is
# always read from the events).
# Written by every path (INSERTs in random order, COPY, late rows with ON
# CONFLICT DO NOTHING, two writers), then late rows, UPDATEs (verdicts,
# users, times, kinds, addresses), DELETEs, forget_user(), an address
# reduction of a partition, TRUNCATEs of partitions. Between the steps
# the catch-up runs for a random number of days or not at all. After
# each step, every function = its oracle on every window (random ragged
# ones, aligned on days, on months, tiny, over a year, open-ended,
# empty; tiers of 023: thirds of months, alone, with days around them,
# across a month's end). With each comparison, the year totals of 018
# against the month rows (rg_years), and 023's tls year and tier rows
# against the month and day rows (tls_years). Then the plans over a
# year: with sequential scans off, no events partition read by a Seq
# Scan, a rollup read, for `top` the year totals, for `tls` the tls
# year totals and tiers.
#
# Environment: top_srcdir, top_builddir, PORTMILTER_REPORT, PG_BINDIR;
# PM_SEED (0..1) replays a run (each run prints its seed).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
# shellcheck disable=SC2034 # read by rg_begin (tests/lib/rollgen.sh)
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
# shellcheck disable=SC2034 # read by rg_begin (tests/lib/rollgen.sh)
sqldir=$srcdir/sql
. "$srcdir/tests/lib/pg.sh"
. "$srcdir/tests/lib/rollgen.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
# SQL alone: tools/check-all runs it in one build (PM_SQL_ONCE in the other).
if [ -n "${PM_SQL_ONCE:-}" ]; then
	tap_skip_all "SQL alone, run in the other build (PM_SQL_ONCE)"
fi
pg_test_begin rollups-keys	# skip, psql, $tmp and its cleanup, ok/not_ok

rg_begin	# the cluster, the seed, the migrations (tests/lib/rollgen.sh)

# 1500 connections over 100 days from 2024-11-10 (to 2025-02-18), users
# u0..u40, 105 IPv4 addresses in 15 /24s and 30 IPv6 in 6 /64s.
rg_gen '2024-11-10 00:00+00' 100 1500 40 \
	"CASE WHEN random() < 0.8
		THEN ('10.1.' || (random() * 14)::int || '.' || (random() * 6)::int)::inet
		ELSE ('2001:db8:' || (random() * 2)::int || ':' || (random() * 1)::int
		      || '::' || (random() * 4)::int)::inet END" \
	2024-11-01 2024-12-01 2025-01-01 2025-02-01

sql >/dev/null <<SQL || { echo "Bail out! cannot generate the fixtures"; exit 1; }
SELECT setseed($seed / 5);
-- Empty TLS versions (the dashboard's "none" with NULL).
UPDATE gen SET tls_version = '' WHERE tls_version IS NULL AND random() < 0.3;
-- Other spellings (tls orders them by rank, then by the text: 'tlsv1.2'
-- ties with 'TLSv1.2'), and versions of no rank (-1).
UPDATE gen SET tls_version = (ARRAY['tlsv1.2', 'SSLv3', 'TLSv1', 'TLSv1.9.9'])
	[1 + (random() * 3)::int]
WHERE tls_version = 'TLSv1.2' AND random() < 0.15;
-- Keys with no transaction: auth failures, refusals, bare connections.
INSERT INTO gen
SELECT gen_random_uuid(), g.t, gen_random_uuid(), g.t - interval '1 minute', z.kind,
       'n0', 587, true, z.addr::inet, NULL, 'PLAIN', z.usr, 0, z.verdict, z.rule, false,
       1 + (random() * 3)::int, (random() * 40)::int
FROM (VALUES ('auth_failure', 'zero-auth', '10.1.99.1', 'rejected', NULL),
	     ('refused', 'zero-refused', '2001:db8:9::1', 'rejected', 'postfix_helo'),
	     ('refused', NULL, '10.1.99.2', 'tempfailed', 'postfix_rcpt'),
	     ('connection', 'zero-conn', '10.1.98.1', 'none', NULL))
     AS z(kind, usr, addr, verdict, rule)
CROSS JOIN LATERAL (
	SELECT '2024-11-10 00:00+00'::timestamptz + random() * interval '100 days'
	       + (z.usr IS NULL)::int * interval '1 second' AS t
	FROM generate_series(1, 8)) AS g;
-- Port 4650, ties: 12 users (and addresses, one each) with transactions
-- and connections (4, 2) (4, 2) (4, 3), six (2, 1), three (0, 1); their
-- connections alternately on 2024-12-12 at 23:4x (crossing midnight)
-- and on 2025-01-20. Ranked: tie03 tie01 | tie02 ... tie10 | tie11 tie12:
-- LIMIT 2 cuts where connections then the name decide, LIMIT 10 where
-- the name does.
INSERT INTO gen
SELECT gen_random_uuid(), c.t0 + j * interval '9 minutes', c.conn_id, c.t0,
       CASE WHEN u.txns = 0 THEN 'connection' ELSE 'transaction' END, 'n1', 4650, true,
       ('198.18.0.' || u.i)::inet, 'TLSv1.3', 'PLAIN', 'tie' || lpad(u.i::text, 2, '0'),
       1, CASE WHEN u.txns = 0 THEN 'none' ELSE 'accepted' END, NULL, false,
       1 + (random() * 3)::int, (random() * 40)::int
FROM (VALUES (1, 2, 4), (2, 2, 4), (3, 3, 4), (4, 1, 2), (5, 1, 2), (6, 1, 2),
	     (7, 1, 2), (8, 1, 2), (9, 1, 2), (10, 1, 0), (11, 1, 0), (12, 1, 0))
     AS u(i, conns, txns)
CROSS JOIN LATERAL (
	SELECT k, gen_random_uuid() AS conn_id,
	       CASE WHEN k % 2 = 1 THEN timestamptz '2024-12-12 23:40+00'
		    ELSE timestamptz '2025-01-20 08:00+00' END
	       + u.i * interval '1 minute' AS t0,
	       GREATEST(u.txns / u.conns + (k <= u.txns % u.conns)::int, 1) AS nev
	FROM generate_series(1, u.conns) AS k) AS c
CROSS JOIN LATERAL generate_series(1, c.nev) AS j;
-- Four spellings of one name, tied (2 transactions, 1 connection each
-- on 587): kept apart, ordered bytewise.
INSERT INTO gen
SELECT gen_random_uuid(), c.t0 + j * interval '5 minutes', c.conn_id, c.t0, 'transaction',
       'n0', 587, true, '10.1.97.1', 'TLSv1.3', 'PLAIN', c.usr, 1, 'accepted', NULL, false,
       1 + (random() * 3)::int, (random() * 40)::int
FROM (SELECT u.usr, gen_random_uuid() AS conn_id,
	     timestamptz '2025-01-08 10:00+00' + u.i * interval '1 minute' AS t0
      FROM unnest(ARRAY['zofie', 'Zofie', U&'\017Eofie', 'zofie ']) WITH ORDINALITY
	   AS u(usr, i)) AS c
CROSS JOIN generate_series(1, 2) AS j;
-- The day before yesterday, yesterday and today (UTC): the connections
-- of 2024-12-09 to 11 again, moved (new ids): days the catch-up may
-- take, and today, never (and a tier in progress, 023, with a day of
-- rows before a window that starts yesterday, on most days).
INSERT INTO gen
SELECT gen_random_uuid(), g.event_time + s.d, md5(g.conn_id::text)::uuid,
       g.conn_time + s.d, g.kind, g.node, g.port, g.port_known, g.client_addr,
       g.tls_version, g.sasl_method, g.sasl_user, g.nrcpt, g.verdict, g.rule,
       g.credential_exposure, g.phase, g.batch
FROM gen AS g,
     (SELECT (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '2 days')
	     - timestamp '2024-12-09 00:00' AS d) AS s
WHERE g.conn_time >= '2024-12-09 00:00+00' AND g.conn_time < '2024-12-12 00:00+00';
SQL
rg_write

# The oracles: the report's queries, parameters as in the C ($1.. in
# order), in functions of the schema oracle.
sql >/dev/null <<'SQL' || { echo "Bail out! cannot create the oracles"; exit 1; }
CREATE SCHEMA oracle;
-- report/portmilter-report.c sql_top_user ($1 port, $2 since, $3 until, $4 limit)
CREATE FUNCTION oracle.top_users(integer, timestamptz, timestamptz, integer)
RETURNS TABLE ("user" text, connections bigint, transactions bigint, accepted bigint,
	       rejected bigint, tempfailed bigint, aborted bigint, recipients bigint,
	       exposures bigint, ips bigint, first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE AS $fn$
SELECT e.sasl_user AS "user", count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')) AS connections, count(*) FILTER (WHERE e.kind = 'transaction') AS transactions, count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted, count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS rejected, count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS tempfailed, count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN ('transaction', 'connection')) AS aborted, COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0) AS recipients, count(*) FILTER (WHERE e.credential_exposure) AS exposures, count(DISTINCT e.client_addr) AS ips, min(e.event_time) AS first_seen, max(e.event_time) AS last_seen FROM portmilter.events AS e WHERE e.port = $1::integer AND e.sasl_user IS NOT NULL AND e.event_time >= $2::timestamptz AND e.event_time < $3::timestamptz GROUP BY e.sasl_user ORDER BY transactions DESC, connections DESC, e.sasl_user COLLATE pg_catalog."C" LIMIT $4::integer
$fn$;
-- report/portmilter-report.c sql_top_ip
CREATE FUNCTION oracle.top_ips(integer, timestamptz, timestamptz, integer)
RETURNS TABLE (client_addr inet, connections bigint, transactions bigint, accepted bigint,
	       rejected bigint, tempfailed bigint, aborted bigint, recipients bigint,
	       exposures bigint, users bigint, first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE AS $fn$
SELECT e.client_addr, count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')) AS connections, count(*) FILTER (WHERE e.kind = 'transaction') AS transactions, count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted, count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS rejected, count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS tempfailed, count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN ('transaction', 'connection')) AS aborted, COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0) AS recipients, count(*) FILTER (WHERE e.credential_exposure) AS exposures, count(DISTINCT e.sasl_user) AS users, min(e.event_time) AS first_seen, max(e.event_time) AS last_seen FROM portmilter.events AS e WHERE e.port = $1::integer AND e.client_addr IS NOT NULL AND e.event_time >= $2::timestamptz AND e.event_time < $3::timestamptz GROUP BY e.client_addr ORDER BY transactions DESC, connections DESC, e.client_addr LIMIT $4::integer
$fn$;
-- report/dashboard.c: each query as it is ($1 since, $2 until), the two
-- NULL columns of the chart left out around it.
CREATE FUNCTION oracle.dashboard_users(timestamptz, timestamptz)
RETURNS TABLE (sasl_user text, n bigint) LANGUAGE sql STABLE AS $fn$
SELECT q.k, q.n FROM (
SELECT e.sasl_user, NULL, NULL, count(*) FILTER (WHERE e.kind = 'transaction') AS n FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.sasl_user IS NOT NULL GROUP BY e.sasl_user ORDER BY n DESC, e.sasl_user COLLATE pg_catalog."C" LIMIT 10
) AS q (k, x, y, n)
$fn$;
CREATE FUNCTION oracle.dashboard_networks(timestamptz, timestamptz)
RETURNS TABLE (network text, n bigint) LANGUAGE sql STABLE AS $fn$
SELECT q.k, q.n FROM (
SELECT pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END)))::text, NULL, NULL, count(DISTINCT e.conn_id) AS n FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.client_addr IS NOT NULL GROUP BY pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END)))::text ORDER BY n DESC, 1 LIMIT 10
) AS q (k, x, y, n)
$fn$;
CREATE FUNCTION oracle.dashboard_exposures(timestamptz, timestamptz)
RETURNS TABLE (sasl_user text, n bigint) LANGUAGE sql STABLE AS $fn$
SELECT q.k, q.n FROM (
SELECT COALESCE(e.sasl_user, '(no user)'), NULL, NULL, count(*) AS n FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.credential_exposure GROUP BY 1 ORDER BY n DESC, COALESCE(e.sasl_user, '(no user)') COLLATE pg_catalog."C" LIMIT 10
) AS q (k, x, y, n)
$fn$;
-- rules: as `ports` counts rejects_by_rule (the panel counted every
-- rejected row before 015: failed logins and Postfix RCPT refusals too)
CREATE FUNCTION oracle.dashboard_rules(timestamptz, timestamptz)
RETURNS TABLE (rule text, n bigint) LANGUAGE sql STABLE AS $fn$
SELECT q.k, q.n FROM (
SELECT COALESCE(e.rule, '(none)'), NULL, NULL, count(*) FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message'))) GROUP BY 1 ORDER BY 4 DESC, COALESCE(e.rule, '(none)') COLLATE pg_catalog."C"
) AS q (k, x, y, n)
$fn$;
-- The GROUP BY of sql_tls: per port and TLS version (NULL: none),
-- compared as sets.
CREATE FUNCTION oracle.dashboard_tls(timestamptz, timestamptz)
RETURNS TABLE (port integer, tls_version text, n bigint) LANGUAGE sql STABLE AS $fn$
SELECT e.port, NULLIF(e.tls_version, ''), count(*) FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.kind = 'transaction' GROUP BY e.port, NULLIF(e.tls_version, '')
$fn$;
-- report/tls.c SQL_TLS (port column e.port) with every version ($4
-- NULL): $1 since, $2 until, $3 port or NULL.
CREATE FUNCTION oracle.tls_usage(timestamptz, timestamptz, integer)
RETURNS TABLE (port integer, tls_version text, "user" text, network cidr,
	       connections bigint, transactions bigint, accepted bigint,
	       rejected bigint, first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE AS $fn$
SELECT e.port AS port, COALESCE(NULLIF(e.tls_version, ''), 'none') AS tls_version, e.sasl_user AS "user", pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END))) AS network, count(DISTINCT e.conn_id) AS connections, count(*) FILTER (WHERE e.kind = 'transaction') AS transactions, count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted, count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected, min(e.event_time) AS first_seen, max(e.event_time) AS last_seen FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND ($3::integer IS NULL OR e.port = $3::integer) AND (NULLIF(e.tls_version, '') IS NOT NULL OR (e.sasl_method IS NOT NULL AND e.kind <> 'auth_failure')) AND (NULL::integer IS NULL OR (((NULLIF(e.tls_version, '') IS NOT NULL AND e.tls_version <> 'TLSv1.3') OR (NULLIF(e.tls_version, '') IS NULL AND e.sasl_method IS NOT NULL AND e.kind <> 'auth_failure')) AND CASE WHEN NULLIF(NULLIF(e.tls_version, ''), '') IS NULL THEN 0 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)1$' THEN 10 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)[1-9]\.[0-9]$' THEN pg_catalog.substr(NULLIF(e.tls_version, ''), 5, 1)::integer * 10 + pg_catalog.substr(NULLIF(e.tls_version, ''), 7, 1)::integer ELSE -1 END < NULL::integer)) GROUP BY e.port, NULLIF(e.tls_version, ''), e.sasl_user, pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END))) ORDER BY e.port, CASE WHEN NULLIF(NULLIF(e.tls_version, ''), '') IS NULL THEN 0 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)1$' THEN 10 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)[1-9]\.[0-9]$' THEN pg_catalog.substr(NULLIF(e.tls_version, ''), 5, 1)::integer * 10 + pg_catalog.substr(NULLIF(e.tls_version, ''), 7, 1)::integer ELSE -1 END, 2, e.sasl_user COLLATE pg_catalog."C" NULLS LAST, 4 NULLS LAST
$fn$;
-- report/tls.c SQL_PREVIEW: $1 since, $2 until, $3 port, $4 the
-- minimum's rank.
CREATE FUNCTION oracle.tls_preview(timestamptz, timestamptz, integer, integer)
RETURNS TABLE ("user" text, network cidr, tls_versions text[],
	       refused_transactions bigint, accepted_now bigint, rejected_now bigint,
	       connections bigint, first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE AS $fn$
SELECT e.sasl_user AS "user", pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END))) AS network, pg_catalog.array_agg(DISTINCT e.tls_version COLLATE pg_catalog."C" ORDER BY e.tls_version COLLATE pg_catalog."C") AS tls_versions, count(*) AS refused_transactions, count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted_now, count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected_now, count(DISTINCT e.conn_id) AS connections, min(e.event_time) AS first_seen, max(e.event_time) AS last_seen FROM portmilter.events AS e WHERE e.event_time >= $1::timestamptz AND e.event_time < $2::timestamptz AND e.port = $3::integer AND e.kind = 'transaction' AND NULLIF(e.tls_version, '') IS NOT NULL AND ((NULLIF(e.tls_version, '') IS NOT NULL AND e.tls_version <> 'TLSv1.3') OR (NULLIF(e.tls_version, '') IS NULL AND e.sasl_method IS NOT NULL AND e.kind <> 'auth_failure')) AND CASE WHEN NULLIF(NULLIF(e.tls_version, ''), '') IS NULL THEN 0 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)1$' THEN 10 WHEN NULLIF(e.tls_version, '') ~ '^(TLSv|tlsv)[1-9]\.[0-9]$' THEN pg_catalog.substr(NULLIF(e.tls_version, ''), 5, 1)::integer * 10 + pg_catalog.substr(NULLIF(e.tls_version, ''), 7, 1)::integer ELSE -1 END < $4::integer GROUP BY e.sasl_user, pg_catalog.network(pg_catalog.set_masklen(e.client_addr, LEAST(pg_catalog.masklen(e.client_addr), CASE pg_catalog.family(e.client_addr) WHEN 4 THEN 24 ELSE 64 END))) ORDER BY refused_transactions DESC, e.sasl_user COLLATE pg_catalog."C" NULLS LAST, 2 NULLS LAST
$fn$;
-- report/portmilter-report.c SQL_IP (port column e.port): $1 network,
-- $2 since, $3 until.
CREATE FUNCTION oracle.ip_usage(cidr, timestamptz, timestamptz)
RETURNS TABLE (client_addr inet, port integer, connections bigint, transactions bigint,
	       accepted bigint, rejected bigint, tempfailed bigint, aborted bigint,
	       recipients bigint, exposures bigint, rules text[], users text[],
	       helos text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE AS $fn$
SELECT e.client_addr, e.port AS port, count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN ('transaction', 'connection')) AS connections, count(*) FILTER (WHERE e.kind = 'transaction') AS transactions, count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted, count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS rejected, count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused' AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat', 'postfix_end-of-message')))) AS tempfailed, count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN ('transaction', 'connection')) AS aborted, COALESCE(sum(e.nrcpt) FILTER (WHERE e.verdict = 'accepted'), 0) AS recipients, count(*) FILTER (WHERE e.credential_exposure) AS exposures, COALESCE(array_agg(DISTINCT e.rule COLLATE pg_catalog."C" ORDER BY e.rule COLLATE pg_catalog."C") FILTER (WHERE e.rule IS NOT NULL), '{}') AS rules, COALESCE(array_agg(DISTINCT e.sasl_user COLLATE pg_catalog."C" ORDER BY e.sasl_user COLLATE pg_catalog."C") FILTER (WHERE e.sasl_user IS NOT NULL), '{}') AS users, COALESCE(array_agg(DISTINCT e.helo COLLATE pg_catalog."C" ORDER BY e.helo COLLATE pg_catalog."C") FILTER (WHERE e.helo IS NOT NULL), '{}') AS helos, min(e.event_time) AS first_seen, max(e.event_time) AS last_seen FROM portmilter.events AS e WHERE (e.client_addr <<= $1::cidr OR e.client_addr = pg_catalog.network(pg_catalog.set_masklen($1::cidr::inet, CASE pg_catalog.family($1::cidr) WHEN 4 THEN 24 ELSE 48 END))::inet) AND e.event_time >= $2::timestamptz AND e.event_time < $3::timestamptz GROUP BY e.client_addr, e.port ORDER BY e.client_addr, e.port
$fn$;
CREATE FUNCTION oracle.port_transactions_daily(timestamptz, timestamptz)
RETURNS TABLE (day date, port integer, transactions bigint) LANGUAGE sql STABLE AS $fn$
SELECT (bucket AT TIME ZONE 'UTC')::date, port, transactions FROM portmilter.port_traffic_raw($1, $2, 'day')
$fn$;
-- The dashboard's traffic chart by the hour (028): what the whole `ports`
-- aggregate per bucket gives for transactions, the same rows.
CREATE FUNCTION oracle.port_transactions_between(timestamptz, timestamptz, text)
RETURNS TABLE (bucket timestamptz, port integer, transactions bigint) LANGUAGE sql STABLE AS $fn$
SELECT bucket, port, transactions FROM portmilter.port_traffic_raw($1, $2, $3) ORDER BY 1, 2
$fn$;

-- The calls compared on each window: the function and its oracle (%1$L
-- since, %2$L until), and whether the order counts.
CREATE TABLE calls (name text PRIMARY KEY, fn text, ordered boolean);
INSERT INTO calls
SELECT f || '(' || p || ', ' || l || ')', f || '(' || p || ', %1$L, %2$L, ' || l || ')', true
FROM (VALUES ('top_users'), ('top_ips')) AS x(f),
     (VALUES (587, 10), (0, 10), (4650, 10), (4650, 2)) AS y(p, l);
INSERT INTO calls VALUES
	('dashboard_users', 'dashboard_users(%1$L, %2$L)', true),
	('dashboard_networks', 'dashboard_networks(%1$L, %2$L)', true),
	('dashboard_exposures', 'dashboard_exposures(%1$L, %2$L)', true),
	('dashboard_rules', 'dashboard_rules(%1$L, %2$L)', true),
	('dashboard_tls', 'dashboard_tls(%1$L, %2$L)', false),
	('port_transactions_daily', 'port_transactions_daily(%1$L, %2$L)', false),
	('port_transactions_between(hour)', 'port_transactions_between(%1$L, %2$L, ''hour'')', true),
	('tls_usage', 'tls_usage(%1$L, %2$L, NULL)', true),
	('tls_usage(587)', 'tls_usage(%1$L, %2$L, 587)', true);
-- tls-preview: port 587 for each minimum (TLSv1 10, TLSv1.1 11, TLSv1.2
-- 12, TLSv1.3 13), port 25 for the two that count TLSv1.1 (random, as
-- 587), port 4650 (the ties, TLSv1.3 only: nobody) for the highest.
INSERT INTO calls
SELECT 'tls_preview(' || p || ', ' || r || ')',
       'tls_preview(%1$L, %2$L, ' || p || ', ' || r || ')', true
FROM (VALUES (587, 10), (587, 11), (587, 12), (587, 13), (25, 12), (25, 13),
	     (4650, 13)) AS x(p, r);
INSERT INTO calls VALUES
	-- a /24 whose November rows are reduced by the privacy step below, an
	-- address in it (its reduced rows too), an IPv6 /48 (reduced rows
	-- the same network)
	('ip_usage(/24)', 'ip_usage(''10.1.3.0/24'', %1$L, %2$L)', true),
	('ip_usage(/32)', 'ip_usage(''10.1.3.2'', %1$L, %2$L)', true),
	('ip_usage(IPv6 /48)', 'ip_usage(''2001:db8:1::/48'', %1$L, %2$L)', true);

-- rows(call, a, b): the rows of portmilter.CALL (side 'function') and
-- oracle.CALL (side 'oracle') over [a, b), numbered in their order.
CREATE FUNCTION rows(p_call text, a timestamptz, b timestamptz)
RETURNS TABLE (side text, i bigint, r text) LANGUAGE plpgsql AS $fn$
DECLARE
	c text := format((SELECT fn FROM calls WHERE name = p_call), a, b);
BEGIN
	RETURN QUERY EXECUTE format(
		'SELECT ''function'', x.ordinality, x::text FROM portmilter.%s WITH ORDINALITY AS x '
		'UNION ALL SELECT ''oracle'', y.ordinality, y::text FROM oracle.%s WITH ORDINALITY AS y '
		'ORDER BY 1, 2', c, c);
END
$fn$;
-- differ(a, b): the calls whose function and oracle differ on [a, b)
-- (rows missing from one side, both ways; numbered when the order
-- counts).
CREATE FUNCTION differ(a timestamptz, b timestamptz) RETURNS SETOF text
LANGUAGE plpgsql AS $fn$
DECLARE
	c record;
	o text;
	d bigint;
BEGIN
	FOR c IN SELECT * FROM calls ORDER BY name LOOP
		o := CASE WHEN c.ordered THEN ' WITH ORDINALITY' ELSE '' END;
		EXECUTE format('WITH f AS MATERIALIZED (SELECT * FROM portmilter.%s%s), '
			'w AS MATERIALIZED (SELECT * FROM oracle.%s%s) '
			'SELECT count(*) FROM ((TABLE f EXCEPT ALL TABLE w) '
			'UNION ALL (TABLE w EXCEPT ALL TABLE f)) AS x',
			format(c.fn, a, b), o, format(c.fn, a, b), o) INTO d;
		IF d <> 0 THEN
			RETURN NEXT c.name;
		END IF;
	END LOOP;
END
$fn$;
SQL
rg_windows '2024-11-05 00:00+00' 110 8 '1 minute' '50 minutes' '3 hours' '1 day' \
	'2 days 5 hours' '9 days' '40 days' '75 days'
sql >/dev/null <<SQL
INSERT INTO windows VALUES
	('aligned days', '2024-12-03 00:00+00', '2024-12-20 00:00+00'),
	('aligned days across the new year', '2024-12-28 00:00+00', '2025-01-04 00:00+00'),
	('the ties days', '2024-12-12 00:00+00', '2024-12-14 00:00+00'),
	('the spellings'' day', '2025-01-08 00:00+00', '2025-01-09 00:00+00'),
	('one month', '2024-12-01 00:00+00', '2025-01-01 00:00+00'),
	('two months across the new year', '2024-12-01 00:00+00', '2025-02-01 00:00+00'),
	('every month', '2024-11-01 00:00+00', '2025-03-01 00:00+00'),
	('months with ragged edges', '2024-11-30 13:17+00', '2025-02-01 00:00:01+00'),
	('a month but its last day', '2025-01-01 00:00+00', '2025-01-31 00:00+00'),
	('one minute', '2025-01-20 08:10+00', '2025-01-20 08:11+00'),
	('one microsecond', '2024-12-12 23:50+00', '2024-12-12 23:50:00.000001+00'),
	('across the new year''s midnight', '2024-12-31 23:30+00', '2025-01-01 00:30+00'),
	('a year (the plans'')', '2024-02-18 10:17+00', '2025-02-17 13:45+00'),
	('a tier and days around it', '2024-12-09 00:00+00', '2024-12-22 00:00+00'),
	('the last tier of a 30-day month', '2024-11-21 00:00+00', '2024-12-01 00:00+00'),
	('tiers across a month''s end', '2024-12-11 00:00+00', '2025-01-11 00:00+00'),
	('two months and a tier, ragged', '2024-11-30 22:00+00', '2025-02-11 00:00:01+00'),
	('a leap year of days', '2024-03-01 00:00+00', '2025-03-01 00:00+00'),
	('all of it', '2020-01-01 00:00+00', '2026-01-01 00:00+00'),
	('open', '-infinity', 'infinity'),
	('open before', '-infinity', '2025-01-10 12:00+00'),
	('open after', '2024-12-15 06:00+00', 'infinity'),
	('yesterday and today',
	 (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '1 day',
	 (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') + interval '1 day'),
	('yesterday 13:00 to tomorrow 06:00',
	 (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') - interval '11 hours',
	 (date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') + interval '30 hours'),
	('empty: no events', '2023-06-01 00:00+00', '2023-07-01 00:00+00'),
	('empty: since = until', '2024-12-10 12:00+00', '2024-12-10 12:00+00'),
	('empty: since after until', '2025-01-10 00:00+00', '2024-12-10 00:00+00');
SQL
nwin=$(sql -c 'SELECT count(*) FROM windows')
ncalls=$(sql -c 'SELECT count(*) FROM calls')

# What the data must have for the comparisons to mean something.
sql -F ' ' >"$tmp/shape" 2>&1 <<'SQL'
WITH e AS (SELECT * FROM portmilter.events),
conn_days AS (
	SELECT conn_id, sasl_user, client_addr,
	       count(DISTINCT (event_time AT TIME ZONE 'UTC')::date) AS days,
	       bool_or((event_time AT TIME ZONE 'UTC')::date
		       <> (conn_time AT TIME ZONE 'UTC')::date) AS away
	FROM e GROUP BY conn_id, sasl_user, client_addr)
SELECT 'away_from_conn_day', count(*) FILTER (WHERE away) >= 50 FROM conn_days
UNION ALL SELECT 'same_user_addr_both_sides',
	count(*) FILTER (WHERE days > 1 AND sasl_user IS NOT NULL AND client_addr IS NOT NULL) >= 20
	FROM conn_days
UNION ALL SELECT 'several_transactions_a_connection',
	(SELECT count(*) FROM (SELECT conn_id FROM e WHERE kind = 'transaction'
			       GROUP BY 1 HAVING count(*) > 1) AS x) >= 50
UNION ALL SELECT 'users_without_transaction',
	(SELECT count(*) FROM (SELECT sasl_user FROM e WHERE sasl_user IS NOT NULL GROUP BY 1
			       HAVING count(*) FILTER (WHERE kind = 'transaction') = 0) AS x) >= 3
UNION ALL SELECT 'addresses_without_transaction',
	(SELECT count(*) FROM (SELECT client_addr FROM e WHERE client_addr IS NOT NULL GROUP BY 1
			       HAVING count(*) FILTER (WHERE kind = 'transaction') = 0) AS x) >= 3
UNION ALL SELECT 'null_users', (SELECT count(*) FROM e WHERE sasl_user IS NULL) > 0
UNION ALL SELECT 'null_addresses', (SELECT count(*) FROM e WHERE client_addr IS NULL) > 0
UNION ALL SELECT 'empty_tls_versions', (SELECT count(*) FROM e WHERE tls_version = '') > 0
-- tls-preview: connections whose transactions in old TLS carry versions
-- of different ranks (counted once under the lowest), rows of other
-- kinds in old TLS (not counted), old-TLS transactions away from their
-- connection's day.
UNION ALL SELECT 'preview_connections_with_versions_of_different_ranks',
	(SELECT count(*) FROM (SELECT conn_id FROM e
			       WHERE kind = 'transaction' AND NULLIF(tls_version, '') IS NOT NULL
				 AND tls_version <> 'TLSv1.3'
			       GROUP BY conn_id, port, sasl_user, client_addr
			       HAVING count(DISTINCT portmilter.rollup_tls_rank(tls_version)) > 1)
	 AS x) >= 20
UNION ALL SELECT 'preview_other_kinds_in_old_tls',
	(SELECT count(*) FROM e WHERE kind <> 'transaction'
	 AND NULLIF(tls_version, '') IS NOT NULL AND tls_version <> 'TLSv1.3') >= 50
UNION ALL SELECT 'preview_old_tls_transactions_away',
	(SELECT count(*) FROM e WHERE kind = 'transaction'
	 AND NULLIF(tls_version, '') IS NOT NULL AND tls_version <> 'TLSv1.3'
	 AND (event_time AT TIME ZONE 'UTC')::date <> (conn_time AT TIME ZONE 'UTC')::date) >= 20
UNION ALL SELECT 'tls_versions_tied_on_rank_and_of_no_rank',
	(SELECT count(DISTINCT tls_version) FILTER (WHERE tls_version IN ('TLSv1.2', 'tlsv1.2'))
		= 2 AND count(DISTINCT tls_version)
		FILTER (WHERE tls_version IN ('SSLv3', 'TLSv1.9.9')) = 2 FROM e)
UNION ALL SELECT 'two_years', (SELECT count(DISTINCT date_part('year', event_time)) FROM e
			       WHERE event_time >= '2024-01-01' AND event_time < '2026-01-01') = 2
UNION ALL SELECT 'yesterday_and_today',	-- (a run across midnight: 3 days)
	(SELECT count(DISTINCT (event_time AT TIME ZONE 'UTC')::date) FROM e
	 WHERE event_time >= date_trunc('day', now()) - interval '2 days'
	   AND event_time < date_trunc('day', now()) + interval '1 day') >= 2
UNION ALL SELECT 'more_than_10_users_and_ips_on_587',
	(SELECT count(DISTINCT sasl_user) > 10 AND count(DISTINCT client_addr) > 10
	 FROM e WHERE port = 587)
UNION ALL SELECT 'more_than_10_networks',
	(SELECT count(*) FROM oracle.dashboard_networks('-infinity', 'infinity')) = 10
	AND (SELECT count(DISTINCT network(set_masklen(client_addr,
		CASE family(client_addr) WHEN 4 THEN 24 ELSE 64 END))) FROM e) > 10
-- Ties in the random lists compared (limit 10 on 587 and 0), and the
-- limit cutting inside one (the 10th and 11th equal on transactions).
UNION ALL SELECT t.what || '_ties_and_a_cut_inside_one',
	count(*) FILTER (WHERE t.i <= 10 AND t.tx = t.pt AND t.c <> t.pc) > 0
	AND count(*) FILTER (WHERE t.i <= 10 AND t.tx = t.pt AND t.c = t.pc) > 0
	AND count(*) FILTER (WHERE t.i = 11 AND t.tx = t.pt) > 0
FROM (SELECT k.what, k.i, k.tx, k.c, lag(k.tx) OVER w AS pt, lag(k.c) OVER w AS pc
      FROM (SELECT 'top_users' AS what, x.name, p.port, o.ordinality AS i,
		   o.transactions AS tx, o.connections AS c
	    FROM windows AS x, (VALUES (587), (0)) AS p(port),
		 oracle.top_users(p.port, x.a, x.b, 11) WITH ORDINALITY AS o
	    UNION ALL
	    SELECT 'top_ips', x.name, p.port, o.ordinality, o.transactions, o.connections
	    FROM windows AS x, (VALUES (587), (0)) AS p(port),
		 oracle.top_ips(p.port, x.a, x.b, 11) WITH ORDINALITY AS o) AS k
      WINDOW w AS (PARTITION BY k.what, k.name, k.port ORDER BY k.i)) AS t
GROUP BY t.what
UNION ALL SELECT 'four_spellings_in_a_compared_list',
	(SELECT count(*) FROM oracle.top_users(587, '2025-01-08 00:00+00',
		'2025-01-09 00:00+00', 10) AS o WHERE o."user" LIKE '%ofie%') = 4
UNION ALL SELECT 'fixture_4650_cut_inside_a_tie',
	(SELECT string_agg(o."user", ' ' ORDER BY o.ordinality)
	 FROM oracle.top_users(4650, '-infinity', 'infinity', 10) WITH ORDINALITY AS o)
	= 'tie03 tie01 tie02 tie04 tie05 tie06 tie07 tie08 tie09 tie10'
SQL
if grep -q ' f$' "$tmp/shape" || ! grep -q 'fixture_4650_cut_inside_a_tie t' "$tmp/shape"; then
	not_ok "the data has what the comparisons need" "$tmp/shape"
else
	ok "the data has midnights, several transactions a connection, keys without transactions, NULLs, TLS versions tied on rank and of no rank, connections in old TLS of several ranks, two years, ties, more than 10 keys"
fi

# tls_years NAME: the running totals of sql/023_tls_year.sql against the
# rows they sum: for every year and group with an event in a folded month
# (before rollup_year_folded's 'tls') of rollup_tls_month, the counts of
# the folded months before month i (i = 1..13), the first event time of
# month i or later, the last of month i or earlier (i = 1..12); and every
# tier row the sums of its days' rows; no other row.
tls_years() {
	sql_is "$1" "0|0" <<'SQL'
WITH m AS (
	SELECT * FROM portmilter.rollup_tls_month
	WHERE month < (SELECT month FROM portmilter.rollup_year_folded WHERE what = 'tls')
), k AS (
	SELECT DISTINCT date_trunc('year', month)::date AS year, port, tls_version, uid, network
	FROM m
), want AS (
	SELECT k.year, k.port, k.tls_version, k.uid, k.network, i,
	       ARRAY[COALESCE(sum(m.nevents) FILTER (WHERE m.month < k.year + (i - 1) * interval '1 month'), 0),
		     COALESCE(sum(m.transactions) FILTER (WHERE m.month < k.year + (i - 1) * interval '1 month'), 0),
		     COALESCE(sum(m.accepted) FILTER (WHERE m.month < k.year + (i - 1) * interval '1 month'), 0),
		     COALESCE(sum(m.rejected) FILTER (WHERE m.month < k.year + (i - 1) * interval '1 month'), 0),
		     COALESCE(sum(m.home_conns) FILTER (WHERE m.month < k.year + (i - 1) * interval '1 month'), 0)
		    ]::bigint[] AS v,
	       min(m.first_seen) FILTER (WHERE m.month >= k.year + (i - 1) * interval '1 month') AS f,
	       CASE WHEN i < 13 THEN max(m.last_seen)
		    FILTER (WHERE m.month < k.year + i * interval '1 month') END AS l
	FROM k CROSS JOIN generate_series(1, 13) AS i
	JOIN m ON (m.port, m.tls_version, m.uid, m.network) = (k.port, k.tls_version, k.uid, k.network)
	      AND m.month >= k.year AND m.month < k.year + interval '1 year'
	GROUP BY k.year, k.port, k.tls_version, k.uid, k.network, i
), have AS (
	SELECT y.year, y.port, y.tls_version, y.uid, y.network, i,
	       ARRAY[y.nevents[i], y.transactions[i], y.accepted[i], y.rejected[i],
		     y.home_conns[i]] AS v,
	       CASE WHEN i < 13 THEN y.first_from[i] END AS f,
	       CASE WHEN i < 13 THEN y.last_upto[i] END AS l
	FROM portmilter.rollup_tls_year AS y, generate_series(1, 13) AS i
), twant AS (
	SELECT portmilter.rollup_tls_tier_of(day) AS tier, port, tls_version, uid, network,
	       sum(nevents)::bigint, sum(transactions)::bigint, sum(accepted)::bigint,
	       sum(rejected)::bigint, sum(home_conns)::bigint, min(first_seen), max(last_seen)
	FROM portmilter.rollup_tls_day GROUP BY 1, 2, 3, 4, 5
)
SELECT (SELECT count(*) FROM ((TABLE want EXCEPT ALL TABLE have)
			      UNION ALL (TABLE have EXCEPT ALL TABLE want)) AS x),
       (SELECT count(*) FROM ((TABLE twant EXCEPT ALL TABLE portmilter.rollup_tls_tier)
			      UNION ALL (TABLE portmilter.rollup_tls_tier EXCEPT ALL TABLE twant)) AS y)
SQL
}

# check NAME: on every window, every function = its oracle; else the
# failing windows and calls, and both outputs of the first.
check() {
	sql -F ' | ' >"$tmp/bad" 2>&1 <<'SQL'
CREATE TEMP TABLE bad AS
SELECT w.name, w.a, w.b, d.c FROM windows AS w, differ(w.a, w.b) AS d(c);
SELECT 'window ' || name || ' [' || a || ', ' || b || '): ' || c FROM bad
ORDER BY name, c LIMIT 12;
SELECT 'of ' || count(*) || ' (window, call)' FROM bad HAVING count(*) > 0;
SQL
	rg_years "$1: the year totals (018) = their month rows"
	tls_years "$1: the tls year and tier rows (023) = their month and day rows"
	if [ ! -s "$tmp/bad" ]; then
		ok "$1"
		return
	fi
	sql -F ' | ' >"$tmp/rows" 2>&1 <<'SQL'
CREATE TEMP TABLE bad AS
SELECT w.name, w.a, w.b, d.c FROM windows AS w, differ(w.a, w.b) AS d(c)
ORDER BY 1, 4 LIMIT 1;
SELECT 'first: ' || c || ' on [' || a || ', ' || b || ')' FROM bad;
SELECT r.* FROM bad, rows(bad.c, bad.a, bad.b) AS r;
SQL
	not_ok "$1 (seed $seed)" "$tmp/bad" "$tmp/rows"
}
# check_caught NAME: check NAME after rg_catchup, skipped when it caught
# nothing up (the state checked just before).
check_caught() {
	if [ "$rg_caught" -eq 0 ]; then
		ok "$1 # SKIP no day caught up: the state checked above"
	else
		check "$1"
	fi
}

what="the per-key functions (015, 018, 020, 021, 022, 023, 024, 028) = their oracles on $nwin windows, $ncalls calls each"
check "$what"
rg_catchup
check_caught "$what, after a catch-up"

# Everything rolled up: the rollups alone (and whole months).
rg_catchup_all
# (Before yesterday: a run across midnight leaves the old today dirty.)
sql_is "the catch-up leaves no day before yesterday dirty" "0" \
	-c "SELECT count(*) FROM portmilter.rollup_dirty
	    WHERE day < (now() AT TIME ZONE 'UTC')::date - 1"
check "... with every day rolled up"

rg_late
check "... after late rows into rolled-up days"
rg_catchup
check_caught "... and after a catch-up"

rg_update
check "... after UPDATEs (verdicts, users merged, times moved both ways, kinds, addresses) and DELETEs"
rg_catchup
check_caught "... and after a catch-up"

# Privacy: a user forgotten, November's addresses reduced (straight into
# the partition, as maintain does).
sql >/dev/null <<'SQL'
SELECT * FROM portmilter.forget_user('u7');
SELECT portmilter.reduce_partition('events_202411', '2024-12-01 00:00+00');
SQL
check "... after forget_user and reduce_partition"
# What ip_usage's calls must meet there: the pseudonym, never the name;
# reduced rows and host rows in the /24 and found for its address.
sql_is "ip_usage: u7 shown by its pseudonym; reduced and host rows in 10.1.3.0/24 and for 10.1.3.2" \
	"t|f|t|t|t" -c "
	SELECT bool_or(u LIKE 'forgotten:%'), bool_or(u = 'u7'),
	       (SELECT count(*) FILTER (WHERE masklen(r.client_addr) = 24) > 0
		       AND count(*) FILTER (WHERE masklen(r.client_addr) = 32) > 0
		FROM portmilter.ip_usage('10.1.3.0/24', '-infinity', 'infinity') AS r),
	       (SELECT count(*) FILTER (WHERE masklen(r.client_addr) = 24) > 0
		FROM portmilter.ip_usage('10.1.3.2', '-infinity', 'infinity') AS r),
	       (SELECT count(*) FILTER (WHERE masklen(r.client_addr) = 48) > 0
		FROM portmilter.ip_usage('2001:db8:1::/64', '-infinity', 'infinity') AS r)
	FROM portmilter.ip_usage('0.0.0.0/0', '-infinity', 'infinity') AS r,
	     unnest(r.users) AS u"
rg_catchup
check_caught "... and after a catch-up"

sql -c "TRUNCATE portmilter.events_default" -c "TRUNCATE portmilter.events_202502" >/dev/null
check "... after TRUNCATE of two partitions"
rg_catchup_all
check "... and after the catch-up ran to the end"

# The year totals folded again from nothing (018), as on an upgrade or
# in a month's first catch-up: first none folded (every whole month read
# from the month tables), then a catch-up, whose triggers fold every
# month before this one.
sql >/dev/null <<'SQL'
DELETE FROM portmilter.rollup_user_year;
DELETE FROM portmilter.rollup_ip_year;
DELETE FROM portmilter.rollup_tls_year;
UPDATE portmilter.rollup_year_folded SET month = '-infinity';
SQL
check "... with no month folded into the year totals"
sql -c "INSERT INTO portmilter.rollup_dirty (day) VALUES ('2024-12-05')" >/dev/null
rg_catchup_all
# (tls: up to the month of the oldest dirty day, 023)
sql_is "a catch-up folded every month before this one" "3|0" -c "
	SELECT count(*), count(*) FILTER (WHERE month <> CASE WHEN what = 'tls'
		THEN LEAST(date_trunc('month', now() AT TIME ZONE 'UTC'),
			   (SELECT date_trunc('month', min(day)) FROM portmilter.rollup_dirty))
		ELSE date_trunc('month', now() AT TIME ZONE 'UTC') END)
	FROM portmilter.rollup_year_folded"
check "... and after a catch-up folded them"

# The plans over a year, nested statements included (auto_explain), with
# sequential scans made a last resort: an events partition read by a Seq
# Scan means no index or rollup could serve. Once with every day rolled
# up (whole months), once with two days dirty (read from the events).
sql -c "ANALYZE" >/dev/null
plans() {
	PGOPTIONS="-c session_preload_libraries=auto_explain \
-c auto_explain.log_min_duration=0 -c auto_explain.log_nested_statements=on \
-c enable_seqscan=off"
	export PGOPTIONS
	w="'2024-02-18 10:17+00', '2025-02-17 13:45+00'"
	for c in "top_users(587, $w, 10)" "top_ips(587, $w, 10)" "dashboard_users($w)" \
		"dashboard_networks($w)" "dashboard_exposures($w)" "dashboard_rules($w)" \
		"dashboard_tls($w)" "port_transactions_daily($w)" "tls_usage($w, NULL)" \
		"tls_usage($w, 587)" "tls_preview($w, 587, 13)" "ip_usage('10.1.3.0/24', $w)" \
		"ip_usage('2001:db8:1::/48', $w)"; do
		lines=$(wc -l <"$tmp/log")
		q="SELECT * FROM portmilter.$c"
		f=${c%%(*}
		case $c in
		tls_usage*587*) f="$f(587)" ;;
		ip_usage*) f="$f(${c#*\'}" f="${f%%\'*})" ;;
		esac
		if sql -c "$q" >"$tmp/out" 2>"$tmp/err"; then
			tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/plan"
			if grep -q 'Seq Scan on events' "$tmp/plan"; then
				not_ok "$f over a year$1: a Seq Scan on an events partition" "$tmp/plan"
			elif ! grep -q 'rollup' "$tmp/plan"; then
				not_ok "$f over a year$1: the plan reads no rollup" "$tmp/plan"
			elif [ "${f#top_}" != "$f" ] && ! grep -q '_year' "$tmp/plan"; then
				not_ok "$f over a year$1: the plan reads no year totals" "$tmp/plan"
			elif { [ "${f#ip_usage}" != "$f" ] || [ "${f#top_ips}" != "$f" ]; } &&
				! grep -q 'on rollup_addr_month' "$tmp/plan"; then
				not_ok "$f over a year$1: the plan reads no address month rows (022)" "$tmp/plan"
			elif [ "${f#tls_usage}" != "$f" ] && { ! grep -q 'rollup_tls_year' "$tmp/plan" ||
				! grep -q 'rollup_tls_tier' "$tmp/plan"; }; then
				not_ok "$f over a year$1: the plan reads no year totals or tiers" "$tmp/plan"
			else
				ok "$f over a year$1: rollups and indexes, no Seq Scan on events"
			fi
		else
			not_ok "$f over a year$1" "$tmp/err"
		fi
	done
	unset PGOPTIONS
}
plans ""
sql -c "INSERT INTO portmilter.rollup_dirty (day) VALUES ('2024-12-05'), ('2025-01-20')" \
	>/dev/null
plans ", two days dirty"

echo "1..$n"
