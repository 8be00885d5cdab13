-- 006_suspensions.sql - suspended users and client addresses, refused at
-- MAIL on every node (rule "suspended"; README.md, "Suspensions").
--
--   portmilter.suspensions         one row per suspension, never deleted
--                                  by suspend/unsuspend: lifting one sets
--                                  lifted_at and lifted_by (who/when/why
--                                  stays on the record). kind 'user' (a
--                                  SASL login, matched ASCII
--                                  case-insensitively, as the milter does)
--                                  or 'address' (an inet/cidr, stored in
--                                  its canonical cidr text: 192.0.2.7/32).
--                                  created_role / lifted_role: the
--                                  database role (session_user) that
--                                  called suspend()/unsuspend(), whatever
--                                  created_by / lifted_by say.
--   portmilter.suspensions_active  the ones in force: not lifted, until
--                                  NULL or in the future
--   portmilter.suspension_generation
--                                  one row, its generation bumped by a
--                                  trigger on every change of
--                                  suspensions: a milter polls it (one
--                                  tiny query) and reloads the list only
--                                  when it changed
--   portmilter.suspend(kind, subject, reason, created_by, until)
--                                  the id of the new suspension, or of the
--                                  one already in force for that subject
--                                  (idempotent: its reason and until stay)
--   portmilter.unsuspend(subject, lifted_by)
--                                  lifts every suspension in force of that
--                                  login (case-insensitive) or that exact
--                                  network; returns how many
--
-- Roles: a new NOLOGIN role portmilter_admin, member of portmilter_reader,
-- is the only one that may EXECUTE suspend() and unsuspend() (SECURITY
-- DEFINER functions with a fixed search_path: nobody gets INSERT or UPDATE
-- on the table itself). portmilter_writer (the milter) may SELECT the view
-- suspensions_active and suspension_generation; portmilter_reader may
-- SELECT all three.
--
-- Apply with `portmilter-report migrate`, or
--   psql -X -v ON_ERROR_STOP=1 -1 -f sql/006_suspensions.sql DBNAME
-- One DO block: atomic, and a no-op when schema_version holds version 6.

