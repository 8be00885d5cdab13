/*
 * plan - live Postfix configuration against portmilter.conf.
 * See plan.h for the policy.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "plan.h"
#include "sasl.h"
#include "plan_int.h"
#include "text.h"
#include "util.h"

/* main.cf parameters read besides the PC_NMAIN ones of gen.h. */
const char *const pc_plan_extra_params[PC_PLAN_NEXTRA] = {
	"smtpd_tls_cert_file", "smtpd_tls_chain_files", "smtpd_tls_key_file",
	"smtpd_sasl_type", "smtpd_sasl_path", "cyrus_sasl_config_path",
	"smtpd_client_restrictions", "smtpd_helo_restrictions",
	"smtpd_recipient_restrictions", "smtpd_relay_restrictions",
};

/* An inet service of master.cf, as postconf -F shows it. */
struct pc_svc {
	char *name;
	char host[256];		/* "" = all addresses */
	unsigned port;		/* 0 = not understood */
	bool matched;
};

struct pc_svcs {
	size_t n;
	struct pc_svc *v;
};

/* ---- plan items ---------------------------------------------------------- */

struct pc_item *pc_item(struct pc_plan *plan, enum pc_item_kind kind,
			unsigned port, char *text)
{
	struct pc_item *it;

	if (plan->n == plan->alloc) {
		plan->alloc = plan->alloc ? plan->alloc * 2 : 32;
		plan->v = xrealloc(plan->v, plan->alloc * sizeof(*plan->v));
	}
	it = &plan->v[plan->n++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->port = port;
	it->text = text;
	return it;
}

struct pc_item *pc_fix(struct pc_plan *plan, enum pc_item_kind kind,
		       unsigned port, char *key, const char *value,
		       const char *old, char *text)
{
	struct pc_item *it = pc_item(plan, kind, port, text);

	it->key = key;
	it->value = xstrdup(value);
	it->old = old ? xstrdup(old) : NULL;
	return it;
}

void pc_plan_free(struct pc_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		free(plan->v[i].key);
		free(plan->v[i].value);
		free(plan->v[i].old);
		free(plan->v[i].text);
		free(plan->v[i].why);
	}
	free(plan->v);
	memset(plan, 0, sizeof(*plan));
}

size_t pc_plan_fixes(const struct pc_plan *plan)
{
	size_t n = 0;

	for (size_t i = 0; i < plan->n; i++)
		n += plan->v[i].kind < PC_I_MANUAL;
	return n;
}

size_t pc_plan_drifts(const struct pc_plan *plan)
{
	size_t n = 0;

	for (size_t i = 0; i < plan->n; i++)
		n += plan->v[i].kind <= PC_I_MANUAL && plan->v[i].text != NULL;
	return n;
}

/* ---- the live services --------------------------------------------------- */

/* Host and port of a service name ("smtp", "127.0.0.1:5870",
 * "[::1]:submission"), as master(8) reads it. */
static void pc_svc_addr(struct pc_svc *s)
{
	const char *name = s->name, *port = name, *end;
	struct pm_addr a;
	struct servent *se;
	long num;

	if (name[0] == '[' && (end = strchr(name, ']')) != NULL &&
	    end[1] == ':') {
		snprintf(s->host, sizeof(s->host), "%.*s",
			 (int) (end - name - 1), name + 1);
		port = end + 2;
	} else if ((end = strrchr(name, ':')) != NULL) {
		snprintf(s->host, sizeof(s->host), "%.*s",
			 (int) (end - name), name);
		port = end + 1;
	}
	if (strcmp(s->host, "*") == 0)
		s->host[0] = '\0';
	if (s->host[0] != '\0' && addr_parse(s->host, &a))
		addr_to_text(&a, s->host, sizeof(s->host));
	if (str_to_long(port, 1, 65535, &num))
		s->port = (unsigned) num;
	else if ((se = getservbyname(port, "tcp")) != NULL)
		s->port = ntohs((uint16_t) se->s_port);
}

