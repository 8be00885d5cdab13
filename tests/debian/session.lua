-- session.lua - the installed package's milter, started as its systemd
-- unit would start it, answers milter sessions on its real socket with
-- the installed /etc/portmilter/portmilter.conf: an MX delivery to a
-- local recipient is accepted, relay and a submission without TLS are
-- refused. Run by tests/debian/package.sh (miltertest -s), which sets
-- PM_SOCKET, PM_LOG, PM_TMP and PM_TAP_N (tests/milter/lib.lua).

dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")

local C = SMFIR_CONTINUE

case("installed milter, port 25, local recipient: connect, HELO, MAIL, RCPT accepted",
     function()
	local m = log_mark()
	local r = session({ port = 25, from = tag_from("deb-local"),
			    rcpts = { LOCAL_RCPT } })
	expect(r.connect, C, "connect")
	expect(r.helo, C, "HELO")
	expect(r.mail, C, "MAIL")
	expect(r.rcpt[1], C, "RCPT")
	not_refused(m, "deb-local@")
end)

case("installed milter, port 25, remote recipient: RCPT 554 5.7.1 rule=relay",
     function()
	local m = log_mark()
	local r = session({ port = 25, from = tag_from("deb-relay"),
			    rcpts = { tag_remote("deb-relay-to") } })
	expect(r.mail, C, "MAIL")
	refused(r.rcpt[1], m, "deb-relay@", "RCPT", "554", "5.7.1", "relay")
end)

case("installed milter, port 587 without TLS: MAIL 530 5.7.0 rule=require_tls",
     function()
	local m = log_mark()
	local r = session({ port = 587, from = tag_from("deb-notls") })
	expect(r.helo, C, "HELO")
	refused(r.mail, m, "deb-notls@", "MAIL", "530", "5.7.0", "require_tls")
end)
