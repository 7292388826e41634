"""The chunk loop: diff a chunk, feed every analyzer, measure, re-plan, hibernate, boot.

For each chunk of the schedule the diff stage streams the chunk's commits as records; each
record goes to every analyzer in order. After the chunk the runner measures the RSS of the whole
process tree and the analyzers' own state sizes, records a telemetry line, lets the adaptive
planner re-plan the chunks not yet processed, then hibernates every analyzer (their state goes
to zstd spill files) and gives native memory back before the next chunk boots them, when the
next chunk needs the room: when the state held plus the next chunk's expected growth would not
fit the working share ``W`` of the budget, and at every boundary of forced chunks
(``--chunk-size``). Hibernating costs a write and a read of every analyzer's state; a chunk
that fits anyway skips it.

Inside a chunk the tree's RSS is checked every ``check_every`` commits: at critical pressure
(90% of the budget) the analyzers hibernate at once, mid-chunk, instead of waiting for the
boundary. This module does not choose commits, compute diffs or write reports.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from gitstream.analyzers.base import Analyzer
from gitstream.errors import BudgetExceeded
from gitstream.records import CommitRecord
from gitstream.streaming.adaptive import AdaptivePlanner, ChunkObservation
from gitstream.streaming.memory import (
    PressureLevel,
    pressure,
    process_tree_rss,
    release_native_memory,
)
from gitstream.streaming.schedule import Schedule, effective_growth
from gitstream.streaming.spill import SpillStore
from gitstream.streaming.telemetry import ChunkTelemetry

ProgressCallback = Callable[[int, int], None]
"""Called with (commits done, total commits) as commits are consumed."""

ChunkCallback = Callable[[ChunkTelemetry], None]


@dataclass
class RunTotals:
    """What the loop did, for the result's ``run`` section."""

    chunks: int = 0
    commits: int = 0
    hibernations: int = 0
    emergency_hibernations: int = 0
    hibernate_ms: float = 0.0
    boot_ms: float = 0.0
    telemetry: list[ChunkTelemetry] = field(default_factory=list)


