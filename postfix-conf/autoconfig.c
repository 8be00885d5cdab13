/*
 * autoconfig - client autoconfig files: the checks, the ports, the
 * thunderbird, mobileconfig and srv formats, and the command. The html
 * page is in autoconfig_html.c. See autoconfig.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "autoconfig.h"
#include "text.h"
#include "util.h"
#include "uuid.h"

static const char *const pc_ac_formats[] = {
	[PC_AC_THUNDERBIRD] = "thunderbird",
	[PC_AC_MOBILECONFIG] = "mobileconfig",
	[PC_AC_SRV] = "srv",
	[PC_AC_HTML] = "html",
	[PC_AC_AUTODISCOVER] = "autodiscover",
};

#define PC_AC_NFORMATS	(sizeof(pc_ac_formats) / sizeof(*pc_ac_formats))

/* ---- the command line ------------------------------------------------- */

static bool ac_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-';
}

const char *pc_ac_dns_name_why(const char *name)
{
	size_t len = strlen(name), label = 0;
	const char *last = name;
	bool digits = true;

	if (len == 0)
		return "empty";
	if (len > PC_AC_DNS_MAX)
		return "longer than 253 characters";
	for (const char *s = name;; s++) {
		if (*s == '.' || *s == '\0') {
			if (label == 0)
				return "an empty label (a leading, trailing or "
				       "double dot)";
			if (label > PC_AC_LABEL_MAX)
				return "a label longer than 63 characters";
			if (s[-1] == '-' || s[-label] == '-')
				return "a label that starts or ends with '-'";
			if (*s == '\0')
				break;
			label = 0;
			last = s + 1;
			continue;
		}
		if (!ac_ldh((unsigned char) *s))
			return "a character other than a letter, a digit, "
			       "'-' or '.'";
		label++;
	}
	for (const char *s = last; *s; s++)
		digits = digits && *s >= '0' && *s <= '9';
	if (digits)
		return "the last label is all digits (an IP address is not "
		       "a host name)";
	return NULL;
}

/* A checked DNS name, lower case, or NULL with *err set. */
static char *ac_dns_name(const char *option, const char *value, char **err)
{
	char shown[128];
	const char *why = pc_ac_dns_name_why(value);

	if (why != NULL) {
		*err = pc_strf("%s \"%s\": not a DNS host name: %s", option,
			       str_escape(shown, sizeof(shown), value), why);
		return NULL;
	}
	return str_domain_norm(value);
}

/*
 * Is cp a Unicode noncharacter (U+FDD0..U+FDEF, and the last two code
 * points of every plane: U+FFFE, U+FFFF, U+1FFFE, ..., U+10FFFF)? XML
 * 1.0 forbids U+FFFE and U+FFFF (xmllint and plistlib refuse the file)
 * and discourages the others; none is text a user could read.
 */
