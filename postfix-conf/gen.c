/*
 * gen - what portmilter.conf implies for Postfix. See gen.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "gen.h"
#include "macros.h"
#include "text.h"
#include "util.h"

#define SASL_ONLY	"permit_sasl_authenticated,reject"
/* Postfix's default ends in defer_unauth_destination (454, retried for
 * days); an MX port refuses relay for good, as doc/DESIGN.md's 554 5.7.1. */
#define MX_RELAY	"permit_mynetworks,permit_sasl_authenticated," \
			"reject_unauth_destination"

const char *const pc_main_params[PC_NMAIN] = {
	"smtpd_milters", "milter_protocol", "milter_default_action",
	"milter_connect_macros", "milter_helo_macros", "milter_mail_macros",
	"milter_rcpt_macros", "milter_end_of_data_macros",
};

static void pc_over(struct pc_service *s, const char *param,
		    enum pc_over_how how, char *value)
{
	if (s->nover == PC_MAX_OVER)
		msg_panic("gen: more than %d overrides", PC_MAX_OVER);
	if (strpbrk(value, " \t\r\n") != NULL)
		msg_panic("gen: white space in -o %s=%s", param, value);
	s->over[s->nover].param = param;
	s->over[s->nover].value = value;
	s->over[s->nover].how = how;
	s->over[s->nover].seed = how == PC_O_MX_RELAY ||
		(how == PC_O_AUTH_LIST &&
		 strcmp(param, "smtpd_recipient_restrictions") == 0);
	s->nover++;
}

/*
 * The -o overrides of one port, from its effective settings (not only
 * its mode): TLS level, AUTH, the restrictions of an AUTH-only port,
 * the TLS floor. Each value is what a new service gets; how is the
 * property plan.c checks on the admin's value (the admin's lists are
 * kept and completed, see plan.h). The restriction lists of a port that
 * requires AUTH are portmilter's, not main.cf's MX-oriented ones (HELO
 * checks and RBLs would hit mail clients) as Debian's submission example
 * does, except that the recipient list starts from main.cf's (seed:
 * policy services live there; on an existing service plan.c seeds any
 * list main.cf sets explicitly); the sender restrictions stay main.cf's,
 * so reject_sender_login_mismatch there keeps working. A port without
 * required AUTH (mx) needs reject_unauth_destination in its relay list
 * (seeded from main.cf's): a permanent 554 rather than Postfix's default
 * 454 (defer_unauth_destination). The TLS floor (">=TLSv1.2", Postfix
 * 3.6+ syntax) is set only for a port with a min_tls_version: with
 * "none" main.cf's own floor stays, so a hardened main.cf is never
 * weakened.
 */
static void pc_overrides(struct pc_service *s, const struct cfg_port *p,
			 const char *label)
{
	bool implicit = p->mode == CFG_MODE_SUBMISSIONS;
	bool sasl = p->mode != CFG_MODE_MX || p->require_auth;
	const char *floor = cfg_tls_version_name(p->min_tls_version);

	/* Port 25's stock smtp service keeps Postfix's own tag
	 * (postfix/smtpd): log parsers and fail2ban expect it. */
	if (p->port != 25)
		pc_over(s, "syslog_name", PC_O_SOFT,
			pc_strf("postfix/%s", label));
	pc_over(s, "milter_macro_daemon_name", PC_O_SOFT,
		pc_strf("portmilter/%u", p->port));
	pc_over(s, "smtpd_tls_security_level", PC_O_TLS_LEVEL, xstrdup(
		implicit || p->require_tls ? "encrypt" : "may"));
	if (implicit)
		pc_over(s, "smtpd_tls_wrappermode", PC_O_EXACT, xstrdup("yes"));
	pc_over(s, "smtpd_sasl_auth_enable", PC_O_EXACT,
		xstrdup(sasl ? "yes" : "no"));
	if (sasl)
		pc_over(s, "smtpd_tls_auth_only", PC_O_YES_FLOOR,
			xstrdup(p->tls_before_auth ? "yes" : "no"));
	if (p->require_auth) {
		pc_over(s, "smtpd_client_restrictions", PC_O_AUTH_LIST,
			xstrdup(SASL_ONLY));
		pc_over(s, "smtpd_helo_restrictions", PC_O_AUTH_LIST,
			xstrdup(SASL_ONLY));
		pc_over(s, "smtpd_relay_restrictions", PC_O_AUTH_LIST,
			xstrdup(SASL_ONLY));
		pc_over(s, "smtpd_recipient_restrictions", PC_O_AUTH_LIST,
			xstrdup(SASL_ONLY));
	} else if (!p->allow_unauth_relay) {
		pc_over(s, "smtpd_relay_restrictions", PC_O_MX_RELAY,
			xstrdup(MX_RELAY));
	}
	if (p->min_tls_version == PM_TLS_NONE)
		return;		/* main.cf's floor stays in force */
	pc_over(s, "smtpd_tls_protocols", PC_O_TLS_FLOOR,
		pc_strf(">=%s", floor));
	pc_over(s, "smtpd_tls_mandatory_protocols", PC_O_TLS_FLOOR,
		pc_strf(">=%s", floor));
}

