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
