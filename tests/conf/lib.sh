# shellcheck shell=sh
# lib.sh - shared shell helpers of the portmilter-conf tests (POSIX sh).
#
# Sourced by tests/conf/*.sh and tests/e2e/lib.sh; never run by itself. Builds on
# tests/milter/lib.sh (TAP helpers tap_*, pm_tmp_setup and its cleanup
# hook PM_CLEANUP_HOOK). Needs top_srcdir and top_builddir (absolute).
#
#   PC_BIN                  the portmilter-conf binary
#   PC_POSTCONF             postconf(1)
#   pc_require_postconf     "1..0 # SKIP" and exit 0 (tap_skip_all) when
#                           postconf is missing
#   pc_run ARGS...          runs portmilter-conf; PC_OUT, PC_ERR = files
#                           with its stdout and stderr, PC_ST = its status
#   pc_postfix_dir DIR [MAIN-LINE...]
#                           a minimal Postfix configuration directory:
#                           main.cf (compatibility level, then each
#                           MAIN-LINE) and master.cf with Debian's stock
#                           "smtp inet" service and a few unix services
#   pc_sums DIR             checksum and mtime of DIR's main.cf and
#                           master.cf, one line each (to compare runs)
#   pc_check_file NAME WANT GOT
#                           tap_ok on "diff WANT GOT"; the diff as "# "
#
# A throwaway Postfix instance (tests/conf/start.sh, tests/e2e/lib.sh);
# needs root, postfix, ss and script(1):
#   PC_PORTS                the shipped layout's ports (25 465 587 4650
#                           5870 12345)
#   pc_listening PORT       0 if a TCP listener on 127.0.0.1, * or 0.0.0.0
#                           has PORT (ss: no test connection is made)
#   pc_wait_listening PORT [TENTHS]
#                           bounded wait (default 5 s) for pc_listening
#   pc_pick_ports           PC_OFFSET = 0 when the six standard ports are
#                           free, else 20000 (said in a "# " line);
#                           returns 1 when a moved port is taken too.
#                           PM_PORT_OFFSET=N in the environment forces
#                           offset N (several checkouts testing at once)
#   pc_pm_conf OUT [LINE...]
#                           a portmilter.conf: each LINE (global keys),
#                           then the shipped [port N] sections, each with
#                           "listen = 127.0.0.1" and its number (and
#                           "like") moved by PC_OFFSET
#   pc_pf_setup DIR [MAIN-LINE...]
#                           PC_PF = DIR, a Postfix configuration: its
#                           queue, data and log directories in PM_TMP
#                           (maillog_file PC_PF_LOG), IPv4 loopback,
#                           myhostname mail.example.test, mydestination
#                           example.test, then each MAIN-LINE; master.cf
#                           with the internal services unchrooted and
#                           every delivery transport (local, smtp, relay,
#                           virtual, lmtp) run as discard
#   pc_pf ARGS...           "postfix -c PC_PF ARGS" under script(1)
#                           (Postfix prints errors only to a terminal);
#                           "start" marks the instance for pc_pf_cleanup
#   pc_pf_cleanup           "postfix stop" if pc_pf started it: quiet,
#                           safe from a trap, twice

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

. "$top_srcdir/tests/milter/lib.sh"

PC_BIN=${PC_BIN:-$top_builddir/postfix-conf/portmilter-conf}
PC_POSTCONF=${PC_POSTCONF:-/usr/sbin/postconf}

pc_require_postconf() {
	if [ ! -x "$PC_POSTCONF" ]; then
		tap_skip_all "$PC_POSTCONF not installed (Debian package postfix)"
	fi
}

pc_run() {
	PC_OUT=$PM_TMP/out
	PC_ERR=$PM_TMP/err
	"$PC_BIN" "$@" >"$PC_OUT" 2>"$PC_ERR"
	# shellcheck disable=SC2034 # read by the tests after pc_run
	PC_ST=$?
}

pc_postfix_dir() {
	_pd_dir=$1
	shift
	mkdir -p "$_pd_dir" || return 1
	{
		echo "compatibility_level = 3.6"
		for _pd_line in "$@"; do
			echo "$_pd_line"
		done
	} >"$_pd_dir/main.cf"
	cat >"$_pd_dir/master.cf" <<'EOM'
# a minimal master.cf: Debian's stock smtp service and a few others
smtp      inet  n       -       y       -       -       smtpd
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
EOM
}

