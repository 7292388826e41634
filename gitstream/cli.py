"""The command line: ``gitstream analyze``, ``gitstream plan``, ``gitstream analyzers``.

A thin layer: options become an :class:`~gitstream.config.AnalysisConfig`, the library runs,
rich renders on stderr (stdout stays for JSON). One handler, :func:`_guard`, turns a
:class:`~gitstream.errors.GitstreamError` into ``gitstream: error: <message>`` on stderr and
its exit code; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gitstream import __version__
from gitstream.config import DEFAULT_MEMORY, AnalysisConfig, parse_size
from gitstream.errors import GitstreamError, UsageError
from gitstream.report.jsonstream import write_json
from gitstream.report.terminal import analyzers_table, plan_view, run_summary
from gitstream.streaming.telemetry import ChunkTelemetry, format_line

app = typer.Typer(
    name="gitstream",
    help="Whole-history git analytics (burndown, couples, devs, file history) "
    "inside a memory budget.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

T = TypeVar("T")


def _stderr() -> Console:
    return Console(stderr=True)


def _guard(fn: Callable[[], T]) -> T:
    """The one place a GitstreamError becomes a message and an exit code."""
    try:
        return fn()
    except GitstreamError as exc:
        sys.stderr.write(f"gitstream: error: {exc}\n")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("gitstream: interrupted\n")
        raise typer.Exit(130) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gitstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Whole-history git analytics inside a memory budget."""


RepoArg = Annotated[Path, typer.Argument(help="The repository (work tree or bare).")]
MemoryOpt = Annotated[
    str,
    typer.Option(
        "--memory",
        "-m",
        envvar="GITSTREAM_MEMORY",
        help="Memory budget for the whole process tree: 512MiB, 2GiB, 1.5GB or unlimited.",
        show_default=True,
    ),
]
AnalyzersOpt = Annotated[
    str | None,
    typer.Option(
        "--analyzers", "-a", help="Comma-separated analyzers (default: all). See `analyzers`."
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="git processes diffing at once, each on its own segment of the history, "
        "ahead of the analyzers (default: 2 with two cores and room in the budget for "
        "the second git).",
    ),
]
RevOpt = Annotated[str, typer.Option("--rev", help="Revision or range A..B to analyse.")]
FullOpt = Annotated[
    bool,
    typer.Option(
        "--full-history",
        help="Every commit in topological order (merges diffed against their first parent) "
        "instead of first-parent history.",
    ),
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Only commits at or after this ISO date.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Only commits at or before this ISO date.")
]


def _memory(text: str) -> int | None:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise UsageError(f"--memory: {exc}") from None


