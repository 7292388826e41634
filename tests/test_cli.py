"""The ``gitstream`` command as a user runs it: the installed console script, as a subprocess.

A subprocess rather than an in-process runner because what is checked is what a shell sees:
exit codes, what goes to stdout and what to stderr, that no traceback escapes, which files
are left behind. Commit selection (``--rev``, ``--since``/``--until``) is compared with
``git rev-list``, path filters and bare repositories with ``git log --numstat``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitrepo import (
    DEFAULT_TIME,
    CommitSpec,
    build_repo,
    commit_list,
    git,
    git_env,
    numstat_by_email,
    numstat_by_path,
)

import gitstream
from gitstream.config import parse_size
from gitstream.git.repo import MAX_DELTA_CACHE, delta_cache_for

GITSTREAM = Path(sys.executable).with_name("gitstream")
DAY = 86_400
PLAN_KEYS = {
    "total_commits",
    "budget_bytes",
    "overhead_bytes",
    "work_bytes",
    "agg_spill_bytes",
    "slack_bytes",
    "chunk_size",
    "buffering_factor",
    "workers",
    "chunks",
}
CHUNK_KEYS = {"start", "end", "first_commit", "last_commit"}

pytestmark = pytest.mark.skipif(
    not GITSTREAM.exists(), reason=f"no gitstream console script beside {sys.executable}"
)


def run_cli(*args: str | os.PathLike[str], umask: int = -1) -> subprocess.CompletedProcess[str]:
    """Run the installed command with hermetic git and no ``GITSTREAM_*`` settings."""
    env = {k: v for k, v in git_env().items() if not k.startswith("GITSTREAM_")}
    return subprocess.run(
        [os.fspath(GITSTREAM), *(os.fspath(a) for a in args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        umask=umask,
    )


def ok(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    """Run the command and require exit code 0."""
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done


def analyze_json(*args: str | os.PathLike[str]) -> dict[str, Any]:
    """``gitstream analyze --quiet -o - ARGS``; the result document."""
    document: dict[str, Any] = json.loads(ok("analyze", "--quiet", "-o", "-", *args).stdout)
    return document


def plan_json(*args: str | os.PathLike[str]) -> dict[str, Any]:
    """``gitstream plan --json ARGS``; the plan."""
    document: dict[str, Any] = json.loads(ok("plan", "--json", *args).stdout)
    return document


def _t(i: int) -> int:
    return DEFAULT_TIME + i * DAY


# Mainline 0-1-3-4-5-6-7 with a side commit 2 (forked from 1, merged by 4). Committer times one
# day apart; commit 6's author time is 100 days earlier, so only committer time orders it.
HISTORY: list[CommitSpec] = [
    {"files": {"a.py": "1\n2\n", "notes.txt": "n\n", "docs/guide.md": "# g\n"}, "time": _t(0)},
    {"files": {"src/b.py": "b\n", "src/data.txt": "d\nd\n"}, "time": _t(1)},
    {"files": {"side.py": "s\ns\n"}, "time": _t(2), "parents": [1]},
    {"files": {"a.py": "1\n2\n3\n", "docs/guide.md": "# g\nmore\n"}, "time": _t(3), "parents": [1]},
    {"files": {"side.py": "s\ns\n"}, "time": _t(4), "parents": [3, 2]},
    {
        "files": {"src/b.py": "b\nc\n", "notes.txt": "n\nm\n"},
        "time": _t(5),
        "author": ("Bo Other", "bo@example.com"),
    },
    {"files": {"docs/api.md": "api\n"}, "time": _t(6) - 100 * DAY, "committer_time": _t(6)},
    {"files": {"a.py": None, "src/data.txt": "d\n"}, "time": _t(7)},
]
MAINLINE = [0, 1, 3, 4, 5, 6, 7]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The repository of HISTORY and its commit ids, in HISTORY's order."""
    path = tmp_path_factory.mktemp("cli") / "repo"
    return path, build_repo(path, HISTORY)


@pytest.fixture(scope="module")
def repo(history: tuple[Path, list[str]]) -> Path:
    """The repository of HISTORY."""
    return history[0]


# -- version and listing ---------------------------------------------------------------------


def test_version() -> None:
    """`gitstream --version` prints the package version and exits 0."""
    assert ok("--version").stdout == f"gitstream {gitstream.__version__}\n"


def test_analyzers_table() -> None:
    """`gitstream analyzers` shows each analyzer with its origin and description."""
    out = ok("analyzers").stdout
    row = next(line for line in out.splitlines() if " devs " in line)
    assert "built-in" in row
    assert "developer" in out


