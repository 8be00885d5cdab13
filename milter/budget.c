/*
 * budget - per-user sending budgets (see budget.h for the contract).
 *
 * The table: BUDGET_SHARDS shards, each a mutex, a chained hash table
 * and a list of its entries from the most to the least recently
 * charged. An entry holds one struct budget_ring per meter of the
 * layout (one meter per distinct window of each limit key, from the
 * configuration), then its key. The other nodes' usage goes into the
 * same rings, in the slot of the second it happened: it costs no memory
 * and a check one ring sum per window, whoever sent. Only
 * budget_charge() and budget_remote_add() create entries: a check on an
 * unknown key sees zero usage and allocates nothing.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "msg.h"
#include "util.h"

#define BUDGET_SHARDS		64
#define BUDGET_EVICT_STEP	4	/* drained entries evicted per charge */
#define BUDGET_METERS		(CFG_NLIMITS * CFG_WINDOWS_MAX)

/* ---- the ring ------------------------------------------------------------- */

uint32_t budget_width(uint32_t window)
{
	uint32_t w = (window + BUDGET_SLOTS - 2) / (BUDGET_SLOTS - 1);

	return w ? w : 1;
}

void budget_ring_advance(struct budget_ring *r, uint32_t width, uint64_t now)
{
	uint64_t idx = now / width;

	if (idx <= r->head)
		return;		/* same slot, or the clock went back */
	if (idx - r->head >= BUDGET_SLOTS)
		memset(r->b, 0, sizeof(r->b));
	else
		for (uint64_t j = (uint64_t) r->head + 1; j <= idx; j++)
			r->b[j % BUDGET_SLOTS] = 0;
	r->head = (uint32_t) idx;
}

uint64_t budget_ring_sum(struct budget_ring *r, uint32_t width,
			 uint32_t window, uint64_t now)
{
	uint64_t t, lo, sum = 0;

	budget_ring_advance(r, width, now);
	t = now / width < r->head ? (uint64_t) r->head * width : now;
	lo = t + 1 > window ? (t + 1 - window) / width : 0;
	if (lo + BUDGET_SLOTS <= r->head)
		lo = (uint64_t) r->head - BUDGET_SLOTS + 1;
	for (uint64_t j = lo; j <= r->head; j++)
		sum += r->b[j % BUDGET_SLOTS];
	return sum;
}

void budget_ring_add(struct budget_ring *r, uint32_t width, uint64_t now,
		     uint64_t n)
{
	uint32_t *slot;

	budget_ring_advance(r, width, now);
	slot = &r->b[r->head % BUDGET_SLOTS];
	*slot = n >= UINT32_MAX - *slot ? UINT32_MAX : *slot + (uint32_t) n;
}

void budget_ring_add_at(struct budget_ring *r, uint32_t width, uint64_t now,
			uint64_t when, uint64_t n)
{
	uint64_t idx = when / width;
	uint32_t *slot;

	budget_ring_advance(r, width, now);
	if (idx > r->head)
		idx = r->head;		/* from the future: counts now */
	if (r->head - idx >= BUDGET_SLOTS)
		return;			/* drained already */
	slot = &r->b[idx % BUDGET_SLOTS];
	*slot = n >= UINT32_MAX - *slot ? UINT32_MAX : *slot + (uint32_t) n;
}

/* ---- the table -------------------------------------------------------------- */

struct budget_layout {
	unsigned n;				/* meters */
	unsigned nwin[CFG_NLIMITS];
	unsigned first[CFG_NLIMITS];		/* meter of window 0 */
	uint32_t window[BUDGET_METERS];
	uint32_t width[BUDGET_METERS];
	uint64_t span;				/* everything drained after */
};

struct bentry {
	struct bentry *hnext;			/* hash chain */
	struct bentry *prev, *next;		/* most recent first */
	uint32_t hash;
	uint32_t keylen;
	uint64_t last;				/* time of the last charge */
	struct budget_ring ring[];		/* layout.n, then the key */
};

struct bshard {
	pthread_mutex_t lock;
	struct bentry **tab;
	size_t size, count;			/* size: a power of 2 */
	struct bentry *head, *tail;
};

struct budget {
	struct budget_layout layout;		/* changed with every shard locked */
	size_t max_per_shard;
	struct bshard shard[BUDGET_SHARDS];
};

static const char *bentry_key(const struct bentry *e, unsigned nmeters)
{
	return (const char *) &e->ring[nmeters];
}

