/*
 * autoconfig_html - the html format of portmilter-conf autoconfig: a
 * self-contained help page for end users (HTML5, UTF-8, English, no
 * external resource, no script). It says which port to try first when
 * an ISP blocks 25 or 587, gives the settings table (one row per port,
 * in "try" order), notes per client, and that port 25 is not for mail
 * programs. Every inserted string is escaped. Only elements that HTML
 * 4 parsers also know (no <section>, <main>...), and the markup is
 * well-formed XML too, so any parser reads it. See autoconfig.h.
 */
#include <stdio.h>

#include "autoconfig.h"

#define H(fp, s)	pc_ac_put_escaped((fp), (s))

/* Which ports a phrase is about. */
enum ac_sel {
	AC_SEL_STARTTLS,	/* every STARTTLS port */
	AC_SEL_SSL,		/* every implicit TLS port */
	AC_SEL_ALT_STARTTLS,	/* STARTTLS ports other than 587 */
	AC_SEL_ALT_SSL,		/* implicit TLS ports other than 465 */
};

static bool ac_sel(const struct pc_ac_port *p, enum ac_sel sel)
{
	bool ssl = sel == AC_SEL_SSL || sel == AC_SEL_ALT_SSL;
	bool alt = sel == AC_SEL_ALT_STARTTLS || sel == AC_SEL_ALT_SSL;

	return p->implicit_tls == ssl && !(alt && p->standard);
}

static size_t ac_count(const struct pc_ac_ports *ports, enum ac_sel sel)
{
	size_t n = 0;

	for (size_t i = 0; i < ports->n; i++)
		n += ac_sel(&ports->v[i], sel);
	return n;
}

static bool ac_has(const struct pc_ac_ports *ports, unsigned port)
{
	for (size_t i = 0; i < ports->n; i++)
		if (ports->v[i].port == port)
			return true;
	return false;
}

/* "587, 5870 and 12345" (join = "and") or "5870 or 12345". */
static void ac_numbers(FILE *fp, const struct pc_ac_ports *ports,
		       enum ac_sel sel, const char *join)
{
	size_t n = ac_count(ports, sel), k = 0;

	for (size_t i = 0; i < ports->n; i++) {
		if (!ac_sel(&ports->v[i], sel))
			continue;
		if (k > 0 && k + 1 < n)
			fputs(", ", fp);
		else if (k > 0)
			fprintf(fp, " %s ", join);
		fprintf(fp, "%u", ports->v[i].port);
		k++;
	}
}

/* "port 465" / "ports 587, 5870 and 12345". */
static void ac_ports_phrase(FILE *fp, const struct pc_ac_ports *ports,
			    enum ac_sel sel)
{
	fputs(ac_count(ports, sel) == 1 ? "port " : "ports ", fp);
	ac_numbers(fp, ports, sel, "and");
}

/* "<b>STARTTLS</b> on ports ..., <b>SSL/TLS</b> on port ..." with the
 * words a client uses for each kind (trusted HTML fragments). */
static void ac_security_phrase(FILE *fp, const struct pc_ac_ports *ports,
			       const char *starttls, const char *ssl)
{
	bool both = ac_count(ports, AC_SEL_STARTTLS) > 0 &&
		    ac_count(ports, AC_SEL_SSL) > 0;

	if (ac_count(ports, AC_SEL_STARTTLS) > 0) {
		fprintf(fp, "%s on ", starttls);
		ac_ports_phrase(fp, ports, AC_SEL_STARTTLS);
	}
	if (both)
		fputs(", ", fp);
	if (ac_count(ports, AC_SEL_SSL) > 0) {
		fprintf(fp, "%s on ", ssl);
		ac_ports_phrase(fp, ports, AC_SEL_SSL);
	}
}

static const char ac_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\" />\n"
	"<meta name=\"viewport\" content=\"width=device-width, "
	"initial-scale=1\" />\n"
	"<meta name=\"generator\" content=\"portmilter-conf autoconfig "
	"html\" />\n";

static const char ac_style[] =
	"<style>\n"
	"body { font-family: sans-serif; line-height: 1.5; color: #222;\n"
	"       max-width: 52em; margin: 1em auto; padding: 0 1em; }\n"
	"h1 { font-size: 1.6em; }\n"
	"h2 { font-size: 1.3em; margin-top: 1.8em; }\n"
	"h3 { font-size: 1.05em; margin-bottom: 0.2em; }\n"
	".wide { overflow-x: auto; }\n"
	"table { border-collapse: collapse; margin: 0.8em 0; }\n"
	"th, td { border: 1px solid #aaa; padding: 0.3em 0.6em;\n"
	"         text-align: left; vertical-align: top; }\n"
	"th { background: #eee; }\n"
	".warn { border-left: 4px solid #c60; background: #fff4e8;\n"
	"        padding: 0.3em 0.8em; }\n"
	"</style>\n"
	"</head>\n";

