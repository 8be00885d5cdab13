/*
 * detect - the detectors. See detect.h; defaults and reasons in
 * doc/watch.md.
 *
 * Every query reads portmilter.events in a window that ends at now():
 * a range on event_time (the primary key's leading column), or, for the
 * per-user history of volume and new_place, the (sasl_user, event_time)
 * index for the few candidates only. The first five columns of every
 * query are the same: subject_kind, subject, two counts for the
 * summary, the evidence (jsonb); some add more (addresses for geo,
 * baselines).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect.h"
#include "msg.h"
#include "geo.h"
#include "util.h"

/* The end of every window: now(), or the time set in the session's
 * portmilter.watch_now (a replay: portmilter-watch -T). */
#define SQL_NOW "COALESCE(NULLIF(pg_catalog.current_setting(" \
	"'portmilter.watch_now', true), '')::timestamptz, pg_catalog.now())"
#define SQL_SINCE(p) "e.event_time >= " SQL_NOW " - " \
	"pg_catalog.make_interval(secs => $" p "::integer)" \
	" AND e.event_time <= " SQL_NOW
#define SQL_MILTER "e.kind IN ('transaction', 'connection')"
#define SQL_NET "pg_catalog.network(pg_catalog.set_masklen(e.client_addr," \
	" CASE WHEN pg_catalog.family(e.client_addr) = 4 THEN 24 ELSE 48 END))"
#define SQL_ADDRS(n) "(pg_catalog.array_agg(DISTINCT pg_catalog.host(" \
	"e.client_addr)) FILTER (WHERE e.client_addr IS NOT NULL))[1:" n "]"
#define SQL_PORTS "pg_catalog.array_agg(DISTINCT e.port ORDER BY e.port)"
#define SQL_SPAN "'first', pg_catalog.min(e.event_time), " \
	"'last', pg_catalog.max(e.event_time)"

/* $1 window, $2 networks (or 2 with geo: the candidates). */
static const char sql_many_places[] =
	"SELECT 'user', e.sasl_user, count(DISTINCT " SQL_NET "),"
	" count(DISTINCT e.client_addr),"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'addresses', count(DISTINCT e.client_addr),"
	" 'networks', count(DISTINCT " SQL_NET "), 'events', count(*),"
	" 'ports', " SQL_PORTS ", 'sample_addresses', " SQL_ADDRS("20") ","
	" " SQL_SPAN "),"
	" " SQL_ADDRS("500")
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.sasl_user IS NOT NULL"
	" AND e.client_addr IS NOT NULL AND " SQL_MILTER
	" GROUP BY e.sasl_user"
	" HAVING count(DISTINCT " SQL_NET ") >= $2::integer";

/* $1 window, $2 history, $3 established. Geo only. The history: the
 * addresses of the user's last 2000 events before the window (at most
 * that many index entries read per user active in the window); the user
 * is established if they had an event between history and established
 * ago (one index probe). */
#define SQL_HIST_SINCE "e.event_time >= " SQL_NOW " - " \
	"pg_catalog.make_interval(secs => $2::integer)"
#define SQL_HIST_UNTIL(p) "e.event_time < " SQL_NOW " - " \
	"pg_catalog.make_interval(secs => $" p "::integer)"
static const char sql_new_place[] =
	"WITH cur AS (SELECT e.sasl_user AS u, " SQL_ADDRS("200") " AS addrs"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.sasl_user IS NOT NULL"
	" AND e.client_addr IS NOT NULL AND " SQL_MILTER
	" GROUP BY e.sasl_user)"
	" SELECT 'user', c.u, h.n, 0,"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'history_s', $2::integer, 'history_events_read', h.n,"
	" 'addresses', c.addrs),"
	" c.addrs, h.addrs"
	" FROM cur AS c CROSS JOIN LATERAL (SELECT count(*) AS n,"
	" (pg_catalog.array_agg(DISTINCT pg_catalog.host(x.a)))[1:2000] AS addrs"
	" FROM (SELECT e.client_addr AS a FROM portmilter.events AS e"
	" WHERE e.sasl_user = c.u AND " SQL_HIST_SINCE
	" AND " SQL_HIST_UNTIL("1") " AND e.client_addr IS NOT NULL"
	" AND " SQL_MILTER " ORDER BY e.event_time DESC LIMIT 2000) AS x) AS h"
	" WHERE EXISTS (SELECT FROM portmilter.events AS e"
	" WHERE e.sasl_user = c.u AND " SQL_HIST_SINCE
	" AND " SQL_HIST_UNTIL("3") ")";

