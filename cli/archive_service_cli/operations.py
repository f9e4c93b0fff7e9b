"""What the node commands of the CLI do (`create`, `seed`, `fetch`, `migrate`, `inspect`),
as async functions over an ArchiveNode so they are usable and testable without a terminal."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.tree import Tree

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import InvalidInputError
from archive_service.events import ArchiveEvent, HistoryArchivesDownloadCompleted
from archive_service.fsutil import atomic_write
from archive_service.host import InProcessBus, PublishedLink
from archive_service.ids import community_hex, parse_community_id
from archive_service.interface import PublishResult
from archive_service.manager import LinkDecision, MigrationReport
from archive_service.node import ArchiveNode
from archive_service.plugins import plugin_manager
from archive_service.store import Community
from archive_service_cli.hookspecs import with_application_hooks
from archive_service_cli.inspect import inspect_bytes
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


async def create(
    node: ArchiveNode, community: Community, start: int | None, end: int | None
) -> tuple[int, int, dict[str, PublishResult]]:
    if not community.is_control_node:
        raise InvalidInputError(
            f"{community_hex(community.id)} is not controlled by this node (no private key in "
            f"{node.config.database}); only the owner creates archives"
        )
    manager = node.manager
    first = start if start is not None else manager.partition_start(community)
    last = end if end is not None else int(time.time())
    if first == 0:
        raise InvalidInputError(
            f"community {community_hex(community.id)} has no messages in {node.config.database}"
        )
    if first >= last:
        raise InvalidInputError(f"nothing to archive: start {first} is not before end {last}")
    return first, last, await manager.create_and_seed_history_archive(community, first, last)


@dataclass
class FetchResult:
    decision: LinkDecision
    runs: list[HistoryArchivesDownloadCompleted] = field(default_factory=list)
    imported_messages: int = 0
    pending_imports: int = 0


async def fetch(
    node: ArchiveNode, *, message: bytes | None, link: str | None, community: str | None, join: bool
) -> FetchResult:
    """Member: accept a signed link message (with every gate) or a bare link (as from a
    request-to-join response), then download and import until done."""
    events = EventLog()
    node.pm.register(EventRecorder(events, "member"))
    manager = node.manager
    manager.open_import_gate_now()
    manager.set_import_speed(fast=True)
    if message is not None:
        from archive_service.crypto.signing import verify_archive_link

        cid = verify_archive_link(message).community_id
    elif link is not None and community is not None:
        cid = parse_community_id(community)
    else:
        raise InvalidInputError("pass --message FILE, or --link LINK with --community 0x…")
    if join and node.store.get_community(cid) is None:
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


async def seed_forever(
    node: ArchiveNode, stop: asyncio.Event, on_ready: Any = None
) -> list[Community]:
    """Owner daemon: seed what exists, announce the current links again (an owner coming
    online re-publishes, so members who missed a link or hold a stale peer address catch up),
    and run the archive interval of every controlled community until `stop` is set."""
    owned = [c for c in node.store.list_communities() if c.is_control_node and c.archives_enabled]
    await node.manager.init_history_archive_tasks(owned)
    for community in owned:
        await node.manager.republish_links(community)
    if on_ready is not None:
        on_ready(owned)
    await stop.wait()
    return owned


async def migrate(
    node: ArchiveNode, community: Community, source: str, target: str
) -> MigrationReport:
    source, target = backend_names((source, target), node.pm)  # `--to codex` still works
    return await node.manager.migrate(community, source, target)


def inspect_target(
    target: str, crypto: HashRatchet | None, community: str | None
) -> dict[str, Any]:
    """`target` is a file path, or a link / CID given as text."""
    path = Path(target)
    data, text = (path.read_bytes(), None) if path.is_file() else (target.encode(), target)
    cid = parse_community_id(community) if community else None
    pm = with_application_hooks(plugin_manager())
    return inspect_bytes(data, community_id=cid, crypto=crypto, text=text, pm=pm)


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
