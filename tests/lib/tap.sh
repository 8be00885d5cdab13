# shellcheck shell=sh
# tap.sh - TAP output for the shell tests (POSIX sh), one counter,
# tap_n, per script. Sourced, never run by itself; needs nothing else
# (tests/milter/lib.sh sources it for the tests that use the daemon).
#
#   tap_ok STATUS NAME...   "ok N - NAME" if STATUS is 0, else "not ok";
#                           returns STATUS
#   tap_skip NAME...        "ok N # SKIP NAME"
#   tap_skip_all REASON...  the whole script skipped: "1..0 # SKIP REASON"
#                           and exit 0, before any case is printed. Not 77:
#                           automake's TAP driver (no --ignore-exit)
#                           counts any non-zero status as an ERROR, and
#                           the skip plan is what says "skipped". Call it
#                           from the script's own shell, not in $(...) or
#                           a pipeline (exit would leave only that
#                           subshell); an EXIT trap set before still runs
#                           and keeps the status. A bench that sources the
#                           test libraries sets TAP_SKIP_STATUS=1: for it a
#                           missing tool is a failure, not a pass
#   tap_diag TEXT...        "# TEXT", one per line
#   tap_diag_file FILE      FILE ("-" = stdin) as "# " lines
#                           (non-printables as '?', at most 100 lines)
#   tap_plan                "1..N" (given last: the plan may end a stream)
#
# A test may also filter its cases: tap_want NAME is 0 when NAME
# contains $TAP_FILTER (a fixed string; every case when it is unset).

tap_n=0

tap_ok() {
	_tap_st=$1
	shift
	tap_n=$((tap_n + 1))
	if [ "$_tap_st" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		echo "not ok $tap_n - $*"
	fi
	return "$_tap_st"
}

tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP $*"
}

tap_skip_all() {
	echo "1..0 # SKIP $*"
	exit "${TAP_SKIP_STATUS:-0}"
}

tap_diag() {
	printf '%s\n' "$*" | LC_ALL=C tr -c '[:print:]\n' '?' | sed 's/^/# /'
}

tap_diag_file() {
	if [ "$1" = - ]; then
		LC_ALL=C tr -c '[:print:]\n' '?' | head -n 100 | sed 's/^/# /'
	elif [ -f "$1" ]; then
		LC_ALL=C tr -c '[:print:]\n' '?' <"$1" | head -n 100 | sed 's/^/# /'
	else
		echo "# ($1 does not exist)"
	fi
}

tap_plan() {
	echo "1..$tap_n"
}

tap_want() {
	case $1 in
	*"${TAP_FILTER:-}"*) return 0 ;;
	esac
	return 1
}
