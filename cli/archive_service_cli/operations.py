"""What the node commands of the CLI do (`create`, `seed`, `fetch`, `migrate`, `inspect`),
as async functions over an ArchiveNode so they are usable and testable without a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.tree import Tree

from archive_service.archives import check_archive_range
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.datadir import DataDirLock
from archive_service.errors import ArchiveServiceError, InvalidInputError
from archive_service.events import (
    ArchiveEvent,
    HistoryArchivesDownloadCompleted,
    HistoryArchivesSeeding,
    HistoryArchivesUnseeded,
)
from archive_service.fsutil import atomic_write
from archive_service.host import InProcessBus, PublishedLink
from archive_service.ids import community_hex, parse_community_id
from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.manager import LinkDecision, MigrationReport
from archive_service.node import ArchiveNode
from archive_service.plugins import event_emitter, plugin_manager
from archive_service.store import Community
from archive_service_cli.hookspecs import with_application_hooks
from archive_service_cli.inspect import (
    MEMBER_LIMITS,
    InspectLimits,
    check_file_size,
    inspect_bytes,
)
from archive_service_cli.lab import EventLog, EventRecorder, backend_names

OUTBOX = "outbox"


class Outbox:
    """Where the CLI's links go: there is no Waku here, so each signed link message the node's
    `InProcessBus` publishes is written to `<data dir>/outbox/<community>-<backend>.msg` for
    `fetch --message` to consume (a host application sends it on the community's universal
    channel instead)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.written: list[tuple[str, str, Path]] = []

    def bus(self) -> InProcessBus:
        """The node plugin that publishes links into this outbox."""
        bus = InProcessBus(auto_deliver=False)
        bus.listeners.append(self.write)
        return bus

    def write(self, published: PublishedLink) -> None:
        path = self.directory / f"{community_hex(published.community_id)}-{published.backend}.msg"
        atomic_write(path, published.message)
        self.written.append((published.backend, published.link, path))


def event_recorder(node: str, callback: Callable[[str, ArchiveEvent], None]) -> EventRecorder:
    """A node plugin handing each of its events to `callback(node, event)` (progress bars)."""
    log = EventLog(keep=False)
    log.listeners.append(lambda record: callback(record.node, record.event))
    return EventRecorder(log, node)


def controlled_community(node: ArchiveNode, community: str | None) -> Community:
    """The community given, or the only one this node controls."""
    if community is not None:
        found = node.store.get_community(parse_community_id(community))
        if found is None:
            raise InvalidInputError(f"community {community} is not in {node.config.database}")
        return found
    owned = [c for c in node.store.list_communities() if c.is_control_node]
    if len(owned) != 1:
        raise InvalidInputError(
            f"{node.config.database} controls {len(owned)} communities; pass --community 0x…"
        )
    return owned[0]


def archive_range(
    node: ArchiveNode, community: Community, start: int | None, end: int | None
) -> tuple[int, int]:
    """[start, end) to create (default: from the last archive's end until now), checked to be
    one that can hold messages (archives.check_archive_range). Needs the store, not a started
    node, so a bad range is refused before any backend starts."""
    if not community.is_control_node:
        raise InvalidInputError(
            f"{community_hex(community.id)} is not controlled by this node (no private key in "
            f"{node.config.database}); only the owner creates archives"
        )
    manager = node.manager
    resume_at = manager.partition_start(community)
    if resume_at == 0:
        raise InvalidInputError(
            f"community {community_hex(community.id)} has no messages in {node.config.database}"
        )
    now = int(manager.clock.now())
    first = start if start is not None else resume_at
    last = end if end is not None else now
    if start is None and first >= last:
        # Resuming with nothing new is no error: the node still starts, and starting
        # announces any committed link a crash kept from being announced.
        return first, first
    oldest = node.store.oldest_message_timestamp(manager.community_topics(community))
    check_archive_range(
        first,
        last,
        # An owner resumes at its last archive's end even if older messages are gone since.
        first_message=min(oldest or resume_at, resume_at),
        now=now,
        interval=int(node.config.owner.interval),
    )
    return first, last


async def create(
    node: ArchiveNode, community: Community, start: int | None, end: int | None
) -> tuple[int, int, dict[str, PublishResult]]:
    """Create and seed the archive_range of [start, end) on a started node; an empty range
    (resuming with nothing new) creates nothing."""
    first, last = archive_range(node, community, start, end)
    if first == last:
        return first, last, {}
    return first, last, await node.manager.create_and_seed_history_archive(community, first, last)


@dataclass
class FetchResult:
    decision: LinkDecision
    runs: list[HistoryArchivesDownloadCompleted] = field(default_factory=list)
    imported_messages: int = 0
    pending_imports: int = 0


