-- dashboard-sample.sql - a synthetic week of events for the screenshot
-- doc/dashboard.png (not real data): load it into an empty, migrated
-- test database, then
--   portmilter-report --since 2024-03-04 --until 2024-03-11 dashboard -o d.html
-- 60 users spread over the six ports of the shipped config, quieter
-- nights, some old TLS (TLSv1 refused on 587), relay attempts on 25 and
-- one credential exposure.
SELECT portmilter.create_month_partition('2024-03-01');
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, tls_version, sasl_method, sasl_user, nrcpt,
	 nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict, rule,
	 credential_exposure)
SELECT gen_random_uuid(), t, c, t, 'transaction', 'mx1', p,
       true, a, v, CASE WHEN p = 25 THEN NULL ELSE 'PLAIN' END,
       CASE WHEN p = 25 THEN NULL ELSE 'user' || u || '@example.com' END,
       1, 0, 0, 0,
       CASE WHEN p = 25 AND u % 3 = 0 THEN 'rejected'
	    WHEN v = 'TLSv1' AND p = 587 THEN 'rejected' ELSE 'accepted' END,
       CASE WHEN p = 25 AND u % 3 = 0 THEN 'relay'
	    WHEN v = 'TLSv1' AND p = 587 THEN 'min_tls_version' END,
       false
FROM (
	SELECT timestamptz '2024-03-04 00:00+00' + make_interval(mins => i * 7) AS t,
	       gen_random_uuid() AS c, i % 60 AS u,
	       (ARRAY[587, 587, 587, 5870, 5870, 12345, 465, 4650, 25, 25])
		[1 + (i * 7 + (i / 200)) % 10] AS p,
	       ('198.51.' || (i % 60) / 8 || '.' || i % 60)::inet AS a,
	       CASE WHEN i % 60 < 3 THEN 'TLSv1' WHEN i % 60 < 9 THEN 'TLSv1.2'
		    ELSE 'TLSv1.3' END AS v,
	       i
	FROM generate_series(0, 7 * 24 * 60 / 7 - 1) AS i
	WHERE extract(hour FROM timestamptz '2024-03-04 00:00+00'
		+ make_interval(mins => i * 7)) BETWEEN 6 AND 22
	   OR i % 5 = 0
) AS s;
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, sasl_method, sasl_user, nrcpt, nrcpt_rejected,
	 nrcpt_tempfailed, nrcpt_refused, verdict, rule, credential_exposure)
VALUES (gen_random_uuid(), '2024-03-07 10:00+00', gen_random_uuid(),
	'2024-03-07 10:00+00', 'transaction', 'mx1', 587, true, '203.0.113.9',
	'LOGIN', 'user7@example.com', 0, 0, 0, 0, 'rejected', 'tls_before_auth',
	true);
