#!/bin/sh
# recipes - README.Debian's "SASL and TLS" recipes run as written, on a
# throwaway Postfix whose smtpd services are chrooted as on Debian: the
# certificate line (a snakeoil-like self-signed pair) and the Cyrus
# sasldb recipe, its commands taken from README.Debian itself with
# Postfix's directories moved into the test's temporary directory
# (/etc/postfix -> the config directory, /var/spool/postfix -> the queue
# directory, the chroot) and "postconf -e" given that directory. Then
# portmilter-conf check notes neither a missing certificate nor a
# missing SASL setup, apply writes chrooted services, the milter starts,
# step 6's start-or-reload line starts Postfix (not running yet) and
# then reloads it (running), and swaks logs in as the recipe's user over STARTTLS
# (587) and implicit TLS (465): 235. Then the Dovecot recipe (its
# configuration lines in a private dovecot.conf with a passwd-file
# passdb, its postconf line, step 6 again): the auth socket in the
# chroot, no note, a Dovecot user logs in (skipped without
# dovecot-core). Prints TAP.
# Needs root, postfix, swaks, saslpasswd2, openssl, script, ss.

. "${top_srcdir:?}/tests/conf/lib.sh"

README=$top_srcdir/debian/README.Debian
PASSWORD=recipe-Secret-5

if [ "$(id -u)" -ne 0 ]; then
	tap_skip_all "needs root (Postfix's master)"
fi
for t in postfix postconf swaks saslpasswd2 openssl script ss; do
	if ! command -v "$t" >/dev/null 2>&1; then
		tap_skip_all "$t not installed"
	fi
done
pm_tmp_setup
chmod 755 "$PM_TMP"
recipes_cleanup() {
	pc_pf_cleanup
	# master(8) closes its listeners a moment after "postfix stop".
	[ -z "${PC_OFFSET:-}" ] || pc_wait_listening_gone $((587 + PC_OFFSET))
	if [ -n "$PM_PID" ]; then
		pm_stop || :
	fi
}
# pc_wait_listening_gone PORT: bounded wait (5 s) for no listener on PORT
pc_wait_listening_gone() {
	_wg_i=0
	while pc_listening "$1" && [ "$_wg_i" -lt 50 ]; do
		sleep 0.1
		_wg_i=$((_wg_i + 1))
	done
}
# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK=recipes_cleanup

pc_pick_ports || { echo "Bail out! no free set of ports"; exit 99; }
PF=$PM_TMP/pf
Q=$PM_TMP/queue

# section_cmds FIRST LAST: the commands README.Debian shows (indented two
# spaces) from the paragraph starting with FIRST to the one with LAST,
# backslash continuations joined, one command a line.
section_cmds() {
	awk -v first="$1" -v last="$2" '
		index($0, first) == 1 { on = 1; next }
		on && index($0, last) == 1 { exit }
		on && (/^  [^ ]/ || (line != "" && /^   /)) {
			sub(/^ +/, "")
			line = line $0
			if (line ~ /\\$/) { sub(/\\$/, "", line); next }
			print line; line = "" }' "$README" |
		sed 's/   */ /g'
}

# moved: README.Debian's paths moved into this test's Postfix
moved() {
	sed -e "s|/var/spool/postfix|$Q|g" -e "s|/etc/postfix/|$PF/|g" \
		-e "s|postconf -e|postconf -c $PF -e|" \
		-e "s|saslpasswd2 -c|saslpasswd2 -p -c|" \
		-e "s|/etc/ssl/private/ssl-cert-snakeoil.key|$PM_TMP/snakeoil.key|" \
		-e "s|/etc/ssl/certs/ssl-cert-snakeoil.pem|$PM_TMP/snakeoil.pem|"
}

# ---- the recipes, from README.Debian -----------------------------------

section_cmds 'The certificate. ' 'Your own' | moved >"$PM_TMP/cert.sh"
section_cmds 'Cyrus SASL with its own password file' 'alice then logs in' |
	grep -v '^apt install ' | moved >"$PM_TMP/sasl.sh"
grep -q 'smtpd_tls_chain_files' "$PM_TMP/cert.sh" &&
	grep -q '^saslpasswd2 ' "$PM_TMP/sasl.sh" && grep -q 'smtpd.conf' "$PM_TMP/sasl.sh"
tap_ok $? "README.Debian has the certificate line and the Cyrus sasldb recipe" ||
	{ tap_diag_file "$PM_TMP/cert.sh"; tap_diag_file "$PM_TMP/sasl.sh"; }

