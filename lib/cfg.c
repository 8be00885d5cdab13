/*
 * cfg - read and check portmilter.conf. See cfg.h for the contract.
 *
 * Two passes. The first splits the text into logical lines
 * (continuations joined), checks every key and value against the key
 * table below and keeps the text of each valid value with its line.
 * The second resolves "like" chains, then parses the effective text of
 * every key (own, inherited, or the default of the resulting mode) with
 * the same code that checked it. Any error in the first pass or in the
 * "like" checks and there is no struct cfg at all.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_keys.h"
#include "msg.h"
#include "util.h"

#define CFG_MAX_LINE	4096		/* bytes in a physical line */
#define CFG_MAX_FILE	(16 << 20)	/* bytes in a file */
#define CFG_NPORTS	65536
#define CFG_BLANK	" \t"

/* One section as written: the text of each key set in it. */
struct cfg_sect {
	unsigned port;			/* 0 = header not understood */
	unsigned line;			/* of the header */
	unsigned like;			/* valid "like" value, 0 = none */
	unsigned kline[CFG_NKEYS];	/* line where set, 0 = not set */
	char *text[CFG_NKEYS];		/* value, if it was valid */
	const char *eff[CFG_NKEYS];	/* after "like" resolution */
	int walk;			/* CFG_W_* while checking "like" */
	size_t pos;			/* in the walk's path */
	bool resolved;
};

enum { CFG_W_NEW, CFG_W_PATH, CFG_W_DONE };

struct cfg_err {
	const char *file;		/* NULL = the configuration file */
	unsigned line;			/* 0 = about the whole file */
	size_t seq;
	char *text;
};

enum cfg_pend {
	CFG_PEND_NONE,			/* no logical line pending */
	CFG_PEND_KEY,			/* "key = value" (or garbage) */
	CFG_PEND_HEADER,		/* "[...]" */
	CFG_PEND_BAD,			/* already reported: ignore */
};

struct cfg_parser {
	const char *name;
	struct cfg_err *errs;
	size_t nerrs, aerrs;
	char *buf;			/* pending logical line */
	size_t len, size;
	unsigned pline;			/* its first line */
	enum cfg_pend ptype;
	struct cfg_sect global;
	struct cfg_sect sink;		/* under a bad or duplicate header */
	struct cfg_sect *cur;		/* NULL = global part */
	struct cfg_sect **sects;	/* in file order */
	size_t nsects, asects;
	uint32_t *by_port;		/* port -> index + 1, 0 = none */
	struct cfg_section *xsects;	/* [watch], [detector NAME] */
	size_t nxsects, axsects;
	struct cfg_section *xcur;	/* the current one, NULL = none */
	const char *classes_file;	/* for errors in limit_classes or
					 * sender_login_map */
};


static PM_PRINTF(3, 4) void cfg_error(struct cfg_parser *p, unsigned line,
				       const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->errs = cfg_grow(p->errs, &p->aerrs, p->nerrs + 1, sizeof(*p->errs));
	p->errs[p->nerrs].file = NULL;
	p->errs[p->nerrs].line = line;
	p->errs[p->nerrs].seq = p->nerrs;
	p->errs[p->nerrs].text = xstrdup(text);
	p->nerrs++;
}

