# shellcheck shell=sh
# lib.sh - shared set-up of the tests/recorder/*.sh tests (sourced, POSIX sh).
#
# Every recorder test runs the real daemon against a throwaway PostgreSQL
# kept in its temporary directory, plays sessions with miltertest through
# tests/milter/lib.lua, and checks portmilter.events in SQL. This file only
# glues tests/milter/lib.sh (TAP: tap_ok, tap_diag, tap_plan; PM_TMP and its
# traps; pm_start, pm_stop, pm_alive, pm_wait_log, pm_log_clean) and
# tests/lib/pg.sh (pg_start, pg_restart, pg_stop) together.
#
# Needs top_srcdir and top_builddir (absolute, as the automake harness sets
# them); MILTERTEST (else miltertest from PATH); PORTMILTER_REPORT (else the
# built report/portmilter-report).
#
#   rec_init               "1..0 # SKIP" and exit 0 (tap_skip_all) without
#                          miltertest or PostgreSQL; else PM_TMP with
#                          traps that stop the daemon, then the cluster,
#                          on any exit; a cluster
#                          in $PM_TMP/pg; the schema by `portmilter-report
#                          migrate`; login roles pm_milter (granted
#                          portmilter_writer: INSERT only) and pm_abuse
#                          (portmilter_reader). Sets REC_CONNINFO (the
#                          milter's, as pm_milter) and REC_READER (as
#                          pm_abuse). "Bail out!" and exit 99 on failure.
#   rec_conf OUT [LINE...] a configuration: database = REC_CONNINFO,
#                          node_name = REC_NODE, local_domains =
#                          example.test, each LINE, then the shipped [port N]
#                          sections (pm_conf_build: journal in
#                          $PM_TMP/journal = REC_JOURNAL); "Bail out!" and
#                          exit 99 if it cannot be written
#   rec_start CONF         pm_start on $PM_TMP/pm.sock with a new log
#                          $PM_TMP/portmilter.K.log (K = 1, 2, ... per
#                          start); PM_SOCKET and PM_LOG exported for lib.lua;
#                          on failure: "Bail out!", the log, exit 99
#   rec_stop               one TAP case: the daemon stops on SIGTERM (pm_stop,
#                          waiting up to 20 s: a sanitizer build on a busy
#                          machine is slow to exit) with status 0; says how
#                          long it took
#   rec_kill9              SIGKILL the daemon, reap it (PM_STATUS)
#   rec_finish             the end of every recorder test: TAP cases "still
#                          running", rec_stop, "no panic, fatal error or
#                          sanitizer report in the log"; then the plan
#   rec_lua NAME           the Lua code on stdin, after
#                          dofile(".../tests/milter/lib.lua"), saved as
#                          $PM_TMP/NAME.lua and run by miltertest; its TAP
#                          cases continue tap_n; returns miltertest's status
#   rec_submit TAG USER ADDR  one accepted message on 587 (TLSv1.3, AUTH
#                          PLAIN as USER, from ADDR), sender
#                          <TAG@example.test>: one TAP case, its EOM reply
#   rec_sql SQL            psql -c SQL as postgres: unaligned, tuples only,
#                          fields joined by '|', NULL shown as \N, UTC
#   rec_is NAME WANT SQL   one TAP case: rec_sql SQL prints exactly WANT
#   rec_wait WANT SQL SECS polls rec_sql SQL (every 0.2 s, for at most
#                          SECS seconds of wall time) until it prints WANT;
#                          REC_GOT = last output, REC_WAITED = tenths of a
#                          second waited
#   rec_pg_down, rec_pg_up stop / start again the cluster (same port)
#   rec_seg_bytes          total size of the journal's segment files
#   rec_drained            0 once the segments are empty (shipped and
#                          deleted), polled every 0.1 s for at most 5 s
#   rec_records            number of journal records (magic "PMJ1") in them
#   rec_hex                stdin as lower-case hex digits, one line

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"
# shellcheck source=tests/lib/pg.sh
. "$top_srcdir/tests/lib/pg.sh"

