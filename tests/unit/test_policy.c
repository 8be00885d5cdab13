/*
 * test_policy - unit tests of milter/policy.c (cmocka, TAP output).
 *
 * The configuration is built by hand in C (no parser involved). Every
 * expected verdict below was worked out by hand from the rules in
 * policy.h and the port profiles set up in setup_world(); nothing here
 * recomputes the rules. Every verdict produced is also checked for a
 * reply text without CR, LF or '%'.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cfg.h"
#include "policy.h"
#include "unit.h"

/* ------------------------------------------------------------------ */
/* The world: three ports and the strict profile, built by hand.      */

static char *local_transports_v[] = { "local", "virtual" };
static char *local_domains_v[] = { "local.test", ".sub.local.test" };
static char *relay_domains_v[] = { "relay.test" };

static struct pm_cidr net_any[2];	/* 0.0.0.0/0, ::/0 */
static struct cfg_port ports_full[3];	/* 25 mx, 465 submissions, 587 submission */
static struct cfg cfg_full;		/* the three ports */
static struct cfg cfg_none;		/* no sections: every port is unknown */

#define P_MX   0
#define P_SUBS 1
#define P_SUB  2

static struct pm_addr ip(const char *text)
{
	struct pm_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, text, a.bytes) == 1)
		a.family = AF_INET6;
	else
		fail_msg("bad test address %s", text);
	return a;
}

static struct pm_cidr cidr(const char *text, unsigned prefix)
{
	struct pm_cidr c;

	c.net = ip(text);
	c.prefix = prefix;
	return c;
}

static struct cfg_port port_profile(unsigned port, enum cfg_mode mode)
{
	struct cfg_port p;

	memset(&p, 0, sizeof(p));
	p.port = port;
	p.mode = mode;
	p.enabled = true;
	p.tls_before_auth = true;
	p.allow_unauth_relay = false;
	p.networks.n = 2;
	p.networks.v = net_any;
	p.max_recipients = 100;
	if (mode == CFG_MODE_MX) {
		p.require_tls = false;
		p.require_auth = false;
		p.min_tls_version = PM_TLS_NONE;
	} else {
		p.require_tls = true;
		p.require_auth = true;
		p.min_tls_version = PM_TLS_1_2;
	}
	return p;
}

static void setup_world(void)
{
	net_any[0] = cidr("0.0.0.0", 0);
	net_any[1] = cidr("::", 0);
	ports_full[P_MX] = port_profile(25, CFG_MODE_MX);
	ports_full[P_SUBS] = port_profile(465, CFG_MODE_SUBMISSIONS);
	ports_full[P_SUB] = port_profile(587, CFG_MODE_SUBMISSION);

	memset(&cfg_full, 0, sizeof(cfg_full));
	cfg_full.local_transports.n = 2;
	cfg_full.local_transports.v = local_transports_v;
	cfg_full.local_domains.n = 2;
	cfg_full.local_domains.v = local_domains_v;
	cfg_full.relay_domains.n = 1;
	cfg_full.relay_domains.v = relay_domains_v;
	cfg_full.unknown_port = CFG_UNKNOWN_STRICT;
	cfg_full.nports = 3;
	cfg_full.ports = ports_full;
	cfg_full.strict = port_profile(0, CFG_MODE_SUBMISSION);
	cfg_full.refs = 1;

	cfg_none = cfg_full;
	cfg_none.nports = 0;
	cfg_none.ports = NULL;
}

/* A private copy of cfg_full whose ports a test may change. */
struct world {
	struct cfg cfg;
	struct cfg_port ports[3];
};

static void world_copy(struct world *w)
{
	w->cfg = cfg_full;
	memcpy(w->ports, ports_full, sizeof(w->ports));
	w->cfg.ports = w->ports;
}

/* ------------------------------------------------------------------ */
/* Expected verdicts.                                                 */

struct expect {
	enum policy_action action;
	const char *rule;
	const char *rcode;
	const char *xcode;
	const char *text;	/* NULL: do not compare */
	bool exposure;
	bool pfrej;
	bool relaynets;		/* a relay allowed by relay_networks */
};

#define X_OK        { POLICY_CONTINUE, NULL, NULL, NULL, "", false, false, \
		      false }
#define X_EXPOSED   { POLICY_REJECT, "tls_before_auth", "538", "5.7.11", \
		      "Encryption required for requested authentication mechanism", \
		      true, false, false }
#define X_STARTTLS  { POLICY_REJECT, "require_tls", "530", "5.7.0", \
		      "Must issue a STARTTLS command first", false, false, \
		      false }
#define X_ENCRYPT   { POLICY_REJECT, "require_tls", "530", "5.7.0", \
		      "Encryption required on this port", false, false, false }
#define X_NOAUTH    { POLICY_REJECT, "require_auth", "530", "5.7.0", \
		      "Authentication required", false, false, false }
#define X_MINTLS12  { POLICY_REJECT, "min_tls_version", "554", "5.7.0", \
		      "TLSv1.2 or newer required", false, false, false }
#define X_MINTLS13  { POLICY_REJECT, "min_tls_version", "554", "5.7.0", \
		      "TLSv1.3 or newer required", false, false, false }
#define X_RELAY     { POLICY_REJECT, "relay", "554", "5.7.1", \
		      "Relay access denied", false, false, false }
