"""What the per-file aggregators share: files followed through renames, and sorted spill runs.

:class:`Lineages` is the small working state of ``couples`` and ``file_history``: each file
*lineage* (a file from its creation, through renames, to its deletion or the end of history)
gets an int id; the table keeps its current name, the map of alive paths and a few int columns
per lineage. A rename moves a lineage to its new name, so everything recorded under the id is
reported under the lineage's final name (the alias map, resolved at finalize); a file created
under a name after the file that had it was deleted or renamed away is a new lineage.

The accumulated output is held in int-keyed accumulators (:class:`Counts`, :class:`Tallies`,
:class:`Stamps`). When an analyzer's accumulators pass their budget they write a *run*: their
entries sorted by key, zstd-compressed through :meth:`SpillStore.open_records`, then they start
again. :meth:`_Runs.blocks` merges the runs and what is still in memory (:func:`merge_blocks`,
a k-way merge of whole columns) into one sorted stream, combining equal keys, and
:meth:`_Runs.items` gives it entry by entry; :meth:`_Runs.rekey` streams blocks under new keys
into a fresh accumulator, which is how finalize re-sorts by file name. A :class:`Counts` that
was never spilled re-keys in memory instead, with numpy: new keys, one sort, and the sums of
keys that meet, kept as two arrays (:class:`SortedCounts`, 16 bytes an entry).

Run format: one run is a sequence of records of up to :data:`BLOCK_ENTRIES` entries each::

    <u32 n> <u32 width> <u32 blob>          header, little-endian
    n x u64 key                             ascending
    n x width x i64 value                   row by row
    n x blob bytes                          fixed-width byte string per entry

Memory (measured with ``tracemalloc`` and ``sys.getsizeof`` on CPython 3.11, 64-bit;
``tests/test_runs.py`` re-checks the estimates):

* :class:`Counts` (pairs, people x files): the dict's own table (``sys.getsizeof``, exact,
  1-2x amortised) plus :data:`KEY_BYTES` for each key object (keys are ``hi << 32 | lo``);
  counts up to 256 are CPython's shared small ints. 62-84 bytes an entry in all.
* :class:`Tallies`: the dict table, a key and a slot int per entry, plus ``width`` x 8 bytes in
  one flat ``array`` (about 110 bytes an entry for three values).
* :class:`Stamps`: 8 bytes of key and ``blob`` bytes per entry in two flat arrays (28 bytes an
  entry with a SHA-1 commit id).
* :meth:`_Runs.reserve` is what the next growth step or a spill may allocate on top: a dict
  resize briefly holds the old table and one twice its size, an array grows by copying, a
  spill sorts. Analyzers spill when size + reserve would pass their budget, so the peak stays
  inside it.
* A merge holds :data:`READER_BYTES` per open run: the zstd window of a run stream and its
  buffers (~700 kB of RSS), plus that run's share of a merge round (up to three blocks of
  columns, and the dict or sort that combines a round: ~1 kB an entry of a block, measured
  with ``tracemalloc`` in ``tests/test_runs.py``). So the fan-in of a merge comes from the
  budget (:func:`fan_in_for`) and more runs are first merged in groups. Nothing else a merge
  holds grows with the data.

This module does not decide what to count or when to spill; the analyzers do.
"""

from __future__ import annotations

import heapq
import struct
import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat
from typing import ClassVar

import numpy as np

from gitstream.errors import SpillError
from gitstream.records import FileChange
from gitstream.streaming.spill import SpillStore

Entry = tuple[int, tuple[int, ...], bytes]
"""One accumulator entry: ``(key, values, blob)``; entries sort as tuples."""
KeyMap = Callable[["np.ndarray"], "np.ndarray"]
"""Old keys (``uint64``) to new keys (``int64``), a block or a whole accumulator at a time
(see :meth:`_Runs.rekey`); a negative new key drops the entry. :func:`split_keys` gives the
two halves of old keys."""

