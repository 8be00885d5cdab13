/*
 * msg - logging. See msg.h for the contract.
 *
 * Each line is formatted into a local buffer first, then written with a
 * single write(2) on stderr, so lines from concurrent threads never mix.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

#define MSG_LINE_MAX 4096

static const char *msg_progname = "portmilter";
static int msg_where = MSG_TO_STDERR;
static int msg_verbosity;
static char msg_hostname[256] = "localhost";

void msg_init(const char *progname, int where)
{
	msg_progname = progname;
	msg_where = where;
	if (gethostname(msg_hostname, sizeof(msg_hostname)) != 0)
		strcpy(msg_hostname, "localhost");
	msg_hostname[sizeof(msg_hostname) - 1] = '\0';
	if (where & MSG_TO_SYSLOG)
		openlog(progname, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void msg_set_verbose(int verbose)
{
	msg_verbosity = verbose;
}

int msg_verbose(void)
{
	return msg_verbosity;
}

static void msg_vlog(int prio, const char *label, const char *fmt, va_list ap)
{
	char body[MSG_LINE_MAX];
	int saved_errno = errno;

	vsnprintf(body, sizeof(body), fmt, ap);
	if (msg_where & MSG_TO_SYSLOG) {
		if (label)
			syslog(prio, "%s: %s", label, body);
		else
			syslog(prio, "%s", body);
	}
	if (msg_where & MSG_TO_STDERR) {
		char line[MSG_LINE_MAX + 400];
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);
		int n;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s%s\n", stamp,
			     msg_hostname, msg_progname, (long)getpid(),
			     label ? label : "", label ? ": " : "", body);
		if (n < 0)
			n = 0;
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (write(STDERR_FILENO, line, (size_t)n) < 0) {
			/* Nowhere else to say it. */
		}
	}
	errno = saved_errno;
}

void msg_debug(const char *fmt, ...)
{
	va_list ap;

	if (msg_verbosity <= 0)
		return;
	va_start(ap, fmt);
	msg_vlog(LOG_DEBUG, "debug", fmt, ap);
	va_end(ap);
}

void msg_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

void msg_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_CRIT, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void msg_cli_verror(const char *fmt, va_list ap)
{
	fflush(stdout);
	fprintf(stderr, "%s: ", msg_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void msg_cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_cli_verror(fmt, ap);
	va_end(ap);
}

void msg_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_vlog(LOG_CRIT, "panic", fmt, ap);
	va_end(ap);
	abort();
}
