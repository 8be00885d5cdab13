/*
 * limits - portmilter-report limits: who is near or over a sending
 * budget, per port, from portmilter.usage (sql/008_usage.sql) and the
 * budgets of portmilter.conf. See report.h.
 *
 * The budgets go to the query as arrays built from the configuration:
 * one element per N/WINDOW of each port section (class NULL) and of
 * each class of the limit_classes file (port NULL), and the logins of
 * each class. For every budget key (login, else client address or /64)
 * that used a port within the longest window, the limits that apply to
 * it there are the milter's (budget_limits(): the class's for a key its
 * class sets, else the port's), and its usage is counted as the milter
 * counts it: over every port and node, messages, accepted recipients,
 * bytes as KiB rounded up per message, in the last WINDOW seconds (to
 * the second of the usage rows; the milter's windows drain by slots, so
 * it may still count a little more, never less). A usage row whose
 * address `maintain` reduced (sql/013_usage_privacy.sql) names no key
 * any more and is left out, as the milter leaves it out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "report.h"
#include "util.h"

/* $1..$6: port[], class[], key[], max[], window[], budget text[] of the
 * limits; $7, $8: login[], class[] of the classes' users; $9 the longest
 * window; $10 the port or NULL; $11 the percentage. */
#define SQL_LIMITS(P) \
	"WITH lim AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1::integer[])," \
	" pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])," \
	" pg_catalog.unnest($4::bigint[]), pg_catalog.unnest($5::integer[])," \
	" pg_catalog.unnest($6::text[]))" \
	" AS l(port, class, lname, lmax, lwin, ltext))," \
	" cls AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($7::text[])," \
	" pg_catalog.unnest($8::text[])) AS c(login, class))," \
	" recent AS (SELECT u.port, u.login, u.client, u.messages, u.recipients," \
	" u.kbytes, u.at, COALESCE('u:' || u.login," \
	" 'a:' || pg_catalog.host(u.client)) AS key" \
	" FROM portmilter.usage AS u" \
	" WHERE u.at > pg_catalog.now() - $9::integer * interval '1 second'" \
	" AND (u.client IS NULL OR pg_catalog.masklen(u.client) >=" \
	" CASE pg_catalog.family(u.client) WHEN 4 THEN 32 ELSE 64 END))," \
	" seen AS (SELECT DISTINCT r.port, r.key, r.login, r.client FROM recent AS r" \
	" WHERE $10::integer IS NULL OR r.port = $10::integer)," \
	" applied AS (SELECT s.port, s.key, s.login, s.client, c.class AS uclass," \
	" l.class, l.lname, l.lmax, l.lwin, l.ltext" \
	" FROM seen AS s LEFT JOIN cls AS c ON c.login = s.login" \
	" JOIN lim AS l ON CASE WHEN EXISTS (SELECT FROM lim AS x" \
	" WHERE x.class = c.class AND x.lname = l.lname)" \
	" THEN l.class = c.class ELSE l.class IS NULL AND l.port = s.port END)," \
	" used AS (SELECT a.port, a.key, a.login, a.client, a.uclass, a.lname," \
	" a.lmax, a.ltext," \
	" COALESCE((SELECT pg_catalog.sum(CASE a.lname" \
	" WHEN 'limit_messages' THEN r.messages" \
	" WHEN 'limit_recipients' THEN r.recipients ELSE r.kbytes * 1024 END)" \
	" FROM recent AS r WHERE r.key = a.key" \
	" AND r.at > pg_catalog.now() - a.lwin * interval '1 second'), 0)" \
	" AS n FROM applied AS a)" \
	" SELECT " P " AS port," \
	" COALESCE(u.login, pg_catalog.host(u.client)) AS \"user\"," \
	" u.uclass AS class, u.lname AS \"limit\", u.ltext AS budget," \
	" u.n::bigint AS used," \
	" pg_catalog.round(u.n * 100.0 / u.lmax, 1) AS percent," \
	" CASE WHEN u.n > u.lmax THEN 'over' WHEN u.n >= u.lmax THEN 'spent'" \
	" ELSE 'near' END AS status" \
	" FROM used AS u WHERE u.n * 100.0 >= $11::integer * u.lmax" \
	" ORDER BY u.n * 1.0 / u.lmax DESC, u.port," \
	" COALESCE(u.login, pg_catalog.host(u.client)) COLLATE pg_catalog.\"C\"," \
	" u.lname"

