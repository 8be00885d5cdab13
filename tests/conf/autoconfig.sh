#!/bin/sh
# autoconfig - portmilter-conf autoconfig on a test config: the ports
# (only enabled submission/submissions ports, in preference order),
# each format read back by a real parser (xmllint for the XML and the
# HTML, Python's plistlib for the Apple profile, xmllint --schema with
# tests/conf/autodiscover.xsd for Outlook's), the SRV lines, the
# escaping of what comes from the command line, and the errors. Every
# expected value is written here by hand. Needs xmllint (Debian
# libxml2-utils) and python3. Prints TAP.

. "${top_srcdir:?top_srcdir must be set}/tests/conf/lib.sh"

for tool in xmllint python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		tap_skip_all "$tool not installed (Debian libxml2-utils, python3)"
	fi
done
pm_tmp_setup

# The seed's six ports in an unsorted order, plus a disabled
# submission port, a disabled submissions port and a second mx port:
# none of those three may appear anywhere.
CONF=$PM_TMP/ac.conf
cat >"$CONF" <<'EOF'
[port 4650]
mode = submissions
[port 25]
mode = mx
[port 5870]
mode = submission
[port 2525]
mode = submission
enabled = no
[port 465]
mode = submissions
[port 12345]
like = 5870
[port 4651]
like = 465
enabled = no
[port 2526]
mode = mx
[port 587]
mode = submission
EOF

D=example.test
H=smtp.example.test

# xp FILE XPATH [--html]: the string value of XPATH in FILE.
xp() {
	xmllint ${3:+"$3"} --xpath "string($2)" "$1" 2>/dev/null
}

# xp_all FILE XPATH: the string value of each node of XPATH, one line each.
xp_all() {
	_n=$(xmllint --xpath "count($2)" "$1" 2>/dev/null) || _n=0
	_i=1
	while [ "$_i" -le "$_n" ]; do
		printf '%s\n' "$(xp "$1" "($2)[$_i]")"
		_i=$((_i + 1))
	done
}

# ac_ok NAME: the last pc_run exited 0 with nothing on stderr.
ac_ok() {
	[ "$PC_ST" -eq 0 ] && [ ! -s "$PC_ERR" ]
	tap_ok $? "$1: exit 0, nothing on stderr" ||
		{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; }
}

# ac_fails NAME TEXT: the last pc_run exited 2, printed nothing and
# said TEXT on stderr.
ac_fails() {
	[ "$PC_ST" -eq 2 ] && [ ! -s "$PC_OUT" ] && grep -qF -- "$2" "$PC_ERR"
	tap_ok $? "$1: exit 2, no output, says \"$2\"" ||
		{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; }
}

# ---- thunderbird -----------------------------------------------------------

TB=$PM_TMP/config-v1.1.xml
pc_run -c "$CONF" autoconfig thunderbird --domain "$D" --host "$H"
cp "$PC_OUT" "$TB"
ac_ok "thunderbird"
xmllint --noout "$TB" 2>"$PM_TMP/lint"
tap_ok $? "thunderbird: well-formed XML (xmllint)" || tap_diag_file "$PM_TMP/lint"

got=$(xp_all "$TB" '/clientConfig/emailProvider/outgoingServer[@type="smtp"]/port' | tr '\n' ' ')
[ "$got" = "587 5870 12345 465 4650 " ]
tap_ok $? "thunderbird: outgoing ports 587 5870 12345 465 4650 (587 first, alternates in file order, then 465); no mx, no disabled port" ||
	tap_diag "got: $got"

got=$(xp_all "$TB" '//outgoingServer/socketType' | tr '\n' ' ')
[ "$got" = "STARTTLS STARTTLS STARTTLS SSL SSL " ]
tap_ok $? "thunderbird: socketType STARTTLS x3, SSL x2" || tap_diag "got: $got"

got=$(xp_all "$TB" '//outgoingServer/hostname' | sort -u)
[ "$got" = "$H" ] &&
	[ "$(xp "$TB" 'count(//outgoingServer/authentication[. = "password-cleartext"])')" = 5 ] &&
	[ "$(xp "$TB" 'count(//outgoingServer/username[. = "%EMAILADDRESS%"])')" = 5 ]
