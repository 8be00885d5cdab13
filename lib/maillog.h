/*
 * maillog - one Postfix log line, parsed: a pure function (no I/O, no
 * allocation, no global state), so it can be fed any bytes.
 *
 * Understood line formats (the three a Postfix 3.7 log comes in):
 *     Dec 06 15:13:11 HOST TAG[PID]: MESSAGE      postlogd (maillog_file)
 *     Dec  6 15:13:11 HOST TAG[PID]: MESSAGE      rsyslog, traditional
 *     2026-12-06T15:13:11.123456+01:00 HOST TAG[PID]: MESSAGE   RFC 3339
 * TAG is "SYSLOG_NAME/PROGRAM": "postfix/smtpd" (syslog_name "postfix",
 * the stock smtp service), "postfix/submission/smtpd" (syslog_name
 * "postfix/submission", a service with -o syslog_name=...). The caller
 * maps syslog_name to a port (the generated services' names).
 *
 * MESSAGE is matched against a table of patterns of Postfix 3.7 smtpd
 * (src/smtpd/smtpd.c, smtpd_sasl_glue.c, smtpd_check.c; tested against
 * lines captured from Postfix 3.7 in tests/unit/maillog-3.7.txt):
 *     connect from CLIENT
 *     disconnect from CLIENT [ehlo=1 starttls=0/1 auth=0/1 mail=0/1 ...]
 *     warning: CLIENT: SASL MECH authentication failed: REASON
 *         [, sasl_username=USER]
 *     NOQUEUE: reject: STAGE from CLIENT: CODE [X.Y.Z] TEXT; from=<..> ...
 *     QUEUEID: reject: ...  (the same, after a queue id was assigned)
 *     NOQUEUE: milter-reject: ...  (a milter's refusal: the milter has
 *         recorded it itself)
 *     SSL_accept error from CLIENT: DETAIL
 *     lost connection / timeout / too many errors after STAGE from CLIENT
 * and a few more that are recognized but carry nothing to record.
 * CLIENT is "name[address]" or "name[address]:port".
 * Of qmgr(8) (src/qmgr/qmgr_active.c, qmgr_message.c), one line:
 *     QUEUEID: from=<SENDER>, size=N, nrcpt=N (queue active)
 * the exact size of a queued message (ML_SIZE: queue_id, sender, size;
 * the sender is whatever the client sent: "size=" is found from the
 * end of the line). Every other line of a program other than smtpd is
 * ML_OTHER.
 *
 * maillog_parse() never reads past len, never writes past the fields of
 * *out, and accepts any bytes (NUL included: the line ends there). Text
 * fields are NUL-terminated copies, cut to their size (out->truncated
 * says so); they are untrusted (a user name is whatever the client
 * sent, as Postfix logged it): escape them before logging.
 * Every line gets a kind; ML_MALFORMED and ML_UNKNOWN are for the
 * caller to count, never an error.
 */
#ifndef PM_MAILLOG_H
#define PM_MAILLOG_H

#include <stdbool.h>
#include <stddef.h>

#define MAILLOG_LINE_MAX 8192	/* longer lines are parsed up to this */

enum maillog_kind {
	ML_MALFORMED,		/* not a syslog line (no time, tag, ...) */
	ML_OTHER,		/* a line of another program than smtpd */
	ML_UNKNOWN,		/* an smtpd line no pattern matched */
	ML_IGNORED,		/* known smtpd line with nothing to record */
	ML_CONNECT,		/* connect from CLIENT */
	ML_DISCONNECT,		/* disconnect from CLIENT counters */
	ML_SASL_FAILED,		/* SASL authentication failed */
	ML_REJECT,		/* Postfix's own reject (NOQUEUE or queue id) */
	ML_MILTER_REJECT,	/* a milter's reject, as Postfix logs it */
	ML_TLS_FAILED,		/* SSL_accept error */
	ML_LOST,		/* lost connection / timeout / too many errors */
	ML_SIZE,		/* qmgr: a queued message's exact size */
	ML_NKINDS
};

/* One "name=ok/total" counter of a disconnect line. */
struct maillog_count {
	bool seen;
	unsigned long ok, total;
};

struct maillog_rec {
	enum maillog_kind kind;
	/* time as logged; year = 0 when the format has none, tz_known when
	 * it names its offset from UTC (tz_offset seconds east) */
	int year, mon, mday, hour, min, sec;	/* mon 1..12 */
	long usec;
	bool tz_known;
	long tz_offset;
	char host[256];
	char syslog_name[128];	/* "postfix", "postfix/submission", ... */
	char program[32];	/* "smtpd", "qmgr", ... */
	long pid;		/* 0 = none logged */
	char queue_id[32];	/* "" = NOQUEUE or none */
	char client_name[256];
	char client_addr[64];	/* checked: an IPv4 or IPv6 literal, or "" */
	unsigned client_port;	/* 0 = not logged */
	char sasl_method[32];
	char sasl_user[256];
	char stage[32];		/* CONNECT, HELO, MAIL, RCPT, DATA, ... */
	char reply_code[4];	/* "554" */
	char reply_enh[16];	/* "5.7.1", "" if none */
	char reply_text[512];	/* after the codes, up to "; from=<" */
	char sender[256];	/* from=<...> of a reject, without <> */
	bool sender_logged;	/* the reject had a from=<...> ("" = <>) */
	unsigned long long size;	/* ML_SIZE: bytes, as qmgr logged */
	char detail[512];	/* SASL reason, SSL_accept detail, lost
				 * connection's "lost connection" / ... */
	struct maillog_count ehlo, helo, starttls, auth, mail, rcpt, data,
			     commands;
	bool truncated;		/* a field was cut to its size */
};

/* Parse line[0..len) (no trailing newline needed; one is ignored).
 * Always fills *out; returns out->kind. */
enum maillog_kind maillog_parse(const char *line, size_t len,
				struct maillog_rec *out);

/* Short lower-case name of a kind ("sasl_failed"), for counters. */
const char *maillog_kind_name(enum maillog_kind kind);

#endif
