#!/bin/sh
# chain.sh - the tests that start a Postfix on the six ports, one after
# the other, as one TAP test program of `make check`.
#
# They bind the same six ports on 127.0.0.1 (moved by PM_PORT_OFFSET), so
# they must never run at the same time. As separate tests chained by make
# dependencies they ran last and alone: GNU make -j starts a target whose
# prerequisite was still running only after it has walked every other
# test. As one program listed first in TESTS, the chain holds one job
# slot from the start and everything else runs in the other ones.
#
# Each member still runs by itself (see doc/HACKING.md). Here its TAP
# output is passed on with the case numbers made consecutive, its name in
# front of each case ("matrix: ..."), and its plan dropped; one plan ends
# the whole. A member that skips entirely ("1..0 # SKIP ...") gives one
# skipped case; one that bails out, exits non-zero with no failing case,
# or does not end with its plan gives one failing case, and the chain
# goes on with the next member.
#
# Environment: top_srcdir, top_builddir (set by make check); CHAIN_ONLY=
# "NAME ..." runs only the members whose file name (without .sh) is
# listed.
set -u
: "${top_srcdir:?top_srcdir is not set (run it from make check)}"

members="tests/conf/start.sh tests/e2e/matrix.sh tests/probe/probe.sh
tests/e2e/scan.sh tests/e2e/auth-plain.sh tests/e2e/admin.sh
tests/e2e/logtags.sh tests/e2e/dist.sh tests/debian/recipes.sh
tests/e2e/budgets.sh tests/e2e/logread.sh"

# One chain at a time on this machine, whatever the port offset: some
# members start services on ports the offset does not move (tools/check-all
# runs the -Werror and the sanitize builds' suites at the same time, and
# the second chain's Postfix once failed to start). The other build's
# tests go on meanwhile in the other job slots.
lock=/tmp/portmilter-e2e-chain.lock
if command -v flock >/dev/null 2>&1 && (umask 0 && : >>"$lock") 2>/dev/null; then
	exec 9>>"$lock"
	if ! flock -n 9; then
		echo "# waiting for the other chain on this machine ($lock)"
		flock 9 || exit 99
	fi
fi

out=$(mktemp "${TMPDIR:-/tmp}/portmilter-chain.XXXXXX") || exit 99
trap 'rm -f "$out" "$out.tap"' EXIT
trap 'exit 130' INT TERM

n=0
for member in $members; do
	name=$(basename "$member" .sh)
	if [ -n "${CHAIN_ONLY:-}" ]; then
		case " $CHAIN_ONLY " in
		*" $name "*) ;;
		*) continue ;;
		esac
	fi
	echo "# ---- $member"
	t0=$(date +%s)
	sh "$top_srcdir/$member" >"$out" 2>&1
	st=$?
	awk -v name="$name" -v n="$n" -v st="$st" -v secs="$(($(date +%s) - t0))" '
		function emit(line) { print line }
		/^1\.\.[0-9]+/ {
			planned = 1; plan = substr($1, 4) + 0
			if (plan == 0) {
				why = $0; sub(/^1\.\.0[ \t]*#?[ \t]*([Ss][Kk][Ii][Pp])?[ \t]*/, "", why)
				emit("ok " (++n) " - " name " # SKIP " why)
				skipped = 1
			}
			next
		}
		/^(not )?ok([ \t]|$)/ {
			cases++
			notok = ($0 ~ /^not ok/)
			rest = $0
			sub(/^(not )?ok[ \t]*[0-9]*[ \t]*-?[ \t]*/, "", rest)
			if (notok && tolower(rest) !~ /#[ \t]*(skip|todo)/)
				failed = 1
			emit((notok ? "not ok " : "ok ") (++n) " - " name ": " rest)
			next
		}
		/^Bail out!/ {
			emit("not ok " (++n) " - " name ": " $0)
			bailed = 1
			next
		}
		{ emit($0) }
		END {
			if (!bailed && !skipped && (!planned || plan != cases))
				emit("not ok " (++n) " - " name ": " cases \
				    " cases, plan " (planned ? plan : "missing"))
			else if (!bailed && st != 0 && !failed && !skipped)
				emit("not ok " (++n) " - " name ": exit status " st \
				    " with no failing case")
			emit("# ---- " name ": exit status " st ", " secs " s")
			print n
		}' "$out" >"$out.tap"
	sed '$d' "$out.tap"
	n=$(tail -n 1 "$out.tap")
done
echo "1..$n"
