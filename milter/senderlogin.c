/*
 * senderlogin - the sender_login check (see senderlogin.h).
 */
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "senderlogin.h"

#define SL_MAX	512

/* s without blanks and one pair of <> (and the blanks inside), lower case, one trailing dot
 * removed, into buf; false if it does not fit. */
static bool sl_norm(const char *s, char *buf, size_t len)
{
	size_t n;

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++;
		n -= 2;
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
	}
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n >= len)
		return false;
	for (size_t i = 0; i < n; i++)
		buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char) (s[i] - 'A' + 'a')
						    : s[i];
	buf[n] = '\0';
	return true;
}

static bool sl_listed(const struct cfg_strlist *owners, const char *login)
{
	return owners != NULL && cfg_strlist_has(owners, login);
}

bool senderlogin_owned(const struct cfg *cfg, enum cfg_sender_login mode,
		       const char *login, const char *sender)
{
	char s[SL_MAX + 1], l[SL_MAX + 1];
	const char *sat, *lat;
	const struct cfg_strlist *owners;

	if (mode == CFG_SL_NONE)
		return true;
	if (!sl_norm(sender ? sender : "", s, sizeof(s)))
		return false;
	if (s[0] == '\0')
		return true;		/* <>: bounces are nobody's */
	if (policy_addr_is_routed(s) || login == NULL ||
	    !sl_norm(login, l, sizeof(l)) || l[0] == '\0')
		return false;
	sat = strrchr(s, '@');
	switch (mode) {
	case CFG_SL_EXACT:
		return strcmp(s, l) == 0;
	case CFG_SL_DOMAIN:
		lat = strrchr(l, '@');
		return sat != NULL && lat != NULL && lat[1] != '\0' &&
		       strcmp(sat, lat) == 0;
	case CFG_SL_MAP:
		owners = cfg_sender_owners(cfg, s);
		if (owners == NULL && sat != NULL)
			owners = cfg_sender_owners(cfg, sat);
		return sl_listed(owners, l);
	default:
		return false;
	}
}
