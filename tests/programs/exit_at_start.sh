#!/bin/sh
# A forkpool program worker that dies while starting, as a program with a
# missing data file would: the daemon must quote its last words.
echo "exit_at_start: reading the configuration" >&2
msg="cannot open /nonexistent/model.bin: No such file or directory"
echo "exit_at_start: $msg" >&2
exit 3
