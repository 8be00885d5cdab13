#!/bin/sh
# logtags - the log tags portmilter-conf gives each port keep the tools
# admins run on Postfix's log working (issue 10, item 7): Debian's
# fail2ban stock filter (/etc/fail2ban/filter.d/postfix.conf) in the
# modes its stock jails use, "more" (jail postfix, its default),
# "auth" (jail postfix-sasl), plus "normal" and "aggressive" (the
# filter's documented alternatives), run with fail2ban-regex over the
# maillog of a real Postfix configured by apply (tests/e2e/lib.sh).
# Each port had a refused relay and a wrong password, each from a
# client address of its own. The alternates must show the same
# failures, per address, as the ports they stand in for: 5870 and
# 12345 as 587, 4650 as 465. Then the ban: the stock jails block only
# smtp, 465 and submission; README.Debian's jail.d lines ("fail2ban")
# make them block every port of the shipped configuration
# (fail2ban-client -d on a copy of /etc/fail2ban with those lines).
# Needs root, fail2ban-regex, fail2ban-client. Prints TAP.

. "${top_srcdir:?}/tests/e2e/lib.sh"

e2e_require
if ! command -v fail2ban-regex >/dev/null 2>&1 ||
	[ ! -r /etc/fail2ban/filter.d/postfix.conf ]; then
	tap_skip_all "fail2ban not installed"
fi

T0=$(date +%s)
if ! e2e_start; then
	echo "Bail out! the end-to-end stack did not start"
	exit 99
fi
tap_diag "stack up in $(($(date +%s) - T0)) s"

USER=testuser@example.test
PORTS="25 587 5870 12345 465 4650"

# ip KIND N: the client address of port N's sessions of one kind,
# relay (a refused relay) or auth (a wrong password).
ip() {
	case $1 in relay) _ip_k=1 ;; *) _ip_k=2 ;; esac
	case $2 in
	25) echo "127.0.$_ip_k.11" ;; 587) echo "127.0.$_ip_k.12" ;;
	5870) echo "127.0.$_ip_k.13" ;; 12345) echo "127.0.$_ip_k.14" ;;
	465) echo "127.0.$_ip_k.15" ;; 4650) echo "127.0.$_ip_k.16" ;;
	esac
}

# session KIND N ARGS...: one swaks session to port N from ip KIND N.
session() {
	_s_k=$1 _s_n=$2
	shift 2
	swaks --server 127.0.0.1 --port "$(e2e_port "$_s_n")" \
		--local-interface "$(ip "$_s_k" "$_s_n")" --helo client.example \
		--timeout 5 "$@" >>"$PM_TMP/swaks.$_s_n" 2>&1
}

for n in $PORTS; do
	case $n in
	25) tls= ;; 465 | 4650) tls=--tlsc ;; *) tls=--tls ;;
	esac
	# shellcheck disable=SC2086 # tls is one word or none
	session relay "$n" $tls --from "relay$n@client.example" --to bob@remote.example
	[ "$n" = 25 ] && continue	# no AUTH on 25
	# shellcheck disable=SC2086 # tls is one word or none
	session auth "$n" $tls --auth PLAIN --auth-user "$USER" \
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
	grep -q " $tag/smtpd\[[0-9]*\]: .*\[$(ip relay "$n")\]" "$E2E_PF_LOG" &&
		printf '%s\n' "$tag" | grep -Eqx 'postfix(/[A-Za-z0-9_]+)?' ||
		{ _ok=1; tap_diag "port $n: tag $tag not found or not postfix/WORD"; }
done
tap_ok $_ok "every port logs under postfix/WORD/smtpd (postfix/smtpd without syslog_name)" ||
	tap_diag_file "$E2E_PF_LOG"

# count MODE KIND N: failures fail2ban finds for port N's KIND address.
MODES="more auth normal aggressive"
for mode in $MODES; do
	fail2ban-regex -o ip "$E2E_PF_LOG" "postfix[mode=$mode]" \
		>"$PM_TMP/f2b.$mode" 2>"$PM_TMP/f2b.$mode.err"
done
count() {
	grep -cxF "$(ip "$2" "$3")" "$PM_TMP/f2b.$1"
}

