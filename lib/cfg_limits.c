/*
 * cfg_limits - the budget keys (limit_messages, limit_recipients,
 * limit_bytes) and the limit_classes file. See cfg.h.
 *
 * A budget value is "none", or up to CFG_LIMITS_MAX "N/WINDOW" pairs
 * separated by commas and/or blanks: N in decimal (limit_bytes: with an
 * optional k, M or G, 1024-based), WINDOW a decimal number and a unit
 * s, m, h or d, from 1s to 30d; each window at most once per key.
 *
 * The limit_classes file, one entry a line, '#' comments:
 *   class NAME KEY = VALUE     NAME's budget for KEY (a limit_* key);
 *                              a class is made by its first such line
 *   LOGIN NAME                 this SASL login gets class NAME's budgets
 *                              (the class defined on an earlier line)
 * Logins are compared without regard to ASCII case. Every problem is
 * reported with the file and line; one of them and the configuration
 * is refused as a whole.
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

#define CFG_LIMIT_N_MAX		1000000000000LL	/* 10^12 */
#define CFG_CLASS_LINE_MAX	4096
#define CFG_CLASS_FILE_MAX	(64 << 20)
#define CFG_BLANKS		" \t"
#define CFG_LOGIN_MAX		511

static const char *const cfg_limit_names[CFG_NLIMITS] = {
	[CFG_LIMIT_MESSAGES] = "limit_messages",
	[CFG_LIMIT_RECIPIENTS] = "limit_recipients",
	[CFG_LIMIT_BYTES] = "limit_bytes",
};

const char *cfg_limit_name(enum cfg_limit_key key)
{
	return (unsigned) key < CFG_NLIMITS ? cfg_limit_names[key] : "unknown";
}

static bool cfg_lim_why(char *why, size_t wlen, const char *text)
{
	snprintf(why, wlen, "%s", text);
	return false;
}

/* "N" with an optional unit from units, each worth mults[i]. */
static bool cfg_lim_number(const char *s, size_t len, const char *units,
			   const unsigned long long *mults,
			   unsigned long long max, unsigned long long *out)
{
	char digits[24];
	unsigned long long mult = 1;
	const char *u;
	long n;

	if (len > 0 && units[0] != '\0' &&
	    (u = memchr(units, s[len - 1], strlen(units))) != NULL) {
		mult = mults[u - units];
		len--;
	}
	if (len == 0 || len >= sizeof(digits))
		return false;
	memcpy(digits, s, len);
	digits[len] = '\0';
	if (!cfg_decimal(digits, 1, CFG_LIMIT_N_MAX, &n) ||
	    (unsigned long long) n > max / mult)
		return false;
	*out = (unsigned long long) n * mult;
	return true;
}

/* One "N/WINDOW". */
static bool cfg_limit_one(const char *w, size_t len, bool bytes,
			  struct cfg_limit *out, char *why, size_t wlen)
{
	static const unsigned long long sizes[] = { 1ULL << 10, 1ULL << 20,
						    1ULL << 30 };
	static const unsigned long long secs[] = { 1, 60, 3600, 86400 };
	const char *slash = memchr(w, '/', len);
	unsigned long long n, window;

	if (slash == NULL)
		return cfg_lim_why(why, wlen, bytes ?
			"expected N/WINDOW, like 100M/1h (N with k, M or G; "
			"WINDOW in s, m, h or d)" :
			"expected N/WINDOW, like 200/1h (WINDOW in s, m, h or d)");
	if (!cfg_lim_number(w, (size_t) (slash - w), bytes ? "kMG" : "",
			    sizes, bytes ? CFG_LIMIT_N_MAX << 10 :
			    CFG_LIMIT_N_MAX, &n))
		return cfg_lim_why(why, wlen, bytes ?
			"N must be a decimal number of bytes from 1 to 10^12, "
			"with an optional k, M or G (1024-based)" :
			"N must be a decimal number from 1 to 10^12");
	len -= (size_t) (slash + 1 - w);
	w = slash + 1;
	if (len == 0 || memchr("smhd", w[len - 1], 4) == NULL ||
	    !cfg_lim_number(w, len, "smhd", secs, CFG_WINDOW_MAX, &window))
		return cfg_lim_why(why, wlen, "WINDOW must be a decimal number "
				   "and a unit s, m, h or d, from 1s to 30d");
	out->max = n;
	out->window = (unsigned) window;
	return true;
}

