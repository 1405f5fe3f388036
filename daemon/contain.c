/*
 * Containment of a worker, applied in the child after fork: resource
 * limits, the pool's user and group, no_new_privs always, and for module
 * workers with sandbox = seccomp a system-call filter loaded after
 * worker_init.  Runs only in a worker; a failure ends the worker with
 * the reason, never the master.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <seccomp.h>

#include "forkpoold.h"

static int
contain_rlimit(int resource, uint64_t v, const char *name, char *err,
    size_t errlen)
{
	struct rlimit	rl;

	if (v == RLIMIT_UNSET)
		return (0);
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(resource, &rl) == -1) {
		snprintf(err, errlen, "%s: setrlimit to %llu: %s", name,
		    (unsigned long long)v, strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * setgroups, setgid, setuid, in that order (the first two need the
 * privilege the last gives up), then check that none can be undone.
 */
static int
contain_ids(const struct pool_config *pc, char *err, size_t errlen)
{
	gid_t	gid = (gid_t)pc->gid;
	uid_t	uid = (uid_t)pc->uid;

	if (pc->gid != -1 && (setgroups(1, &gid) == -1 || setgid(gid) == -1)) {
		snprintf(err, errlen, "cannot switch to group %u: %s",
		    (unsigned)gid, strerror(errno));
		return (-1);
	}
	if (pc->uid != -1 && setuid(uid) == -1) {
		snprintf(err, errlen, "cannot switch to user %u: %s",
		    (unsigned)uid, strerror(errno));
		return (-1);
	}
	if ((pc->gid != -1 && (getgid() != gid || getegid() != gid)) ||
	    (pc->uid != -1 && (getuid() != uid || geteuid() != uid ||
	    (uid != 0 && setuid(0) != -1)))) {
		snprintf(err, errlen, "the switch to user %lld group %lld did "
		    "not hold", (long long)pc->uid, (long long)pc->gid);
		return (-1);
	}
	return (0);
}

/* Everything but the filter, before worker_init (or exec). */
int
contain_apply(const struct pool_config *pc, char *err, size_t errlen)
{
	uint64_t	cpu = pc->rlimit_cpu_ms;

	if (contain_rlimit(RLIMIT_AS, pc->rlimit_as, "rlimit_as", err,
	    errlen) == -1 ||
	    contain_rlimit(RLIMIT_CPU, cpu == RLIMIT_UNSET ? cpu : cpu / 1000,
	    "rlimit_cpu", err, errlen) == -1 ||
	    contain_rlimit(RLIMIT_NOFILE, pc->rlimit_nofile, "rlimit_nofile",
	    err, errlen) == -1 ||
	    contain_rlimit(RLIMIT_CORE, pc->rlimit_core, "rlimit_core", err,
	    errlen) == -1)
		return (-1);
	if (contain_ids(pc, err, errlen) == -1)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s",
		    strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * What serving tasks needs: the channel (read, write, and poll for the
 * look a prefetching worker takes before each task that waited, for a
 * CANCEL: lib/wchan.c), memory, time, and what the C library and zlib
 * use on the way.  A handler that tries
 * anything else (open, exec, connect, ...) is killed with SIGSYS.
 */
static const int contain_allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(lseek), SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap),
	SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(mprotect),
	SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday),
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep), SCMP_SYS(getpid),
	SCMP_SYS(gettid), SCMP_SYS(getrandom), SCMP_SYS(sched_yield),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

int
contain_sandbox(char *err, size_t errlen)
{
	scmp_filter_ctx	ctx;
	size_t		i;
	int		rc = 0;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return (-1);
	}
	for (i = 0; i < sizeof(contain_allowed) / sizeof(contain_allowed[0]);
	    i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, contain_allowed[i],
		    0);
	/* abort() signals itself; stdio asks whether a stream is a tty. */
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, TCGETS));
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		snprintf(err, errlen, "cannot load the seccomp filter: %s",
		    strerror(-rc));
		return (-1);
	}
	return (0);
}
