"""The devs analyzer against git's own numbers: ``git log --numstat`` on the same commits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from gitrepo import build_repo, commit_list, git, numstat_by_email

from gitstream import AnalysisConfig, analyze
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth

EDGE_COMMITS: list[dict[str, Any]] = [
    {"files": {"a.txt": "1\n2\n3\n", "dir with space/ünï.txt": "x\ny\n"}, "author": ("Ann", "ann@x.org")},
    {"files": {"a.txt": "1\nTWO\n3\n4\n", "img.bin": b"\x00\x01\x02binary"}, "author": ("Bo", "bo@x.org")},
    {"files": {}, "author": ("Ann", "ann@x.org"), "message": "empty"},
    {"renames": {"a.txt": "moved/a.txt"}, "files": {"moved/a.txt": "1\nTWO\n3\n4\n5\n"}},
    {"files": {"img.bin": b"\x00\x05changed binary", "tab\there.txt": "t\n"},
     "author": (b"J\xf6rg", "jorg@x.org")},
    # A side branch of two commits, merged back: full history sees them, first-parent does not.
    {"files": {"side.txt": "s1\n"}, "author": ("Cy", "cy@x.org"), "parents": [4]},
    {"files": {"side.txt": "s1\ns2\n", "moved/a.txt": None}, "author": ("Cy", "cy@x.org")},
    {"files": {"main.txt": "m\n"}, "author": ("Ann", "ann@x.org"), "parents": [4]},
    {"files": {"side.txt": "s1\ns2\n", "moved/a.txt": None}, "parents": [7, 6],
     "author": ("Bo", "bo@x.org"), "message": "merge"},
    {"files": {"dir with space/ünï.txt": "x\n"}, "author": ("ANN", "Ann@X.org")},
]  # fmt: skip


def devs_by_email(result: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """Per lower-cased first email: (added, removed, commits), summed as the oracle does."""
    totals: Counter[tuple[str, str]] = Counter()
    for person in result["analyzers"]["devs"]["people"]:
        email = person["emails"][0].lower()
        totals[(email, "a")] += person["added"]
        totals[(email, "r")] += person["removed"]
        totals[(email, "c")] += person["commits"]
    emails = {e for e, _ in totals}
    return {e: (totals[(e, "a")], totals[(e, "r")], totals[(e, "c")]) for e in emails}


@pytest.fixture(scope="module")
def edge_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edge")
    build_repo(path, EDGE_COMMITS)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("full_history", [False, True])
@pytest.mark.parametrize("renames", [False, True])
def test_devs_equals_numstat_on_edge_cases(
    edge_repo: Path, full_history: bool, renames: bool
) -> None:
    """Added/removed/commits per email equal git log --numstat for every walk and rename mode."""
    result = analyze(
        AnalysisConfig(
            repo=edge_repo,
            analyzers=("devs",),
            exact_identities=True,
            full_history=full_history,
            renames=renames,
            memory_bytes=None,
        )
    )
    want = numstat_by_email(edge_repo, first_parent=not full_history, renames=renames)
    assert devs_by_email(result) == want
    assert result["repository"]["commits"] == len(
        commit_list(edge_repo, first_parent=not full_history)
    )


def test_identities_merge_by_email_and_name(edge_repo: Path) -> None:
    """Without --exact-identities, 'ANN <Ann@X.org>' and 'Ann <ann@x.org>' are one person."""
    result = analyze(AnalysisConfig(repo=edge_repo, analyzers=("devs",), memory_bytes=None))
    people = result["analyzers"]["devs"]["people"]
    ann = [p for p in people if "ann@x.org" in p["emails"]]
    assert len(ann) == 1
    assert set(ann[0]["emails"]) == {"ann@x.org", "Ann@X.org"}
    assert ann[0]["commits"] == 4  # commits 0, 2, 7 and 9 (as "ANN <Ann@X.org>")
    assert sum(p["commits"] for p in people) == result["repository"]["commits"]


def test_non_utf8_author_is_decoded(edge_repo: Path) -> None:
    """A latin-1 author name with an encoding header comes out as proper text."""
    result = analyze(AnalysisConfig(repo=edge_repo, analyzers=("devs",), memory_bytes=None))
    names = {p["name"] for p in result["analyzers"]["devs"]["people"]}
    assert "Jörg" in names


def test_changed_and_per_tick_and_language_sum_to_totals(edge_repo: Path) -> None:
    """Per-tick and per-language figures add up to each person's totals."""
    result = analyze(AnalysisConfig(repo=edge_repo, analyzers=("devs",), memory_bytes=None))
    for p in result["analyzers"]["devs"]["people"]:
        for key in ("commits", "added", "removed", "changed"):
            assert sum(t[key] for t in p["ticks"].values()) == p[key]
        for key in ("added", "removed", "changed"):
            assert sum(lang[key] for lang in p["languages"].values()) == p[key]
        assert 0 <= p["changed"] <= min(p["added"], p["removed"]) or p["changed"] == 0


