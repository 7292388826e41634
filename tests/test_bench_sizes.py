"""The benchmark's history sizes: ``commits[:files][@hours per commit]``."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.histories import parse_size, parse_sizes
from benchmarks.report import history_title


def test_a_cadence_sets_the_spec_and_the_cache_name_but_not_the_label() -> None:
    plain, daily = parse_sizes("2k,2k@24h")
    assert (plain.label, daily.label) == ("2k", "2k")
    assert plain.spec().seconds_per_commit == 3600
    assert daily.spec().seconds_per_commit == 24 * 3600
    assert daily.spec().commits == plain.spec().commits == 2000
    assert plain.cache_name() == "synth-2000c-1000f-s0-real"
    assert daily.cache_name() == "synth-2000c-1000f-s0-real-24h"


def test_files_and_cadence_combine() -> None:
    size = parse_size("20k:8000@3h", content="small")
    assert (size.label, size.commits, size.files, size.hours_per_commit) == (
        "20k:8000-small",
        20_000,
        8000,
        3,
    )
    assert size.cache_name() == "synth-20000c-8000f-s0-3h"


@pytest.mark.parametrize("bad", ["2k@0h", "2k@h", "2k@3", "0", "k"])
def test_bad_sizes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="bad size"):
        parse_size(bad)


def test_the_history_title_names_the_cadence() -> None:
    h = {
        "history": {
            "label": "2k",
            "first_parent_commits": 1700,
            "spec": {"seconds_per_commit": 86400},
        }
    }
    assert history_title(h) == "2k: 1,700 first-parent commits, a commit every 24 h"


def test_pydriller_on_a_larger_history_is_a_target_of_its_own() -> None:
    """PyDriller measured on 20k as well as with the peers on the smallest history: each is
    judged against the 10x target, and the larger one is named by its history."""
    from benchmarks.report import compute_targets, markdown

    def section(history: str, speedup: float) -> dict[str, object]:
        return {
            "history": history,
            "rows": [],
            "comparisons": {"pydriller_speedup": speedup, "pydriller_detail": "d"},
        }

    results = {
        "meta": {"speed_budget": "2GiB"},
        "histories": [],
        "peers": section("2k", 7.8),
        "more_peers": [section("20k", 11.2)],
    }
    rows = {t["target"]: t for t in compute_targets(results)}
    assert rows[">= 10x PyDriller's commits/s (all analyzers)"]["status"] == "FAIL"
    assert rows[">= 10x PyDriller's commits/s on 20k"]["status"] == "PASS"
    assert rows[">= 10x PyDriller's commits/s on 20k"]["measured"] == "11.2x"
    text = markdown(results)
    assert "### Peers on 2k" in text and "### Peers on 20k" in text


def test_the_floor_is_the_issues_command_and_gitstreams_git_is_its_own_column() -> None:
    """x floor divides by the plain ``-U0`` floor even when gitstream's own git command (its
    caps, a larger delta cache) ran faster; x git cmd divides by that command."""
    from benchmarks.report import apply_floor

    rows = [
        {
            "name": "git diff-tree (floor)",
            "kind": "floor",
            "ok": True,
            "wall_s": 10.0,
            "cpu_s": 9.0,
        },
        {"name": "git diff-tree (floor)", "kind": "floor", "ok": True, "wall_s": 9.0, "cpu_s": 9.5},
        {"name": "git cmd", "kind": "git_cmd", "ok": True, "wall_s": 6.0, "cpu_s": 6.0},
        {"name": "gitstream all", "kind": "gitstream", "ok": True, "wall_s": 8.1, "cpu_s": 12.0},
        {"name": "gitstream all", "kind": "gitstream", "ok": False, "wall_s": 1.0, "cpu_s": 1.0},
    ]
    apply_floor(rows)
    assert rows[3]["x_floor"] == 0.9  # the faster of the two floor runs
    assert rows[3]["x_floor_cpu"] == round(12.0 / 9.0, 3)
    assert rows[3]["x_git"] == 1.35
    assert rows[2]["x_floor"] == round(6.0 / 9.0, 3)
    assert rows[4]["x_floor"] is None and rows[4]["x_git"] is None


def test_a_job_runs_at_least_its_own_repeats_and_keeps_its_best(tmp_path: Path) -> None:
    """gitstream's sub-second runs beside the peers run three times with ``--repeats 1``; the
    other jobs run once, and each row says how many runs it kept the best of."""
    import os

    from benchmarks.run import Bench, Job, _parse_args

    bench = Bench(_parse_args(["--out", str(tmp_path / "r.json")]), dict(os.environ), tmp_path)
    once = Job("once", "floor", ["true"])
    thrice = Job("thrice", "gitstream", ["true"], min_repeats=3)
    rows = bench.run_jobs([once, thrice])
    assert (len(once.runs), len(thrice.runs)) == (1, 3)
    assert [r["repeats"] for r in rows] == [1, 3]
    assert all(r["ok"] for r in rows)
