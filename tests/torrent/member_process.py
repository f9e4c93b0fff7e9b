"""A member node in its own process, for the two-process and restart tests.

    python member_process.py <root> <community hex> <magnet link>

Starts a loopback BitTorrent backend over <root>/archive-service.sqlite and <root>/torrent,
downloads the link and prints every event as one JSON line on stdout (then "done" with the
task info). The parent may kill it at any point.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.settings import TorrentSettings

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendContext, Timeouts
from archive_service.store import Store


def emit(event: ArchiveEvent) -> None:
    print(json.dumps(event.to_json()), flush=True)


async def main(root: Path, community: bytes, link: str) -> None:
    store = Store(root / "archive-service.sqlite")
    context = BackendContext(
        data_dir=root / "torrent",
        store=store,
        crypto=HashRatchet(store),
        emit=emit,
        timeouts=Timeouts(index=10, archive=30, download=60),
    )
    backend = TorrentBackend(context, TorrentSettings.loopback())
    await backend.start()
    try:
        info = await backend.download_history_archives(community, link, asyncio.Event())
        print(json.dumps({"type": "done", **asdict(info)}), flush=True)
    finally:
        await backend.stop()
        store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]))