static int cfg_err_cmp(const void *a, const void *b)
{
	const struct cfg_err *x = a, *y = b;

	if ((x->file != NULL) != (y->file != NULL))
		return x->file != NULL ? 1 : -1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All errors, sorted by line, as one malloc'd text. */
static char *cfg_errors_text(struct cfg_parser *p)
{
	size_t i, len = 1, off = 0, namelen = strlen(p->name);
	char *out;

	qsort(p->errs, p->nerrs, sizeof(*p->errs), cfg_err_cmp);
	for (i = 0; i < p->nerrs; i++)
		len += (p->errs[i].file ? strlen(p->errs[i].file) : namelen) +
		       strlen(p->errs[i].text) + 16;
	out = xmalloc(len);
	out[0] = '\0';
	for (i = 0; i < p->nerrs; i++)
		off += (size_t) snprintf(out + off, len - off, "%s:%u: %s\n",
					 p->errs[i].file ? p->errs[i].file :
					 p->name, p->errs[i].line,
					 p->errs[i].text);
	return out;
}


/* "in [port 25]" or "in the global part" for messages. */
static const char *cfg_where(const struct cfg_parser *p, char *buf, size_t len)
{
	if (p->cur == NULL)
		snprintf(buf, len, "in the global part (before any [port N])");
	else if (p->cur->port == 0)
		snprintf(buf, len, "in a section with a bad header");
	else
		snprintf(buf, len, "in [port %u]", p->cur->port);
	return buf;
}

/* s without the blanks around it (trailing ones cut in place). */
static char *cfg_trim(char *s)
{
	size_t len;

	s += strspn(s, CFG_BLANK);
	len = strlen(s);
	while (len > 0 && strchr(CFG_BLANK, s[len - 1]) != NULL)
		s[--len] = '\0';
	return s;
}

/* Does v hold a control character (tab allowed)? */
static bool cfg_has_ctrl(const char *v)
{
	for (; *v; v++)
		if (((unsigned char) *v < 0x20 && *v != '\t') || *v == 0x7f)
			return true;
	return false;
}

/* "key = value" in another program's section: kept as text. */
static void cfg_xkey_line(struct cfg_parser *p, const char *key,
			  const char *val, unsigned line)
{
	struct cfg_section *x = p->xcur;
	size_t alloc = x->n;
	char q[80];

	if (cfg_has_ctrl(val)) {
		cfg_error(p, line, "control character in the value of \"%s\"",
			  CFG_Q(q, key));
		return;
	}
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i].key, key) == 0) {
			cfg_error(p, line, "duplicate key \"%s\" in [%s%s%s] "
				  "(first set at line %u)", CFG_Q(q, key),
				  x->name, *x->arg ? " " : "", x->arg,
				  x->v[i].line);
			return;
		}
	x->v = cfg_grow(x->v, &alloc, x->n + 1, sizeof(*x->v));
	x->v[x->n].key = xstrdup(key);
	x->v[x->n].value = xstrdup(val);
	x->v[x->n].line = line;
	x->n++;
}

/* A "key = value" logical line. */
static void cfg_key_line(struct cfg_parser *p, char *s, unsigned line)
{
	struct cfg_sect *sect = p->cur ? p->cur : &p->global;
	const struct cfg_key *k;
	char *eq = strchr(s, '='), *key, *val, q[80], q2[80], why[256];
	size_t id;

	if (eq == NULL) {
		cfg_error(p, line, "missing \"=\" in \"%s\": expected "
			  "\"key = value\" or \"[port N]\"", CFG_Q(q, s));
		return;
	}
	*eq = '\0';
	key = cfg_trim(s);
	val = cfg_trim(eq + 1);
	if (*key == '\0') {
		cfg_error(p, line, "empty key before \"=\": expected "
			  "\"key = value\"");
		return;
	}
	if (p->xcur != NULL) {
		cfg_xkey_line(p, key, val, line);
		return;
	}
	if ((k = cfg_key_find(key)) == NULL) {
		cfg_error(p, line, "unknown key \"%s\" %s", CFG_Q(q, key),
			  cfg_where(p, why, sizeof(why)));
		return;
	}
	if (k->scope == CFG_GLOBAL && p->cur != NULL) {
		cfg_error(p, line, "\"%s\" is a global key: it must come "
			  "before the first [port N] section", k->name);
		return;
	}
	if (k->scope == CFG_PORT && p->cur == NULL) {
		cfg_error(p, line, "\"%s\" is a per-port key: it must be "
			  "inside a [port N] section", k->name);
		return;
	}
	id = (size_t) (k - cfg_keys);
	if (sect->kline[id] != 0) {
		cfg_error(p, line, "duplicate key \"%s\" %s (first set at "
			  "line %u)", k->name, cfg_where(p, why, sizeof(why)),
			  sect->kline[id]);
		return;
	}
	sect->kline[id] = line;
	if (cfg_has_ctrl(val)) {
		cfg_error(p, line, "control character in the value of \"%s\"",
			  k->name);
	} else if (!cfg_value_check(k, val, why, sizeof(why))) {
		cfg_error(p, line, "bad value \"%s\" for %s: %s",
			  CFG_Q(q2, val), k->name, why);
	} else {
		sect->text[id] = xstrdup(val);
		if (id == CFG_K_LIKE)
			sect->like = (unsigned) strtoul(val, NULL, 10);
	}
}

