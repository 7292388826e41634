"""Tests for sizing chunks from a memory budget (gitstream.streaming.schedule)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitstream.errors import UsageError
from gitstream.streaming.planner import MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, ChunkBounds
from gitstream.streaming.schedule import (
    Schedule,
    SchedulerConfig,
    compute_schedule,
    effective_growth,
    minimum_budget,
    replan,
)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def covers(chunks: list[ChunkBounds], total: int) -> bool:
    """Chunks are contiguous from 0 to total."""
    pos = 0
    for c in chunks:
        if c.start != pos:
            return False
        pos = c.end
    return pos == total


def test_codefang_unit_example_with_one_buffer() -> None:
    """4 GiB, 400 MiB overhead, 500 KiB/commit, bf 1 gives codefang's 2859-commit chunks."""
    cfg = SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 500 * KiB, max_buffering=1)
    assert compute_schedule(cfg).chunk_size == 2859


def test_codefang_doc_example() -> None:
    """4 GiB, 400 MiB, 1.5 MiB/commit, bf 1 gives codefang's doc: ~931 commits, 11 chunks."""
    cfg = SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 1536 * KiB, max_buffering=1)
    schedule = compute_schedule(cfg)
    assert schedule.chunk_size == 930  # the doc's 931 divides MiB figures rounded by hand
    assert len(schedule.chunks) == 11
    assert round(schedule.work_bytes / MiB) == 2095
    assert round(schedule.agg_spill_bytes / MiB) == 1047


def test_double_buffering_halves_chunks() -> None:
    """With room for two chunks in flight the factor is 2 and chunks are half as large."""
    cfg = SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 1536 * KiB, max_buffering=2)
    schedule = compute_schedule(cfg)
    assert (schedule.buffering_factor, schedule.chunk_size) == (2, 465)


def test_buffering_drops_when_two_chunks_do_not_fit() -> None:
    """A budget with room for one 50-commit chunk but not two gives buffering factor 1."""
    growth = 1 * MiB
    budget = minimum_budget(100 * MiB, growth) + 10 * MiB
    schedule = compute_schedule(SchedulerConfig(5000, budget, 100 * MiB, growth))
    assert schedule.buffering_factor == 1
    assert MIN_CHUNK_SIZE <= schedule.chunk_size < 2 * MIN_CHUNK_SIZE


def test_payload_bounds_chunk_size_by_chunk_data_share() -> None:
    """A large per-commit payload shrinks chunks so bf * chunk * payload fits C."""
    cfg = SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 10 * KiB, payload_per_commit=1 * MiB)
    schedule = compute_schedule(cfg)
    assert schedule.chunk_size < MAX_CHUNK_SIZE
    assert schedule.buffering_factor * schedule.chunk_size * MiB <= schedule.chunk_data_bytes


def test_unlimited_budget() -> None:
    """Without a budget chunks are 3000 commits, bf is the maximum and A is 0 (no limit)."""
    schedule = compute_schedule(SchedulerConfig(7000, None, 300 * MiB, 950 * KiB))
    assert schedule.unlimited
    assert schedule.chunk_size == MAX_CHUNK_SIZE
    assert schedule.buffering_factor == 2
    assert schedule.agg_spill_bytes == 0
    assert [c.size for c in schedule.chunks] == [2334, 2333, 2333]


def test_zero_commits_still_checks_budget_and_plans_nothing() -> None:
    """An empty history gives no chunks but a full decomposition."""
    schedule = compute_schedule(SchedulerConfig(0, 1 * GiB, 100 * MiB, 10 * KiB))
    assert schedule.chunks == []
    assert schedule.work_bytes > 0


def test_budget_below_overhead_names_the_minimum() -> None:
    """A budget below the overhead raises UsageError naming the minimum budget."""
    cfg = SchedulerConfig(1000, 300 * MiB, 400 * MiB, 950 * KiB)
    needed = minimum_budget(400 * MiB, 950 * KiB)
    with pytest.raises(UsageError) as info:
        compute_schedule(cfg)
    message = str(info.value)
    assert str(needed) in message
    suggested = re.search(r"--memory (\d+)MiB", message)
    assert suggested is not None
    assert int(suggested.group(1)) * MiB >= needed


