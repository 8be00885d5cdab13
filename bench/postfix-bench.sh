#!/bin/sh
# postfix-bench.sh - Postfix throughput with the milter against the same
# Postfix without it, in the same run (on demand, not in make check).
#
#   sh bench/postfix-bench.sh [MESSAGES] [SESSIONS]   (as root)
#   defaults: 2000 messages, 10 parallel sessions
#
# The stack of tests/e2e/lib.sh (PostgreSQL up, the milter recording
# every transaction). smtp-source sends MESSAGES messages, one per
# connection, to a local recipient on port 25 (delivered to discard:).
# Rounds alternate between three smtpd_milters settings (two rounds
# each, so a warm-up or a slow moment hits all): portmilter; none; and
# bench/null_milter, a milter that answers CONTINUE and does nothing,
# which shows what the milter protocol itself costs. Prints messages/s
# per round and the ratios of the averages.
set -eu
M=${1:-2000}
C=${2:-10}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
if [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j"$(nproc)" all bench/null_milter >/dev/null
. "$top/tests/e2e/lib.sh"
e2e_start
P=$(e2e_port 25)
milters=$(postconf -c "$E2E_PF" -h smtpd_milters)
"$build/bench/null_milter" "unix:$PM_TMP/null.sock" &
null_pid=$!
PM_CLEANUP_HOOK="kill $null_pid 2>/dev/null; ${PM_CLEANUP_HOOK:-:}"

ms() { date +%s%3N; }
set_milter() {	# on|off|null
	case $1 in
	on) postconf -c "$E2E_PF" -e "smtpd_milters = $milters" ;;
	off) postconf -c "$E2E_PF" -e "smtpd_milters =" ;;
	null) postconf -c "$E2E_PF" -e "smtpd_milters = unix:$PM_TMP/null.sock" ;;
	esac
	pc_pf reload >/dev/null 2>&1 || :
	sleep 3		# Postfix's wait after a main.cf change, and the reload
}
round() {	# prints messages per second
	_t0=$(ms)
	/usr/sbin/smtp-source -s "$C" -m "$M" -l 2000 -f bench@client.example \
		-t alice@example.test 127.0.0.1:"$P"
	_t1=$(ms)
	echo $((M * 1000 / (_t1 - _t0 > 0 ? _t1 - _t0 : 1)))
}

echo "== $M messages per round, $C parallel sessions, port 25 -> discard"
with=0 without=0 null=0
for r in 1 2; do
	set_milter on
	w=$(round)
	set_milter off
	wo=$(round)
	set_milter null
	nu=$(round)
	echo "round $r: portmilter $w msg/s, no milter $wo msg/s, null milter $nu msg/s"
	with=$((with + w))
	without=$((without + wo))
	null=$((null + nu))
done
n=$(e2e_sql "SELECT count(*) FROM portmilter.events WHERE port = $P AND verdict = 'accepted'")
echo "events recorded for the rounds with the milter: $n (expected $((2 * M)), shipping may lag)"
awk -v a="$with" -v b="$without" -v c="$null" 'BEGIN {
	printf "portmilter / no milter = %.2f\n", a / b
	printf "null milter / no milter = %.2f (the milter protocol alone)\n", c / b
	printf "portmilter / null milter = %.2f (portmilter'"'"'s own work)\n", a / c }'
