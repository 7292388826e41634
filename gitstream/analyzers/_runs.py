"""What the per-file aggregators share: files followed through renames, and sorted spill runs.

:class:`Lineages` is the small working state of ``couples`` and ``file_history``: each file
*lineage* (a file from its creation, through renames, to its deletion or the end of history)
gets an int id; the table keeps its current name, the map of alive paths and a few int columns
per lineage. A rename moves a lineage to its new name, so everything recorded under the id is
reported under the lineage's final name (the alias map, resolved at finalize); a file created
later under an old name is a new lineage.

The accumulated output is held in int-keyed accumulators (:class:`Counts`, :class:`Tallies`,
:class:`Stamps`). When an analyzer's accumulators pass their budget they write a *run*: their
entries sorted by key, zstd-compressed through :meth:`SpillStore.open_records`, then they start
again. :meth:`_Runs.items` merges the runs and what is still in memory (``heapq.merge``, a k-way
merge) into one sorted stream, combining equal keys; :meth:`_Runs.rekey` streams entries under
new keys into a fresh accumulator, which is how finalize re-sorts by file name.

Run format: one run is a sequence of records of up to :data:`BLOCK_ENTRIES` entries each::

    <u32 n> <u32 width> <u32 blob>          header, little-endian
    n x u64 key                             ascending
    n x width x i64 value                   row by row
    n x blob bytes                          fixed-width byte string per entry

Memory (measured with ``tracemalloc`` and ``sys.getsizeof`` on CPython 3.11, 64-bit;
``tests/test_runs.py`` re-checks the estimates): an entry of a ``dict[int, int]`` costs the
dict's own table (``sys.getsizeof``, exact, 1-2x amortised) plus :data:`KEY_BYTES` for the key
object (keys are ``hi << 32 | lo``); counts up to 256 are CPython's shared small ints. That is
62-84 bytes per pair. A merge holds :data:`READER_BYTES` per open run (the zstd window of a
level-3 stream plus its buffers), so the fan-in of a merge is derived from the budget
(:func:`fan_in_for`) and more runs are first merged in groups.

This module does not decide what to count or when to spill; the analyzers do.
"""

from __future__ import annotations

import heapq
import struct
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import ClassVar

from gitstream.errors import SpillError
from gitstream.records import FileChange
from gitstream.streaming.spill import SpillStore

Entry = tuple[int, tuple[int, ...], bytes]
"""One accumulator entry: ``(key, values, blob)``; entries sort as tuples."""

MASK32 = 0xFFFFFFFF
BLOCK_ENTRIES = 4096
KEY_BYTES = 32  # sys.getsizeof(a << 32 | b) for ids below 2**28: an int of two 30-bit digits
SLOT_BYTES = 28  # sys.getsizeof of a slot index above 256 (below 257 ints are shared)
READER_BYTES = 2_600_000  # RSS of one open run reader once zstd's 2 MiB window has filled
MAX_FAN_IN = 32

_HEAD = struct.Struct("<III")
_BIG_ENDIAN = sys.byteorder == "big"