static void pc_service_build(struct pc_service *s, const struct cfg_port *p,
			     bool chroot)
{
	char num[16], addr[64];
	const char *label = cfg_port_label(p->port, num, sizeof(num));
	struct pm_addr a;

	memset(s, 0, sizeof(*s));
	s->port = p->port;
	s->mode = p->mode;
	s->chroot = chroot;
	if (strcmp(p->listen, "all") == 0 || !addr_parse(p->listen, &a)) {
		s->name = xstrdup(label);
	} else {
		addr_to_text(&a, addr, sizeof(addr));
		s->host = xstrdup(addr);
		s->name = a.family == AF_INET6 ?
			  pc_strf("[%s]:%s", addr, label) :
			  pc_strf("%s:%s", addr, label);
	}
	pc_overrides(s, p, label);
}

/* Split "PORT@HOST" (libmilter) into port and host ("" = none). */
static bool pc_inet_split(const char *spec, char *port, size_t plen,
			  char *host, size_t hlen)
{
	const char *at = strchr(spec, '@');
	size_t n = at ? (size_t) (at - spec) : strlen(spec);
	long num;

	if (n == 0 || n >= plen)
		return false;
	memcpy(port, spec, n);
	port[n] = '\0';
	if (!str_to_long(port, 1, 65535, &num))
		return false;
	snprintf(host, hlen, "%s", at ? at + 1 : "");
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return true;
}

/* The smtpd_milters entry for an inet: or inet6: milter_socket. */
static char *pc_milter_inet(const char *sock, char **err, const char *config)
{
	bool v6 = strncmp(sock, "inet6:", 6) == 0;
	char port[16], host[256];

	if (!pc_inet_split(sock + (v6 ? 6 : 5), port, sizeof(port), host,
			   sizeof(host))) {
		*err = pc_strf("%s: milter_socket = %s: expected inet:PORT@HOST "
			       "with PORT a number in 1..65535", config, sock);
		return NULL;
	}
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "%s", v6 ? "::1" : "127.0.0.1");
	return strchr(host, ':') ? pc_strf("inet:[%s]:%s", host, port) :
				   pc_strf("inet:%s:%s", host, port);
}

/* The smtpd_milters entry for milter_socket (rule in gen.h). */
static char *pc_milter_entry(const struct cfg *cfg, const char *queue_dir,
			     char **err)
{
	const char *sock = cfg->milter_socket, *path;
	size_t qlen = strlen(queue_dir);

	if (strncmp(sock, "unix:", 5) != 0)
		return pc_milter_inet(sock, err, cfg->path);
	path = sock + 5;
	if (!cfg->postfix_chroot)
		return xstrdup(sock);
	while (qlen > 1 && queue_dir[qlen - 1] == '/')
		qlen--;
	if (strncmp(path, queue_dir, qlen) != 0 || path[qlen] != '/' ||
	    path[qlen + 1] == '\0') {
		*err = pc_strf("%s: milter_socket = %s is outside Postfix's "
			       "queue_directory %.*s, so a chrooted smtpd "
			       "(postfix_chroot = yes) cannot reach it: put the "
			       "socket under %.*s, use an inet: socket, or set "
			       "postfix_chroot = no", cfg->path, sock, (int) qlen,
			       queue_dir, (int) qlen, queue_dir);
		return NULL;
	}
	return pc_strf("unix:%s", path + qlen);
}

