/*
 * portmilter-probe - what each SMTP port of a host really offers, seen
 * from the client's side. See probe.h and portmilter-probe --help.
 *
 * Ports: every --port N[:MODE]; else the enabled [port N] sections of
 * --config (or of the default file when it is readable), read with
 * cfg_load(); else the seed's six. A --port without :MODE takes its mode
 * from the config, else 25 = mx, 465/4650 = submissions, any other
 * port = submission.
 *
 * Verdict per port: FAIL when the port does not do what its mode needs
 * (closed, silent, no STARTTLS/implicit TLS where required, a TLS
 * failure, AUTH in the clear or no AUTH after TLS on submission ports);
 * warn for a certificate problem (untrusted chain, name mismatch,
 * expired) or an mx port without STARTTLS; ok otherwise.
 * Exit: 0 every port ok or warn, 1 any FAIL, 2 usage or unusable config.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "msg.h"
#include "probe.h"
#include "util.h"

#define MAX_PORTS 64

struct port_req {
	unsigned port;
	enum cfg_mode mode;
	bool mode_given;
};

struct probe_args {
	struct probe_opts o;
	struct port_req ports[MAX_PORTS];
	size_t nports;
	const char *config;
	const char *cafile;
	bool json;
};

static void usage_text(FILE *fp)
{
	fprintf(fp,
		"usage: portmilter-probe [--port N[:MODE] ...] [--config FILE]"
		" [--ca FILE]\n"
		"         [--timeout SECONDS] [--address ADDR] [--json] HOST\n"
		"  MODE: mx, submission (STARTTLS) or submissions (implicit"
		" TLS)\n"
		"  --address ADDR  connect there; HOST still names the"
		" certificate\n"
		"  -h, --help      print this text and exit\n"
		"exit: 0 all ports as expected, 1 a port fails, 2 usage\n");
}

/* A bad command line: why (if given) and the usage text on stderr, exit 2. */
static noreturn void usage(const char *why)
{
	if (why)
		msg_cli_error("%s", why);
	usage_text(stderr);
	exit(2);
}

static bool mode_parse(const char *s, enum cfg_mode *mode)
{
	static const enum cfg_mode modes[] = {
		CFG_MODE_MX, CFG_MODE_SUBMISSION, CFG_MODE_SUBMISSIONS};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(s, cfg_mode_name(modes[i])) == 0) {
			*mode = modes[i];
			return true;
		}
	}
	return false;
}

static void add_port(struct probe_args *a, const char *arg)
{
	char buf[32];
	char *colon;
	long n;
	struct port_req *p;

	if (a->nports >= MAX_PORTS)
		usage("too many ports");
	if (strlen(arg) >= sizeof(buf))
		usage("bad --port");
	strcpy(buf, arg);
	p = &a->ports[a->nports];
	memset(p, 0, sizeof(*p));
	colon = strchr(buf, ':');
	if (colon) {
		*colon++ = '\0';
		if (!mode_parse(colon, &p->mode))
			usage("bad mode in --port (mx, submission, submissions)");
		p->mode_given = true;
	}
	if (!str_to_long(buf, 1, 65535, &n))
		usage("bad port number (1..65535)");
	p->port = (unsigned)n;
	a->nports++;
}

