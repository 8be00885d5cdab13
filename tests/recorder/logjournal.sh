#!/bin/sh
# logjournal.sh - the log reader on the systemd journal (postfix_log =
# journal:DIR, milter/logjournal.h) against a real PostgreSQL (TAP).
#
# The journal files are written by systemd-journal-remote from entries in
# the journal's export format, with the fields journald gives a Postfix
# 3.7 syslog line (SYSLOG_IDENTIFIER postfix/5870/smtpd, SYSLOG_PID,
# SYSLOG_FACILITY 2, MESSAGE as tests/unit/maillog-3.7.txt has it, this
# boot's _BOOT_ID); the milter follows them through journalctl. Checked:
#  0. an empty journal directory (journalctl exits at once): said once,
#     and the first entry written after the start is read;
#  1. no saved position: an entry written before the start is not read;
#     5 failed logins on 5870 and 3 on 4650 -> exactly those 8 rows, with
#     user, mechanism, port, reply; another facility's entry: no row;
#  2. a MESSAGE sent as a binary field (a newline in it): one row;
#  3. reader stopped (SIGTERM) while entries are written -> exact after
#     start (the cursor in logreader.pos, "2 CURSOR", mode 0640); more
#     than 10 of them, and nothing written after the start: journalctl
#     --follow implies --lines=10, and from a cursor it showed only 10
#     entries until the journal was written again;
#  4. kill -9 right after a batch (the position saved or not yet) ->
#     exact (ids derived from the cursor); journalctl ends with the milter;
#  5. a journalctl that does not notice its reader is gone (a stub in
#     PATH: journalctl 252 itself sees the pipe's hangup) is ended too
#     when the milter is SIGKILLed (PR_SET_PDEATHSIG).
#
# Every entry has its own __MONOTONIC_TIMESTAMP (PID counts up in this
# shell: jput, not a pipe, whose subshell forgot the count), increasing
# as journald's do within a boot.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

JR=
for _jr in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
	[ -x "$_jr" ] && JR=$_jr && break
done
if [ -z "$JR" ] || ! command -v journalctl >/dev/null 2>&1; then
	tap_skip_all "systemd-journal-remote or journalctl not installed"
fi

rec_init
JDIR=$PM_TMP/jdir
mkdir -p "$JDIR"
BOOT=$(tr -d - </proc/sys/kernel/random/boot_id)
PID=5000

# jent USER LABEL [MECH [FACILITY]]: one failed login on the service
# LABEL, as journald stores Postfix's syslog line
jent() {
	PID=$((PID + 1))
	printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=%s\n_HOSTNAME=mail\n_TRANSPORT=syslog\nPRIORITY=4\nSYSLOG_FACILITY=%s\nSYSLOG_IDENTIFIER=postfix/%s/smtpd\nSYSLOG_PID=%s\n_PID=%s\nMESSAGE=warning: unknown[192.0.2.%s]: SASL %s authentication failed: authentication failure, sasl_username=%s\n\n' \
		"$(date +%s%6N)" "$PID" "$BOOT" "${4:-2}" "$2" "$PID" "$PID" \
		$((PID % 200 + 1)) "${3:-PLAIN}" "$1"
}
# jwrite: the entries on stdin into the journal files in JDIR
jwrite() {
	"$JR" --output="$JDIR/remote.journal" - >>"$PM_TMP/jr.log" 2>&1
}
# jput CMD [ARG...]: CMD's entries (run in this shell) into the journal
jput() {
	"$@" >"$PM_TMP/jent.in" && jwrite <"$PM_TMP/jent.in"
}
# jfails N: N failed logins of numbered users on 5870
jfails() {
	_jf_i=0
	while [ "$_jf_i" -lt "$1" ]; do
		jent "j$PID@example.test" 5870
		_jf_i=$((_jf_i + 1))
	done >"$PM_TMP/jent.in"
	jwrite <"$PM_TMP/jent.in"
}
# jfollowers: the journalctl processes following JDIR, their pids
# (the bracket keeps grep's own command line from matching)
jfollowers() {
	grep -alE -- "--director[y]=$JDIR" /proc/[0-9]*/cmdline 2>/dev/null |
		sed 's|^/proc/||; s|/cmdline$||' | xargs
}
# jgone: 0 once no journalctl follows JDIR (at most 2 s); JGONE = tenths
jgone() {
	JGONE=0
	while [ -n "$(jfollowers)" ]; do
		[ "$JGONE" -ge 20 ] && return 1
		sleep 0.1
		JGONE=$((JGONE + 1))
	done
}

