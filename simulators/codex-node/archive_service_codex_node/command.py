"""`archive-service codex-node`: the local node as a command of the application's CLI. Imported
only when that CLI (which ships typer) asks for its commands."""

from __future__ import annotations

import typer

from archive_service_codex_node.cli import run_node_cli


def add_commands(app: typer.Typer) -> None:
    @app.command(
        "codex-node",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )
    def codex_node(ctx: typer.Context) -> None:
        """Run the local Codex-compatible node (REST API of nim-codex v0.2.x on 127.0.0.1;
        no DHT, erasure coding or marketplace). Flags as the real node's; --help lists them.

        Examples:

          archive-service codex-node --data-dir owner-codex --api-port 8080

          archive-service codex-node -d member-codex -p 8081 --bootstrap-node spr:…

          archive-service codex-node -d node -p 0 --profile measured-2026-11
        """
        raise typer.Exit(run_node_cli(ctx.args))
