/*
 * util - memory and string helpers shared by every program.
 *
 * The x* allocators either succeed or do not return (msg_fatal on
 * out-of-memory), like Postfix's mymalloc().
 *
 * str_escape() makes an untrusted byte string safe for a log line:
 * printable ASCII is kept, backslash and double quote are escaped,
 * every other byte becomes \xNN. At most dstlen-1 bytes are written and
 * the result is always NUL-terminated; if the input did not fit, the
 * output ends in "..." so a reader can tell it was cut.
 *
 * str_to_long() parses a whole decimal number (strtol base 10): no
 * empty string, no trailing junk, no overflow, min <= value <= max.
 */
#ifndef PM_UTIL_H
#define PM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t len);
void *xcalloc(size_t n, size_t size);	/* overflow-checked */
void *xrealloc(void *ptr, size_t len);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t maxlen);

/* Escape src (NUL-terminated) into dst; returns dst. */
char *str_escape(char *dst, size_t dstlen, const char *src);

bool str_to_long(const char *s, long min, long max, long *out);

/* Milliseconds on the monotonic clock (intervals, never wall time). */
int64_t mono_ms(void);

/*
 * A growing string: start from {0}; it stays NUL-terminated. Sizes are
 * overflow-checked (xrealloc). strbuf_take() hands the string over (""
 * if nothing was added) and leaves the buffer empty for reuse.
 */
struct strbuf {
	char *p;
	size_t len, cap;
};

void strbuf_add(struct strbuf *b, const char *s, size_t n);
void strbuf_str(struct strbuf *b, const char *s);
char *strbuf_take(struct strbuf *b);

/* Decode one well-formed UTF-8 sequence at s (no overlong forms, no
 * surrogates, at most U+10FFFF; a NUL ends it): its length, with the
 * code point in *cp, or 0 if the byte at s does not start one. */
size_t utf8_decode(const unsigned char *s, unsigned *cp);

/* Is the whole string well-formed UTF-8? */
bool utf8_valid(const char *s);

/*
 * The text form of untrusted bytes s, as the events' text columns hold
 * them (doc/events.md): each byte that does not start a well-formed
 * UTF-8 sequence (utf8_decode) becomes U+FFFD, and the text ends at the
 * last whole character that fits in max bytes. Written to dst, which has
 * room for max + 1 bytes (NUL-terminated); returns its length, and
 * *differs (may be NULL) is true when it is not s itself (a byte
 * replaced, or the text cut).
 */
size_t utf8_text(char *dst, const char *s, size_t max, bool *differs);

/* The length of the longest prefix of UTF-8 s that fits in max bytes
 * without splitting a character: strlen(s) when it fits whole. For valid
 * UTF-8, the length of utf8_text(s, max). */
size_t utf8_prefix(const char *s, size_t max);

/* Case-insensitive ASCII comparison, locale independent. */
bool str_eq_nocase(const char *a, const char *b);

/* Copy of s, lower-cased (ASCII), with one trailing dot removed. */
char *str_domain_norm(const char *s);

#endif
