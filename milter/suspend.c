/*
 * suspend - the suspension set and its file. See suspend.h.
 *
 * One open-addressing hash table (linear probing, at most half full)
 * indexes every entry: a user by its ASCII-folded login, an address by
 * (family, prefix, network bytes). The prefix lengths present are kept
 * per family, longest first, so an address lookup probes once per
 * length.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "event.h"
#include "suspend.h"
#include "util.h"

/* The longest subject is the longest name the events store (event.h). */
_Static_assert(SUSPEND_SUBJECT_MAX == EVENT_TEXT_MAX,
	       "a suspension must be able to name a user as the events hold it");

#define FILE_MODE	0640
#define FILE_MAX	(256u << 20)	/* larger is not our file */
#define HEADER		"portmilter-suspensions 1\n"

struct entry {
	enum suspend_kind kind;
	int64_t until;
	char *subject;
	struct pm_cidr net;		/* address */
	uint64_t hash;
};

struct suspend_set {
	struct entry *v;
	size_t n, cap;
	uint32_t *slot;			/* entry index + 1; 0 = empty */
	size_t nslots;			/* a power of two */
	unsigned char prefixes[2][129];	/* [v4/v6]: lengths present, longest first */
	size_t nprefixes[2];
	uint64_t generation;
};

/* ---- keys ------------------------------------------------------------- */

static unsigned char fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t fnv_init(unsigned kind)
{
	return (14695981039346656037ULL ^ kind) * 1099511628211ULL;
}

static uint64_t fnv_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * 1099511628211ULL;
}

static uint64_t user_hash(const char *login)
{
	uint64_t h = fnv_init(SUSPEND_USER);

	for (const unsigned char *p = (const unsigned char *)login; *p; p++)
		h = fnv_byte(h, fold(*p));
	return h;
}

static bool user_equal(const char *a, const char *b)
{
	for (; *a && fold((unsigned char)*a) == fold((unsigned char)*b); a++, b++)
		continue;
	return *a == '\0' && *b == '\0';
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static uint64_t net_hash(const struct pm_cidr *c)
{
	uint64_t h = fnv_init(SUSPEND_ADDRESS);

	h = fnv_byte(h, (unsigned char)(c->net.family == AF_INET ? 4 : 6));
	h = fnv_byte(h, (unsigned char)c->prefix);
	for (size_t i = 0; i < addr_len(c->net.family); i++)
		h = fnv_byte(h, c->net.bytes[i]);
	return h;
}

static bool net_equal(const struct pm_cidr *a, const struct pm_cidr *b)
{
	return a->net.family == b->net.family && a->prefix == b->prefix &&
	       memcmp(a->net.bytes, b->net.bytes, addr_len(a->net.family)) == 0;
}

/* a with the bits after prefix cleared, as a network. */
static void net_of(const struct pm_addr *a, unsigned prefix, struct pm_cidr *out)
{
	size_t len = addr_len(a->family);

	memset(out, 0, sizeof(*out));
	out->net.family = a->family;
	out->prefix = prefix;
	for (size_t i = 0; i < len; i++) {
		unsigned bits = prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;

		if (bits >= 8)
			out->net.bytes[i] = a->bytes[i];
		else if (bits > 0)
			out->net.bytes[i] = a->bytes[i] &
					    (unsigned char)(0xff << (8 - bits));
	}
}

/* ---- the table -------------------------------------------------------- */

static bool entry_matches(const struct entry *e, enum suspend_kind kind,
			  const char *login, const struct pm_cidr *net)
{
	if (e->kind != kind)
		return false;
	return kind == SUSPEND_USER ? user_equal(e->subject, login)
				    : net_equal(&e->net, net);
}

/* The entry for a key, or NULL. */
static struct entry *find(const struct suspend_set *s, enum suspend_kind kind,
			  uint64_t hash, const char *login,
			  const struct pm_cidr *net)
{
	size_t mask, i;

	if (s->nslots == 0)
		return NULL;
	mask = s->nslots - 1;
	for (i = (size_t)hash & mask; s->slot[i] != 0; i = (i + 1) & mask) {
		struct entry *e = &s->v[s->slot[i] - 1];

		if (e->hash == hash && entry_matches(e, kind, login, net))
			return e;
	}
	return NULL;
}

static void slot_put(uint32_t *slot, size_t nslots, uint64_t hash, uint32_t idx)
{
	size_t mask = nslots - 1, i;

	for (i = (size_t)hash & mask; slot[i] != 0; i = (i + 1) & mask)
		continue;
	slot[i] = idx;
}

static void grow(struct suspend_set *s)
{
	size_t nslots;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	if (2 * (s->n + 1) <= s->nslots)
		return;
	nslots = s->nslots ? s->nslots * 2 : 32;
	free(s->slot);
	s->slot = xcalloc(nslots, sizeof(*s->slot));
	s->nslots = nslots;
	for (size_t i = 0; i < s->n; i++)
		slot_put(s->slot, nslots, s->v[i].hash, (uint32_t)(i + 1));
}

/* Remember a prefix length of a family, keeping the list longest first. */
static void prefix_note(struct suspend_set *s, int family, unsigned prefix)
{
	int f = family == AF_INET ? 0 : 1;
	size_t i, n = s->nprefixes[f];

	for (i = 0; i < n && s->prefixes[f][i] >= prefix; i++)
		if (s->prefixes[f][i] == prefix)
			return;
	memmove(&s->prefixes[f][i + 1], &s->prefixes[f][i], n - i);
	s->prefixes[f][i] = (unsigned char)prefix;
	s->nprefixes[f]++;
}

struct suspend_set *suspend_set_new(void)
{
	return xcalloc(1, sizeof(struct suspend_set));
}

void suspend_set_free(struct suspend_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].subject);
	free(s->v);
	free(s->slot);
	free(s);
}

