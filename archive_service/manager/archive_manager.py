"""ArchiveManager: status-go's backend-neutral ArchiveService (reference §1.3, §7) over one or
several backends at once — the public façade over the owner tasks, the link decisions, the
downloads, the paced import and migration, which share one injected clock.

Owner: interval tasks create archives from the store, publish them with every backend in
`owner.distribution` and announce each new link as a signed message.
Member: links pass the acceptance rules, then a per-community worker downloads them in
`member.preference` order (a newer or preferred link supersedes the running download), and a
paced loop imports what was downloaded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

import pluggy

from archive_service.clock import Clock, SystemClock
from archive_service.config import Config
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.crypto.signing import verify_archive_link
from archive_service.errors import ArchiveServiceError, ConfigError, InvalidInputError
from archive_service.events import ArchiveLinkIgnored
from archive_service.ids import community_hex
from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.manager import links
from archive_service.manager.context import ManagerContext, ManagerPart
from archive_service.manager.downloads import Downloads
from archive_service.manager.imports import Importer
from archive_service.manager.migration import MigrationReport, republish
from archive_service.manager.owner import OwnerTasks, community_topics
from archive_service.plugins import backend_factories, canonical_backend_name, event_emitter
from archive_service.store import ArchiveLinkState, Community, Store

log = logging.getLogger(__name__)


class ArchiveManager(ManagerPart):
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
        context = ManagerContext(
            store=store,
            crypto=crypto,
            backends=dict(backends),
            pm=pm,
            config=config,
            clock=clock or SystemClock(),
            emit=event_emitter(pm),
        )
        super().__init__(context)
        self.owner = OwnerTasks(context)
        self.importer = Importer(context, downloads_busy=lambda cid: self.downloads.busy(cid))
        self.downloads = Downloads(context, importer=self.importer)

    # lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Announce committed owner links never announced, open the import gate after the
        initial delay, and resume pending imports and interrupted downloads."""
        await self.owner.announce_pending(self.store.list_communities())
        self.downloads.start()
        self.importer.start()
        for community in self.store.list_communities():
            if community.is_control_node or not community.joined:
                continue
            if self.store.archives_to_import(community.id):
                self.importer.ensure(community.id)
            await self._resume_interrupted_downloads(community.id)

    async def _resume_interrupted_downloads(self, community_id: bytes) -> None:
        """A run stopped part-way (a crash, a stop) never marked its link seen: run it again
        when the index this node holds for it lists archives not recorded yet. A run killed
        before its first archive left nothing to find; the link's next announcement
        (owners re-announce when they come online) is accepted as new. A link accepted but
        never marked seen, with no archive recorded yet, is run again too."""
        recorded = self.store.downloaded_archives(community_id)
        for name, backend in self.backends.items():
            state = self.store.get_archive_link(community_id, name)
            stored = state.link
            held = []
            for link, newest in links.links_to_resume(stored, recorded, name):
                try:
                    entries = await backend.read_index(community_id, link)
                except ArchiveServiceError as exc:
                    log.info("not resuming %s via %s: %s", link, name, exc)
                    continue
                held.append(links.HeldLink(link, newest, entries))
            link = links.interrupted_link(held, recorded)
            if link is None and state.accepted and state.accepted != stored:
                link = state.accepted  # accepted, killed before anything was recorded
            if link is not None:
                log.info("resuming the interrupted download of %s via %s", link, name)
                self.downloads.schedule(community_id, name, link, resumed=True)

    async def stop(self) -> None:
        """Stop interval tasks and member work and wait for all of them (no task outlives us)."""
        tasks = self.owner.halt() + self.downloads.halt() + self.importer.halt()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.downloads.clear()
        self.importer.clear()

    def set_import_speed(self, fast: bool) -> None:
        """status-go SpeedupArchivesImport / SlowdownArchivesImport."""
        self.importer.set_speed(fast)

    def open_import_gate_now(self) -> None:
        self.importer.open_gate_now()

    # owner ----------------------------------------------------------------------------------
    def community_topics(self, community: Community) -> list[bytes]:
        """Every chat's topic plus the universal channel's (V3 adds the latter)."""
        return community_topics(community)

    def partition_start(self, community: Community) -> int:
        """The last archive's end date, else the oldest stored message, else 0."""
        return self.owner.partition_start(community)

    def next_run_in(self, community: Community) -> float | None:
        """Seconds until the next archive run is due (≤ 0: now); None: nothing to archive."""
        return self.owner.next_run_in(community)

    async def init_history_archive_tasks(self, communities: Iterable[Community]) -> None:
        """status-go InitHistoryArchiveTasks (§7.2) for the communities this node controls."""
        await self.owner.init(communities)

    async def stop_history_archive_tasks_interval(self, community_id: bytes) -> None:
        """Stop one community's interval (idempotent) and unseed its current links."""
        await self.owner.stop_interval(community_id)

    @property
    def history_tasks_count(self) -> int:
        return self.owner.count

    async def create_and_seed_history_archive(
        self, community: Community, start: int, end: int
    ) -> dict[str, PublishResult]:
        """Create [start, end) with every distribution backend from one pass over the store,
        persist the end date (even when nothing was created, as upstream), then seed and
        announce every link that changed."""
        return await self.owner.create_and_seed(
            community, self.store.iter_waku_messages, start, end
        )

    async def republish_links(self, community: Community) -> None:
        """Announce the current links again with a fresh clock (owner coming back online)."""
        self.owner.republish_links(community)

    # member: links --------------------------------------------------------------------------
    async def handle_archive_link_message(self, message: bytes) -> links.LinkDecision:
        """status-go HandleCommunityMessageArchiveLink (§7.4): decide, then act."""
        try:
            link_message = verify_archive_link(message)
        except ArchiveServiceError as exc:
            return self._reported(links.refuse_unverified(str(exc)))
        cid, link = link_message.community_id, link_message.link
        backend = self._backend_for_link(link)
        facts = links.LinkFacts(
            community=self.store.get_community(cid),
            backend=backend,
            stored=self.store.get_archive_link(cid, backend) if backend else ArchiveLinkState(),
            in_flight=backend is not None and self.downloads.in_flight(cid, backend, link),
            enabled=list(self.backends),
            pending_imports=bool(self.store.archives_to_import(cid)),
            resumed_in_flight=backend is not None
            and self.downloads.resumed_in_flight(cid, backend, link),
        )
        decision = links.decide_archive_link(link_message, facts)
        if decision.accepted:
            self.store.accept_archive_link(cid, decision.backend, link, decision.clock)
            if facts.in_flight:
                self.downloads.adopt(cid, decision.backend)  # resumed at start: keep it running
            else:
                # RESUMED with nothing in flight (a member killed mid-import): the run finds
                # every archive on disk and downloads nothing; the imports continue meanwhile.
                self.downloads.schedule(cid, decision.backend, link)
            if decision.reason is links.LinkReason.RESUMED:
                self.importer.ensure(cid)
        return self._reported(decision)

    async def handle_request_to_join_response(
        self, community_id: bytes, link: str
    ) -> links.LinkDecision:
        """A link in an accepted request-to-join response downloads without the clock and
        last-seen gates (as upstream), but still needs a backend for it."""
        decision = links.decide_join_link(community_id, link, self._backend_for_link(link))
        if decision.accepted:
            self.store.accept_archive_link(community_id, decision.backend, link, None)
            self.downloads.schedule(community_id, decision.backend, link)
        return self._reported(decision)

    def _backend_for_link(self, link: str) -> str | None:
        return links.backend_for_link(
            link, self.downloads.order(), lambda name, text: self.backends[name].handles_link(text)
        )

    def _reported(self, decision: links.LinkDecision) -> links.LinkDecision:
        """Log and emit a refusal (ArchiveLinkIgnored) with its reason; pass it on."""
        if decision.accepted:
            return decision
        cid = decision.community_id
        log.info(
            "archive link ignored: %s (community=%s backend=%s link=%s %s)",
            decision.reason.value,
            community_hex(cid) if cid else "?",
            decision.backend or "?",
            decision.link,
            decision.detail,
        )
        self.emit(
            ArchiveLinkIgnored(
                community_id=community_hex(cid) if cid else "",
                backend=decision.backend,
                link=decision.link,
                reason=decision.reason.value,
                detail={"detail": decision.detail} if decision.detail else {},
            )
        )
        return decision

    # member: downloads and import -----------------------------------------------------------
    def notify_group_key(self, community_id: bytes) -> None:
        """The host received a group key for this community: retry what waited for one now."""
        self.downloads.notify_group_key(community_id)
        self.importer.notify_group_key(community_id)

    def running_download(self, community_id: bytes) -> tuple[str, str] | None:
        """(backend, link) of the download running for this community, if any."""
        return self.downloads.running(community_id)

    def pending_imports(self, community_id: bytes) -> int:
        return len(self.store.archives_to_import(community_id))

    async def wait_idle(self, community_id: bytes) -> None:
        """Wait until this community has no download or import running (for tools and tests)."""
        while True:
            tasks = (self.downloads.worker(community_id), self.importer.task(community_id))
            live = [t for t in tasks if t is not None and not t.done()]
            if not live:
                return
            await asyncio.wait(live)

    # migration --------------------------------------------------------------------------------
    async def migrate(self, community: Community, source: str, target: str) -> MigrationReport:
        """Republish the history stored by `source` with `target`: the same archive bytes,
        without reading the message store, then seed and announce the target's new link."""
        factories = backend_factories(self.pm)  # an alias (`codex`) means its backend
        source, target = (canonical_backend_name(factories, n) for n in (source, target))
        if source == target:
            raise InvalidInputError(
                f"migration source and target are both {source!r}; name two different backends"
            )
        for name in (source, target):
            if name not in self.backends:
                raise ConfigError(
                    f"migration needs backend {name!r} enabled on this node "
                    f"(enabled: {sorted(self.backends)})"
                )
        src, dst = self.backends[source], self.backends[target]
        previous = {target: dst.current_link(community.id)}
        result, mapping, skipped = await republish(community, src, dst)
        await self.owner.seed_and_announce(community, previous, {target: result})
        return MigrationReport(source, target, result.link, mapping, skipped)