for mode in $MODES; do
	case $mode in
	more) jail=" (jail postfix)" ;; auth) jail=" (jail postfix-sasl)" ;; *) jail= ;;
	esac
	same=0
	for kind in relay auth; do
		line=
		for n in $PORTS; do
			line="$line $n:$(count "$mode" "$kind" "$n")"
		done
		tap_diag "fail2ban postfix[mode=$mode], $kind failures per port:$line"
		[ "$(count "$mode" "$kind" 5870)" -eq "$(count "$mode" "$kind" 587)" ] &&
			[ "$(count "$mode" "$kind" 12345)" -eq "$(count "$mode" "$kind" 587)" ] &&
			[ "$(count "$mode" "$kind" 4650)" -eq "$(count "$mode" "$kind" 465)" ] ||
			same=1
	done
	tap_ok "$same" "postfix[mode=$mode]$jail: refused relays and wrong passwords on 5870 and 12345 found as on 587, on 4650 as on 465" ||
		tap_diag_file "$PM_TMP/f2b.$mode.err"
done
# What each mode must find (postfix.conf): a wrong password in auth
# (once: the "SASL PLAIN authentication failed" line) and aggressive
# (also its "disconnect ... auth=0/1" line); port 25's refused relay
# (Postfix's "554 5.7.1 ... Relay access denied") in every mode but
# auth. The milter's "530 5.7.0 Authentication required" on the
# submission ports matches no mode, on 587 and 465 as on the others.
found=0
for n in 587 465; do
	[ "$(count auth auth "$n")" -eq 1 ] && [ "$(count aggressive auth "$n")" -ge 1 ] ||
		found=1
done
for mode in more normal aggressive; do
	[ "$(count "$mode" relay 25)" -eq 1 ] || found=1
done
[ "$(count auth relay 25)" -eq 0 ] || found=1
tap_ok $found "the failures are found: each wrong password (auth, aggressive), 25's refused relay (more, normal, aggressive)" ||
	tap_diag_file "$E2E_PF_LOG"

# ---- the ban: the jails' ports ----------------------------------------

# jail_ports DIR JAIL: the port list of JAIL's ban action, as
# fail2ban-client parses the configuration in DIR (one per line,
# service names as /etc/services numbers them).
jail_ports() {
	fail2ban-client -c "$1" -d 2>"$PM_TMP/f2b-client.err" |
		grep -F "['set', '$2', 'addaction'" >/dev/null || return 1
	fail2ban-client -c "$1" -d 2>/dev/null |
		grep -F "['multi-set', '$2', 'action'," |
		sed -n "s/.*\['port', '\([^']*\)'\].*/\1/p" | head -n 1 | tr ',' '\n' |
		while read -r _jp; do
			case $_jp in
			*[!0-9]*) getent services "$_jp/tcp" | awk '{ sub("/.*", "", $2); print $2 }' ;;
			*) echo "$_jp" ;;
			esac
		done
}
# covers FILE: every port of the shipped configuration is in FILE
covers() {
	for _cv in $PORTS; do
		grep -qx "$_cv" "$1" || return 1
	done
}
if ! command -v fail2ban-client >/dev/null 2>&1 || [ ! -d /etc/fail2ban/jail.d ]; then
	tap_skip "stock jails' ports: no fail2ban-client"
	tap_skip "README.Debian's jail.d lines: no fail2ban-client"
else
	F2B=$PM_TMP/fail2ban
	cp -R /etc/fail2ban "$F2B"
	rm -f "$F2B"/jail.d/* "$F2B"/jail.local
	printf '[postfix]\nenabled = true\n[postfix-sasl]\nenabled = true\n' \
		>"$F2B/jail.d/enable.local"
	jail_ports "$F2B" postfix >"$PM_TMP/ports.stock"
	! covers "$PM_TMP/ports.stock"
	tap_ok $? "the stock jail postfix bans on $(tr '\n' ' ' <"$PM_TMP/ports.stock")only: not every port" ||
		tap_diag_file "$PM_TMP/f2b-client.err"
	# README.Debian's lines, as written (indented two spaces, from the
	# file name line to the next paragraph).
	awk '/^  \/etc\/fail2ban\/jail\.d\/portmilter\.local/ { on = 1; next }
		on && /^  / { print substr($0, 3); next }
		on && NF { exit }' "$top_srcdir/debian/README.Debian" \
		>"$F2B/jail.d/portmilter.local"
	ok=0
	for jail in postfix postfix-sasl; do
		jail_ports "$F2B" "$jail" >"$PM_TMP/ports.$jail" &&
			covers "$PM_TMP/ports.$jail" || ok=1
	done
	tap_ok $ok "README.Debian's jail.d lines: the jails postfix and postfix-sasl ban on every port ($PORTS)" || {
		tap_diag_file "$F2B/jail.d/portmilter.local"
		tap_diag_file "$PM_TMP/ports.postfix"
		tap_diag_file "$PM_TMP/f2b-client.err"
	}
fi

tap_plan