MASK32 = 0xFFFFFFFF
BLOCK_ENTRIES = 2048
KEY_BYTES = 32  # sys.getsizeof(a << 32 | b) for ids below 2**28: an int of two 30-bit digits
SLOT_BYTES = 28  # sys.getsizeof of a slot index above 256 (below 257 ints are shared)
ROUND_BYTES = 400 * BLOCK_ENTRIES  # one run's share of a merge round (measured ~370 B an entry)
READER_BYTES = 700_000 + ROUND_BYTES  # zstd reader RSS (128 KiB window) plus the round share
MAX_FAN_IN = 32

_HEAD = struct.Struct("<III")
_BIG_ENDIAN = sys.byteorder == "big"


def split_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``hi`` and ``lo`` halves of ``hi << 32 | lo`` keys, as ``int64`` arrays (mixing
    ``uint64`` and ``int64`` in numpy gives floats)."""
    return (keys >> 32).astype(np.int64), (keys & MASK32).astype(np.int64)


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


Block = tuple["array[int]", "array[int]", bytes]
"""One block of a run as columns: keys (``Q``), values (``q``, row by row), blobs."""


def write_blocks(
    store: SpillStore, name: str, blocks: Iterable[Block], width: int, blob: int
) -> int:
    """Write ``blocks`` (sorted by key) as the run ``name``; returns how many entries."""
    total = 0
    with store.open_records(name) as writer:
        for keys, values, blobs in blocks:
            n = len(keys)
            if len(values) != n * width or len(blobs) != n * blob:
                raise ValueError(f"run {name}: entries do not match width {width} and blob {blob}")
            if n:
                writer.write(_HEAD.pack(n, width, blob) + _le(keys) + _le(values) + blobs)
                total += n
    return total


def _batched(entries: Iterable[Entry]) -> Iterator[Block]:
    keys: array[int] = array("Q")
    values: array[int] = array("q")
    blobs = bytearray()
    for key, vals, raw in entries:
        keys.append(key)
        values.extend(vals)
        blobs += raw
        if len(keys) == BLOCK_ENTRIES:
            yield keys, values, bytes(blobs)
            keys, values, blobs = array("Q"), array("q"), bytearray()
    yield keys, values, bytes(blobs)


def write_run(store: SpillStore, name: str, entries: Iterable[Entry], width: int, blob: int) -> int:
    """Write ``entries`` (sorted by key) as the run ``name``; returns how many were written."""
    return write_blocks(store, name, _batched(entries), width, blob)


def read_blocks(store: SpillStore, name: str) -> Iterator[Block]:
    """The blocks of run ``name`` in order, one in memory at a time."""
    for record in store.read_records(name):
        n, width, blob = _HEAD.unpack_from(record)
        start = _HEAD.size
        ends = (start + 8 * n, start + 8 * n * (1 + width))
        if len(record) != ends[1] + n * blob:
            raise SpillError(f"spill file {store.path(name)} has a malformed block")
        yield (
            _from_le("Q", record[start : ends[0]]),
            _from_le("q", record[ends[0] : ends[1]]),
            (record[ends[1] :]),
        )


def expand(blocks: Iterable[Block], width: int, blob: int) -> Iterator[Entry]:
    """The entries of ``blocks``, one ``(key, values, blob)`` tuple each."""
    for keys, values, blobs in blocks:
        n = len(keys)
        if width == 1:
            rows: Iterable[tuple[int, ...]] = zip(values)  # 1-tuples, made in C
        elif width == 0:
            rows = repeat((), n)
        else:
            rows = zip(*(values[j::width] for j in range(width)), strict=True)
        raws: Iterable[bytes] = (
            repeat(b"", n) if blob == 0 else (blobs[i : i + blob] for i in range(0, n * blob, blob))
        )
        yield from zip(keys, rows, raws, strict=True)


def read_run(store: SpillStore, name: str) -> Iterator[Entry]:
    """The entries of run ``name`` in order, one block in memory at a time."""
    for keys, values, blobs in read_blocks(store, name):
        n = len(keys)
        width = len(values) // n if n else 0
        yield from expand([(keys, values, blobs)], width, len(blobs) // n if n else 0)


def merge(streams: list[Iterator[Entry]], additive: bool) -> Iterator[Entry]:
    """One sorted stream from sorted ``streams``; equal keys are summed, or the first kept.

    The entry-at-a-time statement of what a merge means: the accumulators merge with
    :func:`merge_blocks`, which the tests hold equal to this.

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


