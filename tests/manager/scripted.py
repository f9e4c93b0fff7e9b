"""A manager over a real SQLite store, real archive encoding and a ManualClock, with in-process
backend plugins whose failures a test scripts: for the rules (pacing, retries, chunking,
containment) that the loopback end-to-end tests cannot pin down or break on purpose."""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from archive_service.archives import build_archives, messages_from_list
from archive_service.clock import ManualClock
from archive_service.config import (
    Config,
    ImportSettings,
    MemberSettings,
    OwnerSettings,
    TimeoutSettings,
)
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import generate_community_key
from archive_service.events import ArchiveEvent
from archive_service.hookspecs import hookimpl
from archive_service.interface import (
    ArchiveBackend,
    ArchiveReady,
    BackendContext,
    BuiltArchive,
    DownloadTaskInfo,
    IndexEntry,
    Publication,
    PublishResult,
)
from archive_service.manager import ArchiveManager
from archive_service.manager.owner import community_topics
from archive_service.plugins import plugin_manager
from archive_service.store import Community, Store
from archive_service.types import StoredMessage
from archive_service.wire import pb

DAY = 24 * 3600
WEEK = 7 * DAY
T0 = 1_700_000_000


@dataclass
class Medium:
    """What the backends of one test have published: link -> the archives behind it."""

    published: dict[str, list[tuple[str, BuiltArchive]]] = field(default_factory=dict)


