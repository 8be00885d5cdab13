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

/* "net/prefix" or a bare address (host route). *why explains a refusal. */
bool cidr_parse(const char *text, struct pm_cidr *out, const char **why);

bool cidr_match(const struct pm_cidr *net, const struct pm_addr *a);

#endif
