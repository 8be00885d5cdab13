-- 008_usage.sql - sending-budget usage shared by the nodes (issue 11).
--
-- Every node's milter counts its budgets in memory (milter/budget.h) and
-- learns the other nodes' usage from this table, in a background thread
-- (milter/usage.h), never on the SMTP path:
--
--   portmilter.usage  one row per (shipped statement, node, second, port,
--                     budget key) of accepted transactions: messages,
--                     accepted recipients, KiB (each message's size
--                     rounded up, as the milter counts it). Written by a
--                     trigger on portmilter.events, so in the same
--                     transaction as the events and only for the rows
--                     really inserted (an event shipped twice is stored
--                     once, and counted once). Rows are never updated:
--                     xid (the writing transaction) lets a reader take
--                     exactly the rows committed since its last read
--                     (pg_visible_in_snapshot against the snapshot it
--                     saw then), whatever order transactions commit in.
--   usage_prune(keep) deletes the rows older than keep (the milters call
--                     it with their longest budget window).
--
-- The budget key, as milter/budget.c makes it: login = the SASL login in
-- ASCII lower case when there is one (client NULL), else client = the
-- client address (IPv4, also when IPv4-mapped) or its /64 (IPv6) and
-- login NULL.
--
-- portmilter_writer may read usage (the milters pull it) and run
-- usage_prune(); the trigger writes as the schema owner (SECURITY
-- DEFINER), so the writer still cannot change a row. portmilter_reader
-- may read it (portmilter-report limits).
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/008_usage.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 8.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 008 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 8) THEN
		RAISE NOTICE 'portmilter: migration 008 already applied, nothing done';
		RETURN;
	END IF;

	CREATE TABLE portmilter.usage (
		xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
		node text NOT NULL,
		at timestamptz NOT NULL,	-- the events' second
		port integer NOT NULL,
		login text,
		client inet,
		messages bigint NOT NULL,
		recipients bigint NOT NULL,
		kbytes bigint NOT NULL,
		CONSTRAINT usage_key_check CHECK ((login IS NULL) <> (client IS NULL))
	);
	COMMENT ON TABLE portmilter.usage IS
		'accepted transactions per node, second, port and budget key '
		'(SASL login, else client address or /64), for the sending '
		'budgets across nodes; written by a trigger on events';
	-- The milters' pulls (xid after their last snapshot's xmin), the
	-- reload at start, pruning and portmilter-report limits (at).
	CREATE INDEX usage_xid_idx ON portmilter.usage (xid);
	CREATE INDEX usage_at_idx ON portmilter.usage (at);

	CREATE FUNCTION portmilter.usage_from_events()
	RETURNS trigger
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	BEGIN
		INSERT INTO portmilter.usage (node, at, port, login, client,
					      messages, recipients, kbytes)
		SELECT n.node, pg_catalog.date_trunc('second', n.event_time),
		       n.port,
		       CASE WHEN COALESCE(n.sasl_user, '') <> '' THEN
			pg_catalog.translate(n.sasl_user,
				'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
				'abcdefghijklmnopqrstuvwxyz') END,
		       CASE WHEN COALESCE(n.sasl_user, '') = '' THEN
			CASE WHEN pg_catalog.family(n.client_addr) = 4 THEN
				pg_catalog.set_masklen(n.client_addr, 32)
			-- IPv4-mapped: the IPv4 address, as lib/addr.c takes it
			WHEN n.client_addr <<= inet '::ffff:0.0.0.0/96' THEN
				pg_catalog.substr(pg_catalog.host(n.client_addr),
						  8)::inet
			ELSE pg_catalog.network(pg_catalog.set_masklen(
				n.client_addr, 64))::inet END END,
		       count(*), COALESCE(sum(n.nrcpt), 0),
		       COALESCE(sum((COALESCE(n.size, 0) + 1023) / 1024), 0)
		FROM new_events AS n
		WHERE n.kind = 'transaction' AND n.verdict = 'accepted'
		  AND (COALESCE(n.sasl_user, '') <> '' OR n.client_addr IS NOT NULL)
		GROUP BY 1, 2, 3, 4, 5;
		RETURN NULL;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.usage_from_events() FROM PUBLIC;

	CREATE TRIGGER events_usage
		AFTER INSERT ON portmilter.events
		REFERENCING NEW TABLE AS new_events
		FOR EACH STATEMENT
		EXECUTE FUNCTION portmilter.usage_from_events();

	-- Delete the rows older than p_keep (1 minute to 35 days: the
	-- longest window, 30 days, and its slot); returns
	-- how many. Called by the milters every minute or so.
	CREATE FUNCTION portmilter.usage_prune(p_keep interval)
	RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
	AS $fn$
	DECLARE
		n bigint;
	BEGIN
		IF p_keep IS NULL OR p_keep < interval '1 minute'
		   OR p_keep > interval '35 days' THEN
			RAISE EXCEPTION 'usage_prune: keep must be 1 minute to 35 days, not %',
				p_keep USING ERRCODE = 'invalid_parameter_value';
		END IF;
		DELETE FROM portmilter.usage WHERE at < pg_catalog.now() - p_keep;
		GET DIAGNOSTICS n = ROW_COUNT;
		RETURN n;
	END
	$fn$;
	REVOKE ALL ON FUNCTION portmilter.usage_prune(interval) FROM PUBLIC;

	GRANT SELECT ON portmilter.usage TO portmilter_writer, portmilter_reader;
	GRANT EXECUTE ON FUNCTION portmilter.usage_prune(interval)
		TO portmilter_writer;

	INSERT INTO portmilter.schema_version (version) VALUES (8);
END
$migration$;
