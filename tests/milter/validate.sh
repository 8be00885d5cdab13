#!/bin/sh
# validate.sh - values that must never pass the config parser (POSIX sh,
# TAP), checked through the programs an admin runs (issue 9, items 2, 6
# and 8): "portmilter -n" and "portmilter-conf main" refuse each bad
# milter_socket, relay_networks and client_networks with FILE:LINE and
# exit non-zero; "portmilter -p" applies the same rule to its socket and
# exits 1 before it creates anything. The full tables of accepted and
# refused forms are in tests/unit/test_cfg.c and test_util.c.
#
# Run by automake with SH_LOG_COMPILER=sh; environment: top_srcdir,
# top_builddir (absolute), PM_KEEP (set: keep the temporary directory).
# Needs no miltertest, no Postfix and no database.

set -u

# shellcheck source=tests/milter/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/milter/lib.sh"

PC_BIN=${PC_BIN:-$top_builddir/postfix-conf/portmilter-conf}
for _bin in "$PM_DAEMON" "$PC_BIN"; do
	if [ ! -x "$_bin" ]; then
		echo "Bail out! $_bin is not built"
		exit 99
	fi
done
if [ ! -r "$PM_SHIPPED_CONF" ]; then
	echo "Bail out! $PM_SHIPPED_CONF is missing"
	exit 99
fi
pm_tmp_setup

# A run that outlives this is a milter that started: the check failed.
RUN_LIMIT=10

# refused NAME TEXT LINE [WANT]: a config made of TEXT (printf format,
# then the shipped [port N] sections, or only TEXT when it has its own
# sections) is refused by portmilter -n and by portmilter-conf main,
# both naming bad.conf:LINE (and WANT, if given) on stderr.
refused() {
	_r_name=$1
	_r_conf=$PM_TMP/bad.conf
	{
		echo "journal_directory = $PM_TMP/journal"
		# shellcheck disable=SC2059 # TEXT is a format on purpose
		printf "$2"
		case $2 in
		*'[port '*) ;;
		*) sed -n '/^\[/,$p' "$PM_SHIPPED_CONF" ;;
		esac
	} >"$_r_conf"
	for _r_prog in portmilter portmilter-conf; do
		if [ "$_r_prog" = portmilter ]; then
			timeout "$RUN_LIMIT" "$PM_DAEMON" -n -c "$_r_conf" \
				>"$PM_TMP/out" 2>"$PM_TMP/err"
		else
			timeout "$RUN_LIMIT" "$PC_BIN" -c "$_r_conf" main \
				>"$PM_TMP/out" 2>"$PM_TMP/err"
		fi
		_r_st=$?
		[ "$_r_st" -ne 0 ] && [ "$_r_st" -ne 124 ] &&
			grep -qF -- "$_r_conf:$3: bad value" "$PM_TMP/err" &&
			{ [ $# -lt 4 ] || grep -qF -- "$4" "$PM_TMP/err"; }
		if ! tap_ok $? "$_r_prog refuses $_r_name (bad.conf:$3)"; then
			tap_diag "exit status $_r_st"
			tap_diag_file "$PM_TMP/err"
			tap_diag_file "$PM_TMP/out"
		fi
	done
}

mkdir -p "$PM_TMP/journal" || {
	echo "Bail out! cannot make $PM_TMP/journal"
	exit 99
}

# ---- milter_socket (items 2 and 8) ---------------------------------------

refused "a second milter after a comma" \
	'milter_socket = unix:/tmp/pm.sock, inet:evil.example:9999\n' 2 \
	"comma in the socket name"
refused "a comma without a blank" \
	"milter_socket = unix:$PM_TMP/x.sock,inet:9999@127.0.0.1\\n" 2 \
	"comma in the socket name"
refused "a { ... } group with default_action=accept" \
	'milter_socket = { inet:127.0.0.1:1, default_action=accept }\n' 2 \
	"brace in the socket name"
refused "a \$parameter" 'milter_socket = $myhostname\n' 2 \
	"'\$' in the socket name"
refused "a blank in a unix path" \
	"milter_socket = unix:$PM_TMP/a b.sock\\n" 2 "blank in the socket name"
refused "port 99999" 'milter_socket = inet:99999@host\n' 2 \
	'port "99999" is not a number in 1..65535'
refused "a signed port" 'milter_socket = inet:+8891@127.0.0.1\n' 2 \
	'port "+8891" is not a number'
refused "an IPv6 host on inet:" 'milter_socket = inet:8891@::1\n' 2 \
	"host after '@'"
refused "\"..\" out of the queue directory" \
	'milter_socket = unix:/var/spool/postfix/../../tmp/pm.sock\n' 2 \
	'".." in the socket path'

# ---- networks (item 6) ---------------------------------------------------

refused "relay_networks = 192.0.2.7/-0 (was 0.0.0.0/0: open relay)" \
	'[port 25]\nmode = mx\nrelay_networks = 192.0.2.7/-0\n' 4 \
	"prefix length must be 0..32"
refused "client_networks = 192.0.2.7/-0" \
	'[port 587]\nclient_networks = 192.0.2.7/-0\n' 3 \
	"prefix length must be 0..32"
refused "relay_networks = ::1/+128" \
	'[port 25]\nmode = mx\nrelay_networks = ::1/+128\n' 4 \
	"prefix length must be 0..128"
refused "relay_networks = 10.0.0.1/8 (host bits), with a hint" \
	'[port 25]\nmode = mx\nrelay_networks = 127.0.0.0/8 10.0.0.1/8\n' 4 \
	"did you mean 10.0.0.0/8?"

# ---- portmilter -p (item 2) ----------------------------------------------

conf=$PM_TMP/good.conf
pm_conf_build "$conf" || {
	echo "Bail out! cannot build the configuration"
	exit 99
}
# p_refused NAME SOCKET FILE: portmilter -f -p SOCKET exits 1 at once,
# says why, and FILE (what a unix socket would have created) is absent.
p_refused() {
	timeout "$RUN_LIMIT" "$PM_DAEMON" -f -c "$conf" -p "$2" \
		>"$PM_TMP/out" 2>"$PM_TMP/err"
	_p_st=$?
	[ "$_p_st" -eq 1 ] && [ ! -e "$3" ] &&
		grep -qF -- "-p " "$PM_TMP/err" &&
		grep -qF -- "bad milter socket" "$PM_TMP/err"
	if ! tap_ok $? "portmilter -p refuses $1, creates nothing"; then
		tap_diag "exit status $_p_st"
		ls -la "$PM_TMP" | tap_diag_file -
		tap_diag_file "$PM_TMP/err"
	fi
	rm -f -- "$3"
}
p_refused "a second milter after a comma" \
	"unix:$PM_TMP/x.sock, inet:9999@127.0.0.1" \
	"$PM_TMP/x.sock, inet:9999@127.0.0.1"
p_refused "a comma without a blank" \
	"unix:$PM_TMP/x.sock,inet:9999@127.0.0.1" \
	"$PM_TMP/x.sock,inet:9999@127.0.0.1"
p_refused "\"..\" in the path" "unix:$PM_TMP/../$(basename "$PM_TMP")/y.sock" \
	"$PM_TMP/y.sock"
p_refused "port 99999" "inet:99999@127.0.0.1" "$PM_TMP/none"

# The rule lets the forms of the manual through (and -n still works).
"$PM_DAEMON" -n -c "$conf" -p "inet6:8891@[::1]" >/dev/null 2>"$PM_TMP/err"
if ! tap_ok $? "portmilter -n -p inet6:8891@[::1]: accepted"; then
	tap_diag_file "$PM_TMP/err"
fi

tap_plan
