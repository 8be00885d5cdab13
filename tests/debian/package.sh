#!/bin/sh
# package.sh - the Debian package, built from a copy of the tree and
# installed on this machine: dpkg-buildpackage, lintian (no error), the
# contents (programs, conffile, SQL, unit), dpkg -i (user, directories,
# Postfix's configuration untouched, unit not enabled), the milter started
# as the unit's ExecStart= would (as User=, Group=, UMask= of the unit)
# answering miltertest sessions on its socket in Postfix's chroot, the
# socket's owner, group and mode (user postfix can connect, nobody else),
# reload and stop, the dpkg trigger that fixes the socket directory when
# Postfix comes later, then dpkg -r (configuration and journal kept) and
# dpkg -P (both gone). On the way, README.Debian as a new admin follows
# it: every /usr/share/doc/portmilter/ path that an installed file or
# README.md names exists (README.Debian, watch.md; the examples
# uncompressed); step 3's notes (no certificate file, no SASL) from the
# installed portmilter-conf on a fresh "Internet Site" Postfix; steps 1 and 2 and the reader recipes (peer, and password with
# ~/.pgpass) on a Debian cluster (pg_createcluster, Debian's pg_hba.conf)
# on a port that is not 5432, portmilter-report's hints on the way (no
# role, peer failed, wrong password, no server), the milter's events
# arriving there; without systemd, dpkg -r stops the daemon started with
# "-P /run/portmilter/portmilter.pid" and leaves alone a process that a stale pid
# file names. The cluster and the reader's OS user are dropped on exit.
# Prints TAP.
#
# usage: top_srcdir=DIR sh tests/debian/package.sh
#
# Not part of "make check": it installs and purges the package portmilter
# on this machine, so it runs once, from tools/check-all. Needs root,
# dpkg-dev, debhelper, lintian, setpriv; miltertest and Postfix (the
# group postfix) for the session and socket cases, which are skipped
# without them. It refuses to run when portmilter is installed or its
# configuration is left from a removal (nothing of an admin's is
# touched), and on any exit it stops the daemon it started, purges the
# package it installed and deletes the user portmilter if it made it
# (PM_KEEP=1 keeps the temporary directory).
# The tree is copied as git sees it (tracked and untracked files not
# ignored, as they are in the working tree), else whole without _build.

set -u
: "${top_srcdir:?top_srcdir must be set}"
export top_srcdir	# tests/milter/lib.lua reads it
top_builddir=${top_builddir:-$top_srcdir}	# tests/milter/lib.sh wants it
. "$top_srcdir/tests/milter/lib.sh"

SOCKDIR=/var/spool/postfix/portmilter
SOCKET=$SOCKDIR/portmilter.sock
STATEDIR=/var/lib/portmilter
JOURNAL=$STATEDIR/journal
CONF=/etc/portmilter/portmilter.conf
PROGRAMS="/usr/sbin/portmilter /usr/sbin/portmilter-conf /usr/bin/portmilter-report /usr/bin/portmilter-probe"
MILTERTEST=${MILTERTEST:-$(command -v miltertest || :)}

if [ "$(id -u)" -ne 0 ]; then
	tap_skip_all "needs root (dpkg -i, -r, -P on this machine)"
fi
for tool in dpkg-buildpackage dh lintian setpriv git; do
	if ! command -v "$tool" >/dev/null; then
		tap_skip_all "$tool not installed (sh tools/deps.sh)"
	fi
done
status=$(dpkg-query -W -f='${db:Status-Status}' portmilter 2>/dev/null)
case $status in
'' | not-installed) ;;
*)
	echo "Bail out! the package portmilter is already on this machine" \
		"(status $status): not touching it; dpkg -P portmilter first"
	exit 1
	;;
esac
if [ -e "$SOCKDIR" ] || [ -e "$STATEDIR" ] || [ -e /etc/portmilter ]; then
	echo "Bail out! $SOCKDIR, $STATEDIR or /etc/portmilter exists without" \
		"the package: not touching it"
	exit 1
fi

pm_tmp_setup
deb_installed=0
user_existed=0 group_existed=0
getent passwd portmilter >/dev/null && user_existed=1
getent group portmilter >/dev/null && group_existed=1

# On any exit (after pm_cleanup has stopped the daemon): purge what was
# installed, and the user if this test created it.
deb_cleanup() {
	if [ "$deb_installed" -eq 1 ]; then
		dpkg -P portmilter >"$PM_TMP/cleanup.out" 2>&1 ||
			tap_diag_file "$PM_TMP/cleanup.out"
	fi
	if [ "$user_existed" -eq 0 ] && getent passwd portmilter >/dev/null; then
		deluser --system portmilter >/dev/null 2>&1 || :
	fi
	if [ "$group_existed" -eq 0 ] && getent group portmilter >/dev/null; then
		delgroup --system portmilter >/dev/null 2>&1 || :
	fi
}
# shellcheck disable=SC2034 # run by pm_cleanup (tests/milter/lib.sh)
PM_CLEANUP_HOOK=deb_cleanup

