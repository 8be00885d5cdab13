/*
 * wconf - portmilter-watch's settings: the [watch] and [detector NAME]
 * sections of portmilter.conf (lib/cfg.h keeps them as text; the milter
 * and portmilter-conf ignore them), checked against the tables of
 * wconf.c. Every key, its default and the reasoning: doc/watch.md.
 *
 *   [watch]
 *   interval = 30s            evaluation cycle, 1s..1h
 *   database = CONNINFO       default: the global "database"
 *   webhook_url = https://..  (empty = no webhook channel)
 *   webhook_secret_file, webhook_ca_file = PATH, webhook_timeout = 10s
 *   mail_to = ADDR[, ADDR]    (empty = no e-mail channel)
 *   mail_from = ADDR, sendmail_path = /usr/sbin/sendmail
 *   syslog = yes|no           a log line per alert (channel syslog)
 *   geoip_country_db, geoip_asn_db = PATH   MaxMind-format files
 *   resolved_notice = yes|no  an alert "resolved" when a condition clears
 *
 *   [detector many_places]    (and new_place, volume, auth_guess,
 *   enabled = yes|no           auth_spray, exposure, refusals,
 *   threshold = N              budget_hits)
 *   window = DURATION         N followed by s, m, h or d
 *   action = alert|suspend
 *   cooldown = DURATION
 *   + a detector's own keys (countries, asns, floor, ...: wconf.c)
 *
 * wconf_build() checks every key of those sections: unknown detector or
 * key, bad value, each an error "FILE:LINE: message" appended to *errs
 * (a malloc'd text; free it). The result is owned by the caller
 * (wconf_free). Nothing is defaulted silently after an error.
 */
#ifndef PM_WCONF_H
#define PM_WCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

enum wdet_id {
	WDET_MANY_PLACES,
	WDET_NEW_PLACE,
	WDET_VOLUME,
	WDET_AUTH_GUESS,
	WDET_AUTH_SPRAY,
	WDET_EXPOSURE,
	WDET_REFUSALS,
	WDET_BUDGET_HITS,
	WDET_N
};

enum wdet_action {
	WDET_ALERT,
	WDET_SUSPEND,
};

/* A detector's settings; extra keys by detector (0 where unused). */
struct wdet {
	const char *name;		/* static */
	bool enabled;
	long threshold;
	long window;			/* seconds */
	enum wdet_action action;
	long cooldown;			/* seconds */
	long countries, asns;		/* many_places (geo only) */
	long floor, floor_recipients;	/* volume */
	long baseline;			/* volume: seconds of history */
	long ratio;			/* refusals: percent refused */
	long history, established;	/* new_place: seconds */
};

struct wconf {
	struct cfg *cfg;		/* one reference (classes, node_name) */
	long interval;			/* seconds */
	char *database;
	char *node;			/* node_name, else the host name */
	char *webhook_url, *webhook_secret_file, *webhook_ca_file;
	long webhook_timeout;
	char *mail_to, *mail_from, *sendmail_path;
	bool syslog;
	char *geoip_country_db, *geoip_asn_db;	/* "" = none */
	bool resolved_notice;
	struct wdet det[WDET_N];
};

/* Build from a loaded configuration (takes its own reference). NULL
 * with *errs set on any error. */
struct wconf *wconf_build(struct cfg *cfg, char **errs);
void wconf_free(struct wconf *w);

/* "30s" "2m" "1h" "14d" into seconds, min..max; false if not that. */
bool wconf_duration(const char *text, long min, long max, long *out);

/* The delivery channels configured ("webhook", "email", "syslog"),
 * into v (room for 3); returns how many. */
size_t wconf_channels(const struct wconf *w, const char *v[3]);

/* Print the effective settings (portmilter-watch -n). */
void wconf_print(const struct wconf *w, FILE *fp);

#endif
