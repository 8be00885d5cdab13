/*
 * autoconfig - what a mail client needs to send through the configured
 * submission ports, from portmilter.conf, in five formats
 * (portmilter-conf autoconfig FORMAT --domain DOMAIN ...):
 *
 *   thunderbird   Mozilla autoconfig (config-v1.1.xml): IMAP incoming,
 *                 one outgoingServer per port, in preference order
 *   mobileconfig  an unsigned Apple configuration profile holding one
 *                 com.apple.mail.managed payload: IMAP incoming and one
 *                 outgoing port (the first in preference order, or
 *                 --port N)
 *   srv           RFC 6186 / RFC 8314 SRV records, a zone-file snippet:
 *                 _submission._tcp, _submissions._tcp, _imaps._tcp
 *   html          a self-contained English help page for end users
 *   autodiscover  the Microsoft Autodiscover (POX) response Outlook
 *                 reads: IMAP and one SMTP protocol per port, in
 *                 preference order, or only --port N
 *
 * Ports: the enabled ports of mode submission (STARTTLS) or submissions
 * (implicit TLS); never an mx port, never a disabled one. None: an
 * error. Preference order: 587, then the other submission ports in the
 * order of their sections in the file, then 465, then the other
 * submissions ports in file order (an admin orders the alternates by
 * ordering the sections). The html page's "try this first" order puts
 * the standard ports first: 587, 465, then the alternates in
 * preference order. SRV priorities: 0, 10, 20, ... in preference order
 * within each service (587 and 465 get 0), weight 1.
 *
 * Incoming mail is not portmilter's business: the files assume IMAP
 * over implicit TLS (IMAPS, port 993) on the submission host, as a
 * provider of this product normally runs it; --imap-host and
 * --imap-port change that. Authentication everywhere: password over
 * TLS (Thunderbird password-cleartext, Apple EmailAuthPassword), user
 * name = the full email address.
 *
 * Names: DOMAIN, HOST (default mail.DOMAIN) and the IMAP host (default
 * HOST) must be DNS host names: labels of letters, digits and hyphens
 * (not first or last), 1..63 bytes, dot-separated, at most 253 bytes, no
 * leading or trailing dot, the last label not all digits; they are
 * written in lower case. NAME (--name, shown to users; default DOMAIN)
 * is UTF-8 text without control characters (C0 with tab, LF and CR,
 * DEL, C1) or Unicode noncharacters (U+FDD0..U+FDEF, U+nFFFE, U+nFFFF),
 * at most 100 bytes: only what XML 1.0 allows and does not discourage.
 * All text is escaped anyway where it lands in XML or HTML.
 *
 * mobileconfig identifiers: PayloadIdentifier is the reversed DOMAIN
 * + ".portmilter.mail" (+ ".account" for the inner payload), the same
 * for every port, so installing a new profile replaces the old one.
 * PayloadUUIDs are name-based (UUID version 5, SHA-1) in portmilter's
 * namespace PC_AC_UUID_NS, of the names "DOMAIN:PORT:profile" and
 * "DOMAIN:PORT:account": the same arguments give the same profile.
 *
 * Nothing here prints the config file's path: the files are published.
 */
#ifndef PM_AUTOCONFIG_H
#define PM_AUTOCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cfg.h"
#include "commands.h"

/* portmilter's UUID namespace (see above), for the documentation. */
#define PC_AC_UUID_NS	"c835dbc4-308e-43c0-a156-6e3597d0b5bb"

#define PC_AC_DNS_MAX	253	/* a DNS name, without the final dot */
#define PC_AC_LABEL_MAX	63
#define PC_AC_NAME_MAX	100	/* --name, bytes */
#define PC_AC_IMAP_PORT	993

enum pc_ac_format {
	PC_AC_THUNDERBIRD,
	PC_AC_MOBILECONFIG,
	PC_AC_SRV,
	PC_AC_HTML,
	PC_AC_AUTODISCOVER,
};

/* A checked command line: every string malloc'd, names lower case. */
struct pc_ac_request {
	enum pc_ac_format format;
	char *domain;
	char *host;
	char *imap_host;
	char *name;
	unsigned imap_port;
	unsigned port;		/* --port (mobileconfig, autodiscover), 0 = not given */
	const char *output;	/* -o FILE, NULL = stdout */
};

struct pc_ac_port {
	unsigned port;
	bool implicit_tls;	/* mode submissions: TLS from the first byte */
	bool standard;		/* 587 or 465 */
};

/* The ports to publish, in preference order (see above). */
struct pc_ac_ports {
	size_t n;
	struct pc_ac_port *v;
};

/* Check the command line (before the config is read). false: *err is
 * a malloc'd message (a usage error). */
bool pc_ac_request_build(const struct pc_ac_opts *opts,
			 struct pc_ac_request *req, char **err);
void pc_ac_request_free(struct pc_ac_request *req);

/* NULL if name is a DNS host name as above, else why not (static). */
const char *pc_ac_dns_name_why(const char *name);

/* The ports of cfg to publish; false with a malloc'd *err if there is
 * none, or if req->port is not one of them (the message names it). */
bool pc_ac_ports_build(const struct cfg *cfg, const struct pc_ac_request *req,
		       struct pc_ac_ports *ports, char **err);
void pc_ac_ports_free(struct pc_ac_ports *ports);

/* Write the file of req->format. Output errors: see ferror(fp). */
void pc_ac_write(const struct pc_ac_request *req,
		 const struct pc_ac_ports *ports, FILE *fp);

/* The html format (autoconfig_html.c). */
void pc_ac_write_html(const struct pc_ac_request *req,
		      const struct pc_ac_ports *ports, FILE *fp);

/* The autodiscover format (autoconfig_autodiscover.c). */
void pc_ac_write_autodiscover(const struct pc_ac_request *req,
			      const struct pc_ac_ports *ports, FILE *fp);

/* s escaped for XML and HTML text and attribute values (& < > " '). */
void pc_ac_put_escaped(FILE *fp, const char *s);

/* "STARTTLS" or "SSL/TLS", as clients name the two kinds of port. */
const char *pc_ac_security(const struct pc_ac_port *p);

/* The command: checks, builds, writes stdout or -o FILE (a temporary
 * file in the same directory, renamed over FILE). */
int pc_cmd_autoconfig(const struct pc_opts *o, const struct cfg *cfg);

#endif
