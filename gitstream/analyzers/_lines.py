"""Line ownership of one file as run-length segments in flat arrays, for the burndown analyzer.

A file's lines are cut into *segments*: maximal runs of consecutive lines that share one
*owner*, the packed value ``birth_tick << 32 | person`` (see :func:`pack`). A file with S
segments holds two arrays and no Python object per line or per segment:

- ``starts``: ``array('i')`` of S + 1 ints, the first line of each segment (0-based) and, last,
  the number of lines (a sentinel), so segment k covers lines ``starts[k] .. starts[k+1] - 1``;
- ``owners``: ``array('Q')`` of S packed owners; neighbours always differ (runs are merged).

That is 12 bytes per segment. :meth:`FileLines.apply` applies one file change's zero-context
hunks in one pass that rebuilds both arrays from slices of the old ones, so the cost is a few
``memcpy`` calls plus, for the part after the first hunk whose size changes, one C-level shift.

With ``--burndown-files`` a file also carries its own history of line counts: parallel arrays
``(tick, band, delta)``, one entry per tick and age band in which the file changed (entries of
one tick are merged), which follows the file through renames and is spilled with it.

This module knows nothing of commits, spill files or results; ``gitstream.analyzers.burndown``
does.
"""

from __future__ import annotations

import struct
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence

from gitstream.records import Hunk

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

    __slots__ = ("h_band", "h_delta", "h_tick", "owners", "starts")

    def __init__(
        self,
        starts: array[int],
        owners: array[int],
        history: tuple[array[int], array[int], array[int]] | None = None,
    ) -> None:
        self.starts = starts
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
            starts, owners = array("i", (0, lines)), array("Q", (owner,))
        else:
            starts, owners = array("i", (0,)), array("Q")
        history = (array("i"), array("i"), array("q")) if with_history else None
        return cls(starts, owners, history)

    @property
    def lines(self) -> int:
        return self.starts[-1]

    def segments(self) -> Iterator[tuple[int, int]]:
        """``(owner, lines)`` for every segment, top to bottom."""
        starts = self.starts
        for k, owner in enumerate(self.owners):
            yield owner, starts[k + 1] - starts[k]

    def clear(self, removed: dict[int, int]) -> None:
        """Remove every line, adding the counts per owner to ``removed``."""
        for owner, n in self.segments():
            removed[owner] = removed.get(owner, 0) + n
        self.starts = array("i", (0,))
        self.owners = array("Q")

    def apply(self, hunks: Sequence[Hunk], owner: int, removed: dict[int, int]) -> int | None:
        """Apply one change's hunks; new lines get ``owner``. Returns the lines added.

        Removed lines are counted per old owner into ``removed``. Hunks use git's zero-context
        convention and must be in ascending order of ``old_start``; positions in the new file
        follow from ``old_start`` and the running offset, so ``new_start`` is not read. Returns
        None, leaving the file untouched, when the hunks do not fit the file (overlapping,
        out of order, or beyond its end).
        """
        starts, owners = self.starts, self.owners
        length = starts[-1]
        # Validate first, so a bad change leaves the file as it was.
        p = 0
        for old_start, old_lines, _, _ in hunks:
            a = old_start - 1 if old_lines else old_start
            if a < p or a + old_lines > length or old_lines < 0:
                return None
            p = a + old_lines
        nseg = len(owners)
        new_starts: array[int] = array("i")
        new_owners: array[int] = array("Q")
        shift = 0  # new position - old position, for old lines not yet copied
        p = 0  # old lines [0, p) are done
        i = 0  # the segment that contains old line p (nseg when p == length)
        added = 0
        for old_start, old_lines, _, new_lines in hunks:
            a = old_start - 1 if old_lines else old_start
            b = a + old_lines
            if a > p:
                # Copy old lines [p, a): the tail of segment i, then whole segments up to j.
                j = bisect_right(starts, a - 1, i) - 1
                if not new_owners or new_owners[-1] != owners[i]:
                    new_starts.append(p + shift)
                    new_owners.append(owners[i])
                if j > i:
                    piece = starts[i + 1 : j + 1]
                    new_starts.extend(array("i", map(shift.__add__, piece)) if shift else piece)
                    new_owners.extend(owners[i + 1 : j + 1])
                i = j
            if old_lines:
                # Count the removed lines [a, b) per owner; i ends on the segment holding b.
                if starts[i + 1] <= a:
                    i = bisect_right(starts, a, i) - 1
                while True:
                    end = starts[i + 1]
                    lo = starts[i] if starts[i] > a else a
                    hi = end if end < b else b
                    o = owners[i]
                    removed[o] = removed.get(o, 0) + hi - lo
                    if end >= b:
                        if end == b:
                            i += 1
                        break
                    i += 1
            if new_lines:
                if not new_owners or new_owners[-1] != owner:
                    new_starts.append(a + shift)
                    new_owners.append(owner)
                added += new_lines
            shift += new_lines - old_lines
            p = b
            if p < length and starts[i + 1] <= p:
                i = bisect_right(starts, p, i) - 1
        if p < length:
            if not new_owners or new_owners[-1] != owners[i]:
                new_starts.append(p + shift)
                new_owners.append(owners[i])
            piece = starts[i + 1 : nseg]
            new_starts.extend(array("i", map(shift.__add__, piece)) if shift else piece)
            new_owners.extend(owners[i + 1 :])
        new_starts.append(length + shift)
        self.starts = new_starts
        self.owners = new_owners
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
        total = sys.getsizeof(self) + sys.getsizeof(self.starts) + sys.getsizeof(self.owners)
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
            self.starts.tobytes(),
            self.owners.tobytes(),
        ]
        if self.h_tick is not None and self.h_band is not None and self.h_delta is not None:
            parts += [self.h_tick.tobytes(), self.h_band.tobytes(), self.h_delta.tobytes()]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> FileLines:
        """The inverse of :meth:`to_bytes`; raises ValueError when ``data`` does not fit."""
        nseg, nhist, _ = _HEADER.unpack_from(data)
        view = memoryview(data)[_HEADER.size :]
        starts: array[int] = array("i")
        owners: array[int] = array("Q")
        view = _take(starts, view, nseg + 1)
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
        return cls(starts, owners, history)


def _take(into: array[int], view: memoryview, count: int) -> memoryview:
    size = count * into.itemsize
    if len(view) < size:
        raise ValueError("a file's line state is cut short")
    into.frombytes(view[:size])
    return view[size:]
