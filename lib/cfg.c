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
#include "msg.h"
#include "util.h"

#define CFG_MAX_LINE	4096		/* bytes in a physical line */
#define CFG_MAX_FILE	(16 << 20)	/* bytes in a file */
#define CFG_NPORTS	65536
#define CFG_BLANK	" \t"
#define CFG_LIST_SEP	", \t"

/*
 * The key table: name, scope, type, where the value goes, range, and
 * the default text for each mode (index: enum cfg_mode). Defaults are
 * parsed by the same code as the file, so they cannot drift from it.
 */
enum cfg_scope {
	CFG_GLOBAL,
	CFG_PORT,
};

enum cfg_type {
	/* strings (char *): checked by cfg_str_ok() */
	CFG_T_SOCKET, CFG_T_TEXT, CFG_T_ABSPATH, CFG_T_HOST,
	/* lists (struct cfg_strlist) */
	CFG_T_DOMAINS, CFG_T_WORDS,
	/* scalars */
	CFG_T_UNKNOWN, CFG_T_MODE, CFG_T_BOOL, CFG_T_TLS, CFG_T_NUMBER,
	CFG_T_SIZE, CFG_T_FULL,
	/* client_networks (nnetworks + networks) */
	CFG_T_NETS,
};

enum cfg_key_id {	/* global keys first, then per-port keys */
	CFG_K_MILTER_SOCKET, CFG_K_DATABASE, CFG_K_JOURNAL_DIRECTORY,
	CFG_K_JOURNAL_MAX_SIZE, CFG_K_JOURNAL_FULL_ACTION,
	CFG_K_NODE_NAME, CFG_K_LOCAL_DOMAINS, CFG_K_RELAY_DOMAINS,
	CFG_K_LOCAL_TRANSPORTS, CFG_K_UNKNOWN_PORT,
	CFG_K_MODE, CFG_K_LIKE, CFG_K_ENABLED, CFG_K_REQUIRE_TLS,
	CFG_K_REQUIRE_AUTH, CFG_K_TLS_BEFORE_AUTH, CFG_K_ALLOW_UNAUTH_RELAY,
	CFG_K_MIN_TLS_VERSION, CFG_K_CLIENT_NETWORKS, CFG_K_MAX_RECIPIENTS,
	CFG_NKEYS
};

struct cfg_key {
	const char *name;
	enum cfg_scope scope;
	enum cfg_type type;
	size_t off;		/* in struct cfg or struct cfg_port */
	long min, max;		/* CFG_T_NUMBER */
	const char *def[3];	/* by enum cfg_mode; NULL = stays 0 */
};

#define CFG_G(id, field, type, def) [id] = { #field, CFG_GLOBAL, type, \
	offsetof(struct cfg, field), 0, 0, { def, def, def } }
#define CFG_P(id, name, field, type, min, max, mx, sub, subs) [id] = { \
	name, CFG_PORT, type, offsetof(struct cfg_port, field), min, max, \
	{ mx, sub, subs } }

static const struct cfg_key cfg_keys[CFG_NKEYS] = {
	CFG_G(CFG_K_MILTER_SOCKET, milter_socket, CFG_T_SOCKET,
	      "unix:/var/spool/postfix/portmilter/portmilter.sock"),
	CFG_G(CFG_K_DATABASE, database, CFG_T_TEXT, "dbname=portmilter"),
	CFG_G(CFG_K_JOURNAL_DIRECTORY, journal_directory, CFG_T_ABSPATH,
	      "/var/lib/portmilter/journal"),
	CFG_G(CFG_K_JOURNAL_MAX_SIZE, journal_max_size, CFG_T_SIZE, "1G"),
	CFG_G(CFG_K_JOURNAL_FULL_ACTION, journal_full_action, CFG_T_FULL,
	      "tempfail"),
	CFG_G(CFG_K_NODE_NAME, node_name, CFG_T_HOST, ""),
	CFG_G(CFG_K_LOCAL_DOMAINS, local_domains, CFG_T_DOMAINS, ""),
	CFG_G(CFG_K_RELAY_DOMAINS, relay_domains, CFG_T_DOMAINS, ""),
	CFG_G(CFG_K_LOCAL_TRANSPORTS, local_transports, CFG_T_WORDS,
	      "local virtual lmtp"),
	CFG_G(CFG_K_UNKNOWN_PORT, unknown_port, CFG_T_UNKNOWN, "strict"),
	CFG_P(CFG_K_MODE, "mode", mode, CFG_T_MODE, 0, 0,
	      "submission", "submission", "submission"),
	CFG_P(CFG_K_LIKE, "like", like, CFG_T_NUMBER, 1, 65535,
	      NULL, NULL, NULL),
	CFG_P(CFG_K_ENABLED, "enabled", enabled, CFG_T_BOOL, 0, 0,
	      "yes", "yes", "yes"),
	CFG_P(CFG_K_REQUIRE_TLS, "require_tls", require_tls, CFG_T_BOOL, 0, 0,
	      "no", "yes", "yes"),
	CFG_P(CFG_K_REQUIRE_AUTH, "require_auth", require_auth, CFG_T_BOOL,
	      0, 0, "no", "yes", "yes"),
	CFG_P(CFG_K_TLS_BEFORE_AUTH, "tls_before_auth", tls_before_auth,
	      CFG_T_BOOL, 0, 0, "yes", "yes", "yes"),
	CFG_P(CFG_K_ALLOW_UNAUTH_RELAY, "allow_unauth_relay",
	      allow_unauth_relay, CFG_T_BOOL, 0, 0, "no", "no", "no"),
	CFG_P(CFG_K_MIN_TLS_VERSION, "min_tls_version", min_tls_version,
	      CFG_T_TLS, 0, 0, "none", "TLSv1.2", "TLSv1.2"),
	CFG_P(CFG_K_CLIENT_NETWORKS, "client_networks", networks, CFG_T_NETS,
	      0, 0, "0.0.0.0/0 ::/0", "0.0.0.0/0 ::/0", "0.0.0.0/0 ::/0"),
	CFG_P(CFG_K_MAX_RECIPIENTS, "max_recipients", max_recipients,
	      CFG_T_NUMBER, 1, 100000, "1000", "100", "100"),
};