/* The ordered list of what to try. */
static void ac_choose(const struct pc_ac_ports *ports, FILE *fp)
{
	bool has587 = ac_has(ports, 587), has465 = ac_has(ports, 465);
	size_t alt = ac_count(ports, AC_SEL_ALT_STARTTLS);
	size_t altssl = ac_count(ports, AC_SEL_ALT_SSL);

	fputs("<h2 id=\"choose\">Which port to choose</h2>\n"
	      "<p>Many internet providers block ports 25 and 587, so that "
	      "their customers send mail only through the provider's own "
	      "server. If sending fails with a timeout or &#8220;cannot "
	      "connect to the server&#8221;, the network you are on "
	      "probably blocks that port: try the next one in this "
	      "list.</p>\n<ol>\n", fp);
	if (has587)
		fputs("<li><strong>Port 587 with STARTTLS</strong>: the "
		      "standard port for mail programs. Use it whenever it "
		      "works.</li>\n", fp);
	if (has465)
		fprintf(fp, "<li><strong>Port 465 with SSL/TLS</strong>: %s"
			"</li>\n", has587 ? "if port 587 is blocked, or if "
			"your program offers only &#8220;SSL&#8221;." :
			"the standard port for mail programs with SSL/TLS.");
	if (alt + altssl == 0) {
		fputs("</ol>\n", fp);
		return;
	}
	fputs(has587 || has465 ? "<li>If those are blocked: " : "<li>", fp);
	if (alt > 0) {
		fputs("<strong>port ", fp);
		ac_numbers(fp, ports, AC_SEL_ALT_STARTTLS, "or");
		fputs(" with STARTTLS</strong>", fp);
		if (has587)
			fprintf(fp, " (%s exactly like 587)",
				alt == 1 ? "it works" : "they work");
	}
	if (alt > 0 && altssl > 0)
		fputs(", or ", fp);
	if (altssl > 0) {
		fputs("<strong>port ", fp);
		ac_numbers(fp, ports, AC_SEL_ALT_SSL, "or");
		fputs(" with SSL/TLS</strong>", fp);
		if (has465)
			fprintf(fp, " (%s exactly like 465)",
				altssl == 1 ? "it works" : "they work");
	}
	fputs(".</li>\n</ol>\n", fp);
}

/* One table row per port: the standard ports first, then the others
 * in preference order. */
static void ac_table(const struct pc_ac_request *r,
		     const struct pc_ac_ports *ports, FILE *fp)
{
	unsigned try = 0;

	fputs("<h2 id=\"settings\">Settings</h2>\n"
	      "<div class=\"wide\"><table id=\"ports\">\n"
	      "<thead><tr><th>Try</th><th>Outgoing mail server (SMTP)</th>"
	      "<th>Port</th><th>Connection security</th>"
	      "<th>Authentication</th><th>User name</th></tr></thead>\n"
	      "<tbody>\n", fp);
	for (int standard = 1; standard >= 0; standard--) {
		for (size_t i = 0; i < ports->n; i++) {
			const struct pc_ac_port *p = &ports->v[i];

			if (p->standard != (standard == 1))
				continue;
			fprintf(fp, "<tr><td>%u</td><td><code>", ++try);
			H(fp, r->host);
			fprintf(fp, "</code></td><td>%u</td><td>%s</td>"
				"<td>Normal password</td><td>your full email "
				"address</td></tr>\n", p->port,
				pc_ac_security(p));
		}
	}
	fputs("</tbody>\n</table></div>\n"
	      "<p><strong>User name:</strong> your whole email address, "
	      "for example <code>jane@", fp);
	H(fp, r->domain);
	fputs("</code>, not only the part before the @. "
	      "<strong>Password:</strong> the password of your "
	      "mailbox.</p>\n<p><strong>Incoming mail (IMAP):</strong> "
	      "server <code>", fp);
	H(fp, r->imap_host);
	fprintf(fp, "</code>, port %u, connection security SSL/TLS, the "
		"same user name and password.</p>\n", r->imap_port);
	fputs("<p class=\"warn\">Always choose STARTTLS or SSL/TLS as the "
	      "table says, never &#8220;None&#8221;: without encryption "
	      "your password would cross the network where others can "
	      "read it.</p>\n", fp);
}

