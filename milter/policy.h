/*
 * policy - the per-port rule engine. Pure: no libmilter, no I/O, no
 * global state, no allocation. Given the configuration and the facts of
 * a session so far, each stage function says continue, reject or
 * tempfail, with the SMTP reply and the name of the rule that decided.
 *
 * Stages and rules (rule names are stable: they are logged and stored;
 * every reply comes from the table in policy.c, one row a rule, and
 * README's table "The rules and the replies" is checked against it by
 * tests/doc/rules.sh):
 *   connect: "port_disabled", "unknown_port" (unknown_port = reject),
 *            "client_networks"
 *   MAIL:    "tls_before_auth"  538 5.7.11 (and credential_exposure),
 *            "require_tls"      530 5.7.0,
 *            "min_tls_version"  554 5.7.0,
 *            "require_auth"     530 5.7.0
 *   RCPT:    "postfix_rejected" (continue: Postfix refused it already,
 *            {rcpt_mailer} = "error"; recorded, not judged again),
 *            "max_recipients"   452 4.5.3 (tempfail),
 *            "relay"            554 5.7.1 Relay access denied: not
 *            authenticated, the client not in the port's relay_networks
 *            (an unknown address never is), allow_unauth_relay = no and
 *            the recipient not local (an address longer than 255 bytes
 *            of domain is never local)
 *   budgets (milter/budget.h decides whether one is spent; these say
 *   what follows, by the port's limit_action and limits_enforce):
 *   MAIL:    "limit_messages"   451 4.7.1 (tempfail) / 550 5.7.1 (reject),
 *            "limit_bytes"      451 4.7.1 / 550 5.7.1
 *   RCPT:    "limit_recipients" 452 4.7.1 / 550 5.7.1
 *   MAIL:    "sender_login"     553 5.7.1: an authenticated user's
 *            sender is not theirs (milter/senderlogin.h decides)
 *   limit_action = hold: continue, hold = true (the message goes to
 *   Postfix's hold queue at end of message); limits_enforce = no:
 *   continue, monitor = true, with the would-be reply (sender_login too).
 * A verdict with rule NULL means nothing objected. relay_networks only
 * lifts the relay rule: the MAIL rules (require_tls, require_auth, ...)
 * still apply to such a client.
 *
 * A port with no section gets cfg->strict (submission rules) unless
 * unknown_port = reject; policy_profile() tells the caller to warn.
 * MAIL and RCPT do not repeat the connect checks: a connection refused
 * at connect gets no further steps from Postfix.
 */
#ifndef PM_POLICY_H
#define PM_POLICY_H

#include <stdbool.h>

#include "addr.h"
#include "cfg.h"

struct policy_facts {
	unsigned port;		/* {daemon_port}; 0 = missing or garbage */
	struct pm_addr client;	/* family 0 = unknown */
	int tls_version;	/* PM_TLS_*: NONE = no TLS, UNKNOWN = TLS, unparsed */
	bool authenticated;	/* {auth_type} non-empty */
	unsigned nrcpt;		/* recipients accepted so far in this mail */
};

struct policy_rcpt {
	const char *addr;	/* RCPT TO argument as sent, "<...>" or bare */
	const char *mailer;	/* {rcpt_mailer}; NULL if not sent */
};

enum policy_action {
	POLICY_CONTINUE,
	POLICY_REJECT,
	POLICY_TEMPFAIL,
};

struct policy_verdict {
	enum policy_action action;
	const char *rule;		/* NULL = no rule objected */
	const char *rcode;		/* "554"; NULL with CONTINUE */
	const char *xcode;		/* "5.7.1"; NULL with CONTINUE */
	char text[128];			/* reply text, no CR/LF, no '%' */
	bool credential_exposure;	/* AUTH was done without TLS */
	bool postfix_rejected;		/* RCPT already refused by Postfix */
	bool relay_networks;		/* CONTINUE: a relay without AUTH,
					 * allowed by relay_networks */
	bool monitor;			/* CONTINUE: limits_enforce = no; the
					 * reply is what would have been said */
	bool hold;			/* CONTINUE: limit_action = hold; text
					 * is the reason for the hold queue */
};

