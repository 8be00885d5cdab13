/*
 * journal - append-only segment files between the SMTP path and the
 * database. See journal.h for the contract and the record layout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "journal.h"
#include "msg.h"
#include "util.h"

#define SEGMENT_MAX	(4u << 20)	/* rotate after 4 MiB */
#define RECORD_MAX	(1u << 20)	/* larger lengths are corruption */
#define HDR_LEN		12
#define FULL_LOG_EVERY	60		/* seconds between "journal full" logs */
#define SYNC_EVERY	1		/* seconds between fdatasync()s */
#define FILE_MODE	0640		/* every journal file, at most */
#define RBUF_SIZE	(256u << 10)	/* reader's read-ahead */

static const unsigned char magic[4] = {'P', 'M', 'J', '1'};

struct journal {
	char *dir;
	uint64_t max_size;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* writing side, under lock */
	int fd;
	uint64_t seg;
	uint64_t seg_size;
	uint64_t total;
	uint64_t appended;
	bool disk_full;
	bool at_cap;			/* last append refused for the cap */
	uint64_t refused;
	time_t full_logged;
	/* Unix time (us) of the oldest append the reader has not read yet,
	 * 0 = none: set by the writer and cleared by the reader under lock,
	 * read lock-free (__atomic) for the metrics. */
	int64_t unread_us;
	/* reading side, shipper thread only */
	int rfd;
	uint64_t rseg;
	/* read-ahead: bytes [rbuf_off, rbuf_off + rbuf_len) of segment
	 * rbuf_seg, all below the writer's size when read (never a record
	 * being written) */
	unsigned char *rbuf;
	uint64_t rbuf_seg, rbuf_off;
	size_t rbuf_len;
	uint64_t lim_seg, lim;		/* size of a segment behind the writer's */
	uint64_t corrupt;
	uint64_t scanned;		/* bytes read from segments */
	time_t synced;
};

uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return crc32c(crc, buf, len);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t record_crc(const unsigned char *hdr, const void *payload, size_t len)
{
	return crc32c(crc32c(0, hdr + 4, 4), payload, len);
}

/* ---- files ------------------------------------------------------------- */

/*
 * Open path (flags: O_WRONLY/O_RDWR, O_CREAT, ...) never through a
 * symlink, created FILE_MODE and brought down to it if it was wider
 * (an older version made some files 0660), whatever the umask. -1 with
 * errno set (EINVAL: not a regular file).
 */
static int file_open(const char *path, int flags)
{
	/* O_NONBLOCK: a FIFO planted there must not hang the open. */
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, FILE_MODE);
	struct stat st;
	int saved;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		saved = errno;
	} else if (!S_ISREG(st.st_mode)) {
		saved = EINVAL;
	} else if ((st.st_mode & 07777 & ~(mode_t)FILE_MODE) != 0 &&
		   fchmod(fd, st.st_mode & FILE_MODE) != 0) {
		saved = errno;
	} else if (fcntl(fd, F_SETFL, flags & O_APPEND) != 0) {
		saved = errno;
	} else {
		return fd;
	}
	close(fd);
	errno = saved;
	return -1;
}

int journal_file_open(const struct journal *j, const char *name, int flags)
{
	size_t n = strlen(j->dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	int fd;

	snprintf(p, n, "%s/%s", j->dir, name);
	fd = file_open(p, flags);
	free(p);
	return fd;
}

/* ---- segment files ----------------------------------------------------- */

static char *seg_path(const struct journal *j, uint64_t seg)
{
	size_t n = strlen(j->dir) + 32;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%016" PRIx64 ".seg", j->dir, seg);
	return p;
}

static bool seg_name(const char *name, uint64_t *seg)
{
	char *end;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
		return false;
	errno = 0;
	*seg = strtoull(name, &end, 16);
	return errno == 0 && end == name + 16;
}

/* Find the lowest and highest segment numbers and the total size. */
static bool seg_scan(struct journal *j, uint64_t *lo, uint64_t *hi)
{
	DIR *d = opendir(j->dir);
	struct dirent *de;
	bool any = false;

	if (d == NULL)
		return false;
	j->total = 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t s;
		struct stat st;
		char *p;

		if (!seg_name(de->d_name, &s))
			continue;
		p = seg_path(j, s);
		if (stat(p, &st) == 0)
			j->total += (uint64_t)st.st_size;
		free(p);
		if (!any || s < *lo)
			*lo = s;
		if (!any || s > *hi)
			*hi = s;
		any = true;
	}
	closedir(d);
	return any;
}

