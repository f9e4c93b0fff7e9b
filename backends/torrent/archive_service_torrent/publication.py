"""Owner side: one create run appending archives to `data` and publishing index + .torrent
(reference §5.3, §5.4).

Order of writes, chosen so that a crash anywhere leaves a state `history.load_owner_state`
turns back into the last published one:
1. `add` appends archive + zero padding to `data` (beyond what the index publishes);
2. `commit` fsyncs `data`, then replaces `index` atomically, then the `.torrent` atomically.
A crash before 2 leaves an unpublished tail (cut at the next open); a crash between the two
renames leaves an older `.torrent` (its piece hashes are reused and the rest is hashed), which
the next commit replaces even when it adds nothing.

Creation is idempotent per window: an archive whose [from, to) window overlaps one the index
already holds is skipped (a re-run after a crash between this commit and the store's end-date
write, or a backend catching up with another, never publishes a window twice).
`abort` restores the files as they were, even after `commit` (creation aborts every backend
when one of them fails, and nothing was announced yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import ArchiveServiceError, InvalidInputError
from archive_service.fsutil import atomic_write, fsync_dir
from archive_service.index import archive_id, encode_index, metadata_from_pb, metadata_to_pb
from archive_service.interface import Publication, PublishResult
from archive_service.types import BuiltArchive
from archive_service.wire import pb
from archive_service_torrent.history import DataCorruptedError, OwnerState
from archive_service_torrent.layout import (
    DATA_FILE,
    DIR_MODE,
    FILE_MODE,
    INDEX_FILE,
    CommunityPaths,
    ensure_dir,
    file_size,
    padded_size,
    truncate,
)
from archive_service_torrent.metainfo import (
    Metainfo,
    PieceHasher,
    build_info,
    build_metainfo,
    hash_pieces,
    parse_metainfo,
)

log = logging.getLogger(__name__)

BACKEND = "torrent"
_ZEROS = bytes(1024 * 1024)


class PublicationClosedError(ArchiveServiceError):
    """add/commit after the publication was committed or aborted."""


class TorrentPublication(Publication):
    def __init__(
        self,
        *,
        paths: CommunityPaths,
        community_id: bytes,
        encrypt: bool,
        crypto: HashRatchet,
        state: OwnerState,
        announce: Sequence[str],
        created_by: str,
        make_link: Callable[[Metainfo], str],
        current_link: Callable[[], str | None],
        on_committed: Callable[[Metainfo], None],
        release: Callable[[], None],
    ) -> None:
        self.paths = paths
        self.community_id = community_id
        self.encrypt = encrypt
        self.crypto = crypto
        self.state = state
        self.announce = list(announce)
        self.created_by = created_by
        self._make_link = make_link
        self._current_link = current_link
        self._on_committed = on_committed
        self._release = release
        self._start_length = state.data_length  # what abort cuts `data` back to
        self._offset = state.data_length
        self._pieces = bytearray(state.data_pieces)
        self._new_ids: list[str] = []
        self.skipped_ids: list[str] = []  # held archives whose window was offered again
        self._held: list[tuple[int, int, str]] = []  # (from, to, archive ID) in the index
        for aid, entry in state.index.archives.items():
            window = metadata_from_pb(entry.metadata)
            self._held.append((window.from_ts, window.to_ts, aid))
        self._file: BinaryIO | None = None
        self._closed = False
        self._wrote_index = False
        self._wrote_torrent = False
        self.hashed_bytes = 0  # bytes hashed by this run (new data + index)

    # ------------------------------------------------------------------------------------
    async def add(self, archive: BuiltArchive) -> str:
        if self._closed:
            raise PublicationClosedError("this publication was already committed or aborted")
        held = self._held_window(archive.metadata.from_ts, archive.metadata.to_ts)
        if held is not None:
            self.skipped_ids.append(held)
            return held
        size, padding = padded_size(len(archive.data))
        entry = pb.WakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(archive.metadata),
            offset=self._offset,
            size=size,
            padding=padding,
        )
        aid = archive_id(entry)
        await asyncio.to_thread(self._append, archive.data, padding)
        self.state.index.archives[aid].CopyFrom(entry)
        self._offset += size
        self._new_ids.append(aid)
        self._held.append((archive.metadata.from_ts, archive.metadata.to_ts, aid))
        return aid

    def _held_window(self, from_ts: int, to_ts: int) -> str | None:
        """The ID of an archive already held whose window overlaps [from_ts, to_ts)."""
        for held_from, held_to, aid in self._held:
            if from_ts < held_to and held_from < to_ts:
                if (held_from, held_to) != (from_ts, to_ts):
                    log.warning(
                        "%s: window [%d, %d) overlaps archive %s [%d, %d) and is skipped; "
                        "start a run where the last one ended to archive all of it",
                        self.paths.name,
                        from_ts,
                        to_ts,
                        aid,
                        held_from,
                        held_to,
                    )
                return aid
        return None

    def _append(self, data: bytes, padding: int) -> None:
        if self._file is None:
            ensure_dir(self.paths.root)
            fd = os.open(self.paths.data, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            self._file = os.fdopen(fd, "ab")
        on_disk = os.fstat(self._file.fileno()).st_size
        if on_disk != self._offset:
            raise DataCorruptedError(
                f"{self.paths.data} is {on_disk} bytes but the next archive belongs at "
                f"{self._offset}; another process is writing this community's archives"
            )
        hasher = PieceHasher()
        self._file.write(data)
        hasher.update(data)
        remaining = padding
        while remaining:
            zeros = _ZEROS[: min(remaining, len(_ZEROS))]
            self._file.write(zeros)
            remaining -= len(zeros)
        hasher.update_zeros(padding)
        self._file.flush()  # to the OS, so the size check of the next add sees it
        assert hasher.aligned  # padded_size always ends an archive on a piece boundary
        self._pieces += hasher.digests()
        self.hashed_bytes += len(data) + padding

    # ------------------------------------------------------------------------------------
    async def commit(self) -> PublishResult:
        if self._closed:
            raise PublicationClosedError("this publication was already committed or aborted")
        try:
            if not self._new_ids:
                await self.abort()  # closes the file, cuts a failed add's tail, unlocks
                healed = await asyncio.to_thread(self._heal_torrent)
                if healed is not None:
                    self._on_committed(healed)
                return PublishResult(
                    backend=BACKEND,
                    archive_ids=[],
                    link=self._current_link(),
                    index_size=len(self.state.index.archives),
                    bytes_stored=file_size(self.paths.data) + file_size(self.paths.index),
                )
            meta, index_len = await asyncio.to_thread(self._write)
            self._closed = True
        except BaseException:
            await self.abort()
            raise
        self._on_committed(meta)
        self._release()
        return PublishResult(
            backend=BACKEND,
            archive_ids=list(self._new_ids),
            link=self._make_link(meta),
            index_size=len(self.state.index.archives),
            bytes_stored=self._offset + index_len,
        )

    def _write(self) -> tuple[Metainfo, int]:
        assert self._file is not None
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        fsync_dir(self.paths.root)

        crypto = self.crypto if self.encrypt else None
        index_bytes = encode_index(self.state.index, self.community_id, crypto)
        self._wrote_index = True  # from here on, abort restores the previous index
        atomic_write(self.paths.index, index_bytes, mode=FILE_MODE, dir_mode=DIR_MODE)
        # `index` starts on a piece boundary (data is piece-aligned), so its pieces are
        # hashed on their own and appended to the cached data pieces.
        pieces = bytes(self._pieces) + hash_pieces(index_bytes)
        self.hashed_bytes += len(index_bytes)
        info = build_info(
            self.paths.name, [(DATA_FILE, self._offset), (INDEX_FILE, len(index_bytes))], pieces
        )
        meta = build_metainfo(info, self.announce, self.created_by)
        self._wrote_torrent = True
        atomic_write(self.paths.torrent, meta.encode(), mode=FILE_MODE, dir_mode=DIR_MODE)
        return meta, len(index_bytes)

    def _heal_torrent(self) -> Metainfo | None:
        """After a crash between the index rename and the `.torrent` rename, the `.torrent`
        is older than the index: write the one describing the index on disk (its bytes are
        kept, so the info-hash is the one the interrupted commit would have published)."""
        index_bytes = self.state.previous_index
        if index_bytes is None:
            return None
        pieces = bytes(self.state.data_pieces) + hash_pieces(index_bytes)
        info = build_info(
            self.paths.name,
            [(DATA_FILE, self.state.data_length), (INDEX_FILE, len(index_bytes))],
            pieces,
        )
        if self.state.previous_torrent is not None:
            try:
                if parse_metainfo(self.state.previous_torrent).info_hash == info.info_hash:
                    return None
            except InvalidInputError:
                pass  # unusable: replaced below
        meta = build_metainfo(info, self.announce, self.created_by)
        atomic_write(self.paths.torrent, meta.encode(), mode=FILE_MODE, dir_mode=DIR_MODE)
        log.warning("%s: the .torrent was older than its index; rewritten", self.paths.name)
        return meta

    # ------------------------------------------------------------------------------------
    async def abort(self) -> None:
        if self._closed and not (self._wrote_index or self._wrote_torrent):
            return  # committed with nothing new, or already aborted
        self._closed = True
        try:
            await asyncio.to_thread(self._undo)
        finally:
            self._wrote_index = self._wrote_torrent = False
            self._release()

    def _undo(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
        # Index and .torrent first: once they are back, the tail of `data` is unpublished.
        if self._wrote_torrent:
            _restore(self.paths.torrent, self.state.previous_torrent)
        if self._wrote_index:
            _restore(self.paths.index, self.state.previous_index)
        if file_size(self.paths.data) > self._start_length:
            truncate(self.paths.data, self._start_length)
        log.info("%s: publication aborted; %s restored", self.paths.name, self.paths.root)


def _restore(path: Path, previous: bytes | None) -> None:
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fsync_dir(path.parent)
    else:
        atomic_write(path, previous, mode=FILE_MODE, dir_mode=DIR_MODE)