def test_forced_chunk_too_large_for_budget_is_a_usage_error() -> None:
    """A forced chunk size whose declared growth cannot fit the budget is refused."""
    cfg = SchedulerConfig(9000, 1 * GiB, 100 * MiB, 950 * KiB, forced_chunk_size=3000)
    with pytest.raises(UsageError, match="--chunk-size 3000"):
        compute_schedule(cfg)


def test_forced_chunk_below_minimum_is_used_as_is() -> None:
    """A forced size of 7 gives 7-commit chunks even though computed sizes start at 50."""
    cfg = SchedulerConfig(20, 1 * GiB, 100 * MiB, 10 * KiB, forced_chunk_size=7)
    schedule = compute_schedule(cfg)
    assert schedule.forced and schedule.chunk_size == 7
    assert [c.size for c in schedule.chunks] == [7, 7, 6]


def test_forced_chunk_without_budget() -> None:
    """A forced size applies to unlimited runs too."""
    schedule = compute_schedule(SchedulerConfig(10, None, forced_chunk_size=3))
    assert [c.size for c in schedule.chunks] == [3, 3, 2, 2]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_commits": -1},
        {"budget_bytes": 0},
        {"overhead_bytes": -1},
        {"work_growth_per_commit": -1},
        {"max_buffering": 0},
        {"forced_chunk_size": 0},
    ],
)
def test_invalid_config_raises(kwargs: dict[str, int]) -> None:
    """Negative sizes, a zero budget (use None) and a zero buffering factor are refused."""
    base: dict[str, int | None] = {"total_commits": 10, "budget_bytes": GiB}
    with pytest.raises(ValueError):
        SchedulerConfig(**(base | kwargs))  # type: ignore[arg-type]


def test_to_dict_is_json_ready() -> None:
    """Schedule.to_dict round-trips through json with chunks as pairs."""
    schedule = compute_schedule(SchedulerConfig(120, GiB, 100 * MiB, 10 * KiB))
    data = json.loads(json.dumps(schedule.to_dict()))
    assert data["chunks"] == [[c.start, c.end] for c in schedule.chunks]
    assert data["chunk_data_bytes"] == schedule.chunk_data_bytes


configs = st.builds(
    SchedulerConfig,
    total_commits=st.integers(0, 100_000),
    budget_bytes=st.integers(1, 64 * GiB),
    overhead_bytes=st.integers(0, 2 * GiB),
    work_growth_per_commit=st.integers(0, 4 * MiB),
    payload_per_commit=st.integers(0, 512 * KiB),
    max_buffering=st.integers(1, 4),
)


@st.composite
def fitting_configs(draw: st.DrawFn) -> SchedulerConfig:
    """Configs whose budget is at or above the minimum, by up to 64 GiB."""
    cfg = draw(configs)
    minimum = minimum_budget(cfg.overhead_bytes, cfg.work_growth_per_commit, cfg.payload_per_commit)
    extra = draw(st.integers(0, 64 * GiB), label="budget above the minimum")
    return dataclasses.replace(cfg, budget_bytes=minimum + extra)


@given(cfg=st.one_of(configs, fitting_configs()))
def test_schedule_invariants(cfg: SchedulerConfig) -> None:
    """Shares sum to B, chunks are in bounds and fit W and C, and bf is the highest that fits."""
    assert cfg.budget_bytes is not None
    minimum = minimum_budget(cfg.overhead_bytes, cfg.work_growth_per_commit, cfg.payload_per_commit)
    if cfg.budget_bytes < minimum:
        with pytest.raises(UsageError):
            compute_schedule(cfg)
        return
    s = compute_schedule(cfg)
    parts = s.overhead_bytes + s.work_bytes + s.agg_spill_bytes + s.chunk_data_bytes
    assert parts + s.slack_bytes == s.budget_bytes
    assert s.slack_bytes * 100 >= 5 * s.budget_bytes - 100
    assert MIN_CHUNK_SIZE <= s.chunk_size <= MAX_CHUNK_SIZE
    assert 1 <= s.buffering_factor <= cfg.max_buffering
    growth = effective_growth(cfg.work_growth_per_commit)
    assert s.buffering_factor * s.chunk_size * growth <= s.work_bytes
    assert s.buffering_factor * s.chunk_size * cfg.payload_per_commit <= s.chunk_data_bytes
    if s.buffering_factor < cfg.max_buffering:
        bf = s.buffering_factor + 1
        assert (
            bf * MIN_CHUNK_SIZE * growth > s.work_bytes
            or bf * MIN_CHUNK_SIZE * cfg.payload_per_commit > s.chunk_data_bytes
        )
    assert covers(s.chunks, cfg.total_commits)


