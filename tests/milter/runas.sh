#!/bin/sh
# runas.sh - root never follows a path the -u user can change (issue 9
# items 1 and 3), as root with the user nobody (POSIX sh, TAP).
#
# The configuration is read as nobody.
# The socket: in a directory nobody may write, nobody creates it and
# root chowns nothing - checked with tests/milter/swapsock.so, an
# LD_PRELOAD library that swaps the new socket for a symlink to a
# root-owned file right after bind(), as nobody winning the race would;
# in a directory nobody cannot write, root creates it and gives it to
# nobody; under a directory nobody owns, root refuses.
# The pid file: never written through a symlink nor into a non-regular
# file; with -u it is nobody's and removed at SIGTERM; a directory
# nobody cannot write is refused with -u.
#
# Environment: top_srcdir, top_builddir (absolute), MILTERTEST (the
# milter tests' prerequisite), PM_KEEP (keep the temporary directory).

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	tap_skip_all "needs root and the user nobody"
fi
SWAPSOCK=${top_builddir:?}/tests/milter/swapsock.so
if [ ! -r "$SWAPSOCK" ]; then
	echo "Bail out! $SWAPSOCK is not built (make check builds it)"
	exit 99
fi
pm_tmp_setup

# The daemon-mode milters of this script are killed by pid on any exit.
PIDS_FILE=$PM_TMP/pids
: >"$PIDS_FILE"
kill_daemons() {
	while read -r _kd_pid; do
		case $_kd_pid in '' | *[!0-9]*) continue ;; esac
		if pm_live "$_kd_pid" &&
		   [ "$(readlink "/proc/$_kd_pid/exe")" = "$(readlink -f "$PM_DAEMON")" ]; then
			kill -KILL "$_kd_pid" 2>/dev/null
		fi
	done <"$PIDS_FILE"
}
# shellcheck disable=SC2034 # run by pm_cleanup (lib.sh)
PM_CLEANUP_HOOK=kill_daemons

conf=$PM_TMP/portmilter.conf
if ! pm_conf_build "$conf"; then
	echo "Bail out! cannot build the configuration"
	exit 99
fi
chmod 711 "$PM_TMP"
chown nobody "$PM_TMP/journal"
mkdir "$PM_TMP/nobody" "$PM_TMP/rootonly"
chown nobody "$PM_TMP/nobody"
chmod 755 "$PM_TMP/rootonly"
mkdir "$PM_TMP/nobody/sub"	# root's, inside a directory nobody owns
chmod 755 "$PM_TMP/nobody/sub"
nobody_group=$(id -gn nobody)

# daemon NAME ARGS...: start in daemon mode; status in ST, stderr in
# $PM_TMP/NAME.err.
daemon() {
	_d_name=$1
	shift
	"$PM_DAEMON" -c "$conf" "$@" </dev/null >"$PM_TMP/$_d_name.out" \
		2>"$PM_TMP/$_d_name.err"
	ST=$?
}

# stop_pid PID: SIGTERM, wait (bounded) until it has gone.
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	_sp_i=0
	while pm_live "$1" && [ "$_sp_i" -lt $((150 * PM_SLOW)) ]; do
		sleep 0.1
		_sp_i=$((_sp_i + 1))
	done
	! pm_live "$1"
}

victim=$PM_TMP/victim
printf 'root secret\n' >"$victim"
chmod 600 "$victim"

# ---- item 1: the socket ------------------------------------------------------

# nobody's directory, nobody "wins the race" at every bind().
pidf=$PM_TMP/nobody/swap.pid
# In the ASan build the preloaded library comes before ASan's runtime in
# the link order, which ASan refuses unless told this is on purpose.
env LD_PRELOAD="$SWAPSOCK" PM_SWAP_VICTIM="$victim" \
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	"$PM_DAEMON" -c "$conf" \
	-p "unix:$PM_TMP/nobody/pm.sock" -u nobody -P "$pidf" </dev/null \
	>"$PM_TMP/swap.out" 2>"$PM_TMP/swap.err"
