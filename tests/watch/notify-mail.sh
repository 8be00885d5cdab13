#!/bin/sh
# notify-mail.sh - e-mail and syslog delivery of portmilter-watch alerts
# (watch/notify.c) against a throwaway PostgreSQL (TAP).
#
# tests/watch/fake-sendmail plays sendmail(1) and keeps what it was
# given. Cases: an alert whose user name and summary try to add headers
# (Bcc) arrives as one message with exactly the expected headers, every
# value on one line; sendmail failing leaves the row pending with its
# status; the syslog line is one escaped line; one alert on two
# channels is two deliveries; a channel this instance has not
# configured is left alone.
#
# Environment: top_srcdir, top_builddir (set by the automake harness).

# Set by notify-lib.sh (named here: shellcheck does not read it).
srcdir='' tmp='' n=0 rc=0
# shellcheck source=tests/watch/notify-lib.sh
. "${top_srcdir:-.}/tests/watch/notify-lib.sh"

notify_begin notify-mail
FAKE_SENDMAIL_DIR=$tmp/mail
export FAKE_SENDMAIL_DIR
mkdir "$FAKE_SENDMAIL_DIR"
fake=$srcdir/tests/watch/fake-sendmail
mail="-m abuse@example.test -f watch@example.test -S $fake"

reset() { q "DELETE FROM portmilter.alerts" && rm -f "$FAKE_SENDMAIL_DIR"/*; }
evil=$(printf 'bob\r\nBcc: victim@example.org\r\n\r\nforged body')
# verdict STATUS NAME: ok NAME if STATUS is 0, else not ok and the
# driver's output and logs.
verdict() {
	if [ "$1" -eq 0 ]; then
		ok "$2"
	else
		not_ok "$2" "$tmp/drv.out" "$tmp/drv.err" "$tmp/msg"
	fi
}
# shellcheck disable=SC2086 # $mail: options and their values
{

# ---- e-mail, header injection --------------------------------------------
reset
add_alerts 1 email "$evil" "$(printf 'sent 400 mails\nBcc: victim@example.org')"
id=$(q "SELECT alert_id FROM portmilter.alerts")
drv $mail -n node-a
[ "$rc" -eq 0 ] && grep -qx 'delivered 1' "$tmp/drv.out"
verdict $? "e-mail: delivered 1"
set -- "$FAKE_SENDMAIL_DIR"/*.msg
cp "$1" "$tmp/msg" 2>/dev/null
[ $# -eq 1 ] && [ -f "$1" ] && [ "$(cat "${1%.msg}.args")" = "$(printf -- '-t\n-i')" ]
verdict $? "e-mail: one message, sendmail run as sendmail -t -i"
# The header block: up to the first empty line.
sed '/^$/q' "$tmp/msg" | sed '$d' >"$tmp/headers"
[ "$(cut -d: -f1 "$tmp/headers" | tr '\n' ' ')" = "From To Subject Date Message-ID Auto-Submitted X-Portmilter-Delivery MIME-Version Content-Type Content-Transfer-Encoding " ]
verdict $? "e-mail: exactly the expected headers, in order"
[ "$(grep -ci '^bcc' "$tmp/msg")" -eq 0 ] && ! grep -q "$(printf '\r')" "$tmp/msg"
verdict $? "e-mail: no Bcc anywhere at the start of a line, no CR"
grep -qxF 'Subject: [portmilter] many_places: user bob\x0d\x0aBcc: victim@example.org\x0d\x0a\x0d\x0aforged body' "$tmp/headers"
verdict $? "e-mail: the user name escaped on the Subject line"
grep -qx 'To: abuse@example.test' "$tmp/headers" &&
	grep -qx 'From: watch@example.test' "$tmp/headers" &&
	grep -qx "X-Portmilter-Delivery: alert-$id" "$tmp/headers"
verdict $? "e-mail: To, From and the delivery id"
grep -qxF 'Summary:    sent 400 mails\x0aBcc: victim@example.org' "$tmp/msg" &&
	grep -qx '    "window_s": 1200,' "$tmp/msg" &&
	grep -qx 'Sent by:    node-a' "$tmp/msg"
verdict $? "e-mail: the summary on one body line, the evidence below"
[ "$(q "SELECT state, attempts FROM portmilter.alert_deliveries")" = "sent|1" ]
verdict $? "e-mail: the row is sent"

# ---- sendmail fails ------------------------------------------------------
reset
add_alerts 2 email
FAKE_SENDMAIL_EXIT=75 drv $mail
[ "$rc" -eq 0 ] && grep -qx 'delivered 0' "$tmp/drv.out" &&
	[ "$(q "SELECT attempts, last_error FROM portmilter.alert_deliveries ORDER BY attempts DESC, alert_id")" = "$(printf '%s\n' "1|\"$fake\" exited with status 75" "0|")" ] &&
	grep -q 'email delivery failed (attempt 1): ".*fake-sendmail" exited with status 75; next attempt in 30 s' "$tmp/drv.err"
verdict $? "sendmail exits 75: nothing delivered, the reason kept, the second not tried"
drv $mail -S "$tmp/nothere"
grep -q "e-mail deliveries wait: bad sendmail_path \"$tmp/nothere\"" "$tmp/drv.err"
verdict $? "a sendmail_path that does not exist: e-mail waits, said why"

# ---- syslog --------------------------------------------------------------
reset
add_alerts 1 syslog "$evil"
id=$(q "SELECT alert_id FROM portmilter.alerts")
drv -l
[ "$rc" -eq 0 ] && grep -qx 'delivered 1' "$tmp/drv.out" &&
	[ "$(grep -c "alert $id: detector" "$tmp/drv.err")" -eq 1 ] &&
	grep -qF "alert $id: detector=many_places user=\"bob\\x0d\\x0aBcc: victim@example.org\\x0d\\x0a\\x0d\\x0aforged body\" state=fired suspended=no node=\"w0\": used 5 countries in 20 min" "$tmp/drv.err"
verdict $? "syslog: one escaped line"

# ---- channels ------------------------------------------------------------
reset
add_alerts 1 email,syslog,webhook
drv -l $mail
[ "$rc" -eq 0 ] && grep -qx 'delivered 2' "$tmp/drv.out" &&
	[ "$(q "SELECT channel, state, attempts FROM portmilter.alert_deliveries ORDER BY channel")" = "$(printf '%s\n' 'email|sent|1' 'syslog|sent|1' 'webhook|pending|0')" ]
verdict $? "two channels configured here: both delivered, the webhook row left alone"
}
echo "1..$n"
