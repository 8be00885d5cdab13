# lib.sh - shared shell helpers of the portmilter-conf tests (POSIX sh).
#
# Sourced by tests/conf/*.sh; never run by itself. Builds on
# tests/milter/lib.sh (TAP helpers tap_*, pm_tmp_setup and its cleanup
# hook PM_CLEANUP_HOOK). Needs top_srcdir and top_builddir (absolute).
#
#   PC_BIN                  the portmilter-conf binary
#   PC_POSTCONF             postconf(1)
#   pc_require_postconf     prints "1..0 # SKIP" and exits when postconf
#                           is missing
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

: "${top_srcdir:?top_srcdir must be set}"
: "${top_builddir:?top_builddir must be set}"

. "$top_srcdir/tests/milter/lib.sh"

PC_BIN=${PC_BIN:-$top_builddir/postfix-conf/portmilter-conf}
PC_POSTCONF=${PC_POSTCONF:-/usr/sbin/postconf}

pc_require_postconf() {
	if [ ! -x "$PC_POSTCONF" ]; then
		echo "1..0 # SKIP $PC_POSTCONF not installed (Debian package postfix)"
		exit 0
	fi
}

pc_run() {
	PC_OUT=$PM_TMP/out
	PC_ERR=$PM_TMP/err
	"$PC_BIN" "$@" >"$PC_OUT" 2>"$PC_ERR"
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
