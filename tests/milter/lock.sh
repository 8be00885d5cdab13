#!/bin/sh
# lock.sh - one daemon per journal directory (issue 9 item 4; POSIX sh,
# TAP): the same configuration started twice, and a second configuration
# with another socket but the same journal: the second daemon exits 1
# naming the directory and the first one's pid, and the first one's
# socket is left alone (same inode, still serving). After SIGKILL of the
# first (a stale lock file, no process) a new one starts.
#
# Environment: top_srcdir, top_builddir (absolute), MILTERTEST (empty =
# skip), PM_KEEP (keep the temporary directory).

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
pm_tmp_setup

conf=$PM_TMP/portmilter.conf
if ! pm_conf_build "$conf"; then
	echo "Bail out! cannot build the configuration"
	exit 99
fi
journal=$PM_TMP/journal
sock=$PM_TMP/a.sock
PM_SOCKET=unix:$sock
PM_LOG=$PM_TMP/a.log
export PM_SOCKET PM_LOG

cat >"$PM_TMP/probe.lua" <<'EOF'
dofile(os.getenv("top_srcdir") .. "/tests/milter/lib.lua")
local r = session({ port = 25, from = "<lock@client.example>",
		    rcpts = { { addr = "<lock@example.test>", mailer = "local" } } })
print(r.rcpt[1] == SMFIR_CONTINUE and "served" or "refused")
EOF
# served: 0 if the daemon on PM_SOCKET serves a session.
served() {
	[ "$("$MILTERTEST" -s "$PM_TMP/probe.lua" 2>>"$PM_TMP/probe.err")" = served ]
}

# second NAME ARGS...: a second portmilter -f, given at most 10 s to
# exit (one that runs is killed): status in ST, output in $PM_TMP/NAME.err.
second() {
	_s_name=$1
	shift
	"$PM_DAEMON" -f "$@" </dev/null >"$PM_TMP/$_s_name.err" 2>&1 &
	_s_pid=$!
	_s_i=0
	while pm_live "$_s_pid" && [ "$_s_i" -lt $((100 * PM_SLOW)) ]; do
		sleep 0.1
		_s_i=$((_s_i + 1))
	done
	if pm_live "$_s_pid"; then
		kill -KILL "$_s_pid" 2>/dev/null
		echo "# (still running after 10 s: killed)" >>"$PM_TMP/$_s_name.err"
	fi
	wait "$_s_pid"
	ST=$?
}

if ! pm_start "$conf" "$PM_SOCKET" "$PM_LOG"; then
	echo "Bail out! portmilter did not start"
	tap_diag_file "$PM_LOG"
	exit 99
fi
first=$PM_PID
ino=$(stat -c %i "$sock")
lock=$(cat "$journal/lock" 2>/dev/null)
mode=$(stat -c %a "$journal/lock" 2>/dev/null)
[ "$lock" = "$first" ] && [ "$mode" = 640 ]
tap_ok $? "the daemon holds $journal/lock (mode 0640), its pid in it" ||
	tap_diag "lock file: \"$lock\", mode $mode; daemon pid $first"

want="fatal: journal directory $journal is in use by another portmilter (pid $first): one daemon per journal"

# The same configuration (same socket) again.
second same -c "$conf" -p "$PM_SOCKET"
[ "$ST" -eq 1 ] && grep -qF "$want" "$PM_TMP/same.err"
if ! tap_ok $? "the same configuration started again: exit 1, names the journal and pid $first"; then
	tap_diag "exit status $ST; output:"
	tap_diag_file "$PM_TMP/same.err"
fi
[ "$(stat -c %i "$sock" 2>/dev/null)" = "$ino" ] && pm_alive && served
tap_ok $? "... the first daemon's socket is the same (inode $ino) and still serves" ||
	tap_diag "inode now $(stat -c %i "$sock" 2>&1); probe: $(tail -n 3 "$PM_TMP/probe.err")"

# Another socket, the same journal.
second other -c "$conf" -p "unix:$PM_TMP/b.sock"
[ "$ST" -eq 1 ] && grep -qF "$want" "$PM_TMP/other.err" && [ ! -e "$PM_TMP/b.sock" ]
if ! tap_ok $? "another socket, the same journal: exit 1, names the journal and pid $first, no socket created"; then
	tap_diag "exit status $ST; output:"
	tap_diag_file "$PM_TMP/other.err"
fi

# Daemon mode: the starting process says it on stderr, exit 1.
"$PM_DAEMON" -c "$conf" -p "unix:$PM_TMP/c.sock" </dev/null \
	>"$PM_TMP/daemon.out" 2>"$PM_TMP/daemon.err"
ST=$?
[ "$ST" -eq 1 ] && grep -qF "$want" "$PM_TMP/daemon.err"
if ! tap_ok $? "daemon mode, the same journal: exit 1 before the fork, stderr says why"; then
	tap_diag "exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/daemon.err"
fi
for p in $(pgrep -f "unix:$PM_TMP/[bc].sock" 2>/dev/null); do
	kill -KILL "$p" 2>/dev/null
done

# SIGKILL: the lock file stays, the lock goes with the process.
kill -KILL "$PM_PID"
wait "$PM_PID" 2>/dev/null
PM_PID=
[ -f "$journal/lock" ]
tap_ok $? "SIGKILL: the lock file is left behind"
PM_LOG=$PM_TMP/restart.log
if pm_start "$conf" "$PM_SOCKET" "$PM_LOG"; then
	[ "$(cat "$journal/lock")" = "$PM_PID" ] && served
	tap_ok $? "a new daemon starts on the stale lock file, takes it and serves" ||
		tap_diag "lock file: $(cat "$journal/lock"); pid $PM_PID"
	pm_stop
	[ "$PM_STATUS" -eq 0 ]
	tap_ok $? "... and stops on SIGTERM with status 0"
else
	tap_ok 1 "a new daemon starts on the stale lock file"
	tap_diag_file "$PM_LOG"
fi

for f in "$PM_TMP/a.log" "$PM_TMP/restart.log"; do
	pm_log_clean "$f"
	tap_ok $? "no panic, fatal error or sanitizer report in $(basename "$f")"
done

tap_plan
exit 0
