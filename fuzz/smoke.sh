#!/bin/sh
# smoke - a short run of every libFuzzer harness of fuzz/ (see
# fuzz/README.md): builds them with fuzz/build.sh into
# $top_builddir/fuzz (clang, -fsanitize=fuzzer,address,undefined), then
# runs each on its committed seeds (fuzz/seeds/NAME: every one is
# executed, regression inputs included) and FUZZ_SMOKE_RUNS (default
# 2000) mutations with a fixed random seed: seconds, not minutes. One
# case per harness: a crash, a sanitizer report, an oracle failure
# ("ORACLE: ...") or a timeout is "not ok", with the message and the
# input saved (the temporary directory is kept, its path printed).
# Skipped (1..0 # SKIP) only when clang or its fuzzer runtime
# (libclang-rt-14-dev) is missing. Prints TAP.

top_srcdir=${top_srcdir:?set by make check}
top_builddir=${top_builddir:?set by make check}
. "$top_srcdir/tests/milter/lib.sh"

HARNESSES=$(cd "$top_srcdir/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
out=$top_builddir/fuzz
runs=${FUZZ_SMOKE_RUNS:-2000}

pm_tmp_setup

sh "$top_srcdir/fuzz/build.sh" "$top_srcdir" "$out" \
	>"$PM_TMP/build.log" 2>&1
st=$?
if [ "$st" -eq 77 ]; then
	tap_skip_all "$(tail -1 "$PM_TMP/build.log")"
fi
if [ "$st" -ne 0 ]; then
	echo "Bail out! fuzz/build.sh failed (exit $st)"
	tap_diag_file "$PM_TMP/build.log"
	exit 99
fi

failed=0
for h in $HARNESSES; do
	mkdir -p "$PM_TMP/$h/corpus" "$PM_TMP/$h/crash"
	dict=
	[ -f "$top_srcdir/fuzz/$h.dict" ] && dict=-dict=$top_srcdir/fuzz/$h.dict
	# corpus first: libFuzzer writes new inputs into the first
	# directory, never into the committed seeds
	# shellcheck disable=SC2086 # $dict: empty or one word
	"$out/fuzz_$h" -runs="$runs" -seed=1 -timeout=20 $dict \
		-max_total_time=120 -artifact_prefix="$PM_TMP/$h/crash/" \
		"$PM_TMP/$h/corpus" "$top_srcdir/fuzz/seeds/$h" \
		>"$PM_TMP/$h/log" 2>&1
	st=$?
	execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$PM_TMP/$h/log")
	cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE[[:space:]]*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 edges, \2 features/p' \
		"$PM_TMP/$h/log")
	tap_ok "$st" "fuzz_$h: seeds and $runs mutations, no crash, no oracle failure (${execs:-?} executions, ${cov:-?})" ||
	{
		failed=1
		tap_diag "exit $st; the report:"
		grep -E '^(ORACLE: |==[0-9]+==ERROR|SUMMARY|.*runtime error)' \
			"$PM_TMP/$h/log" | head -5 | tap_diag_file -
		for c in "$PM_TMP/$h/crash/"*; do
			[ -f "$c" ] || continue
			tap_diag "input ($c), escaped:"
			od -An -c "$c" | head -8 | tap_diag_file -
		done
	}
done
tap_plan
# keep what a failure needs to be reproduced
[ "$failed" -eq 0 ] || { PM_KEEP=1; export PM_KEEP; }
exit 0