bool cfg_limits_parse(const char *v, bool bytes, struct cfg_limits *out,
		      char *why, size_t wlen)
{
	struct cfg_limits l;
	char one[256];
	size_t n;

	memset(&l, 0, sizeof(l));
	v += strspn(v, ", \t");
	if (strcmp(v, "none") == 0) {
		*out = l;
		return true;
	}
	if (*v == '\0')
		return cfg_lim_why(why, wlen, "expected none or N/WINDOW, "
				   "like 200/1h, 1000/1d");
	for (; *v != '\0'; v += strspn(v, ", \t")) {
		n = strcspn(v, ", \t");
		if (l.n == CFG_LIMITS_MAX) {
			snprintf(why, wlen, "at most %d N/WINDOW pairs",
				 CFG_LIMITS_MAX);
			return false;
		}
		if (!cfg_limit_one(v, n, bytes, &l.v[l.n], one, sizeof(one))) {
			snprintf(why, wlen, "%s%s", n == 4 &&
				 strncmp(v, "none", 4) == 0 ?
				 "\"none\" must be alone; " : "", one);
			return false;
		}
		for (unsigned i = 0; i < l.n; i++)
			if (l.v[i].window == l.v[l.n].window)
				return cfg_lim_why(why, wlen, "the same window "
						   "twice");
		l.n++;
		v += n;
	}
	*out = l;
	return true;
}

/* The largest unit that divides x exactly; 0 with none. */
static int cfg_unit(unsigned long long x, const unsigned long long *mults,
		    int n)
{
	for (int i = n - 1; i >= 0; i--)
		if (x % mults[i] == 0)
			return i;
	return -1;
}

const char *cfg_limits_text(const struct cfg_limits *l, bool bytes,
			    char *buf, size_t len)
{
	static const unsigned long long sizes[] = { 1ULL << 10, 1ULL << 20,
						    1ULL << 30 };
	static const unsigned long long secs[] = { 1, 60, 3600, 86400 };
	size_t off = 0;
	int u, t;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (l->n == 0) {
		snprintf(buf, len, "none");
		return buf;
	}
	for (unsigned i = 0; i < l->n && off < len; i++) {
		u = bytes ? cfg_unit(l->v[i].max, sizes, 3) : -1;
		t = cfg_unit(l->v[i].window, secs, 4);
		off += (size_t) snprintf(buf + off, len - off, "%s%llu%s/%u%c",
			i ? ", " : "", u < 0 ? l->v[i].max :
			l->v[i].max / sizes[u], u < 0 ? "" : (const char *[]) {
			"k", "M", "G" }[u], (unsigned) (l->v[i].window /
			secs[t]), "smhd"[t]);
	}
	return buf;
}

/* Add w to the sorted set (cap entries), counting distinct ones. */
static void cfg_window_add(unsigned *set, size_t *n, size_t cap, unsigned w)
{
	size_t i, k = *n < cap ? *n : cap;

	for (i = 0; i < k; i++)
		if (set[i] == w)
			return;
	if (*n < cap) {
		for (i = *n; i > 0 && set[i - 1] > w; i--)
			set[i] = set[i - 1];
		set[i] = w;
	}
	/* beyond cap only counted: the exact number is what matters */
	(*n)++;
}

size_t cfg_limit_windows(const struct cfg *cfg, enum cfg_limit_key key,
			 unsigned out[CFG_WINDOWS_MAX])
{
	const struct cfg_limits *l;
	unsigned seen[64];
	size_t n = 0, i, j;

	for (i = 0; i <= cfg->nports + cfg->classes.nclasses; i++) {
		if (i < cfg->nports)
			l = &cfg->ports[i].limits[key];
		else if (i == cfg->nports)
			l = &cfg->strict.limits[key];
		else if (cfg->classes.classes[i - cfg->nports - 1].set[key])
			l = &cfg->classes.classes[i - cfg->nports - 1].limits[key];
		else
			continue;
		for (j = 0; j < l->n; j++)
			cfg_window_add(seen, &n, 64, l->v[j].window);
	}
	for (i = 0; i < n && i < CFG_WINDOWS_MAX; i++)
		out[i] = seen[i];
	return n;
}

/* ---- the limit_classes file --------------------------------------------- */

struct cfg_cls_parser {
	struct cfg *cfg;
	void (*report)(void *, unsigned, const char *);
	void *arg;
	size_t aclasses, ausers;
	bool ok;
};

