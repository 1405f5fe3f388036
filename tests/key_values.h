/*
 * A test value for every key of the configuration (tests/key_values.c):
 * the key round-trip tests iterate the daemon's own table and fail on a
 * row that has none here, so a new key cannot skip them.
 */
#ifndef KEY_VALUES_H
#define KEY_VALUES_H

#include <stddef.h>

#include "forkpoold.h"

struct key_value {
	enum key_section section;
	const char	*name;
	const char	*value;		/* not the default; @X expand */
	const char	*shown;		/* as STATUS writes it; NULL: value */
	const char	*base;		/* the pool's lines; NULL: handler = echo */
	int		 replaces;	/* the key takes the place of base */
};

const struct key_value *key_value_find(enum key_section, const char *name);
void	key_value_ini(const struct key_value *kv, int with_key, char *buf,
	    size_t len);
void	key_value_shown(const struct key_value *kv, char *buf, size_t len);

#endif
