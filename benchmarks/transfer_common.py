"""What the two transfer benchmarks (codex_transfer.py, torrent_transfer.py) share: the
synthetic history, the backend context of an owner or member, and floor/ours rates."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.events import ArchiveEvent
from archive_service.ids import keccak256
from archive_service.interface import BackendContext, Timeouts
from archive_service.store import Store
from archive_service.types import StoredMessage

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