static bool ac_noncharacter(unsigned cp)
{
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

/*
 * Text shown to users: UTF-8, bounded, and only characters that XML 1.0
 * allows in a document, without the ones it discourages: no control
 * character (C0, including tab, LF and CR, DEL, C1), no surrogate (the
 * decoder refuses them), no noncharacter.
 */
static bool ac_name_ok(const char *name, char **err)
{
	const unsigned char *s = (const unsigned char *) name;
	char shown[128];
	unsigned cp;
	size_t n;

	if (*name == '\0' || strlen(name) > PC_AC_NAME_MAX) {
		*err = pc_strf("--name: must be 1 to %d bytes", PC_AC_NAME_MAX);
		return false;
	}
	for (; *s != '\0'; s += n) {
		if ((n = utf8_decode(s, &cp)) == 0 || cp < 0x20 ||
		    (cp >= 0x7f && cp < 0xa0)) {
			*err = pc_strf("--name \"%s\": not UTF-8 text without "
				       "control characters",
				       str_escape(shown, sizeof(shown), name));
			return false;
		}
		if (ac_noncharacter(cp)) {
			*err = pc_strf("--name \"%s\": U+%04X is a Unicode "
				       "noncharacter, not text: XML (Thunderbird, "
				       "Apple profiles, the HTML page) does not "
				       "allow it", str_escape(shown, sizeof(shown),
				       name), cp);
			return false;
		}
	}
	return true;
}

static bool ac_port_arg(const char *option, const char *value,
			unsigned *out, char **err)
{
	char shown[64];
	long n;

	if (!str_to_long(value, 1, 65535, &n)) {
		*err = pc_strf("%s \"%s\": not a port number (1..65535)",
			       option, str_escape(shown, sizeof(shown), value));
		return false;
	}
	*out = (unsigned) n;
	return true;
}

static bool ac_format(const char *text, enum pc_ac_format *out, char **err)
{
	char shown[64];

	if (text == NULL) {
		*err = pc_strf("autoconfig: no FORMAT (thunderbird, "
			       "mobileconfig, srv, html or autodiscover)");
		return false;
	}
	for (size_t i = 0; i < PC_AC_NFORMATS; i++) {
		if (strcmp(text, pc_ac_formats[i]) == 0) {
			*out = (enum pc_ac_format) i;
			return true;
		}
	}
	*err = pc_strf("unknown autoconfig FORMAT \"%s\" (thunderbird, "
		       "mobileconfig, srv, html or autodiscover)",
		       str_escape(shown, sizeof(shown), text));
	return false;
}

bool pc_ac_request_build(const struct pc_ac_opts *opts,
			 struct pc_ac_request *req, char **err)
{
	char *host;

	memset(req, 0, sizeof(*req));
	req->imap_port = PC_AC_IMAP_PORT;
	req->output = opts->output;
	if (!ac_format(opts->format, &req->format, err))
		return false;
	if (opts->domain == NULL) {
		*err = pc_strf("autoconfig needs --domain DOMAIN (the domain "
			       "of the users' email addresses)");
		return false;
	}
	if ((req->domain = ac_dns_name("--domain", opts->domain, err)) == NULL)
		goto fail;
	host = opts->host ? xstrdup(opts->host) : pc_strf("mail.%s", req->domain);
	req->host = ac_dns_name(opts->host ? "--host" :
				"--host (default mail.DOMAIN)", host, err);
	free(host);
	if (req->host == NULL)
		goto fail;
	if (opts->imap_host == NULL)
		req->imap_host = xstrdup(req->host);
	else if ((req->imap_host = ac_dns_name("--imap-host", opts->imap_host,
					       err)) == NULL)
		goto fail;
	if (opts->imap_port != NULL &&
	    !ac_port_arg("--imap-port", opts->imap_port, &req->imap_port, err))
		goto fail;
	if (opts->port != NULL) {
		if (req->format != PC_AC_MOBILECONFIG &&
		    req->format != PC_AC_AUTODISCOVER) {
			*err = pc_strf("--port is an option of autoconfig "
				       "mobileconfig and autodiscover only "
				       "(the other formats list every port)");
			goto fail;
		}
		if (!ac_port_arg("--port", opts->port, &req->port, err))
			goto fail;
	}
	if (opts->name != NULL && !ac_name_ok(opts->name, err))
		goto fail;
	req->name = xstrdup(opts->name ? opts->name : req->domain);
	return true;
fail:
	pc_ac_request_free(req);
	return false;
}

void pc_ac_request_free(struct pc_ac_request *req)
{
	free(req->domain);
	free(req->host);
	free(req->imap_host);
	free(req->name);
	memset(req, 0, sizeof(*req));
}

/* ---- the ports -------------------------------------------------------- */

struct ac_sorted {
	const struct cfg_port *p;
	unsigned group;		/* 0: 587, 1: submission, 2: 465, 3: submissions */
};

static int ac_cmp(const void *a, const void *b)
{
	const struct ac_sorted *x = a, *y = b;

	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->p->line != y->p->line)
		return x->p->line < y->p->line ? -1 : 1;
	return x->p->port < y->p->port ? -1 : x->p->port > y->p->port;
}

