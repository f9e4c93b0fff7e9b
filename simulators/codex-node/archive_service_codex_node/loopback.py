"""Loopback provider: one local Codex-compatible node per archive node, members' nodes
bootstrapped to the owner's, so members fetch over the node network as with real Codex (for
`archive-service demo`, `compare` and tests).

It matches the lab's `LoopbackProvider` protocol structurally (`backend` and `node_settings`):
the simulator does not import the application that calls it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from archive_service_codex_node.profile import DEFAULT_PROFILE
from archive_service_codex_node.server import LocalCodexNode

OWNER_SPR = "codex.owner_spr"
# Optional keys a caller may put in `shared` (scenarios): the performance profile, the node's
# shaped line in bytes/s, the address to bind (a network namespace's) and, for a member that
# joins after the owner left, the SPRs to bootstrap from instead of the owner's.
PROFILE = "codex.profile"
UPLINK = "codex.uplink_bytes_per_s"
DOWNLINK = "codex.downlink_bytes_per_s"
HOST = "codex.host"
BOOTSTRAP = "codex.bootstrap"


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
        if role == "member" and BOOTSTRAP in shared:
            bootstrap = list(shared[BOOTSTRAP])
        node = LocalCodexNode(
            workdir / "codex-node",
            bootstrap=bootstrap,
            host=shared.get(HOST, "127.0.0.1"),
            profile=shared.get(PROFILE, DEFAULT_PROFILE),
            uplink_bytes_per_s=shared.get(UPLINK),
            downlink_bytes_per_s=shared.get(DOWNLINK),
        )
        await node.start()
        stack.push_async_callback(node.stop)
        if role == "owner":
            shared[OWNER_SPR] = node.spr
        return {"api_url": node.api_url}
