/*
 * geo - country and autonomous system of a client address, from
 * MaxMind-format databases (libmaxminddb): GeoLite2-Country or -City,
 * DB-IP's country files (country.iso_code, else
 * registered_country.iso_code) and GeoLite2-ASN or DB-IP's ASN files
 * (autonomous_system_number). The admin downloads them; portmilter
 * ships none.
 *
 * geo_open() opens either database or both (a NULL or empty path: that
 * one is off). It fails (NULL, and the reason with the file's name in
 * err) if a file cannot be opened or is not a MaxMind database, or if
 * the two are swapped (the ASN file's metadata database_type must name
 * "ASN", the country file's must not). Both NULL is a valid, empty
 * geo: every lookup fails.
 *
 * geo_lookup() looks addr up: a textual IPv4 or IPv6 address (an
 * IPv4-mapped IPv6 address "::ffff:a.b.c.d" is looked up as a.b.c.d; no
 * host names are resolved, ever). country gets the ISO 3166 code in
 * upper case ("" if unknown), *asn the AS number (0 if unknown). It
 * returns true if either was found; false for an address that is not
 * in the databases, not an address, or a database error (then a warning
 * is logged once per geo).
 *
 * geo_close() frees it (NULL is fine). A geo is read-only after
 * geo_open(): lookups from several threads at once are safe.
 */
#ifndef PM_GEO_H
#define PM_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct geo;

struct geo *geo_open(const char *country_db, const char *asn_db, char *err,
		     size_t errlen);
bool geo_lookup(struct geo *g, const char *addr, char country[3],
		uint32_t *asn);
void geo_close(struct geo *g);

#endif
