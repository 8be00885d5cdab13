#!/bin/sh
# probe - portmilter-probe against the throwaway Postfix of the
# end-to-end harness (tests/e2e/lib.sh), all six shipped ports:
#   with --ca and the certificate's name: every row as README.md and
#   tests/conf/master.ref say (25 mx: STARTTLS, no AUTH at all;
#   587/5870/12345: STARTTLS, no AUTH in the clear, AUTH after TLS;
#   465/4650: implicit TLS, AUTH), TLS 1.2 or newer, chain valid, name
#   matches, 0..2 days left (the harness signs for 2 days), exit 0;
#   without --ca and by address: the same rows, certificate untrusted and
#   name mismatch, verdict warn, exit 0;
#   a closed port: refused, exit 1; a listener that accepts and never
#   speaks: a timeout within --timeout, exit 1; --json parses and has the
#   fields. Expected values come from the spec, never from output.
# Needs root (Postfix), perl (the silent listener), python3 (JSON).

. "${top_srcdir:?}/tests/e2e/lib.sh"

PROBE=${top_builddir:?top_builddir must be set}/probe/portmilter-probe
e2e_require
for _t in perl python3; do
	if ! command -v "$_t" >/dev/null 2>&1; then
		tap_skip_all "$_t not installed"
	fi
done
if [ ! -x "$PROBE" ]; then
	tap_skip_all "$PROBE is not built"
fi
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
SILENT_PID=
HOSTILE_PID=
probe_cleanup() {
	[ -n "$SILENT_PID" ] && kill "$SILENT_PID" 2>/dev/null
	[ -n "$HOSTILE_PID" ] && kill "$HOSTILE_PID" 2>/dev/null
	e2e_stop
}
# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK=probe_cleanup

# probe NAME ARGS...: run the probe; output in $PM_TMP/NAME.out, status in ST.
probe() {
	_p_name=$1
	shift
	"$PROBE" "$@" >"$PM_TMP/$_p_name.out" 2>"$PM_TMP/$_p_name.err"
	ST=$?
}

# row NAME PORT: the table row of PORT (fields split on white space:
# port mode connect ms tls version cert auth-before auth-after verdict).
row() {
	awk -v p="$2" '$1 == p && NF == 10 { print; exit }' "$PM_TMP/$1.out"
}

# check_row NAME PORT MODE TLS CERT-RE AUTH-BEFORE AUTH-AFTER-RE VERDICT
check_row() {
	_cr=$(row "$1" "$(e2e_port "$2")")
	echo "$_cr" | awk -v mode="$3" -v tls="$4" -v cert="$5" -v ab="$6" \
		-v aa="$7" -v verdict="$8" '
		{ ok = $2 == mode && $3 == "open" && $4 ~ /^[0-9]+ms$/ &&
		  $5 == tls && $6 ~ /^TLSv1\.[23]$/ && $7 ~ cert &&
		  $8 == ab && $9 ~ aa && $10 == verdict }
		END { exit !(NR == 1 && ok) }'
	tap_ok $? "$1: port $2 ($3): $4, cert $5, AUTH before TLS $6, after $7, $8" ||
		{ tap_diag "row: $_cr"; tap_diag_file "$PM_TMP/$1.out"; }
}

# Both mechanisms of the harness's mech_list (PLAIN LOGIN), any order.
MECHS='^(PLAIN,LOGIN|LOGIN,PLAIN)$'

check_all() {
	_ca_cert=$2 _ca_verdict=$3
	check_row "$1" 25 mx starttls "$_ca_cert" no '^no$' "$_ca_verdict"
	for _ca_p in 587 5870 12345; do
		check_row "$1" "$_ca_p" submission starttls "$_ca_cert" no \
			"$MECHS" "$_ca_verdict"
	done
	for _ca_p in 465 4650; do
		check_row "$1" "$_ca_p" submissions implicit "$_ca_cert" n/a \
			"$MECHS" "$_ca_verdict"
	done
}

# ---- the six ports, certificate trusted (--ca) and named ---------------

probe trusted --config "$E2E_CONF" --ca "$PM_TMP/cert.pem" \
	--address 127.0.0.1 --timeout 5 mail.example.test
