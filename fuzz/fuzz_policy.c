/*
 * fuzz_policy - the policy engine (milter/policy.c) fed arbitrary
 * configurations and session facts.
 *
 * Input: "CONFIG\n%%\nFACTS": a portmilter.conf text (without a "%%"
 * line: etc/portmilter.conf's layout, built in below), then the facts
 * as bytes:
 *   0      flags: 1 authenticated, 2 {rcpt_mailer} sent,
 *          4 IPv6 client, 8 client unknown
 *   1..2   {daemon_port}, big-endian (0 = missing)
 *   3      TLS version (PM_TLS_*: taken modulo 15, 14 = unknown)
 *   4..5   recipients accepted so far
 *   6..21  client address bytes
 *   22..   RCPT TO argument, NUL, {rcpt_mailer}
 * Oracle (the open-relay guard): on a port whose profile is mx, an
 * unauthenticated client that is not in the port's relay_networks,
 * with allow_unauth_relay = no, is never given CONTINUE for a recipient
 * whose domain is not in local_domains or relay_domains (matched here
 * independently: the domain itself or, for ".d", its subdomains) and
 * whose {rcpt_mailer} is neither "error" nor a local transport, nor
 * for a sender-routed recipient ("u%remote@local", "remote!u",
 * "@a:u@b", a quoted '@' in the local part), whatever its domain.
 * connect and MAIL are run too (no crash, a rule named on refusal).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "msg.h"
#include "oracle.h"
#include "policy.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char shipped[] =
	"[port 25]\nmode = mx\n[port 587]\nmode = submission\n"
	"[port 5870]\nlike = 587\n[port 12345]\nlike = 587\n"
	"[port 465]\nmode = submissions\n[port 4650]\nlike = 465\n";
static struct cfg *shipped_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *errors = NULL;

	(void)argc, (void)argv;
	msg_init("fuzz_policy", 0);
	shipped_cfg = cfg_parse("shipped", shipped, &errors);
	if (shipped_cfg == NULL)
		fuzz_fail("built-in config: %s", errors);
	return 0;
}

/* The domain of a recipient as Postfix would route it: after the last
 * '@', without <>, blanks and one trailing dot, lower case. */
static char *rcpt_domain(const char *addr)
{
	const char *s = addr, *e = addr + strlen(addr), *at = NULL;
	char *d;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e - s >= 2 && *s == '<' && e[-1] == '>')
		s++, e--;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	for (const char *p = s; p < e; p++)
		if (*p == '@')
			at = p;
	if (at == NULL)
		return xstrdup("");
	d = xstrndup(at + 1, (size_t)(e - at - 1));
	if (*d != '\0' && d[strlen(d) - 1] == '.')
		d[strlen(d) - 1] = '\0';
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static bool domain_listed(const struct cfg_strlist *l, const char *dom)
{
	size_t dl = strlen(dom);

	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->v[i];
		size_t el = strlen(e);

		if (strcasecmp(e, dom) == 0)
			return true;
		if (e[0] == '.' && dl > el &&
		    strcasecmp(dom + dl - el, e) == 0)
			return true;
		/* "example.com." in the list: the trailing dot dropped */
		if (el > 0 && e[el - 1] == '.' && el - 1 == dl &&
		    strncasecmp(e, dom, dl) == 0)
			return true;
	}
	return false;
}

/* Sender-routed ("@a:u@b", "u%remote@here", "remote!u", "\"u@x\"@here"):
 * Postfix may deliver it elsewhere, whatever its last domain says. */
static bool rcpt_routed(const char *addr)
{
	const char *s = addr, *at = NULL;
	size_t n;

	while (isspace((unsigned char)*s) || *s == '<')
		s++;
	if (*s == '@')
		return true;
	n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@')
			at = s + i;
	if (at == NULL)
		return strpbrk(s, "!%") != NULL;
	for (const char *p = s; p < at; p++)
		if (strchr("%!@:", *p) != NULL)
			return true;
	return false;
}

