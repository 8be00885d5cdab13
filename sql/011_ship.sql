-- 011_ship.sql - a shipping watermark per node, so that the milter's
-- shipper can COPY straight into portmilter.events.
--
-- One row per node (node_name): every record of the journal of the
-- shipper's current run (run: a random id made when the milter starts)
-- before position (seg, off) is stored in portmilter.events. The shipper
-- moves it in the same transaction as the rows it ships, so the two
-- cannot disagree. A batch that starts at or after the watermark cannot
-- hold a stored event: it is COPYed into portmilter.events directly,
-- with no staging table and no ON CONFLICT (about half of PostgreSQL's
-- work per event). A batch behind it (read again after a commit whose
-- outcome was lost with the connection), or whose direct COPY meets an
-- event already stored (a restart after a crash between the commit and
-- the journal checkpoint, a journal restored from a copy, a database
-- restore), goes through a staging table and INSERT ... ON CONFLICT DO
-- NOTHING: exactly once in every case. The watermark is trusted only
-- within one run because journal positions only grow while the journal
-- stays open: a journal restored from a snapshot would reuse them.
--
-- portmilter_writer may SELECT, INSERT and UPDATE this table (not
-- DELETE); portmilter_reader may read it (shipped_at per node: when each
-- node last shipped).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/011_ship.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 11.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 011 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 11) THEN
		RAISE NOTICE 'portmilter: migration 011 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.ship_watermark (
		node text PRIMARY KEY,
		run uuid NOT NULL,
		seg bigint NOT NULL CONSTRAINT ship_watermark_seg_check CHECK (seg >= 0),
		off bigint NOT NULL CONSTRAINT ship_watermark_off_check CHECK (off >= 0),
		shipped_at timestamptz NOT NULL DEFAULT pg_catalog.now()
	);
	COMMENT ON TABLE portmilter.ship_watermark IS
		'per node: every record of the journal of the shipper''s run before '
		'(seg, off) is in events (moved in the same transaction as its rows)';

	GRANT SELECT, INSERT, UPDATE ON portmilter.ship_watermark TO portmilter_writer;
	GRANT SELECT ON portmilter.ship_watermark TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (11);
END
$migration$;
