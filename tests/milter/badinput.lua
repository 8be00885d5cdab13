-- badinput.lua - malformed and hostile input: the daemon never crashes
-- (run-lua.sh checks it is still running and stops cleanly afterwards),
-- gives the verdict the rules of milter/policy.h ask for, and logs every
-- untrusted value escaped as lib/util.h promises (printable ASCII kept,
-- \ and " escaped, every other byte \xNN, long values cut with "..."):
-- no raw control or non-ASCII byte and no forged line ever reaches the log.
-- Configuration: the shipped ports plus badinput.conf-head
-- (local_domains = example.test).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE
local LOCAL, from, remote = LOCAL_RCPT, tag_from, tag_remote

-- Every line written since mark is a log line: printable ASCII only, and
-- each one starts with a time stamp (an injected CR/LF would start a line
-- with attacker text).
--
-- The daemon may still be logging (the sessions of the case before close
-- after it returns). Each line is one write(2), but the kernel copies a
-- write into the page cache a page at a time and moves the file's end
-- after each page: a reader can see a line cut at a 4 kB boundary. So the
-- text is read again (bounded, 2 s) until it ends a line; a line that never
-- ends still fails.
local function log_sane(mark)
	local text = log_since(mark)
	for _ = 1, 40 do
		if text == "" or text:sub(-1) == "\n" then
			break
		end
		mt.sleep(0.05)
		text = log_since(mark)
	end
	local bad = text:find("[^\n\32-\126]")
	check(bad == nil, "raw byte 0x%02x in the log: ...%s...",
	      bad and text:byte(bad) or 0,
	      bad and printable(text:sub(math.max(1, bad - 60), bad + 20)) or "")
	for line in text:gmatch("([^\n]*)\n") do
		check(line:find("^%u%l%l [ %d]%d %d%d:%d%d:%d%d ") ~= nil,
		      "a log line that is not a log line (forged by input?): %s", line)
	end
	check(text == "" or text:sub(-1) == "\n", "the log does not end with a newline")
end

local function mail_refused(r, m, needle, code, xcode, rule)
	expect(r.connect, C, "connect")
	expect(r.helo, C, "HELO")
	return refused(r.mail, m, needle, "MAIL", code, xcode, rule)
end

-- ---- {daemon_port}: garbage -> strict, port=0 --------------------------
-- (Empty or missing is what Postfix sends, as "unknown", for a connection
-- it could not identify: the port then comes from {daemon_name}, see
-- ports.lua.)

local bad_ports = { "abc", "0", "65536", "99999999999999999999", "-25",
		    "+25", " 25", "25 ", "25abc", "0x19", "2\0475", "25.0" }
for i, v in ipairs(bad_ports) do
	case(string.format("{daemon_port} %q ({daemon_name} portmilter/25): strict, MAIL 530 5.7.0 rule=require_tls, port=0",
			   v), function()
		local m = log_mark()
		local tag = "badport" .. i
		local r = session({ port = v, daemon_name = "portmilter/25",
				    from = from(tag), rcpts = { LOCAL } })
		local line = mail_refused(r, m, tag .. "@", "530", "5.7.0", "require_tls")
		check(line:find(" port=0 ", 1, true), "not port=0: %s", line)
		check(#log_lines(m, "{daemon_port}") > 0, "no warning about {daemon_port}")
		log_sane(m)
	end)
end

-- ---- no macros at all, unknown address family ------------------------------

case("no macros at all, client address \"unspec\": connect continues, MAIL 530 5.7.0 rule=require_tls (strict)",
     function()
	local m = log_mark()
	local r = session({ macros = false, port = nil, client_ip = "unspec",
			    client_name = "nomacros.example", from = from("nomacros"),
			    rcpts = { remote("x") } })
	local line = mail_refused(r, m, "nomacros@", "530", "5.7.0", "require_tls")
	check(line:find("nomacros.example[unknown]", 1, true) or
	      line:find("[unknown]", 1, true), "client not shown as unknown: %s", line)
	log_sane(m)
end)

case("no macros at all, IPv4 client: the same strict verdict", function()
	local m = log_mark()
	local r = session({ macros = false, port = nil, from = from("nomacros4") })
	mail_refused(r, m, "nomacros4@", "530", "5.7.0", "require_tls")
	log_sane(m)
end)

-- ---- control characters, UTF-8, invalid UTF-8, quotes, backslashes --------

local all_ctl, all_ctl_esc = {}, {}
for b = 1, 31 do
	all_ctl[#all_ctl + 1] = string.char(b)
	all_ctl_esc[#all_ctl_esc + 1] = string.format("\\x%02x", b)
end
all_ctl = table.concat(all_ctl)
all_ctl_esc = table.concat(all_ctl_esc)

case("HELO and sender with CR/LF, 0x01-0x1f, 0x7f, UTF-8, 0xff, \" and \\: RCPT 554 relay, logged escaped",
     function()
	local m = log_mark()
	local helo = "evil\r\nFAKE-HELO-LINE x" .. all_ctl .. "\127 \"q\" back\\slash caf\195\169 \255end"
	local sender = "<ctl\r\nFAKE-FROM-LINE\1\"\\\195\169\255@client.example>"
	local r = session({ port = 25, helo = helo, from = sender,
			    rcpts = { remote("ctl-to") } })
	expect(r.mail, C, "MAIL")
	local line = refused(r.rcpt[1], m, [[ctl\x0d\x0aFAKE-FROM-LINE]], "RCPT",
			     "554", "5.7.1", "relay")
	local want_helo = [[helo=<evil\x0d\x0aFAKE-HELO-LINE x]] .. all_ctl_esc ..
		[[\x7f \"q\" back\\slash caf\xc3\xa9 \xffend>]]
	check(line:find(want_helo, 1, true), "HELO not escaped as %s: %s", want_helo, line)
	local want_from = [[from=<ctl\x0d\x0aFAKE-FROM-LINE\x01\"\\\xc3\xa9\xff@client.example>]]
	check(line:find(want_from, 1, true), "sender not escaped as %s: %s", want_from, line)
	log_sane(m)
end)

case("client name and recipient with CR/LF and 0xff: logged escaped", function()
	local m = log_mark()
	local r = session({ port = 25, client_name = "bad\r\nFAKE-NAME-LINE\255.example",
			    from = from("ctlname"),
			    rcpts = { { addr = "<to\r\nFAKE-RCPT-LINE\255@remote.example>",
					mailer = "smtp" } } })
	local line = refused(r.rcpt[1], m, "ctlname@", "RCPT", "554", "5.7.1", "relay")
	check(line:find([[from bad\x0d\x0aFAKE-NAME-LINE\xff.example[192.0.2.10]: ]], 1, true),
	      "client name not escaped: %s", line)
	check(line:find([[to=<to\x0d\x0aFAKE-RCPT-LINE\xff@remote.example>]], 1, true),
	      "recipient not escaped: %s", line)
	log_sane(m)
end)

case("{auth_authen} and {auth_type} with CR/LF without TLS: 538 5.7.11, user escaped in both lines",
     function()
	local m = log_mark()
	local r = session({ port = 587, auth = "PLAIN\r\nFAKE-MECH-LINE",
			    user = "u\r\nFAKE-USER-LINE\255\"@example.test",
			    from = from("ctluser") })
	local line = mail_refused(r, m, "ctluser@", "538", "5.7.11", "tls_before_auth")
	local want = [[user=<u\x0d\x0aFAKE-USER-LINE\xff\"@example.test>]]
	check(line:find(want, 1, true), "user not escaped as %s: %s", want, line)
	local w = log_lines(m, "credential exposure")
	check(#w > 0, "no credential exposure warning")
	check(w[1]:find([[<u\x0d\x0aFAKE-USER-LINE\xff\"@example.test>]], 1, true) and
	      w[1]:find([[PLAIN\x0d\x0aFAKE-MECH-LINE]], 1, true),
	      "exposure warning not escaped: %s", w[1])
	log_sane(m)
end)

case("{tls_version} with CR/LF (not a version): MAIL 554 5.7.0 rule=min_tls_version, tls= escaped",
     function()
	local m = log_mark()
	local r = session({ port = 587, tls = "TLSv1.3\r\nFAKE-TLS-LINE\255", auth = true,
			    from = from("ctltls") })
	local line = mail_refused(r, m, "ctltls@", "554", "5.7.0", "min_tls_version")
	check(line:find([[tls=TLSv1.3\x0d\x0aFAKE-TLS-LINE\xff ]], 1, true),
	      "{tls_version} not escaped in the decision line: %s", line)
	log_sane(m)
end)

case("{daemon_name} with CR/LF: mismatch warning and service=\"...\" escaped",
     function()
	local m = log_mark()
	local r = session({ port = 587, daemon_name = "portmilter/587\r\nFAKE-SVC-LINE\"",
			    from = from("ctlsvc") })
	local line = mail_refused(r, m, "ctlsvc@", "530", "5.7.0", "require_tls")
	check(line:find([[service="portmilter/587\x0d\x0aFAKE-SVC-LINE\""]], 1, true),
	      "service not escaped: %s", line)
	check(#log_lines(m, [[portmilter/587\x0d\x0aFAKE-SVC-LINE]]) >= 2,
	      "no escaped {daemon_name} mismatch warning")
	log_sane(m)
end)

case("queue id macro i with CR/LF: not a queue id, line starts with NOQUEUE", function()
	local m = log_mark()
	local r = session({ port = 587, from = from("ctlqid"),
			    extra = { [SMFIC_MAIL] = { "i", "QID1\r\nFAKE-QID-LINE" } } })
	local line = mail_refused(r, m, "ctlqid@", "530", "5.7.0", "require_tls")
	-- a queue id is letters and digits only; anything else is dropped
	check(line:find("NOQUEUE: reject: MAIL from ", 1, true),
	      "bogus queue id kept: %s", line)
	check(not line:find("QID1", 1, true), "bogus queue id logged: %s", line)
	log_sane(m)
end)

-- ---- 20 kB values (raw transport: miltertest cannot send them) -----------

local BIG = 20 * 1024

-- A decision line with a huge value stays a bounded single line; the
-- values that are kept whole up to VALUE_MAX (16 kB) and cut only by the
-- escaping show the cut ("...", lib/util.h).
local function bounded(line, marked)
	check(#line < 4200, "decision line of %d bytes", #line)
	check(not marked or line:find("...", 1, true),
	      "no \"...\" marking a cut value: %s", line:sub(1, 300))
end

case("20 kB {auth_authen} with TLS: accepted; without TLS: 538 5.7.11, user cut with ...",
     function()
	local m = log_mark()
	local user = string.rep("u", BIG) .. "@example.test"
	local r = session({ raw = true, port = 587, tls = "TLSv1.3", auth = true, user = user,
			    from = from("bigauth1"), rcpts = { remote("x") } })
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT")
	not_refused(m, "bigauth1@")
	r = session({ raw = true, port = 587, auth = true, user = user, from = from("bigauth2") })
	check(r.text.mail == "538 5.7.11 Encryption required for requested authentication mechanism",
	      "MAIL reply %q", tostring(r.text.mail))
	local line = decision(m, "bigauth2@", "MAIL", "538", "5.7.11", "tls_before_auth")
	bounded(line, true)
	check(line:find("user=<uuuu", 1, true), "user not logged: %s", line:sub(1, 300))
	log_sane(m)
end)

case("20 kB {tls_version} with AUTH on 587: MAIL 554 5.7.0 rule=min_tls_version", function()
	local m = log_mark()
	local r = session({ raw = true, port = 587, tls = string.rep("T", BIG), auth = true,
			    from = from("bigtls") })
	check(r.text.mail ~= nil and r.text.mail:find("^554 5%.7%.0 "),
	      "MAIL reply %q", tostring(r.text.mail))
	decision(m, "bigtls@", "MAIL", "554", "5.7.0", "min_tls_version")
	log_sane(m)
end)

case("20 kB {rcpt_mailer} on 25: remote recipient 554 5.7.1 relay, local-domain one continues",
     function()
	local m = log_mark()
	local mailer = string.rep("m", BIG)
	local r = session({ raw = true, port = 25, from = from("bigmailer"),
			    rcpts = { { addr = "<bigmailer-to@remote.example>", mailer = mailer },
				      { addr = "<user@example.test>", mailer = mailer } } })
	expect(r.mail, C, "MAIL")
	check(r.text.rcpt[1] == "554 5.7.1 Relay access denied", "RCPT 1 reply %q",
	      tostring(r.text.rcpt[1]))
	decision(m, "bigmailer-to@", "RCPT", "554", "5.7.1", "relay")
	expect(r.rcpt[2], C, "RCPT 2 (example.test is local)")
	log_sane(m)
end)

case("20 kB {daemon_name} on 587: strict verdict, bounded line", function()
	local m = log_mark()
	local r = session({ raw = true, port = 587,
			    daemon_name = "portmilter/" .. string.rep("9", BIG),
			    from = from("bigsvc") })
	check(r.text.mail == "530 5.7.0 Must issue a STARTTLS command first",
	      "MAIL reply %q", tostring(r.text.mail))
	local line = decision(m, "bigsvc@", "MAIL", "530", "5.7.0", "require_tls")
	bounded(line)
	log_sane(m)
end)

case("20 kB HELO and 20 kB sender on 25: RCPT 554 relay, both cut with ...", function()
	local m = log_mark()
	local r = session({ raw = true, port = 25, helo = string.rep("h", BIG) .. ".example",
			    from = "<bigfrom" .. string.rep("f", BIG) .. "@client.example>",
			    rcpts = { remote("bigfrom-to") } })
	expect(r.mail, C, "MAIL")
	check(r.text.rcpt[1] == "554 5.7.1 Relay access denied", "RCPT reply %q",
	      tostring(r.text.rcpt[1]))
	local line = decision(m, "bigfromfff", "RCPT", "554", "5.7.1", "relay")
	bounded(line, true)
	check(line:find("helo=<hhhh", 1, true), "HELO not logged: %s", line:sub(1, 300))
	log_sane(m)
end)

case("100 kB macro (over libmilter's 64 kB packet limit): session dropped, daemon unharmed",
     function()
	local m = log_mark()
	local r = session({ raw = true, may_drop = true, port = 587, tls = "TLSv1.3",
			    auth = true, user = string.rep("u", 100 * 1024),
			    from = from("hugeauth") })
	check(r.mail ~= C, "MAIL went through with a 100 kB macro packet")
	r = session({ port = 587, from = from("after-huge") })
	mail_refused(r, m, "after-huge@", "530", "5.7.0", "require_tls")
	log_sane(m)
end)

-- ---- sender-routed recipients on 25 (local_domains = example.test) -----

case("25: sender-routed recipients to example.test: each RCPT 554 5.7.1 relay; plain one continues",
     function()
	local m = log_mark()
	local rc = {
		{ addr = "<plain@example.test>", mailer = "smtp", want = C },
		{ addr = "<rt1%remote.example@example.test>", mailer = "smtp" },
		{ addr = "<rt2%remote.example@example.test>", mailer = "local" },
		{ addr = "<@remote.example:rt3@example.test>", mailer = "local" },
		{ addr = "<remote.example!rt4@example.test>", mailer = "local" },
		{ addr = "<\"rt5@remote.example\"@example.test>", mailer = "local" },
		{ addr = "<rt6@remote.example@example.test>", mailer = "smtp" },
	}
	local r = session({ port = 25, from = from("routed"), rcpts = rc })
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT <plain@example.test>")
	for i = 2, #rc do
		refused(r.rcpt[i], m, "rt" .. (i - 1), "RCPT", "554", "5.7.1", "relay")
	end
	log_sane(m)
end)

-- ---- client addresses ----------------------------------------------------------

case("IPv6 client on 25: relay refused, logged as [2001:db8::25]", function()
	local m = log_mark()
	local r = session({ port = 25, client_ip = "2001:db8::25", client_name = "v6.example",
			    from = from("ipv6"), rcpts = { remote("ipv6-to") } })
	local line = refused(r.rcpt[1], m, "ipv6@", "RCPT", "554", "5.7.1", "relay")
	check(line:find("v6.example[2001:db8::25]", 1, true), "address: %s", line)
end)

case("IPv4-mapped IPv6 client: logged as the IPv4 address", function()
	local m = log_mark()
	local r = session({ port = 25, client_ip = "::ffff:192.0.2.33", client_name = "mapped.example",
			    from = from("mapped"), rcpts = { remote("mapped-to") } })
	local line = refused(r.rcpt[1], m, "mapped@", "RCPT", "554", "5.7.1", "relay")
	check(line:find("mapped.example[192.0.2.33]", 1, true), "address: %s", line)
end)

-- ---- empty values --------------------------------------------------------------

case("empty HELO, null sender <>, empty recipient without {rcpt_mailer}: RCPT 554 relay",
     function()
	local m = log_mark()
	local r = session({ port = 25, helo = "", from = "<>", client_name = "empty.example",
			    rcpts = { { addr = "", mailer = false } } })
	expect(r.mail, C, "MAIL <>")
	refused(r.rcpt[1], m, "empty.example[", "RCPT", "554", "5.7.1", "relay")
	log_sane(m)
end)

-- ---- protocol abuse --------------------------------------------------------------

case("commands out of order (HELO/MAIL/RCPT/EOM before connect), unknown command, empty and 4 GB packets, HTTP: daemon unharmed",
     function()
	local m = log_mark()
	local n = negotiate_packet()
	local seqs = {
		n .. packet("M", "<early@client.example>\0") .. packet("R", "<x@example.test>\0")
		  .. packet("E"),
		n .. packet("H", "early.example\0") .. packet("E"),
		n .. packet("R", "<rcpt-first@example.test>\0"),
		n .. packet("Z", "what"),
		-- Not sent: a connect packet without its NUL (packet("C", "x")):
		-- libmilter 8.17.1 itself reads one byte past its buffer there
		-- (valgrind: invalid read in mi_engine), nothing portmilter can fix.
		n .. packet("D", "C{daemon_port}"),		-- macro without value
		n .. packet("D", "C{daemon_port}\025\0") .. packet("C", "h\0" .. "4"),
		n .. garbage(string.pack(">I4", 0)),		-- zero length
		garbage(string.pack(">I4", 0xffffffff) .. "O"),	-- 4 GB packet
		garbage("GET / HTTP/1.0\r\n\r\n"),
	}
	for _, bytes in ipairs(seqs) do
		raw_exchange(bytes, 2)
	end
	local r = session({ port = 587, from = from("after-abuse") })
	mail_refused(r, m, "after-abuse@", "530", "5.7.0", "require_tls")
end)

case("30 concurrent connections, interleaved: every one gets its own verdict", function()
	local m = log_mark()
	local conns = {}
	for i = 1, 30 do
		conns[i] = connect()
	end
	for i, c in ipairs(conns) do
		local port = (i % 2 == 0) and "25" or "587"
		check(mt.macro(c, SMFIC_CONNECT, "{daemon_port}", port, "{client_addr}",
			       "192.0.2." .. i) == nil, "mt.macro")
		check(mt.conninfo(c, "conc" .. i .. ".example", "192.0.2." .. i) == nil, "mt.conninfo")
	end
	for i, c in ipairs(conns) do
		check(mt.helo(c, "conc" .. i .. ".example") == nil, "mt.helo")
	end
	for i, c in ipairs(conns) do
		check(mt.mailfrom(c, from("conc" .. i)) == nil, "mt.mailfrom")
	end
	for i, c in ipairs(conns) do
		local got = mt.getreply(c)
		if i % 2 == 0 then
			expect(got, C, "connection " .. i .. " (25) MAIL")
		else
			expect(got, SMFIR_REPLYCODE, "connection " .. i .. " (587) MAIL")
			local l = log_lines(m, "conc" .. i .. "@")
			check(#l > 0 and l[1]:find("rule=require_tls port=587 ", 1, true),
			      "connection %d: no require_tls line", i)
		end
	end
	for i, c in ipairs(conns) do
		if i % 3 == 0 then
			mt.disconnect(c, false)		-- abrupt
		else
			mt.disconnect(c)
		end
	end
	log_sane(m)
end)

case("the whole log: printable ASCII lines only, each a log line", function()
	log_sane(0)
end)
