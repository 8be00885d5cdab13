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
 * milter_unidentified() counts, since start, the connections whose port
 * Postfix did not identify ({daemon_port} "unknown" or missing: a client
 * that reset at once, e.g. a port scan); milter_shutdown() logs it.
 */
#ifndef PM_MILTER_H
#define PM_MILTER_H

#include <stdbool.h>

#include "cfg.h"

/* Register the filter with libmilter; false (logged) on failure. */
bool milter_register(const char *name);

/* Install cfg as current; the previous one is released. */
void milter_config_set(struct cfg *cfg);

/* The current configuration, with a new reference (cfg_unref it). */
struct cfg *milter_config_get(void);

unsigned milter_active(void);
unsigned long milter_unidentified(void);

/* Release the current configuration and log the counters (at exit). */
void milter_shutdown(void);

#endif
