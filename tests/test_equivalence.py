"""The central property: a run cut into chunks, hibernating between them, equals one unchunked run.

Every registered analyzer (built-in or installed through the ``gitstream.analyzers`` entry
points) is covered by being registered: the tests enumerate the registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitstream import AnalysisConfig, analyze
from gitstream.analyzers.base import available
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth

ANALYZERS = sorted(available())

SPEC = SynthSpec(
    commits=420,
    files=60,
    authors=9,
    seed=11,
    merge_every=23,
    rename_every=17,
    delete_every=19,
    binary_every=29,
    empty_every=31,
    big_commit_every=97,
    big_commit_files=40,
    couple_groups=4,
    out_of_order_every=53,
)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_synth(tmp_path_factory.mktemp("equiv") / "repo", SPEC)


def run(repo: Path, name: str, **options: Any) -> dict[str, Any]:
    config = AnalysisConfig(
        repo=repo,
        analyzers=(name,),
        memory_bytes=None,
        burndown_files=True,
        burndown_people=True,
        couples_max_files=30,
        **options,
    )
    result = analyze(config)
    assert result["run"]["commits"] == result["repository"]["commits"]
    return result["analyzers"]


@pytest.mark.parametrize("name", ANALYZERS)
def test_chunked_and_hibernated_equals_unchunked(history: Path, name: str) -> None:
    """Chunks of 50 and 137 commits, hibernating between every chunk, give the unchunked result."""
    whole = run(history, name)
    assert whole[name], f"{name} produced an empty result"
    for size in (50, 137):
        chunked = run(history, name, chunk_size=size)
        assert chunked == whole, f"{name} differs with --chunk-size {size}"


@pytest.mark.parametrize("name", ANALYZERS)
def test_tiny_aggregator_budget_equals_unlimited(history: Path, name: str) -> None:
    """A 4 KiB aggregator share (many spilled runs) gives the same result as no limit."""
    assert run(history, name, chunk_size=50, agg_budget_bytes=4096) == run(history, name)


@pytest.mark.parametrize("name", [n for n in ANALYZERS if n != "burndown"])
def test_full_history_chunked_equals_unchunked(history: Path, name: str) -> None:
    """With --full-history, chunking does not change the result either."""
    whole = run(history, name, full_history=True)
    assert run(history, name, full_history=True, chunk_size=50) == whole
