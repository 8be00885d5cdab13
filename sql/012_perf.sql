-- 012_perf.sql - the exact size of a message, from Postfix's log.
--
-- The milter no longer reads headers and body unless a port has a
-- limit_bytes budget (issue 17): at end of message it records the size
-- the client declared (MAIL FROM ... SIZE=N; NULL without one), or the
-- bytes it counted when it read the message. Where the milter's log
-- reader runs (postfix_log), qmgr's "QUEUEID: from=<...>, size=N,
-- nrcpt=N (queue active)" line gives Postfix's exact size: the reader
-- journals it as a row of kind 'size' carrying the (event_time,
-- event_id) of the transaction it belongs to (doc/events.md). Such a row
-- is never stored: the trigger events_size sets size and size_exact of
-- that transaction and skips the row. Applying it twice gives the same
-- result (idempotent, as shipping is); a row whose transaction is not
-- there (never shipped, quarantined) changes nothing.
--
--   events.size_exact  true: size is Postfix's own (qmgr's size=, the
--                      queue file's message size); false: what the
--                      milter knew at end of message
--
-- The trigger function runs with its owner's rights (SECURITY DEFINER,
-- search_path fixed), so portmilter_writer still may only INSERT: it
-- can neither read events nor update them itself; all it can do is
-- have the size of a transaction set, by inserting a size row naming
-- it.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/012_perf.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 12.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 012 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 12) THEN
		RAISE NOTICE 'portmilter: migration 012 already applied, nothing done';
		RETURN;
	END IF;

	ALTER TABLE portmilter.events
		ADD COLUMN size_exact boolean NOT NULL DEFAULT false;
	COMMENT ON COLUMN portmilter.events.size_exact IS
		'true: size is Postfix''s (qmgr size= from its log); false: the '
		'size the client declared (SIZE=) or the milter counted';

	CREATE FUNCTION portmilter.events_size_apply() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		UPDATE portmilter.events
		   SET size = NEW.size, size_exact = true
		 WHERE event_time = NEW.event_time AND event_id = NEW.event_id
		   AND kind = 'transaction' AND node = NEW.node;
		RETURN NULL;	-- the size row itself is never stored
	END
	$fn$;
	COMMENT ON FUNCTION portmilter.events_size_apply() IS
		'a row of kind size sets size and size_exact of its transaction '
		'(same event_time, event_id, node) and is not stored';
	REVOKE ALL ON FUNCTION portmilter.events_size_apply() FROM PUBLIC;

	-- "a" first: before any other BEFORE trigger sees the row
	CREATE TRIGGER a_events_size BEFORE INSERT ON portmilter.events
		FOR EACH ROW WHEN (NEW.kind = 'size')
		EXECUTE FUNCTION portmilter.events_size_apply();

	INSERT INTO portmilter.schema_version (version) VALUES (12);
END
$migration$;
