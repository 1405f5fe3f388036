#!/bin/sh
# Install the forkpool package where a Python finds it.
#
#   lib/python/install.sh [DESTDIR]
#
# PYTHON chooses the interpreter (default python3); PYTHONDIR overrides the
# directory (default: that Python's purelib, e.g. on Debian
# /usr/local/lib/python3.11/dist-packages).  DESTDIR is prepended, for
# staged installs.
set -e
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
dir=${PYTHONDIR:-$("$python" -c \
    'import sysconfig; print(sysconfig.get_path("purelib"))')}
dest="${1:-}$dir/forkpool"
install -d "$dest" "$dest/worker"
install -m 644 "$here"/forkpool/*.py "$here"/forkpool/py.typed "$dest/"
install -m 644 "$here"/forkpool/worker/*.py "$dest/worker/"
echo "$dest"
