#!/bin/sh
# admin - portmilter-conf apply and check keep an existing Postfix's own
# rules (issue 18), on throwaway configuration directories (postconf -c
# DIR; no Postfix is started): the admin's -o options and main.cf lists
# kept and merged with what portmilter needs, "like" ports inheriting
# the admin's options of the port they are like, a conflict stopping
# apply for that list until --force, check judging properties (not
# strings) and reporting like ports that diverge, and a milter whose
# default_action would accept mail unchecked (issue 9, item 7), and lists
# with braces Postfix cannot parse left to the admin (fuzz finding).
# tests/e2e/admin.sh drives the same setup with a real Postfix. TAP.

. "${top_srcdir:?}/tests/conf/lib.sh"

pc_require_postconf
pm_tmp_setup

CONF=$top_srcdir/etc/portmilter.conf
POLICY=check_policy_service,inet:127.0.0.1:10040

# P DIR KEY: the -o value postconf -P shows for KEY ("svc/inet/param").
P() {
	postconf -c "$1" -P "$2" 2>/dev/null | sed 's/^[^=]* = \{0,1\}//'
}

# has FILE LINE...: every LINE is a whole line of FILE.
has() {
	_h_f=$1
	shift
	for _h_l in "$@"; do
		grep -qxF -- "$_h_l" "$_h_f" || { tap_diag "missing: $_h_l"; return 1; }
	done
}

# ---- the admin's submission service of the issue ---------------------------

PF=$PM_TMP/pf
pc_postfix_dir "$PF" \
	"smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:10040" \
	"smtpd_relay_restrictions = check_policy_service inet:127.0.0.1:10041, permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
cat >>"$PF/master.cf" <<'EOM'
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:10040,permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_sender_login_maps=hash:/etc/postfix/login_maps
EOM

pc_sums "$PF" >"$PM_TMP/sums.0"
pc_run -c "$CONF" apply --postfix-dir "$PF" --dry-run
pc_sums "$PF" >"$PM_TMP/sums.1"
[ "$PC_ST" -eq 0 ] && cmp -s "$PM_TMP/sums.0" "$PM_TMP/sums.1" &&
	has "$PC_OUT" \
	"keep submission/inet/smtpd_recipient_restrictions = $POLICY,permit_sasl_authenticated,reject (the admin's, has what portmilter needs)" \
	"would set 5870/inet/smtpd_sender_restrictions = reject_sender_login_mismatch" \
	"would set 5870/inet/smtpd_recipient_restrictions = $POLICY,permit_sasl_authenticated,reject" \
	"would set 12345/inet/smtpd_sender_login_maps = hash:/etc/postfix/login_maps" \
	"would set submissions/inet/smtpd_recipient_restrictions = $POLICY,permit_sasl_authenticated,reject" \
	"would set smtp/inet/smtpd_relay_restrictions = check_policy_service,inet:127.0.0.1:10041,permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination" &&
	! grep -q 'submission/inet/smtpd_recipient_restrictions = permit_sasl_authenticated,reject' "$PC_OUT"
tap_ok $? "dry run: the admin's 587 list kept, 5870/12345 get 587's options, 465 and 25 start from main.cf's lists; nothing written" ||
	tap_diag_file "$PC_OUT"

pc_run -c "$CONF" apply --postfix-dir "$PF"
[ "$PC_ST" -eq 0 ] &&
	[ "$(P "$PF" submission/inet/smtpd_recipient_restrictions)" = "$POLICY,permit_sasl_authenticated,reject" ]
tap_ok $? "apply: the policy service stays on 587" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }

_ok=0
for _s in 5870 12345; do
	[ "$(P "$PF" $_s/inet/smtpd_sender_restrictions)" = reject_sender_login_mismatch ] &&
		[ "$(P "$PF" $_s/inet/smtpd_sender_login_maps)" = hash:/etc/postfix/login_maps ] &&
		[ "$(P "$PF" $_s/inet/smtpd_recipient_restrictions)" = "$POLICY,permit_sasl_authenticated,reject" ] &&
		[ "$(P "$PF" $_s/inet/syslog_name)" = "postfix/$_s" ] &&
		[ "$(P "$PF" $_s/inet/milter_macro_daemon_name)" = "portmilter/$_s" ] || _ok=1
