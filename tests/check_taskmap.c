/*
 * A client's tasks by id (daemon/taskmap.c): the table behind "an id
 * already in flight on this connection" and CANCEL.  Clients choose the
 * ids and pipeline thousands of tasks, so the tests use many ids, and ids
 * picked to defeat a naive hash.
 */
#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include "forkpoold.h"
#include "suites.h"

/* A distinct, recognisable non-NULL value for each id. */
static void *
val(uint64_t id)
{
	return ((void *)(uintptr_t)(id * 2 + 1));
}

/* xorshift64*: a fixed, repeatable sequence of pseudo-random numbers. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (*s * 0x2545f4914f6cdd1dULL);
}

/* Add every id, then check each is found with its own value. */
static void
add_and_check(struct taskmap *map, const uint64_t *ids, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(taskmap_add(map, ids[i], val(ids[i])), 0);
	ck_assert_uint_eq(taskmap_count(map), n);
	for (i = 0; i < n; i++)
		ck_assert_ptr_eq(taskmap_find(map, ids[i]), val(ids[i]));
}

START_TEST(test_add_find_remove)
{
	/* A task added is found by its id until it is removed. */
	struct taskmap	*map = taskmap_new();
	int		 a, b;

	ck_assert_uint_eq(taskmap_count(map), 0);
	ck_assert_ptr_null(taskmap_find(map, 7));
	ck_assert_int_eq(taskmap_add(map, 7, &a), 0);
	ck_assert_int_eq(taskmap_add(map, 8, &b), 0);
	ck_assert_ptr_eq(taskmap_find(map, 7), &a);
	ck_assert_ptr_eq(taskmap_find(map, 8), &b);
	ck_assert_uint_eq(taskmap_count(map), 2);

	ck_assert_ptr_eq(taskmap_remove(map, 7), &a);
	ck_assert_ptr_null(taskmap_find(map, 7));
	ck_assert_ptr_eq(taskmap_find(map, 8), &b);
	ck_assert_uint_eq(taskmap_count(map), 1);
	ck_assert_ptr_eq(taskmap_remove(map, 8), &b);
	ck_assert_uint_eq(taskmap_count(map), 0);
	taskmap_free(map);
	taskmap_free(NULL);
}
END_TEST

START_TEST(test_duplicate_refused)
{
	/* "An id already in flight on this connection" is refused, and the
	 * task already holding it is untouched. */
	struct taskmap	*map = taskmap_new();
	int		 a, b;

	ck_assert_int_eq(taskmap_add(map, 42, &a), 0);
	ck_assert_int_eq(taskmap_add(map, 42, &b), -1);
	ck_assert_ptr_eq(taskmap_find(map, 42), &a);
	ck_assert_uint_eq(taskmap_count(map), 1);

	/* Once answered, the id may be used again. */
	ck_assert_ptr_eq(taskmap_remove(map, 42), &a);
	ck_assert_int_eq(taskmap_add(map, 42, &b), 0);
	ck_assert_ptr_eq(taskmap_find(map, 42), &b);
	taskmap_free(map);
}
END_TEST

START_TEST(test_remove_missing)
{
	/* Removing an id that is not there (a CANCEL for an answered task)
	 * changes nothing. */
	struct taskmap	*map = taskmap_new();
	int		 a;

	ck_assert_ptr_null(taskmap_remove(map, 1));
	ck_assert_int_eq(taskmap_add(map, 1, &a), 0);
	ck_assert_ptr_null(taskmap_remove(map, 2));
	ck_assert_ptr_eq(taskmap_remove(map, 1), &a);
	ck_assert_ptr_null(taskmap_remove(map, 1));
	ck_assert_uint_eq(taskmap_count(map), 0);
	taskmap_free(map);
}
END_TEST

START_TEST(test_extreme_ids)
{
	/* Every 64-bit id is a valid id, 0 and all-ones included. */
	struct taskmap	*map = taskmap_new();
	uint64_t	 ids[] = { 0, 1, UINT64_MAX, UINT64_MAX - 1,
			    (uint64_t)1 << 63, UINT32_MAX };

	add_and_check(map, ids, sizeof(ids) / sizeof(ids[0]));
	ck_assert_ptr_eq(taskmap_remove(map, 0), val(0));
	ck_assert_ptr_null(taskmap_find(map, 0));
	ck_assert_ptr_eq(taskmap_find(map, UINT64_MAX), val(UINT64_MAX));
	taskmap_free(map);
}
END_TEST

