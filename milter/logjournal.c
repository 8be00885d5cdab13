/*
 * logjournal - the systemd journal through journalctl. See logjournal.h.
 *
 * The export format (systemd's "Journal Export Format"): one field a
 * line, "KEY=VALUE\n", or for a value that is not plain text "KEY\n", a
 * little-endian 64-bit length, the bytes, "\n"; an empty line ends the
 * entry. Read byte by byte through a state machine, so no field size
 * matters: the fields kept are cut to their buffers, the rest skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "logjournal.h"
#include "maillog.h"
#include "msg.h"
#include "util.h"

extern char **environ;

enum field { F_CURSOR, F_TIME, F_HOST, F_IDENT, F_SYSLOG_PID, F_PID, F_MSG,
	     F_NFIELDS, F_NONE = F_NFIELDS };

static const struct {
	const char *key;
	size_t cap;
} fields[F_NFIELDS] = {
	[F_CURSOR] = {"__CURSOR", LJOURNAL_CURSOR_MAX},
	[F_TIME] = {"__REALTIME_TIMESTAMP", 24},
	[F_HOST] = {"_HOSTNAME", 256},
	[F_IDENT] = {"SYSLOG_IDENTIFIER", 128},
	[F_SYSLOG_PID] = {"SYSLOG_PID", 24},
	[F_PID] = {"_PID", 24},
	[F_MSG] = {"MESSAGE", MAILLOG_LINE_MAX},
};

enum state { ST_KEY, ST_TEXT, ST_BINLEN, ST_BIN, ST_BINEND };

struct ljournal {
	pid_t pid;
	int fd;				/* journalctl's standard output */
	unsigned char rbuf[65536];
	size_t rpos, rlen;
	enum state st;
	char key[72];
	size_t klen;
	enum field cur;			/* the field being read, or F_NONE */
	uint64_t binlen;		/* ST_BINLEN: bytes of it seen; ST_BIN: left */
	unsigned char lenbytes[8];
	char *val[F_NFIELDS];		/* NUL-terminated, cut to cap - 1 */
	size_t vlen[F_NFIELDS];
	bool have[F_NFIELDS];
	bool any;			/* a field since the last entry */
	char why[64];			/* how journalctl ended, "" = running */
};

static enum field field_of(const char *key)
{
	for (int f = 0; f < F_NFIELDS; f++)
		if (strcmp(key, fields[f].key) == 0)
			return (enum field)f;
	return F_NONE;
}

static void val_add(struct ljournal *j, unsigned char c)
{
	enum field f = j->cur;

	if (f == F_NONE || j->vlen[f] + 1 >= fields[f].cap)
		return;
	j->val[f][j->vlen[f]++] = (char)c;
}

static void field_start(struct ljournal *j)
{
	j->key[j->klen] = '\0';
	j->cur = field_of(j->key);
	if (j->cur != F_NONE)
		j->vlen[j->cur] = 0;
	j->any = true;
}

static void field_end(struct ljournal *j)
{
	if (j->cur != F_NONE) {
		j->val[j->cur][j->vlen[j->cur]] = '\0';
		j->have[j->cur] = true;
	}
	j->klen = 0;
	j->st = ST_KEY;
}

/* The entry as a syslog line; false if it lacks a time or a message. */
static bool entry_line(struct ljournal *j, char *line, size_t cap,
		       size_t *len, char *cursor)
{
	char *end;
	unsigned long long usec;
	time_t sec;
	struct tm tm;
	const char *pid, *msg;
	size_t mlen;
	int n;

	if (!j->have[F_TIME] || !j->have[F_MSG] || !j->have[F_CURSOR])
		return false;
	errno = 0;
	usec = strtoull(j->val[F_TIME], &end, 10);
	if (errno != 0 || end == j->val[F_TIME] || *end != '\0')
		return false;
	sec = (time_t)(usec / 1000000);
	gmtime_r(&sec, &tm);
	pid = j->have[F_SYSLOG_PID] ? j->val[F_SYSLOG_PID] :
	      j->have[F_PID] ? j->val[F_PID] : NULL;
	msg = j->val[F_MSG];
	mlen = strcspn(msg, "\n");	/* (a NUL ends it too) */
	n = snprintf(line, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06llu+00:00 "
		     "%s %s%s%s%s: %.*s", tm.tm_year + 1900, tm.tm_mon + 1,
		     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec % 1000000,
		     j->have[F_HOST] && j->val[F_HOST][0] ? j->val[F_HOST] : "localhost",
		     j->have[F_IDENT] && j->val[F_IDENT][0] ? j->val[F_IDENT] : "-",
		     pid ? "[" : "", pid ? pid : "", pid ? "]" : "", (int)mlen, msg);
	if (n < 0)
		return false;
	*len = (size_t)n < cap ? (size_t)n : cap - 1;
	snprintf(cursor, LJOURNAL_CURSOR_MAX, "%s", j->val[F_CURSOR]);
	return true;
}

