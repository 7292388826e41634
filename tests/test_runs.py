"""Tests for sorted spill runs, their k-way merge and the lineage table (gitstream.analyzers._runs)."""

from __future__ import annotations

import itertools
import random
import sys
import tracemalloc
from array import array
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitstream.analyzers._runs import (
    BLOCK_ENTRIES,
    KEYMAP_SLICE_BYTES,
    MAX_FAN_IN,
    READER_BYTES,
    ROUND_BYTES,
    SORTED_COPY_BYTES,
    Counts,
    Lineages,
    SortedCounts,
    Stamps,
    Tallies,
    expand,
    fan_in_for,
    merge,
    merge_blocks,
    read_blocks,
    read_run,
    split_keys,
    write_run,
)
from gitstream.errors import SpillError
from gitstream.records import FileChange, Status
from gitstream.streaming.spill import SpillStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SpillStore]:
    s = SpillStore.create(tmp_path)
    yield s
    s.remove()


def test_run_round_trip_over_several_blocks(store: SpillStore) -> None:
    """A run of more entries than one block reads back exactly, values and blobs included."""
    entries = [(k * 3, (k, -k), bytes([k % 256]) * 4) for k in range(BLOCK_ENTRIES * 2 + 5)]
    assert write_run(store, "r", iter(entries), width=2, blob=4) == len(entries)
    assert list(read_run(store, "r")) == entries


def test_run_rejects_entries_of_the_wrong_shape(store: SpillStore) -> None:
    """Entries whose values or blob do not match the declared widths are refused."""
    with pytest.raises(ValueError, match="width"):
        write_run(store, "r", iter([(1, (1, 2), b"")]), width=1, blob=0)