static void cfg_sect_clear(struct cfg_sect *s)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		free(s->text[i]);
	memset(s, 0, sizeof(*s));
}

/* The port of "[port N]", 0 after reporting what is wrong. */
static unsigned cfg_header_port(struct cfg_parser *p, char *s, unsigned line)
{
	char q[80], *body, *num;
	size_t len = strlen(s);
	long port;

	CFG_Q(q, s);
	if (len < 2 || s[len - 1] != ']')
		goto malformed;
	s[len - 1] = '\0';
	body = s + 1 + strspn(s + 1, CFG_BLANK);
	if (strncmp(body, "port", 4) != 0 || strchr(CFG_BLANK, body[4]) == NULL
	    || body[4] == '\0')
		goto malformed;
	num = cfg_trim(body + 4);
	if (!cfg_decimal(num, 1, 65535, &port)) {
		cfg_error(p, line, "bad port \"%s\" in section header: expected "
			  "a decimal number in 1..65535", CFG_Q(q, num));
		return 0;
	}
	return (unsigned) port;

malformed:
	cfg_error(p, line, "malformed section header \"%s\": expected "
		  "\"[port N]\"", q);
	return 0;
}

/*
 * "[watch]" or "[detector NAME]": open that section and return true;
 * false (nothing done) for any other header. A duplicate is reported.
 */
static bool cfg_header_other(struct cfg_parser *p, const char *s,
			     unsigned line)
{
	size_t len = strlen(s), blen, i;
	const char *body, *arg = "";
	char name[16], q[80], *argc;
	struct cfg_section *x;

	if (len < 2 || s[len - 1] != ']')
		return false;
	body = s + 1 + strspn(s + 1, CFG_BLANK);
	blen = (size_t) (s + len - 1 - body);
	while (blen > 0 && strchr(CFG_BLANK, body[blen - 1]) != NULL)
		blen--;
	if (blen == 5 && strncmp(body, "watch", 5) == 0) {
		snprintf(name, sizeof(name), "watch");
	} else if (blen > 9 && strncmp(body, "detector", 8) == 0 &&
		   strchr(CFG_BLANK, body[8]) != NULL) {
		snprintf(name, sizeof(name), "detector");
		arg = body + 9 + strspn(body + 9, CFG_BLANK);
		for (i = 0; arg + i < body + blen; i++)
			if (!(arg[i] >= 'a' && arg[i] <= 'z') &&
			    !(arg[i] >= '0' && arg[i] <= '9') && arg[i] != '_')
				break;
		if (arg + i != body + blen || i == 0 || i > 64) {
			cfg_error(p, line, "malformed section header \"%s\": "
				  "expected \"[detector NAME]\" (NAME: a-z, "
				  "0-9, _)", CFG_Q(q, s));
			p->xcur = NULL;
			cfg_sect_clear(&p->sink);
			p->cur = &p->sink;
			return true;
		}
		blen = (size_t) (body + blen - arg);
	} else {
		return false;
	}
	argc = xstrndup(arg, *arg ? blen : 0);
	for (i = 0; i < p->nxsects; i++) {
		x = &p->xsects[i];
		if (strcmp(x->name, name) == 0 && strcmp(x->arg, argc) == 0) {
			cfg_error(p, line, "duplicate section [%s%s%s] (first "
				  "at line %u)", x->name, *x->arg ? " " : "",
				  x->arg, x->line);
			free(argc);
			p->xcur = NULL;
			cfg_sect_clear(&p->sink);
			p->cur = &p->sink;
			return true;
		}
	}
	p->xsects = cfg_grow(p->xsects, &p->axsects, p->nxsects + 1,
			     sizeof(*p->xsects));
	x = &p->xsects[p->nxsects++];
	memset(x, 0, sizeof(*x));
	x->name = xstrdup(name);
	x->arg = argc;
	x->line = line;
	p->xcur = x;
	p->cur = NULL;
	return true;
}

