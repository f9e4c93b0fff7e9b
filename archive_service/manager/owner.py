"""The owner's side: status-go InitHistoryArchiveTasks (§7.2). One interval task per controlled
community creates archives from the store with every backend in `owner.distribution`, seeds
each new link (the old one only after the new one) and announces it as a signed message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from archive_service.archives import MessageSource
from archive_service.clock import now_ms
from archive_service.creation import create_history_archives
from archive_service.crypto.signing import sign_archive_link
from archive_service.errors import ArchiveServiceError, ConfigError, InvalidInputError
from archive_service.events import HistoryArchivesSeeding, HistoryArchivesUnseeded
from archive_service.ids import community_hex, topic_from_chat_id, universal_chat_id
from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.manager.context import ManagerContext, ManagerPart
from archive_service.store import Community

log = logging.getLogger(__name__)


def community_topics(community: Community) -> list[bytes]:
    """Every chat's topic plus the universal channel's (V3 adds the latter)."""
    topics: list[bytes] = []
    for chat_id in (*community.chat_ids, universal_chat_id(community.id)):
        topic = topic_from_chat_id(chat_id)
        if topic not in topics:
            topics.append(topic)
    return topics


class OwnerTasks(ManagerPart):
    def __init__(self, context: ManagerContext) -> None:
        super().__init__(context)
        self._tasks: dict[bytes, asyncio.Task[None]] = {}

    def halt(self) -> list[asyncio.Task[None]]:
        """Forget every interval task; return them for the caller to cancel and await."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        return tasks

    @property
    def count(self) -> int:
        return len(self._tasks)

    def partition_start(self, community: Community) -> int:
        """The last archive's end date (recovered from the backends when the store is behind
        them), else the oldest stored message, else 0."""
        last = self.recover_end_date(community)
        if last:
            return last
        return self.store.oldest_message_timestamp(community_topics(community))

    def next_run_in(self, community: Community) -> float | None:
        """Seconds until an interval has passed since the last archive's end (≤ 0: a run is
        due now); None while there is nothing to partition (no archive, no message)."""
        last = self.partition_start(community)
        if last == 0:
            return None
        return last + self.config.owner.interval - self.clock.now()

    def recover_end_date(self, community: Community) -> int:
        """The store's end date, moved up to what every distribution backend has committed
        when a crash came between their commits and the store's write. The least advanced
        backend sets it: the ones ahead skip the windows they hold (creation is idempotent per
        window), so every backend converges on the same history."""
        stored = self.store.get_last_archive_end_date(community.id)
        names = [n for n in self.config.owner.distribution if n in self.backends]
        if not names:
            return stored
        try:
            committed = min(self.backends[n].committed_end(community.id) for n in names)
        except (ArchiveServiceError, OSError) as exc:
            # The publication reports an unreadable index with its remedy; the store's date
            # stands until then.
            log.warning("reading what the backends committed failed: %s", exc)
            return stored
        if committed <= stored:
            return stored
        log.warning(
            "%s: the store's archive end date %d is behind what every backend committed (%d); "
            "recovered",
            community_hex(community.id),
            stored,
            committed,
        )
        self.store.set_last_archive_end_date(community.id, committed)
        return committed

    def distribution_backends(self) -> list[ArchiveBackend]:
        names = self.config.owner.distribution
        missing = [n for n in names if n not in self.backends]
        if missing:
            raise ConfigError(
                f"owner.distribution names backend(s) {missing} that are not enabled on this "
                f"node (enabled: {sorted(self.backends)}); add them to `enabled`"
            )
        return [self.backends[n] for n in names]

    # interval tasks -------------------------------------------------------------------------
    async def init(self, communities: Iterable[Community]) -> None:
        """Seed what exists, catch up an overdue interval at once, then run every interval."""
        for community in communities:
            if not (community.is_control_node and community.archives_enabled):
                continue
            await self._seed_existing(community)
            wait = self.next_run_in(community)
            if wait is None:
                self._start_task(community, first_delay=None)
            elif wait > 0:
                self._start_task(community, first_delay=wait)
            else:
                last, now = self.partition_start(community), int(self.clock.now())
                await self.create_and_seed(community, self.store.iter_waku_messages, last, now)
                self._start_task(community, first_delay=None)

    async def _seed_existing(self, community: Community) -> None:
        for backend in self.distribution_backends():
            link = backend.current_link(community.id)
            if link:
                await backend.seed(community.id, link)
                self.emit(
                    HistoryArchivesSeeding(
                        community_id=community_hex(community.id), backend=backend.name, link=link
                    )
                )

    def _start_task(self, community: Community, first_delay: float | None) -> None:
        if community.id in self._tasks:
            log.info("interval task already running for %s", community_hex(community.id))
            return
        self._tasks[community.id] = asyncio.create_task(
            self._interval_loop(community, first_delay),
            name=f"archives:{community_hex(community.id)}",
        )

    async def stop_interval(self, community_id: bytes) -> None:
        """Stop one community's interval (idempotent) and unseed its current links."""
        task = self._tasks.pop(community_id, None)
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

    async def _interval_loop(self, community: Community, first_delay: float | None) -> None:
        delay = first_delay if first_delay is not None else self.config.owner.interval
        while True:
            await self.clock.sleep(delay)
            delay = self.config.owner.interval
            start = self.partition_start(community)
            if start == 0:
                continue
            try:
                await self.create_and_seed(
                    community, self.store.iter_waku_messages, start, int(self.clock.now())
                )
            except Exception:
                # Logged and retried at the next tick: one failed week, or one crashing
                # backend plugin, must not end the task.
                log.exception("creating archives for %s failed", community_hex(community.id))

    # create, seed, announce -----------------------------------------------------------------
    async def create_and_seed(
        self,
        community: Community,
        source: MessageSource,
        start: int,
        end: int,
        *,
        persist_end: bool = True,
    ) -> dict[str, PublishResult]:
        """Create [start, end) with every distribution backend from one pass over `source`,
        persist the end date when asked (even when nothing was created, as upstream), then
        seed and announce every link that changed."""
        backends = self.distribution_backends()
        previous = {b.name: b.current_link(community.id) for b in backends}
        results = await create_history_archives(
            backends,
            source,
            community.id,
            community_topics(community),
            start,
            end,
            int(self.config.owner.interval),
            encrypt=self._encryptor(community),
            emit=self.emit,
        )
        if persist_end:
            # Before seeding: once committed, [start, end) must never be archived again.
            self.store.set_last_archive_end_date(community.id, end)
        await self.seed_and_announce(community, previous, results)
        return results

    def _encryptor(self, community: Community) -> Callable[[bytes], bytes] | None:
        if not community.encrypted:
            return None
        return lambda data: self.crypto.encrypt(community.id, data)

    async def seed_and_announce(
        self,
        community: Community,
        previous: Mapping[str, str | None],
        results: Mapping[str, PublishResult],
    ) -> None:
        """Seed and announce every result link whose content differs from the link last
        announced (the store's): a link committed by a run that crashed before announcing it
        is announced by the next one. `previous` names what each backend seeded before."""
        cid = community_hex(community.id)
        for name, result in results.items():
            backend = self.backends[name]
            link = result.link or backend.current_link(community.id)
            announced = self.store.get_archive_link(community.id, name).link
            if not link or (announced and backend.same_content(announced, link)):
                # Nothing new: the old link stays seeded and is not re-announced (§11.8).
                continue
            await backend.seed(community.id, link)
            unseeded: list[str] = []
            for old in (previous.get(name), announced):
                if not old or backend.same_content(old, link):
                    continue
                if any(backend.same_content(old, done) for done in unseeded):
                    continue
                # Only after the new link is seeded, so members always find one of them.
                await backend.unseed(community.id, old)
                unseeded.append(old)
                self.emit(HistoryArchivesUnseeded(community_id=cid, backend=name, link=old))
            self.emit(HistoryArchivesSeeding(community_id=cid, backend=name, link=link))
            self.publish_link(community, name, link)

    async def announce_pending(self, communities: Iterable[Community]) -> None:
        """At start-up: announce every committed link that was never announced (a crash
        between a backend's commit and the announcement). A backend that cannot seed now is
        logged and tried again by the next run."""
        for community in communities:
            if not (community.is_control_node and community.archives_enabled):
                continue
            for name in self.config.owner.distribution:
                backend = self.backends.get(name)
                if backend is None:
                    continue
                link = backend.current_link(community.id)
                if not link:
                    continue
                committed = {name: PublishResult(backend=name, archive_ids=[], link=link)}
                try:
                    await self.seed_and_announce(community, {}, committed)
                except ArchiveServiceError as exc:
                    log.warning(
                        "announcing the committed %s link of %s failed: %s",
                        name,
                        community_hex(community.id),
                        exc,
                    )

    def publish_link(self, community: Community, backend: str, link: str) -> int:
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
        # After the hand-off: the stored link is the one last announced, exactly (a magnet's
        # peer hints change with each run's listen port), and a crash before this line makes
        # the next run announce it again.
        self.store.set_archive_link(community.id, backend, link)
        self.store.set_archive_link_clock(community.id, backend, clock)
        return clock

    def republish_links(self, community: Community) -> None:
        """Announce the current links again with a fresh clock (owner coming back online)."""
        for backend in self.distribution_backends():
            link = backend.current_link(community.id)
            if link:
                self.publish_link(community, backend.name, link)
