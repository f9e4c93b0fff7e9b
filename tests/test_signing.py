"""Archive link messages: go-ethereum crypto.Sign over Keccak256(payload), type 43."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from coincurve import PrivateKey, PublicKey

from archive_service.crypto.signing import (
    ARCHIVE_LINK_TYPE,
    LinkMessage,
    generate_community_key,
    public_key_hex_uncompressed,
    sign_archive_link,
    verify_archive_link,
)
from archive_service.errors import InvalidInputError, SignatureError
from archive_service.ids import keccak256
from archive_service.wire import app_pb, pb

MAGNET = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=0x02"
# go-ethereum crypto/crypto_test.go TestSign: this key's address
GETH_KEY = bytes.fromhex("289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032")
GETH_ADDRESS = "970e8128ab834e8eac17ab8e3812f010678cf791"


def envelope(message: bytes) -> app_pb.ApplicationMetadataMessage:
    return app_pb.ApplicationMetadataMessage.FromString(message)


def test_go_ethereum_signature_layout_is_r_s_v() -> None:
    # go-ethereum crypto/signature_test.go: testsig (v = 1) over testmsg recovers testpubkeyc
    msg = bytes.fromhex("ce0677bb30baa8cf067c88db9811f4333d131bf8bcf12fe7065d211dce971008")
    sig = bytes.fromhex(
        "90f27b8b488db00b00606796d2987f6a5f59ae62ea05effe84fef5b8b0e54998"
        "4a691139ad57a3f0b906637673aa2f63d1f55cb1a69199d4009eea23ceaddc93"
        "01"
    )
    recovered = PublicKey.from_signature_and_message(sig, msg, hasher=None)
    assert recovered.format().hex() == (
        "02e32df42865e97135acfb65f3bae71bdc86f4d49150ad6a440b6f15878109880a"
    )


def test_sign_produces_type_43_envelope() -> None:
    private, community_id = generate_community_key()
    message = sign_archive_link(private, 1700000000000, MAGNET)
    env = envelope(message)
    assert env.type == ARCHIVE_LINK_TYPE == 43
    assert (
        env.payload
        == pb.CommunityMessageArchiveLink(
            clock=1700000000000, archive_link=MAGNET
        ).SerializeToString()
    )
    assert len(env.signature) == 65 and env.signature[64] in (0, 1)
    signer = PublicKey.from_signature_and_message(
        env.signature, keccak256(env.payload), hasher=None
    )
    assert signer.format() == community_id
    # RFC 6979 nonces, as libsecp256k1 in go-ethereum: the same input signs the same
    assert sign_archive_link(private, 1700000000000, MAGNET) == message


def test_round_trip_recovers_community_id() -> None:
    private, community_id = generate_community_key()
    assert len(private) == 32 and len(community_id) == 33 and community_id[0] in (2, 3)
    link = verify_archive_link(sign_archive_link(private, 42, "zDvZRwzmSomeCid"))
    assert link == LinkMessage(community_id=community_id, clock=42, link="zDvZRwzmSomeCid")
    expected = verify_archive_link(
        sign_archive_link(private, 43, MAGNET), expected_community_id=community_id
    )
    assert expected.clock == 43 and expected.link == MAGNET


def test_go_ethereum_key_recovers_its_address() -> None:
    link = verify_archive_link(sign_archive_link(GETH_KEY, 1, MAGNET))
    uncompressed = PublicKey(link.community_id).format(compressed=False)
    assert keccak256(uncompressed[1:])[12:].hex() == GETH_ADDRESS
    assert public_key_hex_uncompressed(GETH_KEY) == "0x" + uncompressed.hex()


def test_public_key_hex_uncompressed() -> None:
    private, community_id = generate_community_key()
    text = public_key_hex_uncompressed(private)
    assert text.startswith("0x04") and len(text) == 2 + 130
    assert PublicKey(bytes.fromhex(text[2:])).format(compressed=True) == community_id


def test_forged_signature_rejected() -> None:
    _, community_id = generate_community_key()
    attacker, attacker_id = generate_community_key()
    forged = sign_archive_link(attacker, 99, "magnet:?xt=urn:btih:" + "ee" * 20)
    # recovery names the real signer, never the community
    assert verify_archive_link(forged).community_id == attacker_id != community_id
    with pytest.raises(SignatureError, match="not by the community key"):
        verify_archive_link(forged, expected_community_id=community_id)


def test_tampered_payload_rejected() -> None:
    private, community_id = generate_community_key()
    env = envelope(sign_archive_link(private, 5, MAGNET))
    env.payload = pb.CommunityMessageArchiveLink(
        clock=6, archive_link="magnet:?xt=urn:btih:" + "ff" * 20
    ).SerializeToString()
    with pytest.raises(SignatureError):
        verify_archive_link(env.SerializeToString(), expected_community_id=community_id)
    assert verify_archive_link(env.SerializeToString()).community_id != community_id


@pytest.mark.parametrize(
    ("mangle", "match"),
    [
        (lambda s: s[:64], "65"),  # too short
        (lambda s: s + b"\x00", "65"),  # too long
        (lambda s: s[:64] + b"\x04", "recovery id"),  # v out of range
        (lambda s: b"\x00" * 64 + s[64:], "cannot recover"),  # r = s = 0
        (lambda s: b"\xff" * 64 + s[64:], "cannot recover"),  # r, s >= group order
    ],
)
def test_bad_signature_bytes_rejected(mangle: Callable[[bytes], bytes], match: str) -> None:
    private, _ = generate_community_key()
    env = envelope(sign_archive_link(private, 5, MAGNET))
    env.signature = mangle(env.signature)
    with pytest.raises(SignatureError, match=match):
        verify_archive_link(env.SerializeToString())


def test_wrong_type_rejected() -> None:
    private, _ = generate_community_key()
    env = envelope(sign_archive_link(private, 5, MAGNET))
    env.type = app_pb.ApplicationMetadataMessage.COMMUNITY_DESCRIPTION
    with pytest.raises(InvalidInputError, match="not an archive link"):
        verify_archive_link(env.SerializeToString())


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05ab"])
def test_malformed_bytes_rejected(data: bytes) -> None:
    with pytest.raises(InvalidInputError):
        verify_archive_link(data)


def test_signed_payload_that_is_not_a_link_rejected() -> None:
    # correctly signed, but the payload is not a CommunityMessageArchiveLink
    private, _ = generate_community_key()
    payload = b"\x12\x02\xff\xfe"  # field 2 (archive_link) with invalid UTF-8
    signature = PrivateKey(private).sign_recoverable(keccak256(payload), hasher=None)
    message = app_pb.ApplicationMetadataMessage(
        signature=signature, payload=payload, type=ARCHIVE_LINK_TYPE
    ).SerializeToString()
    with pytest.raises(InvalidInputError, match="CommunityMessageArchiveLink"):
        verify_archive_link(message)


@pytest.mark.parametrize("private", [b"\x00" * 32, b"\x01" * 31, b"\xff" * 32])
def test_invalid_private_keys_rejected(private: bytes) -> None:
    with pytest.raises(InvalidInputError):
        sign_archive_link(private, 1, MAGNET)
    with pytest.raises(InvalidInputError):
        public_key_hex_uncompressed(private)


def test_clock_out_of_range_rejected() -> None:
    private, _ = generate_community_key()
    with pytest.raises(InvalidInputError, match="uint64"):
        sign_archive_link(private, -1, MAGNET)
