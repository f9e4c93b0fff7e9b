"""An owner and members on one machine, all on 127.0.0.1: the harness behind `demo`, `compare`
and the end-to-end tests.

Backends stay plugins here too: each one contributes a `LoopbackProvider` (application hook
`archive_loopback_providers`) that knows how to run it locally — BitTorrent binds loopback and
adds peer hints to its magnets, Codex starts a local node per archive node, bootstrapped to the
owner's. The lab composes them into nodes (`assemble_node`, the one node assembly of demo,
compare and tests), wires the owner's link publication to the members' link handlers through
the embedded host's `InProcessBus` and records events (`EventRecorder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pluggy

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
from archive_service.plugins import backend_factories, canonical_backend_name, plugin_manager
from archive_service.store import Community
from archive_service_cli.hookspecs import LoopbackProvider, with_application_hooks

E = TypeVar("E", bound=ArchiveEvent)
WEEK = 7 * 24 * 3600

# Loopback runs (demo, compare, tests) import at once and fast; production waits 5 minutes.
FAST_IMPORT = ImportSettings(
    initial_delay=0,
    fast=True,
    tick=0.001,
    fast_rate=10_000,
    no_key_backoff=0.5,
    error_backoff=0.05,
)


@dataclass
class RecordedEvent:
    at: float  # time.perf_counter()
    node: str
    event: ArchiveEvent


@dataclass
class EventLog:
    """Every event of every recorded node, in order, for progress display, metrics and tests.
    `listeners` see each record as it arrives (progress bars, a pipe to a parent process);
    `keep=False` only passes records on (a long-running daemon keeps nothing)."""

    events: list[RecordedEvent] = field(default_factory=list)
    listeners: list[Callable[[RecordedEvent], None]] = field(default_factory=list)
    keep: bool = True

    def of(self, node: str, kind: type[ArchiveEvent]) -> list[RecordedEvent]:
        return [r for r in self.events if r.node == node and isinstance(r.event, kind)]

    def events_of(self, node: str, kind: type[E]) -> list[E]:
        return [r.event for r in self.events if r.node == node and isinstance(r.event, kind)]

    def times(self, node: str, kind: type[ArchiveEvent]) -> list[float]:
        return [r.at for r in self.of(node, kind)]


class EventRecorder:
    """The application's one `archive_event` hookimpl: each event of node `node`, timed, into
    `log` (and on to its listeners)."""

    def __init__(self, log: EventLog, node: str) -> None:
        self.log, self.node = log, node

    @hookimpl
    def archive_event(self, event: ArchiveEvent) -> None:
        record = RecordedEvent(time.perf_counter(), self.node, event)
        if self.log.keep:
            self.log.events.append(record)
        for listener in self.log.listeners:
            listener(record)


def backend_names(names: Sequence[str], pm: pluggy.PluginManager | None = None) -> tuple[str, ...]:
    """`names` with each alias replaced by its backend's name (`codex` -> `logos-storage`), in
    order; a name given twice stays twice, so callers can still refuse it."""
    factories = backend_factories(pm or plugin_manager())
    return tuple(canonical_backend_name(factories, name) for name in names)


def loopback_providers(pm: pluggy.PluginManager | None = None) -> dict[str, LoopbackProvider]:
    """Every installed plugin's loopback providers, by backend name (aliases resolved)."""
    pm = with_application_hooks(pm or plugin_manager())
    factories = backend_factories(pm)
    providers: dict[str, LoopbackProvider] = {}
    for batch in pm.hook.archive_loopback_providers():
        for provider in batch:
            providers[canonical_backend_name(factories, provider.backend)] = provider
    return providers


def require_providers(
    backends: Sequence[str], providers: Mapping[str, LoopbackProvider] | None = None
) -> Mapping[str, LoopbackProvider]:
    """The providers of `backends`, or a ConfigError naming those missing."""
    providers = loopback_providers() if providers is None else providers
    missing = [b for b in backends if b not in providers]
    if missing:
        raise ConfigError(
            f"no loopback provider for backend(s) {', '.join(missing)}; is the plugin "
            "installed? (see `archive-service plugins`)"
        )
    return providers


