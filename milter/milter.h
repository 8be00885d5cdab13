/*
 * milter - the libmilter side of portmilter: callbacks, per-connection
 * and per-message contexts, and the configuration they run under.
 *
 * milter_register() hands the callbacks to libmilter.
 * milter_config_set() installs a configuration (taking over the caller's
 * reference); every new connection takes its own reference to the one
 * current when it connects and keeps it until it closes, so a reload
 * never changes the rules in the middle of a session.
 * milter_active() counts connections still open, for a clean shutdown.
 * milter_budgets() is the sending budgets' counters (budget.h), made by
 * the first milter_config_set() and kept until exit; milter_budget_now()
 * their clock, in seconds (monotonic, never below MILTER_BUDGET_EPOCH).
 * milter_unidentified() counts, since start, the connections whose port
 * Postfix did not identify ({daemon_port} "unknown" or missing: a client
 * that reset at once, e.g. a port scan); milter_shutdown() logs it.
 */
#ifndef PM_MILTER_H
#define PM_MILTER_H

#include <stdbool.h>

#include <stdint.h>

#include "cfg.h"

struct budget;

/* Register the filter with libmilter; false (logged) on failure. */
bool milter_register(const char *name);

/* Install cfg as current; the previous one is released. */
void milter_config_set(struct cfg *cfg);

/* The current configuration, with a new reference (cfg_unref it). */
struct cfg *milter_config_get(void);

/* Longer than any budget window (30 days) plus its slot. */
#define MILTER_BUDGET_EPOCH	(35U * 86400U)

struct budget *milter_budgets(void);
uint64_t milter_budget_now(void);

unsigned milter_active(void);
unsigned long milter_unidentified(void);

/* Release the current configuration and log the counters (at exit). */
void milter_shutdown(void);

#endif
