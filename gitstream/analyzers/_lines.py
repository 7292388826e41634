"""Line ownership of one file as run-length segments in flat arrays, for the burndown analyzer.

A file's lines are cut into *segments*: maximal runs of consecutive lines that share one
*owner*, the packed value ``birth_tick << 32 | person`` (see :func:`pack`). A file with S
segments holds two arrays and no Python object per line or per segment:

- ``lengths``: ``array('i')`` of S line counts, top to bottom, each at least 1;
- ``owners``: ``array('Q')`` of S packed owners; neighbours always differ (runs are merged).

That is 12 bytes per segment. Lengths rather than start lines, because nothing has to be
shifted when lines come or go above a segment: :meth:`FileLines.apply` applies one change's
zero-context hunks in one pass that rebuilds both arrays from slices of the old ones (``memcpy``)
plus a few edited segments around each hunk; positions come from one running sum of the
lengths per change (C-level ``itertools.accumulate``), searched with ``bisect``. Building an
``array`` from Python ints costs ~0.2 us an item here, 3-5x the running sum, so shifting stored
start lines after every hunk would cost more than the hunks.

With ``--burndown-files`` a file also carries its own history of line counts: parallel arrays
``(tick, band, delta)``, one entry per tick and age band in which the file changed (entries of
one tick are merged), which follows the file through renames and is spilled with it.

:class:`FileStore` holds the files of a run: a path index, the files touched since the last
hibernation in memory, and the others in *packs* on disk: one file per hibernation and MiB of
state, holding one zstd frame per tracked file, so a file is read back alone. One spill file
per pack rather than per tracked file, because creating a small file costs 0.1-1.5 ms on the
file systems measured, more than all the work done on it in a chunk.

This module knows nothing of commits or results; ``gitstream.analyzers.burndown`` does.
"""

from __future__ import annotations

import struct
import sys
import weakref
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import BinaryIO

import zstandard

from gitstream.errors import SpillError
from gitstream.records import Hunk
from gitstream.streaming.spill import SpillStore

PERSON_BITS = 32
PERSON_MASK = (1 << PERSON_BITS) - 1
MISSING_PERSON = PERSON_MASK
"""The person of lines whose author is not in the people table (hercules' ``AuthorMissing``)."""

_HEADER = struct.Struct("<qqq")  # segments, history entries, flags


def pack(tick: int, person: int) -> int:
    """The owner value of lines born at ``tick`` by ``person``."""
    return (tick << PERSON_BITS) | person


def birth_of(owner: int) -> int:
    return owner >> PERSON_BITS


def person_of(owner: int) -> int:
    return owner & PERSON_MASK