static PM_PRINTF(3, 4) void cfg_cls_error(struct cfg_cls_parser *p,
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

static struct cfg_class *cfg_cls_named(struct cfg_classes *c, const char *name)
{
	for (size_t i = 0; i < c->nclasses; i++)
		if (strcmp(c->classes[i].name, name) == 0)
			return &c->classes[i];
	return NULL;
}

static bool cfg_cls_name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == n;
}

/* "class NAME KEY = VALUE" (rest: after "class"). */
static void cfg_cls_class_line(struct cfg_cls_parser *p, char *rest,
			       unsigned line)
{
	struct cfg_classes *c = &p->cfg->classes;
	struct cfg_class *cls;
	char *name, *key, *eq, *val, why[256], q[80];
	size_t n;
	int k;

	rest += strspn(rest, CFG_BLANKS);
	n = strcspn(rest, CFG_BLANKS);
	name = rest;
	rest += n;
	if (*rest != '\0')
		*rest++ = '\0';
	if (!cfg_cls_name_ok(name)) {
		cfg_cls_error(p, line, "bad class name \"%s\": letters, digits, "
			      "'_', '-' and '.' only, at most 64", CFG_Q(q, name));
		return;
	}
	if ((eq = strchr(rest, '=')) == NULL) {
		cfg_cls_error(p, line, "expected \"class NAME KEY = VALUE\"");
		return;
	}
	*eq = '\0';
	key = rest + strspn(rest, CFG_BLANKS);
	key[strcspn(key, CFG_BLANKS)] = '\0';
	val = eq + 1 + strspn(eq + 1, CFG_BLANKS);
	for (k = 0; k < CFG_NLIMITS; k++)
		if (strcmp(key, cfg_limit_names[k]) == 0)
			break;
	if (k == CFG_NLIMITS) {
		cfg_cls_error(p, line, "unknown key \"%s\" for class %s: expected "
			      "limit_messages, limit_recipients or limit_bytes",
			      CFG_Q(q, key), name);
		return;
	}
	if ((cls = cfg_cls_named(c, name)) == NULL) {
		c->classes = cfg_grow(c->classes, &p->aclasses, c->nclasses + 1,
				      sizeof(*c->classes));
		cls = &c->classes[c->nclasses++];
		memset(cls, 0, sizeof(*cls));
		cls->name = xstrdup(name);
	}
	if (cls->set[k]) {
		cfg_cls_error(p, line, "duplicate %s for class %s",
			      cfg_limit_names[k], name);
		return;
	}
	if (!cfg_limits_parse(val, k == CFG_LIMIT_BYTES, &cls->limits[k], why,
			      sizeof(why))) {
		cfg_cls_error(p, line, "bad value \"%s\" for %s: %s",
			      CFG_Q(q, val), cfg_limit_names[k], why);
		return;
	}
	cls->set[k] = true;
}

static int cfg_user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cfg_user_class *) a)->login,
		      ((const struct cfg_user_class *) b)->login);
}

static char *cfg_lower(const char *s)
{
	char *out = xstrdup(s);

	for (char *c = out; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char) (*c - 'A' + 'a');
	return out;
}

/* One line of the file, without its newline. */
static void cfg_cls_line(struct cfg_cls_parser *p, char *s, unsigned line)
{
	struct cfg_classes *c = &p->cfg->classes;
	char *login, *name, q[80];
	const struct cfg_class *cls;
	size_t n;

	s += strspn(s, CFG_BLANKS);
	n = strlen(s);
	while (n > 0 && strchr(" \t\r", s[n - 1]) != NULL)
		s[--n] = '\0';
	if (n == 0 || s[0] == '#')
		return;
	for (char *ch = s; *ch; ch++)
		if (((unsigned char) *ch < 0x20 && *ch != '\t') || *ch == 0x7f) {
			cfg_cls_error(p, line, "control character in the line");
			return;
		}
	if (strncmp(s, "class", 5) == 0 && strchr(CFG_BLANKS, s[5]) != NULL &&
	    s[5] != '\0') {
		cfg_cls_class_line(p, s + 5, line);
		return;
	}
	login = s;
	n = strcspn(s, CFG_BLANKS);
	name = s + n + strspn(s + n, CFG_BLANKS);
	s[n] = '\0';
	if (*name == '\0' || name[strcspn(name, CFG_BLANKS)] != '\0') {
		cfg_cls_error(p, line, "expected \"LOGIN CLASS\" or \"class NAME "
			      "KEY = VALUE\"");
		return;
	}
	if (strlen(login) > CFG_LOGIN_MAX) {
		cfg_cls_error(p, line, "login longer than %d bytes",
			      CFG_LOGIN_MAX);
		return;
	}
	if ((cls = cfg_cls_named(c, name)) == NULL) {
		cfg_cls_error(p, line, "unknown class \"%s\" (define it with "
			      "\"class %s KEY = VALUE\" on an earlier line)",
			      CFG_Q(q, name), CFG_Q(q, name));
		return;
	}
	c->users = cfg_grow(c->users, &p->ausers, c->nusers + 1,
			    sizeof(*c->users));
	c->users[c->nusers].login = cfg_lower(login);
	c->users[c->nusers].cls = cls;
	c->nusers++;
}

