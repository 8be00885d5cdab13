/*
 * fuzz_postconf - reading postconf(1)'s output (postfix-conf/text.c:
 * "key = value" lines, Postfix lists with "{ ... }" groups) and the
 * plan that `portmilter-conf apply` and `check` build from it
 * (postfix-conf/plan.c).
 *
 * Input: what the postconf runs of pc_live_read() print, in this
 * order, separated by lines "%%": postconf -F, postconf -P,
 * postconf -n, postconf PARAM..., postconf -x PARAM..., then the
 * queue_directory (ignored unless absolute). A missing part is empty.
 * The first byte chooses the portmilter.conf (bit 0: the shipped
 * layout or one with listen, an inet milter and postfix_chroot = no)
 * and --force (bit 1).
 *
 * Oracles: the plan's fixes name a key and a value without a line
 * break; and apply is idempotent: once its fixes are applied to the
 * live configuration (as postconf -M, -F, -P and -e would), a second
 * plan has nothing left to fix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gen.h"
#include "msg.h"
#include "oracle.h"
#include "plan.h"
#include "postconf.h"
#include "text.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const configs[2] = {
	"[port 25]\nmode = mx\n[port 587]\nmode = submission\n"
	"[port 5870]\nlike = 587\n[port 12345]\nlike = 587\n"
	"[port 465]\nmode = submissions\n[port 4650]\nlike = 465\n",
	"milter_socket = inet:10025@127.0.0.1\npostfix_chroot = no\n"
	"[port 25]\nmode = mx\nlisten = 192.0.2.1\n"
	"[port 587]\nmode = submission\nlisten = ::1\n"
	"[port 2525]\nlike = 25\n",
};
static struct cfg *cfgs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_postconf", 0);
	for (size_t i = 0; i < 2; i++) {
		char *errors = NULL;

		if ((cfgs[i] = cfg_parse("fuzz.conf", configs[i], &errors)) == NULL)
			fuzz_fail("built-in config %zu: %s", i, errors);
	}
	return 0;
}

/* value with "$name", "${name}" and "$(name)" replaced by the -n value
 * of name ("" if none), at most depth levels deep. */
static void expand(struct strbuf *b, const struct pc_kvlist *n,
		   const char *value, int depth)
{
	for (const char *p = value; *p != '\0';) {
		const char *name, *v;
		size_t len;
		char close = 0, *k;

		if (*p != '$') {
			strbuf_add(b, p++, 1);
			continue;
		}
		p++;
		if (*p == '{' || *p == '(')
			close = *p == '{' ? '}' : ')', p++;
		name = p;
		len = strspn(p, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		p += len;
		if (close != 0 && *p == close)
			p++;
		k = xstrndup(name, len);
		v = pc_kv_get(n, k);
		free(k);
		if (v != NULL && depth > 0)
			expand(b, n, v, depth - 1);
	}
}

static void set_expanded(struct pc_kvlist *into, struct pc_live *live,
			 const char *key, const char *value)
{
	struct strbuf b = { 0 };
	char *x;

	strbuf_str(&b, "");
	expand(&b, &live->explicit, value, 4);
	x = strbuf_take(&b);
	pc_kv_add(into, key, x);
	free(x);
}

/* What "postconf -M NAME/inet='NAME inet n - y - - smtpd'" leaves in
 * postconf -F's output. */
static void apply_add(struct pc_live *live, const char *key, const char *entry)
{
	static const char *const fields[] = { "service", "type", "private",
		"unprivileged", "chroot", "wakeup", "process_limit", "command" };
	char *copy = xstrdup(entry), *f, *save = NULL, *k;
	size_t i = 0;

	for (f = strtok_r(copy, " ", &save); f != NULL && i < 8;
	     f = strtok_r(NULL, " ", &save), i++) {
		k = pc_strf("%s/%s", key, fields[i]);
		pc_kv_add(&live->fields, k, f);
		free(k);
	}
	free(copy);
}

/* Forget every "prefix..." entry of l. */
static void kv_drop(struct pc_kvlist *l, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);

	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i].key, prefix, plen) == 0) {
			free(l->v[i].key);
			free(l->v[i].value);
		} else {
			l->v[n++] = l->v[i];
		}
	}
	l->n = n;
}

