"""The Celery side of make bench-redis: the same two tasks as the
forkpool side (echo, and zlib level 6 of 64 KiB), with late acks.

The broker and result backend are the benchmark's redis-server, named by
BENCH_REDIS_SOCKET."""

import os
import zlib

from celery import Celery

_sock = os.environ["BENCH_REDIS_SOCKET"]
app = Celery("celery_tasks", broker="redis+socket://" + _sock,
             backend="redis+socket://" + _sock)
app.conf.update(task_acks_late=True, worker_prefetch_multiplier=4,
                task_serializer="pickle", result_serializer="pickle",
                accept_content=["pickle"], broker_connection_retry=True,
                worker_hijack_root_logger=False)


@app.task
def echo(data):
    return data


@app.task
def deflate(data):
    return zlib.compress(data, 6)
