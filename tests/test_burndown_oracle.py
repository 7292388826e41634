"""The burndown analyzer against ``git blame --first-parent`` on repositories built by the tests.

At the end of the history every text line belongs to the commit that last wrote it on the
mainline; gitstream's ownership (lines per person per file) and the last row of its project
matrix (lines per age band) must say exactly what git blame says, whatever the chunking.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from gitrepo import blame_lines_by_author, build_repo, git, git_bytes, lines_at_rev

from gitstream import AnalysisConfig, analyze, prepare
from gitstream.errors import UsageError
from gitstream.records import Person
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth

DAY = 86_400
T0 = 1_600_000_000


def day(n: int) -> int:
    return T0 + n * DAY


ANN, BOB, CY, DEE = (
    ("Ann", "ann@x.org"),
    ("Bob", "bob@x.org"),
    ("Cy", "cy@x.org"),
    ("Dee", "dee@x.org"),
)
EDGE_COMMITS: list[dict[str, Any]] = [
    {"files": {"a.txt": "1\n2\n3\n4\n5\n", "b.txt": "x\ny\n", "nonl.txt": "p\nq", "empty.txt": ""},
     "author": ANN, "time": day(0)},
    {"files": {"a.txt": "1\nTWO\n3\n4\nfour-and-a-half\n", "img.bin": b"\x00\x01binary"},
     "author": BOB, "time": day(3)},
    {"renames": {"b.txt": "dir/b.txt"}, "files": {"dir/b.txt": "x\ny\nz\n"}, "author": CY,
     "time": day(9)},
    {"files": {"t2b.txt": "t\nu\n", "a.txt": "0\n1\nTWO\n3\n4\nfour-and-a-half\n"}, "author": ANN,
     "time": day(20)},
    {"files": {"t2b.txt": b"\x00now binary", "nonl.txt": "p\nq\nr"}, "author": BOB,
     "time": day(31)},
    # A side branch merged back: first-parent blame gives its lines to the merge's author.
    {"files": {"side.txt": "s1\ns2\n", "a.txt": "zero\n1\nTWO\n3\n4\nfour-and-a-half\n"},
     "author": DEE, "time": day(33), "parents": [4]},
    {"files": {"main.txt": "m\n"}, "author": ANN, "time": day(35), "parents": [4]},
    {"files": {"side.txt": "s1\ns2\n", "a.txt": "zero\n1\nTWO\n3\n4\nfour-and-a-half\n"},
     "author": BOB, "time": day(40), "parents": [6, 5], "message": "merge"},
    {"files": {"dir/b.txt": None, "b.txt": "new b\n"}, "author": CY, "time": day(61)},
    {"files": {"t2b.txt": "back\n"}, "author": ANN, "time": day(62)},  # binary -> text
    {"files": {"t2b.txt": "back\nmore\n", "a.txt": "zero\n1\nTWO\n3\n"}, "author": CY,
     "time": day(95)},
]  # fmt: skip
UNTRACKED = frozenset({"t2b.txt"})  # turned back from binary to text: its lines cannot be known


@pytest.fixture(scope="module")
def edge_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edge")
    build_repo(path, EDGE_COMMITS)  # type: ignore[arg-type]
    return path


def burndown(repo: Path, **options: Any) -> dict[str, Any]:
    config = AnalysisConfig(
        repo=repo,
        analyzers=("burndown",),
        burndown_people=True,
        burndown_files=True,
        memory_bytes=None,
        **options,
    )
    result: dict[str, Any] = analyze(config)["analyzers"]["burndown"]
    return result


def display_of(repo: Path, **options: Any) -> dict[tuple[str, str], str]:
    """Blame's ``(name, email)`` -> gitstream's person ``Name <email>``, from the people table."""
    people: tuple[Person, ...] = prepare(
        AnalysisConfig(repo=repo, analyzers=("burndown",), memory_bytes=None, **options)
    ).history.people
    by_email: dict[str, set[str]] = {}
    for p in people:
        for email in p.emails:
            by_email.setdefault(email.lower(), set()).add(p.display)
    pairs = {(n, e): p.display for p in people for n in p.names for e in p.emails}

    class Lookup(dict[tuple[str, str], str]):
        def __missing__(self, key: tuple[str, str]) -> str:
            (found,) = by_email[key[1].lower()]
            return found

    return Lookup(pairs)


def blame_ownership(repo: Path, **options: Any) -> dict[str, dict[str, int]]:
    """git blame --first-parent per file, authors mapped onto gitstream's people."""
    persons = display_of(repo, **options)
    out: dict[str, dict[str, int]] = {}
    for path, authors in blame_lines_by_author(repo).items():
        counts: Counter[str] = Counter()
        for ident, n in authors.items():
            name, _, email = ident.rpartition(" <")
            counts[persons[(name, email.rstrip(">"))]] += n
        out[path] = dict(counts)
    return out


