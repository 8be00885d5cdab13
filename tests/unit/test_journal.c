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

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
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

/* crc(A || B) = shift(crc(A), |B|) ^ crc(B), for lengths around the
 * byte boundaries of the shift's tables. */
static void test_crc32c_shift(void **state)
{
	static const uint32_t lens[] = {0, 1, 2, 7, 255, 256, 257, 65535, 65536,
					65537, 1000003, (1u << 20) + 12};
	size_t max = (1u << 20) + 12;
	unsigned char *buf = malloc(max + 100);

	(void)state;
	for (size_t i = 0; i < max + 100; i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
		for (size_t a = 0; a < 100; a += 33) {
			uint32_t whole = crc32c(0, buf, a + lens[k]);
			uint32_t head = crc32c(0, buf, a), tail = crc32c(0, buf + a, lens[k]);

			assert_int_equal(crc32c_shift(head, lens[k]) ^ tail, whole);
		}
	free(buf);
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

/* CLOCK_REALTIME in microseconds, the clock the journal stamps with.
 * (Not time(NULL): that one is the kernel's coarse clock, which can still
 * say the previous second a few milliseconds after CLOCK_REALTIME has
 * passed it; bounds taken from it failed once in CI.) */
static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* journal_unread_since(): the append time of the oldest record not read
 * yet, 0 once a read reaches the end; a read that stops short keeps it. */
static void test_unread_since(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};
	int64_t t0, t1, first;

	(void)state;
	assert_non_null(j);
	assert_int_equal(journal_unread_since(j), 0);
	t0 = realtime_us();
	append_str(j, "one");
	first = journal_unread_since(j);
	append_str(j, "two");
	t1 = realtime_us();
	assert_true(first >= t0 && first <= t1);
	/* The second append keeps the first one's time. */
	assert_int_equal(journal_unread_since(j), first);
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 1, collect, &c, &next), 1);
	assert_int_equal(journal_unread_since(j), first);
	assert_int_equal(journal_read(j, &next, 10, collect, &c, &pos), 1);
	assert_int_equal(journal_unread_since(j), 0);
	append_str(j, "three");
	assert_true(journal_unread_since(j) >= first);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 1);
	assert_int_equal(journal_unread_since(j), 0);
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

/* ---- issue 9: checkpoint trust, resync cost, file modes, the lock ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* Run journal_checkpoint() with stderr (the log) in a file; returns
 * the log text (caller frees). */
static struct journal_pos checkpoint_logged(struct journal *j, char **log)
{
	char tmpl[] = "/tmp/pmjournal-log.XXXXXX";
	int fd = mkstemp(tmpl), saved = dup(STDERR_FILENO);
	struct journal_pos pos;
	char buf[4096];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	pos = journal_checkpoint(j);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(tmpl);
	*log = strdup(buf);
	return pos;
}

/* Five records in segment 1, then a restart with checkpoint text cp:
 * every record must still be read, and the log must name the file. */
static void checkpoint_case(const char *cp, const char *why)
{
	char *dir = tempdir(), err[256], *log, want[600];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos, next;
	struct collected c = {0};

	assert_non_null(j);
	for (int i = 0; i < 5; i++) {
		char rec[16];

		snprintf(rec, sizeof(rec), "rec-%d", i);
		append_str(j, rec);
	}
	journal_close(j);
	write_file(dir, "checkpoint", cp);
	j = journal_open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(j);
	append_str(j, "after-restart");
	pos = checkpoint_logged(j, &log);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 6);
	assert_string_equal(c.items[0], "rec-0");
	assert_string_equal(c.items[4], "rec-4");
	assert_string_equal(c.items[5], "after-restart");
	snprintf(want, sizeof(want), "journal: %s/checkpoint names %s", dir, why);
	if (strstr(log, want) == NULL)
		fail_msg("log \"%s\" lacks \"%s\"", log, want);
	free(log);
	/* Only now is segment 1 wholly shipped and deleted. */
	assert_int_equal(count_segments(dir), 2);
	assert_true(journal_commit(j, &next));
	assert_int_equal(count_segments(dir), 1);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

static void test_checkpoint_beyond_last_segment(void **state)
{
	(void)state;
	checkpoint_case("00000000000000ff 0\n", "segment 00000000000000ff, beyond the last one");
}

static void test_checkpoint_offset_past_end(void **state)
{
	(void)state;
	checkpoint_case("0000000000000001 999999\n", "offset 999999, past the end of segment 0000000000000001");
}

/* A position past a segment's end handed to journal_read() is read
 * from the segment's start, not taken as "segment done". */
static void test_read_position_past_end(void **state)
{
	char *dir = tempdir(), err[256];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos = {1, 999999}, next;
	struct collected c = {0};

	(void)state;
	append_str(j, "kept-1");
	append_str(j, "kept-2");
	journal_close(j);
	j = journal_open(dir, 1 << 20, err, sizeof(err));
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 2);
	assert_string_equal(c.items[1], "kept-2");
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A valid record of payload (len bytes) at p; returns its size. */
static size_t make_record(unsigned char *p, const unsigned char *payload, uint32_t len)
{
	memcpy(p, "PMJ1", 4);
	put_le32(p + 4, len);
	memmove(p + 12, payload, len);
	put_le32(p + 8, journal_crc32c(journal_crc32c(0, p + 4, 4), p + 12, len));
	return 12 + (size_t)len;
}

