/*
 * portmilter-conf - the Postfix side of portmilter.conf: the master.cf
 * services of every port and the main.cf settings that wire the milter
 * in; generated, applied through postconf(1), checked for drift.
 *
 * usage: portmilter-conf [-c CONFIG] COMMAND [OPTIONS]
 *   master   print the master.cf services (postconf -M / -P syntax)
 *   main     print the main.cf settings (postconf -e syntax)
 *   apply    make the Postfix configuration match (idempotent)
 *   check    list every drift; exit 1 if there is one
 *   autoconfig FORMAT --domain DOMAIN [--host HOST] [--port N] [-o FILE]
 *            client settings for the submission ports: Thunderbird
 *            autoconfig, Apple profile, SRV records, an HTML page or
 *            an Outlook Autodiscover response
 *            (autoconfig.h)
 *
 * Exit: 0 done (check: clean), 1 check found drift, 2 error (bad
 * config with FILE:LINE, postconf missing or failing, bad directory,
 * no port for mail clients, bad command line). Options may come before
 * or after COMMAND; each command accepts only its own options.
 * The config is read by lib/cfg (the parser every program uses).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoconfig.h"
#include "cfg.h"
#include "commands.h"
#include "msg.h"
#include "postconf.h"

static void usage(FILE *fp)
{
	fprintf(fp,
"usage: portmilter-conf [-c CONFIG] COMMAND [OPTIONS]\n"
"commands:\n"
"  master   print the master.cf smtpd service of every enabled port and its\n"
"           -o options (postconf -M and postconf -P syntax)\n"
"  main     print the main.cf settings (postconf -e syntax): smtpd_milters,\n"
"           milter_protocol, milter_default_action, milter_*_macros\n"
"  apply    change the Postfix configuration to match, through postconf;\n"
"           only what differs is changed: a second run says \"no change\"\n"
"  check    list every drift between Postfix and CONFIG; exit 1 if any\n"
"  autoconfig FORMAT --domain DOMAIN [--host HOST] [--name NAME]\n"
"           [--imap-host HOST] [--imap-port N] [--port N] [-o FILE]\n"
"           what mail clients need to send through the submission ports;\n"
"           FORMAT: thunderbird (Mozilla config-v1.1.xml), mobileconfig\n"
"           (an unsigned Apple profile), srv (RFC 6186/8314 SRV records\n"
"           for the zone of DOMAIN), html (a help page for users) or\n"
"           autodiscover (Outlook's Autodiscover POX response)\n"
"options:\n"
"  -c CONFIG           portmilter.conf (default %s)\n"
"  --postfix-dir DIR   Postfix configuration directory (default %s);\n"
"                      master and main read only its queue_directory\n"
"  --dry-run           apply: print what would change, change nothing\n"
"  --force             apply: also replace the fields and the naming -o\n"
"                      options of a service the admin wrote, and drop a\n"
"                      bare permit from a guarded list (see below)\n"
"  --postconf PATH     postconf(1) to run (default %s)\n"
"  -h, --help          this text\n"
"autoconfig options:\n"
"  --domain DOMAIN     the domain of the users' addresses (required)\n"
"  --host HOST         the submission server (default mail.DOMAIN)\n"
"  --name NAME         the provider's name shown to users (default DOMAIN)\n"
"  --imap-host HOST    the IMAP server (default HOST); IMAP over TLS is\n"
"  --imap-port N       assumed, on port N (default 993)\n"
"  --port N            mobileconfig, autodiscover: the one port to set up\n"
"                      (default: mobileconfig the first in the order\n"
"                      below, autodiscover all); must be one of them\n"
"  -o FILE             write FILE (a temporary file in its directory,\n"
"                      renamed) instead of standard output\n"
"  Ports: the enabled submission and submissions ports of CONFIG, never\n"
"  mx; in order: 587, the other submission ports as their sections come\n"
"  in CONFIG, 465, the other submissions ports. DOMAIN and HOST must be\n"
"  DNS host names. None of these ports: exit 2.\n"
"services the admin already has:\n"
"  A port's service is the master.cf inet service of that name (smtp,\n"
"  submission, submissions, or the port number; ADDR:NAME with listen =\n"
"  ADDR), else any inet service on that port (\"smtps\" is 465). apply\n"
"  drops no rule of the admin's: each -o portmilter needs is judged by its\n"
"  property (TLS level and floor, AUTH after TLS, no unauthenticated\n"
"  relay); a restriction list keeps the admin's elements and gets only\n"
"  what is missing (\"keep\" lines say what was kept). A \"like = N\" port\n"
"  gets every -o option of N's service, the admin's included, but its\n"
"  names. It does not change, without --force: a bare \"permit\" in a\n"
"  guarded list, a different command, unprivileged or chroot field\n"
"  (reported), nor a syslog_name or milter_macro_daemon_name the admin\n"
"  set (a note). It never removes or renames a service: another\n"
"  listen address, two services on one port, a stale portmilter service\n"
"  are reported for the admin to fix. main.cf: the milter is appended to\n"
"  smtpd_milters and missing macros to milter_*_macros; nothing is dropped.\n"
"exit: 0 done (check: clean), 1 check found drift, 2 error.\n",
		CFG_DEFAULT_PATH, PC_DEFAULT_POSTFIX_DIR, PC_DEFAULT_POSTCONF);
}

static _Noreturn void usage_error(const char *what, const char *arg)
{
	pc_error("%s%s%s", what, arg ? ": " : "", arg ? arg : "");
	fputs("Try 'portmilter-conf --help'.\n", stderr);
	exit(PC_EXIT_ERROR);
}

enum {
	OPT_DIR = 256, OPT_DRY, OPT_FORCE, OPT_POSTCONF,
	OPT_DOMAIN, OPT_HOST, OPT_NAME, OPT_IMAP_HOST, OPT_IMAP_PORT, OPT_PORT,
};

/* The first option given of the Postfix commands and of autoconfig,
 * NULL if none (each command accepts only its own). */
