#!/usr/bin/env python3
"""A forkpool program worker for the tests: it uppercases its payload.

It speaks the frames of spec/PROTOCOL.md ("Program workers") on the
descriptor FORKPOOL_FD names, with nothing but the standard library.  A
payload starting with "!" is a command, so the tests can make it misbehave
or report on itself:

    !info         a JSON object: cwd, pid, process group, the environment
                  variables the tests look at, what descriptor 0 is, and
                  which descriptors are open
    !print:TEXT   print TEXT on standard output, then answer "printed"
    !garbage      write bytes that are no frame on the channel
    !sleep:MS     sleep MS milliseconds, then answer "slept"
    !spawn:PATH   start "sleep 100", write its pid to PATH, then hang
    !pid          answer the worker's pid
    !wrongid      answer with an id that is not the task's
    !pong         answer with a PONG instead of a RESULT
    !big:N        answer N bytes of "x"
    !flood:N:MS   print N lines on standard output, and when MS is not 0,
                  "flood over" MS milliseconds later; answer "flooded"
    !long:N       print one line of N "y"s, in pieces of 1000 bytes written
                  20 ms apart, then answer "printed"
    !retire       answer "retiring", then exit with status 0, as a worker
                  that has served its quota retires itself

Anything else is answered with the payload in upper case.
"""

import json
import os
import struct
import subprocess
import sys
import time

HEADER = struct.Struct("<IBBHQ")    # len, version, type, arg, id
VERSION = 1
SUBMIT = 0x01
RESULT = 0x81
PONG = 0x83


def send(fd, ftype, arg, fid, body=b""):
    """Write one whole frame."""
    data = memoryview(HEADER.pack(len(body), VERSION, ftype, arg, fid) + body)
    while data:
        data = data[os.write(fd, data):]


def frames(fd):
    """Yield (type, arg, id, body) for each frame read from fd, to EOF."""
    buf = bytearray()
    while True:
        while len(buf) >= HEADER.size:
            length, _, ftype, arg, fid = HEADER.unpack_from(buf)
            if len(buf) < HEADER.size + length:
                break
            body = bytes(buf[HEADER.size:HEADER.size + length])
            del buf[:HEADER.size + length]
            yield ftype, arg, fid, body
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buf += chunk


def info():
    """What the tests check about a program worker's surroundings."""
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass            # the descriptor listdir itself used
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("FORKPOOL_", "FP_TEST_", "NOTIFY_", "LISTEN_",
                            "WATCHDOG_"))}
    return json.dumps({"cwd": os.getcwd(), "pid": os.getpid(),
                       "pgid": os.getpgid(0), "env": env,
                       "stdin": os.readlink("/proc/self/fd/0"),
                       "fds": fds}).encode()


def handle(fd, fid, payload):
    """Run one task; its output, or None when it answered itself."""
    if payload == b"!info":
        return info()
    if payload.startswith(b"!print:"):
        print(payload[7:].decode(), flush=True)
        return b"printed"
    if payload == b"!garbage":
        os.write(fd, b"this is not a frame, it is garbage\n" * 4)
        time.sleep(60)      # the daemon kills us first
        return b"the daemon let garbage pass"
    if payload.startswith(b"!sleep:"):
        time.sleep(int(payload[7:]) / 1000)
        return b"slept"
    if payload.startswith(b"!spawn:"):
        child = subprocess.Popen(["sleep", "100"])
        path = payload[7:].decode()
        with open(path + ".tmp", "w") as f:
            f.write(str(child.pid))
        os.rename(path + ".tmp", path)
        time.sleep(600)     # until task_timeout
        return b"no task_timeout"
    if payload == b"!pid":
        return str(os.getpid()).encode()
    if payload == b"!wrongid":
        send(fd, RESULT, 0, fid + 1, b"for some other task")
        return None
    if payload == b"!pong":
        send(fd, PONG, 0, fid)
        return None
    if payload.startswith(b"!big:"):
        return b"x" * int(payload[5:])
    if payload.startswith(b"!flood:"):
        lines, ms = (int(x) for x in payload[7:].split(b":"))
        for i in range(lines):
            print("flood line %d" % i)
        sys.stdout.flush()
        if ms > 0:
            time.sleep(ms / 1000)
            print("flood over", flush=True)
        return b"flooded"
    if payload == b"!retire":
        return b"retiring"
    if payload.startswith(b"!long:"):
        left = int(payload[6:])
        while left > 0:
            sys.stdout.write("y" * min(left, 1000))
            sys.stdout.flush()
            left -= min(left, 1000)
            time.sleep(0.02)
        print(flush=True)
        return b"printed"
    return payload.upper()


def main():
    fd = int(os.environ["FORKPOOL_FD"])
    send(fd, PONG, 0, 0)
    for ftype, arg, fid, body in frames(fd):
        if ftype != SUBMIT:
            sys.exit("upper.py: unexpected frame type 0x%02x" % ftype)
        out = handle(fd, fid, body[arg:])
        if out is not None:
            send(fd, RESULT, 0, fid, out)
        if body[arg:] == b"!retire":
            sys.exit(0)


if __name__ == "__main__":
    main()