bool suspend_set_add(struct suspend_set *s, enum suspend_kind kind,
		     const char *subject, int64_t until, const char **why)
{
	struct entry e, *old;
	size_t len = subject ? strlen(subject) : 0;

	memset(&e, 0, sizeof(e));
	if (len == 0) {
		*why = "empty subject";
		return false;
	}
	if (len > SUSPEND_SUBJECT_MAX) {
		*why = "subject too long";
		return false;
	}
	if (until < 0) {
		*why = "negative until";
		return false;
	}
	if (kind == SUSPEND_USER) {
		e.hash = user_hash(subject);
		e.subject = xstrdup(subject);
	} else if (kind == SUSPEND_ADDRESS) {
		char text[INET6_ADDRSTRLEN + 8];

		if (!cidr_parse(subject, &e.net, why))
			return false;
		e.hash = net_hash(&e.net);
		e.subject = xstrdup(cidr_to_text(&e.net, text, sizeof(text)));
	} else {
		*why = "unknown kind";
		return false;
	}
	e.kind = kind;
	e.until = until;
	if ((old = find(s, kind, e.hash, e.subject, &e.net)) != NULL) {
		if (old->until != 0 && (until == 0 || until > old->until))
			old->until = until;
		free(e.subject);
		return true;
	}
	grow(s);
	s->v[s->n++] = e;
	slot_put(s->slot, s->nslots, e.hash, (uint32_t)s->n);
	if (kind == SUSPEND_ADDRESS)
		prefix_note(s, e.net.net.family, e.net.prefix);
	return true;
}

size_t suspend_set_count(const struct suspend_set *s)
{
	return s ? s->n : 0;
}

size_t suspend_set_count_kind(const struct suspend_set *s,
			      enum suspend_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; s != NULL && i < s->n; i++)
		n += s->v[i].kind == kind;
	return n;
}

uint64_t suspend_set_generation(const struct suspend_set *s)
{
	return s ? s->generation : 0;
}

void suspend_set_set_generation(struct suspend_set *s, uint64_t generation)
{
	s->generation = generation;
}

static bool in_force(const struct entry *e, int64_t now)
{
	return e != NULL && (e->until == 0 || e->until > now);
}

static bool hit_fill(const struct entry *e, struct suspend_hit *hit)
{
	if (hit != NULL) {
		hit->kind = e->kind;
		hit->until = e->until;
		snprintf(hit->subject, sizeof(hit->subject), "%s", e->subject);
	}
	return true;
}

bool suspend_set_lookup(const struct suspend_set *s, const char *login,
			const struct pm_addr *client, int64_t now,
			struct suspend_hit *hit)
{
	const struct entry *e;
	int f;

