/*
 * geo - MaxMind-format lookups (libmaxminddb). See geo.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <maxminddb.h>

#include "geo.h"
#include "msg.h"
#include "util.h"

struct geo {
	MMDB_s country, asn;
	bool has_country, has_asn;
	atomic_bool warned;
};

static bool open_one(MMDB_s *db, const char *path, bool want_asn, char *err,
		     size_t errlen)
{
	const char *kind = want_asn ? "ASN" : "country";
	const char *type;
	char ep[256], et[128];
	int rc, e;

	str_escape(ep, sizeof(ep), path);
	errno = 0;
	rc = MMDB_open(path, MMDB_MODE_MMAP, db);
	e = errno;
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "cannot open the %s database \"%s\": %s%s%s",
			 kind, ep, MMDB_strerror(rc),
			 (rc == MMDB_IO_ERROR || rc == MMDB_FILE_OPEN_ERROR) && e != 0 ? ": " : "",
			 (rc == MMDB_IO_ERROR || rc == MMDB_FILE_OPEN_ERROR) && e != 0 ? strerror(e) : "");
		return false;
	}
	type = db->metadata.database_type ? db->metadata.database_type : "";
	if ((strstr(type, "ASN") != NULL) != want_asn) {
		str_escape(et, sizeof(et), type);
		snprintf(err, errlen, "\"%s\" is a \"%s\" database, not %s %s database: are the country and ASN files swapped?",
			 ep, et, want_asn ? "an" : "a", kind);
		MMDB_close(db);
		return false;
	}
	return true;
}

struct geo *geo_open(const char *country_db, const char *asn_db, char *err,
		     size_t errlen)
{
	struct geo *g = xcalloc(1, sizeof(*g));

	atomic_init(&g->warned, false);
	if (country_db != NULL && *country_db != '\0') {
		if (!open_one(&g->country, country_db, false, err, errlen)) {
			free(g);
			return NULL;
		}
		g->has_country = true;
	}
	if (asn_db != NULL && *asn_db != '\0') {
		if (!open_one(&g->asn, asn_db, true, err, errlen)) {
			geo_close(g);
			return NULL;
		}
		g->has_asn = true;
	}
	return g;
}

/* addr as a socket address (numeric only; IPv4-mapped made IPv4). */
static bool to_sockaddr(const char *addr, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (addr == NULL || strnlen(addr, 64) >= 64)
		return false;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
		return false;
	s6->sin6_family = AF_INET6;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct in_addr v4;

		memcpy(&v4, &s6->sin6_addr.s6_addr[12], 4);
		memset(ss, 0, sizeof(*ss));
		s4->sin_family = AF_INET;
		s4->sin_addr = v4;
	}
	return true;
}

static void warn_once(struct geo *g, const char *what, int rc)
{
	if (!atomic_exchange(&g->warned, true))
		msg_warn("geo: %s lookup failed: %s (further errors not logged)",
			 what, MMDB_strerror(rc));
}

/* The entry for sa in db, or false (not found, or an error: warned). */
static bool find(struct geo *g, MMDB_s *db, const struct sockaddr *sa,
		 const char *what, MMDB_lookup_result_s *res)
{
	int rc = MMDB_SUCCESS;

	*res = MMDB_lookup_sockaddr(db, sa, &rc);
	if (rc == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
		return false;	/* an IPv4-only file: not there */
	if (rc != MMDB_SUCCESS) {
		warn_once(g, what, rc);
		return false;
	}
	return res->found_entry;
}

static bool country_of(struct geo *g, const struct sockaddr *sa, char country[3])
{
	static const char *const paths[][3] = {
		{"country", "iso_code", NULL},
		{"registered_country", "iso_code", NULL},
	};
	MMDB_lookup_result_s res;

	if (!g->has_country || !find(g, &g->country, sa, "country", &res))
		return false;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		MMDB_entry_data_s d;
		int rc = MMDB_aget_value(&res.entry, &d, paths[i]);

		if (rc != MMDB_SUCCESS) {
			if (rc != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
				warn_once(g, "country", rc);
			continue;
		}
		if (!d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
			continue;
		for (int k = 0; k < 2; k++) {
			char c = d.utf8_string[k];

			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			if (c < 'A' || c > 'Z')
				goto next;
			country[k] = c;
		}
		country[2] = '\0';
		return true;
next:;
	}
	country[0] = '\0';
	return false;
}

static bool asn_of(struct geo *g, const struct sockaddr *sa, uint32_t *asn)
{
	static const char *const path[] = {"autonomous_system_number", NULL};
	MMDB_lookup_result_s res;
	MMDB_entry_data_s d;
	int rc;

	if (!g->has_asn || !find(g, &g->asn, sa, "ASN", &res))
		return false;
	rc = MMDB_aget_value(&res.entry, &d, path);
	if (rc != MMDB_SUCCESS) {
		if (rc != MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR)
			warn_once(g, "ASN", rc);
		return false;
	}
	if (!d.has_data)
		return false;
	if (d.type == MMDB_DATA_TYPE_UINT32)
		*asn = d.uint32;
	else if (d.type == MMDB_DATA_TYPE_UINT16)
		*asn = d.uint16;
	else if (d.type == MMDB_DATA_TYPE_UINT64 && d.uint64 <= UINT32_MAX)
		*asn = (uint32_t)d.uint64;
	else
		return false;
	return *asn != 0;
}

bool geo_lookup(struct geo *g, const char *addr, char country[3],
		uint32_t *asn)
{
	struct sockaddr_storage ss;
	bool c, a;

	country[0] = '\0';
	*asn = 0;
	if (g == NULL || !to_sockaddr(addr, &ss))
		return false;
	c = country_of(g, (const struct sockaddr *)&ss, country);
	a = asn_of(g, (const struct sockaddr *)&ss, asn);
	if (!a)
		*asn = 0;
	return c || a;
}

void geo_close(struct geo *g)
{
	if (g == NULL)
		return;
	if (g->has_country)
		MMDB_close(&g->country);
	if (g->has_asn)
		MMDB_close(&g->asn);
	free(g);
}
