"""Unit tests of the couples analyzer on hand-made commit records, plus its properties.

Hand-computed cases pin the conventions of ``gitstream.analyzers.couples`` (what counts as a
change, big commits, renames, degree, filters); a brute-force model written for these tests
(an alias map from file versions to final names, resolved at the end) checks random
histories; the equivalence property checks that hibernating between any commits and any
aggregator budget change nothing. ``histories()`` is shared with ``test_file_history.py``.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import feed, lineage_snapshot
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitstream.analyzers.base import AnalysisContext, materialize
from gitstream.analyzers.couples import CouplesAnalyzer
from gitstream.config import AnalysisConfig
from gitstream.records import CommitRecord, FileChange, Person, Status

START = 1_600_000_000
PEOPLE = tuple(
    Person(
        name=n, email=f"{n.lower()}@example.com", names=(n,), emails=(f"{n.lower()}@example.com",)
    )
    for n in ("Ann", "Bob", "Cy")
)
ANN, BOB, CY = (p.display for p in PEOPLE)


def context(root: Path, *, budget: int = 0, **options: Any) -> AnalysisContext:
    from gitstream.streaming.spill import SpillStore

    return AnalysisContext(
        config=AnalysisConfig(**options),
        people=PEOPLE,
        total_commits=0,
        start_time=START,
        last_tick=0,
        spill=SpillStore.create(root),
        agg_budget_bytes=budget,
    )


def run(
    commits: Sequence[CommitRecord],
    root: Path,
    *,
    hibernate_after: frozenset[int] = frozenset(),
    budget: int = 0,
    hibernate_last: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The materialized result, hibernating and booting after the commits at the given indices."""
    analyzer = CouplesAnalyzer(context(root, budget=budget, **options))
    return feed(analyzer, commits, hibernate_after=hibernate_after, hibernate_last=hibernate_last)


def add(path: str, lines: int = 1) -> FileChange:
    return FileChange.for_test(path, status=Status.ADDED, hunks=[(0, 0, 1, lines)])


def mod(path: str, added: int = 1, removed: int = 1) -> FileChange:
    return FileChange.for_test(path, hunks=[(1, removed, 1, added)])


def ren(old: str, new: str) -> FileChange:
    return FileChange.for_test(new, status=Status.RENAMED, old_path=old)


def rm(path: str, lines: int = 1) -> FileChange:
    return FileChange.for_test(path, status=Status.DELETED, hunks=[(1, lines, 0, 0)])


def commit(index: int, author: int, *files: FileChange) -> CommitRecord:
    return CommitRecord.for_test(index, files, author=author)


HAND = [
    commit(0, 0, add("a", 3), add("b", 2)),
    commit(1, 1, mod("a"), add("c")),
    commit(2, 0, ren("a", "d"), rm("b", 2)),
    commit(3, 0, add("a"), mod("d")),
]


def test_pairs_revisions_and_people_by_hand(tmp_path: Path) -> None:
    """A rename carries counts to the final name and a new file under the old name is apart."""
    result = run(HAND, tmp_path)
    assert result == {
        "files": ["a", "b", "c", "d"],
        # b-d: 2 shared / avg(2, 4) = 66.7% -> 66; a-d and c-d: 1 / avg(1, 4) = 40%
        "pairs": [["a", "d", 1, 40], ["b", "d", 2, 66], ["c", "d", 1, 40]],
        "revisions": {"a": 1, "b": 2, "c": 1, "d": 4},
        "sum_of_coupling": {"a": 1, "b": 2, "c": 1, "d": 4},
        "skipped_commits": 0,
        "people_files": {ANN: {"a": 1, "b": 2, "d": 3}, BOB: {"c": 1, "d": 1}},
    }