done
tap_ok $_ok "like = 587: 5870 and 12345 have 587's rules, the admin's included, and their own names" ||
	postconf -c "$PF" -P | tap_diag_file -

[ "$(P "$PF" submissions/inet/smtpd_recipient_restrictions)" = "$POLICY,permit_sasl_authenticated,reject" ] &&
	[ "$(P "$PF" 4650/inet/smtpd_recipient_restrictions)" = "$POLICY,permit_sasl_authenticated,reject" ] &&
	[ "$(P "$PF" smtp/inet/smtpd_relay_restrictions)" = "check_policy_service,inet:127.0.0.1:10041,permit_mynetworks,permit_sasl_authenticated,reject_unauth_destination" ] &&
	[ -z "$(postconf -c "$PF" -P smtp/inet/smtpd_recipient_restrictions 2>/dev/null)" ] &&
	[ -z "$(postconf -c "$PF" -P smtp/inet/syslog_name 2>/dev/null)" ]
tap_ok $? "main.cf's lists: the recipient policy reaches 465/4650, 25's relay copy keeps its policy (defer -> reject), 25 keeps main.cf's recipient list and Postfix's log tag" ||
	postconf -c "$PF" -P | tap_diag_file -

pc_sums "$PF" >"$PM_TMP/sums.2"
pc_run -c "$CONF" apply --postfix-dir "$PF"
pc_sums "$PF" >"$PM_TMP/sums.3"
[ "$PC_ST" -eq 0 ] && [ "$(tail -n 1 "$PC_OUT")" = "no change" ] &&
	cmp -s "$PM_TMP/sums.2" "$PM_TMP/sums.3"
tap_ok $? "a second apply: no change, files untouched" || tap_diag_file "$PC_OUT"
pc_run -c "$CONF" check --postfix-dir "$PF"
tap_ok "$PC_ST" "check after apply: clean (the admin's additions are no drift)" ||
	tap_diag_file "$PC_OUT"

# A rule added to 587 by hand: 5870 and 12345 now differ.
postconf -c "$PF" -P 'submission/inet/smtpd_client_restrictions=check_client_access,cidr:/etc/postfix/blocked,permit_sasl_authenticated,reject'
pc_run -c "$CONF" check --postfix-dir "$PF"
[ "$PC_ST" -eq 1 ] && has "$PC_OUT" \
	"drift: 5870/inet (port 5870, like 587): -o smtpd_client_restrictions=permit_sasl_authenticated,reject differs from submission/inet's check_client_access,cidr:/etc/postfix/blocked,permit_sasl_authenticated,reject" \
	"drift: 12345/inet (port 12345, like 587): -o smtpd_client_restrictions=permit_sasl_authenticated,reject differs from submission/inet's check_client_access,cidr:/etc/postfix/blocked,permit_sasl_authenticated,reject" &&
	! grep -q '^drift: submission/inet' "$PC_OUT"
tap_ok $? "a rule added to 587 by hand: check reports 5870 and 12345, not 587" ||
	tap_diag_file "$PC_OUT"

# One added to 5870 only: reported, never removed.
postconf -c "$PF" -P '5870/inet/smtpd_client_connection_rate_limit=5'
pc_run -c "$CONF" apply --postfix-dir "$PF"
pc_run -c "$CONF" check --postfix-dir "$PF"
[ "$PC_ST" -eq 1 ] && has "$PC_OUT" \
	"drift: 5870/inet (port 5870, like 587) has -o smtpd_client_connection_rate_limit=5 that submission/inet has not: add it there too, or remove it here (postconf -PX 5870/inet/smtpd_client_connection_rate_limit)" &&
	[ "$(grep -c '^drift: ' "$PC_OUT")" -eq 1 ] &&
	[ "$(P "$PF" 12345/inet/smtpd_client_restrictions)" = "check_client_access,cidr:/etc/postfix/blocked,permit_sasl_authenticated,reject" ] &&
	[ "$(P "$PF" 5870/inet/smtpd_client_connection_rate_limit)" = 5 ]