static const char *const cfg_mode_names[] = {
	[CFG_MODE_MX] = "mx",
	[CFG_MODE_SUBMISSION] = "submission",
	[CFG_MODE_SUBMISSIONS] = "submissions",
};

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
};

/* Make room for need elements of size bytes in *ptr (doubling). */
static void *cfg_grow(void *ptr, size_t *alloc, size_t need, size_t size)
{
	size_t n = *alloc ? *alloc : 8;

	if (need <= *alloc)
		return ptr;
	while (n < need) {
		if (n > SIZE_MAX / 2 / size)
			msg_fatal("cfg: allocation overflow");
		n *= 2;
	}
	*alloc = n;
	return xrealloc(ptr, n * size);
}

static PM_PRINTF(3, 4) void cfg_error(struct cfg_parser *p, unsigned line,
				       const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	p->errs = cfg_grow(p->errs, &p->aerrs, p->nerrs + 1, sizeof(*p->errs));
	p->errs[p->nerrs].line = line;
	p->errs[p->nerrs].seq = p->nerrs;
	p->errs[p->nerrs].text = xstrdup(text);
	p->nerrs++;
}

static int cfg_err_cmp(const void *a, const void *b)
{
	const struct cfg_err *x = a, *y = b;

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
		len += namelen + strlen(p->errs[i].text) + 16;
	out = xmalloc(len);
	out[0] = '\0';
	for (i = 0; i < p->nerrs; i++)
		off += (size_t) snprintf(out + off, len - off, "%s:%u: %s\n",
					 p->name, p->errs[i].line,
					 p->errs[i].text);
	return out;
}

/* Quote untrusted text for a message (escaped, cut with "..."). */
#define CFG_Q(buf, s)	str_escape(buf, sizeof(buf), s)

#define CFG_DIGITS	"0123456789"
#define CFG_LOWER	"abcdefghijklmnopqrstuvwxyz-_." CFG_DIGITS
#define CFG_HOST_CHARS	CFG_LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* Is s made only of characters in set? */
static bool cfg_only(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

/* A whole decimal number: digits only (no sign, no blanks), in range. */
static bool cfg_decimal(const char *s, long min, long max, long *out)
{
	if (*s == '\0' || !cfg_only(s, CFG_DIGITS))
		return false;
	return str_to_long(s, min, max, out);
}

/* Say why a value was refused; always returns false. */
static PM_PRINTF(3, 4) bool cfg_why(char *why, size_t wlen,
				    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, wlen, fmt, ap);
	va_end(ap);
	return false;
}

/* A normalised domain, or ".domain" for its subdomains. */
static bool cfg_domain_ok(const char *d)
{
	const char *s = d[0] == '.' ? d + 1 : d;
	size_t len = strlen(s);

	return len > 0 && len <= 253 && s[0] != '.' && s[len - 1] != '.' &&
	       strstr(s, "..") == NULL && cfg_only(s, CFG_LOWER);
}

static void cfg_list_free(struct cfg_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->n = 0;
	l->v = NULL;
}