/* A "[port N]" logical line: open a new section (or the sink). */
static void cfg_header_line(struct cfg_parser *p, char *s, unsigned line)
{
	unsigned port;
	struct cfg_sect *sect;

	p->xcur = NULL;
	if (cfg_header_other(p, s, line))
		return;
	port = cfg_header_port(p, s, line);

	cfg_sect_clear(&p->sink);
	p->cur = &p->sink;
	if (port == 0)
		return;
	if (p->by_port[port] != 0) {
		cfg_error(p, line, "duplicate section [port %u] (first at "
			  "line %u)", port, p->sects[p->by_port[port] - 1]->line);
		p->sink.port = port;
		return;
	}
	sect = xcalloc(1, sizeof(*sect));
	sect->port = port;
	sect->line = line;
	p->sects = cfg_grow(p->sects, &p->asects, p->nsects + 1,
			    sizeof(*p->sects));
	p->sects[p->nsects++] = sect;
	p->by_port[port] = (uint32_t) p->nsects;
	p->cur = sect;
}

/* Process the pending logical line, if any. */
static void cfg_finish_line(struct cfg_parser *p)
{
	if (p->ptype == CFG_PEND_KEY)
		cfg_key_line(p, p->buf, p->pline);
	else if (p->ptype == CFG_PEND_HEADER)
		cfg_header_line(p, p->buf, p->pline);
	p->ptype = CFG_PEND_NONE;
	p->len = 0;
}

static void cfg_append(struct cfg_parser *p, const char *s, size_t len)
{
	p->buf = cfg_grow(p->buf, &p->size, p->len + len + 1, 1);
	memcpy(p->buf + p->len, s, len);
	p->len += len;
	p->buf[p->len] = '\0';
}

/* A line too long or with a NUL: its logical line is dropped. */
static void cfg_bad_line(struct cfg_parser *p, bool cont, unsigned line)
{
	if (cont && p->ptype == CFG_PEND_KEY)
		p->ptype = CFG_PEND_BAD;
	if (cont)
		return;
	cfg_finish_line(p);
	p->ptype = CFG_PEND_BAD;
	p->pline = line;
}

