/*
 * test_cfg - unit tests of lib/cfg.c (cmocka, TAP output).
 *
 * Every expected value below comes from the contract (lib/cfg.h and the
 * key table documented in etc/portmilter.conf): defaults per mode, the
 * order in which "like" is resolved, the error lines. None of them was
 * copied from the program's output.
 *
 * The shipped etc/portmilter.conf is read from $top_srcdir (set by
 * "make check"). Without it the whole program is skipped: the plan
 * "1..0 # SKIP reason" and exit status 0 (automake's TAP driver counts
 * any other status as an ERROR, 77 included; cmocka's skip() prints
 * "not ok # SKIP", which it counts as a FAIL).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "cfg.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define ANY "0.0.0.0/0,::/0"

/* ------------------------------------------------------------------ */
/* Helpers                                                            */

static struct cfg *parse_ok(const char *text)
{
	char *errors = NULL;
	struct cfg *cfg = cfg_parse("t.conf", text, &errors);

	if (cfg == NULL)
		fail_msg("unexpected errors for:\n%s\n--\n%s", text,
			 errors ? errors : "(none)");
	assert_null(errors);
	return cfg;
}

/* A list of networks as "a/n,b/m", "" when empty (the test's own
 * formatting). */
static void nets_text(const struct cfg_nets *nets, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nets->n && off < len; i++) {
		inet_ntop(nets->v[i].net.family, nets->v[i].net.bytes,
			  addr, sizeof(addr));
		off += (size_t)snprintf(buf + off, len - off, "%s%s/%u",
					i ? "," : "", addr, nets->v[i].prefix);
	}
}

/* A port's relay_networks as nets_text() writes them; "" = none, and
 * then no array either. */
static void check_relay(const struct cfg_port *p, const char *want)
{
	char nets[1024];

	if (p == NULL)
		fail_msg("no profile (relay_networks %s expected)", want);
	nets_text(&p->relay_networks, nets, sizeof(nets));
	if (strcmp(nets, want) != 0)
		fail_msg("port %u: relay_networks \"%s\", expected \"%s\"",
			 p->port, nets, want);
	if (p->relay_networks.n == 0)
		assert_null(p->relay_networks.v);
}

/* What a port's effective profile must be. */
struct want {
	unsigned port;
	enum cfg_mode mode;
	bool enabled, tls, auth, tls_before_auth, unauth_relay;
	int min_tls;
	unsigned max_rcpt;
	unsigned like;
	const char *nets;
};

/* The defaults of each mode, from the specification. */
#define MX(port, like)   { port, CFG_MODE_MX, true, false, false, true, \
			   false, PM_TLS_NONE, 1000, like, ANY }
#define SUB(port, like)  { port, CFG_MODE_SUBMISSION, true, true, true, \
			   true, false, PM_TLS_1_2, 100, like, ANY }
#define SUBS(port, like) { port, CFG_MODE_SUBMISSIONS, true, true, true, \
			   true, false, PM_TLS_1_2, 100, like, ANY }

static void check_profile(const struct cfg_port *p, const struct want *w)
{
	char nets[1024];

	if (p == NULL)
		fail_msg("no profile for port %u", w->port);
	nets_text(&p->networks, nets, sizeof(nets));
#define CHECK(field, val) do { \
	if ((long)(field) != (long)(val)) \
		fail_msg("port %u: %s is %ld, expected %ld", w->port, #field, \
			 (long)(field), (long)(val)); \
	} while (0)
	CHECK(p->port, w->port);
	CHECK(p->mode, w->mode);
	CHECK(p->enabled, w->enabled);
	CHECK(p->require_tls, w->tls);
	CHECK(p->require_auth, w->auth);
	CHECK(p->tls_before_auth, w->tls_before_auth);
	CHECK(p->allow_unauth_relay, w->unauth_relay);
	CHECK(p->min_tls_version, w->min_tls);
	CHECK(p->max_recipients, w->max_rcpt);
	CHECK(p->like, w->like);
#undef CHECK
	if (strcmp(nets, w->nets) != 0)
		fail_msg("port %u: networks %s, expected %s", w->port, nets,
			 w->nets);
}

static void check_list(const struct cfg_strlist *l, const char *const *want,
		       size_t n)
{
	if (l->n != n)
		fail_msg("list has %zu elements, expected %zu", l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], want[i]);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ------------------------------------------------------------------ */
/* Errors: each one with its exact line.                              */

struct err_case {
	const char *text;
	const char *want;	/* substring of the error text */
};

