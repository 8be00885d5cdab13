#!/bin/sh
# limits.sh - portmilter-report limits against a real PostgreSQL (TAP).
#
# A throwaway cluster (tests/lib/pg.sh), the migrations, known rows in
# portmilter.usage (two nodes, several ports, a class, an address on
# 25, usage inside and outside the windows), a portmilter.conf with
# budgets and a limit_classes file; the report's output compared with
# values worked out BY HAND from them, in every format; then the bad
# command lines; then the rows the trigger of sql/008 (its function
# rewritten in 013) makes from events.
#
# Environment (set by the automake harness): top_srcdir, top_builddir,
# PORTMILTER_REPORT (the binary), PG_BINDIR.

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
report=${PORTMILTER_REPORT:-$builddir/report/portmilter-report}
. "$srcdir/tests/lib/pg.sh"

tmp='' n=0	# both set by pg_test_begin (tests/lib/pg.sh)
pg_test_begin limits	# skip, psql, $tmp and its cleanup, ok/not_ok

DB="dbname=portmilter"
rep() { "$report" -d "$DB" -c "$tmp/pm.conf" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?; }
exp_csv() { awk '{ printf "%s\r\n", $0 }' >"$tmp/exp"; }
fails() {
	name=$1 want=$2 text=$3; shift 3
	"$report" -d "$DB" -c "$tmp/pm.conf" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
	if [ "$rc" -eq "$want" ] && grep -qF -- "$text" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		ok "$name"
	else
		echo "exit status $rc, wanted $want and \"$text\"" >"$tmp/diff"
		not_ok "$name" "$tmp/diff" "$tmp/err" "$tmp/out"
	fi
}

if [ ! -x "$report" ]; then
	echo "Bail out! $report is not built"
	exit 1
fi
if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
	sed 's/^/# /' "$tmp/pg_start.err"
	echo "Bail out! cannot start PostgreSQL"
	exit 1
fi
if ! "$report" -d "$DB" migrate --sql-dir "$srcdir/sql" >"$tmp/migrate.out" 2>&1; then
	sed 's/^/# /' "$tmp/migrate.out"
	echo "Bail out! migrate failed"
	exit 1
fi

cat >"$tmp/classes" <<'EOF'
class bulk limit_messages = 100/1h
Newsletter@example.test bulk
EOF
cat >"$tmp/pm.conf" <<EOF
limit_classes = $tmp/classes

[port 25]
mode = mx
limit_messages = 10/1h

[port 587]
mode = submission
limit_messages = 4/1h, 10/1d
limit_bytes = 1M/1h

[port 5870]
like = 587

[port 465]
mode = submissions
EOF

# The usage, by hand:
#   alice: 2 on node-a/587 10 min ago, 2 on node-b/5870 20 min ago
#          (4 of 4/1h on both ports: spent), 1 on 587 2 h ago (5 of
#          10/1d: 50 %), 600 KiB in the hour (58.6 % of 1M);
#   bob:   3 on 587 5 min ago (75 % of 4/1h);
#   carol: 5 on 587 a minute ago (125 %: over, what another node let
#          through before the pull; 50 % of 10/1d);
#   dave:  1 on 587 with 1000 KiB = 1024000 bytes (97.65625 % of 1M);
#   newsletter (class bulk, 100/1h instead of the port's messages
#          budgets): 50 on 587 (50 %);
#   192.0.2.7 on 25 (unauthenticated): 9 (90 % of 10/1h);
#   erin:  4 on 465 (no budgets there), 4 on 587 two days ago;
#   192.0.2.0/24 on 25: 50, a row whose address maintain reduced (013):
#          it names no client any more, so it is nobody's usage.
psql -X -q -v ON_ERROR_STOP=1 -d portmilter >"$tmp/fill.out" 2>&1 <<'EOF' ||
INSERT INTO portmilter.usage (node, at, port, login, client, messages,
			      recipients, kbytes) VALUES
 ('node-a', now() - interval '10 min', 587, 'alice@example.test', NULL, 2, 2, 300),
 ('node-b', now() - interval '20 min', 5870, 'alice@example.test', NULL, 2, 4, 300),
 ('node-a', now() - interval '2 hours', 587, 'alice@example.test', NULL, 1, 1, 1),
 ('node-a', now() - interval '5 min', 587, 'bob@example.test', NULL, 3, 3, 3),
 ('node-b', now() - interval '1 min', 587, 'carol@example.test', NULL, 5, 5, 5),
 ('node-a', now() - interval '3 min', 587, 'dave@example.test', NULL, 1, 1, 1000),
 ('node-a', now() - interval '3 min', 587, 'newsletter@example.test', NULL, 50, 900, 50),
 ('node-a', now() - interval '4 min', 25, NULL, '192.0.2.7', 9, 9, 9),
 ('node-a', now() - interval '4 min', 465, 'erin@example.test', NULL, 4, 4, 4),
 ('node-a', now() - interval '2 days', 587, 'erin@example.test', NULL, 4, 4, 4),
 ('node-b', now() - interval '4 min', 25, NULL, '192.0.2.0/24', 50, 50, 50);
EOF
{
	sed 's/^/# /' "$tmp/fill.out"
	echo "Bail out! cannot fill portmilter.usage"
	exit 1
}

rep limits --format csv
exp_csv <<'EOF'
port,user,class,limit,budget,used,percent,status
587,carol@example.test,,limit_messages,4/1h,5,125.0,over
587,alice@example.test,,limit_messages,4/1h,4,100.0,spent
5870,alice@example.test,,limit_messages,4/1h,4,100.0,spent
587,dave@example.test,,limit_bytes,1M/1h,1024000,97.7,near
25,192.0.2.7,,limit_messages,10/1h,9,90.0,near
EOF
same "limits (csv): over, spent on both ports of alice, near; 80 % by default"

