#!/bin/sh
# dashboard.sh - portmilter-report dashboard against a real PostgreSQL,
# the page opened in a real headless Chromium (TAP).
#
# A throwaway cluster (tests/lib/pg.sh) with tests/sql/fixture.sql,
# tests/sql/tls-fixture.sql and one user whose name is HTML; the page of
# the fixtures' window W; then, in Chromium driven over the DevTools
# protocol (tests/lib/chromium.py): it loads with no console error and
# no request other than itself, a screenshot is taken, and every number
# the charts (data-value of each SVG shape) and the tables show equals
# what the other report commands print for the same window. The checker
# is shown to fail on a page that fetches an image. Without chromium
# (Debian package chromium) the browser cases are skipped.
#
# Environment (set by the automake harness): top_srcdir, top_builddir,
# PORTMILTER_REPORT, PG_BINDIR, CHROMIUM (default: chromium on PATH).

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
chromium=${CHROMIUM:-$(command -v chromium || true)}
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin dashboard	# skip, psql, $tmp and its cleanup, ok/not_ok

skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
check() { # check NAME STATUS [FILES...]
	_name=$1 _st=$2; shift 2
	if [ "$_st" -eq 0 ]; then ok "$_name"; else not_ok "$_name" "$@"; fi
}
DB="dbname=portmilter"
W="--since 2024-03-10 --until 2024-03-12"

if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
PGTZ=America/New_York
export PGTZ
if ! "$report" -d "$DB" migrate --sql-dir "$srcdir/sql" >"$tmp/out" 2>&1 ||
	! psql -X -q -v ON_ERROR_STOP=1 -d portmilter \
		-f "$srcdir/tests/sql/fixture.sql" \
		-f "$srcdir/tests/sql/tls-fixture.sql" >"$tmp/load" 2>&1 ||
	! psql -X -q -v ON_ERROR_STOP=1 -d portmilter >>"$tmp/load" 2>&1 <<'EOF'
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, tls_version, sasl_method,
	sasl_user, nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused,
	verdict, credential_exposure)
VALUES ('f0000000-0000-4000-8000-0000000000a1', '2024-03-11 21:00+00',
	'd0000000-0000-4000-8000-0000000000a1', '2024-03-11 21:00+00',
	'transaction', 'mx1', 587, true, '192.0.2.66', NULL, 'PLAIN',
	'<img src=x onerror=alert(1)>"''&', 0, 0, 0, 0, 'rejected', true);
-- 12 more users with a credential exposure: the chart shows 10
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time,
	kind, node, port, port_known, client_addr, sasl_method, sasl_user,
	nrcpt, nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, verdict,
	rule, credential_exposure)
SELECT gen_random_uuid(), '2024-03-11 20:00+00', gen_random_uuid(),
	'2024-03-11 20:00+00', 'transaction', 'mx1', 587, true, '192.0.2.67',
	'PLAIN', 'exp' || i || '@example.test', 0, 0, 0, 0, 'rejected',
	'tls_before_auth', true
FROM generate_series(10, 21) AS i;
EOF
then
	cat "$tmp/out" "$tmp/load" | sed 's/^/# /'
	echo "Bail out! cannot load the fixtures"
	exit 1
fi

# ---- the page -------------------------------------------------------------------

mkdir "$tmp/www"
page=$tmp/www/dashboard.html
"$report" -d "$DB" $W dashboard -o "$page" >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" -eq 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && [ -s "$page" ] &&
	[ "$(ls -A "$tmp/www")" = dashboard.html ]
check "dashboard -o FILE: exit 0, silent, FILE written, no temporary file left" $? "$tmp/err"

grep -q "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">" "$page" &&
	! grep -Eiq '<(script|link|img|iframe|object|embed|audio|video|source)[[:space:]>]|[[:space:]](src|href)="|url\(|@import' "$page" &&
	grep -q '&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;' "$page"
check "the page: a default-src 'none' CSP, no script, no link, no src/href/url(), the HTML user name escaped" $?

for id in ports traffic adoption rules tls users networks exposures; do
	grep -q "<table class=\"data\" id=\"$id-data\"" "$page" || echo "$id" >>"$tmp/missing"
done
[ ! -s "$tmp/missing" ]
check "a data table for each chart and the ports (ports traffic adoption rules tls users networks exposures)" $? "$tmp/missing"

# The queries run on three connections reading one snapshot: the first
# exports it, the two others import it (every statement logged for this
# run: PGOPTIONS reaches each connection); a role allowed one connection
# gets the same page from that one alone (the times in it aside).
lines=$(wc -l <"$tmp/log")
PGOPTIONS="-c log_statement=all" "$report" -d "$DB" $W dashboard \
	-o "$tmp/par.html" >"$tmp/out" 2>"$tmp/err"
