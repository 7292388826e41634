"""Tests of the test helpers in ``tests/gitrepo.py``: the builder and the git oracles.

A six-commit history (a merge, a rename, a binary file, a latin-1 author, an empty commit)
is built once; every oracle's answer on it was worked out by hand from the spec below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gitrepo import (
    CommitSpec,
    blame_lines_by_author,
    build_repo,
    cochange_counts,
    commit_list,
    git,
    git_bytes,
    git_env,
    lines_at_rev,
    numstat_by_email,
    numstat_by_path,
)

CELINE = "Céline".encode("latin-1")

# 0 ─ 1 ─ 2 ─── 4 ─ 5      mainline (first parents)
#      \       /
#       ─ 3 ──             side branch
HISTORY: list[CommitSpec] = [
    {
        "files": {"a.txt": "1\n2\n3\n", "b.bin": b"\x00\x01\x02", "c.txt": "x\n"},
        "author": ("Ann", "ann@x"),
    },
    # a.txt: "2" becomes "2b" and "4" is appended: 2 added, 1 removed
    {"files": {"a.txt": "1\n2b\n3\n4\n"}, "author": ("Bob", "bob@x")},
    # a pure rename into a directory, and a binary edit; the email differs only by case
    {"renames": {"c.txt": "d/c.txt"}, "files": {"b.bin": b"\x00\x03"}, "author": ("Ann", "ANN@x")},
    {"parents": [1], "files": {"e.txt": "e1\ne2\n"}, "author": ("Dee", "dee@x")},
    # the merge's first-parent diff brings e.txt in: 2 added
    {"parents": [2, 3], "files": {"e.txt": "e1\ne2\n"}, "author": (CELINE, "celine@x")},
    {"author": ("Ann", "ann@x"), "message": "empty"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("helpers") / "repo"
    return path, build_repo(path, HISTORY)


@pytest.fixture
def repo(built: tuple[Path, list[str]]) -> Path:
    return built[0]


@pytest.fixture
def ids(built: tuple[Path, list[str]]) -> list[str]:
    return built[1]


def test_git_env_reads_no_user_or_system_config(tmp_path: Path) -> None:
    """git run through the helpers sees only the repository's own configuration."""
    git(tmp_path, "init", "-q")
    origins = git(tmp_path, "config", "--list", "--show-origin")
    assert all(line.startswith("file:.git/config") for line in origins.splitlines())
    assert git_env()["GIT_CONFIG_NOSYSTEM"] == "1"
    assert not any(Path(git_env()["HOME"]).iterdir())


def test_builder_records_parents_as_given(repo: Path) -> None:
    """Explicit parent indices become the commits' parents, first parent first."""
    ids = build_repo(repo.parent / "again", HISTORY, bare=True)
    assert git(repo, "rev-parse", "HEAD").strip() == ids[5]  # same bytes, same ids
    parents = git(repo, "rev-list", "--parents", "-n1", ids[4]).split()
    assert parents == [ids[4], ids[2], ids[3]]
    assert git(repo, "rev-list", "--parents", "-n1", ids[0]).split() == [ids[0]]


def test_builder_makes_extra_roots_and_checks_out_head(tmp_path: Path) -> None:
    """``parents: []`` starts a new root; HEAD's branch ends at ``head`` and is checked out."""
    ids = build_repo(
        tmp_path,
        [{"files": {"a": "1\n"}}, {"parents": [], "files": {"b": "2\n"}}, {"parents": [0, 1]}],
        head=2,
    )
    assert git(tmp_path, "rev-list", "--max-parents=0", "HEAD").split() == [ids[1], ids[0]]
    assert (tmp_path / "a").read_text() == "1\n"
    assert (tmp_path / "b").exists() is False  # the merge keeps its first parent's tree


def test_builder_keeps_binary_bytes_and_latin1_author(repo: Path, ids: list[str]) -> None:
    """Binary content is stored byte for byte; a latin-1 name goes in raw, with its encoding."""
    assert git_bytes(repo, "cat-file", "blob", f"{ids[2]}:b.bin") == b"\x00\x03"
    raw = git_bytes(repo, "cat-file", "commit", ids[4])
    assert b"author " + CELINE + b" <celine@x>" in raw
    assert b"\nencoding iso-8859-1\n" in raw
    assert git(repo, "log", "-1", "--format=%an", ids[4]).strip() == "Céline"


