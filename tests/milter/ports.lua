-- ports.lua - the sessions real clients produce on each port of the
-- shipped etc/portmilter.conf (25 mx; 587, 5870, 12345 submission;
-- 465, 4650 submissions) and on 2526, the shipped 25 plus relay_networks
-- (ports.conf-head), checked against the rules of milter/policy.h and
-- doc/DESIGN.md: the reply at each stage and, for a refusal, the code,
-- enhanced code and rule in the daemon's decision line.
-- Run by tests/milter/run-lua.sh (miltertest -s).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE
local LOCAL, from, remote = LOCAL_RCPT, tag_from, tag_remote

-- connect, HELO and MAIL went through.
local function up_to_mail(r)
	expect(r.connect, C, "connect")
	expect(r.helo, C, "HELO")
	expect(r.mail, C, "MAIL")
end

local function accepted(r, m, needle)
	up_to_mail(r)
	for i, rr in ipairs(r.rcpt) do
		expect(rr, C, "RCPT " .. i)
	end
	check(#r.rcpt > 0, "no RCPT reply")
	not_refused(m, needle)
end

local function mail_refused(r, m, needle, code, xcode, rule)
	expect(r.connect, C, "connect")
	expect(r.helo, C, "HELO")
	local line = refused(r.mail, m, needle, "MAIL", code, xcode, rule)
	check(r.rcpt[1] == nil, "RCPT sent after a refused MAIL")
	return line
end

-- The credential-exposure warning names the user.
local function exposure_logged(m, user)
	for _, line in ipairs(log_lines(m, "credential exposure")) do
		if line:find("<" .. user .. ">", 1, true) then
			return line
		end
	end
	error("no \"credential exposure\" warning naming <" .. user .. ">", 2)
end

-- ---- 25: mx ------------------------------------------------------------------

case("25 mx: plaintext, no AUTH, local recipient: accepted", function()
	local m = log_mark()
	local r = session({ port = 25, from = from("p25-local"), rcpts = { LOCAL } })
	accepted(r, m, "p25-local@")
end)

case("25 mx: plaintext, remote recipient (mailer smtp): RCPT 554 5.7.1 rule=relay",
     function()
	local m = log_mark()
	local r = session({ port = 25, from = from("p25-relay"),
			    rcpts = { remote("p25-relay-to") } })
	up_to_mail(r)
	refused(r.rcpt[1], m, "p25-relay@", "RCPT", "554", "5.7.1", "relay")
end)

case("25 mx: TLSv1.3 + AUTH, remote recipient: accepted", function()
	local m = log_mark()
	local r = session({ port = 25, tls = "TLSv1.3", auth = true,
			    user = "p25-auth@example.test", from = from("p25-auth"),
			    rcpts = { remote("p25-auth-to"), LOCAL } })
	accepted(r, m, "p25-auth@")
end)

case("25 mx: AUTH without TLS: MAIL 538 5.7.11 rule=tls_before_auth, exposure logged",
     function()
	local m = log_mark()
	local r = session({ port = 25, auth = "LOGIN", user = "p25-exposed@example.test",
			    from = from("p25-exposed"), rcpts = { remote("x") } })
	mail_refused(r, m, "p25-exposed@client", "538", "5.7.11", "tls_before_auth")
	exposure_logged(m, "p25-exposed@example.test")
end)

case("25 mx: recipient refused by Postfix (mailer error): continue, not judged again",
     function()
	local m = log_mark()
	local r = session({ port = 25, from = from("p25-error"),
			    rcpts = { { addr = "<nobody@remote.example>", mailer = "error" },
				      LOCAL } })
	accepted(r, m, "p25-error@")
	-- DESIGN: the milter still sees and records it.
	local l = log_wait(m, "refused_by_postfix=1", 5)
	check(#l > 0 and l[1]:find("p25-error@", 1, true),
	      "no transaction line with refused_by_postfix=1 for p25-error")
end)

-- ---- 587, 5870, 12345: submission ----------------------------------------

for _, port in ipairs({ 587, 5870, 12345 }) do
	local p = "p" .. port

	case(port .. " submission: plaintext: MAIL 530 5.7.0 rule=require_tls", function()
		local m = log_mark()
		local r = session({ port = port, from = from(p .. "-plain") })
		mail_refused(r, m, p .. "-plain@", "530", "5.7.0", "require_tls")
	end)

	case(port .. " submission: TLSv1.3 without AUTH: MAIL 530 5.7.0 rule=require_auth",
	     function()
		local m = log_mark()
		local r = session({ port = port, tls = "TLSv1.3", from = from(p .. "-noauth") })
		mail_refused(r, m, p .. "-noauth@", "530", "5.7.0", "require_auth")
	end)

	case(port .. " submission: TLSv1.3 + AUTH, remote recipient: accepted, EOM continues",
	     function()
		local m = log_mark()
		local r = session({ port = port, tls = "TLSv1.3", auth = true,
				    from = from(p .. "-ok"),
				    rcpts = { remote(p .. "-ok-to") }, eom = true })
		accepted(r, m, p .. "-ok@")
		check(r.eom == C or r.eom == SMFIR_ACCEPT,
		      "EOM: expected continue or accept, got %s", reply_name(r.eom))
	end)

	case(port .. " submission: AUTH without TLS: MAIL 538 5.7.11 rule=tls_before_auth, exposure logged",
	     function()
		local m = log_mark()
		local user = p .. "-exposed@example.test"
		local r = session({ port = port, auth = true, user = user,
				    from = from(p .. "-exposed") })
		mail_refused(r, m, p .. "-exposed@client", "538", "5.7.11", "tls_before_auth")
		exposure_logged(m, user)
	end)

	case(port .. " submission: TLSv1.1 + AUTH: MAIL 554 5.7.0 rule=min_tls_version",
	     function()
		local m = log_mark()
		local r = session({ port = port, tls = "TLSv1.1", auth = true,
				    from = from(p .. "-tls11") })
		mail_refused(r, m, p .. "-tls11@", "554", "5.7.0", "min_tls_version")
	end)
end

case("587 submission: TLSv1.2 (the minimum) + AUTH: accepted", function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.2", auth = true,
			    from = from("p587-tls12"), rcpts = { remote("t") } })
	accepted(r, m, "p587-tls12@")
