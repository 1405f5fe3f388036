#!/usr/bin/python3
"""Load for the system test: one connection, N echo tasks pipelined WINDOW
at a time, every reply matched to its task by id.

    load.py SOCKET POOL N STARTED_FILE [--stop]

Creates STARTED_FILE once a first reply is in, so the caller can act under
load.  Ends when every task sent has its reply or the daemon closed the
connection, and prints one line: sent, answered, ok, and errors by code.
Exits 0 when every task sent was answered with a RESULT holding its own
payload; 1 otherwise.

With --stop (the daemon is stopped under this load) it stops sending at the
first SHUTTING_DOWN, as a client should, and ERROR SHUTTING_DOWN is a fine
answer.  Tasks the daemon never read (still in the socket when it exited)
cannot be answered; since a connection's frames are read in order, they
must all come after the last task answered: a task answered out of that
order, or one lost in the middle, fails the run.
Standard library only: the root it runs in has nothing else.
"""
import socket
import struct
import sys

HDR = struct.Struct("<IBBHQ")
SUBMIT, RESULT, ERROR = 0x01, 0x81, 0x82
SHUTTING_DOWN = 8
WINDOW = 64


def main():
    path, pool, n, started = sys.argv[1], sys.argv[2].encode(), \
        int(sys.argv[3]), sys.argv[4]
    stop = sys.argv[5:] == ["--stop"]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(60)    # a daemon silent this long lost tasks
    sent = answered = ok = 0
    wrong = []
    errors = {}
    pending = {}
    last = 0
    buf = b""
    closed = False
    while not closed and (sent < n or pending):
        out = b""
        while sent < n and len(pending) < WINDOW and not errors:
            sent += 1
            body = pool + str(sent).encode()
            pending[sent] = str(sent).encode()
            out += HDR.pack(len(body), 1, SUBMIT, len(pool), sent) + body
        if out:
            try:
                s.sendall(out)
            except OSError:
                closed = True
        try:
            data = s.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            closed = True
        buf += data
        while len(buf) >= HDR.size:
            ln, _, typ, arg, tid = HDR.unpack_from(buf)
            if len(buf) < HDR.size + ln:
                break
            body = buf[HDR.size:HDR.size + ln]
            buf = buf[HDR.size + ln:]
            want = pending.pop(tid, None)
            if want is None:
                wrong.append("reply for unknown id %d" % tid)
                continue
            answered += 1
            last = max(last, tid)
            if answered == 1:
                open(started, "w").close()
            if typ == RESULT and arg == 0 and body == want:
                ok += 1
            elif typ == ERROR:
                errors[arg] = errors.get(arg, 0) + 1
            else:
                wrong.append("task %d: type 0x%02x arg %d: %r" %
                             (tid, typ, arg, body[:60]))
    lost = sorted(pending)
    if stop:
        good = (not wrong and set(errors) <= {SHUTTING_DOWN} and
                all(t > last for t in lost))
    else:
        good = answered == sent and not wrong and not errors
    print("sent %d, answered %d, ok %d, errors %s, unanswered %d "
          "(the last sent)%s" % (sent, answered, ok, errors or "none",
                                 len(lost),
           "; " + "; ".join(wrong[:3]) if wrong else ""))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
