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
# Rounds alternate with and without the milter in smtpd_milters (two
# each, so a warm-up or a slow moment hits both); prints messages/s per
# round and the ratio of the averages.
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
make -C "$build" -j"$(nproc)" >/dev/null
. "$top/tests/e2e/lib.sh"
e2e_start
P=$(e2e_port 25)
milters=$(postconf -c "$E2E_PF" -h smtpd_milters)

ms() { date +%s%3N; }
set_milter() {	# on|off
	if [ "$1" = on ]; then
		postconf -c "$E2E_PF" -e "smtpd_milters = $milters"
	else
		postconf -c "$E2E_PF" -e "smtpd_milters ="
	fi
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
with=0 without=0
for r in 1 2; do
	set_milter on
	w=$(round)
	set_milter off
	wo=$(round)
	echo "round $r: with milter $w msg/s, without $wo msg/s"
	with=$((with + w))
	without=$((without + wo))
done
n=$(e2e_sql "SELECT count(*) FROM portmilter.events WHERE port = $P AND verdict = 'accepted'")
echo "events recorded for the rounds with the milter: $n (expected $((2 * M)), shipping may lag)"
awk -v a="$with" -v b="$without" 'BEGIN { printf "with / without the milter = %.2f\n", a / b }'
