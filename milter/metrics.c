/*
 * metrics - counters and the /metrics endpoint. See metrics.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "addr.h"
#include "metrics.h"
#include "milter.h"
#include "policy.h"
#include "recorder.h"
#include "suspsync.h"
#include "util.h"

#define MX_CONN_LIMIT	4
#define MX_TIMEOUT	10		/* seconds */
#define MX_CONN_MEMORY	(16 * 1024)

static const char *const mx_verdicts[] = {
	"accepted", "rejected", "tempfailed", "aborted",
};
#define MX_NVERDICTS (sizeof(mx_verdicts) / sizeof(*mx_verdicts))

/*
 * The rule labels: the distinct names of policy.c's rule table (in its
 * order), then "none" and "other"; filled by metrics_open(), before any
 * callback, so a new rule always has its own label.
 */
#define MX_NRULES (POLICY_RULE_COUNT + 2)
static const char *mx_rules[MX_NRULES];
static size_t mx_nrules;

/* The budget rules, by cfg_limit_key, and the modes of a hit. */
static const char *const mx_budget_rules[CFG_NLIMITS] = {
	[CFG_LIMIT_MESSAGES] = "limit_messages",
	[CFG_LIMIT_RECIPIENTS] = "limit_recipients",
	[CFG_LIMIT_BYTES] = "limit_bytes",
};
static const char *const mx_modes[] = {"enforce", "monitor"};

static const char *const mx_tls[] = {
	"none", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3", "other",
};
#define MX_NTLS (sizeof(mx_tls) / sizeof(*mx_tls))

struct mx_port {
	atomic_uint key;		/* port + 1; 0 = free slot */
	atomic_ulong sessions;
	atomic_ulong unidentified;
	atomic_ulong transactions[MX_NVERDICTS];
	atomic_ulong tls[MX_NTLS];
	atomic_ulong refusals[MX_NRULES];
	atomic_ulong exposures;
	atomic_ulong budget_hits[CFG_NLIMITS][2];	/* [rule][monitor] */
};

/* METRICS_PORTS slots, then the one of every other port. */
static struct mx_port mx_ports[METRICS_PORTS + 1];
static atomic_ulong mx_journaled, mx_not_journaled;
static atomic_ulong mx_reloads_ok, mx_reloads_failed;
static atomic_llong mx_last_reload_ok;
static atomic_bool mx_other_used;
static struct MHD_Daemon *mx_daemon;
static int mx_fd = -1;

/* The slot of a port; lock-free: a free slot is claimed by CAS. */
static struct mx_port *mx_slot(unsigned port)
{
	unsigned key = port + 1, cur;

	for (size_t i = 0; i < METRICS_PORTS; i++) {
		cur = atomic_load_explicit(&mx_ports[i].key, memory_order_acquire);
		if (cur == key)
			return &mx_ports[i];
		if (cur == 0) {
			if (atomic_compare_exchange_strong(&mx_ports[i].key,
							   &cur, key) ||
			    cur == key)
				return &mx_ports[i];
		}
	}
	atomic_store_explicit(&mx_other_used, true, memory_order_relaxed);
	return &mx_ports[METRICS_PORTS];
}

static size_t mx_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (s != NULL && strcmp(names[i], s) == 0)
			return i;
	return n - 1;
}

