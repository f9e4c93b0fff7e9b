"""The Codex archive index (reference §6.4): CodexWakuMessageArchiveIndex, whose entries locate
each archive by its CID on the Codex network."""

from __future__ import annotations

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import MalformedIndexError
from archive_service.index import check_entry, decode_index, index_entry
from archive_service.types import IndexEntry
from archive_service.wire import pb

KIND = "codex"


def decode_codex_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.CodexWakuMessageArchiveIndex:
    """Decode and validate (keys equal IDs, cid non-empty). Raises MalformedIndexError.
    CID syntax is checked by the backend (cid.py), which owns the CID format."""
    index = decode_index(pb.CodexWakuMessageArchiveIndex, data, community_id, crypto, KIND)
    for key, entry in index.archives.items():
        check_entry(key, entry, KIND)
        if not entry.cid:
            raise MalformedIndexError(f"codex index entry {key} has no CID")
    return index


def codex_entries(index: pb.CodexWakuMessageArchiveIndex) -> list[IndexEntry]:
    """Oldest window first; the size of a Codex archive is unknown until its manifest (0)."""
    entries = [
        index_entry(key, entry, locator={"cid": entry.cid}, size=0)
        for key, entry in index.archives.items()
    ]
    entries.sort(key=lambda e: (e.metadata.from_ts, e.metadata.to_ts, e.archive_id))
    return entries


def decode_plain_codex_index(data: bytes) -> list[IndexEntry]:
    """A plaintext index file's entries (`BackendFactory.decode_index`): what a tool shows
    without the community's keys. Raises MalformedIndexError, DecryptionError if encrypted."""
    return codex_entries(decode_codex_index(data, b"", None))
