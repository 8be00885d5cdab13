/*
 * cfg - portmilter.conf, the one source of truth for every program.
 *
 * Format (Postfix-like):
 *   # comment                 (whole line; '#' after a value is part of it)
 *   key = value               global keys, before the first section
 *   [port 587]                one section per TCP port, 1..65535
 *   mode = submission         per-port keys inside a section
 *   like = 25                 inherit another port's settings
 * A line that starts with white space continues the previous line
 * (as in main.cf). Lists take commas and/or white space as separators.
 * Booleans are "yes" or "no", nothing else.
 *
 * Resolution of a port's effective settings:
 *   1. the keys set in the section of its "like" port (recursively,
 *      so that port's own "like" applies first),
 *   2. then the keys set in its own section (they win),
 *   3. then every key still unset takes the default of the resulting
 *      mode (see cfg.c's table and README.md).
 * A section with neither "mode" nor "like" gets mode = submission,
 * the strictest.
 *
 * Other programs' sections: "[watch]" and "[detector NAME]" (NAME of
 * letters, digits and '_') belong to portmilter-watch. Their lines follow
 * the same syntax (comments, continuations, "key = value", no control
 * characters, no key twice in a section, no section twice) and are kept
 * as text in cfg->sections, unchecked: the milter and portmilter-conf
 * ignore them, portmilter-watch checks them (watch/wconf.h).
 *
 * Errors: cfg_load() and cfg_parse() check the whole file and report
 * every problem found, one per line, each "FILE:LINE: message" (unknown
 * key, bad value, duplicate key or port, like loop or unknown target,
 * port out of range, global key in a section, line too long, ...).
 * Nothing is ever silently defaulted after an error: they return NULL.
 *
 * A struct cfg is immutable once returned and reference counted, so a
 * reload can swap in a new one while connections finish with the old
 * one (cfg_ref/cfg_unref are thread-safe).
 */
#ifndef PM_CFG_H
#define PM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define CFG_DEFAULT_PATH "/etc/portmilter/portmilter.conf"

enum cfg_mode {
	CFG_MODE_MX,		/* port 25: server to server */
	CFG_MODE_SUBMISSION,	/* 587, 5870, 12345: STARTTLS then AUTH */
	CFG_MODE_SUBMISSIONS,	/* 465, 4650: implicit TLS then AUTH */
};

enum cfg_full_action {
	CFG_FULL_TEMPFAIL,	/* journal full: tempfail new mail (default) */
	CFG_FULL_DROP,		/* journal full: mail flows, events dropped */
};

/* Postfix milter_default_action: what smtpd does when the milter is
 * unreachable or fails (Postfix 3.7's values; its default changes in
 * 3.11, so portmilter-conf always sets it). */
enum cfg_milter_action {
	CFG_MA_TEMPFAIL,	/* 451 4.7.1, the client retries (default) */
	CFG_MA_ACCEPT,		/* mail flows unchecked and unrecorded */
	CFG_MA_REJECT,		/* 5xx: mail is refused */
	CFG_MA_QUARANTINE,	/* accepted, held in the hold queue */
};

enum cfg_unknown_port {
	CFG_UNKNOWN_STRICT,	/* submission rules + a warning (default) */
	CFG_UNKNOWN_REJECT,	/* refuse the connection */
};

/*
 * TLS protocol versions, ordered: major * 10 + minor (TLS 1.2 = 12).
 * PM_TLS_NONE = no TLS at all; PM_TLS_UNKNOWN = TLS in place but a
 * version string that was not understood (fails any minimum).
 */
enum {
	PM_TLS_UNKNOWN = -1,
	PM_TLS_NONE = 0,
	PM_TLS_1_0 = 10,
	PM_TLS_1_1 = 11,
	PM_TLS_1_2 = 12,
	PM_TLS_1_3 = 13,
};

struct cfg_strlist {
	size_t n;
	char **v;
};

/* A list of networks (client_networks, relay_networks). */
struct cfg_nets {
	size_t n;
	struct pm_cidr *v;		/* NULL when n = 0 */
};

/*
 * A budget (limit_messages, limit_recipients, limit_bytes): up to
 * CFG_LIMITS_MAX "N/WINDOW" pairs, e.g. "200/1h, 1000/1d"; n = 0 =
 * no limit ("none", the default). Windows are seconds, 1s..30d, each
 * at most once per key; N is 1..10^12 (limit_bytes: bytes, with an
 * optional k, M or G, 1024-based). See milter/budget.h for counting.
 */
#define CFG_LIMITS_MAX		4
#define CFG_WINDOW_MAX		(30U * 86400U)
struct cfg_limit {
	unsigned long long max;
	unsigned window;		/* seconds */
};