static void ac_clients(const struct pc_ac_request *r,
		       const struct pc_ac_ports *ports, FILE *fp)
{
	fputs("<h2 id=\"clients\">Setting up your mail program</h2>\n"
	      "<h3>Thunderbird</h3>\n<p>Account Settings &#8594; Outgoing "
	      "Server (SMTP) &#8594; select the server &#8594; Edit. Server "
	      "Name: <code>", fp);
	H(fp, r->host);
	fputs("</code>; Port: from the table; Connection security: ", fp);
	ac_security_phrase(fp, ports, "<strong>STARTTLS</strong>",
			   "<strong>SSL/TLS</strong>");
	fputs("; Authentication method: <strong>Normal password</strong>; "
	      "User Name: your full email address. When you add an "
	      "account, Thunderbird may fill these in by itself: check "
	      "them against the table.</p>\n", fp);

	fputs("<h3>Apple Mail (Mac, iPhone, iPad)</h3>\n<p>Mac: Mail "
	      "&#8594; Settings &#8594; Accounts &#8594; the account "
	      "&#8594; Server Settings. Under Outgoing Mail Server (SMTP) "
	      "turn off &#8220;Automatically manage connection "
	      "settings&#8221;, set the port from the table and turn on "
	      "&#8220;Use TLS/SSL&#8221;, on STARTTLS ports too (Mail then "
	      "uses STARTTLS); Authentication: Password. iPhone and iPad: "
	      "Settings &#8594; Mail &#8594; Accounts (on newer systems "
	      "Settings &#8594; Apps &#8594; Mail &#8594; Mail Accounts) "
	      "&#8594; the account &#8594; SMTP &#8594; the primary "
	      "server: &#8220;Use SSL&#8221; on, Authentication: Password, "
	      "Server Port from the table.</p>\n", fp);

	fputs("<h3>Outlook (Windows)</h3>\n<p>File &#8594; Account "
	      "Settings &#8594; Account Settings &#8594; the account "
	      "&#8594; Change &#8594; More Settings. On the Outgoing "
	      "Server tab tick &#8220;My outgoing server (SMTP) requires "
	      "authentication&#8221; and &#8220;Use same settings as my "
	      "incoming mail server&#8221;. On the Advanced tab set the "
	      "Outgoing server (SMTP) port from the table, and as "
	      "&#8220;Use the following type of encrypted "
	      "connection&#8221; choose ", fp);
	ac_security_phrase(fp, ports,
			   "<strong>STARTTLS</strong> (Outlook 2016: "
			   "<strong>TLS</strong>)",
			   "<strong>SSL/TLS</strong> (Outlook 2016: "
			   "<strong>SSL</strong>)");
	fputs(", rather than &#8220;Automatic&#8221;. Newer Outlook "
	      "versions ask for the same things when you add the "
	      "account.", fp);
	if (ac_count(ports, AC_SEL_SSL) > 0) {
		fputs(" Outlook Express and other old programs cannot do "
		      "STARTTLS: use port ", fp);
		ac_numbers(fp, ports, AC_SEL_SSL, "or");
		fputs(" with &#8220;This server requires a secure "
		      "connection (SSL)&#8221;.", fp);
	}
	fputs("</p>\n", fp);

	fputs("<h3>Phones and tablets (Android, iOS apps)</h3>\n<p>In the "
	      "account's outgoing (SMTP) settings: server <code>", fp);
	H(fp, r->host);
	fputs("</code>, the port from the table, security type ", fp);
	ac_security_phrase(fp, ports,
			   "<strong>STARTTLS</strong> (some apps say TLS)",
			   "<strong>SSL/TLS</strong> (some apps say SSL)");
	fputs(", sign-in required, user name your full email address. "
	      "Outlook for iOS and Android does not let you choose the "
	      "security type: enter the server and port, and if sending "
	      "fails, try the next port of the table.</p>\n", fp);

	fputs("<h3>Other programs</h3>\n<p>Programs name the two kinds "
	      "of encryption differently.", fp);
	if (ac_count(ports, AC_SEL_STARTTLS) > 0) {
		fputs(" For STARTTLS (", fp);
		ac_ports_phrase(fp, ports, AC_SEL_STARTTLS);
		fputs(") look for &#8220;STARTTLS&#8221;, &#8220;TLS&#8221; "
		      "or &#8220;force SSL/TLS&#8221;.", fp);
	}
	if (ac_count(ports, AC_SEL_SSL) > 0) {
		fputs(" For SSL/TLS (", fp);
		ac_ports_phrase(fp, ports, AC_SEL_SSL);
		fputs(") look for &#8220;SSL/TLS&#8221;, &#8220;SSL&#8221; or "
		      "&#8220;SSL/TLS on a special (dedicated) port&#8221;.",
		      fp);
	}
	fputs(" Prefer a choice that requires encryption to one that uses "
	      "it &#8220;if available&#8221;.</p>\n", fp);
}

void pc_ac_write_html(const struct pc_ac_request *r,
		      const struct pc_ac_ports *ports, FILE *fp)
{
	fputs(ac_head, fp);
	fputs("<title>Sending mail with ", fp);
	H(fp, r->name);
	fputs(": server and ports</title>\n", fp);
	fputs(ac_style, fp);
	fputs("<body>\n<h1>Sending mail with ", fp);
	H(fp, r->name);
	fputs("</h1>\n<p>Your mail program sends mail through the server "
	      "<code>", fp);
	H(fp, r->host);
	fputs("</code>: it signs in with your email address and password, "
	      "over an encrypted connection. This page says which port to "
	      "use and how to set up your mail program.</p>\n", fp);
	ac_choose(ports, fp);
	ac_table(r, ports, fp);
	ac_clients(r, ports, fp);
	fputs("<h2 id=\"port25\">Port 25 is not for mail programs</h2>\n"
	      "<p>Port 25 carries mail from server to server. Many internet "
	      "providers block it, and it is not meant for mail programs: "
	      "do not set it in yours, even if it seems to work. Use one "
	      "of the ports above, which encrypt the connection and check "
	      "your sign-in.</p>\n</body>\n</html>\n", fp);
}