end)

case("587 submission: STARTTLS client skipping the second EHLO (TLS macros only at MAIL) + AUTH: accepted",
     function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.3", skip_ehlo2 = true, auth = true,
			    from = from("p587-skip-ehlo"), rcpts = { remote("t") } })
	accepted(r, m, "p587-skip-ehlo@")
end)

-- ---- 465, 4650: submissions (implicit TLS) ---------------------------------

for _, port in ipairs({ 465, 4650 }) do
	local p = "p" .. port

	case(port .. " submissions: TLS from connect + AUTH, remote recipient: accepted",
	     function()
		local m = log_mark()
		local r = session({ port = port, tls = "TLSv1.3", auth = true,
				    from = from(p .. "-ok"), rcpts = { remote(p .. "-to") },
				    eom = true })
		accepted(r, m, p .. "-ok@")
		check(r.eom == C or r.eom == SMFIR_ACCEPT,
		      "EOM: expected continue or accept, got %s", reply_name(r.eom))
	end)

	case(port .. " submissions: no TLS: MAIL 530 5.7.0 rule=require_tls", function()
		local m = log_mark()
		local r = session({ port = port, auth = true, implicit = false,
				    user = p .. "-plain@example.test",
				    from = from(p .. "-plain") })
		-- AUTH in clear is refused first (538); without AUTH: 530.
		mail_refused(r, m, p .. "-plain@", "538", "5.7.11", "tls_before_auth")
		m = log_mark()
		r = session({ port = port, implicit = false, from = from(p .. "-plain2") })
		mail_refused(r, m, p .. "-plain2@", "530", "5.7.0", "require_tls")
	end)

	case(port .. " submissions: TLS without AUTH: MAIL 530 5.7.0 rule=require_auth",
	     function()
		local m = log_mark()
		local r = session({ port = port, tls = "TLSv1.3", from = from(p .. "-noauth") })
		mail_refused(r, m, p .. "-noauth@", "530", "5.7.0", "require_auth")
	end)
