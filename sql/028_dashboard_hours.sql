-- 028_dashboard_hours.sql - the dashboard's hourly traffic chart counts
-- transactions only (issue 14).
--
-- port_transactions_between() (015) gives the dashboard's traffic chart:
-- transactions per bucket and port. Its day and week buckets come from
-- the rollups; its other buckets (the hour, for windows of two days or
-- less) came from port_traffic_raw(), the whole `ports` aggregate per
-- bucket over the events: three count(DISTINCT ...) (connections, users,
-- addresses), the verdicts and the rules, to keep one column. At a
-- million events a day the chart of one day took 1.37 s of the
-- dashboard's 1.4 s. Now those buckets are the same GROUP BY over the
-- events (bucket, port: the same rows, a port with events but no
-- transaction included) with the one count the chart shows.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/028_dashboard_hours.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 28.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 27) THEN
		RAISE EXCEPTION 'portmilter: migration 028 needs 001 to 027 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 28) THEN
		RAISE NOTICE 'portmilter: migration 028 already applied, nothing done';
		RETURN;
	END IF;

	-- As in 015; the buckets other than day and week from the events,
	-- grouped as port_traffic_raw() groups them, transactions counted as
	-- it counts them.
	CREATE OR REPLACE FUNCTION portmilter.port_transactions_between(p_since timestamptz,
		p_until timestamptz, p_bucket text)
	RETURNS TABLE (bucket timestamptz, port integer, transactions bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	AS $fn$
	BEGIN
		IF p_bucket IN ('day', 'week') THEN
			RETURN QUERY
			SELECT pg_catalog.date_trunc(p_bucket, d.day::timestamptz), d.port,
			       sum(d.transactions)::bigint
			FROM portmilter.port_transactions_daily(p_since, p_until) AS d
			GROUP BY 1, 2 ORDER BY 1, 2;
		ELSE
			RETURN QUERY
			SELECT pg_catalog.date_trunc(p_bucket, e.event_time, 'UTC'), e.port,
			       count(*) FILTER (WHERE e.kind = 'transaction')
			FROM portmilter.events AS e
			WHERE e.event_time >= p_since AND e.event_time < p_until
			GROUP BY 1, 2 ORDER BY 1, 2;
		END IF;
	END
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (28);
END
$migration$;
