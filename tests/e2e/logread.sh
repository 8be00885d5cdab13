#!/bin/sh
# logread - what only Postfix knows, recorded from its log (issue 12): a
# real Postfix configured by portmilter-conf, writing its maillog_file; the
# milter reading it (postfix_log); real PostgreSQL; swaks and a raw socket
# as clients (tests/e2e/lib.sh). Checked, each as exact rows:
#  - 5 wrong passwords for testuser on 5870 and 3 for a user that does not
#    exist on 4650 -> exactly those 8 auth_failure rows, with user names,
#    mechanism, port and the 535 reply; `portmilter-report auth` lists them;
#  - MAIL without STARTTLS on 587, 5870, 12345 (Postfix answers 530 and
#    logs no reject line) -> one refused row each, rule require_tls, the
#    reply the client got; in `portmilter-report ports` rejects_by_rule;
#  - plaintext to 465 and 4650 -> one tls_failure row each;
#  - AUTH PLAIN with credentials before STARTTLS on 587 -> one exposure
#    row (credential_exposure), no user name (Postfix does not log it);
#  - Postfix's own reject (relay on 25, at RCPT) -> one refused row with
#    Postfix's reply; the same for its refusal at MAIL, before the milter's
#    MAIL step (SIZE= over message_size_limit);
#  - a message accepted on 25: its recorded size is qmgr's size= (the
#    milter does not read the message).
# Needs root. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
command -v perl >/dev/null 2>&1 || tap_skip_all "perl not installed"
# shellcheck disable=SC2034 # read by e2e_start (tests/e2e/lib.sh)
E2E_POSTFIX_LOG=yes
T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"
pm_wait_log "$E2E_LOG" "logreader: following $E2E_PF_LOG" 50
tap_ok $? "the milter follows Postfix's log $E2E_PF_LOG"

USER=testuser@example.test
P25=$(e2e_port 25) P465=$(e2e_port 465) P587=$(e2e_port 587)
P4650=$(e2e_port 4650) P5870=$(e2e_port 5870) P12345=$(e2e_port 12345)

# sw NAME WANT-TEXT PORT ARGS...: one swaks session; passes when its
# transcript has WANT-TEXT (kept in $PM_TMP/NAME.out).
sw() {
	_sw_name=$1 _sw_text=$2 _sw_port=$3
	shift 3
	swaks --server 127.0.0.1 --port "$_sw_port" --helo client.example \
		--timeout 5 "$@" >"$PM_TMP/$_sw_name.out" 2>&1
	grep -qF -- "$_sw_text" "$PM_TMP/$_sw_name.out"
	tap_ok $? "$_sw_name: \"$_sw_text\"" || tap_diag_file "$PM_TMP/$_sw_name.out"
}

# ---- failed logins -------------------------------------------------------------
i=1
while [ $i -le 5 ]; do
	sw "5870 wrong password $i" "535 5.7.8" "$P5870" --tls --auth PLAIN \
		--auth-user "$USER" --auth-password "wrong-$i" \
		--from "$USER" --to someone@example.test
	i=$((i + 1))
done
for mech in PLAIN LOGIN PLAIN; do
	sw "4650 unknown user $mech" "535 5.7.8" "$P4650" --tlsc --auth "$mech" \
		--auth-user nosuch@example.test --auth-password x \
		--from "$USER" --to someone@example.test
done
AUTHQ="SELECT port, sasl_user, count(*), string_agg(DISTINCT sasl_method, ',')
	FROM portmilter.events WHERE kind = 'auth_failure' GROUP BY 1, 2 ORDER BY 1"
WANT="$P4650|nosuch@example.test|3|LOGIN,PLAIN
$P5870|$USER|5|PLAIN"
T1=$(date +%s%N)
e2e_wait "$WANT" "$AUTHQ" 20
tap_ok $? "exactly 8 auth_failure rows: 5 for $USER on $P5870, 3 for nosuch on $P4650" ||
	{ tap_diag "got: $E2E_GOT"; tap_diag_file "$E2E_PF_LOG"; }
