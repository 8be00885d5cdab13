#!/bin/sh
# matrix - the shipped six-port layout end to end: real SMTP clients
# (swaks, openssl s_client) against a real Postfix configured by
# portmilter-conf, the milter deciding, PostgreSQL recording
# (tests/e2e/lib.sh). Each row is checked by its SMTP reply, then by its
# database row (port, sasl_user, verdict, rule) once the shipper stored
# it, then per port by `portmilter-report ports`. Also: a hand-added
# smtpd service that trusts every client (port 2525, no [port] section) is
# still no open relay; portmilter-conf check/apply on the live instance.
# Expected values come from README.md and doc/events.md, never from
# output. Needs root. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"

USER=testuser@example.test

# swaks_row NAME WANT-STATUS WANT-TEXT PORT ARGS...: one SMTP session;
# passes when swaks exits WANT-STATUS and its transcript has WANT-TEXT.
# The transcript stays in $PM_TMP/NAME.out.
swaks_row() {
	_sr_name=$1 _sr_want=$2 _sr_text=$3 _sr_port=$4
	shift 4
	swaks --server 127.0.0.1 --port "$_sr_port" --helo client.example \
		--timeout 5 "$@" >"$PM_TMP/$_sr_name.out" 2>&1
	_sr_st=$?
	[ "$_sr_st" -eq "$_sr_want" ] && grep -qF -- "$_sr_text" "$PM_TMP/$_sr_name.out"
	if ! tap_ok $? "$_sr_name: exit $_sr_want and \"$_sr_text\""; then
		tap_diag "swaks exit status $_sr_st"
		tap_diag_file "$PM_TMP/$_sr_name.out"
	fi
}

# no_auth NAME: the EHLO reply of the session NAME has no AUTH line
# (and the session got an EHLO reply at all).
no_auth() {
	grep -q '^<-  250[ -]' "$PM_TMP/$1.out" &&
		! grep -q '^<[-~*]  *250[ -]AUTH' "$PM_TMP/$1.out"
	tap_ok $? "$1: AUTH not offered" || tap_diag_file "$PM_TMP/$1.out"
}

# ---- portmilter-conf on the live configuration ---------------------------

pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
[ "$PC_ST" -eq 0 ] && ! grep -q 'drift' "$PC_OUT"
tap_ok $? "portmilter-conf check is clean after apply" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
pc_sums "$E2E_PF" >"$PM_TMP/sums.1"
pc_run -c "$E2E_CONF" apply --postfix-dir "$E2E_PF"
pc_sums "$E2E_PF" >"$PM_TMP/sums.2"
[ "$PC_ST" -eq 0 ] && grep -q 'no change' "$PC_OUT" &&
	cmp -s "$PM_TMP/sums.1" "$PM_TMP/sums.2"
tap_ok $? "a second apply: \"no change\", main.cf and master.cf untouched" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PM_TMP/sums.1"; tap_diag_file "$PM_TMP/sums.2"; }

# ---- a careless admin's extra service: 2525, no restrictions -------------

P2525=$(e2e_port 2525)
if pc_listening "$P2525"; then
	HAVE2525=
	tap_diag "port $P2525 is taken: the defense-in-depth row is skipped"
else
	HAVE2525=yes
	postconf -c "$E2E_PF" -M \
		"127.0.0.1:$P2525/inet=127.0.0.1:$P2525 inet n - n - - smtpd" &&
	# Postfix refuses to run smtpd with plain "permit" relay and
	# recipient restrictions (fatal: "specify at least one working
	# instance of reject_unauth_destination ..."): the careless admin
	# trusts the whole Internet instead.
	postconf -c "$E2E_PF" -P \
		"127.0.0.1:$P2525/inet/mynetworks=0.0.0.0/0" \
		"127.0.0.1:$P2525/inet/smtpd_relay_restrictions=permit_mynetworks,reject_unauth_destination" \
		"127.0.0.1:$P2525/inet/smtpd_recipient_restrictions=permit" \
		>"$PM_TMP/2525.out" 2>&1
	st=$?
	touch -d '-10 seconds' "$E2E_PF/main.cf" "$E2E_PF/master.cf"
	[ "$st" -eq 0 ] && pc_pf reload >>"$PM_TMP/2525.out" 2>&1 &&
		pc_wait_listening "$P2525"
	tap_ok $? "hand-added service 127.0.0.1:$P2525 listens after reload" ||
		tap_diag_file "$PM_TMP/2525.out"
fi

# ---- 25: mx -----------------------------------------------------------------