/* $1 window, $2 floor, $3 floor_recipients, $4 baseline. The baseline:
 * the 95th percentile of the user's messages (and recipients) per hour,
 * over the hours of the baseline in which they sent anything, the
 * window itself excluded. */
#define SQL_ACCEPTED "e.sasl_user IS NOT NULL AND e.kind = 'transaction'" \
	" AND e.verdict = 'accepted'"
static const char sql_volume[] =
	"WITH cur AS (SELECT e.sasl_user AS u, count(*) AS m,"
	" COALESCE(sum(e.nrcpt), 0)::bigint AS r"
	" FROM portmilter.events AS e WHERE " SQL_SINCE("1") " AND " SQL_ACCEPTED
	" GROUP BY e.sasl_user"
	" HAVING count(*) >= $2::integer OR sum(e.nrcpt) >= $3::integer)"
	" SELECT 'user', c.u, c.m, c.r,"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'messages', c.m, 'recipients', c.r, 'baseline_s', $4::integer,"
	" 'p95_messages_per_hour', b.pm, 'p95_recipients_per_hour', b.pr,"
	" 'active_hours', b.hours),"
	" COALESCE(b.pm, 0), COALESCE(b.pr, 0)"
	" FROM cur AS c CROSS JOIN LATERAL (SELECT"
	" pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY h.m) AS pm,"
	" pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY h.r) AS pr,"
	" count(*) AS hours FROM (SELECT"
	" pg_catalog.date_trunc('hour', e.event_time) AS hr, count(*) AS m,"
	" sum(e.nrcpt) AS r FROM portmilter.events AS e"
	" WHERE e.sasl_user = c.u AND e.event_time >= " SQL_NOW " -"
	" pg_catalog.make_interval(secs => $4::integer)"
	" AND e.event_time < " SQL_NOW " -"
	" pg_catalog.make_interval(secs => $1::integer) AND " SQL_ACCEPTED
	" GROUP BY 1) AS h) AS b";

static const char sql_auth_guess[] =
	"SELECT 'user', e.sasl_user, count(*), count(DISTINCT e.client_addr),"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'failures', count(*), 'addresses', count(DISTINCT e.client_addr),"
	" 'sample_addresses', " SQL_ADDRS("20") ", 'ports', " SQL_PORTS ","
	" " SQL_SPAN ")"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.kind = 'auth_failure'"
	" AND e.sasl_user IS NOT NULL"
	" GROUP BY e.sasl_user HAVING count(*) >= $2::integer";

static const char sql_auth_spray[] =
	"SELECT 'address', pg_catalog.host(e.client_addr),"
	" count(DISTINCT e.sasl_user), count(*),"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'users', count(DISTINCT e.sasl_user), 'failures', count(*),"
	" 'sample_users', (pg_catalog.array_agg(DISTINCT e.sasl_user)"
	" FILTER (WHERE e.sasl_user IS NOT NULL))[1:20],"
	" 'ports', " SQL_PORTS ", " SQL_SPAN ")"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.kind = 'auth_failure'"
	" AND e.client_addr IS NOT NULL"
	" GROUP BY e.client_addr"
	" HAVING count(DISTINCT e.sasl_user) >= $2::integer";

static const char sql_exposure[] =
	"SELECT CASE WHEN e.sasl_user IS NULL THEN 'address' ELSE 'user' END,"
	" COALESCE(e.sasl_user, pg_catalog.host(e.client_addr)),"
	" count(*), count(DISTINCT e.client_addr),"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'exposures', count(*), 'addresses', count(DISTINCT e.client_addr),"
	" 'sample_addresses', " SQL_ADDRS("20") ", 'ports', " SQL_PORTS ","
	" " SQL_SPAN ")"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.credential_exposure"
	" AND (e.sasl_user IS NOT NULL OR e.client_addr IS NOT NULL)"
	" GROUP BY 1, 2 HAVING count(*) >= $2::integer";

