/*
 * milter - libmilter callbacks. Each callback gathers facts from Postfix's
 * macros, asks the policy module, logs the decision and replies; nothing
 * here decides a rule by itself.
 *
 * Macros asked for at each stage (smfi_setsymlist; the list replaces
 * Postfix's milter_*_macros for that stage, so it names everything;
 * the lists themselves are in lib/macros.h, shared with portmilter-conf):
 *   connect: {daemon_port} {daemon_name} {daemon_addr} {client_addr}
 *            {client_name} {client_port} j _ and the TLS macros (present
 *            from connect on with implicit TLS, ports 465/4650)
 *   HELO:    {tls_version} {cipher} {cipher_bits} {cert_subject}
 *            {cert_issuer} (after STARTTLS Postfix repeats HELO)
 *   MAIL:    i {auth_type} {auth_authen} {auth_author} and the TLS
 *            macros again (a client may skip the second EHLO)
 *   RCPT:    i {rcpt_addr} {rcpt_host} {rcpt_mailer}
 *   EOM:     i
 * The message itself (headers, end of headers, body) is not asked for
 * (SMFIP_NOHDRS, SMFIP_NOEOH, SMFIP_NOBODY): the size recorded at end of
 * message is the one the client declared (MAIL FROM ... SIZE=N), made
 * exact later from Postfix's log where the log reader runs (recent.h,
 * doc/events.md). Only when some port or class has a limit_bytes budget
 * (checked at each negotiation: a reload applies to new connections)
 * are headers and body negotiated, "no reply" (SMFIP_NR_HDR,
 * SMFIP_NR_BODY: Postfix never waits for us there), and counted: that
 * count is the size charged to the budget and recorded (issue 17: the
 * message crossing the milter socket cost about a tenth of Postfix's
 * throughput). HELO is answered, although it never refuses
 * anything: without that reply, Postfix sends a client's HELO and, when
 * the client quits without MAIL, QUIT and the hang-up right behind it;
 * libmilter (8.17.1, worker pool) sees the hang-up and closes the
 * session without reading what is still queued, so the HELO name and
 * the TLS facts of exactly the sessions the abuse team looks at (AUTH
 * failures, probes) would be lost. The saved round trip measured no
 * difference in throughput (bench/postfix-bench.sh).
 *
 * Suspensions (README.md, "Suspensions"): at MAIL, after the policy's
 * MAIL rules, the login and the client address are looked up in the
 * suspension list held in memory (suspsync.h); a hit is refused with
 * the rule "suspended", on every port, never only monitored.
 *
 * Budgets and sender_login (README.md, "Sending budgets"): at MAIL the
 * sender goes to senderlogin.h and the key (login, else client
 * address) to budget.h for messages and bytes, at RCPT for recipients;
 * the replies come from the policy's rule table. An accepted message is
 * counted at end of message (budget_charge), nothing else is. With
 * limit_action = hold the message is quarantined (smfi_quarantine) at
 * end of message; in monitor mode only logged and recorded.
 *
 * Recording: one event per transaction (at end of message, at a refused
 * MAIL, at abort) and one per connection that had none (at close); see
 * doc/events.md. Events go to the journal (recorder.h), never straight
 * to the database.
 * The port and daemon name are read at connect only: at end of message
 * {daemon_name} comes from cleanup(8), not from the smtpd service.
 *
 * Every macro may be missing, empty, huge or hostile: values are copied
 * with a length cap and only ever logged through str_escape().
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libmilter/mfapi.h>

#include "addr.h"
#include "budget.h"
#include "cfg.h"
#include "event.h"
#include "macros.h"
#include "metrics.h"
#include "milter.h"
#include "msg.h"
#include "policy.h"
#include "recent.h"
#include "recorder.h"
#include "senderlogin.h"
#include "suspsync.h"
#include "util.h"

#define SHORT_MAX	256	/* port, TLS version, cipher, auth type */
#define VALUE_MAX	16384	/* HELO, sender, user, client name */
#define LOG_VALUE	256	/* escaped width of a value in a log line */

/* Verdict of a transaction, as logged (and, later, recorded). */
enum txn_verdict {
	TXN_NONE,
	TXN_ACCEPTED,
	TXN_REJECTED,
	TXN_TEMPFAILED,
	TXN_ABORTED,
};

struct msgctx {
	bool open;			/* between MAIL and EOM/abort */
	bool has_data;			/* size known: headers or body counted,
					 * or end of message with SIZE= */
	unsigned long long size;	/* header + body bytes, or SIZE= */
	bool declared_known;		/* MAIL FROM had SIZE= */
	uint64_t declared;		/* its value */
	char reply[160];		/* last reply we gave */
	char *sender;
	unsigned nrcpt_rejected;	/* refused by us */
	unsigned nrcpt_tempfailed;
	unsigned nrcpt_refused;		/* refused by Postfix itself */
	char queue_id[SHORT_MAX];
	const char *rule;		/* last rule that objected */
	enum txn_verdict verdict;
	char budget_key[BUDGET_KEY_MAX];	/* "" = not counted */
	char hold[160];			/* limit_action = hold: the reason */
};

