"""Cutting a history of commits into contiguous chunks: :class:`ChunkBounds` and :class:`Planner`.

Commits are addressed by their index in the selected history (oldest first), so a chunk is a
half-open range ``[start, end)`` of indices. The planner only cuts: given a total and a chunk
size it returns chunks that are contiguous, cover ``[0, total)`` exactly once and are never
larger than the chunk size.

Sizes are spread evenly rather than leaving a short tail: the number of chunks is
``ceil(commits / chunk_size)`` and the commits are shared out so that chunk sizes differ by at
most one, larger chunks first (1000 commits at size 300 give 250, 250, 250, 250, not
300, 300, 300, 100). A small last chunk would pay a full hibernate/boot cycle for little work.

This module does not decide the chunk size from a memory budget; that is
:mod:`gitstream.streaming.schedule`, which clamps computed sizes to
[:data:`MIN_CHUNK_SIZE`, :data:`MAX_CHUNK_SIZE`]. A size the user forces (``--chunk-size N``,
for tests and debugging) reaches the planner unclamped, so any ``N >= 1`` is accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MAX_CHUNK_SIZE", "MIN_CHUNK_SIZE", "ChunkBounds", "Planner", "clamp_chunk_size"]

MIN_CHUNK_SIZE = 50
"""Smallest computed chunk: below this, hibernate/boot costs dominate the chunk's work."""

MAX_CHUNK_SIZE = 3000
"""Largest computed chunk: bounds the work lost to a crash and the diff stage's buffers."""


@dataclass(frozen=True, slots=True)
class ChunkBounds:
    """Commits ``start`` (inclusive) to ``end`` (exclusive) of the selected history."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a chunk needs 0 <= start < end, got [{self.start}, {self.end})")

    @property
    def size(self) -> int:
        """Number of commits in the chunk."""
        return self.end - self.start

    def to_dict(self) -> dict[str, int]:
        """``{"start": ..., "end": ...}`` for JSON output and checkpoints."""
        return {"start": self.start, "end": self.end}


def clamp_chunk_size(size: int) -> int:
    """``size`` bounded to [:data:`MIN_CHUNK_SIZE`, :data:`MAX_CHUNK_SIZE`]."""
    return max(MIN_CHUNK_SIZE, min(MAX_CHUNK_SIZE, size))


@dataclass(frozen=True, slots=True)
class Planner:
    """Cuts ``total_commits`` commits into chunks of at most ``chunk_size`` commits each."""

    total_commits: int
    chunk_size: int

    def __post_init__(self) -> None:
        if self.total_commits < 0:
            raise ValueError(f"total_commits must be >= 0, got {self.total_commits}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")

    def plan(self) -> list[ChunkBounds]:
        """Chunks covering every commit; empty when there are no commits."""
        return self.plan_from(0)

    def plan_from(self, start: int) -> list[ChunkBounds]:
        """Chunks covering ``[start, total_commits)``, for re-planning after ``start`` commits.

        Chunks before ``start`` are the caller's to keep; this never returns them.
        """
        if not 0 <= start <= self.total_commits:
            raise ValueError(f"start must be in [0, {self.total_commits}], got {start}")
        remaining = self.total_commits - start
        if remaining == 0:
            return []
        count = -(-remaining // self.chunk_size)  # ceil
        base, extra = divmod(remaining, count)
        chunks: list[ChunkBounds] = []
        pos = start
        for i in range(count):
            size = base + 1 if i < extra else base
            chunks.append(ChunkBounds(pos, pos + size))
            pos += size
        return chunks
