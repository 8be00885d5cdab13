#!/bin/sh
# postfix-bench.sh - Postfix throughput and CPU per message with portmilter
# against the same Postfix with no policy, with do-nothing milters and
# with postfwd, in the same run (on demand, not in make check).
#
#   sh bench/postfix-bench.sh [MESSAGES] [SESSIONS] [ROUNDS] [reuse] (as root)
#   defaults: 4000 messages of 1 KB, 20 parallel sessions, 3 rounds, one
#   message per connection (as mail clients send); "reuse": each session
#   sends its messages over one connection (smtp-source -d, as MTAs often
#   do), which spreads the per-connection cost of a policy over many
#   messages
#
# The stack of tests/e2e/lib.sh (PostgreSQL up, the milter recording
# every transaction, reading Postfix's log for the exact message size
# unless BENCH_LOGREAD=no). smtp-source sends MESSAGES messages of
# BENCH_SIZE bytes (default 1000), one per connection, to a local
# recipient on port 25 (delivered to discard:). Each round runs these
# settings in turn, one warm stack:
#   none        no milter, no policy service (the baseline);
#   lean        bench/null_milter -l: connect, HELO, MAIL, RCPT and end
#               of message, no headers, no end of headers, no body; the
#               same macros as portmilter; answers CONTINUE, nothing else.
#               The floor of any milter that does not read the message;
#   null        bench/null_milter: the same with headers and body (no
#               reply), the protocol portmilter negotiates when a port
#               has a limit_bytes budget;
#   postfwd     no milter; Debian's postfwd (postfwd2) as a policy
#               service at RCPT (check_policy_service) with one rule;
#   portmilter  the milter under test, recording into the co-located
#               PostgreSQL.
# Figures per round and setting:
#   msg/s       wall-clock throughput, smtp-source start to end;
#   CPU/msg     CPU time (user + system) used by the whole server side,
#               Postfix, PostgreSQL, the milter or postfwd, per message,
#               read from a cpuacct cgroup the stack runs in (smtp-source
#               runs outside it), from before the round until the queue
#               is empty again and the events shipped, so that delivery
#               and shipping are counted too;
#   policy      the milter's own share (/proc/PID/stat), or postfwd's
#               (its processes, in a cgroup of their own);
#   pg          PostgreSQL's share (its processes in a cgroup of their
#               own: the shipper's inserts, and the bench's own polling).
# On a small machine the two cores are shared by smtp-source, Postfix,
# PostgreSQL and the milter, and by anything else running: wall-clock
# throughput varies from round to round; CPU per message barely does.
# The summary prints the medians, the ratios portmilter / lean and
# portmilter / postfwd, and portmilter's CPU per message against the lean
# milter's plus PostgreSQL's share (the goal of issue 17).
# BENCH_BUDGETS=1: portmilter with budgets on port 25 (README.md,
# "Sending budgets"): limit_messages = 1000000/1h, 10000000/1d,
# limit_recipients = 1000000/1h, limit_bytes = 100G/1d, counted per
# client address (never spent: every message is checked and counted;
# limit_bytes makes portmilter negotiate the headers and the body).
# BENCH_SETTINGS="none lean portmilter": run only these settings.
# BENCH_PERF=FILE: perf record -g of the milter during the portmilter
# rounds (outside the cgroup), into FILE (then: perf report -i FILE).
set -eu
M=${1:-4000}
C=${2:-20}
R=${3:-3}
REUSE=
case ${4:-} in
reuse) REUSE=-d ;;
'') ;;
*) echo "usage: postfix-bench.sh [MESSAGES] [SESSIONS] [ROUNDS] [reuse]" >&2; exit 2 ;;
esac
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
if [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j"$(nproc)" all bench/null_milter >/dev/null
SIZE=${BENCH_SIZE:-1000}
SETTINGS=${BENCH_SETTINGS:-none lean null postfwd portmilter}
command -v postfwd >/dev/null 2>&1 ||
	{ echo "note: postfwd not installed: no postfwd setting"; SETTINGS=$(echo "$SETTINGS" | sed 's/postfwd//'); }

# CPU accounting: a cgroup (v1 cpuacct, else v2) holding this shell and
# so everything it starts. None available: throughput only.
CG='' CG_ROOT='' CG_KIND=''
for d in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/unified /sys/fs/cgroup; do
	if [ -f "$d/cgroup.procs" ] && mkdir "$d/pm-bench.$$" 2>/dev/null; then
		if echo $$ >"$d/pm-bench.$$/cgroup.procs" 2>/dev/null; then
			CG=$d/pm-bench.$$ CG_ROOT=$d
			if [ -f "$CG/cpuacct.usage" ]; then CG_KIND=v1; else CG_KIND=v2; fi
			break
		fi
		rmdir "$d/pm-bench.$$" 2>/dev/null || :
	fi
done
[ -n "$CG" ] || echo "note: no writable cgroup: CPU per message not measured"
cg_usec() {	# [DIR]: CPU time of the cgroup (default: the stack's), us
	_cu=${1:-$CG}
	case $CG_KIND in
	v1) echo $(($(cat "$_cu/cpuacct.usage") / 1000)) ;;
	v2) sed -n 's/^usage_usec //p' "$_cu/cpu.stat" ;;
	*) echo 0 ;;
	esac
}
cg_sub() {	# NAME PID...: a child cgroup of the stack's holding PIDs (and
		# so what they start afterwards); prints its path
	_cs=$CG/$1
	shift
	[ -n "$CG" ] || return 0
	mkdir -p "$_cs" || return 0
	for _cp in "$@"; do
		echo "$_cp" >"$_cs/cgroup.procs" 2>/dev/null || :
	done
	echo "$_cs"
}
tree_pids() {	# PID: PID and its descendants
	ps -e -o pid= -o ppid= | awk -v root="$1" '{ parent[$1] = $2 }
	END { keep[root] = 1; n = 1
		while (n) { n = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; n++ } }
		for (p in keep) print p }'
}
cg_done() {	# last, once the stack is stopped: leave and remove the cgroup
	[ -n "$CG" ] || return 0
	echo $$ >"$CG_ROOT/cgroup.procs" 2>/dev/null || :
	# stopped processes may take a moment to leave; a process that
	# survived a failed stop keeps it: try, don't insist
	_cg_i=0
	for _cg_d in "$CG"/*/; do
		[ -d "$_cg_d" ] || continue
		while read -r _cg_p; do
			echo "$_cg_p" >"$CG/cgroup.procs" 2>/dev/null || :
		done <"$_cg_d/cgroup.procs"
		rmdir "$_cg_d" 2>/dev/null || :
	done
	until rmdir "$CG" 2>/dev/null || [ $_cg_i -ge 50 ]; do
		sleep 0.1
		_cg_i=$((_cg_i + 1))
	done
}
proc_usec() {	# user + system CPU of one process, microseconds
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print int(($12 + $13) * 1000000 / hz) }' \
		"/proc/$1/stat" 2>/dev/null || echo 0
}

. "$top/tests/e2e/lib.sh"
# BENCH_BUDGETS: the budgets into the running milter's file, reloaded.
bench_budgets() {
	awk -v s="[port $(e2e_port 25)]" '{ print } $0 == s {
		print "limit_messages = 1000000/1h, 10000000/1d"
		print "limit_recipients = 1000000/1h"
		print "limit_bytes = 100G/1d" }' "$E2E_CONF" >"$E2E_CONF.new" &&
		mv "$E2E_CONF.new" "$E2E_CONF" && kill -HUP "$PM_PID" &&
		pm_wait_log "$E2E_LOG" "reloaded" 100
}
if [ -n "${BENCH_BUDGETS:-}" ]; then
	# shellcheck disable=SC2034 # read by e2e_start (lib.sh)
	E2E_BEFORE_APPLY=bench_budgets
fi
if [ "${BENCH_LOGREAD:-yes}" != no ]; then
	# shellcheck disable=SC2034 # read by e2e_start (lib.sh)
	E2E_POSTFIX_LOG=yes
fi
e2e_start
# cg_done runs after e2e's own clean-up (Postfix and PostgreSQL stopped)
PM_CLEANUP_HOOK="${PM_CLEANUP_HOOK:-:}; cg_done"
P=$(e2e_port 25)
Q=$(postconf -c "$E2E_PF" -h queue_directory)
milters=$(postconf -c "$E2E_PF" -h smtpd_milters)
rcpt_restrictions=$(postconf -c "$E2E_PF" -h smtpd_recipient_restrictions)
"$build/bench/null_milter" "unix:$PM_TMP/null.sock" &
null_pid=$!
"$build/bench/null_milter" -l "unix:$PM_TMP/lean.sock" &
lean_pid=$!
PM_CLEANUP_HOOK="kill $null_pid $lean_pid 2>/dev/null; $PM_CLEANUP_HOOK"
# PostgreSQL's processes in a cgroup of their own (its backends follow)
pg_pids=$(tree_pids "$(head -1 "$PM_TMP/pg/data/postmaster.pid" 2>/dev/null || echo 0)")
# shellcheck disable=SC2086 # pg_pids: one argument a process
CG_PG=$(cg_sub pg $pg_pids)
# postfwd (postfwd2 1.35 exits at once under --nodaemon: a daemon with a
# pid file, stopped with --kill), one rule, in a cgroup of its own
CG_PFW='' PFW=''
pfw_wait() {
	_pw_i=0
	while [ -f "$PM_TMP/postfwd.pid" ] && [ $_pw_i -lt 50 ]; do
		sleep 0.1
		_pw_i=$((_pw_i + 1))
	done
}
case $SETTINGS in
*postfwd*)
	CG_PFW=$(cg_sub pfw $$)
	PFW=127.0.0.1:$(e2e_port 10040)
	pfw_opts="--nodns -u nobody -g nogroup --perfmon --pidfile=$PM_TMP/postfwd.pid"
	pfw_opts="$pfw_opts --server_socket=tcp:$PFW --cache_socket=tcp:127.0.0.1:$(e2e_port 10041)"
	# shellcheck disable=SC2086 # pfw_opts: options, split on purpose
	postfwd $pfw_opts -r 'id=R1; sender==blocked@example.test; action=REJECT blocked' \
		>"$PM_TMP/postfwd.out" 2>&1
	[ -z "$CG" ] || echo $$ >"$CG/cgroup.procs"
	# --kill signals it; wait (5 s at most) for its pid file to go
	PM_CLEANUP_HOOK="postfwd $pfw_opts --kill >/dev/null 2>&1; pfw_wait; $PM_CLEANUP_HOOK"
	pc_wait_listening "$(e2e_port 10040)" ||
		{ echo "postfwd did not start"; cat "$PM_TMP/postfwd.out"; exit 1; }
	;;
esac

ms() { date +%s%3N; }
set_milter() {	# SETTING
	_rr=$rcpt_restrictions
	case $1 in
	portmilter) _m=$milters ;;
	none) _m= ;;
	null) _m=unix:$PM_TMP/null.sock ;;
	lean) _m=unix:$PM_TMP/lean.sock ;;
	postfwd) _m='' _rr="check_policy_service inet:$PFW${_rr:+, $_rr}" ;;
	esac
	postconf -c "$E2E_PF" -e "smtpd_milters = $_m" \
		"smtpd_recipient_restrictions = $_rr"
	pc_pf reload >/dev/null 2>&1 || :
	sleep 3		# Postfix's wait after a main.cf change, and the reload
}
quiet() {	# the queue is empty and the journal shipped
	_i=0
	while [ $_i -lt 600 ]; do
		if [ -z "$(find "$Q/incoming" "$Q/active" -type f 2>/dev/null | head -1)" ] &&
		   rec_idle; then
			break
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	sleep 0.5
}
outside() {	# run a command outside the cgroup: the client side
	sh -c '[ -z "$1" ] || echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh \
		"$CG_ROOT" "$@"
}
# with the log reader, the exact sizes too (they follow the events)
exact=
[ -z "${E2E_POSTFIX_LOG:-}" ] || exact="AND size_exact"
rec_idle() {	# every event of the portmilter rounds is in the database
	[ "$(outside psql -X -q -A -t -d portmilter -c \
		"SELECT count(*) FROM portmilter.events WHERE port = $P $exact")" -ge "$shipped_target" ]
}
shipped_target=0
policy_usec() {	# SETTING: CPU of its milter or policy service, us
	case $1 in
	portmilter) proc_usec "$PM_PID" ;;
	null) proc_usec "$null_pid" ;;
	lean) proc_usec "$lean_pid" ;;
	postfwd) if [ -n "$CG_PFW" ]; then cg_usec "$CG_PFW"; else echo 0; fi ;;
	*) echo 0 ;;
	esac
}
pg_usec() {
	if [ -n "$CG_PG" ]; then cg_usec "$CG_PG"; else echo 0; fi
}
round() {	# SETTING: prints "msg/s cpu_us policy_us pg_us" (per message)
	quiet
	_u0=$(cg_usec) _m0=$(policy_usec "$1") _g0=$(pg_usec)
	_perf=
	if [ "$1" = portmilter ] && [ -n "${BENCH_PERF:-}" ]; then
		outside perf record -q -g -p "$PM_PID" -o "$BENCH_PERF.$r" \
			>/dev/null 2>&1 &
		_perf=$!
	fi
	_t0=$(ms)
	# smtp-source is the client, not the server: outside the cgroup
	# shellcheck disable=SC2086 # REUSE: empty or one option
	outside /usr/sbin/smtp-source $REUSE -s "$C" -m "$M" -l "$SIZE" \
		-f bench@client.example -t alice@example.test 127.0.0.1:"$P"
	_t1=$(ms)
	if [ -n "$_perf" ]; then
		kill -TERM "$_perf" 2>/dev/null || :
		wait "$_perf" || :
	fi
	[ "$1" = portmilter ] && shipped_target=$((shipped_target + M))
	quiet
	_u1=$(cg_usec) _m1=$(policy_usec "$1") _g1=$(pg_usec)
	echo "$((M * 1000 / (_t1 - _t0 > 0 ? _t1 - _t0 : 1))) $(((_u1 - _u0) / M))" \
		"$(((_m1 - _m0) / M)) $(((_g1 - _g0) / M))"
}

echo "== $M messages of $SIZE bytes per round, $C parallel sessions, $R rounds," \
	"port 25 -> discard, ${REUSE:+many messages per connection}${REUSE:-one message per connection}," \
	"log reader $([ -n "${E2E_POSTFIX_LOG:-}" ] && echo on || echo off)" \
	"${BENCH_BUDGETS:+(portmilter with budgets on port 25)}"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
res=$PM_TMP/bench.res
: >"$res"
r=1
while [ $r -le "$R" ]; do
	for s in $SETTINGS; do
		set_milter "$s"
		# shellcheck disable=SC2046 # the figures, split into $1...
		set -- $(round "$s")
		printf 'round %d: %-10s %5d msg/s  CPU %5d us/msg  (policy %4d us, pg %4d us)\n' \
			"$r" "$s" "$1" "$2" "$3" "$4"
		echo "$s $1 $2 $3 $4" >>"$res"
	done
	r=$((r + 1))
done
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
case $SETTINGS in
*portmilter*)
	n=$(e2e_sql "SELECT count(*) FROM portmilter.events WHERE port = $P AND verdict = 'accepted'")
	echo "events recorded for the rounds with portmilter: $n (expected $((R * M)))"
	if [ -n "${E2E_POSTFIX_LOG:-}" ]; then
		e2e_sql "SELECT count(*) FILTER (WHERE size_exact), count(*) FILTER (WHERE size IS NULL)
			FROM portmilter.events WHERE port = $P AND verdict = 'accepted'" 2>/dev/null |
			awk -F'|' '{ printf "sizes from Postfix'"'"'s log: %d, no size: %d\n", $1, $2 }' || :
	fi
	;;
esac
med() {	# SETTING FIELD: median over the rounds (0 when not run)
	awk -v s="$1" -v f="$2" '$1 == s { print $f }' "$res" | sort -n |
		awk '{ v[NR] = $1 } END { print NR == 0 ? 0 : (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
{
	for s in none lean null postfwd portmilter; do
		echo "$s $(med "$s" 2) $(med "$s" 3) $(med "$s" 4) $(med "$s" 5)"
	done
} | awk -v cg="$CG" '{ w[$1] = $2; c[$1] = $3; p[$1] = $4; g[$1] = $5; if ($2 > 0) order[++n] = $1 }
	function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
	END {
	printf "medians      msg/s  /none  CPU/msg  policy  pg   (us per message)\n"
	for (i = 1; i <= n; i++) { s = order[i]
		printf "%-10s %7d  %5s  %7d  %6d  %4d\n", s, w[s], ratio(w[s], w["none"]), c[s], p[s], g[s] }
	printf "throughput  portmilter / lean = %s   portmilter / postfwd = %s   portmilter / null = %s\n",
		ratio(w["portmilter"], w["lean"]), ratio(w["portmilter"], w["postfwd"]), ratio(w["portmilter"], w["null"])
	if (cg != "" && c["portmilter"] > 0) {
		printf "CPU/msg     portmilter / lean = %s   portmilter / postfwd = %s   portmilter / (lean + PostgreSQL'"'"'s extra) = %s\n",
			ratio(c["portmilter"], c["lean"]), ratio(c["portmilter"], c["postfwd"]),
			ratio(c["portmilter"], c["lean"] + g["portmilter"] - g["lean"])
	} }'
