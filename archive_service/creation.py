"""The owner's create loop over one or several backends (reference §4 steps 2–4).

Messages are read and encoded once; every enabled backend receives the same archive bytes,
so side-by-side distribution and A/B comparisons publish identical content.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from archive_service.archives import BuildReport, MessageSource, build_archives
from archive_service.asyncutil import iterate_in_thread
from archive_service.events import (
    ArchiveBuilt,
    ArchiveEvent,
    CreatingHistoryArchives,
    HistoryArchivesCreated,
    MessagesDropped,
    NoHistoryArchivesCreated,
)
from archive_service.ids import community_hex
from archive_service.interface import ArchiveBackend, Publication, PublishResult
from archive_service.types import ArchiveMetadata


async def create_history_archives(
    backends: Sequence[ArchiveBackend],
    source: MessageSource,
    community_id: bytes,
    topics: Sequence[bytes],
    start: int,
    end: int,
    partition: int,
    *,
    encrypt: Callable[[bytes], bytes] | None,
    emit: Callable[[ArchiveEvent], None],
    report: BuildReport | None = None,
) -> dict[str, PublishResult]:
    """Build archives for [start, end) and publish them with every backend. If any backend
    fails, every publication is aborted, so no backend advertises a partial history."""
    cid = community_hex(community_id)
    report = report if report is not None else BuildReport()
    for backend in backends:
        emit(CreatingHistoryArchives(community_id=cid, backend=backend.name))

    def dropped(metadata: ArchiveMetadata, count: int) -> None:
        emit(
            MessagesDropped(
                community_id=cid, from_ts=metadata.from_ts, to_ts=metadata.to_ts, count=count
            )
        )

    publications: list[tuple[ArchiveBackend, Publication]] = []
    try:
        for backend in backends:
            publications.append(
                (backend, await backend.open_publication(community_id, encrypt is not None))
            )
        built = build_archives(
            source,
            topics,
            start,
            end,
            partition,
            encrypt=encrypt,
            report=report,
            on_dropped=dropped,
        )
        async for archive in iterate_in_thread(built):
            for _, publication in publications:
                await publication.add(archive)
            emit(
                ArchiveBuilt(
                    community_id=cid,
                    from_ts=archive.metadata.from_ts,
                    to_ts=archive.metadata.to_ts,
                    message_count=archive.message_count,
                    size=len(archive.data),
                )
            )
        results = {}
        for backend, publication in publications:
            results[backend.name] = await publication.commit()
    except BaseException:
        for _, publication in publications:
            await publication.abort()
        raise

    for name, result in results.items():
        if result.archive_ids:
            emit(
                HistoryArchivesCreated(
                    community_id=cid,
                    backend=name,
                    from_ts=start,
                    to_ts=end,
                    archive_count=len(result.archive_ids),
                )
            )
        else:
            emit(NoHistoryArchivesCreated(community_id=cid, backend=name, from_ts=start, to_ts=end))
    return results
