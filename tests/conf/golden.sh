#!/bin/sh
# golden - portmilter-conf master and main on the shipped
# etc/portmilter.conf against the hand-written master.ref and main.ref,
# the service naming and socket rules on a test config, and the errors
# (FILE:LINE from the config parser, bad command lines). Needs no
# Postfix except for the --postfix-dir case. Prints TAP.

. "${top_srcdir:?top_srcdir must be set}/tests/conf/lib.sh"

pm_tmp_setup

# ---- the shipped config: golden output --------------------------------------

# Run from the source tree so the config path in the header is stable.
for cmd in master main; do
	(cd "$top_srcdir" && "$PC_BIN" -c etc/portmilter.conf "$cmd") \
		>"$PM_TMP/$cmd" 2>"$PM_TMP/$cmd.err"
	st=$?
	[ "$st" -eq 0 ] && [ ! -s "$PM_TMP/$cmd.err" ]
	tap_ok $? "$cmd on the shipped config: exit 0, nothing on stderr" ||
		tap_diag_file "$PM_TMP/$cmd.err"
	pc_check_file "$cmd output = tests/conf/$cmd.ref" \
		"$top_srcdir/tests/conf/$cmd.ref" "$PM_TMP/$cmd"
done

# The macro lists are the milter's own (lib/macros.h, also in README).
for stage in connect helo mail rcpt end_of_data; do
	grep "^milter_${stage}_macros = " "$PM_TMP/main"