def test_alive_only_keeps_names_alive_at_the_end(tmp_path: Path) -> None:
    """alive_only drops the deleted b and every pair with it."""
    result = run(HAND, tmp_path, alive_only=True)
    assert result["files"] == ["a", "c", "d"]
    assert result["pairs"] == [["a", "d", 1, 40], ["c", "d", 1, 40]]
    assert result["revisions"] == {"a": 1, "c": 1, "d": 4}
    assert result["people_files"] == {ANN: {"a": 1, "d": 3}, BOB: {"c": 1, "d": 1}}


def test_big_commits_count_revisions_but_no_pairs(tmp_path: Path) -> None:
    """A commit over couples_max_files counts revisions and people but not pairs."""
    commits = [
        commit(0, 0, add("a"), add("b"), add("c")),
        commit(1, 1, mod("a"), mod("b")),
    ]
    result = run(commits, tmp_path, couples_max_files=2)
    assert result["skipped_commits"] == 1
    assert result["revisions"] == {"a": 2, "b": 2, "c": 1}
    assert result["pairs"] == [["a", "b", 1, 50]]
    assert result["sum_of_coupling"] == {"a": 1, "b": 1, "c": 0}
    assert result["people_files"] == {ANN: {"a": 1, "b": 1, "c": 1}, BOB: {"a": 1, "b": 1}}


def test_min_shared_and_min_degree_filter_pairs_only(tmp_path: Path) -> None:
    """The thresholds compare exact values and leave revisions and files alone."""
    commits = [commit(0, 0, add("a"), add("b"), add("c"))] + [
        commit(i, 0, mod("a"), mod("b")) for i in range(1, 3)
    ]
    # a-b: 3 shared / 3 = 100%; a-c, b-c: 1 / avg(3, 1) = 50%
    assert run(commits, tmp_path / "1", min_shared=2)["pairs"] == [["a", "b", 3, 100]]
    assert run(commits, tmp_path / "2", min_degree=50.0)["pairs"] == [
        ["a", "b", 3, 100],
        ["a", "c", 1, 50],
        ["b", "c", 1, 50],
    ]
    result = run(commits, tmp_path / "3", min_degree=50.5)
    assert result["pairs"] == [["a", "b", 3, 100]]
    assert result["files"] == ["a", "b", "c"]


def test_name_reused_after_delete_adds_up_under_the_name(tmp_path: Path) -> None:
    """A path deleted and added again reports both files' counts under the one name."""
    commits = [
        commit(0, 0, add("a"), add("x")),
        commit(1, 0, rm("a")),
        commit(2, 0, add("a"), mod("x")),
    ]
    result = run(commits, tmp_path)
    assert result["revisions"] == {"a": 3, "x": 2}
    assert result["pairs"] == [["a", "x", 2, 80]]


def test_renames_swapping_paths_in_one_commit(tmp_path: Path) -> None:
    """Two files trading names in one commit each keep their own counts."""
    commits = [
        commit(0, 0, add("a"), add("b")),
        commit(1, 0, mod("a"), add("c")),
        commit(2, 0, ren("a", "b"), ren("b", "a")),
    ]
    result = run(commits, tmp_path)
    assert result["revisions"] == {"a": 2, "b": 3, "c": 1}
    assert result["pairs"] == [["a", "b", 2, 80], ["b", "c", 1, 50]]


def test_binary_and_type_changes_count_like_any_change(tmp_path: Path) -> None:
    """Binary files and type changes count a revision and pairs like text changes."""
    commits = [
        commit(0, 0, FileChange.for_test("img", status=Status.ADDED, binary=True), add("t")),
        commit(1, 0, FileChange.for_test("t", status=Status.TYPE_CHANGED), mod("img")),
    ]
    result = run(commits, tmp_path)
    assert result["pairs"] == [["img", "t", 2, 100]]


def test_unknown_author_is_named_by_index(tmp_path: Path) -> None:
    """An author outside the people table is reported as ``#<index>``."""
    result = run([commit(0, 7, add("f")), commit(1, -1, mod("f"))], tmp_path)
    assert result["people_files"] == {"#-1": {"f": 1}, "#7": {"f": 1}}


