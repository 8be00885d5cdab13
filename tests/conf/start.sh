#!/bin/sh
# start - the configuration portmilter-conf apply generates really starts
# Postfix: a throwaway instance (own config, queue and data directories
# in a temporary directory; smtpd not chrooted, every port on
# 127.0.0.1), "postfix check" and "postfix start", then every port of
# the shipped layout must be listening (ss -ltn: no test connection, so
# no SMTP or milter session happens), then "postfix stop". Postfix is
# stopped on exit, failure or interrupt. The six standard ports are used
# when free; if one of them is taken, all six move to 20000 + port (said
# in a "#" line). Needs root (Postfix's master) and Postfix. Prints TAP.

. "${top_srcdir:?top_srcdir must be set}/tests/conf/lib.sh"

pc_require_postconf
if [ "$(id -u)" -ne 0 ] || ! command -v postfix >/dev/null 2>&1 ||
   ! command -v ss >/dev/null 2>&1 || ! command -v script >/dev/null 2>&1; then
	tap_skip_all "needs root, postfix, ss and script"
fi
pm_tmp_setup
chmod 755 "$PM_TMP"		# the postfix user reaches data_directory
# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK=pc_pf_cleanup

# ---- ports -------------------------------------------------------------------

pc_pick_ports || tap_skip_all "standard and moved ports taken"
OFFSET=$PC_OFFSET
PORTS=$PC_PORTS

# The shipped sections, every port on 127.0.0.1 (and moved if needed).
pc_pm_conf "$PM_TMP/pm.conf" "milter_socket = unix:$PM_TMP/portmilter.sock" \
	"postfix_chroot = no"

# ---- a throwaway Postfix -------------------------------------------------------

pc_pf_setup "$PM_TMP/pf"
PF=$PC_PF

pc_run -c "$PM_TMP/pm.conf" apply --postfix-dir "$PF"
tap_ok "$PC_ST" "portmilter-conf apply on the throwaway Postfix" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
pc_run -c "$PM_TMP/pm.conf" check --postfix-dir "$PF"
tap_ok "$PC_ST" "portmilter-conf check: clean" || tap_diag_file "$PC_OUT"

pc_pf check >"$PM_TMP/check.out" 2>&1
st=$?
[ "$st" -eq 0 ] && ! grep -qi 'fatal\|error' "$PM_TMP/check.out"
tap_ok $? "postfix check accepts the generated configuration" ||
	tap_diag_file "$PM_TMP/check.out"

pc_pf start >"$PM_TMP/start.out" 2>&1
tap_ok $? "postfix start" ||
	{ tap_diag_file "$PM_TMP/start.out"; tap_diag_file "$PM_TMP/log/postfix.log"; }

# master binds every inet service before it answers: wait (bounded).
for p in $PORTS; do
	p=$((p + OFFSET))
	i=0
	while ! pc_listening "$p" && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	pc_listening "$p"
	tap_ok $? "port $p is listening on 127.0.0.1" ||
		{ ss -ltn | tap_diag_file -; tap_diag_file "$PM_TMP/log/postfix.log"; }
done
! grep -q 'fatal\|panic' "$PM_TMP/log/postfix.log"
tap_ok $? "no fatal error in Postfix's log" || tap_diag_file "$PM_TMP/log/postfix.log"

pc_pf stop >"$PM_TMP/stop.out" 2>&1
st=$?
# shellcheck disable=SC2034 # read by pc_pf_cleanup (tests/conf/lib.sh)
PC_PF_STARTED=
i=0
while pc_listening $((25 + OFFSET)) && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$st" -eq 0 ] && ! pc_listening $((25 + OFFSET))
tap_ok $? "postfix stop: the ports are closed" || tap_diag_file "$PM_TMP/stop.out"

tap_plan