tap_ok "$([ "$ST" -eq 0 ]; echo $?)" "trusted: exit 0 (got $ST)" ||
	{ tap_diag_file "$PM_TMP/trusted.out"; tap_diag_file "$PM_TMP/trusted.err"; }
check_all trusted '^valid,name-ok,[012]d$' ok

# ---- the same without --ca, by address: untrusted, name mismatch -------

probe untrusted --config "$E2E_CONF" --timeout 5 127.0.0.1
tap_ok "$([ "$ST" -eq 0 ]; echo $?)" "untrusted: exit 0, certificate problems only warn (got $ST)" ||
	tap_diag_file "$PM_TMP/untrusted.err"
check_all untrusted '^untrusted,name-mismatch,[012]d$' warn

# ---- trusted chain, but by address: name mismatch alone ------------------

# The reason names each problem once, separated by ", " (it printed
# "certificate:  name mismatch", two spaces, when the chain was valid).
probe byaddr --config "$E2E_CONF" --ca "$PM_TMP/cert.pem" --timeout 5 127.0.0.1
grep -q "^$(e2e_port 587): .*; certificate: name mismatch\$" "$PM_TMP/byaddr.out" &&
	! grep -q 'certificate:  \|certificate: ,' "$PM_TMP/byaddr.out"
tap_ok $? "trusted chain by address: \"certificate: name mismatch\", one space" ||
	tap_diag_file "$PM_TMP/byaddr.out"

# ---- JSON -----------------------------------------------------------------

probe json --config "$E2E_CONF" --ca "$PM_TMP/cert.pem" \
	--address 127.0.0.1 --timeout 5 --json mail.example.test
python3 -m json.tool "$PM_TMP/json.out" >/dev/null 2>"$PM_TMP/json.tool"
tap_ok $? "--json: python3 -m json.tool parses it" ||
	{ tap_diag_file "$PM_TMP/json.tool"; tap_diag_file "$PM_TMP/json.out"; }
python3 - "$PM_TMP/json.out" "$(e2e_port 0)" >"$PM_TMP/json.check" 2>&1 <<'EOPY'
import json, sys
doc = json.load(open(sys.argv[1]))
off = int(sys.argv[2])
want = {25: "mx", 587: "submission", 5870: "submission",
        12345: "submission", 465: "submissions", 4650: "submissions"}
fields = ["port", "mode", "connect", "connect_ms", "greeting", "ehlo", "tls",
          "starttls_offered", "tls_ok", "tls_version", "cipher", "cert",
          "auth_before_tls", "auth_before_tls_mechs", "auth_after_tls",
          "auth_after_tls_mechs", "timeout_step", "verdict", "reason"]
bad = []
if doc.get("host") != "mail.example.test" or doc.get("pass") is not True:
    bad.append("host/pass")
got = {p["port"] - off: p for p in doc["ports"]}
if sorted(got) != sorted(want):
    bad.append("ports %s" % sorted(got))
for port, p in got.items():
    miss = [f for f in fields if f not in p]
    if miss:
        bad.append("%d: missing %s" % (port, miss))
        continue
    c = p["cert"]
    sub = want.get(port) != "mx"
    ok = (p["mode"] == want.get(port) and p["connect"] == "open" and
          p["greeting"].startswith("220 ") and p["ehlo"] and p["tls_ok"] and
          p["tls_version"] in ("TLSv1.2", "TLSv1.3") and p["cipher"] and
          c["present"] and c["chain_valid"] and c["name_match"] and
          0 <= c["days_to_expiry"] <= 2 and not p["auth_before_tls"] and
          p["auth_after_tls"] == sub and p["verdict"] == "ok" and
          p["starttls_offered"] == (want.get(port) != "submissions"))
    if sub and sorted(p["auth_after_tls_mechs"].split()) != ["LOGIN", "PLAIN"]:
        ok = False
    if not ok:
        bad.append("%d: %r" % (port, p))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOPY
tap_ok $? "--json: every port, every field, values as specified" ||
	tap_diag_file "$PM_TMP/json.check"

# ---- a closed port ----------------------------------------------------------

