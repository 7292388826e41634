"""What couples and file_history share: files followed as lineages, spillable accumulators.

:class:`LineageAnalyzer` holds the lineage table (the working state that hibernates), the set
of people seen, and the budget logic over a subclass's accumulators: when their size plus the
largest one's growth reserve passes the analyzer's share of the aggregator budget, the largest
spills first. Subclasses say which accumulators they have, what else hibernates with the table,
and how the result is built. This module does not count anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gitstream.analyzers._runs import KeyMap, Lineages, _Runs
from gitstream.analyzers.base import AnalysisContext

ENTRY_BYTES = 256
"""More than any accumulator's bytes per new entry (60-110 measured, see ``_runs``)."""


class LineageAnalyzer:
    """Base of the analyzers that follow files through renames; see the module docstring."""

    name: ClassVar[str]
    columns: ClassVar[int]
    """Ints kept per lineage in the table."""

    def __init__(self, context: AnalysisContext) -> None:
        self.context = context
        self._store = context.spill.namespace(self.name)
        self._budget = max(0, context.agg_budget_bytes)
        self._lineages: Lineages | None = Lineages(self.columns)
        self._people: set[int] = set()
        self._result: Mapping[str, Any] | None = None
        self._next_check = 0  # entries at which _check_budget measures again

    # -- what subclasses provide ---------------------------------------------------------------
    def _accumulators(self) -> Sequence[_Runs]:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        """Small state beside the table that hibernates with it."""
        return {}

    def _restore_extra(self, state: Mapping[str, Any]) -> None:
        """Take back what :meth:`_extra_state` gave."""

    def _build(self) -> Mapping[str, Any]:
        raise NotImplementedError

    # -- shared machinery --------------------------------------------------------------------
    def _table(self) -> Lineages:
        if self._lineages is None:
            self.boot()
        assert self._lineages is not None
        return self._lineages

    def _check_budget(self) -> None:
        # Measuring (sys.getsizeof of every accumulator) costs more than a commit's counting:
        # measure again only once enough entries arrived to possibly fill the room left, at a
        # pessimistic ENTRY_BYTES each (a dict resize is already in each reserve).
        if not self._budget:
            return
        entries = sum(len(acc) for acc in self._accumulators())
        if entries < self._next_check:
            return
        planned = self._planned_size()
        if planned > self._budget:
            self._spill()
            entries = sum(len(acc) for acc in self._accumulators())
            planned = self._planned_size()
        self._next_check = entries + max(0, self._budget - planned) // ENTRY_BYTES

    def _planned_size(self) -> int:
        return self.aggregate_size() + max(acc.reserve() for acc in self._accumulators())

    def _spill(self) -> None:
        # The larger accumulator goes first: each run then frees at least half the budget.
        for acc in sorted(self._accumulators(), key=lambda a: -a.nbytes()):
            if self._planned_size() <= self._budget:
                break
            acc.spill()

    def _rekey_all(self, plans: Sequence[tuple[_Runs, str, KeyMap]], fan_in: int) -> list[_Runs]:
        """Re-key each accumulator (``(accumulator, new name, key function)``) in turn.

        Each copy may hold what the share leaves beside everything still in memory (the
        originals not yet re-keyed and the copies already made), but at least a quarter of
        the share, so a full share still re-keys in a few runs; an original is dropped as soon
        as its copy exists. With room for the copy, a re-key is one pass over a dict.
        """
        share = self._budget
        copies: list[_Runs] = []
        for i, (acc, name, key) in enumerate(plans):
            held = sum(a.nbytes() for a, _, _ in plans[i:]) + sum(c.nbytes() for c in copies)
            room = max(share // 4, share - held) if share else 0
            copies.append(acc.rekey(name, key, room, fan_in))
            acc.discard()
        return copies

    def hibernate(self) -> None:
        """Write the lineage table and the small state to the spill store and drop them."""
        if self._lineages is None:
            return
        self._lineages.save(self._store, "lineages")
        self._store.write_json("state", {"people": sorted(self._people), **self._extra_state()})
        self._lineages = None
        self._people = set()

    def boot(self) -> None:
        """Read back what :meth:`hibernate` wrote (nothing to do if it never ran)."""
        if self._lineages is not None:
            return
        self._lineages = Lineages.load(self._store, "lineages", self.columns)
        state = self._store.read_json("state")
        self._people = set(state["people"])
        self._restore_extra(state)

    def state_size(self) -> int:
        """Bytes of the lineage table (names, alive map, the int columns) in memory."""
        return 0 if self._lineages is None else self._lineages.nbytes()

    def aggregate_size(self) -> int:
        """Bytes of the accumulators' in-memory entries (``_runs`` gives the per-entry cost)."""
        return sum(acc.nbytes() for acc in self._accumulators())

    def finalize(self) -> Mapping[str, Any]:
        """The result as lazy streams over the re-sorted runs; the same on every call."""
        if self._result is None:
            self._result = self._build()
        return self._result