/* One physical line (without its "\n"). */
static void cfg_physical(struct cfg_parser *p, const char *s, size_t len,
			 unsigned line)
{
	bool cont = len > 0 && (s[0] == ' ' || s[0] == '\t');
	size_t i, n = len - (len > 0 && s[len - 1] == '\r');

	if (n > CFG_MAX_LINE) {
		cfg_error(p, line, "line too long (%zu bytes): at most %d bytes "
			  "per line, continue on lines that start with white "
			  "space", n, CFG_MAX_LINE);
		cfg_bad_line(p, cont, line);
		return;
	}
	if (memchr(s, '\0', len) != NULL) {
		cfg_error(p, line, "NUL byte in the line: expected text");
		cfg_bad_line(p, cont, line);
		return;
	}
	while (len > 0 && strchr(" \t\r", s[len - 1]) != NULL)
		len--;
	for (i = 0; i < len && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	if (i == len || s[i] == '#')
		return;
	if (!cont) {
		cfg_finish_line(p);
		p->ptype = s[0] == '[' ? CFG_PEND_HEADER : CFG_PEND_KEY;
		p->pline = line;
		cfg_append(p, s, len);
	} else if (p->ptype == CFG_PEND_KEY) {
		cfg_append(p, " ", 1);
		cfg_append(p, s + i, len - i);
	} else if (p->ptype != CFG_PEND_BAD) {
		cfg_error(p, line, "continuation line (it starts with white "
			  "space) without a \"key = value\" line before it");
	}
}

/* Check that every "like" names a section and that no chain loops. */
static void cfg_check_likes(struct cfg_parser *p)
{
	size_t *path = xcalloc(p->nsects + 1, sizeof(*path));
	size_t i, j, k, np, off;
	struct cfg_sect *s;
	char chain[200];

	for (i = 0; i < p->nsects; i++) {
		for (np = 0, j = i; (s = p->sects[j])->walk != CFG_W_DONE;) {
			if (s->walk == CFG_W_PATH) {
				off = 0;
				for (k = s->pos; k < np && off < 150; k++)
					off += (size_t) snprintf(chain + off,
					    sizeof(chain) - off, "%u -> ",
					    p->sects[path[k]]->port);
				snprintf(chain + off, sizeof(chain) - off, "%s%u",
					 k < np ? "... -> " : "", s->port);
				for (k = s->pos; k < np; k++)
					cfg_error(p, p->sects[path[k]]->kline[
						  CFG_K_LIKE], "like loop: %s",
						  chain);
				break;
			}
			s->walk = CFG_W_PATH;
			s->pos = np;
			path[np++] = j;
			if (s->like == 0)
				break;
			if (p->by_port[s->like] == 0) {
				cfg_error(p, s->kline[CFG_K_LIKE], "like = %u: "
					  "there is no [port %u] section in "
					  "this file", s->like, s->like);
				break;
			}
			j = p->by_port[s->like] - 1;
		}
		for (k = 0; k < np; k++)
			p->sects[path[k]]->walk = CFG_W_DONE;
	}
	free(path);
}

/* Merge each section with the one it is "like" (no loops left). */
static void cfg_resolve(struct cfg_parser *p)
{
	size_t *stack = xcalloc(p->nsects + 1, sizeof(*stack));
	struct cfg_sect *s, *parent;
	size_t i, j, n, k;

	for (i = 0; i < p->nsects; i++) {
		for (n = 0, j = i; !p->sects[j]->resolved;) {
			if (n == p->nsects)
				msg_panic("cfg: like loop after checking");
			stack[n++] = j;
			if (p->sects[j]->like == 0)
				break;
			j = p->by_port[p->sects[j]->like] - 1;
		}
		while (n > 0) {
			s = p->sects[stack[--n]];
			parent = s->like ? p->sects[p->by_port[s->like] - 1] :
					   NULL;
			for (k = 0; k < CFG_NKEYS; k++)
				s->eff[k] = s->text[k] ? s->text[k] :
					    parent && k != CFG_K_LIKE ?
					    parent->eff[k] : NULL;
			s->resolved = true;
		}
	}
	free(stack);
}

/* Effective profile: eff[] texts, then the defaults of the mode. */
static void cfg_port_build(struct cfg_port *out, unsigned port, unsigned line,
			   const char *const *eff)
{
	const struct cfg_key *k;
	const char *text;
	char why[256];

	memset(out, 0, sizeof(*out));
	for (size_t i = CFG_K_MODE; i < CFG_NKEYS; i++) {
		k = &cfg_keys[i];
		text = eff[i] ? eff[i] : k->def[out->mode];
		if (text != NULL && !cfg_value_set(k, text, out, why,
						   sizeof(why)))
			msg_panic("cfg: %s = %s: %s", k->name, text, why);
	}
	out->port = port;
	out->line = line;
}

static int cfg_port_cmp(const void *a, const void *b)
{
	const struct cfg_port *x = a, *y = b;

	return x->port < y->port ? -1 : x->port > y->port;
}

static struct cfg *cfg_build(struct cfg_parser *p)
{
	static const char *const none[CFG_NKEYS];
	struct cfg *cfg = xcalloc(1, sizeof(*cfg));
	const struct cfg_key *k;
	const char *text;
	char why[256];
	size_t i;

	cfg->path = xstrdup(p->name);
	cfg->refs = 1;
	for (i = 0; i < CFG_NKEYS && cfg_keys[i].scope == CFG_GLOBAL; i++) {
		k = &cfg_keys[i];
		text = p->global.text[i] ? p->global.text[i] : k->def[0];
		if (!cfg_value_set(k, text, cfg, why, sizeof(why)))
			msg_panic("cfg: %s = %s: %s", k->name, text, why);
	}
	cfg_resolve(p);
	cfg->nports = p->nsects;
	cfg->ports = xcalloc(p->nsects, sizeof(*cfg->ports));
	for (i = 0; i < p->nsects; i++)
		cfg_port_build(&cfg->ports[i], p->sects[i]->port,
			       p->sects[i]->line,
			       (const char *const *) p->sects[i]->eff);
	qsort(cfg->ports, cfg->nports, sizeof(*cfg->ports), cfg_port_cmp);
	cfg_port_build(&cfg->strict, 0, 0, none);
	cfg->sections = p->xsects;
	cfg->nsections = p->nxsects;
	p->xsects = NULL;
	p->nxsects = 0;
	return cfg;
}

static void cfg_sections_free(struct cfg_section *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].n; j++) {
			free(v[i].v[j].key);
			free(v[i].v[j].value);
		}
		free(v[i].v);
		free(v[i].name);
		free(v[i].arg);
	}
	free(v);
}

