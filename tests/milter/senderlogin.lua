-- senderlogin.lua - sender_login (issue 11): an authenticated user
-- sending as someone else is refused at MAIL with 553 5.7.1, rule
-- sender_login, in each form (exact on 587, domain on 5870, map on
-- 12345 with senderlogin.senders), and only logged and recorded in
-- monitor mode (5871: limits_enforce = no). Configuration:
-- senderlogin.conf. Run by tests/milter/run-lua.sh (miltertest -s).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE
local TMP = os.getenv("PM_TMP")
local TEXT = "553 5.7.1 Sender address rejected: not owned by the "
	     .. "authenticated user"

local function send(port, user, from, auth)
	return session({ port = port, tls = "TLSv1.3", auth = auth ~= false,
			 user = user, from = from, eom = true,
			 rcpts = { { addr = "<to@example.test>", mailer = "local" } } })
end

local function ok_as(port, user, from, tag)
	local m = log_mark()
	local r = send(port, user, from)
	expect(r.mail, C, tag .. ": MAIL")
	expect(r.eom, C, tag .. ": end of message")
	not_refused(m, "user=<" .. user .. ">")
end

local function refused_as(port, user, from, tag)
	local m = log_mark()
	local r = send(port, user, from)
	local line = refused(r.mail, m, "user=<" .. user .. ">", "MAIL", "553",
			     "5.7.1", "sender_login")
	check(line:find(TEXT:sub(15), 1, true), "reply text: %s", line)
	check(r.rcpt[1] == nil, "%s: RCPT after a refused MAIL", tag)
end

local rows = {
	-- port, login, sender, owned
	{ 587, "alice@example.test", "<alice@example.test>", true },
	{ 587, "ALICE@example.test", "<Alice@Example.TEST>", true },
	{ 587, "alice@example.test", "<>", true },
	{ 587, "alice@example.test", "<bob@example.test>", false },
	{ 587, "alice@example.test", "<@evil.example:alice@example.test>", false },
	{ 587, "alice", "<alice@example.test>", false },
	{ 5870, "alice@example.test", "<anyone@example.test>", true },
	{ 5870, "alice@example.test", "<alice@sub.example.test>", false },
	{ 5870, "alice", "<alice@example.test>", false },
	{ 12345, "alice", "<info@example.test>", true },
	{ 12345, "bob", "<INFO@example.test>", true },
	{ 12345, "carol", "<info@example.test>", false },
	{ 12345, "carol", "<x@example.org>", true },
	{ 12345, "alice", "<x@example.org>", false },
	{ 12345, "alice", "<alice@example.test>", false },
}

for i, row in ipairs(rows) do
	local port, user, from, owned = row[1], row[2], row[3], row[4]
	case(string.format("%d sender_login: %s as %s: %s", port, user, from,
			   owned and "accepted" or "MAIL 553 5.7.1"), function()
		if owned then
			ok_as(port, user, from, "row " .. i)
		else
			refused_as(port, user, from, "row " .. i)
		end
	end)
end

case("no AUTH: sender_login does not apply (25, exact)", function()
	local m = log_mark()
	local r = session({ port = 25, from = "<someone@example.net>", eom = true,
			    rcpts = { { addr = "<to@example.test>", mailer = "local" } } })
	expect(r.mail, C, "MAIL")
	not_refused(m, "someone@example.net")
end)

case("monitor (5871, limits_enforce = no): accepted, logged and recorded",
     function()
	local m = log_mark()
	local r = send(5871, "mon@example.test", "<boss@example.test>")
	expect(r.mail, C, "MAIL")
	expect(r.eom, C, "end of message")
	local l = log_lines(m, ": monitor: would reject: MAIL from ")
	check(#l == 1 and l[1]:find("rule=sender_login ", 1, true) and
	      l[1]:find(TEXT, 1, true), "no monitor line: %s", log_since(m))
	local p = assert(io.popen("grep -raF -- 'monitor: " .. TEXT .. "' '" ..
				  TMP .. "/journal' | wc -l"))
	local n = tonumber(p:read("a"))
	p:close()
	check(n == 1, "the event does not record the would-be reply (%s)",
	      tostring(n))
end)
