"""Pinned wire bytes: hand-built protobuf encodings that status-go's Go code would produce.

Varints are written out by hand (7-bit groups, least significant first, high bit = "more"):
  1577836800 (2020-01-01)        = 0x5E0BE100 -> 80 c2 af f0 05
  1578441600 (2020-01-08)        -> 80 b7 d4 f0 05
  1577840400 (2020-01-01 01:00)  -> 90 de af f0 05
  204800 -> 80 c0 0c     102400 -> 80 a0 06     101400 -> 98 98 06
  1700000000000 -> 80 d0 95 ff bc 31
A field key is (number << 3 | wire type): varint = 0, length-delimited = 2.
"""

from __future__ import annotations

import pytest

from archive_service.archives import encode_archive
from archive_service.ids import content_topic, keccak256, waku_message_hash
from archive_service.index import archive_id, metadata_to_pb
from archive_service.types import ArchiveMetadata, StoredMessage
from archive_service.wire import app_pb, pb
from archive_service.wire.parsing import parse, parse_or_none

FROM, TO = 1577836800, 1578441600
TOPICS = (bytes.fromhex("01020304"), bytes.fromhex("aabbccdd"))
METADATA = ArchiveMetadata(from_ts=FROM, to_ts=TO, topics=TOPICS)

# WakuMessageArchiveMetadata{version=0 (omitted), from=2, to=3, contentTopic=4 (repeated)}
METADATA_BYTES = bytes.fromhex(
    "10" "80c2aff005"  # from
    "18" "80b7d4f005"  # to
    "22" "04" "01020304"  # contentTopic[0]
    "22" "04" "aabbccdd"  # contentTopic[1]
)  # fmt: skip
assert len(METADATA_BYTES) == 0x18

# WakuMessageArchiveIndexMetadata{metadata=2, offset=3, size=4, padding=5}
TORRENT_ENTRY_BYTES = (
    bytes.fromhex("12" "18")
    + METADATA_BYTES
    + bytes.fromhex("18" "80c00c" "20" "80a006" "28" "989806")
)  # fmt: skip
# CodexWakuMessageArchiveIndexMetadata{metadata=2, cid=3}
CID = "zDvZRwzmAbc"
CODEX_ENTRY_BYTES = (
    bytes.fromhex("12" "18") + METADATA_BYTES + bytes.fromhex("1a" "0b") + b"zDvZRwzmAbc"
)  # fmt: skip

TORRENT_ID = "0x2587949e1f3ad08fa47a5598b00329c40758a03518585345ffabdb15450cad45"
CODEX_ID = "0x949bef6145b8d48820b8be5ea7a3d365d7304ea6f33cd9a1b371ee51820d6ac1"


