#!/bin/sh
# admin - an existing Postfix keeps its own rules through portmilter-conf
# apply, end to end (issue 18): the admin's policy service (Debian's
# postfwd, one rule refusing a sender) on their 587 and in main.cf for
# 25, reject_sender_login_mismatch with a login map on 587, a
# check_client_access map on their 465 and one in main.cf's client list
# (their 587 has none of its own). After apply, real SMTP sessions
# (swaks) show each rule at work on the port it was written for and on
# the ports like it (5870/12345 like 587, 4650 like 465), by the rule's
# own reply text; a second apply changes nothing, check is clean, and a
# rule added by hand to 587 makes check name 5870 and 12345.
# Needs root, postfwd (tests/e2e/lib.sh for the rest). Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
if ! command -v postfwd >/dev/null 2>&1; then
	tap_skip_all "postfwd not installed"
fi

USER=testuser@example.test
PFW_PID=

# postfwd: a daemon of its own (pid file in PM_TMP, cache on a loopback
# port: its cache process runs as nobody; no syslog here: --perfmon), stopped
# by its process group (the pid its pidfile names; /bin/kill: dash's
# builtin cannot signal a group) on any exit.
pfw_stop() {
	if [ -n "$PFW_PID" ]; then
		/bin/kill -s TERM -- "-$PFW_PID" 2>/dev/null
		_ps_i=0
		while /bin/kill -s 0 -- "-$PFW_PID" 2>/dev/null && [ "$_ps_i" -lt 50 ]; do
			sleep 0.1
			_ps_i=$((_ps_i + 1))
		done
		/bin/kill -s KILL -- "-$PFW_PID" 2>/dev/null
		PFW_PID=
	fi
	e2e_stop
}

# The admin's Postfix, before portmilter-conf is applied.
admin_setup() {
	PFW=127.0.0.1:$(e2e_port 10040)
	postfwd --nodns -u nobody -g nogroup \
		-r 'id=R1; sender==blocked@example.test; action=REJECT blocked by postfwd rule R1' \
		--server_socket="tcp:$PFW" --cache_socket="tcp:127.0.0.1:$(e2e_port 10041)" --perfmon \
		--pidfile="$PM_TMP/postfwd.pid" >"$PM_TMP/postfwd.out" 2>&1 || return 1
	_as_i=0
	while [ ! -s "$PM_TMP/postfwd.pid" ] && [ "$_as_i" -lt 50 ]; do
		sleep 0.1
		_as_i=$((_as_i + 1))
	done
	PFW_PID=$(cat "$PM_TMP/postfwd.pid") || return 1
	# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
	PM_CLEANUP_HOOK=pfw_stop
	pc_wait_listening "$(e2e_port 10040)" || return 1
	printf '%s\n' "boss@example.test boss@example.test" \
		"blocked@example.test $USER" \
		"$USER $USER" >"$PM_TMP/login_maps"
	printf '127.0.0.2 REJECT blocked by the admin client map\n' >"$PM_TMP/clients.cidr"
	printf '127.0.0.3 REJECT blocked by the main.cf client map\n' >"$PM_TMP/main-clients.cidr"
	postconf -c "$E2E_PF" -e \
		"smtpd_recipient_restrictions = check_policy_service inet:$PFW" \
		"smtpd_client_restrictions = check_client_access cidr:$PM_TMP/main-clients.cidr" &&
	cat >>"$E2E_PF/master.cf" <<EOM
127.0.0.1:$(e2e_port 587) inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_recipient_restrictions=check_policy_service,inet:$PFW,permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_sender_login_maps=texthash:$PM_TMP/login_maps
127.0.0.1:$(e2e_port 465) inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=check_client_access,cidr:$PM_TMP/clients.cidr,permit_sasl_authenticated,reject
EOM
}

# shellcheck disable=SC2034 # read by e2e_start (tests/e2e/lib.sh)
E2E_BEFORE_APPLY=admin_setup
T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"
cp "$PC_OUT" "$PM_TMP/apply.out"

