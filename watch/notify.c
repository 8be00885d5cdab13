/*
 * notify - the delivery queue in PostgreSQL: claim a row with a lease,
 * deliver it, mark it. See notify.h for the contract and the reasoning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "msg.h"
#include "notify_int.h"

#define RUN_MAX_ROWS 1000	/* rows delivered or tried in one run */
#define LEASE_MARGIN_S 30
#define MAIL_LEASE_S (NOTIFY_MAIL_TIMEOUT_S + LEASE_MARGIN_S)
#define LAST_ERROR_MAX 500

/* One due row, leased (attempts + 1, next_attempt = the lease's end). */
static const char claim_sql[] =
	"WITH c AS ("
	" SELECT d.alert_id, d.channel FROM portmilter.alert_deliveries d"
	" WHERE d.state = 'pending' AND d.next_attempt <= now()"
	" AND d.channel = ANY ($1::text[])"
	" ORDER BY d.next_attempt, d.alert_id, d.channel LIMIT 1"
	" FOR UPDATE OF d SKIP LOCKED)"
	" UPDATE portmilter.alert_deliveries d"
	" SET attempts = d.attempts + 1,"
	" next_attempt = clock_timestamp() + make_interval(secs =>"
	" CASE d.channel WHEN 'webhook' THEN $2::integer"
	" WHEN 'email' THEN $3::integer ELSE 30 END)"
	" FROM c, portmilter.alerts a"
	" WHERE d.alert_id = c.alert_id AND d.channel = c.channel"
	" AND a.alert_id = d.alert_id"
	" RETURNING d.alert_id, d.channel, d.attempts,"
	" to_char(a.fired_at AT TIME ZONE 'UTC',"
	" 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	" a.detector, a.subject_kind, a.subject, a.state, a.summary,"
	" a.evidence::text, jsonb_pretty(a.evidence), a.suspended, a.watch_node";

static const char sent_sql[] =
	"UPDATE portmilter.alert_deliveries SET state = 'sent',"
	" sent_at = now(), last_error = NULL"
	" WHERE alert_id = $1 AND channel = $2 AND state = 'pending'";

/* $3 error, $4 attempts, $5 max age, $6 first backoff, $7 longest. */
static const char retry_sql[] =
	"UPDATE portmilter.alert_deliveries d SET last_error = $3,"
	" state = CASE WHEN d.attempts >= $4::integer"
	" OR a.fired_at < now() - make_interval(secs => $5::integer)"
	" THEN 'failed' ELSE 'pending' END,"
	" next_attempt = now() + make_interval(secs => least($7::integer,"
	" $6::integer * power(2, least(d.attempts - 1, 30))))"
	" FROM portmilter.alerts a"
	" WHERE d.alert_id = $1 AND d.channel = $2 AND d.state = 'pending'"
	" AND a.alert_id = d.alert_id"
	" RETURNING d.state, d.attempts,"
	" ceil(extract(epoch FROM d.next_attempt - now()))::integer";

/* $1 max age: rows not leased whose alert is older are given up. */
static const char expire_sql[] =
	"UPDATE portmilter.alert_deliveries d SET state = 'failed',"
	" last_error = coalesce(d.last_error || '; ', '')"
	" || 'expired: not delivered within ' || $1 || ' s'"
	" FROM portmilter.alerts a"
	" WHERE d.state = 'pending' AND d.next_attempt <= now()"
	" AND a.alert_id = d.alert_id"
	" AND a.fired_at < now() - make_interval(secs => $1::integer)"
	" RETURNING d.alert_id, d.channel, d.attempts";

struct run {
	PGconn *conn;
	const struct notify_cfg *cfg;
	const char *node;
	int max_age, min_backoff, max_backoff, attempts;
	bool webhook, email, syslog;	/* usable in this run */
	char *secret;
	size_t seclen;
	CURL *curl;
};

static int or_default(int v, int dflt)
{
	return v > 0 ? v : dflt;
}

