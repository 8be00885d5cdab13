/*
 * msg - logging for every portmilter program.
 *
 * Three kinds of failure, as in Postfix:
 *   msg_warn()  - something went wrong, the program goes on;
 *   msg_fatal() - bad configuration or environment: log and exit(1);
 *   msg_panic() - a broken invariant (a bug): log and abort().
 * msg_info() logs an ordinary event (one per decision in the milter).
 *
 * Lines go to syslog (facility mail) and/or to stderr, as chosen by
 * msg_init(). On stderr each line looks like a syslog line:
 *   "Nov 26 09:40:01 host portmilter[123]: warning: text".
 * Callers escape untrusted strings (str_escape()) before logging them.
 * All functions are thread-safe; none of them allocate memory.
 */
#ifndef PM_MSG_H
#define PM_MSG_H

#include <stdarg.h>
#include <stdnoreturn.h>

#define PM_PRINTF(f, a) __attribute__((format(printf, f, a)))

enum {
	MSG_TO_STDERR = 1 << 0,
	MSG_TO_SYSLOG = 1 << 1,
};

/* Where to log from now on; progname is kept by reference. */
void msg_init(const char *progname, int where);

/* Set the verbosity: msg_debug() lines appear only when verbose > 0. */
void msg_set_verbose(int verbose);
int msg_verbose(void);

void msg_debug(const char *fmt, ...) PM_PRINTF(1, 2);
void msg_info(const char *fmt, ...) PM_PRINTF(1, 2);
void msg_warn(const char *fmt, ...) PM_PRINTF(1, 2);
noreturn void msg_fatal(const char *fmt, ...) PM_PRINTF(1, 2);
noreturn void msg_panic(const char *fmt, ...) PM_PRINTF(1, 2);

/*
 * For the command-line tools: "progname: text" on stderr, plain (no time
 * stamp, no syslog), after flushing stdout so that the two stay in order.
 */
void msg_cli_error(const char *fmt, ...) PM_PRINTF(1, 2);
void msg_cli_verror(const char *fmt, va_list ap) PM_PRINTF(1, 0);

#endif
