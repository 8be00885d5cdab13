-- metrics-traffic.lua - known traffic for tests/milter/metrics.sh: the counts
-- that script expects from /metrics (and from Prometheus) are those of
-- the sessions below, one case each. Run with miltertest -s by
-- metrics.sh (not on its own: no runner adds its cases).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE
local LOCAL = LOCAL_RCPT

for i = 1, 3 do
	case("587 TLSv1.3 + AUTH: accepted (" .. i .. " of 3)", function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = true,
				    user = "u" .. i .. "@example.test",
				    rcpts = { LOCAL }, eom = true })
		expect(r.mail, C, "MAIL")
		check(r.eom == C or r.eom == SMFIR_ACCEPT, "EOM: %s", reply_name(r.eom))
	end)
end
case("587 plaintext, no AUTH: MAIL refused (require_tls)", function()
	local r = session({ port = 587 })
	check(r.mail ~= C, "MAIL was not refused")
end)
case("587 AUTH without TLS: MAIL refused (tls_before_auth, exposure)", function()
	local r = session({ port = 587, auth = true, user = "exposed@example.test" })
	check(r.mail ~= C, "MAIL was not refused")
end)
case("465 TLSv1.2 + AUTH: accepted", function()
	local r = session({ port = 465, tls = "TLSv1.2", auth = true,
			    rcpts = { LOCAL }, eom = true })
	check(r.eom == C or r.eom == SMFIR_ACCEPT, "EOM: %s", reply_name(r.eom))
end)
case("25 plaintext, remote recipient: RCPT refused (relay)", function()
	local r = session({ port = 25, rcpts = { tag_remote("m25") } })
	check(r.rcpt[1] ~= C, "RCPT was not refused")
end)
case("25: the only recipient refused by Postfix itself (postfix_rejected)", function()
	local r = session({ port = 25,
			    rcpts = { { addr = "<x@remote.example>", mailer = "error" } } })
	expect(r.rcpt[1], C, "RCPT")
end)
case("5870 TLSv1.3 + AUTH: accepted", function()
	local r = session({ port = 5870, tls = "TLSv1.3", auth = true,
			    rcpts = { LOCAL }, eom = true })
	check(r.eom == C or r.eom == SMFIR_ACCEPT, "EOM: %s", reply_name(r.eom))
end)
case("12345: a connection without a transaction", function()
	local r = session({ port = 12345, mail = false })
	expect(r.helo, C, "HELO")
end)
