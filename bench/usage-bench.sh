#!/bin/sh
# usage-bench.sh - the cost of the budgets across nodes in PostgreSQL, on
# demand (not part of make check).
#
#   sh bench/usage-bench.sh [ROWS [NEW]]    (default 1000000 and 2000)
#
# A throwaway cluster with the schema; ROWS rows of portmilter.usage of
# other nodes spread over the last day (as many distinct users), then:
#   1. the milter's first read (every row of a 1-day window): time, rows;
#   2. NEW rows committed after a snapshot (a busy cluster's 2 s), then
#      the milter's incremental read: time, rows;
#   3. the trigger's cost on shipping: a batch of 2000 accepted events
#      INSERTed with the trigger, and with it disabled, 20 times each;
#   4. usage_prune() of the rows older than 1 h.
# The SQL is the milter's (milter/usage.c), through psql with \timing.
set -eu
ROWS=${1:-1000000}
NEW=${2:-2000}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/w}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
. "$top/tests/milter/lib.sh"
. "$top/tests/lib/pg.sh"
pm_tmp_setup
chmod 755 "$PM_TMP"
# shellcheck disable=SC2034,SC2016 # run by pm_cleanup
PM_CLEANUP_HOOK='pg_stop "$PM_TMP/pg"'
pg_start "$PM_TMP/pg"
command -v psql >/dev/null 2>&1 || PATH=$(pg_bindir):$PATH
"$build/report/portmilter-report" -d dbname=portmilter migrate \
	--sql-dir "$top/sql" >/dev/null
q() { psql -X -q -A -t -d portmilter "$@"; }

echo "== $ROWS usage rows of other nodes over the last day (load: $(cut -d' ' -f1-3 /proc/loadavg))"
q -c "INSERT INTO portmilter.usage (node, at, port, login, messages, recipients, kbytes)
	SELECT 'node-' || (i % 3), now() - (i % 86400) * interval '1 second', 587,
	       'user' || i || '@example.com', 1, 2, 20
	FROM generate_series(1, $ROWS) AS i; ANALYZE portmilter.usage"
SQL_ROWS="SELECT pg_catalog.date_part('epoch', u.at)::bigint, u.port, u.login,
 pg_catalog.host(u.client), u.messages, u.recipients, u.kbytes
 FROM portmilter.usage AS u
 WHERE u.at >= pg_catalog.now() - 90000 * interval '1 second'
 AND (u.node <> 'node-me' OR u.at < pg_catalog.to_timestamp(0))"

echo "== 1. first read (1-day window)"
q -c '\timing on' -c "SELECT count(*) FROM ($SQL_ROWS) AS x" |
	sed 's/^/   /'
q -c "SELECT pg_current_snapshot()" >"$PM_TMP/snap"
SNAP=$(cat "$PM_TMP/snap")

echo "== 2. $NEW new rows, then the incremental read"
q -c "INSERT INTO portmilter.usage (node, at, port, login, messages, recipients, kbytes)
	SELECT 'node-1', now(), 587, 'new' || i || '@example.com', 1, 1, 1
	FROM generate_series(1, $NEW) AS i"
q -c '\timing on' -c "SELECT count(*) FROM ($SQL_ROWS
	AND u.xid >= pg_catalog.pg_snapshot_xmin('$SNAP'::pg_snapshot)
	AND NOT pg_catalog.pg_visible_in_snapshot(u.xid, '$SNAP'::pg_snapshot)) AS x" |
	sed 's/^/   /'
q -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM ($SQL_ROWS
	AND u.xid >= pg_catalog.pg_snapshot_xmin('$SNAP'::pg_snapshot)
	AND NOT pg_catalog.pg_visible_in_snapshot(u.xid, '$SNAP'::pg_snapshot)) AS x" |
	sed 's/^/   /'

echo "== 3. shipping 2000 accepted events: with the trigger, without"
q -c "CREATE UNLOGGED TABLE public.batch (LIKE portmilter.events)"
batch() {
	q -c "TRUNCATE public.batch;
	INSERT INTO public.batch (event_id, event_time, conn_id, conn_time, kind,
		node, port, port_known, client_addr, sasl_user, nrcpt,
		nrcpt_rejected, nrcpt_tempfailed, nrcpt_refused, size, verdict,
		credential_exposure)
	SELECT gen_random_uuid(), now(), gen_random_uuid(), now(), 'transaction',
		'node-me', 587, true, '192.0.2.1', 'u' || (i % 500) || '@example.com',
		2, 0, 0, 0, 5000, 'accepted', false
	FROM generate_series(1, 2000) AS i" >/dev/null
	q -c '\timing on' -c "INSERT INTO portmilter.events SELECT * FROM public.batch
		ON CONFLICT DO NOTHING" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
for mode in with without; do
	[ "$mode" = without ] &&
		q -c "ALTER TABLE portmilter.events DISABLE TRIGGER events_usage"
	total=0 k=0
	while [ "$k" -lt 20 ]; do
		t=$(batch)
		total=$(echo "$total + $t" | bc)
		k=$((k + 1))
	done
	echo "   $mode the trigger: $(echo "scale=1; $total / 20" | bc) ms per 2000-event batch"
done

echo "== 4. usage_prune(1 hour)"
q -c '\timing on' -c "SELECT portmilter.usage_prune(interval '1 hour')" |
	sed 's/^/   /'
echo "   load after: $(cut -d' ' -f1-3 /proc/loadavg)"
