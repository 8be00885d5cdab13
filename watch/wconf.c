/*
 * wconf - the [watch] and [detector NAME] sections. See wconf.h.
 *
 * Table-driven like lib/cfg_keys.c: a key has a name, a type, a range
 * and a place in the structure; defaults are values of the structure
 * set before the file's keys are applied, each key at most once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "util.h"
#include "wconf.h"

enum wtype { WT_DUR, WT_NUM, WT_BOOL, WT_STR, WT_ACTION };

struct wkey {
	const char *name;
	enum wtype type;
	long min, max;
	size_t off;
	unsigned dets;			/* detector keys: bit per WDET_*; 0 = all */
};

#define DAY	86400L
#define WK(n, t, lo, hi, f)	{n, t, lo, hi, offsetof(struct wconf, f), 0}
#define DK(n, t, lo, hi, f, d)	{n, t, lo, hi, offsetof(struct wdet, f), d}
#define B(d)			(1U << (d))

static const struct wkey watch_keys[] = {
	WK("interval", WT_DUR, 1, 3600, interval),
	WK("database", WT_STR, 0, 0, database),
	WK("webhook_url", WT_STR, 0, 0, webhook_url),
	WK("webhook_secret_file", WT_STR, 0, 0, webhook_secret_file),
	WK("webhook_ca_file", WT_STR, 0, 0, webhook_ca_file),
	WK("webhook_timeout", WT_DUR, 1, 300, webhook_timeout),
	WK("mail_to", WT_STR, 0, 0, mail_to),
	WK("mail_from", WT_STR, 0, 0, mail_from),
	WK("sendmail_path", WT_STR, 0, 0, sendmail_path),
	WK("syslog", WT_BOOL, 0, 0, syslog),
	WK("geoip_country_db", WT_STR, 0, 0, geoip_country_db),
	WK("geoip_asn_db", WT_STR, 0, 0, geoip_asn_db),
	WK("resolved_notice", WT_BOOL, 0, 0, resolved_notice),
};

static const struct wkey det_keys[] = {
	DK("enabled", WT_BOOL, 0, 0, enabled, 0),
	DK("threshold", WT_NUM, 1, 1000000, threshold, 0),
	DK("window", WT_DUR, 60, 30 * DAY, window, 0),
	DK("action", WT_ACTION, 0, 0, action, 0),
	DK("cooldown", WT_DUR, 0, 30 * DAY, cooldown, 0),
	DK("countries", WT_NUM, 2, 1000, countries, B(WDET_MANY_PLACES)),
	DK("asns", WT_NUM, 2, 1000, asns, B(WDET_MANY_PLACES)),
	DK("floor", WT_NUM, 1, 10000000, floor, B(WDET_VOLUME)),
	DK("floor_recipients", WT_NUM, 1, 100000000, floor_recipients,
	   B(WDET_VOLUME)),
	DK("baseline", WT_DUR, DAY, 90 * DAY, baseline, B(WDET_VOLUME)),
	DK("ratio", WT_NUM, 1, 100, ratio, B(WDET_REFUSALS)),
	DK("history", WT_DUR, DAY, 365 * DAY, history, B(WDET_NEW_PLACE)),
	DK("established", WT_DUR, DAY, 365 * DAY, established,
	   B(WDET_NEW_PLACE)),
};

/* The defaults and their reasons: doc/watch.md. */
static const struct wdet det_defaults[WDET_N] = {
	[WDET_MANY_PLACES] = {"many_places", true, 6, 3600, WDET_ALERT,
			      6 * 3600, 3, 4, 0, 0, 0, 0, 0, 0},
	[WDET_NEW_PLACE] = {"new_place", true, 1, 3600, WDET_ALERT, DAY,
			    0, 0, 0, 0, 0, 0, 30 * DAY, 7 * DAY},
	[WDET_VOLUME] = {"volume", true, 5, 3600, WDET_ALERT, 6 * 3600,
			 0, 0, 50, 500, 14 * DAY, 0, 0, 0},
	[WDET_AUTH_GUESS] = {"auth_guess", true, 20, 600, WDET_ALERT, 3600,
			     0, 0, 0, 0, 0, 0, 0, 0},
	[WDET_AUTH_SPRAY] = {"auth_spray", true, 10, 3600, WDET_ALERT,
			     6 * 3600, 0, 0, 0, 0, 0, 0, 0, 0},
	[WDET_EXPOSURE] = {"exposure", true, 1, 600, WDET_ALERT, DAY,
			   0, 0, 0, 0, 0, 0, 0, 0},
	[WDET_REFUSALS] = {"refusals", true, 20, 3600, WDET_ALERT, 6 * 3600,
			   0, 0, 0, 0, 0, 50, 0, 0},
	[WDET_BUDGET_HITS] = {"budget_hits", true, 3, 3600, WDET_ALERT,
			      6 * 3600, 0, 0, 0, 0, 0, 0, 0, 0},
};

struct werrs {
	const char *file;
	struct strbuf b;
	unsigned n;
};

