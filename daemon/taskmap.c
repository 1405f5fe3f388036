/*
 * A client's tasks by id: an open-addressing hash table with linear
 * probing.
 *
 * The ids are the client's choice, so they may be sequential, all multiples
 * of 2^32, or picked to collide; every id goes through a 64-bit finaliser
 * (splitmix64's) before its low bits choose a slot, so that any pattern in
 * the ids spreads over the whole table.  Removal shifts the rest of the
 * probe run back instead of leaving tombstones, so a connection that
 * pipelines and retires millions of tasks never slows down or needs a
 * rehash to clean up.  The table doubles past 3/4 full and halves below
 * 1/8, so one burst of 100,000 tasks does not pin its memory for the rest
 * of the connection.
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
	size_t		 count;
};

/* Mix every bit of id into every bit of the result (splitmix64). */
static uint64_t
taskmap_hash(uint64_t id)
{
	id ^= id >> 30;
	id *= 0xbf58476d1ce4e5b9ULL;
	id ^= id >> 27;
	id *= 0x94d049bb133111ebULL;
	id ^= id >> 31;
	return (id);
}

/* The slot where id's probe run starts. */
static size_t
taskmap_home(const struct taskmap *map, uint64_t id)
{
	return ((size_t)taskmap_hash(id) & (map->nslots - 1));
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

	map->slots = xcalloc(nslots, sizeof(*map->slots));
	map->nslots = nslots;
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
	map->nslots = TASKMAP_MIN_SLOTS;
	map->slots = xcalloc(map->nslots, sizeof(*map->slots));
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

/* Add id; -1 and no change when it is already there. */
int
taskmap_add(struct taskmap *map, uint64_t id, void *value)
{
	size_t	i;

	i = taskmap_probe(map, id);
	if (map->slots[i].used)
		return (-1);
	/* Keep the load at or under 3/4, so probe runs stay short. */
	if ((map->count + 1) * 4 > map->nslots * 3) {
		taskmap_resize(map, map->nslots * 2);
		i = taskmap_probe(map, id);
	}
	map->slots[i].id = id;
	map->slots[i].value = value;
	map->slots[i].used = 1;
	map->count++;
	return (0);
}

/* The value stored for id, or NULL. */
void *
taskmap_find(const struct taskmap *map, uint64_t id)
{
	size_t	i;

	i = taskmap_probe(map, id);
	return (map->slots[i].used ? map->slots[i].value : NULL);
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
