#!/bin/sh
# apply - portmilter-conf apply and check against throwaway Postfix
# configuration directories (postconf -c DIR; no Postfix is started):
# what apply writes, idempotence (file checksums and mtimes), dry run,
# drift after hand edits, the admin's own services and milters, errors.
# Prints TAP.

. "${top_srcdir:?}/tests/conf/lib.sh"

pc_require_postconf
pm_tmp_setup

CONF=$top_srcdir/etc/portmilter.conf
PF=$PM_TMP/pf
pc_postfix_dir "$PF" "smtpd_milters = inet:localhost:8891"

# apply_ok NAME ARGS...: apply exits 0.
apply_ok() {
	_ao_name=$1
	shift
	pc_run -c "$CONF" apply "$@"
	tap_ok "$PC_ST" "$_ao_name: exit 0" ||
		{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
}

# check_is STATUS NAME [LINE...]: check exits STATUS and prints each LINE.
check_is() {
	_ci_want=$1
	_ci_name=$2
	shift 2
	pc_run -c "$CONF" check --postfix-dir "$PF"
	_ci_ok=0
	[ "$PC_ST" -eq "$_ci_want" ] || _ci_ok=1
	for _ci_line in "$@"; do
		grep -qxF -- "$_ci_line" "$PC_OUT" || _ci_ok=1
	done
	tap_ok "$_ci_ok" "$_ci_name" ||
		{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
}

# ---- dry run on a fresh directory -------------------------------------------

pc_sums "$PF" >"$PM_TMP/sums.0"
pc_run -c "$CONF" apply --postfix-dir "$PF" --dry-run
pc_sums "$PF" >"$PM_TMP/sums.1"
[ "$PC_ST" -eq 0 ] &&
	grep -qxF 'would add service submission/inet (port 587): submission inet n - y - - smtpd' "$PC_OUT" &&
	grep -qxF 'would set smtp/inet/smtpd_sasl_auth_enable = no' "$PC_OUT" &&
	grep -q '^[0-9]* changes would be made in .* (dry run: nothing changed)$' "$PC_OUT" &&
	cmp -s "$PM_TMP/sums.0" "$PM_TMP/sums.1"
tap_ok $? "apply --dry-run: lists the changes, main.cf and master.cf untouched" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }

check_is 1 "check before apply: exit 1, the missing services and settings" \
	"drift: port 5870: no service in master.cf (expected 5870/inet = 5870 inet n - y - - smtpd)" \
	"drift: main.cf: smtpd_milters does not list unix:/portmilter/portmilter.sock: the milter is not wired in" \
	"drift: main.cf: milter_protocol is not set (expected 6: Postfix's default is not a promise)"

# ---- apply, and what Postfix then says --------------------------------------

apply_ok "apply on the shipped config" --postfix-dir "$PF"
postconf -c "$PF" -M | tr -s ' ' | sed 's/ -o .*//' >"$PM_TMP/M"
cat >"$PM_TMP/M.want" <<'EOM'
smtp inet n - y - - smtpd
pickup unix n - y 60 1 pickup
cleanup unix n - y - 0 cleanup
qmgr unix n - n 300 1 qmgr
submissions inet n - y - - smtpd
submission inet n - y - - smtpd
4650 inet n - y - - smtpd
5870 inet n - y - - smtpd
12345 inet n - y - - smtpd
EOM
pc_check_file "postconf -M: the stock smtp kept, five services added" \
	"$PM_TMP/M.want" "$PM_TMP/M"
# -P lists the -o options sorted by name within a service: compare sorted.
postconf -c "$PF" -P | sort >"$PM_TMP/P"
grep '/inet/' "$top_srcdir/tests/conf/master.ref" | sort >"$PM_TMP/P.want"
pc_check_file "postconf -P: exactly the overrides of master.ref" \
	"$PM_TMP/P.want" "$PM_TMP/P"
postconf -c "$PF" -n | grep -v '^config_directory = ' >"$PM_TMP/n"
cat >"$PM_TMP/n.want" <<'EOM'
compatibility_level = 3.6
milter_connect_macros = j {daemon_name} {daemon_addr} v _ {daemon_port} {client_addr} {client_name} {client_port} {tls_version} {cipher} {cipher_bits}
milter_default_action = tempfail
milter_mail_macros = i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer} {tls_version} {cipher} {cipher_bits}
milter_protocol = 6
smtpd_milters = inet:localhost:8891, unix:/portmilter/portmilter.sock
EOM
pc_check_file "postconf -n: the admin's milter kept, ours appended; Postfix's default macros kept, ours added" \
	"$PM_TMP/n.want" "$PM_TMP/n"