/* Feed one byte; true when it ended an entry that gave a line. */
static bool feed(struct ljournal *j, unsigned char c, char *line, size_t cap,
		 size_t *len, char *cursor)
{
	bool done;

	switch (j->st) {
	case ST_KEY:
		if (c == '=') {
			field_start(j);
			j->st = ST_TEXT;
		} else if (c == '\n' && j->klen == 0) {
			/* the end of an entry */
			done = j->any && entry_line(j, line, cap, len, cursor);
			memset(j->have, 0, sizeof(j->have));
			j->any = false;
			return done;
		} else if (c == '\n') {
			field_start(j);
			j->st = ST_BINLEN;
			j->binlen = 0;
		} else if (j->klen + 1 < sizeof(j->key)) {
			j->key[j->klen++] = (char)c;
		}
		return false;
	case ST_TEXT:
		if (c == '\n')
			field_end(j);
		else
			val_add(j, c);
		return false;
	case ST_BINLEN:
		j->lenbytes[j->binlen++] = c;
		if (j->binlen == 8) {
			j->binlen = 0;
			for (int i = 7; i >= 0; i--)
				j->binlen = (j->binlen << 8) | j->lenbytes[i];
			j->st = j->binlen ? ST_BIN : ST_BINEND;
		}
		return false;
	case ST_BIN:
		val_add(j, c);
		if (--j->binlen == 0)
			j->st = ST_BINEND;
		return false;
	case ST_BINEND:
		field_end(j);		/* c is the "\n" after the data */
		return false;
	}
	return false;
}

/* journalctl's path, from PATH (else /usr/bin:/bin), looked up before
 * fork(): the child of a threaded process may only make
 * async-signal-safe calls, which execvp() is not. False if not found. */
static bool journalctl_path(char *out, size_t cap)
{
	const char *path = getenv("PATH"), *p, *colon;

	if (path == NULL || path[0] == '\0')
		path = "/usr/bin:/bin";
	for (p = path; ; p = colon + 1) {
		size_t n;

		colon = strchr(p, ':');
		n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		if (n > 0 && (size_t)snprintf(out, cap, "%.*s/journalctl",
					      (int)n, p) < cap &&
		    access(out, X_OK) == 0)
			return true;
		if (colon == NULL)
			return false;
	}
}

/* In the child, between fork() and execve(): async-signal-safe calls
 * only. journalctl gets SIGTERM when the thread that started it ends,
 * the milter's SIGKILL included (journalctl 252 itself ends when it
 * sees its pipe's reader gone; this does not depend on that, nor on
 * when it looks). The milter's reader
 * thread blocks every signal, and the milter ignores some: journalctl
 * gets neither. */
static _Noreturn void child(const char *path, char **argv, int out,
			    pid_t parent)
{
	static const int dfl[] = {SIGPIPE, SIGTERM, SIGHUP, SIGINT};
	struct sigaction sa;
	sigset_t none;
	int fd;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
		_exit(127);		/* the milter is gone already */
	fd = open("/dev/null", O_RDONLY);
	/* (dup2() of a descriptor onto itself keeps its close-on-exec) */
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(out, 1) < 0 ||
	    (out == 1 && fcntl(1, F_SETFD, 0) != 0))
		_exit(127);
	closefrom(3);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(dfl) / sizeof(dfl[0]); i++)
		(void)sigaction(dfl[i], &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	execve(path, argv, environ);
	_exit(127);
}

