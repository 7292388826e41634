"""The burndown analyzer: how many lines survive, by when they were written, as hercules counts.

Every text file's lines carry an owner: the tick in which the line was written and the person
who wrote it (``gitstream.analyzers._lines``). Each commit's zero-context hunks against its
first parent remove lines (counted per owner) and add lines owned by the commit's author at the
commit's tick. The counts go into one sparse history, ``(tick, birth tick, person) -> delta``,
flushed to flat arrays whenever the tick changes, so it grows with ticks, not commits; the
result is made dense only in :meth:`BurndownAnalyzer.finalize`.

Result (``finalize``):

- ``project``: ``matrix`` [samples][bands] as hercules: row i counts the lines alive after every
  commit with ``tick < (i + 1) * sampling``, split by the band ``birth_tick // granularity`` in
  which they were written; ``samples = end_tick // sampling + 1`` and
  ``bands = end_tick // granularity + 1``, so the last row is the state after the last commit
  (a shorter final sample when the end does not fall on a sample boundary). Also
  ``granularity``, ``sampling``, ``tick_size_hours``, ``start_time`` (unix time of tick 0) and
  ``end_tick``. Unlike hercules, ``sampling`` is not clamped to ``granularity``: the layout is
  well defined either way (hercules clamps because its own code panics otherwise, #260).
- ``files`` (``--burndown-files``): path -> the same matrix for every text file alive at the
  end; a file's history follows its renames and restarts when the path is deleted and re-added.
- ``people`` (``--burndown-people``): ``names`` (``Name <email>``, people-table order),
  ``matrices`` (one per person: the lines that person wrote), ``overwrites`` (hercules'
  N x (N + 2) layout: column 0 the lines the person added, column 1 their lines removed by an
  unidentified author, negative, column 2 + k their lines removed by person k, negative) and
  ``ownership`` (path -> {name: lines} at the end).
- ``survival``: ``days`` and ``alive_fraction``: a Kaplan-Meier estimate, all cohorts pooled, of
  the fraction of lines still alive that many days after they were written (lines younger than
  an age are censored there, not counted as deaths), at ages that are multiples of
  ``sampling`` ticks; ``half_life_days`` where that curve first crosses 0.5 (linear between
  ticks; None if it never does); ``cohorts`` with the lines alive at each sample by the UTC year
  they were written (``years``, git-of-theseus ``labels``, ``y[year][sample]`` and
  ``sample_ticks``, the last tick each sample covers).
- ``diagnostics``: ``untracked_changes`` (hunks for a path not tracked, ignored) and
  ``inconsistent_changes`` (hunks that did not fit the tracked file, which was then dropped).

What is tracked, and the choices made:

- First-parent history only: with ``full_history`` the analyzer refuses to start, because line
  ages along several parents at once need hercules' fork/merge machinery, which gitstream does
  not have. A merge commit counts as one commit against its first parent, as
  ``git blame --first-parent`` sees it.
- Binary files are not tracked. A file that turns binary is dropped (its lines die, removed by
  the commit's author). A file that turns from binary to text arrives without hunks, so its
  lines cannot be known: the path stays untracked, later hunks on it are ignored (counted in
  ``diagnostics.untracked_changes``) until it is deleted, type-changed or added again.
- The result is dense: ``samples x bands`` cells a matrix, the square of the span in ticks.
  A history whose result would take more than half the budget is refused (the analyzer then
  stands aside when it was not asked for by name): one commit with a wrong clock would
  otherwise ask for tens of GiB.
- A type change (T) replaces the whole content: every old line dies, all new lines are new.
- Hunks that do not fit the tracked file (a diff stage bug or filtered history) drop the file:
  its lines die, removed by an unidentified author, and it is counted in
  ``diagnostics.inconsistent_changes``; a crash hours into a run would help nobody.
- Authors outside the people table are "unidentified": their lines count in the project and
  files matrices but in no person's.

Hibernation writes the files touched since the last boot into a few pack files (one zstd frame
per file, 12 bytes per segment before compression; see ``FileStore``), the path index to one
JSON document and the history gathered so far to a numbered run, then drops them all from
memory. Boot reads nothing; a file's state is read back, alone, only when a commit touches it
again, so memory follows the files being changed, not the size of the tree or of history.
This module does not parse diffs (``gitstream.git.diff``) or render
results (``gitstream.report``).
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, ClassVar

from gitstream.analyzers._lines import (
    MISSING_PERSON,
    PERSON_BITS,
    PERSON_MASK,
    FileStore,
    pack,
)
from gitstream.analyzers.base import AnalysisContext, LazyMapping, LazySequence
from gitstream.config import format_size
from gitstream.errors import SpillError, UsageError
from gitstream.records import CommitRecord, Hunk, Status
from gitstream.streaming.memory import physical_memory

_RUN_HEADER = struct.Struct("<qq")  # history entries, overwrites entries

Matrix = list[list[int]]

RESULT_SHARE = 2
"""The dense result (matrices, survival curve) may take at most 1/RESULT_SHARE of the budget,
or of the machine's memory when the budget is unlimited."""
CELL_BYTES = 8
"""A matrix cell: one pointer in a row list (the counts themselves are mostly shared ints)."""
TICK_BYTES = 48
"""Per tick of the span: the survival pass's at-risk and death counts and its curve of floats."""


