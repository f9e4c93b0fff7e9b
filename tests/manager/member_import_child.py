"""A member node importing what it downloaded, for the kill -9 tests: the store, its recorded
archives and their bytes (one file per archive ID in `archives/`) are prepared by the parent.
The child runs the manager with the embedded importer until nothing is left to import and
prints a marker line per import step, which the parent awaits before it kills the child:
`importing <id>` (the archive is being handed to the importer), `imported <id>`, `idle`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from scripted import Medium, scripted_backend_class

from archive_service.config import Config, ImportSettings, MemberSettings
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import (
    ArchiveEvent,
    HistoryArchiveImported,
    ImportingHistoryArchiveMessages,
)
from archive_service.hookspecs import hookimpl
from archive_service.host import StoreImporter
from archive_service.interface import BackendContext
from archive_service.manager import ArchiveManager
from archive_service.plugins import plugin_manager
from archive_service.store import Store


class Markers:
    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        if isinstance(event, ImportingHistoryArchiveMessages):
            print("importing", event.archive_id, flush=True)
        elif isinstance(event, HistoryArchiveImported):
            print("imported", event.archive_id, flush=True)


async def main(data_dir: Path, community_hex: str) -> None:
    community_id = bytes.fromhex(community_hex)
    store = Store(data_dir / "member.sqlite", create=False)
    crypto = HashRatchet(store)
    pm = plugin_manager(load_entrypoints=False, plugins=[Markers(), StoreImporter(store)])
    config = Config(
        data_dir=data_dir,
        enabled=["scripted"],
        member=MemberSettings(preference=["scripted"]),
        import_=ImportSettings(initial_delay=0, fast=True, fast_rate=10_000, tick=0.001),
    )
    context = BackendContext(data_dir=data_dir, store=store, crypto=crypto, emit=lambda e: None)
    backend = scripted_backend_class("scripted")(context, Medium())
    for path in (data_dir / "archives").iterdir():
        backend.archives[path.name] = path.read_bytes()
    manager = ArchiveManager(
        store=store, crypto=crypto, backends={"scripted": backend}, pm=pm, config=config
    )
    await manager.start()  # resumes what was downloaded and not imported
    await manager.wait_idle(community_id)
    print("idle", flush=True)
    await manager.stop()
    store.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