struct ljournal *ljournal_open(const char *dir, const char *cursor,
			       time_t since)
{
	struct ljournal *j;
	char *argv[16], after[LJOURNAL_CURSOR_MAX + 20], dirarg[4200],
	     sincearg[40], path[4200];
	int p[2], argc = 0;
	pid_t parent = getpid();

	argv[argc++] = "journalctl";
	argv[argc++] = "--follow";
	argv[argc++] = "--output=export";
	argv[argc++] = "--no-pager";
	argv[argc++] = "--boot=all";	/* -f alone: this boot only */
	if (dir != NULL) {
		snprintf(dirarg, sizeof(dirarg), "--directory=%s", dir);
		argv[argc++] = dirarg;
	}
	/* --follow alone implies --lines=10: from a cursor, journalctl
	 * shows the first 10 entries after it, then nothing more until the
	 * journal is written again (an 11th entry written while the milter
	 * was down waited for the next one) */
	if (cursor != NULL) {
		snprintf(after, sizeof(after), "--after-cursor=%s", cursor);
		argv[argc++] = after;
		argv[argc++] = "--lines=all";
	} else if (since != 0) {
		snprintf(sincearg, sizeof(sincearg), "--since=@%lld",
			 (long long)since);
		argv[argc++] = sincearg;
		argv[argc++] = "--lines=all";
	} else {
		argv[argc++] = "--lines=0";
	}
	argv[argc++] = "SYSLOG_FACILITY=2";	/* mail */
	argv[argc] = NULL;

	if (!journalctl_path(path, sizeof(path))) {
		msg_warn("logreader: cannot run journalctl: not found in PATH");
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		msg_warn("logreader: pipe: %s", strerror(errno));
		return NULL;
	}
	j = xcalloc(1, sizeof(*j));
	j->pid = fork();
	if (j->pid == 0)
		child(path, argv, p[1], parent);
	(void)close(p[1]);
	if (j->pid < 0) {
		msg_warn("logreader: cannot run journalctl: fork: %s",
			 strerror(errno));
		(void)close(p[0]);
		free(j);
		return NULL;
	}
	j->fd = p[0];
	j->cur = F_NONE;
	for (int f = 0; f < F_NFIELDS; f++)
		j->val[f] = xmalloc(fields[f].cap);
	return j;
}

int ljournal_next(struct ljournal *j, int timeout_ms, char *line, size_t cap,
		  size_t *len, char cursor[LJOURNAL_CURSOR_MAX])
{
	for (;;) {
		struct pollfd pfd = {.fd = j->fd, .events = POLLIN};
		ssize_t n;
		int st;

		while (j->rpos < j->rlen)
			if (feed(j, j->rbuf[j->rpos++], line, cap, len, cursor))
				return 1;
		n = poll(&pfd, 1, timeout_ms);
		if (n == 0 || (n < 0 && errno == EINTR))
			return 0;
		n = read(j->fd, j->rbuf, sizeof(j->rbuf));
		if (n > 0) {
			j->rpos = 0;
			j->rlen = (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return 0;
		if (waitpid(j->pid, &st, 0) == j->pid) {
			j->pid = 0;
			if (WIFEXITED(st))
				snprintf(j->why, sizeof(j->why), "exited with "
					 "status %d", WEXITSTATUS(st));
			else
				snprintf(j->why, sizeof(j->why), "ended by signal "
					 "%d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
		}
		return -1;
	}
}

const char *ljournal_why(const struct ljournal *j)
{
	return j->why[0] ? j->why : "ended";
}

void ljournal_close(struct ljournal *j)
{
	if (j == NULL)
		return;
	(void)close(j->fd);
	if (j->pid > 0) {
		int st;

		(void)kill(j->pid, SIGTERM);
		for (int i = 0; i < 50; i++) {
			if (waitpid(j->pid, &st, WNOHANG) == j->pid) {
				j->pid = 0;
				break;
			}
			usleep(20000);
		}
		if (j->pid > 0) {
			(void)kill(j->pid, SIGKILL);
			(void)waitpid(j->pid, &st, 0);
		}
	}
	for (int f = 0; f < F_NFIELDS; f++)
		free(j->val[f]);
	free(j);
}
