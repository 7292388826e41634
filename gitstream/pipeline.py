"""One analysis from configuration to result document: walk, plan, run the chunks, finalize.

:func:`prepare` opens the repository, selects the commits and computes the schedule (that is
all ``gitstream plan`` needs); :func:`analysis` runs everything and yields the result document
while the spill directory still exists, so lazy analyzer results can be streamed to a file;
:func:`analyze` returns the document as plain dicts and lists, for tests and small histories.
This module does not render anything (``cli.py`` and ``gitstream.report`` do).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitstream.analyzers.base import (
    AnalysisContext,
    Analyzer,
    LazyMapping,
    aggregate_shares,
    materialize,
    resolve,
)
from gitstream.config import AnalysisConfig
from gitstream.errors import UsageError
from gitstream.git.diff import DiffStage, PathFilter
from gitstream.git.prefetch import (
    MIN_PARALLEL_SEGMENT,
    MIN_PREFETCH_BYTES,
    diff_stream,
    segment_size,
)
from gitstream.git.repo import (
    GitCaps,
    cap_libgit2_memory,
    diff_algorithm,
    git_caps,
    git_dir,
    open_repository,
)
from gitstream.git.walk import History, select_commits
from gitstream.streaming.memory import PeakSampler, process_tree_rss, release_native_memory
from gitstream.streaming.planner import MAX_CHUNK_SIZE
from gitstream.streaming.runner import ChunkCallback, ProgressCallback, Runner, RunTotals
from gitstream.streaming.schedule import (
    Schedule,
    SchedulerConfig,
    compute_schedule,
    minimum_budget,
)
from gitstream.streaming.spill import SpillCleanupGuard, SpillStore
from gitstream.streaming.telemetry import ChunkTelemetry, TelemetryWriter

SCHEMA = "gitstream/1"
RESERVE_BYTES = 40 * 1024 * 1024


@dataclass(frozen=True)
class Prepared:
    """Everything known before the first diff: commits, people, analyzers and the plan."""

    config: AnalysisConfig
    repo: pygit2.Repository
    history: History
    analyzer_classes: tuple[type[Analyzer], ...]
    schedule: Schedule
    startup_rss: int
    workers: int
    """git processes diffing at once (``--workers``, or chosen from cores and budget)."""
    git: GitCaps
    """Each git's caches (delta bases, mapped packs): counted in P and passed to the diff stage."""
    segment: int
    """Commits each git diffs (:func:`segment_size`): its growth is counted in P."""


def prepare(config: AnalysisConfig) -> Prepared:
    """Open the repository, select commits, resolve analyzers and compute the schedule."""
    cap_libgit2_memory()
    classes = tuple(resolve(list(config.analyzers)))
    repo = open_repository(config.repo)
    history = select_commits(
        repo,
        config.rev,
        full_history=config.full_history,
        since=config.since,
        until=config.until,
        exact_identities=config.exact_identities,
        tick_seconds=max(1, int(config.tick_size_hours * 3600)),
    )
    # The walk leaves libgit2's pack windows mapped (~20 MiB on 20k commits); nothing needs
    # them until the next walk, so give them back before measuring the overhead.
    repo.free()
    release_native_memory()
    rss = process_tree_rss()
    # P: this process as it stands after the walk, plus the git subprocess every segment of
    # commits starts (part of the process tree, so part of the budget).
    # RESERVE: what the analyzers hold that does not hibernate (per-file lineage tables, the
    # burndown history, allocator slack): measured +39 MiB over a 30k-commit, 6k-file history
    # with every analyzer at a 128 MiB budget, which took the tree 5% over. Counting it in P
    # is what makes the minimum budget one the engine can honour.
    caps = git_caps(repo, config.memory_bytes)
    # The walk's own peak (libgit2's windows, its commit list) came before any git subprocess;
    # the larger of the two is what the process tree has already needed.
    own_peak = _own_high_water_mark()

    def segment_for(workers: int) -> int:
        return segment_size(len(history.commits), workers, config.memory_bytes)

    def plan_for(workers: int) -> tuple[GitCaps, Schedule]:
        segment = segment_for(workers)

        def schedule_with(git: GitCaps) -> Schedule:
            # Every git diffing at once is part of the process tree: each extra worker's git
            # counts in P as the first one does.
            git_each = git.estimate(segment)
            overhead = max(own_peak, rss + git_each) + RESERVE_BYTES
            return compute_schedule(
                SchedulerConfig(
                    total_commits=len(history.commits),
                    budget_bytes=config.memory_bytes,
                    overhead_bytes=overhead + (workers - 1) * git_each,
                    work_growth_per_commit=sum(c.work_bytes_per_commit for c in classes),
                    payload_per_commit=sum(c.payload_bytes_per_commit for c in classes),
                    forced_chunk_size=config.chunk_size,
                )
            )

        schedule = schedule_with(caps)
        richer = _grown_caps(caps, schedule, workers)
        if richer == caps:
            return caps, schedule
        return richer, schedule_with(richer)

    if config.workers is not None:
        workers = config.workers
        try:
            git, schedule = plan_for(workers)
        except UsageError as exc:
            if workers == 1:
                raise
            raise UsageError(
                f"{exc}; or fewer --workers: each of the {workers} gits counts in the overhead"
            ) from exc
    else:
        workers, (git, schedule) = _default_workers(plan_for, len(history.commits))
    return Prepared(
        config, repo, history, classes, schedule, rss, workers, git, segment_for(workers)
    )


