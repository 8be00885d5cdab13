/*
 * test_budget - unit tests of the budgets (issue 11): the limit_* keys
 * and the limit_classes file (lib/cfg_limits.c), the sliding-window
 * arithmetic and the counter table (milter/budget.c), and the replies
 * of a spent budget (policy_limit). cmocka, TAP output.
 *
 * Expected values come from the contracts in lib/cfg.h, milter/budget.h
 * and milter/policy.h, not from the program's output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "budget.h"
#include "cfg.h"
#include "policy.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct cfg *parse(const char *text, char **errors)
{
	*errors = NULL;
	return cfg_parse("t.conf", text, errors);
}

static struct cfg *parse_ok(const char *text)
{
	char *errors;
	struct cfg *cfg = parse(text, &errors);

	if (cfg == NULL)
		fail_msg("unexpected errors for:\n%s\n--\n%s", text, errors);
	return cfg;
}

/* The text must be refused with an error containing want. */
static void parse_bad(const char *text, const char *want)
{
	char *errors;
	struct cfg *cfg = parse(text, &errors);

	if (cfg != NULL)
		fail_msg("accepted, expected \"%s\":\n%s", want, text);
	if (errors == NULL || strstr(errors, want) == NULL)
		fail_msg("errors for:\n%s\nare:\n%s\nexpected \"%s\"", text,
			 errors ? errors : "(none)", want);
	free(errors);
}

/* ---- the keys ------------------------------------------------------------ */

static void test_limit_values(void **state)
{
	static const struct {
		const char *key, *value, *text;	/* text NULL = refused */
	} rows[] = {
		{ "limit_messages", "200/1h, 1000/1d", "200/1h, 1000/1d" },
		{ "limit_messages", "200/1h,1000/1d", "200/1h, 1000/1d" },
		{ "limit_messages", "5/30s 6/2m 7/3h 8/30d", "5/30s, 6/2m, 7/3h, 8/30d" },
		{ "limit_messages", "10/60s", "10/1m" },
		{ "limit_messages", "none", "none" },
		{ "limit_recipients", "1000000000000/1d", "1000000000000/1d" },
		{ "limit_bytes", "100M/1h, 1G/1d", "100M/1h, 1G/1d" },
		{ "limit_bytes", "1000/1h", "1000/1h" },
		{ "limit_bytes", "2048/1h", "2k/1h" },
		{ "limit_messages", "0/1h", NULL },
		{ "limit_messages", "-1/1h", NULL },
		{ "limit_messages", "+1/1h", NULL },
		{ "limit_messages", "01x/1h", NULL },
		{ "limit_messages", "1000000000001/1h", NULL },
		{ "limit_messages", "5", NULL },
		{ "limit_messages", "5/", NULL },
		{ "limit_messages", "5/h", NULL },
		{ "limit_messages", "5/0s", NULL },
		{ "limit_messages", "5/31d", NULL },
		{ "limit_messages", "5/1H", NULL },
		{ "limit_messages", "5/1w", NULL },
		{ "limit_messages", "5/1h 6/60m", NULL },	/* same window */
		{ "limit_messages", "1/1h 2/2h 3/3h 4/4h 5/5h", NULL },
		{ "limit_messages", "none 5/1h", NULL },
		{ "limit_messages", "1k/1h", NULL },	/* units: bytes only */
		{ "limit_messages", "", NULL },
		{ "limit_bytes", "1T/1h", NULL },
		{ "limit_bytes", "1k/1h/1h", NULL },
	};
	char conf[512], buf[128];

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		snprintf(conf, sizeof(conf), "[port 587]\n%s = %s\n", rows[i].key,
			 rows[i].value);
		if (rows[i].text == NULL) {
			snprintf(buf, sizeof(buf), "t.conf:2: bad value");
			parse_bad(conf, buf);
			continue;
		}
		struct cfg *cfg = parse_ok(conf);
		enum cfg_limit_key k = strcmp(rows[i].key, "limit_messages") == 0 ?
			CFG_LIMIT_MESSAGES : strcmp(rows[i].key, "limit_bytes") == 0 ?
			CFG_LIMIT_BYTES : CFG_LIMIT_RECIPIENTS;

		cfg_limits_text(&cfg->ports[0].limits[k], k == CFG_LIMIT_BYTES,
				buf, sizeof(buf));
		if (strcmp(buf, rows[i].text) != 0)
			fail_msg("%s = %s: read as \"%s\", expected \"%s\"",
				 rows[i].key, rows[i].value, buf, rows[i].text);
		cfg_unref(cfg);
	}
}

