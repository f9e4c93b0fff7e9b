"""Plugin entry point (`codex-node = archive_service_codex_node.plugin`): the lab's Codex loopback
provider and the `archive-service codex-node` command. Both hooks are the application's, so they
are optional: with the library alone installed nothing calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archive_service.hookspecs import hookimpl
from archive_service_codex_node.loopback import CodexLoopback

if TYPE_CHECKING:
    import typer


@hookimpl(optionalhook=True)
def archive_loopback_providers() -> list[Any]:
    return [CodexLoopback()]


@hookimpl(optionalhook=True)
def archive_cli_commands(app: typer.Typer) -> None:
    from archive_service_codex_node import command  # typer: only when the CLI asks

    command.add_commands(app)
