/*
 * postconf - run postconf(1) and read the live configuration.
 * See postconf.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "postconf.h"
#include "util.h"

#define PC_MAX_OUTPUT	(64u << 20)	/* bytes of postconf output */
#define PC_MAX_ARGS	4096

/* The child: stdin /dev/null, stdout and stderr to the pipes, exec. */
static _Noreturn void pc_child(const char *const *argv, int out, int err)
{
	int null = open("/dev/null", O_RDONLY);

	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		_exit(126);
	if (strchr(argv[0], '/') != NULL)
		execv(argv[0], (char *const *) argv);
	else
		execvp(argv[0], (char *const *) argv);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Read both pipes to their end (poll: neither can fill up and block). */
static bool pc_drain(int fds[2], struct strbuf bufs[2])
{
	struct pollfd p[2] = { { fds[0], POLLIN, 0 }, { fds[1], POLLIN, 0 } };
	char chunk[8192];
	int open_fds = 2;
	ssize_t n;

	while (open_fds > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
			} else if (bufs[i].len + (size_t) n <= PC_MAX_OUTPUT) {
				strbuf_add(&bufs[i], chunk, (size_t) n);
			}
		}
	}
	return true;
}

/* "postconf -c DIR -P" for messages. */
static char *pc_cmdline(const char *const *argv)
{
	struct strbuf b = { 0 };

	for (size_t i = 0; argv[i] != NULL; i++) {
		char *q = pc_shell_quote(argv[i]);

		if (i > 0)
			strbuf_str(&b, " ");
		strbuf_str(&b, q);
		free(q);
	}
	return strbuf_take(&b);
}

static char *pc_failure(const char *const *argv, int status, const char *text)
{
	char *cmd = pc_cmdline(argv), *msg, how[64];
	size_t len = strlen(text);

	while (len > 0 && text[len - 1] == '\n')
		len--;
	if (WIFEXITED(status))
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
	else
		snprintf(how, sizeof(how), "killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	msg = pc_strf("%s failed (%s)%s%.*s", cmd, how, len ? ":\n" : "",
		      (int) len, text);
	free(cmd);
	return msg;
}

bool pc_postconf_run(const struct pc_postconf *pc, const char *const *args,
		     size_t nargs, char **out, char **err)
{
	const char **argv = xcalloc(nargs + 4, sizeof(*argv));
	struct strbuf bufs[2] = { { 0 }, { 0 } };
	char *text[2];
	int po[2], pe[2], fds[2], status = 0;
	bool ok = false;
	pid_t pid;

	if (nargs > PC_MAX_ARGS)
		msg_panic("postconf: %zu arguments", nargs);
	argv[0] = pc->prog;
	argv[1] = "-c";
	argv[2] = pc->dir;
	memcpy(argv + 3, args, nargs * sizeof(*args));
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		msg_fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid == 0)
		pc_child(argv, po[1], pe[1]);
	close(po[1]);
	close(pe[1]);
	fds[0] = po[0];
	fds[1] = pe[0];
	if (!pc_drain(fds, bufs))
		msg_fatal("reading from postconf: %s", strerror(errno));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			msg_fatal("waitpid: %s", strerror(errno));
	text[0] = strbuf_take(&bufs[0]);
	text[1] = strbuf_take(&bufs[1]);
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (!ok)
		*err = pc_failure(argv, status, text[1]);
	if (ok && out != NULL)
		*out = text[0];
	else
		free(text[0]);
	free(text[1]);
	free(argv);
	return ok;
}