/* Every inet service, from the "NAME/inet/service = NAME" lines. */
static void pc_svcs_read(const struct pc_live *live, struct pc_svcs *svcs)
{
	const struct pc_kvlist *f = &live->fields;
	static const char tail[] = "/inet/service";
	size_t klen, tlen = sizeof(tail) - 1;

	svcs->n = 0;
	svcs->v = xcalloc(f->n + 1, sizeof(*svcs->v));
	for (size_t i = 0; i < f->n; i++) {
		klen = strlen(f->v[i].key);
		if (klen <= tlen || strcmp(f->v[i].key + klen - tlen, tail) != 0)
			continue;
		svcs->v[svcs->n].name = xstrndup(f->v[i].key, klen - tlen);
		pc_svc_addr(&svcs->v[svcs->n]);
		svcs->n++;
	}
}

static void pc_svcs_free(struct pc_svcs *svcs)
{
	for (size_t i = 0; i < svcs->n; i++)
		free(svcs->v[i].name);
	free(svcs->v);
}

/* Could both bind the same socket? ("" = all addresses.) */
static bool pc_hosts_overlap(const char *a, const char *b)
{
	return a[0] == '\0' || b[0] == '\0' || str_eq_nocase(a, b);
}

/* The live service for a wanted one: same name, else same port. */
static struct pc_svc *pc_svc_match(struct pc_svcs *svcs,
				   const struct pc_service *w)
{
	const char *host = w->host ? w->host : "";

	for (size_t i = 0; i < svcs->n; i++)
		if (strcmp(svcs->v[i].name, w->name) == 0)
			return &svcs->v[i];
	for (size_t i = 0; i < svcs->n; i++)
		if (svcs->v[i].port == w->port && !svcs->v[i].matched &&
		    pc_hosts_overlap(svcs->v[i].host, host))
			return &svcs->v[i];
	return NULL;
}

/* A field of a live service, "-" when postconf did not show it. */
static const char *pc_field(const struct pc_live *live, const char *svc,
			    const char *field)
{
	char *key = pc_strf("%s/inet/%s", svc, field);
	const char *v = pc_kv_get(&live->fields, key);

	free(key);
	return v ? v : "-";
}

const char *pc_over_get(const struct pc_live *live, const char *svc,
			const char *param)
{
	char *key = pc_strf("%s/inet/%s", svc, param);
	const char *v = pc_kv_get(&live->overrides, key);

	free(key);
	return v;
}

/* ---- one port ------------------------------------------------------------ */

/* Name and address of an existing service that serves the port. */
static void pc_plan_identity(struct pc_plan *plan, const struct pc_service *w,
			     const struct pc_svc *l)
{
	const char *host = w->host ? w->host : "";

	if (strcmp(l->name, w->name) == 0)
		return;
	if (!str_eq_nocase(l->host, host))
		pc_item(plan, PC_I_MANUAL, w->port, pc_strf(
			"%s/inet (port %u) listens on %s, portmilter.conf says "
			"listen = %s: change it by hand (postconf -MX %s/inet, "
			"then portmilter-conf apply)", l->name, w->port,
			l->host[0] ? l->host : "all addresses",
			host[0] ? host : "all", l->name));
	else
		pc_item(plan, PC_I_NOTE, w->port, pc_strf(
			"port %u is served by the existing service %s/inet "
			"(portmilter-conf would name it %s): used as it is",
			w->port, l->name, w->name));
}

