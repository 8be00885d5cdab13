/*
 * metrics - the milter's own counters, served in the Prometheus text
 * format on http://ADDRESS:PORT/metrics when metrics_listen is set.
 *
 * The SMTP path only bumps counters: each metrics_*() hook is a few
 * relaxed atomic additions on a fixed table (a port finds its slot by a
 * lock-free compare-and-swap; ports beyond METRICS_PORTS share the slot
 * port="other"), never a lock, a syscall or an allocation. The HTTP side
 * is libmicrohttpd in its own thread (MHD_USE_INTERNAL_POLLING_THREAD):
 * at most 4 connections, 10 s idle timeout, 16 kB of memory each, only
 * GET /metrics; a slow or hostile scraper holds one of those 4 and
 * nothing else, and can never block a milter callback. A scrape reads
 * the counters (and the journal size and shipper state, each behind
 * its own short lock) into one buffer, bounded by the table's size.
 *
 * Metrics (names and units per the Prometheus conventions):
 *   portmilter_build_info{version}                    1
 *   portmilter_sessions_active                        gauge
 *   portmilter_sessions_total{port}                   connections
 *   portmilter_sessions_unidentified_total{port}      of those, the ones
 *                                                     whose port Postfix
 *                                                     did not identify
 *                                                     (port scans)
 *   portmilter_transactions_total{port,verdict}       accepted, rejected,
 *                                                     tempfailed, aborted
 *   portmilter_transactions_tls_total{port,tls_version}
 *                                                     none, TLSv1 ..
 *                                                     TLSv1.3, other
 *   portmilter_refusals_total{port,rule}              events rejected or
 *                                                     tempfailed, by rule
 *   portmilter_credential_exposures_total{port}       events with AUTH
 *                                                     without TLS (the
 *                                                     milter's, and those
 *                                                     of Postfix's log)
 *   portmilter_budget_hits_total{port,rule,mode}      budgets found spent:
 *                                                     rule limit_messages,
 *                                                     limit_recipients,
 *                                                     limit_bytes; mode
 *                                                     enforce (refused or
 *                                                     held) or monitor
 *                                                     (limits_enforce = no)
 *   portmilter_events_journaled_total                 events written
 *                                                     (the milter's and
 *                                                     the log reader's)
 *   portmilter_events_not_journaled_total             events lost (full)
 *   portmilter_journal_bytes                          gauge
 *   portmilter_journal_oldest_unshipped_timestamp_seconds
 *                                                     gauge: when the
 *                                                     oldest event not in
 *                                                     PostgreSQL happened;
 *                                                     absent when none
 *   portmilter_shipper_rows_total                     events stored in
 *                                                     PostgreSQL
 *   portmilter_shipper_up                             1 connected, 0 not
 *   portmilter_suspensions{kind}                      gauge: user, address
 *                                                     suspensions in force
 *                                                     (suspsync.h)
 *   portmilter_suspensions_last_sync_timestamp_seconds
 *                                                     gauge: when the list
 *                                                     was last read from
 *                                                     PostgreSQL; absent
 *                                                     before the first read
 *   portmilter_config_reloads_total{result}           success, failure
 *   portmilter_config_last_reload_success_timestamp_seconds
 * Port "unknown" is a connection whose port nobody could tell. The rule
 * labels are the names of policy.c's rule table (policy_rule()), then
 * "none" (a refusal without a rule) and "other" (never expected).
 */
#ifndef PM_METRICS_H
#define PM_METRICS_H

#include <stdbool.h>

#include "cfg.h"

#define METRICS_PORTS	32

/* Bind cfg->metrics_listen (before the daemon forks, while root); false
 * with err set if it cannot. Nothing to bind for "none". Called once,
 * before any hook (it also builds the rule labels). */
bool metrics_open(const struct cfg *cfg, char *err, size_t errlen);

/* Serve on the bound socket (after the fork); false with err set. */
bool metrics_start(char *err, size_t errlen);

/* Stop serving; counters stay. */
void metrics_stop(void);

/* The hooks of the SMTP path (lock-free). metrics_unidentified: a
 * session whose port Postfix did not identify ({daemon_port} "unknown"
 * or missing; port: the one from {daemon_name}, 0 when none), counted
 * besides its metrics_session(). */
void metrics_session(unsigned port);
void metrics_unidentified(unsigned port);
void metrics_event(unsigned port, bool transaction, const char *verdict,
		   const char *rule, const char *tls_version, bool exposure);

/* An event handed to the journal (recorder_put(), whatever its source:
 * the milter or the log reader): written, or not (full or failing). */
void metrics_journaled(bool ok);

/* A credential exposure seen in Postfix's log (logreader.h), on port
 * (0 = unknown): counted with the milter's own. */
void metrics_exposure(unsigned port);

/* A budget found spent (budget k, on port): refused or held, or only
 * logged in monitor mode. Lock-free, like the hooks above. */
void metrics_budget_hit(unsigned port, enum cfg_limit_key k, bool monitor);

/* The text of /metrics, malloc'd; *len its length. */
char *metrics_render(size_t *len);

/* A reload: its result. */
void metrics_reload(bool ok);

#endif
