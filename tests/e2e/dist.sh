#!/bin/sh
# dist - Debian's stock master.cf submission and submissions services
# (/usr/share/postfix/master.cf.dist, their commented blocks
# uncommented, one restriction in Postfix's $mua_* form) under
# portmilter-conf apply on a real Postfix (tests/e2e/lib.sh; issue 18):
# apply keeps their settings, check is clean, a second apply changes
# nothing, and mail keeps working on 587 and 465 and on the ports like
# them. Needs root. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

DIST=/usr/share/postfix/master.cf.dist
e2e_require
if [ ! -r "$DIST" ]; then
	tap_skip_all "no $DIST"
fi

USER=testuser@example.test

# The two blocks, uncommented, on the test's address and ports, chroot
# off (the test's SASL database is outside any chroot).
dist_setup() {
	awk -v p587="127.0.0.1:$(e2e_port 587)" -v p465="127.0.0.1:$(e2e_port 465)" '
		/^#submission +inet/ { on = 1; $1 = p587; $5 = "n"; print; next }
		/^#submissions +inet/ { on = 1; $1 = p465; $5 = "n"; print; next }
		on && /^#  -o/ { sub(/^#/, ""); print; next }
		on && /^#     / { next }
		{ on = 0 }' "$DIST" |
		sed 's/^\(  -o smtpd_client_restrictions=\)$/\1$mua_client_restrictions/' \
		>>"$E2E_PF/master.cf" &&
	grep -q "^127.0.0.1:$(e2e_port 465) " "$E2E_PF/master.cf" &&
	postconf -c "$E2E_PF" -e "mua_client_restrictions = permit_sasl_authenticated, reject"
}

# shellcheck disable=SC2034 # read by e2e_start (tests/e2e/lib.sh)
E2E_BEFORE_APPLY=dist_setup
T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"
cp "$PC_OUT" "$PM_TMP/apply.out"

S587=127.0.0.1:$(e2e_port 587)
S465=127.0.0.1:$(e2e_port 465)
P() {
	postconf -c "$E2E_PF" -Ph "$1" 2>/dev/null
}
[ "$(P "$S587/inet/smtpd_client_restrictions")" = '$mua_client_restrictions' ] &&
	[ "$(P "$S587/inet/smtpd_recipient_restrictions")" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$S587/inet/smtpd_relay_restrictions")" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$S587/inet/smtpd_reject_unlisted_recipient")" = no ] &&
	[ "$(P "$S587/inet/milter_macro_daemon_name")" = ORIGINATING ] &&
	[ "$(P "$S465/inet/syslog_name")" = postfix/submissions ] &&
	[ "$(P "127.0.0.1:$(e2e_port 5870)/inet/smtpd_client_restrictions")" = '$mua_client_restrictions' ] &&
	[ "$(P "127.0.0.1:$(e2e_port 4650)/inet/smtpd_reject_unlisted_recipient")" = no ]
tap_ok $? "apply keeps the stock services' settings (\$mua_* list, ORIGINATING) and gives them to the like ports" ||
	{ tap_diag_file "$PM_TMP/apply.out"; postconf -c "$E2E_PF" -P | tap_diag_file -; }

pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
tap_ok "$PC_ST" "check: clean" || tap_diag_file "$PC_OUT"
pc_sums "$E2E_PF" >"$PM_TMP/sums.1"
pc_run -c "$E2E_CONF" apply --postfix-dir "$E2E_PF"
pc_sums "$E2E_PF" >"$PM_TMP/sums.2"
[ "$PC_ST" -eq 0 ] && [ "$(tail -n 1 "$PC_OUT")" = "no change" ] &&
	cmp -s "$PM_TMP/sums.1" "$PM_TMP/sums.2"
tap_ok $? "a second apply: no change, files untouched" || tap_diag_file "$PC_OUT"

# row NAME WANT-TEXT PORT ARGS...
row() {
	_r_name=$1 _r_text=$2 _r_port=$3
	shift 3
	swaks --server 127.0.0.1 --port "$_r_port" --helo client.example \
		--timeout 5 "$@" >"$PM_TMP/$_r_name.out" 2>&1
	grep -qF -- "$_r_text" "$PM_TMP/$_r_name.out"
	tap_ok $? "$_r_name: \"$_r_text\"" || tap_diag_file "$PM_TMP/$_r_name.out"
}
for n in 587 5870 12345 465 4650; do
	case $n in 465 | 4650) tls=--tlsc ;; *) tls=--tls ;; esac
	row "$n tls+auth" "250 2.0.0 Ok: queued" "$(e2e_port $n)" $tls \
		--auth PLAIN --auth-user "$USER" --auth-password "$E2E_PASSWORD" \
		--from "$USER" --to carol@remote.example
	row "$n no auth" "530 5.7.0 Authentication required" "$(e2e_port $n)" $tls \
		--from "d$n@client.example" --to carol@remote.example
done

tap_plan
