/*
 * cfg_keys - the key table and what each type of value accepts.
 * See cfg_keys.h. Defaults are parsed by the same code as the file, so
 * they cannot drift from what the file accepts.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_keys.h"
#include "msg.h"
#include "util.h"

/* Make room for need elements of size bytes in *ptr (doubling). */
void *cfg_grow(void *ptr, size_t *alloc, size_t need, size_t size)
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

#define CFG_LIST_SEP	", \t"

#define CFG_G(id, field, type, def) [id] = { #field, CFG_GLOBAL, type, \
	offsetof(struct cfg, field), 0, 0, { def, def, def } }
#define CFG_P(id, name, field, type, min, max, mx, sub, subs) [id] = { \
	name, CFG_PORT, type, offsetof(struct cfg_port, field), min, max, \
	{ mx, sub, subs } }

const struct cfg_key cfg_keys[CFG_NKEYS] = {
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
	CFG_G(CFG_K_MILTER_DEFAULT_ACTION, milter_default_action,
	      CFG_T_ACTION, "tempfail"),
	CFG_G(CFG_K_POSTFIX_CHROOT, postfix_chroot, CFG_T_BOOL, "yes"),
	CFG_G(CFG_K_METRICS_LISTEN, metrics_listen, CFG_T_HOSTPORT, "none"),
	CFG_G(CFG_K_LIMIT_CLASSES, limit_classes, CFG_T_OPTPATH, ""),
	CFG_G(CFG_K_SENDER_LOGIN_MAP, sender_login_map, CFG_T_OPTPATH, ""),
	CFG_G(CFG_K_POSTFIX_LOG, postfix_log, CFG_T_LOGSRC, ""),
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
	CFG_P(CFG_K_RELAY_NETWORKS, "relay_networks", relay_networks,
	      CFG_T_NETS_OR_NONE, 0, 0, "none", "none", "none"),
	CFG_P(CFG_K_MAX_RECIPIENTS, "max_recipients", max_recipients,
	      CFG_T_NUMBER, 1, 100000, "1000", "100", "100"),
	CFG_P(CFG_K_LISTEN, "listen", listen, CFG_T_LISTEN, 0, 0,
	      "all", "all", "all"),
	CFG_P(CFG_K_LIMIT_MESSAGES, "limit_messages",
	      limits[CFG_LIMIT_MESSAGES], CFG_T_LIMITS, 0, 0,
	      "none", "none", "none"),
	CFG_P(CFG_K_LIMIT_RECIPIENTS, "limit_recipients",
	      limits[CFG_LIMIT_RECIPIENTS], CFG_T_LIMITS, 0, 0,
	      "none", "none", "none"),
	CFG_P(CFG_K_LIMIT_BYTES, "limit_bytes", limits[CFG_LIMIT_BYTES],
	      CFG_T_LIMITS_BYTES, 0, 0, "none", "none", "none"),
	CFG_P(CFG_K_LIMIT_ACTION, "limit_action", limit_action,
	      CFG_T_LIMIT_ACTION, 0, 0, "tempfail", "tempfail", "tempfail"),
	CFG_P(CFG_K_LIMITS_ENFORCE, "limits_enforce", limits_enforce,
	      CFG_T_BOOL, 0, 0, "yes", "yes", "yes"),
	CFG_P(CFG_K_SENDER_LOGIN, "sender_login", sender_login,
	      CFG_T_SENDER_LOGIN, 0, 0, "none", "none", "none"),
};

const char *const cfg_mode_names[3] = {
	[CFG_MODE_MX] = "mx",
	[CFG_MODE_SUBMISSION] = "submission",
	[CFG_MODE_SUBMISSIONS] = "submissions",
};

const char *const cfg_milter_action_names[4] = {
	[CFG_MA_TEMPFAIL] = "tempfail",
	[CFG_MA_ACCEPT] = "accept",
	[CFG_MA_REJECT] = "reject",
	[CFG_MA_QUARANTINE] = "quarantine",
};

#define CFG_DIGITS	"0123456789"
#define CFG_LOWER	"abcdefghijklmnopqrstuvwxyz-_." CFG_DIGITS
#define CFG_HOST_CHARS	CFG_LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

