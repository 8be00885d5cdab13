/*
 * recorder - what the SMTP path calls to record an event: it appends to
 * the journal and returns; the shipper thread takes it from there.
 *
 * recorder_open() opens the journal directory (false with a message if
 * it is unusable: the daemon must not run without a place to record); it
 * starts no thread, so the daemon calls it before it forks, as the user
 * it runs as. recorder_start() then starts the shipper thread and the
 * rollups' catch-up thread (catchup.h), which the shipper kicks after a
 * stored batch; recorder_close() stops the catch-up (a step running is
 * cancelled), then the shipper.
 * recorder_reload() applies a new database (to both threads) and
 * journal_max_size at once (a smaller cap than the journal holds
 * refuses the next event) and warns that a new journal_directory needs
 * a restart.
 * recorder_accepting() is false while the journal is full and
 * journal_full_action = tempfail: new mail is then tempfailed.
 * recorder_put() returns false if the event could not be journaled
 * (full, disk full, I/O error), already logged (rate limited).
 */
#ifndef PM_RECORDER_H
#define PM_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "cfg.h"
#include "event.h"

bool recorder_open(const struct cfg *cfg, char *err, size_t errlen);
void recorder_start(const struct cfg *cfg);
void recorder_reload(const struct cfg *cfg);
bool recorder_accepting(const struct cfg *cfg);
bool recorder_put(const struct event *ev);
void recorder_close(int seconds);

/* The node name for events: node_name, else the host name. */
const char *recorder_node(const struct cfg *cfg);

/* For /metrics: journal size, events shipped, database connection up,
 * the oldest unshipped event's time. */
struct recorder_stats {
	uint64_t journal_bytes;
	uint64_t shipped;
	bool shipper_up;
	int64_t oldest_unshipped_us;	/* shipper_oldest_unshipped(), 0 none */
};
void recorder_stats(struct recorder_stats *st);

#endif