static const struct err_case err_cases[] = {
	/* unknown keys, in the global part and in a section */
	{ "foo = bar\n", "t.conf:1: unknown key \"foo\" in the global part" },
	{ "# c\n\n[port 25]\nmode = mx\nfoo = 1\n",
	  "t.conf:5: unknown key \"foo\" in [port 25]" },
	{ "[port 25]\nMode = mx\n", "t.conf:2: unknown key \"Mode\"" },
	/* bad values: booleans */
	{ "[port 25]\nenabled = true\n",
	  "t.conf:2: bad value \"true\" for enabled: expected yes or no" },
	{ "[port 25]\nrequire_tls = Yes\n",
	  "t.conf:2: bad value \"Yes\" for require_tls: expected yes or no" },
	{ "[port 25]\nrequire_auth =\n",
	  "t.conf:2: bad value \"\" for require_auth: expected yes or no" },
	{ "[port 25]\ntls_before_auth = 1\n",
	  "t.conf:2: bad value \"1\" for tls_before_auth: expected yes or no" },
	{ "[port 25]\nallow_unauth_relay = on\n",
	  "t.conf:2: bad value \"on\" for allow_unauth_relay: expected yes" },
	/* mode, min_tls_version, unknown_port */
	{ "[port 25]\nmode = smtp\n", "t.conf:2: bad value \"smtp\" for mode: "
	  "expected mx, submission or submissions" },
	{ "[port 25]\nmode = MX\n", "t.conf:2: bad value \"MX\" for mode" },
	/* '#' after a value is part of the value */
	{ "[port 25]\nmode = mx # smtp\n",
	  "t.conf:2: bad value \"mx # smtp\" for mode" },
	{ "[port 25]\nmin_tls_version = TLSv1.4\n",
	  "t.conf:2: bad value \"TLSv1.4\" for min_tls_version: expected none, "
	  "TLSv1, TLSv1.0, TLSv1.1, TLSv1.2 or TLSv1.3" },
	{ "[port 25]\nmin_tls_version = SSLv3\n",
	  "t.conf:2: bad value \"SSLv3\" for min_tls_version" },
	{ "[port 25]\nmin_tls_version =\n",
	  "t.conf:2: bad value \"\" for min_tls_version" },
	{ "[port 25]\nmin_tls_version = None\n",
	  "t.conf:2: bad value \"None\" for min_tls_version" },
	/* journal keys */
	{ "journal_full_action = bounce\n",
	  "t.conf:1: bad value \"bounce\" for journal_full_action: expected "
	  "tempfail or drop" },
	/* metrics_listen: none or ADDRESS:PORT, IPv6 in brackets */
	{ "metrics_listen = 9465\n",
	  "t.conf:1: bad value \"9465\" for metrics_listen: expected none or" },
	{ "metrics_listen = localhost:9465\n",
	  "t.conf:1: bad value \"localhost:9465\" for metrics_listen" },
	{ "metrics_listen = 127.0.0.1:0\n",
	  "t.conf:1: bad value \"127.0.0.1:0\" for metrics_listen" },
	{ "metrics_listen = 127.0.0.1:65536\n",
	  "t.conf:1: bad value \"127.0.0.1:65536\" for metrics_listen" },
	{ "metrics_listen = 127.0.0.1:+80\n",
	  "t.conf:1: bad value \"127.0.0.1:+80\" for metrics_listen" },
	{ "metrics_listen = ::1:9465\n",
	  "t.conf:1: bad value \"::1:9465\" for metrics_listen" },
	{ "metrics_listen = [127.0.0.1]:9465\n",
	  "t.conf:1: bad value \"[127.0.0.1]:9465\" for metrics_listen" },
	{ "metrics_listen = 127.0.0.1:\n",
	  "t.conf:1: bad value \"127.0.0.1:\" for metrics_listen" },
	{ "journal_max_size = 1T\n",
	  "t.conf:1: bad value \"1T\" for journal_max_size" },
	{ "journal_max_size = 1000\n",
	  "t.conf:1: bad value \"1000\" for journal_max_size: expected a size "
	  "from 64k to 1024G" },
	{ "journal_max_size = 1025G\n",
	  "t.conf:1: bad value \"1025G\" for journal_max_size" },
	{ "journal_max_size = k\n",
	  "t.conf:1: bad value \"k\" for journal_max_size" },
	{ "journal_max_size = -1G\n",
	  "t.conf:1: bad value \"-1G\" for journal_max_size" },
	{ "[port 25]\njournal_max_size = 1G\n",
	  "t.conf:2: \"journal_max_size\" is a global key" },
	{ "unknown_port = allow\n",
	  "t.conf:1: bad value \"allow\" for unknown_port: expected strict or "
	  "reject" },
	/* Postfix settings */
	{ "milter_default_action = shutdown\n",
	  "t.conf:1: bad value \"shutdown\" for milter_default_action: "
	  "expected tempfail, accept, reject or quarantine" },
	{ "milter_default_action = Tempfail\n",
	  "t.conf:1: bad value \"Tempfail\" for milter_default_action" },
	{ "[port 25]\nmilter_default_action = accept\n",
	  "t.conf:2: \"milter_default_action\" is a global key" },
	{ "postfix_chroot = y\n",
	  "t.conf:1: bad value \"y\" for postfix_chroot: expected yes or no" },
	{ "postfix_log = mail.log\n",
	  "t.conf:1: bad value \"mail.log\" for postfix_log: expected an "
	  "absolute path, journal, journal:DIRECTORY (absolute), or nothing "
	  "for none" },
	{ "postfix_log = journal:var/log/journal\n",
	  "t.conf:1: bad value \"journal:var/log/journal\" for postfix_log: "
	  "expected an absolute path, journal, journal:DIRECTORY" },
	{ "postfix_log = Journal\n",
	  "t.conf:1: bad value \"Journal\" for postfix_log" },
	{ "[port 25]\npostfix_log = /var/log/mail.log\n",
	  "t.conf:2: \"postfix_log\" is a global key" },
	{ "[port 25]\nlisten = 127.0.0.1:25\n",
	  "t.conf:2: bad value \"127.0.0.1:25\" for listen: expected all or "
	  "one IP address" },
	{ "[port 25]\nlisten = localhost\n",
	  "t.conf:2: bad value \"localhost\" for listen" },
	{ "[port 25]\nlisten = 127.0.0.1 ::1\n",
	  "t.conf:2: bad value \"127.0.0.1 ::1\" for listen" },
	{ "[port 25]\nlisten =\n", "t.conf:2: bad value \"\" for listen" },
	{ "listen = all\n", "t.conf:1: \"listen\" is a per-port key" },
	/* max_recipients: range and strict decimal */
	{ "[port 25]\nmax_recipients = 0\n", "t.conf:2: bad value \"0\" for "
	  "max_recipients: expected a decimal number in 1..100000" },
	{ "[port 25]\nmax_recipients = 100001\n",
	  "t.conf:2: bad value \"100001\" for max_recipients: expected" },
	{ "[port 25]\nmax_recipients = 10x\n",
	  "t.conf:2: bad value \"10x\" for max_recipients" },
	{ "[port 25]\nmax_recipients = +5\n",
	  "t.conf:2: bad value \"+5\" for max_recipients" },
	{ "[port 25]\nmax_recipients = -1\n",
	  "t.conf:2: bad value \"-1\" for max_recipients" },
	{ "[port 25]\nmax_recipients = 1 000\n",
	  "t.conf:2: bad value \"1 000\" for max_recipients" },
	{ "[port 25]\nmax_recipients = 0x10\n",
	  "t.conf:2: bad value \"0x10\" for max_recipients" },
	{ "[port 25]\nmax_recipients =\n",
	  "t.conf:2: bad value \"\" for max_recipients" },
	/* client_networks */
	{ "[port 25]\nclient_networks = 10.0.0.0/33\n",
	  "t.conf:2: bad value \"10.0.0.0/33\" for client_networks: bad "
	  "network \"10.0.0.0/33\"" },
	{ "[port 25]\nclient_networks = 192.0.2.1, bogus\n",
	  "t.conf:2: bad value \"192.0.2.1, bogus\" for client_networks: bad "
	  "network \"bogus\"" },
	{ "[port 25]\nclient_networks =\n",
	  "t.conf:2: bad value \"\" for client_networks: expected at least one "
	  "network" },
	{ "[port 25]\nclient_networks = , ,\n",
	  "t.conf:2: bad value \", ,\" for client_networks: expected at least" },
	/* relay_networks: the same networks, or "none" alone */
	{ "[port 25]\nrelay_networks = 10.0.0.0/33\n",
	  "t.conf:2: bad value \"10.0.0.0/33\" for relay_networks: bad "
	  "network \"10.0.0.0/33\"" },
	{ "[port 25]\nmode = mx\nrelay_networks = 127.0.0.1, localhost\n",
	  "t.conf:3: bad value \"127.0.0.1, localhost\" for relay_networks: "
	  "bad network \"localhost\"" },
	{ "[port 25]\nrelay_networks = ::ffff:10.0.0.0/8\n",
	  "t.conf:2: bad value \"::ffff:10.0.0.0/8\" for relay_networks: bad "
	  "network \"::ffff:10.0.0.0/8\": IPv4-mapped prefix length must be "
	  "96..128" },
	{ "[port 25]\nrelay_networks = none 10.0.0.0/8\n",
	  "t.conf:2: bad value \"none 10.0.0.0/8\" for relay_networks: "
	  "\"none\" must be alone" },
	{ "[port 25]\nrelay_networks = ::1, none\n",
	  "t.conf:2: bad value \"::1, none\" for relay_networks: \"none\" "
	  "must be alone" },
	{ "[port 25]\nrelay_networks = None\n",
	  "t.conf:2: bad value \"None\" for relay_networks: bad network "
	  "\"None\"" },
	{ "[port 25]\nrelay_networks = 127.0.0.0/8,\n  ::1/129\n",
	  "t.conf:2: bad value \"127.0.0.0/8, ::1/129\" for relay_networks" },
	{ "[port 25]\nrelay_networks = none\nrelay_networks = ::1\n",
	  "t.conf:3: duplicate key \"relay_networks\" in [port 25] (first "
	  "set at line 2)" },
	{ "relay_networks = 127.0.0.0/8\n",
	  "t.conf:1: \"relay_networks\" is a per-port key" },
	/* ... which client_networks does not take */
	{ "[port 25]\nclient_networks = none\n",
	  "t.conf:2: bad value \"none\" for client_networks: bad network "
	  "\"none\"" },
	/* global string values */
	{ "milter_socket = local:/run/x.sock\n", "t.conf:1: bad value "
	  "\"local:/run/x.sock\" for milter_socket: expected unix:/path" },
	{ "milter_socket = /run/x.sock\n",
	  "t.conf:1: bad value \"/run/x.sock\" for milter_socket" },
	{ "milter_socket = unix:run/x.sock\n",
	  "t.conf:1: bad value \"unix:run/x.sock\" for milter_socket" },
	{ "milter_socket = inet:\n",
	  "t.conf:1: bad value \"inet:\" for milter_socket" },
	/* milter_socket as a whole (issue 9, items 2 and 8): nothing that
	 * main.cf's smtpd_milters would read as syntax */
	{ "milter_socket = unix:/tmp/pm.sock, inet:evil.example:9999\n",
	  "t.conf:1: bad value \"unix:/tmp/pm.sock, inet:evil.example:9999\" "
	  "for milter_socket: comma in the socket name" },
	{ "milter_socket = unix:/tmp/pm.sock,inet:9999@127.0.0.1\n",
	  "t.conf:1: bad value \"unix:/tmp/pm.sock,inet:9999@127.0.0.1\" "
	  "for milter_socket: comma in the socket name" },
	{ "milter_socket = { inet:127.0.0.1:1, default_action=accept }\n",
	  "for milter_socket: brace in the socket name" },
	{ "milter_socket = {inet:127.0.0.1:1,default_action=accept}\n",
	  "for milter_socket: brace in the socket name" },
	{ "milter_socket = $myhostname\n",
	  "t.conf:1: bad value \"$myhostname\" for milter_socket: '$' in the "
	  "socket name" },
	{ "milter_socket = inet:8891@$myhostname\n",
	  "for milter_socket: '$' in the socket name" },
	{ "milter_socket = unix:/tmp/x.sock\tinet:1@h\n",
	  "for milter_socket: blank in the socket name" },
	{ "milter_socket = unix:/tmp/x.sock inet:1@h\n",
	  "for milter_socket: blank in the socket name" },
	{ "milter_socket = inet:99999@host\n",
	  "t.conf:1: bad value \"inet:99999@host\" for milter_socket: port "
	  "\"99999\" is not a number in 1..65535" },
	{ "milter_socket = inet:0@host\n", "port \"0\" is not a number" },
	{ "milter_socket = inet:-1@host\n", "port \"-1\" is not a number" },
	{ "milter_socket = inet:+25@host\n", "port \"+25\" is not a number" },
	{ "milter_socket = inet:smtp@host\n", "port \"smtp\" is not a number" },
	{ "milter_socket = inet:@host\n", "expected inet:PORT@HOST" },
	{ "milter_socket = inet6:\n", "expected inet6:PORT@HOST" },
	{ "milter_socket = inet:8891@\n", "host after '@' must be" },
	{ "milter_socket = inet:8891@::1\n",
	  "host after '@' must be a host name (letters, digits, '.', '-', "
	  "'_') or an IPv4 address" },
	{ "milter_socket = inet6:8891@127.0.0.1:25\n",
	  "host after '@' must be a host name" },
	{ "milter_socket = inet:8891@host@x\n", "host after '@' must be" },
	{ "milter_socket = inet:8891@[host]\n", "host after '@' must be" },
	{ "milter_socket = inet:8891@-x\n", "host after '@' must be" },
	{ "milter_socket = inet:8891@999.0.0.1\n", "host after '@' must be" },
	{ "milter_socket = inet:8891@127.000.0.1\n", "host after '@' must be" },
	{ "milter_socket = inet6:8891@127.0.0.1\n", "host after '@' must be" },
	{ "milter_socket = inet6:8891@fe80::1%eth0\n", "host after '@' must be" },
	{ "milter_socket = unix:/var/spool/postfix/../../tmp/pm.sock\n",
	  "t.conf:1: bad value \"unix:/var/spool/postfix/../../tmp/pm.sock\" "
	  "for milter_socket: \"..\" in the socket path" },
	{ "milter_socket = unix:/var/spool/postfix/pm/..\n",
	  "\"..\" in the socket path" },
	{ "milter_socket = unix:/..//x.sock\n", "\"..\" in the socket path" },
	{ "milter_socket = unix:/\n", "unix: needs an absolute path" },
	{ "milter_socket = unix:\n", "unix: needs an absolute path" },
	{ "milter_socket = unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
	  "socket path longer than 107 bytes" },
	{ "journal_directory = var/lib/j\n", "t.conf:1: bad value \"var/lib/j\" "
	  "for journal_directory: expected an absolute path" },
	{ "database =\n", "t.conf:1: bad value \"\" for database: expected" },
	{ "node_name = my host\n",
	  "t.conf:1: bad value \"my host\" for node_name: expected a host name" },
	{ "local_domains = example.com, exa..mple.com\n",
	  "t.conf:1: bad value \"example.com, exa..mple.com\" for local_domains:"
	  " bad domain \"exa..mple.com\"" },
	{ "relay_domains = .\n",
	  "t.conf:1: bad value \".\" for relay_domains: bad domain \".\"" },
	{ "relay_domains = *.example.com\n",
	  "t.conf:1: bad value \"*.example.com\" for relay_domains" },
	{ "node_name = a\rb\n",
	  "t.conf:1: control character in the value of \"node_name\"" },
	/* like: syntax */
	{ "[port 25]\nlike = abc\n", "t.conf:2: bad value \"abc\" for like: "
	  "expected a decimal number in 1..65535" },
	{ "[port 25]\nlike = 0\n", "t.conf:2: bad value \"0\" for like" },
	{ "[port 25]\nlike = 70000\n", "t.conf:2: bad value \"70000\" for like" },
	{ "[port 25]\nlike = +587\n", "t.conf:2: bad value \"+587\" for like" },
	/* duplicates */
	{ "database = a\n# x\ndatabase = b\n",
	  "t.conf:3: duplicate key \"database\" in the global part (before any "
	  "[port N]) (first set at line 1)" },
	{ "[port 25]\nmode = mx\nmode = mx\n",
	  "t.conf:3: duplicate key \"mode\" in [port 25] (first set at line 2)" },
	{ "[port 25]\n[port 587]\n\n[port 25]\n",
	  "t.conf:4: duplicate section [port 25] (first at line 1)" },
	{ "[port 25]\n[port 25]\nmode = mx\nmode = mx\n",
	  "t.conf:4: duplicate key \"mode\" in [port 25] (first set at line 3)" },
	/* port numbers in headers */
	{ "[port 0]\n", "t.conf:1: bad port \"0\" in section header: expected "
	  "a decimal number in 1..65535" },
	{ "\n[port 65536]\n", "t.conf:2: bad port \"65536\" in section header" },
	{ "[port 25x]\n", "t.conf:1: bad port \"25x\"" },
	{ "[port +25]\n", "t.conf:1: bad port \"+25\"" },
	{ "[port -25]\n", "t.conf:1: bad port \"-25\"" },
	{ "[port  ]\n", "t.conf:1: bad port \"\"" },
	{ "[port 2 5]\n", "t.conf:1: bad port \"2 5\"" },
	{ "[port 0x19]\n", "t.conf:1: bad port \"0x19\"" },
	{ "[port 99999999999999999999]\n",
	  "t.conf:1: bad port \"99999999999999999999\"" },
	/* malformed headers */
	{ "[port 25\n", "t.conf:1: malformed section header \"[port 25\": "
	  "expected \"[port N]\"" },
	{ "[prt 25]\n", "t.conf:1: malformed section header" },
	{ "[port25]\n", "t.conf:1: malformed section header" },
	{ "[PORT 25]\n", "t.conf:1: malformed section header" },
	{ "[port 25] # smtp\n", "t.conf:1: malformed section header" },
	{ "[port]\n", "t.conf:1: malformed section header" },
	{ "[]\n", "t.conf:1: malformed section header" },
	{ "[\n", "t.conf:1: malformed section header" },
	/* portmilter-watch's sections: syntax checked here, keys by it */
	{ "[detector]\n", "t.conf:1: malformed section header" },
	{ "[detector Many]\n", "t.conf:1: malformed section header "
	  "\"[detector Many]\": expected \"[detector NAME]\"" },
	{ "[detector a b]\n", "t.conf:1: malformed section header" },
	{ "[Watch]\n", "t.conf:1: malformed section header" },
	{ "[watch]\na = 1\n[watch]\n",
	  "t.conf:3: duplicate section [watch] (first at line 1)" },
	{ "[detector x]\n[port 25]\n[ detector  x ]\n",
	  "t.conf:3: duplicate section [detector x] (first at line 1)" },
	{ "[watch]\na = 1\na = 2\n",
	  "t.conf:3: duplicate key \"a\" in [watch] (first set at line 2)" },
	{ "[detector x]\nwindow = 1h\n  more\nwindow = 2h\n",
	  "t.conf:4: duplicate key \"window\" in [detector x]" },
	{ "[watch]\nnoequals\n", "t.conf:2: missing \"=\"" },
	{ "[watch]\n= 1\n", "t.conf:2: empty key" },
	{ "[watch]\na = x\x01y\n", "t.conf:2: control character in the value "
	  "of \"a\"" },
	/* after [watch], a global key is the watch's, a port key needs [port] */
	{ "[watch]\n[port 25]\nfoo = 1\n",
	  "t.conf:3: unknown key \"foo\" in [port 25]" },
	/* scope */
	{ "[port 25]\ndatabase = x\n", "t.conf:2: \"database\" is a global "
	  "key: it must come before the first [port N] section" },
	{ "[port 25]\nmode = mx\n[port 587]\nunknown_port = reject\n",
	  "t.conf:4: \"unknown_port\" is a global key" },
	{ "mode = mx\n", "t.conf:1: \"mode\" is a per-port key: it must be "
	  "inside a [port N] section" },
	{ "# x\nlike = 25\n[port 25]\n", "t.conf:2: \"like\" is a per-port key" },
	/* syntax */
	{ "[port 25]\nmode mx\n", "t.conf:2: missing \"=\" in \"mode mx\": "
	  "expected \"key = value\"" },
	{ "= x\n", "t.conf:1: empty key before \"=\"" },
	{ "[port 25]\n  = x\nmode = mx\n=\n", "t.conf:4: empty key" },
	/* like targets */
	{ "[port 25]\nmode = mx\nlike = 25\n", "t.conf:3: like loop" },
	{ "[port 5870]\nlike = 587\n",
	  "t.conf:2: like = 587: there is no [port 587] section" },
	{ "[port 25]\nmode = mx\n[port 5870]\n# comment\nlike = 587\n",
	  "t.conf:5: like = 587: there is no [port 587] section" },
	/* continuation lines */
	{ "  mode = mx\n", "t.conf:1: continuation line" },
	{ "# c\n\tdatabase = x\n", "t.conf:2: continuation line" },
	{ "[port 25]\n  mode = mx\n", "t.conf:2: continuation line" },
	{ "[port 25]\nclient_networks = 10.0.0.0/8,\n  10.1.0.0/99\n",
	  "t.conf:2: bad value \"10.0.0.0/8, 10.1.0.0/99\" for client_networks" },
	/* CIDRs (issue 9, item 6): no sign, no junk, no host bits */
	{ "[port 25]\nmode = mx\nrelay_networks = 192.0.2.7/-0\n",
	  "t.conf:3: bad value \"192.0.2.7/-0\" for relay_networks: bad network "
	  "\"192.0.2.7/-0\": prefix length must be 0..32" },
	{ "[port 25]\nclient_networks = 192.0.2.7/-0\n",
	  "t.conf:2: bad value \"192.0.2.7/-0\" for client_networks" },
	{ "[port 25]\nrelay_networks = 10.0.0.0/+8\n", "prefix length must be" },
	{ "[port 25]\nrelay_networks = ::/-0\n", "prefix length must be 0..128" },
	{ "[port 25]\nrelay_networks = 10.0.0.0/08\n", "prefix length must be" },
	{ "[port 25]\nrelay_networks = 10.0.0.0/8.0\n", "prefix length must be" },
	{ "[port 25]\nrelay_networks = 010.0.0.0/8\n", "malformed address" },
	{ "[port 25]\nrelay_networks = 10.0.0.1/8\n",
	  "t.conf:2: bad value \"10.0.0.1/8\" for relay_networks: bad network "
	  "\"10.0.0.1/8\": host bits set after the prefix (did you mean "
	  "10.0.0.0/8?)" },
	{ "[port 25]\nclient_networks = 192.0.2.0/24 2001:db8::1/32\n",
	  "host bits set after the prefix (did you mean 2001:db8::/32?)" },
	{ "[port 25]\nclient_networks = ::ffff:10.1.2.3/104\n",
	  "(did you mean ::ffff:10.0.0.0/104?)" },
	/* CRLF, and a last line without a newline */
	{ "[port 25]\r\nmode = mx\r\nfoo = 1\r\n",
	  "t.conf:3: unknown key \"foo\" in [port 25]" },
	{ "[port 25]\nmode = mx\nfoo = 1", "t.conf:3: unknown key \"foo\"" },
	/* budgets and sender_login (issue 11; every form in test_budget.c
	 * and test_senderlogin.c) */
	{ "[port 587]\nlimit_messages =\n",
	  "t.conf:2: bad value \"\" for limit_messages: expected none or "
	  "N/WINDOW, like 200/1h, 1000/1d" },
	{ "[port 587]\nlimit_recipients = 5/1x\n",
	  "t.conf:2: bad value \"5/1x\" for limit_recipients: WINDOW must be "
	  "a decimal number and a unit s, m, h or d, from 1s to 30d" },
	{ "[port 587]\nlimit_bytes = 0/1h\n",
	  "t.conf:2: bad value \"0/1h\" for limit_bytes: N must be a decimal "
	  "number of bytes from 1 to 10^12" },
	{ "[port 587]\nlimit_action = defer\n",
	  "t.conf:2: bad value \"defer\" for limit_action: expected tempfail, "
	  "reject or hold" },
	{ "[port 587]\nlimits_enforce = monitor\n",
	  "t.conf:2: bad value \"monitor\" for limits_enforce: expected yes "
	  "or no" },
	{ "[port 587]\nsender_login = yes\n",
	  "t.conf:2: bad value \"yes\" for sender_login: expected none, "
	  "exact, domain or map" },
	{ "limit_classes = classes\n",
	  "t.conf:1: bad value \"classes\" for limit_classes: expected an "
	  "absolute path, or nothing for none" },
	{ "sender_login_map = map\n",
	  "t.conf:1: bad value \"map\" for sender_login_map: expected an "
	  "absolute path, or nothing for none" },
};