tap_ok $? "thunderbird: every outgoing server: hostname = --host, password-cleartext, %EMAILADDRESS%" ||
	tap_diag_file "$TB"

[ "$(xp "$TB" '/clientConfig/@version')" = 1.1 ] &&
	[ "$(xp "$TB" '/clientConfig/emailProvider/@id')" = "$D" ] &&
	[ "$(xp "$TB" '//emailProvider/domain')" = "$D" ] &&
	[ "$(xp "$TB" 'count(//incomingServer)')" = 1 ] &&
	[ "$(xp "$TB" '//incomingServer/@type')" = imap ] &&
	[ "$(xp "$TB" '//incomingServer/hostname')" = "$H" ] &&
	[ "$(xp "$TB" '//incomingServer/port')" = 993 ] &&
	[ "$(xp "$TB" '//incomingServer/socketType')" = SSL ]
tap_ok $? "thunderbird: clientConfig 1.1, provider id and domain, one IMAP incoming server (HOST, 993, SSL)" ||
	tap_diag_file "$TB"

pc_run -c "$CONF" autoconfig thunderbird --domain "$D" --host "$H" \
	--imap-host imap.example.test --imap-port 1993
[ "$(xp "$PC_OUT" '//incomingServer/hostname')" = imap.example.test ] &&
	[ "$(xp "$PC_OUT" '//incomingServer/port')" = 1993 ]
tap_ok $? "thunderbird: --imap-host and --imap-port" || tap_diag_file "$PC_OUT"

# The order of the sections decides among the alternates.
cat >"$PM_TMP/order.conf" <<'EOF'
[port 12345]
mode = submission
[port 4650]
mode = submissions
[port 465]
mode = submissions
[port 5870]
mode = submission
[port 587]
mode = submission
EOF
pc_run -c "$PM_TMP/order.conf" autoconfig thunderbird --domain "$D"
got=$(xp_all "$PC_OUT" '//outgoingServer/port' | tr '\n' ' ')
[ "$got" = "587 12345 5870 465 4650 " ]
tap_ok $? "thunderbird: alternates follow the file's order (12345 before 5870 there)" ||
	tap_diag "got: $got"
[ "$(xp "$PC_OUT" '//outgoingServer[1]/hostname')" = "mail.$D" ]
tap_ok $? "thunderbird: HOST defaults to mail.DOMAIN" || tap_diag_file "$PC_OUT"

NAME='Tom & Jerry <Mail> "quoted" '\''single'\'
pc_run -c "$CONF" autoconfig thunderbird --domain "$D" --name "$NAME"
[ "$(xp "$PC_OUT" '//displayName')" = "$NAME" ] && ! grep -q '<Mail>' "$PC_OUT"
tap_ok $? "thunderbird: --name with & < > \" ' is escaped and reads back unchanged" ||
	tap_diag_file "$PC_OUT"

# ---- mobileconfig -------------------------------------------------------

# plist_facts FILE: what the profile says, one "key=value" line each,
# read with Python's plistlib; the UUIDs are compared with UUID version
# 5 of the documented names in portmilter's namespace.
plist_facts() {
	python3 - "$1" <<'EOF'
import plistlib, sys, uuid
with open(sys.argv[1], 'rb') as f:
    p = plistlib.load(f)
ns = uuid.UUID('c835dbc4-308e-43c0-a156-6e3597d0b5bb')
c = p['PayloadContent']
m = c[0]
port = m['OutgoingMailServerPortNumber']
def want(what):
    return str(uuid.uuid5(ns, 'example.test:%d:%s' % (port, what))).upper()
print('type=%s' % p['PayloadType'])
print('version=%r' % p['PayloadVersion'])
print('identifier=%s' % p['PayloadIdentifier'])
print('payloads=%d' % len(c))
print('mail.type=%s' % m['PayloadType'])
print('mail.identifier=%s' % m['PayloadIdentifier'])
print('account=%s' % m['EmailAccountType'])
print('in.host=%s' % m['IncomingMailServerHostName'])
print('in.port=%r' % m['IncomingMailServerPortNumber'])
print('in.ssl=%r' % m['IncomingMailServerUseSSL'])
print('in.auth=%s' % m['IncomingMailServerAuthentication'])
print('out.host=%s' % m['OutgoingMailServerHostName'])
print('out.port=%r' % port)
print('out.ssl=%r' % m['OutgoingMailServerUseSSL'])
print('out.auth=%s' % m['OutgoingMailServerAuthentication'])
print('uuid.profile=%s' % (p['PayloadUUID'] == want('profile')))
print('uuid.account=%s' % (m['PayloadUUID'] == want('account')))
EOF
}

