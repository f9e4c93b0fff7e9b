"""The Codex CID recipe against the vectors of reference/codex.md §2.6 (upstream and derived)."""

from __future__ import annotations

import hashlib

import pytest
from archive_service_codex.cid import (
    BLOCK_CODEC,
    MANIFEST_CODEC,
    TREE_CODEC,
    Cid,
    CidBuilder,
    InvalidCidError,
    InvalidManifestError,
    MerkleBuilder,
    b58decode,
    b58encode,
    build_manifest,
    cid_from_bytes,
    compute_manifest,
    decode_manifest,
    merkle_root,
    parse_cid,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_service.errors import InvalidInputError

SOME = b"some file contents"

# (input, filename, mimetype, tree CID, manifest CID) — every row of §2.6.
VECTORS = [
    (
        SOME,
        None,
        None,
        "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL",
        "zDvZRwzm1ePSzKSXt57D5YxHwcSDmsCyYN65wW4HT7fuX9HrzFXy",
    ),
    (
        b"a" * 65536,
        None,
        None,
        "zDzSvJTf842VovzRgQJpF386SKbxXX2TtaZSUhDcjhWcMEz4fXdp",
        "zDvZRwzkzi7BzVipyBfume3YvsxbBv5KrpsY83CNr1ZTUXv2m7dg",
    ),
    (
        b"a" * 65537,
        None,
        None,
        "zDzSvJTfCCn4rQDNTLJLCmCv6Ke3G5Npu8WcCec93kKtwuaVsAxL",
        "zDvZRwzmA3m4n77wCn6SgCSc7FWyRYzyvxDW6rd2cJbQWEhbEnNG",
    ),
    (
        bytes(i % 256 for i in range(196608)),
        None,
        None,
        "zDzSvJTezc2nCxXXQzJJuLucnBPGLK1bKPycE1ZNrCERkQ9sVE57",
        "zDvZRwzkzjevTAnMRVJprLfJDXEx8dJ44CkDzPbDYx3bpVryEd4o",
    ),
    (
        b"x" * 100,
        "archive-data.bin",
        "application/octet-stream",
        "zDzSvJTfCihnzs4me1ek2RXZAjzvLnSqeQN9R42ddUkoBVSiUDLw",
        "zDvZRwzmBmdp9B6qpGsDxudhEWmEgFaHcg8jLeqeucnaTeKM5KYH",
    ),
]


@pytest.mark.parametrize(("data", "filename", "mimetype", "tree", "manifest"), VECTORS)
def test_reference_vectors(
    data: bytes, filename: str | None, mimetype: str | None, tree: str, manifest: str
) -> None:
    m = compute_manifest(data, filename, mimetype)
    assert m.tree_cid.text == tree
    assert m.cid.text == manifest
    assert m.dataset_size == len(data)
    assert decode_manifest(m.encoded) == m


@pytest.mark.parametrize(("data", "filename", "mimetype", "tree", "manifest"), VECTORS)
def test_vectors_do_not_depend_on_chunking(
    data: bytes, filename: str | None, mimetype: str | None, tree: str, manifest: str
) -> None:
    builder = CidBuilder()
    blocks = []
    for i in range(0, len(data), 7919):  # a prime: chunks straddle block boundaries
        blocks += builder.update(data[i : i + 7919])
    blocks += builder.close()
    m = builder.finish(filename, mimetype)
    assert m.cid.text == manifest
    assert [b.index for b in blocks] == list(range(m.block_count))
    assert all(len(b.data) == 65536 for b in blocks)
    assert b"".join(b.data for b in blocks)[: len(data)] == data


def test_intermediate_values_of_some_file_contents() -> None:
    builder = CidBuilder()
    assert builder.update(SOME) == []
    (block,) = builder.close()
    assert block.data == SOME + bytes(65536 - len(SOME))
    assert block.leaf.hex() == "9d377dacf54120b0f1c6c4ba46e487575d8bc737f44c4f5c3cec48a4fb59c2e0"
    assert builder.root.hex() == "050b50fa8145c235e1b817326d34f733420298a9aa511f13622dd81264e8d4df"
    assert block.cid.text == "zDxWB8ED98hxJ51XwYaoQAwMdskCcmTaPR6Ce2wq88bjvjXRYuR9"
    # A single leaf is still compressed with the odd+bottom key.
    assert builder.root == hashlib.sha256(block.leaf + bytes(32) + b"\x03").digest()


def test_manifest_layout_of_some_file_contents() -> None:
    m = compute_manifest(SOME)
    root = bytes.fromhex("050b50fa8145c235e1b817326d34f733420298a9aa511f13622dd81264e8d4df")
    expected = (
        bytes.fromhex("0a360a2601839a031220") + root + bytes.fromhex("10808004181220829a0328123002")
    )
    assert len(m.encoded) == 56
    assert m.encoded == expected
    assert m.cid == Cid.v1(MANIFEST_CODEC, hashlib.sha256(expected).digest())


def test_metadata_is_encoded_after_version_and_changes_the_cid() -> None:
    plain = compute_manifest(b"x" * 100)
    named = compute_manifest(b"x" * 100, "archive-data.bin", "application/octet-stream")
    assert named.tree_cid == plain.tree_cid
    assert named.cid != plain.cid
    tail = b"\x42\x10archive-data.bin" + b"\x4a\x18application/octet-stream"
    assert named.encoded.endswith(tail)
    assert decode_manifest(named.encoded).filename == "archive-data.bin"


def test_padding_makes_trailing_zero_visible_only_in_manifest() -> None:
    a, a0 = compute_manifest(b"a"), compute_manifest(b"a\0")
    assert a.tree_cid == a0.tree_cid
    assert a.cid != a0.cid


def _reference_root(leaves: list[bytes]) -> bytes:
    """Layer by layer, straight from codex.md §2.3."""

    def compress(x: bytes, y: bytes, key: int) -> bytes:
        return hashlib.sha256(x + y + bytes([key])).digest()

    layer, bottom = leaves, True
    while bottom or len(layer) > 1:
        nxt = [
            compress(layer[i], layer[i + 1], 1 if bottom else 0)
            for i in range(0, len(layer) - 1, 2)
        ]
        if len(layer) % 2:
            nxt.append(compress(layer[-1], bytes(32), 3 if bottom else 2))
        layer, bottom = nxt, False
    return layer[0]


@given(st.integers(min_value=1, max_value=70))
@settings(max_examples=70, deadline=None)
def test_streaming_merkle_root_matches_layered_definition(n: int) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    assert merkle_root(leaves) == _reference_root(leaves)


def test_merkle_rejects_no_leaves_and_bad_leaves() -> None:
    with pytest.raises(ValueError, match="Empty leaves"):
        MerkleBuilder().root()
    with pytest.raises(ValueError):
        MerkleBuilder().add(b"short")


def test_empty_upload_has_no_leaves() -> None:
    builder = CidBuilder()
    builder.update(b"")
    with pytest.raises(InvalidInputError, match="Empty leaves"):
        builder.close()


@given(st.binary(min_size=0, max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def test_parse_cid_round_trips_and_classifies() -> None:
    for _, _, _, tree, manifest in VECTORS:
        assert parse_cid(manifest).text == manifest
        assert parse_cid(manifest).codec == MANIFEST_CODEC
        assert parse_cid(tree).codec == TREE_CODEC
    block = parse_cid("zDxWB8ED98hxJ51XwYaoQAwMdskCcmTaPR6Ce2wq88bjvjXRYuR9")
    assert block.codec == BLOCK_CODEC and block.is_block
    assert cid_from_bytes(block.binary) == block


def test_parse_cid_accepts_other_multibases_and_cidv0() -> None:
    # The codex-go-bindings' "non-existing CID": base32 CIDv1 dag-pb, printed back as z….
    cid = parse_cid("bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    assert cid.version == 1 and cid.codec == 0x70
    assert cid.text.startswith("z")
    assert parse_cid(cid.text) == cid
    v0 = parse_cid("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")
    assert v0.version == 0 and v0.text == "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
    manifest = parse_cid(VECTORS[0][4])
    assert parse_cid("f" + manifest.binary.hex()) == manifest


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "zzzzzz",
        "z0OIl",  # not base58
        "z" + b58encode(b"\x01\x81\x9a\x03\x12\x20" + bytes(33)),  # trailing byte
        "z" + b58encode(b"\x01\xff\xff\x03\x12\x20" + bytes(32)),  # unknown codec
        "z" + b58encode(b"\x01\x55\x99\x01\x20" + bytes(32)),  # unknown hash
        "z" + b58encode(b"\x01\x55\x12\x10" + bytes(16)),  # sha2-256 of 16 bytes
        "bAFY",  # mixed-case base32
        "x" * 600,
    ],
)
def test_parse_cid_rejects_garbage_as_incorrect(text: str) -> None:
    with pytest.raises(InvalidCidError) as info:
        parse_cid(text)
    assert info.value.reason == "Incorrect Cid"
    assert isinstance(info.value, InvalidInputError)


def test_parse_cid_unsupported_version() -> None:
    with pytest.raises(InvalidCidError) as info:
        parse_cid("z" + b58encode(b"\x02\x55\x12\x20" + bytes(32)))
    assert info.value.reason == "Unsupported Cid"
    # One character short shifts every byte: the version no longer reads as 1.
    with pytest.raises(InvalidCidError):
        parse_cid(VECTORS[0][4][:-1])


def test_decode_manifest_checks_cid_and_structure() -> None:
    m = compute_manifest(SOME)
    other = compute_manifest(b"other")
    with pytest.raises(InvalidManifestError):
        decode_manifest(m.encoded, other.cid)
    for bad in (b"", b"\x0a\x05\x0a\x03\x01\x02", m.encoded[:-3], b"\x0b" + m.encoded):
        with pytest.raises(InvalidManifestError):
            decode_manifest(bad)
    assert decode_manifest(m.encoded, m.cid).to_json() == {
        "treeCid": "zDzSvJTezk7bJNQqFq8k1iHXY84psNuUfZVusA5bBQQUSuyzDSVL",
        "datasetSize": 18,
        "blockSize": 65536,
        "filename": None,
        "mimetype": None,
        "protected": False,
    }


def test_encode_never_writes_empty_metadata() -> None:
    tree = compute_manifest(SOME).tree_cid
    empty = build_manifest(tree, 18, filename="", mimetype="")
    assert empty.encoded == build_manifest(tree, 18).encoded


def test_blocks_of_mutable_input_are_copies() -> None:
    buf = bytearray(b"z" * 65536 * 2)
    builder = CidBuilder()
    blocks = builder.update(buf)
    buf[:] = bytes(len(buf))  # the caller reuses its buffer
    assert all(bytes(b.data) == b"z" * 65536 for b in blocks)
    frozen = b"y" * 65536
    (view,) = CidBuilder().update(frozen)
    assert bytes(view.data) == frozen


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    return bytes([number << 3 | wire_type]) + body


def test_manifest_fields_are_read_as_the_node_writes_them() -> None:
    """The generated decoder keeps the hand decoder's strictness: fields other than varint and
    length-delimited are refused, and so is a known field with the wrong wire type (where
    protobuf would skip it and keep an earlier value)."""
    m = compute_manifest(SOME, filename="a.bin")
    header = m.encoded[2:]
    assert m.encoded[:2] == bytes([0x0A, len(header)])

    def wrapped(extra: bytes) -> bytes:
        inner = header + extra
        return bytes([0x0A, len(inner)]) + inner

    assert decode_manifest(wrapped(_field(12, 0, b"\x07"))).filename == "a.bin"  # unknown varint
    assert decode_manifest(wrapped(_field(8, 2, b"\x01b"))).filename == "b"  # the last one wins
    for extra in (
        _field(12, 5, b"\0\0\0\0"),  # fixed32
        _field(12, 1, bytes(8)),  # fixed64
        _field(4, 2, b"\x01x"),  # codec as bytes
        _field(8, 0, b"\x01"),  # filename as a number
        _field(8, 2, b"\x02\xff\xfe"),  # filename not UTF-8
    ):
        with pytest.raises(InvalidManifestError):
            decode_manifest(wrapped(extra))
    with pytest.raises(InvalidManifestError, match="field 1"):
        decode_manifest(m.encoded + _field(1, 0, b"\x01"))  # the header as a number
    assert decode_manifest(wrapped(_field(7, 2, b"\x00"))).protected


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_the_typed_error(data: bytes) -> None:
    for candidate in (data, compute_manifest(SOME).encoded + data):
        try:
            decode_manifest(candidate)
        except InvalidManifestError:
            pass