struct cfg_limits {
	unsigned n;
	struct cfg_limit v[CFG_LIMITS_MAX];
};

enum cfg_limit_key {
	CFG_LIMIT_MESSAGES,
	CFG_LIMIT_RECIPIENTS,
	CFG_LIMIT_BYTES,
	CFG_NLIMITS
};

/* What a budget does once spent (limit_action). */
enum cfg_limit_action {
	CFG_LIMIT_TEMPFAIL,	/* 4xx, the client retries (default) */
	CFG_LIMIT_REJECT,	/* 5xx */
	CFG_LIMIT_HOLD,		/* accepted into Postfix's hold queue */
};

/* sender_login: must a SASL user's envelope sender be theirs? */
enum cfg_sender_login {
	CFG_SL_NONE,		/* no check (default) */
	CFG_SL_EXACT,		/* sender = login */
	CFG_SL_DOMAIN,		/* sender's domain = login's domain */
	CFG_SL_MAP,		/* sender (or @domain) owned in sender_login_map */
};

/* The sender_login_map file, sorted by key for bsearch. */
struct cfg_sender_map {
	size_t n;
	struct cfg_sender_owner {
		char *key;		/* "user@domain" or "@domain", lower case */
		struct cfg_strlist logins;	/* lower case */
	} *v;
};

/* A class of the limit_classes file: its own budgets for its users;
 * set[k] false = the port's limits[k] apply. */
struct cfg_class {
	char *name;
	bool set[CFG_NLIMITS];
	struct cfg_limits limits[CFG_NLIMITS];
};

/* The limit_classes file: classes, and logins sorted for bsearch. */
struct cfg_classes {
	size_t nclasses;
	struct cfg_class *classes;
	size_t nusers;
	struct cfg_user_class {
		char *login;
		const struct cfg_class *cls;
	} *users;
};

struct cfg_port {
	unsigned port;			/* 1..65535 */
	enum cfg_mode mode;
	bool enabled;			/* no: connections refused */
	bool require_tls;		/* TLS before MAIL */
	bool require_auth;		/* AUTH before MAIL */
	bool tls_before_auth;		/* AUTH without TLS = exposure */
	bool allow_unauth_relay;	/* never yes unless an admin says so */
	int min_tls_version;		/* PM_TLS_*; PM_TLS_NONE = any */
	struct cfg_nets networks;	/* allowed client networks, n >= 1 */
	struct cfg_nets relay_networks;	/* may relay without AUTH, 0 = none */
	unsigned max_recipients;	/* per message, 1..100000 */
	unsigned like;			/* port inherited from, 0 = none */
	char *listen;			/* "all" or an IP address literal */
	struct cfg_limits limits[CFG_NLIMITS];	/* by enum cfg_limit_key */
	enum cfg_limit_action limit_action;
	bool limits_enforce;		/* no: monitor, refuse nothing (budgets
					 * and sender_login) */
	enum cfg_sender_login sender_login;
	unsigned line;			/* line of "[port N]"; 0 = built in */
};

/* A "[watch]" or "[detector NAME]" section, as written. */
struct cfg_section {
	char *name;			/* "watch", "detector" */
	char *arg;			/* NAME of [detector NAME]; "" for [watch] */
	unsigned line;			/* of the header */
	size_t n;
	struct cfg_setting {
		char *key, *value;
		unsigned line;
	} *v;
};

struct cfg {
	char *path;			/* as given to cfg_load/cfg_parse */
	/* global keys */
	char *milter_socket;		/* see cfg_socket_check() */
	char *database;			/* libpq conninfo */
	char *journal_directory;
	unsigned long long journal_max_size;	/* bytes; "1G", "512M", "64k" */
	enum cfg_full_action journal_full_action;
	char *node_name;		/* "" = the host name */
	struct cfg_strlist local_domains;	/* ".example.com" = subdomains */
	struct cfg_strlist relay_domains;
	struct cfg_strlist local_transports;	/* {rcpt_mailer} values */
	enum cfg_unknown_port unknown_port;
	enum cfg_milter_action milter_default_action;	/* for main.cf */
	bool postfix_chroot;		/* master.cf chroot column of smtpd */
	char *metrics_listen;		/* "none" or ADDRESS:PORT (/metrics) */
	char *limit_classes;		/* file of classes, "" = none */
	struct cfg_classes classes;	/* read from it with the config */
	char *sender_login_map;		/* file, "" = none */
	struct cfg_sender_map sender_map;	/* read from it */
	char *postfix_log;		/* Postfix's log to follow: a file, "journal"
				 * or "journal:DIR"; "" = off */
	/* per-port sections, sorted by port number */
	size_t nports;
	struct cfg_port *ports;
	/* the profile for a port without a section (submission defaults) */
	struct cfg_port strict;
	/* [watch], [detector NAME]: other programs' sections, file order */
	size_t nsections;
	struct cfg_section *sections;
	int refs;			/* private: use cfg_ref/cfg_unref */
};