def fan_in_for(budget: int) -> int:
    """How many runs one merge may open: half the budget's worth of readers, 2 to 32."""
    if budget <= 0:
        return MAX_FAN_IN
    return max(2, min(MAX_FAN_IN, budget // 2 // READER_BYTES))


def _le(values: array[int]) -> bytes:
    if _BIG_ENDIAN:  # runs are little-endian wherever they were written
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_le(typecode: str, data: bytes) -> array[int]:
    values = array(typecode)
    values.frombytes(data)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def write_run(store: SpillStore, name: str, entries: Iterable[Entry], width: int, blob: int) -> int:
    """Write ``entries`` (sorted by key) as the run ``name``; returns how many were written."""
    keys: array[int] = array("Q")
    values: array[int] = array("q")
    blobs = bytearray()
    total = 0

    def block() -> bytes:
        n = len(keys)
        if len(values) != n * width or len(blobs) != n * blob:
            raise ValueError(f"run {name}: entries do not match width {width} and blob {blob}")
        return _HEAD.pack(n, width, blob) + _le(keys) + _le(values) + bytes(blobs)

    with store.open_records(name) as writer:
        for key, vals, raw in entries:
            keys.append(key)
            values.extend(vals)
            blobs += raw
            if len(keys) == BLOCK_ENTRIES:
                writer.write(block())
                total += len(keys)
                del keys[:], values[:], blobs[:]
        if keys:
            writer.write(block())
            total += len(keys)
    return total


def read_run(store: SpillStore, name: str) -> Iterator[Entry]:
    """The entries of run ``name`` in order, one block in memory at a time."""
    for record in store.read_records(name):
        n, width, blob = _HEAD.unpack_from(record)
        start = _HEAD.size
        ends = (start + 8 * n, start + 8 * n * (1 + width))
        if len(record) != ends[1] + n * blob:
            raise SpillError(f"spill file {store.path(name)} has a malformed block")
        keys = _from_le("Q", record[start : ends[0]])
        values = _from_le("q", record[ends[0] : ends[1]])
        if width == 1 and blob == 0:
            for key, value in zip(keys, values, strict=True):
                yield key, (value,), b""
        else:
            blobs = record[ends[1] :]
            for i in range(n):
                yield (
                    keys[i],
                    tuple(values[i * width : (i + 1) * width]),
                    blobs[i * blob : (i + 1) * blob],
                )


def merge(streams: list[Iterator[Entry]], additive: bool) -> Iterator[Entry]:
    """One sorted stream from sorted ``streams``; equal keys are summed, or the first kept.

    "First" is the smallest entry in tuple order, so the result does not depend on how the
    entries were split into runs.
    """
    merged: Iterator[Entry] = heapq.merge(*streams) if len(streams) > 1 else iter(streams[0])
    current = next(merged, None)
    if current is None:
        return
    key, vals, raw = current
    for entry in merged:
        if entry[0] == key:
            if additive:
                vals = tuple(a + b for a, b in zip(vals, entry[1], strict=True))
            continue
        yield key, vals, raw
        key, vals, raw = entry
    yield key, vals, raw


class _Runs:
    """Int-keyed entries: in memory until :meth:`spill`, then as sorted runs on disk."""

    additive: ClassVar[bool] = True

    def __init__(self, store: SpillStore, name: str, width: int, blob: int) -> None:
        self.store = store
        self.name = name
        self.width = width
        self.blob = blob
        self.runs: list[str] = []
        self._seq = 0

    # What each kind of accumulator provides.
    def __len__(self) -> int:
        raise NotImplementedError

    def nbytes(self) -> int:
        """Bytes the in-memory entries hold (see the module docstring for the figures)."""
        raise NotImplementedError

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        raise NotImplementedError

    def _sorted_memory(self) -> Iterator[Entry]:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def _fresh(self, name: str) -> _Runs:
        return type(self)(self.store, name, self.width, self.blob)

    # Shared behaviour.
    def _run_name(self) -> str:
        self._seq += 1
        return f"{self.name}-{self._seq:06d}"

    def spill(self) -> None:
        """Write the in-memory entries as one sorted run and forget them."""
        if not len(self):
            return
        name = self._run_name()
        write_run(self.store, name, self._sorted_memory(), self.width, self.blob)
        self.runs.append(name)
        self._clear()

    def _compact(self, fan_in: int) -> None:
        # Merge the oldest runs in groups until one merge can open all of them at once.
        while len(self.runs) > fan_in:
            group, self.runs = self.runs[:fan_in], self.runs[fan_in:]
            name = self._run_name()
            streams = [read_run(self.store, run) for run in group]
            write_run(self.store, name, merge(streams, self.additive), self.width, self.blob)
            self.runs.append(name)
            for run in group:
                self.store.delete(run)

    def items(self, fan_in: int = MAX_FAN_IN) -> Iterator[Entry]:
        """Every entry, sorted by key, equal keys combined; runs are re-read on each call."""
        self._compact(max(2, fan_in))
        streams = [read_run(self.store, run) for run in self.runs]
        if len(self):
            streams.append(self._sorted_memory())
        if not streams:
            return iter(())
        return merge(streams, self.additive)

    def rekey(self, name: str, key: Callable[[int], int], budget: int, fan_in: int) -> _Runs:
        """A new accumulator holding every entry under ``key(old)``; negative keys are dropped.

        The new accumulator spills whenever it holds more than ``budget`` bytes (0: never).
        """
        out = self._fresh(name)
        add = out.add_entry
        for old, vals, raw in self.items(fan_in):
            new = key(old)
            if new < 0:
                continue
            add(new, vals, raw)
            if budget and out.nbytes() > budget:
                out.spill()
        return out

    def discard(self) -> None:
        """Delete the runs and forget the in-memory entries."""
        for run in self.runs:
            self.store.delete(run)
        self.runs = []
        self._clear()


class Counts(_Runs):
    """One additive count per key, in a ``Counter`` (``counts``) that callers update directly."""

    def __init__(self, store: SpillStore, name: str, width: int = 1, blob: int = 0) -> None:
        if width != 1 or blob != 0:
            raise ValueError("Counts holds exactly one value and no blob per key")
        super().__init__(store, name, 1, 0)
        # Counter.update counts an iterable of keys in C: twice the speed of a Python loop.
        self.counts: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self.counts)

    def nbytes(self) -> int:
        return sys.getsizeof(self.counts) + len(self.counts) * KEY_BYTES

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.counts[key] += vals[0]

    def _sorted_memory(self) -> Iterator[Entry]:
        counts = self.counts
        for key in sorted(counts):
            yield key, (counts[key],), b""

    def _clear(self) -> None:
        self.counts.clear()


class Tallies(_Runs):
    """``width`` additive ints per key: a dict from key to slot plus one flat ``array``."""

    def __init__(self, store: SpillStore, name: str, width: int, blob: int = 0) -> None:
        if width < 1 or blob != 0:
            raise ValueError("Tallies holds at least one value and no blob per key")
        super().__init__(store, name, width, 0)
        self.slots: dict[int, int] = {}
        self.values: array[int] = array("q")
        self._zeros = array("q", [0]) * width

    def __len__(self) -> int:
        return len(self.slots)

    def nbytes(self) -> int:
        n = len(self.slots)
        return sys.getsizeof(self.slots) + n * (KEY_BYTES + SLOT_BYTES) + sys.getsizeof(self.values)

    def add(self, key: int, vals: tuple[int, ...]) -> None:
        """Add ``vals`` to the ints of ``key``."""
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = len(self.slots)
            self.values.extend(self._zeros)
        base = slot * self.width
        values = self.values
        for i, value in enumerate(vals):
            values[base + i] += value

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.add(key, vals)

    def _sorted_memory(self) -> Iterator[Entry]:
        slots, values, width = self.slots, self.values, self.width
        for key in sorted(slots):
            base = slots[key] * width
            yield key, tuple(values[base : base + width]), b""

    def _clear(self) -> None:
        self.slots.clear()
        del self.values[:]


class Stamps(_Runs):
    """A fixed-width byte string per key (a commit hash), appended; duplicates keep the first."""

    additive = False

    def __init__(self, store: SpillStore, name: str, width: int = 0, blob: int = 20) -> None:
        if width != 0 or blob < 1:
            raise ValueError("Stamps holds no values and a non-empty blob per key")
        super().__init__(store, name, 0, blob)
        self.keys: array[int] = array("Q")
        self.blobs = bytearray()

    def __len__(self) -> int:
        return len(self.keys)

    def nbytes(self) -> int:
        return sys.getsizeof(self.keys) + sys.getsizeof(self.blobs)

    def add(self, key: int, raw: bytes) -> None:
        """Record ``raw`` (exactly ``blob`` bytes) under ``key``."""
        if len(raw) != self.blob:
            raise ValueError(
                f"expected {self.blob} bytes, got {len(raw)}: commit ids of one history "
                "must all have the same length"
            )
        self.keys.append(key)
        self.blobs += raw

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.add(key, raw)

    def _sorted_memory(self) -> Iterator[Entry]:
        keys, blobs, size = self.keys, self.blobs, self.blob

        def raw(i: int) -> bytes:
            return bytes(blobs[i * size : (i + 1) * size])

        # Sorting by (key, bytes) keeps "first" the same as merge() across runs.
        for i in sorted(range(len(keys)), key=lambda i: (keys[i], raw(i))):
            yield keys[i], (), raw(i)

    def _clear(self) -> None:
        del self.keys[:]
        self.blobs = bytearray()


class Lineages:
    """Files followed through renames: ids, current names, the alive map, int columns.

    ``names[i]`` is lineage ``i``'s current name (its final one once history has been read);
    ``alive`` maps each path alive now to its lineage; ``columns`` are ``len(names)``-long int
    arrays the analyzer uses as it likes (revisions, line counts, times).
    """

    def __init__(self, columns: int) -> None:
        self.names: list[str] = []
        self.alive: dict[str, int] = {}
        self.columns: list[array[int]] = [array("q") for _ in range(columns)]
        self._name_bytes = 0

    def __len__(self) -> int:
        return len(self.names)

    def touch(self, change: FileChange) -> int:
        """The lineage ``change`` belongs to, after applying it (add, delete, rename)."""
        old, new = change.old_path, change.new_path
        alive = self.alive
        if old is None:
            return self._new(new, is_alive=True)  # type: ignore[arg-type]
        if new is None:
            lineage = alive.pop(old, None)
            return self._new(old, is_alive=False) if lineage is None else lineage
        if old == new:
            lineage = alive.get(new)
            return self._new(new, is_alive=True) if lineage is None else lineage
        lineage = alive.pop(old, None)
        if lineage is None:  # renamed from a path never seen (history cut by --since)
            return self._new(new, is_alive=True)
        self._name_bytes += sys.getsizeof(new) - sys.getsizeof(self.names[lineage])
        self.names[lineage] = new
        alive[new] = lineage  # a lineage still at ``new`` ends here: it was replaced
        return lineage

    def _new(self, name: str, *, is_alive: bool) -> int:
        lineage = len(self.names)
        if lineage > MASK32 >> 1:
            raise OverflowError("more than 2**31 file lineages")
        self.names.append(name)
        self._name_bytes += sys.getsizeof(name)
        for column in self.columns:
            column.append(0)
        if is_alive:
            self.alive[name] = lineage
        return lineage

    def nbytes(self) -> int:
        """Bytes held: the name list and strings, the alive dict and its ids, the columns."""
        return (
            sys.getsizeof(self.names)
            + self._name_bytes
            + sys.getsizeof(self.alive)
            + len(self.alive) * SLOT_BYTES
            + sum(sys.getsizeof(column) for column in self.columns)
        )

    def save(self, store: SpillStore, key: str) -> None:
        """Write the table as ``key``-names (JSON) and ``key``-columns (little-endian ints)."""
        store.write_json(f"{key}-names", {"names": self.names, "alive": list(self.alive.values())})
        store.write_bytes(f"{key}-columns", b"".join(_le(column) for column in self.columns))

    @classmethod
    def load(cls, store: SpillStore, key: str, columns: int) -> Lineages:
        """The table :meth:`save` wrote, exactly as it was."""
        doc = store.read_json(f"{key}-names")
        raw = store.read_bytes(f"{key}-columns")
        table = cls(columns)
        names: list[str] = doc["names"]
        n = len(names)
        if len(raw) != 8 * n * columns:
            raise SpillError(f"spill file {store.path(key + '-columns')} has the wrong size")
        table.names = names
        table.alive = {names[lineage]: lineage for lineage in doc["alive"]}
        table.columns = [_from_le("q", raw[8 * n * i : 8 * n * (i + 1)]) for i in range(columns)]
        table._name_bytes = sum(sys.getsizeof(name) for name in names)
        return table

    def ranks(self, keep: str) -> tuple[list[str], array[int]]:
        """Sorted output names, and each lineage's index into them (-1: left out).

        ``keep`` is ``"all"`` (every final name; lineages ending under one name share it),
        ``"alive_names"`` (names alive at the end, with every lineage that ended under them)
        or ``"alive"`` (only the lineages alive at the end).
        """
        if keep == "all":
            chosen = sorted(set(self.names))
        elif keep in ("alive", "alive_names"):
            chosen = sorted(self.alive)
        else:
            raise ValueError(f"unknown selection {keep!r}")
        position = {name: i for i, name in enumerate(chosen)}
        if keep == "alive":
            rank = array("q", [-1]) * len(self.names)
            for name, lineage in self.alive.items():
                rank[lineage] = position[name]
        else:
            rank = array("q", (position.get(name, -1) for name in self.names))
        return chosen, rank