static void mx_add(atomic_ulong *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void metrics_session(unsigned port)
{
	mx_add(&mx_slot(port)->sessions);
}

void metrics_unidentified(unsigned port)
{
	mx_add(&mx_slot(port)->unidentified);
}

void metrics_journaled(bool ok)
{
	mx_add(ok ? &mx_journaled : &mx_not_journaled);
}

void metrics_exposure(unsigned port)
{
	mx_add(&mx_slot(port)->exposures);
}

void metrics_event(unsigned port, bool transaction, const char *verdict,
		   const char *rule, const char *tls_version, bool exposure)
{
	struct mx_port *p = mx_slot(port);
	size_t v;

	if (exposure)
		mx_add(&p->exposures);
	if (verdict != NULL && (strcmp(verdict, "rejected") == 0 ||
				strcmp(verdict, "tempfailed") == 0))
		mx_add(&p->refusals[mx_index(mx_rules, mx_nrules,
					     rule ? rule : "none")]);
	if (!transaction)
		return;
	for (v = 0; v < MX_NVERDICTS; v++)
		if (verdict != NULL && strcmp(verdict, mx_verdicts[v]) == 0)
			mx_add(&p->transactions[v]);
	if (tls_version == NULL || *tls_version == '\0')
		mx_add(&p->tls[0]);
	else if (strcmp(tls_version, "TLSv1.0") == 0)
		mx_add(&p->tls[1]);
	else
		mx_add(&p->tls[mx_index(mx_tls, MX_NTLS, tls_version)]);
}

void metrics_budget_hit(unsigned port, enum cfg_limit_key k, bool monitor)
{
	if ((unsigned) k < CFG_NLIMITS)
		mx_add(&mx_slot(port)->budget_hits[k][monitor ? 1 : 0]);
}

static void mx_rules_init(void)
{
	mx_nrules = 0;
	for (int id = 0; id < POLICY_RULE_COUNT; id++) {
		const char *name = policy_rule((enum policy_rule_id) id)->name;
		size_t k;

		for (k = 0; k < mx_nrules && strcmp(mx_rules[k], name) != 0; k++)
			;
		if (k == mx_nrules)
			mx_rules[mx_nrules++] = name;
	}
	mx_rules[mx_nrules++] = "none";
	mx_rules[mx_nrules++] = "other";
}

void metrics_reload(bool ok)
{
	mx_add(ok ? &mx_reloads_ok : &mx_reloads_failed);
	if (ok)
		atomic_store(&mx_last_reload_ok, (long long) time(NULL));
}

/* ---- the text format ------------------------------------------------------ */

static void mx_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void mx_printf(struct strbuf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		strbuf_add(b, line, (size_t) n < sizeof(line) ? (size_t) n :
			   sizeof(line) - 1);
}

static void mx_head(struct strbuf *b, const char *name, const char *type,
		    const char *help)
{
	mx_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The port label of slot i: a number, "unknown" (0) or "other". */
static const char *mx_port_label(size_t i, char buf[12])
{
	unsigned key = atomic_load(&mx_ports[i].key);

	if (i == METRICS_PORTS)
		return "other";
	if (key == 1)
		return "unknown";
	snprintf(buf, 12, "%u", key - 1);
	return buf;
}

static bool mx_used(size_t i)
{
	return i == METRICS_PORTS ? atomic_load(&mx_other_used) :
	       atomic_load(&mx_ports[i].key) != 0;
}

/* One labelled counter family over the ports: off is the offset of the
 * first counter in struct mx_port, names/n its second label's values. */
static void mx_family(struct strbuf *b, const char *name, const char *help,
		      const char *label, const char *const *names, size_t n,
		      size_t off)
{
	char pb[12];

	mx_head(b, name, "counter", help);
	for (size_t i = 0; i <= METRICS_PORTS; i++) {
		const char *port = mx_port_label(i, pb);
		atomic_ulong *c = (atomic_ulong *) ((char *) &mx_ports[i] + off);

		if (!mx_used(i))
			continue;
		for (size_t k = 0; k < n; k++) {
			if (label == NULL)
				mx_printf(b, "%s{port=\"%s\"} %lu\n", name, port,
					  atomic_load(&c[k]));
			else
				mx_printf(b, "%s{port=\"%s\",%s=\"%s\"} %lu\n",
					  name, port, label, names[k],
					  atomic_load(&c[k]));
		}
	}
}

/* portmilter_budget_hits_total{port,rule,mode}: the ports with a hit. */
static void mx_budget_family(struct strbuf *b)
{
	static const char name[] = "portmilter_budget_hits_total";
	char pb[12];

	mx_head(b, name, "counter", "Sending budgets found spent, by port, "
		"rule and mode (monitor: limits_enforce = no, a would-be hit).");
	for (size_t i = 0; i <= METRICS_PORTS; i++) {
		const char *port = mx_port_label(i, pb);
		unsigned long n[CFG_NLIMITS][2], any = 0;

		if (!mx_used(i))
			continue;
		for (size_t k = 0; k < CFG_NLIMITS; k++)
			for (size_t m = 0; m < 2; m++)
				any |= n[k][m] = atomic_load(
					&mx_ports[i].budget_hits[k][m]);
		if (any == 0)
			continue;
		for (size_t k = 0; k < CFG_NLIMITS; k++)
			for (size_t m = 0; m < 2; m++)
				mx_printf(b, "%s{port=\"%s\",rule=\"%s\",mode=\"%s\"}"
					  " %lu\n", name, port, mx_budget_rules[k],
					  mx_modes[m], n[k][m]);
	}
}

char *metrics_render(size_t *len)
{
	struct strbuf b = {0};
	struct recorder_stats rs;
	struct suspsync_stats ss;

	recorder_stats(&rs);
	suspsync_stats(&ss);
	mx_head(&b, "portmilter_build_info", "gauge",
		"The running portmilter's version (always 1).");
	mx_printf(&b, "portmilter_build_info{version=\"%s\"} 1\n",
		  PACKAGE_VERSION);
	mx_head(&b, "portmilter_sessions_active", "gauge",
		"SMTP sessions open now.");
	mx_printf(&b, "portmilter_sessions_active %u\n", milter_active());
	mx_family(&b, "portmilter_sessions_total",
		  "SMTP sessions (milter connections) by port.", NULL, NULL, 1,
		  offsetof(struct mx_port, sessions));
	mx_family(&b, "portmilter_sessions_unidentified_total",
		  "SMTP sessions whose port Postfix did not identify "
		  "({daemon_port} unknown or missing: a client that left at "
		  "once), by the port taken from {daemon_name}.", NULL, NULL, 1,
		  offsetof(struct mx_port, unidentified));
	mx_family(&b, "portmilter_transactions_total",
		  "Transactions (MAIL FROM to end) by port and verdict.",
		  "verdict", mx_verdicts, MX_NVERDICTS,
		  offsetof(struct mx_port, transactions));
	mx_family(&b, "portmilter_transactions_tls_total",
		  "Transactions by port and TLS version (none: no TLS).",
		  "tls_version", mx_tls, MX_NTLS, offsetof(struct mx_port, tls));
	mx_family(&b, "portmilter_refusals_total",
		  "Events rejected or tempfailed, by port and rule.", "rule",
		  mx_rules, mx_nrules, offsetof(struct mx_port, refusals));
	mx_budget_family(&b);
	mx_family(&b, "portmilter_credential_exposures_total",
		  "Events with AUTH without TLS (a password in clear), by port.",
		  NULL, NULL, 1, offsetof(struct mx_port, exposures));
	mx_head(&b, "portmilter_events_journaled_total", "counter",
		"Events written to the journal.");
	mx_printf(&b, "portmilter_events_journaled_total %lu\n",
		  atomic_load(&mx_journaled));
	mx_head(&b, "portmilter_events_not_journaled_total", "counter",
		"Events that could not be journaled (journal full or failing).");
	mx_printf(&b, "portmilter_events_not_journaled_total %lu\n",
		  atomic_load(&mx_not_journaled));
	mx_head(&b, "portmilter_journal_bytes", "gauge",
		"Bytes in the journal (not yet shipped or not yet removed).");
	mx_printf(&b, "portmilter_journal_bytes %llu\n",
		  (unsigned long long) rs.journal_bytes);
	mx_head(&b, "portmilter_journal_oldest_unshipped_timestamp_seconds",
		"gauge", "When the oldest event not yet in PostgreSQL happened, "
		"Unix time; absent when all is shipped.");
	if (rs.oldest_unshipped_us > 0)
		mx_printf(&b, "portmilter_journal_oldest_unshipped_timestamp_seconds"
			  " %lld.%06lld\n",
			  (long long) (rs.oldest_unshipped_us / 1000000),
			  (long long) (rs.oldest_unshipped_us % 1000000));
	mx_head(&b, "portmilter_shipper_rows_total", "counter",
		"Events stored in PostgreSQL by the shipper.");
	mx_printf(&b, "portmilter_shipper_rows_total %llu\n",
		  (unsigned long long) rs.shipped);
	mx_head(&b, "portmilter_shipper_up", "gauge",
		"1 if the shipper's database connection is up, else 0.");
	mx_printf(&b, "portmilter_shipper_up %d\n", rs.shipper_up ? 1 : 0);
	mx_head(&b, "portmilter_suspensions", "gauge",
		"Suspensions in force in this milter's list, by kind.");
	mx_printf(&b, "portmilter_suspensions{kind=\"user\"} %zu\n"
		  "portmilter_suspensions{kind=\"address\"} %zu\n",
		  ss.users, ss.addresses);
	mx_head(&b, "portmilter_suspensions_last_sync_timestamp_seconds",
		"gauge", "When the suspension list was last read from "
		"PostgreSQL, Unix time; absent when not since the start.");
	if (ss.synced > 0)
		mx_printf(&b, "portmilter_suspensions_last_sync_timestamp_seconds"
			  " %lld\n", (long long) ss.synced);
	mx_head(&b, "portmilter_config_reloads_total", "counter",
		"Configuration reloads (SIGHUP) by result.");
	mx_printf(&b, "portmilter_config_reloads_total{result=\"success\"} %lu\n"
		  "portmilter_config_reloads_total{result=\"failure\"} %lu\n",
		  atomic_load(&mx_reloads_ok), atomic_load(&mx_reloads_failed));
	mx_head(&b, "portmilter_config_last_reload_success_timestamp_seconds",
		"gauge", "When the configuration was last loaded (start or "
		"reload), Unix time.");
	mx_printf(&b, "portmilter_config_last_reload_success_timestamp_seconds "
		  "%lld\n", atomic_load(&mx_last_reload_ok));
	*len = b.len;
	return strbuf_take(&b);
}

/* ---- HTTP ------------------------------------------------------------------ */

static enum MHD_Result mx_answer(void *cls, struct MHD_Connection *c,
				 const char *url, const char *method,
				 const char *version, const char *upload,
				 size_t *upload_len, void **state)
{
	static const char not_found[] = "only /metrics here\n";
	struct MHD_Response *r;
	enum MHD_Result ret;
	unsigned status = MHD_HTTP_OK;
	size_t len;
	char *text;

	(void) cls, (void) version, (void) upload;
	if (*state == NULL) {		/* headers only: wait for the rest */
		*state = c;
		return MHD_YES;
	}
	if (*upload_len != 0)
		return MHD_NO;		/* no body is wanted: drop it */
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else if (strcmp(url, "/metrics") != 0) {
		status = MHD_HTTP_NOT_FOUND;
	}
	if (status != MHD_HTTP_OK) {
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1,
						    (void *) not_found,
						    MHD_RESPMEM_PERSISTENT);
	} else {
		text = metrics_render(&len);
		r = MHD_create_response_from_buffer(len, text,
						    MHD_RESPMEM_MUST_FREE);
	}
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK ?
				"text/plain; version=0.0.4; charset=utf-8" :
				"text/plain; charset=utf-8");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

bool metrics_open(const struct cfg *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct pm_addr a;
	socklen_t sl;
	unsigned port;
	int one = 1;

	mx_rules_init();
	if (strcmp(cfg->metrics_listen, "none") == 0)
		return true;
	if (!cfg_hostport_parse(cfg->metrics_listen, &a, &port)) {
		snprintf(err, errlen, "%s: metrics_listen %s: not ADDRESS:PORT",
			 cfg->path, cfg->metrics_listen);
		return false;
	}
	memset(&ss, 0, sizeof(ss));
	if (a.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t) port);
		memcpy(&s4->sin_addr, a.bytes, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t) port);
		memcpy(&s6->sin6_addr, a.bytes, 16);
		sl = sizeof(*s6);
	}
	mx_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (mx_fd < 0 ||
	    setsockopt(mx_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(mx_fd, (struct sockaddr *) &ss, sl) != 0 ||
	    listen(mx_fd, 16) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s",
			 cfg->metrics_listen, strerror(errno));
		if (mx_fd >= 0)
			close(mx_fd);
		mx_fd = -1;
		return false;
	}
	return true;
}

bool metrics_start(char *err, size_t errlen)
{
	sigset_t all, old;

	atomic_store(&mx_last_reload_ok, (long long) time(NULL));
	if (mx_fd < 0)
		return true;
	/* Its thread must take no signal: SIGTERM and SIGHUP are for
	 * libmilter's and the main thread's handling (a SIGTERM taken by
	 * this thread would kill the process without a clean stop). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	mx_daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
		mx_answer, NULL,
		MHD_OPTION_LISTEN_SOCKET, mx_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned) MX_CONN_LIMIT,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned) MX_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) MX_TIMEOUT,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) MX_CONN_MEMORY,
		MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (mx_daemon == NULL) {
		snprintf(err, errlen, "metrics: libmicrohttpd did not start");
		return false;
	}
	mx_fd = -1;	/* MHD closes it when it stops */
	return true;
}

void metrics_stop(void)
{
	if (mx_daemon != NULL)
		MHD_stop_daemon(mx_daemon);
	mx_daemon = NULL;
	if (mx_fd >= 0)
		close(mx_fd);
	mx_fd = -1;
}
