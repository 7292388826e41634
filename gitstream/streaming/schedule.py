"""Sizing chunks from a memory budget: the ``B = P + W + A + C + S`` decomposition.

:func:`compute_schedule` splits the budget ``B`` the user gave (``--memory``) into

- ``S``, 5% slack (allocator fragmentation, measurement lag between RSS samples);
- ``P``, the overhead the caller measured: RSS after start-up, the capped git/libgit2 caches and
  the diff subprocess;
- of what remains (``0.95 B - P``): ``W`` = 60% for the analyzers' working state, ``A`` = 30%
  for aggregators' accumulated output before they spill, ``C`` = 10% for chunk data in flight
  (the diff stage's buffers and any chunk prepared ahead, which bounds prefetch).

Each share is rounded down and the rounding goes to ``S``, so ``P + W + A + C + S == B``
exactly. The chunk size is ``W / (bf * growth * 1.5)`` (the +50% safety margin on the
analyzers' declared growth is codefang's), also bounded so that ``bf * chunk * payload <= C``,
and clamped to [50, 3000]; the buffering factor ``bf`` is the highest in ``[1, max_buffering]``
that still gives chunks of at least 50 commits. A budget too small for one 50-commit chunk is a
:class:`~gitstream.errors.UsageError` naming :func:`minimum_budget`.

:func:`replan` re-sizes the chunks not yet processed with the *same* decomposition and new
growth figures (codefang used a different, legacy formula on replans, so replanned chunks
could outgrow the initial schedule). Deciding *when* to replan is
:mod:`gitstream.streaming.adaptive`; cutting chunks is :mod:`gitstream.streaming.planner`;
measuring memory is :mod:`gitstream.streaming.memory`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from gitstream.config import format_size
from gitstream.errors import UsageError
from gitstream.streaming.planner import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ChunkBounds, Planner

__all__ = [
    "AGG_PCT",
    "CHUNK_DATA_PCT",
    "DEFAULT_MAX_BUFFERING",
    "SLACK_PCT",
    "WORK_PCT",
    "Schedule",
    "SchedulerConfig",
    "compute_schedule",
    "effective_growth",
    "minimum_budget",
    "replan",
]

SLACK_PCT = 5
"""Share of the whole budget kept free."""
WORK_PCT = 60
"""Share of ``0.95 B - P`` for the analyzers' working state (``W``)."""
AGG_PCT = 30
"""Share of ``0.95 B - P`` for aggregators' output before they spill (``A``)."""
CHUNK_DATA_PCT = 10
"""Share of ``0.95 B - P`` for chunk data in flight (``C``)."""
DEFAULT_MAX_BUFFERING = 2
"""Chunks in flight at most: the one being consumed and one being prepared ahead."""

_MIB = 1024 * 1024


def effective_growth(work_growth_per_commit: int | float) -> int:
    """Declared working-state growth per commit with the +50% safety margin, rounded up."""
    return math.ceil(work_growth_per_commit * 3 / 2)