/* Split on commas and/or blanks; domains are normalised and checked. */
static bool cfg_list_set(const char *v, bool domains, struct cfg_strlist *out,
			 char *why, size_t wlen)
{
	struct cfg_strlist l = { 0, NULL };
	size_t alloc = 0, n;
	char q[80], *w, *d;
	bool ok = true;

	while (ok) {
		v += strspn(v, CFG_LIST_SEP);
		if ((n = strcspn(v, CFG_LIST_SEP)) == 0)
			break;
		w = xstrndup(v, n);
		v += n;
		if (domains) {
			d = str_domain_norm(w);
			ok = cfg_domain_ok(d) || cfg_why(why, wlen, "bad domain "
				"\"%s\": expected a domain name, or .domain "
				"for its subdomains", CFG_Q(q, w));
			free(w);
			w = d;
		}
		l.v = cfg_grow(l.v, &alloc, l.n + 1, sizeof(*l.v));
		l.v[l.n++] = w;
	}
	if (!ok) {
		cfg_list_free(&l);
		return false;
	}
	cfg_list_free(out);
	*out = l;
	return true;
}

/* client_networks: CIDRs or bare addresses; at least one. */
static bool cfg_nets_set(const char *v, struct cfg_port *out,
			 char *why, size_t wlen)
{
	struct cfg_strlist words = { 0, NULL };
	struct pm_cidr *nets;
	const char *reason;
	char q[80];
	size_t i;

	cfg_list_set(v, false, &words, why, wlen);
	if (words.n == 0)
		return cfg_why(why, wlen, "expected at least one network "
			       "(\"0.0.0.0/0 ::/0\" for any)");
	nets = xcalloc(words.n, sizeof(*nets));
	for (i = 0; i < words.n; i++) {
		if (!cidr_parse(words.v[i], &nets[i], &reason)) {
			cfg_why(why, wlen, "bad network \"%s\": %s; expected "
				"address or address/prefix",
				CFG_Q(q, words.v[i]), reason);
			free(nets);
			cfg_list_free(&words);
			return false;
		}
	}
	free(out->networks);
	out->networks = nets;
	out->nnetworks = words.n;
	cfg_list_free(&words);
	return true;
}

/* One of a fixed set of words: its index, or -1. */
static int cfg_choice(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	return -1;
}

/* Check the text of a string-typed value. */
static bool cfg_str_ok(const struct cfg_key *k, const char *v,
		       char *why, size_t wlen)
{
	switch (k->type) {
	case CFG_T_SOCKET:
		if ((strncmp(v, "unix:/", 6) == 0 && v[6] != '\0') ||
		    (strncmp(v, "inet:", 5) == 0 && v[5] != '\0') ||
		    (strncmp(v, "inet6:", 6) == 0 && v[6] != '\0'))
			return true;
		return cfg_why(why, wlen, "expected unix:/path, inet:port@host "
			       "or inet6:port@host");
	case CFG_T_ABSPATH:
		return v[0] == '/' ||
		       cfg_why(why, wlen, "expected an absolute path");
	case CFG_T_HOST:
		return (strlen(v) <= 253 && cfg_only(v, CFG_HOST_CHARS)) ||
		       cfg_why(why, wlen, "expected a host name (letters, "
			       "digits, '.', '-', '_') or nothing");
	default:
		return v[0] != '\0' ||
		       cfg_why(why, wlen, "expected a libpq connection string");
	}
}

/* A byte count: decimal digits and an optional k, M or G (1024-based),
 * from 64k (one record must fit) to 1024G. */
static bool cfg_size(const char *v, unsigned long long *out, char *why,
		     size_t wlen)
{
	static const char units[] = "kMG";
	char digits[24];
	size_t len = strlen(v);
	unsigned long long mult = 1;
	const char *u;
	long n;

	if (len > 0 && (u = strchr(units, v[len - 1])) != NULL) {
		mult = 1ULL << (10 * (u - units + 1));
		len--;
	}
	if (len == 0 || len >= sizeof(digits))
		return cfg_why(why, wlen, "expected a size like 512M or 1G");
	memcpy(digits, v, len);
	digits[len] = '\0';
	if (!cfg_decimal(digits, 1, 1L << 40, &n) ||
	    (unsigned long long) n * mult < 65536ULL ||
	    (unsigned long long) n * mult > (1ULL << 40))
		return cfg_why(why, wlen, "expected a size from 64k to 1024G, "
			       "like 512M or 1G");
	*out = (unsigned long long) n * mult;
	return true;
}

/* Parse v as key k's type and store it in base (a struct cfg for global
 * keys, a struct cfg_port for the others), replacing what was there. */
