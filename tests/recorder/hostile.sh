#!/bin/sh
# hostile.sh - hostile HELO, client name, sender and user are stored
# verbatim (TAP).
#
# doc/events.md: valid UTF-8 of at most 1024 bytes is stored as it is in
# the text column (the *_raw column stays NULL); anything else keeps its
# exact bytes in the *_raw bytea column and the text column holds it with
# each invalid byte replaced by U+FFFD (ef bf bd), cut at a character
# boundary to at most 1024 bytes. A longer user that does not compress
# (random hex digits) is stored too: whole, it made PostgreSQL refuse the
# row (its index entries hold at most 2704 bytes) and the shipper
# quarantined it in rejected.log. Every value is written here once, as the
# hex of its bytes: the Lua sessions get it as "\xNN" escapes, the
# database is compared with encode(convert_to(col, 'UTF8'), 'hex') and
# encode(col_raw, 'hex'). The expected text of an invalid value is
# written by hand. The 10 kB values go through lib.lua's raw transport
# (miltertest caps a command near 1 kB). Sessions are told apart by their
# client address.

set -u
. "${top_srcdir:?top_srcdir must be set}/tests/recorder/lib.sh"

rec_init
rec_conf "$PM_TMP/portmilter.conf"
rec_start "$PM_TMP/portmilter.conf"

# hexof FORMAT: the bytes printf(1) makes of FORMAT (octal escapes), as hex.
hexof() {
	# shellcheck disable=SC2059
	printf "$1" | rec_hex
}
# lua HEX: a Lua string literal of those bytes.
lua() {
	printf '"%s"' "$(echo "$1" | sed 's/../\\x&/g')"
}
# rep HEX COUNT: HEX repeated COUNT times.
rep() {
	awk -v h="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", h; print "" }'
}
FFFD=efbfbd

# ---- the values ----------------------------------------------------------------
# 1 quotes
h1=$(hexof 'he said \042hi\042, it\047s')
s1=$(hexof '<\042quoted local\042@example.test>')
u1=$(hexof 'o\047brien\042x')
n1=$(hexof 'quote\047s.example')
# 2 backslashes, COPY's own escapes (\N = NULL, \. = end of data)
h2=$(hexof 'back\134slash\134\134double')
s2=$(hexof '<a\134b@example.test>')
u2=$(hexof '\134N')
n2=$(hexof '\134.')
# 3 tab, CR, LF, other control characters (valid UTF-8 all)
h3=$(hexof 'tab\there\r\nX-Injected: 1\001\033[31m\177end')
s3=$(hexof '<ctl\t\001\002@example.test>')
u3=$(hexof 'u\r\nser')
n3=$(hexof 'ctl\033.example')
# 4 valid non-ASCII: é, 日本, 😀, Greek
h4=$(hexof 'h\303\251llo-\346\227\245\346\234\254-\360\237\230\200')
s4=$(hexof '<\316\264\316\277\316\272@example.test>')
u4=$(hexof 'j\303\274rgen')
n4=$(hexof '\346\227\245.example')
# 5 invalid UTF-8; t5* = the text column's bytes, worked out by hand
h5=$(hexof 'bad\377helo')                        # lone 0xff
t5h=626164${FFFD}68656c6f
s5=$(hexof '<x\303(@example.test>')               # 0xc3 then '(' (not a continuation)
t5s=3c78${FFFD}28406578616d706c652e746573743e
u5=$(hexof 'u\342\202')                          # truncated 3-byte sequence
t5u=75${FFFD}${FFFD}
n5=$(hexof 'n\300\257\355\240\200x')             # overlong '/', then a surrogate
t5n=6e${FFFD}${FFFD}${FFFD}${FFFD}${FFFD}78
# 6 (raw transport) 10240-byte HELO "abc\377" x 2560 (invalid), a 10 kB
# valid sender, a 10 kB valid user. The texts: 170 times "abc" U+FFFD
# (1020 bytes) and "abc" (the next U+FFFD would end at byte 1026); the
# first 1024 bytes of the sender and of the user
h6unit=616263ff
h6=$(rep $h6unit 2560)
t6h=$(rep 616263$FFFD 170)616263
s6=3c$(rep 79 10000)406578616d706c652e746573743e
t6s=3c$(rep 79 1023)
u6=$(rep 7a 10240)
t6u=$(rep 7a 1024)
n6=$(hexof 'big.example')
# hexsub HEX FIRST COUNT: bytes FIRST (from 1) to FIRST + COUNT - 1 of HEX
hexsub() {
	awk -v h="$1" -v f="$2" -v n="$3" 'BEGIN { print substr(h, 2 * f - 1, 2 * n) }'
}
# 7 (raw transport) a 5000-byte user of random hex digits (it does not
# compress) with a 3-byte character (U+65E5) at bytes 1023-1025: the text
# is its first 1022 bytes (the character does not fit in 1024)
a7=$(od -An -v -tx1 -N2500 /dev/urandom | tr -d ' \n')
r7=$(printf '%s' "$a7" | rec_hex)
u7=$(hexsub "$r7" 1 1022)e697a5$(hexsub "$r7" 1023 3975)
t7u=$(hexsub "$r7" 1 1022)
# 8 (raw transport) 0xff, then 4999 random hex digits: invalid, 5000
# bytes; the text is U+FFFD and the first 1021 digits (1024 bytes)
r8=$(od -An -v -tx1 -N2500 /dev/urandom | tr -d ' \n' | rec_hex)
u8=ff$(hexsub "$r8" 1 4999)
t8u=$FFFD$(hexsub "$r8" 1 1021)

