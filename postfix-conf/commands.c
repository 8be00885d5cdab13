/*
 * commands - master, main, apply, check. See commands.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "msg.h"
#include "gen.h"
#include "plan.h"
#include "postconf.h"
#include "text.h"
#include "util.h"

void pc_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_cli_verror(fmt, ap);
	va_end(ap);
}

/* Print and free a message; PC_EXIT_ERROR. */
static int pc_fail(char *msg)
{
	pc_error("%s", msg);
	free(msg);
	return PC_EXIT_ERROR;
}

static const char *pc_dir(const struct pc_opts *o)
{
	return o->postfix_dir ? o->postfix_dir : PC_DEFAULT_POSTFIX_DIR;
}

/* master and main: from the config alone; with --postfix-dir, the
 * queue directory (the chroot) comes from that Postfix. */
static int pc_print(const struct pc_opts *o, const struct cfg *cfg,
		    bool master)
{
	struct pc_postconf pc = { o->postconf, pc_dir(o) };
	struct pc_want want;
	char *err = NULL, *queue_dir = NULL;
	bool ok;

	if (o->postfix_dir != NULL &&
	    (!pc_postfix_dir_ok(pc.dir, &err) ||
	     (queue_dir = pc_queue_dir(&pc, &err)) == NULL))
		return pc_fail(err);
	if (queue_dir == NULL && !master)
		queue_dir = xstrdup(PC_DEFAULT_QUEUE_DIR);
	ok = pc_want_build(cfg, master ? NULL : queue_dir, &want, &err);
	free(queue_dir);
	if (!ok)
		return pc_fail(err);
	if (master)
		pc_print_master(&want, stdout);
	else
		pc_print_main(&want, stdout);
	pc_want_free(&want);
	return PC_EXIT_OK;
}

int pc_cmd_master(const struct pc_opts *o, const struct cfg *cfg)
{
	return pc_print(o, cfg, true);
}

int pc_cmd_main(const struct pc_opts *o, const struct cfg *cfg)
{
	return pc_print(o, cfg, false);
}

/* Read the live configuration and compare: *want and *plan filled. */
static bool pc_compare(const struct pc_opts *o, const struct cfg *cfg,
		       bool force, struct pc_want *want, struct pc_plan *plan,
		       char **err)
{
	struct pc_postconf pc = { o->postconf, pc_dir(o) };
	const char *params[PC_NMAIN + PC_PLAN_NEXTRA];
	struct pc_live live;
	bool ok;

	memcpy(params, pc_main_params, sizeof(pc_main_params));
	memcpy(params + PC_NMAIN, pc_plan_extra_params,
	       sizeof(pc_plan_extra_params));
	if (!pc_postfix_dir_ok(pc.dir, err) ||
	    !pc_live_read(&pc, params, PC_NMAIN + PC_PLAN_NEXTRA, &live, err))
		return false;
	ok = pc_want_build(cfg, live.queue_dir, want, err);
	if (ok)
		pc_plan_build(want, &live, force, plan);
	pc_live_free(&live);
	return ok;
}

/* One item as apply (or apply --dry-run) reports it. */
static void pc_print_change(const struct pc_item *it, bool dry_run)
{
	const char *would = dry_run ? "would " : "";

	switch (it->kind) {
	case PC_I_ADD:
		printf("%sadd service %s (port %u): %s\n", would, it->key,
		       it->port, it->value);
		break;
	case PC_I_FIELD:
	case PC_I_OVER:
	case PC_I_MAIN:
		printf("%sset %s%s = %s", would, it->kind == PC_I_MAIN ?
		       "main.cf " : "", it->key, it->value);
		if (it->old != NULL)
			printf(" (was: %s)", it->old);
		putchar('\n');
		if (it->why != NULL)
			printf("  %s\n", it->why);
		break;
	case PC_I_MANUAL:
		printf("not changed: %s\n", it->text);
		break;
	case PC_I_NOTE:
		printf("note: %s\n", it->text);
		break;
	case PC_I_KEEP:
		printf("keep %s\n", it->text);
		break;
	}
}

