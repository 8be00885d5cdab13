#!/bin/sh
# logread-bench.sh - the Postfix log reader's cost and lag (issue 12), on
# demand (not part of make check).
#
#   sh bench/logread-bench.sh [LINES] [RELEVANT] [LAG]    (as root)
#   defaults: 100000 unrelated lines, 20000 relevant lines, 300 lag lines
#   LOGREAD_SOURCE=journal: the same lines as systemd journal entries
#   (written by systemd-journal-remote into a directory, postfix_log =
#   journal:DIR); the CPU counted is then the milter's and its
#   journalctl's.
#
# The milter (postfix_log set, the shipped ports) and a throwaway
# PostgreSQL, as tests/recorder/logread.sh starts them. The lines are
# Postfix 3.7's, as captured from a real Postfix in
# tests/unit/maillog-3.7.txt (maillog_file format), given the time stamp
# of the moment and the generated services' syslog names.
#  0. idle: the milter's CPU over 10 s with nothing written (its other
#     threads and the reader's polls), the baseline taken off below.
#  1. unrelated: LINES lines of accepted sessions (connect, client=,
#     cleanup, qmgr, discard, disconnect: nothing to record) appended at
#     once, then one failed login; the milter's CPU from the write until
#     that login's row is stored. Per 1,000 lines.
#  2. relevant: RELEVANT lines that each give one row (failed AUTH on
#     5870, MAIL without STARTTLS on 587, Postfix's relay reject on 25)
#     appended at once; the milter's and PostgreSQL's CPU until the last
#     row is stored (parse, journal, ship). Per 1,000 lines.
#  3. lag: LAG failed-AUTH lines written one at a time, 0-100 ms apart
#     (python3; each line's write time kept), with the milter otherwise
#     idle; a row trigger (this bench's only) notes clock_timestamp() as
#     each row is inserted. Median, 90th percentile and max of
#     insert time - write time. (Rows become visible at the batch's
#     commit, a few ms after the insert.)
# The load average is printed first: the figures depend on it.
set -eu
LINES=${1:-100000}
RELEVANT=${2:-20000}
LAGN=${3:-300}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/_build/bench}
top_srcdir=$top top_builddir=$build
export top_srcdir top_builddir
if [ ! -x "$build/milter/portmilter" ] || [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" >/dev/null)
fi
make -C "$build" -j2 all >/dev/null
command -v python3 >/dev/null 2>&1 || { echo "python3 is needed"; exit 1; }
# shellcheck source=tests/recorder/lib.sh
. "$top/tests/recorder/lib.sh"
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

SOURCE=${LOGREAD_SOURCE:-file}
JR=/lib/systemd/systemd-journal-remote
[ "$SOURCE" = file ] || [ -x "$JR" ] || { echo "$JR is needed"; exit 1; }
# A missing tool fails a bench (tap_skip_all, tests/lib/tap.sh); its
# reason on stderr, stdout is the figures.
# shellcheck disable=SC2034 # read by tap_skip_all (tests/lib/tap.sh)
TAP_SKIP_STATUS=1
rec_init >&2
LOG=$PM_TMP/log/mail.log
JDIR=$PM_TMP/jdir
BOOT=$(tr -d - </proc/sys/kernel/random/boot_id)
mkdir -p "$PM_TMP/log" "$JDIR"
: >"$LOG"
# emit: the syslog lines on stdin into the log (the file, or the journal
# as the entries journald makes of them)
emit() {
	if [ "$SOURCE" = file ]; then
		cat >>"$LOG"
		return
	fi
	awk -v boot="$BOOT" -v t="$(date +%s%6N)" '{
		tag = $5; msg = $0
		for (k = 0; k < 5; k++)
			sub(/^[^ ]+ +/, "", msg)
		pid = tag; sub(/^[^[]*\[/, "", pid); sub(/\]:$/, "", pid)
		ident = tag; sub(/\[.*/, "", ident)
		printf "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n_HOSTNAME=mail\nSYSLOG_FACILITY=2\nSYSLOG_IDENTIFIER=%s\nSYSLOG_PID=%s\nMESSAGE=%s\n\n", t + NR, NR, boot, ident, pid, msg
	}' | "$JR" --output="$JDIR/remote.journal" - 2>/dev/null
}
if [ "$SOURCE" = file ]; then
	rec_conf "$PM_TMP/portmilter.conf" "postfix_log = $LOG"
else
	echo "$(LC_ALL=C date '+%b %d %H:%M:%S') mail postfix/master[1]: daemon started" | emit
	rec_conf "$PM_TMP/portmilter.conf" "postfix_log = journal:$JDIR"
fi
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100 ||
	{ echo "the shipper did not connect"; exit 1; }
pm_wait_log "$PM_LOG" "logreader: following" 50 ||
	{ echo "the log reader did not start"; exit 1; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); source: $SOURCE"
# cpu: the milter's CPU (ms), and its journalctl's
cpu() {
	_c_ms=$(proc_cpu_ms "$PM_PID")
	for _c_p in $(pgrep -P "$PM_PID" journalctl); do
		_c_ms=$((_c_ms + $(proc_cpu_ms "$_c_p")))
	done
	echo "$_c_ms"
}

# The lag trigger: the insert time of each row, kept by event id.
rec_sql "CREATE TABLE public.bench_ins (event_id uuid, sasl_user text,
		ins timestamptz);
	CREATE FUNCTION public.bench_ins() RETURNS trigger LANGUAGE plpgsql
		SECURITY DEFINER SET search_path = '' AS
	\$\$BEGIN INSERT INTO public.bench_ins VALUES (NEW.event_id,
		NEW.sasl_user, clock_timestamp()); RETURN NULL; END\$\$;
	CREATE TRIGGER bench_ins AFTER INSERT ON portmilter.events
		FOR EACH ROW EXECUTE FUNCTION public.bench_ins()" >/dev/null

rows() { rec_sql "SELECT count(*) FROM portmilter.events"; }
# wait_rows N: until N rows are stored
wait_rows() {
	_wr_t0=$(bench_ms)
	while [ "$(rows)" -lt "$1" ]; do
		[ $(($(bench_ms) - _wr_t0)) -lt 600000 ] || { echo "timeout"; exit 1; }
		sleep 0.1
	done
}
ms_per_1000() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.2f", c * 1000 / n }'; }
MARK=0
# marker: one failed login (a row) after what was written
marker() {
	MARK=$((MARK + 1))
	echo "$(LC_ALL=C date '+%b %d %H:%M:%S') mail postfix/5870/smtpd[999]: warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: authentication failure, sasl_username=marker$MARK@example.test"
}
R0=$(rows)
marker | emit
wait_rows $((R0 + 1))

# ---- 0. idle ------------------------------------------------------------------
c0=$(cpu)
sleep 10
IDLE=$(($(cpu) - c0))
echo "== 0. idle: the milter used $IDLE ms of CPU in 10 s"

# stamp: the captured lines (stdin) with the time of now and the
# generated services' syslog names (the capture ran at port offset 26000)
stamp() {
	LC_ALL=C awk -v t="$(LC_ALL=C date '+%b %d %H:%M:%S')" '{
		sub(/^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]{8}/, t)
		sub(/postfix\/26587\/smtpd/, "postfix/submission/smtpd")
		sub(/postfix\/26025\/smtpd/, "postfix/smtpd")
		print
	}'
}