/* $3 ratio: refused recipients, percent of all the user's recipients. */
#define SQL_REFUSED "(e.nrcpt_rejected + e.nrcpt_refused)"
static const char sql_refusals[] =
	"SELECT 'user', e.sasl_user, sum(" SQL_REFUSED ")::bigint,"
	" sum(e.nrcpt + " SQL_REFUSED ")::bigint,"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'refused_recipients', sum(" SQL_REFUSED "),"
	" 'accepted_recipients', sum(e.nrcpt), 'transactions', count(*),"
	" 'rules', (pg_catalog.array_agg(DISTINCT e.rule)"
	" FILTER (WHERE e.rule IS NOT NULL)), " SQL_SPAN ")"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.kind = 'transaction'"
	" AND e.sasl_user IS NOT NULL"
	" GROUP BY e.sasl_user"
	" HAVING sum(" SQL_REFUSED ") >= $2::integer"
	" AND sum(" SQL_REFUSED ") * 100 >= $3::integer * sum(e.nrcpt + "
	SQL_REFUSED ")";

static const char sql_budget_hits[] =
	"SELECT 'user', e.sasl_user, count(*),"
	" count(*) FILTER (WHERE e.reply LIKE 'monitor:%'),"
	" pg_catalog.jsonb_build_object('window_s', $1::integer,"
	" 'hits', count(*), 'monitor_only',"
	" count(*) FILTER (WHERE e.reply LIKE 'monitor:%'),"
	" 'rules', pg_catalog.array_agg(DISTINCT e.rule), " SQL_SPAN ")"
	" FROM portmilter.events AS e"
	" WHERE " SQL_SINCE("1") " AND e.rule IN ('limit_messages',"
	" 'limit_recipients', 'limit_bytes') AND e.sasl_user IS NOT NULL"
	" GROUP BY e.sasl_user HAVING count(*) >= $2::integer";

static const char sql_fire[] =
	"SELECT f.alert_id, f.suspended FROM portmilter.watch_fire($1::text,"
	" $2::text, $3::text, $4::text, $5::jsonb || $6::jsonb,"
	" pg_catalog.make_interval(secs => $7::integer), $8::text,"
	" $9::text[], $10::boolean) AS f";

static const char sql_resolve[] =
	"SELECT r.subject_kind, r.subject, r.alert_id"
	" FROM portmilter.watch_resolve($1::text, $2::text[], $3::text[],"
	" $4::text, $5::text[], $6::boolean) AS r";

/* The subjects over threshold in one evaluation, for watch_resolve. */
struct firing {
	struct strbuf kinds, subjects;	/* PostgreSQL array literals */
	size_t n;
};

struct run {
	PGconn *conn;
	const struct wconf *w;
	struct geo *geo;
	struct detect_stats *st;
	const struct wdet *d;
	struct firing f;
};

/* Append one element to a text[] literal being built ("{" first). */
static void arr_add(struct strbuf *b, const char *s)
{
	strbuf_str(b, b->len == 0 ? "{\"" : ",\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			strbuf_add(b, "\\", 1);
		strbuf_add(b, s, 1);
	}
	strbuf_add(b, "\"", 1);
}

static char *arr_take(struct strbuf *b)
{
	if (b->len == 0)
		strbuf_str(b, "{");
	strbuf_str(b, "}");
	return strbuf_take(b);
}

/* The elements of a text[] of addresses as PostgreSQL prints it (host()
 * values: no quotes, no commas inside); *n of them, in a malloc'd copy
 * the vector points into (free v[0]... via the returned buffer). */
static char *arr_split(const char *text, char ***v, size_t *n)
{
	size_t len = strlen(text), cap = 0;
	char *buf, *p, *tok, *save = NULL;

	*v = NULL;
	*n = 0;
	if (len < 2 || text[0] != '{' || text[len - 1] != '}')
		return NULL;
	buf = xstrndup(text + 1, len - 2);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*v = xrealloc(*v, cap * sizeof(**v));
		}
		(*v)[(*n)++] = tok;
	}
	return buf;
}

