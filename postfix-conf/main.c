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
 *
 * Exit: 0 done (check: clean), 1 check found drift, 2 error (bad
 * config with FILE:LINE, postconf missing or failing, bad directory,
 * bad command line). Options may come before or after COMMAND.
 * The config is read by lib/cfg (the parser every program uses).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
"options:\n"
"  -c CONFIG           portmilter.conf (default %s)\n"
"  --postfix-dir DIR   Postfix configuration directory (default %s);\n"
"                      master and main read only its queue_directory\n"
"  --dry-run           apply: print what would change, change nothing\n"
"  --force             apply: also replace the fields and the naming -o\n"
"                      options of a service the admin wrote (see below)\n"
"  --postconf PATH     postconf(1) to run (default %s)\n"
"  -h, --help          this text\n"
"services the admin already has:\n"
"  A port's service is the master.cf inet service of that name (smtp,\n"
"  submission, submissions, or the port number; ADDR:NAME with listen =\n"
"  ADDR), else any inet service on that port (\"smtps\" is 465). apply sets\n"
"  portmilter's -o options on it and keeps the admin's other ones. It does\n"
"  not change, without --force: a different command, unprivileged or\n"
"  chroot field (reported), nor a syslog_name or milter_macro_daemon_name\n"
"  the admin set (a note). It never removes or renames a service: another\n"
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

enum { OPT_DIR = 256, OPT_DRY, OPT_FORCE, OPT_POSTCONF };

/* Options (anywhere), then exactly one command; its index in argv. */
static int parse_options(int argc, char **argv, struct pc_opts *o)
{
	static const struct option longopts[] = {
		{ "postfix-dir", required_argument, NULL, OPT_DIR },
		{ "dry-run", no_argument, NULL, OPT_DRY },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "postconf", required_argument, NULL, OPT_POSTCONF },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case OPT_DIR: o->postfix_dir = optarg; break;
		case OPT_DRY: o->dry_run = true; break;
		case OPT_FORCE: o->force = true; break;
		case OPT_POSTCONF: o->postconf = optarg; break;
		case 'h':
			usage(stdout);
			exit(PC_EXIT_OK);
		default:
			usage_error("bad option", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("no command (master, main, apply or check)", NULL);
	if (optind + 1 < argc)
		usage_error("unexpected argument", argv[optind + 1]);
	return optind;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct pc_opts *, const struct cfg *);
		bool apply_opts;	/* --dry-run, --force allowed */
	} commands[] = {
		{ "master", pc_cmd_master, false },
		{ "main", pc_cmd_main, false },
		{ "apply", pc_cmd_apply, true },
		{ "check", pc_cmd_check, false },
	};
	struct pc_opts o = { CFG_DEFAULT_PATH, NULL, PC_DEFAULT_POSTCONF,
			     false, false };
	const char *name;
	struct cfg *cfg;
	char *errors = NULL;
	size_t i;
	int status;

	msg_init("portmilter-conf", MSG_TO_STDERR);
	name = argv[parse_options(argc, argv, &o)];
	for (i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(*commands))
		usage_error("unknown command", name);
	if ((o.dry_run || o.force) && !commands[i].apply_opts)
		usage_error(o.dry_run ? "--dry-run is an option of apply only" :
			    "--force is an option of apply only", NULL);
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