/* A libpq failure, logged as a warning (one line, escaped). */
static void db_warn(PGconn *conn, PGresult *res, const char *what)
{
	const char *m = res ? PQresultErrorMessage(res) : "";
	char e[400];

	if (m == NULL || *m == '\0')
		m = PQerrorMessage(conn);
	str_escape(e, sizeof(e), m);
	/* libpq's trailing newline, escaped */
	if (strlen(e) >= 4 && strcmp(e + strlen(e) - 4, "\\x0a") == 0)
		e[strlen(e) - 4] = '\0';
	msg_warn("notify: %s: %s", what, e);
}

/* ---- notify_check ------------------------------------------------------- */

static bool loopback_host(const char *h)
{
	return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "[::1]") == 0 ||
	       strcmp(h, "::1") == 0 || strcmp(h, "localhost") == 0;
}

static bool check_url(const char *url, char **err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, eu[300];
	bool ok;

	str_escape(eu, sizeof(eu), url);
	if (u == NULL)
		return notify_errf(err, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		ok = notify_errf(err, "bad webhook_url \"%s\": expected https://HOST[:PORT]/PATH", eu);
	else if (strcmp(scheme, "https") == 0)
		ok = true;
	else if (strcmp(scheme, "http") == 0 && loopback_host(host))
		ok = true;
	else
		ok = notify_errf(err, "bad webhook_url \"%s\": expected https:// (http:// only to 127.0.0.1, ::1 or localhost)", eu);
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok;
}

/* One line of printable ASCII, non-empty, at most max bytes. */
static bool check_line(const char *key, const char *v, size_t max, char **err)
{
	char e[300];

	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p >= 0x7f) {
			str_escape(e, sizeof(e), v);
			return notify_errf(err, "bad %s \"%s\": expected printable ASCII (no line break)", key, e);
		}
	if (*v == '\0' || strlen(v) > max)
		return notify_errf(err, "bad %s: expected 1 to %zu characters", key, max);
	return true;
}

static bool check_webhook(const struct notify_cfg *cfg, char **secret,
			  size_t *seclen, char **err)
{
	char e[300];

	if (!check_url(cfg->webhook_url, err))
		return false;
	if (cfg->webhook_timeout_s < 0 || cfg->webhook_timeout_s > 600)
		return notify_errf(err, "bad webhook_timeout_s %d: expected 1..600 (0: 10)", cfg->webhook_timeout_s);
	if (cfg->webhook_ca_file != NULL && access(cfg->webhook_ca_file, R_OK) != 0) {
		str_escape(e, sizeof(e), cfg->webhook_ca_file);
		return notify_errf(err, "cannot read webhook_ca_file \"%s\"", e);
	}
	return notify_secret_read(cfg->webhook_secret_file, secret, seclen, err);
}

static bool check_mail(const struct notify_cfg *cfg, char **err)
{
	char e[300];

	if (!check_line("mail_to", cfg->mail_to, 900, err) ||
	    (cfg->mail_from != NULL && !check_line("mail_from", cfg->mail_from, 400, err)))
		return false;
	if (cfg->sendmail_path != NULL &&
	    (cfg->sendmail_path[0] != '/' || access(cfg->sendmail_path, X_OK) != 0)) {
		str_escape(e, sizeof(e), cfg->sendmail_path);
		return notify_errf(err, "bad sendmail_path \"%s\": expected an executable file's absolute path", e);
	}
	return true;
}

bool notify_check(const struct notify_cfg *cfg, char **err)
{
	char *secret = NULL;
	size_t len = 0;

	if (cfg->retry_min_s < 0 || cfg->retry_max_s < 0 ||
	    cfg->retry_attempts < 0 || cfg->retry_max_age_s < 0)
		return notify_errf(err, "bad retry setting: expected a number >= 0 (0: the default)");
	if (or_default(cfg->retry_max_s, 3600) < or_default(cfg->retry_min_s, 30))
		return notify_errf(err, "bad retry setting: the longest backoff (%d s) is below the first (%d s)",
				   or_default(cfg->retry_max_s, 3600), or_default(cfg->retry_min_s, 30));
	if (cfg->webhook_url != NULL) {
		if (!check_webhook(cfg, &secret, &len, err))
			return false;
		explicit_bzero(secret, len);
		free(secret);
	}
	if (cfg->mail_to != NULL && !check_mail(cfg, err))
		return false;
	return true;
}

