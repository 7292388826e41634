"""Tests for adaptive re-planning from measured growth (gitstream.streaming.adaptive)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitstream.streaming.adaptive import (
    MIN_GROWTH_PER_COMMIT,
    AdaptivePlanner,
    ChunkObservation,
    ReplanDecision,
)
from gitstream.streaming.planner import ChunkBounds
from gitstream.streaming.schedule import Schedule, SchedulerConfig, compute_schedule

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


def schedule(total: int = 10_000, budget: int | None = 4 * GiB) -> Schedule:
    """A schedule declared at 1 MiB working state and 10 KiB payload per commit."""
    return compute_schedule(
        SchedulerConfig(total, budget, 400 * MiB, 1 * MiB, payload_per_commit=10 * KiB)
    )


def feed(planner: AdaptivePlanner, work: float, payload: float, agg: float) -> ReplanDecision:
    """Observe the next planned chunk with the given per-commit rates."""
    chunk = planner.schedule.remaining(planner.position)[0]
    n = chunk.size
    return planner.observe(ChunkObservation(chunk, int(work * n), int(payload * n), int(agg * n)))


def test_growth_as_declared_never_replans() -> None:
    """Observations matching the declared growth keep the plan for the whole run."""
    planner = AdaptivePlanner(schedule())
    first = planner.schedule
    while planner.position < first.total_commits:
        decision = feed(planner, 1 * MiB, 10 * KiB, 50 * KiB)
        assert not decision.replanned
    assert planner.schedule == first
    assert planner.stats().replan_count == 0


def test_doubled_growth_replans_only_the_remaining_chunks() -> None:
    """Twice the declared growth re-plans after the first chunk into smaller chunks."""
    planner = AdaptivePlanner(schedule())
    first = planner.schedule
    decision = feed(planner, 2 * MiB, 10 * KiB, 0)
    assert decision.replanned and decision.changed
    assert decision.schedule.chunks[0] == first.chunks[0]
    assert decision.remaining[0].start == first.chunks[0].end
    assert decision.schedule.chunk_size < first.chunk_size
    assert decision.work_ema == 2 * MiB


def test_replanned_level_is_the_new_prediction() -> None:
    """After a replan, growth that stays at the new level does not re-plan again."""
    planner = AdaptivePlanner(schedule())
    assert feed(planner, 2 * MiB, 10 * KiB, 0).replanned
    for _ in range(3):
        assert not feed(planner, 2 * MiB, 10 * KiB, 0).replanned
    assert planner.stats().replan_count == 1


def test_each_metric_has_its_own_prediction() -> None:
    """Aggregator and payload rates far from the work rate do not trigger a replan by that alone.

    codefang compared all three EMAs with the work prediction and so re-planned almost always.
    """
    planner = AdaptivePlanner(schedule())
    assert not feed(planner, 1 * MiB, 10 * KiB, 5 * KiB).replanned
    assert not feed(planner, 1 * MiB, 10 * KiB, 5 * KiB).replanned


def test_payload_divergence_alone_replans() -> None:
    """A payload rate 3x the declared one re-plans even when work growth is as declared."""
    planner = AdaptivePlanner(schedule())
    assert feed(planner, 1 * MiB, 30 * KiB, 0).replanned


def test_small_drift_within_threshold_does_not_replan() -> None:
    """Growth 20% above the prediction stays under the 25% threshold."""
    planner = AdaptivePlanner(schedule())
    assert not feed(planner, 1.2 * MiB, 10 * KiB, 0).replanned


def test_negative_growth_is_floored() -> None:
    """Memory given back during a chunk counts as the 1 KiB/commit floor, not a negative rate."""
    planner = AdaptivePlanner(schedule())
    decision = feed(planner, -5 * MiB, 0, 0)
    assert decision.work_ema == MIN_GROWTH_PER_COMMIT
    assert decision.payload_ema == MIN_GROWTH_PER_COMMIT


def test_unlimited_budget_tracks_but_never_replans() -> None:
    """Without a budget growth is averaged for statistics but chunks stay at their size."""
    planner = AdaptivePlanner(schedule(budget=None))
    decision = feed(planner, 10 * MiB, 10 * KiB, 0)
    assert not decision.replanned
    assert planner.stats().final_work_growth == 10 * MiB


def test_last_chunk_does_not_replan() -> None:
    """Divergence on the last chunk has nothing left to re-plan."""
    planner = AdaptivePlanner(schedule(total=100))
    assert len(planner.schedule.chunks) == 1
    decision = feed(planner, 5 * MiB, 10 * KiB, 0)
    assert not decision.replanned and decision.remaining == []


def test_observing_out_of_order_raises() -> None:
    """A chunk that is not the next planned one is refused."""
    s = schedule()
    planner = AdaptivePlanner(s)
    with pytest.raises(ValueError):
        planner.observe(ChunkObservation(s.chunks[1], MiB, 0, 0))
    with pytest.raises(ValueError):
        planner.observe(ChunkObservation(ChunkBounds(0, 10), MiB, 0, 0))


def test_resume_starts_at_a_boundary() -> None:
    """A planner resumed after two chunks expects the third and refuses a mid-chunk start."""
    s = schedule()
    planner = AdaptivePlanner(s, start=s.chunks[1].end)
    assert feed(planner, 1 * MiB, 10 * KiB, 0).remaining[0] == s.chunks[3]
    with pytest.raises(ValueError):
        AdaptivePlanner(s, start=s.chunks[1].end - 1)


def test_stats_to_dict() -> None:
    """Stats report declared and measured rates as JSON-ready whole bytes."""
    planner = AdaptivePlanner(schedule())
    feed(planner, 2 * MiB, 10 * KiB, 3 * KiB)
    data = json.loads(json.dumps(planner.stats().to_dict()))
    assert data == {
        "replan_count": 1,
        "chunks_observed": 1,
        "initial_growth": {"work": MiB, "payload": 10 * KiB, "aggregate": 3 * KiB},
        "final_growth": {"work": 2 * MiB, "payload": 10 * KiB, "aggregate": 3 * KiB},
    }


def test_stats_before_any_chunk() -> None:
    """Before any observation the final rates are the declared ones and aggregate is unknown."""
    stats = AdaptivePlanner(schedule()).stats()
    assert stats.final_work_growth == stats.initial_work_growth == MiB
    assert stats.final_agg_growth is None


rates = st.floats(-1 * MiB, 8 * MiB, allow_nan=False)


@given(observations=st.lists(st.tuples(rates, rates, rates), min_size=1, max_size=40))
def test_processed_chunks_never_change(observations: list[tuple[float, float, float]]) -> None:
    """Whatever is observed, processed chunks stay as they were and the plan covers history."""
    planner = AdaptivePlanner(schedule(total=20_000))
    processed: list[ChunkBounds] = []
    for work, payload, agg in observations:
        if planner.position == planner.schedule.total_commits:
            break
        chunk = planner.schedule.remaining(planner.position)[0]
        feed(planner, work, payload, agg)
        processed.append(chunk)
        chunks = planner.schedule.chunks
        assert chunks[: len(processed)] == processed
        assert chunks[-1].end == 20_000
        assert all(a.end == b.start for a, b in itertools.pairwise(chunks))
