/*
 * notify_send - the three channels: webhook (libcurl), e-mail
 * (sendmail -t -i), syslog (msg_info). See notify_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "msg.h"
#include "notify_int.h"

extern char **environ;

/* ---- webhook ------------------------------------------------------------ */

/* The receiver's answer is not read (only its status). */
static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

/* A curl message, one line, escaped, for last_error. */
static bool curl_failed(char **err, CURLcode rc, const char *ebuf)
{
	char e[300];

	str_escape(e, sizeof(e), *ebuf != '\0' ? ebuf : curl_easy_strerror(rc));
	return notify_errf(err, "%s", e);
}

static struct curl_slist *headers(const char *sig, const char *id,
				  int attempt)
{
	struct curl_slist *h = NULL, *t;
	char line[128];
	const char *fixed[] = {"Content-Type: application/json", "Expect:"};

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if ((t = curl_slist_append(h, fixed[i])) != NULL)
			h = t;
	snprintf(line, sizeof(line), "X-Portmilter-Delivery: %s", id);
	if ((t = curl_slist_append(h, line)) != NULL)
		h = t;
	snprintf(line, sizeof(line), "X-Portmilter-Attempt: %d", attempt);
	if ((t = curl_slist_append(h, line)) != NULL)
		h = t;
	snprintf(line, sizeof(line), "X-Portmilter-Signature: sha256=%s", sig);
	if ((t = curl_slist_append(h, line)) != NULL)
		h = t;
	return h;
}

bool notify_webhook_post(void *handle, const struct notify_cfg *cfg,
			 const char *secret, size_t seclen,
			 const struct notify_alert *a, const char *sent_by,
			 char **err)
{
	CURL *c = handle;
	char *body = notify_json(a, sent_by);
	char sig[65], id[32], ebuf[CURL_ERROR_SIZE];
	struct curl_slist *h;
	long code = 0;
	CURLcode rc;
	bool ok;

	if (!notify_hmac_hex(secret, seclen, body, strlen(body), sig)) {
		free(body);
		return notify_errf(err, "HMAC-SHA256 of the body failed");
	}
	notify_delivery_id(id, sizeof(id), a->id);
	h = headers(sig, id, a->attempt);
	ebuf[0] = '\0';
	curl_easy_reset(c);	/* options only: the connection is kept */
	curl_easy_setopt(c, CURLOPT_URL, cfg->webhook_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT,
			 cfg->webhook_timeout_s > 0 ? (long)cfg->webhook_timeout_s : 10L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->webhook_ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->webhook_ca_file);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "portmilter-watch/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		ok = curl_failed(err, rc, ebuf);
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		ok = code >= 200 && code <= 299;
		if (!ok)
			notify_errf(err, "the receiver answered HTTP %ld", code);
	}
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(h);
	free(body);
	return ok;
}

/* ---- e-mail ------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Write all of msg to fd (non-blocking) before the deadline, SIGPIPE
 * blocked in this thread (a sendmail that exits early is an EPIPE, and
 * the signal it left pending is taken back). 0, or an errno value.
 */
static int write_all(int fd, const char *msg, size_t len, double deadline)
{
	sigset_t pipe_set, old;
	size_t done = 0;
	int e = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	while (done < len) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		double left = deadline - now_s();
		ssize_t n;

		if (left <= 0) {
			e = ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) {
			e = errno;
			break;
		}
		n = write(fd, msg + done, len - done);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			e = errno;
			break;
		}
		if (n > 0)
			done += (size_t)n;
	}
	if (e == EPIPE && !sigismember(&old, SIGPIPE)) {
		struct timespec zero = {0, 0};

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

/* Wait for pid until the deadline, then kill it. Its wait status, or
 * -1 if it was killed for taking too long. */
static int wait_child(pid_t pid, double deadline)
{
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return 0x7f00;	/* lost: counted as exit 127 */
		if (now_s() >= deadline)
			break;
		nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

static bool spawn_sendmail(const char *path, int in, pid_t *pid, char **err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char *const argv[] = {(char *)path, (char *)"-t", (char *)"-i", NULL};
	char ep[256];
	int e;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	e = posix_spawn(pid, path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (e != 0) {
		str_escape(ep, sizeof(ep), path);
		return notify_errf(err, "cannot run \"%s\": %s", ep, strerror(e));
	}
	return true;
}

bool notify_mail_send(const struct notify_cfg *cfg,
		      const struct notify_alert *a, const char *sent_by,
		      char **err)
{
	const char *path = cfg->sendmail_path ? cfg->sendmail_path : "/usr/sbin/sendmail";
	double deadline = now_s() + NOTIFY_MAIL_TIMEOUT_S;
	char *msg, ep[256];
	int fds[2], e, st;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return notify_errf(err, "pipe: %s", strerror(errno));
	if (!spawn_sendmail(path, fds[0], &pid, err)) {
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	close(fds[0]);
	fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
	msg = notify_mail_text(a, cfg, sent_by, time(NULL));
	e = write_all(fds[1], msg, strlen(msg), deadline);
	free(msg);
	close(fds[1]);
	st = wait_child(pid, deadline);
	str_escape(ep, sizeof(ep), path);
	if (st == -1)
		return notify_errf(err, "\"%s\" took over %d s: killed", ep, NOTIFY_MAIL_TIMEOUT_S);
	if (WIFSIGNALED(st))
		return notify_errf(err, "\"%s\" was killed by signal %d", ep, WTERMSIG(st));
	if (WEXITSTATUS(st) != 0)
		return notify_errf(err, "\"%s\" exited with status %d%s", ep, WEXITSTATUS(st),
				   WEXITSTATUS(st) == 127 ? " (not found?)" : "");
	if (e != 0)
		return notify_errf(err, "writing to \"%s\": %s", ep, strerror(e));
	return true;
}

/* ---- syslog ------------------------------------------------------------- */

void notify_syslog(const struct notify_alert *a)
{
	char det[80], kind[16], subj[300], state[16], node[130], sum[600];

	str_escape(det, sizeof(det), a->detector);
	str_escape(kind, sizeof(kind), a->subject_kind);
	str_escape(subj, sizeof(subj), a->subject);
	str_escape(state, sizeof(state), a->state);
	str_escape(node, sizeof(node), a->node);
	str_escape(sum, sizeof(sum), a->summary);
	msg_info("alert %lld: detector=%s %s=\"%s\" state=%s suspended=%s node=\"%s\": %s",
		 a->id, det, kind, subj, state, a->suspended ? "yes" : "no", node, sum);
}