st=$?
tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/par.log"
[ "$st" -eq 0 ] && [ ! -s "$tmp/err" ] &&
	[ "$(grep -c 'statement: SELECT pg_catalog.pg_export_snapshot()' "$tmp/par.log")" -eq 1 ] &&
	[ "$(grep -c "statement: SET TRANSACTION SNAPSHOT '" "$tmp/par.log")" -eq 2 ] &&
	[ "$(grep -c ': BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY' "$tmp/par.log")" -eq 3 ] &&
	[ "$(grep -o '\[[0-9]*\] LOG:  execute <unnamed>: .*portmilter\.\(port_traffic_between\|dashboard_\|port_adoption_between\|port_transactions_between\)' "$tmp/par.log" |
		cut -d']' -f1 | sort -u | wc -l)" -eq 3 ] &&
	! grep -q 'ERROR:' "$tmp/par.log"
check "the queries run on 3 connections sharing one exported snapshot, no error" $? "$tmp/err" "$tmp/par.log"

psql -X -q -v ON_ERROR_STOP=1 -d portmilter -c "CREATE ROLE dash_one LOGIN CONNECTION LIMIT 1;
	GRANT portmilter_reader TO dash_one; ALTER ROLE dash_one SET log_statement = 'all'" \
	>"$tmp/out" 2>&1
lines=$(wc -l <"$tmp/log")
"$report" -d "$DB user=dash_one" $W dashboard \
	-o "$tmp/one.html" >"$tmp/out" 2>"$tmp/err"
st=$?
tail -n +"$((lines + 1))" "$tmp/log" >"$tmp/one.log"
sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.+Z-]*//g' "$tmp/par.html" >"$tmp/par.cmp"
sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9:.+Z-]*//g' "$tmp/one.html" >"$tmp/one.cmp"
[ "$st" -eq 0 ] && [ ! -s "$tmp/err" ] && [ -s "$tmp/one.html" ] &&
	cmp -s "$tmp/par.cmp" "$tmp/one.cmp" &&
	! grep -q "statement: SET TRANSACTION SNAPSHOT" "$tmp/one.log" &&
	grep -q 'too many connections for role "dash_one"' "$tmp/one.log"
check "a role allowed one connection: the same page from that one connection" $? \
	"$tmp/err" "$tmp/one.log"

"$report" -d "$DB" $W dashboard >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'needs -o FILE.html' "$tmp/err"
check "dashboard without -o: exit 2" $? "$tmp/err"
"$report" -d "$DB" $W dashboard -o "$tmp/nodir/x.html" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] && grep -q 'cannot create a temporary file' "$tmp/err" && [ ! -e "$tmp/nodir" ]
check "dashboard -o in a missing directory: exit 1, said" $? "$tmp/err"
"$report" -d "$DB" $W ports -o "$tmp/x.html" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -q 'option not valid' "$tmp/err"
check "-o with another command: exit 2" $? "$tmp/err"

# ---- in Chromium ------------------------------------------------------------------

if [ -z "$chromium" ] || ! command -v python3 >/dev/null 2>&1; then
	for c in "loads, no request, no console error" "screenshot" \
		"numbers = the report's" "the checker fails on a fetch"; do
		skip "$c: chromium or python3 not installed"
	done
	echo "1..$n"
	exit 0
fi

python3 "$srcdir/tests/lib/chromium.py" "$chromium" "$page" "$tmp/dom.json" \
	"$tmp/shot.png" >"$tmp/cr.out" 2>&1
st=$?
[ "$st" -eq 0 ] || python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("requests:", d["requests"]); print("console:", d["console"])' \
	"$tmp/dom.json" >>"$tmp/cr.out" 2>&1
check "Chromium (headless) loads the page: no request but the page, no console error" $st "$tmp/cr.out"

head -c 8 "$tmp/shot.png" 2>/dev/null | od -An -tx1 | tr -d ' \n' >"$tmp/magic"
[ "$(cat "$tmp/magic")" = 89504e470d0a1a0a ] && [ "$(wc -c <"$tmp/shot.png")" -gt 20000 ]
check "a screenshot of the whole page (PNG, $(wc -c <"$tmp/shot.png" 2>/dev/null) bytes)" $?
[ -n "${DASHBOARD_SHOT:-}" ] && cp "$tmp/shot.png" "$DASHBOARD_SHOT"

# The report's own numbers for the same window, then the comparison.
R() { "$report" -d "$DB" $W --format json "$@"; }
R ports >"$tmp/ports.json" && R adoption >"$tmp/adoption.json" &&
	R tls >"$tmp/tls.json" || echo "a report command failed" >>"$tmp/cmp"
