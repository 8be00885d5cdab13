/*
 * plan - compare what portmilter.conf implies (gen.h) with the live
 * Postfix configuration (postconf.h) and list the differences, each as
 * a change apply makes or as a drift it leaves to the admin.
 *
 * The policy for what the admin wrote (README.md, "portmilter-conf"):
 *   - A port's service is the master.cf inet service of that name, or
 *     else any inet service on that port (the port resolved as master(8)
 *     does: number or /etc/services name, so "smtps" is port 465) on a
 *     compatible address. It is used under its own name; only a port
 *     without one gets a new service (postconf -M).
 *   - Its -o overrides are set (postconf -P); other -o options of the
 *     admin's stay. Naming overrides (syslog_name,
 *     milter_macro_daemon_name) that the admin set differently are kept
 *     (a note) unless --force: other tools (log parsers, OpenDKIM or
 *     amavis "ORIGINATING") may rely on them.
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
};

struct pc_item {
	enum pc_item_kind kind;
	unsigned port;		/* 0: not about one port */
	char *key;		/* postconf key; NULL for MANUAL and NOTE */
	char *value;		/* what it becomes */
	char *old;		/* what it was; NULL = not set */
	char *text;		/* the drift or note as check prints it;
				 * NULL = part of the item before it */
};

struct pc_plan {
	size_t n, alloc;
	struct pc_item *v;
};

/* The main.cf parameters pc_live_read() must fetch for a plan:
 * pc_main_params (gen.h), then these. */
#define PC_PLAN_NEXTRA	5
extern const char *const pc_plan_extra_params[PC_PLAN_NEXTRA];

void pc_plan_build(const struct pc_want *want, const struct pc_live *live,
		   bool force, struct pc_plan *plan);
void pc_plan_free(struct pc_plan *plan);

/* Items apply runs (ADD, FIELD, OVER, MAIN). */
size_t pc_plan_fixes(const struct pc_plan *plan);

/* Drifts as check counts them (every item with a text but notes). */
size_t pc_plan_drifts(const struct pc_plan *plan);

/* Run the fixes: one postconf call per kind (-M, -F, -P, -e, in that
 * order, as -M would replace a service's -o options). */
bool pc_plan_execute(const struct pc_plan *plan, const struct pc_postconf *pc,
		     char **err);

#endif
