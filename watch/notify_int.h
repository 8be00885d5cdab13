/*
 * notify_int - the parts of notify (notify.h) below notify_run(): the
 * formats (notify_fmt.c: pure, unit-tested by tests/unit/test_notify.c)
 * and the three senders (notify_send.c). Private to watch/.
 *
 * notify_json_str() appends s as a JSON string (quotes included) to b:
 * '"' and '\\' escaped, control characters as \n \r \t \b \f or \u00XX,
 * DEL as \u007f, U+2028 and U+2029 as \u2028 and \u2029 (a JavaScript
 * receiver may eval), every byte that does not start a well-formed
 * UTF-8 sequence as \ufffd; so the output is valid JSON and valid
 * UTF-8 whatever s holds. NULL is the JSON null.
 *
 * notify_json() is the webhook's document (doc/watch-alerts.md); the
 * evidence is embedded as given (PostgreSQL's jsonb output), null if
 * NULL. notify_delivery_id() is "alert-ID": the same at every attempt.
 *
 * notify_hdr_value() makes any string one header-safe line: printable
 * ASCII only (str_escape(): other bytes as \xNN, so CR and LF cannot
 * start a header), at most max bytes (then "..."). notify_mail_text()
 * is the whole message given to sendmail -t -i: headers (From only if
 * cfg->mail_from), a blank line, the body (UTF-8, 8bit; every value one
 * line with control characters escaped, the pretty-printed evidence cut
 * into lines of at most 900 bytes). now is the Date.
 *
 * notify_hmac_hex() writes the lower-case hex HMAC-SHA256 of the body
 * keyed with key (64 digits and a NUL into out). notify_secret_read()
 * reads the webhook secret file (notify.h says what is refused): false
 * with a malloc'd reason in *err.
 *
 * The senders return true when the channel took the alert, else false
 * with a malloc'd one-line reason in *err (stored as last_error).
 * notify_webhook_post() uses the caller's curl handle (reused across
 * one run: the connection is kept).
 */
#ifndef PM_NOTIFY_INT_H
#define PM_NOTIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "notify.h"
#include "util.h"

#define NOTIFY_SECRET_MAX 4096
#define NOTIFY_MAIL_TIMEOUT_S 60

struct notify_alert {
	long long id;
	const char *channel;
	int attempt;		/* this one, from 1 */
	const char *fired_at;	/* ISO 8601, UTC */
	const char *detector;
	const char *subject_kind;
	const char *subject;
	const char *state;	/* fired or resolved */
	const char *summary;
	const char *evidence;	/* JSON text */
	const char *evidence_pretty; /* the same, one key a line */
	bool suspended;
	const char *node;	/* the watch that fired it */
};

/* *err = the formatted message (malloc'd); returns false. */
bool notify_errf(char **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void notify_json_str(struct strbuf *b, const char *s);
char *notify_json(const struct notify_alert *a, const char *sent_by);
void notify_delivery_id(char *buf, size_t len, long long id);
char *notify_hdr_value(const char *s, size_t max);
char *notify_mail_text(const struct notify_alert *a,
		       const struct notify_cfg *cfg, const char *sent_by,
		       time_t now);
bool notify_hmac_hex(const char *key, size_t keylen, const char *body,
		     size_t len, char out[65]);
bool notify_secret_read(const char *path, char **secret, size_t *len,
			char **err);

bool notify_webhook_post(void *curl, const struct notify_cfg *cfg,
			 const char *secret, size_t seclen,
			 const struct notify_alert *a, const char *sent_by,
			 char **err);
bool notify_mail_send(const struct notify_cfg *cfg,
		      const struct notify_alert *a, const char *sent_by,
		      char **err);
void notify_syslog(const struct notify_alert *a);

#endif
