/*
 * Unit tests: milter/event.c (encoding) and milter/journal.c (segments,
 * checkpoint, corruption, size cap). Each test works in its own temporary
 * directory, removed afterwards. TAP output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "journal.h"

struct collected {
	size_t n;
	char *items[64];
};

static void collect(void *arg, const unsigned char *p, size_t len)
{
	struct collected *c = arg;

	if (c->n < 64) {
		c->items[c->n] = strndup((const char *)p, len);
		c->n++;
	}
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i]);
	c->n = 0;
}

static char *tempdir(void)
{
	char tmpl[] = "/tmp/pmjournal.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rmtree(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char p[512];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	free(dir);
}

static size_t count_segments(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg") != NULL)
			n++;
	closedir(d);
	return n;
}

static void append_str(struct journal *j, const char *s)
{
	assert_true(journal_append(j, s, strlen(s)));
}

static void test_event_roundtrip(void **state)
{
	struct event in = {0}, out;
	unsigned char *buf;
	size_t len;
	char big[12000];

	(void)state;
	memset(big, 'h', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	in.f[EV_EVENT_ID] = "0b5e1cbe-4a3c-4c57-9e39-1f6a1c2b3d4e";
	in.f[EV_HELO] = big;
	in.f[EV_SENDER] = "<\"quo'te\\\"@x>\t\r\n\xff\x01";
	in.f[EV_VERDICT] = "accepted";
	in.f[EV_SIZE] = "";		/* empty is not NULL */
	buf = event_encode(&in, &len);
	assert_true(event_decode(buf, len, &out));
	for (int i = 0; i < EVENT_NFIELDS; i++) {
		if (in.f[i] == NULL)
			assert_null(out.f[i]);
		else
			assert_string_equal(out.f[i], in.f[i]);
	}
	event_free(&out);
	/* Every truncation of a valid payload is refused. */
	for (size_t cut = 0; cut < len; cut += 7)
		assert_false(event_decode(buf, cut, &out));
	buf[0] = 2;			/* unknown version */
	assert_false(event_decode(buf, len, &out));
	free(buf);
}

static void test_event_decode_hostile(void **state)
{
	unsigned char junk[64];
	struct event out;

	(void)state;
	assert_false(event_decode(NULL, 0, &out));
	memset(junk, 0xff, sizeof(junk));
	assert_false(event_decode(junk, sizeof(junk), &out));
	junk[0] = 1;
	junk[1] = EVENT_NFIELDS;
	junk[2] = 0;
	/* field lengths 0xffffff.. (NULL) run off the end */
	assert_false(event_decode(junk, sizeof(junk), &out));
}

static void test_event_uuid_unique(void **state)
{
	char a[40], b[40];

	(void)state;
	event_uuid(a);
	event_uuid(b);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(a[14], '4');
	assert_string_not_equal(a, b);
}

static void test_crc32c_known(void **state)
{
	(void)state;
	/* The standard check value of CRC-32C. */
	assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283u);
}

static void test_append_read_commit(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};

	(void)state;
	assert_non_null(j);
	append_str(j, "one");
	append_str(j, "two");
	append_str(j, "three");
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 2, collect, &c, &next), 2);
	assert_string_equal(c.items[0], "one");
	assert_string_equal(c.items[1], "two");
	assert_true(journal_commit(j, &next));
	collected_free(&c);
	journal_close(j);

	/* Restart: a new segment, and reading resumes at the checkpoint. */
	j = journal_open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(j);
	append_str(j, "four");
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 2);
	assert_string_equal(c.items[0], "three");
	assert_string_equal(c.items[1], "four");
	assert_int_equal(count_segments(dir), 2);
	assert_true(journal_commit(j, &next));
	/* The old segment is wholly shipped: deleted. */
	assert_int_equal(count_segments(dir), 1);
	assert_int_equal(journal_read(j, &next, 10, collect, &c, &pos), 0);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

/* Flip one byte inside the second record: it is skipped, the rest read. */
static void test_corrupt_record_skipped(void **state)
{
	char *dir = tempdir(), err[256], seg[512];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};
	int fd;

	(void)state;
	append_str(j, "first-record");
	append_str(j, "second-record");
	append_str(j, "third-record");
	snprintf(seg, sizeof(seg), "%s/%016x.seg", dir, 1);
	fd = open(seg, O_RDWR);
	assert_true(fd >= 0);
	/* record 1 = 12 + 12 bytes; record 2 payload starts at 24 + 12 */
	assert_int_equal(pwrite(fd, "X", 1, 24 + 12 + 3), 1);
	close(fd);
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 2);
	assert_string_equal(c.items[0], "first-record");
	assert_string_equal(c.items[1], "third-record");
	assert_int_equal(journal_corrupt(j), 1);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