def blame_bands(
    repo: Path, granularity: int, tick_seconds: int = DAY, skip: frozenset[str] = frozenset()
) -> Counter[int]:
    """Live lines by the age band of the mainline commit that last wrote them, per git blame."""
    log = git(repo, "log", "--first-parent", "--reverse", "--format=%H %ct").split()
    ticks: dict[str, int] = {}
    start, last = int(log[1]), 0
    for sha, when in zip(log[::2], log[1::2], strict=True):
        last = max(last, (int(when) - start) // tick_seconds)  # as the walk keeps ticks ordered
        ticks[sha] = last
    bands: Counter[int] = Counter()
    for path, count in lines_at_rev(repo).items():
        if count == 0 or path in skip:
            continue
        raw = git_bytes(repo, "blame", "--first-parent", "--porcelain", "HEAD", "--", path)
        for line in raw.split(b"\n"):
            head = line.split(b" ")
            if len(head) >= 3 and len(head[0]) == 40 and not line.startswith(b"\t"):
                # A group header "<sha> <orig line> <final line> [<lines in group>]"; with
                # --porcelain one header precedes every line.
                bands[ticks[head[0].decode()] // granularity] += 1
    return bands


def nonempty(ownership: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {path: owners for path, owners in ownership.items() if owners}


@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_ownership_equals_blame_on_edge_cases(edge_repo: Path, chunk_size: int | None) -> None:
    """Ownership at the end equals git blame --first-parent, with and without hibernation."""
    result = burndown(edge_repo, chunk_size=chunk_size)
    want = {p: o for p, o in blame_ownership(edge_repo).items() if p not in UNTRACKED}
    assert nonempty(result["people"]["ownership"]) == want
    assert set(result["people"]["ownership"]) == set(lines_at_rev(edge_repo)) - UNTRACKED
    assert result["diagnostics"] == {"untracked_changes": 1, "inconsistent_changes": 0}


def test_last_row_equals_blame_bands_on_edge_cases(edge_repo: Path) -> None:
    """The last sample row counts live lines by the band of the commit git blame names."""
    result = burndown(edge_repo, granularity=7, sampling=7)
    want = blame_bands(edge_repo, 7, skip=UNTRACKED)
    last = result["project"]["matrix"][-1]
    assert {band: n for band, n in enumerate(last) if n} == want
    assert len(result["project"]["matrix"]) == 95 // 7 + 1


def test_chunking_changes_nothing_on_edge_cases(edge_repo: Path) -> None:
    """The whole result is the same for one chunk and for one commit per chunk."""
    assert burndown(edge_repo, chunk_size=1) == burndown(edge_repo)


@pytest.mark.slow
def test_ownership_equals_blame_on_generated_history(tmp_path: Path) -> None:
    """On a generated history with merges, renames, binaries and odd names, ownership is blame's."""
    spec = SynthSpec(
        commits=600,
        files=60,
        authors=8,
        seed=11,
        merge_every=23,
        rename_every=13,
        delete_every=29,
        binary_every=31,
        empty_every=97,
        big_commit_every=211,
        big_commit_files=30,
        seconds_per_commit=6 * 3600,
    )
    repo = build_synth(tmp_path / "repo", spec)
    straight = burndown(repo, granularity=10, sampling=10)
    chunked = burndown(repo, granularity=10, sampling=10, chunk_size=17)
    assert chunked == straight
    assert straight["diagnostics"] == {"untracked_changes": 0, "inconsistent_changes": 0}
    assert nonempty(straight["people"]["ownership"]) == blame_ownership(repo)
    last = straight["project"]["matrix"][-1]
    assert {band: n for band, n in enumerate(last) if n} == blame_bands(repo, 10)
    assert sum(last) == sum(lines_at_rev(repo).values())


YEAR_9999 = 253_402_300_799


def test_a_commit_dated_9999_makes_burndown_stand_aside_not_exhaust_memory(
    tmp_path: Path,
) -> None:
    """One commit with a wrong clock (9999-12-31) would make burndown's matrices ~70 GiB: by
    default it stands aside with the dates in its reason and the others run; asked for by name,
    it is refused with the same message."""
    build_repo(tmp_path, [
        {"files": {"a.txt": "1\n"}, "time": 946_684_800},
        {"files": {"a.txt": "1\n2\n"}, "time": YEAR_9999},
    ])  # fmt: skip
    result = analyze(AnalysisConfig(repo=tmp_path, memory_bytes=1 << 30))
    reason = result["run"]["skipped_analyzers"]["burndown"]
    assert "2000-01-01 to 9999-12-31" in reason and "--tick-size" in reason
    assert "burndown" not in result["analyzers"]
    assert result["analyzers"]["devs"]["people"][0]["added"] == 2
    with pytest.raises(UsageError, match="wrong clock"):
        analyze(AnalysisConfig(repo=tmp_path, memory_bytes=1 << 30, analyzers=("burndown",)))


def test_burndown_at_the_epoch_fits_the_budget_by_its_tick_size(tmp_path: Path) -> None:
    """An import dated 1970 before a 2023 commit: 19,700 daily ticks fit any budget, 472,000
    hourly ones (a 1.9 GiB result) do not fit 1 GiB."""
    build_repo(tmp_path, [
        {"files": {"a.txt": "1\n"}, "time": 0},
        {"files": {"a.txt": "1\n2\n"}, "time": 1_700_000_000},
    ])  # fmt: skip
    daily = analyze(AnalysisConfig(repo=tmp_path, memory_bytes=256 << 20, analyzers=("burndown",)))
    bands = 1_700_000_000 // 86_400 // 30 + 1
    assert daily["analyzers"]["burndown"]["project"]["matrix"][-1] == [1] + [0] * (bands - 2) + [1]
    hourly = AnalysisConfig(
        repo=tmp_path, memory_bytes=1 << 30, analyzers=("burndown",), tick_size_hours=1.0
    )
    with pytest.raises(UsageError, match="472,222 ticks of 1 h"):
        analyze(hourly)


def test_files_moved_across_an_exclude_leave_and_arrive_whole(tmp_path: Path) -> None:
    """--exclude vendor/*: a file moved into vendor/ leaves the analysis (file history and
    burndown drop it), one moved out arrives with all its lines, as ``git log -M -- <paths>``
    pairs renames only inside the paths kept; devs counts what that log counts."""
    build_repo(tmp_path, [
        {"files": {"src/a.c": "".join(f"{i}\n" for i in range(10)),
                   "vendor/x.c": "".join(f"{i}\n" for i in range(50))}},
        {"renames": {"src/a.c": "vendor/a.c"}},
        {"renames": {"vendor/x.c": "src/x.c"},
         "files": {"src/x.c": "".join(f"{i if i != 7 else 's7'}\n" for i in range(50))}},
    ])  # fmt: skip
    config = AnalysisConfig(repo=tmp_path, exclude=("vendor/*",), chunk_size=1)
    result = analyze(config)["analyzers"]
    assert list(result["file_history"]["files"]) == ["src/x.c"]
    assert sum(result["burndown"]["project"]["matrix"][-1]) == 50
    assert result["burndown"]["diagnostics"]["untracked_changes"] == 0
    log = git(tmp_path, "log", "-M", "--first-parent", "--numstat", "--format=", "--",
              ":(exclude)vendor/*")  # fmt: skip
    counts = [line.split("\t") for line in log.splitlines() if line]
    people = result["devs"]["people"]
    assert people[0]["added"] == sum(int(a) for a, _, _ in counts)
    assert people[0]["removed"] == sum(int(r) for _, r, _ in counts)