struct seen {
	const char *postfix;
	const char *autoconfig;
};

/* Options (anywhere) and the command; the index of the command in
 * argv (its arguments follow it). */
static int parse_options(int argc, char **argv, struct pc_opts *o,
			 struct seen *seen)
{
	static const struct option longopts[] = {
		{ "postfix-dir", required_argument, NULL, OPT_DIR },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "postconf", required_argument, NULL, OPT_POSTCONF },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "imap-host", required_argument, NULL, OPT_IMAP_HOST },
		{ "imap-port", required_argument, NULL, OPT_IMAP_PORT },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct pc_ac_opts *ac = &o->ac;
	const char *pf = NULL, *au = NULL;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:ho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case OPT_DIR: o->postfix_dir = optarg, pf = "--postfix-dir"; break;
		case OPT_DRY: o->dry_run = true; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_POSTCONF: o->postconf = optarg, pf = "--postconf"; break;
		case OPT_DOMAIN: ac->domain = optarg, au = "--domain"; break;
		case OPT_HOST: ac->host = optarg, au = "--host"; break;
		case OPT_NAME: ac->name = optarg, au = "--name"; break;
		case OPT_IMAP_HOST: ac->imap_host = optarg, au = "--imap-host"; break;
		case OPT_IMAP_PORT: ac->imap_port = optarg, au = "--imap-port"; break;
		case OPT_PORT: ac->port = optarg, au = "--port"; break;
		case 'o': ac->output = optarg, au = "-o"; break;
		case 'h':
			usage(stdout);
			exit(PC_EXIT_OK);
		default:
			usage_error("bad option", argv[optind - 1]);
		}
		if (seen->postfix == NULL)
			seen->postfix = pf;
		if (seen->autoconfig == NULL)
			seen->autoconfig = au;
	}
	if (optind >= argc)
		usage_error("no command (master, main, apply, check or "
			    "autoconfig)", NULL);
	return optind;
}

/* The autoconfig command line, checked before the config is read. */
static void check_autoconfig(const struct pc_opts *o)
{
	struct pc_ac_request req;
	char *err = NULL;

	if (!pc_ac_request_build(&o->ac, &req, &err)) {
		pc_error("%s", err);
		free(err);
		fputs("Try 'portmilter-conf --help'.\n", stderr);
		exit(PC_EXIT_ERROR);
	}
	pc_ac_request_free(&req);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct pc_opts *, const struct cfg *);
		bool apply_opts;	/* --dry-run, --force allowed */
		bool autoconfig;	/* FORMAT and the autoconfig options */
	} commands[] = {
		{ "master", pc_cmd_master, false, false },
		{ "main", pc_cmd_main, false, false },
		{ "apply", pc_cmd_apply, true, false },
		{ "check", pc_cmd_check, false, false },
		{ "autoconfig", pc_cmd_autoconfig, false, true },
	};
	struct pc_opts o = {
		.config = CFG_DEFAULT_PATH,
		.postconf = PC_DEFAULT_POSTCONF,
	};
	struct seen seen = { NULL, NULL };
	const char *name;
	struct cfg *cfg;
	char *errors = NULL;
	size_t i;
	int status, cmd;

	msg_init("portmilter-conf", MSG_TO_STDERR);
	cmd = parse_options(argc, argv, &o, &seen);
	name = argv[cmd];
	for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(*commands))
		usage_error("unknown command", name);
	if (commands[i].autoconfig && cmd + 1 < argc)
		o.ac.format = argv[++cmd];
	if (cmd + 1 < argc)
		usage_error("unexpected argument", argv[cmd + 1]);
	if ((o.dry_run || o.force) && !commands[i].apply_opts)
		usage_error(o.dry_run ? "--dry-run is an option of apply only" :
			    "--force is an option of apply only", NULL);
	if (seen.autoconfig != NULL && !commands[i].autoconfig)
		usage_error(seen.autoconfig, "an option of autoconfig only");
	if (seen.postfix != NULL && commands[i].autoconfig)
		usage_error(seen.postfix, "not an option of autoconfig");
	if (commands[i].autoconfig)
		check_autoconfig(&o);
	if ((cfg = cfg_load(o.config, &errors)) == NULL) {
		fputs(errors ? errors : "", stderr);
		pc_error("%s: not valid, nothing done", o.config);
		free(errors);
		return PC_EXIT_ERROR;
	}
	status = commands[i].run(&o, cfg);
	cfg_unref(cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		pc_error("error writing the output");
		status = PC_EXIT_ERROR;
	}
	return status;
}