def test_empty_history_and_empty_commits(tmp_path: Path) -> None:
    """No commits, or commits without files, give empty sections."""
    empty = {
        "files": [],
        "pairs": [],
        "revisions": {},
        "sum_of_coupling": {},
        "skipped_commits": 0,
        "people_files": {},
    }
    assert run([], tmp_path / "1") == empty
    assert run([commit(0, 0)], tmp_path / "2", budget=1) == empty


def test_result_streams_are_re_iterable(tmp_path: Path) -> None:
    """Every lazy part of the result yields the same items each time it is iterated."""
    analyzer = CouplesAnalyzer(context(tmp_path, budget=1))
    for c in HAND:
        analyzer.consume(c)
    result = analyzer.finalize()
    assert materialize(result) == materialize(result)
    assert analyzer.finalize() is result


def test_state_survives_hibernate_exactly(tmp_path: Path) -> None:
    """After hibernate() and boot() the lineage table and counters are what they were."""
    analyzer = CouplesAnalyzer(context(tmp_path))
    for c in HAND:
        analyzer.consume(c)
    snapshot, skipped = lineage_snapshot(analyzer), analyzer._skipped
    analyzer.hibernate()
    assert analyzer.state_size() == 0
    analyzer.boot()
    assert lineage_snapshot(analyzer) == snapshot
    assert analyzer._skipped == skipped


def test_finalize_boots_a_hibernated_analyzer(tmp_path: Path) -> None:
    """finalize() after a last hibernate() without boot() reads the state back itself."""
    assert run(HAND, tmp_path / "1", hibernate_last=True) == run(HAND, tmp_path / "2")


def test_aggregate_spills_above_budget(tmp_path: Path) -> None:
    """Counts above the budget go to runs, so aggregate_size stays within the budget."""
    budget = 40_000
    analyzer = CouplesAnalyzer(context(tmp_path, budget=budget))
    commits = [commit(i, i % 3, *(add(f"f{i}-{j}") for j in range(12))) for i in range(300)]
    highest = 0
    for c in commits:
        analyzer.consume(c)
        highest = max(highest, analyzer.aggregate_size())
    assert analyzer._pairs.runs
    assert highest <= budget  # the spill trigger keeps room for the next growth step
    assert analyzer.state_size() > 0
    reference = run(commits, tmp_path / "ref")
    assert materialize(analyzer.finalize()) == reference


def test_a_big_commit_spills_while_it_is_counted(tmp_path: Path) -> None:
    """A commit of 300 files counts its pairs a row at a time and spills in between."""
    files = [add(f"f{i:03}") for i in range(300)]
    analyzer = CouplesAnalyzer(context(tmp_path / "cut", budget=200_000))
    analyzer.consume(commit(0, 0, *files))
    assert len(analyzer._pairs.runs) > 1
    assert analyzer.aggregate_size() <= 200_000
    result = materialize(analyzer.finalize())
    assert len(result["pairs"]) == 300 * 299 // 2
    assert result == run([commit(0, 0, *files)], tmp_path / "plain")


# -- a brute-force model and random histories ---------------------------------------------