P=$(e2e_port 25)
swaks_row "25 local" 0 "250 2.0.0 Ok: queued" "$P" \
	--from r25local@client.example --to alice@example.test
no_auth "25 local"
swaks_row "25 relay" 24 "554 5.7.1 <bob@remote.example>: Relay access denied" "$P" \
	--from r25relay@client.example --to bob@remote.example

# ---- 587, 5870, 12345: submission (STARTTLS) --------------------------------

for n in 587 5870 12345; do
	P=$(e2e_port "$n")
	swaks_row "$n plain" 23 "530 5.7.0 Must issue a STARTTLS command first" "$P" \
		--from "r${n}plain@client.example" --to carol@remote.example
	no_auth "$n plain"
	swaks_row "$n tls+auth" 0 "250 2.0.0 Ok: queued" "$P" --tls \
		--auth PLAIN --auth-user "$USER" --auth-password "$E2E_PASSWORD" \
		--from "r${n}auth@example.test" --to carol@remote.example
	swaks_row "$n tls no auth" 23 "530 5.7.0 Authentication required" "$P" --tls \
		--from "r${n}noauth@client.example" --to carol@remote.example
	swaks_row "$n wrong password" 28 "535 5.7.8" "$P" --tls \
		--auth PLAIN --auth-user "$USER" --auth-password wrong-password \
		--from "r${n}badpw@example.test" --to carol@remote.example
done

# ---- 465, 4650: submissions (implicit TLS) ------------------------------------

for n in 465 4650; do
	P=$(e2e_port "$n")
	swaks_row "$n tlsc+auth" 0 "250 2.0.0 Ok: queued" "$P" --tlsc \
		--auth PLAIN --auth-user "$USER" --auth-password "$E2E_PASSWORD" \
		--from "r${n}auth@example.test" --to carol@remote.example
	# A plaintext client waits for a greeting that never comes.
	bash -c 'exec 3<>/dev/tcp/127.0.0.1/$1 || exit 9
		IFS= read -r -t 2 line <&3; printf "%s" "$line"' _ "$P" \
		>"$PM_TMP/$n.plain" 2>&1
	st=$?
	[ "$st" -ne 9 ] && [ ! -s "$PM_TMP/$n.plain" ]
	tap_ok $? "$n plaintext client: connected, no greeting within 2 s" ||
		{ tap_diag "status $st"; tap_diag_file "$PM_TMP/$n.plain"; }
done

# ---- TLS 1.1 is refused by the server --------------------------------------

# tls11 PORT [STARTTLS-ARGS]: an OpenSSL client allowing TLS 1.1 only,
# at security level 0 so that the client side does not refuse it itself.
tls11() {
	_t_p=$1
	shift
	timeout 10 openssl s_client -connect "127.0.0.1:$_t_p" "$@" -tls1_1 \
		-cipher DEFAULT@SECLEVEL=0 -servername mail.example.test \
		</dev/null >"$PM_TMP/tls11.out" 2>&1
}
# Control: port 25 sets no TLS floor, so this client can do TLS 1.1.
tls11 "$(e2e_port 25)" -starttls smtp
grep -q 'Protocol *: TLSv1.1' "$PM_TMP/tls11.out" &&
	! grep -q 'Cipher is (NONE)' "$PM_TMP/tls11.out"
tap_ok $? "control: the TLS 1.1 client completes a handshake on 25" ||
	tap_diag_file "$PM_TMP/tls11.out"
for n in 587 5870 12345 465 4650; do
	case $n in
	465 | 4650) set -- ;;
	*) set -- -starttls smtp ;;
	esac
	tls11 "$(e2e_port "$n")" "$@"
	st=$?
	[ "$st" -ne 0 ] && grep -q 'alert protocol version' "$PM_TMP/tls11.out" &&
		grep -q 'Cipher is (NONE)' "$PM_TMP/tls11.out"
	tap_ok $? "$n: the server refuses a TLS 1.1 client (protocol version alert)" ||
		tap_diag_file "$PM_TMP/tls11.out"
done

# ---- 2525: no section, no Postfix restrictions: the milter still refuses ---

if [ -n "$HAVE2525" ]; then
	swaks_row "$P2525 unauth relay" 23 \
		"530 5.7.0 Must issue a STARTTLS command first" "$P2525" \
		--from r2525@client.example --to bob@remote.example
	pm_wait_log "$E2E_LOG" "port $P2525 has no section" 20
	tap_ok $? "the milter logs that port $P2525 has no section" ||
		tap_diag_file "$E2E_LOG"
