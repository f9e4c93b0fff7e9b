"""Fixtures for the BitTorrent backend: real libtorrent sessions on 127.0.0.1 (loopback-only IP
filter, no trackers, DHT/LSD/UPnP/NAT-PMP off), each node with its own temporary directory,
SQLite store and hash ratchet. Every backend a fixture starts is stopped at teardown.

- `make_side(name, **settings)`: start a node (settings as TorrentSettings, loopback defaults).
- `week_messages(week, count, size)`: deterministic messages inside week `week`.
- `publish(side, messages, start, end, encrypt=False)`: the core create loop for one backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import weekly_history
from archive_service_torrent.backend import TorrentBackend
from archive_service_torrent.settings import TorrentSettings
from backend_side import RecordsEvents, recording_context
from weekly_history import COMMUNITY, T0, TOPICS, WEEK, publish  # noqa: F401  (re-exported)

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.interface import BackendContext, PublishResult, Timeouts
from archive_service.store import Store
from archive_service.types import StoredMessage

OTHER_COMMUNITY = bytes.fromhex("02" + "77" * 32)
OWNER_KEY_HEX = "0x04" + "ab" * 64


@dataclass
class Side(RecordsEvents):
    """One archive-service node: its store, crypto, events and BitTorrent backend."""

    name: str
    backend: TorrentBackend
    store: Store
    crypto: HashRatchet
    root: Path
    events: list[ArchiveEvent] = field(default_factory=list)


MakeSide = Callable[..., Any]


def side_context(
    root: Path, store: Store, crypto: HashRatchet, events: list[ArchiveEvent], **kw: Any
) -> BackendContext:
    return recording_context(
        root / "torrent",
        store,
        crypto,
        events,
        on_event=kw.pop("on_event", None),
        timeouts=kw.pop("timeouts", None) or Timeouts(index=10, archive=20, download=60),
        node_public_key_hex=OWNER_KEY_HEX,
        max_download_concurrency=kw.pop("concurrency", 4),
    )


@pytest.fixture
async def make_side(tmp_path: Path) -> AsyncIterator[MakeSide]:
    sides: list[Side] = []

    async def make(
        name: str,
        *,
        timeouts: Timeouts | None = None,
        concurrency: int = 4,
        on_event: Callable[[ArchiveEvent], None] | None = None,
        start: bool = True,
        **settings: Any,
    ) -> Side:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        store = Store(root / "archive-service.sqlite")
        crypto = HashRatchet(store)
        events: list[ArchiveEvent] = []
        context = side_context(
            root,
            store,
            crypto,
            events,
            timeouts=timeouts,
            concurrency=concurrency,
            on_event=on_event,
        )
        backend = TorrentBackend(context, TorrentSettings.loopback(**settings))
        if start:
            await backend.start()
        side = Side(name, backend, store, crypto, root, events)
        sides.append(side)
        return side

    yield make
    # Session teardown blocks 0.2–1 s in libtorrent's destructor: stop them all at once.
    await asyncio.gather(*(side.backend.stop() for side in sides))
    for side in sides:
        side.store.close()


def week_messages(week: int, count: int = 40, size: int = 6000) -> list[StoredMessage]:
    return weekly_history.week_messages(week, count, size)


async def publish_and_seed(side: Side, *args: Any, **kwargs: Any) -> PublishResult:
    result = await publish(side, *args, **kwargs)
    assert result.link is not None
    await side.backend.seed(kwargs.get("community", COMMUNITY), result.link)
    return result
