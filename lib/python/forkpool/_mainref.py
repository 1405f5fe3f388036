"""Functions and classes of the caller's __main__, sent by reference.

pickle names a function by module and qualified name.  A function defined
in the script the user runs lives in ``__main__``, which in a worker is the
worker itself, so plain pickle cannot send it.  ProcessPoolExecutor with the
"spawn" start method solves this by re-running the script in each worker
under another name; this module does the same on demand:

* in the caller, a function or class of ``__main__`` is pickled as a call
  to resolve() with where the script is: its module name when it was run
  with ``python -m``, else its file's path;
* in the worker, resolve() imports that module, or runs that file once as
  a module named ``__fp_main_<hash>__`` (so its ``if __name__ ==
  "__main__":`` block does not run), and looks the name up there;
* values the worker sends back that are defined in such a script go back
  the same way, and resolve() in the caller finds them in its own
  ``__main__``.

A script without the ``if __name__ == "__main__":`` guard would start its
own work again inside the worker; check_not_loading() makes the Executor
and the Client refuse to be created there, as multiprocessing does.
"""

import hashlib
import importlib
import io
import os
import pickle
import sys
import threading
import types

PROTOCOL = 5
_SCRIPT_PREFIX = "__fp_main_"
_SCRIPT_MARK = _SCRIPT_PREFIX.encode("ascii")

_lock = threading.RLock()
_scripts = {}           # path -> (stat key, module)
_script_names = {}      # module name -> path
_loading = 0


def check_not_loading(what):
    """Refuse to start a client while a worker is running a user's script."""
    if _loading:
        raise RuntimeError(
            "%s was created while a forkpool worker was importing the "
            "caller's script; protect the script's entry point with "
            "'if __name__ == \"__main__\":'" % what)


_cached_ref = (None, None)      # (the __main__ module, its reference)


def _main_ref():
    """('module', name) or ('path', file) for this process's __main__.

    Asked for every value a worker sends back: computed once per __main__
    (realpath() alone costs three system calls).
    """
    global _cached_ref
    main = sys.modules.get("__main__")
    if main is None:
        return None
    if _cached_ref[0] is main:
        return _cached_ref[1]
    ref = _compute_main_ref(main)
    _cached_ref = (main, ref)
    return ref


def _compute_main_ref(main):
    """Where main can be found again: its module name, else its file."""
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        return ("module", spec.name)
    path = getattr(main, "__file__", None)
    if path:
        return ("path", os.path.realpath(path))
    return None


def _lookup(obj, qualname):
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _load_script(path):
    """The user's script at path, run once as a module of its own."""
    global _loading
    st = os.stat(path)
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _lock:
        known = _scripts.get(path)
        if known is not None and known[0] == key:
            return known[1]
        name = _SCRIPT_PREFIX + \
            hashlib.sha1(os.fsencode(path)).hexdigest()[:16] + "__"
        with open(path, "rb") as f:
            source = f.read()
        code = compile(source, path, "exec")
        module = types.ModuleType(name)
        module.__file__ = path
        directory = os.path.dirname(path)
        if directory not in sys.path:
            # What running the script would have put first on the path.
            sys.path.insert(0, directory)
        old = sys.modules.get(name)
        sys.modules[name] = module
        _loading += 1
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            if old is None:
                del sys.modules[name]
            else:
                sys.modules[name] = old
            raise RuntimeError(
                "the worker could not load the caller's script %s: %s: %s "
                "(is the script's entry point protected by 'if __name__ == "
                "\"__main__\":'?)" % (path, type(exc).__name__, exc)) \
                from exc
        except BaseException:
            if old is None:
                del sys.modules[name]
            else:
                sys.modules[name] = old
            raise
        finally:
            _loading -= 1
        _scripts[path] = (key, module)
        _script_names[name] = path
        return module


def _import_main_module(name):
    """The caller's ``python -m`` module, imported here under its name."""
    global _loading
    module = sys.modules.get(name)
    if module is not None:
        return module
    with _lock:
        _loading += 1
        try:
            return importlib.import_module(name)
        finally:
            _loading -= 1


def resolve(kind, where, qualname):
    """The object a __main__ reference names, in this process."""
    main = sys.modules.get("__main__")
    if main is not None and _main_ref() == (kind, where):
        return _lookup(main, qualname)
    if kind == "module":
        return _lookup(_import_main_module(where), qualname)
    if kind == "path":
        return _lookup(_load_script(where), qualname)
    raise ValueError("unknown kind of reference %r" % (kind,))


