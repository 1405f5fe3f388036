#!/bin/bash
# The system test: forkpool's Debian packages installed with apt-get into a
# minimal Debian 12 root (so their Depends: are tested), booted under a
# real systemd as PID 1 (systemd-nspawn -b), and checked from outside with
# nsenter into the container's PID 1: socket activation, STATUS=, reload
# under load and refused, the watchdog, stop under load, crashed workers,
# journal priorities, a pool with a user of its own through the documented
# drop-in, allow_users, and a member of group forkpool with no options.
#
#   tests/system/run.sh DEBDIR WORKDIR      (make check-system)
#
# DEBDIR holds the .deb files (make deb); WORKDIR keeps the debootstrapped
# root between runs (WORKDIR/base, made once by mkroot.sh) and this run's
# copy of it (WORKDIR/root).  Every process this starts is stopped and
# everything mounted is unmounted before it exits.  The last line is
# "N passed, N failed".
set -u

debdir=$(realpath "$1")
work=$(realpath -m "$2")
here=$(cd "$(dirname "$0")" && pwd)
base=$work/base
root=$work/root
log=$work/log
nspawn_pid=
pid1=
passed=0
failed=0
SOCK=/run/forkpool/forkpool.sock

say() { printf '%s\n' "$*"; }

# Why this cannot run here, then stop (never a silent skip).
cannot() {
	say "check-system cannot run: $*"
	say "0 passed, 1 failed"
	exit 1
}

ok() { passed=$((passed + 1)); say "ok $((passed + failed)) - $*"; }
notok() {
	failed=$((failed + 1))
	say "not ok $((passed + failed)) - $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /' | head -n 30
	done
}

# A command inside the container, as root, with a clean environment.
ctr() {
	timeout 120 nsenter -t "$pid1" -a env -i \
	    PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

# A command inside the container as USER (its groups from /etc/group),
# with only PATH and HOME set: no FORKPOOL_SOCKET, no XDG_RUNTIME_DIR.
as() {
	local user=$1
	shift
	ctr setpriv --reuid="$user" --regid="$user" --init-groups \
	    env -i PATH=/usr/bin:/bin HOME="/home/$user" "$@"
}

# Wait up to $1 seconds for "$2..." to succeed, polling every 0.1 s.
until_ok() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.1
	done
}

main_pid() { ctr systemctl show -P MainPID forkpool.service; }
# The service runs with a main pid other than $1.
restarted_from() {
	local p
	p=$(main_pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ]
}
# The pids of pool $1's workers that run (idle or busy), from STATUS.
pids() {
	ctr forkpool -s $SOCK status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(str(w["pid"]) for p in d["pools"] if p["name"] == sys.argv[1]
               for w in p["workers"] if w["state"] in ("idle", "busy")))
' "$1"
}
# Pool $1 has $2 running workers, none of them pid $3.
replaced() {
	local now
	now=$(pids "$1")
	[ "$(echo $now | wc -w)" = "$2" ] && ! printf ' %s ' "$now" |
	    grep -q " $3 "
}
active() { [ "$(ctr systemctl is-active "$1")" = "$2" ]; }
journal() { ctr journalctl -q -u forkpool.service -o cat "$@"; }
# forkpoold's own lines, without systemd's about the unit.
daemon_log() { journal _COMM=forkpoold "$@"; }

# ---- set-up ----------------------------------------------------------

preflight() {
	[ "$(id -u)" = 0 ] || cannot "it needs root (debootstrap, " \
	    "systemd-nspawn, nsenter); run it as root"
	for cmd in debootstrap systemd-nspawn nsenter timeout setpriv; do
		command -v $cmd >/dev/null ||
		    cannot "$cmd is not installed (FORKPOOL_DEPS_SYSTEM=1" \
		    "tools/deps.sh --install installs it)"
	done
	[ -d /sys/fs/cgroup ] || cannot "no /sys/fs/cgroup for systemd-nspawn"
	ls "$debdir"/forkpool_*.deb >/dev/null 2>&1 ||
	    cannot "no packages in $debdir (make deb)"
}

