-- 004_writer_version.sql - the shipper may read schema_version.
--
-- The milter's shipper checks the schema version when it connects and
-- ships nothing into a schema newer than it knows (it keeps the events
-- in its journal and retries); portmilter_writer therefore gets SELECT
-- on portmilter.schema_version (version numbers and dates, nothing
-- else). Every later migration keeps that grant, so a shipper that is
-- refused it is looking at a schema from before this file (version 3 or
-- less).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/004_writer_version.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 4.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 3) THEN
		RAISE EXCEPTION 'portmilter: migration 004 needs 001, 002 and 003 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 4) THEN
		RAISE NOTICE 'portmilter: migration 004 already applied, nothing done';
		RETURN;
	END IF;

	GRANT SELECT ON portmilter.schema_version TO portmilter_writer;

	INSERT INTO portmilter.schema_version (version) VALUES (4);
END
$migration$;