class _CallerPickler(pickle.Pickler):
    """Pickles this process's __main__ functions and classes by reference."""

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)) and \
                getattr(obj, "__module__", None) == "__main__":
            qualname = getattr(obj, "__qualname__", "")
            ref = _main_ref()
            if ref is not None and "<locals>" not in qualname and \
                    "<lambda>" not in qualname:
                return (resolve, ref + (qualname,))
        return NotImplemented


class _WorkerPickler(pickle.Pickler):
    """Pickles objects of the scripts loaded here as references to them."""

    def reducer_override(self, obj):
        if isinstance(obj, (types.FunctionType, type)):
            path = _script_names.get(getattr(obj, "__module__", None))
            qualname = getattr(obj, "__qualname__", "")
            if path is not None and "<locals>" not in qualname:
                return (resolve, ("path", path, qualname))
        return NotImplemented


def _dumps_with(cls, obj):
    buf = io.BytesIO()
    cls(buf, PROTOCOL).dump(obj)
    return buf.getvalue()


def _unsendable():
    """(classes, why) of the objects that cannot cross to a worker."""
    import multiprocessing.connection as mpc
    import multiprocessing.managers as mpm
    import multiprocessing.queues as mpq
    import multiprocessing.synchronize as mps
    return (
        ((mpm.BaseProxy,), "a multiprocessing.Manager proxy reaches its "
         "manager with an authentication key that only processes started "
         "by multiprocessing hold, so in a forkpool worker it fails with "
         "AuthenticationError; pass the values themselves (a copy) and "
         "return results instead of writing to shared objects"),
        ((mpq.Queue, mpq.SimpleQueue), "a multiprocessing queue is a pipe "
         "that only processes started by multiprocessing share; return "
         "results from the call instead"),
        ((mps.SemLock, mps.Condition, mps.Event, mps.Barrier),
         "a multiprocessing lock lives in memory that only processes "
         "started by multiprocessing share; forkpool workers are the "
         "daemon's processes"),
        ((mpc.Connection,), "a multiprocessing connection is a descriptor "
         "of this process"),
        ((type(threading.Lock()), type(threading.RLock())), "a lock of "
         "this process means nothing in another one"),
    )


class _CheckingPickler(_CallerPickler):
    """_CallerPickler that names the objects that cannot cross, and why."""

    def reducer_override(self, obj):
        for classes, why in _unsendable():
            if isinstance(obj, classes):
                text = repr(obj)
                if len(text) > 120:
                    text = text[:117] + "..."
                raise TypeError("cannot send %s to a forkpool worker: %s"
                                % (text, why))
        return _CallerPickler.reducer_override(self, obj)


def dumps_call(obj):
    """Pickle for the worker: plain pickle unless __main__ is involved.

    Objects that cannot work in another process (Manager proxies,
    multiprocessing queues and locks, thread locks) raise TypeError naming
    the object and why, rather than failing later and obscurely in the
    worker.
    """
    try:
        data = pickle.dumps(obj, PROTOCOL)
    except Exception:
        _dumps_with(_CheckingPickler, obj)  # raises, naming the culprit
        raise
    if b"multiprocessing" in data:
        data = _dumps_with(_CheckingPickler, obj)
    elif b"__main__" in data:
        data = _dumps_with(_CallerPickler, obj)
    return data


def dumps_result(obj):
    """Pickle for the caller: plain pickle unless a loaded script is."""
    data = pickle.dumps(obj, PROTOCOL)
    if _script_names and _SCRIPT_MARK in data:
        data = _dumps_with(_WorkerPickler, obj)
    return data


class _CallerUnpickler(pickle.Unpickler):
    """Finds names of ``python -m``'s module in this process's __main__."""

    def __init__(self, file, main_name):
        pickle.Unpickler.__init__(self, file)
        self._main_name = main_name

    def find_class(self, module, name):
        if module == self._main_name:
            return _lookup(sys.modules["__main__"], name)
        return pickle.Unpickler.find_class(self, module, name)


def loads_result(data):
    """Unpickle what a worker sent back, in the caller."""
    ref = _main_ref()
    if ref is not None and ref[0] == "module" and \
            ref[1].encode("utf-8") in data:
        return _CallerUnpickler(io.BytesIO(data), ref[1]).load()
    return pickle.loads(data)


def loads_call(data):
    """Unpickle a call in the worker, explaining a __main__ that is not."""
    try:
        return pickle.loads(data)
    except AttributeError as err:
        if "__main__" not in str(err):
            raise
        raise AttributeError(
            "%s: the caller's __main__ is not a file or module the worker "
            "can load (an interactive session?); define the function in a "
            "module the worker can import (command_dir, command_env "
            "PYTHONPATH=...)" % err) from None
