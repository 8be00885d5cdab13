-- metrics-budget-traffic.lua - known budget hits for tests/milter/metrics-budgets.sh
-- (miltertest -s; budgets.conf): on 5870 (2 messages/1h, enforced) the
-- 3rd message of alice is refused at MAIL (1 limit_messages hit,
-- enforce); on 2587 (monitor mode, 2 messages and 3 recipients per 1h)
-- gina sends 4 messages of 1 recipient, all accepted (2 limit_messages
-- hits and 1 limit_recipients hit, monitor); on 5873 (4k bytes/1h) henry
-- sends two 2.7 kB messages, the 3rd is refused (1 limit_bytes hit,
-- enforce).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE

local function send(port, user, tag, body)
	return session({ port = port, tls = "TLSv1.3", auth = true, user = user,
			 from = tag_from(tag),
			 rcpts = { { addr = "<" .. tag .. "-r@example.test>",
				     mailer = "local" } },
			 body = body, eom = true })
end

case("5870: 2 messages accepted, the 3rd refused at MAIL", function()
	for i = 1, 2 do
		expect(send(5870, "alice@example.test", "mb-alice-" .. i).eom, C,
		       "message " .. i)
	end
	local r = send(5870, "alice@example.test", "mb-alice-3")
	check(r.mail ~= C, "the 3rd MAIL was not refused")
end)

case("2587 (monitor): 4 messages, all accepted", function()
	for i = 1, 4 do
		expect(send(2587, "gina@example.test", "mb-gina-" .. i).eom, C,
		       "message " .. i)
	end
end)

case("5873: two 2.7 kB messages accepted, the 3rd refused at MAIL", function()
	local body = { string.rep("x", 900) .. "\r\n", string.rep("y", 900) ..
		       "\r\n", string.rep("z", 900) .. "\r\n" }
	for i = 1, 2 do
		expect(send(5873, "henry@example.test", "mb-henry-" .. i, body).eom,
		       C, "message " .. i)
	end
	local r = send(5873, "henry@example.test", "mb-henry-3", body)
	check(r.mail ~= C, "the 3rd MAIL was not refused")
end)
