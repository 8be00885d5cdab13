# shellcheck shell=sh
# notify-lib.sh - what tests/watch/notify*.sh share (sourced, POSIX sh):
# a throwaway PostgreSQL with the alert tables, alerts made in SQL, the
# driver (tests/watch/notify_driver), a throwaway CA and server
# certificate, and the HTTPS webhook receiver
# (tests/watch/webhook-receiver.py).
#
#   notify_begin NAME  pg_test_begin NAME (tests/lib/pg.sh: skip without
#                      PostgreSQL, $tmp, ok/not_ok), PostgreSQL started,
#                      the alert tables made by the migrations.
#                      The receiver is stopped on any exit.
#   q SQL              psql on the test database, unaligned, no header
#   add_alerts N CHANNELS [SUBJECT [SUMMARY]]
#                      N alerts (many_places, user SUBJECT, default
#                      user1..userN) with one pending delivery a channel
#                      (CHANNELS: "webhook", "email,syslog"...)
#   drv ARGS...        the driver on the test database: stdout in
#                      $tmp/drv.out, stderr in $tmp/drv.err, status $rc
#   notify_certs       $tmp/ca.pem (a CA), $tmp/srv.pem, $tmp/srv.key (a
#                      server certificate it signed for 127.0.0.1 and
#                      localhost)
#   receiver_start SECRET_FILE [ARGS...]
#                      the receiver on $rport (any free port the first
#                      time, the same one after), logging to $tmp/hook.log;
#                      waits until it listens
#   receiver_stop      stop it (quiet; safe when it is not running)

srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
driver=$builddir/tests/watch/notify_driver
report=$builddir/report/portmilter-report
. "$srcdir/tests/lib/pg.sh"

# n (pg.sh's case counter) and rc are read by the scripts sourcing this
# shellcheck disable=SC2034
tmp='' n=0 rc=0 rport=0 rpid=''

notify_begin() {
	pg_test_begin "$1"
	trap 'receiver_stop; pg_stop "$tmp"; rm -rf "$tmp"' EXIT
	for _nb_t in python3 openssl; do
		command -v "$_nb_t" >/dev/null 2>&1 || {
			tap_skip_all "$_nb_t not installed"
		}
	done
	if [ ! -x "$driver" ]; then
		echo "Bail out! $driver is not built"
		exit 1
	fi
	if ! pg_start "$tmp" 2>"$tmp/pg_start.err"; then
		sed 's/^/# /' "$tmp/pg_start.err"
		echo "Bail out! cannot start PostgreSQL"
		exit 1
	fi
	"$report" -d dbname=portmilter migrate --sql-dir "$srcdir/sql" \
		>"$tmp/schema.log" 2>&1 || {
		sed 's/^/# /' "$tmp/schema.log"
		echo "Bail out! cannot make the alert tables"
		exit 1
	}
}

q() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d portmilter -c "$1"
}

add_alerts() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -d portmilter \
		-v n="$1" -v ch="$2" -v subj="${3:-}" -v summ="${4:-}" <<'SQL'
WITH a AS (
  INSERT INTO portmilter.alerts (detector, subject_kind, subject, state,
                                 summary, evidence, watch_node)
  SELECT 'many_places', 'user',
         CASE WHEN :'subj' = '' THEN 'user' || i ELSE :'subj' END, 'fired',
         CASE WHEN :'summ' = '' THEN 'used 5 countries in 20 min' ELSE :'summ' END,
         jsonb_build_object('addresses', 40, 'countries',
                            jsonb_build_array('BR', 'CZ', 'DE', 'JP', 'US'),
                            'window_s', 1200, 'n', i),
         'w0'
  FROM generate_series(1, :n) AS i
  RETURNING alert_id)
INSERT INTO portmilter.alert_deliveries (alert_id, channel)
SELECT a.alert_id, c FROM a, unnest(string_to_array(:'ch', ',')) AS c;
SQL
}

drv() {
	"$driver" "$@" dbname=portmilter >"$tmp/drv.out" 2>"$tmp/drv.err"
	# shellcheck disable=SC2034 # read by the scripts sourcing this
	rc=$?
}

notify_certs() {
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-nodes -days 2 -subj /CN=portmilter-test-ca \
			-keyout "$tmp/ca.key" -out "$tmp/ca.pem" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-nodes -subj /CN=localhost \
			-keyout "$tmp/srv.key" -out "$tmp/srv.csr" &&
		printf '%s\n' "basicConstraints = CA:FALSE" \
			"extendedKeyUsage = serverAuth" \
			"subjectAltName = IP:127.0.0.1, DNS:localhost" >"$tmp/srv.ext" &&
		openssl x509 -req -in "$tmp/srv.csr" -CA "$tmp/ca.pem" \
			-CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
			-extfile "$tmp/srv.ext" -out "$tmp/srv.pem"
	} >"$tmp/openssl.log" 2>&1 || {
		sed 's/^/# /' "$tmp/openssl.log"
		echo "Bail out! cannot make the test certificates"
		exit 1
	}
}

receiver_start() {
	_rs_secret=$1
	shift
	rm -f "$tmp/hook.port"
	python3 "$srcdir/tests/watch/webhook-receiver.py" --cert "$tmp/srv.pem" \
		--key "$tmp/srv.key" --secret-file "$_rs_secret" \
		--log "$tmp/hook.log" --port-file "$tmp/hook.port" \
		--port "$rport" "$@" 2>>"$tmp/hook.err" &
	rpid=$!
	_rs_i=0
	while [ ! -s "$tmp/hook.port" ]; do
		_rs_i=$((_rs_i + 1))
		if [ "$_rs_i" -gt 100 ] || ! kill -0 "$rpid" 2>/dev/null; then
			sed 's/^/# /' "$tmp/hook.err"
			echo "Bail out! the webhook receiver did not start"
			exit 1
		fi
		sleep 0.1
	done
	rport=$(cat "$tmp/hook.port")
}

receiver_stop() {
	[ -n "$rpid" ] || return 0
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	rpid=''
	return 0
}