static void log_db(const struct wdet *d, const char *what, PGconn *conn)
{
	char q[512];

	str_escape(q, sizeof(q), PQerrorMessage(conn));
	msg_warn("detector %s: %s: %s", d->name, what, q);
}

/*
 * The subject is over the threshold: remember it as firing and ask
 * watch_fire() to alert (it holds the alert back within the cool-down).
 * extra: more evidence (a JSON object, trusted text) or NULL.
 */
static void fire(struct run *r, const char *kind, const char *subject,
		 const char *summary, const char *evidence, const char *extra)
{
	const char *ch[3];
	size_t nch = wconf_channels(r->w, ch);
	struct strbuf cb = {0};
	char cool[24], *chans, q[256];
	const char *params[10];
	PGresult *res;

	arr_add(&r->f.kinds, kind);
	arr_add(&r->f.subjects, subject);
	r->f.n++;
	for (size_t i = 0; i < nch; i++)
		arr_add(&cb, ch[i]);
	chans = arr_take(&cb);
	snprintf(cool, sizeof(cool), "%ld", r->d->cooldown);
	params[0] = r->d->name;
	params[1] = kind;
	params[2] = subject;
	params[3] = summary;
	params[4] = evidence;
	params[5] = extra ? extra : "{}";
	params[6] = cool;
	params[7] = r->w->node;
	params[8] = chans;
	params[9] = r->d->action == WDET_SUSPEND ? "true" : "false";
	res = PQexecParams(r->conn, sql_fire, 10, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_db(r->d, "watch_fire", r->conn);
		r->st->errors++;
	} else if (PQntuples(res) == 0) {
		r->st->held++;
	} else {
		r->st->fired++;
		msg_info("alert %s: %s %s \"%s\": %s%s", PQgetvalue(res, 0, 0),
			 r->d->name, kind, str_escape(q, sizeof(q), subject),
			 summary, strcmp(PQgetvalue(res, 0, 1), "t") == 0 ?
			 " (suspended)" : r->d->action == WDET_SUSPEND ?
			 " (suspension FAILED: see the database log)" : "");
	}
	PQclear(res);
	free(chans);
}

static void resolve(struct run *r)
{
	const char *ch[3];
	size_t nch = wconf_channels(r->w, ch);
	struct strbuf cb = {0};
	char *kinds = arr_take(&r->f.kinds), *subs = arr_take(&r->f.subjects);
	char *chans, q[256];
	const char *params[6];
	PGresult *res;

	for (size_t i = 0; i < nch; i++)
		arr_add(&cb, ch[i]);
	chans = arr_take(&cb);
	params[0] = r->d->name;
	params[1] = kinds;
	params[2] = subs;
	params[3] = r->w->node;
	params[4] = chans;
	params[5] = r->w->resolved_notice ? "true" : "false";
	res = PQexecParams(r->conn, sql_resolve, 6, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_db(r->d, "watch_resolve", r->conn);
		r->st->errors++;
	} else {
		for (int i = 0; i < PQntuples(res); i++) {
			r->st->resolved++;
			msg_info("resolved: %s %s \"%s\"%s%s", r->d->name,
				 PQgetvalue(res, i, 0),
				 str_escape(q, sizeof(q), PQgetvalue(res, i, 1)),
				 PQgetisnull(res, i, 2) ? "" : ", alert ",
				 PQgetvalue(res, i, 2));
		}
	}
	PQclear(res);
	free(kinds);
	free(subs);
	free(chans);
}

/* "1h", "10m" for summaries. */
static const char *span(long s, char *buf, size_t len)
{
	if (s % 86400 == 0)
		snprintf(buf, len, "%ldd", s / 86400);
	else if (s % 3600 == 0)
		snprintf(buf, len, "%ldh", s / 3600);
	else
		snprintf(buf, len, "%ldm", s / 60);
	return buf;
}

/* Distinct countries and ASNs of the addresses of a text[]. */
struct places {
	char cc[64][3];
	uint32_t asn[64];
	size_t ncc, nasn;
};

