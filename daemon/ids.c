/*
 * Users and groups named in the configuration, by name or number, turned
 * into ids once, when the file is read: a name that does not resolve is a
 * configuration error with its line, not a surprise at fork time.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "forkpoold.h"

static int
ids_number(const char *s, uint64_t *v)
{
	char	*end;

	if (*s == '\0' || !isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || *v >= (uint32_t)-1)
		return (-1);
	return (0);
}

/* A user by name or number: its uid and primary group.  0 or -1. */
int
ids_user(const char *s, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	uint64_t	 v;

	if (ids_number(s, &v) == 0) {
		*uid = (uid_t)v;
		pw = getpwuid(*uid);
		*gid = pw != NULL ? pw->pw_gid : (gid_t)v;
		return (0);
	}
	if ((pw = getpwnam(s)) == NULL)
		return (-1);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return (0);
}

/* A group by name or number.  0 or -1. */
int
ids_group(const char *s, gid_t *gid)
{
	struct group	*gr;
	uint64_t	 v;

	if (ids_number(s, &v) == 0) {
		*gid = (gid_t)v;
		return (0);
	}
	if ((gr = getgrnam(s)) == NULL)
		return (-1);
	*gid = gr->gr_gid;
	return (0);
}