rec_lua hostile <<EOF
local function send(n, raw, helo, from, user, name)
	case(string.format("hostile %d: session accepted%s", n, raw and " (raw transport)" or ""), function()
		local t = { raw = raw, port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = user, helo = helo, from = from, client_name = name,
			client_ip = "192.0.2." .. 100 + n,
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } }, eom = true }
		if not raw then
			t.headers = { { "Subject", "hostile" } }
			t.body = "x\r\n"
		end
		local r = session(t)
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
end
send(1, false, $(lua "$h1"), $(lua "$s1"), $(lua "$u1"), $(lua "$n1"))
send(2, false, $(lua "$h2"), $(lua "$s2"), $(lua "$u2"), $(lua "$n2"))
send(3, false, $(lua "$h3"), $(lua "$s3"), $(lua "$u3"), $(lua "$n3"))
send(4, false, $(lua "$h4"), $(lua "$s4"), $(lua "$u4"), $(lua "$n4"))
send(5, false, $(lua "$h5"), $(lua "$s5"), $(lua "$u5"), $(lua "$n5"))
send(6, true, string.rep($(lua $h6unit), 2560), "<" .. string.rep("y", 10000) .. "@example.test>",
	string.rep("z", 10240), $(lua "$n6"))
send(7, true, "long-user-7.example", "<u7@example.test>", $(lua "$u7"), "seven.example")
send(8, true, "long-user-8.example", "<u8@example.test>", $(lua "$u8"), "eight.example")
EOF
tap_ok $? "miltertest ran the sessions"
pm_alive
tap_ok $? "portmilter still running after the hostile sessions"

if rec_wait 8 "SELECT count(*) FROM portmilter.events" 20; then
	tap_ok 0 "8 events shipped"
else
	tap_ok 1 "8 events shipped: $REC_GOT after 20 s"
	grep -E "shipper|refused" "$PM_LOG" | tail -n 5 | tap_diag_file -
fi
[ ! -e "$REC_JOURNAL/rejected.log" ]
if ! tap_ok $? "the database refused no record (no rejected.log)"; then
	tap_diag_file "$REC_JOURNAL/rejected.log"
fi

