"""The devs analyzer: per person, commits and lines added, removed and changed, per tick and per
language.

``added``/``removed`` count text lines exactly as ``git log --numstat`` does for the same
commits (binary files count 0); ``changed`` is, per hunk, min(old lines, new lines) — the lines
rewritten in place rather than added or dropped. Every selected commit counts, merges and empty
ones included. Identity merging and the mailmap are done before the first commit
(``gitstream.git.identity``); this analyzer only sees person indices.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gitstream.analyzers.base import AnalysisContext
from gitstream.analyzers.languages import language_of
from gitstream.records import CommitRecord

# Per person: [commits, added, removed, changed]; per tick: [commits, added, removed, changed];
# per language: [added, removed, changed]. Lists of ints serialise to JSON directly.
_Stats = list[int]


class _PersonState:
    __slots__ = ("languages", "ticks", "totals")

    def __init__(self) -> None:
        self.totals: _Stats = [0, 0, 0, 0]
        self.ticks: dict[int, _Stats] = {}
        self.languages: dict[str, _Stats] = {}


class DevsAnalyzer:
    """Developer activity: commits, added/removed/changed lines, per tick and per language."""

    name: ClassVar[str] = "devs"
    description: ClassVar[str] = (
        "per developer: commits, lines added/removed/changed, activity per tick and per language"
    )
    # A person-tick entry (~200 B) is added at most once a commit; language entries are rare.
    work_bytes_per_commit: ClassVar[int] = 256
    payload_bytes_per_commit: ClassVar[int] = 2048
    aggregate_weight: ClassVar[float] = 0  # all of its state is working state, none spills

    def __init__(self, context: AnalysisContext) -> None:
        self._ctx = context
        self._people: dict[int, _PersonState] = {}
        self._hibernated = False

    def consume(self, commit: CommitRecord) -> None:
        person = self._people.get(commit.author)
        if person is None:
            person = self._people[commit.author] = _PersonState()
        added = removed = changed = 0
        langs = person.languages
        for change in commit.files:
            if change.binary:
                continue
            ch = 0
            for h in change.hunks:
                ch += h[1] if h[1] < h[3] else h[3]
            added += change.added
            removed += change.removed
            changed += ch
            lang = language_of(change.path)
            stats = langs.get(lang)
            if stats is None:
                stats = langs[lang] = [0, 0, 0]
            stats[0] += change.added
            stats[1] += change.removed
            stats[2] += ch
        for stats in (person.totals, person.ticks.setdefault(commit.tick, [0, 0, 0, 0])):
            stats[0] += 1
            stats[1] += added
            stats[2] += removed
            stats[3] += changed

    def hibernate(self) -> None:
        doc = {
            str(k): [p.totals, [[t, *v] for t, v in p.ticks.items()], p.languages]
            for k, p in self._people.items()
        }
        self._ctx.spill.write_json("devs", doc)
        self._people = {}
        self._hibernated = True

    def boot(self) -> None:
        if not self._hibernated:
            return
        doc = self._ctx.spill.read_json("devs")
        people: dict[int, _PersonState] = {}
        for k, (totals, ticks, languages) in doc.items():
            p = _PersonState()
            p.totals = totals
            p.ticks = {row[0]: row[1:] for row in ticks}
            p.languages = languages
            people[int(k)] = p
        self._people = people
        self._hibernated = False
        self._ctx.spill.delete("devs")

    def state_size(self) -> int:
        # Measured with tracemalloc: ~360 B per person, ~190 B per (person, tick) entry, ~170 B
        # per (person, language) entry.
        return sum(360 + 190 * len(p.ticks) + 170 * len(p.languages) for p in self._people.values())

    def aggregate_size(self) -> int:
        return 0

    def finalize(self) -> Mapping[str, Any]:
        self.boot()
        people: list[dict[str, Any]] = []
        for k in sorted(self._people):
            p = self._people[k]
            who = self._ctx.people[k]
            people.append(
                {
                    "name": who.name,
                    "email": who.email,
                    "emails": list(who.emails),
                    "names": list(who.names),
                    "commits": p.totals[0],
                    "added": p.totals[1],
                    "removed": p.totals[2],
                    "changed": p.totals[3],
                    "ticks": {
                        str(t): dict(
                            zip(("commits", "added", "removed", "changed"), v, strict=True)
                        )
                        for t, v in sorted(p.ticks.items())
                    },
                    "languages": {
                        lang: dict(zip(("added", "removed", "changed"), v, strict=True))
                        for lang, v in sorted(p.languages.items())
                    },
                }
            )
        people.sort(key=lambda d: (-int(d["commits"]), str(d["name"]), str(d["email"])))
        return {"people": people, "tick_size_hours": self._ctx.config.tick_size_hours}
