/*
 * journal_bench - what recording costs the SMTP path: encode a realistic
 * event and append it to the journal, N times, in DIR. Prints the
 * microseconds per event (wall clock). The journal it leaves behind is
 * what bench/ship-bench.sh then ships to PostgreSQL.
 *
 * usage: journal_bench DIR N
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "event.h"
#include "journal.h"
#include "util.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char err[256], id[40], conn[40], t[40];
	struct journal *j;
	struct event ev = {0};
	long n;
	double start, spent;

	if (argc != 3 || !str_to_long(argv[2], 1, 100000000, &n)) {
		fprintf(stderr, "usage: journal_bench DIR N\n");
		return 2;
	}
	if ((j = journal_open(argv[1], 1ULL << 40, err, sizeof(err))) == NULL) {
		fprintf(stderr, "journal_bench: %s\n", err);
		return 1;
	}
	ev.f[EV_CONN_ID] = conn;
	ev.f[EV_CONN_TIME] = t;
	ev.f[EV_KIND] = "transaction";
	ev.f[EV_NODE] = "bench.example";
	ev.f[EV_PORT] = "587";
	ev.f[EV_PORT_KNOWN] = "t";
	ev.f[EV_SERVICE] = "portmilter/587";
	ev.f[EV_CLIENT_ADDR] = "198.51.100.23";
	ev.f[EV_CLIENT_NAME] = "host-23.isp.example";
	ev.f[EV_HELO] = "[192.168.1.10]";
	ev.f[EV_TLS_VERSION] = "TLSv1.3";
	ev.f[EV_TLS_CIPHER] = "TLS_AES_256_GCM_SHA384";
	ev.f[EV_SASL_METHOD] = "PLAIN";
	ev.f[EV_SASL_USER] = "alice@example.test";
	ev.f[EV_SENDER] = "<alice@example.test>";
	ev.f[EV_NRCPT] = "2";
	ev.f[EV_NRCPT_REJECTED] = "0";
	ev.f[EV_NRCPT_TEMPFAILED] = "0";
	ev.f[EV_NRCPT_REFUSED] = "0";
	ev.f[EV_SIZE] = "48211";
	ev.f[EV_QUEUE_ID] = "4Xb2kL0s7Yz1m";
	ev.f[EV_VERDICT] = "accepted";
	ev.f[EV_CREDENTIAL_EXPOSURE] = "f";
	ev.f[EV_EVENT_ID] = id;
	ev.f[EV_EVENT_TIME] = t;
	start = now();
	for (long i = 0; i < n; i++) {
		unsigned char *buf;
		size_t len;

		/* What the callback does: ids, time, encode, append. */
		event_uuid(id);
		event_uuid(conn);
		event_time_now(t, sizeof(t));
		buf = event_encode(&ev, &len);
		if (!journal_append(j, buf, len)) {
			fprintf(stderr, "journal_bench: append refused at %ld\n", i);
			return 1;
		}
		free(buf);
	}
	spent = now() - start;
	printf("journaled %ld events in %.3f s: %.2f us per event\n", n, spent,
	       spent * 1e6 / (double)n);
	journal_close(j);
	return 0;
}
