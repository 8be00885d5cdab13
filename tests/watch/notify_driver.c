/*
 * notify_driver - notify_run() from the command line, for
 * tests/watch/notify*.sh.
 *
 *   notify_driver [-k] [-l] [-u URL] [-s SECRET_FILE] [-c CA_FILE]
 *                 [-t TIMEOUT] [-m MAIL_TO] [-f MAIL_FROM] [-S SENDMAIL]
 *                 [-n NODE] [-r MIN,MAX,ATTEMPTS,MAX_AGE] [-w SECONDS]
 *                 CONNINFO
 *
 * The options fill struct notify_cfg (-l: syslog). -k only runs
 * notify_check() and prints its verdict. Without -w, one notify_run();
 * with -w, notify_run() every 0.2 s until no delivery is pending any
 * more or SECONDS have passed. Prints "delivered N" (the sum). Logs go
 * to stderr. Exit 0; 1 on a bad command line or a refused check; 2 if
 * notify_run() returned -1 or pending rows remain at the end of -w.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"
#include "notify.h"
#include "util.h"

static long pending(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT count(*) FROM portmilter.alert_deliveries"
				     " WHERE state = 'pending'");
	long n = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static int num(const char *s)
{
	long v;

	if (!str_to_long(s, 0, 1000000, &v)) {
		fprintf(stderr, "notify_driver: bad number \"%s\"\n", s);
		exit(1);
	}
	return (int)v;
}

static void retry(struct notify_cfg *cfg, char *s)
{
	char *f[4];

	for (int i = 0; i < 4; i++) {
		f[i] = strsep(&s, ",");
		if (f[i] == NULL) {
			fprintf(stderr, "notify_driver: -r MIN,MAX,ATTEMPTS,MAX_AGE\n");
			exit(1);
		}
	}
	cfg->retry_min_s = num(f[0]);
	cfg->retry_max_s = num(f[1]);
	cfg->retry_attempts = num(f[2]);
	cfg->retry_max_age_s = num(f[3]);
}

int main(int argc, char **argv)
{
	struct notify_cfg cfg = {0};
	const char *node = "driver";
	bool check = false;
	int wait_s = -1, c, n, total = 0;
	struct timespec t0, t;
	PGconn *conn;
	char *err = NULL;

	msg_init("notify_driver", MSG_TO_STDERR);
	while ((c = getopt(argc, argv, "klu:s:c:t:m:f:S:n:r:w:")) != -1) {
		switch (c) {
		case 'k': check = true; break;
		case 'l': cfg.syslog = true; break;
		case 'u': cfg.webhook_url = optarg; break;
		case 's': cfg.webhook_secret_file = optarg; break;
		case 'c': cfg.webhook_ca_file = optarg; break;
		case 't': cfg.webhook_timeout_s = num(optarg); break;
		case 'm': cfg.mail_to = optarg; break;
		case 'f': cfg.mail_from = optarg; break;
		case 'S': cfg.sendmail_path = optarg; break;
		case 'n': node = optarg; break;
		case 'r': retry(&cfg, optarg); break;
		case 'w': wait_s = num(optarg); break;
		default: return 1;
		}
	}
	if (check) {
		if (!notify_check(&cfg, &err)) {
			printf("refused: %s\n", err);
			free(err);
			return 1;
		}
		printf("ok\n");
		return 0;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: notify_driver [options] CONNINFO\n");
		return 1;
	}
	conn = PQconnectdb(argv[optind]);
	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "notify_driver: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((n = notify_run(conn, &cfg, node)) < 0) {
			printf("delivered %d\n", total);
			PQfinish(conn);
			return 2;
		}
		total += n;
		if (wait_s < 0 || pending(conn) == 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= wait_s) {
			printf("delivered %d\n", total);
			PQfinish(conn);
			return 2;
		}
		nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
	}
	printf("delivered %d\n", total);
	PQfinish(conn);
	return 0;
}
