"""The diff stage against git itself, on real repositories holding the odd cases of real histories.

Each test builds a small repository with ``git fast-import`` (through :func:`make_repo`, which
adds to ``tests/gitrepo.py``'s specs the modes real trees have: symlinks, executables and
gitlinks), runs the walk and the diff stage over it, and checks every commit's FileChanges
against git's own answers, computed independently of gitstream: statuses and paths from
``git log --raw -z``, line counts and the binary flag (``-``) from ``git log --numstat -z``, and
hunks from a line-by-line walk of ``git diff <parent> <commit> -- <path>``. Paths that are not
UTF-8 are expected as the stage documents them (``backslashreplace``).

Tests marked ``xfail(strict=True)`` pin bugs found here; each reason says what is wrong.
Walk selection is tested in ``test_walk.py``; analyzers elsewhere.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import pygit2
import pytest
from gitrepo import git, git_bytes, hermetic_process
from hypothesis import given
from hypothesis import strategies as st

from gitstream.errors import RepositoryError
from gitstream.git.diff import DiffStage, PathFilter
from gitstream.git.prefetch import diff_stream
from gitstream.git.repo import git_dir
from gitstream.git.walk import CommitMeta, select_commits
from gitstream.records import CommitRecord, FileChange, Hunk, Status

SYMLINK = 0o120000
EXEC = 0o100755
REGULAR = 0o100644
GITLINK = 0o160000
T0 = 1_600_000_000
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The stage's git runs without the user's config, from a neutral working directory."""
    hermetic_process(monkeypatch, tmp_path)


# -- building repositories -------------------------------------------------------------------

Content = str | bytes | tuple[int, str | bytes] | None
"""A file's new content: text, raw bytes, ``(mode, content)`` (a gitlink's content is the
commit id it points at), or ``None`` to delete it."""


def _fi_path(path: str) -> bytes:
    raw = path.encode("utf-8", "surrogateescape")
    for char, escaped in ((b"\\", b"\\\\"), (b'"', b'\\"'), (b"\n", b"\\n"), (b"\t", b"\\t")):
        raw = raw.replace(char, escaped)
    return b'"' + raw + b'"'


def _as_bytes(data: str | bytes) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")


def make_repo(
    path: Path,
    commits: Sequence[Mapping[str, Any]],
    *,
    bare: bool = False,
    branch: str = "main",
    head: int | None = None,
) -> list[str]:
    """A repository from commit specs via ``git fast-import``; the commits' ids, in order.

    A spec has ``files`` (path -> :data:`Content`), ``renames`` (old -> new, applied first),
    ``parents`` (indices; default the previous commit, ``[]`` for a root), ``time`` and
    ``committer_time`` (default ``T0 + 3600 * index``) and ``message``.
    """
    ref = f"refs/heads/{branch}".encode()
    out = [b"feature done\n"]
    for i, spec in enumerate(commits):
        parents = list(spec.get("parents", [i - 1] if i else []))
        when = spec.get("time", T0 + 3600 * i)
        committed = spec.get("committer_time", when)
        message = spec.get("message", f"commit {i}").encode()
        if not parents:
            out.append(b"reset %s\n" % ref)
        out.append(b"commit %s\nmark :%d\n" % (ref, i + 1))
        out.append(b"author A U Thor <author@example.com> %d +0000\n" % when)
        out.append(b"committer C O Mitter <committer@example.com> %d +0000\n" % committed)
        out.append(b"data %d\n%s\n" % (len(message), message))
        if parents:
            out.append(b"from :%d\n" % (parents[0] + 1))
            out.extend(b"merge :%d\n" % (p + 1) for p in parents[1:])
        for old, new in spec.get("renames", {}).items():
            out.append(b"R %s %s\n" % (_fi_path(old), _fi_path(new)))
        for file, content in spec.get("files", {}).items():
            if content is None:
                out.append(b"D %s\n" % _fi_path(file))
                continue
            mode, data = content if isinstance(content, tuple) else (REGULAR, content)
            if mode == GITLINK:
                out.append(b"M 160000 %s %s\n" % (_as_bytes(data), _fi_path(file)))
            else:
                blob = _as_bytes(data)
                out.append(
                    b"M %o inline %s\ndata %d\n%s\n" % (mode, _fi_path(file), len(blob), blob)
                )
        out.append(b"\n")
    out.append(
        b"reset %s\nfrom :%d\n\ndone\n" % (ref, (len(commits) if head is None else head + 1))
    )
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", f"--initial-branch={branch}", *(["--bare"] if bare else []))
    with tempfile.TemporaryDirectory(prefix="gitstream-marks-") as scratch:
        marks = Path(scratch, "marks")
        git(
            path, "fast-import", "--quiet", "--done", f"--export-marks={marks}", input=b"".join(out)
        )
        ids = dict(line.split() for line in marks.read_text().splitlines())
    if not bare:
        git(path, "reset", "-q", "--hard", branch)
    return [ids[f":{i + 1}"] for i in range(len(commits))]


def numbered(n: int, tag: str = "line") -> str:
    return "".join(f"{tag} {i}\n" for i in range(n))


# -- the stage under test ---------------------------------------------------------------------


def run_stage(
    repo: Path,
    rev: str = "HEAD",
    *,
    full_history: bool = False,
    renames: bool = True,
    path_filter: PathFilter | None = None,
) -> list[CommitRecord]:
    """Every selected commit's record, from one diff stage run over the whole walk."""
    r = pygit2.Repository(str(repo))
    history = select_commits(r, rev, full_history=full_history)
    stage = DiffStage(git_dir(r), renames=renames, path_filter=path_filter)
    return list(stage.records(history.commits.range(0, len(history.commits))))


# -- the oracle: git's own answers ------------------------------------------------------------


@dataclass(frozen=True)
class GitChange:
    """One raw entry of ``git log --raw``, with its ``--numstat`` line; paths as git's bytes."""

    status: str
    old: bytes | None
    new: bytes | None
    binary: bool
    added: int
    removed: int
    modes: tuple[int, int]


@dataclass(frozen=True)
class GitCommit:
    parents: tuple[str, ...]
    changes: tuple[GitChange, ...]


@overload
def name(raw: bytes) -> str: ...
@overload
def name(raw: bytes | None) -> str | None: ...
def name(raw: bytes | None) -> str | None:
    """A git path as the stage documents its names: UTF-8, other bytes as lone surrogates."""
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


