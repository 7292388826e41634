"""Who wrote each commit: ``.mailmap`` at the analysed revision, then identity merging.

By default two identities (name, email after the mailmap) that share an email (compared
case-insensitively) or a name (compared case-insensitively, blanks ignored) are one person;
``exact`` keeps every distinct (name, email) pair apart. A person's primary identity is the one
with the most commits (the earliest seen on a tie). This module does not walk history; it is
fed identities by ``walk.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pygit2

from gitstream.records import Person

Identity = tuple[str, str]


def load_mailmap(repo: pygit2.Repository, tip: pygit2.Commit | None) -> pygit2.Mailmap:
    """The mailmap of ``.mailmap`` in ``tip``'s tree plus ``mailmap.file`` from git config."""
    text = b""
    if tip is not None:
        try:
            entry = tip.tree[".mailmap"]
        except KeyError:
            entry = None
        if entry is not None and entry.type == pygit2.enums.ObjectType.BLOB:
            blob = repo[entry.id]
            assert isinstance(blob, pygit2.Blob)
            text += blob.data + b"\n"
    try:
        extra = repo.config["mailmap.file"]
    except KeyError:
        extra = None
    if extra:
        # As git does: "~/" is the home directory, a relative path starts at the work tree.
        extra = os.path.expanduser(extra)
        if not os.path.isabs(extra):
            extra = os.path.join(repo.workdir or repo.path, extra)
        try:
            with open(extra, "rb") as fh:
                text += fh.read()
        except OSError:
            pass  # git itself ignores a missing mailmap.file
    return pygit2.Mailmap.from_buffer(text.decode("utf-8", "replace"))


def decode_signature(sig: pygit2.Signature, encoding: str | None) -> Identity:
    """(name, email) of a signature, decoded with the commit's encoding, never failing."""
    enc = encoding or "utf-8"
    try:
        name = sig.raw_name.decode(enc, "replace")
        email = sig.raw_email.decode(enc, "replace")
    except LookupError:  # an encoding header Python does not know
        name = sig.raw_name.decode("utf-8", "replace")
        email = sig.raw_email.decode("utf-8", "replace")
    return name, email


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep the earlier-seen identity as the root so numbering stays stable.
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def merge_identities(
    identities: list[Identity], counts: list[int], *, exact: bool
) -> tuple[list[int], tuple[Person, ...]]:
    """Map each identity (in first-seen order) to a person index; return the people table.

    ``counts`` is how many selected commits each identity authored. People are numbered in the
    order their first identity was seen.
    """
    n = len(identities)
    uf = _UnionFind(n)
    if not exact:
        first_by_key: dict[tuple[str, str], int] = {}
        for i, (name, email) in enumerate(identities):
            for key in _merge_keys(name, email):
                j = first_by_key.setdefault(key, i)
                if j != i:
                    uf.union(i, j)
    roots: dict[int, int] = {}
    person_of: list[int] = []
    members: list[list[int]] = []
    for i in range(n):
        r = uf.find(i)
        if r not in roots:
            roots[r] = len(members)
            members.append([])
        person_of.append(roots[r])
        members[roots[r]].append(i)
    people = tuple(_person([identities[i] for i in m], [counts[i] for i in m]) for m in members)
    return person_of, people


def _merge_keys(name: str, email: str) -> Iterable[tuple[str, str]]:
    e = email.strip().lower()
    if e:
        yield ("email", e)
    nm = " ".join(name.split()).casefold()
    if nm:
        yield ("name", nm)


def _person(ids: list[Identity], counts: list[int]) -> Person:
    best = max(range(len(ids)), key=lambda k: (counts[k], -k))
    name, email = ids[best]
    names: list[str] = []
    emails: list[str] = []
    for nm, em in [ids[best], *ids]:
        if nm not in names:
            names.append(nm)
        if em not in emails:
            emails.append(em)
    return Person(name=name, email=email, names=tuple(names), emails=tuple(emails))
