/*
 * policy_driver - run the policy engine on a script of session facts,
 * in the manner of Postfix's smtpd_check test driver.
 *
 * Usage: policy_driver CONFIG-FILE < SCRIPT > DECISIONS
 *        policy_driver -r
 *
 * -r prints the rule table, one rule a line: "STAGE|RULE|REPLY", the
 * reply as the rule gives it ("554 5.7.1 Relay access denied"; for
 * min_tls_version with TLSv1.2 as the minimum, for a budget rule with
 * README's example limit: 200/1h, 100M/1h, 500/1h) or "none"
 * (tests/doc/rules.sh compares it with README's table).
 *
 * The configuration is CONFIG-FILE (normally etc/portmilter.conf) as
 * parsed by cfg_parse(), with the script's "config" lines in front of
 * it (a "config KEY = VALUE" line replaces the file's own global KEY,
 * if any) and its "append" lines after it. Script lines (see
 * tests/unit/policy.in for the full description):
 *
 *   # comment, or a blank line          ignored
 *   config KEY = VALUE                  a global key
 *   append TEXT                         a line after the file ([port N] ...)
 *   reset                               forget every config/append line
 *   connect [port=N] [client=ADDR]      a new session
 *   mail [tls=VERSION] [auth=yes|no]    a new transaction in it
 *   rcpt to=ADDR [mailer=NAME] [nrcpt=N]
 *
 * Each connect, mail and rcpt line prints one line: the script line,
 * ": ", and the verdict ("CONTINUE", "CONTINUE postfix_rejected",
 * "CONTINUE [relay_networks]", "REJECT relay 554 5.7.1 Relay access
 * denied", ...). A bad script line
 * or configuration is reported on stderr and the exit status is 1.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cfg.h"
#include "policy.h"
#include "util.h"

#define MAX_EXTRA 64

struct driver {
	const char *script;		/* name for messages */
	unsigned lineno;
	char *file_text;		/* CONFIG-FILE as read */
	const char *file_name;
	char *config[MAX_EXTRA];	/* "config" lines */
	size_t nconfig;
	char *append[MAX_EXTRA];	/* "append" lines */
	size_t nappend;
	struct cfg *cfg;		/* NULL: to be (re)built */
	struct policy_facts facts;
	bool connected;
};

static void die(const struct driver *d, const char *why, const char *what)
{
	fprintf(stderr, "%s:%u: %s%s%s\n", d->script, d->lineno, why,
		what ? ": " : "", what ? what : "");
	exit(1);
}

static char *read_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, got;
	char chunk[4096];

	if (fp == NULL) {
		fprintf(stderr, "policy_driver: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		text = xrealloc(text, len + got + 1);
		memcpy(text + len, chunk, got);
		len += got;
	}
	fclose(fp);
	text = xrealloc(text, len + 1);
	text[len] = '\0';
	return text;
}

/* The key of a "key = value" line: its first word, up to blank or '='. */
static size_t key_len(const char *line)
{
	size_t n = 0;

	while (line[n] != '\0' && line[n] != '=' && line[n] != '\n' &&
	       !isspace((unsigned char)line[n]))
		n++;
	return n;
}

/* Is the file's global line at p overridden by a "config" line? */
static bool overridden(const struct driver *d, const char *p)
{
	size_t i, n = key_len(p);

	if (n == 0 || *p == '#' || *p == '[')
		return false;
	for (i = 0; i < d->nconfig; i++)
		if (key_len(d->config[i]) == n && strncmp(d->config[i], p, n) == 0)
			return true;
	return false;
}

