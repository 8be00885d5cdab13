/*
 * cfg_lookup - the lookups every program makes on a loaded
 * configuration: is a domain, a word or an address in one of its lists.
 * Pure functions; a NULL list or value is in no list. See cfg.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "addr.h"
#include "cfg.h"

/* ASCII case-insensitive comparison of n bytes. */
static bool cfg_ncase_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ca = (unsigned char) a[i], cb = (unsigned char) b[i];

		ca += ca >= 'A' && ca <= 'Z' ? 'a' - 'A' : 0;
		cb += cb >= 'A' && cb <= 'Z' ? 'a' - 'A' : 0;
		if (ca != cb)
			return false;
	}
	return true;
}

bool cfg_domain_in(const struct cfg_strlist *list, const char *domain)
{
	size_t dlen, elen;
	const char *e;

	if (list == NULL || domain == NULL)
		return false;
	dlen = strlen(domain);
	dlen -= dlen > 0 && domain[dlen - 1] == '.';
	if (dlen == 0)
		return false;
	for (size_t i = 0; i < list->n; i++) {
		e = list->v[i];
		elen = strlen(e);
		elen -= elen > 0 && e[elen - 1] == '.';
		if (elen == 0 || (e[0] == '.' && elen == 1))
			continue;
		if (e[0] == '.' ? dlen > elen &&
		    cfg_ncase_eq(domain + dlen - elen, e, elen) :
		    dlen == elen && cfg_ncase_eq(domain, e, elen))
			return true;
	}
	return false;
}

bool cfg_strlist_has(const struct cfg_strlist *list, const char *word)
{
	if (list == NULL || word == NULL)
		return false;
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->v[i], word) == 0)
			return true;
	return false;
}

bool cfg_nets_has(const struct cfg_nets *nets, const struct pm_addr *addr)
{
	if (nets == NULL || addr == NULL || addr->family == 0)
		return false;
	for (size_t i = 0; i < nets->n; i++)
		if (cidr_match(&nets->v[i], addr))
			return true;
	return false;
}
