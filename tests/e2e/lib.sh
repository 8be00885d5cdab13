# shellcheck shell=sh
# lib.sh - the end-to-end stack of tests/e2e/*.sh (sourced, POSIX sh).
#
# Starts, in a temporary directory on 127.0.0.1: a throwaway PostgreSQL
# with portmilter's schema, the portmilter milter recording into it, and a
# throwaway Postfix configured by `portmilter-conf apply` with TLS and
# Cyrus SASL, every delivery discarded. Glues tests/milter/lib.sh (TAP
# tap_*, PM_TMP and its traps, pm_start/pm_stop), tests/lib/pg.sh and
# tests/conf/lib.sh (pc_pick_ports, pc_pm_conf, pc_pf_setup, pc_pf, pc_run).
# Needs top_srcdir and top_builddir (absolute); root, postfix, postconf,
# ss, script, swaks, openssl, saslpasswd2 and the PostgreSQL server.
#
#   e2e_require            "1..0 # SKIP ..." and exit 0 (tap_skip_all) when
#                          a tool or a built program is missing
#   e2e_start              PM_TMP with traps (e2e_stop runs on any exit);
#                          PostgreSQL in $PM_TMP/pg, schema by
#                          `portmilter-report migrate`, login roles
#                          pm_milter (portmilter_writer) and pm_abuse
#                          (portmilter_reader); ports picked (the six
#                          standard ones, else all at 20000 + port, said in
#                          a "# " line); the milter with E2E_CONF (database,
#                          journal_directory, milter_socket, local_domains
#                          = example.test, postfix_chroot = no, then the
#                          shipped [port N] sections with listen =
#                          127.0.0.1); a self-signed certificate for
#                          mail.example.test; a sasldb with
#                          testuser@example.test / E2E_PASSWORD
#                          ($PM_TMP/sasldb2; smtpd.conf in $PM_TMP/pf/sasl:
#                          Debian's Postfix looks there);
#                          Postfix in $PM_TMP/pf (E2E_PF) configured by
#                          `portmilter-conf apply --postfix-dir`, started,
#                          all six ports listening; the function named
#                          by E2E_BEFORE_APPLY, if set, runs just before
#                          apply (an admin's own Postfix settings; it may
#                          use E2E_PF, E2E_OFFSET). Returns 1 (and prints
#                          "# " lines saying why) on failure.
#   e2e_stop               stops Postfix, the milter, PostgreSQL (in that
#                          order); quiet, never fails, safe twice and from
#                          the trap, after a half-done e2e_start too
#   e2e_port N             N moved by the chosen offset (N + E2E_OFFSET)
#   e2e_sql SQL            psql as postgres: unaligned, tuples only, '|'
#                          between fields, NULL shown as \N
#   e2e_wait WANT SQL SECS polls e2e_sql SQL every 0.2 s, for at most SECS
#                          seconds, until it prints WANT; E2E_GOT = the
#                          last output
# Set E2E_METRICS=ADDR:PORT before e2e_start for the milter's /metrics
# there (metrics_listen). \
# E2E_POSTFIX_LOG=yes before e2e_start: the milter reads Postfix's log
# (postfix_log = E2E_PF_LOG, milter/logreader.h).
# Variables after e2e_start: E2E_OFFSET, E2E_PF (Postfix config dir),
# E2E_PF_LOG (Postfix's maillog), E2E_CONF (portmilter.conf), E2E_LOG (the
# milter's log), E2E_DB (the milter's conninfo), E2E_READER (pm_abuse's
# conninfo), E2E_PASSWORD, E2E_REPORT, E2E_CONFBIN (portmilter-conf).
#
# The cluster runs as postgres, Postfix's smtpd as postfix: PM_TMP is made
# traversable (755), the milter's unix socket is given to group postfix.

# shellcheck source=tests/conf/lib.sh
. "${top_srcdir:?top_srcdir must be set}/tests/conf/lib.sh"
# shellcheck source=tests/lib/pg.sh
. "$top_srcdir/tests/lib/pg.sh"

