#!/bin/sh
# budgets - a sending budget end to end (issue 11): real Postfix, the
# milter, PostgreSQL and swaks. 5870 gets limit_messages = 2/1h, 12345
# the same budget with limit_action = hold (one budget per login across
# ports: README.md, "Sending budgets"). testuser's first two messages
# on 5870 are queued, the third gets the milter's 451 4.7.1 reply at
# MAIL; the next one, on 12345, is accepted into Postfix's hold queue.
# Both decisions are recorded with rule limit_messages. Needs root.
# Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require

# Before apply: the budgets into the running milter's file, then reload.
budgets_conf() {
	_bc_5870=$(e2e_port 5870)
	_bc_12345=$(e2e_port 12345)
	awk -v a="[port $_bc_5870]" -v b="[port $_bc_12345]" '
		{ print }
		$0 == a { print "limit_messages = 2/1h" }
		$0 == b { print "limit_messages = 2/1h"; print "limit_action = hold" }
	' "$E2E_CONF" >"$E2E_CONF.new" && mv "$E2E_CONF.new" "$E2E_CONF" &&
		kill -HUP "$PM_PID" &&
		pm_wait_log "$E2E_LOG" "reloaded" 100
}
# shellcheck disable=SC2034 # read by e2e_start (lib.sh)
E2E_BEFORE_APPLY=budgets_conf

if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi

USER=testuser@example.test

# send NAME PORT WANT-STATUS WANT-TEXT: one authenticated message.
send() {
	swaks --server 127.0.0.1 --port "$2" --helo client.example --timeout 10 \
		--tls --auth PLAIN --auth-user "$USER" \
		--auth-password "$E2E_PASSWORD" --from "budget-$1@example.test" \
		--to user@example.test >"$PM_TMP/$1.out" 2>&1
	_s_st=$?
	[ "$_s_st" -eq "$3" ] && grep -qF -- "$4" "$PM_TMP/$1.out"
	if ! tap_ok $? "$1: exit $3 and \"$4\""; then
		tap_diag "swaks exit status $_s_st"
		tap_diag_file "$PM_TMP/$1.out"
	fi
}

P5870=$(e2e_port 5870)
P12345=$(e2e_port 12345)
send "5870-1" "$P5870" 0 "250 2.0.0 Ok: queued"
send "5870-2" "$P5870" 0 "250 2.0.0 Ok: queued"
send "5870-3" "$P5870" 23 \
	"451 4.7.1 Sending limit reached: 2 messages per 1h, try again later"
send "12345-hold" "$P12345" 0 "250 2.0.0 Ok: queued"

# The held message is in the hold queue (the others were discarded).
n=0
i=0
while [ "$i" -lt 50 ]; do
	n=$(find "$PM_TMP/queue/hold" -type f 2>/dev/null | wc -l)
	[ "$n" -eq 1 ] && break
	sleep 0.2
	i=$((i + 1))
done
[ "$n" -eq 1 ]
tap_ok $? "limit_action = hold: one message in Postfix's hold queue" ||
	{ tap_diag "hold queue: $n files"; tap_diag_file "$E2E_PF_LOG"; }
grep -q 'hold: MAIL from .*rule=limit_messages ' "$E2E_LOG"
tap_ok $? "the milter logged the hold" || tap_diag_file "$E2E_LOG"

e2e_wait "tempfailed|limit_messages|451 4.7.1 Sending limit reached: 2 messages per 1h, try again later" \
	"SELECT verdict, rule, reply FROM portmilter.events
	 WHERE sender = '<budget-5870-3@example.test>'" 15
tap_ok $? "recorded: the refused MAIL, rule limit_messages, the reply given" ||
	tap_diag "got: $E2E_GOT"
e2e_wait "accepted|limit_messages|hold: Sending limit reached: 2 messages per 1h|testuser@example.test" \
	"SELECT verdict, rule, reply, sasl_user FROM portmilter.events
	 WHERE sender = '<budget-12345-hold@example.test>'" 15
tap_ok $? "recorded: the held message, rule limit_messages, hold: reason" ||
	tap_diag "got: $E2E_GOT"

tap_plan
