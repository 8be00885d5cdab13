#!/bin/sh
# postfix-bench.sh - Postfix throughput with the milter against the same
# Postfix without it, in the same run (on demand, not in make check).
#
#   sh bench/postfix-bench.sh [MESSAGES] [SESSIONS] [ROUNDS] [reuse] (as root)
#   defaults: 2000 messages, 10 parallel sessions, 3 rounds, one message
#   per connection (as mail clients send); "reuse": each session sends
#   its messages over one connection (smtp-source -d, as MTAs often do),
#   which spreads the per-connection cost of a milter over many messages
#
# The stack of tests/e2e/lib.sh (PostgreSQL up, the milter recording
# every transaction). smtp-source sends MESSAGES messages of 2000 bytes,
# one per connection, to a local recipient on port 25 (delivered to
# discard:). Each round runs three smtpd_milters settings in turn:
#   portmilter  the milter under test;
#   none        no milter at all (the baseline);
#   null        bench/null_milter: registers the same steps, negotiates
#               the same protocol and answers CONTINUE, doing nothing
#               else. What it costs is the milter protocol itself
#               (Postfix's and libmilter's side), the floor of any milter.
# Two figures per round and setting:
#   msg/s       wall-clock throughput, smtp-source start to end;
#   CPU/msg     CPU time (user + system) used by the whole server side,
#               Postfix, PostgreSQL and the milter, per message, read
#               from a cpuacct cgroup the stack runs in (smtp-source runs
#               outside it), from before the round until the queue is
#               empty again, so that delivery and the shipping of the
#               round's events are counted too. Also the milter's own
#               share, from /proc/PID/stat.
# On a small machine the two cores are shared by smtp-source, Postfix,
# PostgreSQL and the milter, and by anything else running: wall-clock
# throughput varies from round to round; CPU per message barely does.
# The summary prints the medians and the ratios of both.
# BENCH_BUDGETS=1: portmilter with budgets on port 25 (README.md,
# "Sending budgets"): limit_messages = 1000000/1h, 10000000/1d,
# limit_recipients = 1000000/1h, limit_bytes = 100G/1d, counted per
# client address (never spent: every message is checked and counted).
set -eu
M=${1:-2000}
C=${2:-10}
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
cg_usec() {	# CPU time of the cgroup, microseconds
	case $CG_KIND in
	v1) echo $(($(cat "$CG/cpuacct.usage") / 1000)) ;;
	v2) sed -n 's/^usage_usec //p' "$CG/cpu.stat" ;;
	*) echo 0 ;;
	esac
}
cg_done() {	# last, once the stack is stopped: leave and remove the cgroup
	[ -n "$CG" ] || return 0
	echo $$ >"$CG_ROOT/cgroup.procs" 2>/dev/null || :
	# stopped processes may take a moment to leave; a process that
	# survived a failed stop keeps it: try, don't insist
	_cg_i=0
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
e2e_start
# cg_done runs after e2e's own clean-up (Postfix and PostgreSQL stopped)
PM_CLEANUP_HOOK="${PM_CLEANUP_HOOK:-:}; cg_done"
P=$(e2e_port 25)
Q=$(postconf -c "$E2E_PF" -h queue_directory)
milters=$(postconf -c "$E2E_PF" -h smtpd_milters)
"$build/bench/null_milter" "unix:$PM_TMP/null.sock" &
null_pid=$!
PM_CLEANUP_HOOK="kill $null_pid 2>/dev/null; $PM_CLEANUP_HOOK"

ms() { date +%s%3N; }
set_milter() {	# portmilter|none|null
	case $1 in
	portmilter) postconf -c "$E2E_PF" -e "smtpd_milters = $milters" ;;
	none) postconf -c "$E2E_PF" -e "smtpd_milters =" ;;
	null) postconf -c "$E2E_PF" -e "smtpd_milters = unix:$PM_TMP/null.sock" ;;
	esac
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
rec_idle() {	# every event of the portmilter rounds is in the database
	[ "$(outside psql -X -q -A -t -d portmilter -c \
		"SELECT count(*) FROM portmilter.events WHERE port = $P")" -ge "$shipped_target" ]
}
shipped_target=0
round() {	# SETTING: prints "msg/s cpu_us_per_msg milter_us_per_msg"
	case $1 in
	portmilter) _pid=$PM_PID ;; null) _pid=$null_pid ;; *) _pid= ;;
	esac
	quiet
	_u0=$(cg_usec) _m0=0
	[ -z "$_pid" ] || _m0=$(proc_usec "$_pid")
	_t0=$(ms)
	# smtp-source is the client, not the server: outside the cgroup
	# shellcheck disable=SC2086 # REUSE: empty or one option
	outside /usr/sbin/smtp-source $REUSE -s "$C" -m "$M" -l 2000 \
		-f bench@client.example -t alice@example.test 127.0.0.1:"$P"
	_t1=$(ms)
	[ "$1" = portmilter ] && shipped_target=$((shipped_target + M))
	quiet
	_u1=$(cg_usec) _m1=0
	[ -z "$_pid" ] || _m1=$(proc_usec "$_pid")
	echo "$((M * 1000 / (_t1 - _t0 > 0 ? _t1 - _t0 : 1))) $(((_u1 - _u0) / M)) $(((_m1 - _m0) / M))"
}

echo "== $M messages per round, $C parallel sessions, $R rounds, port 25 -> discard," \
	"${REUSE:+many messages per connection}${REUSE:-one message per connection}" \
	"${BENCH_BUDGETS:+(portmilter with budgets on port 25)}"
res=$PM_TMP/bench.res
: >"$res"
r=1
while [ $r -le "$R" ]; do
	for s in portmilter none null; do
		set_milter "$s"
		# shellcheck disable=SC2046 # the figures, split into $1...
		set -- $(round "$s")
		printf 'round %d: %-10s %5d msg/s  CPU %5d us/msg  (milter %4d us/msg)\n' \
			"$r" "$s" "$1" "$2" "$3"
		echo "$s $1 $2 $3" >>"$res"
	done
	r=$((r + 1))
done
n=$(e2e_sql "SELECT count(*) FROM portmilter.events WHERE port = $P AND verdict = 'accepted'")
echo "events recorded for the rounds with portmilter: $n (expected $((R * M)))"
med() {	# SETTING FIELD: median over the rounds
	awk -v s="$1" -v f="$2" '$1 == s { print $f }' "$res" | sort -n |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
awk -v pw="$(med portmilter 2)" -v nw="$(med none 2)" -v uw="$(med null 2)" \
    -v pc="$(med portmilter 3)" -v nc="$(med none 3)" -v uc="$(med null 3)" \
    -v pm="$(med portmilter 4)" -v um="$(med null 4)" -v cg="$CG" 'BEGIN {
	printf "medians: portmilter %d msg/s, none %d msg/s, null %d msg/s\n", pw, nw, uw
	printf "throughput  portmilter / none = %.2f   null / none = %.2f   portmilter / null = %.2f\n", pw / nw, uw / nw, pw / uw
	if (cg != "" && pc > 0) {
		printf "CPU/msg     portmilter %d us, none %d us, null %d us (milter process: portmilter %d us, null %d us)\n", pc, nc, uc, pm, um
		printf "CPU-bound   none / portmilter = %.2f   none / null = %.2f   null / portmilter = %.2f\n", nc / pc, nc / uc, uc / pc
	} }'
