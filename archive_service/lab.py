"""An owner and members on one machine, all on 127.0.0.1: the harness behind `demo`, `compare`
and the end-to-end tests.

Backends stay plugins here too: each one contributes a `LoopbackProvider` (hook
`archive_loopback_providers`) that knows how to run it locally — BitTorrent binds loopback and
adds peer hints to its magnets, Codex starts a local node per archive node, bootstrapped to the
owner's. The lab only composes them, wires the owner's link publication to the members'
link handlers (an in-process stand-in for the community's Waku channel) and records events.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from archive_service.clock import Clock
from archive_service.config import (
    Config,
    ImportSettings,
    MemberSettings,
    OwnerSettings,
    TimeoutSettings,
)
from archive_service.errors import ConfigError
from archive_service.events import ArchiveEvent
from archive_service.hookspecs import hookimpl
from archive_service.host import InProcessBus
from archive_service.node import ArchiveNode
from archive_service.plugins import plugin_manager
from archive_service.store import Community

# Loopback runs (demo, compare, tests) import at once and fast; production waits 5 minutes.
FAST_IMPORT = ImportSettings(
    initial_delay=0,
    fast=True,
    tick=0.001,
    fast_rate=10_000,
    no_key_backoff=0.5,
    error_backoff=0.05,
)


class LoopbackProvider(abc.ABC):
    """Configures one backend for a node of a loopback run."""

    backend: str

    @abc.abstractmethod
    async def node_settings(
        self,
        *,
        role: str,
        name: str,
        workdir: Path,
        stack: contextlib.AsyncExitStack,
        shared: dict[str, Any],
    ) -> dict[str, Any]:
        """Return `[backend.<name>]` settings for node `name` ('owner' or 'member' role).
        Start anything the node needs (e.g. a storage node) and register its shutdown on
        `stack`. `shared` is one dict per lab, for handing the owner's addresses to members."""


@dataclass
class RecordedEvent:
    at: float  # time.perf_counter()
    node: str
    event: ArchiveEvent


@dataclass
class EventLog:
    """Every event of every lab node, in order, for progress display, metrics and tests."""

    events: list[RecordedEvent] = field(default_factory=list)
    listeners: list[Any] = field(default_factory=list)

    def of(self, node: str, kind: type[ArchiveEvent]) -> list[RecordedEvent]:
        return [r for r in self.events if r.node == node and isinstance(r.event, kind)]


class _Recorder:
    def __init__(self, log: EventLog, node: str) -> None:
        self.log, self.node = log, node

    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        record = RecordedEvent(time.perf_counter(), self.node, event)
        self.log.events.append(record)
        for listener in self.log.listeners:
            listener(record)


def loopback_providers() -> dict[str, LoopbackProvider]:
    pm = plugin_manager()
    providers: dict[str, LoopbackProvider] = {}
    for batch in pm.hook.archive_loopback_providers():
        for provider in batch:
            providers[provider.backend] = provider
    return providers


class Lab:
    def __init__(
        self,
        workdir: Path,
        *,
        backends: Sequence[str],
        distribution: Sequence[str] | None = None,
        preference: Sequence[str] | None = None,
        members: int = 1,
        clock: Clock | None = None,
        interval: float = 7 * 24 * 3600,
        import_settings: ImportSettings | None = None,
        timeouts: dict[str, float] | None = None,
    ) -> None:
        self.workdir = workdir
        self.backends = list(backends)
        self.distribution = list(distribution or backends)
        self.preference = list(preference or backends)
        self.member_count = members
        self.clock = clock
        self.interval = interval
        self.import_settings = import_settings or FAST_IMPORT
        self.timeouts = timeouts or {}
        self.events = EventLog()
        self.bus = InProcessBus()
        self.owner: ArchiveNode | None = None
        self.members: list[ArchiveNode] = []
        self._stack = contextlib.AsyncExitStack()
        self._shared: dict[str, Any] = {}
        self._roles: dict[int, tuple[str, str]] = {}

    # lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> Lab:
        await self._stack.__aenter__()
        try:
            providers = loopback_providers()
            missing = [b for b in self.backends if b not in providers]
            if missing:
                raise ConfigError(
                    f"no loopback provider for backend(s) {missing}; "
                    "is the plugin installed? (archive-service plugins)"
                )
            self.owner = await self.start_node("owner", "owner", providers)
            for i in range(self.member_count):
                self.members.append(await self.start_node(f"member{i + 1}", "member", providers))
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.__aexit__(exc_type, exc, tb)

    def node_config(self, name: str, settings: dict[str, dict[str, Any]]) -> Config:
        return Config(
            data_dir=self.workdir / name,
            enabled=self.backends,
            owner=OwnerSettings(distribution=self.distribution, interval=self.interval),
            member=MemberSettings(preference=self.preference),
            import_=self.import_settings,
            backend=settings,
            timeouts=TimeoutSettings(**self.timeouts),
        )

    async def start_node(
        self, name: str, role: str, providers: dict[str, LoopbackProvider] | None = None
    ) -> ArchiveNode:
        providers = providers or loopback_providers()
        settings = {
            b: await providers[b].node_settings(
                role=role,
                name=name,
                workdir=self.workdir / name,
                stack=self._stack,
                shared=self._shared,
            )
            for b in self.backends
        }
        return await self._open(name, role, self.node_config(name, settings))

    async def _open(self, name: str, role: str, config: Config) -> ArchiveNode:
        plugins: list[object] = [_Recorder(self.events, name)]
        if role == "owner":
            plugins.append(self.bus)
        node = ArchiveNode.open(config, plugins=plugins, clock=self.clock)
        await node.start()
        self._roles[id(node)] = (name, role)
        self._stack.push_async_callback(node.stop)
        if role == "member":
            self.bus.subscribe(node.manager.handle_archive_link_message)
        return node

    async def restart(self, node: ArchiveNode) -> ArchiveNode:
        """Stop `node` and open it again on the same data (a process restart); backend
        services such as its Codex node keep running, as they would on a real machine."""
        name, role = self._roles.pop(id(node))
        if role == "member":
            self.bus.unsubscribe(node.manager.handle_archive_link_message)
        await node.stop()
        fresh = await self._open(name, role, node.config)
        if role == "owner":
            self.owner = fresh
        else:
            self.members[self.members.index(node)] = fresh
        return fresh

    # community ------------------------------------------------------------------------------
    def join(self, member: ArchiveNode, community: Community) -> None:
        """Make `member` a joined member of the owner's community, with its group keys."""
        assert self.owner is not None
        member.store.save_community(
            Community(
                id=community.id,
                joined=True,
                encrypted=community.encrypted,
                archives_enabled=True,
                private_key=None,
                chat_ids=community.chat_ids,
            )
        )
        if community.encrypted:
            for key in self.owner.crypto.group_keys(community.id):
                member.crypto.add_group_key(key)

    async def settle(self, community: Community, timeout: float = 120.0) -> None:
        """Wait until every link sent was handled and every member finished its work."""
        async with asyncio.timeout(timeout):
            await self.bus.drain()
            for member in self.members:
                await member.manager.wait_idle(community.id)

    def owner_hashes(self, community: Community) -> set[bytes]:
        assert self.owner is not None
        return self.owner.store.message_hashes(self.owner.manager.community_topics(community))

    def member_hashes(self, member: ArchiveNode, community: Community) -> set[bytes]:
        return member.store.message_hashes(member.manager.community_topics(community))
