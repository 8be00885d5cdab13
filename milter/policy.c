/*
 * policy - the per-port rule engine (see policy.h for the contract).
 *
 * Everything here is a pure function of its arguments: no libmilter,
 * no I/O, no global state, no allocation. Addresses come straight from
 * the SMTP client and may be NULL, empty, huge or hostile: they are
 * only ever scanned within their own length, and a domain that does
 * not fit the local buffer is never treated as local (a truncated
 * domain could otherwise look like a local one).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "policy.h"

/* Longer than any DNS name (253): a domain that does not fit is not ours. */
#define POLICY_DOMAIN_MAX 256

#define TEXT_NO_SERVICE "Service not available on this port"

static struct policy_verdict verdict_continue(void)
{
	struct policy_verdict v;

	memset(&v, 0, sizeof(v));
	v.action = POLICY_CONTINUE;
	return v;
}

/*
 * A verdict with a reply. The text is copied (truncated if need be) and
 * any CR, LF or '%' in it becomes a blank: libmilter and Postfix refuse
 * or misread such reply text.
 */
static struct policy_verdict verdict(enum policy_action action,
				     const char *rule, const char *rcode,
				     const char *xcode, const char *text)
{
	struct policy_verdict v = verdict_continue();
	char *p;

	v.action = action;
	v.rule = rule;
	v.rcode = rcode;
	v.xcode = xcode;
	snprintf(v.text, sizeof(v.text), "%s", text ? text : "");
	for (p = v.text; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || *p == '%')
			*p = ' ';
	return v;
}

const struct cfg_port *policy_profile(const struct cfg *cfg, unsigned port,
				      bool *known)
{
	const struct cfg_port *p = NULL;

	if (port != 0)
		p = cfg_port_find(cfg, port);
	if (known != NULL)
		*known = (p != NULL);
	return p != NULL ? p : &cfg->strict;
}

/* Does the list hold a /0 of this family? */
static bool networks_have_any(const struct cfg_nets *nets, int family)
{
	size_t i;

	for (i = 0; i < nets->n; i++)
		if (nets->v[i].net.family == family && nets->v[i].prefix == 0)
			return true;
	return false;
}

/* An unknown client address passes only a list that allows everything. */
static bool client_allowed(const struct cfg_port *p, const struct pm_addr *a)
{
	if (p->networks.v == NULL)
		return false;
	if (a->family == 0)
		return networks_have_any(&p->networks, AF_INET) &&
		       networks_have_any(&p->networks, AF_INET6);
	return cfg_nets_has(&p->networks, a);
}

struct policy_verdict policy_connect(const struct cfg *cfg,
				     const struct policy_facts *facts)
{
	bool known;
	const struct cfg_port *p = policy_profile(cfg, facts->port, &known);

	if (!known && cfg->unknown_port == CFG_UNKNOWN_REJECT)
		return verdict(POLICY_REJECT, "unknown_port", "554", "5.7.1",
			       TEXT_NO_SERVICE);
	if (!p->enabled)
		return verdict(POLICY_REJECT, "port_disabled", "554", "5.7.1",
			       TEXT_NO_SERVICE);
	if (!client_allowed(p, &facts->client))
		return verdict(POLICY_REJECT, "client_networks", "554",
			       "5.7.1", "Client address not allowed on this port");
	return verdict_continue();
}

static struct policy_verdict min_tls_reject(int min)
{
	char text[64];

	snprintf(text, sizeof(text), "%s or newer required",
		 cfg_tls_version_name(min));
	return verdict(POLICY_REJECT, "min_tls_version", "554", "5.7.0", text);
}

struct policy_verdict policy_mail(const struct cfg *cfg,
				  const struct policy_facts *facts)
{
	const struct cfg_port *p = policy_profile(cfg, facts->port, NULL);
	int tls = facts->tls_version;
	struct policy_verdict v;

	if (facts->authenticated && tls == PM_TLS_NONE && p->tls_before_auth) {
		v = verdict(POLICY_REJECT, "tls_before_auth", "538", "5.7.11",
			    "Encryption required for requested authentication"
			    " mechanism");
		v.credential_exposure = true;
		return v;
	}
	if (p->require_tls && tls == PM_TLS_NONE)
		return verdict(POLICY_REJECT, "require_tls", "530", "5.7.0",
			       p->mode == CFG_MODE_SUBMISSIONS ?
			       "Encryption required on this port" :
			       "Must issue a STARTTLS command first");
	if (tls != PM_TLS_NONE && p->min_tls_version != PM_TLS_NONE &&
	    (tls == PM_TLS_UNKNOWN || tls < p->min_tls_version))
		return min_tls_reject(p->min_tls_version);
	if (p->require_auth && !facts->authenticated)
		return verdict(POLICY_REJECT, "require_auth", "530", "5.7.0",
			       "Authentication required");
	return verdict_continue();
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The address without surrounding blanks and one pair of surrounding
 * angle brackets (and the blanks inside them): *start and *len.
 */
static void addr_strip(const char *addr, const char **start, size_t *len)
{
	const char *s = addr;
	size_t n = strlen(addr);

	while (n > 0 && is_blank(*s))
		s++, n--;
	while (n > 0 && is_blank(s[n - 1]))
		n--;
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		s++, n -= 2;
		while (n > 0 && is_blank(*s))
			s++, n--;
		while (n > 0 && is_blank(s[n - 1]))
			n--;
	}
	*start = s;
	*len = n;
}

