"""Tests of ``gitstream.synth``, the synthetic history generator, checked with git itself.

One small history with every feature switched on is built per module and asked about by the
git CLI (through ``tests/gitrepo.py``); a larger build is marked slow.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import re
import statistics
from pathlib import Path

import pytest
from gitrepo import cochange_counts, commit_list, git, git_bytes, lines_at_rev, log_numstat

from gitstream.synth import (
    MAINLINE,
    SynthSpec,
    SynthStats,
    build_repo,
    main,
    read_manifest,
    write_fast_import,
)

EVERYTHING = SynthSpec(
    commits=400,
    files=60,
    authors=10,
    seed=7,
    merge_every=10,
    rename_every=7,
    delete_every=9,
    binary_every=11,
    empty_every=13,
    big_commit_every=50,
    big_commit_files=20,
    couple_groups=3,
    out_of_order_every=37,
)
REAL_SIZED = SynthSpec.real_sized(600, 150, seed=2)
"""Small enough to build in a few seconds, long enough to ramp up (first 40%) and edit after."""
HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def stream(spec: SynthSpec) -> tuple[bytes, SynthStats]:
    out = io.BytesIO()
    stats = write_fast_import(spec, out)
    return out.getvalue(), stats


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthStats]:
    path = build_repo(tmp_path_factory.mktemp("synth") / "repo", EVERYTHING)
    recorded = read_manifest(path)
    assert recorded is not None
    return path, recorded[1]


@pytest.fixture
def repo(built: tuple[Path, SynthStats]) -> Path:
    return built[0]


@pytest.fixture
def stats(built: tuple[Path, SynthStats]) -> SynthStats:
    return built[1]


def first_parent_changes(repo: Path) -> list[tuple[str, list[str]]]:
    """(commit id, touched paths) along the mainline, newest first, merges diffed to parent 1."""
    return [(header[0], [line[3] for line in lines]) for header, lines in log_numstat(repo, "HEAD")]


def test_stream_is_deterministic_for_a_seed() -> None:
    """The same spec gives the same bytes; another seed gives other bytes."""
    first, stats = stream(EVERYTHING)
    assert stream(EVERYTHING) == (first, stats)
    assert stream(dataclasses.replace(EVERYTHING, seed=8))[0] != first
    assert stats.stream_bytes == len(first)


def test_spec_rejects_bad_values() -> None:
    """Negative periods and a history without commits are refused."""
    with pytest.raises(ValueError, match="merge_every"):
        SynthSpec(merge_every=-1)
    with pytest.raises(ValueError, match="commits"):
        SynthSpec(commits=0)
    with pytest.raises(ValueError, match="file_lines"):
        SynthSpec(file_lines=200)  # above the classic max_lines of 40
    with pytest.raises(ValueError, match="line_width"):
        SynthSpec(line_width=8)


def test_repository_passes_fsck(repo: Path) -> None:
    """``git fsck --strict`` finds nothing wrong with the imported objects."""
    git(repo, "fsck", "--strict", "--no-progress")


def test_head_is_the_only_branch(repo: Path) -> None:
    """HEAD points to the mainline and the scratch side branch is gone."""
    assert git(repo, "symbolic-ref", "HEAD").strip() == MAINLINE
    assert git(repo, "for-each-ref", "--format=%(refname)").split() == [MAINLINE]
    assert git(repo, "status", "--porcelain") == ""


def test_commit_counts_match_stats(repo: Path, stats: SynthStats) -> None:
    """The full, first-parent and merge counts are what the generator reported."""
    assert stats.commits == EVERYTHING.commits
    assert len(commit_list(repo, first_parent=False)) == stats.commits
    assert len(commit_list(repo)) == stats.first_parent_commits
    assert int(git(repo, "rev-list", "--merges", "--count", "HEAD")) == stats.merges > 0
    assert stats.first_parent_commits < stats.commits


def test_merges_bring_side_branch_changes(repo: Path) -> None:
    """Each merge's first-parent diff is not empty: it carries the side branch's work."""
    merges = set(git(repo, "rev-list", "--merges", "HEAD").split())
    touched = {commit: paths for commit, paths in first_parent_changes(repo)}
    assert merges and all(touched[m] for m in merges)


def test_renames_are_detected_by_git(repo: Path, stats: SynthStats) -> None:
    """git's rename detection finds every rename, some of them moves between directories."""
    renames = [
        (old, new)
        for _, lines in log_numstat(repo, renames=True)
        for _, _, old, new in lines
        if old is not None
    ]
    assert len(renames) == stats.renames > 0
    assert any(old.rpartition("/")[0] != new.rpartition("/")[0] for old, new in renames)


