"""Opening repositories, capping libgit2's memory, and translating pygit2's errors.

Everything in gitstream that talks to libgit2 goes through this package (``gitstream.git``);
this module holds what the others share. It does not run the ``git`` executable (``diff.py``
does) and does not select commits (``walk.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pygit2

from gitstream.errors import RepositoryError

# libgit2's object cache and mapped pack windows grow with a long walk (measured: 3.5x from 2k
# commits to 24k, to ~470 MiB) and cache_max_size alone does not stop it. Caching off plus
# 16 MiB windows under a 64 MiB mapped limit kept whole walks flat at 70-100 MiB.
# Smaller still for our use (a commit walk, small blobs): 4 MiB windows under a 16 MiB limit
# walk 36k commits as fast and peak at +32 MiB instead of +59 MiB (measured).
_MWINDOW_SIZE = 4 * 1024 * 1024
_MWINDOW_MAPPED_LIMIT = 16 * 1024 * 1024

# The same caps for the git subprocess: its mapped pack windows and its cache of inflated
# delta bases. Both cost time when small and memory when large, so both follow the budget.
# The delta base cache costs on delta-packed repositories (every clone): on a repacked
# 20k-commit history, git's default 96 MiB took 13.6 s and 190 MiB of peak RSS, 48 MiB
# 16.6 s / 141 MiB, 16 MiB 20.0 s / 97 MiB. The mapped windows cost nothing while the packs fit
# under the limit (255 -> 74 MiB at the same speed over git/git's last 3000 commits), but a
# pack larger than the limit makes git unmap and map windows again all the time: on the 60k
# benchmark history's 100 MiB pack, 6000 commits took 5.37 s (1.12 s of it in the kernel)
# under a 64 MiB limit, 4.09 s (0.35 s) under 256 MiB.
_MIB = 1024 * 1024
GIT_DEFAULT_DELTA_CACHE = 96 * _MIB
"""git's own default ``core.deltaBaseCacheLimit``."""
MIN_DELTA_CACHE = 16 * _MIB
MAX_DELTA_CACHE = 1024 * _MIB
"""The most a git's delta base cache gets from a budget with room to spare. Past git's default
it still pays on delta-packed histories: one git over the 20k benchmark history (-U1, 16,877
diffs) took 8.6 s with 96 MiB, 6.8 s with 256 MiB, 6.2 s with 512 MiB, 6.3 s with 1 GiB; over
the 60k history 33.1 s, 24.9 s, 21.5 s, 20.2 s (peak RSS 0.3, 0.5, 0.7, 1.2 GB)."""
PACK_INFLATION = 16
"""Delta cache worth giving per byte of pack: see :attr:`GitCaps.useful_delta_cache`."""
MIN_PACK_LIMIT = 64 * _MIB
MAX_PACK_LIMIT = 1024 * _MIB
_PACK_WINDOW = 16 * _MIB
_GIT_BASE = 12 * _MIB
"""A git diff-tree's own start-up, libraries and output buffers."""
MIN_BIG_FILE = 1 * _MIB
MAX_BIG_FILE = 16 * _MIB
DIFF_MEMORY_FACTOR = 10
"""git's RSS while it diffs two versions of a text file, per byte of the file: both versions,
plus ~120 B of xdiff records per line on each side. Measured 9.5x on a 6 MiB file of 31-byte
lines, 3.3x on a 10 MiB file of 201-byte lines (a 23 MB file of 33-byte lines: ~216 MiB)."""
GIT_GROWTH_PER_COMMIT = 4096
"""What a git diff-tree keeps per commit it has diffed (the trees it parsed): ~2 KB measured on
the 36k and 60k benchmark histories, counted twice over."""


