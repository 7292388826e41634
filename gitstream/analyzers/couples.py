"""The ``couples`` analyzer: files changed together, revisions per file, people x files.

For every pair of files changed in the same commit it counts the commits (``pairs``), for
every file the commits that changed it (``revisions``) and for every person how often they
changed each file (``people_files``), as hercules' ``--couples`` does, plus two measures as
code-maat defines them: the coupling degree of a pair (shared commits over the average
revisions of the two files, in percent, truncated) and each file's sum of coupling (every
commit with *k* files gives each of them *k* - 1).

Conventions:

* A change of any kind counts: additions, modifications, renames, deletions. Commits touching
  more than ``couples_max_files`` files still count a revision and a person's change but are
  left out of the pairs and the sum of coupling; ``skipped_commits`` says how many there were.
* Files are followed through renames (see :class:`~gitstream.analyzers._runs.Lineages`):
  everything recorded for a file is reported under its final name; a file created under the
  name of a file deleted or renamed away is another file. Every path of the history is
  reported, deleted ones included.
  Two files that end under the same name (a path deleted and created again) are reported
  together: their counts are added and a pair of them with each other is left out.
* ``alive_only`` keeps only the names alive after the last commit; ``min_shared`` and
  ``min_degree`` filter ``pairs`` only.

The pair and people counts are spilled as sorted runs when they pass the analyzer's share of
the aggregator budget, and the result is produced as a stream from those runs. This module
does not read git nor render anything.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from gitstream.analyzers._lineage import LineageAnalyzer
from gitstream.analyzers._runs import (
    MASK32,
    Counts,
    _Runs,
    fan_in_for,
    split_keys,
)
from gitstream.analyzers.base import AnalysisContext, LazyMapping, LazySequence, encode_json
from gitstream.records import CommitRecord

_REVISIONS, _SOC = 0, 1  # the two int columns kept per lineage
_ROW_WISE = 64  # commits with more files count their pairs a row at a time


def person_display(context: AnalysisContext, person: int) -> str:
    """How reports name ``person``: the people table's display, else ``#<index>``."""
    if 0 <= person < len(context.people):
        return context.people[person].display
    # Keys hold the index as 32 unsigned bits: a negative index reads as itself again.
    return f"#{person - (1 << 32) if person > MASK32 >> 1 else person}"


def person_ranks(
    context: AnalysisContext, people: set[int]
) -> tuple[list[str], Callable[[np.ndarray], np.ndarray]]:
    """Sorted distinct displays of ``people``, and a function from an array of people (each
    one of ``people``, as the 32 bits keys hold) to their indices into the displays."""
    displays = sorted({person_display(context, p) for p in people})
    position = {name: i for i, name in enumerate(displays)}
    ids = np.array(sorted(people), dtype=np.int64)
    ranks = np.array([position[person_display(context, p)] for p in ids.tolist()], dtype=np.int64)

    def rank_of(persons: np.ndarray) -> np.ndarray:
        return ranks[np.searchsorted(ids, persons)]

    return displays, rank_of