end

-- ---- a port without a section: the strict (submission) profile -----------

case("2525 (no section): plaintext: MAIL 530 5.7.0 rule=require_tls, \"has no section\" warning",
     function()
	local m = log_mark()
	local r = session({ port = 2525, from = from("p2525-plain"),
			    rcpts = { remote("t") } })
	mail_refused(r, m, "p2525-plain@", "530", "5.7.0", "require_tls")
	local w = log_lines(m, "has no section")
	check(#w > 0 and w[1]:find("2525", 1, true),
	      "no \"port 2525 has no section\" warning")
end)

case("2525 (no section): TLSv1.3 + AUTH: accepted (strict, not closed)", function()
	local m = log_mark()
	local r = session({ port = 2525, tls = "TLSv1.3", auth = true,
			    from = from("p2525-ok"), rcpts = { remote("t") } })
	accepted(r, m, "p2525-ok@")
end)

-- ---- a connection Postfix could not identify (issue 16) ---------------------
-- A client that resets at once (every port scan) reaches the milter with
-- {daemon_port} "unknown"; the generated services set {daemon_name}
-- "portmilter/PORT", which then gives the port. At most one line about it,
-- at info level (no "warning:"), never "check master.cf".

-- The lines about the connection of client ip since m.
local function conn_lines(m, ip)
	return log_lines(m, "connect from [" .. ip .. "]")
end