static void test_error_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N(err_cases); i++) {
		char *errors = NULL;
		struct cfg *cfg = cfg_parse("t.conf", err_cases[i].text, &errors);

		if (cfg != NULL)
			fail_msg("case %zu accepted:\n%s", i, err_cases[i].text);
		if (errors == NULL || strstr(errors, err_cases[i].want) == NULL)
			fail_msg("case %zu: want \"%s\" in:\n%s", i,
				 err_cases[i].want, errors ? errors : "(null)");
		/* one line per problem, each ending in a newline */
		assert_true(errors[strlen(errors) - 1] == '\n');
		assert_int_equal(strncmp(errors, "t.conf:", 7), 0);
		free(errors);
		/* errors == NULL is allowed */
		assert_null(cfg_parse("t.conf", err_cases[i].text, NULL));
	}
}

/* [watch] and [detector NAME]: kept as text in file order, with their
 * lines, continuations joined; the port sections around them intact. */
static void test_other_sections(void **state)
{
	const char *text =
		"database = dbname=pm\n"
		"[watch]\n"
		"interval = 5s\n"
		"webhook_url = https://h.example/x\n"
		"  /more\n"
		"# a comment\n"
		"[port 25]\n"
		"mode = mx\n"
		"[detector many_places]\n"
		"action = suspend\n"
		"[port 587]\n"
		"max_recipients = 7\n";
	char *errors = NULL;
	struct cfg *cfg = cfg_parse("t.conf", text, &errors);

	(void)state;
	if (cfg == NULL)
		fail_msg("refused: %s", errors ? errors : "(null)");
	assert_int_equal(cfg->nsections, 2);
	assert_string_equal(cfg->sections[0].name, "watch");
	assert_string_equal(cfg->sections[0].arg, "");
	assert_int_equal(cfg->sections[0].line, 2);
	assert_int_equal(cfg->sections[0].n, 2);
	assert_string_equal(cfg->sections[0].v[0].key, "interval");
	assert_string_equal(cfg->sections[0].v[0].value, "5s");
	assert_int_equal(cfg->sections[0].v[0].line, 3);
	assert_string_equal(cfg->sections[0].v[1].value,
			    "https://h.example/x /more");
	assert_string_equal(cfg->sections[1].name, "detector");
	assert_string_equal(cfg->sections[1].arg, "many_places");
	assert_int_equal(cfg->sections[1].v[0].line, 10);
	assert_int_equal(cfg->nports, 2);
	assert_int_equal(cfg_port_find(cfg, 25)->mode, CFG_MODE_MX);
	assert_int_equal(cfg_port_find(cfg, 587)->max_recipients, 7);
	assert_string_equal(cfg->database, "dbname=pm");
	cfg_unref(cfg);
}

