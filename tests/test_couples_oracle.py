"""couples and file_history against git's own numbers on real repositories.

Without rename following, ``couples`` must equal ``git log --name-only --no-renames``
(``gitrepo.cochange_counts``) and ``file_history`` must equal ``git log --numstat`` per path
(since the path was last created). With rename following, git's own ``git log -M
--name-status`` and ``--numstat`` are turned into commit records and fed to the brute-force
models of ``test_couples`` and ``test_file_history``, so the whole pipeline (diff stage
included) is checked against git's rename detection.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from gitrepo import (
    DEFAULT_TIME,
    build_repo,
    cochange_counts,
    commit_list,
    git,
    git_bytes,
    log_numstat,
)
from test_couples import model as couples_model
from test_file_history import model as history_model

from gitstream import AnalysisConfig, analyze
from gitstream.analyzers.base import available
from gitstream.records import CommitRecord, FileChange, Status
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth

pytestmark = pytest.mark.skipif(
    not {"couples", "file_history"} <= set(available()),
    reason="couples/file_history are not registered (entry points in pyproject.toml)",
)

DAY = 86_400
ANN, BO, CY = ("Ann", "ann@x.org"), ("Bo", "bo@x.org"), ("Cy", "cy@x.org")

EDGE_COMMITS: list[dict[str, Any]] = [
    {"files": {"a.txt": "1\n2\n3\n", "dir with space/ünï.txt": "x\ny\n", "b.txt": "b\n"}, "author": ANN},
    {"files": {"a.txt": "1\nTWO\n3\n4\n", "img.bin": b"\x00\x01\x02binary"}, "author": BO},
    {"renames": {"a.txt": "moved/a.txt"}, "files": {"moved/a.txt": "1\nTWO\n3\n4\n5\n", "b.txt": None}},
    {"files": {"b.txt": "new b\n", "img.bin": b"\x00\x05changed binary"}, "author": CY},  # b reused
    {"files": {f"many/f{i}.txt": f"{i}\n" for i in range(8)}, "author": ANN},  # a big commit
    {"files": {}, "author": BO, "message": "empty"},
    # A side branch of two commits merged back: full history sees them, first-parent does not.
    {"files": {"side.txt": "s1\n"}, "author": CY, "parents": [5]},
    {"files": {"side.txt": "s1\ns2\n", "moved/a.txt": None}, "author": CY},
    {"files": {"main.txt": "m\n", "b.txt": "new b\nmore\n"}, "author": ANN, "parents": [5]},
    {"files": {"side.txt": "s1\ns2\n", "moved/a.txt": None}, "parents": [8, 7], "author": BO},
    {"renames": {"many/f0.txt": "f0.txt", "many/f1.txt": "many/g1.txt"}, "author": CY},
    {"files": {"dir with space/ünï.txt": "x\n", "f0.txt": "0\nzero\n", "many/f1.txt": "again\n"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def edge_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("couples-edge")
    commits = [dict(c, time=DEFAULT_TIME + DAY * i) for i, c in enumerate(EDGE_COMMITS)]
    build_repo(path, commits)  # type: ignore[arg-type]
    return path


def gitstream(repo: Path, **options: Any) -> dict[str, Any]:
    config = AnalysisConfig(
        repo=repo,
        analyzers=("couples", "file-history"),
        exact_identities=True,
        memory_bytes=None,
        **options,
    )
    result: dict[str, Any] = analyze(config)["analyzers"]
    return result


def email(display: str) -> str:
    m = re.search(r"<([^>]*)>$", display)
    assert m, display
    return m.group(1).lower()


# -- what git says ---------------------------------------------------------------------------


def name_status(
    repo: Path, first_parent: bool, renames: bool
) -> list[tuple[list[str], list[list[str]]]]:
    """``git log --name-status`` oldest first: ([hash, committer time, email], [[status, paths...]])."""
    raw = git_bytes(
        repo,
        "log",
        "-z",
        "--reverse",
        "--topo-order",
        "--name-status",
        "--format=tformat:%x01%H%x00%ct%x00%aE",
        "-M" if renames else "--no-renames",
        "--diff-merges=first-parent",
        *(["--first-parent"] if first_parent else []),
        "HEAD",
    )
    out = []
    for chunk in raw.split(b"\x01")[1:]:
        parts = [p.decode("utf-8", "surrogateescape") for p in chunk.split(b"\x00")]
        header, tokens = parts[:3], iter(parts[3:])
        changes = []
        for token in tokens:
            status = token.lstrip("\n")
            if not status:
                continue
            paths = [next(tokens), next(tokens)] if status[0] in "RC" else [next(tokens)]
            changes.append([status[0], *paths])
        out.append((header, changes))
    return out


def git_records(
    repo: Path, first_parent: bool, renames: bool
) -> tuple[list[CommitRecord], list[str]]:
    """git's view of the history as commit records, plus each record's lower-cased author email."""
    lines = {}
    for (sha,), numstat in log_numstat(repo, first_parent=first_parent, renames=renames):
        for added, removed, _old, path in numstat:
            lines[sha, path] = (added, removed)
    records, emails = [], []
    for index, ((sha, ct, mail), changes) in enumerate(name_status(repo, first_parent, renames)):
        files = []
        for status, *paths in changes:
            added, removed = lines[sha, paths[-1]]
            old, new = {"A": (None, paths[0]), "D": (paths[0], None)}.get(
                status, (paths[0], paths[-1])
            )
            files.append(FileChange(old, new, Status(status), False, added, removed, ()))
        records.append(CommitRecord.for_test(index, files, hash=sha, time=int(ct)))
        emails.append(mail.lower())
    return records, emails


def history_since_created(
    repo: Path, first_parent: bool
) -> dict[str, list[tuple[str, str, int, int, int]]]:
    """Per path alive at HEAD: (commit, email, time, added, removed) since it was last created."""
    records, emails = git_records(repo, first_parent, renames=False)
    paths: dict[str, list[tuple[str, str, int, int, int]]] = {}
    for record, mail in zip(records, emails, strict=True):
        for ch in record.files:
            if ch.status is Status.DELETED:
                paths.pop(ch.path, None)
            else:
                paths.setdefault(ch.path, []).append(
                    (record.hash, mail, record.time, ch.added, ch.removed)
                )
    alive = set(git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0")) - {""}
    return {p: h for p, h in paths.items() if p in alive}


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("full_history", [False, True])
@pytest.mark.parametrize("max_files", [5, 1000])
def test_couples_equal_git_log_name_only(
    edge_repo: Path, full_history: bool, max_files: int
) -> None:
    """Pairs, revisions and skipped commits equal git log --name-only --no-renames."""
    got = gitstream(
        edge_repo, renames=False, full_history=full_history, couples_max_files=max_files
    )
    couples = got["couples"]
    pairs, _ = cochange_counts(edge_repo, first_parent=not full_history, max_files=max_files)
    _, revisions = cochange_counts(edge_repo, first_parent=not full_history)
    assert {(a, b): n for a, b, n, _ in couples["pairs"]} == pairs
    assert couples["revisions"] == revisions
    assert couples["files"] == sorted(revisions)
    sizes = [len(changes) for _, changes in name_status(edge_repo, not full_history, False)]
    assert couples["skipped_commits"] == sum(n > max_files for n in sizes)
    for a, b, n, degree in couples["pairs"]:
        assert degree == int(n * 200 // (revisions[a] + revisions[b]))


def test_people_files_equal_git_log_per_author(edge_repo: Path) -> None:
    """Changes per (author email, path) equal git's per-commit author and file lists."""
    people = gitstream(edge_repo, renames=False)["couples"]["people_files"]
    got: Counter[tuple[str, str]] = Counter()
    for display, files in people.items():
        for path, n in files.items():
            got[email(display), path] += n
    want: Counter[tuple[str, str]] = Counter()
    for (_, _, mail), changes in name_status(edge_repo, True, False):
        for _, path in changes:
            want[mail.lower(), path] += 1
    assert got == want


