#!/bin/sh
# notify.sh - webhook delivery of portmilter-watch alerts (watch/notify.c)
# against a throwaway PostgreSQL and a real HTTPS receiver (TAP).
#
# tests/watch/notify_driver calls notify_run() on alert rows made in SQL;
# tests/watch/webhook-receiver.py (TLS with a certificate from a CA made
# here) checks every POST's signature, document and delivery id and logs
# it. Cases: one alert with hostile strings arrives intact and signed;
# TLS is verified (no CA file: nothing sent); a wrong secret is caught
# by the receiver and the row waits; a world-readable secret file is
# refused before anything is sent; the receiver down, then up: every
# alert arrives exactly once; HTTP 500 until retry_attempts, then
# 'failed'; an old alert expires; two drivers at once on 200 alerts:
# each delivered once.
#
# Environment: top_srcdir, top_builddir (set by the automake harness);
# NOTIFY_OUTAGE_S, how long the receiver stays down (3 s; 60 s for the
# issue's "down for a minute", on demand), and NOTIFY_RETRY, the
# driver's -r (1,2,50,3600: backoff from 1 s to 2 s; 30,3600,20,86400
# are the defaults).

# Set by notify-lib.sh (named here: shellcheck does not read it).
tmp='' n=0 rc=0 rport=0 driver=''
# shellcheck source=tests/watch/notify-lib.sh
. "${top_srcdir:-.}/tests/watch/notify-lib.sh"

notify_begin notify
outage=${NOTIFY_OUTAGE_S:-3}
retry=${NOTIFY_RETRY:-1,2,50,3600}
notify_certs
printf 'test-secret-1\n' >"$tmp/secret" && chmod 600 "$tmp/secret"
printf 'another-secret\n' >"$tmp/wrong" && chmod 600 "$tmp/wrong"
receiver_start "$tmp/secret"
url=https://127.0.0.1:$rport/hook
hook="-u $url -s $tmp/secret -c $tmp/ca.pem"