AUTH="SELECT count(*) FROM portmilter.events WHERE kind = 'auth_failure'"

# ---- 0. an empty journal directory: journalctl exits at once ---------------------
rec_conf "$PM_TMP/portmilter.conf" "postfix_log = journal:$JDIR"
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "shipper: connected to database" 100
tap_ok $? "the shipper connected to the database"
pm_wait_log "$PM_LOG" "logreader: journalctl exited with status 1: starting it again every second" 50
tap_ok $? "an empty journal directory: journalctl's exit is logged" || tap_diag_file "$PM_LOG"
sleep 2.5
[ "$(grep -c 'logreader: journalctl exited' "$PM_LOG")" -eq 1 ]
tap_ok $? "... once, not at every start again"
jput jent first@example.test 12345
[ -s "$JDIR/remote.journal" ]
tap_ok $? "systemd-journal-remote wrote a journal file" || tap_diag_file "$PM_TMP/jr.log"
rec_wait 1 "$AUTH" 15
tap_ok $? "the first entry of the journal (written after the start) -> one row" ||
	{ tap_diag "got $REC_GOT"; tap_diag_file "$PM_LOG"; }

# ---- 1. no saved position: from the journal's end ----------------------------------
rec_stop
rm -f "$PM_TMP/journal/logreader.pos"
jput jent before-start@example.test 5870
rec_start "$PM_TMP/portmilter.conf"
pm_wait_log "$PM_LOG" "logreader: reading the journal in $JDIR" 50
tap_ok $? "the log reader follows the journal in $JDIR" || tap_diag_file "$PM_LOG"
grep -q 'logreader: no saved position: starting at the end of the journal' "$PM_LOG"
tap_ok $? "no saved position: it starts at the journal's end"
sleep 1

# 5 + 3 failed logins; another facility
case1() {
	i=0
	while [ $i -lt 5 ]; do
		jent testuser@example.test 5870
		i=$((i + 1))
	done
	for mech in PLAIN LOGIN PLAIN; do
		jent nosuch@example.test 4650 "$mech"
	done
	jent other-facility@example.test 5870 PLAIN 3
}
jput case1
rec_wait 9 "$AUTH" 15
tap_ok $? "8 failed logins in the journal -> 8 more auth_failure rows (waited $REC_WAITED tenths)" ||
	{ tap_diag "got $REC_GOT"; tap_diag_file "$PM_LOG"; }
rec_is "per port and user, mechanisms, reply" \
	"4650|nosuch@example.test|3|LOGIN,PLAIN|535 5.7.8 Error: authentication failed: authentication failure|t
5870|testuser@example.test|5|PLAIN|535 5.7.8 Error: authentication failed: authentication failure|t" \
	"SELECT port, sasl_user, count(*), string_agg(DISTINCT sasl_method, ','),
	        min(reply), bool_and(client_addr <<= '192.0.2.0/24')
	 FROM portmilter.events WHERE kind = 'auth_failure' AND port <> 12345
	 GROUP BY 1, 2 ORDER BY 1"
rec_is "no row for the entry before the start, nor for another facility's" "0" \
	"SELECT count(*) FROM portmilter.events
	 WHERE sasl_user IN ('before-start@example.test', 'other-facility@example.test')"