mkdir -p "$Q/portmilter" "$PM_TMP/journal" || exit 99
pc_pf_setup "$PF" "mynetworks = 127.0.0.0/32" || exit 99
# A snakeoil-like pair, as ssl-cert's make-ssl-cert makes it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mail.example.test \
	-keyout "$PM_TMP/snakeoil.key" -out "$PM_TMP/snakeoil.pem" \
	>"$PM_TMP/openssl.out" 2>&1 || { tap_diag_file "$PM_TMP/openssl.out"; exit 99; }
sh -e "$PM_TMP/cert.sh" >"$PM_TMP/cert.out" 2>&1
tap_ok $? "the certificate line runs" || tap_diag_file "$PM_TMP/cert.out"
echo "$PASSWORD" | sh -e "$PM_TMP/sasl.sh" >"$PM_TMP/sasl.out" 2>&1
st=$?
[ "$st" -eq 0 ] && [ -s "$Q/etc/sasldb2" ] && [ -f "$PF/sasl/smtpd.conf" ]
tap_ok $? "the Cyrus recipe runs: $PF/sasl/smtpd.conf and the sasldb in the chroot ($Q/etc/sasldb2)" ||
	{ tap_diag "exit $st"; tap_diag_file "$PM_TMP/sasl.sh"; tap_diag_file "$PM_TMP/sasl.out"; }

# ---- portmilter-conf with chrooted services ----------------------------

CONF=$PM_TMP/portmilter.conf
pc_pm_conf "$CONF" "milter_socket = unix:$Q/portmilter/portmilter.sock" \
	"journal_directory = $PM_TMP/journal" "local_domains = example.test" \
	"database = dbname=none host=/nonexistent"
pc_run -c "$CONF" check --postfix-dir "$PF"
! grep -q 'no server certificate\|SASL is not set up' "$PC_OUT" && [ "$PC_ST" -le 1 ]
tap_ok $? "portmilter-conf check after the recipes: no certificate or SASL note" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
pc_run -c "$CONF" apply --postfix-dir "$PF"
postconf -c "$PF" -M | awk '$2 == "inet" && $5 != "y"' >"$PM_TMP/unchrooted"
[ "$PC_ST" -eq 0 ] && [ ! -s "$PM_TMP/unchrooted" ]
tap_ok $? "portmilter-conf apply: every smtpd service chrooted (as on Debian)" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; tap_diag_file "$PM_TMP/unchrooted"; }

pm_start "$CONF" "unix:$Q/portmilter/portmilter.sock" "$PM_TMP/portmilter.log" &&
	chgrp postfix "$Q/portmilter/portmilter.sock"
started=$?
# Step 6's start-or-reload line (no systemd here), run twice: Postfix
# not running yet (a fresh install: it must start), then running (it
# must reload, not fail).
touch -d '-10 seconds' "$PF/main.cf" "$PF/master.cf"
grep '^ *postfix status' "$README" | sed 's/^ *//' |
	sed "s|postfix |postfix -c $PF |g" >"$PM_TMP/step6.sh"
# shellcheck disable=SC2034 # read by pc_pf_cleanup (tests/conf/lib.sh)
PC_PF_STARTED=yes	# for pc_pf_cleanup, whatever happens next
[ "$started" -eq 0 ] && [ -s "$PM_TMP/step6.sh" ] &&
	sh "$PM_TMP/step6.sh" >"$PM_TMP/pf-start.out" 2>&1 &&
	pc_wait_listening $((587 + PC_OFFSET)) && pc_wait_listening $((465 + PC_OFFSET))
if ! tap_ok $? "the milter starts; README.Debian step 6 starts Postfix when it is not running: $(cat "$PM_TMP/step6.sh")"; then
	tap_diag_file "$PM_TMP/portmilter.log"
	tap_diag_file "$PM_TMP/pf-start.out"
	tap_diag_file "$PC_PF_LOG"
fi
# (master logs the reload after the command returns: wait for the line)
sh "$PM_TMP/step6.sh" >"$PM_TMP/pf-reload.out" 2>&1 &&
	{ pm_wait_log "$PC_PF_LOG" 'reload -- version' 100 ||
	  pm_wait_log "$PC_PF_LOG" 'reload configuration' 1; }
tap_ok $? "README.Debian step 6 again, Postfix running: it reloads" ||
	{ tap_diag_file "$PM_TMP/pf-reload.out"; tail -n 5 "$PC_PF_LOG" | tap_diag_file -; }

# ---- the recipe's user logs in ------------------------------------------