pc_sums "$PF" >"$PM_TMP/sums.2"
apply_ok "apply again" --postfix-dir "$PF"
pc_sums "$PF" >"$PM_TMP/sums.3"
[ "$(tail -n 1 "$PC_OUT")" = "no change" ] &&
	! grep -qv '^note: \|^no change$' "$PC_OUT" &&
	cmp -s "$PM_TMP/sums.2" "$PM_TMP/sums.3"
tap_ok $? "apply twice: \"no change\", same checksums and mtimes" ||
	{ tap_diag_file "$PC_OUT"; diff "$PM_TMP/sums.2" "$PM_TMP/sums.3" | tap_diag_file -; }

check_is 0 "check after apply: clean, exit 0" \
	"clean: $PF matches $CONF"

# ---- drift ---------------------------------------------------------------------

postconf -c "$PF" -P 'submission/inet/smtpd_tls_auth_only=no'
check_is 1 "check after a hand edit of an override: exit 1, the drift named" \
	"drift: submission/inet (port 587): -o smtpd_tls_auth_only=no, portmilter.conf implies yes"
postconf -c "$PF" -MX 5870/inet
postconf -c "$PF" -e 'milter_connect_macros = j _' \
	'smtpd_milters = inet:localhost:8891'
check_is 1 "check after removing a service, the milter and macros: every drift listed" \
	"drift: submission/inet (port 587): -o smtpd_tls_auth_only=no, portmilter.conf implies yes" \
	"drift: port 5870: no service in master.cf (expected 5870/inet = 5870 inet n - y - - smtpd)" \
	"drift: main.cf: smtpd_milters does not list unix:/portmilter/portmilter.sock: the milter is not wired in" \
	"drift: main.cf: milter_connect_macros lacks {daemon_port} {daemon_name} {daemon_addr} {client_addr} {client_name} {client_port} {tls_version} {cipher} {cipher_bits}" \
	"4 drifts between $PF and $CONF: portmilter-conf apply fixes the ones it can"
apply_ok "apply after the drift" --postfix-dir "$PF"
postconf -c "$PF" -M | tr -s ' ' | sed 's/ -o .*//' >"$PM_TMP/M"
sed '/^5870 /d; $a\
5870 inet n - y - - smtpd' "$PM_TMP/M.want" >"$PM_TMP/M2.want"
pc_check_file "the removed service is back (appended, as postconf -M does)" \
	"$PM_TMP/M2.want" "$PM_TMP/M"
check_is 0 "check after the second apply: clean" "clean: $PF matches $CONF"

# A port disabled in portmilter.conf: its service stays, reported.
sed 's/^\[port 12345\]$/[port 12345]\nenabled = no/' "$CONF" >"$PM_TMP/off.conf"
pc_run -c "$PM_TMP/off.conf" apply --postfix-dir "$PF"
grep -qxF 'not changed: 12345/inet carries -o milter_macro_daemon_name=portmilter/12345 but portmilter.conf has no enabled port for it: remove it with postconf -MX 12345/inet (apply never removes a service)' "$PC_OUT" &&
	postconf -c "$PF" -M 12345/inet >/dev/null 2>&1 &&
	[ -n "$(postconf -c "$PF" -M 12345/inet)" ]
tap_ok $? "a disabled port: its service is reported, never removed" ||
	tap_diag_file "$PC_OUT"

# ---- services the admin wrote ----------------------------------------------

