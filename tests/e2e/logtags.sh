#!/bin/sh
# logtags - the log tags portmilter-conf gives each port keep the tools
# admins run on Postfix's log working (issue 10, item 7): Debian's
# fail2ban stock filter (/etc/fail2ban/filter.d/postfix.conf, modes
# normal, aggressive and auth, as the postfix and postfix-sasl jails use
# it) run with fail2ban-regex over the maillog of a real Postfix
# configured by apply (tests/e2e/lib.sh), where each port had a wrong
# password and a refused relay from a client address of its own. The
# alternates must show the same failures, per address, as the ports
# they stand in for: 5870 and 12345 as 587, 4650 as 465.
# Needs root, fail2ban-regex. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
if ! command -v fail2ban-regex >/dev/null 2>&1 ||
	[ ! -r /etc/fail2ban/filter.d/postfix.conf ]; then
	echo "1..0 # SKIP fail2ban not installed"
	exit 77
fi

T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"

USER=testuser@example.test
PORTS="25 587 5870 12345 465 4650"

# ip N: the client address of port N's sessions.
ip() {
	case $1 in
	25) echo 127.0.0.11 ;; 587) echo 127.0.0.12 ;; 5870) echo 127.0.0.13 ;;
	12345) echo 127.0.0.14 ;; 465) echo 127.0.0.15 ;; 4650) echo 127.0.0.16 ;;
	esac
}

# session N ARGS...: one swaks session to port N from ip N.
session() {
	_s_n=$1
	shift
	swaks --server 127.0.0.1 --port "$(e2e_port "$_s_n")" \
		--local-interface "$(ip "$_s_n")" --helo client.example \
		--timeout 5 "$@" >>"$PM_TMP/swaks.$_s_n" 2>&1
}

for n in $PORTS; do
	case $n in
	25) tls= ;; 465 | 4650) tls=--tlsc ;; *) tls=--tls ;;
	esac
	# shellcheck disable=SC2086 # tls is one word or none
	session "$n" $tls --from "relay$n@client.example" --to bob@remote.example
	[ "$n" = 25 ] && continue	# no AUTH on 25
	session "$n" $tls --auth PLAIN --auth-user "$USER" \
		--auth-password wrong-password --from "$USER" --to bob@remote.example
done
# postlogd writes asynchronously: wait for the five failed logins.
_i=0
while [ "$(grep -c 'SASL PLAIN authentication failed' "$E2E_PF_LOG")" -lt 5 ] &&
	[ "$_i" -lt 50 ]; do
	sleep 0.1
	_i=$((_i + 1))
done

# The tags: Postfix's own for the stock smtp service (no syslog_name),
# \w+ words for the others, as postfix.conf's _daemon expects.
# service_of PORT: the name of the inet service listening on PORT, as
# master.cf spells it ("127.0.0.1:5870", or "127.0.0.1:submission"
# when apply kept the admin's service on a port with a name).
service_of() {
	postconf -c "$E2E_PF" -M 2>/dev/null | while read -r _so_name _so_type _; do
		[ "$_so_type" = inet ] || continue
		_so_p=${_so_name##*:}
		case $_so_p in
		*[!0-9]*) _so_p=$(getent services "$_so_p/tcp" | awk '{ sub("/.*", "", $2); print $2 }') ;;
		esac
		[ "$_so_p" = "$1" ] && { echo "$_so_name"; break; }
	done
}

_ok=0
for n in $PORTS; do
	svc=$(service_of "$(e2e_port "$n")")
	[ -n "$svc" ] || { _ok=1; tap_diag "port $n: no inet service in master.cf"; }
	tag=$(postconf -c "$E2E_PF" -Ph "$svc/inet/syslog_name" 2>/dev/null)
	tag=${tag:-postfix}
	# Port 25 itself (no offset) is the stock smtp service: postfix/smtpd.
	if [ "$n" = 25 ] && [ "$E2E_OFFSET" -eq 0 ] && [ "$tag" != postfix ]; then
		_ok=1
		tap_diag "port 25: syslog_name $tag, Postfix's own tag expected"
	fi
	grep -q " $tag/smtpd\[[0-9]*\]: .*\[$(ip "$n")\]" "$E2E_PF_LOG" &&
		printf '%s\n' "$tag" | grep -Eqx 'postfix(/[A-Za-z0-9_]+)?' ||
		{ _ok=1; tap_diag "port $n: tag $tag not found or not postfix/WORD"; }
done
tap_ok $_ok "every port logs under postfix/WORD/smtpd (postfix/smtpd without syslog_name)" ||
	tap_diag_file "$E2E_PF_LOG"

# count MODE N: failures fail2ban finds for port N's address.
for mode in normal aggressive auth; do
	fail2ban-regex -o ip "$E2E_PF_LOG" "postfix[mode=$mode]" \
		>"$PM_TMP/f2b.$mode" 2>"$PM_TMP/f2b.$mode.err"
done
count() {
	grep -cxF "$(ip "$2")" "$PM_TMP/f2b.$1"
}

for mode in normal aggressive auth; do
	line=
	for n in $PORTS; do
		line="$line $n:$(count $mode $n)"
	done
	tap_diag "fail2ban postfix[mode=$mode], failures per port:$line"
	[ "$(count $mode 5870)" -eq "$(count $mode 587)" ] &&
		[ "$(count $mode 12345)" -eq "$(count $mode 587)" ] &&
		[ "$(count $mode 4650)" -eq "$(count $mode 465)" ]
	tap_ok $? "postfix[mode=$mode]: 5870 and 12345 as 587, 4650 as 465" ||
		tap_diag_file "$PM_TMP/f2b.$mode.err"
done
[ "$(count auth 587)" -eq 1 ] && [ "$(count auth 465)" -eq 1 ] &&
	[ "$(count auth 25)" -eq 0 ] && [ "$(count aggressive 587)" -ge 1 ] &&
	[ "$(count aggressive 465)" -ge 1 ] && [ "$(count normal 25)" -eq 1 ]
tap_ok $? "the failures are found: each wrong password (auth, aggressive), 25's refused relay (normal)" ||
	tap_diag_file "$E2E_PF_LOG"

tap_plan