/* After apply: a second comparison must find nothing left to do. */
static int pc_verify(const struct pc_opts *o, const struct cfg *cfg)
{
	struct pc_want want;
	struct pc_plan plan;
	char *err = NULL;
	size_t left;

	if (!pc_compare(o, cfg, o->force, &want, &plan, &err))
		return pc_fail(err);
	left = pc_plan_fixes(&plan);
	for (size_t i = 0; i < plan.n && left > 0; i++)
		if (plan.v[i].kind < PC_I_MANUAL)
			pc_error("postconf did not apply: %s = %s",
				 plan.v[i].key, plan.v[i].value);
	pc_plan_free(&plan);
	pc_want_free(&want);
	return left ? PC_EXIT_ERROR : PC_EXIT_OK;
}

/* Run the fixes and compare again; on any failure main.cf and
 * master.cf are put back as they were (never half-applied). */
static int pc_apply_fixes(const struct pc_opts *o, const struct cfg *cfg,
			  const struct pc_plan *plan,
			  const struct pc_postconf *pc, size_t fixes)
{
	struct pc_snap snap;
	char *err = NULL;
	int status;

	if (!pc_snap_take(pc->dir, &snap, &err))
		return pc_fail(err);
	if (!pc_plan_execute(plan, pc, &err))
		status = pc_fail(err);
	else
		status = pc_verify(o, cfg);
	if (status == PC_EXIT_OK) {
		printf("%zu changes made in %s: run \"postfix -c %s reload\" "
		       "to use them\n", fixes, pc->dir, pc->dir);
	} else if (pc_snap_restore(&snap, &err)) {
		pc_error("nothing changed: main.cf and master.cf in %s are "
			 "as they were before apply", pc->dir);
	} else {
		pc_fail(err);
	}
	pc_snap_free(&snap);
	return status;
}

int pc_cmd_apply(const struct pc_opts *o, const struct cfg *cfg)
{
	struct pc_postconf pc = { o->postconf, pc_dir(o) };
	struct pc_want want;
	struct pc_plan plan;
	char *err = NULL;
	size_t fixes, manual;
	int status = PC_EXIT_OK;

	if (!pc_compare(o, cfg, o->force, &want, &plan, &err))
		return pc_fail(err);
	for (size_t i = 0; i < plan.n; i++)
		pc_print_change(&plan.v[i], o->dry_run);
	fixes = pc_plan_fixes(&plan);
	manual = 0;
	for (size_t i = 0; i < plan.n; i++)
		manual += plan.v[i].kind == PC_I_MANUAL;
	if (fixes == 0)
		printf("no change\n");
	else if (o->dry_run)
		printf("%zu changes would be made in %s (dry run: nothing "
		       "changed)\n", fixes, pc.dir);
	else
		status = pc_apply_fixes(o, cfg, &plan, &pc, fixes);
	if (manual > 0)
		printf("%zu differences left to the admin: see \"not changed\" "
		       "above, or run portmilter-conf check\n", manual);
	pc_plan_free(&plan);
	pc_want_free(&want);
	return status;
}

int pc_cmd_check(const struct pc_opts *o, const struct cfg *cfg)
{
	struct pc_want want;
	struct pc_plan plan;
	char *err = NULL;
	size_t drifts;

	if (!pc_compare(o, cfg, false, &want, &plan, &err))
		return pc_fail(err);
	for (size_t i = 0; i < plan.n; i++)
		if (plan.v[i].text != NULL && plan.v[i].kind != PC_I_KEEP)
			printf("%s: %s\n", plan.v[i].kind == PC_I_NOTE ?
			       "note" : "drift", plan.v[i].text);
	drifts = pc_plan_drifts(&plan);
	if (drifts == 0)
		printf("clean: %s matches %s\n", pc_dir(o), o->config);
	else
		printf("%zu drifts between %s and %s: portmilter-conf apply "
		       "fixes the ones it can\n", drifts, pc_dir(o), o->config);
	pc_plan_free(&plan);
	pc_want_free(&want);
	return drifts ? PC_EXIT_DRIFT : PC_EXIT_OK;
}
