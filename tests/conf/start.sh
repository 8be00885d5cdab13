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

. "$top_srcdir/tests/conf/lib.sh"

pc_require_postconf
if [ "$(id -u)" -ne 0 ] || ! command -v postfix >/dev/null 2>&1 ||
   ! command -v ss >/dev/null 2>&1 || ! command -v script >/dev/null 2>&1; then
	echo "1..0 # SKIP needs root, postfix, ss and script"
	exit 0
fi
pm_tmp_setup || { echo "1..0 # SKIP mktemp failed"; exit 0; }
chmod 755 "$PM_TMP"		# the postfix user reaches data_directory
PF=$PM_TMP/pf
STARTED=

# Postfix prints its errors only to a terminal: run it under script(1).
pf() {
	script -qec "postfix -c $PF $*" /dev/null
}

pf_cleanup() {
	if [ -n "$STARTED" ]; then
		pf stop >/dev/null 2>&1
		STARTED=
	fi
}
PM_CLEANUP_HOOK=pf_cleanup

listening() {
	ss -ltnH "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1 \|\*:$1 \|0.0.0.0:$1 "
}

# ---- ports -------------------------------------------------------------------

PORTS="25 465 587 4650 5870 12345"
OFFSET=0
for p in $PORTS; do
	if listening "$p"; then
		OFFSET=20000
	fi
done
if [ "$OFFSET" -ne 0 ]; then
	echo "# a standard port is taken on this machine: using 20000 + port"
	for p in $PORTS; do
		if listening $((p + OFFSET)); then
			echo "1..0 # SKIP ports $p and $((p + OFFSET)) are both taken"
			exit 0
		fi
	done
fi

# The shipped sections, every port on 127.0.0.1 (and moved if needed).
{
	echo "milter_socket = unix:$PM_TMP/portmilter.sock"
	echo "postfix_chroot = no"
	sed -n '/^\[/,$p' "$top_srcdir/etc/portmilter.conf" |
	awk -v off="$OFFSET" '
		/^\[port [0-9]+\]$/ { n = substr($2, 1, length($2) - 1) + off
			print "[port " n "]"; print "listen = 127.0.0.1"; next }
		/^like = [0-9]+$/ { print "like = " $3 + off; next }
		{ print }'
} >"$PM_TMP/pm.conf"

# ---- a throwaway Postfix -------------------------------------------------------

mkdir -p "$PM_TMP/queue" "$PM_TMP/data" "$PM_TMP/log" &&
	chown postfix "$PM_TMP/data"
pc_postfix_dir "$PF" \
	"queue_directory = $PM_TMP/queue" \
	"data_directory = $PM_TMP/data" \
	"maillog_file = $PM_TMP/log/postfix.log" \
	"maillog_file_prefixes = $PM_TMP" \
	"myhostname = mail.example.test" \
	"mydestination = example.test" \
	"inet_interfaces = loopback-only" \
	"inet_protocols = ipv4" \
	"alias_maps =" "alias_database ="
# Internal services only, no chroot; deliveries discarded.
cat >"$PF/master.cf" <<'EOM'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       discard
relay     unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       discard
virtual   unix  -       n       n       -       -       discard
lmtp      unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOM

pc_run -c "$PM_TMP/pm.conf" apply --postfix-dir "$PF"
tap_ok "$PC_ST" "portmilter-conf apply on the throwaway Postfix" ||
	{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
pc_run -c "$PM_TMP/pm.conf" check --postfix-dir "$PF"
tap_ok "$PC_ST" "portmilter-conf check: clean" || tap_diag_file "$PC_OUT"

pf check >"$PM_TMP/check.out" 2>&1
st=$?
[ "$st" -eq 0 ] && ! grep -qi 'fatal\|error' "$PM_TMP/check.out"
tap_ok $? "postfix check accepts the generated configuration" ||
	tap_diag_file "$PM_TMP/check.out"

STARTED=yes
pf start >"$PM_TMP/start.out" 2>&1
tap_ok $? "postfix start" ||
	{ tap_diag_file "$PM_TMP/start.out"; tap_diag_file "$PM_TMP/log/postfix.log"; }

# master binds every inet service before it answers: wait (bounded).
for p in $PORTS; do
	p=$((p + OFFSET))
	i=0
	while ! listening "$p" && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	listening "$p"
	tap_ok $? "port $p is listening on 127.0.0.1" ||
		{ ss -ltn | tap_diag_file -; tap_diag_file "$PM_TMP/log/postfix.log"; }
done
! grep -q 'fatal\|panic' "$PM_TMP/log/postfix.log"
tap_ok $? "no fatal error in Postfix's log" || tap_diag_file "$PM_TMP/log/postfix.log"

pf stop >"$PM_TMP/stop.out" 2>&1
st=$?
STARTED=
i=0
while listening $((25 + OFFSET)) && [ "$i" -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$st" -eq 0 ] && ! listening $((25 + OFFSET))
tap_ok $? "postfix stop: the ports are closed" || tap_diag_file "$PM_TMP/stop.out"

tap_plan
