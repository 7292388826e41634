"""Deterministic synthetic git histories, written as a ``git fast-import`` stream.

Tests and benchmarks need histories with known shape and size, from a handful of commits to
60k: this module writes one from a :class:`SynthSpec` and a seed, byte for byte the same every
time, and :func:`build_repo` imports it with the real ``git fast-import``. The mainline is
``refs/heads/main``; ``HEAD`` points to it.

What a history contains, each part switched by a spec field:

- text files edited line by line: inserts, deletes and replacements at the top, middle and end,
  one to three hunks at a time, so git's zero-context hunks take every shape; lines are short
  (code-like with content sizes, below) and mostly unique, with a few repeated ones (blank
  lines, ``}``) as real code has;
- files added (the live count ramps up to ``files`` over the first 40% of the history and is
  topped up after deletions), deleted, renamed in place or moved between directories (half of
  the renames also edit the file a little), binary blobs with NUL bytes, empty commits;
- merges: a short side branch forks from the mainline, gets two to four commits (the mainline
  may move on meanwhile, on other files) and is merged back with ``--no-ff`` semantics, so the
  first-parent history is shorter than the full one and a merge's first-parent diff carries the
  side branch's changes;
- big commits touching many files at once, and couple groups: sets of files that change
  together;
- edge identities and paths: a latin-1 author name with the commit ``encoding`` header, two
  emails that differ only by case, one person with two emails, an alias mapped by a ``.mailmap``
  committed on the mainline, a UTF-8 non-ASCII name, paths with spaces and non-ASCII
  characters, files without a final newline, an empty file;
- optionally, commits whose author and committer times run backwards (clock skew).

What it does not cover: submodules, symlinks, executable modes, CRLF, octopus merges, merge
conflicts or evil merges, tags, notes. By default files stay small (tens of lines) so that 60k
commits generate and import in well under a minute; that is a shape generator, not a content
corpus, and it makes git's diffs unrealistically cheap (about a tenth of a real project's cost
per commit).

Content sizes (``file_lines``, ``hunk_lines``, ``line_width``, with ``max_lines`` as the cap)
make the content look like real source code instead; :meth:`SynthSpec.real_sized` is
:meth:`SynthSpec.realistic` with these numbers:

- new files: log-normal lengths, median 200 lines, sigma 1.25 (mean about 440, 10% under 40,
  10% over 1000, 1% over 3700), capped at 20,000 lines. Source file sizes are log-normal in
  their body with a heavier (double Pareto) upper tail (Zhang, Tan and Marchesi, "The
  distribution of program sizes and its implications: an Eclipse case study", 2009; Herraiz,
  German and Hassan, "On the distribution of source code file sizes", ICSOFT 2011, on Debian
  5.0.2). The median and spread come from real code measured where this was written: CPython
  3.11's standard library without its tests, 799 ``.py`` files, median 216 lines, mean 427, 90th
  percentile 965, 99th 2,896, largest 15,711; a Debian system's ``/usr/include``, 7,296 headers,
  median 144, mean 345, 90th percentile 895, 99th 2,606. For scale, Linux 4.6 (an ARM build's
  42,186 files) averages 472 lines per file and its largest has 33,510 (deepends.co.uk,
  "Counting lines of code", 2016).
- lines: about 20-60 characters wide (``line_width`` 40), indented, made of code-like words
  and unique numbers, with 8% repeated lines (blank lines, ``}``) as before; the measured code
  above has 40-46 characters per non-blank line.
- hunks: the same mix of inserts, deletes and replacements and the same 1-3 hunks per edited
  file and files per commit, but each hunk inserts, deletes or replaces a log-normal number of
  lines, median 2, sigma 1.5 (mean about 6; one in a hundred over 65 lines: a rewrite). Commit
  sizes are heavy-tailed, mostly small with rare very large ones (Arafat and Riehle, "The commit
  size distribution of open source software", HICSS 2009, 9,363 projects; Kolassa, Riehle and
  Salim, "A model of the commit size distribution of open source", SOFSEM 2013); about 75% of
  commits are small in files, lines and hunks (Alali, Kagdi and Maletic, "What's a typical
  commit?", ICPC 2008); nearly 10% of changes touch one line (Purushothaman and Perry, IEEE TSE
  2005). The result, once the file count has ramped up: a first-parent commit changes a median
  of about 20-25 lines (added plus deleted), a mean of about 50-80, 6% of them one line. Over
  the whole history the mean is 200-300 lines and the median 40-70, as the ramp adds ``files``
  new files of the length above in the first 40% of the commits.

Edits pick files uniformly, whatever their length; real projects change their long files more
often, so a real-sized history is, if anything, still cheaper to diff than a real one. With
real sizes the stream is about 60x larger (about 60 KB per commit), and ``git fast-import``
stores every blob whole (it deltas only against the blob written just before), so generating
and importing take about ten times longer and the git directory is about 15 KiB per commit.

Run ``python -m gitstream.synth PATH --commits N --files M --seed S`` to build one by hand
(``--realistic`` or ``--real-sized`` for those specs).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

__all__ = [
    "MAINLINE",
    "SynthSpec",
    "SynthStats",
    "build_repo",
    "hermetic_git_env",
    "main",
    "read_manifest",
    "write_fast_import",
]

MAINLINE = "refs/heads/main"
#: Bumped whenever the same spec would produce a different stream; cached repositories whose
#: manifest carries another version are rebuilt.
GENERATOR_VERSION = 2

#: :meth:`SynthSpec.real_sized`'s content sizes; where they come from is in the module doc.
REAL_FILE_LINES = 200
REAL_MAX_LINES = 20_000
REAL_HUNK_LINES = 2
REAL_LINE_WIDTH = 40
# Spreads (sigma of the logarithm) of the log-normal draws: file lengths have a mean about 2.2x
# their median, a 90th percentile near 5x and a 99th near 18x; hunks a mean about 3x their
# median, and one hunk in a hundred is over 30x it.
_FILE_LINES_SIGMA = 1.25
_HUNK_LINES_SIGMA = 1.5

_SIDE = "refs/heads/synth-side"
_MANIFEST = "gitstream-synth.json"
_MAILMAP = ".mailmap"
_EMPTY_FILE = "docs/EMPTY"
_FLUSH_BYTES = 1 << 20
# fast-import allocates and frees a zlib stream per object; with glibc's default trim threshold
# each free hands the heap back to the kernel (about 100k brk calls per 20k commits, a quarter
# of its time). Other C libraries ignore the variable.
_MALLOC_TUNABLES = "glibc.malloc.trim_threshold=67108864:glibc.malloc.top_pad=16777216"


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """What history to generate. Every ``*_every`` field is a period; 0 switches it off.

    Periods count the mainline's regular commits (not side-branch commits or merges), so for a
    given spec the number of renames, binary changes, empty and big commits is predictable.
    """

    commits: int = 200
    """Total number of commits, side-branch commits and merges included."""
    files: int = 50
    """Target number of live files (text and binary) once the history has ramped up."""
    authors: int = 10
    """Size of the identity pool; with ``edge_identities`` at least the 7 edge identities."""
    seed: int = 0
    merge_every: int = 0
    """About one merge per this many commits; each merge closes a side branch of 2-4 commits."""
    rename_every: int = 0
    delete_every: int = 0
    binary_every: int = 0
    """Add, replace or delete a binary blob every this many regular commits."""
    empty_every: int = 0
    big_commit_every: int = 0
    big_commit_files: int = 100
    """How many files a big commit edits (at most every live text file)."""
    couple_groups: int = 0
    """Number of groups of 3-5 files that are edited together in about 30% of commits."""
    out_of_order_every: int = 0
    """Every this many commits, author and committer time jump 2-48 periods into the past."""
    edge_identities: bool = True
    edge_paths: bool = True
    start_time: int = 1_500_000_000
    seconds_per_commit: int = 3600
    max_lines: int = 40
    """Files longer than this are shrunk by their next edits (and caps ``file_lines``'s draws)."""
    file_lines: int = 0
    """Median length of a new text file in lines, drawn log-normally (many short files, a tail
    of long ones, up to ``max_lines``); 0 keeps the classic uniform 3-20 lines."""
    hunk_lines: int = 0
    """Median number of lines one hunk inserts, deletes or replaces, drawn log-normally (mostly
    small hunks, now and then a rewrite of hundreds of lines); 0 keeps the classic 1-10 lines."""
    line_width: int = 0
    """Typical width of a new line in characters (code-like lines of about half to one and a
    half this width, indented); 0 keeps the classic short lines such as ``call 123``."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"SynthSpec.{f.name} must be >= 0, got {value}")
        if self.commits < 1:
            raise ValueError("SynthSpec.commits must be >= 1")
        if self.files < 1:
            raise ValueError("SynthSpec.files must be >= 1")
        if self.authors < 1:
            raise ValueError("SynthSpec.authors must be >= 1")
        if self.seconds_per_commit < 1:
            raise ValueError("SynthSpec.seconds_per_commit must be >= 1")
        if self.max_lines < 8:
            raise ValueError("SynthSpec.max_lines must be >= 8")
        if self.file_lines > self.max_lines:
            raise ValueError(
                f"SynthSpec.file_lines ({self.file_lines}) must be <= max_lines ({self.max_lines})"
            )
        if self.line_width and self.line_width < 16:
            raise ValueError("SynthSpec.line_width must be 0 or >= 16")

    @classmethod
    def realistic(cls, commits: int, files: int, *, seed: int = 0, authors: int = 40) -> SynthSpec:
        """A spec with every feature on at rates seen in real repositories (for benchmarks)."""
        return cls(
            commits=commits,
            files=files,
            authors=authors,
            seed=seed,
            # primes, so that no period silences another (an empty commit wins a tie)
            merge_every=19,
            rename_every=47,
            delete_every=41,
            binary_every=61,
            empty_every=499,
            big_commit_every=1999,
            big_commit_files=min(500, max(1, files // 10)),
            couple_groups=max(1, files // 100),
            out_of_order_every=997,
        )

    @classmethod
    def real_sized(cls, commits: int, files: int, *, seed: int = 0, authors: int = 40) -> SynthSpec:
        """:meth:`realistic` with file and edit sizes of real source code (see the module doc)."""
        return dataclasses.replace(
            cls.realistic(commits, files, seed=seed, authors=authors),
            file_lines=REAL_FILE_LINES,
            max_lines=REAL_MAX_LINES,
            hunk_lines=REAL_HUNK_LINES,
            line_width=REAL_LINE_WIDTH,
        )

    @classmethod
    def plain(cls, commits: int, files: int, *, seed: int = 0, authors: int = 3) -> SynthSpec:
        """A linear history of text edits, adds and deletes only: no edge cases at all."""
        return cls(
            commits=commits,
            files=files,
            authors=authors,
            seed=seed,
            edge_identities=False,
            edge_paths=False,
        )


@dataclass(frozen=True, slots=True)
class SynthStats:
    """What a generated history turned out to contain."""

    commits: int
    first_parent_commits: int
    merges: int
    renames: int
    deletes: int
    binary_changes: int
    empty_commits: int
    big_commits: int
    out_of_order_commits: int
    live_files: int
    """Files in the tip's tree, ``.mailmap`` and the empty edge file included."""
    stream_bytes: int


@dataclass(frozen=True, slots=True)
class _Identity:
    name: bytes
    email: bytes
    tz: bytes
    encoding: bytes | None  # the commit ``encoding`` header a non-UTF-8 name needs


# The first of these commit first, in this order, so a short history still has each of them.
_EDGE_IDENTITIES = (
    _Identity(b"Ann Lee", b"ann@example.com", b"+0000", None),
    # the same mailbox with another case: identical to git's mailmap, distinct byte-wise
    _Identity(b"Ann Lee", b"Ann@Example.COM", b"+0000", None),
    _Identity(b"Bob Stone", b"bob@example.com", b"-0700", None),
    # the same person with a second address, not in .mailmap: only name matching merges it
    _Identity(b"Bob Stone", b"bob.stone@work.example", b"-0700", None),
    # an alias that the committed .mailmap maps to Bob Stone <bob@example.com>
    _Identity(b"Robert Stone", b"rstone@old.example", b"-0800", None),
    _Identity("José Müller".encode("latin-1"), b"jose@example.com", b"+0100", b"iso-8859-1"),
    _Identity("Zoë Ōkubo".encode(), b"zoe@example.com", b"+0900", None),
)
_MAILMAP_TEXT = b"Bob Stone <bob@example.com> Robert Stone <rstone@old.example>\n"
_TIMEZONES = (b"+0000", b"+0100", b"+0200", b"-0500", b"-0800", b"+0530", b"+0900", b"-0300")
_WORDS = ("let", "call", "ret", "if", "for", "set", "log", "emit", "push", "read", "map", "send")
_COMMON_LINES = ("\n", "}\n", "\n", "end\n", "return\n")
_EXTENSIONS = ("py", "c", "go", "md", "txt", "rs", "js")
_TEMPLATES = 1024
_CODE_WORDS = (
    "self", "value", "count", "result", "item", "index", "buffer", "node", "config", "name",
    "data", "error", "state", "offset", "size", "key", "path", "line", "table", "parent",
    "return", "if", "for", "while", "let", "const", "len", "append", "get", "set", "next", "ok",
)  # fmt: skip
_CODE_SEPARATORS = (" ", " = ", ".", "(", ", ", " + ", " == ", "[", ") ", " && ", "->")


class _Pool:
    """A set of paths with O(1) add, remove and uniform random choice, in insertion history order.

    Python's ``set`` of ``str`` iterates in a hash order that changes from run to run; a
    generator that must be byte-for-byte reproducible cannot draw from one.
    """

    __slots__ = ("index", "items")

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.index

    def add(self, item: str) -> None:
        self.index[item] = len(self.items)
        self.items.append(item)

    def remove(self, item: str) -> None:
        i = self.index.pop(item)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.index[last] = i

    def choice(self, rng: random.Random, exclude: Mapping[str, object] | None = None) -> str | None:
        """A random member not in ``exclude``, or None if a few tries find none."""
        n = len(self.items)
        if n == 0:
            return None
        for _ in range(8):
            item = self.items[rng.randrange(n)]
            if not exclude or item not in exclude:
                return item
        candidates = [p for p in self.items if not exclude or p not in exclude]
        return candidates[rng.randrange(len(candidates))] if candidates else None


def _quote(path: str) -> bytes:
    # fast-import accepts C-style quoted paths everywhere; quoting always is simpler than
    # knowing where an unquoted path with a space is ambiguous (the source of ``R``).
    escaped = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return b'"' + escaped.encode() + b'"'


def _data(payload: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(payload), payload)


class _Commit:
    """The changes of one commit being assembled; paths keep their first-touched order."""

    __slots__ = ("changes", "renames", "touched")

    def __init__(self) -> None:
        self.renames: list[tuple[str, str]] = []
        self.changes: dict[str, bytes | None] = {}  # None = deleted
        self.touched: dict[str, None] = {}  # paths renamed, added or deleted here


class _Generator:
    """Holds the evolving mainline tree and writes commits; one instance per stream."""

    def __init__(self, spec: SynthSpec, out: IO[bytes]) -> None:
        self.spec = spec
        self.out = out
        self.rng = random.Random(spec.seed)
        self.buf: list[bytes] = []
        self.buf_bytes = 0
        self.written = 0

        self.text: dict[str, list[str]] = {}
        self.texts = _Pool()
        self.binary: dict[str, bytes] = {}
        self.binaries = _Pool()
        self.no_eol: dict[str, None] = {}
        self.group_of: dict[str, int] = {}
        self.groups: list[list[str]] = [[] for _ in range(spec.couple_groups)]
        self.group_size = [3 + self.rng.randrange(3) for _ in range(spec.couple_groups)]

        self.dirs = self._make_dirs()
        self.identities = self._make_identities()
        # a long tail, as in real projects: identity k commits about 1/(k+1)^0.8 as often
        self.identity_weights = list(
            itertools.accumulate(1.0 / (1 + k) ** 0.8 for k in range(len(self.identities)))
        )
        self.file_no = 0
        self.line_no = 0
        # code-like line bodies, drawn once: a new line is one of them plus its unique number
        self.templates = self._make_templates() if spec.line_width else []

        self.mark = 0
        self.main_mark = 0
        self.commit_no = 0  # commits written so far, all branches
        self.regular_no = 0  # mainline regular commits so far
        self.ramp = max(1.0, 0.4 * spec.commits)
        self.next_merge = spec.merge_every if spec.merge_every else 0
        self.merge_no = 0

        self.first_parent = 0
        self.merges = 0
        self.renames = 0
        self.deletes = 0
        self.binary_changes = 0
        self.empty_commits = 0
        self.big_commits = 0
        self.out_of_order = 0

    # -- set-up -------------------------------------------------------------------------------

    def _make_dirs(self) -> list[str]:
        side = max(1, min(12, round(self.spec.files ** (1 / 3))))
        tops = ["src", "lib", "tests", "tools", "docs", "app", "core", "web", "net", "db", "ui"]
        dirs = [""]
        for t in range(side):
            top = tops[t % len(tops)] + (str(t // len(tops)) if t >= len(tops) else "")
            dirs.extend(f"{top}/m{j:02d}" for j in range(side))
        if self.spec.edge_paths:
            dirs += ["docs/user guide", "src/données", "src/模块"]
        return dirs

    def _make_templates(self) -> list[str]:
        rng, width = self.rng, self.spec.line_width
        templates = []
        for _ in range(_TEMPLATES):
            target = rng.randint(width // 2, width * 3 // 2) - 6  # room for the number
            indent = "    " * rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4))
            words = [indent + _CODE_WORDS[rng.randrange(len(_CODE_WORDS))]]
            size = len(words[0])
            while size < target:
                word = _CODE_WORDS[rng.randrange(len(_CODE_WORDS))]
                sep = _CODE_SEPARATORS[rng.randrange(len(_CODE_SEPARATORS))]
                words.append(sep + word)
                size += len(sep) + len(word)
            templates.append("".join(words) + "_")
        return templates

    def _make_identities(self) -> list[_Identity]:
        pool = list(_EDGE_IDENTITIES) if self.spec.edge_identities else []
        k = 0
        while len(pool) < self.spec.authors:
            k += 1
            name = f"Dev {k:03d}".encode()
            email = f"dev{k:03d}@example.com".encode()
            pool.append(_Identity(name, email, _TIMEZONES[k % len(_TIMEZONES)], None))
        return pool

    # -- output ---------------------------------------------------------------------------------

    def emit(self, chunk: bytes) -> None:
        self.buf.append(chunk)
        self.buf_bytes += len(chunk)
        if self.buf_bytes >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            blob = b"".join(self.buf)
            self.out.write(blob)
            self.written += len(blob)
            self.buf.clear()
            self.buf_bytes = 0

    def write_commit(
        self,
        ref: str,
        commit: _Commit,
        message: str,
        *,
        from_mark: int = 0,
        merge_marks: Sequence[int] = (),
    ) -> int:
        spec, rng = self.spec, self.rng
        who = self._pick_identity()
        when = spec.start_time + self.commit_no * spec.seconds_per_commit
        when += rng.randrange(spec.seconds_per_commit)
        oo = spec.out_of_order_every
        if oo and self.commit_no % oo == oo - 1:
            when -= spec.seconds_per_commit * rng.randint(2, 48)
            self.out_of_order += 1
        self.commit_no += 1
        self.mark += 1
        sig = b"%s <%s> %d %s\n" % (who.name, who.email, when, who.tz)
        head = [b"commit %s\nmark :%d\nauthor %s" % (ref.encode(), self.mark, sig)]
        head.append(b"committer " + sig)
        if who.encoding is not None:
            head.append(b"encoding %s\n" % who.encoding)
        head.append(_data(message.encode()))
        if from_mark:
            head.append(b"from :%d\n" % from_mark)
        head.extend(b"merge :%d\n" % m for m in merge_marks)
        for old, new in commit.renames:
            head.append(b"R %s %s\n" % (_quote(old), _quote(new)))
        for path, payload in commit.changes.items():
            if payload is None:
                head.append(b"D %s\n" % _quote(path))
            else:
                head.append(b"M 100644 inline %s\n" % _quote(path))
                head.append(_data(payload))
        head.append(b"\n")
        self.emit(b"".join(head))
        return self.mark

    # -- content ------------------------------------------------------------------------------

    def _pick_identity(self) -> _Identity:
        if self.commit_no < len(self.identities):
            return self.identities[self.commit_no]
        return self.rng.choices(self.identities, cum_weights=self.identity_weights)[0]

    def _new_lines(self, count: int) -> list[str]:
        rng = self.rng
        lines = []
        templates = self.templates
        for _ in range(count):
            if rng.random() < 0.08:
                lines.append(_COMMON_LINES[rng.randrange(len(_COMMON_LINES))])
            elif templates:
                self.line_no += 1
                lines.append(f"{templates[rng.randrange(_TEMPLATES)]}{self.line_no}\n")
            else:
                self.line_no += 1
                lines.append(f"{_WORDS[rng.randrange(len(_WORDS))]} {self.line_no}\n")
        return lines

    def _file_length(self, low: int, high: int) -> int:
        """Lines of a new file: uniform in [low, high] classically, else log-normal."""
        median = self.spec.file_lines
        if not median:
            return self.rng.randint(low, high)
        n = round(self.rng.lognormvariate(math.log(median), _FILE_LINES_SIGMA))
        return max(1, min(n, self.spec.max_lines))

    def _span(self) -> int:
        """Lines one sized hunk inserts, deletes or replaces (``hunk_lines`` > 0)."""
        n = round(self.rng.lognormvariate(math.log(self.spec.hunk_lines), _HUNK_LINES_SIGMA))
        return max(1, min(n, self.spec.max_lines))

    def _text_payload(self, path: str, lines: list[str]) -> bytes:
        data = "".join(lines).encode()
        if path in self.no_eol and data.endswith(b"\n"):
            data = data[:-1]
        return data

    def _edit_lines(self, lines: list[str], hunks: int) -> None:
        """Change ``lines`` in place with ``hunks`` separate insert/delete/replace operations.

        Hunk sizes are small fixed ranges, or drawn by :meth:`_span` when ``hunk_lines`` is
        set; either way the random draws come in the same order, so a spec without
        ``hunk_lines`` writes the same bytes it always did.
        """
        rng = self.rng
        sized = bool(self.spec.hunk_lines)
        for _ in range(hunks):
            n = len(lines)
            roll = rng.random()
            if n > self.spec.max_lines:
                roll = 0.45 + 0.2 * roll  # shrink: delete or replace
            if roll < 0.4:  # insert, at the top and the end too
                pos = rng.randint(0, n)
                size = self._span() if sized else rng.randint(1, 4 if roll < 0.35 else 10)
                lines[pos:pos] = self._new_lines(size)
            elif roll < 0.6 and n > 2:  # delete, keeping at least two lines
                if sized:
                    k = min(self._span(), n - 2)
                else:
                    k = rng.randint(1, min(3, n - 2)) if n > 3 else 1
                pos = rng.randint(0, n - k)
                del lines[pos : pos + k]
            else:  # replace k lines by k' lines
                if sized:
                    k = min(self._span(), n)
                else:
                    k = rng.randint(1, min(3, n)) if n else 0
                pos = rng.randint(0, n - k)
                lines[pos : pos + k] = self._new_lines(self._span() if sized else rng.randint(1, 3))

    def _hunk_count(self) -> int:
        roll = self.rng.random()
        return 1 if roll < 0.7 else 2 if roll < 0.95 else 3

    def _edit_text(self, commit: _Commit, path: str, hunks: int | None = None) -> None:
        lines = self.text[path]
        self._edit_lines(lines, self._hunk_count() if hunks is None else hunks)
        commit.changes[path] = self._text_payload(path, lines)

    def _new_path(self, *, binary: bool = False) -> str:
        n = self.file_no
        self.file_no += 1
        directory = self.dirs[self.rng.randrange(len(self.dirs))]
        if binary:
            name = f"asset_{n}.{'png' if n % 2 else 'bin'}"
        elif self.spec.edge_paths and n % 41 == 7:
            name = f"read me {n}.txt"
        elif self.spec.edge_paths and n % 41 == 19:
            name = f"ünïcødé_{n}.txt"
        else:
            name = f"f{n}.{_EXTENSIONS[n % len(_EXTENSIONS)]}"
        return f"{directory}/{name}" if directory else name

    def _add_text(self, commit: _Commit) -> str:
        path = self._new_path()
        lines = self._new_lines(self._file_length(3, 20))
        self.text[path] = lines
        self.texts.add(path)
        if self.spec.edge_paths and self.file_no % 29 == 3:
            self.no_eol[path] = None
        for g, members in enumerate(self.groups):
            if len(members) < self.group_size[g]:
                members.append(path)
                self.group_of[path] = g
                break
        commit.changes[path] = self._text_payload(path, lines)
        commit.touched[path] = None
        return path

    def _forget_text(self, path: str) -> None:
        del self.text[path]
        self.texts.remove(path)
        self.no_eol.pop(path, None)
        g = self.group_of.pop(path, None)
        if g is not None:
            self.groups[g].remove(path)

    # -- operations on the mainline -------------------------------------------------------------

    def _delete(self, commit: _Commit, exclude: Mapping[str, object]) -> None:
        path = self.texts.choice(self.rng, {**exclude, **commit.touched})
        if path is None or len(self.texts) < 3:
            return
        self._forget_text(path)
        commit.changes[path] = None
        commit.touched[path] = None
        self.deletes += 1

    def _rename(self, commit: _Commit, exclude: Mapping[str, object]) -> None:
        rng = self.rng
        old = self.texts.choice(rng, {**exclude, **commit.touched})
        if old is None:
            return
        directory, _, base = old.rpartition("/")
        if rng.random() < 0.5:  # move to another directory, same name
            others = [d for d in self.dirs if d != directory]
            target = others[rng.randrange(len(others))] if others else ""
            new = f"{target}/{base}" if target else base
        else:  # rename in place; the fresh number keeps the name unique
            n = self.file_no
            self.file_no += 1
            stem, dot, ext = base.rpartition(".")
            fresh = f"{stem}_r{n}.{ext}" if dot else f"{base}_r{n}"
            new = f"{directory}/{fresh}" if directory else fresh
        lines = self.text.pop(old)
        self.texts.remove(old)
        self.text[new] = lines
        self.texts.add(new)
        if old in self.no_eol:
            del self.no_eol[old]
            self.no_eol[new] = None
        g = self.group_of.pop(old, None)
        if g is not None:
            members = self.groups[g]
            members[members.index(old)] = new
            self.group_of[new] = g
        commit.renames.append((old, new))
        commit.touched[old] = None
        commit.touched[new] = None
        if len(lines) >= 6 and rng.random() < 0.5:  # a small edit keeps similarity above 50%
            pos = rng.randrange(len(lines))
            lines[pos : pos + 1] = self._new_lines(1)
            commit.changes[new] = self._text_payload(new, lines)
        self.renames += 1

    def _binary(self, commit: _Commit) -> None:
        rng = self.rng
        n = len(self.binaries)
        roll = rng.random()
        if n == 0 or (n < max(2, self.spec.files // 50) and roll < 0.5):
            path = self._new_path(binary=True)
            self.binaries.add(path)
        elif roll < 0.85 or n < 2:
            path = self.binaries.items[rng.randrange(n)]
        else:
            path = self.binaries.items[rng.randrange(n)]
            self.binaries.remove(path)
            del self.binary[path]
            commit.changes[path] = None
            commit.touched[path] = None
            self.binary_changes += 1
            return
        # A NUL byte in the first 8000 bytes is what makes git call a blob binary.
        payload = b"\x89BIN\r\n\x1a\x00" + rng.randbytes(rng.randint(16, 160))
        self.binary[path] = payload
        commit.changes[path] = payload
        self.binary_changes += 1

    def _big(self, commit: _Commit, exclude: Mapping[str, object]) -> None:
        candidates = [p for p in self.texts.items if p not in exclude]
        count = min(self.spec.big_commit_files, len(candidates))
        for path in self.rng.sample(candidates, count):
            self._edit_text(commit, path, hunks=1)
        self.big_commits += 1

    def _edits(self, commit: _Commit, exclude: Mapping[str, object]) -> None:
        rng = self.rng
        groups = [g for g in self.groups if len(g) >= 2]
        if groups and rng.random() < 0.3:
            for path in groups[rng.randrange(len(groups))]:
                if path not in exclude:
                    self._edit_text(commit, path)
            if rng.random() < 0.5:
                return
        roll = rng.random()
        count = 1 if roll < 0.5 else 2 if roll < 0.75 else rng.randint(3, 5)
        for _ in range(count):
            picked = self.texts.choice(rng, exclude)
            if picked is not None:
                self._edit_text(commit, picked)

    def regular(self, exclude: Mapping[str, object]) -> None:
        """One mainline commit; it leaves the paths in ``exclude`` alone."""
        spec = self.spec
        self.regular_no += 1
        k = self.regular_no
        commit = _Commit()

        def due(period: int) -> bool:
            return period > 0 and k % period == 0

        message = f"change {k}"
        if self.commit_no == 0:
            message = "initial import"
            if spec.edge_identities:
                commit.changes[_MAILMAP] = _MAILMAP_TEXT
            if spec.edge_paths:
                commit.changes[_EMPTY_FILE] = b""
        if due(spec.empty_every) and self.commit_no > 0:
            self.empty_commits += 1
            message = f"empty commit {k}"
        else:
            if due(spec.rename_every):
                self._rename(commit, exclude)
            if due(spec.delete_every):
                self._delete(commit, exclude)
            desired = math.ceil(spec.files * min(1.0, self.commit_no / self.ramp))
            desired = max(desired, min(spec.files, 10))
            for _ in range(desired - len(self.texts) - len(self.binaries)):
                self._add_text(commit)
            if due(spec.binary_every):
                self._binary(commit)
            if due(spec.big_commit_every) and spec.big_commit_files:
                self._big(commit, exclude)
                message = f"sweeping change {k}"
            else:
                self._edits(commit, exclude)
        self.main_mark = self.write_commit(MAINLINE, commit, message)
        self.first_parent += 1

    def merge_cycle(self) -> None:
        """A side branch of 2-4 commits on a few reserved files, merged back into the mainline."""
        rng = self.rng
        self.merge_no += 1
        fork = self.main_mark
        reserved: dict[str, None] = {}
        for _ in range(rng.randint(1, 3)):
            path = self.texts.choice(rng, reserved)
            if path is not None:
                reserved[path] = None
        overlay: dict[str, list[str]] = {}  # the side branch's version of the files it changed
        side_mark = fork
        side_len = rng.randint(2, 4)
        for j in range(side_len):
            commit = _Commit()
            live = len(self.texts) + len(self.binaries)
            if j == 0 and live < self.spec.files and rng.random() < 0.5:  # born on the side
                n = self.file_no
                self.file_no += 1
                directory = self.dirs[rng.randrange(len(self.dirs))]
                path = f"{directory}/topic_{n}.txt" if directory else f"topic_{n}.txt"
                overlay[path] = self._new_lines(self._file_length(3, 12))
                reserved[path] = None
                commit.changes[path] = "".join(overlay[path]).encode()
            for path in rng.sample(list(reserved), min(len(reserved), rng.randint(1, 2))):
                lines = overlay.setdefault(path, list(self.text.get(path, ())))
                self._edit_lines(lines, self._hunk_count())
                commit.changes[path] = self._text_payload(path, lines)
            side_mark = self.write_commit(
                _SIDE,
                commit,
                f"topic-{self.merge_no}: part {j + 1}",
                from_mark=side_mark if j == 0 else 0,
            )
            if j < side_len - 1 and rng.random() < 0.5:
                self.regular(reserved)
        merge = _Commit()
        for path, lines in overlay.items():
            if path not in self.text:
                self.text[path] = lines
                self.texts.add(path)
            else:
                self.text[path][:] = lines
            merge.changes[path] = self._text_payload(path, lines)
        self.main_mark = self.write_commit(
            MAINLINE,
            merge,
            f"Merge branch 'topic-{self.merge_no}'",
            merge_marks=(side_mark,),  # the first parent is the branch's tip
        )
        self.first_parent += 1
        self.merges += 1

    def run(self) -> SynthStats:
        spec = self.spec
        self.emit(b"feature done\n")
        while self.commit_no < spec.commits:
            left = spec.commits - self.commit_no
            # a cycle takes at most 4 side commits, 3 mainline commits and the merge
            if self.next_merge and self.commit_no >= self.next_merge and left >= 8:
                self.merge_cycle()
                self.next_merge += spec.merge_every
            else:
                self.regular({})
        self.emit(b"done\n")
        self.flush()
        return SynthStats(
            commits=self.commit_no,
            first_parent_commits=self.first_parent,
            merges=self.merges,
            renames=self.renames,
            deletes=self.deletes,
            binary_changes=self.binary_changes,
            empty_commits=self.empty_commits,
            big_commits=self.big_commits,
            out_of_order_commits=self.out_of_order,
            live_files=len(self.texts)
            + len(self.binaries)
            + (1 if spec.edge_identities else 0)
            + (1 if spec.edge_paths else 0),
            stream_bytes=self.written,
        )


def write_fast_import(spec: SynthSpec, out: IO[bytes]) -> SynthStats:
    """Write the history ``spec`` describes to ``out`` as a ``git fast-import`` stream.

    The stream declares ``feature done`` and ends with ``done``; the mainline is
    :data:`MAINLINE`, and a scratch side branch ``refs/heads/synth-side`` is left behind when the
    spec has merges (:func:`build_repo` deletes it).
    """
    return _Generator(spec, out).run()


# -- importing ------------------------------------------------------------------------------------


@contextmanager
def hermetic_git_env() -> Iterator[dict[str, str]]:
    """An environment for the git CLI that reads no system, global or user configuration.

    Inherited ``GIT_*`` variables are dropped (a caller inside a git hook would otherwise leak
    ``GIT_DIR``); HOME and XDG_CONFIG_HOME point to a temporary directory removed on exit.
    """
    home = tempfile.mkdtemp(prefix="gitstream-synth-home-")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            HOME=home,
            XDG_CONFIG_HOME=os.path.join(home, ".config"),
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
        )
        yield env
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _git(env: Mapping[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def _manifest_path(repo: Path, bare: bool) -> Path:
    return repo / _MANIFEST if bare else repo / ".git" / _MANIFEST


def read_manifest(path: str | os.PathLike[str]) -> tuple[SynthSpec, SynthStats] | None:
    """The spec and stats :func:`build_repo` recorded in a repository, or None if absent/stale."""
    repo = Path(path)
    for candidate in (_manifest_path(repo, False), _manifest_path(repo, True)):
        try:
            raw = json.loads(candidate.read_text())
        except (OSError, ValueError):
            continue
        if raw.get("version") != GENERATOR_VERSION:
            return None
        return SynthSpec(**raw["spec"]), SynthStats(**raw["stats"])
    return None


def build_repo(
    path: str | os.PathLike[str],
    spec: SynthSpec,
    *,
    bare: bool = False,
    reuse: bool = False,
) -> Path:
    """Create a git repository at ``path`` holding the history ``spec`` describes.

    Runs ``git init`` and ``git fast-import`` with a hermetic environment, deletes the scratch
    side branch, points HEAD at :data:`MAINLINE` and, unless ``bare``, checks it out. The spec
    and the resulting :class:`SynthStats` are recorded in the git directory (see
    :func:`read_manifest`). With ``reuse``, an existing repository built from the same spec by
    the same generator version is returned as it is; otherwise ``path`` must not exist or be an
    empty directory.
    """
    repo = Path(path)
    if reuse and repo.exists():
        recorded = read_manifest(repo)
        if recorded is not None and recorded[0] == spec:
            return repo
    if repo.exists() and any(repo.iterdir()):
        raise FileExistsError(f"{repo} exists and is not empty")
    repo.mkdir(parents=True, exist_ok=True)
    with hermetic_git_env() as env:
        _git(env, repo, "init", "-q", "--initial-branch=main", *(["--bare"] if bare else []))
        # stderr goes to a file: a pipe nobody reads while we write could fill and deadlock.
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                ["git", "fast-import", "--quiet", "--done"],
                cwd=repo,
                env={**env, "GLIBC_TUNABLES": _MALLOC_TUNABLES},
                stdin=subprocess.PIPE,
                stderr=err,
            )
            assert proc.stdin is not None
            try:
                with proc.stdin:
                    stats = write_fast_import(spec, proc.stdin)
            except BrokenPipeError:
                pass  # fast-import stopped reading; its stderr says why
            if proc.wait() != 0:
                err.seek(0)
                message = err.read().decode(errors="replace")
                raise RuntimeError(f"git fast-import failed ({proc.returncode}): {message}")
        if spec.merge_every:
            _git(env, repo, "update-ref", "-d", _SIDE)
        if not bare:
            _git(env, repo, "reset", "-q", "--hard", "main")
    manifest = {
        "version": GENERATOR_VERSION,
        "spec": dataclasses.asdict(spec),
        "stats": dataclasses.asdict(stats),
    }
    _manifest_path(repo, bare).write_text(json.dumps(manifest, indent=2) + "\n")
    return repo


# -- command line ---------------------------------------------------------------------------------


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gitstream.synth``: build a synthetic repository and say what it holds."""
    parser = argparse.ArgumentParser(
        prog="python -m gitstream.synth",
        description="Build a deterministic synthetic git repository.",
    )
    parser.add_argument("path", help="where to create the repository ('-' writes the stream)")
    parser.add_argument(
        "--realistic", action="store_true", help="every feature on (SynthSpec.realistic)"
    )
    parser.add_argument(
        "--real-sized",
        action="store_true",
        help="realistic, with source-code-sized content (SynthSpec.real_sized)",
    )
    parser.add_argument("--bare", action="store_true", help="create a bare repository")
    parser.add_argument("--reuse", action="store_true", help="keep an identical existing repo")
    for f in dataclasses.fields(SynthSpec):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        else:
            parser.add_argument(flag, type=int, default=None, metavar="N")
    args = parser.parse_args(argv)
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(SynthSpec)
        if getattr(args, f.name) is not None
    }
    try:
        if args.realistic or args.real_sized:
            make = SynthSpec.real_sized if args.real_sized else SynthSpec.realistic
            base = make(given.get("commits", 200), given.get("files", 50))
            spec = dataclasses.replace(base, **given)
        else:
            spec = SynthSpec(**given)
    except ValueError as exc:
        parser.error(str(exc))
    started = time.perf_counter()
    if args.path == "-":
        stats = write_fast_import(spec, sys.stdout.buffer)
        print(f"wrote {stats.stream_bytes} bytes: {stats}", file=sys.stderr)
        return 0
    repo = build_repo(args.path, spec, bare=args.bare, reuse=args.reuse)
    elapsed = time.perf_counter() - started
    recorded = read_manifest(repo)
    assert recorded is not None
    stats = recorded[1]
    size = _dir_size(repo if args.bare else repo / ".git")
    print(
        f"built {repo} in {elapsed:.1f} s: {stats.commits} commits "
        f"({stats.first_parent_commits} first-parent, {stats.merges} merges), "
        f"{stats.live_files} files at HEAD, {stats.renames} renames, {stats.deletes} deletes, "
        f"{stats.binary_changes} binary changes, {stats.empty_commits} empty commits, "
        f"{stats.big_commits} big commits, {stats.out_of_order_commits} out-of-order commits; "
        f"stream {stats.stream_bytes / 2**20:.1f} MiB, git directory {size / 2**20:.1f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