static void test_limit_inheritance(void **state)
{
	struct cfg *cfg = parse_ok(
		"[port 587]\nlimit_messages = 2/1h\nlimit_action = hold\n"
		"[port 5870]\nlike = 587\nlimits_enforce = no\n"
		"[port 12345]\nlike = 5870\nlimit_messages = none\n"
		"[port 465]\nmode = submissions\n");
	const struct cfg_port *p;

	(void)state;
	p = cfg_port_find(cfg, 587);
	assert_int_equal(p->limits[CFG_LIMIT_MESSAGES].n, 1);
	assert_int_equal(p->limits[CFG_LIMIT_MESSAGES].v[0].max, 2);
	assert_int_equal(p->limits[CFG_LIMIT_MESSAGES].v[0].window, 3600);
	assert_int_equal(p->limit_action, CFG_LIMIT_HOLD);
	assert_true(p->limits_enforce);
	p = cfg_port_find(cfg, 5870);
	assert_int_equal(p->limits[CFG_LIMIT_MESSAGES].v[0].max, 2);
	assert_int_equal(p->limit_action, CFG_LIMIT_HOLD);
	assert_false(p->limits_enforce);
	p = cfg_port_find(cfg, 12345);
	assert_int_equal(p->limits[CFG_LIMIT_MESSAGES].n, 0);
	assert_false(p->limits_enforce);
	p = cfg_port_find(cfg, 465);	/* defaults: nothing, tempfail, yes */
	for (int k = 0; k < CFG_NLIMITS; k++)
		assert_int_equal(p->limits[k].n, 0);
	assert_int_equal(p->limit_action, CFG_LIMIT_TEMPFAIL);
	assert_true(p->limits_enforce);
	assert_int_equal(cfg->strict.limits[CFG_LIMIT_MESSAGES].n, 0);
	cfg_unref(cfg);
	parse_bad("[port 587]\nlimit_action = defer\n",
		  "t.conf:2: bad value \"defer\" for limit_action: expected "
		  "tempfail, reject or hold");
	parse_bad("[port 587]\nlimits_enforce = off\n", "t.conf:2: bad value");
	parse_bad("limit_messages = 2/1h\n", "t.conf:1: \"limit_messages\" is "
		  "a per-port key");
}

static void test_limit_windows(void **state)
{
	unsigned w[CFG_WINDOWS_MAX];
	struct cfg *cfg = parse_ok(
		"[port 1]\nlimit_messages = 1/1h, 2/1d\n"
		"[port 2]\nlimit_messages = 1/60m, 3/2h\n"
		"[port 3]\nlimit_bytes = 1k/1s\n");

	(void)state;
	assert_int_equal(cfg_limit_windows(cfg, CFG_LIMIT_MESSAGES, w), 3);
	assert_int_equal(w[0], 3600);
	assert_int_equal(w[1], 7200);
	assert_int_equal(w[2], 86400);
	assert_int_equal(cfg_limit_windows(cfg, CFG_LIMIT_RECIPIENTS, w), 0);
	assert_int_equal(cfg_limit_windows(cfg, CFG_LIMIT_BYTES, w), 1);
	cfg_unref(cfg);
	parse_bad("[port 1]\nlimit_messages = 1/1s 1/2s 1/3s 1/4s\n"
		  "[port 2]\nlimit_messages = 1/5s 1/6s 1/7s 1/8s\n"
		  "[port 3]\nlimit_messages = 1/9s\n",
		  "t.conf:0: limit_messages: 9 distinct windows over all "
		  "ports and classes: at most 8");
}

/* ---- the limit_classes file --------------------------------------------- */

static char classes_path[64];

