"""Member side: magnet → metadata → checked layout → `index` → missing archives, newest first
(reference §5.6, with the upstream bugs of §11 left out).

How bytes land where status-go reads them (libtorrent.md "Where the archive bytes land"):
the torrent is added in upload mode with both files at priority 1, so nothing is requested
before we have looked at the metadata; then every piece priority is set explicitly (index
first, later a window of archives) and upload mode is lifted. Because `data` never has file
priority 0, its pieces go into `data` at their offsets, not into a `.parts` file.

A window of up to `max_download_concurrency` archives is requested at once (the newest at the
highest priority) so the transfer never idles while an archive is verified and recorded;
each archive's timeout starts when it enters the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import libtorrent as lt

from archive_service.errors import (
    ArchiveTimeoutError,
    BackendError,
    MalformedIndexError,
    OperationCancelled,
)
from archive_service.events import (
    ArchiveEvent,
    DownloadingHistoryArchivesStarted,
    HistoryArchiveDownloaded,
    HistoryArchiveDownloadFailed,
    IndexDownloadCompleted,
)
from archive_service.ids import community_hex
from archive_service.interface import ArchiveReady, BackendContext, DownloadTaskInfo
from archive_service.plan import plan_downloads
from archive_service.types import IndexEntry
from archive_service_torrent.index import decode_torrent_index, torrent_entries
from archive_service_torrent.layout import PIECE_LENGTH, CommunityPaths, piece_range, read_at
from archive_service_torrent.magnet import Magnet
from archive_service_torrent.metainfo import HASH_LEN, Metainfo, hash_pieces
from archive_service_torrent.session import TorrentWatch
from archive_service_torrent.settings import TorrentSettings


class DownloadHost(Protocol):
    """What a member download uses of its backend (the TorrentBackend): the session's torrents
    and the community's paths. A protocol, so the backend imports this module, not the reverse."""

    context: BackendContext
    tsettings: TorrentSettings

    def paths(self, community_id: bytes) -> CommunityPaths: ...

    async def member_torrent(self, community_id: bytes, magnet: Magnet) -> TorrentWatch: ...

    def accept_member_metadata(
        self, community_id: bytes, magnet: Magnet, info_bytes: bytes
    ) -> Metainfo: ...

    async def member_index_verified(self, community_id: bytes, meta: Metainfo) -> None: ...

    def drop_torrent(self, community_id: bytes, watch: TorrentWatch) -> None: ...


log = logging.getLogger(__name__)

BACKEND = "torrent"
TOP, LOW = 7, 1
FLUSH_TIMEOUT = 30.0  # writing verified pieces to disk; only a stuck disk takes this long
_CHECKING = {
    lt.torrent_status.checking_files,
    lt.torrent_status.checking_resume_data,
}


def check_entries(entries: list[IndexEntry], data_length: int) -> None:
    """Every entry must be a whole-piece range inside the torrent's `data` — checked before
    any piece is requested or any byte read for it."""
    for e in entries:
        offset, size, padding = e.locator["offset"], e.locator["size"], e.locator["padding"]
        if offset % PIECE_LENGTH or size % PIECE_LENGTH:
            raise MalformedIndexError(
                f"index entry {e.archive_id} is not piece-aligned (offset {offset}, size {size})"
            )
        if offset + size > data_length:
            raise MalformedIndexError(
                f"index entry {e.archive_id} ends at byte {offset + size}, beyond the "
                f"torrent's data file of {data_length} bytes"
            )
        if padding >= size:
            raise MalformedIndexError(f"index entry {e.archive_id} has padding >= size")


def verify_on_disk(paths: CommunityPaths, meta: Metainfo, offset: int, size: int) -> bool:
    """Check that an archive's verified pieces are in `data` at its offsets (blocking).

    libtorrent has already checked every piece against the SHA-1 of the validated info dict
    before reporting it; what it cannot tell is where the bytes went (the `.parts` pitfall of
    libtorrent.md, a flush that did not happen). Re-hashing the first, the last and one random
    piece from the file proves the placement at O(1) per archive; re-hashing all of it again
    made the member ~1.5× slower on two cores."""
    first = offset // PIECE_LENGTH
    count = size // PIECE_LENGTH
    with paths.data.open("rb") as f:
        for i in sorted({0, count - 1, random.randrange(count)}):
            f.seek(offset + i * PIECE_LENGTH)
            if hashlib.sha1(f.read(PIECE_LENGTH)).digest() != meta.info.piece_hash(first + i):
                return False
    return True


@dataclass
class _Pending:
    entry: IndexEntry
    pieces: range
    deadline: float