/* cfg_socket_check() (milter_socket, portmilter -p): what passes. */
static void test_socket_forms(void **state)
{
	static const char *const good[] = {
		"unix:/var/spool/postfix/portmilter/portmilter.sock",
		"unix:/x", "unix:/a/..b/c..", "unix:/a/.../b", "unix:/a/./b",
		"inet:8891", "inet:1@localhost", "inet:65535@127.0.0.1",
		"inet:8891@[127.0.0.1]", "inet:8891@mail-1.example_x.test",
		"inet6:8891", "inet6:8891@::1", "inet6:8891@[::]",
		"inet6:8891@2001:db8::1", "inet6:8891@mail.example",
	};
	static const char *const bad[] = {
		"", "unix:", "unix:x", "local:/x", "inet", "inet:", "inet:0",
		"inet:65536", "inet:08891x", "inet:8891@", "inet:8891@[::1]",
		"inet:8891@a b", "inet:8891@a,b", "inet6:8891@[127.0.0.1]",
		"unix:/a/../b", "unix:/..", "unix:/x\x01", "unix:/x\x7f",
		"unix:/x}", "unix:/x{", "unix:/$x", "inet:8891@$h",
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < N(good); i++)
		if (!cfg_socket_check(good[i], why, sizeof(why)))
			fail_msg("\"%s\" refused: %s", good[i], why);
	for (size_t i = 0; i < N(bad); i++) {
		why[0] = '\0';
		if (cfg_socket_check(bad[i], why, sizeof(why)))
			fail_msg("\"%s\" accepted", bad[i]);
		assert_true(why[0] != '\0');
	}
}