class Runner:
    """Runs the analyzers over the schedule's chunks; see the module docstring."""

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        schedule: Schedule,
        records: Iterator[CommitRecord],
        spill: SpillStore,
        *,
        payload_bytes: Callable[[], int] = lambda: 0,
        on_progress: ProgressCallback | None = None,
        on_chunk: ChunkCallback | None = None,
        check_every: int = 32,
    ) -> None:
        self.analyzers = list(analyzers)
        self.planner = AdaptivePlanner(
            schedule,
            agg_growth_per_commit=None,
        )
        self.records = records
        self.spill = spill
        self.payload_bytes = payload_bytes
        self.on_progress = on_progress
        self.on_chunk = on_chunk
        self.check_every = max(1, check_every)
        self.totals = RunTotals()
        self.budget = schedule.budget_bytes

    def _state(self) -> tuple[int, int]:
        return (
            sum(a.state_size() for a in self.analyzers),
            sum(a.aggregate_size() for a in self.analyzers),
        )

    def _hibernate(self) -> float:
        t0 = time.perf_counter()
        for a in self.analyzers:
            a.hibernate()
        release_native_memory()
        ms = (time.perf_counter() - t0) * 1000
        self.totals.hibernations += 1
        self.totals.hibernate_ms += ms
        return ms

    def _boot(self) -> float:
        t0 = time.perf_counter()
        for a in self.analyzers:
            a.boot()
        ms = (time.perf_counter() - t0) * 1000
        self.totals.boot_ms += ms
        return ms

    def _must_hibernate(self, held: int, next_size: int, growth_ema: float) -> bool:
        """Whether the analyzers hibernate before the next chunk.

        Always when chunks were forced (``--chunk-size``: the boundaries were asked for).
        Otherwise only when the state they hold plus the next chunk's expected growth, with
        the schedule's +50% margin, would not fit the working share ``W``: hibernating costs
        a write and a read of every analyzer's state, and buys nothing when the next chunk
        fits anyway. With no budget it buys nothing at all.
        """
        schedule = self.planner.schedule
        if schedule.forced:
            return True
        if schedule.unlimited:
            return False
        expected = next_size * effective_growth(max(growth_ema, 0.0))
        return held + expected > schedule.work_bytes

    def _emergency(self, rss: int) -> float:
        """Hibernate now, mid-chunk: the budget is a promise, not a target.

        If even with every analyzer's state on disk the tree stays over the budget, going on
        would break the promise: stop with the figure the run needs.
        """
        assert self.budget is not None
        ms = self._hibernate()
        self.totals.emergency_hibernations += 1
        after = process_tree_rss()
        if after > self.budget:
            raise BudgetExceeded(
                f"the analysis needs {after / 2**20:.0f} MiB with every analyzer's state "
                f"spilled to disk, over the {self.budget / 2**20:.0f} MiB budget; "
                f"use --memory {int(after * 1.25 / 2**20) + 1}MiB or more"
            )
        return ms + self._boot()

    def run(self) -> RunTotals:
        """Process every chunk; the analyzers are left booted, ready to finalize."""
        total = self.planner.schedule.total_commits
        done = 0
        chunk_index = 0
        pending = list(self.planner.schedule.chunks)
        boot_ms = 0.0
        while pending:
            chunk = pending.pop(0)
            t0 = time.perf_counter()
            spill_before = self.spill.bytes_written
            rss_before = process_tree_rss()
            work_before, agg_before = self._state()
            payload_before = self.payload_bytes()
            peak_rss = rss_before
            extra_hib_ms = 0.0
            n = 0
            for record in itertools.islice(self.records, chunk.size):
                for a in self.analyzers:
                    a.consume(record)
                n += 1
                # Counted from the start of the run, not of the chunk: chunks may be shorter
                # than the check interval, and small budgets are where checks matter most.
                if (done + n) % self.check_every == 0:
                    if self.on_progress is not None:
                        self.on_progress(done + n, total)
                    if self.budget is not None:
                        rss = process_tree_rss()
                        peak_rss = max(peak_rss, rss)
                        if pressure(rss, self.budget) is PressureLevel.CRITICAL:
                            extra_hib_ms += self._emergency(rss)
            if n != chunk.size:
                raise RuntimeError(f"chunk {chunk} produced {n} records")
            done += n
            if self.on_progress is not None:
                self.on_progress(done, total)
            rss_after = process_tree_rss()
            work_after, agg_after = self._state()
            payload = self.payload_bytes() - payload_before
            work_growth = max(
                work_after - work_before, rss_after - rss_before - (agg_after - agg_before)
            )
            decision = self.planner.observe(
                ChunkObservation(
                    chunk=chunk,
                    work_growth_bytes=work_growth,
                    payload_bytes=payload,
                    agg_growth_bytes=agg_after - agg_before,
                )
            )
            pending = list(decision.remaining)
            hib_ms = 0.0
            boot_ms = 0.0
            # What the analyzers hold beyond P, by their own count or by the tree's RSS (less
            # the aggregators, which have their own share), whichever is larger.
            held = max(work_after, rss_after - agg_after - self.planner.schedule.overhead_bytes)
            if pending and self._must_hibernate(held, pending[0].size, decision.work_ema):
                hib_ms = self._hibernate()
                boot_ms = self._boot()
            rss_peak = max(rss_after, peak_rss)
            rec = ChunkTelemetry(
                chunk=chunk_index,
                start=chunk.start,
                end=chunk.end,
                commits=n,
                rss_before=rss_before,
                rss_after=rss_peak,
                budget_bytes=self.budget,
                budget_used_pct=None if self.budget is None else 100 * rss_peak / self.budget,
                growth_per_commit=work_growth / max(n, 1),
                ema_growth=decision.work_ema,
                replanned=decision.replanned,
                hibernate_ms=hib_ms + extra_hib_ms,
                boot_ms=boot_ms,
                spill_bytes=self.spill.bytes_written - spill_before,
                duration_s=time.perf_counter() - t0,
                chunks_total=chunk_index + 1 + len(pending),
            )
            self.totals.telemetry.append(rec)
            if self.on_chunk is not None:
                self.on_chunk(rec)
            chunk_index += 1
        self.totals.chunks = chunk_index
        self.totals.commits = done
        return self.totals
