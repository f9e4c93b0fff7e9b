"""status-go's hash-ratchet envelope for archives and indexes (reference §9).

    k_n = Keccak256^n(K)                      for seq_no n >= 1
    payload = AES-256-GCM(k_n, nonce, no AAD) = ciphertext || tag(16) || nonce(12)
    ProtocolMessage{installation_id, encrypted_message={"none": {HR_header, payload}}}

Group keys and the ratchet cache persist in a RatchetKeyStore (the node's Store: status-go's
hash_ratchet_encryption and hash_ratchet_encryption_cache), so a restart neither reuses a step
nor forgets a key.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

from archive_service.crypto.keystore import RatchetKeyStore
from archive_service.errors import (
    CryptoError,
    DecryptionError,
    InvalidInputError,
    MalformedArchiveError,
    NoGroupKeyError,
    RatchetSeqNoTooHighError,
)
from archive_service.ids import keccak256
from archive_service.wire import enc_pb
from archive_service.wire.parsing import parse_or_none

MAX_SEQ_NO_DELTA = 100_000
KEY_BUMP_MS = 10
KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
NO_INSTALLATION = "none"  # the map key status-go uses for hash-ratchet messages
_MAX_UINT32 = (1 << 32) - 1


@dataclass(frozen=True)
class GroupKey:
    group_id: bytes  # community ID
    key: bytes  # 32 bytes
    timestamp_ms: int

    @property
    def key_id(self) -> bytes:
        """Keccak256(group_id || uint64 LE(timestamp) || key)."""
        return keccak256(self.group_id + struct.pack("<Q", self.timestamp_ms) + self.key)


def ratchet_key(key: bytes, seq_no: int) -> bytes:
    """k_n = Keccak256^n(K); k_0 = K."""
    h = key
    for _ in range(seq_no):
        h = keccak256(h)
    return h


def _hr_part(
    message: enc_pb.ProtocolMessage, installation_id: str
) -> enc_pb.EncryptedMessageProtocol | None:
    """status-go Protocol.HandleMessage: our installation's entry, else "none"; with an HR
    header, else None."""
    for name in (installation_id, NO_INSTALLATION):
        if name in message.encrypted_message:
            part = message.encrypted_message[name]
            return part if part.HasField("HR_header") else None
    return None


def is_hash_ratchet_message(data: bytes, installation_id: str = NO_INSTALLATION) -> bool:
    """True if `data` parses as a ProtocolMessage carrying a hash-ratchet header: how readers
    tell an encrypted archive or index from plaintext."""
    message = parse_or_none(enc_pb.ProtocolMessage, data)
    return message is not None and _hr_part(message, installation_id) is not None


class HashRatchet:
    """Group keys and the seq cache live in the key store, so restarts keep the ratchet."""

    def __init__(self, store: RatchetKeyStore, installation_id: str = "archive-service") -> None:
        self.store = store
        self.installation_id = installation_id
        # encrypt is read-modify-write of the latest step: two threads must not share a step.
        self._lock = threading.Lock()

    # keys ------------------------------------------------------------------------------------
    def generate_group_key(self, group_id: bytes, now_ms: int | None = None) -> GroupKey:
        """New random key; timestamp now_ms + 10, or previous + 1 if that is not later."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            keys = self.group_keys(group_id)
            previous = max((k.timestamp_ms for k in keys), default=None)
            if previous is None or previous < now:
                timestamp = now + KEY_BUMP_MS
            else:
                timestamp = previous + 1
            key = GroupKey(group_id=group_id, key=get_random_bytes(KEY_LEN), timestamp_ms=timestamp)
            self.store.save_group_key(group_id, key.key_id, key.timestamp_ms, key.key)
        return key

    def add_group_key(self, key: GroupKey) -> None:
        """Install a key received from the owner (members)."""
        if len(key.key) != KEY_LEN:
            raise InvalidInputError(
                f"hash-ratchet key is {len(key.key)} bytes; status-go group keys are 32 bytes"
            )
        if key.timestamp_ms < 0:
            raise InvalidInputError(f"hash-ratchet key timestamp {key.timestamp_ms} is negative")
        self.store.save_group_key(key.group_id, key.key_id, key.timestamp_ms, key.key)

    def group_keys(self, group_id: bytes) -> list[GroupKey]:
        return [
            GroupKey(group_id=group_id, key=key, timestamp_ms=timestamp)
            for _key_id, timestamp, key in self.store.group_keys(group_id)
        ]

    # encryption ------------------------------------------------------------------------------
    def encrypt(self, group_id: bytes, plaintext: bytes) -> bytes:
        """One ratchet step with the latest key: ProtocolMessage bytes (AES-256-GCM, nonce last)."""
        with self._lock:
            keys = self.group_keys(group_id)
            if not keys:
                raise NoGroupKeyError(
                    f"no hash-ratchet key for community 0x{group_id.hex()}; generate one "
                    "(owner) before encrypting archives"
                )
            key = max(keys, key=lambda k: k.timestamp_ms)
            key_id = key.key_id
            latest = self.store.latest_ratchet_step(key_id)
            seq_no, previous = latest if latest is not None else (0, key.key)
            seq_no += 1
            if seq_no > _MAX_UINT32:
                raise CryptoError(
                    f"hash-ratchet key 0x{key_id.hex()} is exhausted (seq_no is a uint32); "
                    "generate a new group key"
                )
            message_key = keccak256(previous)
            # Persist the step before the ciphertext exists: a crash must never reuse a step.
            self.store.save_ratchet_step(key_id, seq_no, message_key)

        nonce = get_random_bytes(NONCE_LEN)
        ciphertext, tag = AES.new(message_key, AES.MODE_GCM, nonce=nonce).encrypt_and_digest(
            plaintext
        )
        header = enc_pb.HRHeader(
            deprecated_key_id=key.timestamp_ms & _MAX_UINT32,  # Go: uint32(key.Timestamp)
            seq_no=seq_no,
            group_id=group_id,
            key_id=key_id,
        )
        message = enc_pb.ProtocolMessage(installation_id=self.installation_id)
        part = message.encrypted_message[NO_INSTALLATION]
        part.HR_header.CopyFrom(header)
        part.payload = ciphertext + tag + nonce
        return message.SerializeToString(deterministic=True)

    def decrypt(self, group_id: bytes, data: bytes) -> bytes:
        """Raises NoGroupKeyError (postpone), DecryptionError (corrupt or forged),
        RatchetSeqNoTooHighError, MalformedArchiveError (not a ProtocolMessage)."""
        message = parse_or_none(enc_pb.ProtocolMessage, data)
        if message is None:
            raise MalformedArchiveError(
                f"{len(data)} bytes are not a hash-ratchet ProtocolMessage (protobuf parse "
                "failed); the data is corrupt"
            )
        part = _hr_part(message, self.installation_id)
        if part is None:
            raise MalformedArchiveError(
                "the ProtocolMessage has no hash-ratchet part (no HR_header under "
                f"{self.installation_id!r} or 'none'); it is not an encrypted archive or index"
            )
        header = part.HR_header
        if header.group_id != group_id:
            raise DecryptionError(
                f"encrypted for group 0x{header.group_id.hex()}, expected community "
                f"0x{group_id.hex()}; the data belongs to another community"
            )
        found = self.store.group_key_by_id(header.key_id)
        if found is None:
            raise NoGroupKeyError(
                f"no hash-ratchet key 0x{header.key_id.hex()} for community 0x{group_id.hex()} "
                "yet; retry after the community key arrives"
            )
        key_group, _timestamp, key = found
        if key_group != group_id:
            raise DecryptionError(
                f"key 0x{header.key_id.hex()} belongs to group 0x{key_group.hex()}, not "
                f"0x{group_id.hex()}"
            )
        if header.seq_no == 0:
            raise DecryptionError(
                "seq_no 0 is a hash-ratchet key exchange, not encrypted data; archives use "
                "seq_no >= 1"
            )
        message_key, new_steps = self._message_key(header.key_id, key, header.seq_no)

        payload = part.payload
        if len(payload) < TAG_LEN + NONCE_LEN:
            raise DecryptionError(
                f"hash-ratchet payload is {len(payload)} bytes, shorter than tag + nonce "
                f"({TAG_LEN + NONCE_LEN}); the data is truncated"
            )
        ciphertext = payload[: -TAG_LEN - NONCE_LEN]
        tag = payload[-TAG_LEN - NONCE_LEN : -NONCE_LEN]
        nonce = payload[-NONCE_LEN:]
        try:
            plaintext = AES.new(message_key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(
                ciphertext, tag
            )
        except ValueError:
            raise DecryptionError(
                f"AES-GCM authentication failed (key 0x{header.key_id.hex()}, seq_no "
                f"{header.seq_no}); the data is corrupt or forged"
            ) from None
        # Cache the steps only once the message is authentic: a forged high seq_no must not
        # advance this node's ratchet (its next encryption would then be out of members' reach).
        self.store.save_ratchet_steps(header.key_id, new_steps)
        return plaintext

    def _message_key(
        self, key_id: bytes, key: bytes, seq_no: int
    ) -> tuple[bytes, list[tuple[int, bytes]]]:
        """k_seq from the best cached step at or below seq_no; the steps computed on the way."""
        cached = self.store.ratchet_step_at_or_below(key_id, seq_no)
        base_seq, base = cached if cached is not None else (0, key)
        if base_seq == seq_no:
            return base, []
        if seq_no - base_seq > MAX_SEQ_NO_DELTA:
            raise RatchetSeqNoTooHighError(
                f"seq_no {seq_no} is {seq_no - base_seq} steps past the cached step {base_seq} "
                f"of key 0x{key_id.hex()} (limit {MAX_SEQ_NO_DELTA}); refusing the work"
            )
        steps: list[tuple[int, bytes]] = []
        h = base
        for n in range(base_seq + 1, seq_no + 1):
            h = keccak256(h)
            steps.append((n, h))
        return h, steps