# login NAME PORT TLS-OPTION: AUTH PLAIN as alice@example.org gets 235.
login() {
	swaks --server 127.0.0.1 --port "$2" "$3" --auth PLAIN \
		--auth-user alice@example.org --auth-password "$PASSWORD" \
		--quit-after AUTH --timeout 10 >"$PM_TMP/$1.out" 2>&1
	_l_st=$?
	[ "$_l_st" -eq 0 ] && grep -q '^<~* *235 ' "$PM_TMP/$1.out"
	tap_ok $? "$1: AUTH PLAIN as alice@example.org: 235" ||
		{ tap_diag "swaks exit $_l_st"; tap_diag_file "$PM_TMP/$1.out"; }
}
login "587 STARTTLS" $((587 + PC_OFFSET)) --tls
login "465 implicit TLS" $((465 + PC_OFFSET)) --tlsc
# ---- Dovecot's auth socket instead ---------------------------------------

# README.Debian's Dovecot recipe: its configuration lines go into a
# private dovecot.conf (with a passwd-file passdb: "Dovecot already
# serves the mailboxes"), its postconf line into this Postfix; then
# Postfix reloads and a Dovecot user logs in.
DOVECOT=$(command -v dovecot || :)
DC=$PM_TMP/dovecot
dovecot_stop() {
	[ -f "$DC/run/master.pid" ] && "$DOVECOT" -c "$DC/dovecot.conf" stop >/dev/null 2>&1
	return 0
}
if [ -z "$DOVECOT" ] || ! getent passwd dovecot >/dev/null; then
	for t in recipe check login; do
		tap_skip "Dovecot $t: dovecot-core not installed"
	done
else
	# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
	PM_CLEANUP_HOOK="dovecot_stop; recipes_cleanup"
	awk '/^Dovecot.s authentication/ { on = 1; next }
		on && /^portmilter-conf check/ { exit }
		on && /^  / { print substr($0, 3) }' "$README" | moved >"$PM_TMP/dovecot.lines"
	grep -vE '^(systemctl|postconf|postfix) ' "$PM_TMP/dovecot.lines" >"$PM_TMP/dovecot.snippet"
	grep -E '^postconf ' "$PM_TMP/dovecot.lines" >"$PM_TMP/dovecot.sh"
	mkdir -p "$DC/run" "$DC/state" && chmod 755 "$DC" &&
		echo "bob@example.org:{PLAIN}dovecot-Secret-3" >"$DC/users"
	cat >"$DC/dovecot.conf" <<EOC
base_dir = $DC/run
state_dir = $DC/state
log_path = $DC/dovecot.log
protocols =
ssl = no
passdb {
  driver = passwd-file
  args = $DC/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
!include $PM_TMP/dovecot.snippet
EOC
	grep -q 'unix_listener' "$PM_TMP/dovecot.snippet" &&
		grep -q 'smtpd_sasl_type=dovecot' "$PM_TMP/dovecot.sh" &&
		"$DOVECOT" -c "$DC/dovecot.conf" >"$DC/start.out" 2>&1 &&
		sh -e "$PM_TMP/dovecot.sh" >>"$DC/start.out" 2>&1 &&
		sh "$PM_TMP/step6.sh" >>"$DC/start.out" 2>&1
	tap_ok $? "README.Debian's Dovecot recipe: Dovecot listens in the chroot, Postfix uses it" ||
		{ tap_diag_file "$PM_TMP/dovecot.lines"; tap_diag_file "$DC/start.out"; tap_diag_file "$DC/dovecot.log"; }
	i=0
	while [ ! -S "$Q/private/auth" ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	pc_run -c "$CONF" check --postfix-dir "$PF"
	[ -S "$Q/private/auth" ] && ! grep -q 'SASL is not set up' "$PC_OUT" && [ "$PC_ST" -le 1 ]
	tap_ok $? "Dovecot: the socket $Q/private/auth exists, no SASL note" ||
		{ ls -la "$Q/private" | tap_diag_file -; tap_diag_file "$PC_OUT"; }
	sleep 1	# the reload's new smtpd processes
	swaks --server 127.0.0.1 --port $((587 + PC_OFFSET)) --tls --auth PLAIN \
		--auth-user bob@example.org --auth-password dovecot-Secret-3 \
		--quit-after AUTH --timeout 10 >"$PM_TMP/dovecot-login.out" 2>&1 &&
		grep -q '^<~* *235 ' "$PM_TMP/dovecot-login.out"
	tap_ok $? "Dovecot: 587 STARTTLS, AUTH PLAIN as bob@example.org: 235" ||
		{ tap_diag_file "$PM_TMP/dovecot-login.out"; tail -n 5 "$PC_PF_LOG" | tap_diag_file -; tap_diag_file "$DC/dovecot.log"; }
fi

! grep -q 'SASL authentication failure\|fatal\|panic' "$PC_PF_LOG"
tap_ok $? "no SASL failure or fatal error in Postfix's log" ||
	grep 'SASL\|fatal\|panic' "$PC_PF_LOG" | tap_diag_file -

tap_plan