# hook_stats: "lines=N ids=D badsig=B bad=P" for $tmp/hook.log (lines,
# distinct delivery ids, bad signatures, documents with problems), from
# the receiver's JSON lines as json.dumps writes them.
hook_stats() {
	printf 'lines=%d ids=%d badsig=%d bad=%d\n' \
		"$(wc -l <"$tmp/hook.log")" \
		"$(grep -o '"delivery": "[^"]*"' "$tmp/hook.log" | sort -u | wc -l)" \
		"$(grep -c '"sig": "bad"' "$tmp/hook.log")" \
		"$(grep -vc '"problems": \[\]' "$tmp/hook.log")"
}
# reset: no alert, an empty receiver log.
reset() { q "DELETE FROM portmilter.alerts" && : >"$tmp/hook.log"; }
# verdict STATUS NAME: ok NAME if STATUS is 0, else not ok and the
# driver's output and logs.
verdict() {
	if [ "$1" -eq 0 ]; then
		ok "$2"
	else
		not_ok "$2" "$tmp/drv.out" "$tmp/drv.err" "$tmp/hook.log" "$tmp/hook.err"
	fi
}
# shellcheck disable=SC2086 # $hook: options and their values
{

# ---- one alert, hostile strings ------------------------------------------
reset
hostile=$(printf 'bob"\\\r\n\t\001 caf\303\251 \342\200\250 </x>')
add_alerts 1 webhook "$hostile" "$(printf 'line one\nline two "q"')"
id=$(q "SELECT alert_id FROM portmilter.alerts")
drv $hook -n node-a
[ "$rc" -eq 0 ] && grep -qx 'delivered 1' "$tmp/drv.out"
verdict $? "one alert: delivered 1"
python3 - "$tmp/hook.log" "$id" >"$tmp/py.out" 2>&1 <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
aid = int(sys.argv[2])
assert len(rows) == 1, rows
r = rows[0]
assert r["sig"] == "ok" and r["problems"] == [] and r["status"] == 200, r
assert r["delivery"] == "alert-%d" % aid and r["attempt"] == "1", r
b = r["body"]
assert b["alert_id"] == aid, b
assert b["subject"] == 'bob"\\\r\n\t\x01 caf\u00e9 \u2028 </x>', repr(b["subject"])
assert b["summary"] == 'line one\nline two "q"', repr(b["summary"])
assert b["evidence"] == {"addresses": 40, "countries": ["BR", "CZ", "DE", "JP", "US"],
                         "window_s": 1200, "n": 1}, b["evidence"]
assert b["detector"] == "many_places" and b["subject_kind"] == "user", b
assert b["state"] == "fired" and b["suspended"] is False, b
assert b["node"] == "w0" and b["sent_by"] == "node-a", b
assert b["fired_at"].endswith("Z") and len(b["fired_at"]) == 27, b["fired_at"]
PY
py_rc=$?
[ "$py_rc" -eq 0 ] || sed 's/^/# /' "$tmp/py.out"
verdict "$py_rc" "one alert: the receiver got it signed, with its delivery id, every string intact"
[ "$(q "SELECT state, attempts, sent_at IS NOT NULL, last_error IS NULL FROM portmilter.alert_deliveries")" = "sent|1|t|t" ]
verdict $? "one alert: the row is sent, after 1 attempt"
drv $hook
[ "$rc" -eq 0 ] && grep -qx 'delivered 0' "$tmp/drv.out" && [ "$(hook_stats)" = "lines=1 ids=1 badsig=0 bad=0" ]
verdict $? "one alert: not sent again"

# ---- TLS is verified -----------------------------------------------------
reset
add_alerts 1 webhook
drv -u "$url" -s "$tmp/secret"
[ "$rc" -eq 0 ] && grep -qx 'delivered 0' "$tmp/drv.out" && [ ! -s "$tmp/hook.log" ]
verdict $? "TLS: without the test CA nothing is sent"
[ "$(q "SELECT state, attempts, last_error ILIKE '%certificate%' FROM portmilter.alert_deliveries")" = "pending|1|t" ]
verdict $? "TLS: the row waits, the certificate named as the reason"
q "UPDATE portmilter.alert_deliveries SET next_attempt = now()" >/dev/null
drv -u "https://localhost:$rport/hook" -s "$tmp/secret" -c "$tmp/ca.pem"
[ "$rc" -eq 0 ] && grep -qx 'delivered 1' "$tmp/drv.out" && [ "$(hook_stats)" = "lines=1 ids=1 badsig=0 bad=0" ]
verdict $? "TLS: by name (localhost), with the CA file: sent"

# ---- the wrong secret ----------------------------------------------------
reset
add_alerts 1 webhook
drv -u "$url" -s "$tmp/wrong" -c "$tmp/ca.pem"
[ "$(hook_stats)" = "lines=1 ids=1 badsig=1 bad=0" ]
verdict $? "wrong secret: the receiver sees a bad signature"
[ "$(q "SELECT state, attempts, last_error FROM portmilter.alert_deliveries")" = "pending|1|the receiver answered HTTP 401" ] &&
	grep -q "webhook delivery failed (attempt 1): the receiver answered HTTP 401; next attempt in 30 s" "$tmp/drv.err"
verdict $? "wrong secret: the row waits (HTTP 401) and the log says so"

# ---- a secret others can read --------------------------------------------
reset
add_alerts 1 webhook
cp "$tmp/secret" "$tmp/open" && chmod 644 "$tmp/open"
drv -u "$url" -s "$tmp/open" -c "$tmp/ca.pem"
grep -q "webhook deliveries wait: refusing the webhook secret file \"$tmp/open\": it is readable by others (mode 0644)" "$tmp/drv.err" &&
	[ ! -s "$tmp/hook.log" ] &&
	[ "$(q "SELECT state, attempts FROM portmilter.alert_deliveries")" = "pending|0" ]
verdict $? "secret readable by others: refused, said why, nothing sent or counted"
drv -k -u "$url" -s "$tmp/open"
[ "$rc" -eq 1 ] && grep -q "readable by others" "$tmp/drv.out"
verdict $? "secret readable by others: notify_check refuses it too"

# ---- receiver down, then up: every alert once ----------------------------
reset
add_alerts 20 webhook
receiver_stop
drv $hook -r "$retry" -w "$outage"
down_attempts=$(q "SELECT sum(attempts) FROM portmilter.alert_deliveries")
[ "$rc" -eq 2 ] && grep -qx 'delivered 0' "$tmp/drv.out" &&
	[ "$down_attempts" -ge 3 ] &&
	[ "$(q "SELECT count(*) FROM portmilter.alert_deliveries WHERE state = 'pending'")" -eq 20 ]
verdict $? "outage: nothing delivered while the receiver is down, attempts counted"
receiver_start "$tmp/secret"
t_up=$(date +%s)
drv $hook -r "$retry" -w $((outage + 30))
echo "# outage of ${outage} s (retries $retry): all delivered $(($(date +%s) - t_up)) s after the receiver came back"
[ "$rc" -eq 0 ] && grep -qx 'delivered 20' "$tmp/drv.out" &&
	[ "$(q "SELECT count(*) FROM portmilter.alert_deliveries WHERE state = 'sent'")" -eq 20 ]
verdict $? "outage: receiver back, all 20 delivered"
[ "$(hook_stats)" = "lines=20 ids=20 badsig=0 bad=0" ]
verdict $? "outage: the receiver got each alert exactly once"

# ---- refused until retry_attempts, then failed; an old alert expires -----
reset
receiver_stop
receiver_start "$tmp/secret" --status 500
add_alerts 1 webhook
drv $hook -r 1,1,2,3600 -w 5
[ "$(q "SELECT state, attempts, last_error FROM portmilter.alert_deliveries")" = "failed|2|the receiver answered HTTP 500" ] &&
	grep -q "webhook delivery failed for good after 2 attempts: the receiver answered HTTP 500" "$tmp/drv.err" &&
	[ "$(hook_stats)" = "lines=2 ids=1 badsig=0 bad=0" ]
verdict $? "HTTP 500: 'failed' after 2 attempts, logged"
reset
add_alerts 1 webhook
q "UPDATE portmilter.alerts SET fired_at = now() - interval '2 hours'" >/dev/null
drv $hook -r 1,1,20,3600
[ "$(q "SELECT state, attempts, last_error FROM portmilter.alert_deliveries")" = "failed|0|expired: not delivered within 3600 s" ] &&
	grep -q "webhook delivery failed for good after 0 attempts: not delivered within 3600 s" "$tmp/drv.err" &&
	[ ! -s "$tmp/hook.log" ]
verdict $? "an alert older than retry_max_age_s is given up, not sent"

# ---- two at once ---------------------------------------------------------
reset
receiver_stop
receiver_start "$tmp/secret" --delay-ms 10
add_alerts 200 webhook
"$driver" $hook -n node-a -w 60 dbname=portmilter >"$tmp/a.out" 2>"$tmp/a.err" &
pa=$!
"$driver" $hook -n node-b -w 60 dbname=portmilter >"$tmp/b.out" 2>"$tmp/b.err" &
pb=$!
wait "$pa"; ra=$?
wait "$pb"; rb=$?
na=$(sed -n 's/^delivered //p' "$tmp/a.out")
nb=$(sed -n 's/^delivered //p' "$tmp/b.out")
tap_d="driver a: status $ra, ${na:-?} delivered; driver b: status $rb, ${nb:-?} delivered; receiver: $(hook_stats)"
echo "# $tap_d"
[ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] && [ "${na:-0}" -gt 0 ] && [ "${nb:-0}" -gt 0 ] &&
	[ $((na + nb)) -eq 200 ]
verdict $? "two drivers at once: both worked, 200 delivered in all"
[ "$(hook_stats)" = "lines=200 ids=200 badsig=0 bad=0" ]
verdict $? "two drivers at once: each alert received exactly once"
[ "$(q "SELECT count(*) FROM portmilter.alert_deliveries WHERE state = 'sent' AND attempts = 1")" -eq 200 ]
verdict $? "two drivers at once: every row sent after one attempt"
}
echo "1..$n"