@dataclass
class MemberDownload:
    backend: DownloadHost
    community_id: bytes
    link: str
    magnet: Magnet
    cancel: asyncio.Event
    archive_ready: ArchiveReady | None = None
    info: DownloadTaskInfo = field(default_factory=DownloadTaskInfo)

    def __post_init__(self) -> None:
        ctx = self.backend.context
        self.paths = self.backend.paths(self.community_id)
        self.cid = community_hex(self.community_id)
        self.timeouts = ctx.timeouts
        self.window = max(1, ctx.max_download_concurrency)
        self.emit: Callable[[ArchiveEvent], None] = ctx.emit
        self.deadline = time.monotonic() + self.timeouts.download
        self._index_deadline = time.monotonic() + self.timeouts.index  # set again in _metadata

    # ------------------------------------------------------------------------------------
    async def run(self) -> DownloadTaskInfo:
        watch: TorrentWatch | None = None
        try:
            watch = await self.backend.member_torrent(self.community_id, self.magnet)
            meta = await self._metadata(watch)
            entries = await self._index(watch, meta)
            await self._archives(watch, meta, entries)
        except OperationCancelled:
            self.info.cancelled = True
            if watch is not None and not watch.removed and watch.status().has_metadata:
                # Stop fetching; what is verified stays on disk and is found again on resume.
                watch.handle.prioritize_pieces([0] * watch.handle.torrent_file().num_pieces())
        return self.info

    def _remaining(self, until: float) -> float:
        return max(0.0, min(until, self.deadline) - time.monotonic())

    def _budget(self, index_deadline: float) -> str:
        """Which limit ended a wait for metadata or index, for the error message."""
        if index_deadline <= self.deadline:
            return f"{self.timeouts.index:g} s (timeouts.index)"
        return f"the {self.timeouts.download:g} s of the whole run (timeouts.download)"

    # ------------------------------------------------------------------------------------
    async def _metadata(self, watch: TorrentWatch) -> Metainfo:
        index_deadline = self._index_deadline = time.monotonic() + self.timeouts.index
        h = watch.handle
        try:
            await watch.wait_until(
                lambda: h.status().has_metadata,
                cancel=self.cancel,
                timeout=self._remaining(index_deadline),
                what="torrent metadata",
            )
        except ArchiveTimeoutError:
            self.backend.drop_torrent(self.community_id, watch)
            raise ArchiveTimeoutError(
                f"no peer sent the metadata of {self.magnet.info_hash_hex} within "
                f"{self._budget(index_deadline)}; is the owner online and reachable "
                "(tracker, DHT or the x.pe peer hint)?"
            ) from None
        try:
            meta = self.backend.accept_member_metadata(
                self.community_id, self.magnet, bytes(h.torrent_file().info_section())
            )
        except Exception:
            self.backend.drop_torrent(self.community_id, watch)
            raise
        # An existing `data` (earlier link, interrupted run) is checked by libtorrent first;
        # its verified pieces count as downloaded.
        await watch.wait_until(
            lambda: h.status().state not in _CHECKING,
            cancel=self.cancel,
            timeout=self._remaining(self.deadline),
            what="checking existing files",
        )
        watch.refresh_pieces()
        return meta

    async def _index(self, watch: TorrentWatch, meta: Metainfo) -> list[IndexEntry]:
        h = watch.handle
        num = meta.info.num_pieces
        data_len = meta.info.file_length("data")
        index_len = meta.info.file_length("index")
        index_pieces = range(data_len // PIECE_LENGTH, num)
        priorities = [0] * num
        for p in index_pieces:
            priorities[p] = TOP
        h.prioritize_pieces(priorities)
        h.unset_flags(lt.torrent_flags.upload_mode)
        try:
            await watch.wait_until(
                lambda: watch.have_pieces(index_pieces) or bool(watch.error()),
                cancel=self.cancel,
                timeout=self._remaining(self._index_deadline),
                what="index download",
            )
        except ArchiveTimeoutError:
            raise ArchiveTimeoutError(
                f"the index of {self.magnet.info_hash_hex} ({index_len} bytes) did not arrive "
                f"within {self._budget(self._index_deadline)}"
            ) from None
        if error := watch.error():
            raise BackendError(f"libtorrent stopped the download of the index: {error}")
        await watch.flush(cancel=self.cancel, timeout=FLUSH_TIMEOUT)
        raw = await asyncio.to_thread(read_at, self.paths.index, 0, index_len)
        if hash_pieces(raw) != meta.info.pieces[index_pieces.start * HASH_LEN :]:
            raise MalformedIndexError(
                f"{self.paths.index} on disk differs from the torrent's piece hashes"
            )
        index = decode_torrent_index(raw, self.community_id, self.backend.context.crypto)
        entries = torrent_entries(index)
        check_entries(entries, data_len)
        await self.backend.member_index_verified(self.community_id, meta)
        self.emit(
            IndexDownloadCompleted(
                community_id=self.cid, backend=BACKEND, link=self.link, archive_count=len(entries)
            )
        )
        return entries

    # ------------------------------------------------------------------------------------
    async def _archives(
        self, watch: TorrentWatch, meta: Metainfo, entries: list[IndexEntry]
    ) -> None:
        store = self.backend.context.store
        plan = await asyncio.to_thread(plan_downloads, store, self.community_id, BACKEND, entries)
        info = self.info
        info.total_archives = len(entries)
        info.total_downloaded = plan.already
        info.skipped_archive_ids = [e.archive_id for e in plan.skipped]
        if not plan.missing:
            return
        self.emit(
            DownloadingHistoryArchivesStarted(
                community_id=self.cid,
                backend=BACKEND,
                total_archives=len(entries),
                missing_archives=len(plan.missing),
                missing_bytes=sum(e.size for e in plan.missing),
            )
        )
        h = watch.handle
        queue = list(plan.missing)
        window: list[_Pending] = []

        def reprioritize() -> None:
            pairs = []
            for rank, pending in enumerate(window):
                prio = max(LOW, TOP - rank)
                pairs.extend((p, prio) for p in pending.pieces)
            if pairs:
                h.prioritize_pieces(pairs)

        def fill() -> None:
            while queue and len(window) < self.window:
                entry = queue.pop(0)
                reason = self._no_room(entry)
                if reason:
                    self._failed(entry, reason)
                    continue
                pieces = piece_range(entry.locator["offset"], entry.size)
                window.append(_Pending(entry, pieces, time.monotonic() + self.timeouts.archive))
            reprioritize()

        fill()
        while window:
            head = window[0]
            if time.monotonic() >= self.deadline:
                self._drop_priorities(h, window)
                for entry in [*(p.entry for p in window), *queue]:
                    self._failed(
                        entry,
                        f"the download run reached timeouts.download "
                        f"({self.timeouts.download:g} s) before this archive",
                    )
                return
            try:
                await watch.wait_until(
                    lambda head=head: watch.have_pieces(head.pieces) or bool(watch.error()),
                    cancel=self.cancel,
                    timeout=self._remaining(head.deadline),
                    what=f"archive {head.entry.archive_id}",
                )
            except ArchiveTimeoutError:
                if time.monotonic() >= self.deadline:
                    continue  # the whole run is out of time: reported at the top of the loop
                window.pop(0)
                self._drop_priorities(h, [head])
                self._failed(
                    head.entry,
                    f"its {len(head.pieces)} pieces did not arrive within "
                    f"{self.timeouts.archive:g} s (timeouts.archive)",
                )
                fill()
                continue
            if error := watch.error():
                # A storage error (disk full, permissions) stops the torrent: no archive of
                # this run can arrive any more, and each one says why.
                self._drop_priorities(h, window)
                for entry in [*(p.entry for p in window), *queue]:
                    self._failed(entry, f"libtorrent stopped the torrent: {error}")
                return
            window.pop(0)
            fill()  # keep the transfer going while this archive is verified and recorded
            try:
                await watch.flush(cancel=self.cancel, timeout=FLUSH_TIMEOUT)
            except ArchiveTimeoutError:
                self._failed(head.entry, f"its pieces were not written within {FLUSH_TIMEOUT} s")
                continue
            await self._complete(meta, head.entry)

    def _drop_priorities(self, h: Any, pending: list[_Pending]) -> None:
        pairs = [(p, 0) for item in pending for p in item.pieces]
        if pairs:
            h.prioritize_pieces(pairs)

    def _no_room(self, entry: IndexEntry) -> str:
        need = entry.size + self.backend.tsettings.min_free_disk_bytes
        free = shutil.disk_usage(self.paths.root.parent).free
        if free < need:
            return (
                f"not enough free disk space in {self.paths.root.parent}: the archive needs "
                f"{entry.size} bytes plus a {self.backend.tsettings.min_free_disk_bytes}-byte "
                f"reserve, {free} are free"
            )
        return ""

    async def _complete(self, meta: Metainfo, entry: IndexEntry) -> None:
        offset, size = entry.locator["offset"], entry.size
        ok = await asyncio.to_thread(verify_on_disk, self.paths, meta, offset, size)
        if not ok:
            self._failed(entry, "its bytes on disk do not match the torrent's piece hashes")
            return
        await asyncio.to_thread(
            self.backend.context.store.save_archive_id,
            self.community_id,
            entry.archive_id,
            backend=BACKEND,
            from_ts=entry.metadata.from_ts,
            to_ts=entry.metadata.to_ts,
            link=self.link,
        )
        self.info.total_downloaded += 1
        self.info.bytes_downloaded += size
        self.emit(
            HistoryArchiveDownloaded(
                community_id=self.cid,
                backend=BACKEND,
                from_ts=entry.metadata.from_ts,
                to_ts=entry.metadata.to_ts,
                archive_id=entry.archive_id,
                size=size,
                downloaded=self.info.total_downloaded,
                total=self.info.total_archives,
            )
        )
        if self.archive_ready is not None:
            self.archive_ready(entry.archive_id)

    def _failed(self, entry: IndexEntry, reason: str) -> None:
        log.warning("%s: archive %s not downloaded: %s", self.cid, entry.archive_id, reason)
        self.info.failed_archive_ids.append(entry.archive_id)
        self.emit(
            HistoryArchiveDownloadFailed(
                community_id=self.cid, backend=BACKEND, archive_id=entry.archive_id, reason=reason
            )
        )
