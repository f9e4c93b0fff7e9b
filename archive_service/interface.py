"""The backend-neutral contract: status-go V3 `ArchiveServiceBackend` (reference §1.3), async.

A *link* is opaque here: a magnet URI for BitTorrent, an index CID for Codex. Creation is split
so that one pass over the message store can feed several backends at once (side-by-side
distribution) and so that migration can republish stored archive bytes without re-encoding:

    archives.build_archives(...)  ->  BuiltArchive*  ->  Publication.add() per backend
                                                     ->  Publication.commit() -> PublishResult

`creation.create_history_archives` runs that loop; backends only implement `open_publication`.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from archive_service.archives import decode_archive
from archive_service.config import validate_backend_settings
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.store import Store
from archive_service.types import BuiltArchive, IndexEntry
from archive_service.wire import pb

# Called with an archive ID once the archive is verified, stored and recorded (save_archive_id).
ArchiveReady = Callable[[str], None]


@dataclass
class PublishResult:
    backend: str
    archive_ids: list[str]  # IDs added by this publication, in creation order
    # The backend's link after the publication: a new one when archives were added, else the
    # one it already had (announced again only if it was never announced); None when it has
    # never published for the community.
    link: str | None
    index_size: int = 0  # archives in the whole index after the publication
    bytes_stored: int = 0  # bytes the backend now stores for the community (owner side)


@dataclass
class DownloadTaskInfo:
    """status-go HistoryArchiveDownloadTaskInfo plus what a caller needs to retry and report."""

    total_archives: int = 0
    total_downloaded: int = 0  # already-downloaded plus downloaded in this run
    cancelled: bool = False
    failed_archive_ids: list[str] = field(default_factory=list)
    skipped_archive_ids: list[str] = field(default_factory=list)  # covered through another backend
    bytes_downloaded: int = 0


@dataclass
class Timeouts:
    """Seconds. `index` bounds metadata/index fetch (retried once by the manager), `archive`
    bounds one archive, `download` bounds a whole download run; none is shared."""

    index: float = 20.0
    archive: float = 60.0
    download: float = 3600.0


@dataclass
class BackendContext:
    """What the core hands a backend: its own directory, the node's store and crypto, events."""

    data_dir: Path
    store: Store
    crypto: HashRatchet
    emit: Callable[[ArchiveEvent], None]
    timeouts: Timeouts = field(default_factory=Timeouts)
    node_public_key_hex: str = ""  # '0x04…' uncompressed; BitTorrent's `created by`
    max_download_concurrency: int = 4


class Publication(abc.ABC):
    """One owner-side create run of one backend. Nothing is visible to members and nothing
    already stored is changed until `commit`; `abort` leaves the previous state intact."""

    @abc.abstractmethod
    async def add(self, archive: BuiltArchive) -> str:
        """Store one archive; return its archive ID ('0x' + Keccak-256 of the index entry)."""

    @abc.abstractmethod
    async def commit(self) -> PublishResult:
        """Write the cumulative index (encrypted when the community is) and produce the link."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Undo what `add` stored so far, as far as the medium allows."""


class ArchiveBackend(abc.ABC):
    """One storage medium. Instances are made by a `BackendFactory` from the plugin system."""

    name: ClassVar[str]

    def __init__(self, context: BackendContext, settings: BaseModel | None = None) -> None:
        self.context = context
        self.settings = settings

    # lifecycle --------------------------------------------------------------------------
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @property
    @abc.abstractmethod
    def is_started(self) -> bool: ...

    @classmethod
    @abc.abstractmethod
    def handles_link(cls, link: str) -> bool:
        """True if `link` is of this backend's kind (cheap syntax check, no I/O)."""

    # owner ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def open_publication(self, community_id: bytes, encrypt: bool) -> Publication: ...

    @abc.abstractmethod
    def current_link(self, community_id: bytes) -> str | None:
        """The link of the last committed publication held locally, if any."""

    def committed_end(self, community_id: bytes) -> int:
        """The end (largest `to_ts`) of the windows the last committed publication holds, 0
        when none: how the owner recovers its end date after a crash between a backend's
        commit and the store's write. Blocking (reads the local index)."""
        return 0

    @classmethod
    def same_content(cls, link: str, other: str) -> bool:
        """True when two links of this backend name the same published content (a magnet's
        peer hints change with the listen port; the content does not)."""
        return link == other

    @abc.abstractmethod
    async def seed(self, community_id: bytes, link: str) -> None: ...

    @abc.abstractmethod
    async def unseed(self, community_id: bytes, link: str) -> None: ...

    @abc.abstractmethod
    async def is_seeding(self, community_id: bytes, link: str) -> bool: ...

    # member -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def download_history_archives(
        self,
        community_id: bytes,
        link: str,
        cancel: asyncio.Event,
        archive_ready: ArchiveReady | None = None,
    ) -> DownloadTaskInfo:
        """Fetch the index behind `link` once, then every archive `plan.plan_downloads`
        selects (newest first), saving each archive ID as it completes and then calling
        `archive_ready(archive_id)` (on the event loop), so the caller can import that archive
        while later ones still download. Cancellation returns `cancelled=True` without
        raising; a timeout of the index raises ArchiveTimeoutError."""

    async def load_archive_messages(
        self, community_id: bytes, link: str, archive_id: str
    ) -> list[pb.WakuMessage]:
        """Read one downloaded archive from local storage, decrypting if needed: its stored
        bytes (read_archive_bytes) decoded as status-go does, whatever the backend."""
        data = await self.read_archive_bytes(community_id, link, archive_id)
        archive = await asyncio.to_thread(decode_archive, data, community_id, self.context.crypto)
        return list(archive.messages)

    # both sides -------------------------------------------------------------------------
    @abc.abstractmethod
    async def read_index(self, community_id: bytes, link: str | None = None) -> list[IndexEntry]:
        """The locally held index (owner: the last commit; member: the downloaded one)."""

    @abc.abstractmethod
    async def read_archive_bytes(
        self, community_id: bytes, link: str | None, archive_id: str
    ) -> bytes:
        """The stored bytes of one archive exactly as published (still encrypted if it was)."""


@dataclass(frozen=True)
class BackendDefaults:
    """Where a backend goes when the configuration leaves `enabled`, `owner.distribution` or
    `member.preference` unset, so the core needs no backend's name to pick defaults."""

    order: int = 100  # position in `enabled` (lower first)
    publish: bool = True  # in the default `owner.distribution`
    preference: int = 100  # position in the default `member.preference` (lower first)


@dataclass(frozen=True)
class BackendFactory:
    """What a plugin registers through the `archive_backend_factories` hook."""

    name: str
    description: str
    backend_class: type[ArchiveBackend]
    settings_model: type[BaseModel] | None = None
    # Decodes this backend's plaintext index file into neutral entries (e.g. for `inspect`),
    # so a tool can read any installed backend's index without naming one.
    decode_index: Callable[[bytes], Sequence[IndexEntry]] | None = None
    defaults: BackendDefaults = field(default_factory=BackendDefaults)
    # Other names the backend answers to in configs and on the command line (e.g. a former
    # name); stored state keeps `name`.
    aliases: tuple[str, ...] = ()

    def create(self, context: BackendContext, settings: dict[str, Any] | None) -> ArchiveBackend:
        model = None
        if self.settings_model is not None:
            model = validate_backend_settings(self.name, self.settings_model, settings or {})
        return self.backend_class(context, model)

    def handles_link(self, link: str) -> bool:
        return self.backend_class.handles_link(link)
