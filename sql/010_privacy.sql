-- 010_privacy.sql - data that expires: retention by whole partitions,
-- client addresses reduced after a time, one user forgotten or exported.
--
--   portmilter.privacy_settings   one row: raw_days (events kept), and
--                                 reduce_days (addresses reduced after);
--                                 NULL = keep forever / never reduce
--   portmilter.event_partitions() every partition of events with its
--                                 bounds (UTC), reduced or not
--   portmilter.maintain_partitions()  partitions ahead, retention
--   portmilter.reduce_pending(), portmilter.reduce_partition(name, cutoff)
--                                 the address reduction, one partition a
--                                 transaction
--   portmilter.forget_user(user)  pseudonymise one SASL user everywhere
--   portmilter.user_export(user)  everything held about one user (jsonb)
-- `portmilter-report maintain` runs the first three in order, each step
-- in its own short transaction, under a session advisory lock (key
-- 1886220405), so that two runs at once are safe (the second waits, then
-- finds nothing to do). Why the settings live in the database and not in
-- portmilter.conf, and what each step changes: sql/README.md, "Personal
-- data".
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/010_privacy.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 10.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 010 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 10) THEN
		RAISE NOTICE 'portmilter: migration 010 already applied, nothing done';
		RETURN;
	END IF;

	-- One row (the key can only be true). Read by the maintenance step
	-- of whichever node or host runs it: one database, one policy.
	CREATE TABLE portmilter.privacy_settings (
		id boolean PRIMARY KEY DEFAULT true CHECK (id),
		raw_days integer DEFAULT 400
			CHECK (raw_days BETWEEN 1 AND 36500),
		reduce_days integer DEFAULT 90
			CHECK (reduce_days BETWEEN 1 AND 36500),
		changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
	);
	INSERT INTO portmilter.privacy_settings DEFAULT VALUES;
	COMMENT ON TABLE portmilter.privacy_settings IS
		'retention: raw_days = events kept (whole monthly partitions '
		'dropped once their last day is older), reduce_days = client '
		'addresses reduced to /24 (IPv4) or /48 (IPv6) after that many '
		'days; NULL = keep forever / never reduce. Applied by '
		'portmilter-report maintain';
	COMMENT ON COLUMN portmilter.privacy_settings.raw_days IS
		'events older than this many days are dropped (by whole '
		'partitions: kept at most one month longer); NULL: kept forever';
	COMMENT ON COLUMN portmilter.privacy_settings.reduce_days IS
		'client addresses older than this many days are reduced to /24 '
		'or /48 (with the name and HELO that reveal them); NULL: never';

	-- ---- reduction of one value -------------------------------------------
	-- An address to its network: IPv4 /24, IPv6 /48, as an inet whose
	-- mask says so (192.0.2.0/24). A shorter mask is kept: idempotent.
	CREATE FUNCTION portmilter.reduce_addr(a inet)
	RETURNS inet
	LANGUAGE sql
	IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT CASE
			WHEN pg_catalog.masklen(a) >
			     CASE pg_catalog.family(a) WHEN 4 THEN 24 ELSE 48 END
			THEN pg_catalog.network(pg_catalog.set_masklen(a,
				CASE pg_catalog.family(a) WHEN 4 THEN 24 ELSE 48 END))::inet
			ELSE a
		END
	$fn$;

	-- Is this address still a whole host address (to be reduced)?
	CREATE FUNCTION portmilter.addr_is_full(a inet)
	RETURNS boolean
	LANGUAGE sql
	IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT pg_catalog.masklen(a) >
		       CASE pg_catalog.family(a) WHEN 4 THEN 24 ELSE 48 END
	$fn$;

	-- A reverse name often spells the address (dsl-192-0-2-7.isp.example):
	-- its first label goes, "*." marks the rest (*.isp.example); a name
	-- without a dot goes entirely; "unknown" and a reduced name stay.
	CREATE FUNCTION portmilter.reduce_name(n text)
	RETURNS text
	LANGUAGE sql
	IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT CASE
			WHEN n IS NULL OR n = 'unknown' OR n LIKE '*.%' THEN n
			WHEN pg_catalog.strpos(n, '.') = 0 THEN NULL
			ELSE '*.' || pg_catalog.substr(n, pg_catalog.strpos(n, '.') + 1)
		END
	$fn$;

	-- Free text (HELO, reply) with the addresses in it reduced: every
	-- dotted IPv4 address to its /24 (192.0.2.7 -> 192.0.2.0/24), and the
	-- text of the row's own IPv6 address to its /48, each only as a whole
	-- token (not inside a longer number).
	CREATE FUNCTION portmilter.reduce_text(t text, a inet)
	RETURNS text
	LANGUAGE sql
	IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT pg_catalog.regexp_replace(
			CASE WHEN pg_catalog.family(a) = 6 AND portmilter.addr_is_full(a)
			     THEN pg_catalog.regexp_replace(t,
				'(^|[^0-9A-Fa-f:.])' ||
				pg_catalog.replace(pg_catalog.host(a), '.', '\.') ||
				'(?![0-9A-Fa-f:.])',
				'\1' || pg_catalog.host(portmilter.reduce_addr(a)) || '/48', 'g')
			     ELSE t
			END,
			'(^|[^0-9.])([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}(?![0-9./])',
			'\1\2.0/24', 'g')
	$fn$;

	-- The row trigger of a partition whose every row is reduced: a row
	-- added later (a backfill, a journal shipped months late) is reduced
	-- as it lands. Partitions still in the reduction window have none.
	CREATE FUNCTION portmilter.reduce_event_row()
	RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF portmilter.addr_is_full(NEW.client_addr) THEN
			NEW.client_name := portmilter.reduce_name(NEW.client_name);
			NEW.client_name_raw := NULL;
			NEW.helo := portmilter.reduce_text(NEW.helo, NEW.client_addr);
			NEW.helo_raw := NULL;
			NEW.reply := portmilter.reduce_text(NEW.reply, NEW.client_addr);
			NEW.client_addr := portmilter.reduce_addr(NEW.client_addr);
		END IF;
		RETURN NEW;
	END
	$fn$;

	-- ---- partitions -------------------------------------------------------
	-- Every partition of events: its bounds (NULL lower = MINVALUE or
	-- DEFAULT, NULL upper = MAXVALUE or DEFAULT), whether it is the
	-- DEFAULT partition and whether it is reduced (has the trigger).
	CREATE FUNCTION portmilter.event_partitions()
	RETURNS TABLE (name text, lower_bound timestamptz,
		       upper_bound timestamptz, is_default boolean,
		       reduced boolean)
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	AS $fn$
	BEGIN
		RETURN QUERY
		SELECT c.relname::text,
		       pg_catalog.substring(b.bound, 'FROM \(''([^'']+)''\)')::timestamptz,
		       pg_catalog.substring(b.bound, 'TO \(''([^'']+)''\)')::timestamptz,
		       b.bound = 'DEFAULT',
		       EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
			       WHERE t.tgrelid = c.oid
				 AND t.tgname = 'events_reduced')
		FROM pg_catalog.pg_inherits AS i
		JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
		CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound,
							       c.oid) AS bound) AS b
		WHERE i.inhparent = 'portmilter.events'::regclass
		ORDER BY 2 NULLS FIRST, 1;
	END
	$fn$;

	-- Partitions ahead (ensure_partitions()), then retention: every
	-- partition whose upper bound is at or before now() - raw_days is
	-- dropped, and the DEFAULT partition's rows that old deleted (it is
	-- small by design: a backfill into a dropped period lands there).
	-- A partition that cannot be locked within 5 s (a long report
	-- holds it) is skipped with a WARNING: the next run drops it.
	-- Returns one row per change: (action, object, rows).
	CREATE FUNCTION portmilter.maintain_partitions()
	RETURNS TABLE (action text, object text, nrows bigint)
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	SET lock_timeout = '5s'
	AS $fn$
	DECLARE
		keep integer;
		cutoff timestamptz;
		p record;
		n bigint;
	BEGIN
		FOR p IN SELECT * FROM portmilter.ensure_partitions() AS x(name) LOOP
			action := 'created'; object := 'portmilter.' || p.name; nrows := NULL;
			RETURN NEXT;
		END LOOP;
		SELECT s.raw_days INTO keep FROM portmilter.privacy_settings AS s;
		IF keep IS NULL THEN
			RETURN;
		END IF;
		cutoff := pg_catalog.now() - pg_catalog.make_interval(days => keep);
		FOR p IN SELECT * FROM portmilter.event_partitions() AS e
			 WHERE NOT e.is_default AND e.upper_bound <= cutoff LOOP
			BEGIN
				EXECUTE pg_catalog.format('SELECT count(*) FROM portmilter.%I',
							  p.name) INTO n;
				EXECUTE pg_catalog.format('DROP TABLE portmilter.%I', p.name);
				action := 'dropped'; object := 'portmilter.' || p.name; nrows := n;
				RETURN NEXT;
			EXCEPTION WHEN lock_not_available THEN
				RAISE WARNING 'portmilter.maintain_partitions: % is in use, not dropped this time',
					p.name;
			END;
		END LOOP;
		FOR p IN SELECT * FROM portmilter.event_partitions() AS e
			 WHERE e.is_default LOOP
			EXECUTE pg_catalog.format('DELETE FROM portmilter.%I '
				'WHERE event_time < $1', p.name) USING cutoff;
			GET DIAGNOSTICS n = ROW_COUNT;
			IF n > 0 THEN
				action := 'deleted'; object := 'portmilter.' || p.name; nrows := n;
				RETURN NEXT;
			END IF;
		END LOOP;
	END
	$fn$;

	-- The reduction cutoff, now() - reduce_days (NULL: never).
	CREATE FUNCTION portmilter.reduce_cutoff()
	RETURNS timestamptz
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT pg_catalog.now() - pg_catalog.make_interval(days => s.reduce_days)
		FROM portmilter.privacy_settings AS s
		WHERE s.reduce_days IS NOT NULL
	$fn$;

	-- The partitions a reduction pass must visit for this cutoff: those
	-- starting before it and not yet reduced (the one holding the cutoff
	-- is visited at every run, up to the cutoff), and DEFAULT.
	CREATE FUNCTION portmilter.reduce_pending(p_cutoff timestamptz)
	RETURNS SETOF text
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT e.name FROM portmilter.event_partitions() AS e
		WHERE p_cutoff IS NOT NULL AND (e.is_default OR
		      (NOT e.reduced AND (e.lower_bound IS NULL OR e.lower_bound < p_cutoff)))
		ORDER BY e.lower_bound NULLS FIRST
	$fn$;

	-- Reduce one partition's rows older than p_cutoff (those whose
	-- address is still whole) and return how many changed. A partition
	-- that ends at or before the cutoff is locked against inserts first
	-- and gets the trigger in the same transaction, so that no row can
	-- slip in unreduced. Rows with
	-- no address keep their name and HELO (nothing to reduce from).
	CREATE FUNCTION portmilter.reduce_partition(p_name text, p_cutoff timestamptz)
	RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	AS $fn$
	DECLARE
		p record;
		n bigint;
		whole boolean;
	BEGIN
		SELECT * INTO p FROM portmilter.event_partitions() AS e
		WHERE e.name = p_name;
		IF NOT FOUND OR p_cutoff IS NULL THEN
			RAISE EXCEPTION 'reduce_partition: % is not a partition of portmilter.events',
				p_name USING ERRCODE = 'invalid_parameter_value';
		END IF;
		whole := NOT p.is_default AND NOT p.reduced AND p.upper_bound <= p_cutoff;
		IF whole THEN
			-- No row may land between the UPDATE and the trigger.
			EXECUTE pg_catalog.format('LOCK TABLE portmilter.%I '
				'IN SHARE ROW EXCLUSIVE MODE', p_name);
		END IF;
		EXECUTE pg_catalog.format('UPDATE portmilter.%I SET '
			'client_name = portmilter.reduce_name(client_name), '
			'client_name_raw = NULL, '
			'helo = portmilter.reduce_text(helo, client_addr), helo_raw = NULL, '
			'reply = portmilter.reduce_text(reply, client_addr), '
			'client_addr = portmilter.reduce_addr(client_addr) '
			'WHERE event_time < $1 AND portmilter.addr_is_full(client_addr)',
			p_name) USING p_cutoff;
		GET DIAGNOSTICS n = ROW_COUNT;
		IF whole THEN
			EXECUTE pg_catalog.format('CREATE TRIGGER events_reduced '
				'BEFORE INSERT ON portmilter.%I FOR EACH ROW '
				'EXECUTE FUNCTION portmilter.reduce_event_row()', p_name);
		END IF;
		RETURN n;
	END
	$fn$;

	-- ---- one user ---------------------------------------------------------
	-- The tables that hold something about a user, and how to find it:
	-- events (sasl_user), suspensions (kind 'user', subject) and alerts
	-- (subject_kind 'user', subject, and the user's name as a JSON string
	-- in any alert's evidence), the watch's dedup state (watch_state:
	-- subject_kind 'user', subject) once migrations 006 and 007 made them, the
	-- budgets' usage (login, 008), and
	-- every other table of the schema with a text column sasl_user (the
	-- convention for per-user rows: rollups, for instance).
	CREATE FUNCTION portmilter.user_tables()
	RETURNS TABLE (relation regclass, how text)
	LANGUAGE sql
	STABLE
	AS $fn$
		SELECT u.relation, u.how FROM (
			SELECT 'portmilter.events'::regclass AS relation, 'events' AS how
			UNION ALL
			SELECT pg_catalog.to_regclass('portmilter.suspensions'), 'suspensions'
			WHERE pg_catalog.to_regclass('portmilter.suspensions') IS NOT NULL
			UNION ALL
			SELECT pg_catalog.to_regclass('portmilter.alerts'), 'alerts'
			WHERE pg_catalog.to_regclass('portmilter.alerts') IS NOT NULL
			UNION ALL
			SELECT pg_catalog.to_regclass('portmilter.usage'), 'usage'
			WHERE pg_catalog.to_regclass('portmilter.usage') IS NOT NULL
			UNION ALL
			SELECT pg_catalog.to_regclass('portmilter.watch_state'), 'watch_state'
			WHERE pg_catalog.to_regclass('portmilter.watch_state') IS NOT NULL
			UNION ALL
			SELECT c.oid::regclass, 'sasl_user'
			FROM pg_catalog.pg_class AS c
			JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
			JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid
			WHERE ns.nspname = 'portmilter' AND c.relkind IN ('r', 'p')
			  AND NOT c.relispartition
			  AND c.relname NOT IN ('events', 'suspensions', 'alerts', 'usage',
						'watch_state')
			  AND a.attname = 'sasl_user' AND NOT a.attisdropped
			  AND a.atttypid = 'text'::regtype
		) AS u
		ORDER BY u.how <> 'events', u.relation::text
	$fn$;

	-- Pseudonymise one SASL user everywhere, in one transaction: a new
	-- random pseudonym "forgotten:UUID" (not derived from the name, never
	-- printed) replaces the name, so counts and "same user" stay right in
	-- every report while nothing leads back to the person. In the user's
	-- events also: sender and HELO emptied, the address reduced (as after
	-- reduce_days), the reverse name reduced, the name and the sender's
	-- address replaced in the reply text. Returns one row per table with
	-- the rows changed (0 when none: a second run changes nothing).
	CREATE FUNCTION portmilter.forget_user(p_user text)
	RETURNS TABLE (relation text, nrows bigint)
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		pseudonym text := 'forgotten:' || pg_catalog.gen_random_uuid();
		as_json text := pg_catalog.to_jsonb(p_user)::text;
		t record;
		n bigint;
	BEGIN
		IF p_user IS NULL OR p_user = '' THEN
			RAISE EXCEPTION 'forget_user: the user name is empty'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		FOR t IN SELECT * FROM portmilter.user_tables() LOOP
			CASE t.how
			WHEN 'events' THEN
				UPDATE portmilter.events AS e SET
					sasl_user = pseudonym, sasl_user_raw = NULL,
					reply = pg_catalog.replace(pg_catalog.replace(
						portmilter.reduce_text(e.reply, e.client_addr),
						COALESCE(pg_catalog.btrim(e.sender, '<>'), ''),
						'forgotten'), p_user, pseudonym),
					sender = NULL, sender_raw = NULL,
					helo = NULL, helo_raw = NULL,
					client_name = portmilter.reduce_name(e.client_name),
					client_name_raw = NULL,
					client_addr = portmilter.reduce_addr(e.client_addr)
				WHERE e.sasl_user = p_user;
			WHEN 'suspensions' THEN
				EXECUTE 'UPDATE portmilter.suspensions SET subject = $1, '
					'reason = pg_catalog.replace(reason, $2, $1) '
					'WHERE kind = ''user'' AND subject = $2'
					USING pseudonym, p_user;
			WHEN 'alerts' THEN
				EXECUTE 'UPDATE portmilter.alerts SET '
					'subject = CASE WHEN subject_kind = ''user'' AND subject = $2 '
					'THEN $1 ELSE subject END, '
					'summary = pg_catalog.replace(summary, $2, $1), '
					'evidence = pg_catalog.replace(evidence::text, $3, '
					'pg_catalog.to_jsonb($1)::text)::jsonb '
					'WHERE (subject_kind = ''user'' AND subject = $2) '
					'OR pg_catalog.strpos(evidence::text, $3) > 0'
					USING pseudonym, p_user, as_json;
			WHEN 'usage' THEN
				EXECUTE 'UPDATE portmilter.usage SET login = $1 '
					'WHERE login = $2' USING pseudonym, p_user;
			WHEN 'watch_state' THEN
				EXECUTE 'UPDATE portmilter.watch_state SET subject = $1 '
					'WHERE subject_kind = ''user'' AND subject = $2'
					USING pseudonym, p_user;
			ELSE
				EXECUTE pg_catalog.format('UPDATE %s SET sasl_user = $1 '
					'WHERE sasl_user = $2', t.relation)
					USING pseudonym, p_user;
			END CASE;
			GET DIAGNOSTICS n = ROW_COUNT;
			relation := t.relation::text; nrows := n;
			RETURN NEXT;
		END LOOP;
	END
	$fn$;

	-- Everything held about one SASL user, for a data-subject request:
	-- {"user", "exported_at", "retention": {raw_days, reduce_days},
	--  "data": {"portmilter.events": [rows in time order], ...}} with a
	-- key per table of user_tables() (an empty array when none).
	-- SECURITY INVOKER: the caller's SELECT privileges apply
	-- (portmilter_reader has them).
	CREATE FUNCTION portmilter.user_export(p_user text)
	RETURNS jsonb
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	AS $fn$
	DECLARE
		data jsonb := '{}';
		found_rows jsonb;
		t record;
	BEGIN
		FOR t IN SELECT * FROM portmilter.user_tables() LOOP
			CASE t.how
			WHEN 'events' THEN
				SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)
					ORDER BY e.event_time, e.event_id)
				INTO found_rows
				FROM portmilter.events AS e WHERE e.sasl_user = p_user;
			WHEN 'suspensions' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(s)) '
					'FROM portmilter.suspensions AS s '
					'WHERE s.kind = ''user'' AND s.subject = $1'
					INTO found_rows USING p_user;
			WHEN 'alerts' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a)) '
					'FROM portmilter.alerts AS a '
					'WHERE (a.subject_kind = ''user'' AND a.subject = $1) '
					'OR pg_catalog.strpos(a.evidence::text, $2) > 0'
					INTO found_rows USING p_user, pg_catalog.to_jsonb(p_user)::text;
			WHEN 'usage' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(u) '
					'ORDER BY u.at) FROM portmilter.usage AS u '
					'WHERE u.login = $1' INTO found_rows USING p_user;
			WHEN 'watch_state' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(w)) '
					'FROM portmilter.watch_state AS w '
					'WHERE w.subject_kind = ''user'' AND w.subject = $1'
					INTO found_rows USING p_user;
			ELSE
				EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg('
					'pg_catalog.to_jsonb(x)) FROM %s AS x '
					'WHERE x.sasl_user = $1', t.relation)
					INTO found_rows USING p_user;
			END CASE;
			data := data || pg_catalog.jsonb_build_object(t.relation::text,
				COALESCE(found_rows, '[]'::jsonb));
		END LOOP;
		RETURN pg_catalog.jsonb_build_object(
			'user', p_user,
			'exported_at', pg_catalog.now(),
			'retention', (SELECT pg_catalog.jsonb_build_object(
				'raw_days', s.raw_days, 'reduce_days', s.reduce_days)
				FROM portmilter.privacy_settings AS s),
			'data', data);
	END
	$fn$;

	REVOKE ALL ON FUNCTION portmilter.maintain_partitions() FROM PUBLIC;
	REVOKE ALL ON FUNCTION portmilter.reduce_partition(text, timestamptz) FROM PUBLIC;
	REVOKE ALL ON FUNCTION portmilter.forget_user(text) FROM PUBLIC;
	GRANT SELECT ON portmilter.privacy_settings TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (10);
END
$migration$;
