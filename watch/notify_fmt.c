/*
 * notify_fmt - what notify sends, as bytes: the webhook's JSON document,
 * its signature, the e-mail message, the secret file. No I/O but the
 * secret file. See notify_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "msg.h"
#include "notify_int.h"

bool notify_errf(char **err, const char *fmt, ...)
{
	char buf[1024];		/* a message: longer ones are cut */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	*err = xstrdup(buf);
	return false;
}

static void sb_printf(struct strbuf *b, const char *fmt, ...) PM_PRINTF(2, 3);

static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		msg_panic("notify: sb_printf: %d bytes", n);
	strbuf_add(b, buf, (size_t)n);
}

void notify_json_str(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		strbuf_str(b, "null");
		return;
	}
	strbuf_str(b, "\"");
	while (*p != '\0') {
		unsigned cp;
		size_t n = utf8_decode(p, &cp);
		char u[7] = "\\u0000";

		if (n == 0) {
			strbuf_str(b, "\\ufffd");
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\') {
			strbuf_add(b, "\\", 1);
			strbuf_add(b, (const char *)p, 1);
		} else if (cp == '\n') {
			strbuf_str(b, "\\n");
		} else if (cp == '\r') {
			strbuf_str(b, "\\r");
		} else if (cp == '\t') {
			strbuf_str(b, "\\t");
		} else if (cp == '\b') {
			strbuf_str(b, "\\b");
		} else if (cp == '\f') {
			strbuf_str(b, "\\f");
		} else if (cp < 0x20 || cp == 0x7f || cp == 0x2028 || cp == 0x2029) {
			u[2] = hex[(cp >> 12) & 0xf];
			u[3] = hex[(cp >> 8) & 0xf];
			u[4] = hex[(cp >> 4) & 0xf];
			u[5] = hex[cp & 0xf];
			strbuf_add(b, u, 6);
		} else {
			strbuf_add(b, (const char *)p, n);
		}
		p += n;
	}
	strbuf_str(b, "\"");
}

void notify_delivery_id(char *buf, size_t len, long long id)
{
	snprintf(buf, len, "alert-%lld", id);
}

/* "key": as JSON, with the comma before it unless first. */
static void json_key(struct strbuf *b, const char *key, bool first)
{
	if (!first)
		strbuf_str(b, ",");
	notify_json_str(b, key);
	strbuf_str(b, ":");
}

char *notify_json(const struct notify_alert *a, const char *sent_by)
{
	struct strbuf b = {0};
	char id[32];

	notify_delivery_id(id, sizeof(id), a->id);
	strbuf_str(&b, "{");
	json_key(&b, "delivery_id", true);
	notify_json_str(&b, id);
	json_key(&b, "alert_id", false);
	sb_printf(&b, "%lld", a->id);
	json_key(&b, "fired_at", false);
	notify_json_str(&b, a->fired_at);
	json_key(&b, "detector", false);
	notify_json_str(&b, a->detector);
	json_key(&b, "subject_kind", false);
	notify_json_str(&b, a->subject_kind);
	json_key(&b, "subject", false);
	notify_json_str(&b, a->subject);
	json_key(&b, "state", false);
	notify_json_str(&b, a->state);
	json_key(&b, "summary", false);
	notify_json_str(&b, a->summary);
	json_key(&b, "evidence", false);
	strbuf_str(&b, a->evidence != NULL ? a->evidence : "null");
	json_key(&b, "suspended", false);
	strbuf_str(&b, a->suspended ? "true" : "false");
	json_key(&b, "node", false);
	notify_json_str(&b, a->node);
	json_key(&b, "sent_by", false);
	notify_json_str(&b, sent_by);
	strbuf_str(&b, "}");
	return strbuf_take(&b);
}

char *notify_hdr_value(const char *s, size_t max)
{
	char *out = xmalloc(max + 1);

	return str_escape(out, max + 1, s);
}

/* One body line: valid UTF-8 kept, control characters and stray bytes
 * as \xNN (never a line break), "\" as "\\"; at most 900 bytes. */
static void body_value(struct strbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t start = b->len;

	while (*p != '\0' && b->len - start < 900) {
		unsigned cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0 || cp < 0x20 || cp == 0x7f || cp == 0x2028 ||
		    cp == 0x2029 || (cp >= 0x80 && cp < 0xa0)) {
			size_t k = n == 0 ? 1 : n;

			for (size_t i = 0; i < k; i++) {
				char x[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 0xf]};

				strbuf_add(b, x, 4);
			}
			p += k;
			continue;
		}
		if (cp == '\\')
			strbuf_add(b, "\\", 1);
		strbuf_add(b, (const char *)p, n);
		p += n;
	}
	if (*p != '\0')
		strbuf_str(b, "...");
}