static void write_classes(const char *text)
{
	FILE *fp = fopen(classes_path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static struct cfg *parse_classes(char **errors)
{
	char conf[256];

	snprintf(conf, sizeof(conf), "limit_classes = %s\n[port 587]\n"
		 "limit_messages = 2/1h\nlimit_recipients = 10/1h\n", classes_path);
	return parse(conf, errors);
}

static void test_classes(void **state)
{
	struct cfg *cfg;
	char *errors, want[256];
	const struct cfg_class *c;
	const struct cfg_port *p;

	(void)state;
	write_classes("# bulk senders\n"
		      "class bulk limit_messages = 5000/1h, 20000/1d\n"
		      "class news   limit_bytes = 1G/1d\n"
		      "\n"
		      "  News@Example.com   bulk\n"
		      "shop@example.com news\n"
		      "class bulk limit_recipients = 100000/1d\n");
	cfg = parse_classes(&errors);
	if (cfg == NULL)
		fail_msg("%s", errors);
	assert_int_equal(cfg->classes.nclasses, 2);
	assert_int_equal(cfg->classes.nusers, 2);
	c = cfg_class_find(cfg, "news@example.com");
	assert_non_null(c);
	assert_string_equal(c->name, "bulk");
	assert_ptr_equal(cfg_class_find(cfg, "NEWS@EXAMPLE.COM"), c);
	assert_null(cfg_class_find(cfg, "news@example.co"));
	assert_null(cfg_class_find(cfg, "other"));
	assert_null(cfg_class_find(cfg, NULL));
	assert_string_equal(cfg_class_find(cfg, "shop@example.com")->name, "news");
	/* a class's keys replace the port's; the others stay the port's */
	p = cfg_port_find(cfg, 587);
	assert_int_equal(budget_limits(cfg, p, "News@example.com",
				       CFG_LIMIT_MESSAGES)->v[0].max, 5000);
	assert_int_equal(budget_limits(cfg, p, "News@example.com",
				       CFG_LIMIT_RECIPIENTS)->v[0].max, 100000);
	assert_int_equal(budget_limits(cfg, p, "shop@example.com",
				       CFG_LIMIT_MESSAGES)->v[0].max, 2);
	assert_int_equal(budget_limits(cfg, p, "shop@example.com",
				       CFG_LIMIT_RECIPIENTS)->v[0].max, 10);
	assert_int_equal(budget_limits(cfg, p, NULL,
				       CFG_LIMIT_MESSAGES)->v[0].max, 2);
	cfg_unref(cfg);

	static const struct {
		const char *text, *want;	/* want: after "FILE:" */
	} bad[] = {
		{ "alice bulk\n", "1: unknown class \"bulk\"" },
		{ "alice\n", "1: expected \"LOGIN CLASS\"" },
		{ "alice a b\n", "1: expected \"LOGIN CLASS\"" },
		{ "class a limit_foo = 1/1h\n", "1: unknown key \"limit_foo\"" },
		{ "class a limit_messages = 0/1h\n", "1: bad value \"0/1h\" for "
		  "limit_messages" },
		{ "class a limit_messages 1/1h\n", "1: expected \"class NAME KEY "
		  "= VALUE\"" },
		{ "class a/b limit_messages = 1/1h\n", "1: bad class name" },
		{ "class a limit_messages = 1/1h\nclass a limit_messages = 2/1h\n",
		  "2: duplicate limit_messages for class a" },
		{ "class a limit_messages = 1/1h\nx a\nX a\n",
		  "0: login \"x\" listed twice" },
		{ "class a limit_messages = 1/1h\n\n\nx\x01 a\n",
		  "4: control character" },
	};
	for (size_t i = 0; i < N(bad); i++) {
		write_classes(bad[i].text);
		snprintf(want, sizeof(want), "%s:%s", classes_path, bad[i].want);
		cfg = parse_classes(&errors);
		if (cfg != NULL || errors == NULL || strstr(errors, want) == NULL)
			fail_msg("classes file:\n%s\nerrors:\n%s\nexpected \"%s\"",
				 bad[i].text, errors ? errors : "(none)", want);
		free(errors);
	}
	unlink(classes_path);
	cfg = parse_classes(&errors);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:0: cannot open: No such file",
		 classes_path);
	assert_non_null(strstr(errors, want));
	free(errors);
}

/* ---- the ring ------------------------------------------------------------- */

static void test_width(void **state)
{
	(void)state;
	assert_int_equal(budget_width(1), 1);
	assert_int_equal(budget_width(7), 1);
	assert_int_equal(budget_width(8), 2);
	assert_int_equal(budget_width(3600), 515);	/* ceil(3600 / 7) */
	assert_int_equal(budget_width(86400), 12343);
	assert_int_equal(budget_width(CFG_WINDOW_MAX), 370286);
}

/* With 1-second slots the window is exact: an event at t counts for
 * t .. t + W - 1 and no longer. */
static void test_ring_edges(void **state)
{
	struct budget_ring r;

	(void)state;
	memset(&r, 0, sizeof(r));
	budget_ring_add(&r, 1, 100, 1);
	for (uint64_t t = 100; t <= 106; t++)
		assert_int_equal(budget_ring_sum(&r, 1, 7, t), 1);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 107), 0);
	/* two events, one slot apart, drain one after the other */
	memset(&r, 0, sizeof(r));
	budget_ring_add(&r, 1, 10, 2);
	budget_ring_add(&r, 1, 11, 3);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 16), 5);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 17), 3);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 18), 0);
	/* at time 0 and 1 nothing is negative */
	memset(&r, 0, sizeof(r));
	budget_ring_add(&r, 515, 0, 1);
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 0), 1);
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 1), 1);
}