_INFINITY = 1 << 64  # above every u64 key


def merge_blocks(
    streams: list[Iterator[Block]], width: int, blob: int, additive: bool
) -> Iterator[Block]:
    """One sorted stream of blocks from sorted block streams, equal keys combined as
    :func:`merge` combines them (summed, or the smallest entry kept), and never split
    between two output blocks. Additive streams (Counts, Tallies) carry no blobs and hold
    each key at most once per stream, as the accumulators write them.

    It works a round at a time on whole columns: the *frontier* is the smallest last key of
    the streams' current blocks (streams on their last block do not bound it); every key
    below it is in memory already, so those parts of the current blocks are combined and
    emitted together, and a stream whose remaining keys all equal the frontier gets its
    next block appended. Combining is done in C where it can be (dicts, sorts), so the cost
    per entry is a fraction of an entry-at-a-time heap merge's.
    """
    heads = [head for head in (_Head.first(stream, width, blob) for stream in streams) if head]
    while heads:
        frontier = min((h.keys[-1] for h in heads if h.upcoming), default=_INFINITY)
        parts = [part for part in (h.take_below(frontier) for h in heads) if part is not None]
        if parts:
            yield from _split(_combine(parts, width, blob, additive), width, blob)
        live: list[_Head] = []
        for h in heads:
            if h.pos < len(h.keys):
                if h.upcoming and h.keys[-1] == frontier:
                    h.append_next()  # every key left equals the frontier: see what follows
                live.append(h)
            elif h.upcoming:
                h.append_next()
                live.append(h)
        heads = live


def _split(block: Block, width: int, blob: int) -> Iterator[Block]:
    """``block`` in blocks of at most :data:`BLOCK_ENTRIES` entries (its keys are unique).

    A round of a merge combines up to a block of every stream; written back whole, a merge
    of merges would double its blocks at every level, until one record held a whole run.
    """
    keys, values, blobs = block
    if len(keys) <= BLOCK_ENTRIES:
        yield block
        return
    for start in range(0, len(keys), BLOCK_ENTRIES):
        end = start + BLOCK_ENTRIES
        yield keys[start:end], values[start * width : end * width], blobs[start * blob : end * blob]


class _Head:
    """One stream of a block merge: its current block (columns), how far it was taken, and
    its next non-empty block, read ahead so the merge knows whether more is coming."""

    __slots__ = ("blob", "blobs", "keys", "pos", "stream", "upcoming", "values", "width")

    def __init__(self, stream: Iterator[Block], block: Block, width: int, blob: int) -> None:
        self.stream = stream
        self.width = width
        self.blob = blob
        self.keys, self.values, self.blobs = block
        self.pos = 0
        self.upcoming = self._read_ahead()

    @classmethod
    def first(cls, stream: Iterator[Block], width: int, blob: int) -> _Head | None:
        for block in stream:
            if len(block[0]):
                return cls(stream, block, width, blob)
        return None

    def _read_ahead(self) -> Block | None:
        for block in self.stream:
            if len(block[0]):
                return block
        return None

    def take_below(self, frontier: int) -> Block | None:
        """The entries from ``pos`` with keys below ``frontier`` (all at infinity), if any."""
        pos, width, blob = self.pos, self.width, self.blob
        keys = self.keys
        end = len(keys) if frontier == _INFINITY else bisect_left(keys, frontier, pos)
        if end <= pos:
            return None
        self.pos = end
        return (
            keys[pos:end],
            self.values[pos * width : end * width],
            self.blobs[pos * blob : end * blob],
        )

    def append_next(self) -> None:
        """Move the read-ahead block in, after what is left of the current one."""
        upcoming = self.upcoming
        assert upcoming is not None
        pos, width, blob = self.pos, self.width, self.blob
        if pos < len(self.keys):
            self.keys = self.keys[pos:] + upcoming[0]
            self.values = self.values[pos * width :] + upcoming[1]
            self.blobs = self.blobs[pos * blob :] + upcoming[2]
        else:
            self.keys, self.values, self.blobs = upcoming
        self.pos = 0
        self.upcoming = self._read_ahead()


