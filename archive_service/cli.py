"""The `archive-service` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from archive_service.plugins import backend_factories, plugin_manager

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="status-go community history archives over BitTorrent and Codex.",
)
console = Console()


@app.callback()
def _root() -> None:
    """status-go community history archives over BitTorrent and Codex."""


@app.command()
def plugins() -> None:
    """List installed backend plugins.

    Example: archive-service plugins
    """
    pm = plugin_manager()
    table = Table("backend", "plugin", "description")
    for name, factory in sorted(backend_factories(pm).items()):
        table.add_row(name, factory.backend_class.__module__, factory.description)
    console.print(table)


@app.command()
def generate(
    db: Annotated[Path, typer.Option(help="SQLite store to fill (created when missing)")],
    messages: Annotated[int, typer.Option(help="messages to generate")] = 100_000,
    days: Annotated[float, typer.Option(help="days the history spans")] = 28.0,
    topics: Annotated[int, typer.Option(help="content topics, universal channel included")] = 5,
    seed: Annotated[int, typer.Option(help="same seed, same community and messages")] = 1,
    start_ts: Annotated[
        int | None,
        typer.Option(help="unix seconds of the first message (default: 2024-01-01 00:00 UTC)"),
    ] = None,
) -> None:
    """Fill a store with a synthetic community history: its owner key and chats, and N
    messages over D days across T content topics (the universal -memberUpdate channel plus
    T-1 chats), chat-sized payloads with occasional media. Deterministic for a seed; running it
    twice adds nothing.

    Examples:

      archive-service generate --db history.sqlite

      archive-service generate --db big.sqlite --messages 1000000 --days 365 --topics 20

      archive-service generate --db recent.sqlite --start-ts $(( $(date +%s) - 28*86400 ))
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from archive_service.errors import ArchiveServiceError
    from archive_service.ids import community_hex, topic_hex
    from archive_service.store import Store
    from archive_service.synthetic import DEFAULT_START_TS, check_arguments, generate_history

    try:
        check_arguments(messages, days, topics)  # before the database file is created
        with (
            Store(db, cache_mb=256) as store,
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("generating messages", total=max(messages, 0))
            summary = generate_history(
                store,
                messages=messages,
                days=days,
                topics=topics,
                seed=seed,
                start_ts=DEFAULT_START_TS if start_ts is None else start_ts,
                progress=lambda done: bar.update(task, completed=done),
            )
    except ArchiveServiceError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("database", str(db))
    table.add_row("community", community_hex(summary.community_id))
    table.add_row("topics", ", ".join(topic_hex(t) for t in summary.topics))
    table.add_row("window", f"[{summary.start_ts}, {summary.end_ts}) unix seconds")
    table.add_row("messages", f"{summary.messages:,} ({summary.new_messages:,} new)")
    table.add_row("payload", f"{summary.payload_bytes / 1e6:,.1f} MB")
    table.add_row(
        "rate", f"{summary.messages_per_second:,.0f} messages/s in {summary.seconds:.1f} s"
    )
    console.print(table)


@app.command()
def compare(
    messages: Annotated[int, typer.Option(help="messages in the generated history")] = 20_000,
    days: Annotated[float, typer.Option(help="days the history spans (weekly archives)")] = 28.0,
    topics: Annotated[int, typer.Option(help="content topics, universal channel included")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the generated history")] = 1,
    encrypted: Annotated[bool, typer.Option(help="encrypt archives with a group key")] = False,
    backends: Annotated[str, typer.Option(help="comma-separated, in run order")] = "torrent,codex",
    db: Annotated[Path | None, typer.Option(help="take the history from this store")] = None,
    out: Annotated[Path, typer.Option(help="for compare.json/.html and logs")] = Path(
        "compare-report"
    ),
    repeat: Annotated[int, typer.Option(help="runs per backend: median and min–max")] = 1,
    timeout: Annotated[float, typer.Option(help="seconds each side of a run may take")] = 600.0,
) -> None:
    """A/B run: the same history through each backend, owner and member in their own processes
    on 127.0.0.1. Prints a table and writes compare.json and a self-contained compare.html.

    Examples:

      archive-service compare

      archive-service compare --messages 2000 --days 14 --out /tmp/ab

      archive-service compare --repeat 5 --encrypted --backends torrent,codex

      archive-service compare --db history.sqlite --backends codex
    """
    from archive_service.compare import CompareSettings, run_cli

    settings = CompareSettings(
        messages=messages,
        days=days,
        topics=topics,
        seed=seed,
        encrypted=encrypted,
        backends=tuple(b.strip() for b in backends.split(",") if b.strip()),
        repeat=repeat,
        db=db,
        out=out,
        timeout=timeout,
    )
    raise typer.Exit(run_cli(settings, console))


def main() -> None:
    app()
