"""Pure, streaming archive building (reference §4): messages -> [from,to) windows -> size
chunks -> WakuMessageArchive bytes -> optional hash-ratchet encryption.

CONTRACT STUB: signatures are fixed; bodies are being implemented (issue #2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from archive_service.interface import ArchiveMetadata, BuiltArchive

if TYPE_CHECKING:
    from archive_service.crypto.hashratchet import HashRatchet
    from archive_service.wire import pb

MAX_ARCHIVE_SIZE = (
    30_000_000  # bytes of payload + sig per archive (status-go maxArchiveSizeInBytes)
)


class StoredMessage(NamedTuple):
    """A row of waku_messages; field meanings as protobuf WakuMessage."""

    sig: bytes
    timestamp: int  # unix seconds
    topic: bytes  # 4 bytes
    payload: bytes
    padding: bytes
    hash: bytes
    third_party_id: str = ""


# (topics, from_ts, to_ts) -> messages with from_ts <= timestamp < to_ts on those topics,
# ordered by timestamp.
MessageSource = Callable[[Sequence[bytes], int, int], Iterable[StoredMessage]]


@dataclass
class BuildReport:
    archives: int = 0
    messages: int = 0
    dropped_oversize: int = 0
    bytes: int = 0


def partitions(start: int, end: int, partition: int) -> Iterator[tuple[int, int]]:
    """Half-open windows [from, to) with to = min(from + partition, end), from start to end."""
    raise NotImplementedError


def messages_from_list(messages: Iterable[StoredMessage]) -> MessageSource:
    """A MessageSource over an in-memory list (status-go's *FromMessages variant)."""
    raise NotImplementedError


def build_archives(
    source: MessageSource,
    topics: Sequence[bytes],
    start: int,
    end: int,
    partition: int,
    *,
    encrypt: Callable[[bytes], bytes] | None = None,
    report: BuildReport | None = None,
    on_dropped: Callable[[ArchiveMetadata, int], None] | None = None,
) -> Iterator[BuiltArchive]:
    """Yield archives window by window, holding at most one archive in memory. Empty windows
    and empty chunks are skipped; messages over MAX_ARCHIVE_SIZE are dropped and reported."""
    raise NotImplementedError


def encode_archive(metadata: ArchiveMetadata, messages: Iterable[StoredMessage]) -> bytes:
    """Marshal a WakuMessageArchive byte-identically to status-go (version left 0)."""
    raise NotImplementedError


def decode_archive(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.WakuMessageArchive:
    """Plaintext first (as status-go), then the hash-ratchet envelope. A failed decryption is
    an error (DecryptionError / NoGroupKeyError), never an empty archive."""
    raise NotImplementedError