static bool cfg_value_set(const struct cfg_key *k, const char *v, void *base,
			  char *why, size_t wlen)
{
	static const char *const bools[] = { "no", "yes" };
	static const char *const unknown[] = {
		[CFG_UNKNOWN_STRICT] = "strict",
		[CFG_UNKNOWN_REJECT] = "reject",
	};
	static const char *const full[] = {
		[CFG_FULL_TEMPFAIL] = "tempfail",
		[CFG_FULL_DROP] = "drop",
	};
	char *field = (char *) base + k->off;
	long n;
	int i;

	switch (k->type) {
	case CFG_T_BOOL:
		if ((i = cfg_choice(v, bools, 2)) < 0)
			return cfg_why(why, wlen, "expected yes or no");
		*(bool *) field = i == 1;
		return true;
	case CFG_T_MODE:
		if ((i = cfg_choice(v, cfg_mode_names, 3)) < 0)
			return cfg_why(why, wlen, "expected mx, submission or "
				       "submissions");
		*(enum cfg_mode *) field = (enum cfg_mode) i;
		return true;
	case CFG_T_UNKNOWN:
		if ((i = cfg_choice(v, unknown, 2)) < 0)
			return cfg_why(why, wlen, "expected strict or reject");
		*(enum cfg_unknown_port *) field = (enum cfg_unknown_port) i;
		return true;
	case CFG_T_TLS:
		i = strcmp(v, "none") == 0 ? PM_TLS_NONE :
		    cfg_tls_version_parse(v);
		if (v[0] == '\0' || i == PM_TLS_UNKNOWN || i > PM_TLS_1_3)
			return cfg_why(why, wlen, "expected none, TLSv1, TLSv1.0, "
				       "TLSv1.1, TLSv1.2 or TLSv1.3");
		*(int *) field = i;
		return true;
	case CFG_T_FULL:
		if ((i = cfg_choice(v, full, 2)) < 0)
			return cfg_why(why, wlen, "expected tempfail or drop");
		*(enum cfg_full_action *) field = (enum cfg_full_action) i;
		return true;
	case CFG_T_SIZE:
		return cfg_size(v, (unsigned long long *) field, why, wlen);
	case CFG_T_NUMBER:
		if (!cfg_decimal(v, k->min, k->max, &n))
			return cfg_why(why, wlen, "expected a decimal number in "
				       "%ld..%ld", k->min, k->max);
		*(unsigned *) field = (unsigned) n;
		return true;
	case CFG_T_DOMAINS:
	case CFG_T_WORDS:
		return cfg_list_set(v, k->type == CFG_T_DOMAINS,
				    (struct cfg_strlist *) field, why, wlen);
	case CFG_T_NETS:
		return cfg_nets_set(v, base, why, wlen);
	default:
		if (!cfg_str_ok(k, v, why, wlen))
			return false;
		free(*(char **) field);
		*(char **) field = xstrdup(v);
		return true;
	}
}

/* Free whatever cfg_value_set() allocated for key k in base. */
static void cfg_value_free(const struct cfg_key *k, void *base)
{
	char *field = (char *) base + k->off;

	if (k->type <= CFG_T_HOST) {
		free(*(char **) field);
		*(char **) field = NULL;
	} else if (k->type <= CFG_T_WORDS) {
		cfg_list_free((struct cfg_strlist *) field);
	} else if (k->type == CFG_T_NETS) {
		free(((struct cfg_port *) base)->networks);
		((struct cfg_port *) base)->networks = NULL;
	}
}

/* Check a value by parsing it into a throwaway object. */
static bool cfg_value_check(const struct cfg_key *k, const char *v,
			    char *why, size_t wlen)
{
	struct cfg scratch_cfg;
	struct cfg_port scratch_port;
	void *base = k->scope == CFG_GLOBAL ? (void *) &scratch_cfg :
					      (void *) &scratch_port;
	bool ok;

	memset(&scratch_cfg, 0, sizeof(scratch_cfg));
	memset(&scratch_port, 0, sizeof(scratch_port));
	ok = cfg_value_set(k, v, base, why, wlen);
	cfg_value_free(k, base);
	return ok;
}

static const struct cfg_key *cfg_key_find(const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
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

/* A "[port N]" logical line: open a new section (or the sink). */
static void cfg_header_line(struct cfg_parser *p, char *s, unsigned line)
{
	unsigned port = cfg_header_port(p, s, line);
	struct cfg_sect *sect;

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
	return cfg;
}

static void cfg_parser_free(struct cfg_parser *p)
{
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
	else if (errors != NULL)
		*errors = cfg_errors_text(&p);
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
	for (size_t i = 0; i < cfg->nports; i++)
		free(cfg->ports[i].networks);
	free(cfg->ports);
	free(cfg->strict.networks);
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
const char *cfg_mode_name(enum cfg_mode mode)
{
	if ((unsigned) mode < sizeof(cfg_mode_names) / sizeof(*cfg_mode_names))
		return cfg_mode_names[mode];
	return "unknown";
}