tap_ok $? "apply copies 587's new rule; an option only 5870 has is reported, kept" ||
	tap_diag_file "$PC_OUT"
postconf -c "$PF" -PX 5870/inet/smtpd_client_connection_rate_limit

# ---- properties, not strings --------------------------------------------------

postconf -c "$PF" -P 'submission/inet/smtpd_tls_protocols=>=TLSv1.3' \
	'submission/inet/smtpd_relay_restrictions=$mua_relay_restrictions,permit_sasl_authenticated,reject'
pc_run -c "$CONF" apply --postfix-dir "$PF"
pc_run -c "$CONF" check --postfix-dir "$PF"
tap_ok "$PC_ST" "a stronger TLS floor and a \$name list holding the guard on 587: no drift" ||
	tap_diag_file "$PC_OUT"

postconf -c "$PF" -P 'submission/inet/smtpd_relay_restrictions=permit'
pc_sums "$PF" >"$PM_TMP/sums.4"
pc_run -c "$CONF" apply --postfix-dir "$PF"
pc_sums "$PF" >"$PM_TMP/sums.5"
has "$PC_OUT" "not changed: submission/inet (port 587): -o smtpd_relay_restrictions=permit lacks what portmilter needs (permit_sasl_authenticated, then reject at the end) and is left as it is: it has \"permit\", which lets any client through: --force drops it" &&
	[ "$(P "$PF" submission/inet/smtpd_relay_restrictions)" = permit ] &&
	[ "$(P "$PF" 5870/inet/smtpd_relay_restrictions)" = '$mua_relay_restrictions,permit_sasl_authenticated,reject' ] &&
	[ "$(P "$PF" 12345/inet/smtpd_relay_restrictions)" = '$mua_relay_restrictions,permit_sasl_authenticated,reject' ]
tap_ok $? "a bare permit: apply stops for that list and says what --force drops; the like ports do not copy it" ||
	tap_diag_file "$PC_OUT"
pc_run -c "$CONF" apply --postfix-dir "$PF" --force --dry-run
has "$PC_OUT" "would set submission/inet/smtpd_relay_restrictions = permit_sasl_authenticated,reject (was: permit)"
tap_ok $? "--force --dry-run: shows the permit dropped" || tap_diag_file "$PC_OUT"
pc_run -c "$CONF" apply --postfix-dir "$PF" --force
[ "$(P "$PF" submission/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$PF" 5870/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ]
tap_ok $? "--force: permit dropped on 587, and 5870 follows" || tap_diag_file "$PC_OUT"

# ---- issue 9 item 7: the milter's failure mode is drift ----------------------

pc_run -c "$CONF" check --postfix-dir "$PF"
tap_ok "$PC_ST" "clean before the milter edits" || tap_diag_file "$PC_OUT"
postconf -c "$PF" -e 'smtpd_milters = { unix:/portmilter/portmilter.sock, default_action=accept }'
pc_run -c "$CONF" check --postfix-dir "$PF"
[ "$PC_ST" -eq 1 ] && has "$PC_OUT" \
	"drift: main.cf: smtpd_milters gives unix:/portmilter/portmilter.sock default_action=accept: with the milter down, mail would be accepted unchecked (portmilter.conf says tempfail): remove default_action from the group"
tap_ok $? "check: smtpd_milters = { ours, default_action=accept } is a drift" ||
	tap_diag_file "$PC_OUT"
postconf -c "$PF" -e 'smtpd_milters = unix:/portmilter/portmilter.sock'
postconf -c "$PF" -P 'submissions/inet/milter_default_action=accept'
pc_run -c "$CONF" check --postfix-dir "$PF"
[ "$PC_ST" -eq 1 ] && has "$PC_OUT" \
	"drift: submissions/inet (port 465): -o milter_default_action=accept: with the milter down, mail on this port would be accepted unchecked (portmilter.conf says tempfail)"