/* The rules, in the order of policy.c's table. */
enum policy_rule_id {
	POLICY_RULE_UNKNOWN_PORT,
	POLICY_RULE_PORT_DISABLED,
	POLICY_RULE_CLIENT_NETWORKS,
	POLICY_RULE_TLS_BEFORE_AUTH,
	POLICY_RULE_REQUIRE_TLS,		/* STARTTLS ports */
	POLICY_RULE_REQUIRE_TLS_IMPLICIT,	/* mode = submissions */
	POLICY_RULE_MIN_TLS_VERSION,
	POLICY_RULE_REQUIRE_AUTH,
	POLICY_RULE_JOURNAL_FULL,	/* the milter's, not the policy's */
	POLICY_RULE_POSTFIX_REJECTED,
	POLICY_RULE_MAX_RECIPIENTS,
	POLICY_RULE_RELAY,
	POLICY_RULE_SENDER_LOGIN,
	/* budgets: the reply names the spent N/WINDOW (policy_limit) */
	POLICY_RULE_LIMIT_MESSAGES,		/* limit_action = tempfail */
	POLICY_RULE_LIMIT_MESSAGES_REJECT,	/* limit_action = reject */
	POLICY_RULE_LIMIT_BYTES,
	POLICY_RULE_LIMIT_BYTES_REJECT,
	POLICY_RULE_LIMIT_RECIPIENTS,
	POLICY_RULE_LIMIT_RECIPIENTS_REJECT,
	/* suspensions (milter/suspend.h decides who is suspended) */
	POLICY_RULE_SUSPENDED_USER,
	POLICY_RULE_SUSPENDED_ADDRESS,
	POLICY_RULE_COUNT
};

/* One row of the rule table. */
struct policy_rule {
	const char *name;		/* "relay": logged and stored */
	const char *stage;		/* "connect", "MAIL", "RCPT" */
	enum policy_action action;
	const char *rcode;		/* "554"; NULL: no reply */
	const char *xcode;		/* "5.7.1"; NULL: no reply */
	const char *text;		/* min_tls_version: after the version */
};

/* The row of a rule; an id out of range is a panic. */
const struct policy_rule *policy_rule(enum policy_rule_id id);

/*
 * The verdict a rule gives, reply text included. tls_version is the
 * minimum named by min_tls_version ("TLSv1.2 or newer required"),
 * ignored by the other rules.
 */
struct policy_verdict policy_rule_verdict(enum policy_rule_id id,
					  int tls_version);

/*
 * The profile that applies to a port: its section, or cfg->strict.
 * *known is set false when the port has no section.
 */
const struct cfg_port *policy_profile(const struct cfg *cfg, unsigned port,
				      bool *known);

struct policy_verdict policy_connect(const struct cfg *cfg,
				     const struct policy_facts *facts);
struct policy_verdict policy_mail(const struct cfg *cfg,
				  const struct policy_facts *facts);
struct policy_verdict policy_rcpt(const struct cfg *cfg,
				  const struct policy_facts *facts,
				  const struct policy_rcpt *rcpt);

/* The verdict of a budget rule (POLICY_RULE_LIMIT_*) whose N/WINDOW
 * lim is spent: "Sending limit reached: 200 messages per 1h" (and ",
 * try again later" for a tempfail). */
struct policy_verdict policy_limit_verdict(enum policy_rule_id id,
					   const struct cfg_limit *lim);

/* The verdict of a spent budget (rule named after the key) on port p,
 * by its limit_action and limits_enforce; lim is the N/WINDOW that is
 * spent (named in the reply text). */
struct policy_verdict policy_limit(const struct cfg_port *p,
				   enum cfg_limit_key key,
				   const struct cfg_limit *lim);

/* The verdict of a sender that is not the user's (sender_login) on p. */
struct policy_verdict policy_sender_login(const struct cfg_port *p);

/*
 * Is this address sender-routed, i.e. could it make a local-looking
 * address relay elsewhere? True for "@a:u@b" (source route),
 * "u%remote@local", "\"u@remote\"@local", "remote!u", "remote!u@local".
 */
bool policy_addr_is_routed(const char *addr);

/* The domain of an address ("<u@Example.COM.>" -> "example.com") into
 * buf; "" if there is none. */
const char *policy_addr_domain(const char *addr, char *buf, size_t len);

#endif