struct connctx {
	struct cfg *cfg;		/* referenced for the whole session */
	char conn_id[40];
	char conn_time[40];
	bool exposure;			/* AUTH without TLS seen */
	bool connect_rejected;
	char connect_reply[160];
	const char *connect_rule;
	bool port_known;
	struct policy_facts facts;
	char daemon_name[SHORT_MAX];
	char client_addr[64];
	char *client_name;
	char *helo;
	char tls_version[SHORT_MAX];
	char cipher[SHORT_MAX];
	char auth_type[SHORT_MAX];
	char *auth_user;
	unsigned ntransactions;
	struct msgctx msg;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfg *cfg_current;
static struct budget *budgets;		/* kept across reloads */
static atomic_uint active_conns;
static atomic_bool need_body;		/* a limit_bytes budget is configured */

/* Entries of the budget table at most (each ~230 bytes). */
#define BUDGET_MAX_ENTRIES	(4U << 20)

static const char connect_macros[] = PM_MACROS_CONNECT;
static const char helo_macros[] = PM_MACROS_HELO;
static const char mail_macros[] = PM_MACROS_MAIL;
static const char rcpt_macros[] = PM_MACROS_RCPT;
static const char eom_macros[] = PM_MACROS_EOM;

/* ---- configuration ------------------------------------------------------ */

void milter_config_set(struct cfg *cfg)
{
	struct cfg *old;

	if (cfg != NULL) {
		unsigned w[CFG_WINDOWS_MAX];

		atomic_store(&need_body,
			     cfg_limit_windows(cfg, CFG_LIMIT_BYTES, w) > 0);
	}
	pthread_mutex_lock(&cfg_lock);
	if (cfg != NULL && budgets == NULL)
		budgets = budget_new(cfg, BUDGET_MAX_ENTRIES);
	else if (cfg != NULL)
		budget_configure(budgets, cfg);
	old = cfg_current;
	cfg_current = cfg;
	pthread_mutex_unlock(&cfg_lock);
	if (old)
		cfg_unref(old);
}

struct cfg *milter_config_get(void)
{
	struct cfg *cfg;

	pthread_mutex_lock(&cfg_lock);
	cfg = cfg_current ? cfg_ref(cfg_current) : NULL;
	pthread_mutex_unlock(&cfg_lock);
	return cfg;
}

unsigned milter_active(void)
{
	return atomic_load(&active_conns);
}

void milter_shutdown(void)
{
	milter_config_set(NULL);
	msg_info("connections whose port Postfix did not identify: %lu",
		 milter_unidentified());
}

/* ---- small helpers ------------------------------------------------------ */

/* Copy a macro into a fixed buffer; "" when missing; a value cut to
 * fit ends in "..." so that nobody mistakes it for the whole. */
static void macro_copy(SMFICTX *ctx, const char *name, char *buf, size_t len)
{
	const char *v = smfi_getsymval(ctx, (char *)name);

	if (v == NULL)
		v = "";
	if ((size_t)snprintf(buf, len, "%s", v) >= len && len >= 4)
		memcpy(buf + len - 4, "...", 4);
}

/* Replace *slot with a capped copy of value (NULL stays NULL). */
static void value_set(char **slot, const char *value)
{
	free(*slot);
	*slot = value ? xstrndup(value, VALUE_MAX) : NULL;
}

static const char *esc(char *buf, size_t len, const char *s)
{
	return str_escape(buf, len, s ? s : "");
}

/* An address for "from=<...>": without the <> Postfix passes along. */
static const char *esc_addr(char *buf, size_t len, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
		char *bare = xstrndup(s + 1, n - 2);

		str_escape(buf, len, bare);
		free(bare);
		return buf;
	}
	return esc(buf, len, s);
}

static const char *queue_id(const struct connctx *cc)
{
	return cc->msg.queue_id[0] ? cc->msg.queue_id : "NOQUEUE";
}

/* Refresh the TLS facts: implicit TLS has them at connect, STARTTLS
 * from the second HELO on, and a client may skip that HELO. */
static void tls_refresh(SMFICTX *ctx, struct connctx *cc)
{
	char v[SHORT_MAX];

	macro_copy(ctx, "{tls_version}", v, sizeof(v));
	if (v[0] == '\0')
		return;		/* TLS never goes away within a session */
	snprintf(cc->tls_version, sizeof(cc->tls_version), "%s", v);
	macro_copy(ctx, "{cipher}", cc->cipher, sizeof(cc->cipher));
	cc->facts.tls_version = cfg_tls_version_parse(cc->tls_version);
}

static void auth_refresh(SMFICTX *ctx, struct connctx *cc)
{
	macro_copy(ctx, "{auth_type}", cc->auth_type, sizeof(cc->auth_type));
	cc->facts.authenticated = cc->auth_type[0] != '\0';
	value_set(&cc->auth_user, cc->facts.authenticated ?
		  smfi_getsymval(ctx, "{auth_authen}") : NULL);
}

/* The queue id starts every log line: keep it only if it looks like one
 * (Postfix: short or long form, letters and digits only). */
