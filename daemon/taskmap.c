/*
 * A client's tasks by id: an open-addressing hash table with linear
 * probing.
 *
 * The ids are the client's choice, so they may be sequential, all multiples
 * of 2^32, or picked to collide.  An id's high half is folded into its low
 * half and the result multiplied by 2^64 / phi (Fibonacci hashing), whose
 * top bits choose the slot: sequential ids land as far apart as the table
 * allows, and ids that differ only above bit 32 still spread.  That is a
 * few instructions where a full finaliser took a dozen, on a lookup made
 * three times per task.  Removal shifts the rest of the probe run back
 * instead of leaving tombstones, so a connection that pipelines and
 * retires millions of tasks never slows down or needs a rehash to clean
 * up.  The table doubles past 1/2 full (short runs: removal walks its
 * run) and halves below 1/8, so one burst of 100,000 tasks does not pin
 * its memory for the rest of the connection.
 */
#include <stdint.h>
#include <stdlib.h>

#include "forkpoold.h"

#define TASKMAP_MIN_SLOTS	16	/* a power of two */

struct taskmap_slot {
	uint64_t	 id;
	void		*value;
	int		 used;
};

struct taskmap {
	struct taskmap_slot *slots;
	size_t		 nslots;	/* a power of two */
	unsigned int	 shift;		/* 64 - log2(nslots) */
	size_t		 count;
};

#define TASKMAP_PHI	0x9e3779b97f4a7c15ULL	/* 2^64 / phi, odd */

/* The slot where id's probe run starts. */
static inline size_t
taskmap_home(const struct taskmap *map, uint64_t id)
{
	return ((size_t)(((id ^ (id >> 32)) * TASKMAP_PHI) >> map->shift));
}

/* Size the table to nslots (a power of two) slots, all empty. */
static void
taskmap_alloc(struct taskmap *map, size_t nslots)
{
	unsigned int	bits = 0;

	while (((size_t)1 << bits) < nslots)
		bits++;
	map->slots = xcalloc(nslots, sizeof(*map->slots));
	map->nslots = nslots;
	map->shift = 64 - bits;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t
taskmap_probe(const struct taskmap *map, uint64_t id)
{
	size_t	i;

	/* The table is never full, so the run ends at an empty slot. */
	i = taskmap_home(map, id);
	while (map->slots[i].used && map->slots[i].id != id)
		i = (i + 1) & (map->nslots - 1);
	return (i);
}

/* Move every entry into a fresh table of nslots slots. */
static void
taskmap_resize(struct taskmap *map, size_t nslots)
{
	struct taskmap_slot	*old = map->slots;
	size_t			 oldn = map->nslots, i, j;

	taskmap_alloc(map, nslots);
	for (i = 0; i < oldn; i++) {
		if (!old[i].used)
			continue;
		j = taskmap_probe(map, old[i].id);
		map->slots[j] = old[i];
	}
	free(old);
}

struct taskmap *
taskmap_new(void)
{
	struct taskmap	*map;

	map = xcalloc(1, sizeof(*map));
	taskmap_alloc(map, TASKMAP_MIN_SLOTS);
	return (map);
}

/* Free the table; the values belong to the caller. */
void
taskmap_free(struct taskmap *map)
{
	if (map == NULL)
		return;
	free(map->slots);
	free(map);
}

/*
 * Put id (not in the map) at slot i, where taskmap_probe() left it; the
 * map has not changed since.
 */
static void
taskmap_put(struct taskmap *map, size_t i, uint64_t id, void *value)
{
	/* Keep the load at or under 1/2, so probe runs stay short. */
	if ((map->count + 1) * 2 > map->nslots) {
		taskmap_resize(map, map->nslots * 2);
		i = taskmap_probe(map, id);
	}
	map->slots[i].id = id;
	map->slots[i].value = value;
	map->slots[i].used = 1;
	map->count++;
}

/* Add id; -1 and no change when it is already there. */
int
taskmap_add(struct taskmap *map, uint64_t id, void *value)
{
	size_t	i;

	i = taskmap_probe(map, id);
	if (map->slots[i].used)
		return (-1);
	taskmap_put(map, i, id, value);
	return (0);
}

/*
 * The value stored for id, or NULL and in *pos where taskmap_add_at() may
 * put it: a lookup and then an add (a new task) probe once.
 */
void *
taskmap_lookup(const struct taskmap *map, uint64_t id, size_t *pos)
{
	size_t	i;

	i = taskmap_probe(map, id);
	*pos = i;
	return (map->slots[i].used ? map->slots[i].value : NULL);
}

/*
 * Add id, which taskmap_lookup() did not find and placed at pos, with no
 * change to the map since.
 */
void
taskmap_add_at(struct taskmap *map, size_t pos, uint64_t id, void *value)
{
	taskmap_put(map, pos, id, value);
}

/* The value stored for id, or NULL. */
void *
taskmap_find(const struct taskmap *map, uint64_t id)
{
	size_t	i;

	return (taskmap_lookup(map, id, &i));
}

/*
 * Remove id.  The entries after it in the same probe run are shifted back
 * over the hole, each only as far as its home slot allows: a lookup then
 * never meets an empty slot before the entry it is looking for.
 */
void *
taskmap_remove(struct taskmap *map, uint64_t id)
{
	size_t	 hole, i, home, mask = map->nslots - 1;
	void	*value;

	hole = taskmap_probe(map, id);
	if (!map->slots[hole].used)
		return (NULL);
	value = map->slots[hole].value;

	i = hole;
	for (;;) {
		i = (i + 1) & mask;
		if (!map->slots[i].used)
			break;
		home = taskmap_home(map, map->slots[i].id);
		/*
		 * The entry at i may fill the hole only if its home is not
		 * in (hole, i], cyclically: otherwise moving it would put
		 * it before the start of its own run.
		 */
		if (((i - home) & mask) < ((i - hole) & mask))
			continue;
		map->slots[hole] = map->slots[i];
		hole = i;
	}
	map->slots[hole].used = 0;
	map->slots[hole].value = NULL;
	map->count--;

	if (map->nslots > TASKMAP_MIN_SLOTS && map->count * 8 < map->nslots)
		taskmap_resize(map, map->nslots / 2);
	return (value);
}

size_t
taskmap_count(const struct taskmap *map)
{
	return (map->count);
}