ST=$?
dpid=$(cat "$pidf" 2>/dev/null)
echo "$dpid" >>"$PIDS_FILE"
v=$(stat -c '%U:%G %a' "$victim")
[ "$v" = "root:root 600" ] && [ "$(cat "$victim")" = "root secret" ]
if ! tap_ok $? "-u nobody, socket swapped for a symlink to a root file right after bind(): the file stays root:root 600"; then
	tap_diag "victim: $v; daemon exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/swap.err"
fi
sock=$(stat -c '%U:%G %a' "$PM_TMP/nobody/pm.sock.moved" 2>&1)
[ "$ST" -eq 0 ] && [ "$sock" = "nobody:$nobody_group 770" ]
tap_ok $? "... the daemon started, its socket created by nobody itself (nobody:$nobody_group 770)" ||
	tap_diag "status $ST; socket: $sock"
[ -z "$dpid" ] || stop_pid "$dpid"
rm -f "$PM_TMP/nobody/pm.sock" "$PM_TMP/nobody/pm.sock.moved"

# A directory nobody cannot write: root creates the socket, gives it away.
PM_LOG=$PM_TMP/rootonly.log
if pm_start "$conf" "unix:$PM_TMP/rootonly/pm.sock" "$PM_LOG" -u nobody; then
	sock=$(stat -c '%U:%G %a' "$PM_TMP/rootonly/pm.sock" 2>&1)
	[ "$sock" = "nobody:$nobody_group 770" ]
	tap_ok $? "-u nobody, a directory only root may write: the socket is nobody:$nobody_group 770" ||
		tap_diag "socket: $sock"
	pm_stop
else
	tap_ok 1 "-u nobody, a directory only root may write: started"
	tap_diag_file "$PM_LOG"
fi

# Root's directory inside one nobody owns: nobody could rename it away
# and put a symlink in its place while root works there.
daemon sub -p "unix:$PM_TMP/nobody/sub/pm.sock" -u nobody
dpid=$(pgrep -f "unix:$PM_TMP/nobody/sub/pm.sock" 2>/dev/null | head -n 1)
echo "$dpid" >>"$PIDS_FILE"
[ "$ST" -eq 1 ] && [ ! -e "$PM_TMP/nobody/sub/pm.sock" ] &&
	grep -qF "fatal: -u nobody: nobody cannot create the socket $PM_TMP/nobody/sub/pm.sock, and root will not either: the way to $PM_TMP/nobody/sub goes through a directory nobody can change" "$PM_TMP/sub.err"
if ! tap_ok $? "-u nobody, socket directory under one nobody owns: refused, exit 1, the message says why"; then
	tap_diag "exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/sub.err"
fi
[ -z "$dpid" ] || stop_pid "$dpid"

# The configuration is read as nobody (as every reload is): one only
# root may read is refused at start, not at the first SIGHUP.
cp "$conf" "$PM_TMP/secret.conf"
chmod 600 "$PM_TMP/secret.conf"
"$PM_DAEMON" -c "$PM_TMP/secret.conf" -p "unix:$PM_TMP/nobody/secret.sock" \
	-u nobody </dev/null >"$PM_TMP/secret.out" 2>"$PM_TMP/secret.err"
ST=$?
pgrep -f "unix:$PM_TMP/nobody/secret.sock" >>"$PIDS_FILE" 2>/dev/null
[ "$ST" -eq 1 ] && grep -F "$PM_TMP/secret.conf" "$PM_TMP/secret.err" |
	grep -qF "Permission denied"
if ! tap_ok $? "-u nobody, a configuration only root may read: refused at start, exit 1"; then
	tap_diag "exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/secret.err"
fi
kill_daemons

# ---- item 3: the pid file ----------------------------------------------------

sockarg=unix:$PM_TMP/nobody/pm.sock
victim2=$PM_TMP/victim2
printf 'root data\n' >"$victim2"
chmod 644 "$victim2"

