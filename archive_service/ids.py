"""Identifiers shared by every module: community IDs, content topics, message hashes."""

from __future__ import annotations

import hashlib

from Crypto.Hash import keccak

from archive_service.errors import InvalidCommunityIdError

COMMUNITY_ID_LEN = 33
TOPIC_LEN = 4
# Waku's default pubsub topic (23/WAKU2-TOPICS): the routing topic of a message's envelope.
DEFAULT_PUBSUB_TOPIC = "/waku/2/default-waku/proto"


def keccak256(data: bytes) -> bytes:
    """Legacy Keccak-256 (Ethereum's), not SHA3-256."""
    return keccak.new(data=data, digest_bits=256).digest()


def community_hex(community_id: bytes) -> str:
    """status-go's HexBytes.String(): '0x' + lowercase hex (66 hex digits for a community)."""
    return "0x" + community_id.hex()


def parse_community_id(text: str | bytes) -> bytes:
    """Accepts '0x' + 66 hex digits (or the 33 raw bytes) of a compressed secp256k1 public key."""
    if isinstance(text, bytes):
        raw = text
    else:
        body = text[2:] if text.startswith(("0x", "0X")) else text
        try:
            raw = bytes.fromhex(body)
        except ValueError:
            raise InvalidCommunityIdError(
                f"community ID {text!r} is not hex; expected '0x' followed by 66 hex digits"
            ) from None
    if len(raw) != COMMUNITY_ID_LEN or raw[0] not in (2, 3):
        raise InvalidCommunityIdError(
            f"community ID {text!r} is not a 33-byte compressed secp256k1 public key "
            "(66 hex digits starting with 02 or 03)"
        )
    return raw


def topic_hex(topic: bytes) -> str:
    """TopicType.String(): '0x' + 8 hex digits, as stored in waku_messages.topic."""
    return "0x" + topic.hex()


def content_topic(topic: bytes) -> str:
    """status-go's TopicType.ContentTopic(): the 23/WAKU2-TOPICS name of a 4-byte topic."""
    return "/waku/1/" + topic_hex(topic) + "/rfc26"


def waku_message_hash(
    pubsub_topic: str, payload: bytes, content_topic: str, timestamp_ns: int, meta: bytes = b""
) -> bytes:
    """The deterministic message hash of 14/WAKU2-MESSAGE (go-waku's WakuMessage.Hash): the
    envelope hash status-go keeps in waku_messages.hash and WakuMessage.hash."""
    return hashlib.sha256(
        pubsub_topic.encode() + payload + content_topic.encode() + meta
        + timestamp_ns.to_bytes(8, "big")
    ).digest()  # fmt: skip


def topic_from_chat_id(chat_id: str) -> bytes:
    """status-go transport.ToTopic: the first 4 bytes of Keccak256(chatID)."""
    return keccak256(chat_id.encode())[:TOPIC_LEN]


def universal_chat_id(community_id: bytes) -> str:
    """The community's universal channel ('0x<id>-memberUpdate'), which carries archive links."""
    return community_hex(community_id) + "-memberUpdate"
