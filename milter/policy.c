/*
 * policy - the per-port rule engine (see policy.h for the contract).
 *
 * Everything here is a pure function of its arguments: no libmilter,
 * no I/O, no mutable global state, no allocation. The replies come from
 * one table of rules (policy_rules). Addresses come straight from
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

#include "msg.h"
#include "policy.h"

/* Longer than any DNS name (253): a domain that does not fit is not ours. */
#define POLICY_DOMAIN_MAX 256

/*
 * The rules: one row each, in the order of policy.h's enum. A new rule
 * is a row here, a name in the enum and a row of README's table
 * (tests/doc/rules.sh compares them). A row without codes does not
 * reply (postfix_rejected: recorded only).
 */
static const struct policy_rule policy_rules[POLICY_RULE_COUNT] = {
	[POLICY_RULE_UNKNOWN_PORT] = {"unknown_port", "connect",
		POLICY_REJECT, "554", "5.7.1",
		"Service not available on this port"},
	[POLICY_RULE_PORT_DISABLED] = {"port_disabled", "connect",
		POLICY_REJECT, "554", "5.7.1",
		"Service not available on this port"},
	[POLICY_RULE_CLIENT_NETWORKS] = {"client_networks", "connect",
		POLICY_REJECT, "554", "5.7.1",
		"Client address not allowed on this port"},
	[POLICY_RULE_TLS_BEFORE_AUTH] = {"tls_before_auth", "MAIL",
		POLICY_REJECT, "538", "5.7.11",
		"Encryption required for requested authentication mechanism"},
	[POLICY_RULE_REQUIRE_TLS] = {"require_tls", "MAIL",
		POLICY_REJECT, "530", "5.7.0",
		"Must issue a STARTTLS command first"},
	[POLICY_RULE_REQUIRE_TLS_IMPLICIT] = {"require_tls", "MAIL",
		POLICY_REJECT, "530", "5.7.0",
		"Encryption required on this port"},
	[POLICY_RULE_MIN_TLS_VERSION] = {"min_tls_version", "MAIL",
		POLICY_REJECT, "554", "5.7.0",
		"or newer required"},
	[POLICY_RULE_REQUIRE_AUTH] = {"require_auth", "MAIL",
		POLICY_REJECT, "530", "5.7.0",
		"Authentication required"},
	[POLICY_RULE_JOURNAL_FULL] = {"journal_full", "MAIL",
		POLICY_TEMPFAIL, "451", "4.3.0",
		"Temporary local problem, try again later"},
	[POLICY_RULE_POSTFIX_REJECTED] = {"postfix_rejected", "RCPT",
		POLICY_CONTINUE, NULL, NULL, NULL},
	[POLICY_RULE_MAX_RECIPIENTS] = {"max_recipients", "RCPT",
		POLICY_TEMPFAIL, "452", "4.5.3",
		"Too many recipients"},
	[POLICY_RULE_RELAY] = {"relay", "RCPT",
		POLICY_REJECT, "554", "5.7.1",
		"Relay access denied"},
	[POLICY_RULE_SENDER_LOGIN] = {"sender_login", "MAIL",
		POLICY_REJECT, "553", "5.7.1",
		"Sender address rejected: not owned by the authenticated user"},
	/* budgets: the text is the unit; policy_limit_verdict() says
	 * "Sending limit reached: N UNIT per WINDOW" */
	[POLICY_RULE_LIMIT_MESSAGES] = {"limit_messages", "MAIL",
		POLICY_TEMPFAIL, "451", "4.7.1", "messages"},
	[POLICY_RULE_LIMIT_MESSAGES_REJECT] = {"limit_messages", "MAIL",
		POLICY_REJECT, "550", "5.7.1", "messages"},
	[POLICY_RULE_LIMIT_BYTES] = {"limit_bytes", "MAIL",
		POLICY_TEMPFAIL, "451", "4.7.1", "bytes"},
	[POLICY_RULE_LIMIT_BYTES_REJECT] = {"limit_bytes", "MAIL",
		POLICY_REJECT, "550", "5.7.1", "bytes"},
	[POLICY_RULE_LIMIT_RECIPIENTS] = {"limit_recipients", "RCPT",
		POLICY_TEMPFAIL, "452", "4.7.1", "recipients"},
	[POLICY_RULE_LIMIT_RECIPIENTS_REJECT] = {"limit_recipients", "RCPT",
		POLICY_REJECT, "550", "5.7.1", "recipients"},
	/* RFC 5321 lists 550, not 554, among the replies to MAIL */
	[POLICY_RULE_SUSPENDED_USER] = {"suspended", "MAIL",
		POLICY_REJECT, "550", "5.7.1",
		"Account suspended, contact your provider"},
	[POLICY_RULE_SUSPENDED_ADDRESS] = {"suspended", "MAIL",
		POLICY_REJECT, "550", "5.7.1",
		"Client address suspended, contact your provider"},
};

static struct policy_verdict verdict_continue(void)
{
	struct policy_verdict v;

	memset(&v, 0, sizeof(v));
	v.action = POLICY_CONTINUE;
	return v;
}

const struct policy_rule *policy_rule(enum policy_rule_id id)
{
	if ((unsigned)id >= POLICY_RULE_COUNT)
		msg_panic("policy_rule: bad rule id %d", (int)id);
	return &policy_rules[id];
}

/*
 * The verdict of a rule. The text is copied (truncated if need be),
 * after the TLS version for min_tls_version, and any CR, LF or '%' in
 * it becomes a blank: libmilter and Postfix refuse or misread such
 * reply text.
 */
