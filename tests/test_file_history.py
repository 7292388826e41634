"""Unit tests of the file_history analyzer on hand-made commit records, plus its properties.

Hand-computed cases pin the conventions of ``gitstream.analyzers.file_history`` (renames,
files created again, binary changes, main developer, age); a brute-force model over the file
versions of ``test_couples.file_versions`` checks random histories; the equivalence property
checks that hibernating between any commits and any aggregator budget change nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from harness import feed, lineage_snapshot
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_couples import (
    ANN,
    BOB,
    HAND,
    PEOPLE,
    START,
    add,
    commit,
    context,
    file_versions,
    histories,
    mod,
    ren,
    rm,
)

from gitstream.analyzers.base import materialize
from gitstream.analyzers.file_history import FileHistoryAnalyzer
from gitstream.records import CommitRecord, FileChange, Status

DAY = 86_400


def run(
    commits: Sequence[CommitRecord],
    root: Path,
    *,
    hibernate_after: frozenset[int] = frozenset(),
    budget: int = 0,
    hibernate_last: bool = False,
) -> dict[str, Any]:
    """The materialized result, hibernating and booting after the commits at the given indices."""
    analyzer = FileHistoryAnalyzer(context(root, budget=budget))
    return feed(analyzer, commits, hibernate_after=hibernate_after, hibernate_last=hibernate_last)


def h(index: int) -> str:
    return f"{index:040x}"


def test_history_of_renamed_and_recreated_files_by_hand(tmp_path: Path) -> None:
    """d keeps a's history through the rename; the a created later starts afresh; b is gone."""
    result = run(HAND, tmp_path)
    assert sorted(result["files"]) == ["a", "c", "d"]
    assert result["files"]["d"] == {
        "commits": [h(0), h(1), h(2), h(3)],
        "added": 5,
        "removed": 2,
        "people": {
            ANN: {"added": 4, "removed": 1, "commits": 3},
            BOB: {"added": 1, "removed": 1, "commits": 1},
        },
        "first_time": START,
        "last_time": START + 3 * DAY,
        "authors": 2,
        "main_dev": ANN,
        "age_days": 0,
        "churn": 7,
    }
    assert result["files"]["a"]["commits"] == [h(3)]
    assert result["files"]["c"]["age_days"] == 2
    assert result["hotspots"] == [
        {"path": "d", "revisions": 4, "churn": 7, "score": 28},
        {"path": "a", "revisions": 1, "churn": 1, "score": 1},
        {"path": "c", "revisions": 1, "churn": 1, "score": 1},
    ]


def test_files_are_sorted_by_path(tmp_path: Path) -> None:
    """The files mapping streams in path order whatever order the files appeared in."""
    commits = [commit(i, 0, add(name)) for i, name in enumerate(["z", "b/c", "a", "b"])]
    assert list(run(commits, tmp_path)["files"]) == ["a", "b", "b/c", "z"]


def test_binary_changes_count_commits_but_no_lines(tmp_path: Path) -> None:
    """A binary file has its commits and authors but 0 lines, and no main developer."""
    commits = [
        commit(0, 0, FileChange.for_test("img", status=Status.ADDED, binary=True)),
        commit(1, 1, FileChange.for_test("img", binary=True)),
    ]
    img = run(commits, tmp_path)["files"]["img"]
    assert img["commits"] == [h(0), h(1)]
    assert (img["added"], img["removed"], img["churn"], img["authors"]) == (0, 0, 0, 2)
    assert img["main_dev"] is None


def test_main_dev_tie_goes_to_the_first_name(tmp_path: Path) -> None:
    """With equal added lines the main developer is the first by display name."""
    commits = [commit(0, 1, add("f", 2)), commit(1, 0, mod("f", 2, 0))]
    assert run(commits, tmp_path)["files"]["f"]["main_dev"] == ANN
    commits = [commit(0, 1, add("f", 3)), commit(1, 0, mod("f", 2, 0))]
    assert run(commits, tmp_path / "2")["files"]["f"]["main_dev"] == BOB


def test_age_is_whole_days_to_the_last_commit_and_never_negative(tmp_path: Path) -> None:
    """age_days counts whole days to the last analysed commit; a clock going back gives 0."""
    commits = [
        CommitRecord.for_test(0, [add("old"), add("new")], time=START),
        CommitRecord.for_test(1, [mod("new")], time=START + 10 * DAY),
        CommitRecord.for_test(2, [add("x")], time=START + 3 * DAY + DAY - 1),
    ]
    files = run(commits, tmp_path)["files"]
    assert (files["old"]["age_days"], files["new"]["age_days"], files["x"]["age_days"]) == (3, 0, 0)


def test_deleted_files_are_left_out(tmp_path: Path) -> None:
    """Files deleted before the end appear neither in files nor in hotspots."""
    commits = [commit(0, 0, add("a"), add("b")), commit(1, 0, rm("b"), ren("a", "c"))]
    result = run(commits, tmp_path)
    assert list(result["files"]) == ["c"]
    assert [row["path"] for row in result["hotspots"]] == ["c"]