def test_numstat_by_email_first_parent(repo: Path) -> None:
    """First-parent numstat sums lines per lower-cased email; empty commits count as commits."""
    assert numstat_by_email(repo) == {
        "ann@x": (3 + 1 + 1, 1, 3),  # c0 a.txt+c.txt, c2 delete c.txt + add d/c.txt, c5 empty
        "bob@x": (2, 1, 1),
        "celine@x": (2, 0, 1),
    }


def test_numstat_by_email_with_renames(repo: Path) -> None:
    """With rename detection a pure rename adds and removes nothing."""
    assert numstat_by_email(repo, renames=True)["ann@x"] == (4, 0, 3)


def test_numstat_by_email_full_history(repo: Path) -> None:
    """The full history adds the side branch's commit; the merge keeps its first-parent diff."""
    stats = numstat_by_email(repo, first_parent=False)
    assert stats["dee@x"] == (2, 0, 1)
    assert stats["celine@x"] == (2, 0, 1)
    assert len(stats) == 4


def test_numstat_by_path(repo: Path) -> None:
    """Per path: lines added, removed and commits touching it; binary files count 0 lines."""
    assert numstat_by_path(repo) == {
        "a.txt": (5, 1, 2),
        "b.bin": (0, 0, 2),
        "c.txt": (1, 1, 2),
        "d/c.txt": (1, 0, 1),
        "e.txt": (2, 0, 1),
    }
    renamed = numstat_by_path(repo, renames=True)
    assert (renamed["c.txt"], renamed["d/c.txt"]) == ((1, 0, 1), (0, 0, 1))


def test_lines_at_rev(repo: Path, ids: list[str]) -> None:
    """Line counts of text files at a revision; binary files are left out."""
    assert lines_at_rev(repo) == {"a.txt": 4, "d/c.txt": 1, "e.txt": 2}
    assert lines_at_rev(repo, ids[0]) == {"a.txt": 3, "c.txt": 1}


def test_blame_lines_by_author(repo: Path) -> None:
    """First-parent blame follows the rename and credits the side branch's lines to the merge."""
    assert blame_lines_by_author(repo) == {
        "a.txt": {"Ann <ann@x>": 2, "Bob <bob@x>": 2},
        "d/c.txt": {"Ann <ann@x>": 1},
        "e.txt": {"Céline <celine@x>": 2},
    }


def test_cochange_counts(repo: Path) -> None:
    """Pairs count commits touching both paths; revisions count commits touching one."""
    pairs, revisions = cochange_counts(repo)
    assert revisions == {"a.txt": 2, "b.bin": 2, "c.txt": 2, "d/c.txt": 1, "e.txt": 1}
    assert pairs == {
        ("a.txt", "b.bin"): 1,
        ("a.txt", "c.txt"): 1,
        ("b.bin", "c.txt"): 2,
        ("b.bin", "d/c.txt"): 1,
        ("c.txt", "d/c.txt"): 1,
    }


def test_cochange_counts_drops_big_commits(repo: Path) -> None:
    """A commit touching more than ``max_files`` paths counts neither in pairs nor revisions."""
    assert cochange_counts(repo, max_files=2) == ({}, {"a.txt": 1, "e.txt": 1})


def test_commit_list(repo: Path, ids: list[str]) -> None:
    """Commits come oldest first; the first-parent list skips the side branch."""
    assert commit_list(repo) == [ids[i] for i in (0, 1, 2, 4, 5)]
    full = commit_list(repo, first_parent=False)
    assert sorted(full) == sorted(ids)
    assert full.index(ids[2]) < full.index(ids[4]) and full.index(ids[3]) < full.index(ids[4])


def test_oracles_apply_mailmap(tmp_path: Path) -> None:
    """``.mailmap`` maps identities in blame and, unless switched off, in numstat."""
    build_repo(
        tmp_path,
        [
            {"files": {".mailmap": "Ann Lee <ann@x> <ann@old>\n"}, "author": ("Ann", "ann@x")},
            {"files": {"f.txt": "1\n2\n"}, "author": ("A. L.", "ann@old")},
        ],
    )
    assert blame_lines_by_author(tmp_path)["f.txt"] == {"Ann Lee <ann@x>": 2}
    assert numstat_by_email(tmp_path) == {"ann@x": (3, 0, 2)}
    assert numstat_by_email(tmp_path, mailmap=False) == {"ann@x": (1, 0, 1), "ann@old": (2, 0, 1)}