def test_alive_only_keeps_paths_of_head(edge_repo: Path) -> None:
    """alive_only reports exactly the paths of HEAD's tree, with git's revision counts."""
    couples = gitstream(edge_repo, renames=False, alive_only=True)["couples"]
    head = set(git(edge_repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0")) - {""}
    _, revisions = cochange_counts(edge_repo)
    assert couples["revisions"] == {p: n for p, n in revisions.items() if p in head}


@pytest.mark.parametrize("full_history", [False, True])
def test_file_history_equals_git_log_numstat(edge_repo: Path, full_history: bool) -> None:
    """Commits, lines per author, times and churn per HEAD path equal git log --numstat."""
    files = gitstream(edge_repo, renames=False, full_history=full_history)["file_history"]["files"]
    want = history_since_created(edge_repo, first_parent=not full_history)
    assert sorted(files) == sorted(want)
    for path, rows in want.items():
        f = files[path]
        assert f["commits"] == [sha for sha, *_ in rows], path
        assert (f["added"], f["removed"]) == (sum(r[3] for r in rows), sum(r[4] for r in rows))
        assert (f["first_time"], f["last_time"]) == (rows[0][2], rows[-1][2])
        per_email: Counter[tuple[str, str]] = Counter()
        for display, p in f["people"].items():
            per_email[email(display), "a"] += p["added"]
            per_email[email(display), "c"] += p["commits"]
        want_email: Counter[tuple[str, str]] = Counter()
        for _, mail, _, added, _ in rows:
            want_email[mail, "a"] += added
            want_email[mail, "c"] += 1
        assert +per_email == +want_email, path


def test_commit_order_is_the_walk_order(edge_repo: Path) -> None:
    """A file's commits come in the analysed order, which is git's reverse topological order."""
    files = gitstream(edge_repo, renames=False, full_history=True)["file_history"]["files"]
    order = {sha: i for i, sha in enumerate(commit_list(edge_repo, first_parent=False))}
    for f in files.values():
        assert f["commits"] == sorted(f["commits"], key=order.__getitem__)


def test_renames_follow_git_rename_detection(edge_repo: Path) -> None:
    """With renames, couples and file_history equal the models fed with git log -M."""
    got = gitstream(edge_repo, renames=True, couples_max_files=5)
    records, _ = git_records(edge_repo, first_parent=True, renames=True)
    want = couples_model(records, couples_max_files=5)
    for key in ("files", "pairs", "revisions", "sum_of_coupling", "skipped_commits"):
        assert got["couples"][key] == want[key], key
    assert "f0.txt" in got["couples"]["files"] and "many/f0.txt" not in got["couples"]["files"]
    history = history_model(records)
    assert got["file_history"]["hotspots"] == history["hotspots"]
    for path, f in history["files"].items():
        mine = got["file_history"]["files"][path]
        for key in ("commits", "added", "removed", "first_time", "last_time", "age_days", "churn"):
            assert mine[key] == f[key], (path, key)


@pytest.mark.slow
@pytest.mark.parametrize("renames", [False, True])
def test_generated_history_equals_git(tmp_path: Path, renames: bool) -> None:
    """On a generated history with merges, renames, big commits and odd names, both match git."""
    spec = SynthSpec(
        commits=1200,
        files=100,
        authors=10,
        seed=5,
        merge_every=40,
        rename_every=20,
        delete_every=25,
        binary_every=35,
        empty_every=50,
        big_commit_every=200,
        big_commit_files=50,
        couple_groups=5,
    )
    repo = build_synth(tmp_path / "repo", spec)
    got = gitstream(
        repo, renames=renames, couples_max_files=30, chunk_size=97, agg_budget_bytes=8192
    )
    records, _ = git_records(repo, first_parent=True, renames=renames)
    want = couples_model(records, couples_max_files=30)
    for key in ("files", "pairs", "revisions", "sum_of_coupling", "skipped_commits"):
        assert got["couples"][key] == want[key], key
    history = history_model(records)
    assert got["file_history"]["hotspots"] == history["hotspots"]
    assert sorted(got["file_history"]["files"]) == sorted(history["files"])
    if not renames:
        pairs, _ = cochange_counts(repo, max_files=30)
        assert {(a, b): n for a, b, n, _ in got["couples"]["pairs"]} == pairs
