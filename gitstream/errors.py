"""The exceptions gitstream raises on purpose, each with the exit code the CLI turns it into.

    GitstreamError (1)
     ├── UsageError (2)        bad size, unknown analyzer, budget below the minimum, bad option
     │    └── RepositoryError (2)   not a repository, unknown revision
     ├── SpillError (3)        a spill file cannot be written, read back or is corrupted
     ├── BudgetExceeded (4)    the process tree went over --memory and nothing was left to free
     └── JobRejected (5)       the job controller's queue is full or it is shutting down

Any other exception escaping the library is a bug and keeps its traceback. Foreign errors
(pygit2, zstandard, OSError) are translated at the boundary that meets them: ``git/`` and
``streaming/spill.py``.
"""

from __future__ import annotations


class GitstreamError(Exception):
    """Base of every error gitstream raises on purpose."""

    exit_code = 1


class UsageError(GitstreamError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class RepositoryError(UsageError):
    """The path is not a git repository, or a revision does not exist in it."""


class SpillError(GitstreamError):
    """A spill file could not be written, read back, or failed its checksum."""

    exit_code = 3


class BudgetExceeded(GitstreamError):
    """The process tree passed the memory budget and hibernation could not bring it back."""

    exit_code = 4


class JobRejected(GitstreamError):
    """The controller refused a job: its queue is full or it is shutting down."""

    exit_code = 5
