"""The archive builder (reference §4, §10 upstream cases, §11.15/16 bugs not copied)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_service.archives import (
    MAX_ARCHIVE_SIZE,
    BuildReport,
    build_archives,
    decode_archive,
    encode_archive,
    messages_from_list,
    partitions,
)
from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import (
    DecryptionError,
    InvalidInputError,
    MalformedArchiveError,
    NoGroupKeyError,
)
from archive_service.store import Store
from archive_service.types import ArchiveMetadata, StoredMessage
from archive_service.wire import enc_pb, pb

T1, T2, T_OTHER = b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", b"\xee\xee\xee\xee"
DAY = 86400
WEEK = 7 * DAY
COMMUNITY = bytes.fromhex("02" + "11" * 32)


def ts(y: int, m: int, d: int, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=UTC).timestamp())


def msg(
    timestamp: int,
    n: int,
    topic: bytes = T1,
    payload: bytes = b"\x01",
    sig: bytes = b"\x01",
    third_party_id: str = "",
) -> StoredMessage:
    # status-go's upstream test messages: Sig=[1], Payload=[1], Padding=[1], Hash=[n]
    return StoredMessage(
        sig=sig,
        timestamp=timestamp,
        topic=topic,
        payload=payload,
        padding=b"\x01",
        hash=n.to_bytes(4, "big"),
        third_party_id=third_party_id,
    )


def reference_encoding(metadata: ArchiveMetadata, messages: Sequence[StoredMessage]) -> bytes:
    """What status-go's proto.Marshal gives, through the protobuf library."""
    archive = pb.WakuMessageArchive()
    md = archive.metadata
    setattr(md, "from", metadata.from_ts)
    md.to = metadata.to_ts
    md.contentTopic.extend(metadata.topics)
    archive.messages.extend(m.to_pb() for m in messages)
    return archive.SerializeToString()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "node.db") as s:
        yield s


# --- partitions ----------------------------------------------------------------------------


def test_partitions_half_open_and_truncated_at_end() -> None:
    assert list(partitions(0, 25, 10)) == [(0, 10), (10, 20), (20, 25)]
    assert list(partitions(5, 5, 10)) == []
    assert list(partitions(0, 10, 10)) == [(0, 10)]


@pytest.mark.parametrize(("start", "partition"), [(0, 0), (0, -7), (-1, 10)])
def test_partitions_reject_bad_arguments(start: int, partition: int) -> None:
    with pytest.raises(InvalidInputError):
        partitions(start, 100, partition)


def test_messages_from_list_filters_window_and_topic_and_sorts() -> None:
    messages = [msg(30, 1), msg(10, 2), msg(20, 3, topic=T_OTHER), msg(19, 4, topic=T2), msg(40, 5)]
    source = messages_from_list(messages)
    got = list(source([T1, T2], 10, 40))
    assert [m.hash[-1] for m in got] == [2, 4, 1]
    assert list(source([T2], 0, 100)) == [messages[3]]


# --- status-go upstream cases (§10) --------------------------------------------------------


def test_upstream_one_archive_with_two_messages() -> None:
    start, end = ts(2020, 1, 1), ts(2020, 1, 7)
    messages = [
        msg(start + 3600, 1),
        msg(start + 7200, 2),
        msg(ts(2020, 1, 8), 3),  # outside the range
    ]
    archives = list(build_archives(messages_from_list(messages), [T1], start, end, WEEK))
    assert len(archives) == 1
    a = archives[0]
    assert a.message_count == 2
    assert a.encrypted is False
    assert a.metadata == ArchiveMetadata(from_ts=start, to_ts=end, topics=(T1,))
    decoded = decode_archive(a.data, COMMUNITY, None)
    assert [m.hash for m in decoded.messages] == [messages[0].hash, messages[1].hash]
    assert (getattr(decoded.metadata, "from"), decoded.metadata.to) == (start, end)
    assert list(decoded.metadata.contentTopic) == [T1]
    assert decoded.metadata.version == 0 and decoded.version == 0


