-- 029_net_inline.sql - rollup_net() inlined where it is called (issue 14).
--
-- rollup_net(inet) (015), the text of an address's /24 or /64, was
-- declared STRICT. PostgreSQL inlines a SQL function into the query that
-- calls it only when it can prove the body strict too, and the CASE in
-- it keeps it from that: every row paid a call through the SQL function
-- executor, about 1 us (183,000 rows: 222 ms with the call, 47 ms
-- inlined). tls_usage() calls it for each row of a window's raw part
-- (the day in progress, a partial first day, the dirty days) and for
-- each row its connections' probes read; the catch-up's tls, address
-- and preview steps for every event of the day.
--
-- Without STRICT the body is inlined, and it gives the same for every
-- input: NULL for NULL (family(NULL) makes the CASE 64, but masklen(),
-- set_masklen() and network() are strict). No index or constraint uses
-- the function. `tls` over the last 365 days at 10 M events, in the
-- server: 626 -> 540 ms; at a million events a day, `tls` over a day's
-- last 12 hours 4.6-5.1 -> 3.3-3.6 s, and that day's catch-up in steps
-- 36.7-40.3 -> 27.3-31.3 s.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/029_net_inline.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 29.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 28) THEN
		RAISE EXCEPTION 'portmilter: migration 029 needs 001 to 028 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 29) THEN
		RAISE NOTICE 'portmilter: migration 029 already applied, nothing done';
		RETURN;
	END IF;

	-- As in 015, without STRICT: inlined where it is called.
	CREATE OR REPLACE FUNCTION portmilter.rollup_net(a inet)
	RETURNS text LANGUAGE sql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
	AS $fn$
		SELECT pg_catalog.network(pg_catalog.set_masklen(a,
			LEAST(pg_catalog.masklen(a),
			      CASE pg_catalog.family(a) WHEN 4 THEN 24 ELSE 64 END)))::text
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (29);
END
$migration$;