/* Why port is not one to publish (req->port given). */
static char *ac_port_refused(const struct cfg *cfg, unsigned port)
{
	const struct cfg_port *p = cfg_port_find(cfg, port);

	if (p == NULL)
		return pc_strf("--port %u: %s has no [port %u] section", port,
			       cfg->path, port);
	if (!p->enabled)
		return pc_strf("--port %u: port %u is disabled in %s", port,
			       port, cfg->path);
	return pc_strf("--port %u: port %u is of mode %s in %s, not a "
		       "submission or submissions port for mail clients",
		       port, port, cfg_mode_name(p->mode), cfg->path);
}

bool pc_ac_ports_build(const struct cfg *cfg, const struct pc_ac_request *req,
		       struct pc_ac_ports *ports, char **err)
{
	struct ac_sorted *s = xcalloc(cfg->nports ? cfg->nports : 1, sizeof(*s));
	const struct cfg_port *p;
	size_t n = 0;

	memset(ports, 0, sizeof(*ports));
	for (size_t i = 0; i < cfg->nports; i++) {
		p = &cfg->ports[i];
		if (!p->enabled || p->mode == CFG_MODE_MX)
			continue;
		s[n].p = p;
		if (p->mode == CFG_MODE_SUBMISSION)
			s[n].group = p->port == 587 ? 0 : 1;
		else
			s[n].group = p->port == 465 ? 2 : 3;
		n++;
	}
	if (n == 0) {
		free(s);
		*err = pc_strf("%s: no enabled port of mode submission or "
			       "submissions: nothing for mail clients to use",
			       cfg->path);
		return false;
	}
	qsort(s, n, sizeof(*s), ac_cmp);
	ports->v = xcalloc(n, sizeof(*ports->v));
	for (size_t i = 0; i < n; i++) {
		if (req->port != 0 && s[i].p->port != req->port)
			continue;
		ports->v[ports->n].port = s[i].p->port;
		ports->v[ports->n].implicit_tls = s[i].group >= 2;
		ports->v[ports->n].standard = s[i].group % 2 == 0;
		ports->n++;
	}
	free(s);
	if (ports->n == 0) {
		*err = ac_port_refused(cfg, req->port);
		pc_ac_ports_free(ports);
		return false;
	}
	return true;
}

void pc_ac_ports_free(struct pc_ac_ports *ports)
{
	free(ports->v);
	memset(ports, 0, sizeof(*ports));
}

const char *pc_ac_security(const struct pc_ac_port *p)
{
	return p->implicit_tls ? "SSL/TLS" : "STARTTLS";
}

void pc_ac_put_escaped(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': fputs("&amp;", fp); break;
		case '<': fputs("&lt;", fp); break;
		case '>': fputs("&gt;", fp); break;
		case '"': fputs("&quot;", fp); break;
		case '\'': fputs("&#39;", fp); break;
		default: fputc(*s, fp); break;
		}
	}
}

/* "<tag>escaped text</tag>\n", indented. */
static void ac_elem(FILE *fp, const char *indent, const char *tag,
		    const char *text)
{
	fprintf(fp, "%s<%s>", indent, tag);
	pc_ac_put_escaped(fp, text);
	fprintf(fp, "</%s>\n", tag);
}

/* ---- thunderbird ------------------------------------------------------ */

