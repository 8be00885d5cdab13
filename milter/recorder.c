/*
 * recorder - journal + shipper behind one small interface. See recorder.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catchup.h"
#include "event.h"
#include "journal.h"
#include "metrics.h"
#include "msg.h"
#include "recorder.h"
#include "shipper.h"

static struct journal *journal;
static struct shipper *shipper;
static char hostname[256];

bool recorder_open(const struct cfg *cfg, char *err, size_t errlen)
{
	if (gethostname(hostname, sizeof(hostname)) != 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	journal = journal_open(cfg->journal_directory, cfg->journal_max_size,
			       err, errlen);
	return journal != NULL;
}

void recorder_start(const struct cfg *cfg)
{
	catchup_start(cfg);	/* first: the shipper kicks it */
	shipper = shipper_start(journal, cfg->database, recorder_node(cfg));
}

void recorder_reload(const struct cfg *cfg)
{
	if (shipper)
		shipper_set_conninfo(shipper, cfg->database);
	catchup_reload(cfg);
	if (journal) {
		uint64_t cap = cfg->journal_max_size;
		uint64_t old = journal_set_max_size(journal, cap);

		if (old != cap)
			msg_info("journal %s: journal_max_size now %" PRIu64
				 " bytes (was %" PRIu64 ")", journal_dir(journal),
				 cap, old);
	}
	if (journal && strcmp(journal_dir(journal), cfg->journal_directory) != 0)
		msg_warn("journal_directory changed to %s: takes effect at restart",
			 cfg->journal_directory);
}

bool recorder_accepting(const struct cfg *cfg)
{
	return journal == NULL || cfg->journal_full_action != CFG_FULL_TEMPFAIL ||
	       !journal_full(journal);
}

bool recorder_put(const struct event *ev)
{
	unsigned char *buf;
	size_t len;
	bool ok;

	if (journal == NULL) {
		metrics_journaled(false);
		return false;
	}
	buf = event_encode(ev, &len);
	ok = journal_append(journal, buf, len);
	free(buf);
	metrics_journaled(ok);
	return ok;
}

void recorder_close(int seconds)
{
	catchup_stop();		/* a step cancelled, not waited for */
	shipper_stop(shipper, seconds);
	shipper = NULL;
	journal_close(journal);
	journal = NULL;
}

void recorder_stats(struct recorder_stats *st)
{
	struct journal *j = __atomic_load_n(&journal, __ATOMIC_ACQUIRE);
	struct shipper *s = __atomic_load_n(&shipper, __ATOMIC_ACQUIRE);

	st->journal_bytes = j ? journal_size(j) : 0;
	st->shipped = s ? shipper_shipped(s) : 0;
	st->shipper_up = s ? shipper_up(s) : false;
	st->oldest_unshipped_us = s ? shipper_oldest_unshipped(s) : 0;
}

const char *recorder_node(const struct cfg *cfg)
{
	return cfg->node_name && cfg->node_name[0] ? cfg->node_name : hostname;
}
