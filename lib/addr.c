/*
 * addr - client addresses and CIDR networks. See addr.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "util.h"

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Store an IPv6 address, folding IPv4-mapped ones to IPv4. */
static void addr_set6(struct pm_addr *out, const unsigned char *b16)
{
	memset(out, 0, sizeof(*out));
	if (memcmp(b16, v4mapped, sizeof(v4mapped)) == 0) {
		out->family = AF_INET;
		memcpy(out->bytes, b16 + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->bytes, b16, 16);
	}
}

bool addr_parse(const char *text, struct pm_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len;
	unsigned char b[16];

	if (text == NULL)
		return false;
	len = strlen(text);
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (strncmp(buf, "ipv6:", 5) == 0 || strncmp(buf, "IPv6:", 5) == 0)
		memmove(buf, buf + 5, len - 4);
	if (inet_pton(AF_INET, buf, b) == 1) {
		memset(out, 0, sizeof(*out));
		out->family = AF_INET;
		memcpy(out->bytes, b, 4);
		return true;
	}
	if (inet_pton(AF_INET6, buf, b) == 1) {
		addr_set6(out, b);
		return true;
	}
	return false;
}

bool addr_from_sockaddr(const struct sockaddr *sa, struct pm_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		out->family = AF_INET;
		memcpy(out->bytes, &sin->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		addr_set6(out, sin6->sin6_addr.s6_addr);
		return true;
	}
	return false;
}

const char *addr_to_text(const struct pm_addr *a, char *buf, size_t len)
{
	if (a == NULL || a->family == 0 || inet_ntop(a->family, a->bytes, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "unknown");
	return buf;
}

/* The prefix length: 1 to 3 decimal digits, no sign, no blank, no
 * leading zero ("0" itself is fine), at most maxbits. */
static bool cidr_prefix(const char *s, unsigned maxbits, long *out)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 3 || s[n] != '\0' || (s[0] == '0' && n > 1))
		return false;
	return str_to_long(s, 0, (long)maxbits, out);
}

/* Clear the host bits of a: does that change it? */
static bool cidr_clear_host(struct pm_addr *a, unsigned prefix)
{
	unsigned nbytes = a->family == AF_INET ? 4 : 16;
	bool changed = false;

	for (unsigned i = 0; i < nbytes; i++) {
		unsigned bit = i * 8;
		unsigned char keep = bit >= prefix ? 0 : bit + 8 <= prefix ? 0xff :
				     (unsigned char)(0xff << (8 - (prefix - bit)));

		changed |= (a->bytes[i] & (unsigned char)~keep) != 0;
		a->bytes[i] &= keep;
	}
	return changed;
}

bool cidr_parse(const char *text, struct pm_cidr *out, const char **why)
{
	static _Thread_local char hint[INET6_ADDRSTRLEN + 96];
	char buf[INET6_ADDRSTRLEN + 8], net[INET6_ADDRSTRLEN];
	const char *slash;
	unsigned maxbits;
	long prefix;
	size_t len;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (text == NULL || *text == '\0') {
		*why = "empty network";
		return false;
	}
	slash = strchr(text, '/');
	len = slash ? (size_t)(slash - text) : strlen(text);
	if (len == 0 || len >= sizeof(buf)) {
		*why = "malformed address";
		return false;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (!addr_parse(buf, &out->net)) {
		*why = "malformed address";
		return false;
	}
	/* A mapped address written in IPv6 form keeps IPv6 prefix width. */
	maxbits = out->net.family == AF_INET && strchr(buf, ':') == NULL ? 32 : 128;
	if (slash == NULL) {
		prefix = maxbits;
	} else if (!cidr_prefix(slash + 1, maxbits, &prefix)) {
		*why = maxbits == 32 ? "prefix length must be 0..32 in decimal, without sign or leading zero" :
				       "prefix length must be 0..128 in decimal, without sign or leading zero";
		return false;
	}
	/* ::ffff:a.b.c.d/N: express the prefix on the IPv4 part. */
	if (out->net.family == AF_INET && maxbits == 128) {
		if (prefix < 96) {
			*why = "IPv4-mapped prefix length must be 96..128";
			return false;
		}
		prefix -= 96;
	}
	out->prefix = (unsigned)prefix;
	/* Host bits set: refused with the network as a hint (a typo for
	 * another network must not silently widen to it), as Postfix's
	 * cidr tables do. */
	if (cidr_clear_host(&out->net, out->prefix)) {
		bool mapped = maxbits == 128 && out->net.family == AF_INET;

		addr_to_text(&out->net, net, sizeof(net));
		snprintf(hint, sizeof(hint), "host bits set after the prefix "
			 "(did you mean %s%s/%ld?)", mapped ? "::ffff:" : "",
			 net, mapped ? prefix + 96 : prefix);
		*why = hint;
		return false;
	}
	return true;
}

const char *cidr_to_text(const struct pm_cidr *c, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", addr_to_text(&c->net, addr, sizeof(addr)),
		 c->prefix);
	return buf;
}

bool cidr_match(const struct pm_cidr *net, const struct pm_addr *a)
{
	unsigned full, rest;

	if (net == NULL || a == NULL || a->family == 0 || a->family != net->net.family)
		return false;
	full = net->prefix / 8;
	rest = net->prefix % 8;
	if (memcmp(net->net.bytes, a->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((net->net.bytes[full] ^ a->bytes[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}
