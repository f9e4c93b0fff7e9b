"""The `archive-service` command."""

from __future__ import annotations

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


def main() -> None:
    app()
