"""Per-chunk telemetry: one :class:`ChunkTelemetry` record per processed chunk.

Records go to an NDJSON file (``--telemetry PATH``) through :class:`TelemetryWriter`, one JSON
object per line, flushed line by line so a run that dies still leaves every finished chunk on
disk; :func:`read_telemetry` reads such a file back. :func:`format_line` renders a record as one
plain log line for a stderr that is not a terminal.

This module does not measure anything (the runner fills the records from
:mod:`gitstream.streaming.memory` and :mod:`gitstream.streaming.adaptive`) and does not draw:
rich tables and progress bars stay in the CLI, which can render the same records.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from gitstream.config import format_size
from gitstream.errors import GitstreamError, UsageError

__all__ = ["ChunkTelemetry", "TelemetryWriter", "format_line", "read_telemetry"]


@dataclass(frozen=True, slots=True)
class ChunkTelemetry:
    """What happened in one chunk. Sizes in bytes, growth in bytes per commit.

    ``chunk`` is the 0-based chunk index and ``[start, end)`` its commits. ``rss_before`` and
    ``rss_after`` are process-tree RSS around the chunk's consumption; ``budget_used_pct`` is
    ``rss_after`` against the budget (None when unlimited). ``growth_per_commit`` is this
    chunk's working-state growth, ``ema_growth`` the adaptive planner's average after it.
    ``hibernate_ms`` / ``boot_ms`` time the hibernation after the chunk and the boot before
    the next, ``spill_bytes`` what hibernation wrote, ``duration_s`` the whole chunk.
    ``chunks_total`` is the number of planned chunks after any re-plan, when known.
    """

    chunk: int
    start: int
    end: int
    commits: int
    rss_before: int
    rss_after: int
    budget_bytes: int | None
    budget_used_pct: float | None
    growth_per_commit: float
    ema_growth: float
    replanned: bool
    hibernate_ms: float
    boot_ms: float
    spill_bytes: int
    duration_s: float
    chunks_total: int | None = None

    @classmethod
    def for_test(cls, **overrides: Any) -> ChunkTelemetry:
        """A plausible record for tests; keyword arguments replace fields."""
        base = cls(
            chunk=0,
            start=0,
            end=100,
            commits=100,
            rss_before=100 * 1024 * 1024,
            rss_after=120 * 1024 * 1024,
            budget_bytes=1024 * 1024 * 1024,
            budget_used_pct=11.72,
            growth_per_commit=200 * 1024.0,
            ema_growth=200 * 1024.0,
            replanned=False,
            hibernate_ms=12.5,
            boot_ms=3.25,
            spill_bytes=4 * 1024 * 1024,
            duration_s=1.5,
        )
        return dataclasses.replace(base, **overrides)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON values; growth to whole bytes, times and percentages rounded for reading."""
        return {
            "chunk": self.chunk,
            "start": self.start,
            "end": self.end,
            "commits": self.commits,
            "rss_before": self.rss_before,
            "rss_after": self.rss_after,
            "budget_bytes": self.budget_bytes,
            "budget_used_pct": (
                None if self.budget_used_pct is None else round(self.budget_used_pct, 2)
            ),
            "growth_per_commit": round(self.growth_per_commit),
            "ema_growth": round(self.ema_growth),
            "replanned": self.replanned,
            "hibernate_ms": round(self.hibernate_ms, 3),
            "boot_ms": round(self.boot_ms, 3),
            "spill_bytes": self.spill_bytes,
            "duration_s": round(self.duration_s, 6),
            "chunks_total": self.chunks_total,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkTelemetry:
        """The record that :meth:`to_dict` gave ``data``; unknown keys are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class TelemetryWriter:
    """Writes records to ``path`` as NDJSON, one flushed line each; a context manager.

    The file is created (or truncated, unless ``append``) at once, so a bad ``--telemetry``
    path fails before any work is done.
    """

    def __init__(self, path: str | Path, *, append: bool = False) -> None:
        self.path = Path(path)
        try:
            self._file: IO[str] | None = self.path.open("a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write telemetry to {str(self.path)!r}: {exc.strerror or exc}; "
                "choose a writable --telemetry path"
            ) from exc
        self.records = 0

    def write(self, record: ChunkTelemetry) -> None:
        """Append one record as a line and flush it."""
        if self._file is None:
            raise ValueError("TelemetryWriter is closed")
        line = json.dumps(record.to_dict(), separators=(",", ":"))
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except OSError as exc:
            raise GitstreamError(
                f"cannot write telemetry to {str(self.path)!r}: {exc.strerror or exc}"
            ) from exc
        self.records += 1

    def close(self) -> None:
        """Close the file; further writes raise ValueError."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> TelemetryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_telemetry(path: str | Path) -> list[ChunkTelemetry]:
    """The records of an NDJSON telemetry file, in order; blank lines are skipped."""
    with Path(path).open(encoding="utf-8") as fh:
        return [ChunkTelemetry.from_dict(json.loads(line)) for line in fh if line.strip()]


def format_line(rec: ChunkTelemetry) -> str:
    """One plain log line for ``rec``, e.g. for stderr when it is not a terminal."""
    index = f"{rec.chunk + 1}/{rec.chunks_total}" if rec.chunks_total else f"{rec.chunk + 1}"
    budget = (
        "no budget"
        if rec.budget_bytes is None
        else f"{rec.budget_used_pct or 0.0:.1f}% of {format_size(rec.budget_bytes)}"
    )
    parts = [
        f"chunk {index}",
        f"commits [{rec.start}, {rec.end}) ({rec.commits})",
        f"rss {format_size(rec.rss_before)} -> {format_size(rec.rss_after)} ({budget})",
        f"growth {format_size(round(rec.growth_per_commit))}/commit"
        f" (ema {format_size(round(rec.ema_growth))})",
        f"hibernate {rec.hibernate_ms:.0f} ms",
        f"boot {rec.boot_ms:.0f} ms",
        f"spill {format_size(rec.spill_bytes)}",
        f"{rec.duration_s:.2f} s",
    ]
    if rec.replanned:
        parts.append("replanned")
    return ", ".join(parts)
