"""Adaptive re-planning: re-size the chunks not yet processed from growth measured per chunk.

The schedule is first sized from the analyzers' *declared* growth. After each chunk the runner
reports what it measured (:class:`ChunkObservation`); :class:`AdaptivePlanner` keeps three
exponential moving averages (alpha 0.3, the first observation seeds each) of bytes per commit:

- working-state growth (the runner's RSS growth of the process tree minus aggregator growth),
- payload (bytes of chunk data the diff stage produced),
- aggregator growth (accumulated output, which spills under ``A`` rather than sizing chunks).

Each observation is floored at 1 KiB per commit. Each EMA is compared with *its own*
prediction (the declared figure until the first replan, for aggregators the first observation
unless declared); when any differs by more than 25%, the chunks after the one just observed
are re-planned with :func:`gitstream.streaming.schedule.replan` (same decomposition, processed
chunks never change) and every prediction becomes its current EMA. codefang compared all three
EMAs with the work prediction, so it re-planned after almost every chunk.

With an unlimited budget the EMAs are tracked for the statistics but nothing is re-planned:
chunk sizes do not depend on growth then. This module does not measure memory
(:mod:`gitstream.streaming.memory`) or run chunks (the runner).
"""

from __future__ import annotations

from dataclasses import dataclass

from gitstream.streaming.planner import ChunkBounds
from gitstream.streaming.schedule import Schedule, replan

__all__ = [
    "EMA_ALPHA",
    "MIN_GROWTH_PER_COMMIT",
    "REPLAN_THRESHOLD",
    "AdaptivePlanner",
    "AdaptiveStats",
    "ChunkObservation",
    "ReplanDecision",
]

EMA_ALPHA = 0.3
"""Weight of the newest observation; about a three-chunk half-life."""
REPLAN_THRESHOLD = 0.25
"""Relative difference between an EMA and its prediction that triggers a replan."""
MIN_GROWTH_PER_COMMIT = 1024
"""Floor of every per-commit observation: RSS can shrink, and a zero would divide later."""


@dataclass(frozen=True, slots=True)
class ChunkObservation:
    """What the runner measured over one processed chunk; byte figures are for the whole chunk.

    ``work_growth_bytes`` may be negative (memory was given back); it is floored per commit.
    """

    chunk: ChunkBounds
    work_growth_bytes: int
    payload_bytes: int
    agg_growth_bytes: int

    @property
    def commits(self) -> int:
        """Commits in the observed chunk."""
        return self.chunk.size


@dataclass(frozen=True, slots=True)
class ReplanDecision:
    """The outcome of one observation.

    ``replanned`` is True when a divergence re-planned the remaining chunks, ``changed`` when
    that altered them. ``remaining`` are the chunks after the observed one, ``schedule`` the
    (possibly new) whole schedule. The ``*_ema`` fields are bytes per commit.
    """

    replanned: bool
    changed: bool
    remaining: list[ChunkBounds]
    schedule: Schedule
    work_ema: float
    payload_ema: float
    agg_ema: float


