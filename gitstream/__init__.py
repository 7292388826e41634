"""gitstream: whole-history git analytics inside a memory budget.

The public API: build an :class:`AnalysisConfig`, call :func:`analyze` (plain result) or use
:func:`analysis` (streamed result), or :func:`prepare` for the plan alone. Analyzer authors
implement :class:`Analyzer` over :class:`CommitRecord` values; see ``docs/analyzers.md``.
"""

from gitstream.analyzers.base import (
    AnalysisContext,
    Analyzer,
    LazyMapping,
    LazySequence,
    materialize,
)
from gitstream.config import AnalysisConfig, parse_size
from gitstream.errors import (
    BudgetExceeded,
    GitstreamError,
    JobRejected,
    RepositoryError,
    SpillError,
    UsageError,
)
from gitstream.pipeline import SCHEMA, analysis, analyze, prepare
from gitstream.records import CommitRecord, FileChange, Person, Status
from gitstream.streaming.spill import SpillStore

__version__ = "0.1.0"

__all__ = [
    "SCHEMA",
    "AnalysisConfig",
    "AnalysisContext",
    "Analyzer",
    "BudgetExceeded",
    "CommitRecord",
    "FileChange",
    "GitstreamError",
    "JobRejected",
    "LazyMapping",
    "LazySequence",
    "Person",
    "RepositoryError",
    "SpillError",
    "SpillStore",
    "Status",
    "UsageError",
    "__version__",
    "analysis",
    "analyze",
    "materialize",
    "parse_size",
    "prepare",
]
