"""The diff stage: per commit, per file, git's own zero-context hunks against the first parent.

Diffs come from ``git diff-tree --stdin --raw -p -U1`` run as a subprocess, fed the chunk's
"commit first-parent" pairs and parsed as a stream. Measured on git/git (design.md), git's own
diff machinery is 2-3x faster than libgit2's through pygit2 and, more importantly, its hunks and
rename pairing are the ones ``git log --numstat`` uses, so our line counts agree with git's to
the line. One line of context, not zero: see :func:`diff_tree_command`. The raw part
(``--raw``) gives exact paths and statuses; the patch part gives hunks and binary flags, one
``diff --git`` section per raw entry, except that a type change (``T``) is shown as a
deletion followed by an addition and is folded back into one change here.

git's caches are capped (:class:`~gitstream.git.repo.GitCaps`) and one process serves one
segment of commits, so its memory does not grow with the walk. Filtering by ``--include``/
``--exclude`` happens here too. This module does not choose commits (``walk.py``) nor interpret
hunks (the analyzers).
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Protocol, cast

import pygit2

from gitstream.errors import GitstreamError, RepositoryError
from gitstream.git.repo import GitCaps
from gitstream.git.walk import CommitMeta
from gitstream.records import CommitRecord, FileChange, Hunk, Status

# The lines of diff-tree's output that matter, each kind in its own group: hunk headers (1-4),
# raw entries (5), section starts (6), binary markers (7), commit headers (8) and context lines
# (9). Removed and added lines start with - or +, and match none of them.
# Every line that matters starts after a newline; the parser puts one before each block, whose
# lines are whole. Starting with a literal "\n" (not "^" under re.M) lets the regex engine jump
# from newline to newline in C instead of trying every byte: 3.2x faster on content-heavy output.
_LINE = re.compile(
    rb"\n(?:@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@"
    rb"|(:[^\n]*)"
    rb"|(diff --git )"
    rb"|(Binary files )"
    rb"|([0-9a-f]{40}(?:[0-9a-f]{24})?)$"
    rb"|( ))",
    re.M,
)
_BLOCK = 1 << 20
_WILDCARD = re.compile(r"[*?\[]")
_CONTENT = (b"+", b"-", b" ", b"\\")
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


class Readable(Protocol):
    """What the parser reads from: a pipe, or the prefetcher's queue of blocks."""

    def read1(self, n: int = ..., /) -> bytes: ...


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
    # surrogateescape is lossless (as os.fsdecode): a path that is not UTF-8 stays distinct
    # from every other; writers escape the lone surrogates (JSON \udcXX, terminal \xXX).
    return raw.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class PathFilter:
    """Shell-style globs on the path after the change; ``*`` also matches ``/``.

    A pattern without ``/`` also matches a file's base name, so ``*.lock`` excludes lock files
    in every directory. git applies the same filter first (:meth:`pathspecs`), before it pairs
    renames, as ``git log -M -- <paths>`` does: a file moved out of the kept paths is deleted
    from them, one moved in is added with all its lines.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def pathspecs(self) -> list[str]:
        """git pathspecs matching exactly the paths :meth:`keeps` keeps.

        Each pattern matches the whole path with ``*`` crossing ``/`` (git's default
        matching), and, without a ``/``, the base name in any directory (``:(glob)**/``,
        where ``*`` stays inside a name). A pattern without wildcards would also match the
        files under a directory of that name in git: its last character is written as a
        one-character class, which makes it a wildcard pattern matching only itself.
        """
        specs: list[str] = []
        for exclude, pats in ((False, self.include), (True, self.exclude)):
            magic = ",exclude" if exclude else ""
            for p in pats:
                if not p:
                    continue
                q = p if _WILDCARD.search(p) else f"{p[:-1]}[{p[-1]}]"
                specs.append(f":(top{magic}){q}")
                if "/" not in p:
                    specs.append(f":(top,glob{magic})**/{q}")
        return specs

    def keeps(self, path: str) -> bool:
        base = path.rsplit("/", 1)[-1]

        def hit(pats: tuple[str, ...]) -> bool:
            return any(
                fnmatch.fnmatchcase(path, p) or ("/" not in p and fnmatch.fnmatchcase(base, p))
                for p in pats
            )

        return (not self.include or hit(self.include)) and not hit(self.exclude)


class _Body:
    """The body of the hunk being read: where it stands on each side, and the change so far.

    A ``-U1`` hunk holds one change, or several separated by one or two context lines. Each
    change is the zero-context hunk ``git diff -U0`` would print if it did not trim the files'
    common tail first (see :func:`diff_tree_command`).
    """

    __slots__ = ("add", "hunks", "new", "old", "open", "rem")

    def __init__(self) -> None:
        self.open = False
        self.hunks: list[Hunk] = []
        self.old = self.new = self.rem = self.add = 0

    def open_at(self, hunks: list[Hunk], a: int, old_lines: bool, c: int, new_lines: bool) -> None:
        """Start a hunk whose header says ``-a,b +c,d``; ``old_lines`` is ``b > 0``."""
        self.open = True
        self.hunks = hunks
        # The next line on each side; a side without lines names the line before the hunk.
        self.old = a if old_lines else a + 1
        self.new = c if new_lines else c + 1
        self.rem = self.add = 0

    def count(self, text: bytes, start: int, end: int) -> None:
        """Count the removed and added lines that start in ``text[start:end]``."""
        self.rem += text.count(b"\n-", start, end)
        self.add += text.count(b"\n+", start, end)

    def context(self) -> None:
        """A context line: it ends the change before it and stands on both sides."""
        if self.rem or self.add:
            self._emit()
        self.old += 1
        self.new += 1

    def close(self) -> None:
        if self.open:
            if self.rem or self.add:
                self._emit()
            self.open = False

    def _emit(self) -> None:
        rem, add = self.rem, self.add
        # git's zero-context convention: an empty side names the line after which it applies.
        self.hunks.append(
            (self.old if rem else self.old - 1, rem, self.new if add else self.new - 1, add)
        )
        self.old += rem
        self.new += add
        self.rem = self.add = 0


class _Entry:
    """A raw diff entry being filled from its patch section(s)."""

    __slots__ = ("binary", "blobs", "hunks", "new", "old", "sections", "status")

    def __init__(
        self, status: Status, old: str | None, new: str | None, blobs: tuple[bytes, bytes]
    ) -> None:
        self.status = status
        self.old = old
        self.new = new
        self.blobs = blobs
        """The blob ids before and after, hex (all zeros for a side that does not exist)."""
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
    fields = meta.split(b" ")
    status = _STATUS.get(fields[4][0], Status.MODIFIED)
    blobs = (fields[2], fields[3])
    names = paths.split(b"\t")
    if status is Status.RENAMED:
        return _Entry(status, unquote_path(names[0]), unquote_path(names[1]), blobs)
    path = unquote_path(names[0])
    if status is Status.ADDED:
        return _Entry(status, None, path, blobs)
    if status is Status.DELETED:
        return _Entry(status, path, None, blobs)
    return _Entry(status, path, path, blobs)


def diff_tree_command(
    git_dir: str,
    *,
    renames: bool,
    caps: GitCaps | None = None,
    algorithm: str | None = None,
    pathspecs: Iterable[str] = (),
) -> list[str]:
    """The git command line of the diff stage (also measured by the benchmarks).

    ``-U1``, not ``-U0``: with no context git trims the two files' common tail before diffing
    (``trim_common_tail`` in xdiff-interface.c), which can align lines differently from the
    diff ``git log --numstat`` counts (this project's own history has two such edits). With one
    line of context git diffs whole files, and :class:`_Body` splits each hunk into its
    zero-context changes. It costs git about 15% more time than ``-U0``.

    ``algorithm`` is the repository's ``diff.algorithm``: ``git log`` reads that setting and
    the ``diff-tree`` plumbing does not, so it is passed on to count as ``git log`` does.
    """
    return [
        "git",
        "--git-dir",
        git_dir,
        *(caps or GitCaps()).args(),
        "-c",
        "core.quotePath=true",
        "diff-tree",
        "--stdin",
        "-r",
        "--root",
        "--always",
        "--raw",
        "-p",
        "-U1",
        "--no-ext-diff",
        "--no-textconv",
        "-M" if renames else "--no-renames",
        *([f"--diff-algorithm={algorithm}"] if algorithm else []),
        "--",
        *pathspecs,
    ]


def stdin_line(meta: CommitMeta) -> bytes:
    """One line of diff-tree's stdin: the commit, then the parent to diff against."""
    if meta.first_parent is None:
        return meta.hash.encode() + b"\n"
    return f"{meta.hash} {meta.first_parent}\n".encode()


class DiffStage:
    """Runs one ``git diff-tree`` per batch of commits and yields :class:`CommitRecord` values."""

    def __init__(
        self,
        git_dir: str,
        *,
        work_tree: str | None = None,
        renames: bool = True,
        path_filter: PathFilter | None = None,
        caps: GitCaps | None = None,
        algorithm: str | None = None,
    ) -> None:
        self.git_dir = git_dir
        self.caps = caps or GitCaps()
        # git takes its current directory as the work tree when given --git-dir, and reads
        # .gitattributes (binary, -diff) from there: run it where `git log` would run.
        if work_tree is None:
            gd = os.path.normpath(git_dir)
            work_tree = os.path.dirname(gd) if os.path.basename(gd) == ".git" else None
        self.cwd = work_tree or git_dir
        self.renames = renames
        self.algorithm = algorithm
        self.path_filter = path_filter or PathFilter()
        self.bytes_read = 0
        self.oversized = 0
        """Changes git counted as binary that are larger than ``caps.big_file``: perhaps text
        too large to diff within the budget."""
        self.largest_oversized = 0
        self._repo: pygit2.Repository | None = None

    def records(self, commits: Iterable[CommitMeta]) -> Iterator[CommitRecord]:
        """Diff ``commits`` (in order) and yield one record each, in the same order."""
        metas = list(commits)
        if not metas:
            return
        with self.spawn(metas) as out:
            yield from self.parse(out, metas)

    @contextlib.contextmanager
    def spawn(self, metas: list[CommitMeta], *, nice: int = 0) -> Iterator[io.BufferedReader]:
        """Start git on ``metas`` and yield its output; reap it and report its failure after.

        ``nice`` lowers git's CPU priority by that much (best effort): a git diffing ahead of
        the one being parsed should not take the cores from it.
        """
        env = dict(os.environ)
        env.setdefault("GIT_CONFIG_NOSYSTEM", "1")  # no system diff drivers or textconv
        # The commit walk (libgit2) does not follow `git replace` refs: neither may the diffs,
        # or a replaced commit's lines would be counted for the original's author.
        env["GIT_NO_REPLACE_OBJECTS"] = "1"
        env["LC_ALL"] = "C"
        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(
                    diff_tree_command(
                        self.git_dir,
                        renames=self.renames,
                        caps=self.caps,
                        algorithm=self.algorithm,
                        pathspecs=self.path_filter.pathspecs(),
                    ),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=errfile,
                    env=env,
                    cwd=self.cwd,
                    bufsize=1 << 16,
                )
            except OSError as exc:
                raise RepositoryError(f"cannot run git: {exc}; is git installed?") from exc
            assert proc.stdin is not None and proc.stdout is not None
            if nice:
                _lower_priority(proc.pid, nice)
            _grow_pipe(proc.stdout)
            feeder = threading.Thread(
                target=_feed, args=(proc.stdin, metas), name="gitstream-diff-feed", daemon=True
            )
            feeder.start()
            killed = False
            parse_error: DiffStageError | None = None
            try:
                # Popen with bufsize > 0 gives a BufferedReader, which has read1.
                yield cast(io.BufferedReader, proc.stdout)
            except DiffStageError as exc:
                parse_error = exc  # git's own complaint, if it has one, says more
                killed = _reap(proc, grace=5.0)
            except BaseException:
                # The consumer stopped early (closed, interrupted): git's work is unwanted.
                proc.stdout.close()
                killed = _reap(proc, grace=0.0)
                feeder.join()
                raise
            else:
                # The output was read to its end: let git exit by itself and say how it went.
                killed = _reap(proc, grace=30.0)
            proc.stdout.close()
            rc = proc.wait()
            feeder.join()
            if rc != 0 and not killed:
                errfile.seek(0)
                msg = errfile.read().decode("utf-8", "replace").strip().splitlines()
                raise RepositoryError(
                    f"git diff-tree failed: {msg[-1] if msg else f'exit code {rc}'}"
                ) from parse_error
            if parse_error is not None:
                raise parse_error

    def parse(self, out: Readable, metas: list[CommitMeta]) -> Iterator[CommitRecord]:
        """Read git's output in large blocks and let one regex pick out the lines that matter.

        git prints one line of context around each change (``-U1``); the changes between
        context lines are the zero-context hunks. Removed and added lines are never looked at
        one by one: ``bytes.count`` counts them in C between two context lines, and the regex
        skips them. A hunk may run over several blocks: its counts are carried.
        """
        keep = self.path_filter.keeps if self.path_filter else None
        fd_read = out.read1
        finditer = _LINE.finditer
        pos = 0  # index of the commit being filled
        entries: list[_Entry] = []
        cur: _Entry | None = None
        k = -1
        started = False
        rest = b""
        skipping = False  # inside a content line cut by a block boundary: drop to its end
        body = _Body()  # the hunk being read, if any
        while True:
            data = fd_read(_BLOCK)
            self.bytes_read += len(data)
            dropped = b""
            if data:
                if skipping:
                    nl = data.find(b"\n")
                    if nl < 0:
                        continue
                    data = data[nl + 1 :]
                    skipping = False
                buf = rest + data if rest else data
                cut = buf.rfind(b"\n") + 1
                block, rest = buf[:cut], buf[cut:]
                if rest[:1] in _CONTENT:
                    # A content line (or ---/+++ header) is never parsed: rather than carry a
                    # possibly huge partial line from block to block, count it by its first
                    # byte and skip to its newline.
                    dropped, rest, skipping = rest[:1], b"", True
                if not block and not dropped:
                    continue
            else:
                block, rest = rest, b""
                if not block:
                    break
            text = b"\n" + block
            last = 0  # where the part of a hunk's body not yet counted starts
            for m in finditer(text):
                if body.open:
                    start = m.start()
                    if start > last:
                        body.count(text, last, start)
                    if m.lastindex == 9:  # a context line
                        body.context()
                        last = m.end()
                        continue
                    body.close()
                a = m.group(1)
                if a is not None:  # @@ -a,b +c,d @@
                    if cur is None:
                        raise DiffStageError(f"hunk header before any file: {m.group(0)!r}")
                    b, c, d = m.group(2, 3, 4)
                    body.open_at(
                        cur.hunks, int(a), b is None or b != b"0", int(c), d is None or d != b"0"
                    )
                    last = m.end()
                    continue
                kind = m.lastindex
                if kind == 5:  # raw entry
                    entries.append(_parse_raw(m.group(5)))
                elif kind == 6:  # diff --git: the next entry's section
                    if cur is None or not (cur.status is Status.TYPE_CHANGED and cur.sections == 1):
                        k += 1
                        if k >= len(entries):
                            raise DiffStageError(
                                f"commit {metas[pos].hash}: more patch sections than raw entries"
                            )
                        cur = entries[k]
                    cur.sections += 1
                elif kind == 7:  # Binary files ... differ
                    if cur is not None:
                        cur.binary = True
                elif kind == 8:  # a commit header
                    if started:
                        yield self._record(metas[pos], entries, k, keep)
                        pos += 1
                    started = True
                    if pos >= len(metas) or m.group(8) != metas[pos].hash.encode():
                        expected = metas[pos].hash if pos < len(metas) else "the end"
                        raise DiffStageError(
                            f"expected commit {expected} from git diff-tree, got {m.group(0)!r}"
                        )
                    entries, cur, k = [], None, -1
                else:  # a context line outside a hunk
                    raise DiffStageError(f"context line outside a hunk: {m.group(0)!r}")
            if body.open:
                body.count(text, last, len(text))
                if dropped == b" ":
                    body.context()
                elif dropped:
                    body.count(b"\n" + dropped, 0, 2)
        body.close()
        if started:
            yield self._record(metas[pos], entries, k, keep)
            pos += 1
        if pos != len(metas):
            raise DiffStageError(
                f"git diff-tree stopped after {pos} of {len(metas)} commits: it skipped "
                f"{metas[pos].hash} (a missing object? a damaged or partial clone?)"
            )

    def _record(
        self,
        meta: CommitMeta,
        entries: list[_Entry],
        k: int,
        keep: Callable[[str], bool] | None,
    ) -> CommitRecord:
        if k + 1 != len(entries):
            raise DiffStageError(
                f"commit {meta.hash}: {len(entries)} raw entries but {k + 1} patch sections"
            )
        for e in entries:
            if e.binary:
                if self.caps.big_file is not None:
                    self._count_oversized(e.blobs, self.caps.big_file)
            elif e.blobs[0] == e.blobs[1] and e.status in _SAME_CONTENT:
                # A mode change or a 100% rename: git prints no "Binary files" line for it,
                # but numstat still says "-" when the file is binary.
                e.binary = self._is_binary(e.blobs[1], (e.old, e.new))
        return CommitRecord(
            index=meta.index,
            hash=meta.hash,
            first_parent=meta.first_parent,
            parent_count=meta.parent_count,
            author=meta.author,
            time=meta.time,
            tick=meta.tick,
            files=tuple(
                e.to_change() for e in entries if keep is None or keep(e.new or e.old or "")
            ),
        )

    def _repository(self) -> pygit2.Repository:
        """The repository, opened on first need: most histories never ask a blob's size."""
        if self._repo is None:
            self._repo = pygit2.Repository(self.git_dir)
        return self._repo

    def _count_oversized(self, blobs: tuple[bytes, bytes], limit: int) -> None:
        """Count a binary change whose larger side is over ``limit`` (git read only its size)."""
        largest = 0
        for blob in blobs:
            if blob.strip(b"0"):
                try:
                    largest = max(largest, self._repository().odb.read_header(blob.decode())[1])
                except (KeyError, ValueError, pygit2.GitError):
                    pass  # a missing object (a partial clone): nothing to say about its size
        if largest > limit:
            self.oversized += 1
            self.largest_oversized = max(self.largest_oversized, largest)

    def _is_binary(self, blob: bytes, paths: tuple[str | None, str | None]) -> bool:
        """Whether git's numstat calls this unchanged blob binary: a path whose ``diff``
        attribute is unset (``-diff``, ``binary``), a blob over the large-file limit, or a NUL
        in its first 8000 bytes (``buffer_is_binary``)."""
        repo = self._repository()
        try:
            if any(p is not None and repo.get_attr(p, "diff") is False for p in paths):
                return True
            size = repo.odb.read_header(blob.decode())[1]
            if size > (self.caps.big_file or _GIT_BIG_FILE):
                return True
            return b"\0" in repo.odb.read(blob.decode())[1][:8000]
        except (KeyError, ValueError, pygit2.GitError):
            return False  # a gitlink's commit, or a missing object: not a binary file


_SAME_CONTENT = (Status.MODIFIED, Status.RENAMED)
_GIT_BIG_FILE = 512 << 20
"""git's default ``core.bigFileThreshold``: larger files are binary to it."""


def _reap(proc: subprocess.Popen[bytes], grace: float) -> bool:
    """Wait up to ``grace`` seconds for git to exit, then kill it; True if it was killed."""
    try:
        proc.wait(timeout=grace)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


def _lower_priority(pid: int, by: int) -> None:
    """Make process ``pid`` ``by`` nicer than it is (POSIX; best effort)."""
    try:
        current = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(19, current + by))
    except (AttributeError, OSError):
        pass  # no setpriority here, or git already gone: it runs at this process's priority


_F_SETPIPE_SZ = 1031  # Linux fcntl, for builds whose fcntl module lacks the name


def _grow_pipe(out: IO[bytes]) -> None:
    """Ask for a 1 MiB pipe so git can run ahead of a busy parser (Linux; best effort)."""
    try:
        import fcntl

        fcntl.fcntl(out.fileno(), getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass  # the default 64 KiB pipe still works, git just waits more often


def _feed(stdin: IO[bytes], metas: list[CommitMeta]) -> None:
    try:
        for meta in metas:
            stdin.write(stdin_line(meta))
        stdin.close()
    except (BrokenPipeError, ValueError, OSError):
        pass  # git exited early; the reader reports why