@dataclass(frozen=True)
class NodeRecipe:
    """What every node of one loopback run shares: the backends it enables, publishes with
    (`distribution`, default all) and prefers (`preference`, default all), pacing and timeouts."""

    backends: tuple[str, ...]
    distribution: tuple[str, ...] = ()
    preference: tuple[str, ...] = ()
    interval: float = WEEK
    import_settings: ImportSettings = field(default_factory=lambda: FAST_IMPORT)
    timeouts: Mapping[str, float] = field(default_factory=dict)

    def config(self, data_dir: Path, settings: dict[str, dict[str, Any]]) -> Config:
        return Config(
            data_dir=data_dir,
            enabled=list(self.backends),
            owner=OwnerSettings(
                distribution=list(self.distribution or self.backends), interval=self.interval
            ),
            member=MemberSettings(preference=list(self.preference or self.backends)),
            import_=self.import_settings,
            backend=settings,
            timeouts=TimeoutSettings(**self.timeouts),
        )


async def assemble_node(
    recipe: NodeRecipe,
    *,
    name: str,
    role: str,
    workdir: Path,
    stack: contextlib.AsyncExitStack,
    shared: dict[str, Any],
    plugins: Sequence[object] = (),
    clock: Clock | None = None,
    providers: Mapping[str, LoopbackProvider] | None = None,
    before_open: Callable[[Config], None] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> ArchiveNode:
    """The one node assembly of demo, compare and the tests: each backend's loopback settings
    (starting what it needs on `stack`) updated with `overrides[backend]` (e.g. a scenario's
    rate limits), the recipe's config with data in `workdir`, `before_open(config)` (e.g. to
    put a history in place), then the started node, stopped by `stack`."""
    providers = require_providers(recipe.backends, providers)
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True, mode=0o700)
    settings = {
        b: await providers[b].node_settings(
            role=role, name=name, workdir=workdir, stack=stack, shared=shared
        )
        for b in recipe.backends
    }
    for backend, changes in (overrides or {}).items():
        settings.setdefault(backend, {}).update(changes)
    config = recipe.config(workdir, settings)
    if before_open is not None:
        before_open(config)
    return await start_node(config, plugins=plugins, stack=stack, clock=clock)


async def start_node(
    config: Config,
    *,
    plugins: Sequence[object],
    stack: contextlib.AsyncExitStack,
    clock: Clock | None = None,
) -> ArchiveNode:
    """Open and start a node; `stack` stops it."""
    node = ArchiveNode.open(config, plugins=plugins, clock=clock)
    await node.start()
    stack.push_async_callback(node.stop)
    return node


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
        interval: float = WEEK,
        import_settings: ImportSettings | None = None,
        timeouts: dict[str, float] | None = None,
    ) -> None:
        self.workdir = workdir
        self.recipe = NodeRecipe(
            backends=backend_names(backends),
            distribution=backend_names(distribution or ()),
            preference=backend_names(preference or ()),
            interval=interval,
            import_settings=import_settings or FAST_IMPORT,
            timeouts=dict(timeouts or {}),
        )
        self.member_count = members
        self.clock = clock
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
            providers = require_providers(self.recipe.backends)
            self.owner = await self.start_node("owner", "owner", providers)
            for i in range(self.member_count):
                self.members.append(await self.start_node(f"member{i + 1}", "member", providers))
        except BaseException:
            await self._stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self._stack.__aexit__(*exc_info)

    async def start_node(
        self, name: str, role: str, providers: Mapping[str, LoopbackProvider] | None = None
    ) -> ArchiveNode:
        node = await assemble_node(
            self.recipe,
            name=name,
            role=role,
            workdir=self.workdir / name,
            stack=self._stack,
            shared=self._shared,
            plugins=self._plugins(name, role),
            clock=self.clock,
            providers=providers,
        )
        self._joined(node, name, role)
        return node

    def _plugins(self, name: str, role: str) -> list[object]:
        plugins: list[object] = [EventRecorder(self.events, name)]
        if role == "owner":
            plugins.append(self.bus)
        return plugins

    def _joined(self, node: ArchiveNode, name: str, role: str) -> None:
        self._roles[id(node)] = (name, role)
        if role == "member":
            self.bus.subscribe(node.manager.handle_archive_link_message)

    def name_of(self, node: ArchiveNode) -> str:
        """The lab's name of `node` ('owner', 'member1', …), as its events are recorded."""
        return self._roles[id(node)][0]

    async def restart(self, node: ArchiveNode) -> ArchiveNode:
        """Stop `node` and open it again on the same data (a process restart); backend
        services such as its Codex node keep running, as they would on a real machine."""
        name, role = self._roles.pop(id(node))
        if role == "member":
            self.bus.unsubscribe(node.manager.handle_archive_link_message)
        await node.stop()
        fresh = await start_node(
            node.config, plugins=self._plugins(name, role), stack=self._stack, clock=self.clock
        )
        self._joined(fresh, name, role)
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
