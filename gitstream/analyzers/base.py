"""The analyzer protocol, the context an analyzer is built with, and the analyzer registry.

How to write an analyzer
------------------------
An analyzer is a class with the attributes and methods of :class:`Analyzer`. It is built once
per run with an :class:`AnalysisContext`, sees every selected commit exactly once, oldest
first, through :meth:`~Analyzer.consume`, and returns its result from
:meth:`~Analyzer.finalize`. Between chunks of commits the runner calls
:meth:`~Analyzer.hibernate` (write the working state to ``context.spill`` and drop it from
memory) and later :meth:`~Analyzer.boot` (make it usable again; lazily is fine). The one rule:
the result must not depend on where the chunks were cut or how often hibernate/boot ran.

Register the class under the entry point group ``gitstream.analyzers``; the built-ins are
registered the same way in gitstream's own ``pyproject.toml``. ``docs/analyzers.md`` has a
worked example; ``examples/custom_analyzer`` is an installable one.

This module does not run analyzers (``gitstream.streaming.runner`` does) nor render results
(``gitstream.report``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol, runtime_checkable

from gitstream.config import AnalysisConfig
from gitstream.errors import UsageError
from gitstream.records import CommitRecord, Person
from gitstream.streaming.spill import SpillStore

ENTRY_POINT_GROUP = "gitstream.analyzers"


@dataclass(frozen=True)
class AnalysisContext:
    """What an analyzer knows about the run before the first commit.

    ``people`` is the merged identity table that ``CommitRecord.author`` indexes;
    ``start_time`` is the unix time of tick 0 and ``last_tick`` the tick of the last selected
    commit. ``agg_budget_bytes`` is this analyzer's share of the aggregator spill budget
    (0 = unlimited): accumulated output above it should be written out as a sorted run.
    """

    config: AnalysisConfig
    people: tuple[Person, ...]
    total_commits: int
    start_time: int
    last_tick: int
    spill: SpillStore
    agg_budget_bytes: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tick_seconds(self) -> int:
        return int(self.config.tick_size_hours * 3600)


@runtime_checkable
class Analyzer(Protocol):
    """What the runner needs from an analyzer.

    ``work_bytes_per_commit`` and ``payload_bytes_per_commit`` are honest estimates of how much
    the working state grows per consumed commit and how large one commit's input is; the
    planner sizes chunks from them before any real measurement exists.

    Optionally, ``aggregate_weight`` (default 1) says how large a part of the aggregator
    budget ``A`` the analyzer wants relative to the others: 0 for one that accumulates no
    output (it then gets no share), 2 for one whose output grows twice as fast.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    work_bytes_per_commit: ClassVar[int]
    payload_bytes_per_commit: ClassVar[int]

    def __init__(self, context: AnalysisContext) -> None: ...

    def consume(self, commit: CommitRecord) -> None:
        """Take one commit into the state; commits arrive once each, oldest first."""

    def hibernate(self) -> None:
        """Write the working state to the context's spill store and release it."""

    def boot(self) -> None:
        """Make the state usable again after :meth:`hibernate` (may defer the reading)."""

    def state_size(self) -> int:
        """Bytes of working state held in memory now (measured or honestly estimated)."""

    def aggregate_size(self) -> int:
        """Bytes of accumulated output held in memory now (0 if the analyzer keeps none)."""

    def finalize(self) -> Mapping[str, Any]:
        """The result. Values may be lazy (iterators, see ``gitstream.report.jsonstream``)."""


DEFAULT_AGGREGATE_WEIGHT = 1.0


def aggregate_shares(classes: Sequence[type[Any]], total: int) -> dict[str, int]:
    """Each analyzer's part of the aggregator budget ``total``, by ``aggregate_weight``."""
    weights = {
        c.name: max(0.0, float(getattr(c, "aggregate_weight", DEFAULT_AGGREGATE_WEIGHT)))
        for c in classes
    }
    whole = sum(weights.values())
    if whole <= 0:
        return dict.fromkeys(weights, 0)
    return {name: int(total * w / whole) for name, w in weights.items()}