fi

# ---- the database rows ----------------------------------------------------

# Transactions the milter saw: 25: 2; each of 587/5870/12345: 2 (the
# plaintext MAIL is refused by Postfix before the milter, a failed AUTH
# has no MAIL); 465, 4650: 1 each; 2525: 1.
WANT_TXN=$((2 + 3 * 2 + 2 * 1))
[ -n "$HAVE2525" ] && WANT_TXN=$((WANT_TXN + 1))
e2e_wait "$WANT_TXN" \
	"SELECT count(*) FROM portmilter.events WHERE kind = 'transaction'" 15
tap_ok $? "the shipper stored $WANT_TXN transactions" ||
	{ tap_diag "got: $E2E_GOT"; tap_diag_file "$E2E_LOG"; }

# row NAME SENDER WANT: the transaction of SENDER as
# port|sasl_user|verdict|rule|nrcpt|nrcpt_refused|port_known ('-' = NULL).
row() {
	_r_got=$(e2e_sql "SELECT port, coalesce(sasl_user, '-'), verdict,
		coalesce(rule, '-'), nrcpt, nrcpt_refused, port_known
		FROM portmilter.events
		WHERE kind = 'transaction' AND sender = '<$2>'" 2>&1)
	[ "$_r_got" = "$3" ]
	if ! tap_ok $? "db: $1 = $3"; then
		tap_diag "got:    $_r_got"
		tap_diag "wanted: $3"
	fi
}
row "25 local" r25local@client.example "$(e2e_port 25)|-|accepted|-|1|0|t"
# Postfix refuses the relay before the milter's RCPT step: the milter
# counts it in nrcpt_refused without judging it again; every recipient
# was refused, so the transaction is rejected, rule postfix_rejected
# (doc/events.md), and counts among the port's rejects by rule.
row "25 relay (refused by Postfix)" r25relay@client.example \
	"$(e2e_port 25)|-|rejected|postfix_rejected|0|1|t"
for n in 587 5870 12345; do
	P=$(e2e_port "$n")
	row "$n tls+auth" "r${n}auth@example.test" "$P|$USER|accepted|-|1|0|t"
	row "$n tls no auth" "r${n}noauth@client.example" "$P|-|rejected|require_auth|0|0|t"
	row "$n plain (refused by Postfix, no transaction)" \
		"r${n}plain@client.example" ""
done
for n in 465 4650; do
	row "$n tlsc+auth" "r${n}auth@example.test" \
		"$(e2e_port "$n")|$USER|accepted|-|1|0|t"
done
if [ -n "$HAVE2525" ]; then
	row "$P2525 unauth relay" r2525@client.example \
		"$P2525|-|rejected|require_tls|0|0|f"
fi

# ---- portmilter-report ports -------------------------------------------------

# port,transactions,accepted,rejected,aborted from the rows above.
{
	echo "$(e2e_port 25),2,1,1,0"
	for n in 465 587 4650 5870 12345; do
		case $n in
		465 | 4650) echo "$(e2e_port "$n"),1,1,0,0" ;;
		*) echo "$(e2e_port "$n"),2,1,1,0" ;;
		esac
	done
	[ -n "$HAVE2525" ] && echo "$P2525,1,0,1,0"
} | sort -t, -k1,1n >"$PM_TMP/report.want"
"$E2E_REPORT" -d "$E2E_READER" --format csv ports >"$PM_TMP/report.csv" 2>&1
st=$?
head -n 1 "$PM_TMP/report.csv" | grep -q '^port,connections,transactions,accepted,rejected,tempfailed,aborted,' &&
	sed 1d "$PM_TMP/report.csv" | awk -F, '$3 > 0 { print $1 "," $3 "," $4 "," $5 "," $7 }' |
	sort -t, -k1,1n >"$PM_TMP/report.got"
[ "$st" -eq 0 ] && cmp -s "$PM_TMP/report.want" "$PM_TMP/report.got"
tap_ok $? "portmilter-report ports: transactions per port" ||
	{ tap_diag_file "$PM_TMP/report.csv"; diff "$PM_TMP/report.want" "$PM_TMP/report.got" | tap_diag_file -; }

# ---- the milter down: Postfix tempfails, nothing is accepted unchecked ----

# portmilter-conf sets milter_default_action from the config (tempfail):
# with the milter stopped, Postfix must answer 4xx, never accept the mail
# without the port's rules. Started again, mail flows and is recorded.
pm_stop
swaks_row "milter down: 25 local" 23 "451 4.7.1 Service unavailable" \
	"$(e2e_port 25)" --from downlocal@client.example --to alice@example.test
