"""The Codex backend's local files, all written atomically (temp file, fsync, rename).

    <data_dir>/0x<community id>/
        index               owner: the committed state (one JSON file, so one rename commits
                            the link, the exact published index bytes and the plaintext index)
        archives/<id>       each archive's bytes exactly as published / downloaded (kept so
                            the owner can re-upload what a node lost with the same CID, and so
                            the member imports without the node)
        indexes/<cid>       member: each downloaded index, as published (still encrypted)

The node is a cache of these files for the network, never the only copy: a node that lost the
old index does not shrink the history (status-go §11.20).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

from archive_service.errors import ArchiveNotFoundError, InvalidInputError, StoreError
from archive_service.fsutil import atomic_write, fsync_dir
from archive_service.ids import community_hex

_ARCHIVE_ID = re.compile(r"^0x[0-9a-f]{64}$")
_CID_NAME = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{1,128}$")  # base58btc text: safe as a file name
STATE_FORMAT = 1


class LocalStateError(StoreError):
    """A local file of the Codex backend is unreadable or corrupt (the message names it)."""


@dataclass(frozen=True)
class OwnerState:
    """The last committed publication: `link` names `published`, which is the encoded
    (possibly encrypted) `plain` index."""

    link: str
    encrypted: bool
    published: bytes
    plain: bytes


def check_archive_id(archive_id: str) -> str:
    if not _ARCHIVE_ID.match(archive_id):
        raise InvalidInputError(
            f"archive ID {archive_id!r} is not '0x' followed by 64 lowercase hex digits"
        )
    return archive_id


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def community_dir(self, community_id: bytes) -> Path:
        return self.root / community_hex(community_id)

    # owner state -----------------------------------------------------------------------
    def _state_path(self, community_id: bytes) -> Path:
        return self.community_dir(community_id) / "index"

    def read_owner_state(self, community_id: bytes) -> OwnerState | None:
        path = self._state_path(community_id)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            obj = json.loads(raw)
            if obj.get("format") != STATE_FORMAT:
                raise ValueError(f"unknown format {obj.get('format')!r}")
            return OwnerState(
                link=str(obj["link"]),
                encrypted=bool(obj["encrypted"]),
                published=base64.b64decode(obj["published"], validate=True),
                plain=base64.b64decode(obj["plain"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise LocalStateError(
                f"the Codex index state {path} is corrupt ({exc}); restore it from a backup or "
                "move it away to start a new index (history before it is then no longer "
                "advertised)"
            ) from exc

    def write_owner_state(self, community_id: bytes, state: OwnerState) -> None:
        body = {
            "format": STATE_FORMAT,
            "link": state.link,
            "encrypted": state.encrypted,
            "published": base64.b64encode(state.published).decode(),
            "plain": base64.b64encode(state.plain).decode(),
        }
        atomic_write(self._state_path(community_id), json.dumps(body).encode())

    def remove_owner_state(self, community_id: bytes) -> None:
        path = self._state_path(community_id)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)

    # archives --------------------------------------------------------------------------
    def archive_path(self, community_id: bytes, archive_id: str) -> Path:
        return self.community_dir(community_id) / "archives" / check_archive_id(archive_id)

    def write_archive(self, community_id: bytes, archive_id: str, data: bytes) -> Path:
        path = self.archive_path(community_id, archive_id)
        atomic_write(path, data)
        return path

    def has_archive(self, community_id: bytes, archive_id: str) -> bool:
        return self.archive_path(community_id, archive_id).is_file()

    def read_archive(self, community_id: bytes, archive_id: str) -> bytes:
        try:
            return self.archive_path(community_id, archive_id).read_bytes()
        except FileNotFoundError:
            raise ArchiveNotFoundError(
                f"archive {archive_id} of community {community_hex(community_id)} has no local "
                "copy; download the community's history again"
            ) from None

    def remove_archive(self, community_id: bytes, archive_id: str) -> None:
        self.archive_path(community_id, archive_id).unlink(missing_ok=True)

    def remove_unpublished_archives(self, community_id: bytes, keep: set[str]) -> list[str]:
        """Owner: remove local archives the committed index does not list (written by a
        publication that crashed before its commit; a re-run publishes that window again,
        with other bytes when the community is encrypted). Returns the IDs removed."""
        folder = self.community_dir(community_id) / "archives"
        if not folder.is_dir():
            return []
        removed = []
        for path in folder.iterdir():
            if _ARCHIVE_ID.match(path.name) and path.name not in keep:
                path.unlink(missing_ok=True)
                removed.append(path.name)
        if removed:
            fsync_dir(folder)
        return removed

    # member indexes --------------------------------------------------------------------
    def index_path(self, community_id: bytes, cid: str) -> Path:
        if not _CID_NAME.match(cid):
            raise InvalidInputError(f"{cid!r} is not a base58btc CID")
        return self.community_dir(community_id) / "indexes" / cid

    def write_index(self, community_id: bytes, cid: str, data: bytes) -> None:
        atomic_write(self.index_path(community_id, cid), data)

    def has_member_indexes(self, community_id: bytes) -> bool:
        folder = self.community_dir(community_id) / "indexes"
        return folder.is_dir() and any(folder.iterdir())

    def read_index(self, community_id: bytes, cid: str) -> bytes | None:
        try:
            return self.index_path(community_id, cid).read_bytes()
        except FileNotFoundError:
            return None