MC=$PM_TMP/example.mobileconfig
pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --host "$H"
cp "$PC_OUT" "$MC"
ac_ok "mobileconfig"
xmllint --noout "$MC" 2>"$PM_TMP/lint"
tap_ok $? "mobileconfig: well-formed XML (xmllint)" || tap_diag_file "$PM_TMP/lint"
plist_facts "$MC" >"$PM_TMP/facts" 2>&1
cat >"$PM_TMP/facts.want" <<'EOF'
type=Configuration
version=1
identifier=test.example.portmilter.mail
payloads=1
mail.type=com.apple.mail.managed
mail.identifier=test.example.portmilter.mail.account
account=EmailTypeIMAP
in.host=smtp.example.test
in.port=993
in.ssl=True
in.auth=EmailAuthPassword
out.host=smtp.example.test
out.port=587
out.ssl=True
out.auth=EmailAuthPassword
uuid.profile=True
uuid.account=True
EOF
pc_check_file "mobileconfig (plistlib): one Mail payload, IMAP 993 SSL, outgoing 587 with UseSSL, host, UUIDs v5 of DOMAIN:PORT" \
	"$PM_TMP/facts.want" "$PM_TMP/facts"

pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --host "$H"
cmp -s "$PC_OUT" "$MC"
tap_ok $? "mobileconfig: the same arguments give the same profile (deterministic UUIDs)"

pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --host "$H" --port 4650
plist_facts "$PC_OUT" >"$PM_TMP/facts" 2>&1
sed 's/^out.port=587$/out.port=4650/' "$PM_TMP/facts.want" >"$PM_TMP/facts.4650"
pc_check_file "mobileconfig --port 4650: outgoing 4650, UseSSL, same identifiers, UUIDs of port 4650" \
	"$PM_TMP/facts.4650" "$PM_TMP/facts"
[ "$(xp "$PC_OUT" '/plist/dict/key[.="PayloadUUID"]/following-sibling::string[1]')" != \
	"$(xp "$MC" '/plist/dict/key[.="PayloadUUID"]/following-sibling::string[1]')" ]
tap_ok $? "mobileconfig: another port, another PayloadUUID"

pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --name "$NAME"
got=$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["PayloadOrganization"])' "$PC_OUT" 2>&1)
[ "$got" = "$NAME" ]
tap_ok $? "mobileconfig: --name escaped, reads back unchanged" || tap_diag "got: $got"

pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --port 25
ac_fails "mobileconfig --port 25 (mx)" "port 25 is of mode mx"
pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --port 9999
ac_fails "mobileconfig --port 9999 (no section)" "--port 9999"
pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --port 2525
ac_fails "mobileconfig --port 2525 (disabled)" "port 2525 is disabled"
pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --port 65536
ac_fails "mobileconfig --port 65536" "not a port number"
pc_run -c "$CONF" autoconfig srv --domain "$D" --port 587
ac_fails "srv --port" "--port is an option of autoconfig mobileconfig and autodiscover only"

# ---- srv -----------------------------------------------------------------

pc_run -c "$CONF" autoconfig srv --domain "$D" --host "$H"
ac_ok "srv"
grep -v '^;' "$PC_OUT" >"$PM_TMP/srv"
cat >"$PM_TMP/srv.want" <<'EOF'
_submission._tcp.example.test. 3600 IN SRV 0 1 587 smtp.example.test.
_submission._tcp.example.test. 3600 IN SRV 10 1 5870 smtp.example.test.
_submission._tcp.example.test. 3600 IN SRV 20 1 12345 smtp.example.test.
_submissions._tcp.example.test. 3600 IN SRV 0 1 465 smtp.example.test.
_submissions._tcp.example.test. 3600 IN SRV 10 1 4650 smtp.example.test.
_imaps._tcp.example.test. 3600 IN SRV 0 1 993 smtp.example.test.
EOF
pc_check_file "srv: the records, hand-written" "$PM_TMP/srv.want" "$PM_TMP/srv"
head -n 1 "$PC_OUT" | grep -q '^; SRV records for example.test'
tap_ok $? "srv: a comment header says what it is" || tap_diag_file "$PC_OUT"

