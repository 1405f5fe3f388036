#!/bin/sh
# Run the Python package's tests.
#
#   lib/python/run_tests.sh [unittest options, e.g. -v or -k executor]
#
# PYTHON chooses the interpreter (default python3); FORKPOOLD or
# FORKPOOL_BUILD say which daemon to test (default: build/forkpoold).
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec "${PYTHON:-python3}" -m unittest discover -s "$here/tests" \
    -t "$here/tests" "$@"