def _builtin() -> dict[str, str]:
    # The fallback when gitstream runs from a source tree without installed metadata.
    return {
        "burndown": "gitstream.analyzers.burndown:BurndownAnalyzer",
        "devs": "gitstream.analyzers.devs:DevsAnalyzer",
        "couples": "gitstream.analyzers.couples:CouplesAnalyzer",
        "file_history": "gitstream.analyzers.file_history:FileHistoryAnalyzer",
    }


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _targets() -> dict[str, tuple[str, str]]:
    """name -> (``module:attr``, origin) for every registered analyzer, without importing."""
    found = {name: (target, "built-in") for name, target in _builtin().items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        origin = "built-in" if dist == "gitstream" else dist
        found[_normalise(ep.name)] = (ep.value, origin)
    return dict(sorted(found.items()))


def available() -> dict[str, type[Analyzer]]:
    """Every analyzer that can be used, by name: entry points first, then the built-ins."""
    return {name: _load(name, target) for name, (target, _) in _targets().items()}


def describe() -> list[tuple[str, str, str]]:
    """(name, origin, one-line description) of every registered analyzer."""
    rows = []
    for name, (target, origin) in _targets().items():
        try:
            desc = str(_load(name, target).description)
        except UsageError as exc:
            desc = f"(cannot be loaded: {exc})"
        rows.append((name, origin, desc))
    return rows


def _load(name: str, target: str) -> type[Analyzer]:
    from importlib import import_module

    module_name, _, attr = target.partition(":")
    try:
        obj = import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"analyzer {name!r} cannot be loaded from {target}: {exc}") from exc
    return obj  # type: ignore[return-value]


def resolve(names: list[str] | tuple[str, ...] | None) -> list[type[Analyzer]]:
    """The analyzer classes for ``names`` (all available ones when empty), in the given order."""
    known = _targets()
    if not names:
        return list(available().values())
    chosen: list[type[Analyzer]] = []
    for raw in names:
        name = _normalise(raw)
        if name not in known:
            raise UsageError(
                f"unknown analyzer {raw!r}; known analyzers: {', '.join(sorted(known))}"
            )
        cls = _load(name, known[name][0])
        if cls not in chosen:
            chosen.append(cls)
    return chosen


class LazyMapping:
    """A JSON object produced on demand from ``factory()``'s ``(key, value)`` pairs.

    Results too large to hold as one dict (couples pairs, per-file histories) are returned as
    lazy values; the report writer streams them and :func:`materialize` builds them for tests.
    The factory may be called more than once and must yield the same items each time.
    """

    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Iterator[tuple[str, Any]]]) -> None:
        self.factory = factory

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return self.factory()


class LazySequence:
    """A JSON array produced on demand from ``factory()``; see :class:`LazyMapping`.

    With ``encoded``, every item is already the JSON text of one value (compact, as
    :func:`encode_json` writes it): for arrays of many small rows, formatting a row directly is
    cheaper than building it and encoding it (couples' pairs). :func:`materialize` decodes them.
    """

    __slots__ = ("encoded", "factory")

    def __init__(self, factory: Callable[[], Iterator[Any]], *, encoded: bool = False) -> None:
        self.factory = factory
        self.encoded = encoded

    def __iter__(self) -> Iterator[Any]:
        return self.factory()


_SCALARS = (str, int, float, bool, type(None))

encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""Compact JSON text of a value, as result files are written (non-ASCII kept as is)."""


def materialize(value: Any) -> Any:
    """``value`` with every lazy part turned into plain dicts and lists (tuples become lists)."""
    kind = type(value)
    if kind in _SCALARS:  # most values: answer before the (slow) ABC checks
        return value
    if kind is LazyMapping:
        return {k: materialize(v) for k, v in value}
    if kind is dict or isinstance(value, Mapping):
        return {k: materialize(v) for k, v in value.items()}
    if kind is LazySequence and value.encoded:
        return [json.loads(text) for text in value]
    if kind is list or kind is tuple or kind is LazySequence or isinstance(value, Iterator):
        return [materialize(v) for v in value]
    return value
