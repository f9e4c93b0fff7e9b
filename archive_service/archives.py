"""Pure, streaming archive building (reference §4): messages -> [from,to) windows -> size
chunks -> WakuMessageArchive bytes -> optional hash-ratchet encryption.

Archives are framed by hand instead of building a `pb.WakuMessageArchive` of every message:
protobuf's wire format is simple enough that emitting it directly is byte-identical (proto3,
fields in ascending order, defaults omitted) and avoids holding a second copy of every message
in upb objects. Tests compare the output with `pb.WakuMessageArchive(...).SerializeToString()`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from archive_service.crypto.hashratchet import NO_INSTALLATION, HashRatchet, is_hash_ratchet_message
from archive_service.errors import (
    ArchiveRangeError,
    DecryptionError,
    InvalidInputError,
    MalformedArchiveError,
)
from archive_service.ids import TOPIC_LEN
from archive_service.index import metadata_to_pb
from archive_service.types import ArchiveMetadata, BuiltArchive, StoredMessage
from archive_service.varint import encode as encode_varint
from archive_service.wire import pb
from archive_service.wire.parsing import parse, parse_or_none

MAX_ARCHIVE_SIZE = (
    30_000_000  # bytes of payload + sig per archive (status-go maxArchiveSizeInBytes)
)
# Windows one run may walk: ~1,900 years of weekly windows, ~11 years of hourly ones. Each
# window is a store query, so an unbounded range (`--to 2**63`) would run for ever.
MAX_PARTITIONS = 100_000


# (topics, from_ts, to_ts) -> messages with from_ts <= timestamp < to_ts on those topics,
# ordered by timestamp.
MessageSource = Callable[[Sequence[bytes], int, int], Iterable[StoredMessage]]


@dataclass
class BuildReport:
    archives: int = 0
    messages: int = 0
    dropped_oversize: int = 0
    bytes: int = 0


# --- protobuf framing ---------------------------------------------------------------------

# Field keys (field_number << 3 | wire_type) of WakuMessage and WakuMessageArchive.
_SIG, _TIMESTAMP, _TOPIC, _PAYLOAD, _PADDING, _HASH, _THIRD_PARTY = (
    b"\x0a",
    b"\x10",
    b"\x1a",
    b"\x22",
    b"\x2a",
    b"\x32",
    b"\x3a",
)
_ARCHIVE_METADATA, _ARCHIVE_MESSAGE = b"\x12", b"\x1a"
_MAX_UINT64 = (1 << 64) - 1


def _encode_message(msg: StoredMessage) -> bytes:
    """One WakuMessage, framed as field 3 of WakuMessageArchive."""
    sig, timestamp, topic, payload, padding, hash_, third_party_id = msg
    body: list[bytes] = []
    if sig:
        body += (_SIG, encode_varint(len(sig)), sig)
    if timestamp:
        body += (_TIMESTAMP, encode_varint(timestamp))
    if topic:
        body += (_TOPIC, encode_varint(len(topic)), topic)
    if payload:
        body += (_PAYLOAD, encode_varint(len(payload)), payload)
    if padding:
        body += (_PADDING, encode_varint(len(padding)), padding)
    if hash_:
        body += (_HASH, encode_varint(len(hash_)), hash_)
    if third_party_id:
        text = third_party_id.encode()
        body += (_THIRD_PARTY, encode_varint(len(text)), text)
    encoded = b"".join(body)
    return b"".join((_ARCHIVE_MESSAGE, encode_varint(len(encoded)), encoded))


def _encode_metadata(metadata: ArchiveMetadata) -> bytes:
    """WakuMessageArchiveMetadata framed as field 2 of WakuMessageArchive (once per archive,
    so upb does it)."""
    encoded = metadata_to_pb(metadata).SerializeToString()
    return b"".join((_ARCHIVE_METADATA, encode_varint(len(encoded)), encoded))


def _check_topics(topics: Sequence[bytes]) -> tuple[bytes, ...]:
    result = tuple(bytes(t) for t in topics)
    for topic in result:
        if len(topic) != TOPIC_LEN:
            raise InvalidInputError(
                f"content topic 0x{topic.hex()} is {len(topic)} bytes; topics are 4 bytes "
                "(status-go TopicType)"
            )
    return result


# --- partitions and sources ----------------------------------------------------------------


def partitions(start: int, end: int, partition: int) -> Iterator[tuple[int, int]]:
    """Half-open windows [from, to) with to = min(from + partition, end), from start to end;
    at most MAX_PARTITIONS of them (ArchiveRangeError beyond)."""
    if partition <= 0:
        raise InvalidInputError(f"partition must be a positive number of seconds, not {partition}")
    if start < 0:
        raise InvalidInputError(f"start must be a unix time in seconds >= 0, not {start}")
    count = -(-(end - start) // partition) if end > start else 0
    if count > MAX_PARTITIONS:
        raise ArchiveRangeError(
            f"[{start}, {end}) spans {count:,} windows of {partition} s, over the "
            f"{MAX_PARTITIONS:,}-window limit of one run; archive a shorter range"
        )
    return _windows(start, end, partition)  # arguments checked now, windows made lazily


def check_archive_range(
    start: int, end: int, *, first_message: int, now: int, interval: int
) -> None:
    """Refuse [start, end) unless it can hold messages of this history: it must not begin
    before the first message (windows there are empty, and a far-off start would walk windows
    for ever) nor end after now plus one interval (no message exists there yet). Raises
    ArchiveRangeError with the bound that was crossed."""
    if start >= end:
        raise ArchiveRangeError(f"nothing to archive: start {start} is not before end {end}")
    if start < first_message:
        raise ArchiveRangeError(
            f"start {start} is before the first message ({first_message}); pass a later "
            "--from, or none to start at the last archive's end"
        )
    latest = now + interval
    if end > latest:
        raise ArchiveRangeError(
            f"end {end} is after now plus one archive interval ({latest} = {now} + {interval}); "
            "pass an earlier --to, or none to archive until now"
        )


def _windows(start: int, end: int, partition: int) -> Iterator[tuple[int, int]]:
    from_ts = start
    while from_ts < end:
        to_ts = min(from_ts + partition, end)
        yield from_ts, to_ts
        from_ts = to_ts


def messages_from_list(messages: Iterable[StoredMessage]) -> MessageSource:
    """A MessageSource over an in-memory list (status-go's *FromMessages variant)."""
    # Sorted once (stable, so equal timestamps keep their list order); windows use bisect.
    ordered = sorted(messages, key=lambda m: m.timestamp)
    stamps = [m.timestamp for m in ordered]

    def source(topics: Sequence[bytes], from_ts: int, to_ts: int) -> Iterator[StoredMessage]:
        wanted = {bytes(t) for t in topics}
        lo = bisect.bisect_left(stamps, from_ts)
        hi = bisect.bisect_left(stamps, to_ts)
        return (m for m in ordered[lo:hi] if m.topic in wanted)

    return source


# --- building -----------------------------------------------------------------------------


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
    max_size: int = MAX_ARCHIVE_SIZE,
) -> Iterator[BuiltArchive]:
    """Yield archives window by window, holding at most one archive in memory. Empty windows
    and empty chunks are skipped; messages over MAX_ARCHIVE_SIZE are dropped and reported.
    `max_size` exists for property tests at small sizes; status-go always uses the default."""
    if max_size <= 0:
        raise InvalidInputError(f"max_size must be positive, not {max_size}")
    # Validate eagerly, so bad arguments fail at the call and not at the first next().
    windows = partitions(start, end, partition)
    topic_tuple = _check_topics(topics)
    return _build(
        source,
        topic_tuple,
        windows,
        encrypt,
        report if report is not None else BuildReport(),
        on_dropped,
        max_size,
    )