static void check_relay(const struct cfg *cfg, const struct policy_facts *f,
			const struct policy_rcpt *r, const struct policy_verdict *v)
{
	const struct cfg_port *p = policy_profile(cfg, f->port, NULL);
	char *dom;

	if (v->action != POLICY_CONTINUE || p->mode != CFG_MODE_MX ||
	    f->authenticated || p->allow_unauth_relay ||
	    cfg_nets_has(&p->relay_networks, &f->client))
		return;
	if (r->mailer != NULL && strcmp(r->mailer, "error") == 0)
		return;
	dom = rcpt_domain(r->addr);
	if (rcpt_routed(r->addr))
		goto remote;
	if (r->mailer != NULL &&
	    cfg_strlist_has(&cfg->local_transports, r->mailer)) {
		free(dom);
		return;
	}
	if (*dom != '\0' && strlen(dom) < 256 &&
	    (domain_listed(&cfg->local_domains, dom) ||
	     domain_listed(&cfg->relay_domains, dom))) {
		free(dom);
		return;
	}
remote:
	fuzz_fail("port %u (mx): unauthenticated client, not in "
		  "relay_networks, recipient \"%s\" (domain \"%s\", mailer "
		  "%s) accepted%s%s", f->port, fuzz_esc(r->addr), fuzz_esc(dom),
		  r->mailer != NULL ? fuzz_esc(r->mailer) : "none",
		  v->rule ? ": rule " : "", v->rule ? v->rule : "");
}

static void check_refusal(const char *stage, const struct policy_verdict *v)
{
	if (v->action != POLICY_CONTINUE &&
	    (v->rule == NULL || v->rcode == NULL || v->xcode == NULL ||
	     strpbrk(v->text, "\r\n%") != NULL))
		fuzz_fail("%s: a refusal without rule, code or clean text",
			  stage);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *facts = data, *sep = NULL;
	struct cfg *cfg = shipped_cfg;
	struct policy_facts f;
	struct policy_rcpt r;
	struct policy_verdict v;
	size_t nfacts = size;
	char *text = NULL, *rest;

	if (size > 8192)
		return 0;
	for (size_t i = 0; i + 4 <= size; i++)
		if (memcmp(data + i, "\n%%\n", 4) == 0)
			sep = data + i;
	if (sep != NULL) {
		char *errors = NULL;

		text = fuzz_text(data, (size_t)(sep - data) + 1);
		cfg = cfg_parse("fuzz.conf", text, &errors);
		free(errors);
		free(text);
		if (cfg == NULL)
			return 0;
		facts = sep + 4;
		nfacts = size - (size_t)(facts - data);
	}
	if (nfacts < 22) {
		if (cfg != shipped_cfg)
			cfg_unref(cfg);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.authenticated = facts[0] & 1;
	f.port = (unsigned)facts[1] << 8 | facts[2];
	f.tls_version = facts[3] % 15 == 14 ? PM_TLS_UNKNOWN : facts[3] % 15;
	f.nrcpt = (unsigned)facts[4] << 8 | facts[5];
	if (!(facts[0] & 8)) {
		f.client.family = facts[0] & 4 ? AF_INET6 : AF_INET;
		memcpy(f.client.bytes, facts + 6,
		       f.client.family == AF_INET ? 4 : 16);
	}
	rest = fuzz_text(facts + 22, nfacts - 22);
	r.addr = rest;
	r.mailer = NULL;
	if (facts[0] & 2) {
		size_t n = strlen(rest);

		r.mailer = n < nfacts - 22 ? rest + n + 1 : "";
	}
	v = policy_connect(cfg, &f);
	check_refusal("connect", &v);
	v = policy_mail(cfg, &f);
	check_refusal("mail", &v);
	v = policy_rcpt(cfg, &f, &r);
	check_refusal("rcpt", &v);
	check_relay(cfg, &f, &r, &v);
	(void)policy_addr_is_routed(r.addr);
	free(rest);
	if (cfg != shipped_cfg)
		cfg_unref(cfg);
	return 0;
}
