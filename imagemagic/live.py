"""Files in use: the history files that live objects (results, sweep runs) hold, so pruning spares them.

`hold(owner, paths)` records that `owner` uses `paths` for as long as it lives (a weak reference: it
never keeps the owner alive); `held()` is every path held now. Per process: another kernel's results
are spared by the history's grace period instead.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable

_lock = threading.RLock()  # re-entrant: a weak reference's callback may run while this thread holds it
_held: dict[int, tuple[weakref.ref, tuple[str, ...]]] = {}


def path_key(path) -> str:
    """How a path is compared with `held()`: absolute, as text."""
    return os.path.abspath(os.fspath(path))


def hold(owner: object, paths: Iterable) -> None:
    """Record that `owner` uses `paths` (replacing what it held before) until it is garbage."""
    number = id(owner)
    keys = tuple(path_key(p) for p in paths if p is not None)

    def drop(ref, number=number):
        with _lock:
            if number in _held and _held[number][0] is ref:
                del _held[number]

    with _lock:
        if keys:
            _held[number] = (weakref.ref(owner, drop), keys)
        else:
            _held.pop(number, None)


def held() -> set[str]:
    """The absolute path of every file a live owner holds now."""
    with _lock:
        return {key for ref, keys in list(_held.values()) if ref() is not None for key in keys}
