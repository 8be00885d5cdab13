/*
 * milter_load - a load generator that speaks the milter protocol (version
 * 6) to a milter on a Unix socket, as Postfix's smtpd would: option
 * negotiation (honouring the steps and replies the milter turns off),
 * macros, connect, HELO, then transactions (MAIL, RCPT, DATA, headers,
 * end of headers, body, end of message), then QUIT. Every transaction is
 * an authenticated submission on port 587 over TLS to a remote
 * recipient, with a unique sender <TAG-SEQ@load.test> (SEQ from 1), so
 * that each recorded event can be matched to what was sent.
 *
 * usage: milter_load [-c CONNS] [-s SESSIONS] [-t TXNS] [-r RATE] [-w SECS]
 *                    SOCKET TAG OUT
 *   -c  parallel connections (threads), default 4
 *   -s  sessions in all, default 100
 *   -t  transactions per session, default 10
 *   -r  at most RATE transactions a second in all (paced: transaction
 *       number N starts no earlier than N / RATE s after the start),
 *       default: as fast as the milter answers
 *   -w  how long to keep retrying while the milter is away (a restart),
 *       default 30 s; a session it breaks is not resumed, the next one
 *       starts on a new connection once the milter is back
 *   SOCKET  the milter's socket path ("unix:" prefix allowed)
 *   OUT     one line per transaction sent: "a SEQ" when its end of
 *           message was answered (the milter journaled it first), "u SEQ"
 *           when the connection broke before the answer (recorded or
 *           not), "x SEQ" when a step got an unexpected reply
 *
 * Prints one line: sessions, transactions answered and broken, seconds,
 * answered per second. Exit 0, or 1 (with the reason on stderr) when a
 * reply was not the expected one or the milter stayed away too long.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define PROTO_ALL	0x1fffffu	/* every SMFIP_ flag Postfix offers */
#define ACTIONS_ALL	0x1ffu
#define NOCONNECT	0x1u
#define NOHELO		0x2u
#define NOMAIL		0x4u
#define NORCPT		0x8u
#define NOBODY		0x10u
#define NOHDRS		0x20u
#define NOEOH		0x40u
#define NR_HDR		0x80u
#define NODATA		0x200u
#define NR_CONN		0x1000u
#define NR_HELO		0x2000u
#define NR_MAIL		0x4000u
#define NR_RCPT		0x8000u
#define NR_DATA		0x10000u
#define NR_EOH		0x40000u
#define NR_BODY		0x80000u

static const char *sock_path, *tag;
static long conns = 4, sessions = 100, txns = 10, wait_secs = 30, rate;
static double start;
static long next_session, next_seq, acked, broken;	/* atomic */
static FILE *out;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int failed;

struct conn {
	int fd;
	uint32_t proto;		/* what the milter negotiated */
	char buf[65536];
};

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "milter_load: %s%s\n", what, detail);
	failed = 1;
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w, n -= (size_t)w;
	}
	return true;
}

static bool recv_all(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p += r, n -= (size_t)r;
	}
	return true;
}

/* One packet: length (command + data, network order), command, data. */
static bool put(struct conn *c, char cmd, const void *data, size_t len)
{
	char hdr[5];
	uint32_t n = (uint32_t)len + 1;

	hdr[0] = (char)(n >> 24), hdr[1] = (char)(n >> 16);
	hdr[2] = (char)(n >> 8), hdr[3] = (char)n, hdr[4] = cmd;
	return send_all(c->fd, hdr, 5) && (len == 0 || send_all(c->fd, data, len));
}

/* NUL-separated strings, as the protocol wants them: "a\0b\0". */
static size_t strs(char *b, size_t size, const char *const *v, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i]) + 1;

		if (len + l > size)
			break;
		memcpy(b + len, v[i], l);
		len += l;
	}
	return len;
}

static bool macros(struct conn *c, char stage, const char *const *v, size_t n)
{
	char b[1024];

	b[0] = stage;
	return put(c, 'D', b, 1 + strs(b + 1, sizeof(b) - 1, v, n));
}

/* Read one packet; its command in *cmd. */
static bool get(struct conn *c, char *cmd)
{
	unsigned char h[4];
	uint32_t n;

	if (!recv_all(c->fd, (char *)h, 4))
		return false;
	n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n < 1 || n > sizeof(c->buf) || !recv_all(c->fd, c->buf, n))
		return false;
	*cmd = c->buf[0];
	return true;
}

/*
 * The final reply to a step, unless the milter said it sends none
 * (noreply set): 'c' continue or 'a' accept, anything else is reported.
 * Progress and message changes are read past. -1 broken, 0 ok, 1 other.
 */