def delta_cache_for(budget: int | None) -> int:
    """The delta base cache one git starts from: a sixteenth of the budget, 16 MiB to git's
    96 MiB; without a budget, :data:`MAX_DELTA_CACHE`. A budget with room to spare gives git
    more (``gitstream.pipeline``)."""
    if budget is None:
        return MAX_DELTA_CACHE
    return max(MIN_DELTA_CACHE, min(GIT_DEFAULT_DELTA_CACHE, budget // 16 // _MIB * _MIB))


def big_file_for(budget: int | None) -> int | None:
    """The largest file one git diffs line by line under ``budget``: a 256th of it, 1 to
    16 MiB; None (git's own 512 MiB) without a budget. Larger files count as binary, as git
    counts files past ``core.bigFileThreshold``: diffing a 23 MB file took git ~216 MiB."""
    if budget is None:
        return None
    return max(MIN_BIG_FILE, min(MAX_BIG_FILE, budget // 256 // _MIB * _MIB))


def pack_limit_for(budget: int | None) -> int:
    """The pack data one git may map: an eighth of the budget, between 64 MiB and 1 GiB."""
    if budget is None:
        return MAX_PACK_LIMIT
    return max(MIN_PACK_LIMIT, min(MAX_PACK_LIMIT, budget // 8 // _MIB * _MIB))


@dataclass(frozen=True)
class GitCaps:
    """What one ``git diff-tree`` may hold, its ``-c`` options and the estimate of its RSS."""

    delta_cache: int = GIT_DEFAULT_DELTA_CACHE
    pack_limit: int = MIN_PACK_LIMIT
    pack_bytes: int = MIN_PACK_LIMIT
    """The repository's ``.pack`` files, in bytes."""
    index_bytes: int = 0
    """Their ``.idx`` files: git maps each whole, outside ``core.packedGitLimit``."""
    big_file: int | None = None
    """``core.bigFileThreshold``: larger files are not diffed but counted as binary (None: git's
    default, 512 MiB, and nothing counted for it in the estimate)."""

    @property
    def useful_delta_cache(self) -> int:
        """The most cache this repository's packs can use, as far as we know: 16 times their
        size (a delta-packed history inflates to much more than its pack, 22x on the 20k
        benchmark history, but git's gains stop well before: at 96 MiB for the 2k history's
        6 MiB pack, past 512 MiB for the 20k history's 47 MiB)."""
        return max(MIN_DELTA_CACHE, PACK_INFLATION * self.pack_bytes)

    def with_delta_cache(self, size: int) -> GitCaps:
        """These caps with a delta base cache of ``size`` bytes (whole MiB, at most 1 GiB)."""
        size = max(MIN_DELTA_CACHE, min(MAX_DELTA_CACHE, size // _MIB * _MIB))
        return replace(self, delta_cache=size)

    @property
    def whole_packs(self) -> bool:
        """Every pack fits under the limit: each is mapped once, in one window."""
        return self.pack_bytes <= self.pack_limit

    def args(self) -> tuple[str, ...]:
        """``-c`` options bounding the git subprocess's caches."""
        # Packs that fit are mapped whole (one window each: windows of 16 MiB overlap by
        # half and count twice in RSS); packs that do not are read through small windows.
        window = self.pack_limit if self.whole_packs else _PACK_WINDOW
        big = () if self.big_file is None else ("-c", f"core.bigFileThreshold={self.big_file}")
        return (
            "-c",
            f"core.deltaBaseCacheLimit={max(1, self.delta_cache // _MIB)}m",
            "-c",
            f"core.packedGitLimit={self.pack_limit // _MIB}m",
            "-c",
            f"core.packedGitWindowSize={window // _MIB}m",
            *big,
        )

    def estimate(self, commits: int) -> int:
        """Bytes of RSS one capped git may reach over ``commits``: base, indexes, mapped packs,
        delta cache, the trees it keeps, and the diff of the largest file it diffs.

        Measured on a 19 MiB repository 21 MiB; 74 MiB on git/git with a 16 MiB cache; on the
        60k benchmark history (100 MiB pack, 16 MiB index, 96 MiB cache) 155 MiB under a
        64 MiB limit, 265 MiB under 256 MiB with 16 MiB windows; a few MiB per
        thousand commits more over long segments; 75 MiB over the 36k history's last 3000
        commits (70 MiB pack) under the caps of a 256 MiB budget, 125 MiB over all 30k.
        """
        # git unmaps windows before it maps one past the limit (overlapping windows count
        # twice there as in RSS), so what is mapped stays under it.
        mapped = min(self.pack_limit, self.pack_bytes)
        growth = GIT_GROWTH_PER_COMMIT * commits
        diff = DIFF_MEMORY_FACTOR * (self.big_file or 0)
        return _GIT_BASE + self.index_bytes + mapped + self.delta_cache + growth + diff


def git_caps(repo: pygit2.Repository, budget: int | None) -> GitCaps:
    """The caps a git diffing ``repo`` gets under ``budget`` (None: unlimited)."""
    pack_bytes = index_bytes = 0
    pack_dir = Path(repo.path) / "objects" / "pack"
    try:
        for p in pack_dir.iterdir():
            if p.suffix == ".pack":
                pack_bytes += p.stat().st_size
            elif p.suffix == ".idx":
                index_bytes += p.stat().st_size
    except OSError:
        pass  # no packs (a young repository): loose objects are read, not mapped
    return GitCaps(
        delta_cache_for(budget),
        pack_limit_for(budget),
        pack_bytes,
        index_bytes,
        big_file_for(budget),
    )


DIFF_ALGORITHMS = frozenset({"default", "myers", "minimal", "patience", "histogram"})


def diff_algorithm(repo: pygit2.Repository) -> str | None:
    """The repository's ``diff.algorithm`` (local, global or system config), if it names one
    git knows; None for git's default."""
    try:
        value = repo.config["diff.algorithm"]
    except (KeyError, ValueError):
        return None
    value = str(value).strip().lower()
    return value if value in DIFF_ALGORITHMS else None


def cap_libgit2_memory() -> None:
    """Turn libgit2's object cache off and bound its mapped pack windows (process-wide)."""
    pygit2.settings.enable_caching(False)
    pygit2.settings.mwindow_size = _MWINDOW_SIZE
    pygit2.settings.mwindow_mapped_limit = _MWINDOW_MAPPED_LIMIT


@contextlib.contextmanager
def git_errors(what: str) -> Iterator[None]:
    """Turn pygit2's GitError/KeyError/ValueError raised while doing ``what`` into one line."""
    try:
        yield
    except (pygit2.GitError, KeyError, ValueError) as exc:
        detail = str(exc).strip() or type(exc).__name__
        raise RepositoryError(f"{what}: {detail}") from exc


def open_repository(path: str | os.PathLike[str]) -> pygit2.Repository:
    """The repository at ``path`` (a work tree, a bare repository, or a folder inside one)."""
    p = Path(path)
    if not p.exists():
        raise RepositoryError(f"{path}: no such file or directory")
    found = pygit2.discover_repository(str(p))
    if found is None:
        raise RepositoryError(f"{path}: not a git repository (nor inside one)")
    with git_errors(f"cannot open the repository at {path}"):
        return pygit2.Repository(found)


def git_dir(repo: pygit2.Repository) -> str:
    """The repository's git directory, for ``git --git-dir``."""
    return str(Path(repo.path).resolve())
