-- 003_roles.sql - the two group roles and their privileges.
--
--   portmilter_writer  the milter's shipper: USAGE on the schema, INSERT on
--                      events (INSERT ... ON CONFLICT DO NOTHING needs no
--                      more), EXECUTE on ensure_partitions(). It cannot
--                      read, change or delete what it wrote.
--   portmilter_reader  the abuse team and portmilter-report: USAGE on the
--                      schema, SELECT on the tables and views.
-- Both are NOLOGIN, created only when missing, never with a password. An
-- administrator grants them to login roles (sql/README.md, "Roles"):
--   CREATE ROLE pm_milter LOGIN;  GRANT portmilter_writer TO pm_milter;
--
-- Creating the roles needs CREATEROLE (or superuser) unless they exist.
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/003_roles.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 3.
-- A later migration that adds a table or view grants it itself.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 2) THEN
		RAISE EXCEPTION 'portmilter: migration 003 needs 001 and 002 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 3) THEN
		RAISE NOTICE 'portmilter: migration 003 already applied, nothing done';
		RETURN;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
		       WHERE rolname = 'portmilter_writer') THEN
		CREATE ROLE portmilter_writer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
		       WHERE rolname = 'portmilter_reader') THEN
		CREATE ROLE portmilter_reader NOLOGIN;
	END IF;
	COMMENT ON ROLE portmilter_writer IS
		'portmilter shipper: INSERT on portmilter.events, ensure_partitions()';
	COMMENT ON ROLE portmilter_reader IS
		'portmilter abuse team: SELECT on the portmilter tables and views';

	GRANT USAGE ON SCHEMA portmilter TO portmilter_writer, portmilter_reader;

	GRANT INSERT ON portmilter.events TO portmilter_writer;
	GRANT EXECUTE ON FUNCTION portmilter.ensure_partitions(integer)
		TO portmilter_writer;

	GRANT SELECT ON portmilter.schema_version, portmilter.events,
		portmilter.port_hourly, portmilter.port_daily,
		portmilter.port_adoption, portmilter.user_activity,
		portmilter.ip_activity
		TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (3);
END
$migration$;