/* Against an exact count: never less than the events of the last W
 * seconds, never more than those of the last W + width - 1. */
static void test_ring_bounds(void **state)
{
	static const uint32_t windows[] = { 1, 5, 7, 60, 3600, 86400 };
	static uint64_t when[4000];

	(void)state;
	srand(11);
	for (size_t wi = 0; wi < N(windows); wi++) {
		uint32_t W = windows[wi], w = budget_width(W);
		struct budget_ring r;
		uint64_t t = 1000;
		size_t n = 0;

		memset(&r, 0, sizeof(r));
		for (int step = 0; step < 4000; step++) {
			uint64_t lo = 0, hi = 0, got;

			t += (uint64_t)rand() % (W / 3 + 2);
			if (rand() % 2) {
				budget_ring_add(&r, w, t, 1);
				when[n++] = t;
			}
			for (size_t i = 0; i < n; i++) {
				if (t - when[i] < W)
					lo++;
				if (t - when[i] < (uint64_t)W + w - 1 + 1)
					hi++;
			}
			got = budget_ring_sum(&r, w, W, t);
			if (got < lo || got > hi)
				fail_msg("W=%u t=%llu: sum %llu, expected %llu..%llu",
					 W, (unsigned long long)t,
					 (unsigned long long)got,
					 (unsigned long long)lo,
					 (unsigned long long)hi);
			if (n == N(when))
				break;
		}
	}
}

static void test_ring_clock(void **state)
{
	struct budget_ring r;

	(void)state;
	memset(&r, 0, sizeof(r));
	/* back: counted in the newest slot, never lost, never negative */
	budget_ring_add(&r, 515, 100000, 1);
	budget_ring_add(&r, 515, 50000, 1);
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 50000), 2);
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 100000), 2);
	/* forward by much more than the window: drained at once */
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 100000 + 10 * 3600), 0);
	budget_ring_add(&r, 515, 100000 + 10 * 3600, 1);
	assert_int_equal(budget_ring_sum(&r, 515, 3600, 100000 + 10 * 3600), 1);
	/* forward by 3 slots: only those slots are drained */
	memset(&r, 0, sizeof(r));
	for (uint64_t t = 0; t < 8; t++)
		budget_ring_add(&r, 1, 1000 + t, 1);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 1007), 7);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 1010), 4);
	/* saturation instead of wrapping */
	memset(&r, 0, sizeof(r));
	budget_ring_add(&r, 1, 5, UINT32_MAX - 1);
	budget_ring_add(&r, 1, 5, 10);
	assert_int_equal(budget_ring_sum(&r, 1, 7, 5), UINT32_MAX);
}

/* ---- the table -------------------------------------------------------------- */