def test_analyzers_names() -> None:
    """`gitstream analyzers --names` prints bare names, one per line, sorted, devs among them."""
    names = ok("analyzers", "--names").stdout.splitlines()
    assert "devs" in names
    assert names == sorted(names)
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names), names


# -- user errors: one line, exit code 2, no traceback ------------------------------------------


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gitstream: error: "), lines[0]
    return lines[0]


ERRORS = {
    # id: (arguments after the command, with {repo} and {tmp}; text the message must hold)
    "not-a-repository": (["{tmp}"], "not a git repository"),
    "missing-path": (["{tmp}/missing"], "missing"),
    "bad-size": (["--memory", "2XB", "{repo}"], "2XB"),
    "unknown-analyzer": (["-a", "devs,nope", "{repo}"], "'nope'"),
    "unknown-revision": (["--rev", "no-such-branch", "{repo}"], "no-such-branch"),
    "range-to-unknown": (["--rev", "HEAD~1..nowhere", "{repo}"], "nowhere"),
    "since-not-a-date": (["--since", "last tuesday", "{repo}"], "last tuesday"),
    "until-not-a-date": (["--until", "2024-13-45", "{repo}"], "2024-13-45"),
    "budget-below-minimum": (["--memory", "1MiB", "{repo}"], "--memory"),
}


def _error_args(case: str, repo: Path, tmp_path: Path) -> tuple[list[str], str]:
    template, fragment = ERRORS[case]
    plain = tmp_path / "plain"
    plain.mkdir()
    return [a.format(repo=repo, tmp=plain) for a in template], fragment


@pytest.mark.parametrize("case", list(ERRORS))
def test_user_error_is_one_line(repo: Path, tmp_path: Path, case: str) -> None:
    """A user error is one `gitstream: error:` line naming the bad value, exit 2, no leftovers."""
    args, fragment = _error_args(case, repo, tmp_path)
    out = tmp_path / "out.json"
    line = _error_line(run_cli("analyze", "--spill-dir", tmp_path / "spill", "-o", out, *args))
    assert fragment in line
    assert not list(tmp_path.glob("spill/gitstream-spill-*")), "spill directory left behind"
    assert not list(tmp_path.glob("*out.json*")), "a result file was written"


@pytest.mark.parametrize(
    "case", ["not-a-repository", "bad-size", "unknown-revision", "budget-below-minimum"]
)
def test_plan_user_error_is_one_line(repo: Path, tmp_path: Path, case: str) -> None:
    """`plan` reports user errors the same way as analyze: one line, exit code 2."""
    args, fragment = _error_args(case, repo, tmp_path)
    assert fragment in _error_line(run_cli("plan", *args))


def test_unknown_analyzer_lists_known_ones(repo: Path) -> None:
    """The unknown-analyzer message lists every analyzer that `analyzers --names` knows."""
    line = _error_line(run_cli("analyze", "-a", "nope", repo))
    for name in ok("analyzers", "--names").stdout.split():
        assert name in line


def _sizes(text: str) -> list[int]:
    found = re.findall(r"\d+(?:\.\d+)?\s?[KMGT]i?B\b", text)
    return [n for n in (parse_size(s.replace(" ", "")) for s in found) if n is not None]


def test_budget_below_minimum_names_the_minimum(repo: Path) -> None:
    """The message names a minimum budget: a little above it works, a little below does not."""
    line = _error_line(run_cli("plan", "--memory", "1MiB", repo))
    minimum = max(_sizes(line))
    assert minimum > 2**20
    slack = 8 * 2**20  # the overhead is measured RSS, which varies a little between runs
    ok("plan", "--memory", str(minimum + slack), repo)
    below = _error_line(run_cli("plan", "--memory", str(minimum - slack), repo))
    assert "too small" in below or "minimum" in below or "at least" in below


# -- results and where they go ---------------------------------------------------------------


def test_empty_repository(tmp_path: Path) -> None:
    """A repository with no commit (git init only) analyses to a result with zero commits."""
    git(tmp_path, "init", "-q")
    document = analyze_json(tmp_path)
    assert document["repository"]["commits"] == 0
    assert document["run"]["commits"] == 0
    assert document["analyzers"], "every analyzer should report, even on no commits"
    assert plan_json(tmp_path)["chunks"] == []


