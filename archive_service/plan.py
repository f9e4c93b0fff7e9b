"""Which archives a member downloads, shared by every backend.

Newest first (status-go's Codex order; its torrent order is oldest first by accident, §11.1).
An archive is skipped when its ID is already downloaded, or when its [from,to) window was
already downloaded through another backend as often as this index holds it: with
side-by-side distribution the same window exists once per backend under different IDs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from archive_service.types import DownloadedArchive, IndexEntry


class DownloadLog(Protocol):
    """What planning reads from persistence (the node's Store): the archives already held."""

    def downloaded_archives(self, community_id: bytes) -> Sequence[DownloadedArchive]: ...


@dataclass
class DownloadPlan:
    missing: list[IndexEntry] = field(default_factory=list)  # to fetch, newest first
    skipped: list[IndexEntry] = field(default_factory=list)  # covered through another backend
    already: int = 0  # this index's IDs already held


def plan_downloads(
    store: DownloadLog, community_id: bytes, backend: str, entries: Sequence[IndexEntry]
) -> DownloadPlan:
    downloaded = store.downloaded_archives(community_id)
    have_ids = {d.archive_id for d in downloaded}
    other_windows = Counter((d.from_ts, d.to_ts) for d in downloaded if d.backend != backend)
    per_window = Counter((e.metadata.from_ts, e.metadata.to_ts) for e in entries)

    plan = DownloadPlan()
    for entry in sorted(entries, key=lambda e: (-e.metadata.from_ts, e.archive_id)):
        window = (entry.metadata.from_ts, entry.metadata.to_ts)
        if entry.archive_id in have_ids:
            plan.already += 1
        elif other_windows[window] >= per_window[window]:
            plan.skipped.append(entry)
        else:
            plan.missing.append(entry)
    return plan
