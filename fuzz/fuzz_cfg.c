/*
 * fuzz_cfg - the config file (lib/cfg*.c) and what portmilter-conf
 * prints from it (postfix-conf/gen.c: `portmilter-conf master` and
 * `main`).
 *
 * Input: the text of a portmilter.conf. Oracles, for a config that
 * cfg_parse() accepts:
 *   - refused: the error text is not empty;
 *   - every network of every port (and of the strict profile) prints
 *     and parses back to itself, and every token of a client_networks
 *     or relay_networks line that cidr_parse() accepts says exactly
 *     what it holds (fuzz_check_cidr);
 *   - the smtpd_milters entry (what `main` prints) is one word free of
 *     blanks, commas, braces and '$', of the form unix:/PATH (no "."
 *     or ".." component), inet:HOST:PORT or inet:[HOST]:PORT with PORT
 *     in 1..65535; an inet: milter_socket that the parser accepted is
 *     one that the generator accepts too;
 *   - every master.cf field of every service (what `master` prints) is
 *     such a word, eight of them; every -o value has no blank, brace
 *     or '$'.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gen.h"
#include "msg.h"
#include "oracle.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	msg_init("fuzz_cfg", 0);
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL)
		abort();
	return 0;
}

/* Every token of the client_networks/relay_networks lines of the text
 * (a plain reading: one line, commas and blanks as separators). */
static void check_net_lines(const char *text)
{
	static const char *const keys[] = { "client_networks", "relay_networks" };
	char *copy = xstrdup(text), *line, *save = NULL;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *tok, *tsave = NULL;
		size_t k;

		while (*p == ' ' || *p == '\t')
			p++;
		for (k = 0; k < 2; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0)
				break;
		if (k == 2)
			continue;
		p += strlen(keys[k]);
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		for (tok = strtok_r(p, ", \t\r", &tsave); tok != NULL;
		     tok = strtok_r(NULL, ", \t\r", &tsave)) {
			struct pm_cidr c;

			if (cidr_parse(tok, &c, NULL))
				fuzz_check_cidr(tok, &c);
		}
	}
	free(copy);
}

/* unix:/PATH with no "." or ".." component. */
static void check_unix(const char *entry)
{
	const char *p = entry + 5;

	if (*p != '/')
		fuzz_fail("smtpd_milters = %s: not an absolute path",
			  fuzz_esc(entry));
	while (*p == '/') {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			fuzz_fail("smtpd_milters = %s: a \".\" or \"..\" "
				  "component", fuzz_esc(entry));
		p += n;
	}
}

/* inet:HOST:PORT or inet:[HOST]:PORT, PORT in 1..65535. */
static void check_inet(const char *entry)
{
	const char *colon = strrchr(entry + 5, ':');
	long port;

	if (colon == NULL || colon == entry + 5 ||
	    !str_to_long(colon + 1, 1, 65535, &port) || !isdigit(
	    (unsigned char)colon[1]))
		fuzz_fail("smtpd_milters = %s: not inet:HOST:PORT",
			  fuzz_esc(entry));
}

static void check_want(const struct cfg *cfg, const struct pc_want *want)
{
	const char *m = want->milter;

	if (m != NULL) {
		if (!fuzz_word_ok(m))
			fuzz_fail("milter_socket = %s gives smtpd_milters = %s: "
				  "not one word", fuzz_esc(cfg->milter_socket),
				  fuzz_esc(m));
		if (strncmp(m, "unix:", 5) == 0)
			check_unix(m);
		else if (strncmp(m, "inet:", 5) == 0)
			check_inet(m);
		else
			fuzz_fail("smtpd_milters = %s: unknown form",
				  fuzz_esc(m));
		if (want->main[0].value != m)
			fuzz_fail("main[0] is not the milter entry");
	}
	for (size_t i = 0; i < want->nservices; i++) {
		const struct pc_service *s = &want->services[i];
		char *entry = pc_service_entry(s), *f, *save = NULL;
		size_t nf = 0;

		if (!fuzz_word_ok(s->name))
			fuzz_fail("service name %s", fuzz_esc(s->name));
		if (strstr(entry, "  ") != NULL || entry[0] == ' ')
			fuzz_fail("master.cf entry %s: an empty field",
				  fuzz_esc(entry));
		for (f = strtok_r(entry, " ", &save); f != NULL;
		     f = strtok_r(NULL, " ", &save), nf++)
			if (!fuzz_word_ok(f))
				fuzz_fail("master.cf field %s", fuzz_esc(f));
		if (nf != 8)
			fuzz_fail("master.cf entry of %s: %zu fields",
				  fuzz_esc(s->name), nf);
		free(entry);
		for (size_t j = 0; j < s->nover; j++) {
			const char *v = s->over[j].value;

			if (*v == '\0' || strpbrk(v, " \t\r\n{}$") != NULL)
				fuzz_fail("-o %s=%s", s->over[j].param,
					  fuzz_esc(v));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *errors = NULL, *err = NULL;
	struct pc_want want;
	struct cfg *cfg;

	if (size > 16384)
		return 0;
	text = fuzz_text(data, size);
	cfg = cfg_parse("fuzz.conf", text, &errors);
	if (cfg == NULL) {
		if (errors == NULL || *errors == '\0')
			fuzz_fail("config refused without a message");
		free(errors);
		free(text);
		return 0;
	}
	free(errors);
	check_net_lines(text);
	for (size_t i = 0; i < cfg->nports; i++) {
		fuzz_check_nets(&cfg->ports[i].networks);
		fuzz_check_nets(&cfg->ports[i].relay_networks);
	}
	fuzz_check_nets(&cfg->strict.networks);
	fuzz_check_nets(&cfg->strict.relay_networks);
	cfg_print(cfg, devnull);

	if (pc_want_build(cfg, PC_DEFAULT_QUEUE_DIR, &want, &err)) {
		check_want(cfg, &want);
		pc_print_master(&want, devnull);
		pc_print_main(&want, devnull);
		pc_want_free(&want);
	} else {
		/* Only a unix: socket outside the chroot may be refused
		 * here: anything else should have been refused by the
		 * parser (portmilter -n). */
		if (strncmp(cfg->milter_socket, "unix:", 5) != 0)
			fuzz_fail("milter_socket = %s: accepted by the parser, "
				  "refused by the generator: %s",
				  fuzz_esc(cfg->milter_socket), fuzz_esc(err));
		free(err);
	}
	/* Services only (no queue directory): the master command's path. */
	if (pc_want_build(cfg, NULL, &want, &err)) {
		check_want(cfg, &want);
		pc_want_free(&want);
	} else {
		fuzz_fail("pc_want_build without queue_dir failed: %s",
			  fuzz_esc(err));
	}
	cfg_unref(cfg);
	free(text);
	return 0;
}
