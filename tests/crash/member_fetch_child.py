"""`archive-service fetch` as the CLI runs it (same config loading, same operations.fetch), plus
a plugin printing one marker line per downloaded and per imported archive, so a kill -9 test
can await a point of the run instead of sleeping: `downloaded <id>`, `imported <id>`.

The member's durable steps are crashpoint.py checkpoints too (renames, fsyncs, the store's
archive records and imports, and each marker), so `CRASH_AT=N` kills it with SIGKILL at its
Nth step (the member scenarios of tests/crash/harness.py); unset, the checkpoints only count.

    python member_fetch_child.py fetch|start DATA_DIR CONFIG BACKEND MESSAGE_FILE [KEY=VALUE...]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import crashpoint
from archive_service_cli import operations

from archive_service.config import load_config
from archive_service.events import ArchiveEvent, HistoryArchiveDownloaded, HistoryArchiveImported
from archive_service.hookspecs import hookimpl
from archive_service.node import ArchiveNode


class Markers:
    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchiveDownloaded):
            print("downloaded", event.archive_id, flush=True)
            crashpoint.checkpoint("event downloaded")
        elif isinstance(event, HistoryArchiveImported):
            print("imported", event.archive_id, flush=True)
            crashpoint.checkpoint("event imported")


async def main(data_dir: Path, config: Path, backend: str, message: bytes, *sets: str) -> None:
    overrides: dict[str, object] = {"data_dir": str(data_dir), "enabled": [backend]}
    for item in sets:
        key, _, value = item.partition("=")
        overrides[key] = value
    cfg = load_config(config, overrides=overrides)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    async with ArchiveNode.open(cfg, plugins=[Markers()]) as node:
        await operations.fetch(
            node, message=message, link=None, community=None, join=True, confirmed=True
        )
    print("done", flush=True)


async def start_only(
    data_dir: Path, config: Path, backend: str, message: bytes, *sets: str
) -> None:
    """A node start and nothing else (no message): what it resumes by itself, at fast pace."""
    from archive_service.crypto.signing import verify_archive_link

    community_id = verify_archive_link(message).community_id
    overrides: dict[str, object] = {"data_dir": str(data_dir), "enabled": [backend]}
    for item in sets:
        key, _, value = item.partition("=")
        overrides[key] = value
    async with ArchiveNode.open(load_config(config, overrides=overrides)) as node:
        node.manager.open_import_gate_now()
        node.manager.set_import_speed(fast=True)
        await node.manager.wait_idle(community_id)
    print("done", flush=True)


if __name__ == "__main__":
    crashpoint.install()
    crashpoint.install_member()
    mode, data_dir, config, backend, message, *sets = sys.argv[1:]
    run = main if mode == "fetch" else start_only
    asyncio.run(run(Path(data_dir), Path(config), backend, Path(message).read_bytes(), *sets))
