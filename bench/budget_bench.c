/*
 * budget_bench - the cost of the budgets (milter/budget.h) on the hot
 * path, and their memory. With the budgets of a typical submission port
 * (limit_messages = 200/1h, 1000/1d; limit_recipients = 500/1h;
 * limit_bytes = 100M/1d: four meters per user), it charges one message
 * for each of USERS distinct logins (default 1000000, as in a day),
 * then times CHECKS budget_check() calls (messages, two windows) on
 * random logins among them, and one charge each. Prints ns per call,
 * the entries held and the resident memory they added (VmRSS of
 * /proc/self/status); then the same once every user also has usage
 * learnt from another node (budget_remote_add: into the same rings, so
 * it should add nothing), and the memory of USERS users known from the
 * other nodes only (a restart's load). Nothing is asserted: figures for
 * README.md.
 *
 * usage: budget_bench [USERS [CHECKS]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "budget.h"
#include "cfg.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident memory in KiB, 0 if unknown. */
static long rss_kib(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	long kib = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(fp);
	return kib;
}

static long arg(int argc, char **argv, int i, long def)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	v = strtol(argv[i], &end, 10);
	if (*end != '\0' || v <= 0) {
		fprintf(stderr, "usage: budget_bench [USERS [CHECKS]]\n");
		exit(2);
	}
	return v;
}

/* A restart: USERS users known from the other nodes only, in a child
 * process so that its memory is measured from a clean heap. */
static void remote_only(const struct cfg *cfg, long users)
{
	char key[64];
	struct budget *b;
	long rss0, rss1;
	double t0, t1;
	uint64_t t = 200000;

	rss0 = rss_kib();
	b = budget_new(cfg, (size_t)users * 2);
	t0 = now();
	for (long i = 0; i < users; i++) {
		snprintf(key, sizeof(key), "u:other%ld@example.com", i);
		budget_remote_add(b, key, 1, 3, 20,
				  t - 86399 + (uint64_t)(i * 86399 / users), t);
	}
	t1 = now();
	rss1 = rss_kib();
	printf("users %ld from other nodes only (a restart's load): %zu "
	       "entries, %.1f MiB resident added (%.0f bytes per user); "
	       "budget_remote_add (new user): %.0f ns\n", users,
	       budget_entries(b), (double)(rss1 - rss0) / 1024.0,
	       (double)(rss1 - rss0) * 1024.0 / (double)users,
	       (t1 - t0) / users * 1e9);
	fflush(stdout);
	budget_free(b);
}

int main(int argc, char **argv)
{
	long users = arg(argc, argv, 1, 1000000);
	long checks = arg(argc, argv, 2, 2000000);
	char *errors = NULL, key[64];
	struct cfg *cfg = cfg_parse("bench", "[port 587]\n"
		"limit_messages = 200/1h, 1000/1d\n"
		"limit_recipients = 500/1h\nlimit_bytes = 100M/1d\n", &errors);
	const struct cfg_limits *lim;
	struct budget *b;
	struct budget_over over;
	long rss0, rss1, rss_start, hits = 0;
	double t0, t1, t2, t3;
	uint64_t t = 100000;
	pid_t child;
	int status;

	if (cfg == NULL) {
		fprintf(stderr, "%s", errors);
		return 1;
	}
	lim = &cfg_port_find(cfg, 587)->limits[CFG_LIMIT_MESSAGES];
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		remote_only(cfg, users);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "budget_bench: the child failed\n");
		return 1;
	}
	rss0 = rss_start = rss_kib();
	b = budget_new(cfg, (size_t)users * 2);
	t0 = now();
	for (long i = 0; i < users; i++) {
		snprintf(key, sizeof(key), "u:user%ld@example.com", i);
		budget_charge(b, key, 3, 20000, t + (uint64_t)(i * 86400 / users));
	}
	t1 = now();
	rss1 = rss_kib();
	t += 86400;
	srand(7);
	for (long i = 0; i < checks; i++) {
		snprintf(key, sizeof(key), "u:user%ld@example.com",
			 (long)rand() % users);
		hits += budget_check(b, key, lim, CFG_LIMIT_MESSAGES, 1, t, &over);
	}
	t2 = now();
	for (long i = 0; i < checks; i++)
		snprintf(key, sizeof(key), "u:user%ld@example.com",
			 (long)rand() % users);
	t3 = now();
	printf("users %ld: %zu entries, %.1f MiB resident added "
	       "(%.0f bytes per user)\n", users, budget_entries(b),
	       (double)(rss1 - rss0) / 1024.0,
	       (double)(rss1 - rss0) * 1024.0 / (double)users);
	printf("budget_charge (new user): %.0f ns\n", (t1 - t0) / users * 1e9);
	printf("budget_check (2 windows, random user among %ld): %.0f ns "
	       "(key formatting subtracted; %ld spent)\n", users,
	       ((t2 - t1) - (t3 - t2)) / checks * 1e9, hits);
	/* every user also seen on another node: the same rings */
	rss0 = rss_kib();
	t0 = now();
	for (long i = 0; i < users; i++) {
		snprintf(key, sizeof(key), "u:user%ld@example.com", i);
		budget_remote_add(b, key, 1, 3, 20, t - 600, t);
	}
	t1 = now();
	rss1 = rss_kib();
	srand(7);
	hits = 0;
	for (long i = 0; i < checks; i++) {
		snprintf(key, sizeof(key), "u:user%ld@example.com",
			 (long)rand() % users);
		hits += budget_check(b, key, lim, CFG_LIMIT_MESSAGES, 1, t, &over);
	}
	t2 = now();
	for (long i = 0; i < checks; i++)
		snprintf(key, sizeof(key), "u:user%ld@example.com",
			 (long)rand() % users);
	t3 = now();
	printf("every user also on another node: %.1f MiB more (%.0f bytes "
	       "per user), %.1f MiB in all for %ld users\n",
	       (double)(rss1 - rss0) / 1024.0,
	       (double)(rss1 - rss0) * 1024.0 / (double)users,
	       (double)(rss1 - rss_start) / 1024.0, users);
	printf("budget_remote_add (known user): %.0f ns\n",
	       (t1 - t0) / users * 1e9);
	printf("budget_check with remote usage: %.0f ns (%ld spent)\n",
	       ((t2 - t1) - (t3 - t2)) / checks * 1e9, hits);
	budget_free(b);
	cfg_unref(cfg);
	return 0;
}
