-- lib.lua - helpers for the portmilter miltertest scripts (Lua 5.3, run
-- by miltertest; loaded with
--   dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")).
--
-- Environment (set by run-lua.sh): PM_SOCKET (milter socket), PM_LOG
-- (the daemon's log file), PM_TMP (private temporary directory).
--
-- TAP. Cases are printed without a plan: run-lua.sh adds its own cases
-- and the plan. The number printed so far is kept in $PM_TMP/count.
-- The numbering starts after $PM_TAP_N when set (a shell test that
-- prints cases of its own before running a script).
--   ok(cond, name[, why])  one TAP line; "why" (if not ok) as "# " lines
--   case(name, fn)         runs fn under pcall: one "ok" line, or "not
--                          ok" with the error as "# " lines; the script
--                          goes on either way
--   check(cond, fmt, ...)  inside a case: error(string.format(...))
--   diag(text)             "# " lines, non-printable bytes as \xNN
--   expect(got, want, what) inside a case: a stage reply is want (SMFIR_*)
--   reply_name(r)          "SMFIR_CONTINUE", ... for messages
--
-- Sessions. session(t) plays what Postfix sends for one SMTP session
-- and returns the milter's reply at each stage:
--   t.port        {daemon_port} (number or string); nil = not sent
--   t.daemon_name {daemon_name}; default "portmilter/PORT"; false = not sent
--   t.client_ip   default "192.0.2.10" ("unspec" = unknown family)
--   t.client_name default "client.example"
--   t.tls         {tls_version} (e.g. "TLSv1.3"); nil = plaintext
--   t.implicit    TLS macros from connect on; default: port 465 or 4650
--   t.skip_ehlo2  STARTTLS client that skips the second EHLO: TLS macros
--                 only at MAIL
--   t.auth        {auth_type} (true = "PLAIN"); nil = no AUTH
--   t.user        {auth_authen}; default "user@example.test"
--   t.helo        default "client.example"
--   t.from        MAIL FROM argument; default "<sender@client.example>"
--   t.mail_args   MAIL's ESMTP parameters, a list of
--                 strings such as { "SIZE=5000" }; default none
--   t.rcpts       list of {addr=..., mailer=...} (mailer false = no
--                 {rcpt_mailer}); default one local recipient
--   t.headers     (miltertest) list of {name, value} sent after the
--                 recipients; t.body a string or a list of chunks
--                 (mt.bodystring); the milter negotiates "no reply" for
--                 both, so no reply is awaited. Like Postfix, they are
--                 not sent when the milter negotiated them away
--                 (SMFIP_NOHDRS, SMFIP_NOBODY: no limit_bytes budget)
--   t.eom         send end-of-message after the recipients (and headers
--                 and body). miltertest sends a header and a body of its
--                 own before EOM when the script sent none ("From:
--                 <sender@example.com>", "Dummy message body.\r\n"): a
--                 message without them needs the raw transport
--   t.mail        false = the session ends after HELO (a connection
--                 without a transaction)
--   t.macros      false = send no macro at all, at any stage
--   t.extra       {[SMFIC_x] = {name, value, ...}}: more macros per stage
--   t.raw         use the raw transport (below) instead of miltertest
--   t.may_drop    (raw) the milter may close the session: r.dropped says
--                 why, instead of an error
--   t.keep        (miltertest) leave the connection open: r.handle
--   t.socket      (miltertest) the milter socket; default PM_SOCKET
--   t.mta_pflags  (raw) the protocol flags the MTA offers (default: all)
-- Postfix's order is followed: connect macros, connect; HELO (for
-- STARTTLS: HELO, abort, TLS macros, HELO again); MAIL macros (AUTH and
-- TLS again), MAIL; per recipient RCPT macros and RCPT; end of message.
-- A refused connect, HELO or MAIL ends the session, as in Postfix; a
-- refused recipient does not. Returns r with r.connect, r.helo, r.mail,
-- r.rcpt[i], r.eom (SMFIR_* numbers, nil = stage not reached) and, with
-- the raw transport, r.text[stage] = the SMTP reply text sent and
-- r.negotiated = the protocol flags agreed on. A step negotiated "no
-- reply" is reported as SMFIR_CONTINUE, as miltertest does.
--
-- The raw transport. miltertest packs every command into a 1024-byte
-- buffer (mt.macro fails with "Buffer overflow", mt.helo and mt.mailfrom
-- overflow its stack), so the 20 kB values go through a small Perl
-- client (perl-base is essential in Debian) that speaks the milter
-- protocol itself: the script's packets are piped to it, it stops after
-- a refused connect/HELO/MAIL like the miltertest path, and it prints
-- each reply, whose text we then have too. raw_exchange(bytes[, timeout])
-- sends any packets (packet(cmd, data), negotiate_packet(), and
-- garbage(bytes) for bytes that are not even a packet).
--
-- The log. log_mark() is the current end of $PM_LOG; log_since(mark) the
-- text written after it; log_lines(mark, needle) its lines containing
-- needle (plain text); log_wait(mark, needle, seconds) waits (bounded)
-- for one. refused(stage_reply, mark, needle, STAGE, code, xcode, rule)
-- checks an SMFIR_REPLYCODE reply and the daemon's decision line
--   "QID: reject: STAGE from NAME[ADDR]: 554 5.7.1 text; rule=relay ..."
-- ("tempfail" for 4xx) among the lines containing needle (give each case
-- a unique sender or HELO); decision(...) checks only the line.
-- not_refused(mark, needle) checks that no decision line contains needle.
-- connect([socket]) opens and negotiates a miltertest connection (on
-- PM_SOCKET by default), for scripts that drive mt.* themselves.

-- Shorthands of the session tables: a local recipient, and a sender or a
-- remote recipient made unique by a tag (to find the case's log line).
LOCAL_RCPT = { addr = "<user@example.test>", mailer = "local" }

function tag_from(tag)
	return "<" .. tag .. "@client.example>"
end

function tag_remote(tag)
	return { addr = "<" .. tag .. "@remote.example>", mailer = "smtp" }
end

local SOCKET = os.getenv("PM_SOCKET")
local LOG = os.getenv("PM_LOG")
local TMP = os.getenv("PM_TMP")

mt.set_timeout(10)

-- ---- TAP -------------------------------------------------------------------

local ntests = math.tointeger(tonumber(os.getenv("PM_TAP_N") or "")) or 0

-- Bytes outside printable ASCII as \xNN: TAP lines stay single lines.
function printable(s)
	return (tostring(s):gsub("[^\32-\126]", function(c)
		return string.format("\\x%02x", c:byte())
	end))
end

function diag(text)
	for line in (tostring(text) .. "\n"):gmatch("(.-)\n") do
		io.write("# ", printable(line), "\n")
	end
end

local function save_count()
	if TMP == nil then
		return
	end
	local f = io.open(TMP .. "/count", "w")
	if f then
		f:write(ntests, "\n")
		f:close()
	end
end

function ok(cond, name, why)
	ntests = ntests + 1
	io.write(cond and "ok " or "not ok ", ntests, " - ", printable(name), "\n")
	if not cond and why ~= nil then
		diag(why)
	end
	io.stdout:flush()
	save_count()
	return cond
end

function case(name, fn)
	local good, err = pcall(fn)
	return ok(good, name, (not good) and tostring(err) or nil)
end

function check(cond, fmt, ...)
	if not cond then
		error(string.format(fmt, ...), 2)
	end
	return cond
end

-- ---- replies -------------------------------------------------------------

local reply_names = {}
for _, n in ipairs({ "SMFIR_ACCEPT", "SMFIR_CONTINUE", "SMFIR_DISCARD",
		     "SMFIR_REJECT", "SMFIR_TEMPFAIL", "SMFIR_REPLYCODE",
		     "SMFIR_SHUTDOWN", "SMFIR_CONN_FAIL" }) do
	if _G[n] ~= nil then
		reply_names[math.tointeger(_G[n]) or _G[n]] = n
	end
end

function reply_name(r)
	if r == nil then
		return "no reply (stage not reached)"
	end
	local k = math.tointeger(r) or r
	if reply_names[k] then
		return reply_names[k]
	end
	if type(k) == "number" and k > 32 and k < 127 then
		return string.format("reply '%s'", string.char(k))
	end
	return "reply " .. tostring(r)
end

-- Check one stage's reply.
function expect(got, want, what)
	check(got == want, "%s: expected %s, got %s", what, reply_name(want),
	      reply_name(got))
end

-- ---- the log ---------------------------------------------------------------

function log_mark()
	local f = assert(io.open(LOG, "rb"))
	local n = f:seek("end")
	f:close()
	return n
end

function log_since(mark)
	local f = assert(io.open(LOG, "rb"))
	f:seek("set", mark or 0)
	local s = f:read("a")
	f:close()
	return s
end

function log_lines(mark, needle)
	local found = {}
	for line in log_since(mark):gmatch("([^\n]*)\n") do
		if needle == nil or line:find(needle, 1, true) then
			found[#found + 1] = line
		end
	end
	return found
end

function log_wait(mark, needle, seconds)
	local tries = math.floor((seconds or 5) / 0.05)
	for _ = 0, tries do
		local l = log_lines(mark, needle)
		if #l > 0 then
			return l
		end
		mt.sleep(0.05)
	end
	return {}
end

local function log_excerpt(mark)
	local lines = log_lines(mark)
	local first = math.max(1, #lines - 9)
	local out = {}
	for i = first, #lines do
		out[#out + 1] = "  " .. lines[i]
	end
	if #out == 0 then
		return "(nothing logged since the mark)"
	end
	return "log since the mark:\n" .. table.concat(out, "\n")
end

-- The decision line for needle; checks code, enhanced code and rule.
function decision(mark, needle, stage, code, xcode, rule)
	local action = code:sub(1, 1) == "4" and "tempfail" or "reject"
	local lines = log_lines(mark, needle)
	for _, line in ipairs(lines) do
		if line:find(": " .. action .. ": " .. stage .. " from ", 1, true) then
			check(line:find(": " .. code .. " " .. xcode .. " ", 1, true),
			      "decision line has not \"%s %s\": %s", code, xcode, line)
			check(line:find("; rule=" .. rule .. " ", 1, true),
			      "decision line has not \"rule=%s\": %s", rule, line)
			return line
		end
	end
	error(string.format("no \"%s: %s\" line containing %q; %s", action,
			    stage, needle, log_excerpt(mark)), 2)
end

function refused(got, mark, needle, stage, code, xcode, rule)
	expect(got, SMFIR_REPLYCODE, stage)
	return decision(mark, needle, stage, code, xcode, rule)
end

function not_refused(mark, needle)
	for _, line in ipairs(log_lines(mark, needle)) do
		check(not (line:find(": reject: ", 1, true) or
			   line:find(": tempfail: ", 1, true)),
		      "unexpected decision line: %s", line)
	end
end

-- ---- building a session ------------------------------------------------------

local function tls_macros(t, list)
	list[#list + 1] = "{tls_version}"
	list[#list + 1] = t.tls
	list[#list + 1] = "{cipher}"
	list[#list + 1] = t.cipher or "TLS_AES_256_GCM_SHA384"
	list[#list + 1] = "{cipher_bits}"
	list[#list + 1] = "256"
	return list
end

local function add_extra(t, stage, list)
	local extra = t.extra and t.extra[stage]
	if extra then
		for _, v in ipairs(extra) do
			list[#list + 1] = v
		end
	end
	return list
end

local function bare(addr)
	return (tostring(addr):gsub("^<", ""):gsub(">$", ""))
end

-- The steps of a session, for either transport: {kind, ...}.
local function session_steps(t)
	local steps = {}
	local macros = t.macros ~= false
	local port = t.port
	local implicit = t.implicit
	if implicit == nil then
		implicit = (tonumber(port) == 465 or tonumber(port) == 4650)
	end
	local function macro(stage, list)
		if macros and #list > 0 then
			steps[#steps + 1] = { kind = "macro", stage = stage, list = list }
		end
	end
	local ip = t.client_ip or "192.0.2.10"
	local name = t.client_name or "client.example"
	local helo = t.helo or "client.example"

	local cm = { "j", "mx.example.test", "_", name .. " [" .. ip .. "]" }
	if port ~= nil then
		cm[#cm + 1] = "{daemon_port}"
		cm[#cm + 1] = tostring(port)
	end
	local dname = t.daemon_name
	if dname == nil then
		dname = port ~= nil and ("portmilter/" .. tostring(port)) or "smtpd"
	end
	if dname then
		cm[#cm + 1] = "{daemon_name}"
		cm[#cm + 1] = dname
	end
	for _, v in ipairs({ "{daemon_addr}", "192.0.2.1", "{client_addr}", ip,
			     "{client_name}", name, "{client_port}", "40000" }) do
		cm[#cm + 1] = v
	end
	if t.tls and implicit then
		tls_macros(t, cm)
	end
	macro(SMFIC_CONNECT, add_extra(t, SMFIC_CONNECT, cm))
	steps[#steps + 1] = { kind = "connect", name = name, ip = ip,
			      slot = "connect" }

	if t.tls and not implicit then
		-- STARTTLS: EHLO in clear, then (unless the client skips it)
		-- Postfix aborts and sends the second EHLO with the TLS macros.
		macro(SMFIC_HELO, add_extra(t, SMFIC_HELO, {}))
		steps[#steps + 1] = { kind = "helo", name = helo, slot = "helo" }
		if not t.skip_ehlo2 then
			steps[#steps + 1] = { kind = "abort" }
			macro(SMFIC_HELO, add_extra(t, SMFIC_HELO, tls_macros(t, {})))
			steps[#steps + 1] = { kind = "helo", name = helo, slot = "helo" }
		end
	else
		macro(SMFIC_HELO, add_extra(t, SMFIC_HELO,
					    t.tls and tls_macros(t, {}) or {}))
		steps[#steps + 1] = { kind = "helo", name = helo, slot = "helo" }
	end

	if t.mail == false then
		return steps
	end

	local mm = {}
	if t.auth then
		mm[#mm + 1] = "{auth_type}"
		mm[#mm + 1] = t.auth == true and "PLAIN" or t.auth
		mm[#mm + 1] = "{auth_authen}"
		mm[#mm + 1] = t.user or "user@example.test"
	end
	if t.tls then
		tls_macros(t, mm)
	end
	macro(SMFIC_MAIL, add_extra(t, SMFIC_MAIL, mm))
	steps[#steps + 1] = { kind = "mail", from = t.from or "<sender@client.example>",
			      args = t.mail_args or {}, slot = "mail" }

	local rcpts = t.rcpts or { { addr = "<user@example.test>", mailer = "local" } }
	for i, rc in ipairs(rcpts) do
		local rm = { "{rcpt_addr}", bare(rc.addr) }
		local host = tostring(rc.addr):match("@([^@>]*)>?$") or ""
		rm[#rm + 1] = "{rcpt_host}"
		rm[#rm + 1] = host
		if rc.mailer ~= false then
			rm[#rm + 1] = "{rcpt_mailer}"
			rm[#rm + 1] = rc.mailer or "local"
		end
		macro(SMFIC_RCPT, add_extra(t, SMFIC_RCPT, rm))
		steps[#steps + 1] = { kind = "rcpt", addr = rc.addr, slot = i }
	end
	for _, h in ipairs(t.headers or {}) do
		steps[#steps + 1] = { kind = "header", name = h[1], value = h[2] }
	end
	local body = t.body
	if type(body) == "string" then
		body = { body }
	end
	for _, chunk in ipairs(body or {}) do
		steps[#steps + 1] = { kind = "body", data = chunk }
	end
	if t.eom then
		steps[#steps + 1] = { kind = "eom", slot = "eom" }
	end
	return steps
end

local function store(r, slot, reply, text)
	if type(slot) == "number" then
		r.rcpt[slot] = reply
		r.text.rcpt[slot] = text
	else
		r[slot] = reply
		r.text[slot] = text
	end
end

local CONTINUE = SMFIR_CONTINUE

-- ---- transport 1: miltertest ---------------------------------------------------

local function must(what, err)
	if err ~= nil then
		error(what .. ": " .. tostring(err), 3)
	end
end

function connect(socket)
	socket = socket or SOCKET
	local conn = mt.connect(socket, 10, 0.1)
	check(conn ~= nil, "mt.connect(%s) failed", tostring(socket))
	must("mt.negotiate", mt.negotiate(conn, nil, nil, nil))
	return conn
end

local function run_miltertest(steps, t)
	local r = { rcpt = {}, text = { rcpt = {} } }
	local conn = connect(t.socket)
	r.handle = conn
	for _, s in ipairs(steps) do
		local reply
		if s.kind == "macro" then
			must("mt.macro", mt.macro(conn, s.stage, table.unpack(s.list)))
		elseif s.kind == "connect" then
			must("mt.conninfo", mt.conninfo(conn, s.name, s.ip))
			reply = mt.getreply(conn)
		elseif s.kind == "helo" then
			must("mt.helo", mt.helo(conn, s.name))
			reply = mt.getreply(conn)
		elseif s.kind == "abort" then
			must("mt.abort", mt.abort(conn))
		elseif s.kind == "mail" then
			must("mt.mailfrom", mt.mailfrom(conn, s.from,
							 table.unpack(s.args)))
			reply = mt.getreply(conn)
		elseif s.kind == "rcpt" then
			must("mt.rcptto", mt.rcptto(conn, s.addr))
			reply = mt.getreply(conn)
		elseif s.kind == "header" then
			if not mt.test_option(conn, SMFIP_NOHDRS) then
				must("mt.header", mt.header(conn, s.name, s.value))
			end
		elseif s.kind == "body" then
			if not mt.test_option(conn, SMFIP_NOBODY) then
				must("mt.bodystring", mt.bodystring(conn, s.data))
			end
		elseif s.kind == "eom" then
			must("mt.eom", mt.eom(conn))
			reply = mt.getreply(conn)
		end
		if s.slot ~= nil then
			store(r, s.slot, reply)
			if s.kind ~= "rcpt" and s.kind ~= "eom" and reply ~= CONTINUE then
				break
			end
		end
	end
	if not t.keep then
		mt.disconnect(conn)
		r.handle = nil
	end
	return r
end

-- ---- transport 2: raw milter protocol through Perl ----------------------

local PERL_CLIENT = [==[
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
my ($path, $timeout) = @ARGV;
$path =~ s/^(unix|local)://;
$timeout ||= 10;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path)
	or die "connect $path: $!\n";
my $sel = IO::Select->new($s);
$SIG{PIPE} = 'IGNORE';
binmode STDIN;
binmode STDOUT;
$| = 1;
sub readn {
	my ($fh, $n, $timeout) = @_;
	my $buf = '';
	while (length($buf) < $n) {
		return undef if defined $timeout && !$sel->can_read($timeout);
		my $got = sysread($fh, $buf, $n - length($buf), length($buf));
		return undef unless $got;
	}
	return $buf;
}
sub writeall {
	my ($buf) = @_;
	while (length $buf) {
		my $n = syswrite($s, $buf);
		unless (defined $n) {
			print "-\t-\twrite failed: $!\n";
			exit 0;
		}
		substr($buf, 0, $n) = '';
	}
}
my %noreply = map { $_ => 1 } qw(D A Q);
my %stop = map { $_ => 1 } qw(C H M);
# The steps the milter may negotiate "no reply" for, and their flags.
my %nr_flag = (C => 0x1000, H => 0x2000, M => 0x4000, R => 0x8000,
	T => 0x10000, U => 0x20000, N => 0x40000, L => 0x80, B => 0x80000);
my $pflags = 0;
while (defined(my $h = readn(\*STDIN, 5))) {
	my ($len, $cmd) = unpack('N a', $h);
	my $data = $len > 1 ? readn(\*STDIN, $len - 1) : '';
	die "short packet on stdin\n" unless defined $data;
	# "X" is ours, not the milter's: send its data as it is (garbage).
	writeall($cmd eq 'X' ? $data : $h . $data);
	next if $noreply{$cmd};
	# Negotiated "no reply": none awaited; reported as CONTINUE, as
	# miltertest does.
	if (exists $nr_flag{$cmd} && ($pflags & $nr_flag{$cmd})) {
		print "$cmd\tc\t\n";
		next;
	}
	my ($r, $d);
	for (;;) {
		my $rh = readn($s, 5, $timeout);
		last unless defined $rh;
		my ($rlen, $rcmd) = unpack('N a', $rh);
		$d = $rlen > 1 ? readn($s, $rlen - 1, $timeout) : '';
		last unless defined $d;
		$r = $rcmd;
		last if $cmd ne 'E' || $r =~ /^[acdrty]$/;
	}
	unless (defined $r && defined $d) {
		print "$cmd\t-\tno reply (timeout or connection closed)\n";
		exit 0;
	}
	if ($cmd eq 'O') {	# the text is the protocol flags agreed on
		$pflags = (unpack('N N N', $d . "\0" x 12))[2] if $r eq 'O';
		$d = sprintf('%x', $pflags);
	}
	$d =~ s/\0+$//;
	$d =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge;
	print "$cmd\t$r\t$d\n";
	last if $stop{$cmd} && $r ne 'c';
}
writeall(pack('N a', 1, 'Q'));
close $s;
]==]

local function shq(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- One milter packet: length, command letter, data.
function packet(cmd, data)
	data = data or ""
	return string.pack(">I4", #data + 1) .. cmd .. data
end

-- Bytes sent as they are, then one reply awaited (for garbage that
-- breaks the packet framing): a pseudo-command of our Perl client.
function garbage(bytes)
	return packet("X", bytes)
end

-- What Postfix 3.7 offers: protocol 6, all actions, all protocol steps;
-- or the protocol flags pflags (an older MTA).
function negotiate_packet(pflags)
	return packet("O", string.pack(">I4I4I4", 6, 0x1FF, pflags or 0x1FFFFF))
end

local function encode(steps, t)
	local out = { negotiate_packet(t and t.mta_pflags) }
	local slots = { "negotiate" }
	for _, s in ipairs(steps) do
		if s.kind == "macro" then
			out[#out + 1] = packet("D", string.char(math.tointeger(s.stage)) ..
						table.concat(s.list, "\0") .. "\0")
		elseif s.kind == "connect" then
			local data
			if s.ip == "unspec" then
				data = s.name .. "\0U"
			else
				data = s.name .. "\0" .. (s.ip:find(":", 1, true) and "6" or "4")
					.. string.pack(">I2", 40000) .. s.ip .. "\0"
			end
			out[#out + 1] = packet("C", data)
		elseif s.kind == "helo" then
			out[#out + 1] = packet("H", s.name .. "\0")
		elseif s.kind == "abort" then
			out[#out + 1] = packet("A")
		elseif s.kind == "mail" then
			local m = s.from .. "\0"
			for _, a in ipairs(s.args) do
				m = m .. a .. "\0"
			end
			out[#out + 1] = packet("M", m)
		elseif s.kind == "rcpt" then
			out[#out + 1] = packet("R", s.addr .. "\0")
		elseif s.kind == "eom" then
			out[#out + 1] = packet("E")
		elseif s.kind == "header" or s.kind == "body" then
			error("t.headers, t.body: miltertest transport only", 3)
		end
		if s.slot ~= nil then
			slots[#slots + 1] = s.slot
		end
	end
	return table.concat(out), slots
end

local perl_path
local function perl_client()
	if perl_path == nil then
		perl_path = TMP .. "/rawmilter.pl"
		local f = assert(io.open(perl_path, "w"))
		f:write(PERL_CLIENT)
		f:close()
	end
	return perl_path
end

-- Send bytes (packets) on a new connection. Returns the replies, one
-- {cmd = letter sent, reply = SMFIR_* number, text = reply data with
-- non-printables as \xNN} per command that has one, and, if the milter
-- closed the connection or did not answer, the reason (else nil).
-- timeout: seconds to wait for each reply (default 10).
local raw_runs = 0
function raw_exchange(bytes, timeout)
	raw_runs = raw_runs + 1
	local out = string.format("%s/raw.%d.out", TMP, raw_runs)
	local p = assert(io.popen(string.format("perl %s %s %d >%s 2>&1",
		shq(perl_client()), shq(SOCKET), timeout or 10, shq(out)), "w"))
	p:write(bytes)
	local closed, _, status = p:close()
	local f = assert(io.open(out, "rb"))
	local text = f:read("a")
	f:close()
	check(closed, "raw client failed (status %s): %s", tostring(status), text)
	local replies, dropped = {}, nil
	for line in text:gmatch("([^\n]*)\n") do
		local cmd, rc, rtext = line:match("^(.)\t(.)\t(.*)$")
		check(cmd ~= nil, "raw client: %s", line)
		if rc == "-" then
			dropped = rtext
			break
		end
		replies[#replies + 1] = { cmd = cmd, reply = rc:byte(), text = rtext }
	end
	return replies, dropped
end

local function run_raw(steps, t)
	local bytes, slots = encode(steps, t)
	local replies, dropped = raw_exchange(bytes)
	check(dropped == nil or t.may_drop, "milter dropped the session: %s",
	      tostring(dropped))
	local r = { rcpt = {}, text = { rcpt = {} }, dropped = dropped }
	for i, rep in ipairs(replies) do
		if slots[i] ~= "negotiate" then
			store(r, slots[i], rep.reply, rep.text)
		else
			r.negotiated = tonumber(rep.text, 16)
		end
	end
	return r
end

-- ---- the session -------------------------------------------------------------

function session(t)
	local steps = session_steps(t)
	if t.raw then
		return run_raw(steps, t)
	end
	return run_miltertest(steps, t)
end
