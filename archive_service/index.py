"""Archive indexes of both kinds and archive IDs (reference §4, §5.3, §6.4).

CONTRACT STUB: signatures are fixed; bodies are being implemented (issue #2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archive_service.interface import ArchiveMetadata, IndexEntry
from archive_service.wire import pb

if TYPE_CHECKING:
    from archive_service.crypto.hashratchet import HashRatchet

TorrentEntry = pb.WakuMessageArchiveIndexMetadata
CodexEntry = pb.CodexWakuMessageArchiveIndexMetadata


def archive_id(entry: TorrentEntry | CodexEntry) -> str:
    """'0x' + lowercase hex Keccak-256 of the marshalled index entry."""
    raise NotImplementedError


def metadata_to_pb(metadata: ArchiveMetadata) -> pb.WakuMessageArchiveMetadata:
    raise NotImplementedError


def metadata_from_pb(metadata: pb.WakuMessageArchiveMetadata) -> ArchiveMetadata:
    raise NotImplementedError


def encode_index(
    index: pb.WakuMessageArchiveIndex | pb.CodexWakuMessageArchiveIndex,
    community_id: bytes,
    crypto: HashRatchet | None,
) -> bytes:
    """Marshal (deterministic) and, when `crypto` is given, wrap in the hash-ratchet envelope."""
    raise NotImplementedError


def decode_torrent_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.WakuMessageArchiveIndex:
    """Decode (decrypting as status-go detects it) and validate: keys equal the entries' IDs,
    padding < size, entries do not overlap. Raises MalformedIndexError."""
    raise NotImplementedError


def decode_codex_index(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.CodexWakuMessageArchiveIndex:
    """Decode and validate (keys equal IDs, cid non-empty). Raises MalformedIndexError.
    CID syntax is checked by the Codex backend, which owns the CID format."""
    raise NotImplementedError


def torrent_entries(index: pb.WakuMessageArchiveIndex) -> list[IndexEntry]:
    raise NotImplementedError


def codex_entries(index: pb.CodexWakuMessageArchiveIndex) -> list[IndexEntry]:
    raise NotImplementedError
