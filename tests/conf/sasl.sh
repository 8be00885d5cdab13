#!/bin/sh
# sasl - portmilter-conf check and apply warn when TLS ports have no
# server certificate (none in main.cf, or a file it names missing: the
# chain files, the certificate, its key) and when ports offer AUTH but
# Postfix has no SASL setup it can use (postfix-conf/sasl.h), against
# throwaway Postfix configuration directories (postconf -c DIR; no
# Postfix is started): Cyrus with no smtpd.conf and no sasldb, then the
# default sasldb in the chroot (no note: Cyrus's defaults work), a
# smtpd.conf whose sasldb is outside the chroot, then inside it (no
# note), saslauthd (not checked), Dovecot without and with its auth
# socket, and apply printing the same note. Prints TAP.

. "${top_srcdir:?}/tests/conf/lib.sh"

pc_require_postconf
pm_tmp_setup

PF=$PM_TMP/pf
Q=$PM_TMP/queue
SASL=$PM_TMP/sasl
mkdir -p "$Q" "$SASL"
# The shipped file, its socket inside this queue directory (the chroot).
CONF=$PM_TMP/portmilter.conf
sed "s|^#milter_socket = unix:/var/spool/postfix/|milter_socket = unix:$Q/|" \
	"$top_srcdir/etc/portmilter.conf" >"$CONF"
pc_postfix_dir "$PF" "queue_directory = $Q" "cyrus_sasl_config_path = $SASL"
AUTH_PORTS="465, 587, 4650, 5870, 12345"
NOTE="note: ports $AUTH_PORTS offer AUTH, but Postfix's SASL is not set up:"

# ---- the certificate ---------------------------------------------------

TLS_PORTS="465, 587, 4650, 5870, 12345"
# cert_note_is NAME TEXT: check prints exactly the certificate note
# TEXT ("" = no certificate note at all).
cert_note_is() {
	pc_run -c "$CONF" check --postfix-dir "$PF"
	[ "$PC_ST" -le 1 ] || { tap_ok 1 "$1"; tap_diag_file "$PC_ERR"; return; }
	if [ -n "$2" ]; then
		grep -qxF "$2" "$PC_OUT"
	else
		! grep -q "certificate" "$PC_OUT"
	fi
	tap_ok $? "$1" || { tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
}

cert_note_is "no certificate in main.cf: the note says the TLS ports cannot work" \
	"note: main.cf has no server certificate (smtpd_tls_chain_files and smtpd_tls_cert_file are empty): ports $TLS_PORTS require TLS and cannot accept mail until one is set"
# Debian's "Internet Site" main.cf names the snakeoil pair, which
# ssl-cert makes: without it the files are missing.
postconf -c "$PF" -e "smtpd_tls_cert_file = $PM_TMP/snakeoil.pem" \
	"smtpd_tls_key_file = $PM_TMP/snakeoil.key"
cert_note_is "a certificate file named in main.cf but missing: the note names it" \
	"note: main.cf's server certificate is missing (smtpd_tls_cert_file = $PM_TMP/snakeoil.pem: no such file): ports $TLS_PORTS require TLS and cannot accept mail until it exists (README.Debian, \"SASL and TLS\")"
: >"$PM_TMP/snakeoil.pem"
cert_note_is "the certificate there, its key missing: the note names the key" \
	"note: main.cf's server certificate is missing (smtpd_tls_key_file = $PM_TMP/snakeoil.key: no such file): ports $TLS_PORTS require TLS and cannot accept mail until it exists (README.Debian, \"SASL and TLS\")"
: >"$PM_TMP/snakeoil.key"
cert_note_is "the certificate and its key there: no certificate note" ""
postconf -c "$PF" -e "smtpd_tls_cert_file =" "smtpd_tls_key_file =" \
	"smtpd_tls_chain_files = $PM_TMP/snakeoil.key, $PM_TMP/chain.pem"
cert_note_is "smtpd_tls_chain_files with a missing file: the note names it" \
	"note: main.cf's server certificate is missing (smtpd_tls_chain_files = $PM_TMP/chain.pem: no such file): ports $TLS_PORTS require TLS and cannot accept mail until it exists (README.Debian, \"SASL and TLS\")"
: >"$PM_TMP/chain.pem"
cert_note_is "smtpd_tls_chain_files, every file there: no certificate note" ""

# ---- SASL ---------------------------------------------------------------

# note_is NAME WHAT: check prints the SASL note, WHAT being its reason
# ("" = no SASL note at all).
note_is() {
	pc_run -c "$CONF" check --postfix-dir "$PF"
	# 0 or 1 (drifts): check ran and compared.
	[ "$PC_ST" -le 1 ] || { tap_ok 1 "$1"; tap_diag_file "$PC_ERR"; return; }
	if [ -n "$2" ]; then
		grep -qxF "$NOTE $2; every AUTH will fail (README.Debian, \"SASL and TLS\")" "$PC_OUT"
	else
		! grep -q "SASL is not set up" "$PC_OUT"
	fi
	tap_ok $? "$1" || { tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
}

note_is "cyrus, no smtpd.conf and no sasldb: the note names the directories and the default sasldb" \
	"smtpd_sasl_type = cyrus, no smtpd.conf in $SASL, so Cyrus SASL's default sasldb /etc/sasldb2, and $Q/etc/sasldb2 does not exist (smtpd is chrooted: it opens the sasldb inside the chroot)"

# No smtpd.conf, the default sasldb in the chroot: AUTH works (seen with
# a real Postfix), no note.
mkdir -p "$Q/etc" && : >"$Q/etc/sasldb2"
note_is "cyrus, no smtpd.conf but /etc/sasldb2 in the chroot (the defaults work): no SASL note" ""
rm -f "$Q/etc/sasldb2"

printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: /etc/sasldb2\n' \
	>"$SASL/smtpd.conf"
note_is "cyrus, smtpd.conf with a sasldb outside the chroot: the note says where it must be" \
	"smtpd_sasl_type = cyrus, $SASL/smtpd.conf uses sasldb /etc/sasldb2, and $Q/etc/sasldb2 does not exist (smtpd is chrooted: it opens the sasldb inside the chroot)"

: >"$Q/etc/sasldb2"
note_is "cyrus, smtpd.conf and the sasldb inside the chroot: no SASL note" ""

printf 'pwcheck_method: saslauthd\n' >"$SASL/smtpd.conf"
rm -f "$Q/etc/sasldb2"
note_is "cyrus with saslauthd: not checked, no SASL note" ""

postconf -c "$PF" -e smtpd_sasl_type=dovecot smtpd_sasl_path=private/auth
note_is "dovecot, no auth socket: the note names the socket" \
	"smtpd_sasl_type = dovecot and Dovecot's auth socket $Q/private/auth (smtpd_sasl_path = private/auth) does not exist"

mkdir -p "$Q/private"
if command -v python3 >/dev/null; then
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
		"$Q/private/auth"
	note_is "dovecot, the auth socket exists: no SASL note" ""
else
	tap_skip "dovecot with a socket: no python3 to make one"
fi

rm -f "$Q/private/auth"
pc_run -c "$CONF" apply --postfix-dir "$PF"
[ "$PC_ST" -eq 0 ] && grep -qF "$NOTE smtpd_sasl_type = dovecot" "$PC_OUT"
tap_ok $? "apply: exit 0 and the same note" || { tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }

tap_plan