def file_versions(
    commits: Sequence[CommitRecord],
) -> tuple[list[list[tuple[str, FileChange]]], dict[str, str], dict[str, str]]:
    """Each commit's changes with the file version they belong to, the slow way.

    Returns the per-commit ``(version, change)`` lists, the alias map from each version to its
    last name, and the versions alive at the end by path.
    """
    current: dict[str, str] = {}  # path -> version alive there
    final: dict[str, str] = {}  # version -> its last name
    fresh = itertools.count()

    def version(path: str, alive: bool) -> str:
        v = f"{path}@{next(fresh)}"
        final[v] = path
        if alive:
            current[path] = v
        return v

    out = []
    for c in commits:
        # Every old path names a version of the parent's tree; new paths are placed after.
        sources: list[str | None] = []
        claimed: set[str] = set()
        for ch in c.files:
            old, new = ch.old_path, ch.new_path
            v = None
            if old is not None:
                v = current.get(old)
                if v is None or v in claimed:
                    v = version(old if new is None else new, False)
                claimed.add(v)
            sources.append(v)
        for ch, v in zip(c.files, sources, strict=True):
            if (
                ch.old_path is not None
                and ch.old_path != ch.new_path
                and current.get(ch.old_path) == v
            ):
                del current[ch.old_path]
        touched = []
        for ch, v in zip(c.files, sources, strict=True):
            if v is None:
                v = current.get(ch.new_path)  # type: ignore[arg-type]
                if v is None or v in claimed:
                    v = version(ch.new_path, True)  # type: ignore[arg-type]
                claimed.add(v)
            elif ch.new_path is not None:
                final[v] = ch.new_path
                current[ch.new_path] = v
            touched.append((v, ch))
        out.append(touched)
    return out, final, current


