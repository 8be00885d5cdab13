#!/bin/sh
# corrupt.sh - a damaged journal record is reported and skipped, the
# records around it are shipped (TAP).
#
# With PostgreSQL down, five messages are journaled and the milter is
# stopped. The segment file is walked with the layout of milter/journal.h
#     magic "PMJ1" | u32 length | u32 CRC-32C | payload   (little-endian)
# then four bytes in the middle of the third record's payload are
# inverted, and a torn record (a header without its payload, as a crash
# in mid-write would leave) is appended. PostgreSQL and the milter are
# started again: exactly records 1, 2, 4 and 5 are shipped, and the log
# names both damaged spots (segment, offset, bytes skipped).

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
rec_pg_down
rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"
rec_lua journal <<'EOF'
for i = 1, 5 do
	case(string.format("message %d accepted with the database down", i), function()
		local r = session({ port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "corrupt@example.test", helo = "corrupt.example",
			from = string.format("<corrupt-%d@example.test>", i),
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } },
			headers = { { "Subject", "corrupt " .. i } }, body = "x\r\n", eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
end
EOF
tap_ok $? "miltertest ran the sessions"
rec_stop

seg=$REC_JOURNAL/0000000000000001.seg
# u32 FILE OFFSET: the little-endian 32-bit number at OFFSET.
u32() {
	od -An -v -tu1 -j "$2" -N4 "$1" |
		awk '{ print $1 + 256 * $2 + 65536 * $3 + 16777216 * $4 }'
}
size=$(wc -c <"$seg" 2>/dev/null || echo 0)
off=0 n=0 offs='' lens='' layout_ok=0
while [ "$off" -lt "$size" ] && [ "$n" -lt 10 ]; do
	magic=$(dd if="$seg" bs=1 skip="$off" count=4 2>/dev/null)
	[ "$magic" = PMJ1 ] || { layout_ok=1; break; }
	len=$(u32 "$seg" $((off + 4)))
	n=$((n + 1))
	offs="$offs $off" lens="$lens $len"
	off=$((off + 12 + len))
done
[ "$layout_ok" -eq 0 ] && [ "$n" -eq 5 ] && [ "$off" -eq "$size" ]
if ! tap_ok $? "segment 1 is 5 records, magic + length + CRC + payload, end to end"; then
	tap_diag "records at:$offs; lengths:$lens; walked to $off of $size bytes"
fi
# shellcheck disable=SC2086
set -- $offs
off3=${3:-0}
# shellcheck disable=SC2086
set -- $lens
len3=${3:-0}

# Invert 4 bytes in the middle of record 3's payload.
mid=$((off3 + 12 + len3 / 2))
for p in $mid $((mid + 1)) $((mid + 2)) $((mid + 3)); do
	b=$(od -An -tu1 -j "$p" -N1 "$seg" | tr -d ' ')
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((b ^ 255)))" |
		dd of="$seg" bs=1 seek="$p" conv=notrunc 2>/dev/null
done
# A torn record at the end: magic, a length of 400, a CRC, no payload.
printf 'PMJ1\220\001\000\000\001\002\003\004' >>"$seg"
[ "$(wc -c <"$seg")" -eq $((size + 12)) ]
tap_ok $? "record 3 (at offset $off3, $((12 + len3)) bytes) damaged, a torn record appended at $size"

rec_pg_up
tap_ok $? "PostgreSQL started again"
rec_start "$PM_TMP/portmilter.conf"
if rec_wait 4 "SELECT count(*) FROM portmilter.events" 20; then
	tap_ok 0 "4 rows shipped"
else
	tap_ok 1 "4 rows shipped: $REC_GOT after 20 s"
fi
sleep 1
rec_is "exactly messages 1, 2, 4, 5, once each" "<corrupt-1@example.test>,\
<corrupt-2@example.test>,<corrupt-4@example.test>,<corrupt-5@example.test>|4" \
	"SELECT string_agg(sender, ',' ORDER BY sender), count(DISTINCT event_id)
	 FROM portmilter.events"
where="corrupt or truncated record in segment 0000000000000001"
grep -q "warning: journal .*: $where at offset $off3: skipped $((12 + len3)) bytes to the next valid record" "$PM_LOG"
if ! tap_ok $? "the log reports record 3: offset $off3, $((12 + len3)) bytes skipped"; then
	grep -i "journal" "$PM_LOG" | tap_diag_file -
fi
grep -q "warning: journal .*: $where at offset $size: skipped 12 bytes" "$PM_LOG"
if ! tap_ok $? "the log reports the torn record: offset $size, 12 bytes skipped"; then
	grep -i "journal" "$PM_LOG" | tap_diag_file -
fi
[ "$(grep -c "corrupt or truncated" "$PM_LOG")" -eq 2 ]
tap_ok $? "each reported once"
rec_drained
tap_ok $? "the journal drained (the damaged segment is gone)"

rec_finish