-- Exactly one info line containing text for ip, and no warning at all.
local function one_info_line(m, ip, text)
	local l = conn_lines(m, ip)
	check(#l == 1, "expected one line about [%s], got %d:\n%s", ip, #l,
	      table.concat(l, "\n"))
	check(l[1]:find(text, 1, true), "line has not %q: %s", text, l[1])
	check(not l[1]:find(": warning: ", 1, true), "not at info level: %s", l[1])
	check(#log_lines(m, ": warning: ") == 0, "a warning: %s",
	      log_lines(m, ": warning: ")[1])
	check(#log_lines(m, "master.cf") == 0, "\"check master.cf\" logged")
	return l[1]
end

case("{daemon_port} unknown, {daemon_name} portmilter/25, client leaves at once: one info line, no warning",
     function()
	local m = log_mark()
	local r = session({ port = "unknown", daemon_name = "portmilter/25",
			    client_ip = "192.0.2.161", mail = false })
	expect(r.connect, C, "connect")
	one_info_line(m, "192.0.2.161",
		      "port not identified by Postfix ({daemon_port} \"unknown\"): port 25 from {daemon_name}")
end)

case("{daemon_port} unknown, {daemon_name} portmilter/25: the rules of 25 (mx): local recipient accepted, relay RCPT 554 port=25",
     function()
	local m = log_mark()
	local r = session({ port = "unknown", daemon_name = "portmilter/25",
			    client_ip = "192.0.2.162", from = from("punk25"),
			    rcpts = { LOCAL, remote("punk25-to") } })
	up_to_mail(r)
	expect(r.rcpt[1], C, "RCPT local")
	local line = refused(r.rcpt[2], m, "punk25@", "RCPT", "554", "5.7.1", "relay")
	check(line:find(" port=25 ", 1, true), "not port=25: %s", line)
	one_info_line(m, "192.0.2.162", "port 25 from {daemon_name}")
end)

case("{daemon_port} unknown, {daemon_name} portmilter/587: the rules of 587: MAIL 530 5.7.0 port=587",
     function()
	local m = log_mark()
	local r = session({ port = "unknown", daemon_name = "portmilter/587",
			    client_ip = "192.0.2.163", from = from("punk587") })
	local line = mail_refused(r, m, "punk587@", "530", "5.7.0", "require_tls")
	check(line:find(" port=587 ", 1, true), "not port=587: %s", line)
	one_info_line(m, "192.0.2.163", "port 587 from {daemon_name}")
end)

case("no {daemon_port} at all, {daemon_name} portmilter/25: port 25, one info line",
     function()
	local m = log_mark()
	local r = session({ port = nil, daemon_name = "portmilter/25",
			    client_ip = "192.0.2.164", from = from("pnone25"),
			    rcpts = { remote("pnone25-to") } })
	up_to_mail(r)
	local line = refused(r.rcpt[1], m, "pnone25@", "RCPT", "554", "5.7.1", "relay")
	check(line:find(" port=25 ", 1, true), "not port=25: %s", line)
	one_info_line(m, "192.0.2.164", "({daemon_port} \"(none)\"): port 25 from {daemon_name}")
end)

case("{daemon_port} unknown, {daemon_name} smtpd (not generated): port 0, strict: MAIL 530 5.7.0, one info line",
     function()
	local m = log_mark()
	local r = session({ port = "unknown", daemon_name = "smtpd",
			    client_ip = "192.0.2.165", from = from("punk0") })
	local line = mail_refused(r, m, "punk0@", "530", "5.7.0", "require_tls")
	check(line:find(" port=0 ", 1, true), "not port=0: %s", line)
	one_info_line(m, "192.0.2.165", "port not identified by Postfix "
		      .. "({daemon_port} \"unknown\", {daemon_name} \"smtpd\"): "
		      .. "applying the strict (submission) rules")
end)

case("no {daemon_port}, no {daemon_name}: strict, MAIL 530 5.7.0, the milter_connect_macros warning",
     function()
	local m = log_mark()
	local r = session({ port = nil, daemon_name = false,
			    client_ip = "192.0.2.166", from = from("pnone0") })
	mail_refused(r, m, "pnone0@", "530", "5.7.0", "require_tls")
	local l = conn_lines(m, "192.0.2.166")
	check(#l == 1 and l[1]:find(": warning: ", 1, true) and
	      l[1]:find("no {daemon_port} macro", 1, true),
	      "expected one warning about the missing {daemon_port}: %s",
	      table.concat(l, "\n"))
end)

case("{daemon_port} 587, {daemon_name} portmilter/25: a real mismatch, warned (check master.cf)",
     function()
	local m = log_mark()
	local r = session({ port = 587, daemon_name = "portmilter/25",
			    client_ip = "192.0.2.167", from = from("pmis") })
	local line = mail_refused(r, m, "pmis@", "530", "5.7.0", "require_tls")
	check(line:find(" port=587 ", 1, true), "not port=587: %s", line)
	local w = log_lines(m, "check master.cf")
	check(#w == 1 and w[1]:find(": warning: ", 1, true),
	      "expected one \"check master.cf\" warning, got %d", #w)
end)

-- ---- relay_networks ----------------------------------------------------------
-- 2526 = the shipped 25 plus relay_networks = 127.0.0.0/8 ::1/128
-- (ports.conf-head).

for _, c in ipairs({ { ip = "127.0.0.1", tag = "p2526-v4" },
		     { ip = "::1", tag = "p2526-v6" } }) do
	case("2526 (like 25, relay_networks): client " .. c.ip ..
	     ", no AUTH, remote recipient: accepted, EOM continues", function()
		local m = log_mark()
		local r = session({ port = 2526, client_ip = c.ip,
				    client_name = "localhost", from = from(c.tag),
				    rcpts = { remote(c.tag .. "-to"), LOCAL },
				    eom = true })
		accepted(r, m, c.tag .. "@")
		check(r.eom == C or r.eom == SMFIR_ACCEPT,
		      "EOM: expected continue or accept, got %s", reply_name(r.eom))
	end)
end

case("2526 (like 25, relay_networks): client 192.0.2.10 outside them: RCPT 554 5.7.1 rule=relay, local recipient accepted",
     function()
	local m = log_mark()
	local r = session({ port = 2526, client_ip = "192.0.2.10",
			    from = from("p2526-out"),
			    rcpts = { remote("p2526-out-to"), LOCAL } })
	up_to_mail(r)
	refused(r.rcpt[1], m, "p2526-out@", "RCPT", "554", "5.7.1", "relay")
	expect(r.rcpt[2], C, "RCPT local")
end)

case("25 (shipped: no relay_networks): client 127.0.0.1, no AUTH, remote recipient: RCPT 554 5.7.1 rule=relay",
     function()
	local m = log_mark()
	local r = session({ port = 25, client_ip = "127.0.0.1", client_name = "localhost",
			    from = from("p25-lo"), rcpts = { remote("p25-lo-to") } })
	up_to_mail(r)
	refused(r.rcpt[1], m, "p25-lo@", "RCPT", "554", "5.7.1", "relay")
end)

-- ---- max_recipients ----------------------------------------------------------

local function many(n, tag, mailer)
	local list = {}
	for i = 1, n do
		list[i] = { addr = string.format("<%s-%d@%s>", tag, i,
			mailer == "local" and "example.test" or "remote.example"),
			    mailer = mailer }
	end
	return list
end

case("587: 100 recipients accepted, the 101st RCPT 452 4.5.3 rule=max_recipients; count resets after abort",
     function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.3", auth = true,
			    from = from("p587-max"), rcpts = many(102, "p587max", "smtp"),
			    keep = true })
	up_to_mail(r)
	for i = 1, 100 do
		expect(r.rcpt[i], C, "RCPT " .. i)
	end
	refused(r.rcpt[101], m, "p587max-101@", "RCPT", "452", "4.5.3", "max_recipients")
	expect(r.rcpt[102], SMFIR_REPLYCODE, "RCPT 102")
	-- The same connection, next transaction: the count starts again.
	local conn = r.handle
	check(mt.abort(conn) == nil, "mt.abort failed")
	check(mt.macro(conn, SMFIC_MAIL, "{auth_type}", "PLAIN", "{auth_authen}",
		       "user@example.test", "{tls_version}", "TLSv1.3") == nil, "mt.macro")
	check(mt.mailfrom(conn, from("p587-max2")) == nil, "mt.mailfrom")
	expect(mt.getreply(conn), C, "second MAIL")
	for i = 1, 100 do
		check(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp") == nil, "mt.macro")
		check(mt.rcptto(conn, string.format("<again-%d@remote.example>", i)) == nil,
		      "mt.rcptto")
		expect(mt.getreply(conn), C, "second transaction, RCPT " .. i)
	end
	mt.disconnect(conn)
end)

case("25 mx: 1000 recipients accepted, the 1001st RCPT 452 4.5.3 rule=max_recipients",
     function()
	local m = log_mark()
	local r = session({ port = 25, from = from("p25-max"),
			    rcpts = many(1001, "p25max", "local"), eom = true })
	up_to_mail(r)
	for i = 1, 1000 do
		expect(r.rcpt[i], C, "RCPT " .. i)
	end
	refused(r.rcpt[1001], m, "p25max-1001@", "RCPT", "452", "4.5.3", "max_recipients")
	check(r.eom == C or r.eom == SMFIR_ACCEPT,
	      "EOM: expected continue or accept, got %s", reply_name(r.eom))
end)

-- ---- end of message, abort, several transactions ------------------------

case("587: EOM continues; a second MAIL, an abort and a third MAIL in one connection",
     function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.3", auth = true,
			    from = from("p587-txn1"), rcpts = { remote("t1") },
			    eom = true, keep = true })
	accepted(r, m, "p587-txn1@")
	check(r.eom == C or r.eom == SMFIR_ACCEPT,
	      "EOM: expected continue or accept, got %s", reply_name(r.eom))
	local conn = r.handle
	local function txn(tag)
		check(mt.macro(conn, SMFIC_MAIL, "{auth_type}", "PLAIN", "{auth_authen}",
			       "user@example.test", "{tls_version}", "TLSv1.3") == nil, "mt.macro")
		check(mt.mailfrom(conn, from(tag)) == nil, "mt.mailfrom")
		expect(mt.getreply(conn), C, tag .. " MAIL")
		check(mt.macro(conn, SMFIC_RCPT, "{rcpt_mailer}", "smtp") == nil, "mt.macro")
		check(mt.rcptto(conn, "<" .. tag .. "-to@remote.example>") == nil, "mt.rcptto")
		expect(mt.getreply(conn), C, tag .. " RCPT")
	end
	txn("p587-txn2")
	check(mt.abort(conn) == nil, "mt.abort failed")
	txn("p587-txn3")
	check(mt.eom(conn) == nil, "mt.eom failed")
	local e = mt.getreply(conn)
	check(e == C or e == SMFIR_ACCEPT, "third EOM: got %s", reply_name(e))
	mt.disconnect(conn)
	not_refused(m, "p587-txn")
	local l = log_lines(m, "p587-txn2@")
	check(#l > 0 and l[1]:find(": aborted: ", 1, true),
	      "no \"aborted\" line for the aborted transaction")