static int reply(struct conn *c, bool noreply, const char *step)
{
	char cmd;

	if (noreply)
		return 0;
	do {
		if (!get(c, &cmd))
			return -1;
	} while (strchr("p+-hmeibf2ls", cmd) != NULL);
	if (cmd == 'c' || cmd == 'a')
		return 0;
	fprintf(stderr, "milter_load: reply '%c' ", cmd);
	fail("unexpected, to ", step);
	return 1;
}

static bool opened(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	unsigned char o[12];
	char cmd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(c->fd);
		return false;
	}
	for (int i = 0; i < 3; i++) {
		uint32_t v = i == 0 ? 6 : i == 1 ? ACTIONS_ALL : PROTO_ALL;

		o[4 * i] = (unsigned char)(v >> 24), o[4 * i + 1] = (unsigned char)(v >> 16);
		o[4 * i + 2] = (unsigned char)(v >> 8), o[4 * i + 3] = (unsigned char)v;
	}
	if (!put(c, 'O', o, 12) || !get(c, &cmd) || cmd != 'O') {
		close(c->fd);
		return false;
	}
	memcpy(o, c->buf + 1, 12);
	c->proto = (uint32_t)o[8] << 24 | (uint32_t)o[9] << 16 | (uint32_t)o[10] << 8 | o[11];
	return true;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* With -r: wait until transaction seq may start. */
static void pace(long seq)
{
	double wait;

	if (rate > 0 && (wait = start + (double)(seq - 1) / (double)rate - now()) > 0) {
		struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};

		nanosleep(&ts, NULL);
	}
}

static void record(char what, long seq)
{
	pthread_mutex_lock(&out_lock);
	fprintf(out, "%c %ld\n", what, seq);
	pthread_mutex_unlock(&out_lock);
	if (what != 'x')
		__atomic_add_fetch(what == 'a' ? &acked : &broken, 1, __ATOMIC_RELAXED);
}

/* A packet sent, then its reply: -1 broken, 0 ok, 1 wrong reply. */
static int step(struct conn *c, bool sent, bool noreply, const char *name)
{
	return sent ? reply(c, noreply, name) : -1;
}

/* One transaction; -1 the connection broke, 0 answered, 1 wrong reply. */
static int transaction(struct conn *c)
{
	long seq = __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED);
	char from[160], addr[128], qid[32], b[256];
	const char *mm[] = {"i", qid, "{auth_type}", "PLAIN", "{auth_authen}",
			    "load@example.test", "{tls_version}", "TLSv1.3",
			    "{cipher}", "TLS_AES_256_GCM_SHA384", "{cipher_bits}",
			    "256", "{mail_addr}", addr, "{mail_mailer}", "smtp"};
	const char *rm[] = {"i", qid, "{rcpt_addr}", "x@remote.example",
			    "{rcpt_host}", "remote.example", "{rcpt_mailer}", "smtp"};
	const char *em[] = {"i", qid};
	const char *h1[] = {"From", from}, *h2[] = {"Subject", "load"};
	uint32_t p = c->proto;
	int r = 0;

	pace(seq);
	snprintf(addr, sizeof(addr), "%s-%ld@load.test", tag, seq);
	snprintf(from, sizeof(from), "<%s>", addr);
	snprintf(qid, sizeof(qid), "L%lX", seq);
	if (!(p & NOMAIL))
		r = step(c, macros(c, 'M', mm, 16) &&
			 put(c, 'M', b, strs(b, sizeof(b), (const char *[]){from}, 1)),
			 p & NR_MAIL, "MAIL");
	if (r == 0 && !(p & NORCPT))
		r = step(c, macros(c, 'R', rm, 8) && put(c, 'R', "<x@remote.example>", 19),
			 p & NR_RCPT, "RCPT");
	if (r == 0 && !(p & NODATA))
		r = step(c, put(c, 'T', NULL, 0), p & NR_DATA, "DATA");
	if (r == 0 && !(p & NOHDRS))
		r = step(c, put(c, 'L', b, strs(b, sizeof(b), h1, 2)), p & NR_HDR, "header");
	if (r == 0 && !(p & NOHDRS))
		r = step(c, put(c, 'L', b, strs(b, sizeof(b), h2, 2)), p & NR_HDR, "header");
	if (r == 0 && !(p & NOEOH))
		r = step(c, put(c, 'N', NULL, 0), p & NR_EOH, "end of headers");
	if (r == 0 && !(p & NOBODY))
		r = step(c, put(c, 'B', "load\r\n", 6), p & NR_BODY, "body");
	if (r == 0)
		r = step(c, macros(c, 'E', em, 2) && put(c, 'E', NULL, 0), false,
			 "end of message");
	if (r >= 0)
		record(r == 0 ? 'a' : 'x', seq);
	else
		record('u', seq);
	return r;
}

/* One session: -2 no connection, -1 the connection broke, 0 done, 1 wrong
 * reply. */
