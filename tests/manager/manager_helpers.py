"""Helpers for end-to-end manager tests: real libtorrent sessions, real local Codex nodes,
real SQLite stores, all on 127.0.0.1 in a temporary directory."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from archive_service_cli.lab import Lab, RecordedEvent
from archive_service_cli.synthetic import DAY, DEFAULT_START_TS, generate_history

from archive_service.events import ArchiveEvent
from archive_service.interface import ArchiveBackend, DownloadTaskInfo
from archive_service.node import ArchiveNode
from archive_service.store import Community

WEEK = 7 * DAY
E = TypeVar("E", bound=ArchiveEvent)
START = DEFAULT_START_TS


def owner_community(
    lab: Lab,
    *,
    messages: int = 1200,
    days: float = 21,
    topics: int = 3,
    seed: int = 7,
    encrypted: bool = False,
    start_ts: int = START,
) -> Community:
    """Generate a history into the owner's store and return the owner's community."""
    assert lab.owner is not None
    summary = generate_history(
        lab.owner.store, messages=messages, days=days, topics=topics, seed=seed, start_ts=start_ts
    )
    community = lab.owner.store.get_community(summary.community_id)
    assert community is not None
    if encrypted:
        community = replace(community, encrypted=True)
        lab.owner.store.save_community(community)
        lab.owner.crypto.generate_group_key(community.id)
    return community


def joined_member(lab: Lab, **history: Any) -> tuple[ArchiveNode, Community]:
    """The lab's first member, joined to a new owner community (`history`: owner_community's
    options)."""
    member = lab.members[0]
    community = owner_community(lab, **history)
    lab.join(member, community)
    return member, community


def windows_downloaded(member: ArchiveNode, community: Community) -> Counter[tuple[int, int]]:
    return Counter((d.from_ts, d.to_ts) for d in member.store.downloaded_archives(community.id))


def backend_of_downloads(member: ArchiveNode, community: Community) -> Counter[str]:
    return Counter(d.backend for d in member.store.downloaded_archives(community.id))


async def next_event(
    lab: Lab,
    node: str,
    kind: type[E],
    where: Callable[[E], bool] = lambda event: True,
    timeout: float = 60.0,
) -> E:
    """The first event of `kind` from `node` that satisfies `where`: one recorded already, or
    the next one to arrive (awaited, never polled)."""
    for record in lab.events.of(node, kind):
        if where(record.event):  # type: ignore[arg-type]
            return record.event  # type: ignore[return-value]
    arrived: asyncio.Future[E] = asyncio.get_running_loop().create_future()

    def listener(record: RecordedEvent) -> None:
        event = record.event
        if record.node == node and isinstance(event, kind) and where(event) and not arrived.done():
            arrived.set_result(event)

    lab.events.listeners.append(listener)
    try:
        async with asyncio.timeout(timeout):
            return await arrived
    finally:
        lab.events.listeners.remove(listener)


def watch_downloads(
    monkeypatch: pytest.MonkeyPatch,
    backend: ArchiveBackend,
    *,
    started: Callable[[str], None] | None = None,
    hold: asyncio.Event | None = None,
) -> None:
    """Make `backend`'s downloads call `started(link)` as each begins and, with `hold`, wait
    for it before returning what the backend's own download returned."""
    download = backend.download_history_archives

    async def watched(community_id: bytes, link: str, *args: Any, **kw: Any) -> DownloadTaskInfo:
        if started is not None:
            started(link)
        info = await download(community_id, link, *args, **kw)
        if hold is not None:
            await hold.wait()
        return info

    monkeypatch.setattr(backend, "download_history_archives", watched)