def _build(
    source: MessageSource,
    topics: tuple[bytes, ...],
    windows: Iterator[tuple[int, int]],
    encrypt: Callable[[bytes], bytes] | None,
    report: BuildReport,
    on_dropped: Callable[[ArchiveMetadata, int], None] | None,
    max_size: int,
) -> Iterator[BuiltArchive]:
    for from_ts, to_ts in windows:
        metadata = ArchiveMetadata(from_ts=from_ts, to_ts=to_ts, topics=topics)
        chunk: list[bytes] = []  # encoded messages; emptied by _finish
        chunk_size = 0  # payload + sig bytes in `chunk`
        dropped = 0
        for msg in source(topics, from_ts, to_ts):
            if not from_ts <= msg.timestamp < to_ts:
                # A broken source would otherwise put a message into two archives.
                raise ValueError(
                    f"message source returned timestamp {msg.timestamp} outside the window "
                    f"[{from_ts}, {to_ts})"
                )
            size = len(msg.payload) + len(msg.sig)
            if size > max_size:
                dropped += 1
                continue
            if chunk_size + size > max_size:
                yield _finish(metadata, chunk, encrypt, report)
                chunk_size = 0
            chunk.append(_encode_message(msg))
            chunk_size += size
        if chunk:
            yield _finish(metadata, chunk, encrypt, report)
        if dropped:
            report.dropped_oversize += dropped
            if on_dropped is not None:
                on_dropped(metadata, dropped)