/* Is s made only of characters in set? */
static bool cfg_only(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

/* A whole decimal number: digits only (no sign, no blanks), in range. */
bool cfg_decimal(const char *s, long min, long max, long *out)
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

/*
 * A list of networks: CIDRs or bare addresses. With none_ok the list may
 * be empty, written "none" (alone) or nothing; otherwise it needs at
 * least one network.
 */
static bool cfg_nets_set(const char *v, bool none_ok, struct cfg_nets *out,
			 char *why, size_t wlen)
{
	struct cfg_strlist words = { 0, NULL };
	struct pm_cidr *nets = NULL;
	const char *reason;
	char q[80];
	size_t i;
	bool ok = true;

	cfg_list_set(v, false, &words, why, wlen);
	if (none_ok && words.n == 1 && strcmp(words.v[0], "none") == 0)
		cfg_list_free(&words);
	if (words.n == 0 && !none_ok)
		return cfg_why(why, wlen, "expected at least one network "
			       "(\"0.0.0.0/0 ::/0\" for any)");
	if (words.n > 0)
		nets = xcalloc(words.n, sizeof(*nets));
	for (i = 0; ok && i < words.n; i++) {
		if (none_ok && strcmp(words.v[i], "none") == 0)
			ok = cfg_why(why, wlen, "\"none\" must be alone: it "
				     "means no network");
		else if (!cidr_parse(words.v[i], &nets[i], &reason))
			ok = cfg_why(why, wlen, "bad network \"%s\": %s; "
				     "expected address or address/prefix%s",
				     CFG_Q(q, words.v[i]), reason,
				     none_ok ? ", or none" : "");
	}
	if (ok) {
		free(out->v);
		out->v = nets;
		out->n = words.n;
	} else {
		free(nets);
	}
	cfg_list_free(&words);
	return ok;
}

/* One of a fixed set of words: its index, or -1. */
static int cfg_choice(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return i;
	return -1;
}

/* Bytes that Postfix's main.cf or smtpd_milters syntax gives a meaning
 * to (list separators, "{ ... }" groups, $parameter expansion), and
 * blanks: never part of a milter_socket. */
#define CFG_SOCK_SPECIAL	" \t,{}$"

/* Is this byte refused anywhere in a milter_socket? */
static bool cfg_sock_bad_byte(unsigned char c)
{
	return c < 0x20 || c == 0x7f || strchr(CFG_SOCK_SPECIAL, c) != NULL;
}

/* unix:PATH: absolute, no ".." component, fits in sun_path. */
static bool cfg_socket_unix(const char *path, char *why, size_t wlen)
{
	const char *c;
	size_t n;

	if (path[0] != '/' || path[1] == '\0')
		return cfg_why(why, wlen, "unix: needs an absolute path to "
			       "the socket (unix:/path)");
	if (strlen(path) > CFG_SOCKET_PATH_MAX)
		return cfg_why(why, wlen, "socket path longer than %d bytes",
			       CFG_SOCKET_PATH_MAX);
	for (c = path; *c != '\0'; c += n) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return cfg_why(why, wlen, "\"..\" in the socket path "
				       "(Postfix would resolve it elsewhere in "
				       "its chroot)");
	}
	return true;
}

/* A host name (letters, digits, '-', '_', '.'), or an address literal
 * of the family (bare or in brackets, as libmilter takes it). */
static bool cfg_socket_host(const char *host, bool v6)
{
	char lit[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	size_t len = strlen(host);

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		if (len - 2 >= sizeof(lit))
			return false;
		memcpy(lit, host + 1, len - 2);
		lit[len - 2] = '\0';
		return inet_pton(v6 ? AF_INET6 : AF_INET, lit, bin) == 1;
	}
	if (v6 && inet_pton(AF_INET6, host, bin) == 1)
		return true;
	/* digits and dots only: an IPv4 address, or nothing valid */
	if (len > 0 && cfg_only(host, CFG_DIGITS "."))
		return !v6 && inet_pton(AF_INET, host, bin) == 1;
	return len > 0 && len <= 253 && cfg_only(host, CFG_HOST_CHARS) &&
	       host[0] != '.' && host[0] != '-';
}

