"""The continuous diff stream: the same records with git running ahead in a thread or not."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitrepo import build_repo

from gitstream.errors import GitstreamError
from gitstream.git.diff import DiffStage, _lower_priority, diff_tree_command
from gitstream.git.prefetch import (
    AHEAD_NICE,
    MAX_SEGMENT,
    MIN_PARALLEL_SEGMENT,
    MIN_SEGMENT,
    diff_stream,
    segment_size,
)
from gitstream.git.repo import (
    DIFF_MEMORY_FACTOR,
    GIT_GROWTH_PER_COMMIT,
    MAX_DELTA_CACHE,
    GitCaps,
    big_file_for,
    delta_cache_for,
    git_caps,
    git_dir,
    open_repository,
    pack_limit_for,
)
from gitstream.git.walk import CommitList, CommitMeta, select_commits
from gitstream.pipeline import _grown_caps
from gitstream.streaming.planner import MAX_CHUNK_SIZE
from gitstream.streaming.schedule import (
    Schedule,
    SchedulerConfig,
    compute_schedule,
    minimum_budget,
)
from gitstream.synth import SynthSpec
from gitstream.synth import build_repo as build_synth


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = SynthSpec(
        commits=400, files=50, seed=5, merge_every=17, rename_every=13, binary_every=23
    )
    return build_synth(tmp_path_factory.mktemp("prefetch") / "repo", spec)


@pytest.mark.parametrize("workers", [2, 3])
def test_prefetched_stream_equals_direct_stream(repo: Path, workers: int) -> None:
    """Segments of 37 commits, diffed by several gits through a 1-byte bound, give the records
    of the direct path, in order."""
    r = open_repository(repo)
    commits = select_commits(r).commits
    stage = DiffStage(git_dir(r))
    direct = list(diff_stream(stage, commits, segment=37, workers=1))
    ahead = list(diff_stream(stage, commits, segment=37, workers=workers, max_buffer_bytes=1))
    assert len(direct) == len(commits)
    assert ahead == direct
    assert [rec.index for rec in ahead] == list(range(len(commits)))


class _NiceSpy(DiffStage):
    """A real diff stage that notes the priority each segment's git was started with."""

    nices: list[int]

    @contextlib.contextmanager
    def spawn(self, metas: list[CommitMeta], *, nice: int = 0) -> Iterator[io.BufferedReader]:
        self.nices.append(nice)
        with super().spawn(metas, nice=nice) as out:
            yield out


def test_gits_ahead_of_the_parser_run_nicer(repo: Path) -> None:
    """The first segment's git runs at this process's priority; every git is started at it or
    :data:`AHEAD_NICE` lower; the records are the direct path's."""
    r = open_repository(repo)
    commits = select_commits(r).commits
    stage = _NiceSpy(git_dir(r))
    stage.nices = []
    records = list(diff_stream(stage, commits, segment=100, workers=2))
    assert records == list(diff_stream(DiffStage(git_dir(r)), commits, segment=100))
    assert len(stage.nices) == 4
    assert stage.nices[0] == 0
    assert set(stage.nices) <= {0, AHEAD_NICE}


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="POSIX priorities")
def test_lower_priority_makes_a_child_nicer_and_ignores_a_gone_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before = os.getpriority(os.PRIO_PROCESS, child.pid)
        _lower_priority(child.pid, 5)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == min(19, before + 5)
    finally:
        child.kill()
        child.wait()
    _lower_priority(child.pid, 5)  # reaped: nothing to do, no error


def test_consumer_stopping_early_ends_the_producer(repo: Path) -> None:
    """Closing the stream after a few records stops the prefetch thread and its git."""
    r = open_repository(repo)
    commits = select_commits(r).commits
    before = {t.name for t in threading.enumerate()}
    stream = diff_stream(DiffStage(git_dir(r)), commits, segment=50, workers=2)
    assert next(stream).index == 0
    stream.close()
    left = {t.name for t in threading.enumerate()} - before
    assert not {name for name in left if name.startswith("gitstream-diff")}


@pytest.mark.parametrize("workers", [1, 2])
def test_missing_commit_fails_the_stream(repo: Path, workers: int) -> None:
    """A commit git cannot find (it skips it silently) fails the stream clearly, not a hang."""
    r = open_repository(repo)
    bogus = CommitList()
    bogus.append(bytes.fromhex("ab" * 20), None, 0, 0, 0)
    bogus.set_ticks(0, 86_400)
    with pytest.raises(GitstreamError, match="skipped abab"):
        list(diff_stream(DiffStage(git_dir(r)), bogus, segment=10, workers=workers))