static void apply(const struct pc_plan *plan, struct pc_live *live)
{
	for (size_t i = 0; i < plan->n; i++) {
		const struct pc_item *it = &plan->v[i];

		switch (it->kind) {
		case PC_I_ADD: {
			/* -M replaces the entry, its -o options too */
			char *prefix = pc_strf("%s/", it->key);

			kv_drop(&live->overrides, prefix);
			kv_drop(&live->overrides_x, prefix);
			free(prefix);
			apply_add(live, it->key, it->value);
			break;
		}
		case PC_I_FIELD:
			pc_kv_add(&live->fields, it->key, it->value);
			break;
		case PC_I_OVER:
			pc_kv_add(&live->overrides, it->key, it->value);
			set_expanded(&live->overrides_x, live, it->key,
				     it->value);
			break;
		case PC_I_MAIN:
			pc_kv_add(&live->explicit, it->key, it->value);
			pc_kv_add(&live->raw, it->key, it->value);
			set_expanded(&live->expanded, live, it->key,
				     it->value);
			break;
		default:
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_kvlist *parts[5], ignored = { 0, 0, NULL };
	struct pc_live live;
	struct pc_want want;
	struct pc_plan plan, again;
	char *text, *p, *err = NULL;
	const struct cfg *cfg;
	bool force;
	size_t k = 0;

	if (size < 1 || size > 65536)
		return 0;
	cfg = cfgs[data[0] & 1];
	force = data[0] & 2;
	text = fuzz_text(data + 1, size - 1);
	/* postconf never prints a CR (main.cf's line ends are trimmed) */
	for (char *r = text, *w = text;; r++)
		if (*r != '\r' && (*w++ = *r) == '\0')
			break;
	memset(&live, 0, sizeof(live));
	parts[0] = &live.fields;
	parts[1] = &live.overrides;
	parts[2] = &live.explicit;
	parts[3] = &live.raw;
	parts[4] = &ignored;
	for (p = text; k < 5; k++) {
		char *end = strstr(p, "\n%%\n");

		if (end != NULL)
			*end = '\0';
		pc_kv_parse(parts[k], p);
		if (end == NULL) {
			p = NULL;
			break;
		}
		p = end + 4;
	}
	live.queue_dir = xstrdup(p != NULL && k == 5 && p[0] == '/' ?
				 p : PC_DEFAULT_QUEUE_DIR);
	live.queue_dir[strcspn(live.queue_dir, "\n")] = '\0';
	free(text);
	pc_kv_free(&ignored);
	for (size_t i = 0; i < live.raw.n; i++)
		set_expanded(&live.expanded, &live, live.raw.v[i].key,
			     live.raw.v[i].value);
	for (size_t i = 0; i < live.overrides.n; i++)
		set_expanded(&live.overrides_x, &live, live.overrides.v[i].key,
			     live.overrides.v[i].value);

	if (!pc_want_build(cfg, live.queue_dir, &want, &err)) {
		/* unix: socket outside this queue_directory */
		free(err);
		pc_live_free(&live);
		return 0;
	}
	pc_plan_build(&want, &live, force, &plan);
	for (size_t i = 0; i < plan.n; i++) {
		const struct pc_item *it = &plan.v[i];

		if (it->kind >= PC_I_MANUAL)
			continue;
		if (it->key == NULL || it->value == NULL ||
		    strpbrk(it->key, "\r\n") != NULL ||
		    strpbrk(it->value, "\r\n") != NULL)
			fuzz_fail("fix %zu: key %s value %s", i,
				  fuzz_esc(it->key), fuzz_esc(it->value));
	}
	(void)pc_plan_drifts(&plan);
	apply(&plan, &live);
	pc_plan_build(&want, &live, force, &again);
	if (pc_plan_fixes(&again) != 0) {
		for (size_t i = 0; i < again.n; i++)
			if (again.v[i].kind < PC_I_MANUAL)
				fuzz_fail("not idempotent: after apply, still "
					  "%s = %s (was %s)",
					  fuzz_esc(again.v[i].key),
					  fuzz_esc(again.v[i].value),
					  fuzz_esc(again.v[i].old));
	}
	pc_plan_free(&again);
	pc_plan_free(&plan);
	pc_want_free(&want);
	pc_live_free(&live);
	return 0;
}