# Debian's smtps (465) entry, a submission of the admin's with chroot off,
# ORIGINATING for their DKIM signer and a weaker TLS level.
PF2=$PM_TMP/pf2
pc_postfix_dir "$PF2"
cat >>"$PF2/master.cf" <<'EOM'
smtps     inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
submission inet n       -       n       -       20      smtpd
  -o milter_macro_daemon_name=ORIGINATING
  -o smtpd_tls_security_level=may
  -o smtpd_reject_unlisted_recipient=no
EOM
pc_run -c "$CONF" apply --postfix-dir "$PF2"
postconf -c "$PF2" -P >"$PM_TMP/P2"
[ "$PC_ST" -eq 0 ] &&
	grep -qxF 'note: port 465 is served by the existing service smtps/inet (portmilter-conf would name it submissions): used as it is' "$PC_OUT" &&
	grep -qxF 'not changed: submission/inet (port 587): chroot is n, portmilter.conf implies y (postfix_chroot = yes); apply changes it only with --force' "$PC_OUT" &&
	grep -qxF 'note: submission/inet (port 587) keeps -o milter_macro_daemon_name=ORIGINATING, set by the admin (portmilter-conf would set portmilter/587; --force replaces it)' "$PC_OUT" &&
	[ -z "$(postconf -c "$PF2" -M submissions/inet 2>/dev/null)" ] &&
	[ "$(postconf -c "$PF2" -F submission/inet/chroot)" = "submission/inet/chroot = n" ] &&
	[ "$(postconf -c "$PF2" -F submission/inet/process_limit)" = "submission/inet/process_limit = 20" ] &&
	grep -qxF 'submission/inet/milter_macro_daemon_name = ORIGINATING' "$PM_TMP/P2" &&
	grep -qxF 'submission/inet/smtpd_reject_unlisted_recipient = no' "$PM_TMP/P2" &&
	grep -qxF 'submission/inet/smtpd_tls_security_level = encrypt' "$PM_TMP/P2" &&
	grep -qxF 'smtps/inet/syslog_name = postfix/smtps' "$PM_TMP/P2" &&
	grep -qxF 'smtps/inet/smtpd_sasl_auth_enable = yes' "$PM_TMP/P2"
tap_ok $? "existing services: smtps serves 465, fields and naming -o kept and reported, security -o set, the admin's other -o kept" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PM_TMP/P2"; }

pc_run -c "$CONF" check --postfix-dir "$PF2"
[ "$PC_ST" -eq 1 ] && grep -q '^drift: submission/inet (port 587): chroot is n' "$PC_OUT" &&
	! grep -q '^drift: .*ORIGINATING' "$PC_OUT"
tap_ok $? "check: the field difference is a drift, the admin's name a note" ||
	tap_diag_file "$PC_OUT"

apply_ok "apply --force" --postfix-dir "$PF2" --force
[ "$(postconf -c "$PF2" -F submission/inet/chroot)" = "submission/inet/chroot = y" ] &&
	[ "$(postconf -c "$PF2" -F submission/inet/process_limit)" = "submission/inet/process_limit = 20" ] &&
	postconf -c "$PF2" -P | grep -qxF 'submission/inet/milter_macro_daemon_name = portmilter/587' &&
	postconf -c "$PF2" -P | grep -qxF 'submission/inet/smtpd_reject_unlisted_recipient = no'
tap_ok $? "apply --force: chroot and the naming -o replaced; process limit and other -o kept" ||
	{ tap_diag_file "$PC_OUT"; postconf -c "$PF2" -Mf submission | tap_diag_file -; }
pc_run -c "$CONF" check --postfix-dir "$PF2"
tap_ok "$PC_ST" "check after apply --force: clean" || tap_diag_file "$PC_OUT"

# ---- errors -------------------------------------------------------------------

pc_run -c "$CONF" apply --postfix-dir "$PM_TMP/nonexistent"
[ "$PC_ST" -eq 2 ] &&
	grep -qF "$PM_TMP/nonexistent: not a Postfix configuration directory" "$PC_ERR"
tap_ok $? "a bad --postfix-dir: exit 2, explained" || tap_diag_file "$PC_ERR"

