-- 002_views.sql - what the abuse team reads: per-port traffic, per-user and
-- per-address activity, adoption of the alternate ports.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/002_views.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 2.
--
-- Conventions (sql/README.md, "Views"):
--   - buckets (hour, day) are UTC;
--   - connections = distinct conn_id; transactions = kind 'transaction';
--     accepted / rejected / tempfailed / aborted count events by verdict;
--   - rejects_by_rule is a jsonb object {"rule": count} over the events
--     whose verdict is 'rejected' (a rule-less rejection counts as
--     "(none)"), '{}' when there were none;
--   - users / ips = distinct non-NULL sasl_user / client_addr;
--   - exposures = events with credential_exposure (AUTH without TLS);
--   - an authenticated submission = a transaction with a sasl_method.
-- The views cover all time: a WHERE on their bucket column cannot use the
-- indexes or skip partitions. For a window, call the functions behind
-- them with its bounds, e.g.
--   SELECT * FROM portmilter.port_traffic_between(now() - '7 days', now(), 'day');

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 1) THEN
		RAISE EXCEPTION 'portmilter: migration 002 needs 001_schema.sql first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 2) THEN
		RAISE NOTICE 'portmilter: migration 002 already applied, nothing done';
		RETURN;
	END IF;

	-- Per-port traffic in [p_since, p_until), one row per bucket and
	-- port. p_bucket: 'hour', 'day', ... (date_trunc units, UTC), or
	-- NULL for one bucket covering the window (bucket = p_since).
	-- Plain SQL, STABLE: the planner inlines it, so the window prunes
	-- partitions and uses the primary key.
	CREATE FUNCTION portmilter.port_traffic_between(
		p_since timestamptz, p_until timestamptz, p_bucket text DEFAULT NULL)
	RETURNS TABLE (bucket timestamptz, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, rejects_by_rule jsonb,
		       users bigint, ips bigint, exposures bigint)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT t.bucket, t.port, t.connections, t.transactions,
		       t.accepted, t.rejected, t.tempfailed, t.aborted,
		       COALESCE(r.by_rule, '{}'::jsonb), t.users, t.ips,
		       t.exposures
		FROM (
			SELECT CASE WHEN p_bucket IS NULL THEN p_since
				    ELSE pg_catalog.date_trunc(p_bucket, e.event_time, 'UTC')
			       END AS bucket,
			       e.port,
			       count(DISTINCT e.conn_id) AS connections,
			       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
			       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
			       count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected,
			       count(*) FILTER (WHERE e.verdict = 'tempfailed') AS tempfailed,
			       count(*) FILTER (WHERE e.verdict = 'aborted') AS aborted,
			       count(DISTINCT e.sasl_user) AS users,
			       count(DISTINCT e.client_addr) AS ips,
			       count(*) FILTER (WHERE e.credential_exposure) AS exposures
			FROM portmilter.events AS e
			WHERE e.event_time >= p_since AND e.event_time < p_until
			GROUP BY 1, 2
		) AS t
		LEFT JOIN (
			SELECT x.bucket, x.port,
			       pg_catalog.jsonb_object_agg(x.rule, x.n) AS by_rule
			FROM (
				SELECT CASE WHEN p_bucket IS NULL THEN p_since
					    ELSE pg_catalog.date_trunc(p_bucket, e.event_time, 'UTC')
				       END AS bucket,
				       e.port,
				       COALESCE(e.rule, '(none)') AS rule,
				       count(*) AS n
				FROM portmilter.events AS e
				WHERE e.event_time >= p_since AND e.event_time < p_until
				  AND e.verdict = 'rejected'
				GROUP BY 1, 2, 3
			) AS x
			GROUP BY x.bucket, x.port
		) AS r ON r.bucket = t.bucket AND r.port = t.port
		ORDER BY t.bucket, t.port
	$fn$;

	-- Authenticated submissions per UTC day and port in [p_since,
	-- p_until): how many, by how many users, and the port's share of
	-- that day's authenticated submissions (0..1, 4 decimals).
	CREATE FUNCTION portmilter.port_adoption_between(
		p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (day date, port integer, submissions bigint,
		       users bigint, share numeric)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT d.day, d.port, d.submissions, d.users,
		       pg_catalog.round(d.submissions::numeric
			/ sum(d.submissions) OVER (PARTITION BY d.day), 4)
		FROM (
			SELECT (e.event_time AT TIME ZONE 'UTC')::date AS day,
			       e.port,
			       count(*) AS submissions,
			       count(DISTINCT e.sasl_user) AS users
			FROM portmilter.events AS e
			WHERE e.event_time >= p_since AND e.event_time < p_until
			  AND e.kind = 'transaction' AND e.sasl_method IS NOT NULL
			GROUP BY 1, 2
		) AS d
		ORDER BY d.day, d.port
	$fn$;

	CREATE VIEW portmilter.port_hourly AS
		SELECT * FROM portmilter.port_traffic_between(
			'-infinity', 'infinity', 'hour');
	CREATE VIEW portmilter.port_daily AS
		SELECT * FROM portmilter.port_traffic_between(
			'-infinity', 'infinity', 'day');
	CREATE VIEW portmilter.port_adoption AS
		SELECT * FROM portmilter.port_adoption_between(
			'-infinity', 'infinity');

	-- Everything per SASL user (all time).
	CREATE VIEW portmilter.user_activity AS
		SELECT e.sasl_user,
		       pg_catalog.array_agg(DISTINCT e.port ORDER BY e.port) AS ports,
		       count(DISTINCT e.client_addr) AS ips,
		       count(DISTINCT e.conn_id) AS connections,
		       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
		       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
		       count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected,
		       count(*) FILTER (WHERE e.verdict = 'tempfailed') AS tempfailed,
		       count(*) FILTER (WHERE e.verdict = 'aborted') AS aborted,
		       count(*) FILTER (WHERE e.credential_exposure) AS exposures,
		       min(e.event_time) AS first_seen,
		       max(e.event_time) AS last_seen
		FROM portmilter.events AS e
		WHERE e.sasl_user IS NOT NULL
		GROUP BY e.sasl_user;

	-- Everything per client address (all time).
	CREATE VIEW portmilter.ip_activity AS
		SELECT e.client_addr,
		       pg_catalog.array_agg(DISTINCT e.port ORDER BY e.port) AS ports,
		       count(DISTINCT e.sasl_user) AS users,
		       count(DISTINCT e.conn_id) AS connections,
		       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
		       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
		       count(*) FILTER (WHERE e.verdict = 'rejected') AS rejected,
		       count(*) FILTER (WHERE e.verdict = 'tempfailed') AS tempfailed,
		       count(*) FILTER (WHERE e.verdict = 'aborted') AS aborted,
		       count(*) FILTER (WHERE e.credential_exposure) AS exposures,
		       min(e.event_time) AS first_seen,
		       max(e.event_time) AS last_seen
		FROM portmilter.events AS e
		WHERE e.client_addr IS NOT NULL
		GROUP BY e.client_addr;

	COMMENT ON VIEW portmilter.port_hourly IS
		'per UTC hour and port: connections, transactions, verdicts, '
		'rejects_by_rule, distinct users and IPs, credential exposures';
	COMMENT ON VIEW portmilter.port_daily IS
		'per UTC day and port: as port_hourly';
	COMMENT ON VIEW portmilter.port_adoption IS
		'per UTC day and port: authenticated submissions, users, share of the day';
	COMMENT ON VIEW portmilter.user_activity IS
		'per SASL user, all time: ports, addresses, counts, first/last seen';
	COMMENT ON VIEW portmilter.ip_activity IS
		'per client address, all time: ports, users, counts, first/last seen';

	INSERT INTO portmilter.schema_version (version) VALUES (2);
END
$migration$;
