"""Unit tests of the burndown analyzer on hand-made commit records, plus its equivalence property.

Hand-computed cases pin the hercules layouts (matrix, overwrites, ownership) and the choices
documented in ``gitstream.analyzers.burndown``; a per-line reference model written for these
tests checks random histories; the property test checks that hibernating between any commits
changes nothing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from harness import feed
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gitstream.analyzers import _lines
from gitstream.analyzers._lines import FileLines
from gitstream.analyzers.base import AnalysisContext, materialize
from gitstream.analyzers.burndown import BurndownAnalyzer
from gitstream.config import AnalysisConfig
from gitstream.errors import SpillError, UsageError
from gitstream.records import CommitRecord, FileChange, Hunk, Person, Status
from gitstream.streaming.spill import SpillStore

START = 1_600_000_000  # 2020-09-13 12:26:40 UTC
PEOPLE = tuple(
    Person(
        name=n, email=f"{n.lower()}@example.com", names=(n,), emails=(f"{n.lower()}@example.com",)
    )
    for n in ("Ann", "Bob", "Cy")
)
ANN, BOB, CY = (p.display for p in PEOPLE)


def context(
    root: Path, *, last_tick: int = 0, start_time: int = START, **options: Any
) -> AnalysisContext:
    store = SpillStore.create(root)
    return AnalysisContext(
        config=AnalysisConfig(**options),
        people=PEOPLE,
        total_commits=0,
        start_time=start_time,
        last_tick=last_tick,
        spill=store.namespace("burndown"),
    )


def run(
    commits: Sequence[CommitRecord],
    root: Path,
    *,
    every: int = 0,
    hibernate_last: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The materialized result, hibernating and booting after every ``every`` commits."""
    last = commits[-1].tick if commits else 0
    analyzer = BurndownAnalyzer(context(root, last_tick=last, **options))
    after = range(every - 1, len(commits), every) if every else ()
    return feed(analyzer, commits, hibernate_after=after, hibernate_last=hibernate_last)


def add(path: str, lines: int) -> FileChange:
    return FileChange.for_test(path, status=Status.ADDED, hunks=[(0, 0, 1, lines)])


def mod(path: str, *hunks: Hunk) -> FileChange:
    return FileChange.for_test(path, hunks=hunks)


def commit(index: int, tick: int, author: int, *files: FileChange) -> CommitRecord:
    return CommitRecord.for_test(index, files, author=author, tick=tick)


# A small history worked out by hand (granularity = sampling = 2, so bands and samples are
# ticks 0-1, 2-3, 4):
#   tick 0 Ann adds a.txt (4 lines)            a = A0 A0 A0 A0
#   tick 1 Bob replaces a.txt line 2 by two    a = A0 B1 B1 A0 A0
#   tick 2 Ann adds b.txt (3 lines)            b = A2 A2 A2
#   tick 3 Bob deletes a.txt line 1            a = B1 B1 A0 A0
#   tick 4 Ann renames b.txt -> c.txt, drops its last line      c = A2 A2
HAND = [
    commit(0, 0, 0, add("a.txt", 4)),
    commit(1, 1, 1, mod("a.txt", (2, 1, 2, 2))),
    commit(2, 2, 0, add("b.txt", 3)),
    commit(3, 3, 1, mod("a.txt", (1, 1, 0, 0))),
    commit(
        4,
        4,
        0,
        FileChange.for_test("c.txt", status=Status.RENAMED, old_path="b.txt", hunks=[(3, 1, 2, 0)]),
    ),
]
HAND_OPTIONS: dict[str, Any] = {
    "granularity": 2,
    "sampling": 2,
    "burndown_files": True,
    "burndown_people": True,
}


def test_project_matrix_by_hand(tmp_path: Path) -> None:
    """The project matrix counts live lines per sample by the band they were written in."""
    result = run(HAND, tmp_path, **HAND_OPTIONS)
    assert result["project"] == {
        "matrix": [[5, 0, 0], [4, 3, 0], [4, 2, 0]],
        "granularity": 2,
        "sampling": 2,
        "tick_size_hours": 24.0,
        "start_time": START,
        "end_tick": 4,
    }