/* inet:PORT[@HOST] or inet6:PORT[@HOST] (libmilter's form). */
static bool cfg_socket_inet(const char *spec, bool v6, char *why, size_t wlen)
{
	const char *at = strchr(spec, '@');
	size_t n = at ? (size_t) (at - spec) : strlen(spec);
	char port[8];
	long num;

	if (n == 0 || n >= sizeof(port))
		return cfg_why(why, wlen, "expected %s:PORT@HOST with PORT a "
			       "number in 1..65535", v6 ? "inet6" : "inet");
	memcpy(port, spec, n);
	port[n] = '\0';
	if (!cfg_decimal(port, 1, 65535, &num))
		return cfg_why(why, wlen, "port \"%s\" is not a number in "
			       "1..65535", port);
	if (at != NULL && !cfg_socket_host(at + 1, v6))
		return cfg_why(why, wlen, "host after '@' must be a host name "
			       "(letters, digits, '.', '-', '_') or an %s "
			       "address", v6 ? "IPv6" : "IPv4");
	return true;
}

/* The whole form of a milter socket (rule in cfg.h). */
bool cfg_socket_check(const char *v, char *why, size_t wlen)
{
	const char *c;

	for (c = v; *c != '\0'; c++)
		if (cfg_sock_bad_byte((unsigned char) *c))
			return cfg_why(why, wlen, "%s in the socket name "
				       "(never blanks, commas, braces, '$' or "
				       "control characters: smtpd_milters in "
				       "main.cf would read them as syntax)",
				       *c == ' ' || *c == '\t' ? "blank" :
				       *c == ',' ? "comma" : *c == '$' ? "'$'" :
				       *c == '{' || *c == '}' ? "brace" :
				       "control character");
	if (strncmp(v, "unix:", 5) == 0)
		return cfg_socket_unix(v + 5, why, wlen);
	if (strncmp(v, "inet:", 5) == 0)
		return cfg_socket_inet(v + 5, false, why, wlen);
	if (strncmp(v, "inet6:", 6) == 0)
		return cfg_socket_inet(v + 6, true, why, wlen);
	return cfg_why(why, wlen, "expected unix:/path, inet:PORT@HOST or "
		       "inet6:PORT@HOST");
}

bool cfg_hostport_parse(const char *v, struct pm_addr *addr, unsigned *port)
{
	const char *colon = strrchr(v, ':');
	char host[64];
	size_t len;
	long n;

	if (colon == NULL || !str_to_long(colon + 1, 1, 65535, &n))
		return false;
	len = (size_t) (colon - v);
	if (len >= 2 && v[0] == '[' && v[len - 1] == ']') {
		v++;
		len -= 2;
		if (memchr(v, ':', len) == NULL)
			return false;	/* brackets are for IPv6 */
	} else if (memchr(v, ':', len) != NULL) {
		return false;		/* an IPv6 address needs brackets */
	}
	if (len == 0 || len >= sizeof(host))
		return false;
	memcpy(host, v, len);
	host[len] = '\0';
	if (!addr_parse(host, addr))
		return false;
	if (port)
		*port = (unsigned) n;
	return true;
}

