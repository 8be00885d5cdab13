/*
 * plan_over - the -o options of one service: each judged by the
 * property portmilter needs, the admin's kept; a like port's taken
 * from the port it is like. Policy in plan.h.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "plan_int.h"
#include "restrict.h"
#include "text.h"
#include "util.h"

static bool pc_naming(const char *param)
{
	return strcmp(param, "syslog_name") == 0 ||
	       strcmp(param, "milter_macro_daemon_name") == 0;
}

/* The N of ">=TLSv1.N", -1 for anything else. */
static int pc_tls_floor(const char *v)
{
	long n;

	if (v == NULL || strncmp(v, ">=TLSv1.", 8) != 0 ||
	    !str_to_long(v + 8, 0, 9, &n))
		return -1;
	return (int) n;
}

/* Does the live value have what a scalar -o needs? */
static bool pc_scalar_ok(const struct pc_override *o, const char *have)
{
	if (have == NULL)
		return false;
	if (strcmp(have, o->value) == 0)
		return true;
	switch (o->how) {
	case PC_O_TLS_LEVEL:
		return strcmp(o->value, "may") == 0 &&
		       strcmp(have, "encrypt") == 0;
	case PC_O_YES_FLOOR:
		return strcmp(o->value, "no") == 0;
	case PC_O_TLS_FLOOR:
		return pc_tls_floor(o->value) >= 0 &&
		       pc_tls_floor(have) >= pc_tls_floor(o->value);
	default:
		return false;
	}
}

static void pc_keep(struct pc_one *c, const char *param, const char *value,
		    const char *why)
{
	pc_item(c->plan, PC_I_KEEP, c->w->port, pc_strf(
		"%s/inet/%s = %s (%s)", c->name, param, value, why));
}

/* Set -o param=value on the service (text: the drift, may be NULL).
 * have may point into the service's final options, which the set
 * replaces: it is copied first. */
static struct pc_item *pc_set(struct pc_one *c, const char *param,
			      const char *value, const char *have, char *text)
{
	char *old = have ? xstrdup(have) : NULL;
	struct pc_item *it;

	if (c->fresh) {
		free(text);
		text = NULL;
	}
	pc_kv_set(&c->final->over, param, value);
	it = pc_fix(c->plan, PC_I_OVER, c->w->port, pc_strf("%s/inet/%s",
		    c->name, param), value, old, text);
	free(old);
	return it;
}

/*
 * A restriction list: the admin's (or main.cf's) with what we need.
 * A service without its own -o starts from main.cf's list when o says
 * so (o->seed), and an existing service also when main.cf sets the
 * list explicitly: that list applied to the service until now, and an
 * -o of ours must not silently shadow the admin's rules in it.
 */