# stat_is PATH WANT: "owner:group mode" of PATH is WANT (diag if not)
stat_is() {
	_si_got=$(stat -c '%U:%G %a' "$1" 2>&1)
	[ "$_si_got" = "$2" ] || { tap_diag "$1: $_si_got, want $2"; return 1; }
}

# connect_as USER: 0 if USER can connect to the milter socket
connect_as() {
	setpriv --reuid="$1" --regid="$(id -gn "$1")" --init-groups \
		perl -MIO::Socket::UNIX -e \
		'IO::Socket::UNIX->new(Peer => $ARGV[0]) or die "connect $ARGV[0]: $!\n"' \
		"$SOCKET" 2>"$PM_TMP/connect.err"
}

# postfix_state: Postfix's configuration directory, listed and summed
postfix_state() {
	if [ -d /etc/postfix ]; then
		(cd /etc/postfix && find . -type f | LC_ALL=C sort | xargs -r md5sum)
	else
		echo "no /etc/postfix"
	fi
}

# ---- the source tree and the version -----------------------------------------

version=$(cd "$top_srcdir" && dpkg-parsechangelog -S Version 2>"$PM_TMP/err")
upstream=$(sed -n 's/^AC_INIT(\[portmilter\], *\[\([^]]*\)\].*/\1/p' \
	"$top_srcdir/configure.ac")
[ -n "$version" ] && [ "${version%%-*}" = "$upstream" ]
tap_ok $? "debian/changelog's version ($version) is configure.ac's ($upstream)" ||
	tap_diag_file "$PM_TMP/err"

src=$PM_TMP/portmilter-$version
mkdir -p "$src"
if [ -e "$top_srcdir/.git" ]; then
	(cd "$top_srcdir" && git ls-files -z -co --exclude-standard) >"$PM_TMP/files" &&
	(cd "$top_srcdir" &&
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
			<"$PM_TMP/files" | tar --null -T - -cf -) | tar -C "$src" -xf -
else
	(cd "$top_srcdir" && tar --exclude=./_build -cf - .) | tar -C "$src" -xf -
fi 2>"$PM_TMP/err"
copied=$?

# ---- build -----------------------------------------------------------------------

if [ "$copied" -eq 0 ]; then
	(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc 2>/dev/null || echo 2)" \
		dpkg-buildpackage -us -uc -b) >"$PM_TMP/build.log" 2>&1
	built=$?
else
	tap_diag_file "$PM_TMP/err"
	built=1
fi
deb=$(ls "$PM_TMP"/portmilter_"$version"_*.deb 2>/dev/null | head -n 1)
[ "$built" -eq 0 ] && [ -f "$deb" ]
if ! tap_ok $? "dpkg-buildpackage -us -uc -b builds portmilter_${version}_*.deb from a copy of the tree"; then
	tail -n 40 "$PM_TMP/build.log" | tap_diag_file -
	echo "Bail out! no package to test"
	exit 1
fi

LC_ALL=C lintian --tag-display-limit 0 -I "$deb" >"$PM_TMP/lintian" 2>"$PM_TMP/lintian.err"
lint_st=$?
grep -E '^[EWIP]: ' "$PM_TMP/lintian" | tap_diag_file -
! grep -q '^E: ' "$PM_TMP/lintian" && [ "$lint_st" -eq 0 ]
tap_ok $? "lintian: no error (warnings and notes above)" ||
	grep -v 'root privileges is not recommended' "$PM_TMP/lintian.err" | tap_diag_file -

dpkg -c "$deb" | awk '{ sub(/^\./, "", $6); print $6 }' >"$PM_TMP/contents"
missing=
for f in $PROGRAMS; do
	grep -qxF "$f" "$PM_TMP/contents" || missing="$missing $f"
done
[ -z "$missing" ]
tap_ok $? "dpkg -c: the four programs" || tap_diag "missing:$missing"

dpkg-deb -I "$deb" conffiles >"$PM_TMP/conffiles" 2>&1
grep -qxF "$CONF" "$PM_TMP/conffiles"
tap_ok $? "the default configuration is a conffile: $CONF" ||
	tap_diag_file "$PM_TMP/conffiles"

missing=
for f in "$top_srcdir"/sql/*.sql; do
	grep -qxF "/usr/share/portmilter/sql/${f##*/}" "$PM_TMP/contents" ||
		missing="$missing ${f##*/}"
done
[ -z "$missing" ]
tap_ok $? "dpkg -c: every sql/*.sql in /usr/share/portmilter/sql/" ||
	tap_diag "missing:$missing"

grep -qE '^(/usr)?/lib/systemd/system/portmilter\.service$' "$PM_TMP/contents"
tap_ok $? "dpkg -c: the systemd unit portmilter.service"
grep -qE '^(/usr)?/lib/systemd/system/portmilter-watch\.service$' "$PM_TMP/contents" &&
	grep -qx '/usr/sbin/portmilter-watch' "$PM_TMP/contents"
tap_ok $? "dpkg -c: portmilter-watch and its unit portmilter-watch.service"