pc_run -c "$CONF" autoconfig srv --domain Example.TEST --host SMTP.Example.Test
grep -v '^;' "$PC_OUT" | cmp -s - "$PM_TMP/srv"
tap_ok $? "srv: names are written in lower case"

# ---- html ----------------------------------------------------------------

HT=$PM_TMP/help.html
pc_run -c "$CONF" autoconfig html --domain "$D" --host "$H"
cp "$PC_OUT" "$HT"
ac_ok "html"
xmllint --html --noout "$HT" >"$PM_TMP/lint" 2>&1 && [ ! -s "$PM_TMP/lint" ]
tap_ok $? "html: xmllint --html parses it without a complaint" ||
	tap_diag_file "$PM_TMP/lint"
python3 -c '
import html.parser, sys
VOID = ("meta", "br", "hr", "img", "link", "input")
class P(html.parser.HTMLParser):
    stack = []
    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)
    def handle_endtag(self, tag):
        if tag not in VOID and (not self.stack or self.stack.pop() != tag):
            sys.exit("unbalanced </%s>" % tag)
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
p.close()
if p.stack:
    sys.exit("unclosed: %s" % p.stack)
' "$HT" >"$PM_TMP/lint" 2>&1
tap_ok $? "html: every element closed (Python html.parser)" || tap_diag_file "$PM_TMP/lint"

rows='//table[@id="ports"]/tbody/tr'
got=$(xmllint --html --xpath "count($rows)" "$HT" 2>/dev/null)
ports=$(i=1; while [ "$i" -le "${got:-0}" ]; do
	printf '%s/%s ' "$(xp "$HT" "($rows)[$i]/td[3]" --html)" \
		"$(xp "$HT" "($rows)[$i]/td[4]" --html)"
	i=$((i + 1))
done)
[ "$ports" = "587/STARTTLS 465/SSL/TLS 5870/STARTTLS 12345/STARTTLS 4650/SSL/TLS " ]
tap_ok $? "html: settings table, each port once with its security, standard ports first" ||
	tap_diag "got: $ports"

[ "$(xp "$HT" "count($rows/td[2][normalize-space(.) = '$H'])" --html)" = 5 ] &&
	[ "$(xp "$HT" "count($rows/td[5][. = 'Normal password'])" --html)" = 5 ] &&
	[ "$(xp "$HT" "count($rows/td[6][contains(., 'full email address')])" --html)" = 5 ]
tap_ok $? "html: every row: server = HOST, normal password, the full email address as user name" ||
	tap_diag_file "$HT"

grep -q '<meta charset="utf-8"' "$HT" &&
	grep -q 'Thunderbird' "$HT" && grep -q 'Apple Mail' "$HT" &&
	grep -q 'Outlook' "$HT" && grep -q 'Android' "$HT" &&
	grep -q 'Port 25 is not for mail programs' "$HT" &&
	grep -q 'jane@example.test' "$HT" &&
	! grep -Eiq 'src=|href=|url\(|@import|<script' "$HT"
tap_ok $? "html: UTF-8, per-client notes, the port 25 note, no external resource or script" ||
	tap_diag_file "$HT"

pc_run -c "$CONF" autoconfig html --domain '<script>.example'
ac_fails "html --domain '<script>.example'" "not a DNS host name"

