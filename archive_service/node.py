"""One archive-service node assembled from a Config: store, hash ratchet, plugin manager,
the enabled backends and the ArchiveManager over them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import coincurve
import pluggy

from archive_service.asyncutil import StartStop
from archive_service.clock import Clock
from archive_service.config import Config
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.fsutil import atomic_write, remove_stale_tmp
from archive_service.host import StoreImporter
from archive_service.interface import ArchiveBackend, BackendContext, Timeouts
from archive_service.manager import ArchiveManager
from archive_service.plugins import (
    adopt_alias_dirs,
    backend_factories,
    event_emitter,
    plugin_manager,
    require_backends,
    with_backend_defaults,
)
from archive_service.store import Store

NODE_KEY_FILE = "node.key"


def load_node_key(data_dir: Path) -> coincurve.PrivateKey:
    """The node's identity key (BitTorrent `created by`, ratchet installation ID), created on
    first use with mode 0600."""
    path = data_dir / NODE_KEY_FILE
    if path.exists():
        return coincurve.PrivateKey(path.read_bytes())
    key = coincurve.PrivateKey()
    atomic_write(path, key.secret, mode=0o600)
    return key


class ArchiveNode(StartStop):
    def __init__(
        self,
        config: Config,
        store: Store,
        crypto: HashRatchet,
        pm: pluggy.PluginManager,
        backends: dict[str, ArchiveBackend],
        manager: ArchiveManager,
    ) -> None:
        self.config = config
        self.store = store
        self.crypto = crypto
        self.pm = pm
        self.backends = backends
        self.manager = manager
        self._started = False
        self._closed = False

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        plugins: Sequence[object] = (),
        clock: Clock | None = None,
        load_entrypoints: bool = True,
    ) -> ArchiveNode:
        """Build (not start) a node. A host's `archive_messages_import` among `plugins` takes
        precedence over the embedded importer (registered `trylast`). Backends the config
        leaves unset default to the installed ones (plugins.with_backend_defaults)."""
        # Plugins and backend names first: a bad plugin or a missing backend fails before any
        # file is created or opened.
        pm = plugin_manager(load_entrypoints=load_entrypoints, plugins=plugins)
        config = with_backend_defaults(config, backend_factories(pm))
        factories = require_backends(pm, config.enabled or [])
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        remove_stale_tmp(config.data_dir)  # what a killed run left (backends clean their own)
        adopt_alias_dirs(config, factories)
        key = load_node_key(config.data_dir)
        store = Store(config.database)
        try:
            for name, factory in factories.items():
                for alias in factory.aliases:  # rows recorded before the backend was renamed
                    store.rename_backend(alias, name)
            pm.register(StoreImporter(store))  # trylast: registered last, still outranked
            crypto = HashRatchet(store, installation_id=key.public_key.format().hex()[:16])
            emit = event_emitter(pm)
            timeouts = Timeouts(
                index=config.timeouts.index,
                archive=config.timeouts.archive,
                download=config.timeouts.download,
            )
            backends: dict[str, ArchiveBackend] = {}
            for name, factory in factories.items():
                context = BackendContext(
                    data_dir=config.backend_dir(name),
                    store=store,
                    crypto=crypto,
                    emit=emit,
                    timeouts=timeouts,
                    node_public_key_hex="0x" + key.public_key.format(compressed=False).hex(),
                    max_download_concurrency=config.max_download_concurrency,
                )
                context.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                backends[name] = factory.create(context, config.backend.get(name))
            manager = ArchiveManager(
                store=store, crypto=crypto, backends=backends, pm=pm, config=config, clock=clock
            )
        except BaseException:
            store.close()
            raise
        return cls(config, store, crypto, pm, backends, manager)

    async def start(self) -> None:
        started: list[ArchiveBackend] = []
        try:
            for backend in self.backends.values():
                await backend.start()
                started.append(backend)
            await self.manager.start()
        except BaseException:
            for backend in reversed(started):
                await backend.stop()
            raise
        self._started = True

    async def stop(self) -> None:
        """Idempotent: a lab restart stops a node that its exit stack stops again later."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            await self.manager.stop()
            for backend in reversed(self.backends.values()):
                await backend.stop()
            self._started = False
        self.store.close()