# row NAME WANT-TEXT PORT ARGS...: one swaks session whose transcript
# has WANT-TEXT (kept in $PM_TMP/NAME.out).
row() {
	_r_name=$1 _r_text=$2 _r_port=$3
	shift 3
	swaks --server 127.0.0.1 --port "$_r_port" --helo client.example \
		--timeout 5 "$@" >"$PM_TMP/$_r_name.out" 2>&1
	grep -qF -- "$_r_text" "$PM_TMP/$_r_name.out"
	tap_ok $? "$_r_name: \"$_r_text\"" || tap_diag_file "$PM_TMP/$_r_name.out"
}

AUTH="--auth PLAIN --auth-user $USER --auth-password $E2E_PASSWORD"

# ---- the policy service everywhere ---------------------------------------------

row "25 postfwd" "554 5.7.1 <alice@example.test>: Recipient address rejected: blocked by postfwd rule R1" \
	"$(e2e_port 25)" --from blocked@example.test --to alice@example.test
for n in 587 5870 12345 465 4650; do
	case $n in 465 | 4650) tls=--tlsc ;; *) tls=--tls ;; esac
	# shellcheck disable=SC2086 # AUTH is several words
	row "$n postfwd" "blocked by postfwd rule R1" "$(e2e_port $n)" $tls $AUTH \
		--from blocked@example.test --to alice@example.test
done
# shellcheck disable=SC2086
row "587 other sender accepted" "250 2.0.0 Ok: queued" "$(e2e_port 587)" --tls $AUTH \
	--from "$USER" --to alice@example.test

# ---- the admin's sender login check: 587 and its like ports --------------------

for n in 587 5870 12345; do
	# shellcheck disable=SC2086
	row "$n login mismatch" "553 5.7.1 <boss@example.test>: Sender address rejected: not owned by user $USER" \
		"$(e2e_port $n)" --tls $AUTH --from boss@example.test --to alice@example.test
done

# ---- the admin's client map: 465 and 4650 --------------------------------------

for n in 465 4650; do
	# shellcheck disable=SC2086
	row "$n client map" "blocked by the admin client map" "$(e2e_port $n)" \
		--tlsc $AUTH --local-interface 127.0.0.2 --from "$USER" --to alice@example.test
done

# ---- main.cf's client map: 587 (no list of its own) and its like ports ---------

for n in 587 5870 12345; do
	# shellcheck disable=SC2086
	row "$n main.cf client map" "blocked by the main.cf client map" "$(e2e_port $n)" \
		--tls $AUTH --local-interface 127.0.0.3 --from "$USER" --to alice@example.test
done

# ---- second apply, check, a rule added by hand -----------------------------------

pc_sums "$E2E_PF" >"$PM_TMP/sums.1"
pc_run -c "$E2E_CONF" apply --postfix-dir "$E2E_PF"
pc_sums "$E2E_PF" >"$PM_TMP/sums.2"
[ "$PC_ST" -eq 0 ] && [ "$(tail -n 1 "$PC_OUT")" = "no change" ] &&
	cmp -s "$PM_TMP/sums.1" "$PM_TMP/sums.2"
tap_ok $? "a second apply: no change, files untouched" || tap_diag_file "$PC_OUT"
pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
tap_ok "$PC_ST" "check: clean" || { tap_diag_file "$PC_OUT"; tap_diag_file "$PM_TMP/apply.out"; }

postconf -c "$E2E_PF" -P \
	"127.0.0.1:$(e2e_port 587)/inet/smtpd_helo_restrictions=reject_invalid_helo_hostname,permit_sasl_authenticated,reject"
pc_run -c "$E2E_CONF" check --postfix-dir "$E2E_PF"
[ "$PC_ST" -eq 1 ] &&
	grep -q "^drift: 127.0.0.1:$(e2e_port 5870)/inet (port $(e2e_port 5870), like $(e2e_port 587)): -o smtpd_helo_restrictions=" "$PC_OUT" &&
	grep -q "^drift: 127.0.0.1:$(e2e_port 12345)/inet (port $(e2e_port 12345), like $(e2e_port 587)): -o smtpd_helo_restrictions=" "$PC_OUT" &&
	[ "$(grep -c '^drift: ' "$PC_OUT")" -eq 2 ]
tap_ok $? "a rule added to 587 by hand: check names 5870 and 12345" || tap_diag_file "$PC_OUT"

tap_plan
