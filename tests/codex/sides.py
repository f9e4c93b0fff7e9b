"""Archive-service nodes on the Codex backend for the Codex tests: each with its own SQLite
store, hash ratchet, recorded events and a started CodexBackend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from archive_service_codex.backend import CodexBackend
from archive_service_codex.settings import CodexSettings

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendContext, Timeouts
from archive_service.store import Store


@dataclass
class Side:
    """One archive-service node: its store, crypto, events and Codex backend."""

    backend: CodexBackend
    store: Store
    crypto: HashRatchet
    events: list[ArchiveEvent] = field(default_factory=list)

    def of(self, kind: type[ArchiveEvent]) -> list[ArchiveEvent]:
        return [e for e in self.events if isinstance(e, kind)]


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

        def emit(event: ArchiveEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        context = BackendContext(
            data_dir=self.root / name / "codex",
            store=store,
            crypto=crypto,
            emit=emit,
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