static void queue_id_refresh(SMFICTX *ctx, struct connctx *cc)
{
	char v[SHORT_MAX];
	size_t n;

	macro_copy(ctx, "i", v, sizeof(v));
	n = strspn(v, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
	if (v[0] != '\0' && v[n] == '\0' && n < 32)
		snprintf(cc->msg.queue_id, sizeof(cc->msg.queue_id), "%s", v);
}

/* ---- logging: one line per decision ------------------------------------ */

static const char *verdict_name(enum txn_verdict v)
{
	switch (v) {
	case TXN_ACCEPTED:
		return "accepted";
	case TXN_REJECTED:
		return "rejected";
	case TXN_TEMPFAILED:
		return "tempfailed";
	case TXN_ABORTED:
		return "aborted";
	case TXN_NONE:
		break;
	}
	return "none";
}

/* "name[addr]" with the name escaped. */
static const char *client_text(const struct connctx *cc, char *buf, size_t len)
{
	char name[LOG_VALUE];

	snprintf(buf, len, "%s[%s]", esc(name, sizeof(name),
		 cc->client_name && *cc->client_name ? cc->client_name : "unknown"),
		 cc->client_addr);
	return buf;
}

/* Postfix-like: "QID: reject: RCPT from name[addr]: 554 5.7.1 text; ..." */
static void log_verdict(const struct connctx *cc, const char *stage,
			const struct policy_verdict *v, const char *rcpt)
{
	char client[LOG_VALUE + 80], user[LOG_VALUE], from[LOG_VALUE];
	char to[LOG_VALUE], helo[LOG_VALUE], dname[LOG_VALUE], tls[LOG_VALUE];

	msg_info("%s: %s: %s from %s: %s %s %s; rule=%s port=%u service=\"%s\" "
		 "tls=%s user=<%s> from=<%s> to=<%s> helo=<%s>",
		 queue_id(cc),
		 v->action == POLICY_TEMPFAIL ? "tempfail" : "reject", stage,
		 client_text(cc, client, sizeof(client)), v->rcode, v->xcode,
		 v->text, v->rule, cc->facts.port,
		 esc(dname, sizeof(dname), cc->daemon_name),
		 esc(tls, sizeof(tls), cc->tls_version[0] ? cc->tls_version : "none"),
		 esc(user, sizeof(user), cc->auth_user),
		 esc_addr(from, sizeof(from), cc->msg.sender),
		 esc_addr(to, sizeof(to), rcpt), esc(helo, sizeof(helo), cc->helo));
}

/* AUTH without TLS: the password has crossed in clear (doc/DESIGN.md). */
static void log_exposure(const struct connctx *cc)
{
	char user[LOG_VALUE], mech[LOG_VALUE], client[LOG_VALUE + 80];

	msg_warn("%s: credential exposure: %s authenticated as <%s> "
		 "with %s without TLS on port %u",
		 queue_id(cc), client_text(cc, client, sizeof(client)),
		 esc(user, sizeof(user), cc->auth_user),
		 esc(mech, sizeof(mech), cc->auth_type), cc->facts.port);
}

/* -v: a relay without AUTH that only the port's relay_networks allowed. */
static void log_relay_allowed(const struct connctx *cc, const char *rcpt)
{
	char client[LOG_VALUE + 80], to[LOG_VALUE];

	if (msg_verbose() > 0)
		msg_info("%s: relay: RCPT from %s: allowed without AUTH by "
			 "relay_networks; port=%u to=<%s>", queue_id(cc),
			 client_text(cc, client, sizeof(client)),
			 cc->facts.port, esc_addr(to, sizeof(to), rcpt));
}

/* ---- recording ----------------------------------------------------------- */

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

/* The event for the current transaction, or for the connection when
 * txn is false. Numbers are formatted into nums (caller's storage). */
static void event_fill(const struct connctx *cc, bool txn, enum txn_verdict verdict,
		       struct event *ev, char nums[][24], char *id, char *now)
{
	const struct msgctx *m = &cc->msg;

	memset(ev, 0, sizeof(*ev));
	event_uuid(id);
	event_time_now(now, 40);
	ev->f[EV_EVENT_ID] = id;
	ev->f[EV_EVENT_TIME] = now;
	ev->f[EV_CONN_ID] = cc->conn_id;
	ev->f[EV_CONN_TIME] = cc->conn_time;
	ev->f[EV_KIND] = txn ? "transaction" : "connection";
	ev->f[EV_NODE] = recorder_node(cc->cfg);
	snprintf(nums[0], 24, "%u", cc->facts.port);
	ev->f[EV_PORT] = nums[0];
	ev->f[EV_PORT_KNOWN] = cc->port_known ? "t" : "f";
	ev->f[EV_SERVICE] = nonempty(cc->daemon_name);
	ev->f[EV_CLIENT_ADDR] = cc->facts.client.family ? cc->client_addr : NULL;
	ev->f[EV_CLIENT_NAME] = cc->client_name;
	ev->f[EV_HELO] = cc->helo;
	ev->f[EV_TLS_VERSION] = nonempty(cc->tls_version);
	ev->f[EV_TLS_CIPHER] = nonempty(cc->cipher);
	ev->f[EV_SASL_METHOD] = nonempty(cc->auth_type);
	ev->f[EV_SASL_USER] = cc->facts.authenticated ? cc->auth_user : NULL;
	ev->f[EV_SENDER] = txn ? m->sender : NULL;
	snprintf(nums[1], 24, "%u", txn ? cc->facts.nrcpt : 0);
	snprintf(nums[2], 24, "%u", txn ? m->nrcpt_rejected : 0);
	snprintf(nums[3], 24, "%u", txn ? m->nrcpt_tempfailed : 0);
	snprintf(nums[4], 24, "%u", txn ? m->nrcpt_refused : 0);
	snprintf(nums[5], 24, "%llu", m->size);
	ev->f[EV_NRCPT] = nums[1];
	ev->f[EV_NRCPT_REJECTED] = nums[2];
	ev->f[EV_NRCPT_TEMPFAILED] = nums[3];
	ev->f[EV_NRCPT_REFUSED] = nums[4];
	ev->f[EV_SIZE] = txn && m->has_data ? nums[5] : NULL;
	ev->f[EV_QUEUE_ID] = txn ? nonempty(m->queue_id) : NULL;
	ev->f[EV_VERDICT] = verdict_name(verdict);
	ev->f[EV_RULE] = txn ? m->rule : cc->connect_rule;
	ev->f[EV_REPLY] = nonempty(txn ? m->reply : cc->connect_reply);
	ev->f[EV_CREDENTIAL_EXPOSURE] = cc->exposure ? "t" : "f";
}

static bool record(const struct connctx *cc, bool txn, enum txn_verdict verdict)
{
	struct event ev;
	char nums[6][24], id[40], now[40];

	bool ok;

	event_fill(cc, txn, verdict, &ev, nums, id, now);
	ok = recorder_put(&ev);
	/* for the exact size from Postfix's log (a no-op without it) */
	if (ok && txn && verdict == TXN_ACCEPTED && cc->msg.queue_id[0])
		recent_put(cc->msg.queue_id, id, now);
	metrics_event(cc->facts.port, txn, ev.f[EV_VERDICT], ev.f[EV_RULE],
		      ev.f[EV_TLS_VERSION], cc->exposure);
	return ok;
}

/* Forget the transaction (after its event is logged and recorded). */
static void txn_reset(struct connctx *cc)
{
	if (cc->msg.open)
		cc->ntransactions++;
	free(cc->msg.sender);
	memset(&cc->msg, 0, sizeof(cc->msg));
	cc->facts.nrcpt = 0;
}

/* End of a transaction: log its outcome and record it, keeping its
 * context for a last log line; false when it could not be recorded. */
static bool txn_close(struct connctx *cc, enum txn_verdict verdict)
{
	char client[LOG_VALUE + 80], user[LOG_VALUE], from[LOG_VALUE];
	char tls[LOG_VALUE];
	bool recorded;

	if (!cc->msg.open)
		return true;
	cc->msg.verdict = verdict;
	if (verdict != TXN_ACCEPTED || msg_verbose())
		msg_info("%s: %s: from %s: port=%u rule=%s tls=%s user=<%s> "
			 "from=<%s> nrcpt=%u rejected=%u tempfailed=%u "
			 "refused_by_postfix=%u",
			 queue_id(cc), verdict_name(verdict),
			 client_text(cc, client, sizeof(client)), cc->facts.port,
			 cc->msg.rule ? cc->msg.rule : "-",
			 esc(tls, sizeof(tls), cc->tls_version[0] ? cc->tls_version : "none"),
			 esc(user, sizeof(user), cc->auth_user),
			 esc_addr(from, sizeof(from), cc->msg.sender),
			 cc->facts.nrcpt, cc->msg.nrcpt_rejected,
			 cc->msg.nrcpt_tempfailed, cc->msg.nrcpt_refused);
	recorded = record(cc, true, verdict);
	return recorded;
}

static bool txn_finish(struct connctx *cc, enum txn_verdict verdict)
{
	bool recorded = txn_close(cc, verdict);

	txn_reset(cc);
	return recorded;
}

/* Say the verdict to Postfix: reply text set, status returned. */
static sfsistat reply(SMFICTX *ctx, const struct policy_verdict *v, char *said,
		      size_t saidlen)
{
	if (v->action == POLICY_CONTINUE)
		return SMFIS_CONTINUE;
	snprintf(said, saidlen, "%s %s %s", v->rcode, v->xcode, v->text);
	if (smfi_setreply(ctx, (char *)v->rcode, (char *)v->xcode,
			  (char *)v->text) != MI_SUCCESS)
		msg_warn("cannot set reply \"%s\"", said);
	return v->action == POLICY_TEMPFAIL ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

/* Refuse at stage: log, keep the rule and the reply for the record. */
static sfsistat refuse(SMFICTX *ctx, struct connctx *cc, const char *stage,
		       const struct policy_verdict *v, const char *rcpt)
{
	log_verdict(cc, stage, v, rcpt);
	cc->msg.rule = v->rule;
	return reply(ctx, v, cc->msg.reply, sizeof(cc->msg.reply));
}

/* ---- budgets ------------------------------------------------------------- */

/* Seconds on the monotonic clock (budgets never see wall-clock steps),
 * from MILTER_BUDGET_EPOCH on: another node's usage up to the longest
 * window old can be placed in the past even just after a boot. */
uint64_t milter_budget_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec + MILTER_BUDGET_EPOCH;
}

struct budget *milter_budgets(void)
{
	struct budget *b;

	pthread_mutex_lock(&cfg_lock);
	b = budgets;
	pthread_mutex_unlock(&cfg_lock);
	return b;
}

/* The SIZE= of MAIL FROM's ESMTP parameters into *size; false (and 0)
 * if none or not a number. */
static bool mail_size_param(char **argv, uint64_t *size)
{
	long n;

	*size = 0;
	for (int i = 1; argv != NULL && argv[0] != NULL && argv[i] != NULL; i++)
		if (strncasecmp(argv[i], "SIZE=", 5) == 0 &&
		    argv[i][5] >= '0' && argv[i][5] <= '9' &&
		    str_to_long(argv[i] + 5, 0, LONG_MAX, &n)) {
			*size = (uint64_t) n;
			return true;
		}
	return false;
}

/* The login whose budgets apply, NULL for the client address. */
static const char *budget_login(const struct connctx *cc)
{
	return cc->facts.authenticated && cc->auth_user && *cc->auth_user ?
	       cc->auth_user : NULL;
}

/* At MAIL: the key this transaction is counted under, if any budget
 * applies to it on this port ("" otherwise: neither checked nor
 * counted). */
static void budget_begin(struct connctx *cc)
{
	const struct cfg_port *p = policy_profile(cc->cfg, cc->facts.port, NULL);
	bool any = false;

	cc->msg.budget_key[0] = '\0';
	for (int k = 0; k < CFG_NLIMITS; k++)
		any |= budget_limits(cc->cfg, p, budget_login(cc), k)->n > 0;
	if (any)
		(void) budget_key(budget_login(cc), &cc->facts.client,
				  cc->msg.budget_key, sizeof(cc->msg.budget_key));
}

/* "QID: monitor: would tempfail: MAIL from ...: 451 4.7.1 text; rule=..."
 * or "QID: hold: MAIL from ...: text; rule=...". */
static void log_limit(const struct connctx *cc, const char *stage,
		      const struct policy_verdict *v, const char *rcpt)
{
	char client[LOG_VALUE + 80], user[LOG_VALUE], from[LOG_VALUE];
	char to[LOG_VALUE], what[64];

	if (v->monitor)
		snprintf(what, sizeof(what), "monitor: would %s",
			 v->hold ? "hold" : v->action == POLICY_CONTINUE &&
			 v->rcode && v->rcode[0] == '4' ? "tempfail" : "reject");
	else
		snprintf(what, sizeof(what), "hold");
	msg_info("%s: %s: %s from %s: %s%s%s%s%s; rule=%s port=%u user=<%s> "
		 "from=<%s> to=<%s>", queue_id(cc), what, stage,
		 client_text(cc, client, sizeof(client)),
		 v->rcode ? v->rcode : "", v->rcode ? " " : "",
		 v->xcode ? v->xcode : "", v->xcode ? " " : "", v->text,
		 v->rule, cc->facts.port, esc(user, sizeof(user), cc->auth_user),
		 esc_addr(from, sizeof(from), cc->msg.sender),
		 esc_addr(to, sizeof(to), rcpt));
}

/*
 * Is budget k spent with pending more (at stage)? In monitor mode and
 * with limit_action = hold the transaction goes on: the rule and the
 * would-be reply (or the hold) are kept for the record. True when the
 * caller must refuse with *v.
 */
static bool budget_spent(struct connctx *cc, const char *stage,
			 enum cfg_limit_key k, uint64_t pending,
			 const char *rcpt, struct policy_verdict *v)
{
	const struct cfg_port *p = policy_profile(cc->cfg, cc->facts.port, NULL);
	struct budget_over over;

	if (cc->msg.budget_key[0] == '\0' ||
	    !budget_check(budgets, cc->msg.budget_key,
			  budget_limits(cc->cfg, p, budget_login(cc), k), k,
			  pending, milter_budget_now(), &over))
		return false;
	*v = policy_limit(p, k, &over.limit);
	metrics_budget_hit(cc->facts.port, k, v->monitor);
	if (!v->monitor && !v->hold)
		return true;
	log_limit(cc, stage, v, rcpt);
	cc->msg.rule = v->rule;
	if (v->monitor && v->rcode != NULL)
		snprintf(cc->msg.reply, sizeof(cc->msg.reply), "monitor: %s %s %s",
			 v->rcode, v->xcode, v->text);
	else
		snprintf(cc->msg.reply, sizeof(cc->msg.reply), "%shold: %s",
			 v->monitor ? "monitor: " : "", v->text);
	if (!v->monitor)
		snprintf(cc->msg.hold, sizeof(cc->msg.hold), "portmilter: %s",
			 v->text);
	return false;
}

/*
 * sender_login: is an authenticated user's sender theirs? In monitor
 * mode (limits_enforce = no) the mismatch is logged and kept for the
 * record and the transaction goes on. True when the caller must refuse
 * with *v.
 */
static bool sender_refused(struct connctx *cc, struct policy_verdict *v)
{
	const struct cfg_port *p = policy_profile(cc->cfg, cc->facts.port, NULL);

	if (p->sender_login == CFG_SL_NONE || budget_login(cc) == NULL ||
	    senderlogin_owned(cc->cfg, p->sender_login, budget_login(cc),
			      cc->msg.sender))
		return false;
	*v = policy_sender_login(p);
	if (!v->monitor)
		return true;
	log_limit(cc, "MAIL", v, NULL);
	cc->msg.rule = v->rule;
	snprintf(cc->msg.reply, sizeof(cc->msg.reply), "monitor: %s %s %s",
		 v->rcode, v->xcode, v->text);
	return false;
}

/*
 * Is the login or the client address suspended (suspsync.h: a lookup in
 * memory, never the database)? On every port and whatever
 * limits_enforce says. True when the caller must refuse with *v.
 */
static bool suspended(struct connctx *cc, struct policy_verdict *v)
{
	struct suspend_hit hit;
	char subject[LOG_VALUE];

	if (!suspsync_lookup(budget_login(cc), &cc->facts.client, &hit))
		return false;
	*v = policy_rule_verdict(hit.kind == SUSPEND_USER ?
				 POLICY_RULE_SUSPENDED_USER :
				 POLICY_RULE_SUSPENDED_ADDRESS, 0);
	if (hit.kind == SUSPEND_ADDRESS)
		msg_info("%s: suspended: client [%s] is in the suspended network %s",
			 queue_id(cc), cc->client_addr,
			 esc(subject, sizeof(subject), hit.subject));
	return true;
}

/* ---- callbacks ---------------------------------------------------------- */

static sfsistat pm_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
			     unsigned long f2, unsigned long f3,
			     unsigned long *pf0, unsigned long *pf1,
			     unsigned long *pf2, unsigned long *pf3)
{
	static const unsigned long skip = SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH;
	static const unsigned long noreply = SMFIP_NR_HDR | SMFIP_NR_BODY;
	static const unsigned long nomessage = SMFIP_NOHDRS | SMFIP_NOBODY;

	(void)f2;
	(void)f3;
	*pf0 = f0 & SMFIF_QUARANTINE;	/* limit_action = hold */
	/* libmilter fakes the "no reply" flags for an MTA without them. */
	*pf1 = (f1 & skip) | (f1 & noreply);
	/* the message only for a byte budget (an MTA without these flags
	 * sends it anyway: it is then counted) */
	if (!atomic_load(&need_body))
		*pf1 |= f1 & nomessage;
	*pf2 = 0;
	*pf3 = 0;
	if (f1 & SMFIP_RCPT_REJ)
		*pf1 |= SMFIP_RCPT_REJ;
	else
		msg_warn("MTA does not offer SMFIP_RCPT_REJ: recipients it "
			 "refuses will not be seen");
	if ((f0 & SMFIF_SETSYMLIST) == 0) {
		msg_warn("MTA does not offer SMFIF_SETSYMLIST: relying on its "
			 "milter_*_macros settings");
		return SMFIS_CONTINUE;
	}
	*pf0 = SMFIF_SETSYMLIST | (f0 & SMFIF_QUARANTINE);
	if (smfi_setsymlist(ctx, SMFIM_CONNECT, (char *)connect_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_HELO, (char *)helo_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_ENVFROM, (char *)mail_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_ENVRCPT, (char *)rcpt_macros) != MI_SUCCESS ||
	    smfi_setsymlist(ctx, SMFIM_EOM, (char *)eom_macros) != MI_SUCCESS)
		msg_warn("smfi_setsymlist failed: relying on the MTA's macro lists");
	return SMFIS_CONTINUE;
}

