-- budgets.lua - per-user sending budgets (issue 11) through the milter
-- protocol, with budgets.conf and budgets.classes: a message budget of
-- 2/1h on 5870 shared with 12345 (like 5870), the reply of each
-- limit_action, monitor mode, recipients and bytes budgets, a class,
-- per-address counting on 25, and counters kept across SIGHUP reloads.
-- Run by tests/milter/run-lua.sh (miltertest -s).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE
local TMP = os.getenv("PM_TMP")
local PID = os.getenv("PM_DAEMON_PID")

-- One authenticated message (STARTTLS, TLSv1.3) of user on port, with
-- nrcpt local recipients, through end of message.
local function send(port, user, tag, nrcpt, extra)
	local rc = {}
	for i = 1, nrcpt or 1 do
		rc[i] = { addr = "<" .. tag .. "-r" .. i .. "@example.test>",
			  mailer = "local" }
	end
	local t = { port = port, tls = "TLSv1.3", auth = true, user = user,
		    from = tag_from(tag), rcpts = rc, eom = true }
	for k, v in pairs(extra or {}) do
		t[k] = v
	end
	return session(t)
end

local function accepted(r, what)
	expect(r.connect, C, what .. ": connect")
	expect(r.mail, C, what .. ": MAIL")
	for i, rr in ipairs(r.rcpt) do
		expect(rr, C, what .. ": RCPT " .. i)
	end
	if r.eom ~= nil then
		expect(r.eom, C, what .. ": end of message")
	end
end

-- n messages of user on port, each accepted.
local function send_ok(n, port, user, tag)
	for i = 1, n do
		local m = log_mark()
		accepted(send(port, user, tag .. "-" .. i), "message " .. i)
		not_refused(m, tag .. "-" .. i .. "@")
	end
end

-- The MAIL of a message refused with code, xcode, rule and text.
local function mail_refused(port, user, tag, code, xcode, rule, text)
	local m = log_mark()
	local r = send(port, user, tag)
	local line = refused(r.mail, m, tag .. "@", "MAIL", code, xcode, rule)
	check(line:find(text, 1, true), "reply text is not %q: %s", text, line)
	check(r.rcpt[1] == nil, "RCPT sent after a refused MAIL")
	return line
end

-- Lines of the journal (binary files) containing text.
local function journal_count(text)
	local p = assert(io.popen("grep -raF -- '" .. text .. "' '" .. TMP ..
				  "/journal' | wc -l"))
	local n = tonumber(p:read("a")) or -1
	p:close()
	return n
end