class FileLines:
    """The owners of one text file's lines, plus its optional per-file line-count history."""

    __slots__ = ("h_band", "h_delta", "h_tick", "lengths", "owners")

    def __init__(
        self,
        lengths: array[int],
        owners: array[int],
        history: tuple[array[int], array[int], array[int]] | None = None,
    ) -> None:
        self.lengths = lengths
        self.owners = owners
        if history is None:
            self.h_tick: array[int] | None = None
            self.h_band: array[int] | None = None
            self.h_delta: array[int] | None = None
        else:
            self.h_tick, self.h_band, self.h_delta = history

    @classmethod
    def new(cls, lines: int, owner: int, *, with_history: bool) -> FileLines:
        """A file of ``lines`` lines all owned by ``owner`` (0 lines gives an empty file)."""
        if lines > 0:
            lengths, owners = array("i", (lines,)), array("Q", (owner,))
        else:
            lengths, owners = array("i"), array("Q")
        history = (array("i"), array("i"), array("q")) if with_history else None
        return cls(lengths, owners, history)

    @property
    def lines(self) -> int:
        return sum(self.lengths)

    def segments(self) -> Iterator[tuple[int, int]]:
        """``(owner, lines)`` for every segment, top to bottom."""
        return zip(self.owners, self.lengths, strict=True)

    def clear(self, removed: dict[int, int]) -> None:
        """Remove every line, adding the counts per owner to ``removed``."""
        for owner, n in self.segments():
            removed[owner] = removed.get(owner, 0) + n
        self.lengths = array("i")
        self.owners = array("Q")

    def apply(self, hunks: Sequence[Hunk], owner: int, removed: dict[int, int]) -> int | None:
        """Apply one change's hunks; new lines get ``owner``. Returns the lines added.

        Removed lines are counted per old owner into ``removed``. Hunks use git's zero-context
        convention and must be in ascending order of ``old_start``; positions in the new file
        follow from ``old_start`` and the running offset, so ``new_start`` is not read. Returns
        None, leaving the file untouched, when the hunks do not fit the file (overlapping,
        out of order, or beyond its end).
        """
        lengths, owners = self.lengths, self.owners
        ends = list(accumulate(lengths))  # ends[k]: the line after segment k
        length = ends[-1] if ends else 0
        # Validate first, so a bad change leaves the file as it was.
        p = 0
        for old_start, old_lines, _, _ in hunks:
            a = old_start - 1 if old_lines else old_start
            if a < p or a + old_lines > length or old_lines < 0:
                return None
            p = a + old_lines
        out_lengths: array[int] = array("i")
        out_owners: array[int] = array("Q")
        p = 0  # old lines [0, p) are done
        i = 0  # the segment that holds old line p (len(owners) when p == length)
        added = 0
        for old_start, old_lines, _, new_lines in hunks:
            a = old_start - 1 if old_lines else old_start
            b = a + old_lines
            if a > p:
                # Copy old lines [p, a): the rest of segment i, whole segments, part of j.
                j = bisect_right(ends, a - 1, i)
                if j == i:
                    n, o = a - p, owners[i]
                else:
                    n, o = ends[i] - p, owners[i]
                    if out_owners and out_owners[-1] == o:
                        out_lengths[-1] += n
                    else:
                        out_lengths.append(n)
                        out_owners.append(o)
                    out_lengths.extend(lengths[i + 1 : j])
                    out_owners.extend(owners[i + 1 : j])
                    n, o = a - ends[j - 1], owners[j]
                if out_owners and out_owners[-1] == o:
                    out_lengths[-1] += n
                else:
                    out_lengths.append(n)
                    out_owners.append(o)
                i = j + 1 if ends[j] == a else j
            if old_lines:
                # Count the removed lines [a, b) per owner; i ends on the segment holding b.
                start = ends[i - 1] if i else 0
                while True:
                    end = ends[i]
                    o = owners[i]
                    removed[o] = (
                        removed.get(o, 0) + (end if end < b else b) - (start if start > a else a)
                    )
                    if end >= b:
                        if end == b:
                            i += 1
                        break
                    start = end
                    i += 1
            if new_lines:
                if out_owners and out_owners[-1] == owner:
                    out_lengths[-1] += new_lines
                else:
                    out_lengths.append(new_lines)
                    out_owners.append(owner)
                added += new_lines
            p = b
        if p < length:
            n, o = ends[i] - p, owners[i]
            if out_owners and out_owners[-1] == o:
                out_lengths[-1] += n
            else:
                out_lengths.append(n)
                out_owners.append(o)
            out_lengths.extend(lengths[i + 1 :])
            out_owners.extend(owners[i + 1 :])
        self.lengths = out_lengths
        self.owners = out_owners
        return added

    # -- per-file history -------------------------------------------------------------------

    def record(self, tick: int, band: int, delta: int) -> None:
        """Add ``delta`` lines of age band ``band`` at ``tick`` to the file's own history."""
        h_tick, h_band, h_delta = self.h_tick, self.h_band, self.h_delta
        assert h_tick is not None and h_band is not None and h_delta is not None
        k = len(h_tick) - 1
        while k >= 0 and h_tick[k] == tick:
            if h_band[k] == band:
                h_delta[k] += delta
                return
            k -= 1
        h_tick.append(tick)
        h_band.append(band)
        h_delta.append(delta)

    def history(self) -> Iterator[tuple[int, int, int]]:
        """``(tick, band, delta)`` entries of the file's own history, oldest first."""
        if self.h_tick is None or self.h_band is None or self.h_delta is None:
            return iter(())
        return zip(self.h_tick, self.h_band, self.h_delta, strict=True)

    # -- size and spilling ------------------------------------------------------------------

    def nbytes(self) -> int:
        """Bytes held: the object and its arrays' allocated buffers."""
        total = sys.getsizeof(self) + sys.getsizeof(self.lengths) + sys.getsizeof(self.owners)
        for h in (self.h_tick, self.h_band, self.h_delta):
            if h is not None:
                total += sys.getsizeof(h)
        return total

    def to_bytes(self) -> bytes:
        """The raw arrays behind a small header, in this machine's byte order.

        Spill files never leave the process that wrote them, so native order is safe here.
        """
        nhist = -1 if self.h_tick is None else len(self.h_tick)
        parts = [
            _HEADER.pack(len(self.owners), nhist, 0),
            self.lengths.tobytes(),
            self.owners.tobytes(),
        ]
        if self.h_tick is not None and self.h_band is not None and self.h_delta is not None:
            parts += [self.h_tick.tobytes(), self.h_band.tobytes(), self.h_delta.tobytes()]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> FileLines:
        """The inverse of :meth:`to_bytes`; raises ValueError when ``data`` does not fit."""
        nseg, nhist, _ = _HEADER.unpack_from(data)
        view = memoryview(data)[_HEADER.size :]
        lengths: array[int] = array("i")
        owners: array[int] = array("Q")
        view = _take(lengths, view, nseg)
        view = _take(owners, view, nseg)
        history = None
        if nhist >= 0:
            h_tick: array[int] = array("i")
            h_band: array[int] = array("i")
            h_delta: array[int] = array("q")
            view = _take(h_tick, view, nhist)
            view = _take(h_band, view, nhist)
            view = _take(h_delta, view, nhist)
            history = (h_tick, h_band, h_delta)
        if len(view):
            raise ValueError(f"{len(view)} bytes left over after a file's line state")
        return cls(lengths, owners, history)