# On a STARTTLS port Postfix already refuses STARTTLS itself (swaks: 29).
swaks_row "milter down: 587 STARTTLS + AUTH" 29 "454 4.3.0 Try again later" \
	"$(e2e_port 587)" --tls --auth PLAIN --auth-user "$USER" \
	--auth-password "$E2E_PASSWORD" --from down587@example.test --to bob@remote.example
# The other submission ports, STARTTLS and implicit TLS: a 4xx, nothing
# queued (issue 12: the log reader changes nothing in what Postfix lets in).
for n in 5870 12345 465 4650; do
	case $n in
	465 | 4650) tls=--tlsc ;;
	*) tls=--tls ;;
	esac
	swaks --server 127.0.0.1 --port "$(e2e_port "$n")" --helo client.example \
		--timeout 5 "$tls" --auth PLAIN --auth-user "$USER" \
		--auth-password "$E2E_PASSWORD" --from "down$n@example.test" \
		--to bob@remote.example >"$PM_TMP/down$n.out" 2>&1
	st=$?
	[ "$st" -ne 0 ] && grep -q '^<[-~*]*  *4[0-9][0-9][ -]' "$PM_TMP/down$n.out" &&
		! grep -q '^<[-~*]*  *250 2\.0\.0 Ok: queued' "$PM_TMP/down$n.out"
	tap_ok $? "milter down: $n TLS + AUTH: a 4xx reply, not queued (swaks exit $st)" ||
		tap_diag_file "$PM_TMP/down$n.out"
done
! grep -q 'qmgr.*from=<down\(local\|587\|5870\|12345\|465\|4650\)@' "$E2E_PF_LOG"
tap_ok $? "milter down: no message queued (Postfix's log)" ||
	tap_diag_file "$E2E_PF_LOG"
pm_start "$E2E_CONF" "unix:$PM_TMP/portmilter.sock" "$PM_TMP/portmilter-2.log" &&
	chgrp postfix "$PM_TMP/portmilter.sock"
tap_ok $? "the milter starts again" || tap_diag_file "$PM_TMP/portmilter-2.log"
swaks_row "milter back: 25 local" 0 "250 2.0.0 Ok: queued" "$(e2e_port 25)" \
	--from backlocal@client.example --to alice@example.test
e2e_wait 1 "SELECT count(*) FROM portmilter.events
	WHERE kind = 'transaction' AND sender = '<backlocal@client.example>'
	AND verdict = 'accepted'" 15
tap_ok $? "milter back: the transaction is recorded" ||
	{ tap_diag "got: $E2E_GOT"; tap_diag_file "$PM_TMP/portmilter-2.log"; }
e2e_wait 0 "SELECT count(*) FROM portmilter.events
	WHERE sender LIKE '<down%'" 1
tap_ok $? "milter down: no event for the sessions it did not see" ||
	tap_diag "got: $E2E_GOT"

# ---- portmilter-conf: drift after a hand edit ------------------------------

postconf -c "$E2E_PF" -P \
	"127.0.0.1:$(e2e_port 5870)/inet/smtpd_tls_security_level=may" \
	>"$PM_TMP/edit.out" 2>&1 || tap_diag_file "$PM_TMP/edit.out"
pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
[ "$PC_ST" -eq 1 ] && grep '^drift:' "$PC_OUT" | grep -q "$(e2e_port 5870).*smtpd_tls_security_level"
tap_ok $? "portmilter-conf check: exit 1 and a drift line for the hand edit" ||
	{ tap_diag "status $PC_ST"; tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
pc_run -c "$E2E_CONF" apply --postfix-dir "$E2E_PF"
st=$PC_ST
pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
[ "$st" -eq 0 ] && [ "$PC_ST" -eq 0 ]
tap_ok $? "apply repairs the drift: check is clean again" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }

# ---- logs and shutdown -----------------------------------------------------

pm_log_clean "$E2E_LOG" && pm_log_clean "$PM_TMP/portmilter-2.log"
tap_ok $? "no panic or fatal error in the milter's logs" ||
	{ tap_diag_file "$E2E_LOG"; tap_diag_file "$PM_TMP/portmilter-2.log"; }
! grep -q 'fatal\|panic' "$E2E_PF_LOG"
tap_ok $? "no fatal error in Postfix's log" || tap_diag_file "$E2E_PF_LOG"
e2e_stop
tap_diag "total $(($(date +%s) - T0)) s"
tap_plan