static void places_add(struct places *p, struct geo *geo, const char *arr)
{
	char **v, cc[3];
	size_t n, j;
	uint32_t asn;
	char *buf = arr_split(arr, &v, &n);

	for (size_t i = 0; i < n; i++) {
		cc[0] = '\0';
		asn = 0;
		if (!geo_lookup(geo, v[i], cc, &asn))
			continue;
		if (cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z'
		    && cc[2] == '\0') {
			for (j = 0; j < p->ncc && strcmp(p->cc[j], cc) != 0; j++)
				;
			if (j == p->ncc && p->ncc < 64)
				memcpy(p->cc[p->ncc++], cc, 3);
		}
		if (asn != 0) {
			for (j = 0; j < p->nasn && p->asn[j] != asn; j++)
				;
			if (j == p->nasn && p->nasn < 64)
				p->asn[p->nasn++] = asn;
		}
	}
	free(v);
	free(buf);
}

/* {"countries":["DE",...],"asns":[64500,...]} of p, or of p minus old. */
static char *places_json(const struct places *p, const struct places *old,
			 size_t *ncc, size_t *nasn)
{
	struct strbuf b = {0};
	char num[16];
	size_t j;

	*ncc = *nasn = 0;
	strbuf_str(&b, "{\"countries\":[");
	for (size_t i = 0; i < p->ncc; i++) {
		for (j = 0; old && j < old->ncc && strcmp(old->cc[j], p->cc[i]); j++)
			;
		if (old && j < old->ncc)
			continue;
		strbuf_str(&b, *ncc ? ",\"" : "\"");
		strbuf_str(&b, p->cc[i]);
		strbuf_str(&b, "\"");
		(*ncc)++;
	}
	strbuf_str(&b, "],\"asns\":[");
	for (size_t i = 0; i < p->nasn; i++) {
		for (j = 0; old && j < old->nasn && old->asn[j] != p->asn[i]; j++)
			;
		if (old && j < old->nasn)
			continue;
		snprintf(num, sizeof(num), "%s%u", *nasn ? "," : "", p->asn[i]);
		strbuf_str(&b, num);
		(*nasn)++;
	}
	strbuf_str(&b, "]}");
	return strbuf_take(&b);
}

static void row_many_places(struct run *r, PGresult *res, int i)
{
	const char *user = PQgetvalue(res, i, 1);
	long nets = strtol(PQgetvalue(res, i, 2), NULL, 10);
	long addrs = strtol(PQgetvalue(res, i, 3), NULL, 10);
	struct places p = {0};
	size_t ncc = 0, nasn = 0;
	char *extra = NULL, summary[512], q[200], w[24], geo_text[64] = "";
	bool hit = nets >= r->d->threshold;

	if (r->geo != NULL) {
		places_add(&p, r->geo, PQgetvalue(res, i, 5));
		extra = places_json(&p, NULL, &ncc, &nasn);
		hit = hit || (long) ncc >= r->d->countries ||
		      (long) nasn >= r->d->asns;
		snprintf(geo_text, sizeof(geo_text), ", %zu countries, %zu "
			 "ASNs", ncc, nasn);
	}
	if (hit) {
		snprintf(summary, sizeof(summary), "many_places: user %s used "
			 "%ld addresses in %ld networks%s within %s",
			 str_escape(q, sizeof(q), user), addrs, nets, geo_text,
			 span(r->d->window, w, sizeof(w)));
		fire(r, "user", user, summary, PQgetvalue(res, i, 4), extra);
	}
	free(extra);
}

static void row_new_place(struct run *r, PGresult *res, int i)
{
	const char *user = PQgetvalue(res, i, 1);
	struct places now = {0}, old = {0};
	size_t ncc, nasn;
	char *extra, summary[512], q[200], h[24];

	places_add(&now, r->geo, PQgetvalue(res, i, 5));
	places_add(&old, r->geo, PQgetvalue(res, i, 6));
	extra = places_json(&now, &old, &ncc, &nasn);
	if ((long) (ncc + nasn) >= r->d->threshold) {
		snprintf(summary, sizeof(summary), "new_place: user %s seen from "
			 "%zu new countries and %zu new ASNs (none of them in "
			 "%s of history)", str_escape(q, sizeof(q), user), ncc,
			 nasn, span(r->d->history, h, sizeof(h)));
		fire(r, "user", user, summary, PQgetvalue(res, i, 4), extra);
	}
	free(extra);
}

