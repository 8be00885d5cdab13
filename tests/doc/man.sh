#!/bin/sh
# man - the man pages in doc/. Each one renders with man(1) without a
# single groff warning and fits 80 columns, has the usual sections and
# names the other pages; portmilter.conf.5 has an entry for every key of
# lib/cfg_keys.c and its example files pass "portmilter -n" (the first
# one = the shipped etc/portmilter.conf); each program's -h and --help
# print its usage text on stdout and exit 0, a bad option exits 2 with
# nothing on stdout; each page names every option its program's usage
# text prints; "make install-man" puts the six
# pages under PREFIX/share/man/manN. Needs the built programs and, for
# the rendering, man-db (Debian packages man-db, groff-base). Prints TAP.

. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_tmp_setup

DOC=$top_srcdir/doc
PAGES="portmilter.8 portmilter.conf.5 portmilter-conf.8 portmilter-report.1
portmilter-probe.1 portmilter-watch.8"

# Render a page as an admin reads it; stdout = text, stderr = warnings
# (every groff warning category: -ww).
man_render() {
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -E UTF-8 -l "$1"
}

# A page's source as the reader types it: \- and \e become - and \,
# font changes, \& and \: (break points) go.
man_src() {
	sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\f[BIRP]//g' \
		-e 's/\\f(..//g' -e 's/\\&//g' -e 's/\\://g' "$1"
}

# ---- rendering ---------------------------------------------------------------

if command -v man >/dev/null 2>&1; then
	# The check below must be able to fail: a broken page warns.
	printf '.TH BROKEN 1\n.SH NAME\nbroken \\- test\n.SH DESCRIPTION\n.XYZZY a\nbad \\q escape\n' \
		>"$PM_TMP/broken.1"
	man_render "$PM_TMP/broken.1" >/dev/null 2>"$PM_TMP/broken.err"
	grep -q "macro 'XYZZY' not defined" "$PM_TMP/broken.err" &&
		grep -q "escape character ignored" "$PM_TMP/broken.err"
	tap_ok $? "man --warnings=w reports an unknown macro and a bad escape" ||
		tap_diag_file "$PM_TMP/broken.err"
	for p in $PAGES; do
		man_render "$DOC/$p" >"$PM_TMP/$p.txt" 2>"$PM_TMP/$p.err"
		st=$?
		[ "$st" -eq 0 ] && [ ! -s "$PM_TMP/$p.err" ] &&
			grep -q '^NAME' "$PM_TMP/$p.txt"
		tap_ok $? "$p: man -l renders it, exit 0, no warning" ||
			{ tap_diag "exit $st"; tap_diag_file "$PM_TMP/$p.err"; }
		w=$(LC_ALL=C.UTF-8 wc -L <"$PM_TMP/$p.txt")
		[ "$w" -le 80 ]
		tap_ok $? "$p: no line wider than 80 columns (widest: $w)" ||
			LC_ALL=C.UTF-8 awk 'length > 80' "$PM_TMP/$p.txt" |
			tap_diag_file -
	done
else
	tap_skip "man --warnings reports a broken page: man not installed (man-db)"
	for p in $PAGES; do
		tap_skip "$p: rendering: man not installed (man-db)"
		tap_skip "$p: width: man not installed (man-db)"
	done
fi

# ---- sections and cross-references ------------------------------------------

for p in $PAGES; do
	want="NAME SYNOPSIS DESCRIPTION FILES EXIT_STATUS EXAMPLES SEE_ALSO"
	[ "$p" = portmilter.conf.5 ] || want="$want OPTIONS"
	missing=
	for s in $want; do
		grep -qx "\\.SH $(echo "$s" | tr _ ' ')" "$DOC/$p" ||
			missing="$missing $s"
	done
	[ -z "$missing" ]
	tap_ok $? "$p: sections $want" || tap_diag "missing:$missing"

	sed -n '/^\.SH SEE ALSO/,$p' "$DOC/$p" | man_src /dev/stdin \
		>"$PM_TMP/$p.see"
	missing=
	for q in $PAGES postconf.5 master.5; do
		[ "$q" = "$p" ] && continue
		grep -qx "\\.BR ${q%.*} (${q##*.}),\{0,1\}" "$PM_TMP/$p.see" ||
			missing="$missing ${q%.*}(${q##*.})"
	done
	[ -z "$missing" ]
	tap_ok $? "$p: SEE ALSO names the other pages, postconf(5) and master(5)" ||
		tap_diag "missing:$missing"
done

# ---- portmilter.conf.5: every key, working examples --------------------------

# The key table: CFG_G(id, field, ...) names a global key by its field,
# CFG_P(id, "name", ...) a per-port key.
sed -n -e 's/^[[:space:]]*CFG_G([A-Z_]*,[[:space:]]*\([a-z_]*\),.*/\1/p' \
	-e 's/^[[:space:]]*CFG_P([A-Z_]*,[[:space:]]*"\([a-z_]*\)",.*/\1/p' \
	"$top_srcdir/lib/cfg_keys.c" >"$PM_TMP/keys"
n=$(wc -l <"$PM_TMP/keys")
[ "$n" -gt 10 ]
tap_ok $? "lib/cfg_keys.c: $n keys extracted from the table (more than 10)"
for k in $(cat "$PM_TMP/keys"); do
	awk -v k="$k" 'prev == ".TP" && $0 == ".B " k { found = 1 }
		{ prev = $0 } END { exit !found }' "$DOC/portmilter.conf.5"
	tap_ok $? "portmilter.conf.5: a .TP/.B entry for $k"
done

