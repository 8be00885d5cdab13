/*
 * logjournal - the systemd journal as the log reader's source
 * (postfix_log = journal, or journal:DIR): journalctl(1), run as a child
 * of the milter with its privileges, follows the mail facility's entries
 * (SYSLOG_FACILITY=2, every boot) in export format; each entry comes
 * back as one syslog-style line, the form lib/maillog parses:
 *     2026-12-06T15:13:11.123456+00:00 HOST IDENTIFIER[PID]: MESSAGE
 * (__REALTIME_TIMESTAMP in UTC, _HOSTNAME, SYSLOG_IDENTIFIER, SYSLOG_PID
 * or _PID, MESSAGE; a newline or NUL in MESSAGE ends the line there)
 * with its cursor, the journal's own durable position.
 *
 * ljournal_open(dir, cursor, since) starts journalctl: the system's
 * journal (dir NULL) or the journal files in dir (journalctl
 * --directory); from the entry after cursor, or (cursor NULL) from the
 * time since (seconds since the epoch), every entry from there, or
 * (since 0 too) from now on. NULL if it cannot be started (said so).
 * journalctl gets SIGTERM when the thread that started it ends, or the
 * milter (even SIGKILLed): it never outlives its reader.
 * ljournal_next() waits at most timeout_ms for the next entry: 1 and the
 * line (NUL-terminated, cut to cap - 1 bytes) and its cursor; 0 when
 * none came in time; -1 when journalctl has ended: ljournal_why() says
 * how ("exited with status 1"); close it and open it again.
 * ljournal_close() ends journalctl (SIGTERM, then SIGKILL) and reaps it.
 * Nothing here is shared: one reader thread owns its struct ljournal.
 */
#ifndef PM_LOGJOURNAL_H
#define PM_LOGJOURNAL_H

#include <stddef.h>
#include <time.h>

#define LJOURNAL_CURSOR_MAX 512

struct ljournal;

struct ljournal *ljournal_open(const char *dir, const char *cursor,
			       time_t since);
int ljournal_next(struct ljournal *j, int timeout_ms, char *line, size_t cap,
		  size_t *len, char cursor[LJOURNAL_CURSOR_MAX]);
const char *ljournal_why(const struct ljournal *j);
void ljournal_close(struct ljournal *j);

#endif
