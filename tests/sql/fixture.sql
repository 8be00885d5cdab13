-- fixture.sql - known events for tests/sql/report.sh. Every expected value
-- in report.sh is worked out by hand from this file: change one, change
-- the other.
--
-- The window of most checks is W = [2024-03-10 00:00, 2024-03-12 00:00) UTC:
-- events e01..e18 are in it, e19..e21 are just outside (e19 one second
-- before, e20 exactly at the end, e21 in April).
--
-- Hostile values: e05/e06/e12 HELO has ESC and CR; e07 HELO is 10 000
-- bytes; e10 user and HELO have quotes and backslashes, sender a comma;
-- e11 user and sender were not UTF-8 (raw bytes kept, U+FFFD in text);
-- e17 HELO has U+009B (C1 CSI) and U+202E (right-to-left override).

SELECT portmilter.create_month_partition('2024-03-01'),
       portmilter.create_month_partition('2024-04-01');

INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, helo, tls_version, sasl_method, sasl_user, sender,
	 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure)
VALUES
-- day 1: 2024-03-10
('e0000000-0000-4000-8000-000000000001', '2024-03-10 08:00:05+00',
 'c0000000-0000-4000-8000-000000000001', '2024-03-10 08:00:00+00',
 'transaction', 'mx1', 587, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 2, 0, 0, 0, 1000,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000002', '2024-03-10 08:01:00+00',
 'c0000000-0000-4000-8000-000000000001', '2024-03-10 08:00:00+00',
 'transaction', 'mx1', 587, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 500,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000003', '2024-03-10 09:15:00+00',
 'c0000000-0000-4000-8000-000000000002', '2024-03-10 09:14:50+00',
 'transaction', 'mx1', 5870, true, '192.0.2.11', 'alice-laptop', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 700,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000004', '2024-03-10 09:30:00+00',
 'c0000000-0000-4000-8000-000000000003', '2024-03-10 09:29:58+00',
 'transaction', 'mx2', 465, true, '198.51.100.7', 'bob-phone', 'TLSv1.2',
 'LOGIN', 'bob', '<bob@example.com>', 3, 0, 0, 0, 2000,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000005', '2024-03-10 10:00:00+00',
 'c0000000-0000-4000-8000-000000000004', '2024-03-10 09:59:59+00',
 'transaction', 'mx1', 25, true, '203.0.113.5', E'evil\x1b[2J\rhost', NULL,
 NULL, NULL, '<spam@evil.example>', 0, 1, 0, 0, NULL,
 'rejected', 'relay', '554 5.7.1 Relay access denied', false),
('e0000000-0000-4000-8000-000000000006', '2024-03-10 10:00:30+00',
 'c0000000-0000-4000-8000-000000000004', '2024-03-10 09:59:59+00',
 'transaction', 'mx1', 25, true, '203.0.113.5', E'evil\x1b[2J\rhost', NULL,
 NULL, NULL, '<spam@evil.example>', 0, 2, 0, 0, NULL,
 'rejected', 'relay', '554 5.7.1 Relay access denied', false),
('e0000000-0000-4000-8000-000000000007', '2024-03-10 10:05:00+00',
 'c0000000-0000-4000-8000-000000000005', '2024-03-10 10:04:00+00',
 'connection', 'mx1', 25, true, '203.0.113.6', repeat('x', 10000), NULL,
 NULL, NULL, NULL, 0, 0, 0, 0, NULL,
 'none', NULL, NULL, false),
('e0000000-0000-4000-8000-000000000008', '2024-03-10 11:00:00+00',
 'c0000000-0000-4000-8000-000000000006', '2024-03-10 10:59:59+00',
 'transaction', 'mx1', 587, true, '198.51.100.7', 'bob-phone', NULL,
 'PLAIN', 'bob', '<bob@example.com>', 0, 0, 0, 0, NULL,
 'rejected', 'tls_before_auth',
 '538 5.7.11 Encryption required for requested authentication mechanism', true),
('e0000000-0000-4000-8000-000000000009', '2024-03-10 12:00:00+00',
 'c0000000-0000-4000-8000-000000000007', '2024-03-10 11:59:00+00',
 'transaction', 'mx1', 12345, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 100, 0, 1, 0, NULL,
 'tempfailed', 'max_recipients', '452 4.5.3 Too many recipients', false),