# Each ".\" example: begin" ... ".\" example: end" block is a file.
man_src "$DOC/portmilter.conf.5" | awk -v dir="$PM_TMP" '
	/^\.\\" example: end/ { on = 0; close(f); next }
	on && /^\.(EX|EE)$/ { next }
	on { print > f; next }
	/^\.\\" example: begin/ { on = 1; f = dir "/example" ++n ".conf" }'
PM_BIN=${top_builddir:?top_builddir must be set}/milter/portmilter
i=1
while [ -f "$PM_TMP/example$i.conf" ]; do
	"$PM_BIN" -n -c "$PM_TMP/example$i.conf" >"$PM_TMP/example$i.out" 2>&1
	tap_ok $? "portmilter.conf.5: example $i passes portmilter -n" ||
		tap_diag_file "$PM_TMP/example$i.out"
	i=$((i + 1))
done
[ "$i" -gt 2 ]
tap_ok $? "portmilter.conf.5: $((i - 1)) examples found (at least 2)"
"$PM_BIN" -n -c "$top_srcdir/etc/portmilter.conf" 2>&1 | sed 1d >"$PM_TMP/shipped.out"
sed 1d "$PM_TMP/example1.out" 2>/dev/null | diff "$PM_TMP/shipped.out" - \
	>"$PM_TMP/example.diff"
tap_ok $? "portmilter.conf.5: the full example has the shipped file's settings" ||
	tap_diag_file "$PM_TMP/example.diff"

# ---- help, and every option of each usage text is in its page ---------------

# help PROGRAM ARG: one case: "PROGRAM ARG" prints the usage text on
# stdout (left in $PM_TMP/usage), nothing on stderr, and exits 0.
help() {
	"$1" "$2" >"$PM_TMP/usage" 2>"$PM_TMP/usage.err" </dev/null
	_h_st=$?
	[ "$_h_st" -eq 0 ] && [ ! -s "$PM_TMP/usage.err" ] &&
		head -n 1 "$PM_TMP/usage" | grep -q "^usage: ${1##*/} "
	tap_ok $? "${1##*/} $2: the usage text on stdout, nothing on stderr, exit 0" ||
		{ tap_diag "exit $_h_st; stdout, then stderr:"
		  tap_diag_file "$PM_TMP/usage"; tap_diag_file "$PM_TMP/usage.err"; }
}

# bad_option PROGRAM: one case: an unknown option is a usage error: exit
# 2, nothing on stdout, something on stderr.
bad_option() {
	"$1" -Z >"$PM_TMP/bad.out" 2>"$PM_TMP/bad.err" </dev/null
	_bo_st=$?
	[ "$_bo_st" -eq 2 ] && [ ! -s "$PM_TMP/bad.out" ] && [ -s "$PM_TMP/bad.err" ]
	tap_ok $? "${1##*/} -Z: exit 2, the error on stderr, nothing on stdout" ||
		{ tap_diag "exit $_bo_st; stdout:"; tap_diag_file "$PM_TMP/bad.out"; }
}

# check_options PAGE PROGRAM ARG: help PROGRAM ARG, then one case: PAGE
# names every option of the usage text.
check_options() {
	_co_page=$1
	shift
	help "$@"
	# long options anywhere; short ones opening an option: "[-c", "  -h,"
	{
		grep -oE -- '--[a-z][a-z0-9-]*' "$PM_TMP/usage"
		grep -oE -- '(\[|^ +)-[A-Za-z]([] ,]|$)' "$PM_TMP/usage" |
			sed 's/^[[ ]*//; s/[] ,]$//'
	} | sort -u >"$PM_TMP/opts"
	man_src "$DOC/$_co_page" >"$PM_TMP/src"
	_co_missing=
	while read -r _co_opt; do
		grep -qE -- "(^|[^A-Za-z0-9-])$_co_opt([^A-Za-z0-9-]|\$)" \
			"$PM_TMP/src" || _co_missing="$_co_missing $_co_opt"
	done <"$PM_TMP/opts"
	_co_n=$(wc -l <"$PM_TMP/opts")
	[ "$_co_n" -gt 1 ] && [ -z "$_co_missing" ]
	tap_ok $? "$_co_page: the $_co_n options of \"${1##*/} ${2:-}\" ($(tr '\n' ' ' <"$PM_TMP/opts"| sed 's/ $//'))" ||
		{ tap_diag "missing:$_co_missing"; tap_diag_file "$PM_TMP/usage"; }
}
check_options portmilter.8 "$top_builddir/milter/portmilter" -h
check_options portmilter-conf.8 "$top_builddir/postfix-conf/portmilter-conf" --help
check_options portmilter-report.1 "$top_builddir/report/portmilter-report" --help
check_options portmilter-probe.1 "$top_builddir/probe/portmilter-probe" --help
check_options portmilter-watch.8 "$top_builddir/watch/portmilter-watch" -h
for prog in postfix-conf/portmilter-conf report/portmilter-report \
	probe/portmilter-probe; do
	help "$top_builddir/$prog" -h
done
for prog in milter/portmilter postfix-conf/portmilter-conf \
	report/portmilter-report probe/portmilter-probe watch/portmilter-watch; do
	bad_option "$top_builddir/$prog"
done

# ---- make install-man ---------------------------------------------------------

prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
make -C "$top_builddir" install-man DESTDIR="$PM_TMP/inst" \
	>"$PM_TMP/install.log" 2>&1
tap_ok $? "make install-man DESTDIR=... (prefix $prefix)" ||
	tap_diag_file "$PM_TMP/install.log"
for p in $PAGES; do
	f=$PM_TMP/inst$prefix/share/man/man${p##*.}/$p
	cmp -s "$DOC/$p" "$f"
	tap_ok $? "installed as $prefix/share/man/man${p##*.}/$p" ||
		{ tap_diag "not found or different: $f"; find "$PM_TMP/inst" -type f |
			tap_diag_file -; }
done

tap_plan