def test_upstream_three_archives_with_two_one_one() -> None:
    start, end = ts(2020, 1, 1), ts(2020, 1, 21)
    messages = [
        msg(start + 3600, 1),
        msg(start + 7200, 2),
        msg(ts(2020, 1, 8, 1), 3),
        msg(ts(2020, 1, 16, 1), 4),
        msg(ts(2020, 1, 22), 5),  # after the end
    ]
    archives = list(build_archives(messages_from_list(messages), [T1], start, end, WEEK))
    assert [(a.metadata.from_ts, a.message_count) for a in archives] == [
        (start, 2),
        (start + WEEK, 1),
        (start + 2 * WEEK, 1),
    ]
    assert archives[-1].metadata.to_ts == end  # the last window is truncated at the end


def test_no_messages_no_archives() -> None:
    report = BuildReport()
    archives = list(build_archives(messages_from_list([]), [T1], 0, 10 * WEEK, WEEK, report=report))
    assert archives == []
    assert report == BuildReport()


def test_empty_windows_are_skipped() -> None:
    messages = [msg(5, 1), msg(35, 2)]
    archives = list(build_archives(messages_from_list(messages), [T1], 0, 40, 10))
    assert [(a.metadata.from_ts, a.metadata.to_ts) for a in archives] == [(0, 10), (30, 40)]


def test_metadata_lists_every_requested_topic() -> None:
    messages = [msg(5, 1, topic=T2)]
    (archive,) = build_archives(messages_from_list(messages), [T1, T2, T_OTHER], 0, 10, 10)
    decoded = decode_archive(archive.data, COMMUNITY, None)
    assert list(decoded.metadata.contentTopic) == [T1, T2, T_OTHER]


def test_topic_of_wrong_length_rejected() -> None:
    with pytest.raises(InvalidInputError, match="4 bytes"):
        build_archives(messages_from_list([]), [b"\x01\x02\x03"], 0, 10, 10)


def test_source_out_of_window_is_an_error() -> None:
    def broken(topics: Sequence[bytes], from_ts: int, to_ts: int) -> list[StoredMessage]:
        return [msg(to_ts, 1)]

    with pytest.raises(ValueError, match="outside the window"):
        list(build_archives(broken, [T1], 0, 10, 10))


# --- size cap ------------------------------------------------------------------------------


def test_oversize_message_dropped_and_reported() -> None:
    big = msg(5, 1, payload=bytes(MAX_ARCHIVE_SIZE), sig=b"\x01")  # one byte over
    small = msg(6, 2)
    report = BuildReport()
    calls: list[tuple[ArchiveMetadata, int]] = []
    archives = list(
        build_archives(
            messages_from_list([big, small]),
            [T1],
            0,
            10,
            10,
            report=report,
            on_dropped=lambda md, n: calls.append((md, n)),
        )
    )
    assert len(archives) == 1 and archives[0].message_count == 1
    assert report.dropped_oversize == 1
    assert report.messages == 1 and report.archives == 1
    assert report.bytes == len(archives[0].data)
    assert calls == [(ArchiveMetadata(0, 10, (T1,)), 1)]


def test_window_of_only_oversize_messages_yields_no_empty_archive() -> None:
    # status-go V0 and V3 torrent emit an empty archive here (§11.15); we do not.
    big = msg(5, 1, payload=bytes(MAX_ARCHIVE_SIZE + 1), sig=b"")
    report = BuildReport()
    archives = list(build_archives(messages_from_list([big]), [T1], 0, 10, 10, report=report))
    assert archives == []
    assert report.dropped_oversize == 1


