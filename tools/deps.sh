#!/bin/sh
# Install the Debian 12 packages portmilter needs to build, test and demo.
# Idempotent; must run as root. Postfix is preseeded so that installing
# it asks nothing and configures nothing.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config
libmilter-dev libpq-dev libssl-dev libcmocka-dev miltertest valgrind
postfix postgresql swaks sasl2-bin libsasl2-modules openssl ca-certificates
procps iproute2 util-linux
debhelper dpkg-dev lintian fakeroot
libxml2-utils python3
clang libclang-rt-14-dev
chromium prometheus libmicrohttpd-dev
libcurl4-openssl-dev libmaxminddb-dev libmaxmind-db-writer-perl
fail2ban postfwd
systemd systemd-journal-remote
man-db groff-base
dovecot-core
shellcheck"

if [ "$(id -u)" -ne 0 ]; then
	echo "tools/deps.sh: run as root (apt-get install)" >&2
	exit 1
fi
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "tools/deps.sh: installing:$missing"
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string portmilter.invalid" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
