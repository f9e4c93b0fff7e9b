"""CLI-facing tools of the Codex plugin (registered in plugin.py): the `codex-node` command and
`archive-service inspect` of CIDs and manifests."""

from __future__ import annotations

from typing import Any

import typer

from archive_service.errors import InvalidInputError
from archive_service_codex.cid import (
    BLOCK_CODEC,
    MANIFEST_CODEC,
    TREE_CODEC,
    decode_manifest,
    parse_cid,
)

_CODECS = {MANIFEST_CODEC: "codex-manifest", BLOCK_CODEC: "codex-block", TREE_CODEC: "codex-root"}


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
        """
        from archive_service_codex.node import run_node_cli

        raise typer.Exit(run_node_cli(ctx.args))


def inspect(data: bytes, text: str | None) -> dict[str, Any] | None:
    if text is not None:
        try:
            cid = parse_cid(text.strip())
        except InvalidInputError:
            return None
        return {
            "kind": "cid",
            "cid": cid.text,
            "version": cid.version,
            "codec": _CODECS.get(cid.codec, hex(cid.codec)),
            "digest": cid.digest.hex(),
        }
    try:
        manifest = decode_manifest(data)
    except InvalidInputError:
        return None
    return {"kind": "codex-manifest", "cid": manifest.cid.text, **manifest.to_json()}