rep limits --near 50 --port 587 --format csv
exp_csv <<'EOF'
port,user,class,limit,budget,used,percent,status
587,carol@example.test,,limit_messages,4/1h,5,125.0,over
587,alice@example.test,,limit_messages,4/1h,4,100.0,spent
587,dave@example.test,,limit_bytes,1M/1h,1024000,97.7,near
587,bob@example.test,,limit_messages,4/1h,3,75.0,near
587,alice@example.test,,limit_bytes,1M/1h,614400,58.6,near
587,alice@example.test,,limit_messages,10/1d,5,50.0,near
587,carol@example.test,,limit_messages,10/1d,5,50.0,near
587,newsletter@example.test,bulk,limit_messages,100/1h,50,50.0,near
EOF
same "limits --near 50 --port 587: the class's budget for its user, the day's window"

rep limits --port 25 --format json
printf '%s\n' '[' \
'{"port":25,"user":"192.0.2.7","class":null,"limit":"limit_messages","budget":"10/1h","used":9,"percent":90.0,"status":"near"}' \
']' >"$tmp/exp"
same "limits --port 25 (json): an address on the mx port"

rep limits --port 465 --near 0 --format csv
exp_csv <<'EOF'
port,user,class,limit,budget,used,percent,status
EOF
same "limits --port 465: a port without budgets lists nobody"

fails "limits --near -1: refused" 2 "--near must be a percentage" limits --near -1
fails "limits --port 0: refused" 2 "--port must be a port number" limits --port 0
fails "limits --since: not an option of limits" 2 "option not valid" limits --since 1h
"$report" -d "$DB" -c "$tmp/missing.conf" limits >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -qF "cannot read the budgets" "$tmp/err"; then
	ok "limits without a readable config: exit 1, says why"
else
	not_ok "limits without a readable config: exit 1, says why" "$tmp/err"
fi

# ---- the rows the trigger makes (008; its function rewritten in 013) ----
# By hand: one row per node, second, port and key, of the accepted
# transactions only; the login in ASCII lower case (Alice and ALICE are
# alice, ÄLICE is Älice), else the IPv4 address (also IPv4-mapped, also
# with an empty login) or the IPv6 /64; KiB rounded up per message.
psql -X -q -A -t -F ' ' -v ON_ERROR_STOP=1 -d portmilter >"$tmp/out" 2>&1 <<'EOF'
DELETE FROM portmilter.usage;
INSERT INTO portmilter.events (event_id, event_time, conn_id, conn_time, kind,
	node, port, port_known, client_addr, sasl_user, nrcpt, nrcpt_rejected,
	nrcpt_tempfailed, nrcpt_refused, size, verdict, credential_exposure)
SELECT gen_random_uuid(), timestamptz '2024-03-10 10:00:00+00' + v.s * interval '1 s',
	gen_random_uuid(), timestamptz '2024-03-10 10:00:00+00', v.kind, v.node,
	v.port, true, v.addr::inet, v.login, v.nrcpt, 0, 0, 0, v.size, v.verdict, false
FROM (VALUES
	(0.5, 'transaction', 'n1', 587, '192.0.2.9', 'Alice', 2, 1024, 'accepted'),
	(0.999999, 'transaction', 'n1', 587, NULL, 'ALICE', 1, 1025, 'accepted'),
	(0.2, 'transaction', 'n1', 587, NULL, 'ÄLICE', 1, 1, 'accepted'),
	(1.0, 'transaction', 'n1', 587, NULL, 'alice', 1, NULL, 'accepted'),
	(1.0, 'transaction', 'n2', 587, NULL, 'alice', 1, 0, 'accepted'),
	(0.1, 'transaction', 'n1', 25, '::ffff:192.0.2.1', NULL, 1, 10, 'accepted'),
	(0.3, 'transaction', 'n1', 25, '192.0.2.1', '', 3, 2048, 'accepted'),
	(0.4, 'transaction', 'n1', 25, '2001:db8::1', NULL, 1, 1, 'accepted'),
	(0.6, 'transaction', 'n1', 25, '2001:db8::2:3', NULL, 1, 1, 'accepted'),
	(0.7, 'transaction', 'n1', 25, '192.0.2.2', NULL, 1, 1, 'rejected'),
	(0.8, 'connection', 'n1', 25, '192.0.2.3', NULL, 0, NULL, 'none'),
	(0.9, 'transaction', 'n1', 25, NULL, NULL, 1, 1, 'accepted')
) AS v(s, kind, node, port, addr, login, nrcpt, size, verdict);
SELECT pg_catalog.to_char(at AT TIME ZONE 'UTC', 'HH24:MI:SS'), node, port,
	COALESCE(login, '-'), COALESCE(client::text, '-'), messages, recipients, kbytes
FROM portmilter.usage ORDER BY at, node, port, login COLLATE "C", client;
EOF
rc=$?
: >"$tmp/err"
cat >"$tmp/exp" <<'EOF'
10:00:00 n1 25 - 192.0.2.1/32 2 4 3
10:00:00 n1 25 - 2001:db8::/64 2 2 2
10:00:00 n1 587 alice - 2 3 3
10:00:00 n1 587 Älice - 1 1 1
10:00:01 n1 587 alice - 1 1 0
10:00:01 n2 587 alice - 1 1 0
EOF
same "the usage trigger: one row per second and key, logins folded in ASCII only, IPv4-mapped, /64"

echo "1..$n"
