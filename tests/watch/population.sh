#!/bin/sh
# population.sh - false positives of portmilter-watch, the short version
# of `bench/watch-bench.sh fp` (TAP): 200 normal users of the behaviour
# model in bench/watch-population.sql over 15 days, an evaluation replayed
# every 6 hours of the last day with the default detectors; at most 2
# alerts (1 % of the users; the full figure, 10,000 users over 14 days,
# is in doc/watch.md). Prints the figure.
#
# Environment (set by the automake harness): top_srcdir, top_builddir,
# PG_BINDIR.
srcdir=${top_srcdir:-.}
. "$srcdir/tests/lib/pg.sh"
if ! pg_bindir >/dev/null; then
	tap_skip_all "PostgreSQL server binaries not found (set PG_BINDIR)"
fi
out=$(top_builddir=${top_builddir:-.} sh "$srcdir/bench/watch-bench.sh" fp 200 15 1 6 2>&1)
st=$?
echo "$out" | sed 's/^/# /'
got=$(echo "$out" | sed -n 's/^alerts: \([0-9]*\) .*/\1/p')
if [ "$st" -eq 0 ] && [ -n "$got" ] && [ "$got" -le 2 ]; then
	echo "ok 1 - 200 normal users, 5 evaluations over a day: $got alerts (at most 2)"
else
	echo "not ok 1 - 200 normal users: ${got:-no figure} alerts (at most 2), status $st"
fi
echo "1..1"
