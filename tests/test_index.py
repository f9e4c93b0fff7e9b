"""Archive indexes: IDs, encode/decode, status-go's encryption detection, validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from archive_service_codex.index import codex_entries, decode_codex_index
from archive_service_torrent.index import decode_torrent_index, torrent_entries

from archive_service.crypto.hashratchet import HashRatchet
from archive_service.errors import DecryptionError, MalformedIndexError, NoGroupKeyError
from archive_service.ids import keccak256
from archive_service.index import archive_id, encode_index, metadata_from_pb, metadata_to_pb
from archive_service.store import Store
from archive_service.types import ArchiveMetadata
from archive_service.wire import enc_pb, pb

COMMUNITY = bytes.fromhex("03" + "22" * 32)
T1, T2 = b"\x01\x02\x03\x04", b"\xaa\xbb\xcc\xdd"
PIECE = 102400
WEEK = 7 * 86400
START = 1577836800


def md(i: int) -> ArchiveMetadata:
    return ArchiveMetadata(from_ts=START + i * WEEK, to_ts=START + (i + 1) * WEEK, topics=(T1, T2))


def torrent_index(n: int = 3) -> pb.WakuMessageArchiveIndex:
    """n archives laid out as status-go does: each padded to whole pieces, back to back."""
    index = pb.WakuMessageArchiveIndex()
    offset = 0
    for i in range(n):
        raw = 1000 * (i + 1)
        entry = pb.WakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(md(i)), offset=offset, size=PIECE, padding=PIECE - raw
        )
        index.archives[archive_id(entry)].CopyFrom(entry)
        offset += PIECE
    return index


def codex_index(n: int = 3) -> pb.CodexWakuMessageArchiveIndex:
    index = pb.CodexWakuMessageArchiveIndex()
    for i in range(n):
        entry = pb.CodexWakuMessageArchiveIndexMetadata(
            metadata=metadata_to_pb(md(i)), cid=f"zDvZRwzm{i:040d}"
        )
        index.archives[archive_id(entry)].CopyFrom(entry)
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


def test_torrent_index_round_trip_plaintext() -> None:
    index = torrent_index()
    data = encode_index(index, COMMUNITY, None)
    assert data == index.SerializeToString(deterministic=True)
    decoded = decode_torrent_index(data, COMMUNITY, None)
    assert decoded == index
    entries = torrent_entries(decoded)
    assert [e.locator["offset"] for e in entries] == [0, PIECE, 2 * PIECE]
    assert [e.metadata for e in entries] == [md(0), md(1), md(2)]
    assert entries[1].locator == {"offset": PIECE, "size": PIECE, "padding": PIECE - 2000}
    assert entries[1].size == PIECE
    assert all(e.archive_id in index.archives for e in entries)


def test_encoding_is_deterministic_whatever_the_insertion_order() -> None:
    index = torrent_index(5)
    reversed_index = pb.WakuMessageArchiveIndex()
    for key in sorted(index.archives, reverse=True):
        reversed_index.archives[key].CopyFrom(index.archives[key])
    assert encode_index(index, COMMUNITY, None) == encode_index(reversed_index, COMMUNITY, None)


def test_codex_index_round_trip_plaintext() -> None:
    index = codex_index()
    decoded = decode_codex_index(encode_index(index, COMMUNITY, None), COMMUNITY, None)
    assert decoded == index
    entries = codex_entries(decoded)
    assert [e.metadata.from_ts for e in entries] == [md(i).from_ts for i in range(3)]
    assert entries[0].locator == {"cid": "zDvZRwzm" + "0" * 40}
    assert entries[0].size == 0


def test_empty_index_is_empty_bytes_and_decodes() -> None:
    data = encode_index(pb.WakuMessageArchiveIndex(), COMMUNITY, None)
    assert data == b""
    assert len(decode_torrent_index(data, COMMUNITY, None).archives) == 0


@pytest.mark.parametrize("kind", ["torrent", "codex"])
def test_encrypted_index_detected_and_decrypted(crypto: HashRatchet, kind: str) -> None:
    index = torrent_index() if kind == "torrent" else codex_index()
    decode = decode_torrent_index if kind == "torrent" else decode_codex_index
    data = encode_index(index, COMMUNITY, crypto)
    # what status-go sees first: a parse with no archives, so it decrypts
    assert len(type(index).FromString(data).archives) == 0
    assert enc_pb.ProtocolMessage.FromString(data).encrypted_message["none"].HR_header.seq_no >= 1
    assert decode(data, COMMUNITY, crypto) == index


def test_encrypted_empty_index_round_trip(crypto: HashRatchet) -> None:
    data = encode_index(pb.CodexWakuMessageArchiveIndex(), COMMUNITY, crypto)
    assert len(data) > 0
    assert len(decode_codex_index(data, COMMUNITY, crypto).archives) == 0


def test_encrypted_index_without_crypto_or_key(crypto: HashRatchet, tmp_path: Path) -> None:
    data = encode_index(torrent_index(), COMMUNITY, crypto)
    with pytest.raises(DecryptionError, match="encrypted"):
        decode_torrent_index(data, COMMUNITY, None)
    other = Store(tmp_path / "member.db")
    try:
        with pytest.raises(NoGroupKeyError):
            decode_torrent_index(data, COMMUNITY, HashRatchet(other))
    finally:
        other.close()


def test_tampered_encrypted_index_is_an_error(crypto: HashRatchet) -> None:
    envelope = enc_pb.ProtocolMessage.FromString(encode_index(torrent_index(), COMMUNITY, crypto))
    part = envelope.encrypted_message["none"]
    part.payload = part.payload[:5] + bytes([part.payload[5] ^ 0x40]) + part.payload[6:]
    with pytest.raises(DecryptionError, match="authentication failed"):
        decode_torrent_index(envelope.SerializeToString(), COMMUNITY, crypto)


# --- malformed and forged indexes ----------------------------------------------------------


def _forge(index: pb.WakuMessageArchiveIndex, key: str, **changes: int) -> bytes:
    """Change an entry but keep its key (or re-key it with rekey=1)."""
    rekey = changes.pop("rekey", 0)
    entry = pb.WakuMessageArchiveIndexMetadata()
    entry.CopyFrom(index.archives[key])
    for name, value in changes.items():
        setattr(entry, name, value)
    del index.archives[key]
    index.archives[archive_id(entry) if rekey else key].CopyFrom(entry)
    return index.SerializeToString()


def test_forged_entry_with_stale_key_rejected() -> None:
    index = torrent_index()
    key = sorted(index.archives)[0]
    with pytest.raises(MalformedIndexError, match="does not match"):
        decode_torrent_index(_forge(index, key, padding=7), COMMUNITY, None)


def test_overlapping_entries_rejected() -> None:
    index = torrent_index()
    second = next(k for k, e in index.archives.items() if e.offset == PIECE)
    data = _forge(index, second, offset=PIECE - 1, rekey=1)
    with pytest.raises(MalformedIndexError, match="overlap"):
        decode_torrent_index(data, COMMUNITY, None)


def test_adjacent_entries_at_any_offsets_accepted() -> None:
    # offsets need not be piece multiples (the format does not require it), only disjoint
    index = torrent_index(2)
    second = next(k for k, e in index.archives.items() if e.offset == PIECE)
    data = _forge(index, second, offset=PIECE + 1, rekey=1)
    assert len(decode_torrent_index(data, COMMUNITY, None).archives) == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": 0, "padding": 0}, "size 0"),
        ({"padding": PIECE}, "padding"),
        ({"padding": PIECE + 1}, "padding"),
    ],
)
def test_bad_sizes_rejected(changes: dict[str, int], message: str) -> None:
    index = torrent_index(1)
    key = next(iter(index.archives))
    with pytest.raises(MalformedIndexError, match=message):
        decode_torrent_index(_forge(index, key, rekey=1, **changes), COMMUNITY, None)


def test_entry_without_metadata_or_with_empty_window_rejected() -> None:
    index = pb.WakuMessageArchiveIndex()
    entry = pb.WakuMessageArchiveIndexMetadata(offset=0, size=PIECE, padding=1)
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="no metadata"):
        decode_torrent_index(index.SerializeToString(), COMMUNITY, None)

    index = pb.WakuMessageArchiveIndex()
    entry = pb.WakuMessageArchiveIndexMetadata(
        metadata=metadata_to_pb(ArchiveMetadata(10, 10, (T1,))), size=PIECE, padding=1
    )
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="empty window"):
        decode_torrent_index(index.SerializeToString(), COMMUNITY, None)


def test_codex_entry_without_cid_rejected() -> None:
    index = pb.CodexWakuMessageArchiveIndex()
    entry = pb.CodexWakuMessageArchiveIndexMetadata(metadata=metadata_to_pb(md(0)))
    index.archives[archive_id(entry)].CopyFrom(entry)
    with pytest.raises(MalformedIndexError, match="no CID"):
        decode_codex_index(index.SerializeToString(), COMMUNITY, None)


def test_codex_forged_key_rejected() -> None:
    index = codex_index(1)
    key = next(iter(index.archives))
    entry = index.archives[key]
    entry.cid = "zDvZRwzmEvil"
    with pytest.raises(MalformedIndexError, match="does not match"):
        decode_codex_index(index.SerializeToString(), COMMUNITY, None)


def test_torrent_index_read_as_codex_rejected() -> None:
    # offset/size/padding become unknown fields of a Codex entry: no CID, so not accepted
    data = torrent_index().SerializeToString()
    with pytest.raises(MalformedIndexError):
        decode_codex_index(data, COMMUNITY, None)


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
        decode_torrent_index(data, COMMUNITY, None)
    with pytest.raises(MalformedIndexError):
        decode_codex_index(data, COMMUNITY, None)