/* ---- notify_run --------------------------------------------------------- */

/* The channels of this run, as a PostgreSQL array literal. */
static void channels(const struct run *r, char *buf, size_t len)
{
	snprintf(buf, len, "{%s%s%s%s%s}", r->webhook ? "webhook" : "",
		 r->webhook && (r->email || r->syslog) ? "," : "",
		 r->email ? "email" : "", r->email && r->syslog ? "," : "",
		 r->syslog ? "syslog" : "");
}

static bool expire(struct run *r)
{
	char age[16];
	const char *p[1] = {age};
	PGresult *res;

	snprintf(age, sizeof(age), "%d", r->max_age);
	res = PQexecParams(r->conn, expire_sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_warn(r->conn, res, "giving up old deliveries");
		PQclear(res);
		return false;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		char ch[32];

		str_escape(ch, sizeof(ch), PQgetvalue(res, i, 1));
		msg_warn("alert %s: %s delivery failed for good after %s attempts: not delivered within %d s",
			 PQgetvalue(res, i, 0), ch, PQgetvalue(res, i, 2), r->max_age);
	}
	PQclear(res);
	return true;
}

static void alert_from_row(PGresult *res, struct notify_alert *a)
{
	a->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	a->channel = PQgetvalue(res, 0, 1);
	a->attempt = (int)strtol(PQgetvalue(res, 0, 2), NULL, 10);
	a->fired_at = PQgetvalue(res, 0, 3);
	a->detector = PQgetvalue(res, 0, 4);
	a->subject_kind = PQgetvalue(res, 0, 5);
	a->subject = PQgetvalue(res, 0, 6);
	a->state = PQgetvalue(res, 0, 7);
	a->summary = PQgetvalue(res, 0, 8);
	a->evidence = PQgetvalue(res, 0, 9);
	a->evidence_pretty = PQgetvalue(res, 0, 10);
	a->suspended = strcmp(PQgetvalue(res, 0, 11), "t") == 0;
	a->node = PQgetvalue(res, 0, 12);
}

/* Mark the row: sent, or back for a retry (or failed). */
static bool finish(struct run *r, const struct notify_alert *a, bool ok,
		   const char *why)
{
	char id[24], num[4][16], e[LAST_ERROR_MAX + 1];
	const char *p[7] = {id, a->channel, e, num[0], num[1], num[2], num[3]};
	PGresult *res;

	snprintf(id, sizeof(id), "%lld", a->id);
	if (ok) {
		res = PQexecParams(r->conn, sent_sql, 2, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_warn(r->conn, res, "marking a delivery sent");
			PQclear(res);
			return false;
		}
		PQclear(res);
		msg_info("alert %lld: %s delivery done (attempt %d)", a->id,
			 a->channel, a->attempt);
		return true;
	}
	snprintf(e, sizeof(e), "%s", why);	/* made of escaped parts */
	snprintf(num[0], sizeof(num[0]), "%d", r->attempts);
	snprintf(num[1], sizeof(num[1]), "%d", r->max_age);
	snprintf(num[2], sizeof(num[2]), "%d", r->min_backoff);
	snprintf(num[3], sizeof(num[3]), "%d", r->max_backoff);
	res = PQexecParams(r->conn, retry_sql, 7, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_warn(r->conn, res, "recording a failed delivery");
		PQclear(res);
		return false;
	}
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "failed") == 0)
		msg_warn("alert %lld: %s delivery failed for good after %s attempts: %s",
			 a->id, a->channel, PQgetvalue(res, 0, 1), e);
	else if (PQntuples(res) == 1)
		msg_warn("alert %lld: %s delivery failed (attempt %d): %s; next attempt in %s s",
			 a->id, a->channel, a->attempt, e, PQgetvalue(res, 0, 2));
	PQclear(res);
	return true;
}

