"""Memory of a long walk stays flat: it does not grow with the number of commits walked."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitstream.streaming.memory import process_tree_rss
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth

GITSTREAM = str(Path(sys.executable).with_name("gitstream"))


@pytest.mark.slow
def test_devs_walk_over_20k_commits_keeps_memory_flat(tmp_path: Path) -> None:
    """Peak tree RSS over the last quarter of a 20k-commit run is no higher than in the first."""
    repo = build_synth(tmp_path / "repo", SynthSpec(commits=20_000, files=2_000, seed=3))
    out = tmp_path / "r.json"
    # One diff worker: with two, the tree's RSS also depends on whether both gits happen to
    # be at their (capped) peak at once, which is noise for a test of growth with history.
    proc = subprocess.Popen(
        [GITSTREAM, "analyze", "-a", "devs", "-q", "--chunk-size", "1000", "--workers", "1",
         "--memory", "512MiB", "-o", str(out), str(repo)],
    )  # fmt: skip
    samples: list[tuple[float, int]] = []

    def sample() -> None:
        while proc.poll() is None:
            try:
                samples.append((time.monotonic(), process_tree_rss(proc.pid)))
            except ProcessLookupError:
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    assert proc.wait(timeout=300) == 0
    sampler.join()
    result = json.loads(out.read_text())
    assert result["repository"]["commits"] == 20_000
    assert len(samples) > 40, "the run was too short to judge"
    t0, t1 = samples[0][0], samples[-1][0]
    span = t1 - t0

    def peak(lo: float, hi: float) -> int:
        return max(r for t, r in samples if t0 + lo * span <= t <= t0 + hi * span)

    early, late = peak(0.15, 0.40), peak(0.75, 1.0)
    # Flat means bounded by the early peak plus noise, not proportional to commits walked.
    assert late <= early * 1.15 + 8 * 2**20, (early, late)