static struct bentry *bentry_new(const char *key, size_t keylen,
				 uint32_t hash, unsigned nmeters)
{
	struct bentry *e = xcalloc(1, sizeof(*e) + nmeters *
				   sizeof(struct budget_ring) + keylen + 1);

	e->hash = hash;
	e->keylen = (uint32_t) keylen;
	memcpy((char *) &e->ring[nmeters], key, keylen);
	return e;
}

static uint32_t budget_hash(const char *key, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) key[i]) * 16777619u;
	return h;
}

static void layout_build(struct budget_layout *l, const struct cfg *cfg)
{
	unsigned w[CFG_WINDOWS_MAX];
	size_t n;

	memset(l, 0, sizeof(*l));
	for (int k = 0; k < CFG_NLIMITS; k++) {
		n = cfg_limit_windows(cfg, k, w);
		if (n > CFG_WINDOWS_MAX)
			msg_panic("budget: %zu windows for %s", n,
				  cfg_limit_name(k));
		l->first[k] = l->n;
		l->nwin[k] = (unsigned) n;
		for (size_t i = 0; i < n; i++) {
			l->window[l->n] = w[i];
			l->width[l->n] = budget_width(w[i]);
			if ((uint64_t) w[i] + l->width[l->n] > l->span)
				l->span = (uint64_t) w[i] + l->width[l->n];
			l->n++;
		}
	}
}

/* The meter of key k's window, or -1 (a limit of an older config). */
static int layout_meter(const struct budget_layout *l, enum cfg_limit_key k,
			unsigned window)
{
	for (unsigned i = 0; i < l->nwin[k]; i++)
		if (l->window[l->first[k] + i] == window)
			return (int) (l->first[k] + i);
	return -1;
}

struct budget *budget_new(const struct cfg *cfg, size_t max_entries)
{
	struct budget *b = xcalloc(1, sizeof(*b));

	layout_build(&b->layout, cfg);
	b->max_per_shard = max_entries / BUDGET_SHARDS + 1;
	for (int i = 0; i < BUDGET_SHARDS; i++) {
		pthread_mutex_init(&b->shard[i].lock, NULL);
		b->shard[i].size = 16;
		b->shard[i].tab = xcalloc(16, sizeof(*b->shard[i].tab));
	}
	return b;
}

