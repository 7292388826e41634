"""Who wrote each commit: ``.mailmap`` at the analysed revision, then identity merging.

The mailmap is read as git reads it (:class:`Mailmap`), emails and names matched without
regard to ASCII case.

By default two identities (name, email after the mailmap) that share an email (compared
case-insensitively) or a name (compared case-insensitively, blanks ignored) are one person;
``exact`` keeps every distinct (name, email) pair apart. A person's primary identity is the one
with the most commits (the earliest seen on a tie). This module does not walk history; it is
fed identities by ``walk.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

import pygit2

from gitstream.records import Person

Identity = tuple[str, str]


class Mailmap:
    """git's mailmap (``mailmap.c``): entries keyed by the commit email, then by the commit
    name, both compared case-insensitively as git does (libgit2's compares bytes, so
    ``BOB@x`` escaped an entry for ``bob@x``); a later line overrides an earlier one."""

    def __init__(self) -> None:
        # commit email (folded) -> [(name, email) of the simple entry, {commit name: (name, email)}]
        self._by_email: dict[str, tuple[list[str | None], dict[str, list[str | None]]]] = {}

    @classmethod
    def parse(cls, text: str) -> Mailmap:
        mailmap = cls()
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            first = _name_and_email(line, allow_empty_email=False)
            if first is None:
                continue
            name1, email1, rest = first
            second = _name_and_email(rest, allow_empty_email=True)
            name2, email2 = (second[0], second[1]) if second else (None, None)
            mailmap._add(name1, email1, name2, email2)
        return mailmap

    def _add(
        self,
        new_name: str | None,
        new_email: str | None,
        old_name: str | None,
        old_email: str | None,
    ) -> None:
        if old_email is None:
            old_email, new_email = new_email, None
        assert old_email is not None
        simple, by_name = self._by_email.setdefault(_fold(old_email), ([None, None], {}))
        if old_name is None:
            simple[0] = new_name or simple[0]
            simple[1] = new_email or simple[1]
        else:
            by_name[_fold(old_name)] = [new_name, new_email]

    def resolve(self, name: str, email: str) -> Identity:
        """(name, email) as git's ``%aN``/``%aE`` show them."""
        entry = self._by_email.get(_fold(email))
        if entry is None:
            return name, email
        simple, by_name = entry
        found = by_name.get(_fold(name), simple)
        return found[0] or name, found[1] or email


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    """``text`` as git's ``strcasecmp`` compares it: ASCII letters only."""
    return text.translate(_ASCII_LOWER)


def _name_and_email(text: str, *, allow_empty_email: bool) -> tuple[str | None, str, str] | None:
    """``Name <email>`` at the start of ``text``: (name or None, email, the rest), as git's
    ``parse_name_and_email`` reads it."""
    left = text.find("<")
    right = text.find(">", left + 1) if left >= 0 else -1
    if right < 0 or (right == left + 1 and not allow_empty_email):
        return None
    name = text[:left].strip()
    return name or None, text[left + 1 : right], text[right + 1 :]


def load_mailmap(repo: pygit2.Repository, tip: pygit2.Commit | None) -> Mailmap:
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
    return Mailmap.parse(text.decode("utf-8", "replace"))


def decode_signature(
    sig: pygit2.Signature, encoding: str | None, raw: Callable[[], bytes] | None = None
) -> Identity:
    """(name, email) of a signature, decoded with the commit's encoding, never failing.

    A name holding ``<`` or ``>`` (``Weird <Name> <weird@x>``, left by old conversions) is read
    again from the commit's raw ``author`` line (``raw`` gives the object's bytes) as git reads
    it: the name ends at the first ``<``, the email at the next ``>``. libgit2 splits at the
    last ``<`` instead.
    """
    raw_name, raw_email = sig.raw_name, sig.raw_email
    if raw is not None and (b"<" in raw_name or b">" in raw_name):
        raw_name, raw_email = _git_ident(raw(), raw_name, raw_email)
    enc = encoding or "utf-8"
    try:
        name = raw_name.decode(enc, "replace")
        email = raw_email.decode(enc, "replace")
    except LookupError:  # an encoding header Python does not know
        name = raw_name.decode("utf-8", "replace")
        email = raw_email.decode("utf-8", "replace")
    return name, email


def _git_ident(data: bytes, name: bytes, email: bytes) -> tuple[bytes, bytes]:
    """(name, email) of the raw commit's author line as git's ``split_ident_line`` reads it;
    ``name``, ``email`` unchanged if the line cannot be found."""
    header = data.split(b"\n\n", 1)[0]
    for line in header.split(b"\n"):
        if line.startswith(b"author "):
            ident = line[len(b"author ") :]
            left = ident.find(b"<")
            right = ident.find(b">", left + 1)
            if left >= 0 and right >= 0:
                return ident[:left].rstrip(), ident[left + 1 : right]
            break
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
