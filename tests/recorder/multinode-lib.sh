# shellcheck shell=sh
# multinode-lib.sh - several milter nodes shipping into one database, for
# tests/recorder/multinode.sh and bench/multinode-bench.sh (sourced after
# tests/recorder/lib.sh and rec_init, POSIX sh).
#
# Node K (1, 2, ...) has node_name nodeK, its own journal $PM_TMP/jK, socket
# $PM_TMP/nK.sock and log $PM_TMP/nK.S.log (S = 1, 2, ... per start). Its
# load comes from bench/milter_load (MN_LOAD), which sends transactions
# with senders <nodeK-SEQ@load.test> and writes $PM_TMP/loadK.out ("a SEQ"
# answered, "u SEQ" broken by a kill, "x SEQ" wrong reply).
#
#   mn_start K        configure (first time) and start node K; false if it
#                     did not start
#   mn_kill9 K        SIGKILL node K and reap it
#   mn_stop K         SIGTERM node K; false if it needed SIGKILL or did not
#                     exit 0
#   mn_load K S T C [R]
#                     milter_load in the background on node K: S sessions
#                     of T transactions over C connections (at most R a
#                     second if R is given); its pid in
#                     MN_LOADER_K, its summary line in $PM_TMP/loadK.txt
#   mn_rows [K]       rows stored for node K (all nodes without K)
#   mn_answered K     "a" lines of node K's load so far
#   mn_wait_answered K N SECS
#                     wait until node K's load has N answered (false after
#                     SECS seconds)
#   mn_check K        one line "answered broken wrong rows distinct
#                     in_answered outside": rows of node K, of distinct
#                     senders, of the answered sequence numbers, and rows
#                     whose sequence number was neither answered nor
#                     broken (must be 0)
#   mn_pg_cpu         PostgreSQL's CPU so far, ms (bench/lib.sh pg_cpu_ms)

MN_LOAD=${MN_LOAD:-$top_builddir/bench/milter_load}

mn_start() {
	_mn_k=$1
	if [ ! -f "$PM_TMP/n$_mn_k.conf" ]; then
		mkdir -p "$PM_TMP/j$_mn_k" || return 1
		{
			echo "database = $REC_CONNINFO"
			echo "node_name = node$_mn_k"
			echo "local_domains = example.test"
		} >"$PM_TMP/n$_mn_k.head" &&
		pm_conf_build "$PM_TMP/n$_mn_k.conf.in" "$PM_TMP/n$_mn_k.head" &&
		sed "s|^journal_directory = .*|journal_directory = $PM_TMP/j$_mn_k|" \
			"$PM_TMP/n$_mn_k.conf.in" >"$PM_TMP/n$_mn_k.conf" || return 1
	fi
	_mn_s=1
	eval "_mn_s=\$((\${MN_STARTS_$_mn_k:-0} + 1)); MN_STARTS_$_mn_k=\$_mn_s"
	pm_start "$PM_TMP/n$_mn_k.conf" "unix:$PM_TMP/n$_mn_k.sock" \
		"$PM_TMP/n$_mn_k.$_mn_s.log" || return 1
	eval "MN_PID_$_mn_k=\$PM_PID"
}

mn_kill9() {
	eval "PM_PID=\${MN_PID_$1:-}"
	rec_kill9
	eval "MN_PID_$1="
}

mn_stop() {
	eval "PM_PID=\${MN_PID_$1:-}"
	pm_stop 200
	_mn_r=$?
	eval "MN_PID_$1="
	[ "$_mn_r" -eq 0 ] && [ "$PM_STATUS" -eq 0 ]
}

mn_load() {
	"$MN_LOAD" -c "$4" -s "$2" -t "$3" ${5:+-r "$5"} -w 60 "unix:$PM_TMP/n$1.sock" \
		"node$1" "$PM_TMP/load$1.out" >"$PM_TMP/load$1.txt" \
		2>"$PM_TMP/load$1.err" &
	eval "MN_LOADER_$1=\$!"
}

mn_rows() {
	if [ $# -eq 0 ]; then
		rec_sql "SELECT count(*) FROM portmilter.events"
	else
		rec_sql "SELECT count(*) FROM portmilter.events WHERE node = 'node$1'"
	fi
}

mn_answered() {	# 0 before the load has written its file
	_mn_n=$(grep -c '^a ' "$PM_TMP/load$1.out" 2>/dev/null)
	echo "${_mn_n:-0}"
}

# mn_wait_answered K N SECS: until node K's load has N answered
mn_wait_answered() {
	_mn_i=0
	while [ "$(mn_answered "$1")" -lt "$2" ]; do
		[ "$_mn_i" -lt $(($3 * 20)) ] || return 1
		sleep 0.05
		_mn_i=$((_mn_i + 1))
	done
}

mn_check() {
	_mn_k=$1
	awk '$1 == "a" { print $2 }' "$PM_TMP/load$_mn_k.out" >"$PM_TMP/a$_mn_k"
	awk '$1 == "u" { print $2 }' "$PM_TMP/load$_mn_k.out" >"$PM_TMP/u$_mn_k"
	_mn_seq="substring(e.sender from '^<node$_mn_k-([0-9]+)@load[.]test>\$')::bigint"
	printf '%s %s %s %s\n' "$(wc -l <"$PM_TMP/a$_mn_k")" \
		"$(wc -l <"$PM_TMP/u$_mn_k")" \
		"$(grep -c '^x ' "$PM_TMP/load$_mn_k.out")" \
		"$(psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d portmilter <<EOF
CREATE TEMP TABLE a (seq bigint PRIMARY KEY);
CREATE TEMP TABLE u (seq bigint PRIMARY KEY);
\\copy a FROM '$PM_TMP/a$_mn_k'
\\copy u FROM '$PM_TMP/u$_mn_k'
SELECT count(*), count(DISTINCT e.sender),
	count(*) FILTER (WHERE $_mn_seq IN (SELECT seq FROM a)),
	count(*) FILTER (WHERE $_mn_seq IS NULL OR ($_mn_seq NOT IN (SELECT seq FROM a)
		AND $_mn_seq NOT IN (SELECT seq FROM u)))
FROM portmilter.events e WHERE e.node = 'node$_mn_k';
EOF
)"
}

mn_pg_cpu() {
	# shellcheck source=bench/lib.sh
	. "${top_srcdir:?}/bench/lib.sh"
	pg_cpu_ms "$PM_TMP/pg"
}