@dataclass(frozen=True, slots=True)
class AdaptiveStats:
    """Re-planning summary for the result file's ``run`` section; rates in bytes per commit.

    Initial rates are the predictions the run started with: the declared figures, floored at
    1 KiB per commit like every observation (an aggregator rate that was not declared is the
    first observation). Final rates are the EMAs, or the initial rates before any chunk.
    """

    replan_count: int
    chunks_observed: int
    initial_work_growth: float
    initial_payload_growth: float
    initial_agg_growth: float | None
    final_work_growth: float
    final_payload_growth: float
    final_agg_growth: float | None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values, rates rounded to whole bytes."""

        def r(x: float | None) -> int | None:
            return None if x is None else round(x)

        return {
            "replan_count": self.replan_count,
            "chunks_observed": self.chunks_observed,
            "initial_growth": {
                "work": r(self.initial_work_growth),
                "payload": r(self.initial_payload_growth),
                "aggregate": r(self.initial_agg_growth),
            },
            "final_growth": {
                "work": r(self.final_work_growth),
                "payload": r(self.final_payload_growth),
                "aggregate": r(self.final_agg_growth),
            },
        }


class _Tracked:
    """One metric: its EMA and the prediction it is compared with."""

    __slots__ = ("alpha", "ema", "initial", "prediction")

    def __init__(self, prediction: float | None, alpha: float) -> None:
        self.alpha = alpha
        self.prediction = None if prediction is None else max(prediction, MIN_GROWTH_PER_COMMIT)
        self.initial = self.prediction
        self.ema: float | None = None

    def update(self, per_commit: float) -> None:
        x = max(per_commit, MIN_GROWTH_PER_COMMIT)
        self.ema = x if self.ema is None else self.alpha * x + (1 - self.alpha) * self.ema
        if self.prediction is None:  # nothing declared: the first observation is the prediction
            self.prediction = self.initial = self.ema

    def diverges(self, threshold: float) -> bool:
        if self.ema is None or self.prediction is None:
            return False
        return abs(self.ema - self.prediction) > threshold * self.prediction

    def current(self) -> float | None:
        return self.ema if self.ema is not None else self.initial


class AdaptivePlanner:
    """Watches per-chunk growth and re-plans the rest of a :class:`Schedule` when it diverges.

    Feed :meth:`observe` once per processed chunk, in order, with the chunk as planned by the
    current :attr:`schedule`. ``start`` is where processing begins (a chunk boundary; non-zero
    when resuming from a checkpoint). ``agg_growth_per_commit`` is the declared aggregator
    growth, if any.
    """

    def __init__(
        self,
        schedule: Schedule,
        *,
        start: int = 0,
        agg_growth_per_commit: float | None = None,
        alpha: float = EMA_ALPHA,
        threshold: float = REPLAN_THRESHOLD,
    ) -> None:
        if start != 0 and start not in {c.end for c in schedule.chunks}:
            raise ValueError(f"start {start} is not a chunk boundary of the schedule")
        self._schedule = schedule
        self._position = start
        self._threshold = threshold
        self._work = _Tracked(schedule.work_growth_per_commit, alpha)
        self._payload = _Tracked(schedule.payload_per_commit, alpha)
        self._agg = _Tracked(agg_growth_per_commit, alpha)
        self._replans = 0
        self._observed = 0

    @property
    def schedule(self) -> Schedule:
        """The current schedule, including every re-plan so far."""
        return self._schedule

    @property
    def position(self) -> int:
        """Commits processed so far (the start of the next chunk)."""
        return self._position

    def observe(self, obs: ChunkObservation) -> ReplanDecision:
        """Take one chunk's measurements; re-plan the chunks after it if growth diverged."""
        if obs.chunk.start != self._position or obs.chunk not in self._schedule.chunks:
            raise ValueError(
                f"observed chunk [{obs.chunk.start}, {obs.chunk.end}) is not the next planned "
                f"chunk (processed so far: {self._position} commits)"
            )
        commits = obs.commits
        self._work.update(obs.work_growth_bytes / commits)
        self._payload.update(obs.payload_bytes / commits)
        self._agg.update(obs.agg_growth_bytes / commits)
        self._observed += 1
        self._position = obs.chunk.end

        tracked = (self._work, self._payload, self._agg)
        diverged = any(t.diverges(self._threshold) for t in tracked)
        old_remaining = self._schedule.remaining(self._position)
        replanned = False
        if diverged and old_remaining and not self._schedule.unlimited:
            self._schedule = replan(
                self._schedule, self._position, self._ema(self._work), self._ema(self._payload)
            )
            for t in tracked:
                t.prediction = t.ema
            self._replans += 1
            replanned = True
        remaining = self._schedule.remaining(self._position)
        return ReplanDecision(
            replanned=replanned,
            changed=remaining != old_remaining,
            remaining=remaining,
            schedule=self._schedule,
            work_ema=self._ema(self._work),
            payload_ema=self._ema(self._payload),
            agg_ema=self._ema(self._agg),
        )

    @staticmethod
    def _ema(t: _Tracked) -> float:
        assert t.ema is not None  # only called after an update
        return t.ema

    def stats(self) -> AdaptiveStats:
        """The summary so far."""
        work_initial = self._work.initial
        payload_initial = self._payload.initial
        assert work_initial is not None and payload_initial is not None  # declared, floored
        return AdaptiveStats(
            replan_count=self._replans,
            chunks_observed=self._observed,
            initial_work_growth=work_initial,
            initial_payload_growth=payload_initial,
            initial_agg_growth=self._agg.initial,
            final_work_growth=self._work.ema if self._work.ema is not None else work_initial,
            final_payload_growth=(
                self._payload.ema if self._payload.ema is not None else payload_initial
            ),
            final_agg_growth=self._agg.current(),
        )