done | sed 's/^[^=]*= //' >"$PM_TMP/macros"
awk '/^### Macros the milter asks for/ { on = 1; next } on && /^#/ { on = 0 }
	on && /^\| / && !/^\| stage/ { gsub(/`/, ""); split($0, f, "|");
	v = f[3]; gsub(/^ +| +$/, "", v); print v }' "$top_srcdir/README.md" \
	>"$PM_TMP/readme-macros"
pc_check_file "main's milter_*_macros = README's \"Macros the milter asks for\"" \
	"$PM_TMP/readme-macros" "$PM_TMP/macros"

# ---- naming and socket rules -----------------------------------------------

cat >"$PM_TMP/t.conf" <<'EOF2'
milter_socket = inet6:8891@[::]
milter_default_action = quarantine
postfix_chroot = no
[port 25]
mode = mx
listen = 127.0.0.1
[port 587]
listen = [::1]
min_tls_version = TLSv1.3
[port 2525]
like = 587
listen = all
[port 2526]
like = 587
enabled = no
EOF2
pc_run -c "$PM_TMP/t.conf" master
grep '/inet = ' "$PC_OUT" >"$PM_TMP/entries"
cat >"$PM_TMP/entries.want" <<'EOF2'
127.0.0.1:smtp/inet = 127.0.0.1:smtp inet n - n - - smtpd
[::1]:submission/inet = [::1]:submission inet n - n - - smtpd
2525/inet = 2525 inet n - n - - smtpd
EOF2
[ "$PC_ST" -eq 0 ]
tap_ok $? "master on a test config: exit 0" || tap_diag_file "$PC_ERR"
pc_check_file "service names: ADDR:NAME with listen, [v6]:NAME, number; disabled port left out, chroot n" \
	"$PM_TMP/entries.want" "$PM_TMP/entries"
grep -qxF '[::1]:submission/inet/smtpd_tls_protocols = >=TLSv1.3' "$PC_OUT" &&
grep -qxF '2525/inet/smtpd_tls_mandatory_protocols = >=TLSv1.3' "$PC_OUT" &&
grep -qxF '2525/inet/syslog_name = postfix/2525' "$PC_OUT" &&
grep -qxF '[::1]:submission/inet/syslog_name = postfix/submission' "$PC_OUT" &&
! grep -q '^127.0.0.1:smtp/inet/smtpd_tls_.*protocols' "$PC_OUT"
tap_ok $? "TLS floor from min_tls_version (inherited by like), none on mx (main.cf's stays); syslog_name without the address" ||
	tap_diag_file "$PC_OUT"

pc_run -c "$PM_TMP/t.conf" main
grep -qxF 'smtpd_milters = inet:[::1]:8891' "$PC_OUT" &&
grep -qxF 'milter_default_action = quarantine' "$PC_OUT"
tap_ok $? "main: inet6:8891@[::] -> inet:[::1]:8891, milter_default_action from the config" ||
	tap_diag_file "$PC_OUT"

sed -i 's/^milter_socket = .*/milter_socket = inet:8891@0.0.0.0/' "$PM_TMP/t.conf"
pc_run -c "$PM_TMP/t.conf" main
grep -qxF 'smtpd_milters = inet:127.0.0.1:8891' "$PC_OUT"
tap_ok $? "main: inet:8891@0.0.0.0 -> inet:127.0.0.1:8891" || tap_diag_file "$PC_OUT"

sed -i 's/^milter_socket = .*/milter_socket = unix:\/var\/spool\/postfix\/pm.sock/' \
	"$PM_TMP/t.conf"
pc_run -c "$PM_TMP/t.conf" main
grep -qxF 'smtpd_milters = unix:/var/spool/postfix/pm.sock' "$PC_OUT"
tap_ok $? "main: postfix_chroot = no keeps the unix socket path as is" ||
	tap_diag_file "$PC_OUT"

sed -i 's/^postfix_chroot = .*/postfix_chroot = yes/; s/^milter_socket = .*/milter_socket = unix:\/run\/pm.sock/' \
	"$PM_TMP/t.conf"
pc_run -c "$PM_TMP/t.conf" main
[ "$PC_ST" -eq 2 ] && [ ! -s "$PC_OUT" ] &&
	grep -q "t.conf: milter_socket = unix:/run/pm.sock is outside Postfix's queue_directory /var/spool/postfix" "$PC_ERR"
tap_ok $? "main: a unix socket outside the chroot with postfix_chroot = yes: exit 2, explained" ||
	{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; }
pc_run -c "$PM_TMP/t.conf" master
[ "$PC_ST" -eq 0 ]
tap_ok $? "master does not depend on the socket" || tap_diag_file "$PC_ERR"

if [ -x "$PC_POSTCONF" ]; then
	pc_postfix_dir "$PM_TMP/pf" "queue_directory = $PM_TMP/queue"
	sed -i "s|^milter_socket = .*|milter_socket = unix:$PM_TMP/queue/pm/pm.sock|" \
		"$PM_TMP/t.conf"
	pc_run -c "$PM_TMP/t.conf" main --postfix-dir "$PM_TMP/pf"
	grep -qxF 'smtpd_milters = unix:/pm/pm.sock' "$PC_OUT"
	tap_ok $? "main --postfix-dir: chroot-relative name from that Postfix's queue_directory" ||
		{ tap_diag_file "$PC_OUT"; tap_diag_file "$PC_ERR"; }
else
	tap_skip "main --postfix-dir: $PC_POSTCONF not installed"
fi

# ---- errors ------------------------------------------------------------------

printf '[port 25]\nmode = mx\nlisten = localhost\n[port 587]\nfoo = 1\n' \
	>"$PM_TMP/bad.conf"
pc_run -c "$PM_TMP/bad.conf" master
[ "$PC_ST" -eq 2 ] && [ ! -s "$PC_OUT" ] &&
	grep -q "^$PM_TMP/bad.conf:3: bad value \"localhost\" for listen" "$PC_ERR" &&
	grep -q "^$PM_TMP/bad.conf:5: unknown key \"foo\"" "$PC_ERR"
tap_ok $? "a bad config: exit 2, every error as FILE:LINE (the parser's text), no output" ||
	{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; }

pc_run -c "$PM_TMP/nonexistent.conf" main
[ "$PC_ST" -eq 2 ] && grep -q "nonexistent.conf: cannot open" "$PC_ERR"
tap_ok $? "a missing config: exit 2" || tap_diag_file "$PC_ERR"

pc_run --help
[ "$PC_ST" -eq 0 ] && grep -q '^usage: portmilter-conf' "$PC_OUT" &&
	grep -q -- '--force' "$PC_OUT" && grep -q 'never removes or renames' "$PC_OUT"
tap_ok $? "--help: exit 0, usage and the existing-service policy" ||
	tap_diag_file "$PC_OUT"

bad_usage() {
	_bu_name=$1
	shift
	pc_run "$@"
	[ "$PC_ST" -eq 2 ] && grep -q "Try 'portmilter-conf --help'" "$PC_ERR"
	tap_ok $? "bad command line, $_bu_name: exit 2" ||
		{ tap_diag "exit $PC_ST"; tap_diag_file "$PC_ERR"; }
}
bad_usage "no command"
bad_usage "unknown command" frob
bad_usage "two commands" master main
bad_usage "unknown option" --frob master
bad_usage "--dry-run with check" check --dry-run
bad_usage "--force with master" master --force

tap_plan
