/*
 * standin - TEMPORARY stand-in for watch/notify.h and watch/geo.h (the
 * notify branch's interfaces, fixed in the brief). Deleted when that
 * branch is merged: include "notify.h" and "geo.h" instead.
 */
#ifndef PM_STANDIN_H
#define PM_STANDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct notify_cfg {
	const char *webhook_url, *webhook_secret_file, *webhook_ca_file;
	int webhook_timeout_s;
	const char *mail_to, *mail_from, *sendmail_path;
	bool syslog;
};

int notify_run(PGconn *conn, const struct notify_cfg *cfg, const char *node);

struct geo;
struct geo *geo_open(const char *country_db, const char *asn_db, char *err,
		     size_t errlen);
bool geo_lookup(struct geo *g, const char *addr, char country[3],
		uint32_t *asn);
void geo_close(struct geo *g);

#endif