report=$report python3 - "$tmp" >>"$tmp/cmp" 2>&1 <<'EOF'
import json, subprocess, sys, os
from collections import defaultdict
from decimal import Decimal
tmp = sys.argv[1]
dom = json.load(open(tmp + '/dom.json'))
ports = json.load(open(tmp + '/ports.json'))
adoption = json.load(open(tmp + '/adoption.json'))
tls = json.load(open(tmp + '/tls.json'))
bad = []
def R(*args):
    out = subprocess.run([os.environ['report'], '-d', 'dbname=portmilter',
                          '--since', '2024-03-10', '--until', '2024-03-12',
                          '--format', 'json'] + list(args),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
def eq(what, got, want):
    if got != want:
        bad.append('%s: page %r, report %r' % (what, got, want))
pname = lambda p: 'unknown' if p is None else str(p)
chart = defaultdict(dict)
for c, x, s, v in dom['charts']:
    if Decimal(v) != 0:  # a connection-only bucket: 0 transactions
        chart[c][(x, s)] = Decimal(v)
table = defaultdict(dict)
for t, x, s, v in dom['tables']:
    if Decimal(v) != 0:
        table[t][(x, s)] = Decimal(v)
for c in chart:  # every shape's number is in its table, and back
    eq('chart %s = its table' % c, chart[c], table[c])
# ports: the `ports` rows, column by column
want = [{k: pname(r[k]) if k == 'port' else str(r[k]) for k in dom['ports'][0]}
        for r in ports] if dom['ports'] else []
eq('ports table', dom['ports'], want)
# traffic and tls, summed per port = transactions of `ports`
for c in ('traffic', 'tls'):
    per = defaultdict(Decimal)
    for (x, s), v in chart[c].items():
        per[s if c == 'traffic' else x] += v
    eq(c + ' per port', dict(per),
       {pname(r['port']): Decimal(r['transactions']) for r in ports if r['transactions']})
# tls per port and version (not none: the page counts every
# transaction without TLS, tls only those with AUTH) = `tls` transactions
per = defaultdict(Decimal)
for r in tls:
    if r['tls_version'] != 'none' and r['transactions']:
        per[(pname(r['port']), r['tls_version'])] += r['transactions']
eq('tls per port and version', {k: v for k, v in chart['tls'].items() if k[1] != 'none'}, dict(per))
# adoption = `adoption` share
eq('adoption', chart['adoption'],
   {(r['day'], pname(r['port'])): Decimal(str(r['share'])) for r in adoption if r['share']})
# rules = rejects_by_rule of `ports`, summed
per = defaultdict(Decimal)
for r in ports:
    for rule, k in r['rejects_by_rule'].items():
        per[(rule, '')] += k
eq('rules', chart['rules'], dict(per))
# users and exposures: `user NAME`; networks: `ip NET`
for c, key in (('users', 'transactions'), ('exposures', 'exposures')):
    for (x, s), v in chart[c].items():
        eq('%s %s' % (c, x), v, sum(Decimal(r[key]) for r in R('user', x)))
for (x, s), v in chart['networks'].items():
    eq('networks ' + x, v, sum(Decimal(r['connections']) for r in R('ip', x)))
vals = [v for v in chart['users'].values()]
eq('users: most first, at most 10', vals == sorted(vals, reverse=True) and len(vals) <= 10, True)
eq('the HTML user name is a user, as text', any(x.startswith('<img') for x, s in chart['users']), True)
vals = [v for v in chart['exposures'].values()]
eq('exposures: most first, 10 shown', vals == sorted(vals, reverse=True) and len(vals) == 10, True)
for b in bad:
    print(b)
print('%d shapes, %d table cells compared' % (len(dom['charts']), len(dom['tables'])))
sys.exit(1 if bad else 0)
EOF
st=$?
check "every chart and table number equals the report's (ports, adoption, tls, user, ip) for the window: $(tail -n 1 "$tmp/cmp")" $st "$tmp/cmp"

# The checker can fail: the same page fetching an image.
sed 's|<h1>|<img src="http://192.0.2.1/x.png" alt=""><h1>|' "$page" >"$tmp/www/bad.html"
python3 "$srcdir/tests/lib/chromium.py" "$chromium" "$tmp/www/bad.html" \
	"$tmp/bad.json" "$tmp/bad.png" >"$tmp/cr.out" 2>&1
st=$?
[ "$st" -eq 1 ] && grep -q '192.0.2.1' "$tmp/bad.json"
check "the checker fails on a page with an <img> from the network (blocked by the CSP, reported)" $? "$tmp/cr.out" "$tmp/bad.json"

echo "1..$n"