static void ac_thunderbird(const struct pc_ac_request *r,
			   const struct pc_ac_ports *ports, FILE *fp)
{
	const char *in = "      ";

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<!-- Mozilla autoconfig (Thunderbird), made by portmilter-conf\n"
	      "     autoconfig thunderbird. Outgoing servers in order of\n"
	      "     preference: the standard port 587 (STARTTLS), its\n"
	      "     alternates, 465 (implicit TLS), its alternates. Incoming:\n"
	      "     IMAP over TLS (assumed). -->\n"
	      "<clientConfig version=\"1.1\">\n"
	      "  <emailProvider id=\"", fp);
	pc_ac_put_escaped(fp, r->domain);
	fputs("\">\n", fp);
	ac_elem(fp, "    ", "domain", r->domain);
	ac_elem(fp, "    ", "displayName", r->name);
	ac_elem(fp, "    ", "displayShortName", r->name);
	fputs("    <incomingServer type=\"imap\">\n", fp);
	ac_elem(fp, in, "hostname", r->imap_host);
	fprintf(fp, "%s<port>%u</port>\n", in, r->imap_port);
	ac_elem(fp, in, "socketType", "SSL");
	ac_elem(fp, in, "username", "%EMAILADDRESS%");
	ac_elem(fp, in, "authentication", "password-cleartext");
	fputs("    </incomingServer>\n", fp);
	for (size_t i = 0; i < ports->n; i++) {
		fputs("    <outgoingServer type=\"smtp\">\n", fp);
		ac_elem(fp, in, "hostname", r->host);
		fprintf(fp, "%s<port>%u</port>\n", in, ports->v[i].port);
		ac_elem(fp, in, "socketType",
			ports->v[i].implicit_tls ? "SSL" : "STARTTLS");
		ac_elem(fp, in, "username", "%EMAILADDRESS%");
		ac_elem(fp, in, "authentication", "password-cleartext");
		fputs("    </outgoingServer>\n", fp);
	}
	fputs("  </emailProvider>\n</clientConfig>\n", fp);
}

/* ---- mobileconfig ----------------------------------------------------- */

static void ac_uuid(const struct pc_ac_request *r, unsigned port,
		    const char *what, char out[PC_UUID_TEXT])
{
	static const unsigned char ns[16] = {	/* PC_AC_UUID_NS */
		0xc8, 0x35, 0xdb, 0xc4, 0x30, 0x8e, 0x43, 0xc0,
		0xa1, 0x56, 0x6e, 0x35, 0x97, 0xd0, 0xb5, 0xbb,
	};
	char *name = pc_strf("%s:%u:%s", r->domain, port, what);

	pc_uuid5(ns, name, out);
	free(name);
}

/* "example.com" -> "com.example" (labels reversed). */
static char *ac_reverse_dns(const char *domain)
{
	struct strbuf b = { 0 };
	const char *end = domain + strlen(domain), *dot;

	while (end > domain) {
		for (dot = end; dot > domain && dot[-1] != '.'; dot--)
			;
		if (b.len > 0)
			strbuf_str(&b, ".");
		strbuf_add(&b, dot, (size_t) (end - dot));
		end = dot > domain ? dot - 1 : domain;
	}
	return strbuf_take(&b);
}

static void ac_key(FILE *fp, const char *in, const char *key, const char *s)
{
	fprintf(fp, "%s<key>%s</key>\n", in, key);
	ac_elem(fp, in, "string", s);
}

static void ac_key_int(FILE *fp, const char *in, const char *key, unsigned n)
{
	fprintf(fp, "%s<key>%s</key>\n%s<integer>%u</integer>\n", in, key,
		in, n);
}

static void ac_key_bool(FILE *fp, const char *in, const char *key, bool v)
{
	fprintf(fp, "%s<key>%s</key>\n%s<%s/>\n", in, key, in,
		v ? "true" : "false");
}

/* The Mail payload: keys as documented by Apple for
 * com.apple.mail.managed. OutgoingMailServerUseSSL = "use TLS": on a
 * STARTTLS port Mail upgrades with STARTTLS. No EmailAddress and no
 * user names: Mail asks for them when the profile is installed. */
