"""Run configuration: :class:`AnalysisConfig`, memory sizes and ``GITSTREAM_*`` defaults.

The CLI builds one :class:`AnalysisConfig` from its options; library users build it directly.
Sizes accept binary (``512MiB``, ``2GiB``), decimal (``1.5GB``), bare bytes and ``unlimited``.
This module does not touch git or the file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from gitstream.errors import UsageError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)\s*$")

DEFAULT_MEMORY = "1GiB"


def parse_size(text: str) -> int | None:
    """Bytes for ``text`` (``None`` means unlimited); raises UsageError naming the bad value."""
    if text.strip().lower() in {"unlimited", "none", "0"}:
        return None
    m = _SIZE.match(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise UsageError(
            f"cannot read {text!r} as a memory size; use e.g. 512MiB, 2GiB, 1.5GB or unlimited"
        )
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise UsageError(f"memory size {text!r} must be positive (or 'unlimited')")
    return value


def format_size(n: int | None) -> str:
    """A human size in binary units, e.g. ``512.0 MiB``; ``unlimited`` for None."""
    if n is None:
        return "unlimited"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything a run needs to know; defaults are those of the CLI.

    ``memory_bytes`` None means no budget. ``chunk_size`` forces chunks of that many commits
    (tests, debugging); otherwise the planner sizes them from the budget.
    """

    repo: Path = Path(".")
    rev: str = "HEAD"
    full_history: bool = False
    since: str | None = None
    until: str | None = None
    renames: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exact_identities: bool = False
    analyzers: tuple[str, ...] = ()
    memory_bytes: int | None = field(default_factory=lambda: parse_size(DEFAULT_MEMORY))
    chunk_size: int | None = None
    spill_dir: Path | None = None
    workers: int | None = None
    telemetry: Path | None = None
    tick_size_hours: float = 24.0
    granularity: int = 30
    sampling: int = 30
    burndown_files: bool = False
    burndown_people: bool = False
    couples_max_files: int = 1000
    alive_only: bool = False
    min_shared: int = 1
    min_degree: float = 0.0
    agg_budget_bytes: int | None = None
    """Override of each analyzer's aggregator spill share (tests force many spilled runs)."""

    def options_dict(self) -> dict[str, object]:
        """The options as plain JSON values, for the result file's ``options`` section."""
        out: dict[str, object] = {}
        for key in self.__dataclass_fields__:
            value = getattr(self, key)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out