tap_ok $? "check: -o milter_default_action=accept on a service is a drift" ||
	tap_diag_file "$PC_OUT"
pc_run -c "$CONF" apply --postfix-dir "$PF"
[ "$(P "$PF" submissions/inet/milter_default_action)" = tempfail ] &&
	[ "$(P "$PF" 4650/inet/milter_default_action)" = tempfail ]
tap_ok $? "apply sets it back to portmilter.conf's (4650 follows 465)" ||
	{ tap_diag_file "$PC_OUT"; postconf -c "$PF" -P | tap_diag_file -; }

# ---- Debian's stock master.cf, submission and submissions uncommented --------

DIST=/usr/share/postfix/master.cf.dist
if [ -r "$DIST" ]; then
	PF2=$PM_TMP/pf2
	pc_postfix_dir "$PF2"
	awk '/^#(submission|submissions) +inet/ { on = 1; sub(/^#/, ""); print; next }
		on && /^#  -o/ { sub(/^#/, ""); print; next }
		on && /^#     / { next }
		{ on = 0; print }' "$DIST" >"$PF2/master.cf"
	pc_run -c "$CONF" apply --postfix-dir "$PF2"
	_st=$PC_ST
	cp "$PC_OUT" "$PM_TMP/dist.out"
	pc_run -c "$CONF" check --postfix-dir "$PF2"
	[ "$_st" -eq 0 ] && [ "$PC_ST" -eq 0 ] &&
		[ "$(P "$PF2" submission/inet/smtpd_recipient_restrictions)" = permit_sasl_authenticated,reject ] &&
		[ "$(P "$PF2" submission/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ] &&
		[ "$(P "$PF2" submission/inet/milter_macro_daemon_name)" = ORIGINATING ] &&
		[ "$(P "$PF2" submission/inet/smtpd_reject_unlisted_recipient)" = no ] &&
		[ "$(P "$PF2" 5870/inet/smtpd_reject_unlisted_recipient)" = no ] &&
		[ "$(P "$PF2" submissions/inet/syslog_name)" = postfix/submissions ]
	tap_ok $? "Debian's master.cf.dist with submission/submissions uncommented: applies, check clean, its settings kept" ||
		{ tap_diag_file "$PM_TMP/dist.out"; tap_diag_file "$PC_OUT"; postconf -c "$PF2" -P | tap_diag_file -; }
else
	tap_skip "no $DIST"
fi

# ---- braces Postfix cannot parse (fuzz finding, issues 9 and 18) -------------
# An element with a "{" left open runs to the end of the list: whatever
# apply appended disappeared into it, and was appended again at every
# run. apply leaves such a list (a service: the whole service) to the
# admin, check names it, and a second and third apply change nothing.

# three_applies DIR: apply three times; PM_TMP/b.out = the first's
# output; 0 when every run exits 0 and only the first changes files.
three_applies() {
	pc_run -c "$CONF" apply --postfix-dir "$1"
	_ta=$PC_ST
	cp "$PC_OUT" "$PM_TMP/b.out"
	pc_sums "$1" >"$PM_TMP/b.sums.1"
	for _r in 2 3; do
		pc_run -c "$CONF" apply --postfix-dir "$1"
		pc_sums "$1" >"$PM_TMP/b.sums.$_r"
		[ "$PC_ST" -eq 0 ] && grep -qx 'no change' "$PC_OUT" ||
			{ tap_diag "apply run $_r: exit $PC_ST"; tap_diag_file "$PC_OUT"; _ta=1; }
		cmp -s "$PM_TMP/b.sums.1" "$PM_TMP/b.sums.$_r" ||
			{ tap_diag "apply run $_r changed $1"; _ta=1; }
	done
	return "$_ta"
}

PF3=$PM_TMP/pf3
pc_postfix_dir "$PF3" "smtpd_milters = inet:localhost:8891 {x" \
	"smtpd_relay_restrictions = permit_mynetworks {reject_unauth_destination"
three_applies "$PF3" &&
	[ "$(postconf -c "$PF3" -h smtpd_milters 2>/dev/null)" = "inet:localhost:8891 {x" ] &&
	[ -z "$(postconf -c "$PF3" -P smtp/inet/smtpd_relay_restrictions 2>/dev/null)" ] &&
	[ "$(P "$PF3" 5870/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ] &&
	has "$PM_TMP/b.out" \
	"not changed: main.cf: smtpd_milters = inet:localhost:8891 {x: its element {x has an unbalanced '{' (Postfix warns \"missing '}'\"); apply leaves smtpd_milters alone (it cannot tell what the list holds) until the braces are fixed by hand" \
	"not changed: smtp/inet (port 25): main.cf's smtpd_relay_restrictions=permit_mynetworks {reject_unauth_destination: its element {reject_unauth_destination has an unbalanced '{' (Postfix warns \"missing '}'\"); apply leaves the list as it is (it cannot tell what it holds) until the braces are fixed by hand"
tap_ok $? "main.cf smtpd_milters and relay list with an unclosed '{': three applies, left alone, said why, files unchanged after the first" ||
	{ tap_diag_file "$PM_TMP/b.out"; postconf -c "$PF3" -n | tap_diag_file -; }
pc_run -c "$CONF" check --postfix-dir "$PF3"
[ "$PC_ST" -eq 1 ] && [ "$(grep -c '^drift: ' "$PC_OUT")" -eq 2 ] &&
	has "$PC_OUT" \
	"drift: main.cf: smtpd_milters = inet:localhost:8891 {x: its element {x has an unbalanced '{' (Postfix warns \"missing '}'\"); apply leaves smtpd_milters alone (it cannot tell what the list holds) until the braces are fixed by hand"
tap_ok $? "check: the unbalanced '{' of smtpd_milters and of the relay list are the drifts" ||
	tap_diag_file "$PC_OUT"
postconf -c "$PF3" -e "smtpd_milters = inet:localhost:8891" \
	"smtpd_relay_restrictions = permit_mynetworks"
pc_run -c "$CONF" apply --postfix-dir "$PF3"
[ "$PC_ST" -eq 0 ] &&
	[ "$(postconf -c "$PF3" -h smtpd_milters)" = "inet:localhost:8891, unix:/portmilter/portmilter.sock" ] &&
	[ "$(P "$PF3" smtp/inet/smtpd_relay_restrictions)" = permit_mynetworks,reject_unauth_destination ]
tap_ok $? "braces fixed by hand: apply wires the milter in once and guards 25" ||
	tap_diag_file "$PC_OUT"

PF4=$PM_TMP/pf4
pc_postfix_dir "$PF4"
cat >>"$PF4/master.cf" <<'EOM'
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,{reject
EOM
sed -n '/^submission /,$p' "$PF4/master.cf" >"$PM_TMP/b.587"
three_applies "$PF4" &&
	sed -n '/^submission /,/^[^ ]/p' "$PF4/master.cf" | sed '$d' |
	cmp -s "$PM_TMP/b.587" - &&
	[ "$(P "$PF4" 5870/inet/smtpd_client_restrictions)" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$PF4" 5870/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$PF4" 12345/inet/smtpd_tls_auth_only)" = yes ] &&
	has "$PM_TMP/b.out" \
	"not changed: submission/inet (port 587): -o smtpd_client_restrictions=permit_sasl_authenticated,{reject: its element {reject has an unbalanced '{' (Postfix warns \"missing '}'\"); postconf cannot edit this service (Postfix reads the rest of its entry into that element): apply leaves submission/inet alone until the braces are fixed by hand"
tap_ok $? "-o smtpd_client_restrictions=...,{reject on 587: three applies, 587 left alone and said why, 5870/12345 get their own section's rules, files unchanged after the first" ||
	{ tap_diag_file "$PM_TMP/b.out"; postconf -c "$PF4" -P | tap_diag_file -; }
pc_run -c "$CONF" check --postfix-dir "$PF4"
[ "$PC_ST" -eq 1 ] && [ "$(grep -c '^drift: ' "$PC_OUT")" -eq 1 ] &&
	has "$PC_OUT" \
	"drift: submission/inet (port 587): -o smtpd_client_restrictions=permit_sasl_authenticated,{reject: its element {reject has an unbalanced '{' (Postfix warns \"missing '}'\"); postconf cannot edit this service (Postfix reads the rest of its entry into that element): apply leaves submission/inet alone until the braces are fixed by hand"
tap_ok $? "check: the service, the parameter and the unbalanced '{' named, the only drift" ||
	tap_diag_file "$PC_OUT"
# 587's chroot field differs from portmilter.conf's: --force changes a
# field, but not on a service postconf cannot edit (postconf -F would
# rewrite its entry as "-o {smtpd_client_restrictions=...,{reject" and
# a line "}": so not used here either).
sed 's/^\(submission inet n       -       \)y/\1n/' "$PF4/master.cf" >"$PM_TMP/b.master" &&
	cat "$PM_TMP/b.master" >"$PF4/master.cf"
sed -n '/^submission /,/^[^ ]/p' "$PF4/master.cf" | sed '$d' >"$PM_TMP/b.587"
pc_run -c "$CONF" apply --postfix-dir "$PF4" --force
[ "$PC_ST" -eq 0 ] && grep -qx 'no change' "$PC_OUT" &&
	sed -n '/^submission /,/^[^ ]/p' "$PF4/master.cf" | sed '$d' |
	cmp -s "$PM_TMP/b.587" -
tap_ok $? "apply --force: 587 still left alone (no postconf -F on it either)" ||
	tap_diag_file "$PC_OUT"

# ---- main.cf lists an existing service saw ----------------------------------
# The admin's 587 has no client, HELO or relay list of its own: main.cf's
# applied to it. The -o lists apply sets there start from main.cf's (the
# admin's map, HELO check and relay policy kept, the guard added), and
# 5870/12345 copy them; a new service (465) gets portmilter's own.

PF5=$PM_TMP/pf5
pc_postfix_dir "$PF5" \
	"smtpd_client_restrictions = check_client_access cidr:/etc/postfix/blocked.cidr" \
	"smtpd_helo_restrictions = reject_invalid_helo_hostname" \
	"smtpd_relay_restrictions = check_policy_service inet:127.0.0.1:10041, permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination"
cat >>"$PF5/master.cf" <<'EOM'
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
EOM
CL=check_client_access,cidr:/etc/postfix/blocked.cidr,permit_sasl_authenticated,reject
HL=reject_invalid_helo_hostname,permit_sasl_authenticated,reject
RL=check_policy_service,inet:127.0.0.1:10041,permit_mynetworks,permit_sasl_authenticated,defer_unauth_destination,reject
pc_run -c "$CONF" apply --postfix-dir "$PF5" --dry-run
[ "$PC_ST" -eq 0 ] && has "$PC_OUT" \
	"would set submission/inet/smtpd_client_restrictions = $CL" \
	"  kept: main.cf's check_client_access cidr:/etc/postfix/blocked.cidr; added: permit_sasl_authenticated,reject" \
	"would set submission/inet/smtpd_helo_restrictions = $HL" \
	"would set submission/inet/smtpd_relay_restrictions = $RL" \
	"  kept: main.cf's check_policy_service inet:127.0.0.1:10041, permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination; added: reject"
tap_ok $? "dry run: 587's client, HELO and relay lists start from main.cf's, shown as kept and added" ||
	tap_diag_file "$PC_OUT"
pc_run -c "$CONF" apply --postfix-dir "$PF5"
_ok=$PC_ST
for _s in submission 5870 12345; do
	[ "$(P "$PF5" $_s/inet/smtpd_client_restrictions)" = "$CL" ] &&
		[ "$(P "$PF5" $_s/inet/smtpd_helo_restrictions)" = "$HL" ] &&
		[ "$(P "$PF5" $_s/inet/smtpd_relay_restrictions)" = "$RL" ] || _ok=1
done
[ "$(P "$PF5" submissions/inet/smtpd_client_restrictions)" = permit_sasl_authenticated,reject ] &&
	[ "$(P "$PF5" submissions/inet/smtpd_relay_restrictions)" = permit_sasl_authenticated,reject ] || _ok=1
tap_ok $_ok "apply: main.cf's client map, HELO check and relay policy kept on 587, 5870 and 12345; the new 465 gets portmilter's lists" ||
	{ tap_diag_file "$PC_OUT"; postconf -c "$PF5" -P | tap_diag_file -; }
pc_sums "$PF5" >"$PM_TMP/sums.6"
pc_run -c "$CONF" apply --postfix-dir "$PF5"
pc_sums "$PF5" >"$PM_TMP/sums.7"
_st=$PC_ST
grep -qx 'no change' "$PC_OUT" && cmp -s "$PM_TMP/sums.6" "$PM_TMP/sums.7" &&
	pc_run -c "$CONF" check --postfix-dir "$PF5" && [ "$_st" -eq 0 ] && [ "$PC_ST" -eq 0 ]
tap_ok $? "a second apply changes nothing, check is clean" || tap_diag_file "$PC_OUT"

# check judges properties: a weaker TLS level or floor, a list without
# its final reject on 587 are drifts (the admin's additions were not).
postconf -c "$PF5" -P 'submission/inet/smtpd_tls_protocols=>=TLSv1' \
	'submission/inet/smtpd_tls_security_level=may' \
	'submission/inet/smtpd_relay_restrictions=check_policy_service,inet:127.0.0.1:10041,permit_sasl_authenticated'
pc_run -c "$CONF" check --postfix-dir "$PF5"
[ "$PC_ST" -eq 1 ] && has "$PC_OUT" \
	"drift: submission/inet (port 587): -o smtpd_tls_security_level=may, portmilter.conf implies encrypt" \
	"drift: submission/inet (port 587): -o smtpd_tls_protocols=>=TLSv1, portmilter.conf implies >=TLSv1.2" \
	"drift: submission/inet (port 587): -o smtpd_relay_restrictions=check_policy_service,inet:127.0.0.1:10041,permit_sasl_authenticated lacks what portmilter needs: kept, with reject added"
tap_ok $? "check: a weaker TLS level, a weaker TLS floor and a relay list without its final reject on 587 are drifts" ||
	tap_diag_file "$PC_OUT"

# A like port's own section wins over what it copies from 587.
PF6=$PM_TMP/pf6
pc_postfix_dir "$PF6"
cat >>"$PF6/master.cf" <<'EOM'
submission inet n       -       y       -       -       smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
EOM
sed 's/^\[port 5870\]$/&\nmin_tls_version = TLSv1.3\ntls_before_auth = no/' "$CONF" >"$PM_TMP/own.conf"
pc_run -c "$PM_TMP/own.conf" apply --postfix-dir "$PF6"
[ "$PC_ST" -eq 0 ] &&
	[ "$(P "$PF6" 5870/inet/smtpd_sender_restrictions)" = reject_sender_login_mismatch ] &&
	[ "$(P "$PF6" 5870/inet/smtpd_tls_protocols)" = ">=TLSv1.3" ] &&
	[ "$(P "$PF6" 5870/inet/smtpd_tls_auth_only)" = no ] &&
	[ "$(P "$PF6" 12345/inet/smtpd_tls_protocols)" = ">=TLSv1.2" ] &&
	[ "$(P "$PF6" 12345/inet/smtpd_tls_auth_only)" = yes ] &&
	pc_run -c "$PM_TMP/own.conf" check --postfix-dir "$PF6" && [ "$PC_ST" -eq 0 ]
tap_ok $? "like = 587 with a section of its own (min_tls_version, tls_before_auth): 5870 copies the admin's sender check, keeps its own TLS floor and AUTH setting; check clean" ||
	{ tap_diag_file "$PC_OUT"; postconf -c "$PF6" -P | tap_diag_file -; }

tap_plan