def test_malformed_block_is_a_spill_error(store: SpillStore) -> None:
    """A block whose length disagrees with its header is reported, not misread."""
    with store.open_records("r") as writer:
        writer.write(b"\x02\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(SpillError, match="malformed"):
        list(read_run(store, "r"))


def test_merge_sums_equal_keys_or_keeps_the_smallest() -> None:
    """Additive merges sum equal keys; the others keep the smallest entry whatever the order."""
    a = [(1, (1,), b""), (3, (2,), b"")]
    b = [(1, (5,), b""), (2, (1,), b"")]
    assert list(merge([iter(a), iter(b)], additive=True)) == [
        (1, (6,), b""),
        (2, (1,), b""),
        (3, (2,), b""),
    ]
    x = [(7, (), b"zz")]
    y = [(7, (), b"aa")]
    assert list(merge([iter(x), iter(y)], additive=False)) == [(7, (), b"aa")]
    assert list(merge([iter(y), iter(x)], additive=False)) == [(7, (), b"aa")]


def test_merge_of_nothing_is_empty() -> None:
    """Merging one empty stream yields nothing."""
    assert list(merge([iter([])], additive=True)) == []


@settings(max_examples=30)
@given(
    st.lists(st.tuples(st.integers(0, 2**40), st.integers(1, 5)), max_size=300),
    st.integers(1, 60),
    st.integers(2, 5),
)
def test_counts_spilled_in_any_runs_merge_to_the_plain_sum(
    adds: list[tuple[int, int]], every: int, fan_in: int
) -> None:
    """Counts spilled every few adds and merged with any fan-in equal one in-memory sum."""
    s = SpillStore.create()
    try:
        counts = Counts(s, "c")
        expected: dict[int, int] = {}
        for n, (key, value) in enumerate(adds, 1):
            counts.counts[key] += value
            expected[key] = expected.get(key, 0) + value
            if n % every == 0:
                counts.spill()
        got = [(k, v[0]) for k, v, _ in counts.items(fan_in)]
        assert got == sorted(expected.items())
        assert len(counts.runs) <= fan_in
        assert [(k, v[0]) for k, v, _ in counts.items(fan_in)] == got  # re-iterable
    finally:
        s.remove()


def test_tallies_add_per_column_across_runs(store: SpillStore) -> None:
    """Tallies add each column separately, in memory and across runs."""
    t = Tallies(store, "t", 3)
    t.add(5, (1, 2, 1))
    t.spill()
    t.add(5, (10, 0, 1))
    t.add(2, (0, 7, 1))
    assert list(t.items()) == [(2, (0, 7, 1), b""), (5, (11, 2, 2), b"")]


def test_stamps_keep_the_smallest_duplicate_however_spilled(store: SpillStore) -> None:
    """A key recorded twice keeps the same blob whether or not the two were spilled apart."""
    together = Stamps(store, "a", blob=2)
    together.add(1, b"zz")
    together.add(1, b"aa")
    apart = Stamps(store, "b", blob=2)
    apart.add(1, b"zz")
    apart.spill()
    apart.add(1, b"aa")
    assert list(together.items()) == list(apart.items()) == [(1, (), b"aa")]


def test_stamps_refuse_blobs_of_another_width(store: SpillStore) -> None:
    """Commit ids of different lengths in one history are an error, not silent truncation."""
    s = Stamps(store, "s", blob=20)
    with pytest.raises(ValueError, match="same length"):
        s.add(1, b"x" * 32)


def test_rekey_drops_negative_keys_and_sums_collisions(store: SpillStore) -> None:
    """Re-keying maps every entry, drops those mapped below 0 and adds those that meet."""
    c = Counts(store, "c")
    c.counts.update({1: 1, 2: 2, 3: 3, 4: 4})
    c.spill()
    c.counts.update({1: 10})

    def parity(keys: np.ndarray) -> np.ndarray:
        return np.array([-1 if k == 4 else k % 2 for k in keys.tolist()], dtype=np.int64)

    out = c.rekey("c2", parity, budget=1, fan_in=2)
    assert out.runs  # the 1-byte budget forced runs
    assert [(k, v) for k, v, _ in out.items()] == [(0, (2,)), (1, (14,))]


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({1: 7, 2: 5, 3: 6}, [(5, 2), (6, 3), (7, 1)]),  # distinct
        ({1: 7, 2: 7, 3: 6}, [(6, 3), (7, 3)]),  # two meet: added
        ({1: 7, 2: -1, 3: 6}, [(6, 3), (7, 1)]),  # one dropped
    ],
)
def test_in_memory_rekey_matches_the_spilled_one(
    store: SpillStore, mapping: dict[int, int], expected: list[tuple[int, int]]
) -> None:
    """With nothing spilled and room, re-keying is done in memory (a SortedCounts), with the
    same result; re-keyed again, or spilled, it still reads the same."""

    def remap(keys: np.ndarray) -> np.ndarray:
        return np.array([mapping[k] for k in keys.tolist()], dtype=np.int64)

    for budget, spilled in ((0, False), (1, True)):
        c = Counts(store, f"c{budget}")
        c.counts.update({1: 1, 2: 2, 3: 3})
        if spilled:
            c.spill()
        out = c.rekey(f"o{budget}", remap, budget=budget, fan_in=2)
        assert bool(out.runs) == spilled
        assert isinstance(out, SortedCounts)
        assert [(k, v) for k, (v,), _ in out.items()] == expected
        same = out.rekey(f"s{budget}", lambda keys: keys, budget=1, fan_in=2)
        assert [(k, v) for k, (v,), _ in same.items()] == expected
        out.spill()
        assert [(k, v) for k, (v,), _ in out.items()] == expected