bool pc_want_build(const struct cfg *cfg, const char *queue_dir,
		   struct pc_want *want, char **err)
{
	size_t n = 0;

	memset(want, 0, sizeof(*want));
	want->config = cfg->path;
	if (queue_dir != NULL &&
	    (want->milter = pc_milter_entry(cfg, queue_dir, err)) == NULL)
		return false;
	want->services = xcalloc(cfg->nports + 1, sizeof(*want->services));
	for (size_t i = 0; i < cfg->nports; i++)
		if (cfg->ports[i].enabled)
			pc_service_build(&want->services[n++], &cfg->ports[i],
					 cfg->postfix_chroot);
	want->nservices = n;
	for (size_t i = 0; i < n; i++) {
		const struct cfg_port *p = cfg_port_find(cfg,
						want->services[i].port);
		const struct cfg_port *b = p && p->like ?
					   cfg_port_find(cfg, p->like) : NULL;

		if (b != NULL && b->enabled)
			want->services[i].like = b->port;
	}
	want->main[0] = (struct pc_main) { pc_main_params[0], want->milter,
					   PC_MAIN_MILTERS };
	want->main[1] = (struct pc_main) { pc_main_params[1], "6",
					   PC_MAIN_EXACT };
	want->main[2] = (struct pc_main) { pc_main_params[2],
		cfg_milter_action_name(cfg->milter_default_action),
		PC_MAIN_EXACT };
	want->main[3] = (struct pc_main) { pc_main_params[3], PM_MACROS_CONNECT,
					   PC_MAIN_MACROS };
	want->main[4] = (struct pc_main) { pc_main_params[4], PM_MACROS_HELO,
					   PC_MAIN_MACROS };
	want->main[5] = (struct pc_main) { pc_main_params[5], PM_MACROS_MAIL,
					   PC_MAIN_MACROS };
	want->main[6] = (struct pc_main) { pc_main_params[6], PM_MACROS_RCPT,
					   PC_MAIN_MACROS };
	want->main[7] = (struct pc_main) { pc_main_params[7], PM_MACROS_EOM,
					   PC_MAIN_MACROS };
	return true;
}

void pc_want_free(struct pc_want *want)
{
	for (size_t i = 0; i < want->nservices; i++) {
		struct pc_service *s = &want->services[i];

		for (size_t j = 0; j < s->nover; j++)
			free(s->over[j].value);
		free(s->name);
		free(s->host);
	}
	free(want->services);
	free(want->milter);
	memset(want, 0, sizeof(*want));
}

const char *pc_service_over(const struct pc_service *s, const char *param)
{
	for (size_t i = 0; i < s->nover; i++)
		if (strcmp(s->over[i].param, param) == 0)
			return s->over[i].value;
	return NULL;
}

char *pc_service_entry(const struct pc_service *s)
{
	return pc_strf("%s inet n - %c - - smtpd", s->name,
		       s->chroot ? 'y' : 'n');
}

void pc_print_master(const struct pc_want *want, FILE *fp)
{
	fprintf(fp, "# master.cf services implied by %s\n"
		"# (postconf -M and postconf -P syntax; "
		"portmilter-conf apply sets them)\n", want->config);
	for (size_t i = 0; i < want->nservices; i++) {
		const struct pc_service *s = &want->services[i];
		char *entry = pc_service_entry(s);

		fprintf(fp, "\n# port %u (%s)\n%s/inet = %s\n", s->port,
			cfg_mode_name(s->mode), s->name, entry);
		for (size_t j = 0; j < s->nover; j++)
			fprintf(fp, "%s/inet/%s = %s\n", s->name,
				s->over[j].param, s->over[j].value);
		free(entry);
	}
}

void pc_print_main(const struct pc_want *want, FILE *fp)
{
	fprintf(fp, "# main.cf settings implied by %s (postconf -e syntax).\n"
		"# portmilter-conf apply adds the milter to an existing "
		"smtpd_milters and the\n# macros to the existing "
		"milter_*_macros lists: it never drops what is there.\n",
		want->config);
	for (size_t i = 0; i < PC_NMAIN; i++)
		fprintf(fp, "%s = %s\n", want->main[i].param,
			want->main[i].value);
}