/* Fields that matter: command, unprivileged, chroot. */
static void pc_plan_fields(struct pc_plan *plan, const struct pc_service *w,
			   const struct pc_svc *l, const struct pc_live *live,
			   bool force)
{
	const char *cmd = pc_field(live, l->name, "command");
	const char *unpriv = pc_field(live, l->name, "unprivileged");
	const char *chroot = pc_field(live, l->name, "chroot");
	const char *fields[3] = { "command", "unprivileged", "chroot" };
	const char *have[3] = { cmd, unpriv, chroot };
	const char *want[3] = { "smtpd", "-", w->chroot ? "y" : "n" };
	bool differs[3];

	differs[0] = strncmp(cmd, "smtpd", 5) != 0 ||
		     (cmd[5] != '\0' && cmd[5] != ' ');
	differs[1] = strcmp(unpriv, "n") == 0;
	differs[2] = (strcmp(chroot, "y") == 0) != w->chroot;
	for (size_t i = 0; i < 3; i++) {
		char *text;

		if (!differs[i])
			continue;
		text = pc_strf("%s/inet (port %u): %s is %s, portmilter.conf "
			       "implies %s%s", l->name, w->port, fields[i],
			       have[i], want[i], i == 2 ? (w->chroot ?
			       " (postfix_chroot = yes)" :
			       " (postfix_chroot = no)") : "");
		if (force) {
			pc_fix(plan, PC_I_FIELD, w->port, pc_strf("%s/inet/%s",
			       l->name, fields[i]), want[i], have[i], text);
		} else {
			char *t = pc_strf("%s; apply changes it only with "
					  "--force", text);

			free(text);
			pc_item(plan, PC_I_MANUAL, w->port, t);
		}
	}
}

static bool pc_list_has(const char *list, const char *word)
{
	struct cfg_strlist words = { 0, NULL };
	bool has;

	pc_list_words(list, true, &words);
	has = cfg_strlist_has(&words, word);
	pc_strlist_free(&words);
	return has;
}

/* A per-service smtpd_milters, other services on the same port. */
static void pc_plan_service_checks(struct pc_plan *plan,
				   const struct pc_want *want,
				   const struct pc_service *w,
				   const struct pc_svc *l,
				   const struct pc_svcs *svcs,
				   const struct pc_live *live)
{
	const char *m = pc_over_get(live, l->name, "smtpd_milters");

	if (m != NULL && !pc_list_has(m, want->milter))
		pc_item(plan, PC_I_MANUAL, w->port, pc_strf(
			"%s/inet (port %u) overrides smtpd_milters (-o "
			"smtpd_milters=%s) without %s: mail on this port is not "
			"checked nor recorded; add it there or drop the override",
			l->name, w->port, m, want->milter));
	for (size_t i = 0; i < svcs->n; i++) {
		const struct pc_svc *o = &svcs->v[i];

		if (o != l && o->port == w->port &&
		    pc_hosts_overlap(o->host, l->host))
			pc_item(plan, PC_I_MANUAL, w->port, pc_strf(
				"%s/inet also listens on port %u, as %s/inet "
				"does: Postfix cannot bind both; remove one",
				o->name, w->port, l->name));
	}
}

/* ---- services that are not wanted any more ------------------------------- */

static void pc_plan_stale(struct pc_plan *plan, const struct pc_svcs *svcs,
			  const struct pc_live *live)
{
	for (size_t i = 0; i < svcs->n; i++) {
		const struct pc_svc *s = &svcs->v[i];
		const char *mark = pc_over_get(live, s->name,
					       "milter_macro_daemon_name");

		if (s->matched || mark == NULL ||
		    strncmp(mark, "portmilter/", 11) != 0)
			continue;
		pc_item(plan, PC_I_MANUAL, s->port, pc_strf(
			"%s/inet carries -o milter_macro_daemon_name=%s but "
			"portmilter.conf has no enabled port for it: remove it "
			"with postconf -MX %s/inet (apply never removes a service)",
			s->name, mark, s->name));
	}
}

/* ---- main.cf ------------------------------------------------------------- */

static const char *pc_get(const struct pc_kvlist *l, const char *key)
{
	const char *v = pc_kv_get(l, key);

	return v ? v : "";
}

/* A main.cf list Postfix cannot parse (text.h, pc_list_brace_error):
 * reported and left to the admin, true; false when it is sound. What
 * we would append could end up inside the element left open, at every
 * run. */
static bool pc_plan_braces(struct pc_plan *plan, const struct pc_main *m,
			   const struct pc_live *live)
{
	const char *raw = pc_get(&live->raw, m->param);
	const char *x = pc_get(&live->expanded, m->param), *why;
	char *elem = NULL;

	if ((why = pc_list_brace_error(raw, &elem)) == NULL &&
	    (why = pc_list_brace_error(x, &elem)) == NULL)
		return false;
	pc_item(plan, PC_I_MANUAL, 0, pc_strf(
		"main.cf: %s = %s: its element %s has %s; apply leaves %s "
		"alone (it cannot tell what the list holds) until the braces "
		"are fixed by hand", m->param, raw, elem, why, m->param));
	free(elem);
	return true;
}

