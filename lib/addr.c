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

bool cidr_parse(const char *text, struct pm_cidr *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN + 8];
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
	} else if (!str_to_long(slash + 1, 0, maxbits, &prefix)) {
		*why = maxbits == 32 ? "prefix length must be 0..32" : "prefix length must be 0..128";
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
	/* Clear host bits so that matching is a plain prefix compare. */
	{
		unsigned nbytes = out->net.family == AF_INET ? 4 : 16;

		for (unsigned i = 0; i < nbytes; i++) {
			unsigned bit = i * 8;

			if (bit >= out->prefix)
				out->net.bytes[i] = 0;
			else if (bit + 8 > out->prefix)
				out->net.bytes[i] &= (unsigned char)(0xff << (8 - (out->prefix - bit)));
		}
	}
	return true;
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
