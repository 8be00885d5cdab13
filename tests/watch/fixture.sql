-- fixture.sql - synthetic events for tests/watch/*.sh, with timestamps
-- relative to now(). pmt_ev() inserts one event; the scenarios below use
-- it through generate_series. Every address is in a documentation or
-- private range.
CREATE FUNCTION public.pmt_ev(p_user text, p_addr inet, p_t timestamptz,
	p_kind text DEFAULT 'transaction', p_verdict text DEFAULT 'accepted',
	p_nrcpt integer DEFAULT 1, p_rule text DEFAULT NULL,
	p_exposure boolean DEFAULT false, p_refused integer DEFAULT 0,
	p_reply text DEFAULT NULL)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO portmilter.events (event_id, event_time, conn_id,
		conn_time, kind, node, port, port_known, client_addr,
		sasl_user, nrcpt, nrcpt_rejected, nrcpt_tempfailed,
		nrcpt_refused, verdict, rule, reply, credential_exposure)
	VALUES (gen_random_uuid(), p_t, gen_random_uuid(), p_t, p_kind,
		'test-node', 587, true, p_addr, p_user, p_nrcpt, p_refused, 0,
		0, p_verdict, p_rule, p_reply, p_exposure)
$$;

-- The hijacked account: a quiet history (one address, 3 messages a day
-- for 14 days), then 40 addresses in 40 networks in the last 20 minutes.
SELECT pmt_ev('hijacked@example.test', '198.51.100.10',
	now() - make_interval(days => d, hours => h))
FROM generate_series(1, 14) AS d, generate_series(9, 11) AS h;
SELECT pmt_ev('hijacked@example.test',
	('10.' || (i % 5) || '.' || i || '.7')::inet,
	now() - make_interval(secs => 30 * i))
FROM generate_series(1, 40) AS i;

-- The normal user: a laptop at home and a phone on a mobile network
-- (three addresses of one /24), 14 days; one trip two days ago from a
-- hotel network; today home and phone again.
SELECT pmt_ev('normal@example.test', '192.0.2.20',
	now() - make_interval(days => d, hours => 2))
FROM generate_series(0, 13) AS d;
SELECT pmt_ev('normal@example.test', ('203.0.113.' || (d % 3 + 1))::inet,
	now() - make_interval(days => d, mins => 30))
FROM generate_series(0, 13) AS d;
SELECT pmt_ev('normal@example.test', '198.18.7.9',
	now() - make_interval(days => 2, hours => h))
FROM generate_series(1, 4) AS h;
SELECT pmt_ev('normal@example.test', '203.0.113.2', now() - interval '5 minutes');
SELECT pmt_ev('normal@example.test', '192.0.2.20', now() - interval '10 minutes');

-- The bulk sender, in class "bulk" (5000/1h): new, 1000 messages of 20
-- recipients in the last hour.
SELECT pmt_ev('bulk@example.test', '192.0.2.30',
	now() - make_interval(secs => 3 * i), p_nrcpt => 20)
FROM generate_series(1, 1000) AS i;

-- A burst: usually about 10 messages an hour (14 days), 300 in the last.
SELECT pmt_ev('burst@example.test', '192.0.2.40',
	now() - make_interval(days => d, hours => h, mins => m))
FROM generate_series(1, 14) AS d, generate_series(8, 17) AS h,
     generate_series(0, 54, 6) AS m;
SELECT pmt_ev('burst@example.test', '192.0.2.40',
	now() - make_interval(secs => 10 * i))
FROM generate_series(1, 300) AS i;

-- The sprayer: one address, 50 users, 2 attempts each, last 30 minutes.
SELECT pmt_ev('victim' || u || '@example.test', '192.0.2.99',
	now() - make_interval(secs => 15 * u + a), 'auth_failure', 'rejected',
	0, 'postfix_auth')
FROM generate_series(1, 50) AS u, generate_series(0, 1) AS a;