/* An exact value, set explicitly (the default may change). */
static void pc_plan_exact(struct pc_plan *plan, const struct pc_main *m,
			  const struct pc_live *live)
{
	const char *have = pc_kv_get(&live->explicit, m->param);

	if (have != NULL && strcmp(have, m->value) == 0)
		return;
	pc_fix(plan, PC_I_MAIN, 0, xstrdup(m->param), m->value, have,
	       have ? pc_strf("main.cf: %s = %s, portmilter.conf implies %s",
			      m->param, have, m->value) :
	       pc_strf("main.cf: %s is not set (expected %s: Postfix's "
		       "default is not a promise)", m->param, m->value));
}

/* Our milter among smtpd_milters; other portmilter-looking entries. */
static void pc_plan_milters(struct pc_plan *plan, const struct pc_main *m,
			    const struct pc_live *live)
{
	const char *raw = pc_get(&live->raw, m->param);
	struct cfg_strlist words = { 0, NULL };
	char *value;

	if (pc_plan_braces(plan, m, live))
		return;
	pc_list_words(pc_get(&live->expanded, m->param), true, &words);
	for (size_t i = 0; i < words.n; i++)
		if (strcmp(words.v[i], m->value) != 0 &&
		    strstr(words.v[i], "portmilter") != NULL)
			pc_item(plan, PC_I_NOTE, 0, pc_strf(
				"smtpd_milters also lists %s, which looks like "
				"another portmilter socket: remove it by hand if "
				"it is stale (an unreachable milter means "
				"milter_default_action for every message)",
				words.v[i]));
	if (!cfg_strlist_has(&words, m->value)) {
		value = raw[0] ? pc_strf("%s, %s", raw, m->value) :
				 xstrdup(m->value);
		pc_fix(plan, PC_I_MAIN, 0, xstrdup(m->param), value,
		       raw[0] ? raw : NULL, pc_strf("main.cf: smtpd_milters "
		       "does not list %s: the milter is not wired in",
		       m->value));
		free(value);
	}
	pc_strlist_free(&words);
}

/* Our macros in a milter_*_macros list; the missing ones appended. */
static void pc_plan_macros(struct pc_plan *plan, const struct pc_main *m,
			   const struct pc_live *live)
{
	const char *raw = pc_get(&live->raw, m->param);
	struct cfg_strlist have = { 0, NULL }, ours = { 0, NULL };
	char *missing, *t, *value;

	if (pc_plan_braces(plan, m, live))
		return;
	missing = xstrdup("");
	pc_list_words(pc_get(&live->expanded, m->param), false, &have);
	pc_list_words(m->value, false, &ours);
	for (size_t i = 0; i < ours.n; i++) {
		if (cfg_strlist_has(&have, ours.v[i]))
			continue;
		t = pc_strf("%s%s%s", missing, missing[0] ? " " : "",
			    ours.v[i]);
		free(missing);
		missing = t;
	}
	if (missing[0] != '\0') {
		value = raw[0] ? pc_strf("%s %s", raw, missing) :
				 xstrdup(missing);
		pc_fix(plan, PC_I_MAIN, 0, xstrdup(m->param), value,
		       raw[0] ? raw : NULL, pc_strf("main.cf: %s lacks %s",
		       m->param, missing));
		free(value);
	}
	free(missing);
	pc_strlist_free(&have);
	pc_strlist_free(&ours);
}

/* The first file that main.cf's certificate settings name and that does
 * not exist ("PARAM = FILE", malloc'd), NULL when each is there.
 * smtpd opens them before it enters the chroot: the paths are as
 * written. */