/* What a user's limit_classes class lets them send in `window` seconds
 * under key (the tightest of its windows, scaled), 0 = no class budget. */
static double class_allowance(const struct wconf *w, const char *user,
			      enum cfg_limit_key key, long window)
{
	const struct cfg_class *c = cfg_class_find(w->cfg, user);
	double best = 0, a;

	if (c == NULL || !c->set[key])
		return 0;
	for (unsigned i = 0; i < c->limits[key].n; i++) {
		const struct cfg_limit *l = &c->limits[key].v[i];

		a = (double) l->max * ((double) window / l->window > 1 ?
				       (double) window / l->window : 1);
		if (best == 0 || a < best)
			best = a;
	}
	return best;
}

static void row_volume(struct run *r, PGresult *res, int i)
{
	const char *user = PQgetvalue(res, i, 1);
	double m = strtod(PQgetvalue(res, i, 2), NULL);
	double rc = strtod(PQgetvalue(res, i, 3), NULL);
	double scale = (double) r->d->window / 3600.0;
	double pm = strtod(PQgetvalue(res, i, 5), NULL) * scale;
	double pr = strtod(PQgetvalue(res, i, 6), NULL) * scale;
	double fm = fmax((double) r->d->floor,
			 class_allowance(r->w, user, CFG_LIMIT_MESSAGES,
					 r->d->window));
	double fr = fmax((double) r->d->floor_recipients,
			 class_allowance(r->w, user, CFG_LIMIT_RECIPIENTS,
					 r->d->window));
	double k = (double) r->d->threshold;
	char summary[512], q[200], w[24], extra[128];

	if (!((m >= fm && m > k * pm) || (rc >= fr && rc > k * pr)))
		return;
	snprintf(extra, sizeof(extra), "{\"factor\":%ld,\"floor_messages\":%.0f,"
		 "\"floor_recipients\":%.0f}", r->d->threshold, fm, fr);
	snprintf(summary, sizeof(summary), "volume: user %s sent %.0f messages "
		 "to %.0f recipients within %s, usually at most %.0f and %.0f "
		 "(95th percentile)", str_escape(q, sizeof(q), user), m, rc,
		 span(r->d->window, w, sizeof(w)), pm, pr);
	fire(r, "user", user, summary, PQgetvalue(res, i, 4), extra);
}

static void row_simple(struct run *r, PGresult *res, int i)
{
	const char *kind = PQgetvalue(res, i, 0), *subj = PQgetvalue(res, i, 1);
	long a = strtol(PQgetvalue(res, i, 2), NULL, 10);
	long b = strtol(PQgetvalue(res, i, 3), NULL, 10);
	char summary[512], q[200], w[24];

	str_escape(q, sizeof(q), subj);
	span(r->d->window, w, sizeof(w));
	switch (r->d - r->w->det) {
	case WDET_AUTH_GUESS:
		snprintf(summary, sizeof(summary), "auth_guess: %ld failed "
			 "logins for user %s from %ld addresses within %s",
			 a, q, b, w);
		break;
	case WDET_AUTH_SPRAY:
		snprintf(summary, sizeof(summary), "auth_spray: address %s "
			 "failed to log in as %ld users (%ld failures) within %s",
			 q, a, b, w);
		break;
	case WDET_EXPOSURE:
		snprintf(summary, sizeof(summary), "exposure: %s %s sent "
			 "credentials without TLS %ld times within %s", kind, q,
			 a, w);
		break;
	case WDET_REFUSALS:
		snprintf(summary, sizeof(summary), "refusals: user %s had %ld "
			 "of %ld recipients refused within %s", q, a, b, w);
		break;
	default:
		snprintf(summary, sizeof(summary), "budget_hits: user %s hit a "
			 "sending budget %ld times within %s (%ld in monitor "
			 "mode)", q, a, w, b);
		break;
	}
	fire(r, kind, subj, summary, PQgetvalue(res, i, 4), NULL);
}

