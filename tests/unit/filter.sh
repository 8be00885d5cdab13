#!/bin/sh
# filter - every cmocka program of tests/unit/ (each test_*.c) takes a
# case filter, as doc/HACKING.md ("Running one case") says: its first
# argument, else PM_TEST_FILTER (tests/unit/unit.h, unit_filter()). For
# each program: a filter that names no case runs none ("1..0"), its
# first case's name given as the argument runs that case alone, and the
# same name in PM_TEST_FILTER too. A new test_*.c is checked without
# being listed here. Prints TAP.

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

. "$top_srcdir/tests/lib/tap.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/filter.XXXXXX") || {
	echo "Bail out! mktemp -d failed"
	exit 99
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# plan_of FILE: the number N of the first "1..N" line of FILE
plan_of() {
	sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1
}

found=0
for src in "$top_srcdir"/tests/unit/test_*.c; do
	name=$(basename "$src" .c)
	prog=$top_builddir/tests/unit/$name
	if [ ! -x "$prog" ]; then
		tap_skip "$name: not built (cmocka missing?)"
		continue
	fi
	found=$((found + 1))
	# Unfiltered: the first case's name, as the TAP line shows it.
	PM_TEST_FILTER='' "$prog" >"$tmp/all" 2>&1
	first=$(sed -n 's/^ok [0-9][0-9]* - //p' "$tmp/all" | head -n 1)
	all=$(plan_of "$tmp/all")
	PM_TEST_FILTER='' "$prog" 'no case is named so*' >"$tmp/none" 2>&1
	PM_TEST_FILTER='' "$prog" "$first" >"$tmp/arg" 2>&1
	PM_TEST_FILTER=$first "$prog" >"$tmp/env" 2>&1
	[ -n "$first" ] && [ "${all:-0}" -gt 1 ] &&
		[ "$(plan_of "$tmp/none")" = 0 ] &&
		[ "$(plan_of "$tmp/arg")" = 1 ] && grep -qxF "ok 1 - $first" "$tmp/arg" &&
		[ "$(plan_of "$tmp/env")" = 1 ] && grep -qxF "ok 1 - $first" "$tmp/env"
	tap_ok $? "$name: a filter selects cases (none: 1..0; \"$first\" as argument or PM_TEST_FILTER: that case alone, of ${all:-?})" || {
		tap_diag "unfiltered:"
		head -n 3 "$tmp/all" | tap_diag_file -
		tap_diag "filter matching nothing:"
		head -n 3 "$tmp/none" | tap_diag_file -
		tap_diag "first case as argument:"
		head -n 3 "$tmp/arg" | tap_diag_file -
	}
done
[ "$found" -ge 10 ]
tap_ok $? "found the cmocka programs ($found)"

tap_plan