def _combine(parts: list[Block], width: int, blob: int, additive: bool) -> Block:
    """One sorted block of ``parts`` (each sorted), equal keys combined."""
    if len(parts) == 1 and additive:
        return parts[0]  # additive runs never hold a key twice
    if additive and width == 1 and blob == 0:
        # Counts: a dict adds the parts in C; only keys present in several parts need Python.
        totals: dict[int, int] = {}
        for keys, values, _ in parts:
            common = totals.keys() & keys if totals else ()
            before = {k: totals[k] for k in common}
            totals.update(zip(keys, values, strict=True))
            for k, v in before.items():
                totals[k] += v
        order = sorted(totals)
        return array("Q", order), array("q", map(totals.__getitem__, order)), b""
    keys = array("Q")
    values = array("q")
    raw = bytearray()
    for part_keys, part_values, part_raw in parts:
        keys.extend(part_keys)
        values.extend(part_values)
        raw += part_raw
    order = sorted(range(len(keys)), key=keys.__getitem__)
    out_keys = array("Q")
    out_values = array("q")
    out_raw = bytearray()
    prev = -1
    for i in order:
        key = keys[i]
        row = values[i * width : (i + 1) * width]
        stamp = raw[i * blob : (i + 1) * blob]
        if key == prev:
            base = (len(out_keys) - 1) * width
            if additive:
                for j in range(width):
                    out_values[base + j] += row[j]
            else:
                kept = (
                    tuple(out_values[base : base + width]),
                    bytes(out_raw[-blob:] if blob else b""),
                )
                if (tuple(row), bytes(stamp)) < kept:
                    out_values[base : base + width] = row
                    if blob:
                        out_raw[-blob:] = stamp
            continue
        prev = key
        out_keys.append(key)
        out_values.extend(row)
        out_raw += stamp
    return out_keys, out_values, bytes(out_raw)


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

    def reserve(self) -> int:
        """Bytes the next growth step or a spill may allocate on top of :meth:`nbytes`."""
        raise NotImplementedError

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        raise NotImplementedError

    def _memory_blocks(self) -> Iterator[Block]:
        """The in-memory entries as sorted blocks of columns (keys unique but in Stamps)."""
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
        write_blocks(self.store, name, self._memory_blocks(), self.width, self.blob)
        self.runs.append(name)
        self._clear()

    def add_block(self, keys: Sequence[int], values: array[int], blobs: bytes) -> None:
        """Add the entries of one block (keys in any order); negative keys are dropped."""
        width, blob = self.width, self.blob
        add = self.add_entry
        for i, key in enumerate(keys):
            if key >= 0:
                row = tuple(values[i * width : (i + 1) * width])
                add(key, row, blobs[i * blob : (i + 1) * blob])

    def _compact(self, fan_in: int) -> None:
        # Merge the oldest runs in groups until one merge can open all of them at once.
        while len(self.runs) > fan_in:
            group, self.runs = self.runs[:fan_in], self.runs[fan_in:]
            name = self._run_name()
            streams = [read_blocks(self.store, run) for run in group]
            merged = merge_blocks(streams, self.width, self.blob, self.additive)
            write_blocks(self.store, name, merged, self.width, self.blob)
            self.runs.append(name)
            for run in group:
                self.store.delete(run)

    def blocks(self, fan_in: int = MAX_FAN_IN) -> Iterator[Block]:
        """Every entry as sorted blocks, equal keys combined; runs are re-read on each call."""
        self._compact(max(2, fan_in))
        streams = [read_blocks(self.store, run) for run in self.runs]
        if len(self):
            streams.append(self._memory_blocks())
        if not streams:
            return iter(())
        if len(streams) == 1 and self.additive:
            return streams[0]  # sorted, and an additive accumulator holds each key once
        return merge_blocks(streams, self.width, self.blob, self.additive)

    def items(self, fan_in: int = MAX_FAN_IN) -> Iterator[Entry]:
        """Every entry, sorted by key, equal keys combined; runs are re-read on each call."""
        return expand(self.blocks(fan_in), self.width, self.blob)

    def rekey(self, name: str, keys: KeyMap, budget: int, fan_in: int) -> _Runs:
        """A new accumulator holding every entry under its new key; negative keys are dropped.

        ``keys`` maps an array of old keys to the array of their new keys (a block at a
        time, so the caller's mapping runs vectorised, not a call per entry). The new
        accumulator spills whenever it holds more than ``budget`` bytes (0: never), looked
        at after every block of at most :data:`BLOCK_ENTRIES` entries.
        """
        out = self._fresh(name)
        for old, values, blobs in self.blocks(fan_in):
            out.add_block(keys(np.frombuffer(old, dtype=np.uint64)).tolist(), values, blobs)
            if budget and out.nbytes() + out.reserve() > budget:
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

    def reserve(self) -> int:
        # A resize allocates a table twice the size while the old one still exists; that
        # also covers the sorted key list of a spill (8 bytes an entry).
        return 2 * sys.getsizeof(self.counts)

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.counts[key] += vals[0]

    def add_block(self, keys: Sequence[int], values: array[int], blobs: bytes) -> None:
        counts = self.counts
        get = counts.get
        for key, value in zip(keys, values, strict=True):
            if key >= 0:
                counts[key] = get(key, 0) + value

    def rekey(self, name: str, keys: KeyMap, budget: int, fan_in: int) -> _Runs:
        """As :meth:`_Runs.rekey`, on arrays into a :class:`SortedCounts`.

        When nothing was spilled and the copy fits, in memory: ``keys`` called on slices, one
        sort, each array dropped as soon as the next exists (:data:`SORTED_COPY_BYTES` an
        entry). Otherwise the blocks of every run, then the memory, are re-keyed one at a time,
        unmerged (counts add: equal old keys meet again under their new key), and kept as
        arrays until they would fill ``budget``, then sorted, summed and written as one run.
        """
        n = len(self.counts)
        if self.runs or (budget and n * SORTED_COPY_BYTES + KEYMAP_SLICE_BYTES > budget):
            return self._rekey_blocks(name, keys, budget)
        old, values = self._arrays()
        new = np.empty(n, dtype=np.int64)
        for start in range(0, n, KEYMAP_SLICE):
            new[start : start + KEYMAP_SLICE] = keys(old[start : start + KEYMAP_SLICE])
        del old
        kept = new >= 0
        if not kept.all():
            new, values = new[kept], values[kept]
        del kept
        new, values = _sorted_sums(new, values)
        return SortedCounts(self.store, name, new, values)

    def _rekey_blocks(self, name: str, keys: KeyMap, budget: int) -> SortedCounts:
        out = SortedCounts(self.store, name, _EMPTY, _EMPTY)
        held_keys: list[np.ndarray] = []
        held_values: list[np.ndarray] = []
        held = 0

        def gather() -> tuple[np.ndarray, np.ndarray]:
            if not held_keys:
                return _EMPTY, _EMPTY
            k, v = np.concatenate(held_keys), np.concatenate(held_values)
            held_keys.clear()
            held_values.clear()
            return _sorted_sums(k, v)

        for old, vals in self._unmerged_arrays():
            new = keys(old)
            kept = new >= 0
            held_keys.append(new[kept])
            held_values.append(vals[kept])
            held += len(held_keys[-1])
            if budget and held * SORTED_COPY_BYTES + KEYMAP_SLICE_BYTES > budget:
                run = out._run_name()
                write_blocks(self.store, run, _array_blocks(*gather()), 1, 0)
                out.runs.append(run)
                held = 0
        out.keys, out.values = gather()
        return out

    def _unmerged_arrays(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(keys, values) of every run's blocks, then of the memory, in no particular order."""
        for run in self.runs:
            for block_keys, block_values, _ in read_blocks(self.store, run):
                yield (
                    np.frombuffer(block_keys, dtype=np.uint64),
                    np.frombuffer(block_values, dtype=np.int64),
                )
        if self.counts:
            keys, values = self._arrays()
            for start in range(0, len(keys), KEYMAP_SLICE):
                yield keys[start : start + KEYMAP_SLICE], values[start : start + KEYMAP_SLICE]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.counts)
        return (
            np.fromiter(self.counts.keys(), dtype=np.uint64, count=n),
            np.fromiter(self.counts.values(), dtype=np.int64, count=n),
        )

    def _memory_blocks(self) -> Iterator[Block]:
        keys, values = self._arrays()
        order = np.argsort(keys)
        return _array_blocks(keys[order], values[order])

    def _clear(self) -> None:
        self.counts.clear()