def test_segments_follow_the_budget_and_share_the_history_between_workers() -> None:
    """One git diffs what a 32nd of the budget holds of its growth, whatever the chunks;
    several workers cut the history so every git gets a share."""
    mib = 1 << 20
    assert segment_size(50_000, 1) == MAX_SEGMENT == 16_000
    assert segment_size(50_000, 1, 2048 * mib) == 16_000
    assert segment_size(50_000, 1, 256 * mib) == 2048
    assert segment_size(50_000, 1, 64 * mib) == MIN_SEGMENT == 1000
    assert segment_size(120, 1, 2048 * mib) == 120
    assert segment_size(16_800, 2, 2048 * mib) == 8400  # one segment per worker
    assert segment_size(50_000, 2, 2048 * mib) == 16_000  # unless the budget says less
    assert segment_size(300, 2) == MIN_PARALLEL_SEGMENT  # never tiny segments
    assert segment_size(0, 1) == 1


@pytest.mark.parametrize(
    ("budget", "cache_mib"),
    [(None, 1024), (128 << 20, 16), (256 << 20, 16), (512 << 20, 32), (1 << 30, 64), (8 << 30, 96)],
)
def test_gits_delta_cache_follows_the_budget(budget: int | None, cache_mib: int) -> None:
    """A sixteenth of the budget, between 16 MiB and git's own 96 MiB default, to start from
    (a budget with room to spare gives more: test_cli); the command line uses it."""
    cache = delta_cache_for(budget)
    assert cache == cache_mib << 20
    command = diff_tree_command("/r/.git", renames=True, caps=GitCaps(delta_cache=cache))
    assert f"core.deltaBaseCacheLimit={cache_mib}m" in command


@pytest.mark.parametrize(
    ("budget", "limit_mib"),
    [
        (None, 1024),
        (128 << 20, 64),
        (512 << 20, 64),
        (1 << 30, 128),
        (2 << 30, 256),
        (16 << 30, 1024),
    ],
)
def test_gits_pack_limit_follows_the_budget(budget: int | None, limit_mib: int) -> None:
    """An eighth of the budget, between 64 MiB and 1 GiB, on the command line."""
    assert pack_limit_for(budget) == limit_mib << 20
    caps = GitCaps(pack_limit=pack_limit_for(budget), pack_bytes=10 << 20)
    command = diff_tree_command("/r/.git", renames=True, caps=caps)
    assert f"core.packedGitLimit={limit_mib}m" in command


@pytest.mark.parametrize(
    ("budget", "big_mib"),
    [(None, None), (128 << 20, 1), (256 << 20, 1), (1 << 30, 4), (2 << 30, 8), (16 << 30, 16)],
)
def test_the_largest_file_git_diffs_follows_the_budget(budget: int | None, big_mib: int) -> None:
    """A 256th of the budget, 1 to 16 MiB, on the command line and ten times over in the
    estimate; without a budget git keeps its own threshold and the estimate counts none."""
    big = big_file_for(budget)
    caps = GitCaps(delta_cache=16 << 20, pack_bytes=0, big_file=big)
    command = diff_tree_command("/r/.git", renames=True, caps=caps)
    if big_mib is None:
        assert big is None and not any("bigFileThreshold" in a for a in command)
        assert caps.estimate(0) == GitCaps(delta_cache=16 << 20, pack_bytes=0).estimate(0)
        return
    assert big == big_mib << 20
    assert f"core.bigFileThreshold={big}" in command
    plain = GitCaps(delta_cache=16 << 20, pack_bytes=0)
    assert caps.estimate(0) - plain.estimate(0) == DIFF_MEMORY_FACTOR * big


def test_a_file_past_the_threshold_is_counted_binary(tmp_path: Path) -> None:
    """A 2.4 MB text file rewritten is diffed line by line under git's own threshold, and
    counted binary (no lines, as numstat's "-") past a 1 MiB one; the stage counts that change
    as oversized, and a small binary file's change as not."""
    lines = [f"line {i} {'z' * (i % 41)}\n" for i in range(100_000)]
    changed = sum(1 for i in range(100_000) if i % 41)
    build_repo(tmp_path, [
        {"files": {"big.txt": "".join(lines)}},
        {"files": {"big.txt": "".join(s.replace("z", "q") for s in lines)}},
        {"files": {"img.png": b"\x89PNG\x00\x01"}},
        {"files": {"img.png": b"\x89PNG\x00\x02"}},
    ])  # fmt: skip
    r = open_repository(tmp_path)
    commits = list(select_commits(r, "HEAD").commits.range(0, 4))

    def change(caps: GitCaps) -> tuple[bool, int, int]:
        (record,) = DiffStage(git_dir(r), caps=caps).records(commits[1:2])
        (fc,) = record.files
        return fc.binary, fc.added, fc.removed

    assert change(GitCaps()) == (False, changed, changed)
    assert change(GitCaps(big_file=1 << 20)) == (True, 0, 0)
    stage = DiffStage(git_dir(r), caps=GitCaps(big_file=1 << 20))
    records = list(stage.records(commits))
    assert [fc.binary for rec in records for fc in rec.files] == [True, True, True, True]
    assert stage.oversized == 2  # the addition and the rewrite of big.txt, not the image
    assert stage.largest_oversized == len("".join(lines))


