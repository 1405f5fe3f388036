/*
 * A latency histogram for bench: log-linear buckets, so that memory stays
 * constant however many values go in and every percentile is within 1%
 * of the exact figure.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "forkpool.h"

/* The bucket of a value, in a few instructions. */
static size_t
hist_index(uint64_t v)
{
	unsigned int	shift;

	if (v < HIST_SUB)
		return ((size_t)v);
	shift = (unsigned int)(63 - __builtin_clzll(v)) - HIST_SUB_BITS;
	return (((size_t)(shift + 1) << HIST_SUB_BITS) +
	    (size_t)((v >> shift) - HIST_SUB));
}

/* The middle of a bucket's range of values. */
static double
hist_value(size_t i)
{
	unsigned int	shift;
	double		lo;

	if (i < HIST_SUB)
		return ((double)i);
	shift = (unsigned int)(i >> HIST_SUB_BITS) - 1;
	lo = (double)((uint64_t)((i & (HIST_SUB - 1)) + HIST_SUB) << shift);
	return (lo + ((double)(1ULL << shift) - 1) / 2);
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *into, const struct hist *h)
{
	size_t	i;

	for (i = 0; i < HIST_BUCKETS; i++)
		into->count[i] += h->count[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

/* The q-quantile (nearest rank), in nanoseconds; never above the max. */
double
hist_quantile(const struct hist *h, double q)
{
	uint64_t	rank, seen = 0;
	double		v;
	size_t		i;

	if (h->n == 0)
		return (0);
	rank = (uint64_t)(q * (double)h->n);
	if ((double)rank < q * (double)h->n)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			break;
	}
	v = hist_value(i);
	return (v > (double)h->max ? (double)h->max : v);
}
