-- 023_tls_year.sql - `tls` over a year from about one row per group
-- (issue 14).
--
-- 021's tls_usage() sums every month and day row of the window: over a
-- year on the 10 M-event benchmark, 505,000 month rows of the 11 whole
-- months and 385,000 day rows of the two partial ones, for 51,000
-- groups (port, tls_version, uid, network: 020's header). This adds two
-- tables, so that the same window reads about 195,000 rows:
--
--   rollup_tls_year  per calendar year and group, the running totals by
--                    month (as 018 for `top`): nevents[i] (transactions,
--                    accepted, rejected, home_conns alike) is the sum of
--                    the group's month rows of that year before month i,
--                    i = 1..13; first_from[i] the first event time of
--                    month i or later of that year, last_upto[i] the last
--                    of month i or earlier (i = 1..12). A run of whole
--                    months a..b of one year is then nevents[b + 1] -
--                    nevents[a], first_from[a], last_upto[b]: one row per
--                    group and run (first_from[a] is in month a..b when
--                    the run has an event, as months follow each other in
--                    time; a run without one is left out). It holds the
--                    months before rollup_year_folded's 'tls' month, as
--                    018's tables hold theirs: statement triggers on
--                    rollup_tls_month apply what a statement changed in a
--                    folded month (added, taken away, the month's first
--                    and last set or cleared), and the first of them in a
--                    new month folds the months that ended, up to the
--                    month of the oldest dirty day (rollup_dirty; its
--                    DELETE statements fold too): a backfill folds each
--                    month once, when the catch-up has done its last
--                    day. The readers take the whole months not folded
--                    yet from the month table.
--   rollup_tls_tier  the sums of the day rows per group and third of a
--                    month ("tier": days 1-10, 11-20, 21 to the end; the
--                    tier's date is its first day), kept so by statement
--                    triggers on rollup_tls_day: the tier rows of the
--                    groups a statement wrote are summed again from the
--                    tier's day rows. A partial month is then at most two
--                    tier rows and nine day rows per group, not thirty;
--                    the month in progress up to yesterday, one or two
--                    tier rows (the tier in progress holds the days
--                    rolled up so far: it serves when its other days
--                    have no day rows).
--
-- tls_usage() is restated (same signature, same rows in the same order,
-- 021's shape): whole clean months folded from rollup_tls_year, in runs
-- per year (rollup_month_runs(), 018), the others from rollup_tls_month,
-- the tiers whose days with rows are all clean and in the window from
-- rollup_tls_tier, the other clean days from rollup_tls_day, the rest
-- from the events; connections away from their home day as before.
--
-- Upkeep: the catch-up of a day sums its tier again for the groups the
-- day had and has (two passes over the tier's day rows, one per
-- statement of rollup_day_tls()); a day of a folded month (late rows,
-- UPDATEs, a reduction, forget_user() does not write here) also
-- rewrites the year rows of its groups (three passes, one per statement
-- on the month table); the first catch-up of a month folds the month
-- that ended (one pass over its month rows). Bloat: a tier row is
-- rewritten at every catch-up of a day of its tier where the group has
-- rows (two to three times on the benchmark), a year row at every
-- change of its folded months.
--
-- Figures, 10 M events (bench/report-bench.sh MIX=clustered, 2 cores,
-- never idle: the load is given), `tls --since 365d` (51,217 rows):
-- rows read 890,000 -> about 195,000 (51,217 year, 106,000 tier, 38,000
-- day); the report, 021 and 023 alternating, load 1.6 to 2.2: 1.50 to
-- 2.01 s against 0.90 to 1.19 s; server CPU for one call 1.27 to 1.85 s
-- against 0.58 to 0.74 s. Catch-up of a day, load 3.3 to 3.8: a day of
-- an unfolded month 1.44 -> 2.4 to 2.6 s, of a folded month 2.7 to 3.0
-- -> 6.2 to 6.6 s; a month's fold 2.8 to 3.9 s. This migration: 21 s at
-- load 3.2 (38 s at 3.4); rollup_tls_year 95,544 rows (94 MB),
-- rollup_tls_tier 1,349,781 rows (261 MB). (README, "Benchmarks".)
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/023_tls_year.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 23.

DO $migration$
DECLARE
	cur date;	-- the months before it are folded (rollup_tls_year_fold())
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 21)
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 18) THEN
		RAISE EXCEPTION 'portmilter: migration 023 needs 001 to 021 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 23) THEN
		RAISE NOTICE 'portmilter: migration 023 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.rollup_tls_year (
		year date NOT NULL,		-- January 1st
		port integer NOT NULL,
		tls_version text NOT NULL,	-- as rollup_tls_month (020)
		uid bigint NOT NULL,
		network text NOT NULL,
		nevents bigint[] NOT NULL CHECK (pg_catalog.cardinality(nevents) = 13),
		transactions bigint[] NOT NULL CHECK (pg_catalog.cardinality(transactions) = 13),
		accepted bigint[] NOT NULL CHECK (pg_catalog.cardinality(accepted) = 13),
		rejected bigint[] NOT NULL CHECK (pg_catalog.cardinality(rejected) = 13),
		home_conns bigint[] NOT NULL CHECK (pg_catalog.cardinality(home_conns) = 13),
		first_from timestamptz[] NOT NULL CHECK (pg_catalog.cardinality(first_from) = 12),
		last_upto timestamptz[] NOT NULL CHECK (pg_catalog.cardinality(last_upto) = 12),
		PRIMARY KEY (year, port, tls_version, uid, network)
	);
	CREATE TABLE portmilter.rollup_tls_tier (
		tier date NOT NULL,		-- the 1st, 11th or 21st of a month
		port integer NOT NULL,
		tls_version text NOT NULL,
		uid bigint NOT NULL,
		network text NOT NULL,
		nevents bigint NOT NULL,
		transactions bigint NOT NULL,
		accepted bigint NOT NULL,
		rejected bigint NOT NULL,
		home_conns bigint NOT NULL,
		first_seen timestamptz NOT NULL,
		last_seen timestamptz NOT NULL,
		PRIMARY KEY (tier, port, tls_version, uid, network)
	);
	COMMENT ON TABLE portmilter.rollup_tls_year IS
		'portmilter-report tls per year: running totals by month '
		'(see sql/023_tls_year.sql)';
	COMMENT ON TABLE portmilter.rollup_tls_tier IS
		'portmilter-report tls per third of a month (see sql/023_tls_year.sql)';

	-- ---- tiers --------------------------------------------------------------
	-- The tier of a day: the 1st, the 11th or the 21st of its month.
	CREATE FUNCTION portmilter.rollup_tls_tier_of(p_day date)
	RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT p_day - (pg_catalog.date_part('day', p_day)::integer
				- CASE WHEN pg_catalog.date_part('day', p_day) <= 10 THEN 1
				       WHEN pg_catalog.date_part('day', p_day) <= 20 THEN 11
				       ELSE 21 END)
	$fn$;
	-- The day after a tier's last.
	CREATE FUNCTION portmilter.rollup_tls_tier_end(p_tier date)
	RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
	AS $fn$
		SELECT CASE WHEN pg_catalog.date_part('day', p_tier) < 21 THEN p_tier + 10
			    ELSE (pg_catalog.date_trunc('month', p_tier)
				  + interval '1 month')::date END
	$fn$;

	-- Sum again, from the day rows, the tier rows of the groups of these
	-- day rows (a group whose tier has no day row left loses its row).
	-- The day rows of the tiers concerned are read once and hashed
	-- (nested loops off): a loop over the groups would scan a tier's
	-- day range once per group (the primary key starts with the day).
	CREATE FUNCTION portmilter.rollup_tls_tier_redo(p_rows portmilter.rollup_tls_day[])
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	SET enable_nestloop = off
	AS $fn$
	DECLARE
		lo date;
		hi date;
	BEGIN
		SELECT min(portmilter.rollup_tls_tier_of(r.day)),
		       max(portmilter.rollup_tls_tier_end(portmilter.rollup_tls_tier_of(r.day)))
		INTO lo, hi FROM pg_catalog.unnest(p_rows) AS r;
		DELETE FROM portmilter.rollup_tls_tier AS t
		USING (SELECT DISTINCT portmilter.rollup_tls_tier_of(r.day) AS tier,
			      r.port, r.tls_version, r.uid, r.network
		       FROM pg_catalog.unnest(p_rows) AS r) AS k
		WHERE t.tier >= lo AND t.tier < hi
		  AND t.tier = k.tier AND t.port = k.port AND t.tls_version = k.tls_version
		  AND t.uid = k.uid AND t.network = k.network;
		INSERT INTO portmilter.rollup_tls_tier
		SELECT k.tier, k.port, k.tls_version, k.uid, k.network,
		       pg_catalog.sum(d.nevents), pg_catalog.sum(d.transactions),
		       pg_catalog.sum(d.accepted), pg_catalog.sum(d.rejected),
		       pg_catalog.sum(d.home_conns), pg_catalog.min(d.first_seen),
		       pg_catalog.max(d.last_seen)
		FROM (SELECT DISTINCT portmilter.rollup_tls_tier_of(r.day) AS tier,
			     r.port, r.tls_version, r.uid, r.network
		      FROM pg_catalog.unnest(p_rows) AS r) AS k
		JOIN portmilter.rollup_tls_day AS d
		  ON portmilter.rollup_tls_tier_of(d.day) = k.tier
		 AND d.port = k.port AND d.tls_version = k.tls_version
		 AND d.uid = k.uid AND d.network = k.network
		WHERE d.day >= lo AND d.day < hi
		GROUP BY k.tier, k.port, k.tls_version, k.uid, k.network;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_tls_tier_redo(portmilter.rollup_tls_day[])
		FROM PUBLIC;

	CREATE FUNCTION portmilter.rollup_tls_tier_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		IF TG_OP = 'INSERT' THEN
			PERFORM portmilter.rollup_tls_tier_redo(pg_catalog.array_agg(
				n::portmilter.rollup_tls_day))
			FROM tier_new AS n HAVING count(*) > 0;
		ELSIF TG_OP = 'DELETE' THEN
			PERFORM portmilter.rollup_tls_tier_redo(pg_catalog.array_agg(
				o::portmilter.rollup_tls_day))
			FROM tier_old AS o HAVING count(*) > 0;
		ELSE
			PERFORM portmilter.rollup_tls_tier_redo(pg_catalog.array_agg(x.r))
			FROM (SELECT n::portmilter.rollup_tls_day AS r
			      FROM tier_new AS n
			      UNION ALL
			      SELECT o::portmilter.rollup_tls_day
			      FROM tier_old AS o) AS x
			HAVING count(*) > 0;
		END IF;
		RETURN NULL;
	END
	$fn$;
	CREATE TRIGGER rollup_tls_tier_ins AFTER INSERT ON portmilter.rollup_tls_day
		REFERENCING NEW TABLE AS tier_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_tier_trg();
	CREATE TRIGGER rollup_tls_tier_upd AFTER UPDATE ON portmilter.rollup_tls_day
		REFERENCING OLD TABLE AS tier_old NEW TABLE AS tier_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_tier_trg();
	CREATE TRIGGER rollup_tls_tier_del AFTER DELETE ON portmilter.rollup_tls_day
		REFERENCING OLD TABLE AS tier_old
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_tier_trg();

	-- ---- years --------------------------------------------------------------
	-- One month's change applied to a year row's arrays (NULL: no row
	-- yet, zeros): d_* more in the running totals after month p_mon,
	-- the month's own first and last event time set to p_first, p_last
	-- (NULL: the month has none; a month's own first is first_from[i]
	-- when that falls in the month, its last last_upto[i] likewise),
	-- first_from and last_upto derived again. (One PL/pgSQL call a row:
	-- loops over small arrays; SQL's unnest and ARRAY() per array took
	-- four times as long, and the fold of a month calls it once a group.)
	CREATE FUNCTION portmilter.rollup_tls_year_step(p_year date, p_mon integer,
		a_n bigint[], a_t bigint[], a_a bigint[], a_r bigint[], a_h bigint[],
		p_from timestamptz[], p_upto timestamptz[],
		d_n bigint, d_t bigint, d_a bigint, d_r bigint, d_h bigint,
		p_first timestamptz, p_last timestamptz,
		OUT nevents bigint[], OUT transactions bigint[], OUT accepted bigint[],
		OUT rejected bigint[], OUT home_conns bigint[],
		OUT first_from timestamptz[], OUT last_upto timestamptz[])
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		zero bigint[] := array_fill(0::bigint, ARRAY[13]);
		f timestamptz[] := array_fill(NULL::timestamptz, ARRAY[12]);
		l timestamptz[] := array_fill(NULL::timestamptz, ARRAY[12]);
		x timestamptz;
	BEGIN
		nevents := COALESCE(a_n, zero);
		transactions := COALESCE(a_t, zero);
		accepted := COALESCE(a_a, zero);
		rejected := COALESCE(a_r, zero);
		home_conns := COALESCE(a_h, zero);
		FOR i IN p_mon + 1 .. 13 LOOP
			nevents[i] := nevents[i] + d_n;
			transactions[i] := transactions[i] + d_t;
			accepted[i] := accepted[i] + d_a;
			rejected[i] := rejected[i] + d_r;
			home_conns[i] := home_conns[i] + d_h;
		END LOOP;
		-- each month's own first and last
		FOR i IN 1 .. 12 LOOP
			IF i = p_mon THEN
				f[i] := p_first;
				l[i] := p_last;
			ELSE
				IF p_from[i] < (p_year + make_interval(months => i))::timestamp
						AT TIME ZONE 'UTC' THEN
					f[i] := p_from[i];
				END IF;
				IF p_upto[i] >= (p_year + make_interval(months => i - 1))::timestamp
						AT TIME ZONE 'UTC' THEN
					l[i] := p_upto[i];
				END IF;
			END IF;
		END LOOP;
		first_from := f;
		last_upto := l;
		FOR i IN REVERSE 12 .. 1 LOOP
			x := COALESCE(f[i], x);
			first_from[i] := x;
		END LOOP;
		x := NULL;
		FOR i IN 1 .. 12 LOOP
			x := COALESCE(l[i], x);
			last_upto[i] := x;
		END LOOP;
	END
	$fn$;

	-- Apply to the year rows what changed in the month rows of folded
	-- months: p_old the rows as they were, p_new as they are (a row in
	-- one only: inserted or deleted), month by month. A group whose year
	-- is left with no event loses its row.
	CREATE FUNCTION portmilter.rollup_tls_year_add(p_old portmilter.rollup_tls_month[],
		p_new portmilter.rollup_tls_month[])
	RETURNS void LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		mon date;
		yr date;
		mi integer;
	BEGIN
		FOR mon IN SELECT x.month FROM pg_catalog.unnest(p_old) AS x
			   UNION SELECT x.month FROM pg_catalog.unnest(p_new) AS x
			   ORDER BY 1 LOOP
			yr := pg_catalog.date_trunc('year', mon)::date;
			mi := pg_catalog.date_part('month', mon)::integer;
			WITH c AS (
				SELECT COALESCE(n.port, o.port) AS port,
				       COALESCE(n.tls_version, o.tls_version) AS tls_version,
				       COALESCE(n.uid, o.uid) AS uid,
				       COALESCE(n.network, o.network) AS network,
				       COALESCE(n.nevents, 0) - COALESCE(o.nevents, 0) AS dn,
				       COALESCE(n.transactions, 0) - COALESCE(o.transactions, 0) AS dt,
				       COALESCE(n.accepted, 0) - COALESCE(o.accepted, 0) AS da,
				       COALESCE(n.rejected, 0) - COALESCE(o.rejected, 0) AS dr,
				       COALESCE(n.home_conns, 0) - COALESCE(o.home_conns, 0) AS dh,
				       n.first_seen, n.last_seen
				FROM (SELECT * FROM pg_catalog.unnest(p_old) AS u WHERE u.month = mon) AS o
				FULL JOIN (SELECT * FROM pg_catalog.unnest(p_new) AS u WHERE u.month = mon) AS n
				  ON n.port = o.port AND n.tls_version = o.tls_version
				 AND n.uid = o.uid AND n.network = o.network
			), up AS (
				UPDATE portmilter.rollup_tls_year AS y
				SET (nevents, transactions, accepted, rejected, home_conns,
				     first_from, last_upto) = (
					SELECT s.* FROM portmilter.rollup_tls_year_step(yr, mi,
						y.nevents, y.transactions, y.accepted, y.rejected,
						y.home_conns, y.first_from, y.last_upto,
						c.dn, c.dt, c.da, c.dr, c.dh,
						c.first_seen, c.last_seen) AS s)
				FROM c
				WHERE y.year = yr AND y.port = c.port AND y.tls_version = c.tls_version
				  AND y.uid = c.uid AND y.network = c.network
				RETURNING y.port, y.tls_version, y.uid, y.network
			)
			INSERT INTO portmilter.rollup_tls_year
			SELECT yr, c.port, c.tls_version, c.uid, c.network, s.*
			FROM c CROSS JOIN LATERAL portmilter.rollup_tls_year_step(yr, mi,
				NULL, NULL, NULL, NULL, NULL, NULL, NULL,
				c.dn, c.dt, c.da, c.dr, c.dh, c.first_seen, c.last_seen) AS s
			WHERE c.first_seen IS NOT NULL
			  AND NOT EXISTS (SELECT FROM up
					  WHERE up.port = c.port AND up.tls_version = c.tls_version
					    AND up.uid = c.uid AND up.network = c.network);
			DELETE FROM portmilter.rollup_tls_year AS y
			USING pg_catalog.unnest(p_old) AS o
			WHERE o.month = mon AND y.year = yr AND y.port = o.port
			  AND y.tls_version = o.tls_version AND y.uid = o.uid
			  AND y.network = o.network AND y.nevents[13] = 0;
		END LOOP;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_tls_year_add(portmilter.rollup_tls_month[],
		portmilter.rollup_tls_month[]) FROM PUBLIC;

	-- Which months rollup_tls_year holds: those before rollup_year_folded's
	-- 'tls' month (018's table, one more row).
	ALTER TABLE portmilter.rollup_year_folded
		DROP CONSTRAINT rollup_year_folded_what_check,
		ADD CONSTRAINT rollup_year_folded_what_check
			CHECK (what IN ('user', 'ip', 'tls'));

	-- Fold the month rows of the months that ended since the last fold
	-- (as rollup_year_fold(), 018), up to the month of the oldest dirty
	-- day: a backfill (every day dirty, caught up oldest first) then
	-- folds each month once, when its last day is done, instead of
	-- rewriting its year rows at every day's catch-up.
	CREATE FUNCTION portmilter.rollup_tls_year_fold()
	RETURNS void LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	AS $fn$
	DECLARE
		f date;
		cur date := LEAST(pg_catalog.date_trunc('month', pg_catalog.now())::date,
			(SELECT pg_catalog.date_trunc('month', min(r.day))::date
			 FROM portmilter.rollup_dirty AS r));
	BEGIN
		SELECT y.month INTO f FROM portmilter.rollup_year_folded AS y
		WHERE y.what = 'tls';
		IF f >= cur THEN
			RETURN;	-- (every call but the first of a month: no lock)
		END IF;
		SELECT y.month INTO f FROM portmilter.rollup_year_folded AS y
		WHERE y.what = 'tls' FOR UPDATE;
		IF f >= cur THEN
			RETURN;
		END IF;
		PERFORM portmilter.rollup_tls_year_add('{}', pg_catalog.array_agg(m))
		FROM portmilter.rollup_tls_month AS m
		WHERE m.month >= f AND m.month < cur
		HAVING count(*) > 0;
		UPDATE portmilter.rollup_year_folded SET month = cur WHERE what = 'tls';
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.rollup_tls_year_fold() FROM PUBLIC;

	-- rollup_tls_month's statement triggers: what a statement changed in
	-- a folded month applied, then the months that ended folded.
	CREATE FUNCTION portmilter.rollup_tls_year_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		f date := (SELECT y.month FROM portmilter.rollup_year_folded AS y
			   WHERE y.what = 'tls');
	BEGIN
		IF TG_OP = 'INSERT' THEN
			PERFORM portmilter.rollup_tls_year_add('{}',
				pg_catalog.array_agg(n::portmilter.rollup_tls_month))
			FROM year_new AS n WHERE n.month < f HAVING count(*) > 0;
		ELSIF TG_OP = 'DELETE' THEN
			PERFORM portmilter.rollup_tls_year_add(
				pg_catalog.array_agg(o::portmilter.rollup_tls_month), '{}')
			FROM year_old AS o WHERE o.month < f HAVING count(*) > 0;
		ELSE
			PERFORM portmilter.rollup_tls_year_add(
				(SELECT pg_catalog.array_agg(o::portmilter.rollup_tls_month)
				 FROM year_old AS o WHERE o.month < f),
				(SELECT pg_catalog.array_agg(n::portmilter.rollup_tls_month)
				 FROM year_new AS n WHERE n.month < f));
		END IF;
		PERFORM portmilter.rollup_tls_year_fold();
		RETURN NULL;
	END
	$fn$;
	CREATE TRIGGER rollup_tls_year_ins AFTER INSERT ON portmilter.rollup_tls_month
		REFERENCING NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_year_trg();
	CREATE TRIGGER rollup_tls_year_upd AFTER UPDATE ON portmilter.rollup_tls_month
		REFERENCING OLD TABLE AS year_old NEW TABLE AS year_new
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_year_trg();
	CREATE TRIGGER rollup_tls_year_del AFTER DELETE ON portmilter.rollup_tls_month
		REFERENCING OLD TABLE AS year_old
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_year_trg();
	-- And when the catch-up takes a day's mark away: the month of the
	-- oldest dirty day may have moved on (the last day of a backfill
	-- writes the month rows before its mark goes).
	CREATE FUNCTION portmilter.rollup_tls_year_fold_trg()
	RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		PERFORM portmilter.rollup_tls_year_fold();
		RETURN NULL;
	END
	$fn$;
	CREATE TRIGGER rollup_tls_year_fold AFTER DELETE ON portmilter.rollup_dirty
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.rollup_tls_year_fold_trg();
	-- (TRUNCATE of rollup_tls_day or rollup_tls_month: nothing does it;
	-- rollup_tls_tier and rollup_tls_year would go with them.)

	-- ---- filling on upgrade: set-based, from the rollups -------------------
	cur := LEAST(pg_catalog.date_trunc('month', pg_catalog.now() AT TIME ZONE 'UTC')::date,
		(SELECT pg_catalog.date_trunc('month', min(r.day))::date
		 FROM portmilter.rollup_dirty AS r));
	INSERT INTO portmilter.rollup_tls_tier
	SELECT portmilter.rollup_tls_tier_of(d.day) AS tier, d.port, d.tls_version,
	       d.uid, d.network, sum(d.nevents), sum(d.transactions), sum(d.accepted),
	       sum(d.rejected), sum(d.home_conns), min(d.first_seen), max(d.last_seen)
	FROM portmilter.rollup_tls_day AS d
	GROUP BY 1, d.port, d.tls_version, d.uid, d.network
	ORDER BY 1;	-- a tier's rows together: a window reads few pages

	-- the months before this one: per group and year, the running sums
	-- over i = 0..12 (entry i + 1: the months up to i)
	INSERT INTO portmilter.rollup_tls_year
	SELECT pg_catalog.make_date(z.yr, 1, 1), z.port, z.tls_version, z.uid, z.network,
	       pg_catalog.array_agg(z.n ORDER BY z.i), pg_catalog.array_agg(z.t ORDER BY z.i),
	       pg_catalog.array_agg(z.a ORDER BY z.i), pg_catalog.array_agg(z.r ORDER BY z.i),
	       pg_catalog.array_agg(z.h ORDER BY z.i),
	       pg_catalog.array_agg(z.f ORDER BY z.i) FILTER (WHERE z.i > 0),
	       pg_catalog.array_agg(z.l ORDER BY z.i) FILTER (WHERE z.i > 0)
	FROM (SELECT k.yr, k.port, k.tls_version, k.uid, k.network, g.i,
		     sum(COALESCE(m.nevents, 0)) OVER w::bigint AS n,
		     sum(COALESCE(m.transactions, 0)) OVER w::bigint AS t,
		     sum(COALESCE(m.accepted, 0)) OVER w::bigint AS a,
		     sum(COALESCE(m.rejected, 0)) OVER w::bigint AS r,
		     sum(COALESCE(m.home_conns, 0)) OVER w::bigint AS h,
		     min(m.first_seen) OVER (PARTITION BY k.yr, k.port, k.tls_version,
					     k.uid, k.network ORDER BY g.i DESC) AS f,
		     max(m.last_seen) OVER w AS l
	      FROM (SELECT DISTINCT pg_catalog.date_part('year', x.month)::integer AS yr,
			   x.port, x.tls_version, x.uid, x.network
		    FROM portmilter.rollup_tls_month AS x WHERE x.month < cur) AS k
	      CROSS JOIN pg_catalog.generate_series(0, 12) AS g(i)
	      LEFT JOIN portmilter.rollup_tls_month AS m
		ON g.i > 0 AND m.month = pg_catalog.make_date(k.yr, GREATEST(g.i, 1), 1)
	       AND m.month < cur AND m.port = k.port AND m.tls_version = k.tls_version
	       AND m.uid = k.uid AND m.network = k.network
	      WINDOW w AS (PARTITION BY k.yr, k.port, k.tls_version, k.uid, k.network
			   ORDER BY g.i)) AS z
	GROUP BY z.yr, z.port, z.tls_version, z.uid, z.network
	ORDER BY z.yr;
	INSERT INTO portmilter.rollup_year_folded VALUES ('tls', cur);

	-- ---- reading ------------------------------------------------------------
	-- `tls` without --below over [p_since, p_until), one port or every
	-- one (NULL): report/tls.c SQL_TLS's rows with $4 NULL, its port
	-- column the number, in its order (020, 021; see the header).
	CREATE OR REPLACE FUNCTION portmilter.tls_usage(p_since timestamptz,
		p_until timestamptz, p_port integer DEFAULT NULL)
	RETURNS TABLE (port integer, tls_version text, "user" text, network cidr,
		       connections bigint, transactions bigint, accepted bigint,
		       rejected bigint, first_seen timestamptz, last_seen timestamptz)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp
	SET TimeZone = 'UTC'
	SET jit = off
	SET work_mem = '64MB'
	AS $fn$
	DECLARE
		pt record;
		fm date[];	-- the whole months in rollup_tls_year
		um date[];	-- the whole months not folded yet
		tiers date[];	-- the tiers whose days with rows are clean
		days date[];	-- days of the window; the other clean days
	BEGIN
		SELECT * INTO pt FROM portmilter.rollup_key_parts(p_since, p_until);
		SELECT COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m < f.month), '{}'),
		       COALESCE(pg_catalog.array_agg(m) FILTER (WHERE m >= f.month), '{}')
		INTO fm, um
		FROM pg_catalog.unnest(pt.months) AS m, portmilter.rollup_year_folded AS f
		WHERE f.what = 'tls';
		-- a tier row sums the day rows there are: it serves when every
		-- day of the tier that has rows is a clean day of the window
		-- (a whole tier, or the tier in progress: its days from today
		-- on have none yet)
		SELECT COALESCE(pg_catalog.array_agg(x.t), '{}') INTO tiers
		FROM (SELECT DISTINCT portmilter.rollup_tls_tier_of(d) AS t
		      FROM pg_catalog.unnest(pt.days) AS d) AS x
		WHERE NOT EXISTS (
			SELECT FROM pg_catalog.generate_series(x.t::timestamp,
				(portmilter.rollup_tls_tier_end(x.t) - 1)::timestamp,
				interval '1 day') AS g(s)
			WHERE NOT g.s::date = ANY (pt.days)
			  AND EXISTS (SELECT FROM portmilter.rollup_tls_day AS y
				      WHERE y.day = g.s::date));
		SELECT COALESCE(pg_catalog.array_agg(d), '{}') INTO days
		FROM pg_catalog.unnest(pt.days) AS d
		WHERE NOT portmilter.rollup_tls_tier_of(d) = ANY (tiers);
		RETURN QUERY
		WITH raw AS MATERIALIZED (
			SELECT e.port, COALESCE(NULLIF(e.tls_version, ''), '') AS tv,
			       e.sasl_user AS u,
			       COALESCE(portmilter.rollup_net(e.client_addr), '') AS net,
			       e.conn_id, e.conn_time, e.event_time, e.kind, e.verdict,
			       e.conn_time <= e.event_time
			       AND (e.conn_time AT TIME ZONE 'UTC')::date
				= (e.event_time AT TIME ZONE 'UTC')::date AS home
			FROM pg_catalog.unnest(pt.raw) AS r(x)
			CROSS JOIN LATERAL (
				SELECT * FROM portmilter.events AS y
				WHERE y.event_time >= pg_catalog.lower(r.x)
				  AND y.event_time < pg_catalog.upper(r.x)
				  AND (p_port IS NULL OR y.port = p_port)
				  AND (NULLIF(y.tls_version, '') IS NOT NULL
				       OR (y.sasl_method IS NOT NULL
					   AND y.kind <> 'auth_failure'))
				OFFSET 0) AS e	-- an index range per part
		), away AS (
			SELECT a.port, a.tls_version AS tv, n.sasl_user AS u,
			       a.network AS net, a.conn_id, a.conn_time
			FROM portmilter.rollup_tls_away AS a
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = a.uid
			WHERE a.day = ANY (pt.clean) AND (p_port IS NULL OR a.port = p_port)
			UNION
			SELECT w.port, w.tv, w.u, w.net, w.conn_id, w.conn_time
			FROM raw AS w WHERE NOT w.home
		), sums AS (
			-- the year, month, tier and day rows summed per user
			-- number, then named (021)
			SELECT x.port, x.tls_version AS tv, n.sasl_user AS u,
			       x.network AS net, x.nevents, x.transactions, x.accepted,
			       x.rejected, x.home_conns AS conns, x.first_seen, x.last_seen
			FROM (SELECT y.port, y.tls_version, y.uid, y.network,
				     portmilter.rollup_sum(y.nevents) AS nevents,
				     portmilter.rollup_sum(y.transactions) AS transactions,
				     portmilter.rollup_sum(y.accepted) AS accepted,
				     portmilter.rollup_sum(y.rejected) AS rejected,
				     portmilter.rollup_sum(y.home_conns) AS home_conns,
				     min(y.first_seen) AS first_seen,
				     max(y.last_seen) AS last_seen
			      FROM (SELECT v.port, v.tls_version, v.uid, v.network,
					   v.nevents[r.hi] - v.nevents[r.lo] AS nevents,
					   v.transactions[r.hi] - v.transactions[r.lo] AS transactions,
					   v.accepted[r.hi] - v.accepted[r.lo] AS accepted,
					   v.rejected[r.hi] - v.rejected[r.lo] AS rejected,
					   v.home_conns[r.hi] - v.home_conns[r.lo] AS home_conns,
					   v.first_from[r.lo] AS first_seen,
					   v.last_upto[r.hi - 1] AS last_seen
				    FROM portmilter.rollup_month_runs(fm) AS r
				    JOIN portmilter.rollup_tls_year AS v ON v.year = r.year
				    WHERE (p_port IS NULL OR v.port = p_port)
				      AND v.nevents[r.hi] <> v.nevents[r.lo]
				    UNION ALL
				    SELECT m.port, m.tls_version, m.uid, m.network,
					   m.nevents, m.transactions, m.accepted,
					   m.rejected, m.home_conns, m.first_seen,
					   m.last_seen
				    FROM portmilter.rollup_tls_month AS m
				    WHERE m.month = ANY (um)
				      AND (p_port IS NULL OR m.port = p_port)
				    UNION ALL
				    SELECT t.port, t.tls_version, t.uid, t.network,
					   t.nevents, t.transactions, t.accepted,
					   t.rejected, t.home_conns, t.first_seen,
					   t.last_seen
				    FROM portmilter.rollup_tls_tier AS t
				    WHERE t.tier = ANY (tiers)
				      AND (p_port IS NULL OR t.port = p_port)
				    UNION ALL
				    SELECT d.port, d.tls_version, d.uid, d.network,
					   d.nevents, d.transactions, d.accepted,
					   d.rejected, d.home_conns, d.first_seen,
					   d.last_seen
				    FROM portmilter.rollup_tls_day AS d
				    WHERE d.day = ANY (days)
				      AND (p_port IS NULL OR d.port = p_port)) AS y
			      GROUP BY y.port, y.tls_version, y.uid, y.network) AS x
			LEFT JOIN portmilter.rollup_user_names AS n ON n.id = x.uid
			UNION ALL
			SELECT w.port, w.tv, w.u, w.net, count(*),
			       count(*) FILTER (WHERE w.kind = 'transaction'),
			       count(*) FILTER (WHERE w.verdict = 'accepted'),
			       count(*) FILTER (WHERE w.verdict = 'rejected'),
			       count(DISTINCT w.conn_id) FILTER (WHERE w.home),
			       min(w.event_time), max(w.event_time)
			FROM raw AS w GROUP BY w.port, w.tv, w.u, w.net
			UNION ALL
			-- the connections of a group with no home row of it in
			-- the window
			SELECT a.port, a.tv, a.u, a.net, 0, 0, 0, 0, count(*), NULL, NULL
			FROM away AS a
			WHERE NOT EXISTS (
				SELECT FROM portmilter.events AS x
				WHERE x.port = a.port
				  AND x.event_time >= GREATEST(p_since, a.conn_time)
				  AND x.event_time < LEAST(p_until,
					pg_catalog.date_trunc('day', a.conn_time) + interval '1 day')
				  AND x.conn_id = a.conn_id
				  AND COALESCE(NULLIF(x.tls_version, ''), '') = a.tv
				  AND x.sasl_user IS NOT DISTINCT FROM a.u
				  AND COALESCE(portmilter.rollup_net(x.client_addr), '') = a.net
				  AND (NULLIF(x.tls_version, '') IS NOT NULL
				       OR (x.sasl_method IS NOT NULL
					   AND x.kind <> 'auth_failure'))
				OFFSET 0)	-- an index range per connection, never a join
			GROUP BY a.port, a.tv, a.u, a.net
		), g AS MATERIALIZED (
			-- grouped apart from the ORDER BY, text keys bytewise (021)
			SELECT s.port, s.tv COLLATE pg_catalog."C" AS tv,
			       s.u COLLATE pg_catalog."C" AS u,
			       s.net COLLATE pg_catalog."C" AS net,
			       portmilter.rollup_sum(s.conns) AS conns,
			       portmilter.rollup_sum(s.transactions) AS transactions,
			       portmilter.rollup_sum(s.accepted) AS accepted,
			       portmilter.rollup_sum(s.rejected) AS rejected,
			       min(s.first_seen) AS first_seen, max(s.last_seen) AS last_seen
			FROM sums AS s
			GROUP BY s.port, s.tv COLLATE pg_catalog."C",
				 s.u COLLATE pg_catalog."C", s.net COLLATE pg_catalog."C"
			HAVING portmilter.rollup_sum(s.nevents) > 0
		), tvs AS (
			-- the versions in SQL_TLS's order: by rank, then as text in
			-- the database's collation; ranked once each (a few values),
			-- not once per row in the sort
			SELECT v.tv, pg_catalog.row_number() OVER (ORDER BY
				CASE WHEN NULLIF(v.tv, '') IS NULL THEN 0
				     WHEN v.tv ~ '^(TLSv|tlsv)1$' THEN 10
				     WHEN v.tv ~ '^(TLSv|tlsv)[1-9]\.[0-9]$'
				     THEN pg_catalog.substr(v.tv, 5, 1)::integer * 10
					  + pg_catalog.substr(v.tv, 7, 1)::integer
				     ELSE -1 END,
				COALESCE(NULLIF(v.tv, ''), 'none') COLLATE pg_catalog."default") AS pos
			FROM (SELECT DISTINCT s.tv FROM g AS s) AS v
		)
		SELECT s.port, COALESCE(NULLIF(s.tv, ''), 'none'), s.u,
		       NULLIF(s.net, '')::cidr,
		       s.conns, s.transactions, s.accepted, s.rejected,
		       s.first_seen, s.last_seen
		FROM g AS s JOIN tvs AS v ON v.tv = s.tv
		ORDER BY s.port, v.pos, s.u NULLS LAST, 4 NULLS LAST;	-- s.u: COLLATE "C"
	END
	$fn$;

	GRANT SELECT ON portmilter.rollup_tls_year, portmilter.rollup_tls_tier
		TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (23);
END
$migration$;