async def fetch(
    node: ArchiveNode,
    *,
    message: bytes | None,
    link: str | None,
    community: str | None,
    join: bool,
    confirmed: bool = False,
) -> FetchResult:
    """Member: accept a signed link message (with every gate) or a bare link (as from a
    request-to-join response), then download and import until done.

    A link message names its community only through the key its signature recovers to, so a
    tampered message recovers to some other key: joining is refused unless the community is
    given (and matches) or `confirmed` after the recovered ID was shown."""
    events = EventLog()
    node.pm.register(EventRecorder(events, "member"))
    manager = node.manager
    manager.open_import_gate_now()
    manager.set_import_speed(fast=True)
    given = parse_community_id(community) if community is not None else None
    if message is not None:
        from archive_service.crypto.signing import verify_archive_link

        cid = verify_archive_link(message, expected_community_id=given).community_id
    elif link is not None and given is not None:
        cid = given
    else:
        raise InvalidInputError("pass --message FILE, or --link LINK with --community 0x…")
    if join and node.store.get_community(cid) is None:
        if given is None and not confirmed:
            raise InvalidInputError(
                f"the link message is signed by community {community_hex(cid)}; to join it "
                f"pass --community {community_hex(cid)} (or --yes to trust the signature)"
            )
        node.store.save_community(Community(id=cid, joined=True))
    before = node.store.count_waku_messages()
    if message is not None:
        decision = await manager.handle_archive_link_message(message)
    else:
        assert link is not None
        if node.store.get_community(cid) is None:
            raise InvalidInputError(
                f"this node is not a member of {community_hex(cid)}; pass --join to join it"
            )
        decision = await manager.handle_request_to_join_response(cid, link)
    if decision.accepted:
        await manager.wait_idle(cid)
    return FetchResult(
        decision,
        events.events_of("member", HistoryArchivesDownloadCompleted),
        node.store.count_waku_messages() - before,
        manager.pending_imports(cid),
    )


FOLLOW_EVERY = 1.0  # seconds between two looks of the seed daemon at the committed state
RETRY_AFTER = 60.0  # seconds before the seed daemon retries a failed archive run