def minimum_budget(
    overhead_bytes: int,
    work_growth_per_commit: int | float,
    payload_per_commit: int | float = 0,
    chunk_size: int = MIN_CHUNK_SIZE,
) -> int:
    """The smallest budget in which one chunk of ``chunk_size`` commits fits, in bytes.

    "Fits" means the chunk's working state (with the safety margin) fits ``W`` and its payload
    fits ``C``, with buffering factor 1.
    """
    growth = effective_growth(work_growth_per_commit)
    payload = math.ceil(payload_per_commit)
    need_work = -(-chunk_size * growth * 100 // WORK_PCT)
    need_data = -(-chunk_size * payload * 100 // CHUNK_DATA_PCT)
    remaining = max(1, need_work, need_data)
    return -(-(overhead_bytes + remaining) * 100 // (100 - SLACK_PCT))


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """What the schedule is computed from; all sizes in bytes.

    ``budget_bytes`` None means unlimited. ``overhead_bytes`` is measured by the caller (RSS
    after start-up + capped git/libgit2 caches + the diff subprocess). The growth figures are
    sums over the selected analyzers' declarations. ``forced_chunk_size`` (``--chunk-size``)
    replaces the computed size and may be any value >= 1.
    """

    total_commits: int
    budget_bytes: int | None
    overhead_bytes: int = 0
    work_growth_per_commit: int = 0
    payload_per_commit: int = 0
    max_buffering: int = DEFAULT_MAX_BUFFERING
    forced_chunk_size: int | None = None

    def __post_init__(self) -> None:
        if self.total_commits < 0:
            raise ValueError(f"total_commits must be >= 0, got {self.total_commits}")
        if self.budget_bytes is not None and self.budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive or None, got {self.budget_bytes}")
        for name in ("overhead_bytes", "work_growth_per_commit", "payload_per_commit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_buffering < 1:
            raise ValueError(f"max_buffering must be >= 1, got {self.max_buffering}")
        if self.forced_chunk_size is not None and self.forced_chunk_size < 1:
            raise ValueError(f"forced_chunk_size must be >= 1, got {self.forced_chunk_size}")


@dataclass(frozen=True)
class Schedule:
    """A budget's decomposition and the chunks planned from it.

    When ``budget_bytes`` is None (unlimited) the shares ``work_bytes``, ``agg_spill_bytes``,
    ``chunk_data_bytes`` and ``slack_bytes`` are 0, meaning *no limit*, not *no room*; test
    :attr:`unlimited` before using them as bounds. ``chunks`` covers every commit, processed or
    not, and must not be mutated; :func:`replan` returns a new schedule.
    """

    total_commits: int
    budget_bytes: int | None
    overhead_bytes: int
    work_bytes: int
    agg_spill_bytes: int
    slack_bytes: int
    chunk_data_bytes: int
    chunk_size: int
    buffering_factor: int
    max_buffering: int
    work_growth_per_commit: int
    payload_per_commit: int
    forced: bool
    chunks: list[ChunkBounds] = field(default_factory=list)

    @property
    def unlimited(self) -> bool:
        """True when there is no budget, so the shares are not limits."""
        return self.budget_bytes is None

    def remaining(self, start: int) -> list[ChunkBounds]:
        """The planned chunks that begin at or after commit ``start``."""
        return [c for c in self.chunks if c.start >= start]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values; chunks as ``[start, end]`` pairs."""
        return {
            "total_commits": self.total_commits,
            "budget_bytes": self.budget_bytes,
            "overhead_bytes": self.overhead_bytes,
            "work_bytes": self.work_bytes,
            "agg_spill_bytes": self.agg_spill_bytes,
            "slack_bytes": self.slack_bytes,
            "chunk_data_bytes": self.chunk_data_bytes,
            "chunk_size": self.chunk_size,
            "buffering_factor": self.buffering_factor,
            "max_buffering": self.max_buffering,
            "work_growth_per_commit": self.work_growth_per_commit,
            "payload_per_commit": self.payload_per_commit,
            "forced": self.forced,
            "chunk_count": len(self.chunks),
            "chunks": [[c.start, c.end] for c in self.chunks],
        }


def _largest_fitting(
    work: int, chunk_data: int, growth: int, payload: int, max_bf: int
) -> tuple[int, int] | None:
    """(chunk size, bf) for the highest bf giving >= MIN_CHUNK_SIZE commits, else None."""
    for bf in range(max_bf, 0, -1):
        size = MAX_CHUNK_SIZE
        if growth:
            size = min(size, work // (bf * growth))
        if payload:
            size = min(size, chunk_data // (bf * payload))
        if size >= MIN_CHUNK_SIZE:
            return size, bf
    return None


def _forced_buffering(
    size: int, work: int, chunk_data: int, growth: int, payload: int, max_bf: int
) -> int:
    """The highest bf at which ``size``-commit chunks fit ``W`` and ``C``; 1 if none does."""
    for bf in range(max_bf, 0, -1):
        if bf * size * growth <= work and bf * size * payload <= chunk_data:
            return bf
    return 1


def _size(
    forced: int | None, work_growth: int, payload: int, max_bf: int, work: int, chunk_data: int
) -> tuple[int, int]:
    """(chunk size, bf) for a limited budget, falling back to (50, 1) when nothing fits."""
    growth = effective_growth(work_growth)
    if forced is not None:
        return forced, _forced_buffering(forced, work, chunk_data, growth, payload, max_bf)
    fit = _largest_fitting(work, chunk_data, growth, payload, max_bf)
    return fit if fit is not None else (MIN_CHUNK_SIZE, 1)


def compute_schedule(cfg: SchedulerConfig) -> Schedule:
    """The decomposition of ``cfg.budget_bytes`` and the chunks it gives.

    Raises UsageError when the budget cannot hold one chunk (of 50 commits, or of the forced
    size), naming the minimum budget.
    """
    forced = cfg.forced_chunk_size is not None
    if cfg.budget_bytes is None:
        size = cfg.forced_chunk_size or MAX_CHUNK_SIZE
        return Schedule(
            total_commits=cfg.total_commits,
            budget_bytes=None,
            overhead_bytes=cfg.overhead_bytes,
            work_bytes=0,
            agg_spill_bytes=0,
            slack_bytes=0,
            chunk_data_bytes=0,
            chunk_size=size,
            buffering_factor=cfg.max_buffering,
            max_buffering=cfg.max_buffering,
            work_growth_per_commit=cfg.work_growth_per_commit,
            payload_per_commit=cfg.payload_per_commit,
            forced=forced,
            chunks=Planner(cfg.total_commits, size).plan(),
        )

    one_chunk = cfg.forced_chunk_size or MIN_CHUNK_SIZE
    needed = minimum_budget(
        cfg.overhead_bytes, cfg.work_growth_per_commit, cfg.payload_per_commit, one_chunk
    )
    if cfg.budget_bytes < needed:
        raise UsageError(_too_small(cfg, needed, one_chunk))

    remaining = cfg.budget_bytes * (100 - SLACK_PCT) // 100 - cfg.overhead_bytes
    work = remaining * WORK_PCT // 100
    agg = remaining * AGG_PCT // 100
    chunk_data = remaining * CHUNK_DATA_PCT // 100
    slack = cfg.budget_bytes - cfg.overhead_bytes - work - agg - chunk_data
    size, bf = _size(
        cfg.forced_chunk_size,
        cfg.work_growth_per_commit,
        cfg.payload_per_commit,
        cfg.max_buffering,
        work,
        chunk_data,
    )
    return Schedule(
        total_commits=cfg.total_commits,
        budget_bytes=cfg.budget_bytes,
        overhead_bytes=cfg.overhead_bytes,
        work_bytes=work,
        agg_spill_bytes=agg,
        slack_bytes=slack,
        chunk_data_bytes=chunk_data,
        chunk_size=size,
        buffering_factor=bf,
        max_buffering=cfg.max_buffering,
        work_growth_per_commit=cfg.work_growth_per_commit,
        payload_per_commit=cfg.payload_per_commit,
        forced=forced,
        chunks=Planner(cfg.total_commits, size).plan(),
    )


def _too_small(cfg: SchedulerConfig, needed: int, one_chunk: int) -> str:
    assert cfg.budget_bytes is not None
    suggestion = f"--memory {-(-needed // _MIB)}MiB"
    what = (
        f"--chunk-size {one_chunk} needs"
        if cfg.forced_chunk_size is not None
        else "these analyzers need"
    )
    return (
        f"memory budget {format_size(cfg.budget_bytes)} is too small: {what} at least "
        f"{format_size(needed)} ({needed} bytes) for one chunk of {one_chunk} commits "
        f"(overhead {format_size(cfg.overhead_bytes)}, working state "
        f"{format_size(cfg.work_growth_per_commit)}/commit); use {suggestion} or more"
        + (", or a smaller --chunk-size" if cfg.forced_chunk_size is not None else "")
    )


def replan(
    schedule: Schedule,
    start: int,
    work_growth_per_commit: int | float,
    payload_per_commit: int | float,
) -> Schedule:
    """``schedule`` with the chunks from commit ``start`` on re-sized for new growth figures.

    The decomposition (``W``, ``A``, ``C``, ``S``) is unchanged and so is every chunk ending at
    or before ``start``, which must be 0, the total, or the end of a planned chunk. The buffering
    factor is chosen again as in :func:`compute_schedule`. A forced chunk size stays forced.
    Unlike :func:`compute_schedule` this never raises for a budget that has become too small:
    mid-run the chunks fall back to 50 commits with bf 1 and the runner's pressure checks take
    over.
    """
    boundaries = {0, schedule.total_commits} | {c.end for c in schedule.chunks}
    if start not in boundaries:
        raise ValueError(f"replan start {start} is not a chunk boundary of the schedule")
    work_growth = math.ceil(work_growth_per_commit)
    payload = math.ceil(payload_per_commit)
    if schedule.unlimited:
        size, bf = schedule.chunk_size, schedule.buffering_factor
    else:
        size, bf = _size(
            schedule.chunk_size if schedule.forced else None,
            work_growth,
            payload,
            schedule.max_buffering,
            schedule.work_bytes,
            schedule.chunk_data_bytes,
        )
    kept = [c for c in schedule.chunks if c.end <= start]
    return dataclasses.replace(
        schedule,
        work_growth_per_commit=work_growth,
        payload_per_commit=payload,
        chunk_size=size,
        buffering_factor=bf,
        chunks=kept + Planner(schedule.total_commits, size).plan_from(start),
    )
