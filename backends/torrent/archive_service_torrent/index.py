"""The BitTorrent archive index (reference §5.3): WakuMessageArchiveIndex, whose entries locate
each archive by byte range (offset, size, padding) in the torrent's one data file."""

from __future__ import annotations

from itertools import pairwise

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import MalformedIndexError
from archive_service.index import check_entry, decode_index, index_entry
from archive_service.types import IndexEntry
from archive_service.wire import pb

KIND = "torrent"


def decode_torrent_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.WakuMessageArchiveIndex:
    """Decode (decrypting as status-go detects it) and validate: keys equal the entries' IDs,
    padding < size, entries do not overlap. Raises MalformedIndexError."""
    index = decode_index(pb.WakuMessageArchiveIndex, data, community_id, crypto, KIND)
    ranges: list[tuple[int, int, str]] = []
    for key, entry in index.archives.items():
        check_entry(key, entry, KIND)
        if entry.size == 0:
            raise MalformedIndexError(f"torrent index entry {key} has size 0")
        if entry.padding >= entry.size:
            raise MalformedIndexError(
                f"torrent index entry {key} has padding {entry.padding} >= size {entry.size}; "
                "an archive is never empty"
            )
        ranges.append((entry.offset, entry.offset + entry.size, key))
    ranges.sort()
    for (_, end, left), (start, _, right) in pairwise(ranges):
        if start < end:
            raise MalformedIndexError(
                f"torrent index entries {left} and {right} overlap in the data file "
                f"(one ends at byte {end}, the next starts at {start})"
            )
    return index


def torrent_entries(index: pb.WakuMessageArchiveIndex) -> list[IndexEntry]:
    """In data-file order (offset), which is creation order."""
    entries = [
        index_entry(
            key,
            entry,
            locator={"offset": entry.offset, "size": entry.size, "padding": entry.padding},
            size=entry.size,
        )
        for key, entry in index.archives.items()
    ]
    entries.sort(key=lambda e: (e.locator["offset"], e.archive_id))
    return entries


def decode_plain_torrent_index(data: bytes) -> list[IndexEntry]:
    """A plaintext index file's entries (`BackendFactory.decode_index`): what a tool shows
    without the community's keys. Raises MalformedIndexError, DecryptionError if encrypted."""
    return torrent_entries(decode_torrent_index(data, b"", None))