static PM_PRINTF(3, 4) void werr(struct werrs *e, unsigned line,
				 const char *fmt, ...)
{
	char text[1024], head[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(head, sizeof(head), "%s:%u: ", e->file, line);
	strbuf_str(&e->b, head);
	strbuf_str(&e->b, text);
	strbuf_str(&e->b, "\n");
	e->n++;
}

bool wconf_duration(const char *text, long min, long max, long *out)
{
	size_t len = strlen(text);
	long n, mult;
	char num[24];

	if (len < 2 || len >= sizeof(num))
		return false;
	switch (text[len - 1]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = DAY; break;
	default: return false;
	}
	memcpy(num, text, len - 1);
	num[len - 1] = '\0';
	if (num[0] < '0' || num[0] > '9' ||
	    !str_to_long(num, 0, 400 * DAY, &n) || n > max / mult)
		return false;
	*out = n * mult;
	return *out >= min && *out <= max;
}

/* Set one key of base (a struct wconf or struct wdet). */
static void wset(struct werrs *e, const struct wkey *k, void *base,
		 const struct cfg_setting *s)
{
	char *at = (char *) base + k->off, q[80];
	long v;

	switch (k->type) {
	case WT_DUR:
		if (!wconf_duration(s->value, k->min, k->max, &v)) {
			werr(e, s->line, "bad value \"%s\" for %s: expected N "
			     "followed by s, m, h or d, %lds..%lds",
			     str_escape(q, sizeof(q), s->value), k->name,
			     k->min, k->max);
			return;
		}
		*(long *) at = v;
		break;
	case WT_NUM:
		if (!str_to_long(s->value, k->min, k->max, &v)) {
			werr(e, s->line, "bad value \"%s\" for %s: expected a "
			     "decimal number in %ld..%ld",
			     str_escape(q, sizeof(q), s->value), k->name,
			     k->min, k->max);
			return;
		}
		*(long *) at = v;
		break;
	case WT_BOOL:
		if (strcmp(s->value, "yes") != 0 && strcmp(s->value, "no") != 0) {
			werr(e, s->line, "bad value \"%s\" for %s: expected "
			     "yes or no", str_escape(q, sizeof(q), s->value),
			     k->name);
			return;
		}
		*(bool *) at = strcmp(s->value, "yes") == 0;
		break;
	case WT_ACTION:
		if (strcmp(s->value, "alert") == 0)
			*(enum wdet_action *) at = WDET_ALERT;
		else if (strcmp(s->value, "suspend") == 0)
			*(enum wdet_action *) at = WDET_SUSPEND;
		else
			werr(e, s->line, "bad value \"%s\" for action: "
			     "expected alert or suspend",
			     str_escape(q, sizeof(q), s->value));
		break;
	case WT_STR:
		free(*(char **) at);
		*(char **) at = xstrdup(s->value);
		break;
	}
}

static const struct wkey *wfind(const struct wkey *v, size_t n,
				const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return &v[i];
	return NULL;
}

static void wsection_watch(struct werrs *e, struct wconf *w,
			   const struct cfg_section *x)
{
	const struct wkey *k;
	char q[80];

	for (size_t i = 0; i < x->n; i++) {
		k = wfind(watch_keys, sizeof(watch_keys) / sizeof(*watch_keys),
			  x->v[i].key);
		if (k == NULL)
			werr(e, x->v[i].line, "unknown key \"%s\" in [watch]",
			     str_escape(q, sizeof(q), x->v[i].key));
		else
			wset(e, k, w, &x->v[i]);
	}
}

static void wsection_detector(struct werrs *e, struct wconf *w,
			      const struct cfg_section *x)
{
	const struct wkey *k;
	struct wdet *d = NULL;
	char q[80];

	for (int i = 0; i < WDET_N; i++)
		if (strcmp(w->det[i].name, x->arg) == 0)
			d = &w->det[i];
	if (d == NULL) {
		werr(e, x->line, "unknown detector \"%s\": expected many_places, "
		     "new_place, volume, auth_guess, auth_spray, exposure, "
		     "refusals or budget_hits", str_escape(q, sizeof(q), x->arg));
		return;
	}
	for (size_t i = 0; i < x->n; i++) {
		k = wfind(det_keys, sizeof(det_keys) / sizeof(*det_keys),
			  x->v[i].key);
		if (k == NULL || (k->dets != 0 &&
				  !(k->dets & B(d - w->det))))
			werr(e, x->v[i].line, "unknown key \"%s\" in [detector "
			     "%s]", str_escape(q, sizeof(q), x->v[i].key),
			     d->name);
		else
			wset(e, k, d, &x->v[i]);
	}
}

struct wconf *wconf_build(struct cfg *cfg, char **errs)
{
	struct wconf *w = xcalloc(1, sizeof(*w));
	struct werrs e = {cfg->path, {0}, 0};
	char host[256];

	w->cfg = cfg_ref(cfg);
	w->interval = 30;
	w->database = xstrdup(cfg->database);
	w->webhook_url = xstrdup("");
	w->webhook_secret_file = xstrdup("");
	w->webhook_ca_file = xstrdup("");
	w->webhook_timeout = 10;
	w->mail_to = xstrdup("");
	w->mail_from = xstrdup("");
	w->sendmail_path = xstrdup("/usr/sbin/sendmail");
	w->syslog = true;
	w->geoip_country_db = xstrdup("");
	w->geoip_asn_db = xstrdup("");
	w->resolved_notice = true;
	memcpy(w->det, det_defaults, sizeof(w->det));
	if (cfg->node_name[0] != '\0') {
		w->node = xstrdup(cfg->node_name);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		w->node = xstrdup(host);
	}
	for (size_t i = 0; i < cfg->nsections; i++) {
		if (strcmp(cfg->sections[i].name, "watch") == 0)
			wsection_watch(&e, w, &cfg->sections[i]);
		else if (strcmp(cfg->sections[i].name, "detector") == 0)
			wsection_detector(&e, w, &cfg->sections[i]);
	}
	if (w->database[0] == '\0')
		werr(&e, 0, "portmilter-watch needs a database: set \"database\" "
		     "(global) or in [watch]");
	if (w->webhook_url[0] != '\0' &&
	    strncmp(w->webhook_url, "https://", 8) != 0 &&
	    strncmp(w->webhook_url, "http://", 7) != 0)
		werr(&e, 0, "webhook_url: expected an http:// or https:// URL");
	if (w->webhook_url[0] != '\0' && w->webhook_secret_file[0] == '\0')
		werr(&e, 0, "webhook_url needs webhook_secret_file (the HMAC "
		     "key of the signature header)");
	if (e.n > 0) {
		*errs = strbuf_take(&e.b);
		wconf_free(w);
		return NULL;
	}
	*errs = NULL;
	return w;
}

void wconf_free(struct wconf *w)
{
	if (w == NULL)
		return;
	cfg_unref(w->cfg);
	free(w->database);
	free(w->node);
	free(w->webhook_url);
	free(w->webhook_secret_file);
	free(w->webhook_ca_file);
	free(w->mail_to);
	free(w->mail_from);
	free(w->sendmail_path);
	free(w->geoip_country_db);
	free(w->geoip_asn_db);
	free(w);
}

size_t wconf_channels(const struct wconf *w, const char *v[3])
{
	size_t n = 0;

	if (w->webhook_url[0] != '\0')
		v[n++] = "webhook";
	if (w->mail_to[0] != '\0')
		v[n++] = "email";
	if (w->syslog)
		v[n++] = "syslog";
	return n;
}

static const char *dur(long s, char *buf, size_t len)
{
	if (s != 0 && s % DAY == 0)
		snprintf(buf, len, "%ldd", s / DAY);
	else if (s != 0 && s % 3600 == 0)
		snprintf(buf, len, "%ldh", s / 3600);
	else if (s != 0 && s % 60 == 0)
		snprintf(buf, len, "%ldm", s / 60);
	else
		snprintf(buf, len, "%lds", s);
	return buf;
}

void wconf_print(const struct wconf *w, FILE *fp)
{
	const bool geo = w->geoip_country_db[0] || w->geoip_asn_db[0];
	const char *ch[3];
	size_t nch = wconf_channels(w, ch);
	char a[24], b[24];

	fprintf(fp, "node %s, cycle %s, channels:", w->node,
		dur(w->interval, a, sizeof(a)));
	for (size_t i = 0; i < nch; i++)
		fprintf(fp, " %s", ch[i]);
	fprintf(fp, "%s, geo %s\n", nch ? "" : " none",
		geo ? "on" : "off (no geoip_country_db / geoip_asn_db)");
	fprintf(fp, "%-12s %-7s %9s %7s %-7s %8s  %s\n", "detector", "enabled",
		"threshold", "window", "action", "cooldown", "notes");
	for (int i = 0; i < WDET_N; i++) {
		const struct wdet *d = &w->det[i];
		const char *note = "";
		char extra[128] = "";

		if (i == WDET_MANY_PLACES)
			snprintf(extra, sizeof(extra), "networks; countries %ld, "
				 "asns %ld%s", d->countries, d->asns,
				 geo ? "" : " (off: no geo)");
		else if (i == WDET_VOLUME)
			snprintf(extra, sizeof(extra), "x p95 of %s; floor %ld "
				 "messages, %ld recipients",
				 dur(d->baseline, b, sizeof(b)), d->floor,
				 d->floor_recipients);
		else if (i == WDET_REFUSALS)
			snprintf(extra, sizeof(extra), "refused recipients, "
				 ">= %ld%%", d->ratio);
		else if (i == WDET_NEW_PLACE)
			note = geo ? "" : "off: needs geoip_country_db or "
			       "geoip_asn_db";
		fprintf(fp, "%-12s %-7s %9ld %7s %-7s %8s  %s%s\n", d->name,
			d->enabled ? "yes" : "no", d->threshold,
			dur(d->window, a, sizeof(a)),
			d->action == WDET_SUSPEND ? "suspend" : "alert",
			dur(d->cooldown, b, sizeof(b)), extra, note);
	}
}