static int session(long n)
{
	struct conn *c = xmalloc(sizeof(*c));
	unsigned ip = 0x0a000000u | (unsigned)(n & 0xffffff);
	char addr[32], name[64], port[8];
	const char *cm[] = {"j", "mx.load.test", "_", name, "{daemon_port}", "587",
			    "{daemon_name}", "portmilter/587", "{daemon_addr}",
			    "192.0.2.1", "{client_addr}", addr, "{client_name}",
			    name, "{client_port}", port};
	const char *hm[] = {"{tls_version}", "TLSv1.3", "{cipher}",
			    "TLS_AES_256_GCM_SHA384", "{cipher_bits}", "256"};
	char b[256];
	size_t len;
	int r = -1;

	snprintf(addr, sizeof(addr), "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255,
		 ip >> 8 & 255, ip & 255);
	snprintf(name, sizeof(name), "h%ld.load.test", n);
	snprintf(port, sizeof(port), "%ld", 1024 + n % 60000);
	if (!opened(c)) {
		free(c);
		return -2;	/* the milter is away: the same session again */
	}
	if (!(c->proto & NOCONNECT)) {
		len = strs(b, sizeof(b), (const char *[]){name}, 1);
		b[len++] = '4';
		b[len++] = (char)(atoi(port) >> 8), b[len++] = (char)atoi(port);
		len += strs(b + len, sizeof(b) - len, (const char *[]){addr}, 1);
		if (!macros(c, 'C', cm, 16) || !put(c, 'C', b, len) ||
		    (r = reply(c, c->proto & NR_CONN, "connect")) != 0)
			goto out;
	}
	if (!(c->proto & NOHELO) &&
	    (!macros(c, 'H', hm, 6) ||
	     !put(c, 'H', "client.load.test", 17) ||
	     (r = reply(c, c->proto & NR_HELO, "HELO")) != 0))
		goto out;
	for (long t = 0; t < txns; t++)
		if ((r = transaction(c)) != 0)
			goto out;
	r = put(c, 'Q', NULL, 0) ? 0 : -1;
out:
	close(c->fd);
	free(c);
	return r;
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		long n = __atomic_add_fetch(&next_session, 1, __ATOMIC_RELAXED);
		double away = 0;
		int r;

		if (n > sessions || failed)
			return NULL;
		while ((r = session(n)) < 0 && !failed) {
			struct timespec ts = {0, 20 * 1000 * 1000};

			if (away == 0)
				away = now();
			else if (now() - away > (double)wait_secs) {
				fail("the milter was away too long at ", sock_path);
				return NULL;
			}
			nanosleep(&ts, NULL);
			if (r == -2)
				continue;
			/* a broken session is not resumed: the next one */
			n = __atomic_add_fetch(&next_session, 1, __ATOMIC_RELAXED);
			if (n > sessions)
				return NULL;
		}
		if (r > 0)
			return NULL;
	}
}

int main(int argc, char **argv)
{
	pthread_t *tid;
	double t0, t;
	int opt;

	while ((opt = getopt(argc, argv, "c:s:t:r:w:")) != -1) {
		long *v = opt == 'c' ? &conns : opt == 's' ? &sessions :
			  opt == 't' ? &txns : opt == 'r' ? &rate :
			  opt == 'w' ? &wait_secs : NULL;

		if (v == NULL || !str_to_long(optarg, 1, 10000000, v))
			goto usage;
	}
	if (argc - optind != 3 || conns > 1000)
		goto usage;
	sock_path = argv[optind];
	if (strncmp(sock_path, "unix:", 5) == 0)
		sock_path += 5;
	tag = argv[optind + 1];
	if ((out = fopen(argv[optind + 2], "w")) == NULL) {
		perror(argv[optind + 2]);
		return 1;
	}
	setvbuf(out, NULL, _IOLBF, 0);	/* progress visible to a test */
	signal(SIGPIPE, SIG_IGN);
	tid = xcalloc((size_t)conns, sizeof(*tid));
	t0 = start = now();
	for (long i = 0; i < conns; i++)
		if (pthread_create(&tid[i], NULL, worker, NULL) != 0) {
			fprintf(stderr, "milter_load: cannot start a thread\n");
			return 1;
		}
	for (long i = 0; i < conns; i++)
		pthread_join(tid[i], NULL);
	t = now() - t0;
	if (fclose(out) != 0) {
		perror(argv[optind + 2]);
		return 1;
	}
	printf("%s: %ld sessions, %ld transactions answered, %ld broken, %.2f s, "
	       "%.0f answered/s\n", tag, next_session > sessions ? sessions :
	       next_session, acked, broken, t, (double)acked / (t > 0 ? t : 1));
	free(tid);
	return failed;
usage:
	fprintf(stderr, "usage: milter_load [-c CONNS] [-s SESSIONS] [-t TXNS] "
		"[-r RATE] [-w SECS] SOCKET TAG OUT\n");
	return 2;
}