/* Deliver one claimed row; false with the reason in *why. */
static bool deliver(struct run *r, const struct notify_alert *a, char **why)
{
	if (strcmp(a->channel, "webhook") == 0) {
		if (r->curl == NULL && (r->curl = curl_easy_init()) == NULL)
			return notify_errf(why, "curl_easy_init failed");
		return notify_webhook_post(r->curl, r->cfg, r->secret, r->seclen,
					   a, r->node, why);
	}
	if (strcmp(a->channel, "email") == 0)
		return notify_mail_send(r->cfg, a, r->node, why);
	notify_syslog(a);
	return true;
}

/* Claim, deliver and mark one row: 1 delivered, 0 not (or nothing was
 * due: *none), -1 database error. */
static int one(struct run *r, bool *none)
{
	char chans[64], wl[16], ml[16];
	const char *p[3] = {chans, wl, ml};
	struct notify_alert a;
	PGresult *res;
	char *why = NULL;
	bool sent, ok;

	channels(r, chans, sizeof(chans));
	snprintf(wl, sizeof(wl), "%d", or_default(r->cfg->webhook_timeout_s, 10) + LEASE_MARGIN_S);
	snprintf(ml, sizeof(ml), "%d", MAIL_LEASE_S);
	res = PQexecParams(r->conn, claim_sql, 3, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_warn(r->conn, res, "claiming a delivery");
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		*none = true;
		return 0;
	}
	alert_from_row(res, &a);
	sent = deliver(r, &a, &why);
	if (!sent && strcmp(a.channel, "webhook") == 0)
		r->webhook = false;	/* the channel rests until the next run */
	if (!sent && strcmp(a.channel, "email") == 0)
		r->email = false;
	ok = finish(r, &a, sent, why);
	free(why);
	PQclear(res);
	if (!ok)
		return -1;
	return sent ? 1 : 0;
}

static void run_setup(struct run *r)
{
	static bool curl_ready;
	char *err = NULL;

	r->max_age = or_default(r->cfg->retry_max_age_s, 86400);
	r->min_backoff = or_default(r->cfg->retry_min_s, 30);
	r->max_backoff = or_default(r->cfg->retry_max_s, 3600);
	r->attempts = or_default(r->cfg->retry_attempts, 20);
	r->syslog = r->cfg->syslog;
	if (r->cfg->webhook_url != NULL) {
		if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
			curl_ready = true;
		r->webhook = curl_ready && check_webhook(r->cfg, &r->secret, &r->seclen, &err);
		if (!r->webhook)
			msg_warn("notify: webhook deliveries wait: %s", err ? err : "curl_global_init failed");
		free(err);
		err = NULL;
	}
	if (r->cfg->mail_to != NULL) {
		r->email = check_mail(r->cfg, &err);
		if (!r->email)
			msg_warn("notify: e-mail deliveries wait: %s", err);
		free(err);
	}
}

int notify_run(PGconn *conn, const struct notify_cfg *cfg, const char *node)
{
	struct run r = {.conn = conn, .cfg = cfg, .node = node ? node : ""};
	int delivered = 0, tried = 0, n = 0;
	bool none = false;

	run_setup(&r);
	if (!expire(&r))
		n = -1;
	while (n >= 0 && !none && tried < RUN_MAX_ROWS &&
	       (r.webhook || r.email || r.syslog)) {
		n = one(&r, &none);
		delivered += n > 0 ? n : 0;
		tried++;
	}
	if (r.curl != NULL)
		curl_easy_cleanup(r.curl);
	if (r.secret != NULL) {
		explicit_bzero(r.secret, r.seclen);
		free(r.secret);
	}
	return n < 0 ? -1 : delivered;
}
