/*
 * cfg_print - the effective configuration as a table (portmilter -n),
 * and the names of configured values (milter action, TLS versions).
 * The lookups on a loaded configuration are in cfg_lookup.c. See cfg.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cfg_keys.h"
#include "util.h"

/* "any" (every IPv4 and IPv6 address), "none", or the networks joined
 * by commas; malloc'd. */
static char *cfg_nets_text(const struct cfg_nets *nets)
{
	const struct pm_cidr *n = nets->v;
	char addr[64], *out;
	size_t i, off = 0, len = nets->n * 56 + 8;

	if (nets->n == 0)
		return xstrdup("none");
	if (nets->n == 2 && n[0].prefix == 0 && n[1].prefix == 0 &&
	    n[0].net.family != n[1].net.family)
		return xstrdup("any");
	out = xmalloc(len);
	out[0] = '\0';
	for (i = 0; i < nets->n; i++)
		off += (size_t) snprintf(out + off, len - off, "%s%s/%u",
					 i ? "," : "", addr_to_text(&n[i].net,
					 addr, sizeof(addr)), n[i].prefix);
	return out;
}

#define CFG_ROW	"%-5s  %-11s  %-7s  %-8s  %-7s  %-8s  %-15s  %-12s  %-8s  %-*s  %-*s  %-5s  %s\n"

/* The texts of a port's two network lists (malloc'd). */
struct cfg_print_nets {
	char *client, *relay;
};

static void cfg_print_port(FILE *fp, const struct cfg_port *p,
			   const struct cfg_print_nets *nets, int width,
			   int rwidth)
{
	char port[16], rcpt[16], like[16];

	snprintf(port, sizeof(port), "%u", p->port);
	snprintf(rcpt, sizeof(rcpt), "%u", p->max_recipients);
	snprintf(like, sizeof(like), p->like ? "%u" : "-", p->like);
	fprintf(fp, CFG_ROW, port, cfg_mode_name(p->mode),
		p->enabled ? "yes" : "no",
		p->require_tls ? "required" : "optional",
		cfg_tls_version_name(p->min_tls_version),
		p->require_auth ? "required" : "optional",
		p->tls_before_auth ? "yes" : "no",
		p->allow_unauth_relay ? "yes" : "no", rcpt, width, nets->client,
		rwidth, nets->relay, like, p->listen);
}

static void cfg_print_list(FILE *fp, const char *name,
			   const struct cfg_strlist *l)
{
	fprintf(fp, "%-18s = ", name);
	for (size_t i = 0; i < l->n; i++)
		fprintf(fp, "%s%s", i ? " " : "", l->v[i]);
	fputs(l->n ? "\n" : "(none)\n", fp);
}

/* The budgets of the ports that have any (nothing when none has). */
static void cfg_print_limits(const struct cfg *cfg, FILE *fp)
{
	static const char *const actions[] = { "tempfail", "reject", "hold" };
	const struct cfg_port *p;
	char text[256];
	bool header = false;

	for (size_t i = 0; i < cfg->nports; i++) {
		p = &cfg->ports[i];
		if (p->limits[0].n + p->limits[1].n + p->limits[2].n == 0 &&
		    p->sender_login == CFG_SL_NONE)
			continue;
		if (!header)
			fprintf(fp, "\nbudgets (per SASL login, else per client "
				"address; shared by every port) and sender_login:\n");
		header = true;
		fprintf(fp, "  port %u:", p->port);
		for (int k = 0; k < CFG_NLIMITS; k++)
			fprintf(fp, " %s = %s;", cfg_limit_name(k),
				cfg_limits_text(&p->limits[k], k == CFG_LIMIT_BYTES,
						text, sizeof(text)));
		fprintf(fp, " limit_action = %s; limits_enforce = %s; "
			"sender_login = %s\n", actions[p->limit_action],
			p->limits_enforce ? "yes" : "no (monitor)",
			(const char *[]) { "none", "exact", "domain", "map" }
			[p->sender_login]);
	}
	if (cfg->limit_classes[0] != '\0')
		fprintf(fp, "%-18s = %s (%zu classes, %zu logins)\n",
			"limit_classes", cfg->limit_classes,
			cfg->classes.nclasses, cfg->classes.nusers);
	if (cfg->sender_login_map[0] != '\0')
		fprintf(fp, "%-18s = %s (%zu keys)\n", "sender_login_map",
			cfg->sender_login_map, cfg->sender_map.n);
}