/* Where the port of a connection came from (port_of). */
enum port_source {
	PORT_FROM_MACRO,	/* {daemon_port} */
	PORT_FROM_NAME,		/* {daemon_name} "portmilter/PORT" */
	PORT_NONE,		/* neither: 0, the strict rules */
	PORT_LOGGED,		/* a bad {daemon_port}: 0, warned about */
};

/* Connections whose port Postfix did not give (see port_of). */
static atomic_ulong unidentified_conns;

/* The N of "portmilter/N" (what portmilter-conf sets per service);
 * 0 for any other name. */
static unsigned port_of_name(const char *name)
{
	long port;

	if (strncmp(name, "portmilter/", 11) != 0 ||
	    !str_to_long(name + 11, 1, 65535, &port))
		return 0;
	return (unsigned)port;
}

/*
 * Which port is this? {daemon_port}, cross-checked with {daemon_name}
 * when portmilter-conf set it to "portmilter/PORT". Postfix sends
 * {daemon_port} "unknown" when it could not identify the connection (a
 * client that resets at once: every port scan); then, and when the
 * macro is missing, the port comes from {daemon_name}, else it is 0.
 * Any other value is not Postfix's doing: port 0 and a warning. Two
 * known ports that differ are warned about too (master.cf is wrong).
 * Other connections without a port are left to port_log().
 */