/*
 * Read and check a file. On success the result has one reference.
 * On failure returns NULL and *errors (if errors != NULL) is a
 * malloc'd text, one "FILE:LINE: message\n" per problem; free() it.
 */
struct cfg *cfg_load(const char *path, char **errors);

/* The same on a text in memory; name is used in messages. */
struct cfg *cfg_parse(const char *name, const char *text, char **errors);

struct cfg *cfg_ref(struct cfg *cfg);
void cfg_unref(struct cfg *cfg);

/* The section for a port, or NULL if the file has none. */
const struct cfg_port *cfg_port_find(const struct cfg *cfg, unsigned port);

/* "127.0.0.1:9465", "[::1]:9465" (brackets for IPv6, a port 1..65535)
 * into *addr and *port (port may be NULL); false if not that. */
bool cfg_hostport_parse(const char *v, struct pm_addr *addr, unsigned *port);

/* Print the effective per-port table (portmilter -n). */
void cfg_print(const struct cfg *cfg, FILE *fp);

/*
 * Is v a milter socket portmilter accepts (milter_socket, portmilter -p)?
 *   unix:/ABSOLUTE/PATH    no ".." component, at most CFG_SOCKET_PATH_MAX
 *                          bytes (sun_path)
 *   inet:PORT[@HOST]       PORT 1..65535 in decimal; HOST a host name
 *   inet6:PORT[@HOST]      (letters, digits, '.', '-', '_') or an address
 *                          literal of the family, bare or in [brackets]
 * Never blanks, commas, braces, '$' or control characters anywhere: the
 * value goes into main.cf's smtpd_milters, where they mean something.
 * False with the reason (no value quoted) in why.
 */
#define CFG_SOCKET_PATH_MAX	107
bool cfg_socket_check(const char *v, char *why, size_t wlen);

const char *cfg_mode_name(enum cfg_mode mode);

/* The name of a port's generated Postfix service and of its syslog_name
 * ("postfix/LABEL"): "smtp" (25), "submission" (587), "submissions"
 * (465), else the number in buf (len >= 6). portmilter-conf's service
 * names and the log reader's port mapping must agree on it. */
const char *cfg_port_label(unsigned port, char *buf, size_t len);

/* "tempfail", "accept", "reject", "quarantine" (Postfix's words). */
const char *cfg_milter_action_name(enum cfg_milter_action action);

/* "TLSv1.2" -> PM_TLS_1_2; "TLSv1" = "TLSv1.0"; NULL/"" -> PM_TLS_NONE;
 * anything else (including "SSLv3") -> PM_TLS_UNKNOWN. Accepts the
 * spellings Postfix puts in {tls_version} and those of the config. */
int cfg_tls_version_parse(const char *text);

/* "TLSv1.2", "none", "unknown". */
const char *cfg_tls_version_name(int version);

/* Does domain (any case, optional trailing dot) match an entry of the
 * list? "example.com" matches itself; ".example.com" its subdomains. */
bool cfg_domain_in(const struct cfg_strlist *list, const char *domain);

/* The class of a SASL login in the limit_classes file, or NULL. */
const struct cfg_class *cfg_class_find(const struct cfg *cfg,
				       const char *login);

/* The logins that own key ("user@domain" or "@domain", lower case) in
 * the sender_login_map file, or NULL. */
const struct cfg_strlist *cfg_sender_owners(const struct cfg *cfg,
					    const char *key);

/* "limit_messages", "limit_recipients", "limit_bytes". */
const char *cfg_limit_name(enum cfg_limit_key key);

/* A budget as the file writes it: "200/1h, 1000/1d", or "none". */
const char *cfg_limits_text(const struct cfg_limits *l, bool bytes,
			    char *buf, size_t len);

/*
 * The distinct windows of one budget key over every port, the strict
 * profile and every class, sorted: at most CFG_WINDOWS_MAX; returns
 * their number (the budget counters keep one meter per window).
 */
#define CFG_WINDOWS_MAX	8
size_t cfg_limit_windows(const struct cfg *cfg, enum cfg_limit_key key,
			 unsigned out[CFG_WINDOWS_MAX]);

bool cfg_strlist_has(const struct cfg_strlist *list, const char *word);

/* Is the address in one of the networks? An unknown address (family 0)
 * never is, whatever the list. */
bool cfg_nets_has(const struct cfg_nets *nets, const struct pm_addr *addr);

#endif