RawEntry = tuple[str, bytes | None, bytes | None, tuple[int, int]]
"""A raw entry of git log: status letter, old path, new path, (old mode, new mode)."""
Numstat = dict[tuple[bytes | None, bytes], tuple[bytes, bytes]]
"""Numstat lines by (old path if renamed, path): (added, removed), ``-`` for binary."""


def git_commits(
    repo: Path, rev: str = "HEAD", *, first_parent: bool = True, renames: bool = True
) -> dict[str, GitCommit]:
    """Per commit of the walk: parents and changes against the first parent, from git log."""
    raw = git_bytes(
        repo,
        "log",
        "-z",
        "--raw",
        "--numstat",
        "--no-abbrev",
        "--format=tformat:%x01%H %P",
        "-M" if renames else "--no-renames",
        "--diff-merges=first-parent",
        *(["--first-parent"] if first_parent else []),
        rev,
    )
    commits: dict[str, GitCommit] = {}
    tokens = iter(raw.split(b"\0"))

    def flush(header: list[str], entries: list[RawEntry], numstat: Numstat) -> None:
        changes = []
        for status, old, new, modes in entries:
            key = (old, new) if status == "R" else (None, new if new is not None else old)
            added, removed = numstat.pop(key)  # type: ignore[arg-type]
            binary = added == b"-"
            changes.append(
                GitChange(status, old, new, binary,
                          0 if binary else int(added), 0 if binary else int(removed), modes)
            )  # fmt: skip
        assert not numstat, f"numstat lines without a raw entry: {numstat}"
        commits[header[0]] = GitCommit(tuple(header[1:]), tuple(changes))

    header: list[str] | None = None
    entries: list[RawEntry] = []
    numstat: Numstat = {}
    for token in tokens:
        token = token.lstrip(b"\n")
        if not token:
            continue
        if token.startswith(b"\x01"):
            if header is not None:
                flush(header, entries, numstat)
            header, entries, numstat = token[1:].decode().split(), [], {}
        elif token.startswith(b":"):
            fields = token[1:].split(b" ")
            letter, modes = fields[4][:1].decode(), (int(fields[0], 8), int(fields[1], 8))
            if letter in "RC":
                entries.append((letter, next(tokens), next(tokens), modes))
            else:
                path = next(tokens)
                old, new = (None if letter == "A" else path), (None if letter == "D" else path)
                entries.append((letter, old, new, modes))
        else:
            added, removed, path = token.split(b"\t", 2)
            if path:
                numstat[(None, path)] = (added, removed)
            else:
                old = next(tokens)
                numstat[(old, next(tokens))] = (added, removed)
    if header is not None:
        flush(header, entries, numstat)
    return commits


_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def zero_context_hunks(patch: bytes) -> list[Hunk]:
    """The changes of a unified diff (any context), each as ``git diff -U0`` would head it.

    A line-by-line walk, independent of the stage's parser: context lines end a change, and a
    side with no lines names the line after which the change applies.
    """
    hunks: list[Hunk] = []
    old = new = rem = add = 0
    in_hunk = False

    def flush() -> None:
        nonlocal old, new, rem, add
        if rem or add:
            hunks.append((old if rem else old - 1, rem, new if add else new - 1, add))
            old, new, rem, add = old + rem, new + add, 0, 0

    for line in patch.split(b"\n"):
        m = _HUNK.match(line)
        if m:
            flush()
            in_hunk = True
            a, c = int(m.group(1)), int(m.group(3))
            old = a + 1 if m.group(2) == b"0" else a  # an empty side names the line before
            new = c + 1 if m.group(4) == b"0" else c
        elif not in_hunk or not line:
            continue
        elif line.startswith(b"-"):
            rem += 1
        elif line.startswith(b"+"):
            add += 1
        elif line.startswith(b" "):
            flush()
            old, new = old + 1, new + 1
        elif not line.startswith(b"\\"):  # a new file's header: the hunk is over
            flush()
            in_hunk = False
    flush()
    return hunks


def git_hunks(
    repo: Path, parent: str | None, commit: str, change: GitChange, *, renames: bool
) -> tuple[Hunk, ...]:
    """The zero-context hunks of one change, from ``git diff parent commit -- path``.

    git diffs with its default three lines of context, as ``git log --numstat`` does: with
    ``-U0`` it would trim the files' common tail first and may align lines differently.
    git shows a type change as a deletion and an addition; the stage documents them folded
    into one whole-file replacement, so they are folded here the same way.
    """
    if change.binary:
        return ()
    paths = list(dict.fromkeys(os.fsdecode(p) for p in (change.old, change.new) if p is not None))
    # A pathspec also matches what lies under it (a file replaced by a directory of the same
    # name): exclude that, unless it is the change's other path. "p/" would exclude a gitlink.
    spec = [f":(literal){p}" for p in paths]
    if GITLINK not in change.modes:
        spec += [
            f":(exclude,literal){p}/"
            for p in paths
            if not any(q.startswith(f"{p}/") for q in paths)
        ]
    out = git_bytes(
        repo,
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "-M" if renames else "--no-renames",
        parent or EMPTY_TREE,
        commit,
        "--",
        *spec,
    )
    hunks = zero_context_hunks(out)
    if change.status == "T" and hunks:
        removed, added = sum(h[1] for h in hunks), sum(h[3] for h in hunks)
        hunks = [(1 if removed else 0, removed, 1 if added else 0, added)]
    return tuple(hunks)


_STATUS = {"A": Status.ADDED, "M": Status.MODIFIED, "D": Status.DELETED, "R": Status.RENAMED,
           "T": Status.TYPE_CHANGED}  # fmt: skip

Summary = tuple[str, str | None, str | None, bool, int, int]


def summary(fc: FileChange) -> Summary:
    return (fc.status.value, fc.old_path, fc.new_path, fc.binary, fc.added, fc.removed)


def expected_summary(gc: GitChange) -> Summary:
    return (_STATUS[gc.status].value, name(gc.old), name(gc.new), gc.binary, gc.added, gc.removed)


def assert_well_formed(fc: FileChange) -> None:
    """A change's own invariants: paths by status, counts follow hunks, binary has none."""
    assert (fc.old_path is None) == (fc.status is Status.ADDED), fc
    assert (fc.new_path is None) == (fc.status is Status.DELETED), fc
    if fc.binary:
        assert (fc.added, fc.removed, fc.hunks) == (0, 0, ()), fc
    else:
        assert fc.added == sum(h[3] for h in fc.hunks), fc
        assert fc.removed == sum(h[1] for h in fc.hunks), fc


