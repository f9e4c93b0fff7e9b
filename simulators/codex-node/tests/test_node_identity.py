"""Peer identity of the local node: libp2p peer ids, signed peer records, multiaddrs, Nim's
filename and MIME rules."""

from __future__ import annotations

import base64
from pathlib import Path

import coincurve
import pytest
from archive_service_codex.cid import b58decode
from archive_service_codex_node.identity import (
    InvalidMultiaddrError,
    InvalidPeerIdError,
    InvalidSprError,
    NodeIdentity,
    decode_spr,
    multiaddr_from_bytes,
    multiaddr_to_bytes,
    parse_peer_id,
    peer_id_public_key,
)
from archive_service_codex_node.mimetypes import nim_mimetypes
from archive_service_codex_node.validation import (
    filename_from_content_disposition,
    is_valid_filename,
    is_valid_upload_mimetype,
)


def test_peer_id_is_identity_multihash_of_protobuf_secp256k1_key(tmp_path: Path) -> None:
    identity = NodeIdentity.load_or_create(tmp_path)
    raw = b58decode(identity.peer_id)
    compressed = coincurve.PrivateKey((tmp_path / "key").read_bytes()[4:]).public_key.format(
        compressed=True
    )
    # identity multihash (0x00, 37 bytes) of PublicKey{Type=Secp256k1(2), Data=33 bytes}
    assert raw == b"\x00\x25" + b"\x08\x02\x12\x21" + compressed
    assert identity.peer_id.startswith("16Uiu2HA")  # …HAk or …HAm: 02 or 03 key prefix
    assert parse_peer_id(identity.peer_id) == raw
    assert peer_id_public_key(raw) == compressed
    assert NodeIdentity.load_or_create(tmp_path).peer_id == identity.peer_id


@pytest.mark.parametrize(
    "text", ["", "garbage", "16Uiu2HAm", "QmYyQSo1c1Ym7orWxLYvCrM2Emx", "0OIl"]
)
def test_bad_peer_ids(text: str) -> None:
    with pytest.raises(InvalidPeerIdError, match="peerid: incorrect PeerId string"):
        parse_peer_id(text)


