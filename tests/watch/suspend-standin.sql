-- suspend-standin.sql - TEMPORARY: the signature of migration 006's
-- portmilter.suspend() (the suspend branch), recording its calls in a
-- table. Deleted when 006 is merged.
CREATE TABLE public.pmt_suspended (kind text, subject text, reason text,
	created_by text, until timestamptz);
CREATE FUNCTION portmilter.suspend(p_kind text, p_subject text,
	p_reason text, p_created_by text, p_until timestamptz)
RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO public.pmt_suspended VALUES (p_kind, p_subject, p_reason,
		p_created_by, p_until);
	SELECT count(*) FROM public.pmt_suspended
$$;