@given(
    overhead=st.integers(0, 2 * GiB),
    growth=st.integers(0, 4 * MiB),
    payload=st.integers(0, 512 * KiB),
)
def test_minimum_budget_is_the_smallest_that_fits(overhead: int, growth: int, payload: int) -> None:
    """The minimum budget is accepted and one byte less is a UsageError."""
    minimum = minimum_budget(overhead, growth, payload)
    ok = compute_schedule(SchedulerConfig(100, minimum, overhead, growth, payload))
    assert ok.chunk_size >= MIN_CHUNK_SIZE
    if minimum > 1:
        with pytest.raises(UsageError):
            compute_schedule(SchedulerConfig(100, minimum - 1, overhead, growth, payload))


def small_schedule() -> Schedule:
    """A 10k-commit schedule with room to grow and shrink chunks."""
    return compute_schedule(SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 1536 * KiB))


def test_replan_with_same_growth_changes_nothing() -> None:
    """Re-planning from 0 with unchanged growth reproduces the schedule (one formula)."""
    s = small_schedule()
    assert replan(s, 0, s.work_growth_per_commit, s.payload_per_commit) == s


def test_replan_uses_the_same_decomposition_as_compute() -> None:
    """Re-planning from 0 with new growth equals computing a schedule for that growth."""
    s = small_schedule()
    again = replan(s, 0, 300 * KiB, 0)
    fresh = compute_schedule(SchedulerConfig(10_000, 4 * GiB, 400 * MiB, 300 * KiB))
    assert again == fresh


def test_replan_keeps_processed_chunks_and_decomposition() -> None:
    """Chunks ending at or before the replan point and the budget shares are unchanged."""
    s = small_schedule()
    start = s.chunks[3].end
    new = replan(s, start, 3 * MiB, 0)
    assert new.chunks[:4] == s.chunks[:4]
    assert new.chunk_size < s.chunk_size
    assert (new.work_bytes, new.agg_spill_bytes, new.chunk_data_bytes) == (
        s.work_bytes,
        s.agg_spill_bytes,
        s.chunk_data_bytes,
    )
    assert covers(new.chunks, s.total_commits)


def test_replan_off_boundary_raises() -> None:
    """A replan start inside a planned chunk is refused."""
    s = small_schedule()
    with pytest.raises(ValueError):
        replan(s, s.chunks[0].end - 1, 1 * MiB, 0)


def test_replan_when_nothing_fits_falls_back_to_minimum_chunks() -> None:
    """Mid-run growth too large for W gives 50-commit chunks with bf 1 instead of raising."""
    s = small_schedule()
    new = replan(s, s.chunks[0].end, 1 * GiB, 0)
    assert (new.chunk_size, new.buffering_factor) == (MIN_CHUNK_SIZE, 1)


@given(
    data=st.data(),
    cfg=fitting_configs(),
    growth=st.integers(0, 8 * MiB),
    payload=st.integers(0, 1 * MiB),
)
def test_replan_keeps_prefix_and_bounds(
    data: st.DataObject, cfg: SchedulerConfig, growth: int, payload: int
) -> None:
    """Any replan keeps the processed prefix, covers history and stays in bounds."""
    s = compute_schedule(cfg)
    done = data.draw(st.integers(0, len(s.chunks)), label="chunks processed")
    start = s.chunks[done - 1].end if done else 0
    new = replan(s, start, growth, payload)
    assert new.chunks[:done] == s.chunks[:done]
    assert covers(new.chunks, cfg.total_commits)
    assert MIN_CHUNK_SIZE <= new.chunk_size <= MAX_CHUNK_SIZE
    assert 1 <= new.buffering_factor <= cfg.max_buffering