/* A loop is reported at the "like" line of every port in it. */
static void test_like_loops(void **state)
{
	static const char two[] =
		"[port 25]\n"		/* 1 */
		"like = 587\n"		/* 2 */
		"[port 587]\n"		/* 3 */
		"mode = submission\n"	/* 4 */
		"like = 25\n";		/* 5 */
	static const char three[] =
		"[port 1]\nlike = 2\n"	/* 1, 2 */
		"[port 2]\nlike = 3\n"	/* 3, 4 */
		"[port 3]\nlike = 1\n"	/* 5, 6 */
		"[port 4]\nlike = 1\n";	/* 7, 8: leads into the loop */
	char *errors;

	(void)state;
	assert_null(cfg_parse("t.conf", two, &errors));
	assert_non_null(strstr(errors, "t.conf:2: like loop"));
	assert_non_null(strstr(errors, "t.conf:5: like loop"));
	assert_int_equal(count_lines(errors), 2);
	free(errors);

	assert_null(cfg_parse("t.conf", three, &errors));
	assert_non_null(strstr(errors, "t.conf:2: like loop"));
	assert_non_null(strstr(errors, "t.conf:4: like loop"));
	assert_non_null(strstr(errors, "t.conf:6: like loop"));
	assert_null(strstr(errors, "t.conf:8:"));
	free(errors);
}

/* Every problem of a file at once, sorted by line. */
static void test_many_errors(void **state)
{
	static const char text[] =
		"database = x\n"		/* 1 */
		"foo = 1\n"			/* 2: unknown */
		"mode = mx\n"			/* 3: per-port outside */
		"[port 25]\n"			/* 4 */
		"mode = mx\n"			/* 5 */
		"mode = submission\n"		/* 6: duplicate */
		"database = y\n"		/* 7: global in section */
		"like = 26\n"			/* 8: no such section */
		"[port 99999]\n"		/* 9: out of range */
		"enabled = maybe\n"		/* 10: still checked */
		"[port 587]\n"			/* 11 */
		"max_recipients = 0\n"		/* 12: range */
		"no equals sign\n"		/* 13 */
		"[port 25]\n";			/* 14: duplicate section */
	static const unsigned lines[] = { 2, 3, 6, 7, 8, 9, 10, 12, 13, 14 };
	char *errors, want[32];
	const char *prev = NULL, *at;

	(void)state;
	assert_null(cfg_parse("t.conf", text, &errors));
	assert_int_equal(count_lines(errors), N(lines));
	for (size_t i = 0; i < N(lines); i++) {
		snprintf(want, sizeof(want), "t.conf:%u: ", lines[i]);
		at = strstr(errors, want);
		if (at == NULL || (prev != NULL && at < prev))
			fail_msg("missing or out of order: %s in\n%s", want,
				 errors);
		prev = at;
	}
	free(errors);
}

/* Physical lines: 4096 bytes are fine, 4097 are not. */
static void test_long_lines(void **state)
{
	size_t len = 5000;
	char *text = malloc(3 * len), *errors;
	struct cfg *cfg;

	(void)state;
	assert_non_null(text);
	/* a 4096-byte comment, LF and CRLF */
	snprintf(text, 3 * len, "[port 25]\n# %0*d\nmode = mx\n# %0*d\r\n",
		 4094, 0, 4094, 0);
	cfg = parse_ok(text);
	cfg_unref(cfg);
	/* a 4097-byte line at line 3 */
	snprintf(text, 3 * len, "[port 25]\nmode = mx\n# %0*d\n", 4095, 0);
	assert_null(cfg_parse("t.conf", text, &errors));
	assert_non_null(strstr(errors, "t.conf:3: line too long"));
	assert_int_equal(count_lines(errors), 1);
	free(errors);
	/* a long value continued: the line that is too long is reported,
	 * its logical line dropped, later errors still found */
	snprintf(text, 3 * len, "[port 25]\nclient_networks = 10.0.0.0/8\n"
		 " %0*d\nfoo = 1\n", 4097, 0);
	assert_null(cfg_parse("t.conf", text, &errors));
	assert_non_null(strstr(errors, "t.conf:3: line too long"));
	assert_non_null(strstr(errors, "t.conf:4: unknown key \"foo\""));
	assert_int_equal(count_lines(errors), 2);
	free(errors);
	free(text);
}

static char tmpdir[64];

static char *write_tmp(const char *name, const char *data, size_t len)
{
	static char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	return path;
}

static int setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_tmp(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/dir", tmpdir);
	rmdir(path);
	return rmdir(tmpdir);
}