static unsigned port_of(SMFICTX *ctx, struct connctx *cc, char *dport,
			size_t len, enum port_source *src)
{
	char e[LOG_VALUE];
	unsigned named = port_of_name(cc->daemon_name);
	long port;

	macro_copy(ctx, "{daemon_port}", dport, len);
	if (str_to_long(dport, 1, 65535, &port)) {
		*src = PORT_FROM_MACRO;
		if (strncmp(cc->daemon_name, "portmilter/", 11) == 0 &&
		    named != (unsigned)port)
			msg_warn("connect from [%s]: {daemon_name} \"%s\" does not "
				 "match {daemon_port} %ld: check master.cf",
				 cc->client_addr,
				 esc(e, sizeof(e), cc->daemon_name), port);
		return (unsigned)port;
	}
	*src = named ? PORT_FROM_NAME : PORT_NONE;
	if (dport[0] == '\0' || strcmp(dport, "unknown") == 0) {
		atomic_fetch_add(&unidentified_conns, 1);
		return named;
	}
	msg_warn("connect from [%s]: bad {daemon_port} \"%s\": applying the "
		 "strict (submission) rules", cc->client_addr,
		 esc(e, sizeof(e), dport));
	*src = PORT_LOGGED;
	return 0;
}

/*
 * The one line about the port of a connection, if any: a port without
 * a section, or no {daemon_port} and no {daemon_name} to make up for it
 * (warnings: the configuration lacks something); a connection Postfix
 * could not identify (info: a client that left at once is no
 * configuration problem; none when unknown_port = reject logs the
 * refusal).
 */
