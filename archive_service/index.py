"""What every archive index shares, whatever the backend (reference §4, §5.3, §6.4): archive
IDs, the metadata of an entry, the (encrypted) encoding, and the decoding checks common to all
index kinds. Each backend owns its index message and its own rules (in its plugin).

An archive ID is '0x' + Keccak-256 of the marshalled index entry. Entries hold no map fields,
so upb's serialization (ascending fields, defaults omitted) equals Go's proto.Marshal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from archive_service.crypto.hashratchet import NO_INSTALLATION, HashRatchet, is_hash_ratchet_message
from archive_service.errors import DecryptionError, MalformedIndexError
from archive_service.ids import keccak256
from archive_service.types import ArchiveMetadata, IndexEntry
from archive_service.wire import pb
from archive_service.wire.parsing import Parsable, parse


class ArchiveIndex(Parsable, Protocol):
    """A status-go archive index message: archive ID -> entry (with `metadata`)."""

    @property
    def archives(self) -> Mapping[str, Any]: ...


AnyIndex = TypeVar("AnyIndex", bound=ArchiveIndex)


def archive_id(entry: Message) -> str:
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


def index_entry(key: str, entry: Any, *, locator: dict[str, Any], size: int) -> IndexEntry:
    """The backend-neutral view of a decoded entry: its ID and window, with the backend's
    `locator` and the `size` a member fetches."""
    return IndexEntry(
        archive_id=key, metadata=metadata_from_pb(entry.metadata), locator=locator, size=size
    )


def encode_index(index: Message, community_id: bytes, crypto: HashRatchet | None) -> bytes:
    """Marshal (deterministic) and, when `crypto` is given, wrap in the hash-ratchet envelope."""
    data = index.SerializeToString(deterministic=True)
    if crypto is not None:
        data = crypto.encrypt(community_id, data)
    return data


def _parse(cls: type[AnyIndex], data: bytes, what: str) -> AnyIndex:
    return parse(
        cls,
        data,
        lambda reason: MalformedIndexError(
            f"{what} of {len(data)} bytes is not a valid protobuf ({reason}); the file is "
            "corrupt or not an archive index"
        ),
    )


def decode_index(
    cls: type[AnyIndex],
    data: bytes,
    community_id: bytes,
    crypto: HashRatchet | None,
    kind: str,
) -> AnyIndex:
    """Parse `data` as the index message `cls`, decrypting as status-go detects it (an
    encrypted ProtocolMessage parses as an index with no entries). `kind` names the index in
    errors. Raises MalformedIndexError, DecryptionError, NoGroupKeyError."""
    what = f"{kind} index"
    index = _parse(cls, data, what)
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


def check_entry(key: str, entry: Any, kind: str) -> None:
    """The rules every index entry keeps: its key is its archive ID, it has metadata, and its
    window [from, to) is not empty. Raises MalformedIndexError."""
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
