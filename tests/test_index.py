"""Archive indexes: IDs, encode/decode, status-go's encryption detection, validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from index_samples import COMMUNITY, PIECE, T1, codex_index, md, torrent_index

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import DecryptionError, MalformedIndexError, NoGroupKeyError
from archive_service.ids import keccak256
from archive_service.index import (
    AnyIndex,
    archive_id,
    check_entry,
    decode_index,
    encode_index,
    metadata_from_pb,
    metadata_to_pb,
)
from archive_service.store import Store
from archive_service.types import ArchiveMetadata
from archive_service.wire import enc_pb, pb


def decode_checked(
    cls: type[AnyIndex], data: bytes, community_id: bytes, crypto: HashRatchet | None
) -> AnyIndex:
    """What every backend's codec does first: decode (decrypting), then the common checks."""
    index = decode_index(cls, data, community_id, crypto, "sample")
    for key, entry in index.archives.items():
        check_entry(key, entry, "sample")
    return index


@pytest.fixture
def crypto(tmp_path: Path) -> Iterator[HashRatchet]:
    store = Store(tmp_path / "node.db")
    ratchet = HashRatchet(store)
    ratchet.generate_group_key(COMMUNITY)
    yield ratchet
    store.close()


def test_archive_id_is_keccak_of_entry() -> None:
    entry = pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(md(0)), offset=0, size=PIECE, padding=5
    )
    expected = "0x" + keccak256(entry.SerializeToString()).hex()
    assert archive_id(entry) == expected
    assert len(expected) == 66 and expected == expected.lower()
    # every hashed field changes the ID
    for change in ({"offset": PIECE}, {"size": 2 * PIECE}, {"padding": 6}):
        other = pb.WakuMessageArchiveIndexMetadata()
        other.CopyFrom(entry)
        for k, v in change.items():
            setattr(other, k, v)
        assert archive_id(other) != expected


def test_metadata_round_trip() -> None:
    assert metadata_from_pb(metadata_to_pb(md(4))) == md(4)
    empty = ArchiveMetadata(from_ts=1, to_ts=2, topics=())
    assert metadata_from_pb(metadata_to_pb(empty)) == empty


def test_encoding_is_deterministic_whatever_the_insertion_order() -> None:
    index = torrent_index(5)
    reversed_index = pb.WakuMessageArchiveIndex()
    for key in sorted(index.archives, reverse=True):
        reversed_index.archives[key].CopyFrom(index.archives[key])
    assert encode_index(index, COMMUNITY, None) == encode_index(reversed_index, COMMUNITY, None)


def test_empty_index_is_empty_bytes_and_decodes() -> None:
    data = encode_index(pb.WakuMessageArchiveIndex(), COMMUNITY, None)
    assert data == b""
    assert len(decode_checked(pb.WakuMessageArchiveIndex, data, COMMUNITY, None).archives) == 0


@pytest.mark.parametrize("kind", ["torrent", "codex"])
def test_encrypted_index_detected_and_decrypted(crypto: HashRatchet, kind: str) -> None:
    index = torrent_index() if kind == "torrent" else codex_index()
    data = encode_index(index, COMMUNITY, crypto)
    # what status-go sees first: a parse with no archives, so it decrypts
    assert len(type(index).FromString(data).archives) == 0
    assert enc_pb.ProtocolMessage.FromString(data).encrypted_message["none"].HR_header.seq_no >= 1
    assert decode_checked(type(index), data, COMMUNITY, crypto) == index


def test_encrypted_empty_index_round_trip(crypto: HashRatchet) -> None:
    data = encode_index(pb.CodexWakuMessageArchiveIndex(), COMMUNITY, crypto)
    assert len(data) > 0
    assert (
        len(decode_checked(pb.CodexWakuMessageArchiveIndex, data, COMMUNITY, crypto).archives) == 0
    )


def test_encrypted_index_without_crypto_or_key(crypto: HashRatchet, tmp_path: Path) -> None:
    data = encode_index(torrent_index(), COMMUNITY, crypto)
    with pytest.raises(DecryptionError, match="encrypted"):
        decode_checked(pb.WakuMessageArchiveIndex, data, COMMUNITY, None)
    other = Store(tmp_path / "member.db")
    try:
        with pytest.raises(NoGroupKeyError):
            decode_checked(pb.WakuMessageArchiveIndex, data, COMMUNITY, HashRatchet(other))
    finally:
        other.close()


def test_tampered_encrypted_index_is_an_error(crypto: HashRatchet) -> None:
    envelope = enc_pb.ProtocolMessage.FromString(encode_index(torrent_index(), COMMUNITY, crypto))
    part = envelope.encrypted_message["none"]
    part.payload = part.payload[:5] + bytes([part.payload[5] ^ 0x40]) + part.payload[6:]
    with pytest.raises(DecryptionError, match="authentication failed"):
        decode_checked(pb.WakuMessageArchiveIndex, envelope.SerializeToString(), COMMUNITY, crypto)


def test_entry_without_metadata_or_with_empty_window_rejected() -> None:
    index = pb.WakuMessageArchiveIndex()
    entry = pb.WakuMessageArchiveIndexMetadata(offset=0, size=PIECE, padding=1)
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="no metadata"):
        decode_checked(pb.WakuMessageArchiveIndex, index.SerializeToString(), COMMUNITY, None)

    index = pb.WakuMessageArchiveIndex()
    entry = pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(ArchiveMetadata(10, 10, (T1,))), size=PIECE, padding=1
    )
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="empty window"):
        decode_checked(pb.WakuMessageArchiveIndex, index.SerializeToString(), COMMUNITY, None)


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xff\xff",  # not protobuf
        b"\x0a\x10\x0a\x02",  # truncated map entry
        b"\x10\x01",  # parses with no archives, not an envelope
        enc_pb.ProtocolMessage(installation_id="x").SerializeToString(),  # envelope, no HR part
    ],
)
def test_garbage_rejected(data: bytes) -> None:
    with pytest.raises(MalformedIndexError):
        decode_checked(pb.WakuMessageArchiveIndex, data, COMMUNITY, None)
    with pytest.raises(MalformedIndexError):
        decode_checked(pb.CodexWakuMessageArchiveIndex, data, COMMUNITY, None)