def test_binary_changes_count_no_lines(repo: Path, stats: SynthStats) -> None:
    """Binary blobs hold NUL bytes, so git's numstat shows them as ``-``."""
    raw = git_bytes(repo, "log", "--first-parent", "--numstat", "--format=")
    assert raw.count(b"-\t-\t") == stats.binary_changes > 0


def test_empty_commits(repo: Path, stats: SynthStats) -> None:
    """Empty commits change no file."""
    empty = [commit for commit, paths in first_parent_changes(repo) if not paths]
    assert len(empty) == stats.empty_commits > 0


def test_big_commits_touch_many_files(repo: Path, stats: SynthStats) -> None:
    """Each big commit edits ``big_commit_files`` files at once; no other commit comes close."""
    sizes = [len(paths) for _, paths in first_parent_changes(repo)]
    big = [n for n in sizes if n >= EVERYTHING.big_commit_files]
    assert len(big) == stats.big_commits > 0


def test_couple_groups_change_together(repo: Path) -> None:
    """Files of a couple group share many more commits than random pairs do."""
    pairs, _ = cochange_counts(repo, max_files=EVERYTHING.big_commit_files - 1)
    top = sorted(pairs.values(), reverse=True)
    assert top[0] >= 10
    assert top[len(top) // 2] <= 2


def test_edits_make_every_kind_of_hunk(repo: Path) -> None:
    """Zero-context hunks include inserts (at the top too), deletions and replacements."""
    patch = git_bytes(repo, "log", "--first-parent", "-p", "-U0", "--format=", "-n", "150")
    kinds = set()
    for old_start, old_len, _new_start, new_len in HUNK.findall(patch):
        old_n = 1 if old_len == b"" else int(old_len)
        new_n = 1 if new_len == b"" else int(new_len)
        if old_n == 0:
            kinds.add("insert at top" if old_start == b"0" else "insert")
        elif new_n == 0:
            kinds.add("delete")
        else:
            kinds.add("replace")
    assert kinds == {"insert at top", "insert", "delete", "replace"}


def test_edge_identities(repo: Path) -> None:
    """Authors include a latin-1 name, emails differing by case and one person's two emails."""
    authors = set(git(repo, "log", "--format=%an <%ae> %e", "HEAD").splitlines())
    assert "José Müller <jose@example.com> iso-8859-1" in authors
    assert {"Ann Lee <ann@example.com> ", "Ann Lee <Ann@Example.COM> "} <= authors
    assert {"Bob Stone <bob@example.com> ", "Bob Stone <bob.stone@work.example> "} <= authors
    raw = git_bytes(repo, "log", "--format=%H", "--author=jose@example.com", "-n1").strip()
    assert "José Müller".encode("latin-1") in git_bytes(repo, "cat-file", "commit", raw.decode())


def test_mailmap_is_committed_and_maps_an_alias(repo: Path) -> None:
    """The mainline's ``.mailmap`` maps the alias to its canonical identity."""
    assert ".mailmap" in lines_at_rev(repo)
    mapped = git(repo, "check-mailmap", "Robert Stone <rstone@old.example>").strip()
    assert mapped == "Bob Stone <bob@example.com>"
    assert "Robert Stone" in git(repo, "log", "--format=%an")


def test_edge_paths(repo: Path) -> None:
    """Paths with spaces and non-ASCII characters exist, and a file lacks its final newline."""
    text = lines_at_rev(repo)
    assert any(" " in path for path in text)
    assert any(not path.isascii() for path in text)
    tails = {(repo / path).read_bytes()[-1:] for path, lines in text.items() if lines}
    assert b"\n" in tails and len(tails) > 1
    assert text["docs/EMPTY"] == 0


def test_out_of_order_times(repo: Path, stats: SynthStats) -> None:
    """With the flag, some commits are older than their first parent; times otherwise grow."""
    times = [int(t) for t in git(repo, "log", "--first-parent", "--format=%ct").split()][::-1]
    backwards = sum(1 for a, b in itertools.pairwise(times) if b < a)
    assert 0 < backwards <= stats.out_of_order_commits


def test_live_file_count(repo: Path, stats: SynthStats) -> None:
    """The tip holds about ``files`` files, as the stats say."""
    tracked = git_bytes(repo, "ls-files", "-z").count(b"\0")
    assert tracked == stats.live_files
    assert EVERYTHING.files <= tracked <= EVERYTHING.files * 1.3


def test_plain_spec_has_no_edge_cases(tmp_path: Path) -> None:
    """``SynthSpec.plain`` gives a linear history with ASCII identities and no .mailmap."""
    repo = build_repo(tmp_path / "plain", SynthSpec.plain(60, 10), bare=True)
    assert int(git(repo, "rev-list", "--merges", "--count", "HEAD")) == 0
    assert set(git(repo, "log", "--format=%an|%e").splitlines()) == {
        f"Dev 00{k}|" for k in (1, 2, 3)
    }
    assert all(path.isascii() for path in lines_at_rev(repo))
    assert ".mailmap" not in lines_at_rev(repo)


def test_manifest_and_reuse(tmp_path: Path) -> None:
    """The spec is recorded; ``reuse`` keeps a repository built from the same spec."""
    spec = SynthSpec.plain(20, 5)
    repo = build_repo(tmp_path / "r", spec)
    head = git(repo, "rev-parse", "HEAD")
    recorded = read_manifest(repo)
    assert recorded is not None and recorded[0] == spec
    assert build_repo(repo, spec, reuse=True) == repo
    assert git(repo, "rev-parse", "HEAD") == head
    with pytest.raises(FileExistsError):
        build_repo(repo, dataclasses.replace(spec, seed=1), reuse=True)


def test_cli_builds_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m gitstream.synth`` builds the repository and prints what it holds."""
    argv = [str(tmp_path / "cli"), "--commits", "30", "--files", "8", "--merge-every", "5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"built {tmp_path / 'cli'}") and "30 commits" in out
    assert int(git(tmp_path / "cli", "rev-list", "--count", "HEAD")) == 30


def test_cli_builds_real_sized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--real-sized`` starts from ``SynthSpec.real_sized``; other flags still override it."""
    argv = [str(tmp_path / "cli"), "--real-sized", "--commits", "40", "--files", "10", "--bare"]
    assert main(argv) == 0
    assert "40 commits" in capsys.readouterr().out
    recorded = read_manifest(tmp_path / "cli")
    assert recorded is not None
    assert recorded[0] == SynthSpec.real_sized(40, 10)


def test_realistic_history_imports_cleanly(tmp_path: Path) -> None:
    """A 3k-commit realistic history passes fsck with the counts the generator reports."""
    check_counts(build_repo(tmp_path / "r", SynthSpec.realistic(3000, 800, seed=3), bare=True))


@pytest.mark.slow
def test_benchmark_sized_history_imports_cleanly(tmp_path: Path) -> None:
    """The 20k-commit, 5k-file history the benchmarks use passes fsck with the reported counts."""
    check_counts(build_repo(tmp_path / "r", SynthSpec.realistic(20_000, 5000, seed=1), bare=True))


def check_counts(repo: Path) -> None:
    recorded = read_manifest(repo)
    assert recorded is not None
    spec, stats = recorded
    git(repo, "fsck", "--strict", "--no-progress")
    assert int(git(repo, "rev-list", "--count", "HEAD")) == stats.commits == spec.commits
    fp_count = int(git(repo, "rev-list", "--first-parent", "--count", "HEAD"))
    assert fp_count == stats.first_parent_commits < stats.commits
    tracked = git_bytes(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").count(b"\0")
    assert tracked == stats.live_files
    assert spec.files <= tracked <= spec.files * 1.1


# -- real-sized content ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_sized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(tmp_path_factory.mktemp("synth") / "real", REAL_SIZED, bare=True)


def test_real_sized_is_realistic_with_content_sizes() -> None:
    """``real_sized`` changes the content fields only; the classic specs leave them off."""
    realistic = SynthSpec.realistic(600, 150, seed=2)
    content = {"file_lines", "max_lines", "hunk_lines", "line_width"}
    changed = {
        f.name
        for f in dataclasses.fields(SynthSpec)
        if getattr(REAL_SIZED, f.name) != getattr(realistic, f.name)
    }
    assert changed == content
    assert (realistic.file_lines, realistic.hunk_lines, realistic.line_width) == (0, 0, 0)


def test_real_sized_stream_is_deterministic() -> None:
    """Same spec, same bytes; another seed, other bytes; far more bytes than the classic spec."""
    first, stats = stream(REAL_SIZED)
    assert stream(REAL_SIZED) == (first, stats)
    assert stream(dataclasses.replace(REAL_SIZED, seed=3))[0] != first
    classic, _ = stream(SynthSpec.realistic(600, 150, seed=2))
    assert len(first) > 10 * len(classic)


def test_real_sized_history_imports_cleanly(real_sized: Path) -> None:
    """fsck passes and the counts are the ones the generator reports."""
    check_counts(real_sized)


def test_real_sized_file_lengths(real_sized: Path) -> None:
    """Files at HEAD: a median of about 200 lines, a mean about twice that, a long tail."""
    lengths = sorted(n for path, n in lines_at_rev(real_sized).items() if path != "docs/EMPTY")
    assert 130 <= statistics.median(lengths) <= 330
    assert 1.4 * statistics.median(lengths) <= statistics.mean(lengths) <= 900
    assert lengths[0] < 60 and lengths[-1] > 1000


def test_real_sized_lines_look_like_code(real_sized: Path) -> None:
    """Lines are 20-60 characters wide on average, mostly unique, with repeated short ones."""
    paths = sorted(p for p, n in lines_at_rev(real_sized).items() if n > 0)[:20]
    lines = [
        line
        for path in paths
        for line in git_bytes(real_sized, "cat-file", "blob", f"HEAD:{path}").split(b"\n")
    ]
    widths = [len(line) for line in lines if line.strip()]
    assert 20 <= statistics.mean(widths) <= 60
    assert min(widths) < 10 and max(widths) > 50
    assert 0.8 <= len(set(lines)) / len(lines) < 1.0


def test_real_sized_commit_sizes(real_sized: Path) -> None:
    """After the ramp, commits change a median of tens of lines, with a heavy tail."""
    sizes = [sum(a + r for a, r, _, _ in lines) for _, lines in log_numstat(real_sized)]
    after_ramp = sizes[: int(0.6 * len(sizes))]  # newest first
    median = statistics.median(after_ramp)
    assert 8 <= median <= 60
    assert statistics.mean(after_ramp) >= 1.3 * median
    assert max(after_ramp) >= 10 * median
    assert statistics.mean(sizes) > statistics.mean(after_ramp)  # the ramp adds whole files


def test_real_sized_renames_keep_similarity(real_sized: Path) -> None:
    """git's rename detection still finds every rename, edited ones included."""
    recorded = read_manifest(real_sized)
    assert recorded is not None
    renames = [
        old for _, lines in log_numstat(real_sized, renames=True) for *_, old, _ in lines if old
    ]
    assert len(renames) == recorded[1].renames > 0
