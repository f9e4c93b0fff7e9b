"""Archive indexes of both kinds and archive IDs (reference §4, §5.3, §6.4).

An archive ID is '0x' + Keccak-256 of the marshalled index entry. Entries hold no map fields,
so upb's serialization (ascending fields, defaults omitted) equals Go's proto.Marshal.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar

from google.protobuf.message import DecodeError

from archive_service.crypto.hashratchet import NO_INSTALLATION, is_hash_ratchet_message
from archive_service.errors import DecryptionError, MalformedIndexError
from archive_service.ids import keccak256
from archive_service.interface import ArchiveMetadata, IndexEntry
from archive_service.wire import pb

if TYPE_CHECKING:
    from archive_service.crypto.hashratchet import HashRatchet

TorrentEntry = pb.WakuMessageArchiveIndexMetadata
CodexEntry = pb.CodexWakuMessageArchiveIndexMetadata
AnyIndex = TypeVar("AnyIndex", pb.WakuMessageArchiveIndex, pb.CodexWakuMessageArchiveIndex)


def archive_id(entry: TorrentEntry | CodexEntry) -> str:
    """'0x' + lowercase hex Keccak-256 of the marshalled index entry."""
    return "0x" + keccak256(entry.SerializeToString()).hex()


def metadata_to_pb(metadata: ArchiveMetadata) -> pb.WakuMessageArchiveMetadata:
    # `from` is a Python keyword, hence the keyword dictionary.
    return pb.WakuMessageArchiveMetadata(
        **{"from": metadata.from_ts, "to": metadata.to_ts, "contentTopic": metadata.topics}
    )


def metadata_from_pb(metadata: pb.WakuMessageArchiveMetadata) -> ArchiveMetadata:
    return ArchiveMetadata(
        from_ts=getattr(metadata, "from"),
        to_ts=metadata.to,
        topics=tuple(bytes(t) for t in metadata.contentTopic),
    )


def encode_index(
    index: pb.WakuMessageArchiveIndex | pb.CodexWakuMessageArchiveIndex,
    community_id: bytes,
    crypto: HashRatchet | None,
) -> bytes:
    """Marshal (deterministic) and, when `crypto` is given, wrap in the hash-ratchet envelope."""
    data = index.SerializeToString(deterministic=True)
    if crypto is not None:
        data = crypto.encrypt(community_id, data)
    return data


def _parse(cls: type[AnyIndex], data: bytes, what: str) -> AnyIndex:
    index = cls()
    try:
        index.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedIndexError(
            f"{what} of {len(data)} bytes is not a valid protobuf ({exc}); the file is corrupt "
            "or not an archive index"
        ) from None
    return index


def _decode(
    cls: type[AnyIndex],
    data: bytes,
    community_id: bytes,
    crypto: HashRatchet | None,
    kind: str,
) -> AnyIndex:
    what = f"{kind} index"
    index = _parse(cls, data, what)
    # status-go's detection: an encrypted ProtocolMessage parses as an index with no entries.
    if len(index.archives) == 0 and len(data) > 0:
        installation = crypto.installation_id if crypto is not None else NO_INSTALLATION
        if not is_hash_ratchet_message(data, installation):
            raise MalformedIndexError(
                f"{what} of {len(data)} bytes has no archive entries and is not a hash-ratchet "
                "envelope; the file is corrupt or of another kind"
            )
        if crypto is None:
            raise DecryptionError(
                f"the {what} is encrypted (hash-ratchet ProtocolMessage) but no key store was "
                "given to decrypt it"
            )
        plain = crypto.decrypt(community_id, data)
        index = _parse(cls, plain, f"decrypted {what}")
    return index


def _check_common(key: str, entry: TorrentEntry | CodexEntry, kind: str) -> None:
    expected = archive_id(entry)
    if key != expected:
        raise MalformedIndexError(
            f"{kind} index key {key!r} does not match its entry (Keccak-256 gives {expected}); "
            "the index is corrupt or forged"
        )
    if not entry.HasField("metadata"):
        raise MalformedIndexError(f"{kind} index entry {key} has no metadata (window, topics)")
    from_ts, to_ts = getattr(entry.metadata, "from"), entry.metadata.to
    if not from_ts < to_ts:
        raise MalformedIndexError(
            f"{kind} index entry {key} has an empty window [from={from_ts}, to={to_ts})"
        )


def decode_torrent_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.WakuMessageArchiveIndex:
    """Decode (decrypting as status-go detects it) and validate: keys equal the entries' IDs,
    padding < size, entries do not overlap. Raises MalformedIndexError."""
    index = _decode(pb.WakuMessageArchiveIndex, data, community_id, crypto, "torrent")
    ranges: list[tuple[int, int, str]] = []
    for key, entry in index.archives.items():
        _check_common(key, entry, "torrent")
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


def decode_codex_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.CodexWakuMessageArchiveIndex:
    """Decode and validate (keys equal IDs, cid non-empty). Raises MalformedIndexError.
    CID syntax is checked by the Codex backend, which owns the CID format."""
    index = _decode(pb.CodexWakuMessageArchiveIndex, data, community_id, crypto, "codex")
    for key, entry in index.archives.items():
        _check_common(key, entry, "codex")
        if not entry.cid:
            raise MalformedIndexError(f"codex index entry {key} has no CID")
    return index


def torrent_entries(index: pb.WakuMessageArchiveIndex) -> list[IndexEntry]:
    """In data-file order (offset), which is creation order."""
    entries = [
        IndexEntry(
            archive_id=key,
            metadata=metadata_from_pb(entry.metadata),
            locator={"offset": entry.offset, "size": entry.size, "padding": entry.padding},
            size=entry.size,
        )
        for key, entry in index.archives.items()
    ]
    entries.sort(key=lambda e: (e.locator["offset"], e.archive_id))
    return entries


def codex_entries(index: pb.CodexWakuMessageArchiveIndex) -> list[IndexEntry]:
    """Oldest window first; the size of a Codex archive is unknown until its manifest (0)."""
    entries = [
        IndexEntry(
            archive_id=key,
            metadata=metadata_from_pb(entry.metadata),
            locator={"cid": entry.cid},
            size=0,
        )
        for key, entry in index.archives.items()
    ]
    entries.sort(key=lambda e: (e.metadata.from_ts, e.metadata.to_ts, e.archive_id))
    return entries
