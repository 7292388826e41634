"""Feeding an analyzer by hand, hibernating where a test says: the unit tests' shared driver."""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from gitstream.analyzers._lineage import LineageAnalyzer
from gitstream.analyzers.base import Analyzer, materialize
from gitstream.records import CommitRecord


def feed(
    analyzer: Analyzer,
    commits: Sequence[CommitRecord],
    *,
    hibernate_after: Container[int] = (),
    hibernate_last: bool = False,
) -> dict[str, Any]:
    """The materialized result, hibernating and booting after the commits at those indices."""
    for n, commit in enumerate(commits):
        analyzer.consume(commit)
        if n in hibernate_after:
            analyzer.hibernate()
            analyzer.boot()
    if hibernate_last:
        analyzer.hibernate()
    result: dict[str, Any] = materialize(analyzer.finalize())
    return result


def lineage_snapshot(analyzer: LineageAnalyzer) -> tuple[Any, ...]:
    """Everything couples' and file_history's lineage table holds, as plain values."""
    table = analyzer._table()
    return (
        list(table.names),
        dict(table.alive),
        [list(column) for column in table.columns],
        set(analyzer._people),
    )
