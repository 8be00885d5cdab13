#!/bin/sh
# rules - README's table "The rules and the replies" against the rule
# table of milter/policy.c (printed by "policy_driver -r"): the same
# rules at the same stages with the same replies, both ways. A rule the
# code has and README lacks fails, and so does a README row or reply the
# code does not give. README's reply cell holds the reply in backquotes
# (several for a rule with variants), or "none". Prints TAP.

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

. "$top_srcdir/tests/lib/tap.sh"

driver=$top_builddir/tests/unit/policy_driver
readme=$top_srcdir/README.md
if [ ! -x "$driver" ]; then
	tap_skip_all "$driver is not built (cmocka missing?)"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rules.XXXXXX") || {
	echo "Bail out! mktemp -d failed"
	exit 99
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# README's rows as "STAGE|RULE|REPLY", one line a reply.
readme_rules() {
	sed -n '/^## The rules and the replies/,/^#/p' "$1" |
	awk -F'|' '
	/^\| *(connect|MAIL|RCPT) *\|/ {
		stage = $2; rule = $3; cell = $5
		gsub(/^ +| +$/, "", stage)
		gsub(/[ `]/, "", rule)
		n = 0
		while (match(cell, /`[0-9][0-9][0-9] [0-9]\.[0-9]+\.[0-9]+ [^`]*`/)) {
			print stage "|" rule "|" substr(cell, RSTART + 1, RLENGTH - 2)
			cell = substr(cell, RSTART + RLENGTH)
			n++
		}
		if (n == 0)
			print stage "|" rule "|" (cell ~ /^ *none/ ? "none" : "?" cell)
	}'
}

"$driver" -r | sort >"$tmp/code"
tap_ok $? "policy_driver -r prints the rule table"
[ "$(wc -l <"$tmp/code")" -ge 10 ]
tap_ok $? "the rule table has its rows ($(wc -l <"$tmp/code"))"

readme_rules "$readme" | sort >"$tmp/readme"
[ -s "$tmp/readme" ]
tap_ok $? "README has a rules table" || tap_diag "nothing parsed from $readme"

# The check must be able to fail: a README with one reply changed and
# one row removed differs from the code.
sed -e 's/`554 5\.7\.1 Relay access denied`/`554 5.7.1 Relaying denied`/' \
	-e '/^| RCPT | `max_recipients`/d' "$readme" >"$tmp/README.bad"
readme_rules "$tmp/README.bad" | sort >"$tmp/readme.bad"
seen=$(comm -23 "$tmp/code" "$tmp/readme.bad" | cut -d'|' -f2 | tr '\n' ' ')
[ "$seen" = "max_recipients relay " ]
tap_ok $? "a changed reply and a missing row are seen" || tap_diag "seen: $seen"

comm -23 "$tmp/code" "$tmp/readme" >"$tmp/missing"
[ ! -s "$tmp/missing" ]
tap_ok $? "every rule of policy.c is in README with its stage and reply" ||
	tap_diag_file "$tmp/missing"

comm -13 "$tmp/code" "$tmp/readme" >"$tmp/extra"
[ ! -s "$tmp/extra" ]
tap_ok $? "every row of README's table is a rule of policy.c, same stage and reply" ||
	tap_diag_file "$tmp/extra"

tap_plan