def _grown_caps(caps: GitCaps, schedule: Schedule, workers: int) -> GitCaps:
    """``caps`` with each git's delta cache grown by its part of the budget's spare
    (:func:`_spare_delta_cache`), up to what the packs can use and 1 GiB; ``caps`` when
    there is nothing to give."""
    useful = max(caps.delta_cache, caps.useful_delta_cache)
    grown = min(caps.delta_cache + _spare_delta_cache(schedule, workers), useful)
    return caps.with_delta_cache(grown) if grown > caps.delta_cache else caps


def _spare_delta_cache(schedule: Schedule, workers: int) -> int:
    """Bytes each git's delta base cache may grow by: half of what the budget holds beyond the
    analyzers' largest chunks, shared between the gits.

    The analyzers come first: a budget that cannot give them chunks of the largest size
    (3,000 commits, or the history, or ``--chunk-size``) at the full buffering factor gives
    git nothing more. Past that, git's delta base cache is where memory buys the most time
    (a quarter to a third of git's time on the benchmark histories: see
    :data:`~gitstream.git.repo.MAX_DELTA_CACHE`); the other half of the spare stays with the
    analyzers' shares (aggregators spill later).
    """
    if schedule.budget_bytes is None:
        return 0
    target = schedule.chunk_size if schedule.forced else min(MAX_CHUNK_SIZE, schedule.total_commits)
    needed = minimum_budget(
        schedule.overhead_bytes,
        schedule.work_growth_per_commit,
        schedule.payload_per_commit,
        chunk_size=max(1, target) * schedule.max_buffering,
    )
    return (schedule.budget_bytes - needed) // 2 // workers


def _default_workers(
    plan_for: Callable[[int], tuple[GitCaps, Schedule]], commits: int
) -> tuple[int, tuple[GitCaps, Schedule]]:
    """How many gits to run at once by default, and the caps and schedule that go with it.

    Two when there are two cores, commits for at least two segments (else a second git would
    never start), and a budget that holds the second git with room to buffer a chunk ahead;
    otherwise one.
    """
    one = plan_for(1)
    if (os.cpu_count() or 1) < 2 or commits < 2 * MIN_PARALLEL_SEGMENT:
        return 1, one
    try:
        two = plan_for(2)
    except UsageError:  # the budget cannot hold a second git at all
        return 1, one
    if two[1].unlimited or two[1].buffering_factor >= 2:
        return 2, two
    return 1, one


