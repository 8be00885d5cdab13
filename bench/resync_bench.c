/*
 * resync_bench - how long the journal reader takes to get past a hostile
 * segment: SIZE bytes of fake record headers, one every 12 bytes, each
 * claiming a payload that runs to the end of the segment (at most 1 MiB)
 * with a wrong CRC, then one valid record. Every fake header is a
 * candidate the resync scan must refuse. Prints the wall time of the
 * read (not asserted anywhere: tests/unit/test_journal.c counts work).
 *
 * usage: resync_bench DIR SIZE
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "util.h"

#define RECORD_MAX (1u << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void count(void *arg, const unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
	++*(size_t *)arg;
}

int main(int argc, char **argv)
{
	char err[256], path[4096];
	struct journal *j;
	struct journal_pos pos = {1, 0}, next;
	unsigned char *buf, *rec;
	long size;
	size_t n = 0, got;
	int fd;
	double start;

	if (argc != 3 || !str_to_long(argv[2], 24, 64L << 20, &size)) {
		fprintf(stderr, "usage: resync_bench DIR SIZE\n");
		return 2;
	}
	size -= size % 12;
	buf = xcalloc((size_t)size + 16, 1);
	for (long i = 0; i < size; i += 12) {
		long left = size - i - 12;

		memcpy(buf + i, "PMJ1", 4);
		put_u32(buf + i + 4, (uint32_t)(left < RECORD_MAX ? left : RECORD_MAX));
		put_u32(buf + i + 8, 0xdeadbeefu);
	}
	/* One valid record after them: 4 bytes of payload "good". */
	rec = buf + size;
	memcpy(rec, "PMJ1", 4);
	put_u32(rec + 4, 4);
	memcpy(rec + 12, "good", 4);
	put_u32(rec + 8, journal_crc32c(journal_crc32c(0, rec + 4, 4), rec + 12, 4));
	snprintf(path, sizeof(path), "%s/0000000000000001.seg", argv[1]);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640)) < 0 ||
	    write(fd, buf, (size_t)size + 16) != size + 16 || close(fd) != 0) {
		perror(path);
		return 1;
	}
	if ((j = journal_open(argv[1], 1ULL << 40, err, sizeof(err))) == NULL) {
		fprintf(stderr, "resync_bench: %s\n", err);
		return 1;
	}
	start = now();
	got = journal_read(j, &pos, 10, count, &n, &next);
	printf("%ld hostile bytes: %zu record(s) found in %.3f s\n", size, got,
	       now() - start);
	journal_close(j);
	free(buf);
	return got == 1 ? 0 : 1;
}