tap_diag "from the last failure to its row: $((($(date +%s%N) - T1) / 1000000)) ms at most"
e2e_wait "535 5.7.8 Error: authentication failed: authentication failure|rejected|auth_failed|t" \
	"SELECT DISTINCT reply, verdict, rule, port_known FROM portmilter.events
	 WHERE kind = 'auth_failure'" 5
tap_ok $? "their reply (the 535 the client got), verdict, rule" || tap_diag "got: $E2E_GOT"
"$E2E_REPORT" -d "$E2E_READER" --format csv auth --user "$USER" 2>&1 | tr -d '\r' |
	awk -F, 'NR > 1 { s += $4; p = $3 } END { print s "," p }' >"$PM_TMP/auth.out"
[ "$(cat "$PM_TMP/auth.out")" = "5,$P5870" ]
tap_ok $? "portmilter-report auth --user $USER: 5 failures on $P5870" ||
	tap_diag_file "$PM_TMP/auth.out"

# ---- MAIL without STARTTLS on the submission ports ------------------------------
for p in "$P587" "$P5870" "$P12345"; do
	sw "$p MAIL without STARTTLS" "530 5.7.0 Must issue a STARTTLS command first" "$p" \
		--from "$USER" --to someone@example.test
done
e2e_wait "$P587|1
$P5870|1
$P12345|1" "SELECT port, count(*) FROM portmilter.events WHERE kind = 'refused'
	AND rule = 'require_tls' AND reply = '530 5.7.0 Must issue a STARTTLS command first'
	GROUP BY 1 ORDER BY 1" 20
tap_ok $? "one require_tls row each on $P587, $P5870, $P12345 with the 530 reply" ||
	tap_diag "got: $E2E_GOT"

# ---- plaintext on the implicit-TLS ports -------------------------------------------
for p in "$P465" "$P4650"; do
	swaks --server 127.0.0.1 --port "$p" --helo client.example --timeout 3 \
		--from "$USER" --to someone@example.test >"$PM_TMP/plain-$p.out" 2>&1
	! grep -q '^<-  250 ' "$PM_TMP/plain-$p.out"
	tap_ok $? "$p plaintext: no SMTP dialogue" || tap_diag_file "$PM_TMP/plain-$p.out"
done
e2e_wait "$P465|1
$P4650|1" "SELECT port, count(*) FROM portmilter.events WHERE kind = 'tls_failure'
	GROUP BY 1 ORDER BY 1" 20
tap_ok $? "one tls_failure row each on $P465 and $P4650" || tap_diag "got: $E2E_GOT"

# ---- AUTH PLAIN before STARTTLS on 587 ---------------------------------------------
# testuser@example.test / secret, base64 of "\0user\0password"
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Timeout => 5) or exit 1;
	my $r = <$s>;
	for my $l ("EHLO client.example", "AUTH PLAIN AHRlc3R1c2VyQGV4YW1wbGUudGVzdABzZWNyZXQ=", "QUIT") {
		print $s "$l\r\n";
		while (defined($r = <$s>)) { print $r; last if $r =~ /^\d{3} /; }
	}' "$P587" >"$PM_TMP/auth-plain.out" 2>&1
grep -q '^5[0-9][0-9] ' "$PM_TMP/auth-plain.out"
tap_ok $? "587: AUTH before STARTTLS is refused" || tap_diag_file "$PM_TMP/auth-plain.out"
e2e_wait "$P587|t|tls_before_auth|\N" "SELECT port, credential_exposure, rule, sasl_user
	FROM portmilter.events WHERE kind = 'exposure'" 20
tap_ok $? "one exposure row on $P587 (credentials crossed in clear)" || tap_diag "got: $E2E_GOT"

# ---- Postfix's own reject ------------------------------------------------------------
sw "25 relay" "554 5.7.1 <bob@remote.example>: Relay access denied" "$P25" \
	--from a@remote.example --to bob@remote.example
e2e_wait "$P25|postfix_rcpt|554 5.7.1 <bob@remote.example>: Relay access denied|<a@remote.example>" \
	"SELECT port, rule, reply, sender FROM portmilter.events WHERE kind = 'refused'
	 AND port = $P25" 20
