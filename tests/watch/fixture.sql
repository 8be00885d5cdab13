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

-- Guessing one account: 25 failed logins in 5 minutes from 3 addresses;
-- a typo: 3 failures, no alert.
SELECT pmt_ev('guessed@example.test', ('192.0.2.' || (60 + i % 3))::inet,
	now() - make_interval(secs => 12 * i), 'auth_failure', 'rejected', 0)
FROM generate_series(1, 25) AS i;
SELECT pmt_ev('typo@example.test', '192.0.2.20',
	now() - make_interval(secs => 20 * i), 'auth_failure', 'rejected', 0)
FROM generate_series(1, 3) AS i;

-- Spam to a bad list: 10 messages, 1 recipient accepted and 4 refused
-- each (40 of 50 refused); a typo: 1 refused of 6, no alert.
SELECT pmt_ev('spammer@example.test', '192.0.2.70',
	now() - make_interval(mins => 2 * i), p_nrcpt => 1, p_refused => 4)
FROM generate_series(1, 10) AS i;
SELECT pmt_ev('normal@example.test', '192.0.2.20',
	now() - interval '15 minutes', p_nrcpt => 5, p_refused => 1);

-- Pushing against a budget: 4 refusals by limit_messages in an hour (one
-- in monitor mode).
SELECT pmt_ev('pusher@example.test', '192.0.2.80',
	now() - make_interval(mins => 10 * i), 'transaction', 'tempfailed', 0,
	'limit_messages', p_reply => '451 4.7.1 message budget exceeded')
FROM generate_series(1, 3) AS i;
SELECT pmt_ev('pusher@example.test', '192.0.2.80', now() - interval '45 minutes',
	'transaction', 'accepted', 1, 'limit_messages',
	p_reply => 'monitor: 451 4.7.1 message budget exceeded');