static char *pc_cert_missing(const struct pc_live *live)
{
	static const char *const params[] = { "smtpd_tls_chain_files",
		"smtpd_tls_cert_file", "smtpd_tls_key_file" };
	struct stat st;

	for (size_t p = 0; p < sizeof(params) / sizeof(params[0]); p++) {
		const char *v = pc_get(&live->expanded, params[p]), *e;
		size_t len;

		/* key_file defaults to $smtpd_tls_cert_file: expanded, the
		 * same file again */
		while ((e = pc_list_next(&v, &len)) != NULL) {
			char *f = xstrndup(e, len);

			if (f[0] == '/' && stat(f, &st) != 0) {
				char *why = pc_strf("%s = %s", params[p], f);

				free(f);
				return why;
			}
			free(f);
		}
	}
	return NULL;
}

/* TLS-only ports with no server certificate in main.cf, or one whose
 * file is missing, cannot work. */
static void pc_plan_cert(struct pc_plan *plan, const struct pc_want *want,
			 const struct pc_live *live)
{
	char ports[256] = "", *missing = NULL;
	size_t off = 0;
	bool none = pc_get(&live->expanded, "smtpd_tls_chain_files")[0] == '\0' &&
		    pc_get(&live->expanded, "smtpd_tls_cert_file")[0] == '\0';

	if (!none && (missing = pc_cert_missing(live)) == NULL)
		return;
	for (size_t i = 0; i < want->nservices && off < sizeof(ports) - 16; i++)
		if (strcmp(pc_service_over(&want->services[i],
			   "smtpd_tls_security_level"), "encrypt") == 0)
			off += (size_t) snprintf(ports + off, sizeof(ports) - off,
				"%s%u", off ? ", " : "", want->services[i].port);
	if (off > 0 && none)
		pc_item(plan, PC_I_NOTE, 0, pc_strf(
			"main.cf has no server certificate (smtpd_tls_chain_files "
			"and smtpd_tls_cert_file are empty): ports %s require TLS "
			"and cannot accept mail until one is set", ports));
	else if (off > 0)
		pc_item(plan, PC_I_NOTE, 0, pc_strf(
			"main.cf's server certificate is missing (%s: no such "
			"file): ports %s require TLS and cannot accept mail until "
			"it exists (README.Debian, \"SASL and TLS\")", missing,
			ports));
	free(missing);
}

/* Ports offering AUTH when Postfix has no SASL setup it can use (sasl.h). */
static void pc_plan_sasl(struct pc_plan *plan, const struct pc_want *want,
			 const struct pc_live *live)
{
	char ports[256] = "", *why = NULL;
	size_t off = 0;

	for (size_t i = 0; i < want->nservices && off < sizeof(ports) - 16; i++) {
		const struct pc_service *w = &want->services[i];
		const char *auth = pc_service_over(w, "smtpd_sasl_auth_enable");

		if (auth == NULL || strcmp(auth, "yes") != 0)
			continue;
		if (why == NULL && (why = pc_sasl_problem(
		    pc_get(&live->expanded, "smtpd_sasl_type"),
		    pc_get(&live->expanded, "smtpd_sasl_path"),
		    pc_get(&live->expanded, "cyrus_sasl_config_path"),
		    live->queue_dir ? live->queue_dir : "", w->chroot)) == NULL)
			return;
		off += (size_t) snprintf(ports + off, sizeof(ports) - off,
					 "%s%u", off ? ", " : "", w->port);
	}
	if (why != NULL)
		pc_item(plan, PC_I_NOTE, 0, pc_strf("ports %s offer AUTH, but "
			"Postfix's SASL is not set up: %s; every AUTH will fail "
			"(README.Debian, \"SASL and TLS\")", ports, why));
	free(why);
}

/* The default_action of our milter's "{ ... }" group in a smtpd_milters
 * list, NULL if it has none (malloc'd). */
static char *pc_group_action(const char *list, const char *milter)
{
	const char *s = list, *end, *w, *a;
	size_t mlen = strlen(milter);

	while ((s = strchr(s, '{')) != NULL) {
		end = strchr(s, '}');
		end = end ? end : s + strlen(s);
		w = s + 1 + strspn(s + 1, " \t\r\n,");
		s = end;
		if (strncmp(w, milter, mlen) != 0 ||
		    strchr(" \t\r\n,}", w[mlen]) == NULL)
			continue;
		if ((a = strstr(w, "default_action")) == NULL || a > end)
			return NULL;
		a += strlen("default_action");
		a += strspn(a, " \t");
		if (*a != '=')
			return NULL;
		a++;
		a += strspn(a, " \t");
		return xstrndup(a, strcspn(a, " \t\r\n,}"));
	}
	return NULL;
}