def test_keccak_is_legacy_keccak_not_sha3() -> None:
    # Ethereum's Keccak-256 of "" (SHA3-256 of "" is a7ffc6f8…).
    assert (
        keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_waku_message_hash_matches_the_rfc_vectors() -> None:
    # 14/WAKU2-MESSAGE's test vectors (as in nwaku's and js-waku's tests)
    payload, ts = bytes.fromhex("010203045445535405060708"), 0x175789BFA23F8400
    args = ("/waku/2/default-waku/proto", payload, "/waku/2/default-content/proto", ts)
    assert waku_message_hash(*args).hex() == (
        "a2554498b31f5bcdfcbf7fa58ad1c2d45f0254f3f8110a85588ec3cf10720fd8"
    )
    assert waku_message_hash(*args, meta=b"super-secret").hex() == (
        "64cce733fed134e83da02b02c6f689814872b1a0ac97ea56b76095c3c72bfe05"
    )


def test_content_topic_name() -> None:
    assert content_topic(bytes.fromhex("9a1c3f70")) == "/waku/1/0x9a1c3f70/rfc26"


def test_metadata_bytes() -> None:
    assert metadata_to_pb(METADATA).SerializeToString() == METADATA_BYTES


def test_archive_bytes_with_one_message() -> None:
    # status-go upstream test message: Sig=[1], Payload=[1], Padding=[1], Hash=[n]
    msg = StoredMessage(
        sig=b"\x01",
        timestamp=1577840400,
        topic=TOPICS[0],
        payload=b"\x01",
        padding=b"\x01",
        hash=b"\x02",
    )
    message_bytes = bytes.fromhex(
        "0a" "01" "01"  # sig
        "10" "90deaff005"  # timestamp
        "1a" "04" "01020304"  # topic
        "22" "01" "01"  # payload
        "2a" "01" "01"  # padding
        "32" "01" "02"  # hash; thirdPartyId "" omitted
    )  # fmt: skip
    expected = (
        bytes.fromhex("12" "18") + METADATA_BYTES + bytes.fromhex("1a" "18") + message_bytes
    )  # fmt: skip
    assert encode_archive(METADATA, [msg]) == expected
    parsed = pb.WakuMessageArchive.FromString(expected)
    assert parsed.messages[0].timestamp == 1577840400
    assert getattr(parsed.metadata, "from") == FROM


def test_torrent_entry_bytes_and_archive_id() -> None:
    entry = pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(METADATA), offset=204800, size=102400, padding=101400
    )
    assert entry.SerializeToString() == TORRENT_ENTRY_BYTES
    assert archive_id(entry) == "0x" + keccak256(TORRENT_ENTRY_BYTES).hex() == TORRENT_ID


def test_codex_entry_bytes_and_archive_id() -> None:
    entry = pb.CodexWakuMessageArchiveIndexMetadata(metadata=metadata_to_pb(METADATA), cid=CID)
    assert entry.SerializeToString() == CODEX_ENTRY_BYTES
    assert archive_id(entry) == "0x" + keccak256(CODEX_ENTRY_BYTES).hex() == CODEX_ID


def test_version_zero_is_omitted_and_changes_the_id_when_set() -> None:
    entry = pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(METADATA), offset=204800, size=102400, padding=101400
    )
    entry.version = 1
    assert entry.SerializeToString() == b"\x08\x01" + TORRENT_ENTRY_BYTES
    assert archive_id(entry) != TORRENT_ID


def test_archive_link_bytes() -> None:
    link = "magnet:?xt=urn:btih:0123"
    expected = bytes.fromhex("08" "80d095ffbc31" "12" "18") + link.encode()  # fmt: skip
    assert len(link) == 0x18
    message = pb.CommunityMessageArchiveLink(clock=1700000000000, archive_link=link)
    assert message.SerializeToString() == expected


def test_application_metadata_type_43() -> None:
    assert app_pb.ApplicationMetadataMessage.COMMUNITY_MESSAGE_ARCHIVE_LINK == 43
    envelope = app_pb.ApplicationMetadataMessage(
        signature=b"\x05" * 65, payload=b"\x08\x01", type=43
    )
    # signature=1, payload=2, type=3 (varint 43 = 0x2b)
    assert envelope.SerializeToString() == (
        b"\x0a\x41" + b"\x05" * 65 + b"\x12\x02\x08\x01" + b"\x18\x2b"
    )


def test_parse_decodes_or_raises_the_callers_error_with_protobufs_reason() -> None:
    assert parse(pb.WakuMessageArchiveMetadata, METADATA_BYTES, ValueError) == metadata_to_pb(
        METADATA
    )
    truncated = METADATA_BYTES[:-1]
    with pytest.raises(KeyError, match="Error parsing message"):
        parse(pb.WakuMessageArchiveMetadata, truncated, KeyError)
    assert parse_or_none(pb.WakuMessageArchiveMetadata, truncated) is None
    assert parse_or_none(pb.WakuMessageArchiveMetadata, METADATA_BYTES) == metadata_to_pb(METADATA)