def _take(into: array[int], view: memoryview, count: int) -> memoryview:
    size = count * into.itemsize
    if len(view) < size:
        raise ValueError("a file's line state is cut short")
    into.frombytes(view[:size])
    return view[size:]


PACK_BYTES = 256 * 1024
"""Compressed bytes per pack file (about 1 MiB of state): one file created per pack."""
_OPEN_PACKS = 8
_INDEX_KEY = "index"
_LOC_BITS = 32  # a member's location: pack << 64 | offset << 32 | length


class _Pack:
    __slots__ = ("alive", "files")

    def __init__(self, files: int) -> None:
        self.files = self.alive = files


class FileStore:
    """Every tracked file of a run: path index, files in memory, packs on disk.

    A file has an id for life (renames move the id to another path). :meth:`load` returns a
    file's lines, reading them out of their pack if they are on disk; from then on the file
    lives in memory until :meth:`hibernate` writes every file in memory into new packs (in
    path order, so files of one directory share packs) and drops them and the path index.

    A pack is a file of zstd frames, one per member, each with its content checksum; the index
    knows each member's pack, offset and length, so one file is read back alone (seek, read,
    decompress a few KiB). A member read back is dead in its pack; a pack whose members are all
    dead is deleted at once, and at hibernation a pack at most a quarter alive has its live
    frames copied, as they are, into new packs, so the spill directory stays under four times
    the live state (compressed: about the live state in memory). Memory holds only the files
    touched since the last hibernation.
    """

    def __init__(self, spill: SpillStore, *, with_history: bool) -> None:
        self._spill = spill
        self._with_history = with_history
        self._paths: dict[str, int] | None = {}
        self._where: dict[int, int] = {}  # file id -> location, for files on disk
        self._live: dict[int, FileLines] = {}
        self._packs: dict[int, _Pack] = {}
        self._open: dict[int, BinaryIO] = {}  # least recently used first
        # Packs stay open between reads; they are closed at hibernation or with the store.
        weakref.finalize(self, _close_all, self._open)
        self._next_fid = 0
        self._next_pack = 0
        self._compressor = zstandard.ZstdCompressor(level=3, write_checksum=True)
        self._decompressor = zstandard.ZstdDecompressor()

    @property
    def paths(self) -> dict[str, int]:
        """Path -> file id of every tracked file (read back from disk after a hibernation)."""
        paths = self._paths
        if paths is None:
            doc = self._spill.read_json(_INDEX_KEY)
            paths = self._paths = dict(zip(doc["paths"], doc["fids"], strict=True))
            self._where = dict(zip(doc["fids"], doc["where"], strict=True))
        return paths

    def new(self, path: str, lines: int, owner: int) -> FileLines:
        """Track a new file at ``path`` (which must be free) with ``lines`` lines of ``owner``."""
        fid = self._next_fid
        self._next_fid += 1
        self.paths[path] = fid
        fl = self._live[fid] = FileLines.new(lines, owner, with_history=self._with_history)
        return fl

    def load(self, fid: int) -> FileLines:
        """The file's lines, in memory until the next hibernation."""
        fl = self._live.get(fid)
        if fl is None:
            loc = self._where.pop(fid)
            fl = self._live[fid] = self._decode(loc)
            pack = loc >> (2 * _LOC_BITS)
            info = self._packs[pack]
            info.alive -= 1
            if not info.alive:
                self._delete_pack(pack)
        return fl

    def drop(self, fid: int, removed: dict[int, int]) -> None:
        """Forget a file whose path is already out of the index, counting its lines as removed."""
        self.load(fid).clear(removed)
        del self._live[fid]

    def _frame(self, loc: int) -> bytes:
        """The compressed bytes of the member at ``loc``."""
        pack = loc >> (2 * _LOC_BITS)
        length = loc & _LOC_MASK
        try:
            fh = self._open.pop(pack, None)
            if fh is None:
                if len(self._open) >= _OPEN_PACKS:
                    self._open.pop(next(iter(self._open))).close()
                fh = self._spill.path(_pack_key(pack)).open("rb")
            self._open[pack] = fh
            fh.seek((loc >> _LOC_BITS) & _LOC_MASK)
            frame = fh.read(length)
        except OSError as exc:
            raise _spill_error("read", self._spill, pack, exc) from exc
        if len(frame) != length:
            raise _spill_error("read", self._spill, pack, ValueError("truncated"))
        return frame

    def _decode(self, loc: int) -> FileLines:
        frame = self._frame(loc)
        try:
            return FileLines.from_bytes(self._decompressor.decompress(frame))
        except (zstandard.ZstdError, ValueError, struct.error) as exc:
            raise _spill_error("read", self._spill, loc >> (2 * _LOC_BITS), exc) from exc

    def _delete_pack(self, pack: int) -> None:
        del self._packs[pack]
        fh = self._open.pop(pack, None)
        if fh is not None:
            fh.close()
        self._spill.delete(_pack_key(pack))

    def hibernate(self) -> None:
        """Write every file in memory into new packs; drop them and the index from memory."""
        if self._paths is None:
            return
        compress = self._compressor.compress
        order = sorted((path, fid) for path, fid in self._paths.items() if fid in self._live)
        self._write_packs((fid, compress(self._live[fid].to_bytes())) for _, fid in order)
        # Live members of packs at most a quarter alive move to new packs, still compressed.
        sparse = {p for p, info in self._packs.items() if info.alive * 4 <= info.files}
        if sparse:
            shift = 2 * _LOC_BITS
            order = sorted(
                (path, fid)
                for path, fid in self._paths.items()
                if fid in self._where and self._where[fid] >> shift in sparse
            )
            self._write_packs((fid, self._frame(self._where[fid])) for _, fid in order)
            for pack in sparse:
                self._delete_pack(pack)
        _close_all(self._open)
        self._spill.write_json(
            _INDEX_KEY,
            {
                "paths": list(self._paths),
                "fids": list(self._paths.values()),
                "where": [self._where[fid] for fid in self._paths.values()],
            },
        )
        self._paths = None
        self._where = {}
        self._live = {}

    def _write_packs(self, frames: Iterable[tuple[int, bytes]]) -> None:
        out: BinaryIO | None = None
        offset = count = 0
        try:
            for fid, frame in frames:
                try:
                    if out is None:
                        out = self._spill.path(_pack_key(self._next_pack)).open("wb")
                    out.write(frame)
                except OSError as exc:
                    raise _spill_error("write", self._spill, self._next_pack, exc) from exc
                loc = (self._next_pack << _LOC_BITS) | offset
                self._where[fid] = (loc << _LOC_BITS) | len(frame)
                offset += len(frame)
                count += 1
                if offset >= PACK_BYTES:
                    self._close_pack(out, offset, count)
                    out, offset, count = None, 0, 0
        finally:
            if out is not None:
                self._close_pack(out, offset, count)

    def _close_pack(self, out: BinaryIO, size: int, count: int) -> None:
        try:
            out.close()
        except OSError as exc:
            raise _spill_error("write", self._spill, self._next_pack, exc) from exc
        self._packs[self._next_pack] = _Pack(count)
        self._next_pack += 1
        # SpillStore counts what its own writers write; packs are written here, frame by frame.
        self._spill.count_written(size)

    def nbytes(self) -> int:
        """Bytes held in memory: files, index (if loaded) and bookkeeping."""
        total = sys.getsizeof(self._live) + sum(fl.nbytes() for fl in self._live.values())
        total += sys.getsizeof(self._packs) + 100 * len(self._packs)
        total += 8192 * len(self._open)  # the read buffer of each open pack
        if self._paths is not None:
            # The dicts, each path string, each file id and each location int.
            total += sys.getsizeof(self._paths) + sum(map(sys.getsizeof, self._paths))
            total += 32 * len(self._paths) + sys.getsizeof(self._where) + 40 * len(self._where)
        return total

    def sorted_files(self) -> Iterator[tuple[str, FileLines]]:
        """``(path, lines)`` of every file by path; files on disk are read one at a time.

        Nothing is changed, so this can run more than once.
        """
        for path, fid in sorted(self.paths.items()):
            held = self._live.get(fid)
            yield path, held if held is not None else self._decode(self._where[fid])


_LOC_MASK = (1 << _LOC_BITS) - 1


def _close_all(handles: dict[int, BinaryIO]) -> None:
    for fh in handles.values():
        fh.close()
    handles.clear()


def _spill_error(action: str, spill: SpillStore, pack: int, exc: Exception) -> SpillError:
    """A pack file's zstd or OS error as SpillError, worded as ``streaming/spill.py`` does."""
    path = spill.path(_pack_key(pack))
    if isinstance(exc, OSError):
        return SpillError(
            f"cannot {action} spill file {path}: {exc.strerror or exc} "
            "(free disk space or point --spill-dir elsewhere)"
        )
    return SpillError(f"burndown spill pack {path} is corrupted ({action}: {exc})")


def _pack_key(pack: int) -> str:
    return f"pack-{pack}"
