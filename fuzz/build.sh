#!/bin/sh
# fuzz/build.sh SRCDIR OUTDIR: build the libFuzzer harnesses fuzz/fuzz_*.c
# with clang (-fsanitize=fuzzer,address,undefined) into OUTDIR, apart
# from the normal build (its own objects, its own compiler and flags).
# Rebuilds only when a source is newer than the harnesses.
# Environment: FUZZ_CC (default clang), FUZZ_CFLAGS (extra flags),
# PQ_CFLAGS (default: pkg-config --cflags libpq, for report/report.h).
# Exit status: 0 built, 77 clang or its fuzzer runtime missing, 1 error.
set -eu

[ $# -eq 2 ] || { echo "usage: fuzz/build.sh SRCDIR OUTDIR" >&2; exit 1; }
src=$1 out=$2
cc=${FUZZ_CC:-clang}
# every fuzz/fuzz_NAME.c is a harness
HARNESSES=$(cd "$src/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz/build.sh: $cc not found (Debian: clang, libclang-rt-14-dev)" >&2
	exit 77
fi
pq=${PQ_CFLAGS:-$(pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)}

# The sources of the three internal libraries, as Makefile.am lists them
# (so that a module split there is followed here), every module of
# portmilter-conf but its main.c (the archive gives each harness only
# what it calls), and portmilter-report's time parser.
libsrc=$(awk '
	/^(lib_libportmilter|milter_libpolicy|milter_libjournal)_a_SOURCES[ \t]*=/ { on = 1 }
	on { for (i = 1; i <= NF; i++) if ($i ~ /\.c$/) print $i
	     if ($NF != "\\") on = 0 }' "$src/Makefile.am")
[ -n "$libsrc" ] || { echo "fuzz/build.sh: no library sources in $src/Makefile.am" >&2; exit 1; }
pcsrc=
for f in "$src"/postfix-conf/*.c; do
	f=postfix-conf/${f##*/}
	[ "$f" = postfix-conf/main.c ] || pcsrc="$pcsrc $f"
done
LIBSRC="$libsrc $pcsrc report/timeparse.c fuzz/oracle.c"

mkdir -p "$out/obj"
# Up to date: every harness newer than every source, header and script.
stale=no
for h in $HARNESSES; do
	[ -x "$out/fuzz_$h" ] || { stale=yes; break; }
	if [ -n "$(find "$src/lib" "$src/milter" "$src/postfix-conf" \
	    "$src/report" "$src/fuzz" "$src/Makefile.am" -newer "$out/fuzz_$h" \
	    \( -name '*.[ch]' -o -name build.sh -o -name Makefile.am \) \
	    2>/dev/null | head -1)" ]; then
		stale=yes
		break
	fi
done
[ "$stale" = no ] && exit 0

# shellcheck disable=SC2086 # flag lists, split on purpose
flags="-g -O1 -std=gnu11 -D_GNU_SOURCE
-I$src/lib -I$src/milter -I$src/postfix-conf -I$src/report -I$src/fuzz $pq
-fsanitize=address,undefined -fno-sanitize-recover=all
-fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unused-parameter
$(pkg-config --cflags openssl 2>/dev/null)
${FUZZ_CFLAGS:-}"

# The fuzzer runtime must be there (libclang-rt-14-dev).
probe="$out/obj/probe"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$probe.c"
# shellcheck disable=SC2086
if ! "$cc" -fsanitize=fuzzer "$probe.c" -o "$probe" >/dev/null 2>&1; then
	echo "fuzz/build.sh: $cc cannot link -fsanitize=fuzzer (Debian: libclang-rt-14-dev)" >&2
	exit 77
fi

objs=
for f in $LIBSRC; do
	o="$out/obj/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')"
	# shellcheck disable=SC2086
	"$cc" $flags -fsanitize=fuzzer-no-link -c "$src/$f" -o "$o"
	objs="$objs $o"
done
rm -f "$out/libfuzzpm.a"
# shellcheck disable=SC2086
ar rcs "$out/libfuzzpm.a" $objs
for h in $HARNESSES; do
	# shellcheck disable=SC2086
	extra=
	# the journal harness counts the bytes journal.c reads
	[ "$h" = journal ] && extra=-Wl,--wrap=pread
	# shellcheck disable=SC2086
	"$cc" $flags -fsanitize=fuzzer "$src/fuzz/fuzz_$h.c" "$out/libfuzzpm.a" \
		$extra -lpthread -o "$out/fuzz_$h"
done
echo "fuzz/build.sh: built $(echo $HARNESSES | wc -w) harnesses in $out"