def check_against_git(
    repo: Path,
    rev: str = "HEAD",
    *,
    full_history: bool = False,
    renames: bool = True,
    hunk_sample: int = 40,
) -> dict[str, CommitRecord]:
    """Run the stage and assert every commit's changes equal git's; the records by commit id.

    Hunks are compared for up to ``hunk_sample`` changes per commit (spread evenly), so huge
    commits stay fast; statuses, paths, counts and binary flags for every change.
    """
    records = run_stage(repo, rev, full_history=full_history, renames=renames)
    want = git_commits(repo, rev, first_parent=not full_history, renames=renames)
    assert sorted(r.hash for r in records) == sorted(want)
    for rec in records:
        commit = want[rec.hash]
        assert rec.first_parent == (commit.parents[0] if commit.parents else None)
        assert rec.parent_count == len(commit.parents)
        for fc in rec.files:
            assert_well_formed(fc)
        got = sorted((summary(fc) for fc in rec.files), key=repr)
        expected = sorted((expected_summary(gc) for gc in commit.changes), key=repr)
        assert got == expected, f"commit {rec.hash}"
        by_paths = {(fc.old_path, fc.new_path): fc for fc in rec.files}
        step = max(1, math.ceil(len(commit.changes) / hunk_sample))
        for gc in commit.changes[::step]:
            fc = by_paths[(name(gc.old), name(gc.new))]
            assert fc.hunks == git_hunks(repo, rec.first_parent, rec.hash, gc, renames=renames), (
                f"commit {rec.hash}: {fc.path!r}"
            )
    return {r.hash: r for r in records}


def changes(record: CommitRecord) -> dict[str, FileChange]:
    """A commit's changes by path (the path after the change, before it for a deletion)."""
    out = {fc.path: fc for fc in record.files}
    assert len(out) == len(record.files), f"a path listed twice: {record.files}"
    return out


# -- symlinks, modes, submodules --------------------------------------------------------------