local function reload(m)
	check(PID ~= nil and PID ~= "", "PM_DAEMON_PID not set")
	os.execute("kill -HUP " .. PID)
	check(#log_wait(m, "reloaded", 10) > 0, "no \"reloaded\" line")
end

local SPENT = "Sending limit reached: 2 messages per 1h, try again later"

case("5870 2/1h: two messages of alice accepted", function()
	send_ok(2, 5870, "alice@example.test", "b-alice")
end)

case("5870 2/1h: alice's third: MAIL 451 4.7.1 rule=limit_messages", function()
	mail_refused(5870, "alice@example.test", "b-alice-3", "451", "4.7.1",
		     "limit_messages", SPENT)
end)

case("12345 (like 5870) shares alice's budget: MAIL 451 4.7.1", function()
	mail_refused(12345, "alice@example.test", "b-alice-12345", "451",
		     "4.7.1", "limit_messages", SPENT)
end)

case("another user on 5870 is unaffected", function()
	send_ok(2, 5870, "bob@example.test", "b-bob")
end)

case("587 has no budget: alice is accepted there", function()
	send_ok(1, 587, "alice@example.test", "b-alice-587")
end)

case("aborted transactions consume nothing: 3 aborts, then 2 accepted, "
     .. "the next refused", function()
	for i = 1, 3 do
		local r = send(5870, "carol@example.test", "b-carol-abort" .. i,
			       1, { eom = false })
		expect(r.mail, C, "aborted transaction " .. i .. ": MAIL")
	end
	send_ok(2, 5870, "carol@example.test", "b-carol")
	mail_refused(5870, "carol@example.test", "b-carol-3", "451", "4.7.1",
		     "limit_messages", SPENT)
end)

case("recipients 3/1h: accepted ones count; the 4th RCPT 452 4.7.1 "
     .. "rule=limit_recipients", function()
	accepted(send(5870, "dave@example.test", "b-dave-1", 2), "message 1")
	local m = log_mark()
	local r = send(5870, "dave@example.test", "b-dave-2", 2)
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT 1")
	local line = refused(r.rcpt[2], m, "b-dave-2@", "RCPT", "452", "4.7.1",
			     "limit_recipients")
	check(line:find("Sending limit reached: 3 recipients per 1h, try "
			.. "again later", 1, true), "reply text: %s", line)
	expect(r.eom, C, "end of message (one recipient accepted)")
	-- two messages now: the message budget is spent too
	mail_refused(5870, "dave@example.test", "b-dave-3", "451", "4.7.1",
		     "limit_messages", SPENT)
end)

case("limit_action = reject (5871): the third MAIL 550 5.7.1", function()
	send_ok(2, 5871, "erin@example.test", "b-erin")
	mail_refused(5871, "erin@example.test", "b-erin-3", "550", "5.7.1",
		     "limit_messages", "Sending limit reached: 2 messages per 1h")
end)

case("limit_action = hold (5872): the third message is accepted and "
     .. "quarantined", function()
	send_ok(2, 5872, "frank@example.test", "b-frank")
	local m = log_mark()
	local r = send(5872, "frank@example.test", "b-frank-3", 1, { keep = true })
	accepted(r, "held message")
	local held = mt.eom_check(r.handle, MT_QUARANTINE)
	mt.disconnect(r.handle)
	check(held, "no quarantine request at end of message")
	not_refused(m, "b-frank-3@")
	local l = log_lines(m, ": hold: MAIL from ")
	check(#l == 1 and l[1]:find("rule=limit_messages ", 1, true),
	      "no hold line with rule=limit_messages: %s", log_since(m))
	check(journal_count("hold: Sending limit reached: 2 messages per 1h") >= 1,
	      "the event does not record the hold")
end)

case("limits_enforce = no (2587): nothing refused, the would-be replies "
     .. "logged and recorded", function()
	local rtext = "monitor: 452 4.7.1 Sending limit reached: 3 recipients "
		      .. "per 1h, try again later"
	local before = journal_count("monitor: 451 4.7.1 " .. SPENT)
	local rbefore = journal_count(rtext)
	local m = log_mark()
	send_ok(4, 2587, "gina@example.test", "b-gina")
	local l = log_lines(m, ": monitor: would tempfail: MAIL from ")
	check(#l == 2, "expected 2 MAIL monitor lines (3rd and 4th), got %d: %s",
	      #l, log_since(m))
	check(l[1]:find("451 4.7.1 " .. SPENT .. "; rule=limit_messages ", 1,
			true), "monitor line: %s", l[1])
	l = log_lines(m, ": monitor: would tempfail: RCPT from ")
	check(#l == 1 and l[1]:find("rule=limit_recipients ", 1, true),
	      "expected 1 RCPT monitor line (4th message): %s", log_since(m))
	-- the 3rd message records the message budget; the 4th the last
	-- rule that objected, the recipients budget
	check(journal_count("monitor: 451 4.7.1 " .. SPENT) - before == 1,
	      "the message budget's monitor event is not recorded once")
	check(journal_count(rtext) - rbefore == 1,
	      "the recipients budget's monitor event is not recorded once")
end)

case("class bulk (limit_classes, login in any case): 5 messages, the "
     .. "6th refused", function()
	send_ok(5, 5870, "bulk@example.test", "b-bulk")
	mail_refused(5870, "BULK@example.test", "b-bulk-6", "451", "4.7.1",
		     "limit_messages", "Sending limit reached: 5 messages per 1h")
end)

case("limit_bytes configured: headers and body negotiated (no reply), "
     .. "end of headers not", function()
	local conn = connect()
	check(not mt.test_option(conn, SMFIP_NOHDRS), "SMFIP_NOHDRS requested")
	check(not mt.test_option(conn, SMFIP_NOBODY), "SMFIP_NOBODY requested")
	check(mt.test_option(conn, SMFIP_NOEOH), "SMFIP_NOEOH not requested")
	check(mt.test_option(conn, SMFIP_NR_HDR), "SMFIP_NR_HDR not requested")
	check(mt.test_option(conn, SMFIP_NR_BODY), "SMFIP_NR_BODY not requested")
	mt.disconnect(conn)
end)

case("limit_bytes 4k/1h (5873): the size counts at end of message",
     function()
	local body = { string.rep("x", 900) .. "\r\n", string.rep("y", 900) ..
		       "\r\n", string.rep("z", 900) .. "\r\n" }
	accepted(send(5873, "henry@example.test", "b-henry-1", 1,
		      { body = body }), "message 1 (2.7 kB)")
	accepted(send(5873, "henry@example.test", "b-henry-2", 1,
		      { body = body }), "message 2 (2.7 kB: over at its end)")
	mail_refused(5873, "henry@example.test", "b-henry-3", "451", "4.7.1",
		     "limit_bytes", "Sending limit reached: 4k bytes per 1h")
end)

case("limit_bytes 4k/1h (5873): MAIL refused when the declared SIZE= "
     .. "would exceed it", function()
	-- nothing used yet: SIZE=4096 fits, SIZE=4097 does not
	local m = log_mark()
	local r = send(5873, "ivan@example.test", "b-ivan-1", 1,
		       { mail_args = { "SIZE=4097" } })
	refused(r.mail, m, "b-ivan-1@", "MAIL", "451", "4.7.1", "limit_bytes")
	check(r.rcpt[1] == nil, "RCPT sent after a refused MAIL")
	accepted(send(5873, "ivan@example.test", "b-ivan-2", 1,
		      { mail_args = { "BODY=8BITMIME", "SIZE=4096" } }),
		 "SIZE=4096 (exactly the budget)")
	-- that message took 1 KiB: now SIZE=3073 is over, 3072 fits
	m = log_mark()
	r = send(5873, "ivan@example.test", "b-ivan-3", 1,
		 { mail_args = { "SIZE=3073" } })
	refused(r.mail, m, "b-ivan-3@", "MAIL", "451", "4.7.1", "limit_bytes")
	accepted(send(5873, "ivan@example.test", "b-ivan-4", 1,
		      { mail_args = { "SIZE=3072" } }), "SIZE=3072")
end)

case("25 mx, no AUTH: counted per client address", function()
	local function mx(ip, tag)
		return session({ port = 25, client_ip = ip, from = tag_from(tag),
				 rcpts = { LOCAL_RCPT }, eom = true })
	end
	accepted(mx("192.0.2.77", "b-mx-1"), "message 1")
	accepted(mx("192.0.2.77", "b-mx-2"), "message 2")
	local m = log_mark()
	local r = mx("192.0.2.77", "b-mx-3")
	refused(r.mail, m, "b-mx-3@", "MAIL", "451", "4.7.1", "limit_messages")
	accepted(mx("192.0.2.78", "b-mx-other"), "another address")
end)

case("SIGHUP: the counters stay (alice still refused)", function()
	reload(log_mark())
	mail_refused(5870, "alice@example.test", "b-alice-hup", "451", "4.7.1",
		     "limit_messages", SPENT)
end)

case("SIGHUP with other windows (3/1h, 60/2d): the 1h counters stay",
     function()
	local path = TMP .. "/portmilter.conf"
	local f = assert(io.open(path, "rb"))
	local text = f:read("a")
	f:close()
	local new, n = text:gsub("limit_messages = 2/1h, 50/1d",
				 "limit_messages = 3/1h, 60/2d")
	check(n == 1, "cannot edit %s", path)
	f = assert(io.open(path, "wb"))
	f:write(new)
	f:close()
	reload(log_mark())
	-- alice has 2 in the hour: one more, then refused
	send_ok(1, 5870, "alice@example.test", "b-alice-more")
	mail_refused(5870, "alice@example.test", "b-alice-more-2", "451",
		     "4.7.1", "limit_messages",
		     "Sending limit reached: 3 messages per 1h")
end)