START_TEST(test_sequential)
{
	/* 100,000 pipelined tasks with ids 1, 2, 3 ... are all tracked. */
	struct taskmap	*map = taskmap_new();
	const size_t	 n = 100000;
	uint64_t	*ids;
	size_t		 i;

	ids = calloc(n, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	for (i = 0; i < n; i++)
		ids[i] = i + 1;
	add_and_check(map, ids, n);
	ck_assert_ptr_null(taskmap_find(map, 0));
	ck_assert_ptr_null(taskmap_find(map, n + 1));

	for (i = 0; i < n; i++) {
		ck_assert_ptr_eq(taskmap_remove(map, ids[i]), val(ids[i]));
		ck_assert_uint_eq(taskmap_count(map), n - i - 1);
	}
	for (i = 0; i < n; i += 997)
		ck_assert_ptr_null(taskmap_find(map, ids[i]));
	free(ids);
	taskmap_free(map);
}
END_TEST

START_TEST(test_adversarial)
{
	/* Ids whose low bits are all zero (multiples of 2^32, of 2^48, high
	 * bit only) do not pile into one slot: 100,000 of each kind are added,
	 * found and removed well within the test's time limit, which a table
	 * indexed by the raw low bits could not do. */
	struct taskmap	*map;
	const size_t	 n = 100000;
	const unsigned	 shifts[] = { 32, 40, 47 };
	uint64_t	*ids;
	size_t		 i, k;

	ids = calloc(n, sizeof(*ids));
	ck_assert_ptr_nonnull(ids);
	for (k = 0; k < sizeof(shifts) / sizeof(shifts[0]); k++) {
		map = taskmap_new();
		for (i = 0; i < n; i++)
			ids[i] = (uint64_t)(i + 1) << shifts[k];
		add_and_check(map, ids, n);
		for (i = 0; i < n; i += 2)
			ck_assert_ptr_eq(taskmap_remove(map, ids[i]),
			    val(ids[i]));
		for (i = 0; i < n; i++)
			ck_assert_ptr_eq(taskmap_find(map, ids[i]),
			    i % 2 == 0 ? NULL : val(ids[i]));
		taskmap_free(map);
	}
	free(ids);
}
END_TEST

START_TEST(test_interleaved)
{
	/* Tasks answered in any order leave every other task findable:
	 * random adds and removes, checked against a plain array after
	 * every round. */
	struct taskmap	*map = taskmap_new();
	const size_t	 nkeys = 4096;
	unsigned char	*in;
	uint64_t	 seed = 0x9e3779b97f4a7c15ULL, id;
	size_t		 i, round, count = 0;
	void		*got;

	in = calloc(nkeys, 1);
	ck_assert_ptr_nonnull(in);
	for (round = 0; round < 64; round++) {
		for (i = 0; i < 4096; i++) {
			/* Drift between mostly adding and mostly removing,
			 * so the table grows and shrinks. */
			id = rnd(&seed) % nkeys;
			if ((rnd(&seed) % 16) < (round % 16)) {
				got = taskmap_remove(map, id);
				ck_assert_ptr_eq(got, in[id] ? val(id) : NULL);
				count -= in[id];
				in[id] = 0;
			} else {
				ck_assert_int_eq(taskmap_add(map, id, val(id)),
				    in[id] ? -1 : 0);
				count += !in[id];
				in[id] = 1;
			}
		}
		ck_assert_uint_eq(taskmap_count(map), count);
		for (id = 0; id < nkeys; id++)
			ck_assert_ptr_eq(taskmap_find(map, id),
			    in[id] ? val(id) : NULL);
	}
	free(in);
	taskmap_free(map);
}
END_TEST

START_TEST(test_interleaved_adversarial)
{
	/* The same with ids that differ only above bit 32, removed from the
	 * middle of their probe runs. */
	struct taskmap	*map = taskmap_new();
	const size_t	 n = 20000;
	size_t		 i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(taskmap_add(map, (uint64_t)i << 32,
		    val((uint64_t)i << 32)), 0);
	for (i = 0; i < n; i++)
		if (i % 3 != 0)
			ck_assert_ptr_eq(taskmap_remove(map, (uint64_t)i << 32),
			    val((uint64_t)i << 32));
	for (i = 0; i < n; i++)
		ck_assert_ptr_eq(taskmap_find(map, (uint64_t)i << 32),
		    i % 3 == 0 ? val((uint64_t)i << 32) : NULL);
	ck_assert_uint_eq(taskmap_count(map), (n + 2) / 3);
	taskmap_free(map);
}
END_TEST

START_TEST(test_count)
{
	/* The count follows adds, refused duplicates and removes exactly. */
	struct taskmap	*map = taskmap_new();
	uint64_t	 id;

	for (id = 0; id < 1000; id++) {
		ck_assert_int_eq(taskmap_add(map, id * 3, val(id)), 0);
		ck_assert_int_eq(taskmap_add(map, id * 3, val(id)), -1);
		ck_assert_uint_eq(taskmap_count(map), id + 1);
	}
	for (id = 0; id < 1000; id++) {
		ck_assert_ptr_null(taskmap_remove(map, id * 3 + 1));
		ck_assert_ptr_nonnull(taskmap_remove(map, id * 3));
		ck_assert_uint_eq(taskmap_count(map), 999 - id);
	}
	taskmap_free(map);
}
END_TEST

START_TEST(test_grow_shrink_grow)
{
	/* A burst of tasks drained to a few leaves those few findable, and
	 * the table takes a second burst. */
	struct taskmap	*map = taskmap_new();
	const uint64_t	 n = 50000;
	uint64_t	 id;

	for (id = 0; id < n; id++)
		ck_assert_int_eq(taskmap_add(map, id, val(id)), 0);
	for (id = 0; id < n; id++)
		if (id % 10000 != 0)
			ck_assert_ptr_eq(taskmap_remove(map, id), val(id));
	ck_assert_uint_eq(taskmap_count(map), 5);
	for (id = 0; id < n; id += 10000)
		ck_assert_ptr_eq(taskmap_find(map, id), val(id));
	for (id = n; id < 2 * n; id++)
		ck_assert_int_eq(taskmap_add(map, id, val(id)), 0);
	for (id = 0; id < 2 * n; id++)
		ck_assert_ptr_eq(taskmap_find(map, id),
		    id < n && id % 10000 != 0 ? NULL : val(id));
	taskmap_free(map);
}
END_TEST

START_TEST(test_lookup_then_add)
{
	/* A new task's id is looked up (duplicate?) and then added at the
	 * place the lookup found, growing the table on the way; an id that
	 * is there is found, not placed. */
	struct taskmap	*map = taskmap_new();
	uint64_t	 s = 99, id;
	size_t		 pos, i, n = 5000;

	for (i = 0; i < n; i++) {
		id = i % 2 == 0 ? i : rnd(&s);
		ck_assert_ptr_null(taskmap_lookup(map, id, &pos));
		taskmap_add_at(map, pos, id, val(id));
		ck_assert_ptr_eq(taskmap_lookup(map, id, &pos), val(id));
	}
	ck_assert_uint_eq(taskmap_count(map), n);
	s = 99;
	for (i = 0; i < n; i++) {
		id = i % 2 == 0 ? i : rnd(&s);
		ck_assert_ptr_eq(taskmap_find(map, id), val(id));
		ck_assert_int_eq(taskmap_add(map, id, val(id)), -1);
	}
	for (i = 0; i < n; i += 2)
		ck_assert_ptr_eq(taskmap_remove(map, i), val(i));
	ck_assert_uint_eq(taskmap_count(map), n / 2);
	taskmap_free(map);
}
END_TEST

Suite *
taskmap_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("taskmap");
	tc = tcase_create("taskmap");
	tcase_add_test(tc, test_add_find_remove);
	tcase_add_test(tc, test_duplicate_refused);
	tcase_add_test(tc, test_remove_missing);
	tcase_add_test(tc, test_extreme_ids);
	tcase_add_test(tc, test_sequential);
	tcase_add_test(tc, test_adversarial);
	tcase_add_test(tc, test_interleaved);
	tcase_add_test(tc, test_interleaved_adversarial);
	tcase_add_test(tc, test_count);
	tcase_add_test(tc, test_grow_shrink_grow);
	tcase_add_test(tc, test_lookup_then_add);
	suite_add_tcase(s, tc);
	return (s);
}
