"""A process-wide cache bounded by bytes, not entries: least recently used values go first (no streamlit).

A classroom opens the same model and image in the same minute: the first session computes, the others wait for
that one computation (one lock per key) and share its read-only result. The bound is the sum of the values'
sizes, so one ViT-L/16 analysis at 384 px (about 0.5 GB of attention) weighs what it weighs and twenty small
ones fit where it would.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

__all__ = ["ByteLRU", "CacheInfo", "nbytes_of"]

V = TypeVar("V")


def nbytes_of(value: object) -> int:
    """Bytes held by the numpy arrays in `value`: an array, a tuple or list of them, an object with ``arrays()``
    (an ``AnalysisResult``) or one with an integer ``nbytes`` (a ``FusedLayers``); other parts count nothing."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(nbytes_of(item) for item in value)
    arrays = getattr(value, "arrays", None)
    if callable(arrays):
        return sum(int(a.nbytes) for a in arrays().values())
    nbytes = getattr(value, "nbytes", None)  # an object that counts its own (FusedLayers' tensors)
    return nbytes if isinstance(nbytes, int) else 0


@dataclass(frozen=True)
class CacheInfo:
    """What the cache holds now: its byte count, its bound and its entry count."""

    bytes: int
    limit: int
    entries: int

    def describe(self) -> str:
        return f"{self.bytes / 2**20:.0f} MB of {self.limit / 2**20:.0f} MB, {self.entries}"


class ByteLRU(Generic[V]):
    """``get_or_compute(key, compute)``: one computation per key at a time, results kept while their summed size
    stays within `limit_bytes` (the least recently used are evicted first; the newest entry is always kept, even
    when it alone is larger than the bound, since the session that asked for it is about to draw it)."""

    def __init__(self, limit_bytes: int, size: Callable[[V], int] = nbytes_of) -> None:
        if limit_bytes <= 0:
            raise ValueError("the cache's bound must be a positive number of bytes")
        self.limit = int(limit_bytes)
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value of `key`, else ``compute()`` (once, however many threads ask at the same time)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:  # another thread may have computed it while this one waited
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            try:
                value = compute()  # outside the cache lock: other keys are served meanwhile
            except BaseException:
                with self._lock:
                    self._key_locks.pop(key, None)
                raise
            self._put(key, value)
            return value

    def _put(self, key: Hashable, value: V) -> None:
        size = int(self._size(value))
        with self._lock:
            self._key_locks.pop(key, None)  # under the same lock as the entry: no thread sees neither
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.limit and len(self._entries) > 1:
                _, (_, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    def make_room(self, nbytes: int) -> None:
        """Evict the least recently used entries until `nbytes` more fit the bound: called before computing a
        value of that size, so the evicted and the new are not held at once."""
        with self._lock:
            while self._entries and self._bytes + nbytes > self.limit:
                _, (_, freed) = self._entries.popitem(last=False)
                self._bytes -= freed

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(bytes=self._bytes, limit=self.limit, entries=len(self._entries))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