# A fresh copy of the cached root with the packages installed by apt-get,
# in a container that shares the host's network, not booted.
install_root() {
	local debs
	sh "$here/mkroot.sh" "$base" || cannot "no Debian root (above)"
	rm -rf "$root"
	cp -a --reflink=auto "$base" "$root"
	mkdir -p "$root/var/tmp/debs"
	debs=$(ls "$debdir"/*.deb | grep -v -- -dbgsym_)
	cp $debs "$root/var/tmp/debs/"
	install -m 0755 "$here/load.py" "$root/usr/local/bin/forkpool-load"
	# alice and bob: members of the group forkpool (the socket's).
	if ! timeout 600 systemd-nspawn -q -M forkpool-systest -D "$root" --register=no \
	    --keep-unit --pipe sh -c '
	    export DEBIAN_FRONTEND=noninteractive
	    apt-get install -y -q --no-install-recommends /var/tmp/debs/*.deb &&
	    useradd -m -G forkpool alice && useradd -m -G forkpool bob' \
	    >"$log.install" 2>&1 </dev/null; then
		tail -n 30 "$log.install"
		cannot "apt-get install of the packages failed ($log.install)"
	fi
	# What apt fetched stays in the cache for the next run.
	cp -n "$root"/var/cache/apt/archives/*.deb \
	    "$base/var/cache/apt/archives/" 2>/dev/null
	return 0
}

# The container's PID 1: the child of systemd-nspawn that is PID 1 in its
# own PID namespace.
find_pid1() {
	local p ns
	for p in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
		ns=$(awk '/^NSpid:/ { print $NF }' /proc/"$p"/status 2>/dev/null)
		[ "$ns" = 1 ] && { pid1=$p; return 0; }
	done
	return 1
}

boot() {
	systemd-nspawn -q -M forkpool-systest -D "$root" -b --register=no --keep-unit \
	    --private-network --console=read-only >"$log.console" 2>&1 \
	    </dev/null &
	nspawn_pid=$!
	until_ok 30 find_pid1 || cannot "systemd-nspawn did not start a " \
	    "container ($log.console): $(tail -n 5 "$log.console")"
	if ! until_ok 60 ctr systemctl is-system-running --wait; then
		state=$(ctr systemctl is-system-running)
		[ "$state" = degraded ] ||
		    cannot "the container did not boot ($state)"
		say "# booted degraded: $(ctr systemctl --failed --plain \
		    --no-legend | tr '\n' ' ')"
	fi
}

# Stop the container (its systemd shuts down), then make sure nothing of
# it is left: no process, no mount.
teardown() {
	local deadline
	trap - EXIT INT TERM
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		[ -n "$pid1" ] && ctr systemctl poweroff --no-block >/dev/null 2>&1
		deadline=$((SECONDS + 30))
		while kill -0 "$nspawn_pid" 2>/dev/null &&
		    [ $SECONDS -lt $deadline ]; do
			sleep 0.1
		done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			say "# the container did not power off in 30 s; killing it"
			kill -KILL "$nspawn_pid"
		fi
		wait "$nspawn_pid" 2>/dev/null
	fi
	jobs -p | xargs -r kill 2>/dev/null
	wait 2>/dev/null
	if grep -q " $root[/ ]" /proc/self/mountinfo; then
		say "# unmounting what is left under $root"
		grep " $root[/ ]" /proc/self/mountinfo | awk '{ print $5 }' |
		    sort -r | xargs -r -n 1 umount -l
	fi
}

# ---- checks ------------------------------------------------------------

# The package enabled the socket unit, not the service: nothing runs yet.
check_enabled() {
	local e a s
	e=$(ctr systemctl is-enabled forkpool.socket)
	a=$(ctr systemctl is-active forkpool.socket)
	s=$(ctr systemctl is-active forkpool.service)
	if [ "$e $a $s" = "enabled active inactive" ]; then
		ok "the package enabled forkpool.socket; the service waits"
	else
		notok "socket enabled and listening, service not started" \
		    "forkpool.socket $e, $a; forkpool.service $s"
	fi
}

# The first client's task starts the service through the socket.
check_activation() {
	local out
	out=$(ctr forkpool submit echo 'hello, forkpool' 2>&1)
	if [ "$out" = "hello, forkpool" ] && active forkpool.service active
	then
		ok "the first forkpool submit activated forkpool.service"
	else
		notok "first submit activates the service" "$out" \
		    "$(ctr systemctl status --no-pager forkpool.service)"
	fi
}

# python3-forkpool, installed by apt-get with python3 as its Depends:,
# submits from Python with no socket argument.
check_python() {
	local out
	out=$(ctr python3 -c 'import forkpool
print(forkpool.Client().submit("echo", b"from python").decode())' 2>&1)
	if [ "$out" = "from python" ]; then
		ok "python3-forkpool: forkpool.Client().submit from Python"
	else
		notok "python3-forkpool submits from Python" "$out"
	fi
}

# systemctl status shows the daemon's STATUS= line.
check_status_line() {
	local st
	until_ok 5 test -n "$(ctr systemctl show -P StatusText forkpool)"
	st=$(ctr systemctl status --no-pager forkpool.service)
	if printf '%s\n' "$st" | grep -q 'Status: "serving'; then
		ok "systemctl status shows STATUS=: $(printf '%s\n' "$st" |
		    grep -o 'Status: ".*"')"
	else
		notok "systemctl status shows the STATUS= line" "$st"
	fi
}

# Run forkpool-load inside the container in the background; $1 tasks,
# then its options.  Sets load_pid; the started file says it is going.
load_start() {
	local n=$1
	shift
	ctr rm -f /run/load.started /run/load.out
	ctr sh -c "/usr/local/bin/forkpool-load $SOCK echo $n /run/load.started $* \
	    > /run/load.out 2>&1" &
	load_pid=$!
	until_ok 30 ctr test -e /run/load.started
}

load_wait() {
	wait "$load_pid"
	load_rc=$?
	load_out=$(ctr cat /run/load.out)
}

# A reload under load (a pool's handler settings change, so its workers
# are replaced) loses no task, and systemctl reload says it worked.
check_reload_under_load() {
	local before after rc
	before=$(ctr forkpool status --json | grep -o '"generation": [0-9]*')
	# echo grows by a worker; deflate's handler changes: new workers.
	ctr sed -i -e 's/^workers = 2$/workers = 3/' \
	    -e 's/^module_args = level=6$/module_args = level=5/' \
	    /etc/forkpool/forkpool.ini
	load_start 400000
	ctr systemctl reload forkpool
	rc=$?
	ctr test -e /run/load.out -a ! -s /run/load.out
	running=$?
	load_wait
	after=$(ctr forkpool status --json | grep -o '"generation": [0-9]*')
	if [ $rc = 0 ] && [ $running = 0 ] && [ $load_rc = 0 ] &&
	    [ "$before" != "$after" ]; then
		ok "systemctl reload under load: $load_out"
	else
		notok "reload under load loses nothing" "reload exit $rc," \
		    "load still running at its end: $([ $running = 0 ] &&
		    echo yes || echo no), reload $before -> $after" "$load_out"
	fi
}

refused_logged() { journal | grep -q 'forkpoold (pid.*reload failed.*many'; }

# A file the daemon refuses fails systemctl reload, the reason is in the
# journal, and the daemon keeps serving with the old one.
check_reload_refused() {
	local pid rc out
	pid=$(main_pid)
	ctr cp /etc/forkpool/forkpool.ini /root/forkpool.ini.good
	ctr sh -c 'echo "workers = many" >> /etc/forkpool/forkpool.ini'
	out=$(ctr systemctl reload forkpool 2>&1)
	rc=$?
	until_ok 5 refused_logged
	if [ $rc != 0 ] && refused_logged &&
	    [ "$(main_pid)" = "$pid" ] &&
	    [ "$(ctr forkpool submit echo still 2>&1)" = still ]; then
		ok "a refused file fails systemctl reload (exit $rc): $(journal |
		    grep -o 'forkpoold (pid.*reload failed.*' | tail -n 1)"
	else
		notok "a broken file fails systemctl reload with the reason" \
		    "exit $rc: $out" "$(journal | tail -n 5)"
	fi
	ctr cp /root/forkpool.ini.good /etc/forkpool/forkpool.ini
	ctr systemctl reload forkpool
}

# No systemd variable in what /proc shows of a forked worker.
check_worker_environ() {
	local w env
	w=$(pids echo | cut -d ' ' -f 1)
	env=$(ctr cat /proc/"$w"/environ | tr '\0' '\n')
	if [ -n "$w" ] && [ -n "$env" ] && ! printf '%s\n' "$env" |
	    grep -q -E '^(NOTIFY_SOCKET|WATCHDOG_|LISTEN_)'; then
		ok "worker $w's /proc environ has no NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*"
	else
		notok "a worker's /proc/PID/environ is clean" "worker '$w'" \
		    "$env"
	fi
}

# SIGSTOP of the master: the watchdog kills it, systemd starts it again,
# the next client is served.
check_watchdog() {
	local pid new out
	pid=$(main_pid)
	# sh's own kill: minimal roots have no procps.
	ctr sh -c "kill -STOP $pid"
	if until_ok 60 restarted_from "$pid"; then
		new=$(main_pid)
		out=$(ctr forkpool submit echo after 2>&1)
	fi
	if [ "${out:-}" = after ] &&
	    journal | grep -q -i 'watchdog timeout'; then
		ok "SIGSTOP of the master ($pid): watchdog timeout, restarted" \
		    "as $new, next client served"
	else
		notok "watchdog restart after SIGSTOP" "MainPID $pid -> ${new:-}" \
		    "${out:-}" "$(journal | tail -n 8)"
	fi
}

# Restarts in a row do not hit a start limit, and the socket survives.
check_start_limit() {
	local i pid
	for i in 1 2 3 4 5 6; do
		pid=$(main_pid)
		ctr systemctl kill -s KILL --kill-who=main forkpool
		until_ok 30 restarted_from "$pid" || break
	done
	until_ok 10 active forkpool.service active
	if [ $i = 6 ] && active forkpool.socket active &&
	    active forkpool.service active &&
	    [ "$(ctr forkpool submit echo again 2>&1)" = again ]; then
		ok "6 crashes in a row: restarted each time, socket still" \
		    "active"
	else
		notok "no start limit fails the service or the socket" \
		    "after $i kills" "$(ctr systemctl status --no-pager \
		    forkpool.socket forkpool.service)"
	fi
}

segv_logged() { daemon_log -p warning..warning | grep -q "$1.*SIGSEGV"; }

# A worker killed with SIGSEGV is replaced; the journal has it as a
# warning, and ordinary lines as info.
check_segv() {
	local w new warn info
	w=$(pids echo | cut -d ' ' -f 1)
	ctr sh -c "kill -SEGV $w"
	until_ok 10 replaced echo 3 "$w"
	new=$(pids echo | wc -w)
	until_ok 5 segv_logged "$w"
	warn=$(daemon_log -p warning..warning | grep "$w.*SIGSEGV")
	if [ "$new" = 3 ] && [ -n "$warn" ] &&
	    [ "$(ctr forkpool submit echo segv 2>&1)" = segv ]; then
		ok "worker $w killed by SIGSEGV was replaced; journal" \
		    "warning: $warn"
	else
		notok "a SIGSEGV worker is replaced, logged as a warning" \
		    "workers now: $new" "warning lines: $warn" \
		    "$(journal -o with-unit -p debug | tail -n 6)"
	fi
}

# Journal priorities (forkpoold's own lines, <N> prefixes on stderr): a
# crashed worker and a refused reload are warnings, starts are info, and
# nothing in this run was worth an error.
check_priorities() {
	local w i e
	w=$(daemon_log -p warning..warning | grep -c 'SIGSEGV\|reload failed')
	i=$(daemon_log -p info..info | grep -c 'ready:')
	e=$(daemon_log -p err | wc -l)
	if [ "$w" -ge 2 ] && [ "$i" -gt 0 ] && [ "$e" = 0 ] &&
	    ! daemon_log -p info..info | grep -q 'SIGSEGV'; then
		ok "journal priorities: $w warnings (SIGSEGV, refused reload)," \
		    "$i ready lines at info, no error"
	else
		notok "journal priorities" "warnings $w, info ready $i," \
		    "errors $e:" "$(daemon_log -p err)"
	fi
}

# systemctl stop under load: every task the daemon read is answered.
check_stop_under_load() {
	local rc
	load_start 2000000 --stop
	# (systemctl warns that the socket can start it again: it can.)
	ctr systemctl stop forkpool.service 2>/dev/null
	rc=$?
	load_wait
	if [ $rc = 0 ] && [ $load_rc = 0 ] &&
	    active forkpool.service inactive; then
		ok "systemctl stop under load: $load_out"
	else
		notok "stop under load answers every task" "stop exit $rc," \
		    "service $(ctr systemctl is-active forkpool)" "$load_out"
	fi
}

# A pool with user = nobody works with the documented drop-in.
check_pool_user() {
	local t w uid
	t=$(ctr sh -c 'printf "\n[pool:asnobody]\nhandler = echo\nworkers = 1\n\
user = nobody\n" >> /etc/forkpool/forkpool.ini; forkpoold -t \
	    -c /etc/forkpool/forkpool.ini' 2>&1)
	ctr mkdir -p /etc/systemd/system/forkpool.service.d
	ctr cp /usr/share/doc/forkpool/examples/forkpool-pool-users.conf \
	    /etc/systemd/system/forkpool.service.d/
	ctr systemctl daemon-reload
	ctr systemctl restart forkpool
	out=$(ctr forkpool submit asnobody 'as nobody' 2>&1)
	w=$(pids asnobody)
	uid=$(ctr awk '/^Uid:/ { print $2 }' /proc/"$w"/status)
	if [ "$out" = "as nobody" ] && [ "$uid" = 65534 ] &&
	    printf '%s\n' "$t" | grep -q 'warning: pool asnobody'; then
		ok "user = nobody with forkpool-pool-users.conf: worker $w" \
		    "runs as uid $uid; forkpoold -t warned"
	else
		notok "a pool with user = nobody and the drop-in" "$out" \
		    "worker '$w' uid '$uid'" "forkpoold -t: $t" \
		    "$(journal | tail -n 5)"
	fi
	ctr rm -r /etc/systemd/system/forkpool.service.d
	ctr cp /root/forkpool.ini.good /etc/forkpool/forkpool.ini
	ctr systemctl daemon-reload
	ctr systemctl restart forkpool
}

# allow_users = alice admits alice and refuses bob, both in group forkpool;
# systemctl reload (forkpool reload, as the daemon's user) still works.
check_allow_users() {
	local a b rc
	ctr sed -i 's/^\[daemon\]$/[daemon]\nallow_users = alice/' \
	    /etc/forkpool/forkpool.ini
	ctr systemctl reload forkpool
	rc=$?
	a=$(as alice forkpool -s $SOCK ping 2>&1)
	b=$(as bob forkpool -s $SOCK ping 2>&1)
	if [ $rc = 0 ] && printf '%s' "$a" | grep -q '^pong' &&
	    printf '%s' "$b" | grep -q FORBIDDEN; then
		ok "allow_users = alice: alice ${a%% in *}; bob refused;" \
		    "systemctl reload still allowed"
	else
		notok "allow_users admits the user it names" "reload exit $rc" \
		    "alice: $a" "bob: $b"
	fi
	ctr cp /root/forkpool.ini.good /etc/forkpool/forkpool.ini
	ctr systemctl reload forkpool
}

# A member of group forkpool, no option, no variable: the system socket.
check_group_member() {
	local out
	out=$(as bob forkpool ping 2>&1)
	if printf '%s' "$out" | grep -q "^pong from $SOCK"; then
		ok "bob (group forkpool) ran forkpool ping with no flags: $out"
	else
		notok "a member of group forkpool pings with no flags" "$out"
	fi
}

# An upgrade (the same package again) restarts the running daemon on the
# new binary; the socket keeps serving.
check_upgrade() {
	local pid out
	ctr forkpool submit echo up >/dev/null 2>&1
	pid=$(main_pid)
	out=$(ctr sh -c 'dpkg -i /var/tmp/debs/forkpool_*.deb' 2>&1)
	if [ $? = 0 ] && restarted_from "$pid" && active forkpool.socket active &&
	    [ "$(ctr forkpool submit echo upgraded 2>&1)" = upgraded ]; then
		ok "dpkg -i over the installed package: daemon restarted" \
		    "($pid -> $(main_pid)), socket kept serving"
	else
		notok "an upgrade restarts the daemon" "$out" "MainPID $pid ->" \
		    "$(main_pid)"
	fi
}

# Purging the package stops the service and the socket and takes away
# what it installed: units enabled, configuration.
check_purge() {
	local out
	out=$(ctr apt-get purge -y -q forkpool 2>&1)
	if [ $? = 0 ] && active forkpool.service inactive &&
	    active forkpool.socket inactive &&
	    ctr test ! -e /etc/systemd/system/sockets.target.wants/forkpool.socket \
	    -a ! -e /etc/forkpool/forkpool.ini -a ! -e /usr/sbin/forkpoold; then
		ok "apt-get purge forkpool: service and socket stopped, units" \
		    "disabled, configuration gone"
	else
		notok "purge stops and removes everything" "$out" \
		    "$(ctr systemctl status --no-pager forkpool.socket \
		    forkpool.service)"
	fi
}

# ---- main ----------------------------------------------------------------

preflight
mkdir -p "$work"
trap teardown EXIT
trap 'exit 1' INT TERM
start=$SECONDS
install_root
say "# packages installed with apt-get: $(grep -c '^Setting up' \
    "$log.install") set up ($((SECONDS - start)) s)"
boot
say "# booted in $((SECONDS - start)) s: $(ctr systemctl --version | head -n 1)"
check_enabled
check_activation
check_python
check_status_line
check_reload_under_load
check_reload_refused
check_worker_environ
check_watchdog
check_start_limit
check_segv
check_priorities
check_stop_under_load
check_pool_user
check_allow_users
check_group_member
check_upgrade
check_purge
teardown
say "# $((SECONDS - start)) s in all"
say "$passed passed, $failed failed"
[ $failed = 0 ]
