/*
 * recent - queue id -> transaction, for the exact size. See recent.h.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "recent.h"
#include "util.h"

#define WAYS	4			/* slots per set */
#define SETS	(RECENT_SLOTS / WAYS)

struct slot {
	uint64_t age;			/* order of recent_put() calls */
	char queue_id[32];		/* "" = free */
	char event_id[RECENT_ID_LEN];
	char event_time[RECENT_ID_LEN];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots;		/* under lock; set i: [i * WAYS, +WAYS) */
static uint64_t clock_;			/* under lock */
static atomic_bool enabled;

void recent_enable(void)
{
	pthread_mutex_lock(&lock);
	if (slots == NULL)
		slots = xcalloc(RECENT_SLOTS, sizeof(*slots));
	pthread_mutex_unlock(&lock);
	atomic_store(&enabled, true);
}

/* The first slot of queue_id's set. */
static struct slot *set_of(const char *queue_id)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)queue_id; *p; p++)
		h = (h ^ *p) * 16777619u;
	return &slots[(h % SETS) * WAYS];
}

/* Where queue_id goes in its set: its own slot, else a free one, else
 * the one put longest ago. */
static struct slot *victim(struct slot *set, const char *queue_id)
{
	struct slot *free_slot = NULL, *oldest = &set[0];

	for (int i = 0; i < WAYS; i++) {
		if (strcmp(set[i].queue_id, queue_id) == 0)
			return &set[i];
		if (set[i].queue_id[0] == '\0' && free_slot == NULL)
			free_slot = &set[i];
		if (set[i].age < oldest->age)
			oldest = &set[i];
	}
	return free_slot != NULL ? free_slot : oldest;
}

static bool fits(const char *s, size_t size)
{
	return s != NULL && s[0] != '\0' && strnlen(s, size) < size;
}

void recent_put(const char *queue_id, const char *event_id,
		const char *event_time)
{
	struct slot *s;

	if (!atomic_load_explicit(&enabled, memory_order_relaxed) ||
	    !fits(queue_id, sizeof(s->queue_id)) ||
	    !fits(event_id, RECENT_ID_LEN) || !fits(event_time, RECENT_ID_LEN))
		return;
	pthread_mutex_lock(&lock);
	s = victim(set_of(queue_id), queue_id);
	s->age = ++clock_;
	strcpy(s->queue_id, queue_id);
	strcpy(s->event_id, event_id);
	strcpy(s->event_time, event_time);
	pthread_mutex_unlock(&lock);
}

bool recent_take(const char *queue_id, char event_id[RECENT_ID_LEN],
		 char event_time[RECENT_ID_LEN])
{
	struct slot *s;
	bool found = false;

	if (!atomic_load(&enabled) || !fits(queue_id, sizeof(s->queue_id)))
		return false;
	pthread_mutex_lock(&lock);
	s = set_of(queue_id);
	for (int i = 0; i < WAYS && !found; i++, s++) {
		if (strcmp(s->queue_id, queue_id) == 0) {
			memcpy(event_id, s->event_id, RECENT_ID_LEN);
			memcpy(event_time, s->event_time, RECENT_ID_LEN);
			s->queue_id[0] = '\0';
			found = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}