static void buf_add(char **buf, size_t *len, const char *s, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* config lines, the file (minus overridden globals), append lines. */
static char *build_text(const struct driver *d)
{
	char *buf = NULL;
	size_t len = 0, i, n;
	const char *p = d->file_text;
	bool in_sections = false, skipping = false;

	buf_add(&buf, &len, "", 0);
	for (i = 0; i < d->nconfig; i++) {
		buf_add(&buf, &len, d->config[i], strlen(d->config[i]));
		buf_add(&buf, &len, "\n", 1);
	}
	while (*p != '\0') {
		n = strcspn(p, "\n");
		if (*p == '[')
			in_sections = true;
		if (*p != ' ' && *p != '\t')	/* not a continuation line */
			skipping = !in_sections && overridden(d, p);
		if (!skipping) {
			buf_add(&buf, &len, p, n);
			buf_add(&buf, &len, "\n", 1);
		}
		p += n + (p[n] == '\n');
	}
	for (i = 0; i < d->nappend; i++) {
		buf_add(&buf, &len, d->append[i], strlen(d->append[i]));
		buf_add(&buf, &len, "\n", 1);
	}
	return buf;
}

static const struct cfg *get_cfg(struct driver *d)
{
	char *text, *errors = NULL;

	if (d->cfg != NULL)
		return d->cfg;
	text = build_text(d);
	d->cfg = cfg_parse(d->file_name, text, &errors);
	free(text);
	if (d->cfg == NULL) {
		fprintf(stderr, "%s", errors ? errors : "(no error text)\n");
		free(errors);
		die(d, "configuration refused", NULL);
	}
	return d->cfg;
}

static void forget_cfg(struct driver *d)
{
	if (d->cfg != NULL)
		cfg_unref(d->cfg);
	d->cfg = NULL;
}

static void print_verdict(const char *line, const struct policy_verdict *v,
			  const char *note)
{
	static const char *const actions[] = { "CONTINUE", "REJECT", "TEMPFAIL" };

	printf("%s: %s", line, actions[v->action]);
	if (v->rule != NULL)
		printf(" %s", v->rule);
	if (v->rcode != NULL)
		printf(" %s %s %s", v->rcode, v->xcode ? v->xcode : "-", v->text);
	if (v->credential_exposure)
		printf(" [credential_exposure]");
	if (v->relay_networks)
		printf(" [relay_networks]");
	if (note != NULL)
		printf(" [%s]", note);
	printf("\n");
}

/* Split "key=value" words in place; *rest advances past one word. */
static bool next_word(char **rest, char **key, char **value)
{
	char *p = *rest, *eq;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	*key = p;
	p += strcspn(p, " \t");
	if (*p != '\0')
		*p++ = '\0';
	*rest = p;
	eq = strchr(*key, '=');
	*value = NULL;
	if (eq != NULL) {
		*eq = '\0';
		*value = eq + 1;
	}
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	if (s != NULL && strcmp(s, "yes") == 0)
		return (*out = true), true;
	if (s != NULL && strcmp(s, "no") == 0)
		return (*out = false), true;
	return false;
}

static void do_connect(struct driver *d, const char *line, char *args)
{
	char *key, *value;
	long port;
	bool known;
	struct policy_verdict v;

	memset(&d->facts, 0, sizeof(d->facts));
	d->facts.tls_version = PM_TLS_NONE;
	while (next_word(&args, &key, &value)) {
		if (value == NULL)
			die(d, "expected key=value", key);
		if (strcmp(key, "port") == 0) {
			if (!str_to_long(value, 0, 65535, &port))
				die(d, "bad port", value);
			d->facts.port = (unsigned)port;
		} else if (strcmp(key, "client") == 0) {
			if (strcmp(value, "unknown") != 0 &&
			    !addr_parse(value, &d->facts.client))
				die(d, "bad client address", value);
		} else {
			die(d, "unknown connect key", key);
		}
	}
	d->connected = true;
	policy_profile(get_cfg(d), d->facts.port, &known);
	v = policy_connect(get_cfg(d), &d->facts);
	print_verdict(line, &v, known ? NULL : "unknown port");
}

static void do_mail(struct driver *d, const char *line, char *args)
{
	char *key, *value;
	struct policy_verdict v;

	if (!d->connected)
		die(d, "mail before connect", NULL);
	d->facts.tls_version = PM_TLS_NONE;
	d->facts.authenticated = false;
	d->facts.nrcpt = 0;
	while (next_word(&args, &key, &value)) {
		if (value == NULL)
			die(d, "expected key=value", key);
		if (strcmp(key, "tls") == 0) {
			d->facts.tls_version = strcmp(value, "none") == 0 ?
				PM_TLS_NONE : cfg_tls_version_parse(value);
		} else if (strcmp(key, "auth") == 0) {
			if (!parse_bool(value, &d->facts.authenticated))
				die(d, "auth must be yes or no", value);
		} else {
			die(d, "unknown mail key", key);
		}
	}
	v = policy_mail(get_cfg(d), &d->facts);
	print_verdict(line, &v, NULL);
}

static void do_rcpt(struct driver *d, const char *line, char *args)
{
	char *key, *value;
	struct policy_rcpt r = { NULL, NULL };
	struct policy_verdict v;
	long n;

	if (!d->connected)
		die(d, "rcpt before connect", NULL);
	while (next_word(&args, &key, &value)) {
		if (value == NULL)
			die(d, "expected key=value", key);
		if (strcmp(key, "to") == 0) {
			r.addr = value;
		} else if (strcmp(key, "mailer") == 0) {
			r.mailer = value;
		} else if (strcmp(key, "nrcpt") == 0) {
			if (!str_to_long(value, 0, 1000000, &n))
				die(d, "bad nrcpt", value);
			d->facts.nrcpt = (unsigned)n;
		} else {
			die(d, "unknown rcpt key", key);
		}
	}
	if (r.addr == NULL)
		die(d, "rcpt without to=", NULL);
	v = policy_rcpt(get_cfg(d), &d->facts, &r);
	print_verdict(line, &v, NULL);
	if (v.action == POLICY_CONTINUE && !v.postfix_rejected)
		d->facts.nrcpt++;
}

static void add_extra(struct driver *d, char **list, size_t *n, const char *text)
{
	if (*n >= MAX_EXTRA)
		die(d, "too many config/append lines", NULL);
	list[(*n)++] = xstrdup(text);
	forget_cfg(d);
}

static void reset(struct driver *d)
{
	size_t i;

	for (i = 0; i < d->nconfig; i++)
		free(d->config[i]);
	for (i = 0; i < d->nappend; i++)
		free(d->append[i]);
	d->nconfig = d->nappend = 0;
	d->connected = false;
	forget_cfg(d);
}

static void do_line(struct driver *d, char *line)
{
	char copy[2048];
	char *args;
	size_t n = strcspn(line, " \t");

	if (strlen(line) >= sizeof(copy))
		die(d, "line too long", NULL);
	strcpy(copy, line);		/* args are cut up in place */
	args = copy + n + (copy[n] != '\0');
	copy[n] = '\0';
	if (strcmp(copy, "config") == 0)
		add_extra(d, d->config, &d->nconfig, args);
	else if (strcmp(copy, "append") == 0)
		add_extra(d, d->append, &d->nappend, args);
	else if (strcmp(copy, "reset") == 0)
		reset(d);
	else if (strcmp(copy, "connect") == 0)
		do_connect(d, line, args);
	else if (strcmp(copy, "mail") == 0)
		do_mail(d, line, args);
	else if (strcmp(copy, "rcpt") == 0)
		do_rcpt(d, line, args);
	else
		die(d, "unknown command", copy);
}

static int print_rules(void)
{
	for (int i = 0; i < POLICY_RULE_COUNT; i++) {
		const struct policy_rule *r = policy_rule(i);
		struct policy_verdict v = policy_rule_verdict(i, PM_TLS_1_2);
		/* budgets: the example limits of README's table */
		struct cfg_limit example = {
			strcmp(r->text ? r->text : "", "bytes") == 0 ?
			100ULL << 20 : strcmp(r->text ? r->text : "",
			"recipients") == 0 ? 500 : 200, 3600 };

		if (i >= POLICY_RULE_LIMIT_MESSAGES &&
		    i <= POLICY_RULE_LIMIT_RECIPIENTS_REJECT)
			v = policy_limit_verdict(i, &example);

		if (v.rcode == NULL)
			printf("%s|%s|none\n", r->stage, r->name);
		else
			printf("%s|%s|%s %s %s\n", r->stage, r->name, v.rcode,
			       v.xcode, v.text);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct driver d;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (argc == 2 && strcmp(argv[1], "-r") == 0)
		return print_rules();
	if (argc != 2) {
		fprintf(stderr, "usage: policy_driver CONFIG-FILE < SCRIPT\n"
			"       policy_driver -r\n");
		return 1;
	}
	memset(&d, 0, sizeof(d));
	d.script = "stdin";
	d.file_name = argv[1];
	d.file_text = read_file(argv[1]);
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		d.lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		do_line(&d, line);
	}
	reset(&d);
	free(line);
	free(d.file_text);
	return 0;
}
