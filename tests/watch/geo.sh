#!/bin/sh
# geo.sh - watch/geo.c (country and AS number of an address) on MaxMind
# databases made by the test (tests/watch/mkmmdb.pl, Debian's
# libmaxmind-db-writer-perl), through tests/watch/geo_driver (TAP).
#
# The expected answers are worked out by hand from mkmmdb.pl's networks:
# IPv4, IPv6, IPv4-mapped IPv6, a country only under registered_country,
# an address in one file only, addresses in neither, strings that are
# not addresses; then geo_open()'s refusals (a missing file, a file that
# is not a database, the two files swapped) and a geo with no file.
#
# Environment: top_srcdir, top_builddir (set by the automake harness).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
driver=$builddir/tests/watch/geo_driver
. "$srcdir/tests/lib/tap.sh"

if ! perl -MMaxMind::DB::Writer::Tree -e 1 >/dev/null 2>&1; then
	tap_skip_all "MaxMind::DB::Writer missing (Debian package libmaxmind-db-writer-perl)"
fi
if [ ! -x "$driver" ]; then
	echo "Bail out! $driver is not built"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/geo-test.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

if ! perl "$srcdir/tests/watch/mkmmdb.pl" "$tmp/country.mmdb" "$tmp/asn.mmdb" \
	>"$tmp/mk.log" 2>&1; then
	tap_diag_file "$tmp/mk.log"
	echo "Bail out! mkmmdb.pl failed"
	exit 1
fi

# look NAME ADDR WANT [OPTIONS]: the driver's line for ADDR is WANT.
look() {
	_l_name=$1 _l_addr=$2 _l_want=$3
	shift 3
	_l_got=$("$driver" "$@" "$_l_addr" 2>"$tmp/err")
	[ "$_l_got" = "$_l_addr $_l_want" ] && [ ! -s "$tmp/err" ]
	if ! tap_ok $? "$_l_name"; then
		tap_diag "got: $_l_got"
		tap_diag_file "$tmp/err"
	fi
}
both="-c $tmp/country.mmdb -a $tmp/asn.mmdb"

# shellcheck disable=SC2086 # $both is two options and their paths
{
look "IPv4 in both files" 192.0.2.7 "CZ 64500 found" $both
look "IPv4 in a /25 of the country file, the /24 of the ASN file" \
	198.51.100.1 "BR 4200000001 found" $both
look "IPv4 outside the /25: AS number only (above 2^31)" \
	198.51.100.200 "- 4200000001 found" $both
look "country only under registered_country" 203.0.113.5 "JP 0 found" $both
look "IPv6 in both files" 2001:db8:1::5 "DE 64501 found" $both
look "IPv6 in the country file only" 2001:db8:2:3::1 "US 0 found" $both
look "IPv4-mapped IPv6 looked up as IPv4" ::ffff:192.0.2.9 "CZ 64500 found" $both
look "IPv4 in neither file" 10.0.0.1 "- 0 missing" $both
look "IPv6 in neither file" 2001:db8:3::1 "- 0 missing" $both
look "a host name is not resolved" localhost "- 0 missing" $both
look "a CIDR is not an address" 192.0.2.1/24 "- 0 missing" $both
look "junk" "192.0.2.7; DROP" "- 0 missing" $both
look "country file alone" 192.0.2.7 "CZ 0 found" -c "$tmp/country.mmdb"
look "ASN file alone" 2001:db8:1::5 "- 64501 found" -a "$tmp/asn.mmdb"
look "no file: every lookup misses" 192.0.2.7 "- 0 missing"
}

# refused NAME TEXT OPTIONS...: geo_open fails, saying TEXT.
refused() {
	_r_name=$1 _r_text=$2
	shift 2
	"$driver" "$@" 192.0.2.7 >"$tmp/out" 2>"$tmp/err"
	_r_rc=$?
	[ "$_r_rc" -eq 1 ] && grep -qF -- "$_r_text" "$tmp/err" && [ ! -s "$tmp/out" ]
	if ! tap_ok $? "$_r_name"; then
		tap_diag "exit status $_r_rc, wanted 1 and: $_r_text"
		tap_diag_file "$tmp/err"
	fi
}
printf 'not a database\n' >"$tmp/junk.mmdb"
refused "missing country file" "cannot open the country database \"$tmp/nothere\"" \
	-c "$tmp/nothere"
refused "a file that is not a database" "cannot open the ASN database \"$tmp/junk.mmdb\"" \
	-a "$tmp/junk.mmdb"
refused "ASN file given as the country file" "are the country and ASN files swapped?" \
	-c "$tmp/asn.mmdb"
refused "country file given as the ASN file" "\"$tmp/country.mmdb\" is a \"GeoLite2-Country\" database, not an ASN database" \
	-c "$tmp/country.mmdb" -a "$tmp/country.mmdb"
tap_plan