static void ac_mail_payload(const struct pc_ac_request *r,
			    const struct pc_ac_port *p, const char *ident,
			    FILE *fp)
{
	const char *in = "\t\t\t";
	char uuid[PC_UUID_TEXT], *s;

	fputs("\t\t<dict>\n", fp);
	ac_key(fp, in, "EmailAccountDescription", r->name);
	ac_key(fp, in, "EmailAccountType", "EmailTypeIMAP");
	ac_key(fp, in, "IncomingMailServerAuthentication", "EmailAuthPassword");
	ac_key(fp, in, "IncomingMailServerHostName", r->imap_host);
	ac_key_int(fp, in, "IncomingMailServerPortNumber", r->imap_port);
	ac_key_bool(fp, in, "IncomingMailServerUseSSL", true);
	ac_key(fp, in, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	ac_key(fp, in, "OutgoingMailServerHostName", r->host);
	ac_key_int(fp, in, "OutgoingMailServerPortNumber", p->port);
	ac_key_bool(fp, in, "OutgoingMailServerUseSSL", true);
	ac_key_bool(fp, in, "OutgoingPasswordSameAsIncomingPassword", true);
	s = pc_strf("Mail account: IMAP %s port %u (SSL/TLS), sending "
		    "through %s port %u (%s). User name: your full email "
		    "address.", r->imap_host, r->imap_port, r->host, p->port,
		    pc_ac_security(p));
	ac_key(fp, in, "PayloadDescription", s);
	free(s);
	ac_key(fp, in, "PayloadDisplayName", r->name);
	s = pc_strf("%s.account", ident);
	ac_key(fp, in, "PayloadIdentifier", s);
	free(s);
	ac_key(fp, in, "PayloadType", "com.apple.mail.managed");
	ac_uuid(r, p->port, "account", uuid);
	ac_key(fp, in, "PayloadUUID", uuid);
	ac_key_int(fp, in, "PayloadVersion", 1);
	fputs("\t\t</dict>\n", fp);
}

static void ac_mobileconfig(const struct pc_ac_request *r,
			    const struct pc_ac_ports *ports, FILE *fp)
{
	const struct pc_ac_port *p = &ports->v[0];
	char uuid[PC_UUID_TEXT], *rev = ac_reverse_dns(r->domain), *ident, *s;

	ident = pc_strf("%s.portmilter.mail", rev);
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	      "<plist version=\"1.0\">\n<dict>\n"
	      "\t<key>PayloadContent</key>\n\t<array>\n", fp);
	ac_mail_payload(r, p, ident, fp);
	fputs("\t</array>\n", fp);
	s = pc_strf("Sets up your %s mail account: sending through %s on "
		    "port %u (%s). Enter your full email address and your "
		    "password when asked.", r->name, r->host, p->port,
		    pc_ac_security(p));
	ac_key(fp, "\t", "PayloadDescription", s);
	free(s);
	s = pc_strf("%s mail", r->name);
	ac_key(fp, "\t", "PayloadDisplayName", s);
	free(s);
	ac_key(fp, "\t", "PayloadIdentifier", ident);
	ac_key(fp, "\t", "PayloadOrganization", r->name);
	ac_key_bool(fp, "\t", "PayloadRemovalDisallowed", false);
	ac_key(fp, "\t", "PayloadType", "Configuration");
	ac_uuid(r, p->port, "profile", uuid);
	ac_key(fp, "\t", "PayloadUUID", uuid);
	ac_key_int(fp, "\t", "PayloadVersion", 1);
	fputs("</dict>\n</plist>\n", fp);
	free(ident);
	free(rev);
}

/* ---- srv -------------------------------------------------------------- */

static void ac_srv(const struct pc_ac_request *r,
		   const struct pc_ac_ports *ports, FILE *fp)
{
	unsigned prio[2] = { 0, 0 };

	fprintf(fp,
		"; SRV records for %s: where mail clients submit mail\n"
		"; (RFC 6186: _submission = STARTTLS; RFC 8314: _submissions\n"
		"; = implicit TLS) and read it (_imaps, IMAP over TLS:\n"
		"; assumed). Lowest priority first: the standard port, then\n"
		"; the alternates. Made by portmilter-conf autoconfig srv;\n"
		"; add them to the zone of %s.\n", r->domain, r->domain);
	for (size_t i = 0; i < ports->n; i++) {
		const struct pc_ac_port *p = &ports->v[i];

		fprintf(fp, "_%s._tcp.%s. 3600 IN SRV %u 1 %u %s.\n",
			p->implicit_tls ? "submissions" : "submission",
			r->domain, prio[p->implicit_tls], p->port, r->host);
		prio[p->implicit_tls] += 10;
	}
	fprintf(fp, "_imaps._tcp.%s. 3600 IN SRV 0 1 %u %s.\n", r->domain,
		r->imap_port, r->imap_host);
}

