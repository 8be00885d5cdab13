/*
 * suspend_bench - the cost of the suspension lookup (milter/suspend.h)
 * on the MAIL path. A set of USERS suspended logins and USERS suspended
 * networks spread over 8 IPv4 and 8 IPv6 prefix lengths (the worst
 * case is one probe per length), then LOOKUPS lookups of random
 * authenticated logins and client addresses, most of them not
 * suspended (the common case: every probe done), each under a read
 * lock as suspsync_lookup() takes it. Prints CPU ns per lookup (the
 * thread's CPU time: the machine may be shared), the time to
 * build the set (what the pull thread does on a change) and to encode
 * it (the file). Nothing is asserted: figures for the report.
 *
 * usage: suspend_bench [USERS [LOOKUPS]]
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "suspend.h"

static double now(void)
{
	struct timespec ts;

	/* CPU time of this thread: the machine is shared, wall time is not
	 * what a lookup costs */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const unsigned v4[] = {32, 31, 30, 29, 28, 24, 20, 16};
	static const unsigned v6[] = {128, 112, 96, 64, 56, 48, 40, 32};
	long users = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
	long lookups = argc > 2 ? strtol(argv[2], NULL, 10) : 2000000;

	pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
	struct suspend_set *s = suspend_set_new();
	struct pm_addr *addrs;
	char (*logins)[64];
	const char *why;
	char text[80];
	double t0, t1;
	size_t len, hits = 0;
	char *enc;

	if (users < 1 || lookups < 1) {
		fprintf(stderr, "usage: suspend_bench [USERS >= 1 [LOOKUPS >= 1]]\n");
		return 2;
	}
	srand(42);
	t0 = now();
	for (long i = 0; i < users; i++) {
		struct pm_cidr c;
		char a[64];

		snprintf(text, sizeof(text), "user%ld@example.test", i);
		suspend_set_add(s, SUSPEND_USER, text, 0, &why);
		memset(&c, 0, sizeof(c));
		if (i % 2 == 0) {
			c.net.family = AF_INET;
			c.net.bytes[0] = 10;
			c.net.bytes[1] = (unsigned char)(i >> 16);
			c.net.bytes[2] = (unsigned char)(i >> 8);
			c.net.bytes[3] = (unsigned char)i;
			c.prefix = v4[(i / 2) % 8];
		} else {
			c.net.family = AF_INET6;
			c.net.bytes[0] = 0x20;
			c.net.bytes[1] = 0x01;
			c.net.bytes[2] = 0x0d;
			c.net.bytes[3] = 0xb8;
			c.net.bytes[4] = (unsigned char)(i >> 8);
			c.net.bytes[5] = (unsigned char)i;
			c.prefix = v6[(i / 2) % 8];
		}
		/* clear the host bits: through the parser, as the database's text */
		snprintf(text, sizeof(text), "%s/%u",
			 addr_to_text(&c.net, a, sizeof(a)), c.prefix);
		if (!cidr_parse(text, &c, &why)) {
			/* host bits set: take the network of that length */
			char *slash = strrchr(text, '/');

			*slash = '\0';
			if (addr_parse(text, &c.net))
				continue;
		}
		suspend_set_add(s, SUSPEND_ADDRESS, text, 0, &why);
	}
	t1 = now();
	printf("set: %zu suspensions (%zu users, %zu networks) built in %.1f ms\n",
	       suspend_set_count(s), suspend_set_count_kind(s, SUSPEND_USER),
	       suspend_set_count_kind(s, SUSPEND_ADDRESS), (t1 - t0) * 1e3);
	t0 = now();
	enc = suspend_set_encode(s, &len);
	t1 = now();
	printf("file text: %zu bytes, encoded in %.1f ms\n", len, (t1 - t0) * 1e3);
	free(enc);

	logins = malloc(4096 * sizeof(*logins));
	addrs = malloc(4096 * sizeof(*addrs));
	if (logins == NULL || addrs == NULL)
		return 1;
	for (int i = 0; i < 4096; i++) {
		long u = rand() % (users * 10);	/* 1 in 10 suspended */

		snprintf(logins[i], sizeof(logins[i]), "user%ld@example.test", u);
		memset(&addrs[i], 0, sizeof(addrs[i]));
		if (i % 2 == 0) {
			addrs[i].family = AF_INET;
			addrs[i].bytes[0] = (unsigned char)(rand() % 2 ? 10 : 192);
			for (int k = 1; k < 4; k++)
				addrs[i].bytes[k] = (unsigned char)rand();
		} else {
			addrs[i].family = AF_INET6;
			memcpy(addrs[i].bytes, "\x20\x01\x0d\xb8", 4);
			for (int k = 4; k < 16; k++)
				addrs[i].bytes[k] = (unsigned char)rand();
		}
	}
	t0 = now();
	for (long i = 0; i < lookups; i++) {
		pthread_rwlock_rdlock(&lock);
		hits += suspend_set_lookup(s, logins[i & 4095], &addrs[i & 4095],
					   1800000000, NULL);
		pthread_rwlock_unlock(&lock);
	}
	t1 = now();
	printf("lookup (login + address, read lock): %.0f ns each, %ld lookups, "
	       "%zu hits\n", (t1 - t0) / (double)lookups * 1e9, lookups, hits);
	t0 = now();
	for (long i = 0; i < lookups; i++) {
		pthread_rwlock_rdlock(&lock);
		hits += suspend_set_lookup(s, NULL, &addrs[i & 4095], 1800000000,
					   NULL);
		pthread_rwlock_unlock(&lock);
	}
	t1 = now();
	printf("lookup (unauthenticated, address only): %.0f ns each\n",
	       (t1 - t0) / (double)lookups * 1e9);
	suspend_set_free(s);
	free(logins);
	free(addrs);
	return 0;
}