/* Start a new segment for appending; caller holds the lock. */
static bool seg_start(struct journal *j, uint64_t seg, char *err, size_t errlen)
{
	char *p = seg_path(j, seg);
	int fd = file_open(p, O_WRONLY | O_CREAT | O_APPEND);

	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", p, strerror(errno));
		free(p);
		return false;
	}
	free(p);
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	j->seg = seg;
	j->seg_size = 0;
	return true;
}

struct journal *journal_open(const char *dir, uint64_t max_size, char *err,
			     size_t errlen)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	uint64_t lo = 0, hi = 0;
	struct stat st;

	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "journal directory %s: %s", dir,
			 errno ? strerror(errno) : "not a writable directory");
		free(j);
		return NULL;
	}
	j->dir = xstrdup(dir);
	j->max_size = max_size;
	j->fd = j->rfd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	/* Never append to an old segment: its tail may be torn. */
	if (!seg_start(j, seg_scan(j, &lo, &hi) ? hi + 1 : 1, err, errlen)) {
		journal_close(j);
		return NULL;
	}
	return j;
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->rfd >= 0)
		close(j->rfd);
	free(j->rbuf);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j->dir);
	free(j);
}

/* ---- appending --------------------------------------------------------- */

static void full_log(struct journal *j, const char *why)
{
	time_t now = time(NULL);

	j->refused++;
	if (now - j->full_logged < FULL_LOG_EVERY)
		return;
	j->full_logged = now;
	msg_warn("journal %s: %s: %" PRIu64 " events not recorded so far; "
		 "applying journal_full_action", j->dir, why, j->refused);
}

bool journal_append(struct journal *j, const void *payload, size_t len)
{
	unsigned char *rec;
	size_t reclen = HDR_LEN + len;
	ssize_t n;
	bool ok = false;
	char err[256];

	if (len > RECORD_MAX)
		msg_panic("journal_append: record of %zu bytes", len);
	rec = xmalloc(reclen);
	memcpy(rec, magic, 4);
	put_u32(rec + 4, (uint32_t)len);
	put_u32(rec + 8, record_crc(rec, payload, len));
	memcpy(rec + HDR_LEN, payload, len);

	pthread_mutex_lock(&j->lock);
	if (j->total + reclen > j->max_size) {
		j->at_cap = true;
		full_log(j, "size cap reached");
		goto out;
	}
	if (j->seg_size >= SEGMENT_MAX && !seg_start(j, j->seg + 1, err, sizeof(err))) {
		full_log(j, err);
		goto out;
	}
	n = write(j->fd, rec, reclen);
	if (n != (ssize_t)reclen) {
		/* Never leave half a record behind. */
		if (n > 0 && ftruncate(j->fd, (off_t)j->seg_size) != 0)
			msg_warn("journal %s: cannot cut a torn record: %s", j->dir,
				 strerror(errno));
		j->disk_full = n >= 0 || errno == ENOSPC || errno == EDQUOT;
		full_log(j, n < 0 ? strerror(errno) : "short write");
		goto out;
	}
	j->disk_full = j->at_cap = false;
	j->seg_size += reclen;
	j->total += reclen;
	j->appended++;
	if (__atomic_load_n(&j->unread_us, __ATOMIC_RELAXED) == 0) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		__atomic_store_n(&j->unread_us, (int64_t)ts.tv_sec * 1000000 +
				 ts.tv_nsec / 1000, __ATOMIC_RELAXED);
	}
	pthread_cond_signal(&j->cond);
	ok = true;
out:
	pthread_mutex_unlock(&j->lock);
	free(rec);
	return ok;
}

uint64_t journal_set_max_size(struct journal *j, uint64_t max_size)
{
	uint64_t old;

	pthread_mutex_lock(&j->lock);
	old = j->max_size;
	j->max_size = max_size;
	if (j->total < j->max_size)
		j->at_cap = false;
	pthread_mutex_unlock(&j->lock);
	return old;
}

bool journal_full(struct journal *j)
{
	bool full;

	pthread_mutex_lock(&j->lock);
	full = j->disk_full || j->at_cap;
	pthread_mutex_unlock(&j->lock);
	return full;
}

const char *journal_dir(const struct journal *j)
{
	return j->dir;
}

uint64_t journal_size(struct journal *j)
{
	uint64_t n;

	pthread_mutex_lock(&j->lock);
	n = j->total;
	pthread_mutex_unlock(&j->lock);
	return n;
}

