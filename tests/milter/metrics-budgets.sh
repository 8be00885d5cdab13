#!/bin/sh
# metrics-budgets.sh - budget hits and rule labels on /metrics (POSIX sh,
# TAP).
#
# A private portmilter with tests/milter/budgets.conf and metrics_listen
# on a free loopback port plays tests/milter/metrics-budget-traffic.lua
# (miltertest); then /metrics must show exactly the budget hits sent,
# by port, rule and mode (enforce, and monitor for limits_enforce = no),
# pass promtool check metrics (when installed), and carry a
# portmilter_refusals_total label for every rule name of policy.c's
# table, so a new rule never counts as "other".
#
# Environment: top_srcdir, top_builddir (absolute), MILTERTEST.

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

pm_require
if ! command -v python3 >/dev/null 2>&1; then
	tap_skip_all "python3 not installed"
fi
pm_tmp_setup

MPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PM_SOCKET=unix:$PM_TMP/pm.sock
PM_LOG=$PM_TMP/portmilter.log
export PM_SOCKET PM_LOG
mkdir -p "$PM_TMP/journal" && {
	echo "journal_directory = $PM_TMP/journal"
	echo "metrics_listen = 127.0.0.1:$MPORT"
	sed "s|@srcdir@|$top_srcdir/tests/milter|g" "$top_srcdir/tests/milter/budgets.conf"
} >"$PM_TMP/pm.conf"
if ! pm_start "$PM_TMP/pm.conf" "$PM_SOCKET" "$PM_LOG"; then
	echo "Bail out! portmilter did not start"
	tap_diag_file "$PM_LOG"
	exit 99
fi
get() {
	python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"
}

echo "$tap_n" >"$PM_TMP/count"
PM_TAP_N=$tap_n "$MILTERTEST" -s "$top_srcdir/tests/milter/metrics-budget-traffic.lua" \
	>"$PM_TMP/mt.out" 2>&1
mt_status=$?
tap_n=$(cat "$PM_TMP/count" 2>/dev/null || echo "$tap_n")
cat "$PM_TMP/mt.out"
tap_ok "$mt_status" "miltertest played tests/milter/metrics-budget-traffic.lua to its end"

get "http://127.0.0.1:$MPORT/metrics" >"$PM_TMP/m" 2>"$PM_TMP/get.err"
tap_ok $? "GET /metrics" || tap_diag_file "$PM_TMP/get.err"

cat >"$PM_TMP/want" <<'EOF'
portmilter_budget_hits_total{port="2587",rule="limit_bytes",mode="enforce"} 0
portmilter_budget_hits_total{port="2587",rule="limit_bytes",mode="monitor"} 0
portmilter_budget_hits_total{port="2587",rule="limit_messages",mode="enforce"} 0
portmilter_budget_hits_total{port="2587",rule="limit_messages",mode="monitor"} 2
portmilter_budget_hits_total{port="2587",rule="limit_recipients",mode="enforce"} 0
portmilter_budget_hits_total{port="2587",rule="limit_recipients",mode="monitor"} 1
portmilter_budget_hits_total{port="5870",rule="limit_bytes",mode="enforce"} 0
portmilter_budget_hits_total{port="5870",rule="limit_bytes",mode="monitor"} 0
portmilter_budget_hits_total{port="5870",rule="limit_messages",mode="enforce"} 1
portmilter_budget_hits_total{port="5870",rule="limit_messages",mode="monitor"} 0
portmilter_budget_hits_total{port="5870",rule="limit_recipients",mode="enforce"} 0
portmilter_budget_hits_total{port="5870",rule="limit_recipients",mode="monitor"} 0
portmilter_budget_hits_total{port="5873",rule="limit_bytes",mode="enforce"} 1
portmilter_budget_hits_total{port="5873",rule="limit_bytes",mode="monitor"} 0
portmilter_budget_hits_total{port="5873",rule="limit_messages",mode="enforce"} 0
portmilter_budget_hits_total{port="5873",rule="limit_messages",mode="monitor"} 0
portmilter_budget_hits_total{port="5873",rule="limit_recipients",mode="enforce"} 0
portmilter_budget_hits_total{port="5873",rule="limit_recipients",mode="monitor"} 0
EOF
grep '^portmilter_budget_hits_total{' "$PM_TMP/m" | sort >"$PM_TMP/got"
sort "$PM_TMP/want" | cmp -s - "$PM_TMP/got"
tap_ok $? "portmilter_budget_hits_total: 1 limit_messages hit enforced on 5870, 1 limit_bytes on 5873, 2 limit_messages and 1 limit_recipients in monitor mode on 2587; no other port" ||
	sort "$PM_TMP/want" | diff - "$PM_TMP/got" | tap_diag_file -

grep -q 'portmilter_refusals_total{port="5870",rule="limit_messages"} 1$' "$PM_TMP/m" &&
	grep -q 'portmilter_refusals_total{port="5873",rule="limit_bytes"} 1$' "$PM_TMP/m"
tap_ok $? "the enforced hits are also refusals by rule (monitor ones are not)" ||
	grep '^portmilter_refusals_total{port="58' "$PM_TMP/m" | grep -v ' 0$' | tap_diag_file -

if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$PM_TMP/m" >"$PM_TMP/lint" 2>&1
	tap_ok $? "promtool check metrics: no problem" || tap_diag_file "$PM_TMP/lint"
else
	tap_skip "promtool check metrics" "promtool not installed"
fi

# Every rule name of policy.c's table ({POLICY_RULE_X] = {"name", ...),
# then none and other: the labels, in that order, nothing more.
{
	sed -n 's/^[[:space:]]*\[POLICY_RULE_[A-Z_]*\] = {"\([a-z_]*\)".*/\1/p' \
		"$top_srcdir/milter/policy.c" | awk '!seen[$0]++'
	echo none
	echo other
} >"$PM_TMP/rules.want"
sed -n 's/^portmilter_refusals_total{port="5870",rule="\([a-z_]*\)"}.*/\1/p' \
	"$PM_TMP/m" >"$PM_TMP/rules.got"
[ "$(wc -l <"$PM_TMP/rules.want")" -gt 10 ] && cmp -s "$PM_TMP/rules.want" "$PM_TMP/rules.got"
tap_ok $? "the rule labels are policy.c's rule names, then none and other ($(wc -l <"$PM_TMP/rules.got") labels)" ||
	diff "$PM_TMP/rules.want" "$PM_TMP/rules.got" | tap_diag_file -

pm_alive
tap_ok $? "portmilter still running"
pm_stop
tap_ok $? "portmilter stopped on SIGTERM"
pm_log_clean "$PM_LOG"
tap_ok $? "no panic, fatal error or sanitizer report in the log"
tap_plan
