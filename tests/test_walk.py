"""Commit selection (``select_commits``) against git's own walk, on real repositories.

Which commits, in which order, with which first parent, at which tick, by whom: checked against
``git rev-list``, ``git log --format`` and hand-computed ticks, on histories with clock skew,
merges, unrelated roots, tags, a bare repository, a detached HEAD and mailmaps from the tree or
from ``mailmap.file``. The diff of each commit is tested in ``test_diff_stage.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2
import pytest
from gitrepo import CommitSpec, build_repo, commit_list, git, hermetic_process
from pygit2.enums import ConfigLevel

from gitstream.errors import GitstreamError
from gitstream.git.walk import History, select_commits

DAY = 86_400
T0 = 1_600_000_000


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """libgit2 and git see no user or system config; the process runs from a neutral folder."""
    hermetic_process(monkeypatch, tmp_path)
    empty = tmp_path / "no-config"
    empty.mkdir()
    levels = (ConfigLevel.SYSTEM, ConfigLevel.GLOBAL, ConfigLevel.XDG)
    saved = {level: pygit2.settings.search_path[level] for level in levels}
    for level in levels:
        pygit2.settings.search_path[level] = str(empty)
    try:
        yield
    finally:
        for level, path in saved.items():
            pygit2.settings.search_path[level] = path


def walk(repo: Path, rev: str = "HEAD", **options: Any) -> tuple[list[str], History]:
    """The selected commit ids, oldest first, and the whole selection."""
    history = select_commits(pygit2.Repository(str(repo)), rev, **options)
    return [history.commits.meta(i).hash for i in range(len(history.commits))], history


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def parents_by_commit(repo: Path, rev: str = "--all") -> dict[str, list[str]]:
    """Every commit's parents as git records them (``git rev-list --parents``)."""
    out = git(repo, "rev-list", "--parents", rev).split("\n")
    return {line.split()[0]: line.split()[1:] for line in out if line}


def assert_topological(ids: list[str], parents: dict[str, list[str]]) -> None:
    """Every selected parent comes before its child."""
    seen: set[str] = set()
    selected = set(ids)
    for c in ids:
        assert all(p in seen for p in parents[c] if p in selected), c
        seen.add(c)


def assert_metas_match_git(repo: Path, history: History) -> None:
    """Each selected commit's first parent, parent count and committer time are git's."""
    parents = parents_by_commit(repo)
    for i in range(len(history.commits)):
        meta = history.commits.meta(i)
        ps = parents[meta.hash]
        assert meta.index == i
        assert (meta.first_parent, meta.parent_count) == (ps[0] if ps else None, len(ps))
        assert meta.time == int(git(repo, "show", "-s", "--format=%ct", meta.hash))


