"""Peer identity of the local node: a persisted secp256k1 key, its libp2p peer id, multiaddrs
and a signed peer record (SPR).

The peer id and SPR use libp2p's real encodings (identity multihash of the protobuf public key;
a signed envelope holding a PeerRecord, base64url after `spr:`), so they look and parse like a
Codex node's. The addresses in them, however, are this node's HTTP port: a real Codex node
could decode the SPR but could not dial it (there is no libp2p behind it).
"""

from __future__ import annotations

import base64
import stat
from dataclasses import dataclass
from pathlib import Path

import coincurve
from archive_service_codex import strictpb
from archive_service_codex.cid import b58decode, b58encode
from Crypto.Hash import keccak

from archive_service import varint
from archive_service.errors import BackendUnavailableError, InvalidInputError
from archive_service.fsutil import atomic_write
from archive_service_codex_node.libp2p_pb2 import (
    Envelope,
    KeyType,
    PrivateKey,
    PublicKey,
)
from archive_service_codex_node.libp2p_pb2 import (
    PeerRecord as PeerRecordPb,
)

KEY_FILE = "key"
_KEY_TYPE_SECP256K1 = KeyType.Secp256k1
_PEER_RECORD_CODEC = b"\x03\x01"  # multicodec libp2p-peer-record (0x0301)
_PEER_RECORD_DOMAIN = b"libp2p-routing-state"
_MAX_SPR_LEN = 4096

# Body of the node's 400 for a peer id that does not parse (nim-libp2p PeerId.init).
INCORRECT_PEER_ID = "peerid: incorrect PeerId string"


class InvalidPeerIdError(InvalidInputError):
    """A peer id string is not a libp2p peer id."""


class InvalidSprError(InvalidInputError):
    """An `spr:` string is not a signed peer record this cluster can resolve."""


class InvalidMultiaddrError(InvalidInputError):
    """A multiaddr is malformed or not a TCP address over IPv4."""


def public_key_proto(compressed: bytes) -> bytes:
    """libp2p crypto.pb PublicKey{Type=Secp256k1, Data=33-byte compressed point}."""
    return PublicKey(type=_KEY_TYPE_SECP256K1, data=compressed).SerializeToString()


def peer_id_bytes_for(compressed: bytes) -> bytes:
    """Identity multihash of the protobuf public key (it is ≤ 42 bytes, so it is inlined)."""
    proto = public_key_proto(compressed)
    return b"\x00" + varint.encode(len(proto)) + proto


def parse_peer_id(text: str) -> bytes:
    """Validate a base58btc peer id; returns its multihash bytes."""
    try:
        raw = b58decode(text)
        code, pos = varint.decode(raw, 0)
        length, pos = varint.decode(raw, pos)
    except ValueError:
        raise InvalidPeerIdError(INCORRECT_PEER_ID) from None
    ok = (code == 0x00 and 0 < length <= 42) or (code == 0x12 and length == 32)
    if not text or not ok or pos + length != len(raw):
        raise InvalidPeerIdError(INCORRECT_PEER_ID)
    return raw


def peer_id_public_key(peer_id: bytes) -> bytes | None:
    """The compressed secp256k1 key inlined in an identity-multihash peer id, if any."""
    if not peer_id.startswith(b"\x00"):
        return None
    try:
        _, pos = varint.decode(peer_id, 1)
        key = strictpb.parse(PublicKey, peer_id[pos:])
    except ValueError:
        return None
    if key.type != _KEY_TYPE_SECP256K1 or not key.HasField("type") or len(key.data) != 33:
        return None
    return key.data


# --- multiaddrs (only /ip4/<a>/tcp/<port>, all a loopback cluster needs) -------------------------


def tcp_multiaddr(host: str, port: int) -> str:
    return f"/ip4/{host}/tcp/{port}"


def parse_tcp_multiaddr(text: str) -> tuple[str, int]:
    """`/ip4/1.2.3.4/tcp/5678[/p2p/<id>]` → (host, port)."""
    parts = text.split("/")
    if len(parts) not in (5, 7) or parts[0] != "" or parts[1] != "ip4" or parts[3] != "tcp":
        raise InvalidMultiaddrError(
            f"multiaddr {text!r} is not of the form /ip4/<address>/tcp/<port>"
        )
    octets = parts[2].split(".")
    if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        raise InvalidMultiaddrError(f"multiaddr {text!r} has an invalid IPv4 address")
    if not parts[4].isdigit() or not 0 < int(parts[4]) < 65536:
        raise InvalidMultiaddrError(f"multiaddr {text!r} has an invalid TCP port")
    if len(parts) == 7 and parts[5] != "p2p":
        raise InvalidMultiaddrError(f"multiaddr {text!r} has an unsupported suffix")
    return parts[2], int(parts[4])


def multiaddr_to_bytes(text: str) -> bytes:
    host, port = parse_tcp_multiaddr(text)
    # protocol codes: ip4 = 0x04 (4 bytes), tcp = 0x06 (2 bytes, big endian)
    return b"\x04" + bytes(int(o) for o in host.split(".")) + b"\x06" + port.to_bytes(2, "big")


