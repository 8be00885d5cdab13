# shellcheck shell=sh
# pg.sh - a throwaway PostgreSQL cluster for tests (sourced, POSIX sh).
#
#   pg_start DIR   initdb in DIR/data, start on a free TCP port in
#                  20000-40000 (127.0.0.1 only) with its Unix socket in
#                  DIR/sock, create the database "portmilter", export
#                  PGHOST (the socket directory), PGPORT and PGUSER=postgres.
#                  Returns non-zero (and prints why on stderr) on failure;
#                  the server log is DIR/log. The port is kept in DIR/port.
#   pg_test_begin NAME
#                  the opening of a report test: "1..0 # SKIP" and exit 0
#                  (tap_skip_all) without PostgreSQL's server binaries,
#                  psql on PATH,
#                  tmp = a new temporary directory (NAME-test.XXXXXX)
#                  whose cluster is stopped and which is removed on any
#                  exit; and the TAP helpers ok NAME and not_ok NAME
#                  [FILE...] (each FILE shown as "# " lines), counting in n;
#                  same NAME compares a report's $tmp/out with $tmp/exp
#   pg_restart DIR start the cluster pg_start made in DIR again (after
#                  pg_stop), on the same port and socket, and export the
#                  same PG* variables: clients keep their connection
#                  strings. Non-zero (and why on stderr) on failure.
#   pg_stop DIR    fast shutdown, bounded (10 s, then SIGKILL of the
#                  postmaster recorded in DIR/data/postmaster.pid).
#                  Quiet, never fails: safe from a trap, twice, or when
#                  pg_start failed half-way.
#   pg_bindir      prints the PostgreSQL bin directory (PG_BINDIR, else
#                  the newest /usr/lib/postgresql/N/bin); fails if none.
#
# As root the server runs as the "postgres" user (PostgreSQL refuses to run
# as root): DIR is made traversable (mode 755) and DIR/data, DIR/sock are
# given to postgres, so DIR must sit somewhere postgres can reach (a
# mktemp -d under /tmp does). As any other user everything runs as that
# user. The cluster trusts every local connection: tests only.
#
# Sources tests/lib/tap.sh (tap_skip_all) from top_srcdir, else from the
# current directory as the tests do, unless the script has sourced it
# already; a bench sourcing this file from elsewhere goes without it (it
# never calls pg_test_begin).

if ! command -v tap_skip_all >/dev/null 2>&1 &&
	[ -r "${top_srcdir:-.}/tests/lib/tap.sh" ]; then
	# shellcheck source=tests/lib/tap.sh
	. "${top_srcdir:-.}/tests/lib/tap.sh"
fi

pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		[ -x "$PG_BINDIR/initdb" ] && { echo "$PG_BINDIR"; return 0; }
		return 1
	fi
	_pg_best='' _pg_bv=0
	# The highest version number (a glob sorts 10 before 9).
	for _pg_d in /usr/lib/postgresql/*/bin; do
		[ -x "$_pg_d/initdb" ] || continue
		_pg_v=${_pg_d#/usr/lib/postgresql/}; _pg_v=${_pg_v%/bin}
		case $_pg_v in '' | *[!0-9]*) continue ;; esac
		[ "$_pg_v" -gt "$_pg_bv" ] && { _pg_best=$_pg_d; _pg_bv=$_pg_v; }
	done
	[ -n "$_pg_best" ] || return 1
	echo "$_pg_best"
}

# _pg_as_server CMD ARGS...: run as the server's user, from /.
_pg_as_server() {
	if [ "$(id -u)" -ne 0 ]; then
		(cd / && "$@")
	elif command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u postgres -- "$@")
	else
		# shellcheck disable=SC2016
		(cd / && su -s /bin/sh postgres -c 'exec "$0" "$@"' "$@")
	fi
}

# _pg_port_free PORT: nothing listens on PORT (TCP, any address).
_pg_port_free() {
	! ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .
}

# _pg_random_port: a number in 20000..40000 from /dev/urandom.
_pg_random_port() {
	_pg_r=$(od -An -N2 -tu2 /dev/urandom 2>/dev/null | tr -d ' ')
	[ -n "$_pg_r" ] || _pg_r=$$
	echo $((20000 + _pg_r % 20001))
}

pg_start() {
	_pg_dir=${1:?pg_start: DIR missing}
	_pg_bin=$(pg_bindir) || {
		echo "pg_start: PostgreSQL binaries not found (set PG_BINDIR)" >&2
		return 1
	}
	mkdir -p "$_pg_dir/data" "$_pg_dir/sock" || return 1
	chmod 700 "$_pg_dir/data" && chmod 755 "$_pg_dir/sock" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || {
			echo "pg_start: running as root but there is no postgres user" >&2
			return 1
		}
		chmod 755 "$_pg_dir" &&
			chown postgres "$_pg_dir/data" "$_pg_dir/sock" || return 1
		: >"$_pg_dir/log" && chown postgres "$_pg_dir/log" || return 1
	fi
	if ! _pg_as_server "$_pg_bin/initdb" -D "$_pg_dir/data" -U postgres \
		-A trust -E UTF8 --locale=C.UTF-8 --no-sync \
		>"$_pg_dir/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		tail -n 20 "$_pg_dir/initdb.log" >&2
		return 1
	fi
	# Another test may take the same port between the check and the
	# bind: then the start fails and another port is tried.
	_pg_try=0
	while [ "$_pg_try" -lt 8 ]; do
		_pg_try=$((_pg_try + 1))
		_pg_port=$(_pg_random_port)
		_pg_port_free "$_pg_port" || continue
		if _pg_ctl_start "$_pg_bin" "$_pg_dir" "$_pg_port"; then
			echo "$_pg_port" >"$_pg_dir/port"
			if ! "$_pg_bin/createdb" portmilter >>"$_pg_dir/pg_ctl.log" 2>&1; then
				echo "pg_start: createdb portmilter failed:" >&2
				tail -n 5 "$_pg_dir/pg_ctl.log" >&2
				return 1
			fi
			return 0
		fi
		# A postmaster that did not come up may still be exiting.
		pg_stop "$_pg_dir"
	done
	echo "pg_start: the server did not start; last log lines:" >&2
	tail -n 20 "$_pg_dir/log" >&2
	return 1
}

# _pg_ctl_start BINDIR DIR PORT: pg_ctl start, waiting; exports PG*.
_pg_ctl_start() {
	_pg_as_server "$1/pg_ctl" -D "$2/data" \
		-l "$2/log" -w -t 30 -o "-k $2/sock -p $3 \
-c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
-c synchronous_commit=off" start >"$2/pg_ctl.log" 2>&1 || return 1
	PGHOST=$2/sock PGPORT=$3 PGUSER=postgres
	export PGHOST PGPORT PGUSER
}

pg_restart() {
	_pg_dir=${1:?pg_restart: DIR missing}
	_pg_bin=$(pg_bindir) || {
		echo "pg_restart: PostgreSQL binaries not found (set PG_BINDIR)" >&2
		return 1
	}
	_pg_port=$(cat "$_pg_dir/port" 2>/dev/null)
	case $_pg_port in
	'' | *[!0-9]*)
		echo "pg_restart: no cluster made by pg_start in $_pg_dir" >&2
		return 1 ;;
	esac
	if ! _pg_ctl_start "$_pg_bin" "$_pg_dir" "$_pg_port"; then
		echo "pg_restart: the server did not start on port $_pg_port; last log lines:" >&2
		tail -n 20 "$_pg_dir/log" >&2
		return 1
	fi
}

pg_stop() {
	_pg_sdir=${1:-}
	[ -n "$_pg_sdir" ] && [ -f "$_pg_sdir/data/postmaster.pid" ] || return 0
	_pg_sbin=$(pg_bindir) || _pg_sbin=
	if [ -n "$_pg_sbin" ]; then
		_pg_as_server "$_pg_sbin/pg_ctl" -D "$_pg_sdir/data" -m fast -w \
			-t 10 stop >/dev/null 2>&1 && return 0
	fi
	# Still there after the bounded wait: kill our postmaster (and only it).
	_pg_pid=$(head -n 1 "$_pg_sdir/data/postmaster.pid" 2>/dev/null)
	case $_pg_pid in
	'' | *[!0-9]*) return 0 ;;
	esac
	kill -KILL "$_pg_pid" 2>/dev/null
	return 0
}

pg_test_begin() {
	if ! pg_bindir >/dev/null; then
		tap_skip_all "PostgreSQL server binaries not found (set PG_BINDIR)"
	fi
	command -v psql >/dev/null 2>&1 || PATH=$(pg_bindir):$PATH
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1-test.XXXXXX") || {
		echo "Bail out! mktemp failed"
		exit 1
	}
	trap 'pg_stop "$tmp"; rm -rf "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	n=0
}

# same NAME: after a report run that left its exit status in $rc and its
# output in $tmp/out, "ok NAME" when rc is 0 and the output is exactly
# $tmp/exp; else "not ok NAME" with the diff, the status and $tmp/err
# (the report tests after pg_test_begin).
same() {
	# shellcheck disable=SC2154 # rc: set by the caller's report run
	if [ "$rc" -eq 0 ] && cmp -s "$tmp/exp" "$tmp/out"; then
		ok "$1"
	else
		diff -u "$tmp/exp" "$tmp/out" >"$tmp/diff" 2>&1
		echo "exit status $rc" >>"$tmp/diff"
		not_ok "$1" "$tmp/diff" "$tmp/err"
	fi
}

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	echo "not ok $n - $1"
	shift
	for _nf in "$@"; do
		[ -s "$_nf" ] && sed 's/^/# /' "$_nf" | head -n 40
	done
	return 0
}

# sql ARGS...: psql on the database portmilter, one value per line, UTC,
# stop on the first error.
sql() { PGTZ=UTC psql -X -q -A -t -v ON_ERROR_STOP=1 -d portmilter "$@"; }

# sql_is NAME EXPECTED SQL-ARGS...: ok when sql's output is EXPECTED
# (both printed otherwise). Needs $tmp, ok and not_ok (pg_test_begin).
sql_is() {
	_pg_name=$1 _pg_want=$2; shift 2
	_pg_got=$(sql "$@" 2>"$tmp/err")
	if [ "$_pg_got" = "$_pg_want" ]; then
		ok "$_pg_name"
	else
		printf 'got:    %s\nwanted: %s\n' "$_pg_got" "$_pg_want" >"$tmp/diff"
		not_ok "$_pg_name" "$tmp/diff" "$tmp/err"
	fi
}