E2E_REPORT=${PORTMILTER_REPORT:-$top_builddir/report/portmilter-report}
E2E_CONFBIN=$PC_BIN
E2E_PASSWORD=e2e-Secret-7
E2E_OFFSET=0
E2E_PF=
E2E_PF_LOG=
E2E_CONF=
E2E_LOG=
E2E_DB=
E2E_READER=
E2E_GOT=
E2E_BEFORE_APPLY=${E2E_BEFORE_APPLY:-}

e2e_require() {
	if [ "$(id -u)" -ne 0 ]; then
		tap_skip_all "needs root (Postfix's master)"
	fi
	for _er_t in postfix postconf ss script swaks openssl saslpasswd2 psql; do
		if ! command -v "$_er_t" >/dev/null 2>&1; then
			tap_skip_all "$_er_t not installed"
		fi
	done
	if ! pg_bindir >/dev/null; then
		tap_skip_all "PostgreSQL server binaries not found (set PG_BINDIR)"
	fi
	for _er_b in "$PM_DAEMON" "$E2E_REPORT" "$E2E_CONFBIN"; do
		if [ ! -x "$_er_b" ]; then
			tap_skip_all "$_er_b is not built"
		fi
	done
}

e2e_port() {
	echo $(($1 + E2E_OFFSET))
}

e2e_sql() {
	psql -X -q -A -t -F '|' -P null='\N' -v ON_ERROR_STOP=1 -d portmilter -c "$1"
}

e2e_wait() {
	_ew_max=$(($3 * 10))
	_ew_i=0
	while :; do
		E2E_GOT=$(e2e_sql "$2" 2>&1)
		[ "$E2E_GOT" = "$1" ] && return 0
		[ "$_ew_i" -ge "$_ew_max" ] && return 1
		sleep 0.2
		_ew_i=$((_ew_i + 2))
	done
}

e2e_stop() {
	pc_pf_cleanup
	if [ -n "$PM_PID" ]; then
		pm_stop || :
	fi
	[ -n "$PM_TMP" ] && pg_stop "$PM_TMP/pg"
	return 0
}

# _e2e_fail WHAT [FILE...]: "# WHAT" and the files as "# " lines; 1.
_e2e_fail() {
	tap_diag "e2e_start: $1"
	shift
	for _ef_f in "$@"; do
		tap_diag_file "$_ef_f"
	done
	return 1
}

