#!/bin/sh
# daemon.sh - the portmilter daemon as a process (POSIX sh, TAP): config
# check mode, reload on SIGHUP (valid and broken files), a burst of
# SIGHUPs, SIGTERM, restart on the same socket, daemon mode (the start-up
# errors on stderr, exit status, pid file), privilege drop (and the
# socket's group in a setgid directory).
#
# Run by automake with SH_LOG_COMPILER=sh; environment: top_srcdir,
# top_builddir (absolute), MILTERTEST (empty = skip), PM_VALGRIND (set:
# the daemon runs under valgrind), PM_KEEP (set: keep the temporary
# directory). Sessions are played by a small Lua script (written to the
# temporary directory) under miltertest, with tests/milter/lib.lua.

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
if [ ! -r "$PM_SHIPPED_CONF" ]; then
	echo "Bail out! $PM_SHIPPED_CONF is missing"
	exit 99
fi
pm_tmp_setup

PM_SOCKET=unix:$PM_TMP/pm.sock
PM_LOG=$PM_TMP/portmilter.log
export PM_SOCKET PM_LOG

# ours PID: 0 while PID runs and is the milter under test.
ours() {
	pm_live "$1" && [ "$(readlink "/proc/$1/exe")" = "$(readlink -f "$PM_DAEMON")" ]
}

# The daemon-mode milter (not a child of this shell) is killed by its
# pid file on any exit.
daemon_kill() {
	_dk_pid=$(cat "$PM_TMP/daemon.pid" 2>/dev/null) || return 0
	case $_dk_pid in '' | *[!0-9]*) return 0 ;; esac
	! ours "$_dk_pid" || kill -KILL "$_dk_pid" 2>/dev/null || :
}
# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK=daemon_kill

# probe TAG PORT NRCPT: one plaintext, unauthenticated session with NRCPT
# recipients at example.test (mailer local); prints the replies as
# "mail=X rcpt=X,X,..." (c = continue, y = reply code, t = tempfail,
# - = not reached).
cat >"$PM_TMP/probe.lua" <<'EOF'
dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")
local function letter(r)
	if r == nil then
		return "-"
	end
	return string.char(math.tointeger(r))
end
local rcpts = {}
for i = 1, tonumber(nrcpt) do
	rcpts[i] = { addr = "<" .. tag .. "-" .. i .. "@example.test>", mailer = "local" }
end
local r = session({ port = tonumber(port), from = "<" .. tag .. "@client.example>",
		    rcpts = rcpts })
local out = {}
for i = 1, tonumber(nrcpt) do
	out[i] = letter(r.rcpt[i])
end
print("mail=" .. letter(r.mail) .. " rcpt=" .. table.concat(out, ","))
EOF

probe() {
	"$MILTERTEST" -D tag="$1" -D port="$2" -D nrcpt="$3" \
		-s "$PM_TMP/probe.lua" 2>>"$PM_TMP/probe.err"
}

# expect_probe NAME WANT TAG PORT NRCPT: one TAP case.
expect_probe() {
	_ep_name=$1
	_ep_want=$2
	shift 2
	_ep_got=$(probe "$@")
	[ "$_ep_got" = "$_ep_want" ]
	if ! tap_ok $? "$_ep_name"; then
		tap_diag "expected \"$_ep_want\", got \"$_ep_got\""
		tap_diag_file "$PM_TMP/probe.err"
		tail -n 5 "$PM_LOG" | tap_diag_file -
		return 1
	fi
}

# count FILE TEXT: lines of FILE containing TEXT.
count() {
	grep -cF -- "$2" "$1" 2>/dev/null || :
}

