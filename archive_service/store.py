"""SQLite persistence with status-go's tables (reference §3) plus what the manager needs.

CONTRACT STUB: signatures are fixed; bodies are being implemented (issue #2).
Thread-safe (one connection, a lock), WAL, migrations by PRAGMA user_version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from archive_service.archives import StoredMessage


@dataclass(frozen=True)
class Community:
    id: bytes  # 33-byte compressed public key
    joined: bool = True
    encrypted: bool = False
    archives_enabled: bool = True
    private_key: bytes | None = None  # 32 bytes on the control node (owner), else None
    chat_ids: tuple[str, ...] = ()

    @property
    def is_control_node(self) -> bool:
        return self.private_key is not None


@dataclass(frozen=True)
class ArchiveLinkState:
    link: str = ""
    clock: int = 0


@dataclass(frozen=True)
class DownloadedArchive:
    archive_id: str
    backend: str
    from_ts: int
    to_ts: int
    imported: bool
    link: str = ""


class Store:
    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        """Open (and migrate) the database; create=False raises StoreError if it is missing."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # waku_messages ------------------------------------------------------------------------
    def save_waku_messages(self, messages: Iterable[StoredMessage]) -> int:
        """Insert, deduplicated by message hash; returns how many were new."""
        raise NotImplementedError

    def iter_waku_messages(
        self, topics: Sequence[bytes], from_ts: int, to_ts: int
    ) -> Iterator[StoredMessage]:
        """Streaming GetWakuMessagesByFilterTopic: from_ts <= timestamp < to_ts, by timestamp."""
        raise NotImplementedError

    def oldest_message_timestamp(self, topics: Sequence[bytes]) -> int:
        raise NotImplementedError

    def latest_message_timestamp(self, topics: Sequence[bytes]) -> int:
        raise NotImplementedError

    def count_waku_messages(self, topics: Sequence[bytes] | None = None) -> int:
        raise NotImplementedError

    def message_hashes(self, topics: Sequence[bytes] | None = None) -> set[bytes]:
        raise NotImplementedError

    # communities ---------------------------------------------------------------------------
    def save_community(self, community: Community) -> None:
        raise NotImplementedError

    def get_community(self, community_id: bytes) -> Community | None:
        raise NotImplementedError

    def list_communities(self) -> list[Community]:
        raise NotImplementedError

    # archive info (per community; links and clocks per backend kind) -------------------------
    def get_last_archive_end_date(self, community_id: bytes) -> int:
        raise NotImplementedError

    def set_last_archive_end_date(self, community_id: bytes, end_ts: int) -> None:
        raise NotImplementedError

    def get_archive_link(self, community_id: bytes, backend: str) -> ArchiveLinkState:
        raise NotImplementedError

    def set_archive_link(self, community_id: bytes, backend: str, link: str) -> None:
        raise NotImplementedError

    def set_archive_link_clock(self, community_id: bytes, backend: str, clock: int) -> None:
        raise NotImplementedError

    # downloaded / imported archive IDs ------------------------------------------------------
    def save_archive_id(
        self,
        community_id: bytes,
        archive_id: str,
        *,
        backend: str,
        from_ts: int,
        to_ts: int,
        link: str = "",
    ) -> None:
        """Idempotent (a second save of the same ID is not an error, unlike status-go)."""
        raise NotImplementedError

    def has_archive_id(self, community_id: bytes, archive_id: str) -> bool:
        raise NotImplementedError

    def downloaded_archives(self, community_id: bytes) -> list[DownloadedArchive]:
        raise NotImplementedError

    def archives_to_import(self, community_id: bytes) -> list[DownloadedArchive]:
        """Not yet imported, newest window first."""
        raise NotImplementedError

    def set_archive_imported(
        self, community_id: bytes, archive_id: str, imported: bool = True
    ) -> None:
        raise NotImplementedError

    # hash-ratchet keys and cache (status-go hash_ratchet_encryption{,_cache}) ----------------
    def save_group_key(self, group_id: bytes, key_id: bytes, timestamp_ms: int, key: bytes) -> None:
        raise NotImplementedError

    def group_keys(self, group_id: bytes) -> list[tuple[bytes, int, bytes]]:
        """(key_id, timestamp_ms, key), oldest first."""
        raise NotImplementedError

    def group_key_by_id(self, key_id: bytes) -> tuple[bytes, int, bytes] | None:
        """(group_id, timestamp_ms, key)"""
        raise NotImplementedError

    def save_ratchet_step(self, key_id: bytes, seq_no: int, hash_: bytes) -> None:
        raise NotImplementedError

    def ratchet_step_at_or_below(self, key_id: bytes, seq_no: int) -> tuple[int, bytes] | None:
        raise NotImplementedError

    def latest_ratchet_step(self, key_id: bytes) -> tuple[int, bytes] | None:
        raise NotImplementedError
