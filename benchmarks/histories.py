"""The histories benchmarked: generated ones (cached by spec) and real repositories.

A size such as ``20k`` is the number of commits :mod:`gitstream.synth` writes (side-branch
commits and merges included, as ``SynthSpec.commits`` counts them); gitstream analyses the
first-parent history, about 85% of that with the realistic spec. ``20k:8000`` also names the
target number of live files. Generated repositories live under the cache directory and are
reused when the manifest synth wrote in them records the same spec and generator version.

The content is real-sized by default (``SynthSpec.real_sized``: files of a median 200 lines
with a long tail, hunks of a few lines with rare rewrites, code-like lines), so git's diff costs
about what it costs on a real project. ``content="small"`` (``--content small`` in
``benchmarks.run``) asks for the older ``SynthSpec.realistic`` histories with files of tens of
lines instead; their labels end in ``-small`` and their cache directories keep their old names,
real-sized ones end in ``-real`` (``synth-20000c-6000f-s0-real``).

For each history this module also writes the stdin every diff measurement is fed: one line per
first-parent commit, ``<commit> <first parent>`` (or the commit alone for a root), made by
gitstream's own :func:`~gitstream.git.diff.stdin_line` from its own commit selection, so git,
pygit2 and gitstream diff exactly the same pairs.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitstream.git.diff import stdin_line
from gitstream.git.walk import select_commits
from gitstream.synth import SynthSpec, build_repo, hermetic_git_env, read_manifest

SMALL_FILES = 1000
LARGE_FILES = 6000
"""Files for histories of 10k commits and more: above the memory check's 5k at every size,
and the same at 20k and 60k so that their time ratio measures commits, not tree width."""

CONTENTS = ("real", "small")
"""``real``: ``SynthSpec.real_sized`` (the default); ``small``: ``SynthSpec.realistic``."""

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([km]?)(?::(\d+))?(?:@(\d+)h)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Size:
    """A generated history to benchmark."""

    label: str
    commits: int
    files: int
    content: str = "real"
    """``real`` (source-code-sized files and edits) or ``small`` (files of tens of lines)."""
    hours_per_commit: int = 1
    """The history's cadence (``2k@3h``): what git-of-theseus's cost follows, one ``git blame``
    per file per week of history."""

    def __post_init__(self) -> None:
        if self.content not in CONTENTS:
            raise ValueError(f"bad content {self.content!r}: use one of {', '.join(CONTENTS)}")

    def spec(self) -> SynthSpec:
        if self.content == "small":
            spec = SynthSpec.realistic(self.commits, self.files, seed=0)
        else:
            spec = SynthSpec.real_sized(self.commits, self.files, seed=0)
        if self.hours_per_commit != 1:
            spec = dataclasses.replace(spec, seconds_per_commit=3600 * self.hours_per_commit)
        return spec

    def cache_name(self) -> str:
        """The repository's directory under the cache; the small histories keep their old name."""
        name = f"synth-{self.commits}c-{self.files}f-s{self.spec().seed}"
        if self.content != "small":
            name = f"{name}-{self.content}"
        return name if self.hours_per_commit == 1 else f"{name}-{self.hours_per_commit}h"


def parse_size(text: str, content: str = "real") -> Size:
    """``2k``, ``60000``, ``20k:8000``, ``2k@3h`` (commits[:files][@hours per commit]), with
    ``content`` real or small; the label leaves the cadence out."""
    m = _SIZE.match(text.strip())
    if not m:
        raise ValueError(f"bad size {text!r}: use e.g. 2k, 60000 or 20k:8000 (commits[:files])")
    number, unit, files, hours = m.groups()
    commits = int(float(number) * {"": 1, "k": 1000, "m": 1_000_000}[unit.lower()])
    if commits < 1:
        raise ValueError(f"bad size {text!r}: at least one commit")
    n_files = int(files) if files else (SMALL_FILES if commits < 10_000 else LARGE_FILES)
    label = text.strip().split("@")[0].split(":")[0].lower()
    label = label if not files else f"{label}:{n_files}"
    if content != "real":
        label = f"{label}-{content}"
    if hours is not None and int(hours) < 1:
        raise ValueError(f"bad size {text!r}: at least one hour per commit")
    return Size(
        label=label,
        commits=commits,
        files=n_files,
        content=content,
        hours_per_commit=int(hours) if hours else 1,
    )


