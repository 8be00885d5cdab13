-- 016_ports_fast.sql - `ports` over a year in well under a second at
-- 10 M events (issue 14): the distinct users and addresses of the
-- rollups (014) kept as one row per port and key for all time, not one
-- per port, key and calendar year.
--
-- 014 kept, per calendar year, port and key (SASL user, client
-- address), a bit(366) of the days the key was seen. Over a year the
-- report read every key of both calendar years the window touches and
-- anti-joined the first year's keys against the second's: 2.1 s at 1 M
-- events, 2.6 s at 3 M, growing with the keys of two years.
--
-- Here rollup_users and rollup_ips hold one row per port and key:
--
--   first_day, last_day  the first and the last day the key was seen
--                        (days rolled up)
--   days                 bit varying, one bit per day from first_day to
--                        last_day (bit 0 = first_day): both ends are 1
--
-- A key counts for a set D of clean whole days (rollup_parts()) if it
-- was seen on one of them. Every key whose last day is in D was:
-- rollup_last (below) holds how many keys end on each day and port, so
-- those are summed, not read. The only keys read are those ending after
-- D or on a dirty day among D's days (the index on last_day), checked
-- with rollup_meets() (its first day in D, else its bitmap against a
-- mask of D over the days they share), and the keys of the raw part.
-- A window ending today reads almost no key, whatever its length. See
-- doc/DESIGN.md, "Rollups".
--
-- rollup_day() (the catch-up's per-day recompute) is replaced: it sets
-- the day's bit of every key seen that day (extending first_day or
-- last_day), and, when the day had been rolled up before, clears it for
-- the keys no longer seen (trimming the ends; a key seen on no day any
-- more is deleted: an address reduced by maintain, a user renamed by an
-- UPDATE leave no row behind). forget_user() renames every spelling of
-- a user to one pseudonym, which would give one port two rows of one
-- key (a unique violation in 014): a trigger merges them.
--
-- The rows of 014 are converted (a key's years joined into one bitmap),
-- so days kept past the raw retention keep their keys.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/016_ports_fast.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 16.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 14) THEN
		RAISE EXCEPTION 'portmilter: migration 016 needs 001 to 014 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 16) THEN
		RAISE NOTICE 'portmilter: migration 016 already applied, nothing done';
		RETURN;
	END IF;

	-- ---- the tables -----------------------------------------------------
	ALTER TABLE portmilter.rollup_users RENAME TO rollup_users_014;
	ALTER INDEX portmilter.rollup_users_pkey RENAME TO rollup_users_014_pkey;
	ALTER TABLE portmilter.rollup_ips RENAME TO rollup_ips_014;
	ALTER INDEX portmilter.rollup_ips_pkey RENAME TO rollup_ips_014_pkey;

	CREATE TABLE portmilter.rollup_users (
		port integer NOT NULL,
		sasl_user text NOT NULL,
		first_day date NOT NULL,
		last_day date NOT NULL,
		days bit varying NOT NULL,
		CONSTRAINT rollup_users_pkey PRIMARY KEY (port, sasl_user),
		CONSTRAINT rollup_users_days_check CHECK (
			pg_catalog.length(days) = last_day - first_day + 1
			AND pg_catalog.get_bit(days, 0) = 1
			AND pg_catalog.get_bit(days, last_day - first_day) = 1)
	);
	CREATE INDEX rollup_users_last_idx
		ON portmilter.rollup_users (last_day);
	COMMENT ON TABLE portmilter.rollup_users IS
		'per port and SASL user: the days it was seen, from first_day to '
		'last_day (bit 0 of days = first_day); the column is named '
		'sasl_user so that forget_user() renames it';
	CREATE TABLE portmilter.rollup_ips (
		port integer NOT NULL,
		client_addr inet NOT NULL,
		first_day date NOT NULL,
		last_day date NOT NULL,
		days bit varying NOT NULL,
		CONSTRAINT rollup_ips_pkey PRIMARY KEY (port, client_addr),
		CONSTRAINT rollup_ips_days_check CHECK (
			pg_catalog.length(days) = last_day - first_day + 1
			AND pg_catalog.get_bit(days, 0) = 1
			AND pg_catalog.get_bit(days, last_day - first_day) = 1)
	);
	CREATE INDEX rollup_ips_last_idx
		ON portmilter.rollup_ips (last_day);
	COMMENT ON TABLE portmilter.rollup_ips IS
		'per port and client address: the days it was seen, from first_day '
		'to last_day (bit 0 of days = first_day)';

	-- 014's rows: per key, its years (bit 0 = 1 January, 365 or 366
	-- days each, zeros for the years between) joined, then cut to the
	-- first and last 1. A key with no day left is not carried over.
	INSERT INTO portmilter.rollup_users (port, sasl_user, first_day, last_day, days)
	SELECT s.port, s.sasl_user, s.base + s.p - 1, s.base + s.q - 1,
	       pg_catalog.substr(s.bits, s.p, s.q - s.p + 1)::bit varying
	FROM (
		SELECT j.port, j.sasl_user, j.base, j.bits,
		       pg_catalog.strpos(j.bits, '1') AS p,
		       pg_catalog.length(j.bits)
			- pg_catalog.strpos(pg_catalog.reverse(j.bits), '1') + 1 AS q
		FROM (
			SELECT o.port, o.sasl_user,
			       pg_catalog.make_date(min(o.year), 1, 1) AS base,
			       pg_catalog.string_agg(o.bits, '' ORDER BY o.year) AS bits
			FROM (
				SELECT x.port, x.sasl_user, x.year,
				       pg_catalog.repeat('0', pg_catalog.make_date(x.year, 1, 1)
					- pg_catalog.make_date(COALESCE(pg_catalog.lag(x.year)
						OVER (PARTITION BY x.port, x.sasl_user ORDER BY x.year)
						+ 1, x.year), 1, 1))
				       || pg_catalog.substr(x.days::text, 1,
					pg_catalog.make_date(x.year + 1, 1, 1)
					- pg_catalog.make_date(x.year, 1, 1)) AS bits
				FROM portmilter.rollup_users_014 AS x
			) AS o
			GROUP BY o.port, o.sasl_user
		) AS j
	) AS s
	WHERE s.p > 0;
	INSERT INTO portmilter.rollup_ips (port, client_addr, first_day, last_day, days)
	SELECT s.port, s.client_addr, s.base + s.p - 1, s.base + s.q - 1,
	       pg_catalog.substr(s.bits, s.p, s.q - s.p + 1)::bit varying
	FROM (
		SELECT j.port, j.client_addr, j.base, j.bits,
		       pg_catalog.strpos(j.bits, '1') AS p,
		       pg_catalog.length(j.bits)
			- pg_catalog.strpos(pg_catalog.reverse(j.bits), '1') + 1 AS q
		FROM (
			SELECT o.port, o.client_addr,
			       pg_catalog.make_date(min(o.year), 1, 1) AS base,
			       pg_catalog.string_agg(o.bits, '' ORDER BY o.year) AS bits
			FROM (
				SELECT x.port, x.client_addr, x.year,
				       pg_catalog.repeat('0', pg_catalog.make_date(x.year, 1, 1)
					- pg_catalog.make_date(COALESCE(pg_catalog.lag(x.year)
						OVER (PARTITION BY x.port, x.client_addr ORDER BY x.year)
						+ 1, x.year), 1, 1))
				       || pg_catalog.substr(x.days::text, 1,
					pg_catalog.make_date(x.year + 1, 1, 1)
					- pg_catalog.make_date(x.year, 1, 1)) AS bits
				FROM portmilter.rollup_ips_014 AS x
			) AS o
			GROUP BY o.port, o.client_addr
		) AS j
	) AS s
	WHERE s.p > 0;
	DROP TABLE portmilter.rollup_users_014;
	DROP TABLE portmilter.rollup_ips_014;

	-- How many keys end on each day: what a window counts without
	-- reading the keys (every key whose last day is a clean day of the
	-- window was seen in it). Kept by statement triggers on the two
	-- tables, whatever writes them (the catch-up, the merge below, an
	-- UPDATE by hand), in the writer's transaction.
	CREATE TABLE portmilter.rollup_last (
		what text NOT NULL CHECK (what IN ('user', 'ip')),
		day date NOT NULL,
		port integer NOT NULL,
		n bigint NOT NULL CHECK (n > 0),
		PRIMARY KEY (what, day, port)
	);
	COMMENT ON TABLE portmilter.rollup_last IS
		'per kind of key (user: rollup_users, ip: rollup_ips), day and '
		'port: how many keys have that last_day (triggers on both tables)';
	INSERT INTO portmilter.rollup_last (what, day, port, n)
	SELECT 'user', u.last_day, u.port, count(*) FROM portmilter.rollup_users AS u
	GROUP BY u.last_day, u.port;
	INSERT INTO portmilter.rollup_last (what, day, port, n)
	SELECT 'ip', u.last_day, u.port, count(*) FROM portmilter.rollup_ips AS u
	GROUP BY u.last_day, u.port;

	-- The keys' rows that came (rollup_new) and went (rollup_old) in one
	-- statement, counted per last day and port (TG_ARGV[0]: user or ip):
	-- only the differences are written (most UPDATEs set a day inside
	-- a key's range, or move as many keys to a day as from it), a count
	-- falling to 0 is deleted.
	CREATE FUNCTION portmilter.rollup_last_count()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF TG_OP = 'INSERT' THEN
			INSERT INTO portmilter.rollup_last AS r (what, day, port, n)
			SELECT TG_ARGV[0], k.last_day, k.port, count(*)
			FROM rollup_new AS k
			GROUP BY k.last_day, k.port ORDER BY 2, 3
			ON CONFLICT (what, day, port) DO UPDATE SET n = r.n + excluded.n;
		ELSIF TG_OP = 'DELETE' THEN
			WITH d AS MATERIALIZED (
				SELECT k.last_day AS day, k.port, count(*) AS n
				FROM rollup_old AS k GROUP BY 1, 2
			), less AS (
				UPDATE portmilter.rollup_last AS r SET n = r.n - d.n
				FROM d
				WHERE r.what = TG_ARGV[0] AND r.day = d.day
				  AND r.port = d.port AND r.n > d.n
			)
			DELETE FROM portmilter.rollup_last AS r USING d
			WHERE r.what = TG_ARGV[0] AND r.day = d.day
			  AND r.port = d.port AND r.n = d.n;
		ELSE
			WITH d AS MATERIALIZED (
				SELECT x.day, x.port, sum(x.n) AS n
				FROM (SELECT k.last_day AS day, k.port, 1 AS n
				      FROM rollup_new AS k
				      UNION ALL
				      SELECT k.last_day, k.port, -1 FROM rollup_old AS k) AS x
				GROUP BY x.day, x.port HAVING sum(x.n) <> 0
			), more AS (
				INSERT INTO portmilter.rollup_last AS r (what, day, port, n)
				SELECT TG_ARGV[0], d.day, d.port, d.n FROM d
				WHERE d.n > 0 ORDER BY 2, 3
				ON CONFLICT (what, day, port) DO UPDATE SET n = r.n + excluded.n
			), less AS (
				UPDATE portmilter.rollup_last AS r SET n = r.n + d.n
				FROM d
				WHERE d.n < 0 AND r.what = TG_ARGV[0] AND r.day = d.day
				  AND r.port = d.port AND r.n > -d.n
			)
			DELETE FROM portmilter.rollup_last AS r USING d
			WHERE d.n < 0 AND r.what = TG_ARGV[0] AND r.day = d.day
			  AND r.port = d.port AND r.n = -d.n;
		END IF;
		RETURN NULL;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_last_count() FROM PUBLIC;
	CREATE TRIGGER rollup_last_ins AFTER INSERT ON portmilter.rollup_users
		REFERENCING NEW TABLE AS rollup_new FOR EACH STATEMENT
		EXECUTE FUNCTION portmilter.rollup_last_count('user');
	CREATE TRIGGER rollup_last_upd AFTER UPDATE ON portmilter.rollup_users
		REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_last_count('user');
	CREATE TRIGGER rollup_last_del AFTER DELETE ON portmilter.rollup_users
		REFERENCING OLD TABLE AS rollup_old FOR EACH STATEMENT
		EXECUTE FUNCTION portmilter.rollup_last_count('user');
	CREATE TRIGGER rollup_last_ins AFTER INSERT ON portmilter.rollup_ips
		REFERENCING NEW TABLE AS rollup_new FOR EACH STATEMENT
		EXECUTE FUNCTION portmilter.rollup_last_count('ip');
	CREATE TRIGGER rollup_last_upd AFTER UPDATE ON portmilter.rollup_ips
		REFERENCING OLD TABLE AS rollup_old NEW TABLE AS rollup_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_last_count('ip');
	CREATE TRIGGER rollup_last_del AFTER DELETE ON portmilter.rollup_ips
		REFERENCING OLD TABLE AS rollup_old FOR EACH STATEMENT
		EXECUTE FUNCTION portmilter.rollup_last_count('ip');

	GRANT SELECT ON portmilter.rollup_users, portmilter.rollup_ips,
		portmilter.rollup_last TO portmilter_reader;

	-- forget_user() (010, 013) renames sasl_user with one UPDATE of
	-- every spelling of the name: two spellings seen on one port would
	-- become two rows of one key (014 failed there, a unique violation).
	-- Before a row takes the name of a row that exists, its days are
	-- merged into that row and it is deleted instead (its UPDATE
	-- skipped).
	CREATE FUNCTION portmilter.rollup_users_merge()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF (NEW.port, NEW.sasl_user) IS NOT DISTINCT FROM (OLD.port, OLD.sasl_user) THEN
			RETURN NEW;
		END IF;
		UPDATE portmilter.rollup_users AS u
		SET first_day = LEAST(u.first_day, NEW.first_day),
		    last_day = GREATEST(u.last_day, NEW.last_day),
		    days = (pg_catalog.repeat('0', u.first_day
				- LEAST(u.first_day, NEW.first_day))::bit varying
			    || u.days
			    || pg_catalog.repeat('0', GREATEST(u.last_day, NEW.last_day)
				- u.last_day)::bit varying)
			 | (pg_catalog.repeat('0', NEW.first_day
				- LEAST(u.first_day, NEW.first_day))::bit varying
			    || NEW.days
			    || pg_catalog.repeat('0', GREATEST(u.last_day, NEW.last_day)
				- NEW.last_day)::bit varying)
		WHERE u.port = NEW.port AND u.sasl_user = NEW.sasl_user;
		IF NOT FOUND THEN
			RETURN NEW;
		END IF;
		DELETE FROM portmilter.rollup_users AS u
		WHERE u.port = OLD.port AND u.sasl_user = OLD.sasl_user;
		RETURN NULL;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_users_merge() FROM PUBLIC;
	CREATE TRIGGER rollup_users_merge
		BEFORE UPDATE OF sasl_user ON portmilter.rollup_users
		FOR EACH ROW EXECUTE FUNCTION portmilter.rollup_users_merge();

	-- A key counts for a set of days given as the mask p_mask (bit i =
	-- day p_lo + i, p_hi the last): its first or its last day is one of
	-- them, or its days meet them. The CASE keeps the bit lookups within
	-- both strings. An SQL function the planner inlines (no SET, no
	-- STRICT): one expression per row, no call.
	CREATE FUNCTION portmilter.rollup_meets(p_first date, p_last date,
		p_days bit varying, p_lo date, p_hi date, p_mask bit varying)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT CASE
		WHEN p_mask IS NULL OR p_last < p_lo OR p_first > p_hi THEN false
		WHEN CASE WHEN p_first >= p_lo
			  THEN pg_catalog.get_bit(p_mask, p_first - p_lo) = 1
			  ELSE false END THEN true
		WHEN CASE WHEN p_last <= p_hi
			  THEN pg_catalog.get_bit(p_mask, p_last - p_lo) = 1
			  ELSE false END THEN true
		ELSE pg_catalog.bit_count(
			pg_catalog.substring(p_days, GREATEST(p_lo - p_first, 0) + 1,
				LEAST(p_last, p_hi) - GREATEST(p_first, p_lo) + 1)
			& pg_catalog.substring(p_mask, GREATEST(p_first - p_lo, 0) + 1,
				LEAST(p_last, p_hi) - GREATEST(p_first, p_lo) + 1)) > 0
		END
	$fn$;

	-- ---- catch-up -----------------------------------------------------------
	-- As in 014 for the additive counts and the connections; the users
	-- and addresses as above.
	CREATE OR REPLACE FUNCTION portmilter.rollup_day(p_day date)
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		t0 timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
		t1 timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
		lo timestamptz;
		hi timestamptz;
		-- Bits of this day are set only if it was rolled up with
		-- events: else clearing them (a scan of the keys seen before
		-- and after it) is skipped.
		was boolean := EXISTS (SELECT FROM portmilter.rollup_days AS x
				       WHERE x.day = p_day);
	BEGIN
		DELETE FROM portmilter.rollup_port_day WHERE day = p_day;
		DELETE FROM portmilter.rollup_rule_day WHERE day = p_day;
		DELETE FROM portmilter.rollup_conn_days WHERE day = p_day;

		-- The counting conventions of sql/005_logreader.sql.
		INSERT INTO portmilter.rollup_port_day
		SELECT p_day, e.port, count(*),
		       count(DISTINCT e.conn_id) FILTER (WHERE e.kind IN
			('transaction', 'connection')),
		       count(*) FILTER (WHERE e.kind = 'transaction'),
		       count(*) FILTER (WHERE e.verdict = 'accepted'),
		       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))),
		       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
			('transaction', 'connection')),
		       count(*) FILTER (WHERE e.credential_exposure),
		       count(*) FILTER (WHERE e.kind = 'auth_failure'),
		       count(*) FILTER (WHERE e.kind = 'refused' AND e.rule NOT IN
			('postfix_rcpt', 'postfix_data', 'postfix_bdat',
			 'postfix_end-of-message')),
		       count(*) FILTER (WHERE e.kind = 'tls_failure'),
		       count(*) FILTER (WHERE e.kind = 'transaction'
					AND e.sasl_method IS NOT NULL),
		       count(DISTINCT e.sasl_user) FILTER (WHERE e.kind = 'transaction'
					AND e.sasl_method IS NOT NULL)
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		GROUP BY e.port;

		INSERT INTO portmilter.rollup_rule_day
		SELECT p_day, e.port, COALESCE(e.rule, '(none)'), count(*)
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.verdict = 'rejected'
		  AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
			AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					   'postfix_end-of-message')))
		GROUP BY 2, 3;

		IF EXISTS (SELECT FROM portmilter.rollup_port_day WHERE day = p_day) THEN
			INSERT INTO portmilter.rollup_days VALUES (p_day)
			ON CONFLICT DO NOTHING;
		ELSE
			DELETE FROM portmilter.rollup_days WHERE day = p_day;
		END IF;

		-- Users, then addresses, one statement each (the parts touch
		-- disjoint rows): cur, the keys seen this day; old, the keys
		-- whose bit of this day is set but are no longer seen (only if
		-- the day was rolled up before); their bit cleared (the row
		-- deleted if it was its only day, else its ends trimmed to the
		-- nearest 1); the keys of cur whose bit is not set get it (the
		-- bitmap extended at either end), the new ones a row.
		WITH cur AS MATERIALIZED (
			SELECT DISTINCT e.port, e.sasl_user
			FROM portmilter.events AS e
			WHERE e.event_time >= t0 AND e.event_time < t1
			  AND e.kind IN ('transaction', 'connection')
			  AND e.sasl_user IS NOT NULL
		), old AS MATERIALIZED (
			SELECT u.port, u.sasl_user, u.first_day, u.last_day,
			       pg_catalog.set_bit(u.days, p_day - u.first_day, 0) AS b
			FROM portmilter.rollup_users AS u
			WHERE was AND u.last_day >= p_day AND u.first_day <= p_day
			  AND CASE WHEN u.last_day >= p_day AND u.first_day <= p_day
			      THEN pg_catalog.get_bit(u.days, p_day - u.first_day) = 1 END
			  AND NOT EXISTS (SELECT FROM cur WHERE cur.port = u.port
					  AND cur.sasl_user = u.sasl_user)
		), dropped AS (
			DELETE FROM portmilter.rollup_users AS u USING old
			WHERE old.first_day = old.last_day
			  AND u.port = old.port AND u.sasl_user = old.sasl_user
		), trimmed AS (
			UPDATE portmilter.rollup_users AS u
			SET first_day = t.first_day + t.p - 1,
			    last_day = t.first_day + t.q - 1,
			    days = pg_catalog.substring(t.b, t.p, t.q - t.p + 1)
			FROM (SELECT old.port, old.sasl_user, old.first_day, old.b,
				     pg_catalog.strpos(old.b::text, '1') AS p,
				     pg_catalog.length(old.b) - pg_catalog.strpos(
					pg_catalog.reverse(old.b::text), '1') + 1 AS q
			      FROM old WHERE old.first_day < old.last_day) AS t
			WHERE u.port = t.port AND u.sasl_user = t.sasl_user
		)
		INSERT INTO portmilter.rollup_users AS u (port, sasl_user, first_day, last_day, days)
		SELECT cur.port, cur.sasl_user, p_day, p_day, B'1' FROM cur
		ON CONFLICT (port, sasl_user) DO UPDATE
		SET first_day = LEAST(u.first_day, p_day),
		    last_day = GREATEST(u.last_day, p_day),
		    days = CASE
			WHEN p_day < u.first_day THEN B'1'
				|| pg_catalog.repeat('0', u.first_day - p_day - 1)::bit varying
				|| u.days
			WHEN p_day > u.last_day THEN u.days
				|| pg_catalog.repeat('0', p_day - u.last_day - 1)::bit varying
				|| B'1'
			ELSE pg_catalog.set_bit(u.days, p_day - u.first_day, 1) END
		WHERE CASE WHEN u.first_day <= p_day AND u.last_day >= p_day
		      THEN pg_catalog.get_bit(u.days, p_day - u.first_day) = 0
		      ELSE true END;

		WITH cur AS MATERIALIZED (
			SELECT DISTINCT e.port, e.client_addr
			FROM portmilter.events AS e
			WHERE e.event_time >= t0 AND e.event_time < t1
			  AND e.client_addr IS NOT NULL
		), old AS MATERIALIZED (
			SELECT u.port, u.client_addr, u.first_day, u.last_day,
			       pg_catalog.set_bit(u.days, p_day - u.first_day, 0) AS b
			FROM portmilter.rollup_ips AS u
			WHERE was AND u.last_day >= p_day AND u.first_day <= p_day
			  AND CASE WHEN u.last_day >= p_day AND u.first_day <= p_day
			      THEN pg_catalog.get_bit(u.days, p_day - u.first_day) = 1 END
			  AND NOT EXISTS (SELECT FROM cur WHERE cur.port = u.port
					  AND cur.client_addr = u.client_addr)
		), dropped AS (
			DELETE FROM portmilter.rollup_ips AS u USING old
			WHERE old.first_day = old.last_day
			  AND u.port = old.port AND u.client_addr = old.client_addr
		), trimmed AS (
			UPDATE portmilter.rollup_ips AS u
			SET first_day = t.first_day + t.p - 1,
			    last_day = t.first_day + t.q - 1,
			    days = pg_catalog.substring(t.b, t.p, t.q - t.p + 1)
			FROM (SELECT old.port, old.client_addr, old.first_day, old.b,
				     pg_catalog.strpos(old.b::text, '1') AS p,
				     pg_catalog.length(old.b) - pg_catalog.strpos(
					pg_catalog.reverse(old.b::text), '1') + 1 AS q
			      FROM old WHERE old.first_day < old.last_day) AS t
			WHERE u.port = t.port AND u.client_addr = t.client_addr
		)
		INSERT INTO portmilter.rollup_ips AS u (port, client_addr, first_day, last_day, days)
		SELECT cur.port, cur.client_addr, p_day, p_day, B'1' FROM cur
		ON CONFLICT (port, client_addr) DO UPDATE
		SET first_day = LEAST(u.first_day, p_day),
		    last_day = GREATEST(u.last_day, p_day),
		    days = CASE
			WHEN p_day < u.first_day THEN B'1'
				|| pg_catalog.repeat('0', u.first_day - p_day - 1)::bit varying
				|| u.days
			WHEN p_day > u.last_day THEN u.days
				|| pg_catalog.repeat('0', p_day - u.last_day - 1)::bit varying
				|| B'1'
			ELSE pg_catalog.set_bit(u.days, p_day - u.first_day, 1) END
		WHERE CASE WHEN u.first_day <= p_day AND u.last_day >= p_day
		      THEN pg_catalog.get_bit(u.days, p_day - u.first_day) = 0
		      ELSE true END;

		-- Connections seen here but not on their conn_time's day: every
		-- day they were seen between the two (those beyond are added
		-- when their own day is rolled up), this one included.
		SET LOCAL client_min_messages = warning;
		CREATE TEMP TABLE IF NOT EXISTS rollup_away (
			port integer, conn_id uuid, home date) ON COMMIT DROP;
		TRUNCATE rollup_away;
		INSERT INTO rollup_away
		SELECT DISTINCT e.port, e.conn_id, (e.conn_time AT TIME ZONE 'UTC')::date
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.kind IN ('transaction', 'connection')
		  AND (e.conn_time < t0 OR e.conn_time >= t1);
		SELECT LEAST(min(a.home), p_day)::timestamp AT TIME ZONE 'UTC',
		       (GREATEST(max(a.home), p_day) + 1)::timestamp AT TIME ZONE 'UTC'
		INTO lo, hi FROM rollup_away AS a;
		IF lo IS NOT NULL THEN
			INSERT INTO portmilter.rollup_conn_days (day, port, conn_id)
			SELECT DISTINCT (e.event_time AT TIME ZONE 'UTC')::date, e.port, e.conn_id
			FROM portmilter.events AS e
			JOIN rollup_away AS a ON a.conn_id = e.conn_id AND a.port = e.port
			WHERE e.event_time >= lo AND e.event_time < hi
			  AND e.kind IN ('transaction', 'connection')
			  AND (e.event_time AT TIME ZONE 'UTC')::date
				BETWEEN LEAST(a.home, p_day) AND GREATEST(a.home, p_day)
			ON CONFLICT DO NOTHING;
		END IF;
		-- Connections at home here, seen on another day too.
		INSERT INTO portmilter.rollup_conn_days (day, port, conn_id)
		SELECT DISTINCT p_day, e.port, e.conn_id
		FROM portmilter.events AS e
		WHERE e.event_time >= t0 AND e.event_time < t1
		  AND e.kind IN ('transaction', 'connection')
		  AND e.conn_time >= t0 AND e.conn_time < t1
		  AND EXISTS (SELECT FROM portmilter.rollup_conn_days AS s
			      WHERE s.conn_id = e.conn_id AND s.port = e.port
				AND s.day <> p_day)
		ON CONFLICT DO NOTHING;
	END
	$fn$;

	-- ---- reading ------------------------------------------------------------
	-- As in 014 but for the distinct users and addresses: the keys of
	-- the rollups that meet the window's clean days, plus the keys of the
	-- raw part not among them. lo, hi and mask describe the clean days;
	-- with none (a window shorter than a day), lo is NULL and no rollup
	-- key counts.
	CREATE OR REPLACE FUNCTION portmilter.port_traffic_rollup(
		p_since timestamptz, p_until timestamptz)
	RETURNS TABLE (bucket timestamptz, port integer, connections bigint,
		       transactions bigint, accepted bigint, rejected bigint,
		       tempfailed bigint, aborted bigint, rejects_by_rule jsonb,
		       users bigint, ips bigint, exposures bigint,
		       auth_failures bigint, refused_before_mail bigint,
		       tls_failures bigint)
	LANGUAGE plpgsql
	STABLE
	SET search_path = pg_catalog, pg_temp
	-- a plan over a few thousand rows: compiling it (JIT, seconds on a
	-- busy machine) would cost more than running it
	SET jit = off
	SET work_mem = '64MB'
	AS $fn$
	DECLARE
		pt record;
		lo date;	-- the first clean day
		hi date;	-- the last
		mask bit varying;	-- bit i: day lo + i is clean
		holes date[];		-- the days between lo and hi that are not
		-- The partial first day of the window, when it is clean: every
		-- key seen in its part of the window has that day's bit, so
		-- those keys are found from the rollups, not probed one by one.
		-- pend: its end (the raw rows before it are that day's).
		pday date;
		pend timestamptz := '-infinity';
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_parts(p_since, p_until);
		lo := pt.days[1];
		hi := pt.days[pg_catalog.cardinality(pt.days)];
		SELECT pg_catalog.string_agg(CASE WHEN d.x IS NULL THEN '0' ELSE '1' END,
			'' ORDER BY g.t)::bit varying,
		       COALESCE(pg_catalog.array_agg(g.t::date ORDER BY g.t)
				FILTER (WHERE d.x IS NULL), '{}')
		INTO mask, holes
		FROM pg_catalog.generate_series(lo::timestamp, hi::timestamp,
			interval '1 day') AS g(t)
		LEFT JOIN pg_catalog.unnest(pt.days) AS d(x) ON d.x = g.t::date;
		IF lo IS NOT NULL AND p_since > '-infinity' THEN
			pday := (p_since AT TIME ZONE 'UTC')::date;
			IF (pday::timestamp AT TIME ZONE 'UTC') < p_since AND pday < lo
			   AND EXISTS (SELECT FROM portmilter.rollup_days AS x WHERE x.day = pday)
			   AND NOT EXISTS (SELECT FROM portmilter.rollup_dirty AS y
					   WHERE y.day = pday) THEN
				pend := (pday + 1)::timestamp AT TIME ZONE 'UTC';
			ELSE
				pday := NULL;
			END IF;
		END IF;
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.port, e.conn_id, e.conn_time, e.kind, e.verdict,
			       e.rule, e.sasl_user, e.client_addr, e.credential_exposure,
			       e.event_time < pend AS early
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				OFFSET 0) AS e	-- an index range per part
		), adds AS (
			SELECT a.port, sum(a.nevents) AS nevents,
			       sum(a.connections) AS connections,
			       sum(a.transactions) AS transactions,
			       sum(a.accepted) AS accepted, sum(a.rejected) AS rejected,
			       sum(a.tempfailed) AS tempfailed, sum(a.aborted) AS aborted,
			       sum(a.exposures) AS exposures,
			       sum(a.auth_failures) AS auth_failures,
			       sum(a.refused_before_mail) AS refused_before_mail,
			       sum(a.tls_failures) AS tls_failures
			FROM (
				SELECT d.port, d.nevents, d.connections, d.transactions,
				       d.accepted, d.rejected, d.tempfailed, d.aborted,
				       d.exposures, d.auth_failures, d.refused_before_mail,
				       d.tls_failures
				FROM portmilter.rollup_port_day AS d
				WHERE d.day = ANY (pt.days)
				UNION ALL
				SELECT e.port, count(*), 0,
				       count(*) FILTER (WHERE e.kind = 'transaction'),
				       count(*) FILTER (WHERE e.verdict = 'accepted'),
				       count(*) FILTER (WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
				       count(*) FILTER (WHERE e.verdict = 'tempfailed' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))),
				       count(*) FILTER (WHERE e.verdict = 'aborted' AND e.kind IN
					('transaction', 'connection')),
				       count(*) FILTER (WHERE e.credential_exposure),
				       count(*) FILTER (WHERE e.kind = 'auth_failure'),
				       count(*) FILTER (WHERE e.kind = 'refused' AND e.rule NOT IN
					('postfix_rcpt', 'postfix_data', 'postfix_bdat',
					 'postfix_end-of-message')),
				       count(*) FILTER (WHERE e.kind = 'tls_failure')
				FROM raw AS e GROUP BY e.port
			) AS a
			GROUP BY a.port
		), rules AS (
			SELECT x.port, pg_catalog.jsonb_object_agg(x.rule, x.n) AS by_rule
			FROM (
				SELECT y.port, y.rule, sum(y.n)::bigint AS n
				FROM (
					SELECT k.port, k.rule, k.n
					FROM portmilter.rollup_rule_day AS k
					WHERE k.day = ANY (pt.days)
					UNION ALL
					SELECT e.port, COALESCE(e.rule, '(none)'), count(*)
					FROM raw AS e
					WHERE e.verdict = 'rejected' AND (e.kind IN ('transaction', 'connection') OR (e.kind = 'refused'
				AND e.rule NOT IN ('postfix_rcpt', 'postfix_data', 'postfix_bdat',
						   'postfix_end-of-message')))
					GROUP BY 1, 2
				) AS y
				GROUP BY 1, 2
			) AS x
			GROUP BY x.port
		), usr AS (
			-- Distinct keys: those whose last day is a clean day of
			-- the window (counted per day in rollup_last, not read);
			-- those ending after the clean days or on a hole between
			-- them (the index on last_day) that meet the clean days
			-- (rollup_meets()); the raw part's keys not among them:
			-- those of the rest probed one by one, those of the partial
			-- first day (pday, when clean) among the keys with its bit
			-- that end before the clean days, on a hole or after them
			-- and do not meet them (the index on last_day again), not
			-- seen in the rest of the raw part.
			SELECT k.port, sum(k.n)::bigint AS n
			FROM (
				SELECT l.port, l.n FROM portmilter.rollup_last AS l
				WHERE l.what = 'user' AND l.day >= lo AND l.day <= hi
				  AND CASE WHEN l.day BETWEEN lo AND hi
				      THEN pg_catalog.get_bit(mask, l.day - lo) = 1 END
				UNION ALL
				SELECT u.port, 1 FROM portmilter.rollup_users AS u
				WHERE (u.last_day > hi OR u.last_day = ANY (holes))
				  AND u.first_day <= hi
				  AND portmilter.rollup_meets(u.first_day, u.last_day, u.days,
							      lo, hi, mask)
				UNION ALL
				SELECT r.port, 1
				FROM (SELECT DISTINCT e.port, e.sasl_user FROM raw AS e
				      WHERE NOT e.early AND e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL) AS r
				WHERE NOT EXISTS (SELECT FROM portmilter.rollup_users AS c
						  WHERE c.port = r.port AND c.sasl_user = r.sasl_user
						    AND portmilter.rollup_meets(c.first_day,
							c.last_day, c.days, lo, hi, mask))
				UNION ALL
				SELECT c.port, 1
				FROM (SELECT c.port, c.sasl_user FROM portmilter.rollup_users AS c
				      WHERE (c.last_day BETWEEN pday AND lo - 1 OR c.last_day > hi
					     OR c.last_day = ANY (holes))
					AND c.first_day <= pday
					AND CASE WHEN c.first_day <= pday AND c.last_day >= pday
					    THEN pg_catalog.get_bit(c.days, pday - c.first_day) = 1 END
					AND NOT portmilter.rollup_meets(c.first_day, c.last_day,
									c.days, lo, hi, mask)
				      OFFSET 0) AS c
				JOIN (SELECT e.port, e.sasl_user FROM raw AS e
				      WHERE e.kind IN ('transaction', 'connection') AND e.sasl_user IS NOT NULL
				      GROUP BY 1, 2 HAVING pg_catalog.bool_and(e.early)) AS x
				  ON x.port = c.port AND x.sasl_user = c.sasl_user
			) AS k
			GROUP BY k.port
		), ips AS (
			SELECT k.port, sum(k.n)::bigint AS n
			FROM (
				SELECT l.port, l.n FROM portmilter.rollup_last AS l
				WHERE l.what = 'ip' AND l.day >= lo AND l.day <= hi
				  AND CASE WHEN l.day BETWEEN lo AND hi
				      THEN pg_catalog.get_bit(mask, l.day - lo) = 1 END
				UNION ALL
				SELECT u.port, 1 FROM portmilter.rollup_ips AS u
				WHERE (u.last_day > hi OR u.last_day = ANY (holes))
				  AND u.first_day <= hi
				  AND portmilter.rollup_meets(u.first_day, u.last_day, u.days,
							      lo, hi, mask)
				UNION ALL
				SELECT r.port, 1
				FROM (SELECT DISTINCT e.port, e.client_addr FROM raw AS e
				      WHERE NOT e.early AND e.client_addr IS NOT NULL) AS r
				WHERE NOT EXISTS (SELECT FROM portmilter.rollup_ips AS c
						  WHERE c.port = r.port AND c.client_addr = r.client_addr
						    AND portmilter.rollup_meets(c.first_day,
							c.last_day, c.days, lo, hi, mask))
				UNION ALL
				SELECT c.port, 1
				FROM (SELECT c.port, c.client_addr FROM portmilter.rollup_ips AS c
				      WHERE (c.last_day BETWEEN pday AND lo - 1 OR c.last_day > hi
					     OR c.last_day = ANY (holes))
					AND c.first_day <= pday
					AND CASE WHEN c.first_day <= pday AND c.last_day >= pday
					    THEN pg_catalog.get_bit(c.days, pday - c.first_day) = 1 END
					AND NOT portmilter.rollup_meets(c.first_day, c.last_day,
									c.days, lo, hi, mask)
				      OFFSET 0) AS c
				JOIN (SELECT e.port, e.client_addr FROM raw AS e
				      WHERE e.client_addr IS NOT NULL
				      GROUP BY 1, 2 HAVING pg_catalog.bool_and(e.early)) AS x
				  ON x.port = c.port AND x.client_addr = c.client_addr
			) AS k
			GROUP BY k.port
		), dup AS (
			-- a connection on k clean days is counted k times
			SELECT c.port, sum(c.k - 1) AS n
			FROM (SELECT s.port, s.conn_id, count(*) AS k
			      FROM portmilter.rollup_conn_days AS s
			      WHERE s.day = ANY (pt.days)
			      GROUP BY 1, 2) AS c
			GROUP BY c.port
		), rc AS MATERIALIZED (
			SELECT DISTINCT e.port, e.conn_id,
			       (e.conn_time AT TIME ZONE 'UTC')::date AS home
			FROM raw AS e
			WHERE e.kind IN ('transaction', 'connection')
		), seen AS (
			-- raw connections seen on a clean day of the window: one
			-- listed there, or at home on a clean day (the whole day
			-- read: the few connections whose conn_time falls on a
			-- clean day are those crossing into a raw part)
			SELECT rc.port, rc.conn_id FROM rc
			WHERE EXISTS (SELECT FROM portmilter.rollup_conn_days AS s
				      WHERE s.conn_id = rc.conn_id AND s.port = rc.port
					AND s.day = ANY (pt.days))
			UNION
			SELECT e.port, e.conn_id
			FROM (SELECT DISTINCT rc.home FROM rc
			      WHERE rc.home = ANY (pt.days)) AS h
			-- LATERAL ... OFFSET 0: each day an index range, never a
			-- join with every event
			CROSS JOIN LATERAL (
				SELECT x.port, x.conn_id FROM portmilter.events AS x
				WHERE x.event_time >= (h.home::timestamp AT TIME ZONE 'UTC')
				  AND x.event_time < ((h.home + 1)::timestamp AT TIME ZONE 'UTC')
				  AND x.kind IN ('transaction', 'connection')
				OFFSET 0) AS e
			JOIN rc ON rc.conn_id = e.conn_id AND rc.port = e.port
			       AND rc.home = h.home
		), rawconn AS (
			SELECT x.port, count(*) AS n
			FROM (SELECT DISTINCT rc.port, rc.conn_id FROM rc) AS x
			GROUP BY x.port
		), seenconn AS (
			SELECT x.port, count(*) AS n FROM seen AS x GROUP BY x.port
		)
		SELECT p_since, a.port,
		       (a.connections - COALESCE(dup.n, 0) + COALESCE(rawconn.n, 0)
			- COALESCE(seenconn.n, 0))::bigint,
		       a.transactions::bigint, a.accepted::bigint, a.rejected::bigint,
		       a.tempfailed::bigint, a.aborted::bigint,
		       COALESCE(rules.by_rule, '{}'::jsonb),
		       COALESCE(usr.n, 0), COALESCE(ips.n, 0),
		       a.exposures::bigint, a.auth_failures::bigint,
		       a.refused_before_mail::bigint, a.tls_failures::bigint
		FROM adds AS a
		LEFT JOIN rules ON rules.port = a.port
		LEFT JOIN usr ON usr.port = a.port
		LEFT JOIN ips ON ips.port = a.port
		LEFT JOIN dup ON dup.port = a.port
		LEFT JOIN rawconn ON rawconn.port = a.port
		LEFT JOIN seenconn ON seenconn.port = a.port
		WHERE a.nevents > 0
		ORDER BY a.port;
	END
	$fn$;

	INSERT INTO portmilter.schema_version (version) VALUES (16);
END
$migration$;
