-- 007_watch.sql - portmilter-watch, the detection daemon (doc/watch.md):
-- what it fired, what is left to deliver, and the state that makes an
-- alert happen once.
--
--   portmilter.alerts            one row per alert: a detector fired for a
--                                user or a client address (state fired),
--                                or the condition cleared (state resolved)
--   portmilter.alert_deliveries  one row per alert and channel (webhook,
--                                email, syslog), queued: the watch daemon's
--                                notifier delivers the due pending rows
--   portmilter.watch_state       per detector and subject: is it firing,
--                                when it last fired. Its primary key is the
--                                dedup: watch_fire() inserts or updates it
--                                in the transaction that inserts the alert,
--                                so two watch daemons (or two leaders in a
--                                split moment) cannot both alert.
--   portmilter.watch_fire(...)   the cool-down check, the alert, its
--                                deliveries and, asked for, the suspension:
--                                one transaction
--   portmilter.watch_resolve(...) the subjects of a detector no longer
--                                firing: state cleared, "resolved" alerts
--   role portmilter_watch        the daemon: SELECT on events, alerts and
--                                deliveries, UPDATE on deliveries (the
--                                notifier), EXECUTE on the two functions
--                                (SECURITY DEFINER: it cannot write alerts
--                                or suspensions any other way)
-- The reader role may read alerts and deliveries (portmilter-report alerts).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/007_watch.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 7.
-- It needs 005 (the failed logins the detectors read), not 006: the
-- suspension function is looked up when a detector asks to suspend.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 007 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 7) THEN
		RAISE NOTICE 'portmilter: migration 007 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.alerts (
		alert_id bigserial PRIMARY KEY,
		fired_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
		detector text NOT NULL,
		subject_kind text NOT NULL
			CHECK (subject_kind IN ('user', 'address')),
		subject text NOT NULL,
		state text NOT NULL CHECK (state IN ('fired', 'resolved')),
		summary text NOT NULL,
		evidence jsonb NOT NULL,
		suspended boolean NOT NULL DEFAULT false,
		watch_node text NOT NULL
	);
	CREATE INDEX alerts_fired_at_idx ON portmilter.alerts (fired_at);
	CREATE INDEX alerts_subject_idx
		ON portmilter.alerts (subject, fired_at);
	COMMENT ON TABLE portmilter.alerts IS
		'portmilter-watch: a detector fired for a user or address, or '
		'its condition cleared (doc/watch.md)';

	CREATE TABLE portmilter.alert_deliveries (
		alert_id bigint NOT NULL
			REFERENCES portmilter.alerts ON DELETE CASCADE,
		channel text NOT NULL,
		state text NOT NULL DEFAULT 'pending'
			CHECK (state IN ('pending', 'sent', 'failed')),
		attempts integer NOT NULL DEFAULT 0,
		next_attempt timestamptz NOT NULL DEFAULT pg_catalog.now(),
		last_error text,
		sent_at timestamptz,
		PRIMARY KEY (alert_id, channel)
	);
	CREATE INDEX alert_deliveries_due_idx
		ON portmilter.alert_deliveries (next_attempt)
		WHERE state = 'pending';
	COMMENT ON TABLE portmilter.alert_deliveries IS
		'portmilter-watch: one row per alert and channel, delivered '
		'by the watch daemon with retries';

	CREATE TABLE portmilter.watch_state (
		detector text NOT NULL,
		subject_kind text NOT NULL,
		subject text NOT NULL,
		active boolean NOT NULL,
		last_fired timestamptz NOT NULL,
		last_alert bigint,
		PRIMARY KEY (detector, subject_kind, subject)
	);
	CREATE INDEX watch_state_active_idx
		ON portmilter.watch_state (detector) WHERE active;
	COMMENT ON TABLE portmilter.watch_state IS
		'portmilter-watch: per detector and subject, firing or not and '
		'when it last fired (the dedup and cool-down)';

	-- Fire: unless this detector fired for this subject less than
	-- p_cooldown ago, record it, insert the alert and one pending
	-- delivery per channel, and suspend the subject when p_suspend
	-- (portmilter.suspend() of migration 006; without it, or if it
	-- fails, a WARNING and suspended stays false). Returns no row when
	-- the cool-down held it back. The unique key of watch_state makes
	-- two concurrent callers fire once: the second waits for the first
	-- one's row and finds it fired within the cool-down.
	CREATE FUNCTION portmilter.watch_fire(p_detector text, p_kind text,
		p_subject text, p_summary text, p_evidence jsonb,
		p_cooldown interval, p_node text, p_channels text[],
		p_suspend boolean)
	RETURNS TABLE (alert_id bigint, suspended boolean)
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	#variable_conflict use_column
	DECLARE
		id bigint;
		susp boolean := false;
	BEGIN
		IF p_detector IS NULL OR p_kind IS NULL OR p_subject IS NULL
		   OR p_cooldown IS NULL OR p_cooldown < interval '0' THEN
			RAISE EXCEPTION 'watch_fire: detector, kind, subject and a '
				'non-negative cool-down are required'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		INSERT INTO portmilter.watch_state AS s
			(detector, subject_kind, subject, active, last_fired)
		VALUES (p_detector, p_kind, p_subject, true, now())
		ON CONFLICT (detector, subject_kind, subject) DO UPDATE
			SET active = true, last_fired = now()
			WHERE s.last_fired <= now() - p_cooldown
		RETURNING true INTO susp;
		IF NOT FOUND THEN
			RETURN;
		END IF;
		susp := false;
		IF p_suspend THEN
			BEGIN
				PERFORM portmilter.suspend(p_kind, p_subject,
					'portmilter-watch: ' || p_detector,
					'portmilter-watch@' || p_node,
					NULL::timestamptz);
				susp := true;
			EXCEPTION WHEN OTHERS THEN
				RAISE WARNING 'portmilter.watch_fire: cannot suspend %: %',
					p_subject, SQLERRM;
			END;
		END IF;
		INSERT INTO portmilter.alerts AS a (detector, subject_kind,
			subject, state, summary, evidence, suspended, watch_node)
		VALUES (p_detector, p_kind, p_subject, 'fired', p_summary,
			p_evidence, susp, p_node)
		RETURNING a.alert_id INTO id;
		INSERT INTO portmilter.alert_deliveries (alert_id, channel)
			SELECT id, c FROM unnest(p_channels) AS c
			WHERE c IS NOT NULL GROUP BY c;
		UPDATE portmilter.watch_state AS s SET last_alert = id
		WHERE s.detector = p_detector AND s.subject_kind = p_kind
		  AND s.subject = p_subject;
		alert_id := id;
		suspended := susp;
		RETURN NEXT;
	END
	$fn$;

	-- Resolve: every subject of p_detector that is firing but not in
	-- (p_kinds[i], p_subjects[i]) is no longer firing; with p_notify,
	-- each gets a "resolved" alert (and its deliveries) naming the alert
	-- that fired. Returns the subjects resolved. Concurrent callers
	-- resolve each subject once (the UPDATE's row lock and its WHERE).
	CREATE FUNCTION portmilter.watch_resolve(p_detector text,
		p_kinds text[], p_subjects text[], p_node text,
		p_channels text[], p_notify boolean)
	RETURNS TABLE (subject_kind text, subject text, alert_id bigint)
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	#variable_conflict use_column
	DECLARE
		r record;
		id bigint;
	BEGIN
		FOR r IN
			UPDATE portmilter.watch_state AS s SET active = false
			WHERE s.detector = p_detector AND s.active
			  AND NOT EXISTS (
				SELECT FROM unnest(p_kinds, p_subjects) AS f(k, v)
				WHERE f.k = s.subject_kind AND f.v = s.subject)
			RETURNING s.subject_kind, s.subject, s.last_alert,
				  s.last_fired
		LOOP
			id := NULL;
			IF p_notify THEN
				INSERT INTO portmilter.alerts AS a (detector,
					subject_kind, subject, state, summary,
					evidence, watch_node)
				VALUES (p_detector, r.subject_kind, r.subject,
					'resolved',
					'resolved: ' || p_detector || ' for ' ||
					r.subject_kind || ' ' || r.subject,
					jsonb_build_object('fired_alert', r.last_alert,
						'fired_at', r.last_fired),
					p_node)
				RETURNING a.alert_id INTO id;
				INSERT INTO portmilter.alert_deliveries (alert_id, channel)
					SELECT id, c FROM unnest(p_channels) AS c
					WHERE c IS NOT NULL GROUP BY c;
			END IF;
			subject_kind := r.subject_kind;
			subject := r.subject;
			alert_id := id;
			RETURN NEXT;
		END LOOP;
	END
	$fn$;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
		       WHERE rolname = 'portmilter_watch') THEN
		CREATE ROLE portmilter_watch NOLOGIN;
	END IF;
	COMMENT ON ROLE portmilter_watch IS
		'portmilter-watch: reads events, fires alerts through '
		'watch_fire()/watch_resolve(), delivers them';
	REVOKE ALL ON FUNCTION portmilter.watch_fire(text, text, text, text,
		jsonb, interval, text, text[], boolean) FROM PUBLIC;
	REVOKE ALL ON FUNCTION portmilter.watch_resolve(text, text[], text[],
		text, text[], boolean) FROM PUBLIC;
	GRANT USAGE ON SCHEMA portmilter TO portmilter_watch;
	GRANT SELECT ON portmilter.schema_version, portmilter.events,
		portmilter.alerts, portmilter.watch_state
		TO portmilter_watch;
	GRANT SELECT, UPDATE ON portmilter.alert_deliveries TO portmilter_watch;
	GRANT EXECUTE ON FUNCTION portmilter.watch_fire(text, text, text, text,
		jsonb, interval, text, text[], boolean) TO portmilter_watch;
	GRANT EXECUTE ON FUNCTION portmilter.watch_resolve(text, text[], text[],
		text, text[], boolean) TO portmilter_watch;
	GRANT SELECT ON portmilter.alerts, portmilter.alert_deliveries,
		portmilter.watch_state TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (7);
END
$migration$;