# A symlink planted by nobody in its own directory.
ln -s "$victim2" "$PM_TMP/nobody/link.pid"
daemon link -p "$sockarg" -u nobody -P "$PM_TMP/nobody/link.pid"
sleep 0.5
[ "$ST" -eq 1 ] && [ "$(cat "$victim2")" = "root data" ] &&
	grep -qF "fatal: open $PM_TMP/nobody/link.pid: Too many levels of symbolic links" "$PM_TMP/link.err"
if ! tap_ok $? "-u nobody -P a symlink to a root file: refused, exit 1, the file untouched"; then
	tap_diag "exit status $ST; victim2: $(cat "$victim2"); stderr:"
	tap_diag_file "$PM_TMP/link.err"
fi
pgrep -f "$PM_TMP/nobody/link.pid" >>"$PIDS_FILE" 2>/dev/null
kill_daemons

# The same as root (no -u), in root's own directory.
ln -s "$victim2" "$PM_TMP/root-link.pid"
daemon rootlink -p "$sockarg" -P "$PM_TMP/root-link.pid"
sleep 0.5
[ "$ST" -eq 1 ] && [ "$(cat "$victim2")" = "root data" ]
if ! tap_ok $? "no -u, -P a symlink: refused, exit 1, the file untouched"; then
	tap_diag "exit status $ST; victim2: $(cat "$victim2"); stderr:"
	tap_diag_file "$PM_TMP/rootlink.err"
fi
pgrep -f "$PM_TMP/root-link.pid" >>"$PIDS_FILE" 2>/dev/null
kill_daemons

# Not a regular file: refused before the fork.
daemon devnull -p "$sockarg" -P /dev/null
[ "$ST" -eq 1 ] && grep -qF "fatal: /dev/null: not a regular file" "$PM_TMP/devnull.err"
if ! tap_ok $? "-P /dev/null: not a regular file, refused before the fork, exit 1"; then
	tap_diag "exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/devnull.err"
fi
pgrep -f "P /dev/null" >>"$PIDS_FILE" 2>/dev/null
kill_daemons

# -u with a directory nobody cannot write: the pid file could not be
# removed by the daemon, so it is refused.
daemon rootpid -p "$sockarg" -u nobody -P "$PM_TMP/rootonly/pm.pid"
[ "$ST" -eq 1 ] && [ ! -e "$PM_TMP/rootonly/pm.pid" ] &&
	grep -qF "fatal: -P $PM_TMP/rootonly/pm.pid: nobody cannot create files in $PM_TMP/rootonly" "$PM_TMP/rootpid.err"
if ! tap_ok $? "-u nobody -P in a directory nobody cannot write: refused, exit 1, says why"; then
	tap_diag "exit status $ST; stderr:"
	tap_diag_file "$PM_TMP/rootpid.err"
fi
pgrep -f "$PM_TMP/rootonly/pm.pid" >>"$PIDS_FILE" 2>/dev/null
kill_daemons

# The good case: nobody's pid file, gone after SIGTERM.
pidf=$PM_TMP/nobody/pm.pid
daemon good -p "$sockarg" -u nobody -P "$pidf"
dpid=$(cat "$pidf" 2>/dev/null)
echo "$dpid" >>"$PIDS_FILE"
owner=$(stat -c '%U %a' "$pidf" 2>&1)
[ "$ST" -eq 0 ] && [ -n "$dpid" ] && pm_live "$dpid" && [ "$owner" = "nobody 640" ]
if ! tap_ok $? "-u nobody -P in nobody's directory: started, the pid file is nobody's (0640) and names the daemon"; then
	tap_diag "exit status $ST; pid file: \"$dpid\", $owner; stderr:"
	tap_diag_file "$PM_TMP/good.err"
fi
if [ -n "$dpid" ] && stop_pid "$dpid"; then
	[ ! -e "$pidf" ]
	tap_ok $? "... SIGTERM: the daemon (as nobody) removed its pid file" ||
		tap_diag "left: $(ls -l "$pidf" 2>&1)"
else
	tap_ok 1 "... SIGTERM: the daemon stopped"
fi

pm_log_clean "$PM_TMP/rootonly.log"
tap_ok $? "no panic, fatal error or sanitizer report in rootonly.log"

tap_plan
exit 0
