#!/bin/sh
# skip - a test whose prerequisite is missing is a SKIP in make check,
# never an ERROR (nor a PASS). Automake's TAP driver, which runs every
# test (Makefile.am: LOG_DRIVER, no --ignore-exit), counts any non-zero
# exit status as an ERROR, 77 included: a test that skips says so with
# the plan "1..0 # SKIP reason" and exits 0 (tap_skip_all,
# tests/lib/tap.sh; the cmocka programs print the same line and return 0).
#
# First no test script or program under tests/ (nor fuzz/smoke.sh) exits
# 77; then one test of each skipping library runs through that driver
# with its prerequisite made to look missing, and its .trs must hold one
# result, SKIP, and a global SKIP: rec_init (tests/recorder/lib.sh) and
# pm_require (tests/milter/lib.sh) with MILTERTEST naming no file, a .lua
# test through tests/milter/run-lua.sh the same way, e2e_require
# (tests/e2e/lib.sh) and pg_test_begin (tests/lib/pg.sh) with PG_BINDIR
# naming no directory, and a cmocka program (tests/unit/test_cfg) without
# top_srcdir. Each stops before starting anything: seconds. Prints TAP.

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

. "$top_srcdir/tests/lib/tap.sh"

DRIVER=$top_srcdir/build-aux/tap-driver.sh
if [ ! -r "$DRIVER" ]; then
	echo "Bail out! $DRIVER is missing (autoreconf -fi)"
	exit 99
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/skip.XXXXXX") || {
	echo "Bail out! mktemp -d failed"
	exit 99
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- no "exit 77" left ----------------------------------------------------
# (this file's own pattern excluded: it is the one line that says it)
(cd "$top_srcdir" && grep -rnE '(exit|return)[[:space:]]+77([^0-9]|$)' \
	tests fuzz/smoke.sh | grep -v '^tests/tools/skip\.sh:') >"$tmp/77"
[ ! -s "$tmp/77" ]
tap_ok $? "no test script or program exits 77 (the TAP driver's ERROR)" ||
	tap_diag_file "$tmp/77"

# skipped NAME WHAT COMMAND...: COMMAND through the TAP driver; its .trs
# must be one SKIP result and a global SKIP, its log the reason.
skipped() {
	_sk_name=$1 _sk_what=$2
	shift 2
	AM_TAP_AWK=${AWK:-awk} sh "$DRIVER" --test-name "$_sk_name" \
		--log-file "$tmp/$_sk_name.log" --trs-file "$tmp/$_sk_name.trs" \
		--color-tests no --enable-hard-errors yes --expect-failure no \
		-- "$@" >"$tmp/$_sk_name.out" 2>&1
	printf ':global-test-result: SKIP\n:test-result: SKIP\n' >"$tmp/want"
	grep -E '^:(global-)?test-result:' "$tmp/$_sk_name.trs" 2>/dev/null |
		sort >"$tmp/got"
	cmp -s "$tmp/want" "$tmp/got" &&
		grep -q '^1\.\.0 # SKIP .' "$tmp/$_sk_name.log"
	tap_ok $? "$_sk_name, $_sk_what: SKIP through the TAP driver, not ERROR" || {
		tap_diag "driver:"
		tap_diag_file "$tmp/$_sk_name.out"
		tap_diag "log:"
		tap_diag_file "$tmp/$_sk_name.log"
	}
}

NOTHING=$tmp/nothing	# neither a program nor a directory

skipped rec_init "miltertest missing" \
	env MILTERTEST="$NOTHING" sh "$top_srcdir/tests/recorder/hostile.sh"
skipped pm_require "miltertest missing" \
	env MILTERTEST="$NOTHING" sh "$top_srcdir/tests/milter/daemon.sh"
skipped run-lua "a .lua test, miltertest missing" \
	env MILTERTEST="$NOTHING" sh "$top_srcdir/tests/milter/run-lua.sh" \
	"$top_srcdir/tests/milter/ports.lua"
skipped e2e_require "no PostgreSQL server binaries" \
	env PG_BINDIR="$NOTHING" sh "$top_srcdir/tests/e2e/auth-plain.sh"
skipped pg_test_begin "no PostgreSQL server binaries" \
	env PG_BINDIR="$NOTHING" sh "$top_srcdir/tests/sql/limits.sh"
if [ -x "$top_builddir/tests/unit/test_cfg" ]; then
	skipped cmocka "test_cfg without top_srcdir" \
		env -u top_srcdir "$top_builddir/tests/unit/test_cfg"
else
	tap_skip "cmocka: tests/unit/test_cfg is not built (cmocka missing?)"
fi

tap_plan