# ---- 1. unrelated lines -------------------------------------------------------
# One accepted session on 587 and one on 25, as Postfix logged them.
awk '/15:13:20/ && (/42438A74163|DBF8CA74173|commands=[58]$/ ||
	(/: connect from/ && !seen[$5]++))' "$top/tests/unit/maillog-3.7.txt" |
	stamp >"$PM_TMP/session"
S=$(wc -l <"$PM_TMP/session")
awk -v n="$LINES" -v s="$S" '{ l[NR] = $0 } END {
	for (i = 0; i < n; i++) print l[i % s + 1] }' "$PM_TMP/session" >"$PM_TMP/unrelated"
marker >>"$PM_TMP/unrelated"
R0=$(rows)
c0=$(cpu)
t0=$(bench_ms)
emit <"$PM_TMP/unrelated"
wait_rows $((R0 + 1))
t1=$(bench_ms)
CPU=$(($(cpu) - c0))
NET=$((CPU - IDLE * (t1 - t0) / 10000))
echo "== 1. $LINES unrelated lines ($S-line sessions): read in $((t1 - t0)) ms," \
	"milter CPU $CPU ms ($NET ms without the idle baseline):" \
	"$(ms_per_1000 "$NET" "$LINES") ms per 1,000 lines; rows stored: $(($(rows) - R0)) (the marker)"