static void port_log(const struct connctx *cc, const char *dport,
		     enum port_source src)
{
	char d[LOG_VALUE], n[LOG_VALUE];
	bool strict = cc->cfg->unknown_port == CFG_UNKNOWN_STRICT;

	esc(d, sizeof(d), dport[0] ? dport : "(none)");
	esc(n, sizeof(n), cc->daemon_name[0] ? cc->daemon_name : "(none)");
	if (src == PORT_NONE && dport[0] == '\0') {
		msg_warn("connect from [%s]: no {daemon_port} macro: is "
			 "milter_connect_macros overridden?%s", cc->client_addr,
			 strict ? " Applying the strict (submission) rules" : "");
	} else if (src == PORT_NONE) {
		if (strict)
			msg_info("connect from [%s]: port not identified by "
				 "Postfix ({daemon_port} \"%s\", {daemon_name} "
				 "\"%s\"): applying the strict (submission) rules",
				 cc->client_addr, d, n);
	} else if (src == PORT_LOGGED) {
		return;
	} else if (!cc->port_known && strict) {
		msg_warn("connect from [%s]: port %u%s has no section in %s: "
			 "applying the strict (submission) rules", cc->client_addr,
			 cc->facts.port, src == PORT_FROM_NAME ?
			 " (from {daemon_name})" : "", cc->cfg->path);
	} else if (src == PORT_FROM_NAME) {
		msg_info("connect from [%s]: port not identified by Postfix "
			 "({daemon_port} \"%s\"): port %u from {daemon_name}",
			 cc->client_addr, d, cc->facts.port);
	}
}

