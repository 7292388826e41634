"""The chunk loop on plain records: hibernation between chunks and under memory pressure."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitstream.analyzers.base import AnalysisContext
from gitstream.analyzers.devs import DevsAnalyzer
from gitstream.config import AnalysisConfig
from gitstream.errors import BudgetExceeded
from gitstream.records import CommitRecord, FileChange, Person, Status
from gitstream.streaming.runner import Runner
from gitstream.streaming.schedule import SchedulerConfig, compute_schedule
from gitstream.streaming.spill import SpillStore

PEOPLE = (Person("Ann", "ann@x", ("Ann",), ("ann@x",)),)


def commits(n: int) -> list[CommitRecord]:
    change = FileChange.for_test("a.py", status=Status.ADDED, hunks=[(0, 0, 1, 3)])
    return [CommitRecord.for_test(i, [change]) for i in range(n)]


def make_runner(
    tmp_path: Path, n: int, chunk: int | None, budget: int | None = None
) -> tuple[Runner, DevsAnalyzer]:
    store = SpillStore.create(tmp_path)
    ctx = AnalysisContext(AnalysisConfig(), PEOPLE, n, 0, n - 1, store.namespace("devs"))
    devs = DevsAnalyzer(ctx)
    schedule = compute_schedule(
        SchedulerConfig(
            total_commits=n,
            budget_bytes=budget,
            overhead_bytes=64 << 20,
            work_growth_per_commit=DevsAnalyzer.work_bytes_per_commit,
            forced_chunk_size=chunk,
        )
    )
    return Runner([devs], schedule, iter(commits(n)), store, check_every=8), devs


def test_hibernates_between_chunks_and_counts_every_commit(tmp_path: Path) -> None:
    """Ten chunks of ten commits: nine hibernations, every commit consumed once."""
    runner, devs = make_runner(tmp_path, 100, 10)
    totals = runner.run()
    assert (totals.chunks, totals.commits, totals.hibernations) == (10, 100, 9)
    assert devs.finalize()["people"][0]["added"] == 300
    assert [t.end for t in totals.telemetry][-1] == 100


def test_planned_chunks_hibernate_only_when_the_next_one_would_not_fit(tmp_path: Path) -> None:
    """Planned (not forced) chunks whose state stays far inside W skip hibernation, and so
    does a run with no budget; the result is the same as with hibernation everywhere."""
    forced, devs_forced = make_runner(tmp_path / "forced", 6000, 3000)
    assert forced.run().hibernations == 1
    unlimited, devs_unlimited = make_runner(tmp_path / "none", 6000, None)
    assert unlimited.run().hibernations == 0
    planned, devs_planned = make_runner(tmp_path / "planned", 6000, None, budget=8 << 30)
    totals = planned.run()
    assert totals.chunks == 2 and totals.hibernations == 0
    assert devs_planned.finalize() == devs_forced.finalize() == devs_unlimited.finalize()


def test_a_next_chunk_that_would_not_fit_w_hibernates_first(tmp_path: Path) -> None:
    """The decision itself: held state plus the next chunk's growth (+50%) against W."""
    runner, _ = make_runner(tmp_path, 6000, None, budget=8 << 30)
    w = runner.planner.schedule.work_bytes
    assert not runner._must_hibernate(0, 3000, 100.0)
    assert not runner._must_hibernate(w - 3000 * 150, 3000, 100.0)
    assert runner._must_hibernate(w - 3000 * 150 + 1, 3000, 100.0)
    assert runner._must_hibernate(w + 1, 1, 0.0)


def test_pressure_that_hibernation_cannot_relieve_stops_the_run(tmp_path: Path) -> None:
    """With a budget below the process's own size, the run stops with BudgetExceeded."""
    runner, _ = make_runner(tmp_path, 40, 20)
    runner.budget = 1 << 20  # far below any Python process: critical at the first check
    with pytest.raises(BudgetExceeded, match="--memory"):
        runner.run()
    assert runner.totals.emergency_hibernations == 1