#define X_TOOMANY   { POLICY_TEMPFAIL, "max_recipients", "452", "4.5.3", \
		      "Too many recipients", false, false, false }
#define X_RELAYNETS { POLICY_CONTINUE, NULL, NULL, NULL, "", false, false, \
		      true }
#define X_PFREJ     { POLICY_CONTINUE, "postfix_rejected", NULL, NULL, "", \
		      false, true, false }
#define X_NETWORKS  { POLICY_REJECT, "client_networks", "554", "5.7.1", \
		      "Client address not allowed on this port", false, false, \
		      false }
#define X_DISABLED  { POLICY_REJECT, "port_disabled", "554", "5.7.1", \
		      "Service not available on this port", false, false, \
		      false }
#define X_UNKNOWN   { POLICY_REJECT, "unknown_port", "554", "5.7.1", \
		      "Service not available on this port", false, false, \
		      false }

static void assert_opt_string(const char *got, const char *want)
{
	if (want == NULL) {
		assert_null(got);
	} else {
		assert_non_null(got);
		assert_string_equal(got, want);
	}
}

/* Every reply: NUL-terminated in its array, no CR, LF or '%'. */
static void assert_reply_clean(const struct policy_verdict *v)
{
	size_t n = strnlen(v->text, sizeof(v->text));

	assert_true(n < sizeof(v->text));
	assert_null(memchr(v->text, '\r', n));
	assert_null(memchr(v->text, '\n', n));
	assert_null(memchr(v->text, '%', n));
	if (v->action == POLICY_CONTINUE) {
		assert_null(v->rcode);
		assert_null(v->xcode);
		assert_string_equal(v->text, "");
	} else {
		assert_non_null(v->rule);
		assert_true(n > 0);
	}
}

static void check(const struct policy_verdict *v, const struct expect *x)
{
	assert_reply_clean(v);
	assert_int_equal(v->action, x->action);
	assert_opt_string(v->rule, x->rule);
	assert_opt_string(v->rcode, x->rcode);
	assert_opt_string(v->xcode, x->xcode);
	if (x->text != NULL)
		assert_string_equal(v->text, x->text);
	assert_int_equal(v->credential_exposure, x->exposure);
	assert_int_equal(v->postfix_rejected, x->pfrej);
	assert_int_equal(v->relay_networks, x->relaynets);
}

static struct policy_facts facts(unsigned port, const char *client, int tls,
				 bool auth, unsigned nrcpt)
{
	struct policy_facts f;

	memset(&f, 0, sizeof(f));
	f.port = port;
	if (client != NULL)
		f.client = ip(client);
	f.tls_version = tls;
	f.authenticated = auth;
	f.nrcpt = nrcpt;
	return f;
}

static void expect_connect(const struct cfg *cfg, const struct policy_facts *f,
			   struct expect x)
{
	struct policy_verdict v = policy_connect(cfg, f);

	check(&v, &x);
}

static void expect_mail(const struct cfg *cfg, const struct policy_facts *f,
			struct expect x)
{
	struct policy_verdict v = policy_mail(cfg, f);

	check(&v, &x);
}

static void expect_rcpt(const struct cfg *cfg, const struct policy_facts *f,
			const char *addr, const char *mailer, struct expect x)
{
	struct policy_rcpt r = { addr, mailer };
	struct policy_verdict v = policy_rcpt(cfg, f, &r);

	check(&v, &x);
}

/* ------------------------------------------------------------------ */
/* The matrix: mode x TLS x auth x recipient x known/unknown port.    */
/*
 * Known ports: 25 mx (no TLS/auth required, min TLS none), 587
 * submission and 465 submissions (TLS and auth required, min TLSv1.2);
 * all have tls_before_auth = yes, allow_unauth_relay = no, any network.
 * Unknown: the same port number with cfg_none, i.e. the strict profile
 * (submission). "local" = <user@example.test> via mailer "local" (a
 * local transport; example.test is in no domain list), "remote" =
 * <user@remote.example> via mailer "smtp". nrcpt = 0.
 */

struct mrow {
	enum cfg_mode mode;
	bool known;
	int tls;
	bool auth;
	bool local;
	struct expect mail;
	struct expect rcpt;
};

#define MX   CFG_MODE_MX
#define SUB  CFG_MODE_SUBMISSION
#define SUBS CFG_MODE_SUBMISSIONS
#define KNOWN   true
#define UNKNOWN false
#define T_NO  PM_TLS_NONE
#define T_13  PM_TLS_1_3
#define A_NO  false
#define A_YES true
#define LOCAL  true
#define REMOTE false

