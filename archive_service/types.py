"""Value types shared by every layer: a stored message row, an archive's window, a built
archive, a backend-neutral index entry and a downloaded-archive row. Plain data, no behaviour
beyond conversions, so the archive codec, the store and the backend contract all import them
from here instead of from each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from archive_service.wire import pb


class StoredMessage(NamedTuple):
    """A row of waku_messages; field meanings as protobuf WakuMessage."""

    sig: bytes
    timestamp: int  # unix seconds
    topic: bytes  # 4 bytes
    payload: bytes
    padding: bytes
    hash: bytes
    third_party_id: str = ""

    @classmethod
    def from_pb(cls, m: pb.WakuMessage) -> StoredMessage:
        """The row of a decoded archive message (what an importer stores)."""
        return cls(m.sig, m.timestamp, m.topic, m.payload, m.padding, m.hash, m.thirdPartyId)

    def to_pb(self) -> pb.WakuMessage:
        """The protobuf message of this row (what a reference encoder serializes). The fields
        have the protobuf's names but for third_party_id."""
        row = self._asdict()
        return pb.WakuMessage(thirdPartyId=row.pop("third_party_id"), **row)


@dataclass(frozen=True)
class ArchiveMetadata:
    """WakuMessageArchiveMetadata: the half-open window [from_ts, to_ts) in unix seconds."""

    from_ts: int
    to_ts: int
    topics: tuple[bytes, ...]


@dataclass(frozen=True)
class BuiltArchive:
    """One encoded archive, ready to store: `data` is the WakuMessageArchive bytes, or the
    hash-ratchet ProtocolMessage wrapping them when the community is encrypted."""

    metadata: ArchiveMetadata
    data: bytes
    message_count: int
    encrypted: bool


@dataclass(frozen=True)
class IndexEntry:
    """A backend-neutral view of one index entry. `locator` is backend-specific (e.g. a byte
    range in a data file, or a content ID); the core never reads it."""

    archive_id: str
    metadata: ArchiveMetadata
    locator: dict[str, Any]
    size: int  # bytes a member must fetch for this archive (0 when unknown until fetched)


@dataclass(frozen=True)
class DownloadedArchive:
    """A row of the member's downloaded-archive log: which archive, through which backend."""

    archive_id: str
    backend: str
    from_ts: int
    to_ts: int
    imported: bool
    link: str = ""
