"""The third-party analyzer path, end to end: ``examples/custom_analyzer`` installed with pip.

The example package registers ``weekday`` through the ``gitstream.analyzers`` entry point group
only. These tests install it into the running virtualenv (and uninstall it afterwards if it was
not there before, so other tests see the registry as they expect), then run the real
``gitstream`` command and compare its numbers with ``git log --numstat``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gitrepo import CommitSpec, build_repo, git_env, log_numstat

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "custom_analyzer"
DISTRIBUTION = "gitstream-example-weekday"
NAME = "weekday"
GITSTREAM = Path(sys.executable).with_name("gitstream")
MONDAY = 1_600_041_600  # 2020-09-14 00:00:00 UTC, a Monday
HOUR = 3600
DAY = 86_400


def _installed() -> bool:
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def example_installed() -> Iterator[None]:
    """The example package installed (editable) in this interpreter's environment."""
    if not GITSTREAM.exists():
        pytest.skip(f"no gitstream console script beside {sys.executable}")
    if _installed():
        yield
        return
    failure = ""
    # Offline first with the build tools already installed; setuptools older than 70.1 also
    # needs `wheel` for that, so fall back to pip's isolated build (which fetches them).
    for isolation in (["--no-build-isolation"], []):
        done = _pip("install", "--quiet", "--no-deps", *isolation, "-e", str(EXAMPLE))
        if done.returncode == 0:
            break
        lines = done.stderr.strip().splitlines()
        failure = lines[-1] if lines else f"pip exited {done.returncode}"
    else:
        pytest.skip(f"pip cannot install {EXAMPLE} here: {failure}")
    try:
        yield
    finally:
        _pip("uninstall", "--yes", "--quiet", DISTRIBUTION)


def gitstream(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``gitstream`` command with a hermetic git environment."""
    return subprocess.run(
        [os.fspath(GITSTREAM), *args],
        capture_output=True,
        text=True,
        env=git_env(),
        timeout=300,
        check=False,
    )


def run_weekday(repo: Path, *extra: str) -> dict[str, Any]:
    """``gitstream analyze -a weekday`` on ``repo``; the whole result document."""
    done = gitstream("analyze", "-a", NAME, "--quiet", "-o", "-", *extra, os.fspath(repo))
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _at(day: int, hour: int, minute: int = 0) -> int:
    return MONDAY + day * DAY + hour * HOUR + minute * 60


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small history: several weekdays and hours, time zones, a rename, binary, a merge."""
    path = tmp_path_factory.mktemp("weekday") / "repo"
    commits: list[CommitSpec] = [
        {"files": {"a.py": "1\n2\n3\n", "b.txt": "x\ny\n"}, "time": _at(0, 9, 15)},
        # Local time is Tuesday 20:00 (-0500); in UTC it is Wednesday 01:00.
        {"files": {"a.py": "1\n2\n3\n4\n"}, "time": _at(2, 1), "tz": "-0500"},
        # The author time is a Saturday; the committer time (what counts) a Thursday.
        {
            "files": {"logo.png": b"\x89PNG\x00\x01\x02", "a.py": "1\n3\n4\n"},
            "time": _at(5, 12),
            "committer_time": _at(3, 8, 59),
        },
        {"renames": {"b.txt": "docs/b.txt"}, "time": _at(3, 9)},
        {"files": {"side.txt": "s1\ns2\ns3\n"}, "time": _at(3, 10), "parents": [3]},
        {"files": {"a.py": "0\n1\n3\n4\n"}, "time": _at(4, 17), "parents": [3]},
        {"files": {"side.txt": "s1\ns2\ns3\n"}, "time": _at(4, 18), "parents": [5, 4]},
        {"files": {}, "time": _at(5, 23, 59), "tz": "+0200"},
        {"files": {"a.py": None, "docs/b.txt": "x\nz\n"}, "time": _at(6, 23)},
        {"files": {"new.md": "# hi\n"}, "time": _at(7, 0, 1)},
    ]
    build_repo(path, commits)
    return path


def oracle(repo: Path) -> dict[str, Any]:
    """The weekday result computed from ``git log --numstat`` (first parent, renames on)."""
    commits = [[[0] * 24 for _ in range(7)] for _ in range(3)]
    for (ct,), lines in log_numstat(repo, fields=("%ct",), renames=True):
        when = datetime.fromtimestamp(int(ct), UTC)
        day, hour = when.weekday(), when.hour
        commits[0][day][hour] += 1
        commits[1][day][hour] += sum(line[0] for line in lines)
        commits[2][day][hour] += sum(line[1] for line in lines)
    fields = ("commits", "added", "removed")
    result: dict[str, Any] = dict(zip(fields, commits, strict=True))
    result["totals"] = {f: sum(map(sum, m)) for f, m in zip(fields, commits, strict=True)}
    return result


def test_analyzers_lists_the_example_and_the_builtins(example_installed: None) -> None:
    """`gitstream analyzers --names` lists the entry point's analyzer beside the built-in devs."""
    done = gitstream("analyzers", "--names")
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert NAME in names
    assert "devs" in names


def test_analyzers_table_names_the_distribution(example_installed: None) -> None:
    """`gitstream analyzers` says the example comes from its distribution, with a description."""
    done = gitstream("analyzers")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if f" {NAME} " in line)
    assert DISTRIBUTION in row
    assert "cannot be loaded" not in done.stdout


def test_result_matches_git_log(example_installed: None, repo: Path) -> None:
    """Commits and lines per weekday and UTC hour of the committer time agree with git's."""
    got = run_weekday(repo)["analyzers"][NAME]
    want = oracle(repo)
    assert got["timezone"] == "UTC"
    assert got["weekdays"][0] == "Monday"
    assert {k: got[k] for k in want} == want
    assert got["totals"]["commits"] == 9  # first-parent history: the side commit is not one


def test_chunked_run_equals_unchunked(example_installed: None, repo: Path) -> None:
    """Chunks of two commits, with hibernation between them, give the unchunked result."""
    whole = run_weekday(repo)
    chunked = run_weekday(repo, "--chunk-size", "2")
    assert chunked["run"]["hibernations"] >= 4
    assert chunked["analyzers"][NAME] == whole["analyzers"][NAME]


def test_runs_beside_a_builtin(example_installed: None, repo: Path) -> None:
    """With ``-a devs,weekday`` both results are present and weekday's is unchanged."""
    done = gitstream(
        "analyze", "-a", f"devs,{NAME}", "--quiet", "--chunk-size", "3", "-o", "-", str(repo)
    )
    assert done.returncode == 0, done.stderr
    analyzers = json.loads(done.stdout)["analyzers"]
    assert set(analyzers) == {"devs", NAME}
    assert analyzers[NAME] == run_weekday(repo)["analyzers"][NAME]


def test_empty_repository(example_installed: None, tmp_path: Path) -> None:
    """On a repository without commits the punch card is all zeros."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], env=git_env(), check=True)
    got = run_weekday(tmp_path)["analyzers"][NAME]
    assert got["totals"] == {"commits": 0, "added": 0, "removed": 0}
    assert got["commits"] == [[0] * 24] * 7