# 0 ── 1 ────── 4 ── 5        mainline
#  \          /
#   2 ── 3 ──                 side branch
MERGED: list[CommitSpec] = [
    {"files": {"a": "0\n"}},
    {"files": {"a": "1\n"}},
    {"files": {"b": "2\n"}, "parents": [0]},
    {"files": {"b": "3\n"}},
    {"files": {"b": "3\n"}, "parents": [1, 3]},
    {"files": {"a": "5\n"}},
]


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The MERGED history, built once for the tests that only read it."""
    path = tmp_path_factory.mktemp("merged")
    return path, build_repo(path, MERGED)


def test_first_parent_walk_is_the_mainline_oldest_first(tmp_path: Path) -> None:
    """The default walk is git's --first-parent list, oldest first, with git's parents."""
    build_repo(tmp_path, MERGED)
    ids, history = walk(tmp_path)
    assert ids == commit_list(tmp_path, first_parent=True)
    assert history.head == ids[-1]
    assert_metas_match_git(tmp_path, history)


def test_full_history_walk_is_every_commit_parents_first(tmp_path: Path) -> None:
    """full_history selects every reachable commit once, each after its parents."""
    build_repo(tmp_path, MERGED)
    ids, history = walk(tmp_path, full_history=True)
    assert sorted(ids) == sorted(commit_list(tmp_path, first_parent=False))
    assert len(ids) == len(set(ids)) == 6
    assert_topological(ids, parents_by_commit(tmp_path))
    assert_metas_match_git(tmp_path, history)


# 0 ── 1 ────────── 4 ── 5    history A
#                 /
#      2 ── 3 ───             history B: an unrelated root, merged in
TWO_ROOTS: list[CommitSpec] = [
    {"files": {"a": "a\n"}},
    {"files": {"a": "a\nA\n"}},
    {"files": {"o": "o\n"}, "parents": []},
    {"files": {"o": "o\nO\n"}},
    {"files": {"o": "o\nO\n"}, "parents": [1, 3]},
    {"files": {"a": "a\nA\nAA\n"}},
]


def test_two_root_commits_first_parent_and_full_history(tmp_path: Path) -> None:
    """An unrelated history merged in: first-parent skips it, full history has both roots."""
    ids = build_repo(tmp_path, TWO_ROOTS)
    first, _ = walk(tmp_path)
    assert first == [ids[i] for i in (0, 1, 4, 5)] == commit_list(tmp_path)
    full, history = walk(tmp_path, full_history=True)
    assert sorted(full) == sorted(ids)
    assert_topological(full, parents_by_commit(tmp_path))
    roots = [m.hash for m in history.commits.range(0, 6) if m.first_parent is None]
    assert sorted(roots) == sorted([ids[0], ids[2]])
    assert_metas_match_git(tmp_path, history)


# -- time ---------------------------------------------------------------------------------------

# Committer times out of order (rebases, skewed clocks); author times increase throughout.
SKEWED = [T0, T0 + 10 * DAY, T0 + 2 * DAY, T0 + 12 * DAY, T0 + 3 * DAY, T0 + 20 * DAY]


@pytest.fixture(scope="module")
def skewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("skewed")
    return path, build_repo(path, [
        {"files": {"a": f"{i}\n"}, "time": T0 + i * 3600, "committer_time": t}
        for i, t in enumerate(SKEWED)
    ])  # fmt: skip


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (T0 + 5 * DAY, None, [1, 3, 5]),
        (None, T0 + 11 * DAY, [0, 1, 2, 4]),
        (T0 + 5 * DAY, T0 + 11 * DAY, [1]),
        (T0 + 2 * DAY, T0 + 3 * DAY, [2, 4]),
        (T0 + 30 * DAY, None, []),
    ],
)
def test_since_until_select_by_committer_time_without_stopping_early(
    skewed: tuple[Path, list[str]], since: int | None, until: int | None, expected: list[int]
) -> None:
    """--since/--until keep each commit by its own committer time, however skewed."""
    repo, ids = skewed
    got, history = walk(
        repo, since=iso(since) if since else None, until=iso(until) if until else None
    )
    assert got == [ids[i] for i in expected]
    if expected:
        assert history.start_time == SKEWED[expected[0]]
        assert [history.commits.time(i) for i in range(len(got))] == [SKEWED[i] for i in expected]
        assert history.commits.tick(0) == 0


def test_ticks_never_decrease_even_when_a_commit_predates_its_parent(tmp_path: Path) -> None:
    """A commit dated before its parent keeps its parent's tick; later ones count from start."""
    hour = 3600
    times = [T0, T0 + 3 * DAY, T0 + DAY, T0 + 4 * DAY + hour, T0 + 4 * DAY + 2 * hour, T0 + 9 * DAY]
    build_repo(
        tmp_path, [{"files": {"a": f"{i}\n"}, "committer_time": t} for i, t in enumerate(times)]
    )
    _, history = walk(tmp_path)
    n = len(history.commits)
    assert [history.commits.tick(i) for i in range(n)] == [0, 3, 3, 4, 4, 9]
    assert [history.commits.meta(i).tick for i in range(n)] == [0, 3, 3, 4, 4, 9]
    assert history.last_tick == 9
    _, history = walk(tmp_path, tick_seconds=DAY // 2)
    assert [history.commits.tick(i) for i in range(n)] == [0, 6, 6, 8, 8, 18]


def test_ticks_when_the_first_commit_is_the_newest(tmp_path: Path) -> None:
    """If the first commit is dated after the next ones, those stay at tick 0."""
    times = [T0 + 5 * DAY, T0 + DAY, T0 + 6 * DAY, T0 + 7 * DAY]
    build_repo(
        tmp_path, [{"files": {"a": f"{i}\n"}, "committer_time": t} for i, t in enumerate(times)]
    )
    _, history = walk(tmp_path)
    assert history.start_time == T0 + 5 * DAY
    assert [history.commits.tick(i) for i in range(4)] == [0, 0, 1, 2]


# -- revisions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("full_history", [False, True])
@pytest.mark.parametrize(
    "spec", ["{3}..{5}", "{2}..{5}", "{1}..{4}", "{0}..{5}", "{1}..", "{5}..{5}", "{4}..{1}"]
)
def test_ranges_select_what_git_rev_list_selects(
    merged: tuple[Path, list[str]], spec: str, full_history: bool
) -> None:
    """A..B (and an open A..) selects the commits git rev-list selects."""
    repo, ids = merged
    rev = spec.format(*ids)
    got, _ = walk(repo, rev, full_history=full_history)
    want = commit_list(repo, rev, first_parent=not full_history)
    if full_history:
        assert sorted(got) == sorted(want)
        assert_topological(got, parents_by_commit(repo))
    else:
        assert got == want


def test_symmetric_difference_is_git_s_or_refused(tmp_path: Path) -> None:
    """A...B selects git's symmetric difference, or is refused with a clear error."""
    ids = build_repo(tmp_path, MERGED, head=3)  # main ends on the side branch
    git(tmp_path, "branch", "other", ids[1])
    want = set(commit_list(tmp_path, "other...main", first_parent=False))
    assert want == {ids[1], ids[2], ids[3]}
    try:
        got: set[str] | None = set(walk(tmp_path, "other...main", full_history=True)[0])
    except GitstreamError:
        got = None  # refusing the syntax is as good as supporting it
    assert got in (None, want)


def test_tag_and_branch_names_as_revisions(tmp_path: Path) -> None:
    """A lightweight tag, a branch and a full ref name select what git selects for them."""
    ids = build_repo(tmp_path, MERGED)
    git(tmp_path, "tag", "v1", ids[1])
    git(tmp_path, "branch", "side", ids[3])
    for rev in ("v1", "refs/tags/v1", "side", "refs/heads/side", "main", "HEAD~1", ids[3][:10]):
        got, history = walk(tmp_path, rev)
        assert got == commit_list(tmp_path, rev), rev
        assert history.head == got[-1]


def test_annotated_and_nested_tags_peel_to_their_commit(tmp_path: Path) -> None:
    """An annotated tag, and a tag of that tag, walk from the commit they point at."""
    ids = build_repo(tmp_path, MERGED)
    git(tmp_path, "tag", "-a", "-m", "release", "v2", ids[4])
    git(tmp_path, "tag", "-a", "-m", "re-signed", "v2-outer", "v2")
    for rev in ("v2", "v2-outer", "v2-outer..main"):
        got, _ = walk(tmp_path, rev)
        assert got == commit_list(tmp_path, rev), rev
    assert walk(tmp_path, "v2-outer")[1].head == ids[4]


def test_bare_repository(tmp_path: Path) -> None:
    """A bare repository walks like a work tree."""
    build_repo(tmp_path, MERGED, bare=True)
    got, history = walk(tmp_path, full_history=False)
    assert got == commit_list(tmp_path)
    assert_metas_match_git(tmp_path, history)


def test_detached_head(tmp_path: Path) -> None:
    """With HEAD detached on an older commit, HEAD walks from there."""
    ids = build_repo(tmp_path, MERGED)
    git(tmp_path, "checkout", "-q", "--detach", ids[3])
    got, history = walk(tmp_path)
    assert got == commit_list(tmp_path) == [ids[0], ids[2], ids[3]]
    assert history.head == ids[3]


def test_empty_repository_selects_nothing(tmp_path: Path) -> None:
    """A repository without commits gives an empty selection, not an error."""
    git(tmp_path, "init", "-q")
    got, history = walk(tmp_path)
    assert got == [] and history.people == () and history.head is None


def test_unknown_revision_is_a_gitstream_error(tmp_path: Path) -> None:
    """An unknown revision or a one-sided range is one clear error."""
    build_repo(tmp_path, MERGED)
    with pytest.raises(GitstreamError, match="no-such-branch"):
        walk(tmp_path, "no-such-branch")
    with pytest.raises(GitstreamError):
        walk(tmp_path, "no-such-branch..HEAD")


# -- identities ---------------------------------------------------------------------------------

OLD = ("Old Name", "old@x.org")
BO = ("Bo", "bo@x.org")
MAILMAP = "New Name <new@x.org> <old@x.org>\n"


def authors(history: History) -> list[tuple[str, str]]:
    """Each selected commit's author, as the people table names them."""
    people = history.people
    return [
        (people[m.author].name, people[m.author].email)
        for m in history.commits.range(0, len(history.commits))
    ]


def git_authors(repo: Path, rev: str = "HEAD", *config: str) -> list[tuple[str, str]]:
    """Each commit's mailmapped author (%aN, %aE), oldest first, as git log shows it."""
    out = git(repo, *config, "log", "--first-parent", "--reverse", "--format=%aN%x00%aE", rev)
    return [tuple(line.split("\0")) for line in out.splitlines()]  # type: ignore[misc]


def test_mailmap_only_in_an_old_commit_applies_only_at_that_revision(tmp_path: Path) -> None:
    """The .mailmap of the analysed revision's tree counts, not one from an older commit."""
    ids = build_repo(tmp_path, [
        {"files": {".mailmap": MAILMAP, "a": "0\n"}, "author": BO},
        {"files": {"a": "1\n"}, "author": OLD},
        {"files": {".mailmap": None}, "author": BO},
        {"files": {"a": "3\n"}, "author": OLD},
    ])  # fmt: skip
    _, at_head = walk(tmp_path, exact_identities=True)
    assert authors(at_head) == git_authors(tmp_path) == [BO, OLD, BO, OLD]
    _, at_old = walk(tmp_path, ids[1], exact_identities=True)
    want = git_authors(tmp_path, ids[1], "-c", f"mailmap.blob={ids[1]}:.mailmap")
    assert authors(at_old) == want == [BO, ("New Name", "new@x.org")]


def test_mailmap_file_config_is_honoured(tmp_path: Path) -> None:
    """``mailmap.file`` (an absolute path) in the repository's config maps authors as git does."""
    build_repo(
        tmp_path / "repo",
        [{"files": {"a": "0\n"}, "author": OLD}, {"files": {"a": "1\n"}, "author": BO}],
    )
    (tmp_path / "extra.mailmap").write_text(MAILMAP)
    git(tmp_path / "repo", "config", "mailmap.file", str(tmp_path / "extra.mailmap"))
    _, history = walk(tmp_path / "repo", exact_identities=True)
    assert authors(history) == git_authors(tmp_path / "repo") == [("New Name", "new@x.org"), BO]


def test_mailmap_file_in_home_directory(tmp_path: Path) -> None:
    """``mailmap.file = ~/...`` is read from the home directory, as git reads it."""
    build_repo(tmp_path / "repo", [{"files": {"a": "0\n"}, "author": OLD}])
    mailmap = Path(os.environ["HOME"]) / "gitstream-test.mailmap"
    mailmap.write_text(MAILMAP)
    try:  # the home is shared by the session's git helpers: leave it empty again
        git(tmp_path / "repo", "config", "mailmap.file", "~/gitstream-test.mailmap")
        _, history = walk(tmp_path / "repo", exact_identities=True)
        assert authors(history) == git_authors(tmp_path / "repo") == [("New Name", "new@x.org")]
    finally:
        mailmap.unlink()


def test_mailmap_file_relative_to_the_work_tree(tmp_path: Path) -> None:
    """A relative ``mailmap.file`` is found at the work tree's top, wherever we run from."""
    build_repo(tmp_path / "repo", [{"files": {"a": "0\n"}, "author": OLD}])
    (tmp_path / "repo" / "extra.mailmap").write_text(MAILMAP)
    git(tmp_path / "repo", "config", "mailmap.file", "extra.mailmap")
    _, history = walk(tmp_path / "repo", exact_identities=True)
    assert authors(history) == git_authors(tmp_path / "repo") == [("New Name", "new@x.org")]


CHECK_MAILMAP = """\
# a comment line
Proper One <one@new>
<two-new@x> <TWO@old>
Proper Three <three@new> <three@old>
Named Four <four@new> Old Four <four@old>
Simple Four <four@OLD>
bad line without an email
Empty <> <>
Late <one@NEW>
"""


@pytest.mark.parametrize(
    "who",
    [
        ("bobby", "one@new"),
        ("bobby", "ONE@New"),
        ("x", "two@old"),
        ("x", "Two@OLD"),
        ("x", "three@old"),
        ("old four", "FOUR@old"),
        ("someone else", "four@old"),
        ("Old Four", "four@other"),
        ("Äb", "äb@x"),
        ("nobody", ""),
        ("nobody", "nobody@x"),
    ],
)
def test_mailmap_resolves_as_git_check_mailmap(tmp_path: Path, who: tuple[str, str]) -> None:
    """Every form of a .mailmap line, emails and names matched case-insensitively, later lines
    winning: the same as ``git check-mailmap`` (libgit2's own mailmap compares bytes)."""
    from gitstream.git.identity import Mailmap

    build_repo(tmp_path, [{"files": {".mailmap": CHECK_MAILMAP}}])
    name, email = who
    want = git(tmp_path, "check-mailmap", f"{name} <{email}>").strip()
    got = Mailmap.parse(CHECK_MAILMAP).resolve(name, email)
    assert f"{got[0]} <{got[1]}>" == want


@pytest.mark.parametrize(
    "author",
    ["Weird <Name> <weird@x>", "a>b <ab@x>", "Plain <plain@x>", "Two  Spaces <t@x>"],
)
def test_odd_author_lines_read_as_git_reads_them(tmp_path: Path, author: str) -> None:
    """An author line with extra angle brackets (old conversions) gives the name and email
    ``git log`` shows (%an, %ae), not libgit2's reading, which splits at the last ``<``."""
    build_repo(tmp_path, [{"files": {"a.txt": "1\n"}}])
    tree = git(tmp_path, "rev-parse", "HEAD^{tree}").strip()
    body = (
        f"tree {tree}\nauthor {author} 1600000000 +0000\ncommitter C <c@x> 1600000000 +0000\n\nm\n"
    )
    oid = git(
        tmp_path, "hash-object", "-t", "commit", "-w", "--literally", "--stdin", input=body.encode()
    )
    git(tmp_path, "update-ref", "HEAD", oid.strip())
    history = select_commits(pygit2.Repository(str(tmp_path)), exact_identities=True)
    (person,) = history.people
    want = git(tmp_path, "log", "-1", "--format=%an%x00%ae").rstrip("\n").split("\0")
    assert [person.name, person.email] == want
