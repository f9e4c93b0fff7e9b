"""Archive-service nodes on the Codex backend for the Codex tests: each with its own SQLite
store, hash ratchet, recorded events and a started CodexBackend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive_service_codex.backend import CodexBackend
from archive_service_codex.settings import CodexSettings
from backend_side import RecordsEvents, recording_context

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import Timeouts
from archive_service.store import Store


@dataclass
class Side(RecordsEvents):
    """One archive-service node: its store, crypto, events and Codex backend."""

    backend: CodexBackend
    store: Store
    crypto: HashRatchet
    events: list[ArchiveEvent] = field(default_factory=list)


class Sides:
    """The sides a test made under `root` (one folder each), stopped and closed by `close`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Side] = []

    async def add(
        self,
        name: str,
        settings: CodexSettings,
        timeouts: Timeouts,
        concurrency: int = 2,
        on_event: Callable[[ArchiveEvent], None] | None = None,
    ) -> Side:
        store = Store(self.root / name / "archive-service.sqlite")
        crypto = HashRatchet(store)
        events: list[ArchiveEvent] = []
        context = recording_context(
            self.root / name / "codex",
            store,
            crypto,
            events,
            on_event=on_event,
            timeouts=timeouts,
            max_download_concurrency=concurrency,
        )
        backend = CodexBackend(context, settings)
        await backend.start()
        side = Side(backend, store, crypto, events)
        self.made.append(side)
        return side

    async def close(self) -> None:
        for side in self.made:
            await side.backend.stop()
            side.store.close()
