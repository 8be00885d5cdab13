#!/bin/sh
# auth-plain - what a client that sends AUTH without TLS gets on each
# port of the shipped layout with the services portmilter-conf
# generates (README.md, "The rules and the replies"): on 25 Postfix has
# AUTH off (503 5.5.1), on 587/5870/12345 it offers AUTH only after
# STARTTLS and answers an early AUTH with 530 5.7.0 Must issue a
# STARTTLS command first; no MAIL follows, so the milter's
# tls_before_auth rule (538 5.7.11, credential exposure) is not reached
# and nothing is recorded as an exposure: each connection is one
# "connection" event. Raw SMTP (python3): swaks refuses to send an AUTH
# that is not offered. Needs root. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
if ! command -v python3 >/dev/null 2>&1; then
	tap_skip_all "python3 not installed"
fi
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi

# plain_auth NAME PORT WANT: EHLO, then AUTH PLAIN in clear, then MAIL;
# the EHLO reply has no AUTH and the AUTH reply starts with WANT.
plain_auth() {
	python3 - "$2" >"$PM_TMP/$1.out" 2>&1 <<'EOPY'
import base64, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode("ascii", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return lines
def send(cmd):
    s.sendall(cmd.encode("ascii") + b"\r\n")
    for line in reply():
        print(line)
for line in reply():
    print(line)
send("EHLO client.example")
cred = base64.b64encode(b"\0testuser@example.test\0e2e-Secret-7").decode()
print("AUTH-REPLY")
send("AUTH PLAIN " + cred)
send("QUIT")
EOPY
	_pa_st=$?
	! sed '/^AUTH-REPLY$/,$d' "$PM_TMP/$1.out" | grep -q '^250[ -]AUTH' &&
		sed -n '/^AUTH-REPLY$/{n;p;}' "$PM_TMP/$1.out" | grep -q "^$3" &&
		[ "$_pa_st" -eq 0 ]
	tap_ok $? "$1: AUTH not offered; AUTH in clear: $3" || tap_diag_file "$PM_TMP/$1.out"
}

plain_auth "25" "$(e2e_port 25)" "503 5.5.1"
for n in 587 5870 12345; do
	plain_auth "$n" "$(e2e_port "$n")" "530 5.7.0 Must issue a STARTTLS command first"
done

# Four connections, each ends without MAIL: four connection events, no
# transaction, no credential exposure.
e2e_wait "4|0|0" "SELECT count(*) FILTER (WHERE kind = 'connection'),
	count(*) FILTER (WHERE kind = 'transaction'),
	count(*) FILTER (WHERE credential_exposure) FROM portmilter.events" 15
tap_ok $? "recorded: 4 connection events, no transaction, no credential exposure" ||
	{ tap_diag "got (connections|transactions|exposures): $E2E_GOT"; tap_diag_file "$E2E_LOG"; }

tap_plan