# ---- 2. relevant lines --------------------------------------------------------
T=$(LC_ALL=C date '+%b %d %H:%M:%S')
awk -v n="$RELEVANT" -v t="$T" 'BEGIN {
	for (i = 0; i < n; i++) {
		pid = 10000 + i % 5000
		if (i % 3 == 0)
			printf "%s mail postfix/5870/smtpd[%d]: warning: localhost[127.0.0.1]: SASL PLAIN authentication failed: authentication failure, sasl_username=user%d@example.test\n", t, pid, i
		else if (i % 3 == 1)
			printf "%s mail postfix/submission/smtpd[%d]: disconnect from localhost[127.0.0.1] ehlo=1 mail=0/1 quit=1 commands=2/3\n", t, pid
		else
			printf "%s mail postfix/smtpd[%d]: NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <bob%d@remote.example>: Relay access denied; from=<root@vm> to=<bob%d@remote.example> proto=ESMTP helo=<client.example>\n", t, pid, i, i
	}
}' >"$PM_TMP/relevant"
R0=$(rows)
c0=$(cpu)
p0=$(pg_cpu_ms "$PM_TMP/pg")
t0=$(bench_ms)
emit <"$PM_TMP/relevant"
wait_rows $((R0 + RELEVANT))
t1=$(bench_ms)
CPU=$(($(cpu) - c0))
PCPU=$(($(pg_cpu_ms "$PM_TMP/pg") - p0))
NET=$((CPU - IDLE * (t1 - t0) / 10000))
echo "== 2. $RELEVANT relevant lines (one row each): stored in $((t1 - t0)) ms," \
	"milter CPU $CPU ms ($NET ms without the idle baseline):" \
	"$(ms_per_1000 "$NET" "$RELEVANT") ms per 1,000 lines (parse, journal, ship);" \
	"PostgreSQL CPU $(ms_per_1000 "$PCPU" "$RELEVANT") ms per 1,000 rows" \
	"(the row counting polls included); rows stored: $(($(rows) - R0))"

# ---- 3. lag from a line written to its row -----------------------------------
sleep 2
python3 - "$SOURCE" "$LOG" "$LAGN" "$JR" "$JDIR" "$BOOT" >"$PM_TMP/written" <<'EOF'
import random, subprocess, sys, time
source, path, n, jr, jdir, boot = sys.argv[1:7]
n = int(n)
if source == "file":
    f = open(path, "a")
else:
    # one systemd-journal-remote for all the entries: each is written to
    # the journal file as it comes in
    p = subprocess.Popen([jr, "--output=" + jdir + "/remote.journal", "-"],
                         stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    f = p.stdin
for i in range(n):
    msg = (f"warning: localhost[127.0.0.1]: SASL LOGIN authentication "
           f"failed: authentication failure, sasl_username=lag{i}@example.test")
    t = time.time()
    if source == "file":
        f.write(f"{time.strftime('%b %d %H:%M:%S')} mail "
                f"postfix/5870/smtpd[{20000 + i}]: {msg}\n")
    else:
        f.write(f"__REALTIME_TIMESTAMP={int(t * 1e6)}\n_BOOT_ID={boot}\n"
                f"_HOSTNAME=mail\nSYSLOG_FACILITY=2\n"
                f"SYSLOG_IDENTIFIER=postfix/5870/smtpd\n"
                f"SYSLOG_PID={20000 + i}\nMESSAGE={msg}\n\n")
    f.flush()
    print(f"lag{i}@example.test {t:.6f}")
    time.sleep(random.uniform(0, 0.1))
f.close()
if source != "file":
    p.wait()
EOF
t0=$(bench_ms)
while [ "$(rec_sql "SELECT count(*) FROM public.bench_ins WHERE sasl_user LIKE 'lag%'")" -lt "$LAGN" ]; do
	[ $(($(bench_ms) - t0)) -lt 60000 ] || { echo "timeout"; exit 1; }
	sleep 0.2
done
rec_sql "SELECT sasl_user || ' ' || extract(epoch FROM ins) FROM public.bench_ins
	WHERE sasl_user LIKE 'lag%'" >"$PM_TMP/inserted"
awk 'NR == FNR { w[$1] = $2; next } ($1 in w) { printf "%.3f\n", ($2 - w[$1]) * 1000 }' \
	"$PM_TMP/written" "$PM_TMP/inserted" | sort -n >"$PM_TMP/lags"
awk '{ l[NR] = $1 } END {
	printf "== 3. lag from a line written to its row, %d lines 0-100 ms apart: median %.0f ms, 90%% %.0f ms, max %.0f ms, min %.0f ms\n",
		NR, l[int((NR + 1) / 2)], l[int(NR * 0.9)], l[NR], l[1] }' "$PM_TMP/lags"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
rec_stop >/dev/null
sed -n 's/.*\(logreader: .*lines.*\)/\1/p' "$PM_LOG" | tail -n 1
