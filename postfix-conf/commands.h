/*
 * commands - the commands of portmilter-conf (see main.c for the
 * command line): master and main print, apply changes the Postfix
 * configuration through postconf, check compares; autoconfig (in
 * autoconfig.c) writes client settings files. Each returns the
 * exit status: PC_EXIT_OK, PC_EXIT_DRIFT (check found a difference) or
 * PC_EXIT_ERROR (a message is on stderr).
 */
#ifndef PM_COMMANDS_H
#define PM_COMMANDS_H

#include <stdbool.h>

#include "cfg.h"

enum {
	PC_EXIT_OK = 0,
	PC_EXIT_DRIFT = 1,
	PC_EXIT_ERROR = 2,
};

/* The command line of autoconfig, as given (checked by autoconfig.c):
 * NULL = not given. */
struct pc_ac_opts {
	const char *format;		/* thunderbird, mobileconfig, srv, html */
	const char *domain;		/* --domain */
	const char *host;		/* --host */
	const char *name;		/* --name */
	const char *imap_host;		/* --imap-host */
	const char *imap_port;		/* --imap-port */
	const char *port;		/* --port */
	const char *output;		/* -o */
};

struct pc_opts {
	const char *config;		/* portmilter.conf */
	const char *postfix_dir;	/* NULL = not given */
	const char *postconf;		/* postconf(1) */
	bool dry_run;
	bool force;
	struct pc_ac_opts ac;		/* autoconfig only */
};

int pc_cmd_master(const struct pc_opts *o, const struct cfg *cfg);
int pc_cmd_main(const struct pc_opts *o, const struct cfg *cfg);
int pc_cmd_apply(const struct pc_opts *o, const struct cfg *cfg);
int pc_cmd_check(const struct pc_opts *o, const struct cfg *cfg);

/* "portmilter-conf: " + message on stderr. */
void pc_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
