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

# The same caps for the git subprocess: 255 MiB peak over 3000 commits by default, 74 MiB
# with these, at the same speed.
GIT_MEMORY_CAPS = (
    "-c",
    "core.deltaBaseCacheLimit=16m",
    "-c",
    "core.packedGitLimit=64m",
    "-c",
    "core.packedGitWindowSize=16m",
)


_MIB = 1024 * 1024


def git_subprocess_estimate(repo: pygit2.Repository) -> int:
    """Bytes one capped ``git diff-tree`` may hold: its base, mapped packs, delta cache.

    git maps at most ``core.packedGitLimit`` (64 MiB) of pack data, never more than the packs
    hold, and keeps up to ``core.deltaBaseCacheLimit`` (16 MiB) of delta bases; ~12 MiB is its
    own start-up and output buffers (measured: 21 MiB peak on a 19 MiB repository, 74 MiB on
    git/git with these caps).
    """
    pack_bytes = 0
    pack_dir = Path(repo.path) / "objects" / "pack"
    try:
        pack_bytes = sum(p.stat().st_size for p in pack_dir.glob("*.pack"))
    except OSError:
        pack_bytes = 64 * _MIB
    return 12 * _MIB + min(64 * _MIB, pack_bytes) + 16 * _MIB


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