static void test_table(void **state)
{
	struct cfg *cfg = parse_ok("[port 5870]\nlimit_messages = 2/1h\n"
				   "limit_recipients = 3/1h\n"
				   "limit_bytes = 4k/1h\n");
	const struct cfg_port *p = cfg_port_find(cfg, 5870);
	const struct cfg_limits *msgs = &p->limits[CFG_LIMIT_MESSAGES];
	const struct cfg_limits *rcpts = &p->limits[CFG_LIMIT_RECIPIENTS];
	const struct cfg_limits *bytes = &p->limits[CFG_LIMIT_BYTES];
	struct budget *b = budget_new(cfg, 1000);
	struct budget_over over;
	uint64_t t = 5000;

	(void)state;
	assert_false(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1, t,
				  &over));
	assert_int_equal(budget_entries(b), 0);	/* a check allocates nothing */
	budget_charge(b, "u:alice", 2, 3000, t);
	assert_false(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1, t,
				  &over));
	assert_false(budget_check(b, "u:alice", rcpts, CFG_LIMIT_RECIPIENTS, 1,
				  t, &over));
	assert_true(budget_check(b, "u:alice", rcpts, CFG_LIMIT_RECIPIENTS, 2,
				 t, &over));
	assert_int_equal(over.key, CFG_LIMIT_RECIPIENTS);
	assert_int_equal(over.used, 2);
	/* bytes: 3000 counts as 3 KiB; SIZE 1024 fits, 1025 does not */
	assert_false(budget_check(b, "u:alice", bytes, CFG_LIMIT_BYTES, 1024, t,
				  &over));
	assert_true(budget_check(b, "u:alice", bytes, CFG_LIMIT_BYTES, 1025, t,
				 &over));
	budget_charge(b, "u:alice", 1, 1024, t + 10);
	assert_true(budget_check(b, "u:alice", bytes, CFG_LIMIT_BYTES, 0, t + 10,
				 &over));	/* full: spent even with 0 */
	assert_int_equal(over.used, 4096);
	assert_true(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1,
				 t + 10, &over));
	assert_int_equal(over.key, CFG_LIMIT_MESSAGES);
	assert_int_equal(over.limit.max, 2);
	assert_int_equal(over.limit.window, 3600);
	assert_int_equal(over.used, 2);
	assert_false(budget_check(b, "u:bob", msgs, CFG_LIMIT_MESSAGES, 1,
				  t + 10, &over));
	/* drained after W + width at most; still counted until W */
	assert_true(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1,
				 t + 3599, &over));
	assert_false(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1,
				  t + 10 + 3600 + 515, &over));
	assert_false(budget_check(b, "u:alice", NULL, CFG_LIMIT_MESSAGES, 1, t,
				  &over));
	budget_free(b);
	cfg_unref(cfg);
}

static void test_eviction(void **state)
{
	struct cfg *cfg = parse_ok("[port 5870]\nlimit_messages = 2/1h\n");
	struct budget *b = budget_new(cfg, 100000);
	char key[32];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "u:old%d", i);
		budget_charge(b, key, 1, 0, 1000);
	}
	assert_int_equal(budget_entries(b), 100);
	/* once drained (W + width later), new charges evict the old ones */
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "u:new%d", i);
		budget_charge(b, key, 1, 0, 1000 + 3600 + 515);
	}
	assert_int_equal(budget_entries(b), 1000);
	budget_free(b);
	/* the cap: 64 shards of (max / 64 + 1) entries at most */
	b = budget_new(cfg, 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "u:x%d", i);
		budget_charge(b, key, 1, 0, 1000);
	}
	assert_true(budget_entries(b) <= 64);
	budget_free(b);
	cfg_unref(cfg);
}

static void test_reconfigure(void **state)
{
	struct cfg *a = parse_ok("[port 1]\nlimit_messages = 2/1h\n");
	struct cfg *c = parse_ok("[port 1]\nlimit_messages = 2/1h, 10/1d\n"
				 "limit_recipients = 5/1m\n");
	struct cfg *d = parse_ok("[port 1]\nlimit_messages = 10/1d\n");
	struct budget *b = budget_new(a, 1000);
	struct budget_over over;
	const struct cfg_limits *l;

	(void)state;
	budget_charge(b, "u:alice", 1, 0, 100);
	budget_charge(b, "u:alice", 1, 0, 101);
	budget_configure(b, c);		/* 1h kept, 1d and 1m new */
	l = &cfg_port_find(c, 1)->limits[CFG_LIMIT_MESSAGES];
	assert_true(budget_check(b, "u:alice", l, CFG_LIMIT_MESSAGES, 1, 102,
				 &over));
	assert_int_equal(over.limit.window, 3600);
	budget_charge(b, "u:alice", 4, 0, 103);
	l = &cfg_port_find(c, 1)->limits[CFG_LIMIT_RECIPIENTS];
	assert_true(budget_check(b, "u:alice", l, CFG_LIMIT_RECIPIENTS, 2, 104,
				 &over));
	assert_int_equal(over.used, 4);
	budget_configure(b, d);		/* only 1d: its 1 message stays */
	l = &cfg_port_find(d, 1)->limits[CFG_LIMIT_MESSAGES];
	assert_false(budget_check(b, "u:alice", l, CFG_LIMIT_MESSAGES, 9, 105,
				  &over));
	assert_true(budget_check(b, "u:alice", l, CFG_LIMIT_MESSAGES, 10, 105,
				 &over));
	assert_int_equal(over.used, 1);
	/* a limit of the old configuration (1h) is no longer counted */
	l = &cfg_port_find(a, 1)->limits[CFG_LIMIT_MESSAGES];
	assert_false(budget_check(b, "u:alice", l, CFG_LIMIT_MESSAGES, 1, 105,
				  &over));
	assert_int_equal(budget_entries(b), 1);
	budget_free(b);
	cfg_unref(a);
	cfg_unref(c);
	cfg_unref(d);
}