def test_cap_boundary_exactly_30_000_000() -> None:
    # A message of exactly the cap is kept; two that sum to exactly the cap share an archive.
    exact = msg(1, 1, payload=bytes(MAX_ARCHIVE_SIZE - 65), sig=bytes(65))
    half_a = msg(2, 2, payload=bytes(MAX_ARCHIVE_SIZE // 2 - 1), sig=b"\x01")
    half_b = msg(3, 3, payload=bytes(MAX_ARCHIVE_SIZE // 2 - 1), sig=b"\x01")
    one_more = msg(4, 4, payload=b"\x01", sig=b"")
    report = BuildReport()
    archives = list(
        build_archives(
            messages_from_list([exact, half_a, half_b, one_more]), [T1], 0, 10, 10, report=report
        )
    )
    assert [a.message_count for a in archives] == [1, 2, 1]
    assert report.dropped_oversize == 0
    decoded = [decode_archive(a.data, COMMUNITY, None) for a in archives]
    sizes = [sum(len(m.payload) + len(m.sig) for m in d.messages) for d in decoded]
    assert sizes == [MAX_ARCHIVE_SIZE, MAX_ARCHIVE_SIZE, 1]


def test_streaming_pulls_one_window_at_a_time() -> None:
    pulled: list[tuple[int, int]] = []
    inner = messages_from_list([msg(1, 1), msg(11, 2), msg(21, 3)])

    def source(topics: Sequence[bytes], from_ts: int, to_ts: int) -> Iterator[StoredMessage]:
        pulled.append((from_ts, to_ts))
        yield from inner(topics, from_ts, to_ts)

    built = build_archives(source, [T1], 0, 30, 10)
    assert pulled == []  # nothing is read before the first archive is asked for
    first = next(built)
    assert first.metadata.from_ts == 0
    assert pulled == [(0, 10)]
    assert [a.metadata.from_ts for a in built] == [10, 20]


# --- encoding ------------------------------------------------------------------------------

_blobs = st.binary(max_size=40)
_messages = st.builds(
    StoredMessage,
    sig=_blobs,
    timestamp=st.integers(0, 2**64 - 1),
    topic=st.sampled_from([T1, T2, b""]),
    payload=st.binary(max_size=300),
    padding=_blobs,
    hash=_blobs,
    third_party_id=st.text(max_size=12),
)


@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 2**64 - 1),
    st.lists(st.sampled_from([T1, T2, T_OTHER]), max_size=3),
    st.lists(_messages, max_size=8),
)
def test_encode_archive_is_byte_identical_to_protobuf(
    from_ts: int, to_ts: int, topics: list[bytes], messages: list[StoredMessage]
) -> None:
    metadata = ArchiveMetadata(from_ts=from_ts, to_ts=to_ts, topics=tuple(topics))
    assert encode_archive(metadata, messages) == reference_encoding(metadata, messages)


@given(_messages)
def test_stored_message_to_pb_and_back_keeps_every_field(message: StoredMessage) -> None:
    assert StoredMessage.from_pb(message.to_pb()) == message


def test_large_lengths_use_multibyte_varints() -> None:
    metadata = ArchiveMetadata(from_ts=1, to_ts=2, topics=(T1,))
    messages = [msg(1, 1, payload=bytes(20_000), sig=bytes(70_000))]
    assert encode_archive(metadata, messages) == reference_encoding(metadata, messages)


def test_timestamps_at_every_varint_length_boundary() -> None:
    # the encoder takes 14 bits per table lookup: check both sides of every 7-bit boundary
    stamps = sorted({max(0, (1 << b) + d) for b in range(0, 64, 7) for d in (-1, 0, 1)})
    stamps += [1_704_067_200, 2**64 - 1]
    metadata = ArchiveMetadata(from_ts=0, to_ts=2**64 - 1, topics=(T1,))
    messages = [msg(ts, i) for i, ts in enumerate(stamps)]
    assert encode_archive(metadata, messages) == reference_encoding(metadata, messages)


def test_built_archive_bytes_equal_protobuf_of_the_same_chunk() -> None:
    messages = [msg(i, i, payload=bytes([i]) * i, third_party_id="d" * (i % 3)) for i in range(50)]
    (archive,) = build_archives(messages_from_list(messages), [T1, T2], 0, 50, 100)
    assert archive.data == reference_encoding(ArchiveMetadata(0, 50, (T1, T2)), messages)


# --- properties ----------------------------------------------------------------------------

_stored = st.builds(
    StoredMessage,
    sig=st.binary(max_size=8),
    timestamp=st.integers(0, 1300),
    topic=st.sampled_from([T1, T2, T_OTHER]),
    payload=st.binary(max_size=60),
    padding=st.binary(max_size=4),
    hash=st.just(b""),  # replaced by a unique index below
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(_stored, max_size=60),
    start=st.integers(0, 500),
    length=st.integers(0, 700),
    partition=st.integers(1, 300),
    cap=st.integers(1, 120),
)
def test_builder_properties(
    messages: list[StoredMessage], start: int, length: int, partition: int, cap: int
) -> None:
    messages = [m._replace(hash=i.to_bytes(2, "big")) for i, m in enumerate(messages)]
    end = start + length
    topics = [T1, T2]
    report = BuildReport()
    dropped_calls: list[int] = []
    archives = list(
        build_archives(
            messages_from_list(messages),
            topics,
            start,
            end,
            partition,
            report=report,
            on_dropped=lambda md, n: dropped_calls.append(n),
            max_size=cap,
        )
    )
    in_range = [m for m in messages if start <= m.timestamp < end and m.topic in topics]
    expected = [m for m in in_range if len(m.payload) + len(m.sig) <= cap]
    by_hash = {m.hash: m for m in messages}

    seen: Counter[bytes] = Counter()
    windows = set(partitions(start, end, partition))
    previous: tuple[int, int] | None = None
    previous_chunk: list[pb.WakuMessage] = []
    for archive in archives:
        md = archive.metadata
        window = (md.from_ts, md.to_ts)
        # windows are aligned partitions, in order, each chunk in its window
        assert window in windows
        assert (md.from_ts - start) % partition == 0
        assert md.topics == (T1, T2)
        assert previous is None or window >= previous
        decoded = decode_archive(archive.data, COMMUNITY, None)
        assert (getattr(decoded.metadata, "from"), decoded.metadata.to) == window
        assert len(decoded.messages) == archive.message_count >= 1
        chunk_size = sum(len(m.payload) + len(m.sig) for m in decoded.messages)
        assert chunk_size <= cap
        if window == previous:
            # greedy: a new chunk starts only when the next message did not fit
            prev_size = sum(len(m.payload) + len(m.sig) for m in previous_chunk)
            first = decoded.messages[0]
            assert prev_size + len(first.payload) + len(first.sig) > cap
        for m in decoded.messages:
            assert md.from_ts <= m.timestamp < md.to_ts
            original = by_hash[m.hash]
            # plaintext round trip of every field
            assert (m.sig, m.timestamp, m.topic, m.payload, m.padding) == (
                original.sig,
                original.timestamp,
                original.topic,
                original.payload,
                original.padding,
            )
            seen[m.hash] += 1
        # within a window messages keep timestamp order
        stamps = [m.timestamp for m in decoded.messages]
        assert stamps == sorted(stamps)
        previous, previous_chunk = window, list(decoded.messages)

    assert seen == Counter(m.hash for m in expected)  # each exactly once
    assert report.dropped_oversize == len(in_range) - len(expected) == sum(dropped_calls)
    assert report.archives == len(archives)
    assert report.messages == len(expected)


# --- encryption and decoding ---------------------------------------------------------------


def test_encrypted_build_round_trip(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(COMMUNITY)
    messages = [msg(1, 1), msg(2, 2, topic=T2)]
    (archive,) = build_archives(
        messages_from_list(messages),
        [T1, T2],
        0,
        10,
        10,
        encrypt=lambda data: crypto.encrypt(COMMUNITY, data),
    )
    assert archive.encrypted is True
    plain = reference_encoding(ArchiveMetadata(0, 10, (T1, T2)), messages)
    assert plain not in archive.data  # really encrypted, not wrapped
    decoded = decode_archive(archive.data, COMMUNITY, crypto)
    assert decoded.SerializeToString() == plain


def test_encrypted_archive_without_crypto_is_an_error(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(COMMUNITY)
    data = crypto.encrypt(COMMUNITY, encode_archive(ArchiveMetadata(0, 10, (T1,)), [msg(1, 1)]))
    with pytest.raises(DecryptionError, match="encrypted"):
        decode_archive(data, COMMUNITY, None)


def test_encrypted_archive_with_unknown_key_is_no_group_key(tmp_path: Path) -> None:
    owner_store, member_store = Store(tmp_path / "o.db"), Store(tmp_path / "m.db")
    try:
        owner = HashRatchet(owner_store)
        owner.generate_group_key(COMMUNITY)
        data = owner.encrypt(COMMUNITY, encode_archive(ArchiveMetadata(0, 10, (T1,)), []))
        with pytest.raises(NoGroupKeyError):
            decode_archive(data, COMMUNITY, HashRatchet(member_store))
    finally:
        owner_store.close()
        member_store.close()


@pytest.mark.parametrize("installation_id", ["", "0000", "0a0b0c0d"])
def test_encrypted_archive_that_parses_as_plaintext_is_decrypted(
    store: Store, installation_id: str
) -> None:
    """§11.16: these ProtocolMessages are also valid WakuMessageArchive bytes (field 2 read as
    metadata, field 101 unknown); status-go would import them as an empty plaintext archive."""
    crypto = HashRatchet(store, installation_id=installation_id)
    crypto.generate_group_key(COMMUNITY)
    plain = encode_archive(ArchiveMetadata(0, 10, (T1,)), [msg(1, 1), msg(2, 2)])
    data = crypto.encrypt(COMMUNITY, plain)
    as_plaintext = pb.WakuMessageArchive.FromString(data)  # the collision is real
    assert len(as_plaintext.messages) == 0
    decoded = decode_archive(data, COMMUNITY, crypto)
    assert len(decoded.messages) == 2
    assert decoded.SerializeToString() == plain


def test_tampered_encrypted_archive_is_an_error_not_empty(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(COMMUNITY)
    data = crypto.encrypt(COMMUNITY, encode_archive(ArchiveMetadata(0, 10, (T1,)), [msg(1, 1)]))
    envelope = enc_pb.ProtocolMessage.FromString(data)
    part = envelope.encrypted_message["none"]
    part.payload = bytes([part.payload[0] ^ 1]) + part.payload[1:]
    with pytest.raises(DecryptionError):
        decode_archive(envelope.SerializeToString(), COMMUNITY, crypto)


def test_empty_plaintext_archive_from_status_go_is_accepted() -> None:
    # V0 may publish an archive with metadata and no messages (§11.15): readable, not an error.
    data = encode_archive(ArchiveMetadata(100, 200, (T1,)), [])
    decoded = decode_archive(data, COMMUNITY, None)
    assert len(decoded.messages) == 0
    assert decoded.metadata.to == 200


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"\x08\x01",  # a varint field, no metadata
        b"\xff\xff\xff",  # not protobuf
        b"\x1a\x05\x0a\x09",  # truncated message
        enc_pb.ProtocolMessage(installation_id="x").SerializeToString(),  # no HR part
    ],
)
def test_malformed_archives_rejected(data: bytes) -> None:
    with pytest.raises(MalformedArchiveError):
        decode_archive(data, COMMUNITY, None)


def test_decrypted_garbage_is_malformed(store: Store) -> None:
    crypto = HashRatchet(store)
    crypto.generate_group_key(COMMUNITY)
    data = crypto.encrypt(COMMUNITY, b"\xff\xff\xff not an archive")
    with pytest.raises(MalformedArchiveError, match="decrypted"):
        decode_archive(data, COMMUNITY, crypto)
