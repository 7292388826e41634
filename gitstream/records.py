"""The plain records that flow from the diff stage to the analyzers.

Analyzers never see pygit2 objects: they get :class:`CommitRecord` values made of ints, strings
and tuples, so records can cross processes and be tested without a repository. Hunks are plain
4-tuples ``(old_start, old_lines, new_start, new_lines)`` in git's zero-context convention: when
``old_lines`` is 0, ``old_start`` is the line *after which* lines are inserted (0 = at the top),
and likewise for ``new_start`` when ``new_lines`` is 0.

The people table (who a commit's author is) is resolved once, before any chunk, by
``gitstream.git.identity``; a record carries the person's index into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

Hunk = tuple[int, int, int, int]


class Status(StrEnum):
    """What happened to a file in a commit, as git's raw diff letters."""

    ADDED = "A"
    MODIFIED = "M"
    DELETED = "D"
    RENAMED = "R"
    TYPE_CHANGED = "T"


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's change in one commit, against the commit's first parent.

    ``old_path`` is ``None`` for an added file, ``new_path`` is ``None`` for a deleted one.
    ``added``/``removed`` are text lines as ``git log --numstat`` counts them (0 for binary files).
    """

    old_path: str | None
    new_path: str | None
    status: Status
    binary: bool
    added: int
    removed: int
    hunks: tuple[Hunk, ...]

    @property
    def path(self) -> str:
        """The file's name after the commit (before it, for a deletion)."""
        return self.new_path if self.new_path is not None else self.old_path  # type: ignore[return-value]

    @classmethod
    def for_test(
        cls,
        path: str,
        *,
        status: Status = Status.MODIFIED,
        old_path: str | None = None,
        hunks: Sequence[Hunk] = (),
        binary: bool = False,
    ) -> FileChange:
        """A change whose line counts follow from its hunks; for unit tests."""
        if status is Status.ADDED:
            old, new = None, path
        elif status is Status.DELETED:
            old, new = path, None
        else:
            old, new = (old_path if old_path is not None else path), path
        hunks = tuple(hunks)
        return cls(
            old_path=old,
            new_path=new,
            status=status,
            binary=binary,
            added=0 if binary else sum(h[3] for h in hunks),
            removed=0 if binary else sum(h[1] for h in hunks),
            hunks=() if binary else hunks,
        )


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """One commit as the analyzers see it.

    ``index`` is the commit's position in the analysed sequence (oldest first); ``tick`` is
    whole tick-size periods since the first analysed commit, never decreasing along the
    sequence; ``first_parent`` is the parent diffed against and ``parent_count`` tells merges
    apart; ``author`` indexes the people table; ``time`` is the committer time (unix s).
    """

    index: int
    hash: str
    first_parent: str | None
    parent_count: int
    author: int
    time: int
    tick: int
    files: tuple[FileChange, ...]

    @property
    def is_merge(self) -> bool:
        return self.parent_count > 1

    @property
    def parents(self) -> tuple[str, ...]:
        """The first parent only (the one diffed against), empty for a root commit."""
        return (self.first_parent,) if self.first_parent else ()

    @classmethod
    def for_test(
        cls,
        index: int,
        files: Sequence[FileChange] = (),
        *,
        author: int = 0,
        tick: int | None = None,
        time: int | None = None,
        hash: str | None = None,
        parents: Sequence[str] = (),
    ) -> CommitRecord:
        """A commit with made-up id and times derived from ``index``; for unit tests."""
        tick = index if tick is None else tick
        return cls(
            index=index,
            hash=hash if hash is not None else f"{index:040x}",
            first_parent=parents[0] if parents else None,
            parent_count=len(parents),
            author=author,
            time=time if time is not None else 1_600_000_000 + tick * 86_400,
            tick=tick,
            files=tuple(files),
        )


@dataclass(frozen=True, slots=True)
class Person:
    """One developer after identity merging: a primary identity plus every alias seen."""

    name: str
    email: str
    names: tuple[str, ...]
    emails: tuple[str, ...]

    @property
    def display(self) -> str:
        """``Name <email>`` of the primary identity, as reports name people."""
        return f"{self.name} <{self.email}>"
