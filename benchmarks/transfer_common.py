"""What the two transfer benchmarks (codex_transfer.py, torrent_transfer.py) share: the
synthetic history, the backend context of an owner or member, the owner's publication, the
member's download with each archive imported as it completes, floor/ours rates, the machine
they ran on and the results files."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from archive_service.archives import build_archives, messages_from_list
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent, HistoryArchiveDownloaded
from archive_service.ids import keccak256
from archive_service.interface import (
    ArchiveBackend,
    BackendContext,
    DownloadTaskInfo,
    PublishResult,
    Timeouts,
)
from archive_service.store import Store
from archive_service.types import BuiltArchive, StoredMessage

RESULTS = Path(__file__).resolve().parent / "results"
TOPICS = (b"\x01\x02\x03\x04",)
WEEK = 7 * 24 * 3600
T0 = 1_699_833_600
PAYLOAD = 8000
CONCURRENCY = 4
MiB = 1 << 20


def synthetic_messages(total_bytes: int, weeks: int, seed: int = 0) -> list[StoredMessage]:
    """Incompressible payloads spread evenly over `weeks` weeks."""
    count = max(weeks, total_bytes // PAYLOAD)
    per_week = -(-count // weeks)
    out = []
    for i in range(count):
        week, k = divmod(i, per_week)
        n = seed * 10_000_000 + i
        out.append(
            StoredMessage(
                sig=keccak256(n.to_bytes(8, "big")) * 2 + b"\x01",
                timestamp=T0 + week * WEEK + k * (WEEK // per_week),
                topic=TOPICS[0],
                payload=os.urandom(PAYLOAD),
                padding=b"",
                hash=keccak256(b"m" + n.to_bytes(8, "big")),
            )
        )
    return out


def synthetic_history(mib: int, weeks: int) -> tuple[list[StoredMessage], list[BuiltArchive]]:
    """`mib` MiB of synthetic messages over `weeks` weeks, and their weekly archives."""
    messages = synthetic_messages(mib * MiB, weeks)
    archives = build_archives(messages_from_list(messages), TOPICS, T0, T0 + weeks * WEEK, WEEK)
    return messages, list(archives)


def backend_context(
    data_dir: Path,
    store: Store,
    emit: Callable[[ArchiveEvent], None] = lambda event: None,
    **extra: Any,
) -> BackendContext:
    """A node's context with generous timeouts: the benchmarks measure speed, not give-ups."""
    return BackendContext(
        data_dir=data_dir,
        store=store,
        crypto=HashRatchet(store),
        emit=emit,
        timeouts=Timeouts(index=60, archive=300, download=3600),
        max_download_concurrency=CONCURRENCY,
        **extra,
    )


def rates(floor: list[float], ours: list[float], nbytes: int) -> dict[str, Any]:
    f, o = statistics.median(floor), statistics.median(ours)
    return {
        "floor_s": round(f, 4),
        "ours_s": round(o, 4),
        "floor_mib_s": round(nbytes / MiB / f, 1),
        "ours_mib_s": round(nbytes / MiB / o, 1),
        "ratio": round(f / o, 3),
        # Floor and ours alternate within each repetition; the median of their per-pair
        # ratios is less sensitive to the machine's load drifting during the run.
        "paired_ratio_median": round(
            statistics.median(a / b for a, b in zip(floor, ours, strict=True)), 3
        ),
        "samples_floor_s": [round(x, 4) for x in floor],
        "samples_ours_s": [round(x, 4) for x in ours],
    }


async def publish(
    backend: ArchiveBackend, community: bytes, archives: Iterable[BuiltArchive]
) -> PublishResult:
    """The owner's create run of already built archives: one publication, committed."""
    publication = await backend.open_publication(community, False)
    for archive in archives:
        await publication.add(archive)
    return await publication.commit()


class ImportAsDownloaded:
    """A member's importer: pass `emit` to the member's backend context, then `run` downloads
    a link, loading and saving each archive as soon as its download completes."""

    def __init__(self) -> None:
        self._done: asyncio.Queue[str | None] = asyncio.Queue()

    def emit(self, event: ArchiveEvent) -> None:
        if isinstance(event, HistoryArchiveDownloaded):
            self._done.put_nowait(event.archive_id)

    async def run(
        self, member: ArchiveBackend, store: Store, community: bytes, link: str
    ) -> tuple[DownloadTaskInfo, float, float]:
        """Returns (the download's info, download + import seconds, download seconds)."""

        async def importer() -> None:
            while (aid := await self._done.get()) is not None:
                got = await member.load_archive_messages(community, link, aid)
                # Converted and written off the event loop, as a host's importer would.
                await asyncio.to_thread(store.save_waku_messages, map(StoredMessage.from_pb, got))
                await asyncio.to_thread(store.set_archive_imported, community, aid)

        started = time.perf_counter()
        worker = asyncio.create_task(importer())
        info = await member.download_history_archives(community, link, asyncio.Event())
        downloaded = time.perf_counter() - started
        self._done.put_nowait(None)
        await worker
        return info, time.perf_counter() - started, downloaded


def machine(load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    """Where a result was measured; other work on the machine skews every ratio."""
    return {
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_start": [round(x, 2) for x in load_at_start],
    }


def arguments(doc: str, mib: int) -> argparse.ArgumentParser:
    """The options both transfer benchmarks take; a benchmark may add its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--mib", type=int, default=mib, help="transferred history in MiB")
    parser.add_argument("--archives", type=int, default=8, help="weeks (one archive each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser


def write_results(out: Path, name: str, result: dict[str, Any], markdown: str) -> None:
    """`<name>.json` and `<name>.md` in `out`; the table is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)
    print(markdown)
