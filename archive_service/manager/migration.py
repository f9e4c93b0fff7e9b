"""Migration between two backends: the history stored by the source is republished with the
target as the same archive bytes, without reading the message store, so the target's index
covers the whole history. Windows the target already holds are skipped, so a migration can be
re-run."""

from __future__ import annotations

from dataclasses import dataclass

from archive_service.interface import ArchiveBackend, PublishResult
from archive_service.store import Community
from archive_service.types import BuiltArchive


@dataclass(frozen=True)
class MigrationReport:
    source: str
    target: str
    link: str | None
    mapping: dict[str, str]  # source archive ID -> target archive ID
    skipped: list[str]  # source IDs whose window the target already holds


async def republish(
    community: Community, source: ArchiveBackend, target: ArchiveBackend
) -> tuple[PublishResult, dict[str, str], list[str]]:
    """Publish every archive of `source` whose window `target` lacks with `target`, in one
    publication: (its result, source ID -> target ID, source IDs skipped)."""
    entries = await source.read_index(community.id)
    held = {(e.metadata.from_ts, e.metadata.to_ts) for e in await target.read_index(community.id)}
    publication = await target.open_publication(community.id, community.encrypted)
    mapping: dict[str, str] = {}
    skipped: list[str] = []
    try:
        # Oldest window first. The sort is stable, so the chunks of one window keep the order
        # the source lists them in (their creation order), whatever the backend.
        for entry in sorted(entries, key=lambda e: (e.metadata.from_ts, e.metadata.to_ts)):
            if (entry.metadata.from_ts, entry.metadata.to_ts) in held:
                skipped.append(entry.archive_id)
                continue
            data = await source.read_archive_bytes(community.id, None, entry.archive_id)
            # message_count -1: the bytes are republished as they are, never decoded.
            mapping[entry.archive_id] = await publication.add(
                BuiltArchive(
                    metadata=entry.metadata,
                    data=data,
                    message_count=-1,
                    encrypted=community.encrypted,
                )
            )
        result = await publication.commit()
    except BaseException:
        await publication.abort()
        raise
    return result, mapping, skipped
