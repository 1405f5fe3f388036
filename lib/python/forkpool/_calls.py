"""What an Executor's initializer and max_tasks_per_child do in a worker.

An Executor with neither sends plain ``(fn, args, kwargs)`` calls.  With
one of them, each call is wrapped as ``(run, (token, initializer, initargs,
max_tasks, fn, args, kwargs), {})``: run() lives here, is pickled by
reference like any function, and keeps per-worker state keyed by the
executor's token, so the generic worker needs no protocol of its own for
it and other clients of the pool are not affected.

* The initializer runs before the first call of that executor that lands
  on this worker, once.  If it raises, that call and every later call of
  the executor on this worker fail with InitializerFailed, carrying the
  initializer's traceback; the caller turns it into BrokenInitializer.
* After max_tasks calls of that executor, the worker asks its loop
  (forkpool.worker.run) to retire: it exits with status 0 once it has no
  task left, and the daemon starts another in its place.
"""

import sys
import traceback

_state = {}             # token -> [calls run, None or the failure text]
retire = False          # read by the worker loop after each reply


class InitializerFailed(Exception):
    """The executor's initializer raised here; args[0] is its traceback."""


def run(token, initializer, initargs, max_tasks, fn, args, kwargs):
    """Run the initializer if this worker has not, then fn; count calls."""
    global retire
    state = _state.get(token)
    if state is None:
        state = _state[token] = [0, None]
        if initializer is not None:
            try:
                initializer(*initargs)
            except BaseException as exc:
                state[1] = "".join(traceback.format_exception(
                    type(exc), exc, exc.__traceback__))
    if state[1] is not None:
        raise InitializerFailed(state[1])
    state[0] += 1
    if max_tasks is not None and state[0] >= max_tasks:
        # Start afresh for this executor in whichever worker comes next.
        del _state[token]
        retire = True
    return fn(*args, **kwargs)


def python_version():
    """This worker's Python version, for the Executor's one check."""
    return tuple(sys.version_info[:3])