class ScriptedBackend(ArchiveBackend):
    """Links look like '<name>:<n>'. `failures[operation]` holds exceptions raised, one per
    call, before the operation does its work ('open_publication', 'download', 'read');
    `calls` counts the calls and `log` records seed/unseed/download in order. A download of
    a link in `hold` waits until it is cancelled; `hold_after` holds one part-way."""

    name: ClassVar[str] = "scripted"
    medium: Medium

    def __init__(self, context: BackendContext, medium: Medium) -> None:
        super().__init__(context)
        self.medium = medium
        self.failures: dict[str, list[BaseException]] = defaultdict(list)
        self.calls: dict[str, int] = defaultdict(int)
        self.archives: dict[str, bytes] = {}
        self.links: dict[bytes, str] = {}
        self.log: list[tuple[str, str]] = []
        self.hold: set[str] = set()
        # (link, n): after recording its n-th archive the download waits for the event.
        self.hold_after: dict[tuple[str, int], asyncio.Event] = {}
        self.holding = asyncio.Event()  # set when a download stops at a `hold_after` point
        self.download_times: list[float] = []
        self.clock: Any = None  # set by scripted_node, to record when downloads start

    def _step(self, operation: str) -> None:
        self.calls[operation] += 1
        if self.failures[operation]:
            raise self.failures[operation].pop(0)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    @property
    def is_started(self) -> bool:
        return True

    @classmethod
    def handles_link(cls, link: str) -> bool:
        return link.startswith(f"{cls.name}:")

    async def open_publication(self, community_id: bytes, encrypt: bool) -> Publication:
        self._step("open_publication")
        return _ScriptedPublication(self, community_id)

    def current_link(self, community_id: bytes) -> str | None:
        return self.links.get(community_id)

    async def seed(self, community_id: bytes, link: str) -> None:
        self.log.append(("seed", link))

    async def unseed(self, community_id: bytes, link: str) -> None:
        self.log.append(("unseed", link))

    async def is_seeding(self, community_id: bytes, link: str) -> bool:
        return self.links.get(community_id) == link

    async def download_history_archives(
        self,
        community_id: bytes,
        link: str,
        cancel: asyncio.Event,
        archive_ready: ArchiveReady | None = None,
    ) -> DownloadTaskInfo:
        self.log.append(("download", link))
        if self.clock is not None:
            self.download_times.append(self.clock.now())
        self._step("download")
        if link in self.hold:
            await cancel.wait()
            return DownloadTaskInfo(cancelled=True)
        done = 0
        archives = self.medium.published[link]
        # Newest window first, as the real backends plan; a test may hold the run after an
        # archive (`hold_after`) until it is released or the run cancelled.
        for archive_id, archive in sorted(archives, key=lambda a: -a[1].metadata.from_ts):
            self.archives[archive_id] = archive.data
            self.context.store.save_archive_id(
                community_id,
                archive_id,
                backend=self.name,
                from_ts=archive.metadata.from_ts,
                to_ts=archive.metadata.to_ts,
                link=link,
            )
            done += 1
            if archive_ready is not None:
                archive_ready(archive_id)
            gate = self.hold_after.get((link, done))
            if gate is not None:
                self.log.append(("held", link))
                self.holding.set()
                waiter = asyncio.ensure_future(gate.wait())
                cancelled = asyncio.ensure_future(cancel.wait())
                await asyncio.wait({waiter, cancelled}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                cancelled.cancel()
                if cancel.is_set():
                    return DownloadTaskInfo(
                        total_archives=len(archives), total_downloaded=done, cancelled=True
                    )
        return DownloadTaskInfo(total_archives=len(archives), total_downloaded=len(archives))

    async def read_index(self, community_id: bytes, link: str | None = None) -> list[IndexEntry]:
        link = link or self.links.get(community_id)
        return [
            IndexEntry(archive_id, archive.metadata, {}, len(archive.data))
            for archive_id, archive in self.medium.published.get(link or "", [])
        ]

    async def read_archive_bytes(
        self, community_id: bytes, link: str | None, archive_id: str
    ) -> bytes:
        self._step("read")
        return self.archives[archive_id]


class _ScriptedPublication(Publication):
    def __init__(self, backend: ScriptedBackend, community_id: bytes) -> None:
        self.backend, self.community_id = backend, community_id
        self.added: list[tuple[str, BuiltArchive]] = []

    async def add(self, archive: BuiltArchive) -> str:
        archive_id = "0x" + hashlib.sha256(self.backend.name.encode() + archive.data).hexdigest()
        self.backend.archives[archive_id] = archive.data
        self.added.append((archive_id, archive))
        return archive_id

    async def commit(self) -> PublishResult:
        medium = self.backend.medium
        if not self.added:  # nothing new: the current link stays
            return PublishResult(self.backend.name, [], self.backend.links.get(self.community_id))
        link = f"{self.backend.name}:{len(medium.published) + 1}"
        old = medium.published.get(self.backend.links.get(self.community_id, ""), [])
        medium.published[link] = old + self.added
        self.backend.links[self.community_id] = link
        return PublishResult(self.backend.name, [i for i, _ in self.added], link)

    async def abort(self) -> None:
        self.added.clear()


def scripted_backend_class(name: str) -> type[ScriptedBackend]:
    return type(f"Scripted_{name}", (ScriptedBackend,), {"name": name})


class Host:
    """The host's side of the hooks: imports messages (recording when, on the manual clock,
    and how many), records published links and events, and lets a test await an event."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.batches: list[tuple[float, int]] = []
        self.messages: list[pb.WakuMessage] = []
        self.links: list[tuple[str, str]] = []
        self.events: list[ArchiveEvent] = []
        self._waiters: list[
            tuple[Callable[[ArchiveEvent], bool], asyncio.Future[ArchiveEvent]]
        ] = []

    @hookimpl
    def archive_messages_import(self, community_id: bytes, messages: list[pb.WakuMessage]) -> int:
        self.batches.append((self.clock.now(), len(messages)))
        self.messages.extend(messages)
        return len(messages)

    @hookimpl
    def archive_link_publish(
        self, community_id: bytes, backend: str, link: str, message: bytes
    ) -> bool:
        self.links.append((backend, link))
        return True

    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        self.events.append(event)
        for waiter in list(self._waiters):
            matches, future = waiter
            if not future.done() and matches(event):
                future.set_result(event)
                self._waiters.remove(waiter)

    def of(self, kind: type[ArchiveEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def next_event(
        self, kind: type[ArchiveEvent], where: Callable[[Any], bool] = lambda e: True
    ) -> asyncio.Future[ArchiveEvent]:
        """A future for the next event of `kind` that satisfies `where`."""
        future: asyncio.Future[ArchiveEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((lambda e: isinstance(e, kind) and where(e), future))
        return future


@dataclass
class Node:
    store: Store
    clock: ManualClock
    host: Host
    backends: dict[str, ScriptedBackend]
    manager: ArchiveManager
    config: Config

    async def run_until(self, awaitable: Any, timeout: float = 10.0) -> Any:
        """Drive the manual clock until `awaitable` is done (a real-time bound: a rule that
        broke shows as a timeout, not a hang)."""
        target = asyncio.ensure_future(awaitable)
        try:
            async with asyncio.timeout(timeout):
                await self.clock.run_until(target)
        finally:
            target.cancel()
        return target.result()

    async def idle(self, community_id: bytes) -> None:
        await self.run_until(self.manager.wait_idle(community_id))


@asynccontextmanager
async def scripted_node(
    tmp_path: Path,
    *,
    backends: Sequence[str] = ("scripted",),
    medium: Medium | None = None,
    import_settings: ImportSettings | None = None,
    index_retries: int = 1,
    interval: float = WEEK,
    start: float = T0,
    community: Community | None = None,
    stored: Sequence[StoredMessage] = (),
) -> AsyncIterator[Node]:
    """A started node on scripted backends and a manual clock. `community` and `stored` (its
    messages) are saved once the manager has started, as a test does first thing."""
    clock = ManualClock(start)
    store = Store(tmp_path / "node.sqlite")
    crypto = HashRatchet(store)
    host = Host(clock)
    pm = plugin_manager(load_entrypoints=False, plugins=[host])
    config = Config(
        data_dir=tmp_path,
        enabled=list(backends),
        owner=OwnerSettings(distribution=list(backends), interval=interval),
        member=MemberSettings(preference=list(backends)),
        timeouts=TimeoutSettings(index_retries=index_retries),
        import_=import_settings
        or ImportSettings(initial_delay=0, fast=True, fast_rate=1000, tick=0.1),
    )
    medium = medium or Medium()
    context = BackendContext(data_dir=tmp_path, store=store, crypto=crypto, emit=lambda e: None)
    made = {name: scripted_backend_class(name)(context, medium) for name in backends}
    for backend in made.values():
        backend.clock = clock
    manager = ArchiveManager(
        store=store, crypto=crypto, backends=made, pm=pm, config=config, clock=clock
    )
    await manager.start()
    if community is not None:
        store.save_community(community)
    if stored:
        store.save_waku_messages(stored)
    try:
        yield Node(store, clock, host, made, manager, config)
    finally:
        await manager.stop()
        store.close()


def messages(
    community: Community, count: int, first_ts: int, step: int = 60
) -> list[StoredMessage]:
    (topic,) = community_topics(community)
    return [
        StoredMessage(
            sig=b"\x01" * 65,
            timestamp=first_ts + i * step,
            topic=topic,
            payload=f"message {i}".encode(),
            padding=b"",
            hash=hashlib.sha256(f"{first_ts}/{i}".encode()).digest(),
        )
        for i in range(count)
    ]


def signed_community() -> tuple[bytes, Community]:
    """A joined community and the owner's private key, to sign its archive links with."""
    private, community_id = generate_community_key()
    return private, Community(id=community_id, joined=True)


def member_community() -> Community:
    return signed_community()[1]


def owner_community() -> Community:
    private, community_id = generate_community_key()
    return Community(id=community_id, private_key=private)


def publish(
    medium: Medium, backend: str, community: Community, stored: Sequence[StoredMessage]
) -> str:
    """Put one archive per week of `stored` behind a new link of `backend`; return the link."""
    first, last = stored[0].timestamp, stored[-1].timestamp + 1
    built = build_archives(
        messages_from_list(stored),
        community_topics(community),
        first,
        last,
        WEEK,
        encrypt=None,
    )
    link = f"{backend}:{len(medium.published) + 1}"
    medium.published[link] = [
        ("0x" + hashlib.sha256(backend.encode() + a.data).hexdigest(), a) for a in built
    ]
    return link


def published(count: int, *, step: int = 60) -> tuple[Medium, bytes, Community, str]:
    """A new medium, and a joined community (with its owner's private key) whose `count`
    messages, one every `step` seconds from T0, are archived behind one scripted link."""
    medium = Medium()
    private, community = signed_community()
    link = publish(medium, "scripted", community, messages(community, count, T0, step))
    return medium, private, community, link