static void parse_args(struct probe_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"config", required_argument, NULL, 'c'},
		{"ca", required_argument, NULL, 'a'},
		{"timeout", required_argument, NULL, 't'},
		{"address", required_argument, NULL, 'A'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	long n;
	int ch;

	a->o.timeout_ms = 10000;
	while ((ch = getopt_long(argc, argv, "p:c:a:t:A:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': add_port(a, optarg); break;
		case 'c': a->config = optarg; break;
		case 'a': a->cafile = optarg; break;
		case 'A': a->o.address = optarg; break;
		case 'j': a->json = true; break;
		case 't':
			if (!str_to_long(optarg, 1, 3600, &n))
				usage("bad --timeout (1..3600 seconds)");
			a->o.timeout_ms = (int)n * 1000;
			break;
		case 'h': usage_text(stdout); exit(0);
		default: usage(NULL);
		}
	}
	if (optind != argc - 1)
		usage("one HOST is needed");
	a->o.host = argv[optind];
	if (!a->o.host[0] || strlen(a->o.host) > 253)
		usage("bad HOST");
	if (!a->o.address)
		a->o.address = a->o.host;
}

static enum cfg_mode mode_guess(unsigned port)
{
	if (port == 25)
		return CFG_MODE_MX;
	if (port == 465 || port == 4650)
		return CFG_MODE_SUBMISSIONS;
	return CFG_MODE_SUBMISSION;
}

/* The config: --config must load; the default file only if readable. */
static struct cfg *load_config(const char *path)
{
	char *errors = NULL;
	struct cfg *cfg;

	if (!path) {
		if (access(CFG_DEFAULT_PATH, R_OK) != 0)
			return NULL;
		path = CFG_DEFAULT_PATH;
	}
	cfg = cfg_load(path, &errors);
	if (!cfg) {
		msg_cli_error("%s: unusable configuration", path);
		fputs(errors ? errors : "", stderr);
		free(errors);
		exit(2);
	}
	return cfg;
}

static void pick_ports(struct probe_args *a)
{
	static const unsigned seed[] = {25, 587, 5870, 12345, 465, 4650};
	struct cfg *cfg = load_config(a->config);

	if (a->nports == 0 && cfg) {
		for (size_t i = 0; i < cfg->nports && a->nports < MAX_PORTS; i++) {
			if (!cfg->ports[i].enabled)
				continue;
			a->ports[a->nports].port = cfg->ports[i].port;
			a->ports[a->nports].mode = cfg->ports[i].mode;
			a->ports[a->nports++].mode_given = true;
		}
	} else if (a->nports == 0) {
		for (size_t i = 0; i < sizeof(seed) / sizeof(seed[0]); i++) {
			a->ports[a->nports].port = seed[i];
			a->ports[a->nports++].mode = mode_guess(seed[i]);
		}
	}
	for (size_t i = 0; i < a->nports; i++) {
		struct port_req *p = &a->ports[i];
		const struct cfg_port *cp = cfg ? cfg_port_find(cfg, p->port) : NULL;

		if (!p->mode_given)
			p->mode = cp ? cp->mode : mode_guess(p->port);
	}
	if (cfg)
		cfg_unref(cfg);
}

/* ---- verdicts ----------------------------------------------------------- */

/* FAIL, reason = prefix + text (text already escaped). */
static void fail(struct probe_port *r, const char *prefix, const char *text)
{
	r->pass = false;
	r->warn = false;
	snprintf(r->reason, sizeof(r->reason), "%s%s", prefix, text);
}

static void judge_tls_mode(struct probe_port *r)
{
	bool sub = r->mode == CFG_MODE_SUBMISSION;

	if (r->mode == CFG_MODE_SUBMISSIONS && !r->tls.ok)
		fail(r, "no implicit TLS: ", r->tls.error);
	else if (r->greeting_code != 220 || !r->ehlo_ok)
		fail(r, "", r->error[0] ? r->error : "no SMTP service");
	else if (sub && !r->starttls_offered)
		fail(r, "", "STARTTLS not offered");
	else if (r->tls_tried && !r->tls.ok)
		fail(r, "TLS failed: ", r->tls.error);
	else if (sub && r->auth_before)
		fail(r, "", "AUTH offered before TLS");
	else if (r->mode != CFG_MODE_MX && !r->auth_after_checked)
		fail(r, "", r->error[0] ? r->error : "no EHLO after TLS");
	else if (r->mode != CFG_MODE_MX && !r->auth_after)
		fail(r, "", "no AUTH after TLS");
	else if (r->error[0])
		fail(r, "", r->error);
}

static void judge(struct probe_port *r)
{
	r->pass = true;
	r->warn = false;
	r->reason[0] = '\0';
	if (r->conn != CONN_OPEN) {
		fail(r, "connect: ", r->conn == CONN_REFUSED ? "refused"
				       : r->conn == CONN_TIMEOUT ? "timed out"
								: r->conn_error);
		return;
	}
	judge_tls_mode(r);
	if (!r->pass)
		return;
	if (r->mode == CFG_MODE_MX && !r->starttls_offered) {
		r->warn = true;
		snprintf(r->reason, sizeof(r->reason), "no STARTTLS");
	} else if (r->tls.ok && !r->tls.cert_present) {
		r->warn = true;
		snprintf(r->reason, sizeof(r->reason), "no certificate");
	} else if (r->tls.ok && (!r->tls.chain_valid || !r->tls.name_match ||
				 r->tls.days_left < 0)) {
		const char *what[3];
		size_t n = 0, off;

		r->warn = true;
		if (!r->tls.chain_valid)
			what[n++] = r->tls.verify_error;
		if (!r->tls.name_match)
			what[n++] = "name mismatch";
		if (r->tls.days_left < 0)
			what[n++] = "expired";
		/* "certificate: A, B": one separator between problems only. */
		off = (size_t) snprintf(r->reason, sizeof(r->reason), "certificate:");
		for (size_t i = 0; i < n && off < sizeof(r->reason); i++)
			off += (size_t) snprintf(r->reason + off, sizeof(r->reason) - off,
						 "%s %s", i ? "," : "", what[i]);
	}
}

int main(int argc, char **argv)
{
	struct probe_args a;
	struct probe_port *res;
	bool all_pass = true;

	memset(&a, 0, sizeof(a));
	msg_init("portmilter-probe", MSG_TO_STDERR);
	parse_args(&a, argc, argv);
	pick_ports(&a);
	a.o.ctx = tls_ctx_new(a.cafile);
	res = xcalloc(a.nports, sizeof(*res));
	for (size_t i = 0; i < a.nports; i++) {
		res[i].port = a.ports[i].port;
		res[i].mode = a.ports[i].mode;
		smtp_probe(&a.o, &res[i]);
		judge(&res[i]);
		all_pass = all_pass && res[i].pass;
	}
	if (a.json)
		probe_json(a.o.host, res, a.nports);
	else
		probe_table(a.o.host, res, a.nports);
	free(res);
	SSL_CTX_free(a.o.ctx);
	return all_pass ? 0 : 1;
}
