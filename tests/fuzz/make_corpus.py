#!/usr/bin/env python3
"""Write the seed corpora of the fuzzers into tests/fuzz/corpus/.

Run from anywhere; it rewrites the seeds it knows and leaves other files
alone.  The seeds are small on purpose: libFuzzer mutates from them.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))


def frame(ftype, arg=0, fid=0, body=b"", version=1, length=None):
    """A frame as PROTOCOL.md lays it out: 16 little-endian header bytes."""
    if length is None:
        length = len(body)
    return struct.pack("<IBBHQ", length, version, ftype, arg, fid) + body


def frame_seed(stream, max_body=0, chunks=b""):
    """fuzz_frame's input: max_body choice, chunk sizes, then the stream."""
    return bytes([max_body, len(chunks)]) + chunks + stream


def write(name, files):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for fname, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)


def frames():
    submit = frame(0x01, 4, 7, b"echohello")
    # The exchange PROTOCOL.md gives, in both directions.
    doc_req = bytes.fromhex("09000000 01 01 0400 0700000000000000"
                            "6563686f 68656c6c6f".replace(" ", ""))
    doc_rep = bytes.fromhex("05000000 01 81 0000 0700000000000000"
                            "68656c6c6f".replace(" ", ""))
    assert doc_req == submit
    every = [
        ("submit", submit),
        ("submit_empty_payload", frame(0x01, 4, 1, b"echo")),
        ("submit_bad_name", frame(0x01, 5, 2, b"ec ho!x")),
        ("submit_arg_past_len", frame(0x01, 200, 3, b"echo")),
        ("submit_name_64", frame(0x01, 64, 4, b"p" * 64 + b"data")),
        ("submit_name_65", frame(0x01, 65, 5, b"p" * 65)),
        ("ping", frame(0x02, 0, 8)),
        ("status", frame(0x03, 0, 9)),
        ("metrics", frame(0x04, 0, 10)),
        ("cancel", frame(0x05, 0, 7)),
        ("result_ok", frame(0x81, 0, 7, b"hello")),
        ("result_failed", frame(0x81, 3, 7, b"it failed")),
        ("pong", frame(0x83, 0, 0)),
        ("status_reply", frame(0x84, 0, 9, b'{"version":"0.1.0",'
                                          b'"pools":[]}')),
        ("metrics_reply", frame(0x85, 0, 10, b"forkpool_clients 1\n")),
        ("unknown_type", frame(0x42, 0, 11, b"?")),
        ("max_id", frame(0x02, 0, 2**64 - 1)),
    ]
    for code in range(0, 14):
        every.append(("error_%d" % code,
                      frame(0x82, code, 7, b"some text for a person")))
    files = {}
    for name, data in every:
        files[name] = frame_seed(data)
    files["protocol_md_request"] = frame_seed(doc_req)
    files["protocol_md_reply"] = frame_seed(doc_rep)
    files["protocol_md_request_bytewise"] = frame_seed(doc_req, 0, b"\x01")
    files["protocol_md_request_split_3_5"] = frame_seed(doc_req, 0,
                                                        b"\x03\x05")
    pipelined = b"".join(d for _, d in every)
    files["pipelined_all"] = frame_seed(pipelined)
    files["pipelined_chunks_7_0_13"] = frame_seed(pipelined, 0,
                                                  b"\x07\x00\x0d")
    files["pipelined_max_body_64"] = frame_seed(pipelined, 2, b"\x10")
    files["pipelined_max_body_0"] = frame_seed(pipelined, 1)
    # Truncated: mid-header, after the header, mid-body.
    files["truncated_header"] = frame_seed(submit[:9])
    files["truncated_after_header"] = frame_seed(submit[:16])
    files["truncated_body"] = frame_seed(submit[:20])
    files["truncated_second"] = frame_seed(submit + submit[:11], 0, b"\x05")
    # Broken streams: bad version (with a len that must not be trusted),
    # over max_body, and a good frame before each.
    files["bad_version"] = frame_seed(frame(0x02, 0, 1, version=2,
                                            length=0xffffffff))
    files["bad_version_after_good"] = frame_seed(
        submit + frame(0x02, 0, 1, version=0))
    files["too_large"] = frame_seed(frame(0x01, 4, 1, b"echo",
                                          length=0x7fffffff))
    files["too_large_4096"] = frame_seed(frame(0x01, 4, 1, b"echo",
                                               length=4097), 3)
    files["empty"] = b"\x00\x00"
    write("frame", files)


