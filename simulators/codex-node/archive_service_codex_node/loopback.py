"""Loopback provider: one local Codex-compatible node per archive node, members' nodes
bootstrapped to the owner's, so members fetch over the node network as with real Codex (for
`archive-service demo`, `compare` and tests).

It matches the lab's `LoopbackProvider` protocol structurally (`backend` and `node_settings`):
the simulator does not import the application that calls it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from archive_service_codex_node.server import LocalCodexNode

OWNER_SPR = "codex.owner_spr"


class CodexLoopback:
    backend = "logos-storage"

    async def node_settings(
        self,
        *,
        role: str,
        name: str,
        workdir: Path,
        stack: contextlib.AsyncExitStack,
        shared: dict[str, Any],
    ) -> dict[str, Any]:
        bootstrap = [shared[OWNER_SPR]] if role == "member" and OWNER_SPR in shared else []
        node = LocalCodexNode(workdir / "codex-node", bootstrap=bootstrap)
        await node.start()
        stack.push_async_callback(node.stop)
        if role == "owner":
            shared[OWNER_SPR] = node.spr
        return {"api_url": node.api_url}