/* The last '@' in s[0..n), or NULL. */
static const char *last_at(const char *s, size_t n)
{
	while (n > 0) {
		n--;
		if (s[n] == '@')
			return s + n;
	}
	return NULL;
}

static bool span_has_any(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr(set, s[i]) != NULL)
			return true;
	return false;
}

bool policy_addr_is_routed(const char *addr)
{
	const char *s, *at;
	size_t n;

	if (addr == NULL)
		return false;
	addr_strip(addr, &s, &n);
	if (n == 0)
		return false;
	if (s[0] == '@')
		return true;
	at = last_at(s, n);
	if (at == NULL)
		return span_has_any(s, n, "!%");
	return span_has_any(s, (size_t)(at - s), "%!@:");
}

/* The domain of addr, one trailing dot removed, not lower-cased yet. */
static void addr_domain_span(const char *addr, const char **dom, size_t *n)
{
	const char *s, *at;
	size_t len;

	*dom = "";
	*n = 0;
	if (addr == NULL)
		return;
	addr_strip(addr, &s, &len);
	at = last_at(s, len);
	if (at == NULL)
		return;
	*dom = at + 1;
	*n = len - (size_t)(*dom - s);
	if (*n > 0 && (*dom)[*n - 1] == '.')
		(*n)--;
}

const char *policy_addr_domain(const char *addr, char *buf, size_t len)
{
	const char *dom;
	size_t n, i;

	if (buf == NULL || len == 0)
		return "";
	addr_domain_span(addr, &dom, &n);
	if (n > len - 1)
		n = len - 1;
	for (i = 0; i < n; i++)
		buf[i] = (dom[i] >= 'A' && dom[i] <= 'Z') ?
			 (char)(dom[i] - 'A' + 'a') : dom[i];
	buf[n] = '\0';
	return buf;
}

/* Is the recipient ours (delivered here or a domain we relay for)? */
static bool rcpt_is_local(const struct cfg *cfg, const char *addr,
			  const char *mailer)
{
	char domain[POLICY_DOMAIN_MAX];
	const char *dom;
	size_t n;

	if (policy_addr_is_routed(addr))
		return false;
	if (mailer != NULL && cfg_strlist_has(&cfg->local_transports, mailer))
		return true;
	addr_domain_span(addr, &dom, &n);
	if (n == 0 || n >= sizeof(domain))
		return false;
	policy_addr_domain(addr, domain, sizeof(domain));
	return cfg_domain_in(&cfg->local_domains, domain) ||
	       cfg_domain_in(&cfg->relay_domains, domain);
}

struct policy_verdict policy_rcpt(const struct cfg *cfg,
				  const struct policy_facts *facts,
				  const struct policy_rcpt *rcpt)
{
	const struct cfg_port *p = policy_profile(cfg, facts->port, NULL);
	const char *addr = rcpt != NULL ? rcpt->addr : NULL;
	const char *mailer = rcpt != NULL ? rcpt->mailer : NULL;
	struct policy_verdict v;

	if (mailer != NULL && strcmp(mailer, "error") == 0) {
		v = verdict_continue();
		v.rule = "postfix_rejected";
		v.postfix_rejected = true;
		return v;
	}
	if (facts->nrcpt >= p->max_recipients)
		return verdict(POLICY_TEMPFAIL, "max_recipients", "452",
			       "4.5.3", "Too many recipients");
	v = verdict_continue();
	if (facts->authenticated || p->allow_unauth_relay ||
	    rcpt_is_local(cfg, addr, mailer))
		return v;
	/* A relay without AUTH: only from the port's relay_networks (an
	 * unknown client address is in none). */
	if (!cfg_nets_has(&p->relay_networks, &facts->client))
		return verdict(POLICY_REJECT, "relay", "554", "5.7.1",
			       "Relay access denied");
	v.relay_networks = true;
	return v;
}
