/*
 * cfg_senders - the sender_login_map file (see cfg.h): which SASL
 * logins may use which envelope senders, in the shape of Postfix's
 * smtpd_sender_login_maps source files:
 *   # comment
 *   alice@example.com    alice, alice@example.com
 *   @example.org         bob, carol
 * one KEY (an address, or @domain for every address of the domain) and
 * its owners (logins, separated by commas and/or blanks) a line. Keys
 * and logins are compared without regard to ASCII case. Every problem
 * is reported with the file and line; one of them and the
 * configuration is refused as a whole.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_keys.h"
#include "msg.h"
#include "util.h"

#define CFG_SM_LINE_MAX		4096
#define CFG_SM_FILE_MAX		(64 << 20)
#define CFG_SM_SEP		", \t"

struct cfg_sm_parser {
	void (*report)(void *, unsigned, const char *);
	void *arg;
	size_t alloc;
	bool ok;
};

static PM_PRINTF(3, 4) void cfg_sm_error(struct cfg_sm_parser *p,
					 unsigned line, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->report(p->arg, line, text);
	p->ok = false;
}

static void cfg_sm_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char) (*s - 'A' + 'a');
}

/* "user@domain" or "@domain": one '@', a domain after it. */
static bool cfg_sm_key_ok(const char *k)
{
	const char *at = strchr(k, '@');

	return at != NULL && strchr(at + 1, '@') == NULL && at[1] != '\0' &&
	       strlen(k) <= 512;
}

static void cfg_sm_line(struct cfg_sender_map *m, struct cfg_sm_parser *p,
			char *s, unsigned line)
{
	struct cfg_sender_owner o;
	size_t n, alloc = 0;
	char q[80];

	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && strchr(" \t\r", s[n - 1]) != NULL)
		s[--n] = '\0';
	if (n == 0 || s[0] == '#')
		return;
	for (char *c = s; *c; c++)
		if (((unsigned char) *c < 0x20 && *c != '\t') || *c == 0x7f) {
			cfg_sm_error(p, line, "control character in the line");
			return;
		}
	n = strcspn(s, " \t");
	memset(&o, 0, sizeof(o));
	o.key = xstrndup(s, n);
	cfg_sm_lower(o.key);
	if (!cfg_sm_key_ok(o.key)) {
		cfg_sm_error(p, line, "bad key \"%s\": expected an address "
			     "(user@domain) or @domain", CFG_Q(q, o.key));
		free(o.key);
		return;
	}
	for (s += n; *(s += strspn(s, CFG_SM_SEP)) != '\0'; s += n) {
		n = strcspn(s, CFG_SM_SEP);
		o.logins.v = cfg_grow(o.logins.v, &alloc, o.logins.n + 1,
				      sizeof(*o.logins.v));
		o.logins.v[o.logins.n] = xstrndup(s, n);
		cfg_sm_lower(o.logins.v[o.logins.n++]);
	}
	if (o.logins.n == 0) {
		cfg_sm_error(p, line, "no login after \"%s\": expected \"KEY "
			     "LOGIN[, LOGIN...]\"", CFG_Q(q, o.key));
		free(o.key);
		return;
	}
	m->v = cfg_grow(m->v, &p->alloc, m->n + 1, sizeof(*m->v));
	m->v[m->n++] = o;
}

static int cfg_sm_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cfg_sender_owner *) a)->key,
		      ((const struct cfg_sender_owner *) b)->key);
}

bool cfg_sender_map_load(struct cfg *cfg, void (*report)(void *, unsigned,
			 const char *), void *arg)
{
	struct cfg_sm_parser p = { report, arg, 0, true };
	struct cfg_sender_map *m = &cfg->sender_map;
	size_t len = 0, alloc = 0, n;
	unsigned line = 0;
	char *buf = NULL, q[80];
	FILE *fp;
	int err;

	if ((fp = fopen(cfg->sender_login_map, "r")) == NULL) {
		cfg_sm_error(&p, 0, "cannot open: %s", strerror(errno));
		return false;
	}
	do {
		buf = cfg_grow(buf, &alloc, len + 65536, 1);
		n = fread(buf + len, 1, alloc - len - 1, fp);
		len += n;
	} while (n > 0 && len <= CFG_SM_FILE_MAX);
	err = ferror(fp) ? errno : 0;
	fclose(fp);
	if (err != 0 || len > CFG_SM_FILE_MAX || memchr(buf, '\0', len)) {
		cfg_sm_error(&p, 0, "cannot read: %s", err ? strerror(err) :
			     len > CFG_SM_FILE_MAX ? "more than 64 MiB" :
			     "NUL byte in the file");
		free(buf);
		return false;
	}
	buf[len] = '\0';
	for (char *s = buf, *end = buf + len, *nl; s < end; s = nl + 1) {
		nl = memchr(s, '\n', (size_t) (end - s));
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		line++;
		if ((size_t) (nl - s) > CFG_SM_LINE_MAX)
			cfg_sm_error(&p, line, "line too long: at most %d bytes",
				     CFG_SM_LINE_MAX);
		else
			cfg_sm_line(m, &p, s, line);
	}
	free(buf);
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), cfg_sm_cmp);
	for (size_t i = 1; i < m->n; i++)
		if (strcmp(m->v[i - 1].key, m->v[i].key) == 0)
			cfg_sm_error(&p, 0, "key \"%s\" listed twice",
				     CFG_Q(q, m->v[i].key));
	return p.ok;
}

void cfg_sender_map_free(struct cfg_sender_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		for (size_t j = 0; j < m->v[i].logins.n; j++)
			free(m->v[i].logins.v[j]);
		free(m->v[i].logins.v);
		free(m->v[i].key);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

const struct cfg_strlist *cfg_sender_owners(const struct cfg *cfg,
					    const char *key)
{
	struct cfg_sender_owner k, *hit;

	if (cfg == NULL || key == NULL || cfg->sender_map.n == 0)
		return NULL;
	k.key = (char *) key;
	hit = bsearch(&k, cfg->sender_map.v, cfg->sender_map.n,
		      sizeof(*cfg->sender_map.v), cfg_sm_cmp);
	return hit ? &hit->logins : NULL;
}