tap_ok $? "Postfix's relay reject on $P25: one refused row with its reply" || tap_diag "got: $E2E_GOT"

# Before the milter's MAIL step: a declared size over message_size_limit
# (Postfix checks SIZE= before it calls the milters; the milter sees only
# the connection).
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]", Timeout => 5) or exit 1;
	my $r = <$s>;
	for my $l ("EHLO client.example", "MAIL FROM:<big\@client.example> SIZE=999999999999", "QUIT") {
		print $s "$l\r\n";
		while (defined($r = <$s>)) { print $r; last if $r =~ /^\d{3} /; }
	}' "$P25" >"$PM_TMP/size-limit.out" 2>&1
grep -q '^552 5.3.4 Message size exceeds fixed limit' "$PM_TMP/size-limit.out"
tap_ok $? "25: MAIL with SIZE= over the limit is refused by Postfix (552)" ||
	tap_diag_file "$PM_TMP/size-limit.out"
e2e_wait "$P25|refused|postfix_mail|rejected|552 5.3.4 Message size exceeds fixed limit" \
	"SELECT port, kind, rule, verdict, reply FROM portmilter.events
	 WHERE rule = 'postfix_mail'" 20
tap_ok $? "Postfix's refusal at MAIL, before the milter's step: one refused row with its reply" ||
	tap_diag "got: $E2E_GOT"

# ---- the exact size of an accepted message (issue 17) -----------------------------------
# The milter does not read the message (no limit_bytes): the size on the
# record is qmgr's size= for the message's queue id, from Postfix's log.
sw "25 size" "250 2.0.0 Ok: queued" "$P25" --from size@client.example \
	--to alice@example.test --body "size check, issue 17"
SZ="SELECT queue_id || '|' || size || '|' || size_exact FROM portmilter.events
	WHERE kind = 'transaction' AND sender = '<size@client.example>'"
e2e_wait t "SELECT size_exact FROM portmilter.events WHERE kind = 'transaction'
	AND sender = '<size@client.example>'" 20
QID=$(e2e_sql "$SZ" | cut -d'|' -f1)
PF_SIZE=$(sed -n "s/.* postfix\/qmgr\[[0-9]*\]: $QID: from=<size@client.example>, size=\([0-9]*\), .*/\1/p" \
	"$E2E_PF_LOG" | head -n 1)
[ -n "$QID" ] && [ -n "$PF_SIZE" ] && [ "$(e2e_sql "$SZ")" = "$QID|$PF_SIZE|true" ]
tap_ok $? "the recorded size is Postfix's (qmgr size=$PF_SIZE for $QID), size_exact" ||
	tap_diag "got: $(e2e_sql "$SZ"), Postfix logged: $PF_SIZE"

# ---- the per-port report ---------------------------------------------------------------
"$E2E_REPORT" -d "$E2E_READER" --format csv ports 2>&1 | tr -d '\r' >"$PM_TMP/ports.csv"
grep -q "^$P587,.*require_tls" "$PM_TMP/ports.csv" &&
	grep -q "^$P25,.*postfix_rejected" "$PM_TMP/ports.csv" &&
	! grep -q "^$P25,.*postfix_rcpt" "$PM_TMP/ports.csv" &&
	grep -q "^$P5870,.*,5,1,0\$" "$PM_TMP/ports.csv" &&
	grep -q "^$P4650,.*,3,0,1\$" "$PM_TMP/ports.csv"
tap_ok $? "portmilter-report ports: require_tls, auth_failures, refused_before_mail, tls_failures; the relay reject counted once (the milter's)" ||
	tap_diag_file "$PM_TMP/ports.csv"
e2e_wait 0 "SELECT count(*) - count(DISTINCT event_id) FROM portmilter.events" 1
tap_ok $? "no event twice"

pm_log_clean "$E2E_LOG"
tap_ok $? "no panic, fatal error or sanitizer report in the milter's log"
tap_plan