def parse_sizes(text: str, content: str = "real") -> list[Size]:
    return [parse_size(part, content) for part in text.split(",") if part.strip()]


@dataclass
class History:
    """One repository ready to be measured."""

    label: str
    path: Path
    git_dir: Path
    pairs: Path
    first_parent_commits: int
    branch: str
    generated: bool
    spec: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    live_files: int | None = None
    build_s: float | None = None
    reused: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("path", "git_dir", "pairs"):
            d[k] = str(d[k])
        return d


def ensure_generated(size: Size, cache: Path) -> tuple[Path, float, bool]:
    """The repository for ``size`` under ``cache``: reused if its manifest matches, else built.

    Real-sized histories are then repacked as a clone's pack is (:func:`repack_like_a_clone`).
    """
    path, build_s, reused = cached_repo(cache, size.cache_name(), size.spec())
    if size.content == "real":
        build_s += repack_like_a_clone(path)
    return path, build_s, reused


PACKED_MARKER = "gitstream-bench-packed"
"""A file in the git directory that says the repository has been repacked for the benchmarks."""


def repack_like_a_clone(path: Path) -> float:
    """Repack ``path`` with fresh deltas (``git repack -adf``), once; returns the seconds taken.

    ``git fast-import`` deltas a blob only against the blob written just before it, which in a
    generated history is another file: nearly every blob is stored whole, and git's diff floor
    then spends most of its time inflating them (2.1 ms a commit on the real-sized 20k history,
    0.8 ms after a repack). A clone of a real repository comes with a pack made by
    ``pack-objects``, deltas searched across versions of the same file; this gives the
    benchmarks the same layout.
    """
    repo = pygit2.Repository(str(path))
    marker = Path(repo.path) / PACKED_MARKER
    if marker.exists():
        return 0.0
    started = time.perf_counter()
    with hermetic_git_env() as env:
        subprocess.run(
            ["git", "-C", str(path), "repack", "-a", "-d", "-f", "-q"], check=True, env=env
        )
    marker.write_text("git repack -a -d -f\n")
    return round(time.perf_counter() - started, 2)


def cached_repo(
    cache: Path, name: str, spec: SynthSpec, *, bare: bool = False
) -> tuple[Path, float, bool]:
    """(path, build seconds, reused) of ``cache/name`` holding ``spec``'s history.

    Reused when its manifest records the same spec (and generator version); rebuilt otherwise.
    """
    path = cache / name
    recorded = read_manifest(path) if path.exists() else None
    if recorded is not None and recorded[0] == spec:
        return path, 0.0, True
    if path.exists():
        shutil.rmtree(path)  # another spec or generator version: stale
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    build_repo(path, spec, bare=bare)
    return path, round(time.perf_counter() - started, 2), False


def _branch(path: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(path), "symbolic-ref", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "HEAD"


def prepare(label: str, path: Path, pairs_dir: Path, *, generated: bool) -> History:
    """Select the first-parent commits of ``path`` and write the diff stdin for them."""
    repo = pygit2.Repository(str(path))
    git_dir = Path(repo.path).resolve()
    history = select_commits(repo)
    commits = history.commits
    pairs = pairs_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', label)}.pairs"
    with open(pairs, "wb") as fh:
        for meta in commits.range(0, len(commits)):
            fh.write(stdin_line(meta))
    h = History(
        label=label,
        path=path.resolve(),
        git_dir=git_dir,
        pairs=pairs,
        first_parent_commits=len(commits),
        branch=_branch(path),
        generated=generated,
    )
    if generated:
        recorded = read_manifest(path)
        if recorded is not None:
            h.spec = dataclasses.asdict(recorded[0])
            h.stats = dataclasses.asdict(recorded[1])
            h.live_files = recorded[1].live_files
    else:
        listing = subprocess.run(
            ["git", "-C", str(path), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
            capture_output=True,
            check=False,
        )
        h.live_files = listing.stdout.count(b"\0")
    return h