# free_port FROM: the first port from FROM nobody listens on.
free_port() {
	_fp=$1
	while pc_listening "$_fp"; do
		_fp=$((_fp + 1))
	done
	echo "$_fp"
}
CLOSED=$(free_port 39025)
probe closed --port "$CLOSED" --timeout 3 127.0.0.1
row closed "$CLOSED" >"$PM_TMP/closed.row"
[ "$ST" -eq 1 ] && grep -q "^$CLOSED  *submission  *refused [0-9]*ms .* FAIL\$" \
	"$PM_TMP/closed.row"
tap_ok $? "closed port $CLOSED: refused, FAIL, exit 1 (got $ST)" ||
	tap_diag_file "$PM_TMP/closed.out"

# ---- a listener that accepts and never speaks -----------------------------

SILENT=$(free_port $((CLOSED + 1)))
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ARGV[0]",
		Listen => 16, ReuseAddr => 1) or die "listen: $!\n";
	my @keep;
	$SIG{ALRM} = sub { exit 0 }; alarm 120;
	while (my $c = $s->accept) { push @keep, $c }' "$SILENT" \
	>"$PM_TMP/silent.log" 2>&1 &
SILENT_PID=$!
pc_wait_listening "$SILENT"
tap_ok $? "silent listener on $SILENT is up" || tap_diag_file "$PM_TMP/silent.log"

# silent NAME MODE STEP: --timeout 2 on the silent port in MODE: exit 1
# within 2 s + slack (one step, then the end), the step named as timed out.
silent() {
	_s0=$(date +%s)
	probe "$1" --port "$SILENT:$2" --timeout 2 --json 127.0.0.1
	_s1=$(date +%s)
	python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["ports"][0]
sys.exit(not (p["connect"] == "open" and p["timeout_step"] == sys.argv[2]
              and p["verdict"] == "FAIL" and 1900 <= p["elapsed_ms"] <= 3500))
' "$PM_TMP/$1.out" "$3"
	[ $? -eq 0 ] && [ "$ST" -eq 1 ] && [ $((_s1 - _s0)) -le 4 ]
	tap_ok $? "silent port ($2): open, $3 timed out after ~2 s, FAIL, exit 1 (got $ST, $((_s1 - _s0)) s)" ||
		tap_diag_file "$PM_TMP/$1.out"
}
silent silent-sub submission greeting
silent silent-tls submissions tls

probe silent-table --port "$SILENT" --timeout 1 127.0.0.1
grep -q "^$SILENT: .*greeting: timed out" "$PM_TMP/silent-table.out"
tap_ok $? "silent port, table: the details line says the greeting timed out" ||
	tap_diag_file "$PM_TMP/silent-table.out"

# ---- a hostile greeting: escape sequences and a 5000-byte line ----------

HOSTILE=$(free_port $((SILENT + 1)))
perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$ARGV[0]",
		Listen => 16, ReuseAddr => 1) or die "listen: $!\n";
	$SIG{ALRM} = sub { exit 0 }; alarm 60;
	my $c = $s->accept;
	print $c "220-\e[2J\x07\"" . ("A" x 5000) . "\r\n220 ok\r\n";
	sleep 1;' "$HOSTILE" >"$PM_TMP/hostile.log" 2>&1 &
HOSTILE_PID=$!
pc_wait_listening "$HOSTILE"
probe hostile --port "$HOSTILE" --timeout 3 --json 127.0.0.1
kill "$HOSTILE_PID" 2>/dev/null
python3 -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
p = json.loads(raw)["ports"][0]
g = p["greeting"]
sys.exit(not (all(32 <= b < 127 or b == 10 for b in raw) and
              g.startswith("220-\\x1b[2J\\x07\\\"AAA") and len(g) < 300
              and g.endswith("...") and p["verdict"] == "FAIL"))
' "$PM_TMP/hostile.out"
tap_ok "$([ $? -eq 0 ] && [ "$ST" -eq 1 ]; echo $?)" \
	"hostile greeting: escaped, cut, no control byte in the output, FAIL (got $ST)" ||
	tap_diag_file "$PM_TMP/hostile.out"

# ---- usage --------------------------------------------------------------

for _u in "--port 0 h" "--port 25:smtp h" "--timeout 0 h" "--bogus h" ""; do
	# shellcheck disable=SC2086
	"$PROBE" $_u >/dev/null 2>&1
	_st=$?
	tap_ok "$([ "$_st" -eq 2 ]; echo $?)" "usage error \"$_u\": exit 2 (got $_st)"
done

tap_plan