def test_empty_history(tmp_path: Path) -> None:
    """No commits give no files and no hotspots."""
    assert run([], tmp_path) == {"files": {}, "hotspots": []}


def test_non_hex_commit_id_is_refused(tmp_path: Path) -> None:
    """A commit id that is not hexadecimal is a clear error."""
    analyzer = FileHistoryAnalyzer(context(tmp_path))
    with pytest.raises(ValueError, match="not hexadecimal"):
        analyzer.consume(CommitRecord.for_test(0, [add("f")], hash="zz"))


def test_state_survives_hibernate_exactly(tmp_path: Path) -> None:
    """After hibernate() and boot() the lineage table and counters are what they were."""
    analyzer = FileHistoryAnalyzer(context(tmp_path))
    for c in HAND:
        analyzer.consume(c)
    snapshot, last = lineage_snapshot(analyzer), analyzer._last_time
    analyzer.hibernate()
    assert analyzer.state_size() == 0
    analyzer.boot()
    assert lineage_snapshot(analyzer) == snapshot
    assert analyzer._last_time == last


def test_aggregate_spills_above_budget(tmp_path: Path) -> None:
    """Commit lists and per-person counts above the budget go to runs; the result is the same."""
    budget = 30_000
    commits = [commit(i, i % 3, *(add(f"f{i}-{j}") for j in range(8))) for i in range(300)]
    analyzer = FileHistoryAnalyzer(context(tmp_path / "cut", budget=budget))
    highest = 0
    for c in commits:
        analyzer.consume(c)
        highest = max(highest, analyzer.aggregate_size())
    assert analyzer._stats.runs
    assert highest <= budget  # the spill trigger keeps room for the next growth step
    assert materialize(analyzer.finalize()) == run(commits, tmp_path / "plain")


def model(commits: Sequence[CommitRecord]) -> dict[str, Any]:
    """The file_history result computed the slow way from the file versions."""
    per_commit, _final, current = file_versions(commits)
    alive = {v: path for path, v in current.items()}
    files: dict[str, dict[str, Any]] = {}
    for c, changes in zip(commits, per_commit, strict=True):
        who = PEOPLE[c.author].display if c.author < len(PEOPLE) else f"#{c.author}"
        lines: dict[str, list[int]] = {}
        for v, ch in changes:
            counts = lines.setdefault(v, [0, 0])
            if not ch.binary:
                counts[0] += ch.added
                counts[1] += ch.removed
        for v, (plus, minus) in lines.items():
            if v not in alive:
                continue
            f = files.setdefault(alive[v], {"commits": [], "people": {}, "first_time": c.time})
            f["commits"].append(c.hash)
            f["last_time"] = c.time
            p = f["people"].setdefault(who, {"added": 0, "removed": 0, "commits": 0})
            p["added"] += plus
            p["removed"] += minus
            p["commits"] += 1
    end = commits[-1].time if commits else 0
    for f in files.values():
        f["added"] = sum(p["added"] for p in f["people"].values())
        f["removed"] = sum(p["removed"] for p in f["people"].values())
        f["churn"] = f["added"] + f["removed"]
        f["authors"] = len(f["people"])
        top = sorted(f["people"].items(), key=lambda kv: (-kv[1]["added"], kv[0]))
        f["main_dev"] = top[0][0] if f["added"] else None
        f["age_days"] = max(0, end - f["last_time"]) // DAY
    hot = sorted(
        (-len(f["commits"]) * f["churn"], path, len(f["commits"]), f["churn"])
        for path, f in files.items()
    )
    return {
        "files": files,
        "hotspots": [{"path": p, "revisions": r, "churn": c, "score": -s} for s, p, r, c in hot],
    }


@settings(max_examples=150)
@given(histories())
@example(HAND)
def test_random_histories_match_the_brute_force_model(commits: list[CommitRecord]) -> None:
    """Commit lists, per-person counts, times, ages and hotspots equal the model's."""
    with tempfile.TemporaryDirectory() as root:
        result = run(commits, Path(root))
    assert result == model(commits)
    assert list(result["files"]) == sorted(result["files"])


@settings(max_examples=100)
@given(histories(), st.frozensets(st.integers(0, 14)), st.sampled_from([1, 500, 3000]))
@example(HAND, frozenset({0, 1, 2}), 1)
def test_hibernation_and_budget_change_nothing(
    commits: list[CommitRecord], hibernate_after: frozenset[int], budget: int
) -> None:
    """Hibernating after any commits with any aggregator budget gives the unchunked result."""
    with tempfile.TemporaryDirectory() as root:
        plain = run(commits, Path(root) / "plain")
        cut = run(
            commits,
            Path(root) / "cut",
            hibernate_after=hibernate_after,
            budget=budget,
            hibernate_last=True,
        )
    assert cut == plain