/* Another node's usage placed in the past: counted from then, drains
 * like a charge made then; from the future: counts now; older than the
 * ring: ignored. */
static void test_ring_add_at(void **state)
{
	static const struct {
		const char *name;
		uint32_t width, window;
		uint64_t now, when, at;	/* add at `when` (time now), sum at `at` */
		uint64_t want;
	} rows[] = {
		{ "1 s slots: 3 s ago counts", 1, 7, 100, 97, 100, 1 },
		{ "1 s slots: counts until when + W - 1", 1, 7, 100, 97, 103, 1 },
		{ "1 s slots: gone at when + W", 1, 7, 100, 97, 104, 0 },
		{ "1 s slots: W ago is outside", 1, 7, 100, 93, 100, 0 },
		{ "1 s slots: W - 1 ago is inside", 1, 7, 100, 94, 100, 1 },
		{ "from the future: counts now", 1, 7, 100, 150, 106, 1 },
		{ "from the future: gone at now + W", 1, 7, 100, 150, 107, 0 },
		{ "older than the ring: ignored", 1, 7, 100, 50, 100, 0 },
		{ "1h: 30 min ago counts", 515, 3600, 10000, 8200, 10000, 1 },
		{ "1h: 30 min ago, 29 min later (59 min old)", 515, 3600, 10000, 8200,
		  11740, 1 },
		{ "1h: 30 min ago, gone 1h + width later", 515, 3600, 10000,
		  8200, 8200 + 3600 + 515, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N(rows); i++) {
		struct budget_ring r;

		memset(&r, 0, sizeof(r));
		budget_ring_add_at(&r, rows[i].width, rows[i].now, rows[i].when,
				   1);
		if (budget_ring_sum(&r, rows[i].width, rows[i].window,
				    rows[i].at) != rows[i].want)
			fail_msg("%s: want %llu", rows[i].name,
				 (unsigned long long) rows[i].want);
	}
}

/* The other nodes' usage, merged into this node's counters (no entry
 * of its own), checked as a whole, sliding from the time it happened. */
static void test_remote(void **state)
{
	struct cfg *cfg = parse_ok("[port 5870]\nlimit_messages = 4/1h\n"
				   "limit_recipients = 10/1h\n"
				   "limit_bytes = 8k/1h\n");
	const struct cfg_port *p = cfg_port_find(cfg, 5870);
	const struct cfg_limits *msgs = &p->limits[CFG_LIMIT_MESSAGES];
	const struct cfg_limits *bytes = &p->limits[CFG_LIMIT_BYTES];
	struct budget *b = budget_new(cfg, 1000);
	struct budget_over over;
	uint64_t t = 100000, used;

	(void)state;
	/* 2 here, 2 on another node 10 minutes ago: the 5th is refused */
	budget_charge(b, "u:alice", 1, 100, t);
	budget_charge(b, "u:alice", 1, 100, t);
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 3600, t,
				 &used));
	assert_int_equal(used, 2);
	assert_false(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 2, t,
				  &over));
	budget_remote_add(b, "u:alice", 2, 5, 6, t - 600, t);
	assert_int_equal(budget_entries(b), 1);	/* the same entry */
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 3600, t,
				 &used));
	assert_int_equal(used, 4);
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_RECIPIENTS, 3600, t,
				 &used));
	assert_int_equal(used, 7);
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_BYTES, 3600, t,
				 &used));
	assert_int_equal(used, 8);		/* KiB: 1 + 1 + 6 */
	assert_true(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1, t,
				 &over));
	assert_int_equal(over.used, 4);
	/* bytes: 2 KiB here + 6 KiB there = 8k spent */
	assert_true(budget_check(b, "u:alice", bytes, CFG_LIMIT_BYTES, 0, t,
				 &over));
	assert_int_equal(over.used, 8192);
	/* the remote two drain an hour after they happened, before ours */
	assert_false(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 1,
				  t - 600 + 3600 + 515, &over));
	assert_true(budget_check(b, "u:alice", msgs, CFG_LIMIT_MESSAGES, 3,
				 t - 600 + 3600 + 515, &over));
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 3600,
				 t - 600 + 3600 + 515, &used));
	assert_int_equal(used, 2);
	/* ours drain an hour (at most a slot more) after they happened */
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 3600,
				 t + 3600 + 515, &used));
	assert_int_equal(used, 0);
	/* usage learnt later, of the same second as ours: counted with it */
	budget_charge(b, "u:erin", 1, 0, t);
	budget_remote_add(b, "u:erin", 3, 3, 0, t, t + 30);
	assert_true(budget_usage(b, "u:erin", CFG_LIMIT_MESSAGES, 3600, t + 30,
				 &used));
	assert_int_equal(used, 4);
	assert_true(budget_usage(b, "u:erin", CFG_LIMIT_MESSAGES, 3600,
				 t + 3600 + 515, &used));
	assert_int_equal(used, 0);
	/* a user seen only elsewhere gets an entry; a check of another
	 * stays at zero */
	budget_remote_add(b, "u:bob", 4, 4, 1, t, t);
	assert_int_equal(budget_entries(b), 3);
	assert_true(budget_check(b, "u:bob", msgs, CFG_LIMIT_MESSAGES, 1, t,
				 &over));
	assert_false(budget_check(b, "u:carol", msgs, CFG_LIMIT_MESSAGES, 1, t,
				  &over));
	/* older than every window: nothing kept */
	budget_remote_add(b, "u:dave", 9, 9, 9, t - 3600 - 515, t);
	assert_int_equal(budget_entries(b), 3);
	budget_remote_add(b, "u:bob", 9, 9, 9, t - 3600 - 515, t);
	assert_true(budget_usage(b, "u:bob", CFG_LIMIT_MESSAGES, 3600, t,
				 &used));
	assert_int_equal(used, 4);
	/* a window that is not configured */
	assert_false(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 60, t,
				  &used));
	assert_int_equal(used, 0);
	budget_free(b);
	cfg_unref(cfg);
}

