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
# shaped line in bytes/s, the address to bind (a network namespace's), for a member that
# joins after the owner left, the SPRs to bootstrap from instead of the owner's, and how
# persistently a wanted block is asked for (rounds, seconds apart; the node's test-friendly
# default gives up after 3 rounds 0.2 s apart, a real node after 3000 about a second apart).
PROFILE = "codex.profile"
UPLINK = "codex.uplink_bytes_per_s"
DOWNLINK = "codex.downlink_bytes_per_s"
HOST = "codex.host"
BOOTSTRAP = "codex.bootstrap"
BLOCK_RETRIES = "codex.block_retries"
RETRY_INTERVAL = "codex.retry_interval"
_PERSISTENCE = (("block_retries", BLOCK_RETRIES), ("retry_interval", RETRY_INTERVAL))


def node_options(role: str, shared: dict[str, Any]) -> dict[str, Any]:
    """LocalCodexNode's keyword arguments for a node of `role`, from the run's `shared` keys."""
    bootstrap = [shared[OWNER_SPR]] if role == "member" and OWNER_SPR in shared else []
    if role == "member" and BOOTSTRAP in shared:
        bootstrap = list(shared[BOOTSTRAP])
    return {
        "bootstrap": bootstrap,
        "host": shared.get(HOST, "127.0.0.1"),
        "profile": shared.get(PROFILE, DEFAULT_PROFILE),
        "uplink_bytes_per_s": shared.get(UPLINK),
        "downlink_bytes_per_s": shared.get(DOWNLINK),
        **{arg: shared[key] for arg, key in _PERSISTENCE if key in shared},
    }


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
        node = LocalCodexNode(workdir / "codex-node", **node_options(role, shared))
        await node.start()
        stack.push_async_callback(node.stop)
        if role == "owner":
            shared[OWNER_SPR] = node.spr
        return {"api_url": node.api_url}
