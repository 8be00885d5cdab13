-- 017_report_indexes.sql - partial indexes for `auth`, `tls --below` and
-- `tls-preview`, so that they answer over a year (issue 14) by reading
-- only the rows they report, not every event of the window.
--
--   events_auth_time_idx  (event_time) WHERE kind = 'auth_failure':
--                         `portmilter-report auth` reads only the failed
--                         logins (a few percent of the rows)
--   events_old_tls_idx    (TLS rank, port, event_time) over the rows in
--                         TLS below TLSv1.3, and the milter's rows with
--                         AUTH and no TLS: `tls --below V` and
--                         `tls-preview --min-tls-version V` (V at most
--                         TLSv1.3, so never a TLSv1.3 row) read the rows
--                         below V only, whatever the port
--
-- Both INCLUDE every other column their report reads, so that it is an
-- index-only scan: the rows they select are spread over the whole year
-- (one in fifty, one in ten), so fetching them from the table would read
-- most of its pages anyway (3 M events: 42,000 of them for `auth` over a
-- year, against 437 index pages). The table's pages must be marked
-- all-visible for that, which autovacuum does for rows inserted and left
-- alone (PostgreSQL 13 and later): all but the newest.
--
-- The rank is the expression of report/tls.c (SQL_TLS_RANK over
-- NULLIF(tls_version, '')), written here identically: the planner uses
-- an expression index only for the same expression, and the partial
-- index only when the query's WHERE implies its predicate, which
-- report/tls.c writes literally for that reason (SQL_OLD_TLS). Change
-- one, change the other; tests/sql/tls.sh checks the plans.
--
-- Both are built on the parent, so every partition, present and future
-- (create_month_partition, ensure_partitions), has them. A partial index
-- costs an insert only for the rows that satisfy its predicate: few.
-- Building them reads the whole table and blocks writes to it meanwhile
-- (the milters' shippers wait, their journals hold the events): see
-- sql/README.md for the time it takes on a large table.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/017_report_indexes.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 17.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 14) THEN
		RAISE EXCEPTION 'portmilter: migration 017 needs 001 to 014 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 17) THEN
		RAISE NOTICE 'portmilter: migration 017 already applied, nothing done';
		RETURN;
	END IF;

	CREATE INDEX events_auth_time_idx
		ON portmilter.events (event_time)
		INCLUDE (sasl_user, client_addr, port, sasl_method)
		WHERE kind = 'auth_failure';

	-- The expression: report/tls.c's SQL_TLS_RANK(NULLIF(e.tls_version, '')).
	-- The predicate: report/tls.c's SQL_OLD_TLS (a log reader's
	-- auth_failure row carries the mechanism but never the TLS version:
	-- it is not "AUTH without TLS").
	CREATE INDEX events_old_tls_idx
		ON portmilter.events ((CASE
			WHEN NULLIF(NULLIF(tls_version, ''), '') IS NULL THEN 0
			WHEN NULLIF(tls_version, '') ~ '^(TLSv|tlsv)1$' THEN 10
			WHEN NULLIF(tls_version, '') ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
			THEN pg_catalog.substr(NULLIF(tls_version, ''), 5, 1)::integer * 10
			+ pg_catalog.substr(NULLIF(tls_version, ''), 7, 1)::integer
			ELSE -1 END), port, event_time)
		INCLUDE (tls_version, sasl_user, client_addr, conn_id, kind,
			 verdict, sasl_method)
		WHERE (NULLIF(tls_version, '') IS NOT NULL AND tls_version <> 'TLSv1.3')
		   OR (NULLIF(tls_version, '') IS NULL AND sasl_method IS NOT NULL
		       AND kind <> 'auth_failure');

	INSERT INTO portmilter.schema_version (version) VALUES (17);
END
$migration$;