/* A "{ ours, default_action=X }" group with X not ours: reported. */
static void pc_plan_group(struct pc_plan *plan, unsigned port,
			  const char *where, const char *list,
			  const struct pc_want *want)
{
	const char *action = want->main[2].value;
	char *have = pc_group_action(list, want->milter);

	if (have != NULL && strcmp(have, action) != 0)
		pc_item(plan, PC_I_MANUAL, port, pc_strf(
			"%s: smtpd_milters gives %s default_action=%s: with the "
			"milter down, mail would be %s unchecked (portmilter.conf "
			"says %s): remove default_action from the group",
			where, want->milter, have, strcmp(have, "accept") == 0 ?
			"accepted" : "handled", action));
	free(have);
}

/* A live service with an -o value Postfix cannot parse (text.h,
 * pc_list_brace_error): master(8) and postconf read the rest of the
 * entry into the element left open, so postconf -P would rewrite the
 * entry wrongly. Reported; true: apply must leave the service alone. */
static bool pc_plan_svc_braces(struct pc_plan *plan, unsigned port,
			       const struct pc_svc *l,
			       const struct pc_live *live)
{
	char *prefix = pc_strf("%s/inet/", l->name), *elem = NULL;
	size_t plen = strlen(prefix);
	const char *why = NULL;
	size_t i;

	for (i = 0; i < live->overrides.n && why == NULL; i++)
		if (strncmp(live->overrides.v[i].key, prefix, plen) == 0)
			why = pc_list_brace_error(live->overrides.v[i].value,
						  &elem);
	free(prefix);
	if (why == NULL)
		return false;
	i--;
	pc_item(plan, PC_I_MANUAL, port, pc_strf(
		"%s/inet (port %u): -o %s=%s: its element %s has %s; "
		"postconf cannot edit this service (Postfix reads the rest of "
		"its entry into that element): apply leaves %s/inet alone "
		"until the braces are fixed by hand", l->name, port,
		live->overrides.v[i].key + strlen(l->name) + 6,
		live->overrides.v[i].value, elem, why, l->name));
	free(elem);
	return true;
}

/* One wanted service: existing (l) or new. */
static void pc_plan_service(struct pc_plan *plan, const struct pc_want *want,
			    size_t i, struct pc_svc **match,
			    struct pc_final *finals, const struct pc_svcs *svcs,
			    const struct pc_live *live, bool force)
{
	const struct pc_service *w = &want->services[i];
	struct pc_svc *l = match[i];
	struct pc_one c = { plan, w, l ? l->name : w->name, l == NULL, live,
			    force, &finals[i] };
	size_t b = want->nservices;
	char *entry, *where;
	const char *m;

	for (size_t j = 0; w->like && j < want->nservices; j++)
		if (want->services[j].port == w->like)
			b = j;
	if (l == NULL) {
		entry = pc_service_entry(w);
		pc_fix(plan, PC_I_ADD, w->port, pc_strf("%s/inet", w->name),
		       entry, NULL, pc_strf("port %u: no service in master.cf "
		       "(expected %s/inet = %s)", w->port, w->name, entry));
		free(entry);
	} else {
		pc_plan_identity(plan, w, l);
		pc_final_load(&finals[i], live, l->name);
		/* Not even a field with --force (postconf -F). */
		if (pc_plan_svc_braces(plan, w->port, l, live)) {
			finals[i].done = finals[i].alone = true;
			return;
		}
		pc_plan_fields(plan, w, l, live, force);
	}
	if (b < want->nservices && !finals[b].alone)
		pc_plan_like(&c, &want->services[b], match[b] ?
			     match[b]->name : want->services[b].name, &finals[b]);
	else
		for (size_t j = 0; j < w->nover; j++)
			pc_plan_over(&c, &w->over[j]);
	if (want->milter != NULL)
		pc_plan_action(&c, want->main[2].value);
	finals[i].done = true;
	if (l == NULL)
		return;
	pc_plan_service_checks(plan, want, w, l, svcs, live);
	if (want->milter != NULL &&
	    (m = pc_over_get(live, l->name, "smtpd_milters")) != NULL) {
		where = pc_strf("%s/inet (port %u) -o", l->name, w->port);
		pc_plan_group(plan, w->port, where, m, want);
		free(where);
	}
}