def model(commits: Sequence[CommitRecord], **options: Any) -> dict[str, Any]:
    """The couples result computed the slow way: versions, an alias map, per-commit sets."""
    config = AnalysisConfig(**options)
    per_commit, final, current = file_versions(commits)
    touched = [
        (c.author, sorted({v for v, _ in changes}))
        for c, changes in zip(commits, per_commit, strict=True)
    ]
    alive_names = set(current)
    keep = (lambda name: name in alive_names) if config.alive_only else (lambda name: True)
    revisions: Counter[str] = Counter()
    soc: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    people: dict[str, Counter[str]] = {}
    skipped = 0
    for author, versions in touched:
        names = [final[v] for v in versions]
        for name in names:
            if keep(name):
                revisions[name] += 1
                who = PEOPLE[author].display if author < len(PEOPLE) else f"#{author}"
                people.setdefault(who, Counter())[name] += 1
        if len(versions) > config.couples_max_files:
            skipped += 1
            continue
        for name in names:
            if keep(name):
                soc[name] += len(names) - 1
        for x, y in itertools.combinations(names, 2):
            if x != y and keep(x) and keep(y):
                pairs[min(x, y), max(x, y)] += 1
    rows = []
    for (x, y), shared in sorted(pairs.items()):
        avg = (revisions[x] + revisions[y]) / 2
        if shared >= config.min_shared and shared / avg * 100 >= config.min_degree:
            rows.append([x, y, shared, 200 * shared // (revisions[x] + revisions[y])])
    files = sorted(revisions)
    return {
        "files": files,
        "pairs": rows,
        "revisions": {f: revisions[f] for f in files},
        "sum_of_coupling": {f: soc[f] for f in files},
        "skipped_commits": skipped,
        "people_files": {who: dict(sorted(c.items())) for who, c in sorted(people.items())},
    }


POOL = ("a", "b", "c", "d/e", "d/f", "g h", "\u00e9")


@st.composite
def histories(draw: st.DrawFn, max_commits: int = 14) -> list[CommitRecord]:
    """Random valid histories over a small pool of names: adds, edits, deletes, renames.

    The pool is small so names come back after deletes and renames; up to six changes per
    commit make commits bigger than a ``couples_max_files`` of 3 or 4.
    """
    alive: set[str] = set()
    commits = []
    time = START
    for index in range(draw(st.integers(0, max_commits))):
        # Sources come from the parent's tree, targets must be free once earlier changes of
        # the commit applied: so files can trade names, or a file appear where one just left.
        start = set(alive)
        sources: set[str] = set()
        targets: set[str] = set()
        changes: list[FileChange] = []
        for _ in range(draw(st.integers(0, 6))):
            mine = sorted(start - sources)
            free = sorted(p for p in POOL if p not in alive and p not in targets)
            kind = draw(st.sampled_from(["add", "mod", "mod", "rm", "ren", "bin", "again"]))
            a, r = draw(st.integers(0, 4)), draw(st.integers(0, 4))
            if kind in ("add", "bin") or not mine:
                if not free:
                    continue
                path = draw(st.sampled_from(free))
                binary = kind == "bin"
                changes.append(
                    FileChange.for_test(
                        path, status=Status.ADDED, hunks=[(0, 0, 1, a)], binary=binary
                    )
                )
                alive.add(path)
                targets.add(path)
                continue
            path = draw(st.sampled_from(mine))
            if kind == "again":  # a merge of a full-history walk adds a file it already has
                changes.append(FileChange.for_test(path, status=Status.ADDED, hunks=[(0, 0, 1, a)]))
                targets.add(path)
            elif kind == "mod":
                changes.append(FileChange.for_test(path, hunks=[(1, r, 1, a)]))
                targets.add(path)
            elif kind == "rm":
                changes.append(
                    FileChange.for_test(path, status=Status.DELETED, hunks=[(1, r, 0, 0)])
                )
                alive.discard(path)
            else:
                new = draw(st.sampled_from(free or [path]))
                if new == path:
                    continue
                changes.append(
                    FileChange.for_test(
                        new, status=Status.RENAMED, old_path=path, hunks=[(1, r, 1, a)]
                    )
                )
                alive.discard(path)
                alive.add(new)
                targets.add(new)
            sources.add(path)
        time += draw(st.integers(-86_400, 5 * 86_400))  # clocks may go backwards
        author = draw(st.integers(0, len(PEOPLE)))  # len(PEOPLE) is outside the table
        commits.append(CommitRecord.for_test(index, changes, author=author, time=time))
    return commits


@settings(max_examples=150)
@given(histories(), st.sampled_from([3, 4, 1000]), st.booleans(), st.integers(1, 3))
@example(HAND, 1000, False, 1)
def test_random_histories_match_the_brute_force_model(
    commits: list[CommitRecord], max_files: int, alive_only: bool, min_shared: int
) -> None:
    """Pairs, revisions, sum of coupling and people counts equal the brute-force model's."""
    options = {"couples_max_files": max_files, "alive_only": alive_only, "min_shared": min_shared}
    with tempfile.TemporaryDirectory() as root:
        assert run(commits, Path(root), **options) == model(commits, **options)


@settings(max_examples=100)
@given(
    histories(),
    st.frozensets(st.integers(0, 14)),
    st.sampled_from([1, 700, 4000]),
    st.booleans(),
    st.sampled_from([3, 1000]),
)
@example(HAND, frozenset({0, 1, 2}), 1, True, 1000)
def test_hibernation_and_budget_change_nothing(
    commits: list[CommitRecord],
    hibernate_after: frozenset[int],
    budget: int,
    alive_only: bool,
    max_files: int,
) -> None:
    """Hibernating after any commits with any aggregator budget gives the unchunked result."""
    options = {"alive_only": alive_only, "couples_max_files": max_files}
    with tempfile.TemporaryDirectory() as root:
        plain = run(commits, Path(root) / "plain", **options)
        cut = run(
            commits,
            Path(root) / "cut",
            hibernate_after=hibernate_after,
            budget=budget,
            hibernate_last=True,
            **options,
        )
    assert cut == plain


def test_aggregate_budget_is_shared_by_weight() -> None:
    """couples (weight 2) gets twice burndown's part of A; devs (weight 0) none; a plug-in
    without the attribute counts as weight 1."""
    from gitstream.analyzers.base import aggregate_shares
    from gitstream.analyzers.burndown import BurndownAnalyzer
    from gitstream.analyzers.devs import DevsAnalyzer

    class Plugin:
        name = "plugin"

    shares = aggregate_shares([CouplesAnalyzer, BurndownAnalyzer, DevsAnalyzer, Plugin], 400)
    assert shares == {"couples": 200, "burndown": 100, "devs": 0, "plugin": 100}
    assert aggregate_shares([DevsAnalyzer], 400) == {"devs": 0}
