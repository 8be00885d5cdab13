# shellcheck shell=sh
# lib.sh - shared shell helpers of the milter-protocol tests (POSIX sh).
#
# Sourced by run-lua.sh and daemon.sh; never run by itself. Needs
# top_srcdir and top_builddir (absolute, as the automake harness sets
# them). Linux only: liveness is read from /proc (a crashed daemon is a
# zombie until reaped, and kill -0 succeeds on zombies).
#
# TAP: tap_ok, tap_skip, tap_diag, tap_diag_file, tap_plan come from
# tests/lib/tap.sh, sourced here (scripts that need nothing else source
# that file alone).
# Temporary directory:
#   pm_tmp_setup            makes PM_TMP (mktemp -d) and installs traps
#                           that stop the daemon and remove PM_TMP on
#                           exit, failure or interrupt (PM_KEEP=1 keeps
#                           the directory for debugging); set
#                           PM_CLEANUP_HOOK to a command to run after
#                           the daemon is stopped and before PM_TMP is
#                           removed (e.g. stopping a database kept there);
#                           "Bail out!" and exit 99 if it cannot
#   pm_require              the milter tests' prerequisites: "1..0 # SKIP"
#                           and exit 0 (tap_skip_all) without miltertest,
#                           "Bail out!" and exit 99 when the daemon is not
#                           built
# Configuration:
#   pm_conf_build OUT [HEAD...]
#                           OUT = the test preamble (journal in PM_TMP),
#                           then each HEAD file, then the shipped file's
#                           [port N] sections (from its first line that
#                           starts with "["); the shipped file has no
#                           active global line, only commented defaults
# The daemon (one at a time: PM_PID):
#   pm_start CONF SOCKET LOG [ARGS...]
#                           starts "portmilter -f" in the background
#                           (under valgrind if PM_VALGRIND is set), waits
#                           (bounded) until it has logged "started" and
#                           the socket exists; 1 if it died or timed out
#   pm_alive                0 while the daemon runs (not a zombie)
#   pm_live PID             0 while process PID runs (not a zombie)
#   pm_stop [TENTHS]        SIGTERM, bounded wait (default 10 s: libmilter's
#                           listener sees the stop only every ~5 s), then
#                           SIGKILL; reaps it: PM_STATUS = exit status
#                           (128+N = signal); 1 if SIGKILL was needed
#   pm_wait_log FILE TEXT [TENTHS]
#                           0 once FILE has a line containing TEXT
#   pm_log_clean FILE       0 if the log has no panic, fatal error or
#                           sanitizer report
#   pm_valgrind_clean       0 unless valgrind (PM_VALGRIND) reported
#                           errors; lists them as "# " lines

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

PM_DAEMON=${PM_DAEMON:-$top_builddir/milter/portmilter}
PM_SHIPPED_CONF=$top_srcdir/etc/portmilter.conf
PM_PID=
PM_STATUS=
PM_TMP=

. "$top_srcdir/tests/lib/tap.sh"

# Under valgrind everything is ~20 times slower.
if [ -n "${PM_VALGRIND:-}" ]; then
	PM_SLOW=20
else
	PM_SLOW=1
fi

# ---- temporary directory and cleanup ------------------------------------

pm_cleanup() {
	if [ -n "$PM_PID" ]; then
		pm_stop || :
	fi
	if [ -n "${PM_CLEANUP_HOOK:-}" ]; then
		eval "$PM_CLEANUP_HOOK" || :
	fi
	if [ -n "$PM_TMP" ] && [ -d "$PM_TMP" ]; then
		if [ -n "${PM_KEEP:-}" ]; then
			echo "# kept $PM_TMP"
		else
			rm -rf "$PM_TMP"
		fi
	fi
}

pm_tmp_setup() {
	if ! PM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/portmilter-test.XXXXXX"); then
		PM_TMP=
		echo "Bail out! mktemp -d failed"
		exit 99
	fi
	trap 'pm_cleanup' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	export PM_TMP
}

# ---- configuration -------------------------------------------------------

pm_conf_build() {
	_conf_out=$1
	shift
	if [ ! -r "$PM_SHIPPED_CONF" ]; then
		echo "# $PM_SHIPPED_CONF is missing" >&2
		return 1
	fi
	mkdir -p "$PM_TMP/journal" || return 1
	{
		echo "# test preamble (tests/milter/lib.sh)"
		echo "journal_directory = $PM_TMP/journal"
		for _conf_head in "$@"; do
			echo "# from $_conf_head"
			cat "$_conf_head" || return 1
		done
		echo "# from $PM_SHIPPED_CONF"
		sed -n '/^\[/,$p' "$PM_SHIPPED_CONF"
	} >"$_conf_out"
}

