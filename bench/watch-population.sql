-- watch-population.sql - a synthetic population of normal users for
-- portmilter-watch's false-positive figure and its cost (bench/watch-bench.sh,
-- tests/watch/population.sh). psql variables: users, days (ending now).
--
-- The behaviour model (doc/watch.md, "False positives"), per user u:
--   - a usual rate of 1..20 messages a day; each day 0.5..1.5 times it,
--     at random times between 08:00 and 22:00 UTC, 1..10 recipients
--     (mostly 1), one in 20 messages with a recipient Postfix refused;
--   - 70 % of messages from the laptop: at home (10.A.B.1, A.B from u),
--     on one day in five at the office (10.200.A.1);
--     30 % from the phone: a mobile carrier's CGNAT pool (one of four
--     carriers, a random /24 of 100.64.0.0/10 every message);
--   - one user in ten travels once: 3 days on hotel networks
--     (172.16-31.x.x, a new one each day) with the laptop;
--   - one user in 200 sends a newsletter: 150..300 messages a day in two
--     morning hours, 1..50 recipients each, every day;
--   - one user in 50 mistypes the password: 1..3 failed logins on one day.
-- Random but repeatable (setseed).
SELECT setseed(0.4242);

CREATE TEMP TABLE pop AS
SELECT u, 1 + floor(random() * 20)::int AS rate,
       floor(random() * 4)::int AS carrier,
       (random() < 0.1) AS traveller,
       floor(random() * (:days - 3))::int AS trip_day,
       (u % 200 = 7) AS newsletter,
       (random() < 0.02) AS typo,
       floor(random() * :days)::int AS typo_day
FROM generate_series(1, :users) AS u;

CREATE TEMP TABLE msgs AS
SELECT p.u, p.carrier, p.traveller, p.trip_day, d,
       date_trunc('day', now() - make_interval(days => d))
	 + make_interval(secs => 8 * 3600 + random() * 14 * 3600) AS t,
       random() AS r1, random() AS r2
FROM pop AS p, generate_series(0, :days - 1) AS d,
     LATERAL generate_series(1, greatest(0, round(p.rate * (0.5 + random())))::int
			     + (d * 0 + p.u * 0)) AS m
WHERE NOT p.newsletter;

INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, sasl_user, nrcpt,
	nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	credential_exposure, tls_version)
SELECT gen_random_uuid(), m.t, gen_random_uuid(), m.t, 'transaction',
       'bench', 587, true,
       CASE
	 WHEN m.traveller AND m.d BETWEEN m.trip_day AND m.trip_day + 2
	      AND m.r1 < 0.7
	   THEN ('172.' || (16 + (m.u + m.d) % 16) || '.' || ((m.u * 7 + m.d) % 256)
		 || '.' || (1 + m.u % 250))::inet
	 WHEN m.r1 < 0.7 AND m.d % 5 = m.u % 5
	   THEN ('10.200.' || (m.u % 256) || '.1')::inet
	 WHEN m.r1 < 0.7
	   THEN ('10.' || (m.u / 256 % 200) || '.' || (m.u % 256) || '.1')::inet
	 ELSE ('100.' || (64 + m.carrier * 16 + floor(m.r2 * 16)::int) || '.'
	       || floor(random() * 256)::int || '.' || (1 + floor(random() * 254)::int))::inet
       END,
       'user' || m.u || '@example.test',
       1 + floor(power(m.r2, 4) * 10)::int, 0, 0,
       CASE WHEN random() < 0.05 THEN 1 ELSE 0 END, 'accepted', false, 'TLSv1.3'
FROM msgs AS m
WHERE m.t <= now();

-- Newsletter senders: every day, two morning hours.
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, sasl_user, nrcpt,
	nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	credential_exposure, tls_version)
SELECT gen_random_uuid(), x.t, gen_random_uuid(), x.t, 'transaction',
       'bench', 587, true, ('10.250.' || (x.u % 256) || '.9')::inet,
       'user' || x.u || '@example.test', 1 + floor(random() * 50)::int,
       0, 0, 0, 'accepted', false, 'TLSv1.3'
FROM (SELECT p.u, date_trunc('day', now() - make_interval(days => d))
		 + make_interval(secs => 9 * 3600 + random() * 7200) AS t
      FROM pop AS p, generate_series(0, :days - 1) AS d,
	   LATERAL generate_series(1, 150 + floor(random() * 150)::int
				   + (d * 0 + p.u * 0)) AS m
      WHERE p.newsletter) AS x
WHERE x.t <= now();

-- Typos: 1..3 failed logins, one day.
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, sasl_user, sasl_method,
	nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	rule, credential_exposure)
SELECT gen_random_uuid(), t, gen_random_uuid(), t, 'auth_failure', 'bench',
       587, true, ('10.' || (p.u / 256 % 200) || '.' || (p.u % 256) || '.1')::inet,
       'user' || p.u || '@example.test', 'PLAIN', 0, 0, 0, 0, 'rejected',
       'postfix_auth', false
FROM pop AS p, generate_series(1, 1 + floor(random() * 3)::int + p.u * 0) AS k,
     LATERAL (SELECT date_trunc('day', now() - make_interval(days => p.typo_day))
		     + make_interval(secs => 10 * 3600 + k * 20) AS t) AS tt
WHERE p.typo AND tt.t <= now();

ANALYZE portmilter.events;
