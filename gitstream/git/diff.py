"""The diff stage: per commit, per file, git's own zero-context hunks against the first parent.

Diffs come from ``git diff-tree --stdin --raw -p -U0`` run as a subprocess, fed the chunk's
"commit first-parent" pairs and parsed as a stream. Measured on git/git (design.md), git's own
diff machinery is 2-3x faster than libgit2's through pygit2 and, more importantly, its hunks and
rename pairing are the ones ``git log --numstat`` and ``git blame`` use, so our line counts
agree with git's to the line. The raw part (``--raw``) gives exact paths and statuses; the
patch part gives hunks and binary flags, one ``diff --git`` section per raw entry, except that
a type change (``T``) is shown as a deletion followed by an addition and is folded back into one
change here.

git's caches are capped (``GIT_MEMORY_CAPS``) and one process serves one chunk, so its memory
does not grow with the walk. Filtering by ``--include``/``--exclude`` happens here too. This
module does not choose commits (``walk.py``) nor interpret hunks (the analyzers).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from gitstream.errors import GitstreamError, RepositoryError
from gitstream.git.repo import GIT_MEMORY_CAPS
from gitstream.git.walk import CommitMeta
from gitstream.records import CommitRecord, FileChange, Hunk, Status

_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DIFF = b"diff --git "
_BINARY = b"Binary files "
_DELETED = b"deleted file mode"
_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("f"): 12,
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("v"): 11,
    ord("\\"): 92,
    ord('"'): 34,
}


class DiffStageError(GitstreamError):
    """git's diff output could not be read as expected (a bug or a git we do not know)."""


def unquote_path(raw: bytes) -> str:
    """A path as git prints it (C-quoted when unusual) turned into text."""
    if raw.startswith(b'"') and raw.endswith(b'"'):
        out = bytearray()
        body = raw[1:-1]
        i = 0
        while i < len(body):
            c = body[i]
            if c == 92 and i + 1 < len(body):  # backslash
                nxt = body[i + 1]
                if 48 <= nxt <= 55:  # octal \ooo
                    out.append(int(body[i + 1 : i + 4], 8))
                    i += 4
                    continue
                out.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            out.append(c)
            i += 1
        raw = bytes(out)
    # backslashreplace keeps paths that are not UTF-8 distinct and printable.
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class PathFilter:
    """Shell-style globs on the path after the change; ``*`` also matches ``/``.

    A pattern without ``/`` also matches a file's base name, so ``*.lock`` excludes lock files
    in every directory.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def keeps(self, path: str) -> bool:
        base = path.rsplit("/", 1)[-1]

        def hit(pats: tuple[str, ...]) -> bool:
            return any(
                fnmatch.fnmatchcase(path, p) or ("/" not in p and fnmatch.fnmatchcase(base, p))
                for p in pats
            )

        return (not self.include or hit(self.include)) and not hit(self.exclude)


class _Entry:
    """A raw diff entry being filled from its patch section(s)."""

    __slots__ = ("binary", "hunks", "new", "old", "sections", "status")

    def __init__(self, status: Status, old: str | None, new: str | None) -> None:
        self.status = status
        self.old = old
        self.new = new
        self.binary = False
        self.hunks: list[Hunk] = []
        self.sections = 0

    def to_change(self) -> FileChange:
        hunks = self.hunks
        if self.status is Status.TYPE_CHANGED and len(hunks) > 1:
            # The deletion's and the addition's hunks become one whole-file replacement.
            removed = sum(h[1] for h in hunks)
            added = sum(h[3] for h in hunks)
            hunks = [(1 if removed else 0, removed, 1 if added else 0, added)]
        if self.binary:
            return FileChange(self.old, self.new, self.status, True, 0, 0, ())
        return FileChange(
            self.old,
            self.new,
            self.status,
            False,
            sum(h[3] for h in hunks),
            sum(h[1] for h in hunks),
            tuple(hunks),
        )


_STATUS = {
    ord("A"): Status.ADDED,
    ord("M"): Status.MODIFIED,
    ord("D"): Status.DELETED,
    ord("R"): Status.RENAMED,
    ord("T"): Status.TYPE_CHANGED,
    ord("C"): Status.ADDED,  # copies are only reported with -C, which we do not pass
}


def _parse_raw(line: bytes) -> _Entry:
    meta, _, paths = line.rstrip(b"\n").partition(b"\t")
    status = _STATUS.get(meta.split(b" ")[4][0], Status.MODIFIED)
    names = paths.split(b"\t")
    if status is Status.RENAMED:
        return _Entry(status, unquote_path(names[0]), unquote_path(names[1]))
    path = unquote_path(names[0])
    if status is Status.ADDED:
        return _Entry(status, None, path)
    if status is Status.DELETED:
        return _Entry(status, path, None)
    return _Entry(status, path, path)


def diff_tree_command(git_dir: str, *, renames: bool) -> list[str]:
    """The git command line of the diff stage (also used by the benchmarks as the floor)."""
    return [
        "git",
        "--git-dir",
        git_dir,
        *GIT_MEMORY_CAPS,
        "-c",
        "core.quotePath=true",
        "diff-tree",
        "--stdin",
        "-r",
        "--root",
        "--always",
        "--raw",
        "-p",
        "-U0",
        "--no-ext-diff",
        "--no-textconv",
        "-M" if renames else "--no-renames",
    ]


def stdin_line(meta: CommitMeta) -> bytes:
    """One line of diff-tree's stdin: the commit, then the parent to diff against."""
    if meta.first_parent is None:
        return meta.hash.encode() + b"\n"
    return f"{meta.hash} {meta.first_parent}\n".encode()


