/*
 * util - memory and string helpers. See util.h for the contract.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msg.h"
#include "util.h"

void *xmalloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (p == NULL)
		msg_fatal("out of memory allocating %zu bytes", len);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		msg_fatal("allocation overflow: %zu * %zu", n, size);
	p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		msg_fatal("out of memory allocating %zu * %zu bytes", n, size);
	return p;
}

void *xrealloc(void *ptr, size_t len)
{
	void *p = realloc(ptr, len ? len : 1);

	if (p == NULL)
		msg_fatal("out of memory reallocating %zu bytes", len);
	return p;
}

char *xstrdup(const char *s)
{
	size_t len = strlen(s);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

char *xstrndup(const char *s, size_t maxlen)
{
	size_t len = strnlen(s, maxlen);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void strbuf_add(struct strbuf *b, const char *s, size_t n)
{
	if (n > SIZE_MAX - b->len - 1)
		msg_fatal("string too long");
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (b->len + n + 1 > cap) {
			if (cap > SIZE_MAX / 2)
				msg_fatal("string too long");
			cap *= 2;
		}
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void strbuf_str(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

char *strbuf_take(struct strbuf *b)
{
	char *p = b->p ? b->p : xstrdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

/*
 * Decode one well-formed UTF-8 sequence (no overlongs, no surrogates, at
 * most U+10FFFF) at s; returns its length, or 0 if the byte at s does not
 * start one.
 */
size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
	unsigned c = s[0], n, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, c &= 0x07;
	else
		return 0;
	for (unsigned i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	size_t len;

	for (; *p != '\0'; p += len)
		if ((len = utf8_decode(p, &cp)) == 0)
			return false;
	return true;
}

size_t utf8_text(char *dst, const char *s, size_t max, bool *differs)
{
	const unsigned char *p = (const unsigned char *)s;
	bool changed = false;
	size_t o = 0;

	while (*p != '\0') {
		unsigned cp;
		size_t n, clen;
		const char *c = (const char *)p;

		if (*p < 0x80) {		/* ASCII: the common case */
			if (o == max) {
				changed = true;
				break;
			}
			dst[o++] = (char)*p++;
			continue;
		}
		clen = n = utf8_decode(p, &cp);

		if (n == 0) {
			c = "\xef\xbf\xbd";
			clen = 3;
			n = 1;
			changed = true;
		}
		if (clen > max - o) {
			changed = true;
			break;
		}
		memcpy(dst + o, c, clen);
		o += clen;
		p += n;
	}
	dst[o] = '\0';
	if (differs != NULL)
		*differs = changed;
	return o;
}

size_t utf8_prefix(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n <= max)
		return n;
	/* s[max] exists: back off while it continues a character */
	for (n = max; n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; n--)
		;
	return n;
}

char *str_escape(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)(src ? src : "");
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (; *s != '\0'; s++) {
		char tmp[4];
		size_t n;

		if (*s == '\\' || *s == '"') {
			tmp[0] = '\\';
			tmp[1] = (char)*s;
			n = 2;
		} else if (*s >= 0x20 && *s < 0x7f) {
			tmp[0] = (char)*s;
			n = 1;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[*s >> 4];
			tmp[3] = hex[*s & 0xf];
			n = 4;
		}
		if (o + n >= dstlen) {
			/* Cut: end in "..." when there is room for it. */
			if (dstlen >= 4) {
				o = o > dstlen - 4 ? dstlen - 4 : o;
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, n);
		o += n;
	}
	dst[o] = '\0';
	return dst;
}

bool str_to_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0' || !(isdigit((unsigned char)*s) ||
					 (*s == '-' && isdigit((unsigned char)s[1]))))
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool str_eq_nocase(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int ca = (unsigned char)*a, cb = (unsigned char)*b;

		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return false;
	}
	return *a == *b;
}

char *str_domain_norm(const char *s)
{
	char *d = xstrdup(s);
	size_t len = strlen(d);

	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	if (len > 0 && d[len - 1] == '.')
		d[len - 1] = '\0';
	return d;
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
