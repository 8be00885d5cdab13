/*
 * net - non-blocking connect and line I/O under a per-step deadline.
 * See probe.h. Nothing here ever waits without a timeout: connect is
 * non-blocking plus poll(), reads and writes poll() until the deadline
 * set by net_step(). TLS reads and writes go through the same loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "probe.h"

long long net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void net_step(struct net_conn *c)
{
	c->deadline = net_now_ms() + c->timeout_ms;
}

int net_wait(struct net_conn *c, bool want_write)
{
	for (;;) {
		long long left = c->deadline - net_now_ms();
		struct pollfd p = {.fd = c->fd,
				   .events = want_write ? POLLOUT : POLLIN};
		int n;

		if (left <= 0)
			return NET_TIMEOUT;
		n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return NET_OK;
		if (n < 0 && errno != EINTR)
			return NET_ERROR;
	}
}

/* connect() in progress on fd: wait for it, then its result. */
static enum conn_result net_connect_wait(struct net_conn *c, char *err,
					 size_t errlen)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	int st = net_wait(c, true);

	if (st == NET_TIMEOUT) {
		snprintf(err, errlen, "no answer");
		return CONN_TIMEOUT;
	}
	if (st != NET_OK ||
	    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno ? errno : EIO;
	if (soerr == 0)
		return CONN_OPEN;
	snprintf(err, errlen, "%s", strerror(soerr));
	if (soerr == ECONNREFUSED)
		return CONN_REFUSED;
	if (soerr == ETIMEDOUT)
		return CONN_TIMEOUT;
	return CONN_ERROR;
}

enum conn_result net_connect(struct net_conn *c, const char *host,
			     unsigned port, int timeout_ms, long *ms,
			     char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char serv[8];
	long long t0 = net_now_ms();
	enum conn_result res = CONN_ERROR;
	int rc;

	c->fd = -1;
	c->ssl = NULL;
	c->len = 0;
	c->timeout_ms = timeout_ms;
	net_step(c);
	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "%s", gai_strerror(rc));
		goto out;
	}
	c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (c->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
		res = CONN_OPEN;
	} else if (errno == EINPROGRESS) {
		res = net_connect_wait(c, err, errlen);
	} else {
		snprintf(err, errlen, "%s", strerror(errno));
		res = errno == ECONNREFUSED ? CONN_REFUSED : CONN_ERROR;
	}
out:
	if (ai)
		freeaddrinfo(ai);
	*ms = (long)(net_now_ms() - t0);
	if (res != CONN_OPEN)
		net_close(c);
	return res;
}

/* Read some bytes into the free part of c->buf. */
static int net_fill(struct net_conn *c)
{
	size_t room = sizeof(c->buf) - c->len;

	for (;;) {
		int st;

		if (c->ssl) {
			int n;

			ERR_clear_error();
			n = SSL_read(c->ssl, c->buf + c->len,
				     room > 16384 ? 16384 : (int)room);
			if (n > 0) {
				c->len += (size_t)n;
				return NET_OK;
			}
			switch (SSL_get_error(c->ssl, n)) {
			case SSL_ERROR_WANT_READ: st = net_wait(c, false); break;
			case SSL_ERROR_WANT_WRITE: st = net_wait(c, true); break;
			case SSL_ERROR_ZERO_RETURN: return NET_EOF;
			default: return NET_ERROR;
			}
		} else {
			ssize_t n = read(c->fd, c->buf + c->len, room);

			if (n > 0) {
				c->len += (size_t)n;
				return NET_OK;
			}
			if (n == 0)
				return NET_EOF;
			if (errno != EAGAIN && errno != EINTR)
				return NET_ERROR;
			st = net_wait(c, false);
		}
		if (st != NET_OK)
			return st;
	}
}

/* Append buf[0..n) to line (capped), then drop it from the buffer. */
static void net_take(struct net_conn *c, size_t n, char *line, size_t cap,
		     size_t *used)
{
	size_t copy = n;

	if (copy > cap - 1 - *used)
		copy = cap - 1 - *used;
	for (size_t i = 0; i < copy; i++)
		line[(*used)++] = c->buf[i] ? c->buf[i] : '?';
	line[*used] = '\0';
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

int net_read_line(struct net_conn *c, char *line, size_t cap)
{
	size_t used = 0;

	line[0] = '\0';
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			net_take(c, (size_t)(nl - c->buf) + 1, line, cap, &used);
			while (used > 0 && (line[used - 1] == '\n' ||
					    line[used - 1] == '\r'))
				line[--used] = '\0';
			return NET_OK;
		}
		/* no end of line yet: keep what fits, read on */
		net_take(c, c->len, line, cap, &used);
		if (net_now_ms() >= c->deadline)
			return NET_TIMEOUT;	/* an endless line */
		int st = net_fill(c);
		if (st != NET_OK)
			return st;
	}
}

int net_write(struct net_conn *c, const char *s)
{
	size_t len = strlen(s), off = 0;

	while (off < len) {
		int st;

		if (c->ssl) {
			int n;

			ERR_clear_error();
			n = SSL_write(c->ssl, s + off, (int)(len - off));
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			switch (SSL_get_error(c->ssl, n)) {
			case SSL_ERROR_WANT_READ: st = net_wait(c, false); break;
			case SSL_ERROR_WANT_WRITE: st = net_wait(c, true); break;
			default: return NET_ERROR;
			}
		} else {
			ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);

			if (n >= 0) {
				off += (size_t)n;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				return NET_ERROR;
			st = net_wait(c, true);
		}
		if (st != NET_OK)
			return st;
	}
	return NET_OK;
}

void net_close(struct net_conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->len = 0;
}

const char *net_status_name(int status)
{
	switch (status) {
	case NET_OK: return "ok";
	case NET_EOF: return "connection closed";
	case NET_TIMEOUT: return "timed out";
	default: return "I/O error";
	}
}
