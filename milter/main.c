/*
 * portmilter - per-port SMTP policy milter for Postfix.
 *
 * usage: portmilter [-c FILE] [-p SOCKET] [-f] [-u USER] [-P PIDFILE] [-v]
 *        portmilter -n [-c FILE]
 *
 * Threads and signals. libmilter's smfi_main() runs in its own thread and
 * starts a signal thread that sigwait()s for SIGHUP, SIGTERM and SIGINT
 * and stops the milter on any of them. We want SIGHUP to reload instead,
 * so the main thread keeps SIGHUP unblocked with a handler (SA_NODEFER)
 * that only writes to a pipe: Linux delivers a signal sent to the process
 * to the thread group leader whenever that thread does not block it, so
 * SIGHUP always lands here and never reaches libmilter's sigwait().
 * SIGTERM and SIGINT are blocked in every thread but libmilter's signal
 * thread: they stop the listener, smfi_main() returns, and the main
 * thread waits (bounded) for open sessions to finish before exiting.
 *
 * Start-up. Everything that can fail for a reason the admin must fix -
 * the configuration, the -u user, the journal lock (one daemon per
 * journal directory), the pid file, the socket, the journal directory -
 * is done before the daemon forks, and logged on stderr too:
 * "portmilter" without -f exits 1 saying why. The lock comes before the
 * socket, so a second daemon never replaces the first one's socket. No
 * thread exists before the fork. After it, the daemon writes its pid
 * (pid file, lock file), starts its threads and then tells the starting
 * process, which waits for that to exit 0 (1 if the daemon ended first:
 * see syslog).
 *
 * Root and the -u user (runas.h). No file operation done as root follows
 * a path the user can change: the configuration is read, the lock file
 * and the pid file are opened with the user's identity (the daemon, as
 * the user, can remove its pid file when it stops), and so is the socket
 * created when the user may create it in its directory; elsewhere root
 * creates the socket only if no directory on the way can be changed by
 * the user, and never chown()s through a symlink. The journal is opened
 * after the privileges are dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "cfg.h"
#include "logreader.h"
#include "metrics.h"
#include "milter.h"
#include "msg.h"
#include "journal.h"
#include "recorder.h"
#include "runas.h"
#include "usage.h"
#include "suspsync.h"
#include "util.h"

#define DRAIN_SECONDS 30	/* how long SIGTERM waits for sessions */
#define SHIP_SECONDS 5		/* then how long it ships the journal */

struct options {
	const char *config;
	const char *socket;
	const char *user;
	const char *pidfile;
	bool foreground;
	bool check_only;
	int verbose;
};

static int wake_pipe[2] = {-1, -1};
static int milter_status;