pc_sums() {
	for _s_f in "$1/main.cf" "$1/master.cf"; do
		printf '%s %s\n' "$(md5sum <"$_s_f" | cut -d' ' -f1)" \
			"$(stat -c %Y.%y "$_s_f")"
	done
}

pc_check_file() {
	diff -u "$2" "$3" >"$PM_TMP/diff" 2>&1
	if ! tap_ok $? "$1"; then
		tap_diag_file "$PM_TMP/diff"
		return 1
	fi
}

# ---- a throwaway Postfix instance -----------------------------------------

PC_PORTS="25 465 587 4650 5870 12345"
PC_OFFSET=0
PC_PF=
PC_PF_LOG=
PC_PF_STARTED=

pc_listening() {
	ss -ltnH "sport = :$1" 2>/dev/null | grep -q "127.0.0.1:$1 \|\*:$1 \|0.0.0.0:$1 "
}

pc_wait_listening() {
	_wl_max=${2:-50}
	_wl_i=0
	while ! pc_listening "$1" && [ "$_wl_i" -lt "$_wl_max" ]; do
		sleep 0.1
		_wl_i=$((_wl_i + 1))
	done
	pc_listening "$1"
}

pc_pick_ports() {
	PC_OFFSET=${PM_PORT_OFFSET:-0}
	case $PC_OFFSET in
	*[!0-9]* | '') echo "# PM_PORT_OFFSET=$PC_OFFSET: not a number"; return 1 ;;
	esac
	[ "$PC_OFFSET" -le 53000 ] || { echo "# PM_PORT_OFFSET=$PC_OFFSET: over 53000"; return 1; }
	if [ "$PC_OFFSET" -eq 0 ]; then
		for _pp_p in $PC_PORTS; do
			if pc_listening "$_pp_p"; then
				PC_OFFSET=20000
			fi
		done
		[ "$PC_OFFSET" -eq 0 ] && return 0
		echo "# a standard port is taken on this machine: using 20000 + port"
	else
		echo "# PM_PORT_OFFSET: using $PC_OFFSET + port"
	fi
	for _pp_p in $PC_PORTS; do
		if pc_listening $((_pp_p + PC_OFFSET)); then
			echo "# ports $_pp_p and $((_pp_p + PC_OFFSET)) are both taken"
			return 1
		fi
	done
}

pc_pm_conf() {
	_pm_out=$1
	shift
	{
		for _pm_line in "$@"; do
			echo "$_pm_line"
		done
		sed -n '/^\[/,$p' "$top_srcdir/etc/portmilter.conf" |
		awk -v off="$PC_OFFSET" '
			/^\[port [0-9]+\]$/ { n = substr($2, 1, length($2) - 1) + off
				print "[port " n "]"; print "listen = 127.0.0.1"; next }
			/^like = [0-9]+$/ { print "like = " $3 + off; next }
			{ print }'
	} >"$_pm_out"
}

pc_pf_setup() {
	PC_PF=$1
	shift
	PC_PF_LOG=$PM_TMP/log/postfix.log
	mkdir -p "$PM_TMP/queue" "$PM_TMP/data" "$PM_TMP/log" &&
		chown postfix "$PM_TMP/data" || return 1
	pc_postfix_dir "$PC_PF" \
		"queue_directory = $PM_TMP/queue" \
		"data_directory = $PM_TMP/data" \
		"maillog_file = $PC_PF_LOG" \
		"maillog_file_prefixes = $PM_TMP" \
		"myhostname = mail.example.test" \
		"mydestination = example.test" \
		"inet_interfaces = loopback-only" \
		"inet_protocols = ipv4" \
		"alias_maps =" "alias_database =" "$@" || return 1
	# Internal services only, no chroot; deliveries discarded.
	cat >"$PC_PF/master.cf" <<'EOM'
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
}

pc_pf() {
	case $1 in
	start) PC_PF_STARTED=yes ;;
	esac
	script -qec "postfix -c $PC_PF $*" /dev/null
}

pc_pf_cleanup() {
	if [ -n "$PC_PF_STARTED" ]; then
		pc_pf stop >/dev/null 2>&1
		PC_PF_STARTED=
	fi
}