def _names(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(n.strip() for n in text.split(",") if n.strip())


class _ProgressView:
    """Progress on stderr: a live bar on a terminal, plain lines otherwise, nothing if quiet."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress: Progress | None = None
        self.task: Any = None
        self.rows: list[ChunkTelemetry] = []

    @contextmanager
    def running(self) -> Iterator[None]:
        if self.live:
            self.progress = Progress(
                TextColumn("analysing"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            with self.progress:
                self.task = self.progress.add_task("commits", total=None, rate="")
                yield
            self.progress = None
        else:
            yield

    def on_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            elapsed = self.progress.tasks[0].elapsed or 0.0
            rate = f"{done / elapsed:,.0f} commits/s" if elapsed > 0 else ""
            self.progress.update(self.task, completed=done, total=total, rate=rate)

    def on_chunk(self, rec: ChunkTelemetry) -> None:
        self.rows.append(rec)
        if self.quiet:
            return
        if not self.live:
            sys.stderr.write(format_line(rec) + "\n")
            sys.stderr.flush()

    def chunk_table(self) -> Table | None:
        if not self.live or len(self.rows) < 2:
            return None
        table = Table(title="chunks")
        for col in (
            "#",
            "commits",
            "range",
            "RSS after",
            "budget %",
            "KiB/commit",
            "replanned",
            "hib+boot ms",
            "spill",
        ):
            table.add_column(col, justify="right")
        for r in self.rows:
            table.add_row(
                str(r.chunk),
                str(r.commits),
                f"{r.start}-{r.end}",
                f"{r.rss_after / 2**20:.0f} MiB",
                "-" if r.budget_used_pct is None else f"{r.budget_used_pct:.0f}%",
                f"{r.growth_per_commit / 1024:.1f}",
                "yes" if r.replanned else "",
                f"{r.hibernate_ms + r.boot_ms:.0f}",
                f"{r.spill_bytes / 2**20:.1f} MiB",
            )
        return table


@app.command()
def analyze(
    repo: RepoArg = Path("."),
    memory: MemoryOpt = DEFAULT_MEMORY,
    analyzers: AnalyzersOpt = None,
    rev: RevOpt = "HEAD",
    full_history: FullOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    no_renames: Annotated[
        bool, typer.Option("--no-renames", help="Turn rename detection off.")
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Only paths matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Leave out paths matching this glob (repeatable)."),
    ] = None,
    exact_identities: Annotated[
        bool,
        typer.Option(
            "--exact-identities",
            help="Keep every distinct (name, email) apart instead of merging people who share "
            "an email or a name.",
        ),
    ] = False,
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="Where to write the JSON result; - for stdout."),
    ] = "gitstream-report.json",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
    chunk_size: Annotated[
        int | None,
        typer.Option("--chunk-size", min=1, help="Force chunks of N commits (testing)."),
    ] = None,
    spill_dir: Annotated[
        Path | None,
        typer.Option(
            "--spill-dir",
            envvar="GITSTREAM_SPILL_DIR",
            help="Where spill files go (default: the system temp dir).",
        ),
    ] = None,
    telemetry: Annotated[
        Path | None,
        typer.Option("--telemetry", help="Write one NDJSON record per chunk to this file."),
    ] = None,
    tick_size: Annotated[
        float, typer.Option("--tick-size", min=0.01, help="Hours per tick.")
    ] = 24.0,
    granularity: Annotated[
        int, typer.Option("--granularity", min=1, help="Burndown: ticks per band.")
    ] = 30,
    sampling: Annotated[
        int, typer.Option("--sampling", min=1, help="Burndown: ticks per sample.")
    ] = 30,
    burndown_files: Annotated[
        bool, typer.Option("--burndown-files", help="Burndown: a matrix per file.")
    ] = False,
    burndown_people: Annotated[
        bool,
        typer.Option("--burndown-people", help="Burndown: per person, overwrites and ownership."),
    ] = False,
    couples_max_files: Annotated[
        int,
        typer.Option("--couples-max-files", min=1, help="Couples: skip pairs of larger commits."),
    ] = 1000,
    alive_only: Annotated[
        bool, typer.Option("--alive-only", help="Couples: only files alive at the end.")
    ] = False,
    min_shared: Annotated[
        int, typer.Option("--min-shared", min=1, help="Couples: pairs with >= N shared commits.")
    ] = 1,
    min_degree: Annotated[
        float, typer.Option("--min-degree", min=0, help="Couples: pairs with >= P% degree.")
    ] = 0.0,
    workers: WorkersOpt = None,
) -> None:
    """Analyse a repository's history and write a JSON result."""

    def run() -> None:
        from gitstream.pipeline import analysis

        config = AnalysisConfig(
            repo=repo,
            rev=rev,
            full_history=full_history,
            since=since,
            until=until,
            renames=not no_renames,
            include=tuple(include or ()),
            exclude=tuple(exclude or ()),
            exact_identities=exact_identities,
            analyzers=_names(analyzers),
            memory_bytes=_memory(memory),
            chunk_size=chunk_size,
            spill_dir=spill_dir,
            telemetry=telemetry,
            tick_size_hours=tick_size,
            granularity=granularity,
            sampling=sampling,
            burndown_files=burndown_files,
            burndown_people=burndown_people,
            couples_max_files=couples_max_files,
            alive_only=alive_only,
            min_shared=min_shared,
            min_degree=min_degree,
            workers=workers,
        )
        console = _stderr()
        view = _ProgressView(console, quiet)
        with (
            view.running(),
            analysis(config, on_progress=view.on_progress, on_chunk=view.on_chunk) as document,
        ):
            write_json(document, output)
            if not quiet:
                table = view.chunk_table()
                if table is not None:
                    console.print(table)
                console.print(run_summary(document, output))

    _guard(run)


@app.command()
def plan(
    repo: RepoArg = Path("."),
    memory: MemoryOpt = DEFAULT_MEMORY,
    analyzers: AnalyzersOpt = None,
    rev: RevOpt = "HEAD",
    full_history: FullOpt = False,
    since: SinceOpt = None,
    until: UntilOpt = None,
    chunk_size: Annotated[
        int | None, typer.Option("--chunk-size", min=1, help="Force chunks of N commits.")
    ] = None,
    workers: WorkersOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Dry run: walk the commit list and show the budget and the chunk boundaries."""

    def run() -> None:
        from gitstream.pipeline import prepare

        config = AnalysisConfig(
            repo=repo,
            rev=rev,
            full_history=full_history,
            since=since,
            until=until,
            analyzers=_names(analyzers),
            memory_bytes=_memory(memory),
            chunk_size=chunk_size,
            workers=workers,
        )
        p = prepare(config)
        s = p.schedule
        commits = p.history.commits
        doc: dict[str, Any] = {
            "total_commits": s.total_commits,
            "budget_bytes": s.budget_bytes,
            "overhead_bytes": s.overhead_bytes,
            "work_bytes": s.work_bytes,
            "agg_spill_bytes": s.agg_spill_bytes,
            "slack_bytes": s.slack_bytes,
            "chunk_data_bytes": s.chunk_data_bytes,
            "chunk_size": s.chunk_size,
            "buffering_factor": s.buffering_factor,
            "workers": p.workers,
            "git_delta_cache_bytes": p.git.delta_cache,
            "git_big_file_bytes": p.git.big_file,
            "segment_commits": p.segment,
            "analyzers": [c.name for c in p.analyzer_classes],
            "chunks": [
                {
                    "start": c.start,
                    "end": c.end,
                    "first_commit": commits.meta(c.start).hash,
                    "last_commit": commits.meta(c.end - 1).hash,
                    "first_time": commits.time(c.start),
                    "last_time": commits.time(c.end - 1),
                }
                for c in s.chunks
            ],
        }
        if as_json:
            typer.echo(json.dumps(doc, indent=2))
        else:
            Console().print(plan_view(doc))

    _guard(run)


@app.command("analyzers")
def list_analyzers(
    names: Annotated[bool, typer.Option("--names", help="Only the names, one per line.")] = False,
) -> None:
    """List the available analyzers (built-in and from the gitstream.analyzers entry points)."""

    def run() -> None:
        from gitstream.analyzers.base import describe

        rows = describe()
        if names:
            for name, _, _ in rows:
                typer.echo(name)
        else:
            Console().print(analyzers_table(rows))

    _guard(run)


def main() -> None:
    """Console-script entry point."""
    app()