void cfg_print(const struct cfg *cfg, FILE *fp)
{
	struct cfg_print_nets *nets = xcalloc(cfg->nports + 1, sizeof(*nets));
	size_t i, width = strlen("networks"), rwidth = strlen("relay_networks");

	for (i = 0; i < cfg->nports; i++) {
		nets[i].client = cfg_nets_text(&cfg->ports[i].networks);
		nets[i].relay = cfg_nets_text(&cfg->ports[i].relay_networks);
		if (strlen(nets[i].client) > width)
			width = strlen(nets[i].client);
		if (strlen(nets[i].relay) > rwidth)
			rwidth = strlen(nets[i].relay);
	}
	fprintf(fp, "# %s\n", cfg->path);
	fprintf(fp, CFG_ROW, "port", "mode", "enabled", "tls", "min_tls",
		"auth", "tls_before_auth", "unauth_relay", "max_rcpt",
		(int) width, "networks", (int) rwidth, "relay_networks", "like",
		"listen");
	for (i = 0; i < cfg->nports; i++) {
		cfg_print_port(fp, &cfg->ports[i], &nets[i], (int) width,
			       (int) rwidth);
		free(nets[i].client);
		free(nets[i].relay);
	}
	free(nets);
	cfg_print_limits(cfg, fp);
	fprintf(fp, "\n%-18s = %s\n", "milter_socket", cfg->milter_socket);
	/* a conninfo may hold a password: never print one */
	fprintf(fp, "%-18s = %s\n", "database",
		strstr(cfg->database, "password") != NULL ||
		strchr(cfg->database, '@') != NULL ?
		"(not shown: it may contain a password)" : cfg->database);
	fprintf(fp, "%-18s = %s\n", "journal_directory",
		cfg->journal_directory);
	fprintf(fp, "%-18s = %llu bytes\n", "journal_max_size",
		cfg->journal_max_size);
	fprintf(fp, "%-18s = %s\n", "journal_full_action",
		cfg->journal_full_action == CFG_FULL_TEMPFAIL ?
		"tempfail (new mail is tempfailed while the journal is full)" :
		"drop (mail flows, events are dropped while the journal is full)");
	fprintf(fp, "%-18s = %s\n", "node_name",
		cfg->node_name[0] ? cfg->node_name : "(the host name)");
	cfg_print_list(fp, "local_domains", &cfg->local_domains);
	cfg_print_list(fp, "relay_domains", &cfg->relay_domains);
	cfg_print_list(fp, "local_transports", &cfg->local_transports);
	if (cfg->unknown_port == CFG_UNKNOWN_REJECT)
		fprintf(fp, "%-18s = reject: connections on a port without a "
			"section are refused\n", "unknown_port");
	else
		fprintf(fp, "%-18s = strict: a port without a section gets "
			"the %s profile (TLS %s, min %s, AUTH %s) and a "
			"warning is logged\n", "unknown_port",
			cfg_mode_name(cfg->strict.mode),
			cfg->strict.require_tls ? "required" : "optional",
			cfg_tls_version_name(cfg->strict.min_tls_version),
			cfg->strict.require_auth ? "required" : "optional");
	fprintf(fp, "%-18s = %s\n", "milter_default_action",
		cfg_milter_action_name(cfg->milter_default_action));
	fprintf(fp, "%-18s = %s\n", "postfix_chroot",
		cfg->postfix_chroot ? "yes (smtpd services run chrooted)" :
		"no (smtpd services run outside a chroot)");
	fprintf(fp, "%-18s = %s\n", "metrics_listen",
		strcmp(cfg->metrics_listen, "none") == 0 ?
		"none (no /metrics)" : cfg->metrics_listen);
	fprintf(fp, "%-18s = %s\n", "postfix_log", cfg->postfix_log[0] ?
		cfg->postfix_log : "(none: Postfix's log is not read)");
}

const char *cfg_milter_action_name(enum cfg_milter_action action)
{
	if ((unsigned) action < sizeof(cfg_milter_action_names) /
				sizeof(*cfg_milter_action_names))
		return cfg_milter_action_names[action];
	return "unknown";
}

int cfg_tls_version_parse(const char *text)
{
	if (text == NULL || text[0] == '\0')
		return PM_TLS_NONE;
	if (strncmp(text, "TLSv", 4) != 0 && strncmp(text, "tlsv", 4) != 0)
		return PM_TLS_UNKNOWN;
	text += 4;
	if (strcmp(text, "1") == 0)
		return PM_TLS_1_0;
	if (text[0] >= '1' && text[0] <= '9' && text[1] == '.' &&
	    text[2] >= '0' && text[2] <= '9' && text[3] == '\0')
		return (text[0] - '0') * 10 + (text[2] - '0');
	return PM_TLS_UNKNOWN;
}

#define CFG_TLS_ROW(m) "TLSv" #m ".0", "TLSv" #m ".1", "TLSv" #m ".2", \
	"TLSv" #m ".3", "TLSv" #m ".4", "TLSv" #m ".5", "TLSv" #m ".6", \
	"TLSv" #m ".7", "TLSv" #m ".8", "TLSv" #m ".9"

const char *cfg_tls_version_name(int version)
{
	static const char *const names[] = {
		CFG_TLS_ROW(1), CFG_TLS_ROW(2), CFG_TLS_ROW(3),
		CFG_TLS_ROW(4), CFG_TLS_ROW(5), CFG_TLS_ROW(6),
		CFG_TLS_ROW(7), CFG_TLS_ROW(8), CFG_TLS_ROW(9),
	};

	if (version == PM_TLS_NONE)
		return "none";
	if (version == PM_TLS_1_0)
		return "TLSv1";
	if (version > PM_TLS_1_0 && version <= 99)
		return names[version - 10];
	return "unknown";
}