bool pc_postfix_dir_ok(const char *dir, char **err)
{
	static const char *const files[] = { "main.cf", "master.cf" };
	struct stat st;
	char *path;

	if (stat(dir, &st) < 0) {
		*err = pc_strf("%s: not a Postfix configuration directory: %s",
			       dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err = pc_strf("%s: not a Postfix configuration directory: "
			       "not a directory", dir);
		return false;
	}
	for (size_t i = 0; i < 2; i++) {
		path = pc_strf("%s/%s", dir, files[i]);
		if (access(path, R_OK) < 0) {
			*err = pc_strf("%s: not a Postfix configuration "
				       "directory: %s: %s", dir, path,
				       strerror(errno));
			free(path);
			return false;
		}
		free(path);
	}
	return true;
}

/* Run postconf with one option (or none) and parameters; parse. */
static bool pc_read(const struct pc_postconf *pc, const char *opt,
		    const char *const *params, size_t nparams,
		    struct pc_kvlist *into, char **err)
{
	const char **args = xcalloc(nparams + 1, sizeof(*args));
	size_t n = 0;
	char *out;
	bool ok;

	if (opt != NULL)
		args[n++] = opt;
	if (nparams > 0)
		memcpy(args + n, params, nparams * sizeof(*params));
	ok = pc_postconf_run(pc, args, n + nparams, &out, err);
	if (ok) {
		pc_kv_parse(into, out);
		free(out);
	}
	free(args);
	return ok;
}

char *pc_queue_dir(const struct pc_postconf *pc, char **err)
{
	static const char *const args[] = { "-xh", "queue_directory" };
	char *out;
	size_t len;

	if (!pc_postconf_run(pc, args, 2, &out, err))
		return NULL;
	len = strcspn(out, "\n");
	out[len] = '\0';
	if (out[0] != '/') {
		*err = pc_strf("%s: queue_directory is \"%s\": expected an "
			       "absolute path", pc->dir, out);
		free(out);
		return NULL;
	}
	return out;
}

bool pc_live_read(const struct pc_postconf *pc, const char *const *params,
		  size_t nparams, struct pc_live *live, char **err)
{
	memset(live, 0, sizeof(*live));
	if (!pc_read(pc, "-F", NULL, 0, &live->fields, err) ||
	    !pc_read(pc, "-P", NULL, 0, &live->overrides, err) ||
	    !pc_read(pc, "-Px", NULL, 0, &live->overrides_x, err) ||
	    !pc_read(pc, "-n", NULL, 0, &live->explicit, err) ||
	    !pc_read(pc, NULL, params, nparams, &live->raw, err) ||
	    !pc_read(pc, "-x", params, nparams, &live->expanded, err) ||
	    (live->queue_dir = pc_queue_dir(pc, err)) == NULL) {
		pc_live_free(live);
		return false;
	}
	return true;
}

void pc_live_free(struct pc_live *live)
{
	pc_kv_free(&live->fields);
	pc_kv_free(&live->overrides);
	pc_kv_free(&live->overrides_x);
	pc_kv_free(&live->explicit);
	pc_kv_free(&live->raw);
	pc_kv_free(&live->expanded);
	free(live->queue_dir);
	live->queue_dir = NULL;
}

/* ---- main.cf and master.cf put back after a failure ---------------------- */

/* The whole file in memory (NUL-terminated, len without it). */
static bool pc_slurp(const char *path, char **data, size_t *len,
		     struct stat *st, char **err)
{
	struct strbuf b = { 0 };
	char chunk[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, st) < 0) {
		*err = pc_strf("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = pc_strf("%s: %s", path, strerror(errno));
			close(fd);
			free(strbuf_take(&b));
			return false;
		}
		strbuf_add(&b, chunk, (size_t) n);
	}
	close(fd);
	*len = b.len;
	*data = strbuf_take(&b);
	return true;
}

bool pc_snap_take(const char *dir, struct pc_snap *snap, char **err)
{
	static const char *const names[2] = { "main.cf", "master.cf" };

	memset(snap, 0, sizeof(*snap));
	for (size_t i = 0; i < 2; i++) {
		snap->path[i] = pc_strf("%s/%s", dir, names[i]);
		if (!pc_slurp(snap->path[i], &snap->data[i], &snap->len[i],
			      &snap->st[i], err)) {
			pc_snap_free(snap);
			return false;
		}
	}
	return true;
}

/* Write data to a temporary file next to path, then rename it. */
static bool pc_put_back(const char *path, const char *data, size_t len,
			const struct stat *st, char **err)
{
	char *tmp = pc_strf("%s.portmilter-XXXXXX", path);
	int fd = mkstemp(tmp);
	struct timespec times[2];
	size_t off = 0;
	ssize_t n;
	bool ok = fd >= 0;

	while (ok && off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		off += ok ? (size_t) n : 0;
	}
	/* The original's times too: Postfix compares main.cf's mtime. */
	times[0] = st->st_atim;
	times[1] = st->st_mtim;
	ok = ok && fchmod(fd, st->st_mode & 07777) == 0 &&
	     futimens(fd, times) == 0 &&
	     (fchown(fd, st->st_uid, st->st_gid) == 0 || errno == EPERM) &&
	     fsync(fd) == 0;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (ok && rename(tmp, path) < 0)
		ok = false;
	if (!ok) {
		*err = pc_strf("%s: cannot put the previous version back: %s "
			       "(it was not changed by hand: restore it from a "
			       "backup)", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	free(tmp);
	return ok;
}

bool pc_snap_restore(const struct pc_snap *snap, char **err)
{
	bool ok = true;

	for (size_t i = 0; i < 2; i++) {
		char *now = NULL, *e = NULL;
		size_t len = 0;
		struct stat st;
		bool same = pc_slurp(snap->path[i], &now, &len, &st, &e) &&
			    len == snap->len[i] &&
			    memcmp(now, snap->data[i], len) == 0;

		free(now);
		free(e);
		if (!same && ok &&
		    !pc_put_back(snap->path[i], snap->data[i], snap->len[i],
				 &snap->st[i], err))
			ok = false;
	}
	return ok;
}

void pc_snap_free(struct pc_snap *snap)
{
	for (size_t i = 0; i < 2; i++) {
		free(snap->path[i]);
		free(snap->data[i]);
	}
	memset(snap, 0, sizeof(*snap));
}
