"""What a person sees on the terminal: the run summary, the plan, the analyzer list.

Renderers take plain data (the result document, a schedule) and return rich renderables; the
CLI prints them on a stderr console, so stdout stays free for JSON. Nothing here computes
results.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gitstream.analyzers.base import materialize
from gitstream.config import format_size

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x0A: "\\n", 0x09: "\\t"}
"""Control characters as git quotes them in paths: a newline would cut a table row in two."""


def _printable(text: str) -> str:
    """Paths that are not UTF-8 hold lone surrogates; show their bytes as \\xNN instead, and
    control characters escaped."""
    shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return shown.translate(_CONTROL)


def _short_time(ts: int | None) -> str:
    import datetime as dt

    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def run_summary(document: Mapping[str, Any], output: str | None) -> RenderableType:
    """A few lines about the run, then a table per analyzer that has a summary."""
    repo = document["repository"]
    run = materialize(document["run"])
    parts: list[RenderableType] = []
    rate = repo["commits"] / run["duration_s"] if run["duration_s"] else 0.0
    budget = run["budget_bytes"]
    used = (
        f" ({100 * run['peak_rss_bytes'] / budget:.0f}% of {format_size(budget)})" if budget else ""
    )
    head = Text()
    head.append(f"{repo['commits']} commits", style="bold")
    head.append(
        f" of {repo['path']} ({_short_time(repo['first_commit_time'])} .. "
        f"{_short_time(repo['last_commit_time'])}), {repo['people']} people\n"
    )
    head.append(
        f"{run['duration_s']:.1f} s, {rate:,.0f} commits/s, "
        f"{run['chunks']} chunk{'s' if run['chunks'] != 1 else ''}, "
        f"peak RSS {format_size(run['peak_rss_bytes'])}{used}"
    )
    if output and output != "-":
        head.append(f"\nresult written to {output}")
    for name, why in run.get("skipped_analyzers", {}).items():
        head.append(f"\n{name} did not run: {why}", style="yellow")
    oversized = run.get("oversized_changes") or {}
    if oversized.get("count"):
        head.append(
            f"\n{oversized['count']:,} changes of files larger than "
            f"{format_size(run['git_big_file_bytes'])} (the largest "
            f"{format_size(oversized['largest_bytes'])}) were counted as binary, without lines: "
            "git's diff of a text file that large would not fit the budget (a larger --memory "
            "diffs larger files; see docs/memory.md)",
            style="yellow",
        )
    parts.append(head)
    analyzers = document["analyzers"]
    if "devs" in analyzers:
        parts.append(devs_table(materialize(analyzers["devs"])["people"]))
    if "burndown" in analyzers:
        parts.append(burndown_line(analyzers["burndown"]))
    if "file_history" in analyzers:
        parts.append(hotspots_table(analyzers["file_history"]["hotspots"]))
    if "couples" in analyzers:
        parts.append(couples_table(analyzers["couples"]))
    return Group(*parts)


def burndown_line(burndown: Mapping[str, Any]) -> Text:
    """Lines alive now and how long lines live."""
    project = burndown["project"]
    matrix = project["matrix"]
    alive = sum(matrix[-1]) if matrix else 0
    survival = burndown.get("survival") or {}
    half = survival.get("half_life_days")
    text = Text("burndown: ", style="bold")
    samples = len(matrix)
    text.append(f"{alive:,} lines alive at the end, {samples} sample{'s' if samples != 1 else ''}")
    if half is not None:
        text.append(f", half of all lines written are gone after {half:,.0f} days")
    elif any(any(row) for row in matrix):
        text.append(", fewer than half of all lines written were ever removed")
    return text


def hotspots_table(hotspots: Iterable[Mapping[str, Any]], limit: int = 10) -> Table:
    """The files changed most often and most heavily (revisions x churn)."""
    table = Table(title=f"hotspots (top {limit})")
    table.add_column("path")
    for col in ("revisions", "churn", "score"):
        table.add_column(col, justify="right")
    for i, row in enumerate(hotspots):
        if i >= limit:
            break
        table.add_row(
            _printable(row["path"]),
            f"{row['revisions']:,}",
            f"{row['churn']:,}",
            f"{row['score']:,}",
        )
    return table


def _shared_and_degree(row: str | list[Any]) -> tuple[int, int]:
    # Rows arrive as JSON text ('["a","b",12,40]'): the two numbers end it, read without
    # decoding the names.
    if isinstance(row, str):
        shared, degree = row[:-1].rsplit(",", 2)[1:]
        return int(shared), int(degree)
    return row[2], row[3]


def couples_table(couples: Mapping[str, Any], limit: int = 10) -> Table:
    """The pairs of files changed together most often (one streaming pass over the pairs)."""
    top = [
        json.loads(row) if isinstance(row, str) else row
        for row in heapq.nlargest(limit, couples["pairs"], key=_shared_and_degree)
    ]
    skipped = couples.get("skipped_commits", 0)
    table = Table(
        title=f"files changed together (top {len(top)})"
        + (f"; {skipped} large commits left out" if skipped else "")
    )
    table.add_column("file")
    table.add_column("file")
    table.add_column("shared", justify="right")
    table.add_column("degree %", justify="right")
    for a, b, shared, degree in top:
        table.add_row(_printable(a), _printable(b), f"{shared:,}", f"{degree}")
    return table


def devs_table(people: list[dict[str, Any]], limit: int = 10) -> Table:
    """The most active developers by commits."""
    table = Table(title=f"developers (top {min(limit, len(people))} of {len(people)})")
    table.add_column("name")
    table.add_column("email")
    for col in ("commits", "added", "removed", "changed"):
        table.add_column(col, justify="right")
    for p in people[:limit]:
        table.add_row(
            _printable(p["name"]),
            _printable(p["email"]),
            *(f"{p[k]:,}" for k in ("commits", "added", "removed", "changed")),
        )
    return table


def plan_view(plan: Mapping[str, Any]) -> RenderableType:
    """The budget decomposition and every chunk of a ``gitstream plan``."""
    lines = Table.grid(padding=(0, 2))
    lines.add_column()
    lines.add_column(justify="right")
    lines.add_row("commits", f"{plan['total_commits']:,}")
    for key, label in (
        ("budget_bytes", "budget B"),
        ("overhead_bytes", "overhead P"),
        ("work_bytes", "working state W (60%)"),
        ("agg_spill_bytes", "aggregator spill A (30%)"),
        ("chunk_data_bytes", "in-flight chunk data (10%)"),
        ("slack_bytes", "slack S (5%)"),
    ):
        value = plan.get(key)
        lines.add_row(
            label, format_size(value) if value is not None or key == "budget_bytes" else "-"
        )
    lines.add_row("buffering factor", str(plan["buffering_factor"]))
    if "workers" in plan:
        lines.add_row("diff workers", f"up to {plan['workers']} git at once")
    if "git_delta_cache_bytes" in plan:
        # part of P: each git's cache of inflated delta bases, what its speed depends on most
        lines.add_row("delta cache per git (in P)", format_size(plan["git_delta_cache_bytes"]))
    if plan.get("git_big_file_bytes"):
        # larger text files count as binary: git's diff of one would not fit the budget
        lines.add_row("files diffed up to", format_size(plan["git_big_file_bytes"]))
    lines.add_row("chunk size", f"{plan['chunk_size']:,}")
    chunks = Table(title=f"{len(plan['chunks'])} chunks")
    for col in ("#", "start", "end", "first commit", "last commit"):
        chunks.add_column(col, justify="right" if col in ("#", "start", "end") else "left")
    for i, c in enumerate(plan["chunks"]):
        chunks.add_row(
            str(i),
            str(c["start"]),
            str(c["end"]),
            f"{c['first_commit'][:10]} {_short_time(c['first_time'])}",
            f"{c['last_commit'][:10]} {_short_time(c['last_time'])}",
        )
    return Group(lines, chunks)


def analyzers_table(rows: Iterable[tuple[str, str, str]]) -> Table:
    """Name, origin (built-in or the distribution) and description of every analyzer."""
    table = Table()
    table.add_column("analyzer")
    table.add_column("from")
    table.add_column("description")
    for name, origin, desc in rows:
        table.add_row(name, origin, desc)
    return table