void budget_free(struct budget *b)
{
	struct bentry *e, *next;

	if (b == NULL)
		return;
	for (int i = 0; i < BUDGET_SHARDS; i++) {
		for (e = b->shard[i].head; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
		free(b->shard[i].tab);
		pthread_mutex_destroy(&b->shard[i].lock);
	}
	free(b);
}

static struct bshard *shard_of(struct budget *b, uint32_t hash)
{
	return &b->shard[hash % BUDGET_SHARDS];
}

static struct bentry **chain_of(struct bshard *s, uint32_t hash)
{
	return &s->tab[(hash / BUDGET_SHARDS) & (s->size - 1)];
}

static struct bentry *shard_find(struct bshard *s, const char *key,
				 size_t len, uint32_t hash, unsigned nmeters)
{
	for (struct bentry *e = *chain_of(s, hash); e != NULL; e = e->hnext)
		if (e->hash == hash && e->keylen == len &&
		    memcmp(bentry_key(e, nmeters), key, len) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct bshard *s, struct bentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct bshard *s, struct bentry *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (s->tail == NULL)
		s->tail = e;
}

static void shard_remove(struct bshard *s, struct bentry *e)
{
	struct bentry **p = chain_of(s, e->hash);

	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink(s, e);
	free(e);
	s->count--;
}

static void shard_insert(struct bshard *s, struct bentry *e)
{
	struct bentry **p;

	if (s->count >= s->size) {	/* grow: load factor stays <= 1 */
		struct bentry **old = s->tab, *x, *next;
		size_t oldsize = s->size;

		s->size *= 2;
		s->tab = xcalloc(s->size, sizeof(*s->tab));
		for (size_t i = 0; i < oldsize; i++)
			for (x = old[i]; x != NULL; x = next) {
				next = x->hnext;
				p = chain_of(s, x->hash);
				x->hnext = *p;
				*p = x;
			}
		free(old);
	}
	p = chain_of(s, e->hash);
	e->hnext = *p;
	*p = e;
	lru_push(s, e);
	s->count++;
}

/* Drop drained entries from the cold end, and any beyond the cap. */
static void shard_evict(struct budget *b, struct bshard *s, uint64_t now)
{
	for (int i = 0; i < BUDGET_EVICT_STEP && s->tail != NULL; i++) {
		if (now < s->tail->last + b->layout.span)
			break;
		shard_remove(s, s->tail);
	}
	while (s->count > b->max_per_shard && s->tail != NULL)
		shard_remove(s, s->tail);
}

/* The entry of key, made if needed, moved to the hot end. */
static struct bentry *shard_take(struct bshard *s, const char *key, size_t len,
				 uint32_t hash, unsigned nmeters)
{
	struct bentry *e = shard_find(s, key, len, hash, nmeters);

	if (e == NULL) {
		e = bentry_new(key, len, hash, nmeters);
		shard_insert(s, e);
	} else {
		lru_unlink(s, e);
		lru_push(s, e);
	}
	return e;
}

bool budget_check(struct budget *b, const char *key,
		  const struct cfg_limits *limits, enum cfg_limit_key k,
		  uint64_t pending, uint64_t now, struct budget_over *over)
{
	size_t len = strlen(key);
	uint32_t hash = budget_hash(key, len);
	struct bshard *s = shard_of(b, hash);
	const struct budget_layout *l = &b->layout;
	struct bentry *e;
	uint64_t used;
	bool hit = false;
	int m;

	if (limits == NULL || limits->n == 0)
		return false;
	pthread_mutex_lock(&s->lock);
	e = shard_find(s, key, len, hash, l->n);
	for (unsigned i = 0; i < limits->n && !hit; i++) {
		const struct cfg_limit *lim = &limits->v[i];

		m = layout_meter(l, k, lim->window);
		used = 0;
		if (e != NULL && m >= 0)
			used = budget_ring_sum(&e->ring[m], l->width[m],
					       l->window[m], now);
		if (k == CFG_LIMIT_BYTES) {
			used *= 1024;
			hit = used >= lim->max || used + pending > lim->max;
		} else {
			hit = used + pending > lim->max;
		}
		if (hit && over != NULL) {
			over->key = k;
			over->limit = *lim;
			over->used = used;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void budget_charge(struct budget *b, const char *key, uint64_t nrcpt,
		   uint64_t size, uint64_t now)
{
	size_t len = strlen(key);
	uint32_t hash = budget_hash(key, len);
	struct bshard *s = shard_of(b, hash);
	const struct budget_layout *l;
	const uint64_t add[CFG_NLIMITS] = { 1, nrcpt, (size + 1023) / 1024 };
	struct bentry *e;

	pthread_mutex_lock(&s->lock);
	l = &b->layout;
	if (l->n == 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	e = shard_take(s, key, len, hash, l->n);
	if (now > e->last)
		e->last = now;
	for (int k = 0; k < CFG_NLIMITS; k++)
		for (unsigned i = 0; i < l->nwin[k]; i++) {
			unsigned m = l->first[k] + i;

			budget_ring_add(&e->ring[m], l->width[m], now, add[k]);
		}
	shard_evict(b, s, now);
	pthread_mutex_unlock(&s->lock);
}

void budget_remote_add(struct budget *b, const char *key, uint64_t nmsg,
		       uint64_t nrcpt, uint64_t kbytes, uint64_t when,
		       uint64_t now)
{
	size_t len = strlen(key);
	uint32_t hash = budget_hash(key, len);
	struct bshard *s = shard_of(b, hash);
	const struct budget_layout *l;
	const uint64_t add[CFG_NLIMITS] = { nmsg, nrcpt, kbytes };
	struct bentry *e;

	pthread_mutex_lock(&s->lock);
	l = &b->layout;
	if (l->n == 0 || when > now || now - when >= l->span) {
		pthread_mutex_unlock(&s->lock);
		return;		/* no budgets, or drained from every window */
	}
	e = shard_take(s, key, len, hash, l->n);
	if (when > e->last)
		e->last = when;
	for (int k = 0; k < CFG_NLIMITS; k++)
		for (unsigned i = 0; i < l->nwin[k]; i++) {
			unsigned m = l->first[k] + i;

			budget_ring_add_at(&e->ring[m], l->width[m], now,
					   when, add[k]);
		}
	shard_evict(b, s, now);
	pthread_mutex_unlock(&s->lock);
}

bool budget_usage(struct budget *b, const char *key, enum cfg_limit_key k,
		  unsigned window, uint64_t now, uint64_t *used)
{
	size_t len = strlen(key);
	uint32_t hash = budget_hash(key, len);
	struct bshard *s = shard_of(b, hash);
	const struct budget_layout *l;
	struct bentry *e;
	int m;

	*used = 0;
	pthread_mutex_lock(&s->lock);
	l = &b->layout;
	m = layout_meter(l, k, window);
	e = m >= 0 ? shard_find(s, key, len, hash, l->n) : NULL;
	if (e != NULL)
		*used = budget_ring_sum(&e->ring[m], l->width[m], l->window[m],
					now);
	pthread_mutex_unlock(&s->lock);
	return m >= 0;
}

/* Rebuild one shard's entries for a new layout, keeping the rings of
 * the windows both have. */
static void shard_migrate(struct bshard *s, const struct budget_layout *from,
			  const struct budget_layout *to)
{
	struct bentry *e, *n, *next, *list = s->head;
	int map[BUDGET_METERS];

	for (unsigned m = 0; m < to->n; m++)
		map[m] = -1;
	for (int k = 0; k < CFG_NLIMITS; k++)
		for (unsigned i = 0; i < to->nwin[k]; i++)
			map[to->first[k] + i] = layout_meter(from, k,
					to->window[to->first[k] + i]);
	memset(s->tab, 0, s->size * sizeof(*s->tab));
	s->head = s->tail = NULL;
	s->count = 0;
	/* walk from the cold end so that the recency order is kept */
	while (list != NULL && list->next != NULL)
		list = list->next;
	for (e = list; e != NULL; e = next) {
		next = e->prev;
		n = bentry_new(bentry_key(e, from->n), e->keylen, e->hash, to->n);
		n->last = e->last;
		for (unsigned m = 0; m < to->n; m++)
			if (map[m] >= 0)
				n->ring[m] = e->ring[map[m]];
		free(e);
		shard_insert(s, n);
	}
}

void budget_configure(struct budget *b, const struct cfg *cfg)
{
	struct budget_layout l;

	layout_build(&l, cfg);
	for (int i = 0; i < BUDGET_SHARDS; i++)
		pthread_mutex_lock(&b->shard[i].lock);
	if (memcmp(&l, &b->layout, sizeof(l)) != 0) {
		for (int i = 0; i < BUDGET_SHARDS; i++)
			shard_migrate(&b->shard[i], &b->layout, &l);
		b->layout = l;
	}
	for (int i = BUDGET_SHARDS - 1; i >= 0; i--)
		pthread_mutex_unlock(&b->shard[i].lock);
}

size_t budget_entries(struct budget *b)
{
	size_t n = 0;

	for (int i = 0; i < BUDGET_SHARDS; i++) {
		pthread_mutex_lock(&b->shard[i].lock);
		n += b->shard[i].count;
		pthread_mutex_unlock(&b->shard[i].lock);
	}
	return n;
}

bool budget_key(const char *login, const struct pm_addr *client, char *buf,
		size_t len)
{
	struct pm_addr a;
	char text[64];

	if (login != NULL && login[0] != '\0') {
		/* A login that is not valid UTF-8 by its text form, invalid
		 * bytes as U+FFFD: the events' sasl_user (milter/event.h),
		 * from which the other nodes' usage rows are made
		 * (sql/008_usage.sql), so they count for it here. Made
		 * longer than any key (BUDGET_KEY_MAX): the snprintf below
		 * then cuts it where it cuts the stored text. */
		char form[BUDGET_KEY_MAX + 4];

		if (!utf8_valid(login)) {
			utf8_text(form, login, sizeof(form) - 1, NULL);
			login = form;
		}
		/* ASCII case folded: a backend that takes "ALICE" for
		 * "alice" must not give her a second budget. A longer
		 * login is cut: it still names one user. */
		snprintf(buf, len, "u:%s", login);
		for (char *c = buf; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char) (*c - 'A' + 'a');
		return true;
	}
	if (client == NULL || client->family == 0)
		return false;
	a = *client;
	if (a.family == AF_INET6) {
		memset(a.bytes + 8, 0, 8);
		snprintf(buf, len, "a:%s/64", addr_to_text(&a, text,
							   sizeof(text)));
	} else {
		snprintf(buf, len, "a:%s", addr_to_text(&a, text, sizeof(text)));
	}
	return true;
}

const struct cfg_limits *budget_limits(const struct cfg *cfg,
				       const struct cfg_port *port,
				       const char *login,
				       enum cfg_limit_key k)
{
	const struct cfg_class *cls = login ? cfg_class_find(cfg, login) : NULL;

	return cls != NULL && cls->set[k] ? &cls->limits[k] : &port->limits[k];
}