static void pc_plan_list(struct pc_one *c, const struct pc_override *o,
			 const char *have)
{
	enum pc_guard g = o->how == PC_O_MX_RELAY ? PC_GUARD_MX : PC_GUARD_AUTH;
	const char *from = have, *x, *brace;
	char *out, *added, *dropped, *why = NULL, *key, *elem = NULL;
	struct pc_item *it;
	bool main_cf = false;

	if (have == NULL && (o->seed || (!c->fresh &&
	    pc_kv_get(&c->live->explicit, o->param) != NULL))) {
		/* As main.cf writes it; Postfix's default as it expands
		 * (the raw default is a compatibility_level expression). */
		x = pc_kv_get(&c->live->expanded, o->param);
		from = pc_kv_get(&c->live->explicit, o->param) ? pc_kv_get(
			&c->live->raw, o->param) : x;
		main_cf = true;
	} else {
		key = pc_strf("%s/inet/%s", c->name, o->param);
		x = pc_kv_get(&c->live->overrides_x, key);
		free(key);
	}
	if (from != NULL && ((brace = pc_list_brace_error(from, &elem)) != NULL ||
	    (x != NULL && (brace = pc_list_brace_error(x, &elem)) != NULL))) {
		pc_item(c->plan, PC_I_MANUAL, c->w->port, pc_strf(
			"%s/inet (port %u): %s %s=%s: its element %s has %s; "
			"apply leaves the list as it is (it cannot tell what "
			"it holds) until the braces are fixed by hand",
			c->name, c->w->port, main_cf ? "main.cf's" : "-o",
			o->param, from, elem, brace));
		free(elem);
		if (have != NULL)
			pc_kv_set(&c->final->over, o->param, have);
		return;
	}
	if (from == NULL) {
		pc_set(c, o->param, o->value, NULL, pc_strf(
		       "%s/inet (port %u): -o %s=%s is missing", c->name,
		       c->w->port, o->param, o->value));
		return;
	}
	if (pc_restr_ok(g, x ? x : from)) {
		if (!main_cf) {
			if (strcmp(from, o->value) != 0)
				pc_keep(c, o->param, from, "the admin's, has "
					"what portmilter needs");
			pc_kv_set(&c->final->over, o->param, from);
		} else if (from[0] != '\0')
			pc_keep(c, o->param, from, "main.cf's, has what "
				"portmilter needs: no -o");
		return;
	}
	if (!pc_restr_merge(g, from, c->force, &out, &added, &dropped, &why)) {
		pc_item(c->plan, PC_I_MANUAL, c->w->port, pc_strf(
			"%s/inet (port %u): %s %s=%s lacks what portmilter "
			"needs (%s) and is left as it is: %s",
			c->name, c->w->port, main_cf ? "main.cf's" : "-o",
			o->param, from, g == PC_GUARD_AUTH ?
			"permit_sasl_authenticated, then reject at the end" :
			"reject_unauth_destination", why));
		free(why);
		if (have != NULL)
			pc_kv_set(&c->final->over, o->param, have);
		return;
	}
	it = pc_set(c, o->param, out, have, pc_strf(
	       "%s/inet (port %u): %s %s=%s lacks what portmilter needs: "
	       "kept, with %s added%s%s%s", c->name, c->w->port,
	       main_cf ? "main.cf's" : "-o", o->param, from, added,
	       dropped[0] ? " and " : "", dropped,
	       dropped[0] ? " dropped (--force)" : ""));
	if (from[0] != '\0')
		it->why = pc_strf("kept: %s%s; added: %s%s%s", main_cf ?
				  "main.cf's " : "the admin's ", from, added,
				  dropped[0] ? "; dropped: " : "", dropped);
	if (main_cf && from[0] != '\0' && !c->fresh)
		pc_item(c->plan, PC_I_NOTE, c->w->port, pc_strf(
			"%s/inet (port %u) gets a copy of main.cf's %s: a "
			"later change there does not reach this port (edit "
			"its -o, or make main.cf's list hold %s)", c->name,
			c->w->port, o->param, g == PC_GUARD_MX ?
			"reject_unauth_destination" : "what portmilter needs"));
	free(out);
	free(added);
	free(dropped);
}

/* One -o option of ours on the service (have: its live value). */
void pc_plan_over(struct pc_one *c, const struct pc_override *o)
{
	const char *have = c->fresh ? NULL :
			   pc_over_get(c->live, c->name, o->param);

	if (o->how == PC_O_AUTH_LIST || o->how == PC_O_MX_RELAY) {
		pc_plan_list(c, o, have);
		return;
	}
	if (pc_scalar_ok(o, have)) {
		if (strcmp(have, o->value) != 0)
			pc_keep(c, o->param, have, "the admin's, stronger");
		return;
	}
	if (o->how == PC_O_SOFT && have != NULL && !c->force &&
	    strncmp(have, "portmilter/", 11) != 0) {
		pc_item(c->plan, PC_I_NOTE, c->w->port, pc_strf(
			"%s/inet (port %u) keeps -o %s=%s, set by the "
			"admin (portmilter-conf would set %s; --force "
			"replaces it)", c->name, c->w->port, o->param,
			have, o->value));
		return;
	}
	pc_set(c, o->param, o->value, have, have ? pc_strf(
	       "%s/inet (port %u): -o %s=%s, portmilter.conf implies %s",
	       c->name, c->w->port, o->param, have, o->value) :
	       pc_strf("%s/inet (port %u): -o %s=%s is missing", c->name,
		       c->w->port, o->param, o->value));
}

/* The live -o options of a service into final (prefix "NAME/inet/"). */
void pc_final_load(struct pc_final *f, const struct pc_live *live,
		   const char *name)
{
	char *prefix = pc_strf("%s/inet/", name);
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < live->overrides.n; i++)
		if (strncmp(live->overrides.v[i].key, prefix, plen) == 0)
			pc_kv_set(&f->over, live->overrides.v[i].key + plen,
				  live->overrides.v[i].value);
	free(prefix);
}

