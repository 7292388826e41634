"""The ``file_history`` analyzer: for every file alive at the end, how it got there.

Per file: the commits that changed it (oldest first), the time of the first and the last of
them, lines added and removed per person and in total, the number of authors, the main
developer (most lines added, as code-maat's ``main-dev``; on a tie the first by name; none
when no line was ever added), the age in whole days from the last change to the last analysed
commit (0 if the clock went backwards), and churn (added + removed). ``hotspots`` ranks the
files by revisions x churn, highest first, then by path.

Files are followed through renames (:class:`~gitstream.analyzers._runs.Lineages`): a renamed
file keeps its commits and counts under its final name, and a file created under the name of a
deleted one starts afresh, as hercules' ``--file-history`` does. Binary changes count a commit
but no lines. Merge commits count like any commit with whatever changes the diff stage gives.

The commit lists and per-person counts are spilled as sorted runs once they pass the
analyzer's share of the aggregator budget; ``files`` is produced as a stream from them. This
module does not read git nor render anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import groupby
from typing import Any, ClassVar

import numpy as np

from gitstream.analyzers._lineage import LineageAnalyzer
from gitstream.analyzers._runs import (
    MASK32,
    Entry,
    KeyMap,
    Stamps,
    Tallies,
    _Runs,
    fan_in_for,
    split_keys,
)
from gitstream.analyzers.base import AnalysisContext, LazyMapping, LazySequence
from gitstream.analyzers.couples import person_ranks
from gitstream.records import CommitRecord

# Int columns kept per lineage.
_REVISIONS, _ADDED, _REMOVED, _FIRST, _LAST = range(5)
_COLUMNS = 5
_DAY = 86_400


def _hash_bytes(commit_hash: str) -> bytes:
    try:
        return bytes.fromhex(commit_hash)
    except ValueError:
        raise ValueError(f"commit id {commit_hash!r} is not hexadecimal") from None


class FileHistoryAnalyzer(LineageAnalyzer):
    """Per-file commit lists, line counts per person and hotspots; see the module docstring."""

    name: ClassVar[str] = "file_history"
    columns: ClassVar[int] = _COLUMNS
    description: ClassVar[str] = "per-file commits, authors, churn, age and hotspots"
    # Measured on synthetic record streams (20k and 60k commits, 4-8 changes each, a new file
    # every 4 commits): the lineage table (five ints per file) grew 39-42 bytes a commit.
    work_bytes_per_commit: ClassVar[int] = 96
    payload_bytes_per_commit: ClassVar[int] = 2048

    def __init__(self, context: AnalysisContext) -> None:
        super().__init__(context)
        self._last_time = 0
        self._stats = Tallies(self._store, "stats", 3)  # lineage << 32 | person -> +, -, commits
        self._commits: Stamps | None = None  # lineage << 32 | commit index -> commit id

    def consume(self, commit: CommitRecord) -> None:
        """Record the commit against every file it changed."""
        table = self._table()
        self._last_time = commit.time
        if not commit.files:
            return
        lines: dict[int, list[int]] = {}
        for change, lineage in zip(commit.files, table.apply(commit.files), strict=True):
            counts = lines.setdefault(lineage, [0, 0])
            if not change.binary:
                counts[0] += change.added
                counts[1] += change.removed
        raw = _hash_bytes(commit.hash)
        if self._commits is None:
            self._commits = Stamps(self._store, "commits", blob=len(raw))
        commits = self._commits
        person = commit.author & MASK32
        self._people.add(person)
        revisions, added, removed, first, last = table.columns
        stats = self._stats.add
        time = commit.time
        for lineage, (plus, minus) in lines.items():
            if revisions[lineage] == 0:
                first[lineage] = time
            revisions[lineage] += 1
            added[lineage] += plus
            removed[lineage] += minus
            last[lineage] = time
            stats(lineage << 32 | person, (plus, minus, 1))
        commits.add_many([lineage << 32 | commit.index for lineage in lines], raw)
        self._check_budget()

    def _accumulators(self) -> list[Stamps | Tallies]:
        return [self._stats] if self._commits is None else [self._stats, self._commits]

    def _extra_state(self) -> dict[str, Any]:
        return {"last_time": self._last_time}

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        self._last_time = state["last_time"]

    def _build(self) -> Mapping[str, Any]:
        table = self._table()
        budget = self._budget
        fan_in = fan_in_for(budget)
        names, rank = table.ranks("alive")
        displays, person_rank = person_ranks(self.context, self._people)
        lineage_of = [0] * len(names)
        for lineage, r in enumerate(rank):
            if r >= 0:
                lineage_of[r] = lineage

        ranks = np.frombuffer(rank, dtype=np.int64)

        def file_keys(keys: np.ndarray) -> np.ndarray:
            hi, lo = split_keys(keys)
            r = ranks[hi]
            return np.where(r < 0, -1, r << 32 | lo)

        def stats_keys(keys: np.ndarray) -> np.ndarray:
            hi, lo = split_keys(keys)
            r = ranks[hi]
            return np.where(r < 0, -1, r << 32 | person_rank(lo))

        plans: list[tuple[_Runs, str, KeyMap]] = [(self._stats, "stats-by-name", stats_keys)]
        if self._commits is not None:
            plans.append((self._commits, "commits-by-name", file_keys))
        stats, *rest = self._rekey_all(plans, fan_in)
        commits = rest[0] if rest else None
        columns = table.columns
        last_time = self._last_time

        def files() -> Iterator[tuple[str, dict[str, Any]]]:
            if commits is None:
                return
            by_file = groupby(commits.items(fan_in), key=_file_of)
            people_by_file = groupby(stats.items(fan_in), key=_file_of)
            for (r, ids), (r2, people) in zip(by_file, people_by_file, strict=True):
                if r != r2:
                    raise AssertionError(f"file {r} has commits but file {r2} has people")
                lineage = lineage_of[r]
                yield (
                    names[r],
                    _history(
                        [raw.hex() for _, _, raw in ids],
                        {displays[key & MASK32]: v for key, v, _ in people},
                        [column[lineage] for column in columns],
                        last_time,
                    ),
                )

        def hotspots() -> Iterator[dict[str, Any]]:
            rows = []
            for r, name in enumerate(names):
                lineage = lineage_of[r]
                revisions = columns[_REVISIONS][lineage]
                churn = columns[_ADDED][lineage] + columns[_REMOVED][lineage]
                rows.append((-revisions * churn, name, revisions, churn))
            rows.sort()
            for score, name, revisions, churn in rows:
                yield {"path": name, "revisions": revisions, "churn": churn, "score": -score}

        return {"files": LazyMapping(files), "hotspots": LazySequence(hotspots)}


def _file_of(entry: Entry) -> int:
    return entry[0] >> 32


def _history(
    commits: list[str],
    people: dict[str, tuple[int, ...]],
    column: list[int],
    last_time: int,
) -> dict[str, Any]:
    """One file's JSON object from its commit ids, per-person counts and lineage columns."""
    _, added, removed, first, last = column
    main_dev = None
    if added:
        best = max(v[0] for v in people.values())
        main_dev = min(name for name, v in people.items() if v[0] == best)
    return {
        "commits": commits,
        "added": added,
        "removed": removed,
        "people": {
            name: {"added": a, "removed": d, "commits": n} for name, (a, d, n) in people.items()
        },
        "first_time": first,
        "last_time": last,
        "authors": len(people),
        "main_dev": main_dev,
        "age_days": max(0, last_time - last) // _DAY,
        "churn": added + removed,
    }
