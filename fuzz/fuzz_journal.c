/*
 * fuzz_journal - the shipper's reading of a journal segment
 * (milter/journal.c: record headers, CRC-32C, resynchronisation after a
 * corrupt record) and the decoding of each payload (milter/event.c).
 *
 * Input: the bytes of a segment file. The harness writes them as
 * segment 1 of a private journal directory (under /dev/shm when it
 * exists, named after the process; those of crashed runs are removed
 * at the next start), opens the journal (which starts segment 2 for writing) and
 * reads every record from the start, one at a time. Oracles:
 *   - each record delivered is one the segment really holds at the
 *     position read: magic, length, CRC and payload as written, after
 *     the previous one, never overlapping it;
 *   - the reader goes past the end of the segment (to the writer's
 *     segment 2, empty);
 *   - the work is linear: the bytes read with pread(2) stay below
 *     8 x the segment size + 4 KiB (a quadratic resync reads a segment
 *     of fake headers once per header).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "event.h"
#include "journal.h"
#include "msg.h"
#include "oracle.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);

static char dir[256];
static uint64_t bytes_read;

/* Linked with -Wl,--wrap=pread: every pread of journal.c comes here. */
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = __real_pread(fd, buf, n, off);

	if (r > 0)
		bytes_read += (uint64_t)r;
	return r;
}

static void cleanup_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		unlink(p);
	}
	closedir(d);
}

static void cleanup(void)
{
	cleanup_dir(dir);
}

/* A crash ends the process without atexit(): remove the directories
 * of harness processes that are gone ("fuzz_journal.PID"). */
static void remove_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *de;
	char p[512];
	long pid;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "fuzz_journal.", 13) != 0 ||
		    !str_to_long(de->d_name + 13, 1, 1L << 30, &pid) ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(p, sizeof(p), "%s/%s", base, de->d_name);
		cleanup_dir(p);
		rmdir(p);
	}
	closedir(d);
}

static void atexit_rm(void)
{
	cleanup();
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
			   getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";

	(void)argc, (void)argv;
	msg_init("fuzz_journal", 0);
	remove_stale(base);
	snprintf(dir, sizeof(dir), "%s/fuzz_journal.%ld", base, (long)getpid());
	cleanup();
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		abort();
	}
	atexit(atexit_rm);
	return 0;
}

struct seen {
	const uint8_t *data;
	size_t size;
	unsigned char *payload;		/* a copy of the last record's */
	size_t len;
	size_t count;
};

static void on_record(void *arg, const unsigned char *payload, size_t len)
{
	struct seen *s = arg;
	struct event ev;

	s->count++;
	free(s->payload);
	s->payload = xmalloc(len ? len : 1);
	memcpy(s->payload, payload, len);
	s->len = len;
	if (event_decode(payload, len, &ev))
		event_free(&ev);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The record that ends at off really is in the segment. */
static void check_record(const struct seen *s, uint64_t start, uint64_t end)
{
	const uint8_t *h;

	if (end < start + 12 + s->len || end > s->size)
		fuzz_fail("record of %zu bytes ends at %llu, after %llu, in a "
			  "segment of %zu", s->len, (unsigned long long)end,
			  (unsigned long long)start, s->size);
	h = s->data + end - s->len - 12;
	if (memcmp(h, "PMJ1", 4) != 0 || le32(h + 4) != s->len ||
	    memcmp(h + 12, s->payload, s->len) != 0 ||
	    le32(h + 8) != journal_crc32c(journal_crc32c(0, h + 4, 4),
					  h + 12, s->len))
		fuzz_fail("record delivered at %llu is not the one written",
			  (unsigned long long)(end - s->len - 12));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_pos pos = { 1, 0 }, next;
	struct seen s = { data, size, NULL, 0, 0 };
	struct journal *j;
	char path[512], err[256];
	int fd;

	if (size > (1u << 20))
		return 0;
	cleanup();
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size)) {
		perror(path);
		abort();
	}
	close(fd);
	if ((j = journal_open(dir, 1ull << 30, err, sizeof(err))) == NULL)
		fuzz_fail("journal_open: %s", err);
	bytes_read = 0;
	for (;;) {
		size_t before = s.count;

		if (journal_read(j, &pos, 1, on_record, &s, &next) == 0) {
			if (next.seg != 2 || next.off != 0)
				fuzz_fail("reading stopped at %llu:%llu, not "
					  "at the end of segment 1",
					  (unsigned long long)next.seg,
					  (unsigned long long)next.off);
			break;
		}
		if (s.count != before + 1)
			fuzz_fail("journal_read said 1, delivered %zu",
				  s.count - before);
		if (next.seg != 1)
			fuzz_fail("a record from segment %llu",
				  (unsigned long long)next.seg);
		check_record(&s, pos.seg == 1 ? pos.off : 0, next.off);
		pos = next;
	}
	if (bytes_read > 8 * (uint64_t)size + 4096)
		fuzz_fail("reading a segment of %zu bytes read %llu bytes: "
			  "not linear", size, (unsigned long long)bytes_read);
	if (s.count > size / 12)
		fuzz_fail("%zu records from %zu bytes", s.count, size);
	free(s.payload);
	journal_close(j);
	return 0;
}