class SeedDaemon:
    """The owner daemon (`seed`): seed the committed history of every controlled community,
    announce its links, create archives when an interval is due, and follow what other
    processes commit to the same data dir (`create`, `migrate`) until stopped.

    Other processes write this data dir, so the daemon holds the writer lock only while it
    writes (an archive run, an announcement). Otherwise it watches each backend's committed
    link; when another process committed a new one, the daemon seeds it, drops the old one and
    announces the link again from here, where members can reach it (the committing process
    may be gone, and a torrent link names the seeder's address)."""

    def __init__(
        self,
        node: ArchiveNode,
        writer: DataDirLock,
        say: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.node = node
        self.writer = writer
        self.say = say
        self.owned = [
            c for c in node.store.list_communities() if c.is_control_node and c.archives_enabled
        ]
        self._seeding: dict[tuple[bytes, str], str] = {}  # (community, backend) -> link
        self._to_announce: set[bytes] = set()
        self._retry_at: dict[bytes, float] = {}
        self._emit = event_emitter(node.pm)

    async def run(
        self, stop: asyncio.Event, on_ready: Callable[[list[Community]], None] | None = None
    ) -> list[Community]:
        if not await self._acquire(stop):
            return self.owned
        try:
            for community in self.owned:
                await self._follow(community)
                await self._create_if_due(community)
                await self.node.manager.republish_links(community)
        finally:
            self.writer.release()
        if on_ready is not None:
            on_ready(self.owned)
        while not await _stopped(stop, FOLLOW_EVERY):
            for community in self.owned:
                try:
                    await self.tick(community)
                except Exception as exc:  # a daemon goes on seeding whatever one tick hits
                    self.say(f"{type(exc).__name__}: {exc}; looking again at the next tick")
        return self.owned

    async def tick(self, community: Community) -> None:
        """One look at the committed state, without the lock. Only when there is something to
        do (a link another process committed, an announcement, a due run) is the writer lock
        taken, so what is seeded is never a commit in progress; when another process writes,
        the daemon looks again at the next tick."""
        if (
            not self._new_links(community)
            and community.id not in self._to_announce
            and not self._due(community)
        ):
            return
        if not self.writer.try_acquire():
            return
        try:
            if await self._follow(community):
                self._to_announce.add(community.id)
            if community.id in self._to_announce:
                await self.node.manager.republish_links(community)
                self._to_announce.discard(community.id)
                self.say("links announced again from this seeder")
            await self._create_if_due(community)
        finally:
            self.writer.release()

    def _new_links(self, community: Community) -> bool:
        """Whether a backend's committed link differs from the one seeded here."""
        return any(
            (link := backend.current_link(community.id))
            and link != self._seeding.get((community.id, backend.name))
            for backend in self._backends()
        )

    def _backends(self) -> list[ArchiveBackend]:
        return [self.node.backends[n] for n in self.node.config.owner.distribution]

    async def _follow(self, community: Community) -> bool:
        """Seed each backend's committed link if it is new to this process, and drop the one
        it replaces; True if any was new. Called with the writer lock held."""
        changed = False
        cid = community_hex(community.id)
        for backend in self._backends():
            key = (community.id, backend.name)
            link = backend.current_link(community.id)
            old = self._seeding.get(key)
            if not link or link == old:
                continue
            try:
                await backend.seed(community.id, link)
            except ArchiveServiceError as exc:
                self.say(f"cannot seed {backend.name} link yet ({exc}); trying again")
                continue
            self._emit(HistoryArchivesSeeding(community_id=cid, backend=backend.name, link=link))
            if old:
                await backend.unseed(community.id, old)
                self._emit(
                    HistoryArchivesUnseeded(community_id=cid, backend=backend.name, link=old)
                )
            self._seeding[key] = link
            changed = True
        return changed

    def _due(self, community: Community) -> bool:
        if self.node.manager.clock.now() < self._retry_at.get(community.id, 0.0):
            return False
        wait = self.node.manager.next_run_in(community)
        return wait is not None and wait <= 0

    async def _create_if_due(self, community: Community) -> None:
        """An archive run for [last end, now) when an interval has passed since the last end
        (the writer lock is held). A failure is one line and a retry later: the daemon goes on
        seeding what exists."""
        if not self._due(community):
            return
        manager = self.node.manager
        start, now = manager.partition_start(community), int(manager.clock.now())
        try:
            await manager.create_and_seed_history_archive(community, start, now)
        except Exception as exc:  # as the manager's interval loop: retried later
            self._retry_at[community.id] = manager.clock.now() + RETRY_AFTER
            self.say(f"creating archives for [{start}, {now}) failed: {exc}; retrying later")
            return
        for backend in self._backends():  # the manager seeded the new links itself
            link = backend.current_link(community.id)
            if link:
                self._seeding[(community.id, backend.name)] = link

    async def _acquire(self, stop: asyncio.Event) -> bool:
        """The writer lock, waiting while another process writes; False if stopped first."""
        told = False
        while not self.writer.try_acquire():
            if not told:
                self.say(f"waiting for {self.writer.holder()} to release {self.writer.data_dir}")
                told = True
            if await _stopped(stop, FOLLOW_EVERY):
                return False
        return True


async def _stopped(stop: asyncio.Event, within: float) -> bool:
    """Wait up to `within` seconds for `stop`; whether it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), within)
    return stop.is_set()


async def migrate(
    node: ArchiveNode, community: Community, source: str, target: str
) -> MigrationReport:
    source, target = backend_names((source, target), node.pm)  # `--to codex` still works
    return await node.manager.migrate(community, source, target)


def inspect_target(
    target: str,
    crypto: HashRatchet | None,
    community: str | None,
    limits: InspectLimits | None = MEMBER_LIMITS,
) -> dict[str, Any]:
    """`target` is a file path, or a link / CID given as text. A file over the caps is
    refused before it is read (`limits=None` lifts them)."""
    path = Path(target)
    if _names_a_file(path):
        check_file_size(path.stat().st_size, str(path), limits)
        data, text = read_input(path, "file to inspect"), None
    else:
        try:
            data, text = target.encode(), target
        except UnicodeEncodeError:  # argv bytes that are not UTF-8 arrive as surrogates
            raise InvalidInputError(
                "the argument to inspect is neither a file nor UTF-8 text (a link or a CID)"
            ) from None
    cid = parse_community_id(community) if community else None
    pm = with_application_hooks(plugin_manager())
    return inspect_bytes(data, community_id=cid, crypto=crypto, text=text, pm=pm, limits=limits)


def _names_a_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a link longer than a file name may be, or a NUL in it
        return False


def read_input(path: Path, what: str) -> bytes:
    """A file named on the command line, or InvalidInputError saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def render_tree(value: Any, label: str = "") -> Tree:
    """A readable rich tree of what `inspect` decoded (lists of messages are summarised)."""
    tree = Tree(label or str(value.get("kind", "")) if isinstance(value, dict) else label)
    _fill(tree, value)
    return tree


def _fill(tree: Tree, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                _fill(tree.add(f"[bold]{key}[/bold]"), item)
            else:
                tree.add(f"[bold]{key}[/bold]: {item}")
    elif isinstance(value, list):
        for i, item in enumerate(value[:20]):
            if isinstance(item, dict | list):
                _fill(tree.add(f"[{i}]"), item)
            else:
                tree.add(str(item))
        if len(value) > 20:
            tree.add(f"… {len(value) - 20} more (use --json for all)")


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)
