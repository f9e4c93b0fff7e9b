"""`TorrentBackend`: status-go's BitTorrent history archives on a long-lived libtorrent session.

One torrent per community is held in the session (status-go keys torrents by community). Unlike
status-go, `unseed(community, link)` and `is_seeding(community, link)` honour the link: the
manager seeds the new link before it unseeds the old one, so unseeding by community alone
would drop the torrent just seeded.

Files (status-go layout, reference §5.2):
    <data_dir>/0x<id>/{index,data}   shared by the owner (writes) and members (libtorrent writes)
    <torrent_dir>/0x<id>.torrent     owner: the published torrent; member: the torrent of the
                                     downloaded index (written once that index is verified)
At `start()` every torrent in <torrent_dir> is added again in upload mode: libtorrent checks
the files and serves the pieces that are there, and downloads nothing until asked to.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import libtorrent as lt

from archive_service.errors import (
    ArchiveNotFoundError,
    ArchiveServiceError,
    BackendUnavailableError,
    InvalidInputError,
    InvalidLinkError,
    MalformedIndexError,
    SizeLimitError,
)
from archive_service.fsutil import atomic_write, remove_stale_tmp
from archive_service.ids import community_hex
from archive_service.interface import (
    ArchiveBackend,
    ArchiveReady,
    BackendContext,
    DownloadTaskInfo,
    Publication,
)
from archive_service.types import IndexEntry
from archive_service.wire import pb
from archive_service_torrent.download import MemberDownload, check_entries
from archive_service_torrent.history import load_owner_state
from archive_service_torrent.index import decode_torrent_index, torrent_entries
from archive_service_torrent.layout import (
    DATA_FILE,
    DIR_MODE,
    FILE_MODE,
    INDEX_FILE,
    PIECE_LENGTH,
    CommunityPaths,
    ensure_dir,
    file_size,
    read_at,
)
from archive_service_torrent.magnet import Magnet, format_magnet, is_magnet, parse_magnet
from archive_service_torrent.metainfo import (
    HASH_LEN,
    MalformedTorrentError,
    Metainfo,
    check_archive_layout,
    hash_pieces,
    parse_info,
    parse_metainfo,
)
from archive_service_torrent.publication import TorrentPublication
from archive_service_torrent.session import TorrentSession, TorrentWatch
from archive_service_torrent.settings import TorrentSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger(__name__)

_CHECKING = (
    lt.torrent_status.checking_files,
    lt.torrent_status.checking_resume_data,
    lt.torrent_status.queued_for_checking,
)
_TORRENT_NAME = re.compile(r"^0x(0[23][0-9a-f]{64})\.torrent$")
TORRENT_OVERHEAD = 64 * 1024  # .torrent bytes beyond the piece hashes (names, trackers)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of a file, None when missing: changes whenever it is replaced."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class _Held:
    watch: TorrentWatch
    meta: Metainfo | None  # None until a member has the metadata


class TorrentBackend(ArchiveBackend):
    name: ClassVar[str] = "torrent"

    def __init__(self, context: BackendContext, settings: BaseModel | None = None) -> None:
        super().__init__(context, settings)
        if settings is not None and not isinstance(settings, TorrentSettings):
            raise TypeError(f"expected TorrentSettings, got {type(settings).__name__}")
        self.tsettings: TorrentSettings = settings or TorrentSettings()
        self.data_dir = self.tsettings.data_dir or context.data_dir / "archivedata"
        self.torrent_dir = self.tsettings.torrent_dir or context.data_dir / "torrents"
        self._session: TorrentSession | None = None
        self._held: dict[bytes, _Held] = {}
        self._owner_locks: dict[bytes, asyncio.Lock] = {}
        self._fresh: dict[bytes, bytes] = {}  # community -> info-hash we hashed this process
        self._index_cache: dict[bytes, tuple[object, tuple[pb.WakuMessageArchiveIndex, Metainfo]]]
        self._index_cache = {}

    # lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        ensure_dir(self.data_dir)
        ensure_dir(self.torrent_dir)
        for folder in (self.data_dir, self.torrent_dir):
            for path in await asyncio.to_thread(remove_stale_tmp, folder):
                log.info("removed %s (left by a process that died while writing it)", path)
        self._session = await TorrentSession.open(self.tsettings)
        log.info("BitTorrent listening on %s:%d", self.tsettings.listen_interface, self.listen_port)
        for community_id, meta in await asyncio.to_thread(self._torrents_on_disk):
            self._add_from_meta(community_id, meta, seed_mode=False)

    async def stop(self) -> None:
        session, self._session = self._session, None
        self._held.clear()
        if session is not None:
            await session.close()

    @property
    def is_started(self) -> bool:
        return self._session is not None

    @classmethod
    def handles_link(cls, link: str) -> bool:
        return is_magnet(link)

    @property
    def listen_port(self) -> int:
        return self._require_session().listen_port

    def _require_session(self) -> TorrentSession:
        if self._session is None:
            raise BackendUnavailableError("the BitTorrent backend is not started (call start())")
        return self._session

    def paths(self, community_id: bytes) -> CommunityPaths:
        return CommunityPaths.of(self.data_dir, self.torrent_dir, community_id)

    def _torrents_on_disk(self) -> list[tuple[bytes, Metainfo]]:
        """Every usable <torrent_dir>/0x<id>.torrent whose files exist (blocking reads)."""
        found = []
        for path in sorted(self.torrent_dir.glob("0x*.torrent")):
            match = _TORRENT_NAME.match(path.name)
            if not match:
                continue
            community_id = bytes.fromhex(match.group(1))
            paths = self.paths(community_id)
            if not (paths.data.exists() and paths.index.exists()):
                log.warning("not seeding %s: %s has no data/index", path, paths.root)
                continue
            try:
                meta = self._read_torrent(community_id)
            except (MalformedTorrentError, SizeLimitError) as exc:
                log.warning("not seeding %s: %s", path, exc)
                continue
            if meta is not None:
                found.append((community_id, meta))
        return found

    # owner ------------------------------------------------------------------------------
    async def open_publication(self, community_id: bytes, encrypt: bool) -> Publication:
        lock = self._owner_locks.setdefault(community_id, asyncio.Lock())
        await lock.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                lock.release()

        paths = self.paths(community_id)
        try:
            state = await asyncio.to_thread(
                load_owner_state,
                paths,
                community_id,
                self.context.crypto,
                max_index_bytes=self.tsettings.max_index_bytes,
                max_torrent_bytes=self._max_torrent_bytes(),
            )
        except BaseException:
            release()
            raise

        def committed(meta: Metainfo) -> None:
            self._fresh[community_id] = meta.info_hash

        return TorrentPublication(
            paths=paths,
            community_id=community_id,
            encrypt=encrypt,
            crypto=self.context.crypto,
            state=state,
            announce=self.tsettings.announce,
            created_by=self.context.node_public_key_hex,
            make_link=self.link_for,
            current_link=lambda: self.current_link(community_id),
            on_committed=committed,
            release=release,
        )

    def current_link(self, community_id: bytes) -> str | None:
        # A damaged .torrent is logged and treated as absent: the next publication ignores it
        # as a piece-hash cache and writes a good one, instead of the service failing here.
        meta = self._read_torrent_quietly(community_id)
        return self.link_for(meta) if meta is not None else None

    def committed_end(self, community_id: bytes) -> int:
        # The index file is what the publication trusts (history.load_owner_state): it may be
        # one rename ahead of the `.torrent`, which the next commit rewrites.
        paths = self.paths(community_id)
        if not paths.index.exists():
            return 0
        if file_size(paths.index) > self.tsettings.max_index_bytes:
            return 0  # the next publication reports it
        try:
            index = decode_torrent_index(
                paths.index.read_bytes(), community_id, self.context.crypto
            )
        except ArchiveServiceError as exc:
            log.warning("ignoring %s: %s", paths.index, exc)
            return 0
        return max((e.metadata.to for e in index.archives.values()), default=0)

    @classmethod
    def same_content(cls, link: str, other: str) -> bool:
        if link == other:
            return True
        try:
            return parse_magnet(link).info_hash == parse_magnet(other).info_hash
        except InvalidInputError:
            return False

    def link_for(self, meta: Metainfo) -> str:
        return format_magnet(meta.info_hash, meta.info.name, meta.trackers(), self._peer_hints())

    def _peer_hints(self) -> list[tuple[str, int]]:
        if not self.tsettings.magnet_peer_hints or self._session is None:
            return []
        host = self.tsettings.peer_hint_host or self.tsettings.listen_interface
        if ipaddress.ip_address(host).is_unspecified:
            host = "127.0.0.1"
        return [(host, self._session.listen_port)]

    async def seed(self, community_id: bytes, link: str) -> None:
        self._require_session()
        magnet = parse_magnet(link) if link else None
        held = self._held.get(community_id)
        if magnet and held and held.watch.info_hash == magnet.info_hash and not held.watch.removed:
            return  # already in the session (re-seeded at start, or a member's torrent)
        meta = await asyncio.to_thread(self._read_torrent, community_id)
        if meta is None:
            raise ArchiveNotFoundError(
                f"no torrent for community {community_hex(community_id)} in {self.torrent_dir}; "
                "create archives first"
            )
        if magnet is not None and magnet.info_hash != meta.info_hash:
            raise ArchiveNotFoundError(
                f"link {magnet.info_hash_hex} is not the torrent held for community "
                f"{community_hex(community_id)} (that is {meta.info_hash.hex()}); "
                "seed the current link instead"
            )
        if held and held.watch.info_hash == meta.info_hash and not held.watch.removed:
            return
        # Seed mode skips libtorrent's full re-check only for a torrent this process just
        # hashed itself; anything else is checked, so corrupted data is never served.
        seed_mode = self._fresh.pop(community_id, None) == meta.info_hash
        self._add_from_meta(community_id, meta, seed_mode=seed_mode)
        watch = self._held[community_id].watch
        # Resume-data checking takes milliseconds; the full file check (not seed mode) runs
        # in the background and is_seeding says False until it is done.
        await watch.wait_until(
            lambda: watch.status().state != lt.torrent_status.checking_resume_data,
            cancel=None,
            timeout=self.context.timeouts.index,
            what="adding the torrent",
        )

    def _add_from_meta(self, community_id: bytes, meta: Metainfo, *, seed_mode: bool) -> None:
        session = self._require_session()
        held = self._held.pop(community_id, None)
        if held is not None:
            session.remove(held.watch)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(lt.bdecode(meta.encode()))
        atp.save_path = str(self.data_dir)
        atp.file_priorities = [1, 1]
        # Not auto-managed, not paused. Upload mode: serve what is on disk, fetch nothing
        # until a download asks for pieces.
        atp.flags = lt.torrent_flags.seed_mode if seed_mode else lt.torrent_flags.upload_mode
        watch = session.add(atp, meta.info_hash)
        self._held[community_id] = _Held(watch=watch, meta=meta)

    async def unseed(self, community_id: bytes, link: str) -> None:
        held = self._held.get(community_id)
        if held is None or self._session is None:
            return
        if link and parse_magnet(link).info_hash != held.watch.info_hash:
            return  # an older link: its torrent is no longer in the session
        self._held.pop(community_id, None)
        self._session.remove(held.watch)

    async def is_seeding(self, community_id: bytes, link: str) -> bool:
        held = self._held.get(community_id)
        if held is None or held.watch.removed or self._session is None:
            return False
        if link and parse_magnet(link).info_hash != held.watch.info_hash:
            return False
        status = held.watch.status()
        if not status.has_metadata or status.errc.value() or status.state in _CHECKING:
            return False
        # Upload mode is how re-seeded and members' torrents serve what they hold.
        return status.state in (lt.torrent_status.seeding, lt.torrent_status.finished) or bool(
            held.watch.handle.flags() & lt.torrent_flags.upload_mode
        )

    def connect_peer(self, community_id: bytes, host: str, port: int) -> None:
        """Dial a peer for this community's torrent (peers without tracker/DHT, e.g. aria2)."""
        held = self._held.get(community_id)
        if held is None:
            raise ArchiveNotFoundError(
                f"no torrent for community {community_hex(community_id)} in the session"
            )
        held.watch.handle.connect_peer((host, port))

    def torrent_status(self, community_id: bytes) -> object | None:
        """libtorrent's torrent_status of the community's torrent (tools, tests, benchmarks)."""
        held = self._held.get(community_id)
        return held.watch.status() if held is not None and not held.watch.removed else None

    # member -----------------------------------------------------------------------------
    async def download_history_archives(
        self,
        community_id: bytes,
        link: str,
        cancel: asyncio.Event,
        archive_ready: ArchiveReady | None = None,
    ) -> DownloadTaskInfo:
        magnet = parse_magnet(link)
        self._require_session()
        expected = community_hex(community_id)
        if magnet.display_name and magnet.display_name != expected:
            raise InvalidLinkError(
                f"magnet names folder {magnet.display_name!r}, not community {expected}; "
                "the link belongs to another community"
            )
        return await MemberDownload(self, community_id, link, magnet, cancel, archive_ready).run()

    async def member_torrent(self, community_id: bytes, magnet: Magnet) -> TorrentWatch:
        """The community's torrent for `magnet` in the session: reused when it is already
        there (resume, retry), from the local .torrent when we have it, else from the magnet."""
        session = self._require_session()
        held = self._held.get(community_id)
        if held and not held.watch.removed and held.watch.error():
            # Stopped by a storage error in an earlier run: start over with a fresh torrent
            # (libtorrent re-checks what is on disk, so nothing verified is fetched again).
            self.drop_torrent(community_id, held.watch)
            held = None
        if held and held.watch.info_hash == magnet.info_hash and not held.watch.removed:
            for host, port in magnet.peers:
                held.watch.handle.connect_peer((host, port))
            return held.watch
        local = await asyncio.to_thread(self._read_torrent_quietly, community_id)
        if local is not None and local.info_hash == magnet.info_hash:
            self._add_from_meta(community_id, local, seed_mode=False)
            watch = self._held[community_id].watch
            for host, port in magnet.peers:
                watch.handle.connect_peer((host, port))
            return watch
        if held is not None:
            session.remove(held.watch)
            self._held.pop(community_id, None)
        atp = lt.add_torrent_params()
        atp.info_hashes = lt.info_hash_t(lt.sha1_hash(magnet.info_hash))
        atp.name = community_hex(community_id)
        atp.save_path = str(self.data_dir)
        atp.trackers = list(magnet.trackers)
        atp.peers = list(magnet.peers)
        atp.file_priorities = [1, 1]
        atp.flags = lt.torrent_flags.upload_mode  # nothing is requested before we look
        watch = session.add(atp, magnet.info_hash)
        self._held[community_id] = _Held(watch=watch, meta=None)
        return watch

    def accept_member_metadata(
        self, community_id: bytes, magnet: Magnet, info_bytes: bytes
    ) -> Metainfo:
        """Validate metadata received from peers before anything is downloaded."""
        if hashlib.sha1(info_bytes).digest() != magnet.info_hash:
            raise MalformedTorrentError("the metadata received does not hash to the link")
        info = parse_info(info_bytes)
        check_archive_layout(
            info,
            community_hex(community_id),
            max_index=self.tsettings.max_index_bytes,
            max_data=self.tsettings.max_data_bytes,
        )
        meta = Metainfo(
            info=info,
            info_bytes=info_bytes,
            announce_list=tuple((t,) for t in magnet.trackers),
        )
        held = self._held.get(community_id)
        if held is not None and held.watch.info_hash == magnet.info_hash:
            held.meta = meta
        return meta

    async def member_index_verified(self, community_id: bytes, meta: Metainfo) -> None:
        """Keep the torrent of a verified index, so the index on disk can be read and the
        torrent re-seeded after a restart. Written only when it is a different torrent (an
        owner's own .torrent, with its `created by`, is left alone)."""
        paths = self.paths(community_id)
        current = await asyncio.to_thread(self._read_torrent_quietly, community_id)
        if current is None or current.info_hash != meta.info_hash:
            await asyncio.to_thread(
                atomic_write, paths.torrent, meta.encode(), mode=FILE_MODE, dir_mode=DIR_MODE
            )

    def drop_torrent(self, community_id: bytes, watch: TorrentWatch) -> None:
        held = self._held.get(community_id)
        if held is not None and held.watch is watch:
            self._held.pop(community_id, None)
        if self._session is not None:
            self._session.remove(watch)

    # reading local archives -----------------------------------------------------------------
    async def read_index(self, community_id: bytes, link: str | None = None) -> list[IndexEntry]:
        """The index on disk (status-go ignores the link here too: the torrent on disk is the
        community's current one)."""
        found = await asyncio.to_thread(self._local_index, community_id)
        return torrent_entries(found[0]) if found is not None else []

    async def read_archive_bytes(
        self, community_id: bytes, link: str | None, archive_id: str
    ) -> bytes:
        return await asyncio.to_thread(self._archive_bytes, community_id, archive_id)

    def _archive_bytes(self, community_id: bytes, archive_id: str) -> bytes:
        found = self._local_index(community_id)
        cid = community_hex(community_id)
        if found is None:
            raise ArchiveNotFoundError(f"no torrent held for community {cid}")
        index, _ = found
        if archive_id not in index.archives:
            raise ArchiveNotFoundError(f"archive {archive_id} is not in the index of {cid}")
        entry = index.archives[archive_id]
        raw = entry.size - entry.padding
        # Checked against the torrent's data length and the cap before a byte is read.
        if raw > self.tsettings.max_archive_bytes:
            raise SizeLimitError(
                f"archive {archive_id} is {raw} bytes, over the "
                f"{self.tsettings.max_archive_bytes}-byte cap (backend.torrent.max_archive_bytes)"
            )
        paths = self.paths(community_id)
        if file_size(paths.data) < entry.offset + raw:
            raise ArchiveNotFoundError(
                f"archive {archive_id} ({raw} bytes at {entry.offset}) is not in {paths.data} "
                "yet; download it first"
            )
        return read_at(paths.data, entry.offset, raw)

    def _local_index(
        self, community_id: bytes
    ) -> tuple[pb.WakuMessageArchiveIndex, Metainfo] | None:
        """The verified index on disk with its torrent, cached until either file changes (an
        import reads it once per archive; decoding may mean decrypting)."""
        paths = self.paths(community_id)
        key = (_stamp(paths.torrent), _stamp(paths.index))
        cached = self._index_cache.get(community_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = self._load_local_index(community_id)
        if found is not None:
            self._index_cache[community_id] = (key, found)
        return found

    def _load_local_index(
        self, community_id: bytes
    ) -> tuple[pb.WakuMessageArchiveIndex, Metainfo] | None:
        # Not the member's held metadata: it may be ahead of the index on disk (new link, index
        # not fetched yet), while the .torrent on disk always matches the verified index.
        meta = self._read_torrent(community_id)
        if meta is None:
            return None
        paths = self.paths(community_id)
        data_len, index_len = check_archive_layout(
            meta.info,
            paths.name,
            max_index=self.tsettings.max_index_bytes,
            max_data=self.tsettings.max_data_bytes,
        )
        if file_size(paths.index) < index_len:
            raise ArchiveNotFoundError(
                f"{paths.index} is shorter than its torrent says ({index_len} bytes)"
            )
        raw = read_at(paths.index, 0, index_len)
        first = data_len // PIECE_LENGTH
        if hash_pieces(raw) != meta.info.pieces[first * HASH_LEN :]:
            raise MalformedIndexError(
                f"{paths.index} does not match the piece hashes of {paths.torrent}"
            )
        index = decode_torrent_index(raw, community_id, self.context.crypto)
        check_entries(torrent_entries(index), data_len)
        return index, meta

    # files ----------------------------------------------------------------------------------
    def _max_torrent_bytes(self) -> int:
        return self.tsettings.max_data_bytes // PIECE_LENGTH * HASH_LEN + TORRENT_OVERHEAD

    def _read_torrent(self, community_id: bytes) -> Metainfo | None:
        path = self.paths(community_id).torrent
        if not path.exists():
            return None
        size = file_size(path)
        if size > self._max_torrent_bytes():
            raise SizeLimitError(f"{path} is {size} bytes, over the cap for a torrent file")
        try:
            meta = parse_metainfo(path.read_bytes())
        except MalformedTorrentError as exc:
            raise MalformedTorrentError(f"{path}: {exc}") from None
        names = sorted("/".join(f.path) for f in meta.info.files)
        if meta.info.name != community_hex(community_id) or names != [DATA_FILE, INDEX_FILE]:
            raise MalformedTorrentError(f"{path} is not this community's archive torrent")
        return meta

    def _read_torrent_quietly(self, community_id: bytes) -> Metainfo | None:
        try:
            return self._read_torrent(community_id)
        except (MalformedTorrentError, SizeLimitError) as exc:
            log.warning("ignoring %s: %s", self.paths(community_id).torrent, exc)
            return None