def test_sha256_peer_ids_parse() -> None:
    assert len(parse_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")) == 34


def test_spr_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    identity = NodeIdentity.load_or_create(tmp_path)
    spr = identity.make_spr(["/ip4/127.0.0.1/tcp/8080"], seq=7)
    record = decode_spr(spr)
    assert (record.peer_id, record.addrs, record.seq) == (
        identity.peer_id,
        ("/ip4/127.0.0.1/tcp/8080",),
        7,
    )
    raw = bytearray(base64.urlsafe_b64decode(spr[4:] + "=" * (-len(spr[4:]) % 4)))
    raw[-80] ^= 1  # inside the payload or the signature
    tampered = "spr:" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(InvalidSprError):
        decode_spr(tampered)
    for bad in ("", "spr:", "spr:!!!", "enr:abc", "spr:" + "A" * 5000):
        with pytest.raises(InvalidSprError):
            decode_spr(bad)


# Made by the hand-written encoder these records had before they were generated from
# proto/archive_service_codex_node/libp2p.proto (secp256k1 signatures are deterministic, RFC 6979).
SECRET = bytes(range(1, 33))
PINNED_PEER_ID = "16Uiu2HAm4Ms862Gnqafssgvik4JJ1LuqWMcKNipq4nm2UaoLRbeP"
PINNED_SPRS = {
    (("/ip4/127.0.0.1/tcp/8080", "/ip4/10.0.0.2/tcp/1"), 0): (
        "spr:CiUIAhIhAoS_dWImK71pQAhXSPO-avpSrjFxVRgezjG2Y1HM_6SwEgIDARpDCicAJQgCEiEChL91YiYrvWlA"
        "CFdI875q-lKuMXFVGB7OMbZjUcz_pLAQABoKCggEfwAAAQYfkBoKCggECgAAAgYAASpHMEUCIQCmsdbdjcVNsx__"
        "SlN8F4smYKIaChGxryP1bDorpmwBzAIgGxxtph9kpFIj_8e_EhrPQfUGmXmh3pbA4I97lCxBWvE"
    ),
    ((), 1700000000): (
        "spr:CiUIAhIhAoS_dWImK71pQAhXSPO-avpSrjFxVRgezjG2Y1HM_6SwEgIDARovCicAJQgCEiEChL91YiYrvWlA"
        "CFdI875q-lKuMXFVGB7OMbZjUcz_pLAQgOLPqgYqRjBEAiBbuoIJ4l0g0meQ8ZCXt-AUEKn7xvIFGmJuDLraLC0D"
        "vAIgeY7gESOzIrdiFt7EIA-P0uIwb7DzWmGelNKQ56UjQzc"
    ),
}


def test_pinned_identity_vectors(tmp_path: Path) -> None:
    identity = NodeIdentity(coincurve.PrivateKey(SECRET))
    assert identity.peer_id == PINNED_PEER_ID
    for (addrs, seq), spr in PINNED_SPRS.items():
        assert identity.make_spr(list(addrs), seq) == spr  # seq 0 is still written
        record = decode_spr(spr)
        assert (record.peer_id, record.addrs, record.seq) == (PINNED_PEER_ID, addrs, seq)
    # the key file: libp2p PrivateKey{Type=Secp256k1, Data=secret}, readable back
    (tmp_path / "key").write_bytes(b"\x08\x02\x12\x20" + SECRET)
    (tmp_path / "key").chmod(0o600)
    assert NodeIdentity.load_or_create(tmp_path).peer_id == PINNED_PEER_ID


def test_records_are_read_strictly() -> None:
    """Fields of other wire types, or a known field with a wrong one, are refused (as the hand
    decoder did) rather than skipped."""
    spr = PINNED_SPRS[((), 1700000000)]
    raw = base64.urlsafe_b64decode(spr[4:] + "=" * (-len(spr[4:]) % 4))
    # a fixed32 field, a fixed64 field, payload_type (2) as a number
    for extra in (b"\x65" + bytes(4), b"\x61" + bytes(8), b"\x10\x01"):
        bad = "spr:" + base64.urlsafe_b64encode(raw + extra).rstrip(b"=").decode()
        with pytest.raises(InvalidSprError):
            decode_spr(bad)
    peer_id = b58decode(PINNED_PEER_ID)
    assert peer_id_public_key(peer_id) is not None
    assert peer_id_public_key(peer_id + b"\x15" + bytes(4)) is None


def test_multiaddrs() -> None:
    addr = "/ip4/127.0.0.1/tcp/8080"
    assert multiaddr_to_bytes(addr) == bytes.fromhex("047f000001061f90")
    assert multiaddr_from_bytes(multiaddr_to_bytes(addr)) == addr
    for bad in (
        "/ip6/::1/tcp/1",
        "/ip4/1.2.3/tcp/1",
        "/ip4/1.2.3.4/tcp/0",
        "/ip4/1.2.3.4/udp/1",
        "x",
    ):
        with pytest.raises(InvalidMultiaddrError):
            multiaddr_to_bytes(bad)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("example.txt", True),
        ("archive-data.bin", True),
        (".bashrc", True),
        ("a.t*t", True),  # Nim checks the name part only, not the extension
        ("exam*ple.txt", False),
        ("", False),
        (" lead.txt", False),
        ("trail .txt", False),
        ("dot.", False),
        ("con.txt", False),
        ("LPT9", False),
        ("a<b", False),
        ("x" * 255 + ".txt", True),
        ("x" * 256 + ".txt", False),
    ],
)
def test_nim_is_valid_filename(name: str, valid: bool) -> None:
    assert is_valid_filename(name) is valid


def test_content_disposition_quirks() -> None:
    assert filename_from_content_disposition('attachment; filename="a.txt"') == "a.txt"
    assert filename_from_content_disposition('filename="a.txt"  ') == "a.txt"
    assert filename_from_content_disposition("filename=a.txt") is None
    assert filename_from_content_disposition('x; filename="b"; filename="c.bin"') == "c.bin"
    assert filename_from_content_disposition(None) is None


def test_nim_mimetype_table() -> None:
    table = nim_mimetypes()
    assert len(table) > 1000
    for accepted in ("application/octet-stream", "text/plain", "Image/PNG", "application/json"):
        assert is_valid_upload_mimetype(accepted)
    for refused in (
        "text/plain; charset=utf-8",
        "hello/world",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
        "chemical/x-molconn-z",  # upper-case in Nim's table: never matches a lowered value
    ):
        assert not is_valid_upload_mimetype(refused)
