/*
 * addr - IPv4/IPv6 client addresses and CIDR networks.
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is stored as the IPv4
 * address, so "192.0.2.0/24" matches a client that Postfix saw on a
 * dual-stack socket. Parsing never accepts partial input: "10.0.0.1x",
 * "10.0.0.0/33", "10.0.0.0/" and "::1/129" are all refused with a reason.
 */
#ifndef PM_ADDR_H
#define PM_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct pm_addr {
	int family;		/* AF_INET or AF_INET6; 0 = unknown */
	unsigned char bytes[16];	/* network order; 4 used for AF_INET */
};

struct pm_cidr {
	struct pm_addr net;	/* host bits cleared */
	unsigned prefix;	/* 0..32 or 0..128 */
};

/* Parse a literal address ("192.0.2.1", "2001:db8::1", "[::1]"). */
bool addr_parse(const char *text, struct pm_addr *out);

/* From a socket address as libmilter hands it to xxfi_connect. */
bool addr_from_sockaddr(const struct sockaddr *sa, struct pm_addr *out);

/* Text form into buf (at least 46 bytes); "unknown" if family is 0. */
const char *addr_to_text(const struct pm_addr *a, char *buf, size_t len);

/*
 * "net/prefix" or a bare address (host route). Strict: the prefix is
 * 0..32 (IPv4) or 0..128 (IPv6; 96..128 for ::ffff:a.b.c.d) in decimal,
 * without sign, blank or leading zero ("/-0", "/+8", "/08" are refused),
 * and the address has no bit set after the prefix ("10.0.0.1/8" is
 * refused with "did you mean 10.0.0.0/8?", as Postfix's cidr tables do;
 * a typo must never widen a network). *why explains a refusal; it may
 * point to a per-thread buffer, valid until this thread's next call.
 * Whatever parses prints (cidr_to_text) to a text that parses back to
 * the same network.
 */
bool cidr_parse(const char *text, struct pm_cidr *out, const char **why);

/* "net/prefix" into buf (INET6_ADDRSTRLEN + 5 bytes are enough). */
const char *cidr_to_text(const struct pm_cidr *c, char *buf, size_t len);

bool cidr_match(const struct pm_cidr *net, const struct pm_addr *a);

#endif