void pc_ac_write(const struct pc_ac_request *req,
		 const struct pc_ac_ports *ports, FILE *fp)
{
	switch (req->format) {
	case PC_AC_THUNDERBIRD: ac_thunderbird(req, ports, fp); break;
	case PC_AC_MOBILECONFIG: ac_mobileconfig(req, ports, fp); break;
	case PC_AC_SRV: ac_srv(req, ports, fp); break;
	case PC_AC_HTML: pc_ac_write_html(req, ports, fp); break;
	case PC_AC_AUTODISCOVER:
		pc_ac_write_autodiscover(req, ports, fp);
		break;
	}
}

/* ---- the command ------------------------------------------------------ */

/* A port that only listens on a loopback address is of no use to mail
 * clients: said, not refused (test and demo setups do it). */
static void ac_warn_loopback(const struct cfg *cfg,
			     const struct pc_ac_ports *ports)
{
	const struct cfg_port *p;
	struct pm_addr a;

	for (size_t i = 0; i < ports->n; i++) {
		p = cfg_port_find(cfg, ports->v[i].port);
		if (p == NULL || p->listen == NULL ||
		    strcmp(p->listen, "all") == 0 || !addr_parse(p->listen, &a))
			continue;
		if ((a.family == AF_INET && a.bytes[0] == 127) ||
		    (a.family == AF_INET6 &&
		     memcmp(a.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0))
			pc_error("warning: port %u listens on %s only: mail "
				 "clients on other machines cannot reach it",
				 p->port, p->listen);
	}
}

/* Write a temporary file next to path, then rename it over path. */
static bool ac_write_file(const struct pc_ac_request *req,
			  const struct pc_ac_ports *ports, char **err)
{
	const char *path = req->output, *base = strrchr(path, '/');
	char *tmp;
	mode_t mask;
	FILE *fp;
	int fd, e;

	if (base != NULL && base[1] == '\0') {
		*err = pc_strf("-o %s: a directory, not a file name", path);
		return false;
	}
	tmp = base ? pc_strf("%.*s.%s.XXXXXX", (int) (base + 1 - path), path,
			     base + 1) : pc_strf(".%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		*err = pc_strf("-o %s: cannot create a temporary file in %.*s: "
			       "%s", path, base ? (int) (base + 1 - path) : 1,
			       base ? path : ".", strerror(errno));
		free(tmp);
		return false;
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || (fp = fdopen(fd, "w")) == NULL) {
		e = errno;
		close(fd);
		goto fail;
	}
	errno = 0;
	pc_ac_write(req, ports, fp);
	if (fflush(fp) != 0 || ferror(fp) || fsync(fileno(fp)) != 0) {
		e = errno ? errno : EIO;
		fclose(fp);
		goto fail;
	}
	if (fclose(fp) != 0) {
		e = errno;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		*err = pc_strf("-o %s: cannot rename %s to %s: %s", path, tmp,
			       path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return false;
	}
	free(tmp);
	return true;
fail:
	*err = pc_strf("-o %s: cannot write %s: %s", path, tmp, strerror(e));
	unlink(tmp);
	free(tmp);
	return false;
}

int pc_cmd_autoconfig(const struct pc_opts *o, const struct cfg *cfg)
{
	struct pc_ac_request req;
	struct pc_ac_ports ports;
	char *err = NULL;
	bool ok;

	if (!pc_ac_request_build(&o->ac, &req, &err)) {
		pc_error("%s", err);
		free(err);
		return PC_EXIT_ERROR;
	}
	if (!pc_ac_ports_build(cfg, &req, &ports, &err)) {
		pc_error("%s", err);
		free(err);
		pc_ac_request_free(&req);
		return PC_EXIT_ERROR;
	}
	ac_warn_loopback(cfg, &ports);
	if (req.output == NULL) {
		pc_ac_write(&req, &ports, stdout);
		ok = true;	/* main() checks stdout */
	} else if (!(ok = ac_write_file(&req, &ports, &err))) {
		pc_error("%s", err);
		free(err);
	}
	pc_ac_ports_free(&ports);
	pc_ac_request_free(&req);
	return ok ? PC_EXIT_OK : PC_EXIT_ERROR;
}