/* Check the text of a string-typed value. */
static bool cfg_str_ok(const struct cfg_key *k, const char *v,
		       char *why, size_t wlen)
{
	struct pm_addr addr;

	switch (k->type) {
	case CFG_T_SOCKET:
		return cfg_socket_check(v, why, wlen);
	case CFG_T_ABSPATH:
		return v[0] == '/' ||
		       cfg_why(why, wlen, "expected an absolute path");
	case CFG_T_HOST:
		return (strlen(v) <= 253 && cfg_only(v, CFG_HOST_CHARS)) ||
		       cfg_why(why, wlen, "expected a host name (letters, "
			       "digits, '.', '-', '_') or nothing");
	case CFG_T_HOSTPORT:
		return strcmp(v, "none") == 0 ||
		       cfg_hostport_parse(v, &addr, NULL) ||
		       cfg_why(why, wlen, "expected none or ADDRESS:PORT with "
			       "an IP address (127.0.0.1:9465, [::1]:9465) "
			       "and a port 1..65535");
	case CFG_T_OPTPATH:
		return v[0] == '\0' || v[0] == '/' ||
		       cfg_why(why, wlen, "expected an absolute path, or "
			       "nothing for none");
	case CFG_T_LOGSRC:
		return v[0] == '\0' || v[0] == '/' || strcmp(v, "journal") == 0 ||
		       (strncmp(v, "journal:/", 9) == 0) ||
		       cfg_why(why, wlen, "expected an absolute path, journal, "
			       "journal:DIRECTORY (absolute), or nothing for none");
	case CFG_T_LISTEN:
		return strcmp(v, "all") == 0 || addr_parse(v, &addr) ||
		       cfg_why(why, wlen, "expected all or one IP address "
			       "(127.0.0.1, ::1), without a port");
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
bool cfg_value_set(const struct cfg_key *k, const char *v, void *base,
			  char *why, size_t wlen)
{
	static const char *const bools[] = { "no", "yes" };
	static const char *const unknown[] = {
		[CFG_UNKNOWN_STRICT] = "strict",
		[CFG_UNKNOWN_REJECT] = "reject",
	};
	static const char *const limit_actions[] = {
		[CFG_LIMIT_TEMPFAIL] = "tempfail",
		[CFG_LIMIT_REJECT] = "reject",
		[CFG_LIMIT_HOLD] = "hold",
	};
	static const char *const sender_logins[] = {
		[CFG_SL_NONE] = "none",
		[CFG_SL_EXACT] = "exact",
		[CFG_SL_DOMAIN] = "domain",
		[CFG_SL_MAP] = "map",
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
	case CFG_T_ACTION:
		if ((i = cfg_choice(v, cfg_milter_action_names, 4)) < 0)
			return cfg_why(why, wlen, "expected tempfail, accept, "
				       "reject or quarantine");
		*(enum cfg_milter_action *) field = (enum cfg_milter_action) i;
		return true;
	case CFG_T_LIMIT_ACTION:
		if ((i = cfg_choice(v, limit_actions, 3)) < 0)
			return cfg_why(why, wlen, "expected tempfail, reject or "
				       "hold");
		*(enum cfg_limit_action *) field = (enum cfg_limit_action) i;
		return true;
	case CFG_T_SENDER_LOGIN:
		if ((i = cfg_choice(v, sender_logins, 4)) < 0)
			return cfg_why(why, wlen, "expected none, exact, domain "
				       "or map");
		*(enum cfg_sender_login *) field = (enum cfg_sender_login) i;
		return true;
	case CFG_T_LIMITS:
	case CFG_T_LIMITS_BYTES:
		return cfg_limits_parse(v, k->type == CFG_T_LIMITS_BYTES,
					(struct cfg_limits *) field, why, wlen);
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
	case CFG_T_NETS_OR_NONE:
		return cfg_nets_set(v, k->type == CFG_T_NETS_OR_NONE,
				    (struct cfg_nets *) field, why, wlen);
	default:
		if (!cfg_str_ok(k, v, why, wlen))
			return false;
		free(*(char **) field);
		*(char **) field = xstrdup(v);
		return true;
	}
}

/* Free whatever cfg_value_set() allocated for key k in base. */
void cfg_value_free(const struct cfg_key *k, void *base)
{
	char *field = (char *) base + k->off;

	if (k->type <= CFG_T_LISTEN) {
		free(*(char **) field);
		*(char **) field = NULL;
	} else if (k->type <= CFG_T_WORDS) {
		cfg_list_free((struct cfg_strlist *) field);
	} else if (k->type == CFG_T_NETS || k->type == CFG_T_NETS_OR_NONE) {
		free(((struct cfg_nets *) field)->v);
		((struct cfg_nets *) field)->v = NULL;
		((struct cfg_nets *) field)->n = 0;
	}
}

/* Check a value by parsing it into a throwaway object. */
bool cfg_value_check(const struct cfg_key *k, const char *v,
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

const struct cfg_key *cfg_key_find(const char *name)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	return NULL;
}