# wait_count FILE TEXT N: until at least N lines contain TEXT (5 s).
wait_count() {
	_wc_i=0
	while [ "$_wc_i" -le $((50 * PM_SLOW)) ]; do
		[ "$(count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
		_wc_i=$((_wc_i + 1))
	done
	return 1
}

# ---- portmilter -n ---------------------------------------------------------

out=$("$PM_DAEMON" -n -c "$PM_SHIPPED_CONF" 2>"$PM_TMP/n.err")
st=$?
missing=
for p in 25 587 5870 12345 465 4650; do
	printf '%s\n' "$out" | grep -qE "^${p}[[:space:]]" || missing="$missing $p"
done
[ "$st" -eq 0 ] && [ -z "$missing" ]
if ! tap_ok $? "portmilter -n on the shipped config: exit 0, all six ports listed"; then
	tap_diag "exit status $st; ports missing:${missing:- none}"
	printf '%s\n' "$out" | tap_diag_file -
	tap_diag_file "$PM_TMP/n.err"
fi

# An error on a line the parser knows: FILE:LINE in the message.
# check_bad NAME LINE-TO-INSERT: inserted after "[port 587]".
check_bad() {
	_cb_conf=$PM_TMP/bad.conf
	awk -v add="$2" '{ print } /^\[port 587\]/ { print add }' \
		"$PM_SHIPPED_CONF" >"$_cb_conf"
	_cb_line=$(grep -nxF -- "$2" "$_cb_conf" | cut -d: -f1)
	"$PM_DAEMON" -n -c "$_cb_conf" >"$PM_TMP/bad.out" 2>"$PM_TMP/bad.err"
	_cb_st=$?
	[ "$_cb_st" -ne 0 ] && [ -n "$_cb_line" ] &&
		grep -qF -- "$_cb_conf:$_cb_line:" "$PM_TMP/bad.err"
	if ! tap_ok $? "portmilter -n, $1: exit non-zero, error names bad.conf:$_cb_line"; then
		tap_diag "exit status $_cb_st"
		tap_diag_file "$PM_TMP/bad.err"
	fi
}
check_bad "unknown key" "no_such_key = yes"
check_bad "bad value" "max_recipients = 0"

# ---- reload on SIGHUP ------------------------------------------------------

conf=$PM_TMP/portmilter.conf
pm_conf_build "$conf" || {
	echo "Bail out! cannot build the configuration"
	exit 99
}
cp "$conf" "$PM_TMP/v1.conf"
if ! pm_start "$conf" "$PM_SOCKET" "$PM_LOG"; then
	echo "Bail out! portmilter did not start"
	tap_diag_file "$PM_LOG"
	exit 99
fi

expect_probe "before reload: port 2525 has no section, strict: MAIL refused" \
	"mail=y rcpt=-,-,-" h0 2525 3

# v2: port 2525 becomes an mx port with at most 2 recipients.
{
	cat "$PM_TMP/v1.conf"
	printf '\n[port 2525]\nmode = mx\nmax_recipients = 2\n'
} >"$PM_TMP/v2.conf"
cp "$PM_TMP/v2.conf" "$conf"
kill -HUP "$PM_PID"
wait_count "$PM_LOG" ": reloaded " 1
tap_ok $? "SIGHUP with a valid changed config: \"reloaded\" logged" ||
	tail -n 5 "$PM_LOG" | tap_diag_file -

if expect_probe "after reload: 2525 is mx, max_recipients 2: MAIL ok, 3rd RCPT 452" \
	"mail=c rcpt=c,c,y" h1 2525 3; then
	grep -F "<h1-3@example.test>" "$PM_LOG" |
		grep -qF "452 4.5.3 Too many recipients; rule=max_recipients port=2525 "
	tap_ok $? "after reload: the 3rd RCPT logged as 452 4.5.3 rule=max_recipients" ||
		tail -n 5 "$PM_LOG" | tap_diag_file -
else
	tap_ok 1 "after reload: the 3rd RCPT logged as 452 4.5.3 rule=max_recipients"
fi

# v3: broken (an unknown key on a known line); the old rules stay.
cp "$PM_TMP/v2.conf" "$conf"
echo "no_such_key = 1" >>"$conf"
bad_line=$(wc -l <"$conf" | tr -d ' ')
kill -HUP "$PM_PID"
wait_count "$PM_LOG" "the old one stays in force" 1 &&
	grep -qF "$conf:$bad_line:" "$PM_LOG"
tap_ok $? "SIGHUP with a broken config: portmilter.conf:$bad_line named, old config stays" ||
	tail -n 5 "$PM_LOG" | tap_diag_file -

expect_probe "after the failed reload: the old rules (2525 mx, max 2) still apply" \
	"mail=c rcpt=c,c,y" h2 2525 3

# A burst of SIGHUPs (valid config again): libmilter must not take
# SIGHUP as "stop".
cp "$PM_TMP/v2.conf" "$conf"
n0=$(count "$PM_LOG" ": reloaded ")
i=0
while [ "$i" -lt 20 ]; do
	kill -HUP "$PM_PID" 2>/dev/null
	i=$((i + 1))
done
wait_count "$PM_LOG" ": reloaded " $((n0 + 1))
sleep 0.5
pm_alive
tap_ok $? "20 SIGHUPs in a burst: portmilter still running" ||
	tail -n 10 "$PM_LOG" | tap_diag_file -
expect_probe "after the burst: sessions served with the reloaded rules" \
	"mail=c rcpt=c,c,y" h3 2525 3

# ---- SIGTERM ---------------------------------------------------------------

sock_path=$PM_TMP/pm.sock
pm_stop
stopped=$?
[ "$stopped" -eq 0 ] && [ "$PM_STATUS" -eq 0 ] && grep -q ': stopped$' "$PM_LOG"
if ! tap_ok $? "SIGTERM: exit status 0 within 10 s, \"stopped\" logged"; then
	tap_diag "status ${PM_STATUS:-?}$([ "$stopped" -eq 0 ] || echo ', SIGKILL needed')"
	tail -n 5 "$PM_LOG" | tap_diag_file -
fi
if [ -S "$sock_path" ]; then
	tap_diag "socket left in place after SIGTERM (libmilter unlinks it only when not root)"
fi

# Restart on the same socket path: a stale socket must not stop it.
if pm_start "$conf" "$PM_SOCKET" "$PM_TMP/restart.log"; then
	PM_LOG=$PM_TMP/restart.log
	expect_probe "restart on the same socket path: sessions served" \
		"mail=c rcpt=c" h4 25 1
	pm_stop
	[ "$PM_STATUS" -eq 0 ]
	tap_ok $? "restarted daemon: SIGTERM, exit status 0" ||
		tail -n 5 "$PM_LOG" | tap_diag_file -
else
	tap_ok 1 "restart on the same socket path: sessions served"
	tap_diag_file "$PM_TMP/restart.log"
	tap_ok 1 "restarted daemon: SIGTERM, exit status 0"
fi

# ---- daemon mode (no -f) ------------------------------------------------------

# The journal directory is checked before the fork: the starting
# process says why on stderr and exits 1, no daemon is left behind.
: >"$PM_TMP/notadir"
sed "s|^journal_directory = .*|journal_directory = $PM_TMP/notadir/journal|" \
	"$conf" >"$PM_TMP/badjournal.conf"
"$PM_DAEMON" -c "$PM_TMP/badjournal.conf" -p "unix:$PM_TMP/daemon.sock" \
	-P "$PM_TMP/daemon.pid" </dev/null >"$PM_TMP/daemon.out" 2>"$PM_TMP/daemon.err"
st=$?
[ "$st" -ne 0 ] &&
	grep -qF "fatal: journal directory $PM_TMP/notadir/journal: Not a directory" \
		"$PM_TMP/daemon.err"
if ! tap_ok $? "daemon mode, journal_directory under a file: exit non-zero, stderr names the directory"; then
	tap_diag "exit status $st; stderr:"
	tap_diag_file "$PM_TMP/daemon.err"
fi
dpid=$(cat "$PM_TMP/daemon.pid" 2>/dev/null)
[ -z "$dpid" ] || ! pm_live "$dpid"
tap_ok $? "... and no daemon left running (pid file: \"$dpid\")"
daemon_kill
rm -f "$PM_TMP/daemon.pid"

# A failure after the fork: with RLIMIT_FSIZE 0 the daemon is killed
# (SIGXFSZ) at its first write to a file, its pid in the journal's lock
# file; before the fork nothing is written to a file (stderr is a pipe
# here). The starting process waits for the daemon to be ready, sees it
# end, exits 1 and says so. (A non-regular pid file such as /dev/full is
# refused before the fork: tests/milter/runas.sh.)
{
	(
		ulimit -f 0 &&
			exec "$PM_DAEMON" -c "$conf" -p "unix:$PM_TMP/daemon.sock" \
				-P "$PM_TMP/daemon.pid" </dev/null >"$PM_TMP/daemon.out"
	)
	echo $? >"$PM_TMP/daemon.st"
} 2>&1 | cat >"$PM_TMP/daemon.err"
st=$(cat "$PM_TMP/daemon.st")
[ "$st" -eq 1 ] && grep -qF "ended before it was ready: see syslog" "$PM_TMP/daemon.err"
if ! tap_ok $? "daemon mode, the daemon fails after the fork (killed at its first write): exit 1, stderr says so"; then
	tap_diag "exit status $st; stderr:"
	tap_diag_file "$PM_TMP/daemon.err"
fi
rm -f "$PM_TMP/daemon.pid"

# A good start: exit 0 once the daemon runs, its id in the pid file.
"$PM_DAEMON" -c "$conf" -p "unix:$PM_TMP/daemon.sock" -P "$PM_TMP/daemon.pid" \
	</dev/null >"$PM_TMP/daemon.out" 2>"$PM_TMP/daemon.err"
st=$?
dpid=$(cat "$PM_TMP/daemon.pid" 2>/dev/null)
[ "$st" -eq 0 ] && [ -n "$dpid" ] && ours "$dpid"
if ! tap_ok $? "daemon mode: exit 0, the pid file names the running daemon"; then
	tap_diag "exit status $st; pid file \"$dpid\"; stderr:"
	tap_diag_file "$PM_TMP/daemon.err"
fi
PM_SOCKET=unix:$PM_TMP/daemon.sock
expect_probe "daemon mode: sessions served" "mail=c rcpt=c" h6 25 1
PM_SOCKET=unix:$PM_TMP/pm.sock
if [ -n "$dpid" ] && ours "$dpid"; then
	kill -TERM "$dpid" 2>/dev/null
	i=0
	while pm_live "$dpid" && [ "$i" -lt $((100 * PM_SLOW)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	! pm_live "$dpid" && [ ! -e "$PM_TMP/daemon.pid" ]
	tap_ok $? "daemon mode: SIGTERM stops it and removes the pid file" ||
		tap_diag "still running: $(pm_live "$dpid" && echo yes || echo no); pid file: $(ls "$PM_TMP/daemon.pid" 2>&1)"
	daemon_kill
else
	tap_ok 1 "daemon mode: SIGTERM stops it and removes the pid file"
fi
rm -f "$PM_TMP/daemon.pid"

# ---- -u USER -----------------------------------------------------------------

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	# nobody needs to reach its socket directory and the journal. The
	# socket directory is set up as the package's (owner the milter's
	# user, setgid, group postfix), with a group nobody is not in.
	sgroup=
	for g in mail daemon adm; do
		ggid=$(getent group "$g" | cut -d: -f3)
		if [ -n "$ggid" ] && [ "$ggid" != "$gid" ]; then
			sgroup=$g
			break
		fi
	done
	chmod 711 "$PM_TMP"
	mkdir -p "$PM_TMP/nobody"
	chown nobody "$PM_TMP/nobody"
	# The journal was root's until now: its files become nobody's.
	chown -R nobody "$PM_TMP/journal"
	[ -z "$sgroup" ] || { chgrp "$sgroup" "$PM_TMP/nobody" && chmod 2750 "$PM_TMP/nobody"; }
	PM_SOCKET=unix:$PM_TMP/nobody/pm.sock
	PM_LOG=$PM_TMP/nobody.log
	if pm_start "$conf" "$PM_SOCKET" "$PM_LOG" -u nobody; then
		ids=$(awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 }
			   /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
			   END { print u "/" g }' "/proc/$PM_PID/status")
		[ "$ids" = "$uid $uid $uid $uid/$gid $gid $gid $gid" ]
		tap_ok $? "-u nobody: real, effective, saved and fs uid/gid all nobody's" ||
			tap_diag "/proc status Uid/Gid: $ids"
		if [ -n "$sgroup" ]; then
			sock=$(stat -c '%U:%G %a' "$PM_TMP/nobody/pm.sock" 2>&1)
			[ "$sock" = "nobody:$sgroup 770" ]
			tap_ok $? "-u nobody: the socket is nobody's, mode 0770, group $sgroup of its setgid directory" ||
				tap_diag "socket: $sock"
		else
			tap_skip "-u nobody: socket group (no group mail, daemon or adm)"
		fi
		expect_probe "-u nobody: sessions served" "mail=c rcpt=c" h5 25 1
		pm_stop
		[ "$PM_STATUS" -eq 0 ] && [ ! -e "$PM_TMP/nobody/pm.sock" ]
		tap_ok $? "-u nobody: SIGTERM, exit status 0, socket removed" ||
			tap_diag "status $PM_STATUS; socket $(ls -l "$PM_TMP/nobody" 2>&1)"
	else
		tap_ok 1 "-u nobody: started"
		tap_diag_file "$PM_LOG"
	fi
	# A directory that is not setgid: the socket gets nobody's group.
	mkdir -p "$PM_TMP/plain"
	chown nobody "$PM_TMP/plain"
	PM_LOG=$PM_TMP/plain.log
	if pm_start "$conf" "unix:$PM_TMP/plain/pm.sock" "$PM_LOG" -u nobody; then
		sock=$(stat -c '%U:%G %a' "$PM_TMP/plain/pm.sock" 2>&1)
		[ "$sock" = "nobody:$(id -gn nobody) 770" ]
		tap_ok $? "-u nobody, a directory that is not setgid: the socket is nobody's, mode 0770, group $(id -gn nobody)" ||
			tap_diag "socket: $sock"
		pm_stop
	else
		tap_ok 1 "-u nobody, a directory that is not setgid: started"
		tap_diag_file "$PM_LOG"
	fi
else
	tap_skip "-u nobody: privilege drop (not root)"
fi

# ---- every daemon of this script ------------------------------------------

bad_logs=
for f in "$PM_TMP/portmilter.log" "$PM_TMP/restart.log" "$PM_TMP/nobody.log" \
	"$PM_TMP/plain.log"; do
	[ -f "$f" ] || continue
	pm_log_clean "$f" || bad_logs="$bad_logs $f"
done
[ -z "$bad_logs" ]
if ! tap_ok $? "no panic, fatal error or sanitizer report in the daemons' logs"; then
	for f in $bad_logs; do
		grep -E '(: panic: |: fatal: |AddressSanitizer|LeakSanitizer|runtime error: )' \
			"$f" | head -n 20 | tap_diag_file -
	done
fi
if [ -n "${PM_VALGRIND:-}" ]; then
	pm_valgrind_clean
	tap_ok $? "valgrind found no error (memcheck, definite leaks)"
fi

tap_plan
exit 0
