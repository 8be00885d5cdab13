/*
 * plan - compare what portmilter.conf implies (gen.h) with the live
 * Postfix configuration (postconf.h) and list the differences, each as
 * a change apply makes or as a drift it leaves to the admin.
 *
 * The policy for what the admin wrote (README.md, "portmilter-conf"):
 * no rule of the admin's is dropped unless --force says so.
 *   - A port's service is the master.cf inet service of that name, or
 *     else any inet service on that port (the port resolved as master(8)
 *     does: number or /etc/services name, so "smtps" is port 465) on a
 *     compatible address. It is used under its own name; only a port
 *     without one gets a new service (postconf -M).
 *   - Its -o options are judged by the property portmilter needs, not
 *     by string (gen.h, enum pc_over_how): a stronger TLS level or floor
 *     of the admin's is kept; a restriction list keeps every element of
 *     the admin's and gets only what is missing (restrict.h), seeded,
 *     when the service has no -o for it, from the main.cf list it saw
 *     (smtpd_recipient_restrictions of an AUTH port, the relay list of
 *     an mx port, and on an existing service any list main.cf sets
 *     explicitly: it applied there until now; none is set when main.cf's
 *     already holds). A list
 *     that cannot be merged (a bare "permit", white space) is left as it
 *     is and reported; --force drops the "permit". Every other -o of the
 *     admin's stays (a PC_I_KEEP line in apply's output for those
 *     judged). Naming options (syslog_name, milter_macro_daemon_name)
 *     that the admin set differently are kept (a note) unless --force.
 *   - A port with "like = N" (and N enabled) gets every -o option that
 *     N's service has after apply, the admin's included, except the
 *     naming ones and those its own section makes different; an -o it
 *     has that N's has not is reported (a drift), never removed.
 *   - -o milter_default_action on a service different from
 *     portmilter.conf's is set back; a smtpd_milters "{ ... }" group of
 *     ours with another default_action (main.cf or -o) is reported.
 *   - Its fields: command smtpd, unprivileged, chroot as postfix_chroot
 *     says. A difference is reported and changed (postconf -F) only with
 *     --force. Wakeup and process limit are the admin's: not compared.
 *   - A different listen address, a second service on the port, a -o
 *     smtpd_milters without our milter, or a service still marked
 *     portmilter/N for a port that is not enabled any more: reported,
 *     never changed (apply never removes or renames a service).
 *   - main.cf: milter_protocol and milter_default_action are set
 *     explicitly; our milter is appended to smtpd_milters and missing
 *     macros to milter_*_macros, keeping everything already listed.
 *   - Braces Postfix cannot parse (text.h, pc_list_brace_error: a "{"
 *     left open would swallow what we append, at every run): a live
 *     service with such an -o value is left alone, reported (postconf
 *     -P cannot edit it; its like ports plan their own section); such
 *     a main.cf list (smtpd_milters, milter_*_macros, the one a list
 *     -o is seeded from) is reported and not changed.
 */
#ifndef PM_PLAN_H
#define PM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "gen.h"
#include "postconf.h"

enum pc_item_kind {
	PC_I_ADD,	/* new service: postconf -M key=value */
	PC_I_FIELD,	/* service field (--force): postconf -F key=value */
	PC_I_OVER,	/* -o override: postconf -P key=value */
	PC_I_MAIN,	/* main.cf parameter: postconf -e key=value */
	PC_I_MANUAL,	/* a drift that apply leaves to the admin */
	PC_I_NOTE,	/* worth knowing, not a drift */
	PC_I_KEEP,	/* the admin's setting kept (apply's output only) */
};

struct pc_item {
	enum pc_item_kind kind;
	unsigned port;		/* 0: not about one port */
	char *key;		/* postconf key; NULL for MANUAL and NOTE */
	char *value;		/* what it becomes */
	char *old;		/* what it was; NULL = not set */
	char *text;		/* the drift or note as check prints it;
				 * NULL = part of the item before it */
	char *why;		/* apply's detail of a change, or NULL */
};

struct pc_plan {
	size_t n, alloc;
	struct pc_item *v;
};

/* The main.cf parameters pc_live_read() must fetch for a plan:
 * pc_main_params (gen.h), then these. */
#define PC_PLAN_NEXTRA	10
extern const char *const pc_plan_extra_params[PC_PLAN_NEXTRA];

void pc_plan_build(const struct pc_want *want, const struct pc_live *live,
		   bool force, struct pc_plan *plan);
void pc_plan_free(struct pc_plan *plan);

/* Items apply runs (ADD, FIELD, OVER, MAIN). */
size_t pc_plan_fixes(const struct pc_plan *plan);

/* Drifts as check counts them (ADD..MANUAL items with a text). */
size_t pc_plan_drifts(const struct pc_plan *plan);

/* Run the fixes: one postconf call per kind (-M, -F, -P, -e, in that
 * order, as -M would replace a service's -o options). */
bool pc_plan_execute(const struct pc_plan *plan, const struct pc_postconf *pc,
		     char **err);

#endif
