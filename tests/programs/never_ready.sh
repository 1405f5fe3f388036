#!/bin/sh
# A forkpool program worker that starts but never says it is ready (it
# never sends PONG on descriptor 3): the daemon must give up on it after
# start_timeout.
echo "never_ready: loading, this will take forever" >&2
exec sleep 600