static void cfg_parser_free(struct cfg_parser *p)
{
	cfg_sections_free(p->xsects, p->nxsects);
	for (size_t i = 0; i < p->nerrs; i++)
		free(p->errs[i].text);
	for (size_t i = 0; i < p->nsects; i++) {
		cfg_sect_clear(p->sects[i]);
		free(p->sects[i]);
	}
	cfg_sect_clear(&p->global);
	cfg_sect_clear(&p->sink);
	free(p->errs);
	free(p->buf);
	free(p->sects);
	free(p->by_port);
}

/* An error in the limit_classes file (cfg_classes_load's report). */
static void cfg_class_error(void *arg, unsigned line, const char *text)
{
	struct cfg_parser *p = arg;

	cfg_error(p, line, "%s", text);
	p->errs[p->nerrs - 1].file = p->classes_file;
}

/* What needs the built configuration: the limit_classes file, and the
 * number of distinct budget windows (the counters' meters). */
static void cfg_check_built(struct cfg_parser *p, struct cfg *cfg)
{
	unsigned w[CFG_WINDOWS_MAX];
	size_t n;

	if (cfg->limit_classes[0] != '\0') {
		p->classes_file = cfg->limit_classes;
		(void) cfg_classes_load(cfg, cfg_class_error, p);
	}
	if (cfg->sender_login_map[0] != '\0') {
		p->classes_file = cfg->sender_login_map;
		(void) cfg_sender_map_load(cfg, cfg_class_error, p);
	}
	p->classes_file = NULL;
	for (size_t i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].sender_login == CFG_SL_MAP &&
		    cfg->sender_login_map[0] == '\0')
			cfg_error(p, cfg->ports[i].line, "[port %u]: sender_login "
				  "= map needs sender_login_map = FILE",
				  cfg->ports[i].port);
	for (int k = 0; k < CFG_NLIMITS; k++)
		if ((n = cfg_limit_windows(cfg, k, w)) > CFG_WINDOWS_MAX)
			cfg_error(p, 0, "%s: %zu distinct windows over all ports "
				  "and classes: at most %d", cfg_limit_name(k), n,
				  CFG_WINDOWS_MAX);
}

static struct cfg *cfg_parse_buf(const char *name, const char *text,
				 size_t len, char **errors)
{
	struct cfg_parser p;
	struct cfg *cfg = NULL;
	const char *nl, *end = text + len;
	unsigned line = 0;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.by_port = xcalloc(CFG_NPORTS, sizeof(*p.by_port));
	while (text < end) {
		nl = memchr(text, '\n', (size_t) (end - text));
		if (nl == NULL)
			nl = end;
		cfg_physical(&p, text, (size_t) (nl - text), ++line);
		text = nl + 1;
	}
	cfg_finish_line(&p);
	cfg_check_likes(&p);
	if (p.nerrs == 0)
		cfg = cfg_build(&p);
	if (cfg != NULL)
		cfg_check_built(&p, cfg);
	if (p.nerrs > 0 && errors != NULL)
		*errors = cfg_errors_text(&p);
	if (p.nerrs > 0 && cfg != NULL) {
		cfg_unref(cfg);
		cfg = NULL;
	}
	cfg_parser_free(&p);
	return cfg;
}