/* cfg_load: NUL bytes, unreadable files, and a good file. */
static void test_load(void **state)
{
	static const char nul[] = "[port 25]\n# fine\nmode = m\0x\nfoo = 1\n";
	static const char good[] = "[port 25]\nmode = mx\n";
	char *errors, want[200], dir[128];
	const char *path;
	struct cfg *cfg;

	(void)state;
	path = write_tmp("t.conf", nul, sizeof(nul) - 1);
	assert_null(cfg_load(path, &errors));
	snprintf(want, sizeof(want), "%s:3: NUL byte", path);
	assert_non_null(strstr(errors, want));
	snprintf(want, sizeof(want), "%s:4: unknown key \"foo\"", path);
	assert_non_null(strstr(errors, want));
	assert_int_equal(count_lines(errors), 2);
	free(errors);

	snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
	assert_null(cfg_load(want, &errors));
	assert_non_null(strstr(errors, want));
	assert_non_null(strstr(errors, strerror(ENOENT)));
	free(errors);

	snprintf(dir, sizeof(dir), "%s/dir", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_null(cfg_load(dir, &errors));
	assert_non_null(strstr(errors, dir));
	assert_non_null(strstr(errors, strerror(EISDIR)));
	free(errors);

	path = write_tmp("t.conf", good, sizeof(good) - 1);
	cfg = cfg_load(path, &errors);
	assert_non_null(cfg);
	assert_null(errors);
	assert_string_equal(cfg->path, path);
	assert_int_equal(cfg->nports, 1);
	assert_int_equal(cfg->ports[0].mode, CFG_MODE_MX);
	cfg_unref(cfg);
}

/* ------------------------------------------------------------------ */
/* Valid files: effective values.                                     */

static void test_empty_defaults(void **state)
{
	static const char *const transports[] = { "local", "virtual", "lmtp" };
	static const struct want strict = SUB(0, 0);
	struct cfg *cfg = parse_ok("# nothing\n\n   \n");

	(void)state;
	assert_string_equal(cfg->path, "t.conf");
	assert_string_equal(cfg->milter_socket,
			    "unix:/var/spool/postfix/portmilter/portmilter.sock");
	assert_string_equal(cfg->database, "dbname=portmilter");
	assert_string_equal(cfg->journal_directory,
			    "/var/lib/portmilter/journal");
	assert_true(cfg->journal_max_size == 1024ULL * 1024 * 1024);
	assert_int_equal(cfg->journal_full_action, CFG_FULL_TEMPFAIL);
	assert_string_equal(cfg->node_name, "");
	assert_int_equal(cfg->local_domains.n, 0);
	assert_int_equal(cfg->relay_domains.n, 0);
	check_list(&cfg->local_transports, transports, N(transports));
	assert_int_equal(cfg->unknown_port, CFG_UNKNOWN_STRICT);
	assert_int_equal(cfg->milter_default_action, CFG_MA_TEMPFAIL);
	assert_true(cfg->postfix_chroot);
	assert_string_equal(cfg->metrics_listen, "none");
	assert_string_equal(cfg->postfix_log, "");
	assert_int_equal(cfg->nports, 0);
	check_profile(&cfg->strict, &strict);
	check_relay(&cfg->strict, "");
	assert_string_equal(cfg->strict.listen, "all");
	assert_int_equal(cfg->strict.line, 0);
	assert_null(cfg_port_find(cfg, 25));
	cfg_unref(cfg);
}

/* metrics_listen: the forms accepted, and what they parse to. */
static void test_metrics_listen(void **state)
{
	struct cfg *cfg = parse_ok("metrics_listen = [::1]:9465\n");
	struct pm_addr a;
	unsigned port = 0;
	char text[64];

	(void)state;
	assert_string_equal(cfg->metrics_listen, "[::1]:9465");
	assert_true(cfg_hostport_parse(cfg->metrics_listen, &a, &port));
	assert_int_equal(port, 9465);
	assert_string_equal(addr_to_text(&a, text, sizeof(text)), "::1");
	cfg_unref(cfg);
	cfg = parse_ok("metrics_listen = 127.0.0.1:65535\n");
	assert_true(cfg_hostport_parse(cfg->metrics_listen, &a, &port));
	assert_int_equal(port, 65535);
	assert_string_equal(addr_to_text(&a, text, sizeof(text)), "127.0.0.1");
	cfg_unref(cfg);
	cfg = parse_ok("metrics_listen = none\n");
	assert_string_equal(cfg->metrics_listen, "none");
	cfg_unref(cfg);
}

static void test_mode_defaults(void **state)
{
	static const char text[] =
		"[port 25]\nmode = mx\n"
		"[port 587]\nmode = submission\n"
		"[port 465]\nmode = submissions\n"
		"[port 2000]\n"			/* neither: submission */
		"[port 2001]\nenabled = no\n";
	static const struct want want[] = {
		MX(25, 0), SUB(587, 0), SUBS(465, 0), SUB(2000, 0),
		{ 2001, CFG_MODE_SUBMISSION, false, true, true, true, false,
		  PM_TLS_1_2, 100, 0, ANY },
	};
	static const unsigned lines[] = { 1, 3, 5, 7, 8 };
	struct cfg *cfg = parse_ok(text);

	(void)state;
	assert_int_equal(cfg->nports, N(want));
	for (size_t i = 0; i < N(want); i++) {
		check_profile(cfg_port_find(cfg, want[i].port), &want[i]);
		assert_int_equal(cfg_port_find(cfg, want[i].port)->line,
				 lines[i]);
	}
	cfg_unref(cfg);
}

/* Every key explicitly set, against its mode's default. */
static void test_all_keys(void **state)
{
	static const char text[] =
		"[port 2525]\n"
		"mode = mx\n"
		"enabled = no\n"
		"require_tls = yes\n"
		"require_auth = yes\n"
		"tls_before_auth = no\n"
		"allow_unauth_relay = yes\n"
		"min_tls_version = tlsv1.3\n"
		"client_networks = 192.0.2.1 2001:db8::/32, 10.0.0.0/8\n"
		"relay_networks = 192.0.2.1, 2001:db8::/48\n"
		"max_recipients = 100000\n"
		"listen = ::1\n"
		"[port 65535]\nmode = submissions\nmin_tls_version = TLSv1\n"
		"max_recipients = 1\n"
		"[port 1]\nmin_tls_version = none\nrequire_tls = no\n";
	static const struct want want[] = {
		{ 2525, CFG_MODE_MX, false, true, true, false, true, PM_TLS_1_3,
		  100000, 0, "192.0.2.1/32,2001:db8::/32,10.0.0.0/8" },
		{ 65535, CFG_MODE_SUBMISSIONS, true, true, true, true, false,
		  PM_TLS_1_0, 1, 0, ANY },
		{ 1, CFG_MODE_SUBMISSION, true, false, true, true, false,
		  PM_TLS_NONE, 100, 0, ANY },
	};
	struct cfg *cfg = parse_ok(text);

	(void)state;
	for (size_t i = 0; i < N(want); i++)
		check_profile(cfg_port_find(cfg, want[i].port), &want[i]);
	assert_string_equal(cfg_port_find(cfg, 2525)->listen, "::1");
	assert_string_equal(cfg_port_find(cfg, 65535)->listen, "all");
	check_relay(cfg_port_find(cfg, 2525), "192.0.2.1/32,2001:db8::/48");
	check_relay(cfg_port_find(cfg, 65535), "");
	cfg_unref(cfg);
}

/* The Postfix-side keys: every value, and listen through "like". */
static void test_postfix_keys(void **state)
{
	static const char *const actions[] = {
		"tempfail", "accept", "reject", "quarantine",
	};
	char text[256];
	struct cfg *cfg;

	(void)state;
	for (size_t i = 0; i < N(actions); i++) {
		snprintf(text, sizeof(text), "milter_default_action = %s\n"
			 "postfix_chroot = no\npostfix_log = /var/log/mail.log\n",
			 actions[i]);
		cfg = parse_ok(text);
		assert_string_equal(cfg->postfix_log, "/var/log/mail.log");
		assert_int_equal(cfg->milter_default_action, (int)i);
		assert_string_equal(cfg_milter_action_name(
				    cfg->milter_default_action), actions[i]);
		assert_false(cfg->postfix_chroot);
		cfg_unref(cfg);
	}
	assert_string_equal(cfg_milter_action_name((enum cfg_milter_action)9),
			    "unknown");
	/* the systemd journal, the system's or a directory's */
	cfg = parse_ok("postfix_log = journal\n");
	assert_string_equal(cfg->postfix_log, "journal");
	cfg_unref(cfg);
	cfg = parse_ok("postfix_log = journal:/var/log/journal/remote\n");
	assert_string_equal(cfg->postfix_log, "journal:/var/log/journal/remote");
	cfg_unref(cfg);
	cfg = parse_ok("[port 587]\nlisten = 127.0.0.1\n"
		       "[port 5870]\nlike = 587\n"
		       "[port 12345]\nlike = 587\nlisten = [2001:db8::1]\n"
		       "[port 25]\nmode = mx\n");
	assert_string_equal(cfg_port_find(cfg, 587)->listen, "127.0.0.1");
	assert_string_equal(cfg_port_find(cfg, 5870)->listen, "127.0.0.1");
	assert_string_equal(cfg_port_find(cfg, 12345)->listen,
			    "[2001:db8::1]");
	assert_string_equal(cfg_port_find(cfg, 25)->listen, "all");
	cfg_unref(cfg);
}

/*
 * like: the target's own keys first (recursively), then this section's,
 * then the defaults of the resulting mode. Sections may come in any
 * order; ports[] is sorted.
 */
static void test_inheritance(void **state)
{
	static const char text[] =
		"[port 300]\nlike = 200\nmax_recipients = 7\n"
		"[port 200]\nlike = 100\nenabled = no\n"
		"[port 100]\nmode = mx\nrequire_tls = yes\nmax_recipients = 50\n"
		"client_networks = 192.0.2.0/24\n"
		/* mode changed after like: defaults of the new mode */
		"[port 25]\nmode = mx\nrequire_auth = no\n"
		"[port 2525]\nlike = 25\nmode = submission\n"
		"[port 26]\nmode = mx\n"
		"[port 2626]\nlike = 26\nmode = submission\n"
		/* mode inherited through a chain, overridden at the end */
		"[port 10]\nmode = submissions\nmin_tls_version = TLSv1.3\n"
		"[port 11]\nlike = 10\n"
		"[port 12]\nlike = 11\nmode = mx\n"
		"[port 13]\nlike = 12\nmode = submission\n"
		/* like to a port whose profile only has defaults */
		"[port 587]\n"
		"[port 5870]\nlike = 587\n";
	static const struct want want[] = {
		{ 10, CFG_MODE_SUBMISSIONS, true, true, true, true, false,
		  PM_TLS_1_3, 100, 0, ANY },
		{ 11, CFG_MODE_SUBMISSIONS, true, true, true, true, false,
		  PM_TLS_1_3, 100, 10, ANY },
		{ 12, CFG_MODE_MX, true, false, false, true, false,
		  PM_TLS_1_3, 1000, 11, ANY },
		{ 13, CFG_MODE_SUBMISSION, true, true, true, true, false,
		  PM_TLS_1_3, 100, 12, ANY },
		{ 25, CFG_MODE_MX, true, false, false, true, false,
		  PM_TLS_NONE, 1000, 0, ANY },
		MX(26, 0),
		{ 100, CFG_MODE_MX, true, true, false, true, false,
		  PM_TLS_NONE, 50, 0, "192.0.2.0/24" },
		{ 200, CFG_MODE_MX, false, true, false, true, false,
		  PM_TLS_NONE, 50, 100, "192.0.2.0/24" },
		{ 300, CFG_MODE_MX, false, true, false, true, false,
		  PM_TLS_NONE, 7, 200, "192.0.2.0/24" },
		SUB(587, 0),
		/* require_auth = no was written in 25's section */
		{ 2525, CFG_MODE_SUBMISSION, true, true, false, true, false,
		  PM_TLS_1_2, 100, 25, ANY },
		SUB(2626, 26),
		SUB(5870, 587),
	};
	struct cfg *cfg = parse_ok(text);

	(void)state;
	assert_int_equal(cfg->nports, N(want));
	/* sorted: want[] is in port order */
	for (size_t i = 0; i < N(want); i++)
		check_profile(&cfg->ports[i], &want[i]);
	assert_int_equal(cfg_port_find(cfg, 300)->line, 1);
	assert_int_equal(cfg_port_find(cfg, 200)->line, 4);
	assert_int_equal(cfg_port_find(cfg, 100)->line, 7);
	cfg_unref(cfg);
}

/*
 * relay_networks: empty by default in every mode, "none" or nothing for
 * an empty list, IPv4-mapped networks folded to IPv4, inherited through
 * "like" like every other key (a mode change does not reset it).
 */
static void test_relay_networks(void **state)
{
	static const char text[] =
		"[port 25]\nmode = mx\n"
		"relay_networks = 127.0.0.0/8 ::1/128, ::ffff:10.1.2.3\n"
		"   2001:db8::/32\n"
		"[port 2525]\nlike = 25\n"
		"[port 2526]\nlike = 25\nrelay_networks = none\n"
		"[port 2527]\nlike = 2526\n"
		"[port 2528]\nlike = 25\nmode = submission\n"
		"[port 2529]\nlike = 2525\nrelay_networks = 192.0.2.7\n"
		"[port 2530]\nmode = mx\nrelay_networks =\n"
		"[port 587]\nmode = submission\n"
		"[port 465]\nmode = submissions\n"
		"[port 2000]\n";
	static const char lo[] = "127.0.0.0/8,::1/128,10.1.2.3/32,2001:db8::/32";
	static const struct {
		unsigned port;
		const char *relay;
	} want[] = {
		{ 25, lo }, { 2525, lo }, { 2526, "" }, { 2527, "" },
		{ 2528, lo }, { 2529, "192.0.2.7/32" }, { 2530, "" },
		{ 587, "" }, { 465, "" }, { 2000, "" },
	};
	struct cfg *cfg = parse_ok(text);
	const struct cfg_port *p;
	struct pm_addr a;

	(void)state;
	for (size_t i = 0; i < N(want); i++)
		check_relay(cfg_port_find(cfg, want[i].port), want[i].relay);
	check_relay(&cfg->strict, "");
	/* the rest of 2528 follows its own mode */
	p = cfg_port_find(cfg, 2528);
	assert_int_equal(p->mode, CFG_MODE_SUBMISSION);
	assert_true(p->require_auth);
	/* cfg_nets_has: the lookup the policy uses */
	p = cfg_port_find(cfg, 25);
	assert_true(addr_parse("127.1.2.3", &a));
	assert_true(cfg_nets_has(&p->relay_networks, &a));
	assert_true(addr_parse("::ffff:10.1.2.3", &a));
	assert_true(cfg_nets_has(&p->relay_networks, &a));
	assert_true(addr_parse("10.1.2.4", &a));
	assert_false(cfg_nets_has(&p->relay_networks, &a));
	assert_true(addr_parse("2001:db8:ffff::1", &a));
	assert_true(cfg_nets_has(&p->relay_networks, &a));
	assert_true(addr_parse("::2", &a));
	assert_false(cfg_nets_has(&p->relay_networks, &a));
	memset(&a, 0, sizeof(a));
	assert_false(cfg_nets_has(&p->relay_networks, &a));
	assert_false(cfg_nets_has(&cfg_port_find(cfg, 2000)->networks, &a));
	assert_false(cfg_nets_has(NULL, &a));
	assert_false(cfg_nets_has(&p->relay_networks, NULL));
	assert_true(addr_parse("127.0.0.1", &a));
	assert_false(cfg_nets_has(&cfg_port_find(cfg, 2526)->relay_networks,
				  &a));
	cfg_unref(cfg);
}

/* Continuation lines, list splitting and domain normalisation. */
static void test_continuation_lists(void **state)
{
	static const char text[] =
		"local_domains = Example.COM.,\n"
		"  .Sub.Example.org\n"
		"\tx.net,,\n"
		"# a comment does not end the logical line\n"
		"\n"
		"   y.net\n"
		"relay_domains = relay.example\n"
		"local_transports = local,lmtp\t, dovecot\n"
		"[port 25]\n"
		"mode = mx\n"
		"client_networks = 192.0.2.1\n"
		"   2001:db8::/32, 10.0.0.0/8\n";
	static const char *const local[] = {
		"example.com", ".sub.example.org", "x.net", "y.net",
	};
	static const char *const relay[] = { "relay.example" };
	static const char *const transports[] = { "local", "lmtp", "dovecot" };
	static const struct want mx = {
		25, CFG_MODE_MX, true, false, false, true, false, PM_TLS_NONE,
		1000, 0, "192.0.2.1/32,2001:db8::/32,10.0.0.0/8"
	};
	struct cfg *cfg = parse_ok(text);

	(void)state;
	check_list(&cfg->local_domains, local, N(local));
	check_list(&cfg->relay_domains, relay, N(relay));
	check_list(&cfg->local_transports, transports, N(transports));
	check_profile(cfg_port_find(cfg, 25), &mx);
	assert_int_equal(cfg_port_find(cfg, 25)->line, 9);
	cfg_unref(cfg);
}

/* CRLF, trailing blanks, indented comments, '#' inside a value. */
static void test_crlf_comments(void **state)
{
	static const char text[] =
		"# portmilter.conf written on Windows\r\n"
		"milter_socket = inet:8891@127.0.0.1  \r\n"
		"database = host=/run/pg dbname=pm # not a comment \t\r\n"
		"    # an indented comment\r\n"
		"journal_directory=/tmp/j\r\n"
		"journal_max_size = 64k\r\n"
		"journal_full_action = drop\r\n"
		"node_name = mx1.Example.net\r\n"
		"unknown_port = reject\r\n"
		"\r\n"
		"[port 587] \r\n"
		"mode = submission\r\n"
		"\r\n"
		"[port 5870]\r\n"
		"like = 587\r\n";
	static const struct want want[] = { SUB(587, 0), SUB(5870, 587) };
	struct cfg *cfg = parse_ok(text);

	(void)state;
	assert_string_equal(cfg->milter_socket, "inet:8891@127.0.0.1");
	assert_string_equal(cfg->database,
			    "host=/run/pg dbname=pm # not a comment");
	assert_string_equal(cfg->journal_directory, "/tmp/j");
	assert_true(cfg->journal_max_size == 65536);
	assert_int_equal(cfg->journal_full_action, CFG_FULL_DROP);
	assert_string_equal(cfg->node_name, "mx1.Example.net");
	assert_int_equal(cfg->unknown_port, CFG_UNKNOWN_REJECT);
	assert_int_equal(cfg->nports, 2);
	for (size_t i = 0; i < N(want); i++)
		check_profile(&cfg->ports[i], &want[i]);
	/* the strict profile does not depend on the file */
	check_profile(&cfg->strict, &(struct want)SUB(0, 0));
	cfg_unref(cfg);
}

/* The shipped etc/portmilter.conf: the seed's layout. */
static void test_shipped_config(void **state)
{
	static const struct want want[] = {
		MX(25, 0), SUBS(465, 0), SUB(587, 0), SUBS(4650, 465),
		SUB(5870, 587), SUB(12345, 587),
	};
	const char *top = getenv("top_srcdir");
	char path[4096], *errors = NULL;
	struct cfg *cfg;

	(void)state;
	assert_non_null(top);
	snprintf(path, sizeof(path), "%s/etc/portmilter.conf", top);
	cfg = cfg_load(path, &errors);
	if (cfg == NULL)
		fail_msg("%s", errors ? errors : "(no error text)");
	assert_int_equal(cfg->nports, N(want));
	for (size_t i = 0; i < N(want); i++)
		check_profile(&cfg->ports[i], &want[i]);
	assert_string_equal(cfg->milter_socket,
			    "unix:/var/spool/postfix/portmilter/portmilter.sock");
	assert_string_equal(cfg->database, "dbname=portmilter");
	assert_int_equal(cfg->unknown_port, CFG_UNKNOWN_STRICT);
	assert_int_equal(cfg->milter_default_action, CFG_MA_TEMPFAIL);
	assert_true(cfg->postfix_chroot);
	for (size_t i = 0; i < cfg->nports; i++) {
		assert_string_equal(cfg->ports[i].listen, "all");
		check_relay(&cfg->ports[i], "");
	}
	cfg_unref(cfg);
}

/* ------------------------------------------------------------------ */
/* Lookups, printing, reference counting.                             */

static void test_port_find(void **state)
{
	struct cfg *cfg = parse_ok("[port 65535]\n[port 587]\n[port 1]\n"
				   "[port 25]\nmode = mx\n");
	static const unsigned order[] = { 1, 25, 587, 65535 };
	static const unsigned miss[] = { 0, 2, 24, 26, 588, 65534, 65536,
					 UINT32_MAX };

	(void)state;
	assert_int_equal(cfg->nports, N(order));
	for (size_t i = 0; i < N(order); i++) {
		assert_int_equal(cfg->ports[i].port, order[i]);
		assert_ptr_equal(cfg_port_find(cfg, order[i]), &cfg->ports[i]);
	}
	for (size_t i = 0; i < N(miss); i++)
		assert_null(cfg_port_find(cfg, miss[i]));
	assert_null(cfg_port_find(NULL, 25));
	cfg_unref(cfg);
}

static void test_print(void **state)
{
	static const char text[] =
		"database = host=db user=pm password=s3cret dbname=pm\n"
		"[port 25]\nmode = mx\nrelay_networks = 127.0.0.0/8 ::1/128\n"
		"[port 587]\nclient_networks = 192.0.2.0/24 2001:db8::/32\n"
		"[port 12345]\nlike = 587\n";
	struct cfg *cfg = parse_ok(text);
	char *out = NULL, row[512];
	size_t len = 0;
	FILE *fp = open_memstream(&out, &len);

	(void)state;
	assert_non_null(fp);
	cfg_print(cfg, fp);
	assert_int_equal(fclose(fp), 0);
	static const char *const want[] = {
		"port", "mode", "enabled", "tls", "min_tls", "auth",
		"tls_before_auth", "unauth_relay", "max_rcpt", "networks",
		"relay_networks", "like", "\n25 ", "\n587 ", "\n12345 ", "any",
		"192.0.2.0/24,2001:db8::/32", "submission", "mx",
		"required", "optional", "TLSv1.2", "milter_socket",
		"journal_directory", "unknown_port", "strict", "listen",
		"milter_default_action", "tempfail", "postfix_chroot",
		"postfix_log",
	};
	for (size_t i = 0; i < N(want); i++)
		if (strstr(out, want[i]) == NULL)
			fail_msg("\"%s\" missing in:\n%s", want[i], out);
	/* the 12345 row names 587 as its "like" */
	assert_non_null(strstr(strstr(out, "\n12345 "), "587"));
	/* relay_networks: 25's list; "none" on 587 (whose min_tls is not) */
	assert_non_null(strstr(out, "\n25 "));
	snprintf(row, sizeof(row), "%s", strstr(out, "\n25 ") + 1);
	row[strcspn(row, "\n")] = '\0';
	if (strstr(row, " any ") == NULL ||
	    strstr(row, " 127.0.0.0/8,::1/128 ") == NULL)
		fail_msg("25 row: %s", row);
	snprintf(row, sizeof(row), "%s", strstr(out, "\n587 ") + 1);
	row[strcspn(row, "\n")] = '\0';
	if (strstr(row, " none ") == NULL)
		fail_msg("587 row: %s", row);
	/* a password in the conninfo is not printed */
	assert_null(strstr(out, "s3cret"));
	free(out);
	cfg_unref(cfg);
}

static void *ref_worker(void *arg)
{
	struct cfg *cfg = arg;

	for (int i = 0; i < 100000; i++)
		cfg_unref(cfg_ref(cfg));
	return NULL;
}

static void test_refcount(void **state)
{
	struct cfg *cfg = parse_ok("[port 25]\nmode = mx\n");
	pthread_t t[4];

	(void)state;
	assert_ptr_equal(cfg_ref(cfg), cfg);
	assert_int_equal(cfg->refs, 2);
	cfg_unref(cfg);
	assert_int_equal(cfg->refs, 1);
	for (size_t i = 0; i < N(t); i++)
		assert_int_equal(pthread_create(&t[i], NULL, ref_worker, cfg), 0);
	for (size_t i = 0; i < N(t); i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(cfg->refs, 1);
	assert_null(cfg_ref(NULL));
	cfg_unref(NULL);
	cfg_unref(cfg);		/* frees: valgrind/ASan check the rest */
}

static void test_tls_version(void **state)
{
	static const struct {
		const char *in;
		int want;
	} rows[] = {
		{ NULL, PM_TLS_NONE }, { "", PM_TLS_NONE },
		{ "TLSv1", PM_TLS_1_0 }, { "TLSv1.0", PM_TLS_1_0 },
		{ "TLSv1.1", PM_TLS_1_1 }, { "TLSv1.2", PM_TLS_1_2 },
		{ "TLSv1.3", PM_TLS_1_3 }, { "tlsv1.2", PM_TLS_1_2 },
		{ "tlsv1", PM_TLS_1_0 }, { "TLSv1.4", 14 }, { "TLSv2.0", 20 },
		{ "SSLv3", PM_TLS_UNKNOWN }, { "SSLv2", PM_TLS_UNKNOWN },
		{ "TLSv1.", PM_TLS_UNKNOWN }, { "TLSv1.10", PM_TLS_UNKNOWN },
		{ "TLSv", PM_TLS_UNKNOWN }, { "TLSv2", PM_TLS_UNKNOWN },
		{ "TLSv0.9", PM_TLS_UNKNOWN }, { "TLSv1.2 ", PM_TLS_UNKNOWN },
		{ " TLSv1.2", PM_TLS_UNKNOWN }, { "TLS1.2", PM_TLS_UNKNOWN },
		{ "TLSV1.2", PM_TLS_UNKNOWN }, { "none", PM_TLS_UNKNOWN },
		{ "TLSv1.2x", PM_TLS_UNKNOWN }, { "TLSv-1.2", PM_TLS_UNKNOWN },
		{ "unknown", PM_TLS_UNKNOWN },
	};
	static const struct {
		int in;
		const char *want;
	} names[] = {
		{ PM_TLS_NONE, "none" }, { PM_TLS_UNKNOWN, "unknown" },
		{ PM_TLS_1_1, "TLSv1.1" }, { PM_TLS_1_2, "TLSv1.2" },
		{ PM_TLS_1_3, "TLSv1.3" }, { 14, "TLSv1.4" }, { 5, "unknown" },
		{ 100, "unknown" }, { -7, "unknown" },
	};

	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		if (cfg_tls_version_parse(rows[i].in) != rows[i].want)
			fail_msg("\"%s\" -> %d, expected %d",
				 rows[i].in ? rows[i].in : "(null)",
				 cfg_tls_version_parse(rows[i].in),
				 rows[i].want);
	for (size_t i = 0; i < N(names); i++)
		assert_string_equal(cfg_tls_version_name(names[i].in),
				    names[i].want);
	/* TLS 1.0 has two spellings: the name parses back to 1.0 */
	assert_int_equal(cfg_tls_version_parse(
				 cfg_tls_version_name(PM_TLS_1_0)), PM_TLS_1_0);
}

static void test_domain_in(void **state)
{
	static char *v[] = {
		"example.com", ".sub.example.org", "Trail.Example.NET.", ".",
	};
	static const struct cfg_strlist list = { N(v), v };
	static const struct cfg_strlist empty = { 0, NULL };
	static const struct {
		const char *domain;
		bool want;
	} rows[] = {
		{ "example.com", true }, { "EXAMPLE.Com", true },
		{ "example.com.", true }, { "a.example.com", false },
		{ "xexample.com", false }, { "example.co", false },
		{ "example.com..", false }, { "sub.example.org", false },
		{ "a.sub.example.org", true }, { "A.B.SUB.example.org.", true },
		{ "xsub.example.org", false }, { "xxsub.example.org", false },
		{ ".sub.example.org", false },
		{ "trail.example.net", true }, { "trail.example.net.", true },
		{ "", false }, { ".", false }, { NULL, false },
		{ "com", false }, { "org", false },
	};

	(void)state;
	for (size_t i = 0; i < N(rows); i++)
		if (cfg_domain_in(&list, rows[i].domain) != rows[i].want)
			fail_msg("\"%s\": expected %s",
				 rows[i].domain ? rows[i].domain : "(null)",
				 rows[i].want ? "a match" : "no match");
	assert_false(cfg_domain_in(&empty, "example.com"));
	assert_false(cfg_domain_in(NULL, "example.com"));
}

static void test_strlist_has_and_names(void **state)
{
	static char *v[] = { "local", "virtual" };
	static const struct cfg_strlist list = { N(v), v };

	(void)state;
	assert_true(cfg_strlist_has(&list, "local"));
	assert_true(cfg_strlist_has(&list, "virtual"));
	assert_false(cfg_strlist_has(&list, "smtp"));
	assert_false(cfg_strlist_has(&list, "Local"));
	assert_false(cfg_strlist_has(&list, ""));
	assert_false(cfg_strlist_has(&list, NULL));
	assert_false(cfg_strlist_has(NULL, "local"));
	assert_string_equal(cfg_mode_name(CFG_MODE_MX), "mx");
	assert_string_equal(cfg_mode_name(CFG_MODE_SUBMISSION), "submission");
	assert_string_equal(cfg_mode_name(CFG_MODE_SUBMISSIONS),
			    "submissions");
	assert_string_equal(cfg_mode_name((enum cfg_mode)42), "unknown");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_socket_forms),
		cmocka_unit_test(test_other_sections),
		cmocka_unit_test(test_like_loops),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_empty_defaults),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test(test_mode_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_postfix_keys),
		cmocka_unit_test(test_inheritance),
		cmocka_unit_test(test_relay_networks),
		cmocka_unit_test(test_continuation_lists),
		cmocka_unit_test(test_crlf_comments),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_port_find),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_refcount),
		cmocka_unit_test(test_tls_version),
		cmocka_unit_test(test_domain_in),
		cmocka_unit_test(test_strlist_has_and_names),
	};

	if (getenv("top_srcdir") == NULL) {
		printf("1..0 # SKIP top_srcdir is not set (run by make check)\n");
		return 0;
	}
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
