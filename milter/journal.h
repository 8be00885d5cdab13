/*
 * journal - the on-disk queue between the SMTP path and PostgreSQL.
 *
 * A directory of append-only segment files "NNNNNNNNNNNNNNNN.seg" (hex
 * sequence numbers), a "checkpoint" file naming the first record not
 * yet shipped, a "lock" file (journal_lock()) and "rejected.log" (rows
 * the database refused). Every file is created 0640 or stricter, never
 * through a symlink. Each record is
 *     magic "PMJ1" | u32 length | u32 CRC-32C(length, payload) | payload
 * (little-endian), written with one write(2) under a mutex: a callback
 * appends and returns, it never waits for the database. Nothing is
 * fsync'ed on the SMTP path: a killed process loses nothing (the kernel
 * has the data); the shipper fdatasync()s segments it reads, so a power
 * loss can lose at most the records of the last second or so.
 *
 * The reader (one shipper thread) walks records from the checkpoint on,
 * reading ahead up to 256 KiB at a time, never past the bytes the writer
 * has finished (so what it buffers stays true).
 * A record whose header or CRC is wrong - a crash mid-write, a bit flip -
 * is reported once, counted, and skipped by scanning to the next valid
 * record, so what follows it is not lost; that scan reads each byte
 * once, however many fake headers the bytes hold. Segments wholly behind the
 * checkpoint are deleted. A restart starts a fresh segment and resumes
 * reading at the checkpoint.
 *
 * Size cap: when the segments together reach max_size (or a write fails
 * with ENOSPC), journal_append() refuses and journal_full() reports it;
 * the caller applies the configured journal_full_action.
 */
#ifndef PM_JOURNAL_H
#define PM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct journal;

/* Open (creating the directory's files as needed). NULL + message in
 * err on failure (directory missing, not writable, ...). */
struct journal *journal_open(const char *dir, uint64_t max_size,
			     char *err, size_t errlen);
void journal_close(struct journal *j);

/* Append one record. false = not written (cap reached, disk full, I/O
 * error): the reason is logged, rate-limited. Thread-safe. */
bool journal_append(struct journal *j, const void *payload, size_t len);

/* A new size cap (a reload); returns the old one. A cap above what the
 * journal holds lifts a "full" state at once; a smaller one refuses the
 * next append. Nothing already journaled is dropped. Thread-safe. */
uint64_t journal_set_max_size(struct journal *j, uint64_t max_size);

/* Is the journal at its size cap (or was the disk full)? */
bool journal_full(struct journal *j);

/* The directory, as given to journal_open(). */
const char *journal_dir(const struct journal *j);

/* Bytes held in segments, shipped or not. */
uint64_t journal_size(struct journal *j);

/* ---- reading side (one thread only) ---- */

struct journal_pos {
	uint64_t seg;
	uint64_t off;
};

/*
 * Read up to max records starting at *pos. For each, calls fn(arg,
 * payload, len); *next receives the position after the last record
 * read. Returns the number read (0 = nothing new). Corrupt records are
 * skipped and counted (journal_corrupt()).
 */
size_t journal_read(struct journal *j, const struct journal_pos *pos,
		    size_t max, void (*fn)(void *, const unsigned char *, size_t),
		    void *arg, struct journal_pos *next);

/* The saved checkpoint (start of the oldest segment if none). One that
 * cannot be right - a segment beyond the last one, an offset past the
 * end of its segment - is logged (naming the file) and replaced by the
 * start of the oldest segment, or of its segment: never skips a record. */
struct journal_pos journal_checkpoint(struct journal *j);

/* Save pos as the checkpoint (atomically) and delete segments wholly
 * before it. false (logged) if it could not be saved. */
bool journal_commit(struct journal *j, const struct journal_pos *pos);

/* Wait until a record is appended or timeout_ms passes. */
void journal_wait(struct journal *j, int timeout_ms);

uint64_t journal_corrupt(struct journal *j);

/*
 * When (Unix time in microseconds, as the writer appended it) the oldest
 * record that no journal_read() has read yet was appended; 0 when the
 * reader has read everything appended since the open. Lock-free (for
 * the metrics): the writer sets it within its append, the reader clears
 * it when a read reaches the end. Records left from a previous run are
 * not counted until read: the shipper knows their times when it does.
 */
int64_t journal_unread_since(struct journal *j);

/* Bytes the reader has read from segments so far (for the tests and
 * bench/resync_bench). Linear: every byte once, plus at most one
 * record's length for each corrupt spot, however hostile the bytes. */
uint64_t journal_scanned(struct journal *j);

/*
 * Another file of the journal directory (rejected.log): opened with
 * open(2) flags, never through a symlink, created 0640 (0640 or
 * stricter whatever the umask, like every journal file; a wider old
 * file is brought down to it). -1 with errno (EINVAL: not a regular
 * file).
 */
int journal_file_open(const struct journal *j, const char *name, int flags);

/*
 * One daemon per journal directory: lock dir/lock (created like every
 * journal file) with flock(), which belongs to the open file: taken
 * before a fork, it stays with the child; the kernel drops it when the
 * last descriptor closes, however the process ends (SIGKILL included),
 * so a stale lock file never stops a start. The file is emptied; the
 * holder writes its pid in it with journal_lock_own() (after its fork:
 * the daemon's pid). Returns the descriptor
 * (close-on-exec), to keep open for the process's life, or -1 with the
 * reason in err: "journal directory DIR is in use by another portmilter
 * (pid N): ...", or the directory or the file cannot be used.
 */
int journal_lock(const char *dir, char *err, size_t errlen);
bool journal_lock_own(int fd);

/* CRC-32C (Castagnoli), exposed for the tests. */
uint32_t journal_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