REC_REPORT=${PORTMILTER_REPORT:-$top_builddir/report/portmilter-report}
REC_NODE=rec-node-1
REC_MT=${MILTERTEST:-}
[ -n "$REC_MT" ] || REC_MT=$(command -v miltertest 2>/dev/null)
REC_STARTS=0
REC_CONNINFO=
REC_READER=
REC_JOURNAL=
REC_GOT=
REC_WAITED=0

rec_init() {
	if [ -z "$REC_MT" ] || [ ! -x "$REC_MT" ]; then
		tap_skip_all "miltertest not found"
	fi
	if ! pg_bindir >/dev/null; then
		tap_skip_all "PostgreSQL server binaries not found (set PG_BINDIR)"
	fi
	command -v psql >/dev/null 2>&1 || PATH=$(pg_bindir):$PATH
	for _ri_bin in "$PM_DAEMON" "$REC_REPORT"; do
		if [ ! -x "$_ri_bin" ]; then
			echo "Bail out! $_ri_bin is not built"
			exit 99
		fi
	done
	pm_tmp_setup
	# shellcheck disable=SC2016,SC2034 # run by pm_cleanup (tests/milter/lib.sh)
	PM_CLEANUP_HOOK='pg_stop "$PM_TMP/pg"'
	# PostgreSQL runs as postgres and must reach $PM_TMP/pg.
	chmod 755 "$PM_TMP"
	REC_JOURNAL=$PM_TMP/journal
	if ! pg_start "$PM_TMP/pg" 2>"$PM_TMP/pg_start.err"; then
		tap_diag_file "$PM_TMP/pg_start.err"
		echo "Bail out! cannot start PostgreSQL"
		exit 99
	fi
	PGTZ=UTC
	export PGTZ
	if ! "$REC_REPORT" -d "dbname=portmilter" migrate \
		--sql-dir "$top_srcdir/sql" >"$PM_TMP/migrate.out" 2>&1 ||
	   ! rec_sql "CREATE ROLE pm_milter LOGIN IN ROLE portmilter_writer;
		CREATE ROLE pm_abuse LOGIN IN ROLE portmilter_reader" \
		>>"$PM_TMP/migrate.out" 2>&1; then
		tap_diag_file "$PM_TMP/migrate.out"
		echo "Bail out! cannot install the schema and roles"
		exit 99
	fi
	REC_CONNINFO="host=$PGHOST port=$PGPORT dbname=portmilter user=pm_milter"
	# shellcheck disable=SC2034 # used by the tests
	REC_READER="host=$PGHOST port=$PGPORT dbname=portmilter user=pm_abuse"
}

rec_conf() {
	_rc_out=$1
	shift
	{
		echo "database = $REC_CONNINFO"
		echo "node_name = $REC_NODE"
		echo "local_domains = example.test"
		for _rc_line in "$@"; do
			echo "$_rc_line"
		done
	} >"$_rc_out.head" && pm_conf_build "$_rc_out" "$_rc_out.head" || {
		echo "Bail out! cannot build the configuration $_rc_out"
		exit 99
	}
}

rec_start() {
	REC_STARTS=$((REC_STARTS + 1))
	PM_SOCKET=unix:$PM_TMP/pm.sock
	PM_LOG=$PM_TMP/portmilter.$REC_STARTS.log
	export PM_SOCKET PM_LOG
	if ! pm_start "$1" "$PM_SOCKET" "$PM_LOG"; then
		echo "Bail out! portmilter did not start"
		tap_diag_file "$PM_LOG"
		exit 99
	fi
}

rec_stop() {
	_rs_t0=$(date +%s%N)
	pm_stop 200
	_rs_killed=$?
	_rs_ms=$((($(date +%s%N) - _rs_t0) / 1000000))
	[ "$_rs_killed" -eq 0 ] && [ "$PM_STATUS" -eq 0 ]
	tap_ok $? "portmilter stopped on SIGTERM with status 0 (status $PM_STATUS," \
		"$_rs_ms ms$([ "$_rs_killed" -eq 0 ] || echo ', needed SIGKILL'))"
}