class DiffStage:
    """Runs one ``git diff-tree`` per batch of commits and yields :class:`CommitRecord` values."""

    def __init__(
        self, git_dir: str, *, renames: bool = True, path_filter: PathFilter | None = None
    ) -> None:
        self.git_dir = git_dir
        self.renames = renames
        self.path_filter = path_filter or PathFilter()
        self.bytes_read = 0

    def records(self, commits: Iterable[CommitMeta]) -> Iterator[CommitRecord]:
        """Diff ``commits`` (in order) and yield one record each, in the same order."""
        metas = list(commits)
        if not metas:
            return
        env = dict(os.environ)
        env.setdefault("GIT_CONFIG_NOSYSTEM", "1")  # no system diff drivers or textconv
        env["LC_ALL"] = "C"
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(
                    diff_tree_command(self.git_dir, renames=self.renames),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errfile,
                    env=env,
                    bufsize=1 << 16,
                )
            except OSError as exc:
                raise RepositoryError(f"cannot run git: {exc}; is git installed?") from exc
            assert proc.stdin is not None and proc.stdout is not None
            feeder = threading.Thread(
                target=_feed, args=(proc.stdin, metas), name="gitstream-diff-feed", daemon=True
            )
            feeder.start()
            try:
                yield from self._parse(proc.stdout, metas)
            finally:
                proc.stdout.close()
                if proc.poll() is None:
                    proc.kill()
                rc = proc.wait()
                feeder.join()
            if rc != 0:
                errfile.seek(0)
                msg = errfile.read().decode("utf-8", "replace").strip().splitlines()
                raise RepositoryError(f"git diff-tree failed: {msg[-1] if msg else rc}")

    def _parse(self, out: IO[bytes], metas: list[CommitMeta]) -> Iterator[CommitRecord]:
        keep = self.path_filter.keeps if self.path_filter else None
        readline = out.readline
        line = readline()
        nread = 0
        for meta in metas:
            header = meta.hash.encode() + b"\n"
            if line != header:
                raise DiffStageError(
                    f"expected commit {meta.hash} from git diff-tree, got {line[:80]!r}"
                )
            nread += len(line)
            line = readline()
            entries: list[_Entry] = []
            while line.startswith(b":"):
                entries.append(_parse_raw(line))
                nread += len(line)
                line = readline()
            if line == b"\n":
                line = readline()
            # Patch sections, one per entry (two for a type change), until the next commit.
            k = -1
            cur: _Entry | None = None
            in_hunks = False
            while line and line[0] != 10:
                c = line[0]
                if in_hunks and (c == 43 or c == 45 or c == 92):  # + - \
                    nread += len(line)
                    line = readline()
                    continue
                if line.startswith(_DIFF):
                    in_hunks = False
                    if cur is None or not (
                        cur.status is Status.TYPE_CHANGED and cur.sections == 1
                    ):
                        k += 1
                        if k >= len(entries):
                            raise DiffStageError(
                                f"commit {meta.hash}: more patch sections than raw entries"
                            )
                        cur = entries[k]
                    cur.sections += 1
                elif c == 64 and cur is not None:  # @@
                    m = _HUNK.match(line)
                    if m is None:
                        raise DiffStageError(f"commit {meta.hash}: bad hunk header {line!r}")
                    a, b, cc, d = m.groups()
                    cur.hunks.append(
                        (int(a), 1 if b is None else int(b), int(cc), 1 if d is None else int(d))
                    )
                    in_hunks = True
                elif line.startswith(_BINARY) and cur is not None:
                    cur.binary = True
                elif self._is_header(line, metas, meta):
                    break
                nread += len(line)
                line = readline()
            if k + 1 != len(entries):
                raise DiffStageError(
                    f"commit {meta.hash}: {len(entries)} raw entries but {k + 1} patch sections"
                )
            changes = tuple(
                e.to_change() for e in entries if keep is None or keep(e.new or e.old or "")
            )
            yield CommitRecord(
                index=meta.index,
                hash=meta.hash,
                first_parent=meta.first_parent,
                parent_count=meta.parent_count,
                author=meta.author,
                time=meta.time,
                tick=meta.tick,
                files=changes,
            )
        self.bytes_read += nread

    @staticmethod
    def _is_header(line: bytes, metas: list[CommitMeta], meta: CommitMeta) -> bool:
        # A commit header is a bare hex id; patch lines never are (content lines carry a
        # +/-/\ prefix and section headers start with words).
        return len(line) in (41, 65) and all(ch in b"0123456789abcdef" for ch in line[:-1])


def _feed(stdin: IO[bytes], metas: list[CommitMeta]) -> None:
    try:
        for meta in metas:
            stdin.write(stdin_line(meta))
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # git exited early; the reader reports why