def _check_result_size(context: AnalysisContext) -> None:
    """Refuse a history whose dense result would not fit: its matrices grow with the square of
    the span in ticks, so one commit dated far from the others (a clock set to 9999, an import
    dated 1970) can ask for more memory than the machine has."""
    cfg = context.config
    end = context.last_tick
    cells = (end // cfg.sampling + 1) * (end // cfg.granularity + 1)
    # Person matrices are built one at a time, beside the project's.
    matrices = 2 if cfg.burndown_people else 1
    need = cells * matrices * CELL_BYTES + (end + 2) * TICK_BYTES
    room = (cfg.memory_bytes or physical_memory()) // RESULT_SHARE
    if need <= room and end < 1 << (PERSON_BITS - 1):
        return
    hours = cfg.tick_size_hours
    last = context.start_time + end * context.tick_seconds
    raise UsageError(
        f"burndown's result would take {format_size(need)}: the history spans {end:,} ticks "
        f"of {hours:g} h ({_utc_day(context.start_time)} to {_utc_day(last)}) and its "
        f"matrices grow with the square of that; {format_size(room)} is what the budget "
        "allows. A commit dated far from the others (a wrong clock) does this: analyse a "
        "--rev range without it, raise --tick-size, --sampling and --granularity, or leave "
        "burndown out"
    )


def _utc_day(t: int) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return f"unix time {t}"


class BurndownAnalyzer:
    """Line survival by age band (hercules burndown), per file and per person on request."""

    name: ClassVar[str] = "burndown"
    description: ClassVar[str] = (
        "line survival by age band (hercules burndown), per file and per person; survival curve"
    )
    # Measured on a generated 17k-commit history: ~200 B per commit over a run never cut, but
    # after a boot every file a commit touches (~3) is read back with its segments (12 B each)
    # and ~500 B of object and array headers: 2.5-4 KB per commit early in a chunk.
    work_bytes_per_commit: ClassVar[int] = 4096
    payload_bytes_per_commit: ClassVar[int] = 2048

    def __init__(self, context: AnalysisContext) -> None:
        cfg = context.config
        if cfg.full_history:
            raise UsageError(
                "burndown follows one line of history (first parents, like "
                "git blame --first-parent); drop --full-history or leave burndown out"
            )
        if cfg.granularity <= 0 or cfg.sampling <= 0:
            raise UsageError(
                f"burndown granularity ({cfg.granularity}) and sampling ({cfg.sampling}) "
                "must be positive numbers of ticks"
            )
        _check_result_size(context)
        self._ctx = context
        self._spill = context.spill
        self._granularity = cfg.granularity
        self._sampling = cfg.sampling
        self._track_files = cfg.burndown_files
        self._track_people = cfg.burndown_people
        self._npeople = len(context.people)
        # Without --burndown-people the history need not split lines by person.
        self._key_mask = -1 if self._track_people else ~PERSON_MASK
        self._files = FileStore(context.spill, with_history=self._track_files)
        # Accumulated output: the current tick's deltas, then flat arrays, then spilled runs.
        self._tick = -1
        self._pending: dict[int, int] = {}
        self._h_tick: array[int] = array("i")
        self._h_key: array[int] = array("Q")
        self._h_delta: array[int] = array("q")
        self._overwrites: dict[int, int] = {}
        self._runs = 0
        self._end_tick = context.last_tick
        self._untracked = 0
        self._inconsistent = 0

    # -- consuming ---------------------------------------------------------------------------

    def consume(self, commit: CommitRecord) -> None:
        store = self._files
        paths = store.paths
        tick = commit.tick
        if tick != self._tick:
            self._flush_tick()
            self._tick = tick
            if tick > self._end_tick:
                self._end_tick = tick
        person = commit.author if 0 <= commit.author < self._npeople else MISSING_PERSON
        owner = pack(tick, person)
        removed: dict[int, int] = {}
        lost: dict[int, int] = {}  # lines of files dropped as inconsistent
        added = 0
        files = commit.files
        # Sources first, so renames that swap or reuse paths within a commit stay apart.
        moved: dict[int, int] = {}
        for n, change in enumerate(files):
            status = change.status
            if status is Status.RENAMED or status is Status.DELETED:
                fid = paths.pop(change.old_path, None)  # type: ignore[arg-type]
                if fid is None:
                    continue
                if status is Status.DELETED:
                    store.drop(fid, removed)
                else:
                    moved[n] = fid
        track_files = self._track_files
        g = self._granularity
        for n, change in enumerate(files):
            status = change.status
            if status is Status.DELETED:
                continue
            path: str = change.new_path  # type: ignore[assignment]
            if status is Status.RENAMED:
                old = paths.pop(path, None)
                if old is not None:  # renamed onto a tracked file: that one is gone
                    store.drop(old, removed)
                fid_or_none = moved.get(n)
                if fid_or_none is None:
                    # The source was not tracked, so neither is what it became.
                    self._untracked += bool(change.hunks) and not change.binary
                    continue
                paths[path] = fid_or_none
            elif status is Status.ADDED:
                old = paths.pop(path, None)
                if old is not None:
                    store.drop(old, removed)
                if not change.binary:
                    added += self._add_file(path, change.hunks, owner, tick)
                continue
            fid_or_none = paths.get(path)
            if fid_or_none is None:
                if status is Status.TYPE_CHANGED and not change.binary:
                    added += self._add_file(path, change.hunks, owner, tick)
                else:
                    self._untracked += bool(change.hunks) and not change.binary
                continue
            if change.binary:
                del paths[path]
                store.drop(fid_or_none, removed)
                continue
            hunks = change.hunks
            if status is Status.TYPE_CHANGED:
                fl = store.load(fid_or_none)
                mine: dict[int, int] = {}
                fl.clear(mine)
                lines = 0
                for h in hunks:
                    lines += h[3]
                got: int | None = fl.apply(((0, 0, 0, lines),), owner, mine) if lines else 0
            elif hunks:
                fl = store.load(fid_or_none)
                mine = {}
                got = fl.apply(hunks, owner, mine)
            else:
                continue
            if got is None:
                self._inconsistent += 1
                del paths[path]
                store.drop(fid_or_none, lost)
                continue
            added += got
            if track_files:
                for o, k in mine.items():
                    fl.record(tick, (o >> PERSON_BITS) // g, -k)
                if got:
                    fl.record(tick, tick // g, got)
            for o, k in mine.items():
                removed[o] = removed.get(o, 0) + k
        self._count(owner, person, added, removed, lost)

    def _add_file(self, path: str, hunks: tuple[Hunk, ...], owner: int, tick: int) -> int:
        """Track a new file whose hunks give its whole content; returns its lines."""
        lines = 0
        for h in hunks:
            lines += h[3]
        fl = self._files.new(path, lines, owner)
        if self._track_files and lines:
            fl.record(tick, tick // self._granularity, lines)
        return lines

    def _count(
        self, owner: int, person: int, added: int, removed: dict[int, int], lost: dict[int, int]
    ) -> None:
        pending = self._pending
        mask = self._key_mask
        if added:
            key = owner & mask
            pending[key] = pending.get(key, 0) + added
        for table in (removed, lost):
            for o, k in table.items():
                key = o & mask
                pending[key] = pending.get(key, 0) - k
        if not self._track_people:
            return
        width = self._npeople + 2
        ow = self._overwrites
        if added and person != MISSING_PERSON:
            cell = person * width
            ow[cell] = ow.get(cell, 0) + added
        for remover, table in ((person, removed), (MISSING_PERSON, lost)):
            column = 1 if remover == MISSING_PERSON else 2 + remover
            for o, k in table.items():
                victim = o & PERSON_MASK
                if victim != MISSING_PERSON:
                    cell = victim * width + column
                    ow[cell] = ow.get(cell, 0) - k

    def _flush_tick(self) -> None:
        if not self._pending:
            return
        tick = self._tick
        h_tick, h_key, h_delta = self._h_tick, self._h_key, self._h_delta
        for key, delta in self._pending.items():
            if delta:
                h_tick.append(tick)
                h_key.append(key)
                h_delta.append(delta)
        self._pending = {}
        budget = self._ctx.agg_budget_bytes
        if budget and self.aggregate_size() > budget:
            self._write_run()

    def _write_run(self) -> None:
        """Move the accumulated history and overwrites out of memory into a numbered run."""
        n = len(self._h_tick)
        if not n and not self._overwrites:
            return
        cells = array("q", self._overwrites.keys())
        values = array("q", self._overwrites.values())
        self._spill.write_bytes(
            f"run-{self._runs}",
            b"".join(
                (
                    _RUN_HEADER.pack(n, len(cells)),
                    self._h_tick.tobytes(),
                    self._h_key.tobytes(),
                    self._h_delta.tobytes(),
                    cells.tobytes(),
                    values.tobytes(),
                )
            ),
        )
        self._runs += 1
        self._h_tick, self._h_key, self._h_delta = array("i"), array("Q"), array("q")
        self._overwrites = {}

    # -- hibernation -------------------------------------------------------------------------

    def hibernate(self) -> None:
        self._flush_tick()
        self._write_run()
        self._files.hibernate()

    def boot(self) -> None:
        # Nothing is read here: the path index on the next commit, a file when first touched.
        return

    def state_size(self) -> int:
        return self._files.nbytes() + sys.getsizeof(self._pending) + 100 * len(self._pending)

    def aggregate_size(self) -> int:
        total = sys.getsizeof(self._h_tick) + sys.getsizeof(self._h_key)
        total += sys.getsizeof(self._h_delta)
        # A dict entry with two int objects: ~100 B measured on CPython 3.11.
        total += 100 * (len(self._pending) + len(self._overwrites))
        return total

    # -- the result --------------------------------------------------------------------------

    def finalize(self) -> Mapping[str, Any]:
        self._flush_tick()
        end = self._end_tick
        g, s = self._granularity, self._sampling
        totals = _Totals(self._ctx, end, g, s, self._track_people)
        for tick, key, delta in self._entries():
            totals.add(tick, key, delta)
        cfg = self._ctx.config
        result: dict[str, Any] = {
            "project": {
                "matrix": totals.project(),
                "granularity": g,
                "sampling": s,
                "tick_size_hours": cfg.tick_size_hours,
                "start_time": self._ctx.start_time,
                "end_tick": end,
            },
        }
        if self._track_files:
            result["files"] = LazyMapping(self._file_matrices)
        if self._track_people:
            result["people"] = self._people_result(totals)
        result["survival"] = totals.survival()
        result["diagnostics"] = {
            "untracked_changes": self._untracked,
            "inconsistent_changes": self._inconsistent,
        }
        return result

    def _runs_data(self) -> Iterator[tuple[int, bytes]]:
        for k in range(self._runs):
            data = self._spill.read_bytes(f"run-{k}")
            if len(data) < _RUN_HEADER.size:
                raise SpillError(f"burndown history run {k} is cut short")
            yield k, data

    def _entries(self) -> Iterator[tuple[int, int, int]]:
        """Every ``(tick, key, delta)`` of the history: spilled runs, then memory."""
        for k, data in self._runs_data():
            n, m = _RUN_HEADER.unpack_from(data)
            if len(data) != _RUN_HEADER.size + n * (4 + 8 + 8) + m * 16:
                raise SpillError(f"burndown history run {k} has the wrong size")
            view = memoryview(data)[_RUN_HEADER.size :]
            ticks, keys, deltas = array("i"), array("Q"), array("q")
            for arr in (ticks, keys, deltas):
                size = n * arr.itemsize
                arr.frombytes(view[:size])
                view = view[size:]
            yield from zip(ticks, keys, deltas, strict=True)
        yield from zip(self._h_tick, self._h_key, self._h_delta, strict=True)

    def _all_overwrites(self) -> dict[int, int]:
        total = dict(self._overwrites)
        for _, data in self._runs_data():
            n, m = _RUN_HEADER.unpack_from(data)
            offset = _RUN_HEADER.size + n * (4 + 8 + 8)
            cells, values = array("q"), array("q")
            cells.frombytes(data[offset : offset + 8 * m])
            values.frombytes(data[offset + 8 * m : offset + 16 * m])
            for cell, value in zip(cells, values, strict=True):
                total[cell] = total.get(cell, 0) + value
        return total

    def _file_matrices(self) -> Iterator[tuple[str, Matrix]]:
        end, s = self._end_tick, self._sampling
        samples, bands = end // s + 1, end // self._granularity + 1
        for path, fl in self._files.sorted_files():
            by_sample: dict[int, dict[int, int]] = {}
            for tick, band, delta in fl.history():
                cells = by_sample.setdefault(tick // s, {})
                cells[band] = cells.get(band, 0) + delta
            yield path, _dense(by_sample, samples, bands)

    def _people_result(self, totals: _Totals) -> dict[str, Any]:
        people = self._ctx.people
        names = [p.display for p in people]
        overwrites = self._all_overwrites()
        width = len(people) + 2

        def rows() -> Iterator[list[int]]:
            for who in range(len(people)):
                base = who * width
                yield [overwrites.get(base + c, 0) for c in range(width)]

        def ownership() -> Iterator[tuple[str, dict[str, int]]]:
            for path, fl in self._files.sorted_files():
                counts: dict[int, int] = {}
                for o, n in fl.segments():
                    who = o & PERSON_MASK
                    counts[who] = counts.get(who, 0) + n
                yield (
                    path,
                    {names[who]: n for who, n in sorted(counts.items()) if who != MISSING_PERSON},
                )

        return {
            "names": names,
            "matrices": LazySequence(lambda: totals.person_matrices(len(people))),
            "overwrites": LazySequence(rows),
            "ownership": LazyMapping(ownership),
        }


class _Totals:
    """One pass over the history: project and per-person cells, survival, cohorts."""

    def __init__(
        self, context: AnalysisContext, end: int, granularity: int, sampling: int, people: bool
    ) -> None:
        self.end, self.g, self.s = end, granularity, sampling
        self.samples, self.bands = end // sampling + 1, end // granularity + 1
        # sample -> band -> delta, for the project and (with people) per person.
        self.cells: dict[int, dict[int, int]] = {}
        self.people = people
        self.person_cells: dict[int, dict[int, dict[int, int]]] = {}
        self.at_risk_diff = [0] * (end + 2)
        self.deaths = [0] * (end + 1)
        self.days_per_tick = context.config.tick_size_hours / 24
        self.start, self.tick_seconds = context.start_time, context.tick_seconds
        self.years: dict[int, int] = {}  # birth tick -> UTC year
        self.by_year: dict[int, list[int]] = {}

    def add(self, tick: int, key: int, delta: int) -> None:
        birth = key >> PERSON_BITS
        sample = tick // self.s
        band = birth // self.g
        cells = self.cells.get(sample)
        if cells is None:
            cells = self.cells[sample] = {}
        cells[band] = cells.get(band, 0) + delta
        if self.people:
            who = key & PERSON_MASK
            if who != MISSING_PERSON:
                mine = self.person_cells.setdefault(who, {})
                cells = mine.get(sample)
                if cells is None:
                    cells = mine[sample] = {}
                cells[band] = cells.get(band, 0) + delta
        # Kaplan-Meier bookkeeping: a line born at b is at risk from age 0 to end - b; a death
        # at age a > 0 leaves the risk set from age a + 1 on.
        age = tick - birth
        if age == 0:
            self.at_risk_diff[0] += delta
        else:
            self.deaths[age] -= delta
            self.at_risk_diff[age + 1] += delta
        self.at_risk_diff[self.end - birth + 1] -= delta
        year = self.years.get(birth)
        if year is None:
            moment = datetime.fromtimestamp(self.start + birth * self.tick_seconds, tz=UTC)
            year = self.years[birth] = moment.year
        row = self.by_year.get(year)
        if row is None:
            row = self.by_year[year] = [0] * self.samples
        row[sample] += delta

    def project(self) -> Matrix:
        return _dense(self.cells, self.samples, self.bands)

    def person_matrices(self, count: int) -> Iterator[Matrix]:
        for who in range(count):
            yield _dense(self.person_cells.get(who, {}), self.samples, self.bands)

    def survival(self) -> dict[str, Any]:
        end, s = self.end, self.s
        curve = [1.0] * (end + 1)
        alive = 1.0
        for age, at_risk in enumerate(accumulate(self.at_risk_diff[: end + 1])):
            if age and at_risk > 0:
                alive *= 1.0 - self.deaths[age] / at_risk
            curve[age] = alive
        half_life: float | None = None
        for age in range(1, end + 1):
            if curve[age] <= 0.5:
                before, after = curve[age - 1], curve[age]
                half_life = (age - 1 + (before - 0.5) / (before - after)) * self.days_per_tick
                break
        ages = range(0, end + 1, s)
        # A year whose lines never lived at a sample boundary has no row: whether its entries
        # were merged within a tick or split by a hibernation must not show.
        counts = {y: list(accumulate(row)) for y, row in self.by_year.items()}
        years = sorted(y for y, row in counts.items() if any(row))
        return {
            "days": [age * self.days_per_tick for age in ages],
            "alive_fraction": [round(curve[age], 9) for age in ages],
            "half_life_days": None if half_life is None else round(half_life, 6),
            "cohorts": {
                "years": years,
                "labels": [f"Code added in {y}" for y in years],
                "sample_ticks": [min((i + 1) * s - 1, end) for i in range(self.samples)],
                "y": [counts[y] for y in years],
            },
        }


def _dense(by_sample: Mapping[int, Mapping[int, int]], samples: int, bands: int) -> Matrix:
    """Rows of running totals from per-sample deltas by band; every row is its own list."""
    rows: Matrix = []
    current = [0] * bands
    for i in range(samples):
        current = current.copy()
        deltas = by_sample.get(i)
        if deltas:
            for band, delta in deltas.items():
                current[band] += delta
        rows.append(current)
    return rows