rec_finish() {
	pm_alive
	tap_ok $? "portmilter still running"
	rec_stop
	pm_log_clean "$PM_LOG"
	tap_ok $? "no panic, fatal error or sanitizer report in the log"
	tap_plan
}

rec_kill9() {
	[ -n "$PM_PID" ] || return 0
	kill -KILL "$PM_PID" 2>/dev/null
	{ wait "$PM_PID"; } 2>/dev/null
	PM_STATUS=$?
	PM_PID=
}

rec_lua() {
	{
		echo "dofile(os.getenv(\"top_srcdir\") .. \"/tests/milter/lib.lua\")"
		cat
	} >"$PM_TMP/$1.lua" || return 1
	echo "$tap_n" >"$PM_TMP/count"
	PM_TAP_N=$tap_n "$REC_MT" -s "$PM_TMP/$1.lua"
	_rl_status=$?
	tap_n=$(cat "$PM_TMP/count" 2>/dev/null)
	case $tap_n in
	'' | *[!0-9]*) tap_n=0 ;;
	esac
	return "$_rl_status"
}

rec_submit() {
	REC_TAG=$1 REC_USER=$2 REC_ADDR=$3 rec_lua "$1" <<'LUA'
local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
	user = os.getenv("REC_USER"), client_ip = os.getenv("REC_ADDR"),
	helo = "submit.example",
	from = "<" .. os.getenv("REC_TAG") .. "@example.test>",
	rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
	headers = { { "Subject", "submit" } }, body = "x\r\n", eom = true })
expect(r.eom, SMFIR_CONTINUE, "EOM")
LUA
}

rec_sql() {
	psql -X -q -A -t -F '|' -P null='\N' -v ON_ERROR_STOP=1 -d portmilter -c "$1"
}

rec_is() {
	_ri_name=$1 _ri_want=$2
	_ri_got=$(rec_sql "$3" 2>&1)
	[ "$_ri_got" = "$_ri_want" ]
	if ! tap_ok $? "$_ri_name"; then
		tap_diag "got:    $_ri_got"
		tap_diag "wanted: $_ri_want"
		return 1
	fi
}

rec_wait() {
	_rw_want=$1 _rw_sql=$2 _rw_max=$(($3 * 10))
	_rw_t0=$(date +%s%N)
	while :; do
		REC_GOT=$(rec_sql "$_rw_sql" 2>&1)
		REC_WAITED=$((($(date +%s%N) - _rw_t0) / 100000000))
		[ "$REC_GOT" = "$_rw_want" ] && return 0
		[ "$REC_WAITED" -ge "$_rw_max" ] && return 1
		sleep 0.2
	done
}

rec_pg_down() {
	pg_stop "$PM_TMP/pg"
}

rec_pg_up() {
	pg_restart "$PM_TMP/pg" 2>"$PM_TMP/pg_restart.err" && return 0
	tap_diag_file "$PM_TMP/pg_restart.err"
	return 1
}

rec_seg_bytes() {
	_rs_total=0
	for _rs_f in "$REC_JOURNAL"/*.seg; do
		[ -f "$_rs_f" ] || continue
		_rs_total=$((_rs_total + $(wc -c <"$_rs_f")))
	done
	echo "$_rs_total"
}

rec_drained() {
	_rd_i=0
	while [ "$(rec_seg_bytes)" -ne 0 ] && [ "$_rd_i" -lt 50 ]; do
		sleep 0.1
		_rd_i=$((_rd_i + 1))
	done
	[ "$(rec_seg_bytes)" -eq 0 ]
}

rec_records() {
	cat "$REC_JOURNAL"/*.seg 2>/dev/null | LC_ALL=C grep -a -o PMJ1 | wc -l |
		tr -d ' '
}

rec_hex() {
	od -An -v -tx1 | tr -d ' \n'
	echo
}