static const struct mrow matrix[] = {
	/* mx, known port 25 */
	{ MX, KNOWN, T_NO, A_NO, LOCAL, X_OK, X_OK },
	{ MX, KNOWN, T_NO, A_NO, REMOTE, X_OK, X_RELAY },
	{ MX, KNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ MX, KNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ MX, KNOWN, T_13, A_NO, LOCAL, X_OK, X_OK },
	{ MX, KNOWN, T_13, A_NO, REMOTE, X_OK, X_RELAY },
	{ MX, KNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ MX, KNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
	/* mx port 25 without a section: strict (submission) profile */
	{ MX, UNKNOWN, T_NO, A_NO, LOCAL, X_STARTTLS, X_OK },
	{ MX, UNKNOWN, T_NO, A_NO, REMOTE, X_STARTTLS, X_RELAY },
	{ MX, UNKNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ MX, UNKNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ MX, UNKNOWN, T_13, A_NO, LOCAL, X_NOAUTH, X_OK },
	{ MX, UNKNOWN, T_13, A_NO, REMOTE, X_NOAUTH, X_RELAY },
	{ MX, UNKNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ MX, UNKNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
	/* submission, known port 587 */
	{ SUB, KNOWN, T_NO, A_NO, LOCAL, X_STARTTLS, X_OK },
	{ SUB, KNOWN, T_NO, A_NO, REMOTE, X_STARTTLS, X_RELAY },
	{ SUB, KNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ SUB, KNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ SUB, KNOWN, T_13, A_NO, LOCAL, X_NOAUTH, X_OK },
	{ SUB, KNOWN, T_13, A_NO, REMOTE, X_NOAUTH, X_RELAY },
	{ SUB, KNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ SUB, KNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
	/* submission port 587 without a section: strict */
	{ SUB, UNKNOWN, T_NO, A_NO, LOCAL, X_STARTTLS, X_OK },
	{ SUB, UNKNOWN, T_NO, A_NO, REMOTE, X_STARTTLS, X_RELAY },
	{ SUB, UNKNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ SUB, UNKNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ SUB, UNKNOWN, T_13, A_NO, LOCAL, X_NOAUTH, X_OK },
	{ SUB, UNKNOWN, T_13, A_NO, REMOTE, X_NOAUTH, X_RELAY },
	{ SUB, UNKNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ SUB, UNKNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
	/* submissions, known port 465 */
	{ SUBS, KNOWN, T_NO, A_NO, LOCAL, X_ENCRYPT, X_OK },
	{ SUBS, KNOWN, T_NO, A_NO, REMOTE, X_ENCRYPT, X_RELAY },
	{ SUBS, KNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ SUBS, KNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ SUBS, KNOWN, T_13, A_NO, LOCAL, X_NOAUTH, X_OK },
	{ SUBS, KNOWN, T_13, A_NO, REMOTE, X_NOAUTH, X_RELAY },
	{ SUBS, KNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ SUBS, KNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
	/* submissions port 465 without a section: strict (submission text) */
	{ SUBS, UNKNOWN, T_NO, A_NO, LOCAL, X_STARTTLS, X_OK },
	{ SUBS, UNKNOWN, T_NO, A_NO, REMOTE, X_STARTTLS, X_RELAY },
	{ SUBS, UNKNOWN, T_NO, A_YES, LOCAL, X_EXPOSED, X_OK },
	{ SUBS, UNKNOWN, T_NO, A_YES, REMOTE, X_EXPOSED, X_OK },
	{ SUBS, UNKNOWN, T_13, A_NO, LOCAL, X_NOAUTH, X_OK },
	{ SUBS, UNKNOWN, T_13, A_NO, REMOTE, X_NOAUTH, X_RELAY },
	{ SUBS, UNKNOWN, T_13, A_YES, LOCAL, X_OK, X_OK },
	{ SUBS, UNKNOWN, T_13, A_YES, REMOTE, X_OK, X_OK },
};

#define NMATRIX (sizeof(matrix) / sizeof(matrix[0]))

static void test_matrix_row(void **state)
{
	const struct mrow *r = *state;
	const struct cfg *cfg = r->known ? &cfg_full : &cfg_none;
	unsigned port = r->mode == MX ? 25 : r->mode == SUB ? 587 : 465;
	struct policy_facts f = facts(port, "192.0.2.1", r->tls, r->auth, 0);
	struct expect ok = X_OK;
	bool known = !r->known;

	assert_non_null(policy_profile(cfg, port, &known));
	assert_int_equal(known, r->known);
	expect_connect(cfg, &f, ok);
	expect_mail(cfg, &f, r->mail);
	if (r->local)
		expect_rcpt(cfg, &f, "<user@example.test>", "local", r->rcpt);
	else
		expect_rcpt(cfg, &f, "<user@remote.example>", "smtp", r->rcpt);
}

/* ------------------------------------------------------------------ */
/* Profiles and connect.                                              */

static void test_profile(void **state)
{
	bool known = false;

	(void)state;
	assert_ptr_equal(policy_profile(&cfg_full, 25, &known), &ports_full[P_MX]);
	assert_true(known);
	assert_ptr_equal(policy_profile(&cfg_full, 587, &known), &ports_full[P_SUB]);
	assert_true(known);
	assert_ptr_equal(policy_profile(&cfg_full, 2525, &known), &cfg_full.strict);
	assert_false(known);
	known = true;
	assert_ptr_equal(policy_profile(&cfg_full, 0, &known), &cfg_full.strict);
	assert_false(known);
	assert_ptr_equal(policy_profile(&cfg_full, 65535, NULL), &cfg_full.strict);
	assert_ptr_equal(policy_profile(&cfg_none, 25, &known), &cfg_none.strict);
	assert_false(known);
}

static void test_client_networks(void **state)
{
	struct world w;
	struct pm_cidr nets[2], v4only[1], v6only[1];
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	nets[0] = cidr("192.0.2.0", 24);
	nets[1] = cidr("2001:db8::", 32);
	w.ports[P_MX].networks.v = nets;
	w.ports[P_MX].networks.n = 2;
	f = facts(25, "192.0.2.55", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	f = facts(25, "198.51.100.1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "192.0.3.1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "2001:db8::1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	f = facts(25, "2001:db9::1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	/* unknown address, restricted list: fail closed */
	f = facts(25, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	/* unknown address, any-list (0.0.0.0/0 and ::/0): passes */
	f = facts(587, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	f = facts(2525, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	/* only 0.0.0.0/0: unknown and IPv6 refused, IPv4 passes */
	v4only[0] = cidr("0.0.0.0", 0);
	w.ports[P_MX].networks.v = v4only;
	w.ports[P_MX].networks.n = 1;
	f = facts(25, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "2001:db8::1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "203.0.113.9", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	/* only ::/0: unknown and IPv4 refused */
	v6only[0] = cidr("::", 0);
	w.ports[P_MX].networks.v = v6only;
	f = facts(25, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "203.0.113.9", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(25, "2001:db8::2", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	/* the strict profile's networks apply to an unknown port */
	w.cfg.strict.networks.v = nets;
	w.cfg.strict.networks.n = 2;
	f = facts(2525, "198.51.100.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_NETWORKS);
	f = facts(2525, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
}

static void test_disabled_port(void **state)
{
	struct world w;
	struct pm_cidr nets[1];
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	w.ports[P_SUB].enabled = false;
	f = facts(587, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_DISABLED);
	f = facts(465, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	/* disabled is decided before the client networks */
	nets[0] = cidr("10.0.0.0", 8);
	w.ports[P_SUB].networks.v = nets;
	w.ports[P_SUB].networks.n = 1;
	f = facts(587, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_DISABLED);
	f = facts(587, NULL, PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_DISABLED);
}

static void test_unknown_port_reject(void **state)
{
	struct world w;
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	w.cfg.unknown_port = CFG_UNKNOWN_REJECT;
	f = facts(2525, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_UNKNOWN);
	f = facts(0, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_UNKNOWN);
	f = facts(0, NULL, PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_UNKNOWN);
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	f = facts(587, "2001:db8::1", PM_TLS_NONE, false, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	/* strict (the default): an unknown port is served */
	w.cfg.unknown_port = CFG_UNKNOWN_STRICT;
	f = facts(2525, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
	f = facts(0, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_connect(&w.cfg, &f, (struct expect)X_OK);
}

/* ------------------------------------------------------------------ */
/* MAIL.                                                              */

static void test_min_tls_version(void **state)
{
	struct world w;
	struct policy_facts f;

	(void)state;
	/* 587: min TLSv1.2, authenticated */
	f = facts(587, "192.0.2.1", PM_TLS_1_1, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_MINTLS12);
	f = facts(587, "192.0.2.1", PM_TLS_1_0, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_MINTLS12);
	f = facts(587, "192.0.2.1", PM_TLS_1_2, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_OK);
	f = facts(587, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_OK);
	f = facts(587, "192.0.2.1", PM_TLS_UNKNOWN, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_MINTLS12);
	/* min_tls_version is checked before require_auth */
	f = facts(587, "192.0.2.1", PM_TLS_1_1, false, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_MINTLS12);
	/* the strict profile has min TLSv1.2 too */
	f = facts(2525, "192.0.2.1", PM_TLS_1_1, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_MINTLS12);
	/* 25: min none accepts any TLS, even an unparsed one */
	f = facts(25, "192.0.2.1", PM_TLS_1_0, false, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_OK);
	f = facts(25, "192.0.2.1", PM_TLS_UNKNOWN, true, 0);
	expect_mail(&cfg_full, &f, (struct expect)X_OK);
	/* 465 with min TLSv1.3 */
	world_copy(&w);
	w.ports[P_SUBS].min_tls_version = PM_TLS_1_3;
	f = facts(465, "192.0.2.1", PM_TLS_1_2, true, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_MINTLS13);
	f = facts(465, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_OK);
	/* min on a port without require_tls: plaintext is not judged by it */
	w.ports[P_MX].min_tls_version = PM_TLS_1_2;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_OK);
	f = facts(25, "192.0.2.1", PM_TLS_1_1, false, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_MINTLS12);
}

static void test_mail_flags(void **state)
{
	struct world w;
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	/* tls_before_auth = no: AUTH in clear is not flagged; require_tls
	 * still refuses on 587, nothing refuses on 25 */
	w.ports[P_MX].tls_before_auth = false;
	w.ports[P_SUB].tls_before_auth = false;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, true, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_OK);
	f = facts(587, "192.0.2.1", PM_TLS_NONE, true, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_STARTTLS);
	/* require_tls = no, require_auth = yes on 587 */
	w.ports[P_SUB].require_tls = false;
	f = facts(587, "192.0.2.1", PM_TLS_NONE, false, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_NOAUTH);
	f = facts(587, "192.0.2.1", PM_TLS_NONE, true, 0);
	expect_mail(&w.cfg, &f, (struct expect)X_OK);
}

/* ------------------------------------------------------------------ */
/* RCPT.                                                              */

static void test_max_recipients(void **state)
{
	struct world w;
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	w.ports[P_MX].max_recipients = 3;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 2);
	expect_rcpt(&w.cfg, &f, "<u@local.test>", "local", (struct expect)X_OK);
	f.nrcpt = 3;
	expect_rcpt(&w.cfg, &f, "<u@local.test>", "local", (struct expect)X_TOOMANY);
	f.nrcpt = 4;
	expect_rcpt(&w.cfg, &f, "<u@local.test>", "local", (struct expect)X_TOOMANY);
	/* max_recipients is decided before relay */
	f.nrcpt = 3;
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_TOOMANY);
	f.nrcpt = 2;
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_RELAY);
	/* ... and after postfix_rejected */
	f.nrcpt = 3;
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "error", (struct expect)X_PFREJ);
	/* max 1 */
	w.ports[P_SUB].max_recipients = 1;
	f = facts(587, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_OK);
	f.nrcpt = 1;
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_TOOMANY);
	/* 100 on the shipped-like profile: 99 passes, 100 tempfails */
	f = facts(465, "192.0.2.1", PM_TLS_1_3, true, 99);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "smtp", (struct expect)X_OK);
	f.nrcpt = 100;
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "smtp", (struct expect)X_TOOMANY);
}

static void test_postfix_rejected(void **state)
{
	struct policy_facts f;

	(void)state;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "error", (struct expect)X_PFREJ);
	expect_rcpt(&cfg_full, &f, "<u%x@local.test>", "error", (struct expect)X_PFREJ);
	expect_rcpt(&cfg_full, &f, NULL, "error", (struct expect)X_PFREJ);
	/* exact match only */
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "ERROR", (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "error ", (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "errors", (struct expect)X_RELAY);
	/* on an unknown (strict) port as well */
	f = facts(2525, "192.0.2.1", PM_TLS_1_3, true, 0);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "error", (struct expect)X_PFREJ);
}

static void test_allow_unauth_relay(void **state)
{
	struct world w;
	struct policy_facts f;

	(void)state;
	world_copy(&w);
	w.ports[P_MX].allow_unauth_relay = true;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_OK);
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", NULL, (struct expect)X_OK);
	expect_rcpt(&w.cfg, &f, "<u%remote.example@local.test>", "smtp", (struct expect)X_OK);
	/* other ports keep refusing */
	f = facts(587, "192.0.2.1", PM_TLS_1_3, false, 0);
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_RELAY);
	f = facts(2525, "192.0.2.1", PM_TLS_1_3, false, 0);
	expect_rcpt(&w.cfg, &f, "<u@remote.example>", "smtp", (struct expect)X_RELAY);
}

/*
 * relay_networks, one row a case. Port 25's list is one of: RELAY =
 * 127.0.0.0/8, ::1 and 10.0.0.0/8 written in IPv4-mapped form; ANY =
 * 0.0.0.0/0 and ::/0; EMPTY (the default). Those clients relay without
 * AUTH, flagged; nobody else does; only the relay rule is lifted.
 * client NULL = unknown address; "=ADDR" = ADDR as lib/addr parses it
 * (an IPv4-mapped address folded to IPv4). rcpt NULL = a MAIL row.
 */
enum nets_list { NETS_RELAY, NETS_ANY, NETS_EMPTY };

struct nrow {
	const char *name;
	enum nets_list nets;	/* port 25's relay_networks */
	bool sub_nets;		/* 587 gets the RELAY list too */
	bool allow_unauth;	/* port 25's allow_unauth_relay */
	unsigned max_rcpt;	/* port 25's max_recipients; 0 = 100 */
	unsigned port;
	const char *client;
	int tls;
	bool auth;
	unsigned nrcpt;
	const char *rcpt;
	const char *mailer;
	struct expect want;
};

#define RN NETS_RELAY
#define REMOTE_RCPT "<u@remote.example>"

static const struct nrow nets_rows[] = {
	/* inside: IPv4, IPv6, IPv4 in a network written IPv4-mapped */
	{ "inside, MAIL", RN, false, false, 0, 25, "127.0.0.1", T_NO, A_NO, 0,
	  NULL, NULL, X_OK },
	{ "inside 127.0.0.1", RN, false, false, 0, 25, "127.0.0.1", T_NO, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAYNETS },
	{ "inside, no {rcpt_mailer}", RN, false, false, 0, 25, "127.0.0.1", T_NO,
	  A_NO, 0, REMOTE_RCPT, NULL, X_RELAYNETS },
	/* as for an authenticated client, a sender-routed address too */
	{ "inside, sender-routed", RN, false, false, 0, 25, "127.0.0.1", T_NO,
	  A_NO, 0, "<u%remote.example@local.test>", "smtp", X_RELAYNETS },
	{ "inside 127.255.255.254 with TLS", RN, false, false, 0, 25,
	  "127.255.255.254", T_13, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAYNETS },
	{ "inside ::1", RN, false, false, 0, 25, "::1", T_NO, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAYNETS },
	{ "inside 10.20.30.40 (network IPv4-mapped)", RN, false, false, 0, 25,
	  "10.20.30.40", T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAYNETS },
	/* a client seen on a dual-stack socket (lib/addr folds it to IPv4) */
	{ "inside ::ffff:127.0.0.1 folded", RN, false, false, 0, 25,
	  "=::ffff:127.0.0.1", T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAYNETS },
	/* outside */
	{ "outside 128.0.0.1", RN, false, false, 0, 25, "128.0.0.1", T_NO, A_NO,
	  0, REMOTE_RCPT, "smtp", X_RELAY },
	{ "outside 192.0.2.1 with TLS", RN, false, false, 0, 25, "192.0.2.1",
	  T_13, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAY },
	{ "outside ::2", RN, false, false, 0, 25, "::2", T_NO, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAY },
	{ "outside 11.0.0.1", RN, false, false, 0, 25, "11.0.0.1", T_NO, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAY },
	/* an IPv4-mapped address not folded is IPv6: not in 127.0.0.0/8 */
	{ "outside ::ffff:127.0.0.1 not folded", RN, false, false, 0, 25,
	  "::ffff:127.0.0.1", T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAY },
	/* an unknown address is in no list, not even one of every address */
	{ "unknown client", RN, false, false, 0, 25, NULL, T_NO, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAY },
	{ "unknown client, list of every address", NETS_ANY, false, false, 0,
	  25, NULL, T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAY },
	{ "list of every address", NETS_ANY, false, false, 0, 25, "203.0.113.9",
	  T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAYNETS },
	/* the empty list (the default): nobody */
	{ "empty list", NETS_EMPTY, false, false, 0, 25, "127.0.0.1", T_NO, A_NO,
	  0, REMOTE_RCPT, "smtp", X_RELAY },
	/* not a relay, or allowed anyway: no flag */
	{ "inside, local domain", RN, false, false, 0, 25, "127.0.0.1", T_NO,
	  A_NO, 0, "<u@local.test>", "smtp", X_OK },
	{ "inside, local mailer", RN, false, false, 0, 25, "127.0.0.1", T_NO,
	  A_NO, 0, "<postmaster>", "local", X_OK },
	{ "inside, refused by Postfix", RN, false, false, 0, 25, "127.0.0.1",
	  T_NO, A_NO, 0, REMOTE_RCPT, "error", X_PFREJ },
	{ "outside, local domain", RN, false, false, 0, 25, "192.0.2.1", T_NO,
	  A_NO, 0, "<u@local.test>", "smtp", X_OK },
	{ "inside, authenticated", RN, false, false, 0, 25, "127.0.0.1", T_13,
	  A_YES, 0, REMOTE_RCPT, "smtp", X_OK },
	{ "inside, allow_unauth_relay", RN, false, true, 0, 25, "127.0.0.1",
	  T_NO, A_NO, 0, REMOTE_RCPT, "smtp", X_OK },
	/* max_recipients still applies, before relay */
	{ "inside, under max_recipients", RN, false, false, 2, 25, "127.0.0.1",
	  T_NO, A_NO, 1, REMOTE_RCPT, "smtp", X_RELAYNETS },
	{ "inside, at max_recipients", RN, false, false, 2, 25, "127.0.0.1",
	  T_NO, A_NO, 2, REMOTE_RCPT, "smtp", X_TOOMANY },
	/* per port: 587, 465 and an unknown port have none of it */
	{ "587 has no list", RN, false, false, 0, 587, "127.0.0.1", T_13, A_NO,
	  0, REMOTE_RCPT, "smtp", X_RELAY },
	{ "465 has no list", RN, false, false, 0, 465, "::1", T_13, A_NO, 0,
	  REMOTE_RCPT, "smtp", X_RELAY },
	{ "unknown port has no list", RN, false, false, 0, 2525, "127.0.0.1",
	  T_13, A_NO, 0, REMOTE_RCPT, "smtp", X_RELAY },
	/* on a submission port, MAIL still wants TLS and AUTH first */
	{ "587 inside, MAIL without TLS", RN, true, false, 0, 587, "127.0.0.1",
	  T_NO, A_NO, 0, NULL, NULL, X_STARTTLS },
	{ "587 inside, MAIL without AUTH", RN, true, false, 0, 587, "127.0.0.1",
	  T_13, A_NO, 0, NULL, NULL, X_NOAUTH },
	{ "587 inside, MAIL with TLSv1.1", RN, true, false, 0, 587, "127.0.0.1",
	  PM_TLS_1_1, A_NO, 0, NULL, NULL, X_MINTLS12 },
	{ "587 inside, MAIL AUTH without TLS", RN, true, false, 0, 587,
	  "127.0.0.1", T_NO, A_YES, 0, NULL, NULL, X_EXPOSED },
};

#define NNETS (sizeof(nets_rows) / sizeof(nets_rows[0]))

static void test_relay_networks_row(void **state)
{
	const struct nrow *r = *state;
	struct world w;
	struct pm_cidr relay[3], any[2];
	struct policy_facts f;
	const char *why = NULL;

	world_copy(&w);
	relay[0] = cidr("127.0.0.0", 8);
	relay[1] = cidr("::1", 128);
	if (!cidr_parse("::ffff:10.0.0.0/104", &relay[2], &why))
		fail_msg("cidr_parse: %s", why);
	any[0] = cidr("0.0.0.0", 0);
	any[1] = cidr("::", 0);
	if (r->nets == NETS_RELAY) {
		w.ports[P_MX].relay_networks.v = relay;
		w.ports[P_MX].relay_networks.n = 3;
	} else if (r->nets == NETS_ANY) {
		w.ports[P_MX].relay_networks.v = any;
		w.ports[P_MX].relay_networks.n = 2;
	}
	if (r->sub_nets) {
		w.ports[P_SUB].relay_networks.v = relay;
		w.ports[P_SUB].relay_networks.n = 3;
	}
	w.ports[P_MX].allow_unauth_relay = r->allow_unauth;
	if (r->max_rcpt != 0)
		w.ports[P_MX].max_recipients = r->max_rcpt;
	if (r->client != NULL && r->client[0] == '=') {
		f = facts(r->port, NULL, r->tls, r->auth, r->nrcpt);
		assert_true(addr_parse(r->client + 1, &f.client));
	} else {
		f = facts(r->port, r->client, r->tls, r->auth, r->nrcpt);
	}
	if (r->rcpt == NULL)
		expect_mail(&w.cfg, &f, r->want);
	else
		expect_rcpt(&w.cfg, &f, r->rcpt, r->mailer, r->want);
}

static void test_local_domains(void **state)
{
	struct policy_facts f;
	char big[600];

	(void)state;
	f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
	/* local_domains, whatever the mailer */
	expect_rcpt(&cfg_full, &f, "<u@local.test>", "smtp", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@local.test>", NULL, (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@LOCAL.Test.>", NULL, (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "u@local.test", NULL, (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@host.sub.local.test>", "smtp", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@notlocal.test>", "smtp", (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@local.test.evil.example>", "smtp", (struct expect)X_RELAY);
	/* relay_domains */
	expect_rcpt(&cfg_full, &f, "<u@relay.test>", "smtp", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@relay.test>", NULL, (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@Relay.TEST>", "relay", (struct expect)X_OK);
	/* local_transports */
	expect_rcpt(&cfg_full, &f, "<u@virtual.example>", "virtual", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<postmaster>", "local", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<postmaster>", NULL, (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "", (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", "Local", (struct expect)X_RELAY);
	/* neither */
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", NULL, (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<>", NULL, (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "", NULL, (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, NULL, NULL, (struct expect)X_RELAY);
	expect_rcpt(&cfg_full, &f, "<u@>", NULL, (struct expect)X_RELAY);
	/* a domain too long for any buffer is never local, even if a cut
	 * of it would match ".sub.local.test" */
	memset(big, 'a', sizeof(big));
	memcpy(big, "<u@", 3);
	memcpy(big + 255 + 3 - 15, ".sub.local.test", 15);
	strcpy(big + 255 + 3, ".evil.example>");
	expect_rcpt(&cfg_full, &f, big, "smtp", (struct expect)X_RELAY);
	/* the same recipient, authenticated: may relay */
	f.authenticated = true;
	expect_rcpt(&cfg_full, &f, big, "smtp", (struct expect)X_OK);
	expect_rcpt(&cfg_full, &f, "<u@remote.example>", NULL, (struct expect)X_OK);
}

static const char *const routed_forms[] = {
	"user%remote.example@local.test",
	"<user%remote.example@local.test>",
	"\"user@remote.example\"@local.test",
	"<\"user@remote.example\"@local.test>",
	"@local.test:user@remote.example",
	"<@local.test:user@remote.example>",
	"<@local.test,@other.test:user@local.test>",
	"remote.example!user",
	"<remote.example!user>",
	"remote.example!user@local.test",
	"<remote.example!user@local.test>",
	"user\\@remote.example@local.test",
	"user@remote.example@local.test",
	"\"user:remote\"@local.test",
};

static void test_routed_relay(void **state)
{
	static const char *const mailers[] = { "smtp", NULL, "local" };
	struct policy_facts f;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(routed_forms) / sizeof(routed_forms[0]); i++) {
		for (j = 0; j < 3; j++) {
			print_message("# %s via %s\n", routed_forms[i],
				      mailers[j] ? mailers[j] : "(none)");
			f = facts(25, "192.0.2.1", PM_TLS_NONE, false, 0);
			expect_rcpt(&cfg_full, &f, routed_forms[i], mailers[j],
				    (struct expect)X_RELAY);
			f = facts(2525, "192.0.2.1", PM_TLS_1_3, false, 0);
			expect_rcpt(&cfg_full, &f, routed_forms[i], mailers[j],
				    (struct expect)X_RELAY);
			/* an authenticated client may relay */
			f = facts(587, "192.0.2.1", PM_TLS_1_3, true, 0);
			expect_rcpt(&cfg_full, &f, routed_forms[i], mailers[j],
				    (struct expect)X_OK);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Address helpers.                                                   */

struct arow {
	const char *addr;
	bool routed;
	const char *domain;	/* with a 256-byte buffer */
};

static const struct arow addr_rows[] = {
	{ NULL, false, "" },
	{ "", false, "" },
	{ "   ", false, "" },
	{ "<>", false, "" },
	{ " < > ", false, "" },
	{ "<User@Example.COM.>", false, "example.com" },
	{ "user@example.com", false, "example.com" },
	{ " <user@example.com> ", false, "example.com" },
	{ "<user@example.com", false, "example.com" },
	{ "user@example.com..", false, "example.com." },
	{ "user@", false, "" },
	{ "user@.", false, "" },
	{ "user", false, "" },
	{ "<postmaster>", false, "" },
	{ "first.last+tag@sub.example.org", false, "sub.example.org" },
	{ "@a,@b:u@c", true, "c" },
	{ "@local.test", true, "local.test" },
	{ "<@local.test>", true, "local.test" },
	{ "<@local.test:user@remote.example>", true, "remote.example" },
	{ "user%remote.example@local.test", true, "local.test" },
	{ "\"user@remote.example\"@local.test", true, "local.test" },
	{ "u\\@remote@local", true, "local" },
	{ "user@remote.example@local.test", true, "local.test" },
	{ "remote.example!user", true, "" },
	{ "remote.example!user@local.test", true, "local.test" },
	{ "user%remote", true, "" },
	{ "u:x@local.test", true, "local.test" },
	{ "user@re!mote.example", false, "re!mote.example" },
};

static void test_addr_table(void **state)
{
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(addr_rows) / sizeof(addr_rows[0]); i++) {
		const struct arow *r = &addr_rows[i];

		print_message("# %s\n", r->addr ? r->addr : "(NULL)");
		assert_int_equal(policy_addr_is_routed(r->addr), r->routed);
		memset(buf, 'X', sizeof(buf));
		assert_string_equal(policy_addr_domain(r->addr, buf, sizeof(buf)),
				    r->domain);
	}
}

static void test_addr_long_and_tiny(void **state)
{
	static char big[10 * 1024 + 64];
	char buf[256], tiny[4], one[1], guard[8];
	size_t n;

	(void)state;
	/* 10 kB local part */
	memset(big, 'a', 10 * 1024);
	strcpy(big + 10 * 1024, "@Example.COM");
	assert_false(policy_addr_is_routed(big));
	assert_string_equal(policy_addr_domain(big, buf, sizeof(buf)), "example.com");
	/* 10 kB local part full of '%' */
	memset(big, '%', 10 * 1024);
	assert_true(policy_addr_is_routed(big));
	/* 10 kB domain: cut to the buffer, never past it */
	memcpy(big, "<u@", 3);
	memset(big + 3, 'B', 10 * 1024);
	strcpy(big + 3 + 10 * 1024, ">");
	assert_false(policy_addr_is_routed(big));
	memset(buf, 'X', sizeof(buf));
	policy_addr_domain(big, buf, sizeof(buf));
	n = strlen(buf);
	assert_int_equal(n, sizeof(buf) - 1);
	assert_int_equal(strspn(buf, "b"), n);
	/* 10 kB without '@' */
	memset(big, 'c', 10 * 1024);
	big[10 * 1024] = '\0';
	assert_false(policy_addr_is_routed(big));
	assert_string_equal(policy_addr_domain(big, buf, sizeof(buf)), "");
	big[5000] = '!';
	assert_true(policy_addr_is_routed(big));
	/* tiny buffers */
	memset(tiny, 'X', sizeof(tiny));
	assert_string_equal(policy_addr_domain("<u@Example.COM>", tiny, sizeof(tiny)),
			    "exa");
	memset(one, 'X', sizeof(one));
	assert_string_equal(policy_addr_domain("<u@Example.COM>", one, sizeof(one)), "");
	assert_int_equal(one[0], '\0');
	/* len 0 writes nothing; NULL buf is tolerated */
	memset(guard, 'G', sizeof(guard));
	assert_string_equal(policy_addr_domain("<u@example.com>", guard, 0), "");
	assert_int_equal(guard[0], 'G');
	assert_string_equal(policy_addr_domain("<u@example.com>", NULL, 0), "");
	assert_string_equal(policy_addr_domain("<u@example.com>", NULL, 16), "");
	assert_string_equal(policy_addr_domain(NULL, guard, sizeof(guard)), "");
}

/* ------------------------------------------------------------------ */

/*
 * Every case is a row: the named tests below, then one test a row of
 * the matrix and of nets_rows. The array is sized from the tables, so
 * a test added to one of them runs. PM_TEST_FILTER or the first
 * argument selects cases by name (cmocka glob: "relay_networks: *").
 */
int main(int argc, char **argv)
{
	static const struct CMUnitTest named[] = {
		cmocka_unit_test(test_profile),
		cmocka_unit_test(test_client_networks),
		cmocka_unit_test(test_disabled_port),
		cmocka_unit_test(test_unknown_port_reject),
		cmocka_unit_test(test_min_tls_version),
		cmocka_unit_test(test_mail_flags),
		cmocka_unit_test(test_max_recipients),
		cmocka_unit_test(test_postfix_rejected),
		cmocka_unit_test(test_allow_unauth_relay),
		cmocka_unit_test(test_local_domains),
		cmocka_unit_test(test_routed_relay),
		cmocka_unit_test(test_addr_table),
		cmocka_unit_test(test_addr_long_and_tiny),
	};
	static char names[NMATRIX + NNETS][96];
	static const char *const modes[] = { "mx", "submission", "submissions" };
	static struct CMUnitTest tests[UNIT_N(named) + NMATRIX + NNETS];
	size_t i, n = 0;

	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	setup_world();
	for (i = 0; i < UNIT_N(named); i++)
		tests[n++] = named[i];
	for (i = 0; i < NMATRIX; i++) {
		const struct mrow *r = &matrix[i];

		snprintf(names[i], sizeof(names[i]), "matrix %s %s tls=%s auth=%s %s",
			 modes[r->mode], r->known ? "known" : "unknown",
			 r->tls == PM_TLS_NONE ? "none" : "TLSv1.3",
			 r->auth ? "yes" : "no", r->local ? "local" : "remote");
		tests[n++] = unit_row(names[i], test_matrix_row, r);
	}
	for (i = 0; i < NNETS; i++) {
		snprintf(names[NMATRIX + i], sizeof(names[0]),
			 "relay_networks: %s", nets_rows[i].name);
		tests[n++] = unit_row(names[NMATRIX + i],
				      test_relay_networks_row, &nets_rows[i]);
	}
	assert_int_equal(n, UNIT_N(tests));
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
