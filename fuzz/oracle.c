/*
 * oracle - checks shared by the fuzz harnesses. See oracle.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"
#include "util.h"

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("ORACLE: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

const char *fuzz_esc(const char *text)
{
	static char buf[4][1024];
	static unsigned next;
	char *b = buf[next++ % 4];

	return str_escape(b, sizeof(buf[0]), text != NULL ? text : "(null)");
}

char *fuzz_text(const uint8_t *data, size_t size)
{
	char *t = xmalloc(size + 1);

	memcpy(t, data, size);
	t[size] = '\0';
	return t;
}

bool fuzz_word_ok(const char *word)
{
	if (word == NULL || *word == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)word; *p; p++)
		if (*p <= ' ' || *p == 0x7f || strchr(",{}$", *p) != NULL)
			return false;
	return true;
}

static bool addr_same(const struct pm_addr *a, const struct pm_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->bytes, b->bytes, n) == 0;
}

void fuzz_check_cidr_roundtrip(const struct pm_cidr *c)
{
	char text[80];
	struct pm_cidr back;
	const char *why = NULL;

	if (c->net.family != AF_INET && c->net.family != AF_INET6)
		fuzz_fail("cidr: family %d", c->net.family);
	if (c->prefix > (c->net.family == AF_INET ? 32u : 128u))
		fuzz_fail("cidr: prefix %u", c->prefix);
	cidr_to_text(c, text, sizeof(text));
	if (!cidr_parse(text, &back, &why))
		fuzz_fail("cidr: %s does not parse back: %s", text, why);
	if (!addr_same(&back.net, &c->net) || back.prefix != c->prefix)
		fuzz_fail("cidr: %s parses back to something else", text);
	if (!cidr_match(c, &c->net))
		fuzz_fail("cidr: %s does not match its own network", text);
}

void fuzz_check_cidr(const char *text, const struct pm_cidr *c)
{
	const char *slash = strchr(text, '/');
	size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
	char *atext = xstrndup(text, alen);
	struct pm_addr a;
	unsigned long want;

	fuzz_check_cidr_roundtrip(c);
	if (slash != NULL) {
		const char *p = slash + 1;

		/* Only decimal digits: no sign, no blank, no base prefix. */
		if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
		    strlen(p) > 6)
			fuzz_fail("cidr: \"%s\" accepted with prefix \"%s\"",
				  fuzz_esc(text), fuzz_esc(p));
		want = strtoul(p, NULL, 10);
		/* ::ffff:a.b.c.d/N is kept as IPv4 with prefix N - 96. */
		if (c->net.family == AF_INET && memchr(atext, ':', alen) != NULL)
			want -= 96;
		if (want != c->prefix)
			fuzz_fail("cidr: \"%s\" accepted with prefix %u",
				  fuzz_esc(text), c->prefix);
	} else if (c->prefix != (c->net.family == AF_INET ? 32u : 128u)) {
		fuzz_fail("cidr: bare address \"%s\" is /%u", fuzz_esc(text),
			  c->prefix);
	}
	/* The address part as written is the network: a 10.0.0.1/8 that
	 * became 10.0.0.0/8 widened what the admin wrote. */
	if (!addr_parse(atext, &a))
		fuzz_fail("cidr: \"%s\" accepted, its address \"%s\" is not one",
			  fuzz_esc(text), fuzz_esc(atext));
	if (!addr_same(&a, &c->net))
		fuzz_fail("cidr: \"%s\" accepted as a different network "
			  "(host bits cleared)", fuzz_esc(text));
	free(atext);
}

void fuzz_check_nets(const struct cfg_nets *nets)
{
	for (size_t i = 0; i < nets->n; i++)
		fuzz_check_cidr_roundtrip(&nets->v[i]);
}