def test_packs_that_fit_are_mapped_whole_and_others_through_windows() -> None:
    """Under the limit a pack is one window (16 MiB windows overlap, and count twice in RSS);
    over it, 16 MiB windows, which git keeps under the limit."""
    mib = 1 << 20
    fits = GitCaps(
        delta_cache=32 * mib, pack_limit=128 * mib, pack_bytes=100 * mib, index_bytes=mib
    )
    assert fits.whole_packs
    assert "core.packedGitWindowSize=128m" in fits.args()
    assert fits.estimate(0) == (12 + 1 + 100 + 32) * mib
    assert fits.estimate(1000) == fits.estimate(0) + 1000 * GIT_GROWTH_PER_COMMIT
    over = GitCaps(delta_cache=32 * mib, pack_limit=64 * mib, pack_bytes=100 * mib, index_bytes=mib)
    assert not over.whole_packs
    assert "core.packedGitWindowSize=16m" in over.args()
    assert over.estimate(0) == (12 + 1 + 64 + 32) * mib


def test_caps_read_the_repository_packs(repo: Path, tmp_path: Path) -> None:
    """git_caps counts the .pack and .idx files; a repository without packs maps nothing."""
    import shutil
    import subprocess

    packed = tmp_path / "packed"
    shutil.copytree(repo, packed)
    subprocess.run(["git", "-C", str(packed), "repack", "-adq"], check=True)
    pack_dir = Path(git_dir(open_repository(packed))) / "objects" / "pack"
    caps = git_caps(open_repository(packed), 512 << 20)
    assert caps.pack_bytes == sum(p.stat().st_size for p in pack_dir.glob("*.pack")) > 0
    assert caps.index_bytes == sum(p.stat().st_size for p in pack_dir.glob("*.idx")) > 0
    assert (caps.delta_cache, caps.pack_limit) == (32 << 20, 64 << 20)
    loose = tmp_path / "loose"
    subprocess.run(["git", "init", "-q", str(loose)], check=True)
    assert git_caps(open_repository(loose), None).pack_bytes == 0


def _schedule(budget_mib: int, commits: int = 20_000) -> Schedule:
    # 300 MiB of overhead and 20 KiB of working state a commit: 3000-commit chunks at the full
    # buffering factor need about 0.5 GiB of budget
    return compute_schedule(
        SchedulerConfig(
            total_commits=commits,
            budget_bytes=budget_mib << 20,
            overhead_bytes=300 << 20,
            work_growth_per_commit=20 << 10,
        )
    )


def test_a_budget_with_room_to_spare_grows_gits_delta_cache() -> None:
    """Half the spare beyond the analyzers' largest chunks goes to the gits' caches, shared
    between them, up to what the packs can use (16x their size) and 1 GiB each."""
    mib = 1 << 20
    big_packs = GitCaps(delta_cache=96 * mib, pack_bytes=200 * mib)
    roomy = _schedule(2048)
    spare = roomy.budget_bytes - minimum_budget(  # type: ignore[operator]
        roomy.overhead_bytes, roomy.work_growth_per_commit, 0, MAX_CHUNK_SIZE * 2
    )
    one = _grown_caps(big_packs, roomy, 1)
    two = _grown_caps(big_packs, roomy, 2)
    assert one.delta_cache == (96 * mib + spare // 2) // mib * mib
    assert two.delta_cache == (96 * mib + spare // 4) // mib * mib
    assert _grown_caps(big_packs, _schedule(16 * 1024), 1).delta_cache == MAX_DELTA_CACHE
    # a small repository's packs cannot use more: 16x a 4 MiB pack
    small_packs = GitCaps(delta_cache=16 * mib, pack_bytes=4 * mib)
    assert _grown_caps(small_packs, roomy, 1).delta_cache == 64 * mib
    # a budget the chunks fill gives nothing more
    assert _grown_caps(big_packs, _schedule(512), 1) is big_packs


def test_grown_caps_keep_the_analyzers_chunks_whole() -> None:
    """Re-planned with the grown caches counted in P, the chunks stay at their largest."""
    mib = 1 << 20
    caps = GitCaps(delta_cache=96 * mib, pack_bytes=200 * mib)
    for budget, workers in ((1024, 1), (2048, 1), (2048, 2), (4096, 2)):
        base = _schedule(budget)
        grown = _grown_caps(caps, base, workers)
        extra = workers * (grown.delta_cache - caps.delta_cache)
        again = compute_schedule(
            SchedulerConfig(
                total_commits=base.total_commits,
                budget_bytes=base.budget_bytes,
                overhead_bytes=base.overhead_bytes + extra,
                work_growth_per_commit=base.work_growth_per_commit,
            )
        )
        assert (again.chunk_size, again.buffering_factor) == (
            base.chunk_size,
            base.buffering_factor,
        )