HNAME='<b>Tom & "Jerry"</b>'
pc_run -c "$CONF" autoconfig html --domain Mail.Example.TEST --name "$HNAME"
[ "$(xp "$PC_OUT" '//h1' --html)" = "Sending mail with $HNAME" ] &&
	! grep -q '<b>' "$PC_OUT" &&
	[ "$(xp "$PC_OUT" "count(//code[. = 'jane@mail.example.test'])" --html)" = 1 ]
tap_ok $? "html: --name escaped (reads back as text, no <b> element); the domain, lower-cased, in the example address" ||
	tap_diag_file "$PC_OUT"

# ---- autodiscover ------------------------------------------------------------

# The structure: tests/conf/autodiscover.xsd (our own schema of the POX
# response subset, strict), then the values by XPath (local names: the
# two default namespaces are checked once, explicitly).
XSD=$top_srcdir/tests/conf/autodiscover.xsd
AD=$PM_TMP/autodiscover.xml
adp='/*[local-name()="Autodiscover"]/*[local-name()="Response"]/*[local-name()="Account"]/*[local-name()="Protocol"]'
pc_run -c "$CONF" autoconfig autodiscover --domain "$D" --host "$H"
cp "$PC_OUT" "$AD"
ac_ok "autodiscover"
xmllint --noout --schema "$XSD" "$AD" 2>"$PM_TMP/lint"
tap_ok $? "autodiscover: valid against tests/conf/autodiscover.xsd (xmllint --schema)" ||
	tap_diag_file "$PM_TMP/lint"

# The schema is strict: a Protocol without its Encryption fails it.
grep -v '<Encryption>' "$AD" >"$PM_TMP/ad-broken.xml"
! xmllint --noout --schema "$XSD" "$PM_TMP/ad-broken.xml" 2>/dev/null
tap_ok $? "autodiscover: the schema refuses a Protocol without Encryption (the check can fail)"

[ "$(xp "$AD" 'namespace-uri(/*)')" = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006" ] &&
	[ "$(xp "$AD" 'namespace-uri(/*/*)')" = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a" ] &&
	[ "$(xp "$AD" '/*/*/*[local-name()="Account"]/*[local-name()="AccountType"]')" = email ] &&
	[ "$(xp "$AD" '/*/*/*[local-name()="Account"]/*[local-name()="Action"]')" = settings ]
tap_ok $? "autodiscover: response schema 2006 / Outlook 2006a namespaces, AccountType email, Action settings" ||
	tap_diag_file "$AD"

got=$(xp_all "$AD" "$adp/*[local-name()=\"Type\"]" | tr '\n' ' ')
ports=$(xp_all "$AD" "${adp}[*[local-name()=\"Type\"]=\"SMTP\"]/*[local-name()=\"Port\"]" | tr '\n' ' ')
enc=$(xp_all "$AD" "${adp}[*[local-name()=\"Type\"]=\"SMTP\"]/*[local-name()=\"Encryption\"]" | tr '\n' ' ')
[ "$got" = "IMAP SMTP SMTP SMTP SMTP SMTP " ] &&
	[ "$ports" = "587 5870 12345 465 4650 " ] &&
	[ "$enc" = "TLS TLS TLS SSL SSL " ]
tap_ok $? "autodiscover: IMAP, then SMTP 587 5870 12345 (TLS = STARTTLS) 465 4650 (SSL); no mx, no disabled port" ||
	tap_diag "types: $got; ports: $ports; encryption: $enc"

imap="${adp}[1]"
[ "$(xp "$AD" "$imap/*[local-name()=\"Server\"]")" = "$H" ] &&
	[ "$(xp "$AD" "$imap/*[local-name()=\"Port\"]")" = 993 ] &&
	[ "$(xp "$AD" "$imap/*[local-name()=\"Encryption\"]")" = SSL ] &&
	[ "$(xp_all "$AD" "${adp}[*[local-name()=\"Type\"]=\"SMTP\"]/*[local-name()=\"Server\"]" | sort -u)" = "$H" ] &&
	[ "$(xp "$AD" "count(${adp}[*[local-name()=\"Type\"]=\"SMTP\"][*[local-name()=\"AuthRequired\"]=\"on\"][*[local-name()=\"SPA\"]=\"off\"][*[local-name()=\"UsePOPAuth\"]=\"on\"])")" = 5 ]
tap_ok $? "autodiscover: IMAP on HOST 993 SSL; every SMTP on HOST, AuthRequired on, SPA off, UsePOPAuth on" ||
	tap_diag_file "$AD"

pc_run -c "$CONF" autoconfig autodiscover --domain "$D" --host "$H" --port 4650
[ "$(xp_all "$PC_OUT" "$adp/*[local-name()=\"Port\"]" | tr '\n' ' ')" = "993 4650 " ] &&
	[ "$(xp "$PC_OUT" "${adp}[2]/*[local-name()=\"Encryption\"]")" = SSL ]
tap_ok $? "autodiscover --port 4650: IMAP and SMTP 4650 (SSL) only" || tap_diag_file "$PC_OUT"
pc_run -c "$CONF" autoconfig autodiscover --domain "$D" --port 25
ac_fails "autodiscover --port 25 (mx)" "port 25 is of mode mx"

pc_run -c "$CONF" autoconfig autodiscover --domain "$D" --name "$NAME"
[ "$(xp "$PC_OUT" '/*/*/*[local-name()="User"]/*[local-name()="DisplayName"]')" = "$NAME" ] &&
	! grep -q '<Mail>' "$PC_OUT"
tap_ok $? "autodiscover: --name with & < > \" ' is escaped and reads back unchanged" ||
	tap_diag_file "$PC_OUT"

# An IDN domain in its ASCII form has "--" in a label: no name may go
# into the XML comment, where "--" is not allowed.
pc_run -c "$CONF" autoconfig autodiscover --domain xn--bcher-kva.example
xmllint --noout --schema "$XSD" "$PC_OUT" 2>"$PM_TMP/lint" &&
	[ "$(xp "$PC_OUT" "${adp}[2]/*[local-name()=\"Server\"]")" = mail.xn--bcher-kva.example ]
tap_ok $? "autodiscover: an xn-- (IDN) domain gives a valid document" ||
	tap_diag_file "$PM_TMP/lint"

pc_run -c "$CONF" autoconfig autodiscover --domain '<script>.example'
ac_fails "autodiscover --domain '<script>.example'" "not a DNS host name"

# ---- errors --------------------------------------------------------------

pc_run -c "$CONF" autoconfig html
ac_fails "no --domain" "needs --domain"
pc_run -c "$CONF" autoconfig --domain "$D"
ac_fails "no FORMAT" "no FORMAT"
pc_run -c "$CONF" autoconfig outlook --domain "$D"
ac_fails "unknown FORMAT" 'unknown autoconfig FORMAT "outlook"'
pc_run -c "$CONF" master --domain "$D"
ac_fails "--domain with master" "an option of autoconfig only"
pc_run -c "$CONF" autoconfig srv --domain "$D" --postfix-dir /etc/postfix
ac_fails "--postfix-dir with autoconfig" "not an option of autoconfig"

bad=
for name in '' '.example.test' 'example.test.' 'exa..mple' '-x.example' \
	'x-.example' 'under_score.example' 'a b.example' 'x.123' '192.0.2.1' \
	"$(printf 'a%.0s' $(seq 64)).example" \
	"$(printf 'abcdefghi.%.0s' $(seq 26))example"; do
	pc_run -c "$CONF" autoconfig srv --domain "$D" --host "$name"
	if [ "$PC_ST" -ne 2 ] || [ -s "$PC_OUT" ] ||
		! grep -q 'not a DNS host name' "$PC_ERR"; then
		bad="$bad [$name]"
	fi
done
[ -z "$bad" ]
tap_ok $? "--host: empty, dots at the ends, empty label, hyphen at a label's end, _, space, numeric TLD, IP, 64-byte label, 270 bytes: all exit 2" ||
	tap_diag "accepted or unexplained:$bad"

pc_run -c "$CONF" autoconfig srv --domain "$D" --name "$(printf 'a\tb')"
ac_fails "--name with a control character" "not UTF-8 text without control characters"

# Issue 9, item 9: XML 1.0 forbids U+FFFE and U+FFFF (xmllint and
# plistlib refused the files); the other noncharacters are refused too.
# Written as UTF-8 bytes: POSIX printf has no \u.
for nc in 'U+FFFE \357\277\276' 'U+FFFF \357\277\277' 'U+FDD0 \357\267\220' \
	'U+FDEF \357\267\257' 'U+1FFFE \360\237\277\276' \
	'U+10FFFF \364\217\277\277'; do
	cp=${nc%% *}
	# shellcheck disable=SC2059 # the bytes are a printf format on purpose
	bytes=$(printf "${nc#* }")
	for fmt in thunderbird mobileconfig html; do
		pc_run -c "$CONF" autoconfig "$fmt" --domain "$D" --name "Acme $bytes Mail"
		ac_fails "$fmt --name with $cp" "$cp is a Unicode noncharacter"
	done
done

# Next to them, real characters pass and read back through xmllint and
# plistlib: U+FFFD, U+FDCF, U+FDF0, U+E000, U+1F600, U+1FFFD, U+10FFFD.
ONAME=$(printf 'Acme \357\277\275\357\267\217\357\267\260\356\200\200\360\237\230\200\360\237\277\275\364\217\277\275 Mail')
pc_run -c "$CONF" autoconfig thunderbird --domain "$D" --name "$ONAME"
[ "$PC_ST" -eq 0 ] && xmllint --noout "$PC_OUT" 2>"$PM_TMP/xmllint.err" &&
	[ "$(xp "$PC_OUT" '//displayName')" = "$ONAME" ]
tap_ok $? "thunderbird: --name next to the noncharacters: valid XML, reads back unchanged" ||
	tap_diag_file "$PM_TMP/xmllint.err"
pc_run -c "$CONF" autoconfig mobileconfig --domain "$D" --name "$ONAME"
got=$(python3 -c 'import plistlib,sys; print(plistlib.load(open(sys.argv[1],"rb"))["PayloadOrganization"])' "$PC_OUT" 2>&1)
[ "$PC_ST" -eq 0 ] && xmllint --noout "$PC_OUT" 2>"$PM_TMP/xmllint.err" && [ "$got" = "$ONAME" ]
tap_ok $? "mobileconfig: --name next to the noncharacters: valid XML, plistlib reads it back unchanged" ||
	{ tap_diag "got: $got"; tap_diag_file "$PM_TMP/xmllint.err"; }

cat >"$PM_TMP/none.conf" <<'EOF'
[port 25]
mode = mx
[port 587]
mode = submission
enabled = no
EOF
pc_run -c "$PM_TMP/none.conf" autoconfig thunderbird --domain "$D"
ac_fails "a config without an enabled submission port" "no enabled port of mode submission or submissions"

# ---- -o FILE ---------------------------------------------------------------

mkdir "$PM_TMP/www"
pc_run -c "$CONF" autoconfig thunderbird --domain "$D" --host "$H" \
	-o "$PM_TMP/www/config-v1.1.xml"
[ "$PC_ST" -eq 0 ] && [ ! -s "$PC_OUT" ] && [ ! -s "$PC_ERR" ] &&
	cmp -s "$PM_TMP/www/config-v1.1.xml" "$TB" &&
	[ "$(ls -A "$PM_TMP/www")" = config-v1.1.xml ]
tap_ok $? "-o FILE: exit 0, prints nothing, FILE = the stdout output, no temporary file left" ||
	{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; ls -A "$PM_TMP/www" | tap_diag_file -; }

echo old >"$PM_TMP/www/help.html"
pc_run -c "$CONF" autoconfig html --domain "$D" --host "$H" -o "$PM_TMP/www/help.html"
[ "$PC_ST" -eq 0 ] && cmp -s "$PM_TMP/www/help.html" "$HT"
tap_ok $? "-o FILE replaces an existing file" || tap_diag_file "$PC_ERR"

pc_run -c "$CONF" autoconfig srv --domain "$D" -o "$PM_TMP/nodir/srv.zone"
ac_fails "-o in a missing directory" "cannot create a temporary file in $PM_TMP/nodir/"
pc_run -c "$PM_TMP/none.conf" autoconfig srv --domain "$D" -o "$PM_TMP/www/srv.zone"
[ ! -e "$PM_TMP/www/srv.zone" ]
tap_ok $? "-o FILE: nothing written when there is an error"

# A port that listens only on the loopback: published, but said.
printf '[port 587]\nmode = submission\nlisten = 127.0.0.1\n' >"$PM_TMP/lo.conf"
pc_run -c "$PM_TMP/lo.conf" autoconfig srv --domain "$D"
[ "$PC_ST" -eq 0 ] && grep -q 'warning: port 587 listens on 127.0.0.1 only' "$PC_ERR"
tap_ok $? "a port on 127.0.0.1 only: a warning" || tap_diag_file "$PC_ERR"

tap_plan