struct policy_verdict policy_rule_verdict(enum policy_rule_id id,
					  int tls_version)
{
	const struct policy_rule *r = policy_rule(id);
	struct policy_verdict v = verdict_continue();
	char *p;

	v.action = r->action;
	v.rule = r->name;
	v.rcode = r->rcode;
	v.xcode = r->xcode;
	if (id == POLICY_RULE_MIN_TLS_VERSION)
		snprintf(v.text, sizeof(v.text), "%s %s",
			 cfg_tls_version_name(tls_version), r->text);
	else
		snprintf(v.text, sizeof(v.text), "%s", r->text ? r->text : "");
	for (p = v.text; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || *p == '%')
			*p = ' ';
	return v;
}

static struct policy_verdict verdict(enum policy_rule_id id)
{
	return policy_rule_verdict(id, 0);
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
		return verdict(POLICY_RULE_UNKNOWN_PORT);
	if (!p->enabled)
		return verdict(POLICY_RULE_PORT_DISABLED);
	if (!client_allowed(p, &facts->client))
		return verdict(POLICY_RULE_CLIENT_NETWORKS);
	return verdict_continue();
}

struct policy_verdict policy_mail(const struct cfg *cfg,
				  const struct policy_facts *facts)
{
	const struct cfg_port *p = policy_profile(cfg, facts->port, NULL);
	int tls = facts->tls_version;
	struct policy_verdict v;

	if (facts->authenticated && tls == PM_TLS_NONE && p->tls_before_auth) {
		v = verdict(POLICY_RULE_TLS_BEFORE_AUTH);
		v.credential_exposure = true;
		return v;
	}
	if (p->require_tls && tls == PM_TLS_NONE)
		return verdict(p->mode == CFG_MODE_SUBMISSIONS ?
			       POLICY_RULE_REQUIRE_TLS_IMPLICIT :
			       POLICY_RULE_REQUIRE_TLS);
	if (tls != PM_TLS_NONE && p->min_tls_version != PM_TLS_NONE &&
	    (tls == PM_TLS_UNKNOWN || tls < p->min_tls_version))
		return policy_rule_verdict(POLICY_RULE_MIN_TLS_VERSION,
					   p->min_tls_version);
	if (p->require_auth && !facts->authenticated)
		return verdict(POLICY_RULE_REQUIRE_AUTH);
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
		v = verdict(POLICY_RULE_POSTFIX_REJECTED);
		v.postfix_rejected = true;
		return v;
	}
	if (facts->nrcpt >= p->max_recipients)
		return verdict(POLICY_RULE_MAX_RECIPIENTS);
	v = verdict_continue();
	if (facts->authenticated || p->allow_unauth_relay ||
	    rcpt_is_local(cfg, addr, mailer))
		return v;
	/* A relay without AUTH: only from the port's relay_networks (an
	 * unknown client address is in none). */
	if (!cfg_nets_has(&p->relay_networks, &facts->client))
		return verdict(POLICY_RULE_RELAY);
	v.relay_networks = true;
	return v;
}

struct policy_verdict policy_limit_verdict(enum policy_rule_id id,
					   const struct cfg_limit *lim)
{
	struct policy_verdict v = verdict(id);
	struct cfg_limits one = { 1, { *lim } };
	char n[64], *slash;

	if (id < POLICY_RULE_LIMIT_MESSAGES || id > POLICY_RULE_LIMIT_RECIPIENTS_REJECT)
		msg_panic("policy_limit_verdict: %s is no budget rule", v.rule);
	/* "200/1h" -> "Sending limit reached: 200 messages per 1h" */
	cfg_limits_text(&one, id == POLICY_RULE_LIMIT_BYTES ||
			id == POLICY_RULE_LIMIT_BYTES_REJECT, n, sizeof(n));
	if ((slash = strchr(n, '/')) == NULL)
		msg_panic("policy_limit_verdict: \"%s\" has no window", n);
	*slash = '\0';
	snprintf(v.text, sizeof(v.text), "Sending limit reached: %s %s per %s%s",
		 n, policy_rule(id)->text, slash + 1,
		 v.action == POLICY_TEMPFAIL ? ", try again later" : "");
	return v;
}

struct policy_verdict policy_limit(const struct cfg_port *p,
				   enum cfg_limit_key key,
				   const struct cfg_limit *lim)
{
	static const enum policy_rule_id ids[CFG_NLIMITS][2] = {
		[CFG_LIMIT_MESSAGES] = { POLICY_RULE_LIMIT_MESSAGES,
					 POLICY_RULE_LIMIT_MESSAGES_REJECT },
		[CFG_LIMIT_RECIPIENTS] = { POLICY_RULE_LIMIT_RECIPIENTS,
					   POLICY_RULE_LIMIT_RECIPIENTS_REJECT },
		[CFG_LIMIT_BYTES] = { POLICY_RULE_LIMIT_BYTES,
				      POLICY_RULE_LIMIT_BYTES_REJECT },
	};
	struct policy_verdict v;

	if ((unsigned) key >= CFG_NLIMITS)
		msg_panic("policy_limit: bad key %d", (int) key);
	v = policy_limit_verdict(ids[key][p->limit_action != CFG_LIMIT_TEMPFAIL],
				 lim);
	if (p->limit_action == CFG_LIMIT_HOLD) {
		/* accepted into the hold queue: the text is the reason */
		v.action = POLICY_CONTINUE;
		v.rcode = v.xcode = NULL;
		v.hold = true;
	}
	if (!p->limits_enforce) {
		v.monitor = true;
		v.action = POLICY_CONTINUE;
	}
	return v;
}

struct policy_verdict policy_sender_login(const struct cfg_port *p)
{
	struct policy_verdict v = verdict(POLICY_RULE_SENDER_LOGIN);

	if (!p->limits_enforce) {
		v.monitor = true;
		v.action = POLICY_CONTINUE;
	}
	return v;
}
