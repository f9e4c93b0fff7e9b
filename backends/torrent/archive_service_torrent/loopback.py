"""Loopback provider: BitTorrent on 127.0.0.1 only, no trackers or DHT, peer hints in magnets
so members dial the owner directly (for `archive-service demo`, `compare` and tests)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from archive_service.hookspecs import hookimpl
from archive_service.lab import LoopbackProvider
from archive_service_torrent.settings import TorrentSettings


class TorrentLoopback(LoopbackProvider):
    backend = "torrent"

    async def node_settings(
        self,
        *,
        role: str,
        name: str,
        workdir: Path,
        stack: contextlib.AsyncExitStack,
        shared: dict[str, Any],
    ) -> dict[str, Any]:
        return TorrentSettings.loopback().model_dump(mode="json", exclude_none=True)


@hookimpl
def archive_loopback_providers() -> list[LoopbackProvider]:
    return [TorrentLoopback()]