/* Is service i's like service (if any) planned already? */
static bool pc_ready(const struct pc_want *want, size_t i,
		     const struct pc_final *finals)
{
	unsigned like = want->services[i].like;

	for (size_t j = 0; like && j < want->nservices; j++)
		if (want->services[j].port == like)
			return finals[j].done;
	return true;
}

void pc_plan_build(const struct pc_want *want, const struct pc_live *live,
		   bool force, struct pc_plan *plan)
{
	struct pc_svcs svcs;
	size_t n = want->nservices, left = n, before;
	struct pc_svc **match = xcalloc(n + 1, sizeof(*match));
	struct pc_final *finals = xcalloc(n + 1, sizeof(*finals));

	memset(plan, 0, sizeof(*plan));
	pc_svcs_read(live, &svcs);
	for (size_t i = 0; i < n; i++)
		if ((match[i] = pc_svc_match(&svcs, &want->services[i])) != NULL)
			match[i]->matched = true;
	/* Port order, a like port after the port it is like (cfg refuses
	 * like loops; a left-over would be planned on its own). */
	while (left > 0) {
		before = left;
		for (size_t i = 0; i < n; i++) {
			if (finals[i].done || !pc_ready(want, i, finals))
				continue;
			pc_plan_service(plan, want, i, match, finals, &svcs,
					live, force);
			left--;
		}
		if (left == before)
			msg_panic("plan: like ports in a loop");
	}
	pc_plan_stale(plan, &svcs, live);
	for (size_t i = 0; i < PC_NMAIN; i++) {
		if (want->main[i].how == PC_MAIN_EXACT)
			pc_plan_exact(plan, &want->main[i], live);
		else if (want->main[i].how == PC_MAIN_MILTERS)
			pc_plan_milters(plan, &want->main[i], live);
		else
			pc_plan_macros(plan, &want->main[i], live);
	}
	if (want->milter != NULL)
		pc_plan_group(plan, 0, "main.cf", pc_get(&live->expanded,
			      "smtpd_milters"), want);
	pc_plan_cert(plan, want, live);
	pc_plan_sasl(plan, want, live);
	for (size_t i = 0; i < n; i++)
		pc_kv_free(&finals[i].over);
	free(finals);
	free(match);
	pc_svcs_free(&svcs);
}

/* ---- running the fixes --------------------------------------------------- */

bool pc_plan_execute(const struct pc_plan *plan, const struct pc_postconf *pc,
		     char **err)
{
	static const struct {
		enum pc_item_kind kind;
		const char *opt;
	} steps[] = {
		{ PC_I_ADD, "-M" }, { PC_I_FIELD, "-F" },
		{ PC_I_OVER, "-P" }, { PC_I_MAIN, "-e" },
	};
	const char **args = xcalloc(plan->n + 2, sizeof(*args));
	char **owned = xcalloc(plan->n + 1, sizeof(*owned));
	size_t nargs, nowned = 0;
	bool ok = true;

	for (size_t s = 0; ok && s < sizeof(steps) / sizeof(*steps); s++) {
		nargs = 0;
		args[nargs++] = steps[s].opt;
		for (size_t i = 0; i < plan->n; i++) {
			if (plan->v[i].kind != steps[s].kind)
				continue;
			owned[nowned] = pc_strf("%s=%s", plan->v[i].key,
						plan->v[i].value);
			args[nargs++] = owned[nowned++];
		}
		if (nargs > 1)
			ok = pc_postconf_run(pc, args, nargs, NULL, err);
	}
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	free(args);
	return ok;
}
