"""status-go's on-disk layout for history-archive torrents (reference §5.2, §5.3).

    <data_dir>/0x<community id>/index      the whole index (encrypted when the community is)
    <data_dir>/0x<community id>/data       archives back to back, each zero-padded to pieces
    <torrent_dir>/0x<community id>.torrent the metainfo of the current index + data

Every archive is padded to whole 102,400-byte pieces, so `data` is piece-aligned: archive
pieces never change once written and `index` always sits alone in the torrent's last piece(s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from archive_service.ids import community_hex

PIECE_LENGTH = 100 * 1024  # status-go pieceLength
INDEX_FILE = "index"
DATA_FILE = "data"
DIR_MODE = 0o700  # status-go creates the directories with 0700 and the files with 0644
FILE_MODE = 0o644


def padded_size(raw_size: int) -> tuple[int, int]:
    """(size, padding) of an archive of `raw_size` bytes, exactly as status-go computes them.

    The quirk is kept on purpose: a raw size that is an exact multiple of the piece length and
    larger than one piece gets a whole extra piece of zeros (204800 -> 307200). `size` and
    `padding` are part of the hashed index entry, so any other rule changes the archive IDs.
    """
    if raw_size < 0:
        raise ValueError(f"archive size {raw_size} is negative")
    if raw_size > PIECE_LENGTH:
        size = raw_size + PIECE_LENGTH - raw_size % PIECE_LENGTH
    else:
        size = PIECE_LENGTH
    return size, size - raw_size


def piece_range(offset: int, size: int) -> range:
    """The pieces holding `size` bytes at `offset` of a piece-aligned `data` file."""
    return range(offset // PIECE_LENGTH, (offset + size) // PIECE_LENGTH)


@dataclass(frozen=True)
class CommunityPaths:
    name: str  # '0x' + community ID hex: the folder and the torrent's info.name
    root: Path  # <data_dir>/0x<id>
    index: Path
    data: Path
    torrent: Path

    @classmethod
    def of(cls, data_dir: Path, torrent_dir: Path, community_id: bytes) -> CommunityPaths:
        name = community_hex(community_id)
        root = data_dir / name
        return cls(
            name=name,
            root=root,
            index=root / INDEX_FILE,
            data=root / DATA_FILE,
            torrent=torrent_dir / f"{name}.torrent",
        )


def ensure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)


def file_size(path: Path) -> int:
    """Size of `path`, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_at(path: Path, offset: int, length: int) -> bytes:
    """Exactly `length` bytes at `offset`; the caller has checked the range against the
    file's announced length before calling (so `length` is bounded)."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise EOFError(
            f"{path} holds {file_size(path)} bytes; {length} bytes at offset {offset} are missing"
        )
    return data


def truncate(path: Path, length: int) -> None:
    """Cut `path` back to `length` bytes, durably."""
    with path.open("r+b") as f:
        f.truncate(length)
        f.flush()
        os.fsync(f.fileno())
