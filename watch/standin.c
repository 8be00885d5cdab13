/* standin - TEMPORARY: see standin.h. Delivers nothing, no geo. */
#include <stdio.h>

#include "standin.h"

int notify_run(PGconn *conn, const struct notify_cfg *cfg, const char *node)
{
	(void) conn;
	(void) cfg;
	(void) node;
	return 0;
}

struct geo *geo_open(const char *country_db, const char *asn_db, char *err,
		     size_t errlen)
{
	(void) country_db;
	(void) asn_db;
	snprintf(err, errlen, "GeoIP lookups are not built in (stand-in)");
	return NULL;
}

bool geo_lookup(struct geo *g, const char *addr, char country[3],
		uint32_t *asn)
{
	(void) g;
	(void) addr;
	country[0] = '\0';
	*asn = 0;
	return false;
}

void geo_close(struct geo *g)
{
	(void) g;
}