void journal_wait(struct journal *j, int timeout_ms)
{
	struct timespec ts;
	uint64_t seen;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	seen = j->appended;
	while (j->appended == seen)
		if (pthread_cond_timedwait(&j->cond, &j->lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&j->lock);
}

int64_t journal_unread_since(struct journal *j)
{
	return __atomic_load_n(&j->unread_us, __ATOMIC_RELAXED);
}

uint64_t journal_corrupt(struct journal *j)
{
	return j->corrupt;
}

uint64_t journal_scanned(struct journal *j)
{
	return j->scanned;
}

/* ---- reading ----------------------------------------------------------- */

/* The writer's segment and how much of it holds whole records. */
static void writer_pos(struct journal *j, uint64_t *seg, uint64_t *size)
{
	pthread_mutex_lock(&j->lock);
	*seg = j->seg;
	*size = j->seg_size;
	pthread_mutex_unlock(&j->lock);
}

/* Open segment seg for reading (cached); -1 if it does not exist. */
static int reader_open(struct journal *j, uint64_t seg)
{
	char *p;

	if (j->rfd >= 0 && j->rseg == seg)
		return j->rfd;
	if (j->rfd >= 0)
		close(j->rfd);
	p = seg_path(j, seg);
	j->rfd = open(p, O_RDONLY | O_CLOEXEC);
	if (j->rfd < 0 && errno != ENOENT)
		msg_warn("journal: cannot read %s: %s", p, strerror(errno));
	free(p);
	j->rseg = seg;
	return j->rfd;
}

/* Read exactly len bytes at off; false on short read or error. */
static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/*
 * Read len bytes at off of the reader's segment seg (fd), all below limit,
 * through the read-ahead buffer: one pread(2) for many small records.
 * Bytes below limit are whole records, never rewritten, so what the
 * buffer holds stays true.
 */
static bool read_ahead(struct journal *j, int fd, uint64_t seg, void *buf,
		       size_t len, uint64_t off, uint64_t limit)
{
	if (len > RBUF_SIZE || off + len > limit)
		return read_at(fd, buf, len, off);
	if (j->rbuf_seg != seg || off < j->rbuf_off ||
	    off + len > j->rbuf_off + j->rbuf_len) {
		uint64_t want = limit - off < RBUF_SIZE ? limit - off : RBUF_SIZE;

		if (j->rbuf == NULL)
			j->rbuf = xmalloc(RBUF_SIZE);
		j->rbuf_len = 0;
		if (!read_at(fd, j->rbuf, (size_t)want, off))
			return false;
		j->rbuf_seg = seg, j->rbuf_off = off, j->rbuf_len = (size_t)want;
	}
	memcpy(buf, j->rbuf + (off - j->rbuf_off), len);
	return true;
}

/*
 * Is there a valid record at off, wholly before limit? On success
 * *payload is a malloc'd copy (caller frees) and *len its size.
 */
static bool record_at(struct journal *j, int fd, uint64_t seg, uint64_t off,
		      uint64_t limit, unsigned char **payload, uint32_t *len)
{
	unsigned char hdr[HDR_LEN];
	unsigned char *buf;
	uint32_t n;

	if (limit < HDR_LEN || off > limit - HDR_LEN ||
	    !read_ahead(j, fd, seg, hdr, HDR_LEN, off, limit) ||
	    memcmp(hdr, magic, 4) != 0)
		return false;
	n = get_u32(hdr + 4);
	if (n > RECORD_MAX || off + HDR_LEN + n > limit)
		return false;
	buf = xmalloc(n ? n : 1);
	j->scanned += HDR_LEN + n;
	if (!read_ahead(j, fd, seg, buf, n, off + HDR_LEN, limit) ||
	    record_crc(hdr, buf, n) != get_u32(hdr + 8)) {
		free(buf);
		return false;
	}
	*payload = buf;
	*len = n;
	return true;
}

/*
 * Resync: after a bad record at off, the offset of the next valid one.
 *
 * Every "PMJ1" after off is a candidate whose CRC must be checked over a
 * payload of up to RECORD_MAX bytes, and hostile payloads (a HELO full
 * of fake headers) can put a candidate every few bytes: checking each
 * one by reading its payload is quadratic in the segment size. Instead,
 * the CRC of any slice comes from CRCs of prefixes, in constant time:
 * with C(x) the CRC-32C of the first x bytes of the buffer and op_n the
 * linear map "append n zero bytes" (crc32c_shift()), crc(A || B) =
 * op_|B|(crc(A)) ^ crc(B), so a record at i with length L and payload
 * [a, b) has
 *     record_crc = op_L(crc(length bytes) ^ C(a)) ^ C(b).
 * C is kept every PREFIX_STRIDE bytes and completed byte by byte. The segment
 * is read once, in windows of RESYNC_WINDOW bytes plus the longest
 * record: the whole scan is linear in what follows off.
 */
#define PREFIX_STRIDE	16
#define RESYNC_WINDOW	(4u << 20)
struct prefix {
	const unsigned char *buf;
	size_t len;
	uint32_t *at;			/* at[k] = C(k * PREFIX_STRIDE) */
};

static void prefix_build(struct prefix *px, const unsigned char *buf, size_t len)
{
	uint32_t crc = 0;

	px->buf = buf;
	px->len = len;
	px->at = xmalloc((len / PREFIX_STRIDE + 1) * sizeof(*px->at));
	for (size_t k = 0; k * PREFIX_STRIDE <= len; k++) {
		size_t from = k * PREFIX_STRIDE;
		size_t n = len - from < PREFIX_STRIDE ? len - from : PREFIX_STRIDE;

		px->at[k] = crc;
		crc = crc32c(crc, buf + from, n);
	}
}

/* C(x), x <= len. */
static uint32_t prefix_crc(const struct prefix *px, size_t x)
{
	size_t k = x / PREFIX_STRIDE;

	return crc32c(px->at[k], px->buf + k * PREFIX_STRIDE, x - k * PREFIX_STRIDE);
}

static uint64_t resync(struct journal *j, int fd, uint64_t off, uint64_t limit)
{
	for (uint64_t base = off + 1; base + HDR_LEN <= limit; base += RESYNC_WINDOW) {
		/* Candidates start in [base, base + RESYNC_WINDOW); their
		 * records end at most HDR_LEN + RECORD_MAX later. */
		uint64_t end = limit - base > RESYNC_WINDOW + HDR_LEN + RECORD_MAX ?
			       base + RESYNC_WINDOW + HDR_LEN + RECORD_MAX : limit;
		size_t len = (size_t)(end - base);
		unsigned char *buf = xmalloc(len);
		struct prefix px;
		uint64_t found = limit;

		if (!read_at(fd, buf, len, base)) {
			free(buf);
			return limit;
		}
		j->scanned += len;
		prefix_build(&px, buf, len);
		for (size_t i = 0; i < RESYNC_WINDOW && i + HDR_LEN <= len; i++) {
			const unsigned char *h = buf + i;
			uint32_t n;

			if (h[0] != 'P' || memcmp(h, magic, 4) != 0)
				continue;
			n = get_u32(h + 4);
			if (n > RECORD_MAX || i + HDR_LEN + n > len)
				continue;
			if ((crc32c_shift(crc32c(0, h + 4, 4) ^ prefix_crc(&px, i + HDR_LEN), n) ^
			     prefix_crc(&px, i + HDR_LEN + n)) == get_u32(h + 8)) {
				found = base + i;
				break;
			}
		}
		free(px.at);
		free(buf);
		if (found < limit)
			return found;
	}
	return limit;
}

/* fdatasync the writer's segment now and then, outside the lock. */
static void maybe_sync(struct journal *j)
{
	time_t now = time(NULL);
	int fd;

	if (now - j->synced < SYNC_EVERY)
		return;
	j->synced = now;
	pthread_mutex_lock(&j->lock);
	fd = j->fd >= 0 ? dup(j->fd) : -1;
	pthread_mutex_unlock(&j->lock);
	if (fd >= 0) {
		(void)fdatasync(fd);
		close(fd);
	}
}

size_t journal_read(struct journal *j, const struct journal_pos *start,
		    size_t max, void (*fn)(void *, const unsigned char *, size_t),
		    void *arg, struct journal_pos *next)
{
	struct journal_pos pos = *start;
	size_t count = 0;

	maybe_sync(j);
	while (count < max) {
		uint64_t wseg, wsize, limit;
		unsigned char *payload;
		uint32_t len;
		struct stat st;
		int fd;

		writer_pos(j, &wseg, &wsize);
		fd = reader_open(j, pos.seg);
		if (fd < 0 || pos.seg > wseg) {
			if (pos.seg >= wseg)
				break;
			pos.seg++, pos.off = 0;
			continue;
		}
		if (pos.seg == wseg) {
			limit = wsize;
		} else if (j->lim_seg == pos.seg && j->lim > 0) {
			limit = j->lim;	/* behind the writer: it no longer grows */
		} else {
			limit = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
			j->lim_seg = pos.seg, j->lim = limit;
		}
		if (pos.off > limit) {
			/* Not where a read stopped: never skip what is there. */
			msg_warn("journal %s: position %" PRIu64 " is past the end of "
				 "segment %016" PRIx64 " (%" PRIu64 " bytes): reading it "
				 "from its start", j->dir, pos.off, pos.seg, limit);
			pos.off = 0;
		}
		if (pos.off >= limit) {
			if (pos.seg == wseg) {
				/* Nothing new yet: the reader has read all,
				 * unless a record came since writer_pos(). */
				pthread_mutex_lock(&j->lock);
				if (j->seg == pos.seg && j->seg_size == pos.off)
					__atomic_store_n(&j->unread_us, 0,
							 __ATOMIC_RELAXED);
				pthread_mutex_unlock(&j->lock);
				break;
			}
			pos.seg++, pos.off = 0;
			continue;
		}
		if (!record_at(j, fd, pos.seg, pos.off, limit, &payload, &len)) {
			uint64_t to = resync(j, fd, pos.off, limit);

			j->corrupt++;
			msg_warn("journal %s: corrupt or truncated record in segment "
				 "%016" PRIx64 " at offset %" PRIu64 ": skipped %" PRIu64
				 " bytes to the next valid record", j->dir, pos.seg,
				 pos.off, to - pos.off);
			pos.off = to;
			continue;
		}
		fn(arg, payload, len);
		free(payload);
		pos.off += HDR_LEN + len;
		count++;
	}
	*next = pos;
	return count;
}

/* ---- checkpoint -------------------------------------------------------- */

/* The size of segment seg, or -1 if it cannot be seen. */
static int64_t seg_size_of(const struct journal *j, uint64_t seg)
{
	char *p = seg_path(j, seg);
	struct stat st;
	int64_t size = stat(p, &st) == 0 ? (int64_t)st.st_size : -1;

	free(p);
	return size;
}

/*
 * The checkpoint is trusted only as far as the segments agree with it:
 * a segment beyond the last one, or an offset past a segment's end,
 * cannot be where shipping stopped. Either would skip (and let
 * journal_commit() delete) records never shipped, so the position falls
 * back to what exists, loudly; the database drops what is shipped twice.
 */
struct journal_pos journal_checkpoint(struct journal *j)
{
	struct journal_pos pos = {0, 0};
	uint64_t lo = 0, hi = 0;
	size_t n = strlen(j->dir) + 16;
	char *p = xmalloc(n);
	FILE *fp;
	bool have;
	int64_t size;

	pthread_mutex_lock(&j->lock);
	have = seg_scan(j, &lo, &hi);
	pthread_mutex_unlock(&j->lock);
	snprintf(p, n, "%s/checkpoint", j->dir);
	if ((fp = fopen(p, "r")) != NULL) {
		if (fscanf(fp, "%" SCNx64 " %" SCNu64, &pos.seg, &pos.off) != 2) {
			msg_warn("journal: %s is malformed: shipping from the oldest "
				 "segment (the database drops duplicates)", p);
			pos.seg = pos.off = 0;
		}
		fclose(fp);
	}
	if (have && pos.seg < lo) {
		pos.seg = lo, pos.off = 0;
	} else if (have && pos.seg > hi) {
		msg_warn("journal: %s names segment %016" PRIx64 ", beyond the last "
			 "one (%016" PRIx64 "): shipping from the oldest segment (the "
			 "database drops duplicates)", p, pos.seg, hi);
		pos.seg = lo, pos.off = 0;
	} else if (have && pos.off > 0 && (size = seg_size_of(j, pos.seg)) >= 0 &&
		   pos.off > (uint64_t)size) {
		msg_warn("journal: %s names offset %" PRIu64 ", past the end of "
			 "segment %016" PRIx64 " (%" PRId64 " bytes): shipping that "
			 "segment from its start (the database drops duplicates)", p,
			 pos.off, pos.seg, size);
		pos.off = 0;
	}
	free(p);
	return pos;
}

static void delete_before(struct journal *j, const struct journal_pos *pos)
{
	uint64_t lo = 0, hi = 0, upto = pos->seg;

	pthread_mutex_lock(&j->lock);
	/* Everything shipped, the writer's segment included (checked under
	 * the lock, so no record can slip in): start a new segment so the
	 * old one can go; a cap smaller than a segment must free space too. */
	if (pos->seg == j->seg && pos->off == j->seg_size && j->seg_size > 0) {
		char err[256];

		if (seg_start(j, j->seg + 1, err, sizeof(err)))
			upto = j->seg;
		else
			msg_warn("journal: %s", err);
	}
	if (seg_scan(j, &lo, &hi)) {
		for (uint64_t s = lo; s < upto && s < j->seg; s++) {
			char *p = seg_path(j, s);

			if (unlink(p) != 0 && errno != ENOENT)
				msg_warn("journal: cannot remove %s: %s", p, strerror(errno));
			free(p);
		}
		(void)seg_scan(j, &lo, &hi);
	}
	if (j->total < j->max_size)
		j->at_cap = false;
	pthread_mutex_unlock(&j->lock);
}

bool journal_commit(struct journal *j, const struct journal_pos *pos)
{
	size_t n = strlen(j->dir) + 32;
	char *tmp = xmalloc(n), *final = xmalloc(n);
	bool ok = false;
	FILE *fp = NULL;
	int fd;

	snprintf(tmp, n, "%s/checkpoint.tmp", j->dir);
	snprintf(final, n, "%s/checkpoint", j->dir);
	if ((fd = file_open(tmp, O_WRONLY | O_CREAT | O_TRUNC)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		msg_warn("journal: cannot write %s: %s", tmp,
			 errno == EINVAL ? "not a regular file" : strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	fprintf(fp, "%016" PRIx64 " %" PRIu64 "\n", pos->seg, pos->off);
	if (fflush(fp) != 0 || fdatasync(fileno(fp)) != 0) {
		msg_warn("journal: cannot write %s: %s", tmp, strerror(errno));
		fclose(fp);
		goto out;
	}
	fclose(fp);
	if (rename(tmp, final) != 0) {
		msg_warn("journal: cannot rename %s: %s", tmp, strerror(errno));
		goto out;
	}
	delete_before(j, pos);
	ok = true;
out:
	free(tmp);
	free(final);
	return ok;
}

/* ---- one daemon per journal -------------------------------------------- */

/* The pid written in the lock file by its holder, or 0. */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return str_to_long(buf, 1, 0x7fffffffL, &pid) ? pid : 0;
}

int journal_lock(const char *dir, char *err, size_t errlen)
{
	size_t dl = strlen(dir);
	char *p = xmalloc(dl + sizeof("/lock"));
	struct stat st;
	int fd = -1;

	/* not snprintf: gcc -O1 with -fsanitize=undefined warns that its %s
	 * may be null (-Wformat-truncation), a false positive under -Werror */
	memcpy(p, dir, dl);
	memcpy(p + dl, "/lock", sizeof("/lock"));
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "journal directory %s: %s", dir, strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "journal directory %s: not a directory", dir);
	} else if ((fd = file_open(p, O_RDWR | O_CREAT)) < 0) {
		snprintf(err, errlen, "journal directory %s: cannot open %s: %s%s", dir,
			 p, errno == EINVAL ? "not a regular file" : strerror(errno),
			 errno == EACCES ? " (the journal's files must belong to the "
			 "user the daemon runs as)" : "");
	} else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int saved = errno;
		long pid = saved == EWOULDBLOCK ? lock_holder(fd) : 0;
		char who[40] = "";

		if (pid > 0)
			snprintf(who, sizeof(who), " (pid %ld)", pid);
		errno = saved;
		if (saved == EWOULDBLOCK)
			snprintf(err, errlen, "journal directory %s is in use by another "
				 "portmilter%s: one daemon per journal (lock %s)", dir,
				 who, p);
		else
			snprintf(err, errlen, "journal directory %s: cannot lock %s: %s",
				 dir, p, strerror(errno));
		close(fd);
		fd = -1;
	} else if (ftruncate(fd, 0) != 0) {
		/* An old holder's pid must not be taken for ours (the pid is
		 * written by journal_lock_own(), after the fork). */
		snprintf(err, errlen, "journal directory %s: cannot write %s: %s", dir,
			 p, strerror(errno));
		close(fd);
		fd = -1;
	}
	free(p);
	return fd;
}

bool journal_lock_own(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	return ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)len, 0) == len;
}
