"""ArchiveManager: status-go's backend-neutral ArchiveService (reference §1.3, §7) over one or
several backends at once.

Owner: interval tasks create archives from the store, publish them with every backend in
`owner.distribution` and announce each new link as a signed message.
Member: links pass the acceptance rules, then a per-community worker downloads them in
`member.preference` order (a newer or preferred link supersedes the running download), and a
paced loop imports what was downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import pluggy

from archive_service.archives import MessageSource, messages_from_list
from archive_service.clock import Clock, SystemClock, now_ms
from archive_service.config import Config
from archive_service.creation import create_history_archives
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import sign_archive_link, verify_archive_link
from archive_service.errors import (
    ArchiveServiceError,
    ArchiveTimeoutError,
    ConfigError,
    InvalidInputError,
    NoGroupKeyError,
)
from archive_service.events import (
    ArchiveLinkIgnored,
    DownloadingHistoryArchivesFinished,
    HistoryArchiveImported,
    HistoryArchiveImportFailed,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesDownloadFailed,
    HistoryArchivesSeeding,
    HistoryArchivesUnseeded,
    ImportingHistoryArchiveMessages,
)
from archive_service.ids import community_hex, topic_from_chat_id, universal_chat_id
from archive_service.interface import ArchiveBackend, DownloadTaskInfo, PublishResult
from archive_service.plugins import event_emitter
from archive_service.store import Community, Store
from archive_service.types import BuiltArchive, StoredMessage
from archive_service.wire import pb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkDecision:
    """Why a link was or was not acted on; `reason` is one of the REASON_* strings."""

    accepted: bool
    reason: str
    community_id: bytes = b""
    backend: str = ""
    link: str = ""
    clock: int = 0


ACCEPTED = "accepted"
REASON_BAD_SIGNATURE = "bad-signature"
REASON_UNKNOWN_COMMUNITY = "unknown-community"
REASON_OWNER = "control-node"
REASON_NOT_MEMBER = "not-member"
REASON_DISABLED = "archives-disabled"
REASON_UNSUPPORTED_LINK = "no-backend-for-link"
REASON_OLD_CLOCK = "old-clock"
REASON_SAME_LINK = "same-link"


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    link: str | None
    mapping: dict[str, str]  # source archive ID -> target archive ID
    skipped: list[str]  # source IDs whose window the target already holds


@dataclass
class _Running:
    backend: str
    link: str
    cancel: asyncio.Event


@dataclass
class _MemberState:
    pending: dict[str, str] = field(default_factory=dict)  # backend -> link to download
    running: _Running | None = None
    worker: asyncio.Task[None] | None = None
    importer: asyncio.Task[None] | None = None
    # "No key yet" back-off (loop.time() deadlines), for downloads per backend and imports
    # per archive; a new link or a new group key clears them and wakes the loop.
    download_not_before: dict[str, float] = field(default_factory=dict)
    download_no_key: dict[str, int] = field(default_factory=dict)
    import_not_before: dict[str, float] = field(default_factory=dict)
    import_gave_up: set[str] = field(default_factory=set)  # surfaced; not retried this run
    download_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    import_wakeup: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Outcome:
    info: DownloadTaskInfo | None = None  # None: the run failed as a whole (emitted)
    no_key: bool = False  # the index needs a group key this node does not hold yet


class RateLimiter:
    """At most `rate` acquisitions per second, first one immediate (golang rate.Limiter with
    burst 1, as status-go's import limiter)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / self.rate


class ArchiveManager:
    def __init__(
        self,
        *,
        store: Store,
        crypto: HashRatchet,
        backends: Mapping[str, ArchiveBackend],
        pm: pluggy.PluginManager,
        config: Config,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.crypto = crypto
        self.backends = dict(backends)
        self.pm = pm
        self.config = config
        self.clock = clock or SystemClock()
        self.emit = event_emitter(pm)
        self._owner_tasks: dict[bytes, asyncio.Task[None]] = {}
        self._members: dict[bytes, _MemberState] = {}
        self._import_gate = asyncio.Event()
        self._gate_task: asyncio.Task[None] | None = None
        self._limiter = RateLimiter(
            config.import_.fast_rate if config.import_.fast else config.import_.slow_rate
        )
        self._stopping = False

    # lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the import gate after the initial delay and resume pending imports."""
        self._stopping = False
        self._gate_task = asyncio.create_task(self._open_import_gate())
        for community in self.store.list_communities():
            if not community.is_control_node and self.store.archives_to_import(community.id):
                self._ensure_importer(community.id)

    async def stop(self) -> None:
        """Stop interval tasks and member work and wait for all of them (no task outlives us)."""
        self._stopping = True
        tasks: list[asyncio.Task[None]] = list(self._owner_tasks.values())
        self._owner_tasks.clear()
        for state in self._members.values():
            if state.running is not None:
                state.running.cancel.set()
            tasks += [t for t in (state.worker, state.importer) if t is not None]
        if self._gate_task is not None:
            tasks.append(self._gate_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._members.clear()

    async def _open_import_gate(self) -> None:
        await asyncio.sleep(self.config.import_.initial_delay)
        self._import_gate.set()

    def set_import_speed(self, fast: bool) -> None:
        """status-go SpeedupArchivesImport / SlowdownArchivesImport."""
        cfg = self.config.import_
        self._limiter.rate = cfg.fast_rate if fast else cfg.slow_rate

    def open_import_gate_now(self) -> None:
        self._import_gate.set()

    # owner ----------------------------------------------------------------------------------
    def community_topics(self, community: Community) -> list[bytes]:
        """Every chat's topic plus the universal channel's (V3 adds the latter)."""
        topics: list[bytes] = []
        for chat_id in (*community.chat_ids, universal_chat_id(community.id)):
            topic = topic_from_chat_id(chat_id)
            if topic not in topics:
                topics.append(topic)
        return topics

    def partition_start(self, community: Community) -> int:
        """The last archive's end date, else the oldest stored message, else 0."""
        last = self.store.get_last_archive_end_date(community.id)
        if last:
            return last
        return self.store.oldest_message_timestamp(self.community_topics(community))

    def distribution_backends(self) -> list[ArchiveBackend]:
        names = self.config.owner.distribution
        missing = [n for n in names if n not in self.backends]
        if missing:
            raise ConfigError(
                f"owner.distribution names backend(s) {missing} that are not enabled on this "
                f"node (enabled: {sorted(self.backends)}); add them to `enabled`"
            )
        return [self.backends[n] for n in names]

    async def init_history_archive_tasks(self, communities: Iterable[Community]) -> None:
        """status-go InitHistoryArchiveTasks (§7.2) for the communities this node controls."""
        interval = self.config.owner.interval
        for community in communities:
            if not (community.is_control_node and community.archives_enabled):
                continue
            await self.seed_existing(community)
            last = self.partition_start(community)
            now = self.clock.now()
            if last == 0:
                self._start_owner_task(community, first_delay=None)
            elif now - last < interval:
                self._start_owner_task(community, first_delay=interval - (now - last))
            else:
                await self.create_and_seed_history_archive(community, last, int(now))
                self._start_owner_task(community, first_delay=None)

    async def seed_existing(self, community: Community) -> None:
        for backend in self.distribution_backends():
            link = backend.current_link(community.id)
            if link:
                await backend.seed(community.id, link)
                self.emit(
                    HistoryArchivesSeeding(
                        community_id=community_hex(community.id), backend=backend.name, link=link
                    )
                )

    def _start_owner_task(self, community: Community, first_delay: float | None) -> None:
        if community.id in self._owner_tasks:
            log.info("interval task already running for %s", community_hex(community.id))
            return
        self._owner_tasks[community.id] = asyncio.create_task(
            self._owner_loop(community, first_delay), name=f"archives:{community_hex(community.id)}"
        )

    start_history_archive_tasks_interval = _start_owner_task

    async def stop_history_archive_tasks_interval(self, community_id: bytes) -> None:
        """Stop one community's interval (idempotent) and unseed its current links."""
        task = self._owner_tasks.pop(community_id, None)
        if task is None:
            return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for backend in self.distribution_backends():
            link = backend.current_link(community_id)
            if link:
                await backend.unseed(community_id, link)
                self.emit(
                    HistoryArchivesUnseeded(
                        community_id=community_hex(community_id), backend=backend.name, link=link
                    )
                )

    @property
    def history_tasks_count(self) -> int:
        return len(self._owner_tasks)

    async def _owner_loop(self, community: Community, first_delay: float | None) -> None:
        delay = first_delay if first_delay is not None else self.config.owner.interval
        while True:
            await self.clock.sleep(delay)
            delay = self.config.owner.interval
            start = self.partition_start(community)
            if start == 0:
                continue
            try:
                await self.create_and_seed_history_archive(community, start, int(self.clock.now()))
            except ArchiveServiceError:
                # Logged and retried at the next tick: one failed week must not end the task.
                log.exception("creating archives for %s failed", community_hex(community.id))

    async def create_and_seed_history_archive(
        self, community: Community, start: int, end: int
    ) -> dict[str, PublishResult]:
        """Create [start, end) with every distribution backend from one pass over the store,
        persist the end date (even when nothing was created, as upstream), then seed and
        announce every link that changed."""
        return await self._create(
            community, self.store.iter_waku_messages, start, end, persist_end=True
        )

    async def create_history_archive_from_messages(
        self, community: Community, messages: Iterable[StoredMessage], start: int, end: int
    ) -> dict[str, PublishResult]:
        """status-go CreateHistoryArchiveFromMessages (e.g. a Discord import): the store's end
        date is left alone, as upstream."""
        return await self._create(
            community, messages_from_list(messages), start, end, persist_end=False
        )

    async def _create(
        self,
        community: Community,
        source: MessageSource,
        start: int,
        end: int,
        *,
        persist_end: bool,
    ) -> dict[str, PublishResult]:
        backends = self.distribution_backends()
        previous = {b.name: b.current_link(community.id) for b in backends}
        results = await create_history_archives(
            backends,
            source,
            community.id,
            self.community_topics(community),
            start,
            end,
            int(self.config.owner.interval),
            encrypt=self._encryptor(community),
            emit=self.emit,
        )
        if persist_end:
            # Before seeding: once committed, [start, end) must never be archived again.
            self.store.set_last_archive_end_date(community.id, end)
        await self._seed_and_announce(community, previous, results)
        return results

    def _encryptor(self, community: Community) -> Callable[[bytes], bytes] | None:
        if not community.encrypted:
            return None
        return lambda data: self.crypto.encrypt(community.id, data)

    async def _seed_and_announce(
        self,
        community: Community,
        previous: Mapping[str, str | None],
        results: Mapping[str, PublishResult],
    ) -> None:
        cid = community_hex(community.id)
        for name, result in results.items():
            if not result.link or result.link == previous.get(name):
                # Nothing new: the old link stays seeded and is not re-announced (§11.8).
                continue
            backend = self.backends[name]
            await backend.seed(community.id, result.link)
            old = previous.get(name)
            if old:
                # Only after the new link is seeded, so members always find one of them.
                await backend.unseed(community.id, old)
                self.emit(HistoryArchivesUnseeded(community_id=cid, backend=name, link=old))
            self.store.set_archive_link(community.id, name, result.link)
            self.emit(HistoryArchivesSeeding(community_id=cid, backend=name, link=result.link))
            await self.publish_link(community, name, result.link)

    async def publish_link(self, community: Community, backend: str, link: str) -> int:
        """Sign the link with the community key and hand it to the host's transport."""
        if community.private_key is None:
            raise InvalidInputError(
                f"community {community_hex(community.id)} has no private key on this node; "
                "only its control node can announce archive links"
            )
        clock = max(now_ms(self.clock), self.store.get_archive_link(community.id, backend).clock)
        message = sign_archive_link(community.private_key, clock, link)
        self.pm.hook.archive_link_publish(
            community_id=community.id, backend=backend, link=link, message=message
        )
        self.store.set_archive_link_clock(community.id, backend, clock)
        return clock

    async def republish_links(self, community: Community) -> None:
        """Announce the current links again with a fresh clock (owner coming back online)."""
        for backend in self.distribution_backends():
            link = backend.current_link(community.id)
            if link:
                await self.publish_link(community, backend.name, link)

    # member: link acceptance -----------------------------------------------------------------
    async def handle_archive_link_message(self, message: bytes) -> LinkDecision:
        """status-go HandleCommunityMessageArchiveLink (§7.4) with every gate explicit."""
        try:
            link_message = verify_archive_link(message)
        except ArchiveServiceError as exc:
            return self._refuse(REASON_BAD_SIGNATURE, b"", "", detail=str(exc))
        cid, link, clock = link_message.community_id, link_message.link, link_message.clock
        community = self.store.get_community(cid)
        if community is None:
            # A link signed by any key but a known community's maps to an unknown community.
            return self._refuse(REASON_UNKNOWN_COMMUNITY, cid, link)
        if community.is_control_node:
            return self._refuse(REASON_OWNER, cid, link)
        if not community.joined:
            return self._refuse(REASON_NOT_MEMBER, cid, link)
        if not community.archives_enabled:
            return self._refuse(REASON_DISABLED, cid, link)
        backend = self._backend_for_link(link)
        if backend is None:
            return self._refuse(
                REASON_UNSUPPORTED_LINK,
                cid,
                link,
                detail=f"enabled backends: {sorted(self.backends)}",
            )
        state = self.store.get_archive_link(cid, backend)
        if clock < state.clock:
            return self._refuse(
                REASON_OLD_CLOCK, cid, link, backend, detail=f"clock {clock} < stored {state.clock}"
            )
        member = self._members.get(cid)
        in_flight = member is not None and (
            member.pending.get(backend) == link
            or (member.running is not None and member.running.link == link)
        )
        if link == state.link or in_flight:
            return self._refuse(REASON_SAME_LINK, cid, link, backend)
        self.store.set_archive_link_clock(cid, backend, clock)
        self._schedule_download(cid, backend, link)
        return LinkDecision(True, ACCEPTED, cid, backend, link, clock)

    async def handle_request_to_join_response(self, community_id: bytes, link: str) -> LinkDecision:
        """A link in an accepted request-to-join response downloads without the clock and
        last-seen gates (as upstream), but still needs a backend for it."""
        backend = self._backend_for_link(link)
        if backend is None:
            return self._refuse(REASON_UNSUPPORTED_LINK, community_id, link)
        self._schedule_download(community_id, backend, link)
        return LinkDecision(True, ACCEPTED, community_id, backend, link)

    def handle_community_description_clock(
        self, community_id: bytes, backend: str, clock: int
    ) -> None:
        """A CommunityDescription's archive clock is a high-water mark for link clocks."""
        if clock > self.store.get_archive_link(community_id, backend).clock:
            self.store.set_archive_link_clock(community_id, backend, clock)

    def _backend_for_link(self, link: str) -> str | None:
        for name in self._preference_order():
            if self.backends[name].handles_link(link):
                return name
        return None

    def _preference_order(self) -> list[str]:
        preferred = [n for n in self.config.member.preference if n in self.backends]
        return preferred + [n for n in self.backends if n not in preferred]

    def _refuse(
        self, reason: str, cid: bytes, link: str, backend: str = "", detail: str = ""
    ) -> LinkDecision:
        log.info(
            "archive link ignored: %s (community=%s backend=%s link=%s %s)",
            reason,
            community_hex(cid) if cid else "?",
            backend or "?",
            link,
            detail,
        )
        self.emit(
            ArchiveLinkIgnored(
                community_id=community_hex(cid) if cid else "",
                backend=backend,
                link=link,
                reason=reason,
                detail={"detail": detail} if detail else {},
            )
        )
        return LinkDecision(False, reason, cid, backend, link)

    # member: downloads ----------------------------------------------------------------------
    def _schedule_download(self, community_id: bytes, backend: str, link: str) -> None:
        state = self._members.setdefault(community_id, _MemberState())
        if state.pending.get(backend) != link:
            state.download_not_before.pop(backend, None)
            state.download_no_key.pop(backend, None)
        state.pending[backend] = link
        running = state.running
        if running is not None:
            order = self._preference_order()
            if running.backend == backend or order.index(backend) < order.index(running.backend):
                # Superseded: the worker joins the cancelled run before starting the next one.
                running.cancel.set()
        state.download_wakeup.set()
        if state.worker is None or state.worker.done():
            state.worker = asyncio.create_task(self._download_worker(community_id, state))

    def notify_group_key(self, community_id: bytes) -> None:
        """The host received a group key for this community: retry what waited for one now."""
        state = self._members.get(community_id)
        if state is None:
            return
        state.download_not_before.clear()
        state.import_not_before.clear()
        state.download_wakeup.set()
        state.import_wakeup.set()

    async def _download_worker(self, community_id: bytes, state: _MemberState) -> None:
        order = self._preference_order()
        loop = asyncio.get_running_loop()
        while state.pending and not self._stopping:
            now = loop.time()
            ready = [b for b in state.pending if state.download_not_before.get(b, 0.0) <= now]
            if not ready:
                state.download_wakeup.clear()
                wait = min(state.download_not_before[b] for b in state.pending) - now
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await state.download_wakeup.wait()
                continue
            backend = min(ready, key=order.index)
            link = state.pending[backend]
            state.running = _Running(backend, link, asyncio.Event())
            try:
                outcome = await self._download(community_id, backend, link, state.running.cancel)
            finally:
                state.running = None
            info = outcome.info
            if info is not None and info.cancelled:
                continue  # superseded or stopping; the pending map says what comes next
            if outcome.no_key and state.pending.get(backend) == link:
                # Keep the link; try again after a back-off, or as soon as a key arrives.
                n = state.download_no_key[backend] = state.download_no_key.get(backend, 0) + 1
                backoff = self.config.import_.no_key_backoff * 2 ** min(n - 1, 6)
                state.download_not_before[backend] = loop.time() + backoff
                continue
            if state.pending.get(backend) == link:
                del state.pending[backend]
            if info is None:
                continue
            if not info.failed_archive_ids:
                await self._mark_last_seen(community_id, backend, link)
            if self.store.archives_to_import(community_id):
                self._ensure_importer(community_id)
        if not state.pending and state.importer is None:
            self.emit(DownloadingHistoryArchivesFinished(community_id=community_hex(community_id)))

    async def _mark_last_seen(self, community_id: bytes, backend: str, link: str) -> None:
        old = self.store.get_archive_link(community_id, backend).link
        self.store.set_archive_link(community_id, backend, link)
        if old and old != link:
            await self.backends[backend].unseed(community_id, old)
        self.emit(
            HistoryArchivesSeeding(
                community_id=community_hex(community_id), backend=backend, link=link
            )
        )

    async def _download(
        self, community_id: bytes, backend_name: str, link: str, cancel: asyncio.Event
    ) -> _Outcome:
        """One download with the index timeout retried `timeouts.index_retries` times.
        Failures of the whole run are emitted with their reason."""
        backend = self.backends[backend_name]
        attempts = 1 + self.config.timeouts.index_retries
        no_key = False
        for attempt in range(1, attempts + 1):
            try:
                info = await backend.download_history_archives(community_id, link, cancel)
            except ArchiveTimeoutError as exc:
                reason = f"timeout: {exc}"
                if attempt < attempts:
                    log.info("%s; retrying (%d/%d)", reason, attempt, attempts - 1)
                    continue
            except NoGroupKeyError as exc:
                reason, no_key = f"no key: {exc}", True
            except ArchiveServiceError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A backend is a plugin: its bug must end this run, not the member's worker.
                log.exception("backend %s failed unexpectedly on %s", backend_name, link)
                reason = f"unexpected {type(exc).__name__} in backend {backend_name}: {exc}"
            else:
                self.emit(
                    HistoryArchivesDownloadCompleted(
                        community_id=community_hex(community_id),
                        backend=backend_name,
                        link=link,
                        total_archives=info.total_archives,
                        downloaded=info.total_downloaded,
                        skipped=len(info.skipped_archive_ids),
                        failed=len(info.failed_archive_ids),
                        cancelled=info.cancelled,
                        bytes_downloaded=info.bytes_downloaded,
                    )
                )
                return _Outcome(info)
            log.warning("download of %s via %s failed: %s", link, backend_name, reason)
            self.emit(
                HistoryArchivesDownloadFailed(
                    community_id=community_hex(community_id),
                    backend=backend_name,
                    link=link,
                    reason=reason,
                )
            )
            return _Outcome(no_key=no_key)
        return _Outcome()  # unreachable: the loop returns or records a failure

    # member: import ---------------------------------------------------------------------------
    def _ensure_importer(self, community_id: bytes) -> None:
        state = self._members.setdefault(community_id, _MemberState())
        if state.importer is None or state.importer.done():
            state.importer = asyncio.create_task(self._import_loop(community_id, state))

    async def _import_loop(self, community_id: bytes, state: _MemberState) -> None:
        """status-go importHistoryArchives (§7.5), without its hot retry loop (§11.13): a
        missing key postpones that archive, other errors back off and give up after
        `import.max_attempts`, and other archives keep importing meanwhile."""
        cfg = self.config.import_
        cid = community_hex(community_id)
        attempts: dict[str, int] = {}
        not_before = state.import_not_before
        gave_up = state.import_gave_up
        loop = asyncio.get_running_loop()
        try:
            await self._import_gate.wait()
            while not self._stopping:
                community = self.store.get_community(community_id)
                if community is None or not community.joined:
                    return
                rows = [
                    r
                    for r in self.store.archives_to_import(community_id)
                    if r.archive_id not in gave_up
                ]
                if not rows:
                    return
                now = loop.time()
                ready = [r for r in rows if not_before.get(r.archive_id, 0.0) <= now]
                if not ready:
                    state.import_wakeup.clear()
                    wait = min(not_before[r.archive_id] for r in rows) - now
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await state.import_wakeup.wait()
                    continue
                row = ready[0]
                try:
                    backend = self.backends.get(row.backend)
                    if backend is None:
                        raise ConfigError(
                            f"archive {row.archive_id} was downloaded with backend "
                            f"{row.backend!r}, which is not enabled"
                        )
                    messages = await backend.load_archive_messages(
                        community_id, row.link, row.archive_id
                    )
                    self.emit(
                        ImportingHistoryArchiveMessages(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            message_count=len(messages),
                        )
                    )
                    imported = await self._hand_to_host(community_id, messages)
                except NoGroupKeyError as exc:
                    n = attempts[row.archive_id] = attempts.get(row.archive_id, 0) + 1
                    not_before[row.archive_id] = loop.time() + cfg.no_key_backoff * 2 ** min(
                        n - 1, 6
                    )
                    self.emit(
                        HistoryArchiveImportFailed(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            reason=str(exc),
                            attempts=n,
                            postponed=True,
                        )
                    )
                    continue
                except Exception as exc:  # the host's handler may raise anything
                    n = attempts[row.archive_id] = attempts.get(row.archive_id, 0) + 1
                    give_up = n >= cfg.max_attempts
                    if give_up:
                        gave_up.add(row.archive_id)
                    else:
                        not_before[row.archive_id] = loop.time() + cfg.error_backoff * 2 ** (n - 1)
                    log.warning("import of %s failed (attempt %d): %s", row.archive_id, n, exc)
                    self.emit(
                        HistoryArchiveImportFailed(
                            community_id=cid,
                            backend=row.backend,
                            archive_id=row.archive_id,
                            reason=f"{type(exc).__name__}: {exc}",
                            attempts=n,
                            gave_up=give_up,
                        )
                    )
                    continue
                # Marked only after every batch was handled: a crash re-imports, never skips.
                self.store.set_archive_imported(community_id, row.archive_id)
                self.emit(
                    HistoryArchiveImported(
                        community_id=cid,
                        backend=row.backend,
                        archive_id=row.archive_id,
                        imported=imported,
                        remaining=len(rows) - 1,
                    )
                )
                await asyncio.sleep(cfg.tick)
        finally:
            state.importer = None
            if not self._stopping and not state.pending and state.running is None:
                self.emit(DownloadingHistoryArchivesFinished(community_id=cid))

    async def _hand_to_host(self, community_id: bytes, messages: list[pb.WakuMessage]) -> int:
        size = self.config.import_.chunk_size
        imported = 0
        for i in range(0, len(messages), size):
            await self._limiter.acquire()
            result = self.pm.hook.archive_messages_import(
                community_id=community_id, messages=messages[i : i + size]
            )
            imported += int(result or 0)
        return imported

    def running_download(self, community_id: bytes) -> tuple[str, str] | None:
        """(backend, link) of the download running for this community, if any."""
        state = self._members.get(community_id)
        if state is None or state.running is None:
            return None
        return state.running.backend, state.running.link

    def pending_imports(self, community_id: bytes) -> int:
        return len(self.store.archives_to_import(community_id))

    async def wait_idle(self, community_id: bytes) -> None:
        """Wait until this community has no download or import running (for tools and tests)."""
        while True:
            state = self._members.get(community_id)
            tasks = [] if state is None else [t for t in (state.worker, state.importer) if t]
            live = [t for t in tasks if not t.done()]
            if not live:
                return
            await asyncio.wait(live)

    # migration --------------------------------------------------------------------------------
    async def migrate(
        self, community: Community, source: str = "torrent", target: str = "codex"
    ) -> MigrationReport:
        """Republish the history stored by `source` with `target`: the same archive bytes,
        without reading the message store, so the target's index covers the whole history.
        Windows the target already holds are skipped, so a migration can be re-run."""
        for name in (source, target):
            if name not in self.backends:
                raise ConfigError(
                    f"migration needs backend {name!r} enabled on this node "
                    f"(enabled: {sorted(self.backends)})"
                )
        src, dst = self.backends[source], self.backends[target]
        entries = await src.read_index(community.id)
        held = {(e.metadata.from_ts, e.metadata.to_ts) for e in await dst.read_index(community.id)}
        previous = {target: dst.current_link(community.id)}
        publication = await dst.open_publication(community.id, community.encrypted)
        mapping: dict[str, str] = {}
        skipped: list[str] = []
        try:
            # Oldest first and, within a window, in stored order, so chunk order survives.
            for entry in sorted(
                entries, key=lambda e: (e.metadata.from_ts, e.locator.get("offset", 0))
            ):
                if (entry.metadata.from_ts, entry.metadata.to_ts) in held:
                    skipped.append(entry.archive_id)
                    continue
                data = await src.read_archive_bytes(community.id, None, entry.archive_id)
                # message_count -1: the bytes are republished as they are, never decoded.
                mapping[entry.archive_id] = await publication.add(
                    BuiltArchive(
                        metadata=entry.metadata,
                        data=data,
                        message_count=-1,
                        encrypted=community.encrypted,
                    )
                )
            result = await publication.commit()
        except BaseException:
            await publication.abort()
            raise
        await self._seed_and_announce(community, previous, {target: result})
        return MigrationReport(source, target, result.link, mapping, skipped)