# ---- install -----------------------------------------------------------------------

postfix_state >"$PM_TMP/postfix.before"
dpkg -i "$deb" >"$PM_TMP/install.out" 2>&1
st=$?
deb_installed=1
if ! tap_ok $st "dpkg -i installs it"; then
	tap_diag_file "$PM_TMP/install.out"
	echo "Bail out! not installed"
	exit 1
fi

postfix_state >"$PM_TMP/postfix.after"
cmp -s "$PM_TMP/postfix.before" "$PM_TMP/postfix.after"
tap_ok $? "installing leaves Postfix's configuration (/etc/postfix) as it was" ||
	diff "$PM_TMP/postfix.before" "$PM_TMP/postfix.after" | tap_diag_file -

pw=$(getent passwd portmilter)
uid=$(echo "$pw" | cut -d: -f3)
[ -n "$pw" ] && [ "$uid" -lt 1000 ] &&
	[ "$(echo "$pw" | cut -d: -f6)" = "$STATEDIR" ] &&
	[ "$(id -Gn portmilter)" = portmilter ]
tap_ok $? "system user portmilter: home $STATEDIR, only in its own group" ||
	tap_diag "passwd: $pw; groups: $(id -Gn portmilter 2>&1)"

stat_is "$STATEDIR" "portmilter:portmilter 750" &&
	stat_is "$JOURNAL" "portmilter:portmilter 750"
tap_ok $? "$JOURNAL (and its parent): portmilter:portmilter, mode 0750"

have_postfix=0
getent group postfix >/dev/null && getent passwd postfix >/dev/null && have_postfix=1
if [ "$have_postfix" -eq 1 ]; then
	stat_is "$SOCKDIR" "portmilter:postfix 2750"
	tap_ok $? "socket directory $SOCKDIR: portmilter:postfix, mode 2750"
else
	tap_skip "socket directory: no user and group postfix on this machine"
fi

