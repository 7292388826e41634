"""Tests for cutting a history into chunks (gitstream.streaming.planner)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gitstream.streaming.planner import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    ChunkBounds,
    Planner,
    clamp_chunk_size,
)


def assert_covers(chunks: list[ChunkBounds], start: int, end: int) -> None:
    """Chunks are contiguous and cover exactly [start, end)."""
    if start == end:
        assert chunks == []
        return
    assert chunks[0].start == start
    assert chunks[-1].end == end
    for prev, nxt in itertools.pairwise(chunks):
        assert prev.end == nxt.start


def test_zero_commits_gives_no_chunks() -> None:
    """A history without commits is planned as an empty list."""
    assert Planner(0, 100).plan() == []


def test_sizes_are_spread_evenly() -> None:
    """1000 commits at size 300 become four chunks of 250 rather than a 100-commit tail."""
    assert [c.size for c in Planner(1000, 300).plan()] == [250, 250, 250, 250]


def test_exact_multiple_keeps_the_chunk_size() -> None:
    """When the size divides the total, every chunk has exactly that size."""
    chunks = Planner(9000, 3000).plan()
    assert chunks == [ChunkBounds(0, 3000), ChunkBounds(3000, 6000), ChunkBounds(6000, 9000)]


def test_forced_size_below_minimum_is_allowed() -> None:
    """A forced chunk size of 1 cuts one chunk per commit."""
    assert Planner(3, 1).plan() == [ChunkBounds(0, 1), ChunkBounds(1, 2), ChunkBounds(2, 3)]


def test_plan_from_end_is_empty() -> None:
    """Re-planning from the last commit leaves nothing to do."""
    assert Planner(500, 50).plan_from(500) == []


@pytest.mark.parametrize(("total", "size"), [(-1, 10), (10, 0)])
def test_invalid_planner_arguments_raise(total: int, size: int) -> None:
    """A negative total or a chunk size below 1 is refused."""
    with pytest.raises(ValueError):
        Planner(total, size)


@pytest.mark.parametrize("start", [-1, 11])
def test_plan_from_outside_history_raises(start: int) -> None:
    """plan_from refuses a start outside [0, total]."""
    with pytest.raises(ValueError):
        Planner(10, 3).plan_from(start)


@pytest.mark.parametrize(("start", "end"), [(5, 5), (-1, 3), (4, 2)])
def test_empty_or_negative_chunk_bounds_raise(start: int, end: int) -> None:
    """ChunkBounds refuses empty, reversed and negative ranges."""
    with pytest.raises(ValueError):
        ChunkBounds(start, end)


def test_clamp_chunk_size_bounds() -> None:
    """Computed sizes are clamped to [MIN_CHUNK_SIZE, MAX_CHUNK_SIZE]."""
    assert clamp_chunk_size(1) == MIN_CHUNK_SIZE
    assert clamp_chunk_size(700) == 700
    assert clamp_chunk_size(10**9) == MAX_CHUNK_SIZE


@given(total=st.integers(0, 50_000), size=st.integers(1, 5000))
@example(total=1, size=1).via("smallest history")
@example(total=3001, size=3000).via("one commit over a chunk")
def test_plan_covers_history_contiguously_within_size(total: int, size: int) -> None:
    """Any plan covers [0, total) contiguously with ceil(total/size) chunks of at most size."""
    chunks = Planner(total, size).plan()
    assert_covers(chunks, 0, total)
    assert len(chunks) == -(-total // size)
    sizes = [c.size for c in chunks]
    assert all(1 <= s <= size for s in sizes)
    if sizes:
        assert max(sizes) - min(sizes) <= 1


@given(data=st.data(), total=st.integers(1, 20_000), size=st.integers(1, 3000))
def test_plan_from_keeps_prefix(data: st.DataObject, total: int, size: int) -> None:
    """Processed chunks followed by plan_from(their end) at any new size still cover history."""
    first = Planner(total, size).plan()
    done = data.draw(st.integers(0, len(first)), label="chunks processed")
    boundary = first[done - 1].end if done else 0
    new_size = data.draw(st.integers(1, 3000), label="new size")
    rest = Planner(total, new_size).plan_from(boundary)
    assert_covers(first[:done] + rest, 0, total)
    assert all(c.start >= boundary for c in rest)