def test_file_matrices_follow_renames(tmp_path: Path) -> None:
    """Per-file matrices exist for files alive at the end and carry history across a rename."""
    result = run(HAND, tmp_path, **HAND_OPTIONS)
    assert result["files"] == {
        "a.txt": [[5, 0, 0], [4, 0, 0], [4, 0, 0]],
        "c.txt": [[0, 0, 0], [0, 3, 0], [0, 2, 0]],
    }


def test_people_matrices_overwrites_and_ownership(tmp_path: Path) -> None:
    """People results follow hercules: a matrix per person, N x (N + 2) overwrites, ownership."""
    people = run(HAND, tmp_path, **HAND_OPTIONS)["people"]
    assert people["names"] == [ANN, BOB, CY]
    assert people["matrices"] == [
        [[3, 0, 0], [2, 3, 0], [2, 2, 0]],
        [[2, 0, 0], [2, 0, 0], [2, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    ]
    # Ann added 7 and removed one of her own lines; Bob removed two of hers and added 2.
    assert people["overwrites"] == [[7, 0, -1, -2, 0], [2, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    assert people["ownership"] == {"a.txt": {ANN: 2, BOB: 2}, "c.txt": {ANN: 2}}


def test_survival_by_hand(tmp_path: Path) -> None:
    """Survival is a Kaplan-Meier estimate that censors lines too young to reach an age."""
    survival = run(HAND, tmp_path, **HAND_OPTIONS)["survival"]
    # Age 1: 9 lines at risk, 1 dies; age 2: 8 at risk (the tick-2 cohort is still
    # observable), 1 dies; age 3: 5 at risk (only ticks 0 and 1), 1 dies; age 4: none dies.
    assert survival["days"] == [0.0, 2.0, 4.0]
    assert survival["alive_fraction"] == pytest.approx([1.0, 7 / 9, 28 / 45])
    assert survival["half_life_days"] is None


def test_optional_sections_only_when_asked(tmp_path: Path) -> None:
    """``files`` and ``people`` appear only with burndown_files / burndown_people."""
    result = run(HAND, tmp_path, granularity=2, sampling=2)
    assert set(result) == {"project", "survival", "diagnostics"}
    assert result["project"]["matrix"] == [[5, 0, 0], [4, 3, 0], [4, 2, 0]]


def test_half_life_interpolates(tmp_path: Path) -> None:
    """The half-life is where the survival curve crosses one half, in days."""
    commits = [commit(0, 0, 0, add("a.txt", 100))]
    commits += [commit(t, t, 1, mod("a.txt", (1, 10, 0, 0))) for t in range(1, 8)]
    survival = run(commits, tmp_path, granularity=1, sampling=1, tick_size_hours=12)["survival"]
    # 10 of the 100 lines die every tick (12 h): half of them are gone after 5 ticks.
    assert survival["half_life_days"] == pytest.approx(2.5)
    assert survival["days"][:3] == [0.0, 0.5, 1.0]
    assert survival["alive_fraction"][:3] == pytest.approx([1.0, 0.9, 0.8])


def test_yearly_cohorts(tmp_path: Path) -> None:
    """Cohorts count live lines at each sample by the UTC year in which they were written."""
    start = 1_577_491_200  # 2019-12-28 00:00 UTC
    commits = [
        commit(0, 0, 0, add("a.txt", 10)),
        commit(1, 5, 0, add("b.txt", 4)),  # 2020-01-02
        commit(2, 6, 1, mod("a.txt", (1, 3, 0, 0))),
    ]
    analyzer = BurndownAnalyzer(context(tmp_path, last_tick=6, start_time=start, sampling=3))
    for c in commits:
        analyzer.consume(c)
    cohorts = materialize(analyzer.finalize())["survival"]["cohorts"]
    assert cohorts == {
        "years": [2019, 2020],
        "labels": ["Code added in 2019", "Code added in 2020"],
        "sample_ticks": [2, 5, 6],
        "y": [[10, 10, 7], [0, 4, 4]],
    }


def test_final_sample_covers_the_end(tmp_path: Path) -> None:
    """With an end tick off the sampling grid the last row is still the final state."""
    commits = [commit(0, 0, 0, add("a.txt", 3)), commit(1, 31, 1, mod("a.txt", (3, 0, 4, 2)))]
    matrix = run(commits, tmp_path)["project"]["matrix"]
    assert matrix == [[3, 0], [3, 2]]


def test_hunks_apply_in_order_with_offsets(tmp_path: Path) -> None:
    """Several hunks in one change are placed by old positions plus the running offset."""
    commits = [
        commit(0, 0, 0, add("f", 6)),
        # Insert 2 at the top, replace old line 3 by 3 lines, delete old lines 5-6.
        commit(1, 1, 1, mod("f", (0, 0, 1, 2), (3, 1, 5, 3), (5, 2, 8, 0))),
    ]
    result = run(commits, tmp_path, granularity=1, sampling=1, burndown_people=True)
    assert result["project"]["matrix"][-1] == [3, 5]
    assert result["people"]["ownership"] == {"f": {ANN: 3, BOB: 5}}


def test_lines_model_matches_per_line_reference() -> None:
    """FileLines.apply agrees with a plain per-line list on a fixed tricky sequence."""
    fl = FileLines.new(5, 1, with_history=False)
    removed: dict[int, int] = {}
    assert fl.apply([(2, 1, 2, 0), (3, 0, 3, 2), (5, 1, 6, 1)], 2, removed) == 3
    assert [o for o, n in fl.segments() for _ in range(n)] == [1, 1, 2, 2, 1, 2]
    assert removed == {1: 2}
    assert fl.apply([(1, 6, 0, 0)], 3, removed) == 0
    assert fl.lines == 0 and list(fl.segments()) == []


def test_hunks_that_do_not_fit_leave_the_file_alone() -> None:
    """apply returns None and changes nothing when hunks overlap or pass the end."""
    fl = FileLines.new(3, 1, with_history=False)
    removed: dict[int, int] = {}
    assert fl.apply([(2, 5, 2, 0)], 2, removed) is None
    assert fl.apply([(3, 1, 3, 0), (1, 1, 1, 0)], 2, removed) is None
    assert removed == {} and list(fl.segments()) == [(1, 3)]


def test_full_history_is_refused(tmp_path: Path) -> None:
    """Burndown refuses --full-history with a message naming the way out."""
    with pytest.raises(UsageError, match="drop --full-history"):
        BurndownAnalyzer(context(tmp_path, full_history=True))


def test_binary_file_is_dropped_and_later_text_hunks_ignored(tmp_path: Path) -> None:
    """A file turning binary loses its lines; later hunks on the untracked path are counted."""
    commits = [
        commit(0, 0, 0, add("img", 5), add("keep", 2)),
        commit(1, 1, 1, FileChange.for_test("img", binary=True)),
        commit(2, 2, 1, mod("img", (1, 1, 1, 2))),
        commit(3, 3, 1, FileChange.for_test("img", status=Status.RENAMED, old_path="img")),
    ]
    result = run(commits, tmp_path, granularity=1, sampling=1, burndown_people=True)
    assert result["project"]["matrix"][-1] == [2, 0, 0, 0]
    assert result["people"]["ownership"] == {"keep": {ANN: 2}}
    assert result["people"]["overwrites"][0][:4] == [7, 0, 0, -5]
    assert result["diagnostics"] == {"untracked_changes": 1, "inconsistent_changes": 0}


def test_binary_added_file_is_not_tracked(tmp_path: Path) -> None:
    """An added binary file has no lines and no matrix."""
    commits = [commit(0, 0, 0, FileChange.for_test("bin", status=Status.ADDED, binary=True))]
    result = run(commits, tmp_path, burndown_files=True)
    assert result["files"] == {}
    assert result["project"]["matrix"] == [[0]]


def test_type_change_replaces_everything(tmp_path: Path) -> None:
    """A type change kills every old line and brings all new lines in at its tick."""
    commits = [
        commit(0, 0, 0, add("link", 3)),
        commit(
            1, 1, 1, FileChange.for_test("link", status=Status.TYPE_CHANGED, hunks=[(1, 3, 1, 1)])
        ),
        commit(
            2, 2, 1, FileChange.for_test("new", status=Status.TYPE_CHANGED, hunks=[(1, 1, 1, 2)])
        ),
    ]
    result = run(commits, tmp_path, granularity=1, sampling=1, burndown_people=True)
    assert result["project"]["matrix"] == [[3, 0, 0], [0, 1, 0], [0, 1, 2]]
    assert result["people"]["ownership"] == {"link": {BOB: 1}, "new": {BOB: 2}}


def test_inconsistent_hunks_drop_the_file(tmp_path: Path) -> None:
    """Hunks beyond a file's end drop it, its lines removed by an unidentified author."""
    commits = [commit(0, 0, 0, add("f", 2)), commit(1, 1, 1, mod("f", (5, 1, 5, 1)))]
    result = run(commits, tmp_path, burndown_people=True)
    assert result["project"]["matrix"] == [[0]]
    assert result["people"]["overwrites"][0] == [2, -2, 0, 0, 0]
    assert result["diagnostics"]["inconsistent_changes"] == 1


def test_renames_swapping_paths_in_one_commit(tmp_path: Path) -> None:
    """Two renames that swap paths in one commit keep each file's lines with it."""
    commits = [
        commit(0, 0, 0, add("x", 1), add("y", 2)),
        commit(
            1,
            1,
            1,
            FileChange.for_test("y", status=Status.RENAMED, old_path="x"),
            FileChange.for_test("x", status=Status.RENAMED, old_path="y", hunks=[(2, 0, 3, 1)]),
        ),
    ]
    result = run(commits, tmp_path, granularity=1, sampling=1, burndown_people=True)
    assert result["people"]["ownership"] == {"x": {ANN: 2, BOB: 1}, "y": {ANN: 1}}


def test_delete_and_readd_restarts_file_history(tmp_path: Path) -> None:
    """A path deleted and added again gets a fresh per-file history."""
    commits = [
        commit(0, 0, 0, add("f", 4)),
        commit(1, 1, 0, FileChange.for_test("f", status=Status.DELETED, hunks=[(1, 4, 0, 0)])),
        commit(2, 2, 1, add("f", 1)),
    ]
    result = run(commits, tmp_path, granularity=1, sampling=1, burndown_files=True)
    assert result["files"] == {"f": [[0, 0, 0], [0, 0, 0], [0, 0, 1]]}
    assert result["project"]["matrix"] == [[4, 0, 0], [0, 0, 0], [0, 0, 1]]


def test_unknown_author_counts_only_in_project(tmp_path: Path) -> None:
    """An author outside the people table owns lines in the project matrix but in no person's."""
    commits = [commit(0, 0, 7, add("f", 3))]
    result = run(commits, tmp_path, burndown_people=True)
    assert result["project"]["matrix"] == [[3]]
    assert result["people"]["ownership"] == {"f": {}}
    assert result["people"]["overwrites"] == [[0] * 5] * 3


def test_state_size_drops_after_hibernate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """state_size counts the arrays held, falls after hibernate() and grows by packs read back."""
    monkeypatch.setattr(_lines, "PACK_BYTES", 512)
    analyzer = BurndownAnalyzer(context(tmp_path, last_tick=200, burndown_files=True))
    for t in range(200):
        change = add(f"f{t}", 50) if t < 100 else mod(f"f{t - 100}", (1, 0, 1, 3))
        analyzer.consume(commit(t, t, t % 3, change))
    before = analyzer.state_size()
    assert before > 100 * 2 * 12  # at least the segments of 100 files
    analyzer.hibernate()
    after = analyzer.state_size()
    assert after < before / 20
    analyzer.boot()
    analyzer.consume(commit(200, 200, 0, mod("f3", (1, 1, 1, 1))))
    # The path index and one small pack are back, not the hundred files.
    assert after < analyzer.state_size() < before / 2


def test_spill_directory_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Packs whose files were all read back go away; sparse ones are compacted at hibernation."""
    monkeypatch.setattr(_lines, "PACK_BYTES", 64)
    analyzer = BurndownAnalyzer(context(tmp_path, last_tick=400))
    spill = analyzer._ctx.spill.root
    for t in range(400):
        change = add(f"f{t}", 20) if t < 40 else mod(f"f{(t * 7) % 40}", (1, 1, 1, 2))
        analyzer.consume(commit(t, t, 0, change))
        if t % 10 == 9:
            analyzer.hibernate()
            analyzer.boot()
            packs = list(spill.glob("pack-*"))
            # 40 files, each alone in a 64-byte pack, and no more than 4x that on disk.
            assert len(packs) <= 4 * 40
            assert sum(p.stat().st_size for p in packs) <= 4 * 40 * 64 * 2
    assert sum(materialize(analyzer.finalize())["project"]["matrix"][-1]) == 40 * 20 + 360


def test_corrupted_pack_is_a_spill_error(tmp_path: Path) -> None:
    """A pack file altered on disk is reported as SpillError when a file is read back."""
    analyzer = BurndownAnalyzer(context(tmp_path, last_tick=1))
    analyzer.consume(commit(0, 0, 0, add("f", 5)))
    analyzer.hibernate()
    analyzer.boot()
    (pack,) = analyzer._ctx.spill.root.glob("pack-*")
    data = bytearray(pack.read_bytes())
    data[-3] ^= 0xFF
    pack.write_bytes(bytes(data))
    with pytest.raises(SpillError, match="corrupted"):
        analyzer.consume(commit(1, 1, 0, mod("f", (1, 1, 1, 1))))


def test_result_is_plain_json(tmp_path: Path) -> None:
    """The materialized result serialises to JSON as it is."""
    result = run(HAND, tmp_path, **HAND_OPTIONS)
    assert json.loads(json.dumps(result)) == result


def test_aggregate_spills_above_budget(tmp_path: Path) -> None:
    """With an aggregate budget the history goes to spilled runs and the result is unchanged."""
    commits = [commit(t, t, t % 2, add(f"f{t}", 3)) for t in range(50)]
    ctx = context(tmp_path, last_tick=49)
    small = AnalysisContext(**{**ctx.__dict__, "agg_budget_bytes": 256})
    analyzer = BurndownAnalyzer(small)
    for c in commits:
        analyzer.consume(c)
        assert analyzer.aggregate_size() <= 1024
    assert materialize(analyzer.finalize()) == run(commits, tmp_path / "plain")


# -- a per-line reference model and random histories ------------------------------------------


class Reference:
    """A deliberately plain burndown: a Python list of (birth, person) per line of each file."""

    def __init__(self, granularity: int, sampling: int, end: int, people: int) -> None:
        self.g, self.s, self.end, self.n = granularity, sampling, end, people
        self.files: dict[str, tuple[int, list[tuple[int, int]]]] = {}  # path -> (id, lines)
        self.next_id = 0
        self.snapshots: dict[int, tuple[list[int], list[list[int]], dict[int, list[int]]]] = {}
        self.overwrites = [[0] * (people + 2) for _ in range(people)]
        self.untracked = 0

    def remove(self, lines: list[tuple[int, int]], remover: int | None) -> None:
        for _, who in lines:
            if who < self.n:
                column = 1 if remover is None or remover >= self.n else 2 + remover
                self.overwrites[who][column] -= 1

    def consume(self, c: CommitRecord) -> None:
        me = (c.tick, c.author)
        moved: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        for n, ch in enumerate(c.files):
            if ch.status in (Status.RENAMED, Status.DELETED) and ch.old_path in self.files:
                f = self.files.pop(ch.old_path)
                if ch.status is Status.DELETED:
                    self.remove(f[1], c.author)
                else:
                    moved[n] = f
        for n, ch in enumerate(c.files):
            path = ch.new_path
            if ch.status is Status.DELETED or path is None:
                continue
            if ch.status is Status.RENAMED:
                if path in self.files:
                    self.remove(self.files.pop(path)[1], c.author)
                if n not in moved:
                    self.untracked += bool(ch.hunks) and not ch.binary
                    continue
                self.files[path] = moved[n]
            new_lines = sum(h[3] for h in ch.hunks)
            fresh = ch.status is Status.ADDED or (
                ch.status is Status.TYPE_CHANGED and path not in self.files
            )
            if fresh:
                if path in self.files:
                    self.remove(self.files.pop(path)[1], c.author)
                if not ch.binary:
                    self.files[path] = (self.next_id, [me] * new_lines)
                    self.next_id += 1
                    self.added(c.author, new_lines)
                continue
            if path not in self.files:
                self.untracked += bool(ch.hunks) and not ch.binary
                continue
            fid, lines = self.files[path]
            if ch.binary:
                self.remove(self.files.pop(path)[1], c.author)
                continue
            if ch.status is Status.TYPE_CHANGED:
                self.remove(lines, c.author)
                self.files[path] = (fid, [me] * new_lines)
                self.added(c.author, new_lines)
                continue
            out: list[tuple[int, int]] = []
            p = 0
            for old_start, old_lines, _, count in ch.hunks:
                a = old_start - 1 if old_lines else old_start
                out += lines[p:a]
                self.remove(lines[a : a + old_lines], c.author)
                out += [me] * count
                self.added(c.author, count)
                p = a + old_lines
            self.files[path] = (fid, out + lines[p:])
        self.snapshot(c.tick // self.s)

    def added(self, who: int, count: int) -> None:
        if who < self.n:
            self.overwrites[who][0] += count

    def counts(self, lines: list[tuple[int, int]]) -> list[int]:
        row = [0] * (self.end // self.g + 1)
        for birth, _ in lines:
            row[birth // self.g] += 1
        return row

    def snapshot(self, sample: int) -> None:
        everything = [line for _, lines in self.files.values() for line in lines]
        people = [self.counts([x for x in everything if x[1] == w]) for w in range(self.n)]
        per_file = {fid: self.counts(lines) for fid, lines in self.files.values()}
        self.snapshots[sample] = (self.counts(everything), people, per_file)

    def result(self) -> dict[str, Any]:
        samples = self.end // self.s + 1
        bands = self.end // self.g + 1
        zero = [0] * bands
        state: tuple[list[int], list[list[int]], dict[int, list[int]]] = (
            zero,
            [zero] * self.n,
            {},
        )
        rows = []
        for i in range(samples):
            state = self.snapshots.get(i, state)
            rows.append(state)
        names = [p.display for p in PEOPLE[: self.n]]
        return {
            "project": [r[0] for r in rows],
            "files": {
                path: [r[2].get(fid, zero) for r in rows]
                for path, (fid, _) in sorted(self.files.items())
            },
            "matrices": [[r[1][w] for r in rows] for w in range(self.n)],
            "overwrites": self.overwrites,
            "ownership": {
                path: {
                    names[w]: k for w in range(self.n) if (k := sum(1 for x in lines if x[1] == w))
                }
                for path, (_, lines) in sorted(self.files.items())
            },
            "live": sum(len(lines) for _, lines in self.files.values()),
            "untracked": self.untracked,
        }


PATHS = ("a", "b", "c", "d/e", "f")


@st.composite
def hunks_for(draw: st.DrawFn, length: int) -> tuple[tuple[Hunk, ...], int]:
    """Valid zero-context hunks for a file of ``length`` lines, and the new length."""
    hunks: list[Hunk] = []
    p = shift = 0
    for _ in range(draw(st.integers(1, 3))):
        if p > length:
            break
        a = draw(st.integers(p, length))
        old = draw(st.integers(0, min(4, length - a)))
        new = draw(st.integers(0 if old else 1, 4))
        hunks.append((a + 1 if old else a, old, a + shift + 1 if new else a + shift, new))
        shift += new - old
        p = a + old + (0 if old else 1)
    return tuple(hunks), length + shift


@st.composite
def histories(draw: st.DrawFn) -> list[CommitRecord]:
    """Random first-parent histories over a few paths: adds, edits, renames, deletes, binaries."""
    text: dict[str, int] = {}  # tracked text files -> lines
    other: set[str] = set()  # binary (or once binary) files
    commits: list[CommitRecord] = []
    hunks: Sequence[Hunk]
    tick = 0
    for index in range(draw(st.integers(1, 14))):
        tick += draw(st.sampled_from((0, 0, 1, 2, 5)))
        author = draw(st.sampled_from((0, 1, 2, 9)))
        used: set[str] = set()
        files: list[FileChange] = []
        for _ in range(draw(st.integers(0, 3))):
            path = draw(st.sampled_from(PATHS))
            if path in used:
                continue
            used.add(path)
            free = [p for p in PATHS if p not in used and p not in text and p not in other]
            op = draw(st.sampled_from(("edit", "edit", "rename", "delete", "binary", "type")))
            if path not in text and path not in other:
                if draw(st.integers(0, 3)):
                    count = draw(st.integers(0, 6))
                    files.append(
                        add(path, count)
                        if count
                        else FileChange.for_test(path, status=Status.ADDED)
                    )
                    text[path] = count
                else:
                    files.append(FileChange.for_test(path, status=Status.ADDED, binary=True))
                    other.add(path)
            elif op == "delete":
                lines = text.pop(path, 0)
                other.discard(path)
                hunks = [(1, lines, 0, 0)] if lines else []
                files.append(FileChange.for_test(path, status=Status.DELETED, hunks=hunks))
            elif op == "rename" and free:
                target = draw(st.sampled_from(free))
                used.add(target)
                if path in text:
                    hunks, text[target] = (
                        draw(hunks_for(text.pop(path)))
                        if draw(st.booleans())
                        else ((), text.pop(path))
                    )
                else:
                    other.discard(path)
                    other.add(target)
                    hunks = ()
                files.append(
                    FileChange.for_test(target, status=Status.RENAMED, old_path=path, hunks=hunks)
                )
            elif op == "binary" and path in text:
                del text[path]
                other.add(path)
                files.append(FileChange.for_test(path, binary=True))
            elif op == "type":
                count = draw(st.integers(0, 3))
                old = text.get(path, 1)
                hunks = [(1, old, 1 if count else 0, count)] if old or count else []
                other.discard(path)
                text[path] = count
                files.append(FileChange.for_test(path, status=Status.TYPE_CHANGED, hunks=hunks))
            elif path in text:
                hunks, text[path] = draw(hunks_for(text[path]))
                files.append(mod(path, *hunks))
            else:  # hunks on a path that was binary once: untracked
                files.append(mod(path, (0, 0, 1, 1)))
        commits.append(commit(index, tick, author, *files))
    return commits


RICH: dict[str, Any] = {"burndown_files": True, "burndown_people": True}


def _check_against_reference(commits: list[CommitRecord], g: int, s: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = run(commits, Path(tmp), granularity=g, sampling=s, **RICH)
    ref = Reference(g, s, commits[-1].tick, len(PEOPLE))
    for c in commits:
        ref.consume(c)
    want = ref.result()
    assert got["project"]["matrix"] == want["project"]
    assert got["files"] == want["files"]
    assert got["people"]["matrices"] == want["matrices"]
    assert got["people"]["overwrites"] == want["overwrites"]
    assert got["people"]["ownership"] == want["ownership"]
    assert sum(got["project"]["matrix"][-1]) == want["live"]
    assert got["diagnostics"]["untracked_changes"] == want["untracked"]
    assert got["diagnostics"]["inconsistent_changes"] == 0


@settings(max_examples=150)
@given(histories(), st.integers(1, 4), st.integers(1, 4))
def test_random_histories_match_the_reference(
    commits: list[CommitRecord], granularity: int, sampling: int
) -> None:
    """On random histories every matrix, the overwrites and ownership match a per-line model."""
    _check_against_reference(commits, granularity, sampling)


@settings(max_examples=100)
@given(histories(), st.integers(1, 5), st.booleans())
@example(HAND, 1, True)
@example([commit(0, 0, 0, add("b", 1)), commit(1, 0, 0, mod("b", (1, 1, 0, 0)))], 1, False)
def test_hibernation_changes_nothing(
    commits: list[CommitRecord], every: int, hibernate_last: bool
) -> None:
    """The result is identical whether hibernate()/boot() run after every k commits or never."""
    with tempfile.TemporaryDirectory() as tmp:
        straight = run(commits, Path(tmp) / "a", granularity=2, sampling=3, **RICH)
        # Tiny packs, so files spread over many packs that empty, compact and go away.
        with patch.object(_lines, "PACK_BYTES", 100):
            cut = run(
                commits,
                Path(tmp) / "b",
                every=every,
                hibernate_last=hibernate_last,
                granularity=2,
                sampling=3,
                **RICH,
            )
    assert cut == straight
