-- tls-fixture.sql - events for tests/sql/tls.sh, loaded after
-- tests/sql/fixture.sql, all inside its window W = [2024-03-10,
-- 2024-03-12) UTC. Every expected value in tls.sh is worked out by hand
-- from the two files: change one, change the other.
--
-- t01/t02 carol, port 587, TLSv1, two addresses of one /64, two
--         connections, accepted;
-- t03     dave, port 587, "SSLv3" (a version the milter does not know:
--         below every minimum), accepted;
-- t04     port 25, a server (no AUTH) in TLSv1.2, accepted;
-- t05     erin, port 587, TLSv1.2, accepted;
-- t06     port 465, a connection in TLSv1.2 without a transaction.

INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, helo, tls_version, sasl_method, sasl_user, sender,
	 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure)
VALUES
('f0000000-0000-4000-8000-000000000001', '2024-03-10 15:00:00+00',
 'd0000000-0000-4000-8000-000000000001', '2024-03-10 14:59:59+00',
 'transaction', 'mx1', 587, true, '2001:db8:1::7', 'carol-xp', 'TLSv1',
 'LOGIN', 'carol', '<carol@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('f0000000-0000-4000-8000-000000000002', '2024-03-11 15:00:00+00',
 'd0000000-0000-4000-8000-000000000002', '2024-03-11 14:59:59+00',
 'transaction', 'mx1', 587, true, '2001:db8:1::8', 'carol-xp', 'TLSv1',
 'LOGIN', 'carol', '<carol@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('f0000000-0000-4000-8000-000000000003', '2024-03-11 16:00:00+00',
 'd0000000-0000-4000-8000-000000000003', '2024-03-11 15:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.77', 'dave-nas', 'SSLv3',
 'PLAIN', 'dave', '<dave@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('f0000000-0000-4000-8000-000000000004', '2024-03-11 17:00:00+00',
 'd0000000-0000-4000-8000-000000000004', '2024-03-11 16:59:59+00',
 'transaction', 'mx1', 25, true, '203.0.113.9', 'mx.example.net', 'TLSv1.2',
 NULL, NULL, '<news@example.net>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('f0000000-0000-4000-8000-000000000005', '2024-03-11 18:00:00+00',
 'd0000000-0000-4000-8000-000000000005', '2024-03-11 17:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.50', 'erin-mac', 'TLSv1.2',
 'PLAIN', 'erin', '<erin@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('f0000000-0000-4000-8000-000000000006', '2024-03-11 19:00:00+00',
 'd0000000-0000-4000-8000-000000000006', '2024-03-11 18:59:59+00',
 'connection', 'mx1', 465, true, '198.51.100.8', 'scanner', 'TLSv1.2',
 NULL, NULL, NULL, 0, 0, 0, 0, NULL,
 'none', NULL, NULL, false);