/* A reload keeps the other nodes' usage of the windows still there. */
static void test_remote_reconfigure(void **state)
{
	struct cfg *a = parse_ok("[port 1]\nlimit_messages = 4/1h\n");
	struct cfg *c = parse_ok("[port 1]\nlimit_messages = 4/1h, 10/1d\n");
	struct cfg *none = parse_ok("[port 1]\n");
	struct budget *b = budget_new(a, 1000);
	uint64_t used;

	(void)state;
	budget_remote_add(b, "u:alice", 3, 0, 0, 5000, 5000);
	budget_charge(b, "u:alice", 0, 0, 5000);
	budget_configure(b, c);
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 3600, 5001,
				 &used));
	assert_int_equal(used, 4);
	assert_true(budget_usage(b, "u:alice", CFG_LIMIT_MESSAGES, 86400, 5001,
				 &used));
	assert_int_equal(used, 0);	/* a new window starts empty */
	budget_configure(b, none);
	budget_remote_add(b, "u:bob", 3, 0, 0, 5000, 5000);
	assert_int_equal(budget_entries(b), 1);	/* no budgets: not kept */
	budget_free(b);
	cfg_unref(a);
	cfg_unref(c);
	cfg_unref(none);
}

static void test_key(void **state)
{
	struct pm_addr a;
	char buf[BUDGET_KEY_MAX];

	(void)state;
	assert_true(budget_key("Alice@Example.COM", NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "u:alice@example.com");
	/* not UTF-8: by its text form, as the events (and the usage rows
	 * other nodes read) hold it */
	assert_true(budget_key("B\xff" "ob", NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "u:b\xef\xbf\xbd" "ob");
	/* long and not UTF-8: the same key as its stored text, whose
	 * U+1F600 straddles the key's end (bytes 516-519 of the text) */
	{
		static char raw[1200], text[1300];
		char key2[BUDGET_KEY_MAX];
		size_t r = 0, t = 0;

		raw[r++] = '\xff';
		memcpy(text + t, "\xef\xbf\xbd", 3), t += 3;
		for (int i = 0; i < 512; i++)
			raw[r++] = text[t++] = 'a';
		memcpy(raw + r, "\xf0\x9f\x98\x80", 4), r += 4;
		memcpy(text + t, "\xf0\x9f\x98\x80", 4), t += 4;
		for (int i = 0; i < 100; i++)
			raw[r++] = text[t++] = 'b';
		assert_true(budget_key(raw, NULL, buf, sizeof(buf)));
		assert_true(budget_key(text, NULL, key2, sizeof(key2)));
		assert_string_equal(buf, key2);
		assert_int_equal(strlen(buf), BUDGET_KEY_MAX - 1);
	}
	assert_true(addr_parse("192.0.2.7", &a));
	assert_true(budget_key(NULL, &a, buf, sizeof(buf)));
	assert_string_equal(buf, "a:192.0.2.7");
	assert_true(budget_key("", &a, buf, sizeof(buf)));
	assert_string_equal(buf, "a:192.0.2.7");
	assert_true(addr_parse("2001:db8:1:2:3:4:5:6", &a));
	assert_true(budget_key(NULL, &a, buf, sizeof(buf)));
	assert_string_equal(buf, "a:2001:db8:1:2::/64");
	a.family = 0;
	assert_false(budget_key(NULL, &a, buf, sizeof(buf)));
	assert_false(budget_key(NULL, NULL, buf, sizeof(buf)));
}

/* ---- the replies -------------------------------------------------------------- */

static void test_policy_limit(void **state)
{
	struct cfg *cfg = parse_ok(
		"[port 1]\nlimit_messages = 2/1h\n"
		"[port 2]\nlike = 1\nlimit_action = reject\n"
		"[port 3]\nlike = 1\nlimit_action = hold\n"
		"[port 4]\nlike = 1\nlimits_enforce = no\n");
	struct cfg_limit one = { 2, 3600 }, big = { 100ULL << 20, 86400 };
	struct policy_verdict v;

	(void)state;
	v = policy_limit(cfg_port_find(cfg, 1), CFG_LIMIT_MESSAGES, &one);
	assert_int_equal(v.action, POLICY_TEMPFAIL);
	assert_string_equal(v.rule, "limit_messages");
	assert_string_equal(v.rcode, "451");
	assert_string_equal(v.xcode, "4.7.1");
	assert_string_equal(v.text, "Sending limit reached: 2 messages per 1h, "
			    "try again later");
	v = policy_limit(cfg_port_find(cfg, 1), CFG_LIMIT_RECIPIENTS, &one);
	assert_string_equal(v.rule, "limit_recipients");
	assert_string_equal(v.rcode, "452");
	assert_string_equal(v.xcode, "4.7.1");
	v = policy_limit(cfg_port_find(cfg, 1), CFG_LIMIT_BYTES, &big);
	assert_string_equal(v.rule, "limit_bytes");
	assert_string_equal(v.rcode, "451");
	assert_string_equal(v.text, "Sending limit reached: 100M bytes per 1d, "
			    "try again later");
	v = policy_limit(cfg_port_find(cfg, 2), CFG_LIMIT_MESSAGES, &one);
	assert_int_equal(v.action, POLICY_REJECT);
	assert_string_equal(v.rcode, "550");
	assert_string_equal(v.xcode, "5.7.1");
	assert_string_equal(v.text, "Sending limit reached: 2 messages per 1h");
	v = policy_limit(cfg_port_find(cfg, 3), CFG_LIMIT_MESSAGES, &one);
	assert_int_equal(v.action, POLICY_CONTINUE);
	assert_true(v.hold);
	assert_false(v.monitor);
	assert_string_equal(v.rule, "limit_messages");
	assert_null(v.rcode);
	v = policy_limit(cfg_port_find(cfg, 4), CFG_LIMIT_MESSAGES, &one);
	assert_int_equal(v.action, POLICY_CONTINUE);
	assert_true(v.monitor);
	assert_string_equal(v.rcode, "451");	/* the would-be reply */
	assert_string_equal(v.rule, "limit_messages");
	cfg_unref(cfg);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_values),
		cmocka_unit_test(test_limit_inheritance),
		cmocka_unit_test(test_limit_windows),
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_ring_edges),
		cmocka_unit_test(test_ring_bounds),
		cmocka_unit_test(test_ring_clock),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_ring_add_at),
		cmocka_unit_test(test_remote),
		cmocka_unit_test(test_remote_reconfigure),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_policy_limit),
	};

	snprintf(classes_path, sizeof(classes_path), "/tmp/test_budget.%ld",
		 (long)getpid());
	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