DO $migration$
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(1886218599);
	IF pg_catalog.to_regclass('portmilter.schema_version') IS NULL
	   OR NOT EXISTS (SELECT FROM portmilter.schema_version WHERE version = 5) THEN
		RAISE EXCEPTION 'portmilter: migration 006 needs 001 to 005 first';
	END IF;
	IF EXISTS (SELECT FROM portmilter.schema_version WHERE version = 6) THEN
		RAISE NOTICE 'portmilter: migration 006 already applied, nothing done';
		RETURN;
	END IF;

	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
		       WHERE rolname = 'portmilter_admin') THEN
		CREATE ROLE portmilter_admin NOLOGIN;
	END IF;
	COMMENT ON ROLE portmilter_admin IS
		'portmilter abuse team with the right to act: suspend(), unsuspend(); '
		'also portmilter_reader';
	GRANT portmilter_reader TO portmilter_admin;

	-- ASCII letters only, as the milter folds a login (lower() would
	-- also fold other letters by the locale, the milter does not).
	CREATE FUNCTION portmilter.ascii_lower(s text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN pg_catalog.translate(s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
				    'abcdefghijklmnopqrstuvwxyz');

	CREATE TABLE portmilter.suspensions (
		suspension_id bigserial PRIMARY KEY,
		kind text NOT NULL CHECK (kind IN ('user', 'address')),
		subject text NOT NULL CHECK (subject <> ''),
		reason text NOT NULL DEFAULT '',
		created_by text NOT NULL,
		created_role text NOT NULL DEFAULT session_user,
		created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
		until timestamptz,
		lifted_at timestamptz,
		lifted_by text,
		lifted_role text,
		CHECK (CASE WHEN kind = 'address'
			    THEN subject = (subject::cidr)::text ELSE true END),
		CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
	);
	COMMENT ON TABLE portmilter.suspensions IS
		'suspended users and client addresses: refused at MAIL on every node';
	-- What the milters load, and suspend()'s "already in force?".
	CREATE INDEX suspensions_in_force ON portmilter.suspensions
		(kind, portmilter.ascii_lower(subject)) WHERE lifted_at IS NULL;

	CREATE VIEW portmilter.suspensions_active AS
		SELECT s.suspension_id, s.kind, s.subject, s.reason, s.created_by,
		       s.created_role, s.created_at, s.until
		FROM portmilter.suspensions AS s
		WHERE s.lifted_at IS NULL
		  AND (s.until IS NULL OR s.until > pg_catalog.now());

	CREATE TABLE portmilter.suspension_generation (
		one boolean PRIMARY KEY DEFAULT true CHECK (one),
		generation bigint NOT NULL,
		changed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
	);
	INSERT INTO portmilter.suspension_generation (generation) VALUES (1);

	CREATE FUNCTION portmilter.suspension_bump() RETURNS trigger
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = ''
	AS $fn$
	BEGIN
		UPDATE portmilter.suspension_generation
		SET generation = generation + 1, changed_at = pg_catalog.now();
		RETURN NULL;
	END
	$fn$;
	CREATE TRIGGER suspensions_bump
		AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON portmilter.suspensions
		FOR EACH STATEMENT EXECUTE FUNCTION portmilter.suspension_bump();

	CREATE FUNCTION portmilter.suspend(p_kind text, p_subject text,
		p_reason text, p_created_by text, p_until timestamptz)
	RETURNS bigint
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = ''
	AS $fn$
	DECLARE
		v_subject text := p_subject;
		v_id bigint;
	BEGIN
		IF p_kind IS NULL OR p_kind NOT IN ('user', 'address') THEN
			RAISE EXCEPTION 'suspend: kind must be user or address'
				USING ERRCODE = '22023';
		END IF;
		IF p_subject IS NULL OR p_subject = '' THEN
			RAISE EXCEPTION 'suspend: empty subject' USING ERRCODE = '22023';
		END IF;
		IF p_created_by IS NULL OR p_created_by = '' THEN
			RAISE EXCEPTION 'suspend: created_by must say who'
				USING ERRCODE = '22023';
		END IF;
		IF p_until IS NOT NULL AND p_until <= pg_catalog.now() THEN
			RAISE EXCEPTION 'suspend: until (%) is not in the future', p_until
				USING ERRCODE = '22023';
		END IF;
		IF p_kind = 'address' THEN
			-- '192.0.2.7' -> '192.0.2.7/32'; host bits set is an error
			v_subject := (p_subject::cidr)::text;
		END IF;
		-- One at a time per subject, so two callers never both insert.
		PERFORM pg_catalog.pg_advisory_xact_lock(1886218600,
			pg_catalog.hashtext(p_kind || ':' || portmilter.ascii_lower(v_subject)));
		SELECT s.suspension_id INTO v_id
		FROM portmilter.suspensions AS s
		WHERE s.kind = p_kind
		  AND portmilter.ascii_lower(s.subject) = portmilter.ascii_lower(v_subject)
		  AND s.lifted_at IS NULL
		  AND (s.until IS NULL OR s.until > pg_catalog.now())
		ORDER BY s.suspension_id LIMIT 1;
		IF FOUND THEN
			RETURN v_id;
		END IF;
		INSERT INTO portmilter.suspensions (kind, subject, reason,
			created_by, created_role, until)
		VALUES (p_kind, v_subject, COALESCE(p_reason, ''), p_created_by,
			session_user, p_until)
		RETURNING suspension_id INTO v_id;
		RETURN v_id;
	END
	$fn$;

	CREATE FUNCTION portmilter.unsuspend(p_subject text, p_lifted_by text)
	RETURNS integer
	LANGUAGE plpgsql
	SECURITY DEFINER
	SET search_path = ''
	AS $fn$
	DECLARE
		v_net cidr;
		v_n integer;
	BEGIN
		IF p_lifted_by IS NULL OR p_lifted_by = '' THEN
			RAISE EXCEPTION 'unsuspend: lifted_by must say who'
				USING ERRCODE = '22023';
		END IF;
		BEGIN
			v_net := p_subject::cidr;
		EXCEPTION WHEN invalid_text_representation OR
			       invalid_binary_representation THEN
			v_net := NULL;	-- a login, not an address
		END;
		UPDATE portmilter.suspensions AS s
		SET lifted_at = pg_catalog.now(), lifted_by = p_lifted_by,
		    lifted_role = session_user
		WHERE s.lifted_at IS NULL
		  AND (s.until IS NULL OR s.until > pg_catalog.now())
		  AND ((s.kind = 'user' AND
			portmilter.ascii_lower(s.subject) = portmilter.ascii_lower(p_subject))
		       OR (s.kind = 'address' AND v_net IS NOT NULL AND
			   s.subject = v_net::text));
		GET DIAGNOSTICS v_n = ROW_COUNT;
		RETURN v_n;
	END
	$fn$;

	REVOKE ALL ON FUNCTION portmilter.suspend(text, text, text, text, timestamptz),
		portmilter.unsuspend(text, text), portmilter.suspension_bump()
		FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION
		portmilter.suspend(text, text, text, text, timestamptz),
		portmilter.unsuspend(text, text)
		TO portmilter_admin;
	GRANT SELECT ON portmilter.suspensions_active,
		portmilter.suspension_generation TO portmilter_writer;
	GRANT SELECT ON portmilter.suspensions, portmilter.suspensions_active,
		portmilter.suspension_generation TO portmilter_reader;

	INSERT INTO portmilter.schema_version (version) VALUES (6);
END
$migration$;
