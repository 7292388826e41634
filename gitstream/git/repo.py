"""Opening repositories, capping libgit2's memory, and translating pygit2's errors.

Everything in gitstream that talks to libgit2 goes through this package (``gitstream.git``);
this module holds what the others share. It does not run the ``git`` executable (``diff.py``
does) and does not select commits (``walk.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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
# delta bases. The windows cost nothing (measured: same speed, 255 -> 74 MiB over git/git's
# last 3000 commits). The delta base cache does cost on delta-packed repositories (every
# clone): on a repacked 20k-commit history, git's default 96 MiB took 13.6 s and 190 MiB of
# peak RSS, 48 MiB 16.6 s / 141 MiB, 16 MiB 20.0 s / 97 MiB. So its size follows the budget
# (:func:`delta_cache_for`) and the estimate of git's memory counts it.
_MIB = 1024 * 1024
GIT_DEFAULT_DELTA_CACHE = 96 * _MIB
"""git's own default ``core.deltaBaseCacheLimit``."""
MIN_DELTA_CACHE = 16 * _MIB


def delta_cache_for(budget: int | None) -> int:
    """The delta base cache one git gets: a sixteenth of the budget, 16 MiB to git's 96 MiB."""
    if budget is None:
        return GIT_DEFAULT_DELTA_CACHE
    return max(MIN_DELTA_CACHE, min(GIT_DEFAULT_DELTA_CACHE, budget // 16 // _MIB * _MIB))


def git_memory_caps(delta_cache: int = GIT_DEFAULT_DELTA_CACHE) -> tuple[str, ...]:
    """``-c`` options bounding a git subprocess's caches (``delta_cache`` in bytes)."""
    return (
        "-c",
        f"core.deltaBaseCacheLimit={max(1, delta_cache // _MIB)}m",
        "-c",
        "core.packedGitLimit=64m",
        "-c",
        "core.packedGitWindowSize=16m",
    )


def git_subprocess_estimate(
    repo: pygit2.Repository, delta_cache: int = GIT_DEFAULT_DELTA_CACHE
) -> int:
    """Bytes one capped ``git diff-tree`` may hold: its base, mapped packs, delta cache.

    git maps at most ``core.packedGitLimit`` (64 MiB) of pack data, never more than the packs
    hold, and keeps up to ``delta_cache`` of delta bases; ~12 MiB is its own start-up and
    output buffers (measured: 21 MiB peak on a 19 MiB repository, 74 MiB on git/git with a
    16 MiB cache; 97 MiB on a 54 MiB pack with 16 MiB, 141 MiB with 48 MiB).
    """
    pack_bytes = 0
    pack_dir = Path(repo.path) / "objects" / "pack"
    try:
        pack_bytes = sum(p.stat().st_size for p in pack_dir.glob("*.pack"))
    except OSError:
        pack_bytes = 64 * _MIB
    return 12 * _MIB + min(64 * _MIB, pack_bytes) + delta_cache


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
