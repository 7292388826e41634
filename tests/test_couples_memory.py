"""The couples analyzer under a tight budget: it spills, stays inside it, and changes nothing.

Issue 6's check on a smaller cut of the history ``benchmarks/couples_memory.py`` runs at
512 MiB: a generated history with sweeping commits of hundreds of files, so its distinct
co-changed pairs are many times what the budget leaves the aggregator. The budgeted run is the
real command line in its own process (its ``peak_rss_bytes`` is then the process tree's, not
this test process's), sampled from outside as well; the reference is an unlimited run in this
process. The full-size memory figure is the benchmark's job, not this test's.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from gitrepo import git_env

from gitstream.config import AnalysisConfig
from gitstream.pipeline import analyze
from gitstream.streaming.memory import process_tree_rss
from gitstream.synth import SynthSpec, build_repo

pytestmark = pytest.mark.slow

GITSTREAM = str(Path(sys.executable).with_name("gitstream"))
BUDGET = "160MiB"
BUDGET_BYTES = 160 * 2**20
# 300 commits over 1500 files, a sweeping commit of 300 files every 12 mainline commits:
# about 0.6M distinct pairs from 0.9M pair increments, a Counter of 40-50 MiB, while 160 MiB
# leaves the aggregator ~20 MiB (30% of what the process's start-up and git leave).
SPEC = dataclasses.replace(
    SynthSpec.realistic(300, 1500, seed=6), big_commit_every=12, big_commit_files=300
)
# Runs of pair counts by lineage ids (while commits are consumed) and by name (at finalize).
PAIR_RUN = re.compile(r"pairs-(by-name-)?\d+\.zst")


@dataclasses.dataclass
class Runs:
    """The two runs of one history: the unlimited reference and the budgeted command line."""

    unlimited: dict[str, Any]
    budgeted: dict[str, Any]
    outside_peak: int
    pair_runs: set[str]
    """Names of the couples pair runs seen in the budgeted run's spill directory."""


def _budgeted(repo: Path, out: Path, spill: Path) -> tuple[int, set[str]]:
    """Run ``gitstream analyze -a couples`` at BUDGET, watching its RSS and spill files.

    Returns the tree's peak RSS and the pair runs, both sampled from here every 50 ms: a run
    stays on disk from its spill to the final merge, so none is missed.
    """
    env = {k: v for k, v in git_env().items() if not k.startswith("GITSTREAM_")}
    proc = subprocess.Popen(
        [GITSTREAM, "analyze", "-a", "couples", "--memory", BUDGET, "-q", "-o", str(out),
         "--spill-dir", str(spill), str(repo)],
        env=env,
    )  # fmt: skip
    peak = 0
    runs: set[str] = set()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, process_tree_rss(proc.pid))
            except ProcessLookupError:
                return
            try:
                runs.update(p.name for p in spill.rglob("pairs-*") if PAIR_RUN.fullmatch(p.name))
            except FileNotFoundError:
                pass  # gitstream removed a directory while it was being listed (its last moments)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        assert proc.wait(timeout=240) == 0
    finally:
        done.set()
        sampler.join()
    return peak, runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """The history built once, analysed at BUDGET (a subprocess) and unlimited (here)."""
    root = tmp_path_factory.mktemp("couples-memory")
    repo = build_repo(root / "repo", SPEC, bare=True)
    out = root / "budgeted.json"
    outside_peak, pair_runs = _budgeted(repo, out, root / "spill")
    budgeted = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    unlimited = analyze(AnalysisConfig(repo=repo, analyzers=("couples",), memory_bytes=None))
    return Runs(unlimited, budgeted, outside_peak, pair_runs)


def test_budgeted_result_is_identical_to_the_unlimited_one(runs: Runs) -> None:
    """Spilled, merged and re-keyed pair and people counts equal the in-memory ones exactly."""
    budgeted = runs.budgeted["analyzers"]["couples"]
    unlimited = runs.unlimited["analyzers"]["couples"]
    assert len(unlimited["pairs"]) > 500_000, "the history is too small to test anything"
    assert budgeted.keys() == unlimited.keys()
    for key in unlimited:
        assert budgeted[key] == unlimited[key], key


def test_budgeted_run_spills_several_runs_of_pairs(runs: Runs) -> None:
    """The aggregator's share is a small part of the budget, so the pairs went to disk in runs."""
    run = runs.budgeted["run"]
    assert run["budget_bytes"] == BUDGET_BYTES
    assert 0 < run["schedule"]["agg_spill_bytes"] <= BUDGET_BYTES // 5
    assert run["spill_bytes"] > 0
    by_id = [name for name in runs.pair_runs if "by-name" not in name]
    by_name = runs.pair_runs.difference(by_id)
    assert len(by_id) >= 3, sorted(runs.pair_runs)
    assert len(by_name) >= 3, sorted(runs.pair_runs)


def test_budgeted_run_peak_rss_is_within_the_budget(runs: Runs) -> None:
    """The process tree's peak RSS, as the run reports it and as sampled outside, <= budget."""
    assert 0 < runs.budgeted["run"]["peak_rss_bytes"] <= BUDGET_BYTES
    assert 0 < runs.outside_peak <= BUDGET_BYTES
