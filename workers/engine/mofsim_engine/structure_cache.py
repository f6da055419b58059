"""Parsed input structures kept between jobs.

A campaign runs every structure through several task types and models, and each job would otherwise read and
validate the same file again (a CIF through ASE's parser plus a neighbour list: 15-30 ms for a 44-atom MOF, more
than a classical model's whole single point). Stored structures are content-addressed and never rewritten; the key
still holds the file's size and mtime, so a file replaced in place is read afresh.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict


class StructureCache:
    """`structures.load` with the most recently used results kept (jobs run in threads: guarded by a lock).

    Every call returns its own copy of the atoms: tasks move atoms and change cells, and one job must never see
    another's."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, path: str, filename: str | None = None, *, max_atoms: int):
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, filename, max_atoms)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
        if hit is None:
            # Imported here: the engine says hello before numpy and ASE are loaded.
            from . import structures

            # Read outside the lock (other jobs go on); a structure that fails validation raises and is not kept.
            hit = structures.load(path, filename, max_atoms=max_atoms)
            with self._lock:
                self._entries[key] = hit
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        atoms, fmt, messages = hit
        return atoms.copy(), fmt, list(messages)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