def test_mailmap_at_the_analysed_revision_is_honoured(tmp_path: Path) -> None:
    """A .mailmap committed in the tree maps an alias onto the canonical identity."""
    build_repo(
        tmp_path,
        [
            {"files": {"a": "1\n"}, "author": ("Old Name", "old@x.org")},
            {"files": {"a": "1\n2\n"}, "author": ("New Name", "new@x.org")},
            {"files": {".mailmap": "New Name <new@x.org> <old@x.org>\n"}, "author": ("New Name", "new@x.org")},
        ],
    )  # fmt: skip
    result = analyze(
        AnalysisConfig(repo=tmp_path, analyzers=("devs",), exact_identities=True, memory_bytes=None)
    )
    people = result["analyzers"]["devs"]["people"]
    assert [(p["name"], p["email"], p["commits"]) for p in people] == [("New Name", "new@x.org", 3)]
    assert devs_by_email(result) == numstat_by_email(tmp_path)


@pytest.mark.slow
def test_devs_equals_numstat_on_generated_history(tmp_path: Path) -> None:
    """On a generated history with merges, renames, binaries and odd names, devs matches git."""
    spec = SynthSpec(
        commits=1500,
        files=120,
        authors=12,
        seed=7,
        merge_every=40,
        rename_every=25,
        delete_every=30,
        binary_every=35,
        empty_every=50,
        big_commit_every=300,
        big_commit_files=60,
    )
    repo = build_synth(tmp_path / "repo", spec)
    for full_history in (False, True):
        result = analyze(
            AnalysisConfig(
                repo=repo,
                analyzers=("devs",),
                exact_identities=True,
                full_history=full_history,
                renames=False,
                chunk_size=137,
            )
        )
        assert devs_by_email(result) == numstat_by_email(repo, first_parent=not full_history)


HISTOGRAM_OLD = (
    "\n{\n\nreturn\nreturn\nx\n{\nx\nx\nx\ny\nreturn\nx\n}\ny\ny\nreturn\n}\n{\nx\n{\nreturn\nx\ny"
    "\n{\n\ny\nx\ny\n\n{\ny\n{\nreturn\n}\n\n}\n{\n}\ny\n"
)
HISTOGRAM_NEW = (
    "\n{\n\nreturn\nreturn\nx\nx\nx\nx\ny\nreturn\nx\n}\n\ny\ny\nreturn\n\n{\nx\n{\nreturn\ny\nx\n{"
    "\ny\nx\ny\n{\n{\ny\n{\nreturn\ny\n}\n\n}\n{\n}\ny\n"
)


MYERS_VS_HISTOGRAM = {False: (45, 5), True: (53, 13)}
"""Lines added and removed by the edit, first commit included: myers (git's default) and
the minimal and patience diffs agree here; histogram does not."""


@pytest.mark.parametrize("algorithm", [None, "histogram", "patience", "minimal"])
def test_devs_follows_the_repositorys_diff_algorithm_as_git_log_does(
    tmp_path: Path, algorithm: str | None
) -> None:
    """``git log`` reads ``diff.algorithm``, the diff-tree plumbing does not: gitstream passes
    it on, so an edit myers and histogram count differently agrees with git log either way."""
    build_repo(tmp_path, [{"files": {"f.txt": HISTOGRAM_OLD}}, {"files": {"f.txt": HISTOGRAM_NEW}}])
    if algorithm:
        git(tmp_path, "config", "diff.algorithm", algorithm)
    result = analyze(AnalysisConfig(repo=tmp_path, analyzers=("devs",)))
    want = numstat_by_email(tmp_path)
    assert devs_by_email(result) == want
    assert want["author@example.com"][:2] == MYERS_VS_HISTOGRAM[algorithm == "histogram"]


def test_replaced_commits_are_analysed_as_stored(tmp_path: Path) -> None:
    """The walk (libgit2) does not follow ``git replace``; the diffs do not either, so a
    replaced commit counts its own lines for its own author, as ``git --no-replace-objects
    log`` shows, never the replacement's lines for the original's author."""
    ids = build_repo(tmp_path, [
        {"files": {"f.txt": "1\n"}, "author": ("Ann", "ann@x")},
        {"files": {"f.txt": "1\n2\n"}, "author": ("Ann", "ann@x")},
        {"files": {"f.txt": "".join(f"{i}\n" for i in range(50))}, "author": ("Zed", "zed@x"),
         "parents": [0]},
    ], head=1)  # fmt: skip
    git(tmp_path, "replace", ids[1], ids[2])
    result = analyze(AnalysisConfig(repo=tmp_path, analyzers=("devs",)))
    assert devs_by_email(result) == {"ann@x": (2, 0, 2)}