unit=$(dpkg -L portmilter | grep -E '/lib/systemd/system/portmilter\.service$' | head -n 1)
! ls /etc/systemd/system/*.wants/portmilter.service >/dev/null 2>&1
tap_ok $? "the unit is installed but not enabled (no *.wants link)" ||
	ls -l /etc/systemd/system/*.wants/portmilter.service | tap_diag_file -

# unit_key KEY: the values of KEY= in the installed unit, one per line
unit_key() {
	sed -n "s/^$1=//p" "$unit"
}
{
	[ "$(unit_key User)" = portmilter ] || echo "User=$(unit_key User)"
	[ "$(unit_key UMask)" = 0007 ] || echo "UMask=$(unit_key UMask)"
	[ "$(unit_key ExecReload)" = '/bin/kill -HUP $MAINPID' ] ||
		echo "ExecReload=$(unit_key ExecReload)"
	for kv in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes PrivateDevices=yes; do
		[ "$(unit_key "${kv%%=*}")" = "${kv#*=}" ] || echo "want $kv"
	done
	[ "$(unit_key RestrictAddressFamilies)" = "AF_UNIX AF_INET AF_INET6" ] ||
		echo "RestrictAddressFamilies=$(unit_key RestrictAddressFamilies)"
	for d in "$JOURNAL" "$SOCKDIR"; do
		unit_key ReadWritePaths | tr ' ' '\n' | sed 's/^-//' | grep -qxF "$d" ||
			echo "ReadWritePaths has not $d"
	done
	unit_key ExecStart | grep -qE '(^| )-f( |$)' || echo "ExecStart without -f"
	! unit_key ExecStart | grep -qE '(^| )-u' || echo "ExecStart with -u"
} >"$PM_TMP/unit.bad"
[ -n "$unit" ] && [ ! -s "$PM_TMP/unit.bad" ]
tap_ok $? "unit: User=portmilter, -f and no -u, UMask=0007, ExecReload, sandbox keys" ||
	tap_diag_file "$PM_TMP/unit.bad"

/usr/sbin/portmilter -n -c "$CONF" >"$PM_TMP/n.out" 2>&1
st=$?
[ "$st" -eq 0 ] &&
	grep -qxE "milter_socket += unix:$SOCKET" "$PM_TMP/n.out" &&
	grep -qxE "journal_directory += $JOURNAL" "$PM_TMP/n.out"
tap_ok $? "portmilter -n on the installed configuration: valid, socket and journal where the package made them" ||
	tap_diag_file "$PM_TMP/n.out"

# ---- README.Debian step 3: what the installed portmilter-conf notes ------

# A Postfix as Debian's "Internet Site" leaves it (its main.cf.debian
# and main.cf.tls, the stock master.cf; smtpd chrooted in
# /var/spool/postfix), before the admin has made a certificate or a
# SASL backend: the installed portmilter-conf check names both, as
# step 3 says. Cyrus SASL's configuration directory is an empty one of
# this test's (Debian ships no smtpd.conf).
PFD=$PM_TMP/postfix-site
if [ -r /usr/share/postfix/main.cf.debian ] && [ -r /usr/share/postfix/main.cf.tls ] &&
   [ -r /usr/share/postfix/master.cf.dist ] && command -v postconf >/dev/null; then
	mkdir -p "$PFD" "$PM_TMP/sasl-empty"
	cat /usr/share/postfix/main.cf.debian /usr/share/postfix/main.cf.tls >"$PFD/main.cf"
	cp /usr/share/postfix/master.cf.dist "$PFD/master.cf"
	postconf -c "$PFD" -e "cyrus_sasl_config_path = $PM_TMP/sasl-empty" \
		"queue_directory = /var/spool/postfix"
	cert=$(postconf -c "$PFD" -xh smtpd_tls_cert_file)
	/usr/sbin/portmilter-conf -c "$CONF" check --postfix-dir "$PFD" \
		>"$PM_TMP/check.out" 2>&1
	st=$?
	if [ -e "$cert" ]; then
		want_cert="no certificate note ($cert exists)"
		! grep -q 'certificate' "$PM_TMP/check.out"
	else
		want_cert="\"server certificate is missing ($cert)\""
		grep -qF "note: main.cf's server certificate is missing (smtpd_tls_cert_file = $cert: no such file)" "$PM_TMP/check.out"
	fi
	cert_ok=$?
	if [ -e /var/spool/postfix/etc/sasldb2 ]; then
		tap_skip "installed portmilter-conf check on a fresh Internet Site Postfix: /var/spool/postfix/etc/sasldb2 exists here"
	else
		[ "$st" -eq 1 ] && [ "$cert_ok" -eq 0 ] &&
			grep -q "^note: ports 465, 587, 4650, 5870, 12345 offer AUTH, but Postfix's SASL is not set up: .*(README.Debian, \"SASL and TLS\")\$" "$PM_TMP/check.out"
		tap_ok $? "README.Debian step 3: the installed portmilter-conf check on a fresh Internet Site Postfix: exit 1 (drifts), $want_cert, \"SASL is not set up\"" ||
			{ tap_diag "exit $st"; tap_diag_file "$PM_TMP/check.out"; }
	fi
else
	tap_skip "installed portmilter-conf check: no Postfix (main.cf.debian, main.cf.tls, master.cf.dist)"
fi

# ---- the documentation path --------------------------------------------------

# Every path under /usr/share/doc/portmilter/ that an installed file
# (the maintainer scripts, the units, the configuration, the man pages,
# README.Debian itself) or README.md names exists once installed:
# README.Debian.gz alone was installed while they all named
# README.Debian, and later watch.md.gz while portmilter-watch's unit,
# its man page and portmilter.conf named watch.md.
{
	grep -ho '/usr/share/doc/portmilter/[A-Za-z0-9._/-]*' \
		/var/lib/dpkg/info/portmilter.postinst /var/lib/dpkg/info/portmilter.prerm \
		"$top_srcdir/README.md"
	dpkg -L portmilter | while read -r f; do
		[ -f "$f" ] || continue
		case $f in
		*.gz) zcat "$f" 2>/dev/null ;;
		*) grep -I -h '' "$f" 2>/dev/null ;;
		esac | grep -o '/usr/share/doc/portmilter/[A-Za-z0-9._/-]*'
	done
} | sed 's/[.]$//' | sort -u >"$PM_TMP/docpaths"
missing=
while read -r f; do
	[ -e "$f" ] || missing="$missing $f"
done <"$PM_TMP/docpaths"
grep -qx /usr/share/doc/portmilter/README.Debian "$PM_TMP/docpaths" &&
	grep -qx /usr/share/doc/portmilter/watch.md "$PM_TMP/docpaths" && [ -z "$missing" ]
tap_ok $? "every /usr/share/doc/portmilter/ path the installed files and README.md name exists: $(tr '\n' ' ' <"$PM_TMP/docpaths")" ||
	tap_diag "missing:$missing"

# README.Debian's examples are used as they are (promtool, a cron file):
# none compressed, and those it lists are there.
ls /usr/share/doc/portmilter/examples/ >"$PM_TMP/examples" 2>&1
missing=
for f in prometheus.yml portmilter.rules.yml portmilter.rules.test.yml \
	portmilter-maintain.cron; do
	grep -qxF "$f" "$PM_TMP/examples" || missing="$missing $f"
done
! grep -q '\.gz$' "$PM_TMP/examples" && [ -z "$missing" ]
tap_ok $? "/usr/share/doc/portmilter/examples/: nothing compressed, the files README.Debian lists" ||
	{ tap_diag "missing:$missing"; tap_diag_file "$PM_TMP/examples"; }

# ---- README.Debian, step 1 and the reader, on a Debian cluster ---------------

# A cluster made as Debian makes them (pg_createcluster: its pg_hba.conf
# is peer for local sockets, scram-sha-256 over TCP) on a port that is
# not 5432, so that step 1's port= / PGPORT note is exercised too. The
# commands are README.Debian's, with runuser for sudo.
PGC=pmtest$$
PGP=$((${PM_PORT_OFFSET:-20000} + 5432))
READER=pmtread$$
pg_made=0 reader_made=0
db_cleanup() {
	if [ "$pg_made" -eq 1 ]; then
		pg_dropcluster --stop "$PGV" "$PGC" >/dev/null 2>&1 || :
	fi
	if [ "$reader_made" -eq 1 ]; then
		deluser --system "$READER" >/dev/null 2>&1 || :
		delgroup --system "$READER" >/dev/null 2>&1 || :
	fi
}
# as USER CMD...: README.Debian's "sudo -u USER CMD..."
as() {
	_as_u=$1
	shift
	runuser -u "$_as_u" -- "$@"
}
# report_err NAME WANT-RE HINT-RE CMD...: CMD fails, stderr matches both
report_err() {
	_re_name=$1 _re_want=$2 _re_hint=$3
	shift 3
	"$@" >"$PM_TMP/rep.out" 2>"$PM_TMP/rep.err"
	_re_st=$?
	[ "$_re_st" -ne 0 ] && grep -qE -- "$_re_want" "$PM_TMP/rep.err" &&
		grep -qE -- "^hint: .*$_re_hint" "$PM_TMP/rep.err"
	tap_ok $? "$_re_name" || { tap_diag "exit $_re_st"; tap_diag_file "$PM_TMP/rep.err"; }
}

PGV=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
have_pg=0
if command -v pg_createcluster >/dev/null && [ -n "$PGV" ] &&
   ! ss -ltnH "sport = :$PGP" | grep -q .; then
	pg_createcluster "$PGV" "$PGC" -p "$PGP" --start >"$PM_TMP/pgc.out" 2>&1 &&
		pg_made=1 && have_pg=1
	[ "$pg_made" -eq 1 ] || tap_diag_file "$PM_TMP/pgc.out"
fi
PM_CLEANUP_HOOK="db_cleanup; deb_cleanup"

if [ "$have_pg" -eq 1 ]; then
	tap_diag "cluster $PGV/$PGC on port $PGP (pg_createcluster)"
	# As the admin first tries it: root, the default port.
	report_err "portmilter-report as root, no cluster on the default port: says PGPORT / port=" \
		'Is the server running' 'PGPORT=PORT, or port=PORT' \
		/usr/bin/portmilter-report -d "dbname=portmilter port=$((PGP + 1))" ports

	# Step 1, literally, with the cluster's port (-p / port=).
	{
		as postgres createdb -p "$PGP" portmilter &&
		as postgres portmilter-report -d "dbname=portmilter port=$PGP" migrate &&
		as postgres psql -X -q -p "$PGP" portmilter -c 'CREATE ROLE portmilter LOGIN' \
			-c 'GRANT portmilter_writer TO portmilter'
	} >"$PM_TMP/step1.out" 2>&1
	tap_ok $? "README.Debian step 1 on a cluster on port $PGP: createdb -p, migrate with port=, the writer role (peer)" ||
		tap_diag_file "$PM_TMP/step1.out"

	# Step 2: database = with port= (libpq does not read PGCLUSTER).
	sed -i "s|^#database = dbname=portmilter\$|database = dbname=portmilter port=$PGP|" "$CONF"
	grep -qx "database = dbname=portmilter port=$PGP" "$CONF"
	tap_ok $? "README.Debian step 2: database = dbname=portmilter port=$PGP in $CONF"

	report_err "portmilter-report as root (no role root): says how to create the role" \
		'role "root" does not exist' 'createuser ROLE.*GRANT portmilter_reader' \
		/usr/bin/portmilter-report ports

	# The reader: an OS user and the role of the same name (peer).
	adduser --system --group --no-create-home --home /nonexistent --quiet "$READER" &&
		reader_made=1
	report_err "the abuse team's user before its role exists: says how to create it" \
		"role \"$READER\" does not exist" 'createuser' \
		as "$READER" /usr/bin/portmilter-report ports
	{
		as postgres createuser -p "$PGP" "$READER" &&
		as postgres psql -X -q -p "$PGP" portmilter -c "GRANT portmilter_reader TO $READER"
	} >"$PM_TMP/reader.out" 2>&1
	tap_ok $? "README.Debian reader recipe (peer): createuser $READER, GRANT portmilter_reader" ||
		tap_diag_file "$PM_TMP/reader.out"
	as "$READER" /usr/bin/portmilter-report ports >"$PM_TMP/ports.out" 2>&1
	tap_ok $? "the OS user $READER runs portmilter-report ports (port from $CONF, peer)" ||
		tap_diag_file "$PM_TMP/ports.out"
	report_err "as $READER with user=portmilter: peer authentication failed, says OS user / .pgpass" \
		'Peer authentication failed' 'run the command as that OS user.*pgpass' \
		as "$READER" /usr/bin/portmilter-report -d "dbname=portmilter port=$PGP user=portmilter" ports

	# The password variant: a role with a password, ~/.pgpass, TCP.
	chmod 755 "$PM_TMP"
	mkdir -p "$PM_TMP/home"
	printf 'localhost:%s:portmilter:pmtabuse:s3cret-%s\n' "$PGP" "$$" >"$PM_TMP/home/.pgpass"
	chown -R "$READER" "$PM_TMP/home"
	chmod 600 "$PM_TMP/home/.pgpass"
	as postgres psql -X -q -p "$PGP" portmilter \
		-c "CREATE ROLE pmtabuse LOGIN PASSWORD 's3cret-$$'" \
		-c 'GRANT portmilter_reader TO pmtabuse' >"$PM_TMP/abuse.out" 2>&1 &&
		as "$READER" env HOME="$PM_TMP/home" /usr/bin/portmilter-report \
			-d "host=localhost port=$PGP dbname=portmilter user=pmtabuse" ports \
			>>"$PM_TMP/abuse.out" 2>&1
	tap_ok $? "README.Debian reader recipe (password): a role with a password and ~/.pgpass, host=localhost" ||
		tap_diag_file "$PM_TMP/abuse.out"
	as postgres psql -X -q -p "$PGP" portmilter -c 'ALTER ROLE pmtabuse PASSWORD NULL' \
		>/dev/null 2>&1
	report_err "a wrong password (.pgpass): says check ~/.pgpass" \
		'password authentication failed' 'pgpass' \
		as "$READER" env HOME="$PM_TMP/home" /usr/bin/portmilter-report \
			-d "host=localhost port=$PGP dbname=portmilter user=pmtabuse" ports
else
	for t in "no server: hint" "step 1" "step 2" "no role root: hint" \
		"reader before its role: hint" "reader recipe (peer)" "reader runs ports" \
		"peer failed: hint" "reader recipe (password)" "wrong password: hint"; do
		tap_skip "$t: no pg_createcluster, or port $PGP taken"
	done
fi

# ---- the milter, started as the unit starts it -------------------------------

exec_start=$(unit_key ExecStart)
run_user=$(unit_key User)
run_group=$(unit_key Group)
run_umask=$(unit_key UMask)
# Run only what means the same here as under systemd: one line, no
# quoting, variables, specifiers or prefixes (@-:+!).
if [ "$(unit_key ExecStart | wc -l)" -ne 1 ] ||
   printf '%s\n' "$exec_start" | grep -q "[\$%\"'\\;]" ||
   printf '%s\n' "$exec_start" | grep -q '^[@:+!-]'; then
	tap_ok 1 "ExecStart= is one plain command line: $exec_start"
	echo "Bail out! cannot run ExecStart= as systemd would"
	exit 1
fi
PM_LOG=$PM_TMP/portmilter.log
# A simple command in the background: $! is the daemon itself (setpriv
# execs it), not a subshell around it.
saved_umask=$(umask)
umask "${run_umask:-0022}"
set -f
# shellcheck disable=SC2086
setpriv --reuid="$run_user" --regid="${run_group:-$(id -gn "$run_user")}" \
	--init-groups --reset-env $exec_start </dev/null >"$PM_LOG" 2>&1 &
PM_PID=$!
set +f
umask "$saved_umask"
started=1
pm_wait_log "$PM_LOG" ': started: ' 50 && [ -S "$SOCKET" ] && pm_alive || started=0
[ "$started" -eq 1 ]
tap_ok $? "ExecStart= as $run_user (the unit's User=, Group=, UMask=): the milter starts on $SOCKET" ||
	tap_diag_file "$PM_LOG"

if [ "$started" -eq 1 ]; then
	ps_user=$(ps -o user= -p "$PM_PID" | tr -d ' ')
	[ "$ps_user" = portmilter ]
	tap_ok $? "the daemon runs as portmilter (ps: $ps_user)"
else
	tap_skip "the daemon's user: not started"
fi

if [ "$started" -eq 1 ] && [ "$have_postfix" -eq 1 ]; then
	stat_is "$SOCKET" "portmilter:postfix 770"
	tap_ok $? "the socket: portmilter:postfix, mode 0770 (group from the setgid directory)"
	connect_as postfix
	tap_ok $? "user postfix (Postfix's smtpd) can connect to the socket" ||
		tap_diag_file "$PM_TMP/connect.err"
	! connect_as nobody
	tap_ok $? "user nobody cannot connect to the socket"
else
	tap_skip "socket owner and mode: no daemon or no Postfix"
	tap_skip "user postfix connects: no daemon or no Postfix"
	tap_skip "user nobody refused: no daemon or no Postfix"
fi

if [ "$started" -eq 1 ] && [ -n "$MILTERTEST" ]; then
	PM_SOCKET=unix:$SOCKET PM_TAP_N=$tap_n PM_LOG=$PM_LOG \
		"$MILTERTEST" -s "$top_srcdir/tests/debian/session.lua"
	mt_st=$?
	n=$(cat "$PM_TMP/count" 2>/dev/null)
	case $n in '' | *[!0-9]*) ;; *) tap_n=$n ;; esac
	tap_ok "$mt_st" "miltertest ran tests/debian/session.lua to its end (exit $mt_st)"
	# Journaled, every file the daemon's; with the cluster of step 1 they
	# are shipped there (the writer role by peer, port= of step 2), else
	# they wait in the journal.
	if [ "$have_pg" -eq 1 ]; then
		i=0
		while [ "$i" -lt 100 ]; do
			rows=$(as postgres psql -X -qAt -p "$PGP" portmilter \
				-c 'SELECT count(*) FROM portmilter.events' 2>/dev/null)
			[ "${rows:-0}" -gt 0 ] && break
			sleep 0.1
			i=$((i + 1))
		done
		[ "${rows:-0}" -gt 0 ] && grep -q "shipper: connected to database portmilter on .* port $PGP" "$PM_LOG"
		tap_ok $? "the sessions reached PostgreSQL on port $PGP ($rows events, as the role portmilter)" ||
			tail -n 5 "$PM_LOG" | tap_diag_file -
	else
		[ -n "$(find "$JOURNAL" -type f -size +0 2>/dev/null)" ]
		tap_ok $? "the sessions are in the journal (no database)"
	fi
	[ -z "$(find "$JOURNAL" ! -user portmilter 2>/dev/null)" ]
	tap_ok $? "every file in the journal is owned by portmilter" ||
		ls -la "$JOURNAL" 2>&1 | tap_diag_file -
else
	tap_skip "milter sessions: no daemon or no miltertest"
	tap_skip "the sessions shipped or journaled: no daemon or no miltertest"
	tap_skip "the journal's owner: no daemon or no miltertest"
fi

if [ "$started" -eq 1 ]; then
	reload=$(unit_key ExecReload | sed "s/\\\$MAINPID/$PM_PID/")
	# shellcheck disable=SC2086
	$reload
	pm_wait_log "$PM_LOG" ': reloaded ' 50 && pm_alive
	tap_ok $? "ExecReload= (SIGHUP): configuration reloaded, still running" ||
		tail -n 5 "$PM_LOG" | tap_diag_file -
	pm_stop 150
	stop_st=$?
	[ "$stop_st" -eq 0 ] && [ "$PM_STATUS" -eq 0 ] && grep -q ': stopped' "$PM_LOG"
	tap_ok $? "SIGTERM (systemctl stop): stopped, exit status 0" ||
		{ tap_diag "status $PM_STATUS"; tail -n 5 "$PM_LOG" | tap_diag_file -; }
else
	tap_skip "reload: not started"
	tap_skip "stop: not started"
fi
pm_log_clean "$PM_LOG"
tap_ok $? "no panic or fatal error in the daemon's log" ||
	grep -E ': (panic|fatal): ' "$PM_LOG" | tap_diag_file -

# Postfix installed after portmilter: its file trigger fixes the directory.
if [ "$have_postfix" -eq 1 ]; then
	chgrp portmilter "$SOCKDIR" && chmod 0750 "$SOCKDIR" &&
		dpkg-trigger --no-await /usr/sbin/postfix &&
		dpkg --triggers-only portmilter >"$PM_TMP/trigger.out" 2>&1 &&
		stat_is "$SOCKDIR" "portmilter:postfix 2750"
	tap_ok $? "the trigger on /usr/sbin/postfix (Postfix installed later) makes the socket directory portmilter:postfix 2750" ||
		tap_diag_file "$PM_TMP/trigger.out"
else
	tap_skip "trigger: no Postfix on this machine"
fi

# ---- no systemd: the daemon started by hand is stopped on removal -----------

# README.Debian's command for a machine without systemd; the prerm stops
# that daemon from its pid file, and never a process the pid file names
# that is not portmilter (a stale file).
PIDDIR=/run/portmilter
PIDFILE=$PIDDIR/portmilter.pid
bgpid=
pid_tested=0
# On any exit: the hand-started daemon not left running (it is
# portmilter, checked; after dpkg -r its binary reads
# "/usr/sbin/portmilter (deleted)"), its pid file and directory gone.
pid_cleanup() {
	case $(readlink "/proc/${bgpid:-none}/exe" 2>/dev/null) in
	/usr/sbin/portmilter | "/usr/sbin/portmilter (deleted)")
		kill "$bgpid" 2>/dev/null || :
		;;
	esac
	rm -f "$PIDFILE"
	rmdir "$PIDDIR" 2>/dev/null || :
}
if [ -d /run/systemd/system ]; then
	for t in "stale pid file" "pid file a symlink" "the daemon runs"; do
		tap_skip "no systemd, $t: systemd runs here"
	done
elif [ -e "$PIDDIR" ]; then
	for t in "stale pid file" "pid file a symlink" "the daemon runs"; do
		tap_skip "no systemd, $t: $PIDDIR exists, not touching it"
	done
else
	pid_tested=1
	PM_CLEANUP_HOOK="pid_cleanup; $PM_CLEANUP_HOOK"
	# README.Debian, step 5 without systemd: the directory first.
	install -d -o portmilter -g portmilter -m 0755 "$PIDDIR"
	sleep 300 &
	other=$!
	echo "$other" >"$PIDFILE"
	/var/lib/dpkg/info/portmilter.prerm remove >"$PM_TMP/prerm.out" 2>&1
	st=$?
	kill -0 "$other" 2>/dev/null && [ "$st" -eq 0 ]
	tap_ok $? "prerm remove, $PIDFILE naming another process (sleep): exit 0, that process untouched" ||
		tap_diag_file "$PM_TMP/prerm.out"
	# The directory is the user portmilter's: a symlink there must not
	# make root read (and print) another file.
	echo "$other secret-line" >"$PM_TMP/target"
	rm -f "$PIDFILE" && ln -s "$PM_TMP/target" "$PIDFILE"
	/var/lib/dpkg/info/portmilter.prerm remove >"$PM_TMP/prerm.out" 2>&1
	st=$?
	kill -0 "$other" 2>/dev/null && [ "$st" -eq 0 ] &&
		! grep -q secret-line "$PM_TMP/prerm.out"
	tap_ok $? "prerm remove, $PIDFILE a symlink: not followed, nothing killed or printed" ||
		tap_diag_file "$PM_TMP/prerm.out"
	kill "$other" 2>/dev/null
	wait "$other" 2>/dev/null
	rm -f "$PIDFILE"

	/usr/sbin/portmilter -u portmilter -P "$PIDFILE" \
		>"$PM_TMP/bg.out" 2>&1
	bgpid=$(cat "$PIDFILE" 2>/dev/null)
	case $bgpid in '' | *[!0-9]*) bgpid= ;; esac
	[ -n "$bgpid" ] && kill -0 "$bgpid" 2>/dev/null
	tap_ok $? "README.Debian without systemd: portmilter -u portmilter -P $PIDFILE runs (pid $bgpid)" ||
		tap_diag_file "$PM_TMP/bg.out"
fi

# ---- remove, purge -------------------------------------------------------------

dpkg -r portmilter >"$PM_TMP/remove.out" 2>&1
tap_ok $? "dpkg -r portmilter" || tap_diag_file "$PM_TMP/remove.out"
left=
for f in $PROGRAMS; do
	[ ! -e "$f" ] || left="$left $f"
done
[ -z "$left" ]
tap_ok $? "after remove: the programs are gone" || tap_diag "still there:$left"
if [ "$pid_tested" -eq 0 ]; then
	tap_skip "the hand-started daemon stopped by dpkg -r: systemd, or $PIDDIR was there"
else
	i=0
	while [ -n "$bgpid" ] && kill -0 "$bgpid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$bgpid" ] && ! kill -0 "$bgpid" 2>/dev/null && [ ! -e "$PIDFILE" ] &&
		[ ! -e "$PIDDIR" ]
	tap_ok $? "without systemd, dpkg -r stopped the daemon of $PIDFILE (pid $bgpid); the file and $PIDDIR are gone" ||
		{ tap_diag_file "$PM_TMP/remove.out"; ps -o pid,args -p "$bgpid" | tap_diag_file -; }
fi
[ -f "$CONF" ] && [ "$(find "$JOURNAL" -type f | wc -l)" -gt 0 ] && [ -d "$SOCKDIR" ]
tap_ok $? "after remove: the configuration, the journal and the socket directory are kept"

# The journal directory lies in $STATEDIR, which the user portmilter owns:
# that user can swap it for a link to a root directory at any time. The
# next configure (a reinstall, an upgrade) must not hand that directory to
# portmilter (root following a path the user controls: issue 9's rule).
victim=$PM_TMP/victim
mkdir -m 0700 "$victim" && mv "$JOURNAL" "$PM_TMP/journal.kept" &&
	ln -s "$victim" "$JOURNAL" &&
	dpkg -i "$deb" >"$PM_TMP/reinstall.out" 2>&1
st=$?
rm -f "$JOURNAL"
mv "$PM_TMP/journal.kept" "$JOURNAL"
[ "$st" -eq 0 ] && stat_is "$victim" "root:root 700"
tap_ok $? "a reinstall with $JOURNAL swapped for a link to a root directory: the package installs, the directory stays root:root 0700" ||
	{ tap_diag_file "$PM_TMP/reinstall.out"; tap_diag "victim: $(stat -c '%U:%G %a' "$victim")"; }

dpkg -P portmilter >"$PM_TMP/purge.out" 2>&1
st=$?
[ "$st" -ne 0 ] || deb_installed=0
tap_ok $st "dpkg -P portmilter" || tap_diag_file "$PM_TMP/purge.out"
left=
for f in /etc/portmilter "$STATEDIR" "$SOCKDIR"; do
	[ ! -e "$f" ] || left="$left $f"
done
status=$(dpkg-query -W -f='${db:Status-Status}' portmilter 2>/dev/null)
[ -z "$left" ] && { [ -z "$status" ] || [ "$status" = not-installed ]; }
tap_ok $? "after purge: /etc/portmilter, $STATEDIR, $SOCKDIR and dpkg's record are gone" ||
	tap_diag "still there:$left; dpkg status: $status"
getent passwd portmilter >/dev/null
tap_ok $? "after purge: the system user portmilter is kept (README.Debian)"

tap_plan