struct cfg *cfg_parse(const char *name, const char *text, char **errors)
{
	if (errors != NULL)
		*errors = NULL;
	return cfg_parse_buf(name ? name : "(config)", text ? text : "",
			     text ? strlen(text) : 0, errors);
}

/* Failure about the whole file: "PATH: what: strerror". */
static struct cfg *cfg_load_fail(const char *path, const char *what, int err,
				 char **errors)
{
	size_t len = strlen(path) + strlen(what) + 128;

	if (errors != NULL) {
		*errors = xmalloc(len);
		snprintf(*errors, len, "%s: %s: %s\n", path, what,
			 err ? strerror(err) : "more than 16 MiB");
	}
	return NULL;
}

struct cfg *cfg_load(const char *path, char **errors)
{
	size_t len = 0, alloc = 0, n;
	struct cfg *cfg;
	char *buf = NULL;
	FILE *fp;
	int err;

	if (errors != NULL)
		*errors = NULL;
	if (path == NULL)
		path = CFG_DEFAULT_PATH;
	if ((fp = fopen(path, "r")) == NULL)
		return cfg_load_fail(path, "cannot open", errno, errors);
	do {
		buf = cfg_grow(buf, &alloc, len + 65536, 1);
		n = fread(buf + len, 1, alloc - len, fp);
		len += n;
	} while (n > 0 && len <= CFG_MAX_FILE);
	err = ferror(fp) ? errno : 0;
	fclose(fp);
	if (err != 0 || len > CFG_MAX_FILE) {
		free(buf);
		return cfg_load_fail(path, err ? "cannot read" : "too large",
				     err, errors);
	}
	cfg = cfg_parse_buf(path, buf, len, errors);
	free(buf);
	return cfg;
}

struct cfg *cfg_ref(struct cfg *cfg)
{
	if (cfg != NULL && __atomic_fetch_add(&cfg->refs, 1,
					      __ATOMIC_RELAXED) <= 0)
		msg_panic("cfg_ref: object already freed");
	return cfg;
}

void cfg_unref(struct cfg *cfg)
{
	int left;

	if (cfg == NULL)
		return;
	left = __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL);
	if (left > 0)
		return;
	if (left < 0)
		msg_panic("cfg_unref: reference count below zero");
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (cfg_keys[i].scope == CFG_GLOBAL)
			cfg_value_free(&cfg_keys[i], cfg);
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		if (cfg_keys[i].scope != CFG_PORT)
			continue;
		for (size_t j = 0; j < cfg->nports; j++)
			cfg_value_free(&cfg_keys[i], &cfg->ports[j]);
		cfg_value_free(&cfg_keys[i], &cfg->strict);
	}
	cfg_classes_free(&cfg->classes);
	cfg_sender_map_free(&cfg->sender_map);
	cfg_sections_free(cfg->sections, cfg->nsections);
	free(cfg->ports);
	free(cfg->path);
	free(cfg);
}

static int cfg_port_key_cmp(const void *key, const void *elem)
{
	unsigned port = *(const unsigned *) key;
	const struct cfg_port *p = elem;

	return port < p->port ? -1 : port > p->port;
}

const struct cfg_port *cfg_port_find(const struct cfg *cfg, unsigned port)
{
	if (cfg == NULL || cfg->nports == 0)
		return NULL;
	return bsearch(&port, cfg->ports, cfg->nports, sizeof(*cfg->ports),
		       cfg_port_key_cmp);
}

/* "any", or the networks joined by commas (malloc'd). */
const char *cfg_port_label(unsigned port, char *buf, size_t len)
{
	switch (port) {
	case 25:
		return "smtp";
	case 587:
		return "submission";
	case 465:
		return "submissions";
	default:
		snprintf(buf, len, "%u", port);
		return buf;
	}
}

const char *cfg_mode_name(enum cfg_mode mode)
{
	if ((unsigned) mode < sizeof(cfg_mode_names) / sizeof(*cfg_mode_names))
		return cfg_mode_names[mode];
	return "unknown";
}