static void usage(FILE *fp)
{
	fprintf(fp,
		"usage: portmilter [-c FILE] [-p SOCKET] [-f] [-u USER] [-P PIDFILE] [-v]\n"
		"       portmilter -n [-c FILE]\n"
		"  -c FILE    configuration file (default %s)\n"
		"  -p SOCKET  milter socket, unix:/path, inet:PORT@HOST or inet6:PORT@HOST\n"
		"             (default: milter_socket from the configuration)\n"
		"  -f         stay in the foreground, log to stderr\n"
		"  -u USER    drop root privileges to USER after opening the socket\n"
		"  -P FILE    write the process id to FILE\n"
		"  -n         check the configuration, print the port table, exit\n"
		"  -v         verbose: also log accepted transactions, and debug lines\n"
		"  -V         print the version and exit\n"
		"  -h         print this text and exit\n",
		CFG_DEFAULT_PATH);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->config = CFG_DEFAULT_PATH;
	while ((c = getopt(argc, argv, "c:p:fu:P:nvhV")) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'p': o->socket = optarg; break;
		case 'f': o->foreground = true; break;
		case 'u': o->user = optarg; break;
		case 'P': o->pidfile = optarg; break;
		case 'n': o->check_only = true; break;
		case 'v': o->verbose++; break;
		case 'V': printf("portmilter %s\n", PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
}

/* Load the configuration or say every error and return NULL. */
static struct cfg *config_load(const char *path, bool at_start)
{
	char *errors = NULL;
	struct cfg *cfg = cfg_load(path, &errors);

	if (cfg == NULL) {
		char *line, *save = NULL;

		for (line = strtok_r(errors, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			msg_warn("%s", line);
		msg_warn("%s: configuration not %s", path,
			 at_start ? "valid" : "reloaded: the old one stays in force");
	}
	free(errors);
	return cfg;
}

static void on_sighup(int sig)
{
	int saved = errno;
	char c = 'H';

	(void)sig;
	if (write(wake_pipe[1], &c, 1) < 0) {
		/* pipe full: a reload is already pending */
	}
	errno = saved;
}

static void signals_setup(void)
{
	struct sigaction sa;
	sigset_t set;

	if (pipe(wake_pipe) != 0)
		msg_fatal("pipe: %s", strerror(errno));
	(void)fcntl(wake_pipe[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(wake_pipe[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(wake_pipe[1], F_SETFD, FD_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sighup;
	sa.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGHUP, &sa, NULL) != 0)
		msg_fatal("sigaction SIGHUP: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	/* Threads created from here on inherit this mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		msg_fatal("pthread_sigmask failed");
}

/*
 * The directory part of path ("." for a bare name) into dir[PATH_MAX].
 * No allocation: the start-up checks that use it end in msg_fatal(),
 * which would leave a malloc'd copy behind (LeakSanitizer saw one).
 */
static void path_dir(const char *path, char dir[PATH_MAX])
{
	const char *slash = strrchr(path, '/');
	size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);

	if (slash == NULL) {
		strcpy(dir, ".");
		return;
	}
	if (len >= PATH_MAX)
		msg_fatal("%s: path too long", path);
	memcpy(dir, path, len);
	dir[len] = '\0';
}

static const char *path_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* The path of a unix socket, or NULL. */
static const char *socket_path(const char *socket)
{
	if (strncmp(socket, "unix:", 5) == 0 || strncmp(socket, "local:", 6) == 0)
		return strchr(socket, ':') + 1;
	return NULL;
}

/*
 * Open the milter socket, mode 0770 (main's umask 007). With -u, a unix socket
 * belongs to the user, with its directory's group when the directory is
 * setgid (the package's, group postfix), else the user's primary group:
 * - where the user may create it, the user creates it (effective ids):
 *   the kernel gives it those owners, nothing is chown()ed;
 * - elsewhere root creates it, only if no directory on the way can be
 *   changed by the user (else the user could point root's unlink, bind
 *   and chown anywhere), and gives it away without following a symlink.
 */
static void socket_open(const char *socket)
{
	const char *path = socket_path(socket);
	char dir[PATH_MAX], why[PATH_MAX + 256];
	struct stat st;
	bool ok;

	if (runas_name() == NULL || path == NULL) {
		if (smfi_opensocket(true) != MI_SUCCESS)
			msg_fatal("cannot open milter socket %s", socket);
		return;
	}
	path_dir(path, dir);
	if (runas_can_create(dir)) {
		runas_user();
		ok = smfi_opensocket(true) == MI_SUCCESS;
		runas_root();
		if (!ok)
			msg_fatal("cannot open milter socket %s (as %s)", socket,
				  runas_name());
	} else {
		if (!runas_dir_fixed(dir, why, sizeof(why)))
			msg_fatal("-u %s: %s cannot create the socket %s, and root will "
				  "not either: %s", runas_name(), runas_name(), path, why);
		if (smfi_opensocket(true) != MI_SUCCESS)
			msg_fatal("cannot open milter socket %s", socket);
		if (stat(dir, &st) != 0 ||
		    fchownat(AT_FDCWD, path, runas_uid(),
			     (st.st_mode & S_ISGID) ? (gid_t)-1 : runas_gid(),
			     AT_SYMLINK_NOFOLLOW) != 0)
			msg_fatal("chown %s: %s", path, strerror(errno));
	}
}

/*
 * Called once every start-up check has passed. The parent waits until
 * the daemon says it is ready (daemon_ready(), on the returned pipe) and
 * exits 0, or exits 1 if the daemon ended before.
 */
static int daemonize(void)
{
	int ready[2];
	pid_t pid;
	int fd;

	if (pipe(ready) != 0)
		msg_fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		ssize_t n;
		char c;

		close(ready[1]);
		while ((n = read(ready[0], &c, 1)) < 0 && errno == EINTR)
			continue;
		if (n == 1)
			_exit(0);
		msg_warn("the daemon (pid %ld) ended before it was ready: see syslog",
			 (long)pid);
		_exit(1);
	}
	close(ready[0]);
	/* Single-threaded still: no other thread is logging. */
	msg_init("portmilter", MSG_TO_SYSLOG);
	if (setsid() < 0)
		msg_fatal("setsid: %s", strerror(errno));
	if (chdir("/") != 0)
		msg_fatal("chdir /: %s", strerror(errno));
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return ready[1];
}

/* Let the starting process exit 0 (SIGPIPE is ignored by now). */
static void daemon_ready(int fd)
{
	char c = 'R';

	if (fd < 0)
		return;
	if (write(fd, &c, 1) != 1)
		msg_warn("cannot tell the starting process: %s", strerror(errno));
	close(fd);
}

/*
 * The pid file. Opened before the fork (a failure is on stderr), never
 * through a symlink, and only if it is a regular file; written by the
 * daemon after the fork; removed when the daemon stops. With -u the user
 * creates it (the daemon, as the user, must be able to remove it), so
 * its directory must let the user create files: /run/portmilter owned by
 * the user, say; root never opens it. The directory is held open, so a
 * relative path still names the same file after the chdir("/").
 */
struct pidfile {
	const char *path;
	int dirfd;
	int fd;
};

static void pidfile_open(struct pidfile *pf, const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	int saved = 0;

	pf->path = path;
	pf->dirfd = pf->fd = -1;
	if (path == NULL)
		return;
	path_dir(path, dir);
	if (runas_name() != NULL) {
		if (!runas_can_create(dir))
			msg_fatal("-P %s: %s cannot create files in %s, so the daemon "
				  "(running as %s) could not remove its pid file when it "
				  "stops: use a directory %s may write, such as "
				  "/run/portmilter owned by %s", path, runas_name(), dir,
				  runas_name(), runas_name(), runas_name());
		runas_user();
	}
	if ((pf->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (pf->fd = openat(pf->dirfd, path_base(path), O_WRONLY | O_CREAT | O_NOFOLLOW |
			     O_NONBLOCK | O_CLOEXEC, 0644)) < 0)
		saved = errno;
	if (runas_name() != NULL)
		runas_root();
	if (saved != 0)
		msg_fatal("open %s: %s", path, strerror(saved));
	if (fstat(pf->fd, &st) != 0 || !S_ISREG(st.st_mode))
		msg_fatal("%s: not a regular file", path);
}

/* Written by the final process, after the fork. */
static void pidfile_write(struct pidfile *pf)
{
	char buf[32];
	int n;

	if (pf->fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(pf->fd, 0) != 0 || write(pf->fd, buf, (size_t)n) != n ||
	    close(pf->fd) != 0)
		msg_fatal("write %s: %s", pf->path, strerror(errno));
	pf->fd = -1;
}

static void pidfile_remove(struct pidfile *pf)
{
	if (pf->dirfd < 0)
		return;
	if (unlinkat(pf->dirfd, path_base(pf->path), 0) != 0 && errno != ENOENT)
		msg_warn("cannot remove %s: %s", pf->path, strerror(errno));
	close(pf->dirfd);
	pf->dirfd = -1;
}

/* One daemon per journal directory: the lock, taken as the -u user (the
 * directory is the user's), kept for the process's life. */
static int journal_lock_take(const char *dir)
{
	char err[PATH_MAX * 2 + 200];
	int fd;

	if (runas_name() != NULL)
		runas_user();
	fd = journal_lock(dir, err, sizeof(err));
	if (runas_name() != NULL)
		runas_root();
	if (fd < 0)
		msg_fatal("%s", err);
	return fd;
}

static void *milter_thread(void *arg)
{
	char c = 'Q';

	(void)arg;
	milter_status = smfi_main();
	if (write(wake_pipe[1], &c, 1) < 0)
		msg_warn("cannot wake the main thread: %s", strerror(errno));
	return NULL;
}

static void reload(const char *path)
{
	struct cfg *cfg = config_load(path, false);
	struct cfg *old;

	metrics_reload(cfg != NULL);
	if (cfg == NULL)
		return;
	old = milter_config_get();
	if (old && strcmp(old->milter_socket, cfg->milter_socket) != 0)
		msg_warn("milter_socket changed to %s: takes effect at restart",
			 cfg->milter_socket);
	if (old && strcmp(old->metrics_listen, cfg->metrics_listen) != 0)
		msg_warn("metrics_listen changed to %s: takes effect at restart",
			 cfg->metrics_listen);
	if (old && strcmp(old->postfix_log, cfg->postfix_log) != 0)
		msg_warn("postfix_log changed to \"%s\": takes effect at restart",
			 cfg->postfix_log);
	if (old)
		cfg_unref(old);
	recorder_reload(cfg);
	suspsync_reload(cfg);
	msg_info("reloaded %s: %zu port sections", path, cfg->nports);
	milter_config_set(cfg);
}

/* Serve until the milter thread ends; reload on SIGHUP meanwhile. */
static void main_loop(const char *path)
{
	for (;;) {
		char c;
		ssize_t n = read(wake_pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			msg_fatal("wake pipe: %s", n == 0 ? "closed" : strerror(errno));
		if (c == 'H')
			reload(path);
		else if (c == 'Q')
			return;
	}
}

static void drain(void)
{
	time_t deadline = time(NULL) + DRAIN_SECONDS;
	unsigned n;

	while ((n = milter_active()) > 0 && time(NULL) < deadline) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (n > 0)
		msg_warn("exiting with %u sessions still open after %d s", n,
			 DRAIN_SECONDS);
}

int main(int argc, char **argv)
{
	struct options o;
	struct cfg *cfg;
	const char *socket;
	pthread_t tid;
	struct pidfile pidfile;
	int lockfd, readyfd = -1;

	parse_options(argc, argv, &o);
	/* A daemon-to-be also says on stderr why it cannot start. */
	msg_init("portmilter", o.foreground || o.check_only ? MSG_TO_STDERR :
		 MSG_TO_STDERR | MSG_TO_SYSLOG);
	msg_set_verbose(o.verbose);
	if (o.socket != NULL) {		/* the same rule as milter_socket */
		char why[256], shown[160];

		if (!cfg_socket_check(o.socket, why, sizeof(why)))
			msg_fatal("-p %s: bad milter socket: %s",
				  str_escape(shown, sizeof(shown), o.socket), why);
	}
	/* With -u, read as the user, as every reload will be: root reads
	 * nothing through a path the user could redirect. */
	if (o.user != NULL && !o.check_only) {
		runas_init(o.user);
		runas_user();
	}
	cfg = config_load(o.config, true);
	if (o.user != NULL && !o.check_only)
		runas_root();
	if (cfg == NULL)
		exit(1);
	if (o.check_only) {
		cfg_print(cfg, stdout);
		cfg_unref(cfg);
		exit(0);
	}
	socket = o.socket ? o.socket : cfg->milter_socket;
	milter_config_set(cfg);
	if (!milter_register("portmilter"))
		msg_fatal("cannot register with libmilter");
	if (smfi_setconn((char *)socket) != MI_SUCCESS)
		msg_fatal("bad milter socket \"%s\"", socket);
	umask(007);			/* socket usable by the owner's group */
	if (o.user == NULL && geteuid() == 0)
		msg_warn("running as root: use -u USER in production");
	lockfd = journal_lock_take(cfg->journal_directory);
	pidfile_open(&pidfile, o.pidfile);
	socket_open(socket);
	{
		char err[512];

		if (!metrics_open(cfg, err, sizeof(err)))
			msg_fatal("%s", err);
	}
	if (o.user != NULL)
		runas_drop();
	{
		char err[512];

		if (!recorder_open(cfg, err, sizeof(err)))
			msg_fatal("%s", err);
	}
	if (!o.foreground)
		readyfd = daemonize();
	if (!journal_lock_own(lockfd))
		msg_fatal("journal directory %s: cannot write its lock file: %s",
			  cfg->journal_directory, strerror(errno));
	pidfile_write(&pidfile);
	recorder_start(cfg);
	usage_start();
	suspsync_start(cfg);
	{
		char err[512];

		if (!metrics_start(err, sizeof(err)))
			msg_fatal("%s", err);
	}
	logreader_start(cfg);
	signals_setup();
	if (pthread_create(&tid, NULL, milter_thread, NULL) != 0)
		msg_fatal("cannot start the milter thread");
	msg_info("started: socket %s, config %s, %zu port sections", socket,
		 o.config, cfg->nports);
	daemon_ready(readyfd);
	main_loop(o.config);
	pthread_join(tid, NULL);
	msg_info("stopping: waiting for %u open sessions", milter_active());
	drain();
	metrics_stop();
	logreader_stop();
	usage_stop();
	suspsync_stop();
	recorder_close(SHIP_SECONDS);
	pidfile_remove(&pidfile);
	close(lockfd);
	milter_shutdown();
	msg_info("stopped");
	return milter_status == MI_SUCCESS ? 0 : 1;
}
