"""`archive-service demo`: the whole flow on one machine. Generate a community history, start
an owner and a member on 127.0.0.1 (libtorrent sessions and local Codex nodes by default),
create, distribute, download and import, and check the member ends with exactly the owner's
messages."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from archive_service.events import (
    ArchiveEvent,
    HistoryArchiveImported,
    HistoryArchivesDownloadCompleted,
)
from archive_service_cli.lab import Lab, RecordedEvent
from archive_service_cli.synthetic import generate_history


@dataclass
class BackendOutcome:
    archives: int
    link: str
    bytes_stored: int


@dataclass
class DemoResult:
    backends: list[str]
    community_id: bytes
    owner_messages: int
    member_messages: list[int]
    identical: bool
    published: dict[str, BackendOutcome]
    downloaded_via: list[dict[str, int]]  # per member: archives per backend
    skipped_via: list[dict[str, int]]  # per member: windows skipped per backend
    seconds: dict[str, float] = field(default_factory=dict)


async def run_demo(
    workdir: Path,
    *,
    backends: Sequence[str] = ("torrent", "logos-storage"),
    preference: Sequence[str] = ("logos-storage", "torrent"),
    messages: int = 50_000,
    days: float = 56,
    topics: int = 5,
    seed: int = 1,
    encrypted: bool = False,
    members: int = 1,
    on_event: Callable[[str, ArchiveEvent], None] | None = None,
) -> DemoResult:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    async with Lab(workdir, backends=backends, preference=preference, members=members) as lab:
        owner = lab.owner
        assert owner is not None
        if on_event is not None:
            lab.events.listeners.append(lambda r: on_event(r.node, r.event))
        seconds["start nodes"] = time.perf_counter() - started

        mark = time.perf_counter()
        summary = generate_history(
            owner.store, messages=messages, days=days, topics=topics, seed=seed
        )
        community = owner.store.get_community(summary.community_id)
        assert community is not None
        if encrypted:
            community = replace(community, encrypted=True)
            owner.store.save_community(community)
            owner.crypto.generate_group_key(community.id)
        for member in lab.members:
            lab.join(member, community)
        seconds["generate history"] = time.perf_counter() - mark

        # Member times count from the announcement (the link reaching the members, which
        # happens inside create + seed): the first archive imported, and the full import.
        announced: list[float] = []
        first_import: list[float] = []

        def on_member_event(record: RecordedEvent) -> None:
            if isinstance(record.event, HistoryArchiveImported) and not first_import:
                first_import.append(time.perf_counter())

        lab.bus.listeners.append(lambda _link: announced.append(time.perf_counter()))
        lab.events.listeners.append(on_member_event)
        mark = time.perf_counter()
        results = await owner.manager.create_and_seed_history_archive(
            community, summary.start_ts, summary.end_ts
        )
        seconds["create + seed"] = time.perf_counter() - mark

        mark = time.perf_counter()
        await lab.settle(community, timeout=600)
        done = time.perf_counter()
        seconds["download + import"] = done - mark
        since = announced[0] if announced else mark
        if first_import:
            seconds["first archive imported"] = first_import[0] - since
        seconds["full import"] = done - since

        owner_hashes = lab.owner_hashes(community)
        member_hashes = [lab.member_hashes(m, community) for m in lab.members]
        downloaded = [
            dict(Counter(d.backend for d in m.store.downloaded_archives(community.id)))
            for m in lab.members
        ]
        skipped: list[dict[str, int]] = []
        for member in lab.members:
            name = lab.name_of(member)
            counts: Counter[str] = Counter()
            for record in lab.events.of(name, HistoryArchivesDownloadCompleted):
                event = record.event
                assert isinstance(event, HistoryArchivesDownloadCompleted)
                counts[event.backend] += event.skipped
            skipped.append(dict(counts))
        result = DemoResult(
            backends=list(backends),
            community_id=community.id,
            owner_messages=len(owner_hashes),
            member_messages=[m.store.count_waku_messages() for m in lab.members],
            identical=all(h == owner_hashes for h in member_hashes),
            published={
                name: BackendOutcome(len(r.archive_ids), r.link or "", r.bytes_stored)
                for name, r in results.items()
            },
            downloaded_via=downloaded,
            skipped_via=skipped,
        )
    seconds["total"] = time.perf_counter() - started
    result.seconds = seconds
    return result