static void write_segment(const char *dir, const unsigned char *buf, size_t len)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s/%016x.seg", dir, 1);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

/*
 * The resync scan (after a corrupt record) checks each candidate's CRC
 * without rereading its payload: records of every small length and a
 * few large ones, each after a corrupt one and among fake headers with
 * wrong CRCs, are all found, at the right offsets.
 */
static void test_resync_finds_every_record(void **state)
{
	static const uint32_t lens[] = {0, 1, 2, 3, 4, 5, 11, 12, 13, 15, 16, 17,
					31, 32, 33, 255, 256, 257, 4095, 65537, 300000};
	size_t cap = 4u << 20, len = 0, n = sizeof(lens) / sizeof(lens[0]);
	unsigned char *buf = calloc(cap, 1), *payload = malloc(300000);
	char *dir = tempdir(), err[256];
	struct journal *j;
	struct journal_pos pos = {1, 0}, next;
	struct collected c = {0};

	(void)state;
	for (size_t i = 0; i < 300000; i++)
		payload[i] = (unsigned char)('a' + i % 26);
	for (size_t r = 0; r < n; r++) {
		/* a record whose CRC is wrong, then fake headers, then junk */
		size_t bad = len;

		len += make_record(buf + len, payload, 7);
		buf[bad + 12] ^= 1;
		for (int k = 0; k < 3; k++) {
			memcpy(buf + len, "PMJ1", 4);
			put_le32(buf + len + 4, lens[r]);
			put_le32(buf + len + 8, 0x12345678u + (uint32_t)k);
			len += 12;
		}
		memcpy(buf + len, "junkPMJ", 7);
		len += 7;
		payload[0] = (unsigned char)('A' + r);
		len += make_record(buf + len, payload, lens[r]);
	}
	assert_true(len < cap);
	write_segment(dir, buf, len);
	j = journal_open(dir, 1 << 30, err, sizeof(err));
	assert_non_null(j);
	for (size_t r = 0; r < n; r++) {
		assert_int_equal(journal_read(j, &pos, 1, collect, &c, &next), 1);
		assert_int_equal(strlen(c.items[0]), lens[r] ? lens[r] : 0);
		if (lens[r] > 0)
			assert_int_equal(c.items[0][0], 'A' + (int)r);
		collected_free(&c);
		pos = next;
	}
	assert_int_equal(journal_read(j, &pos, 1, collect, &c, &next), 0);
	assert_int_equal(journal_corrupt(j), n);
	journal_close(j);
	free(buf);
	free(payload);
	rmtree(dir);
}

/*
 * Issue 9 item 10: a segment of fake record headers, one every 12
 * bytes, each claiming a payload up to the end of the segment (at most
 * 1 MiB) with a wrong CRC. Checking each by reading its payload read
 * about 43 GB here (minutes); the scan must read the segment about once.
 * Counted, not timed (bench/resync_bench times it).
 */