/* Class pointers into c->classes are only taken once it stops growing:
 * they are set from the names at the end (see cfg_classes_load). */
bool cfg_classes_load(struct cfg *cfg, void (*report)(void *, unsigned,
		      const char *), void *arg)
{
	struct cfg_cls_parser p = { cfg, report, arg, 0, 0, true };
	struct cfg_classes *c = &cfg->classes;
	char *buf = NULL, **names;
	size_t len = 0, alloc = 0, n, i;
	unsigned line = 0;
	FILE *fp;
	int err;

	if ((fp = fopen(cfg->limit_classes, "r")) == NULL) {
		cfg_cls_error(&p, 0, "cannot open: %s", strerror(errno));
		return false;
	}
	do {
		buf = cfg_grow(buf, &alloc, len + 65536, 1);
		n = fread(buf + len, 1, alloc - len - 1, fp);
		len += n;
	} while (n > 0 && len <= CFG_CLASS_FILE_MAX);
	err = ferror(fp) ? errno : 0;
	fclose(fp);
	if (err != 0 || len > CFG_CLASS_FILE_MAX) {
		cfg_cls_error(&p, 0, "cannot read: %s", err ? strerror(err) :
			      "more than 64 MiB");
		free(buf);
		return false;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		cfg_cls_error(&p, 0, "NUL byte in the file: expected text");
		free(buf);
		return false;
	}
	/* Users first point at class names: c->classes may still move. */
	names = NULL;
	for (char *s = buf, *end = buf + len, *nl; s < end; s = nl + 1) {
		size_t before = c->nusers;

		nl = memchr(s, '\n', (size_t) (end - s));
		if (nl == NULL)
			nl = end;
		*nl = '\0';
		line++;
		if ((size_t) (nl - s) > CFG_CLASS_LINE_MAX)
			cfg_cls_error(&p, line, "line too long: at most %d bytes",
				      CFG_CLASS_LINE_MAX);
		else
			cfg_cls_line(&p, s, line);
		if (c->nusers > before) {
			names = xrealloc(names, c->nusers * sizeof(*names));
			names[before] = c->users[before].cls->name;
		}
	}
	free(buf);
	for (i = 0; i < c->nusers; i++)
		c->users[i].cls = cfg_cls_named(c, names[i]);
	free(names);
	if (c->nusers > 1)
		qsort(c->users, c->nusers, sizeof(*c->users), cfg_user_cmp);
	for (i = 1; i < c->nusers; i++)
		if (strcmp(c->users[i - 1].login, c->users[i].login) == 0) {
			char q[80];

			cfg_cls_error(&p, 0, "login \"%s\" listed twice",
				      CFG_Q(q, c->users[i].login));
		}
	return p.ok;
}

void cfg_classes_free(struct cfg_classes *c)
{
	for (size_t i = 0; i < c->nclasses; i++)
		free(c->classes[i].name);
	for (size_t i = 0; i < c->nusers; i++)
		free(c->users[i].login);
	free(c->classes);
	free(c->users);
	memset(c, 0, sizeof(*c));
}

const struct cfg_class *cfg_class_find(const struct cfg *cfg,
				       const char *login)
{
	struct cfg_user_class key, *hit;
	char buf[CFG_LOGIN_MAX + 1];
	size_t n;

	if (cfg == NULL || cfg->classes.nusers == 0 || login == NULL)
		return NULL;
	n = strlen(login);
	if (n >= sizeof(buf))
		return NULL;	/* longer than any listed login may be */
	for (size_t i = 0; i <= n; i++)
		buf[i] = login[i] >= 'A' && login[i] <= 'Z' ?
			 (char) (login[i] - 'A' + 'a') : login[i];
	key.login = buf;
	hit = bsearch(&key, cfg->classes.users, cfg->classes.nusers,
		      sizeof(key), cfg_user_cmp);
	return hit ? hit->cls : NULL;
}
