"""What the hash ratchet needs from persistence: group keys and the ratchet-step cache
(status-go's hash_ratchet_encryption and hash_ratchet_encryption_cache tables). The ratchet
types against this protocol, so the domain does not depend on the store that implements it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class RatchetKeyStore(Protocol):
    def save_group_key(
        self, group_id: bytes, key_id: bytes, timestamp_ms: int, key: bytes
    ) -> None: ...

    def group_keys(self, group_id: bytes) -> list[tuple[bytes, int, bytes]]:
        """(key_id, timestamp_ms, key) of every key of the group."""
        ...

    def group_key_by_id(self, key_id: bytes) -> tuple[bytes, int, bytes] | None:
        """(group_id, timestamp_ms, key), or None when the key is not held."""
        ...

    def save_ratchet_step(self, key_id: bytes, seq_no: int, hash_: bytes) -> None: ...

    def save_ratchet_steps(self, key_id: bytes, steps: Iterable[tuple[int, bytes]]) -> None: ...

    def ratchet_step_at_or_below(self, key_id: bytes, seq_no: int) -> tuple[int, bytes] | None:
        """(seq_no, message key) of the highest cached step <= seq_no."""
        ...

    def latest_ratchet_step(self, key_id: bytes) -> tuple[int, bytes] | None: ...
