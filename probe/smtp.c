/*
 * smtp - the client side of one SMTP dialogue. See probe.h.
 *
 * mx and submission: greeting, EHLO (STARTTLS? AUTH?), STARTTLS, TLS
 * handshake, EHLO again (AUTH mechanisms), QUIT. submissions: the TLS
 * handshake first, then the same without STARTTLS. Each step has its own
 * deadline; the first failure ends the dialogue and is recorded in the
 * result (timeout_step says which step timed out). No mail is sent.
 * Replies are distrusted: lines are capped, a reply has at most
 * PROBE_REPLY_MAX lines, and every kept text is escaped.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "probe.h"
#include "util.h"

#define EHLO_NAME "portmilter-probe.invalid"

struct reply {
	int code;		/* 0: malformed */
	char first[PROBE_LINE_MAX];
	bool starttls;
	bool auth;
	char auth_mechs[PROBE_TEXT];
};

/* Record why the dialogue stopped (only the first reason is kept). */
static void smtp_fail(struct probe_port *r, const char *step, int st,
		      const char *what)
{
	char buf[PROBE_TEXT + 64];

	if (r->error[0])
		return;
	if (st == NET_TIMEOUT)
		snprintf(r->timeout_step, sizeof(r->timeout_step), "%s", step);
	snprintf(buf, sizeof(buf), "%s: %s", step,
		 what ? what : net_status_name(st));
	str_escape(r->error, sizeof(r->error), buf);
}

/* One EHLO keyword line ("250-AUTH PLAIN LOGIN"): note what matters. */
static void smtp_ehlo_line(struct reply *rp, const char *kw)
{
	if (strcasecmp(kw, "STARTTLS") == 0) {
		rp->starttls = true;
	} else if (strncasecmp(kw, "AUTH", 4) == 0 &&
		   (kw[4] == ' ' || kw[4] == '=' || kw[4] == '\0')) {
		char mechs[PROBE_TEXT];
		const char *m = kw + 4 + (kw[4] != '\0');

		rp->auth = true;
		if (rp->auth_mechs[0])	/* AUTH and AUTH=: keep the first */
			return;
		str_escape(mechs, sizeof(mechs), m);
		snprintf(rp->auth_mechs, sizeof(rp->auth_mechs), "%s", mechs);
	}
}

/* Read a whole (multi-line) reply. NET_OK, or a status; code 0 if bad. */
static int smtp_reply(struct net_conn *c, struct reply *rp)
{
	char line[PROBE_LINE_MAX];

	memset(rp, 0, sizeof(*rp));
	for (int n = 0; n < PROBE_REPLY_MAX; n++) {
		int st = net_read_line(c, line, sizeof(line));

		if (st != NET_OK)
			return st;
		if (n == 0)
			snprintf(rp->first, sizeof(rp->first), "%s", line);
		if (!isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			rp->code = 0;
			return NET_OK;
		}
		rp->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			   (line[2] - '0');
		if (n > 0)
			smtp_ehlo_line(rp, line[3] ? line + 4 : "");
		if (line[3] != '-')
			return NET_OK;
	}
	rp->code = 0;		/* too many lines */
	return NET_OK;
}

/* Send cmd (CRLF added) and read the reply, as one step. */
static int smtp_cmd(struct net_conn *c, const char *cmd, struct reply *rp)
{
	char buf[128];
	int st;

	memset(rp, 0, sizeof(*rp));
	net_step(c);
	snprintf(buf, sizeof(buf), "%s\r\n", cmd);
	st = net_write(c, buf);
	return st == NET_OK ? smtp_reply(c, rp) : st;
}

/* EHLO; false (and r->error) unless a 250 reply came. */
static bool smtp_ehlo(struct net_conn *c, struct probe_port *r,
		      const char *step, struct reply *rp)
{
	int st = smtp_cmd(c, "EHLO " EHLO_NAME, rp);

	if (st != NET_OK) {
		smtp_fail(r, step, st, NULL);
		return false;
	}
	if (rp->code != 250) {
		char what[PROBE_TEXT];

		str_escape(what, sizeof(what), rp->first);
		smtp_fail(r, step, NET_OK, what);
		return false;
	}
	return true;
}