def configs():
    with open(os.path.join(ROOT, "conf", "forkpool.ini"), "rb") as f:
        sample = f.read()
    minimal = "[pool:echo]\nhandler = echo\n"
    files = {
        "forkpool_ini": sample,
        "minimal": minimal,
        "minimal_no_newline": minimal.rstrip("\n"),
        "daemon_every_key": (
            "[daemon]\nsocket = /tmp/x.sock\nsocket_mode = 0600\n"
            "max_clients = 10\nmax_inflight = 5\nmax_payload = 1M\n"
            "client_timeout = 500ms\nshutdown_timeout = 0\n"
            "log_level = debug\nsocket_group = root\n"
            "allow_users = root, 0\nallow_groups = root 0\n"
            "max_client_buffer = 64M\n" + minimal),
        "pool_every_key": (
            "[pool:m]\nmodule = /x/y.so\nmodule_args = level=1\n"
            "workers = auto\nqueue_limit = 3\ntask_timeout = 300ms\n"
            "max_tasks = 100\nmax_rss = 64M\nprefetch = 4\n"
            "restart_burst = 0\nrestart_window = 1m\nretries = 2\n"
            "slow_task = 2s\nquarantine_after = 0\n"
            "quarantine_window = 10m\nuser = root\ngroup = 0\n"
            "rlimit_as = 1G\nrlimit_cpu = 10s\nrlimit_nofile = 64\n"
            "rlimit_core = 0\nsandbox = seccomp\n"),
        "program_pool": (
            "[pool:prog]\ncommand = /usr/bin/python3 -u 'w.py' "
            "\"a b\" c\\ d\ncommand_dir = /tmp\n"
            "command_env = A=1 'B=two words'\nstart_timeout = 5s\n"),
        "comments_bom_colon": (
            "\ufeff; comment\n# another\n  [ pool:a ]  ; trailing\n"
            "handler: echo ; inline\n\n\t workers = 2\n"),
        "crlf": "[pool:a]\r\nhandler = echo\r\nworkers = 1\r\n",
        # One seed per kind of mistake.
        "err_no_pool": "[daemon]\nmax_clients = 5\n",
        "err_empty": "",
        "err_unknown_section": "[pools:a]\nhandler = echo\n",
        "err_section_unclosed": "[pool:a\nhandler = echo\n",
        "err_after_section": "[pool:a] x\nhandler = echo\n",
        "err_bad_pool_name": "[pool:a b]\nhandler = echo\n",
        "err_pool_twice": minimal + minimal,
        "err_daemon_twice": "[daemon]\n[daemon]\n" + minimal,
        "err_outside_section": "workers = 2\n" + minimal,
        "err_not_key_value": minimal + "workers\n",
        "err_no_key_name": minimal + "= 2\n",
        "err_unknown_key": minimal + "worker = 2\n",
        "err_key_twice": minimal + "workers = 1\nworkers = 2\n",
        "err_no_value": minimal + "workers =\n",
        "err_not_number": minimal + "queue_limit = 12x\n",
        "err_out_of_range": minimal + "workers = 5000\n",
        "err_overflow": minimal + "max_tasks = 18446744073709551616\n",
        "err_bad_duration": minimal + "task_timeout = 5h\n",
        "err_bad_size": minimal + "max_rss = 1T\n",
        "err_bad_mode": "[daemon]\nsocket_mode = 0999\n" + minimal,
        "err_mode_range": "[daemon]\nsocket_mode = 01777\n" + minimal,
        "err_bad_level": "[daemon]\nlog_level = loud\n" + minimal,
        "err_socket_long": "[daemon]\nsocket = /" + "s" * 120 + "\n"
                           + minimal,
        "err_bad_handler": "[pool:a]\nhandler = cat\n",
        "err_two_kinds": minimal + "module = x.so\n",
        "err_no_handler": "[pool:a]\nworkers = 1\n",
        "err_args_no_module": minimal + "module_args = x\n",
        "err_unclosed_quote": "[pool:a]\ncommand = prog 'x\n",
        "err_env_not_pair": "[pool:a]\ncommand = prog\ncommand_env = X\n",
        "err_dir_no_command": minimal + "command_dir = /tmp\n",
        "err_seccomp_command": "[pool:a]\ncommand = prog\n"
                               "sandbox = seccomp\n",
        "err_bad_sandbox": minimal + "sandbox = jail\n",
        "err_no_user": minimal + "user = nosuchuserhere\n",
        "err_no_group": minimal + "group = nosuchgrouphere\n",
        "err_allow_too_many": "[daemon]\nallow_users = " + " ".join(
            ["0"] * 65) + "\n" + minimal,
        "err_long_line": minimal + "module_args = " + "a" * 300 + "\n",
        "err_nul_byte": minimal + "work\0ers = 2\n",
        "err_rlimit_cpu_small": minimal + "rlimit_cpu = 500ms\n",
    }
    write("config", files)


def units():
    words = ["0", "1", "30", "500ms", "30s", "5m", "0ms", "1000ms",
             "604800000ms", "604800000001ms", "604800s", "10080m", "10081m",
             "18446744073709551615ms", "18446744073709551616ms",
             "18446744073709551615", "18446744073709551", "307445734561825m",
             "307445734561826m", "4096", "64K", "64k", "16M", "16m", "1G",
             "1g", "1048576G", "17179869183G", "17179869184G", "1T", "ms",
             "s", "", "-1", "+1", " 1", "1 ", "1s ", "1ms\n", "0x10",
             "1.5s", "1e3", "00000000000000000000000000001ms", "1Ms",
             "1sm", "1kb", "1KiB"]
    files = {}
    for i, w in enumerate(words):
        name = "%02d_%s" % (i, "".join(c if c.isalnum() else "_"
                                       for c in w) or "empty")
        files[name] = w
    write("units", files)


if __name__ == "__main__":
    frames()
    configs()
    units()