struct detector {
	const char *sql;
	void (*row)(struct run *r, PGresult *res, int i);
	bool geo_only;
};

static const struct detector detectors[WDET_N] = {
	[WDET_MANY_PLACES] = {sql_many_places, row_many_places, false},
	[WDET_NEW_PLACE] = {sql_new_place, row_new_place, true},
	[WDET_VOLUME] = {sql_volume, row_volume, false},
	[WDET_AUTH_GUESS] = {sql_auth_guess, row_simple, false},
	[WDET_AUTH_SPRAY] = {sql_auth_spray, row_simple, false},
	[WDET_EXPOSURE] = {sql_exposure, row_simple, false},
	[WDET_REFUSALS] = {sql_refusals, row_simple, false},
	[WDET_BUDGET_HITS] = {sql_budget_hits, row_simple, false},
};

/* The query's parameters (text) for detector id; returns how many. */
static int det_params(const struct wconf *w, int id, bool geo,
		      char buf[4][24], const char *params[4])
{
	const struct wdet *d = &w->det[id];
	long v[4] = {d->window, d->threshold, 0, 0};
	int n = 2;

	switch (id) {
	case WDET_MANY_PLACES:
		if (geo)
			v[1] = 2;
		break;
	case WDET_NEW_PLACE:
		v[1] = d->history;
		v[2] = d->established;
		n = 3;
		break;
	case WDET_VOLUME:
		v[1] = d->floor;
		v[2] = d->floor_recipients;
		v[3] = d->baseline;
		n = 4;
		break;
	case WDET_REFUSALS:
		v[2] = d->ratio;
		n = 3;
		break;
	}
	for (int i = 0; i < n; i++) {
		snprintf(buf[i], 24, "%ld", v[i]);
		params[i] = buf[i];
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

int detect_cycle(PGconn *conn, const struct wconf *w, struct geo *geo,
		 bool replay, struct detect_stats *st)
{
	char buf[4][24];
	const char *params[4];
	double t0 = now_s();
	PGresult *res;
	int n;

	memset(st, 0, sizeof(*st));
	for (int id = 0; id < WDET_N; id++) {
		struct run r = {conn, w, geo, st, &w->det[id], {{0}, {0}, 0}};

		if (!w->det[id].enabled || (detectors[id].geo_only && !geo))
			continue;
		n = det_params(w, id, geo != NULL, buf, params);
		res = PQexecParams(conn, detectors[id].sql, n, NULL, params, NULL,
				   NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			log_db(r.d, "query", conn);
			PQclear(res);
			st->errors++;
			if (PQstatus(conn) != CONNECTION_OK)
				return -1;
			continue;
		}
		for (int i = 0; i < PQntuples(res); i++)
			detectors[id].row(&r, res, i);
		PQclear(res);
		if (!replay)
			resolve(&r);
		free(r.f.kinds.p);
		free(r.f.subjects.p);
		if (PQstatus(conn) != CONNECTION_OK)
			return -1;
	}
	st->seconds = now_s() - t0;
	return (int) st->fired;
}

bool detect_explain(PGconn *conn, const struct wconf *w, FILE *fp)
{
	char buf[4][24];
	const char *params[4];
	struct strbuf sql = {0};
	PGresult *res;
	char *text;
	int n;

	for (int id = 0; id < WDET_N; id++) {
		if (!w->det[id].enabled)
			continue;
		n = det_params(w, id, false, buf, params);
		strbuf_str(&sql, "EXPLAIN ");
		strbuf_str(&sql, detectors[id].sql);
		text = strbuf_take(&sql);
		res = PQexecParams(conn, text, n, NULL, params, NULL, NULL, 0);
		free(text);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			log_db(&w->det[id], "EXPLAIN", conn);
			PQclear(res);
			return false;
		}
		fprintf(fp, "detector %s:\n", w->det[id].name);
		for (int i = 0; i < PQntuples(res); i++)
			fprintf(fp, "  %s\n", PQgetvalue(res, i, 0));
		PQclear(res);
	}
	return true;
}
