/*
 * maillog - Postfix log line parser. See maillog.h.
 *
 * The line is copied into a NUL-terminated buffer first (bounded by
 * MAILLOG_LINE_MAX), so every step below is plain C string work that
 * cannot run past the end. Each step either consumes what it expects
 * and advances the cursor, or fails without side effects on the
 * cursor; a pattern that fails leaves the line ML_UNKNOWN.
 */
#include <string.h>

#include "addr.h"
#include "maillog.h"

static const char *const kind_names[ML_NKINDS] = {
	[ML_MALFORMED] = "malformed",
	[ML_OTHER] = "other",
	[ML_UNKNOWN] = "unknown",
	[ML_IGNORED] = "ignored",
	[ML_CONNECT] = "connect",
	[ML_DISCONNECT] = "disconnect",
	[ML_SASL_FAILED] = "sasl_failed",
	[ML_REJECT] = "reject",
	[ML_MILTER_REJECT] = "milter_reject",
	[ML_TLS_FAILED] = "tls_failed",
	[ML_LOST] = "lost",
	[ML_SIZE] = "size",
};

const char *maillog_kind_name(enum maillog_kind kind)
{
	if ((unsigned)kind >= ML_NKINDS)
		return "?";
	return kind_names[kind];
}

/* ---- small, bounded helpers -------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Copy s[0..n) into dst[size], cut if needed (noted in r). */
static void put(struct maillog_rec *r, char *dst, size_t size, const char *s,
		size_t n)
{
	if (n >= size) {
		n = size - 1;
		r->truncated = true;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Consume the literal lit at *p. */
static bool lit(const char **p, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

/* Exactly n decimal digits at *p, value in *v. */
static bool digits(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return false;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return true;
}

/* 1 to 9 decimal digits at *p (no sign), value in *v. */
static bool number(const char **p, unsigned long *v)
{
	unsigned long x = 0;
	int i;

	for (i = 0; i < 9 && is_digit((*p)[i]); i++)
		x = x * 10 + (unsigned long)((*p)[i] - '0');
	if (i == 0 || is_digit((*p)[i]))
		return false;
	*p += i;
	*v = x;
	return true;
}

/* A token up to the next space (non-empty), into dst. */
static bool word(struct maillog_rec *r, const char **p, char *dst, size_t size)
{
	size_t n = strcspn(*p, " ");

	if (n == 0)
		return false;
	put(r, dst, size, *p, n);
	*p += n;
	return true;
}

/* ---- the syslog frame -------------------------------------------------- */

static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static bool hms(const char **p, struct maillog_rec *r)
{
	return digits(p, 2, &r->hour) && lit(p, ":") && digits(p, 2, &r->min) &&
	       lit(p, ":") && digits(p, 2, &r->sec) && r->hour < 24 &&
	       r->min < 60 && r->sec < 61;
}

/* "Dec 06 15:13:11" or "Dec  6 15:13:11" */
static bool time_bsd(const char **p, struct maillog_rec *r)
{
	const char *s = *p;
	int m;

	for (m = 0; m < 12; m++)
		if (strncmp(s, months + 3 * m, 3) == 0)
			break;
	if (m == 12 || s[3] != ' ')
		return false;
	s += 4;
	if (*s == ' ' && is_digit(s[1])) {
		r->mday = s[1] - '0';
		s += 2;
	} else if (!digits(&s, 2, &r->mday)) {
		return false;
	}
	if (r->mday < 1 || r->mday > 31 || !lit(&s, " ") || !hms(&s, r))
		return false;
	r->mon = m + 1;
	r->year = 0;
	*p = s;
	return true;
}

/* "2026-12-06T15:13:11[.123456](Z|+HH:MM|-HH:MM)" */
static bool time_iso(const char **p, struct maillog_rec *r)
{
	const char *s = *p;
	int oh, om;

	if (!digits(&s, 4, &r->year) || !lit(&s, "-") || !digits(&s, 2, &r->mon) ||
	    !lit(&s, "-") || !digits(&s, 2, &r->mday) || !lit(&s, "T") ||
	    !hms(&s, r) || r->year < 1970 || r->mon < 1 || r->mon > 12 ||
	    r->mday < 1 || r->mday > 31)
		return false;
	r->usec = 0;
	if (*s == '.') {
		long scale = 100000;

		s++;
		if (!is_digit(*s))
			return false;
		for (; is_digit(*s); s++) {
			r->usec += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z') {
		s++;
		r->tz_offset = 0;
	} else if ((*s == '+' || *s == '-') && (s++, digits(&s, 2, &oh)) &&
		   lit(&s, ":") && digits(&s, 2, &om) && oh < 24 && om < 60) {
		r->tz_offset = (oh * 3600L + om * 60L) * (s[-6] == '-' ? -1 : 1);
	} else {
		return false;
	}
	r->tz_known = true;
	*p = s;
	return true;
}

/* "TAG[PID]: " or "TAG: "; TAG split at its last '/'. */
static bool tag(const char **p, struct maillog_rec *r)
{
	const char *s = *p, *end, *slash = NULL;
	size_t n = strcspn(s, "[: ");

	if (n == 0)
		return false;
	end = s + n;
	for (const char *q = s; q < end; q++)
		if (*q == '/')
			slash = q;
	if (slash != NULL) {
		put(r, r->syslog_name, sizeof(r->syslog_name), s, (size_t)(slash - s));
		put(r, r->program, sizeof(r->program), slash + 1,
		    (size_t)(end - slash - 1));
	} else {
		put(r, r->program, sizeof(r->program), s, n);
	}
	s = end;
	if (*s == '[') {
		unsigned long pid;

		s++;
		if (!number(&s, &pid) || !lit(&s, "]"))
			return false;
		r->pid = (long)pid;
	}
	if (!lit(&s, ": "))
		return false;
	*p = s;
	return true;
}

/* ---- message parts ----------------------------------------------------- */

/*
 * CLIENT: "name[addr]" or "name[addr]:port", ending at a space, ':' or
 * ',' (or the end). The address must be an IP literal ("unknown" is
 * what Postfix logs for a name it could not find).
 */
static bool client(const char **p, struct maillog_rec *r)
{
	const char *s = *p, *open, *close;
	char addr[64];
	struct pm_addr a;
	size_t n = strcspn(s, "[ ");

	open = s + n;
	if (n == 0 || *open != '[')
		return false;
	close = strchr(open, ']');
	if (close == NULL || (size_t)(close - open - 1) >= sizeof(addr))
		return false;
	memcpy(addr, open + 1, (size_t)(close - open - 1));
	addr[close - open - 1] = '\0';
	if (strncmp(addr, "ipv6:", 5) == 0)
		memmove(addr, addr + 5, strlen(addr + 5) + 1);
	if (!addr_parse(addr, &a))
		return false;
	put(r, r->client_name, sizeof(r->client_name), s, n);
	put(r, r->client_addr, sizeof(r->client_addr), addr, strlen(addr));
	s = close + 1;
	r->client_port = 0;
	if (*s == ':' && is_digit(s[1])) {
		const char *q = s + 1;
		unsigned long port;

		if (number(&q, &port) && port <= 65535) {
			r->client_port = (unsigned)port;
			s = q;
		}
	}
	*p = s;
	return true;
}

/* An SMTP stage name: upper-case letters and '-' ("END-OF-MESSAGE"). */
static bool stage(const char **p, struct maillog_rec *r)
{
	size_t n = 0;

	while (((*p)[n] >= 'A' && (*p)[n] <= 'Z') || (*p)[n] == '-')
		n++;
	if (n == 0)
		return false;
	put(r, r->stage, sizeof(r->stage), *p, n);
	*p += n;
	return true;
}

/* ---- the patterns ------------------------------------------------------ */

/* "connect from CLIENT" */
static bool p_connect(const char *s, struct maillog_rec *r)
{
	return client(&s, r) && *s == '\0';
}

static const struct {
	const char *name;
	size_t off;
} counters[] = {
	{"ehlo", offsetof(struct maillog_rec, ehlo)},
	{"helo", offsetof(struct maillog_rec, helo)},
	{"starttls", offsetof(struct maillog_rec, starttls)},
	{"auth", offsetof(struct maillog_rec, auth)},
	{"mail", offsetof(struct maillog_rec, mail)},
	{"rcpt", offsetof(struct maillog_rec, rcpt)},
	{"data", offsetof(struct maillog_rec, data)},
	{"commands", offsetof(struct maillog_rec, commands)},
};

/* "disconnect from CLIENT[ name=N[/M]...]"; unknown names are skipped */
static bool p_disconnect(const char *s, struct maillog_rec *r)
{
	if (!client(&s, r))
		return false;
	while (*s == ' ') {
		size_t n;
		unsigned long ok, total;
		struct maillog_count *c = NULL;

		s++;
		n = strcspn(s, "= ");
		if (s[n] != '=')
			return false;
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			if (strlen(counters[i].name) == n &&
			    strncmp(s, counters[i].name, n) == 0)
				c = (struct maillog_count *)((char *)r + counters[i].off);
		s += n + 1;
		if (!number(&s, &ok))
			return false;
		total = ok;
		if (*s == '/') {
			s++;
			if (!number(&s, &total) || total < ok)
				return false;
		}
		if (c != NULL) {
			c->seen = true;
			c->ok = ok;
			c->total = total;
		}
	}
	return *s == '\0';
}

/* "CLIENT: SASL MECH authentication failed: REASON[, sasl_username=U]"
 * (after "warning: ") */
static bool p_sasl(const char *s, struct maillog_rec *r)
{
	const char *user;

	if (!client(&s, r) || !lit(&s, ": SASL ") ||
	    !word(r, &s, r->sasl_method, sizeof(r->sasl_method)) ||
	    !lit(&s, " authentication failed"))
		return false;
	if (*s == '\0')
		return true;
	if (!lit(&s, ": "))
		return false;
	/* The reason is the SASL library's text; the user name is last. */
	user = NULL;
	for (const char *q = strstr(s, ", sasl_username="); q != NULL;
	     q = strstr(q + 1, ", sasl_username="))
		user = q;
	if (user != NULL) {
		put(r, r->detail, sizeof(r->detail), s, (size_t)(user - s));
		user += strlen(", sasl_username=");
		put(r, r->sasl_user, sizeof(r->sasl_user), user, strlen(user));
	} else {
		put(r, r->detail, sizeof(r->detail), s, strlen(s));
	}
	return true;
}

/* "STAGE from CLIENT: CODE [X.Y.Z ]TEXT; from=<S> to=<R> proto=P helo=<H>"
 * (after "reject: "). The text ends at the last "; from=<" (or, for
 * CONNECT and HELO stages that have no sender yet, "; proto="). */
static bool p_reject(const char *s, struct maillog_rec *r)
{
	const char *end = NULL, *q;
	int code;

	if (!stage(&s, r) || !lit(&s, " from ") || !client(&s, r) ||
	    !lit(&s, ": "))
		return false;
	q = s;
	if (!digits(&q, 3, &code) || code < 400 || code > 599 || *q != ' ')
		return false;
	put(r, r->reply_code, sizeof(r->reply_code), s, 3);
	s = q + 1;
	/* enhanced status code: class.subject.detail */
	q = s;
	if ((*q == '4' || *q == '5') && q[1] == '.') {
		size_t n = strspn(q, "0123456789.");

		if (n >= 5 && q[n] == ' ') {
			put(r, r->reply_enh, sizeof(r->reply_enh), q, n);
			s = q + n + 1;
		}
	}
	for (q = strstr(s, "; from=<"); q != NULL; q = strstr(q + 1, "; from=<"))
		end = q;
	if (end == NULL)
		for (q = strstr(s, "; proto="); q != NULL;
		     q = strstr(q + 1, "; proto="))
			end = q;
	if (end == NULL)
		end = s + strlen(s);
	put(r, r->reply_text, sizeof(r->reply_text), s, (size_t)(end - s));
	if (lit(&end, "; from=<")) {
		size_t n = strcspn(end, ">");

		put(r, r->sender, sizeof(r->sender), end, n);
		r->sender_logged = true;
	}
	return true;
}

/* "error from CLIENT: DETAIL" (after "SSL_accept ") */
static bool p_tls(const char *s, struct maillog_rec *r)
{
	if (!client(&s, r))
		return false;
	if (lit(&s, ": "))
		put(r, r->detail, sizeof(r->detail), s, strlen(s));
	return *s == '\0' || r->detail[0] != '\0';
}

/* "after STAGE from CLIENT[: ...]" (after "lost connection ",
 * "timeout ", "too many errors ") */
static bool p_after(const char *s, struct maillog_rec *r)
{
	return lit(&s, "after ") && stage(&s, r) && lit(&s, " from ") &&
	       client(&s, r) && (*s == '\0' || *s == ':');
}

static bool p_any(const char *s, struct maillog_rec *r)
{
	(void)s;
	(void)r;
	return true;
}

/*
 * The table: a message prefix, the kind it gives, the parser of what
 * follows the prefix. First match wins; a matched prefix whose parser
 * fails makes the line ML_UNKNOWN. "qid" patterns follow "NOQUEUE: " or
 * "QUEUEID: ". The detail of lost-connection lines is the prefix.
 */
static const struct pattern {
	const char *prefix;
	bool qid;
	enum maillog_kind kind;
	bool (*parse)(const char *, struct maillog_rec *);
} patterns[] = {
	{"connect from ", false, ML_CONNECT, p_connect},
	{"disconnect from ", false, ML_DISCONNECT, p_disconnect},
	{"warning: ", false, ML_SASL_FAILED, p_sasl},
	{"SSL_accept error from ", false, ML_TLS_FAILED, p_tls},
	{"lost connection ", false, ML_LOST, p_after},
	{"timeout ", false, ML_LOST, p_after},
	{"too many errors ", false, ML_LOST, p_after},
	{"reject: ", true, ML_REJECT, p_reject},
	{"milter-reject: ", true, ML_MILTER_REJECT, p_reject},
	/* known, nothing to record */
	{"reject_warning: ", true, ML_IGNORED, p_any},
	{"discard: ", true, ML_IGNORED, p_any},
	{"hold: ", true, ML_IGNORED, p_any},
	{"redirect: ", true, ML_IGNORED, p_any},
	{"filter: ", true, ML_IGNORED, p_any},
	{"milter-discard: ", true, ML_IGNORED, p_any},
	{"milter-hold: ", true, ML_IGNORED, p_any},
	{"client=", true, ML_IGNORED, p_any},
	{"warning: ", false, ML_IGNORED, p_any},
	{"Anonymous TLS connection established from ", false, ML_IGNORED, p_any},
	{"Untrusted TLS connection established from ", false, ML_IGNORED, p_any},
	{"Trusted TLS connection established from ", false, ML_IGNORED, p_any},
	{"Verified TLS connection established from ", false, ML_IGNORED, p_any},
	{"improper command pipelining after ", false, ML_IGNORED, p_any},
	{"NOQUEUE: lost connection ", false, ML_IGNORED, p_any},
	{"fatal: ", false, ML_IGNORED, p_any},
	{"error: ", false, ML_IGNORED, p_any},
	{"panic: ", false, ML_IGNORED, p_any},
	{"statistics: ", false, ML_IGNORED, p_any},
};

/* "NOQUEUE: " or a Postfix queue id (hex, or long form 0-9 A-Z a-z). */
static bool queue_id(const char **p, struct maillog_rec *r)
{
	size_t n;

	if (lit(p, "NOQUEUE: "))
		return true;
	n = strspn(*p, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "abcdefghijklmnopqrstuvwxyz");
	if (n < 6 || n >= sizeof(r->queue_id) || (*p)[n] != ':' ||
	    (*p)[n + 1] != ' ')
		return false;
	put(r, r->queue_id, sizeof(r->queue_id), *p, n);
	*p += n + 2;
	return true;
}

/*
 * qmgr: "QUEUEID: from=<SENDER>, size=N, nrcpt=N (queue active)". The
 * sender may hold anything, ", size=" too: the tail is matched from the
 * last ">, size=". N: 1 to 15 digits.
 */
static enum maillog_kind qmgr_message(const char *m, struct maillog_rec *r)
{
	const char *s = m, *tail = NULL, *q;
	unsigned long long size = 0;
	unsigned long nrcpt;
	int i;

	if (!queue_id(&s, r) || r->queue_id[0] == '\0' || !lit(&s, "from=<"))
		return ML_OTHER;
	for (q = strstr(s, ">, size="); q != NULL; q = strstr(q + 1, ">, size="))
		tail = q;
	if (tail == NULL)
		return ML_OTHER;
	q = tail + strlen(">, size=");
	for (i = 0; i < 15 && is_digit(q[i]); i++)
		size = size * 10 + (unsigned long long)(q[i] - '0');
	if (i == 0 || is_digit(q[i]))
		return ML_OTHER;
	q += i;
	if (!lit(&q, ", nrcpt=") || !number(&q, &nrcpt) ||
	    strcmp(q, " (queue active)") != 0)
		return ML_OTHER;
	put(r, r->sender, sizeof(r->sender), s, (size_t)(tail - s));
	r->sender_logged = true;
	r->size = size;
	return ML_SIZE;
}

static enum maillog_kind message(const char *m, struct maillog_rec *r)
{
	const char *after_qid = m;
	bool have_qid = queue_id(&after_qid, r);

	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const struct pattern *pt = &patterns[i];
		const char *s = pt->qid ? after_qid : m;
		struct maillog_rec save;

		if (pt->qid && !have_qid)
			continue;
		if (strncmp(s, pt->prefix, strlen(pt->prefix)) != 0)
			continue;
		save = *r;
		if (pt->parse(s + strlen(pt->prefix), r)) {
			if (pt->kind == ML_LOST)
				put(r, r->detail, sizeof(r->detail), pt->prefix,
				    strlen(pt->prefix) - 1);
			return pt->kind;
		}
		*r = save;	/* undo what the failed parser filled in */
	}
	return ML_UNKNOWN;
}

enum maillog_kind maillog_parse(const char *line, size_t len,
				struct maillog_rec *out)
{
	char buf[MAILLOG_LINE_MAX + 1];
	const char *s = buf;
	const char *nul;

	memset(out, 0, sizeof(*out));
	out->kind = ML_MALFORMED;
	if (line == NULL)
		return out->kind;
	if (len > MAILLOG_LINE_MAX) {
		len = MAILLOG_LINE_MAX;
		out->truncated = true;
	}
	if ((nul = memchr(line, '\0', len)) != NULL)
		len = (size_t)(nul - line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	memcpy(buf, line, len);
	buf[len] = '\0';

	if (!time_bsd(&s, out) && !time_iso(&s, out))
		return out->kind;
	if (!lit(&s, " ") || !word(out, &s, out->host, sizeof(out->host)) ||
	    !lit(&s, " ") || !tag(&s, out))
		return out->kind;
	if (strcmp(out->program, "qmgr") == 0) {
		out->kind = qmgr_message(s, out);
		if (out->kind == ML_OTHER)	/* nothing half filled in */
			out->queue_id[0] = '\0';
		return out->kind;
	}
	if (strcmp(out->program, "smtpd") != 0) {
		out->kind = ML_OTHER;
		return out->kind;
	}
	out->kind = message(s, out);
	return out->kind;
}