def multiaddr_from_bytes(data: bytes) -> str:
    if len(data) != 8 or data[0] != 0x04 or data[5] != 0x06:
        raise InvalidMultiaddrError("binary multiaddr is not /ip4/…/tcp/…")
    host = ".".join(str(b) for b in data[1:5])
    return tcp_multiaddr(host, int.from_bytes(data[6:8], "big"))


# --- signed peer records -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRecord:
    peer_id: str
    addrs: tuple[str, ...]
    seq: int


def _signing_bytes(payload: bytes) -> bytes:
    parts = (_PEER_RECORD_DOMAIN, _PEER_RECORD_CODEC, payload)
    return b"".join(varint.encode(len(p)) + p for p in parts)


def decode_spr(text: str) -> PeerRecord:
    """Decode and verify an `spr:` URI made by a local node."""
    if not isinstance(text, str) or not text.startswith("spr:") or len(text) > _MAX_SPR_LEN:
        raise InvalidSprError(f"{text[:80]!r} is not an 'spr:' signed peer record")
    body = text[4:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        envelope = strictpb.parse(Envelope, raw)
        for name in ("public_key", "payload_type", "payload", "signature"):
            if not envelope.HasField(name):
                raise ValueError("incomplete envelope")
        if envelope.payload_type != _PEER_RECORD_CODEC:
            raise ValueError("payload is not a libp2p peer record")
        key = envelope.public_key
        if key.type != _KEY_TYPE_SECP256K1 or not key.HasField("type") or not key.HasField("data"):
            raise ValueError("only secp256k1 keys are supported")
        compressed = key.data
        signed = _signing_bytes(envelope.payload)
        if not coincurve.PublicKey(compressed).verify(envelope.signature, signed):
            raise ValueError("bad signature")
        record = strictpb.parse(PeerRecordPb, envelope.payload)
        record_peer = record.peer_id if record.HasField("peer_id") else None
        addrs = [
            multiaddr_from_bytes(info.multiaddr)
            for info in record.addresses
            if info.HasField("multiaddr")
        ]
        if record_peer != peer_id_bytes_for(compressed):
            raise ValueError("peer id does not match the signing key")
    except (ValueError, TypeError, InvalidInputError) as exc:
        raise InvalidSprError(f"cannot decode signed peer record: {exc}") from None
    return PeerRecord(b58encode(record_peer), tuple(addrs), record.seq)


# --- the node's own identity ---------------------------------------------------------------------


class NodeIdentity:
    """The node's secp256k1 key (file `key`, mode 0600, libp2p PrivateKey protobuf)."""

    def __init__(self, private_key: coincurve.PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key.format(compressed=True)
        self.peer_id_bytes = peer_id_bytes_for(self.public_key)
        self.peer_id = b58encode(self.peer_id_bytes)

    @classmethod
    def load_or_create(cls, data_dir: Path) -> NodeIdentity:
        path = data_dir / KEY_FILE
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                # As the real node: a key others can read is refused, not silently used.
                raise BackendUnavailableError(
                    f"key file {path} has unsafe permissions {mode:o}; run 'chmod 600 {path}'"
                )
            try:
                stored = strictpb.parse(PrivateKey, path.read_bytes())
                if stored.type != _KEY_TYPE_SECP256K1 or not stored.HasField("type"):
                    raise ValueError("not a secp256k1 key")
                if not stored.HasField("data"):
                    raise ValueError("no key data")
                return cls(coincurve.PrivateKey(stored.data))
            except ValueError as exc:
                raise BackendUnavailableError(
                    f"key file {path} is corrupt ({exc}); remove it to create a new identity"
                ) from None
        key = coincurve.PrivateKey()
        encoded = PrivateKey(type=_KEY_TYPE_SECP256K1, data=key.secret).SerializeToString()
        atomic_write(path, encoded, mode=0o600)
        return cls(key)

    def make_spr(self, addrs: list[str], seq: int) -> str:
        record = PeerRecordPb(peer_id=self.peer_id_bytes, seq=seq)
        for addr in addrs:
            record.addresses.add(multiaddr=multiaddr_to_bytes(addr))
        payload = record.SerializeToString()
        envelope = Envelope(
            public_key=PublicKey(type=_KEY_TYPE_SECP256K1, data=self.public_key),
            payload_type=_PEER_RECORD_CODEC,
            payload=payload,
            signature=self._key.sign(_signing_bytes(payload)),
        ).SerializeToString()
        return "spr:" + base64.urlsafe_b64encode(envelope).rstrip(b"=").decode()

    def node_id(self) -> str:
        return node_id_for(self.public_key)


def node_id_for(compressed: bytes) -> str:
    """discv5-style node id: Keccak-256 of the uncompressed public key, hex."""
    raw = coincurve.PublicKey(compressed).format(compressed=False)[1:]
    return keccak.new(data=raw, digest_bits=256).hexdigest()