e2e_start() {
	pm_tmp_setup
	# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
	PM_CLEANUP_HOOK=e2e_stop
	chmod 755 "$PM_TMP"

	# PostgreSQL: schema and roles.
	pg_start "$PM_TMP/pg" 2>"$PM_TMP/pg_start.err" ||
		_e2e_fail "PostgreSQL did not start" "$PM_TMP/pg_start.err" || return 1
	PGTZ=UTC
	export PGTZ
	"$E2E_REPORT" -d "dbname=portmilter" migrate --sql-dir "$top_srcdir/sql" \
		>"$PM_TMP/migrate.out" 2>&1 &&
		e2e_sql "CREATE ROLE pm_milter LOGIN IN ROLE portmilter_writer;
			CREATE ROLE pm_abuse LOGIN IN ROLE portmilter_reader" \
		>>"$PM_TMP/migrate.out" 2>&1 ||
		_e2e_fail "schema or roles failed" "$PM_TMP/migrate.out" || return 1
	E2E_DB="host=$PGHOST port=$PGPORT dbname=portmilter user=pm_milter"
	# shellcheck disable=SC2034 # for the scripts that source this file
	E2E_READER="host=$PGHOST port=$PGPORT dbname=portmilter user=pm_abuse"

	# Ports, then the milter.
	pc_pick_ports || _e2e_fail "no free set of ports" || return 1
	E2E_OFFSET=$PC_OFFSET
	mkdir -p "$PM_TMP/journal" || return 1
	E2E_CONF=$PM_TMP/portmilter.conf
	E2E_LOG=$PM_TMP/portmilter.log
	pc_pm_conf "$E2E_CONF" \
		"database = $E2E_DB" \
		"journal_directory = $PM_TMP/journal" \
		"milter_socket = unix:$PM_TMP/portmilter.sock" \
		"local_domains = example.test" \
		"node_name = e2e-node" \
		"postfix_chroot = no" \
		"${E2E_METRICS:+metrics_listen = $E2E_METRICS}" \
		"postfix_log = ${E2E_POSTFIX_LOG:+$PM_TMP/log/postfix.log}"
	pm_start "$E2E_CONF" "unix:$PM_TMP/portmilter.sock" "$E2E_LOG" ||
		_e2e_fail "the milter did not start" "$E2E_LOG" || return 1
	# smtpd (user postfix) must reach the socket (mode 0660).
	chgrp postfix "$PM_TMP/portmilter.sock" ||
		_e2e_fail "chgrp of the milter socket failed" || return 1

	# Certificate and SASL.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 2 -subj /CN=mail.example.test \
		-keyout "$PM_TMP/key.pem" -out "$PM_TMP/cert.pem" \
		>"$PM_TMP/openssl.out" 2>&1 ||
		_e2e_fail "openssl req failed" "$PM_TMP/openssl.out" || return 1
	# Postfix, configured by portmilter-conf (which also makes port 25
	# refuse relay for good, 554, instead of Postfix's default 454).
	# 127.0.0.1 is no trusted network here: the test client must not
	# relay through mynetworks.
	pc_pf_setup "$PM_TMP/pf" \
		"mynetworks = 127.0.0.0/32" \
		"local_recipient_maps =" \
		"smtpd_tls_cert_file = $PM_TMP/cert.pem" \
		"smtpd_tls_key_file = $PM_TMP/key.pem" \
		"cyrus_sasl_config_path = $PM_TMP/pf/sasl" ||
		_e2e_fail "Postfix configuration failed" || return 1
	E2E_PF=$PC_PF
	E2E_PF_LOG=$PC_PF_LOG
	# Debian's Postfix reads the SASL configuration from
	# $config_directory/sasl whatever cyrus_sasl_config_path says.
	mkdir -p "$E2E_PF/sasl" || return 1
	cat >"$E2E_PF/sasl/smtpd.conf" <<EOS
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $PM_TMP/sasldb2
mech_list: PLAIN LOGIN
EOS
	# The sasldb stays out of DIR (postfix-script wants root to own it).
	echo "$E2E_PASSWORD" | saslpasswd2 -p -c -f "$PM_TMP/sasldb2" \
		-u example.test testuser >"$PM_TMP/sasl.out" 2>&1 &&
		chown postfix "$PM_TMP/sasldb2" &&
		chmod 600 "$PM_TMP/sasldb2" ||
		_e2e_fail "saslpasswd2 failed" "$PM_TMP/sasl.out" || return 1

	if [ -n "$E2E_BEFORE_APPLY" ]; then
		"$E2E_BEFORE_APPLY" ||
			_e2e_fail "$E2E_BEFORE_APPLY failed" || return 1
	fi
	pc_run -c "$E2E_CONF" apply --postfix-dir "$E2E_PF"
	[ "$PC_ST" -eq 0 ] ||
		_e2e_fail "portmilter-conf apply: status $PC_ST" "$PC_OUT" "$PC_ERR" || return 1
	# Postfix waits ~2 s after a fresh main.cf change: age the files.
	touch -d '-10 seconds' "$E2E_PF/main.cf" "$E2E_PF/master.cf"
	pc_pf start >"$PM_TMP/pf-start.out" 2>&1 ||
		_e2e_fail "postfix start failed" "$PM_TMP/pf-start.out" "$E2E_PF_LOG" || return 1
	for _es_p in $PC_PORTS; do
		pc_wait_listening $((_es_p + E2E_OFFSET)) ||
			_e2e_fail "port $((_es_p + E2E_OFFSET)) not listening" "$E2E_PF_LOG" ||
			return 1
	done
}