# ---- the daemon ----------------------------------------------------------

pm_require() {
	if [ -z "${MILTERTEST:-}" ] || [ ! -x "$MILTERTEST" ]; then
		tap_skip_all "miltertest not found"
	fi
	if [ ! -x "$PM_DAEMON" ]; then
		echo "Bail out! $PM_DAEMON is not built"
		exit 99
	fi
}

pm_live() {
	# kill -0 succeeds on a zombie: look at the state of every thread.
	# The main thread may be a zombie while other threads still run
	# (still removing the pid file), and LeakSanitizer's check at exit
	# puts the threads in "t (tracing stop)": lower case counts too.
	for _live_f in /proc/"$1"/task/*/status; do
		_live_state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' \
			"$_live_f" 2>/dev/null)
		case $_live_state in
		'' | Z | X) ;;
		*) return 0 ;;
		esac
	done
	return 1
}

pm_alive() {
	[ -n "$PM_PID" ] && pm_live "$PM_PID"
}

pm_start() {
	_st_conf=$1
	_st_sock=$2
	_st_log=$3
	shift 3
	_st_path=${_st_sock#unix:}
	_st_path=${_st_path#local:}
	PM_STATUS=
	if [ -n "${PM_VALGRIND:-}" ]; then
		valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite \
			--show-leak-kinds=definite --vgdb=no \
			--log-file="$PM_TMP/valgrind.%p.log" \
			"$PM_DAEMON" -f -c "$_st_conf" -p "$_st_sock" "$@" \
			</dev/null >"$_st_log" 2>&1 &
	else
		"$PM_DAEMON" -f -c "$_st_conf" -p "$_st_sock" "$@" \
			</dev/null >"$_st_log" 2>&1 &
	fi
	PM_PID=$!
	# Ready = "started" logged (after the signal set-up: a SIGHUP
	# before it would kill the daemon) and the socket in place.
	_st_i=0
	_st_max=$((50 * PM_SLOW))
	while [ "$_st_i" -lt "$_st_max" ]; do
		if ! pm_alive; then
			pm_stop 1 || :
			return 1
		fi
		if grep -q ': started: ' "$_st_log" 2>/dev/null &&
		   { [ -S "$_st_path" ] || [ "$_st_path" = "$_st_sock" ]; }; then
			return 0
		fi
		sleep 0.1
		_st_i=$((_st_i + 1))
	done
	echo "# portmilter not ready after $((_st_max / 10)) s" >&2
	return 1
}

pm_stop() {
	_sp_max=${1:-100}
	_sp_max=$((_sp_max * PM_SLOW))
	_sp_killed=0
	[ -n "$PM_PID" ] || return 0
	kill -TERM "$PM_PID" 2>/dev/null
	# Gone after two readings in a row (pm_live once read a milter
	# stopped by LeakSanitizer's check as gone, then as running, and a
	# milter that exited 0 was counted as killed); SIGKILL only when
	# the time is up.
	_sp_i=0
	while [ "$_sp_i" -lt "$_sp_max" ]; do
		if ! pm_alive; then
			sleep 0.05
			pm_alive || break
		fi
		sleep 0.1
		_sp_i=$((_sp_i + 1))
	done
	if [ "$_sp_i" -ge "$_sp_max" ] && pm_alive; then
		kill -KILL "$PM_PID" 2>/dev/null
		_sp_killed=1
	fi
	wait "$PM_PID"
	PM_STATUS=$?
	PM_PID=
	[ "$_sp_killed" -eq 0 ]
}

pm_wait_log() {
	_wl_max=${3:-50}
	_wl_max=$((_wl_max * PM_SLOW))
	_wl_i=0
	while [ "$_wl_i" -le "$_wl_max" ]; do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		_wl_i=$((_wl_i + 1))
	done
	return 1
}

pm_log_clean() {
	! grep -qE '(: panic: |: fatal: |ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error: )' "$1"
}

pm_valgrind_clean() {
	[ -n "${PM_VALGRIND:-}" ] || return 0
	_vg_bad=0
	for _vg_f in "$PM_TMP"/valgrind.*.log; do
		[ -s "$_vg_f" ] || continue
		_vg_bad=1
		tap_diag_file "$_vg_f"
	done
	[ "$PM_STATUS" != 99 ] || _vg_bad=1
	[ "$_vg_bad" -eq 0 ]
}