class CouplesAnalyzer(LineageAnalyzer):
    """Co-change counts of files and of people x files; see the module docstring."""

    name: ClassVar[str] = "couples"
    columns: ClassVar[int] = 2  # revisions, sum of coupling
    description: ClassVar[str] = "files changed together, revisions per file, people x files"
    # Measured on synthetic record streams (20k and 60k commits, 4-8 changes each, a new file
    # every 4 commits): the lineage table grew 33-36 bytes a commit. The payload is the
    # diff stage's record, the same figure as the other analyzers.
    work_bytes_per_commit: ClassVar[int] = 64
    payload_bytes_per_commit: ClassVar[int] = 2048
    # Its pair counts grow with the square of a commit's files: twice the others' share of A.
    aggregate_weight: ClassVar[float] = 2

    def __init__(self, context: AnalysisContext) -> None:
        super().__init__(context)
        self._max_files = context.config.couples_max_files
        self._skipped = 0
        self._pairs = Counts(self._store, "pairs")
        self._touches = Counts(self._store, "people")

    # -- the per-commit path -------------------------------------------------------------
    def consume(self, commit: CommitRecord) -> None:
        """Count the commit's files, their pairs and its author's changes."""
        table = self._table()
        lineages = sorted(set(table.apply(commit.files)))
        if not lineages:
            return
        revisions = table.columns[_REVISIONS]
        for lineage in lineages:
            revisions[lineage] += 1
        person = commit.author & MASK32
        self._people.add(person)
        base = person << 32
        self._touches.counts.update([base | lineage for lineage in lineages])
        n = len(lineages)
        if n > self._max_files:
            self._skipped += 1
        elif n > 1:
            soc = table.columns[_SOC]
            for lineage in lineages:
                soc[lineage] += n - 1
            update = self._pairs.counts.update
            if n <= _ROW_WISE:
                update([a << 32 | b for a, b in combinations(lineages, 2)])
            else:
                # A big commit adds up to n^2/2 pairs: count them a row at a time, spilling
                # in between, so one commit cannot carry the counts far past the budget.
                for i, a in enumerate(lineages):
                    base = a << 32
                    update([base | b for b in lineages[i + 1 :]])
                    self._check_budget()
        self._check_budget()

    def _accumulators(self) -> tuple[Counts, Counts]:
        return (self._pairs, self._touches)

    def _extra_state(self) -> dict[str, Any]:
        return {"skipped": self._skipped}

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        self._skipped = state["skipped"]

    # -- the result -----------------------------------------------------------------------
    def _build(self) -> Mapping[str, Any]:
        table = self._table()
        config = self.context.config
        budget = self._budget
        fan_in = fan_in_for(budget)
        names, rank = table.ranks("alive_names" if config.alive_only else "all")
        revisions = array("q", [0]) * len(names)
        soc = array("q", [0]) * len(names)
        for lineage, r in enumerate(rank):
            if r >= 0:
                revisions[r] += table.columns[_REVISIONS][lineage]
                soc[r] += table.columns[_SOC][lineage]

        displays, person_rank = person_ranks(self.context, self._people)
        ranks = np.frombuffer(rank, dtype=np.int64)

        def pair_keys(keys: np.ndarray) -> np.ndarray:
            # (a, b) of lineages to (min, max) of their names' ranks; a file paired with
            # itself (two lineages ending under one name) or a file left out: dropped.
            hi, lo = split_keys(keys)
            a, b = ranks[hi], ranks[lo]
            new: np.ndarray = np.minimum(a, b) << 32 | np.maximum(a, b)
            new[(a < 0) | (b < 0) | (a == b)] = -1
            return new

        def touch_keys(keys: np.ndarray) -> np.ndarray:
            hi, lo = split_keys(keys)
            r = ranks[lo]
            new: np.ndarray = np.where(r < 0, -1, person_rank(hi) << 32 | r)
            return new

        pairs, touches = self._rekey_all(
            [
                (self._pairs, "pairs-by-name", pair_keys),
                (self._touches, "people-by-name", touch_keys),
            ],
            fan_in,
        )

        min_shared = config.min_shared
        min_degree = config.min_degree

        # Rows are formatted as JSON text directly (names encoded once): 917k rows took
        # half the time of building lists and encoding them. The columns are split and the
        # degrees computed a block at a time in numpy (a quarter less time again).
        quoted = [encode_json(name) for name in names]
        revs = np.asarray(revisions, dtype=np.int64)

        def pair_rows() -> Iterator[str]:
            unfiltered = min_shared <= 1 and min_degree <= 0
            for keys, counts, _ in pairs.blocks(fan_in):
                hi, lo = split_keys(np.frombuffer(keys, dtype=np.uint64))
                n = np.frombuffer(counts, dtype=np.int64)
                both = revs[hi] + revs[lo]
                if not unfiltered:
                    # the degree compared exactly, then truncated
                    keep = (n >= min_shared) & (200 * n >= min_degree * both)
                    hi, lo, n, both = hi[keep], lo[keep], n[keep], both[keep]
                # degree = shared / mean revisions of the two, in percent, truncated
                degrees = 200 * n // both
                yield from [
                    f"[{quoted[a]},{quoted[b]},{c},{d}]"
                    for a, b, c, d in zip(
                        hi.tolist(), lo.tolist(), n.tolist(), degrees.tolist(), strict=True
                    )
                ]

        return {
            "files": LazySequence(lambda: iter(names)),
            "pairs": LazySequence(pair_rows, encoded=True),
            "revisions": LazyMapping(lambda: zip(names, revisions, strict=True)),
            "sum_of_coupling": LazyMapping(lambda: zip(names, soc, strict=True)),
            "skipped_commits": self._skipped,
            "people_files": LazyMapping(lambda: _by_person(touches, fan_in, displays, names)),
        }


def _by_person(
    touches: _Runs, fan_in: int, displays: list[str], names: list[str]
) -> Iterator[tuple[str, dict[str, int]]]:
    """``(person, {file: changes})`` from entries keyed ``person_rank << 32 | file_rank``."""
    current = -1
    files: dict[str, int] = {}
    for keys, counts, _ in touches.blocks(fan_in):
        for key, n in zip(keys, counts, strict=True):
            person = key >> 32
            if person != current:
                if files:
                    yield displays[current], files
                current, files = person, {}
            files[names[key & MASK32]] = n
    if files:
        yield displays[current], files