def test_output_dash_is_json_on_stdout_only(repo: Path) -> None:
    """With `-o -` stdout is exactly one JSON document; progress and summary stay on stderr."""
    done = ok("analyze", "-a", "devs", "--chunk-size", "3", "-o", "-", repo)
    document = json.loads(done.stdout)
    assert document["schema"] == gitstream.SCHEMA
    assert document["repository"]["commits"] == len(MAINLINE)
    assert done.stderr.strip(), "progress and summary go to stderr"
    assert '"schema"' not in done.stderr
    assert not any(line.lstrip().startswith("{") for line in done.stderr.splitlines())


def test_output_path_is_written_atomically(repo: Path, tmp_path: Path) -> None:
    """`-o PATH` replaces an existing file with the whole result and leaves no temporary file."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result.json"
    target.write_text("old contents")
    done = ok("analyze", "-a", "devs", "--quiet", "-o", target, repo)
    assert done.stdout == ""
    assert [p.name for p in out_dir.iterdir()] == ["result.json"]
    assert json.loads(target.read_text())["repository"]["commits"] == len(MAINLINE)


def test_output_path_follows_umask(repo: Path, tmp_path: Path) -> None:
    """The result file gets the permissions the umask gives new files (0644 under 022)."""
    target = tmp_path / "result.json"
    done = run_cli("analyze", "-a", "devs", "--quiet", "-o", target, repo, umask=0o022)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o644


# -- plan --------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_args", [[], ["--chunk-size", "2"]], ids=["planned", "forced-2"])
def test_plan_json_chunks_cover_history(repo: Path, chunk_args: list[str]) -> None:
    """`plan --json` has the budget keys, and its chunks cover [0, total) in order."""
    plan = plan_json(*chunk_args, repo)
    assert plan.keys() >= PLAN_KEYS
    ids = commit_list(repo)
    assert plan["total_commits"] == len(ids) == len(MAINLINE)
    position = 0
    for chunk in plan["chunks"]:
        assert chunk.keys() >= CHUNK_KEYS
        assert chunk["start"] == position < chunk["end"]
        assert chunk["first_commit"] == ids[chunk["start"]]
        assert chunk["last_commit"] == ids[chunk["end"] - 1]
        position = chunk["end"]
    assert position == plan["total_commits"]
    if chunk_args:
        assert plan["chunk_size"] == 2
        assert len(plan["chunks"]) == 4


def test_each_worker_counts_a_git_in_the_overhead(repo: Path) -> None:
    """`--workers 2` plans for two gits at once: P grows by one git's estimate, the plan and
    the run section say how many run, and both give the same result as one worker."""
    one = plan_json("--workers", "1", "--memory", "512MiB", repo)
    two = plan_json("--workers", "2", "--memory", "512MiB", repo)
    assert (one["workers"], two["workers"]) == (1, 2)
    assert two["overhead_bytes"] > one["overhead_bytes"] + 16 * 2**20
    results = []
    for workers in ("1", "2"):
        doc = analyze_json("--workers", workers, repo)
        assert doc["run"]["workers"] == int(workers)
        results.append(doc["analyzers"])
    assert results[0] == results[1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_plan_shows_each_gits_delta_cache_counted_in_p(repo: Path, workers: str) -> None:
    """The plan names each git's delta base cache: a sixteenth of a budget the chunks fill,
    never less than that or more than 1 GiB; the parts of the budget still add up to it."""
    mib = 2**20
    # The least budget that holds chunks of 800 commits (what plan names; P is measured, so it
    # moves by a few MiB between machines): nothing to spare for git there.
    forced = ("--workers", workers, "--chunk-size", "800")
    refused = run_cli("plan", *forced, "--memory", "64MiB", repo)
    least = re.search(r"use --memory (\d+MiB)", refused.stderr)
    assert refused.returncode == 2 and least, refused.stderr
    tight = plan_json(*forced, "--memory", least.group(1), repo)
    roomy = plan_json("--workers", workers, "--memory", "4GiB", repo)
    assert tight["git_delta_cache_bytes"] == delta_cache_for(tight["budget_bytes"]) == 16 * mib
    assert delta_cache_for(4096 * mib) <= roomy["git_delta_cache_bytes"] <= MAX_DELTA_CACHE
    assert roomy["overhead_bytes"] > int(workers) * roomy["git_delta_cache_bytes"]
    parts = ("overhead_bytes", "work_bytes", "agg_spill_bytes", "chunk_data_bytes", "slack_bytes")
    assert sum(roomy[k] for k in parts) == roomy["budget_bytes"]


# -- commit selection ------------------------------------------------------------------------


def _rev_count(repo: Path, *args: str) -> int:
    return int(git(repo, "rev-list", "--first-parent", "--count", *args).strip())


@pytest.mark.parametrize(
    "rev",
    ["HEAD~3..HEAD", "{0}..{4}", "{2}..HEAD", "{1}..{2}", "HEAD..HEAD~2"],
    ids=["relative", "ids", "from-side-branch", "to-side-branch", "empty"],
)
def test_rev_range_selects_like_git(history: tuple[Path, list[str]], rev: str) -> None:
    """`--rev A..B` selects as many commits as `git rev-list --first-parent A..B`."""
    repo, ids = history
    rev = rev.format(*ids)
    want = _rev_count(repo, rev)
    document = analyze_json("-a", "devs", "--rev", rev, repo)
    assert document["repository"]["commits"] == want
    assert sum(p["commits"] for p in document["analyzers"]["devs"]["people"]) == want


def _iso(t: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).isoformat()


@pytest.mark.parametrize(
    ("since", "until"),
    [(3, None), (None, 4), (3, 5), (6, 6), (8, None)],
    ids=["since", "until", "both", "one-commit", "none"],
)
def test_since_until_select_by_committer_time(
    repo: Path, since: int | None, until: int | None
) -> None:
    """--since/--until keep commits whose committer time is in range, bounds included, as git."""
    args: list[str] = []
    if since is not None:
        args += ["--since", _iso(_t(since))]
    if until is not None:
        args += ["--until", _iso(_t(until))]
    want = _rev_count(repo, *args, "HEAD")
    expected = [i for i in MAINLINE if (since or 0) <= i <= (until if until is not None else 99)]
    assert want == len(expected)  # the oracle itself agrees with the history's design
    assert analyze_json("-a", "devs", *args, repo)["repository"]["commits"] == want


# -- path filters and bare repositories ------------------------------------------------------


def _devs_lines(document: dict[str, Any]) -> tuple[int, int]:
    people = document["analyzers"]["devs"]["people"]
    return sum(p["added"] for p in people), sum(p["removed"] for p in people)


@pytest.mark.parametrize(
    ("args", "paths"),
    [
        (["--include", "*.py"], {"a.py", "src/b.py", "side.py"}),
        (["--include", "src/*"], {"src/b.py", "src/data.txt"}),
        (["--exclude", "docs/*"], {"a.py", "src/b.py", "side.py", "notes.txt", "src/data.txt"}),
        (["--include", "src/*", "--exclude", "*.txt"], {"src/b.py"}),
        (
            ["--include", "*.md", "--include", "notes.txt"],
            {"docs/guide.md", "docs/api.md", "notes.txt"},
        ),
    ],
    ids=["include-ext", "include-dir", "exclude-dir", "include-exclude", "two-includes"],
)
def test_path_filters(repo: Path, args: list[str], paths: set[str]) -> None:
    """--include/--exclude keep exactly the lines git counts for the matching paths."""
    numstat = numstat_by_path(repo)
    assert paths <= numstat.keys()
    want = (sum(numstat[p][0] for p in paths), sum(numstat[p][1] for p in paths))
    got = _devs_lines(analyze_json("-a", "devs", "--no-renames", *args, repo))
    assert got == want


def test_bare_repository(tmp_path: Path) -> None:
    """A bare repository is analysed like a work tree: same commits, same lines as git."""
    bare = tmp_path / "bare.git"
    build_repo(bare, HISTORY, bare=True)
    document = analyze_json("-a", "devs", "--chunk-size", "3", bare)
    assert document["repository"]["commits"] == len(MAINLINE)
    by_email = numstat_by_email(bare)
    got = {
        p["email"].lower(): (p["added"], p["removed"], p["commits"])
        for p in document["analyzers"]["devs"]["people"]
    }
    assert got == by_email
    assert plan_json(bare)["total_commits"] == len(MAINLINE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rev", "HEAD^{tree}"], "'HEAD^{tree}' names a tree, not a commit"),
        (["--rev", "nope"], "unknown revision 'nope': no branch, tag or commit has that name"),
        (["--rev", "nope..HEAD"], "unknown revision 'nope..HEAD': no branch, tag or commit"),
        (["--workers", "64"], "or fewer --workers: each of the 64 gits counts in the overhead"),
    ],
    ids=["tree", "unknown", "unknown-range-end", "too-many-workers"],
)
def test_refusals_name_the_cause_in_one_line(
    repo: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    """A revision that is not a commit, an unknown one, and a budget too small for the gits
    asked for: one line on stderr saying which, exit code 2."""
    done = run_cli("analyze", "-q", "-o", tmp_path / "r.json", *args, repo)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