	if (s == NULL || s->n == 0)
		return false;
	if (login != NULL && *login != '\0') {
		size_t len = strlen(login);

		if (len <= SUSPEND_SUBJECT_MAX) {
			e = find(s, SUSPEND_USER, user_hash(login), login, NULL);
			if (in_force(e, now))
				return hit_fill(e, hit);
		}
		/* Then the name as the events' sasl_user holds it (a longer
		 * login cut, invalid bytes as U+FFFD: milter/event.h), which
		 * is the one an analyst or portmilter-watch suspends. */
		if (len > SUSPEND_SUBJECT_MAX || !utf8_valid(login)) {
			char text[SUSPEND_SUBJECT_MAX + 1];

			utf8_text(text, login, SUSPEND_SUBJECT_MAX, NULL);
			e = find(s, SUSPEND_USER, user_hash(text), text, NULL);
			if (in_force(e, now))
				return hit_fill(e, hit);
		}
	}
	if (client == NULL ||
	    (client->family != AF_INET && client->family != AF_INET6))
		return false;
	f = client->family == AF_INET ? 0 : 1;
	for (size_t i = 0; i < s->nprefixes[f]; i++) {
		struct pm_cidr net;

		net_of(client, s->prefixes[f][i], &net);
		e = find(s, SUSPEND_ADDRESS, net_hash(&net), NULL, &net);
		if (in_force(e, now))
			return hit_fill(e, hit);
	}
	return false;
}

/* ---- the file text ------------------------------------------------------ */

static bool must_escape(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '\\';
}

