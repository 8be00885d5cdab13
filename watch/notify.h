/*
 * notify - portmilter-watch's alert delivery: webhook, e-mail, syslog.
 *
 * The watch daemon inserts an alert (portmilter.alerts) and one row a
 * configured channel in portmilter.alert_deliveries ('webhook', 'email',
 * 'syslog', state 'pending') in one transaction. notify_run() delivers
 * the rows that are due, from any watch instance:
 *
 *   1. Claim one due row (state 'pending', next_attempt <= now(), a
 *      channel usable in this run) with SELECT ... FOR UPDATE SKIP LOCKED
 *      and, in the same statement, take a lease on it: attempts + 1 and
 *      next_attempt = now + the channel's lease (webhook: timeout + 30 s;
 *      e-mail: 90 s; syslog: 30 s). The statement commits at once: no
 *      transaction stays open while the receiver is slow, and another
 *      instance neither waits for the row (SKIP LOCKED) nor takes it
 *      while the lease runs (it is not due).
 *   2. Deliver it, with no transaction open.
 *   3. Mark it 'sent' (sent_at), or, on failure, record last_error and
 *      give it back for a later attempt after an exponential backoff
 *      (retry_min_s, doubled at each attempt, at most retry_max_s); after
 *      retry_attempts attempts, or once the alert is older than
 *      retry_max_age_s, the row is 'failed' and a warning is logged.
 *
 * Delivery is at least once, and exactly once in every case but one: a
 * watch that dies (or loses the database) between a successful delivery
 * and step 3 leaves the row leased; when the lease runs out the row is
 * delivered again. The webhook receiver can drop such a repeat: the
 * delivery id (X-Portmilter-Delivery header and "delivery_id" in the
 * signed body) is the same at every attempt. A receiver that is down or
 * refuses (anything but HTTP 2xx) never counts as delivered: the row
 * comes back after its backoff, so an outage loses nothing.
 *
 * The first failure on a channel ends that channel for the rest of the
 * run (a receiver that is down is not asked once per pending alert; the
 * rows keep their order for the next run). Rows of a channel not
 * configured here (no webhook_url, no mail_to, syslog off) are left
 * alone for an instance that has it, and expire as 'failed' after
 * retry_max_age_s like any other.
 *
 * Channels:
 *   webhook  HTTPS POST (libcurl; http:// only to a loopback host) of the
 *            JSON document of doc/watch-alerts.md, TLS verified against
 *            the system CAs or webhook_ca_file, no redirects followed,
 *            webhook_timeout_s for the whole request (0: 10 s). Headers:
 *            Content-Type: application/json, X-Portmilter-Delivery,
 *            X-Portmilter-Attempt and X-Portmilter-Signature:
 *            sha256=<hex HMAC-SHA256 of the body>, keyed with the
 *            contents of webhook_secret_file (read at each run, a
 *            trailing newline dropped; a file readable or writable by
 *            "others", empty or over 4096 bytes is refused with a
 *            warning saying so, and no webhook row is touched).
 *   email    a plain-text message piped to "sendmail_path -t -i"
 *            (default /usr/sbin/sendmail), To: mail_to, From: mail_from
 *            (else sendmail's default); every value taken from the alert
 *            is made one line of printable ASCII in the headers (no
 *            header injection); killed after 60 s; exit status 0 = sent.
 *   syslog   one line through msg_info() (where the program logs: syslog
 *            facility mail for the daemon): "alert ID: detector=...
 *            subject=... state=... suspended=yes|no: summary", escaped.
 *
 * notify_check() validates a configuration (for "portmilter-watch -n"
 * and at start): URL scheme and host, the secret file, mail_to and
 * mail_from (no control characters). notify_run() calls it too and
 * skips a channel whose settings it refuses.
 *
 * notify_run() returns the number of rows delivered (0 or more), or -1
 * on a database error (logged; the caller reconnects as it sees fit).
 * It uses only the caller's connection (no session setting is changed,
 * every name is schema-qualified) and may be called from one thread at
 * a time (curl_global_init() is called on first use).
 */
#ifndef PM_NOTIFY_H
#define PM_NOTIFY_H

#include <stdbool.h>

#include <libpq-fe.h>

struct notify_cfg {
	const char *webhook_url;	/* NULL: no webhook */
	const char *webhook_secret_file; /* required with webhook_url */
	const char *webhook_ca_file;	/* NULL: the system CAs */
	int webhook_timeout_s;		/* whole request; 0: 10 s */
	const char *mail_to;		/* NULL: no e-mail */
	const char *mail_from;		/* NULL: sendmail's default */
	const char *sendmail_path;	/* NULL: /usr/sbin/sendmail */
	bool syslog;			/* one log line an alert */
	/* Retries (0: the default in parentheses). */
	int retry_min_s;		/* first backoff (30) */
	int retry_max_s;		/* longest backoff (3600) */
	int retry_attempts;		/* then 'failed' (20) */
	int retry_max_age_s;		/* alert older: 'failed' (86400) */
};

/* Is cfg usable? false with a malloc'd reason in *err. */
bool notify_check(const struct notify_cfg *cfg, char **err);

/* Deliver the due rows; node names this instance (in the webhook body
 * and the logs). Rows delivered, or -1 on a database error. */
int notify_run(PGconn *conn, const struct notify_cfg *cfg, const char *node);

#endif
