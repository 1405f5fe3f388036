#!/bin/sh
# Make (once) the cached Debian 12 root the system test boots: debootstrap
# --variant=minbase with systemd as init, and apt's package lists, from the
# mirror this machine's own apt uses (read at run time, never written down
# here).  Usage: mkroot.sh DIR.  DIR/.complete marks a finished root; a
# half-made one is made again.
set -eu

dir=$1
[ -e "$dir/.complete" ] && exit 0

# The first Debian mirror in /etc/apt/sources.list or sources.list.d,
# one-line ("deb URL SUITE ...") or deb822 ("URIs: URL") form, skipping
# the security archive.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^[ \t]*#/ { next }
	/^deb[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//)
	    { print $i; break } }
	/^URIs:/ { print $2 }' |
    grep -E '/debian/?$' | head -n 1)
if [ -z "$mirror" ]; then
	echo "mkroot: no Debian mirror in /etc/apt/sources.list*" >&2
	exit 1
fi

rm -rf "$dir"
mkdir -p "$dir"
echo "mkroot: debootstrap bookworm (minbase, systemd) into $dir" >&2
debootstrap --variant=minbase --include=systemd,systemd-sysv \
    bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
	tail -n 20 "$dir.log" >&2
	echo "mkroot: debootstrap failed (log: $dir.log)" >&2
	exit 1
}
# apt inside the root reads the same mirror; its lists let apt-get install
# the packages and resolve their Depends: without asking the network again
# for what is already cached.
echo "deb $mirror bookworm main" > "$dir/etc/apt/sources.list"
chroot "$dir" apt-get update -qq >>"$dir.log" 2>&1 || {
	tail -n 20 "$dir.log" >&2
	echo "mkroot: apt-get update in the root failed" >&2
	exit 1
}
# No tty in the container: no getty wanted at boot.
rm -f "$dir/etc/systemd/system/getty.target.wants/"*
touch "$dir/.complete"