def _prefetch_bytes(schedule: Schedule) -> int:
    # The in-flight share of the budget bounds what git may produce ahead of the analyzers.
    if schedule.unlimited:
        return 64 << 20
    return max(MIN_PREFETCH_BYTES, min(64 << 20, schedule.chunk_data_bytes // 2))


def _repository_section(p: Prepared) -> dict[str, Any]:
    commits = p.history.commits
    n = len(commits)
    workdir = p.repo.workdir
    return {
        "path": str(Path(workdir if workdir else p.repo.path).resolve()),
        "head": p.history.head,
        "rev": p.config.rev,
        "commits": n,
        "people": len(p.history.people),
        "first_commit_time": commits.time(0) if n else None,
        "last_commit_time": commits.time(n - 1) if n else None,
        "start_time": p.history.start_time,
        "last_tick": p.history.last_tick,
    }


@contextlib.contextmanager
def analysis(
    config: AnalysisConfig,
    *,
    on_progress: ProgressCallback | None = None,
    on_chunk: ChunkCallback | None = None,
    prepared: Prepared | None = None,
) -> Iterator[dict[str, Any]]:
    """Run the analysis; yield the result document (lazy parts valid inside the block)."""
    started = time.perf_counter()
    p = prepared or prepare(config)
    store = SpillStore.create(config.spill_dir)
    with SpillCleanupGuard(store), PeakSampler() as sampler, contextlib.ExitStack() as stack:
        history = p.history
        schedule = p.schedule
        shares = aggregate_shares(
            p.analyzer_classes, 0 if schedule.unlimited else schedule.agg_spill_bytes
        )
        analyzers: list[Analyzer] = []
        skipped: dict[str, str] = {}
        for cls in p.analyzer_classes:
            ctx = AnalysisContext(
                config=config,
                people=history.people,
                total_commits=len(history.commits),
                start_time=history.start_time,
                last_tick=history.last_tick,
                spill=store.namespace(cls.name),
                agg_budget_bytes=(
                    shares[cls.name] if config.agg_budget_bytes is None else config.agg_budget_bytes
                ),
            )
            try:
                analyzers.append(cls(ctx))
            except UsageError as exc:
                # Asked for by name, a refusal is the user's to fix; picked by default (every
                # analyzer), the others still run and the result says which one stood aside.
                if config.analyzers:
                    raise
                skipped[cls.name] = str(exc)
        diff = DiffStage(
            git_dir(p.repo),
            work_tree=p.repo.workdir,
            renames=config.renames,
            path_filter=PathFilter(config.include, config.exclude),
            caps=p.git,
            algorithm=diff_algorithm(p.repo),
        )

        workers = p.workers
        records = diff_stream(
            diff,
            history.commits,
            segment=p.segment,
            workers=workers,
            max_buffer_bytes=_prefetch_bytes(schedule),
        )
        stack.callback(records.close)

        callbacks: list[Callable[[ChunkTelemetry], None]] = []
        if config.telemetry is not None:
            writer = stack.enter_context(TelemetryWriter(config.telemetry))
            callbacks.append(writer.write)
        if on_chunk is not None:
            callbacks.append(on_chunk)

        def chunk_done(rec: ChunkTelemetry) -> None:
            for cb in callbacks:
                cb(rec)

        runner = Runner(
            analyzers,
            schedule,
            records,
            store,
            payload_bytes=lambda: diff.bytes_read,
            on_progress=on_progress,
            on_chunk=chunk_done,
        )
        totals = runner.run()
        results = {a.name: a.finalize() for a in analyzers}

        def run_section() -> Iterator[tuple[str, Any]]:
            yield from _run_section(p, runner, totals, sampler, store, started).items()
            yield (
                "oversized_changes",
                {"count": diff.oversized, "largest_bytes": diff.largest_oversized},
            )
            yield "skipped_analyzers", skipped

        yield {
            "schema": SCHEMA,
            "repository": _repository_section(p),
            "options": config.options_dict(),
            "analyzers": results,
            # Last, and lazy: its peak RSS then covers writing the analyzers' results too.
            "run": LazyMapping(run_section),
        }


def _run_section(
    p: Prepared,
    runner: Runner,
    totals: RunTotals,
    sampler: PeakSampler,
    store: SpillStore,
    started: float,
) -> dict[str, Any]:
    sampler.sample()
    # The sampling thread needs the GIL, so it can miss a peak reached inside a long C call
    # (measured: up to 70 MiB under an outside sampler). The kernel's high-water mark of this
    # process cannot miss it; the tree's peak is at least that.
    own_peak = _own_high_water_mark()
    return {
        "duration_s": round(time.perf_counter() - started, 3),
        "peak_rss_bytes": max(sampler.peak_bytes, own_peak),
        "sampled_peak_rss_bytes": sampler.peak_bytes,
        "own_peak_rss_bytes": own_peak,
        "budget_bytes": p.config.memory_bytes,
        "startup_rss_bytes": p.startup_rss,
        "chunks": totals.chunks,
        "commits": totals.commits,
        "hibernations": totals.hibernations,
        "emergency_hibernations": totals.emergency_hibernations,
        "hibernate_ms": round(totals.hibernate_ms, 1),
        "boot_ms": round(totals.boot_ms, 1),
        "spill_bytes": store.bytes_written,
        "workers": p.workers,
        "git_delta_cache_bytes": p.git.delta_cache,
        "git_big_file_bytes": p.git.big_file,
        "schedule": {k: v for k, v in p.schedule.to_dict().items() if k != "chunks"},
        "adaptive": runner.planner.stats().to_dict(),
    }


def _own_high_water_mark() -> int:
    """Peak RSS of this process as the kernel recorded it (VmHWM), 0 where unavailable."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def analyze(config: AnalysisConfig, **kwargs: Any) -> dict[str, Any]:
    """Run the analysis and return the whole document as plain dicts and lists."""
    with analysis(config, **kwargs) as document:
        result: dict[str, Any] = materialize(document)
        return result