end)

-- ---- the replies as the client sees them (raw transport: reply text) -------

case("reply texts: 530 STARTTLS, 530 AUTH, 538 5.7.11, 554 relay (RFC 3463/4954/6409)",
     function()
	local r = session({ raw = true, port = 587, from = from("raw-587-plain") })
	check(r.text.mail == "530 5.7.0 Must issue a STARTTLS command first",
	      "587 plaintext MAIL: %q", tostring(r.text.mail))
	r = session({ raw = true, port = 587, tls = "TLSv1.3", from = from("raw-587-noauth") })
	check(r.text.mail == "530 5.7.0 Authentication required",
	      "587 TLS without AUTH MAIL: %q", tostring(r.text.mail))
	r = session({ raw = true, port = 587, auth = true, from = from("raw-587-exposed") })
	check(r.text.mail == "538 5.7.11 Encryption required for requested authentication mechanism",
	      "587 AUTH without TLS MAIL: %q", tostring(r.text.mail))
	r = session({ raw = true, port = 25, from = from("raw-25-relay"),
		      rcpts = { remote("raw-25-relay-to") } })
	expect(r.mail, C, "25 MAIL")
	check(r.text.rcpt[1] == "554 5.7.1 Relay access denied",
	      "25 relay RCPT: %q", tostring(r.text.rcpt[1]))
end)