static const char *const sql_limits[] = {
	SQL_LIMITS("u.port::text"), SQL_LIMITS("u.port")
};

/* A PostgreSQL array literal of text elements, each quoted; NULL for
 * null elements. */
struct arr {
	struct strbuf b;
	bool any;
};

static void arr_add(struct arr *a, const char *v)
{
	strbuf_str(&a->b, a->any ? "," : "{");
	a->any = true;
	if (v == NULL) {
		strbuf_str(&a->b, "NULL");
		return;
	}
	strbuf_str(&a->b, "\"");
	for (const char *c = v; *c; c++) {
		if (*c == '"' || *c == '\\')
			strbuf_str(&a->b, "\\");
		strbuf_add(&a->b, c, 1);
	}
	strbuf_str(&a->b, "\"");
}

static char *arr_end(struct arr *a)
{
	strbuf_str(&a->b, a->any ? "}" : "{}");
	return strbuf_take(&a->b);
}

/* One row of lim for each N/WINDOW of l. */
static void add_limits(struct arr *lim, const char *port, const char *cls,
		       enum cfg_limit_key k, const struct cfg_limits *l)
{
	char num[32], win[16], text[64];
	struct cfg_limits one;

	for (unsigned i = 0; i < l->n; i++) {
		snprintf(num, sizeof(num), "%llu", l->v[i].max);
		snprintf(win, sizeof(win), "%u", l->v[i].window);
		one.n = 1;
		one.v[0] = l->v[i];
		arr_add(&lim[0], port);
		arr_add(&lim[1], cls);
		arr_add(&lim[2], cfg_limit_name(k));
		arr_add(&lim[3], num);
		arr_add(&lim[4], win);
		arr_add(&lim[5], cfg_limits_text(&one, k == CFG_LIMIT_BYTES,
						 text, sizeof(text)));
	}
}

bool limits_report(PGconn *conn, const struct cfg *cfg, const char *port,
		   int near, enum out_format format)
{
	struct arr lim[6] = {0}, users[2] = {0};
	char *params[11] = {0}, longest[16], pct[16], portnum[8];
	unsigned w[CFG_WINDOWS_MAX], maxw = 0;
	PGresult *r;
	bool ok;

	for (size_t i = 0; i < cfg->nports; i++) {
		snprintf(portnum, sizeof(portnum), "%u", cfg->ports[i].port);
		for (int k = 0; k < CFG_NLIMITS; k++)
			add_limits(lim, portnum, NULL, k,
				   &cfg->ports[i].limits[k]);
	}
	for (size_t i = 0; i < cfg->classes.nclasses; i++)
		for (int k = 0; k < CFG_NLIMITS; k++)
			if (cfg->classes.classes[i].set[k])
				add_limits(lim, NULL,
					   cfg->classes.classes[i].name, k,
					   &cfg->classes.classes[i].limits[k]);
	for (size_t i = 0; i < cfg->classes.nusers; i++) {
		arr_add(&users[0], cfg->classes.users[i].login);
		arr_add(&users[1], cfg->classes.users[i].cls->name);
	}
	for (int k = 0; k < CFG_NLIMITS; k++) {
		size_t n = cfg_limit_windows(cfg, k, w);

		for (size_t i = 0; i < n && i < CFG_WINDOWS_MAX; i++)
			if (w[i] > maxw)
				maxw = w[i];
	}
	for (int i = 0; i < 6; i++)
		params[i] = arr_end(&lim[i]);
	params[6] = arr_end(&users[0]);
	params[7] = arr_end(&users[1]);
	snprintf(longest, sizeof(longest), "%u", maxw);
	snprintf(pct, sizeof(pct), "%d", near);
	params[8] = longest;
	params[9] = (char *) port;
	params[10] = pct;
	r = db_query(conn, sql_limits[format == OUT_JSON], 11,
		     (const char *const *) params);
	ok = r != NULL && out_result(stdout, r, format);
	PQclear(r);
	for (int i = 0; i < 8; i++)
		free(params[i]);
	return ok;
}