char *suspend_set_encode(const struct suspend_set *s, size_t *len)
{
	struct strbuf b = {0};
	char line[96];
	uint32_t crc;

	strbuf_str(&b, HEADER);
	snprintf(line, sizeof(line), "generation %" PRIu64 "\n",
		 suspend_set_generation(s));
	strbuf_str(&b, line);
	for (size_t i = 0; s != NULL && i < s->n; i++) {
		const struct entry *e = &s->v[i];

		snprintf(line, sizeof(line), "%s %" PRId64 " ",
			 e->kind == SUSPEND_USER ? "user" : "address", e->until);
		strbuf_str(&b, line);
		for (const unsigned char *p = (const unsigned char *)e->subject; *p; p++) {
			if (must_escape(*p)) {
				snprintf(line, sizeof(line), "\\x%02x", *p);
				strbuf_str(&b, line);
			} else {
				strbuf_add(&b, (const char *)p, 1);
			}
		}
		strbuf_str(&b, "\n");
	}
	crc = crc32c(0, b.p, b.len);
	snprintf(line, sizeof(line), "end %zu %08" PRIx32 "\n",
		 suspend_set_count(s), crc);
	strbuf_str(&b, line);
	*len = b.len;
	return strbuf_take(&b);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* A whole decimal number 0..max of [p, p+n). */
static bool dec_span(const char *p, size_t n, int64_t max, int64_t *out)
{
	int64_t v = 0;

	if (n == 0 || n > 19 || (n > 1 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (max - (p[i] - '0')) / 10)
			return false;		/* over max, before it overflows */
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return true;
}

/* Unescape a subject span; false on a bad escape or a raw byte that
 * should have been escaped. out has SUSPEND_SUBJECT_MAX + 1 bytes. */
static bool subject_span(const char *p, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		int hi, lo;

		if (c == '\\') {
			if (i + 3 >= n || p[i + 1] != 'x' ||
			    (hi = hexval(p[i + 2])) < 0 || (lo = hexval(p[i + 3])) < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			if (c == 0 || !must_escape(c))
				return false;
			i += 3;
		} else if (must_escape(c)) {
			return false;
		}
		if (o >= SUSPEND_SUBJECT_MAX)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return o > 0;
}

static struct suspend_set *decode_fail(struct suspend_set *s, char *err,
				       size_t errlen, size_t line,
				       const char *what)
{
	snprintf(err, errlen, "line %zu: %s", line, what);
	suspend_set_free(s);
	return NULL;
}

/* One entry line "KIND UNTIL SUBJECT" (without its newline). */
static bool decode_entry(struct suspend_set *s, const char *p, size_t n,
			 const char **why)
{
	char subject[SUSPEND_SUBJECT_MAX + 1];
	enum suspend_kind kind;
	const char *sp1, *sp2;
	int64_t until;

	if (n > 5 && memcmp(p, "user ", 5) == 0)
		kind = SUSPEND_USER, sp1 = p + 4;
	else if (n > 8 && memcmp(p, "address ", 8) == 0)
		kind = SUSPEND_ADDRESS, sp1 = p + 7;
	else
		return *why = "expected user, address or end", false;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (sp2 == NULL || !dec_span(sp1 + 1, (size_t)(sp2 - sp1 - 1), INT64_MAX,
				     &until))
		return *why = "bad until", false;
	if (!subject_span(sp2 + 1, n - (size_t)(sp2 + 1 - p), subject))
		return *why = "bad subject", false;
	return suspend_set_add(s, kind, subject, until, why);
}

struct suspend_set *suspend_set_decode(const char *buf, size_t len, char *err,
				       size_t errlen)
{
	struct suspend_set *s = suspend_set_new();
	size_t pos, line = 1, nentries = 0;
	const char *why;

	if (len < sizeof(HEADER) - 1 || memcmp(buf, HEADER, sizeof(HEADER) - 1) != 0)
		return decode_fail(s, err, errlen, 1, "not a portmilter suspension file");
	pos = sizeof(HEADER) - 1;
	for (;;) {
		const char *p = buf + pos, *nl = memchr(p, '\n', len - pos);
		size_t n;
		int64_t v, count;

		line++;
		if (nl == NULL)
			return decode_fail(s, err, errlen, line, "cut short (no end line)");
		n = (size_t)(nl - p);
		if (memchr(p, '\0', n) != NULL)
			return decode_fail(s, err, errlen, line, "NUL byte");
		if (line == 2) {
			if (n < 12 || memcmp(p, "generation ", 11) != 0 ||
			    !dec_span(p + 11, n - 11, INT64_MAX, &v))
				return decode_fail(s, err, errlen, line, "bad generation");
			s->generation = (uint64_t)v;
		} else if (n >= 4 && memcmp(p, "end ", 4) == 0) {
			const char *sp = memchr(p + 4, ' ', n - 4);
			uint32_t crc = 0;

			if (sp == NULL || !dec_span(p + 4, (size_t)(sp - p - 4),
						    INT64_MAX, &count) ||
			    (size_t)(nl - sp - 1) != 8)
				return decode_fail(s, err, errlen, line, "bad end line");
			for (const char *h = sp + 1; h < nl; h++) {
				if (hexval(*h) < 0)
					return decode_fail(s, err, errlen, line,
							   "bad end line");
				crc = crc * 16 + (uint32_t)hexval(*h);
			}
			if (crc != crc32c(0, buf, pos))
				return decode_fail(s, err, errlen, line,
						   "checksum mismatch (file altered or cut)");
			if ((size_t)count != nentries)
				return decode_fail(s, err, errlen, line,
						   "entry count mismatch");
			if (nl + 1 != buf + len)
				return decode_fail(s, err, errlen, line + 1,
						   "data after the end line");
			return s;
		} else {
			if (!decode_entry(s, p, n, &why))
				return decode_fail(s, err, errlen, line, why);
			nentries++;
		}
		pos += n + 1;
	}
}

/* ---- the file ------------------------------------------------------------ */

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

bool suspend_file_save(const char *dir, const struct suspend_set *s,
		       char *err, size_t errlen)
{
	char *tmp = path_in(dir, SUSPEND_FILE ".tmp");
	char *final = path_in(dir, SUSPEND_FILE);
	size_t len;
	char *text = suspend_set_encode(s, &len);
	struct stat st;
	bool ok = false;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC |
		  O_NONBLOCK, FILE_MODE);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot write %s: not a regular file", tmp);
		goto out;
	}
	if ((st.st_mode & 07777) != FILE_MODE && fchmod(fd, FILE_MODE) != 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (!write_all(fd, text, len) || fdatasync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) != 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, final,
			 strerror(errno));
		goto out;
	}
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (!ok)
		(void)unlink(tmp);
	free(text);
	free(tmp);
	free(final);
	return ok;
}

struct suspend_set *suspend_file_load(const char *dir, bool *missing,
				      char *err, size_t errlen)
{
	char *path = path_in(dir, SUSPEND_FILE), *buf = NULL, why[200];
	struct suspend_set *s = NULL;
	struct stat st;
	size_t got = 0;
	int fd;

	*missing = false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*missing = errno == ENOENT;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes",
			 path, FILE_MAX);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read %s: %s", path,
				 strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if ((s = suspend_set_decode(buf, got, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "%s: %s", path, why);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return s;
}
