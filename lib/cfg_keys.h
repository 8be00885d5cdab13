/*
 * cfg_keys - private to the config parser: the key table (name, scope,
 * type, where the value goes, range, default per mode) and the value
 * parsers. cfg.c reads files; cfg_keys.c knows what each key accepts.
 * Not for use outside lib/cfg*.c.
 */
#ifndef PM_CFG_KEYS_H
#define PM_CFG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"

/*
 * The key table: name, scope, type, where the value goes, range, and
 * the default text for each mode (index: enum cfg_mode). Defaults are
 * parsed by the same code as the file, so they cannot drift from it.
 */
enum cfg_scope {
	CFG_GLOBAL,
	CFG_PORT,
};

/*
 * A type decides the C type of the field that cfg_value_set() writes
 * through the row's offset: declare the field with exactly that type
 * (a CFG_T_NUMBER field declared unsigned long or size_t is only
 * partly written, and nothing warns).
 */
enum cfg_type {
	/* strings (char *): checked by cfg_str_ok() */
	CFG_T_SOCKET, CFG_T_TEXT, CFG_T_ABSPATH, CFG_T_HOST, CFG_T_HOSTPORT,
	CFG_T_OPTPATH, CFG_T_LOGSRC,	/* LOGSRC: a path, journal[:DIR] */
	CFG_T_LISTEN,			/* the last string type */
	/* lists (struct cfg_strlist) */
	CFG_T_DOMAINS, CFG_T_WORDS,
	/* scalars: UNKNOWN enum cfg_unknown_port, MODE enum cfg_mode,
	 * BOOL bool, TLS int (PM_TLS_*), NUMBER unsigned (min..max of the
	 * row, at most UINT_MAX), SIZE unsigned long long (bytes, k/M/G),
	 * FULL enum cfg_full_action, ACTION enum cfg_milter_action */
	CFG_T_UNKNOWN, CFG_T_MODE, CFG_T_BOOL, CFG_T_TLS, CFG_T_NUMBER,
	CFG_T_SIZE, CFG_T_FULL, CFG_T_ACTION,
	/* networks (struct cfg_nets): at least one (client_networks), or
	 * also "none" or nothing for an empty list (relay_networks) */
	CFG_T_NETS, CFG_T_NETS_OR_NONE,
	/* budgets (struct cfg_limits, nothing allocated) and their action
	 * (enum cfg_limit_action); SENDER_LOGIN enum cfg_sender_login */
	CFG_T_LIMITS, CFG_T_LIMITS_BYTES, CFG_T_LIMIT_ACTION,
	CFG_T_SENDER_LOGIN,
};

enum cfg_key_id {	/* global keys first, then per-port keys */
	CFG_K_MILTER_SOCKET, CFG_K_DATABASE, CFG_K_JOURNAL_DIRECTORY,
	CFG_K_JOURNAL_MAX_SIZE, CFG_K_JOURNAL_FULL_ACTION,
	CFG_K_NODE_NAME, CFG_K_LOCAL_DOMAINS, CFG_K_RELAY_DOMAINS,
	CFG_K_LOCAL_TRANSPORTS, CFG_K_UNKNOWN_PORT,
	CFG_K_MILTER_DEFAULT_ACTION, CFG_K_POSTFIX_CHROOT, CFG_K_METRICS_LISTEN,
	CFG_K_LIMIT_CLASSES, CFG_K_SENDER_LOGIN_MAP, CFG_K_POSTFIX_LOG,
	CFG_K_MODE, CFG_K_LIKE, CFG_K_ENABLED, CFG_K_REQUIRE_TLS,
	CFG_K_REQUIRE_AUTH, CFG_K_TLS_BEFORE_AUTH, CFG_K_ALLOW_UNAUTH_RELAY,
	CFG_K_MIN_TLS_VERSION, CFG_K_CLIENT_NETWORKS, CFG_K_RELAY_NETWORKS,
	CFG_K_MAX_RECIPIENTS, CFG_K_LISTEN,
	CFG_K_LIMIT_MESSAGES, CFG_K_LIMIT_RECIPIENTS, CFG_K_LIMIT_BYTES,
	CFG_K_LIMIT_ACTION, CFG_K_LIMITS_ENFORCE, CFG_K_SENDER_LOGIN,
	CFG_NKEYS
};

struct cfg_key {
	const char *name;
	enum cfg_scope scope;
	enum cfg_type type;
	size_t off;		/* in struct cfg or struct cfg_port */
	long min, max;		/* CFG_T_NUMBER */
	const char *def[3];	/* by enum cfg_mode; NULL = stays 0 */
};

extern const struct cfg_key cfg_keys[CFG_NKEYS];
extern const char *const cfg_mode_names[3];
extern const char *const cfg_milter_action_names[4];

/* Parse v as key k's type into base (a struct cfg for global keys, a
 * struct cfg_port for the others), replacing what was there; false with
 * the reason in why. */
bool cfg_value_set(const struct cfg_key *k, const char *v, void *base,
		   char *why, size_t wlen);

/* Free whatever cfg_value_set() allocated for k in base. */
void cfg_value_free(const struct cfg_key *k, void *base);

/* Check a value without keeping it. */
bool cfg_value_check(const struct cfg_key *k, const char *v, char *why,
		     size_t wlen);

const struct cfg_key *cfg_key_find(const char *name);

/* A budget value: "none" or "N/WINDOW" pairs (cfg.h); bytes: N takes
 * k, M or G. */
bool cfg_limits_parse(const char *v, bool bytes, struct cfg_limits *out,
		      char *why, size_t wlen);

/* Read the limit_classes file into cfg->classes; each problem is a
 * "FILE:LINE: message" through report(arg, line, text). False on any. */
bool cfg_classes_load(struct cfg *cfg, void (*report)(void *arg,
		      unsigned line, const char *text), void *arg);

void cfg_classes_free(struct cfg_classes *c);

/* Read the sender_login_map file into cfg->sender_map (report: as
 * cfg_classes_load). */
bool cfg_sender_map_load(struct cfg *cfg, void (*report)(void *arg,
			 unsigned line, const char *text), void *arg);

void cfg_sender_map_free(struct cfg_sender_map *m);

/* Whole decimal number in min..max (strtol base 10, no junk). */
bool cfg_decimal(const char *s, long min, long max, long *out);

/* Make room for need elements of size bytes in *ptr (doubling). */
void *cfg_grow(void *ptr, size_t *alloc, size_t need, size_t size);

/* Quote untrusted text for a message (escaped, cut with "..."). */
#define CFG_Q(buf, s)	str_escape(buf, sizeof(buf), s)

#endif