# ---- 2. a binary MESSAGE field -------------------------------------------------
MSG='warning: unknown[192.0.2.9]: SASL PLAIN authentication failed: authentication failure, sasl_username=binary@example.test
second line'
LEN=$(printf '%s' "$MSG" | wc -c)
{
	printf '__REALTIME_TIMESTAMP=%s\n_BOOT_ID=%s\n_HOSTNAME=mail\nSYSLOG_FACILITY=2\nSYSLOG_IDENTIFIER=postfix/5870/smtpd\nSYSLOG_PID=4242\nMESSAGE\n' \
		"$(date +%s%6N)" "$BOOT"
	# the length: 64 bits, little-endian
	printf "$(printf '\\%03o' $((LEN % 256)) $((LEN / 256)) 0 0 0 0 0 0)"
	printf '%s\n\n' "$MSG"
} | jwrite
rec_wait 1 "SELECT count(*) FROM portmilter.events WHERE sasl_user = 'binary@example.test'" 15
tap_ok $? "a MESSAGE in binary form (a newline in it): one row, the first line" ||
	{ tap_diag "got $REC_GOT"; tap_diag_file "$PM_TMP/jr.log"; }

# ---- 3. the reader stopped while entries come in ------------------------------------
N=$(rec_sql "$AUTH")
jfails 2
rec_wait $((N + 2)) "$AUTH" 15
rec_stop
jfails 15
mode=$(stat -c %a "$PM_TMP/journal/logreader.pos" 2>/dev/null)
[ "$mode" = 640 ] && grep -q '^2 s=' "$PM_TMP/journal/logreader.pos"
tap_ok $? "the position is the journal's cursor, mode 0640 (got $mode)" ||
	tap_diag_file "$PM_TMP/journal/logreader.pos"
rec_start "$PM_TMP/portmilter.conf"
rec_wait $((N + 17)) "$AUTH" 15
tap_ok $? "2 entries, stop, 15 entries, start: exactly 17 more rows, the journal written no more" ||
	{ tap_diag "got $REC_GOT, want $((N + 17))"; tap_diag_file "$PM_LOG"; }
jfails 1
rec_wait $((N + 18)) "$AUTH" 15
tap_ok $? "... 1 entry: exactly 18 more rows" ||
	tap_diag "got $REC_GOT, want $((N + 18))"

# ---- 4. kill -9 just after a batch ----------------------------------------------
N=$(rec_sql "$AUTH")
jfails 30
rec_wait $((N + 30)) "$AUTH" 15
FOLLOWERS=$(jfollowers)
rec_kill9
cp "$PM_TMP/journal/logreader.pos" "$PM_TMP/pos.at-kill" 2>/dev/null
[ -n "$FOLLOWERS" ] && jgone
tap_ok $? "journalctl ends with the SIGKILLed milter (was: $FOLLOWERS; left: $(jfollowers); $JGONE tenths)"
jfails 3
rec_start "$PM_TMP/portmilter.conf"
rec_wait $((N + 33)) "$AUTH" 15
tap_ok $? "kill -9 after a batch, 3 entries, start: exactly 33 more rows" ||
	{ tap_diag "got $REC_GOT, want $((N + 33))"; tap_diag "position at the kill:"
	  tap_diag_file "$PM_TMP/pos.at-kill"; tap_diag "log after it:"
	  tap_diag_file "$PM_LOG"; }
rec_is "no duplicate event ids" "0" \
	"SELECT count(*) - count(DISTINCT event_id) FROM portmilter.events"

# ---- 5. a journalctl deaf to its reader's end dies with the milter too -------------
rec_kill9
jgone
mkdir -p "$PM_TMP/bin"
printf '#!/bin/sh\nwhile :; do sleep 1; done\n' >"$PM_TMP/bin/journalctl"
chmod 755 "$PM_TMP/bin/journalctl"
OPATH=$PATH
PATH=$PM_TMP/bin:$PATH
rec_start "$PM_TMP/portmilter.conf"
PATH=$OPATH
i=0
while [ -z "$(jfollowers)" ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
FOLLOWERS=$(jfollowers)
rec_kill9
[ -n "$FOLLOWERS" ] && jgone
tap_ok $? "a journalctl that ignores the pipe's end: ended with the SIGKILLed milter (was: $FOLLOWERS; left: $(jfollowers))"
for _p in $(jfollowers); do
	kill "$_p" 2>/dev/null	# (the stub, left by a milter without the fix)
done
rec_start "$PM_TMP/portmilter.conf"
rec_finish
