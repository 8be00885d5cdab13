#!/bin/sh
# run-lua.sh - automake LOG_COMPILER for the miltertest *.lua tests
# (POSIX sh).
#
# usage: sh tests/milter/run-lua.sh path/to/script.lua
# environment: top_srcdir, top_builddir (absolute), MILTERTEST (path to
# miltertest; empty = skip), PM_VALGRIND (set: daemon under valgrind),
# PM_KEEP (set: keep the temporary directory).
#
# Starts a private portmilter on a unix socket in a temporary directory
# with the shipped etc/portmilter.conf (its [port N] sections, after a
# preamble that puts the journal in the temporary directory, and after
# SCRIPT.conf-head when the script has one, e.g. badinput.conf-head for
# badinput.lua), runs the script under miltertest, then checks and stops
# the daemon. A script with a SCRIPT.conf gets that whole file instead of
# the shipped sections (budgets.lua: ports the shipped file does not
# have); its pid is in PM_DAEMON_PID (for SIGHUP).
#
# TAP: the Lua script prints its cases without a plan and keeps the
# number printed so far in $PM_TMP/count (lib.lua). This runner then adds
# its own cases - the script ran to its end, the daemon is still running,
# it stops cleanly on SIGTERM, no panic or sanitizer report, no valgrind
# error - and prints the plan last. Exit status: miltertest's (tap-driver
# also fails the test on any "not ok").

set -u

script=${1:?usage: run-lua.sh SCRIPT.lua}
# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
pm_tmp_setup

conf=$PM_TMP/portmilter.conf
head=${script%.lua}.conf-head
own=${script%.lua}.conf
if [ -f "$own" ]; then
	# SCRIPT.conf: a whole configuration of its own (after the test
	# preamble); @srcdir@ becomes the directory of the script.
	mkdir -p "$PM_TMP/journal" && {
		echo "journal_directory = $PM_TMP/journal"
		sed "s|@srcdir@|$(cd "$(dirname "$script")" && pwd)|g" "$own"
	} >"$conf"
elif [ -f "$head" ]; then
	pm_conf_build "$conf" "$head"
else
	pm_conf_build "$conf"
fi || {
	echo "Bail out! cannot build the test configuration"
	exit 99
}

PM_SOCKET=unix:$PM_TMP/pm.sock
PM_LOG=$PM_TMP/portmilter.log
export PM_SOCKET PM_LOG

if ! pm_start "$conf" "$PM_SOCKET" "$PM_LOG"; then
	echo "Bail out! portmilter did not start"
	tap_diag_file "$PM_LOG"
	exit 99
fi

# The daemon's pid, for scripts that send it SIGHUP.
PM_DAEMON_PID=$PM_PID
export PM_DAEMON_PID
"$MILTERTEST" -s "$script"
mt_status=$?

# Continue the numbering where the script stopped.
tap_n=$(cat "$PM_TMP/count" 2>/dev/null)
case $tap_n in
'' | *[!0-9]*) tap_n=0 ;;
esac

tap_ok "$mt_status" "miltertest ran $(basename "$script") to its end" \
	"(exit status $mt_status)"

if pm_alive; then
	tap_ok 0 "portmilter survived the script"
else
	tap_ok 1 "portmilter survived the script: it is gone"
	tap_diag "last lines of its log:"
	tail -n 20 "$PM_LOG" | tap_diag_file -
fi

if pm_stop; then
	stop_killed=0
else
	stop_killed=1
fi
[ "$stop_killed" -eq 0 ] && [ "$PM_STATUS" -eq 0 ]
tap_ok $? "portmilter stopped on SIGTERM with status 0" \
	"(status $PM_STATUS$( [ "$stop_killed" -eq 0 ] || echo ', needed SIGKILL'))"

pm_log_clean "$PM_LOG"
if ! tap_ok $? "no panic, fatal error or sanitizer report in the log"; then
	grep -E '(: panic: |: fatal: |AddressSanitizer|LeakSanitizer|runtime error: )' \
		"$PM_LOG" | head -n 20 | tap_diag_file -
fi

if [ -n "${PM_VALGRIND:-}" ]; then
	pm_valgrind_clean
	tap_ok $? "valgrind found no error (memcheck, definite leaks)"
fi

tap_plan
exit "$mt_status"
