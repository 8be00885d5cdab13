# shellcheck shell=sh
# lib.sh - helpers shared by the bench/*.sh scripts (sourced, POSIX sh).
#
#   bench_ms         wall clock, milliseconds
#   proc_cpu_ms PID  CPU time (user + system, milliseconds) of a process
#   pg_cpu_ms DIR    CPU time (user + system, milliseconds) used so far by
#                    the cluster pg_start made in DIR: its postmaster, every
#                    live child (backends, checkpointer, WAL writer, ...)
#                    and the children it has reaped (cutime + cstime of
#                    the postmaster). The difference of two readings is
#                    PostgreSQL's CPU for what ran in between (10 ms
#                    resolution, the kernel's clock ticks).
#   bench_pg_begin NAME  a throwaway PostgreSQL with the migrations applied
#                    (needs $here and tests/lib/pg.sh sourced)

bench_ms() { date +%s%3N; }

# proc_cpu_ms PID: CPU time (user + system, ms) of process PID so far
proc_cpu_ms() {
	sed 's/^[0-9]* .*) //' "/proc/$1/stat" |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($12 + $13) * 1000 / hz }'
}

pg_cpu_ms() {
	_pc_pm=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null) || return 1
	# /proc/PID/stat: the command may hold blanks, so it is cut out
	# first; then 1 = pid, 3 = ppid, 13-16 = utime stime cutime cstime.
	cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^\([0-9]*\) .*) /\1 /' | awk -v pm="$_pc_pm" -v hz="$(getconf CLK_TCK)" '
		$1 == pm { t += $13 + $14 + $15 + $16 }
		$3 == pm { t += $13 + $14 }
		END { printf "%d\n", t * 1000 / hz }'
}

# bench_pg_begin NAME: $report (PORTMILTER_REPORT, else the build's
# report/portmilter-report, else the one on PATH), $sqldir (SQLDIR, else
# sql/), a throwaway PostgreSQL (tests/lib/pg.sh) in a new temporary
# directory $dir, stopped and removed at exit, even on failure or ^C
# (KEEP=1 keeps the directory), the migrations applied; $psql runs psql
# on its database. Exits 2 without portmilter-report, 1 on a failure.
bench_pg_begin() {
	report=${PORTMILTER_REPORT:-$here/report/portmilter-report}
	[ -x "$report" ] || report=$(command -v portmilter-report) || {
		echo "$1: build portmilter-report first (or set PORTMILTER_REPORT)" >&2
		exit 2
	}
	sqldir=${SQLDIR:-$here/sql}
	dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	trap bench_pg_end EXIT
	trap 'exit 130' INT TERM
	pg_start "$dir" || exit 1
	# shellcheck disable=SC2034 # used by the scripts that source this file
	psql="psql -X -q -v ON_ERROR_STOP=1 -d portmilter"
	"$report" -d dbname=portmilter migrate --sql-dir "$sqldir" >/dev/null || exit 1
}

# bench_pg_end: what bench_pg_begin's exit trap does
bench_pg_end() {
	pg_stop "$dir"
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
