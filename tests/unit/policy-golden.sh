#!/bin/sh
# policy-golden - run the policy driver on tests/unit/policy.in with the
# shipped etc/portmilter.conf and compare with the hand-written
# tests/unit/policy.ref. Prints TAP; a difference is shown as "# " lines.
#
# Environment (set by the automake harness; defaults for a run by hand
# from the top of a built source tree): top_srcdir, top_builddir, and
# POLICY_DRIVER to use another driver binary.

srcdir=${top_srcdir:-${srcdir:-.}}
driver=${POLICY_DRIVER:-${top_builddir:-.}/tests/unit/policy_driver}
conf=$srcdir/etc/portmilter.conf
in=$srcdir/tests/unit/policy.in
ref=$srcdir/tests/unit/policy.ref

echo "1..1"
for f in "$driver" "$conf" "$in" "$ref"; do
	if [ ! -e "$f" ]; then
		echo "not ok 1 - policy golden: $f is missing"
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/policy-golden.XXXXXX") || {
	echo "not ok 1 - policy golden: mktemp failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! "$driver" "$conf" <"$in" >"$tmp/out" 2>"$tmp/err"; then
	echo "not ok 1 - policy golden: the driver failed"
	sed 's/^/# /' "$tmp/err"
	exit 1
fi
if diff -u "$ref" "$tmp/out" >"$tmp/diff" 2>&1; then
	echo "ok 1 - policy golden"
else
	echo "not ok 1 - policy golden: output differs from policy.ref"
	sed 's/^/# /' "$tmp/diff"
	sed 's/^/# /' "$tmp/err"
fi
exit 0