('e0000000-0000-4000-8000-000000000010', '2024-03-10 13:00:00+00',
 'c0000000-0000-4000-8000-000000000008', '2024-03-10 12:59:00+00',
 'transaction', 'mx1', 587, true, '2001:db8::5', E'quote"helo\\', 'TLSv1.3',
 'PLAIN', E'o''brien\\x', '<"a,b"@example.com>', 1, 0, 0, 0, 300,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000012', '2024-03-10 23:59:59+00',
 'c0000000-0000-4000-8000-000000000010', '2024-03-10 23:59:58+00',
 'transaction', 'mx1', 25, true, '203.0.113.5', E'evil\x1b[2J\rhost', NULL,
 NULL, NULL, '<spam@evil.example>', 0, 1, 0, 0, NULL,
 'rejected', 'relay', '554 5.7.1 Relay access denied', false),
-- day 2: 2024-03-11
('e0000000-0000-4000-8000-000000000013', '2024-03-11 00:00:00+00',
 'c0000000-0000-4000-8000-000000000011', '2024-03-10 23:59:59+00',
 'transaction', 'mx2', 465, true, '198.51.100.7', 'bob-phone', 'TLSv1.2',
 'LOGIN', 'bob', '<bob@example.com>', 1, 0, 0, 0, 800,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000014', '2024-03-11 07:00:00+00',
 'c0000000-0000-4000-8000-000000000012', '2024-03-11 06:59:50+00',
 'transaction', 'mx1', 4650, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 400,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000015', '2024-03-11 07:00:10+00',
 'c0000000-0000-4000-8000-000000000012', '2024-03-11 06:59:50+00',
 'transaction', 'mx1', 4650, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, NULL,
 'aborted', NULL, NULL, false),
('e0000000-0000-4000-8000-000000000016', '2024-03-11 08:00:00+00',
 'c0000000-0000-4000-8000-000000000013', '2024-03-11 07:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.12', 'old-outlook', 'TLSv1.1',
 'PLAIN', 'alice', '<alice@example.com>', 0, 0, 0, 0, NULL,
 'rejected', 'min_tls_version', '554 5.7.0 TLS version too old', false),
('e0000000-0000-4000-8000-000000000017', '2024-03-11 09:00:00+00',
 'c0000000-0000-4000-8000-000000000014', '2024-03-11 08:59:59+00',
 'connection', 'mx1', 5870, true, '192.0.2.200', E'c1\u009bX\u202Ertl', NULL,
 NULL, NULL, NULL, 0, 0, 0, 0, NULL,
 'none', NULL, NULL, false),
('e0000000-0000-4000-8000-000000000018', '2024-03-11 10:00:00+00',
 'c0000000-0000-4000-8000-000000000015', '2024-03-11 09:59:59+00',
 'transaction', 'mx1', 587, false, '192.0.2.201', 'unknown-client', NULL,
 NULL, NULL, '<x@example.org>', 0, 0, 0, 0, NULL,
 'rejected', NULL, '550 5.7.1 Rejected', false),
-- just outside W
('e0000000-0000-4000-8000-000000000019', '2024-03-09 23:59:59+00',
 'c0000000-0000-4000-8000-000000000016', '2024-03-09 23:59:58+00',
 'transaction', 'mx1', 587, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000020', '2024-03-12 00:00:00+00',
 'c0000000-0000-4000-8000-000000000017', '2024-03-11 23:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false),
('e0000000-0000-4000-8000-000000000021', '2024-04-02 10:00:00+00',
 'c0000000-0000-4000-8000-000000000018', '2024-04-02 09:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.10', 'alice-pc', 'TLSv1.3',
 'PLAIN', 'alice', '<alice@example.com>', 1, 0, 0, 0, 100,
 'accepted', NULL, '250 2.0.0 Ok', false);

-- e11: user and sender were not valid UTF-8 ("caf\xe9").
INSERT INTO portmilter.events
	(event_id, event_time, conn_id, conn_time, kind, node, port, port_known,
	 client_addr, helo, tls_version, sasl_method, sasl_user, sender,
	 nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size,
	 verdict, rule, reply, credential_exposure, sasl_user_raw, sender_raw)
VALUES
('e0000000-0000-4000-8000-000000000011', '2024-03-10 14:00:00+00',
 'c0000000-0000-4000-8000-000000000009', '2024-03-10 13:59:59+00',
 'transaction', 'mx1', 587, true, '192.0.2.99', 'cafe', 'TLSv1.3',
 'PLAIN', E'caf\uFFFD', E'<caf\uFFFD@example.com>', 1, 0, 0, 0, 200,
 'accepted', NULL, '250 2.0.0 Ok', false,
 '\x636166e9', '\x3c636166e9406578616d706c652e636f6d3e');