def _finish(
    metadata: ArchiveMetadata,
    encoded_messages: list[bytes],
    encrypt: Callable[[bytes], bytes] | None,
    report: BuildReport,
) -> BuiltArchive:
    count = len(encoded_messages)
    data = b"".join((_encode_metadata(metadata), *encoded_messages))
    # Free the parts now: while the caller holds this archive, only its bytes stay alive.
    encoded_messages.clear()
    if encrypt is not None:
        data = encrypt(data)
    report.archives += 1
    report.messages += count
    report.bytes += len(data)
    return BuiltArchive(
        metadata=metadata, data=data, message_count=count, encrypted=encrypt is not None
    )


def encode_archive(metadata: ArchiveMetadata, messages: Iterable[StoredMessage]) -> bytes:
    """Marshal a WakuMessageArchive byte-identically to status-go (version left 0)."""
    parts = [_encode_metadata(metadata)]
    for msg in messages:
        if not 0 <= msg.timestamp <= _MAX_UINT64:
            raise InvalidInputError(f"message timestamp {msg.timestamp} is not a uint64")
        parts.append(_encode_message(msg))
    return b"".join(parts)


# --- reading ------------------------------------------------------------------------------


def decode_archive(
    data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> pb.WakuMessageArchive:
    """Plaintext first (as status-go), then the hash-ratchet envelope. A failed decryption is
    an error (DecryptionError / NoGroupKeyError), never an empty archive."""
    parsed = parse_or_none(pb.WakuMessageArchive, data)
    # §11.16: a ProtocolMessage may parse as an archive (its field 2 read as metadata, field
    # 101 skipped as unknown). Such a parse never has messages, and a real archive never has
    # an HR envelope, so an empty parse that is also an envelope is treated as encrypted.
    installation = crypto.installation_id if crypto is not None else NO_INSTALLATION
    if parsed is not None and (
        len(parsed.messages) > 0 or not is_hash_ratchet_message(data, installation)
    ):
        return _checked(parsed, len(data), encrypted=False)

    if not is_hash_ratchet_message(data, installation):
        raise MalformedArchiveError(
            f"{len(data)} bytes are neither a WakuMessageArchive nor a hash-ratchet "
            "ProtocolMessage; the archive is corrupt or the index points at the wrong bytes"
        )
    if crypto is None:
        raise DecryptionError(
            "the archive is encrypted (hash-ratchet ProtocolMessage) but no key store was "
            "given to decrypt it"
        )
    plain = crypto.decrypt(community_id, data)
    archive = parse(
        pb.WakuMessageArchive,
        plain,
        lambda reason: MalformedArchiveError(
            f"decrypted {len(plain)} bytes are not a WakuMessageArchive ({reason}); the owner "
            "published a corrupt archive"
        ),
    )
    return _checked(archive, len(plain), encrypted=True)


def _checked(
    archive: pb.WakuMessageArchive, size: int, *, encrypted: bool
) -> pb.WakuMessageArchive:
    # Every archive status-go writes has metadata (its window); bytes without it are not one.
    if not archive.HasField("metadata"):
        what = "decrypted archive" if encrypted else "archive"
        raise MalformedArchiveError(
            f"{what} of {size} bytes has no metadata (window and topics); it is not a "
            "WakuMessageArchive"
        )
    return archive
