/*
 * autoconfig_autodiscover - the autodiscover format of portmilter-conf
 * autoconfig: the Microsoft Autodiscover "POX" (plain old XML) response
 * that Outlook reads to set up an IMAP account. See autoconfig.h.
 *
 * The document (response schema 2006, Outlook response schema 2006a):
 *
 *   Autodiscover (ns .../autodiscover/responseschema/2006)
 *     Response (ns .../autodiscover/outlook/responseschema/2006a)
 *       User/DisplayName             NAME
 *       Account
 *         AccountType email, Action settings
 *         Protocol Type IMAP         IMAP host and port, SSL on
 *         Protocol Type SMTP         one per port, in preference order:
 *                                    Encryption TLS (STARTTLS) or SSL
 *                                    (implicit TLS), AuthRequired on,
 *                                    UsePOPAuth on (the IMAP password)
 *
 * Outlook takes the first SMTP Protocol (587 unless --port N chooses
 * another); the alternates follow for clients that try the next one.
 * LoginName is left out: the client then logs in with the address the
 * user typed, which is the user name everywhere in portmilter's files.
 * The response does not depend on the request Outlook POSTs, so one
 * static file serves every user of DOMAIN: where to put it is in the
 * comment at its top (and in portmilter-conf(8)).
 *
 * Every name was checked by pc_ac_request_build() and every text is
 * escaped with pc_ac_put_escaped(), as in the other formats.
 */
#include <stdio.h>

#include "autoconfig.h"

#define AD_NS_RESPONSE \
	"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define AD_NS_OUTLOOK \
	"http://schemas.microsoft.com/exchange/autodiscover/outlook/" \
	"responseschema/2006a"

/* "<tag>escaped text</tag>\n", indented. */
static void ad_elem(FILE *fp, const char *indent, const char *tag,
		    const char *text)
{
	fprintf(fp, "%s<%s>", indent, tag);
	pc_ac_put_escaped(fp, text);
	fprintf(fp, "</%s>\n", tag);
}

/* One Protocol element. encryption: "SSL" or "TLS". */
static void ad_protocol(FILE *fp, const char *type, const char *host,
			unsigned port, const char *encryption, bool smtp)
{
	const char *in = "        ";

	fputs("      <Protocol>\n", fp);
	ad_elem(fp, in, "Type", type);
	ad_elem(fp, in, "Server", host);
	fprintf(fp, "%s<Port>%u</Port>\n", in, port);
	ad_elem(fp, in, "DomainRequired", "off");
	ad_elem(fp, in, "SPA", "off");
	ad_elem(fp, in, "Encryption", encryption);
	ad_elem(fp, in, "AuthRequired", "on");
	if (smtp) {
		ad_elem(fp, in, "UsePOPAuth", "on");
		ad_elem(fp, in, "SMTPLast", "off");
	}
	fputs("      </Protocol>\n", fp);
}

void pc_ac_write_autodiscover(const struct pc_ac_request *r,
			      const struct pc_ac_ports *ports, FILE *fp)
{
	/* No name in the comment: "xn--" labels would put "--" in it. */
	fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	      "<!-- Microsoft Autodiscover (POX) response, made by\n"
	      "     portmilter-conf autoconfig autodiscover. Outlook POSTs to\n"
	      "       https://DOMAIN/autodiscover/autodiscover.xml\n"
	      "       https://autodiscover.DOMAIN/autodiscover/autodiscover.xml\n"
	      "     (serve this file at both, as text/xml, for POST and GET)\n"
	      "     or finds the host by the SRV record\n"
	      "       _autodiscover._tcp.DOMAIN. IN SRV 0 1 443 HOST.\n"
	      "     Outgoing servers in order of preference: Outlook sets up\n"
	      "     the first. -->\n", fp);
	fputs("<Autodiscover xmlns=\"" AD_NS_RESPONSE "\">\n"
	      "  <Response xmlns=\"" AD_NS_OUTLOOK "\">\n"
	      "    <User>\n", fp);
	ad_elem(fp, "      ", "DisplayName", r->name);
	fputs("    </User>\n"
	      "    <Account>\n", fp);
	ad_elem(fp, "      ", "AccountType", "email");
	ad_elem(fp, "      ", "Action", "settings");
	ad_protocol(fp, "IMAP", r->imap_host, r->imap_port, "SSL", false);
	for (size_t i = 0; i < ports->n; i++)
		ad_protocol(fp, "SMTP", r->host, ports->v[i].port,
			    ports->v[i].implicit_tls ? "SSL" : "TLS", true);
	fputs("    </Account>\n"
	      "  </Response>\n"
	      "</Autodiscover>\n", fp);
}