# value N COLUMN WHAT VALUE_HEX [TEXT_HEX [HOW]]: the stored text and raw
# bytes.
value() {
	if [ $# -ge 5 ]; then
		want="$5|$4" how=${6:-"raw bytes kept, U+FFFD in the text"}
	else
		want="$4|\\N" how="text verbatim, no raw"
	fi
	rec_is "hostile $1: $2 ($3): $how" "$want" \
		"SELECT encode(convert_to($2, 'UTF8'), 'hex'), encode(${2}_raw, 'hex')
		 FROM portmilter.events WHERE client_addr = '192.0.2.$((100 + $1))'"
}
value 1 helo quotes "$h1"
value 1 sender quotes "$s1"
value 1 sasl_user quotes "$u1"
value 1 client_name quotes "$n1"
value 2 helo backslashes "$h2"
value 2 sender backslashes "$s2"
value 2 sasl_user '\N' "$u2"
value 2 client_name '\.' "$n2"
value 3 helo "tab, CR LF, controls" "$h3"
value 3 sender "tab, controls" "$s3"
value 3 sasl_user "CR LF" "$u3"
value 3 client_name "ESC" "$n3"
value 4 helo "UTF-8" "$h4"
value 4 sender "UTF-8" "$s4"
value 4 sasl_user "UTF-8" "$u4"
value 4 client_name "UTF-8" "$n4"
value 5 helo "0xff" "$h5" "$t5h"
value 5 sender "0xc3 0x28" "$s5" "$t5s"
value 5 sasl_user "truncated sequence" "$u5" "$t5u"
value 5 client_name "overlong, surrogate" "$n5" "$t5n"
value 6 helo "10240 bytes, invalid" "$h6" "$t6h" \
	"raw bytes kept, U+FFFD in the text, cut to 1023 bytes"
value 6 sender "10 kB" "$s6" "$t6s" "raw bytes kept, text cut to 1024 bytes"
value 6 sasl_user "10 kB" "$u6" "$t6u" "raw bytes kept, text cut to 1024 bytes"
value 6 client_name "plain" "$n6"
value 7 sasl_user "5000 bytes, random" "$u7" "$t7u" \
	"raw bytes kept, text cut before the character at 1023-1025"
value 8 sasl_user "5000 bytes, 0xff first" "$u8" "$t8u" \
	"raw bytes kept, U+FFFD in the text, cut to 1024 bytes"
# Lengths, counted by PostgreSQL against the test's own arithmetic.
rec_is "hostile 7, 8: sasl_user 1022 and 1024 bytes, sasl_user_raw 5000 bytes each" \
	"7|1022|5000
8|1024|5000" \
	"SELECT split_part(host(client_addr), '.', 4)::int - 100,
	        octet_length(sasl_user), octet_length(sasl_user_raw)
	 FROM portmilter.events WHERE client_addr IN ('192.0.2.107', '192.0.2.108')
	 ORDER BY 1"
# The analyst who pastes the whole name finds its events: portmilter-report
# takes a longer name as its first 1024 bytes, cut like the events'.
name7=$(printf '%.1022s\346\227\245' "$a7")$(printf '%s' "$a7" | cut -c 1023-4997)
"$REC_REPORT" -d "$REC_READER" --since 1h --format csv user "$name7" \
	>"$PM_TMP/user7.csv" 2>&1
[ "${#name7}" -gt 4000 ] && [ "$(grep -c '^587,192\.0\.2\.107,' "$PM_TMP/user7.csv")" = 1 ]
tap_ok $? "hostile 7: portmilter-report user with the whole 5000-byte name finds its event" ||
	cut -c 1-200 "$PM_TMP/user7.csv" | tap_diag_file -

# ---- a row the server refuses for its size -----------------------------------
# No column of ours can make an index entry too big any more; an index an
# admin adds can (here on helo_raw, the exact bytes of a 5000-byte HELO
# of random hex digits: SQLSTATE 54000, "index row size ... exceeds").
# That record goes to rejected.log and the one behind it is stored: 54000
# once held the whole batch back, retried for ever, and with it every
# record behind it.
rec_sql "CREATE INDEX hostile_helo_raw_idx ON portmilter.events (helo_raw)" >/dev/null
r9=$(od -An -v -tx1 -N2500 /dev/urandom | tr -d ' \n')
rec_lua hostile2 <<EOF
for n = 9, 10 do
	case(string.format("hostile %d: session accepted (raw transport)", n), function()
		local r = session({ raw = true, port = 587, tls = "TLSv1.3", auth = "PLAIN",
			user = "u" .. n .. "@example.test",
			helo = n == 9 and "$r9" or "h10.example",
			from = "<s" .. n .. "@example.test>", client_ip = "192.0.2." .. 100 + n,
			rcpts = { { addr = "<x@remote.example>", mailer = "smtp" } }, eom = true })
		expect(r.eom, SMFIR_CONTINUE, "EOM")
	end)
end
EOF
tap_ok $? "miltertest ran sessions 9 and 10"
rec_wait "9|0" "SELECT count(*), count(*) FILTER (WHERE client_addr = '192.0.2.109')
	FROM portmilter.events" 20
tap_ok $? "hostile 9, 10: the event behind the refused one is stored ($REC_GOT after $REC_WAITED tenths of a second; want 9|0: 8 before, 10 now)" ||
	grep -E "shipper" "$PM_LOG" | tail -n 5 | cut -c 1-300 | tap_diag_file -
[ "$(grep -c '^# 54000 ' "$REC_JOURNAL/rejected.log" 2>/dev/null)" = 1 ] &&
	grep -q "192\.0\.2\.109" "$REC_JOURNAL/rejected.log" &&
	grep -q "x$(printf '%s' "$r9" | rec_hex)" "$REC_JOURNAL/rejected.log"
tap_ok $? "hostile 9: the refused record is in rejected.log (54000, the exact bytes of its 5000-byte HELO)" ||
	cut -c 1-300 "$REC_JOURNAL/rejected.log" | tap_diag_file -

rec_finish