/* A crash mid-write leaves half a record at the end of a segment. */
static void test_truncated_tail_skipped(void **state)
{
	char *dir = tempdir(), err[256], seg[512];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};

	(void)state;
	append_str(j, "whole");
	append_str(j, "will-be-torn");
	journal_close(j);
	snprintf(seg, sizeof(seg), "%s/%016x.seg", dir, 1);
	assert_int_equal(truncate(seg, 12 + 5 + 12 + 4), 0);
	j = journal_open(dir, 1 << 20, err, sizeof(err));
	append_str(j, "after-restart");
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 2);
	assert_string_equal(c.items[0], "whole");
	assert_string_equal(c.items[1], "after-restart");
	assert_int_equal(journal_corrupt(j), 1);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

static void test_size_cap(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 100, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};
	char rec[30];
	int ok = 0;

	(void)state;
	memset(rec, 'r', sizeof(rec));
	for (int i = 0; i < 10; i++)
		ok += journal_append(j, rec, sizeof(rec));
	/* 42 bytes a record: two fit under 100, the third does not. */
	assert_int_equal(ok, 2);
	assert_true(journal_full(j));
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 2);
	collected_free(&c);
	/* Once shipped and committed, space is freed and appends work. */
	assert_true(journal_commit(j, &next));
	assert_false(journal_full(j));
	assert_int_equal(journal_size(j), 0);
	assert_true(journal_append(j, rec, sizeof(rec)));
	pos = next;
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 1);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

/* A new cap (a reload) applies at once: a larger one lifts "full", a
 * smaller one refuses the next append and drops nothing. */
static void test_set_max_size(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 100, err, sizeof(err));
	char rec[30];

	(void)state;
	memset(rec, 'r', sizeof(rec));
	/* 42 bytes a record: two fit under 100. */
	assert_true(journal_append(j, rec, sizeof(rec)));
	assert_true(journal_append(j, rec, sizeof(rec)));
	assert_false(journal_append(j, rec, sizeof(rec)));
	assert_true(journal_full(j));
	assert_int_equal(journal_set_max_size(j, 200), 100);
	assert_false(journal_full(j));
	assert_true(journal_append(j, rec, sizeof(rec)));
	assert_true(journal_append(j, rec, sizeof(rec)));
	assert_int_equal(journal_size(j), 168);
	assert_int_equal(journal_set_max_size(j, 100), 200);
	assert_false(journal_append(j, rec, sizeof(rec)));
	assert_true(journal_full(j));
	assert_int_equal(journal_size(j), 168);
	journal_close(j);
	rmtree(dir);
}

/* A read that ends exactly at the end of an old segment stops there;
 * the next read finds nothing but moves on to the next segment, and
 * committing that position frees the old one (the shipper relies on it). */
static void test_read_moves_past_segment_end(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next, after;
	struct collected c = {0};

	(void)state;
	append_str(j, "a");
	append_str(j, "b");
	journal_close(j);
	j = journal_open(dir, 1 << 20, err, sizeof(err));
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 2, collect, &c, &next), 2);
	assert_true(journal_commit(j, &next));
	assert_int_equal(count_segments(dir), 2);
	assert_int_equal(journal_read(j, &next, 2, collect, &c, &after), 0);
	assert_true(after.seg == next.seg + 1 && after.off == 0);
	assert_true(journal_commit(j, &after));
	assert_int_equal(count_segments(dir), 1);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

static void test_open_errors(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(journal_open("/nonexistent/portmilter/journal", 1000, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/portmilter/journal"));
}

static void test_malformed_checkpoint(void **state)
{
	char *dir = tempdir(), err[256], cp[512];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};
	FILE *fp;

	(void)state;
	append_str(j, "kept");
	snprintf(cp, sizeof(cp), "%s/checkpoint", dir);
	fp = fopen(cp, "w");
	fputs("garbage\n", fp);
	fclose(fp);
	/* Falls back to the oldest segment: nothing is lost. */
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 1);
	assert_string_equal(c.items[0], "kept");
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_roundtrip),
		cmocka_unit_test(test_event_decode_hostile),
		cmocka_unit_test(test_event_uuid_unique),
		cmocka_unit_test(test_crc32c_known),
		cmocka_unit_test(test_append_read_commit),
		cmocka_unit_test(test_corrupt_record_skipped),
		cmocka_unit_test(test_truncated_tail_skipped),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_set_max_size),
		cmocka_unit_test(test_read_moves_past_segment_end),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_malformed_checkpoint),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