static bool smtp_greeting(struct net_conn *c, struct probe_port *r)
{
	struct reply rp;
	int st;

	net_step(c);
	st = smtp_reply(c, &rp);
	if (st != NET_OK) {
		smtp_fail(r, "greeting", st, NULL);
		return false;
	}
	str_escape(r->greeting, sizeof(r->greeting), rp.first);
	r->greeting_code = rp.code;
	if (rp.code != 220) {
		smtp_fail(r, "greeting", NET_OK, "not 220");
		return false;
	}
	return true;
}

static bool smtp_tls(struct net_conn *c, const struct probe_opts *o,
		     struct probe_port *r)
{
	r->tls_tried = true;
	if (tls_start(c, o->ctx, o->host, &r->tls))
		return true;
	if (strstr(r->tls.error, "timed out"))
		snprintf(r->timeout_step, sizeof(r->timeout_step), "tls");
	if (!r->error[0])
		snprintf(r->error, sizeof(r->error), "%s", r->tls.error);
	return false;
}

/* After TLS: EHLO again, AUTH mechanisms. */
static void smtp_after_tls(struct net_conn *c, struct probe_port *r)
{
	struct reply rp;

	if (!smtp_ehlo(c, r, "EHLO after TLS", &rp))
		return;
	r->auth_after_checked = true;
	r->auth_after = rp.auth;
	snprintf(r->auth_after_mechs, sizeof(r->auth_after_mechs), "%s",
		 rp.auth_mechs);
}

/* mx and submission: clear text first, then STARTTLS if offered. */
static void smtp_starttls_dialogue(struct net_conn *c,
				   const struct probe_opts *o,
				   struct probe_port *r)
{
	struct reply rp;
	int st;

	if (!smtp_greeting(c, r) || !smtp_ehlo(c, r, "EHLO", &rp))
		return;
	r->ehlo_ok = true;
	r->starttls_offered = rp.starttls;
	r->auth_before = rp.auth;
	snprintf(r->auth_before_mechs, sizeof(r->auth_before_mechs), "%s",
		 rp.auth_mechs);
	if (!rp.starttls)
		return;
	st = smtp_cmd(c, "STARTTLS", &rp);
	if (st != NET_OK || rp.code != 220) {
		char what[PROBE_TEXT];

		str_escape(what, sizeof(what), rp.first);
		smtp_fail(r, "STARTTLS", st, st == NET_OK ? what : NULL);
		r->tls_tried = true;
		snprintf(r->tls.error, sizeof(r->tls.error), "%s", r->error);
		return;
	}
	if (smtp_tls(c, o, r))
		smtp_after_tls(c, r);
}

void smtp_probe(const struct probe_opts *o, struct probe_port *r)
{
	struct net_conn c;
	char err[PROBE_TEXT];
	long long t0 = net_now_ms();
	struct reply rp;

	err[0] = '\0';
	r->conn = net_connect(&c, o->address, r->port, o->timeout_ms,
			      &r->connect_ms, err, sizeof(err));
	str_escape(r->conn_error, sizeof(r->conn_error), err);
	if (r->conn != CONN_OPEN) {
		if (r->conn == CONN_TIMEOUT)
			snprintf(r->timeout_step, sizeof(r->timeout_step),
				 "connect");
		r->elapsed_ms = (long)(net_now_ms() - t0);
		return;
	}
	if (r->mode == CFG_MODE_SUBMISSIONS) {
		if (smtp_tls(&c, o, r) && smtp_greeting(&c, r) &&
		    smtp_ehlo(&c, r, "EHLO", &rp)) {
			r->ehlo_ok = true;
			r->auth_after_checked = true;
			r->auth_after = rp.auth;
			snprintf(r->auth_after_mechs,
				 sizeof(r->auth_after_mechs), "%s",
				 rp.auth_mechs);
		}
	} else {
		smtp_starttls_dialogue(&c, o, r);
	}
	if (!r->error[0]) {	/* polite end, best effort, short */
		c.timeout_ms = c.timeout_ms > 1000 ? 1000 : c.timeout_ms;
		(void)smtp_cmd(&c, "QUIT", &rp);
	}
	if (c.ssl)
		SSL_shutdown(c.ssl);	/* non-blocking socket: never waits */
	net_close(&c);
	r->elapsed_ms = (long)(net_now_ms() - t0);
}
