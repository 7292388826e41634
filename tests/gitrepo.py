"""Test helpers (not tests): a hermetic git CLI, repositories from compact specs, git oracles.

- :func:`git_env` / :func:`git`: run the real git with no system, global or user configuration.
- :func:`build_repo`: a repository from a list of commit specs, imported with ``git fast-import``
  (in the spirit of dulwich's ``build_commit_graph``): explicit parents for merges and extra
  roots, renames as git records them (delete + add of the same content), binary content as
  ``bytes``, empty commits, non-UTF-8 author names with the commit ``encoding`` header.
- Oracles: ``numstat_by_email``, ``numstat_by_path``, ``blame_lines_by_author``,
  ``lines_at_rev``, ``cochange_counts``, ``commit_list``. They ask the git command line only and
  never import gitstream, so comparing gitstream with them compares it with git itself.

Conventions shared by the oracles: every diff is against the commit's first parent
(``--diff-merges=first-parent``; a root commit against the empty tree); ``first_parent=True``
walks the mainline only, ``False`` every commit reachable from ``rev`` (so a side branch's
changes count once on the branch and once more in its merge's first-parent diff). Binary files
count 0 lines. Paths are decoded from UTF-8 (``surrogateescape`` for anything else).

Larger generated histories come from :mod:`gitstream.synth`.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

__all__ = [
    "CommitSpec",
    "blame_lines_by_author",
    "build_repo",
    "cochange_counts",
    "commit_list",
    "git",
    "git_bytes",
    "git_env",
    "hermetic_process",
    "lines_at_rev",
    "log_numstat",
    "numstat_by_email",
    "numstat_by_path",
]

DEFAULT_AUTHOR = ("Test Author", "author@example.com")
DEFAULT_TIME = 1_600_000_000  # 2020-09-13 12:26:40 UTC
_HOME: str | None = None


def _home() -> str:
    global _HOME
    if _HOME is None:
        _HOME = tempfile.mkdtemp(prefix="gitstream-test-home-")
        atexit.register(shutil.rmtree, _HOME, True)
    return _HOME


def git_env() -> dict[str, str]:
    """The environment every helper runs git with: no system, global or user config.

    Inherited ``GIT_*`` variables are dropped; HOME and XDG_CONFIG_HOME point to an empty
    temporary directory (one per test session); author and committer default to a fixed
    identity and date, so a stray ``git commit`` is reproducible too.
    """
    home = _home()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        HOME=home,
        XDG_CONFIG_HOME=os.path.join(home, ".config"),
        GIT_TERMINAL_PROMPT="0",
        GIT_AUTHOR_NAME=DEFAULT_AUTHOR[0],
        GIT_AUTHOR_EMAIL=DEFAULT_AUTHOR[1],
        GIT_AUTHOR_DATE=f"@{DEFAULT_TIME} +0000",
        GIT_COMMITTER_NAME=DEFAULT_AUTHOR[0],
        GIT_COMMITTER_EMAIL=DEFAULT_AUTHOR[1],
        GIT_COMMITTER_DATE=f"@{DEFAULT_TIME} +0000",
        LC_ALL="C",
    )
    return env


def hermetic_process(monkeypatch: Any, tmp_path: Path) -> None:
    """Make this process's git and libgit2 see no user or system config, from a neutral cwd.

    For fixtures of tests that run gitstream in-process (``monkeypatch`` is pytest's).
    """
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    env = git_env()
    for key in ("GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(key, env[key])
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def git_bytes(repo: str | os.PathLike[str], *args: str, input: bytes | None = None) -> bytes:
    """Run ``git -C repo args...`` hermetically; its stdout as bytes; raise if it fails."""
    done = subprocess.run(
        ["git", "-C", os.fspath(repo), *args],
        input=input,
        env=git_env(),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip()
        raise AssertionError(f"git {' '.join(args)} exited {done.returncode}: {message}")
    return done.stdout


def git(repo: str | os.PathLike[str], *args: str, input: bytes | None = None) -> str:
    """Run ``git -C repo args...`` hermetically; its stdout as text (UTF-8)."""
    return git_bytes(repo, *args, input=input).decode("utf-8", "surrogateescape")


# -- building repositories from compact specs ----------------------------------------------------


class CommitSpec(TypedDict, total=False):
    """One commit of :func:`build_repo`; every key is optional.

    ``files``: path -> new content (``str`` text, ``bytes`` raw/binary, ``None`` deletes it),
    applied to the first parent's tree. ``renames``: old path -> new path, applied before
    ``files`` (git stores a rename as delete + add; add the new path to ``files`` too to edit it).
    ``reset``: start from an empty tree instead of the first parent's (``files`` is then the
    whole tree). ``author``/``committer``: (name, email), a ``bytes`` name is written as is.
    ``time``: author time (default ``DEFAULT_TIME + 3600 * index``); ``committer_time``
    (default ``time``); ``tz`` (default ``+0000``). ``parents``: indices of earlier commits in
    the list (default: the previous one; ``[]`` makes a root). ``encoding``: the commit's
    ``encoding`` header (default ``iso-8859-1`` when a name is not valid UTF-8).
    """

    files: Mapping[str, str | bytes | None]
    renames: Mapping[str, str]
    reset: bool
    author: tuple[str | bytes, str]
    committer: tuple[str | bytes, str]
    time: int
    committer_time: int
    tz: str
    parents: Sequence[int]
    message: str
    encoding: str


def _quote(path: str) -> bytes:
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return b'"' + escaped.encode("utf-8", "surrogateescape") + b'"'


def _name(name: str | bytes) -> bytes:
    return name if isinstance(name, bytes) else name.encode()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fast_import_stream(commits: Sequence[CommitSpec], ref: bytes, head: int) -> bytes:
    out: list[bytes] = [b"feature done\n"]
    for i, spec in enumerate(commits):
        parents = list(spec.get("parents", [i - 1] if i else []))
        if any(not 0 <= p < i for p in parents):
            raise ValueError(f"commit {i}: parents must be indices of earlier commits: {parents}")
        author = spec.get("author", DEFAULT_AUTHOR)
        committer = spec.get("committer", author)
        when = spec.get("time", DEFAULT_TIME + 3600 * i)
        committed = spec.get("committer_time", when)
        tz = spec.get("tz", "+0000").encode()
        encoding = spec.get("encoding")
        if encoding is None and not all(_is_utf8(_name(n)) for n, _ in (author, committer)):
            encoding = "iso-8859-1"
        message = spec.get("message", f"commit {i}").encode()
        if not parents:
            out.append(b"reset %s\n" % ref)  # the next commit on the ref is a root
        out.append(b"commit %s\nmark :%d\n" % (ref, i + 1))
        out.append(b"author %s <%s> %d %s\n" % (_name(author[0]), author[1].encode(), when, tz))
        out.append(
            b"committer %s <%s> %d %s\n"
            % (_name(committer[0]), committer[1].encode(), committed, tz)
        )
        if encoding is not None:
            out.append(b"encoding %s\n" % encoding.encode())
        out.append(b"data %d\n%s\n" % (len(message), message))
        if parents:
            out.append(b"from :%d\n" % (parents[0] + 1))
            out.extend(b"merge :%d\n" % (p + 1) for p in parents[1:])
        if spec.get("reset", False):
            out.append(b"deleteall\n")
        for old, new in spec.get("renames", {}).items():
            out.append(b"R %s %s\n" % (_quote(old), _quote(new)))
        for path, content in spec.get("files", {}).items():
            if content is None:
                out.append(b"D %s\n" % _quote(path))
            else:
                data = content if isinstance(content, bytes) else content.encode()
                out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (_quote(path), len(data), data))
        out.append(b"\n")
    out.append(b"reset %s\nfrom :%d\n\ndone\n" % (ref, head + 1))
    return b"".join(out)


def build_repo(
    path: str | os.PathLike[str],
    commits: Sequence[CommitSpec],
    *,
    bare: bool = False,
    branch: str = "main",
    head: int | None = None,
) -> list[str]:
    """Create a repository at ``path`` from ``commits``; their ids, in the order given.

    ``branch`` (HEAD's branch) ends at commit ``head`` (default: the last one); no other ref is
    created. A non-bare repository has ``branch`` checked out.

    >>> ids = build_repo(tmp_path, [{"files": {"a.txt": "1\\n"}},
    ...                             {"files": {"a.txt": "1\\n2\\n"}, "author": ("Bo", "bo@x")}])
    """
    if not commits:
        raise ValueError("build_repo needs at least one commit")
    repo = Path(path)
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", f"--initial-branch={branch}", *(["--bare"] if bare else []))
    stream = _fast_import_stream(
        commits, f"refs/heads/{branch}".encode(), len(commits) - 1 if head is None else head
    )
    with tempfile.TemporaryDirectory(prefix="gitstream-marks-") as scratch:
        marks = Path(scratch, "marks")
        git(repo, "fast-import", "--quiet", "--done", f"--export-marks={marks}", input=stream)
        ids: dict[int, str] = {}
        for line in marks.read_text().splitlines():
            mark, oid = line.split()
            ids[int(mark[1:]) - 1] = oid
    if not bare:
        git(repo, "reset", "-q", "--hard", branch)
    return [ids[i] for i in range(len(commits))]


# -- oracles --------------------------------------------------------------------------------------

NumstatLine = tuple[int, int, str | None, str]
"""(added, removed, old path if renamed else None, path); binary files count 0 and 0."""


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _walk_args(rev: str, first_parent: bool) -> list[str]:
    return ["--diff-merges=first-parent", *(["--first-parent"] if first_parent else []), rev]


def log_numstat(
    repo: str | os.PathLike[str],
    rev: str = "HEAD",
    *,
    first_parent: bool = True,
    renames: bool = False,
    fields: Sequence[str] = ("%H",),
) -> list[tuple[list[str], list[NumstatLine]]]:
    """``git log --numstat`` parsed: per commit (newest first), its ``--format`` ``fields`` and
    its numstat lines. ``renames`` turns on git's default rename detection (``-M``)."""
    fmt = "tformat:%x01" + "%x00".join(fields)
    raw = git_bytes(
        repo,
        "log",
        "-z",
        "--numstat",
        f"--format={fmt}",
        "-M" if renames else "--no-renames",
        *_walk_args(rev, first_parent),
    )
    commits: list[tuple[list[str], list[NumstatLine]]] = []
    for chunk in raw.split(b"\x01")[1:]:
        parts = chunk.split(b"\x00")
        header = [_decode(p) for p in parts[: len(fields)]]
        tokens = iter(parts[len(fields) :])
        lines: list[NumstatLine] = []
        for token in tokens:
            token = token.lstrip(b"\n")
            if not token:
                continue
            added, removed, path = token.split(b"\t", 2)
            old: str | None = None
            if not path:  # a rename: "added\tremoved\t\0old\0new\0"
                old, path = _decode(next(tokens)), next(tokens)
            a = 0 if added == b"-" else int(added)
            r = 0 if removed == b"-" else int(removed)
            lines.append((a, r, old, _decode(path)))
        commits.append((header, lines))
    return commits


def numstat_by_email(
    repo: str | os.PathLike[str],
    rev: str = "HEAD",
    first_parent: bool = True,
    renames: bool = False,
    *,
    mailmap: bool = True,
) -> dict[str, tuple[int, int, int]]:
    """Lines added, lines removed and commits per lower-cased author email.

    Every listed commit counts, empty commits and merges too. ``mailmap`` maps emails through
    ``.mailmap`` first (``%aE``), as gitstream's identity merging does.
    """
    totals: dict[str, list[int]] = {}
    field = "%aE" if mailmap else "%ae"
    for (email,), lines in log_numstat(
        repo, rev, first_parent=first_parent, renames=renames, fields=(field,)
    ):
        row = totals.setdefault(email.lower(), [0, 0, 0])
        row[0] += sum(line[0] for line in lines)
        row[1] += sum(line[1] for line in lines)
        row[2] += 1
    return {email: (a, r, c) for email, (a, r, c) in totals.items()}


def numstat_by_path(
    repo: str | os.PathLike[str],
    rev: str = "HEAD",
    first_parent: bool = True,
    renames: bool = False,
) -> dict[str, tuple[int, int, int]]:
    """Lines added, lines removed and commits per path (a rename counts under its new path).

    A path counts every commit that added, modified, deleted or (with ``renames``) renamed it.
    """
    totals: dict[str, list[int]] = {}
    for _, lines in log_numstat(repo, rev, first_parent=first_parent, renames=renames):
        for added, removed, _old, path in lines:
            row = totals.setdefault(path, [0, 0, 0])
            row[0] += added
            row[1] += removed
            row[2] += 1
    return {path: (a, r, c) for path, (a, r, c) in totals.items()}


def _empty_tree(repo: str | os.PathLike[str]) -> str:
    return git(repo, "hash-object", "-t", "tree", "--stdin", input=b"").strip()


def lines_at_rev(repo: str | os.PathLike[str], rev: str = "HEAD") -> dict[str, int]:
    """Line counts of the text files in ``rev``'s tree, as git counts them (binary files left out).

    A last line without a newline counts; an empty file is 0. Computed as the numstat of
    ``rev`` against the empty tree, so git itself decides what is binary.
    """
    raw = git_bytes(repo, "diff", "-z", "--numstat", "--no-renames", _empty_tree(repo), rev)
    counts: dict[str, int] = {}
    for token in raw.split(b"\x00"):
        if not token:
            continue
        added, _removed, path = token.split(b"\t", 2)
        if added != b"-":
            counts[_decode(path)] = int(added)
    return counts


def blame_lines_by_author(
    repo: str | os.PathLike[str], rev: str = "HEAD"
) -> dict[str, dict[str, int]]:
    """Per text file of ``rev``: lines by the author who last wrote them, as ``Name <email>``.

    Runs ``git blame --first-parent --line-porcelain`` (whole-file renames followed, no ``-M``/
    ``-C``), so a side branch's lines belong to the merge that brought them in. Author names
    are mailmapped by git (the ``.mailmap`` of the work tree, or of HEAD in a bare repository)
    and re-encoded to UTF-8 from their commit's encoding. Binary and empty files are left out.
    """
    result: dict[str, dict[str, int]] = {}
    for path, count in lines_at_rev(repo, rev).items():
        if count == 0:
            continue
        raw = git_bytes(repo, "blame", "--first-parent", "--line-porcelain", rev, "--", path)
        authors: Counter[str] = Counter()
        name = ""
        for line in raw.split(b"\n"):
            if line.startswith(b"author "):
                name = _decode(line[7:])
            elif line.startswith(b"author-mail "):
                authors[f"{name} {_decode(line[12:])}"] += 1
        result[path] = dict(authors)
    return result


def cochange_counts(
    repo: str | os.PathLike[str],
    rev: str = "HEAD",
    first_parent: bool = True,
    *,
    max_files: int | None = None,
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """How often files change together: ``(pairs, revisions)``.

    ``pairs[(a, b)]`` (``a < b``) counts the commits that touched both paths, ``revisions[p]``
    the commits that touched ``p``. Touched means listed by ``git log --name-only
    --no-renames``: added, modified or deleted (a rename touches its old and its new path). A
    commit touching more than ``max_files`` paths is left out entirely, from pairs and
    revisions alike, as hercules' ``CouplesMaximumMeaningfulContextSize`` (1000) and
    code-maat's ``--max-changeset-size`` do; ``None`` keeps every commit.
    """
    raw = git_bytes(
        repo,
        "log",
        "-z",
        "--name-only",
        "--no-renames",
        "--format=tformat:%x01%H",
        *_walk_args(rev, first_parent),
    )
    pairs: Counter[tuple[str, str]] = Counter()
    revisions: Counter[str] = Counter()
    for chunk in raw.split(b"\x01")[1:]:
        tokens = chunk.split(b"\x00")[1:]
        paths = sorted({_decode(t.lstrip(b"\n")) for t in tokens if t.lstrip(b"\n")})
        if max_files is not None and len(paths) > max_files:
            continue
        revisions.update(paths)
        pairs.update(itertools.combinations(paths, 2))
    return dict(pairs), dict(revisions)


def commit_list(
    repo: str | os.PathLike[str], rev: str = "HEAD", first_parent: bool = True
) -> list[str]:
    """Commit ids reachable from ``rev``, oldest first, parents always before their children
    (``git rev-list --reverse --topo-order``)."""
    args = ["rev-list", "--reverse", "--topo-order", *(["--first-parent"] if first_parent else [])]
    return git(repo, *args, rev).split()
