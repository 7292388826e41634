"""Commit selection: which commits are analysed, in which order, by whom, at which tick.

From a revision (``HEAD``, any revision, or a range ``A..B``), first-parent history by default
or every commit in topological order (``full_history``; a merge is later diffed against its
first parent), oldest first, filtered by committer time (``since``/``until``, applied to every
commit rather than stopping at the first older one, so an oldest-first walk is not cut short).

The result, a :class:`CommitList`, is compact (arrays, ~60 bytes a commit) because it lives for
the whole run. This module reads commits through pygit2 and does not diff them (``diff.py``).
"""

from __future__ import annotations

import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pygit2
from pygit2.enums import SortMode

from gitstream.errors import RepositoryError, UsageError
from gitstream.git.identity import Identity, decode_signature, load_mailmap, merge_identities
from gitstream.git.repo import git_errors
from gitstream.records import Person

_OID = 20  # bytes of a SHA-1 id; SHA-256 repositories are refused with a clear message


@dataclass(frozen=True)
class CommitMeta:
    """One selected commit, as the diff stage and the runner need it."""

    index: int
    hash: str
    first_parent: str | None
    parent_count: int
    author: int
    time: int
    tick: int


class CommitList:
    """The selected commits, oldest first, in parallel arrays."""

    def __init__(self) -> None:
        self._ids = bytearray()
        self._parents = bytearray()  # first parent's id, zeros for a root commit
        self._nparents = array.array("H")
        self._authors = array.array("i")
        self._times = array.array("q")
        self._ticks = array.array("q")

    def __len__(self) -> int:
        return len(self._times)

    def append(
        self, oid: bytes, parent: bytes | None, nparents: int, author: int, time: int
    ) -> None:
        self._ids += oid
        self._parents += parent if parent is not None else bytes(_OID)
        self._nparents.append(min(nparents, 0xFFFF))
        self._authors.append(author)
        self._times.append(time)

    def set_ticks(self, start_time: int, tick_seconds: int) -> None:
        """Ticks since ``start_time``, made non-decreasing along the sequence.

        Committer times are not monotonic on real histories (rebases, clock skew); a commit
        never lands in an earlier tick than the one before it, so burndown samples stay ordered.
        """
        ticks = array.array("q")
        last = 0
        for t in self._times:
            tick = max(last, (t - start_time) // tick_seconds)
            ticks.append(tick)
            last = tick
        self._ticks = ticks

    def meta(self, i: int) -> CommitMeta:
        oid = bytes(self._ids[i * _OID : (i + 1) * _OID])
        parent = bytes(self._parents[i * _OID : (i + 1) * _OID])
        return CommitMeta(
            index=i,
            hash=oid.hex(),
            first_parent=parent.hex() if self._nparents[i] else None,
            parent_count=self._nparents[i],
            author=self._authors[i],
            time=self._times[i],
            tick=self._ticks[i] if self._ticks else 0,
        )

    def range(self, start: int, end: int) -> Iterator[CommitMeta]:
        for i in range(start, min(end, len(self))):
            yield self.meta(i)

    def time(self, i: int) -> int:
        return self._times[i]

    def tick(self, i: int) -> int:
        return self._ticks[i]

    def nbytes(self) -> int:
        return (
            len(self._ids)
            + len(self._parents)
            + sum(a.itemsize * len(a) for a in (self._nparents, self._authors, self._times))
            + self._ticks.itemsize * len(self._ticks)
        )


@dataclass(frozen=True)
class History:
    """The selected commits, the people who wrote them, and the analysed tip."""

    commits: CommitList
    people: tuple[Person, ...]
    head: str | None
    start_time: int

    @property
    def last_tick(self) -> int:
        return self.commits.tick(len(self.commits) - 1) if len(self.commits) else 0


def parse_date(text: str, option: str) -> int:
    """Unix seconds of an ISO date or date-time (UTC when no offset is given)."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"{option} {text!r} is not an ISO date; "
            "use e.g. 2024-01-31 or 2024-01-31T12:00:00+02:00"
        ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def _resolve(repo: pygit2.Repository, rev: str) -> tuple[pygit2.Commit | None, list[pygit2.Oid]]:
    """The tip commit for ``rev`` and the commits to hide (for ``A..B``)."""
    if repo.is_empty or repo.head_is_unborn:
        if rev == "HEAD":
            return None, []
    hide: list[pygit2.Oid] = []
    what = f"unknown revision {rev!r}"
    if "..." in rev:
        # A symmetric difference has no single line of history to follow oldest first.
        raise UsageError(
            f"symmetric ranges like {rev!r} are not supported; use A..B (commits in B not in A)"
        )
    with git_errors(what):
        try:
            if ".." in rev:
                spec = repo.revparse(rev)
                if spec.from_object is None or spec.to_object is None:
                    raise RepositoryError(f"{what}: a range needs both ends (A..B)")
                tip = _commit_of(spec.to_object, rev)
                hide.append(_commit_of(spec.from_object, rev).id)
            else:
                tip = _commit_of(repo.revparse_single(rev), rev)
        except KeyError as exc:  # libgit2's message would only repeat the name
            raise RepositoryError(f"{what}: no branch, tag or commit has that name") from exc
    return tip, hide


def _commit_of(obj: pygit2.Object, rev: str) -> pygit2.Commit:
    """The commit ``obj`` (a commit, or a tag of one) stands for; a readable error for a tree or
    a blob (``HEAD:src``, a tag of a tree), where libgit2 would say it cannot be peeled."""
    try:
        commit = obj.peel(pygit2.Commit)
    except (pygit2.GitError, ValueError) as exc:
        raise RepositoryError(
            f"{rev!r} names a {obj.type_str}, not a commit: give a branch, a tag or a commit"
        ) from exc
    assert isinstance(commit, pygit2.Commit)
    return commit


def select_commits(
    repo: pygit2.Repository,
    rev: str = "HEAD",
    *,
    full_history: bool = False,
    since: str | None = None,
    until: str | None = None,
    exact_identities: bool = False,
    tick_seconds: int = 86_400,
) -> History:
    """Walk ``rev`` oldest first and return the selected commits with their people."""
    since_t = parse_date(since, "--since") if since else None
    until_t = parse_date(until, "--until") if until else None
    tip, hide = _resolve(repo, rev)
    commits = CommitList()
    if tip is None:
        return History(commits=commits, people=(), head=None, start_time=0)
    if len(tip.id.raw) != _OID:
        raise RepositoryError("SHA-256 repositories are not supported yet")
    mailmap = load_mailmap(repo, tip)

    ids: dict[Identity, int] = {}
    identities: list[Identity] = []
    counts: list[int] = []
    raw_authors: list[int] = []
    with git_errors(f"cannot walk {rev!r}"):
        walker = repo.walk(tip.id, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        if not full_history:
            walker.simplify_first_parent()
        for oid in hide:
            walker.hide(oid)
        for commit in walker:
            t = commit.commit_time
            if (since_t is not None and t < since_t) or (until_t is not None and t > until_t):
                continue
            name, email = decode_signature(commit.author, commit.message_encoding, commit.read_raw)
            ident = mailmap.resolve(name, email)
            k = ids.get(ident)
            if k is None:
                k = ids[ident] = len(identities)
                identities.append(ident)
                counts.append(0)
            counts[k] += 1
            raw_authors.append(k)
            parents = commit.parent_ids
            commits.append(commit.id.raw, parents[0].raw if parents else None, len(parents), k, t)
    person_of, people = merge_identities(identities, counts, exact=exact_identities)
    commits._authors = array.array("i", (person_of[k] for k in raw_authors))
    start = commits.time(0) if len(commits) else 0
    commits.set_ticks(start, tick_seconds)
    return History(commits=commits, people=people, head=str(tip.id), start_time=start)