/* -o milter_default_action other than portmilter.conf's: set back. */
void pc_plan_action(struct pc_one *c, const char *action)
{
	const char *have = pc_kv_get(&c->final->over, "milter_default_action");

	if (have == NULL || strcmp(have, action) == 0)
		return;
	pc_set(c, "milter_default_action", action, have, pc_strf(
	       "%s/inet (port %u): -o milter_default_action=%s: with the "
	       "milter down, mail on this port would be %s unchecked "
	       "(portmilter.conf says %s)", c->name, c->w->port, have,
	       strcmp(have, "accept") == 0 ? "accepted" : "handled", action));
}

/* The generated -o of w for param, NULL if none. */
static const struct pc_override *pc_over_of(const struct pc_service *w,
					    const char *param)
{
	for (size_t i = 0; i < w->nover; i++)
		if (strcmp(w->over[i].param, param) == 0)
			return &w->over[i];
	return NULL;
}

/* Does w's own section make param differ from its like service b? */
static bool pc_own(const struct pc_service *w, const struct pc_service *b,
		   const char *param)
{
	const struct pc_override *ow = pc_over_of(w, param);
	const struct pc_override *ob = pc_over_of(b, param);

	if (ow == NULL)
		return ob != NULL;	/* b needs it, w's section not */
	return ob == NULL || ob->how != ow->how ||
	       strcmp(ob->value, ow->value) != 0;
}

/* May a like port take b's value v of param? Not a restriction list
 * that lacks what the like port needs (b's own conflict, left to the
 * admin, must not spread): v as b's service expands it when it is
 * b's live value. */
static bool pc_copy_ok(const struct pc_one *c, const char *bname,
		       const char *param, const char *v)
{
	const struct pc_override *o = pc_over_of(c->w, param);
	char *key;
	const char *live, *x;
	bool ok;

	if (o == NULL || (o->how != PC_O_AUTH_LIST && o->how != PC_O_MX_RELAY))
		return true;
	key = pc_strf("%s/inet/%s", bname, param);
	live = pc_kv_get(&c->live->overrides, key);
	x = pc_kv_get(&c->live->overrides_x, key);
	ok = pc_restr_ok(o->how == PC_O_MX_RELAY ? PC_GUARD_MX : PC_GUARD_AUTH,
			 live && x && strcmp(live, v) == 0 ? x : v);
	free(key);
	return ok;
}

/* A like port: every -o of its like service's final set, but naming
 * and what its own section changes; its own extras reported. */
void pc_plan_like(struct pc_one *c, const struct pc_service *b,
		  const char *bname, const struct pc_final *bf)
{
	const struct pc_kvlist *bo = &bf->over;

	for (size_t i = 0; i < c->w->nover; i++) {
		const char *p = c->w->over[i].param, *v = pc_kv_get(bo, p);

		if (pc_naming(p) || pc_own(c->w, b, p) ||
		    (v != NULL && !pc_copy_ok(c, bname, p, v)))
			pc_plan_over(c, &c->w->over[i]);
	}
	for (size_t i = 0; i < bo->n; i++) {
		const char *p = bo->v[i].key, *v = bo->v[i].value;
		const char *have = c->fresh ? NULL :
				   pc_over_get(c->live, c->name, p);

		if (pc_naming(p) || pc_own(c->w, b, p) ||
		    !pc_copy_ok(c, bname, p, v))
			continue;
		if (have != NULL && strcmp(have, v) == 0) {
			pc_kv_set(&c->final->over, p, v);
			continue;
		}
		pc_set(c, p, v, have, have ? pc_strf(
		       "%s/inet (port %u, like %u): -o %s=%s differs from "
		       "%s/inet's %s", c->name, c->w->port, b->port, p, have,
		       bname, v) : pc_strf(
		       "%s/inet (port %u, like %u): -o %s=%s of %s/inet is "
		       "missing", c->name, c->w->port, b->port, p, v, bname));
	}
	if (c->fresh)
		return;
	for (size_t i = 0; i < c->live->overrides.n; i++) {
		const char *k = c->live->overrides.v[i].key, *p;
		size_t nlen = strlen(c->name);

		if (strncmp(k, c->name, nlen) != 0 ||
		    strncmp(k + nlen, "/inet/", 6) != 0)
			continue;
		p = k + nlen + 6;
		if (pc_naming(p) || pc_own(c->w, b, p) ||
		    pc_kv_get(bo, p) != NULL)
			continue;
		pc_item(c->plan, PC_I_MANUAL, c->w->port, pc_strf(
			"%s/inet (port %u, like %u) has -o %s=%s that %s/inet "
			"has not: add it there too, or remove it here "
			"(postconf -PX %s/inet/%s)", c->name, c->w->port,
			b->port, p, c->live->overrides.v[i].value, bname,
			c->name, p));
	}
}