pc_run -c "$CONF" check --postfix-dir "$PF" --postconf "$PM_TMP/no-postconf"
[ "$PC_ST" -eq 2 ] && grep -qF "cannot run $PM_TMP/no-postconf" "$PC_ERR"
tap_ok $? "postconf missing: exit 2, explained" || tap_diag_file "$PC_ERR"

printf '#!/bin/sh\necho "postconf: fatal: open /x/main.cf: boom" >&2\nexit 1\n' \
	>"$PM_TMP/bad-postconf"
chmod +x "$PM_TMP/bad-postconf"
pc_run -c "$CONF" apply --postfix-dir "$PF" --postconf "$PM_TMP/bad-postconf"
[ "$PC_ST" -eq 2 ] && grep -qF "postconf: fatal: open /x/main.cf: boom" "$PC_ERR" &&
	grep -qF "failed (exit status 1)" "$PC_ERR"
tap_ok $? "postconf failing: exit 2, its stderr shown" || tap_diag_file "$PC_ERR"

printf '[port 25]\nmode = mx\nmax_recipients = 0\n' >"$PM_TMP/bad.conf"
pc_sums "$PF" >"$PM_TMP/sums.4"
pc_run -c "$PM_TMP/bad.conf" apply --postfix-dir "$PF"
pc_sums "$PF" >"$PM_TMP/sums.5"
[ "$PC_ST" -eq 2 ] && grep -q "^$PM_TMP/bad.conf:3: bad value \"0\" for max_recipients" "$PC_ERR" &&
	cmp -s "$PM_TMP/sums.4" "$PM_TMP/sums.5"
tap_ok $? "a bad config: exit 2 with FILE:LINE, nothing changed" || tap_diag_file "$PC_ERR"

# ---- never half-applied (issue 9, item 2) ------------------------------------

# A postconf that works for -M, -F, -P and the reads, but fails on -e
# (after master.cf was changed), or says yes to -e and writes nothing.
PF3=$PM_TMP/pf3
pc_postfix_dir "$PF3"
for _w in fail-e ignore-e; do
	case $_w in
	fail-e) _act='echo "postconf: fatal: refused for the test" >&2; exit 1' ;;
	*) _act='exit 0' ;;
	esac
	cat >"$PM_TMP/$_w" <<EOW
#!/bin/sh
for a in "\$@"; do
	[ "\$a" = -e ] && { $_act; }
done
exec postconf "\$@"
EOW
	chmod +x "$PM_TMP/$_w"
done
pc_sums "$PF3" >"$PM_TMP/sums.6"
_ok=0
for _w in fail-e ignore-e fail-e; do
	pc_run -c "$CONF" apply --postfix-dir "$PF3" --postconf "$PM_TMP/$_w"
	[ "$PC_ST" -eq 2 ] &&
		grep -qF "nothing changed: main.cf and master.cf in $PF3 are as they were before apply" "$PC_ERR" ||
		{ _ok=1; tap_diag "$_w: exit $PC_ST"; tap_diag_file "$PC_ERR"; }
done
pc_sums "$PF3" >"$PM_TMP/sums.7"
find "$PF3" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort >"$PM_TMP/ls3"
[ "$_ok" -eq 0 ] && cmp -s "$PM_TMP/sums.6" "$PM_TMP/sums.7" &&
	[ "$(cat "$PM_TMP/ls3")" = "$(printf 'main.cf\nmaster.cf')" ]
tap_ok $? "postconf failing part way or not applying: exit 2, main.cf and master.cf as before (three runs, no copies, no temporary files)" ||
	{ tap_diag_file "$PM_TMP/ls3"; diff "$PM_TMP/sums.6" "$PM_TMP/sums.7" | tap_diag_file -; }
pc_run -c "$CONF" apply --postfix-dir "$PF3"
[ "$PC_ST" -eq 0 ] && [ "$(postconf -c "$PF3" -h smtpd_milters)" = unix:/portmilter/portmilter.sock ]
tap_ok $? "then a working postconf: applied once, one milter entry" || tap_diag_file "$PC_OUT"

tap_plan
