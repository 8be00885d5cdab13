/*
 * gen - what portmilter.conf implies for Postfix: the master.cf smtpd
 * service of every enabled port with its "-o" overrides, and the main.cf
 * settings that wire the milter in. Pure: no I/O besides printing.
 *
 * Service names (master.cf column 1):
 *   25 -> smtp, 587 -> submission, 465 -> submissions (RFC 8314's name,
 *   the one Postfix 3.5+ and Debian 12's master.cf use; "smtps" is its
 *   old alias), any other port -> its number. With "listen = ADDR" the
 *   name is ADDR:NAME ("127.0.0.1:5870", "[::1]:submission").
 *
 * The milter's main.cf name (smtpd_milters entry), from milter_socket:
 *   unix:PATH, postfix_chroot = yes  PATH must be under Postfix's
 *       queue_directory (the chroot); the entry is unix: + PATH without
 *       that prefix (/var/spool/postfix/portmilter/portmilter.sock ->
 *       unix:/portmilter/portmilter.sock). Outside it: an error.
 *   unix:PATH, postfix_chroot = no   unix:PATH as is.
 *   inet:PORT@HOST -> inet:HOST:PORT; inet6:PORT@HOST -> inet:[HOST]:PORT;
 *       no host, 0.0.0.0 or :: (the milter listens everywhere) -> the
 *       loopback address of that family.
 *
 * syslog_name: postfix/NAME, one word (log tools such as fail2ban's
 * postfix filter expect postfix/WORD/smtpd); none for port 25, whose
 * stock smtp service keeps Postfix's own postfix/smtpd tag.
 * A port with "like = N" (N enabled) has like = N (plan.h: it takes
 * N's -o options as they are after apply).
 *
 * Failures: pc_want_build() returns false with a malloc'd message that
 * names the config file (the socket cannot be reached by Postfix).
 */
#ifndef PM_GEN_H
#define PM_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cfg.h"

#define PC_MAX_OVER	16	/* overrides of one service */
#define PC_DEFAULT_QUEUE_DIR "/var/spool/postfix"

/* How a live -o value is judged against ours (plan.h). */
enum pc_over_how {
	PC_O_EXACT,	/* this value */
	PC_O_SOFT,	/* a name (syslog_name, milter_macro_daemon_name):
			 * the admin's different value is kept unless --force */
	PC_O_TLS_LEVEL,	/* "may": may or encrypt; "encrypt": encrypt */
	PC_O_YES_FLOOR,	/* "no": any value; "yes": yes */
	PC_O_TLS_FLOOR,	/* ">=TLSv1.N": an equal or higher floor */
	PC_O_AUTH_LIST,	/* restriction list, PC_GUARD_AUTH (restrict.h) */
	PC_O_MX_RELAY,	/* restriction list, PC_GUARD_MX */
};

/* One "-o param=value" (value: what a new service gets, no white
 * space: postconf -P). seed: a service without this -o starts from
 * main.cf's value of param (what it saw before), not from value; an
 * existing service does so for any list main.cf sets explicitly
 * (plan.h). */
struct pc_override {
	const char *param;
	char *value;
	enum pc_over_how how;
	bool seed;
};

struct pc_service {
	unsigned port;
	enum cfg_mode mode;
	char *name;		/* master.cf service name */
	char *host;		/* NULL = all addresses, else "::1", ... */
	bool chroot;
	unsigned like;		/* port of the enabled service it is like, 0 */
	size_t nover;
	struct pc_override over[PC_MAX_OVER];
};

/* How a main.cf setting is compared with the live value. */
enum pc_main_how {
	PC_MAIN_EXACT,		/* set explicitly in main.cf, to this value */
	PC_MAIN_MILTERS,	/* our entry is one of the list's milters */
	PC_MAIN_MACROS,		/* every macro of ours is in the list */
};

struct pc_main {
	const char *param;
	const char *value;	/* static or owned by struct pc_want */
	enum pc_main_how how;
};

#define PC_NMAIN	8

struct pc_want {
	const char *config;		/* path, for messages */
	size_t nservices;
	struct pc_service *services;	/* in port order */
	char *milter;			/* our smtpd_milters entry */
	struct pc_main main[PC_NMAIN];
};

/* Build from a loaded config; queue_dir = Postfix's queue_directory
 * (the chroot); NULL: services only (want->milter and want->main[] are
 * not filled in, and the socket is not checked). */
bool pc_want_build(const struct cfg *cfg, const char *queue_dir,
		   struct pc_want *want, char **err);
void pc_want_free(struct pc_want *want);

/* The value of one of a service's overrides, NULL if it has none. */
const char *pc_service_over(const struct pc_service *s, const char *param);

/* "NAME inet n - y - - smtpd": the master.cf fields of a new service. */
char *pc_service_entry(const struct pc_service *s);

/* The text of the `master` and `main` commands. */
void pc_print_master(const struct pc_want *want, FILE *fp);
void pc_print_main(const struct pc_want *want, FILE *fp);

/* The main.cf parameter names, in output order (for postconf). */
extern const char *const pc_main_params[PC_NMAIN];

#endif