unsigned long milter_unidentified(void)
{
	return atomic_load(&unidentified_conns);
}

static sfsistat pm_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
	struct connctx *cc = xcalloc(1, sizeof(*cc));
	struct policy_verdict v;
	char dport[SHORT_MAX];
	enum port_source src;

	if (smfi_setpriv(ctx, cc) != MI_SUCCESS) {
		free(cc);
		msg_warn("smfi_setpriv failed: tempfail");
		return SMFIS_TEMPFAIL;
	}
	atomic_fetch_add(&active_conns, 1);
	cc->cfg = milter_config_get();
	if (cc->cfg == NULL)
		msg_panic("connection before any configuration");
	event_uuid(cc->conn_id);
	event_time_now(cc->conn_time, sizeof(cc->conn_time));
	value_set(&cc->client_name, hostname);
	if (!addr_from_sockaddr(hostaddr, &cc->facts.client)) {
		char a[SHORT_MAX];

		macro_copy(ctx, "{client_addr}", a, sizeof(a));
		(void)addr_parse(a, &cc->facts.client);
	}
	addr_to_text(&cc->facts.client, cc->client_addr, sizeof(cc->client_addr));
	macro_copy(ctx, "{daemon_name}", cc->daemon_name, sizeof(cc->daemon_name));
	cc->facts.port = port_of(ctx, cc, dport, sizeof(dport), &src);
	cc->facts.tls_version = PM_TLS_NONE;
	tls_refresh(ctx, cc);
	(void)policy_profile(cc->cfg, cc->facts.port, &cc->port_known);
	port_log(cc, dport, src);
	metrics_session(cc->facts.port);
	if (src == PORT_FROM_NAME || src == PORT_NONE)
		metrics_unidentified(cc->facts.port);
	v = policy_connect(cc->cfg, &cc->facts);
	if (v.action == POLICY_CONTINUE)
		return SMFIS_CONTINUE;
	log_verdict(cc, "CONNECT", &v, NULL);
	cc->connect_rejected = true;
	cc->connect_rule = v.rule;
	return reply(ctx, &v, cc->connect_reply, sizeof(cc->connect_reply));
}

static sfsistat pm_helo(SMFICTX *ctx, char *helohost)
{
	struct connctx *cc = smfi_getpriv(ctx);

	if (cc == NULL)
		return SMFIS_CONTINUE;
	value_set(&cc->helo, helohost);
	tls_refresh(ctx, cc);
	return SMFIS_CONTINUE;
}

static sfsistat pm_envfrom(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = smfi_getpriv(ctx);
	struct policy_verdict v;
	sfsistat r;

	if (cc == NULL)
		return SMFIS_TEMPFAIL;
	(void)txn_finish(cc, TXN_ABORTED);	/* a MAIL without abort */
	cc->msg.open = true;
	cc->msg.sender = xstrndup(argv && argv[0] ? argv[0] : "", VALUE_MAX);
	cc->msg.declared_known = mail_size_param(argv, &cc->msg.declared);
	tls_refresh(ctx, cc);
	auth_refresh(ctx, cc);
	queue_id_refresh(ctx, cc);
	v = policy_mail(cc->cfg, &cc->facts);
	if (v.credential_exposure) {
		cc->exposure = true;
		log_exposure(cc);
	}
	if (v.action == POLICY_CONTINUE)
		(void)suspended(cc, &v);
	/* The journal cannot take the event, journal_full_action = tempfail. */
	if (v.action == POLICY_CONTINUE && !recorder_accepting(cc->cfg))
		v = policy_rule_verdict(POLICY_RULE_JOURNAL_FULL, 0);
	if (v.action == POLICY_CONTINUE && !sender_refused(cc, &v)) {
		budget_begin(cc);
		if (!budget_spent(cc, "MAIL", CFG_LIMIT_MESSAGES, 1, NULL, &v) &&
		    !budget_spent(cc, "MAIL", CFG_LIMIT_BYTES, cc->msg.declared,
				  NULL, &v))
			return SMFIS_CONTINUE;
	}
	r = refuse(ctx, cc, "MAIL", &v, NULL);
	(void)txn_finish(cc, v.action == POLICY_TEMPFAIL ? TXN_TEMPFAILED
						     : TXN_REJECTED);
	return r;
}