SORTED_COPY_BYTES = 48
"""Peak bytes an entry of an in-memory :meth:`Counts.rekey`, on top of the Counts it reads
(tracemalloc: 32-34; ``tests/test_runs.py`` checks the bound): the values, the new keys, the
sort order and a sorted copy, or when keys meet the starts of equal runs and their sums."""
KEYMAP_SLICE = 16_384
KEYMAP_SLICE_BYTES = KEYMAP_SLICE * 160  # a key map's temporaries on one slice, generously


_EMPTY = np.zeros(0, dtype=np.int64)
_EMPTY.flags.writeable = False


def _sorted_sums(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``keys`` sorted and unique, each with the sum of its ``values``."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    values = values[order]
    del order
    if len(keys) > 1:
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        if len(starts) < len(keys):  # keys that met: add their counts
            keys, values = keys[starts], np.add.reduceat(values, starts)
    return keys, values


def _array_blocks(keys: np.ndarray, values: np.ndarray) -> Iterator[Block]:
    """Sorted key and ``int64`` value arrays as blocks of :data:`BLOCK_ENTRIES` columns."""
    for start in range(0, len(keys), BLOCK_ENTRIES):
        block_keys: array[int] = array("Q")
        block_keys.frombytes(keys[start : start + BLOCK_ENTRIES].tobytes())
        block_values: array[int] = array("q")
        block_values.frombytes(values[start : start + BLOCK_ENTRIES].tobytes())
        yield block_keys, block_values, b""


class SortedCounts(_Runs):
    """What an in-memory :meth:`Counts.rekey` makes: counts as two ``int64`` arrays, keys
    unique and ascending. It is read (:meth:`blocks`, :meth:`items`) and spilled, not added
    to: re-keying it again makes a :class:`Counts`."""

    def __init__(self, store: SpillStore, name: str, keys: np.ndarray, values: np.ndarray) -> None:
        super().__init__(store, name, 1, 0)
        self.keys = keys
        self.values = values

    def __len__(self) -> int:
        return len(self.keys)

    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.values.nbytes)

    def reserve(self) -> int:
        return 0  # a spill copies one block at a time

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        raise TypeError("a re-keyed SortedCounts is read, not added to")

    def _fresh(self, name: str) -> _Runs:
        return Counts(self.store, name)

    def _memory_blocks(self) -> Iterator[Block]:
        return _array_blocks(self.keys, self.values)

    def _clear(self) -> None:
        self.keys = self.values = np.zeros(0, dtype=np.int64)


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

    def reserve(self) -> int:
        # A dict resize (twice the table) plus the copy of a growing array.
        return 2 * sys.getsizeof(self.slots) + sys.getsizeof(self.values)

    def add(self, key: int, vals: tuple[int, ...]) -> None:
        """Add ``vals`` to the ints of ``key``."""
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = len(self.slots)
            self.values.extend(self._zeros)
        values = self.values
        for i, value in enumerate(vals, slot * self.width):
            values[i] += value

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.add(key, vals)

    def _memory_blocks(self) -> Iterator[Block]:
        slots, values, width = self.slots, self.values, self.width
        order = sorted(slots)
        for start in range(0, len(order), BLOCK_ENTRIES):
            part = order[start : start + BLOCK_ENTRIES]
            column: array[int] = array("q")
            for key in part:
                base = slots[key] * width
                column.extend(values[base : base + width])
            yield array("Q", part), column, b""

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
        self.add_many((key,), raw)

    def add_many(self, keys: Sequence[int], raw: bytes) -> None:
        """Record the same ``raw`` (exactly ``blob`` bytes) under each of ``keys``."""
        if len(raw) != self.blob:
            raise ValueError(
                f"expected {self.blob} bytes, got {len(raw)}: commit ids of one history "
                "must all have the same length"
            )
        self.keys.extend(keys)
        self.blobs += raw * len(keys)

    def add_entry(self, key: int, vals: tuple[int, ...], raw: bytes) -> None:
        self.add_many((key,), raw)

    def add_block(self, keys: Sequence[int], values: array[int], blobs: bytes) -> None:
        if len(keys) and min(keys) >= 0:
            self.keys.extend(keys)
            self.blobs += blobs
            return
        super().add_block(keys, values, blobs)

    def reserve(self) -> int:
        # Growing an array copies it; a spill builds one sorted copy of both columns.
        return self.nbytes()

    def _sorted_columns(self) -> tuple[array[int], bytearray]:
        """Keys and blobs sorted by (key, blob), as one copy of the columns.

        Entries usually arrive in key order within each high half (a file's commits come
        oldest first), so a stable bucket sort by the high half sorts them in one pass and
        28 bytes an entry. If that turns out not to hold, a general sort does it.
        """
        keys, blobs, size = self.keys, self.blobs, self.blob
        n = len(keys)
        sizes: dict[int, int] = {}
        for key in keys:
            high = key >> 32
            sizes[high] = sizes.get(high, 0) + 1
        start: dict[int, int] = {}
        at = 0
        for high in sorted(sizes):
            start[high] = at
            at += sizes[high]
        del sizes
        out_keys = array("Q", bytes(8 * n))
        out_blobs = bytearray(size * n)
        for i, key in enumerate(keys):
            high = key >> 32
            p = start[high]
            start[high] = p + 1
            out_keys[p] = key
            out_blobs[p * size : (p + 1) * size] = blobs[i * size : (i + 1) * size]
        if all(out_keys[i] < out_keys[i + 1] for i in range(n - 1)):
            return out_keys, out_blobs
        order = sorted(range(n), key=lambda i: (keys[i], blobs[i * size : (i + 1) * size]))
        return (
            array("Q", map(keys.__getitem__, order)),
            bytearray(b"".join([blobs[i * size : (i + 1) * size] for i in order])),
        )

    def _memory_blocks(self) -> Iterator[Block]:
        keys, blobs = self._sorted_columns()
        size = self.blob
        for start in range(0, len(keys), BLOCK_ENTRIES):
            end = start + BLOCK_ENTRIES
            yield keys[start:end], array("q"), bytes(blobs[start * size : end * size])

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

    def apply(self, changes: Sequence[FileChange]) -> list[int]:
        """The lineage of each change, after applying them all (adds, deletes, renames).

        A commit's changes all start from its parent's tree, so the old paths are resolved
        first and the new ones placed after: two files may trade names in one commit, and a
        file may be created at the path another one just left (a new lineage). Adding a path
        that is still alive continues its lineage.
        """
        alive = self.alive
        out: list[int] = []
        claimed: set[int] = set()
        for change in changes:
            old, new = change.old_path, change.new_path
            if old is None:
                out.append(-1)  # placed below
                continue
            lineage = alive.get(old)
            # A path never seen (history cut by --since), or one a malformed commit names
            # twice as a source: a lineage of its own keeps every path with one lineage.
            if lineage is None or lineage in claimed:
                lineage = self._new(old if new is None else new, is_alive=False)
            claimed.add(lineage)
            out.append(lineage)
        for change, lineage in zip(changes, out, strict=True):
            old = change.old_path
            if old is not None and old != change.new_path and alive.get(old) == lineage:
                del alive[old]
        for i, change in enumerate(changes):
            new = change.new_path
            if new is None:
                continue
            if change.old_path is None:
                # Adding a path that is still alive only happens when a walk of the full
                # history sees a side branch's file arrive again in its merge: the same file.
                lineage = alive.get(new, -1)
                out[i] = (
                    self._new(new, is_alive=True) if lineage in claimed or lineage < 0 else lineage
                )
                claimed.add(out[i])
                continue
            lineage = out[i]
            if self.names[lineage] != new:
                self._name_bytes += sys.getsizeof(new) - sys.getsizeof(self.names[lineage])
                self.names[lineage] = new
            alive[new] = lineage  # a lineage still at ``new`` ends here: it was replaced
        return out

    def touch(self, change: FileChange) -> int:
        """The lineage of one change applied on its own; see :meth:`apply`."""
        return self.apply((change,))[0]

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
