"""Archive link messages signed as status-go does (reference §2, `WrapMessageV1`).

    ApplicationMetadataMessage{signature, payload = CommunityMessageArchiveLink, type = 43}
    signature = go-ethereum crypto.Sign(Keccak256(payload), key): r || s || v, v in {0, 1}

The receiver recovers the signer from the signature; for a link the community ID is that
public key, compressed.
"""

from __future__ import annotations

from dataclasses import dataclass

from coincurve import PrivateKey, PublicKey

from archive_service.errors import InvalidInputError, SignatureError
from archive_service.ids import keccak256
from archive_service.wire import app_pb, pb
from archive_service.wire.parsing import parse

ARCHIVE_LINK_TYPE = app_pb.ApplicationMetadataMessage.COMMUNITY_MESSAGE_ARCHIVE_LINK  # 43
SIGNATURE_LEN = 65


@dataclass(frozen=True)
class LinkMessage:
    community_id: bytes  # 33-byte compressed public key of the signer
    clock: int
    link: str


def _private_key(private: bytes) -> PrivateKey:
    if len(private) != 32:
        raise InvalidInputError(
            f"community private key is {len(private)} bytes; a secp256k1 key is 32 bytes"
        )
    try:
        return PrivateKey(private)
    except ValueError:
        raise InvalidInputError(
            "community private key is not a valid secp256k1 scalar (zero or >= group order)"
        ) from None


def generate_community_key() -> tuple[bytes, bytes]:
    """(private key 32 bytes, compressed public key 33 bytes = community ID)."""
    key = PrivateKey()
    return key.secret, key.public_key.format(compressed=True)


def public_key_hex_uncompressed(private: bytes) -> str:
    """go-ethereum PubkeyToHex: '0x04' + X + Y (BitTorrent's `created by`)."""
    return "0x" + _private_key(private).public_key.format(compressed=False).hex()


def sign_archive_link(community_private_key: bytes, clock: int, link: str) -> bytes:
    """A marshalled ApplicationMetadataMessage of type 43, signed by the community key."""
    if not 0 <= clock < 1 << 64:
        raise InvalidInputError(f"link clock {clock} is not a uint64")
    payload = pb.CommunityMessageArchiveLink(clock=clock, archive_link=link).SerializeToString()
    signature = _private_key(community_private_key).sign_recoverable(
        keccak256(payload), hasher=None
    )
    return app_pb.ApplicationMetadataMessage(
        signature=signature, payload=payload, type=ARCHIVE_LINK_TYPE
    ).SerializeToString()


def verify_archive_link(
    message: bytes, *, expected_community_id: bytes | None = None
) -> LinkMessage:
    """Parse a link message and recover its signer. With `expected_community_id`, a message
    signed by any other key raises SignatureError."""
    envelope = parse(
        app_pb.ApplicationMetadataMessage,
        message,
        lambda reason: InvalidInputError(
            f"{len(message)} bytes are not an ApplicationMetadataMessage ({reason})"
        ),
    )
    if envelope.type != ARCHIVE_LINK_TYPE:
        raise InvalidInputError(
            f"application message type {envelope.type} is not an archive link "
            f"(COMMUNITY_MESSAGE_ARCHIVE_LINK = {ARCHIVE_LINK_TYPE})"
        )
    if len(envelope.signature) != SIGNATURE_LEN:
        raise SignatureError(
            f"archive link signature is {len(envelope.signature)} bytes; expected 65 (r || s || v)"
        )
    # go-ethereum's secp256k1 RecoverPubkey accepts recovery ids 0..3 and nothing else.
    if envelope.signature[64] > 3:
        raise SignatureError(
            f"archive link signature has recovery id {envelope.signature[64]}; expected 0..3"
        )
    try:
        signer = PublicKey.from_signature_and_message(
            envelope.signature, keccak256(envelope.payload), hasher=None
        )
    except Exception as exc:  # coincurve raises ValueError or its own errors on bad input
        raise SignatureError(
            f"cannot recover a public key from the archive link signature ({exc})"
        ) from None
    community_id = signer.format(compressed=True)
    if expected_community_id is not None and community_id != expected_community_id:
        raise SignatureError(
            f"archive link is signed by 0x{community_id.hex()}, not by the community key "
            f"0x{expected_community_id.hex()}; ignoring it"
        )
    link = parse(
        pb.CommunityMessageArchiveLink,
        envelope.payload,
        lambda reason: InvalidInputError(
            f"archive link payload is not a CommunityMessageArchiveLink ({reason})"
        ),
    )
    return LinkMessage(community_id=community_id, clock=link.clock, link=link.archive_link)