static sfsistat pm_envrcpt(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = smfi_getpriv(ctx);
	struct policy_rcpt r;
	struct policy_verdict v;

	if (cc == NULL)
		return SMFIS_TEMPFAIL;
	r.addr = argv && argv[0] ? argv[0] : "";
	r.mailer = smfi_getsymval(ctx, "{rcpt_mailer}");
	queue_id_refresh(ctx, cc);
	v = policy_rcpt(cc->cfg, &cc->facts, &r);
	if (v.postfix_rejected) {
		/* Postfix refused it (e.g. relay on 25): recorded, so that
		 * relay attempts show even when Postfix stopped them first. */
		cc->msg.nrcpt_refused++;
		if (cc->msg.rule == NULL)
			cc->msg.rule = v.rule;
		return SMFIS_CONTINUE;
	}
	if (v.action == POLICY_CONTINUE) {
		struct policy_verdict lv;

		if (budget_spent(cc, "RCPT", CFG_LIMIT_RECIPIENTS,
				 (uint64_t) cc->facts.nrcpt + 1, r.addr, &lv)) {
			v = lv;
		} else {
			cc->facts.nrcpt++;
			if (v.relay_networks)
				log_relay_allowed(cc, r.addr);
			return SMFIS_CONTINUE;
		}
	}
	if (v.action == POLICY_TEMPFAIL)
		cc->msg.nrcpt_tempfailed++;
	else
		cc->msg.nrcpt_rejected++;
	return refuse(ctx, cc, "RCPT", &v, r.addr);
}

/* Headers and body (negotiated for limit_bytes only): counted for the
 * size, never answered. */
static sfsistat pm_header(SMFICTX *ctx, char *name, char *value)
{
	struct connctx *cc = smfi_getpriv(ctx);

	if (cc != NULL) {
		cc->msg.has_data = true;
		cc->msg.size += strlen(name ? name : "") + 2 +
				strlen(value ? value : "") + 2;
	}
	return SMFIS_NOREPLY;
}

static sfsistat pm_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct connctx *cc = smfi_getpriv(ctx);

	(void)chunk;
	if (cc != NULL) {
		cc->msg.has_data = true;
		cc->msg.size += len;
	}
	return SMFIS_NOREPLY;
}

static sfsistat pm_eom(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);
	sfsistat r = SMFIS_CONTINUE;
	struct policy_verdict full;

	if (cc == NULL)
		return SMFIS_CONTINUE;
	queue_id_refresh(ctx, cc);
	if (cc->msg.has_data) {
		cc->msg.size += 2;	/* the empty line after the headers */
	} else if (cc->msg.declared_known) {
		cc->msg.size = cc->msg.declared;	/* not read: declared */
		cc->msg.has_data = true;
	}
	if (cc->msg.hold[0] != '\0' &&
	    smfi_quarantine(ctx, cc->msg.hold) != MI_SUCCESS)
		msg_warn("%s: cannot put the message on hold (smfi_quarantine "
			 "failed: does the MTA offer SMFIF_QUARANTINE?)",
			 queue_id(cc));
	if (!txn_close(cc, TXN_ACCEPTED) &&
	    cc->cfg->journal_full_action == CFG_FULL_TEMPFAIL) {
		full = policy_rule_verdict(POLICY_RULE_JOURNAL_FULL, 0);
		r = refuse(ctx, cc, "END-OF-MESSAGE", &full, NULL);
	} else if (cc->msg.budget_key[0] != '\0') {
		budget_charge(budgets, cc->msg.budget_key, cc->facts.nrcpt,
			      cc->msg.size, milter_budget_now());
	}
	txn_reset(cc);
	return r;
}

/* Outcome of a transaction that ends without end-of-message. */
static enum txn_verdict unfinished_verdict(const struct connctx *cc)
{
	if (cc->facts.nrcpt == 0 &&
	    (cc->msg.nrcpt_rejected > 0 || cc->msg.nrcpt_refused > 0))
		return TXN_REJECTED;
	if (cc->facts.nrcpt == 0 && cc->msg.nrcpt_tempfailed > 0)
		return TXN_TEMPFAILED;
	return TXN_ABORTED;
}

static sfsistat pm_abort(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);

	if (cc != NULL)
		(void)txn_finish(cc, unfinished_verdict(cc));
	return SMFIS_CONTINUE;
}

static sfsistat pm_close(SMFICTX *ctx)
{
	struct connctx *cc = smfi_getpriv(ctx);

	if (cc == NULL)
		return SMFIS_CONTINUE;	/* close may be the only callback */
	(void)txn_finish(cc, unfinished_verdict(cc));
	if (cc->ntransactions == 0)
		(void)record(cc, false, cc->connect_rejected ? TXN_REJECTED : TXN_NONE);
	smfi_setpriv(ctx, NULL);
	if (cc->cfg)
		cfg_unref(cc->cfg);
	free(cc->client_name);
	free(cc->helo);
	free(cc->auth_user);
	free(cc);
	atomic_fetch_sub(&active_conns, 1);
	return SMFIS_CONTINUE;
}

bool milter_register(const char *name)
{
	struct smfiDesc desc;

	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = (char *)name;
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_SETSYMLIST | SMFIF_QUARANTINE;
	desc.xxfi_connect = pm_connect;
	desc.xxfi_helo = pm_helo;
	desc.xxfi_envfrom = pm_envfrom;
	desc.xxfi_envrcpt = pm_envrcpt;
	desc.xxfi_header = pm_header;
	desc.xxfi_body = pm_body;
	desc.xxfi_eom = pm_eom;
	desc.xxfi_abort = pm_abort;
	desc.xxfi_close = pm_close;
	desc.xxfi_negotiate = pm_negotiate;
	if (smfi_register(desc) != MI_SUCCESS) {
		msg_warn("smfi_register failed");
		return false;
	}
	return true;
}
