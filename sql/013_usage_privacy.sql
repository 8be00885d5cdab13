-- 013_usage_privacy.sql - the budgets' usage trigger made cheaper; its
-- client addresses reduced like the events'; one user forgotten or
-- exported whatever the case of the name (issue 14).
--
--   usage_from_events()  the function of the trigger events_usage (008):
--                        same rows as before, at a fraction of the cost.
--                        The login's ASCII folding was translate(), which
--                        walks its 26-letter lists for every character of
--                        every row (measured: 10 us a row, most of the
--                        trigger's cost on authenticated traffic); it is
--                        now lower() under the "C" collation, which folds
--                        A-Z and nothing else, byte by byte: the same
--                        result. The second is date_bin (plain arithmetic)
--                        instead of date_trunc (through the session's time
--                        zone): the same second. jit off: a statement of
--                        many rows (a raw COPY of a backfill) would
--                        otherwise pay a compilation for a query this
--                        simple. The trigger itself is unchanged: what a
--                        budget sees is what it saw.
--   reduce_usage(cutoff) client addresses in portmilter.usage older than
--                        cutoff reduced as the events' are (reduce_addr():
--                        IPv4 /24, IPv6 /48); run by `portmilter-report
--                        maintain` after the events' reduction. A reduced
--                        row no longer names a budget key: the milters and
--                        `portmilter-report limits` leave it out.
--   user_spellings(user) the names of the schema's tables that are this
--                        user's, ASCII case-insensitively as the milter and
--                        the suspensions fold a login (forget Alice also
--                        finds alice and ALICE; other letters are compared
--                        as they are)
--   forget_user(user), user_export(user)
--                        as in 010, on every spelling: one pseudonym for
--                        all of them; the export holds all of them and
--                        lists them ("spellings").
--   replace_names(text, names, by)
--                        every name replaced in a text (forget's free text)
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/013_usage_privacy.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 13.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 8)
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 10) THEN
		RAISE EXCEPTION 'portmilter: migration 013 needs 008 and 010 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 13) THEN
		RAISE NOTICE 'portmilter: migration 013 already applied, nothing done';
		RETURN;
	END IF;

	-- ---- the usage trigger's function -----------------------------------
	-- The key as milter/budget.c makes it (see 008): the SASL login in
	-- ASCII lower case (lower() under "C" changes A-Z only), else the
	-- client address (IPv4, also when IPv4-mapped) or its /64 (IPv6).
	-- date_bin from an origin on a whole second is date_trunc('second').
	CREATE OR REPLACE FUNCTION portmilter.usage_from_events()
	RETURNS trigger
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET jit = off
	AS $fn$
	BEGIN
		INSERT INTO portmilter.usage (node, at, port, login, client,
					      messages, recipients, kbytes)
		SELECT n.node,
		       pg_catalog.date_bin('1 second', n.event_time,
					   timestamptz '2000-01-01 00:00:00+00'),
		       n.port,
		       CASE WHEN n.sasl_user <> '' THEN
			pg_catalog.lower(n.sasl_user COLLATE pg_catalog."C") END,
		       CASE WHEN COALESCE(n.sasl_user, '') = '' THEN
			CASE WHEN pg_catalog.family(n.client_addr) = 4 THEN
				pg_catalog.set_masklen(n.client_addr, 32)
			-- IPv4-mapped: the IPv4 address, as lib/addr.c takes it
			WHEN n.client_addr <<= inet '::ffff:0.0.0.0/96' THEN
				pg_catalog.substr(pg_catalog.host(n.client_addr),
						  8)::inet
			ELSE pg_catalog.network(pg_catalog.set_masklen(
				n.client_addr, 64))::inet END END,
		       pg_catalog.count(*), COALESCE(pg_catalog.sum(n.nrcpt), 0),
		       COALESCE(pg_catalog.sum((COALESCE(n.size, 0) + 1023) / 1024), 0)
		FROM new_events AS n
		WHERE n.kind = 'transaction' AND n.verdict = 'accepted'
		  AND (n.sasl_user <> '' OR n.client_addr IS NOT NULL)
		GROUP BY 1, 2, 3, 4, 5;
		RETURN NULL;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.usage_from_events() FROM PUBLIC;

	-- ---- usage addresses reduced ------------------------------------------
	-- Rows older than p_cutoff whose address is still a key (IPv4 /32,
	-- IPv6 /64) get its network (reduce_addr()); returns how many. The
	-- rows keep their xid: a milter that read them whole does not read
	-- them again.
	CREATE FUNCTION portmilter.reduce_usage(p_cutoff timestamptz)
	RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		n bigint;
	BEGIN
		IF p_cutoff IS NULL THEN
			RAISE EXCEPTION 'reduce_usage: the cutoff is NULL'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		UPDATE portmilter.usage AS u
		   SET client = portmilter.reduce_addr(u.client)
		 WHERE u.at < p_cutoff AND u.client IS NOT NULL
		   AND portmilter.addr_is_full(u.client);
		GET DIAGNOSTICS n = ROW_COUNT;
		RETURN n;
	END
	$fn$;
	COMMENT ON FUNCTION portmilter.reduce_usage(timestamptz) IS
		'client addresses of portmilter.usage older than the cutoff reduced '
		'to /24 (IPv4) or /48 (IPv6); returns how many rows changed';
	REVOKE ALL ON FUNCTION portmilter.reduce_usage(timestamptz) FROM PUBLIC;

	-- ---- one user, whatever the case of the name --------------------------
	-- Every name held in the tables of user_tables() that equals p_user
	-- once ASCII letters are folded to lower case, and p_user itself;
	-- sorted, no duplicate. The events are searched through their
	-- (sasl_user, event_time) index (an index-only scan where the
	-- visibility map allows), not row by row.
	CREATE FUNCTION portmilter.user_spellings(p_user text)
	RETURNS text[]
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		folded text := pg_catalog.lower(p_user COLLATE pg_catalog."C");
		names text[] := ARRAY[p_user];
		found_names text[];
		t record;
	BEGIN
		FOR t IN SELECT * FROM portmilter.user_tables() LOOP
			CASE t.how
			WHEN 'events' THEN
				SELECT pg_catalog.array_agg(DISTINCT e.sasl_user)
				INTO found_names
				FROM portmilter.events AS e
				WHERE e.sasl_user IS NOT NULL
				  AND pg_catalog.lower(e.sasl_user COLLATE pg_catalog."C") = folded;
			WHEN 'suspensions' THEN
				EXECUTE 'SELECT pg_catalog.array_agg(DISTINCT s.subject) '
					'FROM portmilter.suspensions AS s WHERE s.kind = ''user'' '
					'AND pg_catalog.lower(s.subject COLLATE pg_catalog."C") = $1'
					INTO found_names USING folded;
			WHEN 'alerts' THEN
				EXECUTE 'SELECT pg_catalog.array_agg(DISTINCT a.subject) '
					'FROM portmilter.alerts AS a WHERE a.subject_kind = ''user'' '
					'AND pg_catalog.lower(a.subject COLLATE pg_catalog."C") = $1'
					INTO found_names USING folded;
			WHEN 'usage' THEN
				EXECUTE 'SELECT pg_catalog.array_agg(DISTINCT u.login) '
					'FROM portmilter.usage AS u '
					'WHERE pg_catalog.lower(u.login COLLATE pg_catalog."C") = $1'
					INTO found_names USING folded;
			WHEN 'watch_state' THEN
				EXECUTE 'SELECT pg_catalog.array_agg(DISTINCT w.subject) '
					'FROM portmilter.watch_state AS w WHERE w.subject_kind = ''user'' '
					'AND pg_catalog.lower(w.subject COLLATE pg_catalog."C") = $1'
					INTO found_names USING folded;
			ELSE
				EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg('
					'DISTINCT x.sasl_user) FROM %s AS x '
					'WHERE pg_catalog.lower(x.sasl_user COLLATE pg_catalog."C") = $1',
					t.relation)
					INTO found_names USING folded;
			END CASE;
			names := names || COALESCE(found_names, '{}');
		END LOOP;
		RETURN ARRAY(SELECT d.x FROM (SELECT DISTINCT x
			     FROM pg_catalog.unnest(names) AS x) AS d
			     ORDER BY d.x COLLATE pg_catalog."C");
	END
	$fn$;
	COMMENT ON FUNCTION portmilter.user_spellings(text) IS
		'the names held that are this user''s (ASCII case-insensitive, as '
		'the milter folds a login), and the name itself';

	-- Every name of p_names in t replaced by p_by, in one pass (a name
	-- cannot match inside the replacement); t when p_names is empty.
	CREATE FUNCTION portmilter.replace_names(t text, p_names text[], p_by text)
	RETURNS text
	LANGUAGE plpgsql
	IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		name text;
	BEGIN
		IF t IS NULL OR p_names IS NULL THEN
			RETURN t;
		END IF;
		FOREACH name IN ARRAY p_names LOOP
			t := pg_catalog.replace(t, name, pg_catalog.chr(1));
		END LOOP;
		RETURN pg_catalog.replace(t, pg_catalog.chr(1), p_by);
	END
	$fn$;

	-- As 010's, on every spelling of the name (user_spellings()): one
	-- pseudonym for all of them, and every spelling replaced in the free
	-- text of the rows changed (replies, suspension reasons, alert
	-- summaries and evidence).
	CREATE OR REPLACE FUNCTION portmilter.forget_user(p_user text)
	RETURNS TABLE (relation text, nrows bigint)
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		pseudonym text := 'forgotten:' || pg_catalog.gen_random_uuid();
		names text[];
		jnames text[];
		t record;
		n bigint;
	BEGIN
		IF p_user IS NULL OR p_user = '' THEN
			RAISE EXCEPTION 'forget_user: the user name is empty'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		names := portmilter.user_spellings(p_user);
		jnames := ARRAY(SELECT pg_catalog.to_jsonb(x)::text
				FROM pg_catalog.unnest(names) AS x);
		FOR t IN SELECT * FROM portmilter.user_tables() LOOP
			CASE t.how
			WHEN 'events' THEN
				UPDATE portmilter.events AS e SET
					sasl_user = pseudonym, sasl_user_raw = NULL,
					reply = portmilter.replace_names(pg_catalog.replace(
						portmilter.reduce_text(e.reply, e.client_addr),
						COALESCE(pg_catalog.btrim(e.sender, '<>'), ''),
						'forgotten'), names, pseudonym),
					sender = NULL, sender_raw = NULL,
					helo = NULL, helo_raw = NULL,
					client_name = portmilter.reduce_name(e.client_name),
					client_name_raw = NULL,
					client_addr = portmilter.reduce_addr(e.client_addr)
				WHERE e.sasl_user = ANY (names);
			WHEN 'suspensions' THEN
				EXECUTE 'UPDATE portmilter.suspensions SET subject = $1, '
					'reason = portmilter.replace_names(reason, $2, $1) '
					'WHERE kind = ''user'' AND subject = ANY ($2)'
					USING pseudonym, names;
			WHEN 'alerts' THEN
				EXECUTE 'UPDATE portmilter.alerts SET '
					'subject = CASE WHEN subject_kind = ''user'' AND subject = ANY ($2) '
					'THEN $1 ELSE subject END, '
					'summary = portmilter.replace_names(summary, $2, $1), '
					'evidence = portmilter.replace_names(evidence::text, $3, '
					'pg_catalog.to_jsonb($1)::text)::jsonb '
					'WHERE (subject_kind = ''user'' AND subject = ANY ($2)) '
					'OR EXISTS (SELECT FROM pg_catalog.unnest($3) AS j '
					'WHERE pg_catalog.strpos(evidence::text, j) > 0)'
					USING pseudonym, names, jnames;
			WHEN 'usage' THEN
				EXECUTE 'UPDATE portmilter.usage SET login = $1 '
					'WHERE login = ANY ($2)' USING pseudonym, names;
			WHEN 'watch_state' THEN
				EXECUTE 'UPDATE portmilter.watch_state SET subject = $1 '
					'WHERE subject_kind = ''user'' AND subject = ANY ($2)'
					USING pseudonym, names;
			ELSE
				EXECUTE pg_catalog.format('UPDATE %s SET sasl_user = $1 '
					'WHERE sasl_user = ANY ($2)', t.relation)
					USING pseudonym, names;
			END CASE;
			GET DIAGNOSTICS n = ROW_COUNT;
			relation := t.relation::text; nrows := n;
			RETURN NEXT;
		END LOOP;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.forget_user(text) FROM PUBLIC;

	-- As 010's, on every spelling of the name: "user" is the name asked
	-- for, "spellings" the names found (user_spellings()).
	CREATE OR REPLACE FUNCTION portmilter.user_export(p_user text)
	RETURNS jsonb
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET DateStyle = 'ISO, YMD'
	AS $fn$
	DECLARE
		names text[] := portmilter.user_spellings(p_user);
		jnames text[];
		data jsonb := '{}';
		found_rows jsonb;
		t record;
	BEGIN
		jnames := ARRAY(SELECT pg_catalog.to_jsonb(x)::text
				FROM pg_catalog.unnest(names) AS x);
		FOR t IN SELECT * FROM portmilter.user_tables() LOOP
			CASE t.how
			WHEN 'events' THEN
				SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)
					ORDER BY e.event_time, e.event_id)
				INTO found_rows
				FROM portmilter.events AS e WHERE e.sasl_user = ANY (names);
			WHEN 'suspensions' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(s)) '
					'FROM portmilter.suspensions AS s '
					'WHERE s.kind = ''user'' AND s.subject = ANY ($1)'
					INTO found_rows USING names;
			WHEN 'alerts' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(a)) '
					'FROM portmilter.alerts AS a '
					'WHERE (a.subject_kind = ''user'' AND a.subject = ANY ($1)) '
					'OR EXISTS (SELECT FROM pg_catalog.unnest($2::text[]) AS j '
					'WHERE pg_catalog.strpos(a.evidence::text, j) > 0)'
					INTO found_rows USING names, jnames;
			WHEN 'usage' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(u) '
					'ORDER BY u.at) FROM portmilter.usage AS u '
					'WHERE u.login = ANY ($1)' INTO found_rows USING names;
			WHEN 'watch_state' THEN
				EXECUTE 'SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(w)) '
					'FROM portmilter.watch_state AS w '
					'WHERE w.subject_kind = ''user'' AND w.subject = ANY ($1)'
					INTO found_rows USING names;
			ELSE
				EXECUTE pg_catalog.format('SELECT pg_catalog.jsonb_agg('
					'pg_catalog.to_jsonb(x)) FROM %s AS x '
					'WHERE x.sasl_user = ANY ($1)', t.relation)
					INTO found_rows USING names;
			END CASE;
			data := data || pg_catalog.jsonb_build_object(t.relation::text,
				COALESCE(found_rows, '[]'::jsonb));
		END LOOP;
		RETURN pg_catalog.jsonb_build_object(
			'user', p_user,
			'spellings', pg_catalog.to_jsonb(names),
			'exported_at', pg_catalog.now(),
			'retention', (SELECT pg_catalog.jsonb_build_object(
				'raw_days', s.raw_days, 'reduce_days', s.reduce_days)
				FROM portmilter.privacy_settings AS s),
			'data', data);
	END
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (13);
END
$migration$;
