-- demo.lua - the sessions of the demo (tools/demo), one line each.
-- Plays what Postfix would send on each of the six default ports
-- (miltertest stands in for Postfix) and prints the milter's verdict
-- with the rule and reply it logged.
dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local LOCAL = { addr = "<alice@example.test>", mailer = "local" }
local REMOTE = { addr = "<bob@remote.example>", mailer = "smtp" }

local scenarios = {
	{ "mx, no auth, local recipient", { port = 25, rcpts = { LOCAL }, eom = true } },
	{ "mx, no auth, remote recipient", { port = 25, rcpts = { REMOTE } } },
	{ "mx, AUTH in clear text", { port = 25, auth = true, user = "carol@example.test" } },
	{ "STARTTLS + AUTH, remote recipient", { port = 587, tls = "TLSv1.3", auth = true, rcpts = { REMOTE }, eom = true } },
	{ "no STARTTLS", { port = 587 } },
	{ "STARTTLS, no AUTH", { port = 587, tls = "TLSv1.3" } },
	{ "STARTTLS TLSv1.1 + AUTH", { port = 587, tls = "TLSv1.1", auth = true } },
	{ "STARTTLS + AUTH, remote recipient", { port = 5870, tls = "TLSv1.3", auth = true, user = "dave@example.test", rcpts = { REMOTE }, eom = true } },
	{ "no STARTTLS", { port = 5870 } },
	{ "STARTTLS + AUTH, remote recipient", { port = 12345, tls = "TLSv1.2", auth = true, user = "erin@example.test", rcpts = { REMOTE }, eom = true } },
	{ "AUTH in clear text", { port = 12345, auth = true, user = "frank@example.test" } },
	{ "implicit TLS + AUTH, remote recipient", { port = 465, tls = "TLSv1.3", auth = true, rcpts = { REMOTE }, eom = true } },
	{ "implicit TLS, no AUTH", { port = 465, tls = "TLSv1.3" } },
	{ "implicit TLS + AUTH, remote recipient", { port = 4650, tls = "TLSv1.3", auth = true, user = "dave@example.test", rcpts = { REMOTE }, eom = true } },
	{ "no section for this port", { port = 2525 } },
}

print(string.format("%-6s %-38s %s", "port", "session", "verdict"))
for i, sc in ipairs(scenarios) do
	local t = sc[2]
	t.from = string.format("<demo%d@client.example>", i)
	local mark = log_mark()
	local ok_, r = pcall(session, t)
	local verdict
	if not ok_ then
		verdict = "error: " .. tostring(r)
	else
		local line = log_lines(mark, t.from:sub(2, -2))[1]
		if line then
			local stage, code = line:match("reject: (%S+) from [^:]*: (.-);")
			stage = stage or line:match("tempfail: (%S+) from")
			code = code or line:match("tempfail: %S+ from [^:]*: (.-);")
			verdict = string.format("refused at %s: %s (%s)", stage or "?",
				code or "?", line:match("rule=(%S+)") or "?")
		else
			verdict = t.eom and "accepted" or "continues"
		end
	end
	print(string.format("%-6s %-38s %s", tostring(t.port), sc[1], verdict))
end
