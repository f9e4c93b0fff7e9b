"""Logos Storage's background downloads (`POST /data/{cid}/network`, progress, cancel;
reference/logos-storage.md §1.3): one download per tree CID (a second start returns the same
id), progress counted in blocks and bytes, forgotten once finished, failed or cancelled (the
node's `{"active": false}` does not tell these apart)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from dataclasses import dataclass, field

from archive_service_codex.cid import Cid, Manifest

from archive_service.errors import BackendError, InvalidInputError
from archive_service_codex_node.engine import Engine

log = logging.getLogger(__name__)


@dataclass
class BackgroundDownload:
    id: int
    manifest: Manifest
    received: int = 0  # blocks
    bytes: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def total(self) -> int:
        return self.manifest.block_count


class BackgroundDownloads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids = itertools.count(1)
        self._by_id: dict[int, BackgroundDownload] = {}
        self._by_tree: dict[Cid, BackgroundDownload] = {}

    def start(self, manifest: Manifest) -> BackgroundDownload:
        running = self._by_tree.get(manifest.tree_cid)
        if running is not None:
            return running
        download = BackgroundDownload(next(self._ids), manifest)
        self._by_id[download.id] = download
        self._by_tree[manifest.tree_cid] = download
        download.task = asyncio.ensure_future(self._run(download))
        return download

    async def _run(self, download: BackgroundDownload) -> None:
        manifest = download.manifest
        try:
            async for piece in self._engine.iter_dataset(manifest):
                download.bytes += len(piece)
                download.received = min(download.total, -(-download.bytes // manifest.block_size))
            log.info("background download %d of %s done", download.id, manifest.cid)
        except (BackendError, InvalidInputError) as exc:
            log.warning("background download %d of %s failed: %s", download.id, manifest.cid, exc)
        finally:
            self._forget(download)

    def _forget(self, download: BackgroundDownload) -> None:
        self._by_id.pop(download.id, None)
        if self._by_tree.get(download.manifest.tree_cid) is download:
            del self._by_tree[download.manifest.tree_cid]

    def find(self, download_id: int, cid: Cid) -> BackgroundDownload | None:
        """The active download with this id for this dataset CID, if any."""
        download = self._by_id.get(download_id)
        if download is None or download.manifest.cid != cid:
            return None
        return download

    def cancel(self, download: BackgroundDownload) -> None:
        self._forget(download)
        if download.task is not None:
            download.task.cancel()

    async def stop(self) -> None:
        tasks = [d.task for d in self._by_id.values() if d.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