def test_spilled_rekey_writes_sorted_runs_as_the_budget_fills(store: SpillStore) -> None:
    """A spilled Counts is re-keyed a merged block at a time into arrays, written as a sorted
    run whenever they would fill the budget: the same counts as an oracle, in several runs."""
    rng = random.Random(7)
    c = Counts(store, "c")
    want: Counter[int] = Counter()
    for part in range(3):
        for _ in range(6000):
            key = rng.randrange(1, 3000) << 32 | rng.randrange(0, 3000)
            c.counts[key] += 1
        if part < 2:
            c.spill()
    for key, (n,), _ in c.items():
        hi, lo = key >> 32, key & 0xFFFFFFFF
        if hi % 5:
            want[hi // 3 << 32 | lo // 3] += n

    def fold(keys: np.ndarray) -> np.ndarray:
        hi, lo = split_keys(keys)
        new: np.ndarray = np.where(hi % 5 == 0, -1, hi // 3 << 32 | lo // 3)
        return new

    budget = 4000 * SORTED_COPY_BYTES + KEYMAP_SLICE_BYTES
    out = c.rekey("o", fold, budget=budget, fan_in=2)
    assert isinstance(out, SortedCounts)
    assert len(out.runs) >= 2
    assert len(out) * SORTED_COPY_BYTES + KEYMAP_SLICE_BYTES <= budget
    got = [(k, v) for k, (v,), _ in out.items()]
    assert got == sorted(want.items())


@pytest.mark.parametrize("kind", ["counts", "stamps"])
def test_merges_of_merges_keep_blocks_small(store: SpillStore, kind: str) -> None:
    """Compacting many runs two at a time writes blocks of at most BLOCK_ENTRIES, level after
    level: a merge round's output written whole once doubled at every level, until the
    last merge held whole runs in memory (330 MB for 1000 runs of 2000 pair counts)."""
    rng = random.Random(11)
    acc: Counts | Stamps = Counts(store, "c") if kind == "counts" else Stamps(store, "s", blob=4)
    want: dict[int, object] = {}
    for _ in range(64):
        for _ in range(BLOCK_ENTRIES // 2):
            key = rng.randrange(0, 40 * BLOCK_ENTRIES)
            if isinstance(acc, Counts):
                acc.counts[key] += 1
                want[key] = int(want.get(key, 0)) + 1  # type: ignore[call-overload]
            else:
                stamp = rng.randrange(1 << 32).to_bytes(4, "big")
                acc.add(key, stamp)
                want[key] = min(want.get(key, stamp), stamp)  # type: ignore[type-var]
        acc.spill()
    sizes = [len(keys) for keys, _, _ in acc.blocks(2)]
    assert len(acc.runs) <= 2 and max(sizes) <= BLOCK_ENTRIES
    for run in acc.runs:
        assert max(len(keys) for keys, _, _ in read_blocks(store, run)) <= BLOCK_ENTRIES
    got = {k: (v[0] if isinstance(acc, Counts) else raw) for k, v, raw in acc.items(2)}
    assert got == want


def test_discard_deletes_the_runs(store: SpillStore) -> None:
    """discard() removes the run files and the in-memory entries."""
    c = Counts(store, "c")
    c.counts[1] += 1
    c.spill()
    paths = [store.path(r) for r in c.runs]
    c.counts[2] += 1
    c.discard()
    assert not any(p.exists() for p in paths)
    assert list(c.items()) == []


def test_fan_in_follows_the_budget() -> None:
    """Half the budget pays for open readers, between 2 and the maximum fan-in."""
    assert fan_in_for(0) == MAX_FAN_IN
    assert fan_in_for(1) == 2
    assert fan_in_for(20 * READER_BYTES) == 10
    assert fan_in_for(10**12) == MAX_FAN_IN


def test_counts_nbytes_matches_tracemalloc() -> None:
    """Counts.nbytes is within 10% of what tracemalloc sees for realistic pair keys."""
    rng = random.Random(1)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        c = Counts(SpillStore(Path("/nonexistent")), "c")
        for _ in range(50_000):
            a = rng.randrange(1, 20_000)
            c.counts[a << 32 | rng.randrange(a + 1, 40_000)] += 1
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert abs(c.nbytes() - used) / used < 0.10


def test_in_memory_rekey_stays_within_its_estimate() -> None:
    """An in-memory Counts.rekey allocates at most SORTED_COPY_BYTES an entry on top of the
    Counts it reads, and the SortedCounts it makes holds what its nbytes says."""
    rng = random.Random(3)
    c = Counts(SpillStore(Path("/nonexistent")), "c")
    for _ in range(50_000):
        a = rng.randrange(1, 20_000)
        c.counts[a << 32 | rng.randrange(a + 1, 40_000)] += 1

    def half(keys: np.ndarray) -> np.ndarray:  # many keys meet, some are dropped
        hi, lo = split_keys(keys)
        new: np.ndarray = np.where(hi % 7 == 0, -1, hi // 2 << 32 | lo // 2)
        return new

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        room = len(c) * SORTED_COPY_BYTES + KEYMAP_SLICE_BYTES
        out = c.rekey("o", half, budget=room, fan_in=2)
        held, peak = (m - before for m in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert isinstance(out, SortedCounts)
    assert peak <= room, f"{(peak - KEYMAP_SLICE_BYTES) / len(c):.0f} bytes an entry"
    assert abs(held - out.nbytes()) <= 4096
    want: Counter[int] = Counter()
    for key, n in c.counts.items():
        hi, lo = key >> 32, key & 0xFFFFFFFF
        if hi % 7:
            want[hi // 2 << 32 | lo // 2] += n
    assert [(k, v) for k, (v,), _ in out.items()] == sorted(want.items())


def test_tallies_and_stamps_nbytes_match_tracemalloc() -> None:
    """Tallies.nbytes and Stamps.nbytes are within 15% of tracemalloc's figures."""
    rng = random.Random(2)
    for kind in ("tallies", "stamps"):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            acc: Tallies | Stamps
            if kind == "tallies":
                acc = Tallies(SpillStore(Path("/nonexistent")), "t", 3)
                for _ in range(30_000):
                    acc.add(rng.randrange(1, 5_000) << 32 | rng.randrange(40), (3, 1, 1))
            else:
                acc = Stamps(SpillStore(Path("/nonexistent")), "s", blob=20)
                for i in range(30_000):
                    acc.add(rng.randrange(1, 5_000) << 32 | i, rng.randbytes(20))
            used = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert abs(acc.nbytes() - used) / used < 0.15, kind


@pytest.mark.parametrize("kind", ["counts", "tallies"])
def test_merge_memory_does_not_grow_with_the_runs(store: SpillStore, kind: str) -> None:
    """Streaming a merge of 8 runs allocates at most 8 runs' round share, however long the
    runs are: twice the entries, the same peak."""
    peaks = []
    for length in (20_000, 40_000):
        acc: Counts | Tallies
        if kind == "counts":
            acc = Counts(store, f"c{length}")
        else:
            acc = Tallies(store, f"t{length}", 3)
        for r in range(8):
            for k in range(length):
                acc.add_entry(k * 8 + r, (1, 2, 3)[: acc.width], b"")
            acc.spill()
        tracemalloc.start()
        try:
            n = sum(1 for _ in acc.items(8))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert n == 8 * length
    assert max(peaks) < 8 * ROUND_BYTES  # the longer runs alone would be ~40 MiB as a dict
    assert peaks[1] < 1.25 * peaks[0]


def add(path: str) -> FileChange:
    return FileChange.for_test(path, status=Status.ADDED)


def test_lineages_follow_rename_chains_and_reuse_of_names() -> None:
    """A rename chain keeps one lineage; a name created again after it moved is a new one."""
    t = Lineages(1)
    a = t.touch(add("a"))
    assert t.touch(FileChange.for_test("b", status=Status.RENAMED, old_path="a")) == a
    assert t.touch(FileChange.for_test("c", status=Status.RENAMED, old_path="b")) == a
    again = t.touch(add("a"))
    assert again != a
    assert t.touch(FileChange.for_test("c", status=Status.DELETED)) == a
    assert t.names == ["c", "a"]
    assert t.alive == {"a": again}


def test_lineages_create_what_they_never_saw() -> None:
    """Changes to paths never added (history cut by --since) start lineages of their own."""
    t = Lineages(0)
    m = t.touch(FileChange.for_test("m"))
    d = t.touch(FileChange.for_test("d", status=Status.DELETED))
    r = t.touch(FileChange.for_test("new", status=Status.RENAMED, old_path="old"))
    assert (m, d, r) == (0, 1, 2)
    assert t.alive == {"m": 0, "new": 2}


def test_lineages_save_and_load_exactly(store: SpillStore) -> None:
    """The table read back equals the one saved: names, alive map order, columns."""
    t = Lineages(2)
    for name in ("x", "caf\u00e9", "sp ace", "\udcff-not-utf8"):
        t.columns[1][t.touch(add(name))] = -5
    t.touch(FileChange.for_test("x", status=Status.DELETED))
    t.columns[0][0] = 2**40
    t.save(store, "k")
    back = Lineages.load(store, "k", 2)
    assert back.names == t.names
    assert list(back.alive.items()) == list(t.alive.items())
    assert back.columns == t.columns


def test_ranks_select_all_alive_names_or_alive_lineages() -> None:
    """ranks() sorts output names and maps lineages to them per selection mode."""
    t = Lineages(0)
    t.touch(add("b"))  # 0, deleted below
    t.touch(FileChange.for_test("b", status=Status.DELETED))
    t.touch(add("a"))  # 1, dead under "z"
    t.touch(FileChange.for_test("z", status=Status.RENAMED, old_path="a"))
    t.touch(FileChange.for_test("z", status=Status.DELETED))
    t.touch(add("b"))  # 2, alive
    for keep, names, rank in [
        ("all", ["b", "z"], [0, 1, 0]),
        ("alive_names", ["b"], [0, -1, 0]),
        ("alive", ["b"], [-1, -1, 0]),
    ]:
        got_names, got_rank = t.ranks(keep)
        assert (got_names, list(got_rank)) == (names, rank), keep
    with pytest.raises(ValueError):
        t.ranks("some")


def test_lineages_nbytes_counts_names_and_columns() -> None:
    """Lineages.nbytes is within 20% of tracemalloc's figure for a table of 20k paths."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        t = Lineages(2)
        for i in range(20_000):
            t.touch(FileChange.for_test(f"src/module_{i}/file_{i}.py", status=Status.ADDED))
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert abs(t.nbytes() - used) / used < 0.20
    assert sys.getsizeof(t.names) < t.nbytes()


def test_lineages_apply_a_commit_simultaneously() -> None:
    """Two files trading names keep their lineages, and a file can appear where one just left."""
    t = Lineages(0)
    a, b = t.apply([add("a"), add("b")])
    swapped = t.apply(
        [
            FileChange.for_test("b", status=Status.RENAMED, old_path="a"),
            FileChange.for_test("a", status=Status.RENAMED, old_path="b"),
        ]
    )
    assert swapped == [a, b]
    assert t.alive == {"b": a, "a": b}
    moved, fresh = t.apply(
        [FileChange.for_test("c", status=Status.RENAMED, old_path="a"), add("a")]
    )
    assert moved == b
    assert fresh not in (a, b)
    assert t.alive == {"b": a, "c": b, "a": fresh}


def test_lineages_keep_one_name_per_lineage_on_malformed_commits(store: SpillStore) -> None:
    """A path named twice as a source in one commit gives the second change its own lineage."""
    t = Lineages(0)
    t.apply([add("a")])
    first, second = t.apply(
        [FileChange.for_test("a"), FileChange.for_test("b", status=Status.RENAMED, old_path="a")]
    )
    assert first != second
    assert all(t.names[lineage] == name for name, lineage in t.alive.items())
    t.save(store, "k")
    assert Lineages.load(store, "k", 0).alive == t.alive


def test_adding_a_path_still_alive_continues_its_lineage() -> None:
    """A full-history walk re-adding a side branch's file at the merge keeps one lineage."""
    t = Lineages(0)
    (side,) = t.apply([add("side")])
    assert t.apply([add("side")]) == [side]
    assert t.alive == {"side": side}


def test_stamps_sort_entries_that_arrive_out_of_order(store: SpillStore) -> None:
    """Keys out of order within a file still come out sorted, spilled or not."""
    for spill in (False, True):
        s = Stamps(store, f"s{spill}", blob=1)
        for key in (1 << 32 | 5, 0 << 32 | 9, 1 << 32 | 3):
            s.add(key, bytes([key & 0xFF]))
        if spill:
            s.spill()
        assert [k for k, _, _ in s.items()] == [9, 1 << 32 | 3, 1 << 32 | 5]


def test_reserve_covers_the_next_growth_step() -> None:
    """Each accumulator reserves at least the bytes its next resize or spill copy allocates."""
    c = Counts(SpillStore(Path("/nonexistent")), "c")
    c.counts.update(range(1000, 1000 + 5000))
    assert c.reserve() >= 2 * sys.getsizeof(c.counts)
    s = Stamps(SpillStore(Path("/nonexistent")), "s", blob=20)
    s.add_many(range(5000), b"x" * 20)
    assert s.reserve() == s.nbytes() >= 5000 * 28


@st.composite
def _block_streams(
    draw: st.DrawFn,
) -> tuple[list[list[tuple[int, tuple[int, ...], bytes]]], int, int, bool]:
    """Sorted entry streams over a few keys (so that keys repeat across and within streams).

    As the accumulators are: additive ones (Counts, Tallies) hold no blob and each key once
    per run; the others (Stamps) may repeat a key.
    """
    width = draw(st.sampled_from([0, 1, 3]))
    additive = width > 0 and draw(st.booleans())
    blob = 0 if additive else draw(st.sampled_from([0, 2])) if width else 2
    streams = []
    for _ in range(draw(st.integers(1, 5))):
        keys = draw(st.lists(st.integers(0, 30), max_size=40))
        if additive:
            keys = sorted(set(keys))  # additive accumulators hold a key once per run
        entries = []
        for key in sorted(keys):
            values = tuple(draw(st.lists(st.integers(-5, 5), min_size=width, max_size=width)))
            raw = bytes(draw(st.lists(st.integers(0, 3), min_size=blob, max_size=blob)))
            entries.append((key, values, raw))
        streams.append(sorted(entries))
    return streams, width, blob, additive


def _as_blocks(
    entries: list[tuple[int, tuple[int, ...], bytes]], cuts: list[int], width: int
) -> Iterator[tuple[array[int], array[int], bytes]]:
    bounds = sorted({0, len(entries), *(c % (len(entries) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        part = entries[a:b]
        yield (
            array("Q", [k for k, _, _ in part]),
            array("q", [v for _, vals, _ in part for v in vals]),
            b"".join(raw for _, _, raw in part),
        )


@settings(max_examples=300, deadline=None)
@given(_block_streams(), st.lists(st.integers(0, 40), max_size=6))
def test_block_merge_equals_entry_merge(
    case: tuple[list[list[tuple[int, tuple[int, ...], bytes]]], int, int, bool], cuts: list[int]
) -> None:
    """Merging columns a round at a time gives exactly the entry-at-a-time merge, however
    the streams are cut into blocks (keys spanning block boundaries included), and never
    splits a key between two output blocks."""
    streams, width, blob, additive = case
    want = list(merge([iter(s) for s in streams], additive))
    blocks = list(
        merge_blocks([_as_blocks(s, cuts, width) for s in streams], width, blob, additive)
    )
    assert list(expand(blocks, width, blob)) == want
    firsts = [keys[0] for keys, _, _ in blocks if len(keys)]
    lasts = [keys[-1] for keys, _, _ in blocks if len(keys)]
    assert all(last < first for last, first in zip(lasts, firsts[1:], strict=False))