-- ---- negotiation ----------------------------------------------------------

-- SMFIP_* protocol flags (libmilter/mfdef.h)
local NR_CONN, NR_HELO, NR_MAIL, NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
local NR_HDR, NR_BODY, RCPT_REJ = 0x80, 0x80000, 0x800
local NOBODY, NOHDRS, NOEOH = 0x10, 0x20, 0x40

case("negotiation: no headers, no end of headers, no body (no limit_bytes configured); connect, HELO, MAIL, RCPT answered; rejected recipients asked for",
     function()
	local r = session({ raw = true, port = 25, from = from("nr-flags") })
	local f = r.negotiated
	check(f ~= nil, "no negotiation reply")
	check(f & NOHDRS ~= 0 and f & NOEOH ~= 0 and f & NOBODY ~= 0,
	      "SMFIP_NOHDRS/NOEOH/NOBODY not negotiated: flags %x", f)
	check(f & NR_HDR ~= 0 and f & NR_BODY ~= 0,
	      "SMFIP_NR_HDR/NR_BODY not negotiated: flags %x", f)
	-- HELO must be answered: see the head of milter/milter.c
	check(f & (NR_CONN | NR_HELO | NR_MAIL | NR_RCPT) == 0,
	      "no reply negotiated for connect, HELO, MAIL or RCPT: flags %x", f)
	check(f & RCPT_REJ ~= 0, "SMFIP_RCPT_REJ not negotiated: flags %x", f)
	expect(r.connect, C, "connect")
	expect(r.helo, C, "HELO")
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT")
end)

case("negotiation (miltertest): the message steps are skipped, the rest asked for",
     function()
	local conn = connect()
	check(mt.test_option(conn, SMFIP_NOHDRS), "SMFIP_NOHDRS not requested")
	check(mt.test_option(conn, SMFIP_NOEOH), "SMFIP_NOEOH not requested")
	check(mt.test_option(conn, SMFIP_NOBODY), "SMFIP_NOBODY not requested")
	check(not mt.test_option(conn, SMFIP_NORCPT), "SMFIP_NORCPT requested")
	check(not mt.test_option(conn, SMFIP_NOMAIL), "SMFIP_NOMAIL requested")
	check(not mt.test_option(conn, SMFIP_NOHELO), "SMFIP_NOHELO requested")
	check(not mt.test_option(conn, SMFIP_NOCONNECT), "SMFIP_NOCONNECT requested")
	mt.disconnect(conn)
end)