/* The evidence, pretty-printed, each of its lines a body line. */
static void body_evidence(struct strbuf *b, const char *text)
{
	const char *p = text ? text : "null";

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		char *line = xstrndup(p, n);

		body_value(b, line);
		strbuf_str(b, "\n");
		free(line);
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* A Message-ID's right side: the node name, [A-Za-z0-9.-] kept. */
static void msgid_host(struct strbuf *b, const char *node)
{
	const char *p = node && *node ? node : "portmilter-watch";

	for (size_t i = 0; p[i] != '\0' && i < 64; i++) {
		char c = p[i];
		bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '-';

		strbuf_add(b, keep ? &c : "x", 1);
	}
}

static void hdr(struct strbuf *b, const char *name, const char *value,
		size_t max)
{
	char *v = notify_hdr_value(value, max);

	strbuf_str(b, name);
	strbuf_str(b, ": ");
	strbuf_str(b, v);
	strbuf_str(b, "\n");
	free(v);
}

static void body_field(struct strbuf *b, const char *name, const char *value)
{
	strbuf_str(b, name);
	body_value(b, value);
	strbuf_str(b, "\n");
}

char *notify_mail_text(const struct notify_alert *a,
		       const struct notify_cfg *cfg, const char *sent_by,
		       time_t now)
{
	struct strbuf b = {0};
	char date[64], id[32], subj[320];
	struct tm tm;

	notify_delivery_id(id, sizeof(id), a->id);
	if (cfg->mail_from != NULL)
		hdr(&b, "From", cfg->mail_from, 400);
	hdr(&b, "To", cfg->mail_to, 900);
	snprintf(subj, sizeof(subj), "[portmilter] %.60s: %.10s %.200s%s",
		 a->detector ? a->detector : "?",
		 a->subject_kind ? a->subject_kind : "?",
		 a->subject ? a->subject : "",
		 a->state && strcmp(a->state, "resolved") == 0 ? " (resolved)" : "");
	hdr(&b, "Subject", subj, 400);
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	hdr(&b, "Date", date, sizeof(date));
	sb_printf(&b, "Message-ID: <%s.%d.%lld@", id, a->attempt, (long long)now);
	msgid_host(&b, sent_by);
	strbuf_str(&b, ">\n");
	hdr(&b, "Auto-Submitted", "auto-generated", 32);
	hdr(&b, "X-Portmilter-Delivery", id, sizeof(id));
	strbuf_str(&b, "MIME-Version: 1.0\n"
		       "Content-Type: text/plain; charset=utf-8\n"
		       "Content-Transfer-Encoding: 8bit\n\n");
	sb_printf(&b, "portmilter-watch alert %lld\n\n", a->id);
	body_field(&b, "Summary:    ", a->summary);
	body_field(&b, "State:      ", a->state);
	body_field(&b, "Detector:   ", a->detector);
	strbuf_str(&b, "Subject:    ");
	body_value(&b, a->subject_kind);
	strbuf_str(&b, " ");
	body_value(&b, a->subject);
	strbuf_str(&b, "\n");
	body_field(&b, "Fired at:   ", a->fired_at);
	body_field(&b, "Suspended:  ", a->suspended ? "yes" : "no");
	body_field(&b, "Fired by:   ", a->node);
	body_field(&b, "Sent by:    ", sent_by);
	body_field(&b, "Delivery:   ", id);
	strbuf_str(&b, "\nEvidence:\n");
	body_evidence(&b, a->evidence_pretty ? a->evidence_pretty : a->evidence);
	return strbuf_take(&b);
}

bool notify_hmac_hex(const char *key, size_t keylen, const char *body,
		     size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (keylen > NOTIFY_SECRET_MAX ||
	    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)body,
		 len, md, &mdlen) == NULL || mdlen != 32)
		return false;
	for (unsigned i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
	return true;
}

bool notify_secret_read(const char *path, char **secret, size_t *len,
			char **err)
{
	char buf[NOTIFY_SECRET_MAX + 3], ep[256];
	struct stat st;
	ssize_t got;
	size_t n = 0;
	int fd;

	str_escape(ep, sizeof(ep), path);
	if (path == NULL || *path == '\0')
		return notify_errf(err, "webhook_secret_file is not set");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return notify_errf(err, "cannot open the webhook secret file \"%s\": %s",
				   ep, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return notify_errf(err, "the webhook secret file \"%s\" is not a regular file", ep);
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		close(fd);
		return notify_errf(err, "refusing the webhook secret file \"%s\": it is %s by others (mode %04o): chmod o-rwx it",
				   ep, (st.st_mode & S_IROTH) ? "readable" : "writable",
				   (unsigned)(st.st_mode & 07777));
	}
	while (n < sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - n)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return notify_errf(err, "cannot read the webhook secret file \"%s\": %s",
					   ep, strerror(errno));
		}
		n += (size_t)got;
	}
	close(fd);
	if (n == sizeof(buf)) {		/* more than the secret and "\r\n" */
		explicit_bzero(buf, sizeof(buf));
		return notify_errf(err, "the webhook secret file \"%s\" is over %d bytes",
				   ep, NOTIFY_SECRET_MAX);
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > NOTIFY_SECRET_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return notify_errf(err, "the webhook secret file \"%s\" is over %d bytes",
				   ep, NOTIFY_SECRET_MAX);
	}
	if (n == 0)
		return notify_errf(err, "the webhook secret file \"%s\" is empty", ep);
	*secret = xmalloc(n + 1);
	memcpy(*secret, buf, n);
	(*secret)[n] = '\0';
	*len = n;
	explicit_bzero(buf, sizeof(buf));
	return true;
}
