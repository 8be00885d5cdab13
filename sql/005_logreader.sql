-- 005_logreader.sql - what only Postfix knows, recorded from its log by the
-- milter's log reader (milter/logreader.h, doc/events.md):
--   kind auth_failure  a failed AUTH (sasl_method, sasl_user as logged)
--   kind refused       Postfix's own refusal (rule postfix_<stage>, or
--                      require_tls: MAIL without STARTTLS), with its reply
--   kind exposure      AUTH tried before STARTTLS (credential_exposure)
--   kind tls_failure   a TLS handshake that failed (e.g. plaintext on an
--                      implicit-TLS port)
-- The per-port report keeps the meaning of its columns for the milter's
-- rows (connections, users: kinds transaction and connection), counts
-- Postfix's refusals before MAIL in rejected / rejects_by_rule (those at
-- RCPT and later the milter records itself), and gains the columns
-- auth_failures, refused_before_mail and tls_failures. The activity
-- views gain auth_failures. A view portmilter.auth_failures lists them
-- per user, address and port.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/005_logreader.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 5.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 4) THEN
		RAISE EXCEPTION 'portmilter: migration 005 needs 001 to 004 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE NOTICE 'portmilter: migration 005 already applied, nothing done';
		RETURN;
	END IF;

	ALTER TABLE portmilter.events DROP CONSTRAINT events_kind_check;
	ALTER TABLE portmilter.events ADD CONSTRAINT events_kind_check
		CHECK (kind IN ('transaction', 'connection', 'auth_failure',
				'refused', 'exposure', 'tls_failure'));

	DROP VIEW portmilter.port_hourly;
	DROP VIEW portmilter.port_daily;
	DROP FUNCTION portmilter.port_traffic_between(timestamptz, timestamptz, text);

	-- As in 002, plus the log reader's kinds:
	--   connections, transactions, accepted, aborted, users: the
	--     milter's rows only (a log row has its own conn_id);
	--   rejected, tempfailed, rejects_by_rule: also Postfix's refusals
	--     before the milter's MAIL step (kind refused, except at RCPT,
	--     DATA, BDAT, END-OF-MESSAGE: the milter records those itself,
	--     rule postfix_rejected), so require_tls appears for MAIL
	--     without TLS and nothing is counted twice;
	--   ips, exposures: every row;
	--   auth_failures: kind auth_failure;
	--   refused_before_mail: Postfix's refusals before the milter's MAIL
	--     step (every refused row but those at RCPT, DATA, BDAT and
	--     END-OF-MESSAGE);
	--   tls_failures: kind tls_failure.
	CREATE FUNCTION portmilter.port_traffic_between(
		p_since timestamptz, p_until timestamptz, p_bucket text DEFAULT NULL)
	RETURNS TABLE (bucket timestamptz, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, rejects_by_rule jsonb,
		       users bigint, ips bigint, exposures bigint,
		       auth_failures bigint, refused_before_mail bigint,
		       tls_failures bigint)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT t.bucket, t.port, t.connections, t.transactions,
		       t.accepted, t.rejected, t.tempfailed, t.aborted,
		       COALESCE(r.by_rule, '{}'::jsonb), t.users, t.ips,
		       t.exposures, t.auth_failures, t.refused_before_mail,
		       t.tls_failures
		FROM (
			SELECT CASE WHEN p_bucket IS NULL THEN p_since
				    ELSE pg_catalog.date_trunc(p_bucket, e.event_time, 'UTC')
			       END AS bucket,
			       e.port,
			       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN
				('transaction', 'connection')) AS connections,
			       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
			       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
			       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS rejected,
			       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS tempfailed,
			       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
				('transaction', 'connection')) AS aborted,
			       count(DISTINCT e.sasl_user) FILTER (WHERE e.kind IN
				('transaction', 'connection')) AS users,
			       count(DISTINCT e.client_addr) AS ips,
			       count(*) FILTER (WHERE e.credential_exposure) AS exposures,
			       count(*) FILTER (WHERE e.kind = 'auth_failure') AS auth_failures,
			       count(*) FILTER (WHERE e.kind = 'refused' AND e.rule NOT IN
				('postfix_rcpt', 'postfix_data', 'postfix_bdat',
				 'postfix_end-of-message')) AS refused_before_mail,
			       count(*) FILTER (WHERE e.kind = 'tls_failure') AS tls_failures
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
				  AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))
				GROUP BY 1, 2, 3
			) AS x
			GROUP BY x.bucket, x.port
		) AS r ON r.bucket = t.bucket AND r.port = t.port
		ORDER BY t.bucket, t.port
	$fn$;

	CREATE VIEW portmilter.port_hourly AS
		SELECT * FROM portmilter.port_traffic_between(
			'-infinity', 'infinity', 'hour');
	CREATE VIEW portmilter.port_daily AS
		SELECT * FROM portmilter.port_traffic_between(
			'-infinity', 'infinity', 'day');

	-- The activity views: the milter's counts as before (its rows
	-- only), failed logins added as a last column.
	CREATE OR REPLACE VIEW portmilter.user_activity AS
		SELECT e.sasl_user,
		       pg_catalog.array_agg(DISTINCT e.port ORDER BY e.port) AS ports,
		       count(DISTINCT e.client_addr) AS ips,
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN
			('transaction', 'connection')) AS connections,
		       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
		       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
		       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS rejected,
		       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS tempfailed,
		       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
			('transaction', 'connection')) AS aborted,
		       count(*) FILTER (WHERE e.credential_exposure) AS exposures,
		       min(e.event_time) AS first_seen,
		       max(e.event_time) AS last_seen,
		       count(*) FILTER (WHERE e.kind = 'auth_failure') AS auth_failures
		FROM portmilter.events AS e
		WHERE e.sasl_user IS NOT NULL
		GROUP BY e.sasl_user;

	CREATE OR REPLACE VIEW portmilter.ip_activity AS
		SELECT e.client_addr,
		       pg_catalog.array_agg(DISTINCT e.port ORDER BY e.port) AS ports,
		       count(DISTINCT e.sasl_user) FILTER (WHERE e.kind IN
			('transaction', 'connection')) AS users,
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN
			('transaction', 'connection')) AS connections,
		       count(*) FILTER (WHERE e.kind = 'transaction') AS transactions,
		       count(*) FILTER (WHERE e.verdict = 'accepted') AS accepted,
		       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS rejected,
		       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))) AS tempfailed,
		       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
			('transaction', 'connection')) AS aborted,
		       count(*) FILTER (WHERE e.credential_exposure) AS exposures,
		       min(e.event_time) AS first_seen,
		       max(e.event_time) AS last_seen,
		       count(*) FILTER (WHERE e.kind = 'auth_failure') AS auth_failures
		FROM portmilter.events AS e
		WHERE e.client_addr IS NOT NULL
		GROUP BY e.client_addr;

	-- Failed logins per user (as Postfix logged it), address and port,
	-- all time. For a window: portmilter-report auth --since ...
	CREATE VIEW portmilter.auth_failures AS
		SELECT e.sasl_user, e.client_addr, e.port,
		       count(*) AS failures,
		       pg_catalog.array_agg(DISTINCT e.sasl_method
			ORDER BY e.sasl_method) AS mechanisms,
		       min(e.event_time) AS first_seen,
		       max(e.event_time) AS last_seen
		FROM portmilter.events AS e
		WHERE e.kind = 'auth_failure'
		GROUP BY e.sasl_user, e.client_addr, e.port;

	COMMENT ON VIEW portmilter.port_hourly IS
		'per UTC hour and port: connections, transactions, verdicts, '
		'rejects_by_rule, distinct users and IPs, credential exposures, '
		'failed logins, refusals by Postfix before MAIL, TLS failures';
	COMMENT ON VIEW portmilter.port_daily IS
		'per UTC day and port: as port_hourly';
	COMMENT ON VIEW portmilter.auth_failures IS
		'failed AUTH (from Postfix''s log) per user, address and port, all time';

	GRANT SELECT ON portmilter.port_hourly, portmilter.port_daily,
		portmilter.auth_failures TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (5);
END
$migration$;
