"""What a node of the backend tests of both plugins (tests/torrent, tests/codex) is made of
besides its backend: its own SQLite store and hash ratchet, and the events its backend emits,
recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendContext, Timeouts
from archive_service.store import Store


class RecordsEvents:
    """A side whose backend's events are kept in `events`."""

    events: list[ArchiveEvent]

    def of(self, kind: type[ArchiveEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def recording_context(
    data_dir: Path,
    store: Store,
    crypto: HashRatchet,
    events: list[ArchiveEvent],
    *,
    on_event: Callable[[ArchiveEvent], None] | None = None,
    timeouts: Timeouts,
    **context: Any,
) -> BackendContext:
    """A backend's context that appends each event to `events`, then hands it to `on_event`."""

    def emit(event: ArchiveEvent) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    return BackendContext(
        data_dir=data_dir, store=store, crypto=crypto, emit=emit, timeouts=timeouts, **context
    )