static void test_resync_linear(void **state)
{
	const size_t size = 4u << 20;	/* a multiple of 12 follows */
	size_t fake = size - size % 12, len;
	unsigned char *buf = calloc(size + 64, 1);
	char *dir = tempdir(), err[256];
	struct journal *j;
	struct journal_pos pos = {1, 0}, next;
	struct collected c = {0};

	(void)state;
	for (size_t i = 0; i < fake; i += 12) {
		size_t left = fake - i - 12;

		memcpy(buf + i, "PMJ1", 4);
		put_le32(buf + i + 4, (uint32_t)(left < (1u << 20) ? left : (1u << 20)));
		put_le32(buf + i + 8, 0xdeadbeefu);
	}
	len = fake + make_record(buf + fake, (const unsigned char *)"good", 4);
	write_segment(dir, buf, len);
	j = journal_open(dir, 1ULL << 40, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 1);
	assert_string_equal(c.items[0], "good");
	assert_int_equal(journal_corrupt(j), 1);
	if (journal_scanned(j) > 3 * (uint64_t)len)
		fail_msg("read %llu bytes for a %zu-byte segment",
			 (unsigned long long)journal_scanned(j), len);
	collected_free(&c);
	journal_close(j);
	free(buf);
	rmtree(dir);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* Every journal file is 0640 or stricter, whatever the umask. */
static void modes_with_umask(mode_t mask, mode_t want)
{
	char *dir = tempdir(), err[256], seg[32];
	struct journal *j;
	struct journal_pos pos, next;
	struct collected c = {0};
	mode_t old = umask(mask);
	int fd, lock;

	j = journal_open(dir, 1 << 20, err, sizeof(err));
	assert_non_null(j);
	append_str(j, "x");
	pos = journal_checkpoint(j);
	assert_int_equal(journal_read(j, &pos, 10, collect, &c, &next), 1);
	assert_true(journal_commit(j, &next));	/* writes checkpoint */
	fd = journal_file_open(j, "rejected.log", O_WRONLY | O_CREAT | O_APPEND);
	assert_true(fd >= 0);
	close(fd);
	lock = journal_lock(dir, err, sizeof(err));
	if (lock < 0)
		fail_msg("%s", err);
	umask(old);
	/* segment 1 is shipped and gone: the commit started segment 2 */
	snprintf(seg, sizeof(seg), "%016x.seg", 2);
	assert_int_equal(mode_of(dir, seg), want);
	assert_int_equal(mode_of(dir, "checkpoint"), want);
	assert_int_equal(mode_of(dir, "rejected.log"), want);
	assert_int_equal(mode_of(dir, "lock"), want);
	close(lock);
	collected_free(&c);
	journal_close(j);
	rmtree(dir);
}

static void test_file_modes(void **state)
{
	(void)state;
	modes_with_umask(0, 0640);
	modes_with_umask(007, 0640);
	modes_with_umask(077, 0600);
}

/* A wider file left by an older version is brought down to 0640; a
 * symlink is never followed. */
static void test_file_open_hostile(void **state)
{
	char *dir = tempdir(), err[256], p[512], target[512];
	struct journal *j = journal_open(dir, 1 << 20, err, sizeof(err));
	struct journal_pos pos = {1, 0};
	int fd;

	(void)state;
	write_file(dir, "rejected.log", "old\n");
	snprintf(p, sizeof(p), "%s/rejected.log", dir);
	assert_int_equal(chmod(p, 0666), 0);
	fd = journal_file_open(j, "rejected.log", O_WRONLY | O_CREAT | O_APPEND);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(dir, "rejected.log"), 0640);
	/* checkpoint.tmp planted as a symlink: not written through */
	write_file(dir, "target", "untouched\n");
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(p, sizeof(p), "%s/checkpoint.tmp", dir);
	assert_int_equal(symlink(target, p), 0);
	assert_false(journal_commit(j, &pos));
	{
		FILE *fp = fopen(target, "r");
		char line[64] = "";

		assert_non_null(fp);
		assert_non_null(fgets(line, sizeof(line), fp));
		fclose(fp);
		assert_string_equal(line, "untouched\n");
	}
	unlink(p);
	/* rejected.log as a symlink, or a FIFO: refused, EINVAL or ELOOP */
	snprintf(p, sizeof(p), "%s/rejected.log", dir);
	unlink(p);
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(journal_file_open(j, "rejected.log", O_WRONLY | O_APPEND), -1);
	unlink(p);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(journal_file_open(j, "rejected.log", O_WRONLY | O_APPEND), -1);
	assert_int_equal(journal_file_open(j, "rejected.log", O_RDWR | O_APPEND), -1);
	assert_int_equal(errno, EINVAL);
	journal_close(j);
	rmtree(dir);
}

/* One daemon per journal: a second lock is refused naming the directory
 * and the holder's pid; it is free again once the holder closes it. */
static void test_lock(void **state)
{
	char *dir = tempdir(), err[512] = "", want[600], p[512];
	int a, b;

	(void)state;
	a = journal_lock(dir, err, sizeof(err));
	assert_true(a >= 0);
	b = journal_lock(dir, err, sizeof(err));
	assert_int_equal(b, -1);
	assert_null(strstr(err, "(pid "));	/* not written yet */
	assert_true(journal_lock_own(a));
	b = journal_lock(dir, err, sizeof(err));
	assert_int_equal(b, -1);
	snprintf(want, sizeof(want), "journal directory %s is in use by another "
		 "portmilter (pid %ld)", dir, (long)getpid());
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, want);
	close(a);
	b = journal_lock(dir, err, sizeof(err));
	assert_true(b >= 0);
	close(b);
	/* a planted symlink is not followed */
	snprintf(p, sizeof(p), "%s/lock", dir);
	unlink(p);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	assert_int_equal(journal_lock(dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lock"));
	rmtree(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_roundtrip),
		cmocka_unit_test(test_event_decode_hostile),
		cmocka_unit_test(test_event_uuid_unique),
		cmocka_unit_test(test_crc32c_known),
		cmocka_unit_test(test_crc32c_shift),
		cmocka_unit_test(test_append_read_commit),
		cmocka_unit_test(test_unread_since),
		cmocka_unit_test(test_corrupt_record_skipped),
		cmocka_unit_test(test_truncated_tail_skipped),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_set_max_size),
		cmocka_unit_test(test_read_moves_past_segment_end),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_malformed_checkpoint),
		cmocka_unit_test(test_checkpoint_beyond_last_segment),
		cmocka_unit_test(test_checkpoint_offset_past_end),
		cmocka_unit_test(test_read_position_past_end),
		cmocka_unit_test(test_resync_finds_every_record),
		cmocka_unit_test(test_resync_linear),
		cmocka_unit_test(test_file_modes),
		cmocka_unit_test(test_file_open_hostile),
		cmocka_unit_test(test_lock),
	};

	unit_filter(argc, argv);
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
