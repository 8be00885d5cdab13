/*
 * plan_int - what plan.c and plan_over.c share (not for other modules).
 *
 * pc_item() and pc_fix() append an item to the plan and return it
 * (pc_fix copies value and old; key and text are taken over).
 * pc_over_get() is a live service's -o value, NULL if it has none.
 *
 * struct pc_one is one service being planned; its final set is what
 * its -o options are after apply (for the ports like it).
 * pc_final_load() loads a live service's -o options into it;
 * pc_plan_over() plans one of our -o options (plan.h's policy);
 * pc_plan_like() plans a like port from the final set of the port it
 * is like; pc_plan_action() sets a -o milter_default_action back.
 */
#ifndef PM_PLAN_INT_H
#define PM_PLAN_INT_H

#include <stdbool.h>

#include "gen.h"
#include "plan.h"
#include "postconf.h"
#include "text.h"

/* What a service's -o options become: the admin's, with ours. */
struct pc_final {
	struct pc_kvlist over;		/* param -> value after apply */
	bool done;
	bool alone;			/* left to the admin: a like port
					 * gets its own section's -o */
};

/* One service being planned. */
struct pc_one {
	struct pc_plan *plan;
	const struct pc_service *w;
	const char *name;		/* the live service's name, or w's */
	bool fresh;			/* a new service: no text per -o */
	const struct pc_live *live;
	bool force;
	struct pc_final *final;
};

struct pc_item *pc_item(struct pc_plan *plan, enum pc_item_kind kind,
			unsigned port, char *text);
struct pc_item *pc_fix(struct pc_plan *plan, enum pc_item_kind kind,
		       unsigned port, char *key, const char *value,
		       const char *old, char *text);
const char *pc_over_get(const struct pc_live *live, const char *svc,
			const char *param);

void pc_final_load(struct pc_final *f, const struct pc_live *live,
		   const char *name);
void pc_plan_over(struct pc_one *c, const struct pc_override *o);
void pc_plan_like(struct pc_one *c, const struct pc_service *b,
		  const char *bname, const struct pc_final *bf);
void pc_plan_action(struct pc_one *c, const char *action);

#endif
