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
