"""What every part of the manager works with (the façade, owner tasks, downloads, the paced
import): one value, built once by ArchiveManager, instead of each part taking the same list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pluggy

from archive_service.clock import Clock
from archive_service.config import Config
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import ArchiveBackend
from archive_service.store import Store


@dataclass(frozen=True)
class ManagerContext:
    store: Store
    crypto: HashRatchet
    backends: Mapping[str, ArchiveBackend]  # the node's started backends, by name
    pm: pluggy.PluginManager
    config: Config
    clock: Clock  # the one clock every wait goes through
    emit: Callable[[ArchiveEvent], None]


class ManagerPart:
    """A part of the manager: the shared context's members as its own attributes."""

    def __init__(self, context: ManagerContext) -> None:
        self.store = context.store
        self.crypto = context.crypto
        self.backends = context.backends
        self.pm = context.pm
        self.config = context.config
        self.clock = context.clock
        self.emit = context.emit