def test_symlinks_added_retargeted_and_deleted(tmp_path: Path) -> None:
    """A symlink is one line of text (its target): added, retargeted and deleted as such."""
    ids = make_repo(tmp_path, [
        {"files": {"target.txt": "t\n", "link": (SYMLINK, "target.txt"), "d/up": (SYMLINK, "../target.txt")}},
        {"files": {"link": (SYMLINK, "elsewhere/target.txt")}},
        {"files": {"d/up": None}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    link = changes(records[ids[1]])["link"]
    assert (link.status, link.added, link.removed, link.hunks) == (
        Status.MODIFIED,
        1,
        1,
        ((1, 1, 1, 1),),
    )
    assert changes(records[ids[2]])["d/up"].status is Status.DELETED


def test_symlink_file_type_changes_are_one_change_each(tmp_path: Path) -> None:
    """symlink<->file, symlink<->empty file and symlink->executable are one T change each."""
    ids = make_repo(tmp_path, [
        {"files": {"a": (SYMLINK, "target"), "b": "b1\nb2\n", "c": (SYMLINK, "x"), "d": (SYMLINK, "y")}},
        {"files": {"a": "one\ntwo\n", "b": (SYMLINK, "b-target"), "c": "", "d": (EXEC, "#!/bin/sh\n")}},
        {"files": {"a": (SYMLINK, "back"), "c": (SYMLINK, "z")}},
    ])  # fmt: skip
    for renames in (True, False):
        records = check_against_git(tmp_path, renames=renames)
        for commit, paths in ((ids[1], "abcd"), (ids[2], "ac")):
            got = changes(records[commit])
            assert sorted(got) == list(paths)
            assert all(fc.status is Status.TYPE_CHANGED for fc in got.values())
    first = changes(records[ids[1]])
    assert (first["a"].added, first["a"].removed) == (2, 1)
    assert (first["b"].added, first["b"].removed) == (1, 2)


@pytest.mark.xfail(
    strict=True,
    reason="diff.py _Entry.to_change: a T change's counts come from git's split delete+add "
    "sections (whole-file replacement), numstat diffs the contents: a symlink committed back "
    "as a plain file holding its target (a Windows checkout) is 0/0 in numstat, 1/1 here",
)
def test_symlink_turned_into_file_with_same_text_counts_as_numstat(tmp_path: Path) -> None:
    """A symlink replaced by a regular file containing its target text counts as numstat does."""
    make_repo(tmp_path, [
        {"files": {"src/real.txt": "x\n", "link": (SYMLINK, "src/real.txt")}},
        {"files": {"link": "src/real.txt"}},  # same bytes, no final newline, now a regular file
    ])  # fmt: skip
    check_against_git(tmp_path)


DATA = Path(__file__).parent / "data"


def test_zero_context_hunks_count_as_numstat_on_a_trimmed_tail(tmp_path: Path) -> None:
    """A real edit of couples.py (this project's commit 63c72d3) counts as numstat does.

    With ``-U0`` git trims the files' common tail before diffing (``trim_common_tail`` in
    xdiff-interface.c, only when the context is 0), which turns one unchanged line into a
    removal and an addition here: 11/66 where numstat counts 10/65.
    """
    make_repo(tmp_path, [
        {"files": {"couples.py": (DATA / "zero_context_old.txt").read_text()}},
        {"files": {"couples.py": (DATA / "zero_context_new.txt").read_text()}},
    ])  # fmt: skip
    check_against_git(tmp_path)


def test_executable_bit_only_changes(tmp_path: Path) -> None:
    """A mode-only change is an M without lines; a mode change with an edit counts the edit."""
    ids = make_repo(tmp_path, [
        {"files": {"run.sh": "echo\n", "tool": (EXEC, "x\n")}},
        {"files": {"run.sh": (EXEC, "echo\n"), "tool": (REGULAR, "x\ny\n")}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    got = changes(records[ids[1]])
    assert summary(got["run.sh"]) == ("M", "run.sh", "run.sh", False, 0, 0)
    assert summary(got["tool"]) == ("M", "tool", "tool", False, 1, 0)


def test_binary_file_mode_change_and_pure_rename_stay_binary(tmp_path: Path) -> None:
    """A binary file's mode-only change and 100% rename are flagged binary, as numstat does
    (git prints no "Binary files" line for them: the stage looks at the blob), text ones not,
    and a path marked ``-diff`` is binary whatever it holds."""
    ids = make_repo(tmp_path, [
        {"files": {"img.png": b"\x89PNG\x00\x01\x02"}},
        {"files": {"img.png": (EXEC, b"\x89PNG\x00\x01\x02")}},
        {"renames": {"img.png": "assets/img.png"}},
        {"renames": {"assets/img.png": "img.png"}, "files": {"notes.txt": "n\n"}},
        {"files": {"notes.txt": (EXEC, "n\n"), ".gitattributes": "notes.txt -diff\n"}},
        {"renames": {"notes.txt": "docs/notes.txt"}},
    ])  # fmt: skip
    records = run_stage(tmp_path)
    flags = [[(fc.path, fc.binary) for fc in r.files] for r in records[1:3]]
    assert flags == [[("img.png", True)], [("assets/img.png", True)]], ids
    check_against_git(tmp_path)


def test_submodule_gitlinks_added_updated_removed_and_type_changed(tmp_path: Path) -> None:
    """Gitlinks count as one 'Subproject commit' line, as numstat does, in every transition."""
    sub_a, sub_b = "a" * 40, "b" * 40
    ids = make_repo(tmp_path, [
        {"files": {"README": "r\n", "lib/sub": (GITLINK, sub_a)}},
        {"files": {"lib/sub": (GITLINK, sub_b)}},
        {"files": {"lib/sub": None, "vendor/x": (GITLINK, sub_a)}},
        {"files": {"vendor/x": "now a file\nof two lines\n"}},
        {"files": {"vendor/x": (GITLINK, sub_b)}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    assert summary(changes(records[ids[0]])["lib/sub"]) == ("A", None, "lib/sub", False, 1, 0)
    assert summary(changes(records[ids[1]])["lib/sub"]) == ("M", "lib/sub", "lib/sub", False, 1, 1)
    assert changes(records[ids[2]])["lib/sub"].status is Status.DELETED
    assert summary(changes(records[ids[3]])["vendor/x"]) == (
        "T",
        "vendor/x",
        "vendor/x",
        False,
        2,
        1,
    )
    assert summary(changes(records[ids[4]])["vendor/x"]) == (
        "T",
        "vendor/x",
        "vendor/x",
        False,
        1,
        2,
    )


# -- line endings and empty files -------------------------------------------------------------


def test_missing_final_newline_added_and_removed(tmp_path: Path) -> None:
    """Adding or removing a final newline changes the last line, as git counts it."""
    ids = make_repo(tmp_path, [
        {"files": {"a": "x\ny", "b": "p\nq\n", "c": "only"}},
        {"files": {"a": "x\ny\n", "b": "p\nq", "c": "only\nmore"}},
        {"files": {"a": "x\ny\nz", "b": "p\nq\nr"}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    got = changes(records[ids[1]])
    assert [(got[p].added, got[p].removed) for p in "abc"] == [(1, 1), (1, 1), (2, 1)]


def test_crlf_lone_cr_and_unicode_line_separators(tmp_path: Path) -> None:
    """Only LF ends a line: CRLF, a lone CR, form feeds and U+2028 are line content."""
    make_repo(tmp_path, [
        {"files": {"win.txt": "a\r\nb\r\n", "mixed.txt": "a\nb\r\n", "mac.txt": "a\rb\rc\r",
                   "ctrl.txt": "a\x0cb\x1cc\x1dd\x1ee\x0bf\n", "uni.txt": "a\u2028b\u0085c\u2029d\n"}},
        {"files": {"win.txt": "a\r\nB\r\nc\r\n", "mixed.txt": "a\r\nb\r\n", "mac.txt": "a\rB\rc\r",
                   "ctrl.txt": "a\x0cb\x1cC\x1dd\x1ee\x0bf\nz\n", "uni.txt": "a\u2028b\nc\u2029d\n"}},
        {"files": {"win.txt": "a\nB\nc\n"}},
    ])  # fmt: skip
    check_against_git(tmp_path)


def test_empty_files_added_emptied_filled_deleted_and_moved(tmp_path: Path) -> None:
    """Empty files add and delete no lines; a moved empty file is an exact (100%) rename."""
    ids = make_repo(tmp_path, [
        {"files": {"empty": "", "full": "x\n"}},
        {"files": {"empty2": "", "full": ""}},
        {"files": {"empty": None, "full": "y\n"}},
        {"renames": {"empty2": "moved-empty"}},
    ])  # fmt: skip
    for renames in (True, False):
        records = check_against_git(tmp_path, renames=renames)
        assert summary(changes(records[ids[0]])["empty"]) == ("A", None, "empty", False, 0, 0)
        assert summary(changes(records[ids[1]])["full"]) == ("M", "full", "full", False, 0, 1)
        assert summary(changes(records[ids[2]])["empty"]) == ("D", "empty", None, False, 0, 0)
        moved = sorted(fc.status.value for fc in records[ids[3]].files)
        assert moved == (["R"] if renames else ["A", "D"])


# -- tree shapes and renames ------------------------------------------------------------------


def test_file_replaced_by_directory_of_the_same_name(tmp_path: Path) -> None:
    """A file turned into a directory (and back) is a deletion plus additions, or a rename."""
    ids = make_repo(tmp_path, [
        {"files": {"foo": numbered(10), "bar/baz": "in dir\n"}},
        {"files": {"foo": None, "foo/inner.txt": numbered(10), "bar/baz": None, "bar": "now a file\n"}},
    ])  # fmt: skip
    records = check_against_git(tmp_path, renames=True)
    assert summary(changes(records[ids[1]])["foo/inner.txt"]) == (
        "R",
        "foo",
        "foo/inner.txt",
        False,
        0,
        0,
    )
    records = check_against_git(tmp_path, renames=False)
    assert sorted(summary(fc) for fc in records[ids[1]].files) == [
        ("A", None, "bar", False, 1, 0),
        ("A", None, "foo/inner.txt", False, 10, 0),
        ("D", "bar/baz", None, False, 0, 1),
        ("D", "foo", None, False, 0, 10),
    ]


RENAMES: list[dict[str, Any]] = [
    {"files": {"src/a.py": numbered(20, "a"), "src/b.py": numbered(20, "b"), "docs/c.md": numbered(5, "c")}},
    {"renames": {"src/a.py": "lib/a.py"}},  # 100%, across directories
    {"renames": {"src/b.py": "src/b2.py"}, "files": {"src/b2.py": numbered(20, "b").replace("b 7\n", "B\n") + "b 20\n"}},
    {"renames": {"docs/c.md": "c.md", "lib/a.py": "src/a.py"}, "files": {"lib/a.py": "unrelated\n"}},
]  # fmt: skip


def test_renames_pure_with_edits_and_across_directories(tmp_path: Path) -> None:
    """With rename detection, moves are one R change with their old and new paths."""
    ids = make_repo(tmp_path, RENAMES)
    records = check_against_git(tmp_path, renames=True)
    assert summary(records[ids[1]].files[0]) == ("R", "src/a.py", "lib/a.py", False, 0, 0)
    b2 = changes(records[ids[2]])["src/b2.py"]
    assert summary(b2) == ("R", "src/b.py", "src/b2.py", False, 2, 1)
    assert b2.hunks == ((8, 1, 8, 1), (20, 0, 21, 1))
    # lib/a.py stays (rewritten), so its content moving to src/a.py is an addition, not a copy.
    assert sorted(summary(fc)[:3] for fc in records[ids[3]].files) == [
        ("A", None, "src/a.py"), ("M", "lib/a.py", "lib/a.py"), ("R", "docs/c.md", "c.md")
    ]  # fmt: skip


def test_no_renames_turns_renames_into_delete_and_add(tmp_path: Path) -> None:
    """With --no-renames every move is a D of the old path and an A of the new one."""
    ids = make_repo(tmp_path, RENAMES)
    records = check_against_git(tmp_path, renames=False)
    assert sorted(summary(fc) for fc in records[ids[1]].files) == [
        ("A", None, "lib/a.py", False, 20, 0), ("D", "src/a.py", None, False, 0, 20)
    ]  # fmt: skip
    assert all(fc.status is not Status.RENAMED for r in records.values() for fc in r.files)


def test_copies_are_additions(tmp_path: Path) -> None:
    """A copy of a file that stays is reported as an addition (no C status)."""
    ids = make_repo(tmp_path, [
        {"files": {"orig.c": numbered(30)}},
        {"files": {"copy.c": numbered(30)}},
        {"files": {"orig.c": numbered(31), "copy2.c": numbered(30)}},
    ])  # fmt: skip
    records = check_against_git(tmp_path, renames=True)
    assert summary(records[ids[1]].files[0]) == ("A", None, "copy.c", False, 30, 0)
    assert sorted(fc.status.value for fc in records[ids[2]].files) == ["A", "M"]


# -- paths --------------------------------------------------------------------------------------

ODD_NAMES = [
    "with space.txt", " leading space", "trailing space ", "tab\there.txt", 'quote"d.txt',
    "back\\slash.txt", "new\nline.txt", "-leading-dash.txt", "--double-dash", "ünïcødé/日本語.txt",
    "emoji 🎉.md", "[glob]*?.txt", "bell\x07.txt", "dir with space/sub dir/f.txt", "a b/c\td/e\"f",
    "\\\\server\\share", "x\\n-not-a-newline", "\"starts with quote", "ends with quote\"",
]  # fmt: skip


def test_unusual_paths_come_out_exact(tmp_path: Path) -> None:
    """Spaces, tabs, quotes, backslashes, newlines, dashes and UTF-8 survive git's quoting."""
    ids = make_repo(tmp_path, [
        {"files": {p: f"{i}\n" for i, p in enumerate(ODD_NAMES)}},
        {"files": {p: f"{i}\nmore\n" for i, p in enumerate(ODD_NAMES)}},
        {"renames": {p: f"moved/{p}" for p in ODD_NAMES}},
        {"files": {f"moved/{p}": None for p in ODD_NAMES}},
    ])  # fmt: skip
    deleted_added = [(p, None) for p in ODD_NAMES] + [(None, f"moved/{p}") for p in ODD_NAMES]
    moves = {
        True: sorted(((p, f"moved/{p}") for p in ODD_NAMES), key=repr),
        False: sorted(deleted_added, key=repr),
    }
    for renames in (True, False):
        records = check_against_git(tmp_path, renames=renames)
        assert sorted(changes(records[ids[0]])) == sorted(ODD_NAMES)
        assert sorted(changes(records[ids[1]])) == sorted(ODD_NAMES)
        moved = [(fc.old_path, fc.new_path) for fc in records[ids[2]].files]
        assert sorted(moved, key=repr) == moves[renames]


LATIN1 = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # latin-1, not valid UTF-8
CAFE = name(b"caf\xe9.txt")  # how the stage names it


def test_non_utf8_path_is_decoded_the_same_in_every_commit(tmp_path: Path) -> None:
    """A latin-1 path comes out as one stable name whether added, modified or renamed."""
    renamed = b"r\xe9sum\xe9/\xff.txt".decode("utf-8", "surrogateescape")
    ids = make_repo(tmp_path, [
        {"files": {LATIN1: "1\n", "ok.txt": "2\n"}},
        {"files": {LATIN1: "1\n2\n"}},
        {"renames": {LATIN1: renamed}},
    ])  # fmt: skip
    records = check_against_git(tmp_path, renames=True)
    added = changes(records[ids[0]])
    assert CAFE in added and "ok.txt" in added
    assert list(changes(records[ids[1]])) == [CAFE]
    (moved,) = records[ids[2]].files
    assert (moved.old_path, moved.new_path) == (CAFE, name(b"r\xe9sum\xe9/\xff.txt"))
    again = run_stage(tmp_path)
    assert [r.files for r in again] == [records[r.hash].files for r in again]


def test_non_utf8_path_and_its_escaped_lookalike_stay_distinct(tmp_path: Path) -> None:
    """Two different byte paths never come out as the same name."""
    make_repo(tmp_path, [{"files": {LATIN1: "latin-1\n", "caf\\xe9.txt": "backslash\n"}}])
    (record,) = run_stage(tmp_path)
    assert len({fc.path for fc in record.files}) == 2


# -- binary content ---------------------------------------------------------------------------


def test_binary_files_and_binary_text_transitions(tmp_path: Path) -> None:
    """NUL bytes make a file binary (0 lines, no hunks), also when it turns text or binary."""
    ids = make_repo(tmp_path, [
        {"files": {"blob.bin": b"\x00\x01\x02", "t2b": "text\n", "b2t": b"bin\x00ary",
                   "late-nul.txt": "x\n" * 5000 + "\x00\n"}},
        {"files": {"blob.bin": b"\x00\x01\x03", "t2b": b"now\x00binary", "b2t": "now text\nlines\n",
                   "late-nul.txt": "x\n" * 5001 + "\x00\n"}},
        {"files": {"blob.bin": None, "t2b": "text again\n"}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    got = changes(records[ids[1]])
    assert [got[p].binary for p in ("blob.bin", "t2b", "b2t")] == [True, True, True]
    assert not got["late-nul.txt"].binary  # git looks for NUL in the first 8000 bytes only
    assert changes(records[ids[2]])["blob.bin"].binary


ATTRIBUTES = [
    {"files": {".gitattributes": "*.dat -diff\n*.bin2 binary\n", "a.dat": "x\n", "b.bin2": "y\n",
               "c.txt": "z\n", "sub/d.dat": "w\n"}},
    {"files": {"a.dat": "x\nx2\n", "b.bin2": "y\ny2\n", "c.txt": "z\nz2\n", "sub/d.dat": "w\nw2\n"}},
]  # fmt: skip


def test_gitattributes_can_mark_text_as_binary(tmp_path: Path) -> None:
    """``-diff`` and ``binary`` in .gitattributes make text files binary, as numstat shows."""
    ids = make_repo(tmp_path / "repo", ATTRIBUTES)
    records = check_against_git(tmp_path / "repo")
    got = changes(records[ids[1]])
    assert {p: fc.binary for p, fc in got.items()} == {
        "a.dat": True, "b.bin2": True, "c.txt": False, "sub/d.dat": True
    }  # fmt: skip


def test_gitattributes_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stage's answer is the same from any working directory."""
    make_repo(tmp_path / "repo", ATTRIBUTES)
    from_repo = run_stage(tmp_path / "repo")
    other = tmp_path / "other"
    other.mkdir()
    (other / ".gitattributes").write_text("* binary\n")
    monkeypatch.chdir(other)
    assert run_stage(tmp_path / "repo") == from_repo


# -- size -------------------------------------------------------------------------------------


def test_root_commit_with_many_files_of_every_kind(tmp_path: Path) -> None:
    """A root commit adding hundreds of files (text, binary, empty, links) is all additions."""
    files: dict[str, Content] = {}
    for i in range(600):
        kind = i % 6
        path = f"d{i % 7}/e{i % 5}/f{i}"
        files[path] = (
            numbered(i % 13) if kind < 2 else
            b"\x00" * (i % 3 + 1) if kind == 2 else
            "" if kind == 3 else
            (SYMLINK, f"../f{i - 1}") if kind == 4 else
            (EXEC, f"#!/bin/sh\necho {i}\n")
        )  # fmt: skip
    ids = make_repo(tmp_path, [{"files": files}, {"files": {"d0/e0/f0": "x\n"}}])
    records = check_against_git(tmp_path, hunk_sample=60)
    root = records[ids[0]]
    assert root.first_parent is None and root.parent_count == 0
    assert len(root.files) == 600 and all(fc.status is Status.ADDED for fc in root.files)


def test_huge_commit_of_3000_files(tmp_path: Path) -> None:
    """A commit touching 3000 files (modified, deleted, renamed) matches git file for file."""
    root = {f"m{i % 40}/f{i}.txt": numbered(3, f"f{i}") for i in range(3000)}
    big: dict[str, Content] = {}
    for i in range(3000):
        path = f"m{i % 40}/f{i}.txt"
        if i % 10 != 1:  # those are renamed below
            big[path] = None if i % 10 == 0 else numbered(4, f"f{i}")
    ids = make_repo(tmp_path, [
        {"files": root},
        {"files": big, "renames": {f"m{i % 40}/f{i}.txt": f"moved/f{i}.txt" for i in range(1, 3000, 10)}},
    ])  # fmt: skip
    records = check_against_git(tmp_path, hunk_sample=10)
    assert len(records[ids[0]].files) == 3000
    statuses = [fc.status for fc in records[ids[1]].files]
    assert len(statuses) == 3000
    assert (statuses.count(Status.RENAMED), statuses.count(Status.DELETED)) == (300, 300)


def test_line_longer_than_the_read_block_and_large_file(tmp_path: Path) -> None:
    """A >1 MiB line and a multi-MiB file (so reads end mid-line) keep exact counts and hunks."""
    long = "x" * ((1 << 20) + 12_345)
    big = numbered(120_000)
    ids = make_repo(tmp_path, [
        {"files": {"long.min.js": long + "\n", "big.txt": big, "after.txt": "a\n"}},
        {"files": {"long.min.js": "y" + long[1:] + "\nsecond\n",
                   "big.txt": big.replace("line 60000\n", "changed\n") + "tail\n", "after.txt": "a\nb\n"}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    got = changes(records[ids[1]])
    assert got["long.min.js"].hunks == ((1, 1, 1, 2),)
    assert got["big.txt"].hunks == ((60001, 1, 60001, 1), (120000, 0, 120001, 1))
    assert got["after.txt"].hunks == ((1, 0, 2, 1),)


class Blocks:
    """git's output handed out in 1 MiB reads, as the grown pipe and the prefetcher do."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def read1(self, size: int = -1) -> bytes:
        chunk = bytes(self.data[self.pos : self.pos + min(size, 1 << 20)])
        self.pos += len(chunk)
        return chunk


class Cuts:
    """git's output handed out in reads of the given sizes, cycled: boundaries fall anywhere."""

    def __init__(self, data: bytes, sizes: Sequence[int]) -> None:
        self.data = data
        self.sizes = sizes
        self.pos = 0
        self.turn = 0

    def read1(self, size: int = -1) -> bytes:
        n = min(size, self.sizes[self.turn % len(self.sizes)])
        self.turn += 1
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk


@pytest.fixture(scope="module")
def hunk_shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[CommitMeta]]:
    """git's raw diff-tree output over edits of every hunk shape, and the commits it covers."""
    repo = tmp_path_factory.mktemp("shapes")
    base = [f"line {i}\n" for i in range(40)]
    close = [*base[:5], "a\n", *base[6:7], "b\n", *base[8:10], "c\n", *base[11:]]
    make_repo(repo, [
        {"files": {"f": "".join(base), "g": "x\ny", "h": "1\n2\n3\n"}},
        # changes one and two context lines apart (one -U1 hunk), at both ends, no final newline
        {"files": {"f": "new\n" + "".join(close[1:-1]) + "end\n", "g": "x\ny\nz", "h": "0\n1\n3\n"}},
        {"files": {"f": "".join(base[::2]), "g": None, "h": "1\n2\n3\n4\n"}},
        {"files": {"f": "".join(reversed(base)) + "x" * 300 + "\n", "h": " 1\n2\n3\n4\n"}},
    ])  # fmt: skip
    check_against_git(repo)  # read whole, the hunks are git's
    r = pygit2.Repository(str(repo))
    commits = select_commits(r).commits
    metas = list(commits.range(0, len(commits)))
    stage = DiffStage(git_dir(r))
    with stage.spawn(metas) as out:
        data = out.read()
    return data, metas


@given(st.lists(st.integers(1, 400), min_size=1, max_size=12))
def test_reads_cut_anywhere_give_the_same_hunks(
    hunk_shapes: tuple[bytes, list[CommitMeta]], sizes: list[int]
) -> None:
    """Hunk bodies and context lines cut by read boundaries are counted as if read whole."""
    data, metas = hunk_shapes
    whole = list(DiffStage("unused").parse(Blocks(data), metas))
    assert list(DiffStage("unused").parse(Cuts(data, sizes), metas)) == whole


def test_very_long_content_line_is_not_held_in_memory() -> None:
    """Parsing a 32 MiB content line peaks at a few read blocks, not at the line's size."""
    meta = CommitMeta(0, "ab" * 20, None, 0, 0, T0, 0)
    output = b"".join([
        b"ab" * 20, b"\n:000000 100644 ", b"0" * 40, b" ", b"1" * 40, b" A\tbundle.js\n\n",
        b"diff --git a/bundle.js b/bundle.js\nnew file mode 100644\nindex 0000000..1111111\n",
        b"--- /dev/null\n+++ b/bundle.js\n@@ -0,0 +1 @@\n+", b"z" * (32 << 20), b"\n",
    ])  # fmt: skip
    tracemalloc.start()
    try:
        (record,) = DiffStage("unused").parse(Blocks(output), [meta])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record.files[0].hunks == ((0, 0, 1, 1),)
    assert peak < 8 << 20, f"peak {peak >> 20} MiB"


# -- commit shapes ----------------------------------------------------------------------------


def test_empty_commits_have_no_changes(tmp_path: Path) -> None:
    """Empty commits (an empty root, an empty one, a no-op rewrite) yield records without files."""
    ids = make_repo(tmp_path, [
        {"files": {}},
        {"files": {"a": "1\n"}},
        {"files": {}},
        {"files": {"a": "1\n"}},
    ])  # fmt: skip
    records = check_against_git(tmp_path)
    assert [len(records[c].files) for c in ids] == [0, 1, 0, 0]
    assert records[ids[0]].first_parent is None


# 0 ── 1 ────── 4 ── 5        mainline
#  \          /
#   2 ── 3 ──                 side branch (adds c, edits b)
MERGES: list[dict[str, Any]] = [
    {"files": {"a": numbered(5, "a"), "b": numbered(5, "b")}},
    {"files": {"a": numbered(6, "a")}},
    {"files": {"b": numbered(5, "b").replace("b 2\n", "B2\n")}, "parents": [0]},
    {"files": {"c": "c\n"}},
    {"files": {"b": numbered(5, "b").replace("b 2\n", "B2\n"), "c": "c\n", "d": "merge only\n"},
     "parents": [1, 3]},
    {"files": {"a": numbered(7, "a")}},
]  # fmt: skip


def test_merge_commits_are_diffed_against_their_first_parent(tmp_path: Path) -> None:
    """A merge's changes are those against its first parent, in both walks."""
    ids = make_repo(tmp_path, MERGES)
    for full_history in (False, True):
        records = check_against_git(tmp_path, full_history=full_history)
        merge = records[ids[4]]
        assert (merge.first_parent, merge.parent_count) == (ids[1], 2)
        assert sorted(summary(fc) for fc in merge.files) == [
            ("A", None, "c", False, 1, 0), ("A", None, "d", False, 1, 0),
            ("M", "b", "b", False, 1, 1),
        ]  # fmt: skip
    assert len(records) == 6


def test_octopus_merge_is_diffed_against_its_first_parent(tmp_path: Path) -> None:
    """An octopus merge of four parents is one record against the first parent."""
    ids = make_repo(tmp_path, [
        {"files": {"base": "0\n"}},
        {"files": {"base": "0\n1\n"}},
        {"files": {"x2": "2\n"}, "parents": [0]},
        {"files": {"x3": "3\n"}, "parents": [0]},
        {"files": {"x4": "4\n"}, "parents": [0]},
        {"files": {"x2": "2\n", "x3": "3\n", "x4": "4\n"}, "parents": [1, 2, 3, 4]},
    ])  # fmt: skip
    for full_history in (False, True):
        records = check_against_git(tmp_path, full_history=full_history)
        octopus = records[ids[5]]
        assert (octopus.first_parent, octopus.parent_count) == (ids[1], 4)
        assert sorted(changes(octopus)) == ["x2", "x3", "x4"]


# 0 ── 1 ────────── 4 ── 5    history A
#                 /
#      2 ── 3 ───             history B: an unrelated root, merged in
TWO_ROOTS: list[dict[str, Any]] = [
    {"files": {"a.txt": "a\n"}},
    {"files": {"a.txt": "a\nA\n"}},
    {"files": {"other/o.txt": "o\n", "a.txt": "unrelated a\n"}, "parents": []},
    {"files": {"other/o.txt": "o\nO\n"}},
    {"files": {"other/o.txt": "o\nO\n"}, "parents": [1, 3]},
    {"files": {"a.txt": "a\nA\nAA\n"}},
]  # fmt: skip


def test_unrelated_history_merged_in_first_parent(tmp_path: Path) -> None:
    """First-parent: the unrelated history arrives as additions in the merge."""
    ids = make_repo(tmp_path, TWO_ROOTS)
    records = check_against_git(tmp_path, full_history=False)
    assert sorted(records) == sorted(ids[i] for i in (0, 1, 4, 5))
    assert summary(records[ids[4]].files[0]) == ("A", None, "other/o.txt", False, 2, 0)


def test_unrelated_history_merged_in_full_history(tmp_path: Path) -> None:
    """Full history: both roots are diffed against the empty tree, the merge against parent 1."""
    ids = make_repo(tmp_path, TWO_ROOTS)
    records = check_against_git(tmp_path, full_history=True)
    assert sorted(records) == sorted(ids)
    assert records[ids[2]].first_parent is None
    assert sorted(changes(records[ids[2]])) == ["a.txt", "other/o.txt"]
    assert sorted(changes(records[ids[4]])) == ["other/o.txt"]


def test_chunks_of_any_size_give_the_same_records(tmp_path: Path) -> None:
    """Diffing the walk in several chunks yields the records of one run over all of it."""
    make_repo(tmp_path, MERGES)
    r = pygit2.Repository(str(tmp_path))
    history = select_commits(r, full_history=True)
    stage = DiffStage(git_dir(r))
    whole = list(stage.records(history.commits.range(0, 6)))
    for cut in range(7):
        parts = [
            *stage.records(history.commits.range(0, cut)),
            *stage.records(history.commits.range(cut, 6)),
        ]
        assert parts == whole


def test_prefetched_segments_give_the_same_records_on_odd_content(tmp_path: Path) -> None:
    """Through the prefetch thread, in segments of one commit, odd content parses the same."""
    make_repo(tmp_path, [
        {"files": {**{p: f"{i}\n" for i, p in enumerate(ODD_NAMES)}, "l": (SYMLINK, "t"), "b": b"\x00"}},
        {"files": {"l": "t\nu\n", "b": "text\n", "long": "x" * (3 << 19) + "\n", LATIN1: ""}},
        {"files": {"long": "y" * (3 << 19) + "\n", "sub": (GITLINK, "c" * 40)}, "renames": {ODD_NAMES[3]: "z"}},
    ])  # fmt: skip
    r = pygit2.Repository(str(tmp_path))
    commits = select_commits(r).commits
    stage = DiffStage(git_dir(r))
    direct = list(stage.records(commits.range(0, len(commits))))
    for segment in (1, 2):
        ahead = diff_stream(stage, commits, segment=segment, workers=2, max_buffer_bytes=1)
        assert list(ahead) == direct


@pytest.mark.parametrize("workers", [1, 2])
def test_missing_object_is_reported_with_gits_reason(tmp_path: Path, workers: int) -> None:
    """A corrupt repository (a blob missing) fails with git's own reason, not a parse error."""
    ids = make_repo(tmp_path, [{"files": {"a": "1\n"}}, {"files": {"a": "1\n2\n"}}])
    git(tmp_path, "repack", "-q")  # fast-import packs: unpack and drop one blob
    blob = git(tmp_path, "rev-parse", f"{ids[1]}:a").strip()
    packs = list((tmp_path / ".git/objects/pack").glob("*.pack"))
    for pack in packs:
        data = pack.read_bytes()
        pack.unlink()
        pack.with_suffix(".idx").unlink()
        git_bytes(tmp_path, "unpack-objects", "-q", input=data)
    (tmp_path / ".git/objects" / blob[:2] / blob[2:]).unlink()
    # git reuses a clean checked-out file instead of reading its blob: make it read the blob.
    (tmp_path / "a").write_text("changed in the work tree\n")
    r = pygit2.Repository(str(tmp_path))
    commits = select_commits(r).commits
    for _ in range(15):  # the outcome depends on a race: every run must say why
        with pytest.raises(RepositoryError, match=f"unable to read {blob}"):
            list(diff_stream(DiffStage(git_dir(r)), commits, segment=10, workers=workers))


# -- path filters -------------------------------------------------------------------------------

FILTERED: list[dict[str, Any]] = [
    {"files": {"src/app.py": "a\n", "src/lib/util.py": "u\n", "tests/test_app.py": "t\n", "Cargo.lock": "l\n",
               "vendor/pkg/Cargo.lock": "v\n", "docs/guide.md": "g\n", "Makefile": "m\n", "sub/Makefile": "s\n"}},
    {"renames": {"src/lib/util.py": "lib/util.py"}, "files": {"docs/guide.md": None, "Cargo.lock": "l\n2\n",
                                                            "Makefile": "m\n2\n", "src/app.py": "a\n2\n"}},
]  # fmt: skip


@pytest.mark.parametrize(
    ("include", "exclude", "first", "second"),
    [
        ((), (), {"src/app.py", "src/lib/util.py", "tests/test_app.py", "Cargo.lock", "vendor/pkg/Cargo.lock",
                  "docs/guide.md", "Makefile", "sub/Makefile"},
         {"lib/util.py", "docs/guide.md", "Cargo.lock", "Makefile", "src/app.py"}),
        (("*.py",), (), {"src/app.py", "src/lib/util.py", "tests/test_app.py"}, {"lib/util.py", "src/app.py"}),
        # src/lib/util.py moved out of src/: a deletion as far as src/* is concerned
        (("src/*",), (), {"src/app.py", "src/lib/util.py"}, {"src/app.py", "src/lib/util.py"}),
        ((), ("*.lock",), {"src/app.py", "src/lib/util.py", "tests/test_app.py", "docs/guide.md", "Makefile",
                           "sub/Makefile"}, {"lib/util.py", "docs/guide.md", "Makefile", "src/app.py"}),
        ((), ("Makefile", "docs/*"), {"src/app.py", "src/lib/util.py", "tests/test_app.py", "Cargo.lock",
                                      "vendor/pkg/Cargo.lock"}, {"lib/util.py", "Cargo.lock", "src/app.py"}),
        (("src/*",), ("*/lib/*",), {"src/app.py"}, {"src/app.py"}),
        (("docs/*",), (), {"docs/guide.md"}, {"docs/guide.md"}),
        (("lib/*",), (), set(), {"lib/util.py"}),  # moved in: an addition
        (("nothing",), (), set(), set()),
    ],
)  # fmt: skip
def test_path_filter_keeps_changes_by_their_path_after_the_change(
    tmp_path: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    first: set[str],
    second: set[str],
) -> None:
    """Include/exclude globs select changes as ``git log -M -- <paths>`` does: by new path (old
    path for deletions), a rename across the boundary being a deletion or an addition."""
    make_repo(tmp_path, FILTERED)
    unfiltered = run_stage(tmp_path)
    records = run_stage(tmp_path, path_filter=PathFilter(include, exclude))
    assert [r.hash for r in records] == [r.hash for r in unfiltered]
    assert [{fc.path for fc in r.files} for r in records] == [first, second]
    for got, full in zip(records, unfiltered, strict=True):
        moved = {
            p
            for fc in full.files
            if fc.status is Status.RENAMED
            for p in (fc.old_path, fc.new_path)
        }
        for fc in got.files:
            assert fc in full.files or (fc.path in moved and fc.status in SPLIT), fc


SPLIT = (Status.ADDED, Status.DELETED)


def test_path_filter_sees_decoded_unusual_paths(tmp_path: Path) -> None:
    """Filters match the decoded names, quotes, newlines and non-UTF-8 bytes included."""
    make_repo(tmp_path, [{"files": {"new\nline.py": "1\n", LATIN1: "2\n", 'q"uote.txt': "3\n"}}])
    (record,) = run_stage(tmp_path, path_filter=PathFilter(("*.py", CAFE), ("*uote*",)))
    assert sorted(fc.path for fc in record.files) == sorted([CAFE, "new\nline.py"])


def test_empty_path_filter_is_falsy() -> None:
    """A filter without patterns is falsy and keeps everything."""
    assert not PathFilter()
    assert PathFilter().keeps("anything/at/all")
    assert PathFilter(exclude=("x",))
