"""status-go's hash-ratchet envelope for archives and indexes (reference §9).

CONTRACT STUB: signatures are fixed; bodies are being implemented (issue #2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archive_service.store import Store

MAX_SEQ_NO_DELTA = 100_000
KEY_BUMP_MS = 10


@dataclass(frozen=True)
class GroupKey:
    group_id: bytes  # community ID
    key: bytes  # 32 bytes
    timestamp_ms: int

    @property
    def key_id(self) -> bytes:
        """Keccak256(group_id || uint64 LE(timestamp) || key)."""
        raise NotImplementedError


class HashRatchet:
    """Group keys and the seq cache live in the node's Store, so restarts keep the ratchet."""

    def __init__(self, store: Store, installation_id: str = "archive-service") -> None:
        self.store = store
        self.installation_id = installation_id

    def generate_group_key(self, group_id: bytes, now_ms: int | None = None) -> GroupKey:
        """New random key; timestamp now_ms + 10, or previous + 1 if that is not later."""
        raise NotImplementedError

    def add_group_key(self, key: GroupKey) -> None:
        """Install a key received from the owner (members)."""
        raise NotImplementedError

    def group_keys(self, group_id: bytes) -> list[GroupKey]:
        raise NotImplementedError

    def encrypt(self, group_id: bytes, plaintext: bytes) -> bytes:
        """One ratchet step with the latest key: ProtocolMessage bytes (AES-256-GCM, nonce last)."""
        raise NotImplementedError

    def decrypt(self, group_id: bytes, data: bytes) -> bytes:
        """Raises NoGroupKeyError (postpone), DecryptionError (corrupt or forged),
        RatchetSeqNoTooHighError, MalformedArchiveError (not a ProtocolMessage)."""
        raise NotImplementedError
